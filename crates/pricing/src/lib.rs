//! Model prices and exact cost accounting.
//!
//! - [`catalog`]: the catalog file format and the bundled catalog (`data/catalog.json`).
//! - [`rules`]: price rules on top of list prices (time windows, tiers, batch / flex).
//! - [`book`]: [`PriceBook`], the compiled catalog: `cost`, `estimate`, `rates`, `entry`.
//! - [`config`]: `[pricing]` config section and per-deployment overrides.
//! - [`live`]: [`LivePrices`], the book in use, refreshed from a file or URL.
//! - [`import`]: LiteLLM and OpenRouter price lists into the catalog format.
//!
//! Every amount is a `switchyard_core::Usd` (exact decimal). A model without a known price
//! yields `None`, never zero.

pub mod book;
pub mod catalog;
pub mod config;
pub mod import;
pub mod live;
pub mod rules;

pub use book::{ClassTokens, CostBreakdown, PriceBook, PriceSlot, PricingCtx, Rates};
pub use catalog::{Catalog, Mode, ModelEntry, Prices, Tier};
pub use config::{CatalogSource, ModelOverride, PricingConfig, TokenCount};
pub use import::{ImportError, import_litellm, import_openrouter};
pub use live::{LivePrices, RefreshTask};
pub use rules::Rule;
