//! The review dialog: the request's context, the role picker, the reason editor,
//! the broker's answer, and which key submits.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use crate::console::command::{Command, ModeKind};
use crate::console::state::{Dialog, DialogFocus, State};
use crate::console::text;
use crate::console::theme::Meaning;
use crate::model::Decision;

const LABEL: usize = 10;
/// Most lines of the request's reason shown above the editor.
const REASON_LINES: usize = 4;
const BULK_LINES: usize = 6;

/// The rows of a dialog with an editor: context, editor, errors, footer. On a short
/// terminal the editor keeps its three rows and the context gives way.
pub(super) fn editor_layout(inner: Rect, context: usize, errors: usize) -> [Rect; 4] {
    Layout::vertical([
        Constraint::Max(context as u16),
        Constraint::Min(3),
        Constraint::Length(errors as u16),
        Constraint::Length(1),
    ])
    .areas(inner)
}

pub fn draw(state: &State, frame: &mut Frame, area: Rect) {
    let Some(dialog) = state.dialog() else { return };
    let theme = &state.theme;
    let outer_width = area.width.saturating_sub(4).min(100);
    let width = outer_width.saturating_sub(2) as usize;
    let context = context_lines(state, dialog, width);
    let errors: Vec<Line> = dialog
        .error
        .iter()
        .flat_map(|e| e.lines().map(str::to_string).collect::<Vec<_>>())
        .flat_map(|e| text::wrap(&format!("✗ {e}"), width))
        .take(4)
        .map(|l| Line::styled(l, theme.style(Meaning::Error)))
        .collect();
    let editor_height = (dialog.editor.lines().len() as u16 + 2).clamp(5, 12);
    let height = 2 + context.len() as u16 + editor_height + errors.len() as u16 + 1;
    let outer = super::centered(area, outer_width, height.min(area.height.saturating_sub(2)));
    let verb = match dialog.decision {
        Decision::Approve => "Approve",
        Decision::Deny => "Deny",
    };
    let title = match dialog.targets[..] {
        [id] => format!(" {verb} request {} ", text::short_id(&id)),
        _ => format!(
            " {verb} {} requests, one review each ",
            dialog.targets.len()
        ),
    };
    let decision_style = match dialog.decision {
        Decision::Approve => theme.style(Meaning::Ok),
        Decision::Deny => theme.style(Meaning::Error),
    };
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.style(Meaning::Accent))
        .title(Span::styled(
            title,
            decision_style.add_modifier(Modifier::BOLD),
        ));
    let inner = block.inner(outer);
    frame.render_widget(Clear, outer);
    frame.render_widget(block, outer);

    let footer = footer(state, dialog, width);
    let [context_area, editor_area, error_area, footer_area] =
        editor_layout(inner, context.len(), errors.len());
    frame.render_widget(Paragraph::new(context), context_area);
    frame.render_widget(Paragraph::new(errors), error_area);
    frame.render_widget(Paragraph::new(footer), footer_area);

    let mut editor = dialog.editor.clone();
    let focused = dialog.focus == DialogFocus::Reason;
    let border = if focused {
        Meaning::Accent
    } else {
        Meaning::Border
    };
    editor.set_block(
        Block::default()
            .borders(Borders::ALL)
            .border_style(theme.style(border))
            .title(" Your reason (required, shown to the requester and kept in the audit log) "),
    );
    editor.set_placeholder_text("Why? Name the ticket or incident.");
    editor.set_placeholder_style(theme.style(Meaning::Muted));
    editor.set_cursor_line_style(theme.style(Meaning::Text));
    editor.set_wrap_mode(ratatui_textarea::WrapMode::WordOrGlyph);
    if !focused {
        editor.set_cursor_style(theme.style(Meaning::Text));
    }
    frame.render_widget(&editor, editor_area);
}

fn context_lines(state: &State, dialog: &Dialog, width: usize) -> Vec<Line<'static>> {
    let theme = &state.theme;
    let muted = theme.style(Meaning::Muted);
    let mut lines = Vec::new();
    let mut field = |label: &str, value: &str, max_lines: usize, style| {
        let wrapped = text::wrap(value, width.saturating_sub(LABEL + 1).max(1));
        let cut = wrapped.len() > max_lines;
        for (i, mut line) in wrapped.into_iter().take(max_lines).enumerate() {
            if cut && i + 1 == max_lines {
                line = text::truncate(&format!("{line} …"), width.saturating_sub(LABEL + 1));
            }
            let label = if i == 0 { label } else { "" };
            lines.push(Line::from(vec![
                Span::styled(format!("{label:<LABEL$} "), muted),
                Span::styled(line, style),
            ]));
        }
    };
    let plain = theme.style(Meaning::Text);
    if let [id] = dialog.targets[..] {
        if let Some(request) = state.requests.get(&id) {
            field("requester", &text::inline(&request.user), 1, plain);
            field("roles", &text::inline(&request.roles.join(", ")), 2, plain);
            let style = if request.emergency {
                theme.style(Meaning::Emergency)
            } else {
                plain
            };
            field(
                "reason",
                &text::multiline(&request.reason),
                REASON_LINES,
                style,
            );
            let prompts: Vec<String> = request
                .roles
                .iter()
                .filter_map(|role| state.roles.get(role).and_then(|r| r.request_prompt.clone()))
                .collect();
            // What the requester's roles asked them to say, frozen when they asked.
            let prompt = request.request_prompt.clone().or_else(|| {
                if prompts.is_empty() {
                    state.whoami.as_ref().and_then(|w| w.request_prompt.clone())
                } else {
                    Some(prompts.join(" / "))
                }
            });
            if let Some(prompt) = prompt {
                field("prompt", &text::inline(&prompt), 2, muted);
            }
        }
    } else {
        for id in dialog.targets.iter().take(BULK_LINES) {
            if let Some(request) = state.requests.get(id) {
                let line = format!(
                    "{} {} {}: {}",
                    text::short_id(id),
                    text::inline(&request.user),
                    text::inline(&request.roles.join(",")),
                    text::inline(&request.reason)
                );
                lines.push(Line::styled(text::truncate(&line, width), plain));
            }
        }
        if dialog.targets.len() > BULK_LINES {
            lines.push(Line::styled(
                format!("… and {} more", dialog.targets.len() - BULK_LINES),
                muted,
            ));
        }
    }
    if !dialog.roles.is_empty() {
        let focused = dialog.focus == DialogFocus::Roles;
        let heading = if focused {
            "grant (Space toggles)"
        } else {
            "grant"
        };
        lines.push(Line::styled(heading.to_string(), muted));
        for (i, choice) in dialog.roles.iter().enumerate() {
            let cursor = focused && i == dialog.role_cursor;
            let text = format!(
                "{} [{}] {}",
                if cursor { "▶" } else { " " },
                if choice.granted { "x" } else { " " },
                text::inline(&choice.name)
            );
            let style = if cursor {
                theme.style(Meaning::Selected)
            } else {
                plain
            };
            lines.push(Line::styled(text::truncate(&text, width), style));
        }
    }
    lines
}

fn footer(state: &State, dialog: &Dialog, width: usize) -> Line<'static> {
    let theme = &state.theme;
    let keymap = &state.keymap;
    let mut text = if dialog.in_flight.is_empty() {
        format!(
            "{} submit · {} cancel (draft kept)",
            keymap.label(ModeKind::Review, Command::Submit),
            keymap.label(ModeKind::Review, Command::Cancel)
        )
    } else {
        format!("submitting {}…", dialog.in_flight.len())
    };
    if !dialog.roles.is_empty() {
        text.push_str(&format!(
            " · {} roles/reason",
            keymap.label(ModeKind::Review, Command::SwitchFocus)
        ));
    }
    Line::styled(text::truncate(&text, width), theme.style(Meaning::Accent))
}
