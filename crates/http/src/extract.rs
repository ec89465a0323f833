//! Request extractors that answer in the API's envelope when something is
//! missing or malformed: the idempotency key, JSON bodies and path
//! parameters. Who is calling is `identity`'s.

use crate::ErrorCode;
use crate::error::ApiError;
use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use boxoffice_core::domain::idempotency::IdempotencyKey;
use serde::de::DeserializeOwned;

pub const IDEMPOTENCY_KEY: &str = "Idempotency-Key";

/// The optional `Idempotency-Key`.
#[derive(Debug, Clone)]
pub struct IdempotencyKeyHeader(pub Option<IdempotencyKey>);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKeyHeader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        match crate::identity::single_header(parts, IDEMPOTENCY_KEY)? {
            None => Ok(Self(None)),
            Some(raw) => IdempotencyKey::parse(raw)
                .map(|k| Self(Some(k)))
                .map_err(|e| ApiError::new(ErrorCode::INVALID_IDEMPOTENCY_KEY, e.to_string())),
        }
    }
}

/// A JSON body; any problem with it answers in the envelope.
#[derive(Debug, Clone)]
pub struct Body<T>(pub T);

impl<S, T> FromRequest<S> for Body<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(value)) => Ok(Body(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::JsonDataError(e) => {
            ApiError::new(ErrorCode::INVALID_REQUEST_BODY, e.body_text())
        }
        JsonRejection::JsonSyntaxError(_) => ApiError::new(
            ErrorCode::MALFORMED_JSON,
            "the request body is not valid JSON",
        ),
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            ErrorCode::UNSUPPORTED_MEDIA_TYPE,
            "send the body as Content-Type: application/json",
        ),
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
            ErrorCode::PAYLOAD_TOO_LARGE,
            "the request body is too large",
        ),
        _ => ApiError::new(
            ErrorCode::MALFORMED_JSON,
            "the request body could not be read",
        ),
    }
}

/// Path parameters; a value of the wrong type answers 400 in the envelope.
#[derive(Debug, Clone)]
pub struct PathParam<T>(pub T);

impl<S, T> FromRequestParts<S> for PathParam<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(PathParam(value)),
            Err(rejection) => Err(path_rejection(&rejection)),
        }
    }
}

fn path_rejection(rejection: &PathRejection) -> ApiError {
    ApiError::new(
        ErrorCode::INVALID_PATH_PARAMETER,
        format!("invalid path parameter: {}", rejection.body_text()),
    )
}

/// Turns a domain id's validation error into a path-parameter error.
pub fn path_id<T, E: std::fmt::Display>(parsed: Result<T, E>) -> Result<T, ApiError> {
    parsed.map_err(|e| ApiError::new(ErrorCode::INVALID_PATH_PARAMETER, e.to_string()))
}
