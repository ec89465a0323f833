//! The invariant check run after every load test: nothing sold twice, no
//! negative balance, money conserved (refunds included), one event per
//! sale and per cancellation, a ledger that reconciles account by account,
//! admission in
//! line order (the waiting room's record of every admission's place in
//! line and time, compared pair by pair).

use super::App;
use crate::domain::ledger::LedgerReport;
use crate::domain::room;
use crate::ports::StoreAudit;
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InvariantReport {
    pub store: StoreAudit,
    pub ledger: LedgerReport,
    pub admission_inversions: u64,
    /// Empty when every invariant holds.
    pub violations: Vec<String>,
}

impl App {
    pub async fn check_invariants(&self) -> anyhow::Result<InvariantReport> {
        let store = self.store().audit().await?;
        let ledger = self.reconcile_ledger().await?;
        let mut admission_inversions = 0;
        for concert in self.store().list_concerts().await? {
            let admissions = self.adapters.waiting_room.admissions(concert.id).await?;
            admission_inversions += room::admission_inversions(&admissions);
        }
        let mut violations = Vec::new();
        let money = store.money;
        if !money.conserved() {
            violations.push(format!(
                "money not conserved: charged {} + refunded {} != balances {} + paid {}",
                money.charged.amount(),
                money.refunded.amount(),
                money.balances.amount(),
                money.paid.amount()
            ));
        }
        let counts = [
            (store.seats_sold_twice, "seats sold twice"),
            (store.negative_balances, "negative balances"),
            (store.sales_out_of_step, "sales out of step with seats"),
            (
                store.reservations_without_one_event,
                "reservations without exactly one event",
            ),
            (admission_inversions, "admissions out of line order"),
        ];
        for (n, what) in counts {
            if n > 0 {
                violations.push(format!("{n} {what}"));
            }
        }
        violations.extend(ledger.problems.iter().map(ToString::to_string));
        Ok(InvariantReport {
            store,
            ledger,
            admission_inversions,
            violations,
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::ports::Clock as _;
    use crate::testing::{TestApp, user};

    #[tokio::test]
    async fn a_normal_day_breaks_no_invariant() {
        let t = TestApp::new().await;
        t.buy_seat(user(1), 1).await;
        t.buy_seat(user(2), 2).await;
        t.charge(user(3), 5_000).await;
        let report = t.app.check_invariants().await.unwrap();
        assert!(report.violations.is_empty(), "{:?}", report.violations);
        assert!(report.ledger.ok());
        assert_eq!(report.store.reservations, 2);
        assert_eq!(report.store.money.charged.amount(), 305_000);
    }

    #[tokio::test]
    async fn a_room_admitting_out_of_line_order_is_caught() {
        let broken =
            std::sync::Arc::new(crate::memory::MemoryWaitingRoom::admitting_newest_first());
        let t = TestApp::with_waiting_room(broken).await;
        for u in 1..=4 {
            t.issue(user(u)).await;
        }
        // Batches of 100: one round admits all four (same instant, no order to break).
        t.app.activate_batch_once().await.unwrap();
        assert_eq!(
            t.app.check_invariants().await.unwrap().admission_inversions,
            0
        );
        t.issue(user(5)).await;
        t.issue(user(6)).await;
        let policy = crate::domain::queue_token::QueuePolicy {
            admit_batch: 1,
            ..crate::domain::queue_token::QueuePolicy::default()
        };
        let room = &t.app.adapters().waiting_room;
        room.admit(t.concert, t.clock.now(), &policy).await.unwrap();
        t.clock.advance_secs(1);
        room.admit(t.concert, t.clock.now(), &policy).await.unwrap();
        let report = t.app.check_invariants().await.unwrap();
        assert_eq!(
            report.admission_inversions, 1,
            "user 6 was let in before user 5"
        );
        assert!(
            report.violations.iter().any(|v| v.contains("out of")),
            "{:?}",
            report.violations
        );
    }
}
