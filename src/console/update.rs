//! The one place state changes: `update(state, action, now) -> effects`. Pure: no
//! I/O and no clock reads, so every behaviour here is a unit test away.

use super::action::{Action, Effect};
use super::command::{Command, ModeKind};
use super::state::{Held, State};
use super::{
    browse, certs, confirm, filter, findings, help, incoming, inspect, note, older, panel, review,
    revoke, view,
};
use crate::model::Time;

pub fn update(state: &mut State, action: Action, now: Time) -> Vec<Effect> {
    let moved = older::moves_down_hint(&action);
    let mut effects = apply(state, action, now);
    // Whatever moved the detail pane onto a request that was given access, its
    // certificates are asked for once.
    effects.extend(certs::wanted(state));
    // Scrolled (or switched) near the end of the loaded history: the next page.
    effects.extend(older::wanted(state, moved));
    // Scrolled near the last loaded finding: the broker's next page of them.
    effects.extend(findings::wanted(state));
    effects
}

fn apply(state: &mut State, action: Action, now: Time) -> Vec<Effect> {
    match action {
        Action::Command(command) => return run(state, command, now),
        Action::Editor(input) => {
            if let Some(note) = state.mode.note_mut() {
                note.editor.input(input);
            } else if let Some(dialog) = state.mode.dialog_mut() {
                dialog.editor.input(input);
            }
        }
        Action::RoleCursor(delta) => review::move_role_cursor(state, delta),
        Action::FilterChar(c) => filter::typed(state, Some(c)),
        Action::FilterBackspace => filter::typed(state, None),
        Action::Click { column, row } => browse::click(state, column, row),
        Action::Wheel(step) => {
            // The wheel moves what the arrows move, where there is a list or text.
            if matches!(
                state.mode.kind(),
                ModeKind::Tabs | ModeKind::Inspect | ModeKind::Help
            ) {
                let command = if step > 0 { Command::Down } else { Command::Up };
                return run(state, command, now);
            }
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
            None => return incoming::loaded(state, requests, now),
        },
        Action::Upserted(request) => match &mut state.frozen {
            _ if state.certificates.contains_key(&request.id) => {
                certs::forget(state, request.id);
                return apply(state, Action::Upserted(request), now);
            }
            Some(held) => held.push(Held::Upserted(Box::new(request))),
            None => return incoming::upserted(state, request, now),
        },
        Action::WhoAmI(whoami) => state.whoami = Some(whoami),
        Action::DemoEnv(env) => state.demo_env = Some(env),
        Action::Notifications(summary) => state.notifications = Some(summary),
        Action::Roles(roles) => {
            for role in roles {
                state.roles.insert(role.name.clone(), role);
            }
        }
        Action::Connection(connection) => state.connection = connection,
        Action::Broker(url) => state.broker = url,
        Action::Trouble(text) => state.set_notice(text, now, true),
        Action::Reviewed { id, result } => review::reviewed(state, id, result, now),
        Action::Findings(result) => findings::loaded(state, result, now),
        Action::MoreFindings { after, result } => findings::more_arrived(state, &after, result),
        Action::FindingMarked { key, result } => note::finding_marked(state, key, result, now),
        Action::PostIncidentReviewed { id, result } => {
            return note::post_incident_reviewed(state, id, result, now);
        }
        Action::Revoked { id, result } => return revoke::revoked(state, id, result, now),
        Action::Certificates { id, result } => certs::loaded(state, id, result),
        Action::OlderFrom(next) => {
            state.older = older::Older {
                next,
                ..older::Older::default()
            };
            // The listing replaced what the last search had added: search again.
            state.matches = None;
        }
        Action::Matches { q, result } => older::matched(state, &q, result, now),
        Action::Older(result) => older::arrived(state, result, now),
        Action::RequestFetched { id, result } => inspect::fetched(state, id, result),
        Action::History { id, result } => inspect::history(state, id, result),
    }
    Vec::new()
}

/// A command goes to the module of the mode that has the keyboard.
fn run(state: &mut State, command: Command, now: Time) -> Vec<Effect> {
    match state.mode.kind() {
        ModeKind::Help => help::run(state, command),
        ModeKind::Confirm => confirm::run(state, command),
        ModeKind::Panel => panel::run(state, command),
        ModeKind::Review => review::run(state, command, now),
        ModeKind::Note => note::run(state, command, now),
        ModeKind::Filter => filter::run(state, command),
        ModeKind::Inspect => match inspect::run(state, command, now) {
            Some(effects) => effects,
            None => browse::run(state, command, now),
        },
        ModeKind::Tabs => browse::run(state, command, now),
    }
}

#[cfg(test)]
#[path = "update_tests"]
mod tests {
    mod audit;
    mod inspect;
    mod notes;
    mod older;
    mod queue;
    mod review;
    mod revoke;
    mod search;
}
