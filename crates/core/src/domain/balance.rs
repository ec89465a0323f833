//! The prepaid point balance: charged by the user, debited by payments,
//! never below zero and never above the configured maximum.

use super::Won;

/// Bounds on charging.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BalancePolicy {
    /// The most a balance may ever hold.
    pub max: Won,
}

impl Default for BalancePolicy {
    fn default() -> Self {
        Self {
            max: Won::new(10_000_000),
        }
    }
}

/// Why a charge was refused before touching the balance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ChargeRejected {
    #[error("the amount must be a positive number of won")]
    NotPositive,
    #[error("the amount may not exceed the balance limit of {0}")]
    AboveLimit(Won),
}

impl BalancePolicy {
    /// A charge amount must be positive and cannot alone exceed the limit.
    pub fn validate_charge(&self, amount: Won) -> Result<(), ChargeRejected> {
        if amount.amount() <= 0 {
            Err(ChargeRejected::NotPositive)
        } else if amount > self.max {
            Err(ChargeRejected::AboveLimit(self.max))
        } else {
            Ok(())
        }
    }

    /// The balance after charging, or `None` when it would pass the limit.
    pub fn after_charge(&self, balance: Won, amount: Won) -> Option<Won> {
        balance.checked_add(amount).filter(|b| *b <= self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn charges_must_be_positive_and_within_the_limit() {
        let policy = BalancePolicy { max: Won::new(100) };
        assert_eq!(
            policy.validate_charge(Won::new(0)),
            Err(ChargeRejected::NotPositive)
        );
        assert_eq!(
            policy.validate_charge(Won::new(101)),
            Err(ChargeRejected::AboveLimit(Won::new(100)))
        );
        assert_eq!(
            policy.after_charge(Won::new(60), Won::new(40)),
            Some(Won::new(100))
        );
        assert_eq!(policy.after_charge(Won::new(61), Won::new(40)), None);
    }

    proptest! {
        /// Whatever sequence of charges and debits is attempted, applying only
        /// the allowed ones keeps the balance within [0, max] and equal to
        /// charged - debited: money is neither lost nor created.
        #[test]
        fn balance_stays_in_bounds_and_conserves_money(
            ops in proptest::collection::vec((any::<bool>(), 1i64..5_000), 0..200)
        ) {
            let policy = BalancePolicy { max: Won::new(20_000) };
            let (mut balance, mut charged, mut debited) = (Won::ZERO, 0i64, 0i64);
            for (is_charge, amount) in ops {
                let amount = Won::new(amount);
                if is_charge {
                    if policy.validate_charge(amount).is_ok()
                        && let Some(next) = policy.after_charge(balance, amount)
                    {
                        balance = next;
                        charged += amount.amount();
                    }
                } else if let Some(next) = balance.checked_sub(amount) {
                    balance = next;
                    debited += amount.amount();
                }
                prop_assert!(balance >= Won::ZERO && balance <= policy.max);
                prop_assert_eq!(balance.amount(), charged - debited);
            }
        }
    }
}
