//! A report to paste into a review ticket: a section per kind saying why it matters,
//! a table per section, then the reviewers.

use crate::model::api::FindingsReport;
use crate::model::{AuditEvent, FindingKind, Time};

use super::{before, minute, tally};
use crate::client::sanitize_inline;

/// The order sections appear in: the most serious kinds first.
const SECTIONS: [(FindingKind, &str, &str); 7] = [
    (
        FindingKind::Override,
        "Overrides",
        "An override skips the countersignature the thresholds require; each one should have a reason that survives an incident review.",
    ),
    (
        FindingKind::EmergencyUnreviewed,
        "Emergency access without a post-incident review",
        "The runbook makes a post-incident review mandatory for emergency access, whatever the outcome.",
    ),
    (
        FindingKind::RefusedReview,
        "Refused review attempts",
        "Someone tried to review what they may not, their own request above all: a mistake, or a probe of the controls.",
    ),
    (
        FindingKind::FastApproval,
        "Fast approvals",
        "An approval within minutes of the request can mean it was arranged beforehand rather than checked.",
    ),
    (
        FindingKind::Overheld,
        "Access held longer than the task needed",
        "Access kept past the stated task, or to the end of a long window, is standing access by another name.",
    ),
    (
        FindingKind::NoTicket,
        "Requests without a ticket",
        "A request should trace to a ticket or incident so the access can be matched to the work.",
    ),
    (
        FindingKind::RepeatRequest,
        "Repeated requests",
        "The same access asked for again and again should become a role change, or be questioned.",
    ),
];

/// A table cell: control characters written out inertly, line breaks as `<br>`, and Markdown's
/// punctuation escaped so user text cannot close the cell, format or link.
pub fn cell(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let normalized = text.replace("\r\n", "\n").replace('\r', "\n");
    for (i, line) in normalized.split('\n').enumerate() {
        if i > 0 {
            out.push_str("<br>");
        }
        // Shown, not obeyed and not hidden: the same inert form as `request ls`.
        for c in sanitize_inline(line).chars() {
            if matches!(
                c,
                '\\' | '|' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '~' | '#' | '!'
            ) {
                out.push('\\');
            }
            out.push(c);
        }
    }
    out
}

fn row(out: &mut String, cells: &[String]) {
    out.push('|');
    for text in cells {
        out.push(' ');
        out.push_str(text);
        out.push_str(" |");
    }
    out.push('\n');
}

fn header(out: &mut String, names: &[&str]) {
    row(
        out,
        &names.iter().map(|n| n.to_string()).collect::<Vec<_>>(),
    );
    out.push('|');
    out.push_str(&"---|".repeat(names.len()));
    out.push('\n');
}

/// A finding's key as code to copy, unless a backtick in it (from a hostile user
/// name) would end the code span: then escaped like any other cell.
fn key_cell(key: &str) -> String {
    let inert = sanitize_inline(key);
    if inert.contains(['`', '|']) {
        cell(key)
    } else {
        format!("`{inert}`")
    }
}

fn or_dash(text: Option<String>) -> String {
    text.filter(|t| !t.is_empty()).unwrap_or_else(|| "–".into())
}

pub fn findings(report: &FindingsReport, now: Time) -> String {
    let start = before(now, report.window);
    let mut out = format!(
        "# Access review: {} to {} UTC\n\nWindow {}: {}.\n",
        minute(start),
        minute(now),
        report.window,
        tally(&report.findings),
    );
    for (kind, title, why) in SECTIONS {
        let found: Vec<_> = report.findings.iter().filter(|f| f.kind == kind).collect();
        out.push_str(&format!("\n## {title} ({})\n\n{why}\n\n", found.len()));
        if found.is_empty() {
            out.push_str("None in this window.\n");
            continue;
        }
        header(
            &mut out,
            &[
                "Severity",
                "Key (for audit mark)",
                "User",
                "Reviewer",
                "When (UTC)",
                "Detail",
                "Reviewed",
            ],
        );
        for finding in found {
            let reviewed = finding
                .reviewed
                .as_ref()
                .map(|r| cell(&format!("{}: {}", r.by, r.note)));
            row(
                &mut out,
                &[
                    finding.severity.to_string(),
                    key_cell(&finding.key()),
                    or_dash(Some(cell(&finding.user))),
                    or_dash(finding.reviewer.as_deref().map(cell)),
                    minute(finding.at),
                    cell(&finding.detail),
                    or_dash(reviewed),
                ],
            );
        }
    }
    out.push_str("\n## Reviewers\n\n");
    if report.reviewers.is_empty() {
        out.push_str("No reviews in this window.\n");
        return out;
    }
    header(
        &mut out,
        &[
            "Reviewer",
            "Approvals",
            "Denials",
            "Median time to approve",
            "Fast approvals",
        ],
    );
    for reviewer in &report.reviewers {
        row(
            &mut out,
            &[
                cell(&reviewer.reviewer),
                reviewer.approvals.to_string(),
                reviewer.denials.to_string(),
                or_dash(reviewer.median_time_to_approve.map(|d| d.to_string())),
                reviewer.approvals_under_two_minutes.to_string(),
            ],
        );
    }
    out
}

pub fn events(events: &[AuditEvent]) -> String {
    let mut out = String::from("# Audit events\n\n");
    if events.is_empty() {
        out.push_str("No events.\n");
        return out;
    }
    header(
        &mut out,
        &[
            "Seq",
            "Time (UTC)",
            "Type",
            "User",
            "Request",
            "State",
            "Roles",
            "Reason",
            "Details",
        ],
    );
    for event in events {
        row(
            &mut out,
            &[
                event.seq.to_string(),
                event.time.format("%Y-%m-%d %H:%M:%S").to_string(),
                format!("`{}`", event.kind),
                cell(&event.user),
                or_dash(event.request_id.map(|id| format!("`{id}`"))),
                or_dash(event.state.map(|s| s.to_string())),
                or_dash(Some(cell(&event.roles.join(", ")))),
                or_dash(event.reason.as_deref().map(cell)),
                or_dash(Some(cell(&super::fields_text(event)))),
            ],
        );
    }
    out
}
