//! Cascade routes: tiers from cheap to strong. The cheap tier answers; accept gates decide; a
//! rejected answer escalates to the next tier. The last tier is accepted as is (and streams
//! directly); earlier tiers are held in full, so a rejected answer never reaches the client.
//!
//! ```toml
//! [routes.smart]
//! strategy = "cascade"
//! tiers = ["mixtral", "gpt-4"]
//! [routes.smart.gates]
//! min_confidence = 0.6          # accept when the q-quantile of per-token probability >= this
//! confidence_quantile = 0.1     # which quantile (0 = the least sure token); default 0.1
//! json = true                   # response_format requests must parse / match the schema (default)
//! length = true                 # reject finish_reason = length (default)
//! refusal = true                # reject empty or refusal answers (default)
//! regex = "^\\s*Answer:"        # the answer must match
//! [routes.smart.gates.min_confidence_by_tier]   # calibrated per tier by `switchyard eval`
//! mixtral = 0.55                # (or include its gates.toml: see `config::include`)
//! [routes.smart.gates.judge]    # a model asked through Switchyard itself, with a rubric
//! model = "gpt-4o-mini"
//! rubric = "Is the answer correct and complete?"
//! min_score = 7                 # out of 10
//! ```
//!
//! The quantile of per-token probability is used instead of the mean logprob because the mean
//! is biased by length and hides a single unsure token (Gupta et al. 2024).

mod gates;
mod runner;
mod schema;

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::config::ConfigError;
use crate::runtime::ModelRt;

pub use gates::{Reject, quantile_confidence};
pub use schema::validate as validate_schema;

/// The gates of one cascade route, parsed once when the engine is built.
#[derive(Debug, Clone, Default)]
pub struct CascadeRt {
    pub confidence: Option<ConfidenceGate>,
    pub json: bool,
    pub length: bool,
    pub refusal: bool,
    pub regex: Option<regex::Regex>,
    pub judge: Option<JudgeGate>,
    /// Load-time notes (e.g. a tier whose provider gives no logprobs), also logged as warnings.
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct ConfidenceGate {
    pub quantile: f64,
    pub min: f64,
    /// Per-tier thresholds by model name; `min` for tiers not listed.
    pub by_tier: BTreeMap<String, f64>,
}

impl ConfidenceGate {
    pub fn threshold(&self, model: &str) -> f64 {
        self.by_tier.get(model).copied().unwrap_or(self.min)
    }
}

#[derive(Debug, Clone)]
pub struct JudgeGate {
    pub model: String,
    pub rubric: String,
    pub min_score: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GatesToml {
    min_confidence: Option<f64>,
    confidence_quantile: Option<f64>,
    #[serde(default)]
    min_confidence_by_tier: BTreeMap<String, f64>,
    json: Option<bool>,
    length: Option<bool>,
    refusal: Option<bool>,
    regex: Option<String>,
    judge: Option<JudgeToml>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JudgeToml {
    model: String,
    #[serde(default = "default_rubric")]
    rubric: String,
    #[serde(default = "default_min_score")]
    min_score: f64,
}

fn default_rubric() -> String {
    "Is the answer correct, complete and responsive to the question?".to_owned()
}
fn default_min_score() -> f64 {
    7.0
}

impl CascadeRt {
    /// Parse `[routes.NAME.gates]` for a cascade whose tiers are `tiers` (indexes into
    /// `models`). A tier without logprobs is not an error: its confidence gate is skipped and
    /// the other gates decide, which the route states here, at load time.
    pub fn build(
        route: &str,
        gates: Option<&toml::Value>,
        tiers: &[usize],
        models: &[ModelRt],
    ) -> Result<CascadeRt, ConfigError> {
        let path = format!("routes.{route}.gates");
        let g: GatesToml = match gates {
            None => GatesToml {
                min_confidence: None,
                confidence_quantile: None,
                min_confidence_by_tier: BTreeMap::new(),
                json: None,
                length: None,
                refusal: None,
                regex: None,
                judge: None,
            },
            Some(v) => serde_path_to_error::deserialize(v.clone()).map_err(|e| {
                let p = e.path().to_string();
                ConfigError::new(format!("{path}.{p}"), e.into_inner().to_string())
            })?,
        };
        let quantile = g.confidence_quantile.unwrap_or(0.1);
        if !(0.0..=1.0).contains(&quantile) {
            return Err(ConfigError::new(
                format!("{path}.confidence_quantile"),
                "must be within 0..1",
            ));
        }
        for (k, v) in g
            .min_confidence
            .iter()
            .map(|v| ("min_confidence".to_owned(), *v))
            .chain(
                g.min_confidence_by_tier
                    .iter()
                    .map(|(k, v)| (format!("min_confidence_by_tier.{k}"), *v)),
            )
        {
            if !(0.0..=1.0).contains(&v) {
                return Err(ConfigError::new(
                    format!("{path}.{k}"),
                    "must be within 0..1",
                ));
            }
        }
        let confidence =
            (g.min_confidence.is_some() || !g.min_confidence_by_tier.is_empty()).then(|| {
                ConfidenceGate {
                    quantile,
                    min: g.min_confidence.unwrap_or(0.0),
                    by_tier: g.min_confidence_by_tier,
                }
            });
        let regex = g
            .regex
            .map(|r| {
                regex::Regex::new(&r)
                    .map_err(|e| ConfigError::new(format!("{path}.regex"), e.to_string()))
            })
            .transpose()?;
        let judge = g.judge.map(|j| JudgeGate {
            model: j.model,
            rubric: j.rubric,
            min_score: j.min_score,
        });
        let mut warnings = Vec::new();
        if confidence.is_some() {
            // The last tier is never gated, so only the earlier ones matter.
            for &i in tiers.iter().take(tiers.len().saturating_sub(1)) {
                let m = &models[i];
                if !m.caps.logprobs {
                    let w = format!(
                        "route `{route}`: tier `{}` (provider `{}`) gives no logprobs; its confidence gate is skipped and the other gates decide",
                        m.name, m.provider_name
                    );
                    tracing::warn!("{w}");
                    warnings.push(w);
                }
            }
        }
        Ok(CascadeRt {
            confidence,
            json: g.json.unwrap_or(true),
            length: g.length.unwrap_or(true),
            refusal: g.refusal.unwrap_or(true),
            regex,
            judge,
            warnings,
        })
    }
}
