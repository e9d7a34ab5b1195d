//! Text as the console draws it: every broker string made inert, then fitted to a
//! width measured in terminal cells (wide CJK counts two, combining marks zero).

use unicode_width::UnicodeWidthChar;

/// One line of broker text with control characters, escape sequences and bidi
/// overrides shown inert (the client's sanitiser).
pub fn inline(text: &str) -> String {
    crate::client::sanitize_inline(text).into_owned()
}

/// Like [`inline`] but keeps line breaks.
pub fn multiline(text: &str) -> String {
    crate::client::sanitize_multiline(text).into_owned()
}

/// Cells a char takes; control chars (already made inert) count as nothing.
fn char_width(c: char) -> usize {
    c.width().unwrap_or(0)
}

/// Cells a string takes.
pub fn width(text: &str) -> usize {
    text.chars().map(char_width).sum()
}

/// Cuts `text` to at most `max` cells, ending with `…` when something was cut.
pub fn truncate(text: &str, max: usize) -> String {
    if width(text) <= max {
        return text.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in text.chars() {
        let w = char_width(c);
        if used + w > max - 1 {
            break;
        }
        used += w;
        out.push(c);
    }
    out.push('…');
    out
}

/// Wraps text at word boundaries to lines of at most `max` cells; words wider than
/// a line are broken between characters. Existing line breaks are kept.
pub fn wrap(text: &str, max: usize) -> Vec<String> {
    let max = max.max(1);
    let mut lines = Vec::new();
    for paragraph in text.split('\n') {
        let mut line = String::new();
        let mut line_width = 0;
        for word in paragraph.split(' ') {
            let word_width = width(word);
            let gap = usize::from(!line.is_empty());
            if line_width + gap + word_width <= max {
                if gap == 1 {
                    line.push(' ');
                }
                line.push_str(word);
                line_width += gap + word_width;
                continue;
            }
            if !line.is_empty() {
                lines.push(std::mem::take(&mut line));
                line_width = 0;
            }
            for c in word.chars() {
                let w = char_width(c);
                if line_width + w > max && !line.is_empty() {
                    lines.push(std::mem::take(&mut line));
                    line_width = 0;
                }
                line.push(c);
                line_width += w;
            }
        }
        lines.push(line);
    }
    lines
}

/// A short, human age: `45s`, `12m`, `3h`, `2d`.
pub fn age(delta: chrono::TimeDelta) -> String {
    let secs = delta.num_seconds().max(0);
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m", secs / 60),
        3600..86_400 => format!("{}h", secs / 3600),
        _ => format!("{}d", secs / 86_400),
    }
}

/// A countdown with two units: `23h55m`, `4m10s`, `12s`.
pub fn countdown(delta: chrono::TimeDelta) -> String {
    let secs = delta.num_seconds().max(0);
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    if d > 0 {
        format!("{d}d{h}h")
    } else if h > 0 {
        format!("{h}h{m:02}m")
    } else if m > 0 {
        format!("{m}m{s:02}s")
    } else {
        format!("{s}s")
    }
}

/// The short form of a request id shown in tables: the last 8 hex digits, because
/// a UUID v7 starts with its timestamp and requests made together share a prefix.
pub fn short_id(id: &uuid::Uuid) -> String {
    let simple = id.simple().to_string();
    simple[simple.len() - 8..].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_and_bidi_are_inert() {
        let shown = inline("a\u{1b}[2J\u{1b}]0;pwned\u{7}b\u{202e}c\nd");
        assert!(!shown.chars().any(char::is_control), "{shown:?}");
        assert!(!shown.contains('\u{202e}'));
        assert!(shown.starts_with('a') && shown.contains("[2J"));
        assert!(!shown.contains('\n'));
        assert_eq!(multiline("x\r\ny"), "x\ny");
    }

    #[test]
    fn truncates_by_cells_not_bytes() {
        assert_eq!(truncate("hello", 5), "hello");
        assert_eq!(truncate("hello world", 6), "hello…");
        // Each CJK char is two cells: 4 cells hold one char plus the ellipsis.
        assert_eq!(truncate("数据库访问", 4), "数…");
        assert_eq!(width(&truncate("数据库访问", 4)), 3);
        assert_eq!(truncate("abc", 0), "");
    }

    #[test]
    fn wraps_words_and_breaks_long_ones() {
        assert_eq!(wrap("one two three", 7), vec!["one two", "three"]);
        assert_eq!(wrap("abcdefghij", 4), vec!["abcd", "efgh", "ij"]);
        assert_eq!(wrap("a\nb", 10), vec!["a", "b"]);
        for line in wrap(&"数据库".repeat(20), 7) {
            assert!(width(&line) <= 7, "{line}");
        }
    }

    #[test]
    fn combining_marks_take_no_cell() {
        assert_eq!(width("e\u{301}"), 1);
        assert_eq!(
            wrap("e\u{301}e\u{301}e\u{301}", 2),
            vec!["e\u{301}e\u{301}", "e\u{301}"]
        );
    }

    #[test]
    fn ages_and_countdowns() {
        use chrono::TimeDelta;
        assert_eq!(age(TimeDelta::seconds(45)), "45s");
        assert_eq!(age(TimeDelta::seconds(125)), "2m");
        assert_eq!(age(TimeDelta::hours(5)), "5h");
        assert_eq!(age(TimeDelta::days(3)), "3d");
        assert_eq!(age(TimeDelta::seconds(-5)), "0s");
        assert_eq!(countdown(TimeDelta::seconds(23 * 3600 + 55 * 60)), "23h55m");
        assert_eq!(countdown(TimeDelta::seconds(250)), "4m10s");
        assert_eq!(countdown(TimeDelta::days(2)), "2d0h");
    }
}
