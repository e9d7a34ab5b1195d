//! What notifications cost the broker, printed as figures for BENCHMARKS.md:
//!
//!   cargo bench --bench notify
//!
//! Request creations per second through the HTTP API (32 clients) on a broker with
//! no sinks and on one with three (mail to a real SMTP server, Python's aiosmtpd;
//! Slack and a signed webhook to a loopback HTTP receiver), alternated in one run;
//! and how long the outbox takes to deliver everything a burst of creates owed.
//! A plain program: whole-system figures, not micro-benchmarks.

mod support;

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use countersign::broker::store::{NotificationState, SqliteStore, Store};
use countersign::broker::{BrokerConfig, tokens};
use countersign::model::User;

const ROLES: &str = include_str!("../tests/fixtures/roles.yaml");
const CREATES: usize = 10_240;
const CLIENTS: usize = 32;

struct Fixture {
    _dir: tempfile::TempDir,
    url: String,
    bob: String,
    running: countersign::broker::RunningBroker,
}

async fn start_broker(notify: &str) -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let bob = {
        let store = SqliteStore::open(dir.path()).expect("open store");
        let now = chrono::Utc::now();
        store.put_roles("roles.yaml", ROLES, now).expect("roles");
        let mut bob = String::new();
        for (name, roles) in [("bob", "developer"), ("carrot", "reviewer")] {
            let token = tokens::generate();
            let mut traits = std::collections::BTreeMap::new();
            traits.insert("email".to_string(), vec![format!("{name}@example.com")]);
            let user = User {
                name: name.into(),
                roles: vec![roles.into()],
                traits,
            };
            store
                .add_user(&user, &tokens::hash(&token), now)
                .expect("user");
            if name == "bob" {
                bob = token;
            }
        }
        bob
    };
    let mut config: BrokerConfig = toml::from_str(notify).expect("notify config");
    config.listen = "127.0.0.1:0".parse().expect("addr");
    config.data_dir = Some(dir.path().to_path_buf());
    let running = countersign::broker::start(config)
        .await
        .expect("start broker");
    Fixture {
        url: running.url.clone(),
        bob,
        running,
        _dir: dir,
    }
}

async fn creates(f: &Fixture) -> f64 {
    support::creates(&f.url, &f.bob, CREATES, CLIENTS).await
}

/// Waits until nothing is pending; returns how many were sent and failed.
async fn drained(f: &Fixture) -> (u64, u64) {
    loop {
        let counts = f.running.store.notification_counts().expect("counts");
        let get = |s| {
            counts
                .iter()
                .find(|(state, _)| *state == s)
                .map_or(0, |c| c.1)
        };
        if get(NotificationState::Pending) == 0 {
            return (get(NotificationState::Sent), get(NotificationState::Failed));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A loopback HTTP receiver on its own thread, counting what it took.
fn receiver() -> (String, Arc<AtomicU64>) {
    let count = Arc::new(AtomicU64::new(0));
    let (tx, rx) = std::sync::mpsc::channel();
    let counted = count.clone();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            tx.send(listener.local_addr().expect("addr")).expect("send");
            let app = axum::Router::new().fallback(move || {
                counted.fetch_add(1, Ordering::Relaxed);
                async { "ok" }
            });
            let _ = axum::serve(listener, app).await;
        });
    });
    let addr = rx.recv().expect("receiver address");
    (format!("http://{addr}"), count)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    // Set before any thread starts.
    unsafe { std::env::set_var("CS_BENCH_HOOK_SECRET", "bench-secret") };
    let smtp_port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let mut smtp = Command::new("python3")
        .args(["-m", "aiosmtpd", "-n", "-c", "aiosmtpd.handlers.Sink", "-l"])
        .arg(format!("127.0.0.1:{smtp_port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 -m aiosmtpd (pip install aiosmtpd)");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", smtp_port)).is_err() {
        assert!(Instant::now() < deadline, "aiosmtpd did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let (http, received) = receiver();
    let sinks = format!(
        r##"
[[notify.email]]
smtp_url = "smtp://127.0.0.1:{smtp_port}"
from = "countersign <countersign@example.com>"
to = ["access-requests@example.com"]
to_reviewers = true
[[notify.slack]]
webhook_url = "{http}/slack"
channel = "#access-requests"
[[notify.webhook]]
url = "{http}/hook"
secret_env = "CS_BENCH_HOOK_SECRET"
"##
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // Rounds alternate which broker goes first (without, with; then with,
    // without), so a machine that speeds up or slows down during the run does
    // not favour one side.
    let rounds: usize = std::env::var("COUNTERSIGN_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4);
    let mut ratios = Vec::new();
    runtime.block_on(async {
        for round in 1..=rounds {
            let mut without = 0.0;
            let mut with = 0.0;
            let mut drain = Duration::ZERO;
            let (mut sent, mut failed, mut http_taken) = (0, 0, 0);
            let order = if round % 2 == 1 { [false, true] } else { [true, false] };
            for sinked in order {
                if !sinked {
                    let plain = start_broker("").await;
                    without = creates(&plain).await;
                    plain.running.stop().await.expect("stop");
                    continue;
                }
                let noisy = start_broker(&sinks).await;
                let before = received.load(Ordering::Relaxed);
                let started = Instant::now();
                with = creates(&noisy).await;
                (sent, failed) = drained(&noisy).await;
                drain = started.elapsed();
                http_taken = received.load(Ordering::Relaxed) - before;
                noisy.running.stop().await.expect("stop");
            }
            let ratio = with / without - 1.0;
            ratios.push(ratio);
            println!(
                "round {round}: {CREATES} creates, {CLIENTS} clients: {without:.0}/s without sinks, {with:.0}/s with three ({:+.1}%); \
                 outbox drained {sent} sent + {failed} failed in {:.1} s from the burst's start ({http_taken} HTTP deliveries received)",
                ratio * 100.0,
                drain.as_secs_f64()
            );
        }
    });
    ratios.sort_by(f64::total_cmp);
    let n = ratios.len();
    if n > 0 {
        let median = (ratios[(n - 1) / 2] + ratios[n / 2]) / 2.0;
        println!(
            "median over {n} rounds: {:+.1}% with three sinks",
            median * 100.0
        );
    }
    let _ = smtp.kill();
    let _ = smtp.wait();
}
