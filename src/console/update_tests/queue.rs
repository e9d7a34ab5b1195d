//! What the tabs list and in what order: selection kept by id, filter, sort, freeze, announcements, scrolling.

use crate::console::action::{Action, Effect};
use crate::console::fixtures::harness::*;
use crate::console::fixtures::{RequestFixture, id, now, queue};
use crate::console::keymap::{Command, Keymap};
use crate::console::state::{SortKey, State};
use crate::console::theme::Theme;
use crate::console::update;
use crate::model::State as RequestState;
use crate::model::api::WhoAmI;

#[test]
fn queue_lists_emergencies_first_then_oldest() {
    let state = loaded(queue());
    // 1 is the emergency; then 2 (42m), 3 (12m), 6 (7m).
    assert_eq!(state.rows, vec![id(1), id(2), id(3), id(6)]);
    assert_eq!(state.selected, Some(id(1)));
    assert_eq!(state.counts.pending, 4);
    assert_eq!(state.counts.emergency, 1);
}

#[test]
fn selection_stays_on_its_request_when_rows_arrive() {
    let mut state = loaded(vec![
        pending(1, "vimes", 30),
        pending(2, "angua", 20),
        pending(3, "ponder", 10),
    ]);
    cmd(&mut state, Command::Down);
    assert_eq!(state.selected, Some(id(2)));
    // An older request arrives and lands above the selection.
    let effects = update(
        &mut state,
        Action::Upserted(pending(4, "detritus", 60)),
        now(),
    );
    assert_eq!(state.rows[0], id(4));
    assert_eq!(state.selected, Some(id(2)));
    assert_eq!(state.rows[state.selected_index], id(2));
    // Announced, not focused, and a notification for a reviewer.
    assert!(state.unseen.contains(&id(4)));
    assert!(matches!(
        &effects[..],
        [Effect::Notify { urgent: false, .. }]
    ));
    // A full reload with everything shuffled keeps it too.
    let mut all: Vec<_> = state.requests.values().cloned().collect();
    all.reverse();
    update(&mut state, Action::Loaded(all), now());
    assert_eq!(state.selected, Some(id(2)));
}

#[test]
fn when_the_selected_row_leaves_its_neighbour_is_selected() {
    let mut state = loaded(vec![
        pending(1, "vimes", 30),
        pending(2, "angua", 20),
        pending(3, "ponder", 10),
    ]);
    cmd(&mut state, Command::Down);
    let resolved = RequestFixture::new(2, "angua")
        .age_mins(20)
        .state(RequestState::Approved)
        .build();
    update(&mut state, Action::Upserted(resolved), now());
    assert_eq!(state.rows, vec![id(1), id(3)]);
    assert_eq!(
        state.selected,
        Some(id(3)),
        "the row that took its place, not the top"
    );
    // The last row leaving selects the new last row.
    let gone = RequestFixture::new(3, "ponder")
        .age_mins(10)
        .state(RequestState::Denied)
        .build();
    update(&mut state, Action::Upserted(gone), now());
    assert_eq!(state.selected, Some(id(1)));
    let gone = RequestFixture::new(1, "vimes")
        .age_mins(30)
        .state(RequestState::Expired)
        .build();
    update(&mut state, Action::Upserted(gone), now());
    assert_eq!(state.selected, None);
}

#[test]
fn filter_matches_requester_role_reason_and_id_case_insensitively() {
    let mut state = loaded(queue());
    let mut filter = |text: &str| {
        cmd(&mut state, Command::Filter);
        update(&mut state, Action::Command(Command::ClearFilter), now());
        cmd(&mut state, Command::Filter);
        for c in text.chars() {
            update(&mut state, Action::FilterChar(c), now());
        }
        update(&mut state, Action::Command(Command::ApplyFilter), now());
        state.rows.clone()
    };
    assert_eq!(filter("VIMES"), vec![id(2)]);
    assert_eq!(filter("developer-db"), vec![id(6)]);
    assert_eq!(filter("inc-2231"), vec![id(1)]);
    let short = crate::console::text::short_id(&id(3));
    assert_eq!(filter(&short), vec![id(3)]);
    assert_eq!(filter("nobody-at-all"), Vec::<uuid::Uuid>::new());
    assert_eq!(state.selected, None);
    update(&mut state, Action::Command(Command::Filter), now());
    update(&mut state, Action::Command(Command::ClearFilter), now());
    assert_eq!(state.rows.len(), 4);
    assert!(state.filter.is_empty());
}

#[test]
fn sort_cycles_age_requester_votes_with_emergencies_on_top() {
    let mut state = loaded(queue());
    cmd(&mut state, Command::Sort);
    assert_eq!(state.sort, SortKey::Requester);
    // angua (emergency) first, then detritus, ponder, vimes.
    assert_eq!(state.rows, vec![id(1), id(3), id(6), id(2)]);
    cmd(&mut state, Command::Sort);
    assert_eq!(state.sort, SortKey::Votes);
    // vimes has 1 of 2 approvals: one missing, like the others; then by age.
    assert_eq!(state.rows, vec![id(1), id(2), id(3), id(6)]);
    cmd(&mut state, Command::Sort);
    assert_eq!(state.sort, SortKey::Age);
}

#[test]
fn freeze_buffers_updates_until_unfrozen() {
    let mut state = loaded(vec![pending(1, "vimes", 30)]);
    cmd(&mut state, Command::Freeze);
    let effects = update(&mut state, Action::Upserted(pending(2, "angua", 5)), now());
    assert!(effects.is_empty());
    update(
        &mut state,
        Action::Loaded(vec![
            pending(1, "vimes", 30),
            pending(2, "angua", 5),
            pending(3, "ponder", 1),
        ]),
        now(),
    );
    assert_eq!(state.rows, vec![id(1)]);
    assert_eq!(state.frozen.as_ref().map(Vec::len), Some(2));
    let effects = cmd(&mut state, Command::Freeze);
    assert!(state.frozen.is_none());
    assert_eq!(state.rows, vec![id(1), id(2), id(3)]);
    assert_eq!(
        effects
            .iter()
            .filter(|e| matches!(e, Effect::Notify { .. }))
            .count(),
        2
    );
}

#[test]
fn first_load_announces_nothing_later_loads_do() {
    let mut state = State::new("b", Keymap::default(), Theme::no_color());
    update(
        &mut state,
        Action::WhoAmI(WhoAmI {
            user: "carrot".into(),
            reviewable_roles: vec!["production-access".into()],
            ..WhoAmI::default()
        }),
        now(),
    );
    assert!(
        update(
            &mut state,
            Action::Loaded(vec![pending(1, "vimes", 3)]),
            now()
        )
        .is_empty()
    );
    assert!(state.unseen.is_empty());
    let emergency = RequestFixture::new(2, "angua")
        .reason("EMERGENCY: db down #1")
        .build();
    let own = pending(3, "carrot", 1);
    let effects = update(
        &mut state,
        Action::Loaded(vec![pending(1, "vimes", 3), emergency, own]),
        now(),
    );
    // The user's own request is announced but not notified.
    assert!(matches!(
        &effects[..],
        [Effect::Notify { urgent: true, .. }]
    ));
    assert_eq!(state.unseen.len(), 2);
    // Selecting an unseen row marks it seen.
    let index = state.rows.iter().position(|r| *r == id(2)).unwrap();
    state.select_index(index);
    assert!(!state.unseen.contains(&id(2)));
}

#[test]
fn scrolling_keeps_the_selection_in_the_window() {
    let requests = (0..100)
        .map(|i| pending(i, "vimes", 200 - i as i64))
        .collect();
    let mut state = loaded(requests);
    let page = state.page;
    assert!(page > 5);
    for _ in 0..page + 3 {
        cmd(&mut state, Command::Down);
    }
    assert_eq!(state.selected_index, page + 3);
    assert!(state.offset <= state.selected_index && state.selected_index < state.offset + page);
    cmd(&mut state, Command::Bottom);
    assert_eq!(state.selected_index, 99);
    assert_eq!(state.offset, 100 - page);
    cmd(&mut state, Command::Top);
    assert_eq!(state.offset, 0);
}

#[test]
fn quit_and_refresh_are_effects() {
    let mut state = loaded(queue());
    assert_eq!(cmd(&mut state, Command::Quit), vec![Effect::Quit]);
    assert_eq!(cmd(&mut state, Command::Refresh), vec![Effect::Refresh]);
}

#[test]
fn the_selected_row_keeps_its_place_on_screen_when_rows_arrive_above() {
    let requests = (0..60)
        .map(|i| pending(i, "vimes", 600 - i as i64))
        .collect();
    let mut state = loaded(requests);
    for _ in 0..40 {
        cmd(&mut state, Command::Down);
    }
    let on_screen = state.selected_index - state.offset;
    let selected = state.selected;
    // Three older requests arrive: they sort above everything.
    for n in 100..103 {
        update(
            &mut state,
            Action::Upserted(pending(n, "angua", 2000)),
            now(),
        );
    }
    assert_eq!(state.selected, selected);
    assert_eq!(
        state.selected_index - state.offset,
        on_screen,
        "the row did not move on screen"
    );
    // One leaves above: still in place.
    let gone = RequestFixture::new(100, "angua")
        .age_mins(2000)
        .state(RequestState::Withdrawn)
        .build();
    update(&mut state, Action::Upserted(gone), now());
    assert_eq!(state.selected_index - state.offset, on_screen);
}

#[test]
fn tabs_by_number_and_esc_clears_an_applied_filter() {
    let mut state = loaded(queue());
    cmd(&mut state, Command::Tab3);
    assert_eq!(state.tab, crate::console::state::Tab::History);
    cmd(&mut state, Command::Tab2);
    assert_eq!(state.tab, crate::console::state::Tab::Active);
    assert_eq!(cmd(&mut state, Command::Tab4), vec![fetch_findings()]);
    assert_eq!(state.tab, crate::console::state::Tab::Audit);
    cmd(&mut state, Command::Tab1);
    assert_eq!(state.tab, crate::console::state::Tab::Queue);

    cmd(&mut state, Command::Filter);
    for c in "vimes".chars() {
        update(&mut state, Action::FilterChar(c), now());
    }
    cmd(&mut state, Command::ApplyFilter);
    assert_eq!(state.filter, "vimes");
    assert_eq!(state.rows, vec![id(2)]);
    let esc = crossterm::event::KeyEvent::new(
        crossterm::event::KeyCode::Esc,
        crossterm::event::KeyModifiers::NONE,
    );
    let action = crate::console::input::action_for(&state, esc).unwrap();
    update(&mut state, action, now());
    assert_eq!(state.filter, "");
    assert_eq!(state.rows.len(), 4, "every pending request again");
}

#[test]
fn y_copies_the_selected_id() {
    let mut state = loaded(queue());
    assert_eq!(
        cmd(&mut state, Command::CopyId),
        vec![Effect::Copy(id(1).to_string())]
    );
    cmd(&mut state, Command::Down);
    assert_eq!(
        cmd(&mut state, Command::CopyId),
        vec![Effect::Copy(id(2).to_string())]
    );
}

#[test]
fn q_asks_before_losing_drafts_and_quits_at_once_without() {
    let mut state = loaded(queue());
    cmd(&mut state, Command::Approve);
    type_text(&mut state, "half a reason");
    cmd(&mut state, Command::Cancel);
    assert!(cmd(&mut state, Command::Quit).is_empty(), "asked first");
    assert_eq!(
        state.mode.kind(),
        crate::console::command::ModeKind::Confirm
    );
    // No: back to the queue, the draft kept.
    assert!(cmd(&mut state, Command::Cancel).is_empty());
    assert_eq!(state.mode.kind(), crate::console::command::ModeKind::Tabs);
    assert_eq!(state.drafts.len(), 1);
    cmd(&mut state, Command::Quit);
    assert_eq!(cmd(&mut state, Command::Confirm), vec![Effect::Quit]);
    // Without drafts q quits at once.
    let mut clean = loaded(queue());
    assert_eq!(cmd(&mut clean, Command::Quit), vec![Effect::Quit]);
}

#[test]
fn a_click_selects_the_row_under_it_and_the_wheel_moves_the_selection() {
    let mut state = loaded(queue());
    // 160×40 is wide: the table is on the left, rows start below its border and
    // header, on screen row 3.
    update(&mut state, Action::Click { column: 10, row: 5 }, now());
    assert_eq!(state.rows[2], state.selected.unwrap());
    update(&mut state, Action::Wheel(-1), now());
    assert_eq!(state.rows[1], state.selected.unwrap());
    update(&mut state, Action::Wheel(1), now());
    update(&mut state, Action::Wheel(1), now());
    assert_eq!(state.rows[3], state.selected.unwrap());
    // Below the last row, or on the detail pane: nothing changes.
    update(
        &mut state,
        Action::Click {
            column: 10,
            row: 30,
        },
        now(),
    );
    update(
        &mut state,
        Action::Click {
            column: 150,
            row: 4,
        },
        now(),
    );
    assert_eq!(state.rows[3], state.selected.unwrap());
}

#[test]
fn t_shows_the_demos_environment_and_says_so_elsewhere() {
    let mut state = loaded(queue());
    cmd(&mut state, Command::DemoEnv);
    assert_eq!(state.mode.kind(), crate::console::command::ModeKind::Tabs);
    assert!(
        state
            .notice
            .as_ref()
            .unwrap()
            .text
            .contains("no demo environment")
    );
    update(
        &mut state,
        Action::DemoEnv(crate::console::state::DemoEnv {
            path: "/tmp/countersign-demo-x/demo.env".into(),
            text: "export COUNTERSIGN_BROKER=http://127.0.0.1:1\n".into(),
        }),
        now(),
    );
    cmd(&mut state, Command::DemoEnv);
    assert_eq!(state.mode.kind(), crate::console::command::ModeKind::Panel);
    cmd(&mut state, Command::DemoEnv);
    assert_eq!(state.mode.kind(), crate::console::command::ModeKind::Tabs);
}
