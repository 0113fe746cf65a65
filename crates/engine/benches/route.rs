//! One routing decision over a 200-model route (target: at most 20 µs).
//!
//! `cargo bench -p switchyard-engine --bench route` (add `-- --quick` for a short run).
//! The route is `cheapest` with a per-task quality floor and a price ceiling over 200 models
//! priced from the bundled catalog (ids reused past its size), so every candidate runs the
//! capability, context, quality, ceiling and estimate checks, and the survivors are sorted.
//! `decide_*` is the decision itself; `plan_200_request_path` adds what a request pays on top
//! (the live clock, the task classifier, naming the pick); `plan_200_rendered` is a full
//! explanation (every candidate and exclusion in words), as `POST /v1/route/explain` returns.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use switchyard_engine::route::{Detail, RouteCtx};
use switchyard_engine::runtime::NullSink;
use switchyard_engine::{Controls, Engine, Shared};

const MODELS: usize = 200;

fn config(exact: bool) -> String {
    let book = switchyard_pricing::PriceBook::bundled().expect("bundled catalog");
    let mut ids: Vec<String> = book
        .ids()
        .filter(|id| {
            book.entry(id)
                .is_some_and(|e| e.mode == switchyard_pricing::Mode::Chat)
        })
        .map(str::to_owned)
        .collect();
    ids.sort();
    let mut s = String::from(
        "[providers.p]\nkind = \"openai-compatible\"\nbase_url = \"http://127.0.0.1:9/v1\"\nkeys = [\"plain:k\"]\n",
    );
    let mut names = Vec::new();
    for i in 0..MODELS {
        let q = 0.5 + (i % 10) as f64 * 0.05;
        let id = &ids[i % ids.len()];
        s.push_str(&format!(
            "[models.\"m{i}\"]\nprovider = \"p\"\nprice_id = \"{id}\"\nupstream = \"{}\"\nquality = {{ code = {q:.2}, chat = 0.8, reasoning = 0.7 }}\n",
            id.rsplit('/').next().unwrap_or(id)
        ));
        names.push(format!("\"m{i}\""));
    }
    s.push_str(&format!(
        "[routes.auto]\nstrategy = \"cheapest\"\nmin_quality = 0.7\nmax_cost = \"0.05\"\ncandidates = [{}]\n",
        names.join(", ")
    ));
    if exact {
        s.push_str("[pricing]\ntoken_count = \"exact\"\n");
    }
    s
}

fn bench(c: &mut Criterion) {
    let cfg = switchyard_engine::config::load_str(&config(false)).expect("config");
    let engine = Engine::build(cfg, Shared::new(), Arc::new(NullSink)).expect("engine");
    let req: switchyard_core::ChatRequest = serde_json::from_value(serde_json::json!({
        "model": "auto", "max_tokens": 300,
        "messages": [{"role": "system", "content": "You are a careful senior engineer."},
                     {"role": "user", "content": "Write a Rust function that parses an ISO 8601 date and returns the weekday, with tests."}]
    }))
    .expect("request");
    let named = Controls {
        task: Some("code".into()),
        allow_fallbacks: true,
        ..Controls::default()
    };
    let classify = Controls {
        allow_fallbacks: true,
        ..Controls::default()
    };
    let ctx = RouteCtx::for_request(&req);
    let d = engine.decide_with(&req, &named, &ctx).expect("decision");
    eprintln!(
        "{} candidates: {} pass, {} excluded; pick {}",
        MODELS,
        d.ranked.len(),
        d.excluded.len(),
        engine.models[d.ranked[0].idx].name
    );
    let mut g = c.benchmark_group("route");
    g.bench_function("decide_200_task_named", |b| {
        b.iter(|| engine.decide_with(black_box(&req), &named, &ctx))
    });
    g.bench_function("decide_200_task_classified", |b| {
        b.iter(|| engine.decide_with(black_box(&req), &classify, &ctx))
    });
    g.bench_function("plan_200_rendered", |b| {
        b.iter(|| engine.plan_with(black_box(&req), &named, &ctx))
    });
    // What the request path runs: classify, decide, and word only the pick.
    g.bench_function("plan_200_request_path", |b| {
        b.iter(|| {
            let ctx = RouteCtx::for_request(&req);
            engine.plan_detailed(black_box(&req), &classify, &ctx, Detail::Request)
        })
    });
    g.bench_function("decide_live_ctx", |b| {
        b.iter(|| {
            let ctx = RouteCtx::for_request(&req);
            engine.decide_with(black_box(&req), &named, &ctx)
        })
    });
    // Attribution: the price book's own estimate for the same 200 models.
    let book = engine.shared.prices.current();
    g.bench_function("book_estimate_x200", |b| {
        b.iter(|| {
            engine
                .models
                .iter()
                .filter_map(|m| book.estimate(&m.price_id, black_box(40), 300, &ctx.pricing))
                .count()
        })
    });
    // `[pricing] token_count = "exact"`: the catalog's OpenAI models count the prompt in
    // their own encoding (loaded before measuring).
    let exact = Engine::build(
        switchyard_engine::config::load_str(&config(true)).expect("config"),
        Shared::new(),
        Arc::new(NullSink),
    )
    .expect("engine");
    for e in switchyard_engine::tokens::Encoding::ALL {
        e.load();
    }
    let d = exact.decide_with(&req, &named, &ctx).expect("decision");
    eprintln!(
        "exact counts: {:?} (estimate {})",
        d.exact_tokens, d.prompt_tokens
    );
    g.bench_function("decide_200_exact_tokens", |b| {
        b.iter(|| exact.decide_with(black_box(&req), &named, &ctx))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
