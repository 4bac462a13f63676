//! The typed requests and results the helpers read: [`GenerateRequest`], [`ChatRequest`],
//! [`EmbedRequest`], [`Completion`] and [`Embeddings`].
//!
//! These are plain data, shared by the span helpers and the [`crate::instrument::InferenceBackend`]
//! trait; nothing here emits events.

use std::fmt;

/// Sampling and routing options shared by [`GenerateRequest`] and [`ChatRequest`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GenerationOptions {
    /// The model to run (`gen_ai.request.model`).
    pub model: String,
    /// The most tokens to generate (`gen_ai.request.max_tokens`).
    pub max_tokens: Option<u32>,
    /// Sampling temperature (`gen_ai.request.temperature`).
    pub temperature: Option<f64>,
    /// Nucleus-sampling mass (`gen_ai.request.top_p`).
    pub top_p: Option<f64>,
    /// Sampling seed (`gen_ai.request.seed`).
    pub seed: Option<u64>,
    /// The compute device the model runs on (`cpu`, `gpu`; `mlx.device` on MLX spans).
    pub device: Option<String>,
    /// Stop sequences (`gen_ai.request.stop_sequences`, joined by newlines).
    pub stop: Vec<String>,
    /// Whether the response is streamed (`streaming`).
    pub streaming: bool,
    /// The provider (`gen_ai.provider.name`); an instrumented backend fills in its own when `None`.
    pub provider: Option<String>,
    /// The tenant the call is billed to (`tenant`).
    pub tenant: Option<String>,
}

impl GenerationOptions {
    /// Options for `model`, everything else unset.
    pub fn new(model: impl Into<String>) -> Self {
        Self {
            model: model.into(),
            ..Self::default()
        }
    }
}

/// Builder methods shared by the two generation requests.
macro_rules! generation_builders {
    ($ty:ident) => {
        impl $ty {
            /// Sets `max_tokens`.
            pub fn max_tokens(mut self, max_tokens: u32) -> Self {
                self.options.max_tokens = Some(max_tokens);
                self
            }
            /// Sets `temperature`.
            pub fn temperature(mut self, temperature: f64) -> Self {
                self.options.temperature = Some(temperature);
                self
            }
            /// Sets `top_p`.
            pub fn top_p(mut self, top_p: f64) -> Self {
                self.options.top_p = Some(top_p);
                self
            }
            /// Sets the sampling seed.
            pub fn seed(mut self, seed: u64) -> Self {
                self.options.seed = Some(seed);
                self
            }
            /// Sets the compute device (`cpu`, `gpu`), shown as `mlx.device` on MLX spans.
            pub fn device(mut self, device: impl Into<String>) -> Self {
                self.options.device = Some(device.into());
                self
            }
            /// Adds a stop sequence.
            pub fn stop(mut self, sequence: impl Into<String>) -> Self {
                self.options.stop.push(sequence.into());
                self
            }
            /// Marks the request as streamed.
            pub fn streaming(mut self, streaming: bool) -> Self {
                self.options.streaming = streaming;
                self
            }
            /// Sets the provider.
            pub fn provider(mut self, provider: impl Into<String>) -> Self {
                self.options.provider = Some(provider.into());
                self
            }
            /// Sets the tenant.
            pub fn tenant(mut self, tenant: impl Into<String>) -> Self {
                self.options.tenant = Some(tenant.into());
                self
            }
        }
    };
}

/// A text-generation request: a prompt and [`GenerationOptions`]. Emits `llm.generate.*`.
///
/// ```
/// use llm_telemetry_genai::instrument::GenerateRequest;
/// let request = GenerateRequest::new("llama-3.1-8b", "Why is the sky blue?")
///     .max_tokens(128)
///     .temperature(0.7)
///     .tenant("acme");
/// assert_eq!(request.options.max_tokens, Some(128));
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GenerateRequest {
    /// The prompt (`input.value` at the `detailed` level).
    pub prompt: String,
    /// Model, sampling and routing options.
    pub options: GenerationOptions,
}

impl GenerateRequest {
    /// A request for `model` to continue `prompt`.
    pub fn new(model: impl Into<String>, prompt: impl Into<String>) -> Self {
        Self {
            prompt: prompt.into(),
            options: GenerationOptions::new(model),
        }
    }
}
generation_builders!(GenerateRequest);

/// Who wrote a chat message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// System instructions.
    System,
    /// The user.
    User,
    /// The model.
    Assistant,
    /// A tool's result.
    Tool,
}

impl Role {
    /// The lowercase name (`"user"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One chat message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChatMessage {
    /// Who wrote it.
    pub role: Role,
    /// What it says.
    pub content: String,
}

impl ChatMessage {
    /// A message from `role`.
    pub fn new(role: Role, content: impl Into<String>) -> Self {
        Self {
            role,
            content: content.into(),
        }
    }
    /// A system message.
    pub fn system(content: impl Into<String>) -> Self {
        Self::new(Role::System, content)
    }
    /// A user message.
    pub fn user(content: impl Into<String>) -> Self {
        Self::new(Role::User, content)
    }
    /// An assistant message.
    pub fn assistant(content: impl Into<String>) -> Self {
        Self::new(Role::Assistant, content)
    }
}

/// A chat request: messages and [`GenerationOptions`]. Emits `llm.chat.*`.
///
/// ```
/// use llm_telemetry_genai::instrument::{ChatMessage, ChatRequest};
/// let request = ChatRequest::new("gpt-4o-mini", vec![ChatMessage::user("Hello!")]).max_tokens(64);
/// assert_eq!(request.prompt_text(), "user: Hello!");
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ChatRequest {
    /// The conversation so far.
    pub messages: Vec<ChatMessage>,
    /// Model, sampling and routing options.
    pub options: GenerationOptions,
}

impl ChatRequest {
    /// A chat request for `model`.
    pub fn new(model: impl Into<String>, messages: Vec<ChatMessage>) -> Self {
        Self {
            messages,
            options: GenerationOptions::new(model),
        }
    }

    /// The conversation as text, one `role: content` line per message (what `input.value`
    /// carries at the `detailed` level, and what the default [`crate::instrument::InferenceBackend::chat`]
    /// sends to `generate`).
    pub fn prompt_text(&self) -> String {
        let mut text = String::with_capacity(self.prompt_length() + self.messages.len() * 12);
        for (i, message) in self.messages.iter().enumerate() {
            if i > 0 {
                text.push('\n');
            }
            text.push_str(message.role.as_str());
            text.push_str(": ");
            text.push_str(&message.content);
        }
        text
    }

    /// The messages as GenAI's `gen_ai.input.messages` JSON: one object per message with its
    /// `role` and one text part.
    ///
    /// ```
    /// use llm_telemetry_genai::instrument::{ChatMessage, ChatRequest};
    /// let request = ChatRequest::new("m", vec![ChatMessage::system("Be brief."), ChatMessage::user("Say \"hi\"")]);
    /// assert_eq!(
    ///     request.messages_json(),
    ///     r#"[{"role":"system","parts":[{"type":"text","content":"Be brief."}]},{"role":"user","parts":[{"type":"text","content":"Say \"hi\""}]}]"#
    /// );
    /// ```
    pub fn messages_json(&self) -> String {
        let mut json = String::with_capacity(self.prompt_length() + self.messages.len() * 64);
        json.push('[');
        for (i, message) in self.messages.iter().enumerate() {
            if i > 0 {
                json.push(',');
            }
            json.push_str("{\"role\":");
            json_string(&mut json, message.role.as_str());
            json.push_str(",\"parts\":[{\"type\":\"text\",\"content\":");
            json_string(&mut json, &message.content);
            json.push_str("}]}");
        }
        json.push(']');
        json
    }

    /// The total length of the messages' contents, in characters (`prompt_length`).
    pub fn prompt_length(&self) -> usize {
        self.messages
            .iter()
            .map(|m| m.content.chars().count())
            .sum()
    }
}
generation_builders!(ChatRequest);

/// Why a generation finished (`gen_ai.response.finish_reasons`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub enum FinishReason {
    /// The model ended its answer or hit a stop sequence.
    #[default]
    Stop,
    /// `max_tokens` was reached.
    Length,
    /// A content filter cut the answer.
    ContentFilter,
    /// The model asked for tool calls.
    ToolCalls,
    /// Another provider-specific reason.
    Other(String),
}

impl FinishReason {
    /// The name providers use (`"stop"`, `"length"`, …).
    pub fn as_str(&self) -> &str {
        match self {
            FinishReason::Stop => "stop",
            FinishReason::Length => "length",
            FinishReason::ContentFilter => "content_filter",
            FinishReason::ToolCalls => "tool_calls",
            FinishReason::Other(other) => other,
        }
    }
}

impl fmt::Display for FinishReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The result of a generation or chat call: the text and its token usage.
///
/// ```
/// use llm_telemetry_genai::instrument::{Completion, FinishReason};
/// let done = Completion::new("Rayleigh scattering.", 7, 4).finish_reason(FinishReason::Stop);
/// assert_eq!(done.total_tokens(), 11);
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Completion {
    /// The generated text (`output.value` at the `detailed` level).
    pub text: String,
    /// Prompt tokens (`input_tokens`).
    pub input_tokens: u64,
    /// Generated tokens (`output_tokens`).
    pub output_tokens: u64,
    /// Why it finished.
    pub finish_reason: FinishReason,
    /// The model that answered, when it differs from the requested one (`gen_ai.response.model`).
    pub response_model: Option<String>,
    /// Prompt tokens read from the provider's prompt cache (`cache_read_tokens`; 0: none or
    /// unknown, not emitted).
    pub cache_read_tokens: u64,
    /// Prompt tokens written to the provider's prompt cache (`cache_write_tokens`; 0: not emitted).
    pub cache_write_tokens: u64,
    /// Reasoning tokens, included in `output_tokens` (`reasoning_tokens`; 0: not emitted).
    pub reasoning_tokens: u64,
}

impl Completion {
    /// A completion with `text` and its token counts, finished normally.
    pub fn new(text: impl Into<String>, input_tokens: u64, output_tokens: u64) -> Self {
        Self {
            text: text.into(),
            input_tokens,
            output_tokens,
            finish_reason: FinishReason::Stop,
            response_model: None,
            cache_read_tokens: 0,
            cache_write_tokens: 0,
            reasoning_tokens: 0,
        }
    }
    /// Sets why it finished.
    pub fn finish_reason(mut self, reason: FinishReason) -> Self {
        self.finish_reason = reason;
        self
    }
    /// Sets the model that answered.
    pub fn response_model(mut self, model: impl Into<String>) -> Self {
        self.response_model = Some(model.into());
        self
    }
    /// Sets the prompt-cache token counts (read from and written to the provider's cache).
    pub fn prompt_cache_tokens(mut self, read: u64, written: u64) -> Self {
        self.cache_read_tokens = read;
        self.cache_write_tokens = written;
        self
    }
    /// Sets the reasoning token count.
    pub fn reasoning_tokens(mut self, reasoning: u64) -> Self {
        self.reasoning_tokens = reasoning;
        self
    }
    /// Prompt plus generated tokens.
    pub fn total_tokens(&self) -> u64 {
        self.input_tokens.saturating_add(self.output_tokens)
    }
}

/// How token vectors were pooled into one embedding (`embedding.pooling`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Pooling {
    /// The mean of the token vectors.
    #[default]
    Mean,
    /// The `[CLS]` token's vector.
    Cls,
    /// The last token's vector (decoder models).
    LastToken,
    /// The element-wise maximum.
    Max,
}

impl Pooling {
    /// The lowercase name (`"mean"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Pooling::Mean => "mean",
            Pooling::Cls => "cls",
            Pooling::LastToken => "last_token",
            Pooling::Max => "max",
        }
    }
}

impl fmt::Display for Pooling {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An embedding request. Emits `llm.embed.*`.
///
/// ```
/// use llm_telemetry_genai::instrument::{EmbedRequest, Pooling};
/// let request = EmbedRequest::new("bge-small", ["what is rust?"]).query(true).pooling(Pooling::Cls);
/// assert_eq!(request.batch_size(), 1);
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EmbedRequest {
    /// The embedding model (`gen_ai.request.model`).
    pub model: String,
    /// The texts to embed (`input.value` at the `detailed` level, joined by newlines).
    pub inputs: Vec<String>,
    /// Whether the inputs are search queries rather than documents (`embedding.is_query`).
    pub is_query: bool,
    /// How many inputs the backend embeds per batch; `None` means all at once.
    pub batch_size: Option<usize>,
    /// The pooling asked for; `None` lets the backend choose (the result says which it used).
    pub pooling: Option<Pooling>,
    /// The provider (`gen_ai.provider.name`).
    pub provider: Option<String>,
    /// The tenant the call is billed to.
    pub tenant: Option<String>,
    /// The compute device the model runs on (`cpu`, `gpu`; `mlx.device` on MLX spans).
    pub device: Option<String>,
}

impl EmbedRequest {
    /// A request to embed `inputs` with `model`.
    pub fn new<I, S>(model: impl Into<String>, inputs: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            model: model.into(),
            inputs: inputs.into_iter().map(Into::into).collect(),
            ..Self::default()
        }
    }
    /// Marks the inputs as queries (`true`) or documents (`false`).
    pub fn query(mut self, is_query: bool) -> Self {
        self.is_query = is_query;
        self
    }
    /// Sets the batch size.
    pub fn with_batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = Some(batch_size);
        self
    }
    /// Asks for a pooling.
    pub fn pooling(mut self, pooling: Pooling) -> Self {
        self.pooling = Some(pooling);
        self
    }
    /// Sets the provider.
    pub fn provider(mut self, provider: impl Into<String>) -> Self {
        self.provider = Some(provider.into());
        self
    }
    /// Sets the tenant.
    pub fn tenant(mut self, tenant: impl Into<String>) -> Self {
        self.tenant = Some(tenant.into());
        self
    }
    /// Sets the compute device (`cpu`, `gpu`), shown as `mlx.device` on MLX spans.
    pub fn device(mut self, device: impl Into<String>) -> Self {
        self.device = Some(device.into());
        self
    }
    /// The effective batch size (`batch_size` measurement): the configured one, capped at the
    /// number of inputs, or the number of inputs.
    pub fn batch_size(&self) -> usize {
        match self.batch_size {
            Some(size) if size > 0 => size.min(self.inputs.len()),
            _ => self.inputs.len(),
        }
    }
    /// The total length of the inputs, in characters (`prompt_length`).
    pub fn input_length(&self) -> usize {
        self.inputs.iter().map(|s| s.chars().count()).sum()
    }
}

/// The result of an embedding call.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Embeddings {
    /// One vector per input.
    pub vectors: Vec<Vec<f32>>,
    /// Tokens read (`input_tokens`).
    pub input_tokens: u64,
    /// The pooling actually used (`embedding.pooling` on the stop event).
    pub pooling: Pooling,
}

impl Embeddings {
    /// The vectors' dimension (0 when there are none).
    pub fn dimension(&self) -> usize {
        self.vectors.first().map_or(0, Vec::len)
    }
}

/// Whether `b` must be escaped inside a JSON string (`"`, `\\` and control bytes; the bytes
/// of a multi-byte UTF-8 sequence never are).
#[inline(always)]
fn needs_escape(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\'
}

/// The index of the first byte at or after `from` that needs an escape. Checks 16 bytes at a
/// time without an early exit inside the chunk (so the check vectorizes), then finds the byte
/// in the one chunk that has it.
fn next_escape(bytes: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while let Some(chunk) = bytes.get(i..i + 16) {
        if chunk.iter().fold(false, |any, &b| any | needs_escape(b)) {
            return chunk.iter().position(|&b| needs_escape(b)).map(|at| i + at);
        }
        i += 16;
    }
    bytes
        .get(i..)?
        .iter()
        .position(|&b| needs_escape(b))
        .map(|at| i + at)
}

/// Appends `text` as a JSON string literal.
///
/// Runs of bytes that need no escape are found 16 bytes at a time and copied whole, so a
/// prompt of plain text costs a vector scan and one copy rather than a push per character.
pub(crate) fn json_string(out: &mut String, text: &str) {
    use std::fmt::Write;
    out.reserve(text.len() + 2);
    out.push('"');
    let bytes = text.as_bytes();
    let mut run = 0;
    while let Some(i) = next_escape(bytes, run) {
        // `i` is at an ASCII byte, so both slices end on character boundaries.
        out.push_str(&text[run..i]);
        match bytes[i] {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            // Writing to a String cannot fail.
            b => {
                let _ = write!(out, "\\u{:04x}", b);
            }
        }
        run = i + 1;
    }
    out.push_str(&text[run..]);
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::json_string;
    use proptest::prelude::*;

    /// Reads back a JSON string literal written by [`json_string`] (a minimal decoder for the
    /// escapes it writes), or says where it is malformed.
    fn decode(literal: &str) -> Result<String, String> {
        let inner = literal
            .strip_prefix('"')
            .and_then(|s| s.strip_suffix('"'))
            .ok_or_else(|| format!("not quoted: {literal:?}"))?;
        let mut out = String::new();
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some('"') => out.push('"'),
                    Some('\\') => out.push('\\'),
                    Some('n') => out.push('\n'),
                    Some('r') => out.push('\r'),
                    Some('t') => out.push('\t'),
                    Some('u') => {
                        let hex: String = chars.by_ref().take(4).collect();
                        let code = u32::from_str_radix(&hex, 16).map_err(|e| e.to_string())?;
                        out.push(char::from_u32(code).ok_or("bad escape")?);
                    }
                    other => return Err(format!("bad escape {other:?}")),
                },
                '"' => return Err("unescaped quote".into()),
                c if u32::from(c) < 0x20 => return Err(format!("raw control {c:?}")),
                c => out.push(c),
            }
        }
        Ok(out)
    }

    fn encoded(text: &str) -> String {
        let mut out = String::new();
        json_string(&mut out, text);
        out
    }

    #[test]
    fn plain_text_escapes_and_multibyte_characters() {
        assert_eq!(encoded("plain"), r#""plain""#);
        assert_eq!(encoded("a\"b\\c\nd\re\tf"), r#""a\"b\\c\nd\re\tf""#);
        assert_eq!(encoded("\u{1}x\u{1f}"), r#""\u0001x\u001f""#);
        assert_eq!(
            encoded("héllo \"wörld\" 日本"),
            "\"héllo \\\"wörld\\\" 日本\""
        );
        assert_eq!(encoded(""), r#""""#);
        // Escapes on both sides of a 16-byte chunk boundary, and in the tail.
        let long = format!(
            "{}\"{}\n{}\\",
            "a".repeat(15),
            "b".repeat(16),
            "é".repeat(9)
        );
        assert_eq!(decode(&encoded(&long)), Ok(long));
    }

    proptest! {
        #[test]
        fn any_text_reads_back_unchanged(text in any::<String>()) {
            prop_assert_eq!(decode(&encoded(&text)), Ok(text));
        }

        #[test]
        fn long_texts_with_escapes_anywhere_read_back_unchanged(
            text in "[a-z \"\\\\\n\u{1}é日]{0,200}"
        ) {
            prop_assert_eq!(decode(&encoded(&text)), Ok(text));
        }
    }
}
