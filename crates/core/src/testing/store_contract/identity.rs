//! The store contract: subjects and shared secrets.

use super::*;

pub async fn subjects_get_one_id_each_for_ever(Stores { store, .. }: Stores) {
    let keycloak = ok(Subject::new("f47ac10b-58cc-4372-a567-0e02b2c3d479"));
    let auth0 = ok(Subject::new("auth0|5f7c8ec7c33c6c004bbafe82"));
    // Twenty instances see the same new fan at once.
    let calls = (0..20).map(|_| {
        let (store, subject) = (store.clone(), keycloak.clone());
        tokio::spawn(async move { store.user_for_subject(&subject).await })
    });
    let ids: Vec<_> = futures::future::join_all(calls)
        .await
        .into_iter()
        .map(|joined| ok(ok(joined)))
        .collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    assert!(ids[0].get() >= FIRST_MAPPED_USER_ID);
    let other = ok(store.user_for_subject(&auth0).await);
    assert_ne!(other, ids[0]);
    assert!(other.get() >= FIRST_MAPPED_USER_ID);
    assert_eq!(ok(store.user_for_subject(&keycloak).await), ids[0]);
}

pub async fn the_first_signing_secret_stored_is_kept(Stores { store, .. }: Stores) {
    let calls = (0u8..10).map(|i| {
        let store = store.clone();
        tokio::spawn(async move { store.signing_secret("contract", &[i; 32]).await })
    });
    let secrets: Vec<Vec<u8>> = futures::future::join_all(calls)
        .await
        .into_iter()
        .map(|joined| ok(ok(joined)))
        .collect();
    assert!(secrets.iter().all(|s| *s == secrets[0]));
    assert_eq!(secrets[0].len(), 32);
    assert_eq!(
        ok(store.signing_secret("contract", &[99; 32]).await),
        secrets[0]
    );
    assert_eq!(
        ok(store.signing_secret("other", &[7; 32]).await),
        vec![7; 32]
    );
}
