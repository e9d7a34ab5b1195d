//! DESIGN §12, the broker process: logging that cannot fail it, one broker per
//! data directory, private files, and a damaged database refused at start.

mod common;

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{BIN, TestBroker, add_user, admin, fixture};

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Waits up to `within` for `child` to exit by itself; kills it otherwise.
fn exits_within(child: &mut Child, within: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn a_broker_whose_stderr_is_a_closed_pipe_keeps_writing_and_watching() {
    let dir = tempfile::tempdir().unwrap();
    let roles = dir.path().join("roles.yaml");
    let fixture_text = std::fs::read_to_string(fixture("roles.yaml")).unwrap();
    std::fs::write(&roles, &fixture_text).unwrap();
    let data = dir.path().join("data");
    let applied = admin(&data, &["roles", "apply", roles.to_str().unwrap()]);
    assert!(applied.status.success());
    let bob = add_user(&data, "bob", "developer");
    let carrot = add_user(&data, "carrot", "reviewer");
    let vetinari = add_user(&data, "vetinari", "admin");
    let mut child = Command::new(BIN)
        .arg("broker")
        .arg("--data-dir")
        .arg(&data)
        .args(["--listen", "127.0.0.1:0", "--roles"])
        .arg(&roles)
        // Every layer logs, the store's writer included.
        .env("COUNTERSIGN_LOG", "trace")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Nobody reads the broker's stderr any more: every log write fails (EPIPE).
    drop(child.stderr.take());
    let stdout = child.stdout.take().unwrap();
    let child = Killed(child);
    let mut banner = String::new();
    BufReader::new(stdout).read_line(&mut banner).unwrap();
    let url = banner
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no banner: {banner:?}"))
        .to_string();
    let http = reqwest::Client::new();
    let mut ids = Vec::new();
    for i in 0..10 {
        let resp = http
            .post(format!("{url}/v1/requests"))
            .bearer_auth(&bob)
            .json(&serde_json::json!({"roles": ["production-access"], "reason": format!("incident #{i}")}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 201, "create {i} failed");
        let body: serde_json::Value = resp.json().await.unwrap();
        ids.push(body["id"].as_str().unwrap().to_string());
    }
    let approved = http
        .post(format!("{url}/v1/requests/{}/reviews", ids[0]))
        .bearer_auth(&carrot)
        .json(&serde_json::json!({"decision": "approve", "reason": "ok, #1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(approved.status().as_u16(), 200);
    let health = http.get(format!("{url}/healthz")).send().await.unwrap();
    assert_eq!(health.status().as_u16(), 200);

    // The role-file watcher logs each change it applies; it must keep applying.
    for extra in ["extra-one", "extra-two"] {
        let text =
            format!("{fixture_text}\n---\nkind: role\nversion: v7\nmetadata:\n  name: {extra}\n");
        std::fs::write(&roles, text).unwrap();
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let listed: serde_json::Value = http
                .get(format!("{url}/v1/roles"))
                .bearer_auth(&vetinari)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if listed.to_string().contains(extra) {
                break;
            }
            assert!(Instant::now() < deadline, "{extra} was never applied");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    drop(child);
    let out = Command::new(BIN)
        .args(["audit", "verify", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[tokio::test]
async fn a_second_broker_on_the_same_data_directory_refuses_to_start() {
    let b = TestBroker::start();
    let mut second = Command::new(BIN)
        .arg("broker")
        .arg("--data-dir")
        .arg(b.dir.path())
        .args(["--listen", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status =
        exits_within(&mut second, Duration::from_secs(10)).expect("the second broker kept running");
    assert!(!status.success());
    let mut err = String::new();
    std::io::Read::read_to_string(&mut second.stderr.take().unwrap(), &mut err).unwrap();
    assert!(err.contains("another broker"), "{err}");
    // The first one is untouched.
    let (status, _) = b.get("bob", "/v1/whoami").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn the_database_is_private_to_the_brokers_user() {
    let mut b = TestBroker::start();
    let db = b.dir.path().join("countersign.db");
    assert_eq!(mode(&db), 0o600);
    assert_eq!(mode(b.dir.path()), 0o700);
    b.kill();
    std::fs::set_permissions(b.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    b.restart();
    assert_eq!(mode(&db), 0o600);
    assert_eq!(mode(b.dir.path()), 0o700);
    for companion in ["countersign.db-wal", "countersign.db-shm", "broker.lock"] {
        let path = b.dir.path().join(companion);
        if path.exists() {
            assert_eq!(mode(&path), 0o600, "{companion}");
        }
    }
}

#[tokio::test]
async fn a_damaged_database_is_refused_at_start_with_a_clear_message() {
    let mut b = TestBroker::start();
    let reason = format!("incident #3 {}", "z".repeat(2000));
    for _ in 0..60 {
        b.create("bob", &["production-access"], &reason).await;
    }
    b.kill();
    let db = b.dir.path().join("countersign.db");
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
            .unwrap();
    }
    // Scribble over the second half of the file's pages.
    let mut bytes = std::fs::read(&db).unwrap();
    let pages = bytes.len() / 4096;
    assert!(pages > 8, "only {pages} pages");
    for page in pages / 2..pages {
        for byte in &mut bytes[page * 4096..page * 4096 + 4096] {
            *byte = 0x5a;
        }
    }
    std::fs::write(&db, &bytes).unwrap();
    let mut broker = Command::new(BIN)
        .arg("broker")
        .arg("--data-dir")
        .arg(b.dir.path())
        .args(["--listen", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status =
        exits_within(&mut broker, Duration::from_secs(20)).expect("a damaged database was served");
    assert!(!status.success());
    let mut err = String::new();
    std::io::Read::read_to_string(&mut broker.stderr.take().unwrap(), &mut err).unwrap();
    assert!(
        err.contains("quick_check") || err.contains("malformed"),
        "{err}"
    );
}

#[tokio::test]
async fn a_writer_that_cannot_write_turns_healthz_503_and_the_broker_exits_non_zero() {
    let b = TestBroker::start();
    let mut b = b;
    b.kill();
    let bob = b.token("bob").to_string();
    let size: u64 = ["countersign.db", "countersign.db-wal"]
        .iter()
        .filter_map(|f| std::fs::metadata(b.dir.path().join(f)).ok())
        .map(|m| m.len())
        .max()
        .unwrap_or(0);
    // A file-size limit a little above what is there, with SIGXFSZ ignored, so
    // writes past it fail with EFBIG as on a full disk.
    let blocks = (size + 256 * 1024) / 512;
    let script = format!(
        "trap '' XFSZ; ulimit -f {blocks}; exec \"$0\" broker --data-dir \"$1\" --listen 127.0.0.1:0"
    );
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg(BIN)
        .arg(b.dir.path())
        .env("COUNTERSIGN_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut banner = String::new();
    BufReader::new(stdout).read_line(&mut banner).unwrap();
    let url = banner
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no banner: {banner:?}"))
        .to_string();
    let http = reqwest::Client::new();
    let reason = format!("incident #4 {}", "v".repeat(3000));
    let mut unavailable = None;
    for _ in 0..2000 {
        let resp = http
            .post(format!("{url}/v1/requests"))
            .bearer_auth(&bob)
            .json(&serde_json::json!({"roles": ["production-access"], "reason": reason}))
            .send()
            .await;
        match resp {
            Ok(r) if r.status().as_u16() == 201 => continue,
            Ok(r) => {
                unavailable = Some(r.status().as_u16());
                break;
            }
            Err(_) => break,
        }
    }
    assert!(unavailable.is_some_and(|s| s >= 500), "{unavailable:?}");
    let health = http.get(format!("{url}/healthz")).send().await.unwrap();
    assert_eq!(health.status().as_u16(), 503);
    let body: serde_json::Value = health.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unavailable", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("can no longer write")),
        "{body}"
    );
    let status =
        exits_within(&mut child, Duration::from_secs(15)).expect("the broker kept running");
    assert!(!status.success(), "{status:?}");
}
