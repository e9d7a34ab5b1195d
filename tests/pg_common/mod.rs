//! A real PostgreSQL for tests: `COUNTERSIGN_TEST_PG` names a server (`.ci/pg-up`
//! starts a throwaway one) and each test gets a database of its own on it.
//! Without the variable the tests skip, saying so — except in CI, where they fail.

#![allow(dead_code)]

/// The server's URL, or `None` (having said why) when there is none outside CI.
pub fn server() -> Option<String> {
    match std::env::var("COUNTERSIGN_TEST_PG") {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ if std::env::var_os("CI").is_some() => panic!(
            "COUNTERSIGN_TEST_PG is not set: CI must start PostgreSQL (.ci/pg-up) for the PostgreSQL tests"
        ),
        _ => {
            eprintln!(
                "skipping: COUNTERSIGN_TEST_PG is not set (eval \"$(.ci/pg-up)\" starts a throwaway PostgreSQL)"
            );
            None
        }
    }
}

/// Runs SQL on the database at `url` (on a thread of its own, so async tests
/// may call it too).
pub fn execute(url: &str, sql: &str) -> Result<(), String> {
    std::thread::scope(|scope| {
        scope
            .spawn(|| execute_here(url, sql))
            .join()
            .unwrap_or_else(|_| Err("the SQL thread panicked".into()))
    })
}

fn execute_here(url: &str, sql: &str) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        client
            .batch_execute(sql)
            .await
            .map_err(|e| match e.as_db_error() {
                Some(db) => db.message().to_string(),
                None => e.to_string(),
            })
    })
}

/// A new, empty database on the server, and its URL.
pub fn fresh_database() -> Option<String> {
    let server = server()?;
    let name = format!("cs_test_{}", uuid::Uuid::now_v7().simple());
    execute(&server, &format!("CREATE DATABASE {name}")).expect("create a test database");
    let (base, _) = server
        .split_once('?')
        .map(|(b, q)| (b.to_string(), q))
        .unwrap_or((server.clone(), ""));
    let (root, _) = base
        .rsplit_once('/')
        .filter(|(root, _)| root.contains("://") && !root.ends_with('/'))
        .unwrap_or((base.as_str(), ""));
    Some(format!("{root}/{name}"))
}

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

pub const BIN: &str = env!("CARGO_BIN_EXE_countersign");

/// `countersign admin --database URL …`.
pub fn admin(database: &str, args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(["admin", "--database", database])
        .args(args)
        .output()
        .expect("run countersign admin")
}

/// Applies the fixture roles and adds `users` (name, roles); their tokens.
pub fn populate(database: &str, users: &[(String, String)]) -> HashMap<String, String> {
    let roles = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/roles.yaml");
    let applied = admin(database, &["roles", "apply", roles]);
    assert!(
        applied.status.success(),
        "roles apply: {}",
        String::from_utf8_lossy(&applied.stderr)
    );
    let mut tokens = HashMap::new();
    for (name, roles) in users {
        let out = admin(database, &["users", "add", name, "--roles", roles]);
        assert!(
            out.status.success(),
            "users add {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let token = String::from_utf8_lossy(&out.stdout)
            .lines()
            .last()
            .expect("a token line")
            .trim()
            .to_string();
        tokens.insert(name.clone(), token);
    }
    tokens
}

/// `audit verify --database URL`: (passed, its output).
/// The audit log's last seq (`audit head`), e.g. after the users were added.
pub fn head_seq(database: &str) -> u64 {
    let out = Command::new(BIN)
        .args(["audit", "head", "--database", database])
        .output()
        .expect("run audit head");
    let text = String::from_utf8_lossy(&out.stdout);
    text.trim()
        .split(':')
        .next()
        .and_then(|seq| seq.parse().ok())
        .unwrap_or_else(|| panic!("audit head printed {text:?}"))
}

pub fn verify(database: &str) -> (bool, String) {
    let out = Command::new(BIN)
        .args(["audit", "verify", "--database", database])
        .output()
        .expect("run audit verify");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// One broker process on the shared database, on a loopback port.
pub struct PgBroker {
    pub url: String,
    child: Option<Child>,
    /// Only for the SSH CA key.
    _dir: tempfile::TempDir,
}

impl PgBroker {
    pub fn start(database: &str) -> PgBroker {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut child = Command::new(BIN)
            .args(["broker", "--database", database, "--listen", "127.0.0.1:0"])
            .arg("--data-dir")
            .arg(dir.path())
            .env("COUNTERSIGN_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn broker");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read broker banner");
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no URL in broker banner {line:?}"))
            .to_string();
        PgBroker {
            url,
            child: Some(child),
            _dir: dir,
        }
    }

    /// SIGKILL: no chance to flush anything.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for PgBroker {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Calls `url` + `path` as the holder of `token`: (status, JSON body).
pub async fn call(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> Result<(u16, Value), reqwest::Error> {
    let mut request = http
        .request(method, format!("{base}{path}"))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await?;
    let status = response.status().as_u16();
    let text = response.text().await?;
    Ok((
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    ))
}

pub async fn create(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    roles: &[&str],
) -> Result<(u16, Value), reqwest::Error> {
    call(
        http,
        base,
        token,
        reqwest::Method::POST,
        "/v1/requests",
        Some(json!({"roles": roles, "reason": "incident #47"})),
    )
    .await
}
