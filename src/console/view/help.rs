//! The `?` overlay: every mode's declared commands with the keys the keymap binds
//! to them there, so help can never drift from the keys. It scrolls, and leaves
//! the hint bar below it visible.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear};

use crate::console::command::ModeKind;
use crate::console::help::{self, LEGEND};
use crate::console::state::{Mode, State};
use crate::console::text;
use crate::console::theme::Meaning;

const KEYS: usize = 16;

pub fn draw(state: &State, frame: &mut Frame, area: Rect) {
    let theme = &state.theme;
    let scroll = match &state.mode {
        Mode::Help { scroll, .. } => *scroll,
        _ => 0,
    };
    let total = help::line_count(state);
    // Everything but the hint bar at the bottom.
    let room = Rect {
        height: area.height.saturating_sub(1),
        ..area
    };
    let outer = super::centered(room, 96, total as u16 + 2);
    let visible = help::visible_rows(area.height) as usize;
    let more = if total > visible {
        let shown = (scroll as usize).min(total - visible);
        format!(" · lines {}–{} of {total}", shown + 1, shown + visible)
    } else {
        String::new()
    };
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.style(Meaning::Accent))
        .title(Span::styled(
            format!(" Keys (? or Esc closes){more} "),
            theme.style(Meaning::Accent),
        ));
    let inner = block.inner(outer);
    frame.render_widget(Clear, outer);
    frame.render_widget(block, outer);
    let width = inner.width as usize;
    let about_width = width.saturating_sub(KEYS + 1);
    let mut lines = Vec::with_capacity(total);
    for mode in ModeKind::ALL {
        lines.push(Line::styled(
            text::truncate(mode.title(), width),
            theme.style(Meaning::Accent),
        ));
        for offer in help::offers(state, mode) {
            let keys = state.keymap.labels(mode, offer.command);
            lines.push(Line::from(vec![
                Span::styled(
                    format!("{:<KEYS$} ", text::truncate(&keys, KEYS)),
                    theme.style(Meaning::Accent),
                ),
                Span::raw(text::truncate(offer.about, about_width)),
            ]));
        }
    }
    for legend in LEGEND {
        lines.push(Line::styled(
            text::truncate(legend, width),
            theme.style(Meaning::Muted),
        ));
    }
    super::render_scrolled(frame, inner, lines, scroll);
}
