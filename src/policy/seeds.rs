//! The seed documents' roles, and config/roles.yaml, load and behave as written.

use crate::model::{Decision, Duration, State};
use crate::policy::testkit::{RUNBOOK, load, load_one, request, review, strings, user, with_trait};
use crate::policy::{RequestRefusal, Resource, ReviewRefusal, RoleSet, Verb};

const CONFIG: &str = include_str!("../../config/roles.yaml");
const SETUP: &str = include_str!("testdata/seed001_setup.yaml");
const CONTRACTOR_DENY: &str = include_str!("testdata/seed001_contractor_deny.yaml");
const EMPLOYEE: &str = include_str!("testdata/seed001_employee.yaml");
const MATCHERS: &str = include_str!("testdata/seed001_matchers.yaml");
const SRE: &str = include_str!("testdata/seed004_sre.yaml");
const WORKFLOW: &str = include_str!("testdata/seed003_contractor.yaml");

/// Empty roles named as the seed's example clusters.
fn clusters(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("kind: role\nversion: v5\nmetadata:\n  name: {n}\n"))
        .collect::<Vec<_>>()
        .join("---\n")
}

#[test]
fn runbook_developer_needs_one_approval_and_a_reason() {
    let set = load(&[("runbook.yaml", RUNBOOK)]);
    let dev = user("rincewind", &["developer"]);
    assert!(set.reason_required(&dev));
    assert_eq!(set.requestable_roles(&dev), strings(&["production-access"]));
    let mut req = request(&set, &dev, &["production-access"], "incident #47");
    assert_eq!(req.thresholds.len(), 1);
    assert_eq!((req.thresholds[0].approve, req.thresholds[0].deny), (1, 1));
    // Nobody in the runbook's files may review: the reviewer role is not defined there.
    let carrot = user("carrot", &["reviewer"]);
    assert_eq!(
        set.check_review(&carrot, &req),
        Err(ReviewRefusal::RoleNotReviewable("production-access".into()))
    );
    let outcome = review(&mut req, &carrot, Decision::Approve, &[]);
    assert_eq!(outcome.state, State::Approved);

    let role = set.get("production-access").unwrap();
    assert_eq!(role.max_session_ttl, Some(Duration::from_hours(4)));
    assert_eq!(
        role.require_session_mfa,
        Some(serde_json::Value::Bool(true))
    );
    assert_eq!(
        role.document["spec"]["allow"]["logins"],
        serde_json::json!(["deploy", "app"])
    );
    let granted = strings(&["production-access"]);
    let cases = [
        (None, 4 * 60),
        (Some(Duration::from_hours(8)), 4 * 60),
        (Some(Duration::from_mins(30)), 30),
    ];
    for (wanted, minutes) in cases {
        assert_eq!(
            set.access_length(&granted, wanted),
            Duration::from_mins(minutes),
            "{wanted:?}"
        );
    }
    // The runbook never defines production-db-access.
    let db = user("ponder", &["developer-db-request"]);
    assert!(set.reason_required(&db));
    assert_eq!(
        set.check_request(&db, &strings(&["production-db-access"])),
        Err(RequestRefusal::UnknownRole("production-db-access".into()))
    );
}

#[test]
fn config_roles_load_and_follow_the_runbook() {
    let set = load(&[("config/roles.yaml", CONFIG)]);
    let names: Vec<&str> = set.roles().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        vec![
            "admin",
            "auditor",
            "contractor",
            "dba",
            "developer",
            "developer-db-request",
            "production-access",
            "production-db-access",
            "reviewer"
        ]
    );
    let ponder = user("ponder", &["developer-db-request"]);
    let carrot = user("carrot", &["reviewer"]);
    let adora = user("adora", &["reviewer"]);
    let vimes = user("vimes", &["reviewer"]);

    // Two approvals for production-db-access.
    let mut req = request(
        &set,
        &ponder,
        &["production-db-access"],
        "INC-123 migration",
    );
    assert_eq!(set.check_review(&carrot, &req), Ok(()));
    assert_eq!(
        review(&mut req, &carrot, Decision::Approve, &[]).state,
        State::Pending
    );
    assert_eq!(req.votes(), (1, 2));
    assert_eq!(
        review(&mut req, &adora, Decision::Approve, &[]).state,
        State::Approved
    );
    assert_eq!(
        set.access_length(&req.granted_roles, Some(Duration::from_hours(4))),
        Duration::from_hours(1)
    );

    // One denial kills it, even after an approval.
    let mut req = request(&set, &ponder, &["production-db-access"], "just looking");
    assert_eq!(
        review(&mut req, &carrot, Decision::Approve, &[]).state,
        State::Pending
    );
    assert_eq!(
        review(&mut req, &vimes, Decision::Deny, &[]).state,
        State::Denied
    );

    // developer + developer-db-request: a multi-role request, each role its own clause.
    let both = user("ridcully", &["developer", "developer-db-request"]);
    let mut req = request(
        &set,
        &both,
        &["production-access", "production-db-access"],
        "#47",
    );
    assert_eq!(
        review(&mut req, &carrot, Decision::Approve, &[]).state,
        State::Pending
    );
    assert_eq!(
        review(&mut req, &adora, Decision::Approve, &[]).state,
        State::Approved
    );
    assert_eq!(req.granted_roles.len(), 2);
    // ...or narrowed by the first approver to the one-approval role.
    let mut req = request(
        &set,
        &both,
        &["production-access", "production-db-access"],
        "#47",
    );
    let outcome = review(&mut req, &carrot, Decision::Approve, &["production-access"]);
    assert_eq!(outcome.state, State::Approved);
    assert_eq!(outcome.granted_roles, strings(&["production-access"]));
    assert_eq!(
        set.access_length(&outcome.granted_roles, None),
        Duration::from_hours(4)
    );

    // Rules.
    let auditor = user("auditor", &["auditor"]);
    let admin = user("vetinari", &["admin"]);
    let cases = [
        (&carrot, Resource::AccessRequest, Verb::List, true),
        (&carrot, Resource::AccessRequest, Verb::Read, true),
        (&carrot, Resource::AccessRequest, Verb::Update, false),
        (&carrot, Resource::Event, Verb::List, false),
        (&auditor, Resource::Event, Verb::List, true),
        (&auditor, Resource::AccessRequest, Verb::List, true),
        (&auditor, Resource::AccessRequest, Verb::Update, false),
        (&admin, Resource::AccessRequest, Verb::Update, true),
        (&admin, Resource::AccessRequest, Verb::Delete, true),
        (&ponder, Resource::AccessRequest, Verb::List, false),
    ];
    for (who, resource, verb, allowed) in cases {
        assert_eq!(
            set.allows(who, resource, verb),
            allowed,
            "{} {resource:?} {verb:?}",
            who.name
        );
    }
    assert!(set.requestable_roles(&admin).is_empty());
    assert_eq!(set.reviewable_roles(&admin), strings(&["dba"]));
    assert_eq!(
        set.reviewable_roles(&carrot),
        strings(&["production-access", "production-db-access"])
    );
    assert!(set.reviewable_roles(&ponder).is_empty());
    assert!(!set.reason_required(&carrot));
    assert_eq!(
        set.request_prompt(&user("x", &["developer-db-request", "developer"]))
            .as_deref(),
        Some("Name the incident or ticket (e.g. incident #47, INC-123)")
    );
    assert_eq!(set.request_prompt(&ponder), None);

    // The contractor may request dba (1h), never admin.
    let alice = user("alice", &["contractor"]);
    assert_eq!(set.requestable_roles(&alice), strings(&["dba"]));
    assert_eq!(
        set.check_request(&alice, &strings(&["admin"])),
        Err(RequestRefusal::NotRequestable("admin".into()))
    );
    let mut req = request(&set, &alice, &["dba"], "ticket #1234");
    assert_eq!(
        set.check_review(&carrot, &req),
        Err(ReviewRefusal::RoleNotReviewable("dba".into()))
    );
    assert_eq!(set.check_review(&admin, &req), Ok(()));
    assert_eq!(
        review(&mut req, &admin, Decision::Approve, &[]).state,
        State::Approved
    );
    assert_eq!(
        set.access_length(&req.granted_roles, None),
        Duration::from_hours(1)
    );
}

#[test]
fn contractor_never_requests_admin_even_through_claims() {
    let set = load(&[("config/roles.yaml", CONFIG), ("employee.yaml", EMPLOYEE)]);
    // employee's claims_to_roles lets `groups: admins` request any role...
    let employee = with_trait(user("bob", &["employee"]), "groups", &["admins"]);
    assert!(set.check_request(&employee, &strings(&["admin"])).is_ok());
    // ...but the contractor role's deny wins, whatever else the user holds.
    let contractor = with_trait(
        user("alice", &["employee", "contractor"]),
        "groups",
        &["admins"],
    );
    assert_eq!(
        set.check_request(&contractor, &strings(&["admin"])),
        Err(RequestRefusal::NotRequestable("admin".into()))
    );
    let requestable = set.requestable_roles(&contractor);
    assert!(!requestable.contains(&"admin".to_string()));
    assert!(requestable.contains(&"dba".to_string()));
    assert!(requestable.contains(&"production-access".to_string()));
    // Without the admins claim, employee's literal and glob matchers only.
    let plain = user("carol", &["employee"]);
    assert!(set.requestable_roles(&plain).is_empty());
}

#[test]
fn seed001_setup_contractor_dba_admin() {
    let set = load(&[("seed001_setup.yaml", SETUP)]);
    let alice = user("alice", &["contractor"]);
    let admin = user("bob", &["admin"]);
    assert_eq!(set.requestable_roles(&alice), strings(&["dba"]));
    assert_eq!(
        set.check_request(&alice, &strings(&["admin"])),
        Err(RequestRefusal::NotRequestable("admin".into()))
    );
    assert!(!set.reason_required(&alice));
    assert_eq!(set.reviewable_roles(&admin), strings(&["dba"]));
    assert!(set.reviewable_roles(&alice).is_empty());
    for verb in [Verb::List, Verb::Read, Verb::Update, Verb::Delete] {
        assert!(
            set.allows(&admin, Resource::AccessRequest, verb),
            "{verb:?}"
        );
        assert!(
            !set.allows(&alice, Resource::AccessRequest, verb),
            "{verb:?}"
        );
    }
    assert!(!set.allows(&admin, Resource::Event, Verb::List));
    let mut req = request(&set, &alice, &["dba"], "Need access to db");
    assert_eq!(
        set.check_review(&alice, &req),
        Err(ReviewRefusal::SelfReview)
    );
    assert_eq!(
        review(&mut req, &admin, Decision::Approve, &[]).state,
        State::Approved
    );
    assert_eq!(
        set.access_length(&req.granted_roles, None),
        Duration::from_hours(1)
    );
    assert_eq!(
        set.get("dba").unwrap().max_session_ttl,
        Some(Duration::from_hours(1))
    );
}

#[test]
fn seed001_deny_example_loads_and_denies_admin() {
    let set = load(&[
        ("seed001_contractor_deny.yaml", CONTRACTOR_DENY),
        ("clusters", &clusters(&["admin"])),
    ]);
    let alice = user("alice", &["contractor"]);
    assert_eq!(
        set.check_request(&alice, &strings(&["admin"])),
        Err(RequestRefusal::NotRequestable("admin".into()))
    );
    // Both seed examples are named contractor: together they are a duplicate.
    let mut roles = RoleSet::parse(SETUP, "setup.yaml").unwrap();
    roles.extend(RoleSet::parse(CONTRACTOR_DENY, "deny.yaml").unwrap());
    let err = RoleSet::new(roles).unwrap_err().to_string();
    assert!(err.starts_with("deny.yaml:6:"), "{err}");
    assert!(
        err.contains("duplicate role name \"contractor\" (first defined at setup.yaml:6)"),
        "{err}"
    );
}

#[test]
fn seed001_employee_needs_a_reason_and_carries_annotations() {
    let targets = clusters(&["common", "dev-prod", "stg-web", "admin"]);
    let set = load(&[("employee.yaml", EMPLOYEE), ("clusters", &targets)]);
    let role = set.get("employee").unwrap();
    assert_eq!(
        role.request_prompt.as_deref(),
        Some("Please provide your ticket ID")
    );
    let bob = user("bob", &["employee"]);
    assert!(set.reason_required(&bob));
    assert_eq!(
        set.request_prompt(&bob).as_deref(),
        Some("Please provide your ticket ID")
    );
    assert_eq!(
        set.requestable_roles(&bob),
        strings(&["common", "dev-prod"])
    );
    let admins = with_trait(user("carol", &["employee"]), "groups", &["admins", "devs"]);
    assert_eq!(
        set.requestable_roles(&admins),
        strings(&["admin", "common", "dev-prod", "stg-web"])
    );
    let frozen = set.check_request(&admins, &strings(&["stg-web"])).unwrap();
    assert_eq!(frozen.annotations["foo"], strings(&["bar"]));
    assert_eq!(frozen.annotations["groups"], strings(&["admins", "devs"]));
}

#[test]
fn seed001_matcher_examples() {
    let targets = clusters(&[
        "dev-prod",
        "dev-stg",
        "prod.us-east",
        "dev-us-east-a",
        "dev-us-west-b",
        "dev-eu-west-1",
        "dev-alpha-prod",
        "dev-beta-prod",
        "staging",
    ]);
    let set = load(&[("matchers.yaml", MATCHERS), ("clusters", &targets)]);
    let cases = [
        (
            "dev-requester",
            vec![
                "dev-alpha-prod",
                "dev-beta-prod",
                "dev-eu-west-1",
                "dev-prod",
                "dev-requester",
                "dev-stg",
                "dev-us-east-a",
                "dev-us-west-b",
            ],
        ),
        ("prod-requester", vec!["prod-requester", "prod.us-east"]),
        ("us-requester", vec!["dev-us-east-a", "dev-us-west-b"]),
        ("not-beta-requester", vec!["dev-alpha-prod"]),
    ];
    for (role, expected) in cases {
        // A requester already holds its own role, so it is never requestable to it.
        let expected: Vec<&str> = expected.into_iter().filter(|r| *r != role).collect();
        assert_eq!(
            set.requestable_roles(&user("u", &[role])),
            strings(&expected),
            "{role}"
        );
    }
}

#[test]
fn seed004_sre_requests_prodaccess_reviewer_approves() {
    let set = load(&[("seed004.yaml", SRE)]);
    let sre = user("angua", &["sres"]);
    let reviewer = user("carrot", &["access-reviewer"]);
    assert_eq!(set.requestable_roles(&sre), strings(&["prodaccess"]));
    assert!(set.reviewable_roles(&sre).is_empty());
    assert_eq!(set.reviewable_roles(&reviewer), strings(&["prodaccess"]));
    assert_eq!(
        set.get("sres").unwrap().document["spec"]["allow"]["node_labels"]["env"],
        "^test|staging$"
    );
    let mut req = request(&set, &sre, &["prodaccess"], "pager alert");
    assert_eq!(
        review(&mut req, &reviewer, Decision::Approve, &[]).state,
        State::Approved
    );
    assert_eq!(
        set.access_length(&req.granted_roles, None),
        Duration::from_hours(1)
    );
}

#[test]
fn seed003_bob_requests_dba_alice_approves() {
    let set = load(&[("seed003.yaml", WORKFLOW)]);
    let bob = user("bob", &["contractor"]);
    let alice = user("alice", &["admin"]);
    assert_eq!(
        set.requestable_roles(&bob),
        strings(&["cluster-a", "dba", "sudo-admin"])
    );
    let mut req = request(&set, &bob, &["dba"], "");
    assert!(!set.reason_required(&bob));
    assert_eq!(set.check_review(&alice, &req), Ok(()));
    assert!(set.allows(&alice, Resource::AccessRequest, Verb::Update));
    assert_eq!(
        review(&mut req, &alice, Decision::Approve, &[]).state,
        State::Approved
    );
    // Multiple roles at one time, approved for a subset (seed 001's --roles).
    let mut req = request(&set, &bob, &["dba", "cluster-a", "sudo-admin"], "");
    let outcome = review(&mut req, &alice, Decision::Approve, &["dba", "cluster-a"]);
    assert_eq!(outcome.state, State::Approved);
    assert_eq!(outcome.granted_roles, strings(&["dba", "cluster-a"]));
}

#[test]
fn never_panics_on_damaged_files() {
    // Every truncation and a byte-swap at every position of the example config.
    let mut checked = 0;
    for (end, _) in CONFIG.char_indices().step_by(13) {
        let _ = RoleSet::from_yaml(&CONFIG[..end], "cut.yaml");
        checked += 1;
    }
    for (at, c) in CONFIG.char_indices().step_by(31) {
        for replacement in ["\t", "'", "{", "- ", ":"] {
            let damaged = format!(
                "{}{replacement}{}",
                &CONFIG[..at],
                &CONFIG[at + c.len_utf8()..]
            );
            if let Err(e) = RoleSet::from_yaml(&damaged, "bad.yaml") {
                assert!(e.to_string().starts_with("bad.yaml"), "{e}");
            }
            checked += 1;
        }
    }
    assert!(checked > 400, "{checked}");
}

#[test]
fn hand_made_roles_are_validated_too() {
    let mut roles = RoleSet::parse("kind: role\nversion: v7\nmetadata:\n  name: a\n", "x").unwrap();
    roles[0].document["spec"] = serde_json::json!({"allow": {"request": {"roles": ["^a($"]}}});
    let err = RoleSet::new(roles).unwrap_err();
    assert!(err.message.contains("bad regular expression"), "{err}");
    assert_eq!(err.source_name, "x");
    assert!(load_one("").is_empty());
}
