//! The `/metrics` HTTP endpoint: hyper's HTTP/1 server on a current-thread tokio runtime that
//! runs on one thread of its own (`metrics-http`), so nothing here touches the threads that emit
//! events, and no request parser is written by hand.
//!
//! What it promises an operator, each held by a test against real sockets and a real
//! Prometheus (`tests/server.rs`, `tests/server_faults.rs`):
//!
//! - **Keep-alive**: a scraper keeps one connection (Prometheus does); `HEAD` answers the headers
//!   of a `GET` without the body.
//! - **Both formats**: OpenMetrics 1.0 with exemplars when the `Accept` header asks for
//!   `application/openmetrics-text` (Prometheus does), the text format 0.0.4 otherwise (see
//!   [`crate::exposition::Format::negotiate`]).
//! - **gzip**: `Content-Encoding: gzip` when `Accept-Encoding` allows it (Prometheus asks; a
//!   scrape of a hundred kilobytes shrinks about twentyfold).
//! - **Large pages stream**: a page of 1 MiB or more (at its previous render) is rendered and
//!   sent 64 KiB at a time as the socket takes it (chunked, gzipped on the way when asked), so a
//!   scrape's memory does not grow with the page (`tests/streaming_render.rs`); smaller pages
//!   are rendered once for the requests that arrive together and sent with `Content-Length`.
//! - **Slow clients are cut, not queued**: a request head (and, on a kept-alive connection, the
//!   next one) must arrive within [`ServerConfig::read_timeout`] (hyper's
//!   `header_read_timeout`); a response whose writing stalls longer than
//!   [`ServerConfig::write_timeout`] ends its connection.
//! - **Bounded connections**: at most [`ServerConfig::max_connections`] at once (a semaphore);
//!   past that a new connection gets a `503` written without waiting and is closed at once.
//! - **Bounded requests**: a request head larger than [`ServerConfig::max_request_bytes`] gets
//!   `431`, a malformed one `400` (hyper's parser), another method `405`, another path `404`.
//!
//! Every `GET /metrics` is counted in the reporter's [`crate::ReporterStats`]: served once its
//! response is handed to the kernel in full, failed if the connection ends first; failures (and
//! malformed requests) are exported as `llm_telemetry_scrapes_failed_total{reason}` with reason
//! `write_timeout`, `disconnected` or `malformed` (`tests/scrape_failures.rs`).

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::Notify;

use crate::error::ServeError;
use crate::http;
use crate::reporter::PrometheusReporter;

/// The content type of a text-format response (see [`crate::exposition`]).
pub use crate::exposition::TEXT_CONTENT_TYPE;

/// The default address: `127.0.0.1:9568` (the port of the ExLLM examples).
pub const DEFAULT_ADDRESS: &str = "127.0.0.1:9568";
/// The smallest [`ServerConfig::max_request_bytes`]: hyper's smallest read buffer.
pub const MIN_REQUEST_BYTES: usize = 8 * 1024;

/// Settings of the endpoint.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Where to listen (default [`DEFAULT_ADDRESS`]; port 0 picks a free port).
    pub address: String,
    /// The most connections open at once (default 512); past it, new connections get `503`.
    pub max_connections: usize,
    /// How long a client may take to send a request head, from its connection or from the
    /// previous response on a kept-alive connection (default 5 s); slower clients are closed.
    pub read_timeout: Duration,
    /// How long writing a response may stall (default 10 s) before the connection is closed.
    pub write_timeout: Duration,
    /// The largest request head accepted (default 16 KiB, at least [`MIN_REQUEST_BYTES`]);
    /// larger ones get `431`.
    pub max_request_bytes: usize,
    /// Whether to answer `Content-Encoding: gzip` when the client accepts it (default on).
    pub gzip: bool,
    /// Extra pages served beside `/metrics` ([`ServerConfig::page`]; default none).
    pub pages: Vec<crate::page::Page>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            address: DEFAULT_ADDRESS.to_owned(),
            max_connections: 512,
            read_timeout: Duration::from_secs(5),
            write_timeout: Duration::from_secs(10),
            max_request_bytes: 16 * 1024,
            gzip: true,
            pages: Vec::new(),
        }
    }
}

impl ServerConfig {
    /// The default settings at another address.
    pub fn at(address: impl Into<String>) -> Self {
        Self {
            address: address.into(),
            ..Self::default()
        }
    }

    /// Also serves `page` at its path (`GET`/`HEAD`), e.g. an admin view beside `/metrics`.
    ///
    /// ```
    /// use llm_telemetry_prometheus::{Page, ServerConfig};
    /// let config = ServerConfig::at("127.0.0.1:0")
    ///     .page(Page::new("/inspect", "application/json", || "{}".to_owned()));
    /// assert_eq!(config.pages[0].path(), "/inspect");
    /// ```
    pub fn page(mut self, page: crate::page::Page) -> Self {
        self.pages.push(page);
        self
    }

    fn validate(&self) -> Result<(), ServeError> {
        if let Some(page) = self.pages.iter().find(|p| !p.path_is_free()) {
            return Err(ServeError::InvalidPage {
                path: page.path().to_owned(),
            });
        }
        if self.max_connections == 0 {
            return Err(ServeError::InvalidConfig {
                reason: "max_connections must be at least 1",
            });
        }
        if self.max_request_bytes < MIN_REQUEST_BYTES {
            return Err(ServeError::InvalidConfig {
                reason: "max_request_bytes must be at least 8192 (MIN_REQUEST_BYTES)",
            });
        }
        if self.read_timeout.is_zero() || self.write_timeout.is_zero() {
            return Err(ServeError::InvalidConfig {
                reason: "read_timeout and write_timeout must be longer than zero",
            });
        }
        Ok(())
    }
}

/// A running endpoint. [`MetricsServer::stop`] (or dropping it) stops accepting, closes the open
/// connections and joins the server thread.
#[derive(Debug)]
pub struct MetricsServer {
    addr: SocketAddr,
    stop: Arc<Notify>,
    thread: Option<JoinHandle<()>>,
}

impl MetricsServer {
    /// Binds and starts serving `reporter`. Fails with a [`ServeError`] naming the address or
    /// the setting when the settings are out of range, the address does not resolve, the port
    /// cannot be bound, or the runtime or its thread cannot start.
    pub fn start(reporter: PrometheusReporter, config: ServerConfig) -> Result<Self, ServeError> {
        config.validate()?;
        let addr = config
            .address
            .to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next())
            .ok_or_else(|| ServeError::InvalidAddress {
                addr: config.address.clone(),
            })?;
        let listener = std::net::TcpListener::bind(addr)
            .map_err(|source| ServeError::Bind { addr, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| ServeError::Bind { addr, source })?;
        let spawn_error = |source| ServeError::Spawn { addr, source };
        listener.set_nonblocking(true).map_err(spawn_error)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(spawn_error)?;
        let listener = {
            let _entered = runtime.enter();
            tokio::net::TcpListener::from_std(listener).map_err(spawn_error)?
        };
        let stop = Arc::new(Notify::new());
        let settings = http::Settings {
            max_connections: config.max_connections,
            read_timeout: config.read_timeout,
            write_timeout: config.write_timeout,
            max_request_bytes: config.max_request_bytes,
            gzip: config.gzip,
            pages: config.pages,
        };
        let server = http::Server::new(reporter, settings);
        let stopped = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("metrics-http".into())
            .spawn(move || {
                runtime.block_on(server.run(listener, stopped));
                // Dropping the runtime closes the connections still open.
                drop(runtime);
            })
            .map_err(spawn_error)?;
        Ok(Self {
            addr,
            stop,
            thread: Some(thread),
        })
    }

    /// The bound address (with the real port when port 0 was asked).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The scrape URL, `http://<addr>/metrics`.
    pub fn url(&self) -> String {
        format!("http://{}/metrics", self.addr)
    }

    /// Stops accepting connections, closes the open ones and joins the server thread.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        // A stored permit: the accept loop sees it at its next poll even if not waiting yet.
        self.stop.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}
