//! A render of the whole page written a part at a time: [`RenderStream`] remembers which
//! family and which series come next, so `/metrics` can send a large page in parts of a few
//! tens of kilobytes, each rendered when the socket has taken the previous one, instead of
//! building the whole body first. [`PrometheusReporter::render_as`] is the same stream run to
//! its end in one string.
//!
//! A part is consistent per series (each sample is read from its atomics when it is written),
//! not across the page: a series that changes while the page is being sent shows the value it
//! had when its part was rendered, as a scrape taken a few milliseconds later would.

use std::sync::atomic::Ordering;

use super::PrometheusReporter;
use crate::exposition::{self, Format};

/// The position of a render in progress (see the [module docs](self)).
pub(crate) struct RenderStream {
    reporter: PrometheusReporter,
    format: Format,
    /// Exemplars first seen by this render are stamped with this time.
    now_ms: u64,
    /// The family being written, an index into the reporter's tables.
    table: usize,
    /// Where that family resumes (`0`: not started).
    from: usize,
    /// Whether the self-metrics (and OpenMetrics' `# EOF`) are written: the render is over.
    done: bool,
    /// Bytes written so far.
    written: usize,
}

impl RenderStream {
    /// A render of `reporter` in `format`, its self-metrics refreshed now.
    pub(crate) fn new(reporter: PrometheusReporter, format: Format) -> Self {
        reporter.refresh_self_metrics();
        Self {
            reporter,
            format,
            now_ms: llm_telemetry_core::context::unix_nanos_now() / 1_000_000,
            table: 0,
            from: 0,
            done: false,
            written: 0,
        }
    }

    /// Appends the next part to `out`: series until this call wrote `budget` bytes or more (a
    /// part ends after a whole series, so it may exceed `budget` by one series). Returns
    /// `false` once the render is complete (nothing was appended by a call that returns
    /// `false` after an earlier one did).
    pub(crate) fn next_part(&mut self, out: &mut String, budget: usize) -> bool {
        if self.done {
            return false;
        }
        let start = out.len();
        let limit = start.saturating_add(budget);
        let inner = &self.reporter.inner;
        while let Some(entry) = inner.tables.get(self.table) {
            let next = exposition::write_table_from(
                out,
                &entry.table,
                &entry.help,
                self.format,
                self.now_ms,
                self.from,
                limit,
            );
            match next {
                Some(resume) => self.from = resume,
                None => {
                    self.table += 1;
                    self.from = 0;
                }
            }
            if out.len() >= limit {
                self.written += out.len() - start;
                return true;
            }
        }
        let rest = inner.handle.render();
        match self.format {
            Format::Text => out.push_str(&rest),
            Format::OpenMetrics => {
                exposition::openmetrics_from_text(&rest, out);
                out.push_str(exposition::EOF);
            }
        }
        self.done = true;
        self.written += out.len() - start;
        inner.last_render_len.store(self.written, Ordering::Relaxed);
        true
    }
}
