//! Counting scrapes as served or failed, per connection: a `/metrics` response is *handed over*
//! when hyper takes its body, and *served* once a flush succeeds after that (hyper flushes only
//! when everything it buffered is in the kernel's send buffer). Responses still unconfirmed
//! when the connection ends, and bodies dropped before hyper took them, are *failed*. A
//! streamed body (`super::stream`) is handed over with its last part; dropped before that, it
//! failed for the connection's reason: the write deadline if it fired, a hang-up otherwise.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::reporter::PrometheusReporter;
use crate::stats::ScrapeFailure;

/// The scrape accounting of one connection (shared by its responses and its I/O).
#[derive(Debug)]
pub(crate) struct Ledger {
    reporter: PrometheusReporter,
    /// Bodies handed to hyper and not yet confirmed by a flush.
    handed: AtomicU64,
    /// Whether the connection's write deadline fired.
    timed_out: AtomicBool,
}

impl Ledger {
    pub(crate) fn new(reporter: PrometheusReporter) -> Arc<Self> {
        Arc::new(Self {
            reporter,
            handed: AtomicU64::new(0),
            timed_out: AtomicBool::new(false),
        })
    }

    /// A `/metrics` body was taken by hyper.
    pub(crate) fn handed(&self) {
        self.handed.fetch_add(1, Ordering::Relaxed);
    }

    /// A `/metrics` body was dropped before hyper took it.
    pub(crate) fn dropped(&self) {
        self.reporter.scrapes().failed(ScrapeFailure::Disconnected);
    }

    /// The connection's write deadline fired (it is about to end).
    pub(crate) fn write_timed_out(&self) {
        self.timed_out.store(true, Ordering::Relaxed);
    }

    /// A streamed body was dropped before its last part was taken: a failed scrape, for
    /// [`Ledger::failure`]'s reason.
    pub(crate) fn cut_short(&self) {
        self.reporter.scrapes().failed(self.failure());
    }

    /// Why this connection's unfinished scrapes failed: the write deadline if it fired, a
    /// hang-up otherwise (the deadline of `super::io::DeadlineIo` is the connection's only
    /// write timeout; hyper's request-head deadline fails no scrape).
    fn failure(&self) -> ScrapeFailure {
        if self.timed_out.load(Ordering::Relaxed) {
            ScrapeFailure::WriteTimeout
        } else {
            ScrapeFailure::Disconnected
        }
    }

    /// A flush succeeded: every body handed so far is written.
    pub(crate) fn flushed(&self) {
        for _ in 0..self.handed.swap(0, Ordering::Relaxed) {
            self.reporter.scrapes().served();
        }
    }

    /// The connection ended: what is still unconfirmed failed, for [`Ledger::failure`]'s
    /// reason.
    pub(crate) fn closed(&self) {
        let reason = self.failure();
        for _ in 0..self.handed.swap(0, Ordering::Relaxed) {
            self.reporter.scrapes().failed(reason);
        }
    }

    /// A request could not be parsed (hyper answered it).
    pub(crate) fn malformed(&self) {
        self.reporter.scrapes().failed(ScrapeFailure::Malformed);
    }
}
