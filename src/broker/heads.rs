//! Request heads beyond the broker's limits are answered in the JSON error shape
//! (414, 431) before anything else reads them. hyper's own buffer sits above these
//! limits; a head larger still, or one hyper cannot parse, hyper answers itself
//! with an empty body, and [`shaped_parse_error`] turns that answer into the same
//! JSON shape on its way out.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::server::Broker;
use crate::model::api::ErrorCode;

/// Most header fields in one request.
pub const MAX_HEADERS: usize = 100;

pub async fn bounded(State(broker): State<Arc<Broker>>, request: Request, next: Next) -> Response {
    let limits = &broker.config.limits;
    let uri = request.uri().to_string().len();
    if uri > limits.max_uri_bytes {
        return ApiError::new(
            ErrorCode::UriTooLong,
            format!(
                "the URI is {uri} bytes; the broker takes at most {}",
                limits.max_uri_bytes
            ),
        )
        .into_response();
    }
    let headers = request.headers();
    let bytes: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if headers.len() > MAX_HEADERS || bytes > limits.max_header_bytes {
        return ApiError::new(
            ErrorCode::HeadersTooLarge,
            format!(
                "{} header fields of {bytes} bytes; the broker takes at most {MAX_HEADERS} fields and {} bytes",
                headers.len(),
                limits.max_header_bytes
            ),
        )
        .into_response();
    }
    next.run(request).await
}

/// hyper answers a request head it cannot hold or parse before any of our code
/// sees a request, and hyper 1.x has no hook for that answer (`Server::on_error`
/// in its `proto/h1/role.rs` builds it): `HTTP/1.1 431 Request Header Fields Too
/// Large` (also 400 and 414), `connection: close`, `content-length: 0`. Given the
/// bytes of one write, this returns the same answer with a JSON error body, or
/// `None` when the write is anything else. Our own handlers never answer 400, 414
/// or 431 without a body, so nothing of ours is mistaken for it.
pub fn shaped_parse_error(written: &[u8]) -> Option<Vec<u8>> {
    let status = written.get(9..12)?;
    if !written.starts_with(b"HTTP/1.") || !matches!(status, b"400" | b"414" | b"431") {
        return None;
    }
    let head = std::str::from_utf8(written.strip_suffix(b"\r\n\r\n")?).ok()?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next()?;
    let fields: Vec<&str> = lines.collect();
    let has = |field: &str| fields.iter().any(|f| f.eq_ignore_ascii_case(field));
    // One whole head and nothing after it (a blank line inside would be a field "").
    if fields.contains(&"") || !has("connection: close") || !has("content-length: 0") {
        return None;
    }
    let (code, message) = match status {
        b"431" => (
            ErrorCode::HeadersTooLarge,
            "the request's header fields are too large or too many for the broker to read",
        ),
        b"414" => (ErrorCode::UriTooLong, "the request's URI is too long"),
        _ => (
            ErrorCode::InvalidRequest,
            "the request head cannot be parsed (its method, URI, version or a header line)",
        ),
    };
    let body = serde_json::to_vec(&crate::model::api::ApiError {
        error: crate::model::api::ErrorBody {
            code,
            message: message.to_string(),
        },
    })
    .ok()?;
    let mut out = Vec::with_capacity(written.len() + body.len() + 64);
    out.extend_from_slice(status_line.as_bytes());
    out.extend_from_slice(b"\r\n");
    for field in fields
        .iter()
        .filter(|f| !f.to_ascii_lowercase().starts_with("content-length:"))
    {
        out.extend_from_slice(field.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(
        format!(
            "content-type: application/json\r\ncontent-length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    out.extend_from_slice(&body);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BARE_431: &[u8] = b"HTTP/1.1 431 Request Header Fields Too Large\r\nconnection: close\r\ncontent-length: 0\r\ndate: Tue, 01 Dec 2026 11:31:50 GMT\r\n\r\n";

    #[test]
    fn hypers_bare_answers_get_the_json_shape() {
        for (status, code) in [
            ("431 Request Header Fields Too Large", "headers_too_large"),
            ("414 URI Too Long", "uri_too_long"),
            ("400 Bad Request", "invalid_request"),
        ] {
            let bare = String::from_utf8_lossy(BARE_431)
                .replace("431 Request Header Fields Too Large", status);
            let shaped = shaped_parse_error(bare.as_bytes()).expect(status);
            let text = String::from_utf8(shaped).unwrap();
            let (head, body) = text.split_once("\r\n\r\n").unwrap();
            assert!(
                head.starts_with(&format!("HTTP/1.1 {status}\r\n")),
                "{head}"
            );
            assert!(head.contains("\r\nconnection: close"), "{head}");
            assert!(
                head.contains("\r\ndate: Tue, 01 Dec 2026 11:31:50 GMT"),
                "{head}"
            );
            assert!(
                head.contains("\r\ncontent-type: application/json"),
                "{head}"
            );
            assert!(
                head.contains(&format!("\r\ncontent-length: {}", body.len())),
                "{head}"
            );
            assert!(!head.contains("content-length: 0"), "{head}");
            let json: serde_json::Value = serde_json::from_str(body).unwrap();
            assert_eq!(json["error"]["code"], code, "{body}");
        }
    }

    #[test]
    fn anything_else_is_left_alone() {
        let with_body = b"HTTP/1.1 431 Request Header Fields Too Large\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: 20\r\n\r\n";
        let cases: [&[u8]; 6] = [
            b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 0\r\n\r\n",
            with_body,
            // Kept alive: not hyper's answer to a head it gave up on.
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n",
            // A head with more after it.
            b"HTTP/1.1 431 Request Header Fields Too Large\r\nconnection: close\r\ncontent-length: 0\r\n\r\n{}\r\n\r\n",
            b"HTTP/1.1 431",
            b"",
        ];
        for case in cases {
            assert_eq!(
                shaped_parse_error(case),
                None,
                "{}",
                String::from_utf8_lossy(case)
            );
        }
    }
}
