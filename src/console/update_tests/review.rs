//! The review dialog: pinned to its requests, blank reasons refused, role subsets, drafts, bulk reviews, the broker's answers.

use crate::console::action::{Action, Effect, ReviewError};
use crate::console::fixtures::harness::*;
use crate::console::fixtures::{RequestFixture, id, now, queue};
use crate::console::keymap::Command;
use crate::console::state::{Connection, Tab};
use crate::console::update;
use crate::model::api::ErrorCode;
use crate::model::{Decision, State as RequestState};

#[test]
fn blank_reasons_are_refused_with_a_message() {
    let mut state = loaded(queue());
    cmd(&mut state, Command::Deny);
    type_text(&mut state, "   \n  ");
    let effects = cmd(&mut state, Command::Submit);
    assert!(effects.is_empty());
    let dialog = state.dialog().unwrap();
    assert!(
        dialog
            .error
            .as_deref()
            .unwrap_or("")
            .contains("reason is required")
    );
    assert!(dialog.in_flight.is_empty());
}

#[test]
fn submit_sends_one_review_pinned_to_the_dialogs_request() {
    let mut state = loaded(queue());
    cmd(&mut state, Command::Approve);
    type_text(&mut state, "Confirmed INC-2231");
    // A new row arriving above does not retarget the open dialog.
    update(
        &mut state,
        Action::Upserted(pending(9, "vimes", 600)),
        now(),
    );
    let effects = cmd(&mut state, Command::Submit);
    match &effects[..] {
        [Effect::SubmitReview { id: target, review }] => {
            assert_eq!(*target, id(1));
            assert_eq!(review.decision, Decision::Approve);
            assert_eq!(review.reason, "Confirmed INC-2231");
            assert!(
                review.roles.is_empty(),
                "all roles granted is sent as no subset"
            );
        }
        other => panic!("unexpected effects {other:?}"),
    }
    let approved = RequestFixture::new(1, "angua")
        .state(RequestState::Approved)
        .build();
    update(
        &mut state,
        Action::Reviewed {
            id: id(1),
            result: Ok(approved),
        },
        now(),
    );
    assert!(state.dialog().is_none());
    assert!(!state.drafts.keys().any(|(id1, _)| *id1 == id(1)));
    assert!(state.notice.as_ref().unwrap().text.starts_with("approved"));
}

#[test]
fn role_subset_is_sent_and_empty_subset_refused() {
    let mut state = loaded(queue());
    state.select_index(state.rows.iter().position(|r| *r == id(6)).unwrap());
    cmd(&mut state, Command::Approve);
    type_text(&mut state, "ok for #512");
    cmd(&mut state, Command::SwitchFocus);
    cmd(&mut state, Command::ToggleRole); // withhold developer-db
    let effects = cmd(&mut state, Command::Submit);
    match &effects[..] {
        [Effect::SubmitReview { review, .. }] => {
            assert_eq!(review.roles, vec!["production-access".to_string()])
        }
        other => panic!("unexpected effects {other:?}"),
    }
    // The broker refuses: the error shows and the draft stays intact.
    let refusal = ReviewError {
        code: Some(ErrorCode::NotPending),
        message: String::new(),
    };
    update(
        &mut state,
        Action::Reviewed {
            id: id(6),
            result: Err(refusal),
        },
        now(),
    );
    let dialog = state.dialog().unwrap();
    assert!(
        dialog
            .error
            .as_deref()
            .unwrap()
            .contains("resolved meanwhile")
    );
    assert_eq!(dialog.reason(), "ok for #512");
    // Withholding every role is refused before anything is sent.
    update(&mut state, Action::RoleCursor(1), now());
    cmd(&mut state, Command::ToggleRole);
    assert!(cmd(&mut state, Command::Submit).is_empty());
    assert!(
        state
            .dialog()
            .unwrap()
            .error
            .as_deref()
            .unwrap()
            .contains("at least one role")
    );
}

#[test]
fn space_types_in_the_editor_but_toggles_in_the_role_picker() {
    let mut state = loaded(queue());
    state.select_index(state.rows.iter().position(|r| *r == id(6)).unwrap());
    cmd(&mut state, Command::Approve);
    let space = crossterm::event::KeyEvent::new(
        crossterm::event::KeyCode::Char(' '),
        crossterm::event::KeyModifiers::NONE,
    );
    assert!(matches!(
        crate::console::input::action_for(&state, space),
        Some(Action::Editor(_))
    ));
    cmd(&mut state, Command::SwitchFocus);
    assert_eq!(
        crate::console::input::action_for(&state, space),
        Some(Action::Command(Command::ToggleRole))
    );
}

#[test]
fn cancel_keeps_the_draft_for_that_request_only() {
    let mut state = loaded(queue());
    cmd(&mut state, Command::Deny);
    type_text(&mut state, "No ticket\nplease raise one");
    cmd(&mut state, Command::Cancel);
    assert!(state.dialog().is_none());
    assert_eq!(
        state.drafts[&(id(1), Decision::Deny)].lines,
        vec!["No ticket", "please raise one"]
    );
    // Another request starts blank.
    cmd(&mut state, Command::Down);
    cmd(&mut state, Command::Deny);
    assert_eq!(state.dialog().unwrap().reason(), "");
    cmd(&mut state, Command::Cancel);
    assert!(
        !state.drafts.contains_key(&(id(2), Decision::Deny)),
        "an empty dialog leaves no draft"
    );
    // Back on the first, the draft returns.
    cmd(&mut state, Command::Up);
    cmd(&mut state, Command::Deny);
    assert_eq!(
        state.dialog().unwrap().reason(),
        "No ticket\nplease raise one"
    );
}

#[test]
fn offline_errors_keep_the_dialog_and_draft() {
    let mut state = loaded(queue());
    cmd(&mut state, Command::Deny);
    type_text(&mut state, "not now");
    cmd(&mut state, Command::Submit);
    update(&mut state, Action::Connection(Connection::Offline), now());
    let error = ReviewError {
        code: None,
        message: "connection refused".into(),
    };
    update(
        &mut state,
        Action::Reviewed {
            id: id(1),
            result: Err(error),
        },
        now(),
    );
    let dialog = state.dialog().unwrap();
    assert!(
        dialog
            .error
            .as_deref()
            .unwrap()
            .contains("cannot be reached")
    );
    assert_eq!(dialog.reason(), "not now");
    assert!(dialog.in_flight.is_empty(), "can submit again");
    assert_eq!(cmd(&mut state, Command::Submit).len(), 1);
}

#[test]
fn bulk_review_sends_one_review_per_marked_request() {
    let mut state = loaded(queue());
    cmd(&mut state, Command::Mark); // 1, moves to 2
    cmd(&mut state, Command::Down); // skip 2, on 3
    cmd(&mut state, Command::Mark); // 3, moves to 6
    cmd(&mut state, Command::Mark); // 6
    assert_eq!(state.marked.len(), 3);
    cmd(&mut state, Command::Deny);
    assert!(state.dialog().unwrap().is_bulk());
    type_text(&mut state, "Change freeze until Monday, OPS-7");
    let effects = cmd(&mut state, Command::Submit);
    let mut targets: Vec<_> = effects
        .iter()
        .map(|e| match e {
            Effect::SubmitReview { id, review } => {
                assert_eq!(review.reason, "Change freeze until Monday, OPS-7");
                assert_eq!(review.decision, Decision::Deny);
                *id
            }
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    targets.sort();
    let mut expected = vec![id(1), id(3), id(6)];
    expected.sort();
    assert_eq!(targets, expected);
    // One fails, two succeed: the dialog stays open on the failed one only.
    let deny = |n, user| {
        RequestFixture::new(n, user)
            .state(RequestState::Denied)
            .build()
    };
    update(
        &mut state,
        Action::Reviewed {
            id: id(1),
            result: Ok(deny(1, "angua")),
        },
        now(),
    );
    let refusal = ReviewError {
        code: Some(ErrorCode::AlreadyReviewed),
        message: String::new(),
    };
    update(
        &mut state,
        Action::Reviewed {
            id: id(3),
            result: Err(refusal),
        },
        now(),
    );
    update(
        &mut state,
        Action::Reviewed {
            id: id(6),
            result: Ok(deny(6, "ponder")),
        },
        now(),
    );
    let dialog = state.dialog().unwrap();
    assert_eq!(dialog.targets, vec![id(3)]);
    assert!(
        dialog
            .error
            .as_deref()
            .unwrap()
            .contains("already reviewed")
    );
    assert_eq!(
        state.marked.iter().copied().collect::<Vec<_>>(),
        vec![id(3)]
    );
}

#[test]
fn only_pending_requests_open_a_dialog() {
    let mut state = loaded(queue());
    cmd(&mut state, Command::NextTab);
    assert_eq!(state.tab, Tab::Active);
    assert_eq!(state.rows, vec![id(4)]);
    cmd(&mut state, Command::Approve);
    assert!(state.dialog().is_none());
    assert!(state.notice.as_ref().unwrap().error);
}

#[test]
fn a_request_resolved_elsewhere_is_reported_in_the_open_dialog() {
    let mut state = loaded(queue());
    cmd(&mut state, Command::Approve);
    let approved = RequestFixture::new(1, "angua")
        .state(RequestState::Approved)
        .build();
    update(&mut state, Action::Upserted(approved), now());
    let error = state.dialog().unwrap().error.clone().unwrap();
    assert!(error.contains("approved meanwhile"), "{error}");
}

#[test]
fn help_sits_over_the_dialog_and_closes_back_to_it_with_the_draft() {
    let mut state = loaded(queue());
    cmd(&mut state, Command::Approve);
    type_text(&mut state, "checked ticket");
    let f1 = crossterm::event::KeyEvent::new(
        crossterm::event::KeyCode::F(1),
        crossterm::event::KeyModifiers::NONE,
    );
    let help = crate::console::input::action_for(&state, f1);
    assert_eq!(help, Some(Action::Command(Command::Help)));
    update(&mut state, help.unwrap(), now());
    assert!(state.mode.help_open());
    assert_eq!(
        state.dialog().map(|d| d.reason()).as_deref(),
        Some("checked ticket"),
        "the dialog is still there, under help"
    );
    // Keys scroll help, not the dialog's editor.
    let j = crossterm::event::KeyEvent::new(
        crossterm::event::KeyCode::Char('j'),
        crossterm::event::KeyModifiers::NONE,
    );
    assert_eq!(
        crate::console::input::action_for(&state, j),
        Some(Action::Command(Command::Down))
    );
    cmd(&mut state, Command::Down);
    cmd(&mut state, Command::Help);
    assert!(!state.mode.help_open());
    assert_eq!(state.mode.kind(), crate::console::command::ModeKind::Review);
    assert_eq!(
        state.dialog().map(|d| d.reason()).as_deref(),
        Some("checked ticket")
    );
}

#[test]
fn ones_own_request_is_not_offered_for_review_and_the_keys_say_why() {
    let mut state = loaded(vec![pending(1, "carrot", 30), pending(2, "vimes", 10)]);
    assert_eq!(state.selected, Some(id(1)));
    let hinted = |state: &crate::console::state::State| {
        crate::console::help::offers(state, crate::console::command::ModeKind::Tabs)
            .into_iter()
            .filter(|o| o.hint)
            .map(|o| o.command)
            .collect::<Vec<_>>()
    };
    assert!(!hinted(&state).contains(&Command::Approve));
    assert!(cmd(&mut state, Command::Approve).is_empty());
    assert!(state.dialog().is_none(), "no dialog on one's own request");
    let notice = state.notice.as_ref().unwrap();
    assert!(
        notice.error && notice.text.contains("your own request"),
        "{notice:?}"
    );
    // Someone else's request is offered.
    cmd(&mut state, Command::Down);
    assert!(hinted(&state).contains(&Command::Approve));
    cmd(&mut state, Command::Deny);
    assert_eq!(state.dialog().unwrap().targets, vec![id(2)]);
}

#[test]
fn marks_hidden_by_the_filter_are_not_reviewed_in_bulk() {
    let mut state = loaded(vec![
        pending(1, "vimes", 30),
        pending(2, "angua", 20),
        pending(3, "vimes", 10),
    ]);
    cmd(&mut state, Command::Mark);
    cmd(&mut state, Command::Mark);
    cmd(&mut state, Command::Mark);
    assert_eq!(state.marked.len(), 3);
    cmd(&mut state, Command::Filter);
    for c in "vimes".chars() {
        update(&mut state, Action::FilterChar(c), now());
    }
    cmd(&mut state, Command::ApplyFilter);
    cmd(&mut state, Command::Approve);
    assert_eq!(state.dialog().unwrap().targets, vec![id(1), id(3)]);
    let notice = state.notice.as_ref().unwrap();
    assert!(notice.text.contains("1 hidden by the filter"), "{notice:?}");
}

#[test]
fn a_draft_belongs_to_one_request_and_one_decision() {
    let mut state = loaded(queue());
    cmd(&mut state, Command::Approve);
    type_text(&mut state, "looks right");
    cmd(&mut state, Command::Cancel);
    cmd(&mut state, Command::Deny);
    assert_eq!(
        state.dialog().unwrap().reason(),
        "",
        "an approval's reason is not a denial's"
    );
    type_text(&mut state, "no ticket");
    cmd(&mut state, Command::Cancel);
    cmd(&mut state, Command::Approve);
    assert_eq!(state.dialog().unwrap().reason(), "looks right");
    cmd(&mut state, Command::Cancel);
    cmd(&mut state, Command::Deny);
    assert_eq!(state.dialog().unwrap().reason(), "no ticket");
}
