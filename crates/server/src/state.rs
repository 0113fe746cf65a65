//! What every handler shares. The engine is swapped whole on reload; requests already in
//! flight keep the generation they started with.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use arc_swap::ArcSwap;
use switchyard_core::Secret;
use switchyard_engine::config::resolve_secret;
use switchyard_engine::{Engine, RecordSink, Shared};

/// Renders `/metrics`; provided by the observability layer.
pub type MetricsRender = Arc<dyn Fn() -> String + Send + Sync>;

pub struct AppState {
    /// Files and batches of the Batch API; its settings are read once at start.
    pub batches: Arc<crate::batch::BatchService>,
    pub engine: ArcSwap<Engine>,
    pub shared: Arc<Shared>,
    pub sink: Arc<dyn RecordSink>,
    pub config_path: Option<PathBuf>,
    pub ready: AtomicBool,
    pub metrics: Option<MetricsRender>,
    auth: ArcSwap<Auth>,
    next_id: AtomicU64,
    id_prefix: u32,
}

/// Gateway keys, resolved from the config's references.
#[derive(Default)]
pub struct Auth {
    pub api_keys: Vec<Secret>,
    pub admin_key: Option<Secret>,
}

impl Auth {
    pub fn from_engine(e: &Engine) -> Auth {
        let s = &e.config.server;
        Auth {
            api_keys: s
                .api_keys
                .iter()
                .filter_map(|r| resolve_secret(r).ok())
                .collect(),
            admin_key: s.admin_key.as_deref().and_then(|r| resolve_secret(r).ok()),
        }
    }
}

impl AppState {
    pub fn new(
        engine: Engine,
        sink: Arc<dyn RecordSink>,
        config_path: Option<PathBuf>,
        metrics: Option<MetricsRender>,
        batches: crate::batch::BatchService,
    ) -> AppState {
        let shared = engine.shared.clone();
        let auth = Auth::from_engine(&engine);
        AppState {
            batches: Arc::new(batches),
            engine: ArcSwap::from_pointee(engine),
            shared,
            sink,
            config_path,
            ready: AtomicBool::new(true),
            metrics,
            auth: ArcSwap::from_pointee(auth),
            next_id: AtomicU64::new(1),
            id_prefix: fastrand::u32(..),
        }
    }

    pub fn swap_engine(&self, engine: Engine) {
        self.auth.store(Arc::new(Auth::from_engine(&engine)));
        self.engine.store(Arc::new(engine));
    }

    pub fn auth(&self) -> arc_swap::Guard<Arc<Auth>> {
        self.auth.load()
    }

    /// Unique per process and cheap: a random prefix and a counter.
    pub fn request_id(&self) -> String {
        let n = self.next_id.fetch_add(1, Ordering::Relaxed);
        format!("req_{:08x}{n:012x}", self.id_prefix)
    }
}
