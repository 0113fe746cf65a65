//! The simulator's configuration: which models exist, which wire each speaks, how fast and how
//! long it answers, which faults it carries from the start, and the optional replay data set.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SimConfig {
    /// Seed of every random choice (fault rates, answer words). Same seed, same run.
    #[serde(default)]
    pub seed: u64,
    #[serde(default)]
    pub models: Vec<ModelConfig>,
    #[serde(default)]
    pub replay: Option<ReplayConfig>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Wire {
    Openai,
    Anthropic,
    Gemini,
}

/// OpenAI-compatible providers whose deviations are worth simulating (see the crate docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Flavor {
    Deepseek,
    Mistral,
    Together,
    Groq,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// What clients send as `model`.
    pub name: String,
    pub wire: Wire,
    #[serde(default)]
    pub flavor: Option<Flavor>,
    /// Delay before the first token.
    #[serde(default)]
    pub ttft_ms: u64,
    /// Pace after the first token; 0 means as fast as possible.
    #[serde(default)]
    pub tokens_per_s: f64,
    /// Whether the model offers logprobs (ignored on the anthropic wire, which never has them).
    #[serde(default = "yes")]
    pub logprobs: bool,
    /// Answer length in tokens (for generated answers).
    #[serde(default = "default_output_tokens")]
    pub output_tokens: u32,
    /// A fixed answer instead of generated words.
    #[serde(default)]
    pub answer: Option<String>,
    /// 0..1, for replay/demo scoring; the simulator itself only reports it.
    #[serde(default = "default_quality")]
    pub quality: f64,
    /// Set for embedding models.
    #[serde(default)]
    pub embedding_dims: Option<u32>,
    /// Requests whose estimated prompt tokens exceed this get the wire's context-length error.
    #[serde(default)]
    pub context_window: Option<u32>,
    /// Reported as cached prompt tokens (capped at the prompt size).
    #[serde(default)]
    pub cached_prompt_tokens: u32,
    /// Accepted keys; when absent any non-empty key is accepted.
    #[serde(default)]
    pub keys: Option<Vec<String>>,
    /// Faults active from the start (their `model` defaults to this model).
    #[serde(default)]
    pub faults: Vec<FaultRule>,
}

fn yes() -> bool {
    true
}
fn default_output_tokens() -> u32 {
    16
}
fn default_quality() -> f64 {
    0.5
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FaultKind {
    #[serde(rename = "429")]
    RateLimit,
    #[serde(rename = "500")]
    Internal,
    #[serde(rename = "503")]
    Unavailable,
    #[serde(rename = "529")]
    Overloaded,
    #[serde(rename = "hang")]
    Hang,
    #[serde(rename = "reset")]
    Reset,
    #[serde(rename = "cut")]
    Cut,
    #[serde(rename = "drip")]
    Drip,
    #[serde(rename = "bad-key")]
    BadKey,
}

impl FaultKind {
    /// The outcome label under which `/sim/stats` counts this fault.
    pub fn label(self) -> &'static str {
        match self {
            FaultKind::RateLimit => "429",
            FaultKind::Internal => "500",
            FaultKind::Unavailable => "503",
            FaultKind::Overloaded => "529",
            FaultKind::Hang => "hang",
            FaultKind::Reset => "reset",
            FaultKind::Cut => "cut",
            FaultKind::Drip => "drip",
            FaultKind::BadKey => "bad-key",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRule {
    /// A model name or `*`.
    #[serde(default = "star")]
    pub model: String,
    pub kind: FaultKind,
    /// Share of matching requests that get the fault (seeded, reproducible).
    #[serde(default = "one")]
    pub rate: f64,
    /// For `cut`: SSE events sent before the body is cut.
    #[serde(default)]
    pub after_chunks: u32,
    /// For `429`: sets `retry-after` (Gemini: `RetryInfo.retryDelay`).
    #[serde(default)]
    pub retry_after_s: Option<u64>,
    /// Only requests made with this API key match (one throttled or revoked key of a pool);
    /// none: every key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

fn star() -> String {
    "*".to_owned()
}
fn one() -> f64 {
    1.0
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayConfig {
    /// Folder with `prompts.jsonl` and `outcomes.jsonl` (routing-data layout).
    pub dir: PathBuf,
    #[serde(default)]
    pub ttft_ms: u64,
    #[serde(default)]
    pub tokens_per_s: f64,
    #[serde(default)]
    pub confidence: Confidence,
}

/// Beta(a, b) parameters of the synthetic confidence for correct and wrong recorded answers.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Confidence {
    pub correct: [f64; 2],
    pub wrong: [f64; 2],
    #[serde(default)]
    pub seed: u64,
}

impl Default for Confidence {
    fn default() -> Self {
        // Means 0.8 vs 0.4 with visible overlap, so a logprob verifier has a known, non-zero error rate.
        Confidence {
            correct: [8.0, 2.0],
            wrong: [4.0, 6.0],
            seed: 0,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("sim config: {0}")]
    Toml(#[from] toml::de::Error),
    #[error("sim config: {0}")]
    Invalid(String),
}

impl SimConfig {
    pub fn from_toml_str(s: &str) -> Result<SimConfig, ConfigError> {
        let cfg: SimConfig = toml::from_str(s)?;
        cfg.validate()?;
        Ok(cfg)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut seen = std::collections::HashSet::new();
        for (i, m) in self.models.iter().enumerate() {
            if m.name.is_empty() {
                return Err(ConfigError::Invalid(format!("models[{i}].name is empty")));
            }
            if !seen.insert(m.name.as_str()) {
                return Err(ConfigError::Invalid(format!(
                    "models[{i}]: duplicate model name {:?}",
                    m.name
                )));
            }
            if !(m.tokens_per_s >= 0.0 && m.tokens_per_s.is_finite()) {
                return Err(ConfigError::Invalid(format!(
                    "models[{i}].tokens_per_s must be >= 0"
                )));
            }
            if m.flavor.is_some() && m.wire != Wire::Openai {
                return Err(ConfigError::Invalid(format!(
                    "models[{i}].flavor only applies to wire = \"openai\""
                )));
            }
            for (j, f) in m.faults.iter().enumerate() {
                if !(0.0..=1.0).contains(&f.rate) {
                    return Err(ConfigError::Invalid(format!(
                        "models[{i}].faults[{j}].rate must be within 0..1"
                    )));
                }
            }
        }
        Ok(())
    }

    /// The built-in set: every wire and every flavor, with modest latencies so tests stay fast.
    pub fn default_models() -> SimConfig {
        fn m(name: &str, wire: Wire, quality: f64, ttft_ms: u64, tps: f64) -> ModelConfig {
            ModelConfig {
                name: name.to_owned(),
                wire,
                flavor: None,
                ttft_ms,
                tokens_per_s: tps,
                logprobs: wire != Wire::Anthropic,
                output_tokens: 16,
                answer: None,
                quality,
                embedding_dims: None,
                context_window: Some(128_000),
                cached_prompt_tokens: 0,
                keys: None,
                faults: Vec::new(),
            }
        }
        let flavored = |name: &str, flavor: Flavor, quality: f64, logprobs: bool| ModelConfig {
            flavor: Some(flavor),
            logprobs,
            ..m(name, Wire::Openai, quality, 20, 800.0)
        };
        let embed = |name: &str, wire: Wire, dims: u32| ModelConfig {
            embedding_dims: Some(dims),
            context_window: Some(8192),
            ..m(name, wire, 0.7, 5, 0.0)
        };
        let models = vec![
            m("gpt-4o", Wire::Openai, 0.9, 40, 400.0),
            m("gpt-4o-mini", Wire::Openai, 0.75, 20, 800.0),
            ModelConfig {
                cached_prompt_tokens: 8,
                ..m("claude-sonnet-4-5", Wire::Anthropic, 0.92, 50, 400.0)
            },
            m("claude-3-5-haiku", Wire::Anthropic, 0.72, 20, 800.0),
            m("gemini-2.5-pro", Wire::Gemini, 0.93, 60, 400.0),
            m("gemini-2.0-flash", Wire::Gemini, 0.7, 15, 1000.0),
            ModelConfig {
                cached_prompt_tokens: 8,
                ..flavored("deepseek-chat", Flavor::Deepseek, 0.8, true)
            },
            flavored("mistral-small-latest", Flavor::Mistral, 0.65, false),
            flavored(
                "meta-llama/Llama-3.3-70B-Instruct-Turbo",
                Flavor::Together,
                0.7,
                true,
            ),
            flavored("llama-3.1-8b-instant", Flavor::Groq, 0.55, false),
            m("local-llama", Wire::Openai, 0.5, 10, 1000.0),
            embed("text-embedding-3-small", Wire::Openai, 1536),
            ModelConfig {
                flavor: Some(Flavor::Mistral),
                ..embed("mistral-embed", Wire::Openai, 1024)
            },
            embed("text-embedding-004", Wire::Gemini, 768),
        ];
        SimConfig {
            seed: 0,
            models,
            replay: None,
        }
    }
}
