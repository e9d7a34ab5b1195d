//! The heuristics that look at one request on its own. Those that need the whole
//! window (repeats, refusals, overrides seen only as events) live in the analyzer.

use crate::model::{Access, Duration, Finding, FindingKind, Request, Severity, State, Time};

use super::CompiledConfig;
use super::text::{phrase_span, roles_phrase, snippet};

/// The stretch of time under review: `start..=now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: Time,
    pub now: Time,
}

impl Window {
    pub fn contains(&self, t: Time) -> bool {
        self.start <= t && t <= self.now
    }

    pub fn length(&self) -> Duration {
        Duration::from_chrono(self.now - self.start)
    }
}

/// Whole seconds of the time between two instants, as shown in details.
pub fn span(from: Time, to: Time) -> Duration {
    Duration::from_secs(Duration::from_chrono(to - from).as_secs())
}

pub fn finding(
    kind: FindingKind,
    severity: Severity,
    request: &Request,
    reviewer: Option<&str>,
    roles: Vec<String>,
    detail: String,
    at: Time,
) -> Finding {
    Finding {
        kind,
        severity,
        request_id: Some(request.id),
        user: request.user.clone(),
        reviewer: reviewer.map(str::to_string),
        roles,
        detail,
        at,
        reviewed: None,
    }
}

/// Whether a request was (or still is) granted: approval is the only way into the
/// states after it.
pub fn was_approved(request: &Request) -> bool {
    matches!(
        request.state,
        State::Approved | State::Returned | State::Elapsed | State::Revoked
    )
}

/// When the request was approved: the access clock starts then.
pub fn approved_at(request: &Request) -> Option<Time> {
    if !was_approved(request) {
        return None;
    }
    request
        .access
        .as_ref()
        .map(|access| access.starts_at)
        .or(request.resolved_at)
}

fn granted_roles(request: &Request) -> Vec<String> {
    if request.granted_roles.is_empty() {
        request.roles.clone()
    } else {
        request.granted_roles.clone()
    }
}

/// `no_ticket`: a request created in the window whose reason names no ticket.
pub fn no_ticket(config: &CompiledConfig, request: &Request, window: Window) -> Option<Finding> {
    if !window.contains(request.created_at) || config.names_ticket(&request.reason) {
        return None;
    }
    let quoted = snippet(&request.reason);
    let detail = if request.emergency {
        format!(
            "emergency reason {quoted} names no ticket or incident: link the incident in its post-incident review"
        )
    } else {
        format!(
            "reason {quoted} names no ticket or incident: ask {} which one it was for",
            request.user
        )
    };
    Some(finding(
        FindingKind::NoTicket,
        Severity::Low,
        request,
        None,
        request.roles.clone(),
        detail,
        request.created_at,
    ))
}

/// Where an access window stands at `now`: until when it was held, and whether it
/// was held to its very end without being returned.
struct Holding {
    until: Time,
    to_the_end: bool,
    still_held: bool,
}

fn holding(state: State, access: &Access, now: Time) -> Holding {
    match access.returned_at {
        Some(returned) => Holding {
            until: returned.min(access.ends_at),
            to_the_end: returned >= access.ends_at,
            still_held: false,
        },
        None if state == State::Elapsed || now >= access.ends_at => Holding {
            until: access.ends_at,
            to_the_end: true,
            still_held: false,
        },
        None => Holding {
            until: now.max(access.starts_at),
            to_the_end: false,
            still_held: true,
        },
    }
}

/// `overheld`: access held past the estimate plus the margin, or, without an
/// estimate, held to the end of a long window. Counted in the window where the
/// holding ended (or now, while it lasts).
pub fn overheld(config: &CompiledConfig, request: &Request, window: Window) -> Option<Finding> {
    if !was_approved(request) {
        return None;
    }
    let access = request.access.as_ref()?;
    let holding = holding(request.state, access, window.now);
    if !window.contains(holding.until) {
        return None;
    }
    let held = Duration::from_chrono(holding.until - access.starts_at);
    let roles = granted_roles(request);
    let what = roles_phrase(&roles);
    let detail = match request.estimate.filter(|e| !e.is_zero()) {
        Some(estimate) => {
            let allowed = config.overheld_allowance(estimate);
            if held <= allowed {
                return None;
            }
            let verb = if holding.still_held {
                "has held"
            } else {
                "held"
            };
            let so_far = if holding.still_held { " so far" } else { "" };
            format!(
                "{verb} {what} {}{so_far} against an estimate of {estimate} (+{}% allows {allowed})",
                Duration::from_secs(held.as_secs()),
                config.overheld_margin_percent
            )
        }
        None => {
            let length = Duration::from_chrono(access.ends_at - access.starts_at);
            if !holding.to_the_end || length < config.overheld_min_window {
                return None;
            }
            format!(
                "held {what} for all of its {length} window without returning it and gave no estimate: ask whether it was needed that long"
            )
        }
    };
    Some(finding(
        FindingKind::Overheld,
        Severity::Medium,
        request,
        None,
        roles,
        detail,
        holding.until,
    ))
}

/// `emergency_unreviewed`: an approved emergency request whose post-incident review
/// is overdue. Not limited to the window: an owed review stays owed until recorded.
pub fn emergency_unreviewed(
    config: &CompiledConfig,
    request: &Request,
    window: Window,
) -> Option<Finding> {
    if !request.emergency || request.post_incident_review.is_some() {
        return None;
    }
    let approved = approved_at(request)?;
    let due = approved.checked_add_signed(config.emergency_review_due.to_chrono())?;
    if window.now < due {
        return None;
    }
    let roles = granted_roles(request);
    let detail = format!(
        "emergency access to {} approved {} ago has no post-incident review: a reviewer other than {} should record one",
        roles_phrase(&roles),
        phrase_span(span(approved, window.now)),
        request.user
    );
    Some(finding(
        FindingKind::EmergencyUnreviewed,
        Severity::High,
        request,
        None,
        roles,
        detail,
        due,
    ))
}
