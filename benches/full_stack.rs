//! `cargo bench --bench full_stack`: what one LLM request's telemetry costs the thread serving it,
//! every handler attached, against the same telemetry built the way a Rust user would today.
//! Written to `target/bench/full_stack.json` (rows) and `target/bench/full_stack-extra.json`
//! (no target: the same request from 2 threads at once, and both sides without their logs, which
//! shows how much of the margin is the peer's JSON formatter).
//!
//! | case | ours | peer | target |
//! |---|---|---|---|
//! | chat_request_no_handlers | an `llm.request` span holding an `llm.chat` span (provider, model, tenant, token counts, a 200-character prompt and response) through [`Instrumentation`] at `detailed`, nothing attached | the same request in `tracing` spans and `metrics` macros with the user's cost code, no subscriber and no recorder | ≤ 1.0 |
//! | chat_request_all_handlers | the same request with the default Prometheus metric set, the cost tracker, the OTel handler (batch, no-op exporter) and the JSON log handler (into `io::sink()`) attached | `tracing` spans with `tracing-opentelemetry` (SDK batch processor, no-op exporter), `metrics` macros on a `metrics-exporter-prometheus` recorder, the cost computed by the user's code, `tracing-subscriber`'s JSON formatter into `io::sink()` | ≤ 0.3 |
//!
//! Both sides run in chunks of [`CHUNK`] requests; between chunks, untimed, each side's
//! background work is drained (our queued lanes, the SDK batch processor), so the figure is what
//! the serving thread pays while the telemetry keeps up and no measured request is a cheap drop.
//! Both sides make the model's answer a fresh `String` (the model call), so the request body
//! costs the same on both sides.
//!
//! The no-handler case runs first: once a scoped `tracing` dispatcher has existed, every
//! `tracing` callsite pays a thread-local check, which would flatter us.

use std::convert::Infallible;
use std::hint::black_box;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use llm_telemetry::catalog::keys;
use llm_telemetry::cost::CostTracker;
use llm_telemetry::instrument::{
    ChatMessage, ChatRequest, Completion, Instrumentation, TelemetryLevel,
};
use llm_telemetry::log::{Level, LogHandle, Logger, Sink};
use llm_telemetry::otel::OtelHandler;
use llm_telemetry::otel::otel::opentelemetry::trace::TracerProvider;
use llm_telemetry::otel::otel::opentelemetry_sdk::trace::SdkTracerProvider;
use llm_telemetry::otel::otel::{OTelSdkResult, SpanData, SpanExporter};
use llm_telemetry::prometheus::{PrometheusReporter, defaults};
use llm_telemetry::{Bus, Value};
use llm_telemetry_bench_support::{self as support, Rounds, Row, Side};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusRecorder};
use tracing::Dispatch;
use tracing::field::Empty;
use tracing_subscriber::layer::SubscriberExt;

/// Requests per timed chunk; the background work is drained between chunks.
const CHUNK: u64 = 256;
const MODEL: &str = "gpt-4o";
const PROVIDER: &str = "openai";
const TENANT: &str = "acme";
const INPUT_TOKENS: u64 = 120;
const OUTPUT_TOKENS: u64 = 42;

/// A 200-character text made of `word` repeated.
fn text_200(word: &str) -> String {
    word.chars().cycle().take(200).collect()
}

/// Counts the spans it is given and drops them; both sides' exporter.
#[derive(Clone, Debug, Default)]
struct NoopExporter(Arc<AtomicU64>);

impl SpanExporter for NoopExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        self.0.fetch_add(batch.len() as u64, Ordering::Relaxed);
        Ok(())
    }
}

/// The request as the service sees it: the model's prompt and the answer it will give.
struct Request {
    chat: ChatRequest,
    prompt: String,
    response: String,
}

impl Request {
    fn new() -> Self {
        let prompt = text_200("Summarise the attached quarterly report in three bullet points. ");
        let response = text_200("Revenue grew nine percent; costs fell; guidance is unchanged. ");
        let chat = ChatRequest::new(MODEL, vec![ChatMessage::user(prompt.clone())])
            .provider(PROVIDER)
            .tenant(TENANT);
        Self {
            chat,
            prompt,
            response,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Ours

/// Our side of one request: the typed helpers, as a service instruments its handler.
#[inline(never)]
fn our_request(telemetry: &Instrumentation, request: &Request) {
    let _ = telemetry.request("chat", &[(keys::TENANT, Value::Str(TENANT))], || {
        let completion = telemetry.chat(&request.chat, || {
            // The model call.
            Ok::<_, Infallible>(Completion::new(
                black_box(request.response.as_str()),
                INPUT_TOKENS,
                OUTPUT_TOKENS,
            ))
        });
        black_box(completion)
    });
}

/// Every handler of the stack attached to one bus (their defaults, the log into a sink and the
/// spans to a no-op exporter).
struct OurStack {
    bus: Bus,
    telemetry: Instrumentation,
    log: Option<LogHandle>,
    _metrics: PrometheusReporter,
    cost: CostTracker,
    _otel: OtelHandler,
    exported: NoopExporter,
}

impl OurStack {
    /// The whole stack; without the JSON log handler when `with_log` is false.
    fn attach(with_log: bool) -> Self {
        let bus = Bus::new();
        let log = with_log.then(|| {
            Logger::builder()
                .json()
                .level(Level::Info)
                .sink(Sink::writer(io::sink()))
                .attach(&bus)
                .expect("attach the JSON logger")
        });
        let metrics = PrometheusReporter::builder()
            .metrics(defaults::llm_metrics())
            .expect("the default metric set is valid")
            .attach(&bus)
            .expect("attach the Prometheus reporter");
        let cost = CostTracker::builder()
            .attach(&bus)
            .expect("attach the cost tracker");
        let exported = NoopExporter::default();
        let otel = OtelHandler::builder()
            .read_env(false)
            .exporter(exported.clone())
            .attach(&bus)
            .expect("attach the OTel handler");
        Self {
            telemetry: Instrumentation::new(&bus, TelemetryLevel::Detailed),
            bus,
            log,
            _metrics: metrics,
            cost,
            _otel: otel,
            exported,
        }
    }

    fn drain(&self) {
        self.bus.drain(Duration::from_secs(30));
    }

    fn log_lines(&self) -> u64 {
        self.log.as_ref().map_or(0, |log| log.stats().lines)
    }
}

/// `iters` requests in chunks, `between` (untimed) after each chunk.
fn chunked(iters: u64, mut request: impl FnMut(), between: impl Fn()) -> Duration {
    let mut timed = Duration::ZERO;
    let mut done = 0;
    while done < iters {
        let n = CHUNK.min(iters - done);
        let start = Instant::now();
        for _ in 0..n {
            request();
        }
        timed += start.elapsed();
        done += n;
        between();
    }
    timed
}

// ---------------------------------------------------------------------------------------------
// The peer

/// The user's own price table: USD per million input and output tokens.
fn user_price(model: &str) -> Option<(f64, f64)> {
    match model {
        "gpt-4o" => Some((2.5, 10.0)),
        "gpt-4o-mini" => Some((0.15, 0.6)),
        _ => None,
    }
}

/// The peer's side of one request: `tracing` spans, `metrics` macros and the user's cost code,
/// the names and labels of our default set.
#[inline(never)]
fn peer_request(request: &Request) {
    let model = request.chat.options.model.as_str();
    let provider = request
        .chat
        .options
        .provider
        .as_deref()
        .unwrap_or("unknown");
    let tenant = request.chat.options.tenant.as_deref().unwrap_or("");
    let outer = tracing::info_span!("llm.request", gen_ai.operation.name = "chat", tenant);
    let _outer = outer.enter();
    let started = Instant::now();
    metrics::gauge!("llm_requests_in_flight", "gen_ai_operation_name" => "chat", "gen_ai_request_model" => model.to_owned())
        .increment(1.0);
    let chat = tracing::info_span!(
        "llm.chat",
        gen_ai.operation.name = "chat",
        gen_ai.provider.name = provider,
        gen_ai.request.model = model,
        tenant,
        input.value = request.prompt.as_str(),
        output.value = Empty,
        gen_ai.usage.input_tokens = Empty,
        gen_ai.usage.output_tokens = Empty,
        cost_usd = Empty,
    );
    {
        let _chat = chat.enter();
        // The model call.
        let response = black_box(request.response.as_str()).to_owned();
        let (input, output) = black_box((INPUT_TOKENS, OUTPUT_TOKENS));
        let seconds = started.elapsed().as_secs_f64();
        let cost = user_price(model)
            .map(|(i, o)| (input as f64 * i + output as f64 * o) / 1e6)
            .unwrap_or(0.0);
        chat.record("output.value", response.as_str());
        chat.record("gen_ai.usage.input_tokens", input);
        chat.record("gen_ai.usage.output_tokens", output);
        chat.record("cost_usd", cost);
        let labels = [
            ("gen_ai_operation_name", "chat".to_owned()),
            ("gen_ai_provider_name", provider.to_owned()),
            ("gen_ai_request_model", model.to_owned()),
        ];
        metrics::histogram!(
            "gen_ai_client_operation_duration_seconds",
            &[
                labels[0].clone(),
                labels[1].clone(),
                labels[2].clone(),
                ("error_type", String::new())
            ]
        )
        .record(seconds);
        metrics::histogram!(
            "gen_ai_client_token_usage",
            &[
                labels[0].clone(),
                labels[1].clone(),
                labels[2].clone(),
                ("gen_ai_token_type", "input".to_owned())
            ]
        )
        .record(input as f64);
        metrics::histogram!(
            "gen_ai_client_token_usage",
            &[
                labels[0].clone(),
                labels[1].clone(),
                labels[2].clone(),
                ("gen_ai_token_type", "output".to_owned())
            ]
        )
        .record(output as f64);
        metrics::counter!(
            "llm_requests_total",
            &[
                labels[0].clone(),
                labels[1].clone(),
                labels[2].clone(),
                ("status", "ok".to_owned())
            ]
        )
        .increment(1);
        metrics::gauge!(
            "llm_cost_usd_total",
            &[
                ("gen_ai_provider_name", provider.to_owned()),
                ("gen_ai_request_model", model.to_owned()),
                ("tenant", tenant.to_owned()),
            ]
        )
        .increment(cost);
        metrics::gauge!("llm_requests_in_flight", "gen_ai_operation_name" => "chat", "gen_ai_request_model" => model.to_owned())
            .decrement(1.0);
        tracing::info!(
            duration_s = seconds,
            gen_ai.usage.input_tokens = input,
            gen_ai.usage.output_tokens = output,
            cost_usd = cost,
            status = "ok",
            "llm.chat.stop"
        );
        tracing::info!(
            cost_usd = cost,
            gen_ai.provider.name = provider,
            gen_ai.request.model = model,
            tenant,
            "llm.cost.calculated"
        );
        black_box(response);
    }
    drop(chat);
    tracing::info!(
        duration_s = started.elapsed().as_secs_f64(),
        status = "ok",
        "llm.request.stop"
    );
}

/// The idiomatic stack: one `tracing` dispatcher (OpenTelemetry layer with the SDK's batch
/// processor, JSON formatter into a sink) and one Prometheus recorder.
struct PeerStack {
    dispatch: Dispatch,
    recorder: PrometheusRecorder,
    provider: SdkTracerProvider,
    exported: NoopExporter,
}

impl PeerStack {
    /// The whole stack; without the JSON formatter layer when `with_json` is false.
    fn build(with_json: bool) -> Self {
        let exported = NoopExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exported.clone())
            .build();
        let traces = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("bench")));
        let dispatch = if with_json {
            Dispatch::new(
                traces.with(
                    tracing_subscriber::fmt::layer()
                        .json()
                        .with_writer(io::sink),
                ),
            )
        } else {
            Dispatch::new(traces)
        };
        Self {
            dispatch,
            recorder: PrometheusBuilder::new()
                .set_buckets(&defaults::DURATION_BUCKETS)
                .expect("non-empty buckets")
                .build_recorder(),
            provider,
            exported,
        }
    }

    /// Runs `f` with this stack as the thread's dispatcher and recorder.
    fn scoped<T>(&self, f: impl FnOnce() -> T) -> T {
        tracing::dispatcher::with_default(&self.dispatch, || {
            metrics::with_local_recorder(&self.recorder, f)
        })
    }

    fn drain(&self) {
        let _ = self.provider.force_flush();
    }
}

// ---------------------------------------------------------------------------------------------
// 2 threads

/// Per-request time of `iters` requests on each of 2 threads started together (the slower
/// thread's time counts).
fn two_threads(iters: u64, run: &(dyn Fn(u64) -> Duration + Sync)) -> Duration {
    let barrier = std::sync::Barrier::new(2);
    std::thread::scope(|s| {
        let threads: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(|| {
                    barrier.wait();
                    run(iters)
                })
            })
            .collect();
        threads
            .into_iter()
            .map(|t| t.join().expect("bench thread"))
            .max()
            .unwrap_or_default()
    })
}

/// `FULL_STACK_PROFILE=ours|peer|ours_idle|peer_idle` (with `FULL_STACK_REQUESTS`, default
/// 10,000): run that side's requests untimed and exit, for an instruction-count profile
/// (`valgrind --tool=callgrind --toggle-collect='*our_request*' …`, see PERFORMANCE.md).
fn profile(side: &str, request: &Request) {
    let requests: u64 = std::env::var("FULL_STACK_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    match side {
        "ours" | "ours_no_logs" => {
            let ours = OurStack::attach(side == "ours");
            chunked(
                requests,
                || our_request(&ours.telemetry, request),
                || ours.drain(),
            );
        }
        "peer" | "peer_no_logs" => {
            let peer = PeerStack::build(side == "peer");
            peer.scoped(|| chunked(requests, || peer_request(request), || peer.drain()));
        }
        "ours_idle" => {
            let idle = Instrumentation::new(&Bus::new(), TelemetryLevel::Detailed);
            chunked(requests, || our_request(&idle, request), || {});
        }
        "peer_idle" => {
            chunked(requests, || peer_request(request), || {});
        }
        other => panic!(
            "FULL_STACK_PROFILE={other}: expected ours, peer, ours_no_logs, peer_no_logs, ours_idle or peer_idle"
        ),
    }
    println!("profiled {requests} requests of {side}");
}

fn main() {
    let request = Request::new();
    if let Ok(side) = std::env::var("FULL_STACK_PROFILE") {
        profile(&side, &request);
        return;
    }
    let runner = Rounds::from_env();
    let mut rows: Vec<Row> = Vec::new();

    // No handlers: nobody listens on our bus; no dispatcher and no recorder for the peer.
    let idle = Instrumentation::new(&Bus::new(), TelemetryLevel::Detailed);
    rows.extend(runner.compare(
        "chat_request_no_handlers",
        "tracing spans + metrics macros + the user's cost code, no subscriber and no recorder",
        1.0,
        Side::call(|| our_request(&idle, &request)),
        Side::call(|| peer_request(&request)),
    ));

    let ours = OurStack::attach(true);
    let peer = PeerStack::build(true);
    our_request(&ours.telemetry, &request);
    ours.drain();
    peer.scoped(|| peer_request(&request));
    peer.drain();
    let lines = ours.log_lines();
    // llm.chat.stop, llm.cost.calculated, llm.request.stop: the peer writes the same three.
    assert_eq!(
        lines, 3,
        "our logger wrote one line per span and one for the cost"
    );
    assert_eq!(
        ours.cost.stats().priced,
        1,
        "the cost tracker priced the call"
    );

    let ours_one = |iters: u64| {
        chunked(
            iters,
            || our_request(&ours.telemetry, &request),
            || ours.drain(),
        )
    };
    let peer_one =
        |iters: u64| peer.scoped(|| chunked(iters, || peer_request(&request), || peer.drain()));
    rows.extend(runner.compare(
        "chat_request_all_handlers",
        "tracing + tracing-opentelemetry (SDK batch processor, no-op exporter) + metrics macros on metrics-exporter-prometheus + user cost code + tracing-subscriber JSON into io::sink()",
        0.3,
        Side::custom(ours_one),
        Side::custom(peer_one),
    ));
    let two = runner.samples(
        "chat_request_all_handlers_2_threads",
        Side::custom(|iters| two_threads(iters, &ours_one)),
        Side::custom(|iters| two_threads(iters, &peer_one)),
    );
    println!(
        "spans exported: ours {}, peer {}; our log lines {}",
        ours.exported.0.load(Ordering::Relaxed),
        peer.exported.0.load(Ordering::Relaxed),
        ours.log_lines()
    );
    drop((ours, peer));

    // Without logs on either side: how much of the margin is the peer's JSON formatter.
    let ours = OurStack::attach(false);
    let peer = PeerStack::build(false);
    let no_logs = runner.samples(
        "chat_request_no_logs",
        Side::custom(|iters| {
            chunked(
                iters,
                || our_request(&ours.telemetry, &request),
                || ours.drain(),
            )
        }),
        Side::custom(|iters| {
            peer.scoped(|| chunked(iters, || peer_request(&request), || peer.drain()))
        }),
    );
    drop((ours, peer));

    if !runner.complete() {
        println!("not every case ran (filtered or test run): no report written");
        return;
    }
    support::write_report("full_stack", &rows);
    if let (Some(two), Some(one)) = (
        two,
        rows.iter().find(|r| r.case == "chat_request_all_handlers"),
    ) {
        let two_row = Row::from_samples("2_threads", "", 0.0, &two);
        let scaling = serde_json::json!({
            "what": "chat_request_all_handlers from 2 threads at once: per-request time on each thread (the slower one), and its ratio to the 1-thread time (1.0 = no slowdown)",
            "ours_1_thread_ns": one.ours_ns,
            "ours_2_threads_ns": two_row.ours_ns,
            "ours_slowdown": two_row.ours_ns / one.ours_ns,
            "peer_1_thread_ns": one.peer_ns,
            "peer_2_threads_ns": two_row.peer_ns,
            "peer_slowdown": two_row.peer_ns / one.peer_ns,
            "ratio_2_threads_median": two_row.ratio,
            "ratio_2_threads_min": two_row.ratio_min,
            "ratio_2_threads_max": two_row.ratio_max,
            "rounds": two_row.rounds,
        });
        let no_logs = no_logs.map(|s| {
            let row = Row::from_samples("no_logs", "", 0.0, &s);
            serde_json::json!({
                "what": "chat_request_all_handlers without the log handler on our side and without the JSON formatter on the peer's (tracing-opentelemetry + metrics only)",
                "ours_ns": row.ours_ns,
                "peer_ns": row.peer_ns,
                "ratio_median": row.ratio,
                "ratio_min": row.ratio_min,
                "ratio_max": row.ratio_max,
                "rounds": row.rounds,
            })
        });
        let extra = serde_json::json!({ "two_threads": scaling, "no_logs": no_logs });
        println!("full stack extras: {extra}");
        support::write_json("full_stack-extra", &extra);
    }
}
