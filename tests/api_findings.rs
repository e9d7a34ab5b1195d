//! The weekly review through the real broker: a history made with the API, then the
//! findings it yields, and marks that carry over.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::TestBroker;
use serde_json::{Value, json};

fn kinds_for<'a>(findings: &'a [Value], id: &str) -> BTreeSet<&'a str> {
    findings
        .iter()
        .filter(|f| f["request_id"] == id)
        .map(|f| f["kind"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn history_built_through_the_api_yields_every_kind_of_finding() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("broker.toml");
    // Short emergency deadline so a real wait can pass it.
    std::fs::write(&config, "[audit]\nemergency_review_due = \"1s\"\n").unwrap();
    let b = TestBroker::start_with(
        &[("igor", "developer,reviewer")],
        &["--config", config.to_str().unwrap()],
    );

    // Approved seconds after it was asked for; names a ticket.
    let fast = b
        .create("bob", &["production-access"], "incident #47")
        .await;
    b.review("carrot", &fast, "approve", "ok").await;
    // No ticket.
    let vague = b
        .create("alice", &["production-access"], "need to look at something")
        .await;
    // Three times the same role.
    b.create("bob", &["production-access"], "incident #48")
        .await;
    let third = b
        .create("bob", &["production-access"], "incident #49")
        .await;
    // Self-review refused.
    let own = b
        .create("igor", &["production-access"], "OPS-1 certs")
        .await;
    assert_eq!(b.review("igor", &own, "approve", "mine").await.0, 403);
    // Override.
    let forced = b
        .create("alice", &["production-db-access"], "OPS-2 migration")
        .await;
    let (status, _) = b
        .post(
            "vetinari",
            &format!("/v1/requests/{forced}/resolve"),
            json!({"state": "approved", "reason": "Patrician"}),
        )
        .await;
    assert_eq!(status, 200);
    // Held longer than its estimate.
    let (_, held) = b
        .post(
            "bob",
            "/v1/requests",
            json!({"roles": ["production-access"], "reason": "OPS-3 deploy", "estimate": "1s"}),
        )
        .await;
    let held = held["id"].as_str().unwrap().to_string();
    // An emergency approved and not reviewed afterwards.
    let emergency = b
        .create(
            "alice",
            &["production-access"],
            "EMERGENCY: INC-9 payments down",
        )
        .await;
    b.review("adora", &emergency, "approve", "confirmed by phone")
        .await;
    b.review("adora", &held, "approve", "ok").await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (status, _) = b
        .post("bob", &format!("/v1/requests/{held}/return"), json!({}))
        .await;
    assert_eq!(status, 200);

    let (status, report) = b.get("ponder", "/v1/audit/findings?window=1h").await;
    assert_eq!(status, 200, "{report}");
    // The patterns no_ticket used come with the report, for front ends to share.
    assert_eq!(
        report["ticket_patterns"],
        json!(countersign::audit::DEFAULT_TICKET_PATTERNS)
    );
    let findings = report["findings"].as_array().unwrap().clone();
    assert!(kinds_for(&findings, &fast).contains("fast_approval"));
    let fast_finding = findings
        .iter()
        .find(|f| f["kind"] == "fast_approval" && f["request_id"] == fast.as_str())
        .unwrap();
    assert_eq!(fast_finding["reviewer"], "carrot");
    assert!(
        fast_finding["detail"].as_str().unwrap().contains("carrot"),
        "{fast_finding}"
    );
    assert!(!kinds_for(&findings, &fast).contains("no_ticket"));
    assert!(kinds_for(&findings, &vague).contains("no_ticket"));
    let repeat = findings
        .iter()
        .find(|f| f["kind"] == "repeat_request" && f["user"] == "bob")
        .unwrap_or_else(|| panic!("repeat_request for bob: {findings:#?}"));
    // fast, #48, #49 and the held one: four asks; the finding points at the latest.
    assert!(
        repeat["detail"].as_str().unwrap().contains("4 times"),
        "{repeat}"
    );
    assert_eq!(repeat["request_id"], held.as_str());
    let _ = &third;

    assert!(kinds_for(&findings, &own).contains("refused_review"));
    let refused = findings
        .iter()
        .find(|f| f["kind"] == "refused_review")
        .unwrap();
    assert_eq!(
        refused["severity"], "high",
        "self-review is the worst refusal"
    );
    assert!(kinds_for(&findings, &forced).contains("override"));
    assert!(
        kinds_for(&findings, &held).contains("overheld"),
        "{findings:#?}"
    );
    assert!(kinds_for(&findings, &emergency).contains("emergency_unreviewed"));
    let reviewers: Vec<&str> = report["reviewers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["reviewer"].as_str().unwrap())
        .collect();
    assert!(
        reviewers.contains(&"carrot") && reviewers.contains(&"adora"),
        "{reviewers:?}"
    );

    // The CLI reads the same findings as markdown for the review ticket.
    let out = std::process::Command::new(common::BIN)
        .args([
            "audit", "findings", "--window", "1h", "--format", "markdown",
        ])
        .env("COUNTERSIGN_BROKER", &b.url)
        .env("COUNTERSIGN_TOKEN", b.token("ponder"))
        .output()
        .unwrap();
    let markdown = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        markdown.contains("fast_approval") || markdown.contains("Fast approval"),
        "{markdown}"
    );

    // Mark one reviewed; the mark is audited and comes back with the finding.
    // A finding's key is kind:request:reviewer.
    let key = format!("override:{forced}:vetinari");
    let (status, mark) = b
        .post(
            "ponder",
            "/v1/audit/findings/reviewed",
            json!({"key": key, "note": "asked the Patrician's office; fine"}),
        )
        .await;
    assert_eq!(status, 200, "{mark}");
    let (_, again) = b.get("ponder", "/v1/audit/findings?window=1h").await;
    let marked = again["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "override")
        .unwrap()
        .clone();
    assert_eq!(marked["reviewed"]["by"], "ponder", "{marked}");
    let (_, events) = b
        .get("ponder", "/v1/audit/events?type=audit.finding_reviewed")
        .await;
    assert_eq!(events["events"].as_array().unwrap().len(), 1);

    // Only auditors.
    assert_eq!(b.get("carrot", "/v1/audit/findings").await.0, 403);
    assert_eq!(
        b.get("ponder", "/v1/audit/findings?window=soon").await.0,
        400
    );
    let (status, body) = b
        .post(
            "ponder",
            "/v1/audit/findings/reviewed",
            json!({"key": key, "note": " "}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("reason_required"))
    );
}
