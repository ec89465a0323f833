//! Request extractors that answer in the API's envelope when something is
//! missing or malformed: identity headers, the queue token, the
//! idempotency key, JSON bodies and path parameters.

use crate::error::ApiError;
use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use boxoffice_core::domain::idempotency::IdempotencyKey;
use boxoffice_core::domain::{TokenId, UserId};
use serde::de::DeserializeOwned;

pub const CLIENT_ID: &str = "Client-Id";
pub const QUEUE_TOKEN: &str = "Queue-Token";
pub const IDEMPOTENCY_KEY: &str = "Idempotency-Key";
pub const ADMIN_KEY: &str = "X-Admin-Key";

fn header<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts
        .headers
        .get(name)
        .map(|v| v.to_str().unwrap_or("\u{fffd}"))
}

/// The user, as asserted by the upstream gateway in `Client-Id`.
#[derive(Debug, Clone, Copy)]
pub struct ClientId(pub UserId);

impl<S: Send + Sync> FromRequestParts<S> for ClientId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let raw = header(parts, CLIENT_ID).ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "CLIENT_ID_REQUIRED",
                "the Client-Id header is required",
            )
        })?;
        raw.trim()
            .parse::<i64>()
            .ok()
            .and_then(|n| UserId::new(n).ok())
            .map(ClientId)
            .ok_or_else(|| {
                ApiError::bad_request("INVALID_CLIENT_ID", "Client-Id must be a positive integer")
            })
    }
}

/// The bearer queue token from `Queue-Token`.
#[derive(Debug, Clone, Copy)]
pub struct QueueToken(pub TokenId);

impl<S: Send + Sync> FromRequestParts<S> for QueueToken {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let raw = header(parts, QUEUE_TOKEN).ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "QUEUE_TOKEN_REQUIRED",
                "the Queue-Token header is required",
            )
        })?;
        raw.trim().parse::<TokenId>().map(QueueToken).map_err(|_| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "QUEUE_TOKEN_INVALID",
                "unknown queue token",
            )
        })
    }
}

/// The optional `Idempotency-Key`.
#[derive(Debug, Clone)]
pub struct IdempotencyKeyHeader(pub Option<IdempotencyKey>);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKeyHeader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        match header(parts, IDEMPOTENCY_KEY) {
            None => Ok(Self(None)),
            Some(raw) => IdempotencyKey::parse(raw)
                .map(|k| Self(Some(k)))
                .map_err(|e| ApiError::bad_request("INVALID_IDEMPOTENCY_KEY", e.to_string())),
        }
    }
}

/// The raw `X-Admin-Key`, checked by the admin routes against the configuration.
#[derive(Debug, Clone)]
pub struct AdminKey(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for AdminKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(header(parts, ADMIN_KEY).map(str::to_owned)))
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
            ApiError::bad_request("INVALID_REQUEST_BODY", e.body_text())
        }
        JsonRejection::JsonSyntaxError(_) => {
            ApiError::bad_request("MALFORMED_JSON", "the request body is not valid JSON")
        }
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            "send the body as Content-Type: application/json",
        ),
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PAYLOAD_TOO_LARGE",
            "the request body is too large",
        ),
        _ => ApiError::bad_request("MALFORMED_JSON", "the request body could not be read"),
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
    ApiError::bad_request(
        "INVALID_PATH_PARAMETER",
        format!("invalid path parameter: {}", rejection.body_text()),
    )
}

/// Turns a domain id's validation error into a path-parameter error.
pub fn path_id<T, E: std::fmt::Display>(parsed: Result<T, E>) -> Result<T, ApiError> {
    parsed.map_err(|e| ApiError::bad_request("INVALID_PATH_PARAMETER", e.to_string()))
}
