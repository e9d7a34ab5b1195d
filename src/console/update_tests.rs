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
        ticket_patterns: Vec::new(),
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

fn report(findings: Vec<crate::model::Finding>) -> crate::model::api::FindingsReport {
    crate::model::api::FindingsReport {
        findings,
        window: crate::model::Duration::from_hours(168),
        reviewers: Vec::new(),
        ticket_patterns: Vec::new(),
    }
}

/// The Audit tab open on `findings`, over the queue plus an owed emergency (7).
fn audit_tab(findings: Vec<crate::model::Finding>) -> State {
    let mut requests = queue();
    requests.push(crate::console::fixtures::owed_emergency(7, "angua"));
    let mut state = loaded(requests);
    cmd(&mut state, Command::PrevTab);
    update(&mut state, Action::Findings(Ok(report(findings))), now());
    state
}

fn refusal(code: Option<ErrorCode>, message: &str) -> ReviewError {
    ReviewError {
        code,
        message: message.into(),
    }
}

fn note_error(state: &State) -> String {
    state
        .note
        .as_ref()
        .and_then(|n| n.error.clone())
        .unwrap_or_default()
}

#[test]
fn mark_reviewed_opens_on_the_selected_finding_only_in_the_audit_tab() {
    use crate::console::state::NoteKind;
    use crate::model::{FindingKind, Severity};
    let mut queue_state = loaded(queue());
    cmd(&mut queue_state, Command::MarkReviewed);
    assert!(queue_state.note.is_none());
    assert!(
        queue_state
            .notice
            .as_ref()
            .unwrap()
            .text
            .contains("Audit tab")
    );

    let mut state = audit_tab(vec![
        finding(FindingKind::NoTicket, Severity::Low, 3, 1),
        finding(FindingKind::FastApproval, Severity::Medium, 4, 5),
    ]);
    cmd(&mut state, Command::Down);
    let key = state.audit.selected_finding().unwrap().key();
    assert!(key.starts_with("no_ticket:"), "{key}");
    cmd(&mut state, Command::MarkReviewed);
    assert_eq!(
        state.note.as_ref().map(|n| &n.kind),
        Some(&NoteKind::Finding { key })
    );
}

#[test]
fn a_blank_note_is_refused_and_a_note_is_sent_with_the_findings_key() {
    use crate::model::api::MarkFindingReviewed;
    use crate::model::{FindingKind, Severity};
    let mut state = audit_tab(vec![finding(
        FindingKind::FastApproval,
        Severity::Medium,
        4,
        5,
    )]);
    let key = state.audit.selected_finding().unwrap().key();
    cmd(&mut state, Command::MarkReviewed);
    type_text(&mut state, "  \n ");
    assert!(cmd(&mut state, Command::Submit).is_empty());
    assert!(
        note_error(&state).contains("a note is required"),
        "{}",
        note_error(&state)
    );

    cmd(&mut state, Command::Cancel);
    cmd(&mut state, Command::MarkReviewed);
    type_text(&mut state, "asked carrot: pre-arranged for the release");
    // A reload while the dialog is open re-sorts; the dialog stays on its key.
    update(
        &mut state,
        Action::Findings(Ok(report(vec![
            finding(FindingKind::Override, Severity::High, 2, 1),
            finding(FindingKind::FastApproval, Severity::Medium, 4, 5),
        ]))),
        now(),
    );
    let effects = cmd(&mut state, Command::Submit);
    assert_eq!(
        effects,
        vec![Effect::MarkFindingReviewed(MarkFindingReviewed {
            key: key.clone(),
            note: "asked carrot: pre-arranged for the release".into(),
        })]
    );
    assert!(state.note.as_ref().unwrap().in_flight);
    assert!(cmd(&mut state, Command::Submit).is_empty(), "one at a time");
    assert!(note_error(&state).contains("waiting"));
}

#[test]
fn the_brokers_mark_shows_on_the_finding_and_closes_the_dialog() {
    use crate::model::{FindingKind, FindingReview, Severity};
    let mut state = audit_tab(vec![finding(
        FindingKind::FastApproval,
        Severity::Medium,
        4,
        5,
    )]);
    let key = state.audit.selected_finding().unwrap().key();
    cmd(&mut state, Command::MarkReviewed);
    type_text(&mut state, "asked; fine");
    cmd(&mut state, Command::Submit);
    let review = FindingReview {
        by: "vimes".into(),
        note: "asked; fine".into(),
        at: now(),
    };
    update(
        &mut state,
        Action::FindingMarked {
            key: key.clone(),
            result: Ok(review.clone()),
        },
        now(),
    );
    assert!(state.note.is_none());
    assert_eq!(
        state.audit.selected_finding().unwrap().reviewed,
        Some(review)
    );
    let notice = state.notice.as_ref().unwrap();
    assert!(
        !notice.error && notice.text.contains("fast_approval"),
        "{}",
        notice.text
    );
    // Reopening starts blank: the draft went with the success.
    cmd(&mut state, Command::MarkReviewed);
    assert_eq!(state.note.as_ref().unwrap().note(), "");
}

#[test]
fn a_refused_or_unsent_mark_keeps_the_dialog_and_the_note() {
    use crate::model::{FindingKind, Severity};
    let mut state = audit_tab(vec![finding(
        FindingKind::FastApproval,
        Severity::Medium,
        4,
        5,
    )]);
    let key = state.audit.selected_finding().unwrap().key();
    cmd(&mut state, Command::MarkReviewed);
    type_text(&mut state, "looked into it");
    cmd(&mut state, Command::Submit);
    update(
        &mut state,
        Action::FindingMarked {
            key: key.clone(),
            result: Err(refusal(
                Some(ErrorCode::Forbidden),
                "marking findings reviewed needs rule event: update",
            )),
        },
        now(),
    );
    let dialog = state.note.as_ref().unwrap();
    assert!(note_error(&state).contains("rule event: update"));
    assert_eq!(dialog.note(), "looked into it");
    assert!(!dialog.in_flight);
    assert!(state.audit.selected_finding().unwrap().reviewed.is_none());

    // Offline: said so, and the same note can be sent again.
    assert_eq!(cmd(&mut state, Command::Submit).len(), 1);
    update(
        &mut state,
        Action::FindingMarked {
            key,
            result: Err(refusal(None, "connection refused")),
        },
        now(),
    );
    assert!(note_error(&state).contains("cannot be reached"));
    assert_eq!(state.note.as_ref().unwrap().note(), "looked into it");
    // Closed unsent, the note waits for the next opening.
    cmd(&mut state, Command::Cancel);
    cmd(&mut state, Command::MarkReviewed);
    assert_eq!(state.note.as_ref().unwrap().note(), "looked into it");
}

#[test]
fn post_incident_review_from_history_needs_an_outcome_and_notes() {
    use crate::model::IncidentOutcome;
    use crate::model::api::SubmitPostIncidentReview;
    let mut requests = queue();
    requests.push(crate::console::fixtures::owed_emergency(7, "angua"));
    let mut state = loaded(requests);
    cmd(&mut state, Command::NextTab);
    cmd(&mut state, Command::NextTab);
    assert_eq!(state.tab, Tab::History);
    assert!(state.flags_of(&id(7)).post_incident_owed);
    // The denied request owes nothing: said so, no dialog.
    state.select_index(state.rows.iter().position(|r| *r == id(5)).unwrap());
    cmd(&mut state, Command::PostIncident);
    assert!(state.note.is_none());
    assert!(
        state
            .notice
            .as_ref()
            .unwrap()
            .text
            .contains("not an emergency")
    );

    state.select_index(state.rows.iter().position(|r| *r == id(7)).unwrap());
    cmd(&mut state, Command::PostIncident);
    assert!(state.note.is_some());
    assert!(cmd(&mut state, Command::Submit).is_empty());
    assert!(note_error(&state).contains("choose the outcome"));
    cmd(&mut state, Command::SwitchFocus);
    assert!(cmd(&mut state, Command::Submit).is_empty());
    assert!(note_error(&state).contains("notes are required"));
    type_text(
        &mut state,
        "Tower relay really was down; access used as asked.",
    );
    cmd(&mut state, Command::SwitchFocus);
    cmd(&mut state, Command::SwitchFocus);
    let effects = cmd(&mut state, Command::Submit);
    assert_eq!(
        effects,
        vec![Effect::SubmitPostIncidentReview {
            id: id(7),
            review: SubmitPostIncidentReview {
                outcome: IncidentOutcome::Justified,
                notes: "Tower relay really was down; access used as asked.".into(),
            },
        }]
    );

    // The broker's answer clears the owed flag.
    let mut reviewed = crate::console::fixtures::owed_emergency(7, "angua");
    reviewed.post_incident_review = Some(crate::model::PostIncidentReview {
        author: "carrot".into(),
        outcome: IncidentOutcome::Justified,
        notes: "Tower relay really was down; access used as asked.".into(),
        created_at: now(),
    });
    let effects = update(
        &mut state,
        Action::PostIncidentReviewed {
            id: id(7),
            result: Ok(reviewed),
        },
        now(),
    );
    assert!(effects.is_empty(), "no history open, nothing to fetch");
    assert!(state.note.is_none());
    assert!(!state.flags_of(&id(7)).post_incident_owed);
    assert!(state.notice.as_ref().unwrap().text.contains("justified"));
    // Asking again says it is done.
    cmd(&mut state, Command::PostIncident);
    assert!(state.note.is_none());
    assert!(state.notice.as_ref().unwrap().text.contains("already has"));
}

#[test]
fn post_incident_refusals_keep_the_notes_and_own_requests_are_refused_early() {
    let mut requests = queue();
    requests.push(crate::console::fixtures::owed_emergency(7, "angua"));
    requests.push(crate::console::fixtures::owed_emergency(8, "carrot"));
    let mut state = loaded(requests);
    cmd(&mut state, Command::NextTab);
    cmd(&mut state, Command::NextTab);
    state.select_index(state.rows.iter().position(|r| *r == id(8)).unwrap());
    cmd(&mut state, Command::PostIncident);
    assert!(state.note.is_none());
    assert!(
        state
            .notice
            .as_ref()
            .unwrap()
            .text
            .contains("your own request")
    );

    state.select_index(state.rows.iter().position(|r| *r == id(7)).unwrap());
    cmd(&mut state, Command::PostIncident);
    cmd(&mut state, Command::SwitchFocus);
    cmd(&mut state, Command::SwitchFocus);
    type_text(&mut state, "not warranted: a restart was enough");
    assert_eq!(cmd(&mut state, Command::Submit).len(), 1);
    for (code, words) in [
        (Some(ErrorCode::Forbidden), "administrator"),
        (None, "cannot be reached"),
    ] {
        update(
            &mut state,
            Action::PostIncidentReviewed {
                id: id(7),
                result: Err(refusal(code, "")),
            },
            now(),
        );
        assert!(note_error(&state).contains(words), "{}", note_error(&state));
        let dialog = state.note.as_ref().unwrap();
        assert_eq!(dialog.note(), "not warranted: a restart was enough");
        assert!(matches!(
            dialog.kind,
            crate::console::state::NoteKind::PostIncident {
                outcome: Some(crate::model::IncidentOutcome::Unjustified),
                ..
            }
        ));
        assert_eq!(cmd(&mut state, Command::Submit).len(), 1, "sent again");
    }
    assert!(state.flags_of(&id(7)).post_incident_owed, "still owed");
}

#[test]
fn post_incident_review_from_an_emergency_unreviewed_finding() {
    use crate::console::state::NoteKind;
    use crate::model::{FindingKind, Severity};
    let mut state = audit_tab(vec![
        finding(FindingKind::EmergencyUnreviewed, Severity::High, 7, 2),
        // About a request the console has not loaded.
        finding(FindingKind::EmergencyUnreviewed, Severity::High, 42, 3),
        finding(FindingKind::FastApproval, Severity::Medium, 43, 3),
    ]);
    cmd(&mut state, Command::PostIncident);
    assert_eq!(
        state.note.as_ref().map(|n| &n.kind),
        Some(&NoteKind::PostIncident {
            id: id(7),
            outcome: None
        })
    );
    cmd(&mut state, Command::Cancel);
    cmd(&mut state, Command::Down);
    cmd(&mut state, Command::PostIncident);
    assert!(
        matches!(state.note.as_ref().map(|n| &n.kind), Some(NoteKind::PostIncident { id: target, .. }) if *target == id(42)),
        "the finding says it is owed; the broker checks"
    );
    cmd(&mut state, Command::Cancel);
    cmd(&mut state, Command::Down);
    cmd(&mut state, Command::PostIncident);
    assert!(state.note.is_none());
    assert!(state.notice.as_ref().unwrap().text.contains("not loaded"));

    // Recording request 42's review drops its finding at once, as the broker's next
    // report will; the selection stays on the finding it was on.
    let mut reviewed = crate::console::fixtures::owed_emergency(42, "angua");
    reviewed.post_incident_review = Some(crate::model::PostIncidentReview {
        author: "carrot".into(),
        outcome: crate::model::IncidentOutcome::Justified,
        notes: "paged and fixed".into(),
        created_at: now(),
    });
    let selected = state.audit.selected_finding().map(|f| f.key());
    update(
        &mut state,
        Action::PostIncidentReviewed {
            id: id(42),
            result: Ok(reviewed),
        },
        now(),
    );
    let left: Vec<(FindingKind, Option<uuid::Uuid>)> = state
        .audit
        .findings
        .as_ref()
        .unwrap()
        .iter()
        .map(|f| (f.kind, f.request_id))
        .collect();
    assert_eq!(
        left,
        vec![
            (FindingKind::EmergencyUnreviewed, Some(id(7))),
            (FindingKind::FastApproval, Some(id(43))),
        ]
    );
    assert_eq!(state.audit.selected_finding().map(|f| f.key()), selected);
}

#[test]
fn m_in_a_history_marks_only_the_finding_it_was_opened_from() {
    use crate::model::{FindingKind, Severity};
    let findings = vec![
        finding(FindingKind::Override, Severity::High, 2, 1),
        finding(FindingKind::FastApproval, Severity::Medium, 4, 5),
        finding(FindingKind::NoTicket, Severity::Low, 42, 6),
    ];
    let mut state = audit_tab(findings.clone());
    cmd(&mut state, Command::Down);
    cmd(&mut state, Command::Open);
    cmd(&mut state, Command::MarkReviewed);
    assert!(
        state.note.is_some(),
        "the finding it came from is still selected"
    );
    cmd(&mut state, Command::Cancel);
    // A reload without that finding moves the selection to another one.
    let without: Vec<_> = findings
        .into_iter()
        .filter(|f| f.kind != FindingKind::FastApproval)
        .collect();
    update(&mut state, Action::Findings(Ok(report(without))), now());
    assert!(state.inspect.is_some());
    cmd(&mut state, Command::MarkReviewed);
    assert!(state.note.is_none(), "would have marked another finding");
    assert!(state.notice.as_ref().unwrap().text.contains("has left"));
}

#[test]
fn enter_opens_a_findings_request_and_its_history_and_esc_comes_back() {
    use crate::model::{EventType, FindingKind, Severity};
    let mut state = audit_tab(vec![
        finding(FindingKind::Override, Severity::High, 2, 1),
        finding(FindingKind::FastApproval, Severity::Medium, 4, 5),
        finding(FindingKind::NoTicket, Severity::Low, 42, 6),
    ]);
    cmd(&mut state, Command::Down);
    // Loaded: only the history is fetched.
    assert_eq!(
        cmd(&mut state, Command::Open),
        vec![Effect::FetchHistory(id(4))]
    );
    assert_eq!(state.inspected_request().map(|r| r.id), Some(id(4)));
    let events = vec![
        crate::console::fixtures::event(
            9,
            EventType::Review,
            "carrot",
            4,
            60,
            Some("ok"),
            &[("decision", "approve")],
        ),
        crate::console::fixtures::event(
            3,
            EventType::Create,
            "detritus",
            4,
            61,
            Some("restart again"),
            &[],
        ),
    ];
    // Answers about other requests are ignored.
    update(
        &mut state,
        Action::History {
            id: id(5),
            result: Ok(Vec::new()),
        },
        now(),
    );
    assert!(state.inspect.as_ref().unwrap().events.is_none());
    update(
        &mut state,
        Action::History {
            id: id(4),
            result: Ok(events),
        },
        now(),
    );
    let seqs: Vec<u64> = state
        .inspect
        .as_ref()
        .unwrap()
        .events
        .iter()
        .flatten()
        .map(|e| e.seq)
        .collect();
    assert_eq!(seqs, vec![3, 9], "oldest first");
    // Up and down scroll the history; the finding selection does not move.
    cmd(&mut state, Command::Down);
    cmd(&mut state, Command::Down);
    assert_eq!(state.inspect.as_ref().unwrap().history_scroll, 1);
    assert_eq!(state.audit.selected, 1);
    // An answer that knows less than the one shown (an older fetch finishing late)
    // is dropped.
    let older = vec![crate::console::fixtures::event(
        3,
        EventType::Create,
        "detritus",
        4,
        61,
        Some("restart again"),
        &[],
    )];
    update(
        &mut state,
        Action::History {
            id: id(4),
            result: Ok(older),
        },
        now(),
    );
    assert_eq!(
        state
            .inspect
            .as_ref()
            .unwrap()
            .events
            .as_ref()
            .unwrap()
            .len(),
        2
    );
    // A live change to the request fetches its history again.
    let changed = RequestFixture::new(4, "detritus")
        .reason("restart again")
        .age_mins(60 * 26)
        .state(RequestState::Returned)
        .build();
    assert!(
        update(&mut state, Action::Upserted(changed), now()).contains(&Effect::FetchHistory(id(4)))
    );
    cmd(&mut state, Command::Back);
    assert!(state.inspect.is_none());
    assert_eq!(state.tab, Tab::Audit);
    assert_eq!(state.audit.selected, 1, "the selection is kept");

    // Not loaded: fetched, then shown.
    cmd(&mut state, Command::Down);
    assert_eq!(
        cmd(&mut state, Command::Open),
        vec![Effect::FetchRequest(id(42)), Effect::FetchHistory(id(42))]
    );
    assert!(state.inspected_request().is_none());
    cmd(&mut state, Command::PostIncident);
    assert!(state.note.is_none());
    assert!(
        state
            .notice
            .as_ref()
            .unwrap()
            .text
            .contains("still being fetched"),
        "{:?}",
        state.notice
    );
    let fetched = RequestFixture::new(42, "rincewind")
        .state(RequestState::Denied)
        .build();
    update(
        &mut state,
        Action::RequestFetched {
            id: id(42),
            result: Ok(fetched),
        },
        now(),
    );
    assert_eq!(
        state.inspected_request().map(|r| r.user.as_str()),
        Some("rincewind")
    );
    assert!(
        !state.requests.contains_key(&id(42)),
        "the listing is left alone"
    );
    update(
        &mut state,
        Action::History {
            id: id(42),
            result: Err("the audit history needs rule event: list".into()),
        },
        now(),
    );
    assert!(state.inspect.as_ref().unwrap().events_error.is_some());
    // Refresh asks again; switching tabs closes the view.
    assert_eq!(
        cmd(&mut state, Command::Refresh),
        vec![
            Effect::FetchRequest(id(42)),
            Effect::FetchHistory(id(42)),
            Effect::Refresh
        ]
    );
    cmd(&mut state, Command::NextTab);
    assert!(state.inspect.is_none());
    assert_eq!(state.tab, Tab::Queue);
}

#[test]
fn enter_on_a_request_opens_its_history_and_reviews_stay_pinned_to_it() {
    let mut state = loaded(queue());
    cmd(&mut state, Command::Down);
    assert_eq!(state.selected, Some(id(2)));
    assert_eq!(
        cmd(&mut state, Command::Open),
        vec![Effect::FetchHistory(id(2))]
    );
    cmd(&mut state, Command::Approve);
    assert_eq!(state.dialog.as_ref().unwrap().targets, vec![id(2)]);
    cmd(&mut state, Command::Cancel);
    // Approved elsewhere meanwhile: the queue's selection moves to a neighbour,
    // but `d` in the view is about the request shown, and says it is resolved.
    let approved = RequestFixture::new(2, "vimes")
        .age_mins(42)
        .state(RequestState::Approved)
        .build();
    update(&mut state, Action::Upserted(approved), now());
    assert_ne!(state.selected, Some(id(2)));
    cmd(&mut state, Command::Deny);
    assert!(state.dialog.is_none());
    assert!(state.notice.as_ref().unwrap().text.contains("approved"));
    assert_eq!(
        state.inspected_request().unwrap().state,
        RequestState::Approved
    );
    cmd(&mut state, Command::Back);
    assert!(state.inspect.is_none());
}

#[test]
fn the_audit_sort_cycles_and_keeps_the_selected_finding() {
    use crate::model::{FindingKind, Severity};
    let mut a = finding(FindingKind::NoTicket, Severity::Low, 3, 1);
    a.user = "angua".into();
    let mut b = finding(FindingKind::FastApproval, Severity::Medium, 4, 5);
    b.user = "vimes".into();
    let mut c = finding(FindingKind::NoTicket, Severity::Low, 5, 9);
    c.user = "carrot".into();
    let d = finding(FindingKind::Override, Severity::High, 2, 3);
    let mut state = audit_tab(vec![a, b, c, d]);
    let order = |state: &State| -> Vec<uuid::Uuid> {
        state
            .audit
            .findings
            .iter()
            .flatten()
            .filter_map(|f| f.request_id)
            .collect()
    };
    assert_eq!(
        order(&state),
        vec![id(2), id(4), id(3), id(5)],
        "severity, then newest"
    );
    cmd(&mut state, Command::Down);
    cmd(&mut state, Command::Down);
    assert_eq!(
        state.audit.selected_finding().unwrap().request_id,
        Some(id(3))
    );
    cmd(&mut state, Command::Sort);
    assert_eq!(state.audit.sort, crate::console::state::FindingSort::Kind);
    // The group with the most severe finding first, then DESIGN §6's order.
    assert_eq!(order(&state), vec![id(2), id(4), id(3), id(5)]);
    assert_eq!(
        state.audit.selected_finding().unwrap().request_id,
        Some(id(3))
    );
    cmd(&mut state, Command::Sort);
    assert_eq!(
        order(&state),
        vec![id(3), id(5), id(2), id(4)],
        "angua, carrot, detritus, vimes"
    );
    cmd(&mut state, Command::Sort);
    assert_eq!(
        order(&state),
        vec![id(3), id(2), id(4), id(5)],
        "newest first"
    );
    assert_eq!(
        state.audit.selected_finding().unwrap().request_id,
        Some(id(3))
    );
    cmd(&mut state, Command::Sort);
    assert_eq!(
        state.audit.sort,
        crate::console::state::FindingSort::Severity
    );
    // The queue's own sort is untouched.
    assert_eq!(state.sort, SortKey::Age);
}

#[test]
fn the_brokers_ticket_patterns_replace_the_defaults_once_findings_arrive() {
    let mut requests = queue();
    requests.push(
        RequestFixture::new(9, "ponder")
            .reason("per JIRA-12, rotate keys")
            .build(),
    );
    let mut state = loaded(requests);
    // Defaults: #47 and INC-2231 name tickets, JIRA-12 does too (two capitals).
    assert!(!state.flags_of(&id(1)).no_ticket);
    assert!(state.flags_of(&id(3)).no_ticket);
    let mut answer = report(Vec::new());
    answer.ticket_patterns = vec![r"\bJIRA-\d+\b".into()];
    cmd(&mut state, Command::PrevTab);
    update(&mut state, Action::Findings(Ok(answer.clone())), now());
    assert!(
        state.flags_of(&id(1)).no_ticket,
        "INC-2231 is not a JIRA ticket"
    );
    assert!(!state.flags_of(&id(9)).no_ticket);
    assert!(state.notice.is_none());

    // Patterns this console cannot use: the defaults, said once, no panic.
    let mut bad = report(Vec::new());
    bad.ticket_patterns = vec!["INC-(".into()];
    update(&mut state, Action::Findings(Ok(bad.clone())), now());
    assert!(!state.flags_of(&id(1)).no_ticket, "back on the defaults");
    let notice = state.notice.take().unwrap();
    assert!(
        notice.error && notice.text.contains("defaults"),
        "{}",
        notice.text
    );
    update(&mut state, Action::Findings(Ok(bad)), now());
    assert!(state.notice.is_none(), "not repeated on every refresh");
    // A broker that says nothing leaves what is in effect.
    update(&mut state, Action::Findings(Ok(report(Vec::new()))), now());
    assert!(!state.flags_of(&id(1)).no_ticket);
}

#[test]
fn note_dialog_keys_type_text_except_its_commands() {
    use crate::model::{FindingKind, Severity};
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    let mut state = audit_tab(vec![finding(
        FindingKind::FastApproval,
        Severity::Medium,
        4,
        5,
    )]);
    cmd(&mut state, Command::MarkReviewed);
    let keymap = Keymap::default();
    for c in ['m', 'q', 'p', ' ', 's'] {
        let key = KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE);
        assert!(
            matches!(keymap.action_for(&state, key), Some(Action::Editor(_))),
            "{c}"
        );
    }
    let enter = KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE);
    assert!(matches!(
        keymap.action_for(&state, enter),
        Some(Action::Editor(_))
    ));
    let save = KeyEvent::new(KeyCode::Char('s'), KeyModifiers::CONTROL);
    assert_eq!(
        keymap.action_for(&state, save),
        Some(Action::Command(Command::Submit))
    );
    let esc = KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE);
    assert_eq!(
        keymap.action_for(&state, esc),
        Some(Action::Command(Command::Cancel))
    );
    let tab = KeyEvent::new(KeyCode::Tab, KeyModifiers::NONE);
    assert_eq!(
        keymap.action_for(&state, tab),
        Some(Action::Command(Command::SwitchFocus))
    );
    // Outside dialogs, Esc means back and Enter open.
    cmd(&mut state, Command::Cancel);
    assert_eq!(
        keymap.action_for(&state, esc),
        Some(Action::Command(Command::Back))
    );
    assert_eq!(
        keymap.action_for(&state, enter),
        Some(Action::Command(Command::Open))
    );
}

#[test]
fn a_post_incident_review_recorded_elsewhere_is_reported_in_the_open_dialog() {
    let mut requests = queue();
    requests.push(crate::console::fixtures::owed_emergency(7, "angua"));
    let mut state = loaded(requests);
    cmd(&mut state, Command::NextTab);
    cmd(&mut state, Command::NextTab);
    state.select_index(state.rows.iter().position(|r| *r == id(7)).unwrap());
    cmd(&mut state, Command::PostIncident);
    type_text(&mut state, "draft");
    let mut reviewed = crate::console::fixtures::owed_emergency(7, "angua");
    reviewed.post_incident_review = Some(crate::model::PostIncidentReview {
        author: "vimes".into(),
        outcome: crate::model::IncidentOutcome::Unjustified,
        notes: "no incident on record".into(),
        created_at: now(),
    });
    update(&mut state, Action::Upserted(reviewed), now());
    assert!(
        note_error(&state).contains("vimes recorded it meanwhile: unjustified"),
        "{}",
        note_error(&state)
    );
    assert_eq!(state.note.as_ref().unwrap().note(), "draft");
}

#[test]
fn the_audit_tab_fetches_again_when_the_log_moves_and_says_stale_meanwhile() {
    use crate::model::{FindingKind, Severity};
    let mut state = audit_tab(vec![finding(FindingKind::NoTicket, Severity::Low, 3, 1)]);
    assert!(!state.audit.stale);
    assert!(
        update(&mut state, Action::Tick, now()).is_empty(),
        "nothing moved"
    );

    // A request changed: the findings may be behind. Fetched again on a tick, but
    // not more often than every couple of seconds.
    update(&mut state, Action::Upserted(pending(8, "angua", 1)), now());
    assert!(state.audit.stale);
    assert!(update(&mut state, Action::Tick, now()).is_empty());
    let later = now() + chrono::TimeDelta::seconds(3);
    assert_eq!(
        update(&mut state, Action::Tick, later),
        vec![Effect::FetchFindings]
    );
    assert!(!state.audit.stale && state.audit.loading);
    // A mark or a refusal moves the log too; one fetch at a time.
    update(&mut state, Action::AuditChanged, later);
    let much_later = later + chrono::TimeDelta::seconds(10);
    assert!(update(&mut state, Action::Tick, much_later).is_empty());
    update(
        &mut state,
        Action::Findings(Ok(report(Vec::new()))),
        much_later,
    );
    assert_eq!(
        update(&mut state, Action::Tick, much_later),
        vec![Effect::FetchFindings],
        "what moved during the fetch is fetched next"
    );
    update(
        &mut state,
        Action::Findings(Ok(report(Vec::new()))),
        much_later,
    );

    // Away from the tab nothing is fetched; coming back to stale findings fetches.
    cmd(&mut state, Command::NextTab);
    update(&mut state, Action::AuditChanged, much_later);
    let then = much_later + chrono::TimeDelta::seconds(10);
    assert!(update(&mut state, Action::Tick, then).is_empty());
    assert_eq!(
        cmd(&mut state, Command::PrevTab),
        vec![Effect::FetchFindings]
    );
}
