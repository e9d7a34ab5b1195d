//! The console end to end: the real binary in a real terminal (tmux) against a real
//! broker. A request made through the API shows up in the queue, a blank review
//! reason is refused, a typed one approves, and the console goes offline when the
//! broker dies and live again (with the new request) when it comes back. In the
//! Audit tab, findings made from a history built through the API are marked
//! reviewed (a blank note refused first), opened on their request's audit history,
//! re-sorted, and an emergency's post-incident review is recorded.

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use common::TestBroker;
use serde_json::{Value, json};

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

/// Starts the real console as `user` against the broker, in a tmux server of its
/// own (`name` tells the tests' servers apart when they share a process). No
/// desktop notifications, and nothing from the user's own console.toml: the
/// returned directory is the console's home, kept alive as long as the console.
fn start_console(b: &TestBroker, user: &str, name: &str) -> (Tmux, tempfile::TempDir) {
    let home = tempfile::tempdir().expect("tempdir");
    let config = home.path().join("console.toml");
    std::fs::write(&config, "[notifications]\nenabled = false\n").expect("write console.toml");
    let env = [
        ("COUNTERSIGN_BROKER", b.url.clone()),
        ("COUNTERSIGN_TOKEN", b.token(user).to_string()),
        ("COUNTERSIGN_CONFIG", path(&config)),
        ("HOME", path(home.path())),
        ("XDG_CONFIG_HOME", path(home.path())),
        ("NO_COLOR", "1".to_string()),
    ];
    let socket = format!("countersign-e2e-{name}-{}", std::process::id());
    let command = format!("{} console", shell_quote(common::BIN));
    (Tmux::start(socket, &env, &command), home)
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
    let (tmux, _home) = start_console(&b, "carrot", "queue");

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

/// The restart gap, as an incident responder met it: a console that saw no event
/// before the broker went away shows what happened right after the restart (a new
/// request, an approval) without `r`, and says "live" only with it on screen.
#[tokio::test]
async fn console_catches_up_after_a_restart_it_saw_no_event_before() {
    require_tmux();
    let mut b = TestBroker::start();
    let waiting = b
        .create("bob", &["production-access"], "hotfix for ticket #4711")
        .await;
    let (tmux, _home) = start_console(&b, "carrot", "restart");
    tmux.wait_for("the waiting request, live", |s| {
        listed(s, &waiting, "bob", "hotfix for ticket #4711") && status_bar(s).contains("● live")
    })
    .await;

    b.kill();
    tmux.wait_for("offline in the status bar", |s| {
        status_bar(s).contains("○ offline")
    })
    .await;
    b.restart();
    let fresh = b
        .create("bob", &["production-access"], "rollback for ticket #4712")
        .await;
    let (status, body) = b
        .review("adora", &waiting, "approve", "checked ticket #4711")
        .await;
    assert_eq!(status, 200, "{body}");

    let screen = tmux
        .wait_for(
            "the new request listed and the approved one gone, live",
            |s| {
                listed(s, &fresh, "bob", "rollback for ticket #4712")
                    && !listed(s, &waiting, "bob", "hotfix for ticket #4711")
                    && status_bar(s).contains("● live")
            },
        )
        .await;
    assert!(status_bar(&screen).contains("1 pending"), "{screen}");
}

/// The help overlay at 80×24, as a new approver met it: it scrolls to its last
/// line with End, and the hint bar keeps `? help` and `q quit` in view.
#[tokio::test]
async fn help_scrolls_at_80x24_and_the_footer_keeps_help_and_quit() {
    require_tmux();
    let b = TestBroker::start();
    b.create("bob", &["production-access"], "hotfix for ticket #4711")
        .await;
    let (tmux, _home) = start_console(&b, "carrot", "help");
    tmux.wait_for("live", |s| status_bar(s).contains("● live"))
        .await;
    let out = tmux.run(&["resize-window", "-t", "0", "-x", "80", "-y", "24"]);
    assert!(out.status.success(), "tmux resize-window failed");
    let screen = tmux
        .wait_for("the queue at 80 columns", |s| {
            s.lines().all(|l| l.chars().count() <= 80) && s.contains("countersign")
        })
        .await;
    let hints = screen
        .lines()
        .rfind(|l| !l.trim().is_empty())
        .unwrap_or_default();
    assert!(
        hints.contains("? help") && hints.contains("q quit"),
        "the footer at 80 columns:\n{screen}"
    );
    tmux.keys(&["?"]);
    tmux.wait_for("the help overlay, scrollable", |s| {
        s.contains("Keys (? or Esc closes)") && s.contains("lines 1–")
    })
    .await;
    tmux.keys(&["End"]);
    tmux.wait_for("the end of help: the flag legend", |s| {
        s.contains("+ new  ● marked") && s.contains("In the demo's environment panel")
    })
    .await;
    tmux.keys(&["Escape"]);
    tmux.wait_for("help closed", |s| !s.contains("Keys (? or Esc closes)"))
        .await;
}

/// The findings table's side of a screen line: the detail pane is right of `││`.
fn table_side(line: &str) -> &str {
    line.split("││").next().unwrap_or(line)
}

/// The screen line of the Audit table's row for the finding of `kind` on request `id`.
fn finding_line(screen: &str, kind: &str, id: &str) -> Option<usize> {
    screen.lines().position(|l| {
        let row = table_side(l);
        row.contains(&format!(" {kind} ")) && row.contains(short(id))
    })
}

/// The screen line of the selected row (the one with the selection symbol).
fn selected_line(screen: &str) -> Option<usize> {
    screen.lines().position(|l| table_side(l).contains("▶ "))
}

/// The selected row of the Audit table, table side only.
fn selected_row(screen: &str) -> &str {
    selected_line(screen)
        .and_then(|i| screen.lines().nth(i))
        .map(table_side)
        .unwrap_or_default()
}

/// Moves the Audit tab's selection (j/k, one row at a time, each move seen on
/// screen before the next) onto the finding of `kind` on request `id`.
async fn select_finding(tmux: &Tmux, kind: &str, id: &str) -> String {
    for _ in 0..50 {
        let what = format!("the {kind} finding on {} and the selection", short(id));
        let screen = tmux
            .wait_for(&what, |s| {
                finding_line(s, kind, id).is_some() && selected_line(s).is_some()
            })
            .await;
        let (target, at) = (
            finding_line(&screen, kind, id).unwrap(),
            selected_line(&screen).unwrap(),
        );
        if target == at {
            return screen;
        }
        tmux.keys(&[if target > at { "j" } else { "k" }]);
        tmux.wait_for("the selection to move", |s| {
            selected_line(s).is_some_and(|line| line != at)
        })
        .await;
    }
    panic!(
        "could not select the {kind} finding on {}; the screen:\n{}",
        short(id),
        tmux.screen()
    );
}

/// Polls the broker until `probe` says done (`Ok`); fails with its last answer
/// (`Err`) and the screen otherwise.
async fn broker_until<T>(tmux: &Tmux, what: &str, probe: impl AsyncFn() -> Result<T, Value>) -> T {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match probe().await {
            Ok(done) => return done,
            Err(last) if tokio::time::Instant::now() >= deadline => panic!(
                "timed out after {WAIT:?} waiting for {what}; the broker said: {last}\nthe screen:\n{}",
                tmux.screen()
            ),
            Err(_) => tokio::time::sleep(STEP).await,
        }
    }
}

async fn findings(b: &TestBroker, user: &str) -> Vec<Value> {
    let (status, report) = b.get(user, "/v1/audit/findings").await;
    assert_eq!(status, 200, "findings: {report}");
    report["findings"].as_array().expect("findings").clone()
}

fn find<'a>(findings: &'a [Value], kind: &str, id: &str) -> Option<&'a Value> {
    findings
        .iter()
        .find(|f| f["kind"] == kind && f["request_id"] == id)
}

async fn finding_reviewed_events(b: &TestBroker, user: &str) -> Vec<Value> {
    let (status, body) = b
        .get(user, "/v1/audit/events?type=audit.finding_reviewed")
        .await;
    assert_eq!(status, 200, "events: {body}");
    body["events"].as_array().expect("events").clone()
}

#[tokio::test]
async fn console_audit_tab_marks_findings_opens_their_history_and_records_a_post_incident_review() {
    require_tmux();
    // A short emergency deadline, so an approved emergency owes its post-incident
    // review (an emergency_unreviewed finding) a second after its approval.
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("broker.toml");
    std::fs::write(&config, "[audit]\nemergency_review_due = \"1s\"\n").expect("broker.toml");
    // The console's user reads and marks the audit log (auditor: event list and
    // update) and reviews production access, so it may record post-incident reviews.
    let b = TestBroker::start_with(
        &[("ridcully", "auditor,reviewer")],
        &["--config", path(&config).as_str()],
    );

    // 1. A history through the API: approved seconds after it was asked for
    // (fast_approval), a reason without a ticket (no_ticket), and an emergency
    // approved and not reviewed afterwards (emergency_unreviewed).
    let fast = b
        .create("bob", &["production-access"], "incident #47")
        .await;
    let (status, body) = b.review("carrot", &fast, "approve", "ok").await;
    assert_eq!(status, 200, "approve {fast}: {body}");
    let vague = b
        .create("alice", &["production-access"], "need to look at something")
        .await;
    let emergency = b
        .create(
            "alice",
            &["production-access"],
            "EMERGENCY: INC-9 payments down",
        )
        .await;
    let (status, body) = b
        .review("adora", &emergency, "approve", "confirmed by phone")
        .await;
    assert_eq!(status, 200, "approve {emergency}: {body}");

    let (tmux, _home) = start_console(&b, "ridcully", "audit");
    // The broker shows every finding before the console loads them (the emergency's
    // once its one-second deadline has passed).
    broker_until(&tmux, "the findings from the broker", async || {
        let all = findings(&b, "ridcully").await;
        let shown = find(&all, "fast_approval", &fast).is_some()
            && find(&all, "no_ticket", &vague).is_some()
            && find(&all, "emergency_unreviewed", &emergency).is_some();
        if shown { Ok(()) } else { Err(json!(all)) }
    })
    .await;

    // 2. The Audit tab (the fourth) shows them.
    tmux.wait_for("the console live", |s| status_bar(s).contains("● live"))
        .await;
    tmux.keys(&["Tab", "Tab", "Tab"]);
    tmux.wait_for("the findings in the Audit tab", |s| {
        s.contains("Audit · findings")
            && s.contains("sorted by severity")
            && finding_line(s, "fast_approval", &fast).is_some()
            && finding_line(s, "no_ticket", &vague).is_some()
            && finding_line(s, "emergency_unreviewed", &emergency).is_some()
    })
    .await;

    // 3. Marking carrot's fast approval reviewed: a blank note is refused, in the
    // dialog and before the broker.
    select_finding(&tmux, "fast_approval", &fast).await;
    tmux.wait_for("the detail pane on the unreviewed finding", |s| {
        s.contains("approved by carrot") && s.contains("not reviewed yet")
    })
    .await;
    tmux.keys(&["m"]);
    let title = "Mark finding reviewed";
    tmux.wait_for("the mark dialog", |s| {
        s.contains(title) && s.contains(&format!("request {} by bob", short(&fast)))
    })
    .await;
    tmux.keys(&["C-s"]);
    let screen = tmux
        .wait_for("the blank note refused", |s| {
            s.contains("a note is required")
        })
        .await;
    assert!(screen.contains(title), "the dialog closed:\n{screen}");
    let marks = finding_reviewed_events(&b, "ridcully").await;
    assert!(
        marks.is_empty(),
        "a blank note reached the broker: {marks:?}"
    );

    // A typed note marks it, as ridcully, with that note.
    let note = "asked carrot: pre-arranged for the release";
    tmux.type_text(note);
    tmux.wait_for("the note typed", |s| s.contains(note)).await;
    tmux.keys(&["C-s"]);
    // The screen says so (first: the status bar's confirmation lasts ten seconds):
    // the dialog is gone, the row and the detail pane show the mark on the same
    // (still selected) finding, and the status bar confirms it.
    tmux.wait_for("the finding shown reviewed, still selected", |s| {
        let row = selected_row(s);
        !s.contains(title)
            && status_bar(s).contains(&format!("marked fast_approval on {}", short(&fast)))
            && row.contains(short(&fast))
            && row.contains("✓")
            && s.contains("✓ reviewed by ridcully")
    })
    .await;
    // And the broker has it.
    let marks = broker_until(&tmux, "the mark in the audit log", async || {
        let marks = finding_reviewed_events(&b, "ridcully").await;
        if marks.is_empty() {
            Err(json!(marks))
        } else {
            Ok(marks)
        }
    })
    .await;
    assert_eq!(marks.len(), 1, "{marks:?}");
    assert_eq!(marks[0]["user"], "ridcully", "{marks:?}");
    let all = findings(&b, "ridcully").await;
    let marked = find(&all, "fast_approval", &fast).expect("the fast_approval finding");
    assert_eq!(marked["reviewer"], "carrot", "{marked}");
    assert_eq!(marked["reviewed"]["by"], "ridcully", "{marked}");
    assert_eq!(marked["reviewed"]["note"], note, "{marked}");

    // 4. Enter opens the finding's request with its audit history; Esc goes back
    // to the tab as it was left.
    tmux.keys(&["Enter"]);
    tmux.wait_for("the request's detail and audit history", |s| {
        s.contains(&format!(
            "Request {} · from finding fast_approval",
            short(&fast)
        )) && s.contains("Audit history (")
            && s.contains("access_request.create")
            && s.contains("access_request.review")
            && s.contains("incident #47")
    })
    .await;
    tmux.keys(&["Escape"]);
    tmux.wait_for("back in the Audit tab on the same finding", |s| {
        !s.contains("Audit history (")
            && s.contains("Audit · findings")
            && selected_row(s).contains("fast_approval")
            && selected_row(s).contains(short(&fast))
    })
    .await;

    // s groups the findings by kind, under a heading per kind; the selection stays.
    tmux.keys(&["s"]);
    tmux.wait_for("the findings grouped by kind", |s| {
        s.contains("grouped by kind")
            && s.lines().any(|l| {
                let row = table_side(l);
                row.contains("fast_approval ─") && row.contains("2 findings")
            })
            && selected_row(s).contains(short(&fast))
    })
    .await;

    // 5. p on the emergency's finding records its post-incident review: without an
    // outcome it is refused, Tab chooses justified, the notes go with it.
    select_finding(&tmux, "emergency_unreviewed", &emergency).await;
    tmux.keys(&["p"]);
    let title = format!("Post-incident review of request {}", short(&emergency));
    tmux.wait_for("the post-incident dialog", |s| s.contains(&title))
        .await;
    tmux.keys(&["C-s"]);
    let screen = tmux
        .wait_for("no outcome refused", |s| {
            s.contains("choose the outcome with Tab")
        })
        .await;
    assert!(screen.contains(&title), "the dialog closed:\n{screen}");
    assert_eq!(
        request(&b, &emergency).await["post_incident_review"],
        Value::Null,
        "a review without an outcome reached the broker"
    );
    tmux.keys(&["Tab"]);
    tmux.wait_for("justified chosen", |s| s.contains("◉ justified"))
        .await;
    let notes = "payments were down; access used only for the INC-9 restart";
    tmux.type_text(notes);
    tmux.wait_for("the notes typed", |s| s.contains(notes))
        .await;
    tmux.keys(&["C-s"]);
    // Confirmed on screen (first, while the status bar says it), and recorded.
    tmux.wait_for("the review confirmed, the dialog closed", |s| {
        !s.contains(&title)
            && status_bar(s).contains(&format!(
                "post-incident review of {} recorded: justified",
                short(&emergency)
            ))
    })
    .await;
    let review = broker_until(&tmux, "the post-incident review recorded", async || {
        let body = request(&b, &emergency).await;
        match &body["post_incident_review"] {
            Value::Null => Err(body),
            review => Ok(review.clone()),
        }
    })
    .await;
    assert_eq!(review["outcome"], "justified", "{review}");
    assert_eq!(review["notes"], notes, "{review}");
    assert_eq!(review["author"], "ridcully", "{review}");
    // It is not owed any more: its finding leaves the tab at once.
    tmux.wait_for("the emergency's finding gone from the tab", |s| {
        finding_line(s, "emergency_unreviewed", &emergency).is_none()
            && s.contains("Audit · findings")
    })
    .await;

    // The broker owes nothing for the emergency any more; r reloads the findings
    // and it is gone, while the earlier mark comes back with its finding.
    let all = findings(&b, "ridcully").await;
    assert!(
        find(&all, "emergency_unreviewed", &emergency).is_none(),
        "still owed after the review: {all:?}"
    );
    tmux.keys(&["r"]);
    tmux.wait_for("the reloaded findings without the emergency's", |s| {
        finding_line(s, "emergency_unreviewed", &emergency).is_none()
            && s.contains("Audit · findings")
            && s.lines().any(|l| {
                let row = table_side(l);
                row.contains(" fast_approval ") && row.contains(short(&fast)) && row.contains("✓")
            })
    })
    .await;
}

fn path(p: &Path) -> String {
    p.to_str().expect("UTF-8 temp path").to_string()
}
