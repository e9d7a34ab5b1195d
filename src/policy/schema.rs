//! The field names of a role document: the ones countersign reads, Teleport's
//! others (kept as they are), Teleport syntax countersign does not support (refused,
//! never silently ignored) and near misses of a name countersign reads (refused
//! with "did you mean", DESIGN §12: `review_request:` must not apply quietly).

use serde_json::Value;

use super::PolicyError;
use super::source::RoleSource;

/// One level of the document. `*` in a path stands for `allow` or `deny`; `[]` for
/// the items of a list.
struct Level {
    path: &'static [&'static str],
    reads: &'static [&'static str],
    /// Teleport fields at this level that countersign keeps but does not use.
    teleport: &'static [&'static str],
    /// Teleport fields whose meaning countersign does not implement, with why.
    unsupported: &'static [(&'static str, &'static str)],
}

const CONDITIONS_TELEPORT: &[&str] = &[
    "node_labels",
    "node_labels_expression",
    "kubernetes_groups",
    "kubernetes_users",
    "kubernetes_labels",
    "kubernetes_labels_expression",
    "kubernetes_resources",
    "app_labels",
    "app_labels_expression",
    "cluster_labels",
    "cluster_labels_expression",
    "db_labels",
    "db_labels_expression",
    "db_names",
    "db_users",
    "db_roles",
    "db_service_labels",
    "db_permissions",
    "windows_desktop_logins",
    "windows_desktop_labels",
    "windows_desktop_labels_expression",
    "desktop_groups",
    "host_groups",
    "host_sudoers",
    "aws_role_arns",
    "azure_identities",
    "gcp_service_accounts",
    "impersonate",
    "join_sessions",
    "require_session_join",
    "group_labels",
    "group_labels_expression",
    "spiffe",
    "github_permissions",
    "account_assignments",
    "workload_identity_labels",
    "workload_identity_labels_expression",
    "mcp",
];

const OPTIONS_TELEPORT: &[&str] = &[
    "cert_format",
    "client_idle_timeout",
    "disconnect_expired_cert",
    "enhanced_recording",
    "max_connections",
    "max_sessions",
    "max_kubernetes_connections",
    "pin_source_ip",
    "record_session",
    "ssh_file_copy",
    "ssh_port_forwarding",
    "create_host_user",
    "create_host_user_mode",
    "create_host_user_default_shell",
    "create_db_user",
    "create_db_user_mode",
    "create_desktop_user",
    "desktop_clipboard",
    "desktop_directory_sharing",
    "device_trust_mode",
    "idp",
    "lock",
    "cert_extensions",
    "mfa_verification_interval",
    "require_mfa_type",
    "permit_x11_forwarding",
    "forward_agent",
    "port_forwarding",
    "bpf",
    "kubernetes_resources",
    "record_desktop_session",
];

const LEVELS: &[Level] = &[
    Level {
        path: &[],
        reads: &["kind", "version", "metadata", "spec"],
        teleport: &["sub_kind"],
        unsupported: &[],
    },
    Level {
        path: &["metadata"],
        reads: &["name"],
        teleport: &[
            "description",
            "labels",
            "namespace",
            "expires",
            "revision",
            "id",
        ],
        unsupported: &[],
    },
    Level {
        path: &["spec"],
        reads: &["options", "allow", "deny"],
        teleport: &[],
        unsupported: &[],
    },
    Level {
        path: &["spec", "options"],
        reads: &[
            "max_session_ttl",
            "request_access",
            "request_prompt",
            "require_session_mfa",
            "port_forwarding",
            "forward_agent",
            "permit_x11_forwarding",
        ],
        teleport: OPTIONS_TELEPORT,
        unsupported: &[],
    },
    Level {
        path: &["spec", "*"],
        reads: &["request", "review_requests", "rules", "logins"],
        teleport: CONDITIONS_TELEPORT,
        unsupported: &[],
    },
    Level {
        path: &["spec", "*", "request"],
        reads: &[
            "roles",
            "claims_to_roles",
            "thresholds",
            "reason",
            "suggested_reviewers",
            "annotations",
            "max_duration",
        ],
        teleport: &[],
        unsupported: &[
            (
                "search_as_roles",
                "resource access requests (search_as_roles) are not supported; request roles instead",
            ),
            (
                "kubernetes_resources",
                "resource access requests (kubernetes_resources) are not supported",
            ),
        ],
    },
    Level {
        path: &["spec", "*", "review_requests"],
        reads: &["roles", "where", "claims_to_roles"],
        teleport: &[],
        unsupported: &[(
            "preview_as_roles",
            "preview_as_roles (reviewing resource requests) is not supported",
        )],
    },
    Level {
        path: &["spec", "*", "request", "thresholds", "[]"],
        reads: &["name", "filter", "approve", "deny"],
        teleport: &[],
        unsupported: &[],
    },
    Level {
        path: &["spec", "*", "request", "claims_to_roles", "[]"],
        reads: &["claim", "value", "roles"],
        teleport: &[],
        unsupported: &[],
    },
    Level {
        path: &["spec", "*", "review_requests", "claims_to_roles", "[]"],
        reads: &["claim", "value", "roles"],
        teleport: &[],
        unsupported: &[],
    },
    Level {
        path: &["spec", "*", "request", "reason"],
        reads: &["mode"],
        teleport: &[],
        unsupported: &[],
    },
    Level {
        path: &["spec", "*", "rules", "[]"],
        reads: &["resources", "verbs"],
        teleport: &[],
        unsupported: &[
            (
                "where",
                "a where condition on a rule is not supported; the rule would apply unconditionally",
            ),
            ("actions", "rule actions are not supported"),
        ],
    },
];

/// Checks every known level of `document`; the first problem is the error.
pub(crate) fn check(source: &RoleSource, document: &Value) -> Result<(), PolicyError> {
    let mut path = Vec::new();
    visit(source, document, &mut path)
}

fn visit<'a>(
    source: &RoleSource,
    value: &'a Value,
    path: &mut Vec<&'a str>,
) -> Result<(), PolicyError> {
    match value {
        Value::Object(map) => {
            let level = LEVELS.iter().find(|level| same_path(level.path, path));
            for (key, child) in map {
                if let Some(level) = level {
                    check_key(source, level, path, key)?;
                }
                path.push(key);
                let result = visit(source, child, path);
                path.pop();
                result?;
            }
            Ok(())
        }
        Value::Array(items) => {
            path.push("[]");
            let result = items.iter().try_for_each(|item| visit(source, item, path));
            path.pop();
            result
        }
        _ => Ok(()),
    }
}

fn same_path(pattern: &[&str], path: &[&str]) -> bool {
    pattern.len() == path.len()
        && pattern
            .iter()
            .zip(path)
            .all(|(p, k)| p == k || (*p == "*" && matches!(*k, "allow" | "deny")))
}

fn check_key(
    source: &RoleSource,
    level: &Level,
    path: &[&str],
    key: &str,
) -> Result<(), PolicyError> {
    if level.reads.contains(&key) || level.teleport.contains(&key) {
        return Ok(());
    }
    let dotted = dotted(path, key);
    if let Some((_, why)) = level.unsupported.iter().find(|(name, _)| *name == key) {
        return Err(error_at(source, path, key, format!("{dotted}: {why}")));
    }
    let nearest = level
        .reads
        .iter()
        .map(|name| (distance(key, name), *name))
        .filter(|(d, _)| *d <= 2)
        .min();
    match nearest {
        Some((_, name)) => Err(error_at(
            source,
            path,
            key,
            format!("{dotted}: unknown field; did you mean `{name}`?"),
        )),
        None => Ok(()),
    }
}

/// `spec.allow.request.thresholds[].approval`.
fn dotted(path: &[&str], key: &str) -> String {
    let mut out = String::new();
    for part in path {
        if *part == "[]" {
            out.push_str("[]");
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(part);
        }
    }
    if !out.is_empty() {
        out.push('.');
    }
    out.push_str(key);
    out
}

fn error_at(source: &RoleSource, path: &[&str], key: &str, message: String) -> PolicyError {
    // Inside a list, name the first line below the list that holds the key.
    let block: Vec<&str> = path.iter().take_while(|p| **p != "[]").copied().collect();
    if block.len() < path.len()
        && let Some((line, column)) = source.find_after(&block, &format!("{key}:"))
    {
        return source.error(Some(line), Some(column), message);
    }
    let mut full = path.to_vec();
    full.push(key);
    source.error_at(&full, message)
}

/// Levenshtein distance, by characters.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous + usize::from(ca != *cb);
            previous = row[j + 1];
            row[j + 1] = substitute.min(previous + 1).min(row[j] + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::role::parse_file;

    const HEAD: &str = "kind: role\nversion: v7\nmetadata:\n  name: a\n";

    #[test]
    fn distances() {
        let cases = [
            ("review_request", "review_requests", 1),
            ("threshold", "thresholds", 1),
            ("aprove", "approve", 1),
            ("approval", "approve", 2),
            ("rules", "roles", 1),
            ("", "abc", 3),
            ("same", "same", 0),
        ];
        for (a, b, d) in cases {
            assert_eq!(distance(a, b), d, "{a} {b}");
        }
    }

    #[test]
    fn near_misses_and_unsupported_syntax_are_refused_with_the_line() {
        // (body after HEAD, rendered prefix, part of the message)
        let cases = [
            (
                "spec:\n  allow:\n    review_request:\n      roles: [x]\n",
                "r.yaml:7:",
                "spec.allow.review_request: unknown field; did you mean `review_requests`?",
            ),
            (
                "spec:\n  allow:\n    request:\n      roles: [x]\n      threshold:\n        - approve: 2\n",
                "r.yaml:9:",
                "did you mean `thresholds`?",
            ),
            (
                "spec:\n  allow:\n    request:\n      thresholds:\n        - name: t\n          aprove: 2\n",
                "r.yaml:10:11:",
                "spec.allow.request.thresholds[].aprove: unknown field; did you mean `approve`?",
            ),
            (
                "spec:\n  options:\n    max_session_tll: 4h\n",
                "r.yaml:7:",
                "did you mean `max_session_ttl`?",
            ),
            (
                "spec:\n  deny:\n    reqest:\n      roles: [x]\n",
                "r.yaml:7:",
                "spec.deny.reqest: unknown field; did you mean `request`?",
            ),
            (
                "metadata2: {}\nspec: {}\n",
                "r.yaml:5:",
                "did you mean `metadata`?",
            ),
            (
                "spec:\n  allow:\n    request:\n      search_as_roles: [access]\n",
                "r.yaml:8:",
                "search_as_roles",
            ),
            (
                "spec:\n  allow:\n    review_requests:\n      preview_as_roles: [access]\n",
                "r.yaml:8:",
                "preview_as_roles",
            ),
            (
                "spec:\n  allow:\n    rules:\n      - resources: [access_request]\n        verbs: [list]\n        where: 'contains(user.spec.roles, \"x\")'\n",
                "r.yaml:10:9:",
                "spec.allow.rules[].where: a where condition on a rule is not supported",
            ),
        ];
        for (body, prefix, message) in cases {
            let text = format!("{HEAD}{body}");
            let err = parse_file(&text, "r.yaml").unwrap_err().to_string();
            assert!(
                err.starts_with(prefix),
                "{err:?} should start with {prefix}"
            );
            assert!(err.contains(message), "{err:?} should say {message}");
        }
    }

    #[test]
    fn teleport_fields_and_far_unknowns_are_kept() {
        let body = "  labels: {team: a}\nspec:\n  allow:\n    logins: [x]\n    node_labels: {env: prod}\n    kubernetes_groups: [g]\n    app_labels: {'*': '*'}\n    custom_thing: 1\n  options:\n    max_sessions: 3\n    forward_agent: true\n    cert_format: standard\n";
        let roles = parse_file(&format!("{HEAD}{body}"), "r.yaml").unwrap();
        assert_eq!(roles[0].document["spec"]["allow"]["custom_thing"], 1);
    }
}
