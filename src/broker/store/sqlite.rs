//! The embedded default backend: one SQLite file in WAL mode with `synchronous=FULL`.
//! All request and audit writes go through one writer thread that commits whatever
//! has queued up in one transaction (group commit), so commits stay durable without
//! one fsync per request, and the audit chain has a single author.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering as AtomicOrdering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;

use rusqlite::{
    Connection, OpenFlags, OptionalExtension, Transaction, TransactionBehavior, params,
};
use uuid::Uuid;

use super::chain::Head;
use super::rows::{decode, encode, from_millis, millis, refused, touched};
use super::{
    EventDraft, EventQuery, EventSelector, Issue, Issued, Mutated, Mutation, Notification,
    NotificationState, Published, Publisher, RequestQuery, RequestRow, Settle, Store, StoreError,
    StoredRoles, UserChange, UserRecord, Verdict, outbox,
};
use crate::model::event::ChainReport;
use crate::model::{AuditEvent, Certificate, Request, State, Time, User};

pub(super) const DB_FILE: &str = "countersign.db";
/// Most jobs committed in one transaction.
const MAX_BATCH: usize = 512;

const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE requests (
    id TEXT PRIMARY KEY,
    user TEXT NOT NULL,
    state TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    pending_expires_ms INTEGER NOT NULL,
    access_ends_ms INTEGER,
    touched_ms INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX requests_state ON requests(state, id);
CREATE INDEX requests_user ON requests(user, id);
CREATE INDEX requests_touched ON requests(touched_ms);
CREATE INDEX requests_pending_due ON requests(pending_expires_ms) WHERE state = 'pending';
CREATE INDEX requests_access_due ON requests(access_ends_ms) WHERE state = 'approved';
CREATE TABLE request_roles (
    role TEXT NOT NULL,
    request_id TEXT NOT NULL,
    PRIMARY KEY (role, request_id)
) WITHOUT ROWID;
CREATE TABLE events (
    seq INTEGER PRIMARY KEY,
    time_ms INTEGER NOT NULL,
    type TEXT NOT NULL,
    user TEXT NOT NULL,
    request_id TEXT,
    body TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX events_time ON events(time_ms);
CREATE INDEX events_type_time ON events(type, time_ms);
CREATE INDEX events_user ON events(user, seq);
CREATE INDEX events_request ON events(request_id);
CREATE TABLE users (
    name TEXT PRIMARY KEY,
    roles TEXT NOT NULL,
    traits TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_ms INTEGER NOT NULL
);
CREATE TABLE roles (
    version INTEGER PRIMARY KEY AUTOINCREMENT,
    source_name TEXT NOT NULL,
    text TEXT NOT NULL,
    applied_ms INTEGER NOT NULL
);
CREATE TRIGGER events_append_only_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER events_append_only_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER requests_never_deleted BEFORE DELETE ON requests
BEGIN SELECT RAISE(ABORT, 'requests are never deleted'); END;
"#,
    r#"
ALTER TABLE requests ADD COLUMN review_owed INTEGER NOT NULL DEFAULT 0;
UPDATE requests SET review_owed = 1
 WHERE json_extract(body, '$.emergency') = 1
   AND json_extract(body, '$.post_incident_review') IS NULL
   AND state IN ('approved', 'returned', 'elapsed');
CREATE INDEX requests_review_owed ON requests(review_owed) WHERE review_owed = 1;
"#,
    // What an update did (return, withdraw, override…), so a scan can pick the
    // overrides from the index without reading every update. A body that is not
    // JSON (a damaged row) has no action rather than stopping the migration, so
    // `audit verify` can still open the store and name that row.
    r#"
ALTER TABLE events ADD COLUMN action TEXT
    GENERATED ALWAYS AS (CASE WHEN json_valid(body) THEN json_extract(body, '$.action') END) VIRTUAL;
CREATE INDEX events_action ON events(type, action, time_ms) WHERE action IS NOT NULL;
"#,
    // SSH certificates issued for approved requests: serials are the row ids, so
    // unique and increasing; kept forever like the requests they belong to. (IF NOT
    // EXISTS: a store taken back to an older user_version by hand still migrates.)
    r#"
CREATE TABLE IF NOT EXISTS certificates (
    serial INTEGER PRIMARY KEY,
    request_id TEXT NOT NULL,
    valid_before_ms INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS certificates_request ON certificates(request_id, serial);
CREATE INDEX IF NOT EXISTS certificates_live ON certificates(valid_before_ms);
CREATE TRIGGER IF NOT EXISTS certificates_never_updated BEFORE UPDATE ON certificates
BEGIN SELECT RAISE(ABORT, 'certificates are never changed'); END;
CREATE TRIGGER IF NOT EXISTS certificates_never_deleted BEFORE DELETE ON certificates
BEGIN SELECT RAISE(ABORT, 'certificates are never deleted'); END;
"#,
    super::outbox::MIGRATION,
    super::outbox::OWED_MIGRATION,
];

trait Job: Send {
    fn run(&mut self, tx: &Transaction, head: &mut Head) -> Result<Vec<Published>, String>;
    fn finish(self: Box<Self>, committed: Result<(), String>);
}

struct FnJob<T, F> {
    work: Option<F>,
    out: Option<Result<T, StoreError>>,
    reply: SyncSender<Result<T, StoreError>>,
}

impl<T, F> Job for FnJob<T, F>
where
    T: Send,
    F: FnOnce(&Transaction, &mut Head) -> Result<(T, Vec<Published>), StoreError> + Send,
{
    fn run(&mut self, tx: &Transaction, head: &mut Head) -> Result<Vec<Published>, String> {
        let Some(work) = self.work.take() else {
            return Err("job ran twice".into());
        };
        match work(tx, head) {
            Ok((value, published)) => {
                self.out = Some(Ok(value));
                Ok(published)
            }
            Err(err) => {
                let message = err.to_string();
                self.out = Some(Err(err));
                Err(message)
            }
        }
    }

    fn finish(mut self: Box<Self>, committed: Result<(), String>) {
        let result = match committed {
            Ok(()) => self.out.take().unwrap_or(Err(StoreError::Closed)),
            Err(why) => Err(StoreError::Conflict(format!("commit failed: {why}"))),
        };
        // The caller may have gone away; nothing to do then.
        let _ = self.reply.send(result);
    }
}

pub struct SqliteStore {
    path: PathBuf,
    readers: Mutex<Vec<Connection>>,
    jobs: Mutex<Option<SyncSender<Box<dyn Job>>>>,
    /// Jobs sent to the writer and not yet taken into a batch.
    waiting: Arc<AtomicUsize>,
    writer: Mutex<Option<JoinHandle<()>>>,
    publisher: Arc<OnceLock<Publisher>>,
    /// Set, once, when the writer can no longer write.
    failure: Arc<Mutex<Option<String>>>,
}

impl SqliteStore {
    /// Opens (creating if needed) the store in `data_dir` and applies migrations.
    pub fn open(data_dir: &Path) -> Result<SqliteStore, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|e| StoreError::DataDir {
            path: data_dir.to_path_buf(),
            why: e.to_string(),
        })?;
        super::lock::set_mode(data_dir, 0o700);
        let path = data_dir.join(DB_FILE);
        let mut conn = open_connection(&path)?;
        migrate(&mut conn)?;
        restrict_files(&path);
        let publisher: Arc<OnceLock<Publisher>> = Arc::new(OnceLock::new());
        let (jobs_tx, jobs_rx) = sync_channel::<Box<dyn Job>>(4096);
        let writer_publisher = publisher.clone();
        let failure: Arc<Mutex<Option<String>>> = Arc::default();
        let writer_failure = failure.clone();
        let waiting = Arc::new(AtomicUsize::new(0));
        let writer_waiting = waiting.clone();
        let writer = std::thread::Builder::new()
            .name("countersign-writer".into())
            .spawn(move || {
                let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    write_loop(
                        conn,
                        jobs_rx,
                        writer_publisher,
                        &writer_failure,
                        &writer_waiting,
                    )
                }));
                if ran.is_err() {
                    fail(&writer_failure, "the writer thread panicked".to_string());
                }
            })
            .map_err(|e| StoreError::DataDir {
                path: data_dir.to_path_buf(),
                why: format!("cannot start the writer thread: {e}"),
            })?;
        Ok(SqliteStore {
            path,
            readers: Mutex::new(Vec::new()),
            jobs: Mutex::new(Some(jobs_tx)),
            waiting,
            writer: Mutex::new(Some(writer)),
            publisher,
            failure,
        })
    }

    /// Opens a store that must already exist (for verification: a mistyped path must
    /// not pass as an empty, intact log).
    pub fn open_existing(data_dir: &Path) -> Result<SqliteStore, StoreError> {
        let path = data_dir.join(DB_FILE);
        if !path.is_file() {
            return Err(StoreError::DataDir {
                path: data_dir.to_path_buf(),
                why: format!("no countersign database ({DB_FILE}) there"),
            });
        }
        SqliteStore::open(data_dir)
    }

    /// `PRAGMA quick_check`: a database with damaged pages is refused at start
    /// rather than served until a listing trips over it.
    pub fn quick_check(&self) -> Result<(), StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare("PRAGMA quick_check(20)")?;
            let problems: Vec<String> = stmt
                .query_map([], |row| row.get::<_, String>(0))?
                .collect::<Result<_, _>>()?;
            if problems.len() == 1 && problems[0] == "ok" {
                return Ok(());
            }
            Err(StoreError::Corrupt(format!(
                "{} failed PRAGMA quick_check: {}; restore it from a backup (or inspect it with the sqlite3 shell) before starting the broker",
                self.path.display(),
                problems.join("; ")
            )))
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stops the writer after the jobs already queued; later writes fail with `Closed`.
    fn stop_writer(&self) {
        if let Ok(mut jobs) = self.jobs.lock() {
            jobs.take();
        }
        let handle = self.writer.lock().ok().and_then(|mut w| w.take());
        if let Some(handle) = handle {
            let _ = handle.join();
        }
    }

    fn write<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction, &mut Head) -> Result<(T, Vec<Published>), StoreError>
            + Send
            + 'static,
    {
        if let Some(why) = self.failure() {
            return Err(StoreError::Failed(why));
        }
        let sender = {
            let jobs = self.jobs.lock().map_err(|_| StoreError::Closed)?;
            jobs.clone().ok_or(StoreError::Closed)?
        };
        let (reply, answer) = sync_channel(1);
        let job: Box<dyn Job> = Box::new(FnJob {
            work: Some(work),
            out: None,
            reply,
        });
        self.waiting.fetch_add(1, AtomicOrdering::Relaxed);
        if sender.send(job).is_err() {
            self.waiting.fetch_sub(1, AtomicOrdering::Relaxed);
            return Err(StoreError::Closed);
        }
        answer.recv().map_err(|_| StoreError::Closed)?
    }

    fn read<T>(
        &self,
        work: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let conn = match self.readers.lock().ok().and_then(|mut pool| pool.pop()) {
            Some(conn) => conn,
            None => open_connection(&self.path)?,
        };
        let result = work(&conn);
        if let Ok(mut pool) = self.readers.lock()
            && pool.len() < 16
        {
            pool.push(conn);
        }
        result
    }

    /// A direct write for admin data (users, roles), outside the request writer so
    /// the admin CLI can run beside a live broker.
    pub(super) fn admin_write<T>(
        &self,
        work: impl FnOnce(&Transaction) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = open_connection(&self.path)?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let value = work(&tx)?;
        tx.commit()?;
        Ok(value)
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        self.stop_writer();
    }
}

fn open_connection(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // 16 MiB of page cache per connection (the default is 2 MiB): window scans read
    // hundreds of megabytes through it.
    conn.pragma_update(None, "cache_size", -16_384)?;
    Ok(conn)
}

/// The database and its WAL companions are readable by the broker's user only.
fn restrict_files(db: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut name = db.as_os_str().to_owned();
        name.push(suffix);
        super::lock::set_mode(Path::new(&name), 0o600);
    }
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let current: i64 = tx.pragma_query_value(None, "user_version", |row| row.get(0))?;
    if current as usize > MIGRATIONS.len() {
        return Err(StoreError::Corrupt(format!(
            "the database is at schema version {current}, newer than this binary knows ({}); upgrade countersign",
            MIGRATIONS.len()
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
    }
    tx.commit()?;
    Ok(())
}

/// Records the first reason the writer stopped being able to write.
fn fail(failure: &Mutex<Option<String>>, why: String) {
    let mut failure = failure.lock().unwrap_or_else(|p| p.into_inner());
    failure.get_or_insert(why);
}

/// Errors after which no later commit can be expected to succeed: the disk, the
/// file or the database itself is the problem, not one change.
fn is_fatal(err: &rusqlite::Error) -> bool {
    use rusqlite::ErrorCode as Code;
    matches!(
        err.sqlite_error_code(),
        Some(
            Code::DiskFull
                | Code::SystemIoFailure
                | Code::ReadOnly
                | Code::CannotOpen
                | Code::DatabaseCorrupt
                | Code::NotADatabase
                | Code::PermissionDenied
        )
    )
}

struct BatchError {
    message: String,
    fatal: bool,
}

impl From<rusqlite::Error> for BatchError {
    fn from(err: rusqlite::Error) -> Self {
        BatchError {
            fatal: is_fatal(&err),
            message: err.to_string(),
        }
    }
}

fn write_loop(
    mut conn: Connection,
    jobs: Receiver<Box<dyn Job>>,
    publisher: Arc<OnceLock<Publisher>>,
    failure: &Mutex<Option<String>>,
    waiting: &AtomicUsize,
) {
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        waiting.fetch_sub(batch.len(), AtomicOrdering::Relaxed);
        tracing::trace!(jobs = batch.len(), "committing a batch");
        match run_batch(&mut conn, &mut batch) {
            Ok(published) => {
                if let Some(publish) = publisher.get()
                    && !published.is_empty()
                {
                    publish(&published);
                }
                for job in batch {
                    job.finish(Ok(()));
                }
            }
            Err(BatchError { message, fatal }) => {
                tracing::error!("audit/request commit failed: {message}");
                if fatal {
                    fail(failure, message.clone());
                }
                for job in batch {
                    job.finish(Err(message.clone()));
                }
            }
        }
    }
}

fn run_batch(
    conn: &mut Connection,
    batch: &mut [Box<dyn Job>],
) -> Result<Vec<Published>, BatchError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut head = read_head(&tx)?;
    let mut published = Vec::new();
    for job in batch.iter_mut() {
        tx.execute_batch("SAVEPOINT job")?;
        let before = (head.seq, head.hash.clone());
        // A bug in one mutation must not take the writer, and every later write, down.
        let ran =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job.run(&tx, &mut head)))
                .unwrap_or_else(|_| Err("the change panicked; rolled back".to_string()));
        match ran {
            Ok(mut events) => {
                tx.execute_batch("RELEASE job")?;
                published.append(&mut events);
            }
            Err(_) => {
                tx.execute_batch("ROLLBACK TO job; RELEASE job")?;
                head.seq = before.0;
                head.hash = before.1;
            }
        }
    }
    tx.commit()?;
    Ok(published)
}

/// Sets the flag when dropped by a panicking thread.
struct StopOnPanic<'a>(&'a AtomicBool);

impl Drop for StopOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.store(true, AtomicOrdering::Relaxed);
        }
    }
}

/// How many threads decode a scan: the machine's cores, up to 8. Asked once.
fn decoders() -> usize {
    static DECODERS: OnceLock<usize> = OnceLock::new();
    *DECODERS.get_or_init(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .clamp(1, 8)
    })
}

/// Rows handed to a decoding thread at a time in window scans.
const DECODE_CHUNK: usize = 1024;

/// Feeds the JSON bodies of `rows` to `each`, decoded on every core while this
/// thread goes on reading: big window scans spend most of their time in JSON.
/// After a row that will not decode, reading stops (rows already handed out may
/// still be fed) and the scan reports that row's error.
fn decode_rows_in_parallel<T: serde::de::DeserializeOwned>(
    mut rows: rusqlite::Rows<'_>,
    each: &(dyn Fn(T) + Sync),
) -> Result<(), StoreError> {
    let workers = decoders();
    let (chunks, to_decode) = sync_channel::<Vec<String>>(workers * 2);
    // Each decoder holds the receiver: should they all die, sending fails rather
    // than waiting for ever.
    let to_decode = Arc::new(Mutex::new(to_decode));
    let failure: Mutex<Option<StoreError>> = Mutex::new(None);
    let stop = AtomicBool::new(false);
    let decode_chunks = |to_decode: Arc<Mutex<Receiver<Vec<String>>>>| {
        // Should `each` panic, the reader stops instead of feeding the others.
        let _stop_on_panic = StopOnPanic(&stop);
        loop {
            let chunk = match to_decode.lock() {
                Ok(receiver) => receiver.recv(),
                Err(_) => return,
            };
            let Ok(chunk) = chunk else { return };
            for body in &chunk {
                match decode(body) {
                    Ok(value) => each(value),
                    Err(err) => {
                        stop.store(true, AtomicOrdering::Relaxed);
                        if let Ok(mut failure) = failure.lock() {
                            failure.get_or_insert(err);
                        }
                        return;
                    }
                }
            }
        }
    };
    std::thread::scope(|scope| {
        let decoders: Vec<_> = (0..workers)
            .map(|_| {
                let to_decode = to_decode.clone();
                scope.spawn(move || decode_chunks(to_decode))
            })
            .collect();
        drop(to_decode);
        let read = (|| {
            let mut chunk = Vec::with_capacity(DECODE_CHUNK);
            while let Some(row) = rows.next()? {
                chunk.push(row.get::<_, String>(0)?);
                if chunk.len() == DECODE_CHUNK {
                    let full = std::mem::replace(&mut chunk, Vec::with_capacity(DECODE_CHUNK));
                    if stop.load(AtomicOrdering::Relaxed) || chunks.send(full).is_err() {
                        return Ok(());
                    }
                }
            }
            if !chunk.is_empty() {
                let _ = chunks.send(chunk);
            }
            Ok::<(), StoreError>(())
        })();
        drop(chunks);
        // Join every decoder (one that panicked and was left unjoined would panic
        // the scope).
        let mut panicked = None;
        for decoder in decoders {
            if let Err(panic) = decoder.join() {
                panicked.get_or_insert(panic);
            }
        }
        // A panic is a bug in the caller's `each`, not damage to the data: it goes
        // on up as the panic it was.
        if let Some(panic) = panicked {
            std::panic::resume_unwind(panic);
        }
        read?;
        match failure.lock().map(|mut failure| failure.take()) {
            Ok(Some(err)) => Err(err),
            _ => Ok(()),
        }
    })
}

fn save_request(tx: &Transaction, request: &Request, insert: bool) -> Result<(), StoreError> {
    let body = encode(request)?;
    let access_ends = request.access.as_ref().map(|a| millis(a.ends_at));
    if insert {
        tx.prepare_cached(
            "INSERT INTO requests (id, user, state, created_ms, pending_expires_ms, access_ends_ms, touched_ms, body, review_owed)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )?
        .execute(params![
            request.id.to_string(),
            request.user,
            request.state.as_str(),
            millis(request.created_at),
            millis(request.pending_expires_at),
            access_ends,
            millis(touched(request)),
            body,
            request.post_incident_review_owed()
        ])?;
        let mut roles = tx.prepare_cached(
            "INSERT OR IGNORE INTO request_roles (role, request_id) VALUES (?1, ?2)",
        )?;
        for role in &request.roles {
            roles.execute(params![role, request.id.to_string()])?;
        }
    } else {
        tx.prepare_cached(
            "UPDATE requests SET state = ?2, access_ends_ms = ?3, touched_ms = ?4, body = ?5, review_owed = ?6 WHERE id = ?1",
        )?
        .execute(params![
            request.id.to_string(),
            request.state.as_str(),
            access_ends,
            millis(touched(request)),
            body,
            request.post_incident_review_owed()
        ])?;
    }
    Ok(())
}

impl From<rusqlite::Error> for StoreError {
    fn from(err: rusqlite::Error) -> Self {
        StoreError::Database(err.to_string())
    }
}

/// The chain's head as the writer's transaction sees it.
pub(super) fn read_head(tx: &Transaction) -> rusqlite::Result<Head> {
    let mut stmt = tx.prepare_cached("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1")?;
    let mut rows = stmt.query([])?;
    Ok(match rows.next()? {
        Some(row) => Head {
            seq: row.get::<_, i64>(0)? as u64,
            hash: row.get(1)?,
        },
        None => Head::genesis(),
    })
}

/// Links `draft` onto the chain and stores it with the notifications it raises.
pub(super) fn append(
    tx: &Transaction,
    head: &mut Head,
    draft: EventDraft,
) -> Result<AuditEvent, StoreError> {
    let before = head.clone();
    let event = head.link(draft);
    let stored = (|| {
        let body = encode(&event)?;
        tx.prepare_cached(
            "INSERT INTO events (seq, time_ms, type, user, request_id, body, hash)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?
        .execute(params![
            event.seq as i64,
            event.time.timestamp_millis(),
            event.kind.as_str(),
            event.user,
            event.request_id.map(|id| id.to_string()),
            body,
            event.hash,
        ])?;
        outbox::queue_for_event(tx, &event)?;
        Ok::<(), StoreError>(())
    })();
    if let Err(err) = stored {
        *head = before;
        return Err(err);
    }
    Ok(event)
}

/// Up to this many candidate requests, a filtered event page is read through the
/// request index; beyond, by walking the log.
const FEW_CANDIDATES: i64 = 2000;

/// The ids of the requests `visible` might see, as SQL whose parameters are
/// numbered from `first`, in the order [`visible_values`] gives them.
fn candidates_sql(visible: &super::Visibility, first: usize) -> String {
    let mut sql = format!("SELECT id FROM requests WHERE user = ?{first}");
    if !visible.reviewable_roles.is_empty() {
        let marks: Vec<String> = (0..visible.reviewable_roles.len())
            .map(|i| format!("?{}", first + 1 + i))
            .collect();
        sql.push_str(&format!(
            " UNION SELECT request_id FROM request_roles WHERE role IN ({})",
            marks.join(", ")
        ));
    }
    sql
}

fn visible_values(visible: &super::Visibility) -> Vec<String> {
    std::iter::once(visible.user.clone())
        .chain(visible.reviewable_roles.iter().cloned())
        .collect()
}

/// The newest event's seq and hash (0 and the genesis hash for an empty log).
pub(super) fn head(conn: &Connection) -> Result<(u64, String), StoreError> {
    let head: Option<(i64, String)> = conn
        .prepare_cached("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1")?
        .query_row([], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()?;
    Ok(match head {
        Some((seq, hash)) => (seq as u64, hash),
        None => (0, crate::model::event::GENESIS_HASH.to_string()),
    })
}

fn load_request(conn: &Connection, id: Uuid) -> Result<Option<Request>, StoreError> {
    let body: Option<String> = conn
        .prepare_cached("SELECT body FROM requests WHERE id = ?1")?
        .query_row([id.to_string()], |row| row.get(0))
        .optional()?;
    body.map(|b| decode(&b)).transpose()
}

fn user_from_row(row: &rusqlite::Row) -> rusqlite::Result<(String, String, String)> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?))
}

fn decode_user((name, roles, traits): (String, String, String)) -> Result<User, StoreError> {
    Ok(User {
        name,
        roles: decode(&roles)?,
        traits: decode(&traits)?,
    })
}

impl Store for SqliteStore {
    fn user_by_token_hash(&self, token_hash: &str) -> Result<Option<User>, StoreError> {
        self.read(|conn| {
            conn.prepare_cached("SELECT name, roles, traits FROM users WHERE token_hash = ?1")?
                .query_row([token_hash], user_from_row)
                .optional()?
                .map(decode_user)
                .transpose()
        })
    }

    fn user(&self, name: &str) -> Result<Option<User>, StoreError> {
        self.read(|conn| {
            conn.prepare_cached("SELECT name, roles, traits FROM users WHERE name = ?1")?
                .query_row([name], user_from_row)
                .optional()?
                .map(decode_user)
                .transpose()
        })
    }

    fn add_user(&self, user: &User, token_hash: &str, now: Time) -> Result<(), StoreError> {
        let roles = encode(&user.roles)?;
        let traits = encode(&user.traits)?;
        self.admin_write(|tx| {
            let exists: bool = tx
                .query_row("SELECT 1 FROM users WHERE name = ?1", [&user.name], |_| Ok(true))
                .optional()?
                .unwrap_or(false);
            if exists {
                return Err(StoreError::Conflict(format!(
                    "user {:?} already exists (remove it first, or rotate its token)",
                    user.name
                )));
            }
            tx.execute(
                "INSERT INTO users (name, roles, traits, token_hash, created_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![user.name, roles, traits, token_hash, millis(now)],
            )?;
            Ok(())
        })
    }

    fn users(&self) -> Result<Vec<UserRecord>, StoreError> {
        self.read(|conn| {
            let mut stmt =
                conn.prepare("SELECT name, roles, traits, created_ms FROM users ORDER BY name")?;
            let rows =
                stmt.query_map([], |row| Ok((user_from_row(row)?, row.get::<_, i64>(3)?)))?;
            let mut out = Vec::new();
            for row in rows {
                let (fields, created) = row?;
                out.push(UserRecord {
                    user: decode_user(fields)?,
                    created_at: from_millis(created)?,
                });
            }
            Ok(out)
        })
    }

    fn change_user(
        &self,
        change: &UserChange,
        actor: &str,
        now: Time,
    ) -> Result<Option<User>, StoreError> {
        self.change_user_sqlite(change, actor, now)
    }

    fn remove_user(&self, name: &str) -> Result<bool, StoreError> {
        self.admin_write(|tx| Ok(tx.execute("DELETE FROM users WHERE name = ?1", [name])? > 0))
    }

    fn set_token(&self, name: &str, token_hash: &str) -> Result<bool, StoreError> {
        self.admin_write(|tx| {
            Ok(tx.execute(
                "UPDATE users SET token_hash = ?2 WHERE name = ?1",
                params![name, token_hash],
            )? > 0)
        })
    }

    fn roles(&self) -> Result<Option<StoredRoles>, StoreError> {
        self.read(|conn| {
            Ok(conn
                .prepare_cached(
                    "SELECT version, source_name, text FROM roles ORDER BY version DESC LIMIT 1",
                )?
                .query_row([], |row| {
                    Ok(StoredRoles {
                        version: row.get::<_, i64>(0)? as u64,
                        source_name: row.get(1)?,
                        text: row.get(2)?,
                    })
                })
                .optional()?)
        })
    }

    fn roles_version(&self) -> Result<u64, StoreError> {
        self.read(|conn| {
            let v: Option<i64> = conn
                .prepare_cached("SELECT MAX(version) FROM roles")?
                .query_row([], |row| row.get(0))?;
            Ok(v.unwrap_or(0) as u64)
        })
    }

    fn put_roles(&self, source_name: &str, text: &str, now: Time) -> Result<u64, StoreError> {
        self.admin_write(|tx| {
            tx.execute(
                "INSERT INTO roles (source_name, text, applied_ms) VALUES (?1, ?2, ?3)",
                params![source_name, text, millis(now)],
            )?;
            Ok(tx.last_insert_rowid() as u64)
        })
    }

    fn create_request(
        &self,
        request: Request,
        event: EventDraft,
    ) -> Result<AuditEvent, StoreError> {
        self.write(move |tx, head| {
            save_request(tx, &request, true)?;
            let event = append(tx, head, event.about(&request))?;
            Ok((
                event.clone(),
                vec![Published {
                    event,
                    request: Some(request),
                }],
            ))
        })
    }

    fn mutate_request(&self, id: Uuid, mutation: Mutation) -> Result<Mutated, StoreError> {
        self.write(move |tx, head| {
            let Some(mut request) = load_request(tx, id)? else {
                return Ok((
                    Err(super::Refusal::new(
                        crate::model::api::ErrorCode::NotFound,
                        format!("no request {id}"),
                    )),
                    Vec::new(),
                ));
            };
            let original = request.clone();
            match mutation(&mut request) {
                Verdict::Commit(draft) => {
                    save_request(tx, &request, false)?;
                    let event = append(tx, head, draft.about(&request))?;
                    Ok((
                        Ok((request.clone(), event.clone())),
                        vec![Published {
                            event,
                            request: Some(request),
                        }],
                    ))
                }
                Verdict::Refuse { refusal, record } => {
                    let mut published = Vec::new();
                    if let Some(draft) = record {
                        let draft = refused(draft, &original, refusal.code);
                        let event = append(tx, head, draft)?;
                        published.push(Published {
                            event,
                            request: Some(original),
                        });
                    }
                    Ok((Err(refusal), published))
                }
            }
        })
    }

    fn get_request(&self, id: Uuid) -> Result<Option<Request>, StoreError> {
        self.read(|conn| load_request(conn, id))
    }

    fn issue_certificate(&self, id: Uuid, issue: Issue) -> Result<Issued, StoreError> {
        self.write(move |tx, head| {
            let Some(request) = load_request(tx, id)? else {
                return Ok((
                    Err(super::Refusal::new(
                        crate::model::api::ErrorCode::NotFound,
                        format!("no request {id}"),
                    )),
                    Vec::new(),
                ));
            };
            let last: Option<i64> =
                tx.query_row("SELECT MAX(serial) FROM certificates", [], |row| row.get(0))?;
            let serial = last.unwrap_or(0) as u64 + 1;
            let (certificate, draft) = match issue(&request, serial) {
                Ok(issued) => issued,
                Err(refusal) => return Ok((Err(refusal), Vec::new())),
            };
            if certificate.serial != serial {
                return Err(StoreError::Conflict(format!(
                    "certificate serial {} is not the one allotted ({serial})",
                    certificate.serial
                )));
            }
            tx.execute(
                "INSERT INTO certificates (serial, request_id, valid_before_ms, body) VALUES (?1, ?2, ?3, ?4)",
                params![
                    serial as i64,
                    request.id.to_string(),
                    millis(certificate.valid_before),
                    encode(&certificate)?
                ],
            )?;
            let event = append(tx, head, draft.about(&request))?;
            Ok((
                Ok(certificate),
                vec![Published {
                    event,
                    request: Some(request),
                }],
            ))
        })
    }

    fn certificates(&self, request_id: Uuid) -> Result<Vec<Certificate>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT body FROM certificates WHERE request_id = ?1 ORDER BY serial",
            )?;
            let rows = stmt.query_map([request_id.to_string()], |row| row.get::<_, String>(0))?;
            let mut out = Vec::new();
            for body in rows {
                out.push(decode(&body?)?);
            }
            Ok(out)
        })
    }

    fn revoked_serials(&self, now: Time) -> Result<Vec<u64>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT c.serial FROM certificates c JOIN requests r ON r.id = c.request_id
                 WHERE c.valid_before_ms > ?1 AND r.state IN ('returned', 'revoked')
                 ORDER BY c.serial",
            )?;
            let rows = stmt.query_map([millis(now)], |row| row.get::<_, i64>(0))?;
            let mut out = Vec::new();
            for serial in rows {
                out.push(serial? as u64);
            }
            Ok(out)
        })
    }

    fn get_requests(&self, ids: &[Uuid]) -> Result<Vec<Request>, StoreError> {
        self.read(|conn| {
            let mut out = Vec::with_capacity(ids.len());
            for id in ids {
                if let Some(request) = load_request(conn, *id)? {
                    out.push(request);
                }
            }
            Ok(out)
        })
    }

    fn list_request_rows(&self, query: &RequestQuery) -> Result<Vec<RequestRow>, StoreError> {
        self.read(|conn| {
            let (mut sql, mut args) = listing("r.id, r.body", query, true);
            args.push(Box::new(query.limit.max(1) as i64));
            sql.push_str(&format!(" ORDER BY r.id DESC LIMIT ?{}", args.len()));
            let mut stmt = conn.prepare_cached(&sql)?;
            let params: Vec<&dyn rusqlite::ToSql> = args.iter().map(|a| a.as_ref()).collect();
            let rows = stmt.query_map(params.as_slice(), |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (id, body) = row?;
                let id = Uuid::parse_str(&id)
                    .map_err(|e| StoreError::Corrupt(format!("request id {id}: {e}")))?;
                out.push(RequestRow { id, body });
            }
            Ok(out)
        })
    }

    fn request_counts(&self) -> Result<Vec<(State, u64)>, StoreError> {
        self.read(|conn| {
            let mut stmt =
                conn.prepare_cached("SELECT state, COUNT(*) FROM requests GROUP BY state")?;
            let rows = stmt.query_map([], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (state, n) = row?;
                let state = state.parse::<State>().map_err(StoreError::Corrupt)?;
                out.push((state, n as u64));
            }
            Ok(out)
        })
    }

    fn write_queue_depth(&self) -> usize {
        self.waiting.load(AtomicOrdering::Relaxed)
    }

    fn nth_request_id(&self, query: &RequestQuery, n: usize) -> Result<Option<Uuid>, StoreError> {
        self.read(|conn| {
            let (mut sql, mut args) = listing("r.id", query, false);
            args.push(Box::new(n.saturating_sub(1) as i64));
            sql.push_str(&format!(
                " ORDER BY r.id DESC LIMIT 1 OFFSET ?{}",
                args.len()
            ));
            let mut stmt = conn.prepare_cached(&sql)?;
            let params: Vec<&dyn rusqlite::ToSql> = args.iter().map(|a| a.as_ref()).collect();
            let id: Option<String> = stmt
                .query_row(params.as_slice(), |row| row.get(0))
                .optional()?;
            id.map(|id| {
                Uuid::parse_str(&id)
                    .map_err(|e| StoreError::Corrupt(format!("request id {id}: {e}")))
            })
            .transpose()
        })
    }

    fn due(&self, now: Time) -> Result<Vec<Uuid>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT id FROM requests WHERE state = 'pending' AND pending_expires_ms <= ?1
                 UNION ALL
                 SELECT id FROM requests WHERE state = 'approved' AND access_ends_ms <= ?1",
            )?;
            let rows = stmt.query_map([millis(now)], |row| row.get::<_, String>(0))?;
            let mut out = Vec::new();
            for id in rows {
                let id = id?;
                out.push(
                    Uuid::parse_str(&id).map_err(|e| StoreError::Corrupt(format!("{id}: {e}")))?,
                );
            }
            Ok(out)
        })
    }

    fn scan_requests_since(
        &self,
        since: Time,
        each: &(dyn Fn(Request) + Sync),
    ) -> Result<(), StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare("SELECT body FROM requests WHERE touched_ms >= ?1")?;
            let rows = stmt.query([millis(since)])?;
            decode_rows_in_parallel(rows, each)
        })
    }

    fn scan_owed_post_incident_reviews(
        &self,
        each: &mut dyn FnMut(Request),
    ) -> Result<(), StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare("SELECT body FROM requests WHERE review_owed = 1")?;
            let mut rows = stmt.query([])?;
            while let Some(row) = rows.next()? {
                let body: String = row.get(0)?;
                each(decode(&body)?);
            }
            Ok(())
        })
    }

    fn append_event(&self, event: EventDraft) -> Result<AuditEvent, StoreError> {
        self.write(move |tx, head| {
            let event = append(tx, head, event)?;
            Ok((
                event.clone(),
                vec![Published {
                    event,
                    request: None,
                }],
            ))
        })
    }

    fn events(&self, query: &EventQuery) -> Result<Vec<AuditEvent>, StoreError> {
        self.read(|conn| {
            let mut sql = String::from("SELECT body FROM events");
            let mut args: Vec<Box<dyn rusqlite::ToSql>> = Vec::new();
            let mut conditions: Vec<String> = Vec::new();
            if let Some(kind) = query.kind {
                args.push(Box::new(kind.as_str()));
                conditions.push(format!("type = ?{}", args.len()));
            }
            if let Some(user) = &query.user {
                args.push(Box::new(user.clone()));
                conditions.push(format!("user = ?{}", args.len()));
            }
            if let Some(id) = query.request_id {
                args.push(Box::new(id.to_string()));
                conditions.push(format!("request_id = ?{}", args.len()));
            }
            if let Some(since) = query.since {
                args.push(Box::new(millis(since)));
                conditions.push(format!("time_ms >= ?{}", args.len()));
            }
            if let Some(until) = query.until {
                args.push(Box::new(millis(until)));
                conditions.push(format!("time_ms < ?{}", args.len()));
            }
            if let Some(after) = query.after_seq {
                args.push(Box::new(after.min(i64::MAX as u64) as i64));
                conditions.push(format!("seq > ?{}", args.len()));
            }
            if let Some(visible) = &query.visible_to {
                let values = visible_values(visible);
                // Few candidate requests: walk their events by the request index
                // and sort them. Many: walk the log by seq and test each row's
                // request id, without decoding it (sorting a big candidate set
                // for every page would cost more than the walk).
                let few =
                    conn.prepare_cached(&format!(
                        "SELECT count(*) FROM (SELECT 1 FROM ({}) LIMIT {})",
                        candidates_sql(visible, 1),
                        FEW_CANDIDATES + 1
                    ))?
                    .query_row(rusqlite::params_from_iter(values.iter()), |row| {
                        row.get::<_, i64>(0)
                    })? <= FEW_CANDIDATES;
                let column = if few { "request_id" } else { "+request_id" };
                let first = args.len() + 1;
                let mut condition = format!("{column} IN ({})", candidates_sql(visible, first));
                args.extend(
                    values
                        .into_iter()
                        .map(|v| Box::new(v) as Box<dyn rusqlite::ToSql>),
                );
                if visible.unattached {
                    condition = format!("({condition} OR request_id IS NULL)");
                }
                conditions.push(condition);
            }
            if !conditions.is_empty() {
                sql.push_str(" WHERE ");
                sql.push_str(&conditions.join(" AND "));
            }
            args.push(Box::new(query.limit.max(1) as i64));
            sql.push_str(&format!(" ORDER BY seq LIMIT ?{}", args.len()));
            let mut stmt = conn.prepare_cached(&sql)?;
            let params: Vec<&dyn rusqlite::ToSql> = args.iter().map(|a| a.as_ref()).collect();
            let rows = stmt.query_map(params.as_slice(), |row| row.get::<_, String>(0))?;
            let mut out = Vec::new();
            for body in rows {
                out.push(decode(&body?)?);
            }
            Ok(out)
        })
    }

    fn scan_events_since(
        &self,
        since: Time,
        select: Option<&[EventSelector]>,
        each: &(dyn Fn(AuditEvent) + Sync),
    ) -> Result<(), StoreError> {
        self.read(|conn| {
            let mut args: Vec<Box<dyn rusqlite::ToSql>> = vec![Box::new(millis(since))];
            let sql = match select {
                // Walk the log in seq order from the first event in the window: a
                // range of the primary key.
                None => "SELECT body FROM events
                  WHERE seq >= (SELECT COALESCE(MIN(seq), 0) FROM events WHERE time_ms >= ?1)
                    AND +time_ms >= ?1"
                    .to_string(),
                // Each selector reads only its own rows, through an index of type
                // (and action) and time; nothing else is read, let alone decoded.
                Some([]) => return Ok(()),
                Some(select) => {
                    let mut parts = Vec::new();
                    for (i, selector) in select.iter().enumerate() {
                        // An event picked twice would be fed twice.
                        let covered = select[..i].contains(selector)
                            || (selector.action.is_some()
                                && select.contains(&EventSelector::kind(selector.kind)));
                        if covered {
                            continue;
                        }
                        args.push(Box::new(selector.kind.as_str()));
                        let mut part = format!(
                            "SELECT body FROM events WHERE type = ?{} AND time_ms >= ?1",
                            args.len()
                        );
                        if let Some(action) = selector.action {
                            args.push(Box::new(action));
                            part.push_str(&format!(" AND action = ?{}", args.len()));
                        }
                        parts.push(part);
                    }
                    parts.join(" UNION ALL ")
                }
            };
            let mut stmt = conn.prepare(&sql)?;
            let params: Vec<&dyn rusqlite::ToSql> = args.iter().map(|a| a.as_ref()).collect();
            let rows = stmt.query(params.as_slice())?;
            decode_rows_in_parallel(rows, each)
        })
    }

    fn head_seq(&self) -> Result<u64, StoreError> {
        self.read(|conn| {
            let seq: Option<i64> = conn
                .prepare_cached("SELECT MAX(seq) FROM events")?
                .query_row([], |row| row.get(0))?;
            Ok(seq.unwrap_or(0) as u64)
        })
    }

    fn head(&self) -> Result<(u64, String), StoreError> {
        self.read(head)
    }

    fn authority_stamp(&self) -> Result<u64, StoreError> {
        use std::hash::{Hash, Hasher};
        self.read(|conn| {
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            let version: Option<i64> = conn
                .prepare_cached("SELECT MAX(version) FROM roles")?
                .query_row([], |row| row.get(0))?;
            version.hash(&mut hasher);
            let mut stmt = conn.prepare_cached(
                "SELECT name, roles, traits, token_hash FROM users ORDER BY name",
            )?;
            let mut rows = stmt.query([])?;
            while let Some(row) = rows.next()? {
                for i in 0..4 {
                    row.get_ref(i)?
                        .as_str()
                        .unwrap_or_default()
                        .hash(&mut hasher);
                }
            }
            Ok(hasher.finish())
        })
    }

    fn on_commit(&self, publish: Publisher) {
        let _ = self.publisher.set(publish);
    }

    fn close(&self) {
        self.stop_writer();
    }

    fn failure(&self) -> Option<String> {
        self.failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn verify_chain(&self) -> Result<ChainReport, StoreError> {
        self.read(|conn| Ok(super::verify::verify(conn, None)?.report()))
    }

    fn event(&self, seq: u64) -> Result<Option<AuditEvent>, StoreError> {
        self.read(|conn| {
            let body: Option<String> = conn
                .prepare_cached("SELECT body FROM events WHERE seq = ?1")?
                .query_row([seq.min(i64::MAX as u64) as i64], |row| row.get(0))
                .optional()?;
            body.map(|b| decode(&b)).transpose()
        })
    }

    fn set_notify_sinks(&self, names: &[String]) -> Result<(), StoreError> {
        let names = names.to_vec();
        self.write(move |tx, _| Ok((outbox::set_sinks(tx, &names)?, Vec::new())))
    }

    fn claim_notifications(
        &self,
        now: Time,
        lease: std::time::Duration,
        limit: usize,
    ) -> Result<Vec<Notification>, StoreError> {
        self.write(move |tx, _| Ok((outbox::claim(tx, now, lease, limit)?, Vec::new())))
    }

    fn settle_notifications(&self, settled: Vec<(u64, Settle)>) -> Result<(), StoreError> {
        self.write(move |tx, _| {
            for (id, settle) in settled {
                outbox::settle(tx, id, settle)?;
            }
            Ok(((), Vec::new()))
        })
    }

    fn notifications(
        &self,
        state: Option<NotificationState>,
        limit: usize,
    ) -> Result<Vec<Notification>, StoreError> {
        self.write(move |tx, _| Ok((outbox::list(tx, state, limit)?, Vec::new())))
    }

    fn notification_counts(&self) -> Result<Vec<(NotificationState, u64)>, StoreError> {
        self.read(outbox::counts)
    }

    fn retry_notification(&self, id: u64, now: Time) -> Result<bool, StoreError> {
        self.write(move |tx, _| Ok((outbox::retry(tx, id, now)?, Vec::new())))
    }

    fn queue_review_reminders(&self, request_ids: &[Uuid], now: Time) -> Result<usize, StoreError> {
        let ids = request_ids.to_vec();
        self.write(move |tx, _| Ok((outbox::queue_reminders(tx, &ids, now)?, Vec::new())))
    }
}

/// A listing's text search, parameter `?n` (lowercase): the requester, a role or
/// the reason contain it, or the id starts with it. `instr`, not `LIKE`, so `%`
/// and `_` are plain characters; a body that is not JSON has no reason to match.
/// The roles are read from the body as the reason is (SQLite keeps the parse):
/// `request_roles` is keyed by role first, so it cannot be looked up per request,
/// and searching it whole again for every window costs more than the window.
fn text_condition(n: usize) -> String {
    format!(
        "(instr(lower(r.user), ?{n}) > 0 \
         OR instr(lower(CASE WHEN json_valid(r.body) THEN json_extract(r.body, '$.reason') END), ?{n}) > 0 \
         OR EXISTS (SELECT 1 FROM json_each(CASE WHEN json_valid(r.body) THEN json_extract(r.body, '$.roles') END) WHERE instr(lower(value), ?{n}) > 0) \
         OR instr(r.id, ?{n}) = 1 OR instr(replace(r.id, '-', ''), ?{n}) = 1)"
    )
}

/// `SELECT columns FROM requests r …WHERE` for a listing query, and its parameters;
/// its text only when `text` (a window's bounds are read without it).
fn listing(
    columns: &str,
    query: &RequestQuery,
    text: bool,
) -> (String, Vec<Box<dyn rusqlite::ToSql>>) {
    let mut sql = format!("SELECT {columns} FROM requests r");
    let mut args: Vec<Box<dyn rusqlite::ToSql>> = Vec::new();
    let mut conditions: Vec<String> = Vec::new();
    if let Some(role) = &query.role {
        sql.push_str(" JOIN request_roles rr ON rr.request_id = r.id");
        args.push(Box::new(role.clone()));
        conditions.push(format!("rr.role = ?{}", args.len()));
    }
    if let Some(state) = query.state {
        args.push(Box::new(state.as_str()));
        conditions.push(format!("r.state = ?{}", args.len()));
    }
    if let Some(user) = &query.user {
        args.push(Box::new(user.clone()));
        conditions.push(format!("r.user = ?{}", args.len()));
    }
    if let Some(before) = query.before {
        args.push(Box::new(before.to_string()));
        conditions.push(format!("r.id < ?{}", args.len()));
    }
    if let Some(floor) = query.not_before {
        args.push(Box::new(floor.to_string()));
        conditions.push(format!("r.id >= ?{}", args.len()));
    }
    if let Some(needle) = query.text.as_ref().filter(|_| text) {
        args.push(Box::new(needle.clone()));
        conditions.push(text_condition(args.len()));
    }
    if !conditions.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&conditions.join(" AND "));
    }
    (sql, args)
}
