//! `admin migrate`: a real SQLite broker's history copied into PostgreSQL verifies
//! there, holds the same requests, and serves the same users.

mod common;
mod pg_common;

use std::process::Command;

use common::{BIN, TestBroker};
use countersign::broker::store::{Location, RequestQuery, Store};
use serde_json::json;

fn public_key(dir: &std::path::Path) -> String {
    let key = dir.join("id_ed25519");
    let made = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .status()
        .expect("run ssh-keygen");
    assert!(made.success());
    std::fs::read_to_string(key.with_extension("pub")).expect("the public key")
}

fn all_requests(store: &dyn Store) -> Vec<countersign::model::Request> {
    store
        .list_requests(&RequestQuery {
            limit: 10_000,
            ..Default::default()
        })
        .expect("list requests")
}

#[tokio::test]
async fn an_sqlite_history_migrates_verifies_and_serves_the_same_requests() {
    let Some(db) = pg_common::fresh_database() else {
        return;
    };
    let mut broker = TestBroker::start();
    let approved = broker
        .create("bob", &["production-access"], "incident #47")
        .await;
    let (status, _) = broker.review("carrot", &approved, "approve", "ok").await;
    assert_eq!(status, 200);
    let denied = broker
        .create("alice", &["production-db-access"], "migration")
        .await;
    let (status, _) = broker
        .review("dora", &denied, "deny", "not this week")
        .await;
    assert_eq!(status, 200);
    let _pending = broker.create("bob", &["production-access"], "later").await;
    // A refused attempt, a finding marked reviewed and a certificate: all of it
    // is history the copy must carry.
    let (status, _) = broker.review("bob", &approved, "approve", "me").await;
    assert_eq!(status, 403);
    // Mark a finding the review really has (the broker refuses keys it has not).
    let (status, report) = broker.get("ponder", "/v1/audit/findings?window=1h").await;
    assert_eq!(status, 200, "{report}");
    let key = report["findings"]
        .as_array()
        .and_then(|all| all.first())
        .map(|f| {
            // kind:request-id:reviewer, as `audit findings` prints it.
            format!(
                "{}:{}:{}",
                f["kind"].as_str().unwrap_or_default(),
                f["request_id"].as_str().unwrap_or_default(),
                f["reviewer"].as_str().unwrap_or_default()
            )
        })
        .unwrap_or_else(|| panic!("the history has no finding: {report}"));
    let (status, mark) = broker
        .post(
            "ponder",
            "/v1/audit/findings/reviewed",
            json!({"key": key, "note": "fine"}),
        )
        .await;
    assert_eq!(status, 200, "{mark}");
    let keys = tempfile::tempdir().expect("tempdir");
    let (status, cert) = broker
        .post(
            "bob",
            &format!("/v1/requests/{approved}/certificate"),
            json!({"public_key": public_key(keys.path())}),
        )
        .await;
    assert_eq!(status, 201, "{cert}");
    assert_eq!(broker.terminate().code(), Some(0));

    let out = Command::new(BIN)
        .args(["admin", "--data-dir"])
        .arg(broker.dir.path())
        .args(["migrate", "--to", &db])
        .output()
        .expect("run admin migrate");
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("the copy verifies"), "{said}");
    let (ok, report) = pg_common::verify(&db);
    assert!(ok, "{report}");

    let sqlite = countersign::broker::store::open(&Location::Sqlite(broker.dir.path().into()))
        .expect("open the SQLite store");
    let postgres =
        countersign::broker::store::open(&Location::Postgres(db.clone())).expect("open the copy");
    assert_eq!(
        all_requests(postgres.as_ref()),
        all_requests(sqlite.as_ref())
    );
    assert_eq!(all_requests(postgres.as_ref()).len(), 3);
    assert_eq!(postgres.head().unwrap(), sqlite.head().unwrap());
    assert_eq!(
        postgres.certificates(approved.parse().unwrap()).unwrap(),
        sqlite.certificates(approved.parse().unwrap()).unwrap()
    );
    assert_eq!(postgres.users().unwrap(), sqlite.users().unwrap());
    assert_eq!(
        postgres.roles().unwrap(),
        sqlite.roles().unwrap(),
        "the roles in force"
    );

    // A second migration into the same database is refused, leaving it as it was.
    let again = Command::new(BIN)
        .args(["admin", "--data-dir"])
        .arg(broker.dir.path())
        .args(["migrate", "--to", &db])
        .output()
        .expect("run admin migrate");
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("empty database"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );

    // A broker on the copy knows the same tokens and goes on from the same head.
    let on_pg = pg_common::PgBroker::start(&db);
    let http = reqwest::Client::new();
    let (status, made) = pg_common::create(
        &http,
        &on_pg.url,
        broker.token("bob"),
        &["production-access"],
    )
    .await
    .expect("the broker answers");
    assert_eq!(status, 201, "{made}");
    let (ok, report) = pg_common::verify(&db);
    assert!(ok, "{report}");
    let roles_now = postgres.put_roles("x.yaml", "kind: role", chrono::Utc::now());
    assert!(
        roles_now.unwrap() > sqlite.roles_version().unwrap(),
        "role versions go on after the copied ones"
    );
}
