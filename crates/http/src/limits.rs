//! Rate limits (`governor`): per client IP and per signed-in fan, for each
//! class of route, and a hard limit on failed admin and sign-in attempts.
//!
//! - A route group is tagged with its [`RouteClass`] by [`limit_by_ip`],
//!   which also finds the client's address and checks the per-IP limit.
//! - The fan extractors check the per-fan limit of the request's class
//!   once they know who is calling.
//! - Failed admin keys, admin tokens and refused sign-ins spend a small
//!   per-IP budget; an address that spent it gets 429 on the admin and
//!   sign-in routes, key or no key, until the budget refills.
//!
//! Limits are kept in each instance's memory: behind a load balancer that
//! spreads requests over N instances, a client may get up to N times a
//! limit. The client's address is the peer's, unless the peer is a trusted
//! proxy: then the nearest address in `X-Forwarded-For` that is not a
//! trusted proxy. Exempt networks (loopback by default) skip the per-IP
//! limits, never the failure budget.

use crate::ErrorCode;
use crate::error::ApiError;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use boxoffice_core::domain::UserId;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use ipnet::IpNet;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The kinds of route that are limited apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RouteClass {
    /// `POST /queue/tokens`, `POST /queue/challenges`.
    TokenIssue,
    /// `GET /queue/tokens/current`.
    Poll,
    /// Dates, seats, holds.
    Booking,
    /// Payments, balance, charges, reservations.
    Money,
    Admin,
    /// `POST /dev/sessions`.
    SignIn,
}

impl RouteClass {
    pub const ALL: [RouteClass; 6] = [
        RouteClass::TokenIssue,
        RouteClass::Poll,
        RouteClass::Booking,
        RouteClass::Money,
        RouteClass::Admin,
        RouteClass::SignIn,
    ];

    fn index(self) -> usize {
        self as usize
    }

    /// The class's name in metrics and settings.
    pub fn label(self) -> &'static str {
        match self {
            RouteClass::TokenIssue => "token_issue",
            RouteClass::Poll => "poll",
            RouteClass::Booking => "booking",
            RouteClass::Money => "money",
            RouteClass::Admin => "admin",
            RouteClass::SignIn => "sign_in",
        }
    }

    /// Whether failed attempts on this class spend the failure budget.
    fn guards_credentials(self) -> bool {
        matches!(self, RouteClass::Admin | RouteClass::SignIn)
    }
}

/// A sustained rate and the burst allowed above it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub per_second: f64,
    pub burst: u32,
}

impl Rate {
    fn quota(self) -> Option<Quota> {
        let burst = NonZeroU32::new(self.burst)?;
        if !(self.per_second.is_finite() && self.per_second > 0.0) {
            return None;
        }
        Some(Quota::with_period(Duration::from_secs_f64(1.0 / self.per_second))?.allow_burst(burst))
    }
}

/// The limits of one class; `None`: not limited that way.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ClassLimits {
    pub per_user: Option<Rate>,
    pub per_ip: Option<Rate>,
}

/// Everything the limiter is told (`[rate_limit]`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LimitSettings {
    pub enabled: bool,
    /// In [`RouteClass::ALL`] order.
    pub classes: [ClassLimits; 6],
    /// Failed admin and sign-in attempts per IP.
    pub failures: Option<Rate>,
    pub trusted_proxies: Vec<IpNet>,
    pub exempt: Vec<IpNet>,
    /// Requests of each class served at once by this instance, in
    /// [`RouteClass::ALL`] order; 0: no budget. Past it a request is shed:
    /// answered 503 at once, whether or not rate limits are enabled.
    pub in_flight: [u32; 6],
}

/// The limiters of one class.
struct ClassLimiters {
    per_user: Option<DefaultKeyedRateLimiter<i64>>,
    per_ip: Option<DefaultKeyedRateLimiter<IpAddr>>,
}

pub struct Limits {
    enabled: bool,
    classes: Vec<ClassLimiters>,
    failures: Option<DefaultKeyedRateLimiter<IpAddr>>,
    /// Addresses that spent their failure budget, and until when.
    blocked: Mutex<HashMap<IpAddr, Instant>>,
    trusted_proxies: Vec<IpNet>,
    exempt: Vec<IpNet>,
    clock: DefaultClock,
    /// Each class's budget of requests in flight, if it has one.
    in_flight: Vec<Option<Arc<Semaphore>>>,
}

impl std::fmt::Debug for Limits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limits")
            .field("enabled", &self.enabled)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("exempt", &self.exempt)
            .finish_non_exhaustive()
    }
}

/// The client's address, as [`limit_by_ip`] found it.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub Option<IpAddr>);

fn too_many(wait: Duration, what: &str) -> ApiError {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    ApiError::new(
        ErrorCode::RATE_LIMITED,
        format!("too many {what}; retry in {} s", secs.max(1)),
    )
    .with_header("retry-after", secs.max(1).to_string())
}

impl Limits {
    pub fn new(settings: &LimitSettings) -> Self {
        let classes = settings
            .classes
            .iter()
            .map(|c| ClassLimiters {
                per_user: c.per_user.and_then(Rate::quota).map(RateLimiter::keyed),
                per_ip: c.per_ip.and_then(Rate::quota).map(RateLimiter::keyed),
            })
            .collect();
        Self {
            enabled: settings.enabled,
            classes,
            failures: settings
                .failures
                .and_then(Rate::quota)
                .map(RateLimiter::keyed),
            blocked: Mutex::default(),
            trusted_proxies: settings.trusted_proxies.clone(),
            exempt: settings.exempt.clone(),
            clock: DefaultClock::default(),
            in_flight: settings
                .in_flight
                .iter()
                .map(|&budget| (budget > 0).then(|| Arc::new(Semaphore::new(budget as usize))))
                .collect(),
        }
    }

    /// A place among `class`'s requests in flight, held until the handler
    /// answers; `Err` (503 with `Retry-After`) when the budget is spent.
    /// Shedding early keeps the dependencies' queues short, so the
    /// requests that are served stay inside their timeouts.
    fn enter(&self, class: RouteClass) -> Result<Option<OwnedSemaphorePermit>, ApiError> {
        let Some(budget) = &self.in_flight[class.index()] else {
            return Ok(None);
        };
        match budget.clone().try_acquire_owned() {
            Ok(permit) => Ok(Some(permit)),
            Err(_) => {
                metrics::counter!("boxoffice_http_shed_total", "class" => class.label())
                    .increment(1);
                Err(ApiError::new(
                    ErrorCode::SERVICE_UNAVAILABLE,
                    "too busy to take this request now; retry in 1 s",
                )
                .with_header("retry-after", "1"))
            }
        }
    }

    /// No limits at all.
    pub fn off() -> Self {
        Self::new(&LimitSettings::default())
    }

    fn exempt(&self, ip: IpAddr) -> bool {
        self.exempt.iter().any(|net| net.contains(&ip))
    }

    fn trusted(&self, ip: IpAddr) -> bool {
        self.trusted_proxies.iter().any(|net| net.contains(&ip))
    }

    /// The client's address: the peer, or, behind trusted proxies, the
    /// nearest `X-Forwarded-For` entry that is not one of them.
    pub fn client_ip(&self, peer: Option<IpAddr>, forwarded: &[&str]) -> Option<IpAddr> {
        let peer = peer?;
        if !self.trusted(peer) {
            return Some(peer);
        }
        // From the nearest hop outwards: the first address that is not a
        // trusted proxy is the client. An entry that is not an address ends
        // the walk at the last hop known, so that a client cannot hide
        // behind an entry the walk would skip.
        let mut nearest = peer;
        for entry in forwarded.iter().flat_map(|h| h.split(',')).rev() {
            let Some(hop) = hop_address(entry) else {
                return Some(nearest);
            };
            if !self.trusted(hop) {
                return Some(hop);
            }
            nearest = hop;
        }
        Some(nearest)
    }

    /// Spends one request of `key`'s budget; `Err` with the wait when none is left.
    fn check<K: Clone + Eq + std::hash::Hash>(
        &self,
        limiter: Option<&DefaultKeyedRateLimiter<K>>,
        key: &K,
    ) -> Result<(), Duration> {
        match limiter.map(|l| l.check_key(key)) {
            Some(Err(not_until)) => Err(not_until.wait_time_from(self.clock.now())),
            _ => Ok(()),
        }
    }

    /// The per-IP limit of `class`, and the failure block on credential routes.
    fn admit_ip(&self, class: RouteClass, ip: IpAddr) -> Result<(), ApiError> {
        if !self.enabled {
            return Ok(());
        }
        if class.guards_credentials()
            && let Some(wait) = self.blocked_for(ip)
        {
            return Err(too_many(wait, "failed attempts from your address"));
        }
        if self.exempt(ip) {
            return Ok(());
        }
        self.check(self.classes[class.index()].per_ip.as_ref(), &ip)
            .map_err(|wait| too_many(wait, "requests from your address"))
    }

    /// The per-fan limit of `class`.
    pub fn admit_user(&self, class: RouteClass, user: UserId) -> Result<(), ApiError> {
        if !self.enabled {
            return Ok(());
        }
        self.check(self.classes[class.index()].per_user.as_ref(), &user.get())
            .map_err(|wait| too_many(wait, "requests"))
    }

    fn blocked_for(&self, ip: IpAddr) -> Option<Duration> {
        let blocked = self
            .blocked
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let until = *blocked.get(&ip)?;
        until.checked_duration_since(Instant::now())
    }

    /// Spends one of `ip`'s failed attempts; past the budget, the address
    /// is blocked from the credential routes until the budget refills.
    pub fn record_failure(&self, ip: Option<IpAddr>) {
        let (true, Some(ip)) = (self.enabled, ip) else {
            return;
        };
        if let Err(wait) = self.check(self.failures.as_ref(), &ip) {
            let mut blocked = self
                .blocked
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            blocked.insert(ip, Instant::now() + wait);
            tracing::warn!(client = %ip, "too many failed admin or sign-in attempts; address blocked for a while");
        }
    }

    /// Drops the state of keys that are back to a full budget, so memory
    /// follows recent clients only. Run it every minute or so.
    pub fn housekeep(&self) {
        for class in &self.classes {
            if let Some(l) = &class.per_user {
                l.retain_recent();
                l.shrink_to_fit();
            }
            if let Some(l) = &class.per_ip {
                l.retain_recent();
                l.shrink_to_fit();
            }
        }
        if let Some(l) = &self.failures {
            l.retain_recent();
        }
        let now = Instant::now();
        self.blocked
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .retain(|_, until| *until > now);
    }
}

/// An `X-Forwarded-For` entry's address: `203.0.113.7`, `2001:db8::1`, and
/// with a port `203.0.113.7:4711` or `[2001:db8::1]:4711`.
fn hop_address(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    entry
        .parse()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|s| s.ip()))
}

/// Tags the request with its class and client address, and applies the
/// per-IP limit (and the failure block) before anything else runs.
pub async fn limit_by_ip(
    State((limits, class)): State<(Arc<Limits>, RouteClass)>,
    mut req: Request,
    next: Next,
) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let forwarded: Vec<&str> = req
        .headers()
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let ip = limits.client_ip(peer, &forwarded);
    if let Some(ip) = ip
        && let Err(refused) = limits.admit_ip(class, ip)
    {
        return refused.into_response();
    }
    let _place = match limits.enter(class) {
        Ok(place) => place,
        Err(shed) => return shed.into_response(),
    };
    req.extensions_mut().insert(ClientIp(ip));
    req.extensions_mut().insert(class);
    next.run(req).await
}

/// The class and address [`limit_by_ip`] left on the request.
pub(crate) fn tagged(parts: &Parts) -> (Option<RouteClass>, Option<IpAddr>) {
    (
        parts.extensions.get::<RouteClass>().copied(),
        parts.extensions.get::<ClientIp>().and_then(|c| c.0),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(per_user: Option<Rate>, per_ip: Option<Rate>) -> Limits {
        let mut settings = LimitSettings {
            enabled: true,
            failures: Some(Rate {
                per_second: 1.0 / 60.0,
                burst: 3,
            }),
            trusted_proxies: vec!["10.0.0.0/8".parse().unwrap()],
            exempt: vec!["127.0.0.0/8".parse().unwrap()],
            ..LimitSettings::default()
        };
        settings.classes[RouteClass::Poll.index()] = ClassLimits { per_user, per_ip };
        Limits::new(&settings)
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// A router of two classes whose token-issue route adds a permit to
    /// `entered` when it begins and answers once it takes one of `release`.
    fn shedding_router(
        budget: u32,
        entered: Arc<Semaphore>,
        release: Arc<Semaphore>,
    ) -> axum::Router {
        use axum::routing::get;
        let mut settings = LimitSettings::default();
        settings.in_flight[RouteClass::TokenIssue.index()] = budget;
        let limits = Arc::new(Limits::new(&settings));
        let slow = move || {
            let (entered, release) = (entered.clone(), release.clone());
            async move {
                entered.add_permits(1);
                release.acquire().await.unwrap().forget();
                "issued"
            }
        };
        let layer =
            |class| axum::middleware::from_fn_with_state((limits.clone(), class), limit_by_ip);
        axum::Router::new()
            .merge(
                axum::Router::new()
                    .route("/issue", get(slow))
                    .route_layer(layer(RouteClass::TokenIssue)),
            )
            .merge(
                axum::Router::new()
                    .route("/hold", get(|| async { "held" }))
                    .route_layer(layer(RouteClass::Booking)),
            )
    }

    async fn call(router: &axum::Router, path: &str) -> axum::response::Response {
        use tower::ServiceExt;
        let request = axum::http::Request::get(path)
            .body(axum::body::Body::empty())
            .unwrap();
        router.clone().oneshot(request).await.unwrap()
    }

    #[tokio::test]
    async fn past_its_budget_in_flight_a_token_issue_is_shed_with_retry_after_and_holds_are_not() {
        let entered = Arc::new(Semaphore::new(0));
        let release = Arc::new(Semaphore::new(0));
        let router = shedding_router(2, entered.clone(), release.clone());
        // Two issues take the budget and wait inside the handler.
        let waiting: Vec<_> = (0..2)
            .map(|_| {
                let router = router.clone();
                tokio::spawn(async move { call(&router, "/issue").await.status() })
            })
            .collect();
        entered.acquire_many(2).await.unwrap().forget();
        // A third is answered at once, 503 in the envelope, without waiting.
        let shed = tokio::time::timeout(Duration::from_secs(5), call(&router, "/issue"))
            .await
            .expect("a shed request is answered at once");
        assert_eq!(shed.status().as_u16(), 503);
        assert_eq!(shed.headers()["retry-after"], "1");
        let body = axum::body::to_bytes(shed.into_body(), 4096).await.unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["code"], "SERVICE_UNAVAILABLE", "{body}");
        // A hold, of a class with no budget, is served meanwhile.
        assert_eq!(call(&router, "/hold").await.status().as_u16(), 200);
        // Once the two answer, the budget is back: the next issue is served.
        release.add_permits(2);
        for w in waiting {
            assert_eq!(w.await.unwrap().as_u16(), 200);
        }
        release.add_permits(1);
        assert_eq!(call(&router, "/issue").await.status().as_u16(), 200);
    }

    #[test]
    fn a_burst_past_the_limit_is_refused_with_retry_after_and_others_are_unaffected() {
        let l = limits(
            Some(Rate {
                per_second: 1.0,
                burst: 3,
            }),
            None,
        );
        let (me, you) = (UserId::new(1).unwrap(), UserId::new(2).unwrap());
        for _ in 0..3 {
            l.admit_user(RouteClass::Poll, me).unwrap();
        }
        let refused = l.admit_user(RouteClass::Poll, me).unwrap_err();
        assert_eq!(
            (refused.status().as_u16(), refused.code.as_str()),
            (429, "RATE_LIMITED")
        );
        assert!(
            refused
                .headers
                .iter()
                .any(|(k, v)| *k == "retry-after" && v == "1")
        );
        l.admit_user(RouteClass::Poll, you).unwrap();
        // Another class has its own budget (here: none set, so unlimited).
        l.admit_user(RouteClass::Booking, me).unwrap();
    }

    #[test]
    fn exempt_addresses_skip_ip_limits_but_not_the_failure_block() {
        let l = limits(
            None,
            Some(Rate {
                per_second: 1.0,
                burst: 1,
            }),
        );
        l.admit_ip(RouteClass::Poll, ip("203.0.113.9")).unwrap();
        assert!(l.admit_ip(RouteClass::Poll, ip("203.0.113.9")).is_err());
        for _ in 0..10 {
            l.admit_ip(RouteClass::Poll, ip("127.0.0.1")).unwrap();
        }
        for _ in 0..4 {
            l.record_failure(Some(ip("127.0.0.1")));
        }
        let blocked = l.admit_ip(RouteClass::Admin, ip("127.0.0.1")).unwrap_err();
        assert_eq!(blocked.status().as_u16(), 429);
        // Fan routes are not blocked by failures.
        l.admit_ip(RouteClass::Poll, ip("127.0.0.1")).unwrap();
        l.admit_ip(RouteClass::Admin, ip("198.51.100.1")).unwrap();
    }

    #[test]
    fn forwarded_addresses_count_only_behind_trusted_proxies() {
        let l = limits(None, None);
        let xff = ["198.51.100.7, 10.1.1.1"];
        assert_eq!(
            l.client_ip(Some(ip("10.2.2.2")), &xff),
            Some(ip("198.51.100.7"))
        );
        // A client that is not a proxy cannot choose its address.
        assert_eq!(
            l.client_ip(Some(ip("203.0.113.5")), &xff),
            Some(ip("203.0.113.5"))
        );
        // A forged entry left of the real client is ignored.
        let forged = ["6.6.6.6, 198.51.100.7"];
        assert_eq!(
            l.client_ip(Some(ip("10.2.2.2")), &forged),
            Some(ip("198.51.100.7"))
        );
        assert_eq!(l.client_ip(Some(ip("10.2.2.2")), &[]), Some(ip("10.2.2.2")));
        // Ports are allowed; an entry that is no address ends the walk.
        let ported = ["198.51.100.7:4711, [2001:db8::1]:80, 10.1.1.1:9000"];
        assert_eq!(
            l.client_ip(Some(ip("10.2.2.2")), &ported),
            Some(ip("2001:db8::1"))
        );
        let garbled = ["6.6.6.6, unknown, 10.1.1.1"];
        assert_eq!(
            l.client_ip(Some(ip("10.2.2.2")), &garbled),
            Some(ip("10.1.1.1"))
        );
        assert_eq!(l.client_ip(None, &xff), None);
    }
}
