//! Plain HTTP only on loopback; TLS (rustls) otherwise.

mod common;

use std::process::{Command, Stdio};

use common::{BIN, TestBroker};

#[test]
fn non_loopback_without_tls_is_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["broker", "--listen", "0.0.0.0:0", "--data-dir"])
        .arg(dir.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--tls-cert") && stderr.contains("--insecure-http"),
        "{stderr}"
    );
}

#[test]
fn insecure_http_is_an_explicit_choice() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(BIN)
        .args([
            "broker",
            "--listen",
            "0.0.0.0:0",
            "--insecure-http",
            "--data-dir",
        ])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut banner = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut banner)
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(banner.contains("listening on http://0.0.0.0:"), "{banner}");
}

#[tokio::test]
async fn tls_with_a_certificate_serves_https() {
    let certs = tempfile::tempdir().unwrap();
    let (cert, key) = common::self_signed_cert(certs.path());
    let b = TestBroker::start_with(
        &[],
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );
    assert!(b.url.starts_with("https://127.0.0.1:"), "{}", b.url);
    let pem = std::fs::read(&cert).unwrap();
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .build()
        .unwrap();
    let resp = client
        .get(format!("{}/v1/whoami", b.url))
        .bearer_auth(b.token("bob"))
        .send()
        .await
        .expect("TLS handshake and request");
    assert_eq!(resp.status().as_u16(), 200);
    // Plain HTTP to the TLS port does not get an answer.
    let plain = reqwest::get(format!(
        "http://{}/healthz",
        b.url.trim_start_matches("https://")
    ))
    .await;
    assert!(plain.is_err() || !plain.unwrap().status().is_success());
}
