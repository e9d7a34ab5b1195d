//! The console's link to a real broker: the feed turns the listing and the event
//! stream into actions, effects become reviews, and `update` shows the result.

mod common;

use std::time::Duration;

use common::TestBroker;
use countersign::client::{Client, Connection};
use countersign::console::action::{Action, Effect};
use countersign::console::keymap::{Command, Keymap};
use countersign::console::link::{self, NotifyPolicy};
use countersign::console::state::{Connection as Link, State};
use countersign::console::theme::Theme;
use countersign::console::update;
use countersign::model::State as RequestState;
use countersign::model::api::ErrorCode;
use tokio::sync::mpsc;

fn client(broker: &TestBroker, user: &str) -> Client {
    Client::new(&Connection {
        broker: broker.url.clone(),
        token: broker.token(user).to_string(),
        ca_pem: None,
    })
    .expect("client")
}

/// Applies actions from the link until `done` holds, or fails after 10 s.
async fn until(
    state: &mut State,
    actions: &mut mpsc::UnboundedReceiver<Action>,
    effects: &mpsc::UnboundedSender<Effect>,
    what: &str,
    done: impl Fn(&State) -> bool,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !done(state) {
        let action = tokio::time::timeout_at(deadline, actions.recv())
            .await
            .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
            .expect("link running");
        for effect in update(state, action, chrono::Utc::now()) {
            if !matches!(effect, Effect::Notify { .. }) {
                effects.send(effect).expect("effects open");
            }
        }
    }
}

#[tokio::test]
async fn live_queue_and_reviews_through_the_link() {
    let broker = TestBroker::start();
    let first = broker
        .create(
            "alice",
            &["production-access"],
            "deploy hotfix, incident #47",
        )
        .await;

    let (action_tx, mut actions) = mpsc::unbounded_channel();
    let (effects, effect_rx) = mpsc::unbounded_channel();
    let notify = NotifyPolicy {
        enabled: false,
        urgent_only: false,
    };
    link::spawn(client(&broker, "carrot"), action_tx, effect_rx, notify);
    let mut state = State::new(broker.url.clone(), Keymap::default(), Theme::no_color());
    update(
        &mut state,
        Action::Resize {
            width: 160,
            height: 40,
        },
        chrono::Utc::now(),
    );

    until(&mut state, &mut actions, &effects, "first listing", |s| {
        s.loaded && s.connection == Link::Live && s.whoami.is_some()
    })
    .await;
    assert_eq!(state.me(), Some("carrot"));
    assert_eq!(state.rows.len(), 1);
    assert_eq!(state.selected.map(|id| id.to_string()), Some(first.clone()));

    // A new request arrives over the stream: announced, selection unmoved.
    let second = broker
        .create(
            "bob",
            &["production-access"],
            "EMERGENCY: payments down INC-9",
        )
        .await;
    until(&mut state, &mut actions, &effects, "the new request", |s| {
        s.rows.len() == 2
    })
    .await;
    assert_eq!(state.selected.map(|id| id.to_string()), Some(first.clone()));
    assert_eq!(state.unseen.len(), 1);
    assert_eq!(
        state.rows[0].to_string(),
        second,
        "the emergency is listed first"
    );

    // Approve the selected one from the dialog: the broker's answer closes it.
    update(
        &mut state,
        Action::Command(Command::Approve),
        chrono::Utc::now(),
    );
    for c in "checked #47".chars() {
        let input = ratatui_textarea::Input {
            key: ratatui_textarea::Key::Char(c),
            ..Default::default()
        };
        update(&mut state, Action::Editor(input), chrono::Utc::now());
    }
    for effect in update(
        &mut state,
        Action::Command(Command::Submit),
        chrono::Utc::now(),
    ) {
        effects.send(effect).expect("effects open");
    }
    until(&mut state, &mut actions, &effects, "the review", |s| {
        s.dialog.is_none()
    })
    .await;
    let approved = state
        .requests
        .values()
        .find(|r| r.id.to_string() == first)
        .unwrap();
    assert_eq!(approved.state, RequestState::Approved);
    assert_eq!(approved.reviews[0].author, "carrot");
    assert_eq!(state.rows.len(), 1, "the approved request left the queue");

    // A review of a request that is no longer pending comes back as an error in
    // the dialog, with the draft kept.
    let (action_tx2, mut actions2) = mpsc::unbounded_channel();
    let (effects2, effect_rx2) = mpsc::unbounded_channel();
    link::spawn(client(&broker, "adora"), action_tx2, effect_rx2, notify);
    let mut other = State::new(broker.url.clone(), Keymap::default(), Theme::no_color());
    until(
        &mut other,
        &mut actions2,
        &effects2,
        "adora's listing",
        |s| s.loaded && s.whoami.is_some(),
    )
    .await;
    let id = approved.id;
    effects2
        .send(Effect::SubmitReview {
            id,
            review: countersign::model::api::SubmitReview {
                decision: countersign::model::Decision::Deny,
                reason: "too late".into(),
                roles: Vec::new(),
            },
        })
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let action = tokio::time::timeout_at(deadline, actions2.recv())
            .await
            .expect("answer")
            .expect("open");
        if let Action::Reviewed {
            id: answered,
            result,
        } = action
        {
            assert_eq!(answered, id);
            assert_eq!(result.unwrap_err().code, Some(ErrorCode::NotPending));
            break;
        }
    }
}

#[tokio::test]
async fn a_refused_token_is_explained() {
    let broker = TestBroker::start();
    let (action_tx, mut actions) = mpsc::unbounded_channel();
    let (effects, effect_rx) = mpsc::unbounded_channel();
    let client = Client::new(&Connection {
        broker: broker.url.clone(),
        token: "not-a-token".into(),
        ca_pem: None,
    })
    .unwrap();
    link::spawn(
        client,
        action_tx,
        effect_rx,
        NotifyPolicy {
            enabled: false,
            urgent_only: false,
        },
    );
    let mut state = State::new(broker.url.clone(), Keymap::default(), Theme::no_color());
    until(&mut state, &mut actions, &effects, "the refusal", |s| {
        s.notice.is_some()
    })
    .await;
    let text = &state.notice.as_ref().unwrap().text;
    assert!(text.contains("who you are"), "{text}");
    assert_ne!(state.connection, Link::Offline, "the broker answered");
}

#[tokio::test]
async fn an_unreachable_broker_shows_offline() {
    let (action_tx, mut actions) = mpsc::unbounded_channel();
    let (effects, effect_rx) = mpsc::unbounded_channel();
    // A port nothing listens on.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let client = Client::new(&Connection {
        broker: url.clone(),
        token: "t0ken".into(),
        ca_pem: None,
    })
    .unwrap();
    link::spawn(
        client,
        action_tx,
        effect_rx,
        NotifyPolicy {
            enabled: false,
            urgent_only: false,
        },
    );
    let mut state = State::new(url, Keymap::default(), Theme::no_color());
    until(&mut state, &mut actions, &effects, "offline", |s| {
        s.connection == Link::Offline
    })
    .await;
    assert!(!state.loaded);
}

/// A broker without an event stream: the link falls back to polling the listing.
#[tokio::test]
async fn without_an_event_stream_the_link_polls() {
    use axum::Json;
    use axum::routing::get;
    use countersign::console::fixtures;
    use countersign::model::api::{RequestPage, WhoAmI};

    let requests = fixtures::queue();
    let page = RequestPage {
        requests: requests.clone(),
        next: None,
    };
    let app = axum::Router::new()
        .route(
            "/v1/whoami",
            get(|| async {
                Json(WhoAmI {
                    user: "carrot".into(),
                    reviewable_roles: vec!["production-access".into()],
                    ..WhoAmI::default()
                })
            }),
        )
        .route(
            "/v1/requests",
            get(move || async move { Json(page.clone()) }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let (action_tx, mut actions) = mpsc::unbounded_channel();
    let (effects, effect_rx) = mpsc::unbounded_channel();
    let client = Client::new(&Connection {
        broker: url.clone(),
        token: "t0ken".into(),
        ca_pem: None,
    })
    .unwrap();
    link::spawn(
        client,
        action_tx,
        effect_rx,
        NotifyPolicy {
            enabled: false,
            urgent_only: false,
        },
    );
    let mut state = State::new(url, Keymap::default(), Theme::no_color());
    until(&mut state, &mut actions, &effects, "polling", |s| {
        s.connection == Link::Polling && s.loaded
    })
    .await;
    assert_eq!(state.requests.len(), requests.len());
    assert_eq!(state.me(), Some("carrot"));
}
