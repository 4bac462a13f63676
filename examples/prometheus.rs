//! Serving Prometheus metrics: the default LLM metric set on `/metrics`, fed by simulated traffic.
//!
//! ```text
//! cargo run --example prometheus                                   # 127.0.0.1:9568, 30 s
//! cargo run --example prometheus -- --listen 127.0.0.1:9100 --seconds 120
//! curl -s http://127.0.0.1:9568/metrics | grep ^llm_requests_total  # from another shell
//! ```
//!
//! It shows:
//! - [`PrometheusReporter`] built from [`defaults::llm_metrics`] and attached to a bus;
//! - [`PrometheusReporter::serve`]: the `/metrics` endpoint on std threads (no async runtime);
//! - a cost tracker on the same bus, so `llm_cost_usd_total{tenant}` fills in too (the reporter
//!   reads the `llm.cost.calculated` events the tracker emits);
//! - traffic from [`SimulatedBackend`] behind [`InstrumentedBackend`]: chat, streaming,
//!   embeddings, provider rate limits and failures, and a response cache;
//! - a few lines of the rendered exposition, then serving until `--seconds` have passed.
//!
//! `deploy/prometheus.yml` scrapes this address; `deploy/grafana-dashboard.json` charts it.

use std::num::NonZeroU64;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use llm_telemetry::Bus;
use llm_telemetry::instrument::{
    ChatMessage, ChatRequest, EmbedRequest, GenerateRequest, InferenceBackend, Instrumentation,
    InstrumentedBackend, LatencyProfile, SimulatedBackend, TelemetryLevel,
};
use llm_telemetry_cost::{CostTracker, PriceTable};
use llm_telemetry_prometheus::{PrometheusReporter, ServerConfig, defaults};

type Error = Box<dyn std::error::Error>;

const USAGE: &str = "\
usage: prometheus [--listen ADDRESS] [--seconds N]

Serves the default llm-telemetry metrics on http://ADDRESS/metrics (default 127.0.0.1:9568)
while simulated LLM traffic runs, for N seconds (default 30), then exits.";

/// The command line: where to listen and for how long.
struct Options {
    listen: String,
    seconds: f64,
}

fn parse_options() -> Result<Option<Options>, String> {
    let mut options = Options {
        listen: "127.0.0.1:9568".to_owned(),
        seconds: 30.0,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) => (flag.to_owned(), Some(value.to_owned())),
            None => (arg, None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or(format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--listen" => options.listen = value()?,
            "--seconds" => {
                let text = value()?;
                options.seconds = text
                    .parse()
                    .ok()
                    .filter(|s: &f64| s.is_finite() && *s >= 0.0)
                    .ok_or(format!(
                        "--seconds expects a number of seconds >= 0, got {text:?}"
                    ))?;
            }
            "-h" | "--help" => return Ok(None),
            other => return Err(format!("unknown option {other:?}")),
        }
    }
    Ok(Some(options))
}

fn main() {
    match parse_options() {
        Ok(Some(options)) => {
            if let Err(e) = run(&options) {
                eprintln!("prometheus: {e}");
                std::process::exit(1);
            }
        }
        Ok(None) => println!("{USAGE}"),
        Err(message) => {
            eprintln!("prometheus: {message}\n\n{USAGE}");
            std::process::exit(2);
        }
    }
}

fn run(options: &Options) -> Result<(), Error> {
    let bus = Bus::new();

    // The reporter: metric definitions as data, one bus handler per group of event patterns.
    let reporter = PrometheusReporter::builder()
        .metrics(defaults::llm_metrics())?
        .attach(&bus)?;
    // Cost from the built-in price table: emits `llm.cost.calculated`, which the reporter sums.
    let cost = CostTracker::builder()
        .prices(PriceTable::builtin())
        .attach(&bus)?;

    let server = reporter.serve(ServerConfig::at(options.listen.clone()))?;
    println!("serving {}", server.url());

    // Traffic on a background thread until we stop it.
    let stop = Arc::new(AtomicBool::new(false));
    let traffic = {
        let telemetry = Instrumentation::new(&bus, TelemetryLevel::Basic);
        let stop = Arc::clone(&stop);
        std::thread::Builder::new()
            .name("traffic".into())
            .spawn(move || Traffic::new(telemetry).run(&stop))?
    };

    // Give the traffic a moment, then show part of what a scrape returns.
    std::thread::sleep(Duration::from_millis(1500));
    bus.drain(Duration::from_secs(5));
    print_sample(&reporter.render());

    let deadline = Instant::now() + Duration::from_secs_f64(options.seconds);
    if options.seconds > 0.0 {
        println!(
            "\nserving for {:.0} s more: curl -s {}",
            options.seconds,
            server.url()
        );
    }
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }

    stop.store(true, Ordering::SeqCst);
    let requests = traffic.join().map_err(|_| "the traffic thread panicked")?;
    server.stop();
    // Every handle detaches by a deadline (queued events delivered first); its stats stay.
    cost.detach(Duration::from_secs(5))?;
    reporter.detach(Duration::from_secs(5))?;
    let stats = reporter.stats();
    println!(
        "done: {requests} simulated requests, ${} of simulated spend, {} series, {} events dropped",
        cost.total(),
        stats.series,
        stats.dropped + cost.stats().queue_dropped,
    );
    Ok(())
}

/// Prints the first series of a few default metrics from a rendered exposition.
fn print_sample(exposition: &str) {
    let lines = exposition.lines().count();
    println!("\n{lines} lines in the exposition; a few of them:");
    let wanted = [
        "llm_requests_total{",
        "gen_ai_client_operation_duration_seconds_count{",
        "gen_ai_client_token_usage_sum{",
        "gen_ai_client_operation_time_to_first_chunk_seconds_count{",
        "llm_cache_hits_total{",
        "llm_cost_usd_total{",
        "llm_provider_rate_limits_total{",
        "llm_telemetry_handler_events_total{",
    ];
    for prefix in wanted {
        if let Some(line) = exposition.lines().find(|l| l.starts_with(prefix)) {
            println!("  {line}");
        }
    }
}

/// Simulated clients of two providers, with a tiny response cache.
struct Traffic {
    telemetry: Instrumentation,
    openai: InstrumentedBackend<SimulatedBackend>,
    anthropic: InstrumentedBackend<SimulatedBackend>,
}

impl Traffic {
    fn new(telemetry: Instrumentation) -> Self {
        let backend = |provider: &str, rate_limit_every: u64, fail_every: u64| {
            let simulated = SimulatedBackend::new(provider)
                // A tenth of a hosted 8B-class model's latency: a fast demo.
                .with_latency(LatencyProfile::realistic().scaled(0.1))
                .rate_limit_every(NonZeroU64::new(rate_limit_every).unwrap_or(NonZeroU64::MIN))
                .fail_every(NonZeroU64::new(fail_every).unwrap_or(NonZeroU64::MIN));
            InstrumentedBackend::new(simulated, telemetry.clone())
        };
        Self {
            openai: backend("openai", 17, 23),
            anthropic: backend("anthropic", 29, 19),
            telemetry,
        }
    }

    /// Issues requests until `stop` is set; returns how many.
    fn run(&self, stop: &AtomicBool) -> u64 {
        const QUESTIONS: [&str; 4] = [
            "What is the capital of France?",
            "Summarise this ticket in one line.",
            "Translate 'thank you' into German.",
            "Name three vector databases.",
        ];
        let cache = self.telemetry.cache("responses");
        let mut cached: Vec<&str> = Vec::new();
        let mut n: u64 = 0;
        while !stop.load(Ordering::Relaxed) {
            let tenant = ["acme", "globex"][(n % 2) as usize];
            let question = QUESTIONS[(n % 4) as usize];
            let (backend, model) = match n % 3 {
                0 => (&self.anthropic, "claude-haiku-4-5"),
                1 => (&self.openai, "gpt-4o"),
                _ => (&self.openai, "gpt-4o-mini"),
            };
            // Failures are part of the demo: they show up as llm_errors_total and status="error".
            let _ = match n % 5 {
                0 | 1 => {
                    if cached.contains(&question) {
                        cache.hit(question, Some(64));
                        Ok(())
                    } else {
                        cache.miss(question);
                        let request = ChatRequest::new(model, vec![ChatMessage::user(question)])
                            .max_tokens(128)
                            .tenant(tenant);
                        backend.chat(&request).map(|_| {
                            if cached.len() == 2 {
                                let old = cached.remove(0);
                                cache.evicted(old, Some(64));
                            }
                            cache.put(question, Some(64));
                            cached.push(question);
                        })
                    }
                }
                2 | 3 => {
                    let request = GenerateRequest::new(model, question)
                        .max_tokens(48)
                        .streaming(true)
                        .tenant(tenant);
                    // Reading the stream to its end emits the first-token event and the stop.
                    backend.stream(&request).map(|stream| stream.for_each(drop))
                }
                _ => {
                    let request = EmbedRequest::new("text-embedding-3-small", [question])
                        .query(true)
                        .tenant(tenant);
                    self.openai.embed(&request).map(drop)
                }
            };
            n += 1;
        }
        n
    }
}
