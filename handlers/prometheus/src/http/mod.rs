//! The HTTP side of the `/metrics` endpoint (see `crate::server` for what it promises): the
//! accept loop with its connection cap, and one hyper HTTP/1 connection task per client, all on
//! the server's current-thread runtime.

mod io;
mod ledger;
mod response;
mod stream;

use std::future::poll_fn;
use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

use crate::reporter::PrometheusReporter;

/// The endpoint's settings (checked by `crate::server`).
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub(crate) max_connections: usize,
    pub(crate) read_timeout: Duration,
    pub(crate) write_timeout: Duration,
    pub(crate) max_request_bytes: usize,
    pub(crate) gzip: bool,
    pub(crate) pages: Vec<crate::page::Page>,
}

/// What the server thread runs.
pub(crate) struct Server {
    reporter: PrometheusReporter,
    settings: Arc<Settings>,
    cache: Arc<response::RenderCache>,
}

/// The answer past the connection cap, written without waiting.
const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nRetry-After: 1\r\nConnection: close\r\n\r\n";

impl Server {
    pub(crate) fn new(reporter: PrometheusReporter, settings: Settings) -> Self {
        Self {
            reporter,
            settings: Arc::new(settings),
            cache: Arc::default(),
        }
    }

    /// Accepts connections until `stop` is notified.
    pub(crate) async fn run(self, listener: TcpListener, stop: Arc<Notify>) {
        let slots = Arc::new(Semaphore::new(self.settings.max_connections));
        let mut stopped = pin!(stop.notified());
        loop {
            let accepted = poll_fn(|cx| {
                if stopped.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(None);
                }
                listener.poll_accept(cx).map(Some)
            })
            .await;
            let stream = match accepted {
                None => return,
                Some(Ok((stream, _))) => stream,
                Some(Err(_)) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            };
            match Arc::clone(&slots).try_acquire_owned() {
                Ok(slot) => {
                    let reporter = self.reporter.clone();
                    let settings = Arc::clone(&self.settings);
                    let cache = Arc::clone(&self.cache);
                    tokio::spawn(serve(stream, reporter, settings, cache, slot));
                }
                Err(_) => reject_busy(stream),
            }
        }
    }
}

/// Serves one connection (keep-alive: any number of requests) while holding `_slot`.
async fn serve(
    stream: TcpStream,
    reporter: PrometheusReporter,
    settings: Arc<Settings>,
    cache: Arc<response::RenderCache>,
    _slot: OwnedSemaphorePermit,
) {
    let _ = stream.set_nodelay(true);
    let ledger = ledger::Ledger::new(reporter.clone());
    let io = TokioIo::new(io::DeadlineIo::new(
        stream,
        settings.write_timeout,
        Arc::clone(&ledger),
    ));
    let service_settings = Arc::clone(&settings);
    let service_ledger = Arc::clone(&ledger);
    let service = service_fn(move |request| {
        let response = response::respond(
            request,
            reporter.clone(),
            Arc::clone(&service_ledger),
            Arc::clone(&service_settings),
            Arc::clone(&cache),
        );
        async move { Ok::<_, std::convert::Infallible>(response.await) }
    });
    let result = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(settings.read_timeout)
        .max_buf_size(settings.max_request_bytes)
        .keep_alive(true)
        .serve_connection(io, service)
        .await;
    // Errors are the client's: a malformed request (already answered), a timeout or a hang-up
    // (the ledger knows which).
    if matches!(&result, Err(e) if e.is_parse()) {
        ledger.malformed();
    }
    ledger.closed();
}

/// Answers 503 without waiting (the socket's send buffer takes it) and closes, after consuming
/// what already arrived so that the close is a FIN rather than a reset where possible.
fn reject_busy(stream: TcpStream) {
    let _ = stream.try_write(BUSY);
    let Ok(stream) = stream.into_std() else {
        return;
    };
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let mut buf = [0u8; 4096];
    for _ in 0..16 {
        match std::io::Read::read(&mut &stream, &mut buf) {
            Ok(n) if n > 0 => {}
            _ => break,
        }
    }
}
