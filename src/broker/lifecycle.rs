//! The broker's side of the lifecycle: the decisions live in `policy::lifecycle`;
//! this turns them into the store's vocabulary (event drafts, verdicts) and gives
//! new requests their id.

use crate::model::api::{CreateRequest, Resolve, SubmitPostIncidentReview, SubmitReview};
use crate::model::{Request, Time, User};
use crate::policy::RoleSet;
use crate::policy::lifecycle::{self as decide, Record, Step};

use super::store::{EventDraft, Refusal, Verdict};

pub use crate::policy::lifecycle::{CreateSettings, SYSTEM_ACTOR, may_list as can_see, may_read};

fn refusal(refusal: decide::Refusal) -> Refusal {
    Refusal::new(refusal.code, refusal.message)
}

fn draft(record: Record) -> EventDraft {
    let mut draft = EventDraft::new(record.kind, &record.actor, record.time);
    draft.reason = record.reason;
    draft.fields = record.fields;
    draft
}

fn verdict(step: Step) -> Verdict {
    match step {
        Step::Commit(record) => Verdict::Commit(draft(record)),
        Step::Refuse {
            refusal: why,
            record,
        } => Verdict::Refuse {
            refusal: refusal(why),
            record: record.map(draft),
        },
    }
}

/// A reason or note within bounds: `Ok(None)` when blank.
pub fn check_text(field: &str, text: &str) -> Result<Option<String>, Refusal> {
    decide::check_text(field, text)
        .map(|t| t.map(str::to_string))
        .map_err(refusal)
}

/// Validates a create body and builds the pending request with a new id.
pub fn new_request(
    roles: &RoleSet,
    user: &User,
    body: CreateRequest,
    settings: CreateSettings,
    now: Time,
) -> Result<Request, Refusal> {
    decide::create(roles, user, body, settings, uuid::Uuid::now_v7(), now).map_err(refusal)
}

pub fn created_event(request: &Request) -> EventDraft {
    draft(decide::created(request))
}

pub fn review(
    roles: &RoleSet,
    reviewer: &User,
    body: &SubmitReview,
    now: Time,
    request: &mut Request,
) -> Verdict {
    verdict(decide::review(roles, reviewer, body, now, request))
}

pub fn resolve(
    roles: &RoleSet,
    admin: &User,
    body: &Resolve,
    now: Time,
    request: &mut Request,
) -> Verdict {
    verdict(decide::resolve(roles, admin, body, now, request))
}

pub fn withdraw(user: &User, now: Time, request: &mut Request) -> Verdict {
    verdict(decide::withdraw(user, now, request))
}

pub fn give_back(user: &User, now: Time, request: &mut Request) -> Verdict {
    verdict(decide::give_back(user, now, request))
}

pub fn sweep(now: Time, request: &mut Request) -> Verdict {
    verdict(decide::sweep(now, request))
}

pub fn post_incident_review(
    roles: &RoleSet,
    user: &User,
    body: &SubmitPostIncidentReview,
    now: Time,
    request: &mut Request,
) -> Verdict {
    verdict(decide::post_incident_review(
        roles, user, body, now, request,
    ))
}

pub fn revoke(
    roles: &RoleSet,
    admin: &User,
    reason: &str,
    now: Time,
    request: &mut Request,
) -> Verdict {
    verdict(decide::revoke(roles, admin, reason, now, request))
}
