//! Aligned columns for a terminal. Every cell is made inert the way `request ls`
//! shows it: escapes and bidi controls are written out (`\x1b`, `\u{202e}`), so
//! an auditor sees that they were injected.

use unicode_width::UnicodeWidthStr;

use crate::model::api::FindingsReport;
use crate::model::{AuditEvent, Time};

use super::{before, minute, tally};
use crate::client::sanitize_inline;

/// Lays out rows under a header, two spaces apart; the last column is not padded.
struct Table {
    header: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    fn new(header: Vec<&'static str>) -> Self {
        Table {
            header,
            rows: Vec::new(),
        }
    }

    fn push(&mut self, cells: Vec<String>) {
        self.rows.push(
            cells
                .iter()
                .map(|cell| sanitize_inline(cell).into_owned())
                .collect(),
        );
    }

    fn write(&self, out: &mut String) {
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.width()).collect();
        for row in &self.rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.width());
            }
        }
        let header: Vec<String> = self.header.iter().map(|h| h.to_string()).collect();
        for row in std::iter::once(&header).chain(&self.rows) {
            let last = row.len().saturating_sub(1);
            let mut line = String::new();
            for (i, (cell, width)) in row.iter().zip(&widths).enumerate() {
                line.push_str(cell);
                if i < last {
                    line.push_str(&" ".repeat(width - cell.width() + 2));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
    }
}

fn or_dash(text: Option<&str>) -> String {
    match text {
        Some(text) if !text.is_empty() => text.to_string(),
        _ => "-".to_string(),
    }
}

pub fn findings(report: &FindingsReport, now: Time) -> String {
    let start = before(now, report.window);
    let mut out = format!(
        "Findings {} to {} UTC ({}): {}\n\n",
        minute(start),
        minute(now),
        report.window,
        tally(&report.findings)
    );
    if report.findings.is_empty() {
        out.push_str("No findings.\n");
    } else {
        // The key is kind:request:reviewer, what `audit mark` takes: one column
        // for the three it is made of.
        let mut table = Table::new(vec!["SEVERITY", "KEY", "USER", "AT", "REVIEWED", "DETAIL"]);
        for finding in &report.findings {
            table.push(vec![
                finding.severity.to_string(),
                finding.key(),
                or_dash(Some(&finding.user)),
                minute(finding.at),
                or_dash(finding.reviewed.as_ref().map(|r| r.by.as_str())),
                finding.detail.clone(),
            ]);
        }
        table.write(&mut out);
    }
    if !report.reviewers.is_empty() {
        out.push('\n');
        let mut table = Table::new(vec![
            "REVIEWER",
            "APPROVALS",
            "DENIALS",
            "MEDIAN TO APPROVE",
            "FAST APPROVALS",
        ]);
        for reviewer in &report.reviewers {
            table.push(vec![
                reviewer.reviewer.clone(),
                reviewer.approvals.to_string(),
                reviewer.denials.to_string(),
                or_dash(
                    reviewer
                        .median_time_to_approve
                        .map(|d| d.to_string())
                        .as_deref(),
                ),
                reviewer.approvals_under_two_minutes.to_string(),
            ]);
        }
        table.write(&mut out);
    }
    out
}

pub fn events(events: &[AuditEvent]) -> String {
    if events.is_empty() {
        return "No events.\n".into();
    }
    let mut table = Table::new(vec![
        "SEQ", "TIME", "TYPE", "USER", "REQUEST", "STATE", "ROLES", "REASON", "DETAILS",
    ]);
    for event in events {
        table.push(vec![
            event.seq.to_string(),
            event.time.format("%Y-%m-%d %H:%M:%S").to_string(),
            event.kind.to_string(),
            or_dash(Some(&event.user)),
            or_dash(event.request_id.map(|id| id.to_string()).as_deref()),
            or_dash(event.state.map(|s| s.as_str())),
            or_dash(Some(&event.roles.join(","))),
            or_dash(event.reason.as_deref()),
            or_dash(Some(&super::fields_text(event))),
        ]);
    }
    let mut out = String::new();
    table.write(&mut out);
    out
}
