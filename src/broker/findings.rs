//! The weekly review over the store: stream the window's requests and events
//! through the analyzer without holding them, then apply the marks of past reviews.
//!
//! The store decodes on every core; each request is digested on the thread that
//! decoded it, and only adding the digests up is done one at a time.

use std::sync::Mutex;

use super::store::{EventQuery, EventSelector, Store, StoreError};
use crate::audit::{Analyzer, CompiledConfig, apply_reviews, reviews_from_events};
use crate::model::api::FindingsReport;
use crate::model::{Duration, EventType, Time};

/// Of the events, only refusals and overrides add anything: requests carry their
/// creation, reviews and the rest of their updates.
const EVENTS_READ: [EventSelector; 2] = [
    EventSelector::kind(EventType::ReviewRefused),
    EventSelector::action(EventType::Update, "override"),
];

pub fn report(
    store: &dyn Store,
    config: &CompiledConfig,
    window: Duration,
    now: Time,
) -> Result<FindingsReport, StoreError> {
    let start = now - window.to_chrono();
    let analyzer = Analyzer::new(config, start, now);
    let digester = analyzer.digester();
    let analyzer = Mutex::new(analyzer);
    let started = std::time::Instant::now();
    store.scan_requests_since(start, &|request| {
        let digest = digester.digest(&request);
        with(&analyzer, |analyzer| analyzer.add_digest(digest));
    })?;
    // An owed post-incident review stays owed however long ago access was granted.
    store.scan_owed_post_incident_reviews(&mut |request| {
        with(&analyzer, |analyzer| analyzer.add_request(&request));
    })?;
    let requests_read = started.elapsed();
    store.scan_events_since(start, Some(&EVENTS_READ), &|event| {
        with(&analyzer, |analyzer| analyzer.add_event(&event));
    })?;
    // Only a panic while adding poisons the lock, and that panic has come up
    // through the scan already.
    let analyzer = analyzer
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let events_read = started.elapsed();
    let mut report = analyzer.finish();
    // Marks from earlier weeks still count: the review resumes where it ended.
    let marks = store.events(&EventQuery {
        kind: Some(EventType::FindingReviewed),
        limit: 1_000_000,
        ..EventQuery::default()
    })?;
    apply_reviews(&mut report.findings, &reviews_from_events(&marks));
    tracing::debug!(
        requests_ms = requests_read.as_millis() as u64,
        events_ms = (events_read - requests_read).as_millis() as u64,
        rest_ms = (started.elapsed() - events_read).as_millis() as u64,
        findings = report.findings.len(),
        "weekly review"
    );
    Ok(report)
}

/// Runs `work` on the analyzer. A poisoned lock means another thread panicked
/// while adding; that panic ends the scan, so the rest is skipped.
fn with(analyzer: &Mutex<Analyzer>, work: impl FnOnce(&mut Analyzer)) {
    if let Ok(mut analyzer) = analyzer.lock() {
        work(&mut analyzer);
    }
}
