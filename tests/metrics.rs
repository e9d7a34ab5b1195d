//! `GET /metrics` on a real broker (DESIGN §11): Prometheus text whose values move
//! as the API is used, labelled by route template, and readable only as
//! `[metrics] access` says.

mod common;

use std::time::Duration;

use common::TestBroker;
use serde_json::json;

/// One scrape from loopback: the body, after checking the content type.
async fn scrape(broker: &TestBroker) -> String {
    let response = broker
        .http
        .get(format!("{}/metrics", broker.url))
        .send()
        .await
        .expect("broker reachable");
    assert_eq!(response.status().as_u16(), 200);
    let kind = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(kind.starts_with("application/openmetrics-text"), "{kind}");
    response.text().await.expect("body")
}

/// The value of the sample `name{labels}` (exactly as written), 0 when absent.
fn value(text: &str, sample: &str) -> f64 {
    text.lines()
        .find_map(|line| {
            let rest = line.strip_prefix(sample)?;
            rest.strip_prefix(' ')?.trim().parse().ok()
        })
        .unwrap_or(0.0)
}

#[tokio::test]
async fn values_move_as_the_api_is_used() {
    let broker = TestBroker::start();
    let before = scrape(&broker).await;
    assert_eq!(
        value(&before, "countersign_requests{state=\"pending\"}"),
        0.0
    );

    let first = broker
        .create(
            "alice",
            &["production-access"],
            "deploy hotfix, incident #47",
        )
        .await;
    let second = broker
        .create("bob", &["production-access"], "rotate keys, OPS-9")
        .await;
    let (status, _) = broker.get("alice", &format!("/v1/requests/{first}")).await;
    assert_eq!(status, 200);
    let (status, _) = broker
        .review("carrot", &second, "approve", "ok, OPS-9")
        .await;
    assert_eq!(status, 200);
    let third = broker
        .create("alice", &["production-access"], "not needed after all, #48")
        .await;
    let (status, _) = broker
        .post(
            "alice",
            &format!("/v1/requests/{third}/withdraw"),
            json!({}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = broker.get("alice", "/v1/no-such-thing").await;
    assert_eq!(status, 404);

    let after = scrape(&broker).await;
    // Families with samples only: latency, responses and events have some by now.
    for family in [
        "# TYPE countersign_http_request_duration_seconds histogram",
        "# TYPE countersign_http_responses counter",
        "# TYPE countersign_requests gauge",
        "# TYPE countersign_event_streams_open gauge",
        "# TYPE countersign_api_writes_in_flight gauge",
        "# TYPE countersign_notifications gauge",
    ] {
        assert!(after.contains(family), "{family} missing:\n{after}");
    }
    assert_eq!(
        value(&after, "countersign_requests{state=\"pending\"}"),
        1.0,
        "{after}"
    );
    assert_eq!(
        value(&after, "countersign_requests{state=\"approved\"}"),
        1.0,
        "{after}"
    );
    assert_eq!(
        value(&after, "countersign_requests{state=\"withdrawn\"}"),
        1.0,
        "{after}"
    );
    // Every state has its sample, even with no request in it.
    for state in countersign::model::State::ALL {
        let sample = format!("countersign_requests{{state=\"{}\"}} ", state.as_str());
        assert!(after.contains(&sample), "{sample} missing:\n{after}");
    }
    assert_eq!(
        value(&after, "countersign_store_write_queue_depth"),
        0.0,
        "nothing waits for the writer once every write has answered: {after}"
    );
    assert_eq!(
        value(
            &after,
            "countersign_http_request_duration_seconds_count{method=\"POST\",route=\"/v1/requests\"}"
        ),
        3.0,
        "{after}"
    );
    assert_eq!(
        value(
            &after,
            "countersign_http_responses_total{method=\"GET\",route=\"/v1/requests/{id}\",status=\"200\"}"
        ),
        1.0,
        "{after}"
    );
    assert_eq!(
        value(
            &after,
            "countersign_http_responses_total{method=\"GET\",route=\"unmatched\",status=\"404\"}"
        ),
        1.0,
        "{after}"
    );
    // Route templates, never raw paths: no id ever becomes a label.
    assert!(
        !after.contains(&first) && !after.contains(&second),
        "{after}"
    );
    assert!(!after.contains("no-such-thing"), "{after}");
    // The histogram's buckets are cumulative and end at the count.
    let inf = value(
        &after,
        "countersign_http_request_duration_seconds_bucket{le=\"+Inf\",method=\"POST\",route=\"/v1/requests\"}",
    );
    assert_eq!(inf, 3.0, "{after}");
    // The events the broker committed, by type and resulting state.
    let events = |text: &str| {
        value(
            text,
            "countersign_audit_events_total{type=\"access_request.create\",state=\"pending\"}",
        )
    };
    // Counted from the bus, so allow it a moment.
    let mut text = after;
    for _ in 0..20 {
        if events(&text) == 3.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        text = scrape(&broker).await;
    }
    assert_eq!(events(&text), 3.0, "{text}");
    // Earlier scrapes are timed too (each is counted once it has answered).
    assert!(
        value(
            &text,
            "countersign_http_request_duration_seconds_count{method=\"GET\",route=\"/metrics\"}"
        ) >= 1.0,
        "{text}"
    );
}

#[tokio::test]
async fn open_streams_are_counted_until_they_close() {
    let broker = TestBroker::start();
    let stream = broker
        .http
        .get(format!("{}/v1/events", broker.url))
        .bearer_auth(broker.token("carrot"))
        .send()
        .await
        .expect("stream");
    assert_eq!(stream.status().as_u16(), 200);
    let open = scrape(&broker).await;
    assert_eq!(
        value(&open, "countersign_event_streams_open"),
        1.0,
        "{open}"
    );
    drop(stream);
    // The broker notices the closed connection when it next writes (a keep-alive).
    let mut text = open;
    for _ in 0..100 {
        text = scrape(&broker).await;
        if value(&text, "countersign_event_streams_open") == 0.0 {
            break;
        }
        let _ = broker
            .create("alice", &["production-access"], "wake the stream, #1")
            .await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        value(&text, "countersign_event_streams_open"),
        0.0,
        "{text}"
    );
}

#[tokio::test]
async fn writes_waiting_for_the_writer_are_counted() {
    let broker = TestBroker::start();
    // Another connection holds the database's write lock: the writer waits on it
    // (for up to its busy timeout) with the first create, and the rest queue.
    let blocker = rusqlite::Connection::open(broker.dir.path().join("countersign.db"))
        .expect("open the database");
    blocker
        .execute_batch("BEGIN IMMEDIATE")
        .expect("take the write lock");
    let create = |reason: &'static str| {
        let (http, url, token) = (
            broker.http.clone(),
            broker.url.clone(),
            broker.token("alice").to_string(),
        );
        tokio::spawn(async move {
            http.post(format!("{url}/v1/requests"))
                .bearer_auth(token)
                .json(&json!({"roles": ["production-access"], "reason": reason}))
                .send()
                .await
                .map(|r| r.status().as_u16())
        })
    };
    let first = create("first, #1");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rest: Vec<_> = ["second, #2", "third, #3", "fourth, #4"]
        .into_iter()
        .map(create)
        .collect();
    let depth = |text: &str| value(text, "countersign_store_write_queue_depth");
    let mut text = scrape(&broker).await;
    for _ in 0..50 {
        if depth(&text) >= 3.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        text = scrape(&broker).await;
    }
    assert!(
        depth(&text) >= 3.0,
        "three creates queued behind the first:\n{text}"
    );
    assert!(
        value(&text, "countersign_api_writes_in_flight") >= 4.0,
        "{text}"
    );

    blocker
        .execute_batch("ROLLBACK")
        .expect("let go of the lock");
    for done in std::iter::once(first).chain(rest) {
        assert_eq!(done.await.expect("task").expect("answered"), 201);
    }
    let text = scrape(&broker).await;
    assert_eq!(depth(&text), 0.0, "{text}");
}

#[tokio::test]
async fn the_outbox_is_counted_by_state() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("broker.toml");
    // A webhook nobody answers: its notifications wait in the outbox.
    std::fs::write(
        &path,
        "[[notify.webhook]]\nurl = \"http://127.0.0.1:9/hook\"\nsecret_env = \"CS_METRICS_HOOK\"\n",
    )
    .expect("write config");
    let broker = TestBroker::start_with_env(
        &[],
        &["--config", path.to_str().expect("utf-8 path")],
        &[("CS_METRICS_HOOK", "hook-secret")],
    );
    let owed = |text: &str| {
        value(text, "countersign_notifications{state=\"pending\"}")
            + value(text, "countersign_notifications{state=\"failed\"}")
    };
    assert_eq!(owed(&scrape(&broker).await), 0.0);
    broker
        .create(
            "alice",
            &["production-access"],
            "deploy hotfix, incident #47",
        )
        .await;
    let text = scrape(&broker).await;
    assert!(owed(&text) >= 1.0, "{text}");
}

#[tokio::test]
async fn a_token_guards_metrics_when_configured() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("broker.toml");
    std::fs::write(
        &path,
        "[metrics]\naccess = \"token\"\ntoken_env = \"CS_METRICS_TOKEN\"\n",
    )
    .expect("write config");
    let broker = TestBroker::start_with_env(
        &[],
        &["--config", path.to_str().expect("utf-8 path")],
        &[("CS_METRICS_TOKEN", "scrape-me")],
    );
    let url = format!("{}/metrics", broker.url);
    let bare = broker.http.get(&url).send().await.expect("reachable");
    assert_eq!(bare.status().as_u16(), 401);
    let body: serde_json::Value = bare.json().await.expect("json error");
    assert_eq!(body["error"]["code"], json!("unauthenticated"));
    // A user's API token is not the metrics token.
    let user = broker
        .http
        .get(&url)
        .bearer_auth(broker.token("vetinari"))
        .send()
        .await
        .expect("reachable");
    assert_eq!(user.status().as_u16(), 401);
    let good = broker
        .http
        .get(&url)
        .bearer_auth("scrape-me")
        .send()
        .await
        .expect("reachable");
    assert_eq!(good.status().as_u16(), 200);
    assert!(
        good.text()
            .await
            .expect("body")
            .contains("countersign_requests")
    );
}

#[tokio::test]
async fn metrics_can_be_turned_off() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("broker.toml");
    std::fs::write(&path, "[metrics]\naccess = \"off\"\n").expect("write config");
    let broker = TestBroker::start_with(&[], &["--config", path.to_str().expect("utf-8 path")]);
    let (status, body) = broker
        .call(None, reqwest::Method::GET, "/metrics", None)
        .await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], json!("not_found"));
}

#[test]
fn a_token_setting_without_its_variable_stops_the_broker() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("broker.toml");
    std::fs::write(
        &path,
        "[metrics]\naccess = \"token\"\ntoken_env = \"CS_METRICS_UNSET_ANYWHERE\"\n",
    )
    .expect("write config");
    let out = std::process::Command::new(common::BIN)
        .arg("broker")
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("--listen")
        .arg("127.0.0.1:0")
        .arg("--config")
        .arg(&path)
        .env_remove("CS_METRICS_UNSET_ANYWHERE")
        .output()
        .expect("run broker");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("CS_METRICS_UNSET_ANYWHERE"), "{stderr}");
}
