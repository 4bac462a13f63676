//! `cargo bench -p llm-telemetry-prometheus --bench prometheus`: Prometheus handler benches, side
//! by side with the `metrics` crate it builds on:
//!
//! - `chat_stop_vs_macros`: one `llm.chat.stop` through the bus updating a counter and a histogram
//!   with 2 tags, **inside a span, so both also store an exemplar** (exemplars on, the default),
//!   vs `metrics::counter!` + `metrics::histogram!` with the same labels against an installed
//!   recorder (target ratio ≤ 0.5);
//! - `chat_stop_vs_handles`: the same event vs pre-registered `metrics` handles (≤ 1.5);
//! - `render_10k`: `PrometheusReporter::render` (text format) of 10,000 counter series, each
//!   holding an exemplar, vs `PrometheusHandle::render` of the same 10,000 series registered in a
//!   `metrics-exporter-prometheus` recorder (≤ 1.2);
//! - `render_10k_openmetrics`: the same in OpenMetrics, with the 10,000 exemplars written, vs the
//!   same peer (≤ 1.2);
//! - `scrape_10k_gzip`: a full HTTP scrape of those series from our `/metrics` with Prometheus's
//!   own request headers (OpenMetrics, `Accept-Encoding: gzip`, over a kept-alive connection,
//!   until the last body byte is read) vs the same request to `metrics-exporter-prometheus`'s
//!   `http-listener` serving the same series (which answers plain text, uncompressed) (≤ 1.0);
//! - the cardinality attack (run first, in a fresh process state): 1,000,000 distinct model names
//!   through the default metric set; series per metric must stay ≤ cap + 1 and peak RSS growth
//!   should be ≤ 50 MB. Written to `target/bench/prometheus-cardinality.json`.

use std::hint::black_box;
use std::time::Instant;

use llm_telemetry_bench_support::{self as support, Rounds, Row, Side};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use llm_telemetry_core::{Bus, SpanContext, Value, context};
use llm_telemetry_genai::catalog::{self, keys};
use llm_telemetry_prometheus::metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
use llm_telemetry_prometheus::{
    DEFAULT_MAX_SERIES, Format, Metric, PrometheusReporter, ServerConfig, Tag, defaults, metrics,
};

const MEASUREMENTS: &[(&str, f64)] = &[(keys::DURATION, 1.5e9)];
const METADATA: &[(&str, Value<'static>)] = &[
    (keys::PROVIDER, Value::Str("openai")),
    (keys::MODEL, Value::Str("gpt-4o")),
];

/// A bus with a reporter of one counter and one histogram on `llm.chat.stop`, 2 tags each.
fn chat_stop_bus() -> (Bus, PrometheusReporter) {
    let bus = Bus::new();
    let tags = || [Tag::metadata(keys::PROVIDER), Tag::metadata(keys::MODEL)];
    let [p1, m1] = tags();
    let [p2, m2] = tags();
    let reporter = PrometheusReporter::builder()
        .metric(
            Metric::counter("bench_requests_total", &["llm.chat.stop"])
                .tag(p1)
                .tag(m1),
        )
        .unwrap()
        .metric(
            Metric::distribution(
                "bench_duration_seconds",
                &["llm.chat.stop"],
                keys::DURATION,
                &defaults::DURATION_BUCKETS,
            )
            .convert(llm_telemetry_prometheus::Conversion::NanosecondsToSeconds)
            .tag(p2)
            .tag(m2),
        )
        .unwrap()
        .attach(&bus)
        .unwrap();
    (bus, reporter)
}

fn install_peer_recorder() {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full("peer_duration_seconds".into()),
            &defaults::DURATION_BUCKETS,
        )
        .unwrap()
        .install_recorder()
        .expect("install the peer's global recorder");
    // Drain the peer's histogram samples now and then, as its exporter would.
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(std::time::Duration::from_secs(5));
            handle.run_upkeep();
        }
    });
}

/// Our side of both chat_stop cases: one `llm.chat.stop` through the bus to the reporter, in a
/// span (the event's span becomes the counter's and the bucket's exemplar; the caller enters it).
fn our_chat_stop(bus: &Bus) -> Side<'_> {
    Side::call(move || {
        bus.execute(
            &catalog::LLM_CHAT_STOP,
            black_box(MEASUREMENTS),
            black_box(METADATA),
        )
    })
}

fn chat_stop_vs_macros(runner: &Rounds) -> Option<Row> {
    let (bus, _reporter) = chat_stop_bus();
    let _span = context::enter(Some(SpanContext::new_root()));
    runner.compare(
        "chat_stop_vs_macros",
        "metrics::counter! + metrics::histogram! (2 labels) on an installed PrometheusRecorder",
        0.5,
        our_chat_stop(&bus),
        Side::call(|| {
            metrics::counter!("peer_requests_total", "gen_ai_provider_name" => "openai", "gen_ai_request_model" => "gpt-4o")
                .increment(1);
            metrics::histogram!("peer_duration_seconds", "gen_ai_provider_name" => "openai", "gen_ai_request_model" => "gpt-4o")
                .record(black_box(1.5));
        }),
    )
}

fn chat_stop_vs_handles(runner: &Rounds) -> Option<Row> {
    let (bus, _reporter) = chat_stop_bus();
    let counter = metrics::counter!("peer_requests_total", "gen_ai_provider_name" => "openai", "gen_ai_request_model" => "gpt-4o");
    let histogram = metrics::histogram!("peer_duration_seconds", "gen_ai_provider_name" => "openai", "gen_ai_request_model" => "gpt-4o");
    let _span = context::enter(Some(SpanContext::new_root()));
    runner.compare(
        "chat_stop_vs_handles",
        "pre-registered metrics::Counter + metrics::Histogram handles",
        1.5,
        our_chat_stop(&bus),
        Side::call(|| {
            counter.increment(1);
            histogram.record(black_box(1.5));
        }),
    )
}

const SERIES: usize = 10_000;

/// A reporter with 10,000 counter series, each recorded inside a span (so each holds an
/// exemplar), and a `metrics-exporter-prometheus` recorder holding the same 10,000 series.
fn ten_thousand_series() -> (
    Bus,
    PrometheusReporter,
    llm_telemetry_prometheus::metrics_exporter_prometheus::PrometheusRecorder,
) {
    let bus = Bus::new();
    let reporter = PrometheusReporter::builder()
        .metric(
            Metric::counter("bench_series_total", &["llm.chat.stop"])
                .tags(&[keys::MODEL])
                .max_series(SERIES),
        )
        .unwrap()
        .attach(&bus)
        .unwrap();
    let peer = PrometheusBuilder::new().build_recorder();
    let metadata = metrics::Metadata::new(module_path!(), metrics::Level::INFO, None);
    for i in 0..SERIES {
        let model = format!("model-{i:05}");
        let _span = context::enter(Some(SpanContext::new_root()));
        bus.execute(
            &catalog::LLM_CHAT_STOP,
            &[],
            &[(keys::MODEL, Value::Str(&model))],
        );
        let key = metrics::Key::from_parts(
            "bench_series_total",
            vec![metrics::Label::new("gen_ai_request_model", model)],
        );
        metrics::Recorder::register_counter(&peer, &key, &metadata).increment(1);
    }
    let text = reporter.render_as(Format::OpenMetrics);
    let exemplars = text
        .lines()
        .filter(|l| l.starts_with("bench_series_total{") && l.contains(" # {trace_id="))
        .count();
    assert_eq!(exemplars, SERIES);
    let peer_series = peer
        .handle()
        .render()
        .lines()
        .filter(|l| l.starts_with("bench_series_total{"))
        .count();
    assert_eq!(peer_series, SERIES);
    (bus, reporter, peer)
}

fn render_10k(runner: &Rounds) -> Vec<Row> {
    if !runner.selects("render_10k") {
        return Vec::new();
    }
    let (_bus, reporter, peer) = ten_thousand_series();
    let handle = peer.handle();
    let text = runner.compare(
        "render_10k",
        "PrometheusHandle::render of the same 10,000 series (ours text format, exemplars stored)",
        1.2,
        Side::call(|| {
            black_box(reporter.render());
        }),
        Side::call(|| {
            black_box(handle.render());
        }),
    );
    let openmetrics = runner.compare(
        "render_10k_openmetrics",
        "PrometheusHandle::render of the same 10,000 series (ours OpenMetrics with 10,000 exemplars)",
        1.2,
        Side::call(|| {
            black_box(reporter.render_as(Format::OpenMetrics));
        }),
        Side::call(|| {
            black_box(handle.render());
        }),
    );
    text.into_iter().chain(openmetrics).collect()
}

/// Prometheus 2.x's scrape request.
const SCRAPE_REQUEST: &str = "GET /metrics HTTP/1.1\r\nHost: bench\r\nUser-Agent: Prometheus/2.42.0\r\n\
    Accept: application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1\r\n\
    Accept-Encoding: gzip\r\nX-Prometheus-Scrape-Timeout-Seconds: 10\r\n\r\n";

/// A kept-alive scraping connection: sends [`SCRAPE_REQUEST`] and reads the whole response.
struct Scraper {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Scraper {
    fn connect(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).expect("connect to the scrape target");
        stream.set_nodelay(true).expect("nodelay");
        Self {
            stream,
            buf: Vec::with_capacity(1 << 20),
        }
    }

    /// One scrape; returns (status line, body bytes).
    fn scrape(&mut self) -> (String, usize) {
        self.stream
            .write_all(SCRAPE_REQUEST.as_bytes())
            .expect("send the scrape request");
        self.buf.clear();
        let mut chunk = [0u8; 64 * 1024];
        let head_end = loop {
            if let Some(at) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            let n = self.stream.read(&mut chunk).expect("read the response");
            assert!(n > 0, "the server closed the connection");
            self.buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&self.buf[..head_end]).to_lowercase();
        let length = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok());
        let length = match length {
            Some(length) => {
                while self.buf.len() < head_end + length {
                    self.read_more(&mut chunk);
                }
                length
            }
            // A streamed page (`Transfer-Encoding: chunked`): read chunk by chunk to the last.
            None => self.read_chunked(head_end, &mut chunk),
        };
        (head.lines().next().unwrap_or("").to_owned(), length)
    }

    fn read_more(&mut self, chunk: &mut [u8]) {
        let n = self.stream.read(chunk).expect("read the body");
        assert!(n > 0, "the server closed the connection inside the body");
        self.buf.extend_from_slice(&chunk[..n]);
    }

    /// Reads a chunked body starting at `at`; returns its decoded length.
    fn read_chunked(&mut self, mut at: usize, chunk: &mut [u8]) -> usize {
        let mut length = 0;
        loop {
            let line_end = loop {
                if let Some(i) = self.buf[at..].windows(2).position(|w| w == b"\r\n") {
                    break at + i;
                }
                self.read_more(chunk);
            };
            let size = std::str::from_utf8(&self.buf[at..line_end])
                .ok()
                .and_then(|s| usize::from_str_radix(s.trim(), 16).ok())
                .expect("a chunk size");
            at = line_end + 2;
            while self.buf.len() < at + size + 2 {
                self.read_more(chunk);
            }
            at += size + 2;
            length += size;
            if size == 0 {
                return length;
            }
        }
    }
}

fn scrape_10k_gzip(runner: &Rounds) -> Option<Row> {
    if !runner.selects("scrape_10k_gzip") {
        return None;
    }
    let (_bus, reporter, peer) = ten_thousand_series();
    let server = reporter
        .serve(ServerConfig::at("127.0.0.1:0"))
        .expect("start our /metrics");
    // The peer: the exporter's own listener, on a current-thread runtime thread of its own too.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let peer_addr = listener.local_addr().expect("its address");
    drop(listener);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("the peer's runtime");
    let (peer_recorder, exporter) = {
        // `build` spawns the exporter's upkeep task on the current runtime.
        let _entered = runtime.enter();
        PrometheusBuilder::new()
            .with_http_listener(peer_addr)
            .build()
            .expect("build the peer's listener")
    };
    let peer_handle = peer_recorder.handle();
    let metadata = metrics::Metadata::new(module_path!(), metrics::Level::INFO, None);
    for i in 0..SERIES {
        let key = metrics::Key::from_parts(
            "bench_series_total",
            vec![metrics::Label::new(
                "gen_ai_request_model",
                format!("model-{i:05}"),
            )],
        );
        metrics::Recorder::register_counter(&peer_recorder, &key, &metadata).increment(1);
    }
    drop(peer);
    std::thread::spawn(move || {
        let _ = runtime.block_on(exporter);
    });
    let mut ours = Scraper::connect(server.local_addr());
    let mut theirs = loop {
        match TcpStream::connect(peer_addr) {
            Ok(_) => break Scraper::connect(peer_addr),
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(20)),
        }
    };
    let (status, our_bytes) = ours.scrape();
    assert!(status.contains(" 200 "), "{status}");
    let (status, peer_bytes) = theirs.scrape();
    assert!(status.contains(" 200 "), "{status}");
    assert_eq!(peer_handle.render().len(), peer_bytes);
    println!(
        "\nscrape_10k_gzip: our body {our_bytes} bytes (OpenMetrics with 10,000 exemplars, gzip), peer body {peer_bytes} bytes (text)"
    );
    runner.compare(
        "scrape_10k_gzip",
        "metrics-exporter-prometheus http-listener, same 10,000 series, same Prometheus request (it answers plain text)",
        1.0,
        Side::call(|| {
            black_box(ours.scrape());
        }),
        Side::call(|| {
            black_box(theirs.scrape());
        }),
    )
}

/// `VmRSS` and `VmHWM` of this process, in kB.
fn rss_kb() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn cardinality_attack() {
    const EVENTS: usize = 1_000_000;
    // Reset the peak (VmHWM) to the current RSS, so the peak measures this attack only.
    let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    let (rss_before, _) = rss_kb();
    let bus = Bus::new();
    let reporter = PrometheusReporter::builder()
        .metrics(defaults::llm_metrics())
        .unwrap()
        .attach(&bus)
        .unwrap();
    let mut model = String::with_capacity(32);
    let start = Instant::now();
    for i in 0..EVENTS {
        use std::fmt::Write;
        model.clear();
        let _ = write!(model, "attack-model-{i}");
        bus.execute(
            &catalog::LLM_CHAT_STOP,
            &[
                (keys::DURATION, 2.0e8),
                (keys::INPUT_TOKENS, 100.0),
                (keys::OUTPUT_TOKENS, 20.0),
            ],
            &[
                (keys::PROVIDER, Value::Str("openai")),
                (keys::MODEL, Value::Str(&model)),
            ],
        );
    }
    let elapsed = start.elapsed();
    let text = reporter.render();
    let (rss_after, peak) = rss_kb();
    let cap = DEFAULT_MAX_SERIES;
    let metrics: Vec<serde_json::Value> = reporter
        .cardinality()
        .iter()
        .map(|s| {
            let exported = s.series + usize::from(s.overflowed);
            serde_json::json!({
                "metric": s.metric,
                "series": s.series,
                "overflow_series": s.overflowed,
                "overflow_events": s.overflow_events,
                "exported_series": exported,
                "within_cap_plus_one": exported <= s.max_series + 1,
            })
        })
        .collect();
    let rendered_requests = text
        .lines()
        .filter(|l| l.starts_with("llm_requests_total{"))
        .count();
    let all_within =
        metrics.iter().all(|m| m["within_cap_plus_one"] == true) && rendered_requests <= cap + 1;
    let growth_mb = peak.saturating_sub(rss_before) as f64 / 1024.0;
    let report = serde_json::json!({
        "events": EVENTS,
        "distinct_model_names": EVENTS,
        "cap": cap,
        "metrics": metrics,
        "rendered_llm_requests_total_series": rendered_requests,
        "series_within_cap_plus_one": all_within,
        "rss_before_kb": rss_before,
        "rss_after_kb": rss_after,
        "peak_rss_kb": peak,
        "peak_reset_via_clear_refs": reset,
        "peak_rss_growth_mb": growth_mb,
        "target_mb": 50.0,
        "meets_target": all_within && growth_mb <= 50.0,
        "ns_per_event": elapsed.as_nanos() as f64 / EVENTS as f64,
    });
    println!(
        "\ncardinality attack: {EVENTS} distinct models, series within cap+1: {all_within}, peak RSS growth {growth_mb:.1} MB (target ≤ 50), {:.0} ns/event",
        elapsed.as_nanos() as f64 / EVENTS as f64
    );
    support::write_json("prometheus-cardinality", &report);
}

fn main() {
    let runner = Rounds::from_env();
    cardinality_attack();
    install_peer_recorder();
    let mut rows = Vec::new();
    rows.extend(chat_stop_vs_macros(&runner));
    rows.extend(chat_stop_vs_handles(&runner));
    rows.extend(render_10k(&runner));
    rows.extend(scrape_10k_gzip(&runner));
    if !runner.complete() {
        println!("not every case ran (filtered or test run): no report written");
        return;
    }
    support::write_report("prometheus", &rows);
}
