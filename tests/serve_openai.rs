//! The official `openai` Python client (PyPI `openai`) against the main job run as a real process
//! with `--serve`: chat, streamed chat with usage, embeddings (the client's default base64
//! encoding), models, and refused requests, each parsed by the client's own types; the traces
//! read back from a real Arize Phoenix with the client-supplied `traceparent` as the parent of the
//! request span and the request span as the parent of the LLM span; the counters from `/metrics`.
//!
//! `#[ignore]`d in a plain `cargo test`; `scripts/test-all.sh` installs the client and runs it.
//! It fails when the client or Phoenix is missing. Also here, not ignored: `--serve` given a bad
//! or taken address is a clear error.

// The harness allows its own unused items (`#![allow(dead_code)]` inside).
#[path = "../handlers/otel/tests/support/phoenix.rs"]
mod phoenix;
#[path = "support/service_binary.rs"]
mod service_binary;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value as Json;

/// The Python with `openai` installed: `LLM_TELEMETRY_OPENAI_PYTHON`, else the Phoenix
/// virtualenv's (where `scripts/test-all.sh` installs it).
fn python() -> PathBuf {
    let python = std::env::var_os("LLM_TELEMETRY_OPENAI_PYTHON")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/phoenix-venv/bin/python"));
    let ok = Command::new(&python)
        .args(["-c", "import openai"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "the openai Python client is required: {} cannot import openai \
         (run scripts/test-all.sh, or set LLM_TELEMETRY_OPENAI_PYTHON)",
        python.display()
    );
    python
}

/// The main job with `--serve` on a free port; the API's base URL once it is up.
fn start_service(metrics_port: u16, env: &[(&str, &str)]) -> (Child, String) {
    let mut command = service_binary::service_command();
    command
        .args(["--serve", "127.0.0.1:0", "--latency-scale", "0", "--set"])
        .arg(format!("metrics.listen=127.0.0.1:{metrics_port}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command
        .spawn()
        .expect("start the inference_service example");
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix("serving the OpenAI-compatible API at ") {
                let _ = tx.send(url.trim().to_owned());
            }
        }
    });
    let url = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the service printed its API address");
    (child, url)
}

/// The value of the first sample of `name` whose labels contain every one of `labels`.
fn sample(metrics: &str, name: &str, labels: &[&str]) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with(&format!("{name}{{")))
        .find(|l| labels.iter().all(|label| l.contains(label)))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {name} with {labels:?} in /metrics:\n{metrics}"))
}

const TP_CHAT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
const TP_STREAM: &str = "00-1af7651916cd43dd8448eb211c80319c-c7ad6b7169203331-01";
const TP_EMBED: &str = "00-2af7651916cd43dd8448eb211c80319c-d7ad6b7169203331-01";

/// The request span the caller's `traceparent` is the parent of, and the LLM span under it.
fn request_and_llm_span<'a>(spans: &'a [Json], traceparent: &str) -> (&'a Json, &'a Json) {
    let parts: Vec<&str> = traceparent.split('-').collect();
    let (trace, parent) = (parts[1], parts[2]);
    let request = spans
        .iter()
        .find(|s| s["context"]["trace_id"] == trace && s["parent_id"] == parent)
        .unwrap_or_else(|| panic!("no span of trace {trace} under {parent} in {spans:#?}"));
    let llm = spans
        .iter()
        .find(|s| s["parent_id"] == request["context"]["span_id"])
        .unwrap_or_else(|| panic!("no span under the request span {request}"));
    assert_eq!(llm["context"]["trace_id"], trace);
    (request, llm)
}

#[test]
#[ignore = "needs the openai Python client and Arize Phoenix: run scripts/test-all.sh"]
fn the_official_openai_client_drives_the_served_api_with_traces_in_phoenix() {
    let python = python();
    let phoenix = phoenix::Phoenix::shared();
    let metrics_port = phoenix::free_port();
    let project = format!("serve-openai-{}", std::process::id());
    let endpoint = phoenix.http_endpoint();
    let (mut child, base_url) = start_service(
        metrics_port,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("PHOENIX_PROJECT_NAME", &project),
        ],
    );

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/openai_client.py");
    let output = Command::new(&python)
        .args([script, &base_url, TP_CHAT, TP_STREAM, TP_EMBED])
        .output()
        .expect("run the openai client script");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the client script failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let results: Json = serde_json::from_str(stdout.trim()).expect("the script prints JSON");

    // What the client parsed.
    assert_eq!(
        results["models"],
        serde_json::json!(["gpt-4o-mini", "gpt-4o", "text-embedding-3-small"])
    );
    // The simulated model answers 16 tokens or more, so max_tokens decides.
    assert_eq!(results["chat"]["completion_tokens"], 16);
    assert_eq!(results["chat"]["finish_reason"], "length");
    let chat_prompt = results["chat"]["prompt_tokens"].as_u64().unwrap();
    assert!(chat_prompt > 0);
    assert_eq!(results["stream"]["completion_tokens"], 12);
    assert_eq!(results["stream"]["content_chunks"], 12);
    // The role chunk, 12 content chunks, the finish chunk, the usage chunk.
    assert_eq!(results["stream"]["chunks"], 15);
    assert_eq!(results["embeddings"]["count"], 2);
    assert_eq!(results["embeddings"]["dimension"], 384);
    let norm = results["embeddings"]["norm"].as_f64().unwrap();
    assert!(
        (norm - 1.0).abs() < 1e-3,
        "unit vectors after base64 decoding, norm {norm}"
    );
    assert_eq!(
        results["errors"],
        serde_json::json!([
            {"status": 404, "code": "model_not_found", "type": "invalid_request_error", "param": "model"},
            {"status": 400, "code": "invalid_value", "type": "invalid_request_error", "param": "messages"},
        ])
    );

    // The counters, from /metrics.
    let (status, metrics) = phoenix::http_get(metrics_port, "/metrics").expect("scrape /metrics");
    assert_eq!(status, 200);
    let output_tokens = |model: &str| {
        sample(
            &metrics,
            "gen_ai_client_token_usage_sum",
            &[
                &format!("gen_ai_request_model=\"{model}\""),
                "gen_ai_token_type=\"output\"",
            ],
        )
    };
    assert_eq!(output_tokens("gpt-4o-mini"), 16.0);
    assert_eq!(output_tokens("gpt-4o"), 12.0);
    let input_tokens = sample(
        &metrics,
        "gen_ai_client_token_usage_sum",
        &[
            "gen_ai_request_model=\"gpt-4o-mini\"",
            "gen_ai_token_type=\"input\"",
        ],
    );
    assert_eq!(input_tokens, chat_prompt as f64);
    for model in ["gpt-4o-mini", "gpt-4o", "text-embedding-3-small"] {
        let requests = sample(
            &metrics,
            "llm_requests_total",
            &[
                &format!("gen_ai_request_model=\"{model}\""),
                "status=\"ok\"",
            ],
        );
        assert_eq!(requests, 1.0, "{model}: refused requests reach no model");
    }

    // Stop the service (Ctrl-C): it flushes its spans to Phoenix and exits cleanly.
    let interrupted = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(interrupted.success());
    let exit = child.wait().expect("wait for the service");
    assert!(exit.success(), "the service exited with {exit:?}");

    // Phoenix: models + chat + stream + embeddings + two refusals = 6 request spans, 3 LLM spans.
    let spans = phoenix.wait_for_spans(&project, 9, Duration::from_secs(60));
    let (request, chat) = request_and_llm_span(&spans, TP_CHAT);
    assert_eq!(request["name"], "POST /v1/chat/completions");
    assert_eq!(request["attributes"]["http.route"], "/v1/chat/completions");
    assert_eq!(request["attributes"]["http.request.method"], "POST");
    assert_eq!(request["attributes"]["http.response.status_code"], 200);
    assert_eq!(chat["span_kind"], "LLM");
    assert_eq!(chat["attributes"]["gen_ai.request.model"], "gpt-4o-mini");
    assert_eq!(chat["attributes"]["llm.token_count.completion"], 16);
    assert_eq!(chat["attributes"]["llm.token_count.prompt"], chat_prompt);

    let (request, stream) = request_and_llm_span(&spans, TP_STREAM);
    assert_eq!(request["attributes"]["http.route"], "/v1/chat/completions");
    assert_eq!(stream["attributes"]["llm.token_count.completion"], 12);
    assert_eq!(stream["attributes"]["gen_ai.request.model"], "gpt-4o");
    // The request span lasts until the stream's last byte: it encloses the LLM span.
    let start = |s: &Json| s["start_time"].as_str().unwrap().to_owned();
    let end = |s: &Json| s["end_time"].as_str().unwrap().to_owned();
    assert!(
        start(request) <= start(stream) && end(stream) <= end(request),
        "{request}\n{stream}"
    );

    let (request, embed) = request_and_llm_span(&spans, TP_EMBED);
    assert_eq!(request["attributes"]["http.route"], "/v1/embeddings");
    assert_eq!(embed["span_kind"], "EMBEDDING");
    assert_eq!(
        embed["attributes"]["gen_ai.request.model"],
        "text-embedding-3-small"
    );

    let mut refused: Vec<i64> = spans
        .iter()
        .filter_map(|s| s["attributes"]["http.response.status_code"].as_i64())
        .filter(|code| *code >= 400)
        .collect();
    refused.sort_unstable();
    assert_eq!(refused, [400, 404]);
}

#[test]
fn a_bad_or_taken_serve_address_is_a_clear_error() {
    let run = |args: &[&str]| {
        Command::new(service_binary::service_binary())
            .args(args)
            .stdin(Stdio::null())
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .env_remove("PHOENIX_COLLECTOR_ENDPOINT")
            .output()
            .expect("run the inference_service example")
    };
    let bad = run(&["--serve", "localhost:eighty"]);
    assert_eq!(bad.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.contains(
            "--serve expects an address such as 127.0.0.1:8080, got \"localhost:eighty\""
        ),
        "{stderr}"
    );

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let metrics = format!("metrics.listen=127.0.0.1:{}", phoenix::free_port());
    let busy = run(&["--serve", &format!("127.0.0.1:{port}"), "--set", &metrics]);
    assert_eq!(busy.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&busy.stderr);
    assert!(
        stderr.contains(&format!("cannot listen on 127.0.0.1:{port}"))
            && stderr.contains("port 0 picks one"),
        "{stderr}"
    );
}
