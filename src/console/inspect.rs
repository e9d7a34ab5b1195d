//! A request's full detail and audit history, opened over the current tab from a
//! finding or a list row; Esc goes back to the tab as it was left.

use super::action::Effect;
use super::command::{Command, Offer};
use super::state::{Inspect, State, Tab};
use super::{browse, note, review};
use crate::model::{AuditEvent, Decision, Request, Time};

/// What a request's history offers; the rest of its keys mean what they mean in
/// the tabs.
pub fn commands(state: &State) -> Vec<Offer> {
    let from_finding = state.inspect().is_some_and(|i| i.from.is_some());
    let reviewable = state
        .inspected_request()
        .is_some_and(|r| review::why_not(state, r).is_none());
    vec![
        Offer::new(Command::Up, "scroll the history up"),
        Offer::new(Command::Down, "scroll the history down"),
        Offer::new(Command::PageUp, "history up one page"),
        Offer::new(Command::PageDown, "history down one page"),
        Offer::new(Command::Top, "to the first event"),
        Offer::new(Command::Bottom, "to the last event"),
        Offer::hinted(Command::Approve, "approve this request").hinted_if(reviewable),
        Offer::hinted(Command::Deny, "deny this request").hinted_if(reviewable),
        Offer::hinted(
            Command::MarkReviewed,
            "mark the finding this was opened from reviewed",
        )
        .hinted_if(from_finding),
        Offer::hinted(
            Command::PostIncident,
            "record the post-incident review this emergency owes",
        ),
        Offer::hinted(
            Command::Revoke,
            "revoke this approved access, with a reason (rule access_request: update)",
        )
        .hinted_if(super::revoke::offered(state)),
        Offer::hinted(Command::NextMatch, "the next event matching the filter")
            .labelled("next match")
            .hinted_if(super::search::offered(state)),
        Offer::new(Command::PrevMatch, "the previous event matching the filter"),
        Offer::new(Command::DetailDown, "scroll the detail down"),
        Offer::new(Command::DetailUp, "scroll the detail up"),
        Offer::new(Command::Refresh, "fetch the request and its history again"),
        Offer::hinted(Command::Back, "back to the list, selection kept"),
        Offer::new(Command::NextTab, "close, and go to the next tab"),
        Offer::new(Command::CopyId, "copy this request's id (OSC 52)"),
        Offer::new(Command::PrevTab, "close, and go to the previous tab"),
        Offer::hinted(Command::Help, "show or hide this help"),
        Offer::hinted(Command::Quit, "quit"),
    ]
}

/// Enter: opens the selected finding's request, or the selected request.
pub(super) fn open(state: &mut State, now: Time) -> Vec<Effect> {
    let (id, from) = if state.tab == Tab::Audit {
        let Some(finding) = state.audit.selected_finding() else {
            return Vec::new();
        };
        match finding.request_id {
            Some(id) => (id, Some(finding.kind)),
            None => {
                state.set_notice("this finding is not about one request", now, true);
                return Vec::new();
            }
        }
    } else {
        match state.selected {
            Some(id) => (id, None),
            None => return Vec::new(),
        }
    };
    state.mode.open_inspect(Inspect {
        id,
        from,
        fetched: None,
        request_error: None,
        events: None,
        events_error: None,
        detail_scroll: 0,
        history_scroll: 0,
    });
    fetch(state)
}

/// What the open view needs from the broker: the request when the listing does not
/// hold it, and its history.
fn fetch(state: &State) -> Vec<Effect> {
    let Some(inspect) = state.inspect() else {
        return Vec::new();
    };
    let mut effects = Vec::new();
    if !state.requests.contains_key(&inspect.id) {
        effects.push(Effect::FetchRequest(inspect.id));
    }
    effects.push(Effect::FetchHistory(inspect.id));
    effects
}

/// The commands that mean something else while the view is open; `None` for
/// those that keep their meaning.
pub(super) fn run(state: &mut State, command: Command, now: Time) -> Option<Vec<Effect>> {
    let page = state.page.max(1);
    let inspect = state.mode.inspect_mut()?;
    let last = inspect
        .events
        .as_ref()
        .map_or(0, |e| e.len().saturating_sub(1));
    let history = &mut inspect.history_scroll;
    match command {
        Command::Up => *history = history.saturating_sub(1),
        Command::Down => *history = (*history + 1).min(last),
        Command::PageUp => *history = history.saturating_sub(page),
        Command::PageDown => *history = (*history + page).min(last),
        Command::Top => *history = 0,
        Command::Bottom => *history = last,
        Command::DetailDown => inspect.detail_scroll = inspect.detail_scroll.saturating_add(5),
        Command::DetailUp => inspect.detail_scroll = inspect.detail_scroll.saturating_sub(5),
        Command::Back => state.mode.close_inspect(),
        Command::Refresh => {
            let mut effects = fetch(state);
            effects.push(Effect::Refresh);
            return Some(effects);
        }
        Command::Approve | Command::Deny => {
            let decision = if command == Command::Approve {
                Decision::Approve
            } else {
                Decision::Deny
            };
            let id = inspect.id;
            review::open_dialog_on(state, decision, id, now);
        }
        Command::MarkReviewed if inspect.from.is_some() => {
            // `m` marks the Audit tab's selected finding: only while that is still
            // the finding this view was opened from (a reload can move it).
            let (id, from) = (inspect.id, inspect.from);
            let same = state
                .audit
                .selected_finding()
                .is_some_and(|f| f.request_id == Some(id) && Some(f.kind) == from);
            if same {
                note::open_mark(state, now);
            } else {
                state.set_notice(
                    "that finding has left the Audit tab's list since it was opened: Esc, then choose it again",
                    now,
                    true,
                );
            }
        }
        Command::MarkReviewed => {
            state.set_notice("findings are marked reviewed in the Audit tab", now, true)
        }
        Command::NextTab
        | Command::PrevTab
        | Command::Tab1
        | Command::Tab2
        | Command::Tab3
        | Command::Tab4 => {
            state.mode.close_inspect();
            return None;
        }
        Command::CopyId => {
            let id = inspect.id;
            return Some(browse::copy_id(state, Some(id), now));
        }
        // Nothing to open, filter, mark or sort here.
        Command::Open | Command::Filter | Command::Mark | Command::ClearMarks | Command::Sort => {}
        _ => return None,
    }
    Some(Vec::new())
}

pub(super) fn fetched(state: &mut State, id: uuid::Uuid, result: Result<Request, String>) {
    let Some(inspect) = state.mode.inspect_mut().filter(|i| i.id == id) else {
        return;
    };
    match result {
        Ok(request) => {
            inspect.fetched = Some(request);
            inspect.request_error = None;
        }
        Err(error) => inspect.request_error = Some(error),
    }
}

pub(super) fn history(state: &mut State, id: uuid::Uuid, result: Result<Vec<AuditEvent>, String>) {
    let Some(inspect) = state.mode.inspect_mut().filter(|i| i.id == id) else {
        return;
    };
    match result {
        Ok(mut events) => {
            events.sort_by_key(|e| e.seq);
            events.dedup_by_key(|e| e.seq);
            // Fetches race: an answer that knows less than the one shown is older.
            let newest = |events: &[AuditEvent]| events.last().map(|e| e.seq);
            if let Some(shown) = &inspect.events
                && newest(shown) > newest(&events)
            {
                return;
            }
            inspect.history_scroll = inspect.history_scroll.min(events.len().saturating_sub(1));
            inspect.events = Some(events);
            inspect.events_error = None;
        }
        Err(error) => inspect.events_error = Some(error),
    }
}
