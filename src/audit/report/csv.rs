//! RFC 4180 CSV (CRLF line ends, fields quoted when needed, quotes doubled), with
//! cells that a spreadsheet would read as a formula made inert.

use crate::model::AuditEvent;
use crate::model::api::FindingsReport;

use super::rfc3339;

/// One cell: a leading `=`, `+`, `-`, `@`, tab or carriage return would start a
/// formula in a spreadsheet, so such cells get a leading `'`; then RFC 4180 quoting.
pub fn cell(text: &str) -> String {
    let guarded = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_string()
    };
    if guarded.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", guarded.replace('"', "\"\""))
    } else {
        guarded
    }
}

fn write_row(out: &mut String, cells: &[&str]) {
    let line: Vec<String> = cells.iter().map(|text| cell(text)).collect();
    out.push_str(&line.join(","));
    out.push_str("\r\n");
}

pub fn findings(report: &FindingsReport) -> String {
    let mut out = String::new();
    write_row(
        &mut out,
        &[
            "key",
            "severity",
            "kind",
            "request_id",
            "user",
            "reviewer",
            "roles",
            "at",
            "detail",
            "reviewed_by",
            "reviewed_at",
            "review_note",
        ],
    );
    for finding in &report.findings {
        let review = finding.reviewed.as_ref();
        write_row(
            &mut out,
            &[
                &finding.key(),
                &finding.severity.to_string(),
                finding.kind.as_str(),
                &finding
                    .request_id
                    .map(|id| id.to_string())
                    .unwrap_or_default(),
                &finding.user,
                finding.reviewer.as_deref().unwrap_or_default(),
                &finding.roles.join(" "),
                &rfc3339(finding.at),
                &finding.detail,
                review.map(|r| r.by.as_str()).unwrap_or_default(),
                &review.map(|r| rfc3339(r.at)).unwrap_or_default(),
                review.map(|r| r.note.as_str()).unwrap_or_default(),
            ],
        );
    }
    out
}

pub fn events(events: &[AuditEvent]) -> String {
    let mut out = String::new();
    write_row(
        &mut out,
        &[
            "seq",
            "time",
            "type",
            "code",
            "user",
            "request_id",
            "roles",
            "state",
            "reason",
            "fields",
            "hash",
        ],
    );
    for event in events {
        let fields = serde_json::to_string(&event.fields).unwrap_or_default();
        write_row(
            &mut out,
            &[
                &event.seq.to_string(),
                &rfc3339(event.time),
                event.kind.as_str(),
                &event.code,
                &event.user,
                &event
                    .request_id
                    .map(|id| id.to_string())
                    .unwrap_or_default(),
                &event.roles.join(" "),
                event.state.map(|s| s.as_str()).unwrap_or_default(),
                event.reason.as_deref().unwrap_or_default(),
                &fields,
                &event.hash,
            ],
        );
    }
    out
}
