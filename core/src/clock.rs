//! Wall clocks for handlers: the [`Clock`] trait a handler reads "now" through (in nanoseconds
//! since the Unix epoch, UTC), the system's clock, and a [`ManualClock`] that moves only when told
//! to, so a test can put a handler on a calendar boundary.
//!
//! Span and event times do not go through here: they come from the bus's own clocks in
//! [`crate::context`] (`monotonic_nanos`, `unix_nanos_at`). A `Clock` is for what a handler needs
//! besides: the time of a log line when the event carries none, or which UTC day a budget is in.
//! [`SystemClock`] reads [`crate::context::unix_nanos_now`]; calendar dates of a reading come
//! from [`crate::calendar`].

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::context::unix_nanos_now;

/// Nanoseconds in one second.
pub const NANOS_PER_SECOND: u64 = 1_000_000_000;

/// Where a handler gets "now". Inject a [`ManualClock`] or a closure in tests.
///
/// Any `Fn() -> u64 + Send + Sync` closure returning nanoseconds since the epoch is a clock:
/// ```
/// use llm_telemetry_core::Clock;
/// let fixed = || 1_700_000_000_123_456_789u64;
/// assert_eq!(fixed.now_unix_nanos(), 1_700_000_000_123_456_789);
/// assert_eq!(fixed.now_unix_seconds(), 1_700_000_000);
/// ```
pub trait Clock: Send + Sync + 'static {
    /// Nanoseconds since the Unix epoch, UTC.
    fn now_unix_nanos(&self) -> u64;

    /// Whole seconds since the Unix epoch, UTC (the nanoseconds rounded down).
    fn now_unix_seconds(&self) -> u64 {
        self.now_unix_nanos() / NANOS_PER_SECOND
    }
}

/// The system's wall clock. A clock set before 1970 reads as the epoch (0); one past the year
/// 2554 (where nanoseconds overflow `u64`) reads as `u64::MAX`.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_unix_nanos(&self) -> u64 {
        unix_nanos_now()
    }
}

impl<F> Clock for F
where
    F: Fn() -> u64 + Send + Sync + 'static,
{
    fn now_unix_nanos(&self) -> u64 {
        self()
    }
}

/// A clock that moves only when told to (tests, simulations, replays). Clones share the time.
///
/// ```
/// use std::time::Duration;
/// use llm_telemetry_core::{Clock, ManualClock};
/// let clock = ManualClock::from_unix_seconds(1_617_231_600);
/// let shared = clock.clone();
/// clock.advance(Duration::from_millis(1_500));
/// assert_eq!(shared.now_unix_nanos(), 1_617_231_601_500_000_000);
/// assert_eq!(shared.now_unix_seconds(), 1_617_231_601);
/// ```
#[derive(Clone, Debug, Default)]
pub struct ManualClock {
    nanos: Arc<AtomicU64>,
}

impl ManualClock {
    /// A clock reading `unix_seconds` (saturating at `u64::MAX` nanoseconds, in the year 2554).
    pub fn from_unix_seconds(unix_seconds: u64) -> Self {
        Self::from_unix_nanos(unix_seconds.saturating_mul(NANOS_PER_SECOND))
    }

    /// A clock reading `unix_nanos`.
    pub fn from_unix_nanos(unix_nanos: u64) -> Self {
        ManualClock {
            nanos: Arc::new(AtomicU64::new(unix_nanos)),
        }
    }

    /// Sets the time to `unix_seconds` (saturating as [`ManualClock::from_unix_seconds`]).
    pub fn set_unix_seconds(&self, unix_seconds: u64) {
        self.set_unix_nanos(unix_seconds.saturating_mul(NANOS_PER_SECOND));
    }

    /// Sets the time to `unix_nanos`.
    pub fn set_unix_nanos(&self, unix_nanos: u64) {
        self.nanos.store(unix_nanos, Ordering::SeqCst);
    }

    /// Moves the time forward by `by`, saturating at `u64::MAX` nanoseconds.
    pub fn advance(&self, by: Duration) {
        let by = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        // The closure always returns `Some`, so the update cannot fail.
        let _ = self
            .nanos
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |now| {
                Some(now.saturating_add(by))
            });
    }
}

impl Clock for ManualClock {
    fn now_unix_nanos(&self) -> u64 {
        self.nanos.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_are_the_nanoseconds_rounded_down() {
        let clock = ManualClock::from_unix_nanos(2 * NANOS_PER_SECOND - 1);
        assert_eq!(clock.now_unix_seconds(), 1);
        clock.advance(Duration::from_nanos(1));
        assert_eq!(clock.now_unix_seconds(), 2);
        assert_eq!(clock.now_unix_nanos(), 2 * NANOS_PER_SECOND);
    }

    #[test]
    fn manual_clock_saturates_instead_of_wrapping() {
        // 2^32 seconds: past 2038 (i32 seconds) and still well inside u64 nanoseconds.
        let clock = ManualClock::from_unix_seconds(1 << 32);
        assert_eq!(clock.now_unix_nanos(), (1u64 << 32) * NANOS_PER_SECOND);
        clock.set_unix_seconds(u64::MAX / NANOS_PER_SECOND + 1);
        assert_eq!(clock.now_unix_nanos(), u64::MAX);
        clock.set_unix_nanos(u64::MAX - 5);
        clock.advance(Duration::from_secs(1));
        assert_eq!(clock.now_unix_nanos(), u64::MAX);
        clock.set_unix_nanos(0);
        clock.advance(Duration::MAX);
        assert_eq!(clock.now_unix_nanos(), u64::MAX);
    }

    #[test]
    fn clones_share_the_time() {
        let clock = ManualClock::from_unix_seconds(10);
        let other = clock.clone();
        other.set_unix_seconds(20);
        assert_eq!(clock.now_unix_seconds(), 20);
    }

    #[test]
    fn the_system_clock_reads_the_system_time() {
        let before = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
        let read = SystemClock.now_unix_nanos();
        let after = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
        assert!(before <= read && read <= after, "{before} {read} {after}");
    }
}
