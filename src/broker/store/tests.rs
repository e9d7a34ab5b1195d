//! What only the SQLite backend does: its parallel decoding of scans and its
//! migrations. The contract every backend keeps is tests/store_conformance.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::TimeDelta;
use uuid::Uuid;

use super::*;
use crate::model::{Request, State, Threshold, Time};

fn t(secs: i64) -> Time {
    chrono::DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
}

fn request(user: &str, created: Time) -> Request {
    Request {
        id: Uuid::now_v7(),
        user: user.into(),
        roles: vec!["production-access".into()],
        granted_roles: vec!["production-access".into()],
        state: State::Pending,
        reason: "incident #47".into(),
        emergency: false,
        created_at: created,
        pending_expires_at: created + TimeDelta::hours(24),
        max_duration: None,
        estimate: None,
        access: None,
        thresholds: vec![Threshold::default()],
        role_thresholds: BTreeMap::from([("production-access".into(), vec![vec![0]])]),
        reviews: Vec::new(),
        resolved_at: None,
        resolve_reason: None,
        resolved_by: None,
        suggested_reviewers: Vec::new(),
        annotations: BTreeMap::new(),
        requester_annotations: BTreeMap::new(),
        request_prompt: None,
        post_incident_review: None,
    }
}

fn create(store: &SqliteStore, r: &Request) {
    store
        .create_request(r.clone(), crate::broker::lifecycle::created_event(r))
        .unwrap();
}

#[test]
fn scans_cover_many_chunks_and_stop_at_a_corrupt_row() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    let mut ids = std::collections::BTreeSet::new();
    // More rows than one decoding chunk, so several threads share the work.
    for i in 0..2500 {
        let r = request(if i % 3 == 0 { "bob" } else { "alice" }, t(i));
        ids.insert(r.id);
        create(&store, &r);
    }
    let seen = Mutex::new(Vec::new());
    store
        .scan_requests_since(t(0), &|r| seen.lock().unwrap().push(r.id))
        .unwrap();
    let seen = seen.into_inner().unwrap();
    assert_eq!(seen.len(), ids.len(), "each request once");
    assert_eq!(
        seen.into_iter().collect::<std::collections::BTreeSet<_>>(),
        ids
    );

    // Damage one row behind the store's back: the scan says so instead of hanging
    // or skipping it.
    let victim = *ids.iter().nth(1700).unwrap();
    let raw = rusqlite::Connection::open(dir.path().join("countersign.db")).unwrap();
    raw.execute(
        "UPDATE requests SET body = '{\"id\": 7' WHERE id = ?1",
        [victim.to_string()],
    )
    .unwrap();
    let err = store.scan_requests_since(t(0), &|_| {}).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
}

#[test]
fn a_panic_in_a_scan_callback_stays_a_panic_and_stops_the_scan() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    for i in 0..3000 {
        create(&store, &request("bob", t(i)));
    }
    let fed = AtomicUsize::new(0);
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        store.scan_requests_since(t(0), &|_| {
            if fed.fetch_add(1, Ordering::Relaxed) == 10 {
                panic!("a bug in the caller");
            }
        })
    }));
    let panic = outcome.expect_err("the panic reaches the caller");
    assert_eq!(panic.downcast_ref::<&str>(), Some(&"a bug in the caller"));
    assert!(
        fed.into_inner() < 3000,
        "the reader stopped instead of feeding every row"
    );
    // The store still answers.
    assert_eq!(store.head_seq().unwrap(), 3000);
}

#[test]
fn migration_3_copes_with_a_damaged_event_body() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = SqliteStore::open(dir.path()).unwrap();
        for i in 0..3 {
            create(&store, &request("bob", t(i)));
        }
        store.close();
    }
    // Take the file back to schema 2 with one event body that is not JSON, as a
    // damaged store from before migration 3 would be.
    let raw = rusqlite::Connection::open(dir.path().join("countersign.db")).unwrap();
    raw.execute_batch(
        "DROP INDEX events_action;
         ALTER TABLE events DROP COLUMN action;
         DROP TRIGGER events_append_only_update;
         UPDATE events SET body = '{\"seq\": 2' WHERE seq = 2;
         PRAGMA user_version = 2;",
    )
    .unwrap();
    drop(raw);
    let store = SqliteStore::open(dir.path()).expect("the migration runs past the damaged row");
    let report = store.verify_chain().unwrap();
    assert!(!report.ok);
    assert_eq!(report.broken_at, Some(2), "{report:?}");
}
