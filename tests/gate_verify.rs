//! DESIGN §12, `audit verify`: read-only, refuses what is not a log, and names each
//! tampering an intact hash chain alone would miss.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{BIN, TestBroker};

/// A stopped broker's database with some history: creates, reviews (one approved
/// request, so an access window), an override, a withdrawal, and a finding mark
/// as the last event.
async fn history() -> TestBroker {
    let mut b = TestBroker::start();
    let approved = b.create("bob", &["production-access"], "incident #1").await;
    let (status, _) = b.review("carrot", &approved, "approve", "ok #1").await;
    assert_eq!(status, 200);
    let overridden = b.create("bob", &["production-access"], "incident #2").await;
    let (status, _) = b
        .post(
            "vetinari",
            &format!("/v1/requests/{overridden}/resolve"),
            serde_json::json!({"state": "denied", "reason": "not now #2"}),
        )
        .await;
    assert_eq!(status, 200);
    let withdrawn = b.create("bob", &["production-access"], "incident #3").await;
    let (status, _) = b
        .post(
            "bob",
            &format!("/v1/requests/{withdrawn}/withdraw"),
            serde_json::json!({}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = b.review("bob", &approved, "approve", "self #1").await;
    assert_eq!(status, 403);
    // The broker marks only a finding it has: the override's.
    let key = format!("override:{overridden}:vetinari");
    let (status, body) = b
        .post(
            "ponder",
            "/v1/audit/findings/reviewed",
            serde_json::json!({"key": key, "note": "seen"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    b.kill();
    b
}

/// A copy of `from`'s database in a new directory, tampered with by `sql` (after
/// the append-only triggers are dropped, as a determined attacker would).
fn tampered(from: &Path, sql: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let source = rusqlite::Connection::open(from.join("countersign.db")).unwrap();
    source
        .execute_batch(&format!(
            "VACUUM INTO '{}'",
            dir.path().join("countersign.db").display()
        ))
        .unwrap();
    drop(source);
    let conn = rusqlite::Connection::open(dir.path().join("countersign.db")).unwrap();
    conn.execute_batch(&format!(
        "DROP TRIGGER events_append_only_update; DROP TRIGGER events_append_only_delete; {sql}"
    ))
    .unwrap();
    dir
}

fn verify(dir: &Path, extra: &[&str]) -> (bool, String) {
    let out = Command::new(BIN)
        .args(["audit", "verify", "--data-dir"])
        .arg(dir)
        .args(extra)
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn head(dir: &Path) -> String {
    let out = Command::new(BIN)
        .args(["audit", "head", "--data-dir"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn db_bytes(dir: &Path) -> Vec<u8> {
    std::fs::read(dir.join("countersign.db")).unwrap()
}

#[tokio::test]
async fn an_intact_log_verifies_read_only_and_its_head_can_be_expected() {
    let b = history().await;
    let copy = tampered(b.dir.path(), "");
    let before = db_bytes(copy.path());
    let recorded = head(copy.path());
    let (ok, out) = verify(copy.path(), &["--expect-head", &recorded]);
    assert!(ok, "{out}");
    assert!(out.contains("requests agree with the log"), "{out}");
    assert_eq!(
        db_bytes(copy.path()),
        before,
        "verify wrote to the database"
    );
    let mut listed: Vec<PathBuf> = std::fs::read_dir(copy.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    listed.sort();
    assert!(
        listed.iter().all(|p| !p.ends_with("broker.lock")),
        "{listed:?}"
    );
}

#[tokio::test]
async fn a_deleted_tail_is_caught_with_the_expected_head() {
    let b = history().await;
    let recorded = head(b.dir.path());
    let (seq, _) = recorded.split_once(':').unwrap();
    let copy = tampered(
        b.dir.path(),
        &format!("DELETE FROM events WHERE seq = {seq};"),
    );
    // The chain that is left is intact, and the mark that was cut touched no
    // request: only the recorded head can tell.
    let (ok, out) = verify(copy.path(), &[]);
    assert!(ok, "{out}");
    let (ok, out) = verify(copy.path(), &["--expect-head", &recorded]);
    assert!(!ok, "{out}");
    assert!(out.contains("tail is missing"), "{out}");
}

#[tokio::test]
async fn a_changed_indexed_column_is_named() {
    let b = history().await;
    // The first review (after the setup's user events and the first creation).
    let review: i64 = rusqlite::Connection::open(b.dir.path().join("countersign.db"))
        .unwrap()
        .query_row(
            "SELECT MIN(seq) FROM events WHERE type = 'access_request.review'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    for (column, sql) in [
        (
            "type",
            format!("UPDATE events SET type = 'access_request.expire' WHERE seq = {review};"),
        ),
        (
            "user",
            format!("UPDATE events SET user = 'mallory' WHERE seq = {review};"),
        ),
        (
            "time_ms",
            format!("UPDATE events SET time_ms = time_ms - 86400000 WHERE seq = {review};"),
        ),
        (
            "request_id",
            format!("UPDATE events SET request_id = NULL WHERE seq = {review};"),
        ),
    ] {
        let copy = tampered(b.dir.path(), &sql);
        let (ok, out) = verify(copy.path(), &[]);
        assert!(!ok, "{column}: {out}");
        assert!(
            out.contains(&format!("BROKEN at event {review}")),
            "{column}: {out}"
        );
        assert!(out.contains(&format!("{column} ")), "{column}: {out}");
    }
}

#[tokio::test]
async fn a_changed_request_row_is_named_against_the_replayed_log() {
    let b = history().await;
    for (field, sql) in [
        (
            "reason",
            "UPDATE requests SET body = json_set(body, '$.reason', 'routine') WHERE body LIKE '%incident #1%';",
        ),
        (
            "state",
            "UPDATE requests SET body = json_set(body, '$.state', 'pending'), state = 'pending' WHERE body LIKE '%incident #2%';",
        ),
        (
            "reviews",
            "UPDATE requests SET body = json_set(body, '$.reviews[0].reason', 'lgtm') WHERE body LIKE '%incident #1%';",
        ),
        (
            "resolve_reason",
            "UPDATE requests SET body = json_set(body, '$.resolve_reason', 'fine') WHERE body LIKE '%incident #2%';",
        ),
        (
            "access.ends_at",
            "UPDATE requests SET body = json_set(body, '$.access.ends_at', '2099-01-01T00:00:00Z') WHERE body LIKE '%incident #1%';",
        ),
    ] {
        let copy = tampered(b.dir.path(), sql);
        let (ok, out) = verify(copy.path(), &[]);
        assert!(!ok, "{field}: {out}");
        assert!(
            out.contains(&format!("{field} is")),
            "{field} not named: {out}"
        );
    }
}

#[test]
fn an_empty_or_missing_database_is_refused_and_left_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("countersign.db");
    std::fs::write(&db, b"").unwrap();
    let (ok, out) = verify(dir.path(), &[]);
    assert!(!ok, "{out}");
    assert!(out.contains("empty"), "{out}");
    assert_eq!(
        std::fs::metadata(&db).unwrap().len(),
        0,
        "verify wrote a schema"
    );
    let entries: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(entries.len(), 1, "verify created files");

    let missing = tempfile::tempdir().unwrap();
    let (ok, out) = verify(missing.path(), &[]);
    assert!(!ok);
    assert!(out.contains("no countersign database"), "{out}");
}
