//! Reviewing from the console: the dialog pinned to its requests, drafts kept per
//! request, blank reasons refused, one review per request, and the broker's answer.

use std::collections::BTreeSet;

use ratatui_textarea::TextArea;
use uuid::Uuid;

use crossterm::event::KeyEvent;

use super::action::{Action, Effect, ReviewError};
use super::command::{Command, ModeKind, Offer};
use super::keymap::Key;
use super::listing;
use super::state::{BulkDraft, Dialog, DialogFocus, Draft, RoleChoice, State};
use super::text;
use crate::model::api::{MAX_REASON_BYTES, SubmitReview};
use crate::model::{Decision, Request, State as RequestState, Time};

/// What the review dialog offers; the picker's keys only with a role picker.
pub fn commands(state: &State) -> Vec<Offer> {
    let picker = state.dialog().is_some_and(|d| !d.roles.is_empty());
    vec![
        Offer::hinted(Command::Submit, "submit the review"),
        Offer::hinted(Command::Cancel, "close the dialog (the draft is kept)"),
        Offer::hinted(Command::SwitchFocus, "move between roles and reason").hinted_if(picker),
        Offer::hinted(
            Command::ToggleRole,
            "grant or withhold the role under the cursor (roles focused)",
        )
        .hinted_if(picker),
        Offer::new(Command::Up, "the role above (roles focused)"),
        Offer::new(Command::Down, "the role below (roles focused)"),
        Offer::hinted(Command::Help, "show help over this (the text stays)"),
    ]
}

/// A key in the dialog: its commands; the picker's keys while it has focus; else
/// typed text.
pub fn key(state: &State, key: Key, event: KeyEvent) -> Option<Action> {
    let focus = state.dialog()?.focus;
    let command = state.keymap.command(ModeKind::Review, key);
    let picker_key = matches!(
        command,
        Some(Command::ToggleRole | Command::Up | Command::Down)
    );
    match (command, focus) {
        (Some(_), DialogFocus::Reason) if picker_key => Some(Action::Editor(event.into())),
        (Some(Command::Up), DialogFocus::Roles) => Some(Action::RoleCursor(-1)),
        (Some(Command::Down), DialogFocus::Roles) => Some(Action::RoleCursor(1)),
        (Some(command), _) => Some(Action::Command(command)),
        (None, DialogFocus::Roles) => None,
        (None, DialogFocus::Reason) => Some(Action::Editor(event.into())),
    }
}

pub(super) fn run(state: &mut State, command: Command, _now: Time) -> Vec<Effect> {
    match command {
        Command::Submit => return submit(state),
        Command::Cancel => cancel(state),
        Command::Help => state.mode.toggle_help(),
        Command::SwitchFocus => {
            if let Some(dialog) = state.mode.dialog_mut()
                && !dialog.roles.is_empty()
            {
                dialog.focus = match dialog.focus {
                    DialogFocus::Roles => DialogFocus::Reason,
                    DialogFocus::Reason => DialogFocus::Roles,
                };
            }
        }
        Command::ToggleRole => {
            if let Some(dialog) = state.mode.dialog_mut()
                && let Some(choice) = dialog.roles.get_mut(dialog.role_cursor)
            {
                choice.granted = !choice.granted;
            }
        }
        _ => {}
    }
    Vec::new()
}

pub(super) fn move_role_cursor(state: &mut State, delta: i32) {
    if let Some(dialog) = state.mode.dialog_mut() {
        let last = dialog.roles.len().saturating_sub(1);
        dialog.role_cursor = dialog
            .role_cursor
            .saturating_add_signed(delta as isize)
            .min(last);
    }
}

fn editor(lines: Vec<String>) -> TextArea<'static> {
    if lines.is_empty() {
        TextArea::default()
    } else {
        TextArea::new(lines)
    }
}

/// Why the signed-in user may not review this request, in words; `None` when
/// they may (as far as whoami tells: the broker has the last word).
pub fn why_not(state: &State, request: &Request) -> Option<String> {
    let id = text::short_id(&request.id);
    if request.state != RequestState::Pending {
        return Some(format!(
            "{id} is {}: only pending requests can be reviewed",
            request.state
        ));
    }
    let me = state.whoami.as_ref()?;
    if request.user == me.user {
        return Some(format!(
            "{id} is your own request: another reviewer has to countersign it"
        ));
    }
    if request.review_by(&me.user).is_some() {
        return Some(format!("you have already reviewed {id}"));
    }
    let refused: Vec<&str> = request
        .roles
        .iter()
        .filter(|role| !me.reviewable_roles.contains(role))
        .map(String::as_str)
        .collect();
    if !refused.is_empty() {
        return Some(format!(
            "your roles do not allow reviewing {}",
            text::inline(&refused.join(", "))
        ));
    }
    None
}

/// `a`/`d`: the marked requests the filter shows, else the selected one. Requests
/// the user may not review are left out, and the keys say why.
pub(super) fn open_dialog(state: &mut State, decision: Decision, now: Time) {
    if state.marked.is_empty() {
        let Some(request) = state.selected_request() else {
            return;
        };
        match why_not(state, request) {
            Some(why) => state.set_notice(why, now, true),
            None => open_on(state, decision, vec![request.id]),
        }
        return;
    }
    // Marks the filter hides are not reviewed unseen.
    let shown: Vec<Uuid> = state
        .rows
        .iter()
        .filter(|id| state.marked.contains(id))
        .copied()
        .collect();
    let (targets, refused): (Vec<Uuid>, Vec<Uuid>) = shown.into_iter().partition(|id| {
        state
            .requests
            .get(id)
            .is_some_and(|r| why_not(state, r).is_none())
    });
    let hidden = state.marked.len() - targets.len() - refused.len();
    let mut left_out = Vec::new();
    if hidden > 0 {
        left_out.push(format!("{hidden} hidden by the filter"));
    }
    if !refused.is_empty() {
        left_out.push(format!("{} you may not review", refused.len()));
    }
    if targets.is_empty() {
        let why = format!("no marked request to review ({})", left_out.join(", "));
        state.set_notice(why, now, true);
        return;
    }
    if !left_out.is_empty() {
        let note = format!("marked but left out: {}", left_out.join(", "));
        state.set_notice(note, now, true);
    }
    open_on(state, decision, targets);
}

/// The dialog for one request, whatever is selected or marked: a request's history
/// view reviews the request it shows.
pub(super) fn open_dialog_on(state: &mut State, decision: Decision, id: Uuid, now: Time) {
    match state.requests.get(&id) {
        Some(request) => match why_not(state, request) {
            Some(why) => state.set_notice(why, now, true),
            None => open_on(state, decision, vec![id]),
        },
        None => state.set_notice(
            format!(
                "{} is not in the queue: only pending requests can be reviewed",
                text::short_id(&id)
            ),
            now,
            true,
        ),
    }
}

fn open_on(state: &mut State, decision: Decision, targets: Vec<Uuid>) {
    let dialog = if let [id] = targets[..] {
        let requested = state
            .requests
            .get(&id)
            .map(|r| r.roles.clone())
            .unwrap_or_default();
        let draft = state.drafts.get(&(id, decision));
        let roles = match draft {
            Some(draft) if !draft.roles.is_empty() => draft.roles.clone(),
            _ => requested
                .iter()
                .map(|name| RoleChoice {
                    name: name.clone(),
                    granted: true,
                })
                .collect(),
        };
        Dialog {
            decision,
            targets,
            roles: if decision == Decision::Approve {
                roles
            } else {
                Vec::new()
            },
            role_cursor: 0,
            focus: DialogFocus::Reason,
            editor: editor(draft.map(|d| d.lines.clone()).unwrap_or_default()),
            error: None,
            in_flight: BTreeSet::new(),
        }
    } else {
        let lines = state
            .bulk_draft
            .as_ref()
            .filter(|d| d.decision == decision && d.targets == targets)
            .map(|d| d.lines.clone())
            .unwrap_or_default();
        Dialog {
            decision,
            targets,
            roles: Vec::new(),
            role_cursor: 0,
            focus: DialogFocus::Reason,
            editor: editor(lines),
            error: None,
            in_flight: BTreeSet::new(),
        }
    };
    state.mode.open_review(dialog);
}

pub(super) fn cancel(state: &mut State) {
    let Some(dialog) = state.mode.take_dialog() else {
        return;
    };
    let lines: Vec<String> = dialog.editor.lines().to_vec();
    let empty = lines.iter().all(|l| l.trim().is_empty());
    let key = |id| (id, dialog.decision);
    match dialog.targets[..] {
        [id] if empty && dialog.roles.iter().all(|r| r.granted) => {
            state.drafts.remove(&key(id));
        }
        [id] => {
            state.drafts.insert(
                key(id),
                Draft {
                    decision: dialog.decision,
                    lines,
                    roles: dialog.roles,
                },
            );
        }
        _ => {
            state.bulk_draft = (!empty).then(|| BulkDraft {
                decision: dialog.decision,
                targets: dialog.targets.clone(),
                lines,
            });
        }
    }
}

pub(super) fn submit(state: &mut State) -> Vec<Effect> {
    let Some(dialog) = state.mode.dialog_mut() else {
        return Vec::new();
    };
    if !dialog.in_flight.is_empty() {
        dialog.error = Some("still waiting for the broker's answer".into());
        return Vec::new();
    }
    let reason = dialog.reason();
    if reason.trim().is_empty() {
        dialog.error =
            Some("a reason is required: say why, for the requester and the audit log".into());
        return Vec::new();
    }
    if reason.len() > MAX_REASON_BYTES {
        dialog.error = Some(format!(
            "the reason is {} bytes; the broker accepts at most {MAX_REASON_BYTES}",
            reason.len()
        ));
        return Vec::new();
    }
    let granted: Vec<String> = dialog
        .roles
        .iter()
        .filter(|r| r.granted)
        .map(|r| r.name.clone())
        .collect();
    if dialog.decision == Decision::Approve && !dialog.roles.is_empty() && granted.is_empty() {
        dialog.error = Some("grant at least one role, or deny the request".into());
        return Vec::new();
    }
    // All roles granted is sent as no subset: the broker reads that as "all of them".
    let roles = if granted.len() == dialog.roles.len() {
        Vec::new()
    } else {
        granted
    };
    dialog.error = None;
    dialog.in_flight = dialog.targets.iter().copied().collect();
    dialog
        .targets
        .iter()
        .map(|&id| Effect::SubmitReview {
            id,
            review: SubmitReview {
                decision: dialog.decision,
                reason: reason.clone(),
                roles: roles.clone(),
            },
        })
        .collect()
}

pub(super) fn reviewed(
    state: &mut State,
    id: Uuid,
    result: Result<Request, ReviewError>,
    now: Time,
) {
    let decision = state.dialog().map(|d| d.decision);
    match result {
        Ok(request) => {
            // Our own review is shown at once, even while frozen.
            listing::upsert(state, request, now);
            super::listing::reorder(state);
            state.drafts.retain(|(draft, _), _| *draft != id);
            state.marked.remove(&id);
            let mut done = None;
            if let Some(dialog) = state.mode.dialog_mut()
                && dialog.in_flight.remove(&id)
            {
                dialog.targets.retain(|t| *t != id);
                if dialog.targets.is_empty() {
                    done = Some(dialog.decision);
                }
            }
            if let Some(decision) = done {
                state.mode.take_dialog();
                state.bulk_draft = None;
                let verb = if decision == Decision::Approve {
                    "approved"
                } else {
                    "denied"
                };
                state.set_notice(format!("{verb} {}", text::short_id(&id)), now, false);
            }
        }
        Err(error) => {
            let message = format!("{}: {}", text::short_id(&id), explain(&error));
            if let Some(dialog) = state.mode.dialog_mut()
                && dialog.in_flight.remove(&id)
            {
                dialog.error = Some(match dialog.error.take() {
                    Some(previous) => format!("{previous}\n{message}"),
                    None => message,
                });
            } else {
                let verb = decision.map(Decision::as_str).unwrap_or("review");
                state.set_notice(format!("{verb} failed: {message}"), now, true);
            }
        }
    }
}

/// A broker refusal in words a reviewer can act on.
fn explain(error: &ReviewError) -> String {
    use crate::model::api::ErrorCode as C;
    let why = match error.code {
        None => "the broker cannot be reached; your draft is kept, try again",
        Some(C::SelfReview) => "you cannot review your own request",
        Some(C::AlreadyReviewed) => "you have already reviewed this request",
        Some(C::NotPending) => "the request was resolved meanwhile",
        Some(C::Forbidden) => "your roles do not allow reviewing this request",
        Some(C::ReasonRequired) => "the broker wants a reason",
        Some(_) => "",
    };
    in_words(error, why)
}

/// `why` followed by the broker's own message, or the message alone when there is
/// no `why`; made inert for drawing.
pub(super) fn in_words(error: &ReviewError, why: &str) -> String {
    match (why, error.message.is_empty()) {
        ("", _) => text::inline(&error.message),
        (why, true) => why.to_string(),
        (why, false) => format!("{why} ({})", text::inline(&error.message)),
    }
}

/// Tells the dialog when its request was resolved by someone else meanwhile.
pub(super) fn check_dialog(state: &mut State) {
    let Some(dialog) = state.mode.dialog_mut() else {
        return;
    };
    let resolved: Vec<String> = dialog
        .targets
        .iter()
        .filter(|id| !dialog.in_flight.contains(id))
        .filter_map(|id| state.requests.get(id))
        .filter(|r| r.state != RequestState::Pending)
        .map(|r| format!("{} was {} meanwhile", text::short_id(&r.id), r.state))
        .collect();
    if !resolved.is_empty() {
        dialog.error = Some(resolved.join("\n"));
    }
}
