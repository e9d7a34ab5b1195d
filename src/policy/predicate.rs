//! The predicate language of threshold `filter`s and review `where` clauses:
//! `contains(list, "s")`, `equals(a, b)`, `!`, `&&`, `||`, parentheses, string
//! literals, `true`/`false` and a fixed set of names about the reviewer, the request
//! and the review. Parsed once; evaluated against a [`Context`].

use std::collections::BTreeMap;
use std::fmt;

use crate::model::User;

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
enum Expr {
    Literal(bool),
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Contains(Value, Value),
    Equals(Value, Value),
}

#[derive(Debug, Clone, PartialEq)]
enum Value {
    Text(String),
    ReviewerRoles,
    ReviewerTraits(String),
    RequestRoles,
    RequestReason,
    RequestAnnotations(String),
    ReviewReason,
}

impl Value {
    fn is_list(&self) -> bool {
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
        let mut parser = Parser {
            tokens,
            at: 0,
            end: text.chars().count(),
            depth: 0,
        };
        let expr = parser.or()?;
        if let Some(token) = parser.tokens.get(parser.at) {
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

#[derive(Debug, Clone, PartialEq)]
enum TokenKind {
    Ident(String),
    Text(String),
    Dot,
    Comma,
    LParen,
    RParen,
    LBracket,
    RBracket,
    Not,
    And,
    Or,
}

impl fmt::Display for TokenKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenKind::Ident(s) => write!(f, "name {s:?}"),
            TokenKind::Text(s) => write!(f, "string {s:?}"),
            TokenKind::Dot => f.write_str("'.'"),
            TokenKind::Comma => f.write_str("','"),
            TokenKind::LParen => f.write_str("'('"),
            TokenKind::RParen => f.write_str("')'"),
            TokenKind::LBracket => f.write_str("'['"),
            TokenKind::RBracket => f.write_str("']'"),
            TokenKind::Not => f.write_str("'!'"),
            TokenKind::And => f.write_str("'&&'"),
            TokenKind::Or => f.write_str("'||'"),
        }
    }
}

#[derive(Debug, Clone)]
struct Token {
    kind: TokenKind,
    column: usize,
}

fn lex(text: &str) -> Result<Vec<Token>, PredicateError> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    let err = |column, message: &str| PredicateError {
        column,
        message: message.to_string(),
    };
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        let single = match c {
            '.' => Some(TokenKind::Dot),
            ',' => Some(TokenKind::Comma),
            '(' => Some(TokenKind::LParen),
            ')' => Some(TokenKind::RParen),
            '[' => Some(TokenKind::LBracket),
            ']' => Some(TokenKind::RBracket),
            '!' => Some(TokenKind::Not),
            _ => None,
        };
        if let Some(kind) = single {
            tokens.push(Token {
                kind,
                column: start,
            });
            i += 1;
            continue;
        }
        if c.is_whitespace() {
            i += 1;
        } else if c == '&' || c == '|' {
            if chars.get(i + 1) != Some(&c) {
                return Err(err(start, &format!("expected '{c}{c}'")));
            }
            let kind = if c == '&' {
                TokenKind::And
            } else {
                TokenKind::Or
            };
            tokens.push(Token {
                kind,
                column: start,
            });
            i += 2;
        } else if c == '"' {
            let mut value = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err(err(start, "unterminated string")),
                    Some('"') => break,
                    Some('\\') => {
                        let escaped = match chars.get(i + 1) {
                            Some('"') => '"',
                            Some('\\') => '\\',
                            Some('n') => '\n',
                            Some('t') => '\t',
                            _ => return Err(err(i, "unknown escape in string")),
                        };
                        value.push(escaped);
                        i += 2;
                    }
                    Some(&other) => {
                        value.push(other);
                        i += 1;
                    }
                }
            }
            i += 1;
            tokens.push(Token {
                kind: TokenKind::Text(value),
                column: start,
            });
        } else if c.is_ascii_alphabetic() || c == '_' {
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            tokens.push(Token {
                kind: TokenKind::Ident(chars[start..i].iter().collect()),
                column: start,
            });
        } else {
            return Err(err(start, &format!("unexpected character {c:?}")));
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
    /// Column just past the end, for "unexpected end" errors.
    end: usize,
    /// Open `!` and `(` around the current position.
    depth: usize,
}

/// Limits that keep evaluation shallow; real predicates are far smaller.
const MAX_CHARS: usize = 4096;
const MAX_DEPTH: usize = 64;

impl Parser {
    fn peek(&self) -> Option<&TokenKind> {
        self.tokens.get(self.at).map(|t| &t.kind)
    }

    fn column(&self) -> usize {
        self.tokens.get(self.at).map_or(self.end, |t| t.column)
    }

    fn error<T>(&self, message: String) -> Result<T, PredicateError> {
        Err(PredicateError {
            column: self.column(),
            message,
        })
    }

    fn found(&self) -> String {
        self.peek()
            .map_or_else(|| "the end".to_string(), |k| k.to_string())
    }

    fn expect(&mut self, kind: TokenKind) -> Result<(), PredicateError> {
        if self.peek() == Some(&kind) {
            self.at += 1;
            Ok(())
        } else {
            self.error(format!("expected {kind} but found {}", self.found()))
        }
    }

    fn or(&mut self) -> Result<Expr, PredicateError> {
        let mut left = self.and()?;
        while self.peek() == Some(&TokenKind::Or) {
            self.at += 1;
            let right = self.and()?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, PredicateError> {
        let mut left = self.unary()?;
        while self.peek() == Some(&TokenKind::And) {
            self.at += 1;
            let right = self.unary()?;
            left = Expr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, PredicateError> {
        if matches!(self.peek(), Some(TokenKind::Not | TokenKind::LParen)) {
            if self.depth >= MAX_DEPTH {
                return self.error(format!("nested more than {MAX_DEPTH} deep"));
            }
            self.depth += 1;
            let nested = self.nested();
            self.depth -= 1;
            return nested;
        }
        self.condition()
    }

    fn nested(&mut self) -> Result<Expr, PredicateError> {
        if self.peek() == Some(&TokenKind::Not) {
            self.at += 1;
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        self.expect(TokenKind::LParen)?;
        let inner = self.or()?;
        self.expect(TokenKind::RParen)?;
        Ok(inner)
    }

    fn condition(&mut self) -> Result<Expr, PredicateError> {
        match self.peek() {
            Some(TokenKind::Ident(name)) => match name.as_str() {
                "true" | "false" => {
                    let b = name == "true";
                    self.at += 1;
                    Ok(Expr::Literal(b))
                }
                "contains" | "equals" => self.call(),
                _ => {
                    let column = self.column();
                    let value = self.value()?;
                    Err(PredicateError {
                        column,
                        message: format!(
                            "{} is a value, not a condition (use contains(…) or equals(…))",
                            describe(&value)
                        ),
                    })
                }
            },
            Some(TokenKind::Text(_)) => {
                self.error("a string is not a condition (use contains(…) or equals(…))".to_string())
            }
            _ => self.error(format!("expected a condition but found {}", self.found())),
        }
    }

    fn call(&mut self) -> Result<Expr, PredicateError> {
        let Some(TokenKind::Ident(function)) = self.peek().cloned() else {
            return self.error("expected a function".to_string());
        };
        self.at += 1;
        self.expect(TokenKind::LParen)?;
        let first_column = self.column();
        let first = self.value()?;
        self.expect(TokenKind::Comma)?;
        let second_column = self.column();
        let second = self.value()?;
        self.expect(TokenKind::RParen)?;
        if function == "equals" {
            return Ok(Expr::Equals(first, second));
        }
        if !first.is_list() {
            return Err(PredicateError {
                column: first_column,
                message: format!(
                    "contains needs a list first, but {} is a single value",
                    describe(&first)
                ),
            });
        }
        if second.is_list() {
            return Err(PredicateError {
                column: second_column,
                message: format!(
                    "contains needs a single value second, but {} is a list",
                    describe(&second)
                ),
            });
        }
        Ok(Expr::Contains(first, second))
    }

    fn value(&mut self) -> Result<Value, PredicateError> {
        let column = self.column();
        match self.peek().cloned() {
            Some(TokenKind::Text(s)) => {
                self.at += 1;
                Ok(Value::Text(s))
            }
            Some(TokenKind::Ident(first)) => {
                self.at += 1;
                let mut path = first;
                while self.peek() == Some(&TokenKind::Dot) {
                    self.at += 1;
                    match self.peek().cloned() {
                        Some(TokenKind::Ident(part)) => {
                            self.at += 1;
                            path.push('.');
                            path.push_str(&part);
                        }
                        _ => {
                            return self.error(format!(
                                "expected a name after '.' but found {}",
                                self.found()
                            ));
                        }
                    }
                }
                let key = if self.peek() == Some(&TokenKind::LBracket) {
                    self.at += 1;
                    let Some(TokenKind::Text(key)) = self.peek().cloned() else {
                        return self
                            .error(format!("expected a string key but found {}", self.found()));
                    };
                    self.at += 1;
                    self.expect(TokenKind::RBracket)?;
                    Some(key)
                } else {
                    None
                };
                name_value(&path, key).map_err(|message| PredicateError { column, message })
            }
            _ => self.error(format!("expected a value but found {}", self.found())),
        }
    }
}

fn name_value(path: &str, key: Option<String>) -> Result<Value, String> {
    let value = match (path, key) {
        ("reviewer.roles", None) => Value::ReviewerRoles,
        ("reviewer.traits", Some(k)) => Value::ReviewerTraits(k),
        ("request.roles", None) => Value::RequestRoles,
        ("request.reason", None) => Value::RequestReason,
        ("request.annotations", Some(k)) => Value::RequestAnnotations(k),
        ("review.reason", None) => Value::ReviewReason,
        ("reviewer.traits" | "request.annotations", None) => {
            return Err(format!("{path} needs a key, like {path}[\"team\"]"));
        }
        (_, Some(_)) if is_known(path) => return Err(format!("{path} takes no [key]")),
        _ => {
            return Err(format!(
                "unknown name {path:?} (known: reviewer.roles, reviewer.traits[\"k\"], \
                 request.roles, request.reason, request.annotations[\"k\"], review.reason)"
            ));
        }
    };
    Ok(value)
}

fn is_known(path: &str) -> bool {
    matches!(
        path,
        "reviewer.roles" | "request.roles" | "request.reason" | "review.reason"
    )
}

fn describe(value: &Value) -> String {
    match value {
        Value::Text(s) => format!("string {s:?}"),
        Value::ReviewerRoles => "reviewer.roles".into(),
        Value::ReviewerTraits(k) => format!("reviewer.traits[{k:?}]"),
        Value::RequestRoles => "request.roles".into(),
        Value::RequestReason => "request.reason".into(),
        Value::RequestAnnotations(k) => format!("request.annotations[{k:?}]"),
        Value::ReviewReason => "review.reason".into(),
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
