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

impl EmbedResponse {
    /// Honour `encoding_format: "base64"` whatever the upstream did: a vector still in floats
    /// (an upstream without base64, such as Gemini) becomes OpenAI's base64 of little-endian
    /// f32. Vectors already encoded upstream are left alone.
    pub fn encode_as_requested(&mut self, encoding_format: Option<&str>) {
        if encoding_format != Some("base64") {
            return;
        }
        for e in &mut self.data {
            let Value::Array(xs) = &e.embedding else {
                continue;
            };
            // OpenAI's base64 carries f32; the narrowing is the format, not a loss we add.
            let floats = xs.iter().map(|x| x.as_f64().unwrap_or(0.0) as f32);
            e.embedding = Value::String(f32_base64(floats));
        }
    }
}

/// An embedding as OpenAI's `encoding_format: "base64"` sends it: the little-endian bytes of
/// its f32 values in standard base64. The gateway and the simulator both write it with this.
pub fn f32_base64(xs: impl IntoIterator<Item = f32>) -> String {
    let bytes: Vec<u8> = xs.into_iter().flat_map(f32::to_le_bytes).collect();
    base64(&bytes)
}

/// Standard base64 (RFC 4648, padded); a dozen lines rather than a dependency for two uses.
fn base64(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for c in bytes.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(c.get(1).copied().unwrap_or(0)) << 8)
            | u32::from(c.get(2).copied().unwrap_or(0));
        for (i, shift) in [18u32, 12, 6, 0].into_iter().enumerate() {
            out.push(if i <= c.len() {
                char::from(T[(n >> shift) as usize & 63])
            } else {
                '='
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(i.as_bytes()), o);
        }
    }

    fn response(embedding: Value) -> EmbedResponse {
        EmbedResponse {
            object: "list".into(),
            data: vec![Embedding {
                object: "embedding".into(),
                index: 0,
                embedding,
            }],
            model: "m".into(),
            usage: EmbedUsage::default(),
        }
    }

    #[test]
    fn floats_become_little_endian_f32_base64_only_when_asked() {
        let mut r = response(json!([1.0, -2.5]));
        r.encode_as_requested(Some("float"));
        assert_eq!(r.data[0].embedding, json!([1.0, -2.5]));
        r.encode_as_requested(Some("base64"));
        // 1.0f32 = 00 00 80 3f, -2.5f32 = 00 00 20 c0 (little-endian).
        assert_eq!(
            r.data[0].embedding,
            json!(base64(&[0, 0, 0x80, 0x3f, 0, 0, 0x20, 0xc0]))
        );
        assert_eq!(r.data[0].embedding, json!("AACAPwAAIMA="));
        // Already a string (the upstream encoded it): untouched.
        r.encode_as_requested(Some("base64"));
        assert_eq!(r.data[0].embedding, json!("AACAPwAAIMA="));
    }
}
