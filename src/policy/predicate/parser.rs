//! A recursive-descent parser from tokens to an expression, checking names and
//! argument types as it goes.

use super::lexer::{Token, TokenKind};
use super::{Expr, Pattern, PredicateError, Value};

/// Compiled predicate regexes stay small.
const MAX_REGEX_BYTES: usize = 1 << 20;

pub(super) struct Parser {
    tokens: Vec<Token>,
    at: usize,
    /// Column just past the end, for "unexpected end" errors.
    end: usize,
    /// Open `!` and `(` around the current position.
    depth: usize,
}

/// Keeps evaluation shallow; real predicates nest a few levels at most.
const MAX_DEPTH: usize = 64;

impl Parser {
    pub(super) fn new(tokens: Vec<Token>, end: usize) -> Self {
        Parser {
            tokens,
            at: 0,
            end,
            depth: 0,
        }
    }

    /// The token after a complete expression, if any is left over.
    pub(super) fn leftover(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

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

    pub(super) fn or(&mut self) -> Result<Expr, PredicateError> {
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
                _ if self.dotted_call().is_some() => self.regexp_call(),
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

    /// `name.function` when the tokens ahead are `name . function (`.
    fn dotted_call(&self) -> Option<String> {
        let ahead = |n: usize| self.tokens.get(self.at + n).map(|t| &t.kind);
        match (ahead(0), ahead(1), ahead(2), ahead(3)) {
            (
                Some(TokenKind::Ident(name)),
                Some(TokenKind::Dot),
                Some(TokenKind::Ident(function)),
                Some(TokenKind::LParen),
            ) => Some(format!("{name}.{function}")),
            _ => None,
        }
    }

    /// `regexp.match(value, "re")` or `regexp.not_match(value, "re")`.
    fn regexp_call(&mut self) -> Result<Expr, PredicateError> {
        let function = self.dotted_call().unwrap_or_default();
        let negate = match function.as_str() {
            "regexp.match" => false,
            "regexp.not_match" => true,
            other => {
                return self.error(format!(
                    "unknown function {other} (known: contains, equals, regexp.match, \
                     regexp.not_match)"
                ));
            }
        };
        self.at += 3;
        self.expect(TokenKind::LParen)?;
        let value_column = self.column();
        let value = self.value()?;
        if let Value::Text(_) = value {
            return Err(PredicateError {
                column: value_column,
                message: format!("{function} needs a field first, like request.reason"),
            });
        }
        self.expect(TokenKind::Comma)?;
        let pattern_column = self.column();
        let Some(TokenKind::Text(text)) = self.peek().cloned() else {
            return self.error(format!(
                "{function} needs a string pattern second but found {}",
                self.found()
            ));
        };
        self.at += 1;
        let regex = regex::RegexBuilder::new(&text)
            .size_limit(MAX_REGEX_BYTES)
            .build()
            .map_err(|e| PredicateError {
                column: pattern_column,
                message: format!(
                    "bad regular expression: {}",
                    e.to_string().lines().last().unwrap_or("invalid").trim()
                ),
            })?;
        self.expect(TokenKind::RParen)?;
        Ok(Expr::Regexp {
            value,
            pattern: Pattern { text, regex },
            negate,
        })
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
        // Teleport's name, and the one countersign first used.
        ("request.system_annotations" | "request.annotations", Some(k)) => {
            Value::RequestAnnotations(k)
        }
        ("review.reason", None) => Value::ReviewReason,
        ("reviewer.traits" | "request.system_annotations" | "request.annotations", None) => {
            return Err(format!("{path} needs a key, like {path}[\"team\"]"));
        }
        (_, Some(_)) if is_known(path) => return Err(format!("{path} takes no [key]")),
        _ => {
            return Err(format!(
                "unknown name {path:?} (known: reviewer.roles, reviewer.traits[\"k\"], \
                 request.roles, request.reason, request.system_annotations[\"k\"], \
                 request.annotations[\"k\"], review.reason)"
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
