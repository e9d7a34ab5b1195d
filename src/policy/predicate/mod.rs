//! The predicate language of threshold `filter`s and review `where` clauses:
//! `contains(list, "s")`, `equals(a, b)`, `!`, `&&`, `||`, parentheses, string
//! literals, `true`/`false`, `regexp.match(value, "re")` / `regexp.not_match(value,
//! "re")` and a fixed set of names about the reviewer, the request and the review
//! (`request.system_annotations["k"]`, Teleport's name, or its alias
//! `request.annotations["k"]`). Parsed once; evaluated against a [`Context`].

use std::collections::BTreeMap;
use std::fmt;

use crate::model::User;

mod lexer;
mod parser;

use lexer::lex;
use parser::Parser;

/// Longer predicates are refused; real ones are a line or two.
const MAX_CHARS: usize = 4096;

/// Why a predicate does not parse; `column` counts characters from 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PredicateError {
    pub column: usize,
    pub message: String,
}

impl fmt::Display for PredicateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "column {}: {}", self.column + 1, self.message)
    }
}

/// A parsed predicate.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Predicate {
    expr: Expr,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Expr {
    Literal(bool),
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Contains(Value, Value),
    Equals(Value, Value),
    /// `regexp.match` (any value matches) or, negated, `regexp.not_match` (none does).
    Regexp {
        value: Value,
        pattern: Pattern,
        negate: bool,
    },
}

/// A regex as written in a predicate; compared by its text.
#[derive(Debug, Clone)]
pub(super) struct Pattern {
    pub text: String,
    pub regex: regex::Regex,
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Value {
    Text(String),
    ReviewerRoles,
    ReviewerTraits(String),
    RequestRoles,
    RequestReason,
    RequestAnnotations(String),
    ReviewReason,
}

impl Value {
    pub(super) fn is_list(&self) -> bool {
        matches!(
            self,
            Value::ReviewerRoles
                | Value::ReviewerTraits(_)
                | Value::RequestRoles
                | Value::RequestAnnotations(_)
        )
    }
}

/// What a predicate is evaluated against.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Context<'a> {
    pub reviewer: &'a User,
    pub request_roles: &'a [String],
    pub request_reason: &'a str,
    pub request_annotations: &'a BTreeMap<String, Vec<String>>,
    pub review_reason: &'a str,
}

impl Predicate {
    /// Parses a predicate; an empty (or blank) text is `true`.
    pub(crate) fn parse(text: &str) -> Result<Predicate, PredicateError> {
        if text.chars().count() > MAX_CHARS {
            return Err(PredicateError {
                column: 0,
                message: format!("predicate longer than {MAX_CHARS} characters"),
            });
        }
        let tokens = lex(text)?;
        if tokens.is_empty() {
            return Ok(Predicate {
                expr: Expr::Literal(true),
            });
        }
        let mut parser = Parser::new(tokens, text.chars().count());
        let expr = parser.or()?;
        if let Some(token) = parser.leftover() {
            return Err(PredicateError {
                column: token.column,
                message: format!("unexpected {} after a complete expression", token.kind),
            });
        }
        Ok(Predicate { expr })
    }

    pub(crate) fn eval(&self, ctx: &Context<'_>) -> bool {
        eval(&self.expr, ctx)
    }
}

fn eval(expr: &Expr, ctx: &Context<'_>) -> bool {
    match expr {
        Expr::Literal(b) => *b,
        Expr::Not(inner) => !eval(inner, ctx),
        Expr::And(a, b) => eval(a, ctx) && eval(b, ctx),
        Expr::Or(a, b) => eval(a, ctx) || eval(b, ctx),
        Expr::Contains(list, item) => {
            let item = resolve(item, ctx);
            let item = item.first().map(String::as_str).unwrap_or("");
            resolve(list, ctx).iter().any(|v| v == item)
        }
        // A string equals a list only when the list holds exactly that string.
        Expr::Equals(a, b) => resolve(a, ctx) == resolve(b, ctx),
        Expr::Regexp {
            value,
            pattern,
            negate,
        } => {
            resolve(value, ctx)
                .iter()
                .any(|v| pattern.regex.is_match(v))
                != *negate
        }
    }
}

fn resolve(value: &Value, ctx: &Context<'_>) -> Vec<String> {
    let one = |s: &str| vec![s.to_string()];
    match value {
        Value::Text(s) => one(s),
        Value::ReviewerRoles => ctx.reviewer.roles.clone(),
        Value::ReviewerTraits(k) => ctx.reviewer.traits.get(k).cloned().unwrap_or_default(),
        Value::RequestRoles => ctx.request_roles.to_vec(),
        Value::RequestReason => one(ctx.request_reason),
        Value::RequestAnnotations(k) => ctx.request_annotations.get(k).cloned().unwrap_or_default(),
        Value::ReviewReason => one(ctx.review_reason),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> User {
        User {
            name: "carrot".into(),
            roles: vec!["reviewer".into(), "watch".into()],
            traits: BTreeMap::from([("team".into(), vec!["infra".into(), "sec".into()])]),
        }
    }

    fn check(text: &str) -> bool {
        let reviewer = user();
        let roles = vec!["production-access".to_string()];
        let annotations = BTreeMap::from([("ticket".to_string(), vec!["INC-1".to_string()])]);
        let ctx = Context {
            reviewer: &reviewer,
            request_roles: &roles,
            request_reason: "incident #47",
            request_annotations: &annotations,
            review_reason: "confirmed",
        };
        Predicate::parse(text).unwrap().eval(&ctx)
    }

    #[test]
    fn evaluates() {
        let cases = [
            ("", true),
            ("   ", true),
            ("true", true),
            ("false", false),
            ("contains(reviewer.roles, \"reviewer\")", true),
            ("contains(reviewer.roles, \"admin\")", false),
            ("contains(reviewer.traits[\"team\"], \"sec\")", true),
            ("contains(reviewer.traits[\"missing\"], \"sec\")", false),
            ("contains(request.roles, \"production-access\")", true),
            ("contains(request.annotations[\"ticket\"], \"INC-1\")", true),
            ("equals(request.reason, \"incident #47\")", true),
            ("equals(review.reason, \"confirmed\")", true),
            ("equals(\"a\", \"b\")", false),
            ("equals(request.roles, \"production-access\")", true),
            ("equals(reviewer.roles, \"reviewer\")", false),
            ("!contains(reviewer.roles, \"admin\")", true),
            ("!!true", true),
            ("false || true && false", false),
            ("(false || true) && true", true),
            ("true || false && false", true),
            ("!(true && false)", true),
            (
                "contains(reviewer.roles, \"watch\") && !equals(\"x\", \"y\")",
                true,
            ),
            ("equals(\"say \\\"hi\\\"\", \"say \\\"hi\\\"\")", true),
            (
                "contains(request.system_annotations[\"ticket\"], \"INC-1\")",
                true,
            ),
            ("regexp.match(request.reason, \"#[0-9]+\")", true),
            ("regexp.match(request.reason, \"^#[0-9]+$\")", false),
            ("regexp.not_match(request.reason, \"INC-\")", true),
            ("regexp.match(reviewer.roles, \"^wat\")", true),
            ("regexp.not_match(reviewer.roles, \"^wat\")", false),
            ("regexp.match(reviewer.traits[\"missing\"], \".*\")", false),
            (
                "regexp.not_match(reviewer.traits[\"missing\"], \".*\")",
                true,
            ),
            (
                "regexp.match(request.system_annotations[\"ticket\"], \"^INC-[0-9]+$\")",
                true,
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(check(text), expected, "{text}");
        }
    }

    #[test]
    fn parse_errors_name_the_column() {
        // (predicate, 1-based column, part of the message)
        let cases = [
            ("contains(reviewer.roles \"x\")", 25, "expected ','"),
            (
                "contains(reviewer.role, \"x\")",
                10,
                "unknown name \"reviewer.role\"",
            ),
            ("contains(user.roles, \"x\")", 10, "unknown name"),
            ("equals(a, \"x\")", 8, "unknown name \"a\""),
            ("true &| false", 6, "expected '&&'"),
            ("true && ", 9, "expected a condition but found the end"),
            ("(true", 6, "expected ')'"),
            ("true)", 5, "unexpected ')'"),
            ("\"x\"", 1, "a string is not a condition"),
            ("request.reason", 1, "is a value, not a condition"),
            ("contains(request.reason, \"x\")", 10, "needs a list first"),
            (
                "contains(request.roles, reviewer.roles)",
                25,
                "single value second",
            ),
            ("equals(\"x", 8, "unterminated string"),
            ("equals(\"x\", \"y\") $", 18, "unexpected character '$'"),
            ("contains(reviewer.traits, \"x\")", 10, "needs a key"),
            (
                "contains(reviewer.roles[\"x\"], \"x\")",
                10,
                "takes no [key]",
            ),
            ("equals(request.reason, \"\\q\")", 25, "unknown escape"),
            (
                "regexp.match(request.reason, \"(\")",
                30,
                "bad regular expression",
            ),
            (
                "regexp.match(request.reason, reviewer.roles)",
                30,
                "a string",
            ),
            (
                "regexp.replace(request.reason, \"a\")",
                1,
                "unknown function",
            ),
            ("regexp.match(\"x\", \"x\")", 14, "needs a field"),
            ("email.local(request.reason)", 1, "unknown function"),
        ];
        for (text, column, message) in cases {
            let err = Predicate::parse(text).unwrap_err();
            assert_eq!(err.column + 1, column, "{text}: {err}");
            assert!(err.message.contains(message), "{text}: {err}");
        }
    }

    #[test]
    fn refuses_predicates_too_deep_or_long() {
        let nested = format!("{}true{}", "(".repeat(64), ")".repeat(64));
        assert!(Predicate::parse(&nested).is_ok());
        let cases = [
            (
                format!("{}true{}", "(".repeat(65), ")".repeat(65)),
                65,
                "nested more than 64",
            ),
            ("!".repeat(70), 65, "nested more than 64"),
            ("true || ".repeat(600), 1, "longer than 4096"),
        ];
        for (text, column, message) in cases {
            let err = Predicate::parse(&text).unwrap_err();
            assert_eq!(err.column + 1, column, "{err}");
            assert!(err.message.contains(message), "{err}");
        }
    }
}
