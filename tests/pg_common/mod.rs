//! A real PostgreSQL for tests: `COUNTERSIGN_TEST_PG` names a server (`.ci/pg-up`
//! starts a throwaway one) and each test gets a database of its own on it.
//! Without the variable the tests skip, saying so — except in CI, where they fail.

#![allow(dead_code)]

/// The server's URL, or `None` (having said why) when there is none outside CI.
pub fn server() -> Option<String> {
    match std::env::var("COUNTERSIGN_TEST_PG") {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ if std::env::var_os("CI").is_some() => panic!(
            "COUNTERSIGN_TEST_PG is not set: CI must start PostgreSQL (.ci/pg-up) for the PostgreSQL tests"
        ),
        _ => {
            eprintln!(
                "skipping: COUNTERSIGN_TEST_PG is not set (eval \"$(.ci/pg-up)\" starts a throwaway PostgreSQL)"
            );
            None
        }
    }
}

/// Runs SQL on the database at `url`.
pub fn execute(url: &str, sql: &str) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        client
            .batch_execute(sql)
            .await
            .map_err(|e| match e.as_db_error() {
                Some(db) => db.message().to_string(),
                None => e.to_string(),
            })
    })
}

/// A new, empty database on the server, and its URL.
pub fn fresh_database() -> Option<String> {
    let server = server()?;
    let name = format!("cs_test_{}", uuid::Uuid::now_v7().simple());
    execute(&server, &format!("CREATE DATABASE {name}")).expect("create a test database");
    let (base, _) = server
        .split_once('?')
        .map(|(b, q)| (b.to_string(), q))
        .unwrap_or((server.clone(), ""));
    let (root, _) = base
        .rsplit_once('/')
        .filter(|(root, _)| root.contains("://") && !root.ends_with('/'))
        .unwrap_or((base.as_str(), ""));
    Some(format!("{root}/{name}"))
}
