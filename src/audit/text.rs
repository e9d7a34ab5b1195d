//! Phrasing shared by the findings' details.

use crate::model::Duration;

/// Longest stretch of a user's reason quoted in a detail, in characters.
const SNIPPET_CHARS: usize = 60;

/// A reason quoted for a detail: on one line, whitespace collapsed, shortened.
pub fn snippet(reason: &str) -> String {
    let one_line = reason.split_whitespace().collect::<Vec<_>>().join(" ");
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippets_are_short_and_on_one_line() {
        assert_eq!(snippet("  fix\n the\tthing "), "\"fix the thing\"");
        assert_eq!(snippet("   "), "(empty)");
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
