//! Broker throughput and latency on this machine, printed as figures for BENCHMARKS.md:
//!
//!   cargo bench --bench broker
//!
//! - raw SQLite inserts with the broker's durability (WAL, synchronous=FULL, one
//!   commit per row), the floor everything else is compared with;
//! - request creations per second through the HTTP API (32 concurrent clients);
//! - listing 10,000 pending requests 500 at a time, per page;
//! - an event reaching 100 connected subscribers after its write;
//! - the same creates and listings again with 1,000 stalled connections (half a
//!   request head each) and 100 stalled subscribers (never reading) held open,
//!   in the same run, and the ratio to the quiet figures (DESIGN §12).
//!
//! - the cost of the metrics middleware: one broker with `[metrics]` on, one with it
//!   off, the same reads against each in alternating rounds (`COUNTERSIGN_BENCH=metrics`
//!   runs only this part).
//!
//! With `COUNTERSIGN_VERIFY_DIR=DIR` it instead times `audit verify`'s full check
//! (chain, indexed columns, replay against the requests table) over the store in
//! DIR, e.g. the million-event store `cargo bench --bench findings` keeps in
//! `COUNTERSIGN_BENCH_DIR`.
//!
//! A plain program rather than criterion: these are whole-system figures with
//! percentiles, not micro-benchmarks.

mod support;
use support::percentile;

use std::time::{Duration, Instant};

use countersign::broker::store::{SqliteStore, Store};
use countersign::broker::{BrokerConfig, tokens};
use countersign::model::User;
use serde_json::json;

const ROLES: &str = include_str!("../tests/fixtures/roles.yaml");

fn raw_sqlite_inserts(rows: usize) -> f64 {
    let dir = tempfile::tempdir().expect("tempdir");
    let conn = rusqlite::Connection::open(dir.path().join("raw.db")).expect("open");
    conn.pragma_update(None, "journal_mode", "WAL")
        .expect("wal");
    conn.pragma_update(None, "synchronous", "FULL")
        .expect("full");
    conn.execute_batch("CREATE TABLE t (id TEXT PRIMARY KEY, body TEXT NOT NULL)")
        .expect("create");
    let body = "x".repeat(1500);
    let started = Instant::now();
    for i in 0..rows {
        conn.execute(
            "INSERT INTO t (id, body) VALUES (?1, ?2)",
            rusqlite::params![format!("{i:012}"), body],
        )
        .expect("insert");
    }
    rows as f64 / started.elapsed().as_secs_f64()
}

struct Fixture {
    _dir: tempfile::TempDir,
    url: String,
    addr: std::net::SocketAddr,
    bob: String,
    carrot: String,
    ponder: String,
    /// Reviewers whose streams the fan-out and the stalled subscribers use (a user
    /// may hold 8 streams).
    watchers: Vec<String>,
    running: countersign::broker::RunningBroker,
}

const WATCHERS: usize = 13;

async fn start_broker() -> Fixture {
    start_broker_with(Default::default()).await
}

async fn start_broker_with(metrics: countersign::broker::metrics::MetricsConfig) -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut tokens_by_user = std::collections::HashMap::new();
    {
        let store = SqliteStore::open(dir.path()).expect("open store");
        let now = chrono::Utc::now();
        store.put_roles("roles.yaml", ROLES, now).expect("roles");
        let watchers: Vec<(String, &str)> = (0..WATCHERS)
            .map(|i| (format!("watcher{i}"), "reviewer"))
            .collect();
        let fixed = [
            ("bob".to_string(), "developer"),
            ("carrot".to_string(), "reviewer"),
            ("ponder".to_string(), "auditor"),
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
            tokens_by_user.insert(name, token);
        }
    }
    let config = BrokerConfig {
        listen: "127.0.0.1:0".parse().expect("addr"),
        data_dir: Some(dir.path().to_path_buf()),
        // Stalled connections stay stalled for the whole measurement: the worst
        // case, not the one where the timeout has already cleared them.
        limits: countersign::broker::config::Limits {
            header_read_timeout: countersign::model::Duration::from_secs(3600),
            ..Default::default()
        },
        metrics,
        ..BrokerConfig::default()
    };
    let running = countersign::broker::start(config)
        .await
        .expect("start broker");
    Fixture {
        url: running.url.clone(),
        addr: running.addr,
        bob: tokens_by_user["bob"].clone(),
        carrot: tokens_by_user["carrot"].clone(),
        ponder: tokens_by_user["ponder"].clone(),
        watchers: (0..WATCHERS)
            .map(|i| tokens_by_user[&format!("watcher{i}")].clone())
            .collect(),
        running,
        _dir: dir,
    }
}

async fn creates(f: &Fixture, total: usize, clients: usize) -> f64 {
    support::creates(&f.url, &f.bob, total, clients).await
}

async fn list_pages(f: &Fixture, token: &str, rounds: usize) -> (Vec<f64>, usize) {
    support::list_pages(&f.url, token, rounds).await
}

async fn fan_out(f: &Fixture, subscribers: usize, events: usize) -> Vec<f64> {
    let urls = [f.url.clone()];
    support::fan_out(&f.url, &f.bob, &urls, &f.watchers, subscribers, events).await
}

/// Connections that send half a request head and then nothing.
async fn stalled_connections(addr: std::net::SocketAddr, n: usize) -> Vec<tokio::net::TcpStream> {
    use tokio::io::AsyncWriteExt;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
        s.write_all(b"GET /v1/requests HTTP/1.1\r\nHost: broker\r\n")
            .await
            .expect("write");
        out.push(s);
    }
    out
}

/// Event-stream subscribers that read the response head and nothing after, with a
/// small receive window so the kernel does not soak up what the broker sends.
async fn stalled_subscribers(f: &Fixture, n: usize) -> Vec<tokio::net::TcpStream> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket.set_recv_buffer_size(4096).expect("rcvbuf");
        let mut s = socket.connect(f.addr).await.expect("connect");
        let token = &f.watchers[i % f.watchers.len()];
        s.write_all(
            format!(
                "GET /v1/events HTTP/1.1\r\nHost: broker\r\nAuthorization: Bearer {token}\r\n\r\n"
            )
            .as_bytes(),
        )
        .await
        .expect("write");
        let mut head = [0u8; 64];
        let n = s.read(&mut head).await.expect("head");
        assert!(head[..n].starts_with(b"HTTP/1.1 200"), "subscriber refused");
        out.push(s);
    }
    out
}

fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

/// Milliseconds of each of `n` sequential reads of one request, and of `n` reads
/// by 32 clients at once as a rate.
async fn reads(f: &Fixture, id: &str, n: usize) -> (Vec<f64>, f64) {
    let http = reqwest::Client::new();
    let url = format!("{}/v1/requests/{id}", f.url);
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        let response = http
            .get(&url)
            .bearer_auth(&f.bob)
            .send()
            .await
            .expect("read");
        assert!(response.status().is_success());
        response.bytes().await.expect("body");
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    let started = Instant::now();
    let mut clients = Vec::new();
    for _ in 0..32 {
        let (http, url, token) = (http.clone(), url.clone(), f.bob.clone());
        clients.push(tokio::spawn(async move {
            for _ in 0..n / 32 {
                let response = http
                    .get(&url)
                    .bearer_auth(&token)
                    .send()
                    .await
                    .expect("read");
                response.bytes().await.expect("body");
            }
        }));
    }
    for client in clients {
        client.await.expect("client");
    }
    let rate = (n / 32 * 32) as f64 / started.elapsed().as_secs_f64();
    (times, rate)
}

/// The metrics middleware's cost: the same reads on a broker with metrics and one
/// without, alternating so drift on a shared machine hits both alike.
async fn metrics_cost() {
    use countersign::broker::metrics::{Access, MetricsConfig};
    let on = start_broker_with(MetricsConfig::default()).await;
    let off = start_broker_with(MetricsConfig {
        access: Access::Off,
        token_env: None,
    })
    .await;
    let make = |f: &Fixture| {
        let (url, token) = (f.url.clone(), f.bob.clone());
        async move {
            let http = reqwest::Client::new();
            let body = json!({"roles": ["production-access"], "reason": "bench #1"});
            let created: serde_json::Value = http
                .post(format!("{url}/v1/requests"))
                .bearer_auth(&token)
                .json(&body)
                .send()
                .await
                .expect("create")
                .json()
                .await
                .expect("json");
            created["id"].as_str().expect("id").to_string()
        }
    };
    let (on_id, off_id) = (make(&on).await, make(&off).await);
    let (mut with, mut without) = (Vec::new(), Vec::new());
    let (mut with_rate, mut without_rate) = (0.0, 0.0);
    const ROUNDS: usize = 4;
    for _ in 0..ROUNDS {
        let (times, rate) = reads(&off, &off_id, 2000).await;
        without.extend(times);
        without_rate += rate / ROUNDS as f64;
        let (times, rate) = reads(&on, &on_id, 2000).await;
        with.extend(times);
        with_rate += rate / ROUNDS as f64;
    }
    with.sort_by(|a, b| a.total_cmp(b));
    without.sort_by(|a, b| a.total_cmp(b));
    println!(
        "metrics middleware, GET /v1/requests/{{id}}, {} sequential reads each: p50 {:.3} ms on / {:.3} ms off, p99 {:.3} / {:.3} ms; 32 clients: {with_rate:.0} / {without_rate:.0} reads/s (ratio {:.3})",
        with.len(),
        percentile(&with, 50.0),
        percentile(&without, 50.0),
        percentile(&with, 99.0),
        percentile(&without, 99.0),
        with_rate / without_rate,
    );
    on.running.stop().await.expect("stop");
    off.running.stop().await.expect("stop");
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` would pass nothing useful.
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    if let Some(dir) = std::env::var_os("COUNTERSIGN_VERIFY_DIR") {
        let dir = std::path::PathBuf::from(dir);
        for run in 1..=3 {
            let started = Instant::now();
            let conn = countersign::broker::store::verify::open_read_only(&dir).expect("open");
            let report = countersign::broker::store::verify::verify(&conn, None).expect("verify");
            println!(
                "verify run {run}: {} events, {} requests in {:.2} s ({} problems{})",
                report.events,
                report.requests,
                started.elapsed().as_secs_f64(),
                report.problems.len() as u64 + report.more,
                report
                    .problems
                    .first()
                    .map(|p| format!("; first: {p}"))
                    .unwrap_or_default()
            );
        }
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    if std::env::var("COUNTERSIGN_BENCH").as_deref() == Ok("metrics") {
        runtime.block_on(metrics_cost());
        return;
    }
    println!(
        "raw SQLite, one commit per 1.5 KB row (WAL, synchronous=FULL): {:.0} rows/s",
        raw_sqlite_inserts(2000)
    );
    runtime.block_on(async {
        let f = start_broker().await;
        let rate = creates(&f, 10_240, 32).await;
        println!("HTTP creates, 32 clients, 10,240 requests: {rate:.0} creates/s");

        let (times, seen) = list_pages(&f, &f.carrot, 5).await;
        println!(
            "list {seen} pending, pages of 500, reviewer (filtered): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms over {} pages",
            percentile(&times, 50.0), percentile(&times, 99.0), times.last().copied().unwrap_or(f64::NAN), times.len()
        );
        let (times, seen) = list_pages(&f, &f.ponder, 5).await;
        println!(
            "list {seen} pending, pages of 500, auditor (list-all): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms over {} pages",
            percentile(&times, 50.0), percentile(&times, 99.0), times.last().copied().unwrap_or(f64::NAN), times.len()
        );

        // The same again with hostile clients held open (DESIGN §12).
        let quiet_rate = rate;
        let (quiet, _) = list_pages(&f, &f.carrot, 5).await;
        let rss_before = rss_mib();
        // COUNTERSIGN_SIEGE=CONNECTIONS,SUBSCRIBERS changes the siege (default
        // 1000,100), to see which part costs what.
        let (conns, subs) = std::env::var("COUNTERSIGN_SIEGE")
            .ok()
            .and_then(|v| {
                let (c, s) = v.split_once(',')?;
                Some((c.trim().parse().ok()?, s.trim().parse().ok()?))
            })
            .unwrap_or((1000, 100));
        let stalled = stalled_connections(f.addr, conns).await;
        let subscribers = stalled_subscribers(&f, subs).await;
        let (siege, seen) = list_pages(&f, &f.carrot, 5).await;
        let siege_rate = creates(&f, 10_240, 32).await;
        let rss_siege = rss_mib();
        drop(stalled);
        drop(subscribers);
        tokio::time::sleep(Duration::from_millis(500)).await;
        let after_rate = creates(&f, 10_240, 32).await;
        println!(
            "with {conns} stalled connections and {subs} stalled subscribers: creates {siege_rate:.0}/s (quiet: {quiet_rate:.0}/s before, {after_rate:.0}/s after; ratio to before {:.2}); reviewer listing of {seen} pending p99 {:.1} ms (quiet, same data: {:.1} ms; ratio {:.2}); process RSS {rss_before:.0} → {rss_siege:.0} MiB",
            siege_rate / quiet_rate,
            percentile(&siege, 99.0),
            percentile(&quiet, 99.0),
            percentile(&siege, 99.0) / percentile(&quiet, 99.0),
        );

        let latencies = fan_out(&f, 100, 200).await;
        println!(
            "event to 100 subscribers, 200 events: {} deliveries, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms (from the create being sent)",
            latencies.len(), percentile(&latencies, 50.0), percentile(&latencies, 99.0), latencies.last().copied().unwrap_or(f64::NAN)
        );
        f.running.stop().await.expect("stop");
        metrics_cost().await;
    });
}
