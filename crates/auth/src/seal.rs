//! [`QueueSeal`]: the credentials boxoffice hands its fans, as compact JWTs
//! signed with HS256 under a secret every instance shares (stored once in
//! the database). Each kind has its own audience, so one can never be
//! passed off as another:
//!
//! | kind | `aud` | claims |
//! |---|---|---|
//! | queue ticket | `boxoffice:queue-ticket` | `sub` fan, `tid` token id, `cid` concert, `arr` issued at (ms), `iat` |
//! | admission pass | `boxoffice:admission-pass` | `sub`, `tid`, `cid`, `exp` (end of the admission, s) |
//! | challenge | `boxoffice:proof-of-work` | `sub`, `cid`, `bits`, `jti` (random), `exp` |
//!
//! All carry `iss: boxoffice`. Tickets have no `exp`: the waiting room says
//! whether a token still lives. Opening checks the signature, the issuer
//! and the audience; expiry is the core's to judge, on the service's clock.

use boxoffice_core::domain::access::{AdmissionPass, Challenge, QueueCredential, Ticket};
use boxoffice_core::domain::{ConcertId, Timestamp, TokenId, UserId};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use serde::{Deserialize, Serialize};

const ISSUER: &str = "boxoffice";
const TICKET: &str = "boxoffice:queue-ticket";
const PASS: &str = "boxoffice:admission-pass";
const CHALLENGE: &str = "boxoffice:proof-of-work";

/// The purpose under which the store keeps this seal's secret.
pub const SECRET_PURPOSE: &str = "queue-credentials";

/// Signs and opens queue tickets, admission passes and challenges.
#[derive(Clone)]
pub struct QueueSeal {
    encoding: EncodingKey,
    decoding: DecodingKey,
    header: Header,
}

impl std::fmt::Debug for QueueSeal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("QueueSeal(..)")
    }
}

/// Every claim any of the three kinds carries.
#[derive(Debug, Serialize, Deserialize)]
struct Sealed {
    iss: String,
    aud: String,
    sub: String,
    cid: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    tid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    arr: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    iat: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bits: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    jti: Option<String>,
    /// A ticket's waiting-room epoch; absent for a room that never loses its line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ep: Option<u32>,
}

impl QueueSeal {
    pub fn new(secret: &[u8]) -> Self {
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            header: Header::new(Algorithm::HS256),
        }
    }

    fn sign(&self, claims: &Sealed) -> String {
        // HS256 over a plain struct of numbers and strings cannot fail.
        encode(&self.header, claims, &self.encoding).unwrap_or_default()
    }

    fn open_as(&self, text: &str, audiences: &[&str]) -> Option<Sealed> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.set_required_spec_claims::<&str>(&[]);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(audiences);
        decode::<Sealed>(text, &self.decoding, &validation)
            .ok()
            .map(|data| data.claims)
    }

    pub fn ticket(&self, t: &Ticket) -> String {
        self.sign(&Sealed {
            iss: ISSUER.into(),
            aud: TICKET.into(),
            sub: t.user.to_string(),
            cid: t.concert.get(),
            tid: Some(t.token.to_string()),
            arr: Some(t.issued_at.as_millis()),
            iat: Some(t.issued_at.as_millis().div_euclid(1000)),
            exp: None,
            bits: None,
            jti: None,
            ep: (t.epoch != 0).then_some(t.epoch),
        })
    }

    pub fn pass(&self, p: &AdmissionPass) -> String {
        self.sign(&Sealed {
            iss: ISSUER.into(),
            aud: PASS.into(),
            sub: p.user.to_string(),
            cid: p.concert.get(),
            tid: Some(p.token.to_string()),
            arr: None,
            iat: None,
            exp: Some(p.expires_at.as_millis().div_euclid(1000)),
            bits: None,
            jti: None,
            ep: None,
        })
    }

    pub fn challenge(&self, c: &Challenge) -> String {
        self.sign(&Sealed {
            iss: ISSUER.into(),
            aud: CHALLENGE.into(),
            sub: c.user.to_string(),
            cid: c.concert.get(),
            tid: None,
            arr: None,
            iat: None,
            exp: Some(c.expires_at.as_millis().div_euclid(1000)),
            bits: Some(c.bits),
            jti: Some(c.id_text()),
            ep: None,
        })
    }

    /// A ticket or a pass, as a booking call's `Queue-Token` may carry.
    pub fn open(&self, text: &str) -> Option<QueueCredential> {
        let sealed = self.open_as(text, &[TICKET, PASS])?;
        let token: TokenId = sealed.tid.as_deref()?.parse().ok()?;
        let user = user_of(&sealed.sub)?;
        let concert = ConcertId::new(sealed.cid).ok()?;
        match sealed.aud.as_str() {
            TICKET => Some(QueueCredential::Ticket(Ticket {
                token,
                user,
                concert,
                issued_at: Timestamp::from_millis(sealed.arr?),
                epoch: sealed.ep.unwrap_or(0),
            })),
            PASS => Some(QueueCredential::Pass(AdmissionPass {
                token,
                user,
                concert,
                expires_at: Timestamp::from_millis(sealed.exp?.checked_mul(1000)?),
            })),
            _ => None,
        }
    }

    /// A ticket only (polling takes no pass).
    pub fn open_ticket(&self, text: &str) -> Option<Ticket> {
        match self.open(text)? {
            QueueCredential::Ticket(t) => Some(t),
            QueueCredential::Pass(_) => None,
        }
    }

    pub fn open_challenge(&self, text: &str) -> Option<Challenge> {
        let sealed = self.open_as(text, &[CHALLENGE])?;
        let id_text = sealed.jti?;
        Some(Challenge {
            id: parse_id(&id_text)?,
            user: user_of(&sealed.sub)?,
            concert: ConcertId::new(sealed.cid).ok()?,
            bits: sealed.bits?,
            expires_at: Timestamp::from_millis(sealed.exp?.checked_mul(1000)?),
        })
    }
}

fn user_of(sub: &str) -> Option<UserId> {
    UserId::new(sub.parse().ok()?).ok()
}

fn parse_id(text: &str) -> Option<[u8; 16]> {
    let token: TokenId = text.parse().ok()?;
    Some(*token.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use boxoffice_core::testing::{concert_id, user};

    fn ticket() -> Ticket {
        Ticket {
            token: TokenId::from_bytes([0xab; 16]),
            user: user(1001),
            concert: concert_id(3),
            issued_at: Timestamp::from_millis(1_893_456_000_123),
            epoch: 0xfeed_beef,
        }
    }

    #[test]
    fn tickets_passes_and_challenges_round_trip() {
        let seal = QueueSeal::new(b"a-shared-secret-of-thirty-two-by");
        let t = ticket();
        assert_eq!(
            seal.open(&seal.ticket(&t)),
            Some(QueueCredential::Ticket(t))
        );
        assert_eq!(seal.open_ticket(&seal.ticket(&t)), Some(t));
        let p = AdmissionPass::for_admission(
            t.token,
            t.user,
            t.concert,
            Timestamp::from_millis(1_893_456_600_456),
        );
        assert_eq!(seal.open(&seal.pass(&p)), Some(QueueCredential::Pass(p)));
        assert_eq!(
            seal.open_ticket(&seal.pass(&p)),
            None,
            "a pass is no ticket"
        );
        let c = Challenge {
            id: [7; 16],
            user: t.user,
            concert: t.concert,
            bits: 18,
            expires_at: Timestamp::from_millis(1_893_456_120_000),
        };
        assert_eq!(seal.open_challenge(&seal.challenge(&c)), Some(c));
        assert_eq!(
            seal.open(&seal.challenge(&c)),
            None,
            "a challenge opens nothing"
        );
        assert_eq!(seal.open_challenge(&seal.ticket(&t)), None);
    }

    #[test]
    fn another_key_or_a_tampered_credential_opens_nothing() {
        let seal = QueueSeal::new(b"a-shared-secret-of-thirty-two-by");
        let other = QueueSeal::new(b"another-secret-of-thirty-two-byt");
        let text = seal.ticket(&ticket());
        assert_eq!(other.open(&text), None);
        let forged = Ticket {
            user: user(2),
            ..ticket()
        };
        let forged_payload = other.ticket(&forged);
        let mut parts: Vec<&str> = text.split('.').collect();
        parts[1] = forged_payload.split('.').nth(1).unwrap_or_default();
        assert_eq!(seal.open(&parts.join(".")), None);
        assert_eq!(
            seal.open("4326409b9cb5ee9b8b1a9784afb714e9"),
            None,
            "old-style tokens are gone"
        );
        assert_eq!(seal.open(""), None);
    }

    #[test]
    fn a_ticket_shows_its_fan_concert_and_arrival_to_whoever_decodes_it() {
        let seal = QueueSeal::new(b"a-shared-secret-of-thirty-two-by");
        let text = seal.ticket(&ticket());
        let payload = text.split('.').nth(1).unwrap_or_default();
        use base64::Engine;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap();
        let decoded = String::from_utf8(bytes).unwrap();
        for field in [
            "\"sub\":\"1001\"",
            "\"cid\":3",
            "\"arr\":1893456000123",
            "\"aud\":\"boxoffice:queue-ticket\"",
        ] {
            assert!(decoded.contains(field), "{field} in {decoded}");
        }
    }
}
