//! Counters other handlers keep, shown on the same `/metrics`: a handler crate that cannot
//! depend on this one (the OpenTelemetry handler's export health, say) hands the reporter a
//! [`CounterSource`], a closure read at every render that returns its current totals. The
//! reporter registers each (name, labels) once, as a counter of its own, and sets it to the
//! total: nothing runs on the emitting threads, and a scrape sees the values of the moment.
//!
//! ```
//! use llm_telemetry_core::Bus;
//! use llm_telemetry_prometheus::{CounterSample, PrometheusReporter};
//! let bus = Bus::new();
//! let reporter = PrometheusReporter::builder().attach(&bus).unwrap();
//! reporter.add_counter_source(|| {
//!     vec![CounterSample::new("myexporter_sent_total", "Items sent.", 42).label("sink", "primary")]
//! });
//! assert!(reporter.render().contains("myexporter_sent_total{sink=\"primary\"} 42"));
//! ```

use std::collections::HashMap;

use metrics::{Counter, KeyName, Recorder};
use metrics_exporter_prometheus::PrometheusRecorder;

use crate::register::counter;

/// One counter's current total, with its labels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CounterSample {
    /// The metric name (a valid Prometheus name ending in `_total`).
    pub name: &'static str,
    /// Its `# HELP` text.
    pub help: &'static str,
    /// Label names and values.
    pub labels: Vec<(&'static str, String)>,
    /// The total so far (counters only go up).
    pub value: u64,
}

impl CounterSample {
    /// A sample of `name` at `value`, without labels.
    pub fn new(name: &'static str, help: &'static str, value: u64) -> Self {
        Self {
            name,
            help,
            labels: Vec::new(),
            value,
        }
    }

    /// Adds the label `key="value"`.
    pub fn label(mut self, key: &'static str, value: impl Into<String>) -> Self {
        self.labels.push((key, value.into()));
        self
    }
}

/// A closure the reporter reads at every render for counters kept elsewhere.
pub type CounterSource = Box<dyn Fn() -> Vec<CounterSample> + Send + Sync>;

/// A sample's identity: its name and labels.
type SampleKey = (&'static str, Vec<(&'static str, String)>);

/// The sources and the counters registered for them.
#[derive(Default)]
pub(crate) struct Sources {
    sources: Vec<CounterSource>,
    counters: HashMap<SampleKey, Counter>,
}

impl Sources {
    pub(crate) fn add(&mut self, source: CounterSource) {
        self.sources.push(source);
    }

    /// Reads every source and sets its counters (registering new ones) in `recorder`.
    pub(crate) fn refresh(&mut self, recorder: &PrometheusRecorder) {
        for source in &self.sources {
            for sample in source() {
                let key = (sample.name, sample.labels);
                let handle = self
                    .counters
                    .entry(key)
                    .or_insert_with_key(|(name, labels)| {
                        recorder.describe_counter(KeyName::from(*name), None, sample.help.into());
                        let labels: Vec<(&'static str, &str)> =
                            labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
                        counter(recorder, name, &labels)
                    });
                handle.absolute(sample.value);
            }
        }
    }
}
