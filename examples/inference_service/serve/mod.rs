//! The main job's OpenAI-compatible HTTP API (`--serve ADDR`): `POST /v1/chat/completions`
//! (streamed as server-sent events with `"stream": true`), `POST /v1/embeddings`,
//! `GET /v1/models`, errors in OpenAI's JSON shape.
//!
//! hyper's HTTP/1 server on a tokio runtime of its own (a background thread), each connection
//! behind [`llm_telemetry_tower::TelemetryLayer`]: the caller's `traceparent` is continued, the
//! `http.server.request` span is the parent of the backend's `llm.chat`/`llm.embed` spans, and
//! every handler attached to the bus sees them. The backend is any
//! [`InferenceBackend`] (the simulated one here, MLX where available); it is instrumented with
//! [`InstrumentedBackend`].

mod api;
mod body;
mod chat;
mod embeddings;
mod error;
mod models;
mod state;
mod wire;

use std::net::{SocketAddr, TcpListener as StdListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use llm_telemetry::instrument::{InferenceBackend, Instrumentation, InstrumentedBackend};
use llm_telemetry_tower::TelemetryLayer;
use tokio::sync::oneshot;
use tower_layer::Layer;

pub use error::ServeError;
pub use models::Models;

/// How long stopping waits for requests in flight.
const STOP_GRACE: Duration = Duration::from_secs(2);

/// How the server runs.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// The models served.
    pub models: Models,
    /// The largest request body accepted (413 beyond), in bytes.
    pub max_body_bytes: usize,
    /// Threads of the server's runtime.
    pub threads: usize,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            models: Models::default(),
            max_body_bytes: 4 << 20,
            threads: 2,
        }
    }
}

/// A running server; stops when dropped.
pub struct Server {
    addr: SocketAddr,
    // Read through `active_streams`, which only tests/serve.rs calls.
    #[allow(dead_code)]
    active_streams: Arc<AtomicUsize>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    /// The address it listens on (the real port when started on port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Streamed responses whose producer is still running (tests/serve.rs checks that a
    /// hang-up leaves none; the main job itself does not ask).
    #[allow(dead_code)]
    pub fn active_streams(&self) -> usize {
        self.active_streams.load(Ordering::SeqCst)
    }

    /// Stops accepting, gives requests in flight a short grace, and joins the server thread.
    pub fn stop(mut self) {
        self.shutdown_now();
    }

    fn shutdown_now(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown_now();
    }
}

/// Starts serving `backend` on `addr`, emitting through `telemetry`.
pub fn start<B>(
    addr: SocketAddr,
    backend: B,
    telemetry: Instrumentation,
    options: ServeOptions,
) -> Result<Server, ServeError>
where
    B: InferenceBackend + 'static,
{
    let listener = StdListener::bind(addr).map_err(|source| ServeError::Bind { addr, source })?;
    let local = listener
        .local_addr()
        .map_err(|source| ServeError::Bind { addr, source })?;
    listener
        .set_nonblocking(true)
        .map_err(ServeError::Runtime)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(options.threads.max(1))
        .thread_name("serve")
        .enable_io()
        .enable_time()
        .build()
        .map_err(ServeError::Runtime)?;
    let listener = {
        let _entered = runtime.enter();
        tokio::net::TcpListener::from_std(listener).map_err(ServeError::Runtime)?
    };
    let bus = telemetry.bus().clone();
    let active_streams = Arc::new(AtomicUsize::new(0));
    let shared = Arc::new(state::Shared {
        backend: InstrumentedBackend::new(backend, telemetry),
        models: options.models,
        max_body_bytes: options.max_body_bytes,
        started_unix: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        active_streams: active_streams.clone(),
    });
    let service = TelemetryLayer::new(&bus)
        .routes(api::route)
        .layer(api::Api::new(shared));
    let (shutdown, stopped) = oneshot::channel::<()>();
    runtime.spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                // Out of file descriptors or similar: wait a little rather than spin.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            };
            let _ = stream.set_nodelay(true);
            let service = TowerToHyperService::new(service.clone());
            tokio::spawn(async move {
                // A client that hangs up is not the server's error. The timer gives hyper its
                // header read timeout (30 s): a client that never finishes its headers is cut off.
                let _ = http1::Builder::new()
                    .timer(TokioTimer::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    let thread = std::thread::Builder::new()
        .name("serve-main".to_owned())
        .spawn(move || {
            let _ = runtime.block_on(stopped);
            runtime.shutdown_timeout(STOP_GRACE);
        })
        .map_err(ServeError::Runtime)?;
    Ok(Server {
        addr: local,
        active_streams,
        shutdown: Some(shutdown),
        thread: Some(thread),
    })
}
