//! README's "Running it for real", run as written: its commands are read from
//! README.md itself and run in order against a real broker (a temporary data
//! directory for /var/lib/countersign, a free port for 7800, the token of the
//! user each `export` line names). A README that stops working fails here.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_countersign");
const README: &str = include_str!("../README.md");

/// The section's shell commands, continuation lines joined, in order.
fn section_commands(readme: &str, heading: &str) -> Vec<String> {
    let start = readme
        .find(heading)
        .unwrap_or_else(|| panic!("README has no {heading:?}"));
    let rest = &readme[start + heading.len()..];
    let section = &rest[..rest.find("\n## ").unwrap_or(rest.len())];
    let mut commands = Vec::new();
    let mut in_block = false;
    let mut pending = String::new();
    for line in section.lines() {
        if line.trim_start().starts_with("```") {
            in_block = !in_block && line.trim() == "```sh";
            continue;
        }
        if !in_block {
            continue;
        }
        match line.trim_end().strip_suffix('\\') {
            Some(head) => pending.push_str(head),
            None => {
                pending.push_str(line);
                if !pending.trim().is_empty() {
                    commands.push(pending.trim().to_string());
                }
                pending.clear();
            }
        }
    }
    commands
}

/// Splits a shell line into words: quotes group, `#` at a word's start outside
/// quotes begins a comment (returned apart).
fn words(line: &str) -> (Vec<String>, Option<String>) {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut quote: Option<char> = None;
    for (at, c) in line.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.get_or_insert_default().push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                word.get_or_insert_default();
            }
            (None, c) if c.is_whitespace() => words.extend(word.take()),
            (None, '#') if word.is_none() => {
                return (words, Some(line[at + 1..].trim().to_string()));
            }
            (None, c) => word.get_or_insert_default().push(c),
        }
    }
    words.extend(word);
    (words, None)
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

struct Run {
    dir: tempfile::TempDir,
    url: Option<String>,
    broker: Option<Child>,
    tokens: HashMap<String, String>,
    /// The user the last `export` line named.
    as_user: Option<String>,
    /// `request create` as it waits for its outcome, and the ids it created.
    waiting: Vec<(String, Child)>,
    last_id: Option<String>,
}

impl Drop for Run {
    fn drop(&mut self) {
        for (_, child) in &mut self.waiting {
            let _ = child.kill();
        }
        if let Some(broker) = &mut self.broker {
            let _ = broker.kill();
            let _ = broker.wait();
        }
    }
}

impl Run {
    /// The README's words with the example's paths, ports and ids made real.
    fn real(&self, words: &[String]) -> Vec<String> {
        let data_dir = self.dir.path().display().to_string();
        words
            .iter()
            .map(|w| match w.as_str() {
                "/var/lib/countersign" => data_dir.clone(),
                "127.0.0.1:7800" => "127.0.0.1:0".to_string(),
                "<id>" => self.last_id.clone().expect("an id before <id>"),
                _ => w.clone(),
            })
            .collect()
    }

    fn command(&self, args: &[String]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env_remove("COUNTERSIGN_BROKER")
            .env_remove("COUNTERSIGN_TOKEN")
            .env_remove("COUNTERSIGN_CONFIG")
            .env("XDG_CONFIG_HOME", self.dir.path())
            .env("HOME", self.dir.path())
            .env("COUNTERSIGN_LOG", "warn")
            .stdin(Stdio::null());
        if let (Some(url), Some(user)) = (&self.url, &self.as_user) {
            cmd.env("COUNTERSIGN_BROKER", url)
                .env("COUNTERSIGN_TOKEN", &self.tokens[user]);
        }
        cmd
    }

    fn step(&mut self, line: &str) {
        let (words, comment) = words(line);
        let Some(first) = words.first() else { return };
        match first.as_str() {
            "export" => {
                // `# NAME's token` says whose.
                let user = comment
                    .as_deref()
                    .and_then(|c| c.strip_suffix("'s token"))
                    .unwrap_or_else(|| panic!("{line:?} does not say whose token"));
                assert!(
                    self.tokens.contains_key(user),
                    "{user} has no token yet at {line:?}"
                );
                assert!(
                    words.iter().any(|w| w.starts_with("COUNTERSIGN_BROKER=")),
                    "{line:?}"
                );
                self.as_user = Some(user.to_string());
            }
            "countersign" => self.countersign(line, &self.real(&words[1..])),
            other => panic!("README runs {other:?}, which this test does not know: {line:?}"),
        }
    }

    fn countersign(&mut self, line: &str, args: &[String]) {
        let has = |a: &str, b: &str| args.windows(2).any(|w| w[0] == a && w[1] == b);
        if args.first().map(String::as_str) == Some("broker") {
            let mut child = self
                .command(args)
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("start the broker");
            let mut banner = String::new();
            BufReader::new(child.stdout.take().expect("stdout"))
                .read_line(&mut banner)
                .expect("the broker's banner");
            let url = banner
                .split_whitespace()
                .find(|w| w.starts_with("http://"))
                .unwrap_or_else(|| panic!("no URL in {banner:?}"))
                .to_string();
            self.url = Some(url);
            self.broker = Some(child);
            return;
        }
        if has("request", "create") {
            // It waits for the outcome: read on until it names the request.
            let mut child = self
                .command(args)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("request create");
            let stdout = child.stdout.take().expect("stdout");
            let (lines, seen) = mpsc::channel();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    let _ = lines.send(line);
                }
            });
            let id = loop {
                let line = seen
                    .recv_timeout(Duration::from_secs(20))
                    .unwrap_or_else(|_| panic!("{line:?} never said it created the request"));
                let words: Vec<&str> = line.split_whitespace().collect();
                if let Some(at) = words.iter().position(|w| *w == "Request")
                    && let Some(id) = words.get(at + 1)
                    && id.len() == 36
                {
                    break id.to_string();
                }
            };
            self.last_id = Some(id.clone());
            self.waiting.push((id, child));
            return;
        }
        let out = self.command(args).output().expect("run countersign");
        assert!(
            out.status.success(),
            "README's {line:?} failed ({:?}):\n{}",
            out.status.code(),
            text(&out)
        );
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        if has("users", "add") || has("tokens", "rotate") {
            let name = args
                .iter()
                .skip_while(|a| *a != "add" && *a != "rotate")
                .nth(1)
                .expect("a user name")
                .clone();
            let token = stdout.lines().last().expect("a token").trim().to_string();
            self.tokens.insert(name, token);
        }
        if has("request", "ls") {
            let id = self.last_id.clone().expect("a request before ls");
            assert!(
                stdout.contains(&id[id.len() - 8..]),
                "{line:?} does not list {id}:\n{stdout}"
            );
        }
        if has("audit", "events") {
            assert!(stdout.contains("access_request.create"), "{stdout}");
        }
        if has("audit", "findings") {
            assert!(stdout.contains("Findings"), "{stdout}");
        }
        if has("audit", "verify") {
            assert!(stdout.contains("intact"), "{stdout}");
        }
    }
}

#[test]
fn the_readmes_real_setup_runs_as_written() {
    let commands = section_commands(README, "## Running it for real");
    assert!(commands.len() >= 10, "too few commands: {commands:#?}");
    let mut run = Run {
        dir: tempfile::tempdir().expect("tempdir"),
        url: None,
        broker: None,
        tokens: HashMap::new(),
        as_user: None,
        waiting: Vec::new(),
        last_id: None,
    };
    for line in &commands {
        run.step(line);
    }
    assert!(run.broker.is_some(), "the README starts a broker");
    // The waiting `request create` saw its approval: exit code 0.
    for (id, child) in std::mem::take(&mut run.waiting) {
        let out = child.wait_with_output().expect("request create ends");
        assert!(
            out.status.success(),
            "request create for {id} did not end approved: {}",
            text(&out)
        );
    }
    // Every change to a user is in the audit log; set-roles kept ponder's token.
    let carrot = run.tokens["carrot"].clone();
    run.as_user = Some("carrot".into());
    let events = run
        .command(&[
            "audit".into(),
            "events".into(),
            "--format".into(),
            "json".into(),
        ])
        .output()
        .expect("audit events");
    assert!(events.status.success(), "{}", text(&events));
    let events: serde_json::Value = serde_json::from_slice(&events.stdout).expect("json");
    let users: Vec<(String, String)> = events
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["type"].as_str().is_some_and(|t| t.starts_with("user.")))
        .map(|e| {
            (
                e["type"].as_str().unwrap_or_default().to_string(),
                e["subject"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let expected = [
        ("user.create", "carrot"),
        ("user.create", "ponder"),
        ("user.update", "ponder"),
    ]
    .map(|(t, s)| (t.to_string(), s.to_string()));
    assert_eq!(users, expected.to_vec());
    assert!(!carrot.is_empty());
    run.as_user = Some("ponder".into());
    let whoami = run
        .command(&["request".into(), "ls".into()])
        .output()
        .expect("request ls as ponder");
    assert!(
        whoami.status.success(),
        "ponder's token stopped working after set-roles: {}",
        text(&whoami)
    );
    assert!(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("README.md")
            .exists()
    );
}

#[test]
fn words_split_like_a_shell() {
    let (w, c) = words(r#"countersign x --reason "a #47 b" 'c d'   # a comment"#);
    assert_eq!(w, ["countersign", "x", "--reason", "a #47 b", "c d"]);
    assert_eq!(c.as_deref(), Some("a comment"));
    let (w, c) = words("export A=1 B=cs_…");
    assert_eq!(w, ["export", "A=1", "B=cs_…"]);
    assert_eq!(c, None);
}
