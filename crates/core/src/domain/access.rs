//! What a fan carries once the waiting room knows them: a queue ticket, an
//! admission pass, and the answer to a bot-gate challenge. The edge (HTTP)
//! checks their signatures and hands the use cases these values; the rules
//! about whom they bind, when they end and what they open live here.
//!
//! - A [`Ticket`] names its token, its fan, its concert and its arrival. It
//!   proves the waiting room issued it; what the token may do now is the
//!   waiting room's to say.
//! - An [`AdmissionPass`] says "ACTIVE for this concert until `expires_at`":
//!   browsing trusts it without asking the waiting room, unless the
//!   admission was ended early (paid, revoked), which every instance learns
//!   from the revocation feed.
//! - A [`Challenge`] is a proof-of-work puzzle bound to one fan and concert.

use super::{ConcertId, Timestamp, TokenId, UserId};
use sha2::{Digest, Sha256};

/// A verified queue ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket {
    pub token: TokenId,
    pub user: UserId,
    pub concert: ConcertId,
    /// When the token was issued: its place in arrival order.
    pub issued_at: Timestamp,
    /// The waiting room's epoch that issued it (see
    /// [`super::queue_token::QueueToken::epoch`]); 0 for a durable room.
    pub epoch: u32,
}

/// A verified admission pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdmissionPass {
    pub token: TokenId,
    pub user: UserId,
    pub concert: ConcertId,
    /// The end of the admission, rounded down to a whole second.
    pub expires_at: Timestamp,
}

impl AdmissionPass {
    /// The pass for an admission that ends at `admitted_until`. Whole
    /// seconds, as a JWT's `exp` is, rounded down so that a pass never
    /// outlives its admission.
    pub fn for_admission(
        token: TokenId,
        user: UserId,
        concert: ConcertId,
        admitted_until: Timestamp,
    ) -> Self {
        let millis = admitted_until.as_millis();
        Self {
            token,
            user,
            concert,
            expires_at: Timestamp::from_millis(millis - millis.rem_euclid(1_000)),
        }
    }

    pub fn is_live(&self, now: Timestamp) -> bool {
        now < self.expires_at
    }
}

/// What a booking call presents in `Queue-Token`: either credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueCredential {
    Ticket(Ticket),
    Pass(AdmissionPass),
}

impl QueueCredential {
    pub fn user(&self) -> UserId {
        match self {
            QueueCredential::Ticket(t) => t.user,
            QueueCredential::Pass(p) => p.user,
        }
    }

    pub fn concert(&self) -> ConcertId {
        match self {
            QueueCredential::Ticket(t) => t.concert,
            QueueCredential::Pass(p) => p.concert,
        }
    }

    pub fn token(&self) -> TokenId {
        match self {
            QueueCredential::Ticket(t) => t.token,
            QueueCredential::Pass(p) => p.token,
        }
    }
}

/// A proof-of-work puzzle: find a nonce such that
/// `SHA-256(challenge text ":" nonce)` starts with `bits` zero bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Challenge {
    /// Random: what makes each challenge single-use.
    pub id: [u8; 16],
    pub user: UserId,
    pub concert: ConcertId,
    pub bits: u8,
    /// Whole seconds, like the pass.
    pub expires_at: Timestamp,
}

impl Challenge {
    /// The hex text of the id, for single-use bookkeeping.
    pub fn id_text(&self) -> String {
        self.id.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// What a token request brought for the bot gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PowAnswer {
    /// No challenge answered.
    Missing,
    /// A challenge that is not ours, or a nonce that does not solve it.
    Wrong,
    /// A genuine challenge, solved (not yet checked against the concert,
    /// the fan, the clock or earlier use).
    Solved(Challenge),
}

/// The most difficulty a concert may ask for: 2^30 hashes on average is
/// minutes on a phone.
pub const MAX_POW_BITS: u8 = 30;

/// The number of leading zero bits of `digest`.
pub fn leading_zero_bits(digest: &[u8]) -> u32 {
    let mut bits = 0;
    for byte in digest {
        if *byte == 0 {
            bits += 8;
        } else {
            return bits + byte.leading_zeros();
        }
    }
    bits
}

/// Whether `nonce` solves the challenge whose signed text is `challenge` at
/// `bits` of difficulty.
pub fn solves(challenge: &str, nonce: &str, bits: u8) -> bool {
    let mut hash = Sha256::new();
    hash.update(challenge.as_bytes());
    hash.update(b":");
    hash.update(nonce.as_bytes());
    leading_zero_bits(&hash.finalize()) >= u32::from(bits)
}

/// Searches nonces `0, 1, 2, ...` for one that solves `challenge`: what a
/// fan's browser (or the load generator) does. Expect `2^bits` hashes.
pub fn solve(challenge: &str, bits: u8) -> String {
    let mut prefix = Sha256::new();
    prefix.update(challenge.as_bytes());
    prefix.update(b":");
    let mut nonce: u64 = 0;
    loop {
        let text = nonce.to_string();
        let mut hash = prefix.clone();
        hash.update(text.as_bytes());
        if leading_zero_bits(&hash.finalize()) >= u32::from(bits) {
            return text;
        }
        nonce += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leading_zero_bits_count_across_bytes() {
        assert_eq!(leading_zero_bits(&[0xff]), 0);
        assert_eq!(leading_zero_bits(&[0x0f]), 4);
        assert_eq!(leading_zero_bits(&[0x00, 0x01]), 15);
        assert_eq!(leading_zero_bits(&[0x00, 0x00]), 16);
    }

    #[test]
    fn a_found_nonce_solves_and_others_mostly_do_not() {
        let nonce = solve("challenge-text", 12);
        assert!(solves("challenge-text", &nonce, 12));
        // Far more difficulty than was searched for: 2^-28 odds of a fluke.
        assert!(!solves("challenge-text", &nonce, 40));
        let wrong = (0..64)
            .filter(|n| !solves("challenge-text", &n.to_string(), 12))
            .count();
        assert!(
            wrong >= 60,
            "only {wrong} of 64 small nonces failed 12 bits"
        );
    }

    #[test]
    fn a_pass_never_outlives_its_admission() {
        let t = TokenId::from_bytes([1; 16]);
        let (u, c) = (UserId::new(1).unwrap(), ConcertId::new(1).unwrap());
        let pass = AdmissionPass::for_admission(t, u, c, Timestamp::from_millis(10_999));
        assert_eq!(pass.expires_at, Timestamp::from_millis(10_000));
        assert!(pass.is_live(Timestamp::from_millis(9_999)));
        assert!(!pass.is_live(Timestamp::from_millis(10_000)));
    }
}
