//! The demo's environment panel: the file the demo wrote (broker URL and every
//! user's token as `export` lines), kept on screen for a second terminal.

use super::action::Effect;
use super::command::{Command, Offer};
use super::state::{Mode, State};

pub fn commands(_state: &State) -> Vec<Offer> {
    vec![
        Offer::hinted(Command::Down, "scroll down"),
        Offer::new(Command::Up, "scroll up"),
        Offer::new(Command::PageDown, "down one page"),
        Offer::new(Command::PageUp, "up one page"),
        Offer::new(Command::Top, "to the top"),
        Offer::new(Command::Bottom, "to the end"),
        Offer::hinted(Command::DemoEnv, "close the panel").labelled("close"),
    ]
}

pub(super) fn run(state: &mut State, command: Command) -> Vec<Effect> {
    let lines = state
        .demo_env
        .as_ref()
        .map_or(0, |env| env.text.lines().count()) as u16;
    let page = state.size.1.saturating_sub(5).max(1);
    let last = lines.saturating_sub(page);
    let Mode::Panel { scroll } = &mut state.mode else {
        return Vec::new();
    };
    match command {
        Command::Up => *scroll = scroll.saturating_sub(1),
        Command::Down => *scroll = scroll.saturating_add(1).min(last),
        Command::PageUp => *scroll = scroll.saturating_sub(page),
        Command::PageDown => *scroll = scroll.saturating_add(page).min(last),
        Command::Top => *scroll = 0,
        Command::Bottom => *scroll = last,
        Command::DemoEnv => state.mode = Mode::Tabs,
        _ => {}
    }
    Vec::new()
}
