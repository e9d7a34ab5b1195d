//! The one place state changes: `update(state, action, now) -> effects`. Pure: no
//! I/O and no clock reads, so every behaviour here is a unit test away.

use super::action::{Action, Effect};
use super::keymap::Command;
use super::state::{DialogFocus, Held, Notice, State, Tab};
use super::{findings, inspect, listing, note, review, text, view};
use crate::model::{Decision, Request, State as RequestState, Time};

pub fn update(state: &mut State, action: Action, now: Time) -> Vec<Effect> {
    match action {
        Action::Command(command) => return run(state, command, now),
        Action::Editor(input) => {
            if let Some(note) = &mut state.note {
                note.editor.input(input);
            } else if let Some(dialog) = &mut state.dialog {
                dialog.editor.input(input);
            }
        }
        Action::RoleCursor(delta) => {
            if let Some(dialog) = &mut state.dialog {
                let last = dialog.roles.len().saturating_sub(1);
                dialog.role_cursor = dialog
                    .role_cursor
                    .saturating_add_signed(delta as isize)
                    .min(last);
            }
        }
        Action::FilterChar(c) => {
            state.filter_input.get_or_insert_with(String::new).push(c);
            state.reorder();
        }
        Action::FilterBackspace => {
            if let Some(input) = &mut state.filter_input {
                input.pop();
            }
            state.reorder();
        }
        Action::FilterApply => {
            if let Some(input) = state.filter_input.take() {
                state.filter = input.trim().to_string();
            }
            state.reorder();
        }
        Action::FilterCancel => {
            state.filter_input = None;
            state.filter.clear();
            state.reorder();
        }
        Action::Resize { width, height } => {
            state.size = (width, height);
            state.page = view::table_rows(width, height).max(1);
            state.scroll_to_selection();
        }
        Action::Tick => return findings::refresh_if_stale(state, now),
        Action::AuditChanged => state.audit.stale = true,
        Action::Loaded(requests) => match &mut state.frozen {
            Some(held) => held.push(Held::Loaded(requests)),
            None => return apply_loaded(state, requests, now),
        },
        Action::Upserted(request) => match &mut state.frozen {
            Some(held) => held.push(Held::Upserted(Box::new(request))),
            None => return apply_upsert(state, request, now),
        },
        Action::WhoAmI(whoami) => state.whoami = Some(whoami),
        Action::Roles(roles) => {
            for role in roles {
                state.roles.insert(role.name.clone(), role);
            }
        }
        Action::Connection(connection) => state.connection = connection,
        Action::Trouble(text) => notice(state, text, now, true),
        Action::Reviewed { id, result } => review::reviewed(state, id, result, now),
        Action::Findings(result) => findings::loaded(state, result, now),
        Action::FindingMarked { key, result } => note::finding_marked(state, key, result, now),
        Action::PostIncidentReviewed { id, result } => {
            return note::post_incident_reviewed(state, id, result, now);
        }
        Action::RequestFetched { id, result } => inspect::fetched(state, id, result),
        Action::History { id, result } => inspect::history(state, id, result),
    }
    Vec::new()
}

fn run(state: &mut State, command: Command, now: Time) -> Vec<Effect> {
    // The dialogs' commands, whichever dialog is open.
    match command {
        Command::Submit if state.note.is_some() => return note::submit(state),
        Command::Submit => return review::submit(state),
        Command::Cancel if state.note.is_some() => note::cancel(state),
        Command::Cancel => review::cancel(state),
        Command::SwitchFocus if state.note.is_some() => note::switch_outcome(state),
        Command::SwitchFocus => {
            if let Some(dialog) = &mut state.dialog
                && !dialog.roles.is_empty()
            {
                dialog.focus = match dialog.focus {
                    DialogFocus::Roles => DialogFocus::Reason,
                    DialogFocus::Reason => DialogFocus::Roles,
                };
            }
        }
        Command::ToggleRole => {
            if let Some(dialog) = &mut state.dialog
                && let Some(choice) = dialog.roles.get_mut(dialog.role_cursor)
            {
                choice.granted = !choice.granted;
            }
        }
        _ => {
            if state.inspect.is_some()
                && let Some(effects) = inspect::run(state, command, now)
            {
                return effects;
            }
            if state.tab == Tab::Audit {
                return run_audit(state, command, now);
            }
            return run_requests(state, command, now);
        }
    }
    Vec::new()
}

/// The Audit tab: the keys move through findings and sort them; the rest mean what
/// they mean in every tab.
fn run_audit(state: &mut State, command: Command, now: Time) -> Vec<Effect> {
    let page = state.page.max(1);
    let at = state.audit.selected;
    match command {
        Command::Up => findings::select(state, at.saturating_sub(1)),
        Command::Down => findings::select(state, at + 1),
        Command::PageUp => findings::select(state, at.saturating_sub(page)),
        Command::PageDown => findings::select(state, at + page),
        Command::Top => findings::select(state, 0),
        Command::Bottom => findings::select(state, usize::MAX),
        Command::Sort => findings::next_sort(state),
        Command::Approve | Command::Deny | Command::Mark => notice(
            state,
            "findings are read here; review requests in the Queue tab",
            now,
            true,
        ),
        Command::Refresh => {
            let mut effects = findings::fetch(state, now);
            effects.push(Effect::Refresh);
            return effects;
        }
        _ => return run_requests(state, command, now),
    }
    Vec::new()
}

/// Every tab's commands, and the request tabs' own.
fn run_requests(state: &mut State, command: Command, now: Time) -> Vec<Effect> {
    let page = state.page.max(1);
    match command {
        Command::Up => state.select_index(state.selected_index.saturating_sub(1)),
        Command::Down => state.select_index(state.selected_index + 1),
        Command::PageUp => state.select_index(state.selected_index.saturating_sub(page)),
        Command::PageDown => state.select_index(state.selected_index + page),
        Command::Top => state.select_index(0),
        Command::Bottom => state.select_index(state.rows.len().saturating_sub(1)),
        Command::Approve => review::open_dialog(state, Decision::Approve, now),
        Command::Deny => review::open_dialog(state, Decision::Deny, now),
        Command::Mark => {
            if let Some(request) = state.selected_request() {
                let id = request.id;
                if request.state != RequestState::Pending {
                    notice(state, "only pending requests can be marked", now, true);
                } else if !state.marked.remove(&id) {
                    state.marked.insert(id);
                }
                state.select_index(state.selected_index + 1);
            }
        }
        Command::ClearMarks => state.marked.clear(),
        Command::Filter => state.filter_input = Some(state.filter.clone()),
        Command::Sort => {
            state.sort = state.sort.next();
            state.reorder();
        }
        Command::Freeze => match state.frozen.take() {
            Some(held) => {
                let mut effects = Vec::new();
                for update in held {
                    effects.extend(match update {
                        Held::Loaded(requests) => apply_loaded(state, requests, now),
                        Held::Upserted(request) => apply_upsert(state, *request, now),
                    });
                }
                return effects;
            }
            None => state.frozen = Some(Vec::new()),
        },
        Command::NextTab | Command::PrevTab => {
            let count = Tab::ALL.len();
            let step = if command == Command::NextTab {
                1
            } else {
                count - 1
            };
            state.tab = Tab::ALL[(state.tab.index() + step) % count];
            state.selected = None;
            state.selected_index = 0;
            state.offset = 0;
            state.detail_scroll = 0;
            state.reorder();
            if state.tab == Tab::Audit && (state.audit.findings.is_none() || state.audit.stale) {
                return findings::fetch(state, now);
            }
        }
        Command::DetailDown => state.detail_scroll = state.detail_scroll.saturating_add(5),
        Command::DetailUp => state.detail_scroll = state.detail_scroll.saturating_sub(5),
        Command::Refresh => return vec![Effect::Refresh],
        Command::Help => state.help = !state.help,
        Command::Quit => return vec![Effect::Quit],
        Command::MarkReviewed => note::open_mark(state, now),
        Command::PostIncident => note::open_post_incident(state, now),
        Command::Open => return inspect::open(state, now),
        // Back from a history view is handled there; the dialogs' commands above.
        Command::Back
        | Command::Submit
        | Command::Cancel
        | Command::SwitchFocus
        | Command::ToggleRole => {}
    }
    Vec::new()
}

pub(super) fn notice(state: &mut State, text: impl Into<String>, now: Time, error: bool) {
    state.notice = Some(Notice {
        text: text.into(),
        at: now,
        error,
    });
}

fn announce(state: &mut State, request: &Request, effects: &mut Vec<Effect>) {
    if request.state != RequestState::Pending {
        return;
    }
    state.unseen.insert(request.id);
    if state.may_review(request) {
        let flag = if request.emergency { "EMERGENCY " } else { "" };
        effects.push(Effect::Notify {
            title: format!("{flag}access request from {}", text::inline(&request.user)),
            body: format!(
                "{}: {}",
                text::inline(&request.roles.join(", ")),
                text::truncate(&text::inline(&request.reason), 200)
            ),
            urgent: request.emergency,
        });
    }
}

fn apply_loaded(state: &mut State, requests: Vec<Request>, now: Time) -> Vec<Effect> {
    let mut effects = Vec::new();
    let first = !state.loaded;
    let fresh: Vec<Request> = requests
        .iter()
        .filter(|r| !first && !state.requests.contains_key(&r.id))
        .cloned()
        .collect();
    state.requests = requests.into_iter().map(|r| (r.id, r)).collect();
    state.loaded = true;
    state.last_update = Some(now);
    // A reload after a gap may bring events the findings do not know.
    state.audit.stale |= !first;
    listing::index(state, now);
    state.marked.retain(|id| state.requests.contains_key(id));
    state.unseen.retain(|id| state.requests.contains_key(id));
    for request in &fresh {
        announce(state, request, &mut effects);
    }
    review::check_dialog(state);
    note::check_dialog(state);
    state.reorder();
    effects
}

fn apply_upsert(state: &mut State, request: Request, now: Time) -> Vec<Effect> {
    let mut effects = Vec::new();
    let fresh = !state.requests.contains_key(&request.id);
    if fresh {
        announce(state, &request, &mut effects);
    }
    if request.state != RequestState::Pending {
        state.marked.remove(&request.id);
        state.unseen.remove(&request.id);
    }
    // Something happened to the request whose history is open: fetch it again.
    if state.inspect.as_ref().is_some_and(|i| i.id == request.id) {
        effects.push(Effect::FetchHistory(request.id));
    }
    listing::upsert(state, request, now);
    state.last_update = Some(now);
    state.audit.stale = true;
    review::check_dialog(state);
    note::check_dialog(state);
    state.reorder();
    effects
}

#[cfg(test)]
#[path = "update_tests.rs"]
mod tests;
