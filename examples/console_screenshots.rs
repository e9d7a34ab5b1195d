//! Regenerates `screenshots/`: the console's main screens drawn from fixture data
//! with a fixed clock, as plain text and as SVG.
//!
//!     cargo run --example console_screenshots
//!
//! Writes into `screenshots/` (or the directory given as the first argument).

use std::fmt::Write as _;
use std::path::PathBuf;

use countersign::console::action::Action;
use countersign::console::fixtures::{self, RequestFixture};
use countersign::console::keymap::{Command, Keymap};
use countersign::console::state::{Connection, RoleInfo, State};
use countersign::console::theme::Theme;
use countersign::console::{update, view};
use countersign::model::Duration;
use countersign::model::api::WhoAmI;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::style::{Color, Modifier};
use unicode_width::UnicodeWidthStr;

const CELL_W: f32 = 8.4;
const CELL_H: f32 = 17.0;

fn state(width: u16, height: u16) -> State {
    let now = fixtures::now();
    let mut state = State::new(
        "https://countersign.ankh-morpork.example",
        Keymap::default(),
        Theme::default(),
    );
    let actions = vec![
        Action::Resize { width, height },
        Action::WhoAmI(WhoAmI {
            user: "carrot".into(),
            roles: vec!["reviewer".into()],
            reviewable_roles: vec![
                "production-access".into(),
                "production-db-access".into(),
                "developer-db".into(),
            ],
            ..WhoAmI::default()
        }),
        Action::Roles(vec![RoleInfo {
            name: "production-access".into(),
            request_prompt: Some("Name the incident or ticket, and what you will touch.".into()),
            max_session_ttl: Some(Duration::from_hours(4)),
        }]),
        Action::Connection(Connection::Live),
        Action::Loaded(fixtures::queue()),
        Action::Upserted(
            RequestFixture::new(8, "adora-belle")
                .reason("Rotate the clacks relay TLS certificates, OPS-204")
                .age_mins(1)
                .build(),
        ),
    ];
    for action in actions {
        update(&mut state, action, now);
    }
    state
}

fn command(state: &mut State, command: Command) {
    update(state, Action::Command(command), fixtures::now());
}

fn screens() -> Vec<(&'static str, u16, u16, State)> {
    let mut screens = Vec::new();
    screens.push(("queue", 160, 40, state(160, 40)));

    let mut narrow = state(100, 44);
    command(&mut narrow, Command::Down);
    screens.push(("detail-narrow", 100, 44, narrow));

    let mut dialog = state(140, 40);
    command(&mut dialog, Command::Bottom);
    command(&mut dialog, Command::Up);
    command(&mut dialog, Command::Approve);
    for c in "Checked #512 with Ponder; production only.".chars() {
        let input = ratatui_textarea::Input {
            key: ratatui_textarea::Key::Char(c),
            ..Default::default()
        };
        update(&mut dialog, Action::Editor(input), fixtures::now());
    }
    command(&mut dialog, Command::SwitchFocus);
    screens.push(("review-dialog", 140, 40, dialog));

    let mut help = state(140, 45);
    command(&mut help, Command::Help);
    screens.push(("help", 140, 45, help));

    let mut history = state(160, 30);
    command(&mut history, Command::NextTab);
    command(&mut history, Command::NextTab);
    screens.push(("history", 160, 30, history));

    // History filtered, with the broker's search finding what is not loaded.
    let mut searched = state(160, 30);
    update(
        &mut searched,
        Action::OlderFrom(Some("older".into())),
        fixtures::now(),
    );
    command(&mut searched, Command::Filter);
    for c in "clacks".chars() {
        update(&mut searched, Action::FilterChar(c), fixtures::now());
    }
    command(&mut searched, Command::ApplyFilter);
    command(&mut searched, Command::Tab3);
    let found = [
        (40, "ponder", 60 * 24 * 40),
        (41, "adora-belle", 60 * 24 * 90),
    ]
    .map(|(n, user, age)| {
        RequestFixture::new(n, user)
            .reason("Replace the clacks tower relay firmware, OPS-88")
            .age_mins(age)
            .state(countersign::model::State::Returned)
            .build()
    })
    .to_vec();
    update(
        &mut searched,
        Action::Matches {
            q: "clacks".into(),
            result: Ok((found, Some("more".into()))),
        },
        fixtures::now(),
    );
    screens.push(("history-search", 160, 30, searched));
    screens.push(("audit", 160, 36, audit(160, 36)));

    let mut grouped = audit(160, 36);
    command(&mut grouped, Command::Sort);
    screens.push(("audit-grouped", 160, 36, grouped));

    // Not carrot's own fast approval: nobody marks a finding about themselves.
    let mut marking = audit(140, 36);
    command(&mut marking, Command::Down);
    command(&mut marking, Command::Down);
    command(&mut marking, Command::MarkReviewed);
    type_text(
        &mut marking,
        "Asked detritus: three releases in a week; a standing role is on its way, OPS-204.",
    );
    screens.push(("mark-reviewed", 140, 36, marking));

    let mut incident = audit(140, 36);
    command(&mut incident, Command::PostIncident);
    command(&mut incident, Command::SwitchFocus);
    type_text(
        &mut incident,
        "The relay was down for 40 minutes; access was used for the restart only.",
    );
    screens.push(("post-incident-review", 140, 36, incident));

    let mut history = audit(160, 40);
    command(&mut history, Command::Down);
    command(&mut history, Command::Open);
    update(
        &mut history,
        Action::History {
            id: fixtures::id(4),
            result: Ok(events()),
        },
        fixtures::now(),
    );
    screens.push(("request-history", 160, 40, history));

    screens.push(("active", 160, 44, active(160, 44)));
    let mut revoking = active(140, 36);
    command(&mut revoking, Command::Revoke);
    type_text(
        &mut revoking,
        "Detritus's laptop was reported stolen this morning, INC-2240.",
    );
    screens.push(("revoke-dialog", 140, 36, revoking));
    screens
}

/// The Active tab as an administrator, with the selected request's certificates.
fn active(width: u16, height: u16) -> State {
    use countersign::model::certificate::CertificateSummary;
    let mut active = state(width, height);
    if let Some(me) = &mut active.whoami {
        me.can_override = true;
    }
    command(&mut active, Command::Tab2);
    let now = fixtures::now();
    let certificate = |serial: u64, revoked: bool, hours: i64| CertificateSummary {
        serial,
        key_id: format!("countersign/detritus/{}", fixtures::id(4)),
        principals: vec!["deploy".into(), "detritus".into()],
        valid_after: now - chrono::TimeDelta::minutes(2),
        valid_before: now + chrono::TimeDelta::hours(hours),
        fingerprint: "SHA256:7Hq2…".into(),
        issued_at: now - chrono::TimeDelta::minutes(1),
        revoked,
    };
    update(
        &mut active,
        Action::Certificates {
            id: fixtures::id(4),
            result: Ok(vec![certificate(41, false, -1), certificate(42, false, 2)]),
        },
        now,
    );
    active
}

fn type_text(state: &mut State, text: &str) {
    for c in text.chars() {
        let input = ratatui_textarea::Input {
            key: ratatui_textarea::Key::Char(c),
            ..Default::default()
        };
        update(state, Action::Editor(input), fixtures::now());
    }
}

/// The Audit tab with `findings()`, over the queue and an emergency that owes its
/// post-incident review.
fn audit(width: u16, height: u16) -> State {
    let mut audit = state(width, height);
    update(
        &mut audit,
        Action::Upserted(fixtures::owed_emergency(7, "angua")),
        fixtures::now(),
    );
    command(&mut audit, Command::PrevTab);
    update(
        &mut audit,
        Action::Findings(Ok(findings())),
        fixtures::now(),
    );
    audit
}

/// Request 4's audit events: asked, a refused self-approval, approved.
fn events() -> Vec<countersign::model::AuditEvent> {
    use countersign::model::{EventType, State as RequestState};
    let mut created = fixtures::event(
        31,
        EventType::Create,
        "detritus",
        4,
        60 * 26,
        Some("restart again"),
        &[],
    );
    created.state = Some(RequestState::Pending);
    let refused = fixtures::event(
        32,
        EventType::ReviewRefused,
        "detritus",
        4,
        60 * 26 - 1,
        Some("approving my own, it's urgent"),
        &[("error", "self_review")],
    );
    let mut approved = fixtures::event(
        33,
        EventType::Review,
        "carrot",
        4,
        60 * 25,
        Some("ok, but let's talk about making this permanent"),
        &[("decision", "approve")],
    );
    approved.state = Some(RequestState::Approved);
    vec![created, refused, approved]
}

fn findings() -> countersign::model::api::FindingsReport {
    use countersign::model::{Finding, FindingKind, Severity};
    let finding = |kind, severity, n, reviewer: Option<&str>, detail: &str, hours| Finding {
        kind,
        severity,
        request_id: Some(fixtures::id(n)),
        user: "detritus".into(),
        reviewer: reviewer.map(str::to_string),
        roles: vec!["production-access".into()],
        detail: detail.into(),
        at: fixtures::now() - chrono::TimeDelta::hours(hours),
        reviewed: None,
    };
    countersign::model::api::FindingsReport {
        findings: vec![
            Finding {
                user: "angua".into(),
                ..finding(
                    FindingKind::EmergencyUnreviewed,
                    Severity::High,
                    7,
                    None,
                    "emergency access approved 1d ago has no post-incident review",
                    23,
                )
            },
            finding(
                FindingKind::FastApproval,
                Severity::Medium,
                4,
                Some("carrot"),
                "approved by carrot 40s after it was asked for",
                25,
            ),
            finding(
                FindingKind::RepeatRequest,
                Severity::Low,
                4,
                None,
                "asked for production-access 3 times in 7 days: make it permanent, or ask why",
                25,
            ),
            finding(
                FindingKind::NoTicket,
                Severity::Low,
                5,
                None,
                "reason \"same as yesterday\" names no ticket or incident",
                50,
            ),
        ],
        window: Duration::from_hours(168),
        reviewers: Vec::new(),
        ticket_patterns: Vec::new(),
        repeat_threshold: Some(3),
        next: None,
        total: None,
    }
}

fn text(buffer: &Buffer) -> String {
    let mut out = String::new();
    for y in 0..buffer.area.height {
        let mut x = 0;
        while x < buffer.area.width {
            let symbol = buffer[(x, y)].symbol();
            out.push_str(symbol);
            x += symbol.width().max(1) as u16;
        }
        out.truncate(out.trim_end().len());
        out.push('\n');
    }
    out
}

fn hex(color: Color, default: &str) -> String {
    match color {
        Color::Reset => default.into(),
        Color::Black => "#1d1f21".into(),
        Color::Red => "#e0605a".into(),
        Color::Green => "#8fbf5f".into(),
        Color::Yellow => "#e6c35c".into(),
        Color::Blue => "#6f9fd8".into(),
        Color::Magenta => "#c58fd8".into(),
        Color::Cyan => "#5fc0c0".into(),
        Color::Gray => "#c5c8c6".into(),
        Color::DarkGray => "#7a7f85".into(),
        Color::Rgb(r, g, b) => format!("#{r:02x}{g:02x}{b:02x}"),
        _ => default.into(),
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn svg(buffer: &Buffer) -> String {
    let (bg, fg) = ("#1d1f21", "#e8e8e8");
    let width = buffer.area.width as f32 * CELL_W;
    let height = buffer.area.height as f32 * CELL_H;
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" font-family=\"DejaVu Sans Mono, Menlo, monospace\" font-size=\"14\">\n<rect width=\"100%\" height=\"100%\" fill=\"{bg}\"/>\n"
    );
    for y in 0..buffer.area.height {
        let mut x = 0;
        while x < buffer.area.width {
            let cell = &buffer[(x, y)];
            let symbol = cell.symbol();
            let w = symbol.width().max(1) as u16;
            let reversed = cell.modifier.contains(Modifier::REVERSED);
            let (mut cell_fg, mut cell_bg) = (hex(cell.fg, fg), hex(cell.bg, bg));
            if reversed {
                std::mem::swap(&mut cell_fg, &mut cell_bg);
            }
            let (px, py) = (x as f32 * CELL_W, y as f32 * CELL_H);
            if cell_bg != bg {
                let _ = writeln!(
                    out,
                    "<rect x=\"{px}\" y=\"{py}\" width=\"{}\" height=\"{CELL_H}\" fill=\"{cell_bg}\"/>",
                    w as f32 * CELL_W
                );
            }
            if !symbol.trim().is_empty() {
                let weight = if cell.modifier.contains(Modifier::BOLD) {
                    " font-weight=\"bold\""
                } else {
                    ""
                };
                let _ = writeln!(
                    out,
                    "<text x=\"{px}\" y=\"{}\" fill=\"{cell_fg}\"{weight}>{}</text>",
                    py + CELL_H * 0.78,
                    escape(symbol)
                );
            }
            x += w;
        }
    }
    out.push_str("</svg>\n");
    out
}

fn main() -> anyhow::Result<()> {
    let dir = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("screenshots"));
    std::fs::create_dir_all(&dir)?;
    for (name, width, height, state) in screens() {
        let mut terminal = Terminal::new(TestBackend::new(width, height))?;
        terminal.draw(|frame| view::draw(&state, frame, fixtures::now()))?;
        let buffer = terminal.backend().buffer();
        std::fs::write(dir.join(format!("{name}.txt")), text(buffer))?;
        std::fs::write(dir.join(format!("{name}.svg")), svg(buffer))?;
        println!("wrote {}/{name}.{{txt,svg}}", dir.display());
    }
    Ok(())
}
