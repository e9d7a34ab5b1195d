//! Persistence behind a small interface, so a second backend can be added without
//! touching handlers. Requests are never deleted; the audit log is append-only.

mod chain;
mod location;
mod lock;
pub mod migrate;
mod outbox;
mod postgres;
mod rows;
mod sqlite;
mod user_admin;
pub mod verify;

use std::path::PathBuf;

pub use chain::{EventDraft, Head, Published};
pub use location::{Location, Served, head, open, serve, verify};
pub use lock::DataDirLock;
pub use outbox::{Notification, NotificationState, Settle};
pub use sqlite::SqliteStore;
pub use user_admin::UserChange;

use crate::model::api::ErrorCode;
use crate::model::event::ChainReport;
use crate::model::{AuditEvent, Certificate, EventType, Request, State, Time, User};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend's own error, as text: nothing above the store names a driver.
    #[error("database: {0}")]
    Database(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("{0}")]
    Conflict(String),
    #[error("cannot open the data directory {path}: {why}")]
    DataDir { path: PathBuf, why: String },
    #[error("the store is shutting down")]
    Closed,
    #[error("the store can no longer write: {0}")]
    Failed(String),
    /// The database server cannot be reached for now (another broker, or a
    /// later attempt, may do better).
    #[error("the database cannot be reached: {0}")]
    Unavailable(String),
}

/// Picks events for a scan by type and, for types whose `action` field says what
/// happened (`access_request.update`: return, withdraw, override…), by action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventSelector {
    pub kind: EventType,
    pub action: Option<&'static str>,
}

impl EventSelector {
    /// Every event of `kind`.
    pub const fn kind(kind: EventType) -> Self {
        EventSelector { kind, action: None }
    }

    /// The events of `kind` whose `action` is `action`.
    pub const fn action(kind: EventType, action: &'static str) -> Self {
        EventSelector {
            kind,
            action: Some(action),
        }
    }
}

/// A client-facing refusal decided inside a transaction: the request is left as it
/// was, and `record` (if any) is appended to the audit log anyway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: ErrorCode,
    pub message: String,
}

impl Refusal {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Refusal {
            code,
            message: message.into(),
        }
    }
}

/// What a mutation closure decides about a request it was shown.
pub enum Verdict {
    /// Save the mutated request and append this event.
    Commit(EventDraft),
    /// Leave the request unchanged, answer with the refusal, append `record` if given.
    Refuse {
        refusal: Refusal,
        record: Option<EventDraft>,
    },
}

/// A refusal that leaves nothing on the record.
impl From<Refusal> for Verdict {
    fn from(refusal: Refusal) -> Self {
        Verdict::Refuse {
            refusal,
            record: None,
        }
    }
}

/// Told about committed events, in `seq` order (see [`Store::on_commit`]).
pub type Publisher = Box<dyn Fn(&[Published]) + Send + Sync>;

pub type Mutation = Box<dyn FnOnce(&mut Request) -> Verdict + Send>;

/// The result of a mutation: the saved request and its event, or the refusal.
pub type Mutated = Result<(Request, AuditEvent), Refusal>;

/// Makes a request's certificate inside the write transaction, given the request as
/// it stands and the serial allotted to it; or refuses, leaving nothing behind.
pub type Issue =
    Box<dyn FnOnce(&Request, u64) -> Result<(Certificate, EventDraft), Refusal> + Send>;

/// The certificate stored with its `cert.create` event, or the refusal.
pub type Issued = Result<Certificate, Refusal>;

/// A page query over requests, newest first.
#[derive(Debug, Clone, Default)]
pub struct RequestQuery {
    pub state: Option<State>,
    pub user: Option<String>,
    pub role: Option<String>,
    /// Only requests whose id sorts before this one (ids are time-ordered UUID v7).
    pub before: Option<uuid::Uuid>,
    /// Only requests whose id is this one or sorts after it: the far end of a window.
    pub not_before: Option<uuid::Uuid>,
    /// Lowercase text found in the requester, a role or the reason, or at the
    /// start of the id (with or without its hyphens).
    pub text: Option<String>,
    pub limit: usize,
}

#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    pub kind: Option<EventType>,
    pub user: Option<String>,
    pub request_id: Option<uuid::Uuid>,
    pub since: Option<Time>,
    pub until: Option<Time>,
    pub after_seq: Option<u64>,
    /// Only events about requests this caller might see (read from the indexes,
    /// before any body is decoded); `None` for no such filter.
    pub visible_to: Option<Visibility>,
    pub limit: usize,
}

/// The requests a caller without rule `access_request: list` might see: their
/// own and those with a role they may review. A superset: the policy still checks
/// each one, but only these are read and decoded.
#[derive(Debug, Clone, Default)]
pub struct Visibility {
    pub user: String,
    pub reviewable_roles: Vec<String>,
    /// Events about no request (user administration, marks) too.
    pub unattached: bool,
}

/// A request as stored: listings pass the JSON through without re-encoding it.
#[derive(Debug, Clone)]
pub struct RequestRow {
    pub id: uuid::Uuid,
    pub body: String,
}

impl RequestRow {
    pub fn decode(&self) -> Result<Request, StoreError> {
        serde_json::from_str(&self.body)
            .map_err(|e| StoreError::Corrupt(format!("request {}: {e}", self.id)))
    }
}

/// The roles currently applied, as the text they were applied from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRoles {
    pub version: u64,
    pub source_name: String,
    pub text: String,
}

/// A user as the admin sees it (never the token, only whether one is set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub user: User,
    pub created_at: Time,
}

pub trait Store: Send + Sync + 'static {
    // Users and tokens. Only the SHA-256 of a token is stored.
    fn user_by_token_hash(&self, token_hash: &str) -> Result<Option<User>, StoreError>;
    fn user(&self, name: &str) -> Result<Option<User>, StoreError>;
    fn add_user(&self, user: &User, token_hash: &str, now: Time) -> Result<(), StoreError>;
    fn users(&self) -> Result<Vec<UserRecord>, StoreError>;
    fn remove_user(&self, name: &str) -> Result<bool, StoreError>;
    fn set_token(&self, name: &str, token_hash: &str) -> Result<bool, StoreError>;
    /// An administrator's change to a user, committed with the `user.*` event
    /// that records it. `None` when there is no such user (nothing is written).
    fn change_user(
        &self,
        change: &UserChange,
        actor: &str,
        now: Time,
    ) -> Result<Option<User>, StoreError>;

    // Roles.
    fn roles(&self) -> Result<Option<StoredRoles>, StoreError>;
    fn roles_version(&self) -> Result<u64, StoreError>;
    /// What every API call asks first: the user holding the token (if any) and
    /// the roles' version, both as of one moment. A backend across a network
    /// answers both in one round trip.
    fn caller(&self, token_hash: &str) -> Result<(Option<User>, u64), StoreError> {
        Ok((self.user_by_token_hash(token_hash)?, self.roles_version()?))
    }
    fn put_roles(&self, source_name: &str, text: &str, now: Time) -> Result<u64, StoreError>;

    // Requests.
    fn create_request(&self, request: Request, event: EventDraft)
    -> Result<AuditEvent, StoreError>;
    fn mutate_request(&self, id: uuid::Uuid, mutation: Mutation) -> Result<Mutated, StoreError>;
    fn get_request(&self, id: uuid::Uuid) -> Result<Option<Request>, StoreError>;
    fn get_requests(&self, ids: &[uuid::Uuid]) -> Result<Vec<Request>, StoreError>;
    /// A page of requests as stored: id and JSON body, newest first.
    fn list_request_rows(&self, query: &RequestQuery) -> Result<Vec<RequestRow>, StoreError>;
    /// The id of the `n`-th request (from 1) the query lists, newest first, as if
    /// it had no text and no limit; `None` when it lists fewer. Read from the
    /// indexes: it bounds a text search to a window of so many rows.
    fn nth_request_id(
        &self,
        query: &RequestQuery,
        n: usize,
    ) -> Result<Option<uuid::Uuid>, StoreError>;
    /// A page of requests, decoded.
    fn list_requests(&self, query: &RequestQuery) -> Result<Vec<Request>, StoreError> {
        self.list_request_rows(query)?
            .iter()
            .map(RequestRow::decode)
            .collect()
    }
    /// How many requests are in each state (states without any left out).
    fn request_counts(&self) -> Result<Vec<(State, u64)>, StoreError>;
    /// Ids of pending requests past their deadline and approved ones past their end.
    fn due(&self, now: Time) -> Result<Vec<uuid::Uuid>, StoreError>;
    /// Feeds every request touched at or after `since` (created, resolved or with
    /// access ending then) to `each`, without holding them all. `each` is called
    /// from several threads at once, in no particular order: big scans decode on
    /// every core.
    fn scan_requests_since(
        &self,
        since: Time,
        each: &(dyn Fn(Request) + Sync),
    ) -> Result<(), StoreError>;

    /// Feeds every approved emergency request still owed its post-incident review,
    /// however long ago it was approved.
    fn scan_owed_post_incident_reviews(
        &self,
        each: &mut dyn FnMut(Request),
    ) -> Result<(), StoreError>;

    // SSH certificates (DESIGN §9).
    /// Issues and stores a certificate for request `id`, appending its event.
    fn issue_certificate(&self, id: uuid::Uuid, issue: Issue) -> Result<Issued, StoreError>;
    /// The certificates of a request, oldest first.
    fn certificates(&self, request_id: uuid::Uuid) -> Result<Vec<Certificate>, StoreError>;
    /// Serials of the certificates still valid at `now` whose request was returned
    /// or revoked: the KRL's contents.
    fn revoked_serials(&self, now: Time) -> Result<Vec<u64>, StoreError>;

    // Audit log.
    fn append_event(&self, event: EventDraft) -> Result<AuditEvent, StoreError>;
    fn events(&self, query: &EventQuery) -> Result<Vec<AuditEvent>, StoreError>;
    /// Feeds events at or after `since` to `each`; only those `select` picks, when
    /// given. Like [`Store::scan_requests_since`], `each` is called from several
    /// threads at once, in no particular order.
    fn scan_events_since(
        &self,
        since: Time,
        select: Option<&[EventSelector]>,
        each: &(dyn Fn(AuditEvent) + Sync),
    ) -> Result<(), StoreError>;
    fn head_seq(&self) -> Result<u64, StoreError>;
    /// The newest event's seq and hash (0 and the genesis hash for an empty log).
    fn head(&self) -> Result<(u64, String), StoreError>;
    fn verify_chain(&self) -> Result<ChainReport, StoreError>;
    /// A number that changes whenever users, tokens or the applied roles change.
    fn authority_stamp(&self) -> Result<u64, StoreError>;
    /// Why the store can no longer write, once that has happened.
    fn failure(&self) -> Option<String> {
        None
    }
    /// Whether the store can serve right now, or why not. Unlike [`Store::failure`]
    /// this may pass (a database server down for a moment comes back): `/healthz`
    /// reports it, the broker keeps running.
    fn health(&self) -> Result<(), String> {
        match self.failure() {
            Some(why) => Err(format!("the store can no longer write: {why}")),
            None => Ok(()),
        }
    }
    /// Writes waiting for the store's writer: queued, not yet taken into a commit.
    fn write_queue_depth(&self) -> usize {
        0
    }
    /// Sets the function told about every committed event, in `seq` order, once.
    /// On a database several brokers share, their events too: this is what feeds
    /// the event bus.
    fn on_commit(&self, publish: Publisher);
    /// Finishes the writes already queued and stops background work; later
    /// writes fail with [`StoreError::Closed`].
    fn close(&self) {}
    /// The event with sequence number `seq`.
    fn event(&self, seq: u64) -> Result<Option<AuditEvent>, StoreError>;

    // The notification outbox (DESIGN §10). Rows are added in the transaction that
    // appends the event raising them, one per configured sink.
    /// Sets the sinks new events are queued for (the configured ones, by name).
    fn set_notify_sinks(&self, names: &[String]) -> Result<(), StoreError>;
    /// Takes up to `limit` pending notifications due at `now`, and pushes their next
    /// attempt to `now + lease` so that a delivery cut short is tried again.
    fn claim_notifications(
        &self,
        now: Time,
        lease: std::time::Duration,
        limit: usize,
    ) -> Result<Vec<Notification>, StoreError>;
    /// Records how attempts ended, in one transaction.
    fn settle_notifications(&self, settled: Vec<(u64, Settle)>) -> Result<(), StoreError>;
    /// Notifications newest first, in one state or all.
    fn notifications(
        &self,
        state: Option<NotificationState>,
        limit: usize,
    ) -> Result<Vec<Notification>, StoreError>;
    /// How many notifications are in each state.
    fn notification_counts(&self) -> Result<Vec<(NotificationState, u64)>, StoreError>;
    /// Puts a failed (or pending) notification back to be sent at once. False when
    /// there is no such notification or it was already sent.
    fn retry_notification(&self, id: u64, now: Time) -> Result<bool, StoreError>;
    /// Queues a post-incident-review reminder for each request, once per request and sink.
    fn queue_review_reminders(
        &self,
        request_ids: &[uuid::Uuid],
        now: Time,
    ) -> Result<usize, StoreError>;
}

#[cfg(test)]
mod tests;
