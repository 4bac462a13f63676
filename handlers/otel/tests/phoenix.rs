//! Against a real Arize Phoenix: spans sent over OTLP/gRPC and OTLP/HTTP are read back from
//! Phoenix's REST API (`GET /v1/projects/{project}/spans`) with their names, parentage, status and
//! the attributes of both conventions, and each tenant's spans land in its own project.
//!
//! Needs Phoenix (`LLM_TELEMETRY_PHOENIX`): run through `scripts/test-all.sh`. One Phoenix serves
//! every test here; each test uses its own project names.

mod support;

use std::time::Duration;

use llm_telemetry_core::{Bus, Value};
use llm_telemetry_genai::catalog::{self, keys};
use llm_telemetry_otel::{OtelHandler, Protocol};
use serde_json::Value as Json;
use support::phoenix::{Phoenix, attribute};

const FLUSH: Duration = Duration::from_secs(30);
const STORED: Duration = Duration::from_secs(60);

#[derive(Debug)]
struct ProviderDown;
impl std::fmt::Display for ProviderDown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection reset by provider")
    }
}

/// A request span with a chat child, a failed chat, and an MLX generate.
fn emit_workload(bus: &Bus, tenant: Option<&'static str>) {
    let tenant_md: Vec<(&'static str, Value<'static>)> = tenant
        .map(|t| (keys::TENANT, Value::Str(t)))
        .into_iter()
        .collect();
    bus.span(&catalog::LLM_REQUEST, &tenant_md, |_| {
        let mut md = vec![
            (keys::PROVIDER, Value::Str("openai")),
            (keys::MODEL, Value::Str("gpt-4o")),
            (keys::TEMPERATURE, Value::Float(0.2)),
            (keys::MAX_TOKENS, Value::Int(64)),
            (keys::INPUT, Value::Str("What is the capital of France?")),
        ];
        md.extend(tenant_md.iter().copied());
        bus.span(&catalog::LLM_CHAT, &md, |span| {
            span.measure(keys::INPUT_TOKENS, 12.0);
            span.measure(keys::OUTPUT_TOKENS, 3.0);
            span.set(keys::OUTPUT, "Paris.");
            span.set(keys::FINISH_REASONS, "stop");
        });
        let _: Result<(), ProviderDown> =
            bus.try_span(&catalog::LLM_CHAT, &md, |_| Err(ProviderDown));
    });
    let mut md = vec![
        (keys::PROVIDER, Value::Str("mlx")),
        (
            keys::MODEL,
            Value::Str("mlx-community/Llama-3.2-1B-Instruct-4bit"),
        ),
        (keys::DEVICE, Value::Str("gpu")),
        (keys::INPUT, Value::Str("Hello")),
        (keys::SEED, Value::Int(7)),
        (keys::STREAMING, Value::Bool(false)),
    ];
    md.extend(tenant_md.iter().copied());
    bus.span(&catalog::LLM_GENERATE, &md, |span| {
        span.measure(keys::OUTPUT_TOKENS, 4.0);
        span.set(keys::OUTPUT, "Hi there!");
    });
}

fn find<'a>(spans: &'a [Json], pred: impl Fn(&Json) -> bool, what: &str) -> &'a Json {
    spans.iter().find(|s| pred(s)).unwrap_or_else(|| {
        panic!(
            "no {what} among {}",
            serde_json::to_string_pretty(spans).unwrap()
        )
    })
}

fn check_workload(spans: &[Json]) {
    let request = find(spans, |s| s["name"] == "llm.request", "llm.request span");
    let ok_chat = find(
        spans,
        |s| s["name"] == "chat gpt-4o" && s["status_code"] == "UNSET",
        "successful chat span",
    );
    let failed_chat = find(
        spans,
        |s| s["name"] == "chat gpt-4o" && s["status_code"] == "ERROR",
        "failed chat span",
    );
    let generate = find(
        spans,
        |s| s["name"] == "mlx_lm.generate",
        "mlx_lm.generate span",
    );

    // Parentage and trace ids came from the bus.
    let request_id = &request["context"]["span_id"];
    assert!(request["parent_id"].is_null(), "{request}");
    assert_eq!(ok_chat["parent_id"], *request_id);
    assert_eq!(failed_chat["parent_id"], *request_id);
    assert_eq!(
        ok_chat["context"]["trace_id"],
        request["context"]["trace_id"]
    );
    assert_ne!(
        generate["context"]["trace_id"],
        request["context"]["trace_id"]
    );

    // Kinds as Phoenix understood them.
    assert_eq!(ok_chat["span_kind"], "LLM");
    assert_eq!(request["span_kind"], "CHAIN");

    // OpenInference.
    assert_eq!(attribute(ok_chat, "llm.model_name"), "gpt-4o");
    assert_eq!(attribute(ok_chat, "llm.provider"), "openai");
    assert_eq!(attribute(ok_chat, "llm.token_count.prompt"), 12);
    assert_eq!(attribute(ok_chat, "llm.token_count.completion"), 3);
    assert_eq!(attribute(ok_chat, "llm.token_count.total"), 15);
    assert_eq!(
        attribute(ok_chat, "input.value"),
        "What is the capital of France?"
    );
    assert_eq!(attribute(ok_chat, "output.value"), "Paris.");
    assert_eq!(attribute(ok_chat, "input.mime_type"), "text/plain");
    let params = attribute(ok_chat, "llm.invocation_parameters");
    let params: Json = match params {
        Json::String(s) => serde_json::from_str(s).unwrap(),
        other => other.clone(),
    };
    assert_eq!(params["max_tokens"], 64);
    // GenAI.
    assert_eq!(attribute(ok_chat, "gen_ai.operation.name"), "chat");
    assert_eq!(attribute(ok_chat, "gen_ai.provider.name"), "openai");
    assert_eq!(attribute(ok_chat, "gen_ai.request.model"), "gpt-4o");
    assert_eq!(attribute(ok_chat, "gen_ai.request.temperature"), 0.2);
    assert_eq!(attribute(ok_chat, "gen_ai.request.max_tokens"), 64);
    assert_eq!(attribute(ok_chat, "gen_ai.usage.input_tokens"), 12);
    assert_eq!(attribute(ok_chat, "gen_ai.usage.output_tokens"), 3);
    assert_eq!(
        attribute(ok_chat, "gen_ai.response.finish_reasons"),
        &serde_json::json!(["stop"])
    );

    // The exception.
    assert_eq!(
        failed_chat["status_message"],
        "connection reset by provider"
    );
    let events = failed_chat["events"].as_array().expect("events");
    let exception = events
        .iter()
        .find(|e| e["name"] == "exception")
        .unwrap_or_else(|| panic!("no exception event in {failed_chat}"));
    assert_eq!(exception["attributes"]["exception.type"], "ProviderDown");
    assert_eq!(
        exception["attributes"]["exception.message"],
        "connection reset by provider"
    );

    // MLX.
    assert_eq!(
        attribute(generate, "mlx.model_id"),
        "mlx-community/Llama-3.2-1B-Instruct-4bit"
    );
    assert_eq!(attribute(generate, "mlx.device"), "gpu");
    assert_eq!(attribute(generate, "gen_ai.prompt.length"), 5);
    assert_eq!(attribute(generate, "gen_ai.response.length"), 9);
    assert!(attribute(generate, "mlx.latency_ms").is_number());
    // PMD's names, as its documentation lists them.
    assert_eq!(attribute(generate, "gen_ai.seed"), 7);
    assert_eq!(attribute(generate, "gen_ai.streaming"), false);
    assert_eq!(attribute(generate, "gen_ai.response.token_count"), 4);
}

fn send(
    protocol: Protocol,
    endpoint: String,
    project: &str,
    tenant: Option<&'static str>,
) -> Vec<Json> {
    let bus = Bus::new();
    let otel = OtelHandler::builder()
        .read_env(false)
        .protocol(protocol)
        .endpoint(endpoint)
        .service_name("phoenix-test")
        .project_name(project)
        .attach(&bus)
        .unwrap();
    emit_workload(&bus, tenant);
    assert!(otel.force_flush(FLUSH), "flush: {:?}", otel.stats());
    assert!(otel.shutdown(FLUSH));
    let stats = otel.stats();
    assert_eq!(stats.exported, 4, "{stats:?}");
    assert_eq!(stats.dropped(), 0, "{stats:?}");
    let target = match tenant {
        Some(t) => format!("llm-{t}-phoenix-test"),
        None => project.to_owned(),
    };
    Phoenix::shared().wait_for_spans(&target, 4, STORED)
}

#[test]
#[ignore = "needs Phoenix: run scripts/test-all.sh"]
fn spans_over_grpc_reach_phoenix_with_both_conventions() {
    let phoenix = Phoenix::shared();
    let spans = send(Protocol::Grpc, phoenix.grpc_endpoint(), "otel-grpc", None);
    assert_eq!(spans.len(), 4);
    check_workload(&spans);
}

#[test]
#[ignore = "needs Phoenix: run scripts/test-all.sh"]
fn spans_over_http_protobuf_reach_phoenix_with_both_conventions() {
    let phoenix = Phoenix::shared();
    let spans = send(
        Protocol::HttpProtobuf,
        phoenix.http_endpoint(),
        "otel-http",
        None,
    );
    assert_eq!(spans.len(), 4);
    check_workload(&spans);
}

#[test]
#[ignore = "needs Phoenix: run scripts/test-all.sh"]
fn each_tenant_gets_its_own_phoenix_project() {
    let phoenix = Phoenix::shared();
    let acme = send(
        Protocol::HttpProtobuf,
        phoenix.http_endpoint(),
        "otel-tenants",
        Some("acme"),
    );
    check_workload(&acme);
    let globex = send(
        Protocol::Grpc,
        phoenix.grpc_endpoint(),
        "otel-tenants",
        Some("globex"),
    );
    check_workload(&globex);
    let acme_ids: Vec<&Json> = acme.iter().map(|s| &s["context"]["span_id"]).collect();
    assert!(
        globex
            .iter()
            .all(|s| !acme_ids.contains(&&s["context"]["span_id"]))
    );
    // Nothing went to the default project of that handler.
    assert!(
        phoenix
            .spans("otel-tenants")
            .unwrap()
            .is_none_or(|s| s.is_empty())
    );
}

#[test]
#[ignore = "needs Phoenix: run scripts/test-all.sh"]
fn a_programs_own_event_inside_a_chat_is_a_span_event_in_phoenix() {
    static RETRIEVAL_DONE: llm_telemetry_core::StaticEventName =
        llm_telemetry_core::StaticEventName::new("myapp.retrieval.done");
    let phoenix = Phoenix::shared();
    let bus = Bus::new();
    let otel = OtelHandler::builder()
        .read_env(false)
        .protocol(Protocol::HttpProtobuf)
        .endpoint(phoenix.http_endpoint())
        .service_name("phoenix-test")
        .project_name("otel-span-events")
        .attach(&bus)
        .unwrap();
    bus.span(
        &catalog::LLM_CHAT,
        &[(keys::MODEL, Value::Str("gpt-4o"))],
        |_| {
            bus.execute(
                &RETRIEVAL_DONE,
                &[("documents", 3.0)],
                &[("index", Value::Str("faq"))],
            );
        },
    );
    // Outside every span: never handed to the handler.
    for _ in 0..1_000 {
        bus.execute(&RETRIEVAL_DONE, &[("documents", 1.0)], &[]);
    }
    assert!(otel.force_flush(FLUSH), "flush: {:?}", otel.stats());
    assert!(otel.shutdown(FLUSH));
    let stats = otel.stats();
    assert_eq!((stats.exported, stats.span_events), (1, 1), "{stats:?}");
    let spans = phoenix.wait_for_spans("otel-span-events", 1, STORED);
    assert_eq!(spans.len(), 1);
    let events = spans[0]["events"].as_array().expect("events");
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["name"], "myapp.retrieval.done");
    assert_eq!(events[0]["attributes"]["documents"], 3.0, "{events:?}");
    assert_eq!(events[0]["attributes"]["index"], "faq", "{events:?}");
}
