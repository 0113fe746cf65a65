//! The router's pick through `Engine::plan` + `apply_prompt_router`, as `POST /v1/route/explain`
//! shows it: only frontier models can be the pick, and the explanation names it.

use std::sync::Arc;

use serde_json::{Value, json};
use switchyard_core::ChatRequest;
use switchyard_embed::Embedder;

use super::*;
use crate::controls::Controls;
use crate::runtime::{NullSink, Shared};

const MATH: [&str; 4] = [
    "Prove that there are infinitely many prime numbers.",
    "Prove that the square root of two is irrational.",
    "Prove that the sum of two even numbers is even.",
    "Prove that every prime number greater than two is odd.",
];
const FRENCH: [&str; 4] = [
    "Translate into French: the cat sleeps on the sofa.",
    "Translate into French: where is the railway station?",
    "Translate into French: I would like a cup of coffee.",
    "Translate into French: the weather is nice today.",
];

/// cheap is right on translations only (mean 0.5); `detour` scores 0.8 on proofs, 0 on
/// translations, and costs half as much as strong: costlier and worse than cheap on
/// average, so off the frontier; strong is always right.
fn write_index(path: &std::path::Path) {
    let emb = switchyard_embed::static_embedder();
    let models = vec!["cheap".to_owned(), "detour".to_owned(), "strong".to_owned()];
    let mut rows = Vec::new();
    for t in MATH {
        rows.push((emb.embed(t), vec![0.0, 0.8, 1.0]));
    }
    for t in FRENCH {
        rows.push((emb.embed(t), vec![1.0, 0.0, 1.0]));
    }
    let header = IndexHeader {
        dim: rows[0].0.len(),
        models,
        model_cost: [
            ("cheap".into(), 0.001),
            ("detour".into(), 0.005),
            ("strong".into(), 0.01),
        ]
        .into(),
        ..IndexHeader::default()
    };
    PromptIndex::new(header, rows).write(path).unwrap();
}

fn engine(index: &std::path::Path) -> Engine {
    let mut cfg = String::from(
        "[providers.p]\nkind = \"openai-compatible\"\nbase_url = \"http://127.0.0.1:9/v1\"\nkeys = [\"plain:k\"]\n",
    );
    for (m, price) in [("cheap", "1"), ("detour", "5"), ("strong", "10")] {
        cfg.push_str(&format!(
            "[models.{m}]\nprovider = \"p\"\nprice_id = \"t/{m}\"\n[pricing.overrides.\"t/{m}\"]\ninput = \"{price}\"\noutput = \"{price}\"\ncontext_window = 100000\n"
        ));
    }
    cfg.push_str(&format!(
        "[routes.auto]\ncandidates = [\"cheap\", \"detour\", \"strong\"]\nmin_quality = 0.6\n[routes.auto.router]\nindex = \"{}\"\nk = 3\nprior = 0.1\n",
        index.display()
    ));
    let cfg = crate::config::load_str(&cfg).unwrap();
    Engine::build(cfg, Shared::new(), Arc::new(NullSink)).unwrap()
}

fn explain(e: &Engine, text: &str) -> Value {
    let req: ChatRequest = serde_json::from_value(
        json!({"model": "auto", "max_tokens": 50, "messages": [{"role": "user", "content": text}]}),
    )
    .unwrap();
    let controls = Controls {
        allow_fallbacks: true,
        ..Controls::default()
    };
    let mut plan = e.plan(&req, &controls).unwrap();
    e.apply_prompt_router(&req, &controls, &mut plan);
    serde_json::to_value(&plan).unwrap()
}

#[test]
fn the_pick_is_a_frontier_model_and_the_explanation_shows_it() {
    let dir = std::env::temp_dir().join(format!("swy-router-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("index.bin");
    write_index(&path);
    let e = engine(&path);

    let p = explain(
        &e,
        "Prove that there are infinitely many twin prime numbers.",
    );
    let r = &p["prompt_router"];
    // detour is predicted to clear 0.6 and is cheaper than strong, but off the frontier.
    assert_eq!(r["model"], "strong", "{p:#}");
    assert_eq!(p["pick"], "strong");
    assert_eq!(p["candidates"][0]["model"], "strong");
    assert_eq!(p["candidate_names"][0], "strong");
    assert_eq!(r["mode"], "knn");
    assert_eq!(r["cleared"], true);
    assert_eq!(r["min_quality"], 0.6);
    assert_eq!(r["index_rows"], 8);
    assert!(r["predicted_quality"].as_f64().unwrap() > 0.9, "{r:#}");
    let detour = r["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["model"] == "detour")
        .unwrap();
    assert_eq!(detour["frontier"], false);
    assert!(detour["predicted_quality"].as_f64().unwrap() > 0.6, "{r:#}");
    assert!((detour["mean_quality"].as_f64().unwrap() - 0.4).abs() < 1e-6);
    assert!(p["reason"].as_str().unwrap().contains("picked strong"));

    let p = explain(&e, "Translate into French: the dog runs in the garden.");
    assert_eq!(p["prompt_router"]["model"], "cheap", "{p:#}");
    assert_eq!(p["pick"], "cheap");
    assert_eq!(p["prompt_router"]["candidates"][0]["frontier"], true);

    // Without an index the plan is unchanged and says so with null.
    std::fs::remove_file(&path).unwrap();
    let e = engine(&path);
    assert_eq!(explain(&e, MATH[0])["prompt_router"], Value::Null);
    let _ = std::fs::remove_dir_all(&dir);
}

fn cand(predicted: f64, cost: f64, frontier: bool, mean: f64) -> Cand {
    Cand {
        predicted,
        cost,
        frontier,
        mean,
        overall: frontier,
    }
}

#[test]
fn choose_keeps_the_rule_on_the_frontier_and_under_the_anchor() {
    // cheap (mean 0.6), off (off the frontier), mid (mean 0.8), strong (mean 0.9).
    let c = |p: [f64; 4]| {
        [
            cand(p[0], 1.0, true, 0.6),
            cand(p[1], 2.0, false, 0.7),
            cand(p[2], 3.0, true, 0.8),
            cand(p[3], 10.0, true, 0.9),
        ]
    };
    // The cheapest eligible one predicted to clear the minimum.
    assert_eq!(choose(&c([0.9, 0.9, 0.9, 0.9]), 0.75), Some((0, true)));
    assert_eq!(choose(&c([0.5, 0.9, 0.9, 0.9]), 0.75), Some((2, true)));
    // Off the frontier never, even when predicted to clear and cheaper.
    assert_eq!(choose(&c([0.5, 0.99, 0.6, 0.9]), 0.85), Some((3, true)));
    // The anchor for 0.75 is mid (cheapest clearing on average): strong is not paid for a
    // prompt mid is predicted to miss; the best predicted under the cap is the fallback.
    assert_eq!(choose(&c([0.5, 0.5, 0.6, 0.95]), 0.75), Some((2, false)));
    assert_eq!(choose(&c([0.7, 0.5, 0.6, 0.95]), 0.75), Some((0, false)));
    // Above every mean the anchor is the best on average, and everything is under it.
    assert_eq!(choose(&c([0.5, 0.5, 0.97, 0.99]), 0.95), Some((2, true)));
    assert_eq!(choose(&c([0.5, 0.5, 0.6, 0.9]), 0.95), Some((3, false)));
    // Task mode: the cap comes from the overall frontier (mid), the candidates from the task's
    // (cheap, strong): a task nothing cheap clears is not sent to strong.
    let mut t = c([0.5, 0.5, 0.6, 0.9]);
    t[2].frontier = false;
    assert_eq!(choose(&t, 0.75), Some((0, false)));
    // No frontier candidate available: all are eligible.
    let c = [cand(0.3, 1.0, false, 0.3), cand(0.7, 2.0, false, 0.7)];
    assert_eq!(choose(&c, 0.5), Some((1, true)));
    assert_eq!(choose(&[], 0.5), None);
}
