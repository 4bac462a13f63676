//! Exemplars: the trace of a recent observation, kept beside a counter series or a histogram
//! bucket so that a point on a Grafana panel opens its trace (in Phoenix, Tempo, …).
//!
//! An [`ExemplarSlot`] holds the `trace_id`, `span_id` and value of the latest observation made
//! inside a span ([`llm_telemetry_core::Event::span`]). It is a seqlock made of atomics: a writer
//! claims the slot by moving its sequence number from even to odd with one compare-and-swap,
//! stores the fields with relaxed stores and publishes by storing the next even number. A writer
//! that finds the slot claimed by another thread skips (the other observation is just as recent),
//! so recording never waits, never locks and never allocates. A reader (the renderer) retries a
//! few times if it raced with a writer and otherwise leaves the exemplar out of that scrape: it
//! never renders a torn mix of two observations.
//!
//! Exemplars carry no clock read on the hot path. Their OpenMetrics timestamp is the time of the
//! first render that saw them, kept in the slot, so every later scrape repeats the same
//! timestamp and Prometheus stores the exemplar once.

use std::sync::atomic::{AtomicU64, Ordering, fence};

use llm_telemetry_core::SpanContext;

/// One exemplar, as read from a slot.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Exemplar {
    /// The trace id (16 bytes, as a number).
    pub(crate) trace_id: u128,
    /// The span id.
    pub(crate) span_id: u64,
    /// The observed value (for a counter, the increment).
    pub(crate) value: f64,
    /// When it was first rendered, in milliseconds since the Unix epoch.
    pub(crate) timestamp_ms: u64,
}

/// The latest exemplar of one series or bucket. See the [module docs](self).
#[derive(Debug, Default)]
pub(crate) struct ExemplarSlot {
    /// Even: stable; odd: a writer is storing. 0: never written.
    seq: AtomicU64,
    trace_high: AtomicU64,
    trace_low: AtomicU64,
    span: AtomicU64,
    value: AtomicU64,
    /// The `seq` the renderer last stamped, and the stamp (ms since the epoch).
    stamped_seq: AtomicU64,
    stamp_ms: AtomicU64,
}

impl ExemplarSlot {
    /// Stores the exemplar of an observation of `value` made in `span`, unless another thread is
    /// storing one right now (then that one stands).
    #[inline]
    pub(crate) fn record(&self, span: &SpanContext, value: f64) {
        let seq = self.seq.load(Ordering::Relaxed);
        if seq & 1 == 1
            || self
                .seq
                .compare_exchange(seq, seq + 1, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        // Orders the odd sequence number before the field stores: a reader that sees any of
        // them (and fences) then sees the sequence number moved.
        fence(Ordering::Release);
        let trace = span.trace_id.to_u128();
        self.trace_high
            .store((trace >> 64) as u64, Ordering::Relaxed);
        self.trace_low.store(trace as u64, Ordering::Relaxed);
        self.span.store(span.span_id.to_u64(), Ordering::Relaxed);
        self.value.store(value.to_bits(), Ordering::Relaxed);
        self.seq.store(seq + 2, Ordering::Release);
    }

    /// The stored exemplar, if any and if it could be read without racing a writer;
    /// `now_ms` stamps an exemplar seen for the first time.
    pub(crate) fn read(&self, now_ms: u64) -> Option<Exemplar> {
        for _ in 0..4 {
            let before = self.seq.load(Ordering::Acquire);
            if before == 0 {
                return None;
            }
            if before & 1 == 1 {
                std::hint::spin_loop();
                continue;
            }
            let high = self.trace_high.load(Ordering::Relaxed);
            let low = self.trace_low.load(Ordering::Relaxed);
            let span_id = self.span.load(Ordering::Relaxed);
            let value = f64::from_bits(self.value.load(Ordering::Relaxed));
            fence(Ordering::Acquire);
            if self.seq.load(Ordering::Relaxed) != before {
                continue;
            }
            return Some(Exemplar {
                trace_id: (u128::from(high) << 64) | u128::from(low),
                span_id,
                value,
                timestamp_ms: self.stamp(before, now_ms),
            });
        }
        None
    }

    /// The first-render time of the exemplar published as `seq` (stamping it now if new).
    /// Two renders racing on a new exemplar may stamp it twice; either stamp is right.
    fn stamp(&self, seq: u64, now_ms: u64) -> u64 {
        if self.stamped_seq.load(Ordering::Acquire) == seq {
            return self.stamp_ms.load(Ordering::Relaxed);
        }
        self.stamp_ms.store(now_ms, Ordering::Relaxed);
        self.stamped_seq.store(seq, Ordering::Release);
        now_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context(trace: u128, span: u64) -> SpanContext {
        let mut c = SpanContext::new_root();
        c.trace_id = llm_telemetry_core::TraceId::from_bytes(trace.to_be_bytes()).unwrap();
        c.span_id = llm_telemetry_core::SpanId::from_bytes(span.to_be_bytes()).unwrap();
        c
    }

    #[test]
    fn empty_until_recorded_then_latest_wins() {
        let slot = ExemplarSlot::default();
        assert_eq!(slot.read(1), None);
        slot.record(&context(0xabc, 0x12), 0.5);
        slot.record(
            &context(0x4bf92f3577b34da6a3ce929d0e0e4736, 0x00f067aa0ba902b7),
            2.0,
        );
        let e = slot.read(1_700_000_000_123).unwrap();
        assert_eq!(e.trace_id, 0x4bf92f3577b34da6a3ce929d0e0e4736);
        assert_eq!(e.span_id, 0x00f067aa0ba902b7);
        assert_eq!(e.value, 2.0);
        assert_eq!(e.timestamp_ms, 1_700_000_000_123);
    }

    #[test]
    fn the_stamp_is_the_first_render_of_each_exemplar() {
        let slot = ExemplarSlot::default();
        slot.record(&context(1, 1), 1.0);
        assert_eq!(slot.read(1000).unwrap().timestamp_ms, 1000);
        assert_eq!(slot.read(2000).unwrap().timestamp_ms, 1000);
        slot.record(&context(2, 2), 1.0);
        assert_eq!(slot.read(3000).unwrap().timestamp_ms, 3000);
    }

    #[test]
    fn concurrent_writers_never_produce_a_torn_exemplar() {
        // Every writer stores trace = span = value of its own; a torn read would mix them.
        let slot = ExemplarSlot::default();
        let stop = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|s| {
            for t in 1..=3u64 {
                let (slot, stop) = (&slot, &stop);
                s.spawn(move || {
                    let mut i = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        i += 1;
                        let id = (t << 40) | i;
                        slot.record(
                            &context(u128::from(id) << 64 | u128::from(id), id),
                            id as f64,
                        );
                    }
                });
            }
            // Reads until 1,000 whole exemplars were seen (a reader racing three writers on two
            // cores may find the slot busy many times in a row), bounded in time.
            let mut seen = 0;
            let started = std::time::Instant::now();
            while seen < 1_000 && started.elapsed() < std::time::Duration::from_secs(10) {
                if let Some(e) = slot.read(1) {
                    let id = e.span_id;
                    assert_eq!(e.trace_id, u128::from(id) << 64 | u128::from(id));
                    assert_eq!(e.value, id as f64);
                    seen += 1;
                }
            }
            stop.store(true, Ordering::Relaxed);
            assert!(seen > 0);
        });
    }
}
