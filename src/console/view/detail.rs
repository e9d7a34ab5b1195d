//! The detail pane: everything about the selected request, each flag in words.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders};

use super::queue::state_meaning;
use crate::console::command::{Command, ModeKind};
use crate::console::listing;
use crate::console::note::outcome_word;
use crate::console::state::{Certificates, State};
use crate::console::text;
use crate::console::theme::{Meaning, Theme};
use crate::model::{Decision, IncidentOutcome, Request, State as RequestState, Time};

/// Label column width.
const LABEL: usize = 11;
const RECENT: usize = 5;

pub fn draw(state: &State, frame: &mut Frame, area: Rect, now: Time) {
    if state.tab == crate::console::state::Tab::Audit {
        super::audit::draw_detail(state, frame, area, now);
        return;
    }
    let theme = &state.theme;
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.style(Meaning::Border))
        .title(Span::styled(" Detail ", theme.style(Meaning::Accent)));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let Some(request) = state.selected_request() else {
        frame.render_widget(
            Line::styled("no request selected", theme.style(Meaning::Muted)),
            inner,
        );
        return;
    };
    let lines = lines(state, request, inner.width as usize, now);
    super::render_scrolled(frame, inner, lines, state.detail_scroll);
}

struct Writer<'t> {
    width: usize,
    theme: &'t Theme,
    lines: Vec<Line<'static>>,
}

impl Writer<'_> {
    fn heading(&mut self, text: &str) {
        self.lines.push(Line::styled(
            text::truncate(text, self.width),
            self.theme.style(Meaning::Accent),
        ));
    }

    /// `label     value`, the value wrapped under itself.
    fn field(&mut self, label: &str, value: &str, style: Style) {
        let value_width = self.width.saturating_sub(LABEL + 1).max(1);
        for (i, line) in text::wrap(value, value_width).into_iter().enumerate() {
            let label = if i == 0 { label } else { "" };
            self.lines.push(Line::from(vec![
                Span::styled(
                    format!("{label:<LABEL$} "),
                    self.theme.style(Meaning::Muted),
                ),
                Span::styled(line, style),
            ]));
        }
    }

    /// A paragraph indented by two cells.
    fn block(&mut self, text: &str, style: Style) {
        for line in text::wrap(text, self.width.saturating_sub(2).max(1)) {
            self.lines
                .push(Line::from(vec![Span::raw("  "), Span::styled(line, style)]));
        }
    }

    /// A glyph then a wrapped explanation.
    fn item(&mut self, glyph: &str, glyph_style: Style, text: &str, style: Style) {
        for (i, line) in text::wrap(text, self.width.saturating_sub(4).max(1))
            .into_iter()
            .enumerate()
        {
            let lead = if i == 0 {
                format!("  {glyph} ")
            } else {
                "    ".into()
            };
            self.lines.push(Line::from(vec![
                Span::styled(lead, glyph_style),
                Span::styled(line, style),
            ]));
        }
    }

    fn gap(&mut self) {
        self.lines.push(Line::raw(""));
    }
}

/// What the detail pane shows about a request.
pub fn lines(state: &State, request: &Request, width: usize, now: Time) -> Vec<Line<'static>> {
    write(state, request, width, now, false)
}

/// Everything about a request, for its history view: also the exact times, the
/// prompt the requester saw and the thresholds frozen on it.
pub fn full_lines(state: &State, request: &Request, width: usize, now: Time) -> Vec<Line<'static>> {
    write(state, request, width, now, true)
}

/// A time as the full view shows it, with how long ago.
fn when(at: Time, now: Time) -> String {
    let at_text = at.format("%Y-%m-%d %H:%M:%S UTC");
    // Within a second of now is now: never "(in 0s)" for what already happened.
    if at <= now + chrono::TimeDelta::seconds(1) {
        format!("{at_text} ({} ago)", text::age(now - at))
    } else {
        format!("{at_text} (in {})", text::countdown(at - now))
    }
}

fn write(
    state: &State,
    request: &Request,
    width: usize,
    now: Time,
    full: bool,
) -> Vec<Line<'static>> {
    let theme = &state.theme;
    let plain = theme.style(Meaning::Text);
    let muted = theme.style(Meaning::Muted);
    let mut w = Writer {
        width,
        theme,
        lines: Vec::new(),
    };
    w.field("request", &request.id.to_string(), plain);
    w.field(
        "state",
        request.state.as_str(),
        theme.style(state_meaning(request)),
    );
    w.field("requester", &text::inline(&request.user), plain);
    w.field(
        "created",
        &format!(
            "{} ({} ago)",
            request.created_at.format("%Y-%m-%d %H:%M:%S UTC"),
            text::age(now - request.created_at)
        ),
        plain,
    );
    if request.state == RequestState::Pending {
        let left = request.pending_expires_at - now;
        let meaning = if left < chrono::TimeDelta::hours(1) {
            Meaning::Warn
        } else {
            Meaning::Text
        };
        let text = if left > chrono::TimeDelta::zero() {
            format!("expires in {} unless reviewed", text::countdown(left))
        } else {
            format!("deadline passed {} ago; expiring", text::age(-left))
        };
        w.field("deadline", &text, theme.style(meaning));
    }
    if full {
        w.field("roles", &text::inline(&request.roles.join(", ")), plain);
        if request.state == RequestState::Pending {
            w.field("expires", &when(request.pending_expires_at, now), plain);
        }
    }
    if let Some(access) = &request.access
        && full
    {
        w.field("access from", &when(access.starts_at, now), plain);
        w.field("access to", &when(access.ends_at, now), plain);
        if let Some(at) = access.returned_at {
            w.field("returned", &when(at, now), plain);
        }
    } else if let Some(access) = &request.access {
        let text = match access.returned_at {
            Some(at) => format!("returned {} ago", text::age(now - at)),
            None if access.ends_at > now => {
                format!("ends in {}", text::countdown(access.ends_at - now))
            }
            None => format!("ended {} ago", text::age(now - access.ends_at)),
        };
        w.field("access", &text, plain);
    }
    let mut wanted = Vec::new();
    if let Some(d) = request.max_duration {
        wanted.push(format!("access for {d}"));
    }
    if let Some(d) = request.estimate {
        wanted.push(format!("task estimate {d}"));
    }
    if !wanted.is_empty() {
        w.field("wants", &wanted.join(", "), plain);
    }
    if full && let Some(prompt) = &request.request_prompt {
        w.field("prompt", &text::inline(prompt), muted);
    }

    let flags = state.flags_of(&request.id);
    if flags != Default::default() {
        w.gap();
        w.heading("Flags");
        if flags.emergency {
            w.item("!", theme.style(Meaning::Emergency), "emergency: the reason starts with EMERGENCY:, so it is listed first; a post-incident review is owed once approved", plain);
        }
        if flags.no_ticket {
            let text = if state.tickets.are_defaults() {
                "no ticket: the reason names no ticket or incident (#47, INC-123)"
            } else {
                "no ticket: the reason matches none of the broker's ticket patterns"
            };
            w.item("?", theme.style(Meaning::Warn), text, plain);
        }
        if let Some(count) = flags.repeat {
            let text = format!(
                "repeat: {} asked for these roles {count} times in {}; should the access be permanent?",
                text::inline(&request.user),
                window_words(state.repeats.window_hours)
            );
            w.item("↻", theme.style(Meaning::Warn), &text, plain);
        }
        if flags.post_incident_owed {
            let text = format!(
                "post-incident review owed: approved emergency access not reviewed yet ({} records it)",
                state.keymap.label(ModeKind::Tabs, Command::PostIncident)
            );
            w.item("↻", theme.style(Meaning::Warn), &text, plain);
        }
    }

    w.gap();
    w.heading("Reason");
    w.block(&text::multiline(&request.reason), plain);

    w.gap();
    w.heading("Roles");
    for role in &request.roles {
        let (have, need) = listing::role_progress(request, role);
        let mut text = format!("{} {have}/{need} approvals", text::inline(role));
        if let Some(ttl) = state.roles.get(role).and_then(|r| r.max_session_ttl) {
            text.push_str(&format!(", sessions up to {ttl}"));
        }
        if request.state != RequestState::Pending
            && !request.granted_roles.is_empty()
            && !request.granted_roles.contains(role)
        {
            text.push_str(", not granted");
        }
        let (glyph, meaning) = if have >= need {
            ("✓", Meaning::Ok)
        } else {
            ("·", Meaning::Muted)
        };
        w.item(glyph, theme.style(meaning), &text, plain);
    }

    w.gap();
    w.heading(&format!("Reviews ({})", request.reviews.len()));
    if request.reviews.is_empty() {
        w.block("none yet", muted);
    }
    for review in &request.reviews {
        let (glyph, meaning) = match review.decision {
            Decision::Approve => ("✓", Meaning::Ok),
            Decision::Deny => ("✗", Meaning::Error),
        };
        let subset = if review.roles.is_empty() {
            String::new()
        } else {
            format!(" (only {})", text::inline(&review.roles.join(", ")))
        };
        let text = format!(
            "{} {}{subset}, {} ago: {}",
            text::inline(&review.author),
            match review.decision {
                Decision::Approve => "approved",
                Decision::Deny => "denied",
            },
            text::age(now - review.created_at),
            text::multiline(&review.reason)
        );
        w.item(glyph, theme.style(meaning), &text, plain);
    }

    if full {
        w.gap();
        w.heading("Thresholds (frozen when asked)");
        for (i, threshold) in request.thresholds.iter().enumerate() {
            let name = if threshold.name.is_empty() {
                format!("threshold {}", i + 1)
            } else {
                text::inline(&threshold.name)
            };
            let mut text = format!(
                "{name}: approved by {} approval{}, denied by {} denial{}",
                threshold.approve,
                if threshold.approve == 1 { "" } else { "s" },
                threshold.deny,
                if threshold.deny == 1 { "" } else { "s" },
            );
            if !threshold.filter.is_empty() {
                text.push_str(&format!(
                    ", reviewers where {}",
                    text::inline(&threshold.filter)
                ));
            }
            w.item("·", muted, &text, plain);
        }
    }

    if request.state != RequestState::Pending {
        w.gap();
        w.heading("Resolution");
        let meaning = state_meaning(request);
        w.field("outcome", request.state.as_str(), theme.style(meaning));
        if let Some(at) = request.resolved_at {
            let at = if full {
                when(at, now)
            } else {
                format!("{} ago", text::age(now - at))
            };
            w.field("resolved", &at, plain);
        }
        match &request.resolved_by {
            Some(by) => w.field(
                "by",
                &format!("override by {}", text::inline(by)),
                theme.style(Meaning::Warn),
            ),
            None if !request.reviews.is_empty() => w.field("by", "reviews", plain),
            None => {}
        }
        // Only access that was given was granted: not a denied or withdrawn request.
        if request.access.is_some() && !request.granted_roles.is_empty() {
            w.field(
                "granted",
                &text::inline(&request.granted_roles.join(", ")),
                plain,
            );
        }
        if let Some(reason) = &request.resolve_reason {
            w.field("reason", &text::multiline(reason), plain);
        }
    }

    if request.access.is_some() {
        certificates(&mut w, state, request, now);
    }

    if let Some(review) = &request.post_incident_review {
        w.gap();
        w.heading("Post-incident review");
        let (glyph, meaning) = match review.outcome {
            IncidentOutcome::Justified => ("✓", Meaning::Ok),
            IncidentOutcome::Unjustified => ("✗", Meaning::Error),
        };
        let text = format!(
            "{} by {}, {} ago: {}",
            outcome_word(review.outcome),
            text::inline(&review.author),
            text::age(now - review.created_at),
            text::multiline(&review.notes)
        );
        w.item(glyph, theme.style(meaning), &text, plain);
    }

    if !request.suggested_reviewers.is_empty() {
        w.gap();
        w.field(
            "suggested",
            &text::inline(&request.suggested_reviewers.join(", ")),
            plain,
        );
    }
    let annotated = [
        ("Annotations (from the roles)", &request.annotations),
        (
            "Annotations (from the requester)",
            &request.requester_annotations,
        ),
    ];
    for (heading, annotations) in annotated {
        if annotations.is_empty() {
            continue;
        }
        w.gap();
        w.heading(heading);
        for (key, values) in annotations {
            w.field(
                &text::truncate(&text::inline(key), LABEL),
                &text::inline(&values.join(", ")),
                plain,
            );
        }
    }

    let recent: Vec<&Request> = state
        .by_user
        .get(&request.user)
        .into_iter()
        .flatten()
        .filter(|id| **id != request.id)
        .filter_map(|id| state.requests.get(id))
        .take(RECENT)
        .collect();
    w.gap();
    w.heading(&format!(
        "Recent requests by {}",
        text::inline(&request.user)
    ));
    if recent.is_empty() {
        w.block("none", muted);
    }
    for other in recent {
        let text = format!(
            "{} {} {} ago: {}",
            text::short_id(&other.id),
            text::inline(&other.roles.join(",")),
            text::age(now - other.created_at),
            other.state
        );
        w.item("·", muted, &text, plain);
    }
    w.lines
}

/// The SSH certificates issued for the request: serial, principals, until when,
/// and whether the KRL lists them.
fn certificates(w: &mut Writer, state: &State, request: &Request, now: Time) {
    let theme = w.theme;
    let (plain, muted) = (theme.style(Meaning::Text), theme.style(Meaning::Muted));
    w.gap();
    match state.certificates.get(&request.id) {
        None | Some(Certificates::Loading) => {
            w.heading("Certificates");
            w.block("asking the broker…", muted);
        }
        Some(Certificates::Failed(why)) => {
            w.heading("Certificates");
            w.block(&text::inline(why), theme.style(Meaning::Error));
        }
        Some(Certificates::Loaded(list)) => {
            w.heading(&format!("Certificates ({})", list.len()));
            if list.is_empty() {
                let how = format!(
                    "none issued (the requester runs: countersign login --request {})",
                    request.id
                );
                w.block(&how, muted);
            }
            for cert in list {
                let until = cert.valid_before.format("%Y-%m-%d %H:%M UTC");
                let (glyph, meaning, status) = if cert.revoked {
                    ("✗", Meaning::Error, "revoked (in the KRL)".to_string())
                } else if cert.valid_before <= now {
                    ("·", Meaning::Muted, "expired".to_string())
                } else {
                    (
                        "✓",
                        Meaning::Ok,
                        format!("valid, {} left", text::countdown(cert.valid_before - now)),
                    )
                };
                let line = format!(
                    "#{} as {} until {until}: {status}",
                    cert.serial,
                    text::inline(&cert.principals.join(", ")),
                );
                w.item(glyph, theme.style(meaning), &line, plain);
            }
        }
    }
}

/// `7 days`, `1 day`, `36 hours`.
fn window_words(hours: i64) -> String {
    match (hours % 24, hours / 24) {
        (0, 1) => "1 day".into(),
        (0, days) => format!("{days} days"),
        _ if hours == 1 => "1 hour".into(),
        _ => format!("{hours} hours"),
    }
}
