//! The layer in front of a plain hyper server over loopback: LLM spans emitted by the handler
//! and by a streamed body are children of the request span; with nobody listening to the
//! request span, the caller's trace is still the LLM spans' parent and no trace header is sent.

use std::convert::Infallible;
use std::future::Future;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response};
use http_body::{Body, Frame};
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use llm_telemetry_core::testing::Capture;
use llm_telemetry_core::{Bus, OwnedEvent, StaticSpanName, TraceParent};
use llm_telemetry_tower::TelemetryLayer;
use tower_layer::Layer;
use tower_service::Service;

static LLM_CHAT: StaticSpanName = StaticSpanName::new("llm.chat");
static LLM_STREAM_PIECE: StaticSpanName = StaticSpanName::new("llm.piece");
const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// A body of three frames, each produced inside an `llm.piece` span.
struct Pieces {
    bus: Bus,
    left: u8,
}

impl Body for Pieces {
    type Data = Bytes;
    type Error = Infallible;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        self.left -= 1;
        self.bus.span(&LLM_STREAM_PIECE, &[], |_| {});
        Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b"piece\n")))))
    }
}

/// Emits `llm.chat` while handling, then answers with [`Pieces`].
#[derive(Clone)]
struct Handler {
    bus: Bus,
}

impl<B: Send + 'static> Service<Request<B>> for Handler {
    type Response = Response<Pieces>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Pieces>, Infallible>> + Send>>;
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }
    fn call(&mut self, _: Request<B>) -> Self::Future {
        self.bus.span(&LLM_CHAT, &[], |_| {});
        let bus = self.bus.clone();
        Box::pin(async move { Ok(Response::new(Pieces { bus, left: 3 })) })
    }
}

/// Serves the layered handler on a loopback port from a thread of its own.
fn serve(bus: &Bus) -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let service = TelemetryLayer::new(bus)
        .routes(|p| (p == "/chat").then_some("/chat"))
        .layer(Handler { bus: bus.clone() });
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let service = TowerToHyperService::new(service.clone());
                tokio::spawn(async move {
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
    });
    addr
}

/// GET /chat with `traceparent`; the response head and body.
fn get(addr: SocketAddr) -> (String, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "GET /chat HTTP/1.1\r\nHost: x\r\nConnection: close\r\ntraceparent: {TRACEPARENT}\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    (head.to_owned(), body.to_owned())
}

fn wait_named(capture: &Capture, name: &str, n: usize) -> Vec<OwnedEvent> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while capture.named(name).len() < n && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(2));
    }
    let events = capture.named(name);
    assert_eq!(events.len(), n, "{:?}", capture.names());
    events
}

#[test]
fn the_handlers_and_the_bodys_llm_spans_are_children_of_the_request_span() {
    let bus = Bus::new();
    let capture = Capture::attach(&bus, ["http.server.request.stop", "llm.*.stop"]).unwrap();
    let (head, body) = get(serve(&bus));
    let http = &wait_named(&capture, "http.server.request.stop", 1)[0];
    let request = http.span().unwrap();
    let remote = TraceParent::parse(TRACEPARENT).unwrap();
    assert_eq!(request.parent_span_id, Some(remote.parent_id));
    let chat = &wait_named(&capture, "llm.chat.stop", 1)[0];
    assert_eq!(chat.span().unwrap().parent_span_id, Some(request.span_id));
    let pieces = wait_named(&capture, "llm.piece.stop", 3);
    for piece in &pieces {
        assert_eq!(piece.span().unwrap().parent_span_id, Some(request.span_id));
    }
    assert!(head.contains(&format!("traceresponse: {}", request.traceparent())));
    assert_eq!(
        http.value("http.response.status_code")
            .and_then(|v| v.as_i64()),
        Some(200)
    );
    assert_eq!(http.str("http.route"), Some("/chat"));
    assert_eq!(http.str("http.request.method"), Some("GET"));
    // Chunked framing on the wire; the size counts the body's own bytes.
    assert!(body.contains("piece\n"));
    assert_eq!(
        http.value("http.response.body.size")
            .and_then(|v| v.as_i64()),
        Some(18)
    );
    assert_eq!(
        http.value("http.request.body.size")
            .and_then(|v| v.as_i64()),
        Some(0)
    );
}

#[test]
fn with_nobody_listening_to_the_request_span_the_callers_trace_is_still_the_parent() {
    let bus = Bus::new();
    let capture = Capture::attach(&bus, "llm.*.stop").unwrap();
    let (head, _) = get(serve(&bus));
    let remote = TraceParent::parse(TRACEPARENT).unwrap();
    let chat = &wait_named(&capture, "llm.chat.stop", 1)[0];
    assert_eq!(chat.span().unwrap().trace_id, remote.trace_id);
    assert_eq!(chat.span().unwrap().parent_span_id, Some(remote.parent_id));
    for piece in wait_named(&capture, "llm.piece.stop", 3) {
        assert_eq!(piece.span().unwrap().parent_span_id, Some(remote.parent_id));
    }
    assert!(
        !head.contains("traceresponse"),
        "no span of ours to name: {head}"
    );
}
