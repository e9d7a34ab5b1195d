//! The console's only way to the broker, through `crate::client`: broker messages
//! become actions, effects become API calls. Keeps the last known queue when the
//! broker goes away, and polls when it has no event stream.

use std::time::Duration as StdDuration;

use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};

use super::action::{Action, Effect, ReviewError};
use super::notify::Notifier;
use super::state::Connection;
use crate::client::{Client, ClientError, Subscriber, SubscriptionEvent};
use crate::model::api::{ErrorCode, ListEvents, ListRequests, MAX_PAGE};
use crate::model::{AuditEvent, FindingReview};

/// Most pages of one request's audit events followed, against a broker that loops.
const MAX_HISTORY_PAGES: usize = 20;

/// How often to list requests when the broker has no event stream.
const POLL_EVERY: StdDuration = StdDuration::from_secs(5);
/// How long to wait before asking again after the broker could not be reached.
const RETRY_EVERY: StdDuration = StdDuration::from_secs(3);

/// Which desktop notifications to show.
/// How often the notification outbox's counts are asked for.
const NOTIFICATIONS_EVERY: std::time::Duration = std::time::Duration::from_secs(30);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotifyPolicy {
    pub enabled: bool,
    pub urgent_only: bool,
}

/// Starts the feed (whoami, listing, event stream or polling) and the effect
/// runner. Both stop when the console drops its ends of the channels.
pub fn spawn(
    client: Client,
    actions: UnboundedSender<Action>,
    effects: UnboundedReceiver<Effect>,
    notify: NotifyPolicy,
) {
    tokio::spawn(feed(client.clone(), actions.clone()));
    tokio::spawn(watch_notifications(client.clone(), actions.clone()));
    tokio::spawn(carry_out(client, actions, effects, notify));
}

fn query() -> ListRequests {
    ListRequests {
        limit: Some(MAX_PAGE),
        ..ListRequests::default()
    }
}

/// Lists what the screens need; on failure says offline and returns false.
async fn load(client: &Client, actions: &UnboundedSender<Action>) -> bool {
    match list(client, actions).await {
        Some((requests, next)) => {
            actions.send(Action::Loaded(requests)).is_ok()
                && actions.send(Action::OlderFrom(next)).is_ok()
        }
        None => false,
    }
}

/// What the console's screens need at once: every pending and every approved
/// request, and the newest page of the rest with where the next page starts. The
/// older history is asked for a page at a time as it is scrolled (`FetchOlder`).
async fn screens(
    client: &Client,
) -> Result<(Vec<crate::model::Request>, Option<String>), ClientError> {
    let of_state = |state| ListRequests {
        state: Some(state),
        ..query()
    };
    // Asked together: the listing a reconnect waits for is as short as its
    // longest part.
    let (pending, approved, newest) = (
        of_state(crate::model::State::Pending),
        of_state(crate::model::State::Approved),
        query(),
    );
    let (mut requests, approved, newest) = tokio::try_join!(
        client.list_all_requests(&pending),
        client.list_all_requests(&approved),
        client.list_requests(&newest),
    )?;
    requests.extend(approved);
    let known: std::collections::HashSet<uuid::Uuid> = requests.iter().map(|r| r.id).collect();
    requests.extend(
        newest
            .requests
            .into_iter()
            .filter(|r| !known.contains(&r.id)),
    );
    Ok((requests, newest.next))
}

/// One page of the history after `after`, newest first, and where the next starts.
async fn older(
    client: &Client,
    after: String,
) -> Result<(Vec<crate::model::Request>, Option<String>), ClientError> {
    let page = client
        .list_requests(&ListRequests {
            after: Some(after),
            ..query()
        })
        .await?;
    Ok((page.requests, page.next))
}

/// Every request, or `None` after saying why not (offline, or the broker's refusal).
async fn list(
    client: &Client,
    actions: &UnboundedSender<Action>,
) -> Option<(Vec<crate::model::Request>, Option<String>)> {
    match screens(client).await {
        Ok(listing) => Some(listing),
        Err(error) => {
            let _ = actions.send(Action::Connection(offline_or_live(&error)));
            if !error.is_unreachable() {
                let _ = actions.send(Action::Trouble(format!("cannot list requests: {error}")));
            }
            None
        }
    }
}

fn offline_or_live(error: &ClientError) -> Connection {
    if error.is_unreachable() {
        Connection::Offline
    } else {
        Connection::Live
    }
}

/// Lists every request while the stream is open; says "live" only once the listing
/// is in. Returns whether it is.
async fn catch_up(client: &Client, actions: &UnboundedSender<Action>) -> bool {
    let _ = actions.send(Action::Connection(Connection::CatchingUp));
    match screens(client).await {
        Ok((requests, next)) => {
            actions.send(Action::Loaded(requests)).is_ok()
                && actions.send(Action::OlderFrom(next)).is_ok()
                && actions.send(Action::Connection(Connection::Live)).is_ok()
        }
        Err(error) => {
            // Not caught up: "catching up" stays (or "offline"), never "live".
            if error.is_unreachable() {
                let _ = actions.send(Action::Connection(Connection::Offline));
            } else {
                let _ = actions.send(Action::Trouble(format!("cannot list requests: {error}")));
            }
            false
        }
    }
}

async fn feed(client: Client, actions: UnboundedSender<Action>) {
    // Who we are decides what we may review; keep asking until the broker answers.
    loop {
        match client.whoami().await {
            Ok(whoami) => {
                if actions.send(Action::WhoAmI(whoami)).is_err() {
                    return;
                }
                break;
            }
            Err(error) => {
                // A refused token is not "offline": say what the broker said.
                let action = if error.is_unreachable() {
                    Action::Connection(Connection::Offline)
                } else {
                    Action::Trouble(format!("cannot ask the broker who you are: {error}"))
                };
                if actions.send(action).is_err() {
                    return;
                }
                tokio::time::sleep(RETRY_EVERY).await;
            }
        }
    }
    // Session lengths and prompts of the roles we deal with; without them the
    // console simply shows less.
    if let Ok(roles) = client.roles().await {
        let info = roles
            .into_iter()
            .map(|role| crate::console::state::RoleInfo {
                name: role.name,
                request_prompt: role.request_prompt,
                max_session_ttl: role.max_session_ttl,
            })
            .collect();
        if actions.send(Action::Roles(info)).is_err() {
            return;
        }
    }
    follow(client.clone(), &actions).await;
    poll(client, actions).await;
}

/// Follows the event stream until the broker says it has none. Subscribe first,
/// then list: whatever happens while listing arrives after the listing and is
/// applied on top of it. A stream that cannot resume from an id (none seen yet)
/// only carries what happens from now on, so every such (re)connect lists again
/// before it says "live".
async fn follow(client: Client, actions: &UnboundedSender<Action>) {
    let mut subscriber = Subscriber::spawn(client.clone(), None);
    // Whether the console may lack something only a listing can give.
    let mut behind = true;
    let mut connected = false;
    // The broker the status bar names; the client moves along its list on failures.
    let mut shown = String::new();
    loop {
        let event = if behind && connected {
            // The listing failed on an open stream: try again now and then.
            tokio::select! {
                event = subscriber.next() => event,
                _ = tokio::time::sleep(RETRY_EVERY) => {
                    behind = !catch_up(&client, actions).await;
                    if actions.is_closed() {
                        return;
                    }
                    continue;
                }
            }
        } else {
            subscriber.next().await
        };
        let Some(event) = event else { return };
        let sent = match event {
            SubscriptionEvent::Connected { after } => {
                connected = true;
                if client.broker() != shown {
                    shown = client.broker().to_string();
                    if actions.send(Action::Broker(shown.clone())).is_err() {
                        return;
                    }
                }
                // Without a last id the stream starts from now: list what came before.
                behind |= after.is_none();
                if behind {
                    behind = !catch_up(&client, actions).await;
                    !actions.is_closed()
                } else {
                    actions.send(Action::Connection(Connection::Live)).is_ok()
                }
            }
            SubscriptionEvent::Message(message) => match message.request {
                Some(request) => actions.send(Action::Upserted(request)).is_ok(),
                None => actions.send(Action::AuditChanged).is_ok(),
            },
            SubscriptionEvent::Disconnected { .. } => {
                connected = false;
                actions
                    .send(Action::Connection(Connection::Offline))
                    .is_ok()
            }
            SubscriptionEvent::StreamUnavailable { .. } => return,
        };
        if !sent {
            return;
        }
    }
}

/// Asks how the notification outbox stands, at start and every half minute, so the
/// status bar can say when the channels approvers rely on have gone quiet. A broker
/// that cannot say (offline, or older) is simply asked again later.
async fn watch_notifications(client: Client, actions: UnboundedSender<Action>) {
    loop {
        if let Ok(summary) = client.notifications().await
            && actions.send(Action::Notifications(summary)).is_err()
        {
            return;
        }
        if actions.is_closed() {
            return;
        }
        tokio::time::sleep(NOTIFICATIONS_EVERY).await;
    }
}

async fn poll(client: Client, actions: UnboundedSender<Action>) {
    loop {
        if load(&client, &actions).await
            && actions
                .send(Action::Connection(Connection::Polling))
                .is_err()
        {
            return;
        }
        if actions.is_closed() {
            return;
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}

async fn carry_out(
    client: Client,
    actions: UnboundedSender<Action>,
    mut effects: UnboundedReceiver<Effect>,
    notify: NotifyPolicy,
) {
    let notifier = Notifier::new(notify.enabled);
    while let Some(effect) = effects.recv().await {
        match effect {
            Effect::SubmitReview { id, review } => {
                let client = client.clone();
                let actions = actions.clone();
                // Bulk reviews go out together; each answer comes back on its own.
                tokio::spawn(async move {
                    let result = client
                        .review(id, &review)
                        .await
                        .map_err(|error| ReviewError {
                            code: error.code(),
                            message: error.to_string(),
                        });
                    if result.as_ref().is_err_and(|e| e.code.is_none()) {
                        let _ = actions.send(Action::Connection(Connection::Offline));
                    }
                    let _ = actions.send(Action::Reviewed { id, result });
                });
            }
            Effect::MarkFindingReviewed(mark) => {
                let client = client.clone();
                let actions = actions.clone();
                tokio::spawn(async move {
                    let result = client
                        .mark_finding_reviewed(&mark)
                        .await
                        .map_err(|error| refusal(&error, &actions))
                        .and_then(|answer| {
                            // Not "offline": the broker answered, just not with a mark.
                            serde_json::from_value::<FindingReview>(answer).map_err(|error| {
                                ReviewError {
                                    code: Some(ErrorCode::Internal),
                                    message: format!(
                                        "the broker's answer is not a mark ({error}); refresh to see whether it was recorded"
                                    ),
                                }
                            })
                        });
                    let _ = actions.send(Action::FindingMarked {
                        key: mark.key,
                        result,
                    });
                });
            }
            Effect::SubmitPostIncidentReview { id, review } => {
                let client = client.clone();
                let actions = actions.clone();
                tokio::spawn(async move {
                    let result = client
                        .post_incident_review(id, &review)
                        .await
                        .map_err(|error| refusal(&error, &actions));
                    let _ = actions.send(Action::PostIncidentReviewed { id, result });
                });
            }
            Effect::Revoke { id, reason } => {
                let client = client.clone();
                let actions = actions.clone();
                tokio::spawn(async move {
                    let result = client
                        .revoke(id, &reason)
                        .await
                        .map_err(|error| refusal(&error, &actions));
                    let _ = actions.send(Action::Revoked { id, result });
                });
            }
            Effect::FetchOlder(after) => {
                let client = client.clone();
                let actions = actions.clone();
                tokio::spawn(async move {
                    let result = older(&client, after)
                        .await
                        .map_err(|error| format!("cannot list older requests: {error}"));
                    let _ = actions.send(Action::Older(result));
                });
            }
            Effect::FetchMatches { q, after } => {
                let client = client.clone();
                let actions = actions.clone();
                tokio::spawn(async move {
                    let query = ListRequests {
                        q: Some(q.clone()),
                        after,
                        ..query()
                    };
                    let result = client
                        .list_requests(&query)
                        .await
                        .map(|page| (page.requests, page.next))
                        .map_err(|error| format!("cannot search the history: {error}"));
                    let _ = actions.send(Action::Matches { q, result });
                });
            }
            Effect::FetchCertificates(id) => {
                let client = client.clone();
                let actions = actions.clone();
                tokio::spawn(async move {
                    let result = client
                        .certificates(id)
                        .await
                        .map(|list| list.certificates)
                        .map_err(|error| format!("cannot list its certificates: {error}"));
                    let _ = actions.send(Action::Certificates { id, result });
                });
            }
            Effect::FetchRequest(id) => {
                let client = client.clone();
                let actions = actions.clone();
                tokio::spawn(async move {
                    let result = client
                        .get_request(id)
                        .await
                        .map_err(|error| format!("cannot fetch the request: {error}"));
                    let _ = actions.send(Action::RequestFetched { id, result });
                });
            }
            Effect::FetchHistory(id) => {
                let client = client.clone();
                let actions = actions.clone();
                tokio::spawn(async move {
                    let result = history(&client, id).await.map_err(|error| {
                        refused_audit(&error, "the audit history")
                            .unwrap_or_else(|| format!("cannot fetch the audit history: {error}"))
                    });
                    let _ = actions.send(Action::History { id, result });
                });
            }
            Effect::Refresh => {
                let client = client.clone();
                let actions = actions.clone();
                tokio::spawn(async move { load(&client, &actions).await });
            }
            Effect::FetchFindings(query) => {
                let client = client.clone();
                let actions = actions.clone();
                tokio::spawn(async move {
                    let result = client.audit_findings_page(&query).await.map_err(|error| {
                        refused_audit(&error, "the Audit tab").unwrap_or_else(|| error.to_string())
                    });
                    let action = match query.after {
                        Some(after) => Action::MoreFindings { after, result },
                        None => Action::Findings(result),
                    };
                    let _ = actions.send(action);
                });
            }
            Effect::Notify {
                title,
                body,
                urgent,
            } => {
                if urgent || !notify.urgent_only {
                    notifier.notify(title, body, urgent);
                }
            }
            // The terminal's clipboard belongs to the runtime.
            Effect::Copy(_) => {}
            Effect::Quit => return,
        }
    }
}

/// A refused or failed submission, as the dialog shows it; says offline when the
/// broker could not be reached.
fn refusal(error: &ClientError, actions: &UnboundedSender<Action>) -> ReviewError {
    if error.code().is_none() && error.is_unreachable() {
        let _ = actions.send(Action::Connection(Connection::Offline));
    }
    ReviewError {
        code: error.code(),
        message: error.to_string(),
    }
}

/// Every audit event of one request, oldest first.
async fn history(client: &Client, id: uuid::Uuid) -> Result<Vec<AuditEvent>, ClientError> {
    let mut query = ListEvents {
        request_id: Some(id.to_string()),
        limit: Some(MAX_PAGE),
        ..ListEvents::default()
    };
    let mut events = Vec::new();
    for _ in 0..MAX_HISTORY_PAGES {
        let page = client.audit_events(&query).await?;
        events.extend(page.events);
        match page.next {
            Some(next) if query.after != Some(next) => query.after = Some(next),
            _ => break,
        }
    }
    Ok(events)
}

/// What to say when the broker refuses an audit read: the rule it takes.
fn refused_audit(error: &crate::client::ClientError, what: &str) -> Option<String> {
    (error.code() == Some(ErrorCode::Forbidden))
        .then(|| format!("{what} needs rule event: list, which your roles do not give"))
}
