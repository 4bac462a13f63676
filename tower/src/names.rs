//! The span this crate emits and the keys it records, named after OpenTelemetry's HTTP semantic
//! conventions (`http.request.method`, `http.route`, `http.response.status_code`, …).

use llm_telemetry_core::StaticSpanName;

/// `http.server.request.{start,stop,exception}`: one request served, from its headers to the last
/// byte of its response body (a streamed response keeps it open until the stream ends).
pub static HTTP_SERVER_REQUEST: StaticSpanName = StaticSpanName::new("http.server.request");

/// Metadata keys of the request span.
pub mod keys {
    /// The request method (`POST`).
    pub const REQUEST_METHOD: &str = "http.request.method";
    /// The matched route template (`/v1/chat/completions`), when the layer knows the routes.
    pub const ROUTE: &str = "http.route";
    /// The request path.
    pub const URL_PATH: &str = "url.path";
    /// The scheme the request came in on (`http`).
    pub const URL_SCHEME: &str = "url.scheme";
    /// The HTTP version (`1.1`, `2`).
    pub const PROTOCOL_VERSION: &str = "network.protocol.version";
    /// The response status code (an integer), on stop.
    pub const RESPONSE_STATUS_CODE: &str = "http.response.status_code";
    /// Bytes of request body the service read, on stop.
    pub const REQUEST_BODY_SIZE: &str = "http.request.body.size";
    /// Bytes of response body sent, on stop.
    pub const RESPONSE_BODY_SIZE: &str = "http.response.body.size";
    /// The status code as text for a 5xx response (the server-side rule of the conventions).
    pub const ERROR_TYPE: &str = "error.type";
}

/// Header names of W3C Trace Context.
pub mod headers {
    /// `traceparent`: the caller's trace and span.
    pub const TRACEPARENT: &str = "traceparent";
    /// `tracestate`: vendor-specific trace data travelling with `traceparent`.
    pub const TRACESTATE: &str = "tracestate";
    /// `traceresponse` (Trace Context Level 2): the server's own span, sent back to the caller.
    pub const TRACERESPONSE: &str = "traceresponse";
}
