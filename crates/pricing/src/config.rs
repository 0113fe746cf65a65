//! `[pricing]` in the server config.
//!
//! ```toml
//! [pricing]
//! catalog = "prices.json"          # path or http(s) URL; default: the bundled catalog
//! refresh = "10m"                  # reload interval for LivePrices; default: never
//! disable_rules = ["deepseek-chat-off-peak"]   # drop catalog rules by name
//!
//! [[pricing.rules]]
//! kind = "flex"
//! name = "my-flex"
//! models = ["openai/o3"]
//! multiplier = "0.5"
//!
//! [pricing.overrides."openai/gpt-4o-mini"]   # negotiated prices, USD per 1M tokens
//! input = "0.12"
//! output = "0.48"
//! ```

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use switchyard_core::Capabilities;

use crate::book::PriceBook;
use crate::catalog::{Catalog, ModelEntry, Prices};
use crate::rules::Rule;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct PricingConfig {
    /// File path or `http(s)://` URL of a catalog in the bundled format; `None` = bundled.
    pub catalog: Option<String>,
    /// How often [`crate::LivePrices`] reloads the catalog (`"10m"`, `"1h"`); `None` = never.
    pub refresh: Option<String>,
    pub rules: Vec<Rule>,
    /// Names of catalog rules to ignore.
    pub disable_rules: Vec<String>,
    pub overrides: BTreeMap<String, ModelOverride>,
    /// How prompt tokens are counted before dispatch (the estimate, the ceiling, context fit
    /// and tiers); the bill always prices the provider's reported usage.
    pub token_count: TokenCount,
}

/// `token_count = "estimate" | "exact"`: see `switchyard_engine::tokens`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenCount {
    #[default]
    Estimate,
    Exact,
}

/// Per-deployment changes to one model; every field optional. A model absent from the catalog
/// may be added this way when at least `input`, `output` and `context_window` are given.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ModelOverride {
    pub input: Option<Decimal>,
    pub cached_input: Option<Decimal>,
    pub cache_write: Option<Decimal>,
    pub output: Option<Decimal>,
    pub reasoning: Option<Decimal>,
    pub context_window: Option<u64>,
    pub max_output: Option<u64>,
    pub capabilities: Option<Capabilities>,
}

impl ModelOverride {
    fn prices(&self) -> Prices {
        Prices {
            input: self.input,
            cached_input: self.cached_input,
            cache_write: self.cache_write,
            output: self.output,
            reasoning: self.reasoning,
        }
    }
}

/// Where a catalog comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CatalogSource {
    Bundled,
    File(String),
    Url(String),
}

impl PricingConfig {
    pub fn source(&self) -> CatalogSource {
        match self.catalog.as_deref().map(str::trim) {
            None | Some("") | Some("bundled") => CatalogSource::Bundled,
            Some(s) if s.starts_with("http://") || s.starts_with("https://") => {
                CatalogSource::Url(s.to_string())
            }
            Some(s) => CatalogSource::File(s.to_string()),
        }
    }

    /// The refresh interval, if any.
    pub fn refresh_interval(&self) -> Result<Option<Duration>, String> {
        let Some(s) = self.refresh.as_deref() else {
            return Ok(None);
        };
        let d = humantime::parse_duration(s.trim()).map_err(|e| {
            format!("pricing.refresh: \"{s}\" is not a duration like \"10m\" ({e})")
        })?;
        if d < Duration::from_secs(1) {
            return Err(format!(
                "pricing.refresh: \"{s}\" is shorter than one second"
            ));
        }
        Ok(Some(d))
    }

    /// Every error of this section (rules, overrides, refresh) against `catalog`, with paths
    /// rooted at `pricing.`, or the compiled book.
    pub fn build(&self, catalog: &Catalog) -> Result<PriceBook, Vec<String>> {
        let mut errors = Vec::new();
        if let Err(e) = self.refresh_interval() {
            errors.push(e);
        }
        let mut catalog = catalog.clone();
        for name in &self.disable_rules {
            if !catalog.rules.iter().any(|r| r.name() == name) {
                errors.push(format!(
                    "pricing.disable_rules: no catalog rule is named \"{name}\""
                ));
            }
        }
        catalog
            .rules
            .retain(|r| !self.disable_rules.iter().any(|n| n == r.name()));

        let mut overridden = HashSet::new();
        for (id, o) in &self.overrides {
            let path = format!("pricing.overrides.\"{id}\"");
            o.prices().check(&path, &mut errors);
            if let Some(entry) = catalog.models.iter_mut().find(|m| &m.id == id) {
                apply(entry, o);
            } else {
                match (o.input, o.output, o.context_window) {
                    (Some(_), Some(_), Some(cw)) if id.contains('/') => {
                        catalog.models.push(ModelEntry {
                            id: id.clone(),
                            mode: Default::default(),
                            context_window: cw,
                            max_output: o.max_output,
                            prices: o.prices(),
                            capabilities: o.capabilities.unwrap_or_default(),
                            tiers: Vec::new(),
                            note: "added by pricing.overrides".into(),
                        });
                    }
                    _ => {
                        errors.push(format!(
                            "{path}: model not in the catalog; to add it give input, output and context_window (id as provider/model)"
                        ));
                        continue;
                    }
                }
            }
            overridden.insert(id.clone());
        }

        for (i, rule) in self.rules.iter().enumerate() {
            rule.check(&format!("pricing.rules[{i}]"), &mut errors);
            for (j, pat) in rule.models().iter().enumerate() {
                if !catalog
                    .models
                    .iter()
                    .any(|m| crate::rules::selector_matches(pat, &m.id))
                {
                    errors.push(format!(
                        "pricing.rules[{i}].models[{j}]: \"{pat}\" matches no model in the catalog"
                    ));
                }
            }
        }

        if !errors.is_empty() {
            return Err(errors);
        }
        PriceBook::compile_marked(&catalog, &self.rules, &overridden)
            .map_err(|es| prefixed("pricing.catalog", es))
    }
}

fn apply(entry: &mut ModelEntry, o: &ModelOverride) {
    entry.prices = entry.prices.merged(&o.prices());
    if let Some(cw) = o.context_window {
        entry.context_window = cw;
    }
    if o.max_output.is_some() {
        entry.max_output = o.max_output;
    }
    if let Some(c) = o.capabilities {
        entry.capabilities = c;
    }
}

impl PriceBook {
    /// Build from `[pricing]` synchronously: the bundled catalog or a catalog file. A URL
    /// catalog cannot be fetched here; the book then starts from the bundled catalog and
    /// [`crate::LivePrices`] replaces it on its first refresh (so a price server that is down
    /// delays fresh prices, never the gateway's start).
    pub fn from_config(cfg: &PricingConfig) -> Result<PriceBook, Vec<String>> {
        let catalog = match cfg.source() {
            CatalogSource::Bundled | CatalogSource::Url(_) => {
                Catalog::bundled().map_err(|es| prefixed("pricing.catalog (bundled)", es))?
            }
            CatalogSource::File(path) => {
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| vec![format!("pricing.catalog: cannot read \"{path}\": {e}")])?;
                Catalog::parse(&text)
                    .map_err(|es| prefixed(&format!("pricing.catalog \"{path}\""), es))?
            }
        };
        cfg.build(&catalog)
    }
}

pub(crate) fn prefixed(prefix: &str, errors: Vec<String>) -> Vec<String> {
    errors
        .into_iter()
        .map(|e| format!("{prefix}: {e}"))
        .collect()
}
