//! Role-name matchers, as Teleport writes them: a literal, a glob with `*`, an
//! anchored regex `^…$`, or `{{regexp.match("re")}}` / `{{regexp.not_match("re")}}`
//! with an optional literal prefix and suffix around it (`dev-{{regexp.match("us-*")}}`).

use regex::Regex;

/// A compiled matcher. Built once when a role set is validated.
#[derive(Debug, Clone)]
pub(crate) struct Matcher {
    prefix: String,
    suffix: String,
    pattern: Pattern,
    negate: bool,
}

/// Literals and globs, the common case, need no regex engine.
#[derive(Debug, Clone)]
enum Pattern {
    Exact(String),
    /// The text split at each `*`.
    Glob(Vec<String>),
    Regex(Regex),
}

impl Pattern {
    fn is_match(&self, text: &str) -> bool {
        match self {
            Pattern::Exact(exact) => text == exact,
            Pattern::Glob(parts) => glob_match(parts, text),
            Pattern::Regex(re) => re.is_match(text),
        }
    }
}

/// Whether `text` is the parts in order with anything between them.
fn glob_match(parts: &[String], text: &str) -> bool {
    let (Some(first), Some(last)) = (parts.first(), parts.last()) else {
        return text.is_empty();
    };
    if parts.len() == 1 {
        return text == first;
    }
    if text.len() < first.len() + last.len() || !text.starts_with(first.as_str()) {
        return false;
    }
    if !text.ends_with(last.as_str()) {
        return false;
    }
    let mut middle = &text[first.len()..text.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match middle.find(part.as_str()) {
            Some(at) => middle = &middle[at + part.len()..],
            None => return false,
        }
    }
    true
}

impl Matcher {
    /// Compiles `text`; the error says what is wrong with it.
    pub(crate) fn new(text: &str) -> Result<Matcher, String> {
        match text.find("{{") {
            Some(open) => Self::template(text, open),
            None => {
                if text.contains("}}") {
                    return Err(format!("matcher {text:?} has '}}}}' without '{{{{'"));
                }
                let pattern = if text.len() >= 2 && text.starts_with('^') && text.ends_with('$') {
                    Pattern::Regex(compile(text, text)?)
                } else if text.contains('*') {
                    Pattern::Glob(text.split('*').map(str::to_string).collect())
                } else {
                    Pattern::Exact(text.to_string())
                };
                Ok(Matcher {
                    prefix: String::new(),
                    suffix: String::new(),
                    pattern,
                    negate: false,
                })
            }
        }
    }

    /// `prefix{{regexp.match("re")}}suffix`: the part between prefix and suffix is
    /// searched with the (unanchored) regex, as Teleport does.
    fn template(text: &str, open: usize) -> Result<Matcher, String> {
        let Some(close_rel) = text[open..].find("}}") else {
            return Err(format!(
                "matcher {text:?} has '{{{{' without a closing '}}}}'"
            ));
        };
        let close = open + close_rel;
        let prefix = &text[..open];
        let suffix = &text[close + 2..];
        if suffix.contains("{{") || suffix.contains("}}") || prefix.contains("}}") {
            return Err(format!(
                "matcher {text:?} may hold only one {{{{…}}}} expression"
            ));
        }
        let expression = text[open + 2..close].trim();
        let (negate, rest) = if let Some(rest) = expression.strip_prefix("regexp.match") {
            (false, rest)
        } else if let Some(rest) = expression.strip_prefix("regexp.not_match") {
            (true, rest)
        } else {
            return Err(format!(
                "matcher {text:?}: unsupported expression {expression:?} \
                 (use regexp.match(\"…\") or regexp.not_match(\"…\"))"
            ));
        };
        let pattern = call_argument(rest.trim()).ok_or_else(|| {
            format!("matcher {text:?}: expected one string argument, like regexp.match(\"re\")")
        })?;
        Ok(Matcher {
            prefix: prefix.to_string(),
            suffix: suffix.to_string(),
            pattern: Pattern::Regex(compile(text, &pattern)?),
            negate,
        })
    }

    pub(crate) fn matches(&self, name: &str) -> bool {
        if name.len() < self.prefix.len() + self.suffix.len() {
            return false;
        }
        let Some(rest) = name.strip_prefix(self.prefix.as_str()) else {
            return false;
        };
        let Some(middle) = rest.strip_suffix(self.suffix.as_str()) else {
            return false;
        };
        self.pattern.is_match(middle) != self.negate
    }
}

/// Parses `("…")` with Go-style escapes in the string.
fn call_argument(text: &str) -> Option<String> {
    let inner = text.strip_prefix('(')?.strip_suffix(')')?.trim();
    let body = inner.strip_prefix('"')?.strip_suffix('"')?;
    let mut out = String::new();
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next()? {
                '"' => out.push('"'),
                // Keep regex escapes such as `\.` intact.
                other => {
                    out.push('\\');
                    out.push(other);
                }
            },
            '"' => return None,
            c => out.push(c),
        }
    }
    Some(out)
}

fn compile(text: &str, pattern: &str) -> Result<Regex, String> {
    Regex::new(pattern).map_err(|e| {
        let detail = e.to_string();
        let last = detail
            .lines()
            .last()
            .unwrap_or("invalid")
            .trim()
            .to_string();
        format!("matcher {text:?}: bad regular expression: {last}")
    })
}

/// Compiles a list of matchers, naming the first one that fails.
pub(crate) fn compile_all(texts: &[String]) -> Result<Vec<Matcher>, (String, String)> {
    texts
        .iter()
        .map(|t| Matcher::new(t).map_err(|e| (t.clone(), e)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matchers_match_as_the_seed_says() {
        // (matcher, name, matches)
        let cases = [
            ("dba", "dba", true),
            ("dba", "dbax", false),
            ("dba", "DBA", false),
            ("*", "anything", true),
            ("*", "", true),
            ("dev-*", "dev-prod", true),
            ("dev-*", "dev-stg", true),
            ("dev-*", "dev-", true),
            ("dev-*", "prod-dev-x", false),
            ("dev-*", "devprod", false),
            ("a.b", "axb", false),
            ("a.b", "a.b", true),
            ("a*b*c", "abc", true),
            ("a*b*c", "a-b-b-c", true),
            ("a*b*c", "a-c-b", false),
            ("*-prod", "dev-prod", true),
            ("*-prod", "-prod", true),
            ("*-prod", "prod", false),
            ("a**", "a", true),
            ("ab*ba", "aba", false),
            ("ab*ba", "abba", true),
            ("^prod.*$", "prod.us-east", true),
            ("^prod.*$", "prod", true),
            ("^prod.*$", "preprod", false),
            ("^prod\\..*$", "prod.us-east", true),
            ("^prod\\..*$", "prodx", false),
            ("dev-{{regexp.match(\"us-*\")}}", "dev-us-east-a", true),
            ("dev-{{regexp.match(\"us-*\")}}", "dev-us-west-b", true),
            ("dev-{{regexp.match(\"us-*\")}}", "dev-eu-west-1", false),
            ("dev-{{regexp.match(\"us-*\")}}", "prod-us-east-a", false),
            (
                "dev-{{regexp.not_match(\"beta\")}}-prod",
                "dev-alpha-prod",
                true,
            ),
            (
                "dev-{{regexp.not_match(\"beta\")}}-prod",
                "dev-beta-prod",
                false,
            ),
            (
                "dev-{{regexp.not_match(\"beta\")}}-prod",
                "dev-alpha-stg",
                false,
            ),
            ("dev-{{regexp.not_match(\"beta\")}}-prod", "dev-prod", false),
            ("{{regexp.match(\"^prod-[0-9]+$\")}}", "prod-12", true),
            ("{{regexp.match(\"^prod-[0-9]+$\")}}", "prod-x", false),
            ("{{ regexp.not_match(\"admin\") }}", "dba", true),
            ("{{ regexp.not_match(\"admin\") }}", "admin", false),
        ];
        for (text, name, expected) in cases {
            let matcher = Matcher::new(text).unwrap();
            assert_eq!(matcher.matches(name), expected, "{text} vs {name}");
        }
    }

    #[test]
    fn bad_matchers_are_refused_with_a_reason() {
        let cases = [
            ("^prod(.*$", "bad regular expression"),
            ("{{regexp.match(\"(\")}}", "bad regular expression"),
            ("{{internal.logins}}", "unsupported expression"),
            ("{{regexp.match(us)}}", "one string argument"),
            ("dev-{{regexp.match(\"a\")", "without a closing"),
            ("dev}}", "without"),
            ("{{regexp.match(\"a\")}}{{regexp.match(\"b\")}}", "only one"),
        ];
        for (text, why) in cases {
            let err = Matcher::new(text).unwrap_err();
            assert!(err.contains(why), "{text}: {err}");
        }
    }
}
