//! Safely retried commands. A client sends an `Idempotency-Key` with a
//! payment or a charge; a repeat with the same key and the same request gets
//! the first answer without acting again, the same key with a different
//! request is refused, and a repeat while the first is running is told so.

use super::{Timestamp, UserId};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A client-chosen key: 1 to 255 visible ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("Idempotency-Key must be 1 to 255 visible ASCII characters")]
pub struct InvalidIdempotencyKey;

impl IdempotencyKey {
    pub fn parse(raw: &str) -> Result<Self, InvalidIdempotencyKey> {
        let ok = !raw.is_empty() && raw.len() <= 255 && raw.bytes().all(|b| b.is_ascii_graphic());
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(InvalidIdempotencyKey)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Which command a key belongs to; keys of different commands never collide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdempotencyScope {
    Payment,
    Charge,
    Cancellation,
}

impl IdempotencyScope {
    pub const fn as_str(self) -> &'static str {
        match self {
            IdempotencyScope::Payment => "payment",
            IdempotencyScope::Charge => "charge",
            IdempotencyScope::Cancellation => "cancellation",
        }
    }
}

/// A digest of the request's meaning (not its bytes), so that the same
/// request written with other whitespace is still the same request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint(String);

impl Fingerprint {
    pub fn of(scope: IdempotencyScope, fields: &[&str]) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(scope.as_str().as_bytes());
        for field in fields {
            hasher.update([0u8]);
            hasher.update(field.as_bytes());
        }
        let digest = hasher.finalize();
        Self(digest.iter().map(|b| format!("{b:02x}")).collect())
    }

    pub fn from_stored(hex: String) -> Self {
        Self(hex)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A request to start an idempotent command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyClaim {
    pub user_id: UserId,
    pub scope: IdempotencyScope,
    pub key: IdempotencyKey,
    pub fingerprint: Fingerprint,
    pub now: Timestamp,
    /// Until when this claim is exclusive. A claim left unfinished past this
    /// instant (its process died) may be taken over by a repeat.
    pub lease_until: Timestamp,
}

/// The right to record an answer under a key, passed to the command so
/// that it records its answer in its own transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyTicket {
    pub user_id: UserId,
    pub scope: IdempotencyScope,
    pub key: IdempotencyKey,
    pub standing: KeyStanding,
}

/// What stands under a ticket's key when its command runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyStanding {
    /// Nothing yet: the command writes the key and its answer together, in
    /// the transaction that acts, so a first request makes one durable
    /// commit, not two. A key found there already makes the command fail
    /// with [`KeyTaken`], having changed nothing.
    Fresh(FreshKey),
    /// A claim row, unanswered, leased to this request until this instant:
    /// the command fills in its answer while the lease is still this
    /// request's. A lease taken over meanwhile (this request outlived it)
    /// makes the command fail with [`KeyTaken`] too, having changed nothing.
    Leased(Timestamp),
}

/// The row a fresh ticket writes beside its answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FreshKey {
    pub fingerprint: Fingerprint,
    pub created_at: Timestamp,
}

/// A fresh ticket's key was there already (a repeat, a concurrent twin, a
/// reuse), or a leased ticket's lease was taken over: the command changed
/// nothing, and what stands under the key decides what to say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the idempotency key was recorded by another request")]
pub struct KeyTaken;

/// What happened when a claim was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// First time (or a dead claim taken over): go ahead.
    Claimed(IdempotencyTicket),
    /// Done before: here is the recorded answer.
    Replay(String),
    /// Another request with this key is still running.
    InProgress,
    /// This key was used for a different request.
    KeyReused,
}

/// The recorded answer of an idempotent command: its result or its refusal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Recorded<T, R> {
    Done(T),
    Refused(R),
}

impl<T: Serialize, R: Serialize> Recorded<T, R> {
    pub fn to_json(&self) -> serde_json::Result<String> {
        serde_json::to_string(self)
    }
}

/// Decides a claim against what is stored under the same key. Shared by every
/// store so they all answer alike.
pub fn decide_claim(
    claim: &IdempotencyClaim,
    stored_fingerprint: &str,
    stored_response: Option<&str>,
    lease_until: Timestamp,
) -> StoredKeyDecision {
    if stored_fingerprint != claim.fingerprint.as_str() {
        return StoredKeyDecision::Answer(ClaimOutcome::KeyReused);
    }
    match stored_response {
        Some(response) => StoredKeyDecision::Answer(ClaimOutcome::Replay(response.to_owned())),
        None if lease_until > claim.now => StoredKeyDecision::Answer(ClaimOutcome::InProgress),
        None => StoredKeyDecision::TakeOver,
    }
}

/// What a store should do with a claim on a key it already has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoredKeyDecision {
    Answer(ClaimOutcome),
    /// The previous claim died unfinished: renew its lease and proceed.
    TakeOver,
}

impl IdempotencyClaim {
    /// The ticket of this claim's row (claimed or taken over), leased to it.
    pub fn ticket(&self) -> IdempotencyTicket {
        IdempotencyTicket {
            user_id: self.user_id,
            scope: self.scope,
            key: self.key.clone(),
            standing: KeyStanding::Leased(self.lease_until),
        }
    }

    /// A ticket that writes its key with its answer, in the command's own
    /// transaction, with no claim row before it.
    pub fn fresh_ticket(&self) -> IdempotencyTicket {
        IdempotencyTicket {
            standing: KeyStanding::Fresh(FreshKey {
                fingerprint: self.fingerprint.clone(),
                created_at: self.now,
            }),
            ..self.ticket()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(fields: &[&str], now: i64) -> IdempotencyClaim {
        IdempotencyClaim {
            user_id: UserId::new(1).unwrap(),
            scope: IdempotencyScope::Charge,
            key: IdempotencyKey::parse("k-1").unwrap(),
            fingerprint: Fingerprint::of(IdempotencyScope::Charge, fields),
            now: Timestamp::from_millis(now),
            lease_until: Timestamp::from_millis(now + 30_000),
        }
    }

    #[test]
    fn keys_are_visible_ascii_up_to_255_characters() {
        assert!(IdempotencyKey::parse("order-42").is_ok());
        assert!(IdempotencyKey::parse("").is_err());
        assert!(IdempotencyKey::parse("has space").is_err());
        assert!(IdempotencyKey::parse(&"x".repeat(256)).is_err());
    }

    #[test]
    fn fingerprints_separate_fields_and_scopes() {
        let a = Fingerprint::of(IdempotencyScope::Charge, &["1", "23"]);
        let b = Fingerprint::of(IdempotencyScope::Charge, &["12", "3"]);
        let c = Fingerprint::of(IdempotencyScope::Payment, &["1", "23"]);
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_eq!(a, Fingerprint::of(IdempotencyScope::Charge, &["1", "23"]));
    }

    #[test]
    fn a_stored_key_replays_refuses_waits_or_is_taken_over() {
        let c = claim(&["1000"], 100);
        let fp = c.fingerprint.as_str().to_owned();
        let live = Timestamp::from_millis(200);
        let dead = Timestamp::from_millis(50);
        assert_eq!(
            decide_claim(&c, "other", None, live),
            StoredKeyDecision::Answer(ClaimOutcome::KeyReused)
        );
        assert_eq!(
            decide_claim(&c, &fp, Some("{}"), live),
            StoredKeyDecision::Answer(ClaimOutcome::Replay("{}".into()))
        );
        assert_eq!(
            decide_claim(&c, &fp, None, live),
            StoredKeyDecision::Answer(ClaimOutcome::InProgress)
        );
        assert_eq!(
            decide_claim(&c, &fp, None, dead),
            StoredKeyDecision::TakeOver
        );
    }
}
