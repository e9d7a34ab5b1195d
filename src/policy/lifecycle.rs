//! What each action does to a request (DESIGN §3), as pure functions: they take the
//! roles, the caller, the body, the time (and, to create, the new id), change the
//! request in place and say what to record ([`Step`]). The broker loads, calls,
//! stores; it runs each step inside its write transaction on the latest state.

use std::collections::{BTreeMap, BTreeSet};

use uuid::Uuid;

use super::text::{self, TextProblem};
use super::{Frozen, RequestRefusal, Resource, ReviewRefusal, RoleSet, Verb};
use crate::model::api::{
    CreateRequest, ErrorCode, MAX_REASON_BYTES, MAX_ROLES_PER_REQUEST, Resolve,
    SubmitPostIncidentReview, SubmitReview,
};
use crate::model::{
    Access, Decision, Duration, EventType, IncidentOutcome, PostIncidentReview, Request, Review,
    State, Time, User, is_emergency_reason,
};

/// The actor recorded for what the broker does by itself (expiry, elapse).
pub const SYSTEM_ACTOR: &str = "countersign";
const MAX_NAME_BYTES: usize = 256;
const MAX_ANNOTATIONS: usize = 32;
const MAX_SUGGESTED_REVIEWERS: usize = 32;

/// Why an action was refused: the API's error code and a message for the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: ErrorCode,
    pub message: String,
}

impl Refusal {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Refusal {
            code,
            message: message.into(),
        }
    }

    fn invalid(message: impl Into<String>) -> Self {
        Refusal::new(ErrorCode::InvalidRequest, message)
    }
}

/// An audit event to append, before the log gives it its place and hash.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub kind: EventType,
    pub actor: String,
    pub time: Time,
    pub reason: Option<String>,
    pub fields: BTreeMap<String, serde_json::Value>,
}

impl Record {
    fn new(kind: EventType, actor: &str, time: Time) -> Self {
        Record {
            kind,
            actor: actor.to_string(),
            time,
            reason: None,
            fields: BTreeMap::new(),
        }
    }

    fn reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }

    fn field(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
        self.fields.insert(key.to_string(), value.into());
        self
    }
}

/// What a step decided.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Keep the changed request and record this event.
    Commit(Record),
    /// Leave the request as it was, answer with the refusal, and record the attempt
    /// when `record` is given.
    Refuse {
        refusal: Refusal,
        record: Option<Record>,
    },
}

impl From<Refusal> for Step {
    fn from(refusal: Refusal) -> Self {
        Step::Refuse {
            refusal,
            record: None,
        }
    }
}

fn refuse(code: ErrorCode, message: impl Into<String>) -> Step {
    Refusal::new(code, message).into()
}

/// A reason or note within bounds: `Ok(None)` when blank.
pub fn check_text<'t>(field: &str, text: &'t str) -> Result<Option<&'t str>, Refusal> {
    text::check(text).map_err(|TextProblem::TooLong { bytes }| {
        Refusal::invalid(format!(
            "{field} is {bytes} bytes; at most {MAX_REASON_BYTES} are allowed"
        ))
    })
}

fn required_text(field: &str, text: &str) -> Result<String, Refusal> {
    check_text(field, text)?.map(str::to_string).ok_or_else(|| {
        Refusal::new(
            ErrorCode::ReasonRequired,
            format!("a {field} is required and cannot be blank"),
        )
    })
}

fn check_names(field: &str, names: &[String], max: usize) -> Result<(), Refusal> {
    if names.len() > max {
        return Err(Refusal::invalid(format!("{field}: at most {max} entries")));
    }
    for name in names {
        if text::is_blank(name) || name.len() > MAX_NAME_BYTES || name.chars().any(char::is_control)
        {
            return Err(Refusal::invalid(format!(
                "{field}: {name:?} is not a valid name (1–{MAX_NAME_BYTES} bytes, no control characters)"
            )));
        }
    }
    Ok(())
}

fn positive(field: &str, duration: Option<Duration>) -> Result<(), Refusal> {
    match duration {
        Some(d) if d.is_zero() => Err(Refusal::invalid(format!("{field} must be longer than 0s"))),
        _ => Ok(()),
    }
}

/// Settings of the broker that shape new requests.
#[derive(Debug, Clone, Copy)]
pub struct CreateSettings {
    pub default_pending_ttl: Duration,
    pub max_pending_ttl: Duration,
}

/// Validates a create body and builds the pending request with the given id.
/// Roles are deduplicated, keeping the order given; `*` is expanded.
pub fn create(
    roles: &RoleSet,
    user: &User,
    mut body: CreateRequest,
    settings: CreateSettings,
    id: Uuid,
    now: Time,
) -> Result<Request, Refusal> {
    let mut seen = BTreeSet::new();
    body.roles.retain(|role| seen.insert(role.clone()));
    if body.roles.is_empty() {
        return Err(Refusal::invalid("name at least one role to request"));
    }
    check_names("roles", &body.roles, MAX_ROLES_PER_REQUEST)?;
    check_names(
        "suggested_reviewers",
        &body.suggested_reviewers,
        MAX_SUGGESTED_REVIEWERS,
    )?;
    if body.annotations.len() > MAX_ANNOTATIONS {
        return Err(Refusal::invalid(format!(
            "annotations: at most {MAX_ANNOTATIONS} keys"
        )));
    }
    for (key, values) in &body.annotations {
        check_names("annotations", std::slice::from_ref(key), 1)?;
        if values.len() > MAX_ANNOTATIONS || values.iter().any(|v| v.len() > MAX_REASON_BYTES) {
            return Err(Refusal::invalid(format!(
                "annotation {key:?} has too many or too long values"
            )));
        }
    }
    positive("max_duration", body.max_duration)?;
    positive("estimate", body.estimate)?;
    positive("pending_ttl", body.pending_ttl)?;
    let pending_ttl = body.pending_ttl.unwrap_or(settings.default_pending_ttl);
    if pending_ttl > settings.max_pending_ttl {
        return Err(Refusal::invalid(format!(
            "pending_ttl {pending_ttl} is longer than this broker allows ({})",
            settings.max_pending_ttl
        )));
    }
    let reason = check_text("reason", &body.reason)?.map(str::to_string);
    let frozen: Frozen = roles.check_request(user, &body.roles).map_err(|refusal| {
        let code = match refusal {
            RequestRefusal::NoRoles => ErrorCode::InvalidRequest,
            RequestRefusal::CreateDenied => ErrorCode::Forbidden,
            _ => ErrorCode::RoleNotRequestable,
        };
        Refusal::new(code, refusal.to_string())
    })?;
    if frozen.roles.len() > MAX_ROLES_PER_REQUEST {
        return Err(Refusal::invalid(format!(
            "roles: \"*\" names {} roles; at most {MAX_ROLES_PER_REQUEST} fit one request",
            frozen.roles.len()
        )));
    }
    if reason.is_none() && roles.reason_required(user) {
        let prompt = roles
            .request_prompt(user)
            .map(|p| format!(" ({p})"))
            .unwrap_or_default();
        return Err(Refusal::new(
            ErrorCode::ReasonRequired,
            format!("your roles require a reason for access requests{prompt}"),
        ));
    }
    let reason = reason.unwrap_or_default();
    let max_duration = match (body.max_duration, frozen.max_duration) {
        (Some(asked), Some(cap)) => Some(asked.min(cap)),
        (asked, cap) => asked.or(cap),
    };
    let mut suggested = frozen.suggested_reviewers;
    for name in body.suggested_reviewers {
        if !suggested.contains(&name) {
            suggested.push(name);
        }
    }
    Ok(Request {
        id,
        user: user.name.clone(),
        granted_roles: frozen.roles.clone(),
        roles: frozen.roles,
        state: State::Pending,
        emergency: is_emergency_reason(&reason),
        reason,
        created_at: now,
        pending_expires_at: now + pending_ttl.to_chrono(),
        max_duration,
        estimate: body.estimate,
        access: None,
        thresholds: frozen.thresholds,
        role_thresholds: frozen.role_thresholds,
        reviews: Vec::new(),
        resolved_at: None,
        resolve_reason: None,
        resolved_by: None,
        suggested_reviewers: suggested,
        // Policy predicates read `annotations`, so only roles may set them; what the
        // requester adds is kept apart, shown, and never consulted.
        annotations: frozen.annotations,
        request_prompt: roles.request_prompt(user),
        requester_annotations: body.annotations,
        post_incident_review: None,
    })
}

/// The audit event of a creation.
pub fn created(request: &Request) -> Record {
    let mut record = Record::new(EventType::Create, &request.user, request.created_at)
        .reason(request.reason.clone())
        .field("emergency", request.emergency);
    if let Some(estimate) = request.estimate {
        record = record.field("estimate", estimate.to_string());
    }
    if let Some(max) = request.max_duration {
        record = record.field("max_duration", max.to_string());
    }
    record
}

/// Whether `user` sees `request` in listings and on the event stream: their own,
/// the ones they may review, or all with rule `access_request: list`.
pub fn may_list(roles: &RoleSet, user: &User, request: &Request) -> bool {
    request.user == user.name
        || roles.allows(user, Resource::AccessRequest, Verb::List)
        || roles.check_review(user, request).is_ok()
}

/// Whether `user` may read `request` by id: what they may list, plus any request
/// with rule `access_request: read` (or `update`, to act on it).
pub fn may_read(roles: &RoleSet, user: &User, request: &Request) -> bool {
    may_list(roles, user, request)
        || roles.allows(user, Resource::AccessRequest, Verb::Read)
        || roles.allows(user, Resource::AccessRequest, Verb::Update)
}

fn refused(actor: &User, now: Time, refusal: Refusal, text: &str, field: (&str, &str)) -> Step {
    let record = Record::new(EventType::ReviewRefused, &actor.name, now)
        .reason(text::excerpt(text))
        .field(field.0, field.1);
    Step::Refuse {
        refusal,
        record: Some(record),
    }
}

/// Puts the request into its resolved state; an approval opens the access window.
fn settle(roles: &RoleSet, request: &mut Request, state: State, reason: &str, now: Time) {
    request.state = state;
    request.resolved_at = Some(now);
    request.resolve_reason = Some(reason.to_string());
    if state == State::Approved {
        let length = roles.access_length(&request.granted_roles, request.max_duration);
        request.access = Some(Access {
            starts_at: now,
            ends_at: now + length.to_chrono(),
            returned_at: None,
        });
    }
}

/// Why `reviewer` may not review `request` now, if they may not.
fn review_refusal(
    roles: &RoleSet,
    reviewer: &User,
    request: &Request,
    now: Time,
) -> Option<Refusal> {
    if let Err(why) = roles.check_review(reviewer, request) {
        let code = match why {
            ReviewRefusal::SelfReview => ErrorCode::SelfReview,
            _ => ErrorCode::Forbidden,
        };
        return Some(Refusal::new(code, why.to_string()));
    }
    if request.state != State::Pending {
        return Some(Refusal::new(
            ErrorCode::NotPending,
            format!("the request is already {}", request.state),
        ));
    }
    if request.pending_expires_at <= now {
        return Some(Refusal::new(
            ErrorCode::NotPending,
            "the review deadline has passed",
        ));
    }
    if request.review_by(&reviewer.name).is_some() {
        return Some(Refusal::new(
            ErrorCode::AlreadyReviewed,
            "you have already reviewed this request",
        ));
    }
    None
}

/// A review by `reviewer`. Refused attempts are recorded in the audit log.
pub fn review(
    roles: &RoleSet,
    reviewer: &User,
    body: &SubmitReview,
    now: Time,
    request: &mut Request,
) -> Step {
    if let Some(refusal) = review_refusal(roles, reviewer, request, now) {
        let decision = ("decision", body.decision.as_str());
        return refused(reviewer, now, refusal, &body.reason, decision);
    }
    let reason = match required_text("review reason", &body.reason) {
        Ok(reason) => reason,
        Err(refusal) => return refusal.into(),
    };
    if let Err(refusal) = check_subset(request, body.decision, &body.roles) {
        return refusal.into();
    }
    let threshold_indexes = super::matching_thresholds(request, reviewer, &reason);
    request.reviews.push(Review {
        author: reviewer.name.clone(),
        decision: body.decision,
        reason: reason.clone(),
        roles: body.roles.clone(),
        created_at: now,
        threshold_indexes,
    });
    let outcome = super::replay(request);
    request.granted_roles = outcome.granted_roles;
    if outcome.state != State::Pending {
        settle(roles, request, outcome.state, &reason, now);
    }
    let mut record = Record::new(EventType::Review, &reviewer.name, now)
        .reason(reason)
        .field("decision", body.decision.as_str());
    if !body.roles.is_empty() {
        record = record.field("review_roles", body.roles.clone());
    }
    Step::Commit(record)
}

/// An approval may narrow the grant to a subset of the requested roles, but never to
/// nothing given earlier approvals' subsets.
fn check_subset(request: &Request, decision: Decision, subset: &[String]) -> Result<(), Refusal> {
    if subset.is_empty() {
        return Ok(());
    }
    if decision == Decision::Deny {
        return Err(Refusal::invalid("roles may only be named when approving"));
    }
    if let Some(stranger) = subset.iter().find(|r| !request.roles.contains(r)) {
        return Err(Refusal::invalid(format!(
            "role {stranger:?} was not requested"
        )));
    }
    if !subset.iter().any(|r| request.granted_roles.contains(r)) {
        return Err(Refusal::invalid(format!(
            "earlier approvals already narrowed the grant to {}; approve some of those",
            request.granted_roles.join(", ")
        )));
    }
    Ok(())
}

/// A direct resolution (override) by a user with rule `access_request: update`.
/// An attempt on one's own request is refused on the record.
pub fn resolve(
    roles: &RoleSet,
    admin: &User,
    body: &Resolve,
    now: Time,
    request: &mut Request,
) -> Step {
    if !roles.allows(admin, Resource::AccessRequest, Verb::Update) {
        return refuse(
            ErrorCode::Forbidden,
            "resolving a request directly needs rule access_request: update",
        );
    }
    if request.user == admin.name {
        let refusal = Refusal::new(ErrorCode::SelfReview, "you cannot resolve your own request");
        return refused(admin, now, refusal, &body.reason, ("action", "override"));
    }
    if request.state != State::Pending {
        return refuse(
            ErrorCode::NotPending,
            format!("the request is already {}", request.state),
        );
    }
    let decision = match body.state {
        State::Approved => Decision::Approve,
        State::Denied => Decision::Deny,
        _ => {
            return refuse(
                ErrorCode::InvalidRequest,
                "state must be approved or denied",
            );
        }
    };
    let reason = match required_text("reason", &body.reason) {
        Ok(reason) => reason,
        Err(refusal) => return refusal.into(),
    };
    if let Err(refusal) = check_subset(request, decision, &body.roles) {
        return refusal.into();
    }
    if !body.roles.is_empty() {
        request.granted_roles.retain(|r| body.roles.contains(r));
    }
    request.resolved_by = Some(admin.name.clone());
    settle(roles, request, body.state, &reason, now);
    Step::Commit(
        Record::new(EventType::Update, &admin.name, now)
            .reason(reason)
            .field("action", "override"),
    )
}

fn requester_only(user: &User, request: &Request, verb: &str) -> Result<(), Refusal> {
    if request.user != user.name {
        return Err(Refusal::new(
            ErrorCode::Forbidden,
            format!("only the requester may {verb} a request"),
        ));
    }
    Ok(())
}

/// The requester cancels a pending request.
pub fn withdraw(user: &User, now: Time, request: &mut Request) -> Step {
    if let Err(refusal) = requester_only(user, request, "withdraw") {
        return refusal.into();
    }
    if request.state != State::Pending {
        return refuse(
            ErrorCode::NotPending,
            format!(
                "only pending requests can be withdrawn; this one is {}",
                request.state
            ),
        );
    }
    request.state = State::Withdrawn;
    request.resolved_at = Some(now);
    Step::Commit(Record::new(EventType::Update, &user.name, now).field("action", "withdraw"))
}

/// The requester gives approved access back before its window ends.
pub fn give_back(user: &User, now: Time, request: &mut Request) -> Step {
    if let Err(refusal) = requester_only(user, request, "return") {
        return refusal.into();
    }
    match (request.state, request.access.as_mut()) {
        (State::Approved, Some(access)) if access.ends_at > now => {
            access.returned_at = Some(now);
            request.state = State::Returned;
            Step::Commit(Record::new(EventType::Update, &user.name, now).field("action", "return"))
        }
        _ => refuse(
            ErrorCode::NotPending,
            format!(
                "only approved access can be returned; this request is {}",
                request.state
            ),
        ),
    }
}

/// An administrator (rule `access_request: update`) ends approved access early, with
/// a reason: `approved` → `revoked`. Its certificates go into the KRL because of that
/// state. Audited as an `access_request.update` with action `revoke`.
pub fn revoke(
    roles: &RoleSet,
    admin: &User,
    reason: &str,
    now: Time,
    request: &mut Request,
) -> Step {
    if !roles.allows(admin, Resource::AccessRequest, Verb::Update) {
        return refuse(
            ErrorCode::Forbidden,
            "revoking access needs rule access_request: update",
        );
    }
    let reason = match required_text("reason", reason) {
        Ok(reason) => reason,
        Err(refusal) => return refusal.into(),
    };
    match (request.state, request.access.as_mut()) {
        (State::Approved, Some(access)) if access.ends_at > now => {
            access.returned_at = Some(now);
            request.state = State::Revoked;
            Step::Commit(
                Record::new(EventType::Update, &admin.name, now)
                    .reason(reason)
                    .field("action", "revoke"),
            )
        }
        _ => refuse(
            ErrorCode::NotApproved,
            format!(
                "only approved access can be revoked; this request is {}",
                request.state
            ),
        ),
    }
}

/// What the sweeper does to a request that may be due: expire a pending one past
/// its deadline, elapse approved access whose window ended; otherwise refuse.
pub fn sweep(now: Time, request: &mut Request) -> Step {
    match request.state {
        State::Pending if request.pending_expires_at <= now => {
            request.state = State::Expired;
            request.resolved_at = Some(now);
            Step::Commit(
                Record::new(EventType::Expire, SYSTEM_ACTOR, now)
                    .reason("no decision before the review deadline"),
            )
        }
        State::Approved if request.access.as_ref().is_some_and(|a| a.ends_at <= now) => {
            request.state = State::Elapsed;
            Step::Commit(
                Record::new(EventType::Update, SYSTEM_ACTOR, now)
                    .reason("the access window ended")
                    .field("action", "elapse"),
            )
        }
        _ => refuse(ErrorCode::NotPending, "not due"),
    }
}

/// The post-incident review of approved emergency access, by someone other than
/// the requester who may review these roles or override.
pub fn post_incident_review(
    roles: &RoleSet,
    user: &User,
    body: &SubmitPostIncidentReview,
    now: Time,
    request: &mut Request,
) -> Step {
    if request.user == user.name {
        let refusal = Refusal::new(
            ErrorCode::SelfReview,
            "the post-incident review must come from someone other than the requester",
        );
        let action = ("action", "post_incident_review");
        return refused(user, now, refusal, &body.notes, action);
    }
    if roles.check_review(user, request).is_err()
        && !roles.allows(user, Resource::AccessRequest, Verb::Update)
    {
        return refuse(
            ErrorCode::Forbidden,
            "only a reviewer of these roles or an administrator may record the post-incident review",
        );
    }
    if !request.emergency {
        return refuse(
            ErrorCode::InvalidRequest,
            "post-incident reviews are for emergency requests",
        );
    }
    if !matches!(
        request.state,
        State::Approved | State::Returned | State::Elapsed | State::Revoked
    ) {
        return refuse(
            ErrorCode::NotPending,
            format!(
                "only approved emergency access is reviewed afterwards; this request is {}",
                request.state
            ),
        );
    }
    if request.post_incident_review.is_some() {
        return refuse(
            ErrorCode::AlreadyReviewed,
            "this request already has its post-incident review",
        );
    }
    let notes = match required_text("notes", &body.notes) {
        Ok(notes) => notes,
        Err(refusal) => return refusal.into(),
    };
    request.post_incident_review = Some(PostIncidentReview {
        author: user.name.clone(),
        outcome: body.outcome,
        notes: notes.clone(),
        created_at: now,
    });
    let outcome = match body.outcome {
        IncidentOutcome::Justified => "justified",
        IncidentOutcome::Unjustified => "unjustified",
    };
    Step::Commit(
        Record::new(EventType::PostIncidentReview, &user.name, now)
            .reason(notes)
            .field("outcome", outcome),
    )
}

#[cfg(test)]
#[path = "lifecycle_tests.rs"]
mod tests;
