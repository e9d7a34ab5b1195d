//! Group commit: one writer task per broker takes every create queued while the
//! previous batch was committing and commits them together, in one transaction
//! under one hold of the chain's head lock, so one WAL flush covers them all.
//! Each caller is answered only after the commit that holds its request.
//!
//! A batch the database refuses is rerun one create at a time on the single
//! path, so a create that fails alone fails alone.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::{mpsc, oneshot};

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

/// Commits what has queued, batch after batch, until the store closes.
pub(super) async fn write_loop(shared: Shared, mut queue: Receiver) {
    while let Some(first) = queue.receiver.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.receiver.try_recv() {
                Ok(create) => batch.push(create),
                Err(_) => break,
            }
        }
        queue.waiting.fetch_sub(batch.len(), Ordering::Relaxed);
        commit(&shared, batch).await;
    }
}

async fn commit(shared: &Shared, batch: Vec<Create>) {
    if batch.len() == 1 {
        for create in batch {
            let done = writes::create_request(shared, create.request, create.draft).await;
            let _ = create.answer.send(done);
        }
        return;
    }
    match commit_together(shared, &batch).await {
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

/// One transaction: the requests and the head lock in one round trip, the
/// events in one statement, one commit.
async fn commit_together(shared: &Shared, batch: &[Create]) -> Result<Vec<AuditEvent>, StoreError> {
    let mut client = shared.client().await?;
    let tx = client.transaction().await?;
    let requests: Vec<&Request> = batch.iter().map(|c| &c.request).collect();
    let (_, mut head) = futures_util::future::try_join(
        writes::insert_requests(&tx, &requests),
        writes::lock_head(&tx),
    )
    .await?;
    let drafts = batch
        .iter()
        .map(|c| c.draft.clone().about(&c.request))
        .collect();
    let events = writes::append_all(&tx, &mut head, drafts).await?;
    tx.commit().await?;
    Ok(events)
}
