//! [`OpenAiClient`]: calls an OpenAI-compatible provider (`/chat/completions`, `/embeddings`)
//! over reqwest, instrumented: an `llm.chat` (or `llm.embed`) span with the usage the provider
//! returned, around an `llm.provider.request` span per HTTP request whose context is sent as
//! `traceparent`, so the provider's own spans (when it traces) nest under it.
//!
//! A 429 emits `llm.provider.rate_limit` with the `Retry-After` the provider sent; a failing
//! status or transport error ends both spans in error. Streaming is not offered here.
//!
//! The reqwest client is the caller's: when reqwest's `rustls-no-provider` feature is on (as in
//! this workspace, through the OTLP handler), install a rustls crypto provider before building it.

use std::time::Duration;

use http::header::{CONTENT_TYPE, RETRY_AFTER};
use llm_telemetry_core::{SpanContext, context};
use llm_telemetry_genai::instrument::{
    ChatRequest, Completion, EmbedRequest, Embeddings, FinishReason, Instrumentation,
};
use serde_json::{Value, json};

use crate::names::headers::TRACEPARENT;

/// Why a provider call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No response: connection refused, timeout, reset.
    #[error(
        "request to {url} failed: {source}; check that the provider is reachable at that address"
    )]
    Transport {
        /// The URL called.
        url: String,
        /// reqwest's error.
        #[source]
        source: reqwest::Error,
    },
    /// The provider answered with a failing status.
    #[error("{url} answered {status}: {message}")]
    Status {
        /// The URL called.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The provider's `error.message` (or the body when it has none).
        message: String,
        /// The provider's `error.code`, when given.
        code: Option<String>,
    },
    /// The answer is not the OpenAI document expected.
    #[error("{url} answered with a body that is not an OpenAI response ({reason}): {body}")]
    Decode {
        /// The URL called.
        url: String,
        /// What is missing or malformed.
        reason: String,
        /// The start of the body.
        body: String,
    },
}

impl ClientError {
    /// A low-cardinality class for `error.type`.
    pub fn error_type(&self) -> &'static str {
        match self {
            ClientError::Transport { source, .. } if source.is_timeout() => "timeout",
            ClientError::Transport { .. } => "transport",
            ClientError::Status { status, .. } => {
                llm_telemetry_genai::instrument::error_type_for_status(*status)
                    .unwrap_or("client_error")
            }
            ClientError::Decode { .. } => "decode",
        }
    }
}

/// An instrumented client for one OpenAI-compatible provider.
///
/// ```no_run
/// # async fn demo() -> Result<(), llm_telemetry_tower::client::ClientError> {
/// use llm_telemetry_core::Bus;
/// use llm_telemetry_genai::instrument::{ChatMessage, ChatRequest, Instrumentation, TelemetryLevel};
/// use llm_telemetry_tower::client::OpenAiClient;
/// let telemetry = Instrumentation::new(&Bus::new(), TelemetryLevel::Basic);
/// let client = OpenAiClient::new(reqwest::Client::new(), "http://127.0.0.1:8080/v1", "openai", telemetry);
/// let answer = client.chat(&ChatRequest::new("gpt-4o-mini", vec![ChatMessage::user("Hi")])).await?;
/// println!("{} ({} tokens)", answer.text, answer.output_tokens);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct OpenAiClient {
    http: reqwest::Client,
    base_url: String,
    provider: String,
    api_key: Option<String>,
    telemetry: Instrumentation,
}

/// The most body kept in a [`ClientError::Decode`].
const BODY_EXCERPT: usize = 200;

impl OpenAiClient {
    /// Calls the API at `base_url` (ending in `/v1`) with `http`, naming `provider` on the spans.
    pub fn new(
        http: reqwest::Client,
        base_url: impl Into<String>,
        provider: impl Into<String>,
        telemetry: Instrumentation,
    ) -> Self {
        Self {
            http,
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            provider: provider.into(),
            api_key: None,
            telemetry,
        }
    }

    /// Sends `Authorization: Bearer <key>`.
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    /// One chat completion inside an `llm.chat` span.
    pub async fn chat(&self, request: &ChatRequest) -> Result<Completion, ClientError> {
        let mut request = request.clone();
        request
            .options
            .provider
            .get_or_insert_with(|| self.provider.clone());
        let span = self.telemetry.start_chat(&request);
        let options = &request.options;
        let messages: Vec<Value> = request
            .messages
            .iter()
            .map(|m| json!({"role": m.role.as_str(), "content": m.content}))
            .collect();
        let mut body = json!({"model": options.model, "messages": messages});
        if let Some(max) = options.max_tokens {
            body["max_tokens"] = json!(max);
        }
        if let Some(t) = options.temperature {
            body["temperature"] = json!(t);
        }
        if let Some(p) = options.top_p {
            body["top_p"] = json!(p);
        }
        if let Some(seed) = options.seed {
            body["seed"] = json!(seed);
        }
        if !options.stop.is_empty() {
            body["stop"] = json!(options.stop);
        }
        let parent = span.context().or_else(context::current);
        let answer = self
            .post("/chat/completions", &options.model, &body, parent)
            .await
            .and_then(|(url, document)| completion(&url, &document));
        match answer {
            Ok(completion) => {
                span.finish(&completion);
                Ok(completion)
            }
            Err(error) => {
                span.fail(error.error_type(), &error.to_string());
                Err(error)
            }
        }
    }

    /// Embeds `request.inputs` inside an `llm.embed` span.
    pub async fn embed(&self, request: &EmbedRequest) -> Result<Embeddings, ClientError> {
        let mut request = request.clone();
        request
            .provider
            .get_or_insert_with(|| self.provider.clone());
        let span = self.telemetry.start_embed(&request);
        let body =
            json!({"model": request.model, "input": request.inputs, "encoding_format": "float"});
        let parent = span.context().or_else(context::current);
        let answer = self
            .post("/embeddings", &request.model, &body, parent)
            .await
            .and_then(|(url, document)| embeddings(&url, &document));
        match answer {
            Ok(embeddings) => {
                span.finish(&embeddings);
                Ok(embeddings)
            }
            Err(error) => {
                span.fail(error.error_type(), &error.to_string());
                Err(error)
            }
        }
    }

    /// POSTs `body` inside an `llm.provider.request` span (child of `parent`), sending its
    /// context as `traceparent`; the parsed JSON answer of a successful status.
    async fn post(
        &self,
        path: &str,
        model: &str,
        body: &Value,
        parent: Option<SpanContext>,
    ) -> Result<(String, Value), ClientError> {
        let url = format!("{}{path}", self.base_url);
        let attempt = {
            let _parent = context::enter(parent);
            self.telemetry
                .start_provider_request(&self.provider, Some(model))
        };
        let mut builder = self
            .http
            .post(&url)
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_string());
        if let Some(value) = attempt
            .context()
            .or(parent)
            .as_ref()
            .and_then(crate::propagation::header_value)
        {
            builder = builder.header(TRACEPARENT, value);
        }
        if let Some(key) = &self.api_key {
            builder = builder.bearer_auth(key);
        }
        let response = match builder.send().await {
            Ok(response) => response,
            Err(source) => {
                let error = ClientError::Transport { url, source };
                attempt.fail(error.error_type(), &error.to_string());
                return Err(error);
            }
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(Duration::from_secs_f64);
        let text = match response.text().await {
            Ok(text) => text,
            Err(source) => {
                let error = ClientError::Transport { url, source };
                attempt.fail(error.error_type(), &error.to_string());
                return Err(error);
            }
        };
        match (status, retry_after) {
            (429, Some(wait)) => attempt.rate_limited(wait),
            _ => attempt.finish(status),
        }
        let document: Result<Value, _> = serde_json::from_str(&text);
        if !(200..300).contains(&status) {
            let error = document.as_ref().ok().and_then(|d| d.get("error"));
            return Err(ClientError::Status {
                url,
                status,
                message: error
                    .and_then(|e| e.get("message"))
                    .and_then(Value::as_str)
                    .map_or_else(|| excerpt(&text), str::to_owned),
                code: error
                    .and_then(|e| e.get("code"))
                    .and_then(Value::as_str)
                    .map(str::to_owned),
            });
        }
        match document {
            Ok(document) => Ok((url, document)),
            Err(e) => Err(ClientError::Decode {
                url,
                reason: e.to_string(),
                body: excerpt(&text),
            }),
        }
    }
}

fn excerpt(text: &str) -> String {
    text.chars().take(BODY_EXCERPT).collect()
}

fn decode_error(url: &str, reason: &str, document: &Value) -> ClientError {
    ClientError::Decode {
        url: url.to_owned(),
        reason: reason.to_owned(),
        body: excerpt(&document.to_string()),
    }
}

fn count(value: Option<&Value>) -> u64 {
    value.and_then(Value::as_u64).unwrap_or(0)
}

/// The [`Completion`] of a `chat.completion` document, usage included.
fn completion(url: &str, document: &Value) -> Result<Completion, ClientError> {
    let choice = document
        .get("choices")
        .and_then(|c| c.get(0))
        .ok_or_else(|| decode_error(url, "no choices[0]", document))?;
    let text = choice
        .pointer("/message/content")
        .and_then(Value::as_str)
        .unwrap_or("");
    let usage = document.get("usage");
    let mut completion = Completion::new(
        text,
        count(usage.and_then(|u| u.get("prompt_tokens"))),
        count(usage.and_then(|u| u.get("completion_tokens"))),
    );
    completion.finish_reason = match choice.get("finish_reason").and_then(Value::as_str) {
        None | Some("stop") => FinishReason::Stop,
        Some("length") => FinishReason::Length,
        Some("content_filter") => FinishReason::ContentFilter,
        Some("tool_calls") => FinishReason::ToolCalls,
        Some(other) => FinishReason::Other(other.to_owned()),
    };
    completion.response_model = document
        .get("model")
        .and_then(Value::as_str)
        .map(str::to_owned);
    completion.cache_read_tokens =
        count(usage.and_then(|u| u.pointer("/prompt_tokens_details/cached_tokens")));
    completion.reasoning_tokens =
        count(usage.and_then(|u| u.pointer("/completion_tokens_details/reasoning_tokens")));
    Ok(completion)
}

/// The [`Embeddings`] of an embeddings `list` document (float encoding).
fn embeddings(url: &str, document: &Value) -> Result<Embeddings, ClientError> {
    let data = document
        .get("data")
        .and_then(Value::as_array)
        .ok_or_else(|| decode_error(url, "no data array", document))?;
    let vectors = data
        .iter()
        .map(|item| {
            item.get("embedding")
                .and_then(Value::as_array)
                .map(|v| {
                    v.iter()
                        .filter_map(Value::as_f64)
                        .map(|x| x as f32)
                        .collect()
                })
                .ok_or_else(|| decode_error(url, "an item has no float embedding", document))
        })
        .collect::<Result<Vec<Vec<f32>>, _>>()?;
    Ok(Embeddings {
        vectors,
        input_tokens: count(document.pointer("/usage/prompt_tokens")),
        ..Embeddings::default()
    })
}
