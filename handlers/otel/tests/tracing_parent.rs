//! Issue 15, item 3: `tracing` → bus. With `TracingParentLayer` and `tracing-opentelemetry` in
//! one subscriber, a bus span started inside an entered `tracing` span is exported (by this
//! handler) with the `tracing` span's trace id and its span id as parent, while
//! `tracing-opentelemetry` exports the `tracing` spans themselves: one trace. The bus → `tracing`
//! bridge, attached at the same time, forwards each bus event exactly once with the same ids,
//! and nothing loops (the bus sees only the events it was given).
//!
//! Both sides export in process, each to a capturing exporter: the bus through this handler, the
//! `tracing` spans through the opentelemetry SDK's simple processor. The last test sends both to
//! a real Arize Phoenix (the `tracing` side through the SDK's own OTLP/HTTP exporter) and reads
//! the one trace back from its REST API.

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use llm_telemetry_core::{Bus, Delivery, Value};
use llm_telemetry_genai::catalog::{self, keys};
use llm_telemetry_log::{TracingBridge, TracingParentLayer};
use llm_telemetry_otel::OtelHandler;
use llm_telemetry_otel::otel::opentelemetry::trace::TracerProvider;
use llm_telemetry_otel::otel::opentelemetry_sdk::trace::SdkTracerProvider;
use support::capture::{CaptureExporter, attr};
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

/// The bridge's events as `tracing` delivered them: their `event`, `trace_id` and `span_id`
/// fields.
#[derive(Clone, Default)]
struct BridgeEvents(Arc<Mutex<Vec<HashMap<String, String>>>>);

struct Fields(HashMap<String, String>);

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

impl<S: tracing::Subscriber> Layer<S> for BridgeEvents {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        if event.metadata().target() == "llm_telemetry" {
            let mut fields = Fields(HashMap::new());
            event.record(&mut fields);
            self.0.lock().unwrap().push(fields.0);
        }
    }
}

#[test]
fn bus_spans_take_the_entered_tracing_span_as_parent_and_the_bridge_does_not_loop() {
    let bus = Bus::new();
    let bus_spans = CaptureExporter::new();
    let otel = OtelHandler::builder()
        .read_env(false)
        .exporter(bus_spans.clone())
        .attach(&bus)
        .unwrap();
    let bridge = TracingBridge::builder()
        .prefix("llm")
        .delivery(Delivery::Inline)
        .attach(&bus)
        .unwrap();
    let tracing_spans = CaptureExporter::new();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(tracing_spans.clone())
        .build();
    let forwarded = BridgeEvents::default();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("service")))
        .with(TracingParentLayer::new())
        .with(forwarded.clone());

    tracing::subscriber::with_default(subscriber, || {
        let request = tracing::info_span!("http.request");
        let entered = request.enter();
        // A bus span naming the tenant, with a bus child naming none.
        bus.span(
            &catalog::LLM_CHAT,
            &[
                (keys::MODEL, Value::Str("gpt-4o")),
                (keys::TENANT, Value::Str("acme")),
            ],
            |_| {
                bus.span(
                    &catalog::LLM_EMBED,
                    &[(keys::MODEL, Value::Str("bge-small"))],
                    |_| {},
                );
            },
        );
        {
            let retrieval = tracing::info_span!("retrieval");
            let _retrieval = retrieval.enter();
            bus.span(
                &catalog::LLM_EMBED,
                &[(keys::MODEL, Value::Str("bge-large"))],
                |_| {},
            );
        }
        drop(entered);
        // Outside every `tracing` span: a trace of its own.
        bus.span(
            &catalog::LLM_EMBED,
            &[(keys::MODEL, Value::Str("bge-base"))],
            |_| {},
        );
    });

    assert!(otel.force_flush(Duration::from_secs(10)));
    provider.force_flush().unwrap();
    let stats = otel.stats();
    otel.shutdown(Duration::from_secs(10));

    let tracing_side: HashMap<String, _> = tracing_spans
        .spans()
        .into_iter()
        .map(|e| (e.span.name.to_string(), e.span))
        .collect();
    assert_eq!(tracing_side.len(), 2, "{:?}", tracing_side.keys());
    let request = &tracing_side["http.request"];
    let retrieval = &tracing_side["retrieval"];
    let trace_id = request.span_context.trace_id();
    assert_eq!(retrieval.span_context.trace_id(), trace_id);
    assert_eq!(retrieval.parent_span_id, request.span_context.span_id());

    let bus_side: HashMap<String, _> = bus_spans
        .spans()
        .into_iter()
        .map(|e| (e.span.name.to_string(), e.span))
        .collect();
    assert_eq!(bus_side.len(), 4, "{:?}", bus_side.keys());
    assert_eq!(stats.exported, 4, "{stats:?}");
    let chat = &bus_side["chat gpt-4o"];
    let child = &bus_side["embeddings bge-small"];
    let under_retrieval = &bus_side["embeddings bge-large"];
    let outside = &bus_side["embeddings bge-base"];
    // One trace: the bus spans under the tracing spans, by the tracing spans' own ids.
    assert_eq!(chat.span_context.trace_id(), trace_id);
    assert_eq!(chat.parent_span_id, request.span_context.span_id());
    assert_eq!(child.span_context.trace_id(), trace_id);
    assert_eq!(child.parent_span_id, chat.span_context.span_id());
    assert_eq!(under_retrieval.span_context.trace_id(), trace_id);
    assert_eq!(
        under_retrieval.parent_span_id,
        retrieval.span_context.span_id()
    );
    // The first bus span under the tracing span fixes the trace's tenant for its children.
    assert_eq!(attr(child, "tenant.id").as_deref(), Some("acme"));
    // After the tracing span is exited, the bus's current span is gone again.
    assert_ne!(outside.span_context.trace_id(), trace_id);
    assert_eq!(
        outside.parent_span_id,
        llm_telemetry_otel::otel::opentelemetry::trace::SpanId::INVALID
    );

    // Bus → tracing: each of the 8 bus events (start and stop of 4 spans) forwarded once, with
    // the ids of the span it belongs to; nothing came back onto the bus.
    let events = forwarded.0.lock().unwrap().clone();
    assert_eq!(events.len(), 8, "{events:?}");
    assert_eq!(bridge.stats().forwarded, 8);
    let trace_hex = format!("{trace_id}");
    let chat_stop = events
        .iter()
        .find(|e| e["event"] == "llm.chat.stop")
        .unwrap();
    assert_eq!(chat_stop["trace_id"], trace_hex);
    assert_eq!(
        chat_stop["span_id"],
        format!("{}", chat.span_context.span_id())
    );
    assert_eq!(
        events.iter().filter(|e| e["trace_id"] == trace_hex).count(),
        6,
        "the events of the three spans under the tracing spans"
    );
    // The bridge's events inside the request span reached tracing-opentelemetry too, as span
    // events of the tracing span they were emitted in.
    assert_eq!(request.events.len(), 4, "{:?}", request.events);
    assert_eq!(retrieval.events.len(), 2, "{:?}", retrieval.events);
    bridge.detach(Duration::from_secs(5)).unwrap();
    let _ = provider.shutdown();
}

/// The way HTTP servers use `tracing`: the request's future is instrumented with its span, which
/// is entered on every poll (and exited between polls); the bus span made in it is its child,
/// and nothing is left current once the future is done.
#[test]
fn a_bus_span_in_an_instrumented_future_is_a_child_of_its_span() {
    use tracing::Instrument;
    let bus = Bus::new();
    let bus_spans = CaptureExporter::new();
    let otel = OtelHandler::builder()
        .read_env(false)
        .exporter(bus_spans.clone())
        .attach(&bus)
        .unwrap();
    let tracing_spans = CaptureExporter::new();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(tracing_spans.clone())
        .build();
    let subscriber = tracing_subscriber::registry()
        .with(TracingParentLayer::new())
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("service")));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    tracing::subscriber::with_default(subscriber, || {
        let request = async {
            // Yield once, so the span is exited and entered again before the bus span.
            let mut yielded = false;
            std::future::poll_fn(|cx| {
                if yielded {
                    std::task::Poll::Ready(())
                } else {
                    yielded = true;
                    cx.waker().wake_by_ref();
                    std::task::Poll::Pending
                }
            })
            .await;
            bus.span(
                &catalog::LLM_CHAT,
                &[(keys::MODEL, Value::Str("gpt-4o"))],
                |_| {},
            );
        };
        runtime.block_on(request.instrument(tracing::info_span!("POST /v1/chat/completions")));
        assert_eq!(llm_telemetry_core::context::current(), None);
    });
    assert!(otel.force_flush(Duration::from_secs(10)));
    provider.force_flush().unwrap();
    otel.shutdown(Duration::from_secs(10));
    let request = tracing_spans.spans();
    assert_eq!(request.len(), 1);
    let request = &request[0].span;
    let chat = bus_spans.spans();
    assert_eq!(chat.len(), 1);
    let chat = &chat[0].span;
    assert_eq!(
        chat.span_context.trace_id(),
        request.span_context.trace_id()
    );
    assert_eq!(chat.parent_span_id, request.span_context.span_id());
    let _ = provider.shutdown();
}

/// Both exporters to a real Phoenix, one project: the trace read back holds the `tracing` span
/// (exported by `tracing-opentelemetry` through the SDK's OTLP exporter) and the bus span
/// (exported by this handler) as its child.
// The `tracing` side goes through the SDK's own OTLP/HTTP exporter.
#[cfg(feature = "http")]
#[test]
#[ignore = "needs Phoenix: run scripts/test-all.sh"]
fn phoenix_stores_one_trace_of_a_tracing_span_and_its_bus_span() {
    use std::sync::atomic::{AtomicBool, Ordering};

    use llm_telemetry_otel::otel::Resource;
    use llm_telemetry_otel::otel::opentelemetry::KeyValue;
    use llm_telemetry_otel::{PROJECT_NAME_ATTRIBUTE, Protocol};
    use opentelemetry_otlp::WithExportConfig;
    use support::phoenix::Phoenix;

    let phoenix = Phoenix::shared();
    let project = format!("tracing-parent-{}", std::process::id());
    let bus = Bus::new();
    let otel = OtelHandler::builder()
        .read_env(false)
        .protocol(Protocol::HttpProtobuf)
        .endpoint(phoenix.http_endpoint())
        .service_name("tracing-parent")
        .project_name(&project)
        .attach(&bus)
        .unwrap();
    // The SDK's HTTP exporter runs on tokio: a runtime driven by a thread of its own, entered by
    // the thread that ends the `tracing` span (the simple processor exports there).
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let handle = runtime.handle().clone();
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = stop.clone();
    let driver = std::thread::spawn(move || {
        runtime.block_on(async {
            while !stopped.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    });
    let _runtime = handle.enter();
    // The SDK builds its own reqwest client, which needs a process-wide rustls provider (ring,
    // as the handler's transports use).
    #[allow(deprecated)]
    let _ = rustls::crypto::ring::default_provider().install_default();
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
        .with_endpoint(format!("{}/v1/traces", phoenix.http_endpoint()))
        .build()
        .unwrap();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter)
        .with_resource(
            Resource::builder_empty()
                .with_attributes([
                    KeyValue::new("service.name", "tracing-parent"),
                    KeyValue::new(PROJECT_NAME_ATTRIBUTE, project.clone()),
                ])
                .build(),
        )
        .build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("service")))
        .with(TracingParentLayer::new());
    tracing::subscriber::with_default(subscriber, || {
        let request = tracing::info_span!("handle_request");
        let _request = request.enter();
        bus.span(
            &catalog::LLM_CHAT,
            &[(keys::MODEL, Value::Str("gpt-4o"))],
            |_| {},
        );
    });
    assert!(otel.force_flush(Duration::from_secs(30)));
    provider.force_flush().unwrap();
    otel.shutdown(Duration::from_secs(10));

    let spans = phoenix.wait_for_spans(&project, 2, Duration::from_secs(60));
    stop.store(true, Ordering::SeqCst);
    driver.join().unwrap();
    let find = |name: &str| {
        spans
            .iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("no {name} among {spans:#?}"))
    };
    let request = find("handle_request");
    let chat = find("chat gpt-4o");
    assert_eq!(spans.len(), 2, "{spans:#?}");
    assert!(request["parent_id"].is_null(), "{request}");
    assert_eq!(chat["parent_id"], request["context"]["span_id"]);
    assert_eq!(chat["context"]["trace_id"], request["context"]["trace_id"]);
    let _ = provider.shutdown();
}
