//! The handler as a handle, the shape every handler crate shares: `stats` exact after a known
//! number of events, `flush` bounded by its deadline, and `detach` after which nothing more is
//! exported and the stats stay as they were. Through capturing exporters, no server needed.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use llm_telemetry_core::{Bus, LifecycleError, Value};
use llm_telemetry_genai::catalog::{self, keys};
use llm_telemetry_otel::otel::{OTelSdkResult, SpanData, SpanExporter};
use llm_telemetry_otel::{OtelHandler, OtelHandlerBuilder};
use support::capture::CaptureExporter;

const WAIT: Duration = Duration::from_secs(10);

fn builder() -> OtelHandlerBuilder {
    OtelHandler::builder().read_env(false).service_name("svc")
}

/// `n` finished chat spans.
fn spans(bus: &Bus, n: usize) {
    for _ in 0..n {
        bus.span(
            &catalog::LLM_CHAT,
            &[(keys::MODEL, Value::Str("gpt-4o"))],
            |_| (),
        );
    }
}

#[test]
fn stats_are_exact_after_n_events() {
    const SPANS: usize = 37;
    const BARE_STOPS: usize = 5;
    let bus = Bus::new();
    let capture = CaptureExporter::new();
    let otel = builder().exporter(capture.clone()).attach(&bus).unwrap();
    spans(&bus, SPANS);
    // Stop events without a span context reach the handler but are no span: skipped.
    for _ in 0..BARE_STOPS {
        bus.execute_in_span(&catalog::LLM_CHAT_STOP, &[], &[], None);
    }
    assert_eq!(otel.flush(WAIT), Ok(()));
    let stats = otel.stats();
    assert_eq!(stats.exported, SPANS as u64);
    assert_eq!(capture.spans().len(), SPANS);
    assert_eq!(stats.skipped_events, BARE_STOPS as u64);
    assert_eq!((stats.sampled_out, stats.dropped()), (0, 0));
    assert_eq!(otel.detach(WAIT), Ok(()));
}

#[test]
fn detach_then_emit_exports_nothing_and_freezes_the_stats() {
    const BEFORE: usize = 12;
    let bus = Bus::new();
    let capture = CaptureExporter::new();
    let otel = builder().exporter(capture.clone()).attach(&bus).unwrap();
    spans(&bus, BEFORE);
    // The detach drains the lane and exports the last batch.
    assert_eq!(otel.detach(WAIT), Ok(()));
    assert!(bus.list_handlers("").is_empty());
    let frozen = otel.stats();
    assert_eq!(frozen.exported, BEFORE as u64);

    spans(&bus, BEFORE);
    assert_eq!(otel.stats(), frozen);
    assert_eq!(capture.spans().len(), BEFORE, "nothing more exported");
    assert_eq!(otel.detach(WAIT), Err(LifecycleError::AlreadyShutDown));
    assert_eq!(otel.flush(WAIT), Err(LifecycleError::AlreadyShutDown));
}

/// Counts what it exports; every export waits while `hold` is set (a collector that hangs).
#[derive(Clone, Debug)]
struct HeldExporter {
    hold: Arc<AtomicBool>,
    capture: CaptureExporter,
}

impl SpanExporter for HeldExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        while self.hold.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(1));
        }
        self.capture.export(batch).await
    }
}

#[test]
fn flush_returns_by_its_deadline_when_the_collector_hangs() {
    const N: usize = 25;
    let bus = Bus::new();
    let hold = Arc::new(AtomicBool::new(true));
    let capture = CaptureExporter::new();
    let otel = builder()
        .exporter(HeldExporter {
            hold: Arc::clone(&hold),
            capture: capture.clone(),
        })
        .attach(&bus)
        .unwrap();
    spans(&bus, N);

    let wait = Duration::from_millis(100);
    let started = Instant::now();
    let result = otel.flush(wait);
    let took = started.elapsed();
    assert!(
        matches!(result, Err(LifecycleError::DeadlinePassed { .. })),
        "{result:?}"
    );
    assert!(took >= wait, "returned before its deadline: {took:?}");
    assert!(took < wait + Duration::from_secs(2), "overran: {took:?}");

    hold.store(false, Ordering::SeqCst);
    assert_eq!(otel.flush(WAIT), Ok(()));
    // Right after the flush, with no other wait: every span is exported and counted.
    assert_eq!(otel.stats().exported, N as u64);
    assert_eq!(capture.spans().len(), N);
    assert_eq!(otel.detach(WAIT), Ok(()));
}
