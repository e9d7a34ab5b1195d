//! Concurrency and crash safety: one resolution under a crowd of reviewers, and no
//! acknowledged create lost to SIGKILL.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::TestBroker;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_two_reviewers_one_resolution() {
    let names: Vec<String> = (1..=32).map(|i| format!("r{i:02}")).collect();
    let extra: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "reviewer")).collect();
    let b = Arc::new(TestBroker::start_with(&extra, &[]));
    let id = b
        .create("alice", &["production-db-access"], "OPS-42 schema fix")
        .await;

    let barrier = Arc::new(tokio::sync::Barrier::new(names.len()));
    let mut tasks = Vec::new();
    for name in names.clone() {
        let (b, id, barrier) = (b.clone(), id.clone(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let (status, body) = b
                .review(&name, &id, "approve", &format!("{name} agrees"))
                .await;
            (name, status, body)
        }));
    }
    let mut accepted = Vec::new();
    let mut refused = 0;
    for task in tasks {
        let (name, status, body) = task.await.unwrap();
        match status {
            200 => accepted.push(name),
            409 => {
                assert_eq!(body["error"]["code"], "not_pending", "{body}");
                refused += 1;
            }
            other => panic!("{name}: unexpected {other} {body}"),
        }
    }
    assert_eq!(
        accepted.len(),
        2,
        "exactly the two approvals needed were accepted"
    );
    assert_eq!(refused, 30);

    let (_, request) = b.get("alice", &format!("/v1/requests/{id}")).await;
    assert_eq!(request["state"], "approved");
    let authors: Vec<String> = request["reviews"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["author"].as_str().unwrap().to_string())
        .collect();
    let mut sorted_accepted = accepted.clone();
    sorted_accepted.sort();
    let mut sorted_authors = authors.clone();
    sorted_authors.sort();
    assert_eq!(
        sorted_authors, sorted_accepted,
        "no lost or duplicated review"
    );

    let (_, events) = b
        .get(
            "ponder",
            &format!("/v1/audit/events?request_id={id}&limit=100"),
        )
        .await;
    let events = events["events"].as_array().unwrap();
    let reviews: Vec<_> = events
        .iter()
        .filter(|e| e["type"] == "access_request.review")
        .collect();
    let refusals = events
        .iter()
        .filter(|e| e["type"] == "access_request.review_refused")
        .count();
    assert_eq!(reviews.len(), 2);
    assert_eq!(refusals, 30);
    let resolutions = reviews.iter().filter(|e| e["state"] == "approved").count();
    assert_eq!(resolutions, 1, "exactly one resolution");
    let (_, verify) = b.get("ponder", "/v1/audit/verify").await;
    assert_eq!(verify["ok"], true, "{verify}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_during_a_burst_loses_no_acknowledged_create() {
    let mut b = TestBroker::start();
    let url = b.url.clone();
    let token = b.token("bob").to_string();
    let stop_at = Instant::now() + Duration::from_millis(1500);
    let mut writers = Vec::new();
    for w in 0..8 {
        let (url, token) = (url.clone(), token.clone());
        writers.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut acknowledged = Vec::new();
            let mut i = 0;
            while Instant::now() < stop_at + Duration::from_secs(2) {
                i += 1;
                let sent = http
                    .post(format!("{url}/v1/requests"))
                    .bearer_auth(&token)
                    .json(&json!({"roles": ["production-access"], "reason": format!("burst {w}-{i} #1")}))
                    .send()
                    .await;
                let Ok(resp) = sent else { break };
                if resp.status().as_u16() != 201 {
                    break;
                }
                let Ok(body) = resp.json::<serde_json::Value>().await else { break };
                acknowledged.push(body["id"].as_str().unwrap().to_string());
            }
            acknowledged
        }));
    }
    tokio::time::sleep_until(stop_at.into()).await;
    b.kill();
    let mut acknowledged = Vec::new();
    for w in writers {
        acknowledged.extend(w.await.unwrap());
    }
    assert!(
        acknowledged.len() > 20,
        "the burst was real: {} creates",
        acknowledged.len()
    );

    let (intact, report) = b.verify_offline();
    assert!(intact, "chain after SIGKILL: {report}");

    b.restart();
    let mut found = std::collections::HashSet::new();
    let mut after: Option<String> = None;
    loop {
        let path = match &after {
            Some(a) => format!("/v1/requests?scope=mine&limit=1000&after={a}"),
            None => "/v1/requests?scope=mine&limit=1000".into(),
        };
        let (status, page) = b.get("bob", &path).await;
        assert_eq!(status, 200);
        for r in page["requests"].as_array().unwrap() {
            found.insert(r["id"].as_str().unwrap().to_string());
        }
        match page["next"].as_str() {
            Some(n) => after = Some(n.to_string()),
            None => break,
        }
    }
    let missing: Vec<_> = acknowledged
        .iter()
        .filter(|id| !found.contains(*id))
        .collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged creates lost: {missing:?}",
        missing.len()
    );
    let (_, verify) = b.get("ponder", "/v1/audit/verify").await;
    assert_eq!(verify["ok"], true, "{verify}");
    // The restarted broker keeps working and extends the same chain.
    b.create("bob", &["production-access"], "after restart #2")
        .await;
    assert!(b.verify_offline().0);
}

#[tokio::test]
async fn graceful_shutdown_on_sigterm() {
    let mut b = TestBroker::start();
    b.create("bob", &["production-access"], "incident #1").await;
    // An open event stream must not hold shutdown hostage.
    let stream = b
        .http
        .get(format!("{}/v1/events", b.url))
        .bearer_auth(b.token("carrot"))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status().as_u16(), 200);
    let started = Instant::now();
    let status = b.terminate();
    assert!(status.success(), "exit status {status:?}");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(b.verify_offline().0);
}

#[tokio::test]
async fn tampering_is_detected_offline_naming_the_first_broken_link() {
    let mut b = TestBroker::start();
    for i in 0..5 {
        b.create("bob", &["production-access"], &format!("incident #{i}"))
            .await;
    }
    b.kill();
    let db = b.dir.path().join("countersign.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    // The third creation (after the setup's user events).
    let seq: i64 = conn
        .query_row(
            "SELECT seq FROM events WHERE body LIKE '%incident #2%'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    // A determined attacker drops the append-only trigger first.
    conn.execute_batch(&format!(
        "DROP TRIGGER events_append_only_update;
         UPDATE events SET body = replace(body, 'incident #2', 'incident #99') WHERE seq = {seq};"
    ))
    .unwrap();
    drop(conn);
    let (intact, report) = b.verify_offline();
    assert!(!intact);
    assert!(
        report.contains(&format!("BROKEN at event {seq}")),
        "{report}"
    );
}

#[test]
fn verifying_a_mistyped_directory_fails_instead_of_passing_empty() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-dir");
    let out = std::process::Command::new(common::BIN)
        .args(["audit", "verify", "--data-dir"])
        .arg(&missing)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no countersign database"));
    assert!(!missing.exists(), "verification created nothing");
}
