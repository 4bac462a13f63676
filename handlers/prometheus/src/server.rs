//! The `/metrics` HTTP endpoint: a small std-thread server, no async runtime.
//!
//! One thread accepts connections; each accepted connection gets its own short-lived thread, up to
//! [`ServerConfig::max_connections`] at once (past that, a `503` is written without blocking and
//! the connection is closed). Every connection has read and write timeouts and a bounded request
//! size, so a slow, stalled or malformed client holds one connection thread for at most the
//! timeouts and never blocks other scrapes. Rendering runs on the connection thread and never
//! touches the bus's emitting threads. One request per connection (`Connection: close`). Each
//! `/metrics` request is counted in the reporter's [`crate::ReporterStats`], served (written in
//! full) or failed.
//!
//! The response is the Prometheus text format 0.0.4 whatever the `Accept` header says:
//! `metrics-exporter-prometheus` 0.17 renders only that format, not OpenMetrics, and Prometheus
//! falls back to it (it offers text/plain in its `Accept` header).

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::error::ServeError;
use crate::reporter::PrometheusReporter;

/// The default address: `127.0.0.1:9568` (the port of the ExLLM examples).
pub const DEFAULT_ADDRESS: &str = "127.0.0.1:9568";
/// The content type of the response.
pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Settings of the endpoint.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Where to listen (default [`DEFAULT_ADDRESS`]; port 0 picks a free port).
    pub address: String,
    /// The most connections served at once (default 8).
    pub max_connections: usize,
    /// How long a client may take to send its request (default 5 s).
    pub read_timeout: Duration,
    /// How long writing the response may stall (default 10 s).
    pub write_timeout: Duration,
    /// The largest request head accepted (default 16 KiB).
    pub max_request_bytes: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            address: DEFAULT_ADDRESS.to_owned(),
            max_connections: 8,
            read_timeout: Duration::from_secs(5),
            write_timeout: Duration::from_secs(10),
            max_request_bytes: 16 * 1024,
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
}

/// A running endpoint. [`MetricsServer::stop`] (or dropping it) stops accepting and joins the
/// accept thread; connections in flight finish on their own within the timeouts.
#[derive(Debug)]
pub struct MetricsServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl MetricsServer {
    /// Binds and starts serving `reporter`.
    pub fn start(reporter: PrometheusReporter, config: ServerConfig) -> Result<Self, ServeError> {
        if config.max_connections == 0 || config.max_request_bytes == 0 {
            return Err(ServeError::InvalidConfig {
                reason: "max_connections and max_request_bytes must be at least 1",
            });
        }
        let addr = config
            .address
            .to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next())
            .ok_or_else(|| ServeError::InvalidAddress {
                addr: config.address.clone(),
            })?;
        let listener =
            TcpListener::bind(addr).map_err(|source| ServeError::Bind { addr, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| ServeError::Bind { addr, source })?;
        let stop = Arc::new(AtomicBool::new(false));
        let accept = Acceptor {
            listener,
            reporter,
            config: Arc::new(config),
            stop: Arc::clone(&stop),
            active: Arc::new(AtomicUsize::new(0)),
        };
        let thread = std::thread::Builder::new()
            .name("metrics-accept".into())
            .spawn(move || accept.run())
            .map_err(|source| ServeError::Spawn { addr, source })?;
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

    /// Stops accepting connections and joins the accept thread.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            // Wake the blocking accept with a connection of our own.
            let mut wake = self.addr;
            if wake.ip().is_unspecified() {
                wake.set_ip(match wake {
                    SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                    SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
                });
            }
            if TcpStream::connect_timeout(&wake, Duration::from_secs(1)).is_ok() {
                let _ = thread.join();
            }
            // If the wake-up connection failed the thread is left to exit at its next accept.
        }
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

struct Acceptor {
    listener: TcpListener,
    reporter: PrometheusReporter,
    config: Arc<ServerConfig>,
    stop: Arc<AtomicBool>,
    active: Arc<AtomicUsize>,
}

/// Decrements the active-connection count when a connection thread ends, even by panic.
struct ActiveGuard(Arc<AtomicUsize>);

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Acceptor {
    fn run(self) {
        loop {
            let accepted = self.listener.accept();
            if self.stop.load(Ordering::SeqCst) {
                return;
            }
            let stream = match accepted {
                Ok((stream, _)) => stream,
                Err(_) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                }
            };
            if self.active.fetch_add(1, Ordering::AcqRel) >= self.config.max_connections {
                self.active.fetch_sub(1, Ordering::AcqRel);
                reject_busy(stream);
                continue;
            }
            let guard = ActiveGuard(Arc::clone(&self.active));
            let reporter = self.reporter.clone();
            let config = Arc::clone(&self.config);
            let spawned = std::thread::Builder::new()
                .name("metrics-conn".into())
                .spawn(move || {
                    let _guard = guard;
                    serve(stream, &reporter, &config);
                });
            // On spawn failure the closure (and its guard) is dropped: the slot is released.
            drop(spawned);
        }
    }
}

/// Answers 503 without ever blocking the accept thread.
fn reject_busy(stream: TcpStream) {
    let _ = stream.set_nonblocking(true);
    let mut stream = stream;
    let _ = stream.write_all(
        b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nRetry-After: 1\r\nConnection: close\r\n\r\n",
    );
    let _ = stream.shutdown(Shutdown::Write);
    // Consume what already arrived (without waiting), so closing sends FIN rather than RST.
    let mut buf = [0u8; 4096];
    for _ in 0..16 {
        match stream.read(&mut buf) {
            Ok(n) if n > 0 => {}
            _ => break,
        }
    }
}

/// Half-closes after the response and drains unread input for a bounded time and size, so the
/// kernel closes with FIN (the client reads the whole response) rather than RST.
fn close_gracefully(mut stream: TcpStream) {
    let _ = stream.shutdown(Shutdown::Write);
    let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
    let mut buf = [0u8; 8192];
    let mut drained = 0usize;
    while drained < 1 << 20 {
        match stream.read(&mut buf) {
            Ok(n) if n > 0 => drained += n,
            _ => break,
        }
    }
}

/// What a request asked for.
#[derive(Debug, PartialEq, Eq)]
enum Request {
    Metrics { head_only: bool },
    Index { head_only: bool },
    NotFound,
    MethodNotAllowed,
    Bad,
}

fn parse_request(head: &[u8]) -> Request {
    let Ok(text) = std::str::from_utf8(head) else {
        return Request::Bad;
    };
    let Some(line) = text.lines().next() else {
        return Request::Bad;
    };
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Request::Bad;
    };
    if parts.next().is_some() || !version.starts_with("HTTP/1.") {
        return Request::Bad;
    }
    let head_only = match method {
        "GET" => false,
        "HEAD" => true,
        _ => return Request::MethodNotAllowed,
    };
    let path = target.split('?').next().unwrap_or("");
    match path {
        "/metrics" => Request::Metrics { head_only },
        "/" => Request::Index { head_only },
        _ => Request::NotFound,
    }
}

/// Reads the request head (up to the blank line), bounded in size and time.
fn read_head(stream: &mut TcpStream, max: usize) -> Option<Vec<u8>> {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    loop {
        let n = stream.read(&mut buf).ok()?;
        if n == 0 {
            return None;
        }
        head.extend_from_slice(&buf[..n]);
        if head.windows(4).any(|w| w == b"\r\n\r\n") || head.windows(2).any(|w| w == b"\n\n") {
            return Some(head);
        }
        if head.len() > max {
            return Some(Vec::new());
        }
    }
}

fn serve(mut stream: TcpStream, reporter: &PrometheusReporter, config: &ServerConfig) {
    let _ = stream.set_read_timeout(Some(config.read_timeout));
    let _ = stream.set_write_timeout(Some(config.write_timeout));
    let _ = stream.set_nodelay(true);
    let Some(head) = read_head(&mut stream, config.max_request_bytes) else {
        return;
    };
    let request = parse_request(&head);
    let scrape = matches!(request, Request::Metrics { .. });
    let (status, content_type, body, head_only) = match request {
        Request::Metrics { head_only } => {
            ("200 OK", TEXT_CONTENT_TYPE, reporter.render(), head_only)
        }
        Request::Index { head_only } => (
            "200 OK",
            "text/plain; charset=utf-8",
            "llm-telemetry Prometheus endpoint: scrape /metrics\n".to_owned(),
            head_only,
        ),
        Request::NotFound => (
            "404 Not Found",
            "text/plain",
            "not found; scrape /metrics\n".to_owned(),
            false,
        ),
        Request::MethodNotAllowed => (
            "405 Method Not Allowed",
            "text/plain",
            "use GET /metrics\n".to_owned(),
            false,
        ),
        Request::Bad => (
            "400 Bad Request",
            "text/plain",
            "malformed request\n".to_owned(),
            false,
        ),
    };
    let header = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let written = stream.write_all(header.as_bytes()).is_ok()
        && (head_only || stream.write_all(body.as_bytes()).is_ok())
        && stream.flush().is_ok();
    if scrape {
        reporter.scrapes().count(written);
    }
    if written {
        close_gracefully(stream);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_requests() {
        assert_eq!(
            parse_request(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"),
            Request::Metrics { head_only: false }
        );
        assert_eq!(
            parse_request(b"HEAD /metrics?x=1 HTTP/1.0\r\n\r\n"),
            Request::Metrics { head_only: true }
        );
        assert_eq!(
            parse_request(b"GET /other HTTP/1.1\r\n\r\n"),
            Request::NotFound
        );
        assert_eq!(
            parse_request(b"POST /metrics HTTP/1.1\r\n\r\n"),
            Request::MethodNotAllowed
        );
        assert_eq!(parse_request(b"garbage\r\n\r\n"), Request::Bad);
        assert_eq!(parse_request(b"GET /metrics SPDY/9\r\n\r\n"), Request::Bad);
        assert_eq!(parse_request(&[0xff, 0xfe, b'\r', b'\n']), Request::Bad);
        assert_eq!(parse_request(b""), Request::Bad);
    }
}
