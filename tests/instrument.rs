//! The instrumentation helpers, checked through a real bus and `testing::Capture`: event names,
//! keys, parentage, streams (first token, stop, cancel), cache key hashing, provider events,
//! level gating and the instrumented backend.

use std::future::Future;
use std::num::NonZeroU64;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use futures_core::Stream;
use llm_telemetry::catalog::keys;
use llm_telemetry::instrument::names::{INTER_TOKEN_LATENCY, TOKEN_INDEX};
use llm_telemetry::instrument::{
    BackendError, ChatMessage, ChatRequest, Completion, EmbedRequest, Embeddings, FinishReason,
    GenerateRequest, InferenceBackend, Instrumentation, InstrumentedBackend, KeyHasher, Pooling,
    SimulatedBackend, SimulatedError, TelemetryLevel,
};
use llm_telemetry::testing::Capture;
use llm_telemetry::{Bus, OwnedEvent, SpanContext, Value, context};

fn setup(level: TelemetryLevel) -> (Bus, Capture, Instrumentation) {
    let bus = Bus::new();
    let capture = Capture::attach(&bus, ["*"]).unwrap();
    let telemetry = Instrumentation::new(&bus, level);
    (bus, capture, telemetry)
}

fn full_request() -> GenerateRequest {
    GenerateRequest::new("llama-3.1-8b", "Why is the sky blue?")
        .max_tokens(128)
        .temperature(0.7)
        .top_p(0.9)
        .seed(42)
        .device("cpu")
        .stop("\n\n")
        .stop("END")
        .provider("local")
        .tenant("acme")
}

fn span_of(event: &OwnedEvent) -> SpanContext {
    event
        .span()
        .unwrap_or_else(|| panic!("{} has no span", event.name()))
}

/// The one exception event `name`, checked for its `exception.type` and `exception.message`.
fn one_exception(capture: &Capture, name: &str, kind: &str, message: &str) -> OwnedEvent {
    let exception = one(capture, name);
    assert_eq!(exception.str(keys::EXCEPTION_TYPE), Some(kind));
    assert_eq!(exception.str(keys::EXCEPTION_MESSAGE), Some(message));
    exception
}

fn one(capture: &Capture, name: &str) -> OwnedEvent {
    let events = capture.named(name);
    assert_eq!(
        events.len(),
        1,
        "expected one {name}, got {:?}",
        capture.names()
    );
    events.into_iter().next().unwrap()
}

/// Every string metadata value of every event.
fn all_strings(capture: &Capture) -> Vec<String> {
    capture
        .events()
        .iter()
        .flat_map(|e| {
            e.metadata()
                .filter_map(|(_, v)| v.as_str().map(str::to_owned))
                .collect::<Vec<_>>()
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// generate and chat
// ---------------------------------------------------------------------------------------------

#[test]
fn generate_emits_start_and_stop_with_every_key() {
    let (_bus, capture, telemetry) = setup(TelemetryLevel::Detailed);
    let request = full_request();
    let completion = telemetry
        .generate(&request, || {
            Ok::<_, String>(
                Completion::new("Rayleigh scattering.", 7, 5)
                    .finish_reason(FinishReason::Stop)
                    .prompt_cache_tokens(4, 1)
                    .reasoning_tokens(2)
                    .response_model("llama-3.1-8b-q4"),
            )
        })
        .unwrap();
    assert_eq!(completion.text, "Rayleigh scattering.");
    assert_eq!(capture.names(), ["llm.generate.start", "llm.generate.stop"]);

    let start = one(&capture, "llm.generate.start");
    assert_eq!(start.str(keys::OPERATION), Some("text_completion"));
    assert_eq!(start.str(keys::PROVIDER), Some("local"));
    assert_eq!(start.str(keys::MODEL), Some("llama-3.1-8b"));
    assert_eq!(start.str(keys::TENANT), Some("acme"));
    assert_eq!(start.value(keys::STREAMING), Some(Value::Bool(false)));
    assert_eq!(start.value(keys::MAX_TOKENS), Some(Value::Int(128)));
    assert_eq!(start.value(keys::TEMPERATURE), Some(Value::Float(0.7)));
    assert_eq!(start.value(keys::TOP_P), Some(Value::Float(0.9)));
    assert_eq!(start.value(keys::SEED), Some(Value::Int(42)));
    assert_eq!(start.str(keys::DEVICE), Some("cpu"));
    assert_eq!(start.str(keys::STOP_SEQUENCES), Some("\n\n\nEND"));
    assert_eq!(start.str(keys::INPUT), Some("Why is the sky blue?"));

    let stop = one(&capture, "llm.generate.stop");
    assert_eq!(span_of(&stop), span_of(&start));
    assert_eq!(stop.measurement(keys::INPUT_TOKENS), Some(7.0));
    assert_eq!(stop.measurement(keys::OUTPUT_TOKENS), Some(5.0));
    assert_eq!(stop.measurement(keys::TOTAL_TOKENS), Some(12.0));
    assert_eq!(stop.measurement(keys::PROMPT_LENGTH), Some(20.0));
    assert_eq!(stop.measurement(keys::RESPONSE_LENGTH), Some(20.0));
    assert!(stop.measurement(keys::TOKENS_PER_SECOND).unwrap() > 0.0);
    assert_eq!(stop.measurement(keys::CACHE_READ_TOKENS), Some(4.0));
    assert_eq!(stop.measurement(keys::CACHE_WRITE_TOKENS), Some(1.0));
    assert_eq!(stop.measurement(keys::REASONING_TOKENS), Some(2.0));
    assert!(stop.measurement(keys::DURATION).is_some());
    assert_eq!(stop.str(keys::OUTPUT), Some("Rayleigh scattering."));
    assert_eq!(stop.str(keys::FINISH_REASONS), Some("stop"));
    assert_eq!(stop.str(keys::RESPONSE_MODEL), Some("llama-3.1-8b-q4"));
    assert_eq!(stop.str(keys::STATUS), Some("ok"));
    // The stop event repeats the start metadata, so it alone describes the call.
    assert_eq!(stop.str(keys::INPUT), Some("Why is the sky blue?"));
    assert_eq!(stop.str(keys::MODEL), Some("llama-3.1-8b"));
}

#[test]
fn lengths_count_characters_not_bytes() {
    let (_bus, capture, telemetry) = setup(TelemetryLevel::Basic);
    let request = GenerateRequest::new("m", "héllo 🌍");
    telemetry
        .generate(&request, || Ok::<_, String>(Completion::new("ça va", 3, 2)))
        .unwrap();
    let stop = one(&capture, "llm.generate.stop");
    assert_eq!(stop.measurement(keys::PROMPT_LENGTH), Some(7.0));
    assert_eq!(stop.measurement(keys::RESPONSE_LENGTH), Some(5.0));
    assert_eq!(
        stop.measurement(keys::REASONING_TOKENS),
        None,
        "zero counts are left out"
    );
    assert_eq!(stop.measurement(keys::CACHE_READ_TOKENS), None);
}

#[test]
fn chat_emits_llm_chat_with_the_same_shape() {
    let (_bus, capture, telemetry) = setup(TelemetryLevel::Detailed);
    let request = ChatRequest::new(
        "gpt-4o-mini",
        vec![ChatMessage::system("Be brief."), ChatMessage::user("Hi!")],
    )
    .max_tokens(16)
    .provider("openai")
    .tenant("globex");
    telemetry
        .chat(&request, || {
            Ok::<_, String>(Completion::new("Hello.", 12, 2))
        })
        .unwrap();
    assert_eq!(capture.names(), ["llm.chat.start", "llm.chat.stop"]);
    let stop = one(&capture, "llm.chat.stop");
    assert_eq!(stop.str(keys::OPERATION), Some("chat"));
    assert_eq!(stop.str(keys::PROVIDER), Some("openai"));
    assert_eq!(stop.str(keys::TENANT), Some("globex"));
    assert_eq!(stop.value(keys::MAX_TOKENS), Some(Value::Int(16)));
    assert_eq!(stop.str(keys::INPUT), Some("system: Be brief.\nuser: Hi!"));
    assert_eq!(stop.str(keys::OUTPUT), Some("Hello."));
    assert_eq!(stop.measurement(keys::PROMPT_LENGTH), Some(12.0));
    assert_eq!(stop.measurement(keys::TOTAL_TOKENS), Some(14.0));
}

#[test]
fn an_error_ends_the_span_with_an_exception() {
    #[derive(Debug)]
    struct ModelOverloaded;
    impl std::fmt::Display for ModelOverloaded {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("the model is overloaded")
        }
    }
    let (_bus, capture, telemetry) = setup(TelemetryLevel::Basic);
    let result = telemetry.generate(&GenerateRequest::new("m", "p"), || {
        Err::<Completion, _>(ModelOverloaded)
    });
    assert!(result.is_err());
    assert_eq!(
        capture.names(),
        ["llm.generate.start", "llm.generate.exception"]
    );
    let exception = one_exception(
        &capture,
        "llm.generate.exception",
        "ModelOverloaded",
        "the model is overloaded",
    );
    assert_eq!(exception.str(keys::ERROR_TYPE), Some("ModelOverloaded"));
}

#[test]
fn a_panic_ends_the_span_with_an_exception_and_keeps_unwinding() {
    let (_bus, capture, telemetry) = setup(TelemetryLevel::Basic);
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        telemetry.chat(
            &ChatRequest::new("m", vec![]),
            || -> Result<Completion, String> { panic!("tokenizer exploded") },
        )
    }));
    assert!(outcome.is_err(), "the panic must propagate");
    one_exception(
        &capture,
        "llm.chat.exception",
        "panic",
        "tokenizer exploded",
    );
}

#[test]
fn a_dropped_generation_span_stops_cancelled() {
    let (_bus, capture, telemetry) = setup(TelemetryLevel::Basic);
    drop(telemetry.start_generate(&GenerateRequest::new("m", "p")));
    let stop = one(&capture, "llm.generate.stop");
    assert_eq!(stop.str(keys::STATUS), Some("cancelled"));
}

#[test]
fn fail_with_classifies_the_error() {
    let (_bus, capture, telemetry) = setup(TelemetryLevel::Basic);
    let span = telemetry.start_generate(&GenerateRequest::new("m", "p"));
    let error = std::io::Error::new(std::io::ErrorKind::TimedOut, "read timed out");
    span.fail_with("timeout", &error);
    let exception = one_exception(
        &capture,
        "llm.generate.exception",
        "Error",
        "read timed out",
    );
    assert_eq!(exception.str(keys::ERROR_TYPE), Some("timeout"));
}

// ---------------------------------------------------------------------------------------------
// embed
// ---------------------------------------------------------------------------------------------

#[test]
fn embed_emits_dimension_batch_size_and_the_pooling_used() {
    let (_bus, capture, telemetry) = setup(TelemetryLevel::Detailed);
    let request = EmbedRequest::new("bge-small", ["first doc", "second doc", "third"])
        .query(false)
        .with_batch_size(2)
        .pooling(Pooling::Mean)
        .provider("local")
        .tenant("acme")
        .device("gpu");
    telemetry
        .embed(&request, || {
            Ok::<_, String>(Embeddings {
                vectors: vec![vec![0.5; 384]; 3],
                input_tokens: 9,
                pooling: Pooling::Cls,
            })
        })
        .unwrap();
    assert_eq!(capture.names(), ["llm.embed.start", "llm.embed.stop"]);
    let start = one(&capture, "llm.embed.start");
    assert_eq!(start.str(keys::OPERATION), Some("embeddings"));
    assert_eq!(
        start.str(keys::DEVICE),
        Some("gpu"),
        "the device rides on the span"
    );
    assert_eq!(
        start.str(keys::POOLING),
        Some("mean"),
        "the requested pooling"
    );
    assert_eq!(start.value(keys::IS_QUERY), Some(Value::Bool(false)));
    assert_eq!(start.str(keys::INPUT), Some("first doc\nsecond doc\nthird"));
    let stop = one(&capture, "llm.embed.stop");
    assert_eq!(stop.measurement(keys::DIMENSION), Some(384.0));
    assert_eq!(stop.measurement(keys::BATCH_SIZE), Some(2.0));
    assert_eq!(stop.measurement(keys::INPUT_TOKENS), Some(9.0));
    assert_eq!(stop.measurement(keys::PROMPT_LENGTH), Some(24.0));
    assert_eq!(
        stop.str(keys::POOLING),
        Some("cls"),
        "the pooling actually used"
    );
    assert_eq!(stop.str(keys::STATUS), Some("ok"));
}

// ---------------------------------------------------------------------------------------------
// request spans and parentage
// ---------------------------------------------------------------------------------------------

#[test]
fn a_hybrid_search_nests_embed_generate_and_cache_under_its_request_span() {
    let (_bus, capture, telemetry) = setup(TelemetryLevel::Basic);
    let cache = telemetry.cache("retrieval");
    let answer = telemetry.request(
        "hybrid_search",
        &[(keys::TENANT, Value::Str("acme"))],
        || {
            cache.miss("what is rust?");
            let query = telemetry
                .embed(
                    &EmbedRequest::new("bge", ["what is rust?"]).query(true),
                    || {
                        Ok::<_, String>(Embeddings {
                            vectors: vec![vec![0.1; 8]],
                            input_tokens: 4,
                            pooling: Pooling::Mean,
                        })
                    },
                )
                .unwrap();
            assert_eq!(query.dimension(), 8);
            telemetry
                .generate(&GenerateRequest::new("m", "answer using context"), || {
                    Ok::<_, String>(Completion::new("Rust is a language.", 40, 5))
                })
                .unwrap()
        },
    );
    assert_eq!(answer.output_tokens, 5);
    assert_eq!(
        capture.names(),
        [
            "llm.request.start",
            "cache.lookup.miss",
            "llm.embed.start",
            "llm.embed.stop",
            "llm.generate.start",
            "llm.generate.stop",
            "llm.request.stop",
        ]
    );
    let request = span_of(&one(&capture, "llm.request.stop"));
    assert_eq!(request.parent_span_id, None, "the request span is a root");
    assert_eq!(
        one(&capture, "llm.request.stop").str(keys::OPERATION),
        Some("hybrid_search")
    );
    assert_eq!(
        one(&capture, "llm.request.stop").str(keys::TENANT),
        Some("acme")
    );
    for child in ["llm.embed.stop", "llm.generate.stop"] {
        let span = span_of(&one(&capture, child));
        assert_eq!(
            span.trace_id, request.trace_id,
            "{child} is in the same trace"
        );
        assert_eq!(
            span.parent_span_id,
            Some(request.span_id),
            "{child}'s parent"
        );
        assert_ne!(span.span_id, request.span_id);
    }
    let miss = span_of(&one(&capture, "cache.lookup.miss"));
    assert_eq!(
        miss.span_id, request.span_id,
        "the lookup happened in the request span"
    );
    assert_eq!(context::current(), None, "no span leaks out of the request");
}

#[test]
fn try_request_records_failures() {
    let (_bus, capture, telemetry) = setup(TelemetryLevel::Basic);
    let result: Result<(), String> =
        telemetry.try_request("rerank", &[], || Err("no candidates".to_owned()));
    assert!(result.is_err());
    let exception = one(&capture, "llm.request.exception");
    assert_eq!(
        exception.str(keys::EXCEPTION_MESSAGE),
        Some("no candidates")
    );
    assert_eq!(exception.str(keys::OPERATION), Some("rerank"));
}

// ---------------------------------------------------------------------------------------------
// streams over iterators
// ---------------------------------------------------------------------------------------------

/// Yields `tokens`, sleeping before each and recording the span current at each call.
struct SlowTokens {
    tokens: Vec<&'static str>,
    next: usize,
    delay: Duration,
    seen: Vec<Option<SpanContext>>,
}

impl SlowTokens {
    fn new(tokens: Vec<&'static str>, delay: Duration) -> Self {
        Self {
            tokens,
            next: 0,
            delay,
            seen: Vec::new(),
        }
    }
}

impl Iterator for &mut SlowTokens {
    type Item = &'static str;
    fn next(&mut self) -> Option<&'static str> {
        self.seen.push(context::current());
        let token = self.tokens.get(self.next).copied()?;
        std::thread::sleep(self.delay);
        self.next += 1;
        Some(token)
    }
}

#[test]
fn an_iterator_stream_emits_first_token_then_stop_with_rates() {
    let (_bus, capture, telemetry) = setup(TelemetryLevel::Detailed);
    let request = GenerateRequest::new("m", "count").tenant("acme");
    let mut source = SlowTokens::new(
        vec!["one", " two", " three", " four"],
        Duration::from_millis(2),
    );
    let mut span = telemetry.start_generate(&request);
    span.set_input_tokens(3);
    let context = span.context().unwrap();
    let text: String = span.stream(&mut source).collect();
    assert_eq!(text, "one two three four");

    assert_eq!(
        capture.names(),
        [
            "llm.generate.start",
            "llm.stream.first_token",
            "llm.generate.stop"
        ]
    );
    let first = one(&capture, "llm.stream.first_token");
    assert_eq!(
        span_of(&first).span_id,
        context.span_id,
        "emitted in the generation span"
    );
    assert_eq!(first.str(keys::MODEL), Some("m"));
    assert_eq!(first.str(keys::TENANT), Some("acme"));
    let ttft = first.measurement(keys::TIME_TO_FIRST_TOKEN).unwrap();
    assert!(
        ttft >= 2e6,
        "the first token came after a 2 ms sleep, got {ttft} ns"
    );

    let stop = one(&capture, "llm.generate.stop");
    assert_eq!(stop.str(keys::STATUS), Some("ok"));
    assert_eq!(stop.measurement(keys::OUTPUT_TOKENS), Some(4.0));
    assert_eq!(stop.measurement(keys::INPUT_TOKENS), Some(3.0));
    assert_eq!(stop.measurement(keys::TOTAL_TOKENS), Some(7.0));
    assert_eq!(stop.measurement(keys::RESPONSE_LENGTH), Some(18.0));
    assert_eq!(stop.measurement(keys::TIME_TO_FIRST_TOKEN), Some(ttft));
    let tps = stop.measurement(keys::TOKENS_PER_SECOND).unwrap();
    assert!(
        tps > 0.0 && tps <= 4.0 / 0.008,
        "4 tokens over at least 8 ms, got {tps}/s"
    );
    let tpot = stop.measurement(keys::TIME_PER_OUTPUT_TOKEN).unwrap();
    assert!(
        tpot >= 2e6,
        "each later token took at least 2 ms, got {tpot} ns"
    );
    assert_eq!(stop.str(keys::OUTPUT), Some("one two three four"));
    assert_eq!(stop.str(keys::FINISH_REASONS), Some("stop"));
    assert_eq!(
        stop.value(keys::STREAMING),
        Some(Value::Bool(true)),
        "a streamed response says so on stop, even if the request did not"
    );

    // The span was current on every call into the inner iterator, including the last.
    assert_eq!(source.seen.len(), 5);
    for seen in &source.seen {
        assert_eq!(seen.map(|c| c.span_id), Some(context.span_id));
    }
    assert_eq!(context::current(), None);
}

#[test]
fn a_stream_reaching_max_tokens_finishes_with_length() {
    let (_bus, capture, telemetry) = setup(TelemetryLevel::Basic);
    let request = GenerateRequest::new("m", "p").max_tokens(3);
    let n = telemetry.stream_generate(&request, ["a", "b", "c"]).count();
    assert_eq!(n, 3);
    let stop = one(&capture, "llm.generate.stop");
    assert_eq!(stop.str(keys::FINISH_REASONS), Some("length"));
    assert_eq!(stop.value(keys::STREAMING), Some(Value::Bool(true)));
}

#[test]
fn dropping_a_stream_early_stops_cancelled_with_the_tokens_so_far() {
    let (_bus, capture, telemetry) = setup(TelemetryLevel::Detailed);
    let mut tokens =
        telemetry.stream_generate(&GenerateRequest::new("m", "p"), ["a", "b", "c", "d"]);
    assert_eq!(tokens.next(), Some("a"));
    assert_eq!(tokens.next(), Some("b"));
    assert_eq!(tokens.tokens_so_far(), 2);
    drop(tokens);
    assert_eq!(
        capture.names(),
        [
            "llm.generate.start",
            "llm.stream.first_token",
            "llm.generate.stop"
        ]
    );
    let stop = one(&capture, "llm.generate.stop");
    assert_eq!(stop.str(keys::STATUS), Some("cancelled"));
    assert_eq!(stop.measurement(keys::OUTPUT_TOKENS), Some(2.0));
    assert_eq!(stop.str(keys::OUTPUT), Some("ab"));
    assert_eq!(stop.str(keys::FINISH_REASONS), None);
}

#[test]
fn an_error_item_ends_the_stream_span_with_an_exception() {
    let (_bus, capture, telemetry) = setup(TelemetryLevel::Basic);
    let items: Vec<Result<&str, String>> = vec![
        Ok("a"),
        Ok("b"),
        Err("connection reset".to_owned()),
        Ok("late"),
    ];
    let out: Vec<_> = telemetry
        .stream_generate(&GenerateRequest::new("m", "p"), items)
        .collect();
    assert_eq!(out.len(), 4, "every item passes through");
    assert_eq!(
        capture.names(),
        [
            "llm.generate.start",
            "llm.stream.first_token",
            "llm.generate.exception"
        ]
    );
    let exception = one_exception(
        &capture,
        "llm.generate.exception",
        "String",
        "connection reset",
    );
    assert_eq!(exception.measurement(keys::OUTPUT_TOKENS), Some(2.0));
}

#[test]
fn verbose_emits_one_event_per_token() {
    let (_bus, capture, telemetry) = setup(TelemetryLevel::Verbose);
    let _: Vec<_> = telemetry
        .stream_generate(&GenerateRequest::new("m", "p"), ["x", "y", "z"])
        .collect();
    assert_eq!(
        capture.names(),
        [
            "llm.generate.start",
            "llm.stream.first_token",
            "llm.stream.token",
            "llm.stream.token",
            "llm.stream.token",
            "llm.generate.stop"
        ]
    );
    let tokens = capture.named("llm.stream.token");
    let stop = one(&capture, "llm.generate.stop");
    for (i, token) in tokens.iter().enumerate() {
        assert_eq!(token.measurement(TOKEN_INDEX), Some(i as f64));
        assert!(token.measurement(INTER_TOKEN_LATENCY).is_some());
        assert_eq!(token.str(keys::OUTPUT), Some(["x", "y", "z"][i]));
        assert_eq!(span_of(token).span_id, span_of(&stop).span_id);
    }
}

// ---------------------------------------------------------------------------------------------
// streams over futures_core::Stream
// ---------------------------------------------------------------------------------------------

/// A stream that answers Pending once before each item and records the current span per poll.
struct PendingThenReady {
    items: Vec<&'static str>,
    pending_next: bool,
    seen: Vec<Option<SpanContext>>,
}

impl Stream for PendingThenReady {
    type Item = &'static str;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<&'static str>> {
        let current = context::current();
        self.seen.push(current);
        if self.pending_next {
            self.pending_next = false;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        self.pending_next = true;
        if self.items.is_empty() {
            Poll::Ready(None)
        } else {
            Poll::Ready(Some(self.items.remove(0)))
        }
    }
}

fn poll_once<S: Stream + Unpin>(stream: &mut S) -> Poll<Option<S::Item>> {
    let mut cx = Context::from_waker(Waker::noop());
    Pin::new(stream).poll_next(&mut cx)
}

#[test]
fn an_async_stream_emits_first_token_stop_and_keeps_the_span_current() {
    let (_bus, capture, telemetry) = setup(TelemetryLevel::Detailed);
    let span = telemetry.start_generate(&GenerateRequest::new("m", "p").streaming(true));
    let context = span.context().unwrap();
    let mut stream = span.stream_async(PendingThenReady {
        items: vec!["he", "llo"],
        pending_next: true,
        seen: Vec::new(),
    });
    let mut out = Vec::new();
    for _ in 0..100 {
        match poll_once(&mut stream) {
            Poll::Ready(Some(item)) => out.push(item),
            Poll::Ready(None) => break,
            Poll::Pending => assert!(capture.named("llm.generate.stop").is_empty()),
        }
    }
    assert_eq!(out, ["he", "llo"]);
    assert_eq!(
        capture.names(),
        [
            "llm.generate.start",
            "llm.stream.first_token",
            "llm.generate.stop"
        ]
    );
    let stop = one(&capture, "llm.generate.stop");
    assert_eq!(stop.str(keys::STATUS), Some("ok"));
    assert_eq!(stop.measurement(keys::OUTPUT_TOKENS), Some(2.0));
    assert_eq!(stop.str(keys::OUTPUT), Some("hello"));
    assert!(stop.measurement(keys::TIME_PER_OUTPUT_TOKEN).is_some());
    assert!(stop.measurement(keys::TOKENS_PER_SECOND).is_some());
    assert_eq!(span_of(&stop).span_id, context.span_id);
    drop(stream);
    assert_eq!(
        capture.names().len(),
        3,
        "dropping a finished stream emits nothing"
    );
    assert_eq!(context::current(), None);
}

#[test]
fn polls_of_an_async_stream_see_the_span() {
    let (_bus, _capture, telemetry) = setup(TelemetryLevel::Basic);
    let span = telemetry.start_generate(&GenerateRequest::new("m", "p"));
    let span_id = span.context().unwrap().span_id;
    let mut source = PendingThenReady {
        items: vec!["a"],
        pending_next: true,
        seen: Vec::new(),
    };
    {
        let mut stream = span.stream_async(&mut source);
        while !matches!(poll_once(&mut stream), Poll::Ready(None)) {}
    }
    assert_eq!(source.seen.len(), 4, "pending, a, pending, end");
    assert!(
        source
            .seen
            .iter()
            .all(|c| c.map(|c| c.span_id) == Some(span_id))
    );
    assert_eq!(
        context::current(),
        None,
        "the span is current only during polls"
    );
}

#[test]
fn dropping_an_async_stream_early_stops_cancelled() {
    let (_bus, capture, telemetry) = setup(TelemetryLevel::Basic);
    let span = telemetry.start_generate(&GenerateRequest::new("m", "p"));
    let mut stream = span.stream_async(PendingThenReady {
        items: vec!["a", "b", "c"],
        pending_next: false,
        seen: Vec::new(),
    });
    assert_eq!(poll_once(&mut stream), Poll::Ready(Some("a")));
    assert_eq!(poll_once(&mut stream), Poll::Pending);
    drop(stream);
    let stop = one(&capture, "llm.generate.stop");
    assert_eq!(stop.str(keys::STATUS), Some("cancelled"));
    assert_eq!(stop.measurement(keys::OUTPUT_TOKENS), Some(1.0));
    assert_eq!(capture.named("llm.stream.first_token").len(), 1);
}

/// A future that is pending once, then returns `value`, recording the current span per poll.
struct PendingOnce<T> {
    value: Option<T>,
    polled: bool,
    seen: std::sync::Arc<std::sync::Mutex<Vec<Option<SpanContext>>>>,
}

impl<T: Unpin> std::future::Future for PendingOnce<T> {
    type Output = T;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        self.seen.lock().unwrap().push(context::current());
        if !self.polled {
            self.polled = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        Poll::Ready(self.value.take().expect("polled after completion"))
    }
}

/// The span contexts a `PendingOnce` saw current at each poll.
type SeenContexts = std::sync::Arc<std::sync::Mutex<Vec<Option<SpanContext>>>>;

fn pending_once<T>(value: T) -> (PendingOnce<T>, SeenContexts) {
    let seen = std::sync::Arc::default();
    (
        PendingOnce {
            value: Some(value),
            polled: false,
            seen: std::sync::Arc::clone(&seen),
        },
        seen,
    )
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..100 {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
    }
    panic!("the future did not complete in 100 polls")
}

#[test]
fn async_helpers_keep_the_span_current_on_every_poll_and_finish_it() {
    let (_bus, capture, telemetry) = setup(TelemetryLevel::Detailed);
    let (answer, seen) = pending_once(Ok::<_, String>(Completion::new("async answer", 4, 2)));
    let completion =
        block_on(telemetry.generate_async(&GenerateRequest::new("m", "p"), answer)).unwrap();
    assert_eq!(completion.text, "async answer");
    let stop = one(&capture, "llm.generate.stop");
    assert_eq!(stop.str(keys::OUTPUT), Some("async answer"));
    assert_eq!(stop.measurement(keys::TOTAL_TOKENS), Some(6.0));
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2);
    assert!(
        seen.iter()
            .all(|c| c.map(|c| c.span_id) == Some(span_of(&stop).span_id))
    );
    assert_eq!(context::current(), None);
}

#[test]
fn an_async_request_parents_the_async_calls_inside_it() {
    let (_bus, capture, telemetry) = setup(TelemetryLevel::Basic);
    let inner = telemetry.clone();
    let work = async move {
        let (embedded, _) = pending_once(Ok::<_, String>(Embeddings::default()));
        inner
            .embed_async(&EmbedRequest::new("e", ["q"]), embedded)
            .await?;
        let (answered, _) = pending_once(Ok::<_, String>(Completion::new("a", 1, 1)));
        inner
            .chat_async(
                &ChatRequest::new("m", vec![ChatMessage::user("q")]),
                answered,
            )
            .await
    };
    block_on(telemetry.request_async("hybrid_search", &[], work)).unwrap();
    let request = span_of(&one(&capture, "llm.request.stop"));
    for child in ["llm.embed.stop", "llm.chat.stop"] {
        assert_eq!(
            span_of(&one(&capture, child)).parent_span_id,
            Some(request.span_id),
            "{child}"
        );
    }
}

#[test]
fn async_helpers_report_errors_and_cancellation() {
    let (_bus, capture, telemetry) = setup(TelemetryLevel::Basic);
    let (failing, _) = pending_once(Err::<Embeddings, _>("index offline".to_owned()));
    assert!(block_on(telemetry.embed_async(&EmbedRequest::new("e", ["q"]), failing)).is_err());
    let exception = one(&capture, "llm.embed.exception");
    assert_eq!(
        exception.str(keys::EXCEPTION_MESSAGE),
        Some("index offline")
    );

    let (never_finished, _) = pending_once(Ok::<_, String>(Completion::default()));
    let mut call =
        Box::pin(telemetry.generate_async(&GenerateRequest::new("m", "p"), never_finished));
    assert!(
        call.as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
            .is_pending()
    );
    drop(call);
    let stop = one(&capture, "llm.generate.stop");
    assert_eq!(stop.str(keys::STATUS), Some("cancelled"));
}

// ---------------------------------------------------------------------------------------------
// cache
// ---------------------------------------------------------------------------------------------

#[test]
fn cache_events_carry_the_name_and_a_hash_never_the_key() {
    let (_bus, capture, telemetry) = setup(TelemetryLevel::Verbose);
    let cache = telemetry.cache("prompts");
    let key = "tenant=acme prompt=Summarise the patient's record";
    cache.miss(key);
    cache.put(key, Some(4096));
    cache.hit(key, Some(4096));
    cache.evicted(key, None);
    cache.lookup(key, None);
    cache.lookup(key, Some(Some(10)));
    assert_eq!(
        capture.names(),
        [
            "cache.lookup.miss",
            "cache.entry.put",
            "cache.lookup.hit",
            "cache.entry.evicted",
            "cache.lookup.miss",
            "cache.lookup.hit"
        ]
    );
    let expected = KeyHasher::stable().hash_hex(key.as_bytes()).to_string();
    assert_eq!(expected.len(), 16);
    assert!(
        expected
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    );
    for event in capture.events() {
        assert_eq!(event.str(keys::CACHE_NAME), Some("prompts"));
        assert_eq!(event.str(keys::KEY_HASH), Some(expected.as_str()));
    }
    assert_eq!(
        capture.events()[1].measurement(keys::SIZE_BYTES),
        Some(4096.0)
    );
    assert_eq!(capture.events()[3].measurement(keys::SIZE_BYTES), None);
    for text in all_strings(&capture) {
        assert!(!text.contains("Summarise"), "the raw key leaked: {text}");
    }
}

#[test]
fn a_secret_key_hasher_changes_the_hash() {
    let (_bus, capture, telemetry) = setup(TelemetryLevel::Basic);
    let secret = telemetry
        .clone()
        .with_key_hasher(KeyHasher::with_secret(*b"0123456789abcdef"));
    telemetry.cache("c").hit("k", None);
    secret.cache("c").hit("k", None);
    let hashes: Vec<String> = capture
        .events()
        .iter()
        .map(|e| e.str(keys::KEY_HASH).unwrap().to_owned())
        .collect();
    assert_ne!(hashes[0], hashes[1]);
    assert_eq!(format!("{:?}", secret.key_hasher()), "KeyHasher(secret)");
}

// ---------------------------------------------------------------------------------------------
// providers
// ---------------------------------------------------------------------------------------------

#[test]
fn provider_request_spans_carry_provider_and_status() {
    let (_bus, capture, telemetry) = setup(TelemetryLevel::Basic);
    telemetry
        .start_provider_request("openai", Some("gpt-4o"))
        .finish(200);
    telemetry.start_provider_request("openai", None).finish(503);
    let stops = capture.named("llm.provider.request.stop");
    assert_eq!(stops.len(), 2);
    assert_eq!(stops[0].str(keys::PROVIDER), Some("openai"));
    assert_eq!(stops[0].str(keys::MODEL), Some("gpt-4o"));
    assert_eq!(stops[0].str(keys::STATUS), Some("200"));
    assert_eq!(stops[0].str(keys::ERROR_TYPE), None);
    assert_eq!(stops[1].str(keys::STATUS), Some("503"));
    assert_eq!(stops[1].str(keys::ERROR_TYPE), Some("server_error"));

    telemetry
        .start_provider_request("anthropic", None)
        .fail("connect", "connection refused");
    let exception = one(&capture, "llm.provider.request.exception");
    assert_eq!(exception.str(keys::ERROR_TYPE), Some("connect"));
}

#[test]
fn rate_limits_and_auth_refreshes_belong_to_the_current_span() {
    let (_bus, capture, telemetry) = setup(TelemetryLevel::Basic);
    let attempt = telemetry.start_provider_request("openai", None);
    let attempt_id = attempt.context().unwrap().span_id;
    {
        let _inside = attempt.enter();
        telemetry.auth_refreshed("openai");
    }
    attempt.rate_limited(Duration::from_millis(1500));
    telemetry.rate_limited("openai", Duration::from_secs(3));

    let limits = capture.named("llm.provider.rate_limit");
    assert_eq!(limits.len(), 2);
    assert_eq!(limits[0].measurement(keys::RETRY_AFTER), Some(1.5));
    assert_eq!(limits[0].str(keys::PROVIDER), Some("openai"));
    assert_eq!(limits[0].str(keys::STATUS), Some("429"));
    assert_eq!(span_of(&limits[0]).span_id, attempt_id);
    assert_eq!(limits[1].measurement(keys::RETRY_AFTER), Some(3.0));
    assert_eq!(limits[1].span(), None, "outside any span");

    let refresh = one(&capture, "llm.provider.auth_refresh");
    assert_eq!(refresh.str(keys::PROVIDER), Some("openai"));
    assert_eq!(span_of(&refresh).span_id, attempt_id);

    let stop = one(&capture, "llm.provider.request.stop");
    assert_eq!(stop.str(keys::STATUS), Some("429"));
    assert_eq!(stop.str(keys::ERROR_TYPE), Some("rate_limit"));
}

// ---------------------------------------------------------------------------------------------
// levels and listening
// ---------------------------------------------------------------------------------------------

/// Runs every helper once.
fn exercise(telemetry: &Instrumentation) {
    telemetry.request("op", &[], || {
        let _ = telemetry.generate(&full_request(), || {
            Ok::<_, String>(Completion::new("secret answer", 1, 1))
        });
        let _ = telemetry.chat(
            &ChatRequest::new("m", vec![ChatMessage::user("secret question")]),
            || Ok::<_, String>(Completion::new("secret answer", 1, 1)),
        );
        let _ = telemetry.embed(&EmbedRequest::new("e", ["secret doc"]), || {
            Ok::<_, String>(Embeddings::default())
        });
        let _: Vec<_> = telemetry
            .stream_generate(
                &GenerateRequest::new("m", "secret prompt"),
                ["secret", " tokens"],
            )
            .collect();
        telemetry.cache("c").hit("secret key", None);
        telemetry
            .start_provider_request("p", None)
            .rate_limited(Duration::from_secs(1));
        telemetry.auth_refreshed("p");
    });
}

#[test]
fn disabled_emits_nothing_even_when_listened_to() {
    let (_bus, capture, telemetry) = setup(TelemetryLevel::Disabled);
    exercise(&telemetry);
    assert_eq!(capture.names(), Vec::<&str>::new());
    assert!(!telemetry.start_generate(&full_request()).is_recording());
}

#[test]
fn basic_emits_spans_without_content() {
    let (_bus, capture, telemetry) = setup(TelemetryLevel::Basic);
    exercise(&telemetry);
    let names = capture.names();
    for expected in [
        "llm.request.stop",
        "llm.generate.stop",
        "llm.chat.stop",
        "llm.embed.stop",
        "llm.stream.first_token",
        "cache.lookup.hit",
        "llm.provider.request.stop",
        "llm.provider.rate_limit",
        "llm.provider.auth_refresh",
    ] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }
    assert!(!names.contains(&"llm.stream.token"));
    for event in capture.events() {
        assert_eq!(event.str(keys::INPUT), None, "{} has input", event.name());
        assert_eq!(event.str(keys::OUTPUT), None, "{} has output", event.name());
    }
    for text in all_strings(&capture) {
        assert!(!text.contains("secret"), "content leaked at basic: {text}");
    }
}

#[test]
fn detailed_adds_content_and_verbose_adds_token_events() {
    let (_bus, detailed, telemetry) = setup(TelemetryLevel::Detailed);
    exercise(&telemetry);
    let chat = one(&detailed, "llm.chat.stop");
    assert_eq!(chat.str(keys::INPUT), Some("user: secret question"));
    assert_eq!(chat.str(keys::OUTPUT), Some("secret answer"));
    assert!(!detailed.names().contains(&"llm.stream.token"));
    assert_eq!(
        detailed.named("cache.lookup.hit")[0]
            .str(keys::KEY_HASH)
            .map(str::len),
        Some(16),
        "even detailed hashes the key"
    );

    let (_bus, verbose, telemetry) = setup(TelemetryLevel::Verbose);
    exercise(&telemetry);
    assert_eq!(verbose.named("llm.stream.token").len(), 2);
}

#[test]
fn nothing_is_built_when_nobody_listens() {
    let bus = Bus::new();
    let telemetry = Instrumentation::new(&bus, TelemetryLevel::Verbose);
    let span = telemetry.start_generate(&full_request());
    assert!(!span.is_recording());
    assert_eq!(span.context(), None);
    let text: String = span.stream(["a", "b"]).collect();
    assert_eq!(text, "ab", "the stream still passes everything through");
    assert!(
        !telemetry
            .start_embed(&EmbedRequest::new("e", ["x"]))
            .is_recording()
    );
    assert!(!telemetry.start_request("op", &[]).is_recording());
    assert!(!telemetry.start_provider_request("p", None).is_recording());
    // A listener attached later is picked up by the next call.
    let capture = Capture::attach(&bus, ["llm.generate.*"]).unwrap();
    assert!(telemetry.start_generate(&full_request()).is_recording());
    assert_eq!(capture.names(), ["llm.generate.start", "llm.generate.stop"]);
}

#[test]
fn first_token_is_emitted_even_when_only_it_is_listened_to() {
    let bus = Bus::new();
    let capture = Capture::attach(&bus, ["llm.stream.first_token"]).unwrap();
    let telemetry = Instrumentation::new(&bus, TelemetryLevel::Basic);
    let _: Vec<_> = telemetry
        .stream_generate(&GenerateRequest::new("m", "p").tenant("t"), ["a", "b"])
        .collect();
    let first = one(&capture, "llm.stream.first_token");
    assert!(first.measurement(keys::TIME_TO_FIRST_TOKEN).is_some());
    assert_eq!(first.str(keys::TENANT), Some("t"));
}

// ---------------------------------------------------------------------------------------------
// the instrumented backend
// ---------------------------------------------------------------------------------------------

#[test]
fn an_instrumented_backend_emits_the_catalog_for_every_call() {
    let (_bus, capture, telemetry) = setup(TelemetryLevel::Detailed);
    let backend = InstrumentedBackend::new(SimulatedBackend::new("simulated"), telemetry);
    let request = GenerateRequest::new("sim-8b", "Explain spans in one paragraph.").max_tokens(64);
    let completion = backend.generate(&request).unwrap();
    let chat = backend
        .chat(&ChatRequest::new(
            "sim-8b",
            vec![ChatMessage::user("Hello")],
        ))
        .unwrap();
    let embeddings = backend
        .embed(&EmbedRequest::new("sim-embed", ["a", "b"]).query(true))
        .unwrap();
    let streamed = backend.stream(&request).unwrap();
    let input_tokens = streamed.input_tokens;
    let text: String = streamed.map(|chunk| chunk.unwrap().text).collect();
    assert_eq!(
        text, completion.text,
        "the simulated stream matches generate"
    );

    let generate_stops = capture.named("llm.generate.stop");
    assert_eq!(generate_stops.len(), 2);
    for stop in &generate_stops {
        assert_eq!(stop.str(keys::PROVIDER), Some("simulated"));
        assert_eq!(
            stop.measurement(keys::OUTPUT_TOKENS),
            Some(completion.output_tokens as f64)
        );
        assert_eq!(
            stop.measurement(keys::INPUT_TOKENS),
            Some(input_tokens as f64)
        );
        assert_eq!(stop.str(keys::OUTPUT), Some(completion.text.as_str()));
    }
    assert_eq!(
        generate_stops[1].value(keys::STREAMING),
        Some(Value::Bool(true))
    );
    assert!(
        generate_stops[1]
            .measurement(keys::TIME_PER_OUTPUT_TOKEN)
            .is_some()
    );
    assert_eq!(capture.named("llm.stream.first_token").len(), 1);

    let chat_stop = one(&capture, "llm.chat.stop");
    assert_eq!(
        chat_stop.measurement(keys::OUTPUT_TOKENS),
        Some(chat.output_tokens as f64)
    );
    let embed_stop = one(&capture, "llm.embed.stop");
    assert_eq!(
        embed_stop.measurement(keys::DIMENSION),
        Some(embeddings.dimension() as f64)
    );
    assert_eq!(embed_stop.str(keys::POOLING), Some("mean"));
    assert_eq!(embed_stop.value(keys::IS_QUERY), Some(Value::Bool(true)));
}

#[test]
fn an_instrumented_backend_reports_rate_limits_and_failures() {
    let (_bus, capture, telemetry) = setup(TelemetryLevel::Basic);
    let backend = InstrumentedBackend::new(
        SimulatedBackend::new("simulated")
            .rate_limit_every(NonZeroU64::new(1).unwrap())
            .with_retry_after(Duration::from_secs(2)),
        telemetry.clone(),
    );
    let error = backend
        .generate(&GenerateRequest::new("m", "p"))
        .unwrap_err();
    assert_eq!(error.retry_after(), Some(Duration::from_secs(2)));
    assert_eq!(
        capture.names(),
        [
            "llm.generate.start",
            "llm.provider.rate_limit",
            "llm.generate.exception"
        ]
    );
    let limit = one(&capture, "llm.provider.rate_limit");
    let exception = one(&capture, "llm.generate.exception");
    assert_eq!(span_of(&limit).span_id, span_of(&exception).span_id);
    assert_eq!(limit.measurement(keys::RETRY_AFTER), Some(2.0));
    assert_eq!(exception.str(keys::ERROR_TYPE), Some("rate_limit"));
    assert_eq!(exception.str(keys::EXCEPTION_TYPE), Some("SimulatedError"));

    capture.clear();
    let failing = InstrumentedBackend::new(
        SimulatedBackend::new("sim").fail_every(NonZeroU64::new(1).unwrap()),
        telemetry,
    );
    let error = failing.stream(&GenerateRequest::new("m", "p")).unwrap_err();
    assert!(matches!(error, SimulatedError::Unavailable { call: 1, .. }));
    let exception = one(&capture, "llm.generate.exception");
    assert_eq!(exception.str(keys::ERROR_TYPE), Some("unavailable"));
    assert!(capture.named("llm.provider.rate_limit").is_empty());
}

#[test]
fn instrumented_calls_nest_under_a_request_span_across_threads() {
    let (_bus, capture, telemetry) = setup(TelemetryLevel::Basic);
    let backend = std::sync::Arc::new(InstrumentedBackend::new(
        SimulatedBackend::new("simulated"),
        telemetry.clone(),
    ));
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let backend = backend.clone();
            let telemetry = telemetry.clone();
            std::thread::spawn(move || {
                telemetry.request("hybrid_search", &[], || {
                    backend
                        .embed(&EmbedRequest::new("e", [format!("q{i}")]))
                        .unwrap();
                    backend
                        .generate(&GenerateRequest::new("m", format!("p{i}")))
                        .unwrap();
                })
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
    let requests = capture.named("llm.request.stop");
    assert_eq!(requests.len(), 4);
    for child in capture
        .events()
        .iter()
        .filter(|e| e.name() == "llm.embed.stop" || e.name() == "llm.generate.stop")
    {
        let parent = span_of(child).parent_span_id.unwrap();
        let request = requests
            .iter()
            .find(|r| span_of(r).span_id == parent)
            .expect("every call's parent is one of the request spans");
        assert_eq!(span_of(request).trace_id, span_of(child).trace_id);
    }
}

// ---------------------------------------------------------------------------------------------
// zero cost when nobody listens
// ---------------------------------------------------------------------------------------------

#[path = "support/counting.rs"]
mod counting;

#[global_allocator]
static ALLOCATOR: counting::Counting = counting::Counting;

/// Runs every helper `rounds` times and returns the allocations made meanwhile.
fn allocations_of_every_helper(telemetry: &Instrumentation, rounds: usize) -> u64 {
    let request = full_request();
    let chat = ChatRequest::new("m", vec![ChatMessage::user("secret question")]).tenant("t");
    let embed = EmbedRequest::new("e", ["secret doc"]).pooling(Pooling::Cls);
    let completion = Completion::new("secret answer", 3, 2);
    let embeddings = Embeddings {
        vectors: vec![vec![0.0; 4]],
        input_tokens: 2,
        pooling: Pooling::Cls,
    };
    let cache = telemetry.cache("prompts");
    let before = counting::allocations();
    for _ in 0..rounds {
        telemetry.start_generate(&request).finish(&completion);
        telemetry.start_chat(&chat).finish(&completion);
        telemetry.start_embed(&embed).finish(&embeddings);
        let done: Result<u8, String> = telemetry.try_request("op", &[], || Ok(1));
        assert!(done.is_ok());
        assert_eq!(
            telemetry.stream_generate(&request, ["a", "b", "c"]).count(),
            3
        );
        cache.hit("secret key", Some(10));
        cache.miss("secret key");
        telemetry.start_provider_request("p", Some("m")).finish(200);
        telemetry.rate_limited("p", Duration::from_secs(1));
        telemetry.auth_refreshed("p");
    }
    counting::allocations() - before
}

#[test]
fn helpers_allocate_nothing_when_nobody_listens_or_the_level_is_disabled() {
    let bus = Bus::new();
    let quiet = Instrumentation::new(&bus, TelemetryLevel::Verbose);
    allocations_of_every_helper(&quiet, 1); // warm up: registers names, caches interest
    assert_eq!(allocations_of_every_helper(&quiet, 20), 0, "nobody listens");

    let _capture = Capture::attach(&bus, ["*"]).unwrap();
    let disabled = Instrumentation::new(&bus, TelemetryLevel::Disabled);
    allocations_of_every_helper(&disabled, 1);
    assert_eq!(
        allocations_of_every_helper(&disabled, 20),
        0,
        "level disabled"
    );

    // The counter does see allocations: the same calls, listened to, allocate.
    let listened = Instrumentation::new(&bus, TelemetryLevel::Basic);
    assert!(allocations_of_every_helper(&listened, 1) > 0);
}

// ---------------------------------------------------------------------------------------------
// a service-shaped workload (what examples/inference_service.rs does, without handlers)
// ---------------------------------------------------------------------------------------------

#[test]
fn a_two_tenant_workload_accounts_for_every_token() {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    let config = llm_telemetry::config::Config::builder()
        .level(TelemetryLevel::Basic)
        .build()
        .unwrap();
    let bus = Bus::new();
    let capture = Capture::attach(&bus, ["*"]).unwrap();
    let telemetry = config.instrumentation(&bus);
    let backend = Arc::new(InstrumentedBackend::new(
        SimulatedBackend::new("simulated")
            .rate_limit_every(NonZeroU64::new(7).unwrap())
            .fail_every(NonZeroU64::new(5).unwrap()),
        telemetry.clone(),
    ));
    let answers: Arc<Mutex<HashMap<String, String>>> = Arc::default();
    let produced = Arc::new(Mutex::new(0u64));

    let workers: Vec<_> = ["acme", "globex"]
        .into_iter()
        .map(|tenant| {
            let (backend, telemetry) = (backend.clone(), telemetry.clone());
            let (answers, produced) = (answers.clone(), produced.clone());
            std::thread::spawn(move || {
                let cache = telemetry.cache("answers");
                for i in 0..30 {
                    let question = format!("question {}", i % 12);
                    telemetry.request("answer", &[(keys::TENANT, Value::Str(tenant))], || {
                        if answers.lock().unwrap().contains_key(&question) {
                            cache.hit(&question, None);
                            return;
                        }
                        cache.miss(&question);
                        let request = GenerateRequest::new("sim-8b", question.clone())
                            .max_tokens(64)
                            .tenant(tenant);
                        let text = if i % 2 == 0 {
                            backend.generate(&request).map(|c| {
                                *produced.lock().unwrap() += c.output_tokens;
                                c.text
                            })
                        } else {
                            backend.stream(&request).map(|stream| {
                                stream
                                    .filter_map(Result::ok)
                                    .map(|chunk| {
                                        *produced.lock().unwrap() += chunk.tokens;
                                        chunk.text
                                    })
                                    .collect()
                            })
                        };
                        if let Ok(text) = text {
                            cache.put(&question, Some(text.len() as u64));
                            answers.lock().unwrap().insert(question.clone(), text);
                        }
                    });
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }

    let stops = capture.named("llm.generate.stop");
    let emitted: f64 = stops
        .iter()
        .map(|e| e.measurement(keys::OUTPUT_TOKENS).unwrap())
        .sum();
    assert_eq!(
        emitted,
        *produced.lock().unwrap() as f64,
        "every generated token is reported once"
    );
    for stop in &stops {
        let tenant = stop.str(keys::TENANT).unwrap();
        assert!(tenant == "acme" || tenant == "globex");
        assert_eq!(stop.str(keys::PROVIDER), Some("simulated"));
    }
    let calls = backend.inner().calls();
    let exceptions = capture.named("llm.generate.exception").len() as u64;
    assert_eq!(
        stops.len() as u64 + exceptions,
        calls,
        "each backend call ends once"
    );
    assert!(exceptions > 0, "the configured failures happened");
    assert_eq!(
        capture.named("llm.provider.rate_limit").len() as u64,
        calls / 7,
        "every 7th call is rate limited"
    );
    assert_eq!(capture.named("llm.request.stop").len(), 60);
    assert_eq!(
        capture.named("cache.lookup.hit").len() + capture.named("cache.lookup.miss").len(),
        60
    );
}
