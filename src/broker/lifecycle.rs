//! What each action does to a request: the decisions of DESIGN §3 as functions that
//! take the request, the caller and the time, and say what to commit or refuse.
//! They run inside the store's write transaction, so each sees the latest state.

use crate::model::api::{
    CreateRequest, ErrorCode, MAX_REASON_BYTES, MAX_ROLES_PER_REQUEST, Resolve,
    SubmitPostIncidentReview, SubmitReview,
};
use crate::model::{
    Access, Decision, Duration, EventType, PostIncidentReview, Request, Review, State, Time, User,
    is_emergency_reason,
};
use crate::policy::{self, Frozen, RequestRefusal, Resource, ReviewRefusal, RoleSet, Verb};

use super::store::{EventDraft, Refusal, Verdict};

/// The actor recorded for what the broker does by itself (expiry, elapse).
pub const SYSTEM_ACTOR: &str = "countersign";
const MAX_NAME_BYTES: usize = 256;
const MAX_ANNOTATIONS: usize = 32;
const MAX_SUGGESTED_REVIEWERS: usize = 32;

/// A refusal left off the record.
fn refuse(code: ErrorCode, message: impl Into<String>) -> Verdict {
    Refusal::new(code, message).into()
}

fn invalid(message: impl Into<String>) -> Refusal {
    Refusal::new(ErrorCode::InvalidRequest, message)
}

/// Checks a free-text reason: `Ok(None)` when blank.
pub fn check_text(field: &str, text: &str) -> Result<Option<String>, Refusal> {
    if text.len() > MAX_REASON_BYTES {
        return Err(invalid(format!(
            "{field} is {} bytes; at most {MAX_REASON_BYTES} are allowed",
            text.len()
        )));
    }
    if text.trim().is_empty() {
        return Ok(None);
    }
    Ok(Some(text.to_string()))
}

fn required_text(field: &str, text: &str) -> Result<String, Refusal> {
    check_text(field, text)?.ok_or_else(|| {
        Refusal::new(
            ErrorCode::ReasonRequired,
            format!("a {field} is required and cannot be blank"),
        )
    })
}

fn check_names(field: &str, names: &[String], max: usize) -> Result<(), Refusal> {
    if names.len() > max {
        return Err(invalid(format!("{field}: at most {max} entries")));
    }
    for name in names {
        if name.trim().is_empty()
            || name.len() > MAX_NAME_BYTES
            || name.chars().any(char::is_control)
        {
            return Err(invalid(format!(
                "{field}: {name:?} is not a valid name (1–{MAX_NAME_BYTES} bytes, no control characters)"
            )));
        }
    }
    Ok(())
}

fn positive(field: &str, duration: Option<Duration>) -> Result<(), Refusal> {
    match duration {
        Some(d) if d.is_zero() => Err(invalid(format!("{field} must be longer than 0s"))),
        _ => Ok(()),
    }
}

/// Settings of the broker that shape new requests.
#[derive(Debug, Clone, Copy)]
pub struct CreateSettings {
    pub default_pending_ttl: Duration,
    pub max_pending_ttl: Duration,
}

/// Validates a create body and builds the pending request. Roles are deduplicated,
/// keeping the order given.
pub fn new_request(
    roles: &RoleSet,
    user: &User,
    mut body: CreateRequest,
    settings: CreateSettings,
    now: Time,
) -> Result<Request, Refusal> {
    let mut seen = std::collections::BTreeSet::new();
    body.roles.retain(|role| seen.insert(role.clone()));
    if body.roles.is_empty() {
        return Err(invalid("name at least one role to request"));
    }
    check_names("roles", &body.roles, MAX_ROLES_PER_REQUEST)?;
    check_names(
        "suggested_reviewers",
        &body.suggested_reviewers,
        MAX_SUGGESTED_REVIEWERS,
    )?;
    if body.annotations.len() > MAX_ANNOTATIONS {
        return Err(invalid(format!(
            "annotations: at most {MAX_ANNOTATIONS} keys"
        )));
    }
    for (key, values) in &body.annotations {
        check_names("annotations", std::slice::from_ref(key), 1)?;
        if values.len() > MAX_ANNOTATIONS || values.iter().any(|v| v.len() > MAX_REASON_BYTES) {
            return Err(invalid(format!(
                "annotation {key:?} has too many or too long values"
            )));
        }
    }
    positive("max_duration", body.max_duration)?;
    positive("estimate", body.estimate)?;
    positive("pending_ttl", body.pending_ttl)?;
    let pending_ttl = body.pending_ttl.unwrap_or(settings.default_pending_ttl);
    if pending_ttl > settings.max_pending_ttl {
        return Err(invalid(format!(
            "pending_ttl {pending_ttl} is longer than this broker allows ({})",
            settings.max_pending_ttl
        )));
    }
    let reason = check_text("reason", &body.reason)?;
    let frozen: Frozen =
        roles
            .check_request(user, &body.roles)
            .map_err(|refusal| match refusal {
                RequestRefusal::NoRoles => invalid(refusal.to_string()),
                other => Refusal::new(ErrorCode::RoleNotRequestable, other.to_string()),
            })?;
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
    // Policy predicates read `annotations`, so only roles may set them; what the
    // requester adds is kept apart, shown, and never consulted.
    let annotations = frozen.annotations;
    let requester_annotations = body.annotations;
    Ok(Request {
        id: uuid::Uuid::now_v7(),
        user: user.name.clone(),
        granted_roles: body.roles.clone(),
        roles: body.roles,
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
        annotations,
        request_prompt: roles.request_prompt(user),
        requester_annotations,
        post_incident_review: None,
    })
}

/// The audit event of a creation.
pub fn created_event(request: &Request) -> EventDraft {
    let mut draft = EventDraft::new(EventType::Create, &request.user, request.created_at)
        .reason(request.reason.clone())
        .field("emergency", request.emergency);
    if let Some(estimate) = request.estimate {
        draft = draft.field("estimate", estimate.to_string());
    }
    if let Some(max) = request.max_duration {
        draft = draft.field("max_duration", max.to_string());
    }
    draft
}

/// Whether `user` may see `request` at all.
pub fn can_see(roles: &RoleSet, user: &User, request: &Request) -> bool {
    request.user == user.name
        || roles.allows(user, Resource::AccessRequest, Verb::List)
        || roles.allows(user, Resource::AccessRequest, Verb::Read)
        || roles.allows(user, Resource::AccessRequest, Verb::Update)
        || roles.check_review(user, request).is_ok()
}

/// At most `MAX_REASON_BYTES` of a text, cut at a character boundary: refused
/// attempts are recorded even when their text was too long to accept.
fn bounded(text: &str) -> String {
    let mut end = text.len().min(MAX_REASON_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}

fn refused_review(reviewer: &User, body: &SubmitReview, now: Time, refusal: Refusal) -> Verdict {
    let record = EventDraft::new(EventType::ReviewRefused, &reviewer.name, now)
        .reason(bounded(&body.reason))
        .field("decision", body.decision.as_str());
    Verdict::Refuse {
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

/// A review by `reviewer`. Refused attempts are recorded in the audit log.
pub fn review(
    roles: &RoleSet,
    reviewer: &User,
    body: &SubmitReview,
    now: Time,
    request: &mut Request,
) -> Verdict {
    if request.user == reviewer.name {
        return refused_review(
            reviewer,
            body,
            now,
            Refusal::new(ErrorCode::SelfReview, "you cannot review your own request"),
        );
    }
    if let Err(why) = roles.check_review(reviewer, request) {
        let code = match why {
            ReviewRefusal::SelfReview => ErrorCode::SelfReview,
            _ => ErrorCode::Forbidden,
        };
        return refused_review(reviewer, body, now, Refusal::new(code, why.to_string()));
    }
    if request.state != State::Pending {
        return refused_review(
            reviewer,
            body,
            now,
            Refusal::new(
                ErrorCode::NotPending,
                format!("the request is already {}", request.state),
            ),
        );
    }
    if request.pending_expires_at <= now {
        return refused_review(
            reviewer,
            body,
            now,
            Refusal::new(ErrorCode::NotPending, "the review deadline has passed"),
        );
    }
    if request.review_by(&reviewer.name).is_some() {
        return refused_review(
            reviewer,
            body,
            now,
            Refusal::new(
                ErrorCode::AlreadyReviewed,
                "you have already reviewed this request",
            ),
        );
    }
    let reason = match required_text("review reason", &body.reason) {
        Ok(reason) => reason,
        Err(refusal) => return refusal.into(),
    };
    if let Err(refusal) = check_subset(request, body.decision, &body.roles) {
        return refusal.into();
    }
    let threshold_indexes = policy::matching_thresholds(request, reviewer, &reason);
    request.reviews.push(Review {
        author: reviewer.name.clone(),
        decision: body.decision,
        reason: reason.clone(),
        roles: body.roles.clone(),
        created_at: now,
        threshold_indexes,
    });
    let outcome = policy::replay(request);
    request.granted_roles = outcome.granted_roles;
    if outcome.state != State::Pending {
        settle(roles, request, outcome.state, &reason, now);
    }
    let mut draft = EventDraft::new(EventType::Review, &reviewer.name, now)
        .reason(reason)
        .field("decision", body.decision.as_str());
    if !body.roles.is_empty() {
        draft = draft.field("review_roles", body.roles.clone());
    }
    Verdict::Commit(draft)
}

/// An approval may narrow the grant to a subset of the requested roles, but never to
/// nothing given earlier approvals' subsets.
fn check_subset(request: &Request, decision: Decision, subset: &[String]) -> Result<(), Refusal> {
    if subset.is_empty() {
        return Ok(());
    }
    if decision == Decision::Deny {
        return Err(invalid("roles may only be named when approving"));
    }
    if let Some(stranger) = subset.iter().find(|r| !request.roles.contains(r)) {
        return Err(invalid(format!("role {stranger:?} was not requested")));
    }
    if !subset.iter().any(|r| request.granted_roles.contains(r)) {
        return Err(invalid(format!(
            "earlier approvals already narrowed the grant to {}; approve some of those",
            request.granted_roles.join(", ")
        )));
    }
    Ok(())
}

/// A direct resolution by a user with rule `access_request: update`.
pub fn resolve(
    roles: &RoleSet,
    admin: &User,
    body: &Resolve,
    now: Time,
    request: &mut Request,
) -> Verdict {
    if !roles.allows(admin, Resource::AccessRequest, Verb::Update) {
        return refuse(
            ErrorCode::Forbidden,
            "resolving a request directly needs rule access_request: update",
        );
    }
    if request.user == admin.name {
        return refuse(ErrorCode::SelfReview, "you cannot resolve your own request");
    }
    if request.state != State::Pending {
        return refuse(
            ErrorCode::NotPending,
            format!("the request is already {}", request.state),
        );
    }
    if !matches!(body.state, State::Approved | State::Denied) {
        return refuse(
            ErrorCode::InvalidRequest,
            "state must be approved or denied",
        );
    }
    let reason = match required_text("reason", &body.reason) {
        Ok(reason) => reason,
        Err(refusal) => return refusal.into(),
    };
    let decision = if body.state == State::Approved {
        Decision::Approve
    } else {
        Decision::Deny
    };
    if let Err(refusal) = check_subset(request, decision, &body.roles) {
        return refusal.into();
    }
    if !body.roles.is_empty() {
        request.granted_roles.retain(|r| body.roles.contains(r));
    }
    request.resolved_by = Some(admin.name.clone());
    settle(roles, request, body.state, &reason, now);
    Verdict::Commit(
        EventDraft::new(EventType::Update, &admin.name, now)
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

pub fn withdraw(user: &User, now: Time, request: &mut Request) -> Verdict {
    if let Err(refusal) = requester_only(user, request, "withdraw") {
        return refusal.into();
    }
    if request.state != State::Pending {
        return Verdict::Refuse {
            refusal: Refusal::new(
                ErrorCode::NotPending,
                format!(
                    "only pending requests can be withdrawn; this one is {}",
                    request.state
                ),
            ),
            record: None,
        };
    }
    request.state = State::Withdrawn;
    request.resolved_at = Some(now);
    Verdict::Commit(EventDraft::new(EventType::Update, &user.name, now).field("action", "withdraw"))
}

pub fn give_back(user: &User, now: Time, request: &mut Request) -> Verdict {
    if let Err(refusal) = requester_only(user, request, "return") {
        return refusal.into();
    }
    match (request.state, request.access.as_mut()) {
        (State::Approved, Some(access)) if access.ends_at > now => {
            access.returned_at = Some(now);
            request.state = State::Returned;
            Verdict::Commit(
                EventDraft::new(EventType::Update, &user.name, now).field("action", "return"),
            )
        }
        _ => Verdict::Refuse {
            refusal: Refusal::new(
                ErrorCode::NotPending,
                format!(
                    "only approved access can be returned; this request is {}",
                    request.state
                ),
            ),
            record: None,
        },
    }
}

/// What the sweeper does to a request that may be due.
pub fn sweep(now: Time, request: &mut Request) -> Verdict {
    let not_due = Verdict::Refuse {
        refusal: Refusal::new(ErrorCode::NotPending, "not due"),
        record: None,
    };
    match request.state {
        State::Pending if request.pending_expires_at <= now => {
            request.state = State::Expired;
            request.resolved_at = Some(now);
            Verdict::Commit(
                EventDraft::new(EventType::Expire, SYSTEM_ACTOR, now)
                    .reason("no decision before the review deadline"),
            )
        }
        State::Approved if request.access.as_ref().is_some_and(|a| a.ends_at <= now) => {
            request.state = State::Elapsed;
            Verdict::Commit(
                EventDraft::new(EventType::Update, SYSTEM_ACTOR, now)
                    .reason("the access window ended")
                    .field("action", "elapse"),
            )
        }
        _ => not_due,
    }
}

pub fn post_incident_review(
    roles: &RoleSet,
    user: &User,
    body: &SubmitPostIncidentReview,
    now: Time,
    request: &mut Request,
) -> Verdict {
    if request.user == user.name {
        return Verdict::Refuse {
            refusal: Refusal::new(
                ErrorCode::SelfReview,
                "the post-incident review must come from someone other than the requester",
            ),
            record: Some(
                EventDraft::new(EventType::ReviewRefused, &user.name, now)
                    .reason(bounded(&body.notes))
                    .field("action", "post_incident_review"),
            ),
        };
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
        crate::model::IncidentOutcome::Justified => "justified",
        crate::model::IncidentOutcome::Unjustified => "unjustified",
    };
    Verdict::Commit(
        EventDraft::new(EventType::PostIncidentReview, &user.name, now)
            .reason(notes)
            .field("outcome", outcome),
    )
}
