//! OpenRouter's model listing (`GET https://openrouter.ai/api/v1/models`): `{"data": [...]}`
//! with per-token prices as decimal strings.

use std::collections::HashSet;

use rust_decimal::Decimal;
use serde::Deserialize;
use switchyard_core::Capabilities;

use super::{ImportError, per_mtok, this_month};
use crate::catalog::{Catalog, FORMAT_VERSION, Mode, ModelEntry, Prices};

#[derive(Deserialize)]
struct Listing {
    data: Vec<Model>,
}

#[derive(Deserialize)]
struct Model {
    id: String,
    #[serde(default)]
    context_length: Option<u64>,
    #[serde(default)]
    pricing: Option<Pricing>,
    #[serde(default)]
    top_provider: Option<TopProvider>,
    #[serde(default)]
    supported_parameters: Vec<String>,
    #[serde(default)]
    architecture: Option<Architecture>,
}

#[derive(Deserialize, Default)]
struct Pricing {
    #[serde(default)]
    prompt: Option<String>,
    #[serde(default)]
    completion: Option<String>,
    #[serde(default)]
    input_cache_read: Option<String>,
    #[serde(default)]
    input_cache_write: Option<String>,
    #[serde(default)]
    internal_reasoning: Option<String>,
}

#[derive(Deserialize, Default)]
struct TopProvider {
    #[serde(default)]
    context_length: Option<u64>,
    #[serde(default)]
    max_completion_tokens: Option<u64>,
}

#[derive(Deserialize, Default)]
struct Architecture {
    #[serde(default)]
    input_modalities: Vec<String>,
    #[serde(default)]
    output_modalities: Vec<String>,
}

/// Convert an OpenRouter listing. Models priced `-1` (router models whose price depends on the
/// route) or without a prompt/completion price are skipped. A `0` cache-read or reasoning price
/// on a paid model means "not listed" on OpenRouter (reasoning tokens bill as completion), so it
/// is dropped rather than imported as free.
pub fn import_openrouter(json: &str) -> Result<Catalog, ImportError> {
    let de = &mut serde_json::Deserializer::from_str(json);
    let listing: Listing = serde_path_to_error::deserialize(de).map_err(|e| ImportError::Json {
        path: e.path().to_string(),
        message: e.inner().to_string(),
    })?;
    let mut models = Vec::new();
    let mut seen = HashSet::new();
    let mut skipped = 0usize;
    for m in &listing.data {
        match convert(m) {
            Some(entry) if seen.insert(entry.id.clone()) => models.push(entry),
            _ => skipped += 1,
        }
    }
    // Sorted, so that re-importing a newer file gives a readable diff.
    models.sort_by(|a, b| a.id.cmp(&b.id));
    if models.is_empty() {
        return Err(ImportError::Invalid(
            "no priced model in the listing; is this the JSON of GET /api/v1/models?".into(),
        ));
    }
    Ok(Catalog {
        version: FORMAT_VERSION,
        as_of: this_month(),
        note: format!(
            "Imported from the OpenRouter model listing: {} models, {skipped} skipped (variable or missing price, duplicate).",
            models.len()
        ),
        rules: Vec::new(),
        models,
    })
}

fn convert(m: &Model) -> Option<ModelEntry> {
    if !m.id.contains('/') {
        return None;
    }
    let p = m.pricing.as_ref()?;
    let get = |s: &Option<String>| s.as_deref().and_then(per_mtok);
    let input = get(&p.prompt)?;
    let output = get(&p.completion)?;
    if input.is_sign_negative() || output.is_sign_negative() {
        return None;
    }
    let paid = !input.is_zero() || !output.is_zero();
    let listed = |d: Option<Decimal>| d.filter(|d| d.is_sign_positive() && (!paid || !d.is_zero()));
    let top = m.top_provider.as_ref();
    let context_window = m
        .context_length
        .or(top.and_then(|t| t.context_length))
        .filter(|n| *n > 0)?;
    let arch = m.architecture.as_ref();
    let embeddings = arch.is_some_and(|a| a.output_modalities.iter().any(|o| o == "embeddings"));
    let has = |name: &str| m.supported_parameters.iter().any(|s| s == name);
    Some(ModelEntry {
        id: m.id.clone(),
        mode: if embeddings {
            Mode::Embedding
        } else {
            Mode::Chat
        },
        context_window,
        max_output: top.and_then(|t| t.max_completion_tokens).filter(|n| *n > 0),
        prices: Prices {
            input: Some(input),
            cached_input: listed(get(&p.input_cache_read)),
            cache_write: listed(get(&p.input_cache_write)),
            output: Some(output),
            reasoning: listed(get(&p.internal_reasoning)),
        },
        capabilities: Capabilities {
            tools: has("tools"),
            json_schema: has("structured_outputs"),
            vision: arch.is_some_and(|a| a.input_modalities.iter().any(|i| i == "image")),
            logprobs: has("logprobs"),
            embeddings,
        },
        tiers: Vec::new(),
        note: String::new(),
    })
}
