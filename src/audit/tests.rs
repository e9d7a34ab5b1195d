//! The heuristics at their edges, fed through the analyzer as the broker will.

use std::collections::{BTreeMap, HashMap};

use chrono::TimeDelta;
use uuid::Uuid;

use super::*;
use crate::model::api::FindingsReport;
use crate::model::{
    Access, AuditEvent, Decision, Duration, EventType, Finding, FindingKind, FindingReview,
    IncidentOutcome, PostIncidentReview, Request, Review, Severity, State, Time,
};

/// The end of every test window: Saturday 2026-11-21 12:00 UTC.
pub fn now() -> Time {
    Time::from_timestamp(1_795_262_400, 0).unwrap_or_default()
}

pub fn ago(secs: i64) -> Time {
    now() - TimeDelta::seconds(secs)
}

pub fn after(t: Time, secs: i64) -> Time {
    t + TimeDelta::seconds(secs)
}

const HOUR: i64 = 3600;
const DAY: i64 = 86_400;

/// A pending request by alice for production-access with a ticket, a day old.
pub fn request(id: u128) -> Request {
    let created_at = ago(DAY);
    Request {
        id: Uuid::from_u128(id),
        user: "alice".into(),
        roles: vec!["production-access".into()],
        granted_roles: vec![],
        state: State::Pending,
        reason: "error spike, see incident #47".into(),
        emergency: false,
        created_at,
        pending_expires_at: after(created_at, DAY),
        max_duration: None,
        estimate: None,
        access: None,
        thresholds: vec![Default::default()],
        role_thresholds: BTreeMap::new(),
        reviews: vec![],
        resolved_at: None,
        resolve_reason: None,
        resolved_by: None,
        suggested_reviewers: vec![],
        annotations: BTreeMap::new(),
        requester_annotations: BTreeMap::new(),
        request_prompt: None,
        post_incident_review: None,
    }
}

pub fn review(by: &str, decision: Decision, at: Time) -> Review {
    Review {
        author: by.into(),
        decision,
        reason: "looks right".into(),
        roles: vec![],
        created_at: at,
        threshold_indexes: vec![0],
    }
}

/// Approved by `by` at `at`, with an access window of `length_secs` from then.
pub fn approved(mut r: Request, by: &str, at: Time, length_secs: i64) -> Request {
    r.reviews.push(review(by, Decision::Approve, at));
    r.state = State::Approved;
    r.granted_roles = r.roles.clone();
    r.resolved_at = Some(at);
    r.access = Some(Access {
        starts_at: at,
        ends_at: after(at, length_secs),
        returned_at: None,
    });
    r
}

pub fn event(seq: u64, kind: EventType, user: &str, request: Option<u128>, at: Time) -> AuditEvent {
    AuditEvent {
        seq,
        id: Uuid::from_u128(u128::from(seq) + 1_000_000),
        kind,
        code: kind.code().into(),
        time: at,
        user: user.into(),
        request_id: request.map(Uuid::from_u128),
        roles: vec!["production-access".into()],
        state: None,
        reason: None,
        fields: BTreeMap::new(),
        hash: String::new(),
    }
}

fn with_field(mut e: AuditEvent, key: &str, value: &str) -> AuditEvent {
    e.fields.insert(key.into(), value.into());
    e
}

fn run(requests: &[Request], events: &[AuditEvent]) -> FindingsReport {
    let config = CompiledConfig::default();
    analyze(&config, ago(168 * HOUR), now(), requests, events)
}

fn of_kind(report: &FindingsReport, kind: FindingKind) -> Vec<&Finding> {
    report.findings.iter().filter(|f| f.kind == kind).collect()
}

#[test]
fn fast_approval_fires_strictly_under_two_minutes() {
    for (secs, fires) in [(0, true), (119, true), (120, false), (121, false)] {
        let r = request(1);
        let r = approved(r.clone(), "carrot", after(r.created_at, secs), HOUR);
        let report = run(&[r], &[]);
        let found = of_kind(&report, FindingKind::FastApproval);
        assert_eq!(found.len(), usize::from(fires), "approved after {secs}s");
        if fires {
            assert_eq!(found[0].reviewer.as_deref(), Some("carrot"));
            assert_eq!(found[0].severity, Severity::Medium);
            assert_eq!(found[0].user, "alice");
        }
    }
}

#[test]
fn fast_approval_detail_says_who_and_how_fast() {
    let r = request(1);
    let r = approved(r.clone(), "carrot", after(r.created_at, 48), HOUR);
    let report = run(&[r], &[]);
    let found = of_kind(&report, FindingKind::FastApproval);
    assert_eq!(
        found[0].detail,
        "approved by carrot 48s after it was asked for"
    );
}

#[test]
fn fast_approval_is_per_approving_reviewer() {
    let mut r = request(1);
    let created = r.created_at;
    r.reviews = vec![
        review("carrot", Decision::Approve, after(created, 30)),
        review("adora", Decision::Approve, after(created, 60)),
        review("vimes", Decision::Deny, after(created, 10)),
        review("angua", Decision::Approve, after(created, 600)),
    ];
    let report = run(&[r], &[]);
    let mut reviewers: Vec<_> = of_kind(&report, FindingKind::FastApproval)
        .iter()
        .filter_map(|f| f.reviewer.clone())
        .collect();
    reviewers.sort();
    assert_eq!(reviewers, ["adora", "carrot"]);
}

#[test]
fn fast_emergency_approval_is_low() {
    let mut r = request(1);
    r.emergency = true;
    r.reason = "EMERGENCY: db down INC-4".into();
    let r = approved(r.clone(), "carrot", after(r.created_at, 30), HOUR);
    let report = run(&[r], &[]);
    let found = of_kind(&report, FindingKind::FastApproval);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].severity, Severity::Low);
}

#[test]
fn quick_override_is_a_fast_approval_and_an_override() {
    let mut r = request(1);
    r.state = State::Approved;
    r.resolved_by = Some("vimes".into());
    r.resolved_at = Some(after(r.created_at, 45));
    r.resolve_reason = Some("db down, no reviewer awake".into());
    r.access = Some(Access {
        starts_at: after(r.created_at, 45),
        ends_at: after(r.created_at, 45 + HOUR),
        returned_at: None,
    });
    r.granted_roles = r.roles.clone();
    let report = run(&[r], &[]);
    let fast = of_kind(&report, FindingKind::FastApproval);
    assert_eq!(fast.len(), 1);
    assert_eq!(fast[0].reviewer.as_deref(), Some("vimes"));
    assert_eq!(
        fast[0].detail,
        "approved by vimes (override) 45s after it was asked for"
    );
    let over = of_kind(&report, FindingKind::Override);
    assert_eq!(over.len(), 1);
    assert_eq!(over[0].severity, Severity::High);
    assert_eq!(over[0].user, "alice");
    assert_eq!(
        over[0].detail,
        "vimes approved production-access by override instead of reviews, saying \"db down, no reviewer awake\": confirm it was needed"
    );
    assert_eq!(report.reviewers.len(), 1);
    assert_eq!(report.reviewers[0].approvals_under_two_minutes, 1);
}

#[test]
fn approving_then_overriding_is_one_fast_approval_per_reviewer() {
    // vimes approves at 30s (the request needs two approvals), then overrides at 50s;
    // angua approves at 40s.
    let mut r = request(1);
    r.reviews
        .push(review("vimes", Decision::Approve, after(r.created_at, 30)));
    r.reviews
        .push(review("angua", Decision::Approve, after(r.created_at, 40)));
    r.state = State::Approved;
    r.resolved_by = Some("vimes".into());
    r.resolved_at = Some(after(r.created_at, 50));
    r.granted_roles = r.roles.clone();
    let report = run(&[r.clone(), r], &[]);
    let mut fast: Vec<(&str, &str)> = of_kind(&report, FindingKind::FastApproval)
        .iter()
        .map(|f| (f.reviewer.as_deref().unwrap_or(""), f.detail.as_str()))
        .collect();
    fast.sort();
    assert_eq!(
        fast,
        vec![
            ("angua", "approved by angua 40s after it was asked for"),
            ("vimes", "approved by vimes 30s after it was asked for"),
        ]
    );
    let keys: std::collections::HashSet<String> =
        report.findings.iter().map(Finding::key).collect();
    assert_eq!(keys.len(), report.findings.len(), "one finding per key");
}

#[test]
fn no_ticket_checks_the_reason_against_the_patterns() {
    let cases = [
        ("error spike, see incident #47", false),
        ("INC-123: queue stuck", false),
        ("per OPS-9", false),
        ("need to look at something", true),
        ("EMERGENCY: db down", true),
        ("EMERGENCY: db down, INC-77", false),
    ];
    for (reason, fires) in cases {
        let mut r = request(1);
        r.reason = reason.into();
        r.emergency = crate::model::is_emergency_reason(reason);
        let report = run(&[r], &[]);
        let found = of_kind(&report, FindingKind::NoTicket);
        assert_eq!(found.len(), usize::from(fires), "{reason}");
        if fires {
            assert_eq!(found[0].severity, Severity::Low);
            assert!(
                found[0].detail.contains(&format!("\"{reason}\"")),
                "{}",
                found[0].detail
            );
        }
    }
}

#[test]
fn no_ticket_uses_configured_patterns() {
    let config = AuditConfig {
        ticket_patterns: vec![r"JIRA-\d+".into()],
        ..AuditConfig::default()
    }
    .compile()
    .unwrap();
    let mut r = request(1);
    r.reason = "incident #47".into();
    let report = analyze(&config, ago(168 * HOUR), now(), [&r], []);
    assert_eq!(of_kind(&report, FindingKind::NoTicket).len(), 1);
    r.reason = "JIRA-5".into();
    let report = analyze(&config, ago(168 * HOUR), now(), [&r], []);
    assert_eq!(of_kind(&report, FindingKind::NoTicket).len(), 0);
}

#[test]
fn repeat_request_fires_at_three_in_the_window() {
    for (count, fires) in [(2, false), (3, true), (4, true)] {
        let requests: Vec<Request> = (0..count)
            .map(|i| {
                let mut r = request(i as u128 + 1);
                r.created_at = ago(DAY * (i + 1));
                r
            })
            .collect();
        let report = run(&requests, &[]);
        let found = of_kind(&report, FindingKind::RepeatRequest);
        assert_eq!(found.len(), usize::from(fires), "{count} requests");
        if fires {
            // The newest is request 1, a day old.
            assert_eq!(found[0].request_id, Some(Uuid::from_u128(1)));
            assert_eq!(found[0].user, "alice");
            assert_eq!(found[0].roles, ["production-access"]);
            assert_eq!(
                found[0].detail,
                format!(
                    "asked for production-access {count} times this week: make it permanent, or ask why"
                )
            );
        }
    }
}

#[test]
fn repeat_request_counts_only_the_window_and_each_request_once() {
    let mut old = request(1);
    old.created_at = ago(8 * DAY);
    let a = request(2);
    let mut b = request(3);
    b.created_at = ago(2 * DAY);
    // Fed twice (created in the window and resolved in it): still one request.
    let report = run(&[old, a.clone(), b, a], &[]);
    assert!(of_kind(&report, FindingKind::RepeatRequest).is_empty());
}

#[test]
fn repeat_request_is_per_user_and_role() {
    let mut requests = vec![];
    for i in 0..3u128 {
        let mut mine = request(i + 1);
        mine.created_at = ago(HOUR * (i as i64 + 1));
        mine.roles = vec!["production-access".into(), "db-access".into()];
        requests.push(mine);
        let mut theirs = request(i + 10);
        theirs.user = "bob".into();
        theirs.roles = if i == 0 {
            vec!["db-access".into()]
        } else {
            vec!["production-access".into()]
        };
        requests.push(theirs);
    }
    let report = run(&requests, &[]);
    let found = of_kind(&report, FindingKind::RepeatRequest);
    // alice's two roles share their latest request, so one finding names both.
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].user, "alice");
    assert_eq!(found[0].roles, ["db-access", "production-access"]);
    assert_eq!(
        found[0].detail,
        "asked for db-access 3 times and production-access 3 times this week: make them permanent, or ask why"
    );
}

#[test]
fn overheld_against_an_estimate_allows_the_margin_exactly() {
    let cases = [
        (75 * 60 - 1, false),
        (75 * 60, false),
        (75 * 60 + 1, true),
        (3 * HOUR + 600, true),
    ];
    for (held, fires) in cases {
        let mut r = request(1);
        r.estimate = Some(Duration::from_hours(1));
        let start = after(r.created_at, 600);
        let mut r = approved(r, "carrot", start, 4 * HOUR);
        r.state = State::Returned;
        if let Some(access) = r.access.as_mut() {
            access.returned_at = Some(after(start, held));
        }
        let report = run(&[r], &[]);
        let found = of_kind(&report, FindingKind::Overheld);
        assert_eq!(found.len(), usize::from(fires), "held {held}s");
        if held == 3 * HOUR + 600 {
            assert_eq!(
                found[0].detail,
                "held production-access 3h10m against an estimate of 1h (+25% allows 1h15m)"
            );
            assert_eq!(found[0].severity, Severity::Medium);
        }
    }
}

#[test]
fn overheld_while_still_held() {
    let mut r = request(1);
    r.estimate = Some(Duration::from_mins(30));
    let r = approved(r, "carrot", ago(2 * HOUR), 4 * HOUR);
    let report = run(&[r], &[]);
    let found = of_kind(&report, FindingKind::Overheld);
    assert_eq!(found.len(), 1);
    assert_eq!(
        found[0].detail,
        "has held production-access 2h so far against an estimate of 30m (+25% allows 37m30s)"
    );
    assert_eq!(found[0].at, now());
}

#[test]
fn overheld_without_estimate_needs_the_whole_long_window() {
    enum Ending {
        ReturnedBefore(i64),
        ReturnedAtEnd,
        Elapsed,
        ApprovedPastEnd,
    }
    let cases = [
        (4 * HOUR, Ending::ReturnedBefore(1), false),
        (4 * HOUR, Ending::ReturnedAtEnd, true),
        (4 * HOUR, Ending::Elapsed, true),
        (4 * HOUR, Ending::ApprovedPastEnd, true),
        (4 * HOUR - 1, Ending::Elapsed, false),
        (8 * HOUR, Ending::ReturnedBefore(1), false),
    ];
    for (length, end, fires) in cases {
        let r = request(1);
        let start = after(r.created_at, 600);
        let mut r = approved(r, "carrot", start, length);
        let ends_at = after(start, length);
        match end {
            Ending::ReturnedBefore(secs) => {
                r.state = State::Returned;
                r.access.as_mut().unwrap().returned_at = Some(after(ends_at, -secs));
            }
            Ending::ReturnedAtEnd => {
                r.state = State::Returned;
                r.access.as_mut().unwrap().returned_at = Some(ends_at);
            }
            Ending::Elapsed => r.state = State::Elapsed,
            Ending::ApprovedPastEnd => {}
        }
        let report = run(&[r], &[]);
        let found = of_kind(&report, FindingKind::Overheld);
        assert_eq!(found.len(), usize::from(fires), "window {length}s");
        if fires && length == 4 * HOUR {
            assert_eq!(
                found[0].detail,
                "held production-access for all of its 4h window without returning it and gave no estimate: ask whether it was needed that long"
            );
            assert_eq!(found[0].at, ends_at);
        }
    }
}

#[test]
fn overheld_counts_in_the_window_where_holding_ended() {
    let mut r = request(1);
    r.created_at = ago(9 * DAY);
    let r = approved(r, "carrot", ago(9 * DAY - 600), 4 * HOUR);
    let mut r = r;
    r.state = State::Elapsed;
    let report = run(&[r], &[]);
    assert!(of_kind(&report, FindingKind::Overheld).is_empty());
}

#[test]
fn emergency_review_is_due_after_72_hours() {
    let cases = [
        (72 * HOUR - 1, false),
        (72 * HOUR, true),
        (72 * HOUR + 1, true),
        (10 * DAY, true),
    ];
    for (since_approval, fires) in cases {
        let mut r = request(1);
        r.emergency = true;
        r.reason = "EMERGENCY: db down INC-9".into();
        r.created_at = ago(since_approval + 60);
        let mut r = approved(r, "carrot", ago(since_approval), HOUR);
        r.state = State::Elapsed;
        let report = run(&[r.clone()], &[]);
        let found = of_kind(&report, FindingKind::EmergencyUnreviewed);
        assert_eq!(
            found.len(),
            usize::from(fires),
            "{since_approval}s after approval"
        );
        if fires {
            assert_eq!(found[0].severity, Severity::High);
            assert_eq!(found[0].at, after(ago(since_approval), 72 * HOUR));
        }
        if since_approval == 72 * HOUR + 1 {
            assert_eq!(
                found[0].detail,
                "emergency access to production-access approved 3d ago has no post-incident review: a reviewer other than alice should record one"
            );
        }
        // Once reviewed, nothing is owed.
        r.post_incident_review = Some(PostIncidentReview {
            author: "carrot".into(),
            outcome: IncidentOutcome::Justified,
            notes: "db was down".into(),
            created_at: now(),
        });
        let report = run(&[r], &[]);
        assert!(of_kind(&report, FindingKind::EmergencyUnreviewed).is_empty());
    }
}

#[test]
fn emergency_unreviewed_needs_an_emergency_that_was_approved() {
    let mut denied = request(1);
    denied.emergency = true;
    denied.created_at = ago(5 * DAY);
    denied.state = State::Denied;
    denied.resolved_at = Some(ago(5 * DAY - 60));
    let plain = approved(request(2), "carrot", ago(5 * DAY), HOUR);
    let report = run(&[denied, plain], &[]);
    assert!(of_kind(&report, FindingKind::EmergencyUnreviewed).is_empty());
}

#[test]
fn refused_reviews_by_code() {
    let cases = [
        (
            "self_review",
            Severity::High,
            "alice tried to approve or deny their own request",
        ),
        (
            "forbidden",
            Severity::Medium,
            "alice tried to review a request their roles may not review",
        ),
        (
            "already_reviewed",
            Severity::Low,
            "alice tried to review a request a second time",
        ),
        (
            "not_pending",
            Severity::Low,
            "alice tried to review a request that was no longer pending",
        ),
        (
            "weird",
            Severity::Medium,
            "alice's review was refused (weird)",
        ),
    ];
    for (code, severity, detail) in cases {
        let refused = with_field(
            event(2, EventType::ReviewRefused, "alice", Some(1), ago(HOUR)),
            "error",
            code,
        );
        let report = run(&[], &[refused]);
        let found = of_kind(&report, FindingKind::RefusedReview);
        assert_eq!(found.len(), 1, "{code}");
        assert_eq!(found[0].severity, severity, "{code}");
        assert_eq!(found[0].detail, detail);
        assert_eq!(found[0].reviewer.as_deref(), Some("alice"));
        // Nothing says whose request it was, except for a self-review.
        let requester = if code == "self_review" { "alice" } else { "" };
        assert_eq!(found[0].user, requester, "{code}");
    }
}

#[test]
fn a_huge_window_does_not_overflow() {
    let config = CompiledConfig::default();
    let report = Analyzer::new(&config, Time::MIN_UTC, now()).finish();
    assert!(report.findings.is_empty());
    let mut r = request(1);
    r.emergency = true;
    let r = approved(r, "carrot", Time::MAX_UTC - TimeDelta::hours(2), HOUR);
    let report = analyze(&config, Time::MIN_UTC, Time::MAX_UTC, [&r], []);
    assert!(of_kind(&report, FindingKind::EmergencyUnreviewed).is_empty());
}

#[test]
fn equally_bad_refusals_read_the_same_in_any_order() {
    let refusal = |seq, code, at| {
        with_field(
            event(seq, EventType::ReviewRefused, "vimes", Some(1), at),
            "error",
            code,
        )
    };
    // Both low: the earlier attempt names the finding, whichever arrives first.
    let earlier = refusal(2, "already_reviewed", ago(2 * HOUR));
    let later = refusal(3, "not_pending", ago(HOUR));
    let details: Vec<String> = [[&earlier, &later], [&later, &earlier]]
        .into_iter()
        .map(|events| {
            let report = run(&[], &events.map(Clone::clone));
            of_kind(&report, FindingKind::RefusedReview)[0]
                .detail
                .clone()
        })
        .collect();
    assert_eq!(
        details,
        vec!["vimes tried to review a request a second time (2 refused attempts)".to_string(); 2]
    );
}

#[test]
fn refused_reviews_aggregate_and_name_the_requester() {
    let refusal = |seq, code, at| {
        with_field(
            event(seq, EventType::ReviewRefused, "carrot", Some(1), at),
            "error",
            code,
        )
    };
    let events = [
        event(1, EventType::Create, "bob", Some(1), ago(3 * HOUR)),
        refusal(2, "not_pending", ago(2 * HOUR)),
        refusal(3, "forbidden", ago(HOUR)),
        // Outside the window: ignored.
        refusal(4, "self_review", ago(200 * HOUR)),
    ];
    let report = run(&[], &events);
    let found = of_kind(&report, FindingKind::RefusedReview);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].user, "bob");
    assert_eq!(found[0].severity, Severity::Medium);
    assert_eq!(found[0].at, ago(2 * HOUR));
    assert_eq!(
        found[0].detail,
        "carrot tried to review a request their roles may not review (2 refused attempts)"
    );
}

#[test]
fn override_from_event_or_request_is_one_finding() {
    let mut r = request(1);
    r.state = State::Approved;
    r.resolved_by = Some("vimes".into());
    r.resolved_at = Some(ago(HOUR));
    r.access = Some(Access {
        starts_at: ago(HOUR),
        ends_at: ago(HOUR - 3600),
        returned_at: None,
    });
    let mut update = with_field(
        event(5, EventType::Update, "vimes", Some(1), ago(HOUR)),
        "action",
        "override",
    );
    update.state = Some(State::Approved);

    // Event alone, the requester named by the create event.
    let create = event(1, EventType::Create, "alice", Some(1), ago(2 * HOUR));
    let report = run(&[], &[update.clone(), create]);
    let found = of_kind(&report, FindingKind::Override);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].user, "alice");
    assert_eq!(found[0].reviewer.as_deref(), Some("vimes"));

    // Request and event together, either order.
    let report = run(&[r.clone()], &[update.clone()]);
    assert_eq!(of_kind(&report, FindingKind::Override).len(), 1);
    let config = CompiledConfig::default();
    let mut analyzer = Analyzer::new(&config, ago(168 * HOUR), now());
    analyzer.add_event(&update);
    analyzer.add_request(&r);
    let report = analyzer.finish();
    assert_eq!(of_kind(&report, FindingKind::Override).len(), 1);

    // A plain update is no override.
    let withdraw = with_field(
        event(6, EventType::Update, "alice", Some(2), ago(HOUR)),
        "action",
        "withdraw",
    );
    assert!(run(&[], &[withdraw]).findings.is_empty());
}

#[test]
fn override_that_denies_is_low() {
    let mut r = request(1);
    r.state = State::Denied;
    r.resolved_by = Some("vimes".into());
    r.resolved_at = Some(ago(HOUR));
    let report = run(&[r], &[]);
    let found = of_kind(&report, FindingKind::Override);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].severity, Severity::Low);
    assert_eq!(
        found[0].detail,
        "vimes denied production-access by override instead of reviews"
    );
    assert_eq!(report.reviewers[0].denials, 1);
}

#[test]
fn requests_outside_the_window_are_ignored() {
    // Asked, approved in 10 seconds, no ticket, overheld, overridden: all last month.
    let mut r = request(1);
    r.created_at = ago(30 * DAY);
    r.reason = "because".into();
    r.estimate = Some(Duration::from_mins(1));
    let mut r = approved(r.clone(), "carrot", after(r.created_at, 10), HOUR);
    r.state = State::Elapsed;
    r.resolved_by = Some("vimes".into());
    let late_event = with_field(
        event(
            9,
            EventType::ReviewRefused,
            "carrot",
            Some(1),
            after(now(), 60),
        ),
        "error",
        "self_review",
    );
    let report = run(&[r], &[late_event]);
    assert_eq!(report.findings, vec![]);
    assert!(report.reviewers.is_empty());
    assert_eq!(report.window, Duration::from_hours(168));
}

#[test]
fn reviewer_summary_counts_votes_and_medians() {
    let mut requests = vec![];
    for (i, (by, decision, secs)) in [
        ("carrot", Decision::Approve, 30),
        ("carrot", Decision::Approve, 90),
        ("carrot", Decision::Approve, 600),
        ("carrot", Decision::Deny, 5),
        ("adora", Decision::Approve, 30),
        ("adora", Decision::Approve, 90),
    ]
    .into_iter()
    .enumerate()
    {
        let mut r = request(i as u128 + 1);
        r.user = format!("user{i}");
        r.reviews
            .push(review(by, decision, after(r.created_at, secs)));
        requests.push(r);
    }
    // A review made before the window is not counted.
    let mut old = request(99);
    old.created_at = ago(10 * DAY);
    old.reviews
        .push(review("adora", Decision::Deny, ago(10 * DAY - 30)));
    requests.push(old);

    let report = run(&requests, &[]);
    let adora = &report.reviewers[0];
    assert_eq!(adora.reviewer, "adora");
    assert_eq!((adora.approvals, adora.denials), (2, 0));
    assert_eq!(adora.median_time_to_approve, Some(Duration::from_secs(60)));
    assert_eq!(adora.approvals_under_two_minutes, 2);
    let carrot = &report.reviewers[1];
    assert_eq!((carrot.approvals, carrot.denials), (3, 1));
    assert_eq!(carrot.median_time_to_approve, Some(Duration::from_secs(90)));
    assert_eq!(carrot.approvals_under_two_minutes, 2);
}

#[test]
fn findings_sort_by_severity_then_time() {
    let mut no_ticket = request(1);
    no_ticket.reason = "just because".into();
    no_ticket.created_at = ago(5 * DAY);
    let fast = request(2);
    let fast = approved(fast.clone(), "carrot", after(fast.created_at, 10), HOUR);
    let self_review = with_field(
        event(3, EventType::ReviewRefused, "alice", Some(2), ago(2 * DAY)),
        "error",
        "self_review",
    );
    let early_fast = {
        let mut r = request(3);
        r.user = "bob".into();
        r.created_at = ago(6 * DAY);
        approved(r.clone(), "adora", after(r.created_at, 10), HOUR)
    };
    let report = run(&[no_ticket, fast, early_fast], &[self_review]);
    let order: Vec<(FindingKind, Option<Uuid>)> = report
        .findings
        .iter()
        .map(|f| (f.kind, f.request_id))
        .collect();
    assert_eq!(
        order,
        [
            (FindingKind::RefusedReview, Some(Uuid::from_u128(2))),
            (FindingKind::FastApproval, Some(Uuid::from_u128(3))),
            (FindingKind::FastApproval, Some(Uuid::from_u128(2))),
            (FindingKind::NoTicket, Some(Uuid::from_u128(1))),
        ]
    );
}

#[test]
fn marks_come_from_events_and_the_later_one_wins() {
    let mark = |seq, by: &str, key: &str, note: &str| {
        let e = event(
            seq,
            EventType::FindingReviewed,
            by,
            None,
            ago(HOUR * (10 - seq as i64)),
        );
        with_field(with_field(e, "key", key), "note", note)
    };
    let events = [
        mark(3, "carrot", "no_ticket:k:", "asked, it was INC-4"),
        mark(1, "adora", "fast_approval:x:carrot", "first"),
        mark(2, "carrot", "fast_approval:x:carrot", "pre-arranged, fine"),
        event(4, EventType::Create, "alice", Some(1), ago(HOUR)),
        with_field(
            event(5, EventType::FindingReviewed, "x", None, ago(HOUR)),
            "note",
            "no key",
        ),
    ];
    let marks = reviews_from_events(&events);
    assert_eq!(marks.len(), 2);
    let fast = &marks["fast_approval:x:carrot"];
    assert_eq!(fast.by, "carrot");
    assert_eq!(fast.note, "pre-arranged, fine");
    assert_eq!(fast.at, ago(8 * HOUR));

    // Fed newest first, the later seq still wins.
    let reversed: Vec<_> = events.iter().rev().collect();
    assert_eq!(
        reviews_from_events(reversed)["fast_approval:x:carrot"].note,
        "pre-arranged, fine"
    );
}

#[test]
fn marks_apply_by_key() {
    let mut r = request(1);
    r.reason = "because".into();
    let r = approved(r.clone(), "carrot", after(r.created_at, 10), HOUR);
    let mut report = run(&[r], &[]);
    assert_eq!(report.findings.len(), 2);
    let fast_key = of_kind(&report, FindingKind::FastApproval)[0].key();
    let review = FindingReview {
        by: "carrot".into(),
        note: "checked".into(),
        at: now(),
    };
    let marks = HashMap::from([
        (fast_key.clone(), review.clone()),
        ("override:none:".into(), review.clone()),
    ]);
    apply_reviews(&mut report.findings, &marks);
    for finding in &report.findings {
        if finding.key() == fast_key {
            assert_eq!(finding.reviewed.as_ref(), Some(&review));
        } else {
            assert_eq!(finding.reviewed, None);
        }
    }
}

#[test]
fn mark_fields_round_trip_through_an_event() {
    let mark = crate::model::api::MarkFindingReviewed {
        key: "override:abc:vimes".into(),
        note: "was the outage".into(),
    };
    let mut e = event(1, EventType::FindingReviewed, "carrot", None, ago(60));
    e.fields = mark_fields(&mark);
    let marks = reviews_from_events([&e]);
    assert_eq!(marks["override:abc:vimes"].note, "was the outage");
    assert_eq!(marks["override:abc:vimes"].by, "carrot");
}

#[test]
fn windows_from_durations() {
    let config = AuditConfig {
        window: Duration::from_hours(24),
        ..AuditConfig::default()
    }
    .compile()
    .unwrap();
    let mut r = request(1);
    r.reason = "because".into();
    r.created_at = ago(2 * DAY);

    let daily = Analyzer::for_default_window(&config, now());
    assert_eq!(daily.window_start(), ago(DAY));
    let mut daily = daily;
    daily.add_request(&r);
    let report = daily.finish();
    assert_eq!(report.window, Duration::from_hours(24));
    assert!(report.findings.is_empty());

    let mut weekly = Analyzer::for_window(&config, Duration::from_hours(168), now());
    weekly.add_request(&r);
    assert_eq!(weekly.finish().findings.len(), 1);
}
