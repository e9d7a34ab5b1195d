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

use std::process::{Child, Command};

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
        let (child, url) = super::common::spawn_broker(
            Command::new(BIN)
                .args(["broker", "--database", database, "--listen", "127.0.0.1:0"])
                .arg("--data-dir")
                .arg(dir.path()),
        );
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

/// A TCP relay in front of the PostgreSQL server, which a test can cut and mend:
/// the database goes away for the brokers behind the relay (their connections
/// drop, new ones are refused) while the server keeps serving every other test.
pub struct Relay {
    port: u16,
    target: String,
    serving: Option<tokio::task::JoinHandle<()>>,
}

impl Relay {
    /// A relay on a free loopback port to the server `database` is on.
    pub async fn start(database: &str) -> Relay {
        let (_, target, _) = split_address(database);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the relay");
        let port = listener.local_addr().expect("relay address").port();
        let mut relay = Relay {
            port,
            target,
            serving: None,
        };
        relay.serve(listener);
        relay
    }

    /// `database` reached through this relay.
    pub fn url(&self, database: &str) -> String {
        let (before, _, after) = split_address(database);
        format!("{before}127.0.0.1:{}{after}", self.port)
    }

    /// Drops every relayed connection and refuses new ones.
    pub fn cut(&mut self) {
        if let Some(serving) = self.serving.take() {
            serving.abort();
        }
    }

    /// Relays again, on the same port.
    pub async fn mend(&mut self) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let listener = loop {
            match tokio::net::TcpListener::bind(("127.0.0.1", self.port)).await {
                Ok(listener) => break listener,
                Err(err) if std::time::Instant::now() > deadline => {
                    panic!("rebind the relay on {}: {err}", self.port)
                }
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
            }
        };
        self.serve(listener);
    }

    fn serve(&mut self, listener: tokio::net::TcpListener) {
        let target = self.target.clone();
        self.serving = Some(tokio::spawn(async move {
            // Owned here, so aborting this task drops every connection too.
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                let target = target.clone();
                connections.spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        }));
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.cut();
    }
}

/// A PostgreSQL URL as (what comes before its host:port, host:port, the rest).
fn split_address(url: &str) -> (String, String, String) {
    let start = url
        .find('@')
        .map(|at| at + 1)
        .or_else(|| url.find("://").map(|s| s + 3))
        .unwrap_or_else(|| panic!("no host in {url:?}"));
    let end = url[start..]
        .find(['/', '?'])
        .map_or(url.len(), |e| start + e);
    (
        url[..start].to_string(),
        url[start..end].to_string(),
        url[end..].to_string(),
    )
}
