//! `tracing.span_events` through the facade: a program's own events emitted inside a span reach
//! the OpenTelemetry handler as span events by default and not at all when the key is false;
//! events outside every span never reach it either way. Counted by the bus (deliveries to the
//! handler) and by the handler (span events recorded); spans go to the console exporter.

use std::time::Duration;

use llm_telemetry::catalog::{self, keys};
use llm_telemetry::{Bus, Config, StaticEventName, Telemetry, Value};

static RETRIEVAL_DONE: StaticEventName = StaticEventName::new("myapp.retrieval.done");

/// The facade attached to a new bus, spans printed on standard output, no metrics listener.
fn attached(extra: &[&str]) -> (Bus, Telemetry) {
    let mut set = vec!["tracing.exporter=console", "metrics.enabled=false"];
    set.extend_from_slice(extra);
    let config = Config::builder().set_all(set).build().unwrap();
    let bus = Bus::new();
    let telemetry = config.attach(&bus).unwrap();
    (bus, telemetry)
}

/// One chat span with three program events inside, 1,000 outside; returns (deliveries to the
/// otel handler, span events it recorded).
fn run(bus: &Bus, telemetry: &Telemetry) -> (u64, u64) {
    bus.span(
        &catalog::LLM_CHAT,
        &[(keys::MODEL, Value::Str("m"))],
        |_| {
            for _ in 0..3 {
                bus.execute(&RETRIEVAL_DONE, &[("documents", 2.0)], &[]);
            }
        },
    );
    for _ in 0..1_000 {
        bus.execute(&RETRIEVAL_DONE, &[("documents", 2.0)], &[]);
    }
    let otel = telemetry.otel().expect("tracing is on");
    otel.flush(Duration::from_secs(10)).unwrap();
    let delivered = bus
        .stats()
        .handler(otel.handler_id())
        .expect("the otel handler is attached")
        .delivered;
    (delivered, otel.stats().span_events)
}

#[test]
fn by_default_a_programs_events_inside_a_span_are_span_events() {
    let (bus, mut telemetry) = attached(&[]);
    // The chat's stop and the three events inside it; none of the 1,000 outside.
    assert_eq!(run(&bus, &telemetry), (4, 3));
    assert!(telemetry.shutdown(Duration::from_secs(5)).is_complete());
}

#[test]
fn tracing_span_events_false_switches_them_off() {
    let (bus, mut telemetry) = attached(&["tracing.span_events=false"]);
    assert_eq!(run(&bus, &telemetry), (1, 0));
    assert!(telemetry.shutdown(Duration::from_secs(5)).is_complete());
}
