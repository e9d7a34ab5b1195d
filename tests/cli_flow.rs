//! The runbook's CLI flow against a real broker, with the real binary: create with a
//! reason, list what is pending, review with a reason, see the state change; and
//! `request create` waiting on the event stream until the outcome.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{BIN, TestBroker};

const INCIDENT_REASON: &str =
    "Investigating error spike on merchants-guild-app-02, see incident #47";

/// The binary as `user`, with only the environment pointing it at the broker.
fn cli(broker: &TestBroker, user: &str) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env("COUNTERSIGN_BROKER", &broker.url)
        .env("COUNTERSIGN_TOKEN", broker.token(user))
        .env_remove("COUNTERSIGN_CONFIG")
        // Keep any config file of the person running the tests out of it.
        .env("XDG_CONFIG_HOME", broker.dir.path())
        .env("HOME", broker.dir.path())
        .stdin(Stdio::null());
    cmd
}

fn run(broker: &TestBroker, user: &str, args: &[&str]) -> Output {
    cli(broker, user)
        .args(args)
        .output()
        .expect("run countersign")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).to_string()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

/// Runs and insists on success; returns stdout.
fn ok(broker: &TestBroker, user: &str, args: &[&str]) -> String {
    let out = run(broker, user, args);
    assert!(
        out.status.success(),
        "countersign {args:?} as {user} failed ({:?}):\n{}{}",
        out.status.code(),
        stdout(&out),
        stderr(&out)
    );
    stdout(&out)
}

/// The full request id in a "Request <id> created" line.
fn created_id(text: &str) -> String {
    text.split_whitespace()
        .skip_while(|w| *w != "Request")
        .nth(1)
        .filter(|w| w.len() == 36)
        .unwrap_or_else(|| panic!("no request id in {text:?}"))
        .to_string()
}

fn short(id: &str) -> String {
    id.replace('-', "")[24..].to_string()
}

fn create_nowait(broker: &TestBroker, user: &str, roles: &str, reason: &str) -> String {
    let out = ok(
        broker,
        user,
        &[
            "request", "create", "--roles", roles, "--reason", reason, "--nowait",
        ],
    );
    created_id(&out)
}

#[test]
fn runbook_flow_create_list_review_show() {
    let broker = TestBroker::start();
    let id = create_nowait(&broker, "alice", "production-access", INCIDENT_REASON);

    // The reviewer sees it pending, with requester, role, votes and reason.
    let table = ok(&broker, "carrot", &["request", "ls", "--state", "pending"]);
    let row = table
        .lines()
        .find(|line| line.starts_with(&short(&id)))
        .unwrap_or_else(|| panic!("{id} not listed:\n{table}"));
    for expected in [
        "alice",
        "production-access",
        "pending",
        "0/1",
        "incident #47",
    ] {
        assert!(row.contains(expected), "{expected:?} missing from {row:?}");
    }

    // JSON is the API's own shape.
    let json: serde_json::Value = serde_json::from_str(&ok(
        &broker,
        "carrot",
        &["request", "ls", "--format", "json"],
    ))
    .expect("ls --format json is JSON");
    let listed: Vec<&str> = json["requests"]
        .as_array()
        .expect("requests array")
        .iter()
        .filter_map(|r| r["id"].as_str())
        .collect();
    assert!(listed.contains(&id.as_str()), "{json}");

    // The requester cannot countersign her own request.
    let own = run(
        &broker,
        "alice",
        &[
            "request",
            "review",
            &id,
            "--approve",
            "--reason",
            "trust me",
        ],
    );
    assert!(!own.status.success());
    assert!(stderr(&own).contains("self_review"), "{}", stderr(&own));

    // A blank reason never leaves the machine.
    let blank = run(
        &broker,
        "carrot",
        &["request", "review", &id, "--approve", "--reason", "   "],
    );
    assert!(!blank.status.success());
    assert!(stderr(&blank).contains("blank"), "{}", stderr(&blank));

    // Review by the short id shown in the table.
    let reviewed = ok(
        &broker,
        "carrot",
        &[
            "request",
            "review",
            &short(&id),
            "--approve",
            "--reason",
            "Confirmed incident #47, approved",
        ],
    );
    assert!(reviewed.contains("now approved"), "{reviewed}");

    let shown = ok(&broker, "alice", &["request", "show", &id]);
    for expected in [
        "approved",
        "carrot approved",
        "Confirmed incident #47, approved",
        INCIDENT_REASON,
        "Access",
    ] {
        assert!(
            shown.contains(expected),
            "{expected:?} missing from:\n{shown}"
        );
    }
    let pending = ok(&broker, "carrot", &["request", "ls", "--state", "pending"]);
    assert!(!pending.contains(&short(&id)), "{pending}");

    // A second review of a decided request is refused with its code.
    let late = run(
        &broker,
        "adora",
        &["request", "review", &id, "--deny", "--reason", "too late"],
    );
    assert!(!late.status.success());
    assert!(stderr(&late).contains("not_pending"), "{}", stderr(&late));

    // The requester gives it back early.
    let returned = ok(&broker, "alice", &["request", "return", &id]);
    assert!(returned.contains("now returned"), "{returned}");
}

#[test]
fn whoami_withdraw_and_errors() {
    let broker = TestBroker::start();
    let me = ok(&broker, "alice", &["whoami"]);
    assert!(me.contains("alice"), "{me}");
    assert!(me.contains("production-access"), "{me}");
    assert!(me.contains("required"), "{me}");
    assert!(me.contains("Name the incident or ticket"), "{me}");

    let id = create_nowait(&broker, "alice", "production-access", "ticket OPS-9");
    let withdrawn = ok(&broker, "alice", &["request", "withdraw", &id]);
    assert!(withdrawn.contains("now withdrawn"), "{withdrawn}");

    let refused = run(
        &broker,
        "alice",
        &[
            "request", "create", "--roles", "admin", "--reason", "why not", "--nowait",
        ],
    );
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("the broker refused"),
        "{}",
        stderr(&refused)
    );

    let reasonless = run(
        &broker,
        "alice",
        &[
            "request",
            "create",
            "--roles",
            "production-access",
            "--nowait",
        ],
    );
    assert!(!reasonless.status.success());
    let text = stderr(&reasonless);
    assert!(text.contains("reason_required"), "{text}");
    assert!(text.contains("--reason"), "{text}");

    let mut bad_token = cli(&broker, "alice");
    let out = bad_token
        .env("COUNTERSIGN_TOKEN", "not-a-token")
        .args(["whoami"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(stderr(&out).contains("unauthenticated"), "{}", stderr(&out));
}

#[test]
fn broker_strings_are_inert_on_the_terminal() {
    let broker = TestBroker::start();
    let reason = "incident #47 \u{1b}]0;pwned\u{7}\u{1b}[2J \u{202e}txt.exe";
    let id = create_nowait(&broker, "alice", "production-access", reason);
    for args in [vec!["request", "ls"], vec!["request", "show", id.as_str()]] {
        let out = ok(&broker, "carrot", &args);
        assert!(!out.contains('\u{1b}'), "raw ESC in {args:?}: {out:?}");
        assert!(!out.contains('\u{202e}'), "raw bidi override in {args:?}");
        assert!(out.contains("\\x1b]0;pwned\\x07"), "{out}");
        assert!(out.contains("\\u{202e}"), "{out}");
    }
}

/// A running `request create` whose stdout lines arrive on a channel.
struct Waiting {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Waiting {
    fn start(broker: &TestBroker, user: &str, roles: &str, reason: &str) -> Waiting {
        let mut child = cli(broker, user)
            .args(["request", "create", "--roles", roles, "--reason", reason])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn request create");
        let out = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Waiting {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for a line containing `text` and returns it.
    fn expect(&mut self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(text) {
                        return line;
                    }
                }
                Err(_) => break,
            }
        }
        panic!("no line with {text:?}; got so far: {:#?}", self.seen);
    }

    fn exit_code(mut self) -> Option<i32> {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        panic!("request create did not exit; output: {:#?}", self.seen);
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn create_waits_prints_the_review_and_exits_0_on_approval() {
    let broker = TestBroker::start();
    let mut waiting = Waiting::start(&broker, "alice", "production-access", INCIDENT_REASON);
    let id = created_id(&waiting.expect("waiting for reviews"));
    assert!(waiting.seen[0].contains("Ctrl-C"), "{:?}", waiting.seen);

    ok(
        &broker,
        "carrot",
        &[
            "request",
            "review",
            &id,
            "--approve",
            "--reason",
            "Confirmed incident #47, approved",
        ],
    );
    let review = waiting.expect("carrot approved");
    assert!(
        review.contains("Confirmed incident #47, approved"),
        "{review}"
    );
    let outcome = waiting.expect("Approved:");
    assert!(outcome.contains("production-access granted"), "{outcome}");
    assert!(outcome.contains("until"), "{outcome}");
    assert_eq!(waiting.exit_code(), Some(0));
}

#[test]
fn create_waits_through_two_reviews_and_exits_non_zero_on_denial() {
    let broker = TestBroker::start();
    let mut waiting = Waiting::start(
        &broker,
        "alice",
        "production-db-access",
        "Slow queries on the ledger, ticket OPS-9",
    );
    let id = created_id(&waiting.expect("waiting for reviews"));
    ok(
        &broker,
        "carrot",
        &[
            "request",
            "review",
            &id,
            "--approve",
            "--reason",
            "fine by me",
        ],
    );
    waiting.expect("carrot approved: fine by me");
    ok(
        &broker,
        "dora",
        &[
            "request",
            "review",
            &id,
            "--deny",
            "--reason",
            "use the read replica",
        ],
    );
    waiting.expect("dora denied: use the read replica");
    let outcome = waiting.expect("Denied");
    assert!(outcome.contains("dora"), "{outcome}");
    assert_eq!(waiting.exit_code(), Some(2));
}

#[test]
fn create_keeps_waiting_across_a_broker_restart() {
    let mut broker = TestBroker::start();
    let mut waiting = Waiting::start(&broker, "alice", "production-access", INCIDENT_REASON);
    let id = created_id(&waiting.expect("waiting for reviews"));
    broker.restart();
    ok(
        &broker,
        "carrot",
        &[
            "request",
            "review",
            &id,
            "--approve",
            "--reason",
            "approved after the restart",
        ],
    );
    waiting.expect("carrot approved: approved after the restart");
    waiting.expect("Approved:");
    assert_eq!(waiting.exit_code(), Some(0));
}

#[test]
fn override_and_post_incident_review() {
    let broker = TestBroker::start();
    let id = create_nowait(
        &broker,
        "bob",
        "production-access",
        "deploy hotfix, ticket OPS-12",
    );
    let resolved = ok(
        &broker,
        "vetinari",
        &[
            "request",
            "resolve",
            &id,
            "--deny",
            "--reason",
            "raise it in the change meeting",
        ],
    );
    assert!(resolved.contains("Resolved by override"), "{resolved}");
    assert!(resolved.contains("now denied"), "{resolved}");
    let shown = ok(&broker, "bob", &["request", "show", &id]);
    assert!(shown.contains("by override by vetinari"), "{shown}");
    assert!(shown.contains("raise it in the change meeting"), "{shown}");

    let id = create_nowait(
        &broker,
        "alice",
        "production-access",
        "EMERGENCY: merchants-guild-app-02 down, incident #48",
    );
    let listed = ok(&broker, "carrot", &["request", "ls", "--state", "pending"]);
    assert!(
        listed.contains("pending !"),
        "emergency flag missing:\n{listed}"
    );
    ok(
        &broker,
        "carrot",
        &[
            "request",
            "review",
            &id,
            "--approve",
            "--reason",
            "called me, confirmed",
        ],
    );
    let owed = ok(&broker, "alice", &["request", "show", &id]);
    assert!(owed.contains("EMERGENCY"), "{owed}");
    assert!(owed.contains("owed"), "{owed}");
    let recorded = ok(
        &broker,
        "adora",
        &[
            "request",
            "post-incident-review",
            &id,
            "--outcome",
            "justified",
            "--notes",
            "outage confirmed by the postmortem",
        ],
    );
    assert!(
        recorded.contains("Post-incident review recorded"),
        "{recorded}"
    );
    let shown = ok(
        &broker,
        "alice",
        &["request", "show", &id, "--format", "json"],
    );
    let json: serde_json::Value = serde_json::from_str(&shown).expect("show --format json");
    assert_eq!(
        json["post_incident_review"]["outcome"], "justified",
        "{json}"
    );
    assert_eq!(json["post_incident_review"]["author"], "adora", "{json}");
}
