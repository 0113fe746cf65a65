//! Response cache and request coalescing.
//!
//! - [`key`]: the normalised request (route, messages, tools, `response_format`, sampling
//!   parameters, stream mode, tenant) and the semantic partition.
//! - [`store`]: answers in process (moka, bounded by bytes) or in Redis (`[state] url`).
//! - [`semantic`]: the opt-in near-duplicate index (local static embeddings + guards).
//! - [`flight`]: identical requests in flight share one upstream call.
//! - [`redis`]: the shared backend and the cross-replica lease.
//! - [`serve`]: the request path: lookup, coalesce, compute, store, and the zero-cost
//!   accounting of hits (`cache = hit | semantic-hit | coalesced | miss | bypass`).
//!
//! State that must outlive a config reload (stored answers, flights, the semantic index)
//! is in [`CacheHub`], owned by `Shared`; what a config generation says is in [`CacheRt`].

pub mod config;
pub mod flight;
pub mod key;
pub mod reader;
pub mod redis;
pub mod semantic;
mod serve;
pub mod store;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

pub use config::{CacheConfig, Policy};
use flight::Flights;
use store::Store;

use crate::config::{Config, ConfigError};

/// Called with the best cosine of every semantic lookup (the similarity histogram).
pub type SimilarityObserver = Arc<dyn Fn(f64) + Send + Sync>;

/// Counters, for tests and the operator (`/metrics` counts outcomes from the records).
#[derive(Debug, Default)]
pub struct CacheCounters {
    pub hits: AtomicU64,
    pub semantic_hits: AtomicU64,
    pub coalesced: AtomicU64,
    pub misses: AtomicU64,
    pub bypass: AtomicU64,
    /// Local embedding calls of the semantic cache (each costs $0, recorded as such).
    pub embeddings: AtomicU64,
    /// Flights this replica waited on another replica for.
    pub remote_waits: AtomicU64,
}

impl CacheCounters {
    pub fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }
    pub(crate) fn inc(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }
}

/// Cache state shared by every config generation.
pub struct CacheHub {
    store: Mutex<Option<(String, Arc<Store>)>>,
    pub flights: Arc<Flights>,
    pub semantic: semantic::Index,
    pub counters: CacheCounters,
    observer: arc_swap::ArcSwapOption<SimilarityObserverBox>,
}

struct SimilarityObserverBox(SimilarityObserver);

impl Default for CacheHub {
    fn default() -> Self {
        CacheHub {
            store: Mutex::new(None),
            flights: Arc::new(Flights::default()),
            semantic: semantic::Index::new(10_000),
            counters: CacheCounters::default(),
            observer: arc_swap::ArcSwapOption::empty(),
        }
    }
}

impl CacheHub {
    pub fn new() -> Arc<CacheHub> {
        Arc::new(CacheHub::default())
    }

    /// Feed the similarity histogram (e.g. `Metrics::observe_cache_similarity`).
    pub fn set_similarity_observer(&self, f: SimilarityObserver) {
        self.observer
            .store(Some(Arc::new(SimilarityObserverBox(f))));
    }

    pub(crate) fn observe_similarity(&self, s: f32) {
        if let Some(o) = self.observer.load().as_ref() {
            (o.0)(f64::from(s));
        }
    }

    /// The store for this backend description, kept across reloads while it is unchanged.
    fn store_for(&self, cfg: &CacheConfig, errors: &mut Vec<ConfigError>) -> Arc<Store> {
        let desc = match &cfg.redis_url {
            Some(u) => format!("redis {u} {}", cfg.section.key_prefix),
            None => format!("memory {}", cfg.section.max_bytes),
        };
        let mut cur = self.store.lock();
        if let Some((d, s)) = cur.as_ref() {
            if *d == desc {
                return s.clone();
            }
        }
        let s = match &cfg.redis_url {
            Some(u) => match redis::RedisState::new(u, &cfg.section.key_prefix) {
                Ok(r) => Arc::new(Store::Redis(Arc::new(r))),
                Err(e) => {
                    errors.push(ConfigError::new("state.url", e));
                    return Arc::new(Store::memory(cfg.section.max_bytes));
                }
            },
            None => Arc::new(Store::memory(cfg.section.max_bytes)),
        };
        *cur = Some((desc, s.clone()));
        s
    }
}

/// What one config generation says about caching, with the store it uses.
pub struct CacheRt {
    pub config: CacheConfig,
    pub store: Arc<Store>,
    pub hub: Arc<CacheHub>,
}

impl CacheRt {
    pub fn build(config: &Config, hub: &Arc<CacheHub>, errors: &mut Vec<ConfigError>) -> CacheRt {
        let cfg = CacheConfig::parse(config, errors);
        let store = hub.store_for(&cfg, errors);
        CacheRt {
            config: cfg,
            store,
            hub: hub.clone(),
        }
    }
}

pub(crate) use serve::chat;
