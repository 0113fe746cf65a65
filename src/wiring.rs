//! Putting the crates together: config -> engine + request log + metrics -> HTTP server.

use std::path::Path;
use std::sync::Arc;

use switchyard_core::RequestRecord;
use switchyard_engine::config::{Config, ConfigError, load_file};
use switchyard_engine::{Controls, RecordSink};
use switchyard_observe::otlp::TraceExporter;
use switchyard_observe::ui::{UiState, ui_router};
use switchyard_observe::{Metrics, RequestLog, StoreConfig, TelemetryConfig};
use switchyard_server::{Gateway, GatewayOptions};

/// Records go to metrics (atomics), the trace exporter's queue (when configured) and the
/// request log's bounded queue; none of them waits.
pub struct ObserveSink {
    pub log: RequestLog,
    pub metrics: Arc<Metrics>,
    pub traces: Option<TraceExporter>,
}

impl RecordSink for ObserveSink {
    fn record(&self, rec: RequestRecord) {
        self.metrics.observe(&rec);
        if let Some(t) = &self.traces {
            t.export(&rec);
        }
        self.log.try_log(rec);
    }
}

pub fn print_config_errors(errors: &[ConfigError]) -> String {
    let mut s = format!("{} error(s) in the config:\n", errors.len());
    for e in errors {
        s.push_str(&format!("  {e}\n"));
    }
    s
}

fn store_config(cfg: &Config) -> Result<StoreConfig, String> {
    match &cfg.store {
        None => Ok(StoreConfig::default()),
        Some(v) => {
            // `enabled` is read by `observe_enabled`, not by the store.
            let mut v = v.clone();
            if let Some(t) = v.as_table_mut()
                && let Some(flag) = t.remove("enabled")
                && !flag.is_bool()
            {
                return Err("store.enabled: expected true or false".into());
            }
            serde_path_to_error::deserialize(v).map_err(|e| {
                let path = e.path().to_string();
                format!("store.{path}: {}", e.into_inner())
            })
        }
    }
}

/// `[store] enabled = false` turns the request log and metrics off: records go nowhere. It is
/// the baseline of the benchmark's logging-on vs logging-off comparison (bench/README.md).
fn observe_enabled(cfg: &Config) -> bool {
    let flag = cfg.store.as_ref().and_then(|s| s.get("enabled"));
    !matches!(flag, Some(toml::Value::Boolean(false)))
}

/// The running pieces besides the gateway itself.
pub struct Running {
    pub gateway: Gateway,
    pub sink: Arc<ObserveSink>,
}

pub async fn build(cfg: Config, path: Option<&Path>) -> Result<Running, String> {
    let store_cfg = store_config(&cfg)?;
    let telemetry: TelemetryConfig = match &cfg.telemetry {
        None => TelemetryConfig::default(),
        Some(v) => serde_path_to_error::deserialize(v.clone()).map_err(|e| {
            let path = e.path().to_string();
            format!("telemetry.{path}: {}", e.into_inner())
        })?,
    };
    // Opened in the background: a fresh SQLite file's fsyncs were most of the time from start
    // to ready. Records queue (and spill, if the store cannot be opened) meanwhile.
    let (log, store) = RequestLog::open_deferred(&store_cfg, &cfg.base_dir);
    let metrics = Arc::new(Metrics::new());
    metrics.attach_log(log.counters());
    let sink = Arc::new(ObserveSink {
        log,
        metrics: metrics.clone(),
        traces: TraceExporter::start(&telemetry, reqwest::Client::new()),
    });
    let render_metrics = metrics.clone();
    let on = observe_enabled(&cfg);
    let request_sink: Arc<dyn RecordSink> = if on {
        sink.clone()
    } else {
        Arc::new(switchyard_engine::runtime::NullSink)
    };
    let render: switchyard_server::state::MetricsRender = Arc::new(move || render_metrics.render());
    let admin_key = cfg
        .server
        .admin_key
        .as_deref()
        .and_then(|r| switchyard_engine::config::resolve_secret(r).ok());
    let ui = ui_router(UiState { store, admin_key });
    let gateway = Gateway::new(
        cfg,
        path.map(Path::to_path_buf),
        GatewayOptions {
            sink: request_sink,
            metrics: on.then_some(render),
            extra: Some(ui),
            prepare: None,
        },
    )
    .map_err(|e| print_config_errors(&e))?;
    start_price_refresh(&gateway, &metrics);
    // The semantic cache's best cosine per lookup feeds the similarity histogram.
    let sim_metrics = metrics.clone();
    gateway
        .state
        .shared
        .cache
        .set_similarity_observer(Arc::new(move |s| sim_metrics.observe_cache_similarity(s)));
    Ok(Running { gateway, sink })
}

fn start_price_refresh(gateway: &Gateway, metrics: &Arc<Metrics>) {
    let engine = gateway.state.engine.load();
    let live = gateway.state.shared.prices.clone();
    match engine.pricing.refresh_interval() {
        Ok(Some(every)) => {
            live.spawn_refresh(engine.pricing.clone(), every);
        }
        Ok(None) => {}
        Err(e) => {
            tracing::warn!(error = %e, "pricing.refresh is not a duration; the catalog will not refresh")
        }
    }
    // Catalog age and breaker states as metrics, sampled every few seconds off the request
    // path (the engine generation is re-read each time, so reloads are followed).
    let metrics = metrics.clone();
    let state = gateway.state.clone();
    tokio::spawn(async move {
        loop {
            metrics.set_catalog_age_seconds(live.age().as_secs_f64());
            for (deployment, s) in state.engine.load().breaker_states() {
                metrics.set_breaker_state(&deployment, s);
            }
            tokio::time::sleep(std::time::Duration::from_secs(5)).await;
        }
    });
}

pub async fn serve(path: &Path, listen: Option<String>) -> Result<(), String> {
    let cfg = load_file(path).map_err(|e| print_config_errors(&e))?;
    let listen = listen.unwrap_or_else(|| cfg.server.listen.clone());
    let running = build(cfg, Some(path)).await?;
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    // One line on stdout so scripts and tests can find an ephemeral port.
    #[expect(
        clippy::print_stdout,
        reason = "the address line is the command's output"
    )]
    {
        println!("switchyard listening on http://{addr}");
    }
    tracing::info!(%addr, "serving");
    let Running { gateway, sink } = running;
    gateway
        .serve(listener, switchyard_server::app::shutdown_signal())
        .await
        .map_err(|e| e.to_string())?;
    if !sink.log.flush().await {
        tracing::warn!(
            "some request records are still in the spill file; they will be replayed on the next start"
        );
    }
    Ok(())
}

pub fn check(path: &Path) -> Result<(), String> {
    let cfg = load_file(path).map_err(|e| print_config_errors(&e))?;
    let batch_errors =
        switchyard_server::batch::BatchConfig::from_toml(cfg.batches.as_ref(), &cfg.base_dir)
            .err()
            .unwrap_or_default();
    // Building also checks what only a build can: provider settings, pricing, keys.
    let engine = switchyard_engine::Engine::build(
        cfg,
        switchyard_engine::Shared::new(),
        Arc::new(switchyard_engine::runtime::NullSink),
    );
    let engine = match engine {
        Ok(e) if batch_errors.is_empty() => e,
        Ok(_) => return Err(print_config_errors(&batch_errors)),
        Err(mut e) => {
            e.extend(batch_errors);
            return Err(print_config_errors(&e));
        }
    };
    #[expect(clippy::print_stdout, reason = "the command's output")]
    {
        println!(
            "{}: ok ({} providers, {} models, {} routes)",
            path.display(),
            engine.config.providers.len(),
            engine.models.len(),
            engine.routes.len()
        );
    }
    Ok(())
}

pub fn route(path: &Path, request: &Path) -> Result<(), String> {
    let cfg = load_file(path).map_err(|e| print_config_errors(&e))?;
    let engine = switchyard_engine::Engine::build(
        cfg,
        switchyard_engine::Shared::new(),
        Arc::new(switchyard_engine::runtime::NullSink),
    )
    .map_err(|e| print_config_errors(&e))?;
    let body =
        std::fs::read(request).map_err(|e| format!("cannot read {}: {e}", request.display()))?;
    let req: switchyard_core::ChatRequest = serde_json::from_slice(&body)
        .map_err(|e| format!("{}: not a chat request: {e}", request.display()))?;
    let controls = Controls::parse(
        &http_headers_none(),
        req.switchyard.as_ref(),
        req.provider.as_ref(),
    )
    .map_err(|e| e.message)?;
    let mut plan = engine.plan(&req, &controls).map_err(|e| e.message)?;
    engine.apply_prompt_router(&req, &controls, &mut plan);
    let text = serde_json::to_string_pretty(&plan).map_err(|e| e.to_string())?;
    #[expect(clippy::print_stdout, reason = "the command's output")]
    {
        println!("{text}");
    }
    Ok(())
}

fn http_headers_none() -> http::HeaderMap {
    http::HeaderMap::new()
}

pub fn prices_import(from: &str, file: &Path, out: Option<&Path>) -> Result<(), String> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let catalog = match from {
        "litellm" => switchyard_pricing::import_litellm(&text),
        _ => switchyard_pricing::import_openrouter(&text),
    }
    .map_err(|e| format!("{}: {e}", file.display()))?;
    let json = catalog.to_json();
    match out {
        Some(p) => {
            std::fs::write(p, json).map_err(|e| format!("cannot write {}: {e}", p.display()))?
        }
        None => {
            #[expect(clippy::print_stdout, reason = "the command's output")]
            {
                println!("{json}");
            }
        }
    }
    eprintln!("imported {} models", catalog.models.len());
    Ok(())
}

pub async fn report(path: &Path, since: &str, by: &str, json: bool) -> Result<(), String> {
    let cfg = load_file(path).map_err(|e| print_config_errors(&e))?;
    let store_cfg = store_config(&cfg)?;
    let since =
        switchyard_observe::report::parse_since(since).map_err(|e| format!("--since: {e}"))?;
    let group = switchyard_observe::GroupBy::parse(by).ok_or_else(|| {
        format!("--by: unknown grouping {by:?} (model, route, key, task, provider, cache)")
    })?;
    let rows =
        switchyard_observe::report::report_target(&store_cfg.target(&cfg.base_dir), since, group)
            .await
            .map_err(|e| format!("cannot read the request log: {e}"))?;
    let text = if json {
        serde_json::to_string_pretty(&rows).map_err(|e| e.to_string())?
    } else {
        switchyard_observe::report::render_table(&rows, group)
    };
    #[expect(clippy::print_stdout, reason = "the command's output")]
    {
        println!("{text}");
    }
    Ok(())
}
