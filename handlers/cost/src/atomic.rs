//! [`AtomicUsd`]: a lock-free, exact running total of attodollars.
//!
//! Stable Rust has no 128-bit atomics, so the `u128` total is two `AtomicU64` words. Adding is
//! `fetch_add` on the low word and, only when that carries (every 18.45 USD) or the amount itself
//! exceeds 18.45 USD, a second `fetch_add` on the high word. The final value is always exact
//! (addition commutes, and every carry is counted once). A reader racing a carry can see a value
//! up to one carry short, never more than the truth; the writer that completes last reads a
//! value that includes every completed add, which is what the budget check relies on.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::money::Usd;

/// A running total of [`Usd`], updated without locks.
#[derive(Debug, Default)]
pub(crate) struct AtomicUsd {
    high: AtomicU64,
    low: AtomicU64,
}

impl AtomicUsd {
    /// Adds `amount`.
    #[inline]
    pub(crate) fn add(&self, amount: Usd) {
        let atto = amount.atto();
        let low = atto as u64;
        let high = (atto >> 64) as u64;
        let before = self.low.fetch_add(low, Ordering::SeqCst);
        let carry = before.checked_add(low).is_none() as u64;
        let high = high.wrapping_add(carry);
        if high != 0 {
            self.high.fetch_add(high, Ordering::SeqCst);
        }
    }

    /// The total (see the module docs for what a racing reader sees).
    #[inline]
    pub(crate) fn load(&self) -> Usd {
        loop {
            let high = self.high.load(Ordering::SeqCst);
            let low = self.low.load(Ordering::SeqCst);
            if self.high.load(Ordering::SeqCst) == high {
                return Usd::from_atto(((high as u128) << 64) | low as u128);
            }
            std::hint::spin_loop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn carries_into_the_high_word() {
        let total = AtomicUsd::default();
        let near = Usd::from_atto(u64::MAX as u128 - 5);
        total.add(near);
        total.add(Usd::from_atto(10));
        assert_eq!(total.load().atto(), u64::MAX as u128 + 5);
        let big = Usd::from_atto(3u128 << 70);
        total.add(big);
        assert_eq!(total.load().atto(), u64::MAX as u128 + 5 + (3u128 << 70));
    }

    #[test]
    fn concurrent_adds_are_exact() {
        let total = AtomicUsd::default();
        let amount = Usd::from_atto(u64::MAX as u128 / 7 + 12_345);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..1_000 {
                        total.add(amount);
                    }
                });
            }
        });
        assert_eq!(total.load().atto(), amount.atto() * 4_000);
    }
}
