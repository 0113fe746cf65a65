//! Serves `/ui` and `/metrics` over a SQLite request log seeded with a day of synthetic traffic,
//! for the headless-browser test and for looking at the dashboard without the gateway.
//!
//! `cargo run -p switchyard-observe --example ui_demo -- [--listen 127.0.0.1:0] [--db PATH] [--admin-key KEY]`
//! Prints `listening on http://ADDR` once ready.

use std::sync::Arc;

use rust_decimal::Decimal;
use switchyard_core::{AttemptRecord, RequestRecord, Secret, TokenCounts, Usd};
use switchyard_observe::log::now_ms;
use switchyard_observe::{Metrics, SqliteStore, Store, UiState, metrics_router, ui_router};

/// (model, provider, USD per input token, USD per output token, typical latency ms)
const MODELS: &[(&str, &str, i64, i64, f64)] = &[
    ("openai/gpt-4o-mini", "openai", 150, 600, 900.0),
    ("openai/gpt-4o", "openai", 2500, 10_000, 2200.0),
    ("anthropic/claude-3-5-haiku", "anthropic", 800, 4000, 1100.0),
    ("gemini/gemini-1.5-flash", "gemini", 75, 300, 700.0),
    ("deepseek/deepseek-chat", "deepseek", 270, 1100, 1600.0),
];

fn seed(n: usize, now: i64) -> Vec<RequestRecord> {
    let mut rng = fastrand::Rng::with_seed(7);
    // Prices as nano-dollars per token (150 = $0.15 per million tokens).
    let per_tok = |nano: i64| Usd(Decimal::new(nano, 9));
    (0..n)
        .map(|i| {
            let m = rng.usize(..100);
            let idx = match m {
                0..=39 => 0,
                40..=49 => 1,
                50..=69 => 2,
                70..=89 => 3,
                _ => 4,
            };
            let (model, provider, pin, pout, lat) = MODELS[idx];
            let input = rng.u64(50..3000);
            let output = rng.u64(10..800);
            let cost = per_tok(pin) * input + per_tok(pout) * output;
            let baseline = per_tok(2500) * input + per_tok(10_000) * output;
            let cache = match rng.usize(..100) {
                0..=11 => "hit",
                12..=16 => "semantic-hit",
                17..=18 => "coalesced",
                19..=24 => "bypass",
                _ => "miss",
            };
            let cached = cache != "miss" && cache != "bypass";
            let mut attempts = Vec::new();
            if rng.usize(..100) < 6 {
                attempts.push(AttemptRecord {
                    model: "deepseek/deepseek-chat".into(),
                    provider: "deepseek".into(),
                    outcome: "429".into(),
                    latency_ms: 40.0,
                    cost: None,
                    cost_estimated: false,
                });
            }
            let total = if cached {
                rng.f64() * 3.0 + 0.5
            } else {
                lat * (0.4 + rng.f64() * 1.4)
            };
            attempts.push(AttemptRecord {
                model: model.into(),
                provider: provider.into(),
                outcome: "ok".into(),
                latency_ms: total,
                cost: Some(cost),
                cost_estimated: false,
            });
            let status = if rng.usize(..100) < 2 { 502 } else { 200 };
            RequestRecord {
                request_id: format!("demo-{i}"),
                ts_ms: now - rng.i64(0..86_400_000),
                tenant: format!("key#{:04x}", rng.u16(..4)),
                endpoint: "chat".into(),
                route: if idx == 1 {
                    "strong".into()
                } else {
                    "auto".into()
                },
                task: Some(["code", "chat", "translation", "summarization"][rng.usize(..4)].into()),
                requested_model: "auto".into(),
                served_model: Some(model.into()),
                provider: Some(provider.into()),
                stream: rng.bool(),
                attempts,
                tokens: TokenCounts {
                    input,
                    output,
                    ..TokenCounts::default()
                },
                cost: if cached { Some(Usd::ZERO) } else { Some(cost) },
                baseline_cost: Some(baseline),
                cache: cache.into(),
                ttft_ms: Some(total / 3.0),
                total_ms: total,
                overhead_ms: 0.2 + rng.f64(),
                status,
                error_class: (status >= 400).then(|| "upstream".to_string()),
                escalations: u32::from(rng.usize(..100) < 4),
                escalated: Vec::new(),
            }
        })
        .collect()
}

#[tokio::main(flavor = "current_thread")]
#[expect(
    clippy::print_stdout,
    reason = "the browser test reads the address from stdout"
)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let listen = arg("--listen").unwrap_or_else(|| "127.0.0.1:0".into());
    let dir = tempfile::tempdir()?;
    let db = arg("--db").map_or_else(|| dir.path().join("demo.sqlite"), Into::into);
    let store = SqliteStore::open(db).await?;
    let now = now_ms();
    let records = seed(3000, now);
    store.write_batch(&records).await?;
    let metrics = Arc::new(Metrics::new());
    records.iter().for_each(|r| metrics.observe(r));
    let state = UiState {
        store: Arc::new(store),
        admin_key: arg("--admin-key").map(Secret::new),
    };
    let app = ui_router(state).merge(metrics_router(metrics));
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
