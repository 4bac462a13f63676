//! Retries with exponential backoff, as the OTLP exporter of `opentelemetry-otlp` 0.33.1 does
//! them (its default policy: 3 retries, 100 ms first delay doubling up to 1.6 s, up to 100 ms of
//! jitter, a server's throttling delay honoured up to 30 s, all within the export timeout), so
//! that sending one request per batch keeps the SDK exporter's retry semantics exactly.
//!
//! Which failures are retried is the transport's call ([`Retry`]): HTTP 429/503 (throttled when
//! they carry `Retry-After`), 502, 504 and network errors; gRPC `UNAVAILABLE`, `CANCELLED`,
//! `DEADLINE_EXCEEDED`, `ABORTED`, `OUT_OF_RANGE`, `DATA_LOSS`, and `RESOURCE_EXHAUSTED` with a
//! retry delay.

use std::collections::hash_map::DefaultHasher;
use std::future::Future;
use std::hash::Hasher;
use std::time::{Duration, Instant, SystemTime};

/// Retries after the first attempt.
const MAX_RETRIES: usize = 3;
/// The delay before the first retry.
const INITIAL_DELAY: Duration = Duration::from_millis(100);
/// The longest delay between attempts (a server's throttling delay may raise it).
const MAX_DELAY: Duration = Duration::from_millis(1600);
/// The most random jitter added to a delay.
const MAX_JITTER: Duration = Duration::from_millis(100);
/// The longest throttling delay honoured.
const MAX_THROTTLE: Duration = Duration::from_secs(30);

/// What a failed attempt allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Retry {
    /// Give up at once.
    Never,
    /// Try again after the backoff delay.
    After,
    /// The server asked to wait this long before the next attempt.
    Throttled(Duration),
}

/// Up to `max_jitter`, from the clock's nanoseconds.
fn jitter(max_jitter: Duration) -> Duration {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let mut hasher = DefaultHasher::default();
    hasher.write_u32(nanos);
    let max_ms = max_jitter.as_millis().min(u64::MAX as u128) as u64;
    Duration::from_millis(hasher.finish() % max_ms.saturating_add(1))
}

/// Runs `attempt` until it succeeds, `classify` says not to retry, the retries are used up, or
/// the next attempt could not start within `deadline` (from the first attempt); the last
/// error is returned. Delays sleep on the tokio runtime the export runs on.
pub(crate) async fn with_backoff<F, Fut, T, E>(
    deadline: Duration,
    classify: impl Fn(&E) -> Retry,
    mut attempt: F,
) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let start = Instant::now();
    let mut retries = 0;
    let mut delay = INITIAL_DELAY;
    let mut delay_cap = MAX_DELAY;
    loop {
        let error = match attempt().await {
            Ok(result) => return Ok(result),
            Err(error) => error,
        };
        if start.elapsed() >= deadline || retries >= MAX_RETRIES {
            return Err(error);
        }
        match classify(&error) {
            Retry::Never => return Err(error),
            Retry::After => {}
            Retry::Throttled(server_delay) => {
                let capped = server_delay.min(MAX_THROTTLE);
                if capped > delay_cap {
                    delay_cap = MAX_THROTTLE;
                }
                if !capped.is_zero() {
                    delay = delay.max(capped);
                }
            }
        }
        retries += 1;
        let sleep = delay.saturating_add(jitter(MAX_JITTER)).min(delay_cap);
        if sleep >= deadline.saturating_sub(start.elapsed()) {
            return Err(error);
        }
        tokio::time::sleep(sleep).await;
        delay = delay.saturating_mul(2).min(delay_cap);
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    fn run<T>(future: impl Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
            .block_on(future)
    }

    #[test]
    fn retryable_failures_are_tried_four_times_and_fatal_ones_once() {
        let calls = Cell::new(0);
        let outcome: Result<(), u16> = run(with_backoff(
            Duration::from_secs(30),
            |_| Retry::After,
            || {
                calls.set(calls.get() + 1);
                async { Err(503) }
            },
        ));
        assert_eq!((outcome, calls.get()), (Err(503), 1 + MAX_RETRIES));

        calls.set(0);
        let outcome: Result<(), u16> = run(with_backoff(
            Duration::from_secs(30),
            |_| Retry::Never,
            || {
                calls.set(calls.get() + 1);
                async { Err(400) }
            },
        ));
        assert_eq!((outcome, calls.get()), (Err(400), 1));
    }

    #[test]
    fn a_retry_that_cannot_start_within_the_deadline_is_not_made() {
        let calls = Cell::new(0);
        let outcome: Result<(), u16> = run(with_backoff(
            Duration::from_millis(50),
            |_| Retry::Throttled(Duration::from_secs(5)),
            || {
                calls.set(calls.get() + 1);
                async { Err(429) }
            },
        ));
        assert_eq!((outcome, calls.get()), (Err(429), 1));
    }
}
