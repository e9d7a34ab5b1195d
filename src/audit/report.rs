//! Report formats for `countersign audit findings` and `countersign audit events`:
//! an aligned table for people, the API's JSON, CSV for spreadsheets, and Markdown to
//! paste into a review ticket.

mod csv;
mod markdown;
mod table;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::model::api::FindingsReport;
use crate::model::{AuditEvent, Finding, Severity, Time};

use super::text::before;
pub use super::text::terminal_safe;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    #[default]
    Table,
    Json,
    Csv,
    Markdown,
}

impl Format {
    pub const ALL: [Format; 4] = [Format::Table, Format::Json, Format::Csv, Format::Markdown];

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Table => "table",
            Format::Json => "json",
            Format::Csv => "csv",
            Format::Markdown => "markdown",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "table" => Ok(Format::Table),
            "json" => Ok(Format::Json),
            "csv" => Ok(Format::Csv),
            "markdown" | "md" => Ok(Format::Markdown),
            _ => Err(format!(
                "unknown format {s:?} (table, json, csv or markdown)"
            )),
        }
    }
}

/// The weekly findings in `format`. `now` is the end of the report's window.
pub fn render(report: &FindingsReport, format: Format, now: Time) -> String {
    match format {
        Format::Table => table::findings(report, now),
        Format::Json => json(&with_keys(report)),
        Format::Csv => csv::findings(report),
        Format::Markdown => markdown::findings(report, now),
    }
}

/// A listing of audit events in `format`; JSON is an array of the API's events.
pub fn render_events(events: &[AuditEvent], format: Format) -> String {
    match format {
        Format::Table => table::events(events),
        Format::Json => json(&events),
        Format::Csv => csv::events(events),
        Format::Markdown => markdown::events(events),
    }
}

/// The API's findings body with each finding's key beside its fields, the one
/// `audit mark` takes.
fn with_keys(report: &FindingsReport) -> serde_json::Value {
    let mut value = serde_json::to_value(report).unwrap_or(serde_json::Value::Null);
    let rows = value
        .get_mut("findings")
        .and_then(serde_json::Value::as_array_mut);
    for (row, finding) in rows.into_iter().flatten().zip(&report.findings) {
        if let Some(object) = row.as_object_mut() {
            object.insert("key".into(), serde_json::Value::String(finding.key()));
        }
    }
    value
}

fn json<T: Serialize>(value: &T) -> String {
    match serde_json::to_string_pretty(value) {
        Ok(text) => {
            let mut text = crate::client::json_inert(&text).into_owned();
            text.push('\n');
            text
        }
        // The model types always serialize; say so plainly if that ever changes.
        Err(err) => format!("{{\"error\": {:?}}}\n", err.to_string()),
    }
}

/// `2026-11-21 13:00` (UTC), as the human formats show times.
fn minute(t: Time) -> String {
    t.format("%Y-%m-%d %H:%M").to_string()
}

/// RFC 3339 to the second, as the machine formats show times.
fn rfc3339(t: Time) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// An event's type-specific fields as `key=value` pairs, keys in order.
fn fields_text(event: &AuditEvent) -> String {
    event
        .fields
        .iter()
        .map(|(key, value)| match value {
            serde_json::Value::String(text) => format!("{key}={text}"),
            other => format!("{key}={other}"),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `3 findings (1 high, 1 medium, 1 low), 1 marked reviewed`
fn tally(findings: &[Finding]) -> String {
    let count = |severity| findings.iter().filter(|f| f.severity == severity).count();
    let reviewed = findings.iter().filter(|f| f.reviewed.is_some()).count();
    let noun = if findings.len() == 1 {
        "finding"
    } else {
        "findings"
    };
    format!(
        "{} {noun} ({} high, {} medium, {} low), {reviewed} marked reviewed",
        findings.len(),
        count(Severity::High),
        count(Severity::Medium),
        count(Severity::Low)
    )
}

#[cfg(test)]
mod tests;
