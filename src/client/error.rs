//! What can go wrong talking to the broker, in words a person can act on.

use std::fmt;

use crate::model::api::ErrorCode;

use super::sanitize::sanitize_inline;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientError {
    /// The broker answered with its JSON error shape.
    Api {
        status: u16,
        code: ErrorCode,
        message: String,
    },
    /// The broker could not be reached: refused connection, DNS, timeout, reset.
    Unreachable { url: String, detail: String },
    /// The broker answered something this client does not understand.
    Protocol { status: Option<u16>, detail: String },
}

impl ClientError {
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            ClientError::Api { code, .. } => Some(*code),
            _ => None,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Api { status, .. } => Some(*status),
            ClientError::Protocol { status, .. } => *status,
            ClientError::Unreachable { .. } => None,
        }
    }

    /// Whether the console should show "offline" rather than an error.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, ClientError::Unreachable { .. })
    }

    pub(crate) fn from_reqwest(url: &str, err: &reqwest::Error) -> ClientError {
        if err.is_decode() || err.is_builder() {
            return ClientError::Protocol {
                status: err.status().map(|s| s.as_u16()),
                detail: error_chain(err),
            };
        }
        let detail = if err.is_timeout() {
            "timed out".to_string()
        } else {
            error_chain(err)
        };
        ClientError::Unreachable {
            url: url.to_string(),
            detail,
        }
    }

    /// Interprets a non-success answer: the JSON error shape if it is one.
    pub(crate) fn from_response(status: u16, body: &[u8]) -> ClientError {
        match serde_json::from_slice::<crate::model::api::ApiError>(body) {
            Ok(api) => ClientError::Api {
                status,
                code: api.error.code,
                message: api.error.message,
            },
            Err(_) => ClientError::Protocol {
                status: Some(status),
                detail: format!("HTTP {status}: {}", snippet(body)),
            },
        }
    }
}

/// The innermost cause of a reqwest error ("Connection refused (os error 111)"),
/// which says more to a person than the layers of wrapping above it.
fn error_chain(err: &reqwest::Error) -> String {
    let mut deepest = err.to_string();
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(err);
    while let Some(cause) = source {
        let text = cause.to_string();
        if !text.trim().is_empty() {
            deepest = text;
        }
        source = cause.source();
    }
    deepest
}

fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return "empty body".to_string();
    }
    let mut cut: String = text.chars().take(200).collect();
    if cut.len() < text.len() {
        cut.push('…');
    }
    cut
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Api { code, message, .. } => {
                let message = sanitize_inline(message);
                let message = message.trim_end_matches('.');
                match code {
                    ErrorCode::Unauthenticated => write!(
                        f,
                        "the broker did not accept the token: {message} ({})",
                        code.as_str()
                    ),
                    _ => write!(f, "the broker refused: {message} ({})", code.as_str()),
                }
            }
            ClientError::Unreachable { url, detail } => write!(
                f,
                "cannot reach the broker at {}: {}",
                sanitize_inline(url),
                sanitize_inline(detail)
            ),
            ClientError::Protocol { detail, .. } => write!(
                f,
                "unexpected answer from the broker: {}",
                sanitize_inline(detail)
            ),
        }
    }
}

impl std::error::Error for ClientError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_error_body_is_parsed_and_shown_with_its_code() {
        let body =
            br#"{"error":{"code":"self_review","message":"you cannot review your own request"}}"#;
        let err = ClientError::from_response(403, body);
        assert_eq!(err.code(), Some(ErrorCode::SelfReview));
        assert_eq!(err.status(), Some(403));
        assert_eq!(
            err.to_string(),
            "the broker refused: you cannot review your own request (self_review)"
        );
    }

    #[test]
    fn unknown_body_is_a_protocol_error_with_a_snippet() {
        let err = ClientError::from_response(502, b"<html>Bad Gateway</html>");
        assert!(matches!(
            err,
            ClientError::Protocol {
                status: Some(502),
                ..
            }
        ));
        assert!(
            err.to_string()
                .contains("HTTP 502: <html>Bad Gateway</html>")
        );
    }

    #[test]
    fn broker_messages_are_sanitised_in_display() {
        let body = br#"{"error":{"code":"forbidden","message":"no\u001b[31m way"}}"#;
        let err = ClientError::from_response(403, body);
        assert_eq!(
            err.to_string(),
            "the broker refused: no\\x1b[31m way (forbidden)"
        );
    }
}
