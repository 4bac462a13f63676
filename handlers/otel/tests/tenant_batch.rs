//! Issue 18, item 8: many tenants do not multiply export cost. A batch is one OTLP request
//! carrying one `ResourceSpans` per tenant project, over the endpoint's one connection pool.
//!
//! Against a real loopback OTLP/HTTP receiver (protobuf, and JSON with gzip), traces of 2,000
//! distinct tenants (20 times the tenant LRU's size) plus one busy tenant are exported, and the
//! requests are decoded: the request count is exactly the number of batches, every span arrives
//! exactly once, each `ResourceSpans` carries its tenant's resource (`tenant.id`, the project
//! name, the service) and holds only that tenant's spans, a request holds one `ResourceSpans`
//! per tenant project, no warning calls the healthy collector slow, and every trace (root and
//! children that name no tenant) lands with its root's tenant.
//!
//! Against a real Arize Phoenix over gRPC: the traces of three tenants, 45 spans, so one batch
//! and one request, are exported; each tenant's spans are read back from its own project, none
//! from the default.
//!
//! Both transports are used, so the file compiles only when both are built (the default).
#![cfg(all(feature = "grpc", feature = "http"))]

mod support;

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use llm_telemetry_core::{Bus, Value};
use llm_telemetry_genai::catalog::{self, keys};
use llm_telemetry_otel::{Compression, OtelHandler, Protocol};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{KeyValue, any_value};
use prost::Message;
use support::receiver::{Request, collector};

/// Distinct tenants with one trace each.
const TENANTS: usize = 2_000;
/// Traces of the busy tenant, interleaved with the others.
const BUSY_TRACES: usize = 250;
/// Spans per trace: the request root, a chat child, an embed child naming a service.
const SPANS_PER_TRACE: usize = 3;
/// The batch size (the default).
const BATCH: usize = 512;

/// One trace of `tenant`: only the root names the tenant.
fn emit_trace(bus: &Bus, tenant: &str) {
    bus.span(
        &catalog::LLM_REQUEST,
        &[(keys::TENANT, Value::Str(tenant))],
        |_| {
            bus.span(
                &catalog::LLM_CHAT,
                &[(keys::MODEL, Value::Str("gpt-4o"))],
                |_| {},
            );
            bus.span(
                &catalog::LLM_EMBED,
                &[
                    (keys::MODEL, Value::Str("bge-small")),
                    ("service.name", Value::Str("retriever")),
                ],
                |_| {},
            );
        },
    );
}

fn string_of<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a str> {
    attributes.iter().find(|kv| kv.key == key).and_then(|kv| {
        match kv.value.as_ref()?.value.as_ref()? {
            any_value::Value::StringValue(s) => Some(s.as_str()),
            _ => None,
        }
    })
}

/// The request decoded from its body (gunzipped when sent so).
fn decode(request: &Request, json: bool) -> ExportTraceServiceRequest {
    let mut body = request.body.clone();
    if request.header("content-encoding") == Some("gzip") {
        let mut plain = Vec::new();
        flate2::read::GzDecoder::new(body.as_slice())
            .read_to_end(&mut plain)
            .unwrap();
        body = plain;
    }
    if json {
        serde_json::from_slice(&body).unwrap()
    } else {
        ExportTraceServiceRequest::decode(body.as_slice()).unwrap()
    }
}

/// Emits every trace, flushes, and checks every request; `json` selects OTLP/HTTP JSON with
/// gzip, else protobuf.
fn many_tenants_one_request_per_batch(json: bool) {
    let (port, requests) = collector(16);
    let bus = Bus::new();
    let mut builder = OtelHandler::builder()
        .read_env(false)
        .protocol(if json {
            Protocol::HttpJson
        } else {
            Protocol::HttpProtobuf
        })
        .endpoint(format!("http://127.0.0.1:{port}"))
        .service_name("batch-test")
        .tenant_projects(true)
        .max_export_batch_size(BATCH)
        // Only full batches and the final flush export: the request count is exact.
        .scheduled_delay(Duration::from_secs(600));
    if json {
        builder = builder.compression(Compression::Gzip);
    }
    let warnings = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = warnings.clone();
    let otel = builder
        .on_warning(move |w| sink.lock().unwrap().push(w.to_owned()))
        .attach(&bus)
        .unwrap();
    let mut emitted: HashMap<String, usize> = HashMap::new();
    for t in 0..TENANTS {
        let tenant = format!("t{t}");
        emit_trace(&bus, &tenant);
        *emitted.entry(tenant).or_default() += SPANS_PER_TRACE;
        if t % (TENANTS / BUSY_TRACES) == 0 {
            emit_trace(&bus, "busy");
            *emitted.entry("busy".to_owned()).or_default() += SPANS_PER_TRACE;
        }
    }
    let total: usize = emitted.values().sum();
    assert_eq!(total, (TENANTS + BUSY_TRACES) * SPANS_PER_TRACE);
    assert_eq!(otel.flush(Duration::from_secs(60)), Ok(()));
    let stats = otel.stats();
    otel.detach(Duration::from_secs(10)).unwrap();
    assert_eq!(stats.exported, total as u64, "{stats:?}");
    assert_eq!(stats.dropped(), 0, "{stats:?}");
    assert_eq!(stats.failed_exports, 0, "{stats:?}");
    // A healthy collector is not reported as slow or down, however many tenants.
    assert_eq!(*warnings.lock().unwrap(), Vec::<String>::new());

    let mut received = Vec::new();
    while let Ok(request) = requests.recv_timeout(Duration::from_millis(500)) {
        received.push(request);
    }
    // One request per batch, whatever the number of tenants in it.
    assert_eq!(received.len(), total.div_ceil(BATCH), "requests");

    let mut seen_spans: HashMap<Vec<u8>, usize> = HashMap::new();
    let mut per_tenant: HashMap<String, usize> = HashMap::new();
    let mut trace_tenant: HashMap<Vec<u8>, String> = HashMap::new();
    for request in &received {
        assert_eq!(request.line, "POST /v1/traces HTTP/1.1");
        let expected_type = if json {
            "application/json"
        } else {
            "application/x-protobuf"
        };
        assert_eq!(request.header("content-type"), Some(expected_type));
        let message = decode(request, json);
        let mut projects_in_request = HashSet::new();
        for resource_spans in &message.resource_spans {
            let resource = &resource_spans.resource.as_ref().unwrap().attributes;
            let tenant = string_of(resource, "tenant.id")
                .expect("every resource names its tenant")
                .to_owned();
            let service = string_of(resource, "service.name").unwrap();
            let project = string_of(resource, "openinference.project.name").unwrap();
            assert_eq!(project, format!("llm-{tenant}-{service}"));
            assert!(
                projects_in_request.insert(project.to_owned()),
                "{project} split across two ResourceSpans of one request"
            );
            for span in resource_spans.scope_spans.iter().flat_map(|s| &s.spans) {
                assert_eq!(
                    string_of(&span.attributes, "tenant.id"),
                    Some(tenant.as_str()),
                    "a span of another tenant in {tenant}'s ResourceSpans"
                );
                *seen_spans.entry(span.span_id.clone()).or_default() += 1;
                *per_tenant.entry(tenant.clone()).or_default() += 1;
                let first = trace_tenant
                    .entry(span.trace_id.clone())
                    .or_insert_with(|| tenant.clone());
                assert_eq!(*first, tenant, "a trace split across tenants");
            }
        }
    }
    assert_eq!(seen_spans.len(), total, "distinct spans received");
    assert!(seen_spans.values().all(|&n| n == 1), "a span arrived twice");
    assert_eq!(per_tenant, emitted, "spans per tenant");
    assert_eq!(trace_tenant.len(), TENANTS + BUSY_TRACES, "traces");
}

#[test]
fn many_tenants_are_one_protobuf_request_per_batch() {
    many_tenants_one_request_per_batch(false);
}

#[test]
fn many_tenants_are_one_gzipped_json_request_per_batch() {
    many_tenants_one_request_per_batch(true);
}

#[test]
#[ignore = "needs Phoenix: run scripts/test-all.sh"]
fn three_tenants_in_one_grpc_request_land_in_their_own_phoenix_projects() {
    use support::phoenix::Phoenix;
    const TRACES: usize = 5;
    let phoenix = Phoenix::shared();
    let run = std::process::id();
    let tenants = [format!("ta{run}"), format!("tb{run}"), format!("tc{run}")];
    let default_project = format!("tenant-batch-default-{run}");
    let bus = Bus::new();
    let otel = OtelHandler::builder()
        .read_env(false)
        .protocol(Protocol::Grpc)
        .endpoint(phoenix.grpc_endpoint())
        .service_name("batch-grpc")
        .project_name(&default_project)
        .tenant_projects(true)
        .scheduled_delay(Duration::from_secs(600))
        .attach(&bus)
        .unwrap();
    for _ in 0..TRACES {
        for tenant in &tenants {
            emit_trace(&bus, tenant);
        }
    }
    assert_eq!(otel.flush(Duration::from_secs(30)), Ok(()));
    let stats = otel.stats();
    otel.detach(Duration::from_secs(10)).unwrap();
    let per_tenant = TRACES * SPANS_PER_TRACE;
    assert_eq!(
        stats.exported,
        (per_tenant * tenants.len()) as u64,
        "{stats:?}"
    );
    assert_eq!(stats.failed_exports, 0, "{stats:?}");
    for tenant in &tenants {
        let project = format!("llm-{tenant}-batch-grpc");
        let spans = phoenix.wait_for_spans(&project, per_tenant, Duration::from_secs(60));
        assert_eq!(spans.len(), per_tenant, "{project}");
        for span in &spans {
            let attrs = &span["attributes"];
            let tenant_id = if attrs["tenant.id"].is_null() {
                &attrs["tenant"]["id"]
            } else {
                &attrs["tenant.id"]
            };
            assert_eq!(tenant_id, tenant.as_str(), "{span:#}");
        }
    }
    assert!(
        phoenix
            .spans(&default_project)
            .unwrap()
            .is_none_or(|s| s.is_empty()),
        "spans in the default project"
    );
}
