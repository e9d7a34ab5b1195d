//! `audit verify` on PostgreSQL: the events and requests are copied, page by
//! page, into a private SQLite file shaped as `verify` reads it, and the same
//! verifier runs over that copy, so both backends are judged by one set of checks.

use tokio_postgres::{Client, NoTls};

use super::super::StoreError;
use super::super::verify::{ExpectedHead, Verification};

/// Rows copied per round trip.
const PAGE: i64 = 5000;

pub(super) enum Page {
    Events { after: i64 },
    Requests { after: String },
}

/// seq, time_ms, type, user, request_id, body, hash
type EventRow = (i64, i64, String, String, Option<String>, String, String);

pub(super) enum Rows {
    Events(Vec<EventRow>),
    /// id, body
    Requests(Vec<(String, String)>),
}

pub(super) async fn fetch(client: &Client, page: Page) -> Result<Rows, StoreError> {
    match page {
        Page::Events { after } => {
            let rows = client
                .query(
                    "SELECT seq, time_ms, type, user_name, request_id, body, hash FROM events
                      WHERE seq > $1 ORDER BY seq LIMIT $2",
                    &[&after, &PAGE],
                )
                .await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                out.push((
                    row.try_get(0)?,
                    row.try_get(1)?,
                    row.try_get(2)?,
                    row.try_get(3)?,
                    row.try_get(4)?,
                    row.try_get(5)?,
                    row.try_get(6)?,
                ));
            }
            Ok(Rows::Events(out))
        }
        Page::Requests { after } => {
            let rows = client
                .query(
                    "SELECT id, body FROM requests WHERE id > $1 ORDER BY id LIMIT $2",
                    &[&after, &PAGE],
                )
                .await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                out.push((row.try_get(0)?, row.try_get(1)?));
            }
            Ok(Rows::Requests(out))
        }
    }
}

/// Copies everything `fetch` pages through into a scratch SQLite file, then
/// verifies it.
pub(super) fn verify_with(
    fetch: impl Fn(Page) -> Result<Rows, StoreError>,
    expect: Option<&ExpectedHead>,
) -> Result<Verification, StoreError> {
    let scratch = tempfile::tempdir().map_err(|e| StoreError::DataDir {
        path: std::env::temp_dir(),
        why: format!("cannot make a scratch directory to verify in: {e}"),
    })?;
    let mut conn = rusqlite::Connection::open(scratch.path().join("verify.db"))?;
    conn.execute_batch(
        "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;
         CREATE TABLE events (seq INTEGER PRIMARY KEY, time_ms INTEGER NOT NULL, type TEXT NOT NULL,
                              user TEXT NOT NULL, request_id TEXT, body TEXT NOT NULL, hash TEXT NOT NULL);
         CREATE TABLE requests (id TEXT PRIMARY KEY, body TEXT NOT NULL);",
    )?;
    let mut after = 0i64;
    loop {
        let Rows::Events(rows) = fetch(Page::Events { after })? else {
            return Err(StoreError::Failed("asked for events, got requests".into()));
        };
        let Some(last) = rows.last() else { break };
        after = last.0;
        let full = rows.len() as i64 == PAGE;
        let tx = conn.transaction()?;
        {
            let mut insert = tx.prepare(
                "INSERT INTO events (seq, time_ms, type, user, request_id, body, hash)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?;
            for (seq, time_ms, kind, user, request_id, body, hash) in &rows {
                insert.execute(rusqlite::params![
                    seq, time_ms, kind, user, request_id, body, hash
                ])?;
            }
        }
        tx.commit()?;
        if !full {
            break;
        }
    }
    let mut after = String::new();
    loop {
        let Rows::Requests(rows) = fetch(Page::Requests {
            after: after.clone(),
        })?
        else {
            return Err(StoreError::Failed("asked for requests, got events".into()));
        };
        let Some(last) = rows.last() else { break };
        after = last.0.clone();
        let full = rows.len() as i64 == PAGE;
        let tx = conn.transaction()?;
        {
            let mut insert = tx.prepare("INSERT INTO requests (id, body) VALUES (?1, ?2)")?;
            for (id, body) in &rows {
                insert.execute(rusqlite::params![id, body])?;
            }
        }
        tx.commit()?;
        if !full {
            break;
        }
    }
    super::super::verify::verify(&conn, expect)
}

/// A connection of its own, read-only in intent, to a database that must already
/// hold countersign's schema (a mistyped URL must not pass as an empty, intact log).
fn connect_existing(
    runtime: &tokio::runtime::Runtime,
    config: &tokio_postgres::Config,
) -> Result<Client, StoreError> {
    runtime.block_on(async {
        let (client, connection) = config.connect(NoTls).await?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        client
            .batch_execute("SET default_transaction_read_only = on")
            .await?;
        let row = client
            .query_one("SELECT to_regclass('events') IS NOT NULL", &[])
            .await?;
        if !row.try_get::<_, bool>(0)? {
            return Err(StoreError::Corrupt(
                "that database holds no countersign schema (no events table): there is no audit log to verify".into(),
            ));
        }
        Ok(client)
    })
}

fn small_runtime() -> Result<tokio::runtime::Runtime, StoreError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| StoreError::Failed(format!("cannot start a runtime: {e}")))
}

fn parse(url: &str) -> Result<tokio_postgres::Config, StoreError> {
    url.parse()
        .map_err(|e| StoreError::Database(format!("not a PostgreSQL URL: {e}")))
}

/// `audit verify --database postgres://…`.
pub fn verify(url: &str, expect: Option<&ExpectedHead>) -> Result<Verification, StoreError> {
    verify_config(parse(url)?, expect)
}

pub(super) fn verify_config(
    config: tokio_postgres::Config,
    expect: Option<&ExpectedHead>,
) -> Result<Verification, StoreError> {
    let runtime = small_runtime()?;
    let client = connect_existing(&runtime, &config)?;
    verify_with(|page| runtime.block_on(fetch(&client, page)), expect)
}

/// `audit head --database postgres://…`.
pub fn head(url: &str) -> Result<(u64, String), StoreError> {
    let runtime = small_runtime()?;
    let client = connect_existing(&runtime, &parse(url)?)?;
    runtime.block_on(super::reads::head(&client))
}
