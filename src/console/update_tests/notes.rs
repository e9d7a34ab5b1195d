//! The note dialogs: marking a finding reviewed and recording a post-incident review.

use crate::console::action::{Action, Effect};
use crate::console::fixtures::harness::*;
use crate::console::fixtures::{id, now, queue};
use crate::console::keymap::Command;
use crate::console::state::Tab;
use crate::console::update;
use crate::model::api::ErrorCode;

#[test]
fn mark_reviewed_opens_on_the_selected_finding_only_in_the_audit_tab() {
    use crate::console::state::NoteKind;
    use crate::model::{FindingKind, Severity};
    let mut queue_state = loaded(queue());
    cmd(&mut queue_state, Command::MarkReviewed);
    assert!(queue_state.note().is_none());
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
        state.note().map(|n| &n.kind),
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
    assert!(state.note().unwrap().in_flight);
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
    assert!(state.note().is_none());
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
    assert_eq!(state.note().unwrap().note(), "");
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
    let dialog = state.note().unwrap();
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
    assert_eq!(state.note().unwrap().note(), "looked into it");
    // Closed unsent, the note waits for the next opening.
    cmd(&mut state, Command::Cancel);
    cmd(&mut state, Command::MarkReviewed);
    assert_eq!(state.note().unwrap().note(), "looked into it");
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
    assert!(state.note().is_none());
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
    assert!(state.note().is_some());
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
    assert!(state.note().is_none());
    assert!(!state.flags_of(&id(7)).post_incident_owed);
    assert!(state.notice.as_ref().unwrap().text.contains("justified"));
    // Asking again says it is done.
    cmd(&mut state, Command::PostIncident);
    assert!(state.note().is_none());
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
    assert!(state.note().is_none());
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
        let dialog = state.note().unwrap();
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
        state.note().map(|n| &n.kind),
        Some(&NoteKind::PostIncident {
            id: id(7),
            outcome: None
        })
    );
    cmd(&mut state, Command::Cancel);
    cmd(&mut state, Command::Down);
    cmd(&mut state, Command::PostIncident);
    assert!(
        matches!(state.note().map(|n| &n.kind), Some(NoteKind::PostIncident { id: target, .. }) if *target == id(42)),
        "the finding says it is owed; the broker checks"
    );
    cmd(&mut state, Command::Cancel);
    cmd(&mut state, Command::Down);
    cmd(&mut state, Command::PostIncident);
    assert!(state.note().is_none());
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
    for c in ['m', 'q', 'p', ' ', 's'] {
        let key = KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE);
        assert!(
            matches!(
                crate::console::input::action_for(&state, key),
                Some(Action::Editor(_))
            ),
            "{c}"
        );
    }
    let enter = KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE);
    assert!(matches!(
        crate::console::input::action_for(&state, enter),
        Some(Action::Editor(_))
    ));
    let save = KeyEvent::new(KeyCode::Char('s'), KeyModifiers::CONTROL);
    assert_eq!(
        crate::console::input::action_for(&state, save),
        Some(Action::Command(Command::Submit))
    );
    let esc = KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE);
    assert_eq!(
        crate::console::input::action_for(&state, esc),
        Some(Action::Command(Command::Cancel))
    );
    let tab = KeyEvent::new(KeyCode::Tab, KeyModifiers::NONE);
    assert_eq!(
        crate::console::input::action_for(&state, tab),
        Some(Action::Command(Command::SwitchFocus))
    );
    // Outside dialogs, in the tabs, Esc clears the filter and Enter opens.
    cmd(&mut state, Command::Cancel);
    assert_eq!(
        crate::console::input::action_for(&state, esc),
        Some(Action::Command(Command::ClearFilter))
    );
    assert_eq!(
        crate::console::input::action_for(&state, enter),
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
    assert_eq!(state.note().unwrap().note(), "draft");
}

#[test]
fn a_finding_about_oneself_is_not_offered_for_marking() {
    use crate::model::{FindingKind, Severity};
    let mut own = finding(FindingKind::FastApproval, Severity::Medium, 4, 5);
    own.reviewer = Some("carrot".into());
    let mut state = audit_tab(vec![own]);
    cmd(&mut state, Command::MarkReviewed);
    assert!(state.note().is_none());
    let notice = state
        .notice
        .as_ref()
        .map(|n| n.text.clone())
        .unwrap_or_default();
    assert!(notice.contains("your own review"), "{notice}");
}
