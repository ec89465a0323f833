//! Access tokens signed here: the development sign-in's, and the load
//! generator's, which signs its fans' tokens itself so that signing in
//! costs the service no request. HS256 with `auth.hs256_secret`, carrying
//! the configured issuer and audience, so the verifier takes them like an
//! identity provider's.

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde::Serialize;

/// Signs access tokens with a shared secret.
#[derive(Clone)]
pub struct DevSigner {
    key: EncodingKey,
    issuer: Option<String>,
    audience: Option<String>,
    ttl_secs: u64,
}

impl std::fmt::Debug for DevSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevSigner")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("ttl_secs", &self.ttl_secs)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize)]
struct Claims<'a> {
    sub: &'a str,
    iat: i64,
    exp: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    iss: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    aud: Option<&'a str>,
}

/// A signed token and when it expires (epoch milliseconds, whole seconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedToken {
    pub token: String,
    pub expires_at_ms: i64,
}

impl DevSigner {
    pub fn new(
        secret: &[u8],
        issuer: Option<String>,
        audience: Option<String>,
        ttl_secs: u64,
    ) -> Self {
        Self {
            key: EncodingKey::from_secret(secret),
            issuer,
            audience,
            ttl_secs,
        }
    }

    /// A token for `subject`, valid from `now_ms` for the signer's time to live.
    pub fn sign(&self, subject: &str, now_ms: i64) -> anyhow::Result<SignedToken> {
        let iat = now_ms.div_euclid(1000);
        let exp = iat + i64::try_from(self.ttl_secs)?;
        let claims = Claims {
            sub: subject,
            iat,
            exp,
            iss: self.issuer.as_deref(),
            aud: self.audience.as_deref(),
        };
        let token = encode(&Header::new(Algorithm::HS256), &claims, &self.key)?;
        Ok(SignedToken {
            token,
            expires_at_ms: exp * 1000,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AccessSettings, AccessVerifier, KeyRing, KeySources};
    use std::sync::Arc;

    #[tokio::test]
    async fn a_dev_token_passes_the_verifier_with_the_same_secret_only() {
        let secret = b"dev-secret-dev-secret-dev-secret".to_vec();
        let signer = DevSigner::new(
            &secret,
            Some("boxoffice-dev".into()),
            Some("boxoffice".into()),
            3600,
        );
        let settings = AccessSettings {
            issuer: Some("boxoffice-dev".into()),
            audience: Some("boxoffice".into()),
            ..AccessSettings::default()
        };
        let ring = |secret: Vec<u8>| {
            Arc::new(
                KeyRing::new(&KeySources {
                    hs256_secret: Some(secret),
                    ..KeySources::default()
                })
                .unwrap(),
            )
        };
        let now = 1_893_456_000_123;
        let signed = signer.sign("1001", now).unwrap();
        assert_eq!(signed.expires_at_ms, 1_893_456_000_000 + 3_600_000);
        let verifier = AccessVerifier::new(ring(secret), settings.clone());
        assert_eq!(
            verifier
                .verify(&signed.token, now)
                .await
                .unwrap()
                .subject
                .as_str(),
            "1001"
        );
        let stranger =
            AccessVerifier::new(ring(b"another-secret-another-secret-xx".to_vec()), settings);
        assert!(stranger.verify(&signed.token, now).await.is_err());
    }
}
