//! The API's one error type and its stable JSON shape:
//! `{"error": {"code": "...", "message": "...", "current_state": "..."}}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use zhiyun_apps::registry::RegistryError;
use zhiyun_contract::ErrorKind;
use zhiyun_runtime::{InvokeError, LoadError};

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub current_state: Option<String>,
    /// Machine-readable facts about the error (e.g. `locked_until`).
    pub detail: Option<serde_json::Value>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code, e.g. `invalid-input`, `conflict`.
    pub code: String,
    /// What went wrong, where and why, for a person.
    pub message: String,
    /// For `conflict`: the state the resource is in now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_state: Option<String>,
    /// Facts a client can act on, e.g. `{"locked_until": <µs>}` for `locked`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub detail: Option<serde_json::Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            current_state: None,
            detail: None,
        }
    }
    pub fn with_detail(mut self, detail: serde_json::Value) -> Self {
        self.detail = Some(detail);
        self
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid-input", message)
    }
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthenticated", message)
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "access-denied", message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // A host fault is an error; an app's failure (502/503/504: its
        // timeout, crash, limit) is the app's, worth a warning.
        if self.status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(code = self.code, message = %self.message, "request failed");
        } else if self.status.is_server_error() {
            tracing::warn!(code = self.code, message = %self.message, "app failed");
        }
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_string(),
                message: self.message,
                current_state: self.current_state,
                detail: self.detail,
            },
        };
        (self.status, axum::Json(body)).into_response()
    }
}

impl From<RegistryError> for ApiError {
    fn from(e: RegistryError) -> Self {
        let message = e.to_string();
        match e {
            RegistryError::NotFound(_) => ApiError::not_found(message),
            RegistryError::Conflict { current_state, .. } => ApiError {
                status: StatusCode::CONFLICT,
                code: "conflict",
                message,
                current_state: current_state.map(|s| s.as_str().to_string()),
                detail: None,
            },
            RegistryError::SelfApproval(_) => {
                ApiError::new(StatusCode::FORBIDDEN, "self-approval", message)
            }
            RegistryError::Unsigned
            | RegistryError::UnknownKey(_)
            | RegistryError::BadSignature(_) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "bad-signature", message)
            }
            RegistryError::Invalid(_) => ApiError::bad_request(message),
            RegistryError::Store(_) | RegistryError::Corrupt(_) => ApiError::internal(message),
        }
    }
}

impl From<zhiyun_apps::PackageError> for ApiError {
    fn from(e: zhiyun_apps::PackageError) -> Self {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad-package",
            e.to_string(),
        )
    }
}

impl From<LoadError> for ApiError {
    fn from(e: LoadError) -> Self {
        match e {
            LoadError::Host(_) => ApiError::internal(e.to_string()),
            _ => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "bad-component",
                e.to_string(),
            ),
        }
    }
}

impl From<InvokeError> for ApiError {
    /// An app's failure is not the server's: it is reported as the app's,
    /// with a code that says which limit or fault it was.
    fn from(e: InvokeError) -> Self {
        let message = e.to_string();
        let (status, code) = match &e {
            InvokeError::App(app) => match app.kind {
                ErrorKind::InvalidInput => (StatusCode::BAD_REQUEST, "invalid-input"),
                ErrorKind::AccessDenied => (StatusCode::FORBIDDEN, "access-denied"),
                ErrorKind::NotFound => (StatusCode::NOT_FOUND, "not-found"),
                ErrorKind::QuotaExceeded => {
                    (StatusCode::UNPROCESSABLE_ENTITY, "app-quota-exceeded")
                }
                ErrorKind::Timeout => (StatusCode::GATEWAY_TIMEOUT, "app-timeout"),
                ErrorKind::Internal => (StatusCode::BAD_GATEWAY, "app-error"),
            },
            InvokeError::Timeout { .. } => (StatusCode::GATEWAY_TIMEOUT, "app-timeout"),
            InvokeError::MemoryLimit { .. } => (StatusCode::BAD_GATEWAY, "app-memory-limit"),
            InvokeError::OutputTooLarge { .. } => (StatusCode::BAD_GATEWAY, "app-output-too-large"),
            InvokeError::FuelExhausted { .. } => (StatusCode::BAD_GATEWAY, "app-fuel-exhausted"),
            InvokeError::Trap { .. } => (StatusCode::BAD_GATEWAY, "app-crashed"),
            InvokeError::Busy(_) => (StatusCode::SERVICE_UNAVAILABLE, "busy"),
            InvokeError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        };
        ApiError::new(status, code, message)
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

impl From<zhiyun_contract::AppError> for ApiError {
    /// An error of the governed data path answering the portal's own data
    /// API (no app in between): the caller's, except an internal fault.
    fn from(e: zhiyun_contract::AppError) -> Self {
        match e.kind {
            ErrorKind::InvalidInput => ApiError::bad_request(e.message),
            ErrorKind::AccessDenied => ApiError::forbidden(e.message),
            ErrorKind::NotFound => ApiError::not_found(e.message),
            ErrorKind::QuotaExceeded => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "quota-exceeded",
                e.message,
            ),
            ErrorKind::Timeout => ApiError::new(StatusCode::GATEWAY_TIMEOUT, "timeout", e.message),
            ErrorKind::Internal => ApiError::internal(e.message),
        }
    }
}
