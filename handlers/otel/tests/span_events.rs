//! Span events by default: any event emitted inside a span (a program's own included) becomes an
//! OpenTelemetry span event on that span, read back through a capturing exporter, while events
//! emitted outside every span never reach the handler's bus queue (counted by the bus: not
//! delivered, not dropped). `span_events(false)` hears none, explicit `span_event_patterns`
//! narrow the set, span starts are never heard.

mod support;

use std::time::Duration;

use llm_telemetry_core::{Bus, EventName, StaticEventName, StaticSpanName, Value};
use llm_telemetry_genai::catalog::{self, keys};
use llm_telemetry_genai::instrument::{Instrumentation, TelemetryLevel};
use llm_telemetry_otel::{OtelHandler, OtelHandlerBuilder};
use support::capture::{CaptureExporter, Exported};

const FLUSH: Duration = Duration::from_secs(10);
/// The handler's id on the bus (the builder's default).
const HANDLER_ID: &str = "llm-telemetry-otel";

static RETRIEVAL_DONE: StaticEventName = StaticEventName::new("myapp.retrieval.done");
static HEARTBEAT: StaticEventName = StaticEventName::new("myapp.loop.heartbeat");
static JOB: StaticSpanName = StaticSpanName::new("myapp.job");

fn builder(capture: &CaptureExporter) -> OtelHandlerBuilder {
    OtelHandler::builder()
        .read_env(false)
        .service_name("svc")
        .exporter(capture.clone())
}

fn event_names(span: &Exported) -> Vec<&str> {
    span.span.events.iter().map(|e| e.name.as_ref()).collect()
}

#[test]
fn a_programs_own_event_inside_a_chat_span_is_a_span_event_on_it() {
    let bus = Bus::new();
    let capture = CaptureExporter::new();
    let otel = builder(&capture).attach(&bus).unwrap();
    bus.span(
        &catalog::LLM_CHAT,
        &[(keys::MODEL, Value::Str("m"))],
        |_| {
            bus.execute(
                &RETRIEVAL_DONE,
                &[("documents", 3.0)],
                &[("index", Value::Str("faq"))],
            );
        },
    );
    otel.flush(FLUSH).unwrap();
    let spans = capture.spans();
    assert_eq!(spans.len(), 1, "{spans:?}");
    assert_eq!(spans[0].span.name, "chat m");
    assert_eq!(event_names(&spans[0]), ["myapp.retrieval.done"]);
    let event = &spans[0].span.events.events[0];
    let attribute = |key: &str| {
        event
            .attributes
            .iter()
            .find(|kv| kv.key.as_str() == key)
            .map(|kv| kv.value.as_str().into_owned())
    };
    assert_eq!(attribute("documents").as_deref(), Some("3"));
    assert_eq!(attribute("index").as_deref(), Some("faq"));
    assert_eq!(event.attributes.len(), 2, "{event:?}");
    let stats = otel.stats();
    assert_eq!(stats.span_events, 1, "{stats:?}");
    assert_eq!(stats.skipped_events, 0, "{stats:?}");
}

#[test]
fn an_event_belongs_to_the_innermost_span_current_where_it_was_emitted() {
    let bus = Bus::new();
    let capture = CaptureExporter::new();
    let otel = builder(&capture).attach(&bus).unwrap();
    bus.span(&JOB, &[], |_| {
        bus.execute(&HEARTBEAT, &[], &[]);
        bus.span(
            &catalog::LLM_CHAT,
            &[(keys::MODEL, Value::Str("m"))],
            |_| {
                bus.execute(&RETRIEVAL_DONE, &[], &[]);
                bus.execute(&RETRIEVAL_DONE, &[], &[]);
            },
        );
        bus.execute(&HEARTBEAT, &[], &[]);
    });
    otel.flush(FLUSH).unwrap();
    let spans = capture.spans();
    assert_eq!(spans.len(), 2, "{spans:?}");
    let chat = spans.iter().find(|s| s.span.name == "chat m").unwrap();
    let job = spans.iter().find(|s| s.span.name != "chat m").unwrap();
    assert_eq!(
        event_names(chat),
        ["myapp.retrieval.done", "myapp.retrieval.done"]
    );
    assert_eq!(
        event_names(job),
        ["myapp.loop.heartbeat", "myapp.loop.heartbeat"]
    );
    assert_eq!(otel.stats().span_events, 4);
}

#[test]
fn events_outside_every_span_take_no_slot_of_the_handlers_queue() {
    let bus = Bus::new();
    let capture = CaptureExporter::new();
    let otel = builder(&capture).attach(&bus).unwrap();
    // The handler hears the name (inside spans), so the bus dispatches it...
    assert!(bus.is_listening(&HEARTBEAT));
    // ...and 100,000 of them outside any span, with 1,000 chat spans meanwhile.
    for i in 0..100_000u32 {
        bus.execute(&HEARTBEAT, &[("i", f64::from(i))], &[]);
        if i % 100 == 0 {
            bus.span(
                &catalog::LLM_CHAT,
                &[(keys::MODEL, Value::Str("m"))],
                |_| {},
            );
        }
    }
    otel.flush(FLUSH).unwrap();
    let bus_stats = bus.stats();
    let handler = bus_stats.handler(HANDLER_ID).unwrap();
    // Delivered: the 1,000 chat stops, nothing else; dropped: none.
    assert_eq!(handler.delivered, 1_000, "{handler:?}");
    assert_eq!(handler.dropped, 0, "{handler:?}");
    let stats = otel.stats();
    assert_eq!(stats.exported, 1_000, "{stats:?}");
    assert_eq!(stats.dropped(), 0, "{stats:?}");
    assert_eq!(stats.skipped_events, 0, "{stats:?}");
    assert_eq!(stats.span_events, 0, "{stats:?}");
    let spans = capture.spans();
    assert_eq!(spans.len(), 1_000);
    assert!(spans.iter().all(|s| s.span.events.is_empty()));
}

#[test]
fn span_starts_are_not_heard_and_span_ends_follow_the_stop_patterns() {
    let bus = Bus::new();
    let capture = CaptureExporter::new();
    let _otel = builder(&capture).attach(&bus).unwrap();
    assert!(!bus.is_listening(&catalog::LLM_CHAT_START));
    assert!(!bus.is_listening(EventName::new("myapp.job.start").unwrap()));
    assert!(bus.is_listening(EventName::new("myapp.job.stop").unwrap()));
    // A four-segment prefix is beyond the default stop patterns: not a span, not a span event.
    assert!(!bus.is_listening(EventName::new("a.b.c.d.stop").unwrap()));
    assert!(!bus.is_listening(EventName::new("a.b.c.d.exception").unwrap()));
    assert!(bus.is_listening(EventName::new("a.b.c.d.progress").unwrap()));
}

#[test]
fn span_events_off_hears_no_event_but_span_ends() {
    let bus = Bus::new();
    let capture = CaptureExporter::new();
    let otel = builder(&capture).span_events(false).attach(&bus).unwrap();
    let telemetry = Instrumentation::new(&bus, TelemetryLevel::Basic);
    bus.span(
        &catalog::LLM_CHAT,
        &[(keys::MODEL, Value::Str("m"))],
        |_| {
            bus.execute(&RETRIEVAL_DONE, &[], &[]);
            telemetry.cache("prompts").hit(b"key", Some(1));
        },
    );
    otel.flush(FLUSH).unwrap();
    let spans = capture.spans();
    assert_eq!(spans.len(), 1);
    assert!(
        spans[0].span.events.is_empty(),
        "{:?}",
        spans[0].span.events
    );
    assert!(!bus.is_listening(&RETRIEVAL_DONE));
    assert!(!bus.is_listening(&catalog::CACHE_LOOKUP_HIT));
    assert_eq!(
        bus.stats().handler(HANDLER_ID).unwrap().delivered,
        1,
        "the chat's stop only"
    );
    assert_eq!(otel.stats().span_events, 0);
}

#[test]
fn explicit_span_event_patterns_narrow_what_becomes_a_span_event() {
    let bus = Bus::new();
    let capture = CaptureExporter::new();
    let otel = builder(&capture)
        .span_event_patterns(["myapp.retrieval.*", "llm.stream.first_token"])
        .attach(&bus)
        .unwrap();
    let telemetry = Instrumentation::new(&bus, TelemetryLevel::Basic);
    bus.span(
        &catalog::LLM_CHAT,
        &[(keys::MODEL, Value::Str("m"))],
        |_| {
            bus.execute(&RETRIEVAL_DONE, &[], &[]);
            bus.execute(&HEARTBEAT, &[], &[]);
            telemetry.cache("prompts").hit(b"key", Some(1));
        },
    );
    // Outside a span, a named pattern's events are not heard either.
    for _ in 0..1_000 {
        bus.execute(&RETRIEVAL_DONE, &[], &[]);
    }
    otel.flush(FLUSH).unwrap();
    let spans = capture.spans();
    assert_eq!(spans.len(), 1);
    assert_eq!(event_names(&spans[0]), ["myapp.retrieval.done"]);
    assert!(!bus.is_listening(&HEARTBEAT));
    assert!(!bus.is_listening(&catalog::CACHE_LOOKUP_HIT));
    assert_eq!(bus.stats().handler(HANDLER_ID).unwrap().delivered, 2);
    assert_eq!(otel.stats().skipped_events, 0);
}
