//! Paging and searching through the real broker: `GET /v1/requests?q=` finds
//! requests by requester, role, reason or id prefix within what the caller may see,
//! and `GET /v1/audit/findings?limit=&after=` pages the weekly review.

mod common;

use common::TestBroker;
use serde_json::Value;

/// Every request id a listing gives, following `next`.
async fn all_ids(b: &TestBroker, user: &str, query: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..50 {
        let path = match &after {
            Some(a) => format!("/v1/requests?{query}&after={a}"),
            None => format!("/v1/requests?{query}"),
        };
        let (status, page) = b.get(user, &path).await;
        assert_eq!(status, 200, "{path}: {page}");
        for r in page["requests"].as_array().unwrap() {
            ids.push(r["id"].as_str().unwrap().to_string());
        }
        match page["next"].as_str() {
            Some(next) => after = Some(next.to_string()),
            None => return ids,
        }
    }
    panic!("{query}: the listing never ended");
}

fn error_code(body: &Value) -> Option<&str> {
    body["error"]["code"].as_str()
}

#[tokio::test]
async fn the_listing_searches_requester_roles_reason_and_id_within_what_the_caller_sees() {
    let b = TestBroker::start();
    let deploy = b
        .create(
            "bob",
            &["production-access"],
            "incident #1 Deploy the 100% fix",
        )
        .await;
    let vacuum = b
        .create(
            "alice",
            &["production-db-access"],
            "OPS-7 vacuum the tables",
        )
        .await;
    let other = b
        .create("alice", &["production-access"], "incident #2 restart")
        .await;
    let search = |user: &'static str, q: &str| {
        let query = format!("q={}", urlencode(q));
        let b = &b;
        async move {
            let mut ids = all_ids(b, user, &query).await;
            ids.sort();
            ids
        }
    };
    let sorted = |mut ids: Vec<&String>| {
        ids.sort();
        ids.into_iter().cloned().collect::<Vec<_>>()
    };
    // The requester, in any case.
    assert_eq!(search("carrot", "BOB").await, vec![deploy.clone()]);
    // The reason, with % a plain character rather than a wildcard.
    assert_eq!(search("carrot", "DePloY").await, vec![deploy.clone()]);
    assert_eq!(search("carrot", "100%").await, vec![deploy.clone()]);
    assert_eq!(search("carrot", "1_0").await, Vec::<String>::new());
    // A role, by a part of its name.
    assert_eq!(search("carrot", "db-acc").await, vec![vacuum.clone()]);
    assert_eq!(
        search("carrot", "production").await,
        sorted(vec![&deploy, &vacuum, &other])
    );
    // The start of the id, with or without its hyphens; not its middle.
    assert_eq!(
        search("carrot", &vacuum[..34].to_uppercase()).await,
        vec![vacuum.clone()]
    );
    let simple = vacuum.replace('-', "");
    assert_eq!(search("carrot", &simple[..30]).await, vec![vacuum.clone()]);
    assert_eq!(search("carrot", &vacuum[20..]).await, Vec::<String>::new());
    // Visibility as the listing has it: dora reviews only production-db-access, so
    // bob's request is not found for her though its text matches.
    assert_eq!(search("dora", "incident").await, Vec::<String>::new());
    assert_eq!(search("dora", "vacuum").await, vec![vacuum.clone()]);
    // bob sees his own only.
    assert_eq!(search("bob", "incident").await, vec![deploy.clone()]);
    // Combined with the other parameters; blank is no search.
    assert_eq!(
        all_ids(&b, "carrot", "q=incident&user=alice").await,
        vec![other.clone()]
    );
    assert_eq!(all_ids(&b, "carrot", "q=%20%20").await.len(), 3);
    // Paged like any listing.
    let (status, page) = b.get("carrot", "/v1/requests?q=production&limit=2").await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["requests"].as_array().unwrap().len(), 2);
    assert!(page["next"].is_string(), "{page}");
    assert_eq!(
        all_ids(&b, "carrot", "q=production&limit=1").await.len(),
        3,
        "a page at a time, each once"
    );
}

#[tokio::test]
async fn a_search_the_broker_will_not_run_is_a_clear_400() {
    let b = TestBroker::start();
    b.create("bob", &["production-access"], "incident #1").await;
    let long = "x".repeat(257);
    for q in [long.as_str(), "a%0Ab", "%1B%5B31m"] {
        let (status, body) = b.get("carrot", &format!("/v1/requests?q={q}")).await;
        assert_eq!(
            (status, error_code(&body)),
            (400, Some("invalid_request")),
            "{q}: {body}"
        );
        assert!(
            body["error"]["message"].as_str().unwrap().starts_with("q:"),
            "{body}"
        );
    }
}

/// The findings of one page, and the next cursor.
async fn findings_page(b: &TestBroker, query: &str) -> (Vec<Value>, Option<String>, Value) {
    let (status, body) = b
        .get("ponder", &format!("/v1/audit/findings?{query}"))
        .await;
    assert_eq!(status, 200, "{query}: {body}");
    let findings = body["findings"].as_array().unwrap().clone();
    let next = body["next"].as_str().map(String::from);
    (findings, next, body)
}

fn keys(findings: &[Value]) -> Vec<String> {
    findings
        .iter()
        .map(|f| {
            f["key"]
                .as_str()
                .expect("every finding has its key")
                .to_string()
        })
        .collect()
}

#[tokio::test]
async fn findings_come_whole_without_a_limit_and_a_page_at_a_time_with_one() {
    let b = TestBroker::start();
    // Reasons that name no ticket: one finding each, and bob's repeats.
    for (user, reason) in [
        ("bob", "deploy"),
        ("bob", "deploy again"),
        ("bob", "and again"),
        ("alice", "look around"),
        ("sam", "curious"),
    ] {
        let (status, body) = b
            .post(
                user,
                "/v1/requests",
                serde_json::json!({"roles": ["production-access"], "reason": reason}),
            )
            .await;
        assert_eq!(status, 201, "{user}: {body}");
    }
    // As before: every finding, no cursor; now with keys and the total.
    let (all, next, body) = findings_page(&b, "").await;
    assert!(all.len() >= 6, "{body}");
    assert_eq!(next, None);
    assert_eq!(body["total"], all.len());
    for finding in &all {
        let key = finding["key"].as_str().unwrap();
        let expected = format!(
            "{}:{}:{}",
            finding["kind"].as_str().unwrap(),
            finding["request_id"].as_str().unwrap_or(""),
            finding["reviewer"].as_str().unwrap_or("")
        );
        assert_eq!(key, expected);
    }
    // Two at a time: the same findings in the same order, each once.
    let mut paged = Vec::new();
    let mut after: Option<String> = None;
    let mut pages = 0;
    loop {
        let query = match &after {
            Some(a) => format!("limit=2&after={}", urlencode(a)),
            None => "limit=2".to_string(),
        };
        let (page, next, body) = findings_page(&b, &query).await;
        assert!(page.len() <= 2);
        assert_eq!(body["total"], all.len());
        paged.extend(page);
        pages += 1;
        match next {
            Some(next) => after = Some(next),
            None => break,
        }
        assert!(pages < 20, "the pages never ended");
    }
    assert_eq!(keys(&paged), keys(&all));
    assert_eq!(pages, all.len().div_ceil(2));
    // Sorted: newest first by time, grouped by kind.
    let (by_time, _, _) = findings_page(&b, "sort=time").await;
    let times: Vec<&str> = by_time.iter().map(|f| f["at"].as_str().unwrap()).collect();
    let mut newest_first = times.clone();
    newest_first.sort_by(|a, b| b.cmp(a));
    assert_eq!(times, newest_first);
    let (by_kind, _, _) = findings_page(&b, "sort=kind&limit=100").await;
    let kinds: Vec<&str> = by_kind
        .iter()
        .map(|f| f["kind"].as_str().unwrap())
        .collect();
    let mut grouped = kinds.clone();
    grouped.dedup();
    let mut distinct = grouped.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(grouped.len(), distinct.len(), "each kind once: {kinds:?}");
}

#[tokio::test]
async fn a_findings_page_asked_wrongly_is_a_clear_400() {
    let b = TestBroker::start();
    for query in [
        "after=2/no_ticket:x:",
        "limit=2&after=nonsense",
        "limit=2&after=-1/k",
        "sort=loudest",
        "limit=many",
        "page=2",
    ] {
        let (status, body) = b
            .get("ponder", &format!("/v1/audit/findings?{query}"))
            .await;
        assert_eq!(
            (status, error_code(&body)),
            (400, Some("invalid_request")),
            "{query}: {body}"
        );
    }
    // Paging still needs the audit rule.
    let (status, _) = b.get("bob", "/v1/audit/findings?limit=2").await;
    assert_eq!(status, 403);
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn request_ls_search_asks_the_broker() {
    let b = TestBroker::start();
    let wanted = b
        .create("bob", &["production-access"], "incident #3 Clacks relay")
        .await;
    b.create("bob", &["production-access"], "incident #4 something else")
        .await;
    let out = std::process::Command::new(common::BIN)
        .args(["request", "ls", "--search", "CLACKS", "--format", "json"])
        .env("COUNTERSIGN_BROKER", &b.url)
        .env("COUNTERSIGN_TOKEN", b.token("carrot"))
        .env_remove("COUNTERSIGN_CONFIG")
        .env("XDG_CONFIG_HOME", b.dir.path())
        .env("HOME", b.dir.path())
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run countersign");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed: Value = serde_json::from_slice(&out.stdout).expect("json");
    let ids: Vec<&str> = listed["requests"]
        .as_array()
        .expect("the listing's requests")
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![wanted.as_str()]);
}
