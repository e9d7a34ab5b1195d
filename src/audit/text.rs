//! Phrasing shared by the findings' details.

use crate::model::{Duration, Time};

/// `t - d`, or the earliest time there is when that would not fit.
pub fn before(t: Time, d: Duration) -> Time {
    t.checked_sub_signed(d.to_chrono())
        .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC)
}

/// Longest stretch of a user's reason quoted in a detail, in characters.
const SNIPPET_CHARS: usize = 60;

/// A reason quoted for a detail: inert, on one line, whitespace collapsed, shortened.
pub fn snippet(reason: &str) -> String {
    let one_line = terminal_safe(reason)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    if one_line.is_empty() {
        return "(empty)".into();
    }
    let mut out = String::with_capacity(one_line.len().min(SNIPPET_CHARS * 4) + 2);
    out.push('"');
    let mut chars = one_line.chars();
    out.extend(chars.by_ref().take(SNIPPET_CHARS));
    if chars.next().is_some() {
        out.push('…');
    }
    out.push('"');
    out
}

/// `a`, `a and b`, `a, b and c`.
pub fn roles_phrase(roles: &[String]) -> String {
    match roles {
        [] => "no roles".into(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// A span as a person reads it: `48s`, `1h15m`, `3d2h`.
pub fn phrase_span(d: Duration) -> String {
    let secs = d.as_secs();
    if secs < 86_400 {
        return Duration::from_secs(secs).to_string();
    }
    let days = secs / 86_400;
    let hours = (secs % 86_400) / 3600;
    if hours == 0 {
        format!("{days}d")
    } else {
        format!("{days}d{hours}h")
    }
}

/// How the window reads in a sentence: `this week`, or `in the last 24h`.
pub fn window_phrase(window: Duration) -> String {
    if window == Duration::from_hours(168) {
        "this week".into()
    } else {
        format!("in the last {window}")
    }
}

/// The string with terminal control removed: escape sequences (CSI, OSC and the
/// rest) and control characters are dropped, line breaks and tabs become spaces,
/// and bidirectional overrides are dropped so text cannot be shown reordered.
pub fn terminal_safe(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => match chars.next() {
                Some('[') => skip_csi(&mut chars),
                Some(']' | 'P' | '^' | '_' | 'X') => skip_string(&mut chars),
                _ => {}
            },
            '\u{9b}' => skip_csi(&mut chars),
            '\u{9d}' | '\u{90}' | '\u{9e}' | '\u{9f}' | '\u{98}' => skip_string(&mut chars),
            '\n' | '\r' | '\t' => out.push(' '),
            c if c.is_control() || is_bidi_control(c) => {}
            c => out.push(c),
        }
    }
    out
}

fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Parameters and intermediates up to and including the final byte of a CSI.
fn skip_csi(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    for c in chars.by_ref() {
        if ('\u{40}'..='\u{7e}').contains(&c) {
            return;
        }
        if !('\u{20}'..='\u{3f}').contains(&c) {
            // Not a well-formed sequence: stop here, having dropped the junk.
            return;
        }
    }
}

/// An OSC/DCS-style string, up to its terminator (BEL, ST or ESC \).
fn skip_string(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    while let Some(c) = chars.next() {
        match c {
            '\u{7}' | '\u{9c}' => return,
            '\u{1b}' => {
                if chars.peek() == Some(&'\\') {
                    chars.next();
                }
                return;
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippets_are_short_and_on_one_line() {
        assert_eq!(snippet("  fix\n the\tthing "), "\"fix the thing\"");
        assert_eq!(snippet("   "), "(empty)");
        assert_eq!(snippet("\u{1b}[2Jwiped\u{7}"), "\"wiped\"");
        let long = "é".repeat(70);
        let quoted = snippet(&long);
        assert_eq!(quoted.chars().count(), 60 + 3);
        assert!(quoted.ends_with("…\""));
    }

    #[test]
    fn roles_read_as_a_list() {
        let roles = |names: &[&str]| names.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(roles_phrase(&roles(&[])), "no roles");
        assert_eq!(roles_phrase(&roles(&["a"])), "a");
        assert_eq!(roles_phrase(&roles(&["a", "b"])), "a and b");
        assert_eq!(roles_phrase(&roles(&["a", "b", "c"])), "a, b and c");
    }

    #[test]
    fn spans_read_naturally() {
        assert_eq!(phrase_span(Duration::from_secs(48)), "48s");
        assert_eq!(phrase_span(Duration::from_millis(48_900)), "48s");
        assert_eq!(phrase_span(Duration::from_secs(4500)), "1h15m");
        assert_eq!(phrase_span(Duration::from_hours(74)), "3d2h");
        assert_eq!(phrase_span(Duration::from_hours(72)), "3d");
        assert_eq!(window_phrase(Duration::from_hours(168)), "this week");
        assert_eq!(window_phrase(Duration::from_hours(24)), "in the last 24h");
        assert_eq!(window_phrase(Duration::from_hours(12)), "in the last 12h");
    }
}
