//! The reporter as a handle, the shape every handler crate shares: `stats` exact after a known
//! number of events, `flush` bounded by its deadline, and `detach` after which nothing more is
//! recorded and the stats stay as they were.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use llm_telemetry_core::{Bus, Delivery, LifecycleError, Value};
use llm_telemetry_genai::catalog::{self, keys};
use llm_telemetry_prometheus::{Metric, PrometheusReporter, ReporterBuilder, ServerConfig};

use common::{get, sample};

const CAP: usize = 3;
const MODELS: usize = 5;

/// Two definitions on `llm.chat.stop` (one handler group), each capped at [`CAP`] models.
fn builder() -> ReporterBuilder {
    PrometheusReporter::builder()
        .metric(
            Metric::counter("calls_total", &["llm.chat.stop"])
                .tags(&[keys::MODEL])
                .max_series(CAP),
        )
        .unwrap()
        .metric(
            Metric::sum("tokens_total", &["llm.chat.stop"], keys::OUTPUT_TOKENS)
                .tags(&[keys::MODEL])
                .max_series(CAP),
        )
        .unwrap()
}

fn model(i: usize) -> String {
    format!("m{}", i % MODELS)
}

/// Emits a stop event for call `i`: model `m{i % MODELS}`, output tokens unless `i % 4 == 3`.
fn emit(bus: &Bus, i: usize) {
    let model = model(i);
    let md = [(keys::MODEL, Value::Str(&model))];
    if i % 4 == 3 {
        bus.execute(&catalog::LLM_CHAT_STOP, &[], &md);
    } else {
        bus.execute(&catalog::LLM_CHAT_STOP, &[(keys::OUTPUT_TOKENS, 10.0)], &md);
    }
}

#[test]
fn stats_are_exact_after_n_events() {
    const N: usize = 23;
    const NO_MODEL: usize = 2;
    let bus = Bus::new();
    let reporter = builder().attach(&bus).unwrap();
    for i in 0..N {
        emit(&bus, i);
    }
    for _ in 0..NO_MODEL {
        bus.execute(&catalog::LLM_CHAT_STOP, &[(keys::OUTPUT_TOKENS, 1.0)], &[]);
    }
    // What the definitions should have seen, computed from the traffic.
    let without_tokens = (0..N).filter(|i| i % 4 == 3).count();
    // The first CAP distinct models get series; later ones overflow (models cycle in order).
    let over_cap = |i: &usize| i % MODELS >= CAP;
    let counter_overflow = (0..N).filter(over_cap).count();
    let sum_overflow = (0..N).filter(over_cap).filter(|i| i % 4 != 3).count();

    let stats = reporter.stats();
    assert_eq!(stats.metrics, 2);
    assert_eq!(stats.series, 2 * CAP.min(MODELS) as u64);
    assert_eq!(stats.metrics_at_cap, 2);
    assert_eq!(
        stats.overflow_events,
        (counter_overflow + sum_overflow) as u64
    );
    assert_eq!(stats.skipped_missing_measurement, without_tokens as u64);
    assert_eq!(stats.skipped_missing_tag, 2 * NO_MODEL as u64);
    assert_eq!(stats.skipped_invalid_value, 0);
    assert_eq!(
        stats.skipped(),
        (without_tokens + 2 * NO_MODEL) as u64,
        "the total adds the reasons up"
    );
    assert_eq!(stats.events, (N + NO_MODEL) as u64, "one handler group");
    assert_eq!((stats.dropped, stats.failed), (0, 0));
    assert_eq!((stats.scrapes_served, stats.scrapes_failed), (0, 0));

    // The text agrees with the stats.
    let text = reporter.render();
    let m0 = (0..N).filter(|i| i % MODELS == 0).count();
    assert_eq!(
        sample(&text, "calls_total{gen_ai_request_model=\"m0\"}"),
        Some(m0 as f64),
        "{text}"
    );
    assert_eq!(
        sample(&text, "calls_total{otel_metric_overflow=\"true\"}"),
        Some(counter_overflow as f64),
        "{text}"
    );

    // Scrapes of /metrics are counted by the endpoint.
    const SCRAPES: usize = 3;
    let server = reporter.serve(ServerConfig::at("127.0.0.1:0")).unwrap();
    for _ in 0..SCRAPES {
        assert_eq!(get(server.local_addr(), "/metrics").status, 200);
    }
    assert_eq!(get(server.local_addr(), "/").status, 200, "not a scrape");
    server.stop();
    let stats = reporter.stats();
    assert_eq!(stats.scrapes_served, SCRAPES as u64);
    assert_eq!(stats.scrapes_failed, 0);
}

#[test]
fn detach_then_emit_records_nothing_and_freezes_the_stats() {
    const BEFORE: usize = 8;
    let bus = Bus::new();
    let reporter = builder().attach(&bus).unwrap();
    for i in 0..BEFORE {
        emit(&bus, i);
    }
    assert_eq!(reporter.detach(Duration::from_secs(5)), Ok(()));
    assert!(bus.list_handlers("").is_empty());
    let frozen = reporter.stats();
    assert_eq!(frozen.events, BEFORE as u64, "kept as of the detach");
    let calls = |text: &str| sample(text, "calls_total{gen_ai_request_model=\"m0\"}");
    let before = calls(&reporter.render());
    assert_eq!(
        before,
        Some((0..BEFORE).filter(|i| i % MODELS == 0).count() as f64)
    );

    for i in 0..BEFORE {
        emit(&bus, i);
    }
    assert_eq!(reporter.stats(), frozen);
    assert_eq!(calls(&reporter.render()), before);
    assert_eq!(
        reporter.detach(Duration::from_secs(5)),
        Err(LifecycleError::AlreadyShutDown),
        "detached once only"
    );
}

#[test]
fn flush_waits_for_queued_events_and_returns_by_its_deadline() {
    const N: usize = 40;
    let hold = Arc::new(AtomicBool::new(true));
    let gate = Arc::clone(&hold);
    let bus = Bus::new();
    let reporter = PrometheusReporter::builder()
        .metric(
            Metric::counter("held_total", &["llm.chat.stop"]).keep(move |_| {
                while gate.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(1));
                }
                true
            }),
        )
        .unwrap()
        .delivery(Delivery::queued())
        .attach(&bus)
        .unwrap();
    for i in 0..N {
        emit(&bus, i);
    }

    // The lane's worker is held: the flush gives up at its deadline and says what is pending.
    llm_telemetry_core::testing::assert_flush_gives_up_at(Duration::from_millis(100), |wait| {
        reporter.flush(wait)
    });

    hold.store(false, Ordering::SeqCst);
    assert_eq!(reporter.flush(Duration::from_secs(10)), Ok(()));
    // Right after the flush, with no other wait: every event is recorded and counted.
    assert_eq!(reporter.stats().events, N as u64);
    assert_eq!(sample(&reporter.render(), "held_total"), Some(N as f64));
    assert_eq!(reporter.detach(Duration::from_secs(5)), Ok(()));
}

#[test]
fn a_reporter_never_attached_has_nothing_to_flush_or_detach() {
    let reporter = builder().build().unwrap();
    assert_eq!(
        reporter.flush(Duration::ZERO),
        Err(LifecycleError::AlreadyShutDown)
    );
    assert_eq!(
        reporter.detach(Duration::ZERO),
        Err(LifecycleError::AlreadyShutDown)
    );
    assert_eq!(reporter.stats().events, 0);
}
