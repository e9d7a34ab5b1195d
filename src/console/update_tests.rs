use super::*;
use crate::console::action::{Action, Effect, ReviewError};
use crate::console::fixtures::{RequestFixture, id, now, queue};
use crate::console::keymap::{Command, Keymap};
use crate::console::state::{Connection, SortKey, State, Tab};
use crate::console::theme::Theme;
use crate::model::api::{ErrorCode, WhoAmI};
use crate::model::{Decision, State as RequestState};
use ratatui_textarea::{Input, Key};

fn loaded(requests: Vec<crate::model::Request>) -> State {
    let mut state = State::new(
        "http://127.0.0.1:7800",
        Keymap::default(),
        Theme::no_color(),
    );
    update(
        &mut state,
        Action::Resize {
            width: 160,
            height: 40,
        },
        now(),
    );
    update(
        &mut state,
        Action::WhoAmI(WhoAmI {
            user: "carrot".into(),
            roles: vec!["reviewer".into()],
            reviewable_roles: vec![
                "production-access".into(),
                "production-db-access".into(),
                "developer-db".into(),
            ],
            ..WhoAmI::default()
        }),
        now(),
    );
    update(&mut state, Action::Loaded(requests), now());
    state
}

fn cmd(state: &mut State, command: Command) -> Vec<Effect> {
    update(state, Action::Command(command), now())
}

fn type_text(state: &mut State, text: &str) {
    for c in text.chars() {
        let key = if c == '\n' { Key::Enter } else { Key::Char(c) };
        update(
            state,
            Action::Editor(Input {
                key,
                ..Input::default()
            }),
            now(),
        );
    }
}

fn pending(n: u64, user: &str, age: i64) -> crate::model::Request {
    RequestFixture::new(n, user).age_mins(age).build()
}

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
        update(&mut state, Action::FilterCancel, now());
        cmd(&mut state, Command::Filter);
        for c in text.chars() {
            update(&mut state, Action::FilterChar(c), now());
        }
        update(&mut state, Action::FilterApply, now());
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
    update(&mut state, Action::FilterCancel, now());
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
fn blank_reasons_are_refused_with_a_message() {
    let mut state = loaded(queue());
    cmd(&mut state, Command::Deny);
    type_text(&mut state, "   \n  ");
    let effects = cmd(&mut state, Command::Submit);
    assert!(effects.is_empty());
    let dialog = state.dialog.as_ref().unwrap();
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
    assert!(state.dialog.is_none());
    assert!(!state.drafts.contains_key(&id(1)));
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
    let dialog = state.dialog.as_ref().unwrap();
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
            .dialog
            .as_ref()
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
    let keymap = Keymap::default();
    let space = crossterm::event::KeyEvent::new(
        crossterm::event::KeyCode::Char(' '),
        crossterm::event::KeyModifiers::NONE,
    );
    assert!(matches!(
        keymap.action_for(&state, space),
        Some(Action::Editor(_))
    ));
    cmd(&mut state, Command::SwitchFocus);
    assert_eq!(
        keymap.action_for(&state, space),
        Some(Action::Command(Command::ToggleRole))
    );
}

#[test]
fn cancel_keeps_the_draft_for_that_request_only() {
    let mut state = loaded(queue());
    cmd(&mut state, Command::Deny);
    type_text(&mut state, "No ticket\nplease raise one");
    cmd(&mut state, Command::Cancel);
    assert!(state.dialog.is_none());
    assert_eq!(
        state.drafts[&id(1)].lines,
        vec!["No ticket", "please raise one"]
    );
    // Another request starts blank.
    cmd(&mut state, Command::Down);
    cmd(&mut state, Command::Deny);
    assert_eq!(state.dialog.as_ref().unwrap().reason(), "");
    cmd(&mut state, Command::Cancel);
    assert!(
        !state.drafts.contains_key(&id(2)),
        "an empty dialog leaves no draft"
    );
    // Back on the first, the draft returns.
    cmd(&mut state, Command::Up);
    cmd(&mut state, Command::Deny);
    assert_eq!(
        state.dialog.as_ref().unwrap().reason(),
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
    let dialog = state.dialog.as_ref().unwrap();
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
    assert!(state.dialog.as_ref().unwrap().is_bulk());
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
    let dialog = state.dialog.as_ref().unwrap();
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
    assert!(state.dialog.is_none());
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
    let error = state.dialog.as_ref().unwrap().error.clone().unwrap();
    assert!(error.contains("approved meanwhile"), "{error}");
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

fn finding(
    kind: crate::model::FindingKind,
    severity: crate::model::Severity,
    n: u64,
    hours_ago: i64,
) -> crate::model::Finding {
    crate::model::Finding {
        kind,
        severity,
        request_id: Some(id(n)),
        user: "detritus".into(),
        reviewer: None,
        roles: vec!["production-access".into()],
        detail: format!("finding about request {n}"),
        at: now() - chrono::TimeDelta::hours(hours_ago),
        reviewed: None,
    }
}

#[test]
fn audit_tab_fetches_once_sorts_by_severity_and_navigates() {
    use crate::model::{Duration, FindingKind, Severity};
    let mut state = loaded(queue());
    assert_eq!(
        cmd(&mut state, Command::PrevTab),
        vec![Effect::FetchFindings]
    );
    assert_eq!(state.tab, Tab::Audit);
    // Switching away and back while the answer is pending asks only once.
    cmd(&mut state, Command::NextTab);
    assert!(cmd(&mut state, Command::PrevTab).is_empty());
    let report = crate::model::api::FindingsReport {
        findings: vec![
            finding(FindingKind::NoTicket, Severity::Low, 3, 1),
            finding(FindingKind::FastApproval, Severity::High, 4, 5),
            finding(FindingKind::RepeatRequest, Severity::Medium, 5, 2),
            finding(FindingKind::Override, Severity::High, 2, 1),
        ],
        window: Duration::from_hours(168),
        reviewers: Vec::new(),
    };
    update(&mut state, Action::Findings(Ok(report)), now());
    let kinds: Vec<_> = state
        .audit
        .findings
        .as_ref()
        .unwrap()
        .iter()
        .map(|f| f.kind)
        .collect();
    assert_eq!(
        kinds,
        vec![
            FindingKind::Override,
            FindingKind::FastApproval,
            FindingKind::RepeatRequest,
            FindingKind::NoTicket
        ]
    );
    cmd(&mut state, Command::Down);
    cmd(&mut state, Command::Down);
    assert_eq!(
        state.audit.selected_finding().unwrap().kind,
        FindingKind::RepeatRequest
    );
    cmd(&mut state, Command::Bottom);
    assert_eq!(state.audit.selected, 3);
    // Reviews happen in the Queue; the request selection is untouched.
    assert!(cmd(&mut state, Command::Approve).is_empty());
    assert!(state.dialog.is_none());
    assert!(state.notice.as_ref().unwrap().error);
    // Refresh reloads both.
    assert_eq!(
        cmd(&mut state, Command::Refresh),
        vec![Effect::FetchFindings, Effect::Refresh]
    );
    update(&mut state, Action::Findings(Err("forbidden".into())), now());
    assert_eq!(state.audit.error.as_deref(), Some("forbidden"));
    assert_eq!(
        state.audit.findings.as_ref().map(Vec::len),
        Some(4),
        "the last findings are kept"
    );
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
