//! Several brokers on one PostgreSQL database (DESIGN §11): real broker
//! processes, a real server (`COUNTERSIGN_TEST_PG`, started by `.ci/pg-up`).

mod common;
mod pg_common;

use std::collections::BTreeSet;
use std::time::Duration;

use pg_common::{PgBroker, call, create, fresh_database, head_seq, populate, verify};
use reqwest::Method;
use serde_json::{Value, json};

fn users(extra: impl IntoIterator<Item = (String, String)>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = [
        ("alice", "developer,developer-db-request"),
        ("bob", "developer"),
        ("carrot", "reviewer"),
    ]
    .iter()
    .map(|(n, r)| (n.to_string(), r.to_string()))
    .collect();
    out.extend(extra);
    out
}

#[tokio::test]
async fn a_request_made_on_a_is_reviewed_on_b_and_streamed_in_order_by_both() {
    let Some(db) = fresh_database() else { return };
    let tokens = populate(&db, &users([]));
    let (a, b) = (PgBroker::start(&db), PgBroker::start(&db));
    let http = reqwest::Client::new();
    // Adding the users is logged too: the request's events come after those.
    let base = head_seq(&db);

    // A subscriber on B, from the end of the log as it stands.
    let mut on_b = http
        .get(format!("{}/v1/events?after={base}", b.url))
        .bearer_auth(&tokens["carrot"])
        .send()
        .await
        .expect("subscribe on B");
    assert_eq!(on_b.status(), 200);

    let (status, made) = create(&http, &a.url, &tokens["alice"], &["production-access"])
        .await
        .expect("A answers");
    assert_eq!(status, 201, "{made}");
    let id = made["id"].as_str().expect("an id").to_string();

    let (status, reviewed) = call(
        &http,
        &b.url,
        &tokens["carrot"],
        Method::POST,
        &format!("/v1/requests/{id}/reviews"),
        Some(json!({"decision": "approve", "reason": "on call, looks right"})),
    )
    .await
    .expect("B answers");
    assert_eq!(status, 200, "{reviewed}");
    assert_eq!(reviewed["state"], "approved");

    let (status, on_a) = call(
        &http,
        &a.url,
        &tokens["alice"],
        Method::GET,
        &format!("/v1/requests/{id}"),
        None,
    )
    .await
    .expect("A answers");
    assert_eq!((status, on_a["state"].as_str()), (200, Some("approved")));

    let seen = common::read_sse(&mut on_b, 2, Duration::from_secs(10)).await;
    let summary: Vec<(u64, &str)> = seen
        .iter()
        .map(|(id, kind, _)| (*id, kind.as_str()))
        .collect();
    assert_eq!(
        summary,
        vec![
            (base + 1, "access_request.create"),
            (base + 2, "access_request.review")
        ],
        "B's subscriber sees A's create, then B's review"
    );
    assert_eq!(seen[0].2["request"]["id"], Value::String(id.clone()));

    // A subscriber on A resuming after the create gets exactly the rest.
    let mut on_a = http
        .get(format!("{}/v1/events", a.url))
        .header("Last-Event-ID", (base + 1).to_string())
        .bearer_auth(&tokens["alice"])
        .send()
        .await
        .expect("subscribe on A");
    let resumed = common::read_sse(&mut on_a, 2, Duration::from_secs(2)).await;
    assert_eq!(
        resumed.iter().map(|(id, _, _)| *id).collect::<Vec<_>>(),
        vec![base + 2]
    );
    let (ok, report) = verify(&db);
    assert!(ok, "{report}");
}

#[tokio::test]
async fn thirty_two_reviewers_over_two_brokers_resolve_a_request_once() {
    let Some(db) = fresh_database() else { return };
    let reviewers: Vec<String> = (0..32).map(|i| format!("dba{i:02}")).collect();
    let tokens = populate(
        &db,
        &users(
            reviewers
                .iter()
                .map(|n| (n.clone(), "dba-reviewer".to_string())),
        ),
    );
    let brokers = [PgBroker::start(&db), PgBroker::start(&db)];
    let http = reqwest::Client::new();
    let (status, made) = create(
        &http,
        &brokers[0].url,
        &tokens["alice"],
        &["production-db-access"],
    )
    .await
    .expect("A answers");
    assert_eq!(status, 201, "{made}");
    let id = made["id"].as_str().expect("an id").to_string();

    let mut reviews = tokio::task::JoinSet::new();
    for (i, reviewer) in reviewers.iter().enumerate() {
        let (http, base) = (http.clone(), brokers[i % 2].url.clone());
        let (token, path) = (
            tokens[reviewer].clone(),
            format!("/v1/requests/{id}/reviews"),
        );
        reviews.spawn(async move {
            call(
                &http,
                &base,
                &token,
                Method::POST,
                &path,
                Some(json!({"decision": "approve", "reason": "checked the ticket"})),
            )
            .await
        });
    }
    let mut statuses = Vec::new();
    while let Some(done) = reviews.join_next().await {
        let (status, body) = done.expect("task").expect("a broker answers");
        if status != 200 {
            assert_eq!(
                (status, body["error"]["code"].as_str()),
                (409, Some("not_pending")),
                "{body}"
            );
        }
        statuses.push(status);
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        2,
        "the two approvals it needs, no more: {statuses:?}"
    );
    let (_, request) = call(
        &http,
        &brokers[1].url,
        &tokens["alice"],
        Method::GET,
        &format!("/v1/requests/{id}"),
        None,
    )
    .await
    .expect("B answers");
    assert_eq!(request["state"], "approved");
    assert_eq!(request["reviews"].as_array().map(Vec::len), Some(2));

    let (ok, report) = verify(&db);
    assert!(ok, "{report}");
    let resolutions = count_events(&db, "access_request.review", Some("approved"));
    assert_eq!(resolutions, 1, "exactly one resolution");
}

/// Events of `kind` in the log (with `state` after them, when given), read
/// straight from the database.
fn count_events(db: &str, kind: &str, state: Option<&str>) -> usize {
    let store = countersign::broker::store::open(&countersign::broker::store::Location::Postgres(
        db.to_string(),
    ))
    .expect("open the store");
    let events = store
        .events(&countersign::broker::store::EventQuery {
            limit: 10_000,
            ..Default::default()
        })
        .expect("read events");
    events
        .iter()
        .filter(|e| e.kind.as_str() == kind)
        .filter(|e| state.is_none_or(|s| e.state.map(|st| st.as_str()) == Some(s)))
        .count()
}

#[tokio::test]
async fn killing_a_broker_mid_burst_loses_no_acknowledged_create() {
    let Some(db) = fresh_database() else { return };
    let requesters: Vec<String> = (0..8).map(|i| format!("dev{i}")).collect();
    let tokens = populate(
        &db,
        &users(
            requesters
                .iter()
                .map(|n| (n.clone(), "developer".to_string())),
        ),
    );
    let mut a = PgBroker::start(&db);
    let b = PgBroker::start(&db);
    let http = reqwest::Client::new();
    let acks = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut burst = tokio::task::JoinSet::new();
    for (w, requester) in requesters.iter().enumerate() {
        let (http, token, acks) = (http.clone(), tokens[requester].clone(), acks.clone());
        let bases = [a.url.clone(), b.url.clone()];
        burst.spawn(async move {
            // (id, made on A)
            let mut acknowledged = Vec::new();
            let mut failed_on_a = 0;
            for i in 0..40 {
                let on_a = (w + i) % 2 == 0;
                let base = &bases[if on_a { 0 } else { 1 }];
                match create(&http, base, &token, &["production-access"]).await {
                    Ok((201, made)) => {
                        let id = made["id"].as_str().expect("an id").to_string();
                        acks.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        acknowledged.push((id, on_a));
                    }
                    _ if on_a => failed_on_a += 1,
                    Ok((status, body)) => panic!("B refused a create: {status} {body}"),
                    Err(err) => panic!("B stopped answering: {err}"),
                }
            }
            (acknowledged, failed_on_a)
        });
    }
    // Kill A in the middle of the burst, without warning.
    while acks.load(std::sync::atomic::Ordering::SeqCst) < 60 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    a.kill();
    let mut acknowledged = BTreeSet::new();
    let (mut made_on_a, mut failed_on_a) = (0, 0);
    while let Some(done) = burst.join_next().await {
        let (acked, failed) = done.expect("task");
        failed_on_a += failed;
        made_on_a += acked.iter().filter(|(_, on_a)| *on_a).count();
        acknowledged.extend(acked.into_iter().map(|(id, _)| id));
    }
    assert!(
        made_on_a > 0 && failed_on_a > 0,
        "A died mid-burst: {made_on_a} made on A, {failed_on_a} refused after"
    );
    assert!(
        acknowledged.len() >= 160,
        "B went on answering after A died: {} creates",
        acknowledged.len()
    );
    for id in &acknowledged {
        let (status, request) = call(
            &http,
            &b.url,
            &tokens["carrot"],
            Method::GET,
            &format!("/v1/requests/{id}"),
            None,
        )
        .await
        .expect("B answers");
        assert_eq!(status, 200, "acknowledged create {id} is gone: {request}");
    }
    assert!(
        count_events(&db, "access_request.create", None) >= acknowledged.len(),
        "every acknowledged create has its event"
    );
    let (ok, report) = verify(&db);
    assert!(ok, "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_is_503_while_the_database_is_out_of_reach_and_ok_once_it_is_back() {
    let Some(db) = fresh_database() else { return };
    let tokens = populate(&db, &users([]));
    let mut relay = pg_common::Relay::start(&db).await;
    let broker = PgBroker::start(&relay.url(&db));
    let http = reqwest::Client::new();
    let health = |http: reqwest::Client, base: String| async move {
        let response = http
            .get(format!("{base}/healthz"))
            .send()
            .await
            .expect("the broker answers");
        let status = response.status().as_u16();
        (status, response.text().await.unwrap_or_default())
    };
    let until = |want: u16| {
        let (http, base) = (http.clone(), broker.url.clone());
        async move {
            let deadline = std::time::Instant::now() + Duration::from_secs(15);
            loop {
                let (status, body) = health(http.clone(), base.clone()).await;
                if status == want || std::time::Instant::now() > deadline {
                    return (status, body);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    assert_eq!(until(200).await, (200, "ok\n".to_string()));

    relay.cut();
    let (status, body) = until(503).await;
    assert_eq!(status, 503, "{body}");
    let error: Value = serde_json::from_str(&body).expect("the JSON error shape");
    assert_eq!(error["error"]["code"], "unavailable", "{body}");
    assert!(
        error["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("cannot be reached")),
        "{body}"
    );
    // A write meanwhile is refused the same way, not a 500, and not half done.
    let (status, refused) = create(&http, &broker.url, &tokens["alice"], &["production-access"])
        .await
        .expect("the broker answers");
    assert_eq!(
        (status, refused["error"]["code"].as_str()),
        (503, Some("unavailable")),
        "{refused}"
    );

    relay.mend().await;
    assert_eq!(until(200).await, (200, "ok\n".to_string()));
    let (status, made) = create(&http, &broker.url, &tokens["alice"], &["production-access"])
        .await
        .expect("the broker answers");
    assert_eq!(status, 201, "the same broker serves again: {made}");
    let (ok, report) = verify(&db);
    assert!(ok, "{report}");
}
