//! PostgreSQL: several brokers serving one history (DESIGN §11). Every write is
//! one transaction; appends to the audit log are serialised on the chain's head by
//! a transaction-scoped advisory lock, so the chain stays linear across brokers;
//! events reach each broker's bus from the table, read by `seq`, with
//! LISTEN/NOTIFY only as the wake-up.
//!
//! The `Store` trait is synchronous (the broker calls it from blocking threads):
//! each call runs as a task on this store's own small runtime and waits for it.

mod group;
mod outbox;
mod reads;
mod schema;
mod snapshot;
mod tail;
mod writes;

use std::future::Future;
use std::sync::{Arc, Mutex, OnceLock};

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod};
use tokio_postgres::NoTls;
use uuid::Uuid;

pub use snapshot::{head, verify};

use super::{
    EventDraft, EventQuery, EventSelector, Issue, Issued, Mutated, Mutation, Notification,
    NotificationState, Publisher, RequestQuery, RequestRow, Settle, Store, StoreError, StoredRoles,
    UserChange, UserRecord,
};
use crate::model::event::ChainReport;
use crate::model::{AuditEvent, Certificate, Request, State, Time, User};

/// Connections one broker holds at most.
const POOL_SIZE: usize = 16;

impl From<tokio_postgres::Error> for StoreError {
    fn from(err: tokio_postgres::Error) -> Self {
        use std::error::Error as _;
        if let Some(db) = err.as_db_error() {
            return StoreError::Database(format!("{}: {}", db.code().code(), db.message()));
        }
        let lost = err.is_closed()
            || err
                .source()
                .is_some_and(|s| s.downcast_ref::<std::io::Error>().is_some());
        if lost {
            StoreError::Unavailable(err.to_string())
        } else {
            StoreError::Database(err.to_string())
        }
    }
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(err: deadpool_postgres::PoolError) -> Self {
        match err {
            deadpool_postgres::PoolError::Backend(err) => err.into(),
            other => StoreError::Unavailable(format!("no connection to PostgreSQL: {other}")),
        }
    }
}

/// What the tasks of one store share.
#[derive(Clone)]
pub(super) struct Shared {
    pub pool: Pool,
    pub config: tokio_postgres::Config,
    pub publisher: Arc<OnceLock<Publisher>>,
    /// Wakes the tail reader: a local commit, or a NOTIFY from any broker.
    pub wake: Arc<tokio::sync::Notify>,
    /// Requests as this broker committed them, by seq, until the tail publishes
    /// them (another broker's events travel with the request as read then).
    pub recent: Arc<Mutex<std::collections::HashMap<u64, Option<Request>>>>,
}

impl Shared {
    pub async fn client(&self) -> Result<Object, StoreError> {
        Ok(self.pool.get().await?)
    }

    /// After a commit: keep what the tail should publish with each event, and
    /// wake it. Without a publisher (the admin CLI) nothing is kept.
    pub fn committed(&self, published: Vec<super::Published>) {
        if published.is_empty() || self.publisher.get().is_none() {
            return;
        }
        if let Ok(mut recent) = self.recent.lock() {
            for item in published {
                recent.insert(item.event.seq, item.request);
            }
        }
        self.wake.notify_one();
    }
}

/// How long a health probe's answer is reused.
const HEALTH_FRESH: std::time::Duration = std::time::Duration::from_secs(1);
/// How long a health probe waits for PostgreSQL.
const HEALTH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// Asks the server the cheapest question, through the pool, within [`HEALTH_TIMEOUT`].
async fn probe(db: &Shared) -> Result<(), String> {
    let asked = async {
        let client = db.client().await?;
        client.simple_query("SELECT 1").await?;
        Ok::<_, StoreError>(())
    };
    match tokio::time::timeout(HEALTH_TIMEOUT, asked).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(err)) => Err(err.to_string()),
        Err(_) => Err(format!(
            "the database cannot be reached: no answer from PostgreSQL within {} s",
            HEALTH_TIMEOUT.as_secs()
        )),
    }
}

pub struct PgStore {
    shared: Shared,
    /// Creates waiting for this broker's writer (group commit).
    queue: group::Queue,
    /// The last health probe: when, and its answer.
    health: Mutex<Option<(std::time::Instant, Result<(), String>)>>,
    runtime: Mutex<Option<tokio::runtime::Runtime>>,
    handle: tokio::runtime::Handle,
    /// The head when the store was opened: the tail publishes what follows it.
    opened_at: u64,
}

impl PgStore {
    /// Connects, migrates (once, whoever else is starting), and reads the head.
    pub fn open(url: &str) -> Result<PgStore, StoreError> {
        let config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| StoreError::Database(format!("not a PostgreSQL URL: {e}")))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("countersign-pg")
            .enable_all()
            .build()
            .map_err(|e| StoreError::Failed(format!("cannot start the PostgreSQL runtime: {e}")))?;
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = {
            let _entered = runtime.enter();
            Pool::builder(manager)
                .max_size(POOL_SIZE)
                .runtime(deadpool_postgres::Runtime::Tokio1)
                .wait_timeout(Some(std::time::Duration::from_secs(30)))
                .create_timeout(Some(std::time::Duration::from_secs(10)))
                .build()
                .map_err(|e| StoreError::Failed(format!("cannot make a connection pool: {e}")))?
        };
        let shared = Shared {
            pool,
            config,
            publisher: Arc::new(OnceLock::new()),
            wake: Arc::new(tokio::sync::Notify::new()),
            recent: Arc::default(),
        };
        let handle = runtime.handle().clone();
        let (queue, queued) = group::Queue::new();
        let mut store = PgStore {
            shared,
            queue,
            health: Mutex::new(None),
            runtime: Mutex::new(Some(runtime)),
            handle,
            opened_at: 0,
        };
        store.opened_at = store.run(|db| async move {
            let mut client = db.client().await?;
            schema::migrate(&mut client).await?;
            reads::head_seq(&client).await
        })?;
        store
            .handle
            .spawn(group::write_loop(store.shared.clone(), queued));
        Ok(store)
    }

    /// Runs `work` on this store's runtime and waits for its answer.
    fn run<T, F, Fut>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(Shared) -> Fut,
        Fut: Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let task = work(self.shared.clone());
        self.handle.spawn(async move {
            let _ = tx.send(task.await);
        });
        rx.recv().map_err(|_| StoreError::Closed)?
    }
}

impl Drop for PgStore {
    fn drop(&mut self) {
        self.close();
    }
}

impl Store for PgStore {
    fn user_by_token_hash(&self, token_hash: &str) -> Result<Option<User>, StoreError> {
        let token_hash = token_hash.to_string();
        self.run(|db| async move {
            let client = db.client().await?;
            reads::user_where(&client, "token_hash", &token_hash).await
        })
    }

    fn user(&self, name: &str) -> Result<Option<User>, StoreError> {
        let name = name.to_string();
        self.run(|db| async move {
            let client = db.client().await?;
            reads::user_where(&client, "name", &name).await
        })
    }

    fn add_user(&self, user: &User, token_hash: &str, now: Time) -> Result<(), StoreError> {
        let (user, token_hash) = (user.clone(), token_hash.to_string());
        self.run(|db| async move { writes::add_user(&db, &user, &token_hash, now).await })
    }

    fn change_user(
        &self,
        change: &UserChange,
        actor: &str,
        now: Time,
    ) -> Result<Option<User>, StoreError> {
        let (change, actor) = (change.clone(), actor.to_string());
        self.run(|db| async move { writes::change_user(&db, &change, &actor, now).await })
    }

    fn users(&self) -> Result<Vec<UserRecord>, StoreError> {
        self.run(|db| async move { reads::users(&*db.client().await?).await })
    }

    fn remove_user(&self, name: &str) -> Result<bool, StoreError> {
        let name = name.to_string();
        self.run(|db| async move {
            let client = db.client().await?;
            Ok(client
                .execute("DELETE FROM users WHERE name = $1", &[&name])
                .await?
                > 0)
        })
    }

    fn set_token(&self, name: &str, token_hash: &str) -> Result<bool, StoreError> {
        let (name, token_hash) = (name.to_string(), token_hash.to_string());
        self.run(|db| async move {
            let client = db.client().await?;
            Ok(client
                .execute(
                    "UPDATE users SET token_hash = $2 WHERE name = $1",
                    &[&name, &token_hash],
                )
                .await?
                > 0)
        })
    }

    fn roles(&self) -> Result<Option<StoredRoles>, StoreError> {
        self.run(|db| async move { reads::roles(&*db.client().await?).await })
    }

    fn roles_version(&self) -> Result<u64, StoreError> {
        self.run(|db| async move {
            let client = db.client().await?;
            // Asked on every API call: prepared once per connection.
            let statement = client
                .prepare_cached("SELECT COALESCE(MAX(version), 0) FROM roles")
                .await?;
            let row = client.query_one(&statement, &[]).await?;
            Ok(row.try_get::<_, i64>(0)? as u64)
        })
    }

    fn caller(&self, token_hash: &str) -> Result<(Option<User>, u64), StoreError> {
        let token_hash = token_hash.to_string();
        self.run(|db| async move { reads::caller(&db.client().await?, &token_hash).await })
    }

    fn put_roles(&self, source_name: &str, text: &str, now: Time) -> Result<u64, StoreError> {
        let (source_name, text) = (source_name.to_string(), text.to_string());
        self.run(|db| async move {
            let client = db.client().await?;
            let row = client
                .query_one(
                    "INSERT INTO roles (source_name, text, applied_ms) VALUES ($1, $2, $3) RETURNING version",
                    &[&source_name, &text, &super::rows::millis(now)],
                )
                .await?;
            Ok(row.try_get::<_, i64>(0)? as u64)
        })
    }

    fn create_request(
        &self,
        request: Request,
        event: EventDraft,
    ) -> Result<AuditEvent, StoreError> {
        let queue = self.queue.clone();
        self.run(|_| async move { queue.create(request, event).await })
    }

    fn mutate_request(&self, id: Uuid, mutation: Mutation) -> Result<Mutated, StoreError> {
        self.run(|db| async move { writes::mutate_request(&db, id, mutation).await })
    }

    fn get_request(&self, id: Uuid) -> Result<Option<Request>, StoreError> {
        self.run(|db| async move { reads::request(&*db.client().await?, id).await })
    }

    fn get_requests(&self, ids: &[Uuid]) -> Result<Vec<Request>, StoreError> {
        let ids = ids.to_vec();
        self.run(|db| async move { reads::requests(&*db.client().await?, &ids).await })
    }

    fn list_request_rows(&self, query: &RequestQuery) -> Result<Vec<RequestRow>, StoreError> {
        let query = query.clone();
        self.run(|db| async move { reads::request_rows(&*db.client().await?, &query).await })
    }

    fn request_counts(&self) -> Result<Vec<(State, u64)>, StoreError> {
        self.run(|db| async move {
            let client = db.client().await?;
            let statement = client
                .prepare_cached("SELECT state, COUNT(*) FROM requests GROUP BY state")
                .await?;
            let mut out = Vec::new();
            for row in client.query(&statement, &[]).await? {
                let state: &str = row.try_get(0)?;
                let state = state.parse::<State>().map_err(StoreError::Corrupt)?;
                out.push((state, row.try_get::<_, i64>(1)? as u64));
            }
            Ok(out)
        })
    }

    fn nth_request_id(&self, query: &RequestQuery, n: usize) -> Result<Option<Uuid>, StoreError> {
        let query = query.clone();
        self.run(|db| async move { reads::nth_request_id(&*db.client().await?, &query, n).await })
    }

    fn due(&self, now: Time) -> Result<Vec<Uuid>, StoreError> {
        self.run(|db| async move { reads::due(&*db.client().await?, now).await })
    }

    fn scan_requests_since(
        &self,
        since: Time,
        each: &(dyn Fn(Request) + Sync),
    ) -> Result<(), StoreError> {
        let mut after = String::new();
        loop {
            let from = after.clone();
            let page = self.run(|db| async move {
                reads::touched_page(&*db.client().await?, since, &from).await
            })?;
            let Some((last, _)) = page.last() else {
                return Ok(());
            };
            after = last.clone();
            let full = page.len() == reads::SCAN_PAGE;
            for (_, body) in page {
                each(super::rows::decode(&body)?);
            }
            if !full {
                return Ok(());
            }
        }
    }

    fn scan_owed_post_incident_reviews(
        &self,
        each: &mut dyn FnMut(Request),
    ) -> Result<(), StoreError> {
        let bodies =
            self.run(|db| async move { reads::owed_reviews(&*db.client().await?).await })?;
        for body in bodies {
            each(super::rows::decode(&body)?);
        }
        Ok(())
    }

    fn issue_certificate(&self, id: Uuid, issue: Issue) -> Result<Issued, StoreError> {
        self.run(|db| async move { writes::issue_certificate(&db, id, issue).await })
    }

    fn certificates(&self, request_id: Uuid) -> Result<Vec<Certificate>, StoreError> {
        self.run(|db| async move { reads::certificates(&*db.client().await?, request_id).await })
    }

    fn revoked_serials(&self, now: Time) -> Result<Vec<u64>, StoreError> {
        self.run(|db| async move { reads::revoked_serials(&*db.client().await?, now).await })
    }

    fn append_event(&self, event: EventDraft) -> Result<AuditEvent, StoreError> {
        self.run(|db| async move { writes::append_event(&db, event).await })
    }

    fn events(&self, query: &EventQuery) -> Result<Vec<AuditEvent>, StoreError> {
        let query = query.clone();
        self.run(|db| async move { reads::events(&*db.client().await?, &query).await })
    }

    fn scan_events_since(
        &self,
        since: Time,
        select: Option<&[EventSelector]>,
        each: &(dyn Fn(AuditEvent) + Sync),
    ) -> Result<(), StoreError> {
        let picks = reads::picks(select);
        if picks.as_ref().is_some_and(Vec::is_empty) {
            return Ok(());
        }
        let mut after = 0i64;
        loop {
            let picks = picks.clone();
            let page = self.run(|db| async move {
                reads::event_page(&*db.client().await?, since, picks.as_deref(), after).await
            })?;
            let Some((last, _)) = page.last() else {
                return Ok(());
            };
            after = *last;
            let full = page.len() == reads::SCAN_PAGE;
            for (_, body) in page {
                each(super::rows::decode(&body)?);
            }
            if !full {
                return Ok(());
            }
        }
    }

    fn head_seq(&self) -> Result<u64, StoreError> {
        self.run(|db| async move { reads::head_seq(&*db.client().await?).await })
    }

    fn head(&self) -> Result<(u64, String), StoreError> {
        self.run(|db| async move { reads::head(&*db.client().await?).await })
    }

    fn verify_chain(&self) -> Result<ChainReport, StoreError> {
        let config = self.shared.config.clone();
        Ok(snapshot::verify_config(config, None)?.report())
    }

    fn authority_stamp(&self) -> Result<u64, StoreError> {
        self.run(|db| async move { reads::authority_stamp(&*db.client().await?).await })
    }

    fn event(&self, seq: u64) -> Result<Option<AuditEvent>, StoreError> {
        self.run(|db| async move { reads::event(&*db.client().await?, seq).await })
    }

    fn health(&self) -> Result<(), String> {
        // Held through the probe: callers at the same moment share its answer.
        let mut last = self.health.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((at, answer)) = last.as_ref()
            && at.elapsed() < HEALTH_FRESH
        {
            return answer.clone();
        }
        let answer = self
            .run(|db| async move { Ok(probe(&db).await) })
            .unwrap_or_else(|e| Err(e.to_string()));
        *last = Some((std::time::Instant::now(), answer.clone()));
        answer
    }

    fn write_queue_depth(&self) -> usize {
        self.queue.depth()
    }

    fn on_commit(&self, publish: Publisher) {
        if self.shared.publisher.set(publish).is_err() {
            return;
        }
        let (shared, from) = (self.shared.clone(), self.opened_at);
        self.handle.spawn(tail::listen(shared.clone()));
        self.handle.spawn(tail::follow(shared, from));
    }

    fn close(&self) {
        let runtime = self.runtime.lock().ok().and_then(|mut r| r.take());
        if let Some(runtime) = runtime {
            self.shared.pool.close();
            // Safe to call from inside another runtime, unlike dropping it.
            runtime.shutdown_background();
        }
    }

    fn set_notify_sinks(&self, names: &[String]) -> Result<(), StoreError> {
        let names = names.to_vec();
        self.run(|db| async move { outbox::set_sinks(&db, &names).await })
    }

    fn claim_notifications(
        &self,
        now: Time,
        lease: std::time::Duration,
        limit: usize,
    ) -> Result<Vec<Notification>, StoreError> {
        self.run(|db| async move { outbox::claim(&db, now, lease, limit).await })
    }

    fn settle_notifications(&self, settled: Vec<(u64, Settle)>) -> Result<(), StoreError> {
        self.run(|db| async move { outbox::settle(&db, settled).await })
    }

    fn notifications(
        &self,
        state: Option<NotificationState>,
        limit: usize,
    ) -> Result<Vec<Notification>, StoreError> {
        self.run(|db| async move { outbox::list(&db, state, limit).await })
    }

    fn notification_counts(&self) -> Result<Vec<(NotificationState, u64)>, StoreError> {
        self.run(|db| async move { outbox::counts(&db).await })
    }

    fn retry_notification(&self, id: u64, now: Time) -> Result<bool, StoreError> {
        self.run(|db| async move { outbox::retry(&db, id, now).await })
    }

    fn queue_review_reminders(&self, request_ids: &[Uuid], now: Time) -> Result<usize, StoreError> {
        let ids = request_ids.to_vec();
        self.run(|db| async move { outbox::queue_reminders(&db, &ids, now).await })
    }
}
