//! Policy: Teleport-style role YAML, matchers, the predicate language, who may
//! request and review what, threshold freezing and the replay that resolves a request.
//! Pure: no I/O, no clock reads.
//!
//! INTERFACE STUB — the bodies are filled in by the policy work; the signatures are
//! what the broker calls.

use std::collections::BTreeMap;

use crate::model::{Duration, Outcome, Request, Threshold, User};

/// A role file or role could not be accepted. Displays as `file:line:col: message`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.render())]
pub struct PolicyError {
    /// The file (or other source name) the roles came from.
    pub source_name: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
}

impl PolicyError {
    fn render(&self) -> String {
        match (self.line, self.column) {
            (Some(l), Some(c)) => format!("{}:{l}:{c}: {}", self.source_name, self.message),
            (Some(l), None) => format!("{}:{l}: {}", self.source_name, self.message),
            _ => format!("{}: {}", self.source_name, self.message),
        }
    }
}

/// One `kind: role` document. `document` keeps the whole document as parsed,
/// including fields the broker does not use.
#[derive(Debug, Clone, PartialEq)]
pub struct Role {
    pub name: String,
    pub max_session_ttl: Option<Duration>,
    pub request_prompt: Option<String>,
    pub require_session_mfa: Option<serde_json::Value>,
    pub document: serde_json::Value,
}

/// Resources and verbs of `spec.allow.rules`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    AccessRequest,
    Event,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    List,
    Read,
    Update,
    Delete,
}

/// Why a request cannot be created as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestRefusal {
    #[error("role {0:?} does not exist")]
    UnknownRole(String),
    #[error("you may not request role {0:?}")]
    NotRequestable(String),
    #[error("you already hold role {0:?}")]
    AlreadyHeld(String),
    #[error("no roles requested")]
    NoRoles,
}

/// Why a reviewer may not review a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReviewRefusal {
    #[error("you cannot review your own request")]
    SelfReview,
    #[error("your roles do not allow reviewing role {0:?}")]
    RoleNotReviewable(String),
    #[error("the review conditions of your roles do not match this request")]
    WhereNotSatisfied,
}

/// What is frozen onto a request at creation.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Frozen {
    pub thresholds: Vec<Threshold>,
    pub role_thresholds: BTreeMap<String, Vec<Vec<usize>>>,
    pub suggested_reviewers: Vec<String>,
    pub annotations: BTreeMap<String, Vec<String>>,
    /// The smallest `allow.request.max_duration` among the user's roles, if any.
    pub max_duration: Option<Duration>,
}

/// A validated set of roles, by name.
#[derive(Debug, Clone, Default)]
pub struct RoleSet {
    roles: BTreeMap<String, Role>,
}

impl RoleSet {
    /// Parses a multi-document role file. `source_name` names the file in errors.
    pub fn parse(text: &str, source_name: &str) -> Result<Vec<Role>, PolicyError> {
        let _ = (text, source_name);
        todo!("policy: parse")
    }

    /// Validates roles (names unique, matchers and predicates parse) into a set.
    pub fn new(roles: Vec<Role>) -> Result<RoleSet, PolicyError> {
        let _ = roles;
        todo!("policy: new")
    }

    pub fn get(&self, name: &str) -> Option<&Role> {
        self.roles.get(name)
    }

    pub fn roles(&self) -> impl Iterator<Item = &Role> {
        self.roles.values()
    }

    pub fn len(&self) -> usize {
        self.roles.len()
    }

    pub fn is_empty(&self) -> bool {
        self.roles.is_empty()
    }

    /// Existing roles the user may request (and does not already hold).
    pub fn requestable_roles(&self, user: &User) -> Vec<String> {
        let _ = user;
        todo!("policy: requestable_roles")
    }

    /// Existing roles the user's static roles may review.
    pub fn reviewable_roles(&self, user: &User) -> Vec<String> {
        let _ = user;
        todo!("policy: reviewable_roles")
    }

    /// Whether any of the user's roles requires a reason for requests.
    pub fn reason_required(&self, user: &User) -> bool {
        let _ = user;
        todo!("policy: reason_required")
    }

    /// The `request_prompt` of the user's roles, if any says one.
    pub fn request_prompt(&self, user: &User) -> Option<String> {
        let _ = user;
        todo!("policy: request_prompt")
    }

    /// Whether the user's roles allow `verb` on `resource` (`spec.allow.rules`, no deny).
    pub fn allows(&self, user: &User, resource: Resource, verb: Verb) -> bool {
        let _ = (user, resource, verb);
        todo!("policy: allows")
    }

    /// Checks a user may request these roles and freezes the thresholds.
    pub fn check_request(&self, user: &User, roles: &[String]) -> Result<Frozen, RequestRefusal> {
        let _ = (user, roles);
        todo!("policy: check_request")
    }

    /// Whether the reviewer's static roles allow reviewing this request.
    pub fn check_review(&self, reviewer: &User, request: &Request) -> Result<(), ReviewRefusal> {
        let _ = (reviewer, request);
        todo!("policy: check_review")
    }

    /// How long access lasts once approved: `requested` capped by the smallest
    /// `max_session_ttl` of the granted roles; 1h when nothing says otherwise.
    pub fn access_length(&self, granted: &[String], requested: Option<Duration>) -> Duration {
        let _ = (granted, requested);
        todo!("policy: access_length")
    }
}

/// Indexes of the request's thresholds whose filter matches this reviewer now.
pub fn matching_thresholds(request: &Request, reviewer: &User, review_reason: &str) -> Vec<usize> {
    let _ = (request, reviewer, review_reason);
    todo!("policy: matching_thresholds")
}

/// Replays the request's reviews in order against its frozen thresholds.
pub fn replay(request: &Request) -> Outcome {
    let _ = request;
    todo!("policy: replay")
}
