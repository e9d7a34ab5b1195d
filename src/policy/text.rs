//! Free text from people: reasons and notes. Blank means nothing a reader can see
//! (DESIGN §3 "Blank"); length is bounded in bytes.

use crate::model::api::MAX_REASON_BYTES;

/// Whether `text` shows nothing: only whitespace, control characters or invisible
/// format characters (zero-width spaces and joiners, word joiner, BOM, bidi marks).
pub fn is_blank(text: &str) -> bool {
    text.chars()
        .all(|c| c.is_whitespace() || c.is_control() || is_invisible(c))
}

/// Unicode format characters that draw nothing.
pub fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{061C}'
            | '\u{115F}'
            | '\u{1160}'
            | '\u{17B4}'
            | '\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0000}'..='\u{E007F}'
    )
}

/// Why a text was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextProblem {
    TooLong { bytes: usize },
}

/// A text within the byte limit: `Ok(None)` when blank.
pub fn check(text: &str) -> Result<Option<&str>, TextProblem> {
    if text.len() > MAX_REASON_BYTES {
        return Err(TextProblem::TooLong { bytes: text.len() });
    }
    Ok((!is_blank(text)).then_some(text))
}

/// At most `MAX_REASON_BYTES` of a text, cut at a character boundary: refused
/// attempts are recorded even when their text was too long to accept.
pub fn excerpt(text: &str) -> String {
    let mut end = text.len().min(MAX_REASON_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_is_what_shows_nothing() {
        let cases = [
            ("", true),
            ("   \t\n", true),
            ("\u{200B}", true),
            ("\u{200C}\u{200D}", true),
            ("\u{2060}", true),
            ("\u{FEFF}", true),
            ("\0", true),
            ("\0\u{1b}\u{7f}", true),
            (" \u{200B} \u{00A0} \u{3000}", true),
            ("\u{202E}\u{2066}", true),
            ("\u{E0041}", true),
            ("x", false),
            ("\u{200B}x", false),
            ("incident #47", false),
            ("é", false),
            ("🙂", false),
        ];
        for (text, blank) in cases {
            assert_eq!(is_blank(text), blank, "{text:?}");
        }
    }

    #[test]
    fn length_is_bounded_in_bytes() {
        let at_limit = "a".repeat(MAX_REASON_BYTES);
        assert_eq!(check(&at_limit), Ok(Some(at_limit.as_str())));
        let over = "é".repeat(MAX_REASON_BYTES / 2 + 1);
        assert_eq!(
            check(&over),
            Err(TextProblem::TooLong { bytes: over.len() })
        );
        assert_eq!(check("\u{200B}"), Ok(None));
        let cut = excerpt(&over);
        assert!(cut.len() <= MAX_REASON_BYTES && cut.chars().all(|c| c == 'é'));
    }
}
