//! The store contract: concerts and entry rules.

use super::*;

pub async fn entry_rules_default_to_no_gate_and_can_be_set(stores: Stores) {
    let f = fixture(stores).await;
    assert_eq!(
        ok(f.store.entry_rules(f.concert).await),
        Some(EntryRules::default())
    );
    let gated = ok(EntryRules::new(Some(18)));
    assert!(ok(f.store.set_entry_rules(f.concert, &gated).await));
    assert_eq!(ok(f.store.entry_rules(f.concert).await), Some(gated));
    assert!(ok(f
        .store
        .set_entry_rules(f.concert, &EntryRules::default())
        .await));
    assert_eq!(
        ok(f.store.entry_rules(f.concert).await),
        Some(EntryRules::default())
    );
    let unknown = crate::testing::concert_id(987_654);
    assert_eq!(ok(f.store.entry_rules(unknown).await), None);
    assert!(!ok(f.store.set_entry_rules(unknown, &gated).await));
}
