//! Reconciling the double-entry ledger: every transaction sums to zero,
//! every fan's balance is their postings, and each concert's revenue and
//! fees are what its sales and cancellations say.

use super::App;
use crate::domain::ledger::{self, LedgerReport};

impl App {
    pub async fn reconcile_ledger(&self) -> anyhow::Result<LedgerReport> {
        Ok(ledger::reconcile(self.store().ledger_figures().await?))
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{TestApp, user};

    #[tokio::test]
    async fn top_ups_sales_and_a_cancellation_reconcile_account_by_account() {
        let t = TestApp::new().await;
        t.charge(user(3), 5_000).await;
        let receipt = t.buy_seat(user(1), 1).await;
        t.buy_seat(user(2), 2).await;
        t.app
            .cancel_reservation(user(1), receipt.reservations[0].reservation_id, None)
            .await
            .unwrap();
        let report = t.app.reconcile_ledger().await.unwrap();
        assert!(report.ok(), "{:?}", report.problems);
        // Three top-ups (buy_seat tops up first), two sales, one cancellation.
        assert_eq!(report.transactions, 6);
        // Three fans, the top-ups account, the concert's revenue; no fee a
        // date this far off.
        assert_eq!(report.accounts, 5);
    }
}
