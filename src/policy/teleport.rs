//! Teleport's documented access-request behaviour, case by case, as countersign
//! decides it. Written from Teleport's documentation (access request configuration,
//! thresholds, review permissions, claims_to_roles); each deliberate difference is
//! listed in README's "How it behaves" and pinned here too.

use crate::model::{Decision, State, User};
use crate::policy::testkit::{load_one, request, review, strings, user, with_trait};
use crate::policy::{RequestAccess, RequestRefusal, Resource, ReviewRefusal, RoleSet, Verb};

const ROLES: &str = r#"
kind: role
version: v7
metadata: {name: requester}
spec:
  allow:
    request:
      roles: ['dev-*', '^prod-[a-z]+$', 'web-{{regexp.match("^(eu|us)$")}}']
      suggested_reviewers: [carrot]
      annotations:
        groups: ['{{external.groups}}']
        team: ['team-{{internal.team}}']
        missing: ['{{external.nothing}}']
        fixed: [on-call]
      thresholds:
        - name: security
          filter: 'contains(reviewer.roles, "security")'
          approve: 1
          deny: 1
        - name: team
          filter: 'regexp.match(reviewer.traits["team"], "^infra$")'
          approve: 2
          deny: 2
  options:
    request_access: always
    request_prompt: Name the ticket
---
kind: role
version: v7
metadata: {name: claimer}
spec:
  allow:
    request:
      claims_to_roles:
        - {claim: groups, value: '^admin-(.*)$', roles: ['role-$1']}
        - {claim: groups, value: 'ops-*', roles: ['$1-oncall']}
        - {claim: groups, value: '^x-(.*)$', roles: ['only-$2']}
---
kind: role
version: v7
metadata: {name: veto-only}
spec:
  allow:
    request:
      roles: [vault]
      thresholds:
        - {name: veto, deny: 1}
---
kind: role
version: v7
metadata: {name: never-denied}
spec:
  allow:
    request:
      roles: [vault]
      thresholds:
        - {name: three, approve: 3}
---
kind: role
version: v7
metadata: {name: reviewer}
spec:
  allow:
    review_requests:
      roles: ['dev-*', 'prod-*', 'web-*', 'vault']
      claims_to_roles:
        - {claim: teams, value: '^own-(.*)$', roles: ['role-$1']}
  deny:
    review_requests:
      roles: ['prod-*']
      where: 'contains(request.system_annotations["fixed"], "on-call")'
---
kind: role
version: v7
metadata: {name: security}
spec:
  allow:
    review_requests:
      roles: ['*']
      where: 'regexp.not_match(request.reason, "^test")'
---
kind: role
version: v7
metadata: {name: no-create}
spec:
  deny:
    rules:
      - resources: [access_request]
        verbs: [create]
---
kind: role
version: v7
metadata: {name: lister}
spec:
  allow:
    rules:
      - {resources: [access_request], verbs: [list, read]}
  deny:
    rules:
      - {resources: ['*'], verbs: [list]}
"#;

/// Empty target roles.
fn targets() -> String {
    [
        "dev-a",
        "dev-b",
        "prod-db",
        "prod-1",
        "web-eu",
        "web-asia",
        "vault",
        "role-db",
        "role-web",
        "db-oncall",
        "only-",
    ]
    .iter()
    .map(|n| format!("---\nkind: role\nversion: v7\nmetadata: {{name: {n}}}\n"))
    .collect()
}

fn set() -> RoleSet {
    load_one(&format!("{ROLES}{}", targets()))
}

fn alice() -> User {
    with_trait(
        with_trait(user("alice", &["requester"]), "groups", &["dev", "ops"]),
        "team",
        &["web"],
    )
}

#[test]
fn who_may_request_what() {
    let set = set();
    let claims = |groups: &[&str]| with_trait(user("cl", &["claimer"]), "groups", groups);
    // (user, roles asked, Ok(expanded roles) or the refusal)
    type Case = (
        User,
        Vec<&'static str>,
        Result<Vec<&'static str>, RequestRefusal>,
    );
    let cases: Vec<Case> = vec![
        // Globs, anchored regexes and regexp.match matchers.
        (alice(), vec!["dev-a"], Ok(vec!["dev-a"])),
        (alice(), vec!["prod-db"], Ok(vec!["prod-db"])),
        (
            alice(),
            vec!["prod-1"],
            Err(RequestRefusal::NotRequestable("prod-1".into())),
        ),
        (alice(), vec!["web-eu"], Ok(vec!["web-eu"])),
        (
            alice(),
            vec!["web-asia"],
            Err(RequestRefusal::NotRequestable("web-asia".into())),
        ),
        // `*` is every role the user may request.
        (
            alice(),
            vec!["*"],
            Ok(vec!["dev-a", "dev-b", "prod-db", "web-eu"]),
        ),
        (
            alice(),
            vec!["web-eu", "*"],
            Ok(vec!["web-eu", "dev-a", "dev-b", "prod-db"]),
        ),
        (
            user("nobody", &["reviewer"]),
            vec!["*"],
            Err(RequestRefusal::NothingRequestable),
        ),
        // claims_to_roles with `$1` / glob captures.
        (claims(&["admin-db"]), vec!["role-db"], Ok(vec!["role-db"])),
        (
            claims(&["admin-db"]),
            vec!["role-web"],
            Err(RequestRefusal::NotRequestable("role-web".into())),
        ),
        (
            claims(&["ops-db"]),
            vec!["db-oncall"],
            Ok(vec!["db-oncall"]),
        ),
        (
            claims(&["admin-db", "admin-web"]),
            vec!["*"],
            Ok(vec!["role-db", "role-web"]),
        ),
        // `$2` the value does not capture expands to nothing.
        (claims(&["x-y"]), vec!["only-"], Ok(vec!["only-"])),
        (
            claims(&[]),
            vec!["*"],
            Err(RequestRefusal::NothingRequestable),
        ),
        // A deny rule on create forbids creating any request.
        (
            user("alice", &["requester", "no-create"]),
            vec!["dev-a"],
            Err(RequestRefusal::CreateDenied),
        ),
        (
            user("alice", &["requester", "no-create"]),
            vec!["*"],
            Err(RequestRefusal::CreateDenied),
        ),
    ];
    for (who, asked, expected) in cases {
        let got = set
            .check_request(&who, &strings(&asked))
            .map(|frozen| frozen.roles);
        let expected = expected.map(|roles| strings(&roles));
        assert_eq!(got, expected, "{} asks {asked:?}", who.name);
    }
    assert!(
        set.requestable_roles(&user("a", &["requester", "no-create"]))
            .is_empty()
    );
}

#[test]
fn thresholds_count_as_teleport_counts_them() {
    let set = set();
    let bob = user("bob", &["veto-only"]);
    let dave = user("dave", &["never-denied"]);
    let reviewer = |name: &str| user(name, &["reviewer"]);
    // Deny-only: never approved by counting, denied by one.
    let mut req = request(&set, &bob, &["vault"], "x");
    for name in ["r1", "r2", "r3", "r4"] {
        let outcome = review(&mut req, &reviewer(name), Decision::Approve, &[]);
        assert_eq!(outcome.state, State::Pending, "{name}");
    }
    assert_eq!(
        review(&mut req, &reviewer("r5"), Decision::Deny, &[]).state,
        State::Denied
    );
    // Approve-only: never denied by counting, approved by three.
    let mut req = request(&set, &dave, &["vault"], "x");
    for name in ["r1", "r2", "r3"] {
        let outcome = review(&mut req, &reviewer(name), Decision::Deny, &[]);
        assert_eq!(outcome.state, State::Pending, "{name}");
    }
    for (name, state) in [
        ("r4", State::Pending),
        ("r5", State::Pending),
        ("r6", State::Approved),
    ] {
        let outcome = review(&mut req, &reviewer(name), Decision::Approve, &[]);
        assert_eq!(outcome.state, state, "{name}");
    }
    // Both roles: one clause each, every clause must hold; deny-only's clause never
    // does, so only an override can grant it.
    let both = user("eve", &["veto-only", "never-denied"]);
    let mut req = request(&set, &both, &["vault"], "x");
    assert_eq!(req.role_thresholds["vault"].len(), 2);
    for name in ["r1", "r2", "r3", "r4"] {
        let outcome = review(&mut req, &reviewer(name), Decision::Approve, &[]);
        assert_eq!(outcome.state, State::Pending, "{name}");
    }
    // Filters: a security reviewer satisfies the clause alone; two infra reviewers
    // (regexp.match on a trait) through the second threshold.
    let mut req = request(&set, &alice(), &["dev-a"], "ticket 1");
    let infra = |name: &str| with_trait(reviewer(name), "team", &["infra"]);
    assert_eq!(
        review(&mut req, &infra("i1"), Decision::Approve, &[]).state,
        State::Pending
    );
    assert_eq!(
        review(&mut req, &infra("i2"), Decision::Approve, &[]).state,
        State::Approved
    );
    let mut req = request(&set, &alice(), &["dev-a"], "ticket 1");
    let sec = user("vimes", &["security"]);
    assert_eq!(
        review(&mut req, &sec, Decision::Approve, &[]).state,
        State::Approved
    );
    // A reviewer matching no filter counts for nothing.
    let mut req = request(&set, &alice(), &["dev-a"], "ticket 1");
    assert_eq!(
        review(&mut req, &reviewer("plain"), Decision::Deny, &[]).state,
        State::Pending
    );
}

#[test]
fn who_may_review_what() {
    let set = set();
    let own = |teams: &[&str]| with_trait(user("ro", &["reviewer"]), "teams", teams);
    let claims = with_trait(user("cl", &["claimer"]), "groups", &["admin-db"]);
    let role_db = request(&set, &claims, &["role-db"], "x");
    let dev = request(&set, &alice(), &["dev-a"], "x");
    let prod = request(&set, &alice(), &["prod-db"], "x");
    let mut prod_unannotated = prod.clone();
    prod_unannotated.annotations.remove("fixed");
    let test_reason = request(&set, &alice(), &["dev-a"], "test run");
    let cases = [
        // review_requests.claims_to_roles with `$1`.
        (own(&["own-db"]), &role_db, Ok(())),
        (
            own(&["own-web"]),
            &role_db,
            Err(ReviewRefusal::RoleNotReviewable("role-db".into())),
        ),
        (own(&[]), &dev, Ok(())),
        // deny.review_requests.where: the deny holds only where its condition does.
        (
            own(&[]),
            &prod,
            Err(ReviewRefusal::RoleNotReviewable("prod-db".into())),
        ),
        (own(&[]), &prod_unannotated, Ok(())),
        // allow where with regexp.not_match.
        (user("vimes", &["security"]), &dev, Ok(())),
        (
            user("vimes", &["security"]),
            &test_reason,
            Err(ReviewRefusal::WhereNotSatisfied),
        ),
        // Review rights come from static roles; nobody reviews their own request.
        (alice(), &dev, Err(ReviewRefusal::SelfReview)),
    ];
    for (who, req, expected) in cases {
        assert_eq!(
            set.check_review(&who, req),
            expected,
            "{} on {:?}",
            who.name,
            req.roles
        );
    }
    // A deny with a where is decided per request, so the role stays listed.
    assert!(
        set.reviewable_roles(&own(&["own-db"]))
            .contains(&"prod-db".to_string())
    );
    assert!(
        set.reviewable_roles(&own(&["own-db"]))
            .contains(&"role-db".to_string())
    );
}

#[test]
fn what_a_request_carries() {
    let set = set();
    let frozen = set
        .check_request(&alice(), &strings(&["dev-a"]))
        .expect("alice may request dev-a");
    // Annotations interpolate traits; a missing trait drops the annotation.
    assert_eq!(frozen.annotations["groups"], strings(&["dev", "ops"]));
    assert_eq!(frozen.annotations["team"], strings(&["team-web"]));
    assert_eq!(frozen.annotations["fixed"], strings(&["on-call"]));
    assert!(!frozen.annotations.contains_key("missing"));
    assert_eq!(frozen.suggested_reviewers, strings(&["carrot"]));
    // request_access and the prompt.
    assert_eq!(set.request_access(&alice()), RequestAccess::Always);
    assert!(set.request_access(&alice()).login_needs_request());
    assert!(!set.reason_required(&alice()));
    assert_eq!(
        set.request_prompt(&alice()).as_deref(),
        Some("Name the ticket")
    );
    assert_eq!(
        set.request_access(&user("r", &["reviewer"])),
        RequestAccess::Optional
    );
}

#[test]
fn rules_deny_wins() {
    let set = set();
    let lister = user("l", &["lister"]);
    let cases = [
        (Verb::List, false),
        (Verb::Read, true),
        (Verb::Update, false),
    ];
    for (verb, allowed) in cases {
        assert_eq!(
            set.allows(&lister, Resource::AccessRequest, verb),
            allowed,
            "{verb:?}"
        );
    }
    let no_create = user("n", &["no-create"]);
    assert!(set.denies(&no_create, Resource::AccessRequest, Verb::Create));
    assert!(!set.denies(&alice(), Resource::AccessRequest, Verb::Create));
}

#[test]
fn reasons_as_teleport_reads_them() {
    use crate::model::api::MAX_REASON_BYTES;
    use crate::policy::lifecycle::check_text;
    let roles = r#"
kind: role
version: v7
metadata: {name: by-mode}
spec:
  allow:
    request: {roles: [t], reason: {mode: required}}
---
kind: role
version: v7
metadata: {name: by-option}
spec:
  allow:
    request: {roles: [t]}
  options: {request_access: reason, request_prompt: 'Which incident?'}
---
kind: role
version: v7
metadata: {name: optional-mode}
spec:
  allow:
    request: {roles: [t], reason: {mode: optional}}
---
kind: role
version: v7
metadata: {name: bool-true}
spec:
  allow:
    request: {roles: [t], reason: true}
---
kind: role
version: v7
metadata: {name: plain}
spec:
  allow:
    request: {roles: [t]}
---
kind: role
version: v7
metadata: {name: t}
"#;
    let set = load_one(roles);
    // (roles held, reason required, prompt)
    let cases: [(&[&str], bool, Option<&str>); 6] = [
        (&["by-mode"], true, None),
        (&["by-option"], true, Some("Which incident?")),
        (&["optional-mode"], false, None),
        (&["bool-true"], true, None),
        (&["plain"], false, None),
        // Any one role requiring it is enough.
        (&["plain", "by-mode"], true, None),
    ];
    for (held, required, prompt) in cases {
        let who = user("u", held);
        assert_eq!(set.reason_required(&who), required, "{held:?}");
        assert_eq!(set.request_prompt(&who).as_deref(), prompt, "{held:?}");
    }
    // Reasons are at most 4096 bytes; blank ones count as missing.
    let limit = "a".repeat(MAX_REASON_BYTES);
    assert_eq!(check_text("reason", &limit), Ok(Some(limit.as_str())));
    let over = format!("{limit}a");
    assert!(check_text("reason", &over).is_err());
    assert_eq!(check_text("reason", "\u{200B}\t"), Ok(None));
}
