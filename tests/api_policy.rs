//! Policy decisions through a real broker: Teleport's threshold counts (the deny-only
//! over-grant), a deny rule on create, wildcard requests, `read` versus `list`,
//! blank reasons, an audited self-override, and role files refused at apply.

mod common;

use std::time::Duration;

use common::{TestBroker, add_user, admin, fixture, read_sse};
use serde_json::{Value, json};

const EXTRA_ROLES: &str = r#"
---
kind: role
version: v7
metadata: {name: vault}
---
kind: role
version: v7
metadata: {name: veto-requester}
spec:
  allow:
    request:
      roles: [vault]
      thresholds:
        - {name: veto, deny: 1}
---
kind: role
version: v7
metadata: {name: patient-requester}
spec:
  allow:
    request:
      roles: [vault]
      thresholds:
        - {name: three, approve: 3}
---
kind: role
version: v7
metadata: {name: vault-reviewer}
spec:
  allow:
    review_requests:
      roles: [vault]
---
kind: role
version: v7
metadata: {name: frozen}
spec:
  deny:
    rules:
      - resources: [access_request]
        verbs: [create]
---
kind: role
version: v7
metadata: {name: reader}
spec:
  allow:
    rules:
      - resources: [access_request]
        verbs: [read]
"#;

const MORE_USERS: &[(&str, &str)] = &[
    ("vic", "veto-requester"),
    ("pat", "patient-requester"),
    ("vr1", "vault-reviewer"),
    ("vr2", "vault-reviewer"),
    ("vr3", "vault-reviewer"),
    ("vr4", "vault-reviewer"),
    ("ice", "developer,frozen"),
    ("rita", "reader"),
    ("vet", "admin,developer"),
];

/// The standard test broker with the extra roles and users above.
fn broker() -> TestBroker {
    let mut broker = TestBroker::start();
    broker.kill();
    let base = std::fs::read_to_string(fixture("roles.yaml")).expect("fixture roles");
    let path = broker.dir.path().join("policy-roles.yaml");
    std::fs::write(&path, format!("{base}{EXTRA_ROLES}")).expect("write roles");
    let applied = admin(
        broker.dir.path(),
        &["roles", "apply", path.to_str().unwrap()],
    );
    assert!(
        applied.status.success(),
        "{}",
        String::from_utf8_lossy(&applied.stderr)
    );
    for (name, roles) in MORE_USERS {
        let token = add_user(broker.dir.path(), name, roles);
        broker.tokens.insert(name.to_string(), token);
    }
    broker.restart();
    broker
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("")
}

#[tokio::test]
async fn a_deny_only_threshold_never_approves_and_an_approve_only_one_never_denies() {
    let broker = broker();
    // Teleport: {deny: 1} never approves by counting.
    let id = broker.create("vic", &["vault"], "").await;
    for reviewer in ["vr1", "vr2", "vr3", "vr4"] {
        let (status, body) = broker.review(reviewer, &id, "approve", "looks fine").await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["state"], "pending", "{reviewer}: {body}");
        assert_eq!(body["access"], Value::Null);
    }
    let (_, body) = broker.get("vic", &format!("/v1/requests/{id}")).await;
    assert_eq!(body["thresholds"][0]["approve"], 0, "{body}");
    assert_eq!(body["thresholds"][0]["deny"], 1, "{body}");

    let id = broker.create("vic", &["vault"], "").await;
    let (_, body) = broker.review("vr1", &id, "deny", "not now").await;
    assert_eq!(body["state"], "denied", "{body}");

    // Teleport: {approve: 3} is never denied by counting.
    let id = broker.create("pat", &["vault"], "").await;
    for reviewer in ["vr1", "vr2"] {
        let (_, body) = broker.review(reviewer, &id, "deny", "no").await;
        assert_eq!(body["state"], "pending", "{reviewer}: {body}");
    }
    let (_, body) = broker.review("vr3", &id, "approve", "ok").await;
    assert_eq!(body["state"], "pending", "{body}");
    let (_, body) = broker.review("vr4", &id, "approve", "ok").await;
    assert_eq!(body["state"], "pending", "two approvals of three: {body}");
}

#[tokio::test]
async fn a_deny_rule_on_create_forbids_creating() {
    let broker = broker();
    let (status, body) = broker
        .post(
            "ice",
            "/v1/requests",
            json!({"roles": ["production-access"], "reason": "#47"}),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(code(&body), "forbidden", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("access_request: create"),
        "{body}"
    );
    let (_, me) = broker.get("ice", "/v1/whoami").await;
    assert_eq!(me["requestable_roles"], json!([]), "{me}");
    // The same roles without the deny may create.
    broker.create("bob", &["production-access"], "#47").await;
}

#[tokio::test]
async fn a_wildcard_request_asks_for_every_requestable_role() {
    let broker = broker();
    let (status, body) = broker
        .post(
            "alice",
            "/v1/requests",
            json!({"roles": ["*"], "reason": "#47"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        body["roles"],
        json!(["production-access", "production-db-access"]),
        "{body}"
    );
    assert_eq!(body["granted_roles"], body["roles"]);
    assert!(body["role_thresholds"]["production-db-access"].is_array());

    let (status, body) = broker
        .post(
            "carrot",
            "/v1/requests",
            json!({"roles": ["*"], "reason": "x"}),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(code(&body), "role_not_requestable", "{body}");
}

#[tokio::test]
async fn read_alone_reads_by_id_but_does_not_list_or_stream() {
    let broker = broker();
    let id = broker.create("bob", &["production-access"], "#47").await;
    // rita (read) may read it by id...
    let (status, body) = broker.get("rita", &format!("/v1/requests/{id}")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["id"], id.as_str());
    // ...but sees nothing in listings, whatever the scope...
    for scope in ["all", "mine", "reviewable"] {
        let (status, body) = broker
            .get("rita", &format!("/v1/requests?scope={scope}"))
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["requests"], json!([]), "{scope}: {body}");
    }
    // ...while ponder (list) sees it.
    let (_, body) = broker.get("ponder", "/v1/requests?scope=all").await;
    let ids: Vec<&str> = body["requests"]
        .as_array()
        .expect("requests")
        .iter()
        .filter_map(|r| r["id"].as_str())
        .collect();
    assert_eq!(ids, vec![id.as_str()], "{body}");

    // The stream: ponder receives the creation, rita nothing. It is read from
    // just before the creation (adding the users was logged before it).
    let (_, created) = broker
        .get("ponder", "/v1/audit/events?type=access_request.create")
        .await;
    let before = created["events"][0]["seq"]
        .as_u64()
        .expect("the creation's seq")
        - 1;
    let stream = |user: &str| {
        broker
            .http
            .get(format!("{}/v1/events?after={before}", broker.url))
            .bearer_auth(broker.token(user))
            .send()
    };
    let mut listed = stream("ponder").await.expect("stream");
    let mut read_only = stream("rita").await.expect("stream");
    let seen = read_sse(&mut listed, 1, Duration::from_secs(10)).await;
    assert_eq!(seen.len(), 1, "ponder should get the creation");
    assert_eq!(seen[0].1, "access_request.create");
    let seen = read_sse(&mut read_only, 1, Duration::from_secs(2)).await;
    assert!(seen.is_empty(), "rita may not stream: {seen:?}");
}

#[tokio::test]
async fn invisible_reasons_count_as_missing() {
    let broker = broker();
    for reason in [
        "\u{200B}",
        "\u{200B}\u{200C}\u{200D}",
        "\u{2060}\u{FEFF}",
        "\0",
        " \t\u{1b} ",
    ] {
        let (status, body) = broker
            .post(
                "alice",
                "/v1/requests",
                json!({"roles": ["production-access"], "reason": reason}),
            )
            .await;
        assert_eq!(status, 400, "{reason:?}: {body}");
        assert_eq!(code(&body), "reason_required", "{reason:?}: {body}");
    }
    let id = broker.create("alice", &["production-access"], "#47").await;
    let (status, body) = broker
        .review("carrot", &id, "approve", "\u{FEFF}\u{200B}")
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(code(&body), "reason_required", "{body}");
    let (_, body) = broker.get("alice", &format!("/v1/requests/{id}")).await;
    assert_eq!(body["state"], "pending");
    assert_eq!(body["reviews"], json!([]), "nothing was stored: {body}");
}

#[tokio::test]
async fn a_refused_self_override_is_on_the_record() {
    let broker = broker();
    let id = broker.create("vet", &["production-access"], "#47").await;
    let (status, body) = broker
        .post(
            "vet",
            &format!("/v1/requests/{id}/resolve"),
            json!({"state": "approved", "reason": "it is mine"}),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(code(&body), "self_review", "{body}");
    let (status, page) = broker
        .get(
            "ponder",
            &format!("/v1/audit/events?type=access_request.review_refused&request_id={id}"),
        )
        .await;
    assert_eq!(status, 200, "{page}");
    let events = page["events"].as_array().expect("events");
    assert_eq!(events.len(), 1, "{page}");
    assert_eq!(events[0]["user"], "vet");
    assert_eq!(events[0]["reason"], "it is mine");
    let (_, body) = broker.get("vet", &format!("/v1/requests/{id}")).await;
    assert_eq!(body["state"], "pending");
}

#[tokio::test]
async fn whoami_says_when_every_login_needs_a_request() {
    let broker = broker();
    let (_, me) = broker.get("alice", "/v1/whoami").await;
    // The fixture's developer role says request_access: reason.
    assert_eq!(me["request_access"], "reason", "{me}");
    let (_, me) = broker.get("carrot", "/v1/whoami").await;
    assert_eq!(me["request_access"], "optional", "{me}");
}

#[test]
fn role_files_with_near_misses_or_alias_bombs_are_refused_at_apply() {
    let dir = tempfile::tempdir().expect("tempdir");
    let head = "kind: role\nversion: v7\nmetadata:\n  name: a\n";
    let refs = vec!["*x"; 5000].join(", ");
    let cases = [
        (
            format!("{head}spec:\n  allow:\n    review_request:\n      roles: [a]\n"),
            "roles.yaml:7: spec.allow.review_request: unknown field; did you mean `review_requests`?",
        ),
        (
            format!(
                "{head}spec:\n  allow:\n    request:\n      roles: [a]\n      threshold: [{{approve: 2}}]\n"
            ),
            "did you mean `thresholds`?",
        ),
        (
            format!("{head}spec:\n  allow:\n    request:\n      search_as_roles: [access]\n"),
            "search_as_roles",
        ),
        (
            format!("{head}x: &x [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\ny: [{refs}]\n"),
            "expands to more than",
        ),
        (
            format!("{head}y: {}\n", "[".repeat(100_000)),
            "nested more than 64 levels deep",
        ),
        (
            format!("{head}{}", "# padding\n".repeat(200_000)),
            "larger than 1048576 bytes",
        ),
    ];
    for (text, message) in cases {
        let path = dir.path().join("roles.yaml");
        std::fs::write(&path, &text).expect("write");
        let out = admin(dir.path(), &["roles", "apply", path.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{message}: applied");
        assert!(stderr.contains(message), "{message}: {stderr}");
    }
}
