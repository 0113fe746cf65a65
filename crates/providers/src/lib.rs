//! Upstream adapters. Each wire format has its own folder with the same files:
//! `wire.rs` (serde types as the upstream spells them), `convert.rs` (pure canonical <-> wire
//! functions, table/snapshot tested) and `mod.rs` (the `Provider` impl: IO and wiring only).
//!
//! - [`http`]: the shared HTTP client, deadlines and timeouts, status -> error plumbing.
//! - [`registry`]: provider kind -> factory. Adding a provider = a folder + one registry line.

pub mod anthropic;
pub mod gemini;
pub mod http;
pub mod openai;
pub mod openai_compat;
pub mod registry;

pub use registry::{ProviderSettings, build_provider, known_kinds};
