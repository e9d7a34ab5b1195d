//! Makes strings from the broker safe to print on a terminal: control characters,
//! escape sequences and bidi overrides are shown inert (`\x1b`, `\u{202e}`), never
//! interpreted. Printable text, including any script, passes through unchanged.

use std::borrow::Cow;
use std::fmt::Write;

/// One line of text: every control character (newlines too) is shown escaped; a tab
/// becomes a space.
pub fn sanitize_inline(text: &str) -> Cow<'_, str> {
    sanitize(text, false)
}

/// Several lines of text: like [`sanitize_inline`] but `\n` (and `\r\n`) stay line
/// breaks.
pub fn sanitize_multiline(text: &str) -> Cow<'_, str> {
    sanitize(text, true)
}

fn sanitize(text: &str, keep_newlines: bool) -> Cow<'_, str> {
    if !text.chars().any(|c| needs_escape(c, keep_newlines)) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if keep_newlines && c == '\r' && chars.peek() == Some(&'\n') {
            continue;
        }
        if !needs_escape(c, keep_newlines) {
            out.push(c);
        } else if c == '\t' {
            out.push(' ');
        } else {
            escape_into(c, &mut out);
        }
    }
    Cow::Owned(out)
}

/// JSON made safe to print: every control, bidi or zero-width character left raw
/// by the serializer is written `\uXXXX` instead. Such characters only occur inside
/// JSON strings, so the result is the same JSON value, and it cannot reorder or
/// hide text in a terminal.
pub fn json_inert(json: &str) -> Cow<'_, str> {
    let escape = |c: char| c.is_control() || is_invisible_format(c) || is_zero_width(c);
    if !json
        .chars()
        .any(|c| escape(c) && !matches!(c, '\n' | '\t' | '\r'))
    {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        // Outside strings pretty-printing uses newlines and spaces, never these.
        if escape(c) && !matches!(c, '\n' | '\t' | '\r') {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                let _ = write!(out, "\\u{:04x}", unit);
            }
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

fn is_zero_width(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}')
}

fn needs_escape(c: char, keep_newlines: bool) -> bool {
    if c == '\n' {
        return !keep_newlines;
    }
    c.is_control() || is_invisible_format(c)
}

/// Characters that reorder or hide text without being controls: bidi embeddings,
/// overrides, isolates and marks, and the Unicode line/paragraph separators.
fn is_invisible_format(c: char) -> bool {
    matches!(
        c,
        '\u{061C}'
            | '\u{200E}'
            | '\u{200F}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2066}'..='\u{2069}'
    )
}

fn escape_into(c: char, out: &mut String) {
    match c {
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        c if (c as u32) < 0x100 => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c => {
            let _ = write!(out, "\\u{{{:04x}}}", c as u32);
        }
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn json_output_escapes_bidi_zero_width_and_c1_characters() {
        let value = serde_json::json!({"reason": "ok\u{202e}live\u{200b}x\u{85}y\u{7f}", "n": 1});
        let raw = serde_json::to_string_pretty(&value).unwrap();
        assert!(raw.contains('\u{202e}'), "serde_json leaves it raw: {raw}");
        let inert = json_inert(&raw);
        assert!(
            inert.contains(r"ok\u202elive\u200bx\u0085y\u007f"),
            "{inert}"
        );
        assert!(!inert.chars().any(|c| c == '\u{202e}' || c == '\u{200b}'));
        let back: serde_json::Value = serde_json::from_str(&inert).unwrap();
        assert_eq!(back, value, "the same JSON value");
        let plain = "{\n  \"a\": \"b\"\n}";
        assert!(matches!(json_inert(plain), Cow::Borrowed(_)));
    }

    use super::*;

    #[test]
    fn plain_text_is_borrowed_unchanged() {
        let text = "Investigating #47 on merchants-guild-app-02 — ünïcödé 日本";
        assert!(matches!(sanitize_inline(text), Cow::Borrowed(t) if t == text));
        assert!(matches!(sanitize_multiline(text), Cow::Borrowed(t) if t == text));
    }

    #[test]
    fn escape_sequences_are_inert() {
        let text = "ok\x1b[2J\x1b]0;owned\x07 done";
        assert_eq!(sanitize_inline(text), "ok\\x1b[2J\\x1b]0;owned\\x07 done");
    }

    #[test]
    fn c1_controls_and_delete_are_escaped() {
        assert_eq!(sanitize_inline("a\u{9b}31mb\u{7f}"), "a\\x9b31mb\\x7f");
    }

    #[test]
    fn bidi_overrides_and_isolates_are_escaped() {
        assert_eq!(
            sanitize_inline("user\u{202e}gnp.exe"),
            "user\\u{202e}gnp.exe"
        );
        assert_eq!(
            sanitize_inline("\u{2066}x\u{2069}\u{202a}"),
            "\\u{2066}x\\u{2069}\\u{202a}"
        );
    }

    #[test]
    fn inline_shows_newlines_and_flattens_tabs() {
        assert_eq!(
            sanitize_inline("one\ntwo\r\nthree\tfour"),
            "one\\ntwo\\r\\nthree four"
        );
    }

    #[test]
    fn multiline_keeps_line_breaks_only() {
        assert_eq!(sanitize_multiline("one\ntwo\r\nthree"), "one\ntwo\nthree");
        assert_eq!(sanitize_multiline("a\rb\x1bc"), "a\\rb\\x1bc");
    }
}
