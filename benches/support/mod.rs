//! What the whole-system benchmarks share: the create load, the listing walk and
//! the event fan-out, all through the HTTP API, and the percentile they report.

// Each bench includes this module and uses some of it.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

/// The value at `p` percent of an ascending slice (NaN when it is empty).
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// Creates `total` requests for `production-access` as the holder of `token`, from
/// `clients` concurrent clients; returns creates per second.
pub async fn creates(url: &str, token: &str, total: usize, clients: usize) -> f64 {
    let http = reqwest::Client::new();
    let started = Instant::now();
    let per_client = total / clients;
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (http, url, token) = (http.clone(), url.to_string(), token.to_string());
        tasks.push(tokio::spawn(async move {
            for i in 0..per_client {
                let resp = http
                    .post(format!("{url}/v1/requests"))
                    .bearer_auth(&token)
                    .json(&json!({"roles": ["production-access"], "reason": format!("load {c}-{i}, incident #47")}))
                    .send()
                    .await
                    .expect("send");
                assert_eq!(resp.status().as_u16(), 201);
            }
        }));
    }
    for t in tasks {
        t.await.expect("client");
    }
    (per_client * clients) as f64 / started.elapsed().as_secs_f64()
}

#[derive(serde::Deserialize)]
pub struct Page {
    pub requests: Vec<serde::de::IgnoredAny>,
    pub next: Option<String>,
}

/// Walks every page of pending requests at `url`, `rounds` times, as the holder
/// of `token`: each page's time in ms (ascending), and how many one walk saw.
pub async fn list_pages(url: &str, token: &str, rounds: usize) -> (Vec<f64>, usize) {
    let http = reqwest::Client::new();
    let mut times = Vec::new();
    let mut seen = 0;
    for _ in 0..rounds {
        let mut after: Option<String> = None;
        seen = 0;
        loop {
            let mut page_url = format!("{url}/v1/requests?state=pending&limit=500");
            if let Some(a) = &after {
                page_url.push_str(&format!("&after={a}"));
            }
            let started = Instant::now();
            let bytes = http
                .get(&page_url)
                .bearer_auth(token)
                .send()
                .await
                .expect("list")
                .bytes()
                .await
                .expect("body");
            // A client walking pages needs the count and the cursor; it validates
            // the whole JSON but builds nothing else.
            let page: Page = serde_json::from_slice(&bytes).expect("json");
            times.push(started.elapsed().as_secs_f64() * 1000.0);
            seen += page.requests.len();
            match page.next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
    }
    times.sort_by(|a, b| a.total_cmp(b));
    (times, seen)
}

/// `events` creates sent to `create_url` as `creator`, one every 20 ms, while
/// `subscribers` streams are open, spread over `stream_urls` and `watchers`: the
/// delay in ms (ascending) from each create being sent to each subscriber
/// reading its event.
pub async fn fan_out(
    create_url: &str,
    creator: &str,
    stream_urls: &[String],
    watchers: &[String],
    subscribers: usize,
    events: usize,
) -> Vec<f64> {
    let http = reqwest::Client::new();
    let sent_at: Arc<Mutex<std::collections::HashMap<String, Instant>>> = Default::default();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(String, Instant)>();
    let mut readers = Vec::new();
    for i in 0..subscribers {
        let mut resp = http
            .get(format!("{}/v1/events", stream_urls[i % stream_urls.len()]))
            .bearer_auth(&watchers[i % watchers.len()])
            .send()
            .await
            .expect("subscribe");
        let tx = tx.clone();
        readers.push(tokio::spawn(async move {
            let mut buffer = String::new();
            while let Ok(Some(chunk)) = resp.chunk().await {
                let now = Instant::now();
                buffer.push_str(&String::from_utf8_lossy(&chunk));
                while let Some(end) = buffer.find("\n\n") {
                    let block: String = buffer.drain(..end + 2).collect();
                    if let Some(data) = block.lines().find_map(|l| l.strip_prefix("data: "))
                        && let Ok(v) = serde_json::from_str::<serde_json::Value>(data)
                        && let Some(id) = v["request"]["id"].as_str()
                    {
                        let _ = tx.send((id.to_string(), now));
                    }
                }
            }
        }));
    }
    drop(tx);
    tokio::time::sleep(Duration::from_millis(300)).await;
    for i in 0..events {
        let started = Instant::now();
        let resp = http
            .post(format!("{create_url}/v1/requests"))
            .bearer_auth(creator)
            .json(&json!({"roles": ["production-access"], "reason": format!("fan-out {i} #1")}))
            .send()
            .await
            .expect("create");
        let body: serde_json::Value = resp.json().await.expect("json");
        if let Some(id) = body["id"].as_str() {
            sent_at
                .lock()
                .expect("lock")
                .insert(id.to_string(), started);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Long enough for the slowest subscriber to read the last event.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    for r in &readers {
        r.abort();
    }
    let mut latencies = Vec::new();
    while let Ok((id, at)) = rx.try_recv() {
        if let Some(start) = sent_at.lock().expect("lock").get(&id) {
            latencies.push(at.duration_since(*start).as_secs_f64() * 1000.0);
        }
    }
    latencies.sort_by(|a, b| a.total_cmp(b));
    latencies
}
