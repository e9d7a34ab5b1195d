//! The weekly review over a big store, as the broker runs it:
//!
//!   cargo bench --bench findings
//!
//! Populates a SQLite store (same durability as the broker) with 250,000 requests
//! and 1,000,000 audit events spread over a week, then times
//! `broker::findings::report` over the 168h window and reads the peak resident
//! memory of that step alone (Linux `clear_refs`, then `VmHWM`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use chrono::TimeDelta;
use countersign::broker::store::{EventDraft, EventSelector, SqliteStore, Store, Verdict};
use countersign::model::{Access, Decision, EventType, Request, Review, State, Threshold};

const REQUESTS: usize = 250_000;
const THREADS: usize = 64;
const USERS: [&str; 12] = [
    "angua",
    "ponder",
    "detritus",
    "cheery",
    "rincewind",
    "igor",
    "nobby",
    "colon",
    "dibbler",
    "otto",
    "susan",
    "ridcully",
];

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// CPU seconds this process has used, user and system, on all its threads.
fn cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 here.
    (ticks(11) + ticks(12)) / 100.0
}

fn populate(store: &SqliteStore, now: chrono::DateTime<chrono::Utc>) {
    let store = Arc::new(store);
    let week = TimeDelta::days(7).num_milliseconds();
    std::thread::scope(|scope| {
        for t in 0..THREADS {
            let store = store.clone();
            scope.spawn(move || {
                for i in (t..REQUESTS).step_by(THREADS) {
                    let created = now - TimeDelta::milliseconds(week)
                        + TimeDelta::milliseconds(week * i as i64 / REQUESTS as i64);
                    let user = USERS[i % USERS.len()];
                    let reason = if i % 5 == 0 {
                        "need to look at something".to_string()
                    } else {
                        format!("deploy for OPS-{i}")
                    };
                    let request = Request {
                        id: uuid::Uuid::now_v7(),
                        user: user.into(),
                        roles: vec!["production-access".into()],
                        granted_roles: vec!["production-access".into()],
                        state: State::Pending,
                        emergency: i % 97 == 0,
                        reason,
                        created_at: created,
                        pending_expires_at: created + TimeDelta::hours(24),
                        max_duration: None,
                        estimate: Some(countersign::model::Duration::from_mins(30)),
                        access: None,
                        thresholds: vec![Threshold::default()],
                        role_thresholds: BTreeMap::from([(
                            "production-access".into(),
                            vec![vec![0]],
                        )]),
                        reviews: Vec::new(),
                        resolved_at: None,
                        resolve_reason: None,
                        resolved_by: None,
                        suggested_reviewers: Vec::new(),
                        annotations: BTreeMap::new(),
                        requester_annotations: BTreeMap::new(),
                        request_prompt: None,
                        post_incident_review: None,
                    };
                    let id = request.id;
                    store
                        .create_request(request, EventDraft::new(EventType::Create, user, created))
                        .expect("create");
                    let approved_at =
                        created + TimeDelta::seconds(if i % 7 == 0 { 50 } else { 300 });
                    store
                        .mutate_request(
                            id,
                            Box::new(move |r| {
                                r.reviews.push(Review {
                                    author: "carrot".into(),
                                    decision: Decision::Approve,
                                    reason: "ok".into(),
                                    roles: Vec::new(),
                                    created_at: approved_at,
                                    threshold_indexes: vec![0],
                                });
                                r.state = State::Approved;
                                r.resolved_at = Some(approved_at);
                                r.access = Some(Access {
                                    starts_at: approved_at,
                                    ends_at: approved_at + TimeDelta::hours(4),
                                    returned_at: None,
                                });
                                Verdict::Commit(
                                    EventDraft::new(EventType::Review, "carrot", approved_at)
                                        .reason("ok")
                                        .field("decision", "approve"),
                                )
                            }),
                        )
                        .expect("review")
                        .expect("approved");
                    let back = approved_at + TimeDelta::minutes(if i % 11 == 0 { 90 } else { 25 });
                    store
                        .mutate_request(
                            id,
                            Box::new(move |r| {
                                r.state = State::Returned;
                                if let Some(a) = r.access.as_mut() {
                                    a.returned_at = Some(back);
                                }
                                Verdict::Commit(
                                    EventDraft::new(EventType::Update, user, back)
                                        .field("action", "return"),
                                )
                            }),
                        )
                        .expect("return")
                        .expect("returned");
                    let mut refused =
                        EventDraft::new(EventType::ReviewRefused, "adora-belle", back)
                            .reason("late")
                            .field("decision", "approve")
                            .field("error", "not_pending");
                    refused.request_id = Some(id);
                    store.append_event(refused).expect("refused");
                }
            });
        }
    });
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    // COUNTERSIGN_BENCH_DIR keeps the populated store between runs (it takes minutes
    // to build); its first run populates it.
    let kept = std::env::var_os("COUNTERSIGN_BENCH_DIR").map(std::path::PathBuf::from);
    let temp = tempfile::tempdir().expect("tempdir");
    let path = kept.clone().unwrap_or_else(|| temp.path().to_path_buf());
    let reuse = kept.is_some() && path.join("countersign.db").is_file();
    let store = SqliteStore::open(&path).expect("open");
    let stamp = path.join("populated-at");
    let now = match std::fs::read_to_string(&stamp)
        .ok()
        .and_then(|t| t.trim().parse::<chrono::DateTime<chrono::Utc>>().ok())
    {
        Some(t) if reuse => t,
        _ => chrono::Utc::now(),
    };
    let started = Instant::now();
    if !reuse {
        populate(&store, now);
        let _ = std::fs::write(&stamp, now.to_rfc3339());
    }
    let events = store.head_seq().expect("head");
    println!(
        "populated {REQUESTS} requests and {events} events in {:.1} s ({:.0} writes/s through the store)",
        started.elapsed().as_secs_f64(),
        events as f64 / started.elapsed().as_secs_f64()
    );
    let config = countersign::audit::AuditConfig::default()
        .compile()
        .expect("config");
    let since = now - TimeDelta::hours(168);
    let t = Instant::now();
    let n = AtomicUsize::new(0);
    store
        .scan_requests_since(since, &|_| {
            n.fetch_add(1, Ordering::Relaxed);
        })
        .expect("scan");
    println!(
        "  reading and decoding {} requests: {:.2} s",
        n.into_inner(),
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    let n = AtomicUsize::new(0);
    store
        .scan_events_since(
            since,
            Some(&[
                EventSelector::kind(EventType::ReviewRefused),
                EventSelector::action(EventType::Update, "override"),
            ]),
            &|_| {
                n.fetch_add(1, Ordering::Relaxed);
            },
        )
        .expect("scan");
    println!(
        "  reading and decoding {} refusals and overrides: {:.2} s",
        n.into_inner(),
        t.elapsed().as_secs_f64()
    );
    for run in 1..=3 {
        // Reset the peak so VmHWM measures this step only.
        let _ = std::fs::write("/proc/self/clear_refs", "5");
        let before = peak_rss_kib();
        let started = Instant::now();
        let cpu = cpu_secs();
        let report = countersign::broker::findings::report(
            &store,
            &config,
            countersign::model::Duration::from_hours(168),
            now + TimeDelta::seconds(1),
        )
        .expect("findings");
        let elapsed = started.elapsed().as_secs_f64();
        let cpu = cpu_secs() - cpu;
        let peak = peak_rss_kib();
        // What the API adds: writing the report as the response body.
        let written = Instant::now();
        let body = serde_json::to_vec(&report).expect("json");
        let written = written.elapsed().as_secs_f64();
        println!(
            "run {run}: findings over 168h ({REQUESTS} requests, {events} events): {:.2} s ({cpu:.2} s of CPU), {} findings, peak RSS {} MiB (was {} MiB before); as JSON {:.0} MB in {written:.2} s more",
            elapsed,
            report.findings.len(),
            peak.map(|k| k / 1024).unwrap_or(0),
            before.map(|k| k / 1024).unwrap_or(0),
            body.len() as f64 / 1e6,
        );
    }
}
