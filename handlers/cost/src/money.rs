//! Exact money: [`Usd`], an amount of US dollars held as an integer count of **attodollars**
//! (10⁻¹⁸ USD), and the exact decimal parser that turns JSON number text such as `2.5e-06` into it.
//!
//! Why attodollars: LiteLLM's per-token prices go down to 10⁻¹² USD and below (`6.25e-11`), so a
//! nano- or picodollar unit would round real prices. At 10⁻¹⁸ every price in LiteLLM's file is
//! exact except a handful written with binary-float noise (`2.0000000000000002e-07`), which round
//! to the nearest attodollar (an error below 10⁻¹⁸ USD per token). A `u128` of attodollars holds
//! up to 3.4 × 10²⁰ USD, far beyond any bill. Floats appear only at the edge, in
//! [`Usd::as_f64`], for display and metrics; nothing is ever accumulated in floating point.
//!
//! This module does not know about prices or tokens; see [`crate::price`].

use std::fmt;
use std::str::FromStr;

use crate::error::AmountError;

/// Attodollars in one US dollar.
pub const ATTO_PER_USD: u128 = 1_000_000_000_000_000_000;

/// An exact, non-negative amount of US dollars, counted in attodollars (10⁻¹⁸ USD).
///
/// ```
/// use llm_telemetry_cost::Usd;
/// let price: Usd = "2.5e-06".parse().unwrap();
/// assert_eq!(price.atto(), 2_500_000_000_000);
/// assert_eq!((price * 1000).to_string(), "0.0025");
/// assert_eq!(Usd::from_cents(1250).to_string(), "12.5");
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Usd(u128);

impl Usd {
    /// Zero dollars.
    pub const ZERO: Usd = Usd(0);

    /// An amount of `atto` attodollars (10⁻¹⁸ USD).
    pub const fn from_atto(atto: u128) -> Self {
        Usd(atto)
    }
    /// Whole dollars.
    pub const fn from_dollars(dollars: u64) -> Self {
        Usd(dollars as u128 * ATTO_PER_USD)
    }
    /// Cents (10⁻² USD).
    pub const fn from_cents(cents: u64) -> Self {
        Usd(cents as u128 * (ATTO_PER_USD / 100))
    }
    /// Microdollars (10⁻⁶ USD), the unit price sheets quote "per million tokens" in.
    pub const fn from_micros(micros: u64) -> Self {
        Usd(micros as u128 * (ATTO_PER_USD / 1_000_000))
    }
    /// Nanodollars (10⁻⁹ USD).
    pub const fn from_nanos(nanos: u64) -> Self {
        Usd(nanos as u128 * (ATTO_PER_USD / 1_000_000_000))
    }
    /// An amount given as a float number of dollars (configuration files, environment
    /// variables), read through its shortest decimal text so `0.1` is exactly 0.1 USD, not the
    /// binary float nearest to it.
    pub fn from_dollars_f64(dollars: f64) -> Result<Usd, AmountError> {
        if !dollars.is_finite() {
            return Err(AmountError::Invalid {
                text: dollars.to_string(),
                reason: "it is not a finite number",
            });
        }
        // `{}` writes the shortest text that reads back as the same f64.
        Usd::parse_decimal(&format!("{dollars}"))
    }
    /// The amount in attodollars.
    pub const fn atto(self) -> u128 {
        self.0
    }
    /// The amount in dollars as a float, for display and metrics only (never sum these).
    pub fn as_f64(self) -> f64 {
        let whole = (self.0 / ATTO_PER_USD) as f64;
        let fraction = (self.0 % ATTO_PER_USD) as f64 / ATTO_PER_USD as f64;
        whole + fraction
    }
    /// `self + other`, or `None` on overflow.
    pub const fn checked_add(self, other: Usd) -> Option<Usd> {
        match self.0.checked_add(other.0) {
            Some(v) => Some(Usd(v)),
            None => None,
        }
    }
    /// `self + other`, saturating at the largest amount.
    pub const fn saturating_add(self, other: Usd) -> Usd {
        Usd(self.0.saturating_add(other.0))
    }
    /// `self - other`, or zero if `other` is larger.
    pub const fn saturating_sub(self, other: Usd) -> Usd {
        Usd(self.0.saturating_sub(other.0))
    }
    /// Parses a non-negative decimal number (`12`, `0.25`, `2.5e-06`, `3E-7`) exactly, rounding
    /// digits below one attodollar half-to-even.
    pub fn parse_decimal(text: &str) -> Result<Usd, AmountError> {
        parse_decimal_atto(text).map(Usd)
    }
}

impl std::ops::Add for Usd {
    type Output = Usd;
    /// Saturating: an amount past 3.4 × 10²⁰ USD is not a bill.
    fn add(self, other: Usd) -> Usd {
        self.saturating_add(other)
    }
}

impl std::ops::AddAssign for Usd {
    fn add_assign(&mut self, other: Usd) {
        *self = self.saturating_add(other);
    }
}

impl std::ops::Mul<u64> for Usd {
    type Output = Usd;
    /// Saturating multiplication by a count (tokens, calls).
    fn mul(self, n: u64) -> Usd {
        Usd(self.0.saturating_mul(n as u128))
    }
}

impl std::iter::Sum for Usd {
    fn sum<I: Iterator<Item = Usd>>(iter: I) -> Usd {
        iter.fold(Usd::ZERO, |a, b| a + b)
    }
}

impl FromStr for Usd {
    type Err = AmountError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Usd::parse_decimal(s)
    }
}

impl fmt::Display for Usd {
    /// The exact decimal amount in dollars, without trailing zeros (`0.0025`, `12.5`, `3`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let whole = self.0 / ATTO_PER_USD;
        let fraction = self.0 % ATTO_PER_USD;
        if fraction == 0 {
            return write!(f, "{whole}");
        }
        let digits = format!("{fraction:018}");
        write!(f, "{whole}.{}", digits.trim_end_matches('0'))
    }
}

/// Powers of ten that fit a `u128` (10⁰ … 10³⁸).
const fn pow10(n: u32) -> Option<u128> {
    10u128.checked_pow(n)
}

/// Parses JSON-number-like decimal text into attodollars, exactly, rounding half-to-even below
/// one attodollar.
pub(crate) fn parse_decimal_atto(text: &str) -> Result<u128, AmountError> {
    let bad = |reason: &'static str| AmountError::Invalid {
        text: text.to_owned(),
        reason,
    };
    let s = text.trim();
    if s.is_empty() {
        return Err(bad("it is empty"));
    }
    let (negative, s) = match s.as_bytes()[0] {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let (number, exponent) = match s.find(['e', 'E']) {
        Some(i) => {
            let exp: i64 = s[i + 1..]
                .parse()
                .map_err(|_| bad("its exponent is not an integer"))?;
            (&s[..i], exp)
        }
        None => (s, 0),
    };
    let (int_part, frac_part) = match number.find('.') {
        Some(i) => (&number[..i], &number[i + 1..]),
        None => (number, ""),
    };
    if int_part.is_empty() && frac_part.is_empty() {
        return Err(bad("it has no digits"));
    }
    if !int_part
        .bytes()
        .chain(frac_part.bytes())
        .all(|b| b.is_ascii_digit())
    {
        return Err(bad("it is not a decimal number"));
    }
    // Significant digits, with leading zeros dropped; the value is digits × 10^(scale).
    let all = int_part.bytes().chain(frac_part.bytes());
    let mut mantissa: u128 = 0;
    let mut kept = 0u32;
    let mut dropped_exponent: i64 = 0;
    // Digits past what a u128 can hold: the first one decides rounding, the rest are sticky.
    let mut first_dropped: Option<u8> = None;
    let mut sticky = false;
    for b in all {
        let d = b - b'0';
        if mantissa == 0 && d == 0 {
            continue;
        }
        if kept < 37 {
            mantissa = mantissa * 10 + d as u128;
            kept += 1;
        } else {
            dropped_exponent += 1;
            match first_dropped {
                None => first_dropped = Some(d),
                Some(_) => sticky |= d != 0,
            }
        }
    }
    if mantissa == 0 {
        return Ok(0);
    }
    if negative {
        return Err(AmountError::Negative {
            text: text.to_owned(),
        });
    }
    // value = mantissa × 10^(exponent − len(frac) + dropped); in atto: add 18.
    let scale = exponent
        .saturating_sub(frac_part.len() as i64)
        .saturating_add(dropped_exponent)
        .saturating_add(18);
    let too_large = || AmountError::TooLarge {
        text: text.to_owned(),
    };
    if scale >= 0 {
        // Dropped digits only exist when the mantissa is full (37 digits): any positive scale
        // then overflows anyway, so ignoring their rounding here loses nothing.
        let factor = u32::try_from(scale)
            .ok()
            .and_then(pow10)
            .ok_or_else(too_large)?;
        return mantissa.checked_mul(factor).ok_or_else(too_large);
    }
    let shift = scale.unsigned_abs();
    // Divide by 10^shift with round-half-to-even, folding in the dropped digits.
    let Some(divisor) = u32::try_from(shift).ok().and_then(pow10) else {
        return Ok(0); // below 10⁻⁵⁵ USD: zero attodollars, whichever way it rounds
    };
    let quotient = mantissa / divisor;
    let remainder = mantissa % divisor;
    let half = divisor / 2;
    let round_up = match remainder.cmp(&half) {
        std::cmp::Ordering::Greater => true,
        std::cmp::Ordering::Less => false,
        std::cmp::Ordering::Equal => {
            // divisor is a power of ten ≥ 10, so half is exact; ties go to even unless the
            // dropped digits say the true value is above the tie.
            first_dropped.is_some_and(|d| d > 0) || sticky || quotient % 2 == 1
        }
    };
    Ok(quotient + round_up as u128)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn atto(s: &str) -> u128 {
        parse_decimal_atto(s).unwrap()
    }

    #[test]
    fn parses_litellm_number_text_exactly() {
        assert_eq!(atto("2.5e-06"), 2_500_000_000_000);
        assert_eq!(atto("1e-05"), 10_000_000_000_000);
        assert_eq!(atto("6.25e-11"), 62_500_000);
        assert_eq!(atto("0.0"), 0);
        assert_eq!(atto("0"), 0);
        assert_eq!(atto("12"), 12 * ATTO_PER_USD);
        assert_eq!(atto("3E-7"), 300_000_000_000);
        assert_eq!(atto("0.00971"), 9_710_000_000_000_000);
        assert_eq!(atto("1e-18"), 1);
        assert_eq!(atto(".5"), ATTO_PER_USD / 2);
    }

    #[test]
    fn float_noise_rounds_to_the_nearest_attodollar() {
        assert_eq!(atto("2.0000000000000002e-07"), 200_000_000_000);
        assert_eq!(atto("2.9999900000000002e-06"), 2_999_990_000_000);
        assert_eq!(atto("9.499999999999999e-07"), 950_000_000_000);
        // Ties go to even.
        assert_eq!(atto("0.5e-18"), 0);
        assert_eq!(atto("1.5e-18"), 2);
        assert_eq!(atto("2.5e-18"), 2);
        assert_eq!(atto("2.50000000000000000000000000000000000000001e-18"), 3);
    }

    #[test]
    fn rejects_bad_text_with_the_value() {
        assert!(matches!(
            parse_decimal_atto("-1e-6"),
            Err(AmountError::Negative { text }) if text == "-1e-6"
        ));
        assert!(matches!(
            parse_decimal_atto("abc"),
            Err(AmountError::Invalid { .. })
        ));
        assert!(matches!(
            parse_decimal_atto("1e40"),
            Err(AmountError::TooLarge { .. })
        ));
        assert!(matches!(
            parse_decimal_atto(""),
            Err(AmountError::Invalid { .. })
        ));
        assert!(matches!(
            parse_decimal_atto("."),
            Err(AmountError::Invalid { .. })
        ));
        assert_eq!(atto("1e-60"), 0);
        assert_eq!(atto("-0"), 0);
    }

    #[test]
    fn floats_are_read_through_their_shortest_decimal_text() {
        assert_eq!(Usd::from_dollars_f64(0.1).unwrap(), "0.1".parse().unwrap());
        assert_eq!(Usd::from_dollars_f64(2.5).unwrap(), Usd::from_cents(250));
        assert_eq!(
            Usd::from_dollars_f64(1e-7).unwrap(),
            Usd::from_atto(100_000_000_000)
        );
        assert!(matches!(
            Usd::from_dollars_f64(-1.0),
            Err(AmountError::Negative { .. })
        ));
        assert!(matches!(
            Usd::from_dollars_f64(f64::NAN),
            Err(AmountError::Invalid { .. })
        ));
    }

    #[test]
    fn displays_exact_decimals() {
        assert_eq!(Usd::from_atto(1).to_string(), "0.000000000000000001");
        assert_eq!(Usd::from_dollars(3).to_string(), "3");
        assert_eq!(Usd::from_micros(2_500).to_string(), "0.0025");
        assert_eq!(Usd::ZERO.to_string(), "0");
        assert!((Usd::from_cents(1234).as_f64() - 12.34).abs() < 1e-12);
    }
}
