//! OTLP/HTTP with protobuf or JSON bodies through one reqwest client (one connection pool) per
//! endpoint, over rustls: each batch is one `POST` carrying every project's `ResourceSpans`,
//! gzip-compressed when configured. A transport failure keeps its cause (reqwest's error chain)
//! for the message, which the SDK exporter reported as "network error" alone.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use prost::Message as _;
use prost::bytes::Bytes;

use super::diagnose::{chain, diagnose};
use super::encode::request;
use super::retry::{Retry, with_backoff};
use super::{headers, load_tls};
use crate::config::{Compression, OtelConfig, Protocol};
use crate::exporter::{ExportFuture, MultiExporter, ResourceGroup, SharedFactory};

/// The largest request body sent, before and after compression (as `opentelemetry-otlp`).
const MAX_BODY: usize = 64 * 1024 * 1024;

/// A failed attempt.
#[derive(Debug)]
struct Failure {
    /// The HTTP status, 0 for a transport failure.
    status: u16,
    /// The server's `Retry-After`, if any.
    retry_after: Option<String>,
    /// What the SDK exporter would have said.
    message: String,
    /// The transport's own cause, when it failed before a status.
    cause: Option<String>,
}

/// The endpoint's exporter.
struct HttpSender {
    /// One client, so one connection pool, for every project.
    client: reqwest::Client,
    endpoint: String,
    headers: http::HeaderMap,
    json: bool,
    gzip: bool,
    timeout: Duration,
    closed: AtomicBool,
    https: bool,
    /// Whether a client certificate is configured (for the mTLS hint).
    identity: bool,
}

impl HttpSender {
    /// The encoded (and compressed) body and its encoding.
    fn body(&self, groups: Vec<ResourceGroup>) -> Result<(Bytes, Option<&'static str>), String> {
        let mut raw = request(groups);
        if self.json {
            // JSON goes through the message types (their serde form is OTLP/JSON's).
            let message = ExportTraceServiceRequest::decode(raw.as_slice())
                .map_err(|e| format!("re-reading the encoded request: {e}"))?;
            raw = serde_json::to_vec(&message).map_err(|e| format!("JSON encoding: {e}"))?;
        }
        check_size(&raw, "uncompressed")?;
        if !self.gzip {
            return Ok((Bytes::from(raw), None));
        }
        use std::io::Write;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(&raw).map_err(|e| e.to_string())?;
        let compressed = encoder.finish().map_err(|e| e.to_string())?;
        check_size(&compressed, "compressed")?;
        Ok((Bytes::from(compressed), Some("gzip")))
    }

    /// One attempt.
    async fn send(&self, body: Bytes, encoding: Option<&'static str>) -> Result<(), Failure> {
        let content_type = if self.json {
            "application/json"
        } else {
            "application/x-protobuf"
        };
        let mut call = self
            .client
            .post(&self.endpoint)
            .header(http::header::CONTENT_TYPE, content_type);
        if let Some(encoding) = encoding {
            call = call.header(http::header::CONTENT_ENCODING, encoding);
        }
        let network = |error: reqwest::Error| Failure {
            status: 0,
            retry_after: None,
            message: "HTTP export failed: network error".to_owned(),
            cause: Some(chain(&error)),
        };
        let response = call
            .headers(self.headers.clone())
            .body(body)
            .send()
            .await
            .map_err(network)?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        // The body is read whole, so the connection goes back to the pool.
        response.bytes().await.map_err(network)?;
        if status.is_success() {
            Ok(())
        } else {
            Err(Failure {
                status: status.as_u16(),
                retry_after,
                message: format!("HTTP export failed with status code: {}", status.as_u16()),
                cause: None,
            })
        }
    }
}

impl MultiExporter for HttpSender {
    fn export_groups(&self, groups: Vec<ResourceGroup>) -> ExportFuture<'_> {
        let body = self.body(groups);
        Box::pin(async move {
            if self.closed.load(Ordering::SeqCst) {
                return Err(OTelSdkError::AlreadyShutdown);
            }
            let (body, encoding) = body.map_err(OTelSdkError::InternalFailure)?;
            with_backoff(self.timeout, classify, || self.send(body.clone(), encoding))
                .await
                .map_err(|failure| {
                    OTelSdkError::InternalFailure(diagnose(
                        &failure.message,
                        failure.cause,
                        self.https,
                        self.identity,
                    ))
                })
        })
    }

    fn shutdown(&self) -> OTelSdkResult {
        if self.closed.swap(true, Ordering::SeqCst) {
            return Err(OTelSdkError::AlreadyShutdown);
        }
        Ok(())
    }
}

/// The body-size limit's error.
fn check_size(body: &[u8], form: &str) -> Result<(), String> {
    if body.len() > MAX_BODY {
        return Err(format!(
            "OTLP HTTP {form} request body is {} bytes, exceeding the limit of {MAX_BODY} bytes; \
             the batch is dropped: lower the batch size (OTEL_BSP_MAX_EXPORT_BATCH_SIZE)",
            body.len()
        ));
    }
    Ok(())
}

/// Which failed attempts are retried (as `opentelemetry-otlp` classifies them).
fn classify(failure: &Failure) -> Retry {
    match failure.status {
        429 | 503 => failure
            .retry_after
            .as_deref()
            .and_then(retry_after)
            .map_or(Retry::After, Retry::Throttled),
        0 | 502 | 504 => Retry::After,
        _ => Retry::Never,
    }
}

/// A `Retry-After` value (seconds or an HTTP date) as a delay, at most 10 minutes.
fn retry_after(value: &str) -> Option<Duration> {
    let seconds = match value.trim().parse::<u64>() {
        Ok(seconds) => seconds,
        Err(_) => httpdate::parse_http_date(value)
            .ok()?
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO)
            .as_secs(),
    };
    Some(Duration::from_secs(seconds.min(600)))
}

/// The rustls configuration: the CA file's certificates or the platform's roots (only
/// loaded for `https://`), and the client identity for mTLS.
fn rustls_config(config: &OtelConfig, https: bool) -> Result<rustls::ClientConfig, String> {
    let material = load_tls(&config.tls)?;
    let mut roots = rustls::RootCertStore::empty();
    match material.roots {
        Some(certs) => {
            let (_, ignored) = roots.add_parsable_certificates(certs);
            if roots.is_empty() {
                return Err(format!(
                    "{}: none of its {ignored} certificates can be used as a trust anchor",
                    config
                        .tls
                        .certificate
                        .as_ref()
                        .map_or_else(String::new, |f| f.from.clone())
                ));
            }
        }
        None if https => {
            let native = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(native.certs);
        }
        None => {}
    }
    // ring, as tonic's `tls-ring` uses: it builds without the aws-lc C toolchain. (Its
    // default provider is deprecated only for lacking post-quantum key exchange.)
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS versions: {e}"))?
        .with_root_certificates(roots);
    match material.identity {
        Some(identity) => builder
            .with_client_auth_cert(identity.chain, identity.key)
            .map_err(|e| {
                format!(
                    "the client certificate and key do not make an identity: {e} (check \
                     OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE and OTEL_EXPORTER_OTLP_CLIENT_KEY)"
                )
            }),
        None => Ok(builder.with_no_client_auth()),
    }
}

/// The factory of the endpoint's one exporter.
pub(super) fn factory(config: &OtelConfig, https: bool) -> Result<SharedFactory, String> {
    let tls = rustls_config(config, https)?;
    let headers = headers(config, false)?;
    // One client, and so one connection pool, for every project of this endpoint.
    let client = reqwest::Client::builder()
        .timeout(config.export_timeout)
        .tls_backend_preconfigured(tls)
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {}", chain(&e)))?;
    let endpoint = config.endpoint.clone();
    let timeout = config.export_timeout;
    let json = config.protocol == Protocol::HttpJson;
    let gzip = config.compression == Compression::Gzip;
    let identity = config.tls.client_certificate.is_some();
    Ok(Arc::new(move || {
        Ok(Box::new(HttpSender {
            client: client.clone(),
            endpoint: endpoint.clone(),
            headers: headers.clone(),
            json,
            gzip,
            timeout,
            closed: AtomicBool::new(false),
            https,
            identity,
        }) as Box<dyn MultiExporter>)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_honours_retry_after_up_to_ten_minutes() {
        let failure = |status, retry_after: Option<&str>| Failure {
            status,
            retry_after: retry_after.map(str::to_owned),
            message: String::new(),
            cause: None,
        };
        assert_eq!(
            classify(&failure(429, Some("30"))),
            Retry::Throttled(Duration::from_secs(30))
        );
        assert_eq!(
            classify(&failure(503, Some("900"))),
            Retry::Throttled(Duration::from_secs(600))
        );
        assert_eq!(classify(&failure(503, None)), Retry::After);
        assert_eq!(classify(&failure(0, None)), Retry::After);
        assert_eq!(classify(&failure(400, None)), Retry::Never);
    }
}
