//! A real broker for tests: the real binary, a temporary data dir with a real SQLite
//! file, users added through the admin CLI, listening on a loopback port.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

pub const BIN: &str = env!("CARGO_BIN_EXE_countersign");

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// The users every test broker starts with: name and static roles.
pub const USERS: &[(&str, &str)] = &[
    ("alice", "developer,developer-db-request"),
    ("bob", "developer"),
    ("sam", "sre"),
    ("carrot", "reviewer"),
    ("adora", "reviewer"),
    ("vimes", "security"),
    ("dora", "dba-reviewer"),
    ("vetinari", "admin"),
    ("ponder", "auditor"),
];

pub struct TestBroker {
    pub dir: tempfile::TempDir,
    pub url: String,
    pub tokens: HashMap<String, String>,
    child: Option<Child>,
    extra_args: Vec<String>,
    /// Environment variables the broker process gets (on top of the test's own).
    pub envs: Vec<(String, String)>,
    pub http: reqwest::Client,
}

pub fn admin(data_dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .arg("admin")
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .output()
        .expect("run countersign admin")
}

impl TestBroker {
    pub fn start() -> TestBroker {
        Self::start_with(&[], &[])
    }

    /// Starts a broker with the fixture roles, the standard users plus `more_users`,
    /// and extra `broker` arguments.
    pub fn start_with(more_users: &[(&str, &str)], extra_args: &[&str]) -> TestBroker {
        Self::start_with_env(more_users, extra_args, &[])
    }

    /// As [`TestBroker::start_with`], with environment variables for the broker.
    pub fn start_with_env(
        more_users: &[(&str, &str)],
        extra_args: &[&str],
        envs: &[(&str, &str)],
    ) -> TestBroker {
        let dir = tempfile::tempdir().expect("tempdir");
        let applied = admin(
            dir.path(),
            &["roles", "apply", fixture("roles.yaml").to_str().unwrap()],
        );
        assert!(
            applied.status.success(),
            "roles apply failed: {}",
            String::from_utf8_lossy(&applied.stderr)
        );
        let mut tokens = HashMap::new();
        for (name, roles) in USERS.iter().chain(more_users) {
            tokens.insert(name.to_string(), add_user(dir.path(), name, roles));
        }
        let mut broker = TestBroker {
            dir,
            url: String::new(),
            tokens,
            child: None,
            extra_args: extra_args.iter().map(|s| s.to_string()).collect(),
            envs: envs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            http: reqwest::Client::new(),
        };
        broker.launch("127.0.0.1:0");
        broker
    }

    fn launch(&mut self, listen: &str) {
        let (child, url) = spawn_broker(
            Command::new(BIN)
                .arg("broker")
                .arg("--data-dir")
                .arg(self.dir.path())
                .arg("--listen")
                .arg(listen)
                .args(&self.extra_args)
                .envs(self.envs.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
        );
        self.url = url;
        self.child = Some(child);
    }

    pub fn addr(&self) -> String {
        self.url
            .trim_start_matches("http://")
            .trim_start_matches("https://")
            .to_string()
    }

    /// The broker's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// SIGKILL: no chance to flush anything.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM and wait: the graceful path.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("broker running");
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        child.wait().expect("wait broker")
    }

    /// Starts again on the same data dir and, if it is free, the same port.
    pub fn restart(&mut self) {
        self.kill();
        // Pooled connections to the killed process would fail the first call.
        self.http = reqwest::Client::new();
        let addr = self.addr();
        self.launch(&addr);
    }

    pub fn token(&self, user: &str) -> &str {
        self.tokens
            .get(user)
            .unwrap_or_else(|| panic!("no test user {user}"))
    }

    pub async fn call(
        &self,
        user: Option<&str>,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self.http.request(method, format!("{}{}", self.url, path));
        if let Some(user) = user {
            req = req.bearer_auth(self.token(user));
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.expect("broker reachable");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    }

    pub async fn get(&self, user: &str, path: &str) -> (u16, Value) {
        self.call(Some(user), reqwest::Method::GET, path, None)
            .await
    }

    pub async fn post(&self, user: &str, path: &str, body: Value) -> (u16, Value) {
        self.call(Some(user), reqwest::Method::POST, path, Some(body))
            .await
    }

    /// Creates a request and insists on 201; returns its id.
    pub async fn create(&self, user: &str, roles: &[&str], reason: &str) -> String {
        let (status, body) = self
            .post(
                user,
                "/v1/requests",
                json!({"roles": roles, "reason": reason}),
            )
            .await;
        assert_eq!(status, 201, "create failed: {body}");
        body["id"].as_str().expect("id").to_string()
    }

    pub async fn review(&self, user: &str, id: &str, decision: &str, reason: &str) -> (u16, Value) {
        self.post(
            user,
            &format!("/v1/requests/{id}/reviews"),
            json!({"decision": decision, "reason": reason}),
        )
        .await
    }

    pub fn verify_offline(&self) -> (bool, String) {
        let out = Command::new(BIN)
            .args(["audit", "verify", "--data-dir"])
            .arg(self.dir.path())
            .output()
            .expect("run audit verify");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).to_string(),
        )
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Starts a broker from `command` (quiet logs, stderr shown) and waits for its
/// banner: the child and the URL the banner names.
pub fn spawn_broker(command: &mut Command) -> (Child, String) {
    let mut child = command
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
        .find(|w| w.starts_with("http://") || w.starts_with("https://"))
        .unwrap_or_else(|| panic!("no URL in broker banner {line:?}"))
        .to_string();
    (child, url)
}

pub fn add_user(data_dir: &Path, name: &str, roles: &str) -> String {
    let out = admin(data_dir, &["users", "add", name, "--roles", roles]);
    assert!(
        out.status.success(),
        "users add {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .expect("token line")
        .trim()
        .to_string()
}

/// Reads SSE messages from a response until `count` arrived or `timeout` passed:
/// (id, event type, data).
pub async fn read_sse(
    resp: &mut reqwest::Response,
    count: usize,
    timeout: Duration,
) -> Vec<(u64, String, Value)> {
    let mut out = Vec::new();
    let mut buffer = String::new();
    let deadline = tokio::time::Instant::now() + timeout;
    while out.len() < count {
        let chunk = match tokio::time::timeout_at(deadline, resp.chunk()).await {
            Ok(Ok(Some(chunk))) => chunk,
            _ => break,
        };
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let (mut id, mut event, mut data) = (None, String::new(), String::new());
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("id:") {
                    id = v.trim().parse().ok();
                } else if let Some(v) = line.strip_prefix("event:") {
                    event = v.trim().to_string();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.trim_start());
                }
            }
            if let Some(id) = id {
                out.push((
                    id,
                    event,
                    serde_json::from_str(&data).unwrap_or(Value::Null),
                ));
            }
        }
    }
    out
}

/// A self-signed leaf certificate for 127.0.0.1 made with the `openssl` command:
/// (cert.pem, key.pem) in `dir`. A leaf, not a CA: webpki refuses a CA certificate
/// used as the server's own.
pub fn self_signed_cert(dir: &Path) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let made = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::null())
        .status()
        .expect("openssl is on the machine");
    assert!(made.success(), "openssl could not make a certificate");
    (cert, key)
}

/// Drives a console's state from its link: applies the link's actions (sending
/// back every effect but desktop notices) until `done` holds, or fails after 20 s
/// naming `what` it waited for.
pub async fn until(
    state: &mut countersign::console::state::State,
    actions: &mut tokio::sync::mpsc::UnboundedReceiver<countersign::console::action::Action>,
    effects: &tokio::sync::mpsc::UnboundedSender<countersign::console::action::Effect>,
    what: &str,
    done: impl Fn(&countersign::console::state::State) -> bool,
) {
    use countersign::console::action::Effect;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !done(state) {
        let action = tokio::time::timeout_at(deadline, actions.recv())
            .await
            .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
            .expect("link running");
        for effect in countersign::console::update(state, action, chrono::Utc::now()) {
            if !matches!(effect, Effect::Notify { .. }) {
                effects.send(effect).expect("effects open");
            }
        }
    }
}

/// A console's state, the link's actions into it, and its effects out to the link.
pub type LiveConsole = (
    countersign::console::state::State,
    tokio::sync::mpsc::UnboundedReceiver<countersign::console::action::Action>,
    tokio::sync::mpsc::UnboundedSender<countersign::console::action::Effect>,
);

/// A console for `user` on the broker, through its real link (desktop notices
/// off), sized 160×40, once it has listed and is live.
pub async fn live_console(broker: &TestBroker, user: &str) -> LiveConsole {
    use countersign::console::{keymap::Keymap, link, state, theme::Theme};
    let client = countersign::client::Client::new(&countersign::client::Connection {
        broker: broker.url.clone(),
        token: broker.token(user).to_string(),
        ca_pem: None,
    })
    .expect("client");
    let (action_tx, mut actions) = tokio::sync::mpsc::unbounded_channel();
    let (effects, effect_rx) = tokio::sync::mpsc::unbounded_channel();
    let notify = link::NotifyPolicy {
        enabled: false,
        urgent_only: false,
    };
    link::spawn(client, action_tx, effect_rx, notify);
    let mut state = state::State::new(broker.url.clone(), Keymap::default(), Theme::no_color());
    countersign::console::update(
        &mut state,
        countersign::console::action::Action::Resize {
            width: 160,
            height: 40,
        },
        chrono::Utc::now(),
    );
    until(&mut state, &mut actions, &effects, "the listing", |s| {
        s.loaded && s.connection == state::Connection::Live && s.whoami.is_some()
    })
    .await;
    (state, actions, effects)
}

/// Runs a command and hands its effects to the link.
pub fn press(
    state: &mut countersign::console::state::State,
    effects: &tokio::sync::mpsc::UnboundedSender<countersign::console::action::Effect>,
    command: countersign::console::keymap::Command,
) {
    let action = countersign::console::action::Action::Command(command);
    for effect in countersign::console::update(state, action, chrono::Utc::now()) {
        effects.send(effect).expect("effects open");
    }
}
