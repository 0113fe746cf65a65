//! The engine: given a parsed request, decide where it goes, call providers, fail over,
//! account the cost, and produce the record. No HTTP server code here; no provider names.
//!
//! - [`config`]: the TOML tree, loading with path-named errors, secret references.
//! - [`runtime`]: `Engine`, built from a `Config`: model, route and provider tables.
//! - [`keys`]: key pools (per-model rests on 429, re-probed back-off on 401/403).
//! - [`controls`]: per-request controls from headers and body extras.
//! - [`route`]: resolve `model` to a plan: ordered candidates, exclusions with reasons.
//! - [`latency`]: live p95 latency per model (decaying window), read by routing.
//! - [`task`]: the request's task, named by the client or classified from the prompt.
//! - [`attempt`]: the attempt loop: candidates, keys, failover, backoff, deadline, cost ceiling.
//! - [`health`]: circuit breakers per deployment (provider + model + key).
//! - [`hedge`]: reliability policies (`[breaker]`, route retry and hedging) and the hedge race.
//! - [`verdict`]: skips with reasons and the final error when no attempt won.
//! - [`cost`]: pricing seam and the bill of a request (all attempts, baseline, saving).
//! - [`pipeline`]: the request path as one async fn per endpoint: plan -> attempts -> account.
//! - [`outstream`]: the client-facing stream: held until the first content, accounted at the end.
//! - [`error`]: `GatewayError`, what the client is told.

mod admission;
pub mod attempt;
pub mod cache;
pub mod cascade;
pub mod config;
pub mod controls;
pub mod cost;
pub mod count;
pub mod error;
pub mod health;
pub mod hedge;
pub mod keys;
pub mod latency;
pub mod outstream;
pub mod pipeline;
pub mod prompt_router;
pub mod route;
pub mod runtime;
pub mod task;
pub mod tokens;
pub mod verdict;

pub use controls::Controls;
pub use error::GatewayError;
pub use pipeline::{ChatServed, EmbedServed, Meta, RequestCtx};
pub use runtime::{Engine, ModelRt, RecordSink, RouteRt, Shared, Strategy};
