//! Exporters: the object-safe wrapper around any [`SpanExporter`] and the factory that makes one
//! exporter per project (the default project and each tenant's), for exporters a user supplies;
//! and the [`MultiExporter`] of OTLP (built in `otlp`), one per endpoint, which sends each batch
//! as one request carrying one resource per project, so many tenants cost no more requests
//! than one.
//!
//! `SpanExporter::export` returns `impl Future`, so the trait cannot be boxed directly;
//! [`DynSpanExporter`] boxes the future instead. A factory is called on the handler's own export
//! thread, inside its own tokio runtime, so exporters that need a runtime (tonic) find one whether
//! or not the instrumented program runs tokio.

use std::fmt::Display;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};

/// A boxed export future.
pub(crate) type ExportFuture<'a> = Pin<Box<dyn Future<Output = OTelSdkResult> + Send + 'a>>;

/// An object-safe [`SpanExporter`].
pub(crate) trait DynSpanExporter: Send + Sync {
    fn export_boxed(&self, batch: Vec<SpanData>) -> ExportFuture<'_>;
    fn force_flush(&self) -> OTelSdkResult;
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult;
    fn set_resource(&mut self, resource: &Resource);
}

impl<T: SpanExporter + 'static> DynSpanExporter for T {
    fn export_boxed(&self, batch: Vec<SpanData>) -> ExportFuture<'_> {
        Box::pin(SpanExporter::export(self, batch))
    }
    fn force_flush(&self) -> OTelSdkResult {
        SpanExporter::force_flush(self)
    }
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        SpanExporter::shutdown_with_timeout(self, timeout)
    }
    fn set_resource(&mut self, resource: &Resource) {
        SpanExporter::set_resource(self, resource)
    }
}

/// Makes one exporter; called once per project (the default one and each tenant's).
pub(crate) type Factory =
    Arc<dyn Fn() -> Result<Box<dyn DynSpanExporter>, String> + Send + Sync + 'static>;

/// Wraps a user's factory.
pub(crate) fn user_factory<E, F, Err>(factory: F) -> Factory
where
    E: SpanExporter + 'static,
    F: Fn() -> Result<E, Err> + Send + Sync + 'static,
    Err: Display,
{
    Arc::new(move || {
        factory()
            .map(|e| Box::new(e) as Box<dyn DynSpanExporter>)
            .map_err(|e| e.to_string())
    })
}

/// Spans of one project, with that project's resource.
pub(crate) struct ResourceGroup {
    /// The project's resource (service, project name, tenant): an OTLP `Resource` message,
    /// encoded.
    pub resource: Arc<[u8]>,
    /// The project's spans, in the order they ended.
    pub spans: Vec<SpanData>,
}

/// An exporter that sends the spans of many projects in one export: each [`ResourceGroup`]
/// becomes one `ResourceSpans` of the same request.
pub(crate) trait MultiExporter: Send + Sync {
    /// Exports every group in one request (retried as a whole, under the export timeout).
    fn export_groups(&self, groups: Vec<ResourceGroup>) -> ExportFuture<'_>;
    /// Stops exporting; later exports fail.
    fn shutdown(&self) -> OTelSdkResult;
}

/// Makes the one [`MultiExporter`] of an endpoint; called once, on the export thread.
pub(crate) type SharedFactory =
    Arc<dyn Fn() -> Result<Box<dyn MultiExporter>, String> + Send + Sync + 'static>;

/// Where the export thread's exporters come from.
#[derive(Clone)]
pub(crate) enum ExporterSource {
    /// One exporter per project, each with its project's resource (a user's exporter).
    PerProject(Factory),
    /// One exporter for every project (OTLP): one request per batch, one resource per project.
    Shared(SharedFactory),
}
