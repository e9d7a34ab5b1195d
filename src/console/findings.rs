//! The Audit tab's findings: their order (grouped by kind when sorted by kind), a
//! selection that stays on the same finding across sorts and reloads, and the
//! broker's ticket patterns that arrive with them.

use super::action::Effect;
use super::listing::Tickets;
use super::state::{State, Tab};
use crate::model::api::{FindingsReport, ListFindings, MAX_PAGE};
use crate::model::{Finding, FindingKind, FindingReview, Time};

/// Sorts the findings by the tab's sort and selects the finding with key `keep`,
/// or the same position when it is gone.
fn sort(state: &mut State, keep: Option<String>) {
    let audit = &mut state.audit;
    let by = audit.sort;
    let Some(findings) = &mut audit.findings else {
        return;
    };
    by.sort(findings);
    let index = keep
        .and_then(|key| findings.iter().position(|f| f.key() == key))
        .unwrap_or(audit.selected);
    select(state, index);
}

/// The next sort, by key; the selected finding stays selected. What is loaded is
/// sorted at once; when the broker holds more, its first findings in the new order
/// are asked for (they may not be among those loaded).
pub(super) fn next_sort(state: &mut State, now: Time) -> Vec<Effect> {
    state.audit.sort = state.audit.sort.next();
    let keep = state.audit.selected_finding().map(Finding::key);
    sort(state, keep);
    if !state.audit.more() {
        return Vec::new();
    }
    // An answer on its way is in the old order: the next tick asks again.
    state.audit.stale = true;
    state.audit.asked_at = None;
    fetch(state, now)
}

/// Moves the selection, keeping it in the table's window.
pub(super) fn select(state: &mut State, index: usize) {
    let page = state.page.max(1);
    let audit = &mut state.audit;
    let count = audit.findings.as_ref().map(Vec::len).unwrap_or(0);
    if count == 0 {
        audit.selected = 0;
        audit.offset = 0;
        return;
    }
    let index = index.min(count - 1);
    if index != audit.selected {
        state.detail_scroll = 0;
    }
    audit.selected = index;
    if index < audit.offset {
        audit.offset = index;
    } else if index >= audit.offset + page {
        audit.offset = index + 1 - page;
    }
    audit.offset = audit.offset.min(count - 1);
}

/// A post-incident review was recorded for request `id`: its `emergency_unreviewed`
/// finding goes, as it does from the broker's next report. The selection stays on
/// the finding it was on, or moves to the one that took the removed one's place.
pub(super) fn owed_review_recorded(state: &mut State, id: uuid::Uuid) {
    let keep = state.audit.selected_finding().map(Finding::key);
    let Some(findings) = &mut state.audit.findings else {
        return;
    };
    findings.retain(|f| !(f.kind == FindingKind::EmergencyUnreviewed && f.request_id == Some(id)));
    sort(state, keep);
}

/// The least time between two automatic fetches of the findings.
const REFETCH_SECS: i64 = 2;

/// How many findings one further page brings.
pub const PAGE: usize = crate::model::api::DEFAULT_PAGE;

/// Asks the broker for the findings from the top, as many as are loaded (at least
/// a page), unless an answer is awaited. A further page asked before is forgotten:
/// its cursor belongs to the list this replaces.
pub(super) fn fetch(state: &mut State, now: Time) -> Vec<Effect> {
    let audit = &mut state.audit;
    if audit.loading {
        return Vec::new();
    }
    let loaded = audit.findings.as_ref().map_or(0, Vec::len);
    audit.loading = true;
    audit.stale = false;
    audit.asked_at = Some(now);
    audit.more_loading = false;
    audit.more_error = None;
    vec![Effect::FetchFindings(ListFindings {
        sort: Some(audit.sort),
        limit: Some(loaded.clamp(PAGE, MAX_PAGE)),
        ..ListFindings::default()
    })]
}

/// The next page of findings, when the Audit tab is shown within a page of its
/// last loaded finding and the broker holds more.
pub(super) fn wanted(state: &mut State) -> Option<Effect> {
    let audit = &state.audit;
    let held = audit.loading || audit.more_loading || audit.more_error.is_some();
    if state.tab != Tab::Audit || held || state.inspect().is_some() {
        return None;
    }
    let after = audit.next.clone()?;
    let loaded = audit.findings.as_ref().map_or(0, Vec::len);
    if audit.selected + state.page.max(1) < loaded {
        return None;
    }
    let sort = audit.sort;
    state.audit.more_loading = true;
    Some(Effect::FetchFindings(ListFindings {
        sort: Some(sort),
        limit: Some(PAGE),
        after: Some(after),
        ..ListFindings::default()
    }))
}

/// Keeps the Audit tab current: while it is shown, findings the log has moved past
/// are fetched again, at most every couple of seconds however busy the log is.
pub(super) fn refresh_if_stale(state: &mut State, now: Time) -> Vec<Effect> {
    let audit = &state.audit;
    let due = audit
        .asked_at
        .is_none_or(|at| (now - at).num_seconds() >= REFETCH_SECS);
    if state.tab == Tab::Audit && audit.stale && audit.findings.is_some() && due {
        return fetch(state, now);
    }
    Vec::new()
}

/// The broker's answer to `GET /v1/audit/findings` from the top.
pub(super) fn loaded(state: &mut State, result: Result<FindingsReport, String>, now: Time) {
    state.audit.loading = false;
    match result {
        Ok(report) => {
            let audit = &mut state.audit;
            // The selection follows its finding into the new list.
            let keep = audit.selected_finding().map(Finding::key);
            audit.next = report.next.clone();
            audit.total = report.total;
            audit.findings = Some(report.findings);
            audit.window = Some(report.window);
            audit.error = None;
            sort(state, keep);
            use_repeats(state, report.repeat_threshold, report.window, now);
            use_ticket_patterns(state, &report.ticket_patterns, now);
        }
        Err(error) => state.audit.error = Some(error),
    }
}

/// A further page arrived: its findings not already here are added after the
/// others, and the cursor moves on. A page asked for a list since replaced is
/// dropped.
pub(super) fn more_arrived(state: &mut State, after: &str, result: Result<FindingsReport, String>) {
    let audit = &mut state.audit;
    if audit.next.as_deref() != Some(after) || !audit.more_loading {
        return;
    }
    audit.more_loading = false;
    match result {
        Ok(report) => {
            let Some(findings) = &mut audit.findings else {
                return;
            };
            let known: std::collections::HashSet<String> =
                findings.iter().map(Finding::key).collect();
            findings.extend(
                report
                    .findings
                    .into_iter()
                    .filter(|f| !known.contains(&f.key())),
            );
            // A broker that answers with the cursor it was given would loop.
            audit.next = report.next.filter(|n| n != after);
            audit.total = report.total.or(audit.total);
        }
        Err(why) => audit.more_error = Some(why),
    }
}

/// Flags repeats with the broker's threshold and window from now on; a broker
/// that does not say leaves what is in effect.
fn use_repeats(
    state: &mut State,
    threshold: Option<u32>,
    window: crate::model::Duration,
    now: Time,
) {
    let Some(threshold) = threshold else { return };
    let hours = window.to_chrono().num_hours();
    let repeats = super::flags::Repeats {
        threshold: threshold.max(1) as usize,
        window_hours: if hours > 0 {
            hours
        } else {
            state.repeats.window_hours
        },
    };
    if repeats != state.repeats {
        state.repeats = repeats;
        super::listing::refresh(state, now);
    }
}

/// Flags reasons with the broker's ticket patterns from now on; patterns that
/// cannot be used here leave the defaults in place, with a notice saying so.
fn use_ticket_patterns(state: &mut State, patterns: &[String], now: Time) {
    // An empty list is a broker that does not say: keep what is in effect.
    if patterns.is_empty() || state.tickets.was_told(patterns) {
        return;
    }
    let tickets = match Tickets::from_broker(patterns) {
        Ok(tickets) => tickets,
        Err(why) => {
            state.set_notice(
                format!(
                    "the broker's ticket patterns cannot be used here ({why}); the no-ticket flag uses the defaults"
                ),
                now,
                true,
            );
            Tickets::defaults_instead_of(patterns)
        }
    };
    let changed = tickets.patterns() != state.tickets.patterns();
    state.tickets = tickets;
    if changed {
        super::listing::refresh(state, now);
    }
}

/// Shows a mark the broker recorded on the finding with that key.
pub(super) fn set_reviewed(state: &mut State, key: &str, review: &FindingReview) {
    for finding in state.audit.findings.iter_mut().flatten() {
        if finding.key() == key {
            finding.reviewed = Some(review.clone());
        }
    }
}
