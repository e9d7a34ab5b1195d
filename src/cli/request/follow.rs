//! `request create` without `--nowait`: create, then follow the event stream and
//! print each review as it lands and finally the outcome.

use std::collections::BTreeSet;
use std::process::ExitCode;
use std::time::Duration as StdDuration;

use uuid::Uuid;

use super::{EXIT_INTERRUPTED, EXIT_NOT_APPROVED, Format, print_json, view};
use crate::client::{Client, Subscriber, SubscriptionEvent};
use crate::model::api::CreateRequest;
use crate::model::{Request, State};

/// How long to wait for the stream to open before creating anyway.
const STREAM_OPEN_WAIT: StdDuration = StdDuration::from_secs(3);
/// Without a stream, how often to look.
const POLL_EVERY: StdDuration = StdDuration::from_secs(2);
/// With a stream, a look now and then anyway, in case an event was lost.
const RECONCILE_EVERY: StdDuration = StdDuration::from_secs(30);

/// What has been told about one request so far; feeds on request snapshots in any
/// order and says only what is new.
#[derive(Debug)]
pub(super) struct Follower {
    id: Uuid,
    reviews_told: BTreeSet<(String, String)>,
    finished: Option<State>,
}

impl Follower {
    pub(super) fn new(id: Uuid) -> Follower {
        Follower {
            id,
            reviews_told: BTreeSet::new(),
            finished: None,
        }
    }

    /// Lines to print for this snapshot: reviews not yet told, then the outcome
    /// once the request has left `pending`.
    pub(super) fn update(&mut self, request: &Request, now: crate::model::Time) -> Vec<String> {
        let mut lines = Vec::new();
        if request.id != self.id || self.finished.is_some() {
            return lines;
        }
        for review in &request.reviews {
            let key = (review.author.clone(), review.created_at.to_rfc3339());
            if self.reviews_told.insert(key) {
                lines.push(format!("  {}", view::review_line(review)));
            }
        }
        if request.state != State::Pending {
            self.finished = Some(request.state);
            lines.push(view::outcome(request, now));
        }
        lines
    }

    pub(super) fn finished(&self) -> Option<State> {
        self.finished
    }
}

/// Progress goes to stdout for a person, to stderr when stdout carries JSON.
fn say(format: Format, line: &str) {
    match format {
        Format::Table => println!("{line}"),
        Format::Json => eprintln!("{line}"),
    }
}

pub(super) async fn create_and_wait(
    client: &Client,
    body: &CreateRequest,
    format: Format,
) -> anyhow::Result<(ExitCode, Request)> {
    // Subscribe first, so nothing that happens right after creation is missed.
    let mut subscriber = Some(Subscriber::spawn(client.clone(), None));
    let mut polling = false;
    if let Some(sub) = subscriber.as_mut()
        && let Ok(first) = tokio::time::timeout(STREAM_OPEN_WAIT, sub.next()).await
    {
        match first {
            Some(SubscriptionEvent::StreamUnavailable { .. }) | None => {
                subscriber = None;
                polling = true;
            }
            _ => {}
        }
    }

    let request = client
        .create_request(body)
        .await
        .map_err(super::explain_create_error)?;
    let id = request.id;
    say(
        format,
        &format!(
            "Request {id} created; waiting for reviews (Ctrl-C to stop waiting; the request stays pending)"
        ),
    );
    let mut follower = Follower::new(id);
    let mut last = request;
    tell(&mut follower, &last, format);

    let mut poll = tokio::time::interval(POLL_EVERY);
    let mut reconcile = tokio::time::interval(RECONCILE_EVERY);
    poll.tick().await;
    reconcile.tick().await;
    let mut outage_told = false;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);

    while follower.finished().is_none() {
        let mut refresh = false;
        tokio::select! {
            _ = &mut ctrl_c => {
                say(format, &format!(
                    "Stopped waiting. Request {id} stays {}; see it with: countersign request show {id}",
                    last.state
                ));
                return Ok((ExitCode::from(EXIT_INTERRUPTED), last));
            }
            event = next_event(&mut subscriber) => match event {
                SubscriptionEvent::Connected { .. } => {
                    if outage_told {
                        say(format, "Reconnected to the event stream.");
                        outage_told = false;
                    }
                    // Whatever happened while the stream was opening or down.
                    refresh = true;
                }
                SubscriptionEvent::Message(message) => {
                    if message.event.request_id == Some(id) {
                        match message.request {
                            Some(request) if request.id == id => {
                                tell(&mut follower, &request, format);
                                last = request;
                            }
                            _ => refresh = true,
                        }
                    }
                }
                SubscriptionEvent::Disconnected { error, retry_in } => {
                    if !outage_told {
                        say(format, &format!(
                            "Lost the event stream ({error}); reconnecting (next try in {:.1}s) …",
                            retry_in.as_secs_f64()
                        ));
                        outage_told = true;
                    }
                }
                SubscriptionEvent::StreamUnavailable { error } => {
                    say(format, &format!(
                        "The broker's event stream is unavailable ({error}); checking every {}s instead.",
                        POLL_EVERY.as_secs()
                    ));
                    subscriber = None;
                    polling = true;
                }
            },
            _ = poll.tick(), if polling => refresh = true,
            _ = reconcile.tick() => refresh = true,
        }
        if refresh {
            match client.get_request(id).await {
                Ok(request) => {
                    tell(&mut follower, &request, format);
                    last = request;
                }
                Err(err) if err.is_unreachable() => {}
                Err(err) => return Err(err.into()),
            }
        }
    }

    if format == Format::Json {
        print_json(&last)?;
    }
    let code = match follower.finished() {
        Some(State::Approved | State::Returned | State::Elapsed | State::Revoked) => {
            ExitCode::SUCCESS
        }
        _ => ExitCode::from(EXIT_NOT_APPROVED),
    };
    Ok((code, last))
}

fn tell(follower: &mut Follower, request: &Request, format: Format) {
    for line in follower.update(request, chrono::Utc::now()) {
        say(format, &line);
    }
}

/// The subscriber's next event, or never when there is none (polling).
async fn next_event(subscriber: &mut Option<Subscriber>) -> SubscriptionEvent {
    match subscriber {
        Some(sub) => match sub.next().await {
            Some(event) => event,
            None => SubscriptionEvent::StreamUnavailable {
                error: "it ended".into(),
            },
        },
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use chrono::TimeZone;

    use super::*;
    use crate::model::{Decision, Review, Time};

    fn at(m: u32) -> Time {
        chrono::Utc
            .with_ymd_and_hms(2026, 11, 21, 12, m, 0)
            .single()
            .unwrap()
    }

    fn request(reviews: Vec<Review>, state: State) -> Request {
        Request {
            id: Uuid::from_u128(7),
            user: "alice".into(),
            roles: vec!["db".into()],
            granted_roles: vec![],
            state,
            reason: "incident #47".into(),
            emergency: false,
            created_at: at(0),
            pending_expires_at: at(59),
            max_duration: None,
            estimate: None,
            access: None,
            thresholds: vec![],
            role_thresholds: BTreeMap::new(),
            reviews,
            resolved_at: None,
            resolve_reason: None,
            resolved_by: None,
            suggested_reviewers: vec![],
            annotations: BTreeMap::new(),
            requester_annotations: BTreeMap::new(),
            request_prompt: None,
            post_incident_review: None,
        }
    }

    fn review(author: &str, decision: Decision, m: u32) -> Review {
        Review {
            author: author.into(),
            decision,
            reason: "because".into(),
            roles: vec![],
            created_at: at(m),
            threshold_indexes: vec![],
        }
    }

    #[test]
    fn each_review_is_told_once_and_the_outcome_last() {
        let mut follower = Follower::new(Uuid::from_u128(7));
        assert!(
            follower
                .update(&request(vec![], State::Pending), at(0))
                .is_empty()
        );
        let one = vec![review("carrot", Decision::Approve, 1)];
        let lines = follower.update(&request(one.clone(), State::Pending), at(1));
        assert_eq!(lines, vec!["  12:01:00  carrot approved: because"]);
        // The same snapshot again (a reconcile) says nothing new.
        assert!(
            follower
                .update(&request(one.clone(), State::Pending), at(1))
                .is_empty()
        );
        let mut two = one;
        two.push(review("vimes", Decision::Deny, 2));
        let lines = follower.update(&request(two.clone(), State::Denied), at(2));
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0], "  12:02:00  vimes denied: because");
        assert!(lines[1].starts_with("Denied by vimes"), "{}", lines[1]);
        assert_eq!(follower.finished(), Some(State::Denied));
        assert!(
            follower
                .update(&request(two, State::Denied), at(3))
                .is_empty()
        );
    }

    #[test]
    fn other_requests_are_ignored() {
        let mut follower = Follower::new(Uuid::from_u128(8));
        let lines = follower.update(
            &request(
                vec![review("carrot", Decision::Approve, 1)],
                State::Approved,
            ),
            at(1),
        );
        assert!(lines.is_empty());
        assert_eq!(follower.finished(), None);
    }

    /// A broker without an event stream: `request create` falls back to polling and
    /// still reports the outcome.
    #[tokio::test]
    async fn without_a_stream_it_polls_until_the_outcome() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};

        use axum::Json;
        use axum::http::StatusCode;
        use axum::routing::{get, post};

        let looks = Arc::new(AtomicUsize::new(0));
        let pending = request(vec![], State::Pending);
        let mut approved = request(
            vec![review("carrot", Decision::Approve, 1)],
            State::Approved,
        );
        approved.granted_roles = approved.roles.clone();
        let created = pending.clone();
        let counter = looks.clone();
        let app = axum::Router::new()
            .route(
                "/v1/events",
                get(|| async {
                    (
                        StatusCode::NOT_FOUND,
                        Json(serde_json::json!({"error": {"code": "not_found", "message": "no stream here"}})),
                    )
                }),
            )
            .route(
                "/v1/requests",
                post(move || async move { (StatusCode::CREATED, Json(created)) }),
            )
            .route(
                "/v1/requests/{id}",
                get(move || {
                    let n = counter.fetch_add(1, Ordering::SeqCst);
                    let answer = if n == 0 { pending.clone() } else { approved.clone() };
                    async move { Json(answer) }
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move { axum::serve(listener, app).await });
        let client = Client::new(&crate::client::Connection {
            broker: format!("http://{addr}"),
            token: "t".into(),
            ca_pem: None,
        })
        .unwrap();
        let body = CreateRequest {
            roles: vec!["db".into()],
            reason: "incident #47".into(),
            ..CreateRequest::default()
        };
        let (code, _) = tokio::time::timeout(
            StdDuration::from_secs(15),
            create_and_wait(&client, &body, Format::Table),
        )
        .await
        .expect("finished in time")
        .unwrap();
        assert_eq!(code, ExitCode::SUCCESS);
        assert!(looks.load(Ordering::SeqCst) >= 2, "it polled");
        server.abort();
    }
}
