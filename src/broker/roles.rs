//! The applied roles: validated before they are stored, cached parsed, and reloaded
//! when the admin CLI (possibly another process) applies new ones.

use std::path::Path;
use std::sync::{Arc, RwLock};

use super::store::{Store, StoreError, StoredRoles};
use crate::model::Time;
use crate::policy::{PolicyError, RoleSet};

/// Parses and validates role text; errors name the source, line and problem.
pub fn compile(source_name: &str, text: &str) -> Result<RoleSet, PolicyError> {
    RoleSet::new(RoleSet::parse(text, source_name)?)
}

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("cannot read {path}: {why}")]
    Read { path: String, why: String },
    #[error("{0}\n(the roles in force were left unchanged)")]
    Invalid(PolicyError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<PolicyError> for ApplyError {
    fn from(err: PolicyError) -> Self {
        ApplyError::Invalid(err)
    }
}

/// Validates a role file and, only if it is wholly valid, makes it the roles in force.
pub fn apply_file(store: &dyn Store, path: &Path, now: Time) -> Result<(u64, RoleSet), ApplyError> {
    let text = read_bounded(path).map_err(|why| ApplyError::Read {
        path: path.display().to_string(),
        why,
    })?;
    let source = path.display().to_string();
    let set = compile(&source, &text)?;
    let version = store.put_roles(&source, &text, now)?;
    Ok((version, set))
}

/// Reads a role file, refusing one larger than a role file may be before reading it
/// all (a role file path could name anything, `/dev/zero` included).
fn read_bounded(path: &Path) -> Result<String, String> {
    use std::io::Read;
    let limit = crate::policy::MAX_ROLE_FILE_BYTES;
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut bytes = Vec::new();
    file.take(limit as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    if bytes.len() > limit {
        return Err(format!(
            "the file is larger than {limit} bytes, the most a role file may be"
        ));
    }
    String::from_utf8(bytes).map_err(|_| "the file is not UTF-8 text".to_string())
}

/// The parsed roles in force, refreshed when the stored version changes.
pub struct RolesCache {
    current: RwLock<(u64, Arc<RoleSet>)>,
}

impl Default for RolesCache {
    fn default() -> Self {
        RolesCache {
            current: RwLock::new((0, Arc::new(RoleSet::default()))),
        }
    }
}

impl RolesCache {
    /// The roles as last loaded, without touching the store.
    pub fn cached(&self) -> Arc<RoleSet> {
        match self.current.read() {
            Ok(guard) => guard.1.clone(),
            Err(poisoned) => poisoned.into_inner().1.clone(),
        }
    }

    /// The roles in force, reloading them if another process applied new ones.
    /// Blocking: call from a blocking context.
    pub fn current(&self, store: &dyn Store) -> Result<Arc<RoleSet>, StoreError> {
        self.at_version(store, store.roles_version()?)
    }

    /// The roles in force, given the stored version just read: loaded again only
    /// when it moved.
    pub fn at_version(&self, store: &dyn Store, version: u64) -> Result<Arc<RoleSet>, StoreError> {
        let loaded = match self.current.read() {
            Ok(guard) => guard.0,
            Err(poisoned) => poisoned.into_inner().0,
        };
        if version != loaded
            && let Some(stored) = store.roles()?
        {
            self.load(stored);
        }
        Ok(self.cached())
    }

    fn load(&self, stored: StoredRoles) {
        match compile(&stored.source_name, &stored.text) {
            Ok(set) => {
                if let Ok(mut guard) = self.current.write() {
                    *guard = (stored.version, Arc::new(set));
                }
            }
            Err(err) => {
                // Stored roles were valid when applied; a newer binary may disagree.
                tracing::error!(
                    "stored roles version {} no longer load: {err}; keeping the previous roles",
                    stored.version
                );
                if let Ok(mut guard) = self.current.write() {
                    guard.0 = stored.version;
                }
            }
        }
    }
}
