//! The store's contract, written against `dyn Store` only, so every backend runs
//! the same cases: `conformance!(backend)` makes one `#[test]` of each.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use chrono::TimeDelta;
use uuid::Uuid;

use countersign::broker::lifecycle::created_event;
use countersign::broker::store::{
    EventDraft, EventQuery, EventSelector, NotificationState, Published, Refusal, RequestQuery,
    Settle, Store, StoreError, UserChange, Verdict, Visibility,
};
use countersign::model::api::ErrorCode;
use countersign::model::{
    Access, AuditEvent, Certificate, EventType, Request, State, Threshold, Time, User,
};

/// A backend under test: each call makes a fresh, empty store.
pub trait Backend {
    fn fresh(&self) -> Box<dyn Fixture>;
}

/// One store under test and its database.
pub trait Fixture {
    fn store(&self) -> Arc<dyn Store>;
    /// Closes the store and opens the same database again.
    fn reopen(&mut self) -> Arc<dyn Store>;
    /// Runs SQL on the database behind the store's back (the column names are
    /// the same in every backend for what the cases touch).
    fn raw(&self, sql: &str) -> Result<(), String>;
}

/// One `#[test]` per case, each on a fresh store of `$backend` (an expression
/// giving `Option<impl Backend>`: `None` skips, having said why).
#[macro_export]
macro_rules! conformance {
    ($backend:expr) => {
        $crate::conformance!(@cases $backend;
            requests_round_trip_and_page_newest_first,
            listings_search_requester_roles_reason_and_id_prefix,
            mutations_commit_or_refuse_and_refusals_can_be_recorded,
            due_finds_expired_pending_and_ended_access,
            events_filter_and_scans_respect_windows,
            event_scans_pick_by_type_and_action,
            scans_cover_many_rows_and_stop_at_a_corrupt_row,
            users_tokens_and_roles,
            user_changes_are_committed_with_their_events,
            requests_cannot_be_deleted_nor_events_edited,
            reopening_keeps_everything,
            owed_post_incident_reviews_are_found_however_old,
            a_refused_attempt_keeps_only_an_excerpt_of_its_reason,
            events_can_be_narrowed_to_what_a_caller_might_see_before_decoding,
            committed_events_reach_the_publisher_in_order,
            the_outbox_queues_claims_settles_and_retries,
            owed_notifications_go_to_the_sinks_of_their_time,
            certificates_get_increasing_serials_and_revocations_show,
            concurrent_writers_keep_one_linear_chain,
            a_sweep_and_a_review_racing_resolve_once,
            a_create_that_fails_among_concurrent_ones_fails_alone,
            requests_are_counted_by_state,
        );
    };
    (@cases $backend:expr; $($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                let Some(backend) = $backend else { return };
                store_conformance::$case(&backend);
            }
        )*
    };
}

pub fn t(secs: i64) -> Time {
    chrono::DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
}

pub fn request(user: &str, created: Time) -> Request {
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

fn create(store: &dyn Store, r: &Request) -> AuditEvent {
    store.create_request(r.clone(), created_event(r)).unwrap()
}

fn all_events(store: &dyn Store) -> Vec<AuditEvent> {
    store
        .events(&EventQuery {
            limit: 100_000,
            ..Default::default()
        })
        .unwrap()
}

pub fn requests_round_trip_and_page_newest_first(backend: &dyn Backend) {
    let fixture = backend.fresh();
    let store = fixture.store();
    let mut ids = Vec::new();
    for i in 0..7 {
        let r = request(if i % 2 == 0 { "bob" } else { "alice" }, t(i));
        create(store.as_ref(), &r);
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
    let query = |q: RequestQuery| store.list_requests(&q).unwrap().len();
    assert_eq!(
        query(RequestQuery {
            user: Some("bob".into()),
            limit: 100,
            ..Default::default()
        }),
        4
    );
    assert_eq!(
        query(RequestQuery {
            role: Some("production-access".into()),
            limit: 100,
            ..Default::default()
        }),
        7
    );
    assert_eq!(
        query(RequestQuery {
            role: Some("admin".into()),
            limit: 100,
            ..Default::default()
        }),
        0
    );
    assert_eq!(
        query(RequestQuery {
            state: Some(State::Approved),
            limit: 100,
            ..Default::default()
        }),
        0
    );
    let fetched = store
        .get_requests(&[ids[1], Uuid::now_v7(), ids[2]])
        .unwrap();
    assert_eq!(
        fetched.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![ids[1], ids[2]]
    );
    assert_eq!(store.get_request(Uuid::now_v7()).unwrap(), None);
}

pub fn listings_search_requester_roles_reason_and_id_prefix(backend: &dyn Backend) {
    let fixture = backend.fresh();
    let store = fixture.store();
    let mut deploy = request("Bob", t(1));
    deploy.reason = "incident #1: Deploy the 100% fix".into();
    let mut vacuum = request("alice", t(2));
    vacuum.roles = vec!["production-db-access".into()];
    vacuum.reason = "OPS-7 vacuum".into();
    let mut other = request("alice", t(3));
    other.reason = "incident #2 restart".into();
    for r in [&deploy, &vacuum, &other] {
        create(store.as_ref(), r);
    }
    let found = |text: &str, more: RequestQuery| {
        store
            .list_requests(&RequestQuery {
                text: Some(text.into()),
                limit: 100,
                ..more
            })
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect::<Vec<_>>()
    };
    let any = RequestQuery::default;
    // The text is given lowercase; what it is found in may be any case.
    assert_eq!(found("bob", any()), vec![deploy.id], "the requester");
    assert_eq!(found("deploy", any()), vec![deploy.id], "the reason");
    assert_eq!(found("100%", any()), vec![deploy.id], "% is a character");
    assert_eq!(found("1_0", any()), Vec::<Uuid>::new(), "_ is a character");
    assert_eq!(found("db-acc", any()), vec![vacuum.id], "a role");
    assert_eq!(
        found("incident", any()),
        vec![other.id, deploy.id],
        "newest first"
    );
    let id = vacuum.id.to_string();
    assert_eq!(found(&id[..34], any()), vec![vacuum.id], "the id's start");
    let simple = vacuum.id.simple().to_string();
    assert_eq!(
        found(&simple[..30], any()),
        vec![vacuum.id],
        "without hyphens"
    );
    assert_eq!(found(&id[24..], any()), Vec::<Uuid>::new(), "not its end");
    assert_eq!(found("nobody", any()), Vec::<Uuid>::new());
    // With the other conditions and the cursor.
    let alice = || RequestQuery {
        user: Some("alice".into()),
        ..Default::default()
    };
    assert_eq!(found("incident", alice()), vec![other.id]);
    let production = || RequestQuery {
        role: Some("production-access".into()),
        ..Default::default()
    };
    assert_eq!(found("a", production()), vec![other.id, deploy.id]);
    let before = RequestQuery {
        before: Some(other.id),
        ..Default::default()
    };
    assert_eq!(found("incident", before), vec![deploy.id]);
    let page = store
        .list_requests(&RequestQuery {
            text: Some("production".into()),
            limit: 2,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(
        page.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![other.id, vacuum.id]
    );
    // A window: the n-th request listed, newest first, whatever the text; and a
    // listing cut to the ids from there on.
    let nth = |n, query: RequestQuery| store.nth_request_id(&query, n).unwrap();
    assert_eq!(nth(1, any()), Some(other.id));
    assert_eq!(nth(2, any()), Some(vacuum.id));
    assert_eq!(nth(4, any()), None);
    let ignoring_text = RequestQuery {
        text: Some("nobody".into()),
        ..Default::default()
    };
    assert_eq!(nth(3, ignoring_text), Some(deploy.id));
    assert_eq!(nth(1, alice()), Some(other.id));
    assert_eq!(nth(2, production()), Some(deploy.id));
    let below = RequestQuery {
        before: Some(other.id),
        ..Default::default()
    };
    assert_eq!(nth(1, below), Some(vacuum.id));
    let window = RequestQuery {
        not_before: Some(vacuum.id),
        ..Default::default()
    };
    assert_eq!(found("a", window), vec![other.id, vacuum.id]);
}

pub fn mutations_commit_or_refuse_and_refusals_can_be_recorded(backend: &dyn Backend) {
    let fixture = backend.fresh();
    let store = fixture.store();
    let r = request("bob", t(0));
    create(store.as_ref(), &r);
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
    let events = all_events(store.as_ref());
    assert_eq!(events.len(), 3);
    assert_eq!(events[2].kind, EventType::ReviewRefused);
    assert_eq!(events[2].field_str("error"), Some("not_pending"));
    assert_eq!(events[2].state, Some(State::Withdrawn));
    let silent = store
        .mutate_request(
            r.id,
            Box::new(|_| Refusal::new(ErrorCode::NotPending, "nothing recorded").into()),
        )
        .unwrap();
    assert!(silent.is_err());
    assert_eq!(
        store.head_seq().unwrap(),
        3,
        "a bare refusal records nothing"
    );
    let missing = store
        .mutate_request(
            Uuid::now_v7(),
            Box::new(|_| unreachable!("no request to show")),
        )
        .unwrap();
    assert_eq!(missing.unwrap_err().code, ErrorCode::NotFound);
    let report = store.verify_chain().unwrap();
    assert!(report.ok, "{report:?}");
    assert_eq!(report.events, 3);
    let (seq, hash) = store.head().unwrap();
    assert_eq!((seq, hash.as_str()), (3, events[2].hash.as_str()));
    assert_eq!(store.event(2).unwrap().unwrap(), events[1]);
    assert_eq!(store.event(99).unwrap(), None);
}

pub fn due_finds_expired_pending_and_ended_access(backend: &dyn Backend) {
    let fixture = backend.fresh();
    let store = fixture.store();
    let pending = request("bob", t(0));
    let mut approved = request("alice", t(0));
    approved.state = State::Approved;
    approved.access = Some(Access {
        starts_at: t(10),
        ends_at: t(100),
        returned_at: None,
    });
    create(store.as_ref(), &pending);
    create(store.as_ref(), &approved);
    assert!(store.due(t(50)).unwrap().is_empty());
    assert_eq!(store.due(t(100)).unwrap(), vec![approved.id]);
    let mut both = store.due(t(24 * 3600)).unwrap();
    both.sort();
    let mut expected = vec![pending.id, approved.id];
    expected.sort();
    assert_eq!(both, expected);
}

pub fn events_filter_and_scans_respect_windows(backend: &dyn Backend) {
    let fixture = backend.fresh();
    let store = fixture.store();
    let mut first = None;
    for i in 0..5 {
        let r = request("bob", t(i * 100));
        first.get_or_insert(r.id);
        create(store.as_ref(), &r);
    }
    store
        .append_event(EventDraft::new(
            EventType::FindingReviewed,
            "carrot",
            t(450),
        ))
        .unwrap();
    let count = |q: EventQuery| store.events(&q).unwrap().len();
    assert_eq!(
        count(EventQuery {
            since: Some(t(200)),
            limit: 100,
            ..Default::default()
        }),
        4
    );
    assert_eq!(
        count(EventQuery {
            since: Some(t(100)),
            until: Some(t(300)),
            limit: 100,
            ..Default::default()
        }),
        2
    );
    assert_eq!(
        count(EventQuery {
            kind: Some(EventType::FindingReviewed),
            limit: 100,
            ..Default::default()
        }),
        1
    );
    assert_eq!(
        count(EventQuery {
            user: Some("carrot".into()),
            limit: 100,
            ..Default::default()
        }),
        1
    );
    assert_eq!(
        count(EventQuery {
            request_id: first,
            limit: 100,
            ..Default::default()
        }),
        1
    );
    let after = store
        .events(&EventQuery {
            after_seq: Some(4),
            limit: 1,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(after.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![5]);
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
    store: &dyn Store,
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

pub fn event_scans_pick_by_type_and_action(backend: &dyn Backend) {
    let fixture = backend.fresh();
    let store = fixture.store();
    let store = store.as_ref();
    let r = request("bob", t(0));
    create(store, &r);
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
        store,
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
    assert_eq!(
        collect_events(
            store,
            t(12),
            Some(&[EventSelector::kind(EventType::Update)])
        )
        .len(),
        2
    );
    assert!(collect_events(store, t(0), Some(&[])).is_empty());
    let overlapping = [
        EventSelector::action(EventType::Update, "override"),
        EventSelector::kind(EventType::Update),
        EventSelector::kind(EventType::Update),
    ];
    assert_eq!(collect_events(store, t(0), Some(&overlapping)).len(), 4);
    assert_eq!(collect_events(store, t(0), None).len(), 6);
}

pub fn scans_cover_many_rows_and_stop_at_a_corrupt_row(backend: &dyn Backend) {
    let fixture = backend.fresh();
    let store = fixture.store();
    let mut ids = std::collections::BTreeSet::new();
    for i in 0..1500 {
        let r = request(if i % 3 == 0 { "bob" } else { "alice" }, t(i));
        ids.insert(r.id);
        create(store.as_ref(), &r);
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
    // Damage one row behind the store's back: the scan says so instead of
    // hanging or skipping it.
    let victim = *ids.iter().nth(1200).unwrap();
    fixture
        .raw(&format!(
            "UPDATE requests SET body = '{{\"id\": 7' WHERE id = '{victim}'"
        ))
        .unwrap();
    let err = store.scan_requests_since(t(0), &|_| {}).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
    assert!(matches!(
        store.get_request(victim),
        Err(StoreError::Corrupt(_))
    ));
}

pub fn users_tokens_and_roles(backend: &dyn Backend) {
    let fixture = backend.fresh();
    let store = fixture.store();
    let user = User {
        name: "carrot".into(),
        roles: vec!["reviewer".into()],
        traits: BTreeMap::from([("team".into(), vec!["watch".into()])]),
    };
    let stamp = store.authority_stamp().unwrap();
    store.add_user(&user, "hash1", t(0)).unwrap();
    assert_ne!(store.authority_stamp().unwrap(), stamp);
    assert!(matches!(
        store.add_user(&user, "hash2", t(0)),
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store.user_by_token_hash("hash1").unwrap(),
        Some(user.clone())
    );
    assert_eq!(store.user("carrot").unwrap(), Some(user.clone()));
    assert_eq!(store.users().unwrap()[0].created_at, t(0));
    let stamp = store.authority_stamp().unwrap();
    assert!(store.set_token("carrot", "hash3").unwrap());
    assert_ne!(store.authority_stamp().unwrap(), stamp);
    assert_eq!(store.user_by_token_hash("hash1").unwrap(), None);
    assert!(!store.set_token("nobody", "x").unwrap());
    assert_eq!(store.roles_version().unwrap(), 0);
    assert_eq!(store.roles().unwrap(), None);
    // What an API call asks first: the token's user and the roles' version.
    assert_eq!(store.caller("hash3").unwrap(), (Some(user.clone()), 0));
    assert_eq!(store.caller("hash1").unwrap(), (None, 0), "a rotated token");
    let v1 = store.put_roles("a.yaml", "kind: role", t(1)).unwrap();
    let v2 = store.put_roles("b.yaml", "kind: role\n", t(2)).unwrap();
    assert!(v2 > v1);
    assert_eq!(store.caller("hash3").unwrap(), (Some(user.clone()), v2));
    assert_eq!(store.caller("nope").unwrap(), (None, v2));
    let stored = store.roles().unwrap().unwrap();
    assert_eq!(
        (stored.version, stored.source_name.as_str()),
        (v2, "b.yaml")
    );
    assert_eq!(store.roles_version().unwrap(), v2);
    assert!(store.remove_user("carrot").unwrap());
    assert_eq!(store.caller("hash3").unwrap(), (None, v2), "a removed user");
    assert!(!store.remove_user("carrot").unwrap());
    assert!(store.users().unwrap().is_empty());
}

pub fn requests_cannot_be_deleted_nor_events_edited(backend: &dyn Backend) {
    let fixture = backend.fresh();
    let store = fixture.store();
    create(store.as_ref(), &request("bob", t(0)));
    assert!(fixture.raw("DELETE FROM requests").is_err());
    assert!(fixture.raw("UPDATE events SET hash = 'x'").is_err());
    assert!(fixture.raw("DELETE FROM events").is_err());
    assert_eq!(store.head_seq().unwrap(), 1);
    assert!(store.verify_chain().unwrap().ok);
}

pub fn reopening_keeps_everything(backend: &dyn Backend) {
    let mut fixture = backend.fresh();
    let r = request("bob", t(0));
    create(fixture.store().as_ref(), &r);
    let store = fixture.reopen();
    assert_eq!(store.get_request(r.id).unwrap().unwrap(), r);
    create(store.as_ref(), &request("bob", t(1)));
    let report = store.verify_chain().unwrap();
    assert!(report.ok, "{report:?}");
    assert_eq!(report.events, 2);
}

pub fn owed_post_incident_reviews_are_found_however_old(backend: &dyn Backend) {
    let fixture = backend.fresh();
    let store = fixture.store();
    let mut emergency = request("angua", t(-90 * 86_400));
    emergency.emergency = true;
    emergency.state = State::Elapsed;
    emergency.access = Some(Access {
        starts_at: t(-90 * 86_400),
        ends_at: t(-89 * 86_400),
        returned_at: None,
    });
    create(store.as_ref(), &emergency);
    create(store.as_ref(), &request("bob", t(0)));
    let mut owed = Vec::new();
    store
        .scan_owed_post_incident_reviews(&mut |r| owed.push(r.id))
        .unwrap();
    assert_eq!(owed, vec![emergency.id]);
    store
        .mutate_request(
            emergency.id,
            Box::new(|r| {
                r.post_incident_review = Some(countersign::model::PostIncidentReview {
                    author: "carrot".into(),
                    outcome: countersign::model::IncidentOutcome::Justified,
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

pub fn a_refused_attempt_keeps_only_an_excerpt_of_its_reason(backend: &dyn Backend) {
    let fixture = backend.fresh();
    let store = fixture.store();
    let r = request("bob", t(0));
    create(store.as_ref(), &r);
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
    assert!(kept.len() <= 256 + "…".len(), "{}", kept.len());
    assert!(long.starts_with(kept.trim_end_matches('…')));
    assert_eq!(events[0].fields["reason_bytes"], long.len());
    assert!(store.verify_chain().unwrap().ok);
}

pub fn events_can_be_narrowed_to_what_a_caller_might_see_before_decoding(backend: &dyn Backend) {
    let fixture = backend.fresh();
    let store = fixture.store();
    let bobs = request("bob", t(0));
    let mut alices = request("alice", t(1));
    alices.roles = vec!["production-db-access".into()];
    create(store.as_ref(), &bobs);
    create(store.as_ref(), &alices);
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

/// Waits (a few seconds at most) until `done` holds of what was published.
fn wait_for(published: &Mutex<Vec<Published>>, done: impl Fn(&[Published]) -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        if done(&published.lock().unwrap()) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

pub fn committed_events_reach_the_publisher_in_order(backend: &dyn Backend) {
    let fixture = backend.fresh();
    let store = fixture.store();
    let published: Arc<Mutex<Vec<Published>>> = Arc::default();
    {
        let published = published.clone();
        store.on_commit(Box::new(move |items| {
            published.lock().unwrap().extend(items.iter().cloned())
        }));
    }
    let r = request("bob", t(0));
    create(store.as_ref(), &r);
    store
        .mutate_request(
            r.id,
            Box::new(|req| {
                req.state = State::Withdrawn;
                Verdict::Commit(
                    EventDraft::new(EventType::Update, "bob", t(1)).field("action", "withdraw"),
                )
            }),
        )
        .unwrap()
        .unwrap();
    store
        .mutate_request(
            r.id,
            Box::new(|_| Refusal::new(ErrorCode::NotPending, "quietly").into()),
        )
        .unwrap()
        .unwrap_err();
    store
        .append_event(EventDraft::new(EventType::FindingReviewed, "carrot", t(2)))
        .unwrap();
    wait_for(&published, |p| p.len() >= 3);
    let published = published.lock().unwrap();
    let seqs: Vec<u64> = published.iter().map(|p| p.event.seq).collect();
    assert_eq!(seqs, vec![1, 2, 3], "each committed event once, in order");
    assert_eq!(
        published[1].request.as_ref().map(|r| r.state),
        Some(State::Withdrawn),
        "an event travels with its request as it stood after it"
    );
    assert!(published[2].request.is_none());
}

pub fn the_outbox_queues_claims_settles_and_retries(backend: &dyn Backend) {
    let fixture = backend.fresh();
    let store = fixture.store();
    // No sinks: nothing is owed.
    create(store.as_ref(), &request("bob", t(0)));
    assert!(store.notifications(None, 10).unwrap().is_empty());
    store
        .set_notify_sinks(&["mail".to_string(), "slack".to_string()])
        .unwrap();
    let r = request("alice", t(10));
    create(store.as_ref(), &r);
    let owed = store.notifications(None, 10).unwrap();
    assert_eq!(owed.len(), 2, "one per sink: {owed:?}");
    assert!(owed.iter().all(|n| n.request_id == r.id && n.seq == 2));
    let now = t(20);
    let lease = std::time::Duration::from_secs(60);
    let claimed = store.claim_notifications(now, lease, 10).unwrap();
    assert_eq!(claimed.len(), 2);
    assert!(claimed.iter().all(|n| n.attempts == 1));
    assert!(
        store
            .claim_notifications(now, lease, 10)
            .unwrap()
            .is_empty(),
        "a claim is leased, not handed out twice"
    );
    store
        .settle_notifications(vec![
            (
                claimed[0].id,
                Settle::Sent {
                    at: now,
                    note: None,
                },
            ),
            (
                claimed[1].id,
                Settle::Failed {
                    at: now,
                    error: "refused".into(),
                },
            ),
        ])
        .unwrap();
    let counts: BTreeMap<NotificationState, u64> =
        store.notification_counts().unwrap().into_iter().collect();
    assert_eq!(counts[&NotificationState::Sent], 1);
    assert_eq!(counts[&NotificationState::Failed], 1);
    assert_eq!(counts[&NotificationState::Pending], 0);
    let failed = store
        .notifications(Some(NotificationState::Failed), 10)
        .unwrap();
    assert_eq!(failed[0].last_error.as_deref(), Some("refused"));
    assert!(!store.retry_notification(claimed[0].id, now).unwrap());
    assert!(store.retry_notification(claimed[1].id, now).unwrap());
    assert!(!store.retry_notification(9_999, now).unwrap());
    assert_eq!(store.claim_notifications(now, lease, 10).unwrap().len(), 1);
    assert_eq!(store.queue_review_reminders(&[r.id], now).unwrap(), 2);
    assert_eq!(
        store.queue_review_reminders(&[r.id], now).unwrap(),
        0,
        "once per request and sink"
    );
}

pub fn owed_notifications_go_to_the_sinks_of_their_time(backend: &dyn Backend) {
    let fixture = backend.fresh();
    let store = fixture.store();
    let pending = |store: &dyn countersign::broker::store::Store| -> u64 {
        let counts: BTreeMap<NotificationState, u64> =
            store.notification_counts().unwrap().into_iter().collect();
        counts[&NotificationState::Pending]
    };
    store
        .set_notify_sinks(&["mail".to_string(), "slack".to_string()])
        .unwrap();
    let first = request("alice", t(0));
    create(store.as_ref(), &first);
    // Counted before any claim or listing has spread it over the sinks.
    assert_eq!(pending(store.as_ref()), 2, "one pending per sink at once");
    // The sinks change (a restart with another broker.toml): what was owed
    // before goes to the sinks it was owed to, what follows to the new ones.
    store.set_notify_sinks(&["webhook".to_string()]).unwrap();
    let second = request("bob", t(10));
    create(store.as_ref(), &second);
    assert_eq!(pending(store.as_ref()), 3);
    let mut owed: Vec<(String, String)> = store
        .notifications(None, 10)
        .unwrap()
        .into_iter()
        .map(|n| {
            let who = if n.request_id == first.id {
                "first"
            } else {
                "second"
            };
            (who.to_string(), n.sink)
        })
        .collect();
    owed.sort();
    let expected: Vec<(String, String)> =
        [("first", "mail"), ("first", "slack"), ("second", "webhook")]
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
    assert_eq!(owed, expected);
    // Listing spread them; claiming finds each once, and nothing more is owed.
    let lease = std::time::Duration::from_secs(60);
    assert_eq!(
        store.claim_notifications(t(20), lease, 10).unwrap().len(),
        3
    );
    assert!(
        store
            .claim_notifications(t(20), lease, 10)
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.notifications(None, 10).unwrap().len(), 3);
    // No sinks: a create owes nothing.
    store.set_notify_sinks(&[]).unwrap();
    create(store.as_ref(), &request("carol", t(30)));
    assert_eq!(store.notifications(None, 10).unwrap().len(), 3);
}

fn certificate(request: &Request, serial: u64, valid_before: Time) -> Certificate {
    Certificate {
        certificate: format!("ssh-ed25519-cert-v01@openssh.com AAAA{serial}"),
        serial,
        key_id: format!("countersign/{}/{}", request.user, request.id),
        principals: vec!["deploy".into()],
        valid_after: t(0),
        valid_before,
        request_id: request.id,
        fingerprint: "SHA256:test".into(),
        issued_at: t(0),
    }
}

pub fn certificates_get_increasing_serials_and_revocations_show(backend: &dyn Backend) {
    let fixture = backend.fresh();
    let store = fixture.store();
    let mut r = request("bob", t(0));
    r.state = State::Approved;
    create(store.as_ref(), &r);
    let mut serials = Vec::new();
    for _ in 0..2 {
        let issued = store
            .issue_certificate(
                r.id,
                Box::new(|request, serial| {
                    let cert = certificate(request, serial, t(3600));
                    let draft =
                        EventDraft::new(EventType::CertCreate, "bob", t(1)).field("serial", serial);
                    Ok((cert, draft))
                }),
            )
            .unwrap()
            .unwrap();
        serials.push(issued.serial);
    }
    assert_eq!(serials, vec![1, 2]);
    let refused = store
        .issue_certificate(
            r.id,
            Box::new(|_, _| Err(Refusal::new(ErrorCode::NoLogins, "no logins"))),
        )
        .unwrap();
    assert_eq!(refused.unwrap_err().code, ErrorCode::NoLogins);
    let missing = store
        .issue_certificate(Uuid::now_v7(), Box::new(|_, _| unreachable!("no request")))
        .unwrap();
    assert_eq!(missing.unwrap_err().code, ErrorCode::NotFound);
    let listed = store.certificates(r.id).unwrap();
    assert_eq!(
        listed.iter().map(|c| c.serial).collect::<Vec<_>>(),
        vec![1, 2]
    );
    assert!(store.revoked_serials(t(10)).unwrap().is_empty());
    store
        .mutate_request(
            r.id,
            Box::new(|req| {
                req.state = State::Returned;
                Verdict::Commit(
                    EventDraft::new(EventType::Update, "bob", t(5)).field("action", "return"),
                )
            }),
        )
        .unwrap()
        .unwrap();
    assert_eq!(store.revoked_serials(t(10)).unwrap(), vec![1, 2]);
    assert!(
        store.revoked_serials(t(7200)).unwrap().is_empty(),
        "expired certificates leave the KRL"
    );
    assert!(fixture.raw("DELETE FROM certificates").is_err());
    assert_eq!(store.head_seq().unwrap(), 4);
}

/// Writers on several threads at once: every write lands, seqs have no gaps,
/// and the chain verifies.
pub fn concurrent_writers_keep_one_linear_chain(backend: &dyn Backend) {
    let fixture = backend.fresh();
    let store = fixture.store();
    std::thread::scope(|scope| {
        for w in 0..8 {
            let store = store.clone();
            scope.spawn(move || {
                for i in 0..25 {
                    let r = request(&format!("user{w}"), t(w * 100 + i));
                    create(store.as_ref(), &r);
                    store
                        .append_event(EventDraft::new(EventType::FindingReviewed, "carrot", t(i)))
                        .unwrap();
                }
            });
        }
    });
    let events = all_events(store.as_ref());
    assert_eq!(events.len(), 400);
    assert!(
        events
            .iter()
            .enumerate()
            .all(|(i, e)| e.seq == i as u64 + 1)
    );
    let report = store.verify_chain().unwrap();
    assert!(report.ok, "{report:?}");
}

/// Creates committed together (a batch, a group commit) keep their own fates: one
/// that the database refuses (its id is taken) fails, the others are stored.
pub fn a_create_that_fails_among_concurrent_ones_fails_alone(backend: &dyn Backend) {
    let fixture = backend.fresh();
    let store = fixture.store();
    let taken = request("bob", t(0));
    create(store.as_ref(), &taken);
    let refused = AtomicUsize::new(0);
    for round in 0..4 {
        // Released together, so that they queue for the writer at once.
        let start = std::sync::Barrier::new(12);
        std::thread::scope(|scope| {
            for w in 0..12 {
                let (store, taken, refused, start) = (store.clone(), &taken, &refused, &start);
                scope.spawn(move || {
                    // One writer in each round sends the id already taken.
                    let r = if w == 5 {
                        taken.clone()
                    } else {
                        request(&format!("user{w}"), t(round * 100 + w))
                    };
                    start.wait();
                    match store.create_request(r.clone(), created_event(&r)) {
                        Ok(_) => assert_ne!(r.id, taken.id, "a second request {}", r.id),
                        Err(_) => {
                            assert_eq!(r.id, taken.id, "a create refused with the duplicate");
                            refused.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                });
            }
        });
    }
    assert_eq!(refused.load(Ordering::SeqCst), 4);
    let stored = store
        .list_requests(&RequestQuery {
            limit: 1000,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(stored.len(), 1 + 4 * 11);
    let events = all_events(store.as_ref());
    assert_eq!(events.len(), 1 + 4 * 11, "one event per stored request");
    assert!(store.verify_chain().unwrap().ok);
}

pub fn requests_are_counted_by_state(backend: &dyn Backend) {
    let fixture = backend.fresh();
    let store = fixture.store();
    assert!(store.request_counts().unwrap().is_empty());
    for i in 0..3 {
        create(store.as_ref(), &request("bob", t(i)));
    }
    let withdrawn = request("alice", t(5));
    create(store.as_ref(), &withdrawn);
    let done = store
        .mutate_request(
            withdrawn.id,
            Box::new(|r| {
                r.state = State::Withdrawn;
                Verdict::Commit(EventDraft::new(EventType::Update, "alice", t(6)))
            }),
        )
        .unwrap();
    assert!(done.is_ok());
    let mut counts = store.request_counts().unwrap();
    counts.sort_by_key(|(s, _)| s.as_str());
    assert_eq!(counts, vec![(State::Pending, 3), (State::Withdrawn, 1)]);
}

/// The sweeper on two brokers and a reviewer, all at once on one request:
/// exactly one of them moves it.
pub fn a_sweep_and_a_review_racing_resolve_once(backend: &dyn Backend) {
    let fixture = backend.fresh();
    let store = fixture.store();
    let r = request("bob", t(0));
    create(store.as_ref(), &r);
    let due = r.pending_expires_at;
    let moved = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..6 {
            let store = store.clone();
            let moved = &moved;
            scope.spawn(move || {
                let outcome = store
                    .mutate_request(
                        r.id,
                        Box::new(move |req| countersign::broker::lifecycle::sweep(due, req)),
                    )
                    .unwrap();
                if outcome.is_ok() {
                    moved.fetch_add(1, Ordering::SeqCst);
                }
            });
        }
    });
    assert_eq!(moved.into_inner(), 1);
    assert_eq!(
        store.get_request(r.id).unwrap().unwrap().state,
        State::Expired
    );
    assert_eq!(store.head_seq().unwrap(), 2);
}

pub fn user_changes_are_committed_with_their_events(backend: &dyn Backend) {
    let fixture = backend.fresh();
    let store = fixture.store();
    let ponder = User {
        name: "ponder".into(),
        roles: vec!["developer".into()],
        traits: BTreeMap::from([("team".into(), vec!["unseen".into()])]),
    };
    let add = UserChange::Add {
        user: ponder.clone(),
        token_hash: "h1".into(),
    };
    assert_eq!(
        store.change_user(&add, "admin:root", t(0)).unwrap(),
        Some(ponder.clone())
    );
    assert!(matches!(
        store.change_user(&add, "admin:root", t(1)),
        Err(StoreError::Conflict(_))
    ));
    let stamp = store.authority_stamp().unwrap();
    let edit = UserChange::Edit {
        name: "ponder".into(),
        roles: Some(vec!["developer".into(), "developer-db-request".into()]),
        traits: BTreeMap::from([("team".into(), vec!["hex".into()])]),
    };
    let edited = store
        .change_user(&edit, "admin:root", t(2))
        .unwrap()
        .unwrap();
    assert_ne!(
        store.authority_stamp().unwrap(),
        stamp,
        "an edit is seen by token lookups"
    );
    assert_eq!(edited.roles, ["developer", "developer-db-request"]);
    assert_eq!(
        store.user_by_token_hash("h1").unwrap(),
        Some(edited),
        "the token stays"
    );
    let rotate = UserChange::RotateToken {
        name: "ponder".into(),
        token_hash: "h2".into(),
    };
    store.change_user(&rotate, "admin:root", t(3)).unwrap();
    assert_eq!(store.user_by_token_hash("h1").unwrap(), None);
    let remove = UserChange::Remove {
        name: "ponder".into(),
    };
    store.change_user(&remove, "admin:root", t(4)).unwrap();
    assert!(store.users().unwrap().is_empty());
    assert_eq!(store.change_user(&edit, "admin:root", t(5)).unwrap(), None);

    let events = store
        .events(&EventQuery {
            limit: 100,
            ..EventQuery::default()
        })
        .unwrap();
    let seen: Vec<(EventType, String)> = events
        .iter()
        .map(|e| {
            (
                e.kind,
                e.field_str("action").unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (EventType::UserCreate, "add".to_string()),
            (EventType::UserUpdate, "set_roles".to_string()),
            (EventType::UserUpdate, "rotate_token".to_string()),
            (EventType::UserDelete, "remove".to_string()),
        ]
    );
    let bodies = serde_json::to_string(&events).unwrap();
    assert!(
        !bodies.contains("h1") && !bodies.contains("h2"),
        "no token hash is logged"
    );
    assert!(store.verify_chain().unwrap().ok);
}
