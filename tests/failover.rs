//! Clients with a list of brokers (`COUNTERSIGN_BROKER=url1,url2`, DESIGN §11): they
//! move to the next broker when one stops answering, never because of an answer, and
//! the event stream resumes there without missing or repeating an event.
//!
//! Two brokers cannot share an SQLite data directory, so "broker B" here is a new
//! broker process on the data directory of broker A, after A was SIGKILLed, on
//! another port: the same history served from another address.

mod common;

use std::io::Read;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command};
use std::time::Duration;

use common::{BIN, TestBroker, until};
use countersign::client::{Client, ClientError, Connection, Subscriber, SubscriptionEvent};
use countersign::console::keymap::Keymap;
use countersign::console::link::{self, NotifyPolicy};
use countersign::console::state::{Connection as Link, State};
use countersign::console::theme::Theme;
use countersign::model::api::{ErrorCode, ListEvents};
use serde_json::Value;
use tokio::sync::mpsc;

/// A loopback address nothing listens on (bound, then let go).
fn free_addr() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").to_string()
}

/// A broker process on an existing data directory; SIGKILLed when dropped.
struct Broker {
    child: Child,
    url: String,
}

impl Broker {
    fn serve(data_dir: &Path, addr: &str) -> Broker {
        let (child, url) = common::spawn_broker(
            Command::new(BIN)
                .arg("broker")
                .arg("--data-dir")
                .arg(data_dir)
                .arg("--listen")
                .arg(addr),
        );
        assert!(url.contains(addr), "broker B is not on {addr}: {url:?}");
        Broker { child, url }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn client(brokers: &str, token: &str) -> Client {
    Client::new(&Connection {
        broker: brokers.to_string(),
        token: token.to_string(),
        ca_pem: None,
    })
    .expect("client")
}

fn cli(brokers: &str, token: &str, args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .env("COUNTERSIGN_BROKER", brokers)
        .env("COUNTERSIGN_TOKEN", token)
        .env_remove("COUNTERSIGN_CONFIG")
        .env("XDG_CONFIG_HOME", "/nonexistent")
        .env("HOME", "/nonexistent")
        .output()
        .expect("run countersign")
}

async fn request_count(broker: &TestBroker) -> usize {
    let (status, body) = broker
        .get("ponder", "/v1/requests?scope=all&limit=500")
        .await;
    assert_eq!(status, 200, "{body}");
    body["requests"].as_array().expect("requests").len()
}

#[tokio::test]
async fn the_cli_skips_a_dead_first_broker() {
    let broker = TestBroker::start();
    let list = format!("http://{},{}", free_addr(), broker.url);
    let created = cli(
        &list,
        broker.token("alice"),
        &[
            "request",
            "create",
            "--roles",
            "production-access",
            "--reason",
            "deploy hotfix, incident #47",
            "--nowait",
            "--format",
            "json",
        ],
    );
    assert!(
        created.status.success(),
        "create failed: {}",
        String::from_utf8_lossy(&created.stderr)
    );
    let body: Value = serde_json::from_slice(&created.stdout).expect("json request");
    let id = body["id"].as_str().expect("id");
    let (status, _) = broker.get("alice", &format!("/v1/requests/{id}")).await;
    assert_eq!(status, 200, "the request is on the live broker");
    assert_eq!(request_count(&broker).await, 1, "made exactly once");

    let listed = cli(&list, broker.token("alice"), &["request", "ls"]);
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    let listing = String::from_utf8_lossy(&listed.stdout);
    assert!(listing.contains(&id[id.len() - 8..]), "{listing}");
}

#[tokio::test]
async fn every_broker_dead_names_them_all() {
    let (a, b) = (free_addr(), free_addr());
    let list = format!("http://{a},http://{b}");
    let out = cli(&list, "some-token", &["whoami"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot reach the broker at any of"),
        "{stderr}"
    );
    assert!(stderr.contains(&a) && stderr.contains(&b), "{stderr}");
}

#[tokio::test]
async fn an_answer_is_never_failed_over() {
    // Two unrelated brokers: alice's token of the second means nothing to the first.
    let first = TestBroker::start();
    let second = TestBroker::start();
    let client = client(
        &format!("{},{}", first.url, second.url),
        second.token("alice"),
    );
    let body = countersign::model::api::CreateRequest {
        roles: vec!["production-access".into()],
        reason: "deploy hotfix, incident #47".into(),
        ..Default::default()
    };
    let err = client.create_request(&body).await.expect_err("401 from A");
    assert_eq!(err.code(), Some(ErrorCode::Unauthenticated), "{err}");
    let err = client.whoami().await.expect_err("401 from A");
    assert_eq!(err.code(), Some(ErrorCode::Unauthenticated), "{err}");
    assert_eq!(
        client.broker(),
        first.url,
        "still on the broker that answered"
    );
    assert_eq!(request_count(&second).await, 0, "nothing went to B");
}

/// A "broker" that reads each request and then drops the connection unanswered:
/// the request reached it, so a write must not be sent anywhere else.
fn swallowing_broker() -> (String, std::thread::JoinHandle<usize>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let handle = std::thread::spawn(move || {
        let mut seen = 0;
        listener.set_nonblocking(true).expect("nonblocking accept");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::time::Instant::now() < deadline && seen < 2 {
            match listener.accept() {
                Ok((mut socket, _)) => {
                    let _ = socket.set_nonblocking(false);
                    let _ = socket.set_read_timeout(Some(Duration::from_millis(500)));
                    let mut buffer = [0u8; 4096];
                    if matches!(socket.read(&mut buffer), Ok(n) if n > 0) {
                        seen += 1;
                    }
                    drop(socket);
                }
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
        seen
    });
    (format!("http://{addr}"), handle)
}

#[tokio::test]
async fn a_write_that_may_have_arrived_is_not_sent_again() {
    let broker = TestBroker::start();
    let (swallower, seen) = swallowing_broker();
    let client = client(
        &format!("{swallower},{}", broker.url),
        broker.token("alice"),
    );
    let body = countersign::model::api::CreateRequest {
        roles: vec!["production-access".into()],
        reason: "deploy hotfix, incident #47".into(),
        ..Default::default()
    };
    let err = client
        .create_request(&body)
        .await
        .expect_err("the first broker never answered");
    assert!(matches!(err, ClientError::Unreachable { .. }), "{err}");
    assert!(
        err.to_string().contains("not sent to another broker"),
        "{err}"
    );
    assert_eq!(
        request_count(&broker).await,
        0,
        "the create was not replayed"
    );

    // A read is: the listing comes from the second broker.
    let page = client
        .list_requests(&Default::default())
        .await
        .expect("the read moves on");
    assert!(page.requests.is_empty());
    assert_eq!(client.broker(), broker.url);
    assert_eq!(seen.join().expect("swallower"), 2, "both calls reached it");
}

fn seq(event: &SubscriptionEvent) -> Option<u64> {
    match event {
        SubscriptionEvent::Message(message) => Some(message.event.seq),
        _ => None,
    }
}

async fn next(subscriber: &mut Subscriber) -> SubscriptionEvent {
    tokio::time::timeout(Duration::from_secs(20), subscriber.next())
        .await
        .expect("an event within 20 s")
        .expect("subscription running")
}

#[tokio::test]
async fn the_stream_resumes_on_the_next_broker_exactly_once() {
    let mut a = TestBroker::start();
    let b_addr = free_addr();
    let list = format!("{},http://{b_addr}", a.url);
    let watcher = client(&list, a.token("ponder"));
    let mut subscriber = Subscriber::spawn(watcher.clone(), None);
    assert_eq!(
        next(&mut subscriber).await,
        SubscriptionEvent::Connected { after: None }
    );
    let mut seen = Vec::new();
    for n in 0..3 {
        a.create("alice", &["production-access"], &format!("before #{n}"))
            .await;
        seen.extend(seq(&next(&mut subscriber).await));
    }
    assert_eq!(seen.len(), 3);

    a.kill();
    let b = Broker::serve(a.dir.path(), &b_addr);
    // Events made on B while the subscriber is still moving over to it.
    let on_b = client(&b.url, a.token("alice"));
    let mut made_on_b = Vec::new();
    for n in 0..3 {
        let body = countersign::model::api::CreateRequest {
            roles: vec!["production-access".into()],
            reason: format!("while moving #{n}"),
            ..Default::default()
        };
        made_on_b.push(on_b.create_request(&body).await.expect("create on B").id);
    }
    let mut reconnected = None;
    while seen.len() < 6 {
        match next(&mut subscriber).await {
            SubscriptionEvent::Connected { after } => reconnected = Some(after),
            SubscriptionEvent::Message(message) => {
                seen.push(message.event.seq);
                if let Some(request) = &message.request {
                    assert!(seen.len() <= 3 || made_on_b.contains(&request.id));
                }
            }
            SubscriptionEvent::Disconnected { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(reconnected, Some(Some(seen[2])), "resumed from its last id");
    assert_eq!(watcher.broker(), b.url, "the client moved to B");

    // Exactly the log's events, in order, once each.
    let log = on_b_events(&b.url, a.token("ponder")).await;
    assert_eq!(seen, log, "missed or repeated events");
    // And nothing more arrives: no repeat after the last one.
    let quiet = tokio::time::timeout(Duration::from_millis(700), subscriber.next()).await;
    assert!(
        !matches!(quiet, Ok(Some(SubscriptionEvent::Message(_)))),
        "an extra event: {quiet:?}"
    );
}

async fn on_b_events(url: &str, token: &str) -> Vec<u64> {
    let page = client(url, token)
        .audit_events(&ListEvents {
            limit: Some(500),
            ..Default::default()
        })
        .await
        .expect("audit events");
    page.events
        .iter()
        .filter(|event| event.request_id.is_some())
        .map(|event| event.seq)
        .collect()
}

#[tokio::test]
async fn the_console_moves_to_the_next_broker_and_says_so() {
    let mut a = TestBroker::start();
    let first = a
        .create(
            "alice",
            &["production-access"],
            "deploy hotfix, incident #47",
        )
        .await;
    let b_addr = free_addr();
    let list = format!("{},http://{b_addr}", a.url);
    let (action_tx, mut actions) = mpsc::unbounded_channel();
    let (effects, effect_rx) = mpsc::unbounded_channel();
    let notify = NotifyPolicy {
        enabled: false,
        urgent_only: false,
    };
    let console = client(&list, a.token("carrot"));
    link::spawn(console.clone(), action_tx, effect_rx, notify);
    let mut state = State::new(console.broker(), Keymap::default(), Theme::no_color());
    until(
        &mut state,
        &mut actions,
        &effects,
        "the first listing",
        |s| s.loaded && s.connection == Link::Live,
    )
    .await;
    assert_eq!(state.rows.len(), 1);
    // One event over the stream, so the console has a last id to resume from.
    let second = a
        .create("bob", &["production-access"], "rotate keys, OPS-9")
        .await;
    until(
        &mut state,
        &mut actions,
        &effects,
        "the second request",
        |s| s.rows.len() == 2,
    )
    .await;
    assert_eq!(state.broker, a.url);

    a.kill();
    until(&mut state, &mut actions, &effects, "offline", |s| {
        s.connection == Link::Offline
    })
    .await;
    let b = Broker::serve(a.dir.path(), &b_addr);
    let on_b = client(&b.url, a.token("alice"));
    let body = countersign::model::api::CreateRequest {
        roles: vec!["production-access".into()],
        reason: "made on B while the console moves, INC-3".into(),
        ..Default::default()
    };
    let third = on_b.create_request(&body).await.expect("create on B").id;
    until(&mut state, &mut actions, &effects, "live on B", |s| {
        s.connection == Link::Live && s.broker == b.url && s.rows.len() == 3
    })
    .await;
    let ids: Vec<String> = state.rows.iter().map(|id| id.to_string()).collect();
    for id in [first, second, third.to_string()] {
        assert!(ids.contains(&id), "{id} missing from {ids:?}");
    }
    let screen = screen(&state);
    assert!(
        screen.contains(&b_addr),
        "the status bar names B:\n{screen}"
    );
}

/// The console drawn on a test terminal, as text.
fn screen(state: &State) -> String {
    let mut terminal =
        ratatui::Terminal::new(ratatui::backend::TestBackend::new(200, 40)).expect("terminal");
    terminal
        .draw(|frame| countersign::console::view::draw(state, frame, chrono::Utc::now()))
        .expect("draw");
    let buffer = terminal.backend().buffer();
    let mut out = String::new();
    for y in 0..buffer.area.height {
        for x in 0..buffer.area.width {
            out.push_str(buffer[(x, y)].symbol());
        }
        out.push('\n');
    }
    out
}
