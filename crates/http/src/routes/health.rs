//! Liveness and readiness probes for load balancers and orchestrators.

use crate::ApiState;
use crate::ErrorCode;
use crate::envelope::{Envelope, ErrorBody, ok};
use crate::error::ApiError;
use axum::extract::State;
use axum::response::Response;
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Health {
    status: &'static str,
}

/// The process is up.
#[utoipa::path(get, path = "/health/live", tag = "health",
    responses((status = 200, body = Envelope<Health>)))]
pub(crate) async fn live() -> Response {
    ok(Health { status: "UP" })
}

/// The process can serve: its store and its waiting room answer. A 503
/// names the dependencies that do not (the causes go to the log).
#[utoipa::path(get, path = "/health/ready", tag = "health",
    responses((status = 200, body = Envelope<Health>), (status = 503, body = ErrorBody)))]
pub(crate) async fn ready(State(state): State<ApiState>) -> Result<Response, ApiError> {
    let failing = state.app.check_ready().await;
    if failing.is_empty() {
        return Ok(ok(Health { status: "UP" }));
    }
    for (name, cause) in &failing {
        tracing::warn!(dependency = name, cause = format!("{cause:#}"), "not ready");
    }
    let names: Vec<&str> = failing.iter().map(|(name, _)| *name).collect();
    let verb = if names.len() == 1 { "does" } else { "do" };
    Err(ApiError::new(
        ErrorCode::SERVICE_UNAVAILABLE,
        format!(
            "not ready: the {} {verb} not answer",
            names.join(" and the ")
        ),
    ))
}
