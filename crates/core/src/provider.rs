//! The provider contract. One implementation per upstream wire format lives in
//! `switchyard-providers`; the engine holds them as `Arc<dyn Provider>` and never asks which one
//! it is talking to, except for labels.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::chat::{ChatRequest, ChatResponse};
use crate::embed::{EmbedRequest, EmbedResponse};
use crate::error::ProviderError;
use crate::secret::Secret;
use crate::stream::ChunkStream;

/// Everything one attempt needs besides the request body.
#[derive(Debug, Clone)]
pub struct CallCtx {
    /// The model name the upstream knows (`claude-3-5-haiku-20241022`), not the gateway's name.
    pub upstream_model: String,
    /// The key from the provider's pool chosen for this attempt (`None` for keyless servers).
    pub api_key: Option<Secret>,
    /// When this attempt must have finished; the HTTP call is cut at this instant.
    pub deadline: Option<Instant>,
    /// How long to wait for response headers (non-stream: the whole body) before giving up.
    pub first_byte_timeout: Option<Duration>,
    /// For streams: the longest silence allowed between two chunks.
    pub idle_timeout: Option<Duration>,
    /// The gateway's request id, forwarded upstream for correlation.
    pub request_id: String,
}

impl CallCtx {
    pub fn new(upstream_model: impl Into<String>) -> Self {
        CallCtx {
            upstream_model: upstream_model.into(),
            api_key: None,
            deadline: None,
            first_byte_timeout: None,
            idle_timeout: None,
            request_id: String::new(),
        }
    }

    /// Time left before the deadline (None = unbounded).
    pub fn remaining(&self) -> Option<Duration> {
        self.deadline
            .map(|d| d.saturating_duration_since(Instant::now()))
    }
}

/// What a model can do. Declared in config or the catalog; checked by routing before dispatch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Capabilities {
    pub tools: bool,
    pub json_schema: bool,
    pub vision: bool,
    pub logprobs: bool,
    pub embeddings: bool,
}

/// One upstream API, holding its settings and a shared HTTP client; no per-request state.
///
/// Contract for streams: `chat_stream` resolves once the upstream accepted the request (status
/// line seen); failures after that arrive as `Err` items. A stream that ends normally ends with
/// a chunk whose `choices` is empty and whose `usage` is set, whenever the upstream reported
/// usage (providers ask for it even when the client did not; the server decides what to forward).
#[async_trait]
pub trait Provider: Send + Sync + 'static {
    /// The wire format (`openai`, `anthropic`, ...): for labels and logs only.
    fn kind(&self) -> &'static str;

    /// Whether this wire format can return token logprobs at all (cascade gates need them).
    fn offers_logprobs(&self) -> bool {
        true
    }

    /// Whether this API accepts `n > 1` (several choices in one answer); routing leaves out
    /// the models of a provider that does not when a request asks for more than one.
    fn offers_multiple_choices(&self) -> bool {
        true
    }

    async fn chat(&self, req: &ChatRequest, ctx: &CallCtx) -> Result<ChatResponse, ProviderError>;

    async fn chat_stream(
        &self,
        req: &ChatRequest,
        ctx: &CallCtx,
    ) -> Result<ChunkStream, ProviderError>;

    async fn embed(
        &self,
        _req: &EmbedRequest,
        _ctx: &CallCtx,
    ) -> Result<EmbedResponse, ProviderError> {
        Err(ProviderError::unsupported("embeddings"))
    }

    /// The prompt tokens `req` would cost, counted by the upstream's own tokenizer, for APIs
    /// that offer a counting endpoint (Anthropic's `/v1/messages/count_tokens`, which is free).
    /// `Ok(None)`: this API has none, and the gateway counts locally.
    async fn count_tokens(
        &self,
        _req: &ChatRequest,
        _ctx: &CallCtx,
    ) -> Result<Option<u64>, ProviderError> {
        Ok(None)
    }
}
