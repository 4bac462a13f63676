//! [`TelemetryLayer`] and the [`TelemetryService`] it wraps around a service: one
//! `http.server.request` span per request, child of the caller's `traceparent`, current while
//! the service and its response body run.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::task::{Context, Poll};

use http::{Request, Response, Version};
use llm_telemetry_core::event::Value;
use llm_telemetry_core::{Bus, SpanContext, context};
use tower_layer::Layer;
use tower_service::Service;

use crate::body::{RequestBody, ResponseBody};
use crate::future::ResponseFuture;
use crate::names::{HTTP_SERVER_REQUEST, keys};
use crate::pending::Pending;
use crate::propagation;

/// Maps a request path to its route template (`http.route`), `None` for an unknown path.
pub type RouteMatcher = fn(&str) -> Option<&'static str>;

/// Wraps a service so that every request runs inside an `http.server.request` span.
///
/// The span's parent is the request's valid `traceparent` (an invalid one is ignored and the
/// request starts a new trace); it is current while the inner service runs and while the
/// response body is polled, so every LLM span the handler emits, streamed ones included, is its
/// child. Start metadata: `http.request.method`, `url.path`, `url.scheme`,
/// `network.protocol.version`, and `http.route` when a [`RouteMatcher`] knows the path. Stop adds
/// `http.response.status_code`, `http.request.body.size`, `http.response.body.size` (bytes that
/// went through the bodies) and, for a 5xx, `error.type`. A response body dropped before its end
/// (the client went away) stops the span with `status = "cancelled"`. The response carries
/// `traceparent` and `traceresponse` naming the span.
///
/// When nobody listens to the span, the caller's trace context is still made current (LLM spans
/// continue the caller's trace) and nothing is recorded.
///
/// The request reaches the inner service with two extensions: the [`SpanContext`] to parent work
/// moved to another thread (`spawn_blocking`: enter it there with
/// [`llm_telemetry_core::context::enter`]), and the caller's [`crate::IncomingContext`] (its
/// `traceparent` and `tracestate`, for calls the handler makes onwards).
#[derive(Clone, Debug)]
pub struct TelemetryLayer {
    bus: Bus,
    routes: Option<RouteMatcher>,
}

impl TelemetryLayer {
    /// Emits on `bus`.
    pub fn new(bus: &Bus) -> Self {
        Self {
            bus: bus.clone(),
            routes: None,
        }
    }

    /// Names each request's `http.route` with `routes` (the server's own routing table).
    pub fn routes(mut self, routes: RouteMatcher) -> Self {
        self.routes = Some(routes);
        self
    }
}

impl<S> Layer<S> for TelemetryLayer {
    type Service = TelemetryService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        TelemetryService {
            inner,
            bus: self.bus.clone(),
            routes: self.routes,
        }
    }
}

/// The service [`TelemetryLayer`] makes.
#[derive(Clone, Debug)]
pub struct TelemetryService<S> {
    inner: S,
    bus: Bus,
    routes: Option<RouteMatcher>,
}

fn protocol(version: Version) -> &'static str {
    match version {
        Version::HTTP_09 => "0.9",
        Version::HTTP_10 => "1.0",
        Version::HTTP_2 => "2",
        Version::HTTP_3 => "3",
        _ => "1.1",
    }
}

impl<S, ReqB, ResB> Service<Request<ReqB>> for TelemetryService<S>
where
    S: Service<Request<RequestBody<ReqB>>, Response = Response<ResB>>,
    S::Error: std::fmt::Display,
    ResB: http_body::Body,
{
    type Response = Response<ResponseBody<ResB>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqB>) -> Self::Future {
        let incoming = propagation::extract(request.headers());
        let parent: Option<SpanContext> = incoming
            .as_ref()
            .map(|i| i.traceparent.to_context())
            .or_else(context::current);
        let span = {
            let _parent = context::enter(parent);
            let path = request.uri().path();
            let route = self.routes.and_then(|routes| routes(path));
            let mut metadata: [(&'static str, Value<'_>); 5] = [
                (keys::REQUEST_METHOD, Value::Str(request.method().as_str())),
                (keys::URL_PATH, Value::Str(path)),
                (
                    keys::URL_SCHEME,
                    Value::Str(request.uri().scheme_str().unwrap_or("http")),
                ),
                (
                    keys::PROTOCOL_VERSION,
                    Value::Str(protocol(request.version())),
                ),
                (keys::ROUTE, Value::Str("")),
            ];
            let used = match route {
                Some(route) => {
                    metadata[4].1 = Value::Str(route);
                    5
                }
                None => 4,
            };
            self.bus.start_span(&HTTP_SERVER_REQUEST, &metadata[..used])
        };
        // The request span when recorded, else the caller's context: what the service runs in.
        let current = span.context().or(parent);
        let request_bytes = span.is_recording().then(|| Arc::new(AtomicU64::new(0)));
        let (mut parts, body) = request.into_parts();
        if let Some(incoming) = incoming {
            parts.extensions.insert(incoming);
        }
        if let Some(current) = current {
            parts.extensions.insert(current);
        }
        let request = Request::from_parts(parts, RequestBody::new(body, request_bytes.clone()));
        let inner = {
            let _entered = context::enter(current);
            self.inner.call(request)
        };
        ResponseFuture::new(
            inner,
            Pending {
                span,
                context: current,
                request_bytes,
            },
        )
    }
}
