//! [`AccessVerifier`]: checking a fan's bearer token, as an OAuth 2.0
//! resource server does. The token's header names its algorithm and key
//! (`kid`); the key must exist and allow that algorithm; the signature
//! must hold; `exp` must be in the future and `nbf` in the past (both with
//! `leeway`); `iss` and `aud` must match when configured; `sub` names the fan.

use crate::keys::{KeyLookup, KeyRing};
use boxoffice_core::domain::identity::Subject;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Validation, decode, decode_header};
use serde_json::{Map, Value};
use std::sync::Arc;

/// What the verifier checks besides the signature.
#[derive(Debug, Clone, Default)]
pub struct AccessSettings {
    /// Required `iss`, when set.
    pub issuer: Option<String>,
    /// Required `aud` (one of the token's audiences), when set.
    pub audience: Option<String>,
    /// Clock skew allowed on `exp` and `nbf`, in seconds.
    pub leeway_secs: u64,
    /// Where the roles are, as a dotted path (`roles`,
    /// `realm_access.roles`, `scope`); `None`: no token is an admin's.
    pub admin_claim: Option<String>,
    /// The role that makes a token an admin's.
    pub admin_role: String,
}

/// A verified access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    pub subject: Subject,
    /// The admin role claim grants the admin role.
    pub admin: bool,
    /// When the token expires, in epoch milliseconds.
    pub expires_at_ms: i64,
}

/// Why a bearer token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccessRefused {
    /// Malformed, badly signed, for another issuer or audience, not yet
    /// valid, or naming no key we know. The reason is safe to show.
    #[error("invalid access token: {0}")]
    Invalid(&'static str),
    #[error("the access token has expired")]
    Expired,
    /// The keys come from a JWKS URL that has not answered yet.
    #[error("the identity provider's keys are not available yet")]
    KeysUnavailable,
}

#[derive(Debug, Clone)]
pub struct AccessVerifier {
    keys: Arc<KeyRing>,
    settings: AccessSettings,
}

impl AccessVerifier {
    pub fn new(keys: Arc<KeyRing>, settings: AccessSettings) -> Self {
        Self { keys, settings }
    }

    pub fn keys(&self) -> &Arc<KeyRing> {
        &self.keys
    }

    /// Checks `token` at `now_ms` (epoch milliseconds, the service's clock).
    pub async fn verify(&self, token: &str, now_ms: i64) -> Result<Access, AccessRefused> {
        let header = decode_header(token).map_err(|_| AccessRefused::Invalid("malformed token"))?;
        let key = match self.keys.find(header.alg, header.kid.as_deref()).await {
            KeyLookup::Found(key) => key,
            KeyLookup::Unknown(why) => return Err(AccessRefused::Invalid(why)),
            KeyLookup::NotLoaded => return Err(AccessRefused::KeysUnavailable),
        };
        let mut validation = Validation::new(header.alg);
        // Time is checked below against the service's clock.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        // A claim that is configured must be present: jsonwebtoken checks
        // `iss` and `aud` only when the token carries them.
        let mut required = vec!["exp", "sub"];
        if self.settings.issuer.is_some() {
            required.push("iss");
        }
        if self.settings.audience.is_some() {
            required.push("aud");
        }
        validation.set_required_spec_claims(&required);
        match &self.settings.issuer {
            Some(issuer) => validation.set_issuer(&[issuer]),
            None => validation.iss = None,
        }
        match &self.settings.audience {
            Some(audience) => validation.set_audience(&[audience]),
            None => validation.validate_aud = false,
        }
        let claims = decode::<Map<String, Value>>(token, &key.key, &validation)
            .map_err(|e| AccessRefused::Invalid(reason(e.kind())))?
            .claims;
        let leeway_ms = i64::try_from(self.settings.leeway_secs.saturating_mul(1000)).unwrap_or(0);
        let expires_at_ms =
            instant_ms(&claims, "exp").ok_or(AccessRefused::Invalid("exp is not a number"))?;
        if now_ms >= expires_at_ms.saturating_add(leeway_ms) {
            return Err(AccessRefused::Expired);
        }
        if claims.contains_key("nbf") {
            let nbf =
                instant_ms(&claims, "nbf").ok_or(AccessRefused::Invalid("nbf is not a number"))?;
            if now_ms.saturating_add(leeway_ms) < nbf {
                return Err(AccessRefused::Invalid("the token is not valid yet"));
            }
        }
        let subject = claims
            .get("sub")
            .and_then(Value::as_str)
            .and_then(|s| Subject::new(s).ok())
            .ok_or(AccessRefused::Invalid("sub is not a usable subject"))?;
        let admin = self
            .settings
            .admin_claim
            .as_deref()
            .is_some_and(|path| has_role(&claims, path, &self.settings.admin_role));
        Ok(Access {
            subject,
            admin,
            expires_at_ms,
        })
    }
}

fn reason(kind: &ErrorKind) -> &'static str {
    match kind {
        ErrorKind::InvalidSignature => "bad signature",
        ErrorKind::InvalidIssuer => "wrong issuer",
        ErrorKind::InvalidAudience => "wrong audience",
        ErrorKind::InvalidAlgorithm
        | ErrorKind::InvalidAlgorithmName
        | ErrorKind::MissingAlgorithm => "algorithm not accepted",
        ErrorKind::MissingRequiredClaim(claim) if claim == "iss" => "wrong issuer",
        ErrorKind::MissingRequiredClaim(claim) if claim == "aud" => "wrong audience",
        ErrorKind::MissingRequiredClaim(_) => "a required claim (exp, sub) is missing",
        ErrorKind::InvalidKeyFormat
        | ErrorKind::InvalidRsaKey(_)
        | ErrorKind::InvalidEcdsaKey
        | ErrorKind::InvalidEddsaKey => "the token does not fit its key",
        _ => "malformed token",
    }
}

/// A NumericDate claim (seconds, possibly fractional) in milliseconds.
fn instant_ms(claims: &Map<String, Value>, name: &str) -> Option<i64> {
    let secs = claims.get(name)?.as_f64()?;
    secs.is_finite().then_some((secs * 1000.0) as i64)
}

/// Whether the claim at dotted `path` grants `role`: equal to it, an array
/// holding it, or a space-separated list (OAuth `scope`) naming it.
fn has_role(claims: &Map<String, Value>, path: &str, role: &str) -> bool {
    let mut value = None;
    let mut within = claims;
    for (i, part) in path.split('.').enumerate() {
        let Some(next) = within.get(part) else {
            return false;
        };
        if i + 1 == path.split('.').count() {
            value = Some(next);
        } else if let Value::Object(map) = next {
            within = map;
        } else {
            return false;
        }
    }
    match value {
        Some(Value::String(s)) => s.split_whitespace().any(|r| r == role),
        Some(Value::Array(items)) => items.iter().any(|v| v.as_str() == Some(role)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::KeySources;
    use jsonwebtoken::jwk::Jwk;
    use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
    use serde_json::json;

    const NOW_MS: i64 = 1_893_456_000_000;
    const SECRET: &[u8] = b"a-test-secret-of-at-least-32-bytes!!";

    fn key_file(name: &str) -> Vec<u8> {
        let path = format!("{}/test-keys/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn claims(sub: &str) -> Value {
        json!({ "sub": sub, "exp": NOW_MS / 1000 + 600, "iat": NOW_MS / 1000 })
    }

    fn sign(alg: Algorithm, kid: Option<&str>, key: &EncodingKey, claims: &Value) -> String {
        let mut header = Header::new(alg);
        header.kid = kid.map(str::to_owned);
        encode(&header, claims, key).unwrap()
    }

    fn hs(claims: &Value) -> String {
        sign(
            Algorithm::HS256,
            None,
            &EncodingKey::from_secret(SECRET),
            claims,
        )
    }

    fn verifier(sources: KeySources, settings: AccessSettings) -> AccessVerifier {
        AccessVerifier::new(Arc::new(KeyRing::new(&sources).unwrap()), settings)
    }

    fn with_secret(settings: AccessSettings) -> AccessVerifier {
        let sources = KeySources {
            hs256_secret: Some(SECRET.to_vec()),
            ..KeySources::default()
        };
        verifier(sources, settings)
    }

    fn rsa_private(name: &str) -> EncodingKey {
        EncodingKey::from_rsa_pem(&key_file(name)).unwrap()
    }

    async fn refused(v: &AccessVerifier, token: &str) -> AccessRefused {
        v.verify(token, NOW_MS).await.unwrap_err()
    }

    #[tokio::test]
    async fn an_hs256_token_names_its_fan_until_it_expires() {
        let v = with_secret(AccessSettings {
            leeway_secs: 30,
            ..AccessSettings::default()
        });
        let access = v.verify(&hs(&claims("1001")), NOW_MS).await.unwrap();
        assert_eq!(access.subject.as_str(), "1001");
        assert!(!access.admin);
        let exp = NOW_MS + 600_000;
        assert!(
            v.verify(&hs(&claims("1001")), exp + 29_000).await.is_ok(),
            "within the leeway"
        );
        assert_eq!(
            refused(&v, &hs(&json!({"sub": "1", "exp": NOW_MS / 1000 - 31}))).await,
            AccessRefused::Expired
        );
        let early = json!({"sub": "1", "exp": NOW_MS / 1000 + 600, "nbf": NOW_MS / 1000 + 60});
        assert!(matches!(
            refused(&v, &hs(&early)).await,
            AccessRefused::Invalid(_)
        ));
        let no_exp = json!({"sub": "1"});
        assert!(matches!(
            refused(&v, &hs(&no_exp)).await,
            AccessRefused::Invalid(_)
        ));
    }

    #[tokio::test]
    async fn bad_signatures_alg_none_and_algorithm_confusion_are_refused() {
        let rsa_pub = key_file("rsa-a.pub.pem");
        let sources = KeySources {
            public_key_pem: Some(rsa_pub.clone()),
            ..KeySources::default()
        };
        let v = verifier(sources, AccessSettings::default());
        let good = sign(
            Algorithm::RS256,
            None,
            &rsa_private("rsa-a.key.pem"),
            &claims("7"),
        );
        assert!(v.verify(&good, NOW_MS).await.is_ok());
        let other = sign(
            Algorithm::RS256,
            None,
            &rsa_private("rsa-b.key.pem"),
            &claims("7"),
        );
        assert_eq!(
            refused(&v, &other).await,
            AccessRefused::Invalid("bad signature")
        );
        // alg: none, with the payload of a good token.
        let payload = good.split('.').nth(1).unwrap();
        let none = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}.");
        assert!(matches!(
            refused(&v, &none).await,
            AccessRefused::Invalid(_)
        ));
        // HS256 "signed" with the RSA public key as the secret.
        let confused = sign(
            Algorithm::HS256,
            None,
            &EncodingKey::from_secret(&rsa_pub),
            &claims("7"),
        );
        assert!(matches!(
            refused(&v, &confused).await,
            AccessRefused::Invalid(_)
        ));
        // A tampered payload.
        let mut parts: Vec<&str> = good.split('.').collect();
        let forged_payload = hs(&claims("8")).split('.').nth(1).unwrap().to_owned();
        parts[1] = &forged_payload;
        assert_eq!(
            refused(&v, &parts.join(".")).await,
            AccessRefused::Invalid("bad signature")
        );
        assert!(matches!(
            refused(&v, "not.a.jwt").await,
            AccessRefused::Invalid(_)
        ));
    }

    #[tokio::test]
    async fn issuer_and_audience_are_checked_when_configured() {
        let v = with_secret(AccessSettings {
            issuer: Some("https://id.example".into()),
            audience: Some("boxoffice".into()),
            ..AccessSettings::default()
        });
        let mut c = claims("5");
        c["iss"] = json!("https://id.example");
        c["aud"] = json!(["account", "boxoffice"]);
        assert!(v.verify(&hs(&c), NOW_MS).await.is_ok());
        let mut wrong_iss = c.clone();
        wrong_iss["iss"] = json!("https://evil.example");
        assert_eq!(
            refused(&v, &hs(&wrong_iss)).await,
            AccessRefused::Invalid("wrong issuer")
        );
        let mut wrong_aud = c.clone();
        wrong_aud["aud"] = json!("someone-else");
        assert_eq!(
            refused(&v, &hs(&wrong_aud)).await,
            AccessRefused::Invalid("wrong audience")
        );
        let mut no_aud = c.clone();
        no_aud.as_object_mut().unwrap().remove("aud");
        assert_eq!(
            refused(&v, &hs(&no_aud)).await,
            AccessRefused::Invalid("wrong audience")
        );
        let mut no_iss = c;
        no_iss.as_object_mut().unwrap().remove("iss");
        assert_eq!(
            refused(&v, &hs(&no_iss)).await,
            AccessRefused::Invalid("wrong issuer")
        );
    }

    #[tokio::test]
    async fn ed25519_and_p256_keys_verify_their_own_algorithm_only() {
        for (public, private, alg) in [
            ("ed25519.pub.pem", "ed25519.key.pem", Algorithm::EdDSA),
            ("ec-p256.pub.pem", "ec-p256.key.pem", Algorithm::ES256),
        ] {
            let v = verifier(
                KeySources {
                    public_key_pem: Some(key_file(public)),
                    ..KeySources::default()
                },
                AccessSettings::default(),
            );
            let key = match alg {
                Algorithm::EdDSA => EncodingKey::from_ed_pem(&key_file(private)).unwrap(),
                _ => EncodingKey::from_ec_pem(&key_file(private)).unwrap(),
            };
            assert!(
                v.verify(&sign(alg, None, &key, &claims("9")), NOW_MS)
                    .await
                    .is_ok(),
                "{alg:?}"
            );
            let rsa = sign(
                Algorithm::RS256,
                None,
                &rsa_private("rsa-a.key.pem"),
                &claims("9"),
            );
            assert!(
                matches!(refused(&v, &rsa).await, AccessRefused::Invalid(_)),
                "{alg:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_jwks_file_picks_the_key_by_kid() {
        let a = rsa_private("rsa-a.key.pem");
        let b = rsa_private("rsa-b.key.pem");
        let mut jwk_a = Jwk::from_encoding_key(&a, Algorithm::RS256).unwrap();
        jwk_a.common.key_id = Some("a".into());
        let mut jwk_b = Jwk::from_encoding_key(&b, Algorithm::RS256).unwrap();
        jwk_b.common.key_id = Some("b".into());
        let jwks = json!({ "keys": [jwk_a, jwk_b] }).to_string();
        let v = verifier(
            KeySources {
                jwks_json: Some(jwks),
                ..KeySources::default()
            },
            AccessSettings::default(),
        );
        assert!(
            v.verify(&sign(Algorithm::RS256, Some("a"), &a, &claims("1")), NOW_MS)
                .await
                .is_ok()
        );
        assert!(
            v.verify(&sign(Algorithm::RS256, Some("b"), &b, &claims("1")), NOW_MS)
                .await
                .is_ok()
        );
        let mislabelled = sign(Algorithm::RS256, Some("a"), &b, &claims("1"));
        assert_eq!(
            refused(&v, &mislabelled).await,
            AccessRefused::Invalid("bad signature")
        );
        let unknown = sign(Algorithm::RS256, Some("c"), &a, &claims("1"));
        assert!(matches!(
            refused(&v, &unknown).await,
            AccessRefused::Invalid(_)
        ));
        // The JWKS's RS256 key is no HS256 secret.
        let hs_token = hs(&claims("1"));
        assert!(matches!(
            refused(&v, &hs_token).await,
            AccessRefused::Invalid(_)
        ));
    }

    #[tokio::test]
    async fn the_admin_role_is_read_from_the_configured_claim() {
        let v = with_secret(AccessSettings {
            admin_claim: Some("realm_access.roles".into()),
            admin_role: "boxoffice-admin".into(),
            ..AccessSettings::default()
        });
        let mut c = claims("3");
        c["realm_access"] = json!({ "roles": ["offline_access", "boxoffice-admin"] });
        assert!(v.verify(&hs(&c), NOW_MS).await.unwrap().admin);
        c["realm_access"] = json!({ "roles": ["offline_access"] });
        assert!(!v.verify(&hs(&c), NOW_MS).await.unwrap().admin);
        let scoped = with_secret(AccessSettings {
            admin_claim: Some("scope".into()),
            admin_role: "boxoffice:admin".into(),
            ..AccessSettings::default()
        });
        let mut c = claims("3");
        c["scope"] = json!("openid boxoffice:admin");
        assert!(scoped.verify(&hs(&c), NOW_MS).await.unwrap().admin);
    }
}
