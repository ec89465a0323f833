//! The double-entry ledger: every movement of money is one transaction of
//! postings between accounts that sum to zero, written in the same store
//! transaction as the change it records; and the reconciliation that checks
//! the books against the balances and the sales.
//!
//! Each posting is the change, in whole won, of its account's balance:
//! - [`Account::Fan`]: what the fan may spend; it equals their balance.
//! - [`Account::TopUps`]: the clearing account money comes in through; it
//!   goes down by every top-up, so it stands at minus all money taken in.
//! - [`Account::Revenue`]: a concert's takings, up by each sale's price and
//!   down by it again when the sale is cancelled.
//! - [`Account::Fees`]: what a concert kept of its cancelled sales.
//!
//! So the fans, the revenue and the fees together always hold exactly what
//! came in through top-ups: money is neither lost nor created.

use super::{ConcertId, EventId, ReservationId, UserId, Won};
use serde::Serialize;
use std::collections::BTreeMap;

/// An account of the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Account {
    Fan(UserId),
    TopUps,
    Revenue(ConcertId),
    Fees(ConcertId),
}

impl Account {
    /// The account's kind, as stored.
    pub fn kind(self) -> &'static str {
        match self {
            Account::Fan(_) => "FAN",
            Account::TopUps => "TOP_UPS",
            Account::Revenue(_) => "REVENUE",
            Account::Fees(_) => "FEES",
        }
    }

    /// The user or concert the account belongs to; 0 for the clearing account.
    pub fn owner(self) -> i64 {
        match self {
            Account::Fan(user) => user.get(),
            Account::TopUps => 0,
            Account::Revenue(concert) | Account::Fees(concert) => concert.get(),
        }
    }
}

/// One line of a transaction: `amount` added to `account` (negative takes away).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Posting {
    pub account: Account,
    pub amount: i64,
}

/// One movement of money. Its id names what moved it, so the same movement
/// can never be posted twice (the stores keep it unique per account).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerTransaction {
    id: String,
    postings: Vec<Posting>,
}

impl LedgerTransaction {
    /// What moved the money: `top-up:{event}`, `sale:{reservation}` or
    /// `cancellation:{reservation}`.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Its postings, none zero; they sum to zero.
    pub fn postings(&self) -> &[Posting] {
        &self.postings
    }

    fn new(id: String, postings: impl IntoIterator<Item = Posting>) -> Self {
        let postings = postings.into_iter().filter(|p| p.amount != 0).collect();
        Self { id, postings }
    }

    /// A top-up of `amount` into the fan's balance.
    pub fn top_up(event: EventId, user: UserId, amount: Won) -> Self {
        Self::new(
            format!("top-up:{event}"),
            [
                Posting {
                    account: Account::TopUps,
                    amount: -amount.amount(),
                },
                Posting {
                    account: Account::Fan(user),
                    amount: amount.amount(),
                },
            ],
        )
    }

    /// A sale: the price leaves the fan's balance for the concert's revenue.
    pub fn sale(reservation: ReservationId, user: UserId, concert: ConcertId, price: Won) -> Self {
        Self::new(
            format!("sale:{reservation}"),
            [
                Posting {
                    account: Account::Fan(user),
                    amount: -price.amount(),
                },
                Posting {
                    account: Account::Revenue(concert),
                    amount: price.amount(),
                },
            ],
        )
    }

    /// A cancellation: the price leaves the revenue, the refund goes back
    /// to the fan and the fee to the concert's fees.
    pub fn cancellation(
        reservation: ReservationId,
        user: UserId,
        concert: ConcertId,
        refund: Won,
        fee: Won,
    ) -> Self {
        Self::new(
            format!("cancellation:{reservation}"),
            [
                Posting {
                    account: Account::Revenue(concert),
                    amount: -(refund.amount() + fee.amount()),
                },
                Posting {
                    account: Account::Fan(user),
                    amount: refund.amount(),
                },
                Posting {
                    account: Account::Fees(concert),
                    amount: fee.amount(),
                },
            ],
        )
    }

    /// Whether the postings sum to zero.
    pub fn balances(&self) -> bool {
        self.postings
            .iter()
            .map(|p| i128::from(p.amount))
            .sum::<i128>()
            == 0
    }
}

/// What a store reads for a reconciliation: the ledger's own figures beside
/// the balances and the sales they must agree with. The stores compute the
/// per-row checks (each transaction, each fan) in their query and return
/// only the rows that fail; the totals are compared by [`reconcile`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LedgerFigures {
    /// Distinct transactions and accounts in the ledger.
    pub transactions: u64,
    pub accounts: u64,
    /// Transactions whose postings do not sum to zero, with their sum.
    pub unbalanced: Vec<(String, i64)>,
    /// Fans whose stored balance differs from their postings: the user,
    /// the balance, the postings' sum.
    pub fan_mismatches: Vec<(UserId, i64, i64)>,
    /// The top-ups account's total, and all charges of the balances' history.
    pub top_ups_posted: i64,
    pub charged: i64,
    /// Per concert: the revenue posted and the prices of its confirmed
    /// sales; the fees posted and the fees its cancellations kept.
    pub revenue_posted: BTreeMap<ConcertId, i64>,
    pub revenue_sold: BTreeMap<ConcertId, i64>,
    pub fees_posted: BTreeMap<ConcertId, i64>,
    pub fees_kept: BTreeMap<ConcertId, i64>,
}

/// One thing that does not balance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(
    tag = "kind",
    rename_all = "SCREAMING_SNAKE_CASE",
    rename_all_fields = "camelCase"
)]
pub enum LedgerProblem {
    /// A transaction's postings do not sum to zero.
    Unbalanced { transaction: String, sum: i64 },
    /// A fan's balance is not the sum of their postings.
    FanBalance {
        user: UserId,
        balance: i64,
        posted: i64,
    },
    /// The top-ups account is not minus everything charged.
    TopUps { posted: i64, charged: i64 },
    /// A concert's revenue is not the prices sold less those cancelled.
    Revenue {
        concert: ConcertId,
        posted: i64,
        sold: i64,
    },
    /// A concert's fees are not what its cancellations kept.
    Fees {
        concert: ConcertId,
        posted: i64,
        kept: i64,
    },
}

/// The outcome of a reconciliation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LedgerReport {
    pub transactions: u64,
    pub accounts: u64,
    pub problems: Vec<LedgerProblem>,
}

impl LedgerReport {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

impl LedgerProblem {
    /// The problem's kind, as serialised in its `kind` tag.
    pub fn kind(&self) -> &'static str {
        match self {
            LedgerProblem::Unbalanced { .. } => "UNBALANCED",
            LedgerProblem::FanBalance { .. } => "FAN_BALANCE",
            LedgerProblem::TopUps { .. } => "TOP_UPS",
            LedgerProblem::Revenue { .. } => "REVENUE",
            LedgerProblem::Fees { .. } => "FEES",
        }
    }
}

impl std::fmt::Display for LedgerProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LedgerProblem::Unbalanced { transaction, sum } => {
                write!(f, "ledger transaction {transaction} sums to {sum}, not 0")
            }
            LedgerProblem::FanBalance {
                user,
                balance,
                posted,
            } => write!(
                f,
                "fan {user}'s balance {balance} != their postings {posted}"
            ),
            LedgerProblem::TopUps { posted, charged } => {
                write!(f, "top-ups account {posted} != -{charged} charged")
            }
            LedgerProblem::Revenue {
                concert,
                posted,
                sold,
            } => write!(
                f,
                "concert {concert}'s revenue {posted} != {sold} sold and not cancelled"
            ),
            LedgerProblem::Fees {
                concert,
                posted,
                kept,
            } => write!(
                f,
                "concert {concert}'s fees {posted} != {kept} kept by cancellations"
            ),
        }
    }
}

/// Checks the figures: every transaction sums to zero, every fan's balance
/// is their postings, the top-ups account is minus all charges, and each
/// concert's revenue and fees are what its sales and cancellations say.
pub fn reconcile(figures: LedgerFigures) -> LedgerReport {
    let mut problems: Vec<LedgerProblem> = figures
        .unbalanced
        .into_iter()
        .map(|(transaction, sum)| LedgerProblem::Unbalanced { transaction, sum })
        .collect();
    problems.extend(
        figures
            .fan_mismatches
            .into_iter()
            .map(|(user, balance, posted)| LedgerProblem::FanBalance {
                user,
                balance,
                posted,
            }),
    );
    if figures.top_ups_posted != -figures.charged {
        problems.push(LedgerProblem::TopUps {
            posted: figures.top_ups_posted,
            charged: figures.charged,
        });
    }
    for (concert, posted, sold) in pairs(&figures.revenue_posted, &figures.revenue_sold) {
        problems.push(LedgerProblem::Revenue {
            concert,
            posted,
            sold,
        });
    }
    for (concert, posted, kept) in pairs(&figures.fees_posted, &figures.fees_kept) {
        problems.push(LedgerProblem::Fees {
            concert,
            posted,
            kept,
        });
    }
    LedgerReport {
        transactions: figures.transactions,
        accounts: figures.accounts,
        problems,
    }
}

/// The concerts whose two figures differ (a missing one counts as zero).
fn pairs(
    posted: &BTreeMap<ConcertId, i64>,
    expected: &BTreeMap<ConcertId, i64>,
) -> Vec<(ConcertId, i64, i64)> {
    let mut concerts: Vec<ConcertId> = posted.keys().chain(expected.keys()).copied().collect();
    concerts.sort_unstable();
    concerts.dedup();
    concerts
        .into_iter()
        .map(|c| {
            let at = |m: &BTreeMap<ConcertId, i64>| m.get(&c).copied().unwrap_or(0);
            (c, at(posted), at(expected))
        })
        .filter(|(_, posted, expected)| posted != expected)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{concert_id, user};
    use proptest::prelude::*;
    use uuid::Uuid;

    fn reservation() -> ReservationId {
        ReservationId::from_uuid(Uuid::from_u128(7))
    }

    #[test]
    fn each_problem_kind_is_its_serialised_tag() {
        let problems = [
            LedgerProblem::Unbalanced {
                transaction: "sale:x".into(),
                sum: 1,
            },
            LedgerProblem::FanBalance {
                user: user(1),
                balance: 2,
                posted: 1,
            },
            LedgerProblem::TopUps {
                posted: -1,
                charged: 2,
            },
            LedgerProblem::Revenue {
                concert: concert_id(1),
                posted: 1,
                sold: 2,
            },
            LedgerProblem::Fees {
                concert: concert_id(1),
                posted: 1,
                kept: 2,
            },
        ];
        let kinds: Vec<String> = problems
            .iter()
            .map(|p| {
                serde_json::to_value(p).unwrap()["kind"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        assert_eq!(
            kinds,
            problems.iter().map(LedgerProblem::kind).collect::<Vec<_>>()
        );
        assert_eq!(
            kinds,
            ["UNBALANCED", "FAN_BALANCE", "TOP_UPS", "REVENUE", "FEES"]
        );
    }

    #[test]
    fn each_movement_balances_and_names_what_moved_it() {
        let user = user(3);
        let concert = concert_id(1);
        let top_up =
            LedgerTransaction::top_up(EventId::from_uuid(Uuid::from_u128(9)), user, Won::new(100));
        assert!(top_up.balances());
        assert!(top_up.id.starts_with("top-up:"));
        let sale = LedgerTransaction::sale(reservation(), user, concert, Won::new(80));
        assert!(sale.balances());
        assert_eq!(
            sale.postings,
            vec![
                Posting {
                    account: Account::Fan(user),
                    amount: -80
                },
                Posting {
                    account: Account::Revenue(concert),
                    amount: 80
                },
            ]
        );
        let cancel = LedgerTransaction::cancellation(
            reservation(),
            user,
            concert,
            Won::new(72),
            Won::new(8),
        );
        assert!(cancel.balances());
        assert_eq!(cancel.postings.len(), 3);
        assert_ne!(sale.id, cancel.id);
    }

    #[test]
    fn a_zero_fee_or_zero_refund_posts_no_empty_line() {
        let user = user(3);
        let concert = concert_id(1);
        let no_fee =
            LedgerTransaction::cancellation(reservation(), user, concert, Won::new(80), Won::ZERO);
        assert_eq!(no_fee.postings.len(), 2);
        assert!(no_fee.balances());
        let all_fee =
            LedgerTransaction::cancellation(reservation(), user, concert, Won::ZERO, Won::new(80));
        assert!(
            all_fee
                .postings
                .iter()
                .all(|p| p.account != Account::Fan(user))
        );
        assert!(all_fee.balances());
    }

    proptest! {
        #[test]
        fn a_cancellation_balances_for_any_split_of_the_price(price in 0i64..10_000_000, fee_share in 0i64..=100) {
            let fee = price * fee_share / 100;
            let t = LedgerTransaction::cancellation(reservation(), user(1), concert_id(2), Won::new(price - fee), Won::new(fee));
            prop_assert!(t.balances());
        }
    }

    #[test]
    fn figures_that_agree_reconcile_and_each_disagreement_is_named() {
        let c1 = concert_id(1);
        let c2 = concert_id(2);
        let agreeing = LedgerFigures {
            transactions: 3,
            accounts: 4,
            top_ups_posted: -100,
            charged: 100,
            revenue_posted: BTreeMap::from([(c1, 80)]),
            revenue_sold: BTreeMap::from([(c1, 80)]),
            ..LedgerFigures::default()
        };
        let report = reconcile(agreeing.clone());
        assert!(report.ok(), "{report:?}");
        assert_eq!((report.transactions, report.accounts), (3, 4));

        let report = reconcile(LedgerFigures {
            unbalanced: vec![("sale:x".into(), 1)],
            fan_mismatches: vec![(user(5), 10, 9)],
            top_ups_posted: -99,
            revenue_sold: BTreeMap::from([(c1, 80), (c2, 5)]),
            fees_posted: BTreeMap::from([(c2, 3)]),
            ..agreeing
        });
        assert_eq!(
            report.problems,
            vec![
                LedgerProblem::Unbalanced {
                    transaction: "sale:x".into(),
                    sum: 1
                },
                LedgerProblem::FanBalance {
                    user: user(5),
                    balance: 10,
                    posted: 9
                },
                LedgerProblem::TopUps {
                    posted: -99,
                    charged: 100
                },
                LedgerProblem::Revenue {
                    concert: c2,
                    posted: 0,
                    sold: 5
                },
                LedgerProblem::Fees {
                    concert: c2,
                    posted: 3,
                    kept: 0
                },
            ]
        );
    }
}
