//! The listener, the path router, the control API and the shared request pipeline pieces
//! (auth-free parts: model lookup, fault application, request ids).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::config::{FaultKind, FaultRule, ModelConfig, SimConfig, Wire};
use crate::http::{HandlerResult, Reset, Resp, fault_error, json_response, openai_error};
use crate::replay::Replay;
use crate::state::{Faults, Stats, fnv};
use crate::{anthropic, gemini, openai};

pub struct ModelEntry {
    pub cfg: ModelConfig,
    /// Seed of the model's logprobs.
    pub hash: u64,
}

pub struct App {
    pub models: HashMap<String, Arc<ModelEntry>>,
    pub stats: Stats,
    pub faults: Faults,
    pub replay: Option<Replay>,
    seq: AtomicU64,
    pub config: SimConfig,
}

/// How a request proceeds after fault selection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Normal,
    Drip,
    Cut(u32),
}

impl Mode {
    pub fn label(self) -> &'static str {
        match self {
            Mode::Normal => "ok",
            Mode::Drip => "drip",
            Mode::Cut(_) => "cut",
        }
    }
}

impl App {
    pub fn new(config: SimConfig) -> std::io::Result<App> {
        config
            .validate()
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()))?;
        let replay = match &config.replay {
            Some(r) => Some(Replay::load(r)?),
            None => None,
        };
        let models = config
            .models
            .iter()
            .map(|m| {
                let entry = ModelEntry {
                    hash: fnv(m.name.as_bytes()),
                    cfg: m.clone(),
                };
                (m.name.clone(), Arc::new(entry))
            })
            .collect();
        Ok(App {
            models,
            stats: Stats::default(),
            faults: Faults::new(&config),
            replay,
            seq: AtomicU64::new(1),
            config,
        })
    }

    /// A model of this wire, or None (unknown, or it speaks another wire).
    pub fn model(&self, name: &str, wire: Wire) -> Option<Arc<ModelEntry>> {
        self.models
            .get(name)
            .filter(|m| m.cfg.wire == wire)
            .cloned()
    }

    pub fn next_id(&self, prefix: &str) -> String {
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        format!("{prefix}{:016x}", crate::state::mix(n))
    }

    /// Picks and applies an injected fault. `Ok(mode)`: go on. `Err(result)`: the request ends
    /// here (error answer or connection reset); a hang never returns, and its future is dropped
    /// by hyper when the client goes away.
    pub async fn fault(
        &self,
        wire: Wire,
        model: &str,
        key: Option<&str>,
        stream: bool,
        request_id: &str,
    ) -> Result<Mode, HandlerResult> {
        let Some(rule) = self.faults.pick(model, key) else {
            return Ok(Mode::Normal);
        };
        match rule.kind {
            FaultKind::Drip => return Ok(Mode::Drip),
            FaultKind::Cut if stream => return Ok(Mode::Cut(rule.after_chunks)),
            _ => {}
        }
        self.stats.record(model, stream, rule.kind.label());
        match rule.kind {
            FaultKind::Hang => {
                std::future::pending::<()>().await;
                Err(Err(Reset))
            }
            FaultKind::Reset | FaultKind::Cut => Err(Err(Reset)),
            kind => Err(Ok(fault_error(wire, kind, rule.retry_after_s, request_id))),
        }
    }
}

pub async fn read_body(body: Incoming) -> Result<Bytes, Resp> {
    match Limited::new(body, 64 << 20).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(_) => Err(openai_error(
            413,
            "invalid_request_error",
            "Request body too large or unreadable.",
            None,
            None,
        )),
    }
}

async fn route(app: Arc<App>, req: Request<Incoming>) -> HandlerResult {
    let _in_flight = app.stats.in_flight();
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_owned();
    let method = parts.method.clone();
    let body = match method {
        Method::POST => match read_body(body).await {
            Ok(b) => b,
            Err(r) => return Ok(r),
        },
        _ => Bytes::new(),
    };
    match (method, path.as_str()) {
        (Method::GET, "/sim/stats") => Ok(json_response(StatusCode::OK, &app.stats.snapshot())),
        (Method::GET, "/sim/faults") => Ok(json_response(StatusCode::OK, &app.faults.list())),
        (Method::POST, "/sim/faults") => Ok(add_fault(&app, &body)),
        (Method::DELETE, "/sim/faults") => {
            app.faults.clear();
            Ok(json_response(StatusCode::OK, &json!({"ok": true})))
        }
        (Method::POST, "/sim/reset") => {
            app.faults.reset();
            app.stats.clear();
            Ok(json_response(StatusCode::OK, &json!({"ok": true})))
        }
        (Method::GET, "/health") => Ok(json_response(StatusCode::OK, &json!({"ok": true}))),
        (Method::POST, "/v1/chat/completions" | "/chat/completions") => {
            openai::chat(&app, &parts, &body).await
        }
        (Method::POST, "/v1/embeddings" | "/embeddings") => {
            openai::embeddings(&app, &parts, &body).await
        }
        (Method::GET, "/v1/models" | "/models") => {
            if parts.headers.contains_key("anthropic-version")
                || parts.headers.contains_key("x-api-key")
            {
                Ok(anthropic::models(&app))
            } else {
                Ok(openai::models(&app))
            }
        }
        (Method::POST, "/v1/messages") => anthropic::messages(&app, &parts, &body).await,
        (Method::POST, "/v1/messages/count_tokens") => {
            anthropic::count_tokens(&app, &parts, &body).await
        }
        (Method::GET, "/v1beta/models") => Ok(gemini::models(&app, &parts)),
        (Method::POST, p) if p.starts_with("/v1beta/models/") => {
            gemini::dispatch(&app, &parts, &body).await
        }
        (m, p) => Ok(openai_error(
            404,
            "invalid_request_error",
            &format!("Unknown request URL: {m} {p}. Please check the URL for typos."),
            None,
            Some("unknown_url"),
        )),
    }
}

fn add_fault(app: &App, body: &[u8]) -> Resp {
    let rule: FaultRule = match serde_json::from_slice(body) {
        Ok(r) => r,
        Err(e) => {
            return json_response(
                StatusCode::BAD_REQUEST,
                &json!({"error": format!("invalid fault rule: {e}")}),
            );
        }
    };
    if !(0.0..=1.0).contains(&rule.rate) {
        return json_response(
            StatusCode::BAD_REQUEST,
            &json!({"error": "invalid fault rule: rate must be within 0..1"}),
        );
    }
    app.faults.add(rule);
    json_response(
        StatusCode::OK,
        &json!({"ok": true, "faults": app.faults.list()}),
    )
}

/// Serves until the listener fails. Each connection speaks HTTP/1.1 or HTTP/2 (prior knowledge).
pub async fn serve_app(app: Arc<App>, listener: TcpListener) -> std::io::Result<()> {
    loop {
        let (tcp, _) = match listener.accept().await {
            Ok(c) => c,
            Err(e) if is_transient(&e) => {
                // Out of descriptors or an aborted handshake: back off instead of spinning.
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                continue;
            }
            Err(e) => return Err(e),
        };
        let _ = tcp.set_nodelay(true);
        let app = app.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| route(app.clone(), req));
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(tcp), svc)
                .await;
        });
    }
}

fn is_transient(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionAborted | ConnectionReset | Interrupted | WouldBlock
    ) || e.raw_os_error().is_some_and(|c| c == 23 || c == 24)
}

/// A running in-process simulator.
pub struct SimHandle {
    pub addr: SocketAddr,
    app: Arc<App>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl SimHandle {
    /// `http://ADDR` (no trailing slash, no `/v1`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
    /// The same JSON as `GET /sim/stats`.
    pub fn stats(&self) -> Value {
        self.app.stats.snapshot()
    }
    pub fn add_fault(&self, rule: FaultRule) {
        self.app.faults.add(rule);
    }
    pub fn clear_faults(&self) {
        self.app.faults.clear();
    }
    /// Same as `POST /sim/reset`.
    pub fn reset(&self) {
        self.app.faults.reset();
        self.app.stats.clear();
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub async fn spawn_app(config: SimConfig, listener: TcpListener) -> std::io::Result<SimHandle> {
    let addr = listener.local_addr()?;
    let app = Arc::new(App::new(config)?);
    let task = tokio::spawn(serve_app(app.clone(), listener));
    Ok(SimHandle { addr, app, task })
}
