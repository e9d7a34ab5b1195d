//! Each format pinned on one small week, with hostile text in it.

use std::collections::HashMap;

use crate::audit::tests::{after, ago, approved, event, now, request};
use crate::audit::{AuditConfig, Format, analyze, apply_reviews, render, render_events};
use crate::model::api::FindingsReport;
use crate::model::{AuditEvent, Duration, EventType, FindingKind, FindingReview, State};

use super::terminal_safe;
use super::{csv, markdown};

const HOUR: i64 = 3600;
const DAY: i64 = 86_400;

const HOSTILE: &str = "=HYPERLINK(\"http://evil\")|x\n\u{1b}[31mred\u{1b}[0m \u{1b}]0;pwned\u{7}[link](http://evil) <b>";

fn week() -> (FindingsReport, Vec<AuditEvent>) {
    // alice: no ticket, approved by carrot in 48s, held 3h10m against 1h.
    let mut quick = request(1);
    quick.reason = "need to look at something".into();
    quick.estimate = Some(Duration::from_hours(1));
    quick.created_at = ago(2 * DAY);
    let start = after(quick.created_at, 48);
    let mut quick = approved(quick, "carrot", start, 4 * HOUR);
    quick.state = State::Returned;
    if let Some(access) = quick.access.as_mut() {
        access.returned_at = Some(after(start, 3 * HOUR + 600));
    }

    // bob: an emergency four days ago, never reviewed afterwards.
    let mut emergency = request(2);
    emergency.user = "bob".into();
    emergency.reason = "EMERGENCY: db down INC-12".into();
    emergency.emergency = true;
    emergency.created_at = ago(4 * DAY);
    let mut emergency = approved(emergency, "adora", ago(4 * DAY - 600), HOUR);
    emergency.state = State::Elapsed;

    // mallory: a hostile reason, then tries to approve it herself.
    let mut hostile = request(3);
    hostile.user = "mallory".into();
    hostile.reason = HOSTILE.into();
    hostile.created_at = ago(DAY);

    // charlie: approved by override.
    let mut overridden = request(4);
    overridden.user = "charlie".into();
    overridden.reason = "deploy OPS-9".into();
    overridden.created_at = ago(3 * DAY);
    overridden.state = State::Approved;
    overridden.granted_roles = overridden.roles.clone();
    overridden.resolved_by = Some("vimes".into());
    overridden.resolved_at = Some(ago(3 * DAY - 900));
    overridden.resolve_reason = Some("carrot on leave".into());

    // dave: the same database role three times, each denied by carrot.
    let repeats = (0..3).map(|i| {
        let mut r = request(10 + i);
        r.user = "dave".into();
        r.roles = vec!["db-access".into()];
        r.reason = format!("report #{i}");
        r.created_at = ago(DAY * (i as i64 + 1) + HOUR);
        r.state = State::Denied;
        r.reviews.push(crate::audit::tests::review(
            "carrot",
            crate::model::Decision::Deny,
            after(r.created_at, 1800),
        ));
        r
    });

    let requests: Vec<_> = [quick, emergency, hostile, overridden]
        .into_iter()
        .chain(repeats)
        .collect();
    let mut refused = event(
        7,
        EventType::ReviewRefused,
        "mallory",
        Some(3),
        ago(DAY - 60),
    );
    refused.fields.insert("error".into(), "self_review".into());
    refused.reason = Some(HOSTILE.into());
    refused.state = Some(State::Pending);
    let mut create = event(6, EventType::Create, "mallory", Some(3), ago(DAY));
    create.reason = Some(HOSTILE.into());
    create.state = Some(State::Pending);
    let events = vec![create, refused];

    let config = AuditConfig::default().compile().unwrap();
    let mut report = analyze(&config, ago(168 * HOUR), now(), &requests, &events);
    let marked = report
        .findings
        .iter()
        .find(|f| f.kind == FindingKind::Override)
        .map(|f| f.key())
        .unwrap_or_default();
    let marks = HashMap::from([(
        marked,
        FindingReview {
            by: "carrot".into(),
            note: "-checked with vimes\nall fine | closed".into(),
            at: ago(HOUR),
        },
    )]);
    apply_reviews(&mut report.findings, &marks);
    (report, events)
}

#[test]
fn table_is_aligned_and_inert() {
    let (report, _) = week();
    let text = render(&report, Format::Table, now());
    assert!(
        !text.contains('\u{1b}') && !text.contains('\u{7}'),
        "{text}"
    );
    insta::assert_snapshot!("findings_table", text);
}

#[test]
fn json_is_the_api_body() {
    let (report, _) = week();
    let text = render(&report, Format::Json, now());
    let back: FindingsReport = serde_json::from_str(&text).unwrap();
    assert_eq!(back, report);
    assert_eq!(back.findings.len(), 8);
}

#[test]
fn csv_findings() {
    let (report, _) = week();
    let text = render(&report, Format::Csv, now());
    // One CRLF per record; the note's own line break stays inside its quoted cell.
    assert!(text.ends_with("\r\n"));
    assert_eq!(text.matches("\r\n").count(), report.findings.len() + 1);
    assert!(text.contains("\"'-checked with vimes\nall fine | closed\""));
    insta::assert_snapshot!("findings_csv", text);
}

#[test]
fn markdown_findings() {
    let (report, _) = week();
    let text = render(&report, Format::Markdown, now());
    // Every table row has exactly its columns: no stray `|` from user text.
    for line in text.lines().filter(|l| l.starts_with('|')) {
        let cells = line.replace("\\|", "").matches('|').count();
        assert!(cells == 8 || cells == 6, "{line}");
    }
    insta::assert_snapshot!("findings_markdown", text);
}

#[test]
fn empty_week_in_every_format() {
    let report = FindingsReport {
        findings: vec![],
        window: Duration::from_hours(168),
        reviewers: vec![],
        ticket_patterns: Vec::new(),
        repeat_threshold: None,
        next: None,
        total: None,
    };
    let table = render(&report, Format::Table, now());
    assert_eq!(
        table,
        "Findings 2026-11-14 12:00 to 2026-11-21 12:00 UTC (168h): 0 findings (0 high, 0 medium, 0 low), 0 marked reviewed\n\nNo findings.\n"
    );
    let csv = render(&report, Format::Csv, now());
    assert_eq!(csv.lines().count(), 1);
    let markdown = render(&report, Format::Markdown, now());
    assert_eq!(markdown.matches("None in this window.").count(), 7);
    assert!(markdown.ends_with("No reviews in this window.\n"));
}

#[test]
fn events_in_every_format() {
    let (_, events) = week();
    let table = render_events(&events, Format::Table);
    assert!(!table.contains('\u{1b}'));
    insta::assert_snapshot!("events_table", table);
    insta::assert_snapshot!("events_csv", render_events(&events, Format::Csv));
    insta::assert_snapshot!("events_markdown", render_events(&events, Format::Markdown));
    let json = render_events(&events, Format::Json);
    let back: Vec<AuditEvent> = serde_json::from_str(&json).unwrap();
    assert_eq!(back, events);
    assert_eq!(render_events(&[], Format::Table), "No events.\n");
}

#[test]
fn csv_cells_quote_and_guard_formulas() {
    let cases = [
        ("plain", "plain"),
        ("", ""),
        ("a,b", "\"a,b\""),
        ("say \"hi\"", "\"say \"\"hi\"\"\""),
        ("two\nlines", "\"two\nlines\""),
        ("=1+2", "'=1+2"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        (
            "=HYPERLINK(\"x\",\"y\")",
            "\"'=HYPERLINK(\"\"x\"\",\"\"y\"\")\"",
        ),
        ("a=b", "a=b"),
    ];
    for (input, expected) in cases {
        assert_eq!(csv::cell(input), expected, "{input:?}");
    }
}

#[test]
fn markdown_cells_escape() {
    let cases = [
        ("plain text", "plain text"),
        ("a|b", "a\\|b"),
        ("one\ntwo\r\nthree", "one<br>two<br>three"),
        ("[x](http://evil)", "\\[x\\](http://evil)"),
        ("<script>", "\\<script\\>"),
        ("*bold* _it_ `code`", "\\*bold\\* \\_it\\_ \\`code\\`"),
        ("back\\slash", "back\\\\slash"),
        // Shown inertly, as `request ls` shows it: an auditor sees the injection.
        ("\u{1b}[2Jgone", "\\\\x1b\\[2Jgone"),
    ];
    for (input, expected) in cases {
        assert_eq!(markdown::cell(input), expected, "{input:?}");
    }
}

#[test]
fn terminal_text_is_inert() {
    let cases = [
        ("héllo 日本", "héllo 日本"),
        ("\u{1b}[31mred\u{1b}[0m", "red"),
        ("\u{1b}]0;title\u{7}after", "after"),
        ("\u{1b}]8;;http://x\u{1b}\\link", "link"),
        ("a\nb\tc\rd", "a b c d"),
        ("\u{202e}txt.exe", "txt.exe"),
        ("\u{9b}2Jx", "x"),
        ("bell\u{7}\u{0}\u{7f}", "bell"),
        ("\u{1b}Mup", "up"),
        ("trailing\u{1b}", "trailing"),
    ];
    for (input, expected) in cases {
        assert_eq!(terminal_safe(input), expected, "{input:?}");
    }
}

#[test]
fn formats_parse() {
    for format in Format::ALL {
        assert_eq!(format.as_str().parse::<Format>(), Ok(format));
    }
    assert_eq!("md".parse::<Format>(), Ok(Format::Markdown));
    assert_eq!("JSON".parse::<Format>(), Ok(Format::Json));
    assert!(
        "yaml"
            .parse::<Format>()
            .unwrap_err()
            .contains("table, json, csv or markdown")
    );
}

#[test]
fn every_format_names_each_findings_key_as_audit_mark_takes_it() {
    let (report, _) = week();
    let json: serde_json::Value =
        serde_json::from_str(&render(&report, Format::Json, now())).unwrap();
    let keys: Vec<&str> = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["key"].as_str().unwrap())
        .collect();
    let expected: Vec<String> = report.findings.iter().map(|f| f.key()).collect();
    assert_eq!(keys, expected);
    let table = render(&report, Format::Table, now());
    let csv = render(&report, Format::Csv, now());
    let markdown = render(&report, Format::Markdown, now());
    for finding in &report.findings {
        let key = finding.key();
        // Keys hold only the kind, a UUID and a reviewer's name: shown as they are.
        if key.chars().all(|c| c.is_ascii_graphic()) {
            assert!(table.contains(&key), "table lacks {key}:\n{table}");
            assert!(csv.contains(&key), "csv lacks {key}:\n{csv}");
            assert!(
                markdown.contains(&format!("`{key}`")),
                "markdown lacks {key}:\n{markdown}"
            );
        }
    }
}
