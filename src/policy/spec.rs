//! The parts of a role the broker uses, compiled once: matchers, predicates,
//! thresholds and rules.

use std::collections::BTreeMap;

use serde_json::Value;

use super::claims::ClaimMapping;
use super::fields::Reader;
use super::matcher::{Matcher, compile_all};
use super::predicate::Predicate;
use super::traits::Template;
use super::{PolicyError, RequestAccess, Resource, Role, Verb};
use crate::model::{Duration, Threshold};

const REQUEST: [&str; 3] = ["spec", "allow", "request"];
const REVIEW: [&str; 3] = ["spec", "allow", "review_requests"];

#[derive(Debug, Clone)]
pub(crate) struct RoleSpec {
    pub request: Conditions,
    /// Thresholds as written (an absent count is 0: that side never fires), filters
    /// already checked.
    pub thresholds: Vec<Threshold>,
    pub request_access: RequestAccess,
    pub reason_required: bool,
    pub suggested_reviewers: Vec<String>,
    pub annotations: BTreeMap<String, Vec<Template>>,
    pub max_duration: Option<Duration>,
    pub review: Conditions,
    pub review_where: Option<Predicate>,
    pub allow_rules: Vec<Rule>,
    pub deny_request: Conditions,
    pub deny_review: Conditions,
    /// A deny of review applies only to requests this holds for.
    pub deny_review_where: Option<Predicate>,
    pub deny_rules: Vec<Rule>,
}

/// The roles a request or review condition names: matchers, plus the roles its
/// `claims_to_roles` yields from the user's traits.
#[derive(Debug, Clone, Default)]
pub(crate) struct Conditions {
    pub roles: Vec<Matcher>,
    pub claims_to_roles: Vec<ClaimMapping>,
}

impl Conditions {
    /// Whether these conditions name `name` for a user with `traits`.
    pub(crate) fn covers(&self, name: &str, traits: &BTreeMap<String, Vec<String>>) -> bool {
        self.roles.iter().any(|m| m.matches(name))
            || self
                .claims_to_roles
                .iter()
                .any(|mapping| mapping.yields(traits, name))
    }
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
            Verb::Create => "create",
        };
        self.resources.iter().any(|r| r == "*" || r == resource)
            && self.verbs.iter().any(|v| v == "*" || v == verb)
    }
}

impl RoleSpec {
    pub(crate) fn compile(role: &Role) -> Result<RoleSpec, PolicyError> {
        let reader = Reader::new(&role.source, &role.document);
        let allow_request = ["spec", "allow", "request"];
        let deny_request = ["spec", "deny", "request"];
        let deny_review = ["spec", "deny", "review_requests"];
        Ok(RoleSpec {
            request: conditions(&reader, &allow_request)?,
            thresholds: thresholds(&reader)?,
            request_access: request_access(&reader)?,
            reason_required: reason_required(&reader)?,
            suggested_reviewers: reader
                .strings(&[REQUEST.as_slice(), &["suggested_reviewers"]].concat())?,
            annotations: annotations(&reader)?,
            max_duration: reader.duration(&[REQUEST.as_slice(), &["max_duration"]].concat())?,
            review: conditions(&reader, &REVIEW)?,
            review_where: where_clause(&reader, &REVIEW)?,
            allow_rules: rules(&reader, &["spec", "allow", "rules"])?,
            deny_request: conditions(&reader, &deny_request)?,
            deny_review: conditions(&reader, &deny_review)?,
            deny_review_where: where_clause(&reader, &deny_review)?,
            deny_rules: rules(&reader, &["spec", "deny", "rules"])?,
        })
    }

    /// Whether this role lets its holder request `name` (deny not considered).
    pub(crate) fn allows_request(
        &self,
        name: &str,
        traits: &BTreeMap<String, Vec<String>>,
    ) -> bool {
        self.request.covers(name, traits)
    }
}

/// `roles` and `claims_to_roles` under `path` (a request or review_requests block).
fn conditions(reader: &Reader<'_>, path: &[&str]) -> Result<Conditions, PolicyError> {
    let roles_path = [path, &["roles"]].concat();
    let roles = compile_all(&reader.strings(&roles_path)?)
        .map_err(|(text, why)| reader.src.error_at_value(&roles_path, &text, why))?;
    Ok(Conditions {
        roles,
        claims_to_roles: claims_to_roles(reader, path)?,
    })
}

fn where_clause(reader: &Reader<'_>, path: &[&str]) -> Result<Option<Predicate>, PolicyError> {
    let where_path = [path, &["where"]].concat();
    match reader.string(&where_path)? {
        Some(text) => Ok(Some(predicate(reader, &where_path, &text)?)),
        None => Ok(None),
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

fn claims_to_roles(reader: &Reader<'_>, block: &[&str]) -> Result<Vec<ClaimMapping>, PolicyError> {
    let path = [block, &["claims_to_roles"]].concat();
    let mut mappings = Vec::new();
    for item in reader.items(&path)? {
        if !item.is_object() {
            return Err(reader.wrong_type(&path, "a list of mappings", item));
        }
        let missing = |key: &str| {
            reader.item_error(&path, key, format!("{}[] needs a {key}", path.join(".")))
        };
        let claim = reader
            .item_string(&path, item, "claim")?
            .ok_or_else(|| missing("claim"))?;
        let value = reader
            .item_string(&path, item, "value")?
            .ok_or_else(|| missing("value"))?;
        let roles = reader.item_strings(&path, item, "roles")?;
        let mapping = ClaimMapping::new(&claim, &value, roles.clone()).map_err(|why| {
            let needle = roles
                .iter()
                .find(|r| why.contains(&format!("role {r:?}")))
                .cloned()
                .unwrap_or_else(|| value.clone());
            reader.src.error_at_value(&path, &needle, why)
        })?;
        mappings.push(mapping);
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

fn request_access(reader: &Reader<'_>) -> Result<RequestAccess, PolicyError> {
    let access_path = ["spec", "options", "request_access"];
    match reader.string(&access_path)?.as_deref() {
        None | Some("") | Some("optional") => Ok(RequestAccess::Optional),
        Some("reason") => Ok(RequestAccess::Reason),
        Some("always") => Ok(RequestAccess::Always),
        Some(other) => Err(reader.src.error_at(
            &access_path,
            format!(
                "spec.options.request_access must be optional, reason or always, not {other:?}"
            ),
        )),
    }
}

fn reason_required(reader: &Reader<'_>) -> Result<bool, PolicyError> {
    let by_option = request_access(reader)? == RequestAccess::Reason;
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

fn annotations(reader: &Reader<'_>) -> Result<BTreeMap<String, Vec<Template>>, PolicyError> {
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
        let mut templates = Vec::new();
        for text in reader.strings(&key_path)? {
            let template = Template::parse(&text).map_err(|why| {
                reader.src.error_at_value(
                    &key_path,
                    &text,
                    format!("{}: {why}", key_path.join(".")),
                )
            })?;
            templates.push(template);
        }
        annotations.insert(key.clone(), templates);
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
