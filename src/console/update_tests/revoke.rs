//! Revoking approved access from the Active tab, and the certificates the detail
//! pane shows.

use crate::console::action::{Action, Effect};
use crate::console::fixtures::harness::*;
use crate::console::fixtures::{RequestFixture, id, now, queue};
use crate::console::keymap::{Command, ModeKind};
use crate::console::state::{Certificates, NoteKind, NoteTarget, State, Tab};
use crate::console::update;
use crate::model::State as RequestState;
use crate::model::api::ErrorCode;
use crate::model::certificate::CertificateSummary;

/// The Active tab as an administrator (rule access_request: update), on request 4.
fn active_as_admin() -> State {
    let mut state = loaded(queue());
    if let Some(me) = &mut state.whoami {
        me.can_override = true;
    }
    cmd(&mut state, Command::Tab2);
    assert_eq!(state.tab, Tab::Active);
    assert_eq!(state.selected, Some(id(4)));
    state
}

fn notice(state: &State) -> String {
    state
        .notice
        .as_ref()
        .map(|n| n.text.clone())
        .unwrap_or_default()
}

fn hinted(state: &State, command: Command) -> bool {
    crate::console::help::offers(state, ModeKind::Tabs)
        .iter()
        .any(|o| o.command == command && o.hint)
}

fn certificate(serial: u64, revoked: bool) -> CertificateSummary {
    CertificateSummary {
        serial,
        key_id: format!("countersign/detritus/{}", id(4)),
        principals: vec!["deploy".into(), "detritus".into()],
        valid_after: now() - chrono::TimeDelta::minutes(2),
        valid_before: now() + chrono::TimeDelta::minutes(119),
        fingerprint: "SHA256:abc".into(),
        issued_at: now() - chrono::TimeDelta::minutes(1),
        revoked,
    }
}

#[test]
fn an_admin_revokes_the_selected_access_with_a_reason_and_blank_is_refused() {
    let mut state = active_as_admin();
    assert!(hinted(&state, Command::Revoke), "x is offered in the hints");
    cmd(&mut state, Command::Revoke);
    assert_eq!(
        state.note().map(|n| &n.kind),
        Some(&NoteKind::Revoke { id: id(4) })
    );
    // Whitespace and a zero-width space are no reason.
    type_text(&mut state, "  \n \u{200b}");
    assert!(cmd(&mut state, Command::Submit).is_empty());
    assert!(
        note_error(&state).contains("a reason is required"),
        "{}",
        note_error(&state)
    );
    assert!(state.note().is_some(), "the dialog stays open");

    let mut state = active_as_admin();
    cmd(&mut state, Command::Revoke);
    type_text(&mut state, "laptop reported stolen, INC-311");
    let effects = cmd(&mut state, Command::Submit);
    assert_eq!(
        effects,
        vec![Effect::Revoke {
            id: id(4),
            reason: "laptop reported stolen, INC-311".into()
        }]
    );
    // A second submit while waiting sends nothing.
    assert!(cmd(&mut state, Command::Submit).is_empty());
    assert!(note_error(&state).contains("still waiting"));
}

#[test]
fn without_the_update_rule_revoke_is_not_offered_and_the_key_says_why() {
    let mut state = loaded(queue());
    cmd(&mut state, Command::Tab2);
    assert!(!hinted(&state, Command::Revoke));
    assert!(cmd(&mut state, Command::Revoke).is_empty());
    assert!(state.note().is_none());
    assert!(
        notice(&state).contains("rule access_request: update"),
        "{}",
        notice(&state)
    );
}

#[test]
fn only_approved_access_that_has_not_ended_is_revoked() {
    let mut ended = RequestFixture::new(9, "vimes")
        .age_mins(300)
        .state(RequestState::Approved)
        .build();
    if let Some(access) = &mut ended.access {
        access.ends_at = now() - chrono::TimeDelta::minutes(1);
    }
    let mut state = loaded(vec![ended]);
    if let Some(me) = &mut state.whoami {
        me.can_override = true;
    }
    cmd(&mut state, Command::Tab2);
    assert_eq!(state.selected, Some(id(9)));
    cmd(&mut state, Command::Revoke);
    assert!(state.note().is_none());
    assert!(
        notice(&state).contains("has not ended"),
        "{}",
        notice(&state)
    );

    // In the Queue tab the selected request is pending.
    let mut state = active_as_admin();
    cmd(&mut state, Command::Tab1);
    cmd(&mut state, Command::Revoke);
    assert!(state.note().is_none());
    assert!(notice(&state).contains("is pending"), "{}", notice(&state));
}

#[test]
fn the_brokers_yes_closes_the_dialog_and_moves_the_request_out_of_active() {
    let mut state = active_as_admin();
    cmd(&mut state, Command::Revoke);
    type_text(&mut state, "contractor offboarded today");
    cmd(&mut state, Command::Submit);
    let mut revoked = state.requests[&id(4)].clone();
    revoked.state = RequestState::Revoked;
    if let Some(access) = &mut revoked.access {
        access.returned_at = Some(now());
    }
    let effects = update(
        &mut state,
        Action::Revoked {
            id: id(4),
            result: Ok(revoked),
        },
        now(),
    );
    assert!(state.note().is_none(), "closed");
    assert!(!state.note_drafts.contains_key(&NoteTarget::Revoke(id(4))));
    assert_eq!(state.requests[&id(4)].state, RequestState::Revoked);
    assert!(!state.rows.contains(&id(4)), "no longer active");
    assert!(
        effects.contains(&Effect::FetchCertificates(id(4))),
        "{effects:?}"
    );
    assert!(notice(&state).contains("revoked the access"));
}

#[test]
fn a_refusal_keeps_the_dialog_and_the_reason_and_says_why() {
    let mut state = active_as_admin();
    cmd(&mut state, Command::Revoke);
    type_text(&mut state, "ending it early");
    cmd(&mut state, Command::Submit);
    update(
        &mut state,
        Action::Revoked {
            id: id(4),
            result: Err(refusal(
                Some(ErrorCode::NotApproved),
                "only approved access can be revoked; this request is returned",
            )),
        },
        now(),
    );
    let dialog = state.note().expect("still open");
    assert_eq!(dialog.note(), "ending it early");
    assert!(!dialog.in_flight);
    assert!(
        note_error(&state).contains("no longer approved"),
        "{}",
        note_error(&state)
    );
    // Closed unsent, the reason is kept for that request.
    cmd(&mut state, Command::Cancel);
    assert!(state.note_drafts.contains_key(&NoteTarget::Revoke(id(4))));
    cmd(&mut state, Command::Revoke);
    assert_eq!(state.note().unwrap().note(), "ending it early");
}

#[test]
fn certificates_are_asked_once_for_a_shown_request_that_was_given_access() {
    let mut state = loaded(queue());
    // The Queue tab shows pending requests: nothing to ask.
    assert!(state.certificates.is_empty());
    let effects = cmd(&mut state, Command::Tab2);
    assert_eq!(effects, vec![Effect::FetchCertificates(id(4))]);
    assert_eq!(state.certificates.get(&id(4)), Some(&Certificates::Loading));
    // Moving about does not ask again.
    assert!(cmd(&mut state, Command::Down).is_empty());
    update(
        &mut state,
        Action::Certificates {
            id: id(4),
            result: Ok(vec![certificate(8, false), certificate(3, false)]),
        },
        now(),
    );
    let Some(Certificates::Loaded(list)) = state.certificates.get(&id(4)) else {
        panic!("not loaded: {:?}", state.certificates.get(&id(4)));
    };
    assert_eq!(
        list.iter().map(|c| c.serial).collect::<Vec<_>>(),
        vec![3, 8]
    );
    // The request changed (a certificate issued, access returned): asked again.
    let request = state.requests[&id(4)].clone();
    let effects = update(&mut state, Action::Upserted(request), now());
    assert_eq!(effects, vec![Effect::FetchCertificates(id(4))]);
}
