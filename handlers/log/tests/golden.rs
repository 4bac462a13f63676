//! Golden output of both formats, with a fixed clock and fixed span ids, and JSON lines parsed
//! back with serde_json.

use std::time::Duration;

use llm_telemetry_core::{Bus, Delivery, Event, EventName, SpanContext, SpanId, TraceId, Value};
use llm_telemetry_genai::catalog::{self, keys};
use llm_telemetry_log::{ColorChoice, Level, Logger, MemoryWriter, Sink};

/// 2023-11-14T22:13:20Z.
const START: u64 = 1_700_000_000_000_000_000;
/// The clock for events without an exact time: START + 5 s.
const NOW: u64 = START + 5_000_000_000;

fn span() -> SpanContext {
    SpanContext {
        trace_id: TraceId::from_bytes(
            *b"\x4b\xf9\x2f\x35\x77\xb3\x4d\xa6\xa3\xce\x92\x9d\x0e\x0e\x47\x36",
        )
        .unwrap(),
        span_id: SpanId::from_bytes(*b"\x00\xf0\x67\xaa\x0b\xa9\x02\xb7").unwrap(),
        parent_span_id: SpanId::from_bytes(*b"\x11\x22\x33\x44\x55\x66\x77\x88"),
        start_unix_nanos: START,
        trace_flags: 1,
        is_remote: false,
        baggage: llm_telemetry_core::Baggage::EMPTY,
    }
}

fn logger(json: bool, memory: &MemoryWriter) -> Logger {
    let builder = Logger::builder()
        .sink(Sink::writer(memory.clone()))
        .clock(|| NOW)
        .level(Level::Trace)
        .color(ColorChoice::Never)
        .flush_every_line(true)
        .service("inference-api")
        .environment("test")
        .version("1.2.3");
    let builder = if json { builder.json() } else { builder };
    builder.build().unwrap()
}

/// Logs the four golden events: a span start, its stop, an exception, and a plain event with
/// no span.
fn log_golden_events(logger: &Logger) {
    let span = span();
    let start_metadata = [
        (keys::MODEL, Value::Str("gpt-4o")),
        (keys::TENANT, Value::Str("acme corp")),
        (keys::STREAMING, Value::Bool(true)),
    ];
    logger.log(&Event::new(
        catalog::LLM_CHAT_START.get(),
        &[
            (keys::MONOTONIC_TIME, 123.0),
            (keys::SYSTEM_TIME, START as f64),
        ],
        &start_metadata,
        Some(span),
    ));
    logger.log(&Event::new(
        catalog::LLM_CHAT_STOP.get(),
        &[
            (keys::DURATION, 12_345_678.0),
            (keys::MONOTONIC_TIME, 12_345_801.0),
            (keys::INPUT_TOKENS, 42.0),
            (keys::OUTPUT_TOKENS, 7.0),
            (keys::TIME_TO_FIRST_TOKEN, 2_500_000.0),
        ],
        &[
            (keys::MODEL, Value::Str("gpt-4o")),
            (keys::TENANT, Value::Str("acme corp")),
            (keys::STREAMING, Value::Bool(true)),
            (keys::TEMPERATURE, Value::Float(0.25)),
            (keys::MAX_TOKENS, Value::Int(512)),
        ],
        Some(span),
    ));
    logger.log(&Event::new(
        catalog::LLM_CHAT_EXCEPTION.get(),
        &[(keys::DURATION, 1_000_000.0)],
        &[
            (keys::EXCEPTION_TYPE, Value::Str("timeout")),
            (
                keys::EXCEPTION_MESSAGE,
                Value::Str("upstream said \"slow down\""),
            ),
        ],
        Some(span),
    ));
    logger.log(&Event::new(
        catalog::CACHE_LOOKUP_HIT.get(),
        &[(keys::SIZE_BYTES, 512.0), (keys::COST_USD, 0.00125)],
        &[(keys::CACHE_NAME, Value::Str("prompts"))],
        None,
    ));
}

#[test]
fn console_golden() {
    let memory = MemoryWriter::default();
    let logger = logger(false, &memory);
    log_golden_events(&logger);
    let expected = [
        "2023-11-14T22:13:20.000Z DEBUG llm.chat.start gen_ai.request.model=gpt-4o tenant=\"acme corp\" streaming=true trace=4bf92f35 span=00f067aa service=inference-api environment=test version=1.2.3",
        "2023-11-14T22:13:20.012Z  INFO llm.chat.stop duration=12.346ms input_tokens=42 output_tokens=7 time_to_first_token=2.500ms gen_ai.request.model=gpt-4o tenant=\"acme corp\" streaming=true gen_ai.request.temperature=0.25 gen_ai.request.max_tokens=512 trace=4bf92f35 span=00f067aa service=inference-api environment=test version=1.2.3",
        "2023-11-14T22:13:20.001Z ERROR llm.chat.exception duration=1.000ms exception.type=timeout exception.message=\"upstream said \\\"slow down\\\"\" trace=4bf92f35 span=00f067aa service=inference-api environment=test version=1.2.3",
        "2023-11-14T22:13:25.000Z  INFO cache.lookup.hit size_bytes=512 cost_usd=0.00125 cache.name=prompts service=inference-api environment=test version=1.2.3",
    ];
    assert_eq!(memory.lines(), expected);
}

#[test]
fn json_golden() {
    let memory = MemoryWriter::default();
    let logger = logger(true, &memory);
    log_golden_events(&logger);
    let expected = [
        r#"{"timestamp":"2023-11-14T22:13:20.000000Z","level":"debug","event":"llm.chat.start","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7","parent_span_id":"1122334455667788","measurements":{"monotonic_time":123,"system_time":1700000000000000000},"metadata":{"gen_ai.request.model":"gpt-4o","tenant":"acme corp","streaming":true},"service":"inference-api","environment":"test","version":"1.2.3"}"#,
        r#"{"timestamp":"2023-11-14T22:13:20.012345Z","level":"info","event":"llm.chat.stop","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7","parent_span_id":"1122334455667788","measurements":{"duration":12345678,"monotonic_time":12345801,"input_tokens":42,"output_tokens":7,"time_to_first_token":2500000},"metadata":{"gen_ai.request.model":"gpt-4o","tenant":"acme corp","streaming":true,"gen_ai.request.temperature":0.25,"gen_ai.request.max_tokens":512},"service":"inference-api","environment":"test","version":"1.2.3"}"#,
        r#"{"timestamp":"2023-11-14T22:13:20.001000Z","level":"error","event":"llm.chat.exception","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7","parent_span_id":"1122334455667788","measurements":{"duration":1000000},"metadata":{"exception.type":"timeout","exception.message":"upstream said \"slow down\""},"service":"inference-api","environment":"test","version":"1.2.3"}"#,
        r#"{"timestamp":"2023-11-14T22:13:25.000000Z","level":"info","event":"cache.lookup.hit","trace_id":null,"span_id":null,"parent_span_id":null,"measurements":{"size_bytes":512,"cost_usd":0.00125},"metadata":{"cache.name":"prompts"},"service":"inference-api","environment":"test","version":"1.2.3"}"#,
    ];
    assert_eq!(memory.lines(), expected);
}

#[test]
fn json_lines_parse_back_with_their_values() {
    let memory = MemoryWriter::default();
    let logger = logger(true, &memory);
    log_golden_events(&logger);
    let lines = memory.lines();
    assert_eq!(lines.len(), 4);
    for line in &lines {
        let value: serde_json::Value = serde_json::from_str(line).unwrap();
        let object = value.as_object().unwrap();
        for field in [
            "timestamp",
            "level",
            "event",
            "trace_id",
            "span_id",
            "parent_span_id",
            "measurements",
            "metadata",
            "service",
            "environment",
            "version",
        ] {
            assert!(object.contains_key(field), "{field} missing in {line}");
        }
    }
    let stop: serde_json::Value = serde_json::from_str(&lines[1]).unwrap();
    assert_eq!(stop["event"], "llm.chat.stop");
    assert_eq!(
        stop["measurements"]["duration"].as_f64(),
        Some(12_345_678.0)
    );
    assert_eq!(stop["measurements"]["input_tokens"].as_u64(), Some(42));
    assert_eq!(
        stop["metadata"]["gen_ai.request.temperature"].as_f64(),
        Some(0.25)
    );
    assert_eq!(stop["metadata"]["streaming"].as_bool(), Some(true));
    assert_eq!(stop["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
}

#[test]
fn colour_marks_level_and_name_only_when_asked() {
    let memory = MemoryWriter::default();
    let logger = Logger::builder()
        .sink(Sink::writer(memory.clone()))
        .clock(|| NOW)
        .color(ColorChoice::Always)
        .flush_every_line(true)
        .build()
        .unwrap();
    logger.log(&Event::new(
        catalog::LLM_CHAT_EXCEPTION.get(),
        &[],
        &[],
        None,
    ));
    let line = memory.contents();
    assert!(line.contains("\x1b[31mERROR\x1b[0m"), "{line:?}");
    assert!(
        line.contains("\x1b[1mllm.chat.exception\x1b[0m"),
        "{line:?}"
    );
    // A writer sink is never a terminal, so Auto means no colour.
    assert!(!ColorChoice::Auto.resolve(false));
    assert!(!ColorChoice::Never.resolve(true));
}

#[test]
fn events_from_real_spans_carry_exact_times_and_ids() {
    let bus = Bus::new();
    let memory = MemoryWriter::default();
    let handle = Logger::builder()
        .json()
        .level(Level::Debug)
        .sink(Sink::writer(memory.clone()))
        .attach(&bus)
        .unwrap();
    let name = EventName::new("golden.inner.event").unwrap();
    bus.span(
        &catalog::LLM_CHAT,
        &[(keys::MODEL, Value::Str("m"))],
        |_| {
            bus.execute(name, &[("n", 1.0)], &[]);
        },
    );
    handle.flush(Duration::from_secs(10)).unwrap();
    let lines: Vec<serde_json::Value> = memory
        .lines()
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "{lines:?}");
    let names: Vec<&str> = lines.iter().map(|l| l["event"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["llm.chat.start", "golden.inner.event", "llm.chat.stop"]
    );
    // All three in one trace; the inner event belongs to the chat span.
    let trace = &lines[0]["trace_id"];
    assert!(lines.iter().all(|l| &l["trace_id"] == trace));
    assert_eq!(lines[1]["span_id"], lines[0]["span_id"]);
    // The stop line's time is start + duration, to the microsecond.
    let micros = |l: &serde_json::Value| {
        let t = l["timestamp"].as_str().unwrap();
        let (secs, frac) = t.trim_end_matches('Z').rsplit_once('.').unwrap();
        let hms: Vec<u64> = secs[11..].split(':').map(|p| p.parse().unwrap()).collect();
        (hms[0] * 3600 + hms[1] * 60 + hms[2]) * 1_000_000 + frac.parse::<u64>().unwrap()
    };
    let duration_micros = lines[2]["measurements"]["duration"].as_f64().unwrap() / 1_000.0;
    let measured = micros(&lines[2]) as f64 - micros(&lines[0]) as f64;
    assert!(
        (measured - duration_micros).abs() <= 1.0,
        "stop - start = {measured} µs, duration = {duration_micros} µs"
    );
}

#[test]
fn inline_delivery_writes_on_the_emitting_thread() {
    let bus = Bus::new();
    let memory = MemoryWriter::default();
    let handle = Logger::builder()
        .delivery(Delivery::Inline)
        .sink(Sink::writer(memory.clone()))
        .flush_every_line(true)
        .attach(&bus)
        .unwrap();
    bus.execute(&catalog::CACHE_LOOKUP_MISS, &[], &[]);
    // No flush, no wait: the line is there when execute returns.
    assert_eq!(memory.lines().len(), 1);
    assert_eq!(handle.stats().lines, 1);
}
