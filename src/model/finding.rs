//! Findings of the weekly audit review.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::Time;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    FastApproval,
    NoTicket,
    RepeatRequest,
    Overheld,
    EmergencyUnreviewed,
    RefusedReview,
    Override,
}

impl FindingKind {
    pub const ALL: [FindingKind; 7] = [
        FindingKind::FastApproval,
        FindingKind::NoTicket,
        FindingKind::RepeatRequest,
        FindingKind::Overheld,
        FindingKind::EmergencyUnreviewed,
        FindingKind::RefusedReview,
        FindingKind::Override,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::FastApproval => "fast_approval",
            FindingKind::NoTicket => "no_ticket",
            FindingKind::RepeatRequest => "repeat_request",
            FindingKind::Overheld => "overheld",
            FindingKind::EmergencyUnreviewed => "emergency_unreviewed",
            FindingKind::RefusedReview => "refused_review",
            FindingKind::Override => "override",
        }
    }
}

impl fmt::Display for FindingKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub kind: FindingKind,
    pub severity: Severity,
    pub request_id: Option<Uuid>,
    pub user: String,
    pub reviewer: Option<String>,
    #[serde(default)]
    pub roles: Vec<String>,
    /// A sentence a person can act on.
    pub detail: String,
    /// When the thing found happened.
    pub at: Time,
    /// Set once the security lead has marked it reviewed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reviewed: Option<FindingReview>,
}

impl Finding {
    /// A stable key for marking this finding reviewed across weeks.
    pub fn key(&self) -> String {
        format!(
            "{}:{}:{}",
            self.kind,
            self.request_id.map(|id| id.to_string()).unwrap_or_default(),
            self.reviewer.as_deref().unwrap_or("")
        )
    }

    /// A total order on what makes the key (kind, request, reviewer), without
    /// building it: for sorts that need a last tie-break.
    pub fn cmp_by_key(&self, other: &Finding) -> std::cmp::Ordering {
        fn reviewer(f: &Finding) -> &str {
            f.reviewer.as_deref().unwrap_or("")
        }
        self.kind
            .as_str()
            .cmp(other.kind.as_str())
            .then(self.request_id.cmp(&other.request_id))
            .then_with(|| reviewer(self).cmp(reviewer(other)))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingReview {
    pub by: String,
    pub note: String,
    pub at: Time,
}

/// An order of a findings list, the same on the broker (which pages in it) and in
/// the console (which sorts what it holds by it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FindingSort {
    /// Most severe first, then newest.
    #[default]
    Severity,
    /// Grouped by kind, the group with the most severe finding first; most severe
    /// first within a kind.
    Kind,
    /// By the user the finding is about.
    User,
    /// Newest first.
    Time,
}

impl FindingSort {
    pub fn next(self) -> FindingSort {
        match self {
            FindingSort::Severity => FindingSort::Kind,
            FindingSort::Kind => FindingSort::User,
            FindingSort::User => FindingSort::Time,
            FindingSort::Time => FindingSort::Severity,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            FindingSort::Severity => "severity",
            FindingSort::Kind => "kind",
            FindingSort::User => "user",
            FindingSort::Time => "time",
        }
    }

    /// Sorts `findings` in this order; ties end on the key, so the order is total.
    pub fn sort(self, findings: &mut [Finding]) {
        let mut worst = std::collections::BTreeMap::new();
        for finding in findings.iter() {
            let entry = worst.entry(finding.kind).or_insert(finding.severity);
            *entry = (*entry).max(finding.severity);
        }
        findings.sort_by(|a, b| {
            let severity = b.severity.cmp(&a.severity);
            let newest = b.at.cmp(&a.at);
            let first = match self {
                FindingSort::Severity => severity.then(newest),
                FindingSort::Kind => worst
                    .get(&b.kind)
                    .cmp(&worst.get(&a.kind))
                    .then(a.kind.cmp(&b.kind))
                    .then(severity)
                    .then(newest),
                FindingSort::User => a.user.cmp(&b.user).then(severity).then(newest),
                FindingSort::Time => newest.then(severity),
            };
            first.then_with(|| a.cmp_by_key(b))
        });
    }
}
