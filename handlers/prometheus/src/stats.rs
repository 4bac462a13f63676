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
    /// `/metrics` scrapes that failed: responses that could not be written (the scraper hung
    /// up or its write timed out) and malformed requests (see
    /// `llm_telemetry_scrapes_failed_total{reason}`).
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

/// Why a `/metrics` scrape failed: the `reason` label of `llm_telemetry_scrapes_failed_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ScrapeFailure {
    /// Writing the response stalled past the write timeout (a client that stopped reading).
    WriteTimeout,
    /// The client hung up (or reset) before the response was written in full.
    Disconnected,
    /// The request could not be parsed (hyper answered `400`/`431`).
    Malformed,
}

impl ScrapeFailure {
    /// Every reason, in label order.
    pub(crate) const ALL: [ScrapeFailure; 3] = [
        ScrapeFailure::WriteTimeout,
        ScrapeFailure::Disconnected,
        ScrapeFailure::Malformed,
    ];

    /// The `reason` label value.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ScrapeFailure::WriteTimeout => "write_timeout",
            ScrapeFailure::Disconnected => "disconnected",
            ScrapeFailure::Malformed => "malformed",
        }
    }
}

/// Scrapes of `/metrics`, bumped by the endpoint once per scrape.
#[derive(Debug, Default)]
pub(crate) struct ScrapeCounters {
    served: AtomicU64,
    /// Indexed like [`ScrapeFailure::ALL`].
    failed: [AtomicU64; 3],
}

impl ScrapeCounters {
    /// Counts one scrape written in full.
    pub(crate) fn served(&self) {
        self.served.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one failed scrape.
    pub(crate) fn failed(&self, reason: ScrapeFailure) {
        self.failed[reason as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Failed scrapes for one reason.
    pub(crate) fn failed_for(&self, reason: ScrapeFailure) -> u64 {
        self.failed[reason as usize].load(Ordering::Relaxed)
    }

    /// (served, failed for any reason).
    pub(crate) fn get(&self) -> (u64, u64) {
        (
            self.served.load(Ordering::Relaxed),
            self.failed.iter().map(|f| f.load(Ordering::Relaxed)).sum(),
        )
    }
}
