//! Queries that change nothing.

use std::collections::HashMap;

use tokio_postgres::Client;
use tokio_postgres::types::ToSql;
use uuid::Uuid;

use super::super::rows::{decode, from_millis, millis};
use super::super::{
    EventQuery, EventSelector, RequestQuery, RequestRow, StoreError, StoredRoles, UserRecord,
};
use crate::model::{AuditEvent, Certificate, Request, Time, User};

/// Rows fetched per round trip by the window scans.
pub(super) const SCAN_PAGE: usize = 2000;

/// A query's parameters, built up as its conditions are.
#[derive(Default)]
pub(super) struct Args(Vec<Box<dyn ToSql + Sync + Send>>);

impl Args {
    /// Adds a parameter and returns its placeholder.
    pub fn push(&mut self, value: impl ToSql + Sync + Send + 'static) -> String {
        self.0.push(Box::new(value));
        format!("${}", self.0.len())
    }

    pub fn refs(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.0
            .iter()
            .map(|a| a.as_ref() as &(dyn ToSql + Sync))
            .collect()
    }
}

fn limit(n: usize) -> i64 {
    n.clamp(1, i64::MAX as usize) as i64
}

fn seq_param(seq: u64) -> i64 {
    seq.min(i64::MAX as u64) as i64
}

fn uuid(text: &str) -> Result<Uuid, StoreError> {
    Uuid::parse_str(text).map_err(|e| StoreError::Corrupt(format!("request id {text}: {e}")))
}

/// `column` is one of ours, never a caller's.
pub(super) async fn user_where(
    client: &deadpool_postgres::Client,
    column: &'static str,
    value: &str,
) -> Result<Option<User>, StoreError> {
    // Asked on every API call (the caller's token): prepared once per connection.
    let statement = client
        .prepare_cached(&format!(
            "SELECT name, roles, traits FROM users WHERE {column} = $1"
        ))
        .await?;
    let row = client.query_opt(&statement, &[&value]).await?;
    row.map(|row| {
        Ok(User {
            name: row.try_get(0)?,
            roles: decode(row.try_get(1)?)?,
            traits: decode(row.try_get(2)?)?,
        })
    })
    .transpose()
}

/// The token's user (if any) and the roles' version, in one round trip: asked on
/// every API call, prepared once per connection.
pub(super) async fn caller(
    client: &deadpool_postgres::Client,
    token_hash: &str,
) -> Result<(Option<User>, u64), StoreError> {
    let statement = client
        .prepare_cached(
            "SELECT u.name, u.roles, u.traits, (SELECT COALESCE(MAX(version), 0) FROM roles)
               FROM (VALUES (1)) AS one LEFT JOIN users u ON u.token_hash = $1",
        )
        .await?;
    let row = client.query_one(&statement, &[&token_hash]).await?;
    let version = row.try_get::<_, i64>(3)? as u64;
    let user = match row.try_get::<_, Option<String>>(0)? {
        Some(name) => Some(User {
            name,
            roles: decode(row.try_get(1)?)?,
            traits: decode(row.try_get(2)?)?,
        }),
        None => None,
    };
    Ok((user, version))
}

pub(super) async fn users(client: &Client) -> Result<Vec<UserRecord>, StoreError> {
    let rows = client
        .query(
            "SELECT name, roles, traits, created_ms FROM users ORDER BY name",
            &[],
        )
        .await?;
    rows.iter()
        .map(|row| {
            Ok(UserRecord {
                user: User {
                    name: row.try_get(0)?,
                    roles: decode(row.try_get(1)?)?,
                    traits: decode(row.try_get(2)?)?,
                },
                created_at: from_millis(row.try_get(3)?)?,
            })
        })
        .collect()
}

pub(super) async fn roles(client: &Client) -> Result<Option<StoredRoles>, StoreError> {
    let row = client
        .query_opt(
            "SELECT version, source_name, text FROM roles ORDER BY version DESC LIMIT 1",
            &[],
        )
        .await?;
    row.map(|row| {
        Ok(StoredRoles {
            version: row.try_get::<_, i64>(0)? as u64,
            source_name: row.try_get(1)?,
            text: row.try_get(2)?,
        })
    })
    .transpose()
}

pub(super) async fn request(client: &Client, id: Uuid) -> Result<Option<Request>, StoreError> {
    let row = client
        .query_opt(
            "SELECT body FROM requests WHERE id = $1",
            &[&id.to_string()],
        )
        .await?;
    row.map(|row| decode(row.try_get(0)?)).transpose()
}

/// The requests among `ids` that exist, in the order asked.
pub(super) async fn requests(client: &Client, ids: &[Uuid]) -> Result<Vec<Request>, StoreError> {
    let wanted: Vec<String> = ids.iter().map(Uuid::to_string).collect();
    let rows = client
        .query(
            "SELECT id, body FROM requests WHERE id = ANY($1)",
            &[&wanted],
        )
        .await?;
    let mut found: HashMap<String, Request> = HashMap::with_capacity(rows.len());
    for row in rows {
        found.insert(row.try_get(0)?, decode(row.try_get(1)?)?);
    }
    Ok(wanted.iter().filter_map(|id| found.remove(id)).collect())
}

pub(super) async fn request_rows(
    client: &Client,
    query: &RequestQuery,
) -> Result<Vec<RequestRow>, StoreError> {
    let (mut sql, mut args) = listing("r.id, r.body", query, true);
    sql.push_str(&format!(
        " ORDER BY r.id DESC LIMIT {}",
        args.push(limit(query.limit))
    ));
    let rows = client.query(&sql, &args.refs()).await?;
    rows.iter()
        .map(|row| {
            let id: String = row.try_get(0)?;
            Ok(RequestRow {
                id: uuid(&id)?,
                body: row.try_get(1)?,
            })
        })
        .collect()
}

/// The id of the `n`-th request the query lists, newest first, without its text.
pub(super) async fn nth_request_id(
    client: &Client,
    query: &RequestQuery,
    n: usize,
) -> Result<Option<Uuid>, StoreError> {
    let (mut sql, mut args) = listing("r.id", query, false);
    sql.push_str(&format!(
        " ORDER BY r.id DESC LIMIT 1 OFFSET {}",
        args.push(i64::try_from(n.saturating_sub(1)).unwrap_or(i64::MAX))
    ));
    let row = client.query_opt(&sql, &args.refs()).await?;
    row.map(|row| uuid(&row.try_get::<_, String>(0)?))
        .transpose()
}

/// `SELECT columns FROM requests r …WHERE` for a listing query, and its arguments;
/// its text only when `text`.
fn listing(columns: &str, query: &RequestQuery, text: bool) -> (String, Args) {
    let mut sql = format!("SELECT {columns} FROM requests r");
    let mut args = Args::default();
    let mut conditions = Vec::new();
    if let Some(role) = &query.role {
        sql.push_str(" JOIN request_roles rr ON rr.request_id = r.id");
        conditions.push(format!("rr.role = {}", args.push(role.clone())));
    }
    if let Some(state) = query.state {
        conditions.push(format!("r.state = {}", args.push(state.as_str())));
    }
    if let Some(user) = &query.user {
        conditions.push(format!("r.user_name = {}", args.push(user.clone())));
    }
    if let Some(before) = query.before {
        conditions.push(format!("r.id < {}", args.push(before.to_string())));
    }
    if let Some(floor) = query.not_before {
        conditions.push(format!("r.id >= {}", args.push(floor.to_string())));
    }
    if let Some(needle) = query.text.as_ref().filter(|_| text) {
        // `strpos`, not `LIKE`: `%` and `_` are plain characters here.
        let n = args.push(needle.clone());
        conditions.push(format!(
            "(strpos(lower(r.user_name), {n}) > 0 \
             OR strpos(lower(r.body::jsonb ->> 'reason'), {n}) > 0 \
             OR EXISTS (SELECT 1 FROM jsonb_array_elements_text(r.body::jsonb -> 'roles') AS role WHERE strpos(lower(role), {n}) > 0) \
             OR strpos(r.id, {n}) = 1 OR strpos(replace(r.id, '-', ''), {n}) = 1)"
        ));
    }
    if !conditions.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&conditions.join(" AND "));
    }
    (sql, args)
}

pub(super) async fn due(client: &Client, now: Time) -> Result<Vec<Uuid>, StoreError> {
    let rows = client
        .query(
            "SELECT id FROM requests WHERE state = 'pending' AND pending_expires_ms <= $1
             UNION ALL
             SELECT id FROM requests WHERE state = 'approved' AND access_ends_ms <= $1",
            &[&millis(now)],
        )
        .await?;
    rows.iter()
        .map(|row| uuid(&row.try_get::<_, String>(0)?))
        .collect()
}

/// One page of a window scan over requests, by id after `after`.
pub(super) async fn touched_page(
    client: &Client,
    since: Time,
    after: &str,
) -> Result<Vec<(String, String)>, StoreError> {
    let rows = client
        .query(
            "SELECT id, body FROM requests WHERE touched_ms >= $1 AND id > $2 ORDER BY id LIMIT $3",
            &[&millis(since), &after, &limit(SCAN_PAGE)],
        )
        .await?;
    rows.iter()
        .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
        .collect()
}

pub(super) async fn owed_reviews(client: &Client) -> Result<Vec<String>, StoreError> {
    let rows = client
        .query("SELECT body FROM requests WHERE review_owed", &[])
        .await?;
    rows.iter().map(|row| Ok(row.try_get(0)?)).collect()
}

pub(super) async fn certificates(
    client: &Client,
    request_id: Uuid,
) -> Result<Vec<Certificate>, StoreError> {
    let rows = client
        .query(
            "SELECT body FROM certificates WHERE request_id = $1 ORDER BY serial",
            &[&request_id.to_string()],
        )
        .await?;
    rows.iter().map(|row| decode(row.try_get(0)?)).collect()
}

pub(super) async fn revoked_serials(client: &Client, now: Time) -> Result<Vec<u64>, StoreError> {
    let rows = client
        .query(
            "SELECT c.serial FROM certificates c JOIN requests r ON r.id = c.request_id
             WHERE c.valid_before_ms > $1 AND r.state IN ('returned', 'revoked')
             ORDER BY c.serial",
            &[&millis(now)],
        )
        .await?;
    rows.iter()
        .map(|row| Ok(row.try_get::<_, i64>(0)? as u64))
        .collect()
}

pub(super) async fn events(
    client: &Client,
    query: &EventQuery,
) -> Result<Vec<AuditEvent>, StoreError> {
    let mut args = Args::default();
    let mut conditions = Vec::new();
    if let Some(kind) = query.kind {
        conditions.push(format!("type = {}", args.push(kind.as_str())));
    }
    if let Some(user) = &query.user {
        conditions.push(format!("user_name = {}", args.push(user.clone())));
    }
    if let Some(id) = query.request_id {
        conditions.push(format!("request_id = {}", args.push(id.to_string())));
    }
    if let Some(since) = query.since {
        conditions.push(format!("time_ms >= {}", args.push(millis(since))));
    }
    if let Some(until) = query.until {
        conditions.push(format!("time_ms < {}", args.push(millis(until))));
    }
    if let Some(after) = query.after_seq {
        conditions.push(format!("seq > {}", args.push(seq_param(after))));
    }
    if let Some(visible) = &query.visible_to {
        let user = args.push(visible.user.clone());
        let roles = args.push(visible.reviewable_roles.clone());
        let mut condition = format!(
            "request_id IN (SELECT id FROM requests WHERE user_name = {user}
                            UNION SELECT request_id FROM request_roles WHERE role = ANY({roles}))"
        );
        if visible.unattached {
            condition = format!("({condition} OR request_id IS NULL)");
        }
        conditions.push(condition);
    }
    let mut sql = String::from("SELECT body FROM events");
    if !conditions.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&conditions.join(" AND "));
    }
    sql.push_str(&format!(
        " ORDER BY seq LIMIT {}",
        args.push(limit(query.limit))
    ));
    let rows = client.query(&sql, &args.refs()).await?;
    rows.iter().map(|row| decode(row.try_get(0)?)).collect()
}

/// The selectors as (type, action) pairs, without those another already covers
/// (an event picked twice would be fed twice). `None`: every event.
pub(super) fn picks(select: Option<&[EventSelector]>) -> Option<Vec<(String, Option<String>)>> {
    let select = select?;
    let mut out = Vec::new();
    for (i, selector) in select.iter().enumerate() {
        let covered = select[..i].contains(selector)
            || (selector.action.is_some() && select.contains(&EventSelector::kind(selector.kind)));
        if !covered {
            out.push((
                selector.kind.as_str().to_string(),
                selector.action.map(str::to_string),
            ));
        }
    }
    Some(out)
}

/// One page of a window scan over events, by seq after `after`.
pub(super) async fn event_page(
    client: &Client,
    since: Time,
    picks: Option<&[(String, Option<String>)]>,
    after: i64,
) -> Result<Vec<(i64, String)>, StoreError> {
    let mut args = Args::default();
    let mut sql = format!(
        "SELECT seq, body FROM events WHERE time_ms >= {} AND seq > {}",
        args.push(millis(since)),
        args.push(after)
    );
    if let Some(picks) = picks {
        let alternatives: Vec<String> = picks
            .iter()
            .map(|(kind, action)| {
                let kind = args.push(kind.clone());
                match action {
                    Some(action) => {
                        format!("(type = {kind} AND action = {})", args.push(action.clone()))
                    }
                    None => format!("type = {kind}"),
                }
            })
            .collect();
        sql.push_str(&format!(" AND ({})", alternatives.join(" OR ")));
    }
    sql.push_str(&format!(
        " ORDER BY seq LIMIT {}",
        args.push(limit(SCAN_PAGE))
    ));
    let rows = client.query(&sql, &args.refs()).await?;
    rows.iter()
        .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
        .collect()
}

pub(super) async fn head_seq(client: &Client) -> Result<u64, StoreError> {
    let row = client
        .query_one("SELECT COALESCE(MAX(seq), 0) FROM events", &[])
        .await?;
    Ok(row.try_get::<_, i64>(0)? as u64)
}

pub(super) async fn head(client: &Client) -> Result<(u64, String), StoreError> {
    let row = client
        .query_opt(
            "SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1",
            &[],
        )
        .await?;
    Ok(match row {
        Some(row) => (row.try_get::<_, i64>(0)? as u64, row.try_get(1)?),
        None => (0, crate::model::event::GENESIS_HASH.to_string()),
    })
}

pub(super) async fn event(client: &Client, seq: u64) -> Result<Option<AuditEvent>, StoreError> {
    let row = client
        .query_opt("SELECT body FROM events WHERE seq = $1", &[&seq_param(seq)])
        .await?;
    row.map(|row| decode(row.try_get(0)?)).transpose()
}

pub(super) async fn authority_stamp(client: &Client) -> Result<u64, StoreError> {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    let version = client
        .query_one("SELECT COALESCE(MAX(version), 0) FROM roles", &[])
        .await?;
    version.try_get::<_, i64>(0)?.hash(&mut hasher);
    let rows = client
        .query(
            "SELECT name, roles, traits, token_hash FROM users ORDER BY name",
            &[],
        )
        .await?;
    for row in rows {
        for i in 0..4 {
            row.try_get::<_, String>(i)?.hash(&mut hasher);
        }
    }
    Ok(hasher.finish())
}
