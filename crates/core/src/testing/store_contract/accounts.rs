//! The store contract: balances and charges.

use super::*;

pub async fn charges_add_up_within_the_limit(stores: Stores) {
    let f = fixture(stores).await;
    assert_eq!(f.balance(9).await, Won::ZERO);
    f.charge(9, 400_000).await;
    f.charge(9, 600_000).await;
    assert_eq!(
        f.charge(9, 1).await,
        ChargeOutcome::Refused(ChargeRefused::LimitExceeded {
            balance: Won::new(1_000_000),
            max: Won::new(1_000_000)
        })
    );
    assert_eq!(f.balance(9).await, Won::new(1_000_000));
    assert_eq!(ok(f.store.audit().await).money.charged, Won::new(1_000_000));
}

pub async fn concurrent_charges_add_up_exactly(stores: Stores) {
    let f = Arc::new(fixture(stores).await);
    let charges = (0..100).map(|_| {
        let f = f.clone();
        spawned(async move { f.charge(42, 1_000).await })
    });
    let outcomes = futures::future::join_all(charges).await;
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, ChargeOutcome::Charged(_)))
    );
    assert_eq!(f.balance(42).await, Won::new(100_000));
    assert_eq!(f.assert_ledger_reconciles().await.transactions, 100);
}
