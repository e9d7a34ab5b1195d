//! The console on a broker holding a million requests:
//!
//!   COUNTERSIGN_BENCH_DIR=/tmp/csconsole cargo bench --bench console_scale
//!
//! Fills a store through its own write path with 1,000,000 requests (1,000
//! pending, 500 with access open, the rest resolved over a year; the directory is
//! kept for later runs when COUNTERSIGN_BENCH_DIR names one), starts the real
//! broker on it, then runs the console's real link and state (everything but the
//! terminal: frames are drawn into a TestBackend) in a child process, three times.
//! Each child prints how long it took from start to a drawn, live queue, then
//! scrolls History to the end of five more pages, and reads its own resident
//! memory (VmRSS) and peak (VmHWM). Then it applies two History filters the broker
//! searches (`q=`: one matching a request in 17, one matching none, which reads
//! every request) and opens the Audit tab, timing each answer. Targets: queue
//! < 1 s, RSS < 60 MB.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::TimeDelta;
use countersign::broker::store::{EventDraft, SqliteStore, Store};
use countersign::model::{Access, EventType, Request, State, Threshold};

const BIN: &str = env!("CARGO_BIN_EXE_countersign");
/// How many requests the store holds (COUNTERSIGN_CONSOLE_BENCH_REQUESTS for a
/// smaller smoke run).
const REQUESTS: usize = 1_000_000;
const PENDING: usize = 1_000;
const OPEN: usize = 500;
const THREADS: usize = 128;
const USERS: [&str; 8] = [
    "angua",
    "ponder",
    "detritus",
    "cheery",
    "rincewind",
    "igor",
    "nobby",
    "colon",
];
const ENDS: [State; 5] = [
    State::Denied,
    State::Returned,
    State::Elapsed,
    State::Expired,
    State::Withdrawn,
];

fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

fn total() -> usize {
    std::env::var("COUNTERSIGN_CONSOLE_BENCH_REQUESTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(REQUESTS)
}

fn request(i: usize, total: usize, now: chrono::DateTime<chrono::Utc>) -> Request {
    let year = TimeDelta::days(365).num_seconds();
    // Oldest first, so that the newest ids are the live ones.
    let created = now - TimeDelta::seconds(year - year * i as i64 / total as i64);
    let state = if i >= total - PENDING {
        State::Pending
    } else if i >= total - PENDING - OPEN {
        State::Approved
    } else {
        ENDS[i % ENDS.len()]
    };
    let given = matches!(state, State::Approved | State::Returned | State::Elapsed);
    let access = given.then(|| Access {
        starts_at: created + TimeDelta::minutes(3),
        ends_at: if state == State::Approved {
            now + TimeDelta::hours(2)
        } else {
            created + TimeDelta::hours(1)
        },
        returned_at: (state == State::Returned).then(|| created + TimeDelta::minutes(30)),
    });
    Request {
        id: uuid::Uuid::now_v7(),
        user: USERS[i % USERS.len()].into(),
        roles: vec!["production-access".into()],
        granted_roles: if given {
            vec!["production-access".into()]
        } else {
            Vec::new()
        },
        state,
        emergency: i.is_multiple_of(997),
        reason: format!(
            "Deploy hotfix for OPS-{i}, merchants-guild-app-{:02}",
            i % 17
        ),
        created_at: created,
        pending_expires_at: if state == State::Pending {
            now + TimeDelta::hours(20)
        } else {
            created + TimeDelta::hours(24)
        },
        max_duration: None,
        estimate: None,
        access,
        thresholds: vec![Threshold::default()],
        role_thresholds: BTreeMap::from([("production-access".into(), vec![vec![0]])]),
        reviews: Vec::new(),
        resolved_at: (state != State::Pending).then(|| created + TimeDelta::minutes(3)),
        resolve_reason: None,
        resolved_by: None,
        suggested_reviewers: Vec::new(),
        annotations: BTreeMap::new(),
        requester_annotations: BTreeMap::new(),
        request_prompt: None,
        post_incident_review: None,
    }
}

fn admin(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(BIN)
        .arg("admin")
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .output()
        .expect("countersign admin");
    assert!(
        out.status.success(),
        "admin {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The store with its million requests, and carrot's token (rotated each run).
fn prepare(dir: &Path) -> String {
    let roles = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/roles.yaml");
    let filled = dir.join("filled");
    if !filled.exists() {
        admin(dir, &["roles", "apply", roles.to_str().expect("path")]);
        admin(
            dir,
            &["users", "add", "carrot", "--roles", "reviewer,auditor"],
        );
        let store = Arc::new(SqliteStore::open(dir).expect("store"));
        let now = chrono::Utc::now();
        let total = total();
        let started = Instant::now();
        std::thread::scope(|scope| {
            for t in 0..THREADS {
                let store = store.clone();
                scope.spawn(move || {
                    // Each thread takes a contiguous run, so ids stay in age order
                    // within it; the listing's order is by id, as the broker's is.
                    let per = total.div_ceil(THREADS);
                    for i in t * per..((t + 1) * per).min(total) {
                        let request = request(i, total, now);
                        let user = request.user.clone();
                        store
                            .create_request(request, EventDraft::new(EventType::Create, &user, now))
                            .expect("create");
                    }
                });
            }
        });
        eprintln!(
            "filled {total} requests in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        store.close();
        std::fs::write(&filled, b"").expect("mark filled");
    }
    admin(dir, &["tokens", "rotate", "carrot"])
        .lines()
        .last()
        .expect("token")
        .to_string()
}

fn broker(dir: &Path) -> (Child, String) {
    let mut child = Command::new(BIN)
        .args(["broker", "--data-dir"])
        .arg(dir)
        .args(["--listen", "127.0.0.1:0"])
        .env("COUNTERSIGN_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .expect("broker");
    let mut banner = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut banner)
        .expect("banner");
    let url = banner
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .expect("url in banner")
        .to_string();
    (child, url)
}

/// The console without its terminal: the real link and state, frames drawn into
/// a TestBackend. Prints one line of figures.
fn child(url: String, token: String) {
    use countersign::console::action::{Action, Effect};
    use countersign::console::keymap::{Command as Key, Keymap};
    use countersign::console::link::{self, NotifyPolicy};
    use countersign::console::state::{Connection, State as Console, Tab};
    use countersign::console::theme::Theme;
    use countersign::console::update::update;
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let started = Instant::now();
        let client = countersign::client::Client::new(&countersign::client::Connection {
            broker: url.clone(),
            token,
            ca_pem: None,
        })
        .expect("client");
        let (actions_tx, mut actions) = tokio::sync::mpsc::unbounded_channel();
        let (effects, effects_rx) = tokio::sync::mpsc::unbounded_channel();
        link::spawn(
            client,
            actions_tx,
            effects_rx,
            NotifyPolicy {
                enabled: false,
                urgent_only: false,
            },
        );
        let mut state = Console::new(url, Keymap::default(), Theme::no_color());
        let mut terminal = Terminal::new(TestBackend::new(200, 50)).expect("terminal");
        let apply = |state: &mut Console, action: Action| {
            for effect in update(state, action, chrono::Utc::now()) {
                if !matches!(effect, Effect::Quit | Effect::Copy(_) | Effect::Notify { .. }) {
                    let _ = effects.send(effect);
                }
            }
        };
        apply(
            &mut state,
            Action::Resize {
                width: 200,
                height: 50,
            },
        );
        let deadline = Instant::now() + Duration::from_secs(60);
        while !(state.loaded && state.connection == Connection::Live) {
            let action = tokio::time::timeout(Duration::from_secs(30), actions.recv())
                .await
                .expect("the link answers")
                .expect("the link runs");
            apply(&mut state, action);
            assert!(Instant::now() < deadline, "never live");
        }
        terminal
            .draw(|frame| countersign::console::view::draw(&state, frame, chrono::Utc::now()))
            .expect("draw");
        let queue = started.elapsed();
        let (pending, active, loaded) =
            (state.counts.pending, state.counts.active, state.requests.len());
        let rss_queue = status_kib("VmRSS:");
        // History, scrolled to the end of five more pages.
        apply(&mut state, Action::Command(Key::Tab3));
        let mut pages = 0;
        while pages < 5 && state.older.more() {
            while state.older.loading {
                let action = tokio::time::timeout(Duration::from_secs(30), actions.recv())
                    .await
                    .expect("a page")
                    .expect("the link runs");
                let was = matches!(action, Action::Older(_));
                apply(&mut state, action);
                pages += usize::from(was);
            }
            apply(&mut state, Action::Command(Key::Bottom));
        }
        terminal
            .draw(|frame| countersign::console::view::draw(&state, frame, chrono::Utc::now()))
            .expect("draw");
        assert_eq!(state.tab, Tab::History);
        let all = state.requests.len();
        println!(
            "queue shown live after {queue_ms:.0} ms ({pending} pending, {active} active, {loaded} requests loaded), RSS {queue_mb:.1} MB; after {pages} more History pages ({all} loaded): RSS {now_mb:.1} MB, peak {peak_mb:.1} MB",
            queue_ms = queue.as_secs_f64() * 1000.0,
            queue_mb = rss_queue as f64 / 1024.0,
            now_mb = status_kib("VmRSS:") as f64 / 1024.0,
            peak_mb = status_kib("VmHWM:") as f64 / 1024.0,
        );
        // The History filter searched on the broker: a text in one request of 17,
        // then one in none, which the broker looks for through every request.
        let mut figures = Vec::new();
        for q in ["merchants-guild-app-03", "no such text"] {
            // From the top: the first page of matches, not the walk to their end.
            apply(&mut state, Action::Command(Key::Top));
            apply(&mut state, Action::Command(Key::Filter));
            while state.mode.filter_input().is_some_and(|t| !t.is_empty()) {
                apply(&mut state, Action::FilterBackspace);
            }
            for c in q.chars() {
                apply(&mut state, Action::FilterChar(c));
            }
            let asked = Instant::now();
            apply(&mut state, Action::Command(Key::ApplyFilter));
            apply(&mut state, Action::Command(Key::Top));
            while state.matches.as_ref().is_none_or(|m| m.q != q || m.loading) {
                let action = tokio::time::timeout(Duration::from_secs(60), actions.recv())
                    .await
                    .expect("the search answers")
                    .expect("the link runs");
                apply(&mut state, action);
            }
            figures.push(format!(
                "search {q:?}: {:.0} ms to {} rows (more on the broker: {})",
                asked.elapsed().as_secs_f64() * 1000.0,
                state.rows.len(),
                state.matches.as_ref().is_some_and(|m| m.more())
            ));
        }
        // The Audit tab: its first page of findings.
        apply(&mut state, Action::Command(Key::ClearFilter));
        let asked = Instant::now();
        apply(&mut state, Action::Command(Key::Tab4));
        while state.audit.findings.is_none() || state.audit.loading {
            let action = tokio::time::timeout(Duration::from_secs(60), actions.recv())
                .await
                .expect("the findings")
                .expect("the link runs");
            apply(&mut state, action);
        }
        figures.push(format!(
            "Audit: {} of {} findings after {:.0} ms",
            state.audit.findings.as_ref().map_or(0, Vec::len),
            state.audit.count().unwrap_or(0),
            asked.elapsed().as_secs_f64() * 1000.0
        ));
        println!(
            "  {}; RSS {:.1} MB, peak {:.1} MB",
            figures.join("; "),
            status_kib("VmRSS:") as f64 / 1024.0,
            status_kib("VmHWM:") as f64 / 1024.0,
        );
    });
}

fn main() {
    if let (Ok(url), Ok(token)) = (
        std::env::var("COUNTERSIGN_CONSOLE_BENCH_URL"),
        std::env::var("COUNTERSIGN_CONSOLE_BENCH_TOKEN"),
    ) {
        child(url, token);
        return;
    }
    // `cargo bench` passes --bench; a plain `cargo test --benches` run passes nothing.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let temp;
    let dir = match std::env::var_os("COUNTERSIGN_BENCH_DIR") {
        Some(dir) => {
            std::fs::create_dir_all(&dir).expect("bench dir");
            std::path::PathBuf::from(dir)
        }
        None => {
            temp = tempfile::tempdir().expect("tempdir");
            temp.path().to_path_buf()
        }
    };
    let token = prepare(&dir);
    let (mut broker, url) = broker(&dir);
    let me = std::env::current_exe().expect("this bench");
    for run in 1..=3 {
        let out = Command::new(&me)
            .env("COUNTERSIGN_CONSOLE_BENCH_URL", &url)
            .env("COUNTERSIGN_CONSOLE_BENCH_TOKEN", &token)
            .output()
            .expect("console child");
        assert!(
            out.status.success(),
            "run {run}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        print!("run {run}: {}", String::from_utf8_lossy(&out.stdout));
    }
    let _ = broker.kill();
    let _ = broker.wait();
}
