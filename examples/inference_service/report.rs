//! What the service measures about itself for its progress line and closing summary: request
//! counts by operation and outcome, and a latency histogram with bounded memory (geometric
//! buckets, 1 % wide, from 10 µs to over an hour), so the summary's p50/p95 stay exact to 1 %
//! however long the service runs.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The operations the workload performs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    /// A chat completion (possibly answered from the response cache).
    Chat,
    /// A plain text generation.
    Generate,
    /// An embedding batch.
    Embed,
    /// A streamed generation.
    Stream,
    /// A hybrid search: one embed and one generate under a request span.
    HybridSearch,
}

impl Operation {
    /// Every operation, in display order.
    pub const ALL: [Operation; 5] = [
        Operation::Chat,
        Operation::Generate,
        Operation::Embed,
        Operation::Stream,
        Operation::HybridSearch,
    ];

    /// The display name.
    pub fn name(self) -> &'static str {
        match self {
            Operation::Chat => "chat",
            Operation::Generate => "generate",
            Operation::Embed => "embed",
            Operation::Stream => "stream",
            Operation::HybridSearch => "hybrid_search",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

const BUCKETS: usize = 1400;
const FIRST_BUCKET_SECONDS: f64 = 10e-6;
const GROWTH: f64 = 1.01;

/// Counters shared by the worker threads.
pub struct Report {
    ok: [AtomicU64; 5],
    failed: [AtomicU64; 5],
    output_tokens: AtomicU64,
    latency: Box<[AtomicU64]>,
}

impl Default for Report {
    fn default() -> Self {
        Self {
            ok: Default::default(),
            failed: Default::default(),
            output_tokens: AtomicU64::new(0),
            latency: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

impl Report {
    /// Records one finished request.
    pub fn record(&self, operation: Operation, ok: bool, latency: Duration, output_tokens: u64) {
        let counter = if ok { &self.ok } else { &self.failed };
        counter[operation.index()].fetch_add(1, Ordering::Relaxed);
        self.output_tokens
            .fetch_add(output_tokens, Ordering::Relaxed);
        let seconds = latency.as_secs_f64().max(FIRST_BUCKET_SECONDS);
        let bucket = ((seconds / FIRST_BUCKET_SECONDS).ln() / GROWTH.ln()) as usize;
        self.latency[bucket.min(BUCKETS - 1)].fetch_add(1, Ordering::Relaxed);
    }

    /// Successful and failed requests of one operation.
    pub fn counts(&self, operation: Operation) -> (u64, u64) {
        (
            self.ok[operation.index()].load(Ordering::Relaxed),
            self.failed[operation.index()].load(Ordering::Relaxed),
        )
    }

    /// All requests and all failures.
    pub fn totals(&self) -> (u64, u64) {
        Operation::ALL.iter().fold((0, 0), |(r, f), op| {
            let (ok, failed) = self.counts(*op);
            (r + ok + failed, f + failed)
        })
    }

    /// Output tokens produced.
    pub fn output_tokens(&self) -> u64 {
        self.output_tokens.load(Ordering::Relaxed)
    }

    /// The latency under which `quantile` (0..1) of requests finished, to 1 %.
    pub fn latency_quantile(&self, quantile: f64) -> Option<Duration> {
        let counts: Vec<u64> = self
            .latency
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect();
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return None;
        }
        let rank = ((total as f64) * quantile).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (bucket, count) in counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                let upper = FIRST_BUCKET_SECONDS * GROWTH.powi(bucket as i32 + 1);
                return Some(Duration::from_secs_f64(upper));
            }
        }
        None
    }
}
