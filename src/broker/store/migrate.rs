//! `admin migrate`: an SQLite broker's whole history copied into an empty
//! PostgreSQL database — users and token hashes, every applied role version,
//! requests, the audit log with its hashes as they are (the chain must verify on
//! the copy), certificates and the notification outbox — in one transaction, read
//! from one SQLite snapshot.

use std::path::Path;

use rusqlite::Connection;
use tokio_postgres::types::ToSql;
use tokio_postgres::{NoTls, Transaction};

use super::StoreError;

/// Rows per INSERT.
const BATCH: usize = 1000;

/// How much was copied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Copied {
    pub users: u64,
    pub role_versions: u64,
    pub requests: u64,
    pub events: u64,
    pub certificates: u64,
    pub notifications: u64,
}

/// Copies the store in `data_dir` into the (empty) PostgreSQL database at `url`.
/// Runs on a thread of its own, so any caller may wait for it.
pub fn copy(data_dir: &Path, url: &str) -> Result<Copied, StoreError> {
    std::thread::scope(|scope| {
        scope
            .spawn(|| copy_here(data_dir, url))
            .join()
            .unwrap_or_else(|_| Err(StoreError::Failed("the migration thread panicked".into())))
    })
}

fn copy_here(data_dir: &Path, url: &str) -> Result<Copied, StoreError> {
    // Brings an older source up to the current schema, as its broker would at
    // start, then reads it without writing.
    drop(super::SqliteStore::open_existing(data_dir)?);
    let mut source = super::verify::open_read_only(data_dir)?;
    // Creates the schema (or checks it is current) the way a broker would.
    super::postgres::PgStore::open(url)?;
    let config: tokio_postgres::Config = url
        .parse()
        .map_err(|e| StoreError::Database(format!("not a PostgreSQL URL: {e}")))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| StoreError::Failed(format!("cannot start a runtime: {e}")))?;
    let mut client = runtime.block_on(async {
        let (client, connection) = config.connect(NoTls).await?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok::<_, StoreError>(client)
    })?;
    let tx = runtime.block_on(client.transaction())?;
    let held: i64 = runtime
        .block_on(tx.query_one(
            "SELECT (SELECT count(*) FROM events) + (SELECT count(*) FROM requests) + (SELECT count(*) FROM users)",
            &[],
        ))?
        .try_get(0)?;
    if held > 0 {
        return Err(StoreError::Conflict(
            "the destination database already holds users, requests or events: migrate into an empty database".into(),
        ));
    }
    // One snapshot of the source for the whole copy.
    let snapshot = source.transaction()?;
    let copy = Copier {
        runtime: &runtime,
        tx: &tx,
        source: &snapshot,
    };
    let mut copied = Copied {
        users: copy.table(
            "SELECT name, roles, traits, token_hash, created_ms FROM users",
            "INSERT INTO users (name, roles, traits, token_hash, created_ms)
             SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[])",
            &[Kind::Text, Kind::Text, Kind::Text, Kind::Text, Kind::Int],
        )?,
        role_versions: copy.table(
            "SELECT version, source_name, text, applied_ms FROM roles ORDER BY version",
            "INSERT INTO roles (version, source_name, text, applied_ms)
             SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[])",
            &[Kind::Int, Kind::Text, Kind::Text, Kind::Int],
        )?,
        requests: copy.table(
            "SELECT id, user, state, created_ms, pending_expires_ms, access_ends_ms, touched_ms,
                    review_owed != 0, body FROM requests",
            "INSERT INTO requests (id, user_name, state, created_ms, pending_expires_ms,
                                   access_ends_ms, touched_ms, review_owed, body)
             SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[],
                                  $6::bigint[], $7::bigint[], $8::bool[], $9::text[])",
            &[
                Kind::Text,
                Kind::Text,
                Kind::Text,
                Kind::Int,
                Kind::Int,
                Kind::MaybeInt,
                Kind::Int,
                Kind::Bool,
                Kind::Text,
            ],
        )?,
        events: copy.table(
            "SELECT seq, time_ms, type, user, request_id, action, body, hash FROM events ORDER BY seq",
            "INSERT INTO events (seq, time_ms, type, user_name, request_id, action, body, hash)
             SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[],
                                  $6::text[], $7::text[], $8::text[])",
            &[
                Kind::Int,
                Kind::Int,
                Kind::Text,
                Kind::Text,
                Kind::MaybeText,
                Kind::MaybeText,
                Kind::Text,
                Kind::Text,
            ],
        )?,
        certificates: copy.table(
            "SELECT serial, request_id, valid_before_ms, body FROM certificates ORDER BY serial",
            "INSERT INTO certificates (serial, request_id, valid_before_ms, body)
             SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::text[])",
            &[Kind::Int, Kind::Text, Kind::Int, Kind::Text],
        )?,
        notifications: copy.table(
            "SELECT id, seq, request_id, topic, sink, state, attempts, created_ms, next_ms, done_ms,
                    last_error FROM notifications ORDER BY id",
            "INSERT INTO notifications (id, seq, request_id, topic, sink, state, attempts, created_ms,
                                        next_ms, done_ms, last_error)
             SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[],
                                  $6::text[], $7::int[], $8::bigint[], $9::bigint[], $10::bigint[],
                                  $11::text[])",
            &[
                Kind::Int,
                Kind::Int,
                Kind::Text,
                Kind::Text,
                Kind::Text,
                Kind::Text,
                Kind::Int4,
                Kind::Int,
                Kind::Int,
                Kind::MaybeInt,
                Kind::MaybeText,
            ],
        )?,
    };
    // Owed notifications not yet spread over the sinks travel as they are, with
    // the sinks they are owed to.
    copy.table(
        "SELECT name FROM notify_sinks",
        "INSERT INTO notify_sinks (name) SELECT * FROM unnest($1::text[])",
        &[Kind::Text],
    )?;
    copied.notifications += copy.table(
        "SELECT seq, request_id, topic, created_ms FROM notify_owed ORDER BY seq",
        "INSERT INTO notify_owed (seq, request_id, topic, created_ms)
         SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[])",
        &[Kind::Int, Kind::Text, Kind::Text, Kind::Int],
    )?;
    copy.table(
        "SELECT role, request_id FROM request_roles",
        "INSERT INTO request_roles (role, request_id) SELECT * FROM unnest($1::text[], $2::text[])",
        &[Kind::Text, Kind::Text],
    )?;
    // The identity columns go on from the copied numbers.
    runtime.block_on(tx.batch_execute(
        "SELECT setval(pg_get_serial_sequence('roles', 'version'), COALESCE(MAX(version), 0) + 1, false) FROM roles;
         SELECT setval(pg_get_serial_sequence('notifications', 'id'), COALESCE(MAX(id), 0) + 1, false) FROM notifications;",
    ))?;
    drop(snapshot);
    runtime.block_on(tx.commit())?;
    Ok(copied)
}

/// A column's type on both sides.
#[derive(Clone, Copy)]
enum Kind {
    Text,
    MaybeText,
    Int,
    Int4,
    MaybeInt,
    Bool,
}

/// One column's values for a batch.
enum Column {
    Text(Vec<String>),
    MaybeText(Vec<Option<String>>),
    Int(Vec<i64>),
    Int4(Vec<i32>),
    MaybeInt(Vec<Option<i64>>),
    Bool(Vec<bool>),
}

impl Column {
    fn new(kind: Kind) -> Column {
        match kind {
            Kind::Text => Column::Text(Vec::new()),
            Kind::MaybeText => Column::MaybeText(Vec::new()),
            Kind::Int => Column::Int(Vec::new()),
            Kind::Int4 => Column::Int4(Vec::new()),
            Kind::MaybeInt => Column::MaybeInt(Vec::new()),
            Kind::Bool => Column::Bool(Vec::new()),
        }
    }

    fn push(&mut self, row: &rusqlite::Row, i: usize) -> rusqlite::Result<()> {
        match self {
            Column::Text(v) => v.push(row.get(i)?),
            Column::MaybeText(v) => v.push(row.get(i)?),
            Column::Int(v) => v.push(row.get(i)?),
            Column::Int4(v) => v.push(row.get(i)?),
            Column::MaybeInt(v) => v.push(row.get(i)?),
            Column::Bool(v) => v.push(row.get(i)?),
        }
        Ok(())
    }

    fn as_sql(&self) -> &(dyn ToSql + Sync) {
        match self {
            Column::Text(v) => v,
            Column::MaybeText(v) => v,
            Column::Int(v) => v,
            Column::Int4(v) => v,
            Column::MaybeInt(v) => v,
            Column::Bool(v) => v,
        }
    }
}

struct Copier<'a> {
    runtime: &'a tokio::runtime::Runtime,
    tx: &'a Transaction<'a>,
    source: &'a Connection,
}

impl Copier<'_> {
    /// Copies what `select` reads into `insert`, in batches; the rows copied.
    fn table(&self, select: &str, insert: &str, kinds: &[Kind]) -> Result<u64, StoreError> {
        let mut stmt = self.source.prepare(select)?;
        let mut rows = stmt.query([])?;
        let mut total = 0u64;
        let mut batch: Vec<Column> = kinds.iter().map(|k| Column::new(*k)).collect();
        let mut in_batch = 0;
        loop {
            let row = rows.next()?;
            if let Some(row) = row {
                for (i, column) in batch.iter_mut().enumerate() {
                    column.push(row, i)?;
                }
                in_batch += 1;
            }
            let last = row.is_none();
            if in_batch == BATCH || (last && in_batch > 0) {
                let params: Vec<&(dyn ToSql + Sync)> = batch.iter().map(Column::as_sql).collect();
                self.runtime.block_on(self.tx.execute(insert, &params))?;
                total += in_batch as u64;
                in_batch = 0;
                batch = kinds.iter().map(|k| Column::new(*k)).collect();
            }
            if last {
                return Ok(total);
            }
        }
    }
}
