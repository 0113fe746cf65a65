//! Building and running the gateway.
//!
//! Layer order (outside in): axum's body limit (-> 413 envelope in the handler), then the
//! handler. No tower middleware stack: each handler is one readable function that calls the
//! engine.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::response::Response;
use axum::routing::{get, post};
use switchyard_engine::config::{Config, ConfigError, load_file};
use switchyard_engine::{Engine, GatewayError, RecordSink, Shared};
use tokio::net::TcpListener;

use crate::envelope::error_response;
use crate::handlers;
use crate::state::{AppState, MetricsRender};

/// Hook run on every freshly built engine (initial and reloads).
pub type PrepareEngine = Arc<dyn Fn(&mut Engine) + Send + Sync>;

pub struct GatewayOptions {
    pub sink: Arc<dyn RecordSink>,
    pub metrics: Option<MetricsRender>,
    /// Extra routes merged into the app (dashboard, admin), already bound to their own state.
    pub extra: Option<Router>,
    /// Called with every freshly built engine (initial and reloads), to attach prices etc.
    pub prepare: Option<PrepareEngine>,
}

pub struct Gateway {
    pub state: Arc<AppState>,
    extra: Option<Router>,
    prepare: Option<PrepareEngine>,
}

impl Gateway {
    pub fn new(
        config: Config,
        config_path: Option<PathBuf>,
        opts: GatewayOptions,
    ) -> Result<Gateway, Vec<ConfigError>> {
        let batches =
            crate::batch::BatchConfig::from_toml(config.batches.as_ref(), &config.base_dir)?;
        let shared = Shared::new();
        let mut engine = Engine::build(config, shared, opts.sink.clone())?;
        if let Some(p) = &opts.prepare {
            p(&mut engine);
        }
        Ok(Gateway {
            state: Arc::new(AppState::new(
                engine,
                opts.sink,
                config_path,
                opts.metrics,
                crate::batch::BatchService::open(batches),
            )),
            extra: opts.extra,
            prepare: opts.prepare,
        })
    }

    pub fn router(&self) -> Router {
        let limit = self.state.engine.load().config.server.max_body_bytes;
        let mut app = Router::new()
            .route(
                "/v1/chat/completions",
                post(handlers::chat::chat_completions),
            )
            .route("/chat/completions", post(handlers::chat::chat_completions))
            .route("/v1/messages", post(handlers::messages::messages))
            .route(
                "/v1/messages/count_tokens",
                post(handlers::messages::count_tokens),
            )
            .route("/v1/embeddings", post(handlers::embeddings::embeddings))
            .route("/embeddings", post(handlers::embeddings::embeddings))
            .route("/v1/models", get(handlers::models::list_models))
            .route("/models", get(handlers::models::list_models))
            .route("/v1/models/{*id}", get(handlers::models::retrieve_model))
            .route("/models/{*id}", get(handlers::models::retrieve_model))
            .route("/v1/route/explain", post(handlers::explain::explain))
            .route(
                "/v1/files",
                post(handlers::files::upload)
                    .get(handlers::files::list)
                    // An input file may be far larger than any request body.
                    .layer(DefaultBodyLimit::max(self.state.batches.cfg.max_file_bytes)),
            )
            .route(
                "/v1/files/{id}",
                get(handlers::files::retrieve).delete(handlers::files::delete),
            )
            .route("/v1/files/{id}/content", get(handlers::files::content))
            .route(
                "/v1/batches",
                post(handlers::batches::create).get(handlers::batches::list),
            )
            .route("/v1/batches/{id}", get(handlers::batches::retrieve))
            .route("/v1/batches/{id}/cancel", post(handlers::batches::cancel))
            .route("/health", get(handlers::health::health))
            .route("/ready", get(handlers::health::ready))
            .route("/metrics", get(handlers::health::metrics))
            // After every route: axum then answers a known path's wrong method with this
            // handler's envelope and adds the path's `Allow` header itself.
            .method_not_allowed_fallback(method_not_allowed)
            .fallback(not_found)
            .layer(DefaultBodyLimit::max(limit))
            .with_state(self.state.clone());
        if let Some(extra) = &self.extra {
            app = app.merge(extra.clone());
        }
        app
    }

    /// Reload the config file; a bad file keeps the running engine and says why.
    pub fn reload(&self) -> Result<(), Vec<ConfigError>> {
        let Some(path) = &self.state.config_path else {
            return Err(vec![ConfigError::new("", "no config file to reload")]);
        };
        let cfg = load_file(path)?;
        let mut engine = Engine::build(cfg, self.state.shared.clone(), self.state.sink.clone())?;
        if let Some(p) = &self.prepare {
            p(&mut engine);
        }
        self.state.swap_engine(engine);
        Ok(())
    }

    /// Serve until `shutdown` resolves, then stop accepting and give in-flight requests and
    /// streams up to `[server] shutdown_grace` to finish. Batch runners share that grace: they
    /// start no new line and finish (and write) the lines already sent upstream, so that a
    /// restart does not run and bill those lines again. SIGHUP reloads the config (unix).
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let grace = self.state.engine.load().config.server.shutdown_grace;
        let app = self.router();
        let this = Arc::new(self);
        spawn_reload_on_sighup(this.clone());
        // Batches an earlier process left unfinished continue where their output ends.
        for id in this.state.batches.unfinished() {
            crate::batch::run::spawn(this.state.clone(), id);
        }
        spawn_reload_on_include_change(Arc::downgrade(&this));
        let graceful = crate::listen::accept_until(listener, app, shutdown).await;
        tracing::info!(
            grace_s = grace.as_secs_f64(),
            "shutting down: no new connections, waiting for in-flight requests and batch lines"
        );
        this.state
            .ready
            .store(false, std::sync::atomic::Ordering::Relaxed);
        // One deadline for the HTTP drain and the batch drain, which run side by side: the
        // whole shutdown stays within the grace. Idle keep-alive connections close at once;
        // in-flight requests and streams finish.
        let deadline = tokio::time::Instant::now() + grace;
        let http = async {
            if tokio::time::timeout_at(deadline, graceful.shutdown())
                .await
                .is_err()
            {
                tracing::warn!("grace period over; closing the remaining connections");
            }
        };
        tokio::join!(http, this.state.batches.drain(deadline));
        Ok(())
    }
}

#[cfg(unix)]
fn spawn_reload_on_sighup(gw: Arc<Gateway>) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut hup) = signal(SignalKind::hangup()) else {
        return;
    };
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            match gw.reload() {
                Ok(()) => tracing::info!("config reloaded"),
                Err(errors) => {
                    for e in &errors {
                        tracing::error!(error = %e, "config reload rejected; keeping the running config");
                    }
                }
            }
        }
    });
}

#[cfg(not(unix))]
fn spawn_reload_on_sighup(_gw: Arc<Gateway>) {}

/// Reload the config when a file of its `include` list changes (appears, disappears, or gets
/// a new modification time or size), checked every `[server] watch_includes`. This is how
/// `switchyard eval --every` output (quality table, gate thresholds) reaches a running
/// gateway. Polling rather than inotify: a handful of `stat` calls every few seconds, and it
/// works the same on every platform and across the atomic renames eval writes with.
fn spawn_reload_on_include_change(gw: std::sync::Weak<Gateway>) {
    let Some(first) = gw.upgrade() else {
        return;
    };
    if first.state.config_path.is_none() {
        return;
    }
    let mut seen = stamps(&first.state.engine.load().config.include_files);
    drop(first);
    tokio::spawn(async move {
        loop {
            let Some(every) = gw
                .upgrade()
                .map(|g| g.state.engine.load().config.server.watch_includes)
            else {
                return;
            };
            tokio::time::sleep(every.max(Duration::from_millis(50))).await;
            let Some(gw) = gw.upgrade() else {
                return;
            };
            let now = stamps(&gw.state.engine.load().config.include_files);
            if now == seen {
                continue;
            }
            // Taken before the reload reads the files, so a write during the reload is seen
            // next time; a rejected file is not retried until it changes again, so its
            // errors are logged once.
            seen = now;
            match gw.reload() {
                Ok(()) => tracing::info!("included file changed; config reloaded"),
                Err(errors) => {
                    for e in &errors {
                        tracing::error!(error = %e, "included file changed but the config was rejected; keeping the running config");
                    }
                }
            }
        }
    });
}

type Stamp = (PathBuf, Option<(std::time::SystemTime, u64)>);

fn stamps(files: &[PathBuf]) -> Vec<Stamp> {
    files
        .iter()
        .map(|f| {
            let meta = std::fs::metadata(f).ok();
            let stamp = meta.and_then(|m| Some((m.modified().ok()?, m.len())));
            (f.clone(), stamp)
        })
        .collect()
}

async fn not_found(State(state): State<Arc<AppState>>, uri: http::Uri) -> Response {
    let e = GatewayError::new(404, "invalid_request_error", "not_found", format!("Unknown path {}. Switchyard serves /v1/chat/completions, /v1/messages, /v1/embeddings, /v1/models, /v1/route/explain, /health, /ready and /metrics.", uri.path()))
        .with_code("unknown_url");
    error_response(&e, &state.request_id())
}

/// A known path called with the wrong method: the OpenAI envelope and our request id, where
/// axum alone would send a bare 405. axum adds the path's `Allow` header to this response
/// after the handler (so the list is never kept twice); the message points at it.
async fn method_not_allowed(
    State(state): State<Arc<AppState>>,
    method: http::Method,
    uri: http::Uri,
) -> Response {
    let e = GatewayError::new(
        405,
        "invalid_request_error",
        "method_not_allowed",
        format!(
            "{method} is not allowed on {}; use a method from this response's Allow header.",
            uri.path()
        ),
    )
    .with_code("method_not_allowed");
    error_response(&e, &state.request_id())
}

/// SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

pub const DEFAULT_GRACE: Duration = Duration::from_secs(30);
