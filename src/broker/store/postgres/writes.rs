//! Writes, each one transaction. A transaction touching a request locks its row
//! first and the chain's head last, so writers on any broker queue in one order
//! and never deadlock; the head lock is held until commit, so seqs commit in order
//! and the chain has one author at a time.

use deadpool_postgres::Transaction;
use tokio_postgres::SimpleQueryMessage;
use tokio_postgres::types::ToSql;
use uuid::Uuid;

use super::super::rows::{decode, encode, millis, refused, touched};
use super::super::user_admin::{UserChange, UserPlan, UserWrite};
use super::super::{
    EventDraft, Head, Issue, Issued, Mutated, Mutation, Published, Refusal, StoreError, Verdict,
};
use super::Shared;
use crate::model::api::ErrorCode;
use crate::model::{AuditEvent, Request, Time, User};

/// The advisory lock on the chain's head, the same key in every broker.
const HEAD_LOCK: i64 = 0x6373_6865_6164_0001;

/// The channel NOTIFY wakes the brokers' tails on.
pub(super) const CHANNEL: &str = "countersign_events";

/// Waits for the head, then reads it, in one round trip: from here to commit,
/// this transaction is the only one appending. Two statements of one simple
/// query, so the read takes its snapshot after the lock is granted and sees the
/// previous holder's commit (one statement would read a snapshot from before).
pub(super) async fn lock_head(client: &tokio_postgres::Client) -> Result<Head, StoreError> {
    let messages = client
        .simple_query(&format!(
            "SELECT pg_advisory_xact_lock({HEAD_LOCK});
             SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1"
        ))
        .await?;
    let mut statements_done = 0;
    for message in &messages {
        match message {
            SimpleQueryMessage::CommandComplete(_) => statements_done += 1,
            SimpleQueryMessage::Row(row) if statements_done == 1 => {
                let seq = row
                    .get(0)
                    .and_then(|s| s.parse::<u64>().ok())
                    .ok_or_else(|| StoreError::Corrupt("the head's seq is not a number".into()))?;
                let hash = row
                    .get(1)
                    .ok_or_else(|| StoreError::Corrupt("the head has no hash".into()))?;
                return Ok(Head {
                    seq,
                    hash: hash.to_string(),
                });
            }
            _ => {}
        }
    }
    Ok(Head::genesis())
}

/// Links `draft` onto the chain and stores it (see [`append_all`]).
async fn append(
    tx: &Transaction<'_>,
    head: &mut Head,
    draft: EventDraft,
) -> Result<AuditEvent, StoreError> {
    let mut events = append_all(tx, head, vec![draft]).await?;
    events
        .pop()
        .ok_or_else(|| StoreError::Database("an append stored no event".into()))
}

/// Links `drafts` onto the chain in order and, in one statement, stores them, the
/// notifications they raise, and a NOTIFY that tells the other brokers at commit.
pub(super) async fn append_all(
    tx: &Transaction<'_>,
    head: &mut Head,
    drafts: Vec<EventDraft>,
) -> Result<Vec<AuditEvent>, StoreError> {
    let events: Vec<AuditEvent> = drafts.into_iter().map(|d| head.link(d)).collect();
    let columns = EventColumns::of(&events)?;
    let insert = tx.prepare_cached(&append_sql()).await?;
    tx.execute(&insert, &columns.params()).await?;
    Ok(events)
}

/// Stores events (given as [`EventColumns`]), the notifications they raise, and a
/// NOTIFY that wakes the other brokers at commit, in one statement.
pub(super) fn append_sql() -> String {
    // The outbox is its own CTE (`owed`): one row per event that owes
    // notifications, spread over the sinks when a dispatcher claims.
    format!(
        "WITH event AS (
             INSERT INTO events (seq, time_ms, type, user_name, request_id, action, body, hash)
             SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[],
                                  $5::text[], $6::text[], $7::text[], $8::text[])),
         owed AS (
             INSERT INTO notify_owed (seq, request_id, topic, created_ms)
             SELECT e.seq, e.request_id, e.topic, e.time_ms
               FROM unnest($1::bigint[], $5::text[], $9::text[], $2::bigint[])
                    AS e(seq, request_id, topic, time_ms)
              WHERE e.topic IS NOT NULL AND e.request_id IS NOT NULL
                AND EXISTS (SELECT 1 FROM notify_sinks))
         SELECT pg_notify('{CHANNEL}', '')"
    )
}

/// Events as the columns of their rows, one array per column.
pub(super) struct EventColumns {
    seq: Vec<i64>,
    time_ms: Vec<i64>,
    kind: Vec<&'static str>,
    user: Vec<String>,
    request_id: Vec<Option<String>>,
    action: Vec<Option<String>>,
    body: Vec<String>,
    hash: Vec<String>,
    topic: Vec<Option<&'static str>>,
}

impl EventColumns {
    pub fn of(events: &[AuditEvent]) -> Result<Self, StoreError> {
        let mut columns = EventColumns::with_capacity(events.len());
        for event in events {
            columns.push(event)?;
        }
        Ok(columns)
    }

    /// The parameters of [`append_sql`].
    pub fn params(&self) -> [&(dyn ToSql + Sync); 9] {
        [
            &self.seq,
            &self.time_ms,
            &self.kind,
            &self.user,
            &self.request_id,
            &self.action,
            &self.body,
            &self.hash,
            &self.topic,
        ]
    }

    fn with_capacity(n: usize) -> Self {
        EventColumns {
            seq: Vec::with_capacity(n),
            time_ms: Vec::with_capacity(n),
            kind: Vec::with_capacity(n),
            user: Vec::with_capacity(n),
            request_id: Vec::with_capacity(n),
            action: Vec::with_capacity(n),
            body: Vec::with_capacity(n),
            hash: Vec::with_capacity(n),
            topic: Vec::with_capacity(n),
        }
    }

    fn push(&mut self, event: &AuditEvent) -> Result<(), StoreError> {
        self.body.push(encode(event)?);
        self.seq.push(event.seq as i64);
        self.time_ms.push(millis(event.time));
        self.kind.push(event.kind.as_str());
        self.user.push(event.user.clone());
        self.request_id
            .push(event.request_id.map(|id| id.to_string()));
        self.action
            .push(event.field_str("action").map(str::to_string));
        self.hash.push(event.hash.clone());
        self.topic
            .push(crate::broker::notify::Topic::of(event).map(|t| t.as_str()));
        Ok(())
    }
}

/// Stores new requests (given as [`RequestColumns`]) and their roles, in one
/// statement however many.
pub(super) const INSERT_REQUESTS: &str = "WITH request AS (
         INSERT INTO requests (id, user_name, state, created_ms, pending_expires_ms,
                               access_ends_ms, touched_ms, body, review_owed)
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[],
                              $5::bigint[], $6::bigint[], $7::bigint[], $8::text[],
                              $9::bool[]))
     INSERT INTO request_roles (role, request_id)
     SELECT * FROM unnest($10::text[], $11::text[])
     ON CONFLICT DO NOTHING";

/// New requests as the columns of their rows, one array per column, and their
/// roles as (role, request id) pairs.
pub(super) struct RequestColumns<'a> {
    id: Vec<String>,
    user: Vec<&'a str>,
    state: Vec<&'static str>,
    created: Vec<i64>,
    pending_expires: Vec<i64>,
    access_ends: Vec<Option<i64>>,
    touched: Vec<i64>,
    body: Vec<String>,
    owed: Vec<bool>,
    role: Vec<&'a str>,
    role_request: Vec<String>,
}

impl<'a> RequestColumns<'a> {
    pub fn of(requests: impl ExactSizeIterator<Item = &'a Request>) -> Result<Self, StoreError> {
        let n = requests.len();
        let mut columns = RequestColumns {
            id: Vec::with_capacity(n),
            user: Vec::with_capacity(n),
            state: Vec::with_capacity(n),
            created: Vec::with_capacity(n),
            pending_expires: Vec::with_capacity(n),
            access_ends: Vec::with_capacity(n),
            touched: Vec::with_capacity(n),
            body: Vec::with_capacity(n),
            owed: Vec::with_capacity(n),
            role: Vec::new(),
            role_request: Vec::new(),
        };
        for request in requests {
            let request_id = request.id.to_string();
            for role in &request.roles {
                columns.role.push(role);
                columns.role_request.push(request_id.clone());
            }
            columns.id.push(request_id);
            columns.user.push(&request.user);
            columns.state.push(request.state.as_str());
            columns.created.push(millis(request.created_at));
            columns
                .pending_expires
                .push(millis(request.pending_expires_at));
            columns
                .access_ends
                .push(request.access.as_ref().map(|a| millis(a.ends_at)));
            columns.touched.push(millis(touched(request)));
            columns.body.push(encode(request)?);
            columns.owed.push(request.post_incident_review_owed());
        }
        Ok(columns)
    }

    /// The parameters of [`INSERT_REQUESTS`].
    pub fn params(&self) -> [&(dyn ToSql + Sync); 11] {
        [
            &self.id,
            &self.user,
            &self.state,
            &self.created,
            &self.pending_expires,
            &self.access_ends,
            &self.touched,
            &self.body,
            &self.owed,
            &self.role,
            &self.role_request,
        ]
    }
}

/// Stores new requests and their roles, in one statement.
async fn insert_requests(tx: &Transaction<'_>, requests: &[&Request]) -> Result<(), StoreError> {
    let columns = RequestColumns::of(requests.iter().copied())?;
    let statement = tx.prepare_cached(INSERT_REQUESTS).await?;
    tx.execute(&statement, &columns.params()).await?;
    Ok(())
}

/// Saves a request changed in place.
async fn update_request(tx: &Transaction<'_>, request: &Request) -> Result<(), StoreError> {
    let body = encode(request)?;
    let access_ends = request.access.as_ref().map(|a| millis(a.ends_at));
    let statement = tx
        .prepare_cached(
            "UPDATE requests SET state = $2, access_ends_ms = $3, touched_ms = $4, body = $5, review_owed = $6 WHERE id = $1",
        )
        .await?;
    tx.execute(
        &statement,
        &[
            &request.id.to_string(),
            &request.state.as_str(),
            &access_ends,
            &millis(touched(request)),
            &body,
            &request.post_incident_review_owed(),
        ],
    )
    .await?;
    Ok(())
}

/// The request, its row locked until commit.
async fn lock_request(tx: &Transaction<'_>, id: Uuid) -> Result<Option<Request>, StoreError> {
    let statement = tx
        .prepare_cached("SELECT body FROM requests WHERE id = $1 FOR UPDATE")
        .await?;
    let row = tx.query_opt(&statement, &[&id.to_string()]).await?;
    row.map(|row| decode(row.try_get(0)?)).transpose()
}

fn not_found(id: Uuid) -> Refusal {
    Refusal::new(ErrorCode::NotFound, format!("no request {id}"))
}

pub(super) async fn add_user(
    db: &Shared,
    user: &User,
    token_hash: &str,
    now: Time,
) -> Result<(), StoreError> {
    let client = db.client().await?;
    let added = client
        .execute(
            "INSERT INTO users (name, roles, traits, token_hash, created_ms) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (name) DO NOTHING",
            &[
                &user.name,
                &encode(&user.roles)?,
                &encode(&user.traits)?,
                &token_hash,
                &millis(now),
            ],
        )
        .await?;
    if added == 0 {
        return Err(StoreError::Conflict(format!(
            "user {:?} already exists (remove it first, or rotate its token)",
            user.name
        )));
    }
    Ok(())
}

pub(super) async fn create_request(
    db: &Shared,
    request: Request,
    draft: EventDraft,
) -> Result<AuditEvent, StoreError> {
    let mut client = db.client().await?;
    let tx = client.transaction().await?;
    let (_, mut head) =
        futures_util::future::try_join(insert_requests(&tx, &[&request]), lock_head(tx.client()))
            .await?;
    let event = append(&tx, &mut head, draft.about(&request)).await?;
    tx.commit().await?;
    db.committed(vec![Published {
        event: event.clone(),
        request: Some(request),
    }]);
    Ok(event)
}

pub(super) async fn mutate_request(
    db: &Shared,
    id: Uuid,
    mutation: Mutation,
) -> Result<Mutated, StoreError> {
    let mut client = db.client().await?;
    let tx = client.transaction().await?;
    let Some(mut request) = lock_request(&tx, id).await? else {
        return Ok(Err(not_found(id)));
    };
    let original = request.clone();
    let (answer, published) = match mutation(&mut request) {
        Verdict::Commit(draft) => {
            update_request(&tx, &request).await?;
            let mut head = lock_head(tx.client()).await?;
            let event = append(&tx, &mut head, draft.about(&request)).await?;
            (
                Ok((request.clone(), event.clone())),
                vec![Published {
                    event,
                    request: Some(request),
                }],
            )
        }
        Verdict::Refuse { refusal, record } => {
            let mut published = Vec::new();
            if let Some(draft) = record {
                let draft = refused(draft, &original, refusal.code);
                let mut head = lock_head(tx.client()).await?;
                let event = append(&tx, &mut head, draft).await?;
                published.push(Published {
                    event,
                    request: Some(original),
                });
            }
            (Err(refusal), published)
        }
    };
    if published.is_empty() {
        // Nothing written: let the row go without a commit's flush.
        tx.rollback().await?;
        return Ok(answer);
    }
    tx.commit().await?;
    db.committed(published);
    Ok(answer)
}

pub(super) async fn issue_certificate(
    db: &Shared,
    id: Uuid,
    issue: Issue,
) -> Result<Issued, StoreError> {
    let mut client = db.client().await?;
    let tx = client.transaction().await?;
    let Some(request) = lock_request(&tx, id).await? else {
        return Ok(Err(not_found(id)));
    };
    // The head lock also serialises serials: every issue appends an event.
    let mut head = lock_head(tx.client()).await?;
    let last = tx
        .query_one("SELECT COALESCE(MAX(serial), 0) FROM certificates", &[])
        .await?;
    let serial = last.try_get::<_, i64>(0)? as u64 + 1;
    let (certificate, draft) = match issue(&request, serial) {
        Ok(issued) => issued,
        Err(refusal) => {
            tx.rollback().await?;
            return Ok(Err(refusal));
        }
    };
    if certificate.serial != serial {
        return Err(StoreError::Conflict(format!(
            "certificate serial {} is not the one allotted ({serial})",
            certificate.serial
        )));
    }
    tx.execute(
        "INSERT INTO certificates (serial, request_id, valid_before_ms, body) VALUES ($1, $2, $3, $4)",
        &[
            &(serial as i64),
            &request.id.to_string(),
            &millis(certificate.valid_before),
            &encode(&certificate)?,
        ],
    )
    .await?;
    let event = append(&tx, &mut head, draft.about(&request)).await?;
    tx.commit().await?;
    db.committed(vec![Published {
        event,
        request: Some(request),
    }]);
    Ok(Ok(certificate))
}

pub(super) async fn append_event(db: &Shared, draft: EventDraft) -> Result<AuditEvent, StoreError> {
    let mut client = db.client().await?;
    let tx = client.transaction().await?;
    let mut head = lock_head(tx.client()).await?;
    let event = append(&tx, &mut head, draft).await?;
    tx.commit().await?;
    db.committed(vec![Published {
        event: event.clone(),
        request: None,
    }]);
    Ok(event)
}

/// An administrator's change to a user, with the event that records it, in one
/// transaction (the user's row locked first, then the head, as for requests).
pub(super) async fn change_user(
    db: &Shared,
    change: &UserChange,
    actor: &str,
    now: Time,
) -> Result<Option<User>, StoreError> {
    let mut client = db.client().await?;
    let tx = client.transaction().await?;
    let name = change.name();
    let row = tx
        .query_opt(
            "SELECT roles, traits FROM users WHERE name = $1 FOR UPDATE",
            &[&name],
        )
        .await?;
    let before = match row {
        None => None,
        Some(row) => {
            let corrupt = |e: serde_json::Error| StoreError::Corrupt(format!("user {name:?}: {e}"));
            let roles: String = row.try_get(0)?;
            let traits: String = row.try_get(1)?;
            Some(User {
                name: name.to_string(),
                roles: serde_json::from_str(&roles).map_err(corrupt)?,
                traits: serde_json::from_str(&traits).map_err(corrupt)?,
            })
        }
    };
    let Some(plan) = UserPlan::decide(change, before)? else {
        return Ok(None);
    };
    match &plan.write {
        UserWrite::Insert { user, token_hash } => {
            tx.execute(
                "INSERT INTO users (name, roles, traits, token_hash, created_ms) VALUES ($1, $2, $3, $4, $5)",
                &[
                    &user.name,
                    &encode(&user.roles)?,
                    &encode(&user.traits)?,
                    token_hash,
                    &millis(now),
                ],
            )
            .await?
        }
        UserWrite::Delete { name } => {
            tx.execute("DELETE FROM users WHERE name = $1", &[name])
                .await?
        }
        UserWrite::Update { user } => {
            tx.execute(
                "UPDATE users SET roles = $2, traits = $3 WHERE name = $1",
                &[&user.name, &encode(&user.roles)?, &encode(&user.traits)?],
            )
            .await?
        }
        UserWrite::Token { name, token_hash } => {
            tx.execute(
                "UPDATE users SET token_hash = $2 WHERE name = $1",
                &[name, token_hash],
            )
            .await?
        }
    };
    let mut head = lock_head(tx.client()).await?;
    let event = append(&tx, &mut head, plan.event(actor, now)?).await?;
    tx.commit().await?;
    db.committed(vec![Published {
        event,
        request: None,
    }]);
    Ok(Some(plan.after))
}
