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
        Format::Json => json(report),
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

fn json<T: Serialize>(value: &T) -> String {
    match serde_json::to_string_pretty(value) {
        Ok(mut text) => {
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

/// The string with terminal control removed: escape sequences (CSI, OSC and the
/// rest) and control characters are dropped, line breaks and tabs become spaces,
/// and bidirectional overrides are dropped so text cannot be shown reordered.
pub fn terminal_safe(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => match chars.next() {
                Some('[') => skip_csi(&mut chars),
                Some(']' | 'P' | '^' | '_' | 'X') => skip_string(&mut chars),
                _ => {}
            },
            '\u{9b}' => skip_csi(&mut chars),
            '\u{9d}' | '\u{90}' | '\u{9e}' | '\u{9f}' | '\u{98}' => skip_string(&mut chars),
            '\n' | '\r' | '\t' => out.push(' '),
            c if c.is_control() || is_bidi_control(c) => {}
            c => out.push(c),
        }
    }
    out
}

fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Parameters and intermediates up to and including the final byte of a CSI.
fn skip_csi(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    for c in chars.by_ref() {
        if ('\u{40}'..='\u{7e}').contains(&c) {
            return;
        }
        if !('\u{20}'..='\u{3f}').contains(&c) {
            // Not a well-formed sequence: stop here, having dropped the junk.
            return;
        }
    }
}

/// An OSC/DCS-style string, up to its terminator (BEL, ST or ESC \).
fn skip_string(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    while let Some(c) = chars.next() {
        match c {
            '\u{7}' | '\u{9c}' => return,
            '\u{1b}' => {
                if chars.peek() == Some(&'\\') {
                    chars.next();
                }
                return;
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests;
