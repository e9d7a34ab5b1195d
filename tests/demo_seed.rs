//! The demo's seeded week shows the weekly review at work: every kind of finding is
//! in it, the queue is populated, and the chain verifies.

use std::collections::BTreeSet;

use countersign::demo::{Demo, DemoOptions};
use serde_json::Value;

#[tokio::test]
async fn seeded_week_has_every_finding_kind_and_a_live_queue() {
    let demo = Demo::start(DemoOptions {
        live: false,
        ..DemoOptions::default()
    })
    .await
    .expect("demo starts");
    let http = reqwest::Client::new();
    let get = |path: &str| {
        let req = http
            .get(format!("{}{}", demo.url, path))
            .bearer_auth(demo.token(&demo.console_user).expect("console token"));
        async move {
            req.send()
                .await
                .expect("reachable")
                .json::<Value>()
                .await
                .expect("json")
        }
    };

    let report = get("/v1/audit/findings").await;
    let kinds: BTreeSet<&str> = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| f["kind"].as_str().unwrap())
        .collect();
    for kind in countersign::model::FindingKind::ALL {
        assert!(
            kinds.contains(kind.as_str()),
            "no {kind} in the demo week: {kinds:?}"
        );
    }

    let pending = get("/v1/requests?state=pending&scope=reviewable").await;
    let pending = pending["requests"].as_array().expect("requests");
    assert!(pending.len() >= 5, "a realistic queue: {}", pending.len());
    assert!(
        pending.iter().any(|r| r["emergency"] == true),
        "an emergency waits"
    );

    let verify = get("/v1/audit/verify").await;
    assert_eq!(verify["ok"], true, "{verify}");
    assert!(demo.banner().contains("COUNTERSIGN_TOKEN="));
    assert!(demo.banner().contains("countersign login --request"));

    // The demo's live approved access can be logged into: its requester gets a
    // certificate for the granted role's logins.
    let approved = get("/v1/requests?state=approved&scope=all").await;
    let now = chrono::Utc::now();
    let open: Vec<&Value> = approved["requests"]
        .as_array()
        .expect("requests")
        .iter()
        .filter(|r| {
            r["granted_roles"] == serde_json::json!(["production-access"])
                && r["access"]["ends_at"]
                    .as_str()
                    .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                    .is_some_and(|end| end > now)
        })
        .collect();
    assert!(!open.is_empty(), "the demo has open production access");
    let request = open[0];
    let requester = request["user"].as_str().unwrap();
    let answer = http
        .post(format!("{}/v1/requests/{}/certificate", demo.url, request["id"].as_str().unwrap()))
        .bearer_auth(demo.token(requester).expect("requester token"))
        .json(&serde_json::json!({"public_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPNeTSxAfhx7Kg3X7OzAHltgjkOD+8yRtHzZsdOdTe0y demo"}))
        .send()
        .await
        .expect("reachable");
    assert_eq!(answer.status().as_u16(), 201);
    let cert: Value = answer.json().await.expect("json");
    assert_eq!(cert["principals"], serde_json::json!(["deploy", "app"]));
    demo.stop().await.expect("stops");
}
