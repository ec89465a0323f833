//! The waiting room: getting a queue token and watching it.

use crate::ApiState;
use crate::envelope::{Envelope, ErrorBody, created, ok};
use crate::error::ApiError;
use crate::extract::{Body, ClientId, QueueToken};
use crate::wire::instant;
use axum::extract::State;
use axum::response::Response;
use boxoffice_core::domain::ConcertId;
use boxoffice_core::domain::queue_token::TokenState;
use boxoffice_core::use_cases::TokenView;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct IssueTokenBody {
    concert_id: i64,
}

/// A queue token as its holder sees it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TokenResponse {
    /// The bearer token for the `Queue-Token` header: 32 hex digits.
    token: String,
    concert_id: i64,
    /// `WAITING`, `ACTIVE` or `EXPIRED`.
    status: &'static str,
    /// 1-based place in line, for WAITING tokens.
    position: Option<u64>,
    /// Estimated seconds until admission, for WAITING tokens.
    eta_seconds: Option<u64>,
    /// WAITING: when the token is abandoned unless polled again;
    /// ACTIVE: when admission ends; EXPIRED: when it ended.
    expires_at: String,
}

impl From<TokenView> for TokenResponse {
    fn from(view: TokenView) -> Self {
        let t = view.token;
        let (position, expires_at) = match t.state {
            TokenState::Waiting {
                position,
                abandoned_at,
            } => (position, abandoned_at),
            TokenState::Active { expires_at } => (None, expires_at),
            TokenState::Expired { expired_at } => (None, expired_at),
        };
        Self {
            token: t.token.to_string(),
            concert_id: t.concert_id.get(),
            status: t.state.status_name(),
            position,
            eta_seconds: view.eta_secs,
            expires_at: instant(expires_at),
        }
    }
}

/// Enter the waiting room of a concert (or get the token you already hold).
#[utoipa::path(post, path = "/api/v1/queue/tokens", tag = "queue",
    params(("Client-Id" = i64, Header, description = "The user, as asserted by the gateway")),
    request_body = IssueTokenBody,
    responses(
        (status = 201, description = "The token, WAITING (or the live token already held)", body = Envelope<TokenResponse>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
    ))]
pub(crate) async fn issue(
    State(state): State<ApiState>,
    ClientId(user): ClientId,
    Body(body): Body<IssueTokenBody>,
) -> Result<Response, ApiError> {
    let concert =
        ConcertId::new(body.concert_id).map_err(|e| ApiError::validation(e.to_string()))?;
    let view = state.app.issue_token(user, concert).await?;
    Ok(created(TokenResponse::from(view)))
}

/// The token's status, position and ETA. Poll it: a WAITING token that is
/// not polled for `queue.abandon_after_secs` is abandoned.
#[utoipa::path(get, path = "/api/v1/queue/tokens/current", tag = "queue",
    params(("Queue-Token" = String, Header, description = "The queue token")),
    responses(
        (status = 200, body = Envelope<TokenResponse>),
        (status = 401, body = ErrorBody),
    ))]
pub(crate) async fn current(
    State(state): State<ApiState>,
    QueueToken(token): QueueToken,
) -> Result<Response, ApiError> {
    let view = state.app.poll_token(token).await?;
    Ok(ok(TokenResponse::from(view)))
}
