//! The library client against a real broker: every route it calls, paging, the
//! error kinds (API error with its code, unreachable), the event subscriber, TLS
//! with a trusted CA file.

mod common;

use std::time::Duration;

use common::TestBroker;
use countersign::client::{Client, ClientError, Connection, Subscriber, SubscriptionEvent};
use countersign::model::api::{
    CreateRequest, ErrorCode, ListEvents, ListRequests, Scope, SubmitReview,
};
use countersign::model::{Decision, State};

fn client(broker: &TestBroker, user: &str) -> Client {
    Client::new(&Connection {
        broker: broker.url.clone(),
        token: broker.token(user).to_string(),
        ca_pem: None,
    })
    .expect("client")
}

fn ask(roles: &[&str], reason: &str) -> CreateRequest {
    CreateRequest {
        roles: roles.iter().map(|r| r.to_string()).collect(),
        reason: reason.to_string(),
        ..CreateRequest::default()
    }
}

#[tokio::test]
async fn routes_paging_and_errors() {
    let broker = TestBroker::start();
    let bob = client(&broker, "bob");
    let carrot = client(&broker, "carrot");
    bob.health().await.expect("healthz");

    let me = bob.whoami().await.unwrap();
    assert_eq!(me.user, "bob");
    assert!(
        me.requestable_roles
            .contains(&"production-access".to_string())
    );

    let mut ids = Vec::new();
    for n in 0..5 {
        let created = bob
            .create_request(&ask(&["production-access"], &format!("incident #{n}")))
            .await
            .unwrap();
        assert_eq!(created.state, State::Pending);
        ids.push(created.id);
    }

    // One page of two, then every page followed.
    let page = carrot
        .list_requests(&ListRequests {
            limit: Some(2),
            scope: Some(Scope::Reviewable),
            ..ListRequests::default()
        })
        .await
        .unwrap();
    assert_eq!(page.requests.len(), 2);
    assert!(page.next.is_some());
    let all = carrot
        .list_all_requests(&ListRequests {
            limit: Some(2),
            state: Some(State::Pending),
            ..ListRequests::default()
        })
        .await
        .unwrap();
    let mut listed: Vec<_> = all.iter().map(|r| r.id).collect();
    listed.sort();
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(listed, expected, "every page, each request once");

    let reviewed = carrot
        .review(
            ids[0],
            &SubmitReview {
                decision: Decision::Approve,
                reason: "confirmed".into(),
                roles: vec![],
            },
        )
        .await
        .unwrap();
    assert_eq!(reviewed.state, State::Approved);
    assert_eq!(
        bob.get_request(ids[0]).await.unwrap().state,
        State::Approved
    );
    assert_eq!(bob.withdraw(ids[1]).await.unwrap().state, State::Withdrawn);
    assert_eq!(
        bob.return_access(ids[0]).await.unwrap().state,
        State::Returned
    );

    // Errors keep their code and read well.
    let own = bob
        .review(
            ids[2],
            &SubmitReview {
                decision: Decision::Approve,
                reason: "me".into(),
                roles: vec![],
            },
        )
        .await
        .unwrap_err();
    assert_eq!(own.code(), Some(ErrorCode::SelfReview), "{own}");
    assert!(own.to_string().contains("(self_review)"), "{own}");
    let missing = bob.get_request(uuid::Uuid::now_v7()).await.unwrap_err();
    assert_eq!(missing.code(), Some(ErrorCode::NotFound), "{missing}");
    let again = carrot
        .review(
            ids[0],
            &SubmitReview {
                decision: Decision::Deny,
                reason: "late".into(),
                roles: vec![],
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            again.code(),
            Some(ErrorCode::NotPending | ErrorCode::AlreadyReviewed)
        ),
        "{again}"
    );

    // The audit API: refused without the rule, answered with it.
    let refused = bob.audit_events(&ListEvents::default()).await.unwrap_err();
    assert_eq!(refused.code(), Some(ErrorCode::Forbidden), "{refused}");
    let ponder = client(&broker, "ponder");
    let events = ponder
        .audit_events(&ListEvents {
            limit: Some(3),
            ..ListEvents::default()
        })
        .await
        .unwrap();
    assert_eq!(events.events.len(), 3);
    let report = ponder.audit_verify().await.unwrap();
    assert!(report.ok, "{report:?}");
    assert!(report.events >= 8, "{report:?}");

    let bad_token = Client::new(&Connection {
        broker: broker.url.clone(),
        token: "nope".into(),
        ca_pem: None,
    })
    .unwrap();
    let err = bad_token.whoami().await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::Unauthenticated), "{err}");
}

#[tokio::test]
async fn a_stopped_broker_is_unreachable() {
    let mut broker = TestBroker::start();
    let bob = client(&broker, "bob");
    broker.kill();
    let err = bob.whoami().await.unwrap_err();
    assert!(err.is_unreachable(), "{err:?}");
    assert!(matches!(err, ClientError::Unreachable { .. }));
    assert!(
        err.to_string().starts_with("cannot reach the broker at"),
        "{err}"
    );
}

async fn next(sub: &mut Subscriber) -> SubscriptionEvent {
    tokio::time::timeout(Duration::from_secs(10), sub.next())
        .await
        .expect("an event in time")
        .expect("subscription alive")
}

async fn next_message(sub: &mut Subscriber) -> countersign::model::api::StreamMessage {
    loop {
        if let SubscriptionEvent::Message(message) = next(sub).await {
            return *message;
        }
    }
}

#[tokio::test]
async fn subscriber_follows_a_real_broker_across_a_restart() {
    let mut broker = TestBroker::start();
    let bob = client(&broker, "bob");
    let mut sub = Subscriber::spawn(client(&broker, "carrot"), None);
    assert!(matches!(
        next(&mut sub).await,
        SubscriptionEvent::Connected { after: None }
    ));
    let first = bob
        .create_request(&ask(&["production-access"], "incident #1"))
        .await
        .unwrap();
    let message = next_message(&mut sub).await;
    assert_eq!(message.request.map(|r| r.id), Some(first.id));
    let first_seq = message.event.seq;

    broker.restart();
    // Made while the subscriber may still be away: delivered after it resumes.
    let bob = client(&broker, "bob");
    let second = bob
        .create_request(&ask(&["production-access"], "incident #2"))
        .await
        .unwrap();
    let message = next_message(&mut sub).await;
    assert_eq!(message.request.map(|r| r.id), Some(second.id));
    assert_eq!(message.event.seq, first_seq + 1, "nothing doubled or lost");
}

#[tokio::test]
async fn tls_broker_with_a_trusted_ca_file() {
    let certs = tempfile::tempdir().unwrap();
    let (cert, key) = common::self_signed_cert(certs.path());
    let broker = TestBroker::start_with(
        &[],
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );
    assert!(broker.url.starts_with("https://"), "{}", broker.url);

    let untrusted = client(&broker, "bob");
    assert!(
        untrusted.whoami().await.is_err(),
        "self-signed is not trusted by default"
    );

    let config = certs.path().join("console.toml");
    std::fs::write(
        &config,
        format!(
            "broker = \"{}\"\ntoken = \"{}\"\nca_file = \"cert.pem\"\n",
            broker.url,
            broker.token("bob")
        ),
    )
    .unwrap();
    let resolved = countersign::client::Config::resolve(None, None, Some(&config)).unwrap();
    let trusted = Client::new(&resolved.connection).unwrap();
    assert_eq!(trusted.whoami().await.unwrap().user, "bob");
}
