//! Extractors whose rejections are API errors with JSON bodies (axum's own
//! answer in plain text): JSON bodies, raw bodies. (The authenticated
//! caller comes from `permissions::authorize`.)

use super::AppState;
use super::error::ApiError;
use axum::extract::rejection::{BytesRejection, JsonRejection};
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

/// A JSON body; malformed JSON, wrong types and a wrong content type are 4xx
/// with a message that says what and where.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(r: JsonRejection) -> ApiError {
    let status = r.status();
    let message = r.body_text();
    match r {
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "send the body as JSON with Content-Type: application/json",
        ),
        JsonRejection::BytesRejection(b) => bytes_rejection(b),
        _ if status == StatusCode::PAYLOAD_TOO_LARGE => too_large(),
        _ => ApiError::bad_request(message),
    }
}

/// A raw body (a package upload).
pub struct RawBody(pub axum::body::Bytes);

impl FromRequest<AppState> for RawBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        axum::body::Bytes::from_request(req, state)
            .await
            .map(RawBody)
            .map_err(bytes_rejection)
    }
}

fn bytes_rejection(r: BytesRejection) -> ApiError {
    if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
        too_large()
    } else {
        ApiError::bad_request(r.body_text())
    }
}

fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too-large",
        format!(
            "the request body is larger than {} MiB",
            super::MAX_BODY_BYTES >> 20
        ),
    )
}

/// A JSON body that may be left out entirely (an empty body means
/// `T::default()`); a body that is there must be valid JSON of `T`.
pub struct JsonOrDefault<T>(pub T);

impl<T: DeserializeOwned + Default> FromRequest<AppState> for JsonOrDefault<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let has_body = req
            .headers()
            .get(axum::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_none_or(|v| v != "0")
            && req.headers().contains_key(axum::http::header::CONTENT_TYPE);
        if !has_body {
            return Ok(JsonOrDefault(T::default()));
        }
        ApiJson::<T>::from_request(req, state)
            .await
            .map(|ApiJson(v)| JsonOrDefault(v))
    }
}
