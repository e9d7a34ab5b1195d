//! The request lifecycle and threshold semantics, against a real broker.

mod common;

use common::TestBroker;
use serde_json::{Value, json};

fn state(body: &Value) -> &str {
    body["state"].as_str().unwrap_or("?")
}

fn hours_between(body: &Value) -> f64 {
    let start = chrono::DateTime::parse_from_rfc3339(body["access"]["starts_at"].as_str().unwrap())
        .unwrap();
    let end =
        chrono::DateTime::parse_from_rfc3339(body["access"]["ends_at"].as_str().unwrap()).unwrap();
    (end - start).num_seconds() as f64 / 3600.0
}

#[tokio::test]
async fn runbook_flow_one_approval_with_reasons_and_audit_trail() {
    let b = TestBroker::start();
    let id = b
        .create(
            "bob",
            &["production-access"],
            "Investigating error spike on merchants-guild-app-02, see incident #47",
        )
        .await;
    let (status, pending) = b.get("carrot", "/v1/requests?state=pending").await;
    assert_eq!(status, 200);
    assert!(
        pending["requests"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["id"] == id.as_str())
    );

    let (status, approved) = b
        .review("carrot", &id, "approve", "Confirmed incident #47, approved")
        .await;
    assert_eq!(status, 200, "{approved}");
    assert_eq!(state(&approved), "approved");
    assert_eq!(approved["granted_roles"], json!(["production-access"]));
    assert_eq!(
        hours_between(&approved),
        4.0,
        "max_session_ttl 4h caps the window"
    );
    assert_eq!(approved["reviews"][0]["author"], "carrot");
    assert_eq!(
        approved["reviews"][0]["reason"],
        "Confirmed incident #47, approved"
    );

    let (status, events) = b
        .get("ponder", &format!("/v1/audit/events?request_id={id}"))
        .await;
    assert_eq!(status, 200, "{events}");
    let events = events["events"].as_array().unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["type"], "access_request.create");
    assert_eq!(events[0]["code"], "T5000I");
    assert_eq!(events[0]["user"], "bob");
    assert!(
        events[0]["reason"]
            .as_str()
            .unwrap()
            .contains("incident #47")
    );
    assert_eq!(events[1]["type"], "access_request.review");
    assert_eq!(events[1]["code"], "T5002I");
    assert_eq!(events[1]["user"], "carrot");
    assert_eq!(events[1]["decision"], "approve");
    assert_eq!(events[1]["state"], "approved");
    assert!(events[1]["time"].as_str().is_some());
}

#[tokio::test]
async fn reason_is_required_and_blank_counts_as_missing() {
    let b = TestBroker::start();
    for reason in ["", "   \n\t "] {
        let (status, body) = b
            .post(
                "bob",
                "/v1/requests",
                json!({"roles": ["production-access"], "reason": reason}),
            )
            .await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error"]["code"], "reason_required");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("incident"),
            "prompt is shown: {body}"
        );
    }
    // sre's roles do not require one.
    let (status, _) = b
        .post(
            "sam",
            "/v1/requests",
            json!({"roles": ["production-access"]}),
        )
        .await;
    assert_eq!(status, 201);
}

#[tokio::test]
async fn database_access_needs_two_approvals_and_one_denial_kills_it() {
    let b = TestBroker::start();
    let id = b
        .create("alice", &["production-db-access"], "ticket OPS-9 migration")
        .await;
    let (_, after_one) = b.review("carrot", &id, "approve", "ok by me").await;
    assert_eq!(state(&after_one), "pending");
    let (_, after_two) = b.review("adora", &id, "approve", "ok too").await;
    assert_eq!(state(&after_two), "approved");
    assert_eq!(hours_between(&after_two), 1.0);

    let id = b
        .create("alice", &["production-db-access"], "ticket OPS-10")
        .await;
    let (_, approved_once) = b.review("carrot", &id, "approve", "fine").await;
    assert_eq!(state(&approved_once), "pending");
    let (_, denied) = b
        .review("adora", &id, "deny", "no change window today")
        .await;
    assert_eq!(
        state(&denied),
        "denied",
        "one denial kills it even after an approval"
    );
    assert!(denied["access"].is_null());
}

#[tokio::test]
async fn filtered_thresholds_multi_role_and_narrowed_grant() {
    let b = TestBroker::start();
    // sre: any two approvals, or one from security, for each role.
    let id = b
        .create(
            "sam",
            &["production-access", "production-db-access"],
            "INC-5 failover",
        )
        .await;
    let (_, one) = b.review("carrot", &id, "approve", "looks right").await;
    assert_eq!(state(&one), "pending");
    assert_eq!(
        one["reviews"][0]["threshold_indexes"],
        json!([0]),
        "carrot matches only any-two"
    );
    let (_, two) = b.review("vimes", &id, "approve", "security ok").await;
    assert_eq!(state(&two), "approved");
    assert_eq!(two["reviews"][1]["threshold_indexes"], json!([0, 1]));
    assert_eq!(
        two["granted_roles"],
        json!(["production-access", "production-db-access"])
    );
    assert_eq!(
        hours_between(&two),
        1.0,
        "the smallest max_session_ttl wins"
    );

    // Security approves only the database role: the grant is narrowed to it.
    let id = b
        .create(
            "sam",
            &["production-access", "production-db-access"],
            "INC-6",
        )
        .await;
    let (status, narrowed) = b
        .post(
            "vimes",
            &format!("/v1/requests/{id}/reviews"),
            json!({"decision": "approve", "reason": "db only", "roles": ["production-db-access"]}),
        )
        .await;
    assert_eq!(status, 200, "{narrowed}");
    assert_eq!(state(&narrowed), "approved");
    assert_eq!(narrowed["granted_roles"], json!(["production-db-access"]));

    // A subset naming a role that was not requested is refused.
    let id = b.create("sam", &["production-access"], "INC-7").await;
    let (status, body) = b
        .post(
            "vimes",
            &format!("/v1/requests/{id}/reviews"),
            json!({"decision": "approve", "reason": "x", "roles": ["admin"]}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
}

#[tokio::test]
async fn deny_wins_per_threshold_counts() {
    let b = TestBroker::start();
    let id = b.create("sam", &["production-access"], "INC-8").await;
    let (_, one) = b.review("carrot", &id, "deny", "not convinced").await;
    assert_eq!(state(&one), "pending", "any-two needs two denials");
    let (_, two) = b.review("vimes", &id, "deny", "security says no").await;
    assert_eq!(state(&two), "denied", "one security denial is enough");
}

#[tokio::test]
async fn refused_reviews_are_answered_and_audited() {
    let b = TestBroker::start_with(&[("igor", "developer,reviewer")], &[]);
    let id = b
        .create("igor", &["production-access"], "incident #12")
        .await;
    let (status, body) = b.review("igor", &id, "approve", "trust me").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("self_review"))
    );

    // Dora may not see it: she learns nothing, but the attempt is on record.
    let (status, body) = b.review("dora", &id, "approve", "not my role").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("not_found"))
    );

    let db = b.create("alice", &["production-db-access"], "OPS-1").await;
    assert_eq!(b.review("carrot", &db, "approve", "ok").await.0, 200);
    let (status, body) = b.review("carrot", &db, "approve", "again").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("already_reviewed"))
    );

    assert_eq!(b.review("carrot", &id, "approve", "ok").await.0, 200);
    let (status, body) = b.review("adora", &id, "deny", "too late").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("not_pending"))
    );

    let (_, refused) = b
        .get(
            "ponder",
            "/v1/audit/events?type=access_request.review_refused",
        )
        .await;
    let refused = refused["events"].as_array().unwrap();
    let codes: Vec<(&str, &str)> = refused
        .iter()
        .map(|e| (e["user"].as_str().unwrap(), e["error"].as_str().unwrap()))
        .collect();
    assert_eq!(
        codes,
        vec![
            ("igor", "self_review"),
            ("dora", "forbidden"),
            ("carrot", "already_reviewed"),
            ("adora", "not_pending")
        ]
    );
    assert!(refused.iter().all(|e| e["code"] == "T5002W"));
}

#[tokio::test]
async fn withdraw_return_and_override() {
    let b = TestBroker::start();
    let id = b.create("bob", &["production-access"], "incident #1").await;
    let (status, body) = b
        .post("carrot", &format!("/v1/requests/{id}/withdraw"), json!({}))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("forbidden"))
    );
    let (status, body) = b
        .post("bob", &format!("/v1/requests/{id}/withdraw"), json!({}))
        .await;
    assert_eq!((status, state(&body)), (200, "withdrawn"));
    let (status, body) = b
        .post("bob", &format!("/v1/requests/{id}/withdraw"), json!({}))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("not_pending"))
    );

    let id = b.create("bob", &["production-access"], "incident #2").await;
    b.review("carrot", &id, "approve", "ok").await;
    let (status, body) = b
        .post("bob", &format!("/v1/requests/{id}/return"), json!({}))
        .await;
    assert_eq!((status, state(&body)), (200, "returned"));
    assert!(body["access"]["returned_at"].is_string());

    let id = b.create("bob", &["production-access"], "incident #3").await;
    let (status, body) = b
        .post(
            "carrot",
            &format!("/v1/requests/{id}/resolve"),
            json!({"state": "approved", "reason": "x"}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("forbidden"))
    );
    let (status, body) = b
        .post(
            "vetinari",
            &format!("/v1/requests/{id}/resolve"),
            json!({"state": "approved", "reason": "Patrician's orders"}),
        )
        .await;
    assert_eq!((status, state(&body)), (200, "approved"), "{body}");
    assert_eq!(body["resolved_by"], "vetinari");
    let (_, events) = b
        .get("ponder", &format!("/v1/audit/events?request_id={id}"))
        .await;
    let last = events["events"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (last["type"].as_str(), last["action"].as_str()),
        (Some("access_request.update"), Some("override"))
    );
}

#[tokio::test]
async fn sweeper_expires_pending_and_elapses_access() {
    let b = TestBroker::start();
    let (status, body) = b
        .post(
            "bob",
            "/v1/requests",
            json!({"roles": ["production-access"], "reason": "incident #9", "pending_ttl": "1s"}),
        )
        .await;
    assert_eq!(status, 201);
    let pending_id = body["id"].as_str().unwrap().to_string();
    let (_, body) = b
        .post(
            "bob",
            "/v1/requests",
            json!({"roles": ["production-access"], "reason": "incident #10", "max_duration": "1s"}),
        )
        .await;
    let short_id = body["id"].as_str().unwrap().to_string();
    let (_, approved) = b.review("carrot", &short_id, "approve", "ok").await;
    assert_eq!(state(&approved), "approved");

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(6);
    loop {
        let (_, p) = b.get("bob", &format!("/v1/requests/{pending_id}")).await;
        let (_, s) = b.get("bob", &format!("/v1/requests/{short_id}")).await;
        if state(&p) == "expired" && state(&s) == "elapsed" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not swept in time: {} {}",
            state(&p),
            state(&s)
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let (_, events) = b
        .get("ponder", "/v1/audit/events?type=access_request.expire")
        .await;
    assert_eq!(events["events"][0]["code"], "T5005I");
    // Expired requests stay queryable.
    let (status, _) = b.get("bob", &format!("/v1/requests/{pending_id}")).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn emergency_requests_owe_a_post_incident_review() {
    let b = TestBroker::start();
    let id = b
        .create(
            "bob",
            &["production-access"],
            "EMERGENCY: merchants guild app down",
        )
        .await;
    let (_, body) = b.get("bob", &format!("/v1/requests/{id}")).await;
    assert_eq!(body["emergency"], true);
    let pir = json!({"outcome": "justified", "notes": "real outage, INC-77"});
    let (status, _) = b
        .post(
            "carrot",
            &format!("/v1/requests/{id}/post-incident-review"),
            pir.clone(),
        )
        .await;
    assert_eq!(status, 409, "not approved yet");
    b.review("carrot", &id, "approve", "called me at 3am, confirmed")
        .await;
    let (status, body) = b
        .post(
            "bob",
            &format!("/v1/requests/{id}/post-incident-review"),
            pir.clone(),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("self_review"))
    );
    let (status, body) = b
        .post(
            "adora",
            &format!("/v1/requests/{id}/post-incident-review"),
            pir.clone(),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["post_incident_review"]["outcome"], "justified");
    let (status, _) = b
        .post(
            "adora",
            &format!("/v1/requests/{id}/post-incident-review"),
            pir,
        )
        .await;
    assert_eq!(status, 409);
}

#[tokio::test]
async fn listing_pages_through_everything_once() {
    let b = TestBroker::start();
    let mut ids = Vec::new();
    for i in 0..25 {
        ids.push(
            b.create("bob", &["production-access"], &format!("incident #{i}"))
                .await,
        );
    }
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &after {
            Some(a) => format!("/v1/requests?state=pending&limit=10&after={a}"),
            None => "/v1/requests?state=pending&limit=10".to_string(),
        };
        let (status, page) = b.get("carrot", &path).await;
        assert_eq!(status, 200, "{page}");
        pages += 1;
        for r in page["requests"].as_array().unwrap() {
            seen.push(r["id"].as_str().unwrap().to_string());
        }
        match page["next"].as_str() {
            Some(next) => after = Some(next.to_string()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    ids.reverse();
    assert_eq!(seen, ids, "newest first, each once");
}

#[tokio::test]
async fn whoami_and_openapi() {
    let b = TestBroker::start();
    let (status, me) = b.get("bob", "/v1/whoami").await;
    assert_eq!(status, 200);
    assert_eq!(me["user"], "bob");
    assert_eq!(me["requestable_roles"], json!(["production-access"]));
    assert_eq!(me["reason_required"], true);
    let (_, carrot) = b.get("carrot", "/v1/whoami").await;
    assert_eq!(
        carrot["reviewable_roles"],
        json!(["production-access", "production-db-access"])
    );
    let (status, doc) = b
        .call(None, reqwest::Method::GET, "/v1/openapi.json", None)
        .await;
    assert_eq!(status, 200);
    for path in [
        "/v1/requests",
        "/v1/requests/{id}/reviews",
        "/v1/events",
        "/v1/audit/verify",
    ] {
        assert!(
            doc["paths"].get(path).is_some(),
            "{path} missing from the schema"
        );
    }
}

#[tokio::test]
async fn past_the_deadline_nothing_approves_and_requester_annotations_stay_apart() {
    let b = TestBroker::start();
    let (status, body) = b
        .post(
            "bob",
            "/v1/requests",
            json!({"roles": ["production-access"], "reason": "incident #3", "pending_ttl": "1s",
                   "annotations": {"tier": ["low"]}}),
        )
        .await;
    assert_eq!(status, 201);
    assert_eq!(body["requester_annotations"]["tier"], json!(["low"]));
    assert!(
        body["annotations"].get("tier").is_none(),
        "policy never reads what the requester adds"
    );
    let id = body["id"].as_str().unwrap().to_string();
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    let (status, body) = b.review("carrot", &id, "approve", "too late").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("not_pending")),
        "{body}"
    );
}

#[tokio::test]
async fn roles_summary_and_the_requesters_prompt_travel_with_the_request() {
    let b = TestBroker::start();
    let (status, roles) = b.get("carrot", "/v1/roles").await;
    assert_eq!(status, 200, "{roles}");
    let prod = roles
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "production-access")
        .cloned()
        .unwrap();
    assert_eq!(prod["max_session_ttl"], "4h");
    let names: Vec<&str> = roles
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert!(
        !names.contains(&"admin"),
        "only roles carrot deals with: {names:?}"
    );
    let id = b
        .create("bob", &["production-access"], "incident #47")
        .await;
    let (_, request) = b.get("carrot", &format!("/v1/requests/{id}")).await;
    assert_eq!(
        request["request_prompt"],
        "Name the incident or ticket (e.g. incident #47)"
    );
    assert_eq!(
        b.call(None, reqwest::Method::GET, "/v1/roles", None)
            .await
            .0,
        401
    );
}
