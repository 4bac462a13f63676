//! Samplers: which finished spans are exported, decided from the stop event alone.
//!
//! The handler sees a span only when it ends (children before their parent), so decisions are
//! stateless and deterministic on the trace id: every span of a trace gets the same answer, and a
//! trace is exported whole or not at all. The ratio test is the OpenTelemetry SDK's: the low 8
//! bytes of the trace id, shifted right by one, compared with `ratio * 2^63`.
//!
//! Parent-based sampling honours the W3C sampled flag the bus carries in `trace_flags`: a span
//! whose context says "not sampled" (a remote `traceparent` with flags `00`, inherited by every
//! local descendant) is dropped. A sampled context then goes through the ratio on the trace id,
//! which keeps local trees whole; the stop event does not say whether the parent is remote, so a
//! remote "sampled" parent is subject to the ratio too.

use llm_telemetry_core::SpanContext;

/// Which spans are exported.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Sampler {
    /// Every span (`always_on`, the default).
    AlwaysOn,
    /// No span (`always_off`).
    AlwaysOff,
    /// A fraction of traces, chosen by trace id (`traceidratio`).
    TraceIdRatio(f64),
    /// Honour a "not sampled" flag, else a fraction of traces by trace id
    /// (`parentbased_traceidratio`; `parentbased_always_on` is a ratio of 1).
    ParentBased(f64),
    /// Only spans whose parent is present and sampled (`parentbased_always_off`).
    ParentBasedAlwaysOff,
}

impl Sampler {
    /// Whether the span with this context is exported.
    pub fn should_sample(&self, span: &SpanContext) -> bool {
        match *self {
            Sampler::AlwaysOn => true,
            Sampler::AlwaysOff => false,
            Sampler::TraceIdRatio(ratio) => ratio_sampled(span, ratio),
            Sampler::ParentBased(ratio) => span.is_sampled() && ratio_sampled(span, ratio),
            Sampler::ParentBasedAlwaysOff => span.parent_span_id.is_some() && span.is_sampled(),
        }
    }
}

fn ratio_sampled(span: &SpanContext, ratio: f64) -> bool {
    if ratio >= 1.0 {
        return true;
    }
    if ratio <= 0.0 || ratio.is_nan() {
        return false;
    }
    let low = span.trace_id.to_u128() as u64;
    let bound = (ratio * (1u64 << 63) as f64) as u64;
    (low >> 1) < bound
}

#[cfg(test)]
mod tests {
    use super::*;
    use llm_telemetry_core::{SpanId, TraceId};

    fn context(trace: u128, parent: bool, flags: u8) -> SpanContext {
        SpanContext {
            trace_id: TraceId::from_bytes(trace.to_be_bytes()).unwrap(),
            span_id: SpanId::from_bytes(7u64.to_be_bytes()).unwrap(),
            parent_span_id: parent.then(|| SpanId::from_bytes(9u64.to_be_bytes()).unwrap()),
            start_unix_nanos: 1,
            trace_flags: flags,
            is_remote: false,
            baggage: llm_telemetry_core::Baggage::EMPTY,
        }
    }

    #[test]
    fn ratio_is_deterministic_and_close_to_the_fraction() {
        let sampler = Sampler::TraceIdRatio(0.25);
        let mut kept = 0;
        for i in 1..=20_000u128 {
            // Spread ids over the whole range, as random ids would be.
            let id = i.wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835);
            let c = context(id, false, 1);
            assert_eq!(sampler.should_sample(&c), sampler.should_sample(&c));
            kept += sampler.should_sample(&c) as u32;
        }
        assert!(
            (4_000..6_000).contains(&kept),
            "kept {kept} of 20000 at 0.25"
        );
        assert!(Sampler::TraceIdRatio(1.0).should_sample(&context(5, false, 1)));
        assert!(!Sampler::TraceIdRatio(0.0).should_sample(&context(5, false, 1)));
    }

    #[test]
    fn parent_based_honours_the_sampled_flag() {
        let s = Sampler::ParentBased(1.0);
        assert!(s.should_sample(&context(5, true, 1)));
        assert!(!s.should_sample(&context(5, true, 0)));
        assert!(s.should_sample(&context(5, false, 1)));
        let off = Sampler::ParentBasedAlwaysOff;
        assert!(!off.should_sample(&context(5, false, 1)));
        assert!(off.should_sample(&context(5, true, 1)));
        assert!(!Sampler::AlwaysOff.should_sample(&context(5, true, 1)));
        // Parent and child of one trace get the same answer under a ratio.
        let half = Sampler::ParentBased(0.5);
        for id in [3u128, 1 << 70, u128::MAX - 11] {
            assert_eq!(
                half.should_sample(&context(id, false, 1)),
                half.should_sample(&context(id, true, 1))
            );
        }
    }
}
