//! The accounts port on SQL: balances and charges, each change a
//! `balance_entry` row in the same transaction.

use super::*;
use crate::conn::{Conn, Tx};
use crate::values::args;
use async_trait::async_trait;
use boxoffice_core::domain::events::{self, BalanceCharged};
use boxoffice_core::domain::idempotency::{IdempotencyTicket, Recorded};
use boxoffice_core::domain::ledger::{LedgerFigures, LedgerTransaction};
use boxoffice_core::domain::{UserId, Won};
use boxoffice_core::ports::{Accounts, ChargeAttempt, ChargeOutcome, ChargeReceipt, ChargeRefused};

#[async_trait]
impl<B: Backend> Accounts for SqlStore<B> {
    async fn charge_balance(
        &self,
        a: &ChargeAttempt,
        ticket: Option<&IdempotencyTicket>,
    ) -> anyhow::Result<ChargeOutcome> {
        let mut tx = self.backend.begin().await?;
        tx.execute(
            "INSERT INTO balance (user_id, amount, updated_at_ms) VALUES ($1, 0, $2)
             ON CONFLICT (user_id) DO NOTHING",
            args![a.user_id.get(), a.now.as_millis()],
        )
        .await?;
        let charged = self
            .change_balance(&mut tx, a.user_id, a.amount.amount(), a.max_balance, a.now)
            .await?;
        let Some(after) = charged else {
            let balance = current_balance(&mut tx, a.user_id).await?;
            return Ok(ChargeOutcome::Refused(ChargeRefused::LimitExceeded {
                balance,
                max: a.max_balance,
            }));
        };
        let reference = a.event_id.to_string();
        let entry = Entry {
            user: a.user_id,
            kind: "CHARGE",
            amount: a.amount,
            after,
            reference: &reference,
            now: a.now,
        };
        append_entry(&mut tx, entry).await?;
        let posted = LedgerTransaction::top_up(a.event_id, a.user_id, a.amount);
        post(&mut tx, &posted, a.now).await?;
        let event = events::balance_charged(
            a.event_id,
            BalanceCharged {
                user_id: a.user_id,
                amount: a.amount,
                balance: after,
                charged_at: a.now,
            },
        );
        append_event(&mut tx, &event).await?;
        let receipt = ChargeReceipt { balance: after };
        let answer = Recorded::<ChargeReceipt, ChargeRefused>::Done(receipt).to_json();
        record_answer(&mut tx, ticket, answer).await?;
        tx.commit().await?;
        Ok(ChargeOutcome::Charged(receipt))
    }

    async fn balance(&self, user: UserId) -> anyhow::Result<Won> {
        current_balance(&mut self.reader(), user).await
    }

    async fn ledger_figures(&self) -> anyhow::Result<LedgerFigures> {
        // One statement, so one snapshot: the ledger, the balances and the
        // sales are read as of the same instant even while fans buy.
        let rows = self.reader().fetch_all(LEDGER_FIGURES, args![]).await?;
        let mut figures = LedgerFigures::default();
        for row in rows {
            let (a, b) = (row.int("a")?, row.int("b")?);
            let owner = row.int("owner")?;
            let concert = || ConcertId::new(owner).map_err(anyhow::Error::from);
            match row.text("what")?.as_str() {
                "COUNTS" => {
                    figures.transactions = u64::try_from(a)?;
                    figures.accounts = u64::try_from(b)?;
                }
                "CHARGED" => figures.charged = a,
                "UNBALANCED" => figures.unbalanced.push((row.text("name")?, a)),
                "FAN" => figures.fan_mismatches.push((UserId::new(owner)?, a, b)),
                "TOP_UPS" => figures.top_ups_posted = a,
                "REVENUE" => _ = figures.revenue_posted.insert(concert()?, a),
                "FEES" => _ = figures.fees_posted.insert(concert()?, a),
                "SOLD" => _ = figures.revenue_sold.insert(concert()?, a),
                "KEPT" => _ = figures.fees_kept.insert(concert()?, a),
                other => anyhow::bail!("unexpected ledger figure {other}"),
            }
        }
        figures.unbalanced.sort();
        figures.fan_mismatches.sort();
        Ok(figures)
    }
}

/// The ledger's figures as rows of `(what, name, owner, a, b)`. It lists at
/// most 100 unbalanced transactions and 100 mismatched fans of each side.
const LEDGER_FIGURES: &str = "
    WITH fan AS (
        SELECT account_owner AS owner, CAST(SUM(amount) AS BIGINT) AS total
          FROM ledger_posting WHERE account_kind = 'FAN' GROUP BY account_owner
    )
    SELECT 'COUNTS' AS what, '' AS name, CAST(0 AS BIGINT) AS owner,
           (SELECT COUNT(DISTINCT transaction_id) FROM ledger_posting) AS a,
           (SELECT COUNT(*) FROM (SELECT DISTINCT account_kind, account_owner FROM ledger_posting) d) AS b
    UNION ALL
    SELECT 'CHARGED', '', 0,
           (SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM balance_entry WHERE kind = 'CHARGE'), 0
    UNION ALL
    SELECT * FROM (
        SELECT 'UNBALANCED', transaction_id, 0, CAST(SUM(amount) AS BIGINT), 0
          FROM ledger_posting GROUP BY transaction_id HAVING SUM(amount) <> 0
         ORDER BY transaction_id LIMIT 100) u
    UNION ALL
    SELECT * FROM (
        SELECT 'FAN', '', b.user_id, b.amount, COALESCE(f.total, 0)
          FROM balance b LEFT JOIN fan f ON f.owner = b.user_id
         WHERE b.amount <> COALESCE(f.total, 0)
         ORDER BY b.user_id LIMIT 100) m
    UNION ALL
    SELECT * FROM (
        SELECT 'FAN', '', f.owner, 0, f.total FROM fan f
         WHERE f.total <> 0 AND NOT EXISTS (SELECT 1 FROM balance b WHERE b.user_id = f.owner)
         ORDER BY f.owner LIMIT 100) n
    UNION ALL
    SELECT account_kind, '', account_owner, CAST(SUM(amount) AS BIGINT), 0
      FROM ledger_posting WHERE account_kind <> 'FAN' GROUP BY account_kind, account_owner
    UNION ALL
    SELECT 'SOLD', '', concert_id, CAST(SUM(price) AS BIGINT), 0
      FROM reservation WHERE status = 'CONFIRMED' GROUP BY concert_id
    UNION ALL
    SELECT 'KEPT', '', concert_id, CAST(SUM(fee) AS BIGINT), 0
      FROM reservation WHERE status = 'CANCELLED' GROUP BY concert_id";

/// Tampering behind the store's back is what the reconciliation exists to
/// catch: a posting changed without its balance, or a balance without its
/// posting. Both backends run this (`sqlite.rs`, `postgres.rs`).
#[cfg(test)]
pub(crate) async fn tampering_with_a_posting_or_a_balance_is_reported<B: Backend>(
    store: &SqlStore<B>,
) {
    use boxoffice_core::domain::EventId;
    use boxoffice_core::domain::Timestamp;
    use boxoffice_core::domain::ledger::{LedgerProblem, reconcile};

    let fan = UserId::new(7).unwrap_or_else(|e| panic!("{e}"));
    let event = EventId::from_uuid(uuid::Uuid::new_v4());
    let attempt = ChargeAttempt {
        user_id: fan,
        amount: Won::new(10_000),
        max_balance: Won::new(1_000_000),
        now: Timestamp::from_millis(1_000),
        event_id: event,
    };
    let charged = store.charge_balance(&attempt, None).await;
    assert!(
        matches!(charged, Ok(ChargeOutcome::Charged(_))),
        "{charged:?}"
    );
    let report = || async {
        reconcile(
            store
                .ledger_figures()
                .await
                .unwrap_or_else(|e| panic!("{e:#}")),
        )
    };
    assert!(report().await.ok(), "an honest charge reconciles");
    let tamper = |sql: &'static str| async move {
        assert_eq!(tamper(store, sql).await, 1, "{sql}");
    };

    // One posting grows by a won: its transaction no longer sums to zero and
    // the fan's postings no longer match the balance.
    tamper("UPDATE ledger_posting SET amount = amount + 1 WHERE account_kind = 'FAN'").await;
    assert_eq!(
        report().await.problems,
        vec![
            LedgerProblem::Unbalanced {
                transaction: format!("top-up:{event}"),
                sum: 1
            },
            LedgerProblem::FanBalance {
                user: fan,
                balance: 10_000,
                posted: 10_001
            },
        ]
    );
    tamper("UPDATE ledger_posting SET amount = amount - 1 WHERE account_kind = 'FAN'").await;
    assert!(report().await.ok(), "putting it back reconciles again");

    // The balance grows without a posting: money from nowhere.
    tamper("UPDATE balance SET amount = amount + 5 WHERE user_id = 7").await;
    assert_eq!(
        report().await.problems,
        vec![LedgerProblem::FanBalance {
            user: fan,
            balance: 10_005,
            posted: 10_000
        }]
    );
    tamper("UPDATE balance SET amount = amount - 5 WHERE user_id = 7").await;

    // The top-ups side of the charge disappears.
    tamper("DELETE FROM ledger_posting WHERE account_kind = 'TOP_UPS'").await;
    assert_eq!(
        report().await.problems,
        vec![
            LedgerProblem::Unbalanced {
                transaction: format!("top-up:{event}"),
                sum: 10_000
            },
            LedgerProblem::TopUps {
                posted: 0,
                charged: 10_000
            },
        ]
    );
}

/// The store contract's tampered sale
/// ([`boxoffice_core::testing::store_contract::a_sale_broken_behind_the_stores_back_shows_in_its_audit`]),
/// its statements run on the backend's own connection. Both backends run it.
#[cfg(test)]
pub(crate) async fn a_sale_broken_behind_the_stores_back_shows_in_its_audit<B: Backend>(
    store: std::sync::Arc<SqlStore<B>>,
) where
    SqlStore<B>: boxoffice_core::ports::Store,
{
    use boxoffice_core::testing::store_contract::{Stores, own_booking};
    let stores = Stores {
        store: store.clone(),
        booking: own_booking(store.clone()),
    };
    let tamper = |sql: &'static str| {
        let store = store.clone();
        async move {
            assert!(tamper(&store, sql).await > 0, "{sql}");
        }
    };
    boxoffice_core::testing::store_contract::a_sale_broken_behind_the_stores_back_shows_in_its_audit(
        stores, tamper,
    )
    .await;
}

/// Runs `sql` behind the store's back, in a transaction of its own; the
/// rows it changed.
#[cfg(test)]
async fn tamper<B: Backend>(store: &SqlStore<B>, sql: &'static str) -> u64 {
    let mut tx = store
        .backend
        .begin()
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    let changed = tx
        .execute(sql, args![])
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e:#}"));
    tx.commit().await.unwrap_or_else(|e| panic!("{e:#}"));
    changed
}
