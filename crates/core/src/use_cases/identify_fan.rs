//! From the subject of a fan's access token to their user id. Numeric
//! subjects are user ids as they are; any other subject is looked up (and,
//! the first time, given an id) in the store, then remembered in process:
//! a subject's id never changes, so the memory is never stale.

use super::App;
use crate::domain::UserId;
use crate::domain::identity::Subject;
use std::collections::HashMap;
use std::sync::Mutex;

/// How many mapped subjects one generation of the memory holds; two
/// generations are kept, so at most twice this.
const GENERATION: usize = 50_000;

/// Mapped subjects this instance has seen, in two generations: when the
/// current one fills, it becomes the previous one and the oldest is
/// dropped, so memory stays bounded and recently seen fans stay known.
#[derive(Debug, Default)]
pub(super) struct KnownSubjects {
    inner: Mutex<Generations>,
}

#[derive(Debug, Default)]
struct Generations {
    current: HashMap<String, UserId>,
    previous: HashMap<String, UserId>,
}

impl KnownSubjects {
    fn get(&self, subject: &str) -> Option<UserId> {
        let mut g = crate::memory::lock(&self.inner);
        if let Some(id) = g.current.get(subject) {
            return Some(*id);
        }
        let id = g.previous.remove(subject)?;
        g.remember(subject, id);
        Some(id)
    }

    fn insert(&self, subject: &str, id: UserId) {
        crate::memory::lock(&self.inner).remember(subject, id);
    }
}

impl Generations {
    fn remember(&mut self, subject: &str, id: UserId) {
        if self.current.len() >= GENERATION {
            self.previous = std::mem::take(&mut self.current);
        }
        self.current.insert(subject.to_owned(), id);
    }
}

impl App {
    /// The user id of the fan whose access token names `subject`.
    pub async fn identify_fan(&self, subject: &Subject) -> anyhow::Result<UserId> {
        if let Some(id) = subject.direct_user_id() {
            return Ok(id);
        }
        if let Some(id) = self.subjects.get(subject.as_str()) {
            return Ok(id);
        }
        let id = self.store().user_for_subject(subject).await?;
        self.subjects.insert(subject.as_str(), id);
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use crate::domain::identity::{FIRST_MAPPED_USER_ID, Subject};
    use crate::testing::TestApp;

    #[tokio::test]
    async fn numeric_subjects_are_user_ids_and_others_keep_the_id_they_were_given() {
        let t = TestApp::new().await;
        let numeric = Subject::new("1001").unwrap();
        assert_eq!(t.app.identify_fan(&numeric).await.unwrap().get(), 1001);
        let keycloak = Subject::new("f47ac10b-58cc-4372-a567-0e02b2c3d479").unwrap();
        let auth0 = Subject::new("auth0|5f7c8ec7c33c6c004bbafe82").unwrap();
        let a = t.app.identify_fan(&keycloak).await.unwrap();
        let b = t.app.identify_fan(&auth0).await.unwrap();
        assert!(a.get() >= FIRST_MAPPED_USER_ID && b.get() >= FIRST_MAPPED_USER_ID);
        assert_ne!(a, b);
        // Another instance, with nothing remembered, finds the same ids.
        let other = t.twin();
        assert_eq!(other.identify_fan(&keycloak).await.unwrap(), a);
        assert_eq!(other.identify_fan(&auth0).await.unwrap(), b);
    }
}
