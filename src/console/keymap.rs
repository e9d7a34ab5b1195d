//! Key bindings → commands, keyed by mode. The same table dispatches keys and feeds
//! the hint bar and the `?` overlay (with each mode's declared commands), so help
//! can never drift from the keys. Bindings can be changed from the `[keys]` table
//! of console.toml.

use std::collections::BTreeMap;
use std::fmt;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

pub use super::command::{Command, ModeKind};

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
    bindings: Vec<(ModeKind, Key, Command)>,
}

/// The keys that move through a list, a history or the help text.
fn movement(mode: ModeKind) -> Vec<(ModeKind, Key, Command)> {
    use KeyCode as K;
    [
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
    ]
    .into_iter()
    .map(|(key, command)| (mode, key, command))
    .collect()
}

impl Default for Keymap {
    fn default() -> Self {
        use KeyCode as K;
        use ModeKind as M;
        let ctrl = KeyModifiers::CONTROL;
        let alt = KeyModifiers::ALT;
        let mut bindings = movement(M::Tabs);
        bindings.extend(movement(M::Inspect));
        bindings.extend(movement(M::Help));
        bindings.extend(movement(M::Panel));
        // What the tabs and a request's history share.
        for mode in [M::Tabs, M::Inspect] {
            bindings.extend([
                (mode, Key::char('a'), Command::Approve),
                (mode, Key::char('d'), Command::Deny),
                (mode, Key::plain(K::Tab), Command::NextTab),
                (mode, Key::plain(K::BackTab), Command::PrevTab),
                (mode, Key::char('J'), Command::DetailDown),
                (mode, Key::char('K'), Command::DetailUp),
                (mode, Key::char('r'), Command::Refresh),
                (mode, Key::char('m'), Command::MarkReviewed),
                (mode, Key::char('p'), Command::PostIncident),
                (mode, Key::char('?'), Command::Help),
                (mode, Key::char('q'), Command::Quit),
                (mode, Key::new(K::Char('c'), ctrl), Command::Quit),
                (mode, Key::char('1'), Command::Tab1),
                (mode, Key::char('2'), Command::Tab2),
                (mode, Key::char('3'), Command::Tab3),
                (mode, Key::char('4'), Command::Tab4),
                (mode, Key::char('y'), Command::CopyId),
                (mode, Key::char('x'), Command::Revoke),
                (mode, Key::char('n'), Command::NextMatch),
                (mode, Key::char('N'), Command::PrevMatch),
            ]);
        }
        bindings.extend([
            (M::Tabs, Key::char(' '), Command::Mark),
            (M::Tabs, Key::char('u'), Command::ClearMarks),
            (M::Tabs, Key::char('/'), Command::Filter),
            (M::Tabs, Key::char('s'), Command::Sort),
            (M::Tabs, Key::char('f'), Command::Freeze),
            (M::Tabs, Key::plain(K::Enter), Command::Open),
            (M::Tabs, Key::plain(K::Esc), Command::ClearFilter),
            (M::Inspect, Key::plain(K::Esc), Command::Back),
            (M::Filter, Key::plain(K::Enter), Command::ApplyFilter),
            (M::Filter, Key::plain(K::Esc), Command::ClearFilter),
            (M::Help, Key::char('?'), Command::Help),
            (M::Help, Key::char('q'), Command::Help),
            (M::Help, Key::plain(K::Esc), Command::Help),
            (M::Tabs, Key::char('t'), Command::DemoEnv),
            (M::Panel, Key::char('t'), Command::DemoEnv),
            (M::Panel, Key::plain(K::Esc), Command::DemoEnv),
            (M::Panel, Key::char('q'), Command::DemoEnv),
            (M::Confirm, Key::char('y'), Command::Confirm),
            (M::Confirm, Key::plain(K::Enter), Command::Confirm),
            (M::Confirm, Key::char('n'), Command::Cancel),
            (M::Confirm, Key::plain(K::Esc), Command::Cancel),
        ]);
        for mode in [M::Review, M::Note] {
            bindings.extend([
                (mode, Key::new(K::Char('s'), ctrl), Command::Submit),
                (mode, Key::new(K::Enter, alt), Command::Submit),
                (mode, Key::plain(K::Esc), Command::Cancel),
                (mode, Key::plain(K::Tab), Command::SwitchFocus),
            ]);
        }
        // The role picker's keys, read only while the picker has focus.
        bindings.extend([
            (M::Review, Key::char(' '), Command::ToggleRole),
            (M::Review, Key::plain(K::Up), Command::Up),
            (M::Review, Key::char('k'), Command::Up),
            (M::Review, Key::plain(K::Down), Command::Down),
            (M::Review, Key::char('j'), Command::Down),
        ]);
        // Where `?` is typed, help is a function key away.
        for mode in [M::Review, M::Note, M::Filter] {
            bindings.push((mode, Key::plain(K::F(1)), Command::Help));
        }
        Keymap { bindings }
    }
}

/// Whether a key would be typed into the text a mode edits.
fn typed_in(mode: ModeKind, key: Key) -> bool {
    if !mode.types_text()
        || key
            .modifiers
            .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT)
    {
        return false;
    }
    match key.code {
        KeyCode::Char(_) => true,
        KeyCode::Enter => mode != ModeKind::Filter,
        KeyCode::Backspace => true,
        _ => false,
    }
}

impl Keymap {
    /// The default bindings with `[keys]` entries replacing a command's keys in
    /// every mode that binds it: `approve = ["a", "A"]`.
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
            let mut modes: Vec<ModeKind> = keymap
                .bindings
                .iter()
                .filter(|(_, _, c)| *c == command)
                .map(|(m, _, _)| *m)
                .collect();
            modes.dedup();
            keymap.bindings.retain(|(_, _, c)| *c != command);
            for mode in modes {
                keymap
                    .bindings
                    .extend(parsed.iter().map(|key| (mode, *key, command)));
            }
        }
        keymap.check()?;
        Ok(keymap)
    }

    fn check(&self) -> Result<(), KeymapError> {
        for (mode, key, command) in &self.bindings {
            // The picker's keys are only read while the picker has focus.
            let picker = *mode == ModeKind::Review
                && matches!(command, Command::ToggleRole | Command::Up | Command::Down);
            if typed_in(*mode, *key) && !picker {
                return Err(KeymapError::Typed {
                    command: command.name().into(),
                    key: key.to_string(),
                });
            }
        }
        for (i, (mode, key, first)) in self.bindings.iter().enumerate() {
            for (other_mode, other, second) in &self.bindings[i + 1..] {
                if key == other && mode == other_mode && first != second {
                    return Err(KeymapError::Conflict {
                        key: key.to_string(),
                        first: first.name().into(),
                        second: second.name().into(),
                    });
                }
            }
        }
        Ok(())
    }

    /// The command a key means in a mode.
    pub fn command(&self, mode: ModeKind, key: Key) -> Option<Command> {
        self.bindings
            .iter()
            .find(|(m, k, _)| *m == mode && *k == key)
            .map(|(_, _, c)| *c)
    }

    /// Every key bound to a command in a mode, in binding order.
    pub fn keys(&self, mode: ModeKind, command: Command) -> Vec<Key> {
        self.bindings
            .iter()
            .filter(|(m, _, c)| *m == mode && *c == command)
            .map(|(_, k, _)| *k)
            .collect()
    }

    /// The first key of a command in a mode, as text.
    pub fn label(&self, mode: ModeKind, command: Command) -> String {
        self.keys(mode, command)
            .first()
            .map(Key::to_string)
            .unwrap_or_else(|| "unbound".into())
    }

    /// Every key of a command in a mode, as text.
    pub fn labels(&self, mode: ModeKind, command: Command) -> String {
        let keys: Vec<String> = self
            .keys(mode, command)
            .iter()
            .map(Key::to_string)
            .collect();
        if keys.is_empty() {
            "unbound".into()
        } else {
            keys.join(" ")
        }
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
            keymap.command(ModeKind::Tabs, Key::from_event(&event)),
            Some(Command::Bottom)
        );
    }

    #[test]
    fn overrides_replace_keys_in_every_mode_that_binds_the_command() {
        let entries = BTreeMap::from([(
            "approve".to_string(),
            vec!["A".to_string(), "o".to_string()],
        )]);
        let keymap = Keymap::with_overrides(&entries).unwrap();
        for mode in [ModeKind::Tabs, ModeKind::Inspect] {
            assert_eq!(keymap.command(mode, Key::char('a')), None);
            assert_eq!(keymap.command(mode, Key::char('o')), Some(Command::Approve));
            assert_eq!(keymap.labels(mode, Command::Approve), "A o");
        }
        assert_eq!(
            keymap.command(ModeKind::Help, Key::char('o')),
            None,
            "help never bound approve"
        );
    }

    #[test]
    fn the_same_key_means_different_commands_in_different_modes() {
        let keymap = Keymap::default();
        let esc = Key::plain(KeyCode::Esc);
        assert_eq!(
            keymap.command(ModeKind::Tabs, esc),
            Some(Command::ClearFilter)
        );
        assert_eq!(keymap.command(ModeKind::Inspect, esc), Some(Command::Back));
        assert_eq!(keymap.command(ModeKind::Review, esc), Some(Command::Cancel));
        assert_eq!(keymap.command(ModeKind::Help, esc), Some(Command::Help));
        assert_eq!(
            keymap.command(ModeKind::Help, Key::char('j')),
            Some(Command::Down)
        );
        assert_eq!(keymap.command(ModeKind::Review, Key::char('q')), None);
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
        let typed_filter = BTreeMap::from([("apply_filter".to_string(), vec!["x".to_string()])]);
        assert!(matches!(
            Keymap::with_overrides(&typed_filter),
            Err(KeymapError::Typed { .. })
        ));
        let fine = BTreeMap::from([("submit".to_string(), vec!["alt-s".to_string()])]);
        assert!(Keymap::with_overrides(&fine).is_ok());
        let bad = BTreeMap::from([("quit".to_string(), vec!["meta-q".to_string()])]);
        assert!(matches!(
            Keymap::with_overrides(&bad),
            Err(KeymapError::BadKey { .. })
        ));
        // The same key in different modes is fine (Tab, Space, Esc).
        assert!(Keymap::default().check().is_ok());
    }

    #[test]
    fn every_command_has_a_default_key() {
        let keymap = Keymap::default();
        for command in Command::ALL {
            let bound = ModeKind::ALL
                .iter()
                .any(|mode| !keymap.keys(*mode, command).is_empty());
            assert!(bound, "{command:?}");
        }
    }
}
