//! Token usage normalised to OpenAI's meaning, whichever provider answered:
//! `prompt_tokens` includes cached reads and cache writes, `completion_tokens` includes reasoning.
//! The per-class breakdown is kept so that every class can be priced at its own rate.

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_tokens_details: Option<PromptTokensDetails>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_tokens_details: Option<CompletionTokensDetails>,
    /// USD for this request, all attempts. Set by the gateway; `null` when a price is unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<Value>,
    /// Per-attempt costs, baseline and saving. Set by the gateway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_details: Option<Box<CostDetails>>,
}

/// `usage.cost_details`: typed rather than a `serde_json::Value`, because it is built and
/// serialized on every answer and a map of boxed values costs several microseconds there.
/// Fields are declared in the order the JSON has always had (alphabetical), amounts in USD.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct CostDetails {
    /// Every upstream call this request made, in order (empty for a cache hit).
    #[serde(default)]
    pub attempts: Vec<AttemptCost>,
    /// What the route's baseline model would have charged for the same usage.
    #[serde(default)]
    pub baseline: Option<f64>,
    /// `hit`, `semantic-hit` or `coalesced` when nobody paid for this answer this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<String>,
    /// The embedding call a semantic lookup made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedding: Option<EmbeddingCost>,
    /// Baseline minus what was paid.
    #[serde(default)]
    pub saved: Option<f64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct AttemptCost {
    /// None: the price is unknown.
    pub cost: Option<f64>,
    pub model: String,
    /// `ok`, an upstream status, or an error class.
    pub outcome: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct EmbeddingCost {
    pub cost: f64,
    pub model: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct PromptTokensDetails {
    /// Cache reads (already included in `prompt_tokens`).
    #[serde(default)]
    pub cached_tokens: u64,
    /// Cache writes (Anthropic `cache_creation_input_tokens`; included in `prompt_tokens`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cache_write_tokens: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct CompletionTokensDetails {
    /// Reasoning tokens (already included in `completion_tokens`).
    #[serde(default)]
    pub reasoning_tokens: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Usage {
    /// Build from the token classes; totals are derived so they can never disagree.
    pub fn from_classes(
        uncached_input: u64,
        cached: u64,
        cache_write: u64,
        output: u64,
        reasoning: u64,
    ) -> Self {
        let prompt = uncached_input + cached + cache_write;
        Usage {
            prompt_tokens: prompt,
            completion_tokens: output,
            total_tokens: prompt + output,
            prompt_tokens_details: Some(PromptTokensDetails {
                cached_tokens: cached,
                cache_write_tokens: cache_write,
            }),
            completion_tokens_details: Some(CompletionTokensDetails {
                reasoning_tokens: reasoning,
            }),
            cost: None,
            cost_details: None,
        }
    }

    pub fn cached_tokens(&self) -> u64 {
        self.prompt_tokens_details
            .as_ref()
            .map_or(0, |d| d.cached_tokens)
    }

    pub fn cache_write_tokens(&self) -> u64 {
        self.prompt_tokens_details
            .as_ref()
            .map_or(0, |d| d.cache_write_tokens)
    }

    pub fn reasoning_tokens(&self) -> u64 {
        self.completion_tokens_details
            .as_ref()
            .map_or(0, |d| d.reasoning_tokens)
    }

    /// Input tokens billed at the plain input rate.
    pub fn uncached_input_tokens(&self) -> u64 {
        self.prompt_tokens
            .saturating_sub(self.cached_tokens())
            .saturating_sub(self.cache_write_tokens())
    }
}

/// Serialized and parsed by hand: serde's derive for an enum with an `untagged` fallback
/// buffers every value before matching it, which showed up on every parsed answer and chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FinishReason {
    Stop,
    Length,
    ToolCalls,
    ContentFilter,
    FunctionCall,
    /// Provider-specific values we do not map are kept verbatim.
    Other(String),
}

impl FinishReason {
    pub fn parse(s: &str) -> Self {
        match s {
            "stop" => FinishReason::Stop,
            "length" => FinishReason::Length,
            "tool_calls" => FinishReason::ToolCalls,
            "content_filter" => FinishReason::ContentFilter,
            "function_call" => FinishReason::FunctionCall,
            other => FinishReason::Other(other.to_owned()),
        }
    }
}

impl Serialize for FinishReason {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for FinishReason {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = FinishReason;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a finish reason string")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<FinishReason, E> {
                Ok(FinishReason::parse(s))
            }
        }
        d.deserialize_str(V)
    }
}

impl FinishReason {
    pub fn as_str(&self) -> &str {
        match self {
            FinishReason::Stop => "stop",
            FinishReason::Length => "length",
            FinishReason::ToolCalls => "tool_calls",
            FinishReason::ContentFilter => "content_filter",
            FinishReason::FunctionCall => "function_call",
            FinishReason::Other(s) => s,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finish_reasons_round_trip_and_unknown_ones_are_kept() {
        for (wire, parsed) in [
            ("stop", FinishReason::Stop),
            ("length", FinishReason::Length),
            ("tool_calls", FinishReason::ToolCalls),
            ("content_filter", FinishReason::ContentFilter),
            ("function_call", FinishReason::FunctionCall),
            ("eos_token", FinishReason::Other("eos_token".into())),
        ] {
            let json = format!("\"{wire}\"");
            let got: FinishReason = serde_json::from_str(&json).unwrap();
            assert_eq!(got, parsed);
            assert_eq!(serde_json::to_string(&got).unwrap(), json);
        }
        assert!(serde_json::from_str::<FinishReason>("3").is_err());
    }

    #[test]
    fn cost_details_keep_their_json_shape() {
        let d = CostDetails {
            attempts: vec![AttemptCost {
                cost: None,
                model: "a/b".into(),
                outcome: "429".into(),
            }],
            baseline: Some(0.5),
            saved: None,
            ..CostDetails::default()
        };
        assert_eq!(
            serde_json::to_string(&d).unwrap(),
            r#"{"attempts":[{"cost":null,"model":"a/b","outcome":"429"}],"baseline":0.5,"saved":null}"#
        );
        let hit = CostDetails {
            cache: Some("semantic-hit".into()),
            embedding: Some(EmbeddingCost {
                cost: 0.0,
                model: "local".into(),
            }),
            ..CostDetails::default()
        };
        let v = serde_json::to_value(&hit).unwrap();
        assert_eq!(v["cache"], "semantic-hit");
        assert_eq!(v["embedding"]["cost"], 0.0);
        assert_eq!(serde_json::from_value::<CostDetails>(v).unwrap(), hit);
    }
}
