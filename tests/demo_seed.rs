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
    demo.stop().await.expect("stops");
}
