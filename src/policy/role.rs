//! Reading `kind: role` documents from a multi-document YAML file.

use serde_json::Value;

use super::fields::{Reader, kind_of};
use super::source::{RoleSource, split_documents, yaml_error};
use super::spec::RoleSpec;
use super::{PolicyError, Role};
use super::{schema, yaml};

const VERSIONS: [&str; 6] = ["v3", "v4", "v5", "v6", "v7", "v8"];

/// Parses every role of a file; the first error stops the parse.
pub(crate) fn parse_file(text: &str, source_name: &str) -> Result<Vec<Role>, PolicyError> {
    if text.len() > yaml::MAX_FILE_BYTES {
        return Err(PolicyError {
            source_name: source_name.to_string(),
            line: None,
            column: None,
            message: format!(
                "the file is {} bytes; role files may be at most {} bytes",
                text.len(),
                yaml::MAX_FILE_BYTES
            ),
        });
    }
    let mut roles = Vec::new();
    for (first_line, doc_text) in split_documents(text) {
        if is_blank(&doc_text) {
            continue;
        }
        if let Some((line, column)) = yaml::too_deep(&doc_text) {
            return Err(PolicyError {
                source_name: source_name.to_string(),
                line: Some(first_line + line - 1),
                column: Some(column),
                message: format!(
                    "invalid YAML: nested more than {} levels deep",
                    yaml::MAX_FLOW_DEPTH
                ),
            });
        }
        let document: Value =
            yaml::from_str(&doc_text).map_err(|e| yaml_error(source_name, first_line, &e))?;
        let source = RoleSource::new(source_name, first_line, &doc_text);
        if document.is_null() {
            continue;
        }
        schema::check(&source, &document)?;
        let role = role_from_document(document, source)?;
        // Validate everything now, so a bad file is refused with its location at once.
        RoleSpec::compile(&role)?;
        roles.push(role);
    }
    Ok(roles)
}

fn is_blank(text: &str) -> bool {
    text.lines().all(|line| {
        let line = line.trim();
        line.is_empty() || line.starts_with('#') || line == "..."
    })
}

fn role_from_document(document: Value, source: RoleSource) -> Result<Role, PolicyError> {
    let reader = Reader::new(&source, &document);
    if !document.is_object() {
        return Err(source.error(
            None,
            None,
            format!(
                "a role document must be a mapping, not {}",
                kind_of(&document)
            ),
        ));
    }
    match reader.string(&["kind"])? {
        Some(kind) if kind == "role" => {}
        Some(kind) => {
            return Err(source.error_at(
                &["kind"],
                format!("unsupported kind {kind:?}: only kind: role documents are accepted"),
            ));
        }
        None => return Err(source.error(None, None, "missing kind: expected kind: role")),
    }
    match reader.string(&["version"])? {
        Some(version) if VERSIONS.contains(&version.as_str()) => {}
        Some(version) => {
            return Err(source.error_at(
                &["version"],
                format!("unsupported role version {version:?} (expected v3 to v8)"),
            ));
        }
        None => {
            return Err(source.error(None, None, "missing version: expected v3 to v8"));
        }
    }
    let name = match reader.string(&["metadata", "name"])? {
        Some(name) if !name.trim().is_empty() => name,
        _ => {
            return Err(source.error_at(&["metadata", "name"], "missing metadata.name"));
        }
    };
    if reader.get(&["spec"]).is_some_and(|spec| !spec.is_object()) {
        let spec = reader.get(&["spec"]).unwrap_or(&Value::Null);
        return Err(reader.wrong_type(&["spec"], "a mapping", spec));
    }
    let max_session_ttl = reader.duration(&["spec", "options", "max_session_ttl"])?;
    let request_prompt = reader
        .string(&["spec", "options", "request_prompt"])?
        .filter(|p| !p.trim().is_empty());
    let require_session_mfa = reader
        .get(&["spec", "options", "require_session_mfa"])
        .cloned();
    Ok(Role {
        name,
        max_session_ttl,
        request_prompt,
        require_session_mfa,
        document,
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Duration;

    #[test]
    fn reads_fields_and_keeps_unknown_ones() {
        let text = "kind: role\nversion: v7\nmetadata:\n  name: production-access\n  labels: {team: infra}\nspec:\n  allow:\n    node_labels:\n      env: production\n    logins: [deploy, app]\n  options:\n    max_session_ttl: 4h\n    require_session_mfa: true\n    request_prompt: Ticket please\n";
        let roles = parse_file(text, "roles.yaml").unwrap();
        assert_eq!(roles.len(), 1);
        let role = &roles[0];
        assert_eq!(role.name, "production-access");
        assert_eq!(role.max_session_ttl, Some(Duration::from_hours(4)));
        assert_eq!(role.require_session_mfa, Some(Value::Bool(true)));
        assert_eq!(role.request_prompt.as_deref(), Some("Ticket please"));
        assert_eq!(
            role.document["spec"]["allow"]["logins"],
            serde_json::json!(["deploy", "app"])
        );
        assert_eq!(role.document["metadata"]["labels"]["team"], "infra");
        assert_eq!(role.source.first_line, 1);
    }

    #[test]
    fn skips_empty_documents() {
        let text = "---\n# nothing\n---\nkind: role\nversion: v5\nmetadata:\n  name: a\n---\n";
        let roles = parse_file(text, "r.yaml").unwrap();
        assert_eq!(roles.len(), 1);
        assert_eq!(roles[0].source.first_line, 3);
    }

    const HEAD: &str = "kind: role\nversion: v7\nmetadata:\n  name: a\n";

    #[test]
    fn errors_name_file_line_and_what_is_wrong() {
        // (text, expected rendering prefix "file:line[:col]", part of the message)
        let cases: Vec<(String, &str, &str)> = vec![
            (
                "kind: role\nversion: v7\nmetadata:\n  name: [a\n".into(),
                "r.yaml:5:1",
                "invalid YAML",
            ),
            (
                "kind: role\nversion: v7\nmetadata:\n\tname: a\n".into(),
                "r.yaml:4",
                "invalid YAML",
            ),
            (
                format!("{HEAD}---\nkind: user\nversion: v2\nmetadata:\n  name: bob\n"),
                "r.yaml:6:",
                "unsupported kind \"user\"",
            ),
            (
                format!("{HEAD}---\n# second\n\nversion: v7\nmetadata:\n  name: b\n"),
                "r.yaml:8:",
                "missing kind",
            ),
            (
                format!("{HEAD}---\nkind: role\nversion: v7\nmetadata:\n  name: 'b\n"),
                "r.yaml:10:1:",
                "invalid YAML: found unexpected end of stream, while scanning a quoted scalar at line 9 column 9",
            ),
            (
                "kind: role\nversion: v9\nmetadata:\n  name: a\n".into(),
                "r.yaml:2:",
                "unsupported role version \"v9\"",
            ),
            (
                "kind: role\nversion: v7\nmetadata:\n  labels: {}\n".into(),
                "r.yaml:3:",
                "missing metadata.name",
            ),
            (
                format!("{HEAD}spec:\n  options:\n    max_session_ttl: 4x\n"),
                "r.yaml:7:22:",
                "invalid duration \"4x\"",
            ),
            (
                format!("{HEAD}spec:\n  options:\n    request_prompt: [a]\n"),
                "r.yaml:7:",
                "spec.options.request_prompt must be a string, not a list",
            ),
            (
                format!("{HEAD}spec:\n  allow:\n    request:\n      roles: {{a: b}}\n"),
                "r.yaml:8:",
                "spec.allow.request.roles must be a list of strings",
            ),
            (
                format!("{HEAD}spec:\n  allow:\n    request:\n      roles: ['^prod(.*$']\n"),
                "r.yaml:8:16:",
                "bad regular expression",
            ),
            (
                format!(
                    "{HEAD}spec:\n  allow:\n    request:\n      roles: [x]\n      thresholds:\n        - approve: 2\n          filter: 'contains(reviewer.roles, \"x\") &&'\n"
                ),
                "r.yaml:11:52:",
                "expected a condition",
            ),
            (
                format!(
                    "{HEAD}spec:\n  allow:\n    review_requests:\n      roles: [x]\n      where: 'contains(reviewr.roles, \"x\")'\n"
                ),
                "r.yaml:9:24:",
                "unknown name \"reviewr.roles\"",
            ),
            (
                format!(
                    "{HEAD}spec:\n  allow:\n    request:\n      thresholds:\n        - approve: two\n"
                ),
                "r.yaml:9:11:",
                "approve must be a whole number",
            ),
            (
                format!("{HEAD}spec:\n  options:\n    request_access: sometimes\n"),
                "r.yaml:7:",
                "request_access must be optional, reason or always",
            ),
            (
                format!("{HEAD}spec:\n  allow:\n    request:\n      reason: maybe\n"),
                "r.yaml:8:",
                "reason must be true, false or {mode: required|optional}",
            ),
            (
                format!(
                    "{HEAD}spec:\n  allow:\n    rules:\n      - resources: access_request\n        verbs: 3\n"
                ),
                "r.yaml:9:9:",
                "verbs must be a list of strings",
            ),
        ];
        let mut cases = cases;
        cases.push((
            format!(
                "{HEAD}spec:\n  allow:\n    logins: {}\n",
                "[".repeat(100_000)
            ),
            "r.yaml:7:",
            "nested more than 64 levels deep",
        ));
        let refs = vec!["*a"; 5000].join(", ");
        cases.push((
            format!("{HEAD}x: &a [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\ny: [{refs}]\n"),
            "r.yaml:",
            "expands to more than 20000 values",
        ));
        for (text, prefix, message) in cases {
            let err = parse_file(&text, "r.yaml").unwrap_err();
            let rendered = err.to_string();
            assert!(
                rendered.starts_with(prefix),
                "{rendered:?} should start with {prefix}"
            );
            assert!(
                rendered.contains(message),
                "{rendered:?} should say {message}"
            );
        }
    }
}
