//! The status bar (connection, user, freshness, counts, filter) and the hint bar,
//! which is generated from the keymap.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::console::help;
use crate::console::state::{Connection, Mode, State, Tab};
use crate::console::text;
use crate::console::theme::Meaning;
use crate::model::{State as RequestState, Time};

/// How long a notice stays in the status bar.
const NOTICE_SECS: i64 = 10;

pub fn draw(state: &State, frame: &mut Frame, area: Rect, now: Time) {
    let theme = &state.theme;
    let (glyph, word, meaning) = match state.connection {
        Connection::Connecting => ("…", "connecting", Meaning::Muted),
        Connection::CatchingUp => ("◌", "catching up", Meaning::Warn),
        Connection::Live => ("●", "live", Meaning::Ok),
        Connection::Polling => ("◐", "polling", Meaning::Warn),
        Connection::Offline => ("○", "offline", Meaning::Error),
    };
    let sep = || Span::styled(" │ ", theme.style(Meaning::Border));
    let mut spans = vec![Span::styled(
        format!("{glyph} {word}"),
        theme.style(meaning),
    )];
    spans.push(sep());
    spans.push(Span::raw(text::inline(&state.broker)));
    if let Some(me) = state.me() {
        spans.push(sep());
        spans.push(Span::raw(text::inline(me)));
    }
    spans.push(sep());
    spans.push(Span::styled(
        match state.last_update {
            // Live is current by definition; a quiet queue is not an old one.
            Some(_) if state.connection == Connection::Live => "up to date".into(),
            Some(at) => format!("updated {} ago", text::age(now - at)),
            None => "no data yet".into(),
        },
        theme.style(Meaning::Muted),
    ));
    spans.push(sep());
    spans.push(Span::raw(format!("{} pending", state.counts.pending)));
    if state.counts.emergency > 0 {
        spans.push(Span::styled(
            format!(" (! {})", emergencies(state.counts.emergency)),
            theme.style(Meaning::Emergency),
        ));
    }
    // New requests the user cannot see: those in the queue's window carry their
    // own `+`, so the count goes down as they come into view, not only up.
    let on_screen: &[uuid::Uuid] = if state.tab == Tab::Queue && state.inspect().is_none() {
        let end = (state.offset + state.page).min(state.rows.len());
        &state.rows[state.offset.min(end)..end]
    } else {
        &[]
    };
    let unseen = state
        .unseen
        .iter()
        .filter(|id| !on_screen.contains(id))
        .filter(|id| {
            state
                .requests
                .get(id)
                .is_some_and(|r| r.state == RequestState::Pending)
        })
        .count();
    if unseen > 0 {
        spans.push(sep());
        let plural = if unseen == 1 { "" } else { "s" };
        spans.push(Span::styled(
            format!("+ {unseen} new request{plural} out of view"),
            theme.style(Meaning::Accent),
        ));
    }
    if let Some(failed) = state.notifications.as_ref().map(|n| n.failed)
        && failed > 0
    {
        spans.push(sep());
        spans.push(Span::styled(
            failed_notifications(failed),
            theme.style(Meaning::Error),
        ));
    }
    if !state.marked.is_empty() {
        spans.push(sep());
        spans.push(Span::styled(
            format!("● {} marked", state.marked.len()),
            theme.style(Meaning::Marked),
        ));
    }
    if let Some(held) = &state.frozen {
        spans.push(sep());
        spans.push(Span::styled(
            format!("FROZEN ({} updates waiting)", held.len()),
            theme.style(Meaning::Warn),
        ));
    }
    if !state.filter.is_empty() && state.mode.filter_input().is_none() {
        spans.push(sep());
        spans.push(Span::raw(format!(
            "filter {:?}",
            text::inline(&state.filter)
        )));
    }
    if let Some(env) = &state.demo_env {
        spans.push(sep());
        spans.push(Span::styled(
            format!(
                "tokens in {} ({})",
                text::inline(&env.path),
                state.keymap.label(
                    crate::console::command::ModeKind::Tabs,
                    crate::console::command::Command::DemoEnv
                )
            ),
            theme.style(Meaning::Muted),
        ));
    }
    if let Some(notice) = &state.notice
        && (now - notice.at).num_seconds() < NOTICE_SECS
    {
        spans.push(sep());
        let meaning = if notice.error {
            Meaning::Error
        } else {
            Meaning::Ok
        };
        spans.push(Span::styled(
            text::inline(&notice.text),
            theme.style(meaning),
        ));
    }
    frame.render_widget(Paragraph::new(fit(spans, area.width as usize)), area);
}

/// `✉ 1 notification failed`: someone was not told, by mail, Slack or webhook.
pub fn failed_notifications(count: u64) -> String {
    let plural = if count == 1 { "" } else { "s" };
    format!("✉ {count} notification{plural} failed")
}

/// `1 emergency`, `2 emergencies`.
pub fn emergencies(count: usize) -> String {
    if count == 1 {
        "1 emergency".into()
    } else {
        format!("{count} emergencies")
    }
}

/// Drops what does not fit, cutting the last span with an ellipsis.
fn fit(spans: Vec<Span<'static>>, width: usize) -> Line<'static> {
    let mut used = 0;
    let mut out = Vec::new();
    for span in spans {
        let w = text::width(&span.content);
        if used + w <= width {
            used += w;
            out.push(span);
        } else {
            let rest = width.saturating_sub(used);
            if rest > 0 {
                out.push(Span::styled(
                    text::truncate(&span.content, rest),
                    span.style,
                ));
            }
            break;
        }
    }
    Line::from(out)
}

pub fn draw_hints(state: &State, frame: &mut Frame, area: Rect) {
    let theme = &state.theme;
    let key = theme.style(Meaning::Accent);
    let muted = theme.style(Meaning::Muted);
    let mode = state.mode.kind();
    let mut spans: Vec<Span<'static>> = Vec::new();
    if let Mode::Filter(input) = &state.mode {
        spans.extend([
            Span::styled("filter / ", key),
            Span::raw(text::inline(input)),
            Span::styled("█", muted),
            Span::raw("   "),
        ]);
    }
    // The mode's own declarations, with the keys bound to them in that mode.
    for offer in help::offers(state, mode).into_iter().filter(|o| o.hint) {
        let keys = state.keymap.keys(mode, offer.command);
        let Some(first) = keys.first() else { continue };
        let name = offer.hint_label();
        spans.extend([
            Span::styled(first.to_string(), key),
            Span::styled(format!(" {name} "), muted),
            Span::raw(" "),
        ]);
    }
    frame.render_widget(Paragraph::new(fit_hints(spans, area.width as usize)), area);
}

/// The hint bar cut to fit: whole hints only, and the last two (help and quit,
/// where a mode has them) kept whatever else has to go.
fn fit_hints(mut spans: Vec<Span<'static>>, width: usize) -> Line<'static> {
    // The last hint needs no space after it.
    if let Some(last) = spans.last_mut() {
        last.content = last.content.trim_end().to_string().into();
    }
    let total: usize = spans.iter().map(|s| text::width(&s.content)).sum();
    if total <= width {
        return Line::from(spans);
    }
    let hints: Vec<&[Span<'static>]> = spans.chunks(3).collect();
    let keep = hints.len().min(2);
    let tail: Vec<Span<'static>> = hints[hints.len() - keep..].concat();
    let tail_width: usize = tail.iter().map(|s| text::width(&s.content)).sum();
    let mut used = tail_width;
    let mut out = Vec::new();
    for hint in &hints[..hints.len() - keep] {
        let w: usize = hint.iter().map(|s| text::width(&s.content)).sum();
        if used + w > width {
            break;
        }
        used += w;
        out.extend(hint.iter().cloned());
    }
    out.extend(tail);
    fit(out, width)
}
