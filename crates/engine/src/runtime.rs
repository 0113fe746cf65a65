//! `Engine`: the runtime built from a `Config`. Rebuilt whole on reload and swapped
//! atomically by the server; state that must survive a reload (key health, breakers, latency
//! statistics, caches) lives in `Shared`, which every generation of the engine shares.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use switchyard_core::{Capabilities, Provider, RequestRecord, Usd};
use switchyard_providers::ProviderSettings;

use crate::config::{Config, ConfigError, resolve_secret};
use crate::cost::{LiveSource, PriceSource};
use crate::keys::KeyPool;
use switchyard_pricing::{LivePrices, PriceBook, PricingConfig};

/// Where finished requests go (request log, metrics). Must not block: called on the request path.
pub trait RecordSink: Send + Sync {
    fn record(&self, rec: RequestRecord);
}

/// A sink that drops records, for tools that route without serving (`switchyard route`).
pub struct NullSink;

impl RecordSink for NullSink {
    fn record(&self, _rec: RequestRecord) {}
}

/// A provider's key references and the pool built from them.
type PoolEntry = (Vec<String>, Arc<KeyPool>);

/// State shared across config generations.
pub struct Shared {
    pub http: reqwest::Client,
    /// The price catalog in use; replaced on reload and by the refresh task.
    pub prices: Arc<LivePrices>,
    /// Key pools by provider name; kept across reloads when the provider's key list is unchanged.
    key_pools: parking_lot::Mutex<HashMap<String, PoolEntry>>,
    /// Live p95 latency per model name, read by routing.
    pub latency: crate::latency::LatencyBook,
    /// Cached answers, in-flight requests and the semantic index (`crate::cache`).
    pub cache: Arc<crate::cache::CacheHub>,
    /// Circuit breakers per deployment and the reliability policies in force.
    pub health: Arc<crate::health::Health>,
}

impl Shared {
    pub fn new() -> Arc<Shared> {
        // The bundled catalog is compiled into the binary and checked by its own tests; an
        // empty book (all prices unknown, reported as null) is the safe fallback.
        let book = PriceBook::bundled().or_else(|_| {
            switchyard_pricing::Catalog::parse(r#"{"version":1,"as_of":"","models":[]}"#)
                .and_then(|c| PriceBook::compile(&c, &[]))
        });
        let book = match book {
            Ok(b) => b,
            Err(e) => unreachable_book(&e),
        };
        Arc::new(Shared {
            http: switchyard_providers::http::shared_client(),
            prices: LivePrices::new(book),
            key_pools: parking_lot::Mutex::new(HashMap::new()),
            latency: crate::latency::LatencyBook::default(),
            cache: crate::cache::CacheHub::new(),
            health: Arc::default(),
        })
    }

    fn key_pool(
        &self,
        provider: &str,
        refs: &[String],
        errors: &mut Vec<ConfigError>,
    ) -> Arc<KeyPool> {
        let mut pools = self.key_pools.lock();
        if let Some((old_refs, pool)) = pools.get(provider) {
            if old_refs == refs {
                return pool.clone();
            }
        }
        let mut secrets = Vec::new();
        for (i, r) in refs.iter().enumerate() {
            match resolve_secret(r) {
                Ok(s) => secrets.push(s),
                Err(e) => errors.push(ConfigError::new(
                    format!("providers.{provider}.keys[{i}]"),
                    e,
                )),
            }
        }
        let pool = Arc::new(KeyPool::new(secrets));
        pools.insert(provider.to_owned(), (refs.to_vec(), pool.clone()));
        pool
    }

    /// The pool of `provider` with the config's back-off for rejected keys; a kept pool
    /// takes a changed back-off too.
    fn configured_pool(
        &self,
        provider: &str,
        p: &crate::config::ProviderConfig,
        errors: &mut Vec<ConfigError>,
    ) -> Arc<KeyPool> {
        let pool = self.key_pool(provider, &p.keys, errors);
        pool.set_dead_backoff(
            p.dead_key_backoff.unwrap_or(crate::keys::DEAD_KEY_BACKOFF),
            p.dead_key_backoff_max
                .unwrap_or(crate::keys::DEAD_KEY_BACKOFF_MAX),
        );
        pool
    }
}

/// One routable model: a provider instance plus what we know about the model.
pub struct ModelRt {
    pub name: String,
    pub provider_name: String,
    pub provider: Arc<dyn Provider>,
    pub keys: Arc<KeyPool>,
    pub upstream: String,
    pub price_id: String,
    pub caps: Capabilities,
    /// The provider's API accepts `n > 1` (a property of the wire format, not the model).
    pub multiple_choices: bool,
    pub context_window: Option<u32>,
    pub max_output: Option<u32>,
    pub quality: BTreeMap<String, f64>,
    /// `quality` by task id ([`Engine::task_ids`]), so a routing decision reads an array slot
    /// per candidate instead of comparing task names in a map.
    pub quality_by_task: Box<[Option<f64>]>,
    /// `quality.default`: the figure for a task the table does not name.
    pub quality_default: Option<f64>,
    /// The price book's slot for `price_id`, remembered per book generation.
    pub price_slot: switchyard_pricing::PriceSlot,
    /// Set once the unknown price of this model was logged: one warning per model and config
    /// generation, not one per request.
    pub price_warned: std::sync::atomic::AtomicBool,
    /// The OpenAI encoding prompt tokens are counted in, with `[pricing] token_count =
    /// "exact"` and a model of that family; `None` = the estimate.
    pub encoding: Option<crate::tokens::Encoding>,
    pub embedding: bool,
    pub first_byte_timeout: Option<Duration>,
    pub idle_timeout: Option<Duration>,
    /// This model's live latency windows (shared across reloads by name).
    pub latency: Arc<crate::latency::ModelLatency>,
    /// Breaker ids (`provider:model:keyN`, or `provider:model` without keys), by key index:
    /// made once here rather than formatted twice on every attempt.
    pub deployment_ids: Box<[String]>,
}

impl ModelRt {
    /// The breaker id of this model reached with key `key` (None: a keyless provider).
    pub fn deployment(&self, key: Option<usize>) -> std::borrow::Cow<'_, str> {
        // The ids were made for exactly one of the two shapes: keys by index, or one keyless id.
        let made_for = key.is_some() != self.keys.is_empty();
        match self.deployment_ids.get(key.unwrap_or(0)) {
            Some(id) if made_for => id.as_str().into(),
            // A pool that changed shape since this model was built: format it as before.
            _ => crate::health::deployment_id(&self.provider_name, &self.name, key).into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    Cheapest,
    Ordered,
    Weighted,
    Latency,
    Cascade,
}

impl Strategy {
    fn parse(s: &str) -> Strategy {
        match s {
            "cheapest" => Strategy::Cheapest,
            "weighted" => Strategy::Weighted,
            "latency" => Strategy::Latency,
            "cascade" => Strategy::Cascade,
            _ => Strategy::Ordered,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Cheapest => "cheapest",
            Strategy::Ordered => "ordered",
            Strategy::Weighted => "weighted",
            Strategy::Latency => "latency",
            Strategy::Cascade => "cascade",
        }
    }
}

pub struct RouteRt {
    pub name: String,
    pub strategy: Strategy,
    /// Indexes into `Engine::models`; for cascades, the tiers from cheap to strong.
    pub candidates: Vec<usize>,
    pub weights: Vec<f64>,
    pub min_quality: Option<f64>,
    pub max_cost: Option<Usd>,
    pub latency_budget: Option<Duration>,
    pub baseline: Option<usize>,
    /// Accept gates of a cascade route (`[routes.X.gates]`).
    pub cascade: Option<Arc<crate::cascade::CascadeRt>>,
    /// Per-prompt quality router (`[routes.X.router]`).
    pub prompt_router: Option<Arc<crate::prompt_router::PromptRouterRt>>,
}

pub struct Engine {
    pub config: Arc<Config>,
    pub models: Vec<ModelRt>,
    pub model_index: HashMap<String, usize>,
    /// Every task named in a model's quality table (but `default`), numbered.
    pub task_ids: HashMap<String, usize>,
    pub routes: HashMap<String, RouteRt>,
    pub aliases: HashMap<String, String>,
    pub shared: Arc<Shared>,
    pub sink: Arc<dyn RecordSink>,
    pub prices: Arc<dyn PriceSource>,
    /// `[pricing]` as configured (the server starts the catalog refresh from it).
    pub pricing: PricingConfig,
    /// `[cache]`, `[routes.X.cache]` and the store they use.
    pub cache: crate::cache::CacheRt,
}

impl Engine {
    /// Build from a validated config. Errors (a provider that cannot be built, a key that no
    /// longer resolves) are returned all at once, with paths.
    pub fn build(
        config: Config,
        shared: Arc<Shared>,
        sink: Arc<dyn RecordSink>,
    ) -> Result<Engine, Vec<ConfigError>> {
        let mut errors = Vec::new();
        let (pricing_cfg, book) = pricing(&config, &mut errors);
        let mut providers: HashMap<String, (Arc<dyn Provider>, Arc<KeyPool>)> = HashMap::new();
        for (name, p) in &config.providers {
            let settings = ProviderSettings {
                name: name.clone(),
                kind: p.kind.clone(),
                base_url: p.base_url.clone(),
                flavor: p.flavor.clone(),
                default_max_tokens: p.default_max_tokens,
                headers: p.headers.clone(),
            };
            match switchyard_providers::build_provider(&settings, shared.http.clone()) {
                Ok(prov) => {
                    let pool = shared.configured_pool(name, p, &mut errors);
                    providers.insert(name.clone(), (prov, pool));
                }
                Err(e) => errors.push(ConfigError::new(format!("providers.{name}"), e)),
            }
        }
        let mut models = Vec::new();
        let mut model_index = HashMap::new();
        for (name, m) in &config.models {
            let Some((provider, keys)) = providers.get(&m.provider) else {
                continue; // already reported
            };
            let pcfg = &config.providers[&m.provider];
            let price_id = m.price_id.clone().unwrap_or_else(|| name.clone());
            // What the config leaves out comes from the catalog entry, if there is one.
            let entry = book.as_ref().and_then(|b| b.entry(&price_id).cloned());
            let caps = m
                .capabilities
                .or(entry.as_ref().map(|e| e.capabilities))
                .unwrap_or_else(|| default_caps(m.is_embedding(), provider.offers_logprobs()));
            let caps = Capabilities {
                // A wire format without logprobs cannot deliver them whatever the catalog says.
                logprobs: caps.logprobs && provider.offers_logprobs(),
                embeddings: caps.embeddings || m.is_embedding(),
                ..caps
            };
            let context_window = m.context_window.or_else(|| {
                entry
                    .as_ref()
                    .and_then(|e| u32::try_from(e.context_window).ok())
            });
            let max_output = m.max_output.or_else(|| {
                entry
                    .as_ref()
                    .and_then(|e| e.max_output.and_then(|x| u32::try_from(x).ok()))
            });
            model_index.insert(name.clone(), models.len());
            models.push(ModelRt {
                name: name.clone(),
                provider_name: m.provider.clone(),
                provider: provider.clone(),
                keys: keys.clone(),
                upstream: m.upstream_name(name).to_owned(),
                price_id,
                caps,
                multiple_choices: provider.offers_multiple_choices(),
                context_window,
                max_output,
                quality: m.quality.clone(),
                quality_by_task: Box::default(),
                quality_default: m.quality.get("default").copied(),
                price_slot: switchyard_pricing::PriceSlot::default(),
                price_warned: std::sync::atomic::AtomicBool::new(false),
                encoding: (pricing_cfg.token_count == crate::tokens::TokenCount::Exact)
                    .then(|| crate::tokens::Encoding::of_model(m.upstream_name(name)))
                    .flatten(),
                embedding: m.is_embedding(),
                first_byte_timeout: pcfg.first_byte_timeout,
                idle_timeout: pcfg.idle_timeout,
                latency: shared.latency.tracker(name),
                deployment_ids: if keys.is_empty() {
                    vec![crate::health::deployment_id(&m.provider, name, None)]
                } else {
                    (0..keys.len())
                        .map(|k| crate::health::deployment_id(&m.provider, name, Some(k)))
                        .collect()
                }
                .into_boxed_slice(),
            });
        }
        let task_ids = intern_tasks(&mut models);
        for e in crate::tokens::Encoding::ALL {
            if models.iter().any(|m| m.encoding == Some(e)) {
                e.warm();
            }
        }
        let mut routes = HashMap::new();
        for (name, r) in &config.routes {
            let list = if r.strategy == "cascade" {
                &r.tiers
            } else {
                &r.candidates
            };
            routes.insert(
                name.clone(),
                RouteRt {
                    name: name.clone(),
                    strategy: Strategy::parse(&r.strategy),
                    candidates: list
                        .iter()
                        .filter_map(|m| model_index.get(m).copied())
                        .collect(),
                    weights: r.weights.clone(),
                    min_quality: r.min_quality,
                    max_cost: r.max_cost.as_deref().and_then(Usd::from_str_exact),
                    latency_budget: r.latency_budget_ms.map(Duration::from_millis),
                    baseline: r
                        .baseline
                        .as_ref()
                        .and_then(|b| model_index.get(b).copied()),
                    cascade: cascade_rt(name, r, &models, &model_index, &mut errors),
                    prompt_router: r.router.as_ref().and_then(|v| {
                        crate::prompt_router::PromptRouterRt::build(name, v, &config.base_dir)
                            .map_err(|e| errors.push(e))
                            .ok()
                    }),
                },
            );
        }
        let aliases = config
            .aliases
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let policies = crate::hedge::Policies::from_config(&config)
            .map_err(|e| errors.extend(e))
            .ok();
        let cache = crate::cache::CacheRt::build(&config, &shared.cache, &mut errors);
        if !errors.is_empty() {
            return Err(errors);
        }
        if let Some(p) = policies {
            shared.health.set_policies(p);
        }
        if let Some(book) = book {
            shared.prices.replace(book);
        }
        let prices: Arc<dyn PriceSource> = Arc::new(LiveSource(shared.prices.clone()));
        Ok(Engine {
            config: Arc::new(config),
            models,
            model_index,
            task_ids,
            routes,
            aliases,
            shared,
            sink,
            prices,
            pricing: pricing_cfg,
            cache,
        })
    }

    pub fn model(&self, name: &str) -> Option<&ModelRt> {
        self.model_index.get(name).map(|&i| &self.models[i])
    }
}

/// What a model neither the config nor the catalog describes is assumed to do: a chat model
/// the common chat features, an embedding model (`mode = "embedding"`) embeddings and nothing
/// else, so routing never sends it tools, schemas or logprobs requests.
fn default_caps(embedding: bool, offers_logprobs: bool) -> Capabilities {
    if embedding {
        return Capabilities {
            embeddings: true,
            ..Capabilities::default()
        };
    }
    Capabilities {
        tools: true,
        json_schema: true,
        vision: false,
        logprobs: offers_logprobs,
        embeddings: false,
    }
}

/// Number every task named in a quality table and fill each model's `quality_by_task`.
fn intern_tasks(models: &mut [ModelRt]) -> HashMap<String, usize> {
    let mut ids: HashMap<String, usize> = HashMap::new();
    for m in models.iter() {
        for t in m.quality.keys().filter(|t| *t != "default") {
            let next = ids.len();
            ids.entry(t.clone()).or_insert(next);
        }
    }
    for m in models.iter_mut() {
        let mut row = vec![None; ids.len()];
        for (t, &q) in &m.quality {
            if let Some(&i) = ids.get(t) {
                row[i] = Some(q);
            }
        }
        m.quality_by_task = row.into_boxed_slice();
    }
    ids
}

/// Gates of a cascade route over its resolved tiers; None for other strategies.
fn cascade_rt(
    name: &str,
    r: &crate::config::RouteConfig,
    models: &[ModelRt],
    index: &HashMap<String, usize>,
    errors: &mut Vec<ConfigError>,
) -> Option<Arc<crate::cascade::CascadeRt>> {
    if r.strategy != "cascade" {
        return None;
    }
    let tiers: Vec<usize> = r
        .tiers
        .iter()
        .filter_map(|m| index.get(m).copied())
        .collect();
    crate::cascade::CascadeRt::build(name, r.gates.as_ref(), &tiers, models)
        .map(Arc::new)
        .map_err(|e| errors.push(e))
        .ok()
}

/// Parse `[pricing]` and compile the price book it describes (bundled catalog, file, or the
/// last good catalog for URLs, which are fetched by the refresh task, not here).
fn pricing(config: &Config, errors: &mut Vec<ConfigError>) -> (PricingConfig, Option<PriceBook>) {
    let cfg: PricingConfig = match &config.pricing {
        None => PricingConfig::default(),
        Some(v) => match serde_path_to_error::deserialize(v.clone()) {
            Ok(c) => c,
            Err(e) => {
                let path = e.path().to_string();
                errors.push(ConfigError::new(
                    format!("pricing.{path}"),
                    e.into_inner().to_string(),
                ));
                return (PricingConfig::default(), None);
            }
        },
    };
    let catalog = match cfg.source() {
        switchyard_pricing::CatalogSource::File(path) => {
            let path = std::path::Path::new(&path);
            let path = if path.is_relative() {
                config.base_dir.join(path)
            } else {
                path.to_path_buf()
            };
            std::fs::read_to_string(&path)
                .map_err(|e| vec![format!("cannot read {}: {e}", path.display())])
                .and_then(|t| switchyard_pricing::Catalog::parse(&t))
        }
        // URLs are fetched by the refresh task; start from the bundled catalog meanwhile.
        _ => switchyard_pricing::Catalog::bundled(),
    };
    match catalog.and_then(|c| cfg.build(&c)) {
        Ok(book) => (cfg, Some(book)),
        Err(es) => {
            for e in es {
                errors.push(ConfigError::new("pricing", e));
            }
            (cfg, None)
        }
    }
}

/// Both the bundled catalog and an empty one failed to compile: a build defect, caught by
/// the pricing crate's own tests, so there is no sensible way to run on.
#[expect(
    clippy::panic,
    reason = "a broken bundled catalog is a build defect, not a runtime condition"
)]
fn unreachable_book(e: &[String]) -> PriceBook {
    panic!(
        "the bundled price catalog does not compile: {}",
        e.join("; ")
    )
}
