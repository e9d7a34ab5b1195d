//! Where a role came from: the file name and the text of its YAML document, so that
//! errors found after parsing can still name a line (and column).

use super::PolicyError;

/// The origin of one role document.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RoleSource {
    /// The file (or other source name) the role came from.
    pub source_name: String,
    /// The 1-based line of the file where the document's text starts.
    pub first_line: usize,
    /// The document's text.
    pub text: String,
}

/// Splits a multi-document YAML file at `---` lines; each part keeps its first line.
pub(crate) fn split_documents(text: &str) -> Vec<(usize, String)> {
    let mut documents = Vec::new();
    let mut current = String::new();
    let mut first_line = 1;
    for (index, line) in text.lines().enumerate() {
        let is_separator = line == "---"
            || line.starts_with("--- ")
            || line.starts_with("---\t")
            || line.trim_end() == "---";
        if is_separator {
            documents.push((first_line, std::mem::take(&mut current)));
            // The separator line is blanked so that `--- ` followed by content parses.
            current.push_str(line.get(3..).unwrap_or(""));
            current.push('\n');
            first_line = index + 1;
        } else {
            current.push_str(line);
            current.push('\n');
        }
    }
    documents.push((first_line, current));
    documents
}

impl RoleSource {
    pub(crate) fn new(source_name: &str, first_line: usize, text: &str) -> Self {
        RoleSource {
            source_name: source_name.to_string(),
            first_line,
            text: text.to_string(),
        }
    }

    /// An error at a line (1-based, within the file) and optional column.
    pub(crate) fn error(
        &self,
        line: Option<usize>,
        column: Option<usize>,
        message: impl Into<String>,
    ) -> PolicyError {
        PolicyError {
            source_name: self.source_name.clone(),
            line: line.or(Some(self.first_content_line())).filter(|&l| l > 0),
            column,
            message: message.into(),
        }
    }

    /// The file line of the document's first line that is not blank, a comment or `---`.
    pub(crate) fn first_content_line(&self) -> usize {
        let skip = self
            .text
            .lines()
            .position(|line| {
                let line = line.trim();
                !line.is_empty() && !line.starts_with('#')
            })
            .unwrap_or(0);
        self.first_line + skip
    }

    /// An error at the field named by `path` (keys from the document root).
    pub(crate) fn error_at(&self, path: &[&str], message: impl Into<String>) -> PolicyError {
        let line = self.line_of(path);
        self.error(Some(line), None, message)
    }

    /// An error at the first occurrence of `needle` inside the field at `path`
    /// (falling back to the field's own line).
    pub(crate) fn error_at_value(
        &self,
        path: &[&str],
        needle: &str,
        message: impl Into<String>,
    ) -> PolicyError {
        match self.find_after(path, needle) {
            Some((line, column)) => self.error(Some(line), Some(column), message),
            None => self.error_at(path, message),
        }
    }

    /// The 1-based (line, column) in the file of `needle` plus `offset` characters,
    /// searching from the line of the field at `path`.
    pub(crate) fn find_after(&self, path: &[&str], needle: &str) -> Option<(usize, usize)> {
        if needle.is_empty() {
            return None;
        }
        let start = self.line_of(path).saturating_sub(self.first_line);
        self.text
            .lines()
            .enumerate()
            .skip(start)
            .find_map(|(index, line)| {
                line.find(needle)
                    .map(|byte| (self.first_line + index, line[..byte].chars().count() + 1))
            })
    }

    /// The file line of the deepest key of `path` that can be found, searching each
    /// key below the previous one in block-style YAML; the document start otherwise.
    pub(crate) fn line_of(&self, path: &[&str]) -> usize {
        let lines: Vec<&str> = self.text.lines().collect();
        let mut found = None;
        let mut from = 0;
        let mut parent_indent: Option<usize> = None;
        'keys: for key in path {
            // Only direct children count: lines at the indentation of the block's first.
            let mut child_indent = None;
            for (index, line) in lines.iter().enumerate().skip(from) {
                let trimmed = line.trim_start();
                if trimmed.is_empty() || trimmed.starts_with('#') {
                    continue;
                }
                let indent = line.len() - trimmed.len();
                if let Some(parent) = parent_indent
                    && (indent < parent || (indent == parent && !trimmed.starts_with("- ")))
                {
                    // Left the parent's block without finding the key.
                    break 'keys;
                }
                let child = *child_indent.get_or_insert(indent);
                if indent == child && is_key(trimmed, key) {
                    found = Some(index);
                    parent_indent = Some(indent);
                    from = index + 1;
                    continue 'keys;
                }
            }
            break;
        }
        found.map_or_else(
            || self.first_content_line(),
            |index| self.first_line + index,
        )
    }
}

fn is_key(body: &str, key: &str) -> bool {
    [
        format!("{key}:"),
        format!("\"{key}\":"),
        format!("'{key}':"),
    ]
    .iter()
    .any(|k| body.starts_with(k.as_str()))
}

/// Turns a YAML library error into one naming the file line and column.
pub(crate) fn yaml_error(
    source_name: &str,
    first_line: usize,
    error: &serde_norway::Error,
) -> PolicyError {
    let message = relocate_positions(&error.to_string(), first_line);
    let (line, column) = match error.location() {
        Some(loc) => (
            Some(first_line + loc.line().saturating_sub(1)),
            Some(loc.column()),
        ),
        None => (Some(first_line), None),
    };
    PolicyError {
        source_name: source_name.to_string(),
        line,
        column,
        message: format!("invalid YAML: {message}"),
    }
}

/// The library writes `… at line N column M[, while … at line N column M]`, counted
/// within the document: drop the first position (we render it) and shift the others
/// to file lines.
fn relocate_positions(text: &str, first_line: usize) -> String {
    let mut out = String::new();
    let mut rest = text;
    let mut first = true;
    while let Some(at) = rest.find(" at line ") {
        out.push_str(&rest[..at]);
        let after = &rest[at + " at line ".len()..];
        let digits = after.chars().take_while(char::is_ascii_digit).count();
        let Ok(line) = after[..digits].parse::<usize>() else {
            out.push_str(" at line ");
            rest = after;
            continue;
        };
        let tail = &after[digits..];
        let column_digits = tail
            .strip_prefix(" column ")
            .map(|c| c.chars().take_while(char::is_ascii_digit).count());
        let (column_text, remaining) = match column_digits {
            Some(n) => tail.split_at(" column ".len() + n),
            None => ("", tail),
        };
        if !first {
            let shifted = first_line + line.saturating_sub(1);
            out.push_str(&format!(" at line {shifted}{column_text}"));
        }
        first = false;
        rest = remaining;
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "kind: role\nmetadata:\n  name: a\nspec:\n  allow:\n    request:\n      roles: [x]\n    options:\n      max_session_ttl: decoy\n  options:\n    max_session_ttl: 4x\n  deny:\n    request:\n      roles: [y]\n";

    #[test]
    fn finds_nested_keys() {
        let source = RoleSource::new("roles.yaml", 10, DOC);
        let cases: [(&[&str], usize); 7] = [
            (&["kind"], 10),
            (&["metadata", "name"], 12),
            (&["spec", "options", "max_session_ttl"], 20),
            (&["spec", "allow", "options", "max_session_ttl"], 18),
            (&["spec", "deny", "request", "roles"], 23),
            (&["spec", "allow", "request", "roles"], 16),
            // Missing key: the deepest found parent.
            (&["spec", "allow", "review_requests"], 14),
        ];
        for (path, line) in cases {
            assert_eq!(source.line_of(path), line, "{path:?}");
        }
    }

    #[test]
    fn yaml_positions_move_to_file_lines() {
        let text = "found unexpected end of stream at line 5 column 1, while scanning a quoted scalar at line 4 column 9";
        assert_eq!(
            relocate_positions(text, 6),
            "found unexpected end of stream, while scanning a quoted scalar at line 9 column 9"
        );
        assert_eq!(relocate_positions("plain", 3), "plain");
    }

    #[test]
    fn splits_documents_keeping_lines() {
        let docs = split_documents("a: 1\n---\nb: 2\nc: 3\n--- \nd: 4\n");
        let firsts: Vec<usize> = docs.iter().map(|(l, _)| *l).collect();
        assert_eq!(firsts, vec![1, 2, 5]);
        assert!(docs[1].1.contains("b: 2"));
        assert!(docs[2].1.contains("d: 4"));
        // Lines inside a document stay aligned with the file.
        assert_eq!(docs[1].1.lines().nth(1), Some("b: 2"));
    }
}
