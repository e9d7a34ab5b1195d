//! Writes, each one transaction. A transaction touching a request locks its row
//! first and the chain's head last, so writers on any broker queue in one order
//! and never deadlock; the head lock is held until commit, so seqs commit in order
//! and the chain has one author at a time.

use deadpool_postgres::Transaction;
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

/// Waits for the head, then reads it: from here to commit, this transaction is
/// the only one appending.
async fn lock_head(tx: &Transaction<'_>) -> Result<Head, StoreError> {
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&HEAD_LOCK])
        .await?;
    let row = tx
        .query_opt(
            "SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1",
            &[],
        )
        .await?;
    Ok(match row {
        Some(row) => Head {
            seq: row.try_get::<_, i64>(0)? as u64,
            hash: row.try_get(1)?,
        },
        None => Head::genesis(),
    })
}

/// Links `draft` onto the chain and, in one statement, stores it, records that it
/// owes notifications (one row, spread over the sinks when claimed) and tells
/// the other brokers at commit.
async fn append(
    tx: &Transaction<'_>,
    head: &mut Head,
    draft: EventDraft,
) -> Result<AuditEvent, StoreError> {
    let event = head.link(draft);
    let body = encode(&event)?;
    let seq = event.seq as i64;
    let request_id = event.request_id.map(|id| id.to_string());
    let topic = crate::broker::notify::Topic::of(&event).map(|t| t.as_str());
    let insert = tx
        .prepare_cached(&format!(
            "WITH event AS (
                 INSERT INTO events (seq, time_ms, type, user_name, request_id, action, body, hash)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)),
             owed AS (
                 INSERT INTO notify_owed (seq, request_id, topic, created_ms)
                 SELECT $1, $5, $9, $2
                  WHERE $9::text IS NOT NULL AND $5::text IS NOT NULL
                    AND EXISTS (SELECT 1 FROM notify_sinks))
             SELECT pg_notify('{CHANNEL}', '')"
        ))
        .await?;
    tx.execute(
        &insert,
        &[
            &seq,
            &millis(event.time),
            &event.kind.as_str(),
            &event.user,
            &request_id,
            &event.field_str("action"),
            &body,
            &event.hash,
            &topic,
        ],
    )
    .await?;
    Ok(event)
}

async fn save_request(
    tx: &Transaction<'_>,
    request: &Request,
    insert: bool,
) -> Result<(), StoreError> {
    let body = encode(request)?;
    let id = request.id.to_string();
    let access_ends = request.access.as_ref().map(|a| millis(a.ends_at));
    let owed = request.post_incident_review_owed();
    if insert {
        let statement = tx
            .prepare_cached(
                "WITH request AS (
                     INSERT INTO requests (id, user_name, state, created_ms, pending_expires_ms,
                                           access_ends_ms, touched_ms, body, review_owed)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9))
                 INSERT INTO request_roles (role, request_id) SELECT unnest($10::text[]), $1
                 ON CONFLICT DO NOTHING",
            )
            .await?;
        tx.execute(
            &statement,
            &[
                &id,
                &request.user,
                &request.state.as_str(),
                &millis(request.created_at),
                &millis(request.pending_expires_at),
                &access_ends,
                &millis(touched(request)),
                &body,
                &owed,
                &request.roles,
            ],
        )
        .await?;
    } else {
        let statement = tx
            .prepare_cached(
                "UPDATE requests SET state = $2, access_ends_ms = $3, touched_ms = $4, body = $5, review_owed = $6 WHERE id = $1",
            )
            .await?;
        tx.execute(
            &statement,
            &[
                &id,
                &request.state.as_str(),
                &access_ends,
                &millis(touched(request)),
                &body,
                &owed,
            ],
        )
        .await?;
    }
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
    save_request(&tx, &request, true).await?;
    let mut head = lock_head(&tx).await?;
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
            save_request(&tx, &request, false).await?;
            let mut head = lock_head(&tx).await?;
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
                let mut head = lock_head(&tx).await?;
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
    let mut head = lock_head(&tx).await?;
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
    let mut head = lock_head(&tx).await?;
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
    let mut head = lock_head(&tx).await?;
    let event = append(&tx, &mut head, plan.event(actor, now)?).await?;
    tx.commit().await?;
    db.committed(vec![Published {
        event,
        request: None,
    }]);
    Ok(Some(plan.after))
}
