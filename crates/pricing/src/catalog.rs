//! The catalog: list prices and limits of every known model, in the file format Switchyard ships
//! (`data/catalog.json`) and that `switchyard prices import` writes.
//!
//! Prices are USD per 1M tokens, written as decimal strings so that no float ever touches them.

use std::collections::HashSet;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use switchyard_core::Capabilities;

use crate::rules::Rule;

/// The catalog compiled into the binary. Its date is in the file (`as_of`).
pub const BUNDLED_CATALOG: &str = include_str!("../data/catalog.json");

/// Current catalog file format.
pub const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    pub version: u32,
    /// When the prices were taken from the providers' price lists, e.g. "2025-08".
    pub as_of: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
    /// Rules shipped with the catalog (provider batch discounts, off-peak windows, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<Rule>,
    pub models: Vec<ModelEntry>,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    #[default]
    Chat,
    Embedding,
}

impl Mode {
    fn is_chat(&self) -> bool {
        *self == Mode::Chat
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ModelEntry {
    /// `provider/model`, e.g. `openai/gpt-4o-mini`.
    pub id: String,
    #[serde(default, skip_serializing_if = "Mode::is_chat")]
    pub mode: Mode,
    /// Maximum input (prompt) tokens.
    pub context_window: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output: Option<u64>,
    pub prices: Prices,
    #[serde(default)]
    pub capabilities: Capabilities,
    /// Long-context tiers: when the prompt has more than `above_input_tokens` tokens, every
    /// token of the request is billed at the tier's rates (Gemini, Anthropic long context).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tiers: Vec<Tier>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
}

impl ModelEntry {
    pub fn provider(&self) -> &str {
        self.id.split_once('/').map_or("", |(p, _)| p)
    }
}

/// USD per 1M tokens for each token class. A class left out falls back as documented on
/// [`crate::Rates`]: cached input and cache writes to input, reasoning to output.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Prices {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_input: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<Decimal>,
}

impl Prices {
    /// Fields set in `over` replace ours.
    pub fn merged(&self, over: &Prices) -> Prices {
        Prices {
            input: over.input.or(self.input),
            cached_input: over.cached_input.or(self.cached_input),
            cache_write: over.cache_write.or(self.cache_write),
            output: over.output.or(self.output),
            reasoning: over.reasoning.or(self.reasoning),
        }
    }

    fn fields(&self) -> [(&'static str, Option<Decimal>); 5] {
        [
            ("input", self.input),
            ("cached_input", self.cached_input),
            ("cache_write", self.cache_write),
            ("output", self.output),
            ("reasoning", self.reasoning),
        ]
    }

    /// Every negative price, as `path.field: message`.
    pub(crate) fn check(&self, path: &str, errors: &mut Vec<String>) {
        for (name, v) in self.fields() {
            if let Some(v) = v
                && v.is_sign_negative()
                && !v.is_zero()
            {
                errors.push(format!("{path}.{name}: price {v} is negative"));
            }
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Tier {
    pub above_input_tokens: u64,
    pub prices: Prices,
}

impl Catalog {
    /// Parse a catalog file (JSON) and check its invariants; errors carry their path.
    pub fn parse(text: &str) -> Result<Catalog, Vec<String>> {
        let de = &mut serde_json::Deserializer::from_str(text);
        let catalog: Catalog = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            vec![format!("{path}: {}", e.inner())]
        })?;
        let errors = catalog.validate();
        if errors.is_empty() {
            Ok(catalog)
        } else {
            Err(errors)
        }
    }

    /// The catalog shipped inside the binary.
    pub fn bundled() -> Result<Catalog, Vec<String>> {
        Catalog::parse(BUNDLED_CATALOG)
    }

    /// Pretty JSON in the bundled file's format.
    pub fn to_json(&self) -> String {
        // Serialising plain structs of strings and integers cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Every invariant violation, each with its path (`models[3].prices.output: ...`).
    pub fn validate(&self) -> Vec<String> {
        let mut errors = Vec::new();
        if self.version != FORMAT_VERSION {
            errors.push(format!(
                "version: catalog format {} is not supported (expected {FORMAT_VERSION})",
                self.version
            ));
        }
        let mut seen = HashSet::new();
        for (i, m) in self.models.iter().enumerate() {
            let path = format!("models[{i}]");
            match m.id.split_once('/') {
                Some((p, rest)) if !p.is_empty() && !rest.is_empty() => {}
                _ => errors.push(format!(
                    "{path}.id: \"{}\" is not of the form provider/model",
                    m.id
                )),
            }
            if !seen.insert(m.id.as_str()) {
                errors.push(format!("{path}.id: duplicate model id \"{}\"", m.id));
            }
            if m.context_window == 0 {
                errors.push(format!("{path}.context_window: must be > 0 ({})", m.id));
            }
            if m.prices.input.is_none() {
                errors.push(format!("{path}.prices.input: missing ({})", m.id));
            }
            if m.prices.output.is_none() {
                errors.push(format!("{path}.prices.output: missing ({})", m.id));
            }
            m.prices.check(&format!("{path}.prices"), &mut errors);
            for (t, tier) in m.tiers.iter().enumerate() {
                tier.prices
                    .check(&format!("{path}.tiers[{t}].prices"), &mut errors);
            }
        }
        for (i, r) in self.rules.iter().enumerate() {
            r.check(&format!("rules[{i}]"), &mut errors);
        }
        errors
    }

    /// Distinct providers (the part of the id before the first `/`).
    pub fn providers(&self) -> Vec<&str> {
        let mut p: Vec<&str> = self.models.iter().map(ModelEntry::provider).collect();
        p.sort_unstable();
        p.dedup();
        p
    }
}
