//! Colours named by what they mean, never by hue, so a theme or `NO_COLOR` is one
//! table away. Meaning never rests on colour alone: every styled thing also carries
//! a glyph or a word, and selection uses REVERSED so it survives `NO_COLOR`.

use std::collections::BTreeMap;
use std::str::FromStr;

use ratatui::style::{Color, Modifier, Style};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Meaning {
    /// Plain text.
    Text,
    /// Secondary text: ages, labels, hints.
    Muted,
    /// Titles, keys in hints, the active tab.
    Accent,
    /// The selected row.
    Selected,
    /// Rows marked for a bulk review.
    Marked,
    /// Emergency requests.
    Emergency,
    /// Things to look at twice: no ticket, repeat requests, deadlines close.
    Warn,
    /// Approvals, live connection.
    Ok,
    /// Denials, errors, offline.
    Error,
    /// Pane borders.
    Border,
}

impl Meaning {
    pub const ALL: [Meaning; 10] = [
        Meaning::Text,
        Meaning::Muted,
        Meaning::Accent,
        Meaning::Selected,
        Meaning::Marked,
        Meaning::Emergency,
        Meaning::Warn,
        Meaning::Ok,
        Meaning::Error,
        Meaning::Border,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Meaning::Text => "text",
            Meaning::Muted => "muted",
            Meaning::Accent => "accent",
            Meaning::Selected => "selected",
            Meaning::Marked => "marked",
            Meaning::Emergency => "emergency",
            Meaning::Warn => "warn",
            Meaning::Ok => "ok",
            Meaning::Error => "error",
            Meaning::Border => "border",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Theme {
    styles: BTreeMap<Meaning, Style>,
}

impl Default for Theme {
    fn default() -> Self {
        let bold = Modifier::BOLD;
        let styles = BTreeMap::from([
            (Meaning::Text, Style::new()),
            (Meaning::Muted, Style::new().fg(Color::DarkGray)),
            (
                Meaning::Accent,
                Style::new().fg(Color::Cyan).add_modifier(bold),
            ),
            (
                Meaning::Selected,
                Style::new().add_modifier(Modifier::REVERSED),
            ),
            (
                Meaning::Marked,
                Style::new().fg(Color::Magenta).add_modifier(bold),
            ),
            (
                Meaning::Emergency,
                Style::new().fg(Color::Red).add_modifier(bold),
            ),
            (Meaning::Warn, Style::new().fg(Color::Yellow)),
            (Meaning::Ok, Style::new().fg(Color::Green)),
            (Meaning::Error, Style::new().fg(Color::Red)),
            (Meaning::Border, Style::new().fg(Color::DarkGray)),
        ]);
        Theme { styles }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ThemeError {
    #[error(
        "theme: unknown name {0:?} (known: text, muted, accent, selected, marked, emergency, warn, ok, error, border)"
    )]
    UnknownMeaning(String),
    #[error(
        "theme: {name}: cannot read {value:?} (use a colour like red or #ff8800, optionally with bold, italic, underlined, reversed)"
    )]
    BadStyle { name: String, value: String },
}

impl Theme {
    /// No colours at all, only modifiers: what `NO_COLOR` asks for.
    pub fn no_color() -> Self {
        let styles = Meaning::ALL
            .into_iter()
            .map(|meaning| {
                let style = match meaning {
                    Meaning::Selected => Style::new().add_modifier(Modifier::REVERSED),
                    Meaning::Accent | Meaning::Emergency | Meaning::Marked | Meaning::Error => {
                        Style::new().add_modifier(Modifier::BOLD)
                    }
                    _ => Style::new(),
                };
                (meaning, style)
            })
            .collect();
        Theme { styles }
    }

    /// The default theme, or [`Theme::no_color`] when `NO_COLOR` is set and non-empty.
    pub fn from_env(no_color: Option<&str>) -> Self {
        match no_color {
            Some(value) if !value.is_empty() => Theme::no_color(),
            _ => Theme::default(),
        }
    }

    pub fn style(&self, meaning: Meaning) -> Style {
        self.styles.get(&meaning).copied().unwrap_or_default()
    }

    /// Applies `[theme]` entries from the config file: `emergency = "magenta bold"`.
    /// Under `NO_COLOR` colours are dropped and only the modifiers are kept.
    pub fn with_overrides(
        mut self,
        entries: &BTreeMap<String, String>,
    ) -> Result<Self, ThemeError> {
        let colourless = self.style(Meaning::Ok).fg.is_none();
        for (name, value) in entries {
            let meaning = Meaning::ALL
                .into_iter()
                .find(|m| m.name() == name.as_str())
                .ok_or_else(|| ThemeError::UnknownMeaning(name.clone()))?;
            let mut style = parse_style(value).ok_or_else(|| ThemeError::BadStyle {
                name: name.clone(),
                value: value.clone(),
            })?;
            if colourless {
                style.fg = None;
                style.bg = None;
            }
            if meaning == Meaning::Selected {
                // Selection must stay visible without colour.
                style = style.add_modifier(Modifier::REVERSED);
            }
            self.styles.insert(meaning, style);
        }
        Ok(self)
    }
}

fn parse_style(value: &str) -> Option<Style> {
    let mut style = Style::new();
    for word in value.split_whitespace() {
        style = match word.to_ascii_lowercase().as_str() {
            "bold" => style.add_modifier(Modifier::BOLD),
            "italic" => style.add_modifier(Modifier::ITALIC),
            "underlined" => style.add_modifier(Modifier::UNDERLINED),
            "reversed" => style.add_modifier(Modifier::REVERSED),
            "dim" => style.add_modifier(Modifier::DIM),
            colour => style.fg(Color::from_str(colour).ok()?),
        };
    }
    Some(style)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_color_keeps_selection_visible_without_colour() {
        let theme = Theme::from_env(Some("1"));
        for meaning in Meaning::ALL {
            let style = theme.style(meaning);
            assert_eq!(style.fg, None, "{meaning:?}");
            assert_eq!(style.bg, None, "{meaning:?}");
        }
        assert!(
            theme
                .style(Meaning::Selected)
                .add_modifier
                .contains(Modifier::REVERSED)
        );
        assert_eq!(Theme::from_env(Some("")), Theme::default());
    }

    #[test]
    fn overrides_by_meaning() {
        let entries = BTreeMap::from([("emergency".to_string(), "magenta bold".to_string())]);
        let theme = Theme::default().with_overrides(&entries).unwrap();
        assert_eq!(theme.style(Meaning::Emergency).fg, Some(Color::Magenta));
        let colourless = Theme::no_color().with_overrides(&entries).unwrap();
        assert_eq!(colourless.style(Meaning::Emergency).fg, None);
        let bad = BTreeMap::from([("red".to_string(), "red".to_string())]);
        assert!(matches!(
            Theme::default().with_overrides(&bad),
            Err(ThemeError::UnknownMeaning(_))
        ));
        let bad = BTreeMap::from([("ok".to_string(), "chartreuse-ish".to_string())]);
        assert!(matches!(
            Theme::default().with_overrides(&bad),
            Err(ThemeError::BadStyle { .. })
        ));
    }
}
