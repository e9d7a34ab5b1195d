//! Notifications with real parts on loopback: a real SMTP server (Python's
//! aiosmtpd, writing a Maildir) and an HTTP receiver standing in for Slack and a
//! webhook bridge, against a real broker process.

mod common;

use std::net::TcpListener as StdListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, Uri};
use common::{TestBroker, admin};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

const SECRET: &str = "hook-secret-for-tests";

#[derive(Debug, Clone)]
struct Hit {
    path: String,
    headers: HeaderMap,
    body: Vec<u8>,
    answered: u16,
}

impl Hit {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

/// An HTTP server on loopback that records every POST and answers with the status
/// in `answer` (200 unless a test says otherwise).
struct Receiver {
    url: String,
    hits: Arc<Mutex<Vec<Hit>>>,
    answer: Arc<AtomicU16>,
}

impl Receiver {
    async fn start() -> Receiver {
        let hits: Arc<Mutex<Vec<Hit>>> = Arc::default();
        let answer = Arc::new(AtomicU16::new(200));
        let app = {
            let (hits, answer) = (hits.clone(), answer.clone());
            axum::Router::new().fallback(move |uri: Uri, headers: HeaderMap, body: Bytes| {
                let (hits, answer) = (hits.clone(), answer.clone());
                async move {
                    let status = StatusCode::from_u16(answer.load(Ordering::SeqCst))
                        .unwrap_or(StatusCode::OK);
                    hits.lock().unwrap().push(Hit {
                        path: uri.path().to_string(),
                        headers,
                        body: body.to_vec(),
                        answered: status.as_u16(),
                    });
                    (status, "ok")
                }
            })
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver { url, hits, answer }
    }

    fn delivered(&self, path: &str) -> Vec<Hit> {
        self.hits
            .lock()
            .unwrap()
            .iter()
            .filter(|h| h.path == path && h.answered == 200)
            .cloned()
            .collect()
    }

    fn refused(&self, path: &str) -> usize {
        self.hits
            .lock()
            .unwrap()
            .iter()
            .filter(|h| h.path == path && h.answered != 200)
            .count()
    }

    /// Waits until `count` deliveries to `path` matched `want`.
    async fn wait_for(&self, path: &str, count: usize, want: impl Fn(&Hit) -> bool) -> Vec<Hit> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let hits: Vec<Hit> = self.delivered(path).into_iter().filter(&want).collect();
            if hits.len() >= count {
                return hits;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{path}: {} of {count} deliveries arrived; all hits: {:?}",
                hits.len(),
                self.hits
                    .lock()
                    .unwrap()
                    .iter()
                    .map(|h| (&h.path, h.answered))
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// A real SMTP server: aiosmtpd storing what it receives in a Maildir.
struct Smtp {
    child: Child,
}

impl Smtp {
    fn start(port: u16, maildir: &Path) -> Smtp {
        let child = Command::new("python3")
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(maildir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 runs (aiosmtpd must be installed: pip install aiosmtpd)");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "aiosmtpd did not start on port {port} (is it installed? pip install aiosmtpd)"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Smtp { child }
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Smtp {
    fn drop(&mut self) {
        self.stop();
    }
}

fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Every mail in the Maildir, as text.
fn mails(maildir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for sub in ["new", "cur"] {
        if let Ok(entries) = std::fs::read_dir(maildir.join(sub)) {
            for entry in entries.flatten() {
                if let Ok(text) = std::fs::read_to_string(entry.path()) {
                    out.push(text);
                }
            }
        }
    }
    out
}

async fn wait_for_mails(maildir: &Path, want: impl Fn(&str) -> bool, count: usize) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let found: Vec<String> = mails(maildir).into_iter().filter(|m| want(m)).collect();
        if found.len() >= count {
            return found;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} of {count} mails arrived; the maildir holds {:#?}",
            found.len(),
            mails(maildir)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A mail's header value (first occurrence, unfolded).
fn header(mail: &str, name: &str) -> Option<String> {
    let head = mail
        .split("\r\n\r\n")
        .next()
        .or_else(|| mail.split("\n\n").next())?;
    let mut value: Option<String> = None;
    for line in head.lines() {
        if let Some(v) = value.as_mut() {
            if line.starts_with(' ') || line.starts_with('\t') {
                v.push_str(line.trim_start());
                continue;
            }
            break;
        }
        if let Some((key, rest)) = line.split_once(':')
            && key.eq_ignore_ascii_case(name)
        {
            value = Some(rest.trim().to_string());
        }
    }
    value
}

struct Setup {
    broker: TestBroker,
    receiver: Receiver,
    _config: tempfile::TempDir,
}

fn config_text(receiver: &Receiver, smtp_port: u16) -> String {
    format!(
        r##"
[notify]
public_url = "https://countersign.example.com"
retry_min = "200ms"
retry_max = "1s"
timeout = "3s"

[[notify.email]]
smtp_url = "smtp://127.0.0.1:{smtp_port}"
from = "countersign <countersign@example.com>"
to = ["access-requests@example.com"]
to_reviewers = true

[[notify.slack]]
webhook_url = "{url}/slack"
channel = "#access-requests"

[[notify.webhook]]
url = "{url}/hook"
secret_env = "CS_TEST_HOOK_SECRET"
"##,
        url = receiver.url
    )
}

async fn setup(smtp_port: u16) -> Setup {
    let receiver = Receiver::start().await;
    let config = tempfile::tempdir().unwrap();
    let path = config.path().join("broker.toml");
    std::fs::write(&path, config_text(&receiver, smtp_port)).unwrap();
    let broker = TestBroker::start_with_env(
        &[],
        &["--config", path.to_str().unwrap()],
        &[("CS_TEST_HOOK_SECRET", SECRET)],
    );
    // Reviewers and a requester with mail addresses (the admin CLI works beside a
    // running broker).
    for (name, roles, email) in [
        ("rev-a", "reviewer", "rev-a@example.com"),
        ("rev-b", "security", "rev-b@example.com"),
        ("asker", "developer", "asker@example.com"),
    ] {
        let out = admin(
            broker.dir.path(),
            &[
                "users",
                "add",
                name,
                "--roles",
                roles,
                "--trait",
                &format!("email={email}"),
            ],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Setup {
        broker,
        receiver,
        _config: config,
    }
}

fn token_of(broker: &TestBroker, name: &str) -> String {
    let out = admin(broker.dir.path(), &["tokens", "rotate", name]);
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

async fn create_as(broker: &TestBroker, token: &str, reason: &str) -> String {
    let resp = broker
        .http
        .post(format!("{}/v1/requests", broker.url))
        .bearer_auth(token)
        .json(&serde_json::json!({"roles": ["production-access"], "reason": reason}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    let body: Value = resp.json().await.unwrap();
    body["id"].as_str().unwrap().to_string()
}

fn verify_signature(hit: &Hit) {
    let header = hit.headers["x-countersign-signature"].to_str().unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(&hit.body);
    let want = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    assert_eq!(header, want, "the webhook signature verifies");
}

#[tokio::test]
async fn a_new_request_reaches_each_reviewer_slack_and_the_webhook() {
    let maildir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _smtp = Smtp::start(port, &maildir.path().join("box"));
    let s = setup(port).await;
    let token = token_of(&s.broker, "asker");
    let reason = "Deploy fix for #47 <!channel> & <https://evil.example|click> <b>bold</b>";
    let id = create_as(&s.broker, &token, reason).await;

    // Slack: Block Kit, the reason escaped, no ping for an ordinary request.
    let slack = s.receiver.wait_for("/slack", 1, |_| true).await;
    let body = slack[0].json();
    assert_eq!(body["channel"], "#access-requests");
    let blocks = body["blocks"].as_array().expect("blocks");
    assert!(blocks.iter().all(|b| b["type"].is_string()));
    let text = body.to_string();
    assert!(
        text.contains("asker") && text.contains("production-access"),
        "{text}"
    );
    assert!(
        text.contains("&lt;!channel&gt; &amp; &lt;https://evil.example|click&gt;"),
        "{text}"
    );
    assert!(
        !text.contains("<!channel>") && !text.contains("<!here>"),
        "{text}"
    );
    assert!(
        text.contains(&format!("countersign request review {id}")),
        "{text}"
    );

    // The webhook: signed, with the request and a stable delivery key.
    let hook = s.receiver.wait_for("/hook", 1, |_| true).await;
    verify_signature(&hook[0]);
    let body = hook[0].json();
    assert_eq!(body["type"], "request.created");
    assert_eq!(body["request"]["id"], id.as_str());
    assert_eq!(body["request"]["reason"], reason);
    assert_eq!(body["urgent"], false);
    assert_eq!(
        body["link"],
        format!("https://countersign.example.com/v1/requests/{id}")
    );
    assert_eq!(
        hook[0].headers["x-countersign-delivery"],
        body["id"].as_str().unwrap()
    );

    // Mail: one message to the list and to each reviewer with an email trait
    // (carrot and adora have none: skipped), naming requester, role and reason.
    let mail = wait_for_mails(&maildir.path().join("box"), |m| m.contains(&id), 1).await;
    let to = header(&mail[0], "To").unwrap();
    for who in [
        "access-requests@example.com",
        "rev-a@example.com",
        "rev-b@example.com",
    ] {
        assert!(to.contains(who), "To: {to}");
    }
    assert!(
        !to.contains("asker@"),
        "the requester is not asked to review: {to}"
    );
    let subject = header(&mail[0], "Subject").unwrap();
    assert!(
        subject.contains("asker") && subject.contains("production-access"),
        "{subject}"
    );
    assert!(mail[0].contains("multipart/alternative"));
    assert!(
        mail[0].contains("&lt;b&gt;bold&lt;/b&gt;"),
        "HTML part escaped"
    );
}

#[tokio::test]
async fn emergencies_are_urgent_and_the_outcome_threads_under_the_request_mail() {
    let maildir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _smtp = Smtp::start(port, &maildir.path().join("box"));
    let s = setup(port).await;
    let token = token_of(&s.broker, "asker");
    let id = create_as(&s.broker, &token, "EMERGENCY: payments down, INC-9").await;

    let slack = s.receiver.wait_for("/slack", 1, |_| true).await;
    assert!(
        slack[0].json()["text"]
            .as_str()
            .unwrap()
            .starts_with("<!here>")
    );
    let hook = s.receiver.wait_for("/hook", 1, |_| true).await;
    assert_eq!(hook[0].json()["urgent"], true);
    let box_dir = maildir.path().join("box");
    let created = wait_for_mails(&box_dir, |m| m.contains(&id), 1).await;
    let created_id = header(&created[0], "Message-ID").unwrap();
    assert!(
        header(&created[0], "Subject")
            .unwrap()
            .starts_with("[URGENT]")
    );

    let (status, body) = s
        .broker
        .review("carrot", &id, "approve", "Confirmed INC-9")
        .await;
    assert_eq!(status, 200, "{body}");

    let outcome = wait_for_mails(
        &box_dir,
        |m| header(m, "In-Reply-To").is_some_and(|r| r == created_id),
        1,
    )
    .await;
    assert!(
        header(&outcome[0], "To")
            .unwrap()
            .contains("asker@example.com")
    );
    assert_eq!(header(&outcome[0], "References"), Some(created_id));
    assert!(outcome[0].contains("approved"));
    let hooks = s
        .receiver
        .wait_for("/hook", 1, |h| h.json()["type"] == "request.approved")
        .await;
    verify_signature(&hooks[0]);
}

#[tokio::test]
async fn a_sink_that_is_down_delays_but_never_blocks_or_duplicates() {
    // No SMTP server at all here: mail keeps failing, the rest must not care.
    let s = setup(free_port()).await;
    s.receiver.answer.store(503, Ordering::SeqCst);
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(
            s.broker
                .create("bob", &["production-access"], &format!("task #{i}"))
                .await,
        );
    }
    // Refused at first...
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while s.receiver.refused("/hook") < 5 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the webhook was never tried"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(s.receiver.delivered("/hook").is_empty());
    // ...then it recovers, and each notification arrives exactly once.
    s.receiver.answer.store(200, Ordering::SeqCst);
    let hooks = s.receiver.wait_for("/hook", 5, |_| true).await;
    s.receiver.wait_for("/slack", 5, |_| true).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut keys: Vec<String> = s
        .receiver
        .delivered("/hook")
        .iter()
        .map(|h| h.json()["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(keys.len(), 5, "each delivered once: {keys:?}");
    keys.dedup();
    assert_eq!(keys.len(), 5);
    assert_eq!(s.receiver.delivered("/slack").len(), 5);
    for hit in &hooks {
        verify_signature(hit);
    }
    // The broker says what it still owes by mail.
    let out = admin(
        s.broker.dir.path(),
        &["notifications", "ls", "--state", "pending"],
    );
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(listing.contains("email-1"), "{listing}");
    let (status, summary) = s.broker.get("carrot", "/v1/notifications").await;
    assert_eq!(status, 200, "{summary}");
    assert_eq!(summary["sent"], 10, "{summary}");
    assert_eq!(summary["pending"], 5, "{summary}");
}

#[tokio::test]
async fn owed_mail_arrives_after_the_smtp_server_and_a_killed_broker_come_back() {
    let maildir = tempfile::tempdir().unwrap();
    let box_dir = maildir.path().join("box");
    let port = free_port();
    let mut s = setup(port).await;
    let id = s
        .broker
        .create("bob", &["production-access"], "rotate keys, OPS-12")
        .await;
    // The mail is tried and fails while the server is down.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let out = admin(
            s.broker.dir.path(),
            &["notifications", "ls", "--state", "pending"],
        );
        let listing = String::from_utf8_lossy(&out.stdout).to_string();
        if listing
            .lines()
            .any(|l| l.contains("email-1") && l.contains("SMTP"))
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no failed attempt: {listing}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    s.broker.kill();
    let _smtp = Smtp::start(port, &box_dir);
    s.broker.restart();
    let mail = wait_for_mails(&box_dir, |m| m.contains(&id), 1).await;
    assert!(
        header(&mail[0], "To")
            .unwrap()
            .contains("rev-a@example.com")
    );
    // Nothing twice to any sink for that one event.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        mails(&box_dir).iter().filter(|m| m.contains(&id)).count(),
        1
    );
    let created: Vec<_> = s
        .receiver
        .delivered("/hook")
        .into_iter()
        .filter(|h| h.json()["request"]["id"] == id.as_str())
        .collect();
    assert_eq!(created.len(), 1);
}

#[test]
fn a_broken_notify_section_stops_the_broker_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broker.toml");
    std::fs::write(
        &path,
        "[notify]\n\n[[notify.webhook]]\nurl = \"http://127.0.0.1:9/hook\"\nsecret_env = \"CS_NOT_SET_ANYWHERE\"\n",
    )
    .unwrap();
    let data = tempfile::tempdir().unwrap();
    let out = Command::new(common::BIN)
        .args(["broker", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data.path())
        .arg("--config")
        .arg(&path)
        .env_remove("CS_NOT_SET_ANYWHERE")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("broker.toml:5:") && stderr.contains("CS_NOT_SET_ANYWHERE"),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_permanent_refusal_is_marked_failed_until_retried_by_hand() {
    let s = setup(free_port()).await;
    // A 404 will not get better by itself: no retries, the row is failed at once.
    s.receiver.answer.store(404, Ordering::SeqCst);
    let id = s
        .broker
        .create("bob", &["production-access"], "OPS-7")
        .await;
    let row_in = |state: &str| {
        let out = admin(
            s.broker.dir.path(),
            &["notifications", "ls", "--state", state],
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .find(|l| l.contains("webhook-1") && l.contains(&id))
            .and_then(|l| l.split_whitespace().next())
            .map(str::to_string)
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let row = loop {
        if let Some(row) = row_in("failed") {
            break row;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never marked failed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(s.receiver.refused("/hook"), 1, "a 4xx is not retried");
    let (_, summary) = s.broker.get("carrot", "/v1/notifications").await;
    assert!(summary["failed"].as_u64() >= Some(1), "{summary}");
    // The console's client asks the same (its status bar then says so).
    let client = countersign::client::Client::new(&countersign::client::Connection {
        broker: s.broker.url.clone(),
        token: s.broker.token("carrot").to_string(),
        ca_pem: None,
    })
    .expect("client");
    let counted = client.notifications().await.expect("the summary");
    assert!(counted.failed >= 1, "{counted:?}");

    // Fixed on the receiving side; retried by hand; delivered once.
    s.receiver.answer.store(200, Ordering::SeqCst);
    let retried = admin(s.broker.dir.path(), &["notifications", "retry", &row]);
    assert!(
        retried.status.success(),
        "{}",
        String::from_utf8_lossy(&retried.stderr)
    );
    let hook = s.receiver.wait_for("/hook", 1, |_| true).await;
    assert_eq!(hook[0].json()["request"]["id"], id.as_str());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while row_in("sent").is_none() {
        assert!(tokio::time::Instant::now() < deadline, "never marked sent");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A sent notification is not sent again; an unknown one is an error.
    let again = admin(s.broker.dir.path(), &["notifications", "retry", &row]);
    assert!(!again.status.success(), "a sent notification is not resent");
    let missing = admin(s.broker.dir.path(), &["notifications", "retry", "999999"]);
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no failed or pending"));
}
