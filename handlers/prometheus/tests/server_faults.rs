//! The endpoint under attack while a real Prometheus (Debian's `prometheus`) scrapes it every
//! second: every `up` sample must be 1 while (a) 500 loopback connections trickle request bytes
//! (slowloris, a Python client) and (b) a 200-connection load runs (Debian's `wrk`). The slow
//! clients must be cut by the request-head deadline (and reconnect, so 500 stay open), and the
//! load must get no 503 (200 connections are within the cap). Loopback only, bounded in time.
//! Run by `scripts/test-all.sh` (which installs `wrk`); fails, not skips, without the tools.

mod common;
mod prom_api;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use llm_telemetry_core::Bus;
use llm_telemetry_prometheus::ServerConfig;

use common::{PrometheusServer, default_reporter, llm_job, tool, traffic};
use prom_api::PrometheusApi;

/// 500 connections that send a request line, then one byte of a never-ending header every
/// 0.5 s; a connection the server closes is counted and replaced. Prints a JSON summary.
const SLOWLORIS: &str = r#"
import json, socket, sys, time
host, port, n, secs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
stats = {"opened": 0, "cut_by_server": 0, "answered": 0, "connect_failures": 0, "bytes_trickled": 0}
def connect():
    try:
        s = socket.create_connection((host, port), timeout=2)
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        s.setblocking(False)
        stats["opened"] += 1
        return s
    except OSError:
        stats["connect_failures"] += 1
        return None
socks = [connect() for _ in range(n)]
end = time.time() + secs
while time.time() < end:
    for k, s in enumerate(socks):
        if s is None:
            socks[k] = connect()
            continue
        try:
            data = s.recv(4096)
            closed = True
            if data:
                stats["answered"] += 1
        except BlockingIOError:
            closed = False
        except OSError:
            closed = True
        if not closed:
            try:
                s.send(b"a")
                stats["bytes_trickled"] += 1
                continue
            except BlockingIOError:
                continue
            except OSError:
                pass
        stats["cut_by_server"] += 1
        s.close()
        socks[k] = connect()
    time.sleep(0.5)
stats["open_at_end"] = sum(1 for s in socks if s is not None)
print(json.dumps(stats))
"#;

/// Waits until Prometheus has scraped the target at least once with `up` = 1.
fn wait_until_up(prometheus: &mut PrometheusServer) {
    prometheus.wait_for("up{job=\"llm\"}", |r| {
        r[0]["value"][1].as_str() == Some("1")
    });
}

/// The `up` samples since `since` (plus one interval), after letting a last scrape land.
fn up_since(prometheus: &PrometheusServer, since: Instant) -> Vec<f64> {
    std::thread::sleep(Duration::from_millis(1500));
    prometheus.up_samples(since.elapsed().as_secs() + 1)
}

/// The worst scrape duration Prometheus saw over the last `seconds`.
fn worst_scrape_seconds(prometheus: &PrometheusServer, seconds: u64) -> f64 {
    prometheus
        .query(&format!(
            "max_over_time(scrape_duration_seconds{{job=\"llm\"}}[{seconds}s])"
        ))
        .and_then(|r| r[0]["value"][1].as_str().and_then(|v| v.parse().ok()))
        .unwrap_or(f64::NAN)
}

/// A count from wrk's summary: the number before `marker` (`requests in`), or after it.
fn wrk_number(output: &str, marker: &str) -> Option<u64> {
    let line = output.lines().find(|l| l.contains(marker))?;
    let (before, after) = line.split_once(marker)?;
    before
        .split_whitespace()
        .last()
        .and_then(|n| n.parse().ok())
        .or_else(|| {
            after
                .split(|c: char| !c.is_ascii_digit())
                .find(|s| !s.is_empty())
                .and_then(|n| n.parse().ok())
        })
}

#[test]
#[ignore = "needs prometheus, python3 and wrk: run scripts/test-all.sh"]
fn prometheus_stays_up_through_slowloris_and_a_200_connection_load() {
    const ATTACK_SECS: u64 = 8;
    let python = tool("LLM_TELEMETRY_PYTHON", "python3");
    let wrk = tool("LLM_TELEMETRY_WRK", "wrk");
    let bus = Bus::new();
    let reporter = default_reporter(&bus);
    traffic(&bus, 30);
    // The defaults: a 5 s request-head deadline and a 512-connection cap.
    let server = reporter.serve(ServerConfig::at("127.0.0.1:0")).unwrap();
    let addr = server.local_addr();
    let mut prometheus = PrometheusServer::start(&llm_job(addr), &[]);
    wait_until_up(&mut prometheus);

    // (a) 500 slow connections.
    let started = Instant::now();
    let slow = Command::new(&python)
        .args(["-c", SLOWLORIS])
        .args([
            addr.ip().to_string(),
            addr.port().to_string(),
            "500".to_owned(),
            ATTACK_SECS.to_string(),
        ])
        .stderr(Stdio::inherit())
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", python.display()));
    assert!(slow.status.success(), "slowloris client failed");
    let stats: serde_json::Value =
        serde_json::from_slice(&slow.stdout).expect("the slowloris client's JSON summary");
    let up = up_since(&prometheus, started);
    let worst = worst_scrape_seconds(&prometheus, started.elapsed().as_secs());
    println!(
        "slowloris: {stats}; up samples over {} s: {up:?}; worst scrape {worst:.4} s",
        started.elapsed().as_secs()
    );
    assert!(up.len() as u64 >= ATTACK_SECS, "too few scrapes: {up:?}");
    assert!(
        up.iter().all(|v| *v == 1.0),
        "up fell during slowloris: {up:?}"
    );
    assert_eq!(stats["connect_failures"], 0, "{stats}");
    assert_eq!(
        stats["answered"], 0,
        "slow clients get no response: {stats}"
    );
    // The 5 s head deadline cut the first 500 within the 8 s attack; they reconnected.
    assert!(stats["cut_by_server"].as_u64().unwrap() >= 500, "{stats}");
    assert_eq!(stats["open_at_end"], 500, "{stats}");

    // (b) 200 connections requesting /metrics as fast as they can.
    let started = Instant::now();
    let load = Command::new(&wrk)
        .args([
            "-t2",
            "-c200",
            &format!("-d{ATTACK_SECS}s"),
            "--timeout",
            "5s",
        ])
        .arg(format!("http://{addr}/metrics"))
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", wrk.display()));
    let output = String::from_utf8_lossy(&load.stdout).into_owned();
    assert!(load.status.success(), "wrk failed: {output}");
    let up = up_since(&prometheus, started);
    let worst = worst_scrape_seconds(&prometheus, started.elapsed().as_secs());
    let answers = wrk_number(&output, "requests in").expect("wrk's request count");
    let non_2xx = wrk_number(&output, "Non-2xx or 3xx responses:").unwrap_or(0);
    let socket_errors = output
        .lines()
        .find(|l| l.contains("Socket errors:"))
        .unwrap_or("Socket errors: none");
    println!(
        "wrk -c200: {answers} answers, {non_2xx} non-2xx (503s), {socket_errors}; up samples: {up:?}; worst scrape {worst:.4} s\n{output}"
    );
    assert!(up.len() as u64 >= ATTACK_SECS, "too few scrapes: {up:?}");
    assert!(
        up.iter().all(|v| *v == 1.0),
        "up fell during the load: {up:?}"
    );
    assert!(answers > 200, "{output}");
    assert_eq!(non_2xx, 0, "200 connections are within the cap: {output}");
    assert!(!output.contains("Socket errors:"), "{output}");
    // Every answer was a scrape written in full (plus Prometheus's own).
    let stats = reporter.stats();
    assert!(stats.scrapes_served >= answers, "{stats:?}");
}
