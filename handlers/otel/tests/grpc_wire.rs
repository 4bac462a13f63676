//! What goes over the wire with OTLP/gRPC, checked with a real gRPC server on loopback: the
//! generated OTLP `TraceService` server of `opentelemetry-proto` (tonic), served by hyper's
//! HTTP/2 server, records every export's metadata and decoded request. With gzip configured the
//! request is sent `grpc-encoding: gzip` (and decoded by tonic as such); without it, uncompressed;
//! the configured headers arrive as gRPC metadata; a batch of several tenants is one request with
//! one `ResourceSpans` per tenant, every span exactly once.
#![cfg(feature = "grpc")]

use std::collections::HashMap;
use std::sync::mpsc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use llm_telemetry_core::{Bus, Value};
use llm_telemetry_genai::catalog::{self, keys};
use llm_telemetry_otel::{Compression, OtelHandler, Protocol};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value;
use tonic::codec::CompressionEncoding;

const WAIT: Duration = Duration::from_secs(10);

/// One export as the server received it: its gRPC metadata and its request.
struct Received {
    metadata: HashMap<String, String>,
    request: ExportTraceServiceRequest,
}

struct Recorder(std::sync::Mutex<mpsc::Sender<Received>>);

#[tonic::async_trait]
impl TraceService for Recorder {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let metadata = request
            .metadata()
            .clone()
            .into_headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
            .collect();
        let _ = self.0.lock().unwrap().send(Received {
            metadata,
            request: request.into_inner(),
        });
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

/// Starts the receiver on a free loopback port (its own runtime thread, for the process's life).
fn grpc_receiver() -> (u16, mpsc::Receiver<Received>) {
    let (tx, rx) = mpsc::channel();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            let service = TraceServiceServer::new(Recorder(std::sync::Mutex::new(tx)))
                .accept_compressed(CompressionEncoding::Gzip);
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let service = TowerToHyperService::new(service.clone());
                tokio::spawn(async move {
                    let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
    });
    (port, rx)
}

/// Exports `traces` traces (a request span holding a chat span) for each of `tenants` over
/// gRPC with `compression`; returns what the receiver got and the handler's exported count.
fn export(compression: Compression, tenants: &[&str], traces: usize) -> (Vec<Received>, u64) {
    let (port, received) = grpc_receiver();
    let bus = Bus::new();
    let otel = OtelHandler::builder()
        .read_env(false)
        .protocol(Protocol::Grpc)
        .endpoint(format!("http://127.0.0.1:{port}"))
        .compression(compression)
        .headers([("x-team", "search")])
        .service_name("grpc-wire")
        .attach(&bus)
        .unwrap();
    for _ in 0..traces {
        for tenant in tenants {
            bus.span(
                &catalog::LLM_REQUEST,
                &[(keys::TENANT, Value::Str(tenant))],
                |_| {
                    let md = [
                        (keys::PROVIDER, Value::Str("openai")),
                        (keys::MODEL, Value::Str("gpt-4o")),
                    ];
                    bus.span(&catalog::LLM_CHAT, &md, |_| {});
                },
            );
        }
    }
    otel.force_flush(WAIT);
    otel.shutdown(WAIT);
    let exported = otel.stats().exported;
    let got: Vec<Received> = received.try_iter().collect();
    (got, exported)
}

fn spans_of(r: &Received) -> usize {
    r.request
        .resource_spans
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .map(|ss| ss.spans.len())
        .sum()
}

fn tenant_of(rs: &opentelemetry_proto::tonic::trace::v1::ResourceSpans) -> Option<String> {
    let resource = rs.resource.as_ref()?;
    resource.attributes.iter().find_map(|kv| {
        (kv.key == "tenant.id").then(|| match kv.value.as_ref()?.value.as_ref()? {
            any_value::Value::StringValue(s) => Some(s.clone()),
            _ => None,
        })?
    })
}

#[test]
fn grpc_gzip_is_sent_as_grpc_encoding_gzip_with_the_configured_metadata() {
    let (got, exported) = export(Compression::Gzip, &["acme"], 3);
    assert_eq!(got.len(), 1, "one batch, one request");
    let r = &got[0];
    assert_eq!(
        r.metadata.get("grpc-encoding").map(String::as_str),
        Some("gzip")
    );
    assert_eq!(r.metadata.get("x-team").map(String::as_str), Some("search"));
    assert_eq!(spans_of(r), 6);
    assert_eq!(exported, 6);
}

#[test]
fn grpc_without_compression_sends_no_grpc_encoding() {
    let (got, exported) = export(Compression::None, &["acme"], 2);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].metadata.get("grpc-encoding"), None);
    assert_eq!(spans_of(&got[0]), 4);
    assert_eq!(exported, 4);
}

#[test]
fn grpc_batch_of_three_tenants_is_one_request_with_one_resource_spans_each() {
    let tenants = ["acme", "globex", "initech"];
    let (got, exported) = export(Compression::Gzip, &tenants, 5);
    assert_eq!(got.len(), 1, "one batch, one request");
    let request = &got[0].request;
    assert_eq!(request.resource_spans.len(), 3);
    let mut seen: Vec<(String, usize)> = request
        .resource_spans
        .iter()
        .map(|rs| {
            let spans = rs.scope_spans.iter().map(|ss| ss.spans.len()).sum();
            (tenant_of(rs).expect("tenant.id on the resource"), spans)
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        vec![
            ("acme".to_owned(), 10),
            ("globex".to_owned(), 10),
            ("initech".to_owned(), 10)
        ]
    );
    assert_eq!(exported, 30);
}
