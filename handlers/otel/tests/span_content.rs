//! What a span holds, checked through a capturing exporter: one-segment span names, the
//! specification's status rules, OpenInference's provider and system values, tenants and
//! services inherited from the trace's root, and the project every span of a trace goes to.

mod support;

use std::time::Duration;

use llm_telemetry_core::{Bus, StaticSpanName, Value};
use llm_telemetry_genai::catalog::{self, keys};
use llm_telemetry_genai::instrument::{Instrumentation, TelemetryLevel};
use llm_telemetry_otel::OtelHandler;
use llm_telemetry_otel::otel::opentelemetry::trace::Status;
use support::capture::{CaptureExporter, Exported, attr};

const FLUSH: Duration = Duration::from_secs(10);

fn attached() -> (Bus, CaptureExporter, OtelHandler) {
    let bus = Bus::new();
    let capture = CaptureExporter::new();
    let otel = OtelHandler::builder()
        .read_env(false)
        .service_name("svc")
        .exporter(capture.clone())
        .attach(&bus)
        .unwrap();
    (bus, capture, otel)
}

fn named<'a>(spans: &'a [Exported], name: &str) -> &'a Exported {
    spans
        .iter()
        .find(|e| e.span.name == name)
        .unwrap_or_else(|| {
            panic!(
                "no {name:?} in {:?}",
                spans.iter().map(|e| &e.span.name).collect::<Vec<_>>()
            )
        })
}

#[test]
fn one_segment_span_names_are_exported_with_the_default_patterns() {
    static SEARCH: StaticSpanName = StaticSpanName::new("search");
    let (bus, capture, otel) = attached();
    bus.span(&SEARCH, &[], |_| {});
    let _: Result<(), &str> = bus.try_span(&SEARCH, &[], |_| Err("index offline"));
    otel.flush(FLUSH).unwrap();
    let spans = capture.spans();
    assert_eq!(spans.len(), 2, "{spans:?}");
    assert!(spans.iter().all(|s| s.span.name == "search"));
    assert_eq!(spans[1].span.status, Status::error("index offline"));
}

#[test]
fn success_leaves_status_unset_and_an_error_class_is_an_error() {
    let (bus, capture, otel) = attached();
    let telemetry = Instrumentation::new(&bus, TelemetryLevel::Basic);
    bus.span(
        &catalog::LLM_CHAT,
        &[(keys::MODEL, Value::Str("m"))],
        |_| {},
    );
    telemetry.start_provider_request("openai", None).finish(200);
    telemetry.start_provider_request("openai", None).finish(503);
    drop(bus.start_span(&catalog::LLM_REQUEST, &[])); // cancelled
    otel.flush(FLUSH).unwrap();
    let spans = capture.spans();
    let statuses: Vec<_> = spans.iter().map(|s| s.span.status.clone()).collect();
    assert_eq!(
        statuses,
        [
            Status::Unset,
            Status::Unset,
            Status::error("server_error"),
            Status::Unset
        ]
    );
}

#[test]
fn provider_and_system_take_openinference_values_and_stay_off_embedding_spans() {
    let (bus, capture, otel) = attached();
    bus.span(
        &catalog::LLM_CHAT,
        &[
            (keys::PROVIDER, Value::Str("gcp.vertex_ai")),
            (keys::MODEL, Value::Str("gemini-2.0-flash")),
        ],
        |_| {},
    );
    bus.span(
        &catalog::LLM_EMBED,
        &[
            (keys::PROVIDER, Value::Str("openai")),
            (keys::MODEL, Value::Str("text-embedding-3-small")),
        ],
        |_| {},
    );
    otel.flush(FLUSH).unwrap();
    let spans = capture.spans();
    let chat = &named(&spans, "chat gemini-2.0-flash").span;
    assert_eq!(attr(chat, "llm.provider").as_deref(), Some("google"));
    assert_eq!(attr(chat, "llm.system").as_deref(), Some("vertexai"));
    assert_eq!(
        attr(chat, "gen_ai.provider.name").as_deref(),
        Some("gcp.vertex_ai")
    );
    let embed = &named(&spans, "embeddings text-embedding-3-small").span;
    assert_eq!(attr(embed, "llm.provider"), None);
    assert_eq!(attr(embed, "llm.system"), None);
    assert_eq!(
        attr(embed, "gen_ai.provider.name").as_deref(),
        Some("openai")
    );
}

#[test]
fn every_span_of_a_trace_inherits_its_roots_tenant_and_goes_to_its_project() {
    let (bus, capture, otel) = attached();
    let telemetry = Instrumentation::new(&bus, TelemetryLevel::Basic);
    for (tenant, service) in [("acme", None), ("globex", Some("search"))] {
        let mut root = vec![(keys::TENANT, Value::Str(tenant))];
        root.extend(service.map(|s| (keys::SERVICE_NAME, Value::Str(s))));
        bus.span(&catalog::LLM_REQUEST, &root, |_| {
            bus.span(
                &catalog::LLM_CHAT,
                &[(keys::MODEL, Value::Str("m"))],
                |_| {
                    telemetry
                        .start_provider_request("openai", Some("m"))
                        .finish(200);
                },
            );
            // A child naming another tenant keeps it as its attribute, not its project.
            bus.span(
                &catalog::LLM_GENERATE,
                &[(keys::TENANT, Value::Str("initech"))],
                |_| {},
            );
        });
    }
    otel.flush(FLUSH).unwrap();
    let spans = capture.spans();
    assert_eq!(spans.len(), 8);
    for (trace, project, service, tenant) in [
        (&spans[..4], "llm-acme-svc", "svc", "acme"),
        (&spans[4..], "llm-globex-search", "search", "globex"),
    ] {
        for span in trace {
            assert_eq!(span.project.as_deref(), Some(project), "{}", span.span.name);
            assert_eq!(span.service.as_deref(), Some(service), "{}", span.span.name);
            let own = if span.span.name == "text_completion" {
                "initech"
            } else {
                tenant
            };
            assert_eq!(
                attr(&span.span, "tenant.id").as_deref(),
                Some(own),
                "{}",
                span.span.name
            );
        }
    }
    let stats = otel.stats();
    assert_eq!(stats.tenants.misses, 2, "one exporter per route: {stats:?}");
}
