//! The waiting room: proof-of-work challenges, queue tickets, and watching them.

use crate::ApiState;
use crate::envelope::{Envelope, ErrorBody, created, ok};
use crate::error::{ApiError, pow_refused};
use crate::extract::Body;
use crate::identity::{Fan, TicketHolder};
use crate::wire::instant;
use axum::extract::State;
use axum::response::Response;
use boxoffice_auth::QueueSeal;
use boxoffice_core::domain::ConcertId;
use boxoffice_core::domain::access::{self, AdmissionPass, Challenge, PowAnswer, Ticket};
use boxoffice_core::domain::queue_token::TokenState;
use boxoffice_core::use_cases::{IssueTokenError, TokenView};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The longest nonce looked at: any solution fits in far fewer characters.
const MAX_NONCE_LEN: usize = 64;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct IssueTokenBody {
    concert_id: i64,
    /// The solved challenge, when the concert has a bot gate.
    #[serde(default)]
    proof_of_work: Option<ProofOfWorkBody>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct ProofOfWorkBody {
    /// The `challenge` text as it was given.
    challenge: String,
    /// A string such that SHA-256(`challenge` + ":" + `nonce`) starts with
    /// `difficultyBits` zero bits. At most 64 characters.
    nonce: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct ChallengeRequest {
    concert_id: i64,
}

/// A proof-of-work challenge, or word that none is needed.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ChallengeResponse {
    /// Whether this concert's token requests need a solved challenge.
    required: bool,
    /// Signed, bound to you and this concert, good for one token request.
    #[serde(skip_serializing_if = "Option::is_none")]
    challenge: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    difficulty_bits: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_at: Option<String>,
}

impl ChallengeResponse {
    fn of(seal: &QueueSeal, challenge: Option<&Challenge>) -> Self {
        match challenge {
            None => Self {
                required: false,
                challenge: None,
                difficulty_bits: None,
                expires_at: None,
            },
            Some(c) => Self {
                required: true,
                challenge: Some(seal.challenge(c)),
                difficulty_bits: Some(c.bits),
                expires_at: Some(instant(c.expires_at)),
            },
        }
    }
}

/// A queue token as its holder sees it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TokenResponse {
    /// The queue ticket, for the `Queue-Token` header: a signed JWT naming
    /// you, the concert and your arrival. Opaque to clients.
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
    /// ACTIVE only: the admission pass, a signed JWT to send as
    /// `Queue-Token` to browse and hold. Checked without asking the waiting
    /// room, so browsing with it is cheaper than with the ticket.
    admission_pass: Option<String>,
    admission_pass_expires_at: Option<String>,
}

/// The answer for `view`. `presented` is the ticket the request came with,
/// and its text: when it is the view's own, it is repeated, not signed again.
fn token_response(
    seal: &QueueSeal,
    view: &TokenView,
    presented: Option<(&Ticket, &str)>,
) -> TokenResponse {
    let t = &view.token;
    let ticket = Ticket {
        token: t.token,
        user: t.user_id,
        concert: t.concert_id,
        issued_at: t.issued_at,
    };
    let ticket_text = match presented {
        Some((known, text)) if *known == ticket => text.to_owned(),
        _ => seal.ticket(&ticket),
    };
    let (position, expires_at, pass) = match t.state {
        TokenState::Waiting {
            position,
            abandoned_at,
        } => (position, abandoned_at, None),
        TokenState::Active { expires_at } => (
            None,
            expires_at,
            Some(AdmissionPass::for_admission(
                t.token,
                t.user_id,
                t.concert_id,
                expires_at,
            )),
        ),
        TokenState::Expired { expired_at } => (None, expired_at, None),
    };
    TokenResponse {
        token: ticket_text,
        concert_id: t.concert_id.get(),
        status: t.state.status_name(),
        position,
        eta_seconds: view.eta_secs,
        expires_at: instant(expires_at),
        admission_pass: pass.as_ref().map(|p| seal.pass(p)),
        admission_pass_expires_at: pass.map(|p| instant(p.expires_at)),
    }
}

fn concert(id: i64) -> Result<ConcertId, ApiError> {
    ConcertId::new(id).map_err(|e| ApiError::validation(e.to_string()))
}

/// What the request brings for the bot gate, its signature and solution checked.
fn pow_answer(seal: &QueueSeal, body: Option<&ProofOfWorkBody>) -> PowAnswer {
    let Some(body) = body else {
        return PowAnswer::Missing;
    };
    match seal.open_challenge(&body.challenge) {
        Some(c)
            if body.nonce.len() <= MAX_NONCE_LEN
                && access::solves(&body.challenge, &body.nonce, c.bits) =>
        {
            PowAnswer::Solved(c)
        }
        _ => PowAnswer::Wrong,
    }
}

fn with_challenge(err: IssueTokenError, seal: &QueueSeal) -> ApiError {
    match err {
        IssueTokenError::ProofOfWork { refusal, challenge } => {
            let mut refused = pow_refused(refusal);
            refused.challenge =
                serde_json::to_value(ChallengeResponse::of(seal, Some(&challenge))).ok();
            refused
        }
        other => other.into(),
    }
}

/// Enter the waiting room of a concert (or get the token you already hold).
#[utoipa::path(post, path = "/api/v1/queue/tokens", tag = "queue",
    params(("Authorization" = String, Header, description = "Bearer <access token> (jwt mode); or Client-Id (trusted_header mode)")),
    request_body = IssueTokenBody,
    responses(
        (status = 201, description = "The token, WAITING (or the live token already held)", body = Envelope<TokenResponse>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, description = "PROOF_OF_WORK_REQUIRED, PROOF_OF_WORK_EXPIRED, PROOF_OF_WORK_REPLAYED, with a fresh challenge", body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 429, body = ErrorBody),
    ))]
pub(crate) async fn issue(
    State(state): State<ApiState>,
    Fan(user): Fan,
    Body(body): Body<IssueTokenBody>,
) -> Result<Response, ApiError> {
    let seal = &state.auth.seal;
    let pow = pow_answer(seal, body.proof_of_work.as_ref());
    let view = state
        .app
        .issue_token(user, concert(body.concert_id)?, pow)
        .await
        .map_err(|e| with_challenge(e, seal))?;
    Ok(created(token_response(seal, &view, None)))
}

/// A proof-of-work challenge for a concert's bot gate, to solve before
/// asking for a token.
#[utoipa::path(post, path = "/api/v1/queue/challenges", tag = "queue",
    params(("Authorization" = String, Header, description = "Bearer <access token> (jwt mode); or Client-Id (trusted_header mode)")),
    request_body = ChallengeRequest,
    responses(
        (status = 200, body = Envelope<ChallengeResponse>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 429, body = ErrorBody),
    ))]
pub(crate) async fn challenge(
    State(state): State<ApiState>,
    Fan(user): Fan,
    Body(body): Body<ChallengeRequest>,
) -> Result<Response, ApiError> {
    let challenge = state
        .app
        .issue_challenge(user, concert(body.concert_id)?)
        .await?;
    Ok(ok(ChallengeResponse::of(
        &state.auth.seal,
        challenge.as_ref(),
    )))
}

/// The token's status, position and ETA, and its admission pass once
/// ACTIVE. Poll it: a WAITING token that is not polled for
/// `queue.abandon_after_secs` is abandoned.
#[utoipa::path(get, path = "/api/v1/queue/tokens/current", tag = "queue",
    params(("Queue-Token" = String, Header, description = "The queue ticket (the `token` field)"),
        ("Authorization" = String, Header, description = "Bearer <access token> (jwt mode)")),
    responses(
        (status = 200, body = Envelope<TokenResponse>),
        (status = 401, body = ErrorBody),
        (status = 403, description = "QUEUE_TOKEN_NOT_YOURS", body = ErrorBody),
        (status = 429, body = ErrorBody),
    ))]
pub(crate) async fn current(
    State(state): State<ApiState>,
    TicketHolder { user, ticket, text }: TicketHolder,
) -> Result<Response, ApiError> {
    let view = state.app.poll_token(user, ticket).await?;
    Ok(ok(token_response(
        &state.auth.seal,
        &view,
        Some((&ticket, &text)),
    )))
}
