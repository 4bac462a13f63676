//! The hot path allocates nothing for an existing series: a counting global allocator watches
//! this thread while events flow through the bus into counters, histograms and sums, and while
//! a capped metric routes new label sets to its overflow series.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use llm_telemetry_core::{Bus, Value};
use llm_telemetry_genai::catalog::{self, keys};
use llm_telemetry_prometheus::{Metric, PrometheusReporter, defaults};

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
fn recording_into_existing_and_overflow_series_does_not_allocate() {
    let bus = Bus::new();
    let reporter = PrometheusReporter::builder()
        .metrics(defaults::llm_metrics())
        .unwrap()
        .metric(
            Metric::counter("capped_total", &["llm.chat.stop"])
                .tags(&[keys::TENANT])
                .max_series(2),
        )
        .unwrap()
        .attach(&bus)
        .unwrap();
    let tenants: Vec<String> = (0..100).map(|i| format!("tenant-{i}")).collect();
    let emit = |tenant: &str| {
        let md = [
            (keys::PROVIDER, Value::Str("openai")),
            (keys::MODEL, Value::Str("gpt-4o")),
            (keys::TENANT, Value::Str(tenant)),
        ];
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
    // Warm up: register every series, including the overflow series of `capped_total`.
    for tenant in &tenants {
        emit(tenant);
    }
    let before = allocations();
    for _ in 0..10 {
        for tenant in &tenants {
            emit(tenant);
        }
    }
    assert_eq!(allocations() - before, 0, "the hot path allocated");
    let text = reporter.render();
    assert!(
        text.contains("capped_total{otel_metric_overflow=\"true\"} 1078"),
        "{text}"
    );
}
