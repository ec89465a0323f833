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

    /// How an operation's amount is drawn: fixed, or relative to the
    /// balance at the time, so that the edges (exactly up to the maximum,
    /// exactly the whole balance, one won either side) come up in most runs
    /// instead of by luck.
    #[derive(Debug, Clone, Copy)]
    enum Amount {
        Fixed(i64),
        /// `max - balance + offset`: what is left below the maximum.
        Headroom(i64),
        /// `balance + offset`: everything on the balance.
        Whole(i64),
    }

    impl Amount {
        fn resolve(self, max: i64, balance: i64) -> i64 {
            match self {
                Amount::Fixed(amount) => amount,
                Amount::Headroom(offset) => max - balance + offset,
                Amount::Whole(offset) => balance + offset,
            }
        }
    }

    fn amount(max: i64) -> impl Strategy<Value = Amount> {
        prop_oneof![
            3 => (1..=max).prop_map(Amount::Fixed),
            1 => (-3i64..=0).prop_map(Amount::Fixed),
            1 => (max - 2..=max + 2).prop_map(Amount::Fixed),
            1 => Just(Amount::Fixed(i64::MAX)),
            1 => Just(Amount::Fixed(i64::MIN)),
            2 => (-2i64..=2).prop_map(Amount::Headroom),
            2 => (-2i64..=2).prop_map(Amount::Whole),
        ]
    }

    /// What an operation does to a balance.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Verdict {
        /// Accepted: the balance afterwards.
        Now(i64),
        NotPositive,
        AboveLimit,
        /// A charge that would take the balance past the maximum.
        PastTheMax,
        /// A debit of more than the balance.
        Short,
    }

    /// The rules, on plain integers and written apart from the policy: a
    /// charge is 1 to `max` won and may not take the balance past `max`; a
    /// debit may not take it below 0.
    fn model(max: i64, balance: i64, is_charge: bool, amount: i64) -> Verdict {
        if !is_charge {
            return if amount <= balance {
                Verdict::Now(balance - amount)
            } else {
                Verdict::Short
            };
        }
        if amount < 1 {
            Verdict::NotPositive
        } else if amount > max {
            Verdict::AboveLimit
        } else if balance + amount > max {
            Verdict::PastTheMax
        } else {
            Verdict::Now(balance + amount)
        }
    }

    /// What the policy (and `Won`'s checked debit, which payments use) says.
    fn policy_says(policy: &BalancePolicy, balance: Won, is_charge: bool, amount: Won) -> Verdict {
        if !is_charge {
            return balance
                .checked_sub(amount)
                .map_or(Verdict::Short, |b| Verdict::Now(b.amount()));
        }
        match policy.validate_charge(amount) {
            Err(ChargeRejected::NotPositive) => Verdict::NotPositive,
            Err(ChargeRejected::AboveLimit(limit)) if limit == policy.max => Verdict::AboveLimit,
            Err(ChargeRejected::AboveLimit(limit)) => panic!("refused citing {limit}"),
            Ok(()) => policy
                .after_charge(balance, amount)
                .map_or(Verdict::PastTheMax, |b| Verdict::Now(b.amount())),
        }
    }

    proptest! {
        /// Every charge and debit of a sequence is put to the policy and to
        /// the integer model above: both must accept or refuse it alike (for
        /// the same reason), and leave the same balance, after every
        /// operation. The maximum is small enough that sequences reach it
        /// within a few charges. Debits are positive, as the domain makes
        /// them (prices).
        #[test]
        fn balance_policy_decides_every_charge_and_debit_as_the_integer_rules_do(
            (max, ops) in (1i64..=20_000).prop_flat_map(|max| (
                Just(max),
                proptest::collection::vec((any::<bool>(), amount(max)), 1..200),
            ))
        ) {
            let policy = BalancePolicy { max: Won::new(max) };
            let (mut balance, mut expected) = (Won::ZERO, 0i64);
            for (step, (is_charge, amount)) in ops.into_iter().enumerate() {
                let mut amount = amount.resolve(max, expected);
                if !is_charge {
                    amount = amount.max(1);
                }
                let wanted = model(max, expected, is_charge, amount);
                let got = policy_says(&policy, balance, is_charge, Won::new(amount));
                prop_assert_eq!(
                    got, wanted,
                    "step {}: {} of {} on a balance of {} (max {})",
                    step, if is_charge { "charge" } else { "debit" }, amount, expected, max
                );
                if let Verdict::Now(next) = got {
                    balance = Won::new(next);
                }
                if let Verdict::Now(next) = wanted {
                    expected = next;
                }
                prop_assert_eq!(balance.amount(), expected);
                prop_assert!((0..=max).contains(&expected));
            }
        }
    }
}
