//! What every request handler shares: the instrumented backend, the served models, the limits,
//! and the count of streams in flight.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use llm_telemetry::instrument::{InferenceBackend, Instrumentation, InstrumentedBackend};

use super::models::Models;

/// The server's shared state.
pub struct Shared<B> {
    /// The backend, instrumented (`llm.chat.*`, `llm.embed.*`).
    pub backend: InstrumentedBackend<B>,
    /// The models served.
    pub models: Models,
    /// The largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// When the server started (Unix seconds): `created` of `/v1/models`.
    pub started_unix: u64,
    /// Streamed responses whose producer is still running (shared with [`super::Server`]).
    pub active_streams: Arc<AtomicUsize>,
}

impl<B: InferenceBackend> Shared<B> {
    /// The instrumentation the backend emits through.
    pub fn telemetry(&self) -> &Instrumentation {
        self.backend.telemetry()
    }
}

/// Counts one running stream producer for as long as it lives.
pub struct StreamGuard<'a>(&'a AtomicUsize);

impl<'a> StreamGuard<'a> {
    /// Counts a producer in.
    pub fn enter(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        Self(count)
    }
}

impl Drop for StreamGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}
