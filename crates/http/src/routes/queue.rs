//! The waiting room: proof-of-work challenges, queue tickets, and watching them.

use crate::ApiState;
use crate::envelope::{Envelope, ErrorBody, created, ok};
use crate::error::{ApiError, pow_refused};
use crate::extract::Body;
use crate::identity::{Fan, TicketHolder};
use crate::wire::instant;
use axum::extract::State;
use axum::http::header::RETRY_AFTER;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use boxoffice_auth::QueueSeal;
use boxoffice_core::domain::ConcertId;
use boxoffice_core::domain::access::{self, AdmissionPass, Challenge, PowAnswer, Ticket};
use boxoffice_core::domain::queue_token::TokenState;
use boxoffice_core::use_cases::{IssueTokenError, TokenView};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use utoipa::ToSchema;

/// The longest nonce looked at: any solution fits in far fewer characters.
const MAX_NONCE_LEN: usize = 64;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct IssueTokenBody {
    #[schema(minimum = 1)]
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
    #[schema(min_length = 1, max_length = 64)]
    nonce: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct ChallengeRequest {
    #[schema(minimum = 1)]
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
    /// `PRE_QUEUE` (before a scheduled opening), `WAITING`, `ACTIVE` or
    /// `EXPIRED`; for a fan still waiting, `PAUSED`, `SOLD_OUT` or
    /// `CLOSED` when the room says so.
    status: &'static str,
    /// 1-based place in line, for WAITING tokens (kept while PAUSED or SOLD_OUT).
    position: Option<u64>,
    /// Estimated seconds until admission, for WAITING tokens in a line that moves.
    eta_seconds: Option<u64>,
    /// The estimate's range, in seconds.
    eta_range: Option<EtaRange>,
    /// The instant the estimate expects admission (`etaSeconds` counts
    /// from the answer; this does not age in transit).
    expected_admission_at: Option<String>,
    /// When to check again (also the `Retry-After` header): 1-2 s near the
    /// front, up to 30 s far back. Absent once ACTIVE or EXPIRED.
    poll_after_secs: Option<u64>,
    /// PRE_QUEUE: when the sale opens and the pre-queue is drawn into line.
    sale_opens_at: Option<String>,
    /// Your entry's public id in the pre-queue draw (see
    /// `GET /api/v1/concerts/{id}/lottery`).
    lottery_entry_id: Option<String>,
    /// WAITING: when the token is abandoned unless polled again;
    /// ACTIVE: when admission ends; EXPIRED: when it ended.
    expires_at: String,
    /// ACTIVE only: the admission pass, a signed JWT to send as
    /// `Queue-Token` to browse and hold. Checked without asking the waiting
    /// room, so browsing with it is cheaper than with the ticket.
    admission_pass: Option<String>,
    admission_pass_expires_at: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EtaRange {
    low: u64,
    high: u64,
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
        epoch: t.epoch,
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
        TokenState::PreQueue { abandoned_at } => (None, abandoned_at, None),
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
        status: view.status(),
        position,
        eta_seconds: view.eta_secs(),
        eta_range: view.eta.map(|e| EtaRange {
            low: e.low,
            high: e.high,
        }),
        expected_admission_at: view.eta.map(|e| instant(e.at)),
        poll_after_secs: view.poll_after_secs,
        sale_opens_at: view.opens_at.map(instant),
        lottery_entry_id: view.lottery_entry.clone(),
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
    Ok(with_retry_after(
        created(token_response(seal, &view, None)),
        &view,
    ))
}

/// Tells the fan when to check again.
fn with_retry_after(mut response: Response, view: &TokenView) -> Response {
    if let Some(secs) = view.poll_after_secs
        && let Ok(value) = HeaderValue::from_str(&secs.to_string())
    {
        response.headers_mut().insert(RETRY_AFTER, value);
    }
    response
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
    Ok(with_retry_after(
        ok(token_response(
            &state.auth.seal,
            &view,
            Some((&ticket, &text)),
        )),
        &view,
    ))
}

/// Leave the line (or give up an admission): the token ends at once and
/// its slot goes to the next fan. 204 also when it had ended already.
#[utoipa::path(delete, path = "/api/v1/queue/tokens/current", tag = "queue",
    params(("Queue-Token" = String, Header, description = "The queue ticket (the `token` field)"),
        ("Authorization" = String, Header, description = "Bearer <access token> (jwt mode)")),
    responses(
        (status = 204, description = "The token has ended"),
        (status = 401, body = ErrorBody),
        (status = 403, description = "QUEUE_TOKEN_NOT_YOURS", body = ErrorBody),
        (status = 429, body = ErrorBody),
    ))]
pub(crate) async fn leave(
    State(state): State<ApiState>,
    TicketHolder { user, ticket, .. }: TicketHolder,
) -> Result<Response, ApiError> {
    state.app.leave_line(user, ticket).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// How often an idle stream sends a heartbeat comment.
const HEARTBEAT: Duration = Duration::from_secs(15);

/// What an event id says of the view it carried:
/// `{ms}.{status}.{position}.{expected admission, epoch seconds}`. The
/// expected instant, unlike the seconds left, holds still while the line
/// does, so a waiting fan gets an event when the estimate moves, not every
/// second as it counts down.
fn fingerprint(view: &TokenView) -> String {
    let position = match view.token.state {
        TokenState::Waiting { position, .. } => position.unwrap_or(0),
        _ => 0,
    };
    format!(
        "{}.{}.{}",
        view.status(),
        position,
        view.eta.map_or(0, |e| e.at.as_millis() / 1000)
    )
}

/// Whether a stream ends after showing this view: the waiting is over.
fn final_view(view: &TokenView) -> bool {
    matches!(
        view.token.state,
        TokenState::Active { .. } | TokenState::Expired { .. }
    )
}

/// A stream's progress: the last event id's instant and fingerprint.
struct StreamState {
    views: tokio::sync::watch::Receiver<Option<TokenView>>,
    _watching: crate::stream::Watching,
    last: Option<(i64, String)>,
    first: Option<TokenView>,
    done: bool,
    auth: Arc<crate::identity::Auth>,
    ticket: Ticket,
    text: String,
    clock: Arc<dyn boxoffice_core::ports::Clock>,
}

impl StreamState {
    /// The next event to send, waiting for a change when nothing is new.
    async fn next_event(&mut self) -> Option<Event> {
        loop {
            if self.done {
                return None;
            }
            let view = match self.first.take() {
                Some(view) => view,
                None => {
                    self.views.changed().await.ok()?;
                    self.views.borrow_and_update().clone()?
                }
            };
            let print = fingerprint(&view);
            if self.last.as_ref().is_some_and(|(_, p)| *p == print) {
                continue;
            }
            let ms = self.clock.now().as_millis();
            let id_ms = self.last.as_ref().map_or(ms, |(last, _)| ms.max(last + 1));
            // The last fingerprint starts with the status it showed.
            let same_status = self
                .last
                .as_ref()
                .and_then(|(_, p)| p.split('.').next())
                .is_some_and(|status| status == view.status());
            let kind = if same_status { "position" } else { "status" };
            self.done = final_view(&view);
            let body = token_response(&self.auth.seal, &view, Some((&self.ticket, &self.text)));
            let event = Event::default()
                .event(kind)
                .id(format!("{id_ms}.{print}"))
                .json_data(&body)
                .ok()?;
            self.last = Some((id_ms, print));
            return Some(event);
        }
    }
}

/// Watch your token: Server-Sent Events, pushed as they happen. `status`
/// events when the status changes (WAITING, PAUSED, SOLD_OUT, CLOSED,
/// ACTIVE, EXPIRED), `position` events when the place or the estimate
/// moves; each carries the token as `GET /queue/tokens/current` answers
/// it. Heartbeat comments every 15 s. The stream ends after ACTIVE or
/// EXPIRED. Reconnecting with `Last-Event-ID` sends only what changed since
/// that event (a reconnect after the final event answers 204, which stops
/// `EventSource`). A browser's `EventSource` cannot set headers: give the
/// ticket as `?token=` and, in jwt mode, the access token as
/// `?access_token=`.
#[utoipa::path(get, path = "/api/v1/queue/tokens/current/events", tag = "queue",
    params(("Queue-Token" = Option<String>, Header, description = "The queue ticket (or ?token=)"),
        ("Authorization" = Option<String>, Header, description = "Bearer <access token> (or ?access_token=), jwt mode"),
        ("Last-Event-ID" = Option<String>, Header, description = "The id of the last event received"),
        ("token" = Option<String>, Query, description = "The queue ticket, for EventSource"),
        ("access_token" = Option<String>, Query, description = "The access token, for EventSource")),
    responses(
        (status = 200, description = "text/event-stream of the token's changes", content_type = "text/event-stream"),
        (status = 204, description = "Nothing will change any more"),
        (status = 401, body = ErrorBody),
        (status = 403, description = "QUEUE_TOKEN_NOT_YOURS", body = ErrorBody),
        (status = 429, body = ErrorBody),
    ))]
pub(crate) async fn events(
    State(state): State<ApiState>,
    TicketHolder { user, ticket, text }: TicketHolder,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let view = state.app.poll_token(user, ticket).await?;
    let last = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|id| id.split_once('.'))
        .and_then(|(ms, print)| Some((ms.parse::<i64>().ok()?, print.to_owned())));
    if final_view(&view) && last.as_ref().is_some_and(|(_, p)| *p == fingerprint(&view)) {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let (watching, views) = state.streams.watch(ticket, view.clone());
    let stream_state = StreamState {
        views,
        _watching: watching,
        last,
        first: Some(view),
        done: false,
        auth: state.auth.clone(),
        ticket,
        text,
        clock: state.app.adapters().clock.clone(),
    };
    let stream = futures::stream::unfold(stream_state, |mut s| async move {
        let event = s.next_event().await?;
        Some((Ok::<_, std::convert::Infallible>(event), s))
    });
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(HEARTBEAT).text("heartbeat"))
        .into_response())
}
