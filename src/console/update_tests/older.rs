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

#[test]
fn under_a_filter_only_a_move_down_asks_for_more() {
    let mut state = with_older();
    cmd(&mut state, Command::Filter);
    for c in "nobody-matches".chars() {
        update(&mut state, Action::FilterChar(c), now());
    }
    cmd(&mut state, Command::ApplyFilter);
    assert!(cmd(&mut state, Command::Tab3).is_empty());
    assert!(!state.older.loading);
    assert_eq!(
        cmd(&mut state, Command::Down),
        vec![Effect::FetchOlder("c1".into())]
    );
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
