//! The notification outbox on PostgreSQL: one row per event that owes
//! notifications, added in the event's transaction, spread over the sinks by the
//! claim that comes next (each owed row moved once, whichever broker claims);
//! claims skip rows another broker's dispatcher holds, so each is sent by one.

use tokio_postgres::Row;
use uuid::Uuid;

use super::super::rows::millis;
use super::super::{Notification, NotificationState, Settle, StoreError};
use super::Shared;
use crate::broker::notify::Topic;
use crate::model::Time;

const COLUMNS: &str =
    "id, seq, request_id, topic, sink, state, attempts, created_ms, next_ms, done_ms, last_error";

/// Moves owed events into one row per sink. The DELETE takes each owed row once:
/// a second broker spreading at the same moment waits, then finds it gone.
const SPREAD: &str =
    "WITH moved AS (DELETE FROM notify_owed RETURNING seq, request_id, topic, created_ms)
     INSERT INTO notifications (seq, request_id, topic, sink, created_ms, next_ms)
     SELECT o.seq, o.request_id, o.topic, s.name, o.created_ms, o.created_ms
       FROM moved o CROSS JOIN notify_sinks s ORDER BY o.seq, s.name
     ON CONFLICT DO NOTHING";

pub(super) async fn set_sinks(db: &Shared, names: &[String]) -> Result<(), StoreError> {
    let mut client = db.client().await?;
    let tx = client.transaction().await?;
    // What was owed under the old sinks goes to them.
    tx.execute(SPREAD, &[]).await?;
    tx.execute("DELETE FROM notify_sinks WHERE name <> ALL($1)", &[&names])
        .await?;
    tx.execute(
        "INSERT INTO notify_sinks (name) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING",
        &[&names],
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

pub(super) async fn claim(
    db: &Shared,
    now: Time,
    lease: std::time::Duration,
    limit: usize,
) -> Result<Vec<Notification>, StoreError> {
    let client = db.client().await?;
    client.execute(SPREAD, &[]).await?;
    let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX / 2);
    let rows = client
        .query(
            &format!(
                "UPDATE notifications SET attempts = attempts + 1, next_ms = $1 + $2
                  WHERE id IN (SELECT id FROM notifications
                                WHERE state = 'pending' AND next_ms <= $1
                                ORDER BY next_ms, id LIMIT $3
                                FOR UPDATE SKIP LOCKED)
                 RETURNING {COLUMNS}"
            ),
            &[&millis(now), &lease_ms, &(limit.max(1) as i64)],
        )
        .await?;
    let mut out = rows.iter().map(decode).collect::<Result<Vec<_>, _>>()?;
    out.sort_by_key(|n| n.id);
    Ok(out)
}

pub(super) async fn settle(db: &Shared, settled: Vec<(u64, Settle)>) -> Result<(), StoreError> {
    let mut client = db.client().await?;
    let tx = client.transaction().await?;
    for (id, settle) in settled {
        let (state, next_ms, done_ms, error) = match settle {
            Settle::Sent { at, note } => ("sent", None, Some(millis(at)), note),
            Settle::Retry { at, error } => ("pending", Some(millis(at)), None, Some(error)),
            Settle::Failed { at, error } => ("failed", None, Some(millis(at)), Some(error)),
        };
        tx.execute(
            "UPDATE notifications
                SET state = $2, next_ms = COALESCE($3, next_ms), done_ms = $4, last_error = $5
              WHERE id = $1 AND state = 'pending'",
            &[&(id as i64), &state, &next_ms, &done_ms, &error],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

pub(super) async fn list(
    db: &Shared,
    state: Option<NotificationState>,
    limit: usize,
) -> Result<Vec<Notification>, StoreError> {
    let client = db.client().await?;
    client.execute(SPREAD, &[]).await?;
    let rows = client
        .query(
            &format!(
                "SELECT {COLUMNS} FROM notifications
                  WHERE $1::text IS NULL OR state = $1 ORDER BY id DESC LIMIT $2"
            ),
            &[
                &state.map(NotificationState::as_str),
                &(limit.max(1) as i64),
            ],
        )
        .await?;
    rows.iter().map(decode).collect()
}

pub(super) async fn counts(db: &Shared) -> Result<Vec<(NotificationState, u64)>, StoreError> {
    let client = db.client().await?;
    let rows = client
        .query(
            "SELECT state, COUNT(*) FROM notifications GROUP BY state",
            &[],
        )
        .await?;
    let mut out: Vec<(NotificationState, u64)> =
        NotificationState::ALL.iter().map(|s| (*s, 0)).collect();
    for row in rows {
        let state: String = row.try_get(0)?;
        let n: i64 = row.try_get(1)?;
        if let Some(slot) = out.iter_mut().find(|(s, _)| s.as_str() == state) {
            slot.1 = n as u64;
        }
    }
    // Owed but not yet spread: pending, once per sink.
    let owed: i64 = client
        .query_one(
            "SELECT (SELECT COUNT(*) FROM notify_owed) * (SELECT COUNT(*) FROM notify_sinks)",
            &[],
        )
        .await?
        .try_get(0)?;
    if let Some(pending) = out
        .iter_mut()
        .find(|(s, _)| *s == NotificationState::Pending)
    {
        pending.1 += owed as u64;
    }
    Ok(out)
}

pub(super) async fn retry(db: &Shared, id: u64, now: Time) -> Result<bool, StoreError> {
    let client = db.client().await?;
    let changed = client
        .execute(
            "UPDATE notifications SET state = 'pending', next_ms = $2, done_ms = NULL
              WHERE id = $1 AND state IN ('failed', 'pending')",
            &[&(id as i64), &millis(now)],
        )
        .await?;
    Ok(changed > 0)
}

pub(super) async fn queue_reminders(
    db: &Shared,
    request_ids: &[Uuid],
    now: Time,
) -> Result<usize, StoreError> {
    let client = db.client().await?;
    let ids: Vec<String> = request_ids.iter().map(Uuid::to_string).collect();
    let queued = client
        .execute(
            "INSERT INTO notifications (seq, request_id, topic, sink, created_ms, next_ms)
             SELECT 0, r, 'review_due', s.name, $2, $2
               FROM unnest($1::text[]) AS r, notify_sinks s
             ON CONFLICT DO NOTHING",
            &[&ids, &millis(now)],
        )
        .await?;
    Ok(queued as usize)
}

fn decode(row: &Row) -> Result<Notification, StoreError> {
    let id: i64 = row.try_get(0)?;
    let corrupt = |what: &str| StoreError::Corrupt(format!("notification {id}: {what}"));
    let time = |ms: i64| {
        chrono::DateTime::from_timestamp_millis(ms).ok_or_else(|| corrupt("time out of range"))
    };
    let request_id: String = row.try_get(2)?;
    let topic: String = row.try_get(3)?;
    let state: String = row.try_get(5)?;
    let attempts: i32 = row.try_get(6)?;
    Ok(Notification {
        id: id as u64,
        seq: row.try_get::<_, i64>(1)? as u64,
        request_id: Uuid::parse_str(&request_id).map_err(|_| corrupt("request id"))?,
        topic: Topic::parse(&topic).ok_or_else(|| corrupt("topic"))?,
        sink: row.try_get(4)?,
        state: NotificationState::parse(&state).ok_or_else(|| corrupt("state"))?,
        attempts: u32::try_from(attempts).unwrap_or(0),
        created_at: time(row.try_get(7)?)?,
        next_at: time(row.try_get(8)?)?,
        done_at: row.try_get::<_, Option<i64>>(9)?.map(time).transpose()?,
        last_error: row.try_get(10)?,
    })
}
