//! The console end to end: the real binary in a real terminal (tmux) against a real
//! broker. A request made through the API shows up in the queue, a blank review
//! reason is refused, a typed one approves, and the console goes offline when the
//! broker dies and live again (with the new request) when it comes back.

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use common::TestBroker;
use serde_json::Value;

/// How long to wait for the screen or the broker to show what we expect. Generous:
/// a busy two-core machine builds, runs brokers and draws terminals at once.
const WAIT: Duration = Duration::from_secs(15);
const STEP: Duration = Duration::from_millis(100);

/// A tmux server of our own (its own socket) running the console; killed on drop,
/// so a failing assertion does not leave it behind.
struct Tmux {
    socket: String,
    /// Where the server's socket file is, removed after the server.
    socket_path: Option<String>,
}

impl Tmux {
    fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .env_remove("TMUX")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("run tmux")
    }

    /// Starts the console in a 200×50 window. The command runs under `sh`, which
    /// prints the exit status afterwards and keeps the pane open, so a console
    /// that dies leaves its last words on the screen for the failure message.
    fn start(socket: String, env: &[(&str, String)], command: &str) -> Tmux {
        let mut tmux = Tmux {
            socket,
            socket_path: None,
        };
        let mut args: Vec<String> = ["new-session", "-d", "-x", "200", "-y", "50"]
            .map(String::from)
            .to_vec();
        for (key, value) in env {
            args.push("-e".into());
            args.push(format!("{key}={value}"));
        }
        args.push(format!(
            "{command}; echo \"[console exited with status $?]\"; sleep 600"
        ));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = tmux.run(&args);
        assert!(
            out.status.success(),
            "tmux new-session failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let shown = tmux.run(&["display-message", "-p", "#{socket_path}"]);
        let shown = String::from_utf8_lossy(&shown.stdout).trim().to_string();
        tmux.socket_path = (!shown.is_empty()).then_some(shown);
        tmux
    }

    fn screen(&self) -> String {
        let out = self.run(&["capture-pane", "-p", "-t", "0"]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Keys by tmux name (`a`, `C-s`, `Escape`).
    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "0"];
        args.extend_from_slice(keys);
        let out = self.run(&args);
        assert!(out.status.success(), "tmux send-keys {keys:?} failed");
    }

    /// Text typed as it is, character by character.
    fn type_text(&self, text: &str) {
        let out = self.run(&["send-keys", "-t", "0", "-l", text]);
        assert!(out.status.success(), "tmux send-keys -l {text:?} failed");
    }

    /// Polls the screen until `done` holds; fails with the last screen otherwise.
    async fn wait_for(&self, what: &str, done: impl Fn(&str) -> bool) -> String {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let screen = self.screen();
            if done(&screen) {
                return screen;
            }
            if tokio::time::Instant::now() >= deadline {
                panic!("timed out after {WAIT:?} waiting for {what}; the screen:\n{screen}");
            }
            tokio::time::sleep(STEP).await;
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
        if let Some(path) = &self.socket_path {
            let _ = std::fs::remove_file(path);
        }
    }
}

fn require_tmux() {
    let found = Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|out| out.status.success());
    assert!(
        found,
        "tmux is not installed (or not on PATH): the console end-to-end test drives the \
         real console in tmux; install it (apt-get install tmux, brew install tmux)"
    );
}

/// The status bar: the line above the key hints, at the bottom of the screen.
fn status_bar(screen: &str) -> &str {
    let lines: Vec<&str> = screen.lines().filter(|l| !l.trim().is_empty()).collect();
    lines
        .len()
        .checked_sub(2)
        .map(|i| lines[i])
        .unwrap_or_default()
}

/// The eight characters the console shows for an id.
fn short(id: &str) -> &str {
    &id[id.len() - 8..]
}

/// Whether a queue row shows this request: its short id, requester and reason.
fn listed(screen: &str, id: &str, user: &str, reason: &str) -> bool {
    screen
        .lines()
        .any(|l| l.contains(short(id)) && l.contains(user) && l.contains(reason))
}

fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

async fn request(b: &TestBroker, id: &str) -> Value {
    let (status, body) = b.get("carrot", &format!("/v1/requests/{id}")).await;
    assert_eq!(status, 200, "get {id}: {body}");
    body
}

#[tokio::test]
async fn console_reviews_a_live_queue_and_survives_a_broker_restart() {
    require_tmux();
    let mut b = TestBroker::start();
    let id = b
        .create("bob", &["production-access"], "hotfix for ticket #4711")
        .await;

    // No desktop notifications, and nothing from the user's own console.toml.
    let home = tempfile::tempdir().expect("tempdir");
    let config = home.path().join("console.toml");
    std::fs::write(&config, "[notifications]\nenabled = false\n").expect("write console.toml");
    let env = [
        ("COUNTERSIGN_BROKER", b.url.clone()),
        ("COUNTERSIGN_TOKEN", b.token("carrot").to_string()),
        ("COUNTERSIGN_CONFIG", path(&config)),
        ("HOME", path(home.path())),
        ("XDG_CONFIG_HOME", path(home.path())),
        ("NO_COLOR", "1".to_string()),
    ];
    let socket = format!("countersign-e2e-{}", std::process::id());
    let command = format!("{} console", shell_quote(common::BIN));
    let tmux = Tmux::start(socket, &env, &command);

    // 1. The request bob made through the API is in carrot's queue, and the link is live.
    tmux.wait_for("bob's request in the queue, live", |s| {
        listed(s, &id, "bob", "hotfix for ticket #4711") && status_bar(s).contains("● live")
    })
    .await;

    // 2. Approving with a blank reason is refused: the dialog stays and says why,
    // and nothing reached the broker.
    tmux.keys(&["a"]);
    let title = format!("Approve request {}", short(&id));
    tmux.wait_for("the approve dialog", |s| s.contains(&title))
        .await;
    tmux.keys(&["C-s"]);
    let screen = tmux
        .wait_for("the blank reason refused", |s| {
            s.contains("a reason is required")
        })
        .await;
    assert!(screen.contains(&title), "the dialog closed:\n{screen}");
    assert_eq!(request(&b, &id).await["state"], "pending");

    // 3. A typed reason approves it, as carrot, with that reason.
    let reason = "checked ticket #4711 with bob";
    tmux.type_text(reason);
    tmux.wait_for("the reason typed", |s| s.contains(reason))
        .await;
    tmux.keys(&["C-s"]);
    let deadline = tokio::time::Instant::now() + WAIT;
    let approved = loop {
        let body = request(&b, &id).await;
        if body["state"] == "approved" {
            break body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not approved after {WAIT:?}: {body}\nthe screen:\n{}",
            tmux.screen()
        );
        tokio::time::sleep(STEP).await;
    };
    let reviews = approved["reviews"].as_array().expect("reviews");
    assert_eq!(reviews.len(), 1, "{approved}");
    assert_eq!(reviews[0]["author"], "carrot");
    assert_eq!(reviews[0]["decision"], "approve");
    assert_eq!(reviews[0]["reason"], reason);
    tmux.wait_for("the dialog closed after approving", |s| {
        !s.contains(&title) && status_bar(s).contains(&format!("approved {}", short(&id)))
    })
    .await;

    // 4. The broker dies: the console says offline.
    b.kill();
    tmux.wait_for("offline in the status bar", |s| {
        status_bar(s).contains("○ offline")
    })
    .await;

    // It comes back on the same port; a request made now reaches the console, live.
    b.restart();
    // The harness's HTTP client still pools a keep-alive connection to the killed
    // broker, and a POST is not retried on it (IncompleteMessage): start afresh.
    b.http = reqwest::Client::new();
    let second = b
        .create("bob", &["production-access"], "rollback for ticket #4712")
        .await;
    tmux.wait_for("the new request after the restart, live", |s| {
        listed(s, &second, "bob", "rollback for ticket #4712") && status_bar(s).contains("● live")
    })
    .await;
}

fn path(p: &Path) -> String {
    p.to_str().expect("UTF-8 temp path").to_string()
}
