//! LiteLLM's `model_prices_and_context_window.json`: a map from model key to a flat record of
//! per-token prices, limits and `supports_*` flags.

use std::collections::{BTreeMap, HashSet};

use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::value::RawValue;
use switchyard_core::Capabilities;

use super::{ImportError, per_mtok, this_month};
use crate::catalog::{Catalog, FORMAT_VERSION, Mode, ModelEntry, Prices, Tier};
use crate::rules::{DiscountRule, Rule};

/// Fields we read; everything else in an entry is ignored. Numbers stay raw text so that
/// `1.5e-07` converts exactly.
#[derive(Deserialize)]
struct Entry<'a> {
    #[serde(borrow, default)]
    input_cost_per_token: Option<&'a RawValue>,
    #[serde(borrow, default)]
    output_cost_per_token: Option<&'a RawValue>,
    #[serde(borrow, default)]
    cache_read_input_token_cost: Option<&'a RawValue>,
    #[serde(borrow, default)]
    cache_creation_input_token_cost: Option<&'a RawValue>,
    #[serde(borrow, default)]
    output_cost_per_reasoning_token: Option<&'a RawValue>,
    #[serde(borrow, default)]
    input_cost_per_token_above_128k_tokens: Option<&'a RawValue>,
    #[serde(borrow, default)]
    output_cost_per_token_above_128k_tokens: Option<&'a RawValue>,
    #[serde(borrow, default)]
    input_cost_per_token_above_200k_tokens: Option<&'a RawValue>,
    #[serde(borrow, default)]
    output_cost_per_token_above_200k_tokens: Option<&'a RawValue>,
    #[serde(borrow, default)]
    cache_read_input_token_cost_above_200k_tokens: Option<&'a RawValue>,
    #[serde(borrow, default)]
    cache_creation_input_token_cost_above_200k_tokens: Option<&'a RawValue>,
    #[serde(borrow, default)]
    input_cost_per_token_batches: Option<&'a RawValue>,
    #[serde(borrow, default)]
    output_cost_per_token_batches: Option<&'a RawValue>,
    #[serde(borrow, default)]
    input_cost_per_token_flex: Option<&'a RawValue>,
    #[serde(borrow, default)]
    output_cost_per_token_flex: Option<&'a RawValue>,
    #[serde(borrow, default)]
    max_input_tokens: Option<&'a RawValue>,
    #[serde(borrow, default)]
    max_output_tokens: Option<&'a RawValue>,
    #[serde(borrow, default)]
    max_tokens: Option<&'a RawValue>,
    #[serde(default)]
    litellm_provider: Option<String>,
    #[serde(default)]
    mode: Option<String>,
    #[serde(default)]
    supports_function_calling: Option<bool>,
    #[serde(default)]
    supports_vision: Option<bool>,
    #[serde(default)]
    supports_response_schema: Option<bool>,
}

/// Convert LiteLLM's price file. Keys that are not chat or embedding models (images, audio,
/// rerank, ...) and entries without both token prices are skipped; the catalog's `note` says
/// how many. Ids become `provider/model` with LiteLLM's provider names mapped to ours.
pub fn import_litellm(json: &str) -> Result<Catalog, ImportError> {
    let de = &mut serde_json::Deserializer::from_str(json);
    let raw: BTreeMap<String, &RawValue> =
        serde_path_to_error::deserialize(de).map_err(|e| ImportError::Json {
            path: e.path().to_string(),
            message: e.inner().to_string(),
        })?;
    let mut models = Vec::new();
    let mut seen = HashSet::new();
    let mut skipped = 0usize;
    let mut batch: BTreeMap<Decimal, Vec<String>> = BTreeMap::new();
    let mut flex: BTreeMap<Decimal, Vec<String>> = BTreeMap::new();
    for (key, value) in &raw {
        if key == "sample_spec" {
            continue;
        }
        // An entry we cannot read is skipped, like any other entry we cannot price.
        let Ok(e) = serde_json::from_str::<Entry<'_>>(value.get()) else {
            skipped += 1;
            continue;
        };
        let Some(m) = convert(key, &e) else {
            skipped += 1;
            continue;
        };
        if !seen.insert(m.id.clone()) {
            skipped += 1;
            continue;
        }
        let (input, output) = (m.prices.input, m.prices.output);
        if let Some(r) = ratio(
            input,
            output,
            price(e.input_cost_per_token_batches),
            price(e.output_cost_per_token_batches),
        ) {
            batch.entry(r).or_default().push(m.id.clone());
        }
        if let Some(r) = ratio(
            input,
            output,
            price(e.input_cost_per_token_flex),
            price(e.output_cost_per_token_flex),
        ) {
            flex.entry(r).or_default().push(m.id.clone());
        }
        models.push(m);
    }
    // Sorted, so that re-importing a newer file gives a readable diff.
    models.sort_by(|a, b| a.id.cmp(&b.id));
    let mut rules = Vec::new();
    for (r, ids) in batch {
        rules.push(Rule::Batch(DiscountRule {
            name: format!("litellm-batch-x{}", r.normalize()),
            models: ids,
            multiplier: r,
        }));
    }
    for (r, ids) in flex {
        rules.push(Rule::Flex(DiscountRule {
            name: format!("litellm-flex-x{}", r.normalize()),
            models: ids,
            multiplier: r,
        }));
    }
    if models.is_empty() {
        return Err(ImportError::Invalid(
            "no chat or embedding model with input and output prices found; is this LiteLLM's model_prices_and_context_window.json?".into(),
        ));
    }
    Ok(Catalog {
        version: FORMAT_VERSION,
        as_of: this_month(),
        note: format!(
            "Imported from LiteLLM model_prices_and_context_window.json: {} models, {skipped} entries skipped (not chat/embedding, unpriced or duplicate).",
            models.len()
        ),
        rules,
        models,
    })
}

fn price(v: Option<&RawValue>) -> Option<Decimal> {
    v.and_then(|r| per_mtok(r.get()))
}

fn count(v: Option<&RawValue>) -> Option<u64> {
    v.and_then(|r| r.get().parse::<u64>().ok())
        .filter(|n| *n > 0)
}

/// A batch/flex multiplier, only when input and output are discounted alike.
fn ratio(
    input: Option<Decimal>,
    output: Option<Decimal>,
    i: Option<Decimal>,
    o: Option<Decimal>,
) -> Option<Decimal> {
    let (input, i) = (input?, i?);
    if input.is_zero() {
        return None;
    }
    let r = (i / input).normalize();
    match (output, o) {
        (Some(out), Some(o)) if !out.is_zero() && (o / out).normalize() != r => None,
        _ => Some(r),
    }
}

fn convert(key: &str, e: &Entry<'_>) -> Option<ModelEntry> {
    let mode = match e.mode.as_deref() {
        Some("chat") => Mode::Chat,
        Some("embedding") => Mode::Embedding,
        _ => return None,
    };
    let input = price(e.input_cost_per_token)?;
    let output = match (price(e.output_cost_per_token), mode) {
        (Some(o), _) => o,
        // Embeddings produce no output tokens; LiteLLM often leaves the field out.
        (None, Mode::Embedding) => Decimal::ZERO,
        (None, Mode::Chat) => return None,
    };
    let provider_raw = e.litellm_provider.as_deref().unwrap_or("");
    let id = make_id(key, provider_raw)?;
    let context_window = count(e.max_input_tokens).or(count(e.max_tokens))?;
    let mut tiers = Vec::new();
    for (above, i, o, cr, cw) in [
        (
            128_000,
            e.input_cost_per_token_above_128k_tokens,
            e.output_cost_per_token_above_128k_tokens,
            None,
            None,
        ),
        (
            200_000,
            e.input_cost_per_token_above_200k_tokens,
            e.output_cost_per_token_above_200k_tokens,
            e.cache_read_input_token_cost_above_200k_tokens,
            e.cache_creation_input_token_cost_above_200k_tokens,
        ),
    ] {
        let p = Prices {
            input: price(i),
            cached_input: price(cr),
            cache_write: price(cw),
            output: price(o),
            reasoning: None,
        };
        if p.input.is_some() || p.output.is_some() {
            tiers.push(Tier {
                above_input_tokens: above,
                prices: p,
            });
        }
    }
    Some(ModelEntry {
        id,
        mode,
        context_window,
        max_output: if mode == Mode::Chat {
            count(e.max_output_tokens)
        } else {
            None
        },
        prices: Prices {
            input: Some(input),
            cached_input: price(e.cache_read_input_token_cost),
            cache_write: price(e.cache_creation_input_token_cost),
            output: Some(output),
            reasoning: price(e.output_cost_per_reasoning_token),
        },
        capabilities: Capabilities {
            tools: e.supports_function_calling.unwrap_or(false),
            json_schema: e.supports_response_schema.unwrap_or(false),
            vision: e.supports_vision.unwrap_or(false),
            // LiteLLM has no logprobs flag; unknown means "do not rely on it".
            logprobs: false,
            embeddings: mode == Mode::Embedding,
        },
        tiers,
        note: String::new(),
    })
}

/// LiteLLM provider names to ours, and the key with any provider prefix removed.
fn make_id(key: &str, litellm_provider: &str) -> Option<String> {
    let provider = match litellm_provider {
        "" => return None,
        "gemini" => "google",
        "together_ai" => "together",
        "fireworks_ai" => "fireworks",
        "cohere_chat" => "cohere",
        "dashscope" => "qwen",
        "bedrock_converse" => "bedrock",
        "text-completion-openai" => "openai",
        p if p.starts_with("vertex_ai") => "vertex_ai",
        p => p,
    };
    let model = match key.split_once('/') {
        Some((prefix, rest)) if prefix == litellm_provider || prefix == provider => rest,
        _ => key,
    };
    if model.is_empty() {
        return None;
    }
    Some(format!("{provider}/{model}"))
}
