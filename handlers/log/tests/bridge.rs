//! The `tracing` bridge (feature `tracing`): events arrive as `tracing` events with target
//! `llm_telemetry`, mapped levels, redacted fields and trace ids.
#![cfg(feature = "tracing")]

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use llm_telemetry_core::{Bus, Delivery, Value};
use llm_telemetry_genai::catalog::{self, keys};
use llm_telemetry_log::{Level, TracingBridge};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// One event as the subscriber saw it.
#[derive(Debug, Clone)]
struct Seen {
    target: String,
    level: tracing::Level,
    fields: HashMap<String, String>,
}

/// A minimal subscriber that records every event it is given.
#[derive(Clone, Default)]
struct Recorder {
    seen: Arc<Mutex<Vec<Seen>>>,
}

struct Fields<'a>(&'a mut HashMap<String, String>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

impl Subscriber for Recorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut fields = HashMap::new();
        event.record(&mut Fields(&mut fields));
        self.seen.lock().unwrap().push(Seen {
            target: event.metadata().target().to_owned(),
            level: *event.metadata().level(),
            fields,
        });
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

#[test]
fn events_arrive_as_tracing_events_with_fields_and_levels() {
    let recorder = Recorder::default();
    let _default = tracing::subscriber::set_default(recorder.clone());
    let bus = Bus::new();
    // Inline so the events reach the subscriber set as default on this thread.
    let bridge = TracingBridge::builder()
        .prefix("llm")
        .delivery(Delivery::Inline)
        .attach(&bus)
        .unwrap();
    let result: Result<(), &str> = bus.try_span(
        &catalog::LLM_CHAT,
        &[
            (keys::MODEL, Value::Str("gpt-4o")),
            ("api_key", Value::Str("sk-proj-Abc123Def456Ghi789Jkl012")),
        ],
        |span| {
            span.measure(keys::INPUT_TOKENS, 42.0);
            Err("boom")
        },
    );
    assert!(result.is_err());
    bus.execute(&catalog::CACHE_LOOKUP_HIT, &[], &[]); // not under the prefix
    let seen = recorder.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(seen.iter().all(|s| s.target == "llm_telemetry"));
    assert_eq!(seen[0].fields["event"], "llm.chat.start");
    assert_eq!(seen[0].level, tracing::Level::DEBUG);
    let exception = &seen[1];
    assert_eq!(exception.fields["event"], "llm.chat.exception");
    assert_eq!(exception.level, tracing::Level::ERROR);
    let measurements: serde_json::Value =
        serde_json::from_str(&exception.fields["measurements"]).unwrap();
    assert!(
        measurements["duration"].as_f64().is_some(),
        "{measurements}"
    );
    let metadata: serde_json::Value = serde_json::from_str(&exception.fields["metadata"]).unwrap();
    assert_eq!(metadata[keys::MODEL], "gpt-4o");
    assert_eq!(metadata["api_key"], "[REDACTED]");
    assert_eq!(exception.fields["trace_id"].len(), 32);
    assert_eq!(exception.fields["span_id"].len(), 16);
    assert_eq!(exception.fields["trace_id"], seen[0].fields["trace_id"]);
    assert!(
        !exception.fields.contains_key("parent_span_id"),
        "a root span has no parent"
    );
    bridge.detach(std::time::Duration::ZERO).unwrap();
}

#[test]
fn level_floor_and_plain_events_without_span() {
    let recorder = Recorder::default();
    let _default = tracing::subscriber::set_default(recorder.clone());
    let bus = Bus::new();
    let _bridge = TracingBridge::builder()
        .level(Level::Info)
        .delivery(Delivery::Inline)
        .attach(&bus)
        .unwrap();
    bus.span(&catalog::LLM_EMBED, &[], |_| {});
    bus.execute(
        &catalog::LLM_PROVIDER_RATE_LIMIT,
        &[(keys::RETRY_AFTER, 2.0)],
        &[],
    );
    let seen = recorder.seen.lock().unwrap().clone();
    let names: Vec<&str> = seen.iter().map(|s| s.fields["event"].as_str()).collect();
    assert_eq!(names, ["llm.embed.stop", "llm.provider.rate_limit"]);
    assert_eq!(seen[1].level, tracing::Level::WARN);
    assert!(!seen[1].fields.contains_key("trace_id"));
}

/// A `MakeWriter` collecting what tracing-subscriber writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_real_tracing_subscriber_pipeline_receives_the_events() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::INFO)
        .with_writer(move || writer.clone())
        .finish();
    let _default = tracing::subscriber::set_default(subscriber);
    let bus = Bus::new();
    let _bridge = TracingBridge::builder()
        .delivery(Delivery::Inline)
        .attach(&bus)
        .unwrap();
    bus.span(
        &catalog::LLM_CHAT,
        &[(keys::MODEL, Value::Str("llama-3.1-8b"))],
        |span| span.measure(keys::OUTPUT_TOKENS, 7.0),
    );
    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // The start event is debug, below the subscriber's INFO filter.
    assert_eq!(lines.len(), 1, "{text}");
    let line = &lines[0];
    assert_eq!(line["level"], "INFO");
    assert_eq!(line["target"], "llm_telemetry");
    let fields = &line["fields"];
    assert_eq!(fields["event"], "llm.chat.stop");
    let measurements: serde_json::Value =
        serde_json::from_str(fields["measurements"].as_str().unwrap()).unwrap();
    assert_eq!(measurements[keys::OUTPUT_TOKENS], 7);
    let metadata: serde_json::Value =
        serde_json::from_str(fields["metadata"].as_str().unwrap()).unwrap();
    assert_eq!(metadata[keys::MODEL], "llama-3.1-8b");
    assert_eq!(fields["trace_id"].as_str().unwrap().len(), 32);
}
