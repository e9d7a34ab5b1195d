//! One error type for every handler, rendered as `{"error": {"code", "message"}}`.

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::store::{Refusal, StoreError};
use crate::model::api::{ApiError as ErrorShape, ErrorBody, ErrorCode};

#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
        }
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, message)
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Forbidden, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }
}

impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> Self {
        ApiError::new(refusal.code, refusal.message)
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        tracing::error!("store: {err}");
        match err {
            StoreError::Closed => {
                ApiError::new(ErrorCode::Unavailable, "the broker is shutting down")
            }
            StoreError::Failed(why) => ApiError::new(
                ErrorCode::Unavailable,
                format!("the broker can no longer write ({why}); it is stopping"),
            ),
            StoreError::Unavailable(_) => ApiError::new(
                ErrorCode::Unavailable,
                "the broker cannot reach its database just now; try again, or another broker",
            ),
            _ => ApiError::new(
                ErrorCode::Internal,
                "the broker could not complete this; see its log",
            ),
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            return ApiError::new(
                ErrorCode::TooLarge,
                format!(
                    "the body is larger than {} bytes",
                    crate::model::api::MAX_BODY_BYTES
                ),
            );
        }
        let message = match &rejection {
            JsonRejection::MissingJsonContentType(_) => {
                "send the body as JSON with Content-Type: application/json".to_string()
            }
            other => other.body_text(),
        };
        ApiError::invalid(message)
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::invalid(rejection.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        ApiError::not_found(format!("no such request: {}", rejection.body_text()))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = ErrorShape {
            error: ErrorBody {
                code: self.code,
                message: self.message,
            },
        };
        (status, Json(body)).into_response()
    }
}
