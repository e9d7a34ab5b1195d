//! History a page at a time: the console holds the pending and approved requests
//! and the newest page of everything; older pages are asked for from the broker
//! as the History tab is scrolled towards its end, so a broker with a million
//! requests costs the console one page more each time, not a million at start.

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

/// Whether `action` moved the selection down (or asked to), for the rule below.
pub(super) fn moves_down_hint(action: &Action) -> bool {
    matches!(
        action,
        Action::Command(Command::Down | Command::PageDown | Command::Bottom)
    ) || matches!(action, Action::Wheel(step) if *step > 0)
}

/// The next page, when the History tab is shown within a page of its last loaded
/// row. Under a filter only a move down at the end asks, so a filter that matches
/// nothing loaded does not pull the whole history in by itself.
pub(super) fn wanted(state: &mut State, moved_down: bool) -> Option<Effect> {
    // After a failure, the next try is the user's (r lists again).
    let held = state.older.loading || state.older.error.is_some();
    if state.tab != Tab::History || held || state.inspect().is_some() {
        return None;
    }
    let after = state.older.next.clone()?;
    let page = state.page.max(1);
    let near_end = state.rows.is_empty() || state.selected_index + page >= state.rows.len();
    let asked = state.filter.is_empty() || moved_down;
    if !near_end || !asked {
        return None;
    }
    state.older.loading = true;
    state.older.error = None;
    Some(Effect::FetchOlder(after))
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
            for request in requests {
                if !state.requests.contains_key(&request.id) {
                    super::listing::upsert(state, request, now);
                }
            }
            // A broker that answers with the cursor it was given would loop.
            state.older.next = next.filter(|n| Some(n) != state.older.next.as_ref());
            super::listing::reorder(state);
        }
        Err(why) => state.older.error = Some(why),
    }
}
