//! `audit verify` over the database itself (DESIGN §12): the hash chain, the
//! indexed columns against each event's hashed body, the requests table against
//! the requests rebuilt by replaying the log, and optionally a head kept elsewhere
//! (a truncated tail leaves an intact chain; only a copy of the head shows it).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags, OptionalExtension};
use uuid::Uuid;

use super::StoreError;
use crate::model::event::{ChainReport, GENESIS_HASH};
use crate::model::{AuditEvent, EventType, Request, State, Time};

/// Problems listed before the rest are only counted.
const MAX_PROBLEMS: usize = 50;
/// Rows checked per parallel step.
const CHUNK: usize = 8192;

/// A head written down earlier: the log must still hold this event, unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedHead {
    pub seq: u64,
    pub hash: String,
}

impl std::str::FromStr for ExpectedHead {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let (seq, hash) = text
            .trim()
            .split_once(':')
            .ok_or_else(|| format!("{text:?}: give the head as SEQ:HASH"))?;
        let seq = seq
            .parse::<u64>()
            .map_err(|_| format!("{seq:?} is not an event number"))?;
        let hash = hash.to_ascii_lowercase();
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("{hash:?} is not a SHA-256 in hex"));
        }
        Ok(ExpectedHead { seq, hash })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    pub events: u64,
    pub head_seq: u64,
    pub head_hash: String,
    pub requests: u64,
    /// Every problem found, the chain's first broken link first; at most
    /// `MAX_PROBLEMS`, with `more` counting the rest.
    pub problems: Vec<String>,
    pub more: u64,
    /// The first event whose link is broken.
    pub broken_at: Option<u64>,
}

impl Verification {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }

    /// The shape `GET /v1/audit/verify` answers with.
    pub fn report(&self) -> ChainReport {
        ChainReport {
            ok: self.ok(),
            events: self.events,
            head: self.head_hash.clone(),
            broken_at: self.broken_at,
            problem: self.problems.first().cloned(),
        }
    }

    fn problem(&mut self, text: String) {
        if self.problems.len() < MAX_PROBLEMS {
            self.problems.push(text);
        } else {
            self.more += 1;
        }
    }
}

/// Opens the database in `data_dir` read-only, refusing a missing, empty or
/// foreign file rather than creating anything.
pub fn open_read_only(data_dir: &Path) -> Result<Connection, StoreError> {
    let path: PathBuf = data_dir.join(super::sqlite::DB_FILE);
    let refuse = |why: String| StoreError::DataDir {
        path: data_dir.to_path_buf(),
        why,
    };
    let meta = std::fs::metadata(&path)
        .map_err(|e| refuse(format!("no countersign database ({}): {e}", path.display())))?;
    if !meta.is_file() {
        return Err(refuse(format!("{} is not a file", path.display())));
    }
    if meta.len() == 0 {
        return Err(refuse(format!(
            "{} is empty (0 bytes): there is no audit log to verify",
            path.display()
        )));
    }
    let conn = Connection::open_with_flags(
        &path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(|e| refuse(format!("{} is not a database: {e}", path.display())))?;
    let has_events: Option<i64> = conn
        .query_row(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'events'",
            [],
            |row| row.get(0),
        )
        .optional()?;
    if version == 0 || has_events.is_none() {
        return Err(refuse(format!(
            "{} is not a countersign database (no schema)",
            path.display()
        )));
    }
    Ok(conn)
}

/// One row of the events table as stored, borrowed from its chunk.
struct Row<'a> {
    seq: i64,
    time_ms: i64,
    kind: &'a str,
    user: &'a str,
    request_id: Option<&'a str>,
    body: &'a str,
    hash: &'a str,
    prev_hash: &'a str,
}

type Span = std::ops::Range<usize>;

/// Where a row's text sits in its chunk's buffer.
struct RowAt {
    seq: i64,
    time_ms: i64,
    kind: Span,
    user: Span,
    request_id: Option<Span>,
    body: Span,
    hash: Span,
    prev_hash: Span,
}

/// Rows read together: their text in one buffer, and what checking them found.
/// Chunks go round between the threads and are reused, so a million rows cost a
/// few buffers, not six allocations each.
#[derive(Default)]
struct EventChunk {
    text: String,
    rows: Vec<RowAt>,
    checked: Vec<Result<Step, String>>,
}

impl EventChunk {
    fn put(&mut self, text: &str) -> Span {
        let start = self.text.len();
        self.text.push_str(text);
        start..self.text.len()
    }

    fn row<'a>(text: &'a str, at: &RowAt) -> Row<'a> {
        Row {
            seq: at.seq,
            time_ms: at.time_ms,
            kind: &text[at.kind.clone()],
            user: &text[at.user.clone()],
            request_id: at.request_id.clone().map(|r| &text[r]),
            body: &text[at.body.clone()],
            hash: &text[at.hash.clone()],
            prev_hash: &text[at.prev_hash.clone()],
        }
    }
}

/// Request rows read together, as `EventChunk`: (id, body) spans and what
/// comparing them with the replay found (id, problems, further ones counted).
#[derive(Default)]
struct RequestChunk {
    text: String,
    rows: Vec<(Span, Span)>,
    found: Vec<(Option<Uuid>, Vec<String>, u64)>,
}

impl RequestChunk {
    fn put(&mut self, text: &str) -> Span {
        let start = self.text.len();
        self.text.push_str(text);
        start..self.text.len()
    }
}

/// What replay needs of an event, once its row has been checked.
struct Step {
    kind: EventType,
    time: Time,
    user: String,
    request_id: Option<Uuid>,
    roles: Vec<String>,
    state: Option<State>,
    reason: Option<String>,
    action: Option<String>,
    decision: Option<String>,
    review_roles: Vec<String>,
    emergency: Option<bool>,
    outcome: Option<String>,
    access_ends_at: Option<Time>,
}

/// The row's own checks: its body decodes, its columns agree with the body, and
/// its hash links to the stored hash before it.
fn check_row(row: &Row) -> Result<Step, String> {
    let mut event: AuditEvent = serde_json::from_str(row.body)
        .map_err(|e| format!("event {}: the stored body does not decode: {e}", row.seq))?;
    let mut wrong = Vec::new();
    if event.seq as i64 != row.seq {
        wrong.push(format!("seq {} (body {})", row.seq, event.seq));
    }
    if event.time.timestamp_millis() != row.time_ms {
        wrong.push(format!("time_ms {} (body {})", row.time_ms, event.time));
    }
    if event.kind.as_str() != row.kind {
        wrong.push(format!(
            "type {:?} (body {:?})",
            row.kind,
            event.kind.as_str()
        ));
    }
    if event.user != row.user {
        wrong.push(format!("user {:?} (body {:?})", row.user, event.user));
    }
    let mut uuid_text = Uuid::encode_buffer();
    let body_request = event
        .request_id
        .map(|id| &*id.hyphenated().encode_lower(&mut uuid_text));
    if body_request != row.request_id {
        wrong.push(format!(
            "request_id {:?} (body {:?})",
            row.request_id, body_request
        ));
    }
    if event.hash != row.hash {
        wrong.push(format!(
            "hash {} (body {})",
            short(row.hash),
            short(&event.hash)
        ));
    }
    if !wrong.is_empty() {
        return Err(format!(
            "event {}: indexed columns disagree with its hashed body: {}",
            row.seq,
            wrong.join(", ")
        ));
    }
    let mut expected = [0u8; 64];
    // Cannot fail: 32 bytes are 64 hex digits.
    let _ = hex::encode_to_slice(event.chain_digest(row.prev_hash), &mut expected);
    if expected != row.hash.as_bytes() {
        return Err(format!(
            "event {}: stored hash {} does not match recomputed {}",
            row.seq,
            short(row.hash),
            short(std::str::from_utf8(&expected).unwrap_or(""))
        ));
    }
    // The extras replay needs are moved out of the event, not copied.
    let mut text = |key: &str| match event.fields.remove(key) {
        Some(serde_json::Value::String(text)) => Some(text),
        _ => None,
    };
    let (action, decision, outcome) = (text("action"), text("decision"), text("outcome"));
    let access_ends_at = text("access_ends_at").and_then(|t| crate::model::time::parse(&t));
    Ok(Step {
        kind: event.kind,
        time: event.time,
        request_id: event.request_id,
        state: event.state,
        action,
        decision,
        outcome,
        access_ends_at,
        review_roles: event
            .fields
            .remove("review_roles")
            .and_then(|v| serde_json::from_value(v).ok())
            .unwrap_or_default(),
        emergency: event.fields.get("emergency").and_then(|v| v.as_bool()),
        user: event.user,
        roles: event.roles,
        reason: event.reason,
    })
}

fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

/// A request as the log tells it.
#[derive(Debug, Default)]
struct Replayed {
    created: bool,
    user: String,
    roles: Vec<String>,
    reason: String,
    emergency: bool,
    created_at: Option<Time>,
    state: Option<State>,
    /// author, decision, reason, roles, time
    reviews: Vec<(String, String, String, Vec<String>, Time)>,
    resolved_at: Option<Time>,
    resolve_reason: Option<String>,
    resolved_by: Option<String>,
    access_starts_at: Option<Time>,
    access_ends_at: Option<Time>,
    returned_at: Option<Time>,
    /// author, outcome, notes, time
    post_incident: Option<(String, String, String, Time)>,
}

impl Replayed {
    fn apply(&mut self, step: Step) {
        let before = self.state;
        // A refused attempt records the state it left unchanged; everything else
        // records the state after it.
        if let Some(state) = step.state {
            self.state = Some(state);
        }
        let overridden = step.action.as_deref() == Some("override");
        if before == Some(State::Pending) && self.state != Some(State::Pending) {
            self.resolved_at = Some(step.time);
            if step.kind == EventType::Review || overridden {
                self.resolve_reason = step.reason.clone();
            }
            if overridden {
                self.resolved_by = Some(step.user.clone());
            }
            if self.state == Some(State::Approved) {
                self.access_starts_at = Some(step.time);
            }
        }
        // Returning and revoking both end the window early, at the event's time.
        if matches!(step.action.as_deref(), Some("return" | "revoke")) {
            self.returned_at = Some(step.time);
        }
        if step.access_ends_at.is_some() {
            self.access_ends_at = step.access_ends_at;
        }
        // Last, so the step's text is moved in rather than copied.
        match step.kind {
            EventType::Create => {
                self.created = true;
                self.user = step.user;
                self.roles = step.roles;
                self.reason = step.reason.unwrap_or_default();
                self.emergency = step.emergency.unwrap_or(false);
                self.created_at = Some(step.time);
            }
            EventType::Review => self.reviews.push((
                step.user,
                step.decision.unwrap_or_default(),
                step.reason.unwrap_or_default(),
                step.review_roles,
                step.time,
            )),
            EventType::PostIncidentReview => {
                self.post_incident = Some((
                    step.user,
                    step.outcome.unwrap_or_default(),
                    step.reason.unwrap_or_default(),
                    step.time,
                ))
            }
            _ => {}
        }
    }

    /// The fields of `stored` that disagree with the log (described only when
    /// `describe`; counted always).
    fn differences(&self, stored: &Request, describe: bool) -> Differences {
        let mut out = Differences {
            described: Vec::new(),
            count: 0,
            describe,
        };
        differ(&mut out, "user", &stored.user.as_str(), &self.user.as_str());
        differ(&mut out, "roles", &stored.roles, &self.roles);
        differ(
            &mut out,
            "reason",
            &stored.reason.as_str(),
            &self.reason.as_str(),
        );
        differ(&mut out, "emergency", &stored.emergency, &self.emergency);
        differ(
            &mut out,
            "created_at",
            &Some(stored.created_at),
            &self.created_at,
        );
        differ(&mut out, "state", &Some(stored.state), &self.state);
        let reviews: Vec<_> = stored
            .reviews
            .iter()
            .map(|r| {
                (
                    r.author.as_str(),
                    r.decision.as_str(),
                    r.reason.as_str(),
                    r.roles.as_slice(),
                    r.created_at,
                )
            })
            .collect();
        let replayed: Vec<_> = self
            .reviews
            .iter()
            .map(|(author, decision, reason, roles, at)| {
                (
                    author.as_str(),
                    decision.as_str(),
                    reason.as_str(),
                    roles.as_slice(),
                    *at,
                )
            })
            .collect();
        differ(&mut out, "reviews", &reviews, &replayed);
        differ(
            &mut out,
            "resolved_at",
            &stored.resolved_at,
            &self.resolved_at,
        );
        differ(
            &mut out,
            "resolve_reason",
            &stored.resolve_reason,
            &self.resolve_reason,
        );
        differ(
            &mut out,
            "resolved_by",
            &stored.resolved_by,
            &self.resolved_by,
        );
        let access = stored.access.as_ref();
        differ(
            &mut out,
            "access.starts_at",
            &access.map(|a| a.starts_at),
            &self.access_starts_at,
        );
        differ(
            &mut out,
            "access.returned_at",
            &access.and_then(|a| a.returned_at),
            &self.returned_at,
        );
        // Logs written before events carried the window's end cannot say it.
        if self.access_ends_at.is_some() {
            differ(
                &mut out,
                "access.ends_at",
                &access.map(|a| a.ends_at),
                &self.access_ends_at,
            );
        }
        let post = stored.post_incident_review.as_ref().map(|p| {
            (
                p.author.as_str(),
                match p.outcome {
                    crate::model::IncidentOutcome::Justified => "justified",
                    crate::model::IncidentOutcome::Unjustified => "unjustified",
                },
                p.notes.as_str(),
                p.created_at,
            )
        });
        let replayed_post = self
            .post_incident
            .as_ref()
            .map(|(a, o, n, t)| (a.as_str(), o.as_str(), n.as_str(), *t));
        differ(&mut out, "post_incident_review", &post, &replayed_post);
        out
    }
}

/// Disagreements between a request row and its replay.
struct Differences {
    described: Vec<String>,
    count: u64,
    /// Once the report has all the problems it lists, the rest are only counted.
    describe: bool,
}

/// Notes `field` when the table and the log disagree (formatted only then).
fn differ<T: PartialEq + std::fmt::Debug>(out: &mut Differences, field: &str, table: &T, log: &T) {
    if table != log {
        out.count += 1;
        if out.describe {
            out.described.push(format!(
                "{field} is {table:?} in the table but {log:?} in the log"
            ));
        }
    }
}

/// Reads, checks and consumes at once: `produce` fills a job with rows on the
/// calling thread (the connection stays there) and says whether it put any in;
/// `check` works through jobs on every core; `consume` takes them on one thread,
/// in the order they were read (the chain and the replay must go in order), and
/// the emptied jobs go back to be filled again.
fn pipeline<J: Default + Send>(
    mut produce: impl FnMut(&mut J) -> Result<bool, StoreError>,
    check: impl Fn(&mut J) + Sync,
    mut consume: impl FnMut(&mut J) + Send,
) -> Result<(), StoreError> {
    use std::sync::mpsc::{channel, sync_channel};
    use std::sync::{Arc, Mutex};
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 8);
    let (work_tx, work_rx) = sync_channel::<(usize, J)>(workers * 2);
    let (done_tx, done_rx) = sync_channel::<(usize, J)>(workers * 2);
    let (spare_tx, spare_rx) = channel::<J>();
    // Owned by the workers alone: should they all die, sending fails, not blocks.
    let work_rx = Arc::new(Mutex::new(work_rx));
    std::thread::scope(|scope| {
        let check = &check;
        for _ in 0..workers {
            let (work_rx, done_tx) = (work_rx.clone(), done_tx.clone());
            scope.spawn(move || {
                loop {
                    let job = match work_rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    let Ok((n, mut job)) = job else {
                        return;
                    };
                    check(&mut job);
                    if done_tx.send((n, job)).is_err() {
                        return;
                    }
                }
            });
        }
        drop((work_rx, done_tx));
        let consumer = scope.spawn(move || {
            let mut waiting = std::collections::BTreeMap::new();
            let mut next = 0;
            for (n, job) in done_rx {
                waiting.insert(n, job);
                while let Some(mut job) = waiting.remove(&next) {
                    consume(&mut job);
                    let _ = spare_tx.send(job);
                    next += 1;
                }
            }
        });
        let produced = (|| {
            for n in 0.. {
                let mut job = spare_rx.try_recv().unwrap_or_default();
                if !produce(&mut job)? || work_tx.send((n, job)).is_err() {
                    break;
                }
            }
            Ok(())
        })();
        drop(work_tx);
        if let Err(panic) = consumer.join() {
            std::panic::resume_unwind(panic);
        }
        produced
    })
}

/// Verifies everything `conn` holds; `expect` is a head recorded earlier.
pub fn verify(
    conn: &Connection,
    expect: Option<&ExpectedHead>,
) -> Result<Verification, StoreError> {
    let mut report = Verification {
        events: 0,
        head_seq: 0,
        head_hash: GENESIS_HASH.to_string(),
        requests: 0,
        problems: Vec::new(),
        more: 0,
        broken_at: None,
    };
    let mut replayed: HashMap<Uuid, Replayed> = HashMap::new();
    let mut expected_seq = 1u64;
    let mut prev_hash = GENESIS_HASH.to_string();
    let mut expected_hash_seen = None;
    let mut stmt = conn.prepare(
        "SELECT seq, time_ms, type, user, request_id, body, hash FROM events ORDER BY seq",
    )?;
    let mut rows = stmt.query([])?;
    let read = |chunk: &mut EventChunk| -> Result<bool, StoreError> {
        chunk.text.clear();
        chunk.rows.clear();
        while chunk.rows.len() < CHUNK {
            let Some(row) = rows.next()? else {
                break;
            };
            let text = |i: usize| row.get_ref(i).and_then(|v| Ok(v.as_str()?));
            let at = RowAt {
                seq: row.get(0)?,
                time_ms: row.get(1)?,
                kind: chunk.put(text(2)?),
                user: chunk.put(text(3)?),
                request_id: row
                    .get_ref(4)
                    .and_then(|v| Ok(v.as_str_or_null()?))?
                    .map(|id| chunk.put(id)),
                body: chunk.put(text(5)?),
                prev_hash: chunk.put(&prev_hash),
                hash: chunk.put(text(6)?),
            };
            prev_hash.clear();
            prev_hash.push_str(&chunk.text[at.hash.clone()]);
            chunk.rows.push(at);
        }
        Ok(!chunk.rows.is_empty())
    };
    let check = |chunk: &mut EventChunk| {
        let EventChunk {
            text,
            rows,
            checked,
        } = chunk;
        checked.clear();
        checked.extend(rows.iter().map(|at| check_row(&EventChunk::row(text, at))));
    };
    let replay = |chunk: &mut EventChunk| {
        for (at, step) in chunk.rows.iter().zip(chunk.checked.drain(..)) {
            let row = EventChunk::row(&chunk.text, at);
            let seq = row.seq as u64;
            report.events += 1;
            report.head_seq = seq;
            if expect.is_some_and(|e| e.seq == seq) {
                expected_hash_seen = Some(row.hash.to_string());
            }
            if seq != expected_seq && report.broken_at.is_none() {
                report.broken_at = Some(seq);
                report.problem(format!(
                    "expected event {expected_seq} but found {seq}: events are missing"
                ));
            }
            expected_seq = seq + 1;
            match step {
                Ok(step) => {
                    if let Some(id) = step.request_id {
                        replayed.entry(id).or_default().apply(step);
                    }
                }
                Err(problem) => {
                    report.broken_at.get_or_insert(seq);
                    report.problem(problem);
                }
            }
        }
        if let Some(last) = chunk.rows.last() {
            report.head_hash.clear();
            report.head_hash.push_str(&chunk.text[last.hash.clone()]);
        }
    };
    pipeline(read, check, replay)?;
    drop(rows);
    if let Some(expect) = expect {
        match expected_hash_seen {
            None => report.problem(format!(
                "the log ends at event {} but head {}:{} was recorded: its tail is missing",
                report.head_seq,
                expect.seq,
                short(&expect.hash)
            )),
            Some(hash) if hash != expect.hash => report.problem(format!(
                "event {} has hash {} but {} was recorded: the log was rewritten",
                expect.seq,
                short(&hash),
                short(&expect.hash)
            )),
            Some(_) => {}
        }
    }
    compare_requests(conn, &mut replayed, &mut report)?;
    Ok(report)
}

/// Every request row against its replay, and every replayed request against the
/// table.
fn compare_requests(
    conn: &Connection,
    replayed: &mut HashMap<Uuid, Replayed>,
    report: &mut Verification,
) -> Result<(), StoreError> {
    let mut stmt = conn.prepare("SELECT id, body FROM requests")?;
    let mut rows = stmt.query([])?;
    let table = &*replayed;
    // Set once the report lists all it will: later differences are only counted.
    let listed_all = std::sync::atomic::AtomicBool::new(report.problems.len() >= MAX_PROBLEMS);
    let compare = |id: &str, body: &str| -> (Option<Uuid>, Vec<String>, u64) {
        let Ok(uuid) = Uuid::parse_str(id) else {
            return (
                None,
                vec![format!("request row {id:?}: not a request id")],
                0,
            );
        };
        let stored: Request = match serde_json::from_str(body) {
            Ok(request) => request,
            Err(e) => {
                return (
                    Some(uuid),
                    vec![format!("request {id}: body does not decode: {e}")],
                    0,
                );
            }
        };
        let mut problems = Vec::new();
        if stored.id != uuid {
            problems.push(format!("request {id}: its body says it is {}", stored.id));
        }
        let mut uncounted = 0;
        match table.get(&uuid) {
            Some(replay) if replay.created => {
                let describe = !listed_all.load(std::sync::atomic::Ordering::Relaxed);
                let found = replay.differences(&stored, describe);
                for difference in found.described {
                    problems.push(format!("request {id}: {difference}"));
                }
                if !describe {
                    uncounted = found.count;
                }
            }
            _ => problems.push(format!(
                "request {id} is in the table but the log never created it"
            )),
        }
        (Some(uuid), problems, uncounted)
    };
    let read = |chunk: &mut RequestChunk| -> Result<bool, StoreError> {
        chunk.text.clear();
        chunk.rows.clear();
        while chunk.rows.len() < CHUNK {
            let Some(row) = rows.next()? else {
                break;
            };
            let text = |i: usize| row.get_ref(i).and_then(|v| Ok(v.as_str()?));
            let id = chunk.put(text(0)?);
            let body = chunk.put(text(1)?);
            chunk.rows.push((id, body));
        }
        Ok(!chunk.rows.is_empty())
    };
    let check = |chunk: &mut RequestChunk| {
        let RequestChunk { text, rows, found } = chunk;
        found.clear();
        found.extend(
            rows.iter()
                .map(|(id, body)| compare(&text[id.clone()], &text[body.clone()])),
        );
    };
    let mut seen = Vec::new();
    let note = |chunk: &mut RequestChunk| {
        for (id, problems, uncounted) in chunk.found.drain(..) {
            report.requests += 1;
            seen.extend(id);
            for problem in problems {
                report.problem(problem);
            }
            report.more += uncounted;
        }
        if report.problems.len() >= MAX_PROBLEMS {
            listed_all.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    };
    pipeline(read, check, note)?;
    for id in seen {
        if let Some(replay) = replayed.get_mut(&id) {
            // Seen: what is left afterwards is in the log only.
            replay.created = false;
            replay.user.clear();
        }
    }
    let mut missing: Vec<_> = replayed
        .iter()
        .filter(|(_, r)| r.created)
        .map(|(id, _)| *id)
        .collect();
    missing.sort();
    for id in missing {
        report.problem(format!(
            "request {id} was created in the log but is missing from the requests table"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expected_heads_parse_and_refuse_garbage() {
        let hash = "a".repeat(64);
        let head: ExpectedHead = format!("12:{hash}").parse().unwrap();
        assert_eq!(head.seq, 12);
        assert!("12".parse::<ExpectedHead>().is_err());
        assert!("x:abc".parse::<ExpectedHead>().is_err());
        assert!(
            format!("3:{}", "g".repeat(64))
                .parse::<ExpectedHead>()
                .is_err()
        );
    }
}
