//! What the whole-system benchmarks share: the create load through the HTTP API.

use std::time::Instant;

use serde_json::json;

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
