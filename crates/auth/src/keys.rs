//! The keys that verify fans' access tokens, and where they come from.
//!
//! Each key carries the algorithms it may verify, decided by the key's own
//! type, never by the token: an RSA key verifies RS256 (and RS384, RS512,
//! PS256, PS384, PS512), an EC P-256 key ES256, an EC P-384 key ES384, an
//! Ed25519 key EdDSA, the shared secret HS256 only. A token whose header
//! asks for another algorithm than its key allows is refused, which is what
//! defeats `alg: none` and the HS256-signed-with-the-public-key confusion.

use anyhow::{Context, bail};
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

const RSA_FAMILY: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
];

/// How often an unknown `kid` may make the JWKS be fetched again, at most.
const UNKNOWN_KID_REFETCH: Duration = Duration::from_secs(10);

/// A verifying key and the algorithms it accepts.
#[derive(Clone)]
pub struct VerifyingKey {
    pub key: DecodingKey,
    pub algorithms: &'static [Algorithm],
}

impl std::fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("algorithms", &self.algorithms)
            .finish_non_exhaustive()
    }
}

/// Where the keys come from, as configured (`[auth]`).
#[derive(Debug, Clone, Default)]
pub struct KeySources {
    /// The HS256 shared secret.
    pub hs256_secret: Option<Vec<u8>>,
    /// A public key in PEM (the content of `auth.public_key_file`).
    pub public_key_pem: Option<Vec<u8>>,
    /// A JWKS document (the content of `auth.jwks_file`).
    pub jwks_json: Option<String>,
    /// Where to fetch the JWKS (`auth.jwks_url`).
    pub jwks_url: Option<String>,
}

impl KeySources {
    pub fn is_empty(&self) -> bool {
        self.hs256_secret.is_none()
            && self.public_key_pem.is_none()
            && self.jwks_json.is_none()
            && self.jwks_url.is_none()
    }
}

#[derive(Debug, Default)]
struct Keys {
    secret: Option<VerifyingKey>,
    /// The PEM key: used by tokens that name no `kid`.
    single: Option<VerifyingKey>,
    by_kid: HashMap<String, VerifyingKey>,
}

/// The current keys, swapped whole when the JWKS is fetched again.
#[derive(Debug)]
pub struct KeyRing {
    keys: RwLock<Arc<Keys>>,
    jwks: Option<JwksFetcher>,
}

/// What the ring found for a token.
#[derive(Debug)]
pub enum KeyLookup {
    Found(VerifyingKey),
    /// No key of the ring is for this token.
    Unknown(&'static str),
    /// The keys are to come from a JWKS URL that has not answered yet.
    NotLoaded,
}

impl KeyRing {
    /// The keys from `sources`: the secret, the PEM key and the JWKS file
    /// at once; a JWKS URL only when [`KeyRing::refresh`] runs.
    pub fn new(sources: &KeySources) -> anyhow::Result<Self> {
        let mut keys = Keys {
            secret: sources.hs256_secret.as_ref().map(|secret| VerifyingKey {
                key: DecodingKey::from_secret(secret),
                algorithms: &[Algorithm::HS256],
            }),
            ..Keys::default()
        };
        if let Some(pem) = &sources.public_key_pem {
            keys.single = Some(from_pem(pem)?);
        }
        if let Some(json) = &sources.jwks_json {
            keys.by_kid = parse_jwks(json)?;
        }
        let jwks = match &sources.jwks_url {
            Some(url) => Some(JwksFetcher::new(url)?),
            None => None,
        };
        Ok(Self {
            keys: RwLock::new(Arc::new(keys)),
            jwks,
        })
    }

    /// Whether keys come from a JWKS URL (and so need refreshing).
    pub fn fetches_jwks(&self) -> bool {
        self.jwks.is_some()
    }

    fn snapshot(&self) -> Arc<Keys> {
        self.keys
            .read()
            .map(|k| k.clone())
            .unwrap_or_else(|poisoned| poisoned.into_inner().clone())
    }

    /// The key for a token with this `alg` and `kid`. An unknown `kid`
    /// fetches the JWKS again first (at most every 10 s), so a key the
    /// identity provider just rotated in is found.
    pub async fn find(&self, alg: Algorithm, kid: Option<&str>) -> KeyLookup {
        let first = self.lookup(alg, kid);
        if matches!(first, KeyLookup::Found(_)) || alg == Algorithm::HS256 {
            return first;
        }
        match &self.jwks {
            Some(jwks) if jwks.may_refetch() => {
                if let Err(err) = self.refresh().await {
                    tracing::warn!(
                        error = format!("{err:#}"),
                        "JWKS not fetched for an unknown key"
                    );
                }
                self.lookup(alg, kid)
            }
            _ => first,
        }
    }

    fn lookup(&self, alg: Algorithm, kid: Option<&str>) -> KeyLookup {
        let keys = self.snapshot();
        let found = if alg == Algorithm::HS256 {
            keys.secret.clone()
        } else {
            match kid {
                Some(kid) => keys.by_kid.get(kid).cloned().or_else(|| {
                    // A PEM key answers to any kid when there is no JWKS.
                    keys.by_kid
                        .is_empty()
                        .then(|| keys.single.clone())
                        .flatten()
                }),
                None => keys.single.clone().or_else(|| {
                    (keys.by_kid.len() == 1)
                        .then(|| keys.by_kid.values().next().cloned())
                        .flatten()
                }),
            }
        };
        match found {
            Some(key) if key.algorithms.contains(&alg) => KeyLookup::Found(key),
            Some(_) => KeyLookup::Unknown("the token's algorithm is not one its key allows"),
            None if self.jwks.is_some()
                && alg != Algorithm::HS256
                && keys.by_kid.is_empty()
                && keys.single.is_none() =>
            {
                KeyLookup::NotLoaded
            }
            None if alg == Algorithm::HS256 => {
                KeyLookup::Unknown("HS256 tokens are not accepted here")
            }
            None => KeyLookup::Unknown("no key of the identity provider matches the token's kid"),
        }
    }

    /// Fetches the JWKS from its URL and replaces the keys it gave before.
    /// On failure the keys already held stay in use.
    pub async fn refresh(&self) -> anyhow::Result<usize> {
        let Some(jwks) = &self.jwks else {
            return Ok(0);
        };
        let fetched = jwks.fetch().await?;
        let count = fetched.len();
        let mut next = Keys::clone_without_jwks(&self.snapshot());
        next.by_kid = fetched;
        if let Ok(mut keys) = self.keys.write() {
            *keys = Arc::new(next);
        }
        Ok(count)
    }
}

impl Keys {
    fn clone_without_jwks(keys: &Keys) -> Keys {
        Keys {
            secret: keys.secret.clone(),
            single: keys.single.clone(),
            by_kid: HashMap::new(),
        }
    }
}

#[derive(Debug)]
struct JwksFetcher {
    url: String,
    http: reqwest::Client,
    last_fetch: std::sync::Mutex<Option<Instant>>,
}

impl JwksFetcher {
    fn new(url: &str) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()?;
        Ok(Self {
            url: url.to_owned(),
            http,
            last_fetch: std::sync::Mutex::new(None),
        })
    }

    /// True (and the time noted) when no fetch for an unknown kid happened lately.
    fn may_refetch(&self) -> bool {
        let mut last = self
            .last_fetch
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        if last.is_some_and(|at| now.duration_since(at) < UNKNOWN_KID_REFETCH) {
            return false;
        }
        *last = Some(now);
        true
    }

    async fn fetch(&self) -> anyhow::Result<HashMap<String, VerifyingKey>> {
        let response = self
            .http
            .get(&self.url)
            .send()
            .await
            .with_context(|| format!("fetching the JWKS at {}", self.url))?;
        let status = response.status();
        if !status.is_success() {
            bail!("the JWKS at {} answered {status}", self.url);
        }
        parse_jwks(&response.text().await?)
    }
}

/// A public key from PEM: RSA, EC (P-256 or P-384) or Ed25519.
pub fn from_pem(pem: &[u8]) -> anyhow::Result<VerifyingKey> {
    if let Ok(key) = DecodingKey::from_rsa_pem(pem) {
        return Ok(VerifyingKey {
            key,
            algorithms: RSA_FAMILY,
        });
    }
    if let Ok(key) = DecodingKey::from_ed_pem(pem) {
        return Ok(VerifyingKey {
            key,
            algorithms: &[Algorithm::EdDSA],
        });
    }
    if let Ok(key) = DecodingKey::from_ec_pem(pem) {
        // The PEM does not tell the curve here; each curve's verifier
        // refuses a key of the other, so both algorithms may be offered.
        return Ok(VerifyingKey {
            key,
            algorithms: &[Algorithm::ES256, Algorithm::ES384],
        });
    }
    bail!("not an RSA, EC or Ed25519 public key in PEM")
}

/// The signing keys of a JWKS document, by `kid`. Encryption keys and
/// symmetric keys are left out: a JWKS publishes public keys only.
pub fn parse_jwks(json: &str) -> anyhow::Result<HashMap<String, VerifyingKey>> {
    let set: JwkSet = serde_json::from_str(json).context("not a JWKS document")?;
    let mut keys = HashMap::new();
    for jwk in &set.keys {
        if jwk.common.public_key_use == Some(PublicKeyUse::Encryption) {
            continue;
        }
        let Some(kid) = jwk.common.key_id.clone() else {
            tracing::warn!("a JWKS key without a kid is ignored");
            continue;
        };
        let Some(algorithms) = algorithms_of(jwk) else {
            continue;
        };
        let key = DecodingKey::from_jwk(jwk).with_context(|| format!("JWKS key {kid}"))?;
        keys.insert(kid, VerifyingKey { key, algorithms });
    }
    Ok(keys)
}

fn algorithms_of(jwk: &Jwk) -> Option<&'static [Algorithm]> {
    let declared = jwk
        .common
        .key_algorithm
        .and_then(|a| a.to_string().parse::<Algorithm>().ok());
    let family: &'static [Algorithm] = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => RSA_FAMILY,
        AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
            EllipticCurve::P256 => &[Algorithm::ES256],
            EllipticCurve::P384 => &[Algorithm::ES384],
            _ => return None,
        },
        AlgorithmParameters::OctetKeyPair(_) => &[Algorithm::EdDSA],
        AlgorithmParameters::OctetKey(_) => return None,
    };
    match declared {
        None => Some(family),
        Some(alg) => family
            .iter()
            .position(|a| *a == alg)
            .map(|i| &family[i..=i]),
    }
}
