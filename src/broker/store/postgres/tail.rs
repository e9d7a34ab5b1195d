//! Events from every broker onto this one's bus. The events table, read by `seq`,
//! is the truth; a NOTIFY (or a local commit) only says "look now". A lost
//! notification, or a LISTEN connection that dropped, delays an event by at most
//! [`POLL`], never loses it.

use futures_util::StreamExt;
use tokio_postgres::{AsyncMessage, NoTls};

use super::super::rows::decode;
use super::super::{Published, StoreError};
use super::Shared;
use super::writes::CHANNEL;
use crate::model::{AuditEvent, Request};

/// How long the tail waits without a wake-up before it looks anyway.
const POLL: std::time::Duration = std::time::Duration::from_millis(500);
/// Events published per read.
const BATCH: i64 = 512;

/// Holds a LISTEN connection, reconnecting when it drops, and turns each
/// notification into a wake-up.
pub(super) async fn listen(shared: Shared) {
    loop {
        if let Err(err) = listen_once(&shared).await {
            tracing::warn!("PostgreSQL LISTEN connection: {err}; reconnecting");
        }
        // Whatever arrived while it was down is read now.
        shared.wake.notify_one();
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}

async fn listen_once(shared: &Shared) -> Result<(), StoreError> {
    let (client, mut connection) = shared.config.connect(NoTls).await?;
    let wake = shared.wake.clone();
    let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
    let forward = async move {
        while let Some(message) = messages.next().await {
            match message {
                Ok(AsyncMessage::Notification(_)) => wake.notify_one(),
                Ok(_) => {}
                Err(err) => return Err(StoreError::from(err)),
            }
        }
        Ok(())
    };
    let subscribe = async {
        client.batch_execute(&format!("LISTEN {CHANNEL}")).await?;
        // Everything committed before the LISTEN took effect is read now.
        shared.wake.notify_one();
        std::future::pending::<Result<(), StoreError>>().await
    };
    tokio::select! {
        ended = forward => ended,
        failed = subscribe => failed,
    }
}

/// Publishes every event after `from`, in `seq` order, as it is committed by
/// any broker.
pub(super) async fn follow(shared: Shared, mut from: u64) {
    loop {
        tokio::select! {
            _ = shared.wake.notified() => {}
            _ = tokio::time::sleep(POLL) => {}
        }
        loop {
            match read_after(&shared, from).await {
                Ok(batch) if batch.is_empty() => break,
                Ok(batch) => {
                    let full = batch.len() as i64 == BATCH;
                    if let Some(last) = batch.last() {
                        from = last.event.seq;
                    }
                    if let Some(publish) = shared.publisher.get() {
                        publish(&batch);
                    }
                    if !full {
                        break;
                    }
                }
                Err(err) => {
                    tracing::warn!("reading new events from PostgreSQL: {err}");
                    break;
                }
            }
        }
    }
}

async fn read_after(shared: &Shared, from: u64) -> Result<Vec<Published>, StoreError> {
    let client = shared.client().await?;
    let rows = client
        .query(
            "SELECT e.seq, e.body, r.body FROM events e
               LEFT JOIN requests r ON r.id = e.request_id
              WHERE e.seq > $1 ORDER BY e.seq LIMIT $2",
            &[&(from.min(i64::MAX as u64) as i64), &BATCH],
        )
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    let mut recent = shared
        .recent
        .lock()
        .map_err(|_| StoreError::Failed("the recent-commit table was poisoned".into()))?;
    for row in rows {
        let seq = row.try_get::<_, i64>(0)? as u64;
        let event: AuditEvent = decode(row.try_get(1)?)?;
        let request = match recent.remove(&seq) {
            Some(committed_here) => committed_here,
            None => match row.try_get::<_, Option<&str>>(2)? {
                Some(body) => Some(decode::<Request>(body)?),
                None => None,
            },
        };
        out.push(Published { event, request });
    }
    Ok(out)
}
