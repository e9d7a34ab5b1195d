//! `GET /v1/events`: Server-Sent Events fed from the audit log. A subscriber gets
//! the backlog after its last id from the store, then live events from the bus, each
//! exactly once and in order, and only those about requests it may see.
//!
//! Bounds (DESIGN §12): a few streams per user; a subscriber has at most a budget of
//! bytes queued for it, and one that falls further behind is disconnected (it
//! resumes with `Last-Event-ID`); the backlog is read through the indexes for what
//! the caller might see, so replaying a big log costs little to one who sees little.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::{Stream, StreamExt};
use tokio::sync::{broadcast, mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;

use super::error::ApiError;
use super::gate::StreamSlot;
use super::lifecycle;
use super::routes::{Caller, Params};
use super::server::Broker;
use super::store::{EventQuery, Published, Visibility};
use crate::model::User;
use crate::model::api::{ErrorCode, StreamMessage};
use crate::policy::{Resource, RoleSet, Verb};

const BACKLOG_PAGE: usize = 500;

#[derive(Debug, serde::Deserialize)]
pub struct StreamQuery {
    after: Option<u64>,
}

pub async fn events(
    State(broker): State<Arc<Broker>>,
    caller: Caller,
    headers: HeaderMap,
    Params(query): Params<StreamQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let from_header = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let max = broker.config.limits.streams_per_user;
    let slot = broker.streams.take(&caller.user.name, max).ok_or_else(|| {
        ApiError::new(
            ErrorCode::TooManyStreams,
            format!("you already have {max} event streams open; close one first"),
        )
    })?;
    // Subscribe before reading the head so nothing falls between the two.
    let live = broker.bus.subscribe();
    let head = broker.blocking(|b| Ok(b.store.head_seq()?)).await?;
    // An id beyond the head (a restored or different log) resumes from the head
    // rather than silently skipping everything up to it.
    let after = from_header.or(query.after).unwrap_or(head).min(head);
    let token_hash = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(|t| super::tokens::hash(t.trim()))
        .unwrap_or_default();
    let open = broker.metrics.stream_opened();
    let (tx, rx) = mpsc::channel(256);
    let budget = Arc::new(Budget {
        queued: AtomicUsize::new(0),
        limit: broker.config.limits.stream_buffer_bytes.max(1),
    });
    let sink = Sink {
        tx,
        budget: budget.clone(),
    };
    tokio::spawn(feed(
        broker.clone(),
        caller.user,
        token_hash,
        after,
        live,
        sink,
        (slot, open),
    ));
    // What hyper takes off the queue no longer counts against the budget.
    let events = ReceiverStream::new(rx).map(move |(event, bytes)| {
        budget.queued.fetch_sub(bytes, Ordering::Relaxed);
        Ok::<_, Infallible>(event)
    });
    let keep_alive = KeepAlive::new()
        .interval(
            broker
                .config
                .keep_alive
                .to_chrono()
                .to_std()
                .unwrap_or_default()
                .max(std::time::Duration::from_millis(100)),
        )
        .text("keep-alive");
    Ok(Sse::new(events).keep_alive(keep_alive))
}

/// Bytes queued for one subscriber and not yet taken by the connection.
struct Budget {
    queued: AtomicUsize,
    limit: usize,
}

/// Where a subscriber's events go.
struct Sink {
    tx: mpsc::Sender<(Event, usize)>,
    budget: Arc<Budget>,
}

/// Why a stream stops being fed.
#[derive(Debug)]
enum Stop {
    /// The subscriber went away, fell behind its budget, or its access changed.
    Gone,
}

/// An event on its way to subscribers, serialised once however many receive it.
pub struct Outgoing {
    published: Published,
    data: OnceLock<Option<String>>,
}

impl Outgoing {
    pub fn new(published: Published) -> Self {
        Outgoing {
            published,
            data: OnceLock::new(),
        }
    }

    /// The audit event being sent.
    pub fn event(&self) -> &crate::model::AuditEvent {
        &self.published.event
    }

    fn data(&self) -> Option<&str> {
        self.data
            .get_or_init(|| {
                let message = StreamMessage {
                    event: self.published.event.clone(),
                    request: self.published.request.clone(),
                };
                serde_json::to_string(&message).ok()
            })
            .as_deref()
    }
}

async fn feed(
    broker: Arc<Broker>,
    user: User,
    token_hash: String,
    last: u64,
    live: broadcast::Receiver<Arc<Outgoing>>,
    sink: Sink,
    // Held for as long as the stream is fed: its per-user slot and the gauge.
    _held: (StreamSlot, super::metrics::OpenStream),
) {
    // Everything, backlog and sends included, gives way to shutdown.
    let stop = super::server::stopped(broker.shutdown.clone());
    let authority = broker.authority.clone();
    tokio::select! {
        _ = stop => {}
        _ = deliver(&broker, &user, &token_hash, last, live, authority, &sink) => {}
    }
}

async fn still_valid(broker: &Arc<Broker>, user: &User, token_hash: &str) -> bool {
    let hash = token_hash.to_string();
    let current = broker
        .blocking(move |b| Ok(b.store.user_by_token_hash(&hash)?))
        .await;
    matches!(current, Ok(Some(now)) if now == *user)
}

async fn deliver(
    broker: &Arc<Broker>,
    user: &User,
    token_hash: &str,
    mut last: u64,
    mut live: broadcast::Receiver<Arc<Outgoing>>,
    mut authority: watch::Receiver<u64>,
    tx: &Sink,
) {
    authority.mark_unchanged();
    if catch_up(broker, user, &mut last, None, tx).await.is_err() {
        return;
    }
    // A change made while the backlog was read is checked before anything live.
    if authority.has_changed().unwrap_or(true) && !still_valid(broker, user, token_hash).await {
        return;
    }
    loop {
        tokio::select! {
            // Users, tokens or roles changed: a revoked token or changed roles end
            // the stream at once (the subscriber reconnects under the new rules).
            changed = authority.changed() => {
                if changed.is_err() || !still_valid(broker, user, token_hash).await {
                    return;
                }
            }
            _ = tx.tx.closed() => return,
            received = live.recv() => match received {
                Ok(outgoing) => {
                    let seq = outgoing.published.event.seq;
                    if seq <= last {
                        continue;
                    }
                    if seq > last + 1 && catch_up(broker, user, &mut last, Some(seq - 1), tx).await.is_err() {
                        return;
                    }
                    if send(broker, user, &outgoing, tx).await.is_err() {
                        return;
                    }
                    last = seq;
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    if catch_up(broker, user, &mut last, None, tx).await.is_err() {
                        return;
                    }
                }
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    }
}

/// What of the log a caller might see, as a filter the store applies through its
/// indexes; `None` when they may see everything. A superset of what `send` lets
/// through, so the policy still has the last word.
fn visibility(roles: &RoleSet, user: &User) -> Option<Visibility> {
    let sees_all = [Verb::List, Verb::Read, Verb::Update]
        .into_iter()
        .any(|verb| roles.allows(user, Resource::AccessRequest, verb));
    if sees_all {
        return None;
    }
    Some(Visibility {
        user: user.name.clone(),
        reviewable_roles: roles.reviewable_roles(user),
        unattached: roles.allows(user, Resource::Event, Verb::List),
    })
}

/// Sends stored events after `last` (up to `until`, or the head) and advances `last`.
async fn catch_up(
    broker: &Arc<Broker>,
    user: &User,
    last: &mut u64,
    until: Option<u64>,
    tx: &Sink,
) -> Result<(), Stop> {
    loop {
        let after = *last;
        let visible_to = visibility(&broker.roles.cached(), user);
        // Where the page stops in the log, seen or not: the next page starts there.
        let head = broker
            .blocking(|b| Ok(b.store.head_seq()?))
            .await
            .map_err(|_| Stop::Gone)?;
        let page = broker
            .blocking(move |b| {
                let events = b.store.events(&EventQuery {
                    after_seq: Some(after),
                    limit: BACKLOG_PAGE,
                    visible_to,
                    ..EventQuery::default()
                })?;
                let ids: Vec<_> = events.iter().filter_map(|e| e.request_id).collect();
                let requests = b.store.get_requests(&ids)?;
                Ok((events, requests))
            })
            .await
            .map_err(|_| Stop::Gone)?;
        let (events, requests) = page;
        let full = events.len() == BACKLOG_PAGE;
        for event in events {
            if until.is_some_and(|u| event.seq > u) {
                return Ok(());
            }
            let request = event
                .request_id
                .and_then(|id| requests.iter().find(|r| r.id == id).cloned());
            let seq = event.seq;
            send(
                broker,
                user,
                &Outgoing::new(Published { event, request }),
                tx,
            )
            .await?;
            *last = seq;
        }
        if !full {
            // Nothing more that this caller might see, up to the head read
            // before the page: everything unseen up to there is behind them.
            let end = until.map_or(head, |u| u.min(head));
            *last = (*last).max(end);
            return Ok(());
        }
    }
}

async fn send(broker: &Broker, user: &User, outgoing: &Outgoing, tx: &Sink) -> Result<(), Stop> {
    let roles = broker.roles.cached();
    let event = &outgoing.published.event;
    let visible = match &outgoing.published.request {
        Some(request) => lifecycle::can_see(&roles, user, request),
        None => roles.allows(user, Resource::Event, Verb::List),
    };
    if !visible {
        return Ok(());
    }
    let data = outgoing.data().ok_or(Stop::Gone)?;
    let bytes = data.len() + 64;
    // A subscriber this far behind is let go rather than buffered for: it comes
    // back with its last id and reads the rest from the store.
    let queued = tx.budget.queued.fetch_add(bytes, Ordering::Relaxed);
    if queued > 0 && queued + bytes > tx.budget.limit {
        tx.budget.queued.fetch_sub(bytes, Ordering::Relaxed);
        tracing::debug!(
            "a subscriber of {} fell behind; disconnecting it",
            user.name
        );
        return Err(Stop::Gone);
    }
    let sse = Event::default()
        .id(event.seq.to_string())
        .event(event.kind.as_str())
        .data(data);
    tx.tx.send((sse, bytes)).await.map_err(|_| Stop::Gone)
}
