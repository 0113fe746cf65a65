//! The HTTP edge. Everything generic about HTTP happens here (body limits, JSON parsing,
//! error envelopes, SSE framing, headers, auth, reload, shutdown); every decision about where
//! a request goes happens in the engine.
//!
//! - [`state`]: `AppState`, the swappable engine and what the edge needs beside it.
//! - [`anthropic`]: the Anthropic Messages dialect at the edge (`/v1/messages`).
//! - [`app`]: the axum `Router` and how the gateway is started and stopped.
//! - [`handlers`]: one module per endpoint.
//! - [`batch`]: the Batch API's files, batches and the runner that executes them.
//! - [`envelope`]: `GatewayError` -> OpenAI error JSON + status + headers (the single place).
//! - [`sse`]: engine stream -> `text/event-stream` body.

pub mod answer;
pub mod anthropic;
pub mod app;
pub mod batch;
pub mod envelope;
pub mod handlers;
pub mod listen;
pub mod sse;
pub mod state;

pub use app::{Gateway, GatewayOptions};
pub use state::AppState;
