//! OTLP export, one request per batch: every project of the batch (the default one and each
//! tenant's) becomes one `ResourceSpans` of the same `ExportTraceServiceRequest`, sent over the
//! endpoint's one connection pool — a tonic channel for gRPC (cargo feature `grpc`), a reqwest
//! client for HTTP with protobuf or JSON bodies (cargo feature `http`). So 100,000 distinct
//! tenants cost the collector as many requests as one tenant does.
//!
//! The request is encoded once per batch ([`encode`]: each project's resource encoded once, when
//! the project is made) and sent as is, retries included. What each transport sends is what the
//! `opentelemetry-otlp` 0.33.1 exporter sent before: the configured headers plus its
//! `User-Agent`, gzip when configured (`Content-Encoding` / `grpc-encoding`), the export timeout
//! per attempt, and its retry policy ([`retry`]).
//!
//! TLS follows the URL's scheme. For `https://`, the collector is verified against the
//! platform's root certificates, or against the configured CA file instead; a client
//! certificate and key add mTLS. Both transports use rustls with the ring provider; no OpenSSL.
//! Failures carry their cause and a hint ([`diagnose`]).

pub(crate) mod diagnose;
pub(crate) mod encode;
#[cfg(feature = "grpc")]
mod grpc_sender;
#[cfg(feature = "http")]
mod http_sender;
#[cfg(any(feature = "grpc", feature = "http"))]
mod retry;

use crate::config::{OtelConfig, Protocol};
#[cfg(any(feature = "grpc", feature = "http"))]
use crate::config::{TlsConfig, TlsMaterial};
use crate::exporter::SharedFactory;

/// The `User-Agent` the `opentelemetry-otlp` exporter sends, kept so collectors see the same.
#[cfg(any(feature = "grpc", feature = "http"))]
const USER_AGENT: &str = "OTel-OTLP-Exporter-Rust/0.33.1";

/// The OTLP exporter of the configuration: one per endpoint. The TLS files are read once, here.
pub(crate) fn otlp_factory(config: &OtelConfig) -> Result<SharedFactory, String> {
    let https = config.endpoint.starts_with("https://");
    match config.protocol {
        #[cfg(feature = "grpc")]
        Protocol::Grpc => grpc_sender::factory(config, https),
        #[cfg(feature = "http")]
        Protocol::HttpProtobuf | Protocol::HttpJson => http_sender::factory(config, https),
        #[allow(unreachable_patterns)]
        other => Err(format!(
            "protocol {} needs the cargo feature `{}`, which this build leaves out",
            other.as_str(),
            other.cargo_feature()
        )),
    }
}

/// Reads the TLS files (checked when the configuration was resolved; read again here, so a file
/// removed since is an exporter error).
#[cfg(any(feature = "grpc", feature = "http"))]
fn load_tls(tls: &TlsConfig) -> Result<TlsMaterial, String> {
    tls.load().map_err(|e| e.to_string())
}

/// The headers of every export request: the SDK exporter's `User-Agent` (unless one is
/// configured) and the configured headers, checked. A name configured twice is sent with both
/// values when `append` (gRPC metadata, as the SDK's tonic exporter did), with the last one
/// otherwise (HTTP, as its reqwest exporter did); a configured `User-Agent` always replaces.
#[cfg(any(feature = "grpc", feature = "http"))]
fn headers(config: &OtelConfig, append: bool) -> Result<http::HeaderMap, String> {
    let mut headers = http::HeaderMap::new();
    headers.insert(
        http::header::USER_AGENT,
        http::HeaderValue::from_static(USER_AGENT),
    );
    for (k, v) in &config.headers {
        // `from_bytes` lowercases the name.
        let name = http::HeaderName::from_bytes(k.as_bytes())
            .map_err(|e| format!("header name {k:?}: {e}"))?;
        let value =
            http::HeaderValue::from_str(v).map_err(|e| format!("header {k:?} value: {e}"))?;
        if append && name != http::header::USER_AGENT {
            headers.append(name, value);
        } else {
            headers.insert(name, value);
        }
    }
    Ok(headers)
}
