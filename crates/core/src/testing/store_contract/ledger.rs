//! The store contract: the double-entry ledger (the accounts port).

use super::*;
use crate::domain::ledger::reconcile;
use crate::ports::CancelOutcome;
use std::collections::BTreeMap;

pub async fn every_movement_of_money_is_posted_once_and_the_ledger_reconciles(stores: Stores) {
    let f = fixture(stores).await;
    let kept = f.bought(1, 12, T0).await;
    let returned = f.bought(2, 13, T0).await;
    let CancelOutcome::Cancelled(cancelled) = f
        .cancel(2, returned.reservations[0].reservation_id, T0.plus_secs(60))
        .await
    else {
        panic!("the owner cancels before the deadline")
    };
    assert!(
        cancelled.fee > Won::ZERO,
        "the fixture's policy keeps a fee"
    );
    let figures = ok(f.store.ledger_figures().await);
    // Two top-ups, two sales, one cancellation.
    assert_eq!(figures.transactions, 5);
    // Two fans, the top-ups account, the concert's revenue and its fees.
    assert_eq!(figures.accounts, 5);
    assert_eq!(figures.unbalanced, vec![]);
    assert_eq!(figures.fan_mismatches, vec![]);
    assert_eq!(
        (figures.top_ups_posted, figures.charged),
        (-300_000, 300_000)
    );
    let price = kept.price.amount();
    assert_eq!(
        figures.revenue_posted,
        BTreeMap::from([(f.concert, price)]),
        "the cancelled sale's price left the revenue again"
    );
    assert_eq!(figures.revenue_sold, BTreeMap::from([(f.concert, price)]));
    let fee = cancelled.fee.amount();
    assert_eq!(figures.fees_posted, BTreeMap::from([(f.concert, fee)]));
    assert_eq!(figures.fees_kept, BTreeMap::from([(f.concert, fee)]));
    let report = reconcile(figures);
    assert!(report.ok(), "{:?}", report.problems);

    // A repeat of the cancellation is refused and posts nothing more.
    assert!(matches!(
        f.cancel(2, returned.reservations[0].reservation_id, T0.plus_secs(61))
            .await,
        CancelOutcome::Refused(_)
    ));
    assert_eq!(f.assert_ledger_reconciles().await.transactions, 5);
}
