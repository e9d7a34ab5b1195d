//! The Audit tab: the weekly review's findings in the chosen order (under a heading
//! per kind when grouped), and in the detail pane the finding in words with the
//! request it is about.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, TableState};

use crate::console::command::{Command, ModeKind};
use crate::console::state::{FindingSort, State};
use crate::console::text;
use crate::console::theme::Meaning;
use crate::model::{Finding, FindingKind, Severity, Time};

const SELECT_SYMBOL: &str = "▶ ";

fn severity_meaning(severity: Severity) -> Meaning {
    match severity {
        Severity::High => Meaning::Emergency,
        Severity::Medium => Meaning::Warn,
        Severity::Low => Meaning::Muted,
    }
}

fn block(state: &State, title: String) -> Block<'static> {
    Block::default()
        .borders(Borders::ALL)
        .border_style(state.theme.style(Meaning::Border))
        .title(Span::styled(title, state.theme.style(Meaning::Accent)))
}

/// A row of the findings table: a finding, or the heading of a kind's group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Heading(FindingKind, usize),
    Finding(usize),
}

/// The table's rows; sorted by kind, each kind's group has a heading.
fn slots(findings: &[Finding], sort: FindingSort) -> Vec<Slot> {
    let mut slots = Vec::with_capacity(findings.len() + FindingKind::ALL.len());
    for (i, finding) in findings.iter().enumerate() {
        let starts_group = i == 0 || findings[i - 1].kind != finding.kind;
        if sort == FindingSort::Kind && starts_group {
            let count = findings[i..]
                .iter()
                .take_while(|f| f.kind == finding.kind)
                .count();
            slots.push(Slot::Heading(finding.kind, count));
        }
        slots.push(Slot::Finding(i));
    }
    slots
}

/// The first row shown: the stored offset (in findings) moved just enough to show
/// the selection, and a group's heading above its first finding.
fn first_row(slots: &[Slot], offset: usize, selected: usize, visible: usize) -> usize {
    let row_of = |index: usize| {
        let row = slots
            .iter()
            .position(|s| *s == Slot::Finding(index))
            .unwrap_or(0);
        match row.checked_sub(1).map(|above| slots[above]) {
            Some(Slot::Heading(..)) => row - 1,
            _ => row,
        }
    };
    let selected_row = slots
        .iter()
        .position(|s| *s == Slot::Finding(selected))
        .unwrap_or(0);
    let mut first = row_of(offset).min(row_of(selected));
    if selected_row >= first + visible {
        first = selected_row + 1 - visible;
    }
    first
}

/// The finding drawn on row `row` of a table showing `visible` rows (a group's
/// heading stands for its first finding), as `draw_table` lays them out: what a
/// click there selects.
pub fn finding_at(state: &State, visible: usize, row: usize) -> Option<usize> {
    let findings = state.audit.findings.as_ref()?;
    let slots = slots(findings, state.audit.sort);
    let first = first_row(&slots, state.audit.offset, state.audit.selected, visible);
    if row >= visible {
        return None;
    }
    match slots.get(first + row)? {
        Slot::Finding(index) => Some(*index),
        Slot::Heading(..) => match slots.get(first + row + 1)? {
            Slot::Finding(index) => Some(*index),
            Slot::Heading(..) => None,
        },
    }
}

pub fn draw_table(state: &State, frame: &mut Frame, area: Rect, now: Time) {
    let theme = &state.theme;
    let audit = &state.audit;
    let window = audit
        .window
        .map(|w| format!(" in the last {w}"))
        .unwrap_or_default();
    let order = match audit.sort {
        FindingSort::Kind => "grouped by kind".to_string(),
        sort => format!("sorted by {}", sort.name()),
    };
    // Never an old list passed off as the current one.
    let freshness = if audit.findings.is_some() && audit.loading {
        " · updating…"
    } else if audit.more_loading {
        " · loading more…"
    } else if audit.more_error.is_some() {
        " · more: cannot list (r retries)"
    } else if audit.stale {
        " · stale: the log moved since (r)"
    } else {
        ""
    };
    // A partial list says so: the rest comes as it is scrolled to.
    let loaded = match (&audit.findings, audit.count()) {
        (Some(findings), Some(total)) if audit.more() => {
            format!(" · {} of {total} loaded", findings.len())
        }
        _ => String::new(),
    };
    let block = block(
        state,
        format!(" Audit · findings{window} · {order}{loaded}{freshness} "),
    );
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let message = match (&audit.findings, &audit.error) {
        (_, Some(error)) => Some((text::inline(error), Meaning::Error)),
        (None, None) => Some(("loading findings…".to_string(), Meaning::Muted)),
        (Some(findings), None) if findings.is_empty() => Some((
            "no findings: nothing to look at twice".to_string(),
            Meaning::Ok,
        )),
        _ => None,
    };
    if let Some((message, meaning)) = message {
        let lines: Vec<Line> = text::wrap(&message, inner.width as usize)
            .into_iter()
            .map(|l| Line::styled(l, theme.style(meaning)))
            .collect();
        frame.render_widget(Paragraph::new(lines), inner);
        return;
    }
    let Some(findings) = &audit.findings else {
        return;
    };
    let visible = inner.height.saturating_sub(1).max(1) as usize;
    let slots = slots(findings, audit.sort);
    let first = first_row(&slots, audit.offset, audit.selected, visible);
    let fixed = 6 + 20 + 12 + 12 + 8 + 4 + 6 + text::width(SELECT_SYMBOL) as u16;
    let detail_width = inner.width.saturating_sub(fixed).max(1) as usize;
    let heading = theme.style(Meaning::Accent);
    let rows: Vec<Row> = slots[first..]
        .iter()
        .take(visible)
        .map(|slot| match *slot {
            Slot::Heading(kind, count) => {
                let rule = |n: usize| Span::styled("─".repeat(n), theme.style(Meaning::Border));
                let name = kind.as_str();
                Row::new(vec![
                    Cell::from(rule(6)),
                    Cell::from(Line::from(vec![
                        Span::styled(name, heading),
                        Span::raw(" "),
                        rule(20usize.saturating_sub(name.len() + 1)),
                    ])),
                    Cell::from(Span::styled(
                        format!("{count} finding{}", if count == 1 { "" } else { "s" }),
                        theme.style(Meaning::Muted),
                    )),
                ])
            }
            Slot::Finding(i) => finding_row(state, &findings[i], detail_width, now),
        })
        .collect();
    let widths = [
        Constraint::Length(6),
        Constraint::Length(20),
        Constraint::Length(12),
        Constraint::Length(12),
        Constraint::Length(8),
        Constraint::Length(4),
        Constraint::Fill(1),
    ];
    let header = Row::new([
        "sev", "kind", "user", "reviewer", "request", "when", "detail",
    ])
    .style(theme.style(Meaning::Muted));
    let table = Table::new(rows, widths)
        .header(header)
        .column_spacing(1)
        .row_highlight_style(theme.style(Meaning::Selected))
        .highlight_symbol(SELECT_SYMBOL)
        .highlight_spacing(ratatui::widgets::HighlightSpacing::Always);
    let selected_row = slots
        .iter()
        .position(|s| *s == Slot::Finding(audit.selected))
        .unwrap_or(first);
    let mut table_state = TableState::default();
    table_state.select(Some(selected_row.saturating_sub(first)));
    frame.render_stateful_widget(table, inner, &mut table_state);
}

fn finding_row(state: &State, finding: &Finding, detail_width: usize, now: Time) -> Row<'static> {
    let theme = &state.theme;
    let reviewed = if finding.reviewed.is_some() {
        "✓ "
    } else {
        ""
    };
    Row::new(vec![
        Cell::from(Span::styled(
            finding.severity.to_string(),
            theme.style(severity_meaning(finding.severity)),
        )),
        Cell::from(finding.kind.as_str()),
        Cell::from(text::truncate(&text::inline(&finding.user), 12)),
        Cell::from(text::truncate(
            &text::inline(finding.reviewer.as_deref().unwrap_or("-")),
            12,
        )),
        Cell::from(
            finding
                .request_id
                .map(|id| text::short_id(&id))
                .unwrap_or_else(|| "-".into()),
        ),
        Cell::from(Span::styled(
            text::age(now - finding.at),
            theme.style(Meaning::Muted),
        )),
        Cell::from(text::truncate(
            &format!("{reviewed}{}", text::inline(&finding.detail)),
            detail_width,
        )),
    ])
}

pub fn draw_detail(state: &State, frame: &mut Frame, area: Rect, now: Time) {
    let theme = &state.theme;
    let block = block(state, " Finding ".to_string());
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let Some(finding) = state.audit.selected_finding() else {
        frame.render_widget(
            Line::styled("no finding selected", theme.style(Meaning::Muted)),
            inner,
        );
        return;
    };
    let width = inner.width as usize;
    let mut lines: Vec<Line> = Vec::new();
    let heading = format!("{} · {}", finding.severity, finding.kind);
    lines.push(Line::styled(
        text::truncate(&heading, width),
        theme.style(severity_meaning(finding.severity)),
    ));
    for line in text::wrap(&text::multiline(&finding.detail), width) {
        lines.push(Line::raw(line));
    }
    if let Some(review) = &finding.reviewed {
        let note = format!(
            "✓ reviewed by {} {} ago: {}",
            text::inline(&review.by),
            text::age(now - review.at),
            text::multiline(&review.note)
        );
        for line in text::wrap(&note, width) {
            lines.push(Line::styled(line, theme.style(Meaning::Ok)));
        }
    } else {
        let hint = format!(
            "not reviewed yet: {} marks it reviewed, with a note",
            state.keymap.label(ModeKind::Tabs, Command::MarkReviewed)
        );
        for line in text::wrap(&hint, width) {
            lines.push(Line::styled(line, theme.style(Meaning::Muted)));
        }
    }
    if let Some(id) = finding.request_id {
        let hint = format!(
            "{} shows the request's full detail and audit history",
            state.keymap.label(ModeKind::Tabs, Command::Open)
        );
        for line in text::wrap(&hint, width) {
            lines.push(Line::styled(line, theme.style(Meaning::Muted)));
        }
        if let Some(request) = state.requests.get(&id) {
            lines.push(Line::raw(""));
            lines.push(Line::styled("The request", theme.style(Meaning::Accent)));
            lines.extend(super::detail::lines(state, request, width, now));
        }
    }
    super::render_scrolled(frame, inner, lines, state.detail_scroll);
}
