//! DESIGN §12, connections: stalled clients are closed by the server's own
//! timeouts, a cap bounds how many are open, and the answers hyper's limits lead to
//! are in the JSON error shape.

mod common;

use std::time::Duration;

use common::TestBroker;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A broker.toml with these `[limits]`, kept alive with the returned directory.
fn limits(lines: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broker.toml");
    std::fs::write(&path, format!("[limits]\n{lines}\n")).unwrap();
    (dir, path.to_str().unwrap().to_string())
}

/// Whether the server closes `stream` within `within` (EOF or reset; whatever it
/// answered first is drained).
async fn closed_by_server(stream: &mut TcpStream, within: Duration) -> bool {
    let mut sink = Vec::new();
    tokio::time::timeout(within, stream.read_to_end(&mut sink))
        .await
        .is_ok()
}

#[tokio::test]
async fn stalled_half_requests_are_closed_while_fresh_clients_are_answered() {
    let (_cfg, config) = limits("header_read_timeout = \"1s\"\nbody_read_timeout = \"1s\"");
    let b = TestBroker::start_with(&[], &["--config", &config]);
    let mut stalled = Vec::new();
    // Half a request head, then nothing.
    for _ in 0..150 {
        let mut s = TcpStream::connect(b.addr()).await.unwrap();
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: broker\r\n")
            .await
            .unwrap();
        stalled.push(s);
    }
    // Nothing at all.
    for _ in 0..50 {
        stalled.push(TcpStream::connect(b.addr()).await.unwrap());
    }
    // A whole head, an authenticated caller, and half the body it announced.
    for _ in 0..20 {
        let mut s = TcpStream::connect(b.addr()).await.unwrap();
        let head = format!(
            "POST /v1/requests HTTP/1.1\r\nHost: broker\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{{\"roles\": [",
            b.token("bob")
        );
        s.write_all(head.as_bytes()).await.unwrap();
        stalled.push(s);
    }
    // Meanwhile a fresh client is served as usual.
    let fresh = reqwest::Client::new();
    let answer = tokio::time::timeout(
        Duration::from_secs(2),
        fresh.get(format!("{}/healthz", b.url)).send(),
    )
    .await
    .expect("a fresh client is answered within a second or two")
    .unwrap();
    assert_eq!(answer.status().as_u16(), 200);
    let id = b.create("bob", &["production-access"], "incident #5").await;
    assert!(!id.is_empty());
    // And every stalled connection is closed by the server.
    let mut open = 0;
    for s in &mut stalled {
        if !closed_by_server(s, Duration::from_secs(6)).await {
            open += 1;
        }
    }
    assert_eq!(open, 0, "{open} stalled connections were still open");
}

#[tokio::test]
async fn connections_past_the_cap_are_closed_at_once_and_served_again_after() {
    let (_cfg, config) = limits("max_connections = 8\nheader_read_timeout = \"30s\"");
    let b = TestBroker::start_with(&[], &["--config", &config]);
    let mut held = Vec::new();
    for _ in 0..8 {
        let mut s = TcpStream::connect(b.addr()).await.unwrap();
        s.write_all(b"GET /healthz HTTP/1.1\r\n").await.unwrap();
        held.push(s);
    }
    // Let the broker accept all eight before the ninth knocks.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut ninth = TcpStream::connect(b.addr()).await.unwrap();
    let _ = ninth
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: broker\r\n\r\n")
        .await;
    assert!(
        closed_by_server(&mut ninth, Duration::from_secs(3)).await,
        "the ninth connection was not closed"
    );
    drop(held);
    // Freed places are given out again.
    let mut answered = false;
    for _ in 0..20 {
        let fresh = reqwest::Client::new();
        if let Ok(r) = fresh.get(format!("{}/healthz", b.url)).send().await
            && r.status().as_u16() == 200
        {
            answered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(answered, "no answer after the held connections closed");
}

fn assert_error_shape(status: u16, body: &serde_json::Value, want_status: u16, code: &str) {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

#[tokio::test]
async fn method_uri_and_header_limits_answer_in_the_json_error_shape() {
    let b = TestBroker::start();
    let (status, body) = b
        .call(Some("bob"), reqwest::Method::DELETE, "/v1/requests", None)
        .await;
    assert_error_shape(status, &body, 405, "method_not_allowed");

    let long = format!("/v1/requests?user={}", "a".repeat(20_000));
    let (status, body) = b.get("bob", &long).await;
    assert_error_shape(status, &body, 414, "uri_too_long");

    let send = |req: reqwest::RequestBuilder| async move {
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let body: serde_json::Value = resp.json().await.unwrap_or_default();
        (status, body)
    };
    let big = b
        .http
        .get(format!("{}/v1/whoami", b.url))
        .bearer_auth(b.token("bob"))
        .header("x-padding", "p".repeat(40_000));
    let (status, body) = send(big).await;
    assert_error_shape(status, &body, 431, "headers_too_large");

    let mut many = b
        .http
        .get(format!("{}/v1/whoami", b.url))
        .bearer_auth(b.token("bob"));
    for i in 0..150 {
        many = many.header(format!("x-h{i}"), "1");
    }
    let (status, body) = send(many).await;
    assert_error_shape(status, &body, 431, "headers_too_large");

    // The broker still answers normally afterwards.
    let (status, _) = b.get("bob", "/v1/whoami").await;
    assert_eq!(status, 200);
}

/// Sends `head` on a fresh connection and reads the answer to its end:
/// (status, the JSON body).
async fn raw_answer(b: &TestBroker, head: &[u8]) -> (u16, serde_json::Value, String) {
    let mut conn = TcpStream::connect(b.addr()).await.unwrap();
    // The broker may answer and close before it has read everything.
    let _ = conn.write_all(head).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), conn.read_to_end(&mut answer)).await;
    let text = String::from_utf8_lossy(&answer).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (
        status,
        serde_json::from_str(body).unwrap_or_default(),
        head.to_string(),
    )
}

#[tokio::test]
async fn heads_beyond_hypers_own_buffer_are_answered_in_the_json_error_shape_too() {
    let b = TestBroker::start();
    // Far beyond twice the header limit: hyper gives up reading before our
    // middleware could see a request.
    let huge = format!(
        "GET /v1/whoami HTTP/1.1\r\nhost: x\r\nx-padding: {}\r\n\r\n",
        "p".repeat(200_000)
    );
    let (status, body, head) = raw_answer(&b, huge.as_bytes()).await;
    assert_error_shape(status, &body, 431, "headers_too_large");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{head}"
    );

    let mut many = String::from("GET /v1/whoami HTTP/1.1\r\nhost: x\r\n");
    for i in 0..300 {
        many.push_str(&format!("x-h{i}: 1\r\n"));
    }
    many.push_str("\r\n");
    let (status, body, _) = raw_answer(&b, many.as_bytes()).await;
    assert_error_shape(status, &body, 431, "headers_too_large");

    let (status, body, _) =
        raw_answer(&b, b"GET /v1/whoami HTTP/1.1\r\nbad header line\r\n\r\n").await;
    assert_error_shape(status, &body, 400, "invalid_request");

    // An ordinary empty answer on the same kind of connection is left as it is.
    let (status, _, head) = raw_answer(
        &b,
        b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status, 200, "{head}");
    let (status, _) = b.get("bob", "/v1/whoami").await;
    assert_eq!(status, 200);
}
