//! Revoking approved access from the console: offered to whoever holds rule
//! `access_request: update`, opened on the request it names, a mandatory reason,
//! and the broker's answer. The dialog itself is a note dialog (`NoteKind::Revoke`).

use uuid::Uuid;

use super::action::{Effect, ReviewError};
use super::command::{Command, ModeKind};
use super::review::in_words;
use super::state::{NoteKind, NoteTarget, State, Tab};
use super::{certs, listing, note, text};
use crate::model::{Request, State as RequestState, Time};

/// Why the signed-in user cannot revoke this request's access, in words; `None`
/// when they may (as far as whoami tells: the broker has the last word).
pub fn why_not(state: &State, request: &Request, now: Time) -> Option<String> {
    let id = text::short_id(&request.id);
    let open = request.access.as_ref().is_some_and(|a| a.ends_at > now);
    if request.state != RequestState::Approved || !open {
        return Some(format!(
            "{id} is {}: only approved access that has not ended can be revoked",
            request.state
        ));
    }
    match &state.whoami {
        Some(me) if me.can_override => None,
        Some(_) => Some(
            "revoking access needs rule access_request: update, which your roles do not give"
                .into(),
        ),
        None => Some("still asking the broker who you are".into()),
    }
}

/// The request `x` would revoke: the one whose history is open, else the selected
/// row of a request tab.
fn target(state: &State) -> Option<Uuid> {
    match state.inspect() {
        Some(inspect) => Some(inspect.id),
        None if state.tab == Tab::Audit => None,
        None => state.selected,
    }
}

/// Whether `x` means something for what is shown now (for the hint bar; whether
/// the window has ended meanwhile is said when it is pressed).
pub fn offered(state: &State) -> bool {
    let approved = target(state)
        .and_then(|id| state.request(&id))
        .is_some_and(|r| r.state == RequestState::Approved);
    approved && state.whoami.as_ref().is_some_and(|me| me.can_override)
}

/// `x`: the revoke dialog on the shown request, or a line saying why not.
pub(super) fn open(state: &mut State, now: Time) {
    let Some(id) = target(state) else {
        let why = if state.tab == Tab::Audit {
            format!(
                "open the finding's request with {} to revoke its access",
                state.keymap.label(ModeKind::Tabs, Command::Open)
            )
        } else {
            "no request selected".to_string()
        };
        state.set_notice(why, now, true);
        return;
    };
    let Some(request) = state.request(&id) else {
        let why = format!("{} is still being fetched", text::short_id(&id));
        state.set_notice(why, now, true);
        return;
    };
    match why_not(state, request, now) {
        Some(why) => state.set_notice(why, now, true),
        None => note::open(state, NoteKind::Revoke { id }),
    }
}

/// The broker's answer to a revocation.
pub(super) fn revoked(
    state: &mut State,
    id: Uuid,
    result: Result<Request, ReviewError>,
    now: Time,
) -> Vec<Effect> {
    let target = NoteTarget::Revoke(id);
    match result {
        Ok(request) => {
            if let Some(inspect) = state.mode.inspect_mut()
                && inspect.fetched.as_ref().is_some_and(|r| r.id == id)
            {
                inspect.fetched = Some(request.clone());
            }
            // Shown at once, even while frozen: the access is over.
            listing::upsert(state, request, now);
            listing::reorder(state);
            state.note_drafts.remove(&target);
            note::answer_dialog(state, &target, None);
            state.set_notice(
                format!(
                    "revoked the access of {}: its certificates are in the KRL now",
                    text::short_id(&id)
                ),
                now,
                false,
            );
            certs::forget(state, id);
            let mut effects = vec![Effect::FetchCertificates(id)];
            if state.inspect().is_some_and(|i| i.id == id) {
                effects.push(Effect::FetchHistory(id));
            }
            effects
        }
        Err(error) => {
            let why = explain(&error);
            if !note::answer_dialog(state, &target, Some(why.clone())) {
                state.set_notice(format!("revoking failed: {why}"), now, true);
            }
            Vec::new()
        }
    }
}

fn explain(error: &ReviewError) -> String {
    use crate::model::api::ErrorCode as C;
    let why = match error.code {
        None => "the broker cannot be reached; your reason is kept, try again",
        Some(C::Forbidden) => "your roles do not allow revoking (rule access_request: update)",
        Some(C::NotApproved) => "the access is no longer approved (returned, ended or revoked)",
        Some(C::NotFound) => "the broker has no such request that you may see",
        Some(C::ReasonRequired) | Some(C::InvalidRequest) => "the broker wants a reason",
        Some(_) => "",
    };
    in_words(error, why)
}
