//! The main job: a simulated LLM inference service, instrumented with llm-telemetry and every
//! handler attached, on embedded defaults with no external server.
//!
//! ```text
//! cargo run --release --example inference_service              # until Ctrl-C
//! cargo run --release --example inference_service -- --seconds 30
//! OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:6006 cargo run --release --example inference_service
//! ```
//!
//! - console log on stderr (info, sampled; `--set log.format=json` for JSON lines);
//! - Prometheus `/metrics` on 127.0.0.1:9568 (`--set metrics.listen=…`);
//! - cost from the built-in price table, with a per-tenant daily budget that gets crossed;
//! - OTLP traces when `OTEL_EXPORTER_OTLP_ENDPOINT` or `PHOENIX_COLLECTOR_ENDPOINT` is set, one
//!   Phoenix project per tenant;
//! - a live progress line on stdout, and a summary table at the end.
//!
//! `--backend mlx --model DIR [--embed-model DIR]` serves the workload from real MLX models
//! instead of the simulated providers (`mlx_workload.rs`; see the README for a model directory).

mod cli;
mod commands;
#[cfg(any(all(feature = "mlx", target_os = "macos"), feature = "mlx-system"))]
mod mlx_workload;
mod report;
mod serve;
mod service;
mod workload;

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use llm_telemetry::catalog::{self, keys};
use llm_telemetry::cost::{Budget, Usd, Window};
use llm_telemetry::{Bus, Config, DEFAULT_SHUTDOWN_TIMEOUT, Telemetry};

use report::{Operation, Report};

/// Each tenant's daily budget: small, so that the demo crosses it within seconds.
const TENANT_DAILY_BUDGET: &str = "0.05";
type Error = Box<dyn std::error::Error>;

struct Handlers {
    /// Sum and count of the `cost_usd` of every `llm.cost.calculated` event, to reconcile with
    /// the cost tracker's exact totals.
    cost_events: Arc<Mutex<(u64, f64)>>,
    /// Every handler the configuration enabled.
    telemetry: Telemetry,
}

fn main() {
    let options = match cli::parse(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(cli::CliError::Help) => {
            println!("{}", cli::USAGE);
            return;
        }
        Err(e) => {
            eprintln!("inference_service: {e}\n\n{}", cli::USAGE);
            std::process::exit(2);
        }
    };
    let result = match &options.command {
        cli::Command::Run => run(options),
        cli::Command::Inspect { json, url } => commands::inspect(&options, *json, url.as_deref()),
        cli::Command::TestTrace => commands::test_trace(&options),
    };
    if let Err(e) = result {
        eprintln!("inference_service: {e}");
        std::process::exit(1);
    }
}

fn run(options: cli::Options) -> Result<(), Error> {
    let config = commands::config(&options)?;
    let bus = Bus::new();
    let mut handlers = attach_handlers(&bus, &config)?;
    let telemetry = handlers.telemetry.instrumentation();
    let server = match options.serve {
        Some(addr) => Some(serve_api(addr, &telemetry, &config, &options)?),
        None => None,
    };

    let report = Arc::new(Report::default());
    // No workers (`--serve` alone): no workload, so its models are not loaded a second time.
    let workload = match options.workers {
        0 => None,
        _ => Some(Arc::new(service::Service::new(
            &config.inference,
            &options,
            telemetry,
            report.clone(),
        )?)),
    };
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        ctrlc::set_handler(move || stop.store(true, Ordering::SeqCst))?;
    }
    let started = Instant::now();
    let mut workers = Vec::new();
    if let Some(workload) = &workload {
        for worker in 0..options.workers {
            let workload = Arc::clone(workload);
            let stop = stop.clone();
            workers.push(
                std::thread::Builder::new()
                    .name(format!("worker-{worker}"))
                    .spawn(move || workload.run(worker, &stop))?,
            );
        }
    }

    let tty = std::io::stdout().is_terminal();
    let mut last_line = Instant::now();
    while !stop.load(Ordering::SeqCst) {
        if options
            .seconds
            .is_some_and(|limit| started.elapsed() >= limit)
        {
            stop.store(true, Ordering::SeqCst);
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        if tty || last_line.elapsed() >= Duration::from_secs(1) {
            print_progress(&bus, &handlers, &report, started, tty);
            last_line = Instant::now();
        }
    }
    for worker in workers {
        let _ = worker.join();
    }
    if let Some(server) = server {
        server.stop();
    }
    // The run's own time: throughput is divided by this, not by the time the shutdown took.
    let ran = started.elapsed();
    if tty {
        println!();
    }
    let stopping = Instant::now();
    let shutdown = handlers.telemetry.shutdown(DEFAULT_SHUTDOWN_TIMEOUT);
    let stopped = stopping.elapsed();
    if !shutdown.is_complete() {
        eprintln!("inference_service: telemetry shutdown: {shutdown}");
    }
    print_summary(
        &bus,
        &handlers,
        &report,
        Timing { ran, stopped },
        shutdown.is_complete(),
    );
    Ok(())
}

/// Starts the OpenAI-compatible API on `addr` over the configured backend (`[inference]`:
/// simulated or MLX) and says where on stdout (`serving the OpenAI-compatible API at http://ADDR/v1`).
fn serve_api(
    addr: std::net::SocketAddr,
    telemetry: &llm_telemetry::instrument::Instrumentation,
    config: &Config,
    options: &cli::Options,
) -> Result<serve::Server, Error> {
    use llm_telemetry::config::InferenceBackendKind;
    let server = match config.inference.backend {
        InferenceBackendKind::Simulated => {
            use llm_telemetry::instrument::{LatencyProfile, SimulatedBackend};
            let backend = SimulatedBackend::new("openai")
                .with_latency(LatencyProfile::realistic().scaled(options.latency_scale));
            serve::start(
                addr,
                backend,
                telemetry.clone(),
                serve::ServeOptions::default(),
            )?
        }
        InferenceBackendKind::Mlx => service::serve_mlx(addr, telemetry, &config.inference)?,
    };
    println!(
        "serving the OpenAI-compatible API at http://{}/v1",
        server.addr()
    );
    std::io::stdout().flush()?;
    Ok(server)
}

fn attach_handlers(bus: &Bus, config: &Config) -> Result<Handlers, Error> {
    // The demo's own budgets when none is configured: small, so that both tenants cross them
    // within seconds.
    let demo_budgets = config.cost.budget_usd.is_none() && config.cost.tenant_budgets.is_empty();
    let threshold = Usd::parse_decimal(TENANT_DAILY_BUDGET)?;
    let telemetry = config
        .telemetry()
        .log(|log| log.max_lines_per_second(50).environment("demo"))
        .cost(move |mut cost| {
            if demo_budgets {
                for tenant in workload::TENANTS {
                    cost = cost.budget(Budget::tenant(tenant, Window::Day, threshold));
                }
            }
            cost
        })
        .attach(bus)?;
    let cost_events: Arc<Mutex<(u64, f64)>> = Arc::default();
    let sink = cost_events.clone();
    bus.attach(
        "cost-audit",
        catalog::LLM_COST_CALCULATED.as_str(),
        move |e| {
            let mut audit = sink.lock().unwrap_or_else(PoisonError::into_inner);
            audit.0 += 1;
            audit.1 += e.measurement(keys::COST_USD).unwrap_or(0.0);
        },
    )?;
    Ok(Handlers {
        cost_events,
        telemetry,
    })
}

/// Every drop, from the accounting the bus and the handlers expose: the bus's own (each
/// handler's lane, nesting depth) plus what the OpenTelemetry handler dropped past its lane
/// (export queue, failed exports, the shutdown deadline). Handlers stay on the bus after the
/// shutdown, so this never goes backwards.
fn dropped_events(bus: &Bus, handlers: &Handlers) -> u64 {
    let otel = handlers.telemetry.otel().map_or(0, |o| {
        let s = o.stats();
        // Its lane's drops are the bus's, counted above.
        s.dropped() - s.dropped_bus_queue
    });
    bus.stats().total_dropped() + otel
}

fn print_progress(bus: &Bus, handlers: &Handlers, report: &Report, started: Instant, tty: bool) {
    let (requests, failed) = report.totals();
    let cost = handlers
        .telemetry
        .cost()
        .map_or(0.0, |c| c.total().as_f64());
    let line = format!(
        "[{:>6.1}s] requests {requests:>6}  errors {failed:>4}  output tokens {:>8}  cost ${cost:>8.4}  dropped events {}",
        started.elapsed().as_secs_f64(),
        report.output_tokens(),
        dropped_events(bus, handlers),
    );
    let mut out = std::io::stdout().lock();
    let _ = if tty {
        write!(out, "\r{line}")
    } else {
        writeln!(out, "{line}")
    };
    let _ = out.flush();
}

/// How long the workload ran (until its workers were joined) and how long the telemetry took to
/// shut down after it.
struct Timing {
    ran: Duration,
    stopped: Duration,
}

fn print_summary(bus: &Bus, handlers: &Handlers, report: &Report, timing: Timing, flushed: bool) {
    let elapsed = timing.ran;
    let (requests, failed) = report.totals();
    let ms = |d: Option<Duration>| {
        d.map_or("-".to_owned(), |d| {
            format!("{:.1} ms", d.as_secs_f64() * 1e3)
        })
    };
    println!(
        "\n=== inference_service summary ({:.1} s run, telemetry shut down in {:.2} s) ===",
        elapsed.as_secs_f64(),
        timing.stopped.as_secs_f64()
    );
    println!("{:<16} {:>9} {:>9}", "operation", "ok", "failed");
    for op in Operation::ALL {
        let (ok, bad) = report.counts(op);
        println!("{:<16} {ok:>9} {bad:>9}", op.name());
    }
    println!("{:<16} {:>9} {failed:>9}", "all", requests - failed);
    println!(
        "latency p50 {}  p95 {}  throughput {:.1} req/s  output tokens {} ({:.0} tokens/s)",
        ms(report.latency_quantile(0.50)),
        ms(report.latency_quantile(0.95)),
        requests as f64 / elapsed.as_secs_f64(),
        report.output_tokens(),
        report.output_tokens() as f64 / elapsed.as_secs_f64(),
    );
    if let Some(cost) = handlers.telemetry.cost() {
        println!("\n{:<10} {:>12}", "tenant", "cost (USD)");
        for tenant in workload::TENANTS {
            println!("{tenant:<10} {:>12}", cost.tenant_total(tenant));
        }
        println!("{:<10} {:>12}", "total", cost.total());
        for status in cost.budgets() {
            println!(
                "budget of {} per {}: ${} of ${} spent in {}{}",
                status.budget.scope,
                status.budget.window.as_str(),
                status.spent,
                status.budget.threshold,
                status.period,
                if status.exceeded {
                    "  (crossed: llm.cost.threshold_exceeded emitted)"
                } else {
                    ""
                }
            );
        }
        let stats = cost.stats();
        println!(
            "priced calls {}  unpriced {}  rejected {}",
            stats.priced, stats.unpriced, stats.rejected
        );
        let (events, sum) = *handlers
            .cost_events
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        println!(
            "cost events {events}  sum of cost_usd {sum:.12}  tracker total {:.12}",
            cost.total().as_f64()
        );
    }
    let stats = bus.stats();
    println!(
        "\n{:<44} {:>10} {:>9} {:>7}",
        "handler", "delivered", "dropped", "failed"
    );
    for h in &stats.handlers {
        let id: String = if h.id.chars().count() > 44 {
            h.id.chars().take(41).chain("...".chars()).collect()
        } else {
            h.id.clone()
        };
        println!(
            "{id:<44} {:>10} {:>9} {:>7}",
            h.delivered, h.dropped, h.failed
        );
    }
    if let Some(otel) = handlers.telemetry.otel() {
        let s = otel.stats();
        println!(
            "spans exported {}  sampled out {}  failed exports {}",
            s.exported, s.sampled_out, s.failed_exports
        );
        println!("spans dropped {}", s.dropped());
    }
    if let Some(logger) = handlers.telemetry.logger() {
        let s = logger.stats();
        println!(
            "log lines {}  sampled out {}  rate limited {}  redactions {}",
            s.lines, s.sampled_out, s.rate_limited, s.redactions
        );
    }
    println!(
        "dropped events {}  (telemetry shut down cleanly: {flushed})",
        dropped_events(bus, handlers)
    );
    if let Some(url) = handlers.telemetry.metrics_url() {
        println!("metrics were served at {url}");
    }
}
