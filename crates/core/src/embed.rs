//! OpenAI-shaped embeddings request and response.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EmbedRequest {
    pub model: String,
    pub input: EmbedInput,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding_format: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dimensions: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum EmbedInput {
    One(String),
    Many(Vec<String>),
    Tokens(Vec<u32>),
    TokenBatches(Vec<Vec<u32>>),
}

impl EmbedInput {
    /// Text inputs as a list (token-id inputs give an empty list: only OpenAI-dialect
    /// upstreams accept them, and they get the request as it came).
    pub fn texts(&self) -> Vec<&str> {
        match self {
            EmbedInput::One(s) => vec![s.as_str()],
            EmbedInput::Many(v) => v.iter().map(String::as_str).collect(),
            EmbedInput::Tokens(_) | EmbedInput::TokenBatches(_) => Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EmbedResponse {
    #[serde(default = "list_object")]
    pub object: String,
    pub data: Vec<Embedding>,
    pub model: String,
    #[serde(default)]
    pub usage: EmbedUsage,
}

fn list_object() -> String {
    "list".to_owned()
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Embedding {
    #[serde(default = "embedding_object")]
    pub object: String,
    pub index: u32,
    /// Floats, or a base64 string when the client asked for `encoding_format: base64`.
    pub embedding: Value,
}

fn embedding_object() -> String {
    "embedding".to_owned()
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct EmbedUsage {
    pub prompt_tokens: u64,
    pub total_tokens: u64,
    /// USD for this request, all attempts. Set by the gateway; `null` when a price is unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<Value>,
    /// Per-attempt costs, baseline and saving, as on chat answers. Set by the gateway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_details: Option<Box<crate::usage::CostDetails>>,
}
