//! Where the store lives, from one URL: `sqlite:DIR` or a plain directory (the
//! embedded default), or `postgres://…` (several brokers on one database). This is
//! the only place that chooses a backend.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::verify::{ExpectedHead, Verification};
use super::{DataDirLock, SqliteStore, Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A data directory holding `countersign.db`.
    Sqlite(PathBuf),
    /// A libpq-style URL, `postgres://user:password@host:port/database`.
    Postgres(String),
}

impl Location {
    /// `postgres://…`/`postgresql://…`, `sqlite:DIR`/`sqlite://DIR`, or a directory.
    pub fn parse(text: &str) -> Location {
        let text = text.trim();
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            return Location::Postgres(text.to_string());
        }
        let dir = text
            .strip_prefix("sqlite://")
            .or_else(|| text.strip_prefix("sqlite:"))
            .unwrap_or(text);
        Location::Sqlite(PathBuf::from(dir))
    }

    /// `--database` when given, else `--data-dir`.
    pub fn choose(database: Option<&str>, data_dir: Option<&Path>) -> Result<Location, StoreError> {
        match (database, data_dir) {
            (Some(url), _) if !url.trim().is_empty() => Ok(Location::parse(url)),
            (_, Some(dir)) => Ok(Location::Sqlite(dir.to_path_buf())),
            _ => Err(StoreError::DataDir {
                path: PathBuf::new(),
                why: "no database: give --database URL (postgres://… or sqlite:DIR) or --data-dir DIR".into(),
            }),
        }
    }

    /// The data directory, for an SQLite store.
    pub fn data_dir(&self) -> Option<&Path> {
        match self {
            Location::Sqlite(dir) => Some(dir),
            Location::Postgres(_) => None,
        }
    }

    /// For logs and banners: a PostgreSQL password is never shown.
    pub fn describe(&self) -> String {
        match self {
            Location::Sqlite(dir) => dir.display().to_string(),
            Location::Postgres(url) => redact(url),
        }
    }
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`.
fn redact(url: &str) -> String {
    let url = redact_query(url);
    let url = url.as_str();
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(at) => rest.split_at(at),
        None => (rest, ""),
    };
    let Some((credentials, host)) = authority.rsplit_once('@') else {
        return url.to_string();
    };
    match credentials.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}{tail}"),
        None => url.to_string(),
    }
}

/// `…?password=secret&…` → `…?password=***&…`.
fn redact_query(url: &str) -> String {
    let Some((base, query)) = url.split_once('?') else {
        return url.to_string();
    };
    let pairs: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some(("password", _)) => "password=***".to_string(),
            _ => pair.to_string(),
        })
        .collect();
    format!("{base}?{}", pairs.join("&"))
}

/// A store a broker serves from, with what it holds for as long as it runs.
pub struct Served {
    pub store: Arc<dyn Store>,
    /// One broker per SQLite data directory; PostgreSQL takes several.
    _lock: Option<DataDirLock>,
}

/// Opens the store for a broker: for SQLite the data directory's lock first (a
/// second broker must not even migrate it), then `PRAGMA quick_check`.
pub fn serve(location: &Location) -> Result<Served, StoreError> {
    match location {
        Location::Sqlite(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::DataDir {
                path: dir.clone(),
                why: format!("cannot create it: {e}"),
            })?;
            let lock = DataDirLock::acquire(dir)?;
            let store = SqliteStore::open(dir)?;
            store.quick_check()?;
            Ok(Served {
                store: Arc::new(store),
                _lock: Some(lock),
            })
        }
        Location::Postgres(url) => Ok(Served {
            store: Arc::new(super::postgres::PgStore::open(url)?),
            _lock: None,
        }),
    }
}

/// Opens the store for the admin CLI, beside a running broker.
pub fn open(location: &Location) -> Result<Arc<dyn Store>, StoreError> {
    Ok(match location {
        Location::Sqlite(dir) => Arc::new(SqliteStore::open(dir)?),
        Location::Postgres(url) => Arc::new(super::postgres::PgStore::open(url)?),
    })
}

/// `audit verify` straight on the database, changing nothing; a missing or
/// empty store is refused.
pub fn verify(
    location: &Location,
    expect: Option<&ExpectedHead>,
) -> Result<Verification, StoreError> {
    match location {
        Location::Sqlite(dir) => {
            let conn = super::verify::open_read_only(dir)?;
            super::verify::verify(&conn, expect)
        }
        Location::Postgres(url) => super::postgres::verify(url, expect),
    }
}

/// The newest event's seq and hash, read without changing anything.
pub fn head(location: &Location) -> Result<(u64, String), StoreError> {
    match location {
        Location::Sqlite(dir) => {
            let conn = super::verify::open_read_only(dir)?;
            super::sqlite::head(&conn)
        }
        Location::Postgres(url) => super::postgres::head(url),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_paths_pick_their_backend() {
        assert_eq!(
            Location::parse("postgres://cs@db:5432/countersign"),
            Location::Postgres("postgres://cs@db:5432/countersign".into())
        );
        assert!(matches!(
            Location::parse("postgresql://db/x"),
            Location::Postgres(_)
        ));
        assert_eq!(
            Location::parse("sqlite:/var/lib/countersign"),
            Location::Sqlite("/var/lib/countersign".into())
        );
        assert_eq!(
            Location::parse("sqlite:///var/lib/cs"),
            Location::Sqlite("/var/lib/cs".into())
        );
        assert_eq!(Location::parse("./data"), Location::Sqlite("./data".into()));
        assert!(Location::choose(None, None).is_err());
        assert_eq!(
            Location::choose(Some("postgres://h/d"), Some(Path::new("/x"))).unwrap(),
            Location::Postgres("postgres://h/d".into())
        );
    }

    #[test]
    fn passwords_never_reach_a_banner() {
        let shown = Location::parse("postgres://cs:hunter2@db:5432/countersign").describe();
        assert_eq!(shown, "postgres://cs:***@db:5432/countersign");
        assert_eq!(
            Location::parse("postgres://db/countersign?user=cs&password=x").describe(),
            "postgres://db/countersign?user=cs&password=***"
        );
    }
}
