//! The authorisation matrix: each endpoint × each kind of caller.

mod common;

use common::TestBroker;
use reqwest::Method;
use serde_json::{Value, json};

/// Callers, in column order.
const CALLERS: [&str; 7] = [
    "<none>", "<bad>", "bob", "dora", "carrot", "vetinari", "ponder",
];
// bob: the requester; dora: reviews other roles; carrot: reviewer; vetinari: override
// admin (access_request list/read/update); ponder: auditor (event list).

#[derive(Debug, Clone, Copy)]
enum Endpoint {
    Health,
    OpenApi,
    Whoami,
    Create,
    List,
    Show,
    Review,
    Resolve,
    Withdraw,
    Return,
    PostIncidentReview,
    Events,
    AuditEvents,
    AuditVerify,
}

async fn call(b: &TestBroker, caller: &str, endpoint: Endpoint) -> (u16, Value) {
    use Endpoint::*;
    // Each cell gets its own request in the state the endpoint needs.
    let fresh =
        |reason: &'static str| async move { b.create("bob", &["production-access"], reason).await };
    let approved = |reason: &'static str| async move {
        let id = b.create("bob", &["production-access"], reason).await;
        assert_eq!(b.review("adora", &id, "approve", "ok").await.0, 200);
        id
    };
    let (method, path, body) = match endpoint {
        Health => (Method::GET, "/healthz".to_string(), None),
        OpenApi => (Method::GET, "/v1/openapi.json".to_string(), None),
        Whoami => (Method::GET, "/v1/whoami".to_string(), None),
        Create => (
            Method::POST,
            "/v1/requests".to_string(),
            Some(json!({"roles": ["production-access"], "reason": "incident #1"})),
        ),
        List => (Method::GET, "/v1/requests".to_string(), None),
        Show => (
            Method::GET,
            format!("/v1/requests/{}", fresh("incident #2").await),
            None,
        ),
        Review => (
            Method::POST,
            format!("/v1/requests/{}/reviews", fresh("incident #3").await),
            Some(json!({"decision": "approve", "reason": "ok"})),
        ),
        Resolve => (
            Method::POST,
            format!("/v1/requests/{}/resolve", fresh("incident #4").await),
            Some(json!({"state": "approved", "reason": "ok"})),
        ),
        Withdraw => (
            Method::POST,
            format!("/v1/requests/{}/withdraw", fresh("incident #5").await),
            None,
        ),
        Return => (
            Method::POST,
            format!("/v1/requests/{}/return", approved("incident #6").await),
            None,
        ),
        PostIncidentReview => (
            Method::POST,
            format!(
                "/v1/requests/{}/post-incident-review",
                approved("EMERGENCY: #7").await
            ),
            Some(json!({"outcome": "justified", "notes": "real"})),
        ),
        Events => (Method::GET, "/v1/events".to_string(), None),
        AuditEvents => (Method::GET, "/v1/audit/events".to_string(), None),
        AuditVerify => (Method::GET, "/v1/audit/verify".to_string(), None),
    };
    let mut req = b.http.request(method, format!("{}{}", b.url, path));
    match caller {
        "<none>" => {}
        "<bad>" => req = req.bearer_auth("cs_0000"),
        user => req = req.bearer_auth(b.token(user)),
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    let resp = req.send().await.expect("reachable");
    let status = resp.status().as_u16();
    if matches!(endpoint, Events) && status == 200 {
        return (status, Value::Null);
    }
    let text = resp.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[tokio::test]
async fn every_endpoint_against_every_kind_of_caller() {
    use Endpoint::*;
    let b = TestBroker::start();
    //                      none  bad  bob  dora carrot vetinari ponder
    let matrix: &[(Endpoint, [u16; 7])] = &[
        (Health, [200, 200, 200, 200, 200, 200, 200]),
        (OpenApi, [200, 200, 200, 200, 200, 200, 200]),
        (Whoami, [401, 401, 200, 200, 200, 200, 200]),
        (Create, [401, 401, 201, 403, 403, 403, 403]),
        (List, [401, 401, 200, 200, 200, 200, 200]),
        (Show, [401, 401, 200, 404, 200, 200, 200]),
        (Review, [401, 401, 403, 404, 200, 403, 403]),
        (Resolve, [401, 401, 403, 404, 403, 200, 403]),
        (Withdraw, [401, 401, 200, 404, 403, 403, 403]),
        (Return, [401, 401, 200, 404, 403, 403, 403]),
        (PostIncidentReview, [401, 401, 403, 404, 200, 200, 403]),
        (Events, [401, 401, 200, 200, 200, 200, 200]),
        (AuditEvents, [401, 401, 403, 403, 403, 403, 200]),
        (AuditVerify, [401, 401, 403, 403, 403, 403, 200]),
    ];
    let mut failures = Vec::new();
    for (endpoint, expected) in matrix {
        for (caller, want) in CALLERS.iter().zip(expected) {
            let (got, body) = call(&b, caller, *endpoint).await;
            if got != *want {
                failures.push(format!(
                    "{endpoint:?} as {caller}: expected {want}, got {got} {body}"
                ));
            }
            if got >= 400 {
                assert!(
                    body["error"]["code"].is_string(),
                    "{endpoint:?} as {caller}: not our error shape: {body}"
                );
            }
        }
    }
    assert!(
        failures.is_empty(),
        "authorisation mismatches:\n{}",
        failures.join("\n")
    );
}

#[tokio::test]
async fn listings_show_only_what_each_caller_may_see() {
    let b = TestBroker::start();
    b.create("bob", &["production-access"], "incident #1").await;
    b.create("alice", &["production-db-access"], "incident #2")
        .await;
    let count = |body: &Value| {
        body["requests"]
            .as_array()
            .map(|a| a.len())
            .unwrap_or(usize::MAX)
    };
    for (caller, scope, expected) in [
        ("bob", "all", 1),
        ("bob", "mine", 1),
        ("bob", "reviewable", 0),
        ("dora", "all", 1),
        ("dora", "reviewable", 1),
        ("carrot", "all", 2),
        ("carrot", "reviewable", 2),
        ("vetinari", "all", 2),
        ("ponder", "all", 2),
        ("ponder", "reviewable", 0),
    ] {
        let (status, body) = b.get(caller, &format!("/v1/requests?scope={scope}")).await;
        assert_eq!(
            (status, count(&body)),
            (200, expected),
            "{caller} scope={scope}"
        );
    }
}
