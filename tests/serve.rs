//! The main job's OpenAI-compatible server (examples/inference_service/serve/) over real
//! loopback sockets: trace context through the llm-telemetry-tower layer (the caller's
//! `traceparent` is the request span's parent, the request span the `llm.chat` span's), streamed
//! chat as server-sent events with usage, bad input answered in OpenAI's error shape while the
//! server keeps serving, a client hanging up mid-stream (a cancelled stop, no producer left), and
//! the instrumented client wrapper against this server.

#[path = "../examples/inference_service/serve/mod.rs"]
#[allow(dead_code)]
mod serve;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use llm_telemetry::instrument::{
    ChatMessage, ChatRequest, EmbedRequest, Instrumentation, LatencyProfile, SimulatedBackend,
    TelemetryLevel,
};
use llm_telemetry::testing::Capture;
use llm_telemetry::{Bus, OwnedEvent, SpanContext, TraceParent};
use llm_telemetry_tower::client::{ClientError, OpenAiClient};
use serde_json::Value as Json;

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const WAIT: Duration = Duration::from_secs(10);

struct Harness {
    server: serve::Server,
    capture: Capture,
    _bus: Bus,
}

fn start(latency: LatencyProfile) -> Harness {
    let bus = Bus::new();
    let capture = Capture::attach(&bus, ["http.server.request.*", "llm.*"]).unwrap();
    let telemetry = Instrumentation::new(&bus, TelemetryLevel::Basic);
    let backend = SimulatedBackend::new("openai").with_latency(latency);
    let server = serve::start(
        "127.0.0.1:0".parse().unwrap(),
        backend,
        telemetry,
        serve::ServeOptions::default(),
    )
    .unwrap();
    Harness {
        server,
        capture,
        _bus: bus,
    }
}

/// A response read off the socket.
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    fn json(&self) -> Json {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// One HTTP/1.1 request with `Connection: close`, the whole response read (chunked decoded).
fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Reply {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    // A large body is written from another thread while the response is read.
    let body = body.to_vec();
    let mut writer = stream.try_clone().unwrap();
    let sender = std::thread::spawn(move || {
        let _ = writer.write_all(&body);
    });
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let _ = sender.join();
    parse_reply(&raw)
}

fn parse_reply(raw: &[u8]) -> Reply {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a header block");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status: u16 = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    if chunked {
        body = dechunk(&body);
    }
    Reply {
        status,
        headers,
        body: String::from_utf8(body).unwrap(),
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n").unwrap();
        let size =
            usize::from_str_radix(std::str::from_utf8(&data[..line_end]).unwrap().trim(), 16)
                .unwrap();
        data = &data[line_end + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

fn post(addr: SocketAddr, path: &str, body: &Json, headers: &[(&str, &str)]) -> Reply {
    call(addr, "POST", path, headers, body.to_string().as_bytes())
}

/// Waits (up to [`WAIT`]) until `n` events named `name` were captured: span ends are emitted
/// after the last byte leaves, so they can trail the client's read.
fn wait_named(capture: &Capture, name: &str, n: usize) -> Vec<OwnedEvent> {
    let deadline = Instant::now() + WAIT;
    loop {
        let events = capture.named(name);
        if events.len() >= n || Instant::now() > deadline {
            assert_eq!(events.len(), n, "{name} events: {:?}", capture.names());
            return events;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn span(event: &OwnedEvent) -> SpanContext {
    event.span().expect("a span event")
}

fn int(event: &OwnedEvent, key: &str) -> i64 {
    event
        .value(key)
        .and_then(|v| v.as_i64())
        .unwrap_or_else(|| panic!("{key} missing on {}", event.name()))
}

fn chat_body(model: &str, extra: Json) -> Json {
    let mut body = serde_json::json!({
        "model": model,
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Why is the sky blue?"}],
        "max_tokens": 24,
    });
    if let (Some(b), Json::Object(extra)) = (body.as_object_mut(), extra) {
        b.extend(extra);
    }
    body
}

#[test]
fn a_chat_completion_nests_under_the_callers_traceparent() {
    let h = start(LatencyProfile::NONE);
    let addr = h.server.addr();
    let body = chat_body("gpt-4o-mini", Json::Null);
    let reply = post(
        addr,
        "/v1/chat/completions",
        &body,
        &[("traceparent", TRACEPARENT), ("tracestate", "vendor=1")],
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    let answer = reply.json();
    assert_eq!(answer["object"], "chat.completion");
    assert_eq!(answer["choices"][0]["message"]["role"], "assistant");
    let usage = &answer["usage"];

    let remote = TraceParent::parse(TRACEPARENT).unwrap();
    let http = &wait_named(&h.capture, "http.server.request.stop", 1)[0];
    let chat = &wait_named(&h.capture, "llm.chat.stop", 1)[0];
    // The caller's span is the request span's parent; the request span the chat span's.
    assert_eq!(span(http).trace_id, remote.trace_id);
    assert_eq!(span(http).parent_span_id, Some(remote.parent_id));
    assert_eq!(span(chat).trace_id, remote.trace_id);
    assert_eq!(span(chat).parent_span_id, Some(span(http).span_id));
    // The response names the request span.
    let expected = span(http).traceparent().to_string();
    assert_eq!(reply.header("traceparent"), Some(expected.as_str()));
    assert_eq!(reply.header("traceresponse"), Some(expected.as_str()));
    // HTTP semantic conventions, with the exact byte counts that crossed the socket.
    assert_eq!(http.str("http.request.method"), Some("POST"));
    assert_eq!(http.str("http.route"), Some("/v1/chat/completions"));
    assert_eq!(int(http, "http.response.status_code"), 200);
    assert_eq!(
        int(http, "http.request.body.size"),
        body.to_string().len() as i64
    );
    assert_eq!(
        int(http, "http.response.body.size"),
        reply.body.len() as i64
    );
    // The usage returned is the usage recorded.
    assert_eq!(
        chat.measurement("input_tokens"),
        usage["prompt_tokens"].as_f64()
    );
    assert_eq!(
        chat.measurement("output_tokens"),
        usage["completion_tokens"].as_f64()
    );
    assert!(usage["completion_tokens"].as_u64().unwrap() > 0);
    assert_eq!(chat.str("gen_ai.provider.name"), Some("openai"));

    // Models and embeddings.
    let models = call(addr, "GET", "/v1/models", &[], b"").json();
    let ids: Vec<&str> = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["gpt-4o-mini", "gpt-4o", "text-embedding-3-small"]);
    let embed = post(
        addr,
        "/v1/embeddings",
        &serde_json::json!({"model": "text-embedding-3-small", "input": ["a", "b c"]}),
        &[],
    );
    assert_eq!(embed.status, 200, "{}", embed.body);
    let embed = embed.json();
    assert_eq!(embed["data"].as_array().unwrap().len(), 2);
    let vector: Vec<f64> = embed["data"][1]["embedding"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    assert_eq!(vector.len(), 384);
    let norm: f64 = vector.iter().map(|x| x * x).sum::<f64>().sqrt();
    assert!((norm - 1.0).abs() < 1e-3, "unit vectors, got norm {norm}");
    let embed_stop = &wait_named(&h.capture, "llm.embed.stop", 1)[0];
    assert_eq!(
        embed_stop.measurement("input_tokens"),
        embed["usage"]["prompt_tokens"].as_f64()
    );
}

/// The `data:` payloads of an event stream.
fn events(body: &str) -> Vec<&str> {
    body.split("\n\n")
        .filter(|e| !e.is_empty())
        .map(|e| {
            e.strip_prefix("data: ")
                .unwrap_or_else(|| panic!("not an SSE data line: {e:?}"))
        })
        .collect()
}

#[test]
fn a_streamed_chat_ends_in_done_with_usage_in_its_last_chunk() {
    let h = start(LatencyProfile::NONE);
    let addr = h.server.addr();
    let body = chat_body(
        "gpt-4o",
        serde_json::json!({"stream": true, "stream_options": {"include_usage": true}}),
    );
    let reply = post(
        addr,
        "/v1/chat/completions",
        &body,
        &[("traceparent", TRACEPARENT)],
    );
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("text/event-stream"));
    let events = events(&reply.body);
    assert_eq!(events.last(), Some(&"[DONE]"));
    let chunks: Vec<Json> = events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e).unwrap())
        .collect();
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    let deltas = chunks
        .iter()
        .filter(|c| {
            c["choices"][0]["delta"]["content"]
                .as_str()
                .is_some_and(|t| !t.is_empty())
        })
        .count();
    let last = chunks.last().unwrap();
    assert_eq!(
        last["choices"].as_array().unwrap().len(),
        0,
        "the usage chunk has no choices"
    );
    assert_eq!(
        last["usage"]["completion_tokens"].as_u64(),
        Some(deltas as u64)
    );
    assert!(
        chunks[..chunks.len() - 1]
            .iter()
            .all(|c| c["usage"].is_null())
    );
    assert_eq!(
        chunks[chunks.len() - 2]["choices"][0]["finish_reason"],
        "length"
    );
    assert_eq!(deltas, 24, "max_tokens = 24 tokens, one per chunk");
    assert!(!text.is_empty());

    let http = &wait_named(&h.capture, "http.server.request.stop", 1)[0];
    let chat = &wait_named(&h.capture, "llm.chat.stop", 1)[0];
    assert_eq!(span(chat).parent_span_id, Some(span(http).span_id));
    assert_eq!(chat.measurement("output_tokens"), Some(deltas as f64));
    assert_eq!(
        chat.value("streaming").and_then(|v| v.as_bool()),
        Some(true)
    );
    assert_eq!(h.capture.named("llm.stream.first_token").len(), 1);
    assert_eq!(
        int(http, "http.response.body.size"),
        reply.body.len() as i64
    );
    assert_eq!(
        http.str("status"),
        None,
        "a stream read to its end is not cancelled"
    );
}

fn error_of(reply: &Reply) -> Json {
    let body = reply.json();
    let error = body["error"].clone();
    for key in ["message", "type", "param", "code"] {
        assert!(
            error.get(key).is_some(),
            "OpenAI errors carry {key}: {body}"
        );
    }
    assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()));
    error
}

#[test]
fn bad_input_is_answered_in_openais_error_shape_and_the_server_keeps_serving() {
    let h = start(LatencyProfile::NONE);
    let addr = h.server.addr();
    let ok = || {
        post(
            addr,
            "/v1/chat/completions",
            &chat_body("gpt-4o-mini", Json::Null),
            &[],
        )
    };

    let malformed = call(
        addr,
        "POST",
        "/v1/chat/completions",
        &[],
        b"{\"model\": \"gpt-4o-mini\", ",
    );
    assert_eq!(malformed.status, 400);
    assert_eq!(error_of(&malformed)["type"], "invalid_request_error");
    assert_eq!(ok().status, 200);

    let unknown = post(
        addr,
        "/v1/chat/completions",
        &chat_body("gpt-9-imaginary", Json::Null),
        &[],
    );
    assert_eq!(unknown.status, 404);
    let error = error_of(&unknown);
    assert_eq!(error["code"], "model_not_found");
    assert_eq!(error["param"], "model");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("gpt-9-imaginary")
    );

    let missing = post(
        addr,
        "/v1/chat/completions",
        &serde_json::json!({"model": "gpt-4o-mini"}),
        &[],
    );
    assert_eq!(missing.status, 400);
    let error = error_of(&missing);
    assert_eq!(error["code"], "missing_required_parameter");
    assert_eq!(error["param"], "messages");

    let huge = vec![b' '; 10 * 1024 * 1024];
    let too_large = call(addr, "POST", "/v1/chat/completions", &[], &huge);
    assert_eq!(too_large.status, 413);
    assert_eq!(error_of(&too_large)["code"], "request_too_large");

    let wrong_route = call(addr, "GET", "/v1/nothing", &[], b"");
    assert_eq!(wrong_route.status, 404);
    assert_eq!(error_of(&wrong_route)["code"], "unknown_url");

    // An invalid traceparent is ignored: a new trace, no parent.
    h.capture.clear();
    let invalid = "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01";
    let reply = post(
        addr,
        "/v1/chat/completions",
        &chat_body("gpt-4o-mini", Json::Null),
        &[("traceparent", invalid)],
    );
    assert_eq!(reply.status, 200);
    let http = &wait_named(&h.capture, "http.server.request.stop", 1)[0];
    assert_eq!(span(http).parent_span_id, None);
    assert_ne!(
        span(http).trace_id,
        TraceParent::parse(TRACEPARENT).unwrap().trace_id
    );
    let chat = &wait_named(&h.capture, "llm.chat.stop", 1)[0];
    assert_eq!(span(chat).parent_span_id, Some(span(http).span_id));
    assert_eq!(
        reply.header("traceparent"),
        Some(span(http).traceparent().to_string().as_str())
    );

    // Still serving; the refused requests reached no model.
    assert_eq!(ok().status, 200);
    assert_eq!(h.capture.named("llm.chat.start").len(), 2);
}

#[test]
fn the_status_codes_of_refused_requests_are_on_their_spans() {
    let h = start(LatencyProfile::NONE);
    let addr = h.server.addr();
    let _ = post(
        addr,
        "/v1/chat/completions",
        &chat_body("nope", Json::Null),
        &[],
    );
    let _ = call(
        addr,
        "POST",
        "/v1/chat/completions",
        &[],
        &vec![b'x'; 5 << 20],
    );
    let stops = wait_named(&h.capture, "http.server.request.stop", 2);
    let codes: Vec<i64> = stops
        .iter()
        .map(|s| int(s, "http.response.status_code"))
        .collect();
    assert_eq!(codes, [404, 413]);
    assert!(
        stops.iter().all(|s| s.str("error.type").is_none()),
        "4xx is not a server error"
    );
    assert!(int(&stops[1], "http.request.body.size") > 4 << 20);
}

#[test]
fn a_client_that_hangs_up_mid_stream_cancels_the_chat_span_and_leaves_no_producer() {
    let latency = LatencyProfile {
        decode_per_token: Duration::from_millis(10),
        ..LatencyProfile::NONE
    };
    let h = start(latency);
    let addr = h.server.addr();
    let body = chat_body(
        "gpt-4o-mini",
        serde_json::json!({"stream": true, "max_tokens": 200}),
    )
    .to_string();
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    write!(
        stream,
        "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    // Read until three content chunks arrived, then hang up.
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut seen = 0;
    let mut line = String::new();
    while seen < 3 {
        line.clear();
        assert!(
            reader.read_line(&mut line).unwrap() > 0,
            "stream ended early"
        );
        if line.contains("\"content\":\"") && !line.contains("\"content\":\"\"") {
            seen += 1;
        }
    }
    drop(reader);
    stream.shutdown(std::net::Shutdown::Both).unwrap();
    drop(stream);

    let chat = &wait_named(&h.capture, "llm.chat.stop", 1)[0];
    assert_eq!(chat.str("status"), Some("cancelled"));
    let tokens = chat.measurement("output_tokens").unwrap_or(0.0);
    assert!(
        (3.0..200.0).contains(&tokens),
        "cancelled after {tokens} of 200 tokens"
    );
    let http = &wait_named(&h.capture, "http.server.request.stop", 1)[0];
    assert_eq!(http.str("status"), Some("cancelled"));
    assert_eq!(span(chat).parent_span_id, Some(span(http).span_id));
    // Nothing leaked: every start has its stop, no producer is left running.
    let deadline = Instant::now() + WAIT;
    while h.server.active_streams() > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(h.server.active_streams(), 0);
    assert_eq!(
        h.capture.named("llm.chat.start").len(),
        h.capture.named("llm.chat.stop").len()
    );
    assert_eq!(h.capture.named("llm.chat.exception").len(), 0);
    // And the server keeps serving.
    let again = post(
        addr,
        "/v1/chat/completions",
        &chat_body("gpt-4o-mini", serde_json::json!({"max_tokens": 2})),
        &[],
    );
    assert_eq!(again.status, 200);
}

#[test]
fn the_client_wrapper_reports_the_providers_usage_and_sends_its_traceparent() {
    // reqwest's rustls (no provider of its own in this workspace) needs a process-wide one.
    // ring, as the OTLP handler uses (deprecated only for lacking post-quantum key exchange).
    #[allow(deprecated)]
    let _ = rustls::crypto::ring::default_provider().install_default();
    let server = start(LatencyProfile::NONE);
    let client_bus = Bus::new();
    let client_capture = Capture::attach(&client_bus, ["llm.*"]).unwrap();
    let client = OpenAiClient::new(
        reqwest::Client::new(),
        format!("http://{}/v1", server.server.addr()),
        "openai",
        Instrumentation::new(&client_bus, TelemetryLevel::Basic),
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let request =
        ChatRequest::new("gpt-4o-mini", vec![ChatMessage::user("What is a span?")]).max_tokens(9);
    let completion = runtime.block_on(client.chat(&request)).unwrap();
    assert_eq!(completion.output_tokens, 9);
    assert!(completion.input_tokens > 0);

    let client_chat = &wait_named(&client_capture, "llm.chat.stop", 1)[0];
    let attempt = &wait_named(&client_capture, "llm.provider.request.stop", 1)[0];
    assert_eq!(client_chat.measurement("output_tokens"), Some(9.0));
    assert_eq!(
        client_chat.measurement("input_tokens"),
        Some(completion.input_tokens as f64)
    );
    assert_eq!(attempt.str("status"), Some("200"));
    assert_eq!(
        span(attempt).parent_span_id,
        Some(span(client_chat).span_id)
    );
    // The server continued the client's trace: its request span is the attempt's child.
    let http = &wait_named(&server.capture, "http.server.request.stop", 1)[0];
    assert_eq!(span(http).trace_id, span(attempt).trace_id);
    assert_eq!(span(http).parent_span_id, Some(span(attempt).span_id));
    let server_chat = &wait_named(&server.capture, "llm.chat.stop", 1)[0];
    assert_eq!(
        server_chat.measurement("input_tokens"),
        Some(completion.input_tokens as f64)
    );

    let embeddings = runtime
        .block_on(client.embed(&EmbedRequest::new("text-embedding-3-small", ["one", "two"])))
        .unwrap();
    assert_eq!(embeddings.vectors.len(), 2);
    let embed = &wait_named(&client_capture, "llm.embed.stop", 1)[0];
    assert_eq!(
        embed.measurement("input_tokens"),
        Some(embeddings.input_tokens as f64)
    );
    assert!(embeddings.input_tokens > 0);

    // A refusal: the provider's status and code, both spans in error.
    let wrong = ChatRequest::new("gpt-9-imaginary", vec![ChatMessage::user("hi")]);
    match runtime.block_on(client.chat(&wrong)) {
        Err(ClientError::Status {
            status: 404, code, ..
        }) => assert_eq!(code.as_deref(), Some("model_not_found")),
        other => panic!("expected a 404, got {other:?}"),
    }
    let failed = &wait_named(&client_capture, "llm.chat.exception", 1)[0];
    assert_eq!(failed.str("error.type"), Some("client_error"));
    let attempts = wait_named(&client_capture, "llm.provider.request.stop", 3);
    assert_eq!(attempts[2].str("status"), Some("404"));
}
