//! `claims_to_roles`: a trait value matching `value` yields the roles listed, where
//! `$1`/`${1}` name the value's capture groups, as Teleport expands them.
//!
//! The value is a glob (`admin-*`, each `*` a capture group), an anchored regex
//! (`^admin-(.*)$`) or a literal. Expansion follows Go's (and Teleport's)
//! rules: `$name` takes the longest name (`$1x` is group `1x`), a group the value
//! does not capture expands to nothing, `$$` is a `$`. The expanded roles are role
//! matchers (literal, glob or regex).

use std::collections::BTreeMap;

use regex::Regex;

use super::matcher::Matcher;

/// One compiled mapping.
#[derive(Debug, Clone)]
pub(crate) struct ClaimMapping {
    pub claim: String,
    value: Regex,
    roles: Vec<RoleTemplate>,
}

/// A role of a mapping: compiled once when it names no capture, else expanded
/// for each matching trait value.
#[derive(Debug, Clone)]
enum RoleTemplate {
    Fixed(Matcher),
    Expand(String),
}

impl ClaimMapping {
    /// Compiles a mapping; the error says what is wrong with `value` or a role.
    pub(crate) fn new(claim: &str, value: &str, roles: Vec<String>) -> Result<Self, String> {
        if value.contains("{{") || value.contains("}}") {
            return Err(format!(
                "claims_to_roles value {value:?}: {{{{…}}}} expressions are not supported here \
                 (use a glob like 'admin-*' or a regex like '^admin-(.*)$')"
            ));
        }
        let pattern = if value.len() >= 2 && value.starts_with('^') && value.ends_with('$') {
            value.to_string()
        } else {
            glob_to_regex(value)
        };
        let value_re = Regex::new(&pattern).map_err(|e| {
            let last = e
                .to_string()
                .lines()
                .last()
                .unwrap_or("invalid")
                .trim()
                .to_string();
            format!("claims_to_roles value {value:?}: bad regular expression: {last}")
        })?;
        let mut templates = Vec::new();
        for role in roles {
            // A template must make a matcher once its `$…` are filled in; check it
            // with every group empty, which is what an uncaptured group gives.
            let filled = expand_empty(&role);
            let matcher = Matcher::new(&filled)
                .map_err(|why| format!("claims_to_roles role {role:?}: {why}"))?;
            templates.push(if role.contains('$') {
                RoleTemplate::Expand(role)
            } else {
                RoleTemplate::Fixed(matcher)
            });
        }
        Ok(ClaimMapping {
            claim: claim.to_string(),
            value: value_re,
            roles: templates,
        })
    }

    /// Whether the mapping lets a user with these traits have `name`.
    pub(crate) fn yields(&self, traits: &BTreeMap<String, Vec<String>>, name: &str) -> bool {
        let Some(values) = traits.get(&self.claim) else {
            return false;
        };
        values.iter().any(|value| {
            let Some(captures) = self.value.captures(value) else {
                return false;
            };
            self.roles.iter().any(|role| match role {
                RoleTemplate::Fixed(matcher) => matcher.matches(name),
                RoleTemplate::Expand(template) => {
                    let mut expanded = String::new();
                    captures.expand(template, &mut expanded);
                    // An expansion that is not a valid matcher matches nothing.
                    Matcher::new(&expanded).is_ok_and(|m| m.matches(name))
                }
            })
        })
    }
}

/// `admin-*` → `^admin-(.*)$`, everything but `*` taken literally.
fn glob_to_regex(glob: &str) -> String {
    let parts: Vec<String> = glob.split('*').map(regex::escape).collect();
    format!("^{}$", parts.join("(.*)"))
}

/// Expands a template with every group empty (`$$` stays a `$`).
fn expand_empty(template: &str) -> String {
    let mut out = String::new();
    if let Some(captures) = Regex::new("").ok().and_then(|re| re.captures("")) {
        captures.expand(template, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn traits(key: &str, values: &[&str]) -> BTreeMap<String, Vec<String>> {
        BTreeMap::from([(
            key.to_string(),
            values.iter().map(|v| v.to_string()).collect(),
        )])
    }

    #[test]
    fn expands_captures_as_teleport_does() {
        // (value, roles, trait values, role asked, yielded)
        type Case = (
            &'static str,
            &'static [&'static str],
            &'static [&'static str],
            &'static str,
            bool,
        );
        let cases: &[Case] = &[
            ("^admin-(.*)$", &["role-$1"], &["admin-db"], "role-db", true),
            (
                "^admin-(.*)$",
                &["role-${1}"],
                &["admin-db"],
                "role-db",
                true,
            ),
            (
                "^admin-(.*)$",
                &["role-$1"],
                &["admin-db"],
                "role-web",
                false,
            ),
            ("^admin-(.*)$", &["role-$1"], &["user-db"], "role-db", false),
            ("admin-*", &["role-$1"], &["admin-web"], "role-web", true),
            ("*-admin-*", &["$1-$2"], &["eu-admin-db"], "eu-db", true),
            // An uncaptured group expands to nothing.
            ("^admin-(.*)$", &["role-$2"], &["admin-db"], "role-", true),
            (
                "^admin-(.*)$",
                &["role-$2"],
                &["admin-db"],
                "role-db",
                false,
            ),
            // `$1x` is the group named `1x`: empty, as in Go.
            ("^admin-(.*)$", &["$1x"], &["admin-db"], "dbx", false),
            ("^admin-(.*)$", &["${1}x"], &["admin-db"], "dbx", true),
            (
                "^admin-(?P<env>.*)$",
                &["role-${env}"],
                &["admin-db"],
                "role-db",
                true,
            ),
            ("^admin-(.*)$", &["$$1"], &["admin-db"], "$1", true),
            // Literal value, literal roles.
            ("dba", &["dba-access"], &["dba"], "dba-access", true),
            ("dba", &["dba-access"], &["dbax"], "dba-access", false),
            // Expanded roles are matchers.
            ("^team-(.*)$", &["$1-*"], &["team-web"], "web-prod", true),
            ("^team-(.*)$", &["$1-*"], &["team-web"], "db-prod", false),
            // Any one of several values will do.
            (
                "^admin-(.*)$",
                &["role-$1"],
                &["x", "admin-ops"],
                "role-ops",
                true,
            ),
            // A regex value is anchored as written.
            ("^db$", &["dba"], &["xdb"], "dba", false),
        ];
        for (value, roles, values, name, yielded) in cases {
            let mapping = ClaimMapping::new(
                "groups",
                value,
                roles.iter().map(|r| r.to_string()).collect(),
            )
            .unwrap();
            assert_eq!(
                mapping.yields(&traits("groups", values), name),
                *yielded,
                "{value} {roles:?} {values:?} {name}"
            );
            assert!(!mapping.yields(&traits("teams", values), name));
        }
    }

    #[test]
    fn bad_mappings_are_refused() {
        let cases: &[(&str, &[&str], &str)] = &[
            ("^admin-(.*$", &["x"], "bad regular expression"),
            ("{{regexp.match(\"a\")}}", &["x"], "not supported"),
            ("^admin-(.*)$", &["^role-$1(.*$"], "bad regular expression"),
        ];
        for (value, roles, why) in cases {
            let err = ClaimMapping::new("c", value, roles.iter().map(|r| r.to_string()).collect())
                .unwrap_err();
            assert!(err.contains(why), "{value}: {err}");
        }
    }
}
