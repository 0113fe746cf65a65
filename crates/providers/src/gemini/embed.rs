//! OpenAI embeddings request/response <-> Gemini `embedContent` / `batchEmbedContents`.
//!
//! Gemini returns no token usage for embeddings. Usage is estimated as ceil(chars / 4) per
//! input (chars = Unicode scalar values), the usual rule of thumb for English text, so that
//! accounting is approximate rather than a silent zero.

use serde_json::Value;
use switchyard_core::embed::{EmbedInput, EmbedUsage, Embedding};
use switchyard_core::{EmbedRequest, EmbedResponse, ErrorKind, ProviderError};

use super::wire;

#[derive(Debug, Clone, PartialEq)]
pub enum EmbedCall {
    /// `POST models/{m}:embedContent`
    One(wire::EmbedContentRequest),
    /// `POST models/{m}:batchEmbedContents`
    Batch(wire::BatchEmbedRequest),
}

fn content(text: &str) -> wire::Content {
    wire::Content {
        role: None,
        parts: vec![wire::Part {
            text: Some(text.to_owned()),
            ..wire::Part::default()
        }],
    }
}

pub fn to_wire(req: &EmbedRequest, model: &str) -> Result<EmbedCall, ProviderError> {
    let one = |model: Option<String>, text: &str| wire::EmbedContentRequest {
        model,
        content: content(text),
        output_dimensionality: req.dimensions,
    };
    match &req.input {
        EmbedInput::One(s) => Ok(EmbedCall::One(one(None, s))),
        EmbedInput::Many(v) if !v.is_empty() => Ok(EmbedCall::Batch(wire::BatchEmbedRequest {
            // Each inner request must repeat the model, as `models/{model}`.
            requests: v
                .iter()
                .map(|s| one(Some(format!("models/{model}")), s))
                .collect(),
        })),
        EmbedInput::Many(_) => Err(ProviderError::new(
            ErrorKind::InvalidRequest,
            "input must not be an empty list",
        )),
        EmbedInput::Tokens(_) | EmbedInput::TokenBatches(_) => Err(ProviderError::new(
            ErrorKind::InvalidRequest,
            "Gemini embedding models take text input, not token ids",
        )),
    }
}

/// ceil(chars / 4): Gemini reports no usage for embeddings.
pub fn estimate_tokens(texts: &[&str]) -> u64 {
    texts
        .iter()
        .map(|t| (t.chars().count() as u64).div_ceil(4))
        .sum()
}

pub fn from_wire(
    vectors: Vec<wire::EmbedValues>,
    req: &EmbedRequest,
    model: &str,
) -> Result<EmbedResponse, ProviderError> {
    let texts = req.input.texts();
    if vectors.len() != texts.len() {
        return Err(ProviderError::new(
            ErrorKind::Decode,
            format!(
                "Gemini returned {} embeddings for {} inputs",
                vectors.len(),
                texts.len()
            ),
        ));
    }
    let tokens = estimate_tokens(&texts);
    let data = vectors
        .into_iter()
        .enumerate()
        .map(|(i, v)| Embedding {
            object: "embedding".to_owned(),
            index: u32::try_from(i).unwrap_or(u32::MAX),
            embedding: Value::from(v.values),
        })
        .collect();
    Ok(EmbedResponse {
        object: "list".to_owned(),
        data,
        model: model.to_owned(),
        usage: EmbedUsage {
            prompt_tokens: tokens,
            total_tokens: tokens,
            ..EmbedUsage::default()
        },
    })
}
