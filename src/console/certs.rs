//! The SSH certificates shown in a request's detail: asked for once the detail of a
//! request that was given access is shown, and again after the request changes.

use uuid::Uuid;

use super::action::Effect;
use super::state::{Certificates, State, Tab};
use crate::model::certificate::CertificateSummary;

/// The request whose detail is on screen: the open history, else the selected row.
fn shown(state: &State) -> Option<Uuid> {
    match state.inspect() {
        Some(inspect) => Some(inspect.id),
        None if state.tab == Tab::Audit => None,
        None => state.selected,
    }
}

/// The fetch the shown detail needs: only a request that was given access can hold
/// certificates, and each is asked for once until it changes.
pub(super) fn wanted(state: &mut State) -> Option<Effect> {
    let id = shown(state)?;
    let given = state.request(&id).is_some_and(|r| r.access.is_some());
    if !given || state.certificates.contains_key(&id) {
        return None;
    }
    state.certificates.insert(id, Certificates::Loading);
    Some(Effect::FetchCertificates(id))
}

/// The request changed: its certificates may have too (issued, revoked).
pub(super) fn forget(state: &mut State, id: Uuid) {
    state.certificates.remove(&id);
}

pub(super) fn loaded(state: &mut State, id: Uuid, result: Result<Vec<CertificateSummary>, String>) {
    let entry = match result {
        Ok(mut certificates) => {
            certificates.sort_by_key(|c| c.serial);
            Certificates::Loaded(certificates)
        }
        Err(why) => Certificates::Failed(why),
    };
    state.certificates.insert(id, entry);
}
