//! Typed reads of fields from a role document, with errors that name the field's
//! line in the file.

use serde_json::Value;

use super::PolicyError;
use super::source::RoleSource;
use crate::model::Duration;

/// Reads fields of one document; `src` locates errors.
pub(crate) struct Reader<'a> {
    pub src: &'a RoleSource,
    pub doc: &'a Value,
}

pub(crate) fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

impl<'a> Reader<'a> {
    pub(crate) fn new(src: &'a RoleSource, doc: &'a Value) -> Self {
        Reader { src, doc }
    }

    /// The value at `path`; null counts as absent.
    pub(crate) fn get(&self, path: &[&str]) -> Option<&'a Value> {
        let mut value = self.doc;
        for key in path {
            value = value.as_object()?.get(*key)?;
        }
        (!value.is_null()).then_some(value)
    }

    pub(crate) fn wrong_type(&self, path: &[&str], expected: &str, found: &Value) -> PolicyError {
        self.src.error_at(
            path,
            format!(
                "{} must be {expected}, not {}",
                path.join("."),
                kind_of(found)
            ),
        )
    }

    pub(crate) fn string(&self, path: &[&str]) -> Result<Option<String>, PolicyError> {
        match self.get(path) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(self.wrong_type(path, "a string", other)),
        }
    }

    /// A list of strings; a single string counts as a list of one.
    pub(crate) fn strings(&self, path: &[&str]) -> Result<Vec<String>, PolicyError> {
        match self.get(path) {
            None => Ok(Vec::new()),
            Some(value) => {
                strings_of(value).ok_or_else(|| self.wrong_type(path, "a list of strings", value))
            }
        }
    }

    pub(crate) fn duration(&self, path: &[&str]) -> Result<Option<Duration>, PolicyError> {
        let Some(text) = self.string(path)? else {
            return Ok(None);
        };
        text.parse::<Duration>().map(Some).map_err(|e| {
            self.src
                .error_at_value(path, &text, format!("{}: {e}", path.join(".")))
        })
    }

    /// The items of a list (absent means empty).
    pub(crate) fn items(&self, path: &[&str]) -> Result<Vec<&'a Value>, PolicyError> {
        match self.get(path) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => Ok(items.iter().collect()),
            Some(other) => Err(self.wrong_type(path, "a list", other)),
        }
    }

    /// A string field of one item of the list at `list_path`.
    pub(crate) fn item_string(
        &self,
        list_path: &[&str],
        item: &Value,
        key: &str,
    ) -> Result<Option<String>, PolicyError> {
        match item.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(self.item_error(
                list_path,
                key,
                format!(
                    "{}[].{key} must be a string, not {}",
                    list_path.join("."),
                    kind_of(other)
                ),
            )),
        }
    }

    pub(crate) fn item_strings(
        &self,
        list_path: &[&str],
        item: &Value,
        key: &str,
    ) -> Result<Vec<String>, PolicyError> {
        match item.get(key) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(value) => strings_of(value).ok_or_else(|| {
                self.item_error(
                    list_path,
                    key,
                    format!(
                        "{}[].{key} must be a list of strings, not {}",
                        list_path.join("."),
                        kind_of(value)
                    ),
                )
            }),
        }
    }

    /// An error about `key` of an item of the list at `list_path`: on the first line
    /// below the list that holds that key.
    pub(crate) fn item_error(&self, list_path: &[&str], key: &str, message: String) -> PolicyError {
        match self.src.find_after(list_path, &format!("{key}:")) {
            Some((line, column)) => self.src.error(Some(line), Some(column), message),
            None => self.src.error_at(list_path, message),
        }
    }
}

pub(crate) fn strings_of(value: &Value) -> Option<Vec<String>> {
    match value {
        Value::String(s) => Some(vec![s.clone()]),
        Value::Array(items) => items
            .iter()
            .map(|item| item.as_str().map(str::to_string))
            .collect(),
        _ => None,
    }
}
