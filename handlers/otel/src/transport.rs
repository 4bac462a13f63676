//! The OTLP transports: gRPC (tonic over rustls, cargo feature `grpc`) and HTTP with protobuf
//! or JSON bodies (reqwest over rustls, cargo feature `http`), built from the configuration's
//! endpoint, headers, timeout, compression and TLS files.
//!
//! TLS follows the URL's scheme. For `https://`, the collector is verified against the
//! platform's root certificates, or against the configured CA file instead; a client
//! certificate and key add mTLS. Both transports use rustls with the ring provider; no OpenSSL.
//!
//! Export errors are made readable here: the HTTP exporter reports every transport failure as
//! "network error", so the HTTP client is wrapped to keep the cause (an unknown issuer, an
//! expired certificate, a name mismatch, a server that does not speak TLS), and every failure
//! gets a hint saying what to change ([`diagnose`]).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{SpanData, SpanExporter};

use crate::config::{OtelConfig, Protocol};
#[cfg(any(feature = "grpc", feature = "http"))]
use crate::config::{TlsConfig, TlsMaterial};
use crate::exporter::{DynSpanExporter, ExportFuture, Factory};

/// The last transport error an exporter saw (the HTTP client writes it, the exporter reads it).
type LastError = Arc<Mutex<Option<String>>>;

/// The OTLP exporter factory of the configuration. The TLS files are read once, here.
pub(crate) fn otlp_factory(config: &OtelConfig) -> Result<Factory, String> {
    let https = config.endpoint.starts_with("https://");
    match config.protocol {
        #[cfg(feature = "grpc")]
        Protocol::Grpc => grpc::factory(config, https),
        #[cfg(feature = "http")]
        Protocol::HttpProtobuf | Protocol::HttpJson => http::factory(config, https),
        #[allow(unreachable_patterns)]
        other => Err(format!(
            "protocol {} needs the cargo feature `{}`, which this build leaves out",
            other.as_str(),
            other.cargo_feature()
        )),
    }
}

/// Wraps an OTLP exporter: failures carry their cause and a hint.
#[derive(Debug)]
struct Diagnosed<E> {
    inner: E,
    last_error: LastError,
    https: bool,
    /// Whether a client certificate is configured (for the mTLS hint).
    identity: bool,
}

impl<E: SpanExporter + 'static> DynSpanExporter for Diagnosed<E> {
    fn export_boxed(&self, batch: Vec<SpanData>) -> ExportFuture<'_> {
        Box::pin(async move {
            self.last_error
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            let result = self.inner.export(batch).await;
            result.map_err(|error| {
                let cause = self
                    .last_error
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .take();
                let message = match error {
                    OTelSdkError::InternalFailure(message) => message,
                    other => other.to_string(),
                };
                OTelSdkError::InternalFailure(diagnose(&message, cause, self.https, self.identity))
            })
        })
    }
    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }
    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource)
    }
}

/// The message of a failed export: what the exporter said, the transport's cause when it hid it,
/// and a hint when the cause is recognisable.
pub(crate) fn diagnose(
    message: &str,
    cause: Option<String>,
    https: bool,
    identity: bool,
) -> String {
    let mut text = message.to_owned();
    if let Some(cause) = &cause {
        text.push_str(": ");
        text.push_str(cause);
    }
    let lower = text.to_ascii_lowercase();
    let hint = if lower.contains("unknownissuer") || lower.contains("unknown issuer") {
        Some(
            "the collector's certificate is not signed by a trusted CA: set \
             OTEL_EXPORTER_OTLP_CERTIFICATE (or the builder's certificate) to its CA's PEM file",
        )
    } else if lower.contains("expired") {
        Some("the collector's certificate has expired (or is not yet valid): renew it")
    } else if lower.contains("notvalidforname") || lower.contains("not valid for name") {
        Some(
            "the collector's certificate does not name this host: use a host name the \
             certificate lists",
        )
    } else if lower.contains("certificaterequired") || lower.contains("certificate required") {
        Some(
            "the collector asks for a client certificate: set \
             OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE and OTEL_EXPORTER_OTLP_CLIENT_KEY",
        )
    } else if lower.contains("badcertificate")
        || lower.contains("bad certificate")
        || lower.contains("unknownca")
        || lower.contains("unknown ca")
    {
        Some(
            "the collector rejected the client certificate: check \
             OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE and its CA",
        )
    } else if https
        && (lower.contains("invalidcontenttype")
            || lower.contains("corrupt message")
            || lower.contains("invalidmessage")
            || lower.contains("wrong version"))
    {
        Some("the collector does not speak TLS: use an http:// URL for a plain-text collector")
    } else if https
        && (lower.contains("close_notify")
            || lower.contains("unexpected eof")
            || lower.contains("peer closed")
            || lower.contains("connection reset"))
    {
        Some(if identity {
            "the collector closed or reset the TLS connection: check that the client certificate is \
             signed by a CA the collector trusts"
        } else {
            "the collector closed or reset the TLS connection: if it requires a client certificate \
             (mTLS), set OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE and OTEL_EXPORTER_OTLP_CLIENT_KEY"
        })
    } else if !https
        && (lower.contains("network error")
            || lower.contains("connection closed")
            || lower.contains("connection reset")
            || lower.contains("incomplete message")
            || lower.contains("frame")
            || lower.contains("h2 protocol error")
            || lower.contains("broken pipe"))
        && !lower.contains("refused")
    {
        Some(
            "if the collector uses TLS, its URL must start with https:// (a plain-text request \
             to a TLS port is cut off)",
        )
    } else {
        None
    };
    if let Some(hint) = hint {
        text.push_str(" (");
        text.push_str(hint);
        text.push(')');
    }
    text
}

/// Renders an error and its sources, `outer: inner: innermost`, without repeats.
#[cfg(feature = "http")]
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = vec![error.to_string()];
    let mut source = error.source();
    while let Some(e) = source {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = e.source();
    }
    parts.join(": ")
}

/// Reads the TLS files (checked when the configuration was resolved; read again here, so a file
/// removed since is an exporter error).
#[cfg(any(feature = "grpc", feature = "http"))]
fn load_tls(tls: &TlsConfig) -> Result<TlsMaterial, String> {
    tls.load().map_err(|e| e.to_string())
}

#[cfg(feature = "grpc")]
mod grpc {
    //! OTLP/gRPC through tonic.

    use std::sync::Arc;

    use opentelemetry_otlp::tonic_types::metadata::MetadataMap;
    use opentelemetry_otlp::tonic_types::transport::{Certificate, ClientTlsConfig, Identity};
    use opentelemetry_otlp::{WithExportConfig, WithTonicConfig};

    use super::{Diagnosed, LastError, load_tls};
    use crate::config::{Compression, OtelConfig};
    use crate::exporter::{DynSpanExporter, Factory};

    pub(super) fn factory(config: &OtelConfig, https: bool) -> Result<Factory, String> {
        let mut metadata = http::HeaderMap::new();
        for (k, v) in &config.headers {
            let name = http::HeaderName::from_bytes(k.to_ascii_lowercase().as_bytes())
                .map_err(|e| format!("header name {k:?}: {e}"))?;
            let value =
                http::HeaderValue::from_str(v).map_err(|e| format!("header {k:?} value: {e}"))?;
            metadata.append(name, value);
        }
        let tls = if https {
            let material = load_tls(&config.tls)?;
            let mut tls = ClientTlsConfig::new();
            tls = match &material.roots_pem {
                Some(pem) => tls.ca_certificate(Certificate::from_pem(pem)),
                None => tls.with_native_roots(),
            };
            if let Some(identity) = &material.identity {
                tls = tls.identity(Identity::from_pem(&identity.chain_pem, &identity.key_pem));
            }
            Some(tls)
        } else {
            None
        };
        let identity = config.tls.client_certificate.is_some();
        let endpoint = config.endpoint.clone();
        let timeout = config.export_timeout;
        let compression = config.compression;
        Ok(Arc::new(move || {
            let mut builder = opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_endpoint(endpoint.clone())
                .with_timeout(timeout)
                .with_metadata(MetadataMap::from_headers(metadata.clone()));
            if compression == Compression::Gzip {
                builder = builder.with_compression(opentelemetry_otlp::Compression::Gzip);
            }
            if let Some(tls) = &tls {
                builder = builder.with_tls_config(tls.clone());
            }
            let exporter = builder.build().map_err(|e| e.to_string())?;
            Ok(Box::new(Diagnosed {
                inner: exporter,
                last_error: LastError::default(),
                https,
                identity,
            }) as Box<dyn DynSpanExporter>)
        }))
    }
}

#[cfg(feature = "http")]
mod http {
    //! OTLP/HTTP (protobuf or JSON) through reqwest, with the client wrapped to keep the cause
    //! of transport failures.

    use std::collections::HashMap;
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::{Arc, PoisonError};

    use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
    use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};

    use super::{Diagnosed, LastError, chain, load_tls};
    use crate::config::{Compression, OtelConfig, Protocol};
    use crate::exporter::{DynSpanExporter, Factory};

    /// reqwest, remembering the cause of the last failed request.
    #[derive(Debug, Clone)]
    struct Client {
        inner: reqwest::Client,
        last_error: LastError,
    }

    impl HttpClient for Client {
        fn send_bytes<'a, 'b>(
            &'a self,
            request: Request<Bytes>,
        ) -> Pin<Box<dyn Future<Output = Result<Response<Bytes>, HttpError>> + Send + 'b>>
        where
            'a: 'b,
            Self: 'b,
        {
            Box::pin(async move {
                let result = self.inner.send_bytes(request).await;
                if let Err(error) = &result {
                    *self
                        .last_error
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner) = Some(chain(error.as_ref()));
                }
                result
            })
        }
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

    pub(super) fn factory(config: &OtelConfig, https: bool) -> Result<Factory, String> {
        let tls = rustls_config(config, https)?;
        let identity = config.tls.client_certificate.is_some();
        let endpoint = config.endpoint.clone();
        let timeout = config.export_timeout;
        let compression = config.compression;
        let protocol = match config.protocol {
            Protocol::HttpJson => opentelemetry_otlp::Protocol::HttpJson,
            _ => opentelemetry_otlp::Protocol::HttpBinary,
        };
        let headers: HashMap<String, String> = config.headers.iter().cloned().collect();
        // One client, and so one connection pool, for every exporter this factory makes (one per
        // tenant project): many tenants reuse the same few connections to the collector.
        let shared = reqwest::Client::builder()
            .timeout(timeout)
            .tls_backend_preconfigured(tls)
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {}", chain(&e)))?;
        Ok(Arc::new(move || {
            let last_error = LastError::default();
            let client = Client {
                inner: shared.clone(),
                last_error: last_error.clone(),
            };
            let mut builder = opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_http_client(client)
                .with_endpoint(endpoint.clone())
                .with_protocol(protocol)
                .with_timeout(timeout)
                .with_headers(headers.clone());
            if compression == Compression::Gzip {
                builder = builder.with_compression(opentelemetry_otlp::Compression::Gzip);
            }
            let exporter = builder.build().map_err(|e| e.to_string())?;
            Ok(Box::new(Diagnosed {
                inner: exporter,
                last_error,
                https,
                identity,
            }) as Box<dyn DynSpanExporter>)
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hidden_cause_is_shown_with_a_hint() {
        let message = diagnose(
            "HTTP export failed: network error",
            Some("error sending request: invalid peer certificate: UnknownIssuer".into()),
            true,
            false,
        );
        assert!(message.contains("UnknownIssuer"), "{message}");
        assert!(
            message.contains("OTEL_EXPORTER_OTLP_CERTIFICATE"),
            "{message}"
        );
        let plain = diagnose(
            "HTTP export failed: network error",
            Some("received corrupt message of type InvalidContentType".into()),
            true,
            false,
        );
        assert!(plain.contains("does not speak TLS"), "{plain}");
        let refused = diagnose(
            "HTTP export failed: network error",
            Some("tcp connect error: Connection refused".into()),
            false,
            false,
        );
        assert!(!refused.contains("https://"), "{refused}");
    }
}
