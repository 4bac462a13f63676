//! Against a real Arize Phoenix: nested traces of two tenants, exported together, each land whole
//! in their own tenant's project, round after round.
//!
//! Each round attaches a handler, emits one trace per tenant, interleaved so one batch holds both:
//! a `llm.request` root that names the tenant, a `llm.chat` child and the library's own
//! `llm.provider.request` grandchild (neither names a tenant), and a `llm.embed` child that names
//! a service of its own. Phoenix keeps a trace in the first project it sees, so a child exported
//! to the default project before its root splits the trace. Every span of every trace must be
//! read back from its tenant's project, none from the default one, in all 20 rounds.
//!
//! Needs Phoenix (`LLM_TELEMETRY_PHOENIX`): run through `scripts/test-all.sh`.

mod support;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use llm_telemetry_core::{Bus, Value};
use llm_telemetry_genai::catalog::{self, keys};
use llm_telemetry_genai::instrument::{Instrumentation, TelemetryLevel};
use llm_telemetry_otel::{OtelHandler, Protocol};
use serde_json::Value as Json;
use support::phoenix::{Phoenix, attribute};

const ROUNDS: usize = 20;
const FLUSH: Duration = Duration::from_secs(30);
const STORED: Duration = Duration::from_secs(60);
/// Spans per trace: request, chat, provider request, embed.
const SPANS_PER_TRACE: usize = 4;

/// One trace of `tenant`; returns its trace id in Phoenix's hex form.
fn emit_trace(bus: &Bus, telemetry: &Instrumentation, tenant: &str) -> String {
    let mut trace_id = String::new();
    bus.span(
        &catalog::LLM_REQUEST,
        &[
            (keys::TENANT, Value::Str(tenant)),
            (keys::OPERATION, Value::Str("answer")),
        ],
        |root| {
            trace_id = root
                .context()
                .map(|c| c.trace_id.to_string())
                .unwrap_or_default();
            bus.span(
                &catalog::LLM_CHAT,
                &[
                    (keys::PROVIDER, Value::Str("openai")),
                    (keys::MODEL, Value::Str("gpt-4o")),
                ],
                |_| {
                    let attempt = telemetry.start_provider_request("openai", Some("gpt-4o"));
                    attempt.finish(200);
                },
            );
            bus.span(
                &catalog::LLM_EMBED,
                &[
                    (keys::MODEL, Value::Str("bge-small")),
                    ("service.name", Value::Str("retriever")),
                ],
                |_| {},
            );
        },
    );
    trace_id
}

/// Spans of `project` by trace id (an absent project has none).
fn by_trace(phoenix: &Phoenix, project: &str) -> HashMap<String, Vec<Json>> {
    let mut out: HashMap<String, Vec<Json>> = HashMap::new();
    for span in phoenix.spans(project).unwrap().unwrap_or_default() {
        let trace = span["context"]["trace_id"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        out.entry(trace).or_default().push(span);
    }
    out
}

#[test]
#[ignore = "needs Phoenix: run scripts/test-all.sh"]
fn nested_two_tenant_traces_land_whole_in_their_tenant_project_every_round() {
    let phoenix = Phoenix::shared();
    let run = std::process::id();
    let tenants = [format!("acme{run}"), format!("globex{run}")];
    let default_project = format!("tenant-traces-default-{run}");
    let project_of = |tenant: &str| format!("llm-{tenant}-tenant-traces");
    let mut expected: Vec<(String, String)> = Vec::new(); // (tenant, trace id)
    let mut failures = Vec::new();
    for round in 0..ROUNDS {
        let bus = Bus::new();
        let otel = OtelHandler::builder()
            .read_env(false)
            .protocol(Protocol::HttpProtobuf)
            .endpoint(phoenix.http_endpoint())
            .service_name("tenant-traces")
            .project_name(&default_project)
            .attach(&bus)
            .unwrap();
        let telemetry = Instrumentation::new(&bus, TelemetryLevel::Basic);
        let mut round_traces = Vec::new();
        for tenant in &tenants {
            round_traces.push((tenant.clone(), emit_trace(&bus, &telemetry, tenant)));
        }
        otel.flush(FLUSH).unwrap();
        otel.detach(FLUSH).unwrap();
        let stats = otel.stats();
        assert_eq!(
            stats.exported as usize,
            SPANS_PER_TRACE * tenants.len(),
            "{stats:?}"
        );
        expected.extend(round_traces.iter().cloned());

        // Wait until every span of this round is stored somewhere, then check where.
        let deadline = Instant::now() + STORED;
        loop {
            let mut found = 0;
            let mut misplaced = Vec::new();
            let default = by_trace(phoenix, &default_project);
            let per_tenant: HashMap<&String, HashMap<String, Vec<Json>>> = tenants
                .iter()
                .map(|t| (t, by_trace(phoenix, &project_of(t))))
                .collect();
            for (tenant, trace) in &round_traces {
                for (other, spans) in &per_tenant {
                    let n = spans.get(trace).map_or(0, Vec::len);
                    found += n;
                    if *other != tenant && n > 0 {
                        misplaced.push(format!(
                            "{n} spans of {tenant}'s trace in {other}'s project"
                        ));
                    }
                }
                let n = default.get(trace).map_or(0, Vec::len);
                found += n;
                if n > 0 {
                    misplaced.push(format!(
                        "{n} spans of {tenant}'s trace in the default project"
                    ));
                }
                let own = per_tenant[tenant].get(trace).map_or(0, Vec::len);
                if own < SPANS_PER_TRACE && found >= SPANS_PER_TRACE * round_traces.len() {
                    misplaced.push(format!(
                        "{tenant}'s trace has {own} of {SPANS_PER_TRACE} spans in its project"
                    ));
                }
            }
            if found >= SPANS_PER_TRACE * round_traces.len() {
                if !misplaced.is_empty() {
                    failures.push(format!("round {round}: {}", misplaced.join("; ")));
                }
                break;
            }
            assert!(
                Instant::now() < deadline,
                "round {round}: only {found} spans stored within {STORED:?}; Phoenix log:\n{}",
                phoenix.log_tail()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {ROUNDS} rounds split a trace:\n{}",
        failures.len(),
        failures.join("\n")
    );

    // Every trace whole, with the attributes the children inherit.
    for tenant in &tenants {
        let traces = by_trace(phoenix, &project_of(tenant));
        for (_, trace) in expected.iter().filter(|(t, _)| t == tenant) {
            let spans = &traces[trace];
            assert_eq!(spans.len(), SPANS_PER_TRACE, "{trace}: {spans:#?}");
            for span in spans {
                assert_eq!(
                    attribute(span, "tenant.id"),
                    &Json::from(tenant.as_str()),
                    "every span of the trace carries its tenant: {span:#}"
                );
            }
        }
    }
}
