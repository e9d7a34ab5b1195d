//! Realistic requests for tests, benchmarks and screenshots, with names from the
//! runbook. Not used by the running console.

use std::collections::BTreeMap;

use chrono::TimeZone;
use uuid::Uuid;

use crate::model::{
    Access, AuditEvent, Decision, Duration, EventType, Request, Review, State, Threshold, Time,
};

/// The fixed clock of every fixture and snapshot: 2026-03-14 09:30:00 UTC.
pub fn now() -> Time {
    chrono::Utc
        .with_ymd_and_hms(2026, 3, 14, 9, 30, 0)
        .single()
        .unwrap_or_default()
}

/// A deterministic id that looks like a UUID v7.
pub fn id(n: u64) -> Uuid {
    let hi = (0x0195_0000_0000_7000u64) | ((n & 0xffff) << 16);
    let lo = 0x8000_0000_0000_0000u64 | n.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 2;
    Uuid::from_u64_pair(hi, lo)
}

/// A request builder: `RequestFixture::new(1, "vimes").roles(["production-db-access"]).age_mins(5).build()`.
#[derive(Debug, Clone)]
pub struct RequestFixture {
    request: Request,
}

impl RequestFixture {
    pub fn new(n: u64, user: &str) -> Self {
        let created = now() - chrono::TimeDelta::minutes(5);
        let mut role_thresholds = BTreeMap::new();
        role_thresholds.insert("production-access".to_string(), vec![vec![0]]);
        RequestFixture {
            request: Request {
                id: id(n),
                user: user.into(),
                roles: vec!["production-access".into()],
                granted_roles: Vec::new(),
                state: State::Pending,
                reason: "Investigating error spike on merchants-guild-app-02, see incident #47"
                    .into(),
                emergency: false,
                created_at: created,
                pending_expires_at: created + chrono::TimeDelta::hours(24),
                max_duration: Some(Duration::from_hours(2)),
                estimate: None,
                access: None,
                thresholds: vec![Threshold::default()],
                role_thresholds,
                reviews: Vec::new(),
                resolved_at: None,
                resolve_reason: None,
                resolved_by: None,
                suggested_reviewers: Vec::new(),
                annotations: BTreeMap::new(),
                requester_annotations: BTreeMap::new(),
                request_prompt: None,
                post_incident_review: None,
            },
        }
    }

    /// Requested roles, each needing `approve` approvals from one default-filter threshold.
    pub fn roles<const N: usize>(mut self, roles: [&str; N]) -> Self {
        let approve = self
            .request
            .thresholds
            .first()
            .map(|t| t.approve)
            .unwrap_or(1);
        self.request.roles = roles.iter().map(|r| r.to_string()).collect();
        self.request.role_thresholds = roles
            .iter()
            .map(|r| (r.to_string(), vec![vec![0]]))
            .collect();
        self.request.thresholds = vec![Threshold {
            approve,
            ..Threshold::default()
        }];
        self
    }

    pub fn needs(mut self, approve: u32) -> Self {
        self.request.thresholds = vec![Threshold {
            approve,
            ..Threshold::default()
        }];
        self
    }

    pub fn reason(mut self, reason: &str) -> Self {
        self.request.reason = reason.into();
        self.request.emergency = crate::model::is_emergency_reason(reason);
        self
    }

    pub fn age_mins(mut self, minutes: i64) -> Self {
        self.request.created_at = now() - chrono::TimeDelta::minutes(minutes);
        self.request.pending_expires_at = self.request.created_at + chrono::TimeDelta::hours(24);
        self
    }

    pub fn approved_by(mut self, author: &str, reason: &str, minutes_ago: i64) -> Self {
        self.request.reviews.push(Review {
            author: author.into(),
            decision: Decision::Approve,
            reason: reason.into(),
            roles: Vec::new(),
            created_at: now() - chrono::TimeDelta::minutes(minutes_ago),
            threshold_indexes: vec![0],
        });
        self
    }

    pub fn denied_by(mut self, author: &str, reason: &str, minutes_ago: i64) -> Self {
        self.request.reviews.push(Review {
            author: author.into(),
            decision: Decision::Deny,
            reason: reason.into(),
            roles: Vec::new(),
            created_at: now() - chrono::TimeDelta::minutes(minutes_ago),
            threshold_indexes: vec![0],
        });
        self
    }

    pub fn state(mut self, state: State) -> Self {
        self.request.state = state;
        if state != State::Pending {
            self.request.resolved_at = Some(now() - chrono::TimeDelta::minutes(1));
            self.request.granted_roles = self.request.roles.clone();
        }
        if state == State::Approved {
            let starts = now() - chrono::TimeDelta::minutes(1);
            self.request.access = Some(Access {
                starts_at: starts,
                ends_at: starts + chrono::TimeDelta::hours(2),
                returned_at: None,
            });
        }
        self
    }

    pub fn suggested(mut self, reviewers: &[&str]) -> Self {
        self.request.suggested_reviewers = reviewers.iter().map(|r| r.to_string()).collect();
        self
    }

    pub fn annotation(mut self, key: &str, value: &str) -> Self {
        self.request
            .annotations
            .insert(key.into(), vec![value.into()]);
        self
    }

    pub fn requester_annotation(mut self, key: &str, value: &str) -> Self {
        self.request
            .requester_annotations
            .insert(key.into(), vec![value.into()]);
        self
    }

    pub fn build(self) -> Request {
        self.request
    }
}

/// A realistic queue: an emergency, a two-approval database request, a repeat
/// requester without a ticket, and some history.
pub fn queue() -> Vec<Request> {
    vec![
        RequestFixture::new(1, "angua")
            .reason("EMERGENCY: payments API returning 500s, INC-2231, paging Carrot")
            .roles(["production-access"])
            .age_mins(3)
            .suggested(&["carrot", "adora-belle"])
            .build(),
        RequestFixture::new(2, "vimes")
            .roles(["production-db-access"])
            .needs(2)
            .reason("Audit of evidence-room access records for OPS-118; read-only queries on the ledger replica")
            .age_mins(42)
            .approved_by("adora-belle", "Checked OPS-118, read-only is fine", 20)
            .annotation("ticket", "OPS-118")
            .requester_annotation("runbook", "evidence-room/ledger-audit")
            .build(),
        RequestFixture::new(3, "detritus")
            .reason("need to restart the thing again")
            .age_mins(12)
            .build(),
        RequestFixture::new(4, "detritus")
            .reason("restart again")
            .age_mins(60 * 26)
            .state(State::Approved)
            .approved_by("carrot", "ok, but let's talk about making this permanent", 60 * 25)
            .build(),
        RequestFixture::new(5, "detritus")
            .reason("same as yesterday")
            .age_mins(60 * 50)
            .state(State::Denied)
            .denied_by("adora-belle", "No ticket, please raise one first", 60 * 49)
            .build(),
        RequestFixture::new(6, "ponder")
            .roles(["developer-db", "production-access"])
            .reason("Migrating the HEX cluster config, #512; estimate 30m")
            .age_mins(7)
            .build(),
    ]
}

/// `n` plain pending requests, for benchmarks.
pub fn many(n: u64) -> Vec<Request> {
    const NAMES: [&str; 6] = [
        "carrot",
        "adora-belle",
        "vimes",
        "angua",
        "ponder",
        "detritus",
    ];
    (0..n)
        .map(|i| {
            RequestFixture::new(i + 100, NAMES[(i % 6) as usize])
                .reason(&format!(
                    "Deploy hotfix for #{i}, investigating merchants-guild-app-{:02}",
                    i % 17
                ))
                .age_mins((i % 1440) as i64)
                .build()
        })
        .collect()
}

/// An audit event about request `n`, `minutes_ago` before [`now`]; `fields` are the
/// type-specific extras (`decision`, `action`, …).
pub fn event(
    seq: u64,
    kind: EventType,
    user: &str,
    n: u64,
    minutes_ago: i64,
    reason: Option<&str>,
    fields: &[(&str, &str)],
) -> AuditEvent {
    AuditEvent {
        seq,
        id: id(10_000 + seq),
        kind,
        code: kind.code().into(),
        time: now() - chrono::TimeDelta::minutes(minutes_ago),
        user: user.into(),
        request_id: Some(id(n)),
        roles: vec!["production-access".into()],
        state: None,
        reason: reason.map(str::to_string),
        fields: fields
            .iter()
            .map(|(k, v)| (k.to_string(), serde_json::Value::from(*v)))
            .collect(),
        hash: String::new(),
    }
}

/// An emergency request approved a day ago whose post-incident review is owed.
pub fn owed_emergency(n: u64, user: &str) -> Request {
    let mut request = RequestFixture::new(n, user)
        .reason("EMERGENCY: clacks tower relay down, INC-77, restarting by hand")
        .age_mins(60 * 26)
        .state(State::Approved)
        .approved_by("carrot", "confirmed with the tower by semaphore", 60 * 25)
        .build();
    if let Some(access) = &mut request.access {
        access.starts_at = now() - chrono::TimeDelta::hours(25);
        access.ends_at = now() - chrono::TimeDelta::hours(23);
    }
    request.state = State::Elapsed;
    request
}

/// The harness of the `update` tests: a console as carrot (a reviewer) at 160×40,
/// and the few moves every test makes.
pub mod harness {
    use super::{RequestFixture, id, now, queue};
    use crate::console::action::{Action, Effect, ReviewError};
    use crate::console::keymap::{Command, Keymap};
    use crate::console::state::State;
    use crate::console::theme::Theme;
    use crate::console::update;
    use crate::model::api::{ErrorCode, WhoAmI};
    use ratatui_textarea::{Input, Key};

    pub fn loaded(requests: Vec<crate::model::Request>) -> State {
        let mut state = State::new(
            "http://127.0.0.1:7800",
            Keymap::default(),
            Theme::no_color(),
        );
        update(
            &mut state,
            Action::Resize {
                width: 160,
                height: 40,
            },
            now(),
        );
        update(
            &mut state,
            Action::WhoAmI(WhoAmI {
                user: "carrot".into(),
                roles: vec!["reviewer".into()],
                reviewable_roles: vec![
                    "production-access".into(),
                    "production-db-access".into(),
                    "developer-db".into(),
                ],
                ..WhoAmI::default()
            }),
            now(),
        );
        update(&mut state, Action::Loaded(requests), now());
        state
    }

    pub fn cmd(state: &mut State, command: Command) -> Vec<Effect> {
        update(state, Action::Command(command), now())
    }

    pub fn type_text(state: &mut State, text: &str) {
        for c in text.chars() {
            let key = if c == '\n' { Key::Enter } else { Key::Char(c) };
            update(
                state,
                Action::Editor(Input {
                    key,
                    ..Input::default()
                }),
                now(),
            );
        }
    }

    pub fn pending(n: u64, user: &str, age: i64) -> crate::model::Request {
        RequestFixture::new(n, user).age_mins(age).build()
    }

    pub fn finding(
        kind: crate::model::FindingKind,
        severity: crate::model::Severity,
        n: u64,
        hours_ago: i64,
    ) -> crate::model::Finding {
        crate::model::Finding {
            kind,
            severity,
            request_id: Some(id(n)),
            user: "detritus".into(),
            reviewer: None,
            roles: vec!["production-access".into()],
            detail: format!("finding about request {n}"),
            at: now() - chrono::TimeDelta::hours(hours_ago),
            reviewed: None,
        }
    }

    pub fn report(findings: Vec<crate::model::Finding>) -> crate::model::api::FindingsReport {
        crate::model::api::FindingsReport {
            findings,
            window: crate::model::Duration::from_hours(168),
            reviewers: Vec::new(),
            ticket_patterns: Vec::new(),
            repeat_threshold: None,
            next: None,
            total: None,
        }
    }

    /// What the console asks when it (re)loads the findings from the top, holding
    /// fewer than a page of them, in the default order.
    pub fn fetch_findings() -> Effect {
        Effect::FetchFindings(crate::model::api::ListFindings {
            sort: Some(crate::model::FindingSort::Severity),
            limit: Some(crate::console::findings::PAGE),
            ..Default::default()
        })
    }

    /// The Audit tab open on `findings`, over the queue plus an owed emergency (7).
    pub fn audit_tab(findings: Vec<crate::model::Finding>) -> State {
        let mut requests = queue();
        requests.push(crate::console::fixtures::owed_emergency(7, "angua"));
        let mut state = loaded(requests);
        cmd(&mut state, Command::PrevTab);
        update(&mut state, Action::Findings(Ok(report(findings))), now());
        state
    }

    pub fn refusal(code: Option<ErrorCode>, message: &str) -> ReviewError {
        ReviewError {
            code,
            message: message.into(),
        }
    }

    pub fn note_error(state: &State) -> String {
        state
            .note()
            .and_then(|n| n.error.clone())
            .unwrap_or_default()
    }
}
