//! The contract every other crate builds on. Pure data and traits: no HTTP client, no tokio IO.
//!
//! - [`chat`]: the canonical chat request/response, OpenAI-shaped because that is our ingress dialect.
//! - [`stream`]: streamed chunks, the chunk stream type, and the accumulator (chunks -> response).
//! - [`usage`]: token usage normalised across providers, finish reasons.
//! - [`embed`]: embedding request/response.
//! - [`error`]: `ProviderError` with the classification the engine reads (kind, retryable, retry_after).
//! - [`provider`]: the `Provider` trait every upstream adapter implements, and `CallCtx`.
//! - [`money`]: exact-decimal USD amounts.
//! - [`record`]: the per-request record the engine fills and the request log stores.
//! - [`secret`]: API keys that never print.
//! - [`sse`]: the one server-sent-events decoder of the workspace, and the encoder helpers.

pub mod chat;
pub mod chunk_frame;
pub mod embed;
pub mod error;
pub mod money;
pub mod provider;
pub mod record;
pub mod secret;
pub mod sse;
pub mod stream;
pub mod usage;

pub use chat::*;
pub use embed::*;
pub use error::{ErrorKind, ProviderError};
pub use money::Usd;
pub use provider::{CallCtx, Capabilities, Provider};
pub use record::{AttemptRecord, Escalation, RequestRecord, TokenCounts};
pub use secret::Secret;
pub use stream::{ChatChunk, ChunkChoice, ChunkStream, Delta, StreamAccumulator, ToolCallDelta};
pub use usage::{
    AttemptCost, CompletionTokensDetails, CostDetails, EmbeddingCost, FinishReason,
    PromptTokensDetails, Usage,
};
