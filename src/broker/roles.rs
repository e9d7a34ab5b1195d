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
    let text = std::fs::read_to_string(path).map_err(|e| ApplyError::Read {
        path: path.display().to_string(),
        why: e.to_string(),
    })?;
    let source = path.display().to_string();
    let set = compile(&source, &text)?;
    let version = store.put_roles(&source, &text, now)?;
    Ok((version, set))
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
        let version = store.roles_version()?;
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
