//! `switchyard report`: spend, tokens, latency percentiles, cache hits and savings per group,
//! from the request log. Sums come from the database as integers (nano-dollars); percentiles
//! are nearest-rank over the window's latencies.

use std::collections::HashMap;
use std::fmt::Write;
use std::path::Path;
use std::time::Duration;

use serde::Serialize;
use switchyard_core::Usd;

use crate::config::StoreTarget;
use crate::log::now_ms;
use crate::store::{
    AggQuery, GroupBy, PgStore, SqliteStore, Store, StoreError, nanos_to_usd, percentile,
};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReportRow {
    /// The group: a model, route, key fingerprint, task or provider.
    pub key: String,
    pub requests: i64,
    /// Requests answered with an HTTP status of 400 or more.
    pub errors: i64,
    pub input_tokens: i64,
    pub cached_input_tokens: i64,
    pub cache_write_tokens: i64,
    pub output_tokens: i64,
    pub reasoning_tokens: i64,
    /// Exact USD over requests with a known cost.
    pub spend: Usd,
    /// Requests whose cost is unknown (missing price): not in `spend`, never counted as $0.
    pub unknown_cost_requests: i64,
    /// Baseline cost and saving over the requests where both are known.
    pub baseline: Usd,
    pub saved: Usd,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub cache_hits: i64,
    pub cache_hit_rate: f64,
    pub fallbacks: i64,
    pub retries: i64,
    pub escalations: i64,
}

/// The one entry point for the CLI: `store` is a store URL (`postgres://...`, `sqlite://...`)
/// or a path to the SQLite log. Rows are sorted by spend, largest first.
pub async fn report(
    store: &str,
    since: Duration,
    by: GroupBy,
) -> Result<Vec<ReportRow>, StoreError> {
    report_target(&StoreTarget::parse(store, Path::new(".")), since, by).await
}

/// Same, for a target already resolved from a config (`StoreConfig::target`).
pub async fn report_target(
    target: &StoreTarget,
    since: Duration,
    by: GroupBy,
) -> Result<Vec<ReportRow>, StoreError> {
    let until = now_ms();
    let since_ms = until - i64::try_from(since.as_millis()).unwrap_or(i64::MAX / 2);
    match target {
        StoreTarget::Sqlite(p) => {
            let s = SqliteStore::open_existing(p.clone()).await?;
            report_from(&s, since_ms, until + 1, by).await
        }
        StoreTarget::Postgres(url) => {
            let s = PgStore::connect(url, None).await?;
            report_from(&s, since_ms, until + 1, by).await
        }
    }
}

/// The report over `[since_ms, until_ms)` of an open store.
pub async fn report_from(
    store: &dyn Store,
    since_ms: i64,
    until_ms: i64,
    by: GroupBy,
) -> Result<Vec<ReportRow>, StoreError> {
    let q = AggQuery {
        since_ms,
        until_ms,
        by,
        bucket_ms: None,
    };
    let aggs = store.aggregate(q).await?;
    let mut lat: HashMap<String, Vec<f64>> = HashMap::new();
    for (k, ms) in store.latencies(since_ms, until_ms, by).await? {
        lat.entry(k).or_default().push(ms);
    }
    let mut rows: Vec<ReportRow> = aggs
        .into_iter()
        .map(|a| {
            let mut l = lat.remove(&a.key).unwrap_or_default();
            l.sort_by(f64::total_cmp);
            ReportRow {
                requests: a.requests,
                errors: a.errors,
                input_tokens: a.input_tokens,
                cached_input_tokens: a.cached_input_tokens,
                cache_write_tokens: a.cache_write_tokens,
                output_tokens: a.output_tokens,
                reasoning_tokens: a.reasoning_tokens,
                spend: nanos_to_usd(a.cost_nanos),
                unknown_cost_requests: a.unknown_cost,
                baseline: nanos_to_usd(a.baseline_nanos),
                saved: nanos_to_usd(a.saved_nanos),
                p50_ms: percentile(&l, 50.0),
                p95_ms: percentile(&l, 95.0),
                p99_ms: percentile(&l, 99.0),
                cache_hits: a.cache_hits,
                cache_hit_rate: if a.requests > 0 {
                    a.cache_hits as f64 / a.requests as f64
                } else {
                    0.0
                },
                fallbacks: a.fallbacks,
                retries: a.retries,
                escalations: a.escalations,
                key: a.key,
            }
        })
        .collect();
    rows.sort_by(|a, b| b.spend.cmp(&a.spend).then_with(|| a.key.cmp(&b.key)));
    Ok(rows)
}

/// `24h`, `7d`, `90m`, `1h30m` (humantime syntax).
pub fn parse_since(s: &str) -> Result<Duration, humantime::DurationError> {
    humantime::parse_duration(s.trim())
}

/// Rows plus a total line, as aligned plain text.
pub fn render_table(rows: &[ReportRow], by: GroupBy) -> String {
    let header = [
        by.as_str(),
        "requests",
        "errors",
        "in tok",
        "cached",
        "out tok",
        "spend $",
        "unpriced",
        "saved $",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "cache hit",
        "fallbacks",
        "escal.",
    ];
    let ms = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1}"));
    let mut lines: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.key.clone(),
                r.requests.to_string(),
                r.errors.to_string(),
                r.input_tokens.to_string(),
                r.cached_input_tokens.to_string(),
                r.output_tokens.to_string(),
                r.spend.to_string(),
                r.unknown_cost_requests.to_string(),
                r.saved.to_string(),
                ms(r.p50_ms),
                ms(r.p95_ms),
                ms(r.p99_ms),
                format!("{:.1}%", r.cache_hit_rate * 100.0),
                r.fallbacks.to_string(),
                r.escalations.to_string(),
            ]
        })
        .collect();
    let sum = |f: fn(&ReportRow) -> i64| rows.iter().map(f).sum::<i64>().to_string();
    let reqs: i64 = rows.iter().map(|r| r.requests).sum();
    let hits: i64 = rows.iter().map(|r| r.cache_hits).sum();
    lines.push(vec![
        "TOTAL".to_string(),
        reqs.to_string(),
        sum(|r| r.errors),
        sum(|r| r.input_tokens),
        sum(|r| r.cached_input_tokens),
        sum(|r| r.output_tokens),
        rows.iter().map(|r| r.spend).sum::<Usd>().to_string(),
        sum(|r| r.unknown_cost_requests),
        rows.iter().map(|r| r.saved).sum::<Usd>().to_string(),
        "-".into(),
        "-".into(),
        "-".into(),
        if reqs > 0 {
            format!("{:.1}%", hits as f64 * 100.0 / reqs as f64)
        } else {
            "-".into()
        },
        sum(|r| r.fallbacks),
        sum(|r| r.escalations),
    ]);
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            lines
                .iter()
                .map(|l| l[i].chars().count())
                .chain([header[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    let mut push = |cells: &[&str]| {
        for (i, c) in cells.iter().enumerate() {
            // The group column reads left-aligned, numbers right-aligned.
            if i == 0 {
                let _ = write!(out, "{c:<w$}", w = widths[i]);
            } else {
                let _ = write!(out, "  {c:>w$}", w = widths[i]);
            }
        }
        out.push('\n');
    };
    push(&header);
    let n = lines.len();
    for (i, l) in lines.iter().enumerate() {
        if i + 1 == n {
            let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
            push(&rule.iter().map(String::as_str).collect::<Vec<_>>());
        }
        push(&l.iter().map(String::as_str).collect::<Vec<_>>());
    }
    out
}
