//! Brokers on PostgreSQL (DESIGN §11), printed as figures for BENCHMARKS.md:
//!
//!   eval "$(.ci/pg-up)"; cargo bench --bench pg_brokers
//!
//! On the server `COUNTERSIGN_TEST_PG` names (a fresh database per case):
//! - pgbench's built-in simple-update script (`pgbench -N`), the database's own
//!   limit on this machine;
//! - request creations per second through the HTTP API, 32 clients, on one broker
//!   and on two brokers sharing the database (clients split between them);
//! - listing the pending requests 500 at a time, per page;
//! - an event reaching 100 subscribers, half on each broker, from its create
//!   being sent to the first broker.
//!
//! A plain program rather than criterion: whole-system figures with percentiles.

mod support;
use support::{list_pages, percentile};

use std::time::Instant;

use countersign::broker::store::Location;
use countersign::broker::{BrokerConfig, RunningBroker, tokens};
use countersign::model::User;

const ROLES: &str = include_str!("../tests/fixtures/roles.yaml");
const WATCHERS: usize = 13;

fn sql(url: &str, statement: &str) {
    let out = std::process::Command::new("psql")
        .args(["-q", "-v", "ON_ERROR_STOP=1", url, "-c", statement])
        .output()
        .expect("run psql");
    assert!(
        out.status.success(),
        "{statement}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A new database on the server and its URL.
fn fresh_database(server: &str, name: &str) -> String {
    sql(server, &format!("DROP DATABASE IF EXISTS {name}"));
    sql(server, &format!("CREATE DATABASE {name}"));
    let (root, _) = server.rsplit_once('/').expect("a URL with a database");
    format!("{root}/{name}")
}

/// pgbench -N (simple update) with 32 clients for 10 s: transactions per second.
fn pgbench(server: &str) -> f64 {
    let url = fresh_database(server, "cs_bench_pgbench");
    let init = std::process::Command::new("pgbench")
        .args(["-q", "-i", "-s", "10", &url])
        .output()
        .expect("run pgbench -i");
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    let run = std::process::Command::new("pgbench")
        .args(["-N", "-c", "32", "-j", "2", "-T", "10", &url])
        .output()
        .expect("run pgbench -N");
    let text = String::from_utf8_lossy(&run.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix("tps = "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no tps in pgbench's output: {text}"))
}

struct Cluster {
    brokers: Vec<RunningBroker>,
    _dirs: Vec<tempfile::TempDir>,
    bob: String,
    carrot: String,
    watchers: Vec<String>,
}

async fn start(database: &str, brokers: usize) -> Cluster {
    let mut tokens_by_user = std::collections::HashMap::new();
    {
        let database = database.to_string();
        let made = tokio::task::spawn_blocking(move || {
            let store = countersign::broker::store::open(&Location::Postgres(database))
                .expect("open store");
            let now = chrono::Utc::now();
            store.put_roles("roles.yaml", ROLES, now).expect("roles");
            let mut made = std::collections::HashMap::new();
            let watchers = (0..WATCHERS).map(|i| (format!("watcher{i}"), "reviewer"));
            let fixed = [
                ("bob".to_string(), "developer"),
                ("carrot".to_string(), "reviewer"),
            ];
            for (name, roles) in fixed.into_iter().chain(watchers) {
                let token = tokens::generate();
                let user = User {
                    name: name.clone(),
                    roles: roles.split(',').map(String::from).collect(),
                    traits: Default::default(),
                };
                store
                    .add_user(&user, &tokens::hash(&token), now)
                    .expect("user");
                made.insert(name, token);
            }
            made
        })
        .await
        .expect("populate");
        tokens_by_user.extend(made);
    }
    let mut running = Vec::new();
    let mut dirs = Vec::new();
    for _ in 0..brokers {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = BrokerConfig {
            listen: "127.0.0.1:0".parse().expect("addr"),
            data_dir: Some(dir.path().to_path_buf()),
            ..BrokerConfig::default()
        };
        config.store.url = Some(database.to_string());
        running.push(
            countersign::broker::start(config)
                .await
                .expect("start broker"),
        );
        dirs.push(dir);
    }
    Cluster {
        brokers: running,
        _dirs: dirs,
        bob: tokens_by_user["bob"].clone(),
        carrot: tokens_by_user["carrot"].clone(),
        watchers: (0..WATCHERS)
            .map(|i| tokens_by_user[&format!("watcher{i}")].clone())
            .collect(),
    }
}

/// `total` creates from 32 clients spread over every broker: creates per second.
async fn creates(c: &Cluster, total: usize) -> f64 {
    let started = Instant::now();
    let per_broker = total / c.brokers.len();
    let clients = 32 / c.brokers.len();
    let mut runs = Vec::new();
    for broker in &c.brokers {
        let (url, token) = (broker.url.clone(), c.bob.clone());
        runs.push(tokio::spawn(async move {
            support::creates(&url, &token, per_broker, clients).await
        }));
    }
    for run in runs {
        run.await.expect("clients");
    }
    (per_broker * c.brokers.len()) as f64 / started.elapsed().as_secs_f64()
}

/// Creates on the first broker; 100 subscribers spread over all brokers. The
/// delay from each create being sent to each subscriber reading its event.
async fn fan_out(c: &Cluster, subscribers: usize, events: usize) -> Vec<f64> {
    let urls: Vec<String> = c.brokers.iter().map(|b| b.url.clone()).collect();
    support::fan_out(&urls[0], &c.bob, &urls, &c.watchers, subscribers, events).await
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let Ok(server) = std::env::var("COUNTERSIGN_TEST_PG") else {
        eprintln!("COUNTERSIGN_TEST_PG is not set: eval \"$(.ci/pg-up)\" first");
        return;
    };
    // A burst of about 2 s (4,096) swung by a third between runs on a busy
    // two-core machine; the default is four times that.
    let burst: usize = std::env::var("COUNTERSIGN_BENCH_CREATES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(16_384);
    let tps = pgbench(&server);
    println!("pgbench -N (simple update), 32 clients, 10 s, scale 10: {tps:.0} tps");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        for brokers in [1, 2] {
            let database = fresh_database(&server, &format!("cs_bench_{brokers}"));
            let c = start(&database, brokers).await;
            let rate = creates(&c, burst).await;
            println!(
                "{brokers} broker(s): HTTP creates, 32 clients, {burst} requests: {rate:.0} creates/s ({:.0}% of pgbench -N)",
                100.0 * rate / tps
            );
            let (times, seen) = list_pages(&c.brokers[c.brokers.len() - 1].url, &c.carrot, 5).await;
            println!(
                "{brokers} broker(s): list {seen} pending, pages of 500, reviewer: p50 {:.1} ms, p99 {:.1} ms over {} pages",
                percentile(&times, 50.0),
                percentile(&times, 99.0),
                times.len()
            );
            let latencies = fan_out(&c, 100, 200).await;
            println!(
                "{brokers} broker(s): event to 100 subscribers (spread over the brokers), 200 events: {} deliveries, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
                latencies.len(),
                percentile(&latencies, 50.0),
                percentile(&latencies, 99.0),
                latencies.last().copied().unwrap_or(f64::NAN)
            );
            for broker in c.brokers {
                broker.stop().await.expect("stop");
            }
        }
    });
}
