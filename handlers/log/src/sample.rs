//! Sampling: which events become lines when not all of them should.
//!
//! Two independent knobs, applied in order:
//! 1. **A rate** from 0 to 1. Events in a trace share one decision, a hash of the trace id, so a
//!    trace is logged whole or not at all, and every process sampling at the same rate agrees on
//!    the same traces. Events outside any trace are sampled one by one.
//! 2. **A maximum number of lines per second**, a token bucket holding one second of burst. The
//!    bucket decides at the first event of a trace; the rest of an admitted trace passes (and
//!    borrows up to one more second of tokens, which slows new traces down), and the rest of a
//!    refused trace is refused too. Decisions are remembered for the 4096 most recently seen
//!    traces (direct-mapped by trace id), which covers every trace still in flight in practice.
//!
//! Warnings and errors are exempt from both ([`Sampler::decide_at`]): a failure is the line an
//! operator needs, so it is written whatever the rate, even in a trace the rate left out. They
//! have a limit of their own instead, a separate token bucket, 10× the lines-per-second limit by
//! default (at least 100; [`Sampler::urgent_limit`]), so an error storm cannot flood the sink
//! either; what that limit drops is counted apart ([`Decision::UrgentRateLimited`]).
//!
//! What each knob dropped is counted separately ([`crate::LogStats`]).

use std::hash::{BuildHasher, Hasher};
use std::time::Instant;

use llm_telemetry_core::{SpanContext, TraceId};

use crate::error::LogError;
use crate::level::Level;

/// How many trace decisions the rate limiter remembers.
const TRACE_SLOTS: usize = 4096;

/// What the sampler decided for one event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Log it.
    Keep,
    /// Dropped by the sampling rate.
    SampledOut,
    /// Dropped by the lines-per-second limit.
    RateLimited,
    /// A warning or error dropped by their own, higher limit ([`Sampler::urgent_limit`]).
    UrgentRateLimited,
}

/// Whether a trace is kept at `rate`: the same answer for the same trace id, in every process.
///
/// ```
/// use llm_telemetry_core::TraceId;
/// use llm_telemetry_log::sample::trace_sampled;
/// let id = TraceId::random();
/// assert_eq!(trace_sampled(id, 0.5), trace_sampled(id, 0.5));
/// assert!(trace_sampled(id, 1.0) && !trace_sampled(id, 0.0));
/// ```
pub fn trace_sampled(trace_id: TraceId, rate: f64) -> bool {
    let id = trace_id.to_u128();
    let mixed = mix64((id as u64) ^ ((id >> 64) as u64).rotate_left(32));
    below_rate(mixed, rate)
}

/// Whether the uniform 64-bit number `x` falls under `rate`.
fn below_rate(x: u64, rate: f64) -> bool {
    if rate >= 1.0 {
        return true;
    }
    if rate <= 0.0 {
        return false;
    }
    // The top 53 bits as a uniform float in [0, 1).
    ((x >> 11) as f64) * (1.0 / (1u64 << 53) as f64) < rate
}

/// The SplitMix64 finalizer: spreads any 64-bit input over all 64 bits.
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A token bucket: `capacity` tokens, refilled at `capacity` per second, allowed to go into debt
/// down to `-capacity` for traces already admitted.
#[derive(Debug)]
struct Bucket {
    capacity: f64,
    tokens: f64,
    last: Option<Instant>,
}

impl Bucket {
    fn refill(&mut self, now: Instant) {
        if let Some(last) = self.last {
            let elapsed = now.saturating_duration_since(last).as_secs_f64();
            self.tokens = (self.tokens + elapsed * self.capacity).min(self.capacity);
        }
        self.last = Some(now);
    }

    /// Takes a token if one is there.
    fn take(&mut self) -> bool {
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Takes a token, borrowing up to one second of debt.
    fn borrow(&mut self) -> bool {
        if self.tokens - 1.0 >= -self.capacity {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Decides which events become lines; see the [module docs](self).
#[derive(Debug)]
pub struct Sampler {
    rate: f64,
    bucket: Option<Bucket>,
    /// The warnings' and errors' own limit, when lines are limited at all.
    urgent: Option<Bucket>,
    /// (trace id, admitted) per slot, for the rate limiter.
    traces: Vec<Option<(u128, bool)>>,
    random: u64,
}

impl Sampler {
    /// A sampler keeping a `rate` share of traces (0..=1) and at most `max_per_second` lines per
    /// second (`None`: no limit).
    pub fn new(rate: f64, max_per_second: Option<u32>) -> Result<Self, LogError> {
        if !(0.0..=1.0).contains(&rate) {
            return Err(LogError::InvalidSampleRate(rate));
        }
        let bucket = match max_per_second {
            Some(0) => return Err(LogError::ZeroRateLimit),
            Some(n) => Some(Bucket {
                capacity: f64::from(n),
                tokens: f64::from(n),
                last: None,
            }),
            None => None,
        };
        let urgent = bucket.as_ref().map(|b| {
            let capacity = (b.capacity * 10.0).max(100.0);
            Bucket {
                capacity,
                tokens: capacity,
                last: None,
            }
        });
        let seed = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        Ok(Self {
            rate,
            traces: if bucket.is_some() {
                vec![None; TRACE_SLOTS]
            } else {
                Vec::new()
            },
            bucket,
            urgent,
            random: seed,
        })
    }

    /// Sets the warnings' and errors' own lines-per-second limit (see the [module docs](self));
    /// only meaningful with a lines-per-second limit, and 0 is refused like it.
    ///
    /// ```
    /// use std::time::Instant;
    /// use llm_telemetry_log::{Decision, Level, Sampler};
    /// let mut sampler = Sampler::new(0.0, Some(1))?.urgent_limit(2)?;
    /// let now = Instant::now();
    /// // The rate drops every info line; errors pass, up to their own limit.
    /// assert_eq!(sampler.decide_at(Level::Info, None, now), Decision::SampledOut);
    /// assert_eq!(sampler.decide_at(Level::Error, None, now), Decision::Keep);
    /// assert_eq!(sampler.decide_at(Level::Warn, None, now), Decision::Keep);
    /// assert_eq!(sampler.decide_at(Level::Error, None, now), Decision::UrgentRateLimited);
    /// # Ok::<(), llm_telemetry_log::LogError>(())
    /// ```
    pub fn urgent_limit(mut self, max_per_second: u32) -> Result<Self, LogError> {
        if max_per_second == 0 {
            return Err(LogError::ZeroRateLimit);
        }
        if self.bucket.is_some() {
            let capacity = f64::from(max_per_second);
            self.urgent = Some(Bucket {
                capacity,
                tokens: capacity,
                last: None,
            });
        }
        Ok(self)
    }

    /// Decides for one event at `level`: warnings and errors are exempt from the rate and the
    /// lines-per-second limit and pass their own limit instead (see the [module docs](self));
    /// other levels go through [`Sampler::decide`].
    pub fn decide_at(
        &mut self,
        level: Level,
        span: Option<&SpanContext>,
        now: Instant,
    ) -> Decision {
        if level < Level::Warn {
            return self.decide(span, now);
        }
        match self.urgent.as_mut() {
            None => Decision::Keep,
            Some(bucket) => {
                bucket.refill(now);
                if bucket.take() {
                    Decision::Keep
                } else {
                    Decision::UrgentRateLimited
                }
            }
        }
    }

    /// Whether this sampler keeps everything (rate 1, no limit): the logger then skips it.
    pub fn keeps_everything(&self) -> bool {
        self.rate >= 1.0 && self.bucket.is_none()
    }

    /// Decides for one event of span `span` (if any), at time `now`.
    pub fn decide(&mut self, span: Option<&SpanContext>, now: Instant) -> Decision {
        let sampled = match span {
            Some(span) => trace_sampled(span.trace_id, self.rate),
            None => {
                self.random = self.random.wrapping_add(0x9E37_79B9_7F4A_7C15);
                below_rate(mix64(self.random), self.rate)
            }
        };
        if !sampled {
            return Decision::SampledOut;
        }
        let Some(bucket) = self.bucket.as_mut() else {
            return Decision::Keep;
        };
        bucket.refill(now);
        let admitted = match span {
            None => bucket.take(),
            Some(span) => {
                let id = span.trace_id.to_u128();
                let slot = (mix64(id as u64) as usize) % TRACE_SLOTS;
                match self.traces[slot] {
                    Some((seen, true)) if seen == id => bucket.borrow(),
                    Some((seen, false)) if seen == id => false,
                    _ => {
                        let admitted = bucket.take();
                        self.traces[slot] = Some((id, admitted));
                        admitted
                    }
                }
            }
        };
        if admitted {
            Decision::Keep
        } else {
            Decision::RateLimited
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn span() -> SpanContext {
        SpanContext::new_root()
    }

    #[test]
    fn invalid_settings_are_typed_errors() {
        assert!(matches!(Sampler::new(1.5, None), Err(LogError::InvalidSampleRate(r)) if r == 1.5));
        assert!(matches!(
            Sampler::new(f64::NAN, None),
            Err(LogError::InvalidSampleRate(_))
        ));
        assert!(matches!(
            Sampler::new(0.5, Some(0)),
            Err(LogError::ZeroRateLimit)
        ));
        assert!(Sampler::new(1.0, None).unwrap().keeps_everything());
    }

    #[test]
    fn bucket_limits_lines_per_second_and_refills() {
        let mut sampler = Sampler::new(1.0, Some(10)).unwrap();
        let t0 = Instant::now();
        let kept = (0..100)
            .filter(|_| sampler.decide(None, t0) == Decision::Keep)
            .count();
        assert_eq!(kept, 10);
        // Half a second later, five more tokens.
        let t1 = t0 + Duration::from_millis(500);
        let kept = (0..100)
            .filter(|_| sampler.decide(None, t1) == Decision::Keep)
            .count();
        assert_eq!(kept, 5);
    }

    #[test]
    fn limiter_keeps_admitted_traces_whole_and_refused_ones_out() {
        let mut sampler = Sampler::new(1.0, Some(2)).unwrap();
        let now = Instant::now();
        let traces: Vec<SpanContext> = (0..4).map(|_| span()).collect();
        // First events of four traces: two admitted, two refused.
        let first: Vec<Decision> = traces
            .iter()
            .map(|s| sampler.decide(Some(s), now))
            .collect();
        assert_eq!(first.iter().filter(|d| **d == Decision::Keep).count(), 2);
        // Later events follow the first decision (admitted ones borrow up to two more tokens).
        for (span, decision) in traces.iter().zip(&first) {
            assert_eq!(sampler.decide(Some(span), now), *decision);
        }
    }
}
