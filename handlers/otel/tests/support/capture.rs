//! A span exporter that keeps what it receives, with the project its resource names: the
//! exporter the handler's pluggable-exporter API takes, for tests that check spans without a
//! server.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use llm_telemetry_otel::otel::opentelemetry::{Key, Value};
use llm_telemetry_otel::otel::{OTelSdkError, OTelSdkResult, Resource, SpanData, SpanExporter};

/// One exported span and the project of the exporter that sent it.
#[derive(Clone, Debug)]
pub struct Exported {
    pub project: Option<String>,
    pub service: Option<String>,
    pub span: SpanData,
}

/// Keeps every exported span; clones share the store, each keeps its own resource.
#[derive(Clone, Debug, Default)]
pub struct CaptureExporter {
    store: Arc<Mutex<Vec<Exported>>>,
    resource: Option<Resource>,
    fail: Arc<AtomicBool>,
}

impl CaptureExporter {
    pub fn new() -> Self {
        Self::default()
    }
    /// Everything exported so far.
    pub fn spans(&self) -> Vec<Exported> {
        self.store.lock().unwrap().clone()
    }
    /// Makes every later export fail.
    pub fn fail(&self, fail: bool) {
        self.fail.store(fail, Ordering::SeqCst);
    }
    fn resource_value(&self, key: &'static str) -> Option<String> {
        self.resource
            .as_ref()
            .and_then(|r| r.get(&Key::from_static_str(key)))
            .map(|v| v.to_string())
    }
}

impl SpanExporter for CaptureExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        if self.fail.load(Ordering::SeqCst) {
            return Err(OTelSdkError::InternalFailure("told to fail".into()));
        }
        let project = self.resource_value("openinference.project.name");
        let service = self.resource_value("service.name");
        let mut store = self.store.lock().unwrap();
        store.extend(batch.into_iter().map(|span| Exported {
            project: project.clone(),
            service: service.clone(),
            span,
        }));
        Ok(())
    }
    fn set_resource(&mut self, resource: &Resource) {
        self.resource = Some(resource.clone());
    }
}

/// An attribute of a span, as a string.
pub fn attr(span: &SpanData, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| value_string(&kv.value))
}

/// An attribute of a span, as an integer.
pub fn attr_i64(span: &SpanData, key: &str) -> Option<i64> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .and_then(|kv| match kv.value {
            Value::I64(i) => Some(i),
            _ => None,
        })
}

fn value_string(value: &Value) -> String {
    value.to_string()
}
