//! The crate's typed errors: a bad metric definition ([`DefinitionError`], always naming the
//! definition), a reporter that cannot attach ([`ReporterError`]) and an endpoint that cannot
//! start ([`ServeError`], naming the address).

use std::net::SocketAddr;

/// A metric definition is invalid. Every variant names the metric and says what to change.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum DefinitionError {
    /// The metric name breaks the Prometheus naming rules.
    #[error(
        "metric {metric:?}: the name is not a valid Prometheus metric name ([a-zA-Z_:][a-zA-Z0-9_:]*); use {suggestion:?}"
    )]
    InvalidName {
        /// The name as given.
        metric: String,
        /// A sanitized name that would be accepted.
        suggestion: String,
    },
    /// The name uses the prefix reserved for this crate's own self-metrics.
    #[error(
        "metric {metric:?}: names starting with `llm_telemetry_` are reserved for self-metrics; choose another name"
    )]
    ReservedName {
        /// The name as given.
        metric: String,
    },
    /// A label key breaks the Prometheus naming rules.
    #[error(
        "metric {metric:?}: label {label:?} is not a valid Prometheus label name; use {suggestion:?}"
    )]
    InvalidLabel {
        /// The metric.
        metric: String,
        /// The label as given.
        label: String,
        /// A sanitized label that would be accepted.
        suggestion: String,
    },
    /// A label key is reserved (`le`, `quantile`, `otel_metric_overflow`).
    #[error(
        "metric {metric:?}: label {label:?} is reserved by Prometheus or by the overflow series; rename it"
    )]
    ReservedLabel {
        /// The metric.
        metric: String,
        /// The reserved label.
        label: String,
    },
    /// Two tags produce the same label.
    #[error("metric {metric:?}: label {label:?} appears twice; give one of the tags another label")]
    DuplicateLabel {
        /// The metric.
        metric: String,
        /// The repeated label.
        label: String,
    },
    /// More tags than a series key can hold without allocating.
    #[error(
        "metric {metric:?}: {count} tags, at most {max}; drop some (each tag multiplies the series count)"
    )]
    TooManyTags {
        /// The metric.
        metric: String,
        /// How many tags it has.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// No event name or pattern.
    #[error("metric {metric:?}: no event names; give at least one event name or pattern")]
    NoEvents {
        /// The metric.
        metric: String,
    },
    /// An up/down gauge lists the same event as raising and lowering it.
    #[error(
        "metric {metric:?}: event {pattern:?} is both an up and a down event of the up/down gauge; list it once"
    )]
    UpAndDown {
        /// The metric.
        metric: String,
        /// The event listed twice.
        pattern: String,
    },
    /// An event name or pattern is invalid.
    #[error("metric {metric:?}: event pattern {pattern:?} is invalid: {reason}")]
    InvalidEvent {
        /// The metric.
        metric: String,
        /// The pattern as given.
        pattern: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A distribution's buckets are empty, not finite or not strictly increasing.
    #[error("metric {metric:?}: buckets {buckets:?} are invalid: {reason}")]
    InvalidBuckets {
        /// The metric.
        metric: String,
        /// The buckets as given.
        buckets: Vec<f64>,
        /// What is wrong with them.
        reason: &'static str,
    },
    /// The series cap is out of range.
    #[error("metric {metric:?}: max_series {max_series} is out of range; use 1..={max}")]
    InvalidCardinality {
        /// The metric.
        metric: String,
        /// The cap as given.
        max_series: usize,
        /// The largest accepted cap.
        max: usize,
    },
    /// A metric is named like a series of a distribution (`x_bucket`, `x_sum`, `x_count`).
    #[error(
        "metric {metric:?} clashes with the {distribution:?} histogram's own series of that name; rename one of them"
    )]
    Clash {
        /// The clashing metric.
        metric: String,
        /// The distribution.
        distribution: String,
    },
    /// Two metrics would render the same name in OpenMetrics: a counter `foo_total` is the
    /// family `foo` (so no gauge may be named `foo`), a counter `foo` writes `foo_total`, a
    /// histogram `bar` writes `bar_bucket`, `bar_count` and `bar_sum`.
    #[error(
        "metric {metric:?} and metric {other:?} both render {name:?} in OpenMetrics (a counter foo_total is the family foo, a histogram bar writes bar_bucket/bar_count/bar_sum); Prometheus would refuse the scrape: rename {metric:?} or {other:?}"
    )]
    NameClash {
        /// One of the metrics (the first in name order).
        metric: String,
        /// The other metric.
        other: String,
        /// The name both would render.
        name: String,
    },
    /// Two definitions share a name but disagree on kind, labels, buckets or cap.
    #[error(
        "metric {metric:?}: defined twice with different {what}; definitions sharing a name must agree on kind, labels, buckets and max_series"
    )]
    Conflict {
        /// The metric.
        metric: String,
        /// What differs.
        what: &'static str,
    },
}

/// The reporter could not be built or attached to a bus.
#[derive(Debug, thiserror::Error)]
pub enum ReporterError {
    /// The cap on label value length is out of range.
    #[error(
        "the label value cap {bytes} bytes is out of range; use {min}..={max} (default {default})"
    )]
    LabelValueCap {
        /// The cap as given.
        bytes: usize,
        /// The smallest accepted cap.
        min: usize,
        /// The largest accepted cap.
        max: usize,
        /// The default.
        default: usize,
    },
    /// A `metrics` global recorder is already installed in this process, so the reporter
    /// cannot become it ([`crate::PrometheusReporter::install_global_recorder`]).
    #[error(
        "a global `metrics` recorder is already installed in this process; install the reporter's recorder once, before any other (or compose it into yours with PrometheusReporter::recorder)"
    )]
    GlobalRecorderTaken,
    /// The facade's histogram buckets ([`crate::ReporterBuilder::facade_buckets`]) are invalid.
    #[error("facade histogram buckets {buckets:?} are invalid: {reason}")]
    FacadeBuckets {
        /// The buckets as given.
        buckets: Vec<f64>,
        /// What is wrong with them.
        reason: &'static str,
    },
    /// The definitions clash with each other.
    #[error("building the Prometheus reporter: {0}")]
    Definition(#[from] DefinitionError),
    /// The bus refused one of the reporter's handlers; nothing stays attached.
    #[error("attaching the Prometheus reporter: {0}")]
    Attach(#[from] llm_telemetry_core::AttachError),
}

/// The `/metrics` endpoint could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Binding the listening socket failed (port in use, no permission, …).
    #[error(
        "binding the /metrics endpoint to {addr}: {source}; choose another address or free the port"
    )]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// The address text does not parse or resolve.
    #[error("the /metrics address {addr:?} is not a socket address like 127.0.0.1:9568")]
    InvalidAddress {
        /// The address as given.
        addr: String,
    },
    /// A setting is out of range.
    #[error("invalid /metrics server settings: {reason}")]
    InvalidConfig {
        /// What is wrong.
        reason: &'static str,
    },
    /// An extra page's path is not one it can be served at.
    #[error(
        "an extra page of the /metrics server has path {path:?}: give an absolute path other \
         than / and /metrics, e.g. /inspect"
    )]
    InvalidPage {
        /// The path as given.
        path: String,
    },
    /// The accept thread could not be started.
    #[error("starting the /metrics accept thread for {addr}: {source}")]
    Spawn {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
}
