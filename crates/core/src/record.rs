//! One record per request: what the engine did and what it cost. The engine fills it, the
//! server hands it to the request log (batched, off the request path) and to metrics.

use serde::{Deserialize, Serialize};

use crate::money::Usd;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct RequestRecord {
    pub request_id: String,
    /// Unix milliseconds when the request arrived.
    pub ts_ms: i64,
    /// Tenant: the gateway API key's fingerprint or the cache namespace; `anonymous` without one.
    pub tenant: String,
    /// `chat` | `embeddings` | `messages`
    pub endpoint: String,
    /// The route or alias that resolved the request (`auto`, `fast`), or the model itself.
    pub route: String,
    /// The task (`code`, `translation`, ...) given or classified.
    pub task: Option<String>,
    /// What the client put in `model`.
    pub requested_model: String,
    /// The gateway model name that produced the answer (None on error before any success).
    pub served_model: Option<String>,
    pub provider: Option<String>,
    pub stream: bool,
    pub attempts: Vec<AttemptRecord>,
    pub tokens: TokenCounts,
    /// USD for the whole request, all attempts. None = a price was unknown (never reported as 0).
    pub cost: Option<Usd>,
    /// What the baseline model would have cost on the same tokens.
    pub baseline_cost: Option<Usd>,
    /// `hit` | `semantic-hit` | `coalesced` | `miss` | `bypass`
    pub cache: String,
    pub ttft_ms: Option<f64>,
    pub total_ms: f64,
    /// Time spent in the gateway itself (total minus time waiting on upstreams).
    pub overhead_ms: f64,
    /// HTTP status returned to the client.
    pub status: u16,
    /// Low-cardinality error class (`rate_limited`, `timeout`, `invalid_request`, ...) on failure.
    pub error_class: Option<String>,
    /// Cascade tiers escalated past (0 when none).
    pub escalations: u32,
    /// One entry per escalation, in order: which tier was not accepted and why. Kept beside
    /// the count (which the request log stores) so metrics can label escalations by tier.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub escalated: Vec<Escalation>,
}

/// A cascade tier whose answer was not accepted.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Escalation {
    /// The gateway model name of the tier escalated from.
    pub tier: String,
    /// The gate that rejected it (`confidence`, `json`, `length`, `refusal`, `regex`,
    /// `judge`), or `error` when the tier failed outright.
    pub gate: String,
}

impl RequestRecord {
    /// Saving against the baseline; None when either side is unknown.
    pub fn saved(&self) -> Option<Usd> {
        Some(self.baseline_cost? - self.cost?)
    }

    /// Attempts after the first that went to a different model (failover, escalation).
    pub fn fallbacks(&self) -> usize {
        self.attempts
            .windows(2)
            .filter(|w| w[0].model != w[1].model)
            .count()
    }

    /// Attempts that repeated the previous model (retries).
    pub fn retries(&self) -> usize {
        self.attempts
            .windows(2)
            .filter(|w| w[0].model == w[1].model)
            .count()
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct AttemptRecord {
    pub model: String,
    pub provider: String,
    /// `ok`, an upstream status (`429`), or an error class (`timeout`, `connect`, `skipped:...`).
    pub outcome: String,
    pub latency_ms: f64,
    pub cost: Option<Usd>,
    /// The cost was priced from estimated tokens: a stream cut before the upstream reported
    /// usage (the client went away, or the upstream broke mid-way) is still billed upstream
    /// for the prompt and the tokens sent so far, so it is accounted rather than left at null.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cost_estimated: bool,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct TokenCounts {
    /// Input billed at the plain input rate (excludes cached reads and cache writes).
    pub input: u64,
    pub cached_input: u64,
    pub cache_write: u64,
    /// Output including reasoning.
    pub output: u64,
    pub reasoning: u64,
}
