//! The rate-limited warning: at most one message per interval (a minute by default) about spans
//! being dropped, written to stderr or handed to the user's callback.
//!
//! It deliberately does not go through `tracing` or the bus: an exporter that reports its own
//! failures as telemetry can loop on itself, which is one of the complaints this crate avoids.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Where warnings go.
pub(crate) type WarnSink = Arc<dyn Fn(&str) + Send + Sync + 'static>;

/// The default sink: one line on stderr.
pub(crate) fn stderr_sink() -> WarnSink {
    Arc::new(|message: &str| eprintln!("llm-telemetry-otel: {message}"))
}

/// Emits at most one warning per interval, counting the ones it held back.
pub(crate) struct Warner {
    sink: WarnSink,
    interval: Duration,
    last: Mutex<Option<Instant>>,
    suppressed: AtomicU64,
}

impl Warner {
    pub(crate) fn new(sink: WarnSink, interval: Duration) -> Self {
        Self {
            sink,
            interval,
            last: Mutex::new(None),
            suppressed: AtomicU64::new(0),
        }
    }

    /// Warns unless a warning went out less than an interval ago; `message` is built only when
    /// it will be written.
    pub(crate) fn warn(&self, message: impl FnOnce() -> String) {
        let now = Instant::now();
        {
            let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(at) = *last
                && now.saturating_duration_since(at) < self.interval
            {
                self.suppressed.fetch_add(1, Ordering::Relaxed);
                return;
            }
            *last = Some(now);
        }
        let held_back = self.suppressed.swap(0, Ordering::Relaxed);
        let mut text = message();
        if held_back > 0 {
            text.push_str(&format!(" ({held_back} similar warnings suppressed)"));
        }
        (self.sink)(&text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_most_one_warning_per_interval() {
        let seen = Arc::new(Mutex::new(Vec::<String>::new()));
        let sink_seen = seen.clone();
        let warner = Warner::new(
            Arc::new(move |m: &str| sink_seen.lock().unwrap().push(m.to_owned())),
            Duration::from_secs(60),
        );
        for i in 0..1000 {
            warner.warn(|| format!("warning {i}"));
        }
        assert_eq!(*seen.lock().unwrap(), vec!["warning 0".to_owned()]);

        let seen = Arc::new(Mutex::new(Vec::<String>::new()));
        let sink_seen = seen.clone();
        let warner = Warner::new(
            Arc::new(move |m: &str| sink_seen.lock().unwrap().push(m.to_owned())),
            Duration::ZERO,
        );
        warner.warn(|| "a".into());
        warner.warn(|| "b".into());
        assert_eq!(seen.lock().unwrap().len(), 2);
    }
}
