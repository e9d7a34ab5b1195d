//! What the broker sends, applied: a listing replaces what is known, an upsert
//! changes one request; new requests the user may review are announced, and open
//! dialogs learn when their request was resolved elsewhere.

use super::action::Effect;
use super::state::State;
use super::{listing, note, review, text};
use crate::model::{Request, State as RequestState, Time};

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

pub(super) fn loaded(state: &mut State, requests: Vec<Request>, now: Time) -> Vec<Effect> {
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
    super::listing::reorder(state);
    effects
}

pub(super) fn upserted(state: &mut State, request: Request, now: Time) -> Vec<Effect> {
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
    if state.inspect().is_some_and(|i| i.id == request.id) {
        effects.push(Effect::FetchHistory(request.id));
    }
    listing::upsert(state, request, now);
    state.last_update = Some(now);
    state.audit.stale = true;
    review::check_dialog(state);
    note::check_dialog(state);
    super::listing::reorder(state);
    effects
}
