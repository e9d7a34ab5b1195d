//! The hash-chained audit log's links, whichever backend stores them.

use std::collections::BTreeMap;

use uuid::Uuid;

use crate::model::event::GENESIS_HASH;
use crate::model::{AuditEvent, EventType, Request, State, Time};

/// An event before the log gives it a sequence number and a hash.
#[derive(Debug, Clone, PartialEq)]
pub struct EventDraft {
    pub kind: EventType,
    pub time: Time,
    pub user: String,
    pub request_id: Option<Uuid>,
    pub roles: Vec<String>,
    pub state: Option<State>,
    pub reason: Option<String>,
    pub fields: BTreeMap<String, serde_json::Value>,
}

impl EventDraft {
    pub fn new(kind: EventType, user: &str, time: Time) -> Self {
        EventDraft {
            kind,
            time,
            user: user.to_string(),
            request_id: None,
            roles: Vec::new(),
            state: None,
            reason: None,
            fields: BTreeMap::new(),
        }
    }

    /// Fills request id, roles and state from the request as it is after the event.
    pub fn about(mut self, request: &Request) -> Self {
        self.fields
            .entry("requester".to_string())
            .or_insert_with(|| request.user.clone().into());
        // The access window's end, which nothing else in the log says: verify
        // replays it against the requests table.
        if let Some(access) = &request.access {
            self.fields
                .entry("access_ends_at".to_string())
                .or_insert_with(|| {
                    access
                        .ends_at
                        .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
                        .into()
                });
        }
        self.request_id = Some(request.id);
        self.roles = request.roles.clone();
        self.state = Some(request.state);
        self
    }

    pub fn reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }

    pub fn field(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
        self.fields.insert(key.to_string(), value.into());
        self
    }
}

/// An event committed to the log, with the request as it stood after it, ready to be
/// fanned out to subscribers.
#[derive(Debug, Clone)]
pub struct Published {
    pub event: AuditEvent,
    pub request: Option<Request>,
}

/// The newest link of the chain as seen inside the current write transaction.
/// Backends read it under their own serialisation (one writer thread, or a lock on
/// the head) and store what [`Head::link`] returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub seq: u64,
    pub hash: String,
}

impl Head {
    /// The head of an empty log.
    pub fn genesis() -> Head {
        Head {
            seq: 0,
            hash: GENESIS_HASH.to_string(),
        }
    }

    /// The event `draft` becomes as the next link, and the head moved onto it.
    pub fn link(&mut self, draft: EventDraft) -> AuditEvent {
        let mut event = AuditEvent {
            seq: self.seq + 1,
            id: Uuid::now_v7(),
            kind: draft.kind,
            code: draft.kind.code().to_string(),
            time: draft.time,
            user: draft.user,
            request_id: draft.request_id,
            roles: draft.roles,
            state: draft.state,
            reason: draft.reason,
            fields: draft.fields,
            hash: String::new(),
        };
        event.hash = event.chain_hash(&self.hash);
        self.seq = event.seq;
        self.hash = event.hash.clone();
        event
    }
}
