use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A person or bot known to the broker: static roles and traits (claims).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct User {
    pub name: String,
    pub roles: Vec<String>,
    #[serde(default)]
    pub traits: BTreeMap<String, Vec<String>>,
}
