//! The `/` filter: typed into, applied with Enter, cleared with Esc. The rows
//! follow each keystroke; the applied filter stays until cleared.

use crossterm::event::{KeyCode, KeyModifiers};

use super::action::{Action, Effect};
use super::command::{Command, ModeKind, Offer};
use super::keymap::Key;
use super::state::{Mode, State};

pub fn commands(_state: &State) -> Vec<Offer> {
    vec![
        Offer::hinted(Command::ApplyFilter, "apply the filter"),
        Offer::hinted(Command::ClearFilter, "clear the filter and close it"),
        Offer::hinted(Command::Help, "show help over this (the text stays)"),
    ]
}

/// A key while typing: a bound command, else a character or a deletion.
pub fn key(state: &State, key: Key) -> Option<Action> {
    if let Some(command) = state.keymap.command(ModeKind::Filter, key) {
        return Some(Action::Command(command));
    }
    match key.code {
        KeyCode::Backspace => Some(Action::FilterBackspace),
        KeyCode::Char(c)
            if !key
                .modifiers
                .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT) =>
        {
            Some(Action::FilterChar(c))
        }
        _ => None,
    }
}

/// A character typed, or (`None`) the last one deleted.
pub(super) fn typed(state: &mut State, c: Option<char>) {
    let Mode::Filter(input) = &mut state.mode else {
        return;
    };
    match c {
        Some(c) => input.push(c),
        None => {
            input.pop();
        }
    }
    super::listing::reorder(state);
}

pub(super) fn run(state: &mut State, command: Command) -> Vec<Effect> {
    match command {
        Command::ApplyFilter => {
            if let Mode::Filter(input) = &state.mode {
                state.filter = input.trim().to_string();
            }
            state.mode = Mode::Tabs;
        }
        Command::ClearFilter => {
            state.mode = Mode::Tabs;
            state.filter.clear();
        }
        Command::Help => {
            state.mode.toggle_help();
            return Vec::new();
        }
        _ => return Vec::new(),
    }
    super::listing::reorder(state);
    Vec::new()
}
