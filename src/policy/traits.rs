//! Trait interpolation in role values, as Teleport writes it: `{{external.K}}`,
//! `{{internal.K}}` or `{{external["K"]}}`, with an optional literal prefix and
//! suffix (`team-{{external.groups}}`). One value per trait value; a trait the user
//! does not have (or an empty value) yields nothing, as in Teleport.

use std::collections::BTreeMap;

/// A value with at most one trait reference, checked when the role is applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Template {
    Literal(String),
    Trait {
        prefix: String,
        key: String,
        suffix: String,
    },
}

impl Template {
    /// Parses `text`; the error names what is unsupported.
    pub(crate) fn parse(text: &str) -> Result<Template, String> {
        let Some(open) = text.find("{{") else {
            if text.contains("}}") {
                return Err(format!("{text:?} has '}}}}' without '{{{{'"));
            }
            return Ok(Template::Literal(text.to_string()));
        };
        let Some(close) = text[open..].find("}}").map(|at| open + at) else {
            return Err(format!("{text:?} has '{{{{' without a closing '}}}}'"));
        };
        let (prefix, suffix) = (&text[..open], &text[close + 2..]);
        if suffix.contains("{{") || suffix.contains("}}") {
            return Err(format!("{text:?} may hold only one {{{{…}}}} expression"));
        }
        let inner = text[open + 2..close].trim();
        let key = trait_key(inner).ok_or_else(|| {
            format!(
                "{text:?}: unsupported expression {inner:?} (countersign interpolates \
                 {{{{internal.K}}}} and {{{{external.K}}}} only)"
            )
        })?;
        Ok(Template::Trait {
            prefix: prefix.to_string(),
            key,
            suffix: suffix.to_string(),
        })
    }

    /// The values for a user with these traits.
    pub(crate) fn expand(&self, traits: &BTreeMap<String, Vec<String>>) -> Vec<String> {
        match self {
            Template::Literal(text) => vec![text.clone()],
            Template::Trait {
                prefix,
                key,
                suffix,
            } => traits
                .get(key)
                .into_iter()
                .flatten()
                .filter(|value| !value.is_empty())
                .map(|value| format!("{prefix}{value}{suffix}"))
                .collect(),
        }
    }
}

/// `internal.K`, `external.K`, `internal["K"]`, `external["K"]` → `K`.
fn trait_key(inner: &str) -> Option<String> {
    let rest = inner
        .strip_prefix("internal")
        .or_else(|| inner.strip_prefix("external"))?;
    if let Some(name) = rest.strip_prefix('.') {
        let valid = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'));
        return valid.then(|| name.to_string());
    }
    let quoted = rest.strip_prefix("[\"")?.strip_suffix("\"]")?;
    (!quoted.is_empty() && !quoted.contains('"')).then(|| quoted.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpolates_traits() {
        let traits = BTreeMap::from([
            (
                "groups".to_string(),
                vec!["dev".to_string(), "ops".to_string()],
            ),
            ("email".to_string(), vec!["a@example.com".to_string()]),
            ("blank".to_string(), vec![String::new()]),
        ]);
        let cases: &[(&str, &[&str])] = &[
            ("plain", &["plain"]),
            ("{{external.groups}}", &["dev", "ops"]),
            ("{{ internal.groups }}", &["dev", "ops"]),
            ("{{external[\"email\"]}}", &["a@example.com"]),
            ("team-{{external.groups}}-x", &["team-dev-x", "team-ops-x"]),
            ("{{external.missing}}", &[]),
            ("{{external.blank}}", &[]),
        ];
        for (text, expected) in cases {
            let template = Template::parse(text).unwrap();
            assert_eq!(template.expand(&traits), *expected, "{text}");
        }
    }

    #[test]
    fn refuses_what_it_cannot_interpolate() {
        let cases = [
            ("{{email.local(external.email)}}", "unsupported expression"),
            (
                "{{regexp.replace(external.g, \"a\", \"b\")}}",
                "unsupported expression",
            ),
            ("{{external.}}", "unsupported expression"),
            ("{{external.a}}{{external.b}}", "only one"),
            ("{{external.a", "without a closing"),
            ("a}}", "without"),
        ];
        for (text, why) in cases {
            let err = Template::parse(text).unwrap_err();
            assert!(err.contains(why), "{text}: {err}");
        }
    }
}
