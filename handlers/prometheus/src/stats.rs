//! What a reporter did, for an operator: [`ReporterStats`], the snapshot
//! [`crate::PrometheusReporter::stats`] returns, and the scrape counters the `/metrics` endpoint
//! keeps (`ScrapeCounters`).
//!
//! Nothing here is counted on the recording path: the series and overflow numbers are the series
//! tables' own counters, the skip counts the definitions' own, the event counts the bus's
//! ([`llm_telemetry_core::Bus::stats`]), and the scrape counts are bumped once per scrape.

use std::sync::atomic::{AtomicU64, Ordering};

use llm_telemetry_core::BusStats;

/// A snapshot of a reporter's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReporterStats {
    /// Metric names (series tables) the reporter renders.
    pub metrics: u64,
    /// Label sets held over every metric, the overflow series not counted.
    pub series: u64,
    /// Metrics whose cap on label sets was reached (they have an overflow series).
    pub metrics_at_cap: u64,
    /// Events whose label values a cap refused: recorded into the metric's overflow series
    /// (`otel_metric_overflow="true"`) instead of a series of their own.
    pub overflow_events: u64,
    /// Events recorded with a label value longer than the cap
    /// ([`crate::ReporterBuilder::max_label_value_bytes`]), cut and marked.
    pub truncated_events: u64,
    /// Events a definition skipped because the measurement it records was missing.
    pub skipped_missing_measurement: u64,
    /// Events a definition skipped because a tag without a default was missing.
    pub skipped_missing_tag: u64,
    /// Events a definition skipped because the value was not finite (or negative for a sum).
    pub skipped_invalid_value: u64,
    /// Events the bus delivered to the reporter's handlers: one per handler group an event
    /// reached (see [`crate::PrometheusReporter::handler_ids`]). Kept as of the detach once
    /// detached; 0 for a reporter never attached.
    pub events: u64,
    /// Events the bus dropped for the reporter's handlers (queued delivery with a full queue).
    pub dropped: u64,
    /// Handler calls that panicked (the bus then detached that handler).
    pub failed: u64,
    /// `/metrics` responses written in full by a [`crate::MetricsServer`] of this reporter.
    pub scrapes_served: u64,
    /// `/metrics` responses that could not be written (the scraper hung up or timed out).
    pub scrapes_failed: u64,
}

impl ReporterStats {
    /// Events skipped for any reason.
    pub fn skipped(&self) -> u64 {
        self.skipped_missing_measurement + self.skipped_missing_tag + self.skipped_invalid_value
    }
}

/// The bus's counts for a set of handler ids.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct BusCounts {
    pub delivered: u64,
    pub dropped: u64,
    pub failed: u64,
}

impl BusCounts {
    /// The counts of the handlers named `ids` in `stats`, added up.
    pub(crate) fn of(stats: &BusStats, ids: &[String]) -> Self {
        stats
            .handlers
            .iter()
            .filter(|h| ids.contains(&h.id))
            .fold(Self::default(), |sum, h| Self {
                delivered: sum.delivered + h.delivered,
                dropped: sum.dropped + h.dropped,
                failed: sum.failed + h.failed,
            })
    }
}

/// Scrapes of `/metrics`, bumped by the endpoint once per scrape.
#[derive(Debug, Default)]
pub(crate) struct ScrapeCounters {
    served: AtomicU64,
    failed: AtomicU64,
}

impl ScrapeCounters {
    /// Counts one scrape, written in full or not.
    pub(crate) fn count(&self, written: bool) {
        let counter = if written { &self.served } else { &self.failed };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// (served, failed).
    pub(crate) fn get(&self) -> (u64, u64) {
        (
            self.served.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
        )
    }
}
