//! The body wrappers: [`RequestBody`] counts the bytes the service reads; [`ResponseBody`] counts
//! the bytes sent, keeps the request span current while it is polled, and ends the span at its
//! last frame (or, dropped early, as cancelled).

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use bytes::Buf;
use http_body::{Body, Frame, SizeHint};
use llm_telemetry_core::context;
use llm_telemetry_core::event::Value;

use crate::names::keys;
use crate::pending::Pending;

pin_project_lite::pin_project! {
    /// The request body as the inner service sees it: the original, counted.
    pub struct RequestBody<B> {
        #[pin]
        inner: B,
        read: Option<Arc<AtomicU64>>,
    }
}

impl<B> RequestBody<B> {
    pub(crate) fn new(inner: B, read: Option<Arc<AtomicU64>>) -> Self {
        Self { inner, read }
    }
}

impl<B: Body> Body for RequestBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let polled = this.inner.poll_frame(cx);
        if let (Some(read), Poll::Ready(Some(Ok(frame)))) = (this.read.as_ref(), &polled) {
            if let Some(data) = frame.data_ref() {
                read.fetch_add(data.remaining() as u64, Ordering::Relaxed);
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The span's bookkeeping while the response body is sent.
#[derive(Debug)]
struct Tracking {
    pending: Pending,
    status: u16,
    sent: u64,
}

impl Tracking {
    /// Records the stop metadata; the caller then stops the span (or drops it: cancelled).
    fn record(&mut self) {
        let request_bytes = self
            .pending
            .request_bytes
            .as_ref()
            .map_or(0, |r| r.load(Ordering::Relaxed));
        let recorder = self.pending.span.recorder();
        recorder.set(
            keys::RESPONSE_STATUS_CODE,
            Value::Int(i64::from(self.status)),
        );
        recorder.set(keys::REQUEST_BODY_SIZE, Value::Int(saturate(request_bytes)));
        recorder.set(keys::RESPONSE_BODY_SIZE, Value::Int(saturate(self.sent)));
        if self.status >= 500 {
            recorder.set(keys::ERROR_TYPE, Value::Str(&self.status.to_string()));
        }
    }

    fn finish(mut self) {
        self.record();
        self.pending.span.stop();
    }

    fn cancel(mut self) {
        self.record();
        // Dropping an unstopped span emits stop with `status = "cancelled"`.
        drop(self.pending.span);
    }
}

fn saturate(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

pin_project_lite::pin_project! {
    /// The response body the layer returns: the service's, counted, inside the request span.
    pub struct ResponseBody<B> {
        #[pin]
        inner: B,
        tracking: Option<Tracking>,
    }

    impl<B> PinnedDrop for ResponseBody<B> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Some(tracking) = this.tracking.take() {
                // A body that ended was finished when it said so (`poll_frame` checks
                // `is_end_stream` after every frame, as hyper does before dropping it): this one
                // was cut short, the client went away.
                tracking.cancel();
            }
        }
    }
}

impl<B: Body> ResponseBody<B> {
    pub(crate) fn new(inner: B, pending: Pending, status: u16) -> Self {
        let tracking = Tracking {
            pending,
            status,
            sent: 0,
        };
        if inner.is_end_stream() {
            tracking.finish();
            return Self {
                inner,
                tracking: None,
            };
        }
        if !tracking.pending.span.is_recording() && tracking.pending.context.is_none() {
            return Self::untracked(inner);
        }
        // A recorded span, or the caller's context to keep current while polling.
        Self {
            inner,
            tracking: Some(tracking),
        }
    }
}

impl<B> ResponseBody<B> {
    pub(crate) fn untracked(inner: B) -> Self {
        Self {
            inner,
            tracking: None,
        }
    }
}

impl<B: Body> Body for ResponseBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let mut this = self.project();
        let current = this.tracking.as_ref().and_then(|t| t.pending.context);
        let polled = {
            let _entered = context::enter(current);
            this.inner.as_mut().poll_frame(cx)
        };
        if let Some(tracking) = this.tracking.as_mut() {
            match &polled {
                Poll::Ready(Some(Ok(frame))) => {
                    if let Some(data) = frame.data_ref() {
                        tracking.sent += data.remaining() as u64;
                    }
                }
                Poll::Ready(Some(Err(_))) => {
                    if let Some(tracking) = this.tracking.take() {
                        tracking.cancel();
                    }
                    return polled;
                }
                Poll::Ready(None) => {}
                Poll::Pending => return polled,
            }
            if matches!(polled, Poll::Ready(None)) || this.inner.is_end_stream() {
                if let Some(tracking) = this.tracking.take() {
                    tracking.finish();
                }
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
