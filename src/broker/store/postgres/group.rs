//! Group commit: one writer task per broker takes every create queued while the
//! previous batch was committing (or another broker held the chain's head) and
//! commits them together, in one transaction under one hold of the head lock, so
//! one WAL flush covers them all.
//! Each caller is answered only after the commit that holds its request.
//!
//! A batch the database refuses is rerun one create at a time on the single
//! path, so a create that fails alone fails alone. A batch is pipelined: two
//! round trips, the second (and the commit's flush) under the head lock, and the
//! batch is taken once the lock is held, so creates that arrive while another
//! broker commits join it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures_util::TryFutureExt;
use futures_util::future::{Either, Ready, poll_immediate, ready, try_join, try_join3};
use tokio::sync::{mpsc, oneshot};
use tokio_postgres::Statement;

use super::super::{EventDraft, Published, StoreError};
use super::Shared;
use super::writes;
use crate::model::{AuditEvent, Request};

/// Creates committed together at most.
const MAX_BATCH: usize = 256;

type Answer = oneshot::Sender<Result<AuditEvent, StoreError>>;

/// A create waiting for the writer.
pub(super) struct Create {
    request: Request,
    draft: EventDraft,
    answer: Answer,
}

/// The writer's queue, as the store's callers see it.
#[derive(Clone)]
pub(super) struct Queue {
    sender: mpsc::UnboundedSender<Create>,
    /// Creates sent and not yet taken into a batch.
    waiting: Arc<AtomicUsize>,
}

impl Queue {
    /// A queue and the receiving end for [`write_loop`].
    pub fn new() -> (Queue, Receiver) {
        let (sender, receiver) = mpsc::unbounded_channel();
        let waiting = Arc::new(AtomicUsize::new(0));
        (
            Queue {
                sender,
                waiting: waiting.clone(),
            },
            Receiver { receiver, waiting },
        )
    }

    /// Queues a create and waits until it is committed (or refused).
    pub async fn create(
        &self,
        request: Request,
        draft: EventDraft,
    ) -> Result<AuditEvent, StoreError> {
        let (answer, answered) = oneshot::channel();
        self.waiting.fetch_add(1, Ordering::Relaxed);
        if self
            .sender
            .send(Create {
                request,
                draft,
                answer,
            })
            .is_err()
        {
            self.waiting.fetch_sub(1, Ordering::Relaxed);
            return Err(StoreError::Closed);
        }
        answered.await.map_err(|_| StoreError::Closed)?
    }

    /// Creates waiting for the writer.
    pub fn depth(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }
}

pub(super) struct Receiver {
    receiver: mpsc::UnboundedReceiver<Create>,
    waiting: Arc<AtomicUsize>,
}

impl Receiver {
    /// Adds the creates queued meanwhile to `batch`, up to [`MAX_BATCH`].
    fn drain_into(&mut self, batch: &mut Vec<Create>) {
        let before = batch.len();
        while batch.len() < MAX_BATCH {
            match self.receiver.try_recv() {
                Ok(create) => batch.push(create),
                Err(_) => break,
            }
        }
        self.waiting
            .fetch_sub(batch.len() - before, Ordering::Relaxed);
    }
}

/// Commits what has queued, batch after batch, until the store closes.
pub(super) async fn write_loop(shared: Shared, mut queue: Receiver) {
    while let Some(first) = queue.receiver.recv().await {
        queue.waiting.fetch_sub(1, Ordering::Relaxed);
        let mut batch = vec![first];
        let done = commit_together(&shared, &mut batch, &mut queue).await;
        answer(&shared, batch, done).await;
    }
}

async fn answer(shared: &Shared, batch: Vec<Create>, done: Result<Vec<AuditEvent>, StoreError>) {
    match done {
        Ok(events) => {
            let published = batch
                .iter()
                .zip(&events)
                .map(|(create, event)| Published {
                    event: event.clone(),
                    request: Some(create.request.clone()),
                })
                .collect();
            shared.committed(published);
            for (create, event) in batch.into_iter().zip(events) {
                let _ = create.answer.send(Ok(event));
            }
        }
        // Alone, a create's error is its own.
        Err(err) if batch.len() == 1 => {
            if let Some(create) = batch.into_iter().next() {
                let _ = create.answer.send(Err(err));
            }
        }
        // The server is out of reach: whether the commit landed is unknown, so
        // nothing is retried (a retry could store a request twice); each caller
        // hears it, as on the single path.
        Err(StoreError::Unavailable(why)) => {
            for create in batch {
                let _ = create
                    .answer
                    .send(Err(StoreError::Unavailable(why.clone())));
            }
        }
        Err(err) => {
            tracing::debug!(
                creates = batch.len(),
                "a batch was refused ({err}); one at a time"
            );
            for create in batch {
                let done = writes::create_request(shared, create.request, create.draft).await;
                let _ = create.answer.send(done);
            }
        }
    }
}

/// One transaction in two round trips: BEGIN and the head lock with the head
/// read; then, with every create queued while the lock was awaited, the
/// requests, the events with their notifications, and COMMIT. The head lock is
/// held for the second round trip and the commit's flush only.
async fn commit_together(
    shared: &Shared,
    batch: &mut Vec<Create>,
    queue: &mut Receiver,
) -> Result<Vec<AuditEvent>, StoreError> {
    let client = shared.client().await?;
    // Prepared (once per connection) before anything is pipelined behind them.
    let inserting = client.prepare_cached(writes::INSERT_REQUESTS).await?;
    let appending = client.prepare_cached(&writes::append_sql()).await?;
    let done = pipelined(&client, &inserting, &appending, batch, queue).await;
    if done.is_err() {
        // Never hand back a connection inside a transaction: roll back, or
        // drop the connection (the server then aborts the transaction).
        if client.batch_execute("ROLLBACK").await.is_err() {
            drop(deadpool_postgres::Object::take(client));
        }
    }
    done
}

async fn pipelined(
    client: &tokio_postgres::Client,
    inserting: &Statement,
    appending: &Statement,
    batch: &mut Vec<Create>,
    queue: &mut Receiver,
) -> Result<Vec<AuditEvent>, StoreError> {
    let begin = on_the_wire(client.batch_execute("BEGIN").err_into::<StoreError>()).await;
    let head = on_the_wire(writes::lock_head(client)).await;
    let (_, mut head) = try_join(begin, head).await?;
    // Whatever queued while the lock was awaited (another broker's commit) joins.
    queue.drain_into(batch);

    let requests = writes::RequestColumns::of(batch.iter().map(|c| &c.request))?;
    let drafts = batch.iter().map(|c| c.draft.clone().about(&c.request));
    let events: Vec<AuditEvent> = drafts.map(|d| head.link(d)).collect();
    let columns = writes::EventColumns::of(&events)?;
    let (request_params, event_params) = (requests.params(), columns.params());
    let insert = on_the_wire(
        client
            .execute(inserting, &request_params)
            .err_into::<StoreError>(),
    )
    .await;
    let append = on_the_wire(
        client
            .execute(appending, &event_params)
            .err_into::<StoreError>(),
    )
    .await;
    // After a failed statement the server answers COMMIT by rolling back.
    let commit = on_the_wire(client.batch_execute("COMMIT").err_into::<StoreError>()).await;
    try_join3(insert, append, commit).await?;
    Ok(events)
}

/// Polls `request` once and hands it back to be awaited later. tokio-postgres
/// sends a request when its future is first polled, and the server runs requests
/// in that order: this is what orders a pipeline, whatever later awaits it.
async fn on_the_wire<F: Future>(request: F) -> Either<Ready<F::Output>, Pin<Box<F>>> {
    let mut request = Box::pin(request);
    match poll_immediate(request.as_mut()).await {
        Some(done) => Either::Left(ready(done)),
        None => Either::Right(request),
    }
}
