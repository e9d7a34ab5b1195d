//! The `?` overlay as a mode: it sits over whatever was open, scrolls, and closes
//! back to it. It also gathers every mode's declared commands, which the overlay
//! and the hint bar are drawn from.

use super::action::Effect;
use super::command::{Command, ModeKind, Offer};
use super::state::{Mode, State};
use super::{browse, confirm, filter, inspect, note, panel, review};

/// What the flags in the queue mean, below the keys.
pub const LEGEND: &[&str] = &[
    "Flags: ! emergency  ? no ticket  ↻ repeat request / post-incident review owed",
    "       + new  ● marked",
];

pub fn commands(_state: &State) -> Vec<Offer> {
    vec![
        Offer::hinted(Command::Down, "scroll down"),
        Offer::new(Command::Up, "scroll up"),
        Offer::hinted(Command::PageDown, "down one page"),
        Offer::new(Command::PageUp, "up one page"),
        Offer::new(Command::Top, "to the top"),
        Offer::hinted(Command::Bottom, "to the end"),
        Offer::hinted(Command::Help, "close this help"),
    ]
}

/// What a mode's module declares it offers.
pub fn offers(state: &State, mode: ModeKind) -> Vec<Offer> {
    match mode {
        ModeKind::Tabs => browse::commands(state),
        ModeKind::Inspect => inspect::commands(state),
        ModeKind::Filter => filter::commands(state),
        ModeKind::Review => review::commands(state),
        ModeKind::Note => note::commands(state),
        ModeKind::Help => commands(state),
        ModeKind::Confirm => confirm::commands(state),
        ModeKind::Panel => panel::commands(state),
    }
}

/// How many lines the overlay's text has: a heading and one line per command for
/// each mode, then the legend.
pub fn line_count(state: &State) -> usize {
    ModeKind::ALL
        .iter()
        .map(|mode| 1 + offers(state, *mode).len())
        .sum::<usize>()
        + LEGEND.len()
}

/// The overlay's rows of text on a terminal `height` rows high: it leaves the hint
/// bar visible below it, and has borders.
pub fn visible_rows(height: u16) -> u16 {
    height.saturating_sub(3).max(1)
}

pub(super) fn run(state: &mut State, command: Command) -> Vec<Effect> {
    let page = visible_rows(state.size.1);
    let last = (line_count(state) as u16).saturating_sub(page);
    let Mode::Help { scroll, .. } = &mut state.mode else {
        return Vec::new();
    };
    match command {
        Command::Up => *scroll = scroll.saturating_sub(1),
        Command::Down => *scroll = scroll.saturating_add(1).min(last),
        Command::PageUp => *scroll = scroll.saturating_sub(page),
        Command::PageDown => *scroll = scroll.saturating_add(page).min(last),
        Command::Top => *scroll = 0,
        Command::Bottom => *scroll = last,
        Command::Help => state.mode.toggle_help(),
        _ => {}
    }
    Vec::new()
}
