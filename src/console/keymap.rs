//! Key bindings → commands. The same table dispatches keys, draws the bottom hint bar
//! and the `?` overlay, so help can never drift from the keys. Bindings can be
//! changed from the `[keys]` table of console.toml.

use std::collections::BTreeMap;
use std::fmt;

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::action::Action;
use super::state::{DialogFocus, State};

/// Where a command applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Context {
    /// The tabs and a request's history.
    Queue,
    /// The review, mark and post-incident review dialogs.
    Dialog,
}

/// What is on screen, for the hint bar: each command is hinted where it applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    /// Queue, Active and History.
    Requests,
    Audit,
    /// A request's full detail and audit history.
    Inspect,
    Dialog,
}

/// Everything a key can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Command {
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    Approve,
    Deny,
    Mark,
    ClearMarks,
    Filter,
    Sort,
    Freeze,
    NextTab,
    PrevTab,
    DetailDown,
    DetailUp,
    Refresh,
    Help,
    Quit,
    Submit,
    Cancel,
    SwitchFocus,
    ToggleRole,
    MarkReviewed,
    PostIncident,
    Open,
    Back,
}

/// What a command is called in console.toml, what it does, where, and on which
/// screens the bottom hint bar shows it.
pub struct CommandInfo {
    pub name: &'static str,
    pub about: &'static str,
    pub context: Context,
    pub hint: &'static [Screen],
}

impl Command {
    pub const ALL: [Command; 28] = [
        Command::Up,
        Command::Down,
        Command::PageUp,
        Command::PageDown,
        Command::Top,
        Command::Bottom,
        Command::Approve,
        Command::Deny,
        Command::Mark,
        Command::ClearMarks,
        Command::MarkReviewed,
        Command::PostIncident,
        Command::Open,
        Command::Back,
        Command::Filter,
        Command::Sort,
        Command::Freeze,
        Command::NextTab,
        Command::PrevTab,
        Command::DetailDown,
        Command::DetailUp,
        Command::Refresh,
        Command::Help,
        Command::Quit,
        Command::Submit,
        Command::Cancel,
        Command::SwitchFocus,
        Command::ToggleRole,
    ];

    pub fn info(self) -> CommandInfo {
        use Context::{Dialog, Queue};
        use Screen::{Audit, Inspect, Requests};
        const NONE: &[Screen] = &[];
        const DIALOG: &[Screen] = &[Screen::Dialog];
        const EVERYWHERE: &[Screen] = &[Requests, Audit, Inspect];
        let (name, about, context, hint): (_, _, _, &'static [Screen]) = match self {
            Command::Up => (
                "up",
                "select the previous row (in a history: scroll up)",
                Queue,
                NONE,
            ),
            Command::Down => (
                "down",
                "select the next row (in a history: scroll down)",
                Queue,
                NONE,
            ),
            Command::PageUp => ("page_up", "scroll up one page", Queue, NONE),
            Command::PageDown => ("page_down", "scroll down one page", Queue, NONE),
            Command::Top => ("top", "select the first row", Queue, NONE),
            Command::Bottom => ("bottom", "select the last row", Queue, NONE),
            Command::Approve => (
                "approve",
                "approve the selected (or marked) requests",
                Queue,
                &[Requests],
            ),
            Command::Deny => (
                "deny",
                "deny the selected (or marked) requests",
                Queue,
                &[Requests],
            ),
            Command::Mark => (
                "mark",
                "mark the request for a bulk review",
                Queue,
                &[Requests],
            ),
            Command::ClearMarks => ("clear_marks", "clear all marks", Queue, NONE),
            Command::Filter => (
                "filter",
                "filter by requester, role, reason or id",
                Queue,
                &[Requests],
            ),
            Command::Sort => (
                "sort",
                "cycle the sort: age, requester, votes (Audit: severity, kind, user, time)",
                Queue,
                &[Requests, Audit],
            ),
            Command::Freeze => (
                "freeze",
                "pause live updates (buffered until resumed)",
                Queue,
                &[Requests],
            ),
            Command::NextTab => ("next_tab", "next tab", Queue, EVERYWHERE),
            Command::PrevTab => ("prev_tab", "previous tab", Queue, NONE),
            Command::DetailDown => ("detail_down", "scroll the detail pane down", Queue, NONE),
            Command::DetailUp => ("detail_up", "scroll the detail pane up", Queue, NONE),
            Command::Refresh => (
                "refresh",
                "reload requests (and findings, or the open history) from the broker",
                Queue,
                NONE,
            ),
            Command::Help => ("help", "show or hide this help", Queue, EVERYWHERE),
            Command::Quit => ("quit", "quit", Queue, EVERYWHERE),
            Command::MarkReviewed => (
                "mark_reviewed",
                "mark the selected finding reviewed, with a note (Audit tab)",
                Queue,
                &[Audit],
            ),
            Command::PostIncident => (
                "post_incident_review",
                "record the post-incident review an approved emergency owes",
                Queue,
                &[Audit, Inspect],
            ),
            Command::Open => (
                "open",
                "show the request's full detail and audit history",
                Queue,
                &[Requests, Audit],
            ),
            Command::Back => (
                "back",
                "from a request's history back to the list, selection kept",
                Queue,
                &[Inspect],
            ),
            Command::Submit => ("submit", "submit the dialog", Dialog, DIALOG),
            Command::Cancel => (
                "cancel",
                "close the dialog (the draft is kept)",
                Dialog,
                DIALOG,
            ),
            Command::SwitchFocus => (
                "switch_focus",
                "move between roles and reason (post-incident review: change the outcome)",
                Dialog,
                DIALOG,
            ),
            Command::ToggleRole => (
                "toggle_role",
                "grant or withhold the role under the cursor",
                Dialog,
                DIALOG,
            ),
        };
        CommandInfo {
            name,
            about,
            context,
            hint,
        }
    }

    pub fn by_name(name: &str) -> Option<Command> {
        Command::ALL.into_iter().find(|c| c.info().name == name)
    }
}

/// A key with its modifiers. Shift is folded into the character for letters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    pub code: KeyCode,
    pub modifiers: KeyModifiers,
}

impl Key {
    pub const fn new(code: KeyCode, modifiers: KeyModifiers) -> Self {
        Key { code, modifiers }
    }

    pub const fn plain(code: KeyCode) -> Self {
        Key::new(code, KeyModifiers::NONE)
    }

    pub const fn char(c: char) -> Self {
        Key::plain(KeyCode::Char(c))
    }

    pub fn from_event(event: &KeyEvent) -> Self {
        let mut modifiers =
            event.modifiers & (KeyModifiers::CONTROL | KeyModifiers::ALT | KeyModifiers::SHIFT);
        if matches!(event.code, KeyCode::Char(_) | KeyCode::BackTab) {
            modifiers.remove(KeyModifiers::SHIFT);
        }
        Key::new(event.code, modifiers)
    }

    /// Reads `a`, `G`, `?`, `space`, `ctrl-s`, `alt-enter`, `pgdn`, `f1`…
    pub fn parse(text: &str) -> Option<Key> {
        let mut modifiers = KeyModifiers::NONE;
        let mut rest = text.trim();
        loop {
            let lower = rest.to_ascii_lowercase();
            let (m, len) = if lower.starts_with("ctrl-") || lower.starts_with("ctrl+") {
                (KeyModifiers::CONTROL, 5)
            } else if lower.starts_with("alt-") || lower.starts_with("alt+") {
                (KeyModifiers::ALT, 4)
            } else if lower.starts_with("shift-") || lower.starts_with("shift+") {
                (KeyModifiers::SHIFT, 6)
            } else {
                break;
            };
            if rest.len() == len {
                break;
            }
            modifiers |= m;
            rest = &rest[len..];
        }
        let mut chars = rest.chars();
        let code = match (chars.next(), chars.next()) {
            (Some(c), None) => KeyCode::Char(if modifiers.contains(KeyModifiers::CONTROL) {
                c.to_ascii_lowercase()
            } else {
                c
            }),
            _ => match rest.to_ascii_lowercase().as_str() {
                "space" => KeyCode::Char(' '),
                "enter" | "return" => KeyCode::Enter,
                "esc" | "escape" => KeyCode::Esc,
                "tab" => KeyCode::Tab,
                "backtab" => KeyCode::BackTab,
                "backspace" => KeyCode::Backspace,
                "up" => KeyCode::Up,
                "down" => KeyCode::Down,
                "left" => KeyCode::Left,
                "right" => KeyCode::Right,
                "pgup" | "pageup" => KeyCode::PageUp,
                "pgdn" | "pagedown" => KeyCode::PageDown,
                "home" => KeyCode::Home,
                "end" => KeyCode::End,
                f if f.starts_with('f') => {
                    KeyCode::F(f[1..].parse().ok().filter(|n| (1..=12).contains(n))?)
                }
                _ => return None,
            },
        };
        if matches!(code, KeyCode::Char(_)) {
            modifiers.remove(KeyModifiers::SHIFT);
        }
        Some(Key::new(code, modifiers))
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.modifiers.contains(KeyModifiers::CONTROL) {
            f.write_str("Ctrl-")?;
        }
        if self.modifiers.contains(KeyModifiers::ALT) {
            f.write_str("Alt-")?;
        }
        if self.modifiers.contains(KeyModifiers::SHIFT) {
            f.write_str("Shift-")?;
        }
        match self.code {
            KeyCode::Char(' ') => f.write_str("Space"),
            KeyCode::Char(c) if self.modifiers.contains(KeyModifiers::CONTROL) => {
                write!(f, "{}", c.to_ascii_uppercase())
            }
            KeyCode::Char(c) => write!(f, "{c}"),
            KeyCode::Enter => f.write_str("Enter"),
            KeyCode::Esc => f.write_str("Esc"),
            KeyCode::Tab => f.write_str("Tab"),
            KeyCode::BackTab => f.write_str("Shift-Tab"),
            KeyCode::Backspace => f.write_str("Backspace"),
            KeyCode::Up => f.write_str("↑"),
            KeyCode::Down => f.write_str("↓"),
            KeyCode::Left => f.write_str("←"),
            KeyCode::Right => f.write_str("→"),
            KeyCode::PageUp => f.write_str("PgUp"),
            KeyCode::PageDown => f.write_str("PgDn"),
            KeyCode::Home => f.write_str("Home"),
            KeyCode::End => f.write_str("End"),
            KeyCode::F(n) => write!(f, "F{n}"),
            other => write!(f, "{other:?}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeymapError {
    #[error("keys: unknown command {0:?}")]
    UnknownCommand(String),
    #[error(
        "keys: {command}: cannot read key {key:?} (use forms like a, G, space, ctrl-s, alt-enter, pgdn)"
    )]
    BadKey { command: String, key: String },
    #[error(
        "keys: {command}: {key} would be typed into the reason instead; use a key with Ctrl or Alt, Esc, Tab or F1–F12"
    )]
    Typed { command: String, key: String },
    #[error("keys: {key} is bound to both {first} and {second}")]
    Conflict {
        key: String,
        first: String,
        second: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keymap {
    bindings: Vec<(Key, Command)>,
}

impl Default for Keymap {
    fn default() -> Self {
        use KeyCode as K;
        let ctrl = KeyModifiers::CONTROL;
        let bindings = vec![
            (Key::plain(K::Up), Command::Up),
            (Key::char('k'), Command::Up),
            (Key::plain(K::Down), Command::Down),
            (Key::char('j'), Command::Down),
            (Key::plain(K::PageUp), Command::PageUp),
            (Key::plain(K::PageDown), Command::PageDown),
            (Key::plain(K::Home), Command::Top),
            (Key::char('g'), Command::Top),
            (Key::plain(K::End), Command::Bottom),
            (Key::char('G'), Command::Bottom),
            (Key::char('a'), Command::Approve),
            (Key::char('d'), Command::Deny),
            (Key::char(' '), Command::Mark),
            (Key::char('u'), Command::ClearMarks),
            (Key::char('/'), Command::Filter),
            (Key::char('s'), Command::Sort),
            (Key::char('f'), Command::Freeze),
            (Key::plain(K::Tab), Command::NextTab),
            (Key::plain(K::BackTab), Command::PrevTab),
            (Key::char('J'), Command::DetailDown),
            (Key::char('K'), Command::DetailUp),
            (Key::char('r'), Command::Refresh),
            (Key::char('?'), Command::Help),
            (Key::char('q'), Command::Quit),
            (Key::new(K::Char('c'), ctrl), Command::Quit),
            (Key::new(K::Char('s'), ctrl), Command::Submit),
            (Key::new(K::Enter, KeyModifiers::ALT), Command::Submit),
            (Key::plain(K::Esc), Command::Cancel),
            (Key::plain(K::Tab), Command::SwitchFocus),
            (Key::char(' '), Command::ToggleRole),
            (Key::char('m'), Command::MarkReviewed),
            (Key::char('p'), Command::PostIncident),
            (Key::plain(K::Enter), Command::Open),
            (Key::plain(K::Esc), Command::Back),
        ];
        Keymap { bindings }
    }
}

impl Keymap {
    /// The default bindings with `[keys]` entries replacing a command's keys:
    /// `approve = ["a", "A"]`.
    pub fn with_overrides(entries: &BTreeMap<String, Vec<String>>) -> Result<Keymap, KeymapError> {
        let mut keymap = Keymap::default();
        for (name, keys) in entries {
            let command =
                Command::by_name(name).ok_or_else(|| KeymapError::UnknownCommand(name.clone()))?;
            let parsed = keys
                .iter()
                .map(|text| {
                    Key::parse(text).ok_or_else(|| KeymapError::BadKey {
                        command: name.clone(),
                        key: text.clone(),
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            keymap.bindings.retain(|(_, c)| *c != command);
            keymap
                .bindings
                .extend(parsed.into_iter().map(|key| (key, command)));
        }
        keymap.check()?;
        Ok(keymap)
    }

    fn check(&self) -> Result<(), KeymapError> {
        for (key, command) in &self.bindings {
            let typed = matches!(
                key.code,
                KeyCode::Char(_) | KeyCode::Enter | KeyCode::Backspace
            ) && !key
                .modifiers
                .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT);
            // The picker's toggle is only read while the picker has focus.
            if typed && command.info().context == Context::Dialog && *command != Command::ToggleRole
            {
                return Err(KeymapError::Typed {
                    command: command.info().name.into(),
                    key: key.to_string(),
                });
            }
        }
        for (i, (key, first)) in self.bindings.iter().enumerate() {
            for (other, second) in &self.bindings[i + 1..] {
                if key == other && first.info().context == second.info().context && first != second
                {
                    return Err(KeymapError::Conflict {
                        key: key.to_string(),
                        first: first.info().name.into(),
                        second: second.info().name.into(),
                    });
                }
            }
        }
        Ok(())
    }

    pub fn command(&self, context: Context, key: Key) -> Option<Command> {
        self.bindings
            .iter()
            .find(|(k, c)| *k == key && c.info().context == context)
            .map(|(_, c)| *c)
    }

    /// Every key bound to a command, in binding order.
    pub fn keys(&self, command: Command) -> Vec<Key> {
        self.bindings
            .iter()
            .filter(|(_, c)| *c == command)
            .map(|(k, _)| *k)
            .collect()
    }

    /// The first key of a command, as text (`?` when a config unbound it).
    pub fn label(&self, command: Command) -> String {
        self.keys(command)
            .first()
            .map(Key::to_string)
            .unwrap_or_else(|| "unbound".into())
    }

    /// What the hint bar shows on a screen: (keys, short name).
    pub fn hints(&self, screen: Screen) -> Vec<(String, &'static str)> {
        Command::ALL
            .into_iter()
            .filter(|c| c.info().hint.contains(&screen))
            .filter(|c| !self.keys(*c).is_empty())
            .map(|c| (self.label(c), c.info().name))
            .collect()
    }

    /// What the `?` overlay shows: (context, every key, description) for each command.
    pub fn help(&self) -> Vec<(Context, String, &'static str)> {
        Command::ALL
            .into_iter()
            .map(|c| {
                let keys: Vec<String> = self.keys(c).iter().map(Key::to_string).collect();
                let keys = if keys.is_empty() {
                    "unbound".to_string()
                } else {
                    keys.join(" ")
                };
                (c.info().context, keys, c.info().about)
            })
            .collect()
    }

    /// Turns a key press into an action, given what is on screen.
    pub fn action_for(&self, state: &State, event: KeyEvent) -> Option<Action> {
        if event.kind == KeyEventKind::Release {
            return None;
        }
        let key = Key::from_event(&event);
        if state.filter_input.is_some() {
            return match key.code {
                KeyCode::Esc => Some(Action::FilterCancel),
                KeyCode::Enter => Some(Action::FilterApply),
                KeyCode::Backspace => Some(Action::FilterBackspace),
                KeyCode::Char(c)
                    if !key
                        .modifiers
                        .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT) =>
                {
                    Some(Action::FilterChar(c))
                }
                _ => None,
            };
        }
        if state.help {
            return match self.command(Context::Queue, key) {
                Some(Command::Help | Command::Quit) => Some(Action::Command(Command::Help)),
                _ if key.code == KeyCode::Esc => Some(Action::Command(Command::Help)),
                _ => None,
            };
        }
        if state.note.is_some() {
            // A note dialog has no picker: everything but its commands is typed.
            return match self.command(Context::Dialog, key) {
                Some(Command::ToggleRole) | None => Some(Action::Editor(event.into())),
                Some(command) => Some(Action::Command(command)),
            };
        }
        if let Some(dialog) = &state.dialog {
            let command = self.command(Context::Dialog, key);
            return match (command, dialog.focus) {
                (Some(Command::ToggleRole), DialogFocus::Reason) => {
                    Some(Action::Editor(event.into()))
                }
                (Some(command), _) => Some(Action::Command(command)),
                (None, DialogFocus::Roles) => match key.code {
                    KeyCode::Up | KeyCode::Char('k') => Some(Action::RoleCursor(-1)),
                    KeyCode::Down | KeyCode::Char('j') => Some(Action::RoleCursor(1)),
                    _ => None,
                },
                (None, DialogFocus::Reason) => Some(Action::Editor(event.into())),
            };
        }
        self.command(Context::Queue, key).map(Action::Command)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_displays_keys() {
        let cases = [
            ("a", "a"),
            ("G", "G"),
            ("space", "Space"),
            ("ctrl-s", "Ctrl-S"),
            ("Ctrl+S", "Ctrl-S"),
            ("alt-enter", "Alt-Enter"),
            ("pgdn", "PgDn"),
            ("f1", "F1"),
            ("-", "-"),
        ];
        for (text, shown) in cases {
            assert_eq!(
                Key::parse(text).map(|k| k.to_string()).as_deref(),
                Some(shown),
                "{text}"
            );
        }
        for bad in ["", "ctrl-", "f13", "hyper-x", "abc"] {
            assert_eq!(Key::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn shifted_letters_match_their_binding() {
        let keymap = Keymap::default();
        let event = KeyEvent::new(KeyCode::Char('G'), KeyModifiers::SHIFT);
        assert_eq!(
            keymap.command(Context::Queue, Key::from_event(&event)),
            Some(Command::Bottom)
        );
    }

    #[test]
    fn overrides_replace_keys_and_reach_help() {
        let entries = BTreeMap::from([(
            "approve".to_string(),
            vec!["A".to_string(), "y".to_string()],
        )]);
        let keymap = Keymap::with_overrides(&entries).unwrap();
        assert_eq!(keymap.command(Context::Queue, Key::char('a')), None);
        assert_eq!(
            keymap.command(Context::Queue, Key::char('y')),
            Some(Command::Approve)
        );
        let help = keymap.help();
        assert!(
            help.iter()
                .any(|(_, keys, about)| keys == "A y" && about.starts_with("approve"))
        );
        assert!(
            keymap
                .hints(Screen::Requests)
                .contains(&("A".to_string(), "approve"))
        );
        assert!(
            !keymap
                .hints(Screen::Audit)
                .iter()
                .any(|(_, name)| *name == "approve"),
            "the Audit tab does not hint at reviewing"
        );
    }

    #[test]
    fn conflicting_and_unknown_overrides_are_refused() {
        let clash = BTreeMap::from([("approve".to_string(), vec!["d".to_string()])]);
        assert!(matches!(
            Keymap::with_overrides(&clash),
            Err(KeymapError::Conflict { .. })
        ));
        let unknown = BTreeMap::from([("launch".to_string(), vec!["x".to_string()])]);
        assert!(matches!(
            Keymap::with_overrides(&unknown),
            Err(KeymapError::UnknownCommand(_))
        ));
        let typed = BTreeMap::from([("submit".to_string(), vec!["s".to_string()])]);
        assert!(matches!(
            Keymap::with_overrides(&typed),
            Err(KeymapError::Typed { .. })
        ));
        let fine = BTreeMap::from([("submit".to_string(), vec!["alt-s".to_string()])]);
        assert!(Keymap::with_overrides(&fine).is_ok());
        let bad = BTreeMap::from([("quit".to_string(), vec!["meta-q".to_string()])]);
        assert!(matches!(
            Keymap::with_overrides(&bad),
            Err(KeymapError::BadKey { .. })
        ));
        // The same key in different contexts is fine (Tab, Space).
        assert!(Keymap::default().check().is_ok());
    }

    #[test]
    fn every_command_has_a_default_key() {
        let keymap = Keymap::default();
        for command in Command::ALL {
            assert!(!keymap.keys(command).is_empty(), "{:?}", command);
        }
    }

    #[test]
    fn keys_mean_different_things_in_filter_help_and_dialog() {
        use crate::console::theme::Theme;
        let keymap = Keymap::default();
        let mut state = State::new("b", keymap.clone(), Theme::no_color());
        let press = |c| KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE);
        assert_eq!(
            keymap.action_for(&state, press('q')),
            Some(Action::Command(Command::Quit))
        );
        state.filter_input = Some(String::new());
        assert_eq!(
            keymap.action_for(&state, press('q')),
            Some(Action::FilterChar('q'))
        );
        let esc = KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE);
        assert_eq!(keymap.action_for(&state, esc), Some(Action::FilterCancel));
        state.filter_input = None;
        state.help = true;
        assert_eq!(
            keymap.action_for(&state, press('a')),
            None,
            "help swallows other keys"
        );
        assert_eq!(
            keymap.action_for(&state, esc),
            Some(Action::Command(Command::Help))
        );
        let mut release = press('q');
        release.kind = KeyEventKind::Release;
        state.help = false;
        assert_eq!(keymap.action_for(&state, release), None);
    }
}
