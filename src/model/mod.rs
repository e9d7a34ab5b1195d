//! The shared vocabulary of countersign: requests, reviews, states, audit events and
//! findings. Pure data with serde; no I/O and no clock reads.

pub mod api;
pub mod certificate;
pub mod duration;
pub mod event;
mod event_canonical;
mod event_json;
pub mod finding;
pub mod request;
pub mod time;
pub mod user;

pub use certificate::{Certificate, CertificateSummary};
pub use duration::Duration;
pub use event::{AuditEvent, EventType};
pub use finding::{Finding, FindingKind, FindingReview, FindingSort, Severity};
pub use request::{
    Access, Decision, IncidentOutcome, Outcome, PostIncidentReview, Request, Review, State,
    Threshold, is_emergency_reason,
};
pub use user::User;

/// Times are always UTC.
pub type Time = chrono::DateTime<chrono::Utc>;
