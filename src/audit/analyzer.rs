//! The streaming analyzer: feed it the window's requests and events one at a time,
//! in any order, then `finish` for the findings and the reviewer summary.

use std::collections::{HashMap, HashSet};

use uuid::Uuid;

use crate::model::api::{FindingsReport, ReviewerSummary};
use crate::model::{
    AuditEvent, Decision, Duration, EventType, Finding, FindingKind, Request, Severity, State, Time,
};

use super::CompiledConfig;
use super::heuristics::{self, Window, span};
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
    worst_code: String,
    first_at: Time,
    roles: Vec<String>,
    requester: Option<String>,
}

/// An override, from the request (`resolved_by`) or its `access_request.update` event.
#[derive(Debug, Clone)]
struct Override {
    by: String,
    at: Time,
    approved: bool,
    roles: Vec<String>,
    reason: Option<String>,
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
    refusals: HashMap<(Option<Uuid>, String), Refusal>,
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
            seen: HashMap::new(),
            findings: Vec::new(),
            repeats: HashMap::new(),
            reviewers: HashMap::new(),
            refusals: HashMap::new(),
            overrides: HashMap::new(),
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

    pub fn add_request(&mut self, request: &Request) {
        let requester = self.names.intern(&request.user);
        let seen = self.seen.entry(request.id).or_insert(Seen {
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

        let (config, window) = (self.config, self.window);
        self.findings.extend(
            [
                heuristics::no_ticket(config, request, window),
                heuristics::overheld(config, request, window),
                heuristics::emergency_unreviewed(config, request, window),
            ]
            .into_iter()
            .flatten(),
        );
        self.count_reviews(request);
        self.count_override(request);
        self.count_repeats(request, requester);
    }

    /// Votes in the window, for the reviewer summary and `fast_approval`.
    fn count_reviews(&mut self, request: &Request) {
        for review in &request.reviews {
            if !self.window.contains(review.created_at) {
                continue;
            }
            let reviewer = self.names.intern(&review.author);
            match review.decision {
                Decision::Approve => {
                    let after = Duration::from_chrono(review.created_at - request.created_at);
                    let fast = after < self.config.fast_approval;
                    self.reviewers
                        .entry(reviewer)
                        .or_default()
                        .approve(after, fast);
                    if fast {
                        let finding =
                            self.fast_approval(request, &review.author, review.created_at, "");
                        self.findings.push(finding);
                    }
                }
                Decision::Deny => self.reviewers.entry(reviewer).or_default().deny(),
            }
        }
    }

    fn fast_approval(&self, request: &Request, by: &str, at: Time, how: &str) -> Finding {
        let after = span(request.created_at, at);
        let (severity, why) = if request.emergency {
            // The emergency procedure is meant to be fast; its post-incident review is
            // where it gets looked at.
            (
                Severity::Low,
                " (an emergency: check its post-incident review)",
            )
        } else {
            (Severity::Medium, "")
        };
        heuristics::finding(
            FindingKind::FastApproval,
            severity,
            request,
            Some(by),
            request.roles.clone(),
            format!("approved by {by}{how} {after} after it was asked for{why}"),
            at,
        )
    }

    /// A request resolved directly by someone with `access_request: update`.
    fn count_override(&mut self, request: &Request) {
        let (Some(by), Some(at)) = (request.resolved_by.as_deref(), request.resolved_at) else {
            return;
        };
        if !self.window.contains(at) {
            return;
        }
        let approved = heuristics::was_approved(request);
        let reviewer = self.names.intern(by);
        if approved {
            let after = Duration::from_chrono(at - request.created_at);
            let fast = after < self.config.fast_approval;
            self.reviewers
                .entry(reviewer)
                .or_default()
                .approve(after, fast);
            if fast {
                let finding = self.fast_approval(request, by, at, " (override)");
                self.findings.push(finding);
            }
        } else {
            self.reviewers.entry(reviewer).or_default().deny();
        }
        self.overrides.insert(
            request.id,
            Override {
                by: by.to_string(),
                at,
                approved,
                roles: if approved && !request.granted_roles.is_empty() {
                    request.granted_roles.clone()
                } else {
                    request.roles.clone()
                },
                reason: request.resolve_reason.clone(),
            },
        );
    }

    fn count_repeats(&mut self, request: &Request, requester: u32) {
        if !self.window.contains(request.created_at) {
            return;
        }
        let mut roles: Vec<&str> = request.roles.iter().map(String::as_str).collect();
        roles.sort_unstable();
        roles.dedup();
        for role in roles {
            let role = self.names.intern(role);
            let latest = (request.created_at, request.id);
            self.repeats
                .entry((requester, role))
                .and_modify(|repeat| {
                    repeat.count += 1;
                    if latest > (repeat.latest_at, repeat.latest_id) {
                        (repeat.latest_at, repeat.latest_id) = latest;
                    }
                })
                .or_insert(Repeat {
                    count: 1,
                    latest_at: request.created_at,
                    latest_id: request.id,
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
        let refusal = self
            .refusals
            .entry((event.request_id, event.user.clone()))
            .or_insert_with(|| Refusal {
                count: 0,
                worst: severity,
                worst_code: code.to_string(),
                first_at: event.time,
                roles: event.roles.clone(),
                requester: event.field_str("requester").map(str::to_string),
            });
        refusal.count += 1;
        refusal.first_at = refusal.first_at.min(event.time);
        if severity > refusal.worst {
            refusal.worst = severity;
            refusal.worst_code = code.to_string();
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

        let mut keys = HashSet::new();
        let mut findings: Vec<Finding> = std::mem::take(&mut self.findings)
            .into_iter()
            .filter(|finding| keys.insert(finding.key()))
            .collect();
        findings.sort_by(|a, b| {
            b.severity
                .cmp(&a.severity)
                .then(a.at.cmp(&b.at))
                .then(a.kind.cmp(&b.kind))
                .then_with(|| a.key().cmp(&b.key()))
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
        }
    }

    /// One finding per latest request: roles repeated up to the same request share it.
    fn finish_repeats(&mut self) {
        let threshold = self.config.repeat_threshold;
        let mut by_latest: HashMap<Uuid, LatestRepeat> = HashMap::new();
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
        for ((request_id, actor), refusal) in std::mem::take(&mut self.refusals) {
            // Who asked is known from the request or its create event when they were
            // fed; a self-review names them anyway.
            let user = self
                .requester_of(request_id)
                .map(str::to_string)
                .or(refusal.requester)
                .unwrap_or_else(|| {
                    if refusal.worst_code == "self_review" {
                        actor.clone()
                    } else {
                        String::new()
                    }
                });
            let mut detail = refusal_detail(&actor, &refusal.worst_code);
            if refusal.count > 1 {
                detail.push_str(&format!(" ({} refused attempts)", refusal.count));
            }
            self.findings.push(Finding {
                kind: FindingKind::RefusedReview,
                severity: refusal.worst,
                request_id,
                user,
                reviewer: Some(actor),
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
