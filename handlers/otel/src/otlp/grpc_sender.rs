//! OTLP/gRPC through one tonic channel per endpoint (rustls, optional gzip): each batch is one
//! `TraceService/Export` call carrying every project's `ResourceSpans`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use prost::bytes::{Buf, BufMut, Bytes};
use prost::encoding::{DecodeContext, WireType};
use tonic::client::Grpc;
use tonic::codec::CompressionEncoding;
use tonic::metadata::MetadataMap;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};
use tonic_types::StatusExt;

use super::diagnose::{chain, diagnose};
use super::encode::request;
use super::retry::{Retry, with_backoff};
use super::{headers, load_tls};
use crate::config::{Compression, OtelConfig};
use crate::exporter::{ExportFuture, MultiExporter, ResourceGroup, SharedFactory};

/// The trace service's export method.
const EXPORT_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

/// An `ExportTraceServiceRequest` already encoded ([`request`]): sent as its bytes, so a retry
/// re-sends them without converting the spans again.
#[derive(Clone, Debug, Default)]
struct Encoded(Bytes);

impl prost::Message for Encoded {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        buf.put_slice(&self.0);
    }
    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), prost::DecodeError> {
        // Only ever encoded (it is the request); a decoder would skip what it cannot read.
        prost::encoding::skip_field(wire_type, tag, buf, ctx)
    }
    fn encoded_len(&self) -> usize {
        self.0.len()
    }
    fn clear(&mut self) {
        self.0 = Bytes::new();
    }
}

/// The endpoint's exporter: the channel (one connection, shared by every project) and what
/// every call carries.
struct GrpcSender {
    client: Grpc<Channel>,
    metadata: MetadataMap,
    timeout: Duration,
    closed: AtomicBool,
    https: bool,
    /// Whether a client certificate is configured (for the mTLS hint).
    identity: bool,
}

impl MultiExporter for GrpcSender {
    fn export_groups(&self, groups: Vec<ResourceGroup>) -> ExportFuture<'_> {
        let message = Encoded(Bytes::from(request(groups)));
        Box::pin(async move {
            if self.closed.load(Ordering::SeqCst) {
                return Err(OTelSdkError::AlreadyShutdown);
            }
            let outcome = with_backoff(self.timeout, classify, || {
                let mut client = self.client.clone();
                let mut call = tonic::Request::new(message.clone());
                *call.metadata_mut() = self.metadata.clone();
                async move {
                    client.ready().await.map_err(|e| {
                        tonic::Status::unknown(format!("Service was not ready: {e}"))
                    })?;
                    let codec =
                        tonic_prost::ProstCodec::<Encoded, ExportTraceServiceResponse>::default();
                    let path = http::uri::PathAndQuery::from_static(EXPORT_PATH);
                    client.unary(call, path, codec).await
                }
            })
            .await;
            match outcome {
                Ok(_) => Ok(()),
                Err(status) => {
                    let mut text = format!(
                        "TonicTracesClient export failed with gRPC code: {:?}",
                        status.code()
                    );
                    if let Some(source) = std::error::Error::source(&status) {
                        text.push_str(": ");
                        text.push_str(&chain(source));
                    }
                    Err(OTelSdkError::InternalFailure(diagnose(
                        &text,
                        None,
                        self.https,
                        self.identity,
                    )))
                }
            }
        })
    }

    fn shutdown(&self) -> OTelSdkResult {
        if self.closed.swap(true, Ordering::SeqCst) {
            return Err(OTelSdkError::AlreadyShutdown);
        }
        Ok(())
    }
}

/// Which failed calls are retried (as `opentelemetry-otlp` classifies them).
fn classify(status: &tonic::Status) -> Retry {
    use tonic::Code;
    let delay = status
        .get_details_retry_info()
        .and_then(|info| info.retry_delay);
    let most = Duration::from_secs(600);
    match status.code() {
        Code::ResourceExhausted => delay.map_or(Retry::Never, |d| Retry::Throttled(d.min(most))),
        Code::Unavailable => match delay.filter(|d| !d.is_zero()) {
            Some(d) => Retry::Throttled(d.min(most)),
            None => Retry::After,
        },
        Code::Cancelled
        | Code::DeadlineExceeded
        | Code::Aborted
        | Code::OutOfRange
        | Code::DataLoss => Retry::After,
        _ => Retry::Never,
    }
}

/// The factory of the endpoint's one exporter (the channel connects lazily, on the export
/// thread's runtime).
pub(super) fn factory(config: &OtelConfig, https: bool) -> Result<SharedFactory, String> {
    let metadata = MetadataMap::from_headers(headers(config, true)?);
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
    let gzip = config.compression == Compression::Gzip;
    Ok(Arc::new(move || {
        let mut channel = Endpoint::from_shared(endpoint.clone())
            .map_err(|e| format!("invalid endpoint {endpoint:?}: {}", chain(&e)))?;
        if let Some(tls) = &tls {
            channel = channel
                .tls_config(tls.clone())
                .map_err(|e| format!("TLS configuration: {}", chain(&e)))?;
        }
        let mut client = Grpc::new(channel.timeout(timeout).connect_lazy());
        if gzip {
            client = client
                .send_compressed(CompressionEncoding::Gzip)
                .accept_compressed(CompressionEncoding::Gzip);
        }
        Ok(Box::new(GrpcSender {
            client,
            metadata: metadata.clone(),
            timeout,
            closed: AtomicBool::new(false),
            https,
            identity,
        }) as Box<dyn MultiExporter>)
    }))
}
