//! The configuration tree, as the TOML file spells it. Every table denies unknown keys, so a
//! typo is an error that names its path instead of a silently ignored setting. Secrets are
//! references (`env:NAME`, `file:PATH`) resolved at load time into `Secret`s.
//!
//! Sections owned by other crates (`[pricing]`, `[store]`, `[telemetry]`, `[cache]`) are kept
//! as raw TOML here and parsed by their owners, so this crate does not depend on them.

mod include;
mod load;
mod validate;

use std::collections::BTreeMap;

use serde::Deserialize;
use switchyard_core::Capabilities;

pub use load::{ConfigError, load_file, load_str, resolve_secret};

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub server: ServerConfig,
    pub providers: BTreeMap<String, ProviderConfig>,
    pub models: BTreeMap<String, ModelConfig>,
    #[serde(default)]
    pub routes: BTreeMap<String, RouteConfig>,
    /// Extra names for models or routes (`"gpt-4" = "openai/gpt-4o"`).
    #[serde(default)]
    pub aliases: BTreeMap<String, String>,
    #[serde(default)]
    pub pricing: Option<toml::Value>,
    #[serde(default)]
    pub cache: Option<toml::Value>,
    #[serde(default)]
    pub limits: Option<toml::Value>,
    #[serde(default)]
    pub store: Option<toml::Value>,
    #[serde(default)]
    pub state: Option<toml::Value>,
    #[serde(default)]
    pub telemetry: Option<toml::Value>,
    /// Circuit breaker settings, parsed by the reliability layer (`hedge::Policies`).
    #[serde(default)]
    pub breaker: Option<toml::Value>,
    /// The Batch API's storage and run window, parsed by the server (`batch::BatchConfig`).
    #[serde(default)]
    pub batches: Option<toml::Value>,
    /// Directory of the config file: relative paths (log database, spill file) resolve here.
    #[serde(skip)]
    pub base_dir: std::path::PathBuf,
    /// The files `include` named, resolved (missing ones too); the gateway reloads the config
    /// when one of them changes.
    #[serde(skip)]
    pub include_files: Vec<std::path::PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Gateway keys clients must present (`Authorization: Bearer`). Empty = open gateway.
    #[serde(default)]
    pub api_keys: Vec<String>,
    /// Protects `/ui` and admin paths when set.
    #[serde(default)]
    pub admin_key: Option<String>,
    #[serde(default = "default_body_limit")]
    pub max_body_bytes: usize,
    /// Default latency budget for a whole request when neither client nor route sets one.
    #[serde(default = "default_request_timeout", with = "humantime_serde_compat")]
    pub request_timeout: std::time::Duration,
    /// How long in-flight requests, streams and batch lines may run after SIGTERM.
    #[serde(default = "default_grace", with = "humantime_serde_compat")]
    pub shutdown_grace: std::time::Duration,
    /// How often the files of `include` are checked; a change reloads the config.
    #[serde(default = "default_watch_includes", with = "humantime_serde_compat")]
    pub watch_includes: std::time::Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: default_listen(),
            api_keys: Vec::new(),
            admin_key: None,
            max_body_bytes: default_body_limit(),
            request_timeout: default_request_timeout(),
            shutdown_grace: default_grace(),
            watch_includes: default_watch_includes(),
        }
    }
}

fn default_listen() -> String {
    "127.0.0.1:4000".to_owned()
}
fn default_body_limit() -> usize {
    4 * 1024 * 1024
}
fn default_request_timeout() -> std::time::Duration {
    std::time::Duration::from_secs(300)
}
fn default_grace() -> std::time::Duration {
    std::time::Duration::from_secs(30)
}
fn default_watch_includes() -> std::time::Duration {
    std::time::Duration::from_secs(10)
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    /// `openai` | `openai-compatible` | `anthropic` | `gemini`
    pub kind: String,
    #[serde(default)]
    pub base_url: Option<String>,
    /// Key pool: `env:NAME` or `file:PATH` references (literal keys are rejected).
    #[serde(default)]
    pub keys: Vec<String>,
    /// openai-compatible quirks: deepseek | mistral | together | groq | vllm | ollama | dashscope | generic
    #[serde(default)]
    pub flavor: Option<String>,
    #[serde(default)]
    pub default_max_tokens: Option<u32>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Time allowed for the first byte (non-stream: the whole answer) of one attempt.
    #[serde(default, with = "humantime_serde_compat::option")]
    pub first_byte_timeout: Option<std::time::Duration>,
    /// Longest silence allowed between two stream chunks.
    #[serde(default, with = "humantime_serde_compat::option")]
    pub idle_timeout: Option<std::time::Duration>,
    /// How long a key the upstream rejected (401/403) stays out before one request probes it
    /// again (default 60 s); doubles on each further rejection up to `dead_key_backoff_max`
    /// (default 15 min).
    #[serde(default, with = "humantime_serde_compat::option")]
    pub dead_key_backoff: Option<std::time::Duration>,
    #[serde(default, with = "humantime_serde_compat::option")]
    pub dead_key_backoff_max: Option<std::time::Duration>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// A key of `[providers]`.
    pub provider: String,
    /// The model name the upstream knows. Defaults to the part after the last `/` of the name.
    #[serde(default)]
    pub upstream: Option<String>,
    /// Catalog id for pricing (`openai/gpt-4o-mini`). Defaults to the model's own name.
    #[serde(default)]
    pub price_id: Option<String>,
    #[serde(default)]
    pub capabilities: Option<Capabilities>,
    #[serde(default)]
    pub context_window: Option<u32>,
    #[serde(default)]
    pub max_output: Option<u32>,
    /// Measured quality per task, 0..1 (written by `switchyard eval`).
    #[serde(default)]
    pub quality: BTreeMap<String, f64>,
    /// `chat` (default) or `embedding`.
    #[serde(default)]
    pub mode: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// cheapest | ordered | weighted | latency | cascade
    #[serde(default = "default_strategy")]
    pub strategy: String,
    /// Model names (or, for `weighted`, `{ model, weight }` tables via `weights`).
    #[serde(default)]
    pub candidates: Vec<String>,
    /// For `weighted`: weight per candidate, same order as `candidates`.
    #[serde(default)]
    pub weights: Vec<f64>,
    /// Cascade tiers from cheap to strong; each a model name.
    #[serde(default)]
    pub tiers: Vec<String>,
    #[serde(default)]
    pub min_quality: Option<f64>,
    #[serde(default)]
    pub max_cost: Option<String>,
    #[serde(default)]
    pub latency_budget_ms: Option<u64>,
    /// Model whose price on the same tokens is the `baseline` of savings.
    #[serde(default)]
    pub baseline: Option<String>,
    /// Route cache settings (`ttl`, `semantic`, ...), parsed by the cache.
    #[serde(default)]
    pub cache: Option<toml::Value>,
    /// Hedging settings, parsed by the reliability layer.
    #[serde(default)]
    pub hedging: Option<toml::Value>,
    /// Cascade accept gates, parsed by the cascade.
    #[serde(default)]
    pub gates: Option<toml::Value>,
    /// Per-prompt quality router (`index`, `mode`, `k`, `watch`), parsed by `prompt_router`.
    #[serde(default)]
    pub router: Option<toml::Value>,
    /// Retry settings (attempts per candidate, backoff), parsed by the reliability layer.
    #[serde(default)]
    pub retry: Option<toml::Value>,
}

fn default_strategy() -> String {
    "ordered".to_owned()
}

/// Durations as humantime strings ("30s", "10m") in TOML.
mod humantime_serde_compat {
    use serde::{Deserialize, Deserializer};
    use std::time::Duration;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let s = String::deserialize(d)?;
        humantime::parse_duration(&s).map_err(serde::de::Error::custom)
    }

    pub mod option {
        use super::*;
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
            let s = Option::<String>::deserialize(d)?;
            s.map(|s| humantime::parse_duration(&s).map_err(serde::de::Error::custom))
                .transpose()
        }
    }
}

impl ModelConfig {
    pub fn upstream_name<'a>(&'a self, gateway_name: &'a str) -> &'a str {
        self.upstream
            .as_deref()
            .unwrap_or_else(|| gateway_name.rsplit('/').next().unwrap_or(gateway_name))
    }

    pub fn is_embedding(&self) -> bool {
        self.mode.as_deref() == Some("embedding")
    }
}
