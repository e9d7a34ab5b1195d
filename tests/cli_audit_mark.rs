//! `audit findings` names each finding's key in every format, and `audit mark`
//! marks only a finding the broker has (404 otherwise, and nothing recorded), never
//! one about the person marking it.

mod common;

use std::process::{Command, Output, Stdio};

use common::{BIN, TestBroker};

fn run(broker: &TestBroker, user: &str, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("COUNTERSIGN_BROKER", &broker.url)
        .env("COUNTERSIGN_TOKEN", broker.token(user))
        .env_remove("COUNTERSIGN_CONFIG")
        .env("XDG_CONFIG_HOME", broker.dir.path())
        .env("HOME", broker.dir.path())
        .stdin(Stdio::null())
        .output()
        .expect("run countersign")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

async fn marks(broker: &TestBroker) -> usize {
    let (status, events) = broker
        .get("ponder", "/v1/audit/events?type=audit.finding_reviewed")
        .await;
    assert_eq!(status, 200, "{events}");
    events["events"].as_array().map_or(0, Vec::len)
}

#[tokio::test]
async fn finding_keys_are_in_every_format_and_only_real_keys_are_marked() {
    // lead reviews and audits: a fast approval of his is a finding about him.
    let broker = TestBroker::start_with(&[("lead", "reviewer,auditor")], &[]);
    let id = broker
        .create(
            "bob",
            &["production-access"],
            "restart the cache, incident #12",
        )
        .await;
    let (status, body) = broker.review("lead", &id, "approve", "ok, #12").await;
    assert_eq!(status, 200, "{body}");
    let key = format!("fast_approval:{id}:lead");

    let json = run(
        &broker,
        "ponder",
        &["audit", "findings", "--format", "json"],
    );
    assert!(json.status.success(), "{}", text(&json));
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).expect("json");
    let keys: Vec<&str> = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter_map(|f| f["key"].as_str())
        .collect();
    assert!(keys.contains(&key.as_str()), "{keys:?}");
    for format in ["table", "markdown", "csv"] {
        let out = run(
            &broker,
            "ponder",
            &["audit", "findings", "--format", format],
        );
        assert!(out.status.success(), "{}", text(&out));
        assert!(
            text(&out).contains(&key),
            "{format} lacks {key}:\n{}",
            text(&out)
        );
    }

    // Keys that name no finding: a made-up one, and a real one without its last colon.
    let cut = format!("no_ticket:{id}");
    for bogus in ["totally:bogus:key", cut.as_str()] {
        let out = run(
            &broker,
            "ponder",
            &["audit", "mark", bogus, "--note", "seen"],
        );
        assert!(
            !out.status.success(),
            "{bogus} was accepted: {}",
            text(&out)
        );
        assert!(
            text(&out).contains("no finding has the key"),
            "{}",
            text(&out)
        );
        let (status, body) = broker
            .post(
                "ponder",
                "/v1/audit/findings/reviewed",
                serde_json::json!({"key": bogus, "note": "seen"}),
            )
            .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (404, Some("not_found")),
            "{body}"
        );
    }
    assert_eq!(marks(&broker).await, 0, "a refused mark records nothing");

    // One does not sign off one's own fast approval.
    let out = run(&broker, "lead", &["audit", "mark", &key, "--note", "fine"]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("your own review"), "{}", text(&out));
    assert_eq!(marks(&broker).await, 0);

    let out = run(
        &broker,
        "ponder",
        &["audit", "mark", &key, "--note", "asked lead: pre-arranged"],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(marks(&broker).await, 1);
    let table = run(&broker, "ponder", &["audit", "findings"]);
    let line = text(&table)
        .lines()
        .find(|l| l.contains(&key))
        .map(str::to_string)
        .unwrap_or_default();
    assert!(line.contains("ponder"), "marked by ponder: {line}");
}
