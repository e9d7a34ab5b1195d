//! The queue table. Rows are built only for the visible slice.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Row, Table, TableState};

use crate::console::state::{State, Tab};
use crate::console::text;
use crate::console::theme::{Meaning, Theme};
use crate::model::{Request, Time};

/// Fixed columns: mark, flags, id, requester, roles, (reason fills), age, last.
const MARK: u16 = 1;
const FLAGS: u16 = 3;
const ID: u16 = 8;
const REQUESTER: u16 = 11;
const ROLES: u16 = 18;
const AGE: u16 = 4;
/// Wide enough for `withdrawn` in History; votes and countdowns need less.
const LAST: u16 = 9;
const LAST_NARROW: u16 = 6;
const SELECT_SYMBOL: &str = "▶ ";

pub fn draw(state: &State, frame: &mut Frame, area: Rect, now: Time) {
    if state.tab == Tab::Audit {
        super::audit::draw_table(state, frame, area, now);
        return;
    }
    let theme = &state.theme;
    // History beyond what is loaded: said, and what is happening about it.
    let searched = state
        .matches
        .as_ref()
        .filter(|m| state.tab == Tab::History && m.q == state.filter);
    let older = match (&state.older, state.tab) {
        _ if searched.is_some_and(|m| m.loading) => " · searching the broker…".to_string(),
        _ if searched.is_some_and(|m| m.error.is_some()) => {
            " · search: cannot list (r retries)".to_string()
        }
        _ if searched.is_some_and(|m| m.more()) => {
            " · more matches on the broker, scroll down".to_string()
        }
        _ if searched.is_some() => " · every match loaded".to_string(),
        (o, Tab::History) if o.loading => " · loading older…".to_string(),
        (o, Tab::History) if o.error.is_some() => " · older: cannot list (r retries)".to_string(),
        (o, Tab::History) if o.more() => " · more on the broker, scroll down".to_string(),
        _ => String::new(),
    };
    let title = format!(
        " {} · {} of {}{} · sorted by {}{older} ",
        state.tab.title(),
        state.rows.len(),
        match state.tab {
            Tab::Queue => state.counts.pending,
            Tab::Active => state.counts.active,
            Tab::History | Tab::Audit => state.counts.history,
        },
        if state.tab == Tab::History && state.older.more() {
            " loaded"
        } else {
            ""
        },
        state.sort.name()
    );
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.style(Meaning::Border))
        .title(Span::styled(title, theme.style(Meaning::Accent)));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if state.rows.is_empty() {
        let message = if state.loaded {
            "nothing here"
        } else {
            "loading…"
        };
        let message = if state.active_filter().is_empty() {
            message.to_string()
        } else {
            format!(
                "no request matches {:?}",
                text::inline(state.active_filter())
            )
        };
        frame.render_widget(
            Line::styled(
                text::truncate(&message, inner.width as usize),
                theme.style(Meaning::Muted),
            ),
            inner,
        );
        return;
    }

    let last = if state.tab == Tab::History {
        LAST
    } else {
        LAST_NARROW
    };
    let columns = Columns::fit(inner.width, last);
    let visible = inner.height.saturating_sub(1).max(1) as usize;
    // The stored offset, nudged if a resize left the selection outside the window.
    let mut offset = state.offset.min(state.rows.len().saturating_sub(1));
    if state.selected_index >= offset + visible {
        offset = state.selected_index + 1 - visible;
    }
    let offset = offset.min(state.selected_index);
    let last_header = match state.tab {
        Tab::Queue => "votes",
        Tab::Active => "left",
        Tab::History | Tab::Audit => "state",
    };
    let header = Row::new([
        "",
        "",
        "id",
        "requester",
        "roles",
        "reason",
        "age",
        last_header,
    ])
    .style(theme.style(Meaning::Muted));
    let rows: Vec<Row> = state.rows[offset..]
        .iter()
        .take(visible)
        .filter_map(|id| state.requests.get(id))
        .map(|request| row(state, request, &columns, now))
        .collect();
    let widths = [
        Constraint::Length(MARK),
        Constraint::Length(FLAGS),
        Constraint::Length(ID),
        Constraint::Length(columns.requester),
        Constraint::Length(columns.roles),
        Constraint::Fill(1),
        Constraint::Length(AGE),
        Constraint::Length(last),
    ];
    let table = Table::new(rows, widths)
        .header(header)
        .column_spacing(1)
        .row_highlight_style(theme.style(Meaning::Selected))
        .highlight_symbol(SELECT_SYMBOL)
        .highlight_spacing(ratatui::widgets::HighlightSpacing::Always);
    let mut table_state = TableState::default();
    if state.selected.is_some() {
        table_state.select(Some(state.selected_index - offset));
    }
    frame.render_stateful_widget(table, inner, &mut table_state);
}

/// The widths of the columns that give way on a narrow terminal, so that what is
/// cut is cut by us, with an ellipsis, and never clipped by the table.
struct Columns {
    requester: u16,
    roles: u16,
    reason: u16,
}

impl Columns {
    /// The reason keeps at least this much; roles give way first, then requester.
    const MIN_REASON: u16 = 10;
    const MIN_NAME: u16 = 6;

    fn fit(width: u16, last: u16) -> Columns {
        let fixed = MARK + FLAGS + ID + AGE + last + 7 + text::width(SELECT_SYMBOL) as u16;
        let room = width.saturating_sub(fixed);
        let roles = ROLES.min(
            room.saturating_sub(REQUESTER + Self::MIN_REASON)
                .max(Self::MIN_NAME),
        );
        let requester = REQUESTER.min(
            room.saturating_sub(roles + Self::MIN_REASON)
                .max(Self::MIN_NAME),
        );
        let reason = room.saturating_sub(roles + requester).max(1);
        Columns {
            requester,
            roles,
            reason,
        }
    }
}

fn row<'a>(state: &State, request: &Request, columns: &Columns, now: Time) -> Row<'a> {
    let reason_width = columns.reason as usize;
    let theme = &state.theme;
    let flags = state.flags_of(&request.id);
    let mark = if state.marked.contains(&request.id) {
        Span::styled("●", theme.style(Meaning::Marked))
    } else if state.unseen.contains(&request.id) {
        Span::styled("+", theme.style(Meaning::Accent))
    } else {
        Span::raw(" ")
    };
    let flag_spans = vec![
        flag(flags.emergency, "!", Meaning::Emergency, theme),
        flag(flags.no_ticket, "?", Meaning::Warn, theme),
        flag(
            flags.repeat.is_some() || flags.post_incident_owed,
            "↻",
            Meaning::Warn,
            theme,
        ),
    ];
    let cut = |s: &str, w: u16| text::truncate(&text::inline(s), w as usize);
    let last = match state.tab {
        Tab::Queue => {
            let (have, need) = request.votes();
            let meaning = if have >= need {
                Meaning::Ok
            } else {
                Meaning::Text
            };
            Span::styled(format!("{have}/{need}"), theme.style(meaning))
        }
        Tab::Active => match &request.access {
            Some(access) => Span::raw(text::countdown(access.ends_at - now)),
            None => Span::raw("-"),
        },
        Tab::History | Tab::Audit => {
            Span::styled(request.state.as_str(), theme.style(state_meaning(request)))
        }
    };
    let base = if request.emergency {
        theme.style(Meaning::Emergency)
    } else {
        Style::new()
    };
    Row::new(vec![
        Cell::from(mark),
        Cell::from(Line::from(flag_spans)),
        Cell::from(text::short_id(&request.id)),
        Cell::from(cut(&request.user, columns.requester)),
        Cell::from(cut(&request.roles.join(","), columns.roles)),
        Cell::from(text::truncate(&text::inline(&request.reason), reason_width)),
        Cell::from(Span::styled(
            text::age(now - request.created_at),
            theme.style(Meaning::Muted),
        )),
        Cell::from(last),
    ])
    .style(base)
}

fn flag<'a>(on: bool, glyph: &'a str, meaning: Meaning, theme: &Theme) -> Span<'a> {
    if on {
        Span::styled(glyph, theme.style(meaning))
    } else {
        Span::raw(" ")
    }
}

pub fn state_meaning(request: &Request) -> Meaning {
    use crate::model::State as S;
    match request.state {
        S::Approved | S::Returned | S::Elapsed => Meaning::Ok,
        S::Denied | S::Revoked => Meaning::Error,
        S::Pending => Meaning::Text,
        S::Expired | S::Withdrawn => Meaning::Muted,
    }
}
