//! Load bench of the main job's OpenAI-compatible server: requests per second and latency
//! quantiles of `POST /v1/chat/completions` (non-streamed, 16 output tokens) on the simulated
//! backend with zero latency, with every handler attached (console log into a sink, Prometheus,
//! cost, OpenTelemetry exporting to a loopback OTLP receiver) against none (the bus idle, so
//! the tower layer and the helpers record nothing): the telemetry's share of a request. A third
//! arm attaches one handler that does nothing to every event: what recording the spans costs
//! (the layer's request span, the helpers' LLM spans, dispatch) before any handler works; one
//! arm per handler alone says which handler costs what.
//!
//! Closed loop: `CLIENTS` keep-alive connections, each sending its next request when the
//! previous answer is read. The arms take turns, round after round, so that a noisy
//! neighbour hurts every arm alike; each arm's figure is the median of its rounds. Writes
//! `target/bench/serve.json`. Run with `cargo bench --bench serve`.

#[path = "../handlers/otel/tests/support/receiver.rs"]
mod otlp_receiver;
#[path = "../examples/inference_service/serve/mod.rs"]
#[allow(dead_code)]
mod serve;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use llm_telemetry::instrument::{Instrumentation, SimulatedBackend, TelemetryLevel};
use llm_telemetry::log::Sink;
use llm_telemetry::{Bus, Config, Telemetry};
use serde_json::json;

/// Concurrent keep-alive connections.
const CLIENTS: usize = 4;
/// Warm-up before each measured round.
const WARMUP: Duration = Duration::from_secs(1);
/// Each measured round.
const ROUND: Duration = Duration::from_secs(4);
/// Rounds per arm.
const ROUNDS: usize = 3;

const BODY: &str = r#"{"model":"gpt-4o-mini","messages":[{"role":"system","content":"Answer briefly."},{"role":"user","content":"Why is the sky blue?"}],"max_tokens":16}"#;

/// One arm's round: requests answered and their latencies.
struct Round {
    requests: usize,
    elapsed: Duration,
    latencies_us: Vec<u64>,
}

/// One request on a keep-alive connection; the status code.
fn request(stream: &mut TcpStream, reader: &mut BufReader<TcpStream>) -> u16 {
    let head = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{BODY}",
        BODY.len()
    );
    stream.write_all(head.as_bytes()).expect("send a request");
    let mut line = String::new();
    reader.read_line(&mut line).expect("read the status line");
    let status: u16 = line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status code");
    let mut length = 0usize;
    loop {
        line.clear();
        reader.read_line(&mut line).expect("read a header");
        if line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().expect("a content length");
            }
        }
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).expect("read the body");
    status
}

/// `CLIENTS` connections hammering `addr` for `WARMUP + ROUND`; what the measured part saw.
fn round(addr: SocketAddr) -> Round {
    let start = Instant::now();
    let measure_from = start + WARMUP;
    let end = measure_from + ROUND;
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            std::thread::spawn(move || {
                let mut stream = TcpStream::connect(addr).expect("connect");
                stream.set_nodelay(true).expect("nodelay");
                let mut reader = BufReader::new(stream.try_clone().expect("clone the socket"));
                let mut latencies = Vec::new();
                loop {
                    let sent = Instant::now();
                    if sent >= end {
                        return latencies;
                    }
                    assert_eq!(request(&mut stream, &mut reader), 200);
                    if sent >= measure_from {
                        latencies.push(sent.elapsed().as_micros() as u64);
                    }
                }
            })
        })
        .collect();
    let mut latencies_us: Vec<u64> = clients
        .into_iter()
        .flat_map(|c| c.join().expect("client thread"))
        .collect();
    latencies_us.sort_unstable();
    Round {
        requests: latencies_us.len(),
        elapsed: ROUND,
        latencies_us,
    }
}

fn quantile(sorted: &[u64], q: f64) -> u64 {
    sorted[((sorted.len() as f64 * q) as usize).min(sorted.len() - 1)]
}

/// The handlers named in `enabled` (of `log`, `metrics`, `cost`, `tracing`) attached to `bus`,
/// configured as the main job configures them; spans go to a loopback receiver.
fn handlers(bus: &Bus, otlp_port: u16, enabled: &[&str]) -> Telemetry {
    let mut config = Config::builder()
        .set(format!("tracing.endpoint=http://127.0.0.1:{otlp_port}"))
        .set("metrics.listen=127.0.0.1:0");
    for section in ["log", "metrics", "cost", "tracing"] {
        config = config.set(format!("{section}.enabled={}", enabled.contains(&section)));
    }
    config
        .build()
        .expect("bench configuration")
        .telemetry()
        .log(|log| log.sink(Sink::writer(std::io::sink())))
        .attach(bus)
        .expect("attach the handlers")
}

/// One configuration under load: its server, and the handlers to shut down at the end.
struct Arm {
    name: &'static str,
    server: serve::Server,
    telemetry: Option<Telemetry>,
    rounds: Vec<Round>,
}

fn start(bus: &Bus) -> serve::Server {
    let options = serve::ServeOptions {
        threads: 1,
        ..serve::ServeOptions::default()
    };
    serve::start(
        "127.0.0.1:0".parse().expect("an address"),
        SimulatedBackend::new("openai"),
        Instrumentation::new(bus, TelemetryLevel::Basic),
        options,
    )
    .expect("start the server")
}

fn summary(rounds: &[Round]) -> serde_json::Value {
    let mut rps: Vec<f64> = rounds
        .iter()
        .map(|r| r.requests as f64 / r.elapsed.as_secs_f64())
        .collect();
    rps.sort_by(f64::total_cmp);
    let mut p50: Vec<u64> = rounds
        .iter()
        .map(|r| quantile(&r.latencies_us, 0.50))
        .collect();
    let mut p99: Vec<u64> = rounds
        .iter()
        .map(|r| quantile(&r.latencies_us, 0.99))
        .collect();
    p50.sort_unstable();
    p99.sort_unstable();
    json!({
        "requests_per_second": rps[rps.len() / 2],
        "p50_us": p50[p50.len() / 2],
        "p99_us": p99[p99.len() / 2],
        "rounds_requests_per_second": rps,
        "rounds_p99_us": p99,
    })
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let stop = Arc::new(AtomicBool::new(false));
    let (otlp_port, exports) = otlp_receiver::answering(Duration::ZERO, stop.clone());
    let arm = |name: &'static str, bus: Bus, telemetry: Option<Telemetry>| Arm {
        name,
        server: start(&bus),
        telemetry,
        rounds: Vec::new(),
    };
    let noop_bus = Bus::new();
    noop_bus
        .attach("noop", ["*.*", "*.*.*", "*.*.*.*"], |_| {})
        .expect("attach the no-op handler");
    let mut arms = vec![
        arm("none", Bus::new(), None),
        arm("spans_only_noop_handler", noop_bus, None),
    ];
    for (name, enabled) in [
        ("log_only", &["log"][..]),
        ("prometheus_only", &["metrics"][..]),
        ("cost_only", &["cost"][..]),
        ("otel_only", &["tracing"][..]),
        ("all_handlers", &["log", "metrics", "cost", "tracing"][..]),
    ] {
        let bus = Bus::new();
        let telemetry = handlers(&bus, otlp_port, enabled);
        arms.push(arm(name, bus, Some(telemetry)));
    }

    for r in 0..ROUNDS {
        let mut line = format!("round {r}:");
        for arm in &mut arms {
            arm.rounds.push(round(arm.server.addr()));
            line.push_str(&format!(" {} {}", arm.name, arm.rounds[r].requests));
        }
        println!("{line}");
    }
    let mut results = serde_json::Map::new();
    let mut rps_none = 0.0;
    let mut p99_none = 0.0;
    let mut complete = true;
    for arm in arms {
        let mut summary = summary(&arm.rounds);
        let rps = summary["requests_per_second"].as_f64().unwrap_or(0.0);
        let p99 = summary["p99_us"].as_f64().unwrap_or(0.0);
        if arm.name == "none" {
            (rps_none, p99_none) = (rps, p99);
        }
        summary["share_of_throughput"] = json!(1.0 - rps / rps_none);
        summary["p99_over_none"] = json!(p99 / p99_none);
        arm.server.stop();
        if let Some(mut telemetry) = arm.telemetry {
            complete &= telemetry.shutdown(Duration::from_secs(5)).is_complete();
        }
        results.insert(arm.name.to_owned(), summary);
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let value = json!({
        "case": "POST /v1/chat/completions, simulated backend with zero latency, 16 output tokens",
        "clients": CLIENTS,
        "server_threads": 1,
        "round_seconds": ROUND.as_secs_f64(),
        "rounds": ROUNDS,
        "arms": results,
        "otlp_exports_received": exports.load(std::sync::atomic::Ordering::SeqCst),
        "telemetry_shutdown_complete": complete,
    });
    println!(
        "{}",
        serde_json::to_string_pretty(&value).unwrap_or_default()
    );
    llm_telemetry_bench_support::write_json("serve", &value);
}
