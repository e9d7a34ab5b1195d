//! What every backend stores the same way: times as milliseconds, bodies as
//! JSON, a request's latest moment, a refusal's excerpt.

use super::{EventDraft, StoreError};
use crate::model::api::ErrorCode;
use crate::model::{Request, Time};

pub(super) fn millis(time: Time) -> i64 {
    time.timestamp_millis()
}

pub(super) fn from_millis(ms: i64) -> Result<Time, StoreError> {
    chrono::DateTime::from_timestamp_millis(ms)
        .ok_or_else(|| StoreError::Corrupt(format!("time {ms} out of range")))
}

pub(super) fn decode<T: serde::de::DeserializeOwned>(body: &str) -> Result<T, StoreError> {
    serde_json::from_str(body).map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub(super) fn encode<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// The latest moment anything happened to a request, for window scans.
pub(super) fn touched(request: &Request) -> Time {
    let mut t = request.created_at;
    for candidate in [
        request.resolved_at,
        request.access.as_ref().map(|a| a.ends_at),
        request.access.as_ref().and_then(|a| a.returned_at),
        request.post_incident_review.as_ref().map(|p| p.created_at),
    ]
    .into_iter()
    .flatten()
    {
        t = t.max(candidate);
    }
    t
}

/// Bytes of a refused attempt's reason kept in the log: enough to read what was
/// tried, not enough to fill the log with a flood of long texts.
pub const REFUSAL_EXCERPT_BYTES: usize = 256;

/// Cuts a refusal's reason to an excerpt, noting how long the original was.
/// The event that records a refused attempt on `request`: about the request as it
/// stood, its reason cut to an excerpt, and the refusal's code.
pub(super) fn refused(draft: EventDraft, request: &Request, code: ErrorCode) -> EventDraft {
    let mut draft = excerpt(draft.about(request));
    draft.fields.insert("error".into(), code.as_str().into());
    draft
}

pub(super) fn excerpt(mut draft: EventDraft) -> EventDraft {
    if let Some(reason) = &draft.reason
        && reason.len() > REFUSAL_EXCERPT_BYTES
    {
        let mut end = REFUSAL_EXCERPT_BYTES;
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        let full = reason.len();
        draft.reason = Some(format!("{}…", &reason[..end]));
        draft.fields.insert("reason_bytes".into(), full.into());
    }
    draft
}
