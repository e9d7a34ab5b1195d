//! The event stream: live delivery, visibility, and resume without loss or doubles.

mod common;

use std::time::Duration;

use common::{TestBroker, read_sse};

async fn subscribe(b: &TestBroker, user: &str, last_id: Option<u64>) -> reqwest::Response {
    let mut req = b
        .http
        .get(format!("{}/v1/events", b.url))
        .bearer_auth(b.token(user));
    if let Some(id) = last_id {
        req = req.header("Last-Event-ID", id.to_string());
    }
    let resp = req.send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    resp
}

#[tokio::test]
async fn resume_delivers_every_missed_event_once_in_order() {
    let b = TestBroker::start();
    let mut stream = subscribe(&b, "carrot", None).await;
    let first = b.create("bob", &["production-access"], "incident #1").await;
    let got = read_sse(&mut stream, 1, Duration::from_secs(5)).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].1, "access_request.create");
    assert_eq!(got[0].2["request"]["id"], first.as_str());
    let last_seen = got[0].0;
    drop(stream);

    // Missed while away: three creates and a review.
    let mut missed_ids = Vec::new();
    for i in 0..3 {
        missed_ids.push(
            b.create(
                "bob",
                &["production-access"],
                &format!("incident #{}", i + 2),
            )
            .await,
        );
    }
    b.review("carrot", &missed_ids[0], "approve", "ok").await;

    let mut stream = subscribe(&b, "carrot", Some(last_seen)).await;
    let replay = read_sse(&mut stream, 4, Duration::from_secs(5)).await;
    let seqs: Vec<u64> = replay.iter().map(|m| m.0).collect();
    assert_eq!(
        seqs,
        vec![last_seen + 1, last_seen + 2, last_seen + 3, last_seen + 4]
    );
    let kinds: Vec<&str> = replay.iter().map(|m| m.1.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "access_request.create",
            "access_request.create",
            "access_request.create",
            "access_request.review"
        ]
    );
    assert_eq!(replay[3].2["event"]["user"], "carrot");

    // Then live, with nothing doubled.
    b.create("bob", &["production-access"], "incident #9").await;
    let live = read_sse(&mut stream, 2, Duration::from_secs(2)).await;
    assert_eq!(live.len(), 1, "exactly one new event: {live:?}");
    assert_eq!(live[0].0, last_seen + 5);

    // ?after= works like Last-Event-ID.
    let mut again = b
        .http
        .get(format!("{}/v1/events?after={}", b.url, last_seen + 3))
        .bearer_auth(b.token("carrot"))
        .send()
        .await
        .unwrap();
    let tail = read_sse(&mut again, 2, Duration::from_secs(5)).await;
    assert_eq!(
        tail.iter().map(|m| m.0).collect::<Vec<_>>(),
        vec![last_seen + 4, last_seen + 5]
    );
}

#[tokio::test]
async fn subscribers_only_see_requests_they_may_see() {
    let b = TestBroker::start();
    let mut dora = subscribe(&b, "dora", None).await; // reviews databases only
    let mut bob = subscribe(&b, "bob", None).await;
    b.create("alice", &["production-db-access"], "OPS-1").await;
    b.create("bob", &["production-access"], "incident #3").await;
    let dora_got = read_sse(&mut dora, 2, Duration::from_secs(2)).await;
    assert_eq!(dora_got.len(), 1, "{dora_got:?}");
    assert_eq!(dora_got[0].2["request"]["user"], "alice");
    let bob_got = read_sse(&mut bob, 2, Duration::from_secs(2)).await;
    assert_eq!(bob_got.len(), 1, "{bob_got:?}");
    assert_eq!(bob_got[0].2["request"]["user"], "bob");
}

#[tokio::test]
async fn idle_streams_get_keep_alives() {
    // A broker configured with a short keep-alive interval.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("broker.toml");
    std::fs::write(&config, "keep_alive = \"200ms\"\n").unwrap();
    let fast = TestBroker::start_with(&[], &["--config", config.to_str().unwrap()]);
    let mut stream = subscribe(&fast, "carrot", None).await;
    let chunk = tokio::time::timeout(Duration::from_secs(3), stream.chunk()).await;
    let text = String::from_utf8_lossy(&chunk.unwrap().unwrap().unwrap()).to_string();
    assert!(
        text.starts_with(':'),
        "a comment line keeps the stream alive: {text:?}"
    );
}

#[tokio::test]
async fn a_revoked_token_ends_an_open_stream() {
    let b = TestBroker::start();
    let mut stream = subscribe(&b, "carrot", None).await;
    let out = common::admin(b.dir.path(), &["tokens", "rotate", "carrot"]);
    assert!(out.status.success());
    let ended = tokio::time::timeout(Duration::from_secs(12), async {
        loop {
            match stream.chunk().await {
                Ok(Some(_)) => continue,
                _ => return,
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the stream outlived the token");
}
