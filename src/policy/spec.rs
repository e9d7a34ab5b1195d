//! The parts of a role the broker uses, compiled once: matchers, predicates,
//! thresholds and rules.

use std::collections::BTreeMap;

use serde_json::Value;

use super::fields::Reader;
use super::matcher::{Matcher, compile_all};
use super::predicate::Predicate;
use super::{PolicyError, Resource, Role, Verb};
use crate::model::{Duration, Threshold};

const REQUEST: [&str; 3] = ["spec", "allow", "request"];
const REVIEW: [&str; 3] = ["spec", "allow", "review_requests"];

#[derive(Debug, Clone)]
pub(crate) struct RoleSpec {
    pub request_roles: Vec<Matcher>,
    pub claims_to_roles: Vec<ClaimMapping>,
    /// Thresholds as written (an absent count is 0: that side never fires), filters
    /// already checked.
    pub thresholds: Vec<Threshold>,
    pub reason_required: bool,
    pub suggested_reviewers: Vec<String>,
    pub annotations: BTreeMap<String, Vec<String>>,
    pub max_duration: Option<Duration>,
    pub review_roles: Vec<Matcher>,
    pub review_where: Option<Predicate>,
    pub allow_rules: Vec<Rule>,
    pub deny_request_roles: Vec<Matcher>,
    pub deny_review_roles: Vec<Matcher>,
    pub deny_rules: Vec<Rule>,
}

/// `claims_to_roles`: users whose trait `claim` has a value matching `value` may
/// request roles matching `roles`.
#[derive(Debug, Clone)]
pub(crate) struct ClaimMapping {
    pub claim: String,
    pub value: Matcher,
    pub roles: Vec<Matcher>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rule {
    pub resources: Vec<String>,
    pub verbs: Vec<String>,
}

impl Rule {
    pub(crate) fn covers(&self, resource: Resource, verb: Verb) -> bool {
        let resource = match resource {
            Resource::AccessRequest => "access_request",
            Resource::Event => "event",
        };
        let verb = match verb {
            Verb::List => "list",
            Verb::Read => "read",
            Verb::Update => "update",
            Verb::Delete => "delete",
        };
        self.resources.iter().any(|r| r == "*" || r == resource)
            && self.verbs.iter().any(|v| v == "*" || v == verb)
    }
}

impl RoleSpec {
    pub(crate) fn compile(role: &Role) -> Result<RoleSpec, PolicyError> {
        let reader = Reader::new(&role.source, &role.document);
        let matchers = |path: &[&str]| -> Result<Vec<Matcher>, PolicyError> {
            compile_all(&reader.strings(path)?)
                .map_err(|(text, why)| role.source.error_at_value(path, &text, why))
        };
        let request_roles = matchers(&[REQUEST.as_slice(), &["roles"]].concat())?;
        let review_path = [REVIEW.as_slice(), &["roles"]].concat();
        let review_roles = matchers(&review_path)?;
        let deny_request_roles = matchers(&["spec", "deny", "request", "roles"])?;
        let deny_review_roles = matchers(&["spec", "deny", "review_requests", "roles"])?;
        let where_path = [REVIEW.as_slice(), &["where"]].concat();
        let review_where = match reader.string(&where_path)? {
            Some(text) => Some(predicate(&reader, &where_path, &text)?),
            None => None,
        };
        Ok(RoleSpec {
            request_roles,
            claims_to_roles: claims_to_roles(&reader)?,
            thresholds: thresholds(&reader)?,
            reason_required: reason_required(&reader)?,
            suggested_reviewers: reader
                .strings(&[REQUEST.as_slice(), &["suggested_reviewers"]].concat())?,
            annotations: annotations(&reader)?,
            max_duration: reader.duration(&[REQUEST.as_slice(), &["max_duration"]].concat())?,
            review_roles,
            review_where,
            allow_rules: rules(&reader, &["spec", "allow", "rules"])?,
            deny_request_roles,
            deny_review_roles,
            deny_rules: rules(&reader, &["spec", "deny", "rules"])?,
        })
    }

    /// Whether this role lets its holder request `name` (deny not considered).
    pub(crate) fn allows_request(
        &self,
        name: &str,
        traits: &BTreeMap<String, Vec<String>>,
    ) -> bool {
        self.request_roles.iter().any(|m| m.matches(name))
            || self.claims_to_roles.iter().any(|mapping| {
                traits
                    .get(&mapping.claim)
                    .is_some_and(|values| values.iter().any(|v| mapping.value.matches(v)))
                    && mapping.roles.iter().any(|m| m.matches(name))
            })
    }
}

/// Parses a predicate, locating a parse error at its line and column in the file.
fn predicate(reader: &Reader<'_>, path: &[&str], text: &str) -> Result<Predicate, PolicyError> {
    Predicate::parse(text).map_err(|e| {
        let message = format!("{}: {}", path.join("."), e.message);
        // Find the predicate line holding the error, then that line in the file.
        let mut remaining = e.column;
        let mut located = None;
        for line in text.split('\n') {
            let len = line.chars().count();
            if remaining <= len {
                located = Some((line, remaining));
                break;
            }
            remaining -= len + 1;
        }
        match located {
            Some((line, column)) if !line.trim().is_empty() => {
                match reader.src.find_after(path, line) {
                    Some((file_line, file_column)) => {
                        reader
                            .src
                            .error(Some(file_line), Some(file_column + column), message)
                    }
                    None => reader.src.error_at(path, message),
                }
            }
            _ => reader.src.error_at(path, message),
        }
    })
}

fn claims_to_roles(reader: &Reader<'_>) -> Result<Vec<ClaimMapping>, PolicyError> {
    let path = [REQUEST.as_slice(), &["claims_to_roles"]].concat();
    let mut mappings = Vec::new();
    for item in reader.items(&path)? {
        let missing = |key: &str| {
            reader.item_error(&path, key, format!("{}[] needs a {key}", path.join(".")))
        };
        let claim = reader
            .item_string(&path, item, "claim")?
            .ok_or_else(|| missing("claim"))?;
        let value = reader
            .item_string(&path, item, "value")?
            .ok_or_else(|| missing("value"))?;
        let value =
            Matcher::new(&value).map_err(|why| reader.src.error_at_value(&path, &value, why))?;
        let roles = compile_all(&reader.item_strings(&path, item, "roles")?)
            .map_err(|(text, why)| reader.src.error_at_value(&path, &text, why))?;
        mappings.push(ClaimMapping {
            claim,
            value,
            roles,
        });
    }
    Ok(mappings)
}

fn thresholds(reader: &Reader<'_>) -> Result<Vec<Threshold>, PolicyError> {
    let path = [REQUEST.as_slice(), &["thresholds"]].concat();
    let mut thresholds = Vec::new();
    for item in reader.items(&path)? {
        if !item.is_object() {
            return Err(reader.wrong_type(&path, "a list of mappings", item));
        }
        let count = |key: &str| -> Result<u32, PolicyError> {
            match item.get(key) {
                // As in Teleport: inside a listed threshold, an absent or zero count
                // means that side never fires (the 1/1 default is for roles listing none).
                None | Some(Value::Null) => Ok(0),
                Some(value) => match value.as_u64().and_then(|n| u32::try_from(n).ok()) {
                    Some(n) => Ok(n),
                    None => Err(reader.item_error(
                        &path,
                        key,
                        format!("thresholds[].{key} must be a whole number, not {value}"),
                    )),
                },
            }
        };
        let approve = count("approve")?;
        let deny = count("deny")?;
        let filter = reader
            .item_string(&path, item, "filter")?
            .unwrap_or_default();
        predicate(reader, &path, &filter)?;
        thresholds.push(Threshold {
            name: reader.item_string(&path, item, "name")?.unwrap_or_default(),
            filter,
            approve,
            deny,
        });
    }
    Ok(thresholds)
}

fn reason_required(reader: &Reader<'_>) -> Result<bool, PolicyError> {
    let access_path = ["spec", "options", "request_access"];
    let by_option = match reader.string(&access_path)?.as_deref() {
        None | Some("") | Some("optional") | Some("always") => false,
        Some("reason") => true,
        Some(other) => {
            return Err(reader.src.error_at(
                &access_path,
                format!(
                    "spec.options.request_access must be optional, reason or always, not {other:?}"
                ),
            ));
        }
    };
    let path = [REQUEST.as_slice(), &["reason"]].concat();
    let bad = || {
        reader.src.error_at(
            &path,
            "spec.allow.request.reason must be true, false or {mode: required|optional}",
        )
    };
    let by_request = match reader.get(&path) {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::Object(map)) => match map.get("mode").and_then(Value::as_str) {
            Some("required") => true,
            Some("optional") | None => false,
            Some(_) => return Err(bad()),
        },
        Some(_) => return Err(bad()),
    };
    Ok(by_option || by_request)
}

fn annotations(reader: &Reader<'_>) -> Result<BTreeMap<String, Vec<String>>, PolicyError> {
    let path = [REQUEST.as_slice(), &["annotations"]].concat();
    let Some(value) = reader.get(&path) else {
        return Ok(BTreeMap::new());
    };
    let Some(map) = value.as_object() else {
        return Err(reader.wrong_type(&path, "a mapping of lists of strings", value));
    };
    let mut annotations = BTreeMap::new();
    for key in map.keys() {
        let key_path = [path.as_slice(), &[key.as_str()]].concat();
        annotations.insert(key.clone(), reader.strings(&key_path)?);
    }
    Ok(annotations)
}

fn rules(reader: &Reader<'_>, path: &[&str]) -> Result<Vec<Rule>, PolicyError> {
    let mut rules = Vec::new();
    for item in reader.items(path)? {
        if !item.is_object() {
            return Err(reader.wrong_type(path, "a list of mappings", item));
        }
        rules.push(Rule {
            resources: reader.item_strings(path, item, "resources")?,
            verbs: reader.item_strings(path, item, "verbs")?,
        });
    }
    Ok(rules)
}
