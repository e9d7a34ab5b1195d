//! `n`/`N`: the next and previous match of the applied filter.

use crate::console::action::Action;
use crate::console::fixtures::harness::*;
use crate::console::fixtures::{event, now, queue};
use crate::console::keymap::Command;
use crate::console::update;
use crate::model::{EventType, FindingKind, Severity};

fn filter(state: &mut crate::console::state::State, text: &str) {
    cmd(state, Command::Filter);
    for c in text.chars() {
        update(state, Action::FilterChar(c), now());
    }
    cmd(state, Command::ApplyFilter);
}

#[test]
fn n_and_shift_n_move_between_findings_matching_the_filter_and_wrap() {
    let mut state = audit_tab(vec![
        finding(FindingKind::Override, Severity::High, 2, 1),
        finding(FindingKind::FastApproval, Severity::Medium, 4, 5),
        finding(FindingKind::NoTicket, Severity::Low, 42, 6),
        finding(FindingKind::FastApproval, Severity::Low, 3, 7),
    ]);
    let kind = |state: &crate::console::state::State| state.audit.selected_finding().unwrap().kind;
    assert_eq!(state.audit.selected, 0);
    // No filter yet: the key says what to do.
    cmd(&mut state, Command::NextMatch);
    assert_eq!(state.audit.selected, 0);
    assert!(state.notice.as_ref().unwrap().text.contains("no filter"));

    filter(&mut state, "FAST");
    // The Audit tab is not narrowed by the filter: every finding is still listed.
    assert_eq!(state.audit.findings.as_ref().unwrap().len(), 4);
    cmd(&mut state, Command::NextMatch);
    assert_eq!(kind(&state), FindingKind::FastApproval);
    let first = state.audit.selected;
    cmd(&mut state, Command::NextMatch);
    assert_eq!(kind(&state), FindingKind::FastApproval);
    assert_ne!(state.audit.selected, first);
    // Past the last match it wraps to the first; N goes back.
    cmd(&mut state, Command::NextMatch);
    assert_eq!(state.audit.selected, first);
    cmd(&mut state, Command::PrevMatch);
    assert_ne!(state.audit.selected, first);
    assert_eq!(kind(&state), FindingKind::FastApproval);

    filter(&mut state, "nothing like this");
    let before = state.audit.selected;
    cmd(&mut state, Command::NextMatch);
    assert_eq!(state.audit.selected, before);
    assert!(
        state
            .notice
            .as_ref()
            .unwrap()
            .text
            .contains("no finding matches")
    );
}

#[test]
fn in_a_requests_history_n_jumps_to_the_next_matching_event() {
    let mut state = loaded(queue());
    cmd(&mut state, Command::Tab2);
    cmd(&mut state, Command::Open);
    let id = state.inspect().unwrap().id;
    assert_eq!(id, crate::console::fixtures::id(4));
    let events = vec![
        event(
            1,
            EventType::Create,
            "detritus",
            4,
            90,
            Some("restart again"),
            &[],
        ),
        event(2, EventType::Review, "carrot", 4, 80, Some("ok"), &[]),
        event(
            3,
            EventType::Update,
            "vimes",
            4,
            70,
            Some("PERMANENT?"),
            &[],
        ),
        event(
            4,
            EventType::Review,
            "carrot",
            4,
            60,
            Some("permanent please"),
            &[],
        ),
    ];
    update(
        &mut state,
        Action::History {
            id,
            result: Ok(events),
        },
        now(),
    );
    // The filter applied in the tab is what n looks for.
    state.filter = "permanent".into();
    assert_eq!(state.inspect().unwrap().history_scroll, 0);
    cmd(&mut state, Command::NextMatch);
    assert_eq!(state.inspect().unwrap().history_scroll, 2);
    cmd(&mut state, Command::NextMatch);
    assert_eq!(state.inspect().unwrap().history_scroll, 3);
    cmd(&mut state, Command::NextMatch);
    assert_eq!(state.inspect().unwrap().history_scroll, 2, "wraps");
    cmd(&mut state, Command::PrevMatch);
    assert_eq!(state.inspect().unwrap().history_scroll, 3);
}

#[test]
fn in_the_request_tabs_n_walks_the_matching_rows_and_wraps() {
    let mut state = loaded(queue());
    filter(&mut state, "production");
    let rows = state.rows.clone();
    assert!(rows.len() >= 2, "{rows:?}");
    cmd(&mut state, Command::Top);
    cmd(&mut state, Command::NextMatch);
    assert_eq!(state.selected, Some(rows[1]));
    cmd(&mut state, Command::PrevMatch);
    assert_eq!(state.selected, Some(rows[0]));
    // Before the first: to the last, and said.
    cmd(&mut state, Command::PrevMatch);
    assert_eq!(state.selected, rows.last().copied());
    assert!(state.notice.as_ref().unwrap().text.contains("last match"));
    cmd(&mut state, Command::NextMatch);
    assert_eq!(state.selected, Some(rows[0]));
    assert!(state.notice.as_ref().unwrap().text.contains("first match"));
    // Nothing matches: said.
    filter(&mut state, "nobody-at-all");
    cmd(&mut state, Command::NextMatch);
    assert!(
        state
            .notice
            .as_ref()
            .unwrap()
            .text
            .contains("no request matches")
    );
}
