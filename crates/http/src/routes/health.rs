//! Liveness and readiness probes for load balancers and orchestrators.

use crate::ApiState;
use crate::envelope::{Envelope, ErrorBody, ok};
use crate::error::ApiError;
use axum::extract::State;
use axum::response::Response;
use boxoffice_core::ports::Unavailable;
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

/// The process can serve: its store and its waiting room answer.
#[utoipa::path(get, path = "/health/ready", tag = "health",
    responses((status = 200, body = Envelope<Health>), (status = 503, body = ErrorBody)))]
pub(crate) async fn ready(State(state): State<ApiState>) -> Result<Response, ApiError> {
    state
        .app
        .check_ready()
        .await
        .map_err(|e| ApiError::unexpected(Unavailable(format!("store: {e:#}")).into()))?;
    Ok(ok(Health { status: "UP" }))
}
