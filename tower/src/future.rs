//! [`ResponseFuture`]: the inner service's future, run with the request span current; when the
//! response arrives it gets the trace headers and its body takes over the span.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::Response;
use llm_telemetry_core::context;
use llm_telemetry_core::span::short_type_name;

use crate::body::ResponseBody;
use crate::pending::Pending;
use crate::propagation;

pin_project_lite::pin_project! {
    /// The future of [`crate::TelemetryService`].
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        pending: Option<Pending>,
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn new(inner: F, pending: Pending) -> Self {
        Self {
            inner,
            pending: Some(pending),
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: http_body::Body,
    E: std::fmt::Display,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let current = this.pending.as_ref().and_then(|p| p.context);
        let polled = {
            let _entered = context::enter(current);
            this.inner.poll(cx)
        };
        match polled {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(response)) => {
                let Some(pending) = this.pending.take() else {
                    // Polled again after completion: the body already owns the span.
                    return Poll::Ready(Ok(response.map(ResponseBody::untracked)));
                };
                let (mut parts, body) = response.into_parts();
                if let Some(span_context) = pending.span.context() {
                    propagation::inject_response(&mut parts.headers, &span_context);
                }
                let body = ResponseBody::new(body, pending, parts.status.as_u16());
                Poll::Ready(Ok(Response::from_parts(parts, body)))
            }
            Poll::Ready(Err(error)) => {
                if let Some(pending) = this.pending.take() {
                    pending
                        .span
                        .exception(&short_type_name::<E>(), &error.to_string());
                }
                Poll::Ready(Err(error))
            }
        }
    }
}
