//! The weekly review over the store: stream the window's requests and events
//! through the analyzer without holding them, then apply the marks of past reviews.
//!
//! The store decodes on every core; each request is digested on the thread that
//! decoded it, and only adding the digests up is done one at a time.

use std::sync::Mutex;

use super::store::{EventQuery, EventSelector, Store, StoreError};
use crate::audit::{Analyzer, CompiledConfig, apply_reviews, reviews_from_events};
use crate::model::api::{FindingsReport, ReviewerSummary};
use crate::model::{Duration, EventType, Finding, Time};

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

/// Where a page of findings starts: the `next` a previous page gave, which names
/// how many findings came before it and the key of the last one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub index: usize,
    pub key: String,
}

impl Cursor {
    pub fn parse(raw: &str) -> Result<Cursor, String> {
        raw.split_once('/')
            .and_then(|(index, key)| Some((index.parse().ok()?, key)))
            .filter(|(_, key)| !key.is_empty())
            .map(|(index, key)| Cursor {
                index,
                key: key.to_string(),
            })
            .ok_or_else(|| format!("after: {raw:?} is not a cursor from a previous page"))
    }
}

impl std::fmt::Display for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.key)
    }
}

/// The findings of one page: after the cursor's finding (found by its key, so a
/// finding that appeared or went above it moves nothing), or, when that finding has
/// left the report, from the position it had. Returns the range and the next cursor.
pub fn page(
    findings: &[Finding],
    after: Option<&Cursor>,
    limit: usize,
) -> (std::ops::Range<usize>, Option<Cursor>) {
    let start = match after {
        None => 0,
        Some(cursor) => {
            let at_its_place = cursor
                .index
                .checked_sub(1)
                .and_then(|i| findings.get(i))
                .is_some_and(|f| f.key() == cursor.key);
            if at_its_place {
                cursor.index
            } else {
                findings
                    .iter()
                    .position(|f| f.key() == cursor.key)
                    .map_or(cursor.index, |i| i + 1)
            }
        }
    }
    .min(findings.len());
    let end = start.saturating_add(limit).min(findings.len());
    let next = (end < findings.len() && end > start).then(|| Cursor {
        index: end,
        key: findings[end - 1].key(),
    });
    (start..end, next)
}

/// A finding as the API writes it: its fields and the key `audit mark` takes.
#[derive(serde::Serialize)]
struct Keyed<'a> {
    #[serde(flatten)]
    finding: &'a Finding,
    key: String,
}

/// `GET /v1/audit/findings`'s body: one page of the report, with what a front end
/// needs beside it.
#[derive(serde::Serialize)]
pub struct Page<'a> {
    findings: Vec<Keyed<'a>>,
    window: Duration,
    reviewers: &'a [ReviewerSummary],
    ticket_patterns: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    repeat_threshold: Option<u32>,
    next: Option<String>,
    total: usize,
}

impl<'a> Page<'a> {
    pub fn of(report: &'a FindingsReport, after: Option<&Cursor>, limit: Option<usize>) -> Self {
        let (range, next) = match limit {
            Some(limit) => page(&report.findings, after, limit),
            None => (0..report.findings.len(), None),
        };
        Page {
            findings: report.findings[range]
                .iter()
                .map(|finding| Keyed {
                    finding,
                    key: finding.key(),
                })
                .collect(),
            window: report.window,
            reviewers: &report.reviewers,
            ticket_patterns: &report.ticket_patterns,
            repeat_threshold: report.repeat_threshold,
            next: next.map(|c| c.to_string()),
            total: report.findings.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{FindingKind, Severity};

    fn finding(n: u128) -> Finding {
        Finding {
            kind: FindingKind::NoTicket,
            severity: Severity::Low,
            request_id: Some(uuid::Uuid::from_u128(n)),
            user: "vimes".into(),
            reviewer: None,
            roles: Vec::new(),
            detail: String::new(),
            at: chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default(),
            reviewed: None,
        }
    }

    fn keys(findings: &[Finding], range: std::ops::Range<usize>) -> Vec<String> {
        findings[range].iter().map(Finding::key).collect()
    }

    #[test]
    fn pages_follow_each_other_and_the_last_has_no_cursor() {
        let findings: Vec<Finding> = (1..=5).map(finding).collect();
        let (first, next) = page(&findings, None, 2);
        assert_eq!(first, 0..2);
        let next = next.expect("a second page");
        assert_eq!(next, Cursor::parse(&next.to_string()).unwrap());
        let (second, next) = page(&findings, Some(&next), 2);
        assert_eq!(second, 2..4);
        let (third, next) = page(&findings, next.as_ref(), 2);
        assert_eq!(third, 4..5);
        assert_eq!(next, None);
    }

    #[test]
    fn a_page_starts_after_its_finding_when_others_came_or_went_above() {
        let mut findings: Vec<Finding> = (1..=6).map(finding).collect();
        let (_, next) = page(&findings, None, 3);
        let next = next.unwrap();
        // One finding above the cursor's left: the next page still starts at 4.
        findings.remove(0);
        let (range, _) = page(&findings, Some(&next), 3);
        assert_eq!(
            keys(&findings, range),
            keys(&(4..=6).map(finding).collect::<Vec<_>>(), 0..3)
        );
        // The cursor's own finding left: from the place it had.
        findings.retain(|f| f.key() != next.key);
        let (range, _) = page(&findings, Some(&next), 3);
        assert_eq!(range, 3..4);
    }

    #[test]
    fn cursors_that_are_not_ours_are_refused() {
        for raw in ["", "3", "x/no_ticket:a:", "4/", "-1/k"] {
            assert!(Cursor::parse(raw).is_err(), "{raw:?}");
        }
        assert_eq!(Cursor::parse("7/a/b").unwrap().key, "a/b");
    }
}
