//! The one response envelope: `{"code":"SUCCESS","message":...,"data":...}`
//! on success, `{"code":"SEAT_ALREADY_HELD","message":...}` on error.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// A successful answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Envelope<T> {
    /// Always `SUCCESS`.
    #[schema(example = "SUCCESS")]
    pub code: &'static str,
    pub message: &'static str,
    pub data: T,
}

/// An error answer. `code` is stable and listed in docs/API.md.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    #[schema(example = "SEAT_ALREADY_HELD")]
    pub code: &'static str,
    pub message: String,
    /// With `PROOF_OF_WORK_*` only: a fresh challenge to solve (as
    /// `POST /api/v1/queue/challenges` answers it).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub challenge: Option<serde_json::Value>,
    /// The request's `x-request-id`, as in the response header: quote it
    /// to the operator, whose log lines carry it.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "7c1f3c2e-5d7a-4f7e-9b1a-2f6d4c8e9a01")]
    pub request_id: Option<String>,
}

/// Wraps `data` in the envelope with the given status.
pub fn reply<T: Serialize>(status: StatusCode, data: T) -> Response {
    let body = Envelope {
        code: "SUCCESS",
        message: "ok",
        data,
    };
    (status, Json(body)).into_response()
}

pub fn ok<T: Serialize>(data: T) -> Response {
    reply(StatusCode::OK, data)
}

pub fn created<T: Serialize>(data: T) -> Response {
    reply(StatusCode::CREATED, data)
}
