//! Request heads beyond the broker's limits are answered in the JSON error shape
//! (414, 431) before anything else reads them. hyper's own buffer sits above these
//! limits, so only a head larger than twice them meets hyper's bare 431.

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
