//! Delivers what the outbox owes: claims due rows, sends each to its sink under a
//! timeout, and settles it as sent, to retry with backoff, or failed.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use lettre::message::Mailbox;
use tokio::sync::Semaphore;

use super::load::{self, GiveWay};
use super::message::Notice;
use super::{Attempt, NotifyConfig, Sink, Sinks, Topic, email, slack, webhook};
use crate::broker::Broker;
use crate::broker::store::{Notification, Settle};
use crate::model::{Request, Time, User};
use crate::policy::RoleSet;

/// Deliveries under way at once.
const IN_FLIGHT: usize = 32;
/// How often owed post-incident reviews are looked for.
const REMINDER_EVERY: StdDuration = StdDuration::from_secs(60);
/// Rows claimed in one go at the least (when the slots allow): one writer
/// transaction per batch of deliveries, not one per delivery.
const CLAIM_AT_LEAST: usize = 8;
/// Settled attempts recorded in one transaction.
const SETTLE_BATCH: usize = 256;

/// How long to wait before attempt `attempts + 1`: `min` doubled per attempt, capped.
pub fn backoff(attempts: u32, min: StdDuration, max: StdDuration) -> StdDuration {
    let doubled = min.saturating_mul(1u32 << attempts.saturating_sub(1).min(20));
    doubled.min(max)
}

pub async fn run(broker: Arc<Broker>, sinks: Sinks) {
    // Without sinks no row is ever queued, and rows left from an earlier
    // configuration wait for their sink to come back: nothing to do, and no claim
    // per committed event taken from the writer.
    if sinks.by_name.is_empty() {
        return;
    }
    let settings = broker.config.notify.clone();
    let timeout = StdDuration::from_millis(settings.timeout.as_millis());
    // A claimed row comes back if its delivery never settles (a crash, a hang).
    let lease = timeout * 2 + StdDuration::from_secs(5);
    let http = match reqwest::Client::builder().timeout(timeout).build() {
        Ok(http) => http,
        Err(e) => {
            tracing::error!("notifications are off: cannot build an HTTP client: {e}");
            return;
        }
    };
    let shared = Arc::new(Shared {
        broker: broker.clone(),
        sinks,
        settings,
        http,
        timeout,
        told_no_address: Default::default(),
    });
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    let (settled_tx, settled_rx) = tokio::sync::mpsc::channel(IN_FLIGHT * 4);
    tokio::spawn(record_settled(broker.clone(), settled_rx));
    let meter = load::meter(broker.bus.subscribe());
    let mut give_way = GiveWay::default();
    let mut shutdown = broker.shutdown.clone();
    let mut last_reminders: Option<tokio::time::Instant> = None;
    loop {
        if *shutdown.borrow() {
            return;
        }
        if last_reminders.is_none_or(|t| t.elapsed() >= REMINDER_EVERY) {
            last_reminders = Some(tokio::time::Instant::now());
            let shared = shared.clone();
            let _ = tokio::task::spawn_blocking(move || shared.queue_reminders()).await;
        }
        // API writes come first: while they pour in, deliveries wait a moment.
        if give_way.wait(meter.busy(), tokio::time::Instant::now()) {
            tokio::select! {
                _ = tokio::time::sleep(load::WINDOW) => {}
                _ = shutdown.changed() => {}
            }
            continue;
        }
        // Wait for free slots before claiming: a claimed row is owed an attempt now.
        let Ok(mut permits) = slots
            .clone()
            .acquire_many_owned(CLAIM_AT_LEAST as u32)
            .await
        else {
            return;
        };
        if let Ok(more) = slots
            .clone()
            .try_acquire_many_owned(slots.available_permits() as u32)
        {
            permits.merge(more);
        }
        let free = permits.num_permits();
        let store = broker.store.clone();
        let now = broker.now();
        let claimed =
            match tokio::task::spawn_blocking(move || store.claim_notifications(now, lease, free))
                .await
            {
                Ok(Ok(claimed)) => claimed,
                Ok(Err(e)) => {
                    tracing::warn!("notification outbox: {e}");
                    Vec::new()
                }
                Err(_) => Vec::new(),
            };
        if claimed.is_empty() {
            drop(permits);
            // Woken by a commit, or by the clock for retries. After a commit, a
            // window passes first: what commits meanwhile is claimed in the same
            // batch, and a burst that starts is seen as one before anything is claimed.
            tokio::select! {
                _ = meter.committed.notified() => {
                    tokio::select! {
                        _ = tokio::time::sleep(load::WINDOW) => {}
                        _ = shutdown.changed() => {}
                    }
                }
                _ = tokio::time::sleep(StdDuration::from_secs(1)) => {}
                _ = shutdown.changed() => {}
            }
            continue;
        }
        for notification in claimed {
            // `free` permits were taken for at most `free` rows.
            let Some(permit) = permits.split(1) else {
                break;
            };
            let shared = shared.clone();
            let settled = settled_tx.clone();
            tokio::spawn(async move {
                let id = notification.id;
                let settle = shared.deliver(notification).await;
                // Recorded by `record_settled`; should it be gone, the lease brings
                // the row back.
                let _ = settled.send((id, settle)).await;
                drop(permit);
            });
        }
    }
}

/// Records settled attempts in batches: one transaction for many deliveries.
async fn record_settled(
    broker: Arc<Broker>,
    mut settled: tokio::sync::mpsc::Receiver<(u64, Settle)>,
) {
    let mut batch = Vec::with_capacity(SETTLE_BATCH);
    while settled.recv_many(&mut batch, SETTLE_BATCH).await > 0 {
        let store = broker.store.clone();
        let taken = std::mem::take(&mut batch);
        match tokio::task::spawn_blocking(move || store.settle_notifications(taken)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!("notifications: cannot record attempts: {e}"),
            Err(e) => tracing::warn!("notifications: {e}"),
        }
    }
}

struct Shared {
    broker: Arc<Broker>,
    sinks: Sinks,
    settings: NotifyConfig,
    http: reqwest::Client,
    timeout: StdDuration,
    /// Users already logged as having no usable address (logged once each).
    told_no_address: std::sync::Mutex<std::collections::BTreeSet<String>>,
}

impl Shared {
    async fn deliver(&self, notification: Notification) -> Settle {
        let attempt = self.attempt(&notification).await;
        let now = self.broker.now();
        let settle = self.settle(&notification, attempt, now);
        if let Settle::Failed { error, .. } = &settle {
            tracing::warn!(
                "notification {} ({} for request {}) to {} failed: {error}",
                notification.id,
                notification.topic.as_str(),
                notification.request_id,
                notification.sink
            );
        }
        settle
    }

    fn settle(&self, n: &Notification, attempt: Attempt, now: Time) -> Settle {
        let give_up = n.created_at + self.settings.give_up_after.to_chrono();
        match attempt {
            Attempt::Delivered(note) => Settle::Sent { at: now, note },
            Attempt::Permanent(error) => Settle::Failed { at: now, error },
            Attempt::Transient(error) => {
                let wait = backoff(
                    n.attempts,
                    StdDuration::from_millis(self.settings.retry_min.as_millis()),
                    StdDuration::from_millis(self.settings.retry_max.as_millis()),
                );
                let at = now + chrono::TimeDelta::from_std(wait).unwrap_or_default();
                if at > give_up {
                    Settle::Failed {
                        at: now,
                        error: format!("gave up after {} attempts: {error}", n.attempts),
                    }
                } else {
                    Settle::Retry { at, error }
                }
            }
        }
    }

    async fn attempt(&self, n: &Notification) -> Attempt {
        let Some(sink) = self.sinks.by_name.get(&n.sink) else {
            return Attempt::Permanent(format!("no sink named {:?} is configured", n.sink));
        };
        let store = self.broker.store.clone();
        let (request_id, seq) = (n.request_id, n.seq);
        let loaded = tokio::task::spawn_blocking(move || {
            let request = store.get_request(request_id)?;
            let event = if seq == 0 { None } else { store.event(seq)? };
            Ok::<_, crate::broker::store::StoreError>((request, event))
        })
        .await;
        let (request, event) = match loaded {
            Ok(Ok((Some(request), event))) => (request, event),
            Ok(Ok((None, _))) => return Attempt::Permanent(format!("no request {request_id}")),
            Ok(Err(e)) => return Attempt::Transient(format!("store: {e}")),
            Err(e) => return Attempt::Transient(format!("{e}")),
        };
        let link = self.settings.public_url.as_ref().map(|base| {
            format!(
                "{}/v1/requests/{}",
                base.get_ref().trim_end_matches('/'),
                request.id
            )
        });
        let notice = Notice {
            topic: n.topic,
            key: n.idempotency_key(),
            request,
            event,
            link,
            now: self.broker.now(),
        };
        let sending = async {
            match sink {
                Sink::Slack(config) => {
                    slack::deliver(
                        &self.http,
                        config.webhook_url.get_ref(),
                        config.channel.as_deref(),
                        &notice,
                    )
                    .await
                }
                Sink::Webhook { config, secret } => {
                    webhook::deliver(&self.http, config.url.get_ref(), secret.as_bytes(), &notice)
                        .await
                }
                Sink::Email { config, transport } => {
                    let to = self.recipients(config, &notice).await;
                    email::deliver(transport, config, &to, &notice).await
                }
            }
        };
        match tokio::time::timeout(self.timeout + StdDuration::from_secs(1), sending).await {
            Ok(attempt) => attempt,
            Err(_) => Attempt::Transient(format!("no answer within {}", self.settings.timeout)),
        }
    }

    /// The sink's fixed addresses, plus the reviewers (new requests, reminders) or the
    /// requester (outcomes) at their `email` trait.
    async fn recipients(&self, config: &super::config::EmailSink, notice: &Notice) -> Vec<Mailbox> {
        let mut to: Vec<Mailbox> = config
            .to
            .iter()
            .filter_map(|a| a.get_ref().parse().ok())
            .collect();
        let wants_people = match notice.topic {
            Topic::Created | Topic::ReviewDue => config.to_reviewers,
            Topic::Outcome => true,
        };
        if wants_people {
            let store = self.broker.store.clone();
            let users = tokio::task::spawn_blocking(move || store.users()).await;
            let users = match users {
                Ok(Ok(users)) => users,
                Ok(Err(e)) => {
                    tracing::warn!("notifications: cannot read users: {e}");
                    Vec::new()
                }
                Err(_) => Vec::new(),
            };
            let people = people_to_tell(
                &self.broker.roles.cached(),
                users.into_iter().map(|r| r.user),
                &notice.request,
                notice.topic,
            );
            for (name, mailbox) in people {
                let Some(mailbox) = mailbox else {
                    let first = self
                        .told_no_address
                        .lock()
                        .is_ok_and(|mut told| told.insert(name.clone()));
                    if first {
                        tracing::warn!(
                            "notifications: {name} has no usable email trait; mail for them is skipped"
                        );
                    }
                    continue;
                };
                if !to.contains(&mailbox) {
                    to.push(mailbox);
                }
            }
        }
        to
    }

    fn queue_reminders(&self) {
        if self.sinks.by_name.is_empty() {
            return;
        }
        let broker = &self.broker;
        let now = broker.now();
        let due_after = broker.config.audit.emergency_review_due.to_chrono();
        let mut due = Vec::new();
        let scanned = broker
            .store
            .scan_owed_post_incident_reviews(&mut |request| {
                if request.resolved_at.is_some_and(|at| at + due_after <= now) {
                    due.push(request.id);
                }
            });
        if let Err(e) = scanned.and_then(|()| broker.store.queue_review_reminders(&due, now)) {
            tracing::warn!("post-incident review reminders: {e}");
        }
    }
}

/// The people a notice is for, with their address from the `email` trait (none
/// when they have no usable one): the users whose static roles may review the
/// request, or the requester for an outcome.
fn people_to_tell(
    roles: &RoleSet,
    users: impl Iterator<Item = User>,
    request: &Request,
    topic: Topic,
) -> Vec<(String, Option<Mailbox>)> {
    let mut out = Vec::new();
    for user in users {
        let wanted = match topic {
            Topic::Outcome => user.name == request.user,
            Topic::Created | Topic::ReviewDue => {
                user.name != request.user && roles.check_review(&user, request).is_ok()
            }
        };
        if !wanted {
            continue;
        }
        let addresses: Vec<Mailbox> = user
            .traits
            .get("email")
            .into_iter()
            .flatten()
            .filter_map(|a| a.parse().ok())
            .collect();
        if addresses.is_empty() {
            out.push((user.name.clone(), None));
        }
        for mailbox in addresses {
            out.push((user.name.clone(), Some(mailbox)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROLES: &str = r#"
kind: role
version: v7
metadata: {name: dev}
spec:
  allow:
    request: {roles: [prod]}
---
kind: role
version: v7
metadata: {name: approver}
spec:
  allow:
    review_requests: {roles: [prod]}
---
kind: role
version: v7
metadata: {name: prod}
spec: {}
"#;

    fn user(name: &str, role: &str, email: Option<&str>) -> User {
        let mut traits = std::collections::BTreeMap::new();
        if let Some(email) = email {
            traits.insert("email".to_string(), vec![email.to_string()]);
        }
        User {
            name: name.into(),
            roles: vec![role.into()],
            traits,
        }
    }

    #[test]
    fn reviewers_are_told_of_requests_and_the_requester_of_outcomes() {
        let roles = RoleSet::from_yaml(ROLES, "roles.yaml").expect("roles");
        let mut request = super::super::message::tests::request("x", false);
        request.user = "alice".into();
        request.roles = vec!["prod".into()];
        let users = || {
            vec![
                user("alice", "approver", Some("alice@example.com")),
                user("carrot", "approver", Some("carrot@example.com")),
                user("adora", "approver", None),
                user("nobby", "approver", Some("not an address")),
                user("bob", "dev", Some("bob@example.com")),
            ]
            .into_iter()
        };
        let told = |topic| -> Vec<(String, Option<String>)> {
            people_to_tell(&roles, users(), &request, topic)
                .into_iter()
                .map(|(name, mailbox)| (name, mailbox.map(|m| m.email.to_string())))
                .collect()
        };
        // Never the requester (who cannot review their own request), never bob.
        assert_eq!(
            told(Topic::Created),
            [
                ("carrot".to_string(), Some("carrot@example.com".to_string())),
                ("adora".to_string(), None),
                ("nobby".to_string(), None),
            ]
        );
        assert_eq!(told(Topic::ReviewDue), told(Topic::Created));
        assert_eq!(
            told(Topic::Outcome),
            [("alice".to_string(), Some("alice@example.com".to_string()))]
        );
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let (min, max) = (StdDuration::from_secs(2), StdDuration::from_secs(60));
        let waits: Vec<u64> = (1..=7).map(|a| backoff(a, min, max).as_secs()).collect();
        assert_eq!(waits, [2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(backoff(u32::MAX, min, max), max);
    }
}
