//! Terminal input → actions. The mode that has the keyboard reads the key: the
//! dialogs and the filter through their own modules (they type text), the rest
//! through the keymap for their mode.

use crossterm::event::{KeyEvent, KeyEventKind};

use super::action::Action;
use super::command::ModeKind;
use super::keymap::Key;
use super::state::State;
use super::{filter, note, review};

/// Turns a key press into an action, given the mode.
pub fn action_for(state: &State, event: KeyEvent) -> Option<Action> {
    if event.kind == KeyEventKind::Release {
        return None;
    }
    let key = Key::from_event(&event);
    match state.mode.kind() {
        ModeKind::Filter => filter::key(state, key),
        ModeKind::Review => review::key(state, key, event),
        ModeKind::Note => note::key(state, key, event),
        mode @ (ModeKind::Tabs
        | ModeKind::Inspect
        | ModeKind::Help
        | ModeKind::Confirm
        | ModeKind::Panel) => state.keymap.command(mode, key).map(Action::Command),
    }
}

#[cfg(test)]
mod tests {
    use crossterm::event::{KeyCode, KeyModifiers};

    use super::*;
    use crate::console::command::Command;
    use crate::console::keymap::Keymap;
    use crate::console::state::Mode;
    use crate::console::theme::Theme;

    #[test]
    fn keys_mean_what_the_mode_says() {
        let mut state = State::new("b", Keymap::default(), Theme::no_color());
        let press = |c| KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE);
        let esc = KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE);
        assert_eq!(
            action_for(&state, press('q')),
            Some(Action::Command(Command::Quit))
        );
        state.mode = Mode::Filter(String::new());
        assert_eq!(
            action_for(&state, press('q')),
            Some(Action::FilterChar('q'))
        );
        assert_eq!(
            action_for(&state, esc),
            Some(Action::Command(Command::ClearFilter))
        );
        state.mode = Mode::Tabs;
        state.mode.toggle_help();
        assert_eq!(
            action_for(&state, press('a')),
            None,
            "help swallows other keys"
        );
        assert_eq!(
            action_for(&state, press('j')),
            Some(Action::Command(Command::Down)),
            "help scrolls"
        );
        assert_eq!(
            action_for(&state, esc),
            Some(Action::Command(Command::Help))
        );
        let mut release = press('q');
        release.kind = KeyEventKind::Release;
        state.mode = Mode::Tabs;
        assert_eq!(action_for(&state, release), None);
    }
}
