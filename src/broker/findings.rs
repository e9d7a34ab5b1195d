//! The weekly review over the store: stream the window's requests and events
//! through the analyzer without holding them, then apply the marks of past reviews.

use super::store::{EventQuery, Store, StoreError};
use crate::audit::{Analyzer, CompiledConfig, apply_reviews, reviews_from_events};
use crate::model::api::FindingsReport;
use crate::model::{Duration, EventType, Time};

pub fn report(
    store: &dyn Store,
    config: &CompiledConfig,
    window: Duration,
    now: Time,
) -> Result<FindingsReport, StoreError> {
    let start = now - window.to_chrono();
    let mut analyzer = Analyzer::new(config, start, now);
    store.scan_requests_since(start, &mut |r| analyzer.add_request(&r))?;
    // An owed post-incident review stays owed however long ago access was granted.
    store.scan_owed_post_incident_reviews(&mut |r| analyzer.add_request(&r))?;
    // Requests carry creation, reviews and overrides; of the events only refusals and
    // overrides add anything.
    store.scan_events_since(
        start,
        Some(&[EventType::ReviewRefused, EventType::Update]),
        &mut |e| analyzer.add_event(&e),
    )?;
    let mut report = analyzer.finish();
    // Marks from earlier weeks still count: the review resumes where it ended.
    let marks = store.events(&EventQuery {
        kind: Some(EventType::FindingReviewed),
        limit: 1_000_000,
        ..EventQuery::default()
    })?;
    apply_reviews(&mut report.findings, &reviews_from_events(&marks));
    Ok(report)
}
