//! The notification outbox as stored. The event's own transaction writes one
//! small row per event that owes notifications (`notify_owed`, keyed by seq: an
//! append at the end of one b-tree, the least a create can pay); the dispatcher's
//! claim spreads each over the sinks as one row per event and sink
//! (`notifications`), which it then delivers and settles.

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use uuid::Uuid;

use super::StoreError;
use crate::broker::notify::Topic;
use crate::model::{AuditEvent, Time};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NotificationState {
    Pending,
    Sent,
    Failed,
}

impl NotificationState {
    pub const ALL: [NotificationState; 3] = [
        NotificationState::Pending,
        NotificationState::Sent,
        NotificationState::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            NotificationState::Pending => "pending",
            NotificationState::Sent => "sent",
            NotificationState::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<NotificationState> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// One message owed to one sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub id: u64,
    /// The event that raised it; 0 for a reminder, which no event raises.
    pub seq: u64,
    pub request_id: Uuid,
    pub topic: Topic,
    pub sink: String,
    pub state: NotificationState,
    /// Attempts started so far (a claim counts as one).
    pub attempts: u32,
    pub created_at: Time,
    pub next_at: Time,
    pub done_at: Option<Time>,
    /// Why the last attempt failed, or a note on a delivery (e.g. "no recipients").
    pub last_error: Option<String>,
}

impl Notification {
    /// The same for every attempt and every broker: receivers deduplicate on it.
    pub fn idempotency_key(&self) -> String {
        format!("{}.{}.{}", self.request_id, self.topic.as_str(), self.seq)
    }
}

/// How a delivery attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settle {
    Sent { at: Time, note: Option<String> },
    Retry { at: Time, error: String },
    Failed { at: Time, error: String },
}

pub(super) const MIGRATION: &str = r#"
CREATE TABLE IF NOT EXISTS notify_sinks (name TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS notifications (
    id INTEGER PRIMARY KEY,
    seq INTEGER NOT NULL,
    request_id TEXT NOT NULL,
    topic TEXT NOT NULL,
    sink TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    created_ms INTEGER NOT NULL,
    next_ms INTEGER NOT NULL,
    done_ms INTEGER,
    last_error TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS notifications_once ON notifications(request_id, topic, seq, sink);
CREATE INDEX IF NOT EXISTS notifications_due ON notifications(next_ms) WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS notifications_state ON notifications(state, id);
"#;

/// Events that owe notifications not yet spread over the sinks.
pub(super) const OWED_MIGRATION: &str = r#"
CREATE TABLE IF NOT EXISTS notify_owed (
    seq INTEGER PRIMARY KEY,
    request_id TEXT NOT NULL,
    topic TEXT NOT NULL,
    created_ms INTEGER NOT NULL
);
"#;

const COLUMNS: &str =
    "id, seq, request_id, topic, sink, state, attempts, created_ms, next_ms, done_ms, last_error";

/// Records, in the event's transaction, that `event` owes notifications (when
/// any sink is configured); `spread` turns that into one row per sink.
pub(super) fn queue_for_event(tx: &Transaction, event: &AuditEvent) -> rusqlite::Result<()> {
    let (Some(topic), Some(request_id)) = (Topic::of(event), event.request_id) else {
        return Ok(());
    };
    tx.prepare_cached(
        "INSERT OR IGNORE INTO notify_owed (seq, request_id, topic, created_ms)
         SELECT ?1, ?2, ?3, ?4 WHERE EXISTS (SELECT 1 FROM notify_sinks)",
    )?
    .execute(params![
        event.seq as i64,
        request_id.to_string(),
        topic.as_str(),
        event.time.timestamp_millis(),
    ])?;
    Ok(())
}

/// Gives every owed event its row per sink (the sinks configured now, which are
/// those of the event's time: `set_sinks` spreads before it changes them).
pub(super) fn spread(tx: &Transaction) -> rusqlite::Result<usize> {
    let spread = tx
        .prepare_cached(
            "INSERT OR IGNORE INTO notifications (seq, request_id, topic, sink, created_ms, next_ms)
             SELECT o.seq, o.request_id, o.topic, s.name, o.created_ms, o.created_ms
               FROM notify_owed o CROSS JOIN notify_sinks s ORDER BY o.seq, s.name",
        )?
        .execute([])?;
    tx.prepare_cached("DELETE FROM notify_owed")?.execute([])?;
    Ok(spread)
}

pub(super) fn set_sinks(tx: &Transaction, names: &[String]) -> Result<(), StoreError> {
    spread(tx)?;
    tx.execute("DELETE FROM notify_sinks", [])?;
    let mut insert = tx.prepare_cached("INSERT OR IGNORE INTO notify_sinks (name) VALUES (?1)")?;
    for name in names {
        insert.execute([name])?;
    }
    Ok(())
}

pub(super) fn claim(
    tx: &Transaction,
    now: Time,
    lease: std::time::Duration,
    limit: usize,
) -> Result<Vec<Notification>, StoreError> {
    spread(tx)?;
    let now_ms = now.timestamp_millis();
    let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX);
    let mut stmt = tx.prepare_cached(&format!(
        "UPDATE notifications SET attempts = attempts + 1, next_ms = ?1 + ?2
         WHERE id IN (SELECT id FROM notifications
                      WHERE state = 'pending' AND next_ms <= ?1
                      ORDER BY next_ms, id LIMIT ?3)
         RETURNING {COLUMNS}"
    ))?;
    let rows = stmt.query_map(params![now_ms, lease_ms, limit.max(1) as i64], read_row)?;
    let mut out = Vec::new();
    for row in rows {
        out.push(decode(row?)?);
    }
    out.sort_by_key(|n| n.id);
    Ok(out)
}

pub(super) fn settle(tx: &Transaction, id: u64, settle: Settle) -> Result<(), StoreError> {
    let (state, next_ms, done_ms, error) = match settle {
        Settle::Sent { at, note } => ("sent", None, Some(at.timestamp_millis()), note),
        Settle::Retry { at, error } => ("pending", Some(at.timestamp_millis()), None, Some(error)),
        Settle::Failed { at, error } => ("failed", None, Some(at.timestamp_millis()), Some(error)),
    };
    tx.prepare_cached(
        "UPDATE notifications
            SET state = ?2, next_ms = COALESCE(?3, next_ms), done_ms = ?4, last_error = ?5
          WHERE id = ?1 AND state = 'pending'",
    )?
    .execute(params![id as i64, state, next_ms, done_ms, error])?;
    Ok(())
}

/// The newest notifications (spreading what is owed first, so none is missing).
pub(super) fn list(
    tx: &Transaction,
    state: Option<NotificationState>,
    limit: usize,
) -> Result<Vec<Notification>, StoreError> {
    spread(tx)?;
    let mut stmt = tx.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM notifications
          WHERE ?1 IS NULL OR state = ?1 ORDER BY id DESC LIMIT ?2"
    ))?;
    let rows = stmt.query_map(
        params![state.map(NotificationState::as_str), limit.max(1) as i64],
        read_row,
    )?;
    let mut out = Vec::new();
    for row in rows {
        out.push(decode(row?)?);
    }
    Ok(out)
}

/// How many notifications are in each state; those owed but not yet spread
/// count as pending, one per sink.
pub(super) fn counts(conn: &Connection) -> Result<Vec<(NotificationState, u64)>, StoreError> {
    let mut out = Vec::new();
    let mut stmt = conn.prepare_cached("SELECT COUNT(*) FROM notifications WHERE state = ?1")?;
    for state in NotificationState::ALL {
        let n: i64 = stmt.query_row([state.as_str()], |row| row.get(0))?;
        out.push((state, n as u64));
    }
    let owed: i64 = conn
        .prepare_cached(
            "SELECT (SELECT COUNT(*) FROM notify_owed) * (SELECT COUNT(*) FROM notify_sinks)",
        )?
        .query_row([], |row| row.get(0))?;
    if let Some(pending) = out
        .iter_mut()
        .find(|(s, _)| *s == NotificationState::Pending)
    {
        pending.1 += owed as u64;
    }
    Ok(out)
}

pub(super) fn retry(tx: &Transaction, id: u64, now: Time) -> Result<bool, StoreError> {
    let state: Option<String> = tx
        .query_row(
            "SELECT state FROM notifications WHERE id = ?1",
            [id as i64],
            |row| row.get(0),
        )
        .optional()?;
    if state.as_deref() != Some("failed") && state.as_deref() != Some("pending") {
        return Ok(false);
    }
    tx.execute(
        "UPDATE notifications SET state = 'pending', next_ms = ?2, done_ms = NULL WHERE id = ?1",
        params![id as i64, now.timestamp_millis()],
    )?;
    Ok(true)
}

pub(super) fn queue_reminders(
    tx: &Transaction,
    request_ids: &[Uuid],
    now: Time,
) -> Result<usize, StoreError> {
    let mut insert = tx.prepare_cached(
        "INSERT OR IGNORE INTO notifications (seq, request_id, topic, sink, created_ms, next_ms)
         SELECT 0, ?1, 'review_due', name, ?2, ?2 FROM notify_sinks",
    )?;
    let mut queued = 0;
    for id in request_ids {
        queued += insert.execute(params![id.to_string(), now.timestamp_millis()])?;
    }
    Ok(queued)
}

type Row = (
    i64,
    i64,
    String,
    String,
    String,
    String,
    i64,
    i64,
    i64,
    Option<i64>,
    Option<String>,
);

fn read_row(row: &rusqlite::Row) -> rusqlite::Result<Row> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
        row.get(6)?,
        row.get(7)?,
        row.get(8)?,
        row.get(9)?,
        row.get(10)?,
    ))
}

fn decode(row: Row) -> Result<Notification, StoreError> {
    let (id, seq, request_id, topic, sink, state, attempts, created, next, done, last_error) = row;
    let corrupt = |what: &str| StoreError::Corrupt(format!("notification {id}: {what}"));
    let time = |ms: i64| {
        chrono::DateTime::from_timestamp_millis(ms).ok_or_else(|| corrupt("time out of range"))
    };
    Ok(Notification {
        id: id as u64,
        seq: seq as u64,
        request_id: Uuid::parse_str(&request_id).map_err(|_| corrupt("request id"))?,
        topic: Topic::parse(&topic).ok_or_else(|| corrupt("topic"))?,
        sink,
        state: NotificationState::parse(&state).ok_or_else(|| corrupt("state"))?,
        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        created_at: time(created)?,
        next_at: time(next)?,
        done_at: done.map(time).transpose()?,
        last_error,
    })
}
