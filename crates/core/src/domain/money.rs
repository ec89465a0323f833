//! Money in whole won. Integers only: a float never touches a price or a balance.

use serde::{Deserialize, Serialize};

/// An amount of money in whole Korean won. May be zero; negative amounts are
/// never constructed by the domain (debits are expressed by subtraction that
/// is checked first).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Won(i64);

impl Won {
    pub const ZERO: Won = Won(0);

    pub const fn new(amount: i64) -> Self {
        Self(amount)
    }

    pub const fn amount(self) -> i64 {
        self.0
    }

    pub fn checked_add(self, other: Won) -> Option<Won> {
        self.0.checked_add(other.0).map(Won)
    }

    /// `self + other`, or the largest amount there is when that overflows.
    pub fn saturating_add(self, other: Won) -> Won {
        Won(self.0.saturating_add(other.0))
    }

    /// `self - other`, or `None` when that would go below zero.
    pub fn checked_sub(self, other: Won) -> Option<Won> {
        self.0.checked_sub(other.0).filter(|v| *v >= 0).map(Won)
    }
}

impl std::fmt::Display for Won {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} won", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subtraction_never_goes_below_zero() {
        assert_eq!(Won::new(5).checked_sub(Won::new(6)), None);
        assert_eq!(Won::new(5).checked_sub(Won::new(5)), Some(Won::ZERO));
    }
}
