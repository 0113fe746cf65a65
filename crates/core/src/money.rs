//! Exact money. Every price and cost is a `Usd` (a `rust_decimal::Decimal`), summed exactly;
//! conversion to a float happens only when a JSON number is written for a client.

use std::fmt;
use std::iter::Sum;
use std::ops::{Add, AddAssign, Mul, Sub};

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::{Deserialize, Serialize};

#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Usd(pub Decimal);

impl Usd {
    pub const ZERO: Usd = Usd(Decimal::ZERO);

    /// A price given in USD per million tokens, as price lists state it.
    pub fn per_mtok_to_per_token(per_mtok: Decimal) -> Usd {
        Usd(per_mtok / Decimal::from(1_000_000u32))
    }

    pub fn from_str_exact(s: &str) -> Option<Usd> {
        s.trim().parse::<Decimal>().ok().map(Usd)
    }

    /// For JSON output only. Never sum the result.
    pub fn to_f64(self) -> f64 {
        self.0.to_f64().unwrap_or(0.0)
    }

    /// Whole micro-dollars, rounded half-even; used where an integer is stored (metrics, logs).
    pub fn micros(self) -> i64 {
        (self.0 * Decimal::from(1_000_000u32))
            .round()
            .to_i64()
            .unwrap_or(i64::MAX)
    }

    pub fn is_zero(self) -> bool {
        self.0.is_zero()
    }
}

impl fmt::Display for Usd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.normalize())
    }
}

impl Add for Usd {
    type Output = Usd;
    fn add(self, o: Usd) -> Usd {
        Usd(self.0 + o.0)
    }
}

impl AddAssign for Usd {
    fn add_assign(&mut self, o: Usd) {
        self.0 += o.0;
    }
}

impl Sub for Usd {
    type Output = Usd;
    fn sub(self, o: Usd) -> Usd {
        Usd(self.0 - o.0)
    }
}

/// Price per token times a token count.
impl Mul<u64> for Usd {
    type Output = Usd;
    fn mul(self, n: u64) -> Usd {
        Usd(self.0 * Decimal::from(n))
    }
}

impl Sum for Usd {
    fn sum<I: Iterator<Item = Usd>>(iter: I) -> Usd {
        iter.fold(Usd::ZERO, Add::add)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn exact_sums() {
        let p = Usd::per_mtok_to_per_token(dec!(0.075));
        let c = p * 1234;
        assert_eq!(c.to_string(), "0.00009255");
        let total: Usd = (0..10).map(|_| Usd(dec!(0.1))).sum();
        assert_eq!(total, Usd(dec!(1.0)));
        assert_eq!(Usd(dec!(0.0000015)).micros(), 2);
    }
}
