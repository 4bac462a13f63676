//! [`Pending`]: what a request's span needs from its start to its end, handed from the
//! service's future to the response body.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use llm_telemetry_core::{ActiveSpan, SpanContext};

/// What the future hands to the response body: the span and what its stop needs.
#[derive(Debug)]
pub(crate) struct Pending {
    /// The request span (not recording when nobody listens).
    pub span: ActiveSpan,
    /// The context made current while polling: the span's, or the caller's.
    pub context: Option<SpanContext>,
    /// Request body bytes read so far (only while recording).
    pub request_bytes: Option<Arc<AtomicU64>>,
}
