//! The console's pages through its real link: a broker holding more than one page
//! of history and of findings, the History filter searched on the broker, and the
//! Audit tab loaded a page at a time and kept current.

mod common;

use common::{TestBroker, live_console as console, press, until};
use countersign::console::action::{Action, Effect};
use countersign::console::keymap::Command;
use countersign::console::state::{State, Tab};
use countersign::console::update;
use countersign::model::api::MAX_PAGE;
use serde_json::json;
use tokio::sync::mpsc;

fn apply_filter(state: &mut State, effects: &mpsc::UnboundedSender<Effect>, text: &str) {
    press(state, effects, Command::Filter);
    for _ in 0..state.filter.chars().count() {
        update(state, Action::FilterBackspace, chrono::Utc::now());
    }
    for c in text.chars() {
        update(state, Action::FilterChar(c), chrono::Utc::now());
    }
    press(state, effects, Command::ApplyFilter);
}

/// `n` requests by alice naming no ticket, created a few at a time.
async fn fill(broker: &TestBroker, n: usize) {
    let broker = std::sync::Arc::new((broker.url.clone(), broker.token("alice").to_string()));
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..8 {
        let broker = broker.clone();
        tasks.spawn(async move {
            let http = reqwest::Client::new();
            for i in (worker..n).step_by(8) {
                let response = http
                    .post(format!("{}/v1/requests", broker.0))
                    .bearer_auth(&broker.1)
                    .json(&json!({"roles": ["production-access"], "reason": format!("routine look {i}")}))
                    .send()
                    .await
                    .expect("broker answers");
                assert_eq!(response.status(), 201);
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("a filler");
    }
}

#[tokio::test]
async fn history_is_searched_on_the_broker_and_findings_come_a_page_at_a_time() {
    let broker = TestBroker::start();
    // An old withdrawn request, then a page's worth of newer ones above it.
    let old = broker
        .create(
            "bob",
            &["production-access"],
            "incident #7 the Seamstresses' Guild",
        )
        .await;
    let (status, _) = broker
        .post("bob", &format!("/v1/requests/{old}/withdraw"), json!({}))
        .await;
    assert_eq!(status, 200);
    fill(&broker, MAX_PAGE + 5).await;

    let (mut state, mut actions, effects) = console(&broker, "ponder").await;
    let old_id: uuid::Uuid = old.parse().unwrap();
    assert!(
        !state.requests.contains_key(&old_id),
        "below the first page: not loaded at start"
    );
    assert!(state.older.more());

    // A filter matching nothing anywhere: the broker says so, nothing is listed.
    // (Applied first, so History opens under it and pulls no older page in.)
    apply_filter(&mut state, &effects, "no such text anywhere");
    press(&mut state, &effects, Command::Tab3);
    until(
        &mut state,
        &mut actions,
        &effects,
        "the empty search",
        |s| {
            s.matches
                .as_ref()
                .is_some_and(|m| m.q == "no such text anywhere" && !m.loading && !m.more())
        },
    )
    .await;
    assert!(state.rows.is_empty());
    // History's filter finds the old one on the broker; n walks what it found.
    apply_filter(&mut state, &effects, "SEAMSTRESS");
    assert_eq!(state.filter, "SEAMSTRESS");
    until(&mut state, &mut actions, &effects, "the search", |s| {
        s.matches
            .as_ref()
            .is_some_and(|m| m.q == "SEAMSTRESS" && !m.loading)
    })
    .await;
    assert_eq!(state.rows, vec![old_id], "the broker's match is listed");
    press(&mut state, &effects, Command::NextMatch);
    assert_eq!(state.selected, Some(old_id));
    assert!(
        state.older.more(),
        "the search found it without pulling the history in"
    );

    // The Audit tab: one page of the thousand no-ticket findings, the broker's
    // count, and the next page when scrolled to the end.
    press(&mut state, &effects, Command::ClearFilter);
    press(&mut state, &effects, Command::Tab4);
    assert_eq!(state.tab, Tab::Audit);
    until(&mut state, &mut actions, &effects, "the findings", |s| {
        s.audit.findings.is_some() && !s.audit.loading
    })
    .await;
    let first = state.audit.findings.as_ref().map_or(0, Vec::len);
    let total = state.audit.total.expect("the broker counts them");
    assert_eq!(first, countersign::model::api::DEFAULT_PAGE);
    assert!(total > MAX_PAGE, "{total}");
    assert_eq!(state.audit.count(), Some(total));
    press(&mut state, &effects, Command::Bottom);
    until(&mut state, &mut actions, &effects, "the next page", |s| {
        !s.audit.more_loading
    })
    .await;
    let findings = state.audit.findings.as_ref().unwrap();
    assert_eq!(findings.len(), 2 * first);
    let mut keys: Vec<String> = findings.iter().map(|f| f.key()).collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), 2 * first, "no finding twice");

    // The log moves: stale, then fetched again, as many as were loaded.
    broker
        .create("bob", &["production-access"], "poke at it")
        .await;
    until(&mut state, &mut actions, &effects, "the stale mark", |s| {
        s.audit.stale
    })
    .await;
    // The runtime's clock ticks; a couple of seconds after the last fetch, again.
    let later = chrono::Utc::now() + chrono::TimeDelta::seconds(5);
    for effect in update(&mut state, Action::Tick, later) {
        effects.send(effect).expect("effects open");
    }
    assert!(state.audit.loading, "the tick fetched them again");
    until(&mut state, &mut actions, &effects, "the refresh", |s| {
        !s.audit.stale && !s.audit.loading && s.audit.total == Some(total + 1)
    })
    .await;
    assert_eq!(state.audit.findings.as_ref().map(Vec::len), Some(2 * first));
}
