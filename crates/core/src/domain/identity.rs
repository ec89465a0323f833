//! Who a fan is. Identity providers name fans by a subject (`sub`): our own
//! dev sign-in and many shops use the numeric user id, Keycloak a UUID,
//! Auth0 `auth0|...`. A subject that is a positive integer below
//! [`FIRST_MAPPED_USER_ID`] is that user id; any other subject is given an
//! id of its own, from [`FIRST_MAPPED_USER_ID`] up, the first time it is
//! seen, and keeps it for ever.

use super::UserId;

/// Mapped subjects get ids from here (2^52) up, so they never meet a
/// numeric subject, and every id stays exact in a JavaScript number.
pub const FIRST_MAPPED_USER_ID: i64 = 1 << 52;

/// The longest subject accepted (OpenID Connect asks for at most 255 ASCII characters).
pub const MAX_SUBJECT_LEN: usize = 255;

/// A subject as an identity provider gave it: 1 to 255 characters, none of them control characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Subject(String);

/// Why a subject was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a subject must be 1 to 255 characters without control characters")]
pub struct InvalidSubject;

impl Subject {
    pub fn new(text: &str) -> Result<Self, InvalidSubject> {
        if text.is_empty() || text.len() > MAX_SUBJECT_LEN || text.chars().any(char::is_control) {
            return Err(InvalidSubject);
        }
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The user id this subject is by itself, if it is a plain positive
    /// integer below [`FIRST_MAPPED_USER_ID`] (no sign, no leading zero).
    pub fn direct_user_id(&self) -> Option<UserId> {
        let s = self.0.as_str();
        if s.starts_with('0') || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let n: i64 = s.parse().ok()?;
        if n >= FIRST_MAPPED_USER_ID {
            return None;
        }
        UserId::new(n).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn direct(s: &str) -> Option<i64> {
        Subject::new(s).unwrap().direct_user_id().map(UserId::get)
    }

    #[test]
    fn only_plain_positive_integers_below_the_mapped_range_are_user_ids() {
        assert_eq!(direct("1001"), Some(1001));
        assert_eq!(direct("4503599627370495"), Some(FIRST_MAPPED_USER_ID - 1));
        assert_eq!(direct("4503599627370496"), None);
        assert_eq!(direct("0"), None);
        assert_eq!(direct("007"), None);
        assert_eq!(direct("+7"), None);
        assert_eq!(direct("-7"), None);
        assert_eq!(direct("auth0|5f7c8ec7c33c6c004bbafe82"), None);
        assert_eq!(direct("99999999999999999999999"), None);
    }

    #[test]
    fn empty_long_and_control_character_subjects_are_refused() {
        assert!(Subject::new("").is_err());
        assert!(Subject::new(&"a".repeat(256)).is_err());
        assert!(Subject::new("a\u{0}b").is_err());
        assert!(Subject::new("f47ac10b-58cc-4372-a567-0e02b2c3d479").is_ok());
    }
}
