//! The development sign-in: an access token for any user id, with no
//! password. On by default only in the embedded mode (`auth.dev_sign_in`);
//! every start with it on logs a warning. Refusals spend the caller's
//! failure budget, like a wrong admin key.

use crate::ApiState;
use crate::ErrorCode;
use crate::envelope::{Envelope, ErrorBody, created};
use crate::error::ApiError;
use crate::extract::Body;
use crate::limits::ClientIp;
use crate::wire::instant;
use axum::Extension;
use axum::extract::State;
use axum::response::Response;
use boxoffice_core::domain::{Timestamp, UserId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct SignInBody {
    /// The fan to sign in as: a positive integer below 2^52.
    #[schema(minimum = 1, maximum = 4_503_599_627_370_495_i64)]
    user_id: i64,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SessionResponse {
    /// Send as `Authorization: Bearer <accessToken>`.
    access_token: String,
    /// Always `Bearer`.
    token_type: &'static str,
    expires_at: String,
}

/// Sign in as any fan, for development (off unless `auth.dev_sign_in` is).
#[utoipa::path(post, path = "/api/v1/dev/sessions", tag = "dev",
    request_body = SignInBody,
    responses((status = 201, body = Envelope<SessionResponse>),
        (status = 400, body = ErrorBody),
        (status = 403, description = "DEV_SIGN_IN_DISABLED", body = ErrorBody),
        (status = 429, body = ErrorBody)))]
pub(crate) async fn sign_in(
    State(state): State<ApiState>,
    ip: Option<Extension<ClientIp>>,
    body: Result<Body<SignInBody>, ApiError>,
) -> Result<Response, ApiError> {
    let failed = |err: ApiError| {
        state
            .limits
            .record_failure(ip.as_ref().and_then(|Extension(c)| c.0));
        err
    };
    let Some(signer) = &state.auth.dev else {
        return Err(failed(ApiError::new(
            ErrorCode::DEV_SIGN_IN_DISABLED,
            "the development sign-in is off: sign in with your identity provider",
        )));
    };
    let Body(body) = body.map_err(failed)?;
    let user = UserId::new(body.user_id)
        .ok()
        .filter(|u| u.get() < boxoffice_core::domain::identity::FIRST_MAPPED_USER_ID)
        .ok_or_else(|| {
            failed(ApiError::validation(
                "userId must be a positive integer below 2^52",
            ))
        })?;
    let now = state.app.adapters().clock.now();
    let signed = signer.sign(&user.to_string(), now.as_millis())?;
    Ok(created(SessionResponse {
        access_token: signed.token,
        token_type: "Bearer",
        expires_at: instant(Timestamp::from_millis(signed.expires_at_ms)),
    }))
}
