//! Registers the crate's own `metrics` handles (the self-metrics of [`crate::self_metrics`]) in a
//! reporter's recorder, with label values prepared the way the renderer reads them
//! ([`crate::sanitize::prepare_label_value`]). Cold path only: handles are registered once and
//! then updated in place.

use metrics::{Counter, Gauge, Key, Label, Recorder};
use metrics_exporter_prometheus::PrometheusRecorder;

use crate::sanitize::prepare_label_value;

/// Registers a counter of the crate's own.
pub(crate) fn counter(
    recorder: &PrometheusRecorder,
    name: &'static str,
    labels: &[(&'static str, &str)],
) -> Counter {
    let key = Key::from_parts(name, to_labels(labels));
    recorder.register_counter(&key, &metadata())
}

/// Registers a gauge of the crate's own.
pub(crate) fn gauge(
    recorder: &PrometheusRecorder,
    name: &'static str,
    labels: &[(&'static str, &str)],
) -> Gauge {
    let key = Key::from_parts(name, to_labels(labels));
    recorder.register_gauge(&key, &metadata())
}

fn to_labels(labels: &[(&'static str, &str)]) -> Vec<Label> {
    labels
        .iter()
        .map(|(k, v)| Label::new(*k, prepare_label_value(v)))
        .collect()
}

/// The registration metadata of every handle of this crate.
fn metadata() -> metrics::Metadata<'static> {
    metrics::Metadata::new(module_path!(), metrics::Level::INFO, None)
}
