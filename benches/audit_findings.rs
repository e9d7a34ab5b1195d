//! The weekly review over a busy week, in memory: 250,000 requests and 1,000,000 audit
//! events streamed through the analyzer, as the broker will stream them from its
//! store. Requests and events are cycled through a small pool with fresh ids and
//! times, so the figure is the analyzer's, not the generator's or the allocator's.
//!
//! `cargo bench --bench audit_findings`

use std::collections::BTreeMap;
use std::hint::black_box;

use chrono::TimeDelta;
use countersign::audit::{Analyzer, AuditConfig, CompiledConfig};
use countersign::model::{
    Access, AuditEvent, Decision, Duration, EventType, Request, Review, State, Threshold, Time,
};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use uuid::Uuid;

const REQUESTS: u64 = 250_000;
const EVENTS: u64 = 1_000_000;
const POOL: usize = 4096;
const WEEK_SECS: i64 = 7 * 86_400;

/// A small deterministic generator: the same week every run.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn now() -> Time {
    Time::from_timestamp(1_795_262_400, 0).unwrap_or_default()
}

/// Offsets from creation, kept so each reuse of a pooled request can move in time.
struct Shape {
    review_secs: Vec<i64>,
    access: Option<(i64, i64, Option<i64>)>,
}

fn pooled_request(rng: &mut Lcg, i: usize) -> (Request, Shape) {
    let user = format!("user{}", rng.below(2000));
    let roles = vec![format!("role-{}", rng.below(20))];
    let emergency = rng.below(100) < 5;
    let reason = match (emergency, rng.below(10)) {
        (true, _) => "EMERGENCY: primary database down INC-4411".to_string(),
        (false, 0 | 1) => "checking the nightly batch again".to_string(),
        (false, _) => format!(
            "deploy fix for OPS-{}, see incident #{}",
            rng.below(9000),
            i
        ),
    };
    let approvals = 1 + rng.below(2) as usize;
    let review_secs: Vec<i64> = (0..approvals)
        .map(|_| 20 + rng.below(3 * 3600) as i64)
        .collect();
    let denied = rng.below(100) < 10;
    let last_review = review_secs.iter().copied().max().unwrap_or(60);
    let length = [3600, 4 * 3600, 8 * 3600][rng.below(3) as usize];
    let access = (!denied).then(|| {
        let returned = (rng.below(100) < 60).then(|| last_review + rng.below(length as u64) as i64);
        (last_review, last_review + length, returned)
    });
    let state = match (&access, denied) {
        (_, true) => State::Denied,
        (Some((_, _, Some(_))), _) => State::Returned,
        _ => State::Elapsed,
    };
    let overridden = rng.below(100) < 2;
    let request = Request {
        id: Uuid::nil(),
        user,
        roles: roles.clone(),
        granted_roles: if denied { vec![] } else { roles },
        state,
        reason,
        emergency,
        created_at: now(),
        pending_expires_at: now(),
        max_duration: Some(Duration::from_hours(8)),
        estimate: (rng.below(2) == 0).then(|| Duration::from_mins(30 + rng.below(180))),
        access: None,
        thresholds: vec![Threshold::default()],
        role_thresholds: BTreeMap::new(),
        reviews: (0..approvals)
            .map(|_| Review {
                author: format!("reviewer{}", rng.below(12)),
                decision: if denied {
                    Decision::Deny
                } else {
                    Decision::Approve
                },
                reason: "checked the ticket".into(),
                roles: vec![],
                created_at: now(),
                threshold_indexes: vec![0],
            })
            .collect(),
        resolved_at: None,
        resolve_reason: overridden.then(|| "no reviewer awake".to_string()),
        resolved_by: overridden.then(|| "vimes".to_string()),
        suggested_reviewers: vec![],
        annotations: BTreeMap::new(),
        requester_annotations: BTreeMap::new(),
        request_prompt: None,
        post_incident_review: None,
    };
    (
        request,
        Shape {
            review_secs,
            access,
        },
    )
}

/// Moves a pooled request to its place in the week.
fn place(request: &mut Request, shape: &Shape, n: u64) {
    let created =
        now() - TimeDelta::seconds(WEEK_SECS) + TimeDelta::milliseconds((n * 2419) as i64);
    let at = |secs: i64| created + TimeDelta::seconds(secs);
    request.id = Uuid::from_u128(u128::from(n) + 1);
    request.created_at = created;
    request.pending_expires_at = at(86_400);
    for (review, &secs) in request.reviews.iter_mut().zip(&shape.review_secs) {
        review.created_at = at(secs);
    }
    request.access = shape.access.map(|(start, end, returned)| Access {
        starts_at: at(start),
        ends_at: at(end),
        returned_at: returned.map(at),
    });
    request.resolved_at = shape.access.map(|(start, _, _)| at(start));
}

fn pooled_event(rng: &mut Lcg) -> AuditEvent {
    let kind = match rng.below(1000) {
        0..=4 => EventType::ReviewRefused,
        5..=14 => EventType::Update,
        15..=400 => EventType::Create,
        401..=800 => EventType::Review,
        _ => EventType::Expire,
    };
    let mut fields = BTreeMap::new();
    match kind {
        EventType::ReviewRefused => {
            let code = [
                "self_review",
                "already_reviewed",
                "not_pending",
                "forbidden",
            ][rng.below(4) as usize];
            fields.insert("error".to_string(), code.into());
        }
        EventType::Update => {
            let action = if rng.below(5) == 0 {
                "override"
            } else {
                "return"
            };
            fields.insert("action".to_string(), action.into());
        }
        EventType::Review => {
            fields.insert("decision".to_string(), "approve".into());
        }
        _ => {}
    }
    AuditEvent {
        seq: 0,
        id: Uuid::nil(),
        kind,
        code: kind.code().into(),
        time: now(),
        user: format!("user{}", rng.below(2000)),
        request_id: None,
        roles: vec![format!("role-{}", rng.below(20))],
        state: Some(State::Approved),
        reason: Some("deploy fix for OPS-12".into()),
        fields,
        hash: "0".repeat(64),
    }
}

fn week(
    config: &CompiledConfig,
    requests: &mut [(Request, Shape)],
    events: &mut [AuditEvent],
) -> usize {
    let start = now() - TimeDelta::seconds(WEEK_SECS);
    let mut analyzer = Analyzer::new(config, start, now());
    for n in 0..REQUESTS {
        let (request, shape) = &mut requests[n as usize % POOL];
        place(request, shape, n);
        analyzer.add_request(request);
    }
    for n in 0..EVENTS {
        let event = &mut events[n as usize % POOL];
        event.seq = n + 1;
        event.time = start + TimeDelta::milliseconds((n * 604) as i64);
        event.request_id = Some(Uuid::from_u128(u128::from(n / 4) + 1));
        analyzer.add_event(event);
    }
    let report = analyzer.finish();
    black_box(&report);
    report.findings.len()
}

fn bench(c: &mut Criterion) {
    let config = match AuditConfig::default().compile() {
        Ok(config) => config,
        Err(err) => panic!("default audit config: {err}"),
    };
    let mut rng = Lcg(47);
    let mut requests: Vec<(Request, Shape)> =
        (0..POOL).map(|i| pooled_request(&mut rng, i)).collect();
    let mut events: Vec<AuditEvent> = (0..POOL).map(|_| pooled_event(&mut rng)).collect();
    println!(
        "one busy week: {} findings from {REQUESTS} requests and {EVENTS} events",
        week(&config, &mut requests, &mut events)
    );

    let mut group = c.benchmark_group("audit_findings");
    group.sample_size(10);
    group.throughput(Throughput::Elements(REQUESTS + EVENTS));
    group.bench_function("week_250k_requests_1m_events", |b| {
        b.iter(|| week(&config, &mut requests, &mut events))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
