//! # switchyard-sim: simulated LLM providers
//!
//! One process, one listener, serving the real wire formats of OpenAI (and OpenAI-compatible
//! flavors), Anthropic and Gemini, plus a control API (`/sim/*`). Every Switchyard test,
//! benchmark and the demo talk to it instead of real providers. Its wire handling is written
//! independently of the gateway's provider adapters (plain `serde_json::Value`), so it checks the
//! gateway's conversions rather than mirroring them.
//!
//! ## Paths
//! - OpenAI: `POST /v1/chat/completions`, `POST /v1/embeddings`, `GET /v1/models` (also without
//!   `/v1`). Auth `Authorization: Bearer KEY`.
//! - Anthropic: `POST /v1/messages`, `POST /v1/messages/count_tokens`; `GET /v1/models` with an `anthropic-version` or `x-api-key`
//!   header lists Anthropic models. Auth `x-api-key` (or Bearer), `anthropic-version` required.
//! - Gemini: `POST /v1beta/models/{model}:generateContent | :streamGenerateContent[?alt=sse] |
//!   :countTokens | :embedContent | :batchEmbedContents`, `GET /v1beta/models`. Auth
//!   `x-goog-api-key` or `?key=`; a wrong key is HTTP 400 `API_KEY_INVALID`, a missing one 403.
//! - Control: `GET /sim/stats`, `GET|POST|DELETE /sim/faults`, `POST /sim/reset`, `GET /health`.
//!
//! ## Deterministic content
//! - **Prompt tokens** = Σ over messages (system prompt included) of `ceil(chars/4) + 4`, plus
//!   `ceil(chars/4)` of the serialised tool definitions. Chars are Unicode scalar values; a tool
//!   call in history counts as name + arguments text, media parts as `[media]`.
//! - **Answer**: `[model-name]` then `output_tokens - 1` words picked from the last user message
//!   (a fixed vocabulary when it has none) by a hash of model + messages + `seed`; or the
//!   configured `answer`, split at whitespace. One token = one word with its leading space; the
//!   same request to the same model always gets the same text. `n` choices differ by index.
//! - **Completion tokens** = tokens emitted (each streamed token once); identical in JSON and
//!   streamed answers. A tool call costs `ceil(chars(name)/4) + ceil(chars(args)/4)` (min 1).
//! - **Stop sequences** cut at the earliest match (finish `stop` / Anthropic `stop_sequence`);
//!   then `max_tokens` truncates (`length` / `max_tokens` / `MAX_TOKENS`).
//! - **Tools**: offered tools, tool choice not none, last message not a tool result -> call the
//!   named (or first) tool, arguments synthesised from the schema's required properties
//!   (strings "example", numbers 1, booleans true, arrays of one item). Streamed in 3 argument
//!   fragments (OpenAI `tool_calls` deltas, Anthropic `input_json_delta`); Gemini sends the call
//!   whole. After a tool result the answer is `[model] tool result: <words of the result>`.
//! - **JSON output** (`response_format`, Anthropic `output_config.format`, Gemini
//!   `responseMimeType` + schema): a value synthesised from the schema (all properties when
//!   none are required), or `{"answer": "..."}` for `json_object`.
//! - **Logprobs** (where the model offers them): each token's logprob is a hash of model and
//!   token mapped into [-2.0, -0.001]; `top_logprobs` lists the token first, then vocabulary
//!   words at lower logprobs. OpenAI shape on the openai wire, `logprobsResult` on Gemini.
//! - **Embeddings**: bag-of-words feature hashing, L2-normalised, so texts sharing words are
//!   close in cosine; `encoding_format: base64` gives little-endian f32.
//!
//! ## Flavors (openai wire)
//! `deepseek`: `: keep-alive` SSE comments before and between events, `prompt_cache_hit_tokens`.
//! `mistral`: 422 `extra_forbidden` for any top-level field outside its schema (so
//! `stream_options`, `max_completion_tokens`, `seed`, `logprobs`, `user`), tool-call ids must be
//! 9 alphanumerics in history (400 otherwise) and its own are; usage on the last stream chunk.
//! `together`: `logprobs` must be an integer 0..20 (`true` -> 400). `groq`: no logprobs, `n`
//! must be 1, stream usage in `x_groq.usage` on the last chunk (no `choices: []` chunk).
//!
//! ## Faults
//! `POST /sim/faults {"model": "NAME|*", "kind": "429|500|503|529|hang|reset|cut|drip|bad-key",
//! "rate": 0..1, "after_chunks": N, "retry_after_s": N, "key": "KEY"}`; also `faults = [...]` per
//! model in the config. `key` (an extension of the SPEC's control API) limits a rule to requests
//! made with that API key, to script one throttled or revoked key of a pool. Rules are checked in insertion order; each rule decides with a counter-based hash of
//! (config seed, rule slot, decision number), so a given request sequence always gets the same
//! faults. `DELETE /sim/faults` removes every rule; `POST /sim/reset` zeroes the counters and
//! restores the config-declared rules. `cut` counts SSE events (keep-alive comments excluded)
//! and is a connection reset for non-streamed requests; `drip` paces 500 ms per token; `hang`
//! never answers, and its handler is dropped when the client disconnects (`in_flight` in the
//! stats shows leaks). Gemini 429s always carry `RetryInfo.retryDelay` (`retry_after_s`, default
//! 1 s) and never a `retry-after` header; other wires send `retry-after` only when set.
//!
//! ## Stats
//! `{"total": N, "in_flight": N, "models": {NAME: {"requests": N, "stream": N, "outcomes":
//! {"ok": n, "429": n, "hang": n, "400": n, ...}}}}`. Injected faults count under their kind,
//! rejections under their HTTP status, unknown models under the requested name with `404`.
//!
//! ## Timing
//! The first token-carrying event leaves `ttft_ms` after the request, later ones are paced at
//! `tokens_per_s` (0 = unpaced); a non-streamed answer waits `ttft + tokens/tps` in total.
//!
//! ## Replay
//! With `--replay DIR` (or `[replay] dir`), `prompts.jsonl` + `outcomes.jsonl` are loaded once.
//! A chat request for a recorded model name (openai wire) is matched to a prompt by the
//! `x-heldout-prompt-id` header, else by its user messages joined with a blank line (also the
//! first user message alone, for multi-turn prompts). It is answered with the recorded
//! `response` (MT-Bench: the answer of turn = number of user messages) and the recorded
//! `prompt_tokens`/`completion_tokens` (falling back to the `_est` fields; these are the
//! recorded numbers, not the count of streamed pieces). An unknown pair is a 404
//! `model_not_found` "model not available for this prompt".
//! **Synthetic logprobs**: when asked, every token gets logprob `ln(c)` where `c ~ Beta(a, b)`,
//! `[a, b] = [replay.confidence].correct` if the recorded score is >= 0.5, else `.wrong`
//! (defaults `[8, 2]` and `[4, 6]`: means 0.8 and 0.4, overlapping on purpose), drawn with a
//! generator seeded by (confidence.seed, prompt_id, model). So `exp(mean logprob) = c` and a
//! logprob-threshold verifier has a known, reproducible error rate.

pub mod config;
pub mod content;
pub mod http;
pub mod replay;
pub mod state;

mod anthropic;
mod gemini;
mod gemini_embed;
mod openai;
mod openai_req;
mod server;

pub use config::{
    Confidence, ConfigError, FaultKind, FaultRule, Flavor, ModelConfig, ReplayConfig, SimConfig,
    Wire,
};
pub use server::SimHandle;

/// Serves the simulator on `listener` until it fails.
pub async fn serve(config: SimConfig, listener: tokio::net::TcpListener) -> std::io::Result<()> {
    let app = std::sync::Arc::new(server::App::new(config)?);
    server::serve_app(app, listener).await
}

/// Binds 127.0.0.1:0 and serves in a background task (stopped when the handle is dropped).
pub async fn spawn(config: SimConfig) -> std::io::Result<SimHandle> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    server::spawn_app(config, listener).await
}

/// Serves on an already bound listener in a background task (for a fixed demo port).
pub async fn spawn_on(
    config: SimConfig,
    listener: tokio::net::TcpListener,
) -> std::io::Result<SimHandle> {
    server::spawn_app(config, listener).await
}
