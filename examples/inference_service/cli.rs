//! Command-line options of the inference service: `--seconds N`, `--workers N`, and
//! `--set key=value` configuration overrides (the same keys as the TOML file and the
//! `LLM_TELEMETRY_*` environment variables).

use std::time::Duration;

use llm_telemetry::config::{Alias, AliasKind};

/// Which command: run the service (the default), inspect a running one, or send a test trace.
#[derive(Debug, Default, PartialEq, Eq)]
pub enum Command {
    /// Run the simulated service.
    #[default]
    Run,
    /// `inspect [--json] [--url HOST:PORT]`: print a running service's handlers, metrics,
    /// exporter and configuration (from its `/inspect`, beside `/metrics`).
    Inspect {
        /// Print the JSON document instead of text.
        json: bool,
        /// Where the running service's `/metrics` listens (default: `metrics.listen`).
        url: Option<String>,
    },
    /// `test-trace`: emit one trace with this configuration, print its id and where it went.
    TestTrace,
}

/// What the command line asked for.
#[derive(Debug, Default)]
pub struct Options {
    /// The command (first argument `inspect` or `test-trace`; otherwise run).
    pub command: Command,
    /// Stop after this long (flush, print the summary, exit 0); `None` runs until Ctrl-C.
    pub seconds: Option<Duration>,
    /// Concurrent request loops.
    pub workers: usize,
    /// Simulated model latency relative to a hosted 8B-class model (1.0); default 0.1.
    pub latency_scale: f64,
    /// `key=value` configuration overrides, highest precedence.
    pub sets: Vec<String>,
    /// `--serve ADDR`: also serve the OpenAI-compatible API there (the workload then defaults
    /// to no workers unless `--workers` is given).
    pub serve: Option<std::net::SocketAddr>,
    /// The seeds' flags (`--tracing`, `--otlp-endpoint`, `--metrics-port`, `--log-format`:
    /// [`llm_telemetry::config::Alias`]) with their values, below `--set` for the same key.
    pub seed_flags: Vec<(&'static Alias, String)>,
}

/// Why the command line was rejected.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// An option needs a value that was not given.
    #[error("{0} needs a value")]
    MissingValue(&'static str),
    /// A value did not parse.
    #[error("{option} expects {expected}, got {value:?}")]
    BadValue {
        /// The option.
        option: &'static str,
        /// What it accepts.
        expected: &'static str,
        /// What was given.
        value: String,
    },
    /// An option that does not exist.
    #[error("unknown option {0:?}; try --help")]
    Unknown(String),
    /// `--help` was asked for.
    #[error("help requested")]
    Help,
}

/// The usage text.
pub const USAGE: &str = "\
usage: inference_service [--seconds N] [--workers N] [--latency-scale X] [--serve ADDR] [--set key=value]...
                         [--tracing] [--otlp-endpoint URL] [--metrics-port N] [--log-format F]
       inference_service inspect [--json] [--url HOST:PORT] [--set key=value]...
       inference_service test-trace [--set key=value]... [--otlp-endpoint URL]

Runs a simulated LLM service (chat, generate, embed, streaming, hybrid search; two tenants,
a response cache, provider rate limits and failures) instrumented with llm-telemetry:
console log on stderr, Prometheus /metrics (default 127.0.0.1:9568), cost with a budget that
gets crossed, and OTLP traces when OTEL_EXPORTER_OTLP_ENDPOINT or PHOENIX_COLLECTOR_ENDPOINT
is set. Without --seconds it runs until Ctrl-C. --workers defaults to 8; --latency-scale
(default 0.1) multiplies the simulated model latency (1.0 = a hosted 8B-class model). Configuration keys: see the README
(e.g. --set log.format=json --set metrics.listen=127.0.0.1:9100 --set level=basic).
--serve ADDR (e.g. 127.0.0.1:8080, port 0 picks one) also serves an OpenAI-compatible API there:
POST /v1/chat/completions (stream: true as server-sent events), POST /v1/embeddings,
GET /v1/models; with --serve the self-driving workload runs only when --workers is given.

inspect prints a running service's handlers (delivery counts, queues), each metric's cardinality
and overflow, the span exporter's state and the configuration in force, read from its /inspect
beside /metrics (--json for the document); test-trace emits one trace and prints its id and where
it went. TinyLLM's flags are aliases: --tracing (tracing.enabled), --otlp-endpoint (tracing.endpoint),
--metrics-port (the port of metrics.listen), --log-format (log.format); --set wins over them.

--backend mlx serves the workload from real MLX models instead: --model DIR (a Llama-family
generation model) and/or --embed-model DIR (a BERT embedding model); see the README. They are the
command-line forms of inference.backend, inference.model and inference.embed_model.";

/// Parses `args` (without the program name).
pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Options, CliError> {
    let mut options = Options {
        workers: 8,
        latency_scale: 0.1,
        ..Options::default()
    };
    let mut args = args.into_iter().peekable();
    match args.peek().map(String::as_str) {
        Some("inspect") => {
            options.command = Command::Inspect {
                json: false,
                url: None,
            };
            args.next();
        }
        Some("test-trace") => {
            options.command = Command::TestTrace;
            args.next();
        }
        _ => {}
    }
    let mut workers_given = false;
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") && f != "--set" => {
                (f.to_owned(), Some(v.to_owned()))
            }
            _ => (arg.clone(), None),
        };
        let mut value = |name: &'static str| {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or(CliError::MissingValue(name))
        };
        match flag.as_str() {
            "--seconds" => {
                let v = value("--seconds")?;
                let secs: f64 = v
                    .parse()
                    .ok()
                    .filter(|s: &f64| s.is_finite() && *s > 0.0)
                    .ok_or(CliError::BadValue {
                        option: "--seconds",
                        expected: "a positive number of seconds",
                        value: v,
                    })?;
                options.seconds = Some(Duration::from_secs_f64(secs));
            }
            "--workers" => {
                workers_given = true;
                let v = value("--workers")?;
                options.workers =
                    v.parse()
                        .ok()
                        .filter(|w| (1..=256).contains(w))
                        .ok_or(CliError::BadValue {
                            option: "--workers",
                            expected: "a whole number from 1 to 256",
                            value: v,
                        })?;
            }
            "--latency-scale" => {
                let v = value("--latency-scale")?;
                options.latency_scale = v
                    .parse()
                    .ok()
                    .filter(|s: &f64| s.is_finite() && (0.0..=100.0).contains(s))
                    .ok_or(CliError::BadValue {
                        option: "--latency-scale",
                        expected: "a number from 0 to 100",
                        value: v,
                    })?;
            }
            "--set" => options.sets.push(value("--set")?),
            "--serve" => {
                let v = value("--serve")?;
                options.serve = Some(v.parse().map_err(|_| CliError::BadValue {
                    option: "--serve",
                    expected: "an address such as 127.0.0.1:8080",
                    value: v,
                })?);
            }
            "--json" if matches!(options.command, Command::Inspect { .. }) => {
                if let Command::Inspect { json, .. } = &mut options.command {
                    *json = true;
                }
            }
            "--url" if matches!(options.command, Command::Inspect { .. }) => {
                let v = value("--url")?;
                if let Command::Inspect { url, .. } = &mut options.command {
                    *url = Some(v);
                }
            }
            seed if Alias::find(AliasKind::Flag, seed).is_some() => {
                // Just matched by the guard.
                let Some(alias) = Alias::find(AliasKind::Flag, seed) else {
                    return Err(CliError::Unknown(seed.to_owned()));
                };
                let value = match (alias.takes_value(), inline.clone()) {
                    (_, Some(v)) => v,
                    (true, None) => value(alias.name)?,
                    (false, None) => String::new(),
                };
                options.seed_flags.push((alias, value));
            }
            // The inference keys' command-line forms, at `--set`'s precedence (the later wins).
            "--backend" => options
                .sets
                .push(format!("inference.backend={}", value("--backend")?)),
            "--model" => options
                .sets
                .push(format!("inference.model={}", value("--model")?)),
            "--embed-model" => options
                .sets
                .push(format!("inference.embed_model={}", value("--embed-model")?)),
            "-h" | "--help" => return Err(CliError::Help),
            other => return Err(CliError::Unknown(other.to_owned())),
        }
    }
    if options.serve.is_some() && !workers_given {
        options.workers = 0;
    }
    Ok(options)
}
