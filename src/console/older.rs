//! History a page at a time: the console holds the pending and approved requests
//! and the newest page of everything; older pages are asked for from the broker
//! as the History tab is scrolled towards its end, so a broker with a million
//! requests costs the console one page more each time, not a million at start.
//! Under an applied filter the broker searches what is not loaded (`q=`), and its
//! matches come a page at a time in the same way.

use super::action::{Action, Command, Effect};
use super::state::{State, Tab};
use crate::model::{Request, Time};

/// Where the broker's listing goes on below what is loaded, and whether a page
/// was asked for and not answered yet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Older {
    /// The cursor of the next page; `None` once the whole history is loaded.
    pub next: Option<String>,
    pub loading: bool,
    /// Why the last page could not be had.
    pub error: Option<String>,
}

impl Older {
    /// Whether the broker holds requests the console has not loaded.
    pub fn more(&self) -> bool {
        self.next.is_some()
    }
}

/// What the broker found for the applied filter beyond the loaded history.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Matches {
    /// The filter searched for, as applied.
    pub q: String,
    /// The cursor of the next page of matches; `None` before the first answer and
    /// once every match is loaded.
    pub next: Option<String>,
    /// Whether the broker answered at least once.
    pub answered: bool,
    pub loading: bool,
    /// Why the last page could not be had.
    pub error: Option<String>,
}

impl Matches {
    /// Whether the broker may hold matches the console has not loaded.
    pub fn more(&self) -> bool {
        !self.answered || self.next.is_some()
    }
}

/// Whether `action` moved the selection down (or asked to), for the rule below.
pub(super) fn moves_down_hint(action: &Action) -> bool {
    matches!(
        action,
        Action::Command(Command::Down | Command::PageDown | Command::Bottom)
    ) || matches!(action, Action::Wheel(step) if *step > 0)
}

/// The next page, when the History tab is shown within a page of its last loaded
/// row. Under an applied filter the broker is searched instead; while one is
/// typed only a move down at the end asks, so a filter that matches nothing
/// loaded does not pull the whole history in by itself.
pub(super) fn wanted(state: &mut State, moved_down: bool) -> Option<Effect> {
    if state.tab != Tab::History || state.inspect().is_some() {
        return None;
    }
    let page = state.page.max(1);
    let near_end = state.rows.is_empty() || state.selected_index + page >= state.rows.len();
    if !state.filter.is_empty() && state.mode.filter_input().is_none() && state.older.more() {
        return search(state, near_end);
    }
    // After a failure, the next try is the user's (r lists again).
    if state.older.loading || state.older.error.is_some() {
        return None;
    }
    let after = state.older.next.clone()?;
    let asked = state.filter.is_empty() || moved_down;
    if !near_end || !asked {
        return None;
    }
    state.older.loading = true;
    state.older.error = None;
    Some(Effect::FetchOlder(after))
}

/// The broker's search for the applied filter: its first page as soon as the
/// filter is applied on History, the next ones near the end of the matches.
fn search(state: &mut State, near_end: bool) -> Option<Effect> {
    let q = state.filter.clone();
    let current = state.matches.as_ref().filter(|m| m.q == q);
    let after = match current {
        None => None,
        Some(m) if m.loading || m.error.is_some() || !near_end => return None,
        Some(m) => Some(m.next.clone()?),
    };
    let matches = state.matches.get_or_insert_with(Matches::default);
    if matches.q != q {
        *matches = Matches {
            q: q.clone(),
            ..Matches::default()
        };
    }
    matches.loading = true;
    Some(Effect::FetchMatches { q, after })
}

/// A page of the broker's matches for `q`: added like a page of older requests,
/// unless the filter changed meanwhile.
pub(super) fn matched(
    state: &mut State,
    q: &str,
    result: Result<(Vec<Request>, Option<String>), String>,
    now: Time,
) {
    let Some(matches) = state.matches.as_mut().filter(|m| m.q == q && m.loading) else {
        return;
    };
    matches.loading = false;
    match result {
        Ok((requests, next)) => {
            // A broker that answers with the cursor it was given would loop.
            matches.next = next.filter(|n| Some(n) != matches.next.as_ref());
            matches.answered = true;
            super::listing::add_new(state, requests, now);
            super::listing::reorder(state);
        }
        Err(why) => matches.error = Some(why),
    }
}

/// A page of older requests arrived: the ones not known yet are added (the stream
/// keeps the known ones current), and the cursor moves on.
pub(super) fn arrived(
    state: &mut State,
    result: Result<(Vec<Request>, Option<String>), String>,
    now: Time,
) {
    state.older.loading = false;
    match result {
        Ok((requests, next)) => {
            super::listing::add_new(state, requests, now);
            // A broker that answers with the cursor it was given would loop.
            state.older.next = next.filter(|n| Some(n) != state.older.next.as_ref());
            super::listing::reorder(state);
        }
        Err(why) => state.older.error = Some(why),
    }
}
