//! The tab line: Queue, Active, History (room left for Audit).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::console::state::{State, Tab};
use crate::console::theme::Meaning;

pub fn draw(state: &State, frame: &mut Frame, area: Rect) {
    let theme = &state.theme;
    let mut spans = vec![
        Span::styled(" countersign ", theme.style(Meaning::Accent)),
        Span::raw(" "),
    ];
    for tab in Tab::ALL {
        let count = match tab {
            Tab::Queue => Some(state.counts.pending),
            Tab::Active => Some(state.counts.active),
            Tab::History => Some(state.counts.history),
            Tab::Audit => state.audit.count(),
        };
        // The broker holds more history than is loaded: "History 1000+".
        let more = if tab == Tab::History && state.older.more() {
            "+"
        } else {
            ""
        };
        let label = match count {
            Some(count) => format!("{} {count}{more}", tab.title()),
            None => tab.title().to_string(),
        };
        if tab == state.tab {
            // Brackets mark the current tab without colour.
            spans.push(Span::styled(
                format!("[{label}]"),
                theme
                    .style(Meaning::Accent)
                    .add_modifier(Modifier::UNDERLINED),
            ));
        } else {
            spans.push(Span::styled(
                format!(" {label} "),
                theme.style(Meaning::Muted),
            ));
        }
        spans.push(Span::raw(" "));
    }
    if state.counts.emergency > 0 {
        spans.push(Span::styled(
            format!(" ! {} ", super::status::emergencies(state.counts.emergency)),
            theme.style(Meaning::Emergency),
        ));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}
