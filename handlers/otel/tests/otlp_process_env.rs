//! The handler reads the OTLP variables of the process's environment only when asked: with
//! `read_env(false)` and `OTEL_EXPORTER_OTLP_COMPRESSION`, `_HEADERS` and `_TRACES_HEADERS` set
//! in the process, the export on the wire carries only what the builder configured (no gzip, no
//! leaked header). The OpenTelemetry SDK's exporter reads these variables by itself; the handler
//! encodes and sends OTLP on its own, so configuration has one source of truth.
//!
//! One test in its own binary: it sets process-wide variables.

mod support;

use std::time::Duration;

use llm_telemetry_core::{Bus, Value};
use llm_telemetry_genai::catalog::{self, keys};
use llm_telemetry_otel::{OtelHandler, Protocol};
use support::receiver::collector;

#[test]
fn with_read_env_off_the_process_otlp_variables_do_not_reach_the_wire() {
    // SAFETY: the only test of this binary, before any thread of it starts.
    unsafe {
        std::env::set_var("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip");
        std::env::set_var("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "gzip");
        std::env::set_var("OTEL_EXPORTER_OTLP_HEADERS", "x-leak=generic");
        std::env::set_var("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "x-leak-traces=traces");
    }
    let (port, requests) = collector(1);
    let bus = Bus::new();
    let otel = OtelHandler::builder()
        .read_env(false)
        .protocol(Protocol::HttpProtobuf)
        .endpoint(format!("http://127.0.0.1:{port}"))
        .headers([("x-team", "search")])
        .attach(&bus)
        .unwrap();
    bus.span(
        &catalog::LLM_CHAT,
        &[(keys::MODEL, Value::Str("gpt-4o"))],
        |_| {},
    );
    otel.force_flush(Duration::from_secs(10));
    otel.shutdown(Duration::from_secs(10));
    let request = requests
        .recv_timeout(Duration::from_secs(5))
        .expect("the receiver got the export");
    assert_eq!(request.header("x-team"), Some("search"));
    assert_eq!(request.header("content-encoding"), None, "not gzipped");
    assert_eq!(request.header("x-leak"), None);
    assert_eq!(request.header("x-leak-traces"), None);
    assert_eq!(otel.stats().exported, 1);
}
