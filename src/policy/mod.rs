//! Policy: Teleport-style role YAML, matchers, the predicate language, who may
//! request and review what, threshold freezing and the replay that resolves a request.
//! Pure: no I/O, no clock reads.
//!
//! `role` reads documents (`source` keeps where each came from, `fields` reads typed
//! fields), `spec` compiles what the broker uses (with `matcher` and `predicate`),
//! `request` and `review` answer who may do what, `replay` resolves, `lifecycle`
//! decides each action on a request, `text` says what counts as blank.

mod claims;
mod fields;
pub mod lifecycle;
pub mod logins;
mod matcher;
mod predicate;
mod replay;
mod request;
mod review;
mod role;
mod schema;
#[cfg(test)]
mod seeds;
mod source;
mod spec;
#[cfg(test)]
mod teleport;
#[cfg(test)]
mod testkit;
pub mod text;
mod traits;
mod yaml;

use std::collections::BTreeMap;

pub use crate::model::api::RequestAccess;
use crate::model::{Duration, Outcome, Request, Threshold, User};

pub use replay::{RoleProgress, ThresholdProgress};
/// The largest role file accepted.
pub const MAX_ROLE_FILE_BYTES: usize = yaml::MAX_FILE_BYTES;
pub use source::RoleSource;
use spec::RoleSpec;

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
    /// Where the role was read from, so later errors can name the line.
    pub source: RoleSource,
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
    /// Creating requests needs no allow rule (the `request` conditions govern it),
    /// but a deny rule on it forbids creating any.
    Create,
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
    #[error("you may not request any role, so \"*\" names none")]
    NothingRequestable,
    #[error("your roles deny creating access requests (deny rule access_request: create)")]
    CreateDenied,
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
    /// The roles asked for, `*` expanded, each once, in the order given.
    pub roles: Vec<String>,
    pub thresholds: Vec<Threshold>,
    pub role_thresholds: BTreeMap<String, Vec<Vec<usize>>>,
    pub suggested_reviewers: Vec<String>,
    pub annotations: BTreeMap<String, Vec<String>>,
    /// The smallest `allow.request.max_duration` among the user's roles that allow
    /// this request, if any. Suggested reviewers and annotations come from those
    /// roles too.
    pub max_duration: Option<Duration>,
}

/// A validated set of roles, by name.
#[derive(Debug, Clone, Default)]
pub struct RoleSet {
    roles: BTreeMap<String, Role>,
    specs: BTreeMap<String, RoleSpec>,
}

impl RoleSet {
    /// Parses a multi-document role file. `source_name` names the file in errors.
    pub fn parse(text: &str, source_name: &str) -> Result<Vec<Role>, PolicyError> {
        role::parse_file(text, source_name)
    }

    /// Parses one role file and validates it into a set.
    pub fn from_yaml(text: &str, source_name: &str) -> Result<RoleSet, PolicyError> {
        RoleSet::new(RoleSet::parse(text, source_name)?)
    }

    /// Validates roles (names unique, matchers and predicates parse) into a set.
    pub fn new(roles: Vec<Role>) -> Result<RoleSet, PolicyError> {
        let mut set = RoleSet::default();
        for mut role in roles {
            if role.source.source_name.is_empty() {
                role.source.source_name = format!("role {:?}", role.name);
            }
            if let Some(first) = set.roles.get(&role.name) {
                let first_at = match first.source.line_of(&["metadata", "name"]) {
                    0 => first.source.source_name.clone(),
                    line => format!("{}:{line}", first.source.source_name),
                };
                return Err(role.source.error_at(
                    &["metadata", "name"],
                    format!(
                        "duplicate role name {:?} (first defined at {first_at})",
                        role.name
                    ),
                ));
            }
            let spec = RoleSpec::compile(&role)?;
            set.specs.insert(role.name.clone(), spec);
            set.roles.insert(role.name.clone(), role);
        }
        Ok(set)
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
        request::requestable_roles(self, user)
    }

    /// Existing roles the user's static roles may review.
    pub fn reviewable_roles(&self, user: &User) -> Vec<String> {
        review::reviewable_roles(self, user)
    }

    /// Whether any of the user's roles requires a reason for requests.
    pub fn reason_required(&self, user: &User) -> bool {
        self.user_specs(user).any(|(_, spec)| spec.reason_required)
    }

    /// The strictest `request_access` among the user's roles.
    pub fn request_access(&self, user: &User) -> RequestAccess {
        self.user_specs(user)
            .map(|(_, spec)| spec.request_access)
            .max()
            .unwrap_or_default()
    }

    /// Whether a deny rule of the user's roles covers `verb` on `resource`.
    pub fn denies(&self, user: &User, resource: Resource, verb: Verb) -> bool {
        self.user_specs(user)
            .any(|(_, spec)| spec.deny_rules.iter().any(|r| r.covers(resource, verb)))
    }

    /// The `request_prompt` of the user's roles, if any says one.
    pub fn request_prompt(&self, user: &User) -> Option<String> {
        self.user_roles(user)
            .find_map(|role| role.request_prompt.clone())
    }

    /// Whether the user's roles allow `verb` on `resource` (`spec.allow.rules`, no deny).
    pub fn allows(&self, user: &User, resource: Resource, verb: Verb) -> bool {
        let allowed = self
            .user_specs(user)
            .any(|(_, spec)| spec.allow_rules.iter().any(|r| r.covers(resource, verb)));
        allowed && !self.denies(user, resource, verb)
    }

    /// Checks a user may request these roles and freezes the thresholds.
    pub fn check_request(&self, user: &User, roles: &[String]) -> Result<Frozen, RequestRefusal> {
        request::check_request(self, user, roles)
    }

    /// Whether the reviewer's static roles allow reviewing this request.
    pub fn check_review(&self, reviewer: &User, request: &Request) -> Result<(), ReviewRefusal> {
        review::check_review(self, reviewer, request)
    }

    /// How long access lasts once approved: `requested` capped by the smallest
    /// `max_session_ttl` of the granted roles; without a role cap, at most 1h.
    pub fn access_length(&self, granted: &[String], requested: Option<Duration>) -> Duration {
        let ttl = granted
            .iter()
            .filter_map(|name| self.roles.get(name)?.max_session_ttl)
            .min();
        match (requested, ttl) {
            (Some(wanted), Some(cap)) => wanted.min(cap),
            (None, Some(cap)) => cap,
            (Some(wanted), None) => wanted.min(Duration::from_hours(1)),
            (None, None) => Duration::from_hours(1),
        }
    }

    /// The user's static roles that exist in the set, each once, in the user's order.
    fn user_roles<'a>(&'a self, user: &'a User) -> impl Iterator<Item = &'a Role> + 'a {
        self.user_specs(user)
            .filter_map(|(name, _)| self.roles.get(name))
    }

    fn user_specs<'a>(
        &'a self,
        user: &'a User,
    ) -> impl Iterator<Item = (&'a str, &'a RoleSpec)> + Clone + 'a {
        user.roles
            .iter()
            .enumerate()
            .filter(|(i, name)| !user.roles[..*i].contains(name))
            .filter_map(|(_, name)| self.specs.get(name).map(|spec| (name.as_str(), spec)))
    }
}

/// Indexes of the request's thresholds whose filter matches this reviewer now.
pub fn matching_thresholds(request: &Request, reviewer: &User, review_reason: &str) -> Vec<usize> {
    review::matching_thresholds(request, reviewer, review_reason)
}

/// Per requested role, how far each clause's thresholds are toward approval (counts
/// as the replay sees them, up to the first resolution). For the console's detail pane.
pub fn progress(request: &Request) -> Vec<RoleProgress> {
    replay::progress(request)
}

/// The request's votes as the console's and CLI's `1/2` show them: (approvals
/// counted, approvals needed) for the granted role furthest from approval, counted
/// as the replay counts them (matching thresholds only, up to the resolution).
pub fn votes(request: &Request) -> (usize, usize) {
    replay::votes(request)
}

/// One role's votes, counted as [`votes`] counts them.
pub fn role_votes(request: &Request, role: &str) -> (usize, usize) {
    replay::role_progress_votes(request, role)
}

/// What the request would grant after one more approval naming `subset` (empty:
/// all roles). The broker refuses an approval that would leave this empty or that
/// names roles the request does not ask for.
pub fn narrowed_grant(request: &Request, subset: &[String]) -> Vec<String> {
    replay(request)
        .granted_roles
        .into_iter()
        .filter(|role| subset.is_empty() || subset.contains(role))
        .collect()
}

/// Replays the request's reviews in order against its frozen thresholds.
pub fn replay(request: &Request) -> Outcome {
    replay::replay(request)
}
