//! The note dialogs: marking a finding reviewed, and recording the post-incident
//! review an approved emergency owes. Each is pinned to what it was opened on,
//! refuses a blank note, keeps its draft when closed unsent or refused, and shows
//! the broker's answer.

use ratatui_textarea::TextArea;
use uuid::Uuid;

use crossterm::event::KeyEvent;

use super::action::{Action, Effect, ReviewError};
use super::command::{Command, ModeKind, Offer};
use super::findings;
use super::keymap::Key;
use super::listing;
use super::review::in_words;
use super::state::{NoteDialog, NoteDraft, NoteKind, NoteTarget, State, Tab};
use super::text;
use crate::model::api::{MAX_REASON_BYTES, MarkFindingReviewed, SubmitPostIncidentReview};
use crate::model::{FindingKind, FindingReview, IncidentOutcome, Request, Time};

/// What the note dialogs offer; in a post-incident review the focus key picks
/// the outcome.
pub fn commands(state: &State) -> Vec<Offer> {
    let outcome = matches!(
        state.note().map(|n| &n.kind),
        Some(NoteKind::PostIncident { .. })
    );
    vec![
        Offer::hinted(Command::Submit, "submit the note"),
        Offer::hinted(Command::Cancel, "close the dialog (the draft is kept)"),
        Offer::hinted(
            Command::SwitchFocus,
            "post-incident review: change the outcome",
        )
        .labelled("outcome")
        .hinted_if(outcome),
        Offer::hinted(Command::Help, "show help over this (the text stays)"),
    ]
}

/// A key in a note dialog: its commands, else typed text (it has no picker).
pub fn key(state: &State, key: Key, event: KeyEvent) -> Option<Action> {
    match state.keymap.command(ModeKind::Note, key) {
        Some(command) => Some(Action::Command(command)),
        None => Some(Action::Editor(event.into())),
    }
}

pub(super) fn run(state: &mut State, command: Command, _now: Time) -> Vec<Effect> {
    match command {
        Command::Submit => return submit(state),
        Command::Cancel => cancel(state),
        Command::Help => state.mode.toggle_help(),
        Command::SwitchFocus => switch_outcome(state),
        _ => {}
    }
    Vec::new()
}

pub(super) fn open(state: &mut State, kind: NoteKind) {
    let draft = state.note_drafts.get(&kind.target());
    // A post-incident draft keeps its outcome too.
    let kind = match (kind, draft) {
        (
            NoteKind::PostIncident { id, .. },
            Some(NoteDraft {
                kind: NoteKind::PostIncident { outcome, .. },
                ..
            }),
        ) => NoteKind::PostIncident {
            id,
            outcome: *outcome,
        },
        (kind, _) => kind,
    };
    let editor = match draft {
        Some(draft) if !draft.lines.is_empty() => TextArea::new(draft.lines.clone()),
        _ => TextArea::default(),
    };
    state.mode.open_note(NoteDialog {
        kind,
        editor,
        error: None,
        in_flight: false,
    });
}

/// `m` in the Audit tab: mark the selected finding reviewed.
pub(super) fn open_mark(state: &mut State, now: Time) {
    if state.tab != Tab::Audit {
        state.set_notice("findings are marked reviewed in the Audit tab", now, true);
        return;
    }
    let Some(finding) = state.audit.selected_finding() else {
        state.set_notice("no finding selected", now, true);
        return;
    };
    // The broker refuses it too: one does not sign off what is about oneself.
    if let Some(me) = state.me()
        && let Some(why) = crate::audit::mark_refusal(finding, me)
    {
        state.set_notice(why, now, true);
        return;
    }
    let key = finding.key();
    open(state, NoteKind::Finding { key });
}

/// Why a request does not owe a post-incident review, in words; `None` when it does.
fn not_owed(request: &Request, me: Option<&str>) -> Option<String> {
    let id = text::short_id(&request.id);
    if let Some(review) = &request.post_incident_review {
        return Some(format!(
            "{id} already has its post-incident review ({} by {})",
            outcome_word(review.outcome),
            text::inline(&review.author)
        ));
    }
    if !request.emergency {
        return Some(format!(
            "{id} is not an emergency request: no post-incident review is owed"
        ));
    }
    if !request.post_incident_review_owed() {
        return Some(format!(
            "{id} is {}: only approved emergency access is reviewed afterwards",
            request.state
        ));
    }
    if me == Some(request.user.as_str()) {
        return Some(format!(
            "{id} is your own request: its post-incident review must come from someone else"
        ));
    }
    None
}

/// `p`: the post-incident review of the inspected request, the selected finding's
/// request, or the selected request.
pub(super) fn open_post_incident(state: &mut State, now: Time) {
    let (id, finding_kind) = if let Some(inspect) = state.inspect() {
        (inspect.id, inspect.from)
    } else if state.tab == Tab::Audit {
        let Some(finding) = state.audit.selected_finding() else {
            state.set_notice("no finding selected", now, true);
            return;
        };
        let Some(id) = finding.request_id else {
            state.set_notice("this finding is not about one request", now, true);
            return;
        };
        (id, Some(finding.kind))
    } else {
        match state.selected {
            Some(id) => (id, None),
            None => return,
        }
    };
    match state.request(&id) {
        Some(request) => {
            if let Some(why) = not_owed(request, state.me()) {
                state.set_notice(why, now, true);
                return;
            }
        }
        // Not in the listing: an emergency_unreviewed finding says it is owed; the
        // broker has the last word.
        None if finding_kind == Some(FindingKind::EmergencyUnreviewed) => {}
        None if state.inspect().is_some_and(|i| i.id == id) => {
            let still = format!("{} is still being fetched", text::short_id(&id));
            state.set_notice(still, now, true);
            return;
        }
        None => {
            state.set_notice(
                format!(
                    "{} is not loaded; open it with {} first",
                    text::short_id(&id),
                    state.keymap.label(ModeKind::Tabs, Command::Open)
                ),
                now,
                true,
            );
            return;
        }
    }
    open(state, NoteKind::PostIncident { id, outcome: None });
}

/// Tab in the post-incident dialog: none → justified → unjustified → justified.
fn switch_outcome(state: &mut State) {
    if let Some(NoteDialog {
        kind: NoteKind::PostIncident { outcome, .. },
        ..
    }) = state.mode.note_mut()
    {
        *outcome = Some(match outcome {
            Some(IncidentOutcome::Justified) => IncidentOutcome::Unjustified,
            _ => IncidentOutcome::Justified,
        });
    }
}

pub fn outcome_word(outcome: IncidentOutcome) -> &'static str {
    match outcome {
        IncidentOutcome::Justified => "justified",
        IncidentOutcome::Unjustified => "unjustified",
    }
}

fn cancel(state: &mut State) {
    let Some(dialog) = state.mode.take_note() else {
        return;
    };
    let lines = dialog.editor.lines().to_vec();
    let blank = lines.iter().all(|l| l.trim().is_empty());
    let chosen = matches!(
        dialog.kind,
        NoteKind::PostIncident {
            outcome: Some(_),
            ..
        }
    );
    let target = dialog.kind.target();
    if blank && !chosen {
        state.note_drafts.remove(&target);
    } else {
        state.note_drafts.insert(
            target,
            NoteDraft {
                kind: dialog.kind,
                lines,
            },
        );
    }
}

fn submit(state: &mut State) -> Vec<Effect> {
    let Some(dialog) = state.mode.note_mut() else {
        return Vec::new();
    };
    if dialog.in_flight {
        dialog.error = Some("still waiting for the broker's answer".into());
        return Vec::new();
    }
    let note = dialog.note();
    let effect = match &dialog.kind {
        NoteKind::Finding { .. } if note.trim().is_empty() => {
            dialog.error =
                Some("a note is required: say what you found or did, for the audit log".into());
            return Vec::new();
        }
        NoteKind::PostIncident { outcome: None, .. } => {
            dialog.error = Some("choose the outcome with Tab: justified or unjustified".into());
            return Vec::new();
        }
        NoteKind::Revoke { .. } if crate::policy::text::is_blank(&note) => {
            dialog.error = Some(
                "a reason is required: why must this access end now? It goes in the audit log"
                    .into(),
            );
            return Vec::new();
        }
        NoteKind::PostIncident { .. } if note.trim().is_empty() => {
            dialog.error = Some(
                "notes are required: what happened, and was emergency access warranted?".into(),
            );
            return Vec::new();
        }
        _ if note.len() > MAX_REASON_BYTES => {
            dialog.error = Some(format!(
                "the note is {} bytes; the broker accepts at most {MAX_REASON_BYTES}",
                note.len()
            ));
            return Vec::new();
        }
        NoteKind::Finding { key } => Effect::MarkFindingReviewed(MarkFindingReviewed {
            key: key.clone(),
            note,
        }),
        NoteKind::PostIncident {
            id,
            outcome: Some(outcome),
        } => Effect::SubmitPostIncidentReview {
            id: *id,
            review: SubmitPostIncidentReview {
                outcome: *outcome,
                notes: note,
            },
        },
        NoteKind::Revoke { id } => Effect::Revoke {
            id: *id,
            reason: note,
        },
    };
    dialog.error = None;
    dialog.in_flight = true;
    vec![effect]
}

/// Takes the answer into the open dialog when it is the one waiting for it; says
/// whether it was.
pub(super) fn answer_dialog(state: &mut State, target: &NoteTarget, error: Option<String>) -> bool {
    let Some(dialog) = state.mode.note_mut() else {
        return false;
    };
    if !dialog.in_flight || dialog.kind.target() != *target {
        return false;
    }
    match error {
        // Refused: the dialog stays open with the note as typed.
        Some(error) => {
            dialog.in_flight = false;
            dialog.error = Some(error);
        }
        None => {
            state.mode.take_note();
        }
    }
    true
}

pub(super) fn finding_marked(
    state: &mut State,
    key: String,
    result: Result<FindingReview, ReviewError>,
    now: Time,
) {
    let target = NoteTarget::Finding(key.clone());
    match result {
        Ok(review) => {
            findings::set_reviewed(state, &key, &review);
            state.note_drafts.remove(&target);
            answer_dialog(state, &target, None);
            state.set_notice(format!("marked {} reviewed", short_key(&key)), now, false);
        }
        Err(error) => {
            let why = explain_mark(&error);
            if !answer_dialog(state, &target, Some(why.clone())) {
                state.set_notice(format!("marking failed: {why}"), now, true);
            }
        }
    }
}

/// A finding's key as the status bar shows it: `kind:short-id`.
fn short_key(key: &str) -> String {
    let mut parts = key.splitn(3, ':');
    let kind = parts.next().unwrap_or_default();
    match parts.next().and_then(|id| Uuid::parse_str(id).ok()) {
        Some(id) => format!("{kind} on {}", text::short_id(&id)),
        None => text::inline(kind),
    }
}

pub(super) fn post_incident_reviewed(
    state: &mut State,
    id: Uuid,
    result: Result<Request, ReviewError>,
    now: Time,
) -> Vec<Effect> {
    let target = NoteTarget::PostIncident(id);
    match result {
        Ok(request) => {
            let outcome = request
                .post_incident_review
                .as_ref()
                .map(|r| outcome_word(r.outcome))
                .unwrap_or("recorded");
            if let Some(inspect) = state.mode.inspect_mut()
                && inspect.fetched.as_ref().is_some_and(|r| r.id == id)
            {
                inspect.fetched = Some(request.clone());
            }
            // Shown at once, even while frozen: the owed flag goes away, and so
            // does the finding about it.
            listing::upsert(state, request, now);
            super::listing::reorder(state);
            super::findings::owed_review_recorded(state, id);
            state.note_drafts.remove(&target);
            answer_dialog(state, &target, None);
            state.set_notice(
                format!(
                    "post-incident review of {} recorded: {outcome}",
                    text::short_id(&id)
                ),
                now,
                false,
            );
            // The open history gains the review's event.
            if state.inspect().is_some_and(|i| i.id == id) {
                return vec![Effect::FetchHistory(id)];
            }
        }
        Err(error) => {
            let why = explain_post_incident(&error);
            if !answer_dialog(state, &target, Some(why.clone())) {
                state.set_notice(format!("post-incident review failed: {why}"), now, true);
            }
        }
    }
    Vec::new()
}

fn explain_mark(error: &ReviewError) -> String {
    use crate::model::api::ErrorCode as C;
    let why = match error.code {
        None => "the broker cannot be reached; your note is kept, try again",
        Some(C::Forbidden) => "your roles do not allow marking findings (rule event: update)",
        Some(C::ReasonRequired) => "the broker wants a note",
        Some(C::SelfReview) => "a finding about you is marked reviewed by someone else",
        Some(C::NotFound) => "the broker no longer has this finding; refresh with r",
        Some(_) => "",
    };
    in_words(error, why)
}

fn explain_post_incident(error: &ReviewError) -> String {
    use crate::model::api::ErrorCode as C;
    let why = match error.code {
        None => "the broker cannot be reached; your notes are kept, try again",
        Some(C::SelfReview) => "the post-incident review must come from someone else",
        Some(C::Forbidden) => "only a reviewer of these roles or an administrator may record it",
        Some(C::AlreadyReviewed) => "it was recorded meanwhile",
        Some(C::NotPending) => "only approved emergency access is reviewed afterwards",
        Some(C::NotFound) => "the broker has no such request that you may see",
        Some(C::ReasonRequired) => "the broker wants notes",
        Some(_) => "",
    };
    in_words(error, why)
}

/// Tells an open post-incident dialog when its review was recorded meanwhile.
pub(super) fn check_dialog(state: &mut State) {
    let Some(NoteDialog {
        kind: NoteKind::PostIncident { id, .. },
        in_flight: false,
        ..
    }) = state.note()
    else {
        return;
    };
    let Some(review) = state
        .request(id)
        .and_then(|r| r.post_incident_review.as_ref())
    else {
        return;
    };
    let text = format!(
        "{} recorded it meanwhile: {}",
        text::inline(&review.author),
        outcome_word(review.outcome)
    );
    if let Some(dialog) = state.mode.note_mut() {
        dialog.error = Some(text);
    }
}
