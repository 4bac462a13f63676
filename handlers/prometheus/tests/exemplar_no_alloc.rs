//! Recording exemplars allocates nothing: a counting global allocator watches this thread while
//! events emitted inside spans flow into counters, sums and histograms (each storing the span as
//! its exemplar), and the OpenMetrics render then shows the latest span's ids.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use llm_telemetry_core::{Bus, SpanContext, Value, context};
use llm_telemetry_genai::catalog::{self, keys};
use llm_telemetry_prometheus::{Format, PrometheusReporter, defaults};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: delegates to the system allocator; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

#[test]
fn recording_exemplars_in_spans_does_not_allocate() {
    let bus = Bus::new();
    let reporter = PrometheusReporter::builder()
        .metrics(defaults::llm_metrics())
        .unwrap()
        .attach(&bus)
        .unwrap();
    let md = [
        (keys::PROVIDER, Value::Str("openai")),
        (keys::MODEL, Value::Str("gpt-4o")),
        (keys::TENANT, Value::Str("acme")),
    ];
    let emit = || {
        bus.execute(
            &catalog::LLM_CHAT_STOP,
            &[
                (keys::DURATION, 1.5e9),
                (keys::INPUT_TOKENS, 10.0),
                (keys::OUTPUT_TOKENS, 3.0),
            ],
            &md,
        );
        bus.execute(
            &catalog::LLM_COST_CALCULATED,
            &[(keys::COST_USD, 0.01)],
            &md,
        );
    };
    // Warm up: register every series.
    emit();
    let spans: Vec<SpanContext> = (0..100).map(|_| SpanContext::new_root()).collect();
    let before = allocations();
    for span in &spans {
        let _current = context::enter(Some(*span));
        emit();
    }
    assert_eq!(allocations() - before, 0, "recording exemplars allocated");
    let last = spans[spans.len() - 1];
    let exemplar = format!(
        " # {{trace_id=\"{}\",span_id=\"{}\"}}",
        last.trace_id, last.span_id
    );
    let text = reporter.render_as(Format::OpenMetrics);
    let with_last = |prefix: &str| {
        text.lines()
            .any(|l| l.starts_with(prefix) && l.contains(&exemplar))
    };
    // The counter, the sum and the bucket each observation fell in hold the latest span.
    assert!(with_last("llm_requests_total{"), "{text}");
    assert!(with_last("llm_cost_usd_total{"), "{text}");
    assert!(
        with_last("gen_ai_client_operation_duration_seconds_bucket{"),
        "{text}"
    );
    // Exemplars are OpenMetrics only.
    assert!(!reporter.render().contains("trace_id"));
}
