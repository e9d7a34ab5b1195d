//! The `?` overlay, generated from the keymap that dispatches keys.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use crate::console::keymap::Context;
use crate::console::state::State;
use crate::console::text;
use crate::console::theme::Meaning;

const KEYS: usize = 16;

pub fn draw(state: &State, frame: &mut Frame, area: Rect) {
    let theme = &state.theme;
    let help = state.keymap.help();
    let outer = super::centered(area, 96, help.len() as u16 + 9);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.style(Meaning::Accent))
        .title(Span::styled(
            " Keys (? or Esc closes) ",
            theme.style(Meaning::Accent),
        ));
    let inner = block.inner(outer);
    frame.render_widget(Clear, outer);
    frame.render_widget(block, outer);
    let width = inner.width as usize;
    let about_width = width.saturating_sub(KEYS + 1);
    let mut lines = Vec::new();
    for (context, heading) in [
        (Context::Queue, "In the tabs and a request's history"),
        (
            Context::Dialog,
            "In a dialog (review, mark reviewed, post-incident review)",
        ),
    ] {
        lines.push(Line::styled(heading, theme.style(Meaning::Accent)));
        for (_, keys, about) in help.iter().filter(|(c, _, _)| *c == context) {
            lines.push(Line::from(vec![
                Span::styled(
                    format!("{:<KEYS$} ", text::truncate(keys, KEYS)),
                    theme.style(Meaning::Accent),
                ),
                Span::raw(text::truncate(about, about_width)),
            ]));
        }
    }
    lines.push(Line::styled("In the filter", theme.style(Meaning::Accent)));
    lines.push(Line::raw(text::truncate(
        "type to filter, Enter applies, Esc clears",
        width,
    )));
    lines.push(Line::styled(
        text::truncate(
            "Flags: ! emergency  ? no ticket  ↻ repeat, or post-incident review owed  + new  ● marked",
            width,
        ),
        theme.style(Meaning::Muted),
    ));
    frame.render_widget(Paragraph::new(lines), inner);
}
