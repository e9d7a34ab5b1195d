//! Who may request which roles, and what is frozen onto a request at creation.

use super::spec::RoleSpec;
use super::{Frozen, RequestRefusal, Resource, RoleSet, Verb};
use crate::model::{Threshold, User};

/// Why `name` may not be requested by `user`, if it may not.
fn refusal(set: &RoleSet, user: &User, name: &str) -> Option<RequestRefusal> {
    if !set.roles.contains_key(name) {
        return Some(RequestRefusal::UnknownRole(name.to_string()));
    }
    if user.roles.iter().any(|held| held == name) {
        return Some(RequestRefusal::AlreadyHeld(name.to_string()));
    }
    if set.denies(user, Resource::AccessRequest, Verb::Create) {
        return Some(RequestRefusal::CreateDenied);
    }
    let mut specs = set.user_specs(user).map(|(_, spec)| spec);
    let denied = specs
        .clone()
        .any(|spec| spec.deny_request.covers(name, &user.traits));
    let allowed = specs.any(|spec| spec.allows_request(name, &user.traits));
    (denied || !allowed).then(|| RequestRefusal::NotRequestable(name.to_string()))
}

pub(super) fn requestable_roles(set: &RoleSet, user: &User) -> Vec<String> {
    set.roles
        .keys()
        .filter(|name| refusal(set, user, name).is_none())
        .cloned()
        .collect()
}

pub(super) fn check_request(
    set: &RoleSet,
    user: &User,
    roles: &[String],
) -> Result<Frozen, RequestRefusal> {
    if set.denies(user, Resource::AccessRequest, Verb::Create) {
        return Err(RequestRefusal::CreateDenied);
    }
    // `*` asks for every role the user may request, as in Teleport.
    let everything = roles
        .iter()
        .any(|r| r == "*")
        .then(|| requestable_roles(set, user));
    if everything.as_ref().is_some_and(Vec::is_empty) {
        return Err(RequestRefusal::NothingRequestable);
    }
    let mut wanted: Vec<&str> = Vec::new();
    for name in roles {
        let names = match (&everything, name.as_str()) {
            (Some(all), "*") => all.iter().map(String::as_str).collect(),
            _ => vec![name.as_str()],
        };
        for name in names {
            if !wanted.contains(&name) {
                wanted.push(name);
            }
        }
    }
    if wanted.is_empty() {
        return Err(RequestRefusal::NoRoles);
    }
    if let Some(refused) = wanted.iter().find_map(|name| refusal(set, user, name)) {
        return Err(refused);
    }

    let mut frozen = Frozen {
        roles: wanted.iter().map(|r| r.to_string()).collect(),
        ..Frozen::default()
    };
    let mut contributing: Vec<&RoleSpec> = Vec::new();
    for name in &wanted {
        let mut clauses: Vec<Vec<usize>> = Vec::new();
        for (_, spec) in set.user_specs(user) {
            if !spec.allows_request(name, &user.traits) {
                continue;
            }
            if !contributing.iter().any(|c| std::ptr::eq(*c, spec)) {
                contributing.push(spec);
            }
            let defaults = [Threshold::default()];
            let own: &[Threshold] = if spec.thresholds.is_empty() {
                &defaults
            } else {
                &spec.thresholds
            };
            let mut clause: Vec<usize> = Vec::new();
            for threshold in own {
                let index = freeze(&mut frozen.thresholds, threshold);
                if !clause.contains(&index) {
                    clause.push(index);
                }
            }
            if !clauses.contains(&clause) {
                clauses.push(clause);
            }
        }
        frozen.role_thresholds.insert(name.to_string(), clauses);
    }

    for spec in contributing {
        for reviewer in &spec.suggested_reviewers {
            if !frozen.suggested_reviewers.contains(reviewer) {
                frozen.suggested_reviewers.push(reviewer.clone());
            }
        }
        for (key, templates) in &spec.annotations {
            let values: Vec<String> = templates
                .iter()
                .flat_map(|t| t.expand(&user.traits))
                .collect();
            if values.is_empty() {
                // Teleport drops an annotation whose traits the user does not have.
                continue;
            }
            let merged = frozen.annotations.entry(key.clone()).or_default();
            for value in values {
                if !merged.contains(&value) {
                    merged.push(value);
                }
            }
        }
        frozen.max_duration = match (frozen.max_duration, spec.max_duration) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
    Ok(frozen)
}

/// The index of `threshold` in `thresholds`, adding it if no identical one is there.
fn freeze(thresholds: &mut Vec<Threshold>, threshold: &Threshold) -> usize {
    match thresholds.iter().position(|t| t == threshold) {
        Some(index) => index,
        None => {
            thresholds.push(threshold.clone());
            thresholds.len() - 1
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::model::Duration;
    use crate::policy::testkit::{load_one, strings, user, with_trait};

    const ROLES: &str = r#"
kind: role
version: v7
metadata: {name: dev}
spec:
  allow:
    request:
      roles: ['staging', 'dev-*']
      suggested_reviewers: [carrot]
      annotations: {team: [dev]}
      max_duration: 8h
---
kind: role
version: v7
metadata: {name: oncall}
spec:
  allow:
    request:
      roles: ['dev-db', '^prod-.*$']
      thresholds:
        - name: sec
          filter: 'contains(reviewer.roles, "security")'
          approve: 1
          deny: 1
        - name: team
          approve: 2
          deny: 1
      suggested_reviewers: [carrot, angua]
      annotations: {team: [ops], pager: ['{{external.pager}}']}
      max_duration: 2h
      claims_to_roles:
        - claim: groups
          value: '^db-.*$'
          roles: ['db-admin']
  deny:
    request:
      roles: ['prod-secret']
---
kind: role
version: v7
metadata: {name: lead}
spec:
  allow:
    request:
      roles: ['prod-*']
---
kind: role
version: v7
metadata: {name: staging}
---
kind: role
version: v7
metadata: {name: dev-db}
---
kind: role
version: v7
metadata: {name: dev-web}
---
kind: role
version: v7
metadata: {name: prod-web}
---
kind: role
version: v7
metadata: {name: prod-secret}
---
kind: role
version: v7
metadata: {name: db-admin}
"#;

    #[test]
    fn who_may_request_what() {
        let set = load_one(ROLES);
        let dev = user("alice", &["dev"]);
        let oncall = with_trait(user("bob", &["oncall"]), "groups", &["db-team", "db-ops"]);
        let both = user("carol", &["dev", "oncall", "lead", "staging"]);
        let cases = [
            (&dev, vec!["dev-db", "dev-web", "staging"]),
            (&oncall, vec!["db-admin", "dev-db", "prod-web"]),
            // lead's prod-* would allow prod-secret; oncall's deny wins.
            (&both, vec!["dev-db", "dev-web", "prod-web"]),
        ];
        for (who, expected) in cases {
            assert_eq!(
                set.requestable_roles(who),
                strings(&expected),
                "{}",
                who.name
            );
        }
        let nobody = user("zed", &["missing-role"]);
        assert!(set.requestable_roles(&nobody).is_empty());
    }

    #[test]
    fn refusals() {
        let set = load_one(ROLES);
        let carol = user("carol", &["dev", "oncall", "lead", "staging"]);
        let cases: [(&[&str], RequestRefusal); 5] = [
            (&[], RequestRefusal::NoRoles),
            (
                &["dev-web", "nope"],
                RequestRefusal::UnknownRole("nope".into()),
            ),
            (&["staging"], RequestRefusal::AlreadyHeld("staging".into())),
            (
                &["prod-secret"],
                RequestRefusal::NotRequestable("prod-secret".into()),
            ),
            (
                &["db-admin"],
                RequestRefusal::NotRequestable("db-admin".into()),
            ),
        ];
        for (roles, refusal) in cases {
            assert_eq!(
                set.check_request(&carol, &strings(roles)),
                Err(refusal),
                "{roles:?}"
            );
        }
    }

    #[test]
    fn claims_to_roles_value_is_a_matcher() {
        let set = load_one(ROLES);
        let cases = [
            (vec!["db-team"], true),
            (vec!["web", "db-x"], true),
            (vec!["web"], false),
            (vec!["xdb-team"], false),
        ];
        for (groups, allowed) in cases {
            let bob = with_trait(user("bob", &["oncall"]), "groups", &groups);
            let result = set.check_request(&bob, &strings(&["db-admin"]));
            assert_eq!(result.is_ok(), allowed, "{groups:?}");
        }
        // The claim must be the named one.
        let bob = with_trait(user("bob", &["oncall"]), "teams", &["db-team"]);
        assert!(set.check_request(&bob, &strings(&["db-admin"])).is_err());
    }

    /// DESIGN §3: the `{approve: 1, deny: 1}` default is only for a role listing no
    /// thresholds; inside a listed threshold an absent or 0 count never fires.
    #[test]
    fn threshold_counts_as_teleport_reads_them() {
        // (thresholds YAML, frozen (approve, deny), approvals, denials, state after
        // the approvals, state after approvals then denials)
        use crate::model::{Decision, State};
        use crate::policy::testkit::review;
        type Case = (&'static str, (u32, u32), usize, usize, State, State);
        let cases: [Case; 8] = [
            ("", (1, 1), 1, 0, State::Approved, State::Approved),
            ("", (1, 1), 0, 1, State::Pending, State::Denied),
            ("[{deny: 1}]", (0, 1), 5, 0, State::Pending, State::Pending),
            ("[{deny: 1}]", (0, 1), 5, 1, State::Pending, State::Denied),
            (
                "[{approve: 3}]",
                (3, 0),
                0,
                4,
                State::Pending,
                State::Pending,
            ),
            (
                "[{approve: 3}]",
                (3, 0),
                3,
                0,
                State::Approved,
                State::Approved,
            ),
            (
                "[{approve: 0, deny: 0}]",
                (0, 0),
                4,
                4,
                State::Pending,
                State::Pending,
            ),
            (
                "[{approve: 2, deny: 2}]",
                (2, 2),
                1,
                2,
                State::Pending,
                State::Denied,
            ),
        ];
        for (yaml, counts, approvals, denials, after_approvals, after_all) in cases {
            let thresholds = if yaml.is_empty() {
                String::new()
            } else {
                format!("      thresholds: {yaml}\n")
            };
            let text = format!(
                "kind: role\nversion: v7\nmetadata: {{name: dev}}\nspec:\n  allow:\n    request:\n      roles: [prod]\n{thresholds}---\nkind: role\nversion: v7\nmetadata: {{name: prod}}\n"
            );
            let set = load_one(&text);
            let alice = user("alice", &["dev"]);
            let mut req = crate::policy::testkit::request(&set, &alice, &["prod"], "x");
            let frozen: Vec<(u32, u32)> =
                req.thresholds.iter().map(|t| (t.approve, t.deny)).collect();
            assert_eq!(frozen, vec![counts], "{yaml:?}");
            let mut state = State::Pending;
            for i in 0..approvals {
                state = review(
                    &mut req,
                    &user(&format!("a{i}"), &[]),
                    Decision::Approve,
                    &[],
                )
                .state;
            }
            assert_eq!(
                state, after_approvals,
                "{yaml:?} after {approvals} approvals"
            );
            for i in 0..denials {
                if state != State::Pending {
                    break;
                }
                state = review(&mut req, &user(&format!("d{i}"), &[]), Decision::Deny, &[]).state;
            }
            assert_eq!(state, after_all, "{yaml:?} after {denials} denials");
        }
    }

    #[test]
    fn freezes_one_clause_per_allowing_role() {
        let set = load_one(ROLES);
        let carol = with_trait(
            user("carol", &["dev", "oncall", "lead"]),
            "pager",
            &["+44 1"],
        );
        let frozen = set
            .check_request(
                &carol,
                &strings(&["dev-db", "prod-web", "dev-web", "dev-db"]),
            )
            .unwrap();
        let names: Vec<&str> = frozen.thresholds.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, vec!["default", "sec", "team"]);
        assert_eq!(frozen.thresholds[2].approve, 2);
        let expected = BTreeMap::from([
            // dev allows it (default), oncall allows it (sec or team).
            ("dev-db".to_string(), vec![vec![0], vec![1, 2]]),
            // Only dev.
            ("dev-web".to_string(), vec![vec![0]]),
            // oncall (sec or team) and lead (default).
            ("prod-web".to_string(), vec![vec![1, 2], vec![0]]),
        ]);
        assert_eq!(frozen.role_thresholds, expected);
        assert_eq!(frozen.suggested_reviewers, strings(&["carrot", "angua"]));
        assert_eq!(frozen.annotations["team"], strings(&["dev", "ops"]));
        assert_eq!(frozen.annotations["pager"], strings(&["+44 1"]));
        assert_eq!(frozen.max_duration, Some(Duration::from_hours(2)));

        // Only roles that allow the request shape it.
        let alice = user("alice", &["dev", "oncall"]);
        let frozen = set.check_request(&alice, &strings(&["staging"])).unwrap();
        assert_eq!(frozen.thresholds.len(), 1);
        assert_eq!(frozen.suggested_reviewers, strings(&["carrot"]));
        assert_eq!(frozen.max_duration, Some(Duration::from_hours(8)));
        assert!(!frozen.annotations.contains_key("pager"));
    }
}
