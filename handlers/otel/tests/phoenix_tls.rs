//! TLS to a real Arize Phoenix started with TLS on (`PHOENIX_TLS_ENABLED=true` and its
//! certificate and key; for mTLS also `PHOENIX_TLS_CA_FILE` and `PHOENIX_TLS_VERIFY_CLIENT`),
//! with a CA and certificates each run makes with `openssl`: spans sent over HTTPS and over
//! gRPC with TLS, with and without a client certificate, are read back through Phoenix's REST
//! API; a wrong CA, an expired collector certificate (served by `openssl s_server` on loopback),
//! a TLS server behind `http://`, a plain server behind `https://` and a missing client
//! certificate are each a clear error in the stats and one warning, and the emitter never waits.
//!
//! Needs Phoenix (`LLM_TELEMETRY_PHOENIX`) and the `openssl` and `curl` commands: run through
//! `scripts/test-all.sh`.

mod support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use llm_telemetry_core::{Bus, Value};
use llm_telemetry_genai::catalog::{self, keys};
use llm_telemetry_otel::{OtelHandler, OtelHandlerBuilder, OtelStats, Processor, Protocol};
use support::certs::Certs;
use support::phoenix::{ClientTls, Phoenix, free_port};

const FLUSH: Duration = Duration::from_secs(30);
const STORED: Duration = Duration::from_secs(60);

fn certs() -> &'static Certs {
    static CERTS: OnceLock<Certs> = OnceLock::new();
    CERTS.get_or_init(|| Certs::make("phoenix-tls"))
}

/// Phoenix with TLS on both ports, no client certificates asked.
fn tls_phoenix() -> &'static Phoenix {
    static PHOENIX: OnceLock<Phoenix> = OnceLock::new();
    PHOENIX.get_or_init(|| {
        let certs = certs();
        let tls = ClientTls {
            ca: certs.ca.clone(),
            client: None,
        };
        Phoenix::start_with(&certs.phoenix_env(false), Some(tls))
            .unwrap_or_else(|e| panic!("Phoenix with TLS is required for this test: {e}"))
    })
}

/// Phoenix with TLS on both ports that requires a client certificate signed by the CA.
fn mtls_phoenix() -> &'static Phoenix {
    static PHOENIX: OnceLock<Phoenix> = OnceLock::new();
    PHOENIX.get_or_init(|| {
        let certs = certs();
        let tls = ClientTls {
            ca: certs.ca.clone(),
            client: Some((certs.client_cert.clone(), certs.client_key.clone())),
        };
        Phoenix::start_with(&certs.phoenix_env(true), Some(tls))
            .unwrap_or_else(|e| panic!("Phoenix with mTLS is required for this test: {e}"))
    })
}

/// A request span with a chat child: two spans, one trace.
fn emit_trace(bus: &Bus) {
    bus.span(&catalog::LLM_REQUEST, &[], |_| {
        let md = [
            (keys::PROVIDER, Value::Str("openai")),
            (keys::MODEL, Value::Str("gpt-4o")),
            (keys::INPUT, Value::Str("Hello over TLS?")),
        ];
        bus.span(&catalog::LLM_CHAT, &md, |span| {
            span.measure(keys::INPUT_TOKENS, 4.0);
            span.measure(keys::OUTPUT_TOKENS, 2.0);
            span.set(keys::OUTPUT, "Hi.");
        });
    });
}

fn builder(protocol: Protocol, endpoint: String, project: &str) -> OtelHandlerBuilder {
    OtelHandler::builder()
        .read_env(false)
        .protocol(protocol)
        .endpoint(endpoint)
        .service_name("tls-test")
        .project_name(project)
        .export_timeout(Duration::from_secs(10))
}

/// Attaches, emits one trace, flushes and shuts down; the stats after.
fn send(builder: OtelHandlerBuilder) -> (OtelStats, bool) {
    let bus = Bus::new();
    let otel = builder.attach(&bus).expect("attach");
    emit_trace(&bus);
    let flushed = otel.force_flush(FLUSH);
    otel.shutdown(FLUSH);
    (otel.stats(), flushed)
}

fn assert_arrived(phoenix: &Phoenix, project: &str, builder: OtelHandlerBuilder) {
    let (stats, flushed) = send(builder);
    assert!(flushed, "{stats:?}");
    assert_eq!((stats.exported, stats.dropped()), (2, 0), "{stats:?}");
    assert_eq!(stats.last_export_error, None);
    let spans = phoenix.wait_for_spans(project, 2, STORED);
    let mut names: Vec<&str> = spans.iter().filter_map(|s| s["name"].as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["chat gpt-4o", "llm.request"], "{spans:?}");
    let root = spans.iter().find(|s| s["name"] == "llm.request").unwrap();
    let child = spans.iter().find(|s| s["name"] == "chat gpt-4o").unwrap();
    assert_eq!(child["parent_id"], root["context"]["span_id"]);
}

#[test]
#[ignore = "needs Phoenix: run scripts/test-all.sh"]
fn spans_reach_a_tls_only_phoenix_over_https() {
    let phoenix = tls_phoenix();
    assert!(phoenix.http_endpoint().starts_with("https://"));
    let b = builder(Protocol::HttpProtobuf, phoenix.http_endpoint(), "tls-https")
        .certificate(&certs().ca);
    assert_arrived(phoenix, "tls-https", b);
}

#[test]
#[ignore = "needs Phoenix: run scripts/test-all.sh"]
fn spans_reach_a_tls_only_phoenix_over_grpc_with_tls() {
    let phoenix = tls_phoenix();
    let b = builder(Protocol::Grpc, phoenix.grpc_endpoint(), "tls-grpc").certificate(&certs().ca);
    assert_arrived(phoenix, "tls-grpc", b);
}

#[test]
#[ignore = "needs Phoenix: run scripts/test-all.sh"]
fn http_json_reaches_a_tls_phoenix_which_answers_415() {
    let phoenix = tls_phoenix();
    let b =
        builder(Protocol::HttpJson, phoenix.http_endpoint(), "tls-json").certificate(&certs().ca);
    let (stats, flushed) = send(b);
    // Phoenix's OTLP/HTTP receiver takes protobuf only: the JSON body reaches it over TLS and is
    // refused with 415 Unsupported Media Type (an HTTP answer, so TLS worked), which the stats
    // name.
    assert!(!flushed);
    assert_eq!(
        (stats.exported, stats.dropped_export_failed),
        (0, 2),
        "{stats:?}"
    );
    let error = stats.last_export_error.expect("a failed export says why");
    assert!(error.contains("415"), "{error}");
}

#[test]
#[ignore = "needs Phoenix: run scripts/test-all.sh"]
fn otel_exporter_otlp_certificate_and_endpoint_from_the_environment_reach_phoenix_over_https() {
    // The config file layer holds the same variables as the environment (one parser for both).
    let phoenix = tls_phoenix();
    let dir = certs().dir.join("env-layer");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("otel.json");
    std::fs::write(
        &file,
        serde_json::json!({
            "OTEL_EXPORTER_OTLP_ENDPOINT": phoenix.http_endpoint(),
            "OTEL_EXPORTER_OTLP_CERTIFICATE": certs().ca.display().to_string(),
            "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip",
            "PHOENIX_PROJECT_NAME": "tls-env",
        })
        .to_string(),
    )
    .unwrap();
    let b = OtelHandler::builder()
        .read_env(false)
        .config_file(&file)
        .service_name("tls-test");
    let config = b.resolve().unwrap();
    assert_eq!(
        config.endpoint,
        format!("{}/v1/traces", phoenix.http_endpoint())
    );
    assert_arrived(phoenix, "tls-env", b);
}

#[test]
#[ignore = "needs Phoenix: run scripts/test-all.sh"]
fn spans_reach_an_mtls_phoenix_with_a_client_certificate_over_both_transports() {
    let phoenix = mtls_phoenix();
    let certs = certs();
    for (protocol, endpoint, project) in [
        (
            Protocol::HttpProtobuf,
            phoenix.http_endpoint(),
            "mtls-https",
        ),
        (Protocol::Grpc, phoenix.grpc_endpoint(), "mtls-grpc"),
    ] {
        let b = builder(protocol, endpoint, project)
            .certificate(&certs.ca)
            .client_certificate(&certs.client_cert)
            .client_key(&certs.client_key);
        assert_arrived(phoenix, project, b);
    }
}

/// Sends 200 one-by-one exports that all fail; returns the stats, the warnings and how long the
/// emitter took.
fn failing(builder: OtelHandlerBuilder) -> (OtelStats, Vec<String>, Duration, usize) {
    let warnings = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = warnings.clone();
    let bus = Bus::new();
    let otel = builder
        .processor(Processor::Batch)
        .scheduled_delay(Duration::from_millis(50))
        .max_export_batch_size(20)
        .export_timeout(Duration::from_secs(5))
        .on_warning(move |w| sink.lock().unwrap().push(w.to_owned()))
        .attach(&bus)
        .expect("attach");
    let started = Instant::now();
    let mut returned = 0;
    for _ in 0..100 {
        emit_trace(&bus);
        returned += 1;
    }
    let emitting = started.elapsed();
    assert!(!otel.force_flush(FLUSH), "every export fails");
    otel.shutdown(FLUSH);
    let stats = otel.stats();
    let warnings = warnings.lock().unwrap().clone();
    (stats, warnings, emitting, returned)
}

fn assert_clear_failure(
    (stats, warnings, emitting, returned): (OtelStats, Vec<String>, Duration, usize),
    wants: &[&str],
) {
    assert_eq!(returned, 100, "every emit returned");
    assert_eq!(stats.exported, 0, "{stats:?}");
    assert_eq!(
        stats.dropped_export_failed, 200,
        "every span counted: {stats:?}"
    );
    assert!(stats.failed_exports >= 1, "{stats:?}");
    let error = stats.last_export_error.clone().expect("the stats say why");
    for want in wants {
        assert!(error.contains(want), "{want:?} not in {error:?}");
    }
    assert_eq!(warnings.len(), 1, "one rate-limited warning: {warnings:?}");
    assert!(warnings[0].contains("failed"), "{warnings:?}");
    // 200 spans emitted while every export fails: the emitter never waits on the network.
    assert!(
        emitting < Duration::from_secs(2),
        "emitting took {emitting:?}"
    );
}

#[test]
#[ignore = "needs Phoenix: run scripts/test-all.sh"]
fn a_wrong_ca_is_a_clear_error_in_stats_and_one_warning() {
    let phoenix = tls_phoenix();
    for (protocol, endpoint) in [
        (Protocol::HttpProtobuf, phoenix.http_endpoint()),
        (Protocol::Grpc, phoenix.grpc_endpoint()),
    ] {
        let b = builder(protocol, endpoint, "tls-wrong-ca").certificate(&certs().other_ca);
        assert_clear_failure(
            failing(b),
            &["UnknownIssuer", "OTEL_EXPORTER_OTLP_CERTIFICATE"],
        );
    }
}

/// `openssl s_server` on a loopback port presenting a certificate; killed on drop.
struct OpensslServer {
    child: Child,
    port: u16,
}

impl OpensslServer {
    /// Starts it with `cert` and `key` and waits (up to 10 s) until it accepts connections.
    fn start(cert: &PathBuf, key: &PathBuf) -> OpensslServer {
        let port = free_port();
        let child = Command::new("openssl")
            .arg("s_server")
            .args(["-accept", &format!("127.0.0.1:{port}"), "-www", "-quiet"])
            .arg("-cert")
            .arg(cert)
            .arg("-key")
            .arg(key)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("the openssl command is required for this test: {e}"));
        let mut server = OpensslServer { child, port };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("openssl s_server exited early ({status})");
            }
            assert!(Instant::now() < deadline, "openssl s_server not listening");
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }
}

impl Drop for OpensslServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn an_expired_collector_certificate_is_a_clear_error_in_stats_and_one_warning() {
    // The collector's certificate is signed by the trusted CA and names 127.0.0.1, but its
    // validity ended on 2000-01-02: rustls refuses it over both transports.
    let certs = certs();
    let server = OpensslServer::start(&certs.expired_server_cert, &certs.expired_server_key);
    for protocol in [Protocol::HttpProtobuf, Protocol::Grpc] {
        let b = builder(
            protocol,
            format!("https://127.0.0.1:{}", server.port),
            "tls-expired",
        )
        .certificate(&certs.ca);
        let outcome = failing(b);
        // The one warning names the problem too, not only the stats.
        let warnings = &outcome.1;
        assert!(
            warnings.iter().all(|w| w.contains("certificate expired")),
            "{warnings:?}"
        );
        assert_clear_failure(
            outcome,
            &[
                "invalid peer certificate",
                "certificate expired",
                "renew it",
            ],
        );
    }
}

#[test]
#[ignore = "needs Phoenix: run scripts/test-all.sh"]
fn the_platform_roots_do_not_trust_a_private_ca() {
    // No CA file: the platform's roots are used, and they do not know the test CA.
    let phoenix = tls_phoenix();
    let b = builder(Protocol::HttpProtobuf, phoenix.http_endpoint(), "tls-no-ca");
    assert_clear_failure(failing(b), &["UnknownIssuer"]);
}

#[test]
#[ignore = "needs Phoenix: run scripts/test-all.sh"]
fn a_tls_server_behind_http_is_a_clear_error() {
    let phoenix = tls_phoenix();
    let plain = phoenix.http_endpoint().replacen("https://", "http://", 1);
    let b = builder(Protocol::HttpProtobuf, plain, "tls-behind-http");
    assert_clear_failure(failing(b), &["https://"]);
}

#[test]
#[ignore = "needs Phoenix: run scripts/test-all.sh"]
fn mtls_without_a_client_certificate_is_a_clear_error() {
    let phoenix = mtls_phoenix();
    let b = builder(
        Protocol::HttpProtobuf,
        phoenix.http_endpoint(),
        "mtls-no-client",
    )
    .certificate(&certs().ca);
    assert_clear_failure(failing(b), &["client certificate"]);
}

#[test]
fn a_plain_server_behind_https_is_a_clear_error() {
    // A plain-text HTTP server on loopback answering every connection with a 400.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(500) {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
            let mut buf = [0u8; 1024];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n");
        }
    });
    let b = builder(
        Protocol::HttpProtobuf,
        format!("https://127.0.0.1:{port}"),
        "plain-behind-https",
    )
    .certificate(&certs().ca);
    assert_clear_failure(failing(b), &["does not speak TLS"]);
}

#[test]
fn an_unreadable_certificate_file_is_a_typed_error_naming_the_option_and_path() {
    let missing = PathBuf::from("/nonexistent/ca.pem");
    let err = OtelHandler::builder()
        .read_env(false)
        .endpoint("https://127.0.0.1:4318")
        .certificate(&missing)
        .attach(&Bus::new())
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("builder option certificate") && text.contains("/nonexistent/ca.pem"),
        "{text}"
    );
    assert!(text.contains("PEM"), "{text}");
}
