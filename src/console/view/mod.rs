//! Drawing: reads the state, never changes it. `now` is passed in so ages and
//! countdowns are stable under test.

pub(super) mod audit;
mod detail;
mod dialog;
mod help;
mod inspect;
mod note;
mod queue;
mod status;
mod tabs;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Clear, Paragraph};

use super::command::{Command, ModeKind};
use super::state::State;
use super::text;
use super::theme::Meaning;
use crate::model::Time;

/// Below this the console says so instead of drawing a broken screen.
pub const MIN_WIDTH: u16 = 60;
pub const MIN_HEIGHT: u16 = 15;
/// From this width on, the detail pane sits beside the queue rather than below it.
pub const WIDE: u16 = 130;

pub struct Areas {
    pub tabs: Rect,
    pub queue: Rect,
    pub detail: Rect,
    pub status: Rect,
    pub hints: Rect,
}

pub fn areas(area: Rect) -> Areas {
    let [tabs, main, status, hints] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Fill(1),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area);
    let [queue, detail] = if area.width >= WIDE {
        Layout::horizontal([Constraint::Percentage(62), Constraint::Percentage(38)]).areas(main)
    } else {
        Layout::vertical([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(main)
    };
    Areas {
        tabs,
        queue,
        detail,
        status,
        hints,
    }
}

/// How many request rows the table shows on a terminal of this size.
pub fn table_rows(width: u16, height: u16) -> usize {
    // Borders and the header row.
    areas(Rect::new(0, 0, width, height))
        .queue
        .height
        .saturating_sub(3) as usize
}

pub fn draw(state: &State, frame: &mut Frame, now: Time) {
    let area = frame.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        too_small(state, frame, area);
        return;
    }
    let areas = areas(area);
    tabs::draw(state, frame, areas.tabs);
    if let Some(open) = state.inspect() {
        inspect::draw(state, open, frame, areas.queue.union(areas.detail), now);
    } else {
        queue::draw(state, frame, areas.queue, now);
        detail::draw(state, frame, areas.detail, now);
    }
    status::draw(state, frame, areas.status, now);
    status::draw_hints(state, frame, areas.hints);
    match state.mode.beneath_help().kind() {
        ModeKind::Review => dialog::draw(state, frame, area),
        ModeKind::Note => note::draw(state, frame, area, now),
        ModeKind::Confirm => confirm(state, frame, area),
        ModeKind::Panel => panel(state, frame, area),
        _ => {}
    }
    if state.mode.help_open() {
        help::draw(state, frame, area);
    }
}

/// The demo's environment file, inert, over the tabs; the hint bar stays below.
fn panel(state: &State, frame: &mut Frame, area: Rect) {
    let (Some(env), super::state::Mode::Panel { scroll }) = (&state.demo_env, &state.mode) else {
        return;
    };
    let theme = &state.theme;
    let room = Rect {
        height: area.height.saturating_sub(1),
        ..area
    };
    let outer = centered(
        room,
        area.width.saturating_sub(4),
        env.text.lines().count() as u16 + 4,
    );
    let block = ratatui::widgets::Block::default()
        .borders(ratatui::widgets::Borders::ALL)
        .border_style(theme.style(Meaning::Accent))
        .title(ratatui::text::Span::styled(
            text::truncate(
                &format!(" {} ", text::inline(&env.path)),
                outer.width as usize,
            ),
            theme.style(Meaning::Accent),
        ));
    let inner = block.inner(outer);
    frame.render_widget(Clear, outer);
    frame.render_widget(block, outer);
    let mut lines = vec![Line::styled(
        "In another terminal: source the file above, then use the CLI.",
        theme.style(Meaning::Muted),
    )];
    lines.extend(
        env.text
            .lines()
            .map(|l| Line::raw(text::truncate(&text::inline(l), inner.width as usize))),
    );
    render_scrolled(frame, inner, lines, *scroll);
}

/// The question of a confirmation, with its keys from the keymap.
fn confirm(state: &State, frame: &mut Frame, area: Rect) {
    let super::state::Mode::Confirm(confirm) = &state.mode else {
        return;
    };
    let theme = &state.theme;
    let keys = format!(
        "{} yes · {} no",
        state.keymap.label(ModeKind::Confirm, Command::Confirm),
        state.keymap.label(ModeKind::Confirm, Command::Cancel)
    );
    let width = (text::width(&confirm.question).max(keys.len()) + 4).min(area.width as usize);
    let outer = centered(area, width as u16, 4);
    let block = ratatui::widgets::Block::default()
        .borders(ratatui::widgets::Borders::ALL)
        .border_style(theme.style(Meaning::Warn));
    let inner = block.inner(outer);
    frame.render_widget(Clear, outer);
    frame.render_widget(block, outer);
    let lines = vec![
        Line::styled(
            text::truncate(&confirm.question, inner.width as usize),
            theme.style(Meaning::Warn),
        ),
        Line::styled(keys, theme.style(Meaning::Muted)),
    ];
    frame.render_widget(Paragraph::new(lines), inner);
}

fn too_small(state: &State, frame: &mut Frame, area: Rect) {
    let message = format!(
        "countersign needs a terminal of at least {MIN_WIDTH}×{MIN_HEIGHT}; this one is {}×{}. Enlarge it, or press {} to quit.",
        area.width,
        area.height,
        state.keymap.label(ModeKind::Tabs, Command::Quit)
    );
    let lines: Vec<Line> = text::wrap(&message, area.width as usize)
        .into_iter()
        .take(area.height as usize)
        .map(|l| Line::styled(l, state.theme.style(Meaning::Warn)))
        .collect();
    frame.render_widget(Clear, area);
    frame.render_widget(Paragraph::new(lines), area);
}

/// A rectangle of at most `width`×`height` centred in `area`.
/// Draws as many of `lines` as fit in `area`, from line `scroll` (kept within what
/// there is, so scrolling past the end shows the last screenful).
fn render_scrolled(frame: &mut Frame, area: Rect, lines: Vec<Line>, scroll: u16) {
    let max_scroll = lines.len().saturating_sub(area.height as usize);
    let visible: Vec<Line> = lines
        .into_iter()
        .skip((scroll as usize).min(max_scroll))
        .take(area.height as usize)
        .collect();
    frame.render_widget(Paragraph::new(visible), area);
}

pub fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let width = width.min(area.width);
    let height = height.min(area.height);
    Rect::new(
        area.x + (area.width - width) / 2,
        area.y + (area.height - height) / 2,
        width,
        height,
    )
}

#[cfg(test)]
mod tests;
