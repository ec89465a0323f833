//! Who is calling: the extractors every fan and admin route starts from.
//!
//! - [`Fan`]: the signed-in fan. In `jwt` mode, the `sub` of the
//!   `Authorization: Bearer` token, mapped to a user id; in
//!   `trusted_header` mode, the `Client-Id` the gateway set.
//! - [`Owner`]: the fan of a payment or a release, who must own the hold;
//!   no queue credential is needed.
//! - [`Booker`]: the fan and the queue credential (`Queue-Token`: ticket
//!   or pass) of a booking call. Only in `trusted_header` mode, and only
//!   when no `Client-Id` came, does the credential's own fan stand in for
//!   the caller, as every call worked before identities were verified.
//! - [`Admin`]: the `X-Admin-Key` (compared in constant time) or a bearer
//!   token whose admin claim grants the role.
//!
//! Refusals answer 401 with `WWW-Authenticate: Bearer` (RFC 6750) and an
//! envelope code: `AUTH_REQUIRED`, `AUTH_INVALID`, `AUTH_EXPIRED`.

use crate::ApiState;
use crate::ErrorCode;
use crate::error::ApiError;
use crate::limits::tagged;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use boxoffice_auth::dev::DevSigner;
use boxoffice_auth::{Access, AccessRefused, AccessVerifier, QueueSeal};
use boxoffice_core::domain::UserId;
use boxoffice_core::domain::access::{QueueCredential, Ticket};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use subtle::ConstantTimeEq;

pub const CLIENT_ID: &str = "Client-Id";
pub const QUEUE_TOKEN: &str = "Queue-Token";
pub const ADMIN_KEY: &str = "X-Admin-Key";

/// How fans are identified (`auth.mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    /// A verified bearer token on every fan call.
    Jwt,
    /// `Client-Id`, set by an authenticating gateway in front.
    TrustedHeader,
}

/// Everything identity needs.
#[derive(Debug)]
pub struct Auth {
    pub mode: AuthMode,
    /// Verifies bearer tokens: fans' in `jwt` mode, admins' in either mode
    /// when keys are configured.
    pub verifier: Option<AccessVerifier>,
    /// Signs and opens queue tickets, passes and challenges.
    pub seal: QueueSeal,
    /// The development sign-in, when it is on.
    pub dev: Option<DevSigner>,
    /// The `X-Admin-Key`; `None` when no key is configured.
    pub admin_key: Option<Arc<str>>,
    /// Whether a bearer token can make its holder an admin.
    pub admin_by_token: bool,
}

impl Auth {
    pub fn admin_enabled(&self) -> bool {
        self.admin_key.is_some() || self.admin_by_token
    }
}

/// The one value of a header; two of them is an error (a client must not
/// slip its own identity past a gateway that appends one).
pub(crate) fn single_header<'a>(parts: &'a Parts, name: &str) -> Result<Option<&'a str>, ApiError> {
    let mut values = parts.headers.get_all(name).iter();
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(ApiError::new(
            ErrorCode::DUPLICATE_HEADER,
            format!("send the {name} header once"),
        ));
    }
    Ok(Some(first.to_str().unwrap_or("\u{fffd}")))
}

fn bearer_challenge(err: ApiError, error: Option<(&str, &str)>) -> ApiError {
    let value = match error {
        None => "Bearer realm=\"boxoffice\"".to_owned(),
        Some((code, description)) => format!(
            "Bearer realm=\"boxoffice\", error=\"{code}\", error_description=\"{description}\""
        ),
    };
    err.with_header("www-authenticate", value)
}

fn auth_required() -> ApiError {
    bearer_challenge(
        ApiError::new(
            ErrorCode::AUTH_REQUIRED,
            "sign in: send Authorization: Bearer <access token>",
        ),
        None,
    )
}

/// The bearer token of the request, if any.
fn bearer(parts: &Parts) -> Result<Option<&str>, ApiError> {
    let Some(value) = single_header(parts, "authorization")? else {
        return Ok(None);
    };
    let (scheme, token) = value.trim().split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(refused_token(&AccessRefused::Invalid(
            "the Authorization header is not Bearer <token>",
        )));
    }
    Ok(Some(token.trim()))
}

fn refused_token(refused: &AccessRefused) -> ApiError {
    match refused {
        AccessRefused::Invalid(why) => bearer_challenge(
            ApiError::new(
                ErrorCode::AUTH_INVALID,
                format!("invalid access token: {why}"),
            ),
            Some(("invalid_token", why)),
        ),
        AccessRefused::Expired => bearer_challenge(
            ApiError::new(
                ErrorCode::AUTH_EXPIRED,
                "the access token has expired; sign in again",
            ),
            Some(("invalid_token", "the access token expired")),
        ),
        AccessRefused::KeysUnavailable => ApiError::unexpected(
            boxoffice_core::ports::Unavailable(
                "the identity provider's keys are not loaded yet".into(),
            )
            .into(),
        ),
    }
}

/// Verifies the request's bearer token, if it has one.
async fn verified(parts: &Parts, state: &ApiState) -> Result<Option<Access>, ApiError> {
    let Some(token) = bearer(parts)? else {
        return Ok(None);
    };
    let Some(verifier) = &state.auth.verifier else {
        return Err(refused_token(&AccessRefused::Invalid(
            "this service takes no bearer tokens",
        )));
    };
    let now = state.app.adapters().clock.now().as_millis();
    verifier
        .verify(token, now)
        .await
        .map(Some)
        .map_err(|e| refused_token(&e))
}

/// The signed-in fan, if the request names one; `Err` for a bad identity.
async fn identify(parts: &Parts, state: &ApiState) -> Result<Option<UserId>, ApiError> {
    match state.auth.mode {
        AuthMode::Jwt => match verified(parts, state).await? {
            Some(access) => Ok(Some(state.app.identify_fan(&access.subject).await?)),
            None => Ok(None),
        },
        AuthMode::TrustedHeader => {
            let Some(raw) = single_header(parts, CLIENT_ID)? else {
                return Ok(None);
            };
            raw.trim()
                .parse::<i64>()
                .ok()
                .and_then(|n| UserId::new(n).ok())
                .map(Some)
                .ok_or_else(|| {
                    ApiError::new(
                        ErrorCode::INVALID_CLIENT_ID,
                        "Client-Id must be a positive integer",
                    )
                })
        }
    }
}

fn missing_identity(mode: AuthMode) -> ApiError {
    match mode {
        AuthMode::Jwt => auth_required(),
        AuthMode::TrustedHeader => ApiError::new(
            ErrorCode::CLIENT_ID_REQUIRED,
            "the Client-Id header is required",
        ),
    }
}

/// Names the fan in the request's log lines, then checks the fan's rate limit.
fn limit_user(parts: &Parts, state: &ApiState, user: UserId) -> Result<(), ApiError> {
    tracing::Span::current().record("user_id", user.get());
    match tagged(parts).0 {
        Some(class) => state.limits.admit_user(class, user),
        None => Ok(()),
    }
}

/// The signed-in fan.
#[derive(Debug, Clone, Copy)]
pub struct Fan(pub UserId);

impl FromRequestParts<ApiState> for Fan {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        let user = identify(parts, state)
            .await?
            .ok_or_else(|| missing_identity(state.auth.mode))?;
        limit_user(parts, state, user)?;
        Ok(Fan(user))
    }
}

fn queue_credential(parts: &Parts, state: &ApiState) -> Result<QueueCredential, ApiError> {
    let raw = single_header(parts, QUEUE_TOKEN)?.ok_or_else(|| {
        ApiError::new(
            ErrorCode::QUEUE_TOKEN_REQUIRED,
            "the Queue-Token header is required",
        )
    })?;
    state
        .auth
        .seal
        .open(raw.trim())
        .ok_or_else(|| ApiError::new(ErrorCode::QUEUE_TOKEN_INVALID, "unknown queue token"))
}

/// The fan of a call about their own holds and money (payments,
/// releases). In `trusted_header` mode a call without `Client-Id` but with
/// a queue credential acts as the credential's fan, as those calls did
/// before identities were verified.
#[derive(Debug, Clone, Copy)]
pub struct Owner(pub UserId);

impl FromRequestParts<ApiState> for Owner {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        if let Some(user) = identify(parts, state).await? {
            limit_user(parts, state, user)?;
            return Ok(Owner(user));
        }
        if state.auth.mode == AuthMode::TrustedHeader
            && single_header(parts, QUEUE_TOKEN)?.is_some()
        {
            // No Client-Id: the fan an ACTIVE ticket or pass names, as
            // these calls were made before (then too, the token had to be).
            let credential = queue_credential(parts, state)?;
            state.app.check_credential(&credential).await??;
            let user = credential.user();
            limit_user(parts, state, user)?;
            return Ok(Owner(user));
        }
        Err(missing_identity(state.auth.mode))
    }
}

/// A booking call's fan and queue credential (ticket or pass).
#[derive(Debug, Clone, Copy)]
pub struct Booker {
    pub user: UserId,
    pub credential: QueueCredential,
}

impl FromRequestParts<ApiState> for Booker {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        // Identity first: a caller who is not signed in learns nothing about the credential.
        let fan = identify(parts, state).await?;
        if state.auth.mode == AuthMode::Jwt && fan.is_none() {
            return Err(auth_required());
        }
        let credential = queue_credential(parts, state)?;
        let user = fan.unwrap_or(credential.user());
        limit_user(parts, state, user)?;
        Ok(Booker { user, credential })
    }
}

/// A poll's fan and ticket.
#[derive(Clone)]
pub struct TicketHolder {
    pub user: UserId,
    pub ticket: Ticket,
    /// The ticket as presented: the answer repeats it rather than sign it again.
    pub text: String,
}

/// Redacted: the text is a credential.
impl std::fmt::Debug for TicketHolder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TicketHolder")
            .field("user", &self.user)
            .field("ticket", &self.ticket)
            .finish_non_exhaustive()
    }
}

impl FromRequestParts<ApiState> for TicketHolder {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        let Booker { user, credential } = Booker::from_request_parts(parts, state).await?;
        match credential {
            QueueCredential::Ticket(ticket) => Ok(TicketHolder {
                user,
                ticket,
                text: single_header(parts, QUEUE_TOKEN)?
                    .unwrap_or_default()
                    .trim()
                    .to_owned(),
            }),
            QueueCredential::Pass(_) => Err(ApiError::new(
                ErrorCode::QUEUE_TOKEN_INVALID,
                "poll with your queue ticket (the token field), not the admission pass",
            )),
        }
    }
}

/// Compares digests of equal length in constant time, so that the time
/// taken tells neither where the key differs nor how long it is.
fn same_secret(given: &str, expected: &str) -> bool {
    let digest = |s: &str| Sha256::digest(s.as_bytes());
    bool::from(digest(given).ct_eq(&digest(expected)))
}

/// Proof that the request is an admin's. Extracted before the body, so an
/// unauthenticated caller learns nothing about what the body should be.
#[derive(Debug)]
pub struct Admin;

impl FromRequestParts<ApiState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        if !state.auth.admin_enabled() {
            return Err(ApiError::new(
                ErrorCode::ADMIN_DISABLED,
                "admin endpoints are disabled: set admin.api_key or auth.admin_claim",
            ));
        }
        let ip = tagged(parts).1;
        if let Some(given) = single_header(parts, ADMIN_KEY)? {
            let matches = state
                .auth
                .admin_key
                .as_deref()
                .is_some_and(|expected| same_secret(given, expected));
            if matches {
                return Ok(Admin);
            }
            state.limits.record_failure(ip);
            return Err(ApiError::new(
                ErrorCode::ADMIN_KEY_INVALID,
                "a valid X-Admin-Key header is required",
            ));
        }
        if state.auth.admin_by_token {
            match verified(parts, state).await {
                Ok(Some(access)) if access.admin => return Ok(Admin),
                Ok(Some(_)) => {
                    state.limits.record_failure(ip);
                    return Err(ApiError::new(
                        ErrorCode::ADMIN_ROLE_REQUIRED,
                        "this access token does not grant the admin role",
                    ));
                }
                Ok(None) => {}
                Err(refused) => {
                    // A forged or malformed token is a failed attempt; an
                    // expired one, or keys not loaded yet, is not.
                    if refused.code == ErrorCode::AUTH_INVALID {
                        state.limits.record_failure(ip);
                    }
                    return Err(refused);
                }
            }
        }
        state.limits.record_failure(ip);
        Err(ApiError::new(
            ErrorCode::ADMIN_KEY_INVALID,
            "a valid X-Admin-Key header (or an admin's bearer token) is required",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::same_secret;

    #[test]
    fn secrets_match_only_when_equal() {
        assert!(same_secret("s3cret", "s3cret"));
        assert!(!same_secret("s3cret!", "s3cret"));
        assert!(!same_secret("s3cre", "s3cret"));
        assert!(!same_secret("s3creT", "s3cret"));
        assert!(!same_secret("", "s3cret"));
    }
}
