//! A real Arize Phoenix for tests: start it on free loopback ports with an in-memory database,
//! wait until `/healthz` answers, query spans back over its REST API, and make sure it dies with
//! the test process.
//!
//! Self-contained (std and serde_json only), so other test suites can reuse it with
//! `#[path = "<dir>/phoenix.rs"] mod phoenix;`. The `phoenix` CLI is found through
//! `LLM_TELEMETRY_PHOENIX`, falling back to `/opt/phoenix-venv/bin/phoenix`; when it is missing
//! or does not become ready, [`Phoenix::shared`] panics, so a test that needs Phoenix fails
//! instead of skipping.
//!
//! Phoenix is started under a small `sh` watchdog in its own process group: the watchdog kills the
//! group when the test process is gone (even after a panic or abort), and [`Phoenix::stop`] kills
//! it explicitly. One Phoenix serves a whole test binary ([`Phoenix::shared`]); test threads run in
//! parallel and share it.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How long Phoenix may take to become ready.
pub const READY_TIMEOUT: Duration = Duration::from_secs(90);

/// A running Phoenix.
pub struct Phoenix {
    /// The HTTP port (UI, REST API, OTLP/HTTP at `/v1/traces`).
    pub http_port: u16,
    /// The OTLP/gRPC port.
    pub grpc_port: u16,
    /// Its working directory (removed when it stops).
    pub working_dir: PathBuf,
    /// Set when Phoenix serves TLS: how the REST API is read (through `curl`).
    pub tls: Option<ClientTls>,
    child: Mutex<Option<Child>>,
}

/// How the harness talks to a Phoenix started with TLS on: the CA that signed its certificate
/// and, for mTLS, a client certificate and key (PEM files).
#[derive(Clone, Debug)]
pub struct ClientTls {
    /// The CA certificate.
    pub ca: PathBuf,
    /// The client certificate and key, when Phoenix verifies clients.
    pub client: Option<(PathBuf, PathBuf)>,
}

/// The `phoenix` executable: `LLM_TELEMETRY_PHOENIX`, else the default virtualenv.
pub fn phoenix_binary() -> PathBuf {
    std::env::var_os("LLM_TELEMETRY_PHOENIX")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/phoenix-venv/bin/phoenix"))
}

/// A free loopback port.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind an ephemeral loopback port")
}

impl Phoenix {
    /// The Phoenix shared by every test of this binary, started on first use.
    ///
    /// Panics (failing the test) when Phoenix cannot be started or does not become ready.
    pub fn shared() -> &'static Phoenix {
        static SHARED: OnceLock<Phoenix> = OnceLock::new();
        SHARED.get_or_init(|| match Phoenix::start() {
            Ok(p) => p,
            Err(e) => panic!("Phoenix is required for this test: {e} (run scripts/test-all.sh)"),
        })
    }

    /// Starts a new Phoenix and waits until it is ready.
    pub fn start() -> Result<Phoenix, String> {
        Self::start_with(&[], None)
    }

    /// Starts a new Phoenix with extra environment variables (such as `PHOENIX_TLS_ENABLED`) and,
    /// when it serves TLS, the client side of it for the REST API; waits until it is ready.
    pub fn start_with(
        extra_env: &[(&str, String)],
        tls: Option<ClientTls>,
    ) -> Result<Phoenix, String> {
        let binary = phoenix_binary();
        if !binary.exists() {
            return Err(format!(
                "{} does not exist; set LLM_TELEMETRY_PHOENIX to the `phoenix` CLI of a \
                 virtualenv with arize-phoenix installed",
                binary.display()
            ));
        }
        let http_port = free_port();
        let mut grpc_port = free_port();
        while grpc_port == http_port {
            grpc_port = free_port();
        }
        let working_dir = std::env::temp_dir().join(format!(
            "llm-telemetry-phoenix-{}-{http_port}",
            std::process::id()
        ));
        std::fs::create_dir_all(&working_dir)
            .map_err(|e| format!("create {}: {e}", working_dir.display()))?;
        let log = std::fs::File::create(working_dir.join("phoenix.log"))
            .map_err(|e| format!("create the Phoenix log: {e}"))?;
        let log_err = log.try_clone().map_err(|e| e.to_string())?;
        // The watchdog: run Phoenix in the background, poll the test process, and kill the whole
        // process group (Phoenix, its children, the watchdog) when the test process is gone.
        let script = r#"
            "$1" serve </dev/null &
            child=$!
            while kill -0 "$2" 2>/dev/null && kill -0 "$child" 2>/dev/null; do sleep 0.5; done
            kill -TERM "$child" 2>/dev/null
            sleep 1
            rm -rf "$3"
            kill -KILL -- -$$ 2>/dev/null
        "#;
        let mut command = Command::new("sh");
        for (name, value) in extra_env {
            command.env(name, value);
        }
        let child = command
            .arg("-c")
            .arg(script)
            .arg("phoenix-watchdog")
            .arg(&binary)
            .arg(std::process::id().to_string())
            .arg(&working_dir)
            .env("PHOENIX_HOST", "127.0.0.1")
            .env("PHOENIX_PORT", http_port.to_string())
            .env("PHOENIX_GRPC_PORT", grpc_port.to_string())
            .env("PHOENIX_WORKING_DIR", &working_dir)
            .env("PHOENIX_TELEMETRY_ENABLED", "false")
            .env("PHOENIX_ALLOW_EXTERNAL_RESOURCES", "false")
            .env("PHOENIX_SQL_DATABASE_URL", "sqlite:///:memory:")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err))
            .process_group(0)
            .spawn()
            .map_err(|e| format!("spawn {}: {e}", binary.display()))?;
        let phoenix = Phoenix {
            http_port,
            grpc_port,
            working_dir,
            tls,
            child: Mutex::new(Some(child)),
        };
        phoenix.wait_ready(READY_TIMEOUT)?;
        Ok(phoenix)
    }

    fn wait_ready(&self, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok((200, body)) = self.get("/healthz")
                && body.trim().trim_matches('"').eq_ignore_ascii_case("ok")
            {
                return Ok(());
            }
            if let Some(child) = self.child.lock().unwrap().as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                return Err(format!(
                    "Phoenix exited early ({status}); log:\n{}",
                    self.log_tail()
                ));
            }
            if Instant::now() >= deadline {
                let log = self.log_tail();
                self.stop();
                return Err(format!("Phoenix not ready after {timeout:?}; log:\n{log}"));
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// The last lines of Phoenix's log.
    pub fn log_tail(&self) -> String {
        let text =
            std::fs::read_to_string(self.working_dir.join("phoenix.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// `http://` (`https://` with TLS on) `127.0.0.1:<http port>` (OTLP/HTTP base URL;
    /// `/v1/traces` is the traces path).
    pub fn http_endpoint(&self) -> String {
        format!("{}://127.0.0.1:{}", self.scheme(), self.http_port)
    }

    /// `http://` (`https://` with TLS on) `127.0.0.1:<grpc port>`.
    pub fn grpc_endpoint(&self) -> String {
        format!("{}://127.0.0.1:{}", self.scheme(), self.grpc_port)
    }

    fn scheme(&self) -> &'static str {
        if self.tls.is_some() { "https" } else { "http" }
    }

    /// Kills Phoenix's process group now (the watchdog would do it at exit anyway).
    pub fn stop(&self) {
        if let Some(mut child) = self.child.lock().unwrap().take() {
            let group = format!("-{}", child.id());
            let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
            let _ = child.wait();
            let _ = std::fs::remove_dir_all(&self.working_dir);
        }
    }

    /// `GET path` on the HTTP port: (status, body). With TLS on, through `curl`.
    pub fn get(&self, path: &str) -> Result<(u16, String), String> {
        match &self.tls {
            None => http_get(self.http_port, path),
            Some(tls) => https_get(self.http_port, path, tls),
        }
    }

    /// The spans of `project` (newest first, up to 1000), or `None` while the project does not
    /// exist yet (Phoenix answers 404 until its first span is stored).
    pub fn spans(&self, project: &str) -> Result<Option<Vec<serde_json::Value>>, String> {
        let (status, body) = self.get(&format!("/v1/projects/{project}/spans?limit=1000"))?;
        match status {
            404 => Ok(None),
            200 => {
                let json: serde_json::Value =
                    serde_json::from_str(&body).map_err(|e| format!("{e}: {body}"))?;
                Ok(Some(json["data"].as_array().cloned().unwrap_or_default()))
            }
            other => Err(format!("GET spans of {project}: HTTP {other}: {body}")),
        }
    }

    /// Polls until `project` holds at least `count` spans; returns them. Panics after `timeout`.
    pub fn wait_for_spans(
        &self,
        project: &str,
        count: usize,
        timeout: Duration,
    ) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let last: String = match self.spans(project) {
                Ok(Some(spans)) if spans.len() >= count => return spans,
                Ok(Some(spans)) => format!("{} spans", spans.len()),
                Ok(None) => "project not found (404)".to_owned(),
                Err(e) => e,
            };
            if Instant::now() >= deadline {
                panic!(
                    "project {project}: expected {count} spans within {timeout:?}, last saw {last}; \
                     Phoenix log:\n{}",
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

impl Drop for Phoenix {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A GET over HTTPS on loopback through `curl`, verifying the server against `tls.ca` and
/// presenting the client certificate when there is one.
pub fn https_get(port: u16, path: &str, tls: &ClientTls) -> Result<(u16, String), String> {
    let mut command = Command::new("curl");
    command
        .args(["--silent", "--show-error", "--max-time", "10"])
        .args(["--header", "Accept: application/json"])
        .arg("--cacert")
        .arg(&tls.ca)
        .args(["--write-out", "\n%{http_code}"]);
    if let Some((cert, key)) = &tls.client {
        command.arg("--cert").arg(cert).arg("--key").arg(key);
    }
    let output = command
        .arg(format!("https://127.0.0.1:{port}{path}"))
        .output()
        .map_err(|e| format!("run curl: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "curl: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').ok_or("curl printed no status")?;
    let status = status
        .trim()
        .parse()
        .map_err(|e| format!("curl status {status:?}: {e}"))?;
    Ok((status, body.to_owned()))
}

/// A minimal HTTP/1.1 GET on loopback (Content-Length and chunked bodies).
pub fn http_get(port: u16, path: &str) -> Result<(u16, String), String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: application/json\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).map_err(|e| e.to_string())?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no HTTP header end")?;
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let body = &raw[split + 4..];
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line: {head}"))?;
    let chunked = head.lines().any(|l| {
        l.to_ascii_lowercase().starts_with("transfer-encoding:")
            && l.to_ascii_lowercase().contains("chunked")
    });
    let body = if chunked {
        dechunk(body)?
    } else {
        body.to_vec()
    };
    Ok((status, String::from_utf8_lossy(&body).to_string()))
}

fn dechunk(mut body: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let line_end = body
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("bad chunk header")?;
        let size_text = String::from_utf8_lossy(&body[..line_end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|e| format!("bad chunk size {size_text:?}: {e}"))?;
        body = &body[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        if body.len() < size {
            return Err("truncated chunk".to_owned());
        }
        out.extend_from_slice(&body[..size]);
        body = &body[(size + 2).min(body.len())..];
    }
}

/// An attribute of a span as Phoenix's REST API returns it: flattened by dotted key, or nested
/// by segment (`Json::Null` when absent).
pub fn attribute<'a>(span: &'a serde_json::Value, key: &str) -> &'a serde_json::Value {
    let attrs = &span["attributes"];
    if !attrs[key].is_null() {
        return &attrs[key];
    }
    key.split('.').fold(attrs, |node, part| &node[part])
}
