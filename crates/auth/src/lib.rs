//! boxoffice-auth: who is calling, and the credentials boxoffice hands its
//! fans. Signature checks and token formats live here, on `jsonwebtoken`;
//! the rules about whom a credential binds and when it ends live in the
//! core's `domain::access`.
//!
//! Layout:
//! - [`keys`]: the keys that verify fans' access tokens, the way identity
//!   providers publish them: an HS256 secret, an RSA, EC P-256 or Ed25519
//!   public key in PEM, a JWKS document from a file or a URL (fetched at
//!   start, refreshed, re-read on an unknown `kid`).
//! - [`access`]: [`AccessVerifier`], checking a fan's bearer token: its
//!   signature and algorithm against the key it names, `exp`, `nbf`, and
//!   `iss`/`aud` when configured; the admin role claim.
//! - [`dev`]: access tokens for the development sign-in and the load
//!   generator (HS256 with the configured secret).
//! - [`seal`]: [`QueueSeal`], signing and opening queue tickets, admission
//!   passes and proof-of-work challenges (HS256 with a key every instance
//!   shares).
//!
//! Time claims are checked against the caller's clock (the service's
//! `Clock`), not the machine's, so tests move time instead of waiting.

pub mod access;
pub mod dev;
pub mod keys;
pub mod seal;

pub use access::{Access, AccessRefused, AccessSettings, AccessVerifier};
pub use keys::{KeyRing, KeySources};
pub use seal::QueueSeal;
