//! `GET /v1/events`: Server-Sent Events fed from the audit log. A subscriber gets
//! the backlog after its last id from the store, then live events from the bus, each
//! exactly once and in order, and only those about requests it may see.

use std::convert::Infallible;
use std::sync::{Arc, OnceLock};

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use tokio::sync::{broadcast, mpsc};
use tokio_stream::wrappers::ReceiverStream;

use super::error::ApiError;
use super::lifecycle;
use super::routes::{Caller, Params};
use super::server::Broker;
use super::store::{EventQuery, Published};
use crate::model::User;
use crate::model::api::StreamMessage;
use crate::policy::{Resource, Verb};

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
    let (tx, rx) = mpsc::channel(256);
    tokio::spawn(feed(
        broker.clone(),
        caller.user,
        token_hash,
        after,
        live,
        tx,
    ));
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
    Ok(Sse::new(ReceiverStream::new(rx)).keep_alive(keep_alive))
}

type Sink = mpsc::Sender<Result<Event, Infallible>>;

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

/// How often an open stream re-checks that its token still names the same user
/// with the same roles; a revoked token or changed roles end the stream.
const RECHECK: std::time::Duration = std::time::Duration::from_secs(5);

async fn feed(
    broker: Arc<Broker>,
    user: User,
    token_hash: String,
    last: u64,
    live: broadcast::Receiver<Arc<Outgoing>>,
    tx: Sink,
) {
    // Everything, backlog and sends included, gives way to shutdown.
    let stop = super::server::stopped(broker.shutdown.clone());
    tokio::select! {
        _ = stop => {}
        _ = deliver(&broker, &user, &token_hash, last, live, &tx) => {}
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
    tx: &Sink,
) {
    if catch_up(broker, user, &mut last, None, tx).await.is_err() {
        return;
    }
    let mut recheck = tokio::time::interval(RECHECK);
    recheck.tick().await;
    loop {
        tokio::select! {
            _ = recheck.tick() => {
                if !still_valid(broker, user, token_hash).await {
                    return;
                }
            }
            _ = tx.closed() => return,
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

/// Sends stored events after `last` (up to `until`, or the head) and advances `last`.
async fn catch_up(
    broker: &Arc<Broker>,
    user: &User,
    last: &mut u64,
    until: Option<u64>,
    tx: &Sink,
) -> Result<(), ()> {
    loop {
        let after = *last;
        let page = broker
            .blocking(move |b| {
                let events = b.store.events(&EventQuery {
                    after_seq: Some(after),
                    limit: BACKLOG_PAGE,
                    ..EventQuery::default()
                })?;
                let ids: Vec<_> = events.iter().filter_map(|e| e.request_id).collect();
                let requests = b.store.get_requests(&ids)?;
                Ok((events, requests))
            })
            .await
            .map_err(|_| ())?;
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
            return Ok(());
        }
    }
}

async fn send(broker: &Broker, user: &User, outgoing: &Outgoing, tx: &Sink) -> Result<(), ()> {
    let roles = broker.roles.cached();
    let event = &outgoing.published.event;
    let visible = match &outgoing.published.request {
        Some(request) => lifecycle::can_see(&roles, user, request),
        None => roles.allows(user, Resource::Event, Verb::List),
    };
    if !visible {
        return Ok(());
    }
    let data = outgoing.data().ok_or(())?;
    let sse = Event::default()
        .id(event.seq.to_string())
        .event(event.kind.as_str())
        .data(data);
    tx.send(Ok(sse)).await.map_err(|_| ())
}
