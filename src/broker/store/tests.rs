//! The SQLite store on its own: round trips, refusals recorded, chain, due, scans.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::TimeDelta;
use uuid::Uuid;

use super::*;
use crate::model::api::ErrorCode;
use crate::model::{Access, AuditEvent, Request, State, Threshold, Time};

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
fn requests_round_trip_and_page_newest_first() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    let mut ids = Vec::new();
    for i in 0..7 {
        let r = request(if i % 2 == 0 { "bob" } else { "alice" }, t(i));
        create(&store, &r);
        assert_eq!(store.get_request(r.id).unwrap().unwrap(), r);
        ids.push(r.id);
    }
    let page = store
        .list_requests(&RequestQuery {
            limit: 3,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(
        page.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![ids[6], ids[5], ids[4]]
    );
    let next = store
        .list_requests(&RequestQuery {
            limit: 3,
            before: Some(ids[4]),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(next[0].id, ids[3]);
    let bobs = store
        .list_requests(&RequestQuery {
            user: Some("bob".into()),
            limit: 100,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(bobs.len(), 4);
    let by_role = store
        .list_requests(&RequestQuery {
            role: Some("production-access".into()),
            limit: 100,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(by_role.len(), 7);
    let none = store
        .list_requests(&RequestQuery {
            role: Some("admin".into()),
            limit: 100,
            ..Default::default()
        })
        .unwrap();
    assert!(none.is_empty());
}

#[test]
fn mutations_commit_or_refuse_and_refusals_can_be_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    let r = request("bob", t(0));
    create(&store, &r);
    let done = store
        .mutate_request(
            r.id,
            Box::new(|req| {
                req.state = State::Withdrawn;
                req.resolved_at = Some(t(5));
                Verdict::Commit(
                    EventDraft::new(EventType::Update, "bob", t(5)).field("action", "withdraw"),
                )
            }),
        )
        .unwrap();
    let (saved, event) = done.unwrap();
    assert_eq!(saved.state, State::Withdrawn);
    assert_eq!((event.seq, event.state), (2, Some(State::Withdrawn)));
    let refused = store
        .mutate_request(
            r.id,
            Box::new(|req| {
                req.state = State::Approved; // must not be saved
                Verdict::Refuse {
                    refusal: Refusal::new(ErrorCode::NotPending, "already withdrawn"),
                    record: Some(EventDraft::new(EventType::ReviewRefused, "carrot", t(6))),
                }
            }),
        )
        .unwrap();
    assert_eq!(refused.unwrap_err().code, ErrorCode::NotPending);
    assert_eq!(
        store.get_request(r.id).unwrap().unwrap().state,
        State::Withdrawn
    );
    let events = store
        .events(&EventQuery {
            limit: 10,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(events.len(), 3);
    assert_eq!(events[2].kind, EventType::ReviewRefused);
    assert_eq!(events[2].field_str("error"), Some("not_pending"));
    assert_eq!(events[2].state, Some(State::Withdrawn));
    let missing = store
        .mutate_request(
            Uuid::now_v7(),
            Box::new(|_| unreachable!("no request to show")),
        )
        .unwrap();
    assert_eq!(missing.unwrap_err().code, ErrorCode::NotFound);
    assert!(store.verify_chain().unwrap().ok);
}

#[test]
fn due_finds_expired_pending_and_ended_access() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    let pending = request("bob", t(0));
    let mut approved = request("alice", t(0));
    approved.state = State::Approved;
    approved.access = Some(Access {
        starts_at: t(10),
        ends_at: t(100),
        returned_at: None,
    });
    create(&store, &pending);
    create(&store, &approved);
    assert!(store.due(t(50)).unwrap().is_empty());
    assert_eq!(store.due(t(100)).unwrap(), vec![approved.id]);
    let both = store.due(t(24 * 3600)).unwrap();
    assert_eq!(both.len(), 2);
}

#[test]
fn events_filter_and_scans_respect_windows() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    for i in 0..5 {
        create(&store, &request("bob", t(i * 100)));
    }
    store
        .append_event(EventDraft::new(
            EventType::FindingReviewed,
            "carrot",
            t(450),
        ))
        .unwrap();
    let since = store
        .events(&EventQuery {
            since: Some(t(200)),
            limit: 100,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(since.len(), 4);
    let kind = store
        .events(&EventQuery {
            kind: Some(EventType::FindingReviewed),
            limit: 100,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(kind.len(), 1);
    let scanned = AtomicUsize::new(0);
    store
        .scan_requests_since(t(250), &|_| {
            scanned.fetch_add(1, Ordering::Relaxed);
        })
        .unwrap();
    assert_eq!(scanned.into_inner(), 2);
    let seen = AtomicUsize::new(0);
    store
        .scan_events_since(t(300), None, &|_| {
            seen.fetch_add(1, Ordering::Relaxed);
        })
        .unwrap();
    assert_eq!(seen.into_inner(), 3);
    assert_eq!(store.head_seq().unwrap(), 6);
}

/// Collects what a scan hands out, from whichever threads it uses.
fn collect_events(
    store: &SqliteStore,
    since: Time,
    select: Option<&[EventSelector]>,
) -> Vec<AuditEvent> {
    let out = Mutex::new(Vec::new());
    store
        .scan_events_since(since, select, &|e| out.lock().unwrap().push(e))
        .unwrap();
    let mut out = out.into_inner().unwrap();
    out.sort_by_key(|e| e.seq);
    out
}

#[test]
fn event_scans_pick_by_type_and_action() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    let r = request("bob", t(0));
    create(&store, &r);
    for (i, action) in ["return", "override", "withdraw", "override"]
        .iter()
        .enumerate()
    {
        let mut update =
            EventDraft::new(EventType::Update, "carrot", t(10 + i as i64)).field("action", *action);
        update.request_id = Some(r.id);
        store.append_event(update).unwrap();
    }
    store
        .append_event(
            EventDraft::new(EventType::ReviewRefused, "bob", t(20)).field("error", "self_review"),
        )
        .unwrap();
    let picked = collect_events(
        &store,
        t(0),
        Some(&[
            EventSelector::kind(EventType::ReviewRefused),
            EventSelector::action(EventType::Update, "override"),
        ]),
    );
    let summary: Vec<(EventType, Option<&str>)> = picked
        .iter()
        .map(|e| (e.kind, e.field_str("action")))
        .collect();
    assert_eq!(
        summary,
        vec![
            (EventType::Update, Some("override")),
            (EventType::Update, Some("override")),
            (EventType::ReviewRefused, None),
        ]
    );
    // A window starting later leaves the earlier events out.
    assert_eq!(
        collect_events(
            &store,
            t(12),
            Some(&[EventSelector::kind(EventType::Update)])
        )
        .len(),
        2
    );
    assert!(collect_events(&store, t(0), Some(&[])).is_empty());
    // Overlapping selectors feed each event once.
    let overlapping = [
        EventSelector::action(EventType::Update, "override"),
        EventSelector::kind(EventType::Update),
        EventSelector::kind(EventType::Update),
    ];
    assert_eq!(collect_events(&store, t(0), Some(&overlapping)).len(), 4);
    assert_eq!(collect_events(&store, t(0), None).len(), 6);
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
fn users_tokens_and_roles() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    let user = crate::model::User {
        name: "carrot".into(),
        roles: vec!["reviewer".into()],
        traits: BTreeMap::new(),
    };
    store.add_user(&user, "hash1", t(0)).unwrap();
    assert!(matches!(
        store.add_user(&user, "hash2", t(0)),
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store.user_by_token_hash("hash1").unwrap(),
        Some(user.clone())
    );
    assert!(store.set_token("carrot", "hash3").unwrap());
    assert_eq!(store.user_by_token_hash("hash1").unwrap(), None);
    assert!(!store.set_token("nobody", "x").unwrap());
    assert_eq!(store.roles_version().unwrap(), 0);
    let v = store.put_roles("a.yaml", "kind: role", t(1)).unwrap();
    assert_eq!(store.roles().unwrap().unwrap().version, v);
    assert!(store.remove_user("carrot").unwrap());
    assert!(store.users().unwrap().is_empty());
}

#[test]
fn requests_cannot_be_deleted_nor_events_edited() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    create(&store, &request("bob", t(0)));
    let conn = rusqlite::Connection::open(store.path()).unwrap();
    assert!(conn.execute("DELETE FROM requests", []).is_err());
    assert!(
        conn.execute("UPDATE events SET user = 'mallory'", [])
            .is_err()
    );
    assert!(conn.execute("DELETE FROM events", []).is_err());
}

#[test]
fn reopening_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let r = request("bob", t(0));
    {
        let store = SqliteStore::open(dir.path()).unwrap();
        create(&store, &r);
    }
    let store = SqliteStore::open(dir.path()).unwrap();
    assert_eq!(store.get_request(r.id).unwrap().unwrap(), r);
    create(&store, &request("bob", t(1)));
    let report = store.verify_chain().unwrap();
    assert!(report.ok, "{report:?}");
    assert_eq!(report.events, 2);
}

#[test]
fn owed_post_incident_reviews_are_found_however_old() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    let mut emergency = request("angua", t(-90 * 86_400));
    emergency.emergency = true;
    emergency.state = State::Elapsed;
    emergency.access = Some(Access {
        starts_at: t(-90 * 86_400),
        ends_at: t(-89 * 86_400),
        returned_at: None,
    });
    let routine = request("bob", t(0));
    create(&store, &emergency);
    create(&store, &routine);
    let mut owed = Vec::new();
    store
        .scan_owed_post_incident_reviews(&mut |r| owed.push(r.id))
        .unwrap();
    assert_eq!(owed, vec![emergency.id]);
    store
        .mutate_request(
            emergency.id,
            Box::new(|r| {
                r.post_incident_review = Some(crate::model::PostIncidentReview {
                    author: "carrot".into(),
                    outcome: crate::model::IncidentOutcome::Justified,
                    notes: "fine".into(),
                    created_at: t(0),
                });
                Verdict::Commit(EventDraft::new(
                    EventType::PostIncidentReview,
                    "carrot",
                    t(0),
                ))
            }),
        )
        .unwrap()
        .unwrap();
    owed.clear();
    store
        .scan_owed_post_incident_reviews(&mut |r| owed.push(r.id))
        .unwrap();
    assert!(owed.is_empty());
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

#[test]
fn a_refused_attempt_keeps_only_an_excerpt_of_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    let r = request("bob", t(0));
    create(&store, &r);
    let long = "é".repeat(2000);
    let reason = long.clone();
    store
        .mutate_request(
            r.id,
            Box::new(move |_| Verdict::Refuse {
                refusal: Refusal::new(ErrorCode::SelfReview, "no"),
                record: Some(EventDraft::new(EventType::ReviewRefused, "bob", t(1)).reason(reason)),
            }),
        )
        .unwrap()
        .unwrap_err();
    let events = store
        .events(&EventQuery {
            kind: Some(EventType::ReviewRefused),
            limit: 10,
            ..Default::default()
        })
        .unwrap();
    let kept = events[0].reason.as_deref().unwrap();
    assert!(
        kept.len() <= sqlite::REFUSAL_EXCERPT_BYTES + "…".len(),
        "{}",
        kept.len()
    );
    assert!(long.starts_with(kept.trim_end_matches('…')));
    assert_eq!(events[0].fields["reason_bytes"], long.len());
    assert!(store.verify_chain().unwrap().ok);
}

#[test]
fn events_can_be_narrowed_to_what_a_caller_might_see_before_decoding() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    let bobs = request("bob", t(0));
    let mut alices = request("alice", t(1));
    alices.roles = vec!["production-db-access".into()];
    create(&store, &bobs);
    create(&store, &alices);
    store
        .append_event(EventDraft::new(EventType::FindingReviewed, "carrot", t(2)))
        .unwrap();
    let seen = |visible: Visibility| -> Vec<u64> {
        store
            .events(&EventQuery {
                visible_to: Some(visible),
                limit: 100,
                ..Default::default()
            })
            .unwrap()
            .iter()
            .map(|e| e.seq)
            .collect()
    };
    let reviewer = Visibility {
        user: "carrot".into(),
        reviewable_roles: vec!["production-access".into()],
        unattached: false,
    };
    assert_eq!(seen(reviewer.clone()), vec![1]);
    assert_eq!(
        seen(Visibility {
            unattached: true,
            ..reviewer
        }),
        vec![1, 3]
    );
    let requester = Visibility {
        user: "alice".into(),
        ..Visibility::default()
    };
    assert_eq!(seen(requester), vec![2]);
}
