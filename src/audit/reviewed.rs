//! Marking findings as reviewed. The broker records each mark as an
//! `audit.finding_reviewed` event (user = who, time = when, fields `key` and `note`,
//! reason = the note); the marks are read back from those events.

use std::collections::{BTreeMap, HashMap};

use crate::model::api::MarkFindingReviewed;
use crate::model::{AuditEvent, EventType, Finding, FindingReview};

/// The request a finding's key names (`kind:request-id:reviewer`), if any: what
/// tells how far back the finding it names can lie.
pub fn key_request(key: &str) -> Option<uuid::Uuid> {
    let mut parts = key.splitn(3, ':');
    parts.next()?;
    uuid::Uuid::parse_str(parts.next()?).ok()
}

/// Why `user` may not mark `finding`: one does not sign off what is about oneself.
pub fn mark_refusal(finding: &Finding, user: &str) -> Option<&'static str> {
    if finding.user == user {
        Some("this finding is about your own request: someone else marks it reviewed")
    } else if finding.reviewer.as_deref() == Some(user) {
        Some("this finding is about your own review: someone else marks it reviewed")
    } else {
        None
    }
}

/// The type-specific fields of the `audit.finding_reviewed` event for a mark.
pub fn mark_fields(mark: &MarkFindingReviewed) -> BTreeMap<String, serde_json::Value> {
    BTreeMap::from([
        ("key".to_string(), mark.key.clone().into()),
        ("note".to_string(), mark.note.clone().into()),
    ])
}

/// The marks recorded in `audit.finding_reviewed` events, by finding key. Other
/// events are skipped; when a finding was marked twice, the later mark (by `seq`)
/// wins.
pub fn reviews_from_events<'a>(
    events: impl IntoIterator<Item = &'a AuditEvent>,
) -> HashMap<String, FindingReview> {
    let mut marks: HashMap<String, (u64, FindingReview)> = HashMap::new();
    for event in events {
        if event.kind != EventType::FindingReviewed {
            continue;
        }
        let Some(key) = event.field_str("key").filter(|key| !key.is_empty()) else {
            continue;
        };
        let note = event
            .field_str("note")
            .or(event.reason.as_deref())
            .unwrap_or_default();
        let review = FindingReview {
            by: event.user.clone(),
            note: note.to_string(),
            at: event.time,
        };
        match marks.get_mut(key) {
            Some(existing) if existing.0 > event.seq => {}
            Some(existing) => *existing = (event.seq, review),
            None => {
                marks.insert(key.to_string(), (event.seq, review));
            }
        }
    }
    marks
        .into_iter()
        .map(|(key, (_, review))| (key, review))
        .collect()
}

/// Sets `reviewed` on every finding that has a mark; leaves the others as they are.
pub fn apply_reviews(findings: &mut [Finding], reviews: &HashMap<String, FindingReview>) {
    if reviews.is_empty() {
        return;
    }
    for finding in findings {
        if let Some(review) = reviews.get(&finding.key()) {
            finding.reviewed = Some(review.clone());
        }
    }
}
