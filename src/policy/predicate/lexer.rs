//! Splits a predicate into tokens, each with its column.

use std::fmt;

use super::PredicateError;

#[derive(Debug, Clone, PartialEq)]
pub(super) enum TokenKind {
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
pub(super) struct Token {
    pub kind: TokenKind,
    pub column: usize,
}

pub(super) fn lex(text: &str) -> Result<Vec<Token>, PredicateError> {
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
