//! Which audit events someone must hear about (DESIGN §10). Pure: the store asks it
//! inside the transaction that appends the event, so the outbox row and the event
//! commit together.

use crate::model::{AuditEvent, EventType, State};

/// What a notification is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Topic {
    /// A new request: its reviewers and the channels.
    Created,
    /// Approved, denied, expired, withdrawn or revoked: the requester and the channels.
    Outcome,
    /// An approved emergency whose post-incident review has fallen due: the reviewers.
    ReviewDue,
}

impl Topic {
    pub const ALL: [Topic; 3] = [Topic::Created, Topic::Outcome, Topic::ReviewDue];

    pub fn as_str(self) -> &'static str {
        match self {
            Topic::Created => "created",
            Topic::Outcome => "outcome",
            Topic::ReviewDue => "review_due",
        }
    }

    pub fn parse(text: &str) -> Option<Topic> {
        Topic::ALL.into_iter().find(|t| t.as_str() == text)
    }

    /// The topic an appended event raises, if any.
    pub fn of(event: &AuditEvent) -> Option<Topic> {
        event.request_id?;
        match event.kind {
            EventType::Create => Some(Topic::Created),
            EventType::Review | EventType::Update | EventType::Expire
                if event.state.is_some_and(is_outcome) =>
            {
                Some(Topic::Outcome)
            }
            _ => None,
        }
    }
}

/// The states a requester is told about. Returned and elapsed access they ended or
/// saw end themselves.
pub fn is_outcome(state: State) -> bool {
    match state {
        State::Approved | State::Denied | State::Expired | State::Withdrawn | State::Revoked => {
            true
        }
        State::Pending | State::Returned | State::Elapsed => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::event::GENESIS_HASH;

    fn event(kind: EventType, state: Option<State>) -> AuditEvent {
        AuditEvent {
            seq: 1,
            id: uuid::Uuid::now_v7(),
            kind,
            code: kind.code().to_string(),
            time: chrono::Utc::now(),
            user: "alice".into(),
            request_id: Some(uuid::Uuid::now_v7()),
            roles: vec!["db".into()],
            state,
            reason: None,
            fields: Default::default(),
            hash: GENESIS_HASH.into(),
        }
    }

    #[test]
    fn events_that_notify() {
        use EventType::*;
        let cases = [
            (Create, Some(State::Pending), Some(Topic::Created)),
            (Review, Some(State::Pending), None),
            (Review, Some(State::Approved), Some(Topic::Outcome)),
            (Review, Some(State::Denied), Some(Topic::Outcome)),
            (Update, Some(State::Withdrawn), Some(Topic::Outcome)),
            (Update, Some(State::Approved), Some(Topic::Outcome)),
            (Update, Some(State::Returned), None),
            (Update, Some(State::Revoked), Some(Topic::Outcome)),
            (CertCreate, Some(State::Approved), None),
            (Update, Some(State::Elapsed), None),
            (Expire, Some(State::Expired), Some(Topic::Outcome)),
            (ReviewRefused, Some(State::Pending), None),
            (PostIncidentReview, Some(State::Approved), None),
            (FindingReviewed, None, None),
        ];
        for (kind, state, want) in cases {
            assert_eq!(Topic::of(&event(kind, state)), want, "{kind:?} {state:?}");
        }
        let mut no_request = event(Create, Some(State::Pending));
        no_request.request_id = None;
        assert_eq!(Topic::of(&no_request), None);
    }

    #[test]
    fn topics_round_trip() {
        for topic in Topic::ALL {
            assert_eq!(Topic::parse(topic.as_str()), Some(topic));
        }
        assert_eq!(Topic::parse("nope"), None);
    }
}
