//! The export thread: it owns a small current-thread tokio runtime, the exporters, and the batch.
//!
//! Full batches arrive on a bounded channel from the bus worker (see [`crate::pipeline`]); the
//! partial batch is taken every `scheduled_delay`, and on flush and shutdown. Each export
//! runs under the export timeout and `catch_unwind`, so a hanging collector costs at most one
//! timeout per batch and a panicking exporter costs one batch; both are counted and warned about
//! (at most once a minute). Flush and shutdown travel on the same channel behind the spans queued
//! before them, which is what makes "every span that ended before the call" exact. When a
//! shutdown's deadline passes first, the pipeline is abandoned: the running export is cancelled
//! within a few milliseconds and every span still held is counted as dropped
//! ([`crate::OtelStats::dropped_at_deadline`]) before the shutdown returns.
//!
//! The runtime lives and dies on this thread, so the instrumented program needs no runtime of its
//! own, and a program that does run tokio never has ours dropped inside its async context.

use std::collections::HashMap;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use opentelemetry_sdk::trace::SpanData;

use crate::config::OtelConfig;
use crate::exporter::{ExportFuture, ExporterSource, ResourceGroup};
use crate::pipeline::{Batch, Pipeline};
use crate::projects::Projects;
use crate::route::Route;
use crate::stats::{Counters, add};
use crate::warn::Warner;

/// How often a running export checks whether its pipeline was abandoned.
const ABANDON_POLL: Duration = Duration::from_millis(5);

/// What the export thread receives.
pub(crate) enum Message {
    /// A full batch, to export.
    Batch(Batch),
    /// One finished span, to export now (simple processor); the sender is told when it is done.
    ExportNow(Route, Box<SpanData>, Sender<()>),
    /// Export everything queued before, flush the exporters, answer whether all succeeded.
    Flush(Sender<bool>),
    /// Like flush, then shut the exporters down and stop.
    Shutdown(Sender<bool>),
}

/// What the export thread needs.
pub(crate) struct WorkerSetup {
    pub config: Arc<OtelConfig>,
    pub source: ExporterSource,
    pub counters: Arc<Counters>,
    pub warner: Arc<Warner>,
    pub pipeline: Arc<Pipeline>,
}

/// Starts the export thread and waits until its runtime and default exporter exist.
pub(crate) fn start(
    setup: WorkerSetup,
    receiver: Receiver<Message>,
) -> Result<std::thread::JoinHandle<()>, String> {
    let (ready_tx, ready_rx) = crossbeam_channel::bounded::<Result<(), String>>(1);
    let handle = std::thread::Builder::new()
        .name("llm-telemetry-otel-export".to_owned())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = ready_tx.send(Err(format!("tokio runtime: {e}")));
                    return;
                }
            };
            let projects = {
                let _entered = runtime.enter();
                Projects::new(&setup.config, setup.source.clone(), setup.counters.clone())
            };
            let projects = match projects {
                Ok(p) => p,
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            let _ = ready_tx.send(Ok(()));
            Worker {
                runtime,
                projects,
                setup,
                failed_since_flush: false,
            }
            .run(receiver);
        })
        .map_err(|e| e.to_string())?;
    match ready_rx.recv() {
        Ok(Ok(())) => Ok(handle),
        Ok(Err(e)) => {
            let _ = handle.join();
            Err(e)
        }
        Err(_) => Err("the export thread stopped while starting".to_owned()),
    }
}

struct Worker {
    runtime: tokio::runtime::Runtime,
    projects: Projects,
    setup: WorkerSetup,
    /// An export failed since the last flush answered (a flush then reports failure).
    failed_since_flush: bool,
}

impl Worker {
    fn run(mut self, receiver: Receiver<Message>) {
        let delay = self.setup.config.batch.scheduled_delay;
        let mut next_tick = Instant::now() + delay;
        loop {
            if self.setup.pipeline.is_abandoned() {
                return self.abandon_rest(&receiver);
            }
            match receiver.recv_deadline(next_tick) {
                Ok(Message::Batch(batch)) => {
                    self.export_items(batch);
                }
                Ok(Message::ExportNow(route, span, done)) => {
                    self.export_groups(vec![(route, vec![*span])]);
                    let _ = done.send(());
                }
                Ok(Message::Flush(answer)) => {
                    let partial = self.setup.pipeline.take();
                    let ok = self.export_items(partial);
                    let flushed = self
                        .projects
                        .own_exporters()
                        .all(|e| e.force_flush().is_ok());
                    let clean = !std::mem::take(&mut self.failed_since_flush);
                    let _ = answer.send(ok && flushed && clean);
                }
                Ok(Message::Shutdown(answer)) => {
                    let partial = self.setup.pipeline.take();
                    let ok = self.export_items(partial);
                    let closed = self.shutdown_exporters();
                    let _ = answer.send(ok && closed && !self.failed_since_flush);
                    return;
                }
                Err(RecvTimeoutError::Timeout) => {
                    let partial = self.setup.pipeline.take();
                    self.export_items(partial);
                    self.projects.sweep();
                    next_tick = Instant::now() + delay;
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let partial = self.setup.pipeline.take();
                    self.export_items(partial);
                    self.shutdown_exporters();
                    return;
                }
            }
        }
    }

    /// A shutdown's deadline passed: counts every span still queued (the partial batch and
    /// every message on the channel) as dropped, answers waiting flushes with a failure, and
    /// stops without exporting anything more. The exporters are not shut down (that could
    /// hang too): dropping the runtime closes their connections.
    fn abandon_rest(self, receiver: &Receiver<Message>) {
        let counters = &self.setup.counters;
        add(
            &counters.dropped_at_deadline,
            self.setup.pipeline.take().len() as u64,
        );
        // A bus worker inside the handler when the abandonment began may still hand over one
        // batch: wait for the channel to stay quiet a moment (bounded) so it is counted too.
        let quiet = Duration::from_millis(50);
        let given_up = Instant::now() + Duration::from_millis(500);
        while let Ok(message) =
            receiver.recv_timeout(quiet.min(given_up.saturating_duration_since(Instant::now())))
        {
            match message {
                Message::Batch(batch) => add(&counters.dropped_at_deadline, batch.len() as u64),
                Message::ExportNow(_, _, done) => {
                    add(&counters.dropped_at_deadline, 1);
                    let _ = done.send(());
                }
                Message::Flush(answer) | Message::Shutdown(answer) => {
                    let _ = answer.send(false);
                }
            }
            if Instant::now() >= given_up {
                break;
            }
        }
        add(
            &counters.dropped_at_deadline,
            self.setup.pipeline.take().len() as u64,
        );
    }

    fn shutdown_exporters(&mut self) -> bool {
        let timeout = self.setup.config.export_timeout.min(Duration::from_secs(5));
        let _entered = self.runtime.enter();
        self.projects.shutdown(timeout)
    }

    /// Exports a batch, grouped by route, the groups in the order their first span ended (so the
    /// order of exports never depends on hashing). True when every export succeeded.
    fn export_items(&mut self, mut batch: Batch) -> bool {
        if batch.is_empty() {
            return true;
        }
        let single_route = batch.routes.iter().all(|r| *r == batch.routes[0]);
        let groups = if single_route {
            let route = batch.routes[0].clone();
            // The exporter takes ownership of its batch: give it a copy and recycle the buffer.
            vec![(route, batch.spans.drain(..).collect())]
        } else {
            group_by_route(batch.routes.drain(..), batch.spans.drain(..))
        };
        self.setup.pipeline.recycle(batch);
        let ok = self.export_groups(groups);
        self.projects.sweep();
        ok
    }

    /// Exports route groups: in one request carrying one resource per route when the projects
    /// share the endpoint's exporter (OTLP), else one export per route through each project's
    /// own exporter. True when every export succeeded.
    fn export_groups(&mut self, groups: Vec<(Route, Vec<SpanData>)>) -> bool {
        if self.projects.shared().is_none() {
            let mut ok = true;
            for (route, spans) in groups {
                ok &= self.export_own(&route, spans);
            }
            return ok;
        }
        let mut resources = Vec::with_capacity(groups.len());
        let mut count = 0;
        for (route, spans) in groups {
            // A shared exporter's project is only a resource, so it is always made; were it not,
            // its spans would be counted as dropped, never as exported.
            match self.projects.project_for(&route) {
                Some(project) => {
                    count += spans.len() as u64;
                    resources.push(ResourceGroup {
                        resource: project.resource().clone(),
                        spans,
                    });
                }
                None => add(&self.setup.counters.dropped_no_exporter, spans.len() as u64),
            }
        }
        let Some(shared) = self.projects.shared() else {
            return false;
        };
        let outcome = drive(
            &self.runtime,
            &self.setup.pipeline,
            self.setup.config.export_timeout,
            || shared.export_groups(resources),
        );
        self.account(count, outcome)
    }

    /// Exports one route's spans through its project's own exporter.
    fn export_own(&mut self, route: &Route, spans: Vec<SpanData>) -> bool {
        let count = spans.len() as u64;
        let project = {
            let _entered = self.runtime.enter();
            self.projects.project_for(route)
        };
        let Some(exporter) = project.and_then(|p| p.exporter()) else {
            add(&self.setup.counters.dropped_no_exporter, count);
            self.failed_since_flush = true;
            self.setup.warner.warn(|| {
                format!(
                    "cannot make the exporter of tenant {:?} (service {:?}); {count} spans dropped",
                    route.tenant.as_deref().unwrap_or(""),
                    route.service.as_deref().unwrap_or("")
                )
            });
            return false;
        };
        let outcome = drive(
            &self.runtime,
            &self.setup.pipeline,
            self.setup.config.export_timeout,
            || exporter.export_boxed(spans),
        );
        self.account(count, outcome)
    }

    /// Counts an export's `count` spans as its outcome says, and warns on failure.
    fn account(&mut self, count: u64, outcome: Outcome) -> bool {
        let counters = &self.setup.counters;
        let timeout = self.setup.config.export_timeout;
        let failure = match outcome {
            Outcome::Exported => {
                add(&counters.exported, count);
                return true;
            }
            Outcome::Abandoned => {
                add(&counters.dropped_at_deadline, count);
                return false;
            }
            Outcome::Failed(e) => e,
            Outcome::TimedOut => format!("no answer within {timeout:?}"),
            Outcome::Panicked => "the exporter panicked".to_owned(),
        };
        add(&counters.dropped_export_failed, count);
        self.failed_since_flush = true;
        add(&counters.failed_exports, 1);
        counters.export_failed(&failure);
        let endpoint = &self.setup.config.endpoint;
        self.setup.warner.warn(|| {
            format!(
                "span export to {endpoint} failed: {failure}; {count} spans dropped \
                 (further warnings at most once a minute; see OtelHandler::stats)"
            )
        });
        false
    }
}

/// How an export ended.
enum Outcome {
    Exported,
    /// The pipeline was abandoned first (the shutdown's deadline passed).
    Abandoned,
    Failed(String),
    TimedOut,
    Panicked,
}

/// Runs the export `start` makes under the export timeout and `catch_unwind`, cancelling it when
/// the pipeline is abandoned.
fn drive<'a>(
    runtime: &tokio::runtime::Runtime,
    pipeline: &Pipeline,
    timeout: Duration,
    start: impl FnOnce() -> ExportFuture<'a>,
) -> Outcome {
    if pipeline.is_abandoned() {
        return Outcome::Abandoned;
    }
    pipeline.exporting(true);
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let _entered = runtime.enter();
        let export = start();
        runtime.block_on(async {
            let mut export = std::pin::pin!(tokio::time::timeout(timeout, export));
            let mut abandoned = std::pin::pin!(async {
                while !pipeline.is_abandoned() {
                    tokio::time::sleep(ABANDON_POLL).await;
                }
            });
            std::future::poll_fn(|cx| {
                if let Poll::Ready(outcome) = export.as_mut().poll(cx) {
                    return Poll::Ready(Some(outcome));
                }
                // The shutdown's deadline passed: the export is dropped (cancelled) when
                // this returns.
                abandoned.as_mut().poll(cx).map(|()| None)
            })
            .await
        })
    }));
    pipeline.exporting(false);
    match outcome {
        Ok(Some(Ok(Ok(())))) => Outcome::Exported,
        Ok(None) => Outcome::Abandoned,
        Ok(Some(Ok(Err(e)))) => Outcome::Failed(e.to_string()),
        Ok(Some(Err(_elapsed))) => Outcome::TimedOut,
        Err(_panic) => Outcome::Panicked,
    }
}

/// Spans grouped by route, groups in order of their first span, spans in their own order.
fn group_by_route<T>(
    routes: impl Iterator<Item = Route>,
    items: impl Iterator<Item = T>,
) -> Vec<(Route, Vec<T>)> {
    /// Up to this many groups a scan beats hashing; beyond it (many tenants in one batch) an
    /// index keeps grouping linear.
    const SCAN: usize = 8;
    let mut groups: Vec<(Route, Vec<T>)> = Vec::new();
    let mut index: HashMap<Route, usize> = HashMap::new();
    for (route, item) in routes.zip(items) {
        let found = if groups.len() <= SCAN {
            groups.iter().position(|(r, _)| *r == route)
        } else {
            if index.is_empty() {
                index.extend(groups.iter().enumerate().map(|(i, (r, _))| (r.clone(), i)));
            }
            index.get(&route).copied()
        };
        match found {
            Some(i) => groups[i].1.push(item),
            None => {
                if !index.is_empty() {
                    index.insert(route.clone(), groups.len());
                }
                groups.push((route, vec![item]));
            }
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;

    fn route(tenant: Option<&'static str>) -> Route {
        Route {
            tenant: tenant.map(Cow::Borrowed),
            service: None,
        }
    }

    #[test]
    fn many_groups_keep_every_item_once_in_order() {
        let names: Vec<String> = (0..50).map(|i| format!("t{i}")).collect();
        let routes = (0..500).map(|i| Route {
            tenant: Some(Cow::Owned(names[(i * 7) % 50].clone())),
            service: None,
        });
        let groups = group_by_route(routes, 0..500);
        assert_eq!(groups.len(), 50);
        let first: Vec<_> = groups.iter().map(|(_, items)| items[0]).collect();
        assert_eq!(
            first,
            (0..50).collect::<Vec<_>>(),
            "groups in order of first span"
        );
        for (route, items) in &groups {
            assert_eq!(items.len(), 10);
            for &i in items {
                assert_eq!(route.tenant.as_deref(), Some(names[(i * 7) % 50].as_str()));
            }
            assert!(
                items.windows(2).all(|w| w[0] < w[1]),
                "spans in their order"
            );
        }
    }

    #[test]
    fn groups_keep_the_order_of_their_first_span() {
        let routes = [Some("b"), None, Some("a"), Some("b"), None, Some("a")].map(route);
        let groups = group_by_route(routes.into_iter(), 0..6);
        let seen: Vec<_> = groups
            .iter()
            .map(|(r, items)| (r.tenant.as_deref(), items.clone()))
            .collect();
        assert_eq!(
            seen,
            [
                (Some("b"), vec![0, 3]),
                (None, vec![1, 4]),
                (Some("a"), vec![2, 5])
            ]
        );
    }
}
