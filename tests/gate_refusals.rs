//! DESIGN §12, refused attempts: recorded, but rate-limited per user, each with a
//! bounded excerpt of its reason, and a flood summed up in one event.

mod common;

use std::time::{Duration, Instant};

use common::TestBroker;

#[tokio::test]
async fn a_flood_of_refused_reviews_is_limited_excerpted_and_summed_up() {
    let cfg = tempfile::tempdir().unwrap();
    let path = cfg.path().join("broker.toml");
    std::fs::write(
        &path,
        "[limits]\nrefused_burst = 5\nrefused_per_minute = 1\n",
    )
    .unwrap();
    let b = TestBroker::start_with(&[], &["--config", path.to_str().unwrap()]);
    let id = b.create("bob", &["production-access"], "incident #9").await;
    let long = format!("#9 {}", "w".repeat(4000));
    let mut codes = Vec::new();
    for _ in 0..40 {
        let (status, body) = b.review("bob", &id, "approve", &long).await;
        codes.push((
            status,
            body["error"]["code"].as_str().unwrap_or("").to_string(),
        ));
    }
    let refused = codes
        .iter()
        .filter(|c| c.0 == 403 && c.1 == "self_review")
        .count();
    let limited = codes
        .iter()
        .filter(|c| c.0 == 429 && c.1 == "rate_limited")
        .count();
    assert_eq!((refused, limited), (5, 35), "{codes:?}");

    // Someone else's legitimate review is not held back by bob's flood.
    let (status, body) = b.review("carrot", &id, "approve", "ok #9").await;
    assert_eq!(status, 200, "{body}");

    // The log holds the five attempts, each cut to an excerpt, and one event that
    // counts the rest.
    let deadline = Instant::now() + Duration::from_secs(15);
    let events = loop {
        let (status, page) = b
            .get(
                "ponder",
                "/v1/audit/events?type=access_request.review_refused&since=1h",
            )
            .await;
        assert_eq!(status, 200, "{page}");
        let events = page["events"].as_array().unwrap().clone();
        if events.iter().any(|e| e.get("dropped").is_some()) {
            break events;
        }
        assert!(Instant::now() < deadline, "no summary event: {page}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let (summaries, attempts): (Vec<_>, Vec<_>) =
        events.iter().partition(|e| e.get("dropped").is_some());
    assert_eq!(attempts.len(), 5);
    for attempt in &attempts {
        let reason = attempt["reason"].as_str().unwrap();
        assert!(reason.len() < 300, "{} bytes kept", reason.len());
        assert_eq!(attempt["reason_bytes"], long.len());
    }
    assert_eq!(summaries.len(), 1, "{summaries:?}");
    assert_eq!(summaries[0]["dropped"], 35);
    assert_eq!(summaries[0]["user"], "bob");
    assert_eq!(summaries[0]["error"], "rate_limited");
    assert!(b.verify_offline().0);
}
