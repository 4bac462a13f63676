//! The OTLP exporter environment, rule by rule, on the wire: a loopback OTLP/HTTP receiver
//! records the method, path, headers and body of each export. The variables are given through
//! the handler's config file, which holds the same names and goes through the same parser as
//! the environment (so tests never touch the process's variables).

mod support;

use std::io::Read;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use llm_telemetry_core::{Bus, Value};
use llm_telemetry_genai::catalog::{self, keys};
use llm_telemetry_otel::{OtelHandler, OtelStats};
use support::receiver::{Request, collector};

const WAIT: Duration = Duration::from_secs(10);

fn emit_trace(bus: &Bus) {
    bus.span(&catalog::LLM_REQUEST, &[], |_| {
        let md = [
            (keys::PROVIDER, Value::Str("openai")),
            (keys::MODEL, Value::Str("gpt-4o")),
        ];
        bus.span(&catalog::LLM_CHAT, &md, |_| {});
    });
}

/// Writes `vars` as the handler's config file and exports one trace with it; returns the
/// request the receiver got (if any), the stats and the warnings.
fn export_with(
    vars: serde_json::Value,
    requests: &std::sync::mpsc::Receiver<Request>,
) -> (Option<Request>, OtelStats, Vec<String>) {
    let dir = std::env::temp_dir().join(format!(
        "otel-env-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let file: PathBuf = dir.join("otel.json");
    std::fs::write(&file, vars.to_string()).unwrap();
    let warnings = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = warnings.clone();
    let bus = Bus::new();
    let otel = OtelHandler::builder()
        .read_env(false)
        .config_file(&file)
        .on_warning(move |w| sink.lock().unwrap().push(w.to_owned()))
        .attach(&bus)
        .expect("attach");
    emit_trace(&bus);
    otel.force_flush(WAIT);
    otel.shutdown(WAIT);
    let _ = std::fs::remove_dir_all(&dir);
    let request = requests.recv_timeout(Duration::from_millis(500)).ok();
    let warnings = warnings.lock().unwrap().clone();
    (request, otel.stats(), warnings)
}

fn export(vars: serde_json::Value) -> (Request, OtelStats) {
    let (port, requests) = collector(1);
    let vars = substitute(vars, port);
    let (request, stats, _) = export_with(vars, &requests);
    (request.expect("the receiver got the export"), stats)
}

/// Replaces `{port}` in every string value with the receiver's port.
fn substitute(vars: serde_json::Value, port: u16) -> serde_json::Value {
    let text = vars.to_string().replace("{port}", &port.to_string());
    serde_json::from_str(&text).unwrap()
}

#[test]
fn otel_exporter_otlp_endpoint_is_a_base_and_http_appends_v1_traces_keeping_its_path() {
    let (request, stats) = export(serde_json::json!({
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:{port}/otlp",
    }));
    assert_eq!(request.line, "POST /otlp/v1/traces HTTP/1.1");
    assert_eq!(stats.exported, 2);
    let (request, _) = export(serde_json::json!({
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:{port}",
    }));
    assert_eq!(request.line, "POST /v1/traces HTTP/1.1");
}

#[test]
fn otel_exporter_otlp_traces_endpoint_is_used_as_is_and_wins_also_when_both_are_set() {
    let (request, _) = export(serde_json::json!({
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1/otlp",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:{port}/custom/traces",
    }));
    assert_eq!(request.line, "POST /custom/traces HTTP/1.1");
    let (request, _) = export(serde_json::json!({
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:{port}",
    }));
    assert_eq!(request.line, "POST / HTTP/1.1", "no path is appended");
}

#[test]
fn otel_exporter_otlp_headers_traces_form_wins_over_the_generic_one() {
    let (request, _) = export(serde_json::json!({
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:{port}",
        "OTEL_EXPORTER_OTLP_HEADERS": "x-generic=1",
        "OTEL_EXPORTER_OTLP_TRACES_HEADERS": "x-traces=a%20b",
    }));
    assert_eq!(request.header("x-traces"), Some("a b"));
    assert_eq!(request.header("x-generic"), None, "not merged");
}

#[test]
fn otel_exporter_otlp_compression_gzip_is_sent_as_content_encoding() {
    let (request, stats) = export(serde_json::json!({
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:{port}",
        "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION": "gzip",
    }));
    assert_eq!(request.header("content-encoding"), Some("gzip"));
    let mut body = Vec::new();
    flate2::read::GzDecoder::new(request.body.as_slice())
        .read_to_end(&mut body)
        .expect("a gzip body");
    // An ExportTraceServiceRequest: field 1 (resource_spans), length-delimited.
    assert_eq!(body.first(), Some(&0x0a));
    assert!(body.windows(6).any(|w| w == b"gpt-4o"));
    assert_eq!(stats.exported, 2);
    let (plain, _) = export(serde_json::json!({
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:{port}",
        "OTEL_EXPORTER_OTLP_COMPRESSION": "none",
    }));
    assert_eq!(plain.header("content-encoding"), None);
}

#[test]
fn otel_exporter_otlp_protocol_http_json_posts_json() {
    let (request, stats) = export(serde_json::json!({
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:{port}",
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/json",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
    }));
    assert_eq!(request.line, "POST /v1/traces HTTP/1.1");
    assert_eq!(request.header("content-type"), Some("application/json"));
    let json: serde_json::Value = serde_json::from_slice(&request.body).expect("a JSON body");
    let spans = &json["resourceSpans"][0]["scopeSpans"][0]["spans"];
    assert_eq!(spans.as_array().map(Vec::len), Some(2), "{json}");
    assert_eq!(stats.exported, 2);
}

#[test]
fn otel_exporter_otlp_timeout_traces_form_wins() {
    let config = OtelHandler::builder()
        .read_env(false)
        .config_file(write_file(serde_json::json!({
            "OTEL_EXPORTER_OTLP_TIMEOUT": "9000",
            "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT": "1500",
        })))
        .resolve()
        .unwrap();
    assert_eq!(config.export_timeout, Duration::from_millis(1500));
}

fn write_file(vars: serde_json::Value) -> PathBuf {
    let file = std::env::temp_dir().join(format!(
        "otel-env-resolve-{}-{:?}.json",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::write(&file, vars.to_string()).unwrap();
    file
}

#[test]
fn phoenix_collector_endpoint_api_key_and_client_headers() {
    let (request, _) = export(serde_json::json!({
        "PHOENIX_COLLECTOR_ENDPOINT": "http://127.0.0.1:{port}/phoenix/",
        "PHOENIX_API_KEY": "key-1",
        "PHOENIX_CLIENT_HEADERS": "x-team=search",
    }));
    assert_eq!(request.line, "POST /phoenix/v1/traces HTTP/1.1");
    assert_eq!(request.header("authorization"), Some("Bearer key-1"));
    assert_eq!(request.header("x-team"), Some("search"));
    let (request, _) = export(serde_json::json!({
        "PHOENIX_COLLECTOR_ENDPOINT": "http://127.0.0.1:{port}/v1/traces",
    }));
    assert_eq!(
        request.line, "POST /v1/traces HTTP/1.1",
        "not appended twice"
    );
}

#[test]
fn a_bare_phoenix_host_4317_means_grpc() {
    let config = OtelHandler::builder()
        .read_env(false)
        .config_file(write_file(serde_json::json!({
            "PHOENIX_COLLECTOR_ENDPOINT": "127.0.0.1:4317",
        })))
        .resolve()
        .unwrap();
    assert_eq!(config.protocol, llm_telemetry_otel::Protocol::Grpc);
    assert_eq!(config.endpoint, "http://127.0.0.1:4317");
}

#[test]
fn otel_traces_sampler_unknown_is_logged_once_and_ignored_not_fatal() {
    let (port, requests) = collector(1);
    let (request, stats, warnings) = export_with(
        substitute(
            serde_json::json!({
                "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:{port}",
                "OTEL_TRACES_SAMPLER": "sometimes",
            }),
            port,
        ),
        &requests,
    );
    assert!(request.is_some(), "spans still exported");
    assert_eq!(stats.exported, 2);
    assert_eq!(stats.config_warnings, 1);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("OTEL_TRACES_SAMPLER=\"sometimes\""),
        "{warnings:?}"
    );
}

#[test]
fn otel_sdk_disabled_is_true_only_for_true() {
    let (port, requests) = collector(1);
    let (request, stats, warnings) = export_with(
        substitute(
            serde_json::json!({
                "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:{port}",
                "OTEL_SDK_DISABLED": "TRUE",
            }),
            port,
        ),
        &requests,
    );
    assert!(request.is_none(), "nothing exported");
    assert_eq!((stats.exported, stats.sampled_out), (0, 2));
    assert!(warnings.is_empty());
    let (port, requests) = collector(1);
    let (request, stats, warnings) = export_with(
        substitute(
            serde_json::json!({
                "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:{port}",
                "OTEL_SDK_DISABLED": "yes",
            }),
            port,
        ),
        &requests,
    );
    assert!(request.is_some(), "`yes` is not `true`: still enabled");
    assert_eq!(stats.exported, 2);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("OTEL_SDK_DISABLED"), "{warnings:?}");
}

#[test]
fn a_malformed_header_list_is_a_typed_error_naming_the_variable() {
    let err = OtelHandler::builder()
        .read_env(false)
        .config_file(write_file(serde_json::json!({
            "OTEL_EXPORTER_OTLP_HEADERS": "api-key=1,broken",
        })))
        .attach(&Bus::new())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("OTEL_EXPORTER_OTLP_HEADERS") && err.contains("api-key=1,broken"),
        "{err}"
    );
    assert!(err.contains("key=value"), "{err}");
}

#[test]
fn cargo_features_leave_out_the_transport_not_used() {
    // gRPC pulls tonic, HTTP pulls reqwest: each feature alone leaves the other out.
    let tree = |features: &str| {
        let output = std::process::Command::new(env!("CARGO"))
            .args([
                "tree",
                "--offline",
                "-e",
                "normal",
                "-p",
                "llm-telemetry-otel",
            ])
            .args(["--no-default-features", "--features", features])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .expect("run cargo tree");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let http = tree("http");
    assert!(
        http.contains("reqwest") && !http.contains("tonic"),
        "{http}"
    );
    let grpc = tree("grpc");
    assert!(
        grpc.contains("tonic") && !grpc.contains("reqwest"),
        "{grpc}"
    );
    for tree in [&http, &grpc] {
        assert!(
            !tree.contains("openssl-sys") && !tree.contains("native-tls"),
            "{tree}"
        );
    }
}
