//! The service's other commands: building the configuration every command shares (environment,
//! `--set`, the seeds' flags), `inspect` (read a running service's `/inspect`) and
//! `test-trace` (emit one trace and say where it went).

use std::net::SocketAddr;
use std::time::Duration;

use llm_telemetry::catalog::{self, keys};
use llm_telemetry::config::TracingExporter;
use llm_telemetry::{Bus, Config, Value, inspect};

use crate::cli::Options;

type Error = Box<dyn std::error::Error>;

/// How long `inspect` waits for the service, and `test-trace` for the export.
const WAIT: Duration = Duration::from_secs(5);

/// The configuration the command line and the environment give, its warnings printed.
pub fn config(options: &Options) -> Result<Config, Error> {
    let mut builder = Config::builder().process_env();
    for (alias, value) in &options.seed_flags {
        builder = builder.seed_flag(alias, value.clone());
    }
    let (config, warnings) = builder
        .set_all(options.sets.iter().map(String::as_str))
        .build_with_warnings()?;
    for warning in &warnings {
        eprintln!("inference_service: warning: {warning}");
    }
    Ok(config)
}

/// `inspect`: prints the document of the service whose `/metrics` listens at `url` (default:
/// this configuration's `metrics.listen`).
pub fn inspect(options: &Options, json: bool, url: Option<&str>) -> Result<(), Error> {
    let addr: SocketAddr = match url {
        Some(text) => {
            let text = text
                .trim_start_matches("http://")
                .trim_end_matches('/')
                .trim_end_matches("/metrics")
                .trim_end_matches("/inspect");
            text.parse().map_err(|_| {
                format!("--url expects HOST:PORT of the service's /metrics (e.g. 127.0.0.1:9568), got {text:?}")
            })?
        }
        None => config(options)?.metrics.listen,
    };
    let document = inspect::fetch(addr, WAIT)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&document)?);
    } else {
        print!("{}", inspect::render_text(&document));
    }
    Ok(())
}

/// `test-trace`: one request span with a chat span inside, exported with this configuration;
/// prints the trace id and where it went. Fails when spans are not exported or the export
/// failed.
pub fn test_trace(options: &Options) -> Result<(), Error> {
    let mut config = config(options)?;
    // Not the running service's port, and no log lines: only the trace and its report.
    config.metrics.enabled = false;
    config.log.enabled = false;
    config.cost.enabled = false;
    // A test trace is never sampled out.
    config.tracing.sample_rate = 1.0;
    let Some(_) = config.otel_builder() else {
        return Err(
            "spans are not exported with this configuration (tracing.enabled is false, \
                    the level is disabled, or no endpoint is set): set tracing.endpoint, \
                    OTEL_EXPORTER_OTLP_ENDPOINT, PHOENIX_COLLECTOR_ENDPOINT or --otlp-endpoint"
                .into(),
        );
    };
    let bus = Bus::new();
    let mut telemetry = config.attach(&bus)?;
    let mut trace_id = None;
    bus.span(
        &catalog::LLM_REQUEST,
        &[(keys::OPERATION, Value::Str("test_trace"))],
        |request| {
            trace_id = request.context().map(|c| c.trace_id);
            bus.span(
                &catalog::LLM_CHAT,
                &[
                    (keys::PROVIDER, Value::Str("test")),
                    (keys::MODEL, Value::Str("test-trace")),
                ],
                |_| {},
            );
        },
    );
    let otel = telemetry
        .otel()
        .ok_or("the OpenTelemetry handler did not attach")?;
    let flushed = otel.force_flush(WAIT);
    let stats = otel.stats();
    let t = &config.tracing;
    let place = match t.exporter {
        TracingExporter::Console => "standard output (console exporter)".to_owned(),
        _ => format!(
            "{} ({}), service {}",
            t.endpoint.as_deref().unwrap_or("-"),
            llm_telemetry::config::Key::TracingProtocol
                .value_in(&config)
                .unwrap_or_default(),
            t.service_name
        ),
    };
    let trace = trace_id.map_or_else(|| "-".to_owned(), |id| id.to_string());
    let report = telemetry.shutdown(WAIT);
    if stats.exported >= 2 && flushed {
        println!(
            "trace {trace}: {} spans exported to {place}",
            stats.exported
        );
        Ok(())
    } else {
        let reason = stats
            .last_export_error
            .unwrap_or_else(|| format!("the export did not finish within {WAIT:?}: {report}"));
        Err(format!("trace {trace}: not exported to {place}: {reason}").into())
    }
}
