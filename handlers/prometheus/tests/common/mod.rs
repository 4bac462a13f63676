//! Shared test helpers: loopback HTTP, free ports, locating promtool/prometheus, event traffic.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use llm_telemetry_core::StaticEventName;
use llm_telemetry_core::{Bus, Value};
use llm_telemetry_genai::catalog::{self, keys};
use llm_telemetry_prometheus::{Metric, PrometheusReporter, defaults};

/// A reporter with the default LLM metric set, attached to `bus`.
pub fn default_reporter(bus: &Bus) -> PrometheusReporter {
    PrometheusReporter::builder()
        .metrics(defaults::llm_metrics())
        .unwrap()
        .attach(bus)
        .unwrap()
}

/// A response: status code, headers, body.
pub struct Response {
    pub status: u16,
    pub head: String,
    /// The body as text (lossy for binary bodies; see `bytes`).
    pub body: String,
    /// The body as received.
    pub bytes: Vec<u8>,
}

impl Response {
    /// A header's value (case-insensitive name), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// Reads one response from `stream`: the head, then `Content-Length` bytes of body (none for a
/// response to `HEAD`), or everything until the server closes when there is no length.
pub fn read_response(stream: &mut TcpStream, head_only: bool) -> std::io::Result<Response> {
    let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_owned());
    let mut bytes = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    let head_end = loop {
        if let Some(at) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Err(bad("connection closed before the response head"));
        }
        bytes.extend_from_slice(&buf[..n]);
    };
    let head =
        String::from_utf8(bytes[..head_end].to_vec()).map_err(|_| bad("head is not UTF-8"))?;
    let mut body = bytes.split_off(head_end + 4);
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("no status"))?;
    let mut response = Response {
        status,
        head,
        body: String::new(),
        bytes: Vec::new(),
    };
    let length: Option<usize> = response
        .header("content-length")
        .and_then(|v| v.parse().ok());
    let chunked = response
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
    match (head_only, length) {
        (true, _) => body.clear(),
        (false, None) if chunked => body = read_chunked(stream, body)?,
        (false, Some(length)) => {
            while body.len() < length {
                let n = stream.read(&mut buf)?;
                if n == 0 {
                    return Err(bad("connection closed inside the body"));
                }
                body.extend_from_slice(&buf[..n]);
            }
            body.truncate(length);
        }
        (false, None) => {
            stream.read_to_end(&mut body)?;
        }
    }
    response.body = String::from_utf8_lossy(&body).into_owned();
    response.bytes = body;
    Ok(response)
}

/// The body of a `Transfer-Encoding: chunked` response (a streamed `/metrics` page), decoded:
/// `read` holds what was read past the head so far; reads more from `stream` as needed.
fn read_chunked(stream: &mut TcpStream, mut read: Vec<u8>) -> std::io::Result<Vec<u8>> {
    let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_owned());
    let mut buf = [0u8; 64 * 1024];
    let mut more = |read: &mut Vec<u8>| -> std::io::Result<()> {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Err(bad("connection closed inside a chunked body"));
        }
        read.extend_from_slice(&buf[..n]);
        Ok(())
    };
    let mut body = Vec::new();
    let mut at = 0;
    loop {
        let line_end = loop {
            if let Some(i) = read[at..].windows(2).position(|w| w == b"\r\n") {
                break at + i;
            }
            more(&mut read)?;
        };
        let size_text = std::str::from_utf8(&read[at..line_end]).map_err(|_| bad("chunk size"))?;
        let size_text = size_text.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| bad("chunk size"))?;
        at = line_end + 2;
        // The chunk, then its CRLF (after the last, empty chunk: the end of the trailers).
        while read.len() < at + size + 2 {
            more(&mut read)?;
        }
        if size == 0 {
            return Ok(body);
        }
        body.extend_from_slice(&read[at..at + size]);
        at += size + 2;
    }
}

/// Sends raw bytes and reads one response.
pub fn try_request(addr: SocketAddr, request: &[u8]) -> std::io::Result<Response> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(20)))?;
    stream.write_all(request)?;
    read_response(&mut stream, request.starts_with(b"HEAD "))
}

/// Like [`try_request`], failing the test on error.
pub fn raw_request(addr: SocketAddr, request: &[u8]) -> Response {
    try_request(addr, request).unwrap_or_else(|e| panic!("request to {addr}: {e}"))
}

fn get_request(addr: SocketAddr, path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: */*\r\nConnection: close\r\n\r\n")
        .into_bytes()
}

/// `GET path` over loopback.
pub fn get(addr: SocketAddr, path: &str) -> Response {
    raw_request(addr, &get_request(addr, path))
}

/// `GET path` over loopback, returning errors.
pub fn try_get(addr: SocketAddr, path: &str) -> std::io::Result<Response> {
    try_request(addr, &get_request(addr, path))
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Locates a server binary: the env var the test script exports, else PATH. Panics (fails the
/// test) if missing: these tests must never skip silently.
pub fn tool(env: &str, name: &str) -> PathBuf {
    if let Some(path) = std::env::var_os(env) {
        return PathBuf::from(path);
    }
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|p| p.join(name))
                .find(|p| p.is_file())
        })
        .unwrap_or_else(|| {
            panic!("{name} not found: set {env} or install it (scripts/test-all.sh installs Debian's prometheus package)")
        })
}

/// Runs `promtool check metrics` on `text`; panics with promtool's output if it fails.
pub fn promtool_check(text: &str) {
    let promtool = tool("LLM_TELEMETRY_PROMTOOL", "promtool");
    let mut child = Command::new(&promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("running {}: {e}", promtool.display()));
    let mut stdin = child.stdin.take().unwrap();
    let input = text.to_owned();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().expect("promtool output");
    writer.join().unwrap().expect("write to promtool");
    assert!(
        out.status.success(),
        "promtool check metrics failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
}

/// Emits a realistic mix of catalog events.
pub fn traffic(bus: &Bus, rounds: usize) {
    for i in 0..rounds {
        let model = ["gpt-4o", "claude-3-5-sonnet", "llama-3.1-8b"][i % 3];
        let provider = ["openai", "anthropic", "mlx"][i % 3];
        let md = [
            (keys::PROVIDER, Value::Str(provider)),
            (keys::MODEL, Value::Str(model)),
            (keys::TENANT, Value::Str("acme")),
        ];
        bus.execute(
            &catalog::LLM_CHAT_STOP,
            &[
                (keys::DURATION, 2.5e8 * (i % 7 + 1) as f64),
                (keys::INPUT_TOKENS, 100.0 + i as f64),
                (keys::OUTPUT_TOKENS, 20.0 + i as f64),
            ],
            &md,
        );
        bus.execute(
            &catalog::LLM_STREAM_FIRST_TOKEN,
            &[(keys::TIME_TO_FIRST_TOKEN, 4.0e7)],
            &md,
        );
        bus.execute(
            &catalog::LLM_COST_CALCULATED,
            &[(keys::COST_USD, 0.0025)],
            &md,
        );
        if i % 4 == 0 {
            let err = [
                (keys::PROVIDER, Value::Str(provider)),
                (keys::MODEL, Value::Str(model)),
                (keys::EXCEPTION_TYPE, Value::Str("timeout")),
                (keys::EXCEPTION_MESSAGE, Value::Str("deadline exceeded")),
            ];
            bus.execute(
                &catalog::LLM_CHAT_EXCEPTION,
                &[(keys::DURATION, 3.0e9)],
                &err,
            );
        }
        let cache = [(keys::CACHE_NAME, Value::Str("prompts"))];
        let hit = if i % 2 == 0 {
            &catalog::CACHE_LOOKUP_HIT
        } else {
            &catalog::CACHE_LOOKUP_MISS
        };
        bus.execute(hit, &[(keys::SIZE_BYTES, 512.0)], &cache);
    }
}

/// The value of the sample line `series` (exact text up to the value), if present.
pub fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| {
            l.strip_prefix(series)
                .and_then(|rest| rest.strip_prefix(' '))
        })
        .map(|v| v.parse().expect("sample value"))
}

/// Hostile label values: quotes, newlines, backslashes, unicode, a 10 kB string.
pub fn hostile_values() -> Vec<String> {
    vec![
        "quote\"inside".to_owned(),
        "new\nline".to_owned(),
        "back\\slash".to_owned(),
        "\\\"escaped-looking\\n".to_owned(),
        "trailing\\".to_owned(),
        "héllo wörld 🌍 中文".to_owned(),
        "{a=\"b\"} 1\n# TYPE x counter".to_owned(),
        "x".repeat(10_000),
    ]
}

/// `GET path` over HTTP/1.0, which Prometheus answers with a plain body, never chunked.
pub fn try_get_plain(addr: SocketAddr, path: &str) -> std::io::Result<Response> {
    try_request(
        addr,
        format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes(),
    )
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The scrape config of one job `llm` scraping `target`'s `/metrics` (every second).
pub fn llm_job(target: SocketAddr) -> String {
    format!(
        "  - job_name: llm\n    metrics_path: /metrics\n    static_configs:\n      - targets: ['{target}']\n"
    )
}

/// A real Prometheus (the `prometheus` binary the test script installs) on a free loopback
/// port, with its own temp directory; killed and removed on drop.
pub struct PrometheusServer {
    child: Child,
    dir: PathBuf,
    /// Where its HTTP API listens.
    pub addr: SocketAddr,
}

impl PrometheusServer {
    /// Starts Prometheus with `scrape_configs` (YAML list items indented by two spaces, or
    /// empty) and `rule_files`, scraping and evaluating every second, and waits (at most 60 s)
    /// until `/-/ready` answers 200.
    pub fn start(scrape_configs: &str, rule_files: &[PathBuf]) -> Self {
        Self::start_with(scrape_configs, rule_files, &[])
    }

    /// [`PrometheusServer::start`] with extra command-line flags (e.g.
    /// `--enable-feature=exemplar-storage`).
    pub fn start_with(scrape_configs: &str, rule_files: &[PathBuf], flags: &[&str]) -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let binary = tool("LLM_TELEMETRY_PROMETHEUS", "prometheus");
        let dir = std::env::temp_dir().join(format!(
            "llm-telemetry-prometheus-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("data")).expect("temp dir");
        let rules: String = rule_files
            .iter()
            .map(|p| format!("  - {}\n", p.display()))
            .collect();
        let config = format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
             rule_files:\n{rules}scrape_configs:\n{scrape_configs}",
            rules = if rules.is_empty() {
                "  []\n".to_owned()
            } else {
                rules
            },
            scrape_configs = if scrape_configs.is_empty() {
                "  []\n"
            } else {
                scrape_configs
            },
        );
        std::fs::write(dir.join("prometheus.yml"), config).expect("write config");
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port())
            .parse()
            .expect("address");
        // A file, not a pipe nobody reads: a full pipe would stall Prometheus.
        let stderr = std::fs::File::create(dir.join("prometheus.log")).expect("log file");
        let child = Command::new(&binary)
            .arg(format!(
                "--config.file={}",
                dir.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .arg("--log.level=warn")
            .args(flags)
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", binary.display()));
        let mut server = Self { child, dir, addr };
        server.wait_ready();
        server
    }

    /// What Prometheus logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("prometheus.log")).unwrap_or_default()
    }

    /// Panics with the log if Prometheus has exited.
    pub fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("prometheus exited early: {status}\nlog:\n{}", self.log());
        }
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            self.assert_running();
            if try_get_plain(self.addr, "/-/ready").is_ok_and(|r| r.status == 200) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "prometheus at {} not ready after 60 s:\n{}",
                self.addr,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for PrometheusServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

static BIG: StaticEventName = StaticEventName::new("t.big");

pub const BIG_SERIES: usize = 10_000;
/// Bytes of each series' label value: 10,000 series make a body of about 16 MB, more than the
/// loopback socket buffers (128 KiB to receive while nobody reads, 4 MiB at most to send).
pub const BIG_VALUE_BYTES: usize = 1600;

/// A reporter holding [`BIG_SERIES`] series of one counter `big_total` (a page of about 16 MB),
/// attached to `bus`.
pub fn big_reporter(bus: &Bus) -> PrometheusReporter {
    let reporter = PrometheusReporter::builder()
        .max_label_value_bytes(2 * BIG_VALUE_BYTES)
        .metric(
            Metric::counter("big_total", &["t.big"])
                .tags(&["k"])
                .max_series(BIG_SERIES),
        )
        .unwrap()
        .attach(bus)
        .unwrap();
    let mut value = "v".repeat(BIG_VALUE_BYTES).into_bytes();
    for i in 0..BIG_SERIES {
        value[..8].copy_from_slice(format!("{i:08}").as_bytes());
        let value = std::str::from_utf8(&value).unwrap();
        bus.execute(&BIG, &[], &[("k", Value::Str(value))]);
    }
    reporter
}
