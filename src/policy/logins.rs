//! What an approved grant lets its holder do over SSH: the logins (certificate
//! principals) of the granted roles with Teleport's trait interpolation, and the
//! certificate extensions their options allow. Pure: roles and traits in, names out.

use std::collections::BTreeMap;

use serde_json::Value;

use super::Role;
use crate::model::User;

/// Longest login name kept; longer ones are dropped like any other unusable name.
const MAX_LOGIN_BYTES: usize = 256;

/// The union of `spec.allow.logins` of `roles`, templates expanded from `user`'s
/// traits, in order of first appearance and without duplicates. A template whose
/// trait the user lacks expands to nothing; so does one this broker cannot read.
pub fn logins(roles: &[&Role], user: &User) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for role in roles {
        let Some(entries) = role.document["spec"]["allow"]["logins"].as_array() else {
            continue;
        };
        for entry in entries.iter().filter_map(Value::as_str) {
            for login in expand(entry, &user.traits) {
                if usable(&login) && !out.contains(&login) {
                    out.push(login);
                }
            }
        }
    }
    out
}

/// One `logins` entry: a literal, or `prefix{{internal.K}}suffix` /
/// `{{external.K}}` / `{{internal["K"]}}`, which yields one login per trait value.
fn expand(entry: &str, traits: &BTreeMap<String, Vec<String>>) -> Vec<String> {
    let Some(open) = entry.find("{{") else {
        return vec![entry.trim().to_string()];
    };
    let Some(close) = entry[open..].find("}}").map(|i| open + i) else {
        return Vec::new();
    };
    let (prefix, suffix) = (&entry[..open], &entry[close + 2..]);
    if suffix.contains("{{") || prefix.contains("}}") {
        return Vec::new();
    }
    let Some(key) = trait_key(entry[open + 2..close].trim()) else {
        return Vec::new();
    };
    traits
        .get(key)
        .map(|values| {
            values
                .iter()
                .filter(|v| !v.trim().is_empty())
                .map(|v| format!("{prefix}{}{suffix}", v.trim()))
                .collect()
        })
        .unwrap_or_default()
}

/// The trait a `internal.K`, `external.K` or `internal["K"]` expression names.
fn trait_key(expression: &str) -> Option<&str> {
    let rest = expression
        .strip_prefix("internal")
        .or_else(|| expression.strip_prefix("external"))?;
    let key = if let Some(dotted) = rest.strip_prefix('.') {
        dotted
    } else {
        rest.strip_prefix("[\"")?.strip_suffix("\"]")?
    };
    let valid = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/' | ':'));
    valid.then_some(key)
}

/// A name sshd can compare with a user name: no blanks, controls or commas.
fn usable(login: &str) -> bool {
    !login.is_empty()
        && login.len() <= MAX_LOGIN_BYTES
        && !login
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == ',')
}

/// The certificate extensions a grant carries, from the granted roles' options
/// (Teleport's names and defaults).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SshPermissions {
    /// `port_forwarding`: on unless every granted role turns it off (default on).
    pub port_forwarding: bool,
    /// `forward_agent`: on when any granted role turns it on (default off).
    pub agent_forwarding: bool,
    /// `permit_x11_forwarding`: on when any granted role turns it on (default off).
    pub x11_forwarding: bool,
}

impl SshPermissions {
    /// The OpenSSH extension names, `permit-pty` always first.
    pub fn extensions(self) -> Vec<&'static str> {
        let mut out = vec!["permit-pty"];
        if self.agent_forwarding {
            out.push("permit-agent-forwarding");
        }
        if self.port_forwarding {
            out.push("permit-port-forwarding");
        }
        if self.x11_forwarding {
            out.push("permit-X11-forwarding");
        }
        out
    }
}

pub fn permissions(roles: &[&Role]) -> SshPermissions {
    let option = |role: &Role, name: &str| role.document["spec"]["options"][name].as_bool();
    SshPermissions {
        port_forwarding: roles
            .iter()
            .any(|r| option(r, "port_forwarding").unwrap_or(true)),
        agent_forwarding: roles
            .iter()
            .any(|r| option(r, "forward_agent").unwrap_or(false)),
        x11_forwarding: roles
            .iter()
            .any(|r| option(r, "permit_x11_forwarding").unwrap_or(false)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::RoleSet;

    const ROLES: &str = "\
kind: role
version: v7
metadata: {name: deploy}
spec:
  allow:
    logins: [deploy, app, 'ops-{{internal.logins}}', '{{external.unix_user}}']
  options: {forward_agent: true, port_forwarding: false}
---
kind: role
version: v7
metadata: {name: db}
spec:
  allow:
    logins: ['{{internal.logins}}', '{{internal[\"db_user\"]}}', deploy, 'bad login', '{{internal.missing}}', '{{nonsense}}']
  options: {port_forwarding: false}
---
kind: role
version: v7
metadata: {name: none}
spec: {}
";

    fn user(traits: &[(&str, &[&str])]) -> User {
        User {
            name: "alice".into(),
            roles: vec![],
            traits: traits
                .iter()
                .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
                .collect(),
        }
    }

    fn granted<'a>(set: &'a RoleSet, names: &[&str]) -> Vec<&'a Role> {
        names.iter().map(|n| set.get(n).expect("role")).collect()
    }

    #[test]
    fn expands_traits_and_unions_roles() {
        let set = RoleSet::from_yaml(ROLES, "roles.yaml").unwrap();
        let alice = user(&[
            ("logins", &["alice", "al"]),
            ("unix_user", &["a.smith"]),
            ("db_user", &["pg_alice"]),
        ]);
        let cases: &[(&[&str], &[&str])] = &[
            (
                &["deploy"],
                &["deploy", "app", "ops-alice", "ops-al", "a.smith"],
            ),
            (&["db"], &["alice", "al", "pg_alice", "deploy"]),
            (
                &["deploy", "db"],
                &[
                    "deploy",
                    "app",
                    "ops-alice",
                    "ops-al",
                    "a.smith",
                    "alice",
                    "al",
                    "pg_alice",
                ],
            ),
            (&["none"], &[]),
            (&[], &[]),
        ];
        for (roles, want) in cases {
            assert_eq!(logins(&granted(&set, roles), &alice), *want, "{roles:?}");
        }
    }

    #[test]
    fn missing_traits_expand_to_nothing() {
        let set = RoleSet::from_yaml(ROLES, "roles.yaml").unwrap();
        assert_eq!(
            logins(&granted(&set, &["db"]), &user(&[])),
            vec!["deploy".to_string()]
        );
    }

    #[test]
    fn template_shapes() {
        let traits: BTreeMap<String, Vec<String>> =
            [("k".to_string(), vec!["v".to_string(), " ".to_string()])].into();
        let cases = [
            ("{{internal.k}}", vec!["v"]),
            ("{{ external.k }}", vec!["v"]),
            ("x-{{internal.k}}-y", vec!["x-v-y"]),
            ("{{internal[\"k\"]}}", vec!["v"]),
            ("{{internal.k}", vec![]),
            ("{{internal.k}}{{internal.k}}", vec![]),
            ("{{email.local(internal.k)}}", vec![]),
            ("plain", vec!["plain"]),
        ];
        for (entry, want) in cases {
            assert_eq!(expand(entry, &traits), want, "{entry}");
        }
    }

    #[test]
    fn extensions_follow_role_options() {
        let set = RoleSet::from_yaml(ROLES, "roles.yaml").unwrap();
        let cases: &[(&[&str], &[&str])] = &[
            (&["deploy"], &["permit-pty", "permit-agent-forwarding"]),
            (&["db"], &["permit-pty"]),
            (&["none"], &["permit-pty", "permit-port-forwarding"]),
            (
                &["deploy", "none"],
                &[
                    "permit-pty",
                    "permit-agent-forwarding",
                    "permit-port-forwarding",
                ],
            ),
        ];
        for (roles, want) in cases {
            assert_eq!(
                permissions(&granted(&set, roles)).extensions(),
                *want,
                "{roles:?}"
            );
        }
    }
}
