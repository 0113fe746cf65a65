//! `/ui`: a self-contained dashboard page (no external assets: gateways run offline) and the
//! JSON it charts, read from the request-log store, never from the request path.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};
use switchyard_core::Secret;

use crate::log::now_ms;
use crate::store::{AggQuery, AggRow, GroupBy, Store, StoreError, nanos_to_usd, percentile};

const PAGE: &str = include_str!("../assets/dashboard.html");
const SCRIPT: &str = include_str!("../assets/dashboard.js");
const COOKIE: &str = "switchyard_admin";
/// Series beyond this many (by spend) are summed into `other` so charts stay legible.
const MAX_SERIES: usize = 8;
const MAX_WINDOW: Duration = Duration::from_secs(90 * 86_400);
/// Latency histogram bucket upper bounds, milliseconds; the last bucket is open-ended.
pub const LATENCY_EDGES_MS: &[f64] = &[
    25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10_000.0, 30_000.0,
];

#[derive(Clone)]
pub struct UiState {
    pub store: Arc<dyn Store>,
    /// When set, the page and its API need `Authorization: Bearer KEY`, the cookie that
    /// `/ui?key=KEY` sets, or `?key=KEY` itself.
    pub admin_key: Option<Secret>,
}

/// `/ui`, `/ui/app.js`, `/ui/api/summary?since=24h`.
pub fn ui_router(state: UiState) -> Router {
    Router::new()
        .route("/ui", get(page))
        .route("/ui/", get(page))
        .route("/ui/app.js", get(script))
        .route("/ui/api/summary", get(summary_handler))
        .route_layer(middleware::from_fn_with_state(state.clone(), auth))
        .with_state(state)
}

fn eq_ct(a: &[u8], b: &[u8]) -> bool {
    // Constant time in the key's content, so timing does not reveal a matching prefix.
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn presented_key(headers: &HeaderMap, query: Option<&str>) -> Option<String> {
    if let Some(b) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    {
        return Some(b.trim().to_string());
    }
    for c in headers.get_all(header::COOKIE) {
        for part in c.to_str().unwrap_or("").split(';') {
            if let Some(v) = part
                .trim()
                .strip_prefix(COOKIE)
                .and_then(|v| v.strip_prefix('='))
            {
                return Some(v.to_string());
            }
        }
    }
    query?
        .split('&')
        .find_map(|kv| kv.strip_prefix("key=").map(percent_decode))
}

fn percent_decode(s: &str) -> String {
    let hex = |c: u8| (c as char).to_digit(16);
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn auth(State(st): State<UiState>, req: Request, next: Next) -> Response {
    let Some(admin) = &st.admin_key else {
        return next.run(req).await;
    };
    let query = req.uri().query().map(str::to_string);
    let from_query = query
        .as_deref()
        .is_some_and(|q| q.split('&').any(|kv| kv.starts_with("key=")));
    match presented_key(req.headers(), query.as_deref()) {
        Some(k) if eq_ct(k.as_bytes(), admin.expose().as_bytes()) => {
            if from_query && req.uri().path().trim_end_matches('/') == "/ui" {
                // Trade the key in the URL for a cookie so it leaves the address bar and history.
                let cookie = format!(
                    "{COOKIE}={}; Path=/ui; HttpOnly; SameSite=Strict",
                    admin.expose()
                );
                return ([(header::SET_COOKIE, cookie)], Redirect::to("/ui")).into_response();
            }
            next.run(req).await
        }
        _ => (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "admin key required: Authorization: Bearer KEY, or open /ui?key=KEY once\n",
        )
            .into_response(),
    }
}

async fn page() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        PAGE,
    )
}

async fn script() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        SCRIPT,
    )
}

#[derive(Debug, Deserialize)]
struct SummaryParams {
    since: Option<String>,
}

async fn summary_handler(State(st): State<UiState>, Query(p): Query<SummaryParams>) -> Response {
    let since = match p.since.as_deref().map(humantime::parse_duration) {
        None => Duration::from_secs(86_400),
        Some(Ok(d)) if !d.is_zero() => d.min(MAX_WINDOW),
        Some(_) => {
            return (
                StatusCode::BAD_REQUEST,
                "since: a duration such as 1h, 24h, 7d\n",
            )
                .into_response();
        }
    };
    let until = now_ms() + 1;
    let since_ms = until - since.as_millis() as i64;
    match summary(st.store.as_ref(), since_ms, until).await {
        Ok(s) => axum::Json(s).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "ui: summary query failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("request log unavailable: {e}\n"),
            )
                .into_response()
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Series {
    pub name: String,
    pub values: Vec<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Totals {
    pub requests: i64,
    pub errors: i64,
    /// Exact decimal USD, as text.
    pub spend_usd: String,
    pub saved_usd: String,
    pub unknown_cost_requests: i64,
    pub cache_hit_rate: f64,
    pub fallbacks: i64,
    pub escalations: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LatencyRow {
    pub model: String,
    pub count: usize,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    /// Counts per `latency_edges_ms` bucket, plus a last open-ended one.
    pub histogram: Vec<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub since_ms: i64,
    pub until_ms: i64,
    pub bucket_ms: i64,
    /// Start of every time bucket, oldest first; series values align with it.
    pub buckets: Vec<i64>,
    pub totals: Totals,
    /// USD per bucket (floats for drawing; the totals carry exact text).
    pub spend_by_model: Vec<Series>,
    pub spend_by_provider: Vec<Series>,
    pub latency_edges_ms: Vec<f64>,
    pub latency: Vec<LatencyRow>,
    pub cache: BTreeMap<String, i64>,
    /// `requests`, `errors`, `fallbacks`, `escalations` per bucket.
    pub events: Vec<Series>,
    /// Running net saving against the baseline, USD, at the end of each bucket.
    pub cumulative_saved_usd: Vec<f64>,
}

/// A round bucket width giving at most ~60 points over the window.
fn bucket_width(window_ms: i64) -> i64 {
    const STEPS: &[i64] = &[
        60_000, 300_000, 900_000, 1_800_000, 3_600_000, 10_800_000, 21_600_000, 43_200_000,
        86_400_000,
    ];
    STEPS
        .iter()
        .copied()
        .find(|s| window_ms / s <= 60)
        .unwrap_or(86_400_000)
}

fn usd_f64(nanos: i64) -> f64 {
    nanos_to_usd(nanos).to_f64()
}

fn series(rows: &[AggRow], buckets: &[i64], bucket_ms: i64) -> Vec<Series> {
    let index = |b: i64| buckets.binary_search(&b).ok();
    let mut by_key: HashMap<&str, (i64, Vec<i64>)> = HashMap::new();
    for r in rows {
        let e = by_key
            .entry(r.key.as_str())
            .or_insert_with(|| (0, vec![0; buckets.len()]));
        e.0 += r.cost_nanos;
        if let Some(i) = r.bucket_ms.and_then(|b| index(b - b.rem_euclid(bucket_ms))) {
            e.1[i] += r.cost_nanos;
        }
    }
    let mut ranked: Vec<(&str, (i64, Vec<i64>))> = by_key.into_iter().collect();
    ranked.sort_by(|a, b| b.1.0.cmp(&a.1.0).then(a.0.cmp(b.0)));
    let mut out: Vec<Series> = Vec::new();
    let mut other = vec![0i64; buckets.len()];
    for (n, (key, (_, vals))) in ranked.into_iter().enumerate() {
        if n < MAX_SERIES {
            out.push(Series {
                name: key.to_string(),
                values: vals.into_iter().map(usd_f64).collect(),
            });
        } else {
            other.iter_mut().zip(vals).for_each(|(o, v)| *o += v);
        }
    }
    if other.iter().any(|v| *v != 0) {
        out.push(Series {
            name: "other".into(),
            values: other.into_iter().map(usd_f64).collect(),
        });
    }
    out
}

/// Everything the dashboard draws, over `[since_ms, until_ms)`.
pub async fn summary(
    store: &dyn Store,
    since_ms: i64,
    until_ms: i64,
) -> Result<Summary, StoreError> {
    let bucket_ms = bucket_width(until_ms - since_ms);
    let first = since_ms - since_ms.rem_euclid(bucket_ms);
    let buckets: Vec<i64> = (0..)
        .map(|i| first + i * bucket_ms)
        .take_while(|b| *b < until_ms)
        .collect();
    let q = |by, bucketed: bool| AggQuery {
        since_ms,
        until_ms,
        by,
        bucket_ms: bucketed.then_some(bucket_ms),
    };
    let by_model = store.aggregate(q(GroupBy::Model, true)).await?;
    let by_provider = store.aggregate(q(GroupBy::Provider, true)).await?;
    let overall = store.aggregate(q(GroupBy::All, true)).await?;
    let cache_rows = store.aggregate(q(GroupBy::Cache, false)).await?;

    let mut ev = [(); 4].map(|_| vec![0f64; buckets.len()]);
    let mut saved = vec![0i64; buckets.len()];
    let mut t = AggRow::default();
    for r in &overall {
        if let Some(i) = r.bucket_ms.and_then(|b| buckets.binary_search(&b).ok()) {
            ev[0][i] += r.requests as f64;
            ev[1][i] += r.errors as f64;
            ev[2][i] += r.fallbacks as f64;
            ev[3][i] += r.escalations as f64;
            saved[i] += r.saved_nanos;
        }
        t.requests += r.requests;
        t.errors += r.errors;
        t.cost_nanos += r.cost_nanos;
        t.saved_nanos += r.saved_nanos;
        t.unknown_cost += r.unknown_cost;
        t.cache_hits += r.cache_hits;
        t.fallbacks += r.fallbacks;
        t.escalations += r.escalations;
    }
    let mut running = 0i64;
    let cumulative_saved_usd = saved
        .iter()
        .map(|s| {
            running += s;
            usd_f64(running)
        })
        .collect();
    let [requests, errors, fallbacks, escalations] = ev;
    let events = vec![
        Series {
            name: "requests".into(),
            values: requests,
        },
        Series {
            name: "errors".into(),
            values: errors,
        },
        Series {
            name: "fallbacks".into(),
            values: fallbacks,
        },
        Series {
            name: "escalations".into(),
            values: escalations,
        },
    ];

    let mut lat: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for (k, ms) in store.latencies(since_ms, until_ms, GroupBy::Model).await? {
        lat.entry(k).or_default().push(ms);
    }
    let mut latency: Vec<LatencyRow> = lat
        .into_iter()
        .map(|(model, mut v)| {
            v.sort_by(f64::total_cmp);
            let mut histogram = vec![0u64; LATENCY_EDGES_MS.len() + 1];
            for ms in &v {
                histogram[LATENCY_EDGES_MS.partition_point(|e| e < ms)] += 1;
            }
            LatencyRow {
                count: v.len(),
                p50_ms: percentile(&v, 50.0),
                p95_ms: percentile(&v, 95.0),
                p99_ms: percentile(&v, 99.0),
                histogram,
                model,
            }
        })
        .collect();
    latency.sort_by(|a, b| b.count.cmp(&a.count).then(a.model.cmp(&b.model)));
    latency.truncate(MAX_SERIES);

    Ok(Summary {
        since_ms,
        until_ms,
        bucket_ms,
        totals: Totals {
            requests: t.requests,
            errors: t.errors,
            spend_usd: nanos_to_usd(t.cost_nanos).to_string(),
            saved_usd: nanos_to_usd(t.saved_nanos).to_string(),
            unknown_cost_requests: t.unknown_cost,
            cache_hit_rate: if t.requests > 0 {
                t.cache_hits as f64 / t.requests as f64
            } else {
                0.0
            },
            fallbacks: t.fallbacks,
            escalations: t.escalations,
        },
        spend_by_model: series(&by_model, &buckets, bucket_ms),
        spend_by_provider: series(&by_provider, &buckets, bucket_ms),
        latency_edges_ms: LATENCY_EDGES_MS.to_vec(),
        latency,
        cache: cache_rows
            .into_iter()
            .map(|r| (r.key, r.requests))
            .collect(),
        events,
        cumulative_saved_usd,
        buckets,
    })
}
