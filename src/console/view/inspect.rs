//! A request's full detail beside its audit history: every event with its `seq`,
//! time, type, actor and what it did.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use crate::console::state::{Inspect, State};
use crate::console::text;
use crate::console::theme::Meaning;
use crate::model::{AuditEvent, Time};

pub fn draw(state: &State, inspect: &Inspect, frame: &mut Frame, area: Rect, now: Time) {
    let [detail, history] = if area.width >= super::WIDE {
        Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(area)
    } else {
        Layout::vertical([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(area)
    };
    draw_detail(state, inspect, frame, detail, now);
    draw_history(state, inspect, frame, history, now);
}

fn block(state: &State, title: String) -> Block<'static> {
    Block::default()
        .borders(Borders::ALL)
        .border_style(state.theme.style(Meaning::Border))
        .title(Span::styled(title, state.theme.style(Meaning::Accent)))
}

fn message(state: &State, text: &str, meaning: Meaning, width: usize) -> Vec<Line<'static>> {
    text::wrap(&text::inline(text), width)
        .into_iter()
        .map(|l| Line::styled(l, state.theme.style(meaning)))
        .collect()
}

fn draw_detail(state: &State, inspect: &Inspect, frame: &mut Frame, area: Rect, now: Time) {
    let from = inspect
        .from
        .map(|kind| format!(" · from finding {kind}"))
        .unwrap_or_default();
    let block = block(
        state,
        format!(" Request {}{from} ", text::short_id(&inspect.id)),
    );
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let width = inner.width as usize;
    let lines = match (state.request(&inspect.id), &inspect.request_error) {
        (Some(request), _) => super::detail::full_lines(state, request, width, now),
        (None, Some(error)) => message(state, error, Meaning::Error, width),
        (None, None) => message(state, "fetching the request…", Meaning::Muted, width),
    };
    super::render_scrolled(frame, inner, lines, inspect.detail_scroll);
}

fn draw_history(state: &State, inspect: &Inspect, frame: &mut Frame, area: Rect, now: Time) {
    let count = inspect
        .events
        .as_ref()
        .map(|e| format!(" ({})", e.len()))
        .unwrap_or_default();
    let block = block(state, format!(" Audit history{count}, oldest first "));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let width = inner.width as usize;
    let lines = match (&inspect.events, &inspect.events_error) {
        (_, Some(error)) => message(state, error, Meaning::Error, width),
        (None, None) => message(state, "fetching the audit events…", Meaning::Muted, width),
        (Some(events), None) if events.is_empty() => {
            message(state, "no events for this request", Meaning::Muted, width)
        }
        (Some(events), None) => events
            .iter()
            .skip(inspect.history_scroll)
            .flat_map(|event| event_lines(state, event, width, now))
            .take(inner.height as usize)
            .collect(),
    };
    frame.render_widget(Paragraph::new(lines), inner);
}

/// `#12   2026-03-14 09:25:00 UTC (5m ago) access_request.review`, then who did
/// what, then the reason.
fn event_lines(state: &State, event: &AuditEvent, width: usize, now: Time) -> Vec<Line<'static>> {
    let theme = &state.theme;
    let muted = theme.style(Meaning::Muted);
    let mut lines = Vec::new();
    let head = format!(
        "#{:<4} {} ({} ago) ",
        event.seq,
        event.time.format("%Y-%m-%d %H:%M:%S UTC"),
        text::age(now - event.time)
    );
    let kind_width = width.saturating_sub(text::width(&head));
    lines.push(Line::from(vec![
        Span::styled(text::truncate(&head, width), muted),
        Span::styled(
            text::truncate(event.kind.as_str(), kind_width),
            theme.style(Meaning::Accent),
        ),
    ]));
    let mut what = vec![format!("by {}", text::inline(&event.user))];
    for field in ["decision", "action", "outcome", "error"] {
        if let Some(value) = event.field_str(field) {
            what.push(format!("{field} {}", text::inline(value)));
        }
    }
    if let Some(after) = event.state {
        what.push(format!("→ {after}"));
    }
    let indent = "      ";
    let body = width.saturating_sub(indent.len()).max(1);
    for line in text::wrap(&what.join(" · "), body) {
        lines.push(Line::from(vec![Span::raw(indent), Span::raw(line)]));
    }
    if let Some(reason) = event.reason.as_deref().filter(|r| !r.is_empty()) {
        for line in text::wrap(&format!("“{}”", text::multiline(reason)), body) {
            lines.push(Line::from(vec![
                Span::raw(indent),
                Span::styled(line, theme.style(Meaning::Text)),
            ]));
        }
    }
    lines
}
