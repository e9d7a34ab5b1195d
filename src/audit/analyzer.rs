//! The streaming analyzer: feed it the window's requests and events one at a time,
//! in any order, then `finish` for the findings and the reviewer summary.
//!
//! Requests can be digested elsewhere (on other threads) with [`Analyzer::digester`]
//! and added with [`Analyzer::add_digest`]; `add_request` does both in one step.

use rustc_hash::FxHashMap as HashMap;
use uuid::Uuid;

use crate::model::api::{FindingsReport, ReviewerSummary};
use crate::model::{
    AuditEvent, Duration, EventType, Finding, FindingKind, Request, Severity, State, Time,
};

use super::CompiledConfig;
use super::digest::{Digester, Override, RequestDigest};
use super::heuristics::Window;
use super::reviewers::ReviewerTally;
use super::text::{before, roles_phrase, snippet, window_phrase};

/// Names seen many times (users, roles, reviewers) are kept once.
#[derive(Debug, Default)]
struct Names {
    ids: HashMap<String, u32>,
    names: Vec<String>,
}

impl Names {
    fn intern(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = u32::try_from(self.names.len()).unwrap_or(u32::MAX);
        self.names.push(name.to_string());
        self.ids.insert(name.to_string(), id);
        id
    }

    fn name(&self, id: u32) -> &str {
        self.names.get(id as usize).map_or("", String::as_str)
    }
}

/// What is remembered of every request: who asked, and whether the request itself
/// was fed (create events also name the requester).
#[derive(Debug, Clone, Copy)]
struct Seen {
    requester: u32,
    fed: bool,
}

/// The latest request of a (user, role) pair and how many there were.
#[derive(Debug, Clone, Copy)]
struct Repeat {
    count: u32,
    latest_at: Time,
    latest_id: Uuid,
}

/// The requester, time and (role, count) pairs that share a latest request.
type LatestRepeat = (u32, Time, Vec<(u32, u32)>);

/// Refused review attempts of one actor on one request.
#[derive(Debug, Clone)]
struct Refusal {
    count: u32,
    worst: Severity,
    /// The error code of the worst attempt (the earliest of equally bad ones),
    /// interned, and when it was.
    worst_code: u32,
    worst_at: Time,
    first_at: Time,
    roles: Vec<String>,
    /// Interned.
    requester: Option<u32>,
}

/// Builds a [`FindingsReport`] from a stream of requests and audit events.
///
/// Requests are those created, resolved or holding access in the window; events are
/// those in the window. Each request is reduced to the few facts the heuristics need
/// when it is added; a request fed twice counts once.
pub struct Analyzer<'c> {
    config: &'c CompiledConfig,
    window: Window,
    names: Names,
    seen: HashMap<Uuid, Seen>,
    findings: Vec<Finding>,
    repeats: HashMap<(u32, u32), Repeat>,
    reviewers: HashMap<u32, ReviewerTally>,
    /// By request and (interned) actor.
    refusals: HashMap<(Option<Uuid>, u32), Refusal>,
    overrides: HashMap<Uuid, Override>,
}

impl<'c> Analyzer<'c> {
    /// Reviews `window_start..=now`.
    pub fn new(config: &'c CompiledConfig, window_start: Time, now: Time) -> Self {
        Analyzer {
            config,
            window: Window {
                start: window_start,
                now,
            },
            names: Names::default(),
            seen: HashMap::default(),
            findings: Vec::new(),
            repeats: HashMap::default(),
            reviewers: HashMap::default(),
            refusals: HashMap::default(),
            overrides: HashMap::default(),
        }
    }

    /// Reviews the `window` (e.g. the API's `?window=168h`) ending at `now`.
    pub fn for_window(config: &'c CompiledConfig, window: Duration, now: Time) -> Self {
        Self::new(config, before(now, window), now)
    }

    /// Reviews the configured window (`audit.window`) ending at `now`.
    pub fn for_default_window(config: &'c CompiledConfig, now: Time) -> Self {
        Self::for_window(config, config.window, now)
    }

    pub fn window_start(&self) -> Time {
        self.window.start
    }

    /// What digests requests for this analyzer's window, on any thread.
    pub fn digester(&self) -> Digester<'c> {
        Digester {
            config: self.config,
            window: self.window,
        }
    }

    pub fn add_request(&mut self, request: &Request) {
        let digest = self.digester().digest(request);
        self.add_digest(digest);
    }

    /// Adds a request digested by [`Analyzer::digester`].
    pub fn add_digest(&mut self, digest: RequestDigest) {
        let requester = self.names.intern(&digest.requester);
        let seen = self.seen.entry(digest.id).or_insert(Seen {
            requester,
            fed: false,
        });
        if seen.fed {
            return;
        }
        *seen = Seen {
            requester,
            fed: true,
        };
        self.findings.extend(digest.findings);
        for vote in digest.votes {
            let tally = self
                .reviewers
                .entry(self.names.intern(&vote.reviewer))
                .or_default();
            match vote.approval {
                Some((after, fast)) => tally.approve(after, fast),
                None => tally.deny(),
            }
        }
        if let Some(overridden) = digest.overridden {
            // The request says more than its update event does.
            self.overrides.insert(digest.id, overridden);
        }
        if let Some((at, roles)) = digest.asked {
            self.count_repeats(digest.id, requester, at, &roles);
        }
    }

    fn count_repeats(&mut self, id: Uuid, requester: u32, at: Time, roles: &[String]) {
        for role in roles {
            let role = self.names.intern(role);
            self.repeats
                .entry((requester, role))
                .and_modify(|repeat| {
                    repeat.count += 1;
                    if (at, id) > (repeat.latest_at, repeat.latest_id) {
                        (repeat.latest_at, repeat.latest_id) = (at, id);
                    }
                })
                .or_insert(Repeat {
                    count: 1,
                    latest_at: at,
                    latest_id: id,
                });
        }
    }

    pub fn add_event(&mut self, event: &AuditEvent) {
        if !self.window.contains(event.time) {
            return;
        }
        match event.kind {
            EventType::Create => {
                if let Some(id) = event.request_id {
                    let requester = self.names.intern(&event.user);
                    self.seen.entry(id).or_insert(Seen {
                        requester,
                        fed: false,
                    });
                }
            }
            EventType::ReviewRefused => self.count_refusal(event),
            EventType::Update if event.field_str("action") == Some("override") => {
                if let Some(id) = event.request_id {
                    // The request, when fed, says the same with more detail.
                    self.overrides.entry(id).or_insert(Override {
                        by: event.user.clone(),
                        at: event.time,
                        approved: event.state != Some(State::Denied),
                        roles: event.roles.clone(),
                        reason: event.reason.clone(),
                    });
                }
            }
            _ => {}
        }
    }

    fn count_refusal(&mut self, event: &AuditEvent) {
        let code = event.field_str("error").unwrap_or("unknown");
        let severity = refusal_severity(code);
        let actor = self.names.intern(&event.user);
        let code = self.names.intern(code);
        let requester = event.field_str("requester").map(|r| self.names.intern(r));
        let refusal = self
            .refusals
            .entry((event.request_id, actor))
            .or_insert_with(|| Refusal {
                count: 0,
                worst: severity,
                worst_code: code,
                worst_at: event.time,
                first_at: event.time,
                roles: event.roles.clone(),
                requester,
            });
        refusal.count += 1;
        refusal.first_at = refusal.first_at.min(event.time);
        // Events arrive in any order: the worst attempt wins, then the earliest,
        // then the code's name, so the detail does not depend on the order.
        let names = &self.names;
        let rank = |severity: Severity, at: Time, code: u32| {
            (std::cmp::Reverse(severity), at, names.name(code))
        };
        if rank(severity, event.time, code)
            < rank(refusal.worst, refusal.worst_at, refusal.worst_code)
        {
            refusal.worst = severity;
            refusal.worst_code = code;
            refusal.worst_at = event.time;
        }
    }

    fn requester_of(&self, id: Option<Uuid>) -> Option<&str> {
        id.and_then(|id| self.seen.get(&id))
            .map(|seen| self.names.name(seen.requester))
    }

    /// The findings, most severe first then oldest first, and the reviewer summary.
    pub fn finish(mut self) -> FindingsReport {
        self.finish_repeats();
        self.finish_refusals();
        self.finish_overrides();

        // One finding per key by construction: a request counts once, and each
        // window-wide heuristic makes one finding per request (and actor).
        let mut findings = std::mem::take(&mut self.findings);
        findings.sort_unstable_by(|a, b| {
            b.severity
                .cmp(&a.severity)
                .then(a.at.cmp(&b.at))
                .then(a.kind.cmp(&b.kind))
                .then_with(|| a.cmp_by_key(b))
        });

        let names = &self.names;
        let mut reviewers: Vec<ReviewerSummary> = self
            .reviewers
            .into_iter()
            .map(|(id, tally)| tally.summary(names.name(id).to_string()))
            .collect();
        reviewers.sort_by(|a, b| a.reviewer.cmp(&b.reviewer));

        FindingsReport {
            findings,
            window: self.window.length(),
            reviewers,
            ticket_patterns: self.config.ticket_patterns().to_vec(),
            repeat_threshold: Some(self.config.repeat_threshold),
            next: None,
            total: None,
        }
    }

    /// One finding per latest request: roles repeated up to the same request share it.
    fn finish_repeats(&mut self) {
        let threshold = self.config.repeat_threshold;
        let mut by_latest: HashMap<Uuid, LatestRepeat> = HashMap::default();
        for (&(user, role), repeat) in &self.repeats {
            if repeat.count < threshold {
                continue;
            }
            by_latest
                .entry(repeat.latest_id)
                .or_insert((user, repeat.latest_at, Vec::new()))
                .2
                .push((role, repeat.count));
        }
        let when = window_phrase(self.window.length());
        for (id, (user, at, mut roles)) in by_latest {
            roles.sort_by(|a, b| self.names.name(a.0).cmp(self.names.name(b.0)));
            let counts: Vec<String> = roles
                .iter()
                .map(|&(role, count)| format!("{} {count} times", self.names.name(role)))
                .collect();
            let them = if roles.len() == 1 { "it" } else { "them" };
            self.findings.push(Finding {
                kind: FindingKind::RepeatRequest,
                severity: Severity::Low,
                request_id: Some(id),
                user: self.names.name(user).to_string(),
                reviewer: None,
                roles: roles
                    .iter()
                    .map(|&(role, _)| self.names.name(role).to_string())
                    .collect(),
                detail: format!(
                    "asked for {} {when}: make {them} permanent, or ask why",
                    roles_phrase(&counts)
                ),
                at,
                reviewed: None,
            });
        }
    }

    fn finish_refusals(&mut self) {
        self.findings.reserve(self.refusals.len());
        for ((request_id, actor), refusal) in std::mem::take(&mut self.refusals) {
            let (actor, code) = (self.names.name(actor), self.names.name(refusal.worst_code));
            // Who asked is known from the request or its create event when they were
            // fed; a self-review names them anyway.
            let user = self
                .requester_of(request_id)
                .or(refusal.requester.map(|r| self.names.name(r)))
                .unwrap_or(if code == "self_review" { actor } else { "" })
                .to_string();
            let mut detail = refusal_detail(actor, code);
            if refusal.count > 1 {
                detail.push_str(&format!(" ({} refused attempts)", refusal.count));
            }
            self.findings.push(Finding {
                kind: FindingKind::RefusedReview,
                severity: refusal.worst,
                request_id,
                user,
                reviewer: Some(actor.to_string()),
                roles: refusal.roles,
                detail,
                at: refusal.first_at,
                reviewed: None,
            });
        }
    }

    fn finish_overrides(&mut self) {
        for (id, over) in std::mem::take(&mut self.overrides) {
            let user = self.requester_of(Some(id)).unwrap_or("").to_string();
            let (severity, verb, ask) = if over.approved {
                (Severity::High, "approved", ": confirm it was needed")
            } else {
                // Refusing access by override grants nothing to anyone.
                (Severity::Low, "denied", "")
            };
            let why = over
                .reason
                .as_deref()
                .map(|reason| format!(", saying {}", snippet(reason)))
                .unwrap_or_default();
            self.findings.push(Finding {
                kind: FindingKind::Override,
                severity,
                request_id: Some(id),
                user,
                reviewer: Some(over.by.clone()),
                detail: format!(
                    "{} {verb} {} by override instead of reviews{why}{ask}",
                    over.by,
                    roles_phrase(&over.roles),
                ),
                roles: over.roles,
                at: over.at,
                reviewed: None,
            });
        }
    }
}

/// Trying to review one's own request is the refusal that matters most.
fn refusal_severity(code: &str) -> Severity {
    match code {
        "self_review" => Severity::High,
        "already_reviewed" | "not_pending" => Severity::Low,
        _ => Severity::Medium,
    }
}

fn refusal_detail(actor: &str, code: &str) -> String {
    match code {
        "self_review" => format!("{actor} tried to approve or deny their own request"),
        "forbidden" => format!("{actor} tried to review a request their roles may not review"),
        "already_reviewed" => format!("{actor} tried to review a request a second time"),
        "not_pending" => format!("{actor} tried to review a request that was no longer pending"),
        other => format!("{actor}'s review was refused ({other})"),
    }
}

/// Analyzes everything at once; for small windows and tests.
pub fn analyze<'a>(
    config: &CompiledConfig,
    window_start: Time,
    now: Time,
    requests: impl IntoIterator<Item = &'a Request>,
    events: impl IntoIterator<Item = &'a AuditEvent>,
) -> FindingsReport {
    let mut analyzer = Analyzer::new(config, window_start, now);
    for request in requests {
        analyzer.add_request(request);
    }
    for event in events {
        analyzer.add_event(event);
    }
    analyzer.finish()
}
