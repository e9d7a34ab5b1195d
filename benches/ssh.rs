//! What issuing SSH certificates costs, printed as figures for BENCHMARKS.md:
//!
//!   cargo bench --bench ssh
//!
//! criterion micro-benchmarks first (a bare Ed25519 signature, building and signing
//! one certificate, encoding a KRL of 10,000 serials), then whole-system figures
//! through the HTTP API of a real broker on a loopback port: issuing latency
//! (p50/p99, one client and four), and `GET /v1/ssh/krl` once the 10,000
//! certificates just issued are revoked by returning their request.

use std::time::Instant;

use countersign::broker::ssh::{IssuePlan, SubjectKey, UserCa, krl};
use countersign::broker::store::{SqliteStore, Store};
use countersign::broker::{BrokerConfig, tokens};
use countersign::model::User;
use criterion::Criterion;
use serde_json::json;
use ssh_key::{Algorithm, PrivateKey, SigningKey, rand_core::OsRng};

const ROLES: &str = include_str!("../tests/fixtures/ssh_roles.yaml");
const ISSUES: usize = 10_000;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn sign_bare<S: SigningKey>(key: &S, message: &[u8]) -> ssh_key::Signature {
    key.try_sign(message).expect("sign")
}

fn micro(c: &mut Criterion) {
    let ca = UserCa::ephemeral().expect("ca");
    let subject_key = PrivateKey::random(&mut OsRng, Algorithm::Ed25519).expect("key");
    let line = subject_key.public_key().to_openssh().expect("pub");
    let subject = SubjectKey::parse(&line).expect("subject");
    let plan = IssuePlan {
        key_id: "countersign/rita/0190".into(),
        principals: vec!["csdeploy".into(), "csapp".into()],
        extensions: vec!["permit-pty", "permit-port-forwarding"],
        valid_after: 1_700_000_000,
        valid_before: 1_700_003_600,
    };
    // A certificate's signed body is about this long.
    let message = vec![7u8; 300];
    c.bench_function("ed25519 signature (300 bytes)", |b| {
        b.iter(|| sign_bare(ca.key(), &message))
    });
    c.bench_function("certificate: build and sign", |b| {
        b.iter(|| plan.sign(&ca, &subject, 42).expect("cert"))
    });
    let scattered: Vec<u64> = (1..=ISSUES as u64).map(|s| s * 2).collect();
    let consecutive: Vec<u64> = (1..=ISSUES as u64).collect();
    c.bench_function("KRL encode, 10,000 scattered serials", |b| {
        b.iter(|| krl::encode(ca.public_blob(), &scattered, 1, 1))
    });
    c.bench_function("KRL encode, 10,000 consecutive serials", |b| {
        b.iter(|| krl::encode(ca.public_blob(), &consecutive, 1, 1))
    });
}

struct Fixture {
    _dir: tempfile::TempDir,
    url: String,
    rita: String,
    abe: String,
    running: countersign::broker::RunningBroker,
}

async fn start_broker() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut tokens_by_user = std::collections::HashMap::new();
    {
        let store = SqliteStore::open(dir.path()).expect("open store");
        let now = chrono::Utc::now();
        store.put_roles("roles.yaml", ROLES, now).expect("roles");
        for (name, roles) in [("rita", "ssh-requester"), ("abe", "ssh-approver")] {
            let token = tokens::generate();
            let user = User {
                name: name.into(),
                roles: vec![roles.into()],
                traits: [("logins".to_string(), vec!["csapp".to_string()])].into(),
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
        ..BrokerConfig::default()
    };
    let running = countersign::broker::start(config)
        .await
        .expect("start broker");
    Fixture {
        url: running.url.clone(),
        rita: tokens_by_user["rita"].clone(),
        abe: tokens_by_user["abe"].clone(),
        running,
        _dir: dir,
    }
}

async fn approved_request(f: &Fixture, http: &reqwest::Client) -> String {
    let created: serde_json::Value = http
        .post(format!("{}/v1/requests", f.url))
        .bearer_auth(&f.rita)
        .json(&json!({"roles": ["ssh-deploy", "ssh-app"], "reason": "bench INC-1"}))
        .send()
        .await
        .expect("create")
        .json()
        .await
        .expect("json");
    let id = created["id"].as_str().expect("id").to_string();
    let reviewed = http
        .post(format!("{}/v1/requests/{id}/reviews", f.url))
        .bearer_auth(&f.abe)
        .json(&json!({"decision": "approve", "reason": "ok"}))
        .send()
        .await
        .expect("review");
    assert_eq!(reviewed.status().as_u16(), 200);
    id
}

/// Issues `total` certificates for request `id` from `clients` concurrent clients;
/// the latency of each call in milliseconds, sorted.
async fn issue_latencies(f: &Fixture, id: &str, total: usize, clients: usize) -> Vec<f64> {
    let http = reqwest::Client::new();
    let key = PrivateKey::random(&mut OsRng, Algorithm::Ed25519).expect("key");
    let line = key.public_key().to_openssh().expect("pub");
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (http, url, token, line) = (http.clone(), f.url.clone(), f.rita.clone(), line.clone());
        let path = format!("{url}/v1/requests/{id}/certificate");
        tasks.push(tokio::spawn(async move {
            let mut times = Vec::with_capacity(total / clients);
            for _ in 0..total / clients {
                let started = Instant::now();
                let resp = http
                    .post(&path)
                    .bearer_auth(&token)
                    .json(&json!({"public_key": line}))
                    .send()
                    .await
                    .expect("send");
                assert_eq!(resp.status().as_u16(), 201);
                resp.bytes().await.expect("body");
                times.push(started.elapsed().as_secs_f64() * 1000.0);
            }
            times
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("client"));
    }
    all.sort_by(f64::total_cmp);
    all
}

fn whole_system() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let f = start_broker().await;
        let http = reqwest::Client::new();
        let id = approved_request(&f, &http).await;
        // Warm the connection pools and caches.
        issue_latencies(&f, &id, 200, 1).await;
        let one = issue_latencies(&f, &id, ISSUES - 2_200, 1).await;
        println!(
            "issue through the API, 1 client, {} certificates: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            one.len(),
            percentile(&one, 50.0),
            percentile(&one, 99.0),
            one.last().copied().unwrap_or(f64::NAN)
        );
        let four = issue_latencies(&f, &id, 2_000, 4).await;
        println!(
            "issue through the API, 4 clients, {} certificates: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            four.len(),
            percentile(&four, 50.0),
            percentile(&four, 99.0),
            four.last().copied().unwrap_or(f64::NAN)
        );
        let returned = http
            .post(format!("{}/v1/requests/{id}/return", f.url))
            .bearer_auth(&f.rita)
            .json(&json!({}))
            .send()
            .await
            .expect("return");
        assert_eq!(returned.status().as_u16(), 200);
        let mut times = Vec::new();
        let mut size = 0;
        for _ in 0..50 {
            let started = Instant::now();
            let body = http
                .get(format!("{}/v1/ssh/krl", f.url))
                .send()
                .await
                .expect("krl")
                .bytes()
                .await
                .expect("body");
            times.push(started.elapsed().as_secs_f64() * 1000.0);
            size = body.len();
        }
        times.sort_by(f64::total_cmp);
        println!(
            "GET /v1/ssh/krl with {ISSUES} revoked certificates ({size} bytes): p50 {:.2} ms, p99 {:.2} ms over {} fetches",
            percentile(&times, 50.0),
            percentile(&times, 99.0),
            times.len()
        );
        f.running.stop().await.expect("stop");
    });
}

fn main() {
    // `cargo test --benches` runs this with --list; there is nothing to list.
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let mut criterion = Criterion::default()
        .configure_from_args()
        .measurement_time(std::time::Duration::from_secs(3));
    micro(&mut criterion);
    criterion.final_summary();
    whole_system();
}
