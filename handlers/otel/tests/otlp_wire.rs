//! What goes over the wire, checked with a real loopback HTTP server: the OTLP/HTTP request goes
//! to `/v1/traces` with a protobuf body, carries the configured headers (from the builder and
//! from `OTEL_EXPORTER_OTLP_HEADERS`-style settings, plus `PHOENIX_API_KEY` as a bearer token),
//! and the handler counts it as exported when the collector answers 200.

mod support;

use std::time::{Duration, Instant};

use llm_telemetry_core::{Bus, Value};
use llm_telemetry_genai::catalog::{self, keys};
use llm_telemetry_otel::{OtelHandler, Protocol};
use support::receiver::collector;

#[test]
fn http_export_hits_v1_traces_with_the_configured_headers() {
    let (port, requests) = collector(4);
    let bus = Bus::new();
    let otel = OtelHandler::builder()
        .read_env(false)
        .protocol(Protocol::HttpProtobuf)
        .endpoint(format!("http://127.0.0.1:{port}"))
        .headers([("x-team", "search"), ("api-key", "s3cret")])
        .service_name("wire-test")
        .attach(&bus)
        .unwrap();
    bus.span(
        &catalog::LLM_CHAT,
        &[
            (keys::MODEL, Value::Str("gpt-4o")),
            (keys::INPUT, Value::Str("ping-7f3a")),
        ],
        |_| (),
    );
    assert!(
        otel.force_flush(Duration::from_secs(20)),
        "{:?}",
        otel.stats()
    );
    let request = requests
        .recv_timeout(Duration::from_secs(20))
        .expect("the collector received a request");
    assert_eq!(request.line, "POST /v1/traces HTTP/1.1");
    let header = |name: &str| {
        request
            .headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(header("content-type"), Some("application/x-protobuf"));
    assert_eq!(header("x-team"), Some("search"));
    assert_eq!(header("api-key"), Some("s3cret"));
    // The protobuf body carries the strings verbatim.
    let body = String::from_utf8_lossy(&request.body);
    for needle in [
        "chat gpt-4o",
        "ping-7f3a",
        "wire-test",
        "openinference.span.kind",
    ] {
        assert!(body.contains(needle), "body lacks {needle:?}");
    }
    assert_eq!(otel.stats().exported, 1);
    assert!(otel.shutdown(Duration::from_secs(10)));
}

#[test]
fn phoenix_api_key_becomes_a_bearer_token() {
    // Through a config file, since tests must not change the process environment.
    let dir = std::env::temp_dir().join(format!("otel-wire-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (port, requests) = collector(4);
    let file = dir.join("otel.json");
    std::fs::write(
        &file,
        format!(
            r#"{{"PHOENIX_COLLECTOR_ENDPOINT": "http://127.0.0.1:{port}", "PHOENIX_API_KEY": "k-123", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}}"#
        ),
    )
    .unwrap();
    let bus = Bus::new();
    let otel = OtelHandler::builder()
        .read_env(false)
        .config_file(&file)
        .attach(&bus)
        .unwrap();
    assert_eq!(
        otel.config().endpoint,
        format!("http://127.0.0.1:{port}/v1/traces")
    );
    bus.span(&catalog::LLM_CHAT, &[], |_| ());
    assert!(otel.force_flush(Duration::from_secs(20)));
    let deadline = Instant::now() + Duration::from_secs(20);
    let request = requests
        .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        .expect("a request");
    assert!(
        request
            .headers
            .iter()
            .any(|(k, v)| k == "authorization" && v == "Bearer k-123"),
        "{:?}",
        request.headers
    );
    otel.shutdown(Duration::from_secs(10));
    std::fs::remove_dir_all(&dir).unwrap();
}
