//! The tabs (Queue, Active, History, Audit): the commands they offer and what each
//! does. The request tabs move through requests and review them; the Audit tab
//! moves through findings; the rest mean the same in every tab.

use super::action::Effect;
use super::command::{Command, Offer};
use super::state::{Held, Mode, State, Tab};
use super::{findings, incoming, inspect, note, review, revoke, search};
use crate::model::{Decision, State as RequestState, Time};

/// What the tabs offer; the hint bar names what applies to the tab shown.
pub fn commands(state: &State) -> Vec<Offer> {
    let requests = state.tab != Tab::Audit;
    let audit = state.tab == Tab::Audit;
    // Never offered on one's own request, or one already reviewed: `a` says why.
    let reviewable = requests
        && (!state.marked.is_empty()
            || state
                .selected_request()
                .is_some_and(|r| review::why_not(state, r).is_none()));
    vec![
        Offer::new(Command::Up, "select the previous row"),
        Offer::new(Command::Down, "select the next row"),
        Offer::new(Command::PageUp, "up one page"),
        Offer::new(Command::PageDown, "down one page"),
        Offer::new(Command::Top, "select the first row"),
        Offer::new(Command::Bottom, "select the last row"),
        Offer::hinted(
            Command::Approve,
            "approve the selected (or marked) requests",
        )
        .hinted_if(reviewable),
        Offer::hinted(Command::Deny, "deny the selected (or marked) requests")
            .hinted_if(reviewable),
        Offer::hinted(Command::Mark, "mark the request for a bulk review").hinted_if(requests),
        Offer::hinted(
            Command::Revoke,
            "revoke the selected approved access, with a reason (rule access_request: update)",
        )
        .hinted_if(state.tab == Tab::Active && revoke::offered(state)),
        Offer::new(Command::ClearMarks, "clear all marks"),
        Offer::hinted(
            Command::MarkReviewed,
            "mark the selected finding reviewed, with a note (Audit tab)",
        )
        .hinted_if(audit),
        Offer::hinted(
            Command::PostIncident,
            "record the post-incident review an approved emergency owes",
        )
        .hinted_if(audit),
        Offer::hinted(
            Command::Open,
            "show the request's full detail and audit history",
        ),
        Offer::hinted(Command::Filter, "filter by requester, role, reason or id")
            .hinted_if(requests),
        Offer::new(Command::ClearFilter, "clear the applied filter"),
        Offer::hinted(
            Command::NextMatch,
            "the next finding matching the filter (Audit tab)",
        )
        .labelled("next match")
        .hinted_if(search::offered(state)),
        Offer::new(
            Command::PrevMatch,
            "the previous finding matching the filter (Audit tab)",
        ),
        Offer::hinted(
            Command::Sort,
            "cycle the sort: age, requester, votes (Audit: severity, kind, user, time)",
        ),
        Offer::hinted(
            Command::Freeze,
            "pause live updates (buffered until resumed)",
        )
        .hinted_if(requests),
        Offer::hinted(Command::NextTab, "next tab"),
        Offer::new(Command::Tab1, "the Queue tab"),
        Offer::new(Command::Tab2, "the Active tab"),
        Offer::new(Command::Tab3, "the History tab"),
        Offer::new(Command::Tab4, "the Audit tab"),
        Offer::new(Command::CopyId, "copy the selected request's id (OSC 52)"),
        Offer::hinted(
            Command::DemoEnv,
            "the demo's environment: broker URL and every user's token",
        )
        .labelled("tokens")
        .hinted_if(state.demo_env.is_some()),
        Offer::new(Command::PrevTab, "previous tab"),
        Offer::new(Command::DetailDown, "scroll the detail pane down"),
        Offer::new(Command::DetailUp, "scroll the detail pane up"),
        Offer::new(
            Command::Refresh,
            "reload requests (and findings) from the broker",
        ),
        Offer::hinted(Command::Help, "show or hide this help"),
        Offer::hinted(Command::Quit, "quit (asks first when drafts would be lost)"),
    ]
}

/// A command in the tabs.
pub(super) fn run(state: &mut State, command: Command, now: Time) -> Vec<Effect> {
    if state.tab == Tab::Audit {
        run_audit(state, command, now)
    } else {
        run_requests(state, command, now)
    }
}

/// The Audit tab: the keys move through findings and sort them; the rest mean what
/// they mean in every tab.
fn run_audit(state: &mut State, command: Command, now: Time) -> Vec<Effect> {
    let page = state.page.max(1);
    let at = state.audit.selected;
    match command {
        Command::Up => findings::select(state, at.saturating_sub(1)),
        Command::Down => findings::select(state, at + 1),
        Command::PageUp => findings::select(state, at.saturating_sub(page)),
        Command::PageDown => findings::select(state, at + page),
        Command::Top => findings::select(state, 0),
        Command::Bottom => findings::select(state, usize::MAX),
        Command::Sort => return findings::next_sort(state, now),
        Command::Approve | Command::Deny | Command::Mark => state.set_notice(
            "findings are read here; review requests in the Queue tab",
            now,
            true,
        ),
        Command::Refresh => {
            let mut effects = findings::fetch(state, now);
            effects.push(Effect::Refresh);
            return effects;
        }
        _ => return run_requests(state, command, now),
    }
    Vec::new()
}

/// Every tab's commands, and the request tabs' own.
pub(super) fn run_requests(state: &mut State, command: Command, now: Time) -> Vec<Effect> {
    let page = state.page.max(1);
    match command {
        Command::Up => state.select_index(state.selected_index.saturating_sub(1)),
        Command::Down => state.select_index(state.selected_index + 1),
        Command::PageUp => state.select_index(state.selected_index.saturating_sub(page)),
        Command::PageDown => state.select_index(state.selected_index + page),
        Command::Top => state.select_index(0),
        Command::Bottom => state.select_index(state.rows.len().saturating_sub(1)),
        Command::Approve => review::open_dialog(state, Decision::Approve, now),
        Command::Deny => review::open_dialog(state, Decision::Deny, now),
        Command::Mark => {
            if let Some(request) = state.selected_request() {
                let id = request.id;
                if request.state != RequestState::Pending {
                    state.set_notice("only pending requests can be marked", now, true);
                } else if !state.marked.remove(&id) {
                    state.marked.insert(id);
                }
                state.select_index(state.selected_index + 1);
            }
        }
        Command::ClearMarks => state.marked.clear(),
        Command::Filter => state.mode = Mode::Filter(state.filter.clone()),
        Command::ClearFilter if !state.filter.is_empty() => {
            state.filter.clear();
            super::listing::reorder(state);
        }
        Command::Sort => {
            state.sort = state.sort.next();
            super::listing::reorder(state);
        }
        Command::Freeze => match state.frozen.take() {
            Some(held) => {
                let mut effects = Vec::new();
                for update in held {
                    effects.extend(match update {
                        Held::Loaded(requests) => incoming::loaded(state, requests, now),
                        Held::Upserted(request) => incoming::upserted(state, *request, now),
                    });
                }
                return effects;
            }
            None => state.frozen = Some(Vec::new()),
        },
        Command::NextTab | Command::PrevTab => {
            let count = Tab::ALL.len();
            let step = if command == Command::NextTab {
                1
            } else {
                count - 1
            };
            return switch_tab(state, Tab::ALL[(state.tab.index() + step) % count], now);
        }
        Command::Tab1 => return switch_tab(state, Tab::Queue, now),
        Command::Tab2 => return switch_tab(state, Tab::Active, now),
        Command::Tab3 => return switch_tab(state, Tab::History, now),
        Command::Tab4 => return switch_tab(state, Tab::Audit, now),
        Command::DemoEnv => match state.demo_env {
            Some(_) => state.mode = Mode::Panel { scroll: 0 },
            None => state.set_notice(
                "no demo environment: this console is not the demo's",
                now,
                true,
            ),
        },
        Command::CopyId => {
            let id = if state.tab == Tab::Audit {
                state.audit.selected_finding().and_then(|f| f.request_id)
            } else {
                state.selected
            };
            return copy_id(state, id, now);
        }
        Command::DetailDown => state.detail_scroll = state.detail_scroll.saturating_add(5),
        Command::DetailUp => state.detail_scroll = state.detail_scroll.saturating_sub(5),
        Command::Refresh => return vec![Effect::Refresh],
        Command::Help => state.mode.toggle_help(),
        Command::Quit => return quit(state),
        Command::MarkReviewed => note::open_mark(state, now),
        Command::PostIncident => note::open_post_incident(state, now),
        Command::Revoke => revoke::open(state, now),
        Command::NextMatch => search::jump(state, true, now),
        Command::PrevMatch => search::jump(state, false, now),
        Command::Open => return inspect::open(state, now),
        // Other modes' commands.
        _ => {}
    }
    Vec::new()
}

fn switch_tab(state: &mut State, tab: Tab, now: Time) -> Vec<Effect> {
    state.tab = tab;
    state.selected = None;
    state.selected_index = 0;
    state.offset = 0;
    state.detail_scroll = 0;
    super::listing::reorder(state);
    if state.tab == Tab::Audit && (state.audit.findings.is_none() || state.audit.stale) {
        return findings::fetch(state, now);
    }
    Vec::new()
}

/// `y`: the full id to the terminal's clipboard (OSC 52), which works over ssh.
pub(super) fn copy_id(state: &mut State, id: Option<uuid::Uuid>, now: Time) -> Vec<Effect> {
    let Some(id) = id else {
        state.set_notice("nothing selected to copy", now, true);
        return Vec::new();
    };
    state.set_notice(
        format!("copied {id} (if the terminal allows OSC 52)"),
        now,
        false,
    );
    vec![Effect::Copy(id.to_string())]
}

/// `q`: quits at once, unless that would lose drafts: then it asks.
pub(super) fn quit(state: &mut State) -> Vec<Effect> {
    let drafts =
        state.drafts.len() + state.note_drafts.len() + usize::from(state.bulk_draft.is_some());
    if drafts == 0 {
        return vec![Effect::Quit];
    }
    let plural = if drafts == 1 { "" } else { "s" };
    state.mode.confirm(
        format!("Quit and lose {drafts} unsent draft{plural}?"),
        Effect::Quit,
    );
    Vec::new()
}

/// A click in the table selects the row under it (in the tabs only; the dialogs
/// and overlays keep the keyboard's focus).
pub(super) fn click(state: &mut State, column: u16, row: u16) {
    if state.mode.kind() != super::command::ModeKind::Tabs {
        return;
    }
    let (width, height) = state.size;
    let table = super::view::areas(ratatui::layout::Rect::new(0, 0, width, height)).queue;
    // Below the top border and the header row, inside the side borders.
    let first = table.y + 2;
    let inside = column > table.x && column + 1 < table.x + table.width;
    if !inside || row < first || row + 1 >= table.y + table.height {
        return;
    }
    let index = (row - first) as usize;
    if state.tab == Tab::Audit {
        // The rows as drawn: grouped by kind, headings sit between the findings.
        let visible = table.height.saturating_sub(3).max(1) as usize;
        if let Some(finding) = super::view::audit::finding_at(state, visible, index) {
            findings::select(state, finding);
        }
        return;
    }
    if state.offset + index < state.rows.len() {
        state.select_index(state.offset + index);
    }
}
