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

#[test]
fn events_inside_a_span_become_its_span_events_and_late_attributes_join_it() {
    let (bus, capture, otel) = attached();
    let telemetry = Instrumentation::new(&bus, TelemetryLevel::Basic);
    bus.span(
        &catalog::LLM_CHAT,
        &[(keys::MODEL, Value::Str("m"))],
        |_| {
            telemetry.cache("prompts").hit(b"key", Some(42));
            telemetry.rate_limited("openai", Duration::from_secs(2));
            telemetry.record_span_event("tool_selected", &[("tool", Value::Str("search"))]);
            telemetry.set_span_attribute("orchestration.step", 3);
            telemetry.set_span_attribute("orchestration.step", 4); // the last value wins
        },
    );
    // Outside any span: nothing to attach to, and the bus does not even hand it over.
    telemetry.rate_limited("openai", Duration::from_secs(1));
    otel.flush(FLUSH).unwrap();
    let spans = capture.spans();
    assert_eq!(spans.len(), 1);
    let span = &spans[0].span;
    let names: Vec<&str> = span.events.iter().map(|e| e.name.as_ref()).collect();
    assert_eq!(
        names,
        [
            "cache.lookup.hit",
            "llm.provider.rate_limit",
            "tool_selected"
        ]
    );
    let rate_limit = &span.events.events[1];
    assert!(
        rate_limit
            .attributes
            .iter()
            .any(|kv| kv.key.as_str() == "retry_after" && kv.value.as_str() == "2"),
        "{rate_limit:?}"
    );
    assert!(rate_limit.timestamp >= span.start_time && rate_limit.timestamp <= span.end_time);
    let tool = &span.events.events[2];
    assert_eq!(tool.attributes.len(), 1, "{tool:?}");
    assert_eq!(tool.attributes[0].value.as_str(), "search");
    assert_eq!(super_attr_i64(span, "orchestration.step"), Some(4));
    assert_eq!(
        span.attributes
            .iter()
            .filter(|kv| kv.key.as_str() == "orchestration.step")
            .count(),
        1
    );
    let stats = otel.stats();
    assert_eq!(stats.span_events, 5, "{stats:?}");
    assert_eq!(
        stats.skipped_events, 0,
        "the event outside a span never reaches the handler: {stats:?}"
    );
    assert_eq!(
        bus.stats().handler("llm-telemetry-otel").unwrap().delivered,
        6,
        "the chat's stop and its five events, not the rate limit outside it"
    );
}

fn super_attr_i64(span: &llm_telemetry_otel::otel::SpanData, key: &str) -> Option<i64> {
    support::capture::attr_i64(span, key)
}

#[test]
fn span_events_can_be_switched_off() {
    let bus = Bus::new();
    let capture = CaptureExporter::new();
    let otel = OtelHandler::builder()
        .read_env(false)
        .service_name("svc")
        .span_events(false)
        .exporter(capture.clone())
        .attach(&bus)
        .unwrap();
    let telemetry = Instrumentation::new(&bus, TelemetryLevel::Basic);
    bus.span(&catalog::LLM_CHAT, &[], |_| {
        telemetry.rate_limited("openai", Duration::from_secs(2));
        telemetry.set_span_attribute("orchestration.step", 3);
    });
    otel.flush(FLUSH).unwrap();
    let span = &capture.spans()[0].span;
    assert!(span.events.is_empty());
    assert_eq!(attr(span, "orchestration.step"), None);
    assert!(
        !bus.is_listening(&catalog::LLM_PROVIDER_RATE_LIMIT),
        "not even heard"
    );
}

#[test]
fn secrets_are_redacted_in_span_attributes_with_the_log_handlers_rules() {
    let (bus, capture, otel) = attached();
    let telemetry = Instrumentation::new(&bus, TelemetryLevel::Basic);
    bus.span(
        &catalog::LLM_CHAT,
        &[
            ("api_key", Value::Str("sk-proj-abcdefghijklmnopqrstuvwx")),
            ("x-api-key", Value::Int(12345)),
            (
                "note",
                Value::Str("retried with Authorization: Bearer abc123def456ghi789"),
            ),
            (
                keys::INPUT,
                Value::Str("my key is sk-abcdefghijklmnopqrstuvwxyz, summarise"),
            ),
            (keys::INPUT_TOKENS, Value::Int(7)),
        ],
        |_| {
            telemetry.record_span_event("login", &[("password", Value::Str("hunter2"))]);
        },
    );
    otel.flush(FLUSH).unwrap();
    let span = &capture.spans()[0].span;
    assert_eq!(attr(span, "api_key").as_deref(), Some("[REDACTED]"));
    assert_eq!(attr(span, "x-api-key").as_deref(), Some("[REDACTED]"));
    assert_eq!(
        attr(span, "note").as_deref(),
        Some("retried with Authorization: [REDACTED]")
    );
    assert_eq!(
        attr(span, "input.value").as_deref(),
        Some("my key is [REDACTED], summarise")
    );
    assert_eq!(
        attr(span, keys::INPUT_TOKENS).as_deref(),
        Some("7"),
        "not a secret"
    );
    let login = &span.events.events[0];
    assert_eq!(login.attributes[0].value.as_str(), "[REDACTED]");
}

#[test]
fn chats_carry_openinference_messages_and_invocation_parameters() {
    use llm_telemetry_genai::instrument::{ChatMessage, ChatRequest, Completion};
    for hide in [false, true] {
        let bus = Bus::new();
        let capture = CaptureExporter::new();
        let otel = OtelHandler::builder()
            .read_env(false)
            .service_name("svc")
            .hide_inputs(hide)
            .exporter(capture.clone())
            .attach(&bus)
            .unwrap();
        let telemetry = Instrumentation::new(&bus, TelemetryLevel::Detailed);
        let request = ChatRequest::new(
            "gpt-4o",
            vec![
                ChatMessage::system("Be brief."),
                ChatMessage::user("Capital of France? key sk-abcdefghijklmnopqrstuvwxyz"),
            ],
        )
        .max_tokens(16)
        .temperature(0.5);
        telemetry
            .chat(&request, || {
                Ok::<_, String>(Completion::new("Paris.", 9, 2))
            })
            .unwrap();
        otel.flush(FLUSH).unwrap();
        let span = &capture.spans()[0].span;
        let get = |key: &str| attr(span, key);
        assert_eq!(
            get("llm.input_messages.0.message.role").as_deref(),
            Some("system")
        );
        assert_eq!(
            get("llm.input_messages.1.message.role").as_deref(),
            Some("user")
        );
        let user = get("llm.input_messages.1.message.content");
        if hide {
            assert_eq!(user.as_deref(), Some("__REDACTED__"));
            assert_eq!(get("gen_ai.input.messages"), None, "hidden with the inputs");
        } else {
            assert_eq!(
                user.as_deref(),
                Some("Capital of France? key [REDACTED]"),
                "secrets are cut out of messages too"
            );
            assert_eq!(
                get("llm.input_messages.0.message.content").as_deref(),
                Some("Be brief.")
            );
            assert!(
                get("gen_ai.input.messages")
                    .unwrap()
                    .contains("\"role\":\"system\"")
            );
        }
        assert_eq!(
            get("llm.output_messages.0.message.role").as_deref(),
            Some("assistant")
        );
        assert_eq!(
            get("llm.output_messages.0.message.content").as_deref(),
            Some("Paris.")
        );
        let params: serde_json::Value =
            serde_json::from_str(&get("llm.invocation_parameters").unwrap()).unwrap();
        assert_eq!(
            params,
            serde_json::json!({"max_tokens": 16, "temperature": 0.5})
        );
        otel.shutdown(FLUSH);
    }
}

/// A writer the test reads back.
#[derive(Clone, Default)]
struct Shared(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn the_console_exporter_writes_one_readable_block_per_span() {
    use llm_telemetry_otel::ConsoleExporter;
    let out = Shared::default();
    let bus = Bus::new();
    let otel = OtelHandler::builder()
        .read_env(false)
        .service_name("svc")
        .exporter(ConsoleExporter::to_writer(out.clone()))
        .attach(&bus)
        .unwrap();
    let telemetry = Instrumentation::new(&bus, TelemetryLevel::Basic);
    bus.span(
        &catalog::LLM_REQUEST,
        &[(keys::TENANT, Value::Str("acme"))],
        |_| {
            bus.span(
                &catalog::LLM_CHAT,
                &[
                    (keys::PROVIDER, Value::Str("openai")),
                    (keys::MODEL, Value::Str("gpt-4o")),
                ],
                |_| telemetry.rate_limited("openai", Duration::from_secs(2)),
            );
        },
    );
    otel.flush(FLUSH).unwrap();
    let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
    let blocks: Vec<&str> = text
        .split("\n")
        .filter(|l| !l.starts_with("  ") && !l.is_empty())
        .collect();
    assert_eq!(
        blocks,
        [
            "chat gpt-4o  (project llm-acme-svc, service svc)",
            "llm.request  (project llm-acme-svc, service svc)"
        ],
        "{text}"
    );
    assert!(text.contains("  gen_ai.request.model = gpt-4o\n"), "{text}");
    assert!(text.contains("  tenant.id = acme\n"), "{text}");
    assert!(
        text.contains(" ms llm.provider.rate_limit  retry_after=2"),
        "{text}"
    );
    assert!(text.contains("status Unset"), "{text}");
}

#[test]
fn list_valued_attributes_are_string_arrays() {
    use llm_telemetry_otel::otel::opentelemetry::{Array, Value as OtelValue};
    static ORCHESTRATE: StaticSpanName = StaticSpanName::new("orchestrate");
    let (bus, capture, otel) = attached();
    let telemetry = Instrumentation::new(&bus, TelemetryLevel::Basic);
    bus.span(&ORCHESTRATE, &[], |_| {
        telemetry.set_span_list_attribute(
            "orchestration.agent_sequence",
            ["planner", "search \"web\"", "summarizer"],
        );
        telemetry.set_span_list_attribute("tokens_seen", ["Bearer abc123def456ghi789"]);
    });
    otel.flush(FLUSH).unwrap();
    let span = &capture.spans()[0].span;
    let value = |key: &str| {
        span.attributes
            .iter()
            .find(|kv| kv.key.as_str() == key)
            .map(|kv| kv.value.clone())
    };
    assert_eq!(
        value("orchestration.agent_sequence"),
        Some(OtelValue::Array(Array::String(vec![
            "planner".into(),
            "search \"web\"".into(),
            "summarizer".into()
        ])))
    );
    assert_eq!(
        value("tokens_seen"),
        Some(OtelValue::Array(Array::String(vec![
            "Bearer [REDACTED]".into()
        ])))
    );
    assert_eq!(value("span.list"), None, "the marker is not an attribute");
}

#[test]
fn an_http_server_request_span_is_a_server_span_named_method_and_route() {
    use llm_telemetry_otel::otel::opentelemetry::trace::SpanKind;
    static HTTP_SERVER_REQUEST: StaticSpanName = StaticSpanName::new("http.server.request");
    let (bus, capture, otel) = attached();
    bus.span(
        &HTTP_SERVER_REQUEST,
        &[
            ("http.request.method", Value::Str("POST")),
            ("http.route", Value::Str("/v1/chat/completions")),
        ],
        |_| {},
    );
    bus.span(
        &HTTP_SERVER_REQUEST,
        &[("http.request.method", Value::Str("GET"))],
        |_| {},
    );
    otel.flush(FLUSH).unwrap();
    let spans = capture.spans();
    let names: Vec<&str> = spans.iter().map(|s| s.span.name.as_ref()).collect();
    assert_eq!(names, ["POST /v1/chat/completions", "GET"]);
    assert!(spans.iter().all(|s| s.span.span_kind == SpanKind::Server));
    assert_eq!(
        attr(&named(&spans, "GET").span, "http.request.method"),
        Some("GET".into())
    );
}
