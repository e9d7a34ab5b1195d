//! Rendered screens pinned with insta, drawn with a fixed clock on a TestBackend.

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::style::{Color, Modifier};
use unicode_width::UnicodeWidthStr;

use crate::console::action::Action;
use crate::console::fixtures::{RequestFixture, id, now, queue};
use crate::console::keymap::{Command, Keymap};
use crate::console::state::{Connection, RoleInfo, State};
use crate::console::theme::{Meaning, Theme};
use crate::console::update;
use crate::model::api::WhoAmI;
use crate::model::{Duration, Request};

fn state_with(requests: Vec<Request>, theme: Theme, width: u16, height: u16) -> State {
    let mut state = State::new("http://127.0.0.1:7800", Keymap::default(), theme);
    let mut act = |action| {
        update(&mut state, action, now());
    };
    act(Action::Resize { width, height });
    act(Action::WhoAmI(WhoAmI {
        user: "carrot".into(),
        roles: vec!["reviewer".into()],
        reviewable_roles: vec![
            "production-access".into(),
            "production-db-access".into(),
            "developer-db".into(),
        ],
        ..WhoAmI::default()
    }));
    act(Action::Roles(vec![
        RoleInfo {
            name: "production-access".into(),
            request_prompt: Some("Name the incident or ticket, and what you will touch.".into()),
            max_session_ttl: Some(Duration::from_hours(4)),
        },
        RoleInfo {
            name: "production-db-access".into(),
            request_prompt: None,
            max_session_ttl: Some(Duration::from_hours(1)),
        },
    ]));
    act(Action::Connection(Connection::Live));
    act(Action::Loaded(requests));
    state
}

fn render(state: &State, width: u16, height: u16) -> Buffer {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal
        .draw(|frame| super::draw(state, frame, now()))
        .unwrap();
    terminal.backend().buffer().clone()
}

/// The screen as text, one line per row, wide characters counted once.
fn screen(buffer: &Buffer) -> String {
    let area = buffer.area;
    let mut out = String::new();
    for y in 0..area.height {
        let mut x = 0;
        while x < area.width {
            let symbol = buffer[(x, y)].symbol();
            out.push_str(symbol);
            x += symbol.width().max(1) as u16;
        }
        out.push('\n');
    }
    out
}

/// Every row is exactly the terminal's width and no cell holds a control char.
fn assert_sound(buffer: &Buffer) {
    let area = buffer.area;
    for y in 0..area.height {
        let mut x = 0;
        let mut cells = 0;
        while x < area.width {
            let symbol = buffer[(x, y)].symbol();
            assert!(
                !symbol.chars().any(char::is_control),
                "control char at {x},{y}: {symbol:?}"
            );
            for c in symbol.chars() {
                assert!(
                    !matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'),
                    "bidi override at {x},{y}"
                );
            }
            let w = symbol.width().max(1);
            cells += w;
            x += w as u16;
        }
        assert_eq!(cells, area.width as usize, "row {y} is {cells} cells wide");
    }
}

fn type_text(state: &mut State, text: &str) {
    for c in text.chars() {
        let key = if c == '\n' {
            ratatui_textarea::Key::Enter
        } else {
            ratatui_textarea::Key::Char(c)
        };
        update(
            state,
            Action::Editor(ratatui_textarea::Input {
                key,
                ..Default::default()
            }),
            now(),
        );
    }
}

#[test]
fn queue_wide() {
    let state = state_with(queue(), Theme::no_color(), 160, 40);
    let buffer = render(&state, 160, 40);
    assert_sound(&buffer);
    insta::assert_snapshot!(screen(&buffer));
}

#[test]
fn detail_narrow_layout() {
    let mut state = state_with(queue(), Theme::no_color(), 100, 44);
    update(&mut state, Action::Command(Command::Down), now());
    let buffer = render(&state, 100, 44);
    assert_sound(&buffer);
    let text = screen(&buffer);
    // The detail is below the list, not beside it.
    let table_row = text.lines().position(|l| l.contains("requester")).unwrap();
    let detail_row = text.lines().position(|l| l.contains(" Detail ")).unwrap();
    assert!(detail_row > table_row);
    insta::assert_snapshot!(text);
}

#[test]
fn review_dialog_with_role_picker() {
    let mut state = state_with(queue(), Theme::no_color(), 120, 40);
    let index = state.rows.iter().position(|r| *r == id(6)).unwrap();
    state.select_index(index);
    update(&mut state, Action::Command(Command::Approve), now());
    type_text(
        &mut state,
        "Checked #512 with Ponder.\nProduction only, not the db.",
    );
    update(&mut state, Action::Command(Command::SwitchFocus), now());
    update(&mut state, Action::Command(Command::ToggleRole), now());
    let buffer = render(&state, 120, 40);
    assert_sound(&buffer);
    let text = screen(&buffer);
    assert!(text.contains("Ctrl-S submit"), "the submit key is shown");
    insta::assert_snapshot!(text);
}

#[test]
fn review_dialog_shows_refusal_and_prompt() {
    let mut state = state_with(queue(), Theme::no_color(), 120, 40);
    update(&mut state, Action::Command(Command::Deny), now());
    update(&mut state, Action::Command(Command::Submit), now());
    let buffer = render(&state, 120, 40);
    assert_sound(&buffer);
    let text = screen(&buffer);
    assert!(text.contains("✗ a reason is required"));
    assert!(text.contains("Name the incident or ticket"));
    insta::assert_snapshot!(text);
}

#[test]
fn too_small_says_so() {
    let state = state_with(queue(), Theme::no_color(), 50, 12);
    let buffer = render(&state, 50, 12);
    assert_sound(&buffer);
    let text = screen(&buffer);
    assert!(text.contains("at least 60×15"));
    assert!(!text.contains("requester"), "nothing else is drawn");
    insta::assert_snapshot!(text);
}

#[test]
fn help_overlay_scrolls_through_every_modes_commands_at_80x24() {
    use crate::console::command::ModeKind;
    let mut state = state_with(queue(), Theme::no_color(), 80, 24);
    update(&mut state, Action::Command(Command::Help), now());
    let first = screen(&render(&state, 80, 24));
    // The hint bar stays visible under the overlay, with help's own keys.
    let hints = first.lines().last().unwrap();
    assert!(
        hints.contains("PgDn") && hints.contains("? help"),
        "{hints}"
    );
    // Page down to the end, gathering what was shown.
    let mut seen = first.clone();
    for _ in 0..10 {
        update(&mut state, Action::Command(Command::PageDown), now());
        seen.push_str(&screen(&render(&state, 80, 24)));
    }
    for mode in ModeKind::ALL {
        assert!(seen.contains(mode.title()), "{mode:?} missing from help");
        for offer in crate::console::help::offers(&state, mode) {
            let about = crate::console::text::truncate(offer.about, 80 - 4 - 17);
            let about = about.trim_end_matches('…');
            assert!(
                seen.contains(about),
                "{:?} missing from help",
                offer.command
            );
        }
    }
    assert!(seen.contains("Flags: ! emergency"), "the legend");
    let last = screen(&render(&state, 80, 24));
    assert!(
        last.contains("+ new  ● marked"),
        "End shows the last line:\n{last}"
    );
    // End and back to the top.
    update(&mut state, Action::Command(Command::Top), now());
    assert_eq!(screen(&render(&state, 80, 24)), first);
    update(&mut state, Action::Command(Command::Bottom), now());
    assert_eq!(screen(&render(&state, 80, 24)), last);
    insta::assert_snapshot!(first);
}

#[test]
fn status_says_when_the_brokers_notifications_have_failed() {
    use crate::model::api::NotificationSummary;
    let mut state = state_with(queue(), Theme::no_color(), 120, 30);
    let status = |state: &State| {
        screen(&render(state, 120, 30))
            .lines()
            .nth(28)
            .unwrap()
            .to_string()
    };
    assert!(
        !status(&state).contains("notification"),
        "nothing asked yet"
    );
    let summary = |failed| NotificationSummary {
        pending: 4,
        sent: 10,
        failed,
    };
    update(&mut state, Action::Notifications(summary(0)), now());
    assert!(
        !status(&state).contains("notification"),
        "{}",
        status(&state)
    );
    update(&mut state, Action::Notifications(summary(3)), now());
    assert!(
        status(&state).contains("✉ 3 notifications failed"),
        "{}",
        status(&state)
    );
    update(&mut state, Action::Notifications(summary(1)), now());
    assert!(
        status(&state).contains("✉ 1 notification failed"),
        "{}",
        status(&state)
    );
}

#[test]
fn status_shows_frozen_filter_new_and_offline() {
    let mut state = state_with(queue(), Theme::no_color(), 160, 30);
    update(&mut state, Action::Command(Command::Freeze), now());
    update(
        &mut state,
        Action::Upserted(RequestFixture::new(7, "vimes").build()),
        now(),
    );
    update(&mut state, Action::Connection(Connection::Offline), now());
    let later = now() + chrono::TimeDelta::seconds(3);
    let mut terminal = Terminal::new(TestBackend::new(160, 30)).unwrap();
    terminal
        .draw(|frame| super::draw(&state, frame, later))
        .unwrap();
    let text = screen(terminal.backend().buffer());
    let status = text.lines().nth(28).unwrap();
    assert!(status.contains("○ offline"), "{status}");
    assert!(status.contains("updated 3s ago"), "{status}");
    assert!(status.contains("FROZEN (1 updates waiting)"), "{status}");
    update(&mut state, Action::Command(Command::Freeze), now());
    // In view, the new request carries its own `+`; the count is of those out of view.
    let text = screen(&render(&state, 160, 30));
    assert!(
        !text.lines().nth(28).unwrap().contains("new request"),
        "{text}"
    );
    assert!(
        text.lines().any(|l| l.contains("+") && l.contains("vimes")),
        "{text}"
    );
    update(&mut state, Action::Command(Command::NextTab), now());
    let text = screen(&render(&state, 160, 30));
    assert!(
        text.lines()
            .nth(28)
            .unwrap()
            .contains("+ 1 new request out of view"),
        "{text}"
    );
}

#[test]
fn emergency_rows_carry_style_and_glyph() {
    let state = state_with(queue(), Theme::default(), 160, 40);
    let buffer = render(&state, 160, 40);
    let emergency = Theme::default().style(Meaning::Emergency);
    let text = screen(&buffer);
    // Row 3 of the screen is the first table row (tabs, border, header).
    let row = text.lines().nth(3).unwrap();
    assert!(row.contains("angua") && row.contains('!'), "{row}");
    let y = 3;
    let x_requester = (0..buffer.area.width)
        .find(|&x| buffer[(x, y)].symbol() == "a" && buffer[(x + 1, y)].symbol() == "n")
        .unwrap();
    let cell = &buffer[(x_requester, y)];
    assert_eq!(cell.fg, emergency.fg.unwrap());
    assert!(cell.modifier.contains(Modifier::BOLD));
    let x_flag = (0..buffer.area.width)
        .find(|&x| buffer[(x, y)].symbol() == "!")
        .unwrap();
    assert_eq!(buffer[(x_flag, y)].fg, Color::Red);
    // A plain row does not.
    let plain_y = text.lines().position(|l| l.contains("vimes")).unwrap() as u16;
    let x = (0..buffer.area.width)
        .find(|&x| buffer[(x, plain_y)].symbol() == "v")
        .unwrap();
    assert_ne!(buffer[(x, plain_y)].fg, Color::Red);
}

#[test]
fn selection_is_visible_without_colour() {
    let state = state_with(queue(), Theme::no_color(), 160, 40);
    let buffer = render(&state, 160, 40);
    for x in 0..buffer.area.width {
        for y in 0..buffer.area.height {
            assert_eq!(buffer[(x, y)].fg, Color::Reset, "no colour at {x},{y}");
        }
    }
    let row = screen(&buffer).lines().nth(3).unwrap().to_string();
    assert!(row.contains('▶'), "{row}");
    assert!(buffer[(10, 3)].modifier.contains(Modifier::REVERSED));
    assert!(!buffer[(10, 4)].modifier.contains(Modifier::REVERSED));
}

fn hostile() -> Vec<Request> {
    let long: String = "EMERGENCY: ".to_string() + &"数据库 overflow ".repeat(300);
    assert!(long.len() > 4096);
    vec![
        RequestFixture::new(1, "mallory\u{1b}[2J\u{1b}]0;pwned\u{7}")
            .roles(["production-access\u{1b}[31m"])
            .reason("\u{1b}[2J\u{1b}]0;pwned\u{7} please \u{202e}gnp.exe\r\nsecond line\u{9b}31m")
            .build(),
        RequestFixture::new(2, "李小龍")
            .roles(["数据库-访问"])
            .reason(&long)
            .build(),
        RequestFixture::new(3, "zalgo")
            .reason("Z\u{336}\u{31b}\u{30d}a\u{335}\u{30f}l\u{334}g\u{337}o\u{338} e\u{301}\u{301}\u{301} ﷽ 👩‍👩‍👧 #1")
            .build(),
    ]
}

#[test]
fn hostile_strings_render_inert_and_in_bounds() {
    for (width, height) in [(160, 40), (100, 30), (60, 15)] {
        for n in 1..=3 {
            let mut state = state_with(hostile(), Theme::no_color(), width, height);
            let index = state.rows.iter().position(|r| *r == id(n)).unwrap();
            state.select_index(index);
            assert_sound(&render(&state, width, height));
            update(&mut state, Action::Command(Command::Approve), now());
            type_text(&mut state, "\u{1b}[2J 数据库 \u{202e}x");
            assert_sound(&render(&state, width, height));
        }
    }
}

#[test]
fn hostile_queue_snapshot() {
    let state = state_with(hostile(), Theme::no_color(), 120, 30);
    let buffer = render(&state, 120, 30);
    assert_sound(&buffer);
    insta::assert_snapshot!(screen(&buffer));
}

#[test]
fn active_tab_counts_down_the_access_window() {
    let mut state = state_with(queue(), Theme::no_color(), 160, 30);
    update(&mut state, Action::Command(Command::NextTab), now());
    let text = screen(&render(&state, 160, 30));
    let row = text.lines().find(|l| l.contains("detritus")).unwrap();
    // Approved a minute ago for two hours.
    assert!(row.contains("1h59m"), "{row}");
    assert!(text.contains("ends in 1h59m"), "the detail counts down too");
    // An hour later, the countdown moved.
    let later = now() + chrono::TimeDelta::hours(1);
    let mut terminal = Terminal::new(TestBackend::new(160, 30)).unwrap();
    terminal
        .draw(|frame| super::draw(&state, frame, later))
        .unwrap();
    assert!(screen(terminal.backend().buffer()).contains("ends in 59m00s"));
}

#[test]
fn audit_tab_lists_findings_and_explains_the_selected_one() {
    use crate::model::{Finding, FindingKind, Severity};
    let mut state = state_with(queue(), Theme::no_color(), 160, 36);
    update(&mut state, Action::Command(Command::PrevTab), now());
    let loading = screen(&render(&state, 160, 36));
    assert!(loading.contains("loading findings"));
    let finding = |kind, severity, n: u64, detail: &str| Finding {
        kind,
        severity,
        request_id: Some(id(n)),
        user: "detritus".into(),
        reviewer: Some("carrot".into()),
        roles: vec!["production-access".into()],
        detail: detail.into(),
        at: now() - chrono::TimeDelta::hours(3),
        reviewed: None,
    };
    let report = crate::model::api::FindingsReport {
        findings: vec![
            finding(
                FindingKind::NoTicket,
                Severity::Low,
                5,
                "the reason names no ticket or incident",
            ),
            finding(
                FindingKind::RepeatRequest,
                Severity::Medium,
                4,
                "detritus asked for production-access 3 times in 7 days: make it permanent, or ask why",
            ),
        ],
        window: Duration::from_hours(168),
        reviewers: Vec::new(),
        ticket_patterns: Vec::new(),
        repeat_threshold: None,
        next: None,
        total: None,
    };
    update(&mut state, Action::Findings(Ok(report)), now());
    let buffer = render(&state, 160, 36);
    assert_sound(&buffer);
    let text = screen(&buffer);
    assert!(text.contains("[Audit 2]"));
    assert!(
        text.contains("The request"),
        "the finding's request is shown below it"
    );
    insta::assert_snapshot!(text);
}

#[test]
fn detail_shows_both_kinds_of_annotations() {
    let mut state = state_with(queue(), Theme::no_color(), 160, 60);
    update(&mut state, Action::Command(Command::Down), now());
    let text = screen(&render(&state, 160, 60));
    assert!(text.contains("Annotations (from the roles)"), "{text}");
    assert!(text.contains("Annotations (from the requester)"));
    assert!(text.contains("evidence-room/ledger-audit"));
}

fn audit_findings() -> Vec<crate::model::Finding> {
    use crate::model::{Finding, FindingKind, Severity};
    let finding =
        |kind, severity, n: u64, user: &str, reviewer: Option<&str>, detail: &str, hours| Finding {
            kind,
            severity,
            request_id: Some(id(n)),
            user: user.into(),
            reviewer: reviewer.map(str::to_string),
            roles: vec!["production-access".into()],
            detail: detail.into(),
            at: now() - chrono::TimeDelta::hours(hours),
            reviewed: None,
        };
    vec![
        finding(
            FindingKind::FastApproval,
            Severity::Medium,
            4,
            "detritus",
            Some("carrot"),
            "approved by carrot 40s after it was asked for",
            25,
        ),
        finding(
            FindingKind::EmergencyUnreviewed,
            Severity::High,
            7,
            "angua",
            None,
            "emergency access approved 1d ago has no post-incident review",
            23,
        ),
        finding(
            FindingKind::NoTicket,
            Severity::Low,
            5,
            "detritus",
            None,
            "reason \"same as yesterday\" names no ticket or incident",
            50,
        ),
        finding(
            FindingKind::NoTicket,
            Severity::Low,
            3,
            "detritus",
            None,
            "reason \"need to restart the thing again\" names no ticket or incident",
            1,
        ),
    ]
}

/// The Audit tab with `audit_findings()`, over the queue and an owed emergency.
fn audit_state(width: u16, height: u16) -> State {
    let mut requests = queue();
    requests.push(crate::console::fixtures::owed_emergency(7, "angua"));
    let mut state = state_with(requests, Theme::no_color(), width, height);
    update(&mut state, Action::Command(Command::PrevTab), now());
    let report = crate::model::api::FindingsReport {
        findings: audit_findings(),
        window: Duration::from_hours(168),
        reviewers: Vec::new(),
        ticket_patterns: Vec::new(),
        repeat_threshold: None,
        next: None,
        total: None,
    };
    update(&mut state, Action::Findings(Ok(report)), now());
    state
}

fn history_events() -> Vec<crate::model::AuditEvent> {
    use crate::console::fixtures::event;
    use crate::model::EventType;
    let mut created = event(
        31,
        EventType::Create,
        "detritus",
        4,
        60 * 26,
        Some("restart again"),
        &[],
    );
    created.state = Some(crate::model::State::Pending);
    let mut approved = event(
        33,
        EventType::Review,
        "carrot",
        4,
        60 * 25,
        Some("ok, but let's talk about making this permanent"),
        &[("decision", "approve")],
    );
    approved.state = Some(crate::model::State::Approved);
    let refused = event(
        32,
        EventType::ReviewRefused,
        "detritus",
        4,
        60 * 26 - 1,
        Some("approving my own, it's urgent"),
        &[("error", "self_review")],
    );
    vec![created, approved, refused]
}

#[test]
fn audit_tab_grouped_by_kind() {
    let mut state = audit_state(160, 30);
    update(&mut state, Action::Command(Command::Sort), now());
    update(&mut state, Action::Command(Command::Down), now());
    let buffer = render(&state, 160, 30);
    assert_sound(&buffer);
    let text = screen(&buffer);
    assert!(text.contains("grouped by kind"), "{text}");
    assert!(text.contains("2 findings"), "the no_ticket group's heading");
    insta::assert_snapshot!(text);
}

#[test]
fn mark_reviewed_dialog() {
    let mut state = audit_state(120, 36);
    update(&mut state, Action::Command(Command::Bottom), now());
    update(&mut state, Action::Command(Command::MarkReviewed), now());
    type_text(
        &mut state,
        "Asked detritus: the thing is the troll bridge pump.\nTicket OPS-311 raised for a runbook.",
    );
    let buffer = render(&state, 120, 36);
    assert_sound(&buffer);
    let text = screen(&buffer);
    assert!(text.contains("Mark finding reviewed"));
    assert!(text.contains("Ctrl-S submit"), "the submit key is shown");
    insta::assert_snapshot!(text);
}

#[test]
fn mark_reviewed_dialog_says_why_it_was_refused() {
    let mut state = audit_state(120, 36);
    update(&mut state, Action::Command(Command::MarkReviewed), now());
    update(&mut state, Action::Command(Command::Submit), now());
    let text = screen(&render(&state, 120, 36));
    assert!(text.contains("✗ a note is required"), "{text}");
    type_text(&mut state, "looked");
    let key = state.audit.selected_finding().unwrap().key();
    update(&mut state, Action::Command(Command::Submit), now());
    let text = screen(&render(&state, 120, 36));
    assert!(text.contains("submitting…"), "{text}");
    update(
        &mut state,
        Action::FindingMarked {
            key,
            result: Err(crate::console::action::ReviewError {
                code: Some(crate::model::api::ErrorCode::Forbidden),
                message: "marking findings reviewed needs rule event: update".into(),
            }),
        },
        now(),
    );
    let buffer = render(&state, 120, 36);
    assert_sound(&buffer);
    let text = screen(&buffer);
    assert!(
        text.contains("✗ your roles do not allow marking findings"),
        "{text}"
    );
    assert!(text.contains("looked"), "the note is still there");
}

#[test]
fn a_marked_finding_shows_its_reviewer_and_note() {
    let mut state = audit_state(160, 36);
    let key = state.audit.selected_finding().unwrap().key();
    update(&mut state, Action::Command(Command::MarkReviewed), now());
    type_text(&mut state, "paged angua; review booked for Monday");
    update(&mut state, Action::Command(Command::Submit), now());
    update(
        &mut state,
        Action::FindingMarked {
            key,
            result: Ok(crate::model::FindingReview {
                by: "vimes".into(),
                note: "paged angua; review booked for Monday".into(),
                at: now() - chrono::TimeDelta::minutes(2),
            }),
        },
        now(),
    );
    let buffer = render(&state, 160, 36);
    assert_sound(&buffer);
    let text = screen(&buffer);
    let row = text.lines().find(|l| l.contains('▶')).unwrap();
    assert!(row.contains("emergency_unreviewed"), "{row}");
    assert!(row.contains("✓ emergency access"), "{row}");
    assert!(
        text.contains("✓ reviewed by vimes 2m ago: paged angua; review booked for"),
        "{text}"
    );
    assert!(
        text.contains("marked emergency_unreviewed on"),
        "the status bar says so"
    );
}

#[test]
fn post_incident_review_dialog() {
    let mut state = audit_state(120, 36);
    // The emergency_unreviewed finding is the most severe: selected first.
    update(&mut state, Action::Command(Command::PostIncident), now());
    update(&mut state, Action::Command(Command::SwitchFocus), now());
    update(&mut state, Action::Command(Command::SwitchFocus), now());
    type_text(
        &mut state,
        "A restart by hand was not needed: the relay recovered on its own.",
    );
    let buffer = render(&state, 120, 36);
    assert_sound(&buffer);
    let text = screen(&buffer);
    assert!(text.contains("Post-incident review of request"));
    assert!(text.contains("◉ unjustified"), "{text}");
    assert!(
        text.contains("Tab outcome"),
        "the hint bar names the outcome key"
    );
    insta::assert_snapshot!(text);
}

#[test]
fn post_incident_review_dialog_wants_an_outcome_first() {
    let mut state = audit_state(100, 30);
    update(&mut state, Action::Command(Command::PostIncident), now());
    update(&mut state, Action::Command(Command::Submit), now());
    let buffer = render(&state, 100, 30);
    assert_sound(&buffer);
    let text = screen(&buffer);
    assert!(text.contains("○ justified"), "{text}");
    assert!(text.contains("✗ choose the outcome with Tab"), "{text}");
}

#[test]
fn finding_opens_the_request_with_its_history() {
    let mut state = audit_state(160, 44);
    update(&mut state, Action::Command(Command::Down), now());
    assert_eq!(
        state.audit.selected_finding().unwrap().request_id,
        Some(id(4))
    );
    update(&mut state, Action::Command(Command::Open), now());
    let loading = screen(&render(&state, 160, 44));
    assert!(loading.contains("fetching the audit events"), "{loading}");
    update(
        &mut state,
        Action::History {
            id: id(4),
            result: Ok(history_events()),
        },
        now(),
    );
    let buffer = render(&state, 160, 44);
    assert_sound(&buffer);
    let text = screen(&buffer);
    assert!(text.contains("from finding fast_approval"));
    assert!(text.contains("Audit history (3)"));
    for expected in [
        "#31",
        "access_request.create",
        "#33",
        "by carrot · decision approve · → approved",
        "error self_review",
        "Thresholds",
        "Resolution",
        "Esc back",
    ] {
        assert!(text.contains(expected), "{expected} missing:\n{text}");
    }
    insta::assert_snapshot!(text);

    // Narrow: stacked, and still sound; Esc returns to the same finding.
    for (width, height) in [(100, 40), (60, 15)] {
        update(&mut state, Action::Resize { width, height }, now());
        assert_sound(&render(&state, width, height));
    }
    update(&mut state, Action::Command(Command::Back), now());
    let text = screen(&render(&state, 60, 15));
    assert!(!text.contains("Audit history"));
    assert_eq!(
        state.audit.selected_finding().unwrap().request_id,
        Some(id(4))
    );
}

#[test]
fn a_request_the_console_does_not_hold_is_fetched_and_refusals_are_shown() {
    let mut state = audit_state(160, 40);
    // The last finding is about request 5; forget it to force a fetch.
    state.requests.remove(&id(5));
    update(&mut state, Action::Command(Command::Bottom), now());
    let effects = update(&mut state, Action::Command(Command::Open), now());
    assert!(effects.contains(&crate::console::action::Effect::FetchRequest(id(5))));
    let text = screen(&render(&state, 160, 40));
    assert!(text.contains("fetching the request"), "{text}");
    update(
        &mut state,
        Action::RequestFetched {
            id: id(5),
            result: Err("cannot fetch the request: not found".into()),
        },
        now(),
    );
    update(
        &mut state,
        Action::History {
            id: id(5),
            result: Err(
                "the audit history needs rule event: list, which your roles do not give".into(),
            ),
        },
        now(),
    );
    let buffer = render(&state, 160, 40);
    assert_sound(&buffer);
    let text = screen(&buffer);
    assert!(
        text.contains("cannot fetch the request: not found"),
        "{text}"
    );
    assert!(text.contains("needs rule event: list"), "{text}");
}

#[test]
fn hostile_findings_events_and_notes_render_inert() {
    use crate::console::fixtures::event;
    use crate::model::EventType;
    let nasty = "\u{1b}[2J\u{1b}]0;pwned\u{7} 数据库 \u{202e}gnp.exe\r\nline\u{9b}31m";
    for (width, height) in [(160, 40), (100, 30), (60, 15)] {
        let mut state = audit_state(width, height);
        if let Some(findings) = &mut state.audit.findings {
            for finding in findings.iter_mut() {
                finding.detail = nasty.repeat(20);
                finding.user = nasty.into();
                finding.reviewed = Some(crate::model::FindingReview {
                    by: nasty.into(),
                    note: nasty.into(),
                    at: now(),
                });
            }
        }
        assert_sound(&render(&state, width, height));
        update(&mut state, Action::Command(Command::MarkReviewed), now());
        type_text(&mut state, nasty);
        update(&mut state, Action::Command(Command::Submit), now());
        assert_sound(&render(&state, width, height));
        update(&mut state, Action::Command(Command::Cancel), now());
        update(&mut state, Action::Command(Command::Open), now());
        let mut hostile = event(
            1,
            EventType::Review,
            nasty,
            7,
            5,
            Some(nasty),
            &[("decision", nasty)],
        );
        hostile
            .fields
            .insert("error".into(), serde_json::Value::from(nasty));
        update(
            &mut state,
            Action::History {
                id: id(7),
                result: Ok(vec![hostile]),
            },
            now(),
        );
        assert_sound(&render(&state, width, height));
        update(&mut state, Action::Command(Command::PostIncident), now());
        type_text(&mut state, nasty);
        assert_sound(&render(&state, width, height));
    }
}

#[test]
fn live_says_up_to_date_and_catching_up_is_not_live() {
    let mut state = state_with(queue(), Theme::no_color(), 160, 30);
    let later = now() + chrono::TimeDelta::minutes(4);
    let status_at = |state: &State, at| {
        let mut terminal = Terminal::new(TestBackend::new(160, 30)).unwrap();
        terminal
            .draw(|frame| super::draw(state, frame, at))
            .unwrap();
        screen(terminal.backend().buffer())
            .lines()
            .nth(28)
            .unwrap()
            .to_string()
    };
    let status = status_at(&state, later);
    assert!(
        status.contains("● live") && status.contains("up to date"),
        "{status}"
    );
    assert!(
        !status.contains("updated"),
        "a quiet live queue is not old: {status}"
    );
    update(
        &mut state,
        Action::Connection(Connection::CatchingUp),
        later,
    );
    let status = status_at(&state, later);
    assert!(status.contains("◌ catching up"), "{status}");
    assert!(!status.contains("live"), "{status}");
    assert!(status.contains("updated 4m ago"), "{status}");
}

#[test]
fn the_audit_tab_says_when_its_findings_are_stale() {
    let mut state = state_with(queue(), Theme::no_color(), 160, 30);
    update(&mut state, Action::Command(Command::PrevTab), now());
    let report = crate::model::api::FindingsReport {
        findings: Vec::new(),
        window: Duration::from_hours(168),
        reviewers: Vec::new(),
        ticket_patterns: Vec::new(),
        repeat_threshold: None,
        next: None,
        total: None,
    };
    update(&mut state, Action::Findings(Ok(report)), now());
    let text = screen(&render(&state, 160, 30));
    assert!(!text.contains("stale"), "{text}");
    update(&mut state, Action::AuditChanged, now());
    let text = screen(&render(&state, 160, 30));
    assert!(text.contains("stale: the log moved since"), "{text}");
    update(
        &mut state,
        Action::Tick,
        now() + chrono::TimeDelta::seconds(5),
    );
    let text = screen(&render(&state, 160, 30));
    assert!(text.contains("updating…"), "{text}");
}

#[test]
fn a_denied_request_is_not_said_to_have_granted_anything() {
    let denied = RequestFixture::new(9, "vimes")
        .roles(["production-db-access"])
        .denied_by("carrot", "no ticket", 5)
        .state(crate::model::State::Denied)
        .build();
    assert!(
        !denied.granted_roles.is_empty(),
        "the broker fills granted_roles on a denial too"
    );
    let mut state = state_with(vec![denied], Theme::no_color(), 160, 40);
    update(&mut state, Action::Command(Command::NextTab), now());
    update(&mut state, Action::Command(Command::NextTab), now());
    let text = screen(&render(&state, 160, 40));
    assert!(text.contains("denied"), "{text}");
    assert!(!text.contains("granted"), "{text}");
}

#[test]
fn at_60_columns_roles_are_cut_with_an_ellipsis() {
    let long = RequestFixture::new(9, "vimes")
        .roles(["production-db-access", "production-access"])
        .build();
    let state = state_with(vec![long], Theme::no_color(), 60, 24);
    let text = screen(&render(&state, 60, 24));
    let row = text
        .lines()
        .find(|l| l.contains("vimes"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(row.contains("produ…"), "{row}");
}

#[test]
fn the_demo_panel_shows_the_environment_file_and_the_status_bar_names_it() {
    let mut state = state_with(queue(), Theme::no_color(), 160, 30);
    update(
        &mut state,
        Action::DemoEnv(crate::console::state::DemoEnv {
            path: "/tmp/countersign-demo-x/demo.env".into(),
            text: "export COUNTERSIGN_BROKER=http://127.0.0.1:1\nexport COUNTERSIGN_TOKEN_CARROT=cs_1\n"
                .into(),
        }),
        now(),
    );
    let text = screen(&render(&state, 160, 30));
    assert!(
        text.lines()
            .nth(28)
            .unwrap()
            .contains("tokens in /tmp/countersign-demo-x/demo.env (t)"),
        "{text}"
    );
    update(&mut state, Action::Command(Command::DemoEnv), now());
    let text = screen(&render(&state, 160, 30));
    assert!(
        text.contains("export COUNTERSIGN_TOKEN_CARROT=cs_1"),
        "{text}"
    );
    assert!(text.contains("source the file above"), "{text}");
}

/// The Active tab as an administrator, request 4 selected with two certificates.
fn active_admin_state(width: u16, height: u16) -> State {
    use crate::model::certificate::CertificateSummary;
    let mut state = state_with(queue(), Theme::no_color(), width, height);
    if let Some(me) = &mut state.whoami {
        me.can_override = true;
    }
    update(&mut state, Action::Command(Command::Tab2), now());
    let certificate = |serial: u64, revoked: bool, minutes_left: i64| CertificateSummary {
        serial,
        key_id: format!("countersign/detritus/{}", id(4)),
        principals: vec!["deploy".into(), "detritus".into()],
        valid_after: now() - chrono::TimeDelta::minutes(2),
        valid_before: now() + chrono::TimeDelta::minutes(minutes_left),
        fingerprint: "SHA256:abc".into(),
        issued_at: now() - chrono::TimeDelta::minutes(1),
        revoked,
    };
    update(
        &mut state,
        Action::Certificates {
            id: id(4),
            result: Ok(vec![
                certificate(7, false, 119),
                certificate(3, true, 60),
                certificate(2, false, -5),
            ]),
        },
        now(),
    );
    state
}

#[test]
fn active_detail_lists_certificates_and_offers_revoke_to_an_admin() {
    let state = active_admin_state(160, 44);
    let buffer = render(&state, 160, 44);
    assert_sound(&buffer);
    let text = screen(&buffer);
    for expected in [
        "Certificates (3)",
        "· #2 as deploy, detritus until 2026-03-14 09:25 UTC:",
        "    expired",
        "✗ #3 as deploy, detritus until 2026-03-14 10:30 UTC:",
        "revoked (in the KRL)",
        "✓ #7 as deploy, detritus until 2026-03-14 11:29 UTC:",
        "valid, 1h59m left",
        "x revoke",
    ] {
        assert!(text.contains(expected), "{expected:?} missing:\n{text}");
    }
    insta::assert_snapshot!(text);
}

#[test]
fn revoke_dialog_names_what_ends_and_refuses_a_blank_reason() {
    let mut state = active_admin_state(100, 30);
    update(&mut state, Action::Command(Command::Revoke), now());
    update(&mut state, Action::Command(Command::Submit), now());
    let buffer = render(&state, 100, 30);
    assert_sound(&buffer);
    let text = screen(&buffer);
    for expected in [
        "Revoke the access of request",
        "requester  detritus",
        "ends in 1h59m by itself",
        "✗ a reason is required",
    ] {
        assert!(text.contains(expected), "{expected:?} missing:\n{text}");
    }
    insta::assert_snapshot!(text);
}

#[test]
fn a_partial_audit_tab_counts_the_brokers_findings_and_says_how_many_are_loaded() {
    use crate::console::fixtures::harness::finding;
    use crate::model::{FindingKind, Severity};
    let mut state = state_with(queue(), Theme::no_color(), 100, 24);
    update(&mut state, Action::Command(Command::PrevTab), now());
    let findings = (0..30)
        .map(|n| finding(FindingKind::NoTicket, Severity::Low, 40 + n, n as i64 + 1))
        .collect();
    let report = crate::model::api::FindingsReport {
        findings,
        window: Duration::from_hours(168),
        reviewers: Vec::new(),
        ticket_patterns: Vec::new(),
        repeat_threshold: None,
        next: Some("30/no_ticket:x:".into()),
        total: Some(1203),
    };
    update(&mut state, Action::Findings(Ok(report)), now());
    let text = screen(&render(&state, 100, 24));
    insta::assert_snapshot!(text);
    assert!(text.contains("[Audit 1203]"), "{text}");
    assert!(text.contains("30 of 1203 loaded"), "{text}");
    update(&mut state, Action::Command(Command::Bottom), now());
    let text = screen(&render(&state, 100, 24));
    assert!(text.contains("loading more…"), "{text}");
}
