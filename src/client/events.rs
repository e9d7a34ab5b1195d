//! The live event stream (`GET /v1/events`): a background task that stays connected,
//! reconnects with backoff, resumes from the last seen `seq`, and never hands the
//! same event over twice.

use std::time::Duration;

use futures_util::StreamExt;
use rand::Rng;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::model::api::StreamMessage;

use super::error::ClientError;
use super::http::Client;
use super::sse::{SseMessage, SseParser};

/// With no byte at all (not even a keep-alive) for this long, the connection is dead.
pub const SILENCE_LIMIT: Duration = Duration::from_secs(45);
const BACKOFF_FIRST: Duration = Duration::from_millis(250);
const BACKOFF_CAP: Duration = Duration::from_secs(10);
const CHANNEL_SIZE: usize = 256;

#[derive(Debug, Clone, PartialEq)]
pub enum SubscriptionEvent {
    /// The stream is open; events after `after` will follow. With `after: None` they
    /// start from now: whatever happened before must be listed to be caught up.
    Connected { after: Option<u64> },
    /// One audit event with the request it concerns.
    Message(Box<StreamMessage>),
    /// The stream broke; the subscriber tries again after `retry_in`.
    Disconnected { error: String, retry_in: Duration },
    /// The broker has no event stream (404/405/501): poll instead. The subscriber
    /// stops after sending this.
    StreamUnavailable { error: String },
}

/// Timing of reconnects; tests shorten it.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub backoff_first: Duration,
    pub backoff_cap: Duration,
    pub silence_limit: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            backoff_first: BACKOFF_FIRST,
            backoff_cap: BACKOFF_CAP,
            silence_limit: SILENCE_LIMIT,
        }
    }
}

/// A running subscription. Dropping it stops the background task.
#[derive(Debug)]
pub struct Subscriber {
    events: mpsc::Receiver<SubscriptionEvent>,
    task: JoinHandle<()>,
}

impl Subscriber {
    /// Subscribes to events after `after` (the last seq the caller has seen), or to
    /// new events only when `None`.
    pub fn spawn(client: Client, after: Option<u64>) -> Subscriber {
        Subscriber::spawn_with(client, after, Timing::default())
    }

    pub fn spawn_with(client: Client, after: Option<u64>, timing: Timing) -> Subscriber {
        let (sender, events) = mpsc::channel(CHANNEL_SIZE);
        let task = tokio::spawn(run(client, after, timing, sender));
        Subscriber { events, task }
    }

    /// The next event; `None` once the subscription has ended (stream unavailable).
    pub async fn next(&mut self) -> Option<SubscriptionEvent> {
        self.events.recv().await
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Why one connection ended.
enum End {
    /// Try again after a backoff.
    Retry(String),
    /// Never try again.
    Unavailable(String),
    /// Nobody is listening any more.
    Closed,
}

async fn run(
    client: Client,
    mut last_seq: Option<u64>,
    timing: Timing,
    sender: mpsc::Sender<SubscriptionEvent>,
) {
    let mut backoff = Backoff::new(timing.backoff_first, timing.backoff_cap);
    loop {
        let mut server_retry = None;
        let end = connect_once(
            &client,
            &mut last_seq,
            &timing,
            &sender,
            &mut backoff,
            &mut server_retry,
        )
        .await;
        let error = match end {
            End::Closed => return,
            End::Unavailable(error) => {
                let _ = sender
                    .send(SubscriptionEvent::StreamUnavailable { error })
                    .await;
                return;
            }
            End::Retry(error) => error,
        };
        let retry_in = backoff.next_delay().max(server_retry.unwrap_or_default());
        let retry_in = retry_in.min(timing.backoff_cap.max(timing.backoff_first));
        if sender
            .send(SubscriptionEvent::Disconnected { error, retry_in })
            .await
            .is_err()
        {
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(retry_in) => {}
            _ = sender.closed() => return,
        }
    }
}

async fn connect_once(
    client: &Client,
    last_seq: &mut Option<u64>,
    timing: &Timing,
    sender: &mpsc::Sender<SubscriptionEvent>,
    backoff: &mut Backoff,
    server_retry: &mut Option<Duration>,
) -> End {
    let opened = tokio::select! {
        opened = client.open_event_stream(*last_seq, timing.silence_limit) => opened,
        _ = sender.closed() => return End::Closed,
    };
    let response = match opened {
        Ok(response) => response,
        Err(err @ ClientError::Api { status, .. })
        | Err(
            err @ ClientError::Protocol {
                status: Some(status),
                ..
            },
        ) if matches!(status, 404 | 405 | 501) => {
            return End::Unavailable(err.to_string());
        }
        Err(err) => return End::Retry(err.to_string()),
    };
    if sender
        .send(SubscriptionEvent::Connected { after: *last_seq })
        .await
        .is_err()
    {
        return End::Closed;
    }
    let mut parser = SseParser::new();
    let mut body = response.bytes_stream();
    loop {
        let chunk = tokio::select! {
            chunk = tokio::time::timeout(timing.silence_limit, body.next()) => chunk,
            _ = sender.closed() => return End::Closed,
        };
        let bytes = match chunk {
            Err(_) => {
                return End::Retry(format!(
                    "no data or keep-alive for {}s",
                    timing.silence_limit.as_secs()
                ));
            }
            Ok(None) => return End::Retry("the broker closed the stream".into()),
            Ok(Some(Err(err))) => return End::Retry(format!("the stream broke: {err}")),
            Ok(Some(Ok(bytes))) => bytes,
        };
        for message in parser.feed(&bytes) {
            match decode(&message, *last_seq) {
                Decoded::Fresh(seq, stream_message) => {
                    *last_seq = Some(seq);
                    // A message got through: the connection is healthy again.
                    backoff.reset();
                    if sender
                        .send(SubscriptionEvent::Message(stream_message))
                        .await
                        .is_err()
                    {
                        return End::Closed;
                    }
                }
                Decoded::Seen | Decoded::Ignored => {}
            }
        }
        *server_retry = parser.retry_ms().map(Duration::from_millis);
    }
}

#[derive(Debug, PartialEq)]
enum Decoded {
    Fresh(u64, Box<StreamMessage>),
    /// At or before the last seq: already delivered.
    Seen,
    /// Not an event this client understands.
    Ignored,
}

fn decode(message: &SseMessage, last_seq: Option<u64>) -> Decoded {
    let Ok(stream_message) = serde_json::from_str::<StreamMessage>(&message.data) else {
        return Decoded::Ignored;
    };
    let seq = stream_message.event.seq;
    if last_seq.is_some_and(|last| seq <= last) {
        return Decoded::Seen;
    }
    Decoded::Fresh(seq, Box::new(stream_message))
}

/// Exponential backoff with full jitter between half and all of the current step.
#[derive(Debug, Clone)]
struct Backoff {
    first: Duration,
    cap: Duration,
    step: Duration,
}

impl Backoff {
    fn new(first: Duration, cap: Duration) -> Backoff {
        Backoff {
            first,
            cap,
            step: first,
        }
    }

    fn reset(&mut self) {
        self.step = self.first;
    }

    fn next_delay(&mut self) -> Duration {
        let step = self.step.min(self.cap);
        self.step = (self.step * 2).min(self.cap);
        let half = step / 2;
        let jitter_ms = half.as_millis() as u64;
        let extra = if jitter_ms == 0 {
            0
        } else {
            rand::rng().random_range(0..=jitter_ms)
        };
        half + Duration::from_millis(extra)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(seq: u64) -> SseMessage {
        let event = serde_json::json!({
            "seq": seq,
            "id": "00000000-0000-0000-0000-000000000000",
            "type": "access_request.create",
            "code": "T5000I",
            "time": "2026-11-21T12:00:00Z",
            "user": "alice",
            "request_id": null,
            "roles": ["dba"],
            "state": "pending",
            "reason": "ticket #1",
            "hash": "ab"
        });
        SseMessage {
            id: Some(seq.to_string()),
            event: "access_request.create".into(),
            data: serde_json::json!({"event": event, "request": null}).to_string(),
        }
    }

    #[test]
    fn decode_drops_seen_and_unreadable_messages() {
        assert!(matches!(decode(&message(5), None), Decoded::Fresh(5, _)));
        assert!(matches!(decode(&message(5), Some(4)), Decoded::Fresh(5, _)));
        assert_eq!(decode(&message(5), Some(5)), Decoded::Seen);
        assert_eq!(decode(&message(3), Some(5)), Decoded::Seen);
        let junk = SseMessage {
            id: None,
            event: "message".into(),
            data: "{not json".into(),
        };
        assert_eq!(decode(&junk, None), Decoded::Ignored);
    }

    #[test]
    fn backoff_grows_to_the_cap_with_jitter_and_resets() {
        let mut backoff = Backoff::new(Duration::from_millis(250), Duration::from_secs(10));
        let delays: Vec<Duration> = (0..10).map(|_| backoff.next_delay()).collect();
        assert!(delays[0] >= Duration::from_millis(125) && delays[0] <= Duration::from_millis(250));
        assert!(
            delays[3] >= Duration::from_millis(1000) && delays[3] <= Duration::from_millis(2000)
        );
        for delay in &delays[6..] {
            assert!(*delay >= Duration::from_secs(5) && *delay <= Duration::from_secs(10));
        }
        backoff.reset();
        assert!(backoff.next_delay() <= Duration::from_millis(250));
    }

    mod live {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        use tokio::net::{TcpListener, TcpStream};

        use super::super::*;
        use super::message;
        use crate::client::config::Connection;

        fn quick() -> Timing {
            Timing {
                backoff_first: Duration::from_millis(10),
                backoff_cap: Duration::from_millis(40),
                silence_limit: Duration::from_millis(300),
            }
        }

        async fn listen() -> (TcpListener, Client) {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let client = Client::new(&Connection {
                broker: format!("http://{addr}"),
                token: "t".into(),
                ca_pem: None,
            })
            .unwrap();
            (listener, client)
        }

        /// Accepts one connection and returns it with its request head.
        async fn accept(listener: &TcpListener) -> (TcpStream, String) {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                if socket.read(&mut byte).await.unwrap() == 0 {
                    break;
                }
                head.push(byte[0]);
            }
            (socket, String::from_utf8_lossy(&head).to_lowercase())
        }

        fn frame(seq: u64) -> String {
            let m = message(seq);
            format!("id: {seq}\nevent: {}\ndata: {}\n\n", m.event, m.data)
        }

        const OK_HEAD: &str =
            "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n";

        async fn next(sub: &mut Subscriber) -> SubscriptionEvent {
            tokio::time::timeout(Duration::from_secs(5), sub.next())
                .await
                .unwrap()
                .unwrap()
        }

        fn seq_of(event: &SubscriptionEvent) -> Option<u64> {
            match event {
                SubscriptionEvent::Message(m) => Some(m.event.seq),
                _ => None,
            }
        }

        #[tokio::test]
        async fn reconnects_resumes_and_never_doubles() {
            let (listener, client) = listen().await;
            let mut sub = Subscriber::spawn_with(client, None, quick());
            let (mut socket, head) = accept(&listener).await;
            assert!(!head.contains("last-event-id"), "{head}");
            assert!(head.contains("authorization: bearer t"), "{head}");
            let body = format!(": hi\n\n{}{}", frame(1), frame(2));
            socket.write_all(OK_HEAD.as_bytes()).await.unwrap();
            // Cut the second frame mid-way to exercise chunk boundaries.
            let (a, b) = body.split_at(body.len() - 7);
            socket.write_all(a.as_bytes()).await.unwrap();
            socket.flush().await.unwrap();
            tokio::time::sleep(Duration::from_millis(20)).await;
            socket.write_all(b.as_bytes()).await.unwrap();
            drop(socket);

            assert_eq!(
                next(&mut sub).await,
                SubscriptionEvent::Connected { after: None }
            );
            assert_eq!(seq_of(&next(&mut sub).await), Some(1));
            assert_eq!(seq_of(&next(&mut sub).await), Some(2));
            assert!(matches!(
                next(&mut sub).await,
                SubscriptionEvent::Disconnected { .. }
            ));

            let (mut socket, head) = accept(&listener).await;
            assert!(head.contains("last-event-id: 2"), "{head}");
            assert!(head.contains("after=2"), "{head}");
            let body = format!("{}{}{}", frame(1), frame(2), frame(3));
            socket.write_all(OK_HEAD.as_bytes()).await.unwrap();
            socket.write_all(body.as_bytes()).await.unwrap();
            drop(socket);
            assert_eq!(
                next(&mut sub).await,
                SubscriptionEvent::Connected { after: Some(2) }
            );
            assert_eq!(seq_of(&next(&mut sub).await), Some(3));
            assert!(matches!(
                next(&mut sub).await,
                SubscriptionEvent::Disconnected { .. }
            ));
        }

        #[tokio::test]
        async fn silence_counts_as_a_dead_connection() {
            let (listener, client) = listen().await;
            let mut sub = Subscriber::spawn_with(client, Some(7), quick());
            let (mut socket, head) = accept(&listener).await;
            assert!(head.contains("last-event-id: 7"), "{head}");
            socket.write_all(OK_HEAD.as_bytes()).await.unwrap();
            assert!(matches!(
                next(&mut sub).await,
                SubscriptionEvent::Connected { .. }
            ));
            match next(&mut sub).await {
                SubscriptionEvent::Disconnected { error, .. } => {
                    assert!(error.contains("keep-alive"), "{error}")
                }
                other => panic!("expected a disconnect, got {other:?}"),
            }
            drop(socket);
        }

        #[tokio::test]
        async fn missing_endpoint_means_stream_unavailable() {
            let (listener, client) = listen().await;
            let mut sub = Subscriber::spawn_with(client, None, quick());
            let (mut socket, _) = accept(&listener).await;
            let body = r#"{"error":{"code":"not_found","message":"no such route"}}"#;
            let reply = format!(
                "HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            socket.write_all(reply.as_bytes()).await.unwrap();
            assert!(matches!(
                next(&mut sub).await,
                SubscriptionEvent::StreamUnavailable { .. }
            ));
            assert!(sub.next().await.is_none());
        }

        #[tokio::test]
        async fn a_broker_that_never_answers_is_passed_over() {
            // The first accepts connections and says nothing; the second answers.
            let hung = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let (listener, _) = listen().await;
            let client = Client::new(&Connection {
                broker: format!(
                    "http://{},http://{}",
                    hung.local_addr().unwrap(),
                    listener.local_addr().unwrap()
                ),
                token: "t".into(),
                ca_pem: None,
            })
            .unwrap();
            let mut sub = Subscriber::spawn_with(client.clone(), Some(4), quick());
            let (held, _) = hung.accept().await.unwrap();
            let (mut socket, head) = accept(&listener).await;
            assert!(head.contains("last-event-id: 4"), "{head}");
            socket.write_all(OK_HEAD.as_bytes()).await.unwrap();
            socket.write_all(frame(5).as_bytes()).await.unwrap();
            assert_eq!(
                next(&mut sub).await,
                SubscriptionEvent::Connected { after: Some(4) }
            );
            assert_eq!(seq_of(&next(&mut sub).await), Some(5));
            assert_eq!(
                client.broker(),
                format!("http://{}", listener.local_addr().unwrap())
            );
            drop(held);
        }

        #[tokio::test]
        async fn unreachable_broker_is_retried() {
            let (listener, client) = listen().await;
            drop(listener);
            let mut sub = Subscriber::spawn_with(client, None, quick());
            for _ in 0..2 {
                match next(&mut sub).await {
                    SubscriptionEvent::Disconnected { error, retry_in } => {
                        assert!(error.contains("cannot reach"), "{error}");
                        assert!(retry_in <= Duration::from_millis(40));
                    }
                    other => panic!("expected a disconnect, got {other:?}"),
                }
            }
        }
    }
}
