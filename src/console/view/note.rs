//! The note dialogs: what is being marked or reviewed, the outcome choice of a
//! post-incident review, the note editor, the broker's answer and the keys.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use crate::console::command::{Command, ModeKind};
use crate::console::note::outcome_word;
use crate::console::state::{NoteDialog, NoteKind, State};
use crate::console::text;
use crate::console::theme::Meaning;
use crate::model::{Decision, IncidentOutcome, Time};
use uuid::Uuid;

const LABEL: usize = 10;

pub fn draw(state: &State, frame: &mut Frame, area: Rect, now: Time) {
    let Some(dialog) = state.note() else { return };
    let theme = &state.theme;
    let outer_width = area.width.saturating_sub(4).min(100);
    let width = outer_width.saturating_sub(2) as usize;
    let context = match &dialog.kind {
        NoteKind::Finding { key } => finding_lines(state, key, width, now),
        NoteKind::PostIncident { id, outcome } => incident_lines(state, *id, *outcome, width, now),
        NoteKind::Revoke { id } => revoke_lines(state, *id, width, now),
    };
    let errors: Vec<Line> = dialog
        .error
        .iter()
        .flat_map(|e| text::wrap(&format!("✗ {}", text::inline(e)), width))
        .take(4)
        .map(|l| Line::styled(l, theme.style(Meaning::Error)))
        .collect();
    let editor_height = (dialog.editor.lines().len() as u16 + 2).clamp(5, 12);
    let height = 2 + context.len() as u16 + editor_height + errors.len() as u16 + 1;
    let outer = super::centered(area, outer_width, height.min(area.height.saturating_sub(2)));
    let title = match &dialog.kind {
        NoteKind::Finding { .. } => " Mark finding reviewed ".to_string(),
        NoteKind::PostIncident { id, .. } => {
            format!(" Post-incident review of request {} ", text::short_id(id))
        }
        NoteKind::Revoke { id } => format!(" Revoke the access of request {} ", text::short_id(id)),
    };
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.style(Meaning::Accent))
        .title(Span::styled(
            title,
            theme.style(Meaning::Accent).add_modifier(Modifier::BOLD),
        ));
    let inner = block.inner(outer);
    frame.render_widget(Clear, outer);
    frame.render_widget(block, outer);

    let [context_area, editor_area, error_area, footer_area] =
        super::dialog::editor_layout(inner, context.len(), errors.len());
    frame.render_widget(Paragraph::new(context), context_area);
    frame.render_widget(Paragraph::new(errors), error_area);
    frame.render_widget(Paragraph::new(footer(state, dialog, width)), footer_area);

    let (title, placeholder) = match dialog.kind {
        NoteKind::Finding { .. } => (
            " Your note (required, kept in the audit log) ",
            "What did you find or do? e.g. asked carrot: pre-arranged for the release",
        ),
        NoteKind::PostIncident { .. } => (
            " Notes (required, kept in the audit log) ",
            "What happened, and was the emergency access used as asked?",
        ),
        NoteKind::Revoke { .. } => (
            " Reason (required, kept in the audit log) ",
            "Why must this access end now? e.g. laptop reported stolen, INC-311",
        ),
    };
    let mut editor = dialog.editor.clone();
    editor.set_block(
        Block::default()
            .borders(Borders::ALL)
            .border_style(theme.style(Meaning::Accent))
            .title(title),
    );
    editor.set_placeholder_text(placeholder);
    editor.set_placeholder_style(theme.style(Meaning::Muted));
    editor.set_cursor_line_style(theme.style(Meaning::Text));
    editor.set_wrap_mode(ratatui_textarea::WrapMode::WordOrGlyph);
    frame.render_widget(&editor, editor_area);
}

/// `label     value`, wrapped under itself to at most `max_lines`.
fn field(
    lines: &mut Vec<Line<'static>>,
    label: &str,
    value: &str,
    max_lines: usize,
    width: usize,
    (muted, style): (Style, Style),
) {
    let value_width = width.saturating_sub(LABEL + 1).max(1);
    let wrapped = text::wrap(value, value_width);
    let cut = wrapped.len() > max_lines;
    for (i, mut line) in wrapped.into_iter().take(max_lines).enumerate() {
        if cut && i + 1 == max_lines {
            line = text::truncate(&format!("{line} …"), value_width);
        }
        let label = if i == 0 { label } else { "" };
        lines.push(Line::from(vec![
            Span::styled(format!("{label:<LABEL$} "), muted),
            Span::styled(line, style),
        ]));
    }
}

fn finding_lines(state: &State, key: &str, width: usize, now: Time) -> Vec<Line<'static>> {
    let theme = &state.theme;
    let (muted, plain) = (theme.style(Meaning::Muted), theme.style(Meaning::Text));
    let mut lines = Vec::new();
    let finding = state
        .audit
        .findings
        .iter()
        .flatten()
        .find(|f| f.key() == key);
    let Some(finding) = finding else {
        // Reloaded away meanwhile: the key is what will be marked.
        field(
            &mut lines,
            "finding",
            &text::inline(key),
            2,
            width,
            (muted, plain),
        );
        return lines;
    };
    let heading = format!("{} · {}", finding.kind, finding.severity);
    field(&mut lines, "finding", &heading, 1, width, (muted, plain));
    let about = match finding.request_id {
        Some(id) => format!(
            "request {} by {}",
            text::short_id(&id),
            text::inline(&finding.user)
        ),
        None => text::inline(&finding.user),
    };
    field(&mut lines, "about", &about, 1, width, (muted, plain));
    if let Some(reviewer) = &finding.reviewer {
        field(
            &mut lines,
            "reviewer",
            &text::inline(reviewer),
            1,
            width,
            (muted, plain),
        );
    }
    field(
        &mut lines,
        "detail",
        &text::multiline(&finding.detail),
        3,
        width,
        (muted, plain),
    );
    if let Some(review) = &finding.reviewed {
        let text = format!(
            "✓ by {} {} ago: {} (a new mark replaces it)",
            text::inline(&review.by),
            text::age(now - review.at),
            text::inline(&review.note)
        );
        field(
            &mut lines,
            "reviewed",
            &text,
            2,
            width,
            (muted, theme.style(Meaning::Ok)),
        );
    }
    lines
}

fn incident_lines(
    state: &State,
    id: Uuid,
    outcome: Option<IncidentOutcome>,
    width: usize,
    now: Time,
) -> Vec<Line<'static>> {
    let theme = &state.theme;
    let (muted, plain) = (theme.style(Meaning::Muted), theme.style(Meaning::Text));
    let mut lines = Vec::new();
    if let Some(request) = state.request(&id) {
        field(
            &mut lines,
            "requester",
            &text::inline(&request.user),
            1,
            width,
            (muted, plain),
        );
        field(
            &mut lines,
            "roles",
            &text::inline(&request.roles.join(", ")),
            1,
            width,
            (muted, plain),
        );
        field(
            &mut lines,
            "reason",
            &text::multiline(&request.reason),
            3,
            width,
            (muted, theme.style(Meaning::Emergency)),
        );
        let approvals: Vec<String> = request
            .reviews
            .iter()
            .filter(|r| r.decision == Decision::Approve)
            .map(|r| {
                format!(
                    "{} {} ago: {}",
                    text::inline(&r.author),
                    text::age(now - r.created_at),
                    text::inline(&r.reason)
                )
            })
            .collect();
        if let Some(by) = &request.resolved_by {
            field(
                &mut lines,
                "approved",
                &format!("by override ({})", text::inline(by)),
                1,
                width,
                (muted, plain),
            );
        } else if !approvals.is_empty() {
            field(
                &mut lines,
                "approved",
                &approvals.join("; "),
                2,
                width,
                (muted, plain),
            );
        }
        if let Some(access) = &request.access {
            let held = match access.returned_at {
                Some(at) => format!("returned {} ago", text::age(now - at)),
                None if access.ends_at > now => {
                    format!(
                        "still held, ends in {}",
                        text::countdown(access.ends_at - now)
                    )
                }
                None => format!("ended {} ago", text::age(now - access.ends_at)),
            };
            field(&mut lines, "access", &held, 1, width, (muted, plain));
        }
    } else {
        let text = format!("{id} (not loaded; the broker checks it is owed)");
        field(&mut lines, "request", &text, 2, width, (muted, plain));
    }
    let choice = |value: IncidentOutcome| {
        let on = outcome == Some(value);
        let style = if on {
            theme.style(Meaning::Selected)
        } else {
            plain
        };
        Span::styled(
            format!("{} {}", if on { "◉" } else { "○" }, outcome_word(value)),
            style,
        )
    };
    let hint = match outcome {
        None => format!(
            "  ({} chooses)",
            state.keymap.label(ModeKind::Note, Command::SwitchFocus)
        ),
        Some(_) => format!(
            "  ({} changes)",
            state.keymap.label(ModeKind::Note, Command::SwitchFocus)
        ),
    };
    lines.push(Line::from(vec![
        Span::styled(format!("{:<LABEL$} ", "outcome"), muted),
        choice(IncidentOutcome::Justified),
        Span::raw("   "),
        choice(IncidentOutcome::Unjustified),
        Span::styled(hint, muted),
    ]));
    lines
}

/// What revoking ends: whose access, to what, until when, and what it does.
fn revoke_lines(state: &State, id: Uuid, width: usize, now: Time) -> Vec<Line<'static>> {
    let theme = &state.theme;
    let (muted, plain) = (theme.style(Meaning::Muted), theme.style(Meaning::Text));
    let mut lines = Vec::new();
    let Some(request) = state.request(&id) else {
        let text = format!("{id} (not loaded; the broker checks it is approved)");
        field(&mut lines, "request", &text, 2, width, (muted, plain));
        return lines;
    };
    field(
        &mut lines,
        "requester",
        &text::inline(&request.user),
        1,
        width,
        (muted, plain),
    );
    let granted = if request.granted_roles.is_empty() {
        &request.roles
    } else {
        &request.granted_roles
    };
    field(
        &mut lines,
        "granted",
        &text::inline(&granted.join(", ")),
        1,
        width,
        (muted, plain),
    );
    field(
        &mut lines,
        "reason",
        &text::multiline(&request.reason),
        2,
        width,
        (muted, plain),
    );
    if let Some(access) = &request.access {
        let ends = if access.ends_at > now {
            format!(
                "ends in {} by itself",
                text::countdown(access.ends_at - now)
            )
        } else {
            format!("ended {} ago", text::age(now - access.ends_at))
        };
        field(&mut lines, "access", &ends, 1, width, (muted, plain));
    }
    field(
        &mut lines,
        "revoking",
        "ends it now: the request becomes revoked and its SSH certificates go in the KRL",
        2,
        width,
        (muted, theme.style(Meaning::Warn)),
    );
    lines
}

fn footer(state: &State, dialog: &NoteDialog, width: usize) -> Line<'static> {
    let keymap = &state.keymap;
    let mut text = if dialog.in_flight {
        "submitting…".to_string()
    } else {
        format!(
            "{} submit · {} cancel (draft kept)",
            keymap.label(ModeKind::Note, Command::Submit),
            keymap.label(ModeKind::Note, Command::Cancel)
        )
    };
    if matches!(dialog.kind, NoteKind::PostIncident { .. }) {
        text.push_str(&format!(
            " · {} outcome",
            keymap.label(ModeKind::Note, Command::SwitchFocus)
        ));
    }
    Line::styled(
        text::truncate(&text, width),
        state.theme.style(Meaning::Accent),
    )
}
