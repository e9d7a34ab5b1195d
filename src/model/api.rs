//! The bodies the HTTP API accepts and returns, shared by the broker and the client.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{AuditEvent, Decision, Duration, Finding, IncidentOutcome, Request, State};

/// Largest accepted reason, review reason or note, in bytes.
pub const MAX_REASON_BYTES: usize = 4096;
/// Largest accepted request body, in bytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Most roles one request may ask for.
pub const MAX_ROLES_PER_REQUEST: usize = 32;
/// Default and largest page sizes for listings.
pub const DEFAULT_PAGE: usize = 100;
pub const MAX_PAGE: usize = 1000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct CreateRequest {
    pub roles: Vec<String>,
    #[serde(default)]
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_duration: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimate: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_ttl: Option<Duration>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub suggested_reviewers: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubmitReview {
    pub decision: Decision,
    #[serde(default)]
    pub reason: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
}

/// An override: resolve a pending request directly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resolve {
    pub state: State,
    #[serde(default)]
    pub reason: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubmitPostIncidentReview {
    pub outcome: IncidentOutcome,
    #[serde(default)]
    pub notes: String,
}

/// Marks a finding of the weekly review as looked at.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarkFindingReviewed {
    pub key: String,
    #[serde(default)]
    pub note: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Requests the caller made.
    Mine,
    /// Requests the caller may review.
    Reviewable,
    /// Everything the caller may see (all, with rule `access_request: list`).
    #[default]
    All,
}

/// Query of `GET /v1/requests`. Pages run newest first; `after` is the `next` of the
/// previous page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ListRequests {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<State>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<Scope>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
    /// Text to look for, case-insensitively: in the requester, a role or the reason,
    /// or at the start of the id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub q: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestPage {
    pub requests: Vec<Request>,
    pub next: Option<String>,
}

/// Query of `GET /v1/audit/events`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ListEvents {
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// RFC 3339 time or a duration ago (`168h`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventPage {
    pub events: Vec<AuditEvent>,
    pub next: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FindingsReport {
    pub findings: Vec<Finding>,
    pub window: Duration,
    #[serde(default)]
    pub reviewers: Vec<ReviewerSummary>,
    /// The regexes `no_ticket` used, so a front end flags reasons the same way.
    /// Empty from a broker that does not say.
    #[serde(default)]
    pub ticket_patterns: Vec<String>,
    /// How many requests for one role in the window make a `repeat_request`, so a
    /// front end flags repeats the same way. `None` from a broker that does not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat_threshold: Option<u32>,
    /// Where the next page starts (pass it as `after`); `None` on the last page and
    /// when no `limit` was asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
    /// How many findings the whole report holds. `None` from a broker that does not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<usize>,
}

/// Query of `GET /v1/audit/findings`. Without `limit` the answer holds every
/// finding (in the report's own order unless `sort` says otherwise).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ListFindings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sort: Option<super::FindingSort>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    /// The `next` of the previous page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
}

/// The approver-side view of the weekly review.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReviewerSummary {
    pub reviewer: String,
    pub approvals: u64,
    pub denials: u64,
    pub median_time_to_approve: Option<Duration>,
    pub approvals_under_two_minutes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct WhoAmI {
    pub user: String,
    pub roles: Vec<String>,
    pub traits: BTreeMap<String, Vec<String>>,
    pub requestable_roles: Vec<String>,
    pub reviewable_roles: Vec<String>,
    pub request_prompt: Option<String>,
    pub reason_required: bool,
    /// Rule `access_request: list`.
    #[serde(default)]
    pub can_list_all: bool,
    /// Rule `access_request: update` (override).
    #[serde(default)]
    pub can_override: bool,
    /// Rule `event: list`.
    #[serde(default)]
    pub can_audit: bool,
    /// The strictest `request_access` of the user's roles: with `always` or `reason`
    /// every login needs an access request.
    #[serde(default)]
    pub request_access: RequestAccess,
}

/// `spec.options.request_access` of a role (Teleport's values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RequestAccess {
    /// Requests are possible, never needed (Teleport's default).
    #[default]
    Optional,
    /// Every login needs a request.
    Always,
    /// Every login needs a request, with a reason (the strictest).
    Reason,
}

impl RequestAccess {
    pub fn as_str(self) -> &'static str {
        match self {
            RequestAccess::Optional => "optional",
            RequestAccess::Reason => "reason",
            RequestAccess::Always => "always",
        }
    }

    /// Whether a user with this setting needs a request for every login.
    pub fn login_needs_request(self) -> bool {
        self != RequestAccess::Optional
    }
}

/// The body of one `/v1/events` message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamMessage {
    pub event: AuditEvent,
    pub request: Option<Request>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    InvalidRequest,
    ReasonRequired,
    Unauthenticated,
    Forbidden,
    SelfReview,
    RoleNotRequestable,
    NotFound,
    AlreadyReviewed,
    NotPending,
    NotApproved,
    NoLogins,
    InvalidPublicKey,
    TooLarge,
    Internal,
    Unavailable,
    MethodNotAllowed,
    UriTooLong,
    HeadersTooLarge,
    TooManyStreams,
    RateLimited,
}

impl ErrorCode {
    pub fn status(self) -> u16 {
        match self {
            ErrorCode::InvalidRequest | ErrorCode::ReasonRequired | ErrorCode::InvalidPublicKey => {
                400
            }
            ErrorCode::Unauthenticated => 401,
            ErrorCode::Forbidden | ErrorCode::SelfReview | ErrorCode::RoleNotRequestable => 403,
            ErrorCode::NotFound => 404,
            ErrorCode::AlreadyReviewed
            | ErrorCode::NotPending
            | ErrorCode::NotApproved
            | ErrorCode::NoLogins => 409,
            ErrorCode::TooLarge => 413,
            ErrorCode::Internal => 500,
            ErrorCode::Unavailable => 503,
            ErrorCode::MethodNotAllowed => 405,
            ErrorCode::UriTooLong => 414,
            ErrorCode::HeadersTooLarge => 431,
            ErrorCode::TooManyStreams | ErrorCode::RateLimited => 429,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::ReasonRequired => "reason_required",
            ErrorCode::Unauthenticated => "unauthenticated",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::SelfReview => "self_review",
            ErrorCode::RoleNotRequestable => "role_not_requestable",
            ErrorCode::NotFound => "not_found",
            ErrorCode::AlreadyReviewed => "already_reviewed",
            ErrorCode::NotPending => "not_pending",
            ErrorCode::NotApproved => "not_approved",
            ErrorCode::NoLogins => "no_logins",
            ErrorCode::InvalidPublicKey => "invalid_public_key",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::Internal => "internal",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::UriTooLong => "uri_too_long",
            ErrorCode::HeadersTooLarge => "headers_too_large",
            ErrorCode::TooManyStreams => "too_many_streams",
            ErrorCode::RateLimited => "rate_limited",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub code: ErrorCode,
    pub message: String,
}

/// `{"error": {"code": ..., "message": ...}}`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    pub error: ErrorBody,
}

/// `GET /v1/audit/verify`.
pub type VerifyReport = super::event::ChainReport;

/// `GET /v1/roles`: what a front end shows about the roles the caller deals with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleSummary {
    pub name: String,
    pub max_session_ttl: Option<Duration>,
    pub request_prompt: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn findings_report_carries_its_ticket_patterns() {
        let report = FindingsReport {
            findings: Vec::new(),
            window: Duration::from_hours(168),
            reviewers: Vec::new(),
            ticket_patterns: vec![r"#\d+".into()],
            repeat_threshold: None,
            next: None,
            total: None,
        };
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["window"], "168h");
        assert_eq!(json["ticket_patterns"][0], r"#\d+");
        assert_eq!(
            serde_json::from_value::<FindingsReport>(json).unwrap(),
            report
        );
        // An older broker's answer (no patterns) reads as a report without them.
        let old = r#"{"findings": [], "window": "24h"}"#;
        let read: FindingsReport = serde_json::from_str(old).unwrap();
        assert!(read.ticket_patterns.is_empty());
        assert_eq!(read.window, Duration::from_hours(24));
    }
}

/// `GET /v1/notifications`: how the notification outbox stands, so front ends can
/// say when the channels approvers rely on have gone quiet.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationSummary {
    pub pending: u64,
    pub sent: u64,
    pub failed: u64,
}
