//! Response shapes as OpenAI-dialect servers actually send them. Only the types that differ
//! from core's canonical ones live here: every field is optional or lenient because DeepSeek,
//! vLLM, Groq, Together, Mistral and Ollama each leave something out or add something.
//! Requests need no wire types: they are core's `ChatRequest` serialised, then adjusted.

use serde::Deserialize;
use serde_json::{Map, Value};
use switchyard_core::{FinishReason, Role};

/// `chat.completion`, non-streamed.
#[derive(Debug, Deserialize)]
pub struct WireResponse {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub created: Option<i64>,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub choices: Vec<WireChoice>,
    #[serde(default)]
    pub usage: Option<WireUsage>,
    #[serde(default)]
    pub system_fingerprint: Option<String>,
    #[serde(default)]
    pub service_tier: Option<String>,
    /// An error delivered with a 2xx status.
    #[serde(default)]
    pub error: Option<Value>,
}

#[derive(Debug, Deserialize)]
pub struct WireChoice {
    #[serde(default)]
    pub index: u32,
    #[serde(default)]
    pub message: WireMessage,
    #[serde(default)]
    pub finish_reason: Option<FinishReason>,
    /// OpenAI `{content, refusal}` or Together's `{tokens, token_logprobs, top_logprobs}`.
    #[serde(default)]
    pub logprobs: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
pub struct WireMessage {
    #[serde(default)]
    pub role: Option<Role>,
    /// A string almost everywhere; Mistral's reasoning models send an array of typed chunks.
    #[serde(default)]
    pub content: Option<Value>,
    #[serde(default)]
    pub refusal: Option<String>,
    #[serde(default)]
    pub tool_calls: Option<Vec<WireToolCall>>,
    /// DeepSeek, DashScope, older vLLM.
    #[serde(default)]
    pub reasoning_content: Option<String>,
    /// vLLM since early 2026, OpenRouter-style servers.
    #[serde(default)]
    pub reasoning: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct WireToolCall {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    pub function: WireFunction,
}

#[derive(Debug, Deserialize)]
pub struct WireFunction {
    #[serde(default)]
    pub name: Option<String>,
    /// A JSON string per the spec; some local servers send the object itself.
    #[serde(default)]
    pub arguments: Option<Value>,
}

/// `chat.completion.chunk`, or an error event delivered on a 200 stream.
#[derive(Debug, Deserialize)]
pub struct WireChunk {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub created: Option<i64>,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub choices: Vec<WireChunkChoice>,
    #[serde(default)]
    pub usage: Option<WireUsage>,
    /// Groq puts the stream's usage here on the last chunk.
    #[serde(default)]
    pub x_groq: Option<XGroq>,
    #[serde(default)]
    pub system_fingerprint: Option<String>,
    #[serde(default)]
    pub error: Option<Value>,
}

#[derive(Debug, Deserialize)]
pub struct XGroq {
    #[serde(default)]
    pub usage: Option<WireUsage>,
}

#[derive(Debug, Deserialize)]
pub struct WireChunkChoice {
    #[serde(default)]
    pub index: u32,
    #[serde(default)]
    pub delta: WireDelta,
    #[serde(default)]
    pub finish_reason: Option<FinishReason>,
    /// OpenAI object, Together object, or Together's bare per-token number.
    #[serde(default)]
    pub logprobs: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
pub struct WireDelta {
    #[serde(default)]
    pub role: Option<Role>,
    #[serde(default)]
    pub content: Option<Value>,
    #[serde(default)]
    pub reasoning_content: Option<String>,
    #[serde(default)]
    pub reasoning: Option<String>,
    #[serde(default)]
    pub tool_calls: Option<Vec<WireToolCallDelta>>,
    #[serde(default)]
    pub refusal: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct WireToolCallDelta {
    /// Required by OpenAI's schema, missing from some servers that send whole calls at once.
    #[serde(default)]
    pub index: Option<u32>,
    #[serde(default)]
    pub id: Option<String>,
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub function: Option<WireFunction>,
}

/// Usage with every field optional: servers send `null` details, DeepSeek adds cache counters.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct WireUsage {
    #[serde(default)]
    pub prompt_tokens: Option<u64>,
    #[serde(default)]
    pub completion_tokens: Option<u64>,
    #[serde(default)]
    pub total_tokens: Option<u64>,
    #[serde(default)]
    pub prompt_tokens_details: Option<WirePromptDetails>,
    #[serde(default)]
    pub completion_tokens_details: Option<WireCompletionDetails>,
    /// DeepSeek's name for cache reads.
    #[serde(default)]
    pub prompt_cache_hit_tokens: Option<u64>,
}

#[derive(Debug, Default, Clone, Deserialize)]
pub struct WirePromptDetails {
    #[serde(default)]
    pub cached_tokens: Option<u64>,
    #[serde(default)]
    pub cache_write_tokens: Option<u64>,
}

#[derive(Debug, Default, Clone, Deserialize)]
pub struct WireCompletionDetails {
    #[serde(default)]
    pub reasoning_tokens: Option<u64>,
}

/// Together's legacy-completions logprob shape, reused on its chat endpoint.
#[derive(Debug, Default, Deserialize)]
pub struct TogetherLogprobs {
    #[serde(default)]
    pub tokens: Vec<String>,
    #[serde(default)]
    pub token_logprobs: Vec<Option<f64>>,
    #[serde(default)]
    pub top_logprobs: Option<Vec<Option<Map<String, Value>>>>,
}
