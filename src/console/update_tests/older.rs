//! The History tab a page at a time from the broker.

use crate::console::action::{Action, Effect};
use crate::console::fixtures::harness::*;
use crate::console::fixtures::{RequestFixture, id, now, queue};
use crate::console::keymap::Command;
use crate::console::state::State;
use crate::console::update;
use crate::model::{Request, State as RequestState};

fn denied(n: u64) -> Request {
    RequestFixture::new(n, "detritus")
        .age_mins(60 * 24 + n as i64)
        .state(RequestState::Denied)
        .build()
}

/// The queue, told the broker has older history after cursor "c1".
fn with_older() -> State {
    let mut state = loaded(queue());
    update(&mut state, Action::OlderFrom(Some("c1".into())), now());
    state
}

#[test]
fn history_asks_for_the_next_page_near_its_end_once_at_a_time() {
    let mut state = with_older();
    // Nothing is asked while History is not shown.
    assert!(cmd(&mut state, Command::Down).is_empty());
    let effects = cmd(&mut state, Command::Tab3);
    assert_eq!(effects, vec![Effect::FetchOlder("c1".into())]);
    assert!(state.older.loading);
    // Waiting: not asked twice.
    assert!(!cmd(&mut state, Command::Down).contains(&Effect::FetchOlder("c1".into())));

    let page: Vec<Request> = (20..30).map(denied).collect();
    let effects = update(
        &mut state,
        Action::Older(Ok((page, Some("c2".into())))),
        now(),
    );
    assert_eq!(state.older.next.as_deref(), Some("c2"));
    assert_eq!(state.rows.len(), 11, "the one denied request and ten older");
    // The rows still fit a page (40 lines high): the next page is asked at once.
    assert_eq!(effects, vec![Effect::FetchOlder("c2".into())]);
    assert!(state.older.loading);
    update(
        &mut state,
        Action::Older(Ok((vec![denied(40)], None))),
        now(),
    );
    assert!(!state.older.more());
    assert!(cmd(&mut state, Command::Bottom).is_empty(), "all loaded");
}

#[test]
fn a_page_never_replaces_what_the_stream_keeps_current() {
    let mut state = with_older();
    cmd(&mut state, Command::Tab3);
    // An older copy of request 5 (denied in the listing) arrives pending.
    let stale = RequestFixture::new(5, "detritus").build();
    update(&mut state, Action::Older(Ok((vec![stale], None))), now());
    assert_eq!(state.requests[&id(5)].state, RequestState::Denied);
}

fn apply_filter(state: &mut State, text: &str) -> Vec<Effect> {
    cmd(state, Command::Filter);
    for _ in 0..state.filter.chars().count() {
        update(state, Action::FilterBackspace, now());
    }
    for c in text.chars() {
        // Typing asks nothing of the broker: only the applied filter is searched.
        assert!(update(state, Action::FilterChar(c), now()).is_empty());
    }
    cmd(state, Command::ApplyFilter)
}

fn search(q: &str, after: Option<&str>) -> Effect {
    Effect::FetchMatches {
        q: q.into(),
        after: after.map(String::from),
    }
}

#[test]
fn under_a_filter_history_asks_the_broker_for_matches_a_page_at_a_time() {
    let mut state = with_older();
    cmd(&mut state, Command::Tab3);
    // The first page of history is on its way; its answer ends near the end.
    update(
        &mut state,
        Action::Older(Ok((Vec::new(), Some("c2".into())))),
        now(),
    );
    let effects = apply_filter(&mut state, "Vetinari");
    assert_eq!(effects, vec![search("Vetinari", None)]);
    assert!(state.matches.as_ref().is_some_and(|m| m.loading));
    // Waiting: neither asked twice nor the unfiltered older pages instead.
    assert!(cmd(&mut state, Command::Down).is_empty());

    let found: Vec<Request> = (50..52)
        .map(|n| {
            RequestFixture::new(n, "vetinari")
                .age_mins(60 * 24 * 30)
                .state(RequestState::Denied)
                .build()
        })
        .collect();
    let effects = update(
        &mut state,
        Action::Matches {
            q: "Vetinari".into(),
            result: Ok((found, Some("m2".into()))),
        },
        now(),
    );
    assert_eq!(
        state.rows,
        vec![id(51), id(50)],
        "the broker's matches are listed"
    );
    // They fit on a page: the next page of matches is asked at once.
    assert_eq!(effects, vec![search("Vetinari", Some("m2"))]);
    update(
        &mut state,
        Action::Matches {
            q: "Vetinari".into(),
            result: Ok((Vec::new(), None)),
        },
        now(),
    );
    assert!(state.matches.as_ref().is_some_and(|m| !m.more()));
    assert!(
        cmd(&mut state, Command::Bottom).is_empty(),
        "every match loaded"
    );

    // n and N walk the matches, wrapping around.
    cmd(&mut state, Command::Top);
    cmd(&mut state, Command::NextMatch);
    assert_eq!(state.selected, Some(id(50)));
    cmd(&mut state, Command::NextMatch);
    assert_eq!(state.selected, Some(id(51)), "wrapped to the first");
    cmd(&mut state, Command::PrevMatch);
    assert_eq!(state.selected, Some(id(50)), "wrapped to the last");
}

#[test]
fn an_answer_for_a_filter_no_longer_applied_is_dropped() {
    let mut state = with_older();
    cmd(&mut state, Command::Tab3);
    assert_eq!(
        apply_filter(&mut state, "angua"),
        vec![search("angua", None)]
    );
    assert_eq!(
        apply_filter(&mut state, "nobby"),
        vec![search("nobby", None)]
    );
    let late = RequestFixture::new(60, "angua")
        .state(RequestState::Denied)
        .build();
    update(
        &mut state,
        Action::Matches {
            q: "angua".into(),
            result: Ok((vec![late], None)),
        },
        now(),
    );
    assert!(!state.requests.contains_key(&id(60)));
    assert!(
        state
            .matches
            .as_ref()
            .is_some_and(|m| m.loading && m.q == "nobby")
    );
    // A failed search says so and is retried by r, which lists again.
    update(
        &mut state,
        Action::Matches {
            q: "nobby".into(),
            result: Err("cannot search the history: 503".into()),
        },
        now(),
    );
    assert!(
        cmd(&mut state, Command::Down).is_empty(),
        "not retried by itself"
    );
    assert_eq!(
        update(&mut state, Action::OlderFrom(Some("c1".into())), now()),
        vec![search("nobby", None)],
        "the listing r brings starts the search again"
    );
}

#[test]
fn with_the_whole_history_loaded_the_filter_searches_nothing_more() {
    let mut state = loaded(queue());
    update(&mut state, Action::OlderFrom(None), now());
    cmd(&mut state, Command::Tab3);
    assert!(apply_filter(&mut state, "vimes").is_empty());
    assert!(state.matches.is_none());
}

#[test]
fn a_failed_page_says_why_and_a_refresh_starts_over() {
    let mut state = with_older();
    cmd(&mut state, Command::Tab3);
    update(
        &mut state,
        Action::Older(Err("cannot list older requests: 503".into())),
        now(),
    );
    assert!(state.older.error.is_some());
    assert!(!state.older.loading);
    // Not retried by itself.
    assert!(cmd(&mut state, Command::Down).is_empty());
    assert_eq!(cmd(&mut state, Command::Refresh), vec![Effect::Refresh]);
    update(&mut state, Action::OlderFrom(Some("c1".into())), now());
    assert_eq!(state.older.error, None);
}
