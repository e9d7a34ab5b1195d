//! Every bad input gets a clear 4xx in the documented shape, and loses nothing.

mod common;

use common::{TestBroker, admin, fixture};
use serde_json::{Value, json};

async fn raw(
    b: &TestBroker,
    user: Option<&str>,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> (u16, Value) {
    let mut req = b.http.post(format!("{}/v1/requests", b.url)).body(body);
    if let Some(user) = user {
        req = req.bearer_auth(b.token(user));
    }
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not our error shape: {text:?}")),
    )
}

fn code(body: &Value) -> &str {
    body["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error code in {body}"))
}

#[tokio::test]
async fn malformed_bodies_are_400_and_oversized_413() {
    let b = TestBroker::start();
    let json_ct = Some("application/json");
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        (
            "truncated json",
            b"{\"roles\": [\"production-access\"".to_vec(),
            400,
            "invalid_request",
        ),
        (
            "not json",
            b"roles=production-access".to_vec(),
            400,
            "invalid_request",
        ),
        (
            "roles of the wrong type",
            br#"{"roles": "production-access", "reason": "x #1"}"#.to_vec(),
            400,
            "invalid_request",
        ),
        (
            "reason of the wrong type",
            br#"{"roles": ["production-access"], "reason": 7}"#.to_vec(),
            400,
            "invalid_request",
        ),
        (
            "unknown field",
            br#"{"roles": ["production-access"], "reason": "x #1", "role": "admin"}"#.to_vec(),
            400,
            "invalid_request",
        ),
        (
            "bad duration",
            br#"{"roles": ["production-access"], "reason": "x #1", "max_duration": "4x"}"#.to_vec(),
            400,
            "invalid_request",
        ),
        (
            "negative duration",
            br#"{"roles": ["production-access"], "reason": "x #1", "estimate": "-1h"}"#.to_vec(),
            400,
            "invalid_request",
        ),
        (
            "zero duration",
            br#"{"roles": ["production-access"], "reason": "x #1", "max_duration": "0s"}"#.to_vec(),
            400,
            "invalid_request",
        ),
        (
            "no roles",
            br#"{"roles": [], "reason": "x #1"}"#.to_vec(),
            400,
            "invalid_request",
        ),
        (
            "control chars in role",
            br#"{"roles": ["prod\u001b[2J"], "reason": "x #1"}"#.to_vec(),
            400,
            "invalid_request",
        ),
        (
            "pending_ttl beyond the broker's limit",
            br#"{"roles": ["production-access"], "reason": "x #1", "pending_ttl": "9000h"}"#
                .to_vec(),
            400,
            "invalid_request",
        ),
    ];
    for (what, body, status, expected) in cases {
        let (got, err) = raw(&b, Some("bob"), json_ct, body).await;
        assert_eq!((got, code(&err)), (status, expected), "{what}: {err}");
        assert!(
            !err["error"]["message"].as_str().unwrap().is_empty(),
            "{what}"
        );
    }
    let (got, err) = raw(
        &b,
        Some("bob"),
        None,
        br#"{"roles": ["production-access"], "reason": "x #1"}"#.to_vec(),
    )
    .await;
    assert_eq!(
        (got, code(&err)),
        (400, "invalid_request"),
        "missing content type"
    );
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("application/json")
    );

    let huge = json!({"roles": ["production-access"], "reason": "x".repeat(100_000)}).to_string();
    let (got, err) = raw(&b, Some("bob"), json_ct, huge.into_bytes()).await;
    assert_eq!((got, code(&err)), (413, "too_large"));

    let long_reason =
        json!({"roles": ["production-access"], "reason": format!("#1 {}", "x".repeat(4100))});
    let (got, err) = raw(
        &b,
        Some("bob"),
        json_ct,
        long_reason.to_string().into_bytes(),
    )
    .await;
    assert_eq!((got, code(&err)), (400, "invalid_request"));
    assert!(err["error"]["message"].as_str().unwrap().contains("4096"));

    // Nothing of the above was created; the broker still works.
    let (_, mine) = b.get("bob", "/v1/requests?scope=mine").await;
    assert_eq!(mine["requests"].as_array().unwrap().len(), 0);
    b.create("bob", &["production-access"], "incident #47")
        .await;
}

#[tokio::test]
async fn roles_that_cannot_be_requested() {
    let b = TestBroker::start();
    for (user, role, expected) in [
        ("bob", "no-such-role", "does not exist"),
        ("bob", "production-db-access", "may not request"),
        ("bob", "admin", "may not request"),
        ("alice", "developer", "already hold"),
    ] {
        let (status, body) = b
            .post(
                user,
                "/v1/requests",
                json!({"roles": [role], "reason": "incident #1"}),
            )
            .await;
        assert_eq!(
            (status, code(&body)),
            (403, "role_not_requestable"),
            "{user} {role}: {body}"
        );
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains(expected),
            "{body}"
        );
    }
}

#[tokio::test]
async fn reviews_with_bad_bodies() {
    let b = TestBroker::start();
    let id = b.create("bob", &["production-access"], "incident #2").await;
    let path = format!("/v1/requests/{id}/reviews");
    let (status, body) = b
        .post(
            "carrot",
            &path,
            json!({"decision": "approve", "reason": "  "}),
        )
        .await;
    assert_eq!((status, code(&body)), (400, "reason_required"));
    let (status, body) = b
        .post("carrot", &path, json!({"decision": "approve"}))
        .await;
    assert_eq!((status, code(&body)), (400, "reason_required"));
    let (status, body) = b
        .post("carrot", &path, json!({"decision": "maybe", "reason": "x"}))
        .await;
    assert_eq!((status, code(&body)), (400, "invalid_request"));
    let (status, body) = b
        .post(
            "carrot",
            "/v1/requests/not-a-uuid/reviews",
            json!({"decision": "approve", "reason": "x"}),
        )
        .await;
    assert_eq!((status, code(&body)), (404, "not_found"));
    let (status, body) = b
        .post(
            "carrot",
            "/v1/requests/0190f000-0000-7000-8000-000000000000/reviews",
            json!({"decision": "approve", "reason": "x"}),
        )
        .await;
    assert_eq!((status, code(&body)), (404, "not_found"));
    // The request is untouched and still reviewable.
    let (status, body) = b.review("carrot", &id, "approve", "fine").await;
    assert_eq!((status, body["state"].as_str()), (200, Some("approved")));
}

#[tokio::test]
async fn tokens_missing_bad_and_revoked() {
    let b = TestBroker::start();
    let (status, body) = b.call(None, reqwest::Method::GET, "/v1/whoami", None).await;
    assert_eq!((status, code(&body)), (401, "unauthenticated"));
    let resp = b
        .http
        .get(format!("{}/v1/whoami", b.url))
        .bearer_auth("cs_nope")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    let resp = b
        .http
        .get(format!("{}/v1/whoami", b.url))
        .header("authorization", "Basic Ym9iOng=")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);

    let old = b.token("bob").to_string();
    let out = admin(b.dir.path(), &["tokens", "rotate", "bob"]);
    assert!(out.status.success());
    let new = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_string();
    let resp = b
        .http
        .get(format!("{}/v1/whoami", b.url))
        .bearer_auth(&old)
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status().as_u16(),
        401,
        "rotated token is revoked at once"
    );
    let resp = b
        .http
        .get(format!("{}/v1/whoami", b.url))
        .bearer_auth(&new)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);

    assert!(
        admin(b.dir.path(), &["users", "rm", "bob"])
            .status
            .success()
    );
    let resp = b
        .http
        .get(format!("{}/v1/whoami", b.url))
        .bearer_auth(&new)
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status().as_u16(),
        401,
        "removed user's token no longer works"
    );
}

#[tokio::test]
async fn broken_role_file_names_file_and_line_and_keeps_previous_roles() {
    let b = TestBroker::start();
    let broken = b.dir.path().join("broken.yaml");
    let mut text = std::fs::read_to_string(fixture("roles.yaml")).unwrap();
    text.push_str("---\nkind: role\nversion: v7\nmetadata:\n  name: bad\nspec:\n  allow:\n    request:\n      roles: [x]\n      thresholds:\n        - filter: 'contains(reviewer.roles, '\n          approve: 1\n");
    std::fs::write(&broken, &text).unwrap();
    let out = admin(b.dir.path(), &["roles", "apply", broken.to_str().unwrap()]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = text.lines().collect();
    let line = lines
        .iter()
        .rposition(|l| l.contains("filter: 'contains"))
        .unwrap()
        + 1;
    assert!(stderr.contains("broken.yaml"), "{stderr}");
    assert!(
        stderr.contains(&format!(":{line}")),
        "names line {line}: {stderr}"
    );

    let yaml_syntax = b.dir.path().join("syntax.yaml");
    std::fs::write(
        &yaml_syntax,
        "kind: role\nversion: v7\nmetadata:\n  name: [unclosed\n",
    )
    .unwrap();
    let out = admin(
        b.dir.path(),
        &["roles", "apply", yaml_syntax.to_str().unwrap()],
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("syntax.yaml:"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The previous roles are still in force.
    b.create("bob", &["production-access"], "incident #5").await;
    let (_, me) = b.get("bob", "/v1/whoami").await;
    assert_eq!(me["requestable_roles"], json!(["production-access"]));
}

#[tokio::test]
async fn unknown_paths_and_methods_are_not_500() {
    let b = TestBroker::start();
    let (status, body) = b.get("bob", "/v1/nope").await;
    assert_eq!((status, code(&body)), (404, "not_found"));
    let (status, _) = b.get("bob", "/v1/requests/zzz").await;
    assert_eq!(status, 404);
    let (status, body) = b.get("bob", "/v1/requests?state=bogus").await;
    assert_eq!((status, code(&body)), (400, "invalid_request"));
    let (status, body) = b.get("bob", "/v1/requests?limit=abc").await;
    assert_eq!((status, code(&body)), (400, "invalid_request"));
    let (status, body) = b.get("bob", "/v1/requests?after=xyz").await;
    assert_eq!((status, code(&body)), (400, "invalid_request"));
    let (status, body) = b.get("ponder", "/v1/audit/events?since=yesterday").await;
    assert_eq!((status, code(&body)), (400, "invalid_request"));
}
