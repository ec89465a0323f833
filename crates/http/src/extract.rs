//! Request extractors that answer in the API's envelope when something is
//! missing or malformed: the idempotency key, JSON bodies and path
//! parameters. Who is calling is `identity`'s.

use crate::ErrorCode;
use crate::error::ApiError;
use axum::Json;
use axum::body::Bytes;
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
        if !json_content_type(req.headers()) {
            return Err(ApiError::new(
                ErrorCode::UNSUPPORTED_MEDIA_TYPE,
                "send the body as Content-Type: application/json",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if timed_out(&rejection) {
                ApiError::new(
                    ErrorCode::REQUEST_TIMEOUT,
                    "the request body did not arrive in time",
                )
            } else if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    ErrorCode::PAYLOAD_TOO_LARGE,
                    "the request body is too large",
                )
            } else {
                ApiError::new(
                    ErrorCode::MALFORMED_JSON,
                    "the request body could not be read",
                )
            }
        })?;
        let Json(value) = Json::<T>::from_bytes(&bytes).map_err(json_rejection)?;
        // Every body is an object: serde would also fill a struct from an
        // array of its fields in order (`[1]` for `{"amount":1}`).
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(ApiError::new(
                ErrorCode::INVALID_REQUEST_BODY,
                "the request body must be a JSON object",
            ));
        }
        Ok(Body(value))
    }
}

/// Whether reading the body failed because it did not arrive within the
/// listener's body-read timeout.
fn timed_out(rejection: &axum::extract::rejection::BytesRejection) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(rejection);
    while let Some(err) = cause {
        if err.is::<tower_http::timeout::TimeoutError>() {
            return true;
        }
        cause = err.source();
    }
    false
}

/// `Content-Type: application/json`, or a `+json` type, parameters allowed.
fn json_content_type(headers: &axum::http::HeaderMap) -> bool {
    let Some(value) = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence
        .strip_prefix("application/")
        .is_some_and(|subtype| subtype == "json" || subtype.ends_with("+json"))
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
