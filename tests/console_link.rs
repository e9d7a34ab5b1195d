//! The console's link to a real broker: the feed turns the listing and the event
//! stream into actions, effects become reviews, and `update` shows the result.

mod common;

use std::time::Duration;

use common::{TestBroker, live_console as console, press, until};
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
        s.dialog().is_none()
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

/// A broker whose weekly review flags emergencies after a second and knows only
/// JIRA tickets, with `lead` (auditor and security reviewer) to run the review.
fn review_broker(dir: &tempfile::TempDir) -> TestBroker {
    let config = dir.path().join("broker.toml");
    std::fs::write(
        &config,
        "[audit]\nemergency_review_due = \"1s\"\nticket_patterns = ['\\bJIRA-\\d+\\b']\n",
    )
    .unwrap();
    TestBroker::start_with(
        &[("lead", "auditor,security")],
        &["--config", config.to_str().unwrap()],
    )
}

fn type_text(state: &mut State, text: &str) {
    for c in text.chars() {
        let input = ratatui_textarea::Input {
            key: ratatui_textarea::Key::Char(c),
            ..Default::default()
        };
        update(state, Action::Editor(input), chrono::Utc::now());
    }
}

/// Moves the Audit tab's selection to the first finding matching `wanted`.
fn select_finding(state: &mut State, wanted: impl Fn(&countersign::model::Finding) -> bool) {
    let index = state
        .audit
        .findings
        .iter()
        .flatten()
        .position(wanted)
        .expect("the finding is listed");
    update(state, Action::Command(Command::Top), chrono::Utc::now());
    for _ in 0..index {
        update(state, Action::Command(Command::Down), chrono::Utc::now());
    }
}

#[tokio::test]
async fn marking_a_finding_reviewed_goes_through_the_broker_and_comes_back() {
    use countersign::model::FindingKind;
    let dir = tempfile::tempdir().unwrap();
    let broker = review_broker(&dir);
    let vague = broker
        .create(
            "alice",
            &["production-access"],
            "deploy hotfix, incident #47",
        )
        .await;
    let ticketed = broker
        .create("alice", &["production-access"], "deploy hotfix, JIRA-47")
        .await;
    let (mut state, mut actions, effects) = console(&broker, "lead").await;
    let id_of = |text: &str| text.parse::<uuid::Uuid>().unwrap();
    // Before the findings, the console's default patterns: #47 is a ticket.
    assert!(!state.flags_of(&id_of(&vague)).no_ticket);

    press(&mut state, &effects, Command::PrevTab);
    until(&mut state, &mut actions, &effects, "the findings", |s| {
        s.audit.findings.is_some()
    })
    .await;
    // The broker's patterns arrived with them: only JIRA tickets count now.
    assert_eq!(state.tickets.patterns(), [r"\bJIRA-\d+\b".to_string()]);
    assert!(state.flags_of(&id_of(&vague)).no_ticket);
    assert!(!state.flags_of(&id_of(&ticketed)).no_ticket);

    select_finding(&mut state, |f| {
        f.kind == FindingKind::NoTicket && f.request_id == Some(id_of(&vague))
    });
    let key = state.audit.selected_finding().unwrap().key();
    press(&mut state, &effects, Command::MarkReviewed);
    type_text(
        &mut state,
        "asked alice: the incident is #47 in the old tracker",
    );
    press(&mut state, &effects, Command::Submit);
    until(&mut state, &mut actions, &effects, "the mark", |s| {
        s.note().is_none()
    })
    .await;
    let marked = state
        .audit
        .findings
        .iter()
        .flatten()
        .find(|f| f.key() == key)
        .unwrap();
    let review = marked.reviewed.as_ref().expect("shown as reviewed");
    assert_eq!(review.by, "lead");
    assert_eq!(
        review.note,
        "asked alice: the incident is #47 in the old tracker"
    );

    // Reloaded from the broker, the mark is still there.
    update(
        &mut state,
        Action::Findings(Err("stale".into())),
        chrono::Utc::now(),
    );
    press(&mut state, &effects, Command::Refresh);
    until(&mut state, &mut actions, &effects, "the reload", |s| {
        s.audit.error.is_none()
    })
    .await;
    let reloaded = state.audit.selected_finding().unwrap();
    assert_eq!(reloaded.key(), key, "the selection followed the finding");
    assert_eq!(
        reloaded.reviewed.as_ref().map(|r| r.by.as_str()),
        Some("lead")
    );

    // carrot may read nothing of the audit log: the broker refuses the mark, and
    // the dialog says why with the note kept.
    let (mut carrot, mut carrot_actions, carrot_effects) = console(&broker, "carrot").await;
    let findings = countersign::model::api::FindingsReport {
        findings: state.audit.findings.clone().unwrap(),
        window: countersign::model::Duration::from_hours(168),
        reviewers: Vec::new(),
        ticket_patterns: Vec::new(),
        repeat_threshold: None,
        next: None,
        total: None,
    };
    press(&mut carrot, &carrot_effects, Command::PrevTab);
    update(
        &mut carrot,
        Action::Findings(Ok(findings)),
        chrono::Utc::now(),
    );
    press(&mut carrot, &carrot_effects, Command::MarkReviewed);
    type_text(&mut carrot, "fine by me");
    press(&mut carrot, &carrot_effects, Command::Submit);
    until(
        &mut carrot,
        &mut carrot_actions,
        &carrot_effects,
        "the refusal",
        |s| s.note().is_some_and(|n| !n.in_flight),
    )
    .await;
    let dialog = carrot.note().unwrap();
    let error = dialog.error.as_deref().unwrap_or_default();
    assert!(
        error.contains("your roles do not allow marking findings"),
        "{error}"
    );
    assert_eq!(dialog.note(), "fine by me");
}

#[tokio::test]
async fn a_post_incident_review_goes_through_the_broker_and_its_history_comes_back() {
    use countersign::model::{EventType, FindingKind};
    let dir = tempfile::tempdir().unwrap();
    let broker = review_broker(&dir);
    let emergency = broker
        .create(
            "alice",
            &["production-access"],
            "EMERGENCY: payments down, JIRA-9",
        )
        .await;
    let (status, _) = broker
        .review("carrot", &emergency, "approve", "confirmed by phone")
        .await;
    assert_eq!(status, 200);
    let id: uuid::Uuid = emergency.parse().unwrap();
    // Past the one-second due date of the review.
    tokio::time::sleep(Duration::from_millis(1500)).await;

    // carrot opens the dialog from History before lead records the review.
    let (mut carrot, mut carrot_actions, carrot_effects) = console(&broker, "carrot").await;
    assert!(carrot.flags_of(&id).post_incident_owed);
    press(&mut carrot, &carrot_effects, Command::NextTab);
    assert_eq!(carrot.selected, Some(id), "approved: on the Active tab");
    press(&mut carrot, &carrot_effects, Command::PostIncident);
    assert!(carrot.note().is_some());
    type_text(&mut carrot, "looked fine to me");

    let (mut state, mut actions, effects) = console(&broker, "lead").await;
    press(&mut state, &effects, Command::PrevTab);
    until(&mut state, &mut actions, &effects, "the findings", |s| {
        s.audit.findings.is_some()
    })
    .await;
    select_finding(&mut state, |f| {
        f.kind == FindingKind::EmergencyUnreviewed && f.request_id == Some(id)
    });
    press(&mut state, &effects, Command::PostIncident);
    press(&mut state, &effects, Command::SwitchFocus);
    type_text(
        &mut state,
        "payments really were down; access used as asked",
    );
    press(&mut state, &effects, Command::Submit);
    until(&mut state, &mut actions, &effects, "the review", |s| {
        s.note().is_none()
    })
    .await;
    let request = &state.requests[&id];
    let review = request.post_incident_review.as_ref().expect("recorded");
    assert_eq!(review.author, "lead");
    assert_eq!(
        review.outcome,
        countersign::model::IncidentOutcome::Justified
    );
    assert!(!state.flags_of(&id).post_incident_owed, "no longer owed");

    // Enter: the request's history, with the review's event in it.
    press(&mut state, &effects, Command::Open);
    until(&mut state, &mut actions, &effects, "the history", |s| {
        s.inspect().is_some_and(|i| i.events.is_some())
    })
    .await;
    let events = state.inspect().unwrap().events.clone().unwrap();
    let kinds: Vec<EventType> = events.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        vec![
            EventType::Create,
            EventType::Review,
            EventType::PostIncidentReview
        ]
    );
    assert!(events.windows(2).all(|w| w[0].seq < w[1].seq));
    assert_eq!(events[2].user, "lead");
    press(&mut state, &effects, Command::Back);
    assert!(state.inspect().is_none());
    assert_eq!(
        state.audit.selected_finding().and_then(|f| f.request_id),
        Some(id),
        "back on the same finding"
    );

    // carrot's open dialog hears of it over the stream, and the broker refuses a
    // second review; the notes stay.
    until(
        &mut carrot,
        &mut carrot_actions,
        &carrot_effects,
        "lead's review on the stream",
        |s| s.requests[&id].post_incident_review.is_some(),
    )
    .await;
    let error = carrot.note().unwrap().error.clone().unwrap_or_default();
    assert!(error.contains("lead recorded it meanwhile"), "{error}");
    press(&mut carrot, &carrot_effects, Command::SwitchFocus);
    press(&mut carrot, &carrot_effects, Command::Submit);
    until(
        &mut carrot,
        &mut carrot_actions,
        &carrot_effects,
        "the refusal",
        |s| s.note().is_some_and(|n| !n.in_flight),
    )
    .await;
    let dialog = carrot.note().unwrap();
    let error = dialog.error.as_deref().unwrap_or_default();
    assert!(error.contains("recorded meanwhile"), "{error}");
    assert_eq!(dialog.note(), "looked fine to me");
}

/// The restart gap: a console that saw no event before the broker went away has no
/// id to resume from, so its new stream starts from "now". It must list again
/// before it says "live", or what happened between the restart and the reconnect
/// (a new request, an approval) never shows.
#[tokio::test]
async fn after_a_restart_with_no_event_seen_the_link_lists_again_before_it_says_live() {
    let mut broker = TestBroker::start();
    let waiting = broker
        .create(
            "alice",
            &["production-access"],
            "deploy hotfix, incident #47",
        )
        .await;
    let (mut state, mut actions, effects) = console(&broker, "carrot").await;

    broker.kill();
    until(&mut state, &mut actions, &effects, "offline", |s| {
        s.connection == Link::Offline
    })
    .await;
    broker.restart();
    // Right after the restart, before the link is likely to be back.
    let fresh = broker
        .create("bob", &["production-access"], "rollback, incident #48")
        .await;
    let (status, body) = broker
        .review("adora", &waiting, "approve", "checked incident #47")
        .await;
    assert_eq!(status, 200, "{body}");

    // From here on, "live" may only follow a listing.
    let mut listed = false;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let action = tokio::time::timeout_at(deadline, actions.recv())
            .await
            .expect("live again within 15 s")
            .expect("link running");
        match &action {
            Action::Loaded(_) => listed = true,
            Action::Connection(Link::Live) => {
                assert!(listed, "\"live\" before the listing that catches up");
                break;
            }
            _ => {}
        }
        update(&mut state, action, chrono::Utc::now());
    }
    update(
        &mut state,
        Action::Connection(Link::Live),
        chrono::Utc::now(),
    );
    // What happened between the subscription and the listing may come on the
    // stream just after "live"; it must come, and soon.
    let caught_up = |state: &State| {
        let shown = |id: &str| state.requests.values().find(|r| r.id.to_string() == id);
        shown(&fresh).is_some() && shown(&waiting).map(|r| r.state) == Some(RequestState::Approved)
    };
    let soon = tokio::time::Instant::now() + Duration::from_secs(2);
    while !caught_up(&state) {
        let Ok(Some(action)) = tokio::time::timeout_at(soon, actions.recv()).await else {
            break;
        };
        update(&mut state, action, chrono::Utc::now());
    }
    let shown = |id: &str| state.requests.values().find(|r| r.id.to_string() == id);
    assert!(
        shown(&fresh).is_some(),
        "the request made after the restart"
    );
    assert_eq!(
        shown(&waiting).map(|r| r.state),
        Some(RequestState::Approved),
        "the approval made after the restart"
    );
    assert_eq!(state.rows.len(), 1, "only the new request is pending");
}
