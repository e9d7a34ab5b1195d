//! The store conformance suite on PostgreSQL.

mod common;
mod pg_common;
mod store_conformance;

use std::sync::Arc;

use countersign::broker::store::{Location, Store};
use store_conformance::{Backend, Fixture};

struct Postgres;

struct PgFixture {
    url: String,
    store: Arc<dyn Store>,
}

impl Backend for Postgres {
    fn fresh(&self) -> Box<dyn Fixture> {
        let url = pg_common::fresh_database().expect("a PostgreSQL server");
        let store = countersign::broker::store::open(&Location::Postgres(url.clone()))
            .expect("open the store");
        Box::new(PgFixture { url, store })
    }
}

impl Fixture for PgFixture {
    fn store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }

    fn reopen(&mut self) -> Arc<dyn Store> {
        self.store.close();
        self.store = countersign::broker::store::open(&Location::Postgres(self.url.clone()))
            .expect("reopen the store");
        self.store.clone()
    }

    fn raw(&self, sql: &str) -> Result<(), String> {
        pg_common::execute(&self.url, sql)
    }
}

fn postgres() -> Option<Postgres> {
    pg_common::server().map(|_| Postgres)
}

conformance!(postgres());

#[test]
fn a_database_that_cannot_be_reached_is_unavailable_not_an_internal_error() {
    // Nothing listens on port 1: a broker there answers 503 and clients move on.
    let opened = countersign::broker::store::open(&Location::Postgres(
        "postgres://cs@127.0.0.1:1/cs".into(),
    ));
    match opened {
        Err(countersign::broker::store::StoreError::Unavailable(why)) => {
            assert!(!why.is_empty())
        }
        Err(other) => panic!("expected Unavailable, got {other:?}"),
        Ok(_) => panic!("a store opened on a port where nothing listens"),
    }
}
