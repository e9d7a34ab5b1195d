//! A request's history opened from a finding or a row, and what its keys do.

use crate::console::action::{Action, Effect};
use crate::console::fixtures::harness::*;
use crate::console::fixtures::{RequestFixture, id, now, queue};
use crate::console::keymap::Command;
use crate::console::state::Tab;
use crate::console::update;
use crate::model::State as RequestState;

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
        state.note().is_some(),
        "the finding it came from is still selected"
    );
    cmd(&mut state, Command::Cancel);
    // A reload without that finding moves the selection to another one.
    let without: Vec<_> = findings
        .into_iter()
        .filter(|f| f.kind != FindingKind::FastApproval)
        .collect();
    update(&mut state, Action::Findings(Ok(report(without))), now());
    assert!(state.inspect().is_some());
    cmd(&mut state, Command::MarkReviewed);
    assert!(state.note().is_none(), "would have marked another finding");
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
    // Loaded: only the history is fetched, and the certificates of its access.
    assert_eq!(
        cmd(&mut state, Command::Open),
        vec![
            Effect::FetchHistory(id(4)),
            Effect::FetchCertificates(id(4))
        ]
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
    assert!(state.inspect().unwrap().events.is_none());
    update(
        &mut state,
        Action::History {
            id: id(4),
            result: Ok(events),
        },
        now(),
    );
    let seqs: Vec<u64> = state
        .inspect()
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
    assert_eq!(state.inspect().unwrap().history_scroll, 1);
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
    assert_eq!(state.inspect().unwrap().events.as_ref().unwrap().len(), 2);
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
    assert!(state.inspect().is_none());
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
    assert!(state.note().is_none());
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
    assert!(state.inspect().unwrap().events_error.is_some());
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
    assert!(state.inspect().is_none());
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
    assert_eq!(state.dialog().unwrap().targets, vec![id(2)]);
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
    assert!(state.dialog().is_none());
    assert!(state.notice.as_ref().unwrap().text.contains("approved"));
    assert_eq!(
        state.inspected_request().unwrap().state,
        RequestState::Approved
    );
    cmd(&mut state, Command::Back);
    assert!(state.inspect().is_none());
}
