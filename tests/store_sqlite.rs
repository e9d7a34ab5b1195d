//! The store conformance suite on the embedded SQLite backend.

mod store_conformance;

use std::sync::Arc;

use countersign::broker::store::{Location, Store};
use store_conformance::{Backend, Fixture};

struct Sqlite;

struct SqliteFixture {
    dir: tempfile::TempDir,
    store: Arc<dyn Store>,
}

impl Backend for Sqlite {
    fn fresh(&self) -> Box<dyn Fixture> {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = countersign::broker::store::open(&Location::Sqlite(dir.path().into()))
            .expect("open the store");
        Box::new(SqliteFixture { dir, store })
    }
}

impl Fixture for SqliteFixture {
    fn store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }

    fn reopen(&mut self) -> Arc<dyn Store> {
        self.store.close();
        self.store = countersign::broker::store::open(&Location::Sqlite(self.dir.path().into()))
            .expect("reopen the store");
        self.store.clone()
    }

    fn raw(&self, sql: &str) -> Result<(), String> {
        let conn = rusqlite::Connection::open(self.dir.path().join("countersign.db"))
            .map_err(|e| e.to_string())?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(|e| e.to_string())?;
        conn.execute_batch(sql).map_err(|e| e.to_string())
    }
}

conformance!(Some(Sqlite));
