//! Traces over OTLP/HTTP with the JSON encoding, built from `RequestRecord` after the request:
//! one SERVER span for the request and one CLIENT span per upstream attempt, named and
//! attributed per the OpenTelemetry GenAI semantic conventions. Hand-written instead of the
//! `opentelemetry` SDK crates because spans are made after the fact from a record we already
//! have (no context propagation through the request path), and the SDK plus its OTLP exporter
//! roughly doubles this crate's build time for one POST.
//!
//! Attempt spans are laid end to end from the request start using each attempt's latency: the
//! record keeps durations, not start times, so offsets between attempts are approximate.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use switchyard_core::RequestRecord;
use tokio::sync::{mpsc, oneshot};

use crate::config::TelemetryConfig;

const SPAN_KIND_SERVER: u8 = 2;
const SPAN_KIND_CLIENT: u8 = 3;
const STATUS_OK: u8 = 1;
const STATUS_ERROR: u8 = 2;

#[derive(Debug, Default)]
pub struct TraceCounters {
    /// Requests whose spans were accepted by the collector.
    pub exported: AtomicU64,
    /// Requests whose spans were lost: queue full or the collector failed.
    pub dropped: AtomicU64,
}

enum Msg {
    Record(Box<RequestRecord>),
    Flush(oneshot::Sender<()>),
}

pub struct TraceExporter {
    tx: mpsc::Sender<Msg>,
    counters: Arc<TraceCounters>,
}

impl TraceExporter {
    /// None when `[telemetry] otlp_endpoint` is unset: tracing export is off by default.
    pub fn start(cfg: &TelemetryConfig, client: reqwest::Client) -> Option<TraceExporter> {
        let endpoint = cfg.otlp_endpoint.as_deref()?;
        let url = format!("{}/v1/traces", endpoint.trim_end_matches('/'));
        let (tx, rx) = mpsc::channel(cfg.queue_capacity.max(1));
        let counters = Arc::new(TraceCounters::default());
        tokio::spawn(run(rx, client, url, cfg.clone(), counters.clone()));
        Some(TraceExporter { tx, counters })
    }

    /// Queues the request's spans; never waits.
    pub fn export(&self, rec: &RequestRecord) {
        if self
            .tx
            .try_send(Msg::Record(Box::new(rec.clone())))
            .is_err()
        {
            self.counters.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Sends everything queued before this call.
    pub async fn flush(&self) {
        let (ack, done) = oneshot::channel();
        if self.tx.send(Msg::Flush(ack)).await.is_ok() {
            let _ = done.await;
        }
    }

    pub fn counters(&self) -> Arc<TraceCounters> {
        self.counters.clone()
    }
}

async fn run(
    mut rx: mpsc::Receiver<Msg>,
    client: reqwest::Client,
    url: String,
    cfg: TelemetryConfig,
    counters: Arc<TraceCounters>,
) {
    let mut buf: Vec<RequestRecord> = Vec::new();
    let mut ticker = tokio::time::interval(Duration::from_millis(cfg.flush_ms.max(1)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let timeout = Duration::from_millis(cfg.export_timeout_ms.max(1));
    let send = |batch: Vec<RequestRecord>| {
        let body = resource_spans(&batch, &cfg.service_name);
        let req = client.post(&url).timeout(timeout).json(&body);
        let counters = counters.clone();
        async move {
            let n = batch.len() as u64;
            match req.send().await {
                Ok(r) if r.status().is_success() => {
                    counters.exported.fetch_add(n, Ordering::Relaxed);
                }
                Ok(r) => {
                    counters.dropped.fetch_add(n, Ordering::Relaxed);
                    tracing::warn!(status = %r.status(), "otlp: collector refused spans");
                }
                Err(e) => {
                    counters.dropped.fetch_add(n, Ordering::Relaxed);
                    tracing::warn!(error = %e, "otlp: export failed");
                }
            }
        }
    };
    loop {
        tokio::select! {
            msg = rx.recv() => match msg {
                Some(Msg::Record(r)) => {
                    buf.push(*r);
                    if buf.len() >= cfg.batch_size.max(1) {
                        send(std::mem::take(&mut buf)).await;
                    }
                }
                Some(Msg::Flush(ack)) => {
                    if !buf.is_empty() {
                        send(std::mem::take(&mut buf)).await;
                    }
                    let _ = ack.send(());
                }
                None => {
                    if !buf.is_empty() {
                        send(std::mem::take(&mut buf)).await;
                    }
                    return;
                }
            },
            _ = ticker.tick() => {
                if !buf.is_empty() {
                    send(std::mem::take(&mut buf)).await;
                }
            }
        }
    }
}

fn hex_id(bytes: usize) -> String {
    let mut s = String::with_capacity(bytes * 2);
    while s.len() < bytes * 2 {
        s.push_str(&format!("{:016x}", fastrand::u64(1..)));
    }
    s.truncate(bytes * 2);
    s
}

fn s(key: &str, v: &str) -> Value {
    json!({"key": key, "value": {"stringValue": v}})
}

fn i(key: &str, v: u64) -> Value {
    // OTLP/JSON carries 64-bit integers as decimal strings.
    json!({"key": key, "value": {"intValue": v.to_string()}})
}

fn nanos(ms: f64) -> u128 {
    (ms.max(0.0) * 1e6).round() as u128
}

/// GenAI operation name for our endpoint names.
fn operation(endpoint: &str) -> &'static str {
    match endpoint {
        "embeddings" => "embeddings",
        _ => "chat",
    }
}

/// The spans of one request: the request span first, then one per attempt.
pub fn request_spans(rec: &RequestRecord) -> Vec<Value> {
    let trace_id = hex_id(16);
    let root_id = hex_id(8);
    let op = operation(&rec.endpoint);
    let start = nanos(rec.ts_ms as f64);
    let end = start + nanos(rec.total_ms);
    let t = &rec.tokens;
    let mut attrs = vec![
        s("gen_ai.operation.name", op),
        s("gen_ai.request.model", &rec.requested_model),
        i(
            "gen_ai.usage.input_tokens",
            t.input + t.cached_input + t.cache_write,
        ),
        i("gen_ai.usage.output_tokens", t.output),
        s("switchyard.request_id", &rec.request_id),
        s("switchyard.route", &rec.route),
        s("switchyard.cache", &rec.cache),
        s("switchyard.tenant", &rec.tenant),
        i("http.response.status_code", u64::from(rec.status)),
        i("switchyard.escalations", u64::from(rec.escalations)),
        i("switchyard.attempts", rec.attempts.len() as u64),
    ];
    if let Some(m) = &rec.served_model {
        attrs.push(s("gen_ai.response.model", m));
    }
    if let Some(p) = &rec.provider {
        attrs.push(s("gen_ai.system", p));
    }
    if let Some(task) = &rec.task {
        attrs.push(s("switchyard.task", task));
    }
    if let Some(c) = rec.cost {
        attrs.push(s("switchyard.cost_usd", &c.to_string()));
    }
    if let Some(e) = &rec.error_class {
        attrs.push(s("error.type", e));
    }
    let ok = rec.status < 400;
    let mut spans = vec![json!({
        "traceId": trace_id,
        "spanId": root_id,
        "name": format!("{op} {}", rec.route),
        "kind": SPAN_KIND_SERVER,
        "startTimeUnixNano": start.to_string(),
        "endTimeUnixNano": end.to_string(),
        "attributes": attrs,
        "status": if ok { json!({"code": STATUS_OK}) }
                  else { json!({"code": STATUS_ERROR, "message": rec.error_class.clone().unwrap_or_default()}) },
    })];
    let mut at = start;
    for a in &rec.attempts {
        let a_end = (at + nanos(a.latency_ms)).min(end.max(at));
        let mut attrs = vec![
            s("gen_ai.operation.name", op),
            s("gen_ai.system", &a.provider),
            s("gen_ai.request.model", &a.model),
            s("switchyard.attempt.outcome", &a.outcome),
        ];
        let ok = a.outcome == "ok";
        if ok {
            attrs.push(s("gen_ai.response.model", &a.model));
        } else {
            attrs.push(s("error.type", &a.outcome));
        }
        if let Some(c) = a.cost {
            attrs.push(s("switchyard.cost_usd", &c.to_string()));
        }
        spans.push(json!({
            "traceId": trace_id,
            "spanId": hex_id(8),
            "parentSpanId": root_id,
            "name": format!("{op} {}", a.model),
            "kind": SPAN_KIND_CLIENT,
            "startTimeUnixNano": at.to_string(),
            "endTimeUnixNano": a_end.to_string(),
            "attributes": attrs,
            "status": if ok { json!({"code": STATUS_OK}) }
                      else { json!({"code": STATUS_ERROR, "message": a.outcome}) },
        }));
        at = a_end;
    }
    spans
}

/// The OTLP `ExportTraceServiceRequest` body for a batch of requests.
pub fn resource_spans(recs: &[RequestRecord], service_name: &str) -> Value {
    let spans: Vec<Value> = recs.iter().flat_map(request_spans).collect();
    json!({
        "resourceSpans": [{
            "resource": {"attributes": [s("service.name", service_name)]},
            "scopeSpans": [{
                "scope": {"name": "switchyard", "version": env!("CARGO_PKG_VERSION")},
                "spans": spans,
            }],
        }],
    })
}
