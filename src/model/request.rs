//! An access request and everything that happens to it.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Duration, Time};

/// Where a request is in its life. `pending` is the only state that reviews change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Pending,
    Approved,
    Denied,
    Expired,
    Withdrawn,
    Returned,
    Elapsed,
    /// An administrator ended approved access early; its certificates are revoked.
    Revoked,
}

impl State {
    pub const ALL: [State; 8] = [
        State::Pending,
        State::Approved,
        State::Denied,
        State::Expired,
        State::Withdrawn,
        State::Returned,
        State::Elapsed,
        State::Revoked,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Approved => "approved",
            State::Denied => "denied",
            State::Expired => "expired",
            State::Withdrawn => "withdrawn",
            State::Returned => "returned",
            State::Elapsed => "elapsed",
            State::Revoked => "revoked",
        }
    }

    /// Whether nothing more can happen to a request in this state.
    pub fn is_final(self) -> bool {
        !matches!(self, State::Pending | State::Approved)
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for State {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        State::ALL
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| format!("unknown state {s:?}"))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    Approve,
    Deny,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Approve => "approve",
            Decision::Deny => "deny",
        }
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One approval rule frozen on a request at creation: `approve` matching approvals
/// satisfy it, `deny` matching denials deny the request. `filter` is a predicate over
/// the reviewer, evaluated at review time; empty means every reviewer matches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Threshold {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub filter: String,
    pub approve: u32,
    pub deny: u32,
}

impl Default for Threshold {
    fn default() -> Self {
        Threshold {
            name: "default".into(),
            filter: String::new(),
            approve: 1,
            deny: 1,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Review {
    pub author: String,
    pub decision: Decision,
    pub reason: String,
    /// For approvals: the subset of requested roles this reviewer agrees to grant;
    /// empty means all of them.
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(deserialize_with = "super::time::deserialize")]
    pub created_at: Time,
    /// Indexes into `Request::thresholds` whose filter matched this reviewer.
    #[serde(default)]
    pub threshold_indexes: Vec<usize>,
}

/// The access window granted by an approval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Access {
    #[serde(deserialize_with = "super::time::deserialize")]
    pub starts_at: Time,
    #[serde(deserialize_with = "super::time::deserialize")]
    pub ends_at: Time,
    /// When access ended early: returned by the requester or revoked by an admin.
    #[serde(default, deserialize_with = "super::time::deserialize_option")]
    pub returned_at: Option<Time>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IncidentOutcome {
    Justified,
    Unjustified,
}

impl FromStr for IncidentOutcome {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "justified" => Ok(IncidentOutcome::Justified),
            "unjustified" => Ok(IncidentOutcome::Unjustified),
            _ => Err(format!("unknown outcome {s:?} (justified or unjustified)")),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostIncidentReview {
    pub author: String,
    pub outcome: IncidentOutcome,
    pub notes: String,
    #[serde(deserialize_with = "super::time::deserialize")]
    pub created_at: Time,
}

/// An access request, as stored and as the API returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    pub id: Uuid,
    pub user: String,
    pub roles: Vec<String>,
    /// What an approval grants: `roles` narrowed by every approving review's subset.
    pub granted_roles: Vec<String>,
    pub state: State,
    pub reason: String,
    pub emergency: bool,
    #[serde(deserialize_with = "super::time::deserialize")]
    pub created_at: Time,
    #[serde(deserialize_with = "super::time::deserialize")]
    pub pending_expires_at: Time,
    pub max_duration: Option<Duration>,
    pub estimate: Option<Duration>,
    pub access: Option<Access>,
    pub thresholds: Vec<Threshold>,
    /// For each requested role, the clauses that must all hold; a clause holds when
    /// any one of its thresholds (indexes into `thresholds`) has its approvals.
    pub role_thresholds: BTreeMap<String, Vec<Vec<usize>>>,
    pub reviews: Vec<Review>,
    #[serde(default, deserialize_with = "super::time::deserialize_option")]
    pub resolved_at: Option<Time>,
    pub resolve_reason: Option<String>,
    /// Who resolved it by override, when it was not resolved by reviews.
    #[serde(default)]
    pub resolved_by: Option<String>,
    #[serde(default)]
    pub suggested_reviewers: Vec<String>,
    /// Set by the requester's roles; threshold filters and review conditions read these.
    #[serde(default)]
    pub annotations: BTreeMap<String, Vec<String>>,
    /// The `request_prompt` of the requester's roles when they asked: what the reason
    /// was supposed to say, shown to reviewers beside it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_prompt: Option<String>,
    /// Added by the requester when asking; shown to reviewers, never read by policy.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub requester_annotations: BTreeMap<String, Vec<String>>,
    pub post_incident_review: Option<PostIncidentReview>,
}

impl Request {
    pub fn review_by(&self, author: &str) -> Option<&Review> {
        self.reviews.iter().find(|review| review.author == author)
    }

    pub fn approvals(&self) -> usize {
        self.reviews
            .iter()
            .filter(|r| r.decision == Decision::Approve)
            .count()
    }

    /// The `1/2` votes column: (approvals counted, approvals needed) for the role
    /// furthest from approval. Counted once, by the policy's replay.
    pub fn votes(&self) -> (usize, usize) {
        crate::policy::votes(self)
    }

    /// An approved emergency request owes a post-incident review until it has one.
    pub fn post_incident_review_owed(&self) -> bool {
        self.emergency
            && self.post_incident_review.is_none()
            && matches!(
                self.state,
                State::Approved | State::Returned | State::Elapsed | State::Revoked
            )
    }
}

/// What replaying a request's reviews against its frozen thresholds yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub state: State,
    pub granted_roles: Vec<String>,
}

/// Whether a reason marks a request as an emergency (`EMERGENCY:` in any case).
pub fn is_emergency_reason(reason: &str) -> bool {
    let trimmed = reason.trim_start();
    trimmed
        .get(..10)
        .is_some_and(|prefix| prefix.eq_ignore_ascii_case("emergency:"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emergency_prefix_in_any_case() {
        assert!(is_emergency_reason("EMERGENCY: db down"));
        assert!(is_emergency_reason("emergency: db down"));
        assert!(is_emergency_reason("  Emergency:x"));
        assert!(!is_emergency_reason("not an EMERGENCY: really"));
        assert!(!is_emergency_reason("EMERGENCY db down"));
        assert!(!is_emergency_reason("émergency: x"));
    }

    #[test]
    fn states_round_trip() {
        for state in State::ALL {
            assert_eq!(state.as_str().parse::<State>().unwrap(), state);
            assert_eq!(
                serde_json::to_string(&state).unwrap(),
                format!("\"{}\"", state.as_str())
            );
        }
        assert!("PENDING".parse::<State>().is_err());
    }
}
