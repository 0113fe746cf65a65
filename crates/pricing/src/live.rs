//! The price book in use, swapped atomically when a refresh loads a newer catalog. Readers never
//! lock; a failed refresh keeps the last good book and says so (log, flag, counter).

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use tokio::task::JoinHandle;

use crate::book::PriceBook;
use crate::catalog::Catalog;
use crate::config::{CatalogSource, PricingConfig, prefixed};

/// Catalog downloads larger than this are refused; the bundled catalog is ~60 KB, LiteLLM's
/// whole file ~1.6 MB.
const MAX_CATALOG_BYTES: usize = 16 * 1024 * 1024;
const FETCH_TIMEOUT: Duration = Duration::from_secs(30);

/// The background refresh; abort it to stop refreshing.
pub type RefreshTask = JoinHandle<()>;

#[derive(Debug)]
pub struct LivePrices {
    book: ArcSwap<PriceBook>,
    loaded_at: Mutex<Instant>,
    last_ok: AtomicBool,
    failures: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl LivePrices {
    pub fn new(book: PriceBook) -> Arc<LivePrices> {
        Arc::new(LivePrices {
            book: ArcSwap::from_pointee(book),
            loaded_at: Mutex::new(Instant::now()),
            last_ok: AtomicBool::new(true),
            failures: AtomicU64::new(0),
            last_error: Mutex::new(None),
        })
    }

    /// Build from `[pricing]` and start refreshing as configured: every `refresh` interval, or
    /// once right away when the catalog is a URL without `refresh` (until then the bundled
    /// catalog serves). Must run inside a tokio runtime when a task is started.
    pub fn start(
        cfg: &PricingConfig,
    ) -> Result<(Arc<LivePrices>, Option<RefreshTask>), Vec<String>> {
        let live = LivePrices::new(PriceBook::from_config(cfg)?);
        let interval = cfg.refresh_interval().map_err(|e| vec![e])?;
        let task = match (interval, cfg.source()) {
            (Some(every), _) => Some(live.spawn_refresh(cfg.clone(), every)),
            (None, CatalogSource::Url(_)) => {
                let (weak, cfg) = (Arc::downgrade(&live), cfg.clone());
                Some(tokio::spawn(async move {
                    let Ok(client) = http_client() else { return };
                    if let Some(live) = weak.upgrade() {
                        // Recorded inside (flag, counter, warning).
                        let _ = live.refresh_once(&cfg, &client).await;
                    }
                }))
            }
            (None, _) => None,
        };
        Ok((live, task))
    }

    /// The book in use now. Cheap: an atomic load and an `Arc` clone.
    pub fn current(&self) -> Arc<PriceBook> {
        self.book.load_full()
    }

    /// Whether the most recent refresh succeeded (true before the first one).
    pub fn last_refresh_ok(&self) -> bool {
        self.last_ok.load(Ordering::Relaxed)
    }

    /// Refreshes that failed since start.
    pub fn refresh_failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().map(|e| e.clone()).unwrap_or(None)
    }

    /// Time since the book in use was loaded: the catalog-age metric.
    pub fn age(&self) -> Duration {
        self.loaded_at
            .lock()
            .map(|t| t.elapsed())
            .unwrap_or(Duration::ZERO)
    }

    /// Put a new book in place (also used by config reloads).
    pub fn replace(&self, book: PriceBook) {
        self.book.store(Arc::new(book));
        if let Ok(mut t) = self.loaded_at.lock() {
            *t = Instant::now();
        }
    }

    /// Load the catalog named by `cfg`, apply its rules and overrides, and swap it in. On any
    /// error the current book stays, a warning is logged and the failure is recorded.
    pub async fn refresh_once(
        &self,
        cfg: &PricingConfig,
        client: &reqwest::Client,
    ) -> Result<(), Vec<String>> {
        let result = match load_catalog(cfg, client).await {
            Ok(catalog) => cfg.build(&catalog),
            Err(e) => Err(e),
        };
        match result {
            Ok(book) => {
                tracing::info!(
                    models = book.len(),
                    as_of = book.as_of(),
                    "price catalog loaded"
                );
                self.replace(book);
                self.last_ok.store(true, Ordering::Relaxed);
                if let Ok(mut e) = self.last_error.lock() {
                    *e = None;
                }
                Ok(())
            }
            Err(errors) => {
                let joined = errors.join("; ");
                tracing::warn!(error = %joined, "price catalog refresh failed; keeping the last good catalog");
                self.last_ok.store(false, Ordering::Relaxed);
                self.failures.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut e) = self.last_error.lock() {
                    *e = Some(joined);
                }
                Err(errors)
            }
        }
    }

    /// Refresh now and then every `interval` until the handle is aborted or `self` is the last
    /// reference left. Runs on the current tokio runtime.
    pub fn spawn_refresh(
        self: &Arc<Self>,
        cfg: PricingConfig,
        interval: Duration,
    ) -> JoinHandle<()> {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let client = match http_client() {
                Ok(c) => c,
                Err(e) => {
                    tracing::error!(error = %e, "price refresh disabled: cannot build an HTTP client");
                    return;
                }
            };
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(live) = weak.upgrade() else { return };
                // The result is recorded inside; nothing more to do with it here.
                let _ = live.refresh_once(&cfg, &client).await;
            }
        })
    }
}

/// A client for catalog downloads (rustls, bounded time).
pub fn http_client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .timeout(FETCH_TIMEOUT)
        .build()
        .map_err(|e| e.to_string())
}

/// Read and parse the catalog named by `cfg` (bundled, file or URL).
pub async fn load_catalog(
    cfg: &PricingConfig,
    client: &reqwest::Client,
) -> Result<Catalog, Vec<String>> {
    let (what, text) = match cfg.source() {
        CatalogSource::Bundled => {
            return Catalog::bundled().map_err(|e| prefixed("pricing.catalog (bundled)", e));
        }
        CatalogSource::File(path) => {
            let text = tokio::fs::read_to_string(&path)
                .await
                .map_err(|e| vec![format!("pricing.catalog: cannot read \"{path}\": {e}")])?;
            (path, text)
        }
        CatalogSource::Url(url) => {
            let text = fetch(client, &url)
                .await
                .map_err(|e| vec![format!("pricing.catalog: cannot fetch {url}: {e}")])?;
            (url, text)
        }
    };
    Catalog::parse(&text).map_err(|es| prefixed(&format!("pricing.catalog \"{what}\""), es))
}

async fn fetch(client: &reqwest::Client, url: &str) -> Result<String, String> {
    let mut resp = client
        .get(url)
        .send()
        .await
        .map_err(|e| e.to_string())?
        .error_for_status()
        .map_err(|e| e.to_string())?;
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| e.to_string())? {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_CATALOG_BYTES {
            return Err(format!("larger than {MAX_CATALOG_BYTES} bytes"));
        }
    }
    String::from_utf8(body).map_err(|_| "body is not UTF-8".to_string())
}
