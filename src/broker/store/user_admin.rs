//! The admin CLI's changes to users, each committed in one transaction with the
//! audit event that records it (`user.create`, `user.update`, `user.delete`), so a
//! user is never changed without a trace and a trace never names a change that
//! did not happen. Tokens never enter the log; only that one was replaced.

use std::collections::BTreeMap;

use rusqlite::{OptionalExtension, Transaction, params};

use super::StoreError;
use super::chain::EventDraft;
use super::rows::encode;
use super::sqlite::{self, SqliteStore};
use crate::model::{EventType, Time, User};

/// One change to the users table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserChange {
    Add {
        user: User,
        token_hash: String,
    },
    Remove {
        name: String,
    },
    /// New static roles (when given) and trait values by key (an empty list drops
    /// the key); the token stays.
    Edit {
        name: String,
        roles: Option<Vec<String>>,
        traits: BTreeMap<String, Vec<String>>,
    },
    RotateToken {
        name: String,
        token_hash: String,
    },
}

impl UserChange {
    pub(super) fn name(&self) -> &str {
        match self {
            UserChange::Add { user, .. } => &user.name,
            UserChange::Remove { name }
            | UserChange::Edit { name, .. }
            | UserChange::RotateToken { name, .. } => name,
        }
    }
}

/// What a change does to the users table, decided from the user as it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum UserWrite {
    Insert { user: User, token_hash: String },
    Delete { name: String },
    Update { user: User },
    Token { name: String, token_hash: String },
}

/// A change decided: the row write, and the event that records it.
#[derive(Debug)]
pub(super) struct UserPlan {
    pub write: UserWrite,
    pub after: User,
    kind: EventType,
    action: &'static str,
}

impl UserPlan {
    /// Decides `change` against the user as it is (`before`): `Ok(None)` when
    /// there is no such user to change (nothing is written then).
    pub fn decide(change: &UserChange, before: Option<User>) -> Result<Option<Self>, StoreError> {
        let plan = match (change, before) {
            (UserChange::Add { user, .. }, Some(_)) => {
                return Err(StoreError::Conflict(format!(
                    "user {:?} already exists (change it with users set-roles, or rotate its token)",
                    user.name
                )));
            }
            (UserChange::Add { user, token_hash }, None) => UserPlan {
                write: UserWrite::Insert {
                    user: user.clone(),
                    token_hash: token_hash.clone(),
                },
                after: user.clone(),
                kind: EventType::UserCreate,
                action: "add",
            },
            (_, None) => return Ok(None),
            (UserChange::Remove { name }, Some(user)) => UserPlan {
                write: UserWrite::Delete { name: name.clone() },
                after: user,
                kind: EventType::UserDelete,
                action: "remove",
            },
            (UserChange::Edit { roles, traits, .. }, Some(mut user)) => {
                if let Some(roles) = roles {
                    user.roles = roles.clone();
                }
                for (key, values) in traits {
                    if values.is_empty() {
                        user.traits.remove(key);
                    } else {
                        user.traits.insert(key.clone(), values.clone());
                    }
                }
                UserPlan {
                    write: UserWrite::Update { user: user.clone() },
                    after: user,
                    kind: EventType::UserUpdate,
                    action: "set_roles",
                }
            }
            (UserChange::RotateToken { name, token_hash }, Some(user)) => UserPlan {
                write: UserWrite::Token {
                    name: name.clone(),
                    token_hash: token_hash.clone(),
                },
                after: user,
                kind: EventType::UserUpdate,
                action: "rotate_token",
            },
        };
        Ok(Some(plan))
    }

    /// The event recording the change (never a token hash).
    pub fn event(&self, actor: &str, now: Time) -> Result<EventDraft, StoreError> {
        let mut draft = EventDraft::new(self.kind, actor, now)
            .field("action", self.action)
            .field("subject", self.after.name.as_str());
        draft.roles = self.after.roles.clone();
        if !self.after.traits.is_empty() {
            let traits = serde_json::to_value(&self.after.traits)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            draft = draft.field("traits", traits);
        }
        Ok(draft)
    }
}

fn read_user(tx: &Transaction, name: &str) -> Result<Option<User>, StoreError> {
    let row: Option<(String, String)> = tx
        .query_row(
            "SELECT roles, traits FROM users WHERE name = ?1",
            [name],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()?;
    let Some((roles, traits)) = row else {
        return Ok(None);
    };
    let corrupt = |e: serde_json::Error| StoreError::Corrupt(format!("user {name:?}: {e}"));
    Ok(Some(User {
        name: name.to_string(),
        roles: serde_json::from_str(&roles).map_err(corrupt)?,
        traits: serde_json::from_str(&traits).map_err(corrupt)?,
    }))
}

impl SqliteStore {
    /// Applies `change` by `actor` and appends its event, in one transaction.
    /// Returns the user as it is afterwards (as it was, for a removal), or `None`
    /// when there is no such user (nothing is written then).
    pub(super) fn change_user_sqlite(
        &self,
        change: &UserChange,
        actor: &str,
        now: Time,
    ) -> Result<Option<User>, StoreError> {
        self.admin_write(|tx| {
            let Some(plan) = UserPlan::decide(change, read_user(tx, change.name())?)? else {
                return Ok(None);
            };
            match &plan.write {
                UserWrite::Insert { user, token_hash } => tx.execute(
                    "INSERT INTO users (name, roles, traits, token_hash, created_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![
                        user.name,
                        encode(&user.roles)?,
                        encode(&user.traits)?,
                        token_hash,
                        now.timestamp_millis()
                    ],
                )?,
                UserWrite::Delete { name } => tx.execute("DELETE FROM users WHERE name = ?1", [name])?,
                UserWrite::Update { user } => tx.execute(
                    "UPDATE users SET roles = ?2, traits = ?3 WHERE name = ?1",
                    params![user.name, encode(&user.roles)?, encode(&user.traits)?],
                )?,
                UserWrite::Token { name, token_hash } => tx.execute(
                    "UPDATE users SET token_hash = ?2 WHERE name = ?1",
                    params![name, token_hash],
                )?,
            };
            let mut head = sqlite::read_head(tx)?;
            sqlite::append(tx, &mut head, plan.event(actor, now)?)?;
            Ok(Some(plan.after))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::store::{EventQuery, Store};
    use chrono::TimeZone;

    fn at(minute: u32) -> Time {
        chrono::Utc
            .with_ymd_and_hms(2026, 12, 1, 9, minute, 0)
            .single()
            .unwrap_or_default()
    }

    #[test]
    fn each_change_is_written_with_its_event_and_a_missing_user_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        let ponder = User {
            name: "ponder".into(),
            roles: vec!["developer".into()],
            traits: BTreeMap::from([("team".to_string(), vec!["unseen".to_string()])]),
        };
        let add = UserChange::Add {
            user: ponder.clone(),
            token_hash: "h1".into(),
        };
        assert_eq!(
            store.change_user(&add, "admin:root", at(0)).unwrap(),
            Some(ponder.clone())
        );
        assert!(matches!(
            store.change_user(&add, "admin:root", at(1)),
            Err(StoreError::Conflict(_))
        ));
        let edit = UserChange::Edit {
            name: "ponder".into(),
            roles: Some(vec!["developer".into(), "developer-db-request".into()]),
            traits: BTreeMap::from([
                ("team".to_string(), vec!["hex".to_string()]),
                ("gone".to_string(), Vec::new()),
            ]),
        };
        let edited = store
            .change_user(&edit, "admin:root", at(2))
            .unwrap()
            .unwrap();
        assert_eq!(edited.roles, ["developer", "developer-db-request"]);
        assert_eq!(edited.traits["team"], ["hex"]);
        assert!(!edited.traits.contains_key("gone"));
        // The token stayed.
        assert_eq!(
            store.user_by_token_hash("h1").unwrap(),
            Some(edited.clone())
        );
        let rotate = UserChange::RotateToken {
            name: "ponder".into(),
            token_hash: "h2".into(),
        };
        store.change_user(&rotate, "admin:root", at(3)).unwrap();
        assert_eq!(store.user_by_token_hash("h1").unwrap(), None);
        let remove = UserChange::Remove {
            name: "ponder".into(),
        };
        store.change_user(&remove, "admin:root", at(4)).unwrap();
        assert!(store.users().unwrap().is_empty());
        for missing in [&edit, &rotate, &remove] {
            assert_eq!(
                store.change_user(missing, "admin:root", at(5)).unwrap(),
                None
            );
        }

        let events = store
            .events(&EventQuery {
                limit: 100,
                ..EventQuery::default()
            })
            .unwrap();
        let seen: Vec<(EventType, &str, &str)> = events
            .iter()
            .map(|e| {
                (
                    e.kind,
                    e.field_str("action").unwrap_or_default(),
                    e.field_str("subject").unwrap_or_default(),
                )
            })
            .collect();
        assert_eq!(
            seen,
            [
                (EventType::UserCreate, "add", "ponder"),
                (EventType::UserUpdate, "set_roles", "ponder"),
                (EventType::UserUpdate, "rotate_token", "ponder"),
                (EventType::UserDelete, "remove", "ponder"),
            ]
        );
        assert!(events.iter().all(|e| e.user == "admin:root"));
        // No token hash is ever logged.
        let bodies = serde_json::to_string(&events).unwrap();
        assert!(!bodies.contains("h1") && !bodies.contains("h2"), "{bodies}");
        assert!(store.verify_chain().unwrap().ok, "the chain verifies");
    }
}
