//! Audit events: the append-only, hash-chained record of everything that happened.
//! Types and codes follow Teleport's so existing SIEM pipelines understand them.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{State, Time};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum EventType {
    #[serde(rename = "access_request.create")]
    Create,
    /// Withdraw, return, elapse and override.
    #[serde(rename = "access_request.update")]
    Update,
    #[serde(rename = "access_request.review")]
    Review,
    #[serde(rename = "access_request.expire")]
    Expire,
    #[serde(rename = "access_request.review_refused")]
    ReviewRefused,
    #[serde(rename = "access_request.post_incident_review")]
    PostIncidentReview,
    /// A finding marked as reviewed by the security lead.
    #[serde(rename = "audit.finding_reviewed")]
    FindingReviewed,
    /// An SSH certificate issued for an approved request (Teleport's `cert.create`).
    #[serde(rename = "cert.create")]
    CertCreate,
    /// A user added by `admin users add` (Teleport's `user.create`).
    #[serde(rename = "user.create")]
    UserCreate,
    /// A user's roles, traits or token changed (Teleport's `user.update`).
    #[serde(rename = "user.update")]
    UserUpdate,
    /// A user removed (Teleport's `user.delete`).
    #[serde(rename = "user.delete")]
    UserDelete,
}

impl EventType {
    pub const ALL: [EventType; 11] = [
        EventType::Create,
        EventType::Update,
        EventType::Review,
        EventType::Expire,
        EventType::ReviewRefused,
        EventType::PostIncidentReview,
        EventType::FindingReviewed,
        EventType::CertCreate,
        EventType::UserCreate,
        EventType::UserUpdate,
        EventType::UserDelete,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Create => "access_request.create",
            EventType::Update => "access_request.update",
            EventType::Review => "access_request.review",
            EventType::Expire => "access_request.expire",
            EventType::ReviewRefused => "access_request.review_refused",
            EventType::PostIncidentReview => "access_request.post_incident_review",
            EventType::FindingReviewed => "audit.finding_reviewed",
            EventType::CertCreate => "cert.create",
            EventType::UserCreate => "user.create",
            EventType::UserUpdate => "user.update",
            EventType::UserDelete => "user.delete",
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            EventType::Create => "T5000I",
            EventType::Update => "T5001I",
            EventType::Review => "T5002I",
            EventType::Expire => "T5005I",
            EventType::ReviewRefused => "T5002W",
            EventType::PostIncidentReview => "T5010I",
            EventType::FindingReviewed => "T5011I",
            EventType::CertCreate => "TC000I",
            EventType::UserCreate => "T1002I",
            EventType::UserUpdate => "T1003I",
            EventType::UserDelete => "T1004I",
        }
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EventType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EventType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| format!("unknown event type {s:?}"))
    }
}

/// One entry of the audit log. `fields` holds the type-specific extras (for a
/// review: `decision`; for an update: `action`; for a refusal: `error`, ...).
/// Read from JSON by hand (see `event_json`), written by serde.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEvent {
    pub seq: u64,
    pub id: Uuid,
    #[serde(rename = "type")]
    pub kind: EventType,
    pub code: String,
    pub time: Time,
    /// The actor.
    pub user: String,
    pub request_id: Option<Uuid>,
    #[serde(default)]
    pub roles: Vec<String>,
    /// The request's state after the event.
    pub state: Option<State>,
    pub reason: Option<String>,
    #[serde(flatten)]
    pub fields: BTreeMap<String, serde_json::Value>,
    /// sha256(prev_hash ‖ canonical JSON of the event without its hash), hex.
    #[serde(default)]
    pub hash: String,
}

/// The hash that precedes the first event.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

impl AuditEvent {
    /// The event as canonical JSON: keys sorted at every level, no whitespace, and
    /// without its own `hash` (see `event_canonical`).
    pub fn canonical_json(&self) -> String {
        let mut out = Vec::new();
        self.write_canonical_json(&mut out);
        // serde_json writes only UTF-8; the fallback is never taken.
        String::from_utf8(out)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
    }

    pub fn field_str(&self, key: &str) -> Option<&str> {
        self.fields.get(key).and_then(|v| v.as_str())
    }
}

/// The result of recomputing the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainReport {
    pub ok: bool,
    pub events: u64,
    pub head: String,
    /// The first event whose stored hash does not match, and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub broken_at: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// Walks events in order and checks each link. Pure: the caller streams events in.
#[derive(Debug, Clone)]
pub struct ChainVerifier {
    prev_hash: String,
    expected_seq: u64,
    events: u64,
    broken: Option<(u64, String)>,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        ChainVerifier {
            prev_hash: GENESIS_HASH.to_string(),
            expected_seq: 1,
            events: 0,
            broken: None,
        }
    }
}

impl ChainVerifier {
    pub fn push(&mut self, event: &AuditEvent) {
        self.events += 1;
        if self.broken.is_some() {
            return;
        }
        if event.seq != self.expected_seq {
            self.broken = Some((
                event.seq,
                format!("expected seq {} but found {}", self.expected_seq, event.seq),
            ));
            return;
        }
        let expected = event.chain_hash(&self.prev_hash);
        if expected != event.hash {
            self.broken = Some((
                event.seq,
                format!(
                    "stored hash {} does not match recomputed {}",
                    short(&event.hash),
                    short(&expected)
                ),
            ));
            return;
        }
        self.prev_hash = event.hash.clone();
        self.expected_seq += 1;
    }

    /// An event whose stored form could not even be read breaks the chain there.
    pub fn push_unreadable(&mut self, seq: u64, why: &str) {
        self.events += 1;
        if self.broken.is_none() {
            self.broken = Some((seq, format!("event cannot be read: {why}")));
        }
    }

    pub fn finish(self) -> ChainReport {
        match self.broken {
            None => ChainReport {
                ok: true,
                events: self.events,
                head: self.prev_hash,
                broken_at: None,
                problem: None,
            },
            Some((seq, problem)) => ChainReport {
                ok: false,
                events: self.events,
                head: self.prev_hash,
                broken_at: Some(seq),
                problem: Some(problem),
            },
        }
    }
}

fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(seq: u64) -> AuditEvent {
        AuditEvent {
            seq,
            id: Uuid::nil(),
            kind: EventType::Create,
            code: EventType::Create.code().into(),
            time: chrono::DateTime::from_timestamp(1_700_000_000 + seq as i64, 0).unwrap(),
            user: "alice".into(),
            request_id: None,
            roles: vec!["dba".into()],
            state: Some(State::Pending),
            reason: Some("ticket #1".into()),
            fields: BTreeMap::from([("b".into(), 1.into()), ("a".into(), "x".into())]),
            hash: String::new(),
        }
    }

    fn chain(n: u64) -> Vec<AuditEvent> {
        let mut prev = GENESIS_HASH.to_string();
        (1..=n)
            .map(|seq| {
                let mut e = event(seq);
                e.hash = e.chain_hash(&prev);
                prev = e.hash.clone();
                e
            })
            .collect()
    }

    #[test]
    fn canonical_json_sorts_keys_and_drops_hash() {
        let json = event(1).canonical_json();
        assert!(
            json.starts_with("{\"a\":\"x\",\"b\":1,\"code\":\"T5000I\""),
            "{json}"
        );
        assert!(!json.contains("\"hash\""));
    }

    #[test]
    fn intact_chain_verifies() {
        let mut v = ChainVerifier::default();
        for e in chain(5) {
            v.push(&e);
        }
        let report = v.finish();
        assert!(report.ok);
        assert_eq!(report.events, 5);
    }

    #[test]
    fn tampered_reason_names_first_broken_link() {
        let mut events = chain(5);
        events[2].reason = Some("edited".into());
        let mut v = ChainVerifier::default();
        for e in &events {
            v.push(e);
        }
        let report = v.finish();
        assert!(!report.ok);
        assert_eq!(report.broken_at, Some(3));
    }

    #[test]
    fn deleted_event_is_a_gap() {
        let mut events = chain(4);
        events.remove(1);
        let mut v = ChainVerifier::default();
        for e in &events {
            v.push(e);
        }
        assert_eq!(v.finish().broken_at, Some(3));
    }
}
