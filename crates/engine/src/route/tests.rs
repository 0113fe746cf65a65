//! Pins each constraint and each dynamic price rule to a decision. Models are declared through
//! `[pricing.overrides]` with round prices, so every expected order can be checked by hand.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use serde_json::{Value, json};
use switchyard_core::ChatRequest;
use switchyard_pricing::PricingCtx;

use super::*;
use crate::latency::Series;
use crate::runtime::{NullSink, Shared};

/// cheap: $1/$2 per 1M, mid: $2/$4, dear: $10/$30 (input/output).
/// cheap carries a peak window (x4, weekdays 14:00-18:00 UTC) and a tier (x5 above 1000
/// prompt tokens); mid a flex discount (x0.25).
const CONFIG: &str = r#"
[providers.p1]
kind = "openai-compatible"
base_url = "http://127.0.0.1:9/v1"
keys = ["plain:k"]

[providers.p2]
kind = "openai-compatible"
base_url = "http://127.0.0.1:9/v1"
keys = ["plain:k"]

[models.cheap]
provider = "p1"
price_id = "t/cheap"
context_window = 4000
capabilities = { tools = false, json_schema = true }
quality = { code = 0.6, chat = 0.8 }

[models.mid]
provider = "p2"
price_id = "t/mid"
capabilities = { tools = true, json_schema = true }
quality = { code = 0.8, chat = 0.85 }

[models.dear]
provider = "p1"
price_id = "t/dear"
capabilities = { tools = true, json_schema = true, vision = true }
quality = { default = 0.95 }

[models.unpriced]
provider = "p2"
context_window = 100000

[routes.auto]
strategy = "cheapest"
candidates = ["cheap", "mid", "dear"]
baseline = "dear"

[routes.fast]
strategy = "latency"
candidates = ["cheap", "mid", "dear"]

[routes.spread]
strategy = "weighted"
candidates = ["cheap", "mid", "dear"]
weights = [3.0, 1.0, 0.0]

[routes.ladder]
strategy = "cascade"
tiers = ["cheap", "dear"]

[[pricing.rules]]
kind = "window"
name = "cheap-peak"
models = ["t/cheap"]
days = ["mon", "tue", "wed", "thu", "fri"]
start = "14:00"
end = "18:00"
multiplier = "4"

[[pricing.rules]]
kind = "tier"
name = "cheap-long"
models = ["t/cheap"]
above_input_tokens = 1000
multiplier = "5"

[[pricing.rules]]
kind = "flex"
name = "mid-flex"
models = ["t/mid"]
multiplier = "0.25"

[pricing.overrides."t/cheap"]
input = "1"
output = "2"
context_window = 4000

[pricing.overrides."t/mid"]
input = "2"
output = "4"
context_window = 128000

[pricing.overrides."t/dear"]
input = "10"
output = "30"
context_window = 128000
"#;

fn engine() -> Engine {
    let cfg = crate::config::load_str(CONFIG).unwrap();
    Engine::build(cfg, Shared::new(), Arc::new(NullSink)).unwrap()
}

fn req(v: Value) -> ChatRequest {
    serde_json::from_value(v).unwrap()
}

fn ask(model: &str, text: &str) -> Value {
    json!({"model": model, "max_tokens": 100, "messages": [{"role": "user", "content": text}]})
}

/// Wednesday 2025-03-05 at `h`:00 UTC.
fn ctx_at(h: u32) -> RouteCtx {
    RouteCtx {
        now: Instant::now(),
        pricing: PricingCtx::at(Utc.with_ymd_and_hms(2025, 3, 5, h, 0, 0).unwrap()),
        seed: Some(7),
    }
}

fn task(t: &str) -> Controls {
    Controls {
        task: Some(t.into()),
        allow_fallbacks: true,
        ..Controls::default()
    }
}

fn plan(e: &Engine, body: Value, c: &Controls, ctx: &RouteCtx) -> Plan {
    e.plan_with(&req(body), c, ctx).unwrap()
}

fn names(p: &Plan) -> Vec<&str> {
    p.candidate_names.iter().map(String::as_str).collect()
}

fn excluded<'a>(p: &'a Plan, model: &str) -> &'a ExclusionView {
    p.excluded
        .iter()
        .find(|x| x.model == model)
        .unwrap_or_else(|| panic!("{model} not excluded: {:?}", p.excluded))
}

#[test]
fn cheapest_orders_by_estimate_and_a_peak_window_flips_the_pick() {
    let e = engine();
    let c = task("chat");
    let off = plan(&e, ask("auto", "hello there"), &c, &ctx_at(3));
    assert_eq!(names(&off), ["cheap", "mid", "dear"]);
    // 7 prompt tokens + 100 out: cheap 7*1 + 100*2 = 207 µ$; mid 7*2 + 100*4 = 414 µ$.
    assert_eq!(
        off.ranked[0].estimated_cost.unwrap().to_string(),
        "0.000207"
    );
    assert_eq!(
        off.ranked[1].estimated_cost.unwrap().to_string(),
        "0.000414"
    );
    // In the weekday peak cheap costs x4 = 828 µ$, so mid wins.
    let peak = plan(&e, ask("auto", "hello there"), &c, &ctx_at(15));
    assert_eq!(names(&peak), ["mid", "cheap", "dear"]);
    assert_eq!(peak.pick, "mid");
    assert!(
        peak.reason.contains("cheapest") && peak.reason.ends_with("-> mid"),
        "{}",
        peak.reason
    );
}

#[test]
fn a_long_prompt_crosses_a_tier_and_flex_is_priced() {
    let e = engine();
    let c = task("chat");
    // ~1204 prompt tokens: above cheap's 1000-token tier (x5): 1204*5 + 100*10 = 7020 µ$ vs
    // mid 1204*2 + 400 = 2808 µ$.
    let long = "word ".repeat(960);
    let p = plan(&e, ask("auto", &long), &c, &ctx_at(3));
    assert!(p.prompt_tokens > 1000, "{}", p.prompt_tokens);
    assert_eq!(names(&p), ["mid", "cheap", "dear"]);
    // A short prompt under flex: mid at x0.25 (103.5 µ$) beats cheap (207 µ$).
    let mut flex = ctx_at(3);
    flex.pricing.flex = true;
    let p = plan(&e, ask("auto", "hello there"), &c, &flex);
    assert_eq!(p.pick, "mid");
    assert_eq!(p.ranked[0].estimated_cost.unwrap().to_string(), "0.0001035");
    // The live context reads `service_tier: flex` from the request.
    let mut body = ask("auto", "hello there");
    body["service_tier"] = json!("flex");
    assert!(RouteCtx::for_request(&req(body)).pricing.flex);
}

#[test]
fn a_ceiling_excludes_and_an_unknown_price_cannot_meet_one() {
    let e = engine();
    let mut c = task("chat");
    c.max_cost = Some(Usd::from_str_exact("0.0005").unwrap());
    let p = plan(&e, ask("auto", "hello there"), &c, &ctx_at(3));
    assert_eq!(names(&p), ["cheap", "mid"]);
    let x = excluded(&p, "dear");
    assert_eq!(x.code, "over_ceiling");
    assert!(
        x.reason.contains("0.00307") && x.reason.contains("0.0005"),
        "{}",
        x.reason
    );
    // The peak makes cheap dearer than the ceiling too.
    let p = plan(&e, ask("auto", "hello there"), &c, &ctx_at(15));
    assert_eq!(names(&p), ["mid"]);
    assert_eq!(excluded(&p, "cheap").code, "over_ceiling");
    // A model without a price cannot promise a ceiling; without one it is routable.
    let p = plan(&e, ask("unpriced", "hi"), &task("chat"), &ctx_at(3));
    assert_eq!(p.ranked[0].estimated_cost, None);
    let err = e
        .plan_with(&req(ask("unpriced", "hi")), &c, &ctx_at(3))
        .unwrap_err();
    assert_eq!(err.code.as_deref(), Some("no_candidate"));
    assert!(err.message.contains("price unknown"), "{}", err.message);
}

#[test]
fn a_missing_capability_and_a_small_context_exclude() {
    let e = engine();
    let mut body = ask("auto", "weather?");
    body["tools"] = json!([{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]);
    let p = plan(&e, body, &task("chat"), &ctx_at(3));
    assert_eq!(names(&p), ["mid", "dear"]);
    let x = excluded(&p, "cheap");
    assert_eq!(
        (x.code, x.reason.as_str()),
        ("missing_capability", "missing capability: tools")
    );
    // Vision: only dear can see.
    let body = json!({"model": "auto", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]}]});
    assert_eq!(names(&plan(&e, body, &task("chat"), &ctx_at(3))), ["dear"]);
    // Context: cheap holds 4000 tokens; 7 prompt tokens plus max_tokens 3995 do not fit.
    let mut body = ask("auto", "hello there");
    body["max_tokens"] = json!(3995);
    let p = plan(&e, body, &task("chat"), &ctx_at(3));
    assert_eq!(excluded(&p, "cheap").code, "context_too_small");
    assert_eq!(p.limits.context_needed, 4002);
}

#[test]
fn quality_minimum_excludes_per_task_with_default_and_missing_figures() {
    let e = engine();
    let mut c = task("code");
    c.min_quality = Some(0.75);
    let p = plan(&e, ask("auto", "x"), &c, &ctx_at(3));
    // cheap's code figure 0.6 < 0.75; dear has only a default (0.95), which counts.
    assert_eq!(names(&p), ["mid", "dear"]);
    let x = excluded(&p, "cheap");
    assert_eq!(x.code, "quality_below_minimum");
    assert_eq!(p.ranked[0].quality, Some(0.8));
    assert_eq!(p.ranked[1].quality, Some(0.95));
    // The same floor for chat keeps cheap (0.8).
    c.task = Some("chat".into());
    assert_eq!(plan(&e, ask("auto", "x"), &c, &ctx_at(3)).pick, "cheap");
    // A task no table names: only dear's default answers; the others have no figure.
    c.task = Some("poetry".into());
    let p = plan(&e, ask("auto", "x"), &c, &ctx_at(3));
    assert_eq!(names(&p), ["dear"]);
    assert_eq!(excluded(&p, "mid").code, "no_quality_figure");
    // When no candidate has any figure, the floor is not applied and the plan says so.
    let p = plan(&e, ask("unpriced", "x"), &c, &ctx_at(3));
    assert_eq!(names(&p), ["unpriced"]);
    assert!(p.notes[0].contains("not applied"), "{:?}", p.notes);
    // ... and so does the x-switchyard-route header the answer carries.
    assert!(
        p.reason
            .ends_with("; min quality 0.75 not applied: no quality figures for task poetry"),
        "{}",
        p.reason
    );
    // An applied floor adds nothing to the header.
    c.task = Some("code".into());
    let p = plan(&e, ask("auto", "x"), &c, &ctx_at(3));
    assert!(!p.reason.contains("not applied"), "{}", p.reason);
}

#[test]
fn the_task_is_classified_when_the_client_names_none() {
    let e = engine();
    let c = Controls {
        min_quality: Some(0.75),
        allow_fallbacks: true,
        ..Controls::default()
    };
    let p = plan(
        &e,
        ask(
            "auto",
            "Write a Python function that reverses a linked list.",
        ),
        &c,
        &ctx_at(3),
    );
    assert_eq!(p.task.task.as_deref(), Some("code"));
    assert_eq!(p.task.source, crate::task::TaskSource::Classifier);
    assert_eq!(names(&p), ["mid", "dear"]);
    // A concrete model with no floor is not classified.
    let p = plan(&e, ask("cheap", "Write code"), &task_none(), &ctx_at(3));
    assert_eq!(p.task.source, crate::task::TaskSource::NotNeeded);
    assert_eq!(p.reason, "cheap: direct");
}

fn task_none() -> Controls {
    Controls {
        allow_fallbacks: true,
        ..Controls::default()
    }
}

#[test]
fn a_latency_budget_excludes_a_slow_model_only_after_samples() {
    let e = engine();
    let mut c = task("chat");
    c.latency_budget = Some(Duration::from_millis(500));
    let ctx = ctx_at(3);
    let cheap = &e.models[e.model_index["cheap"]];
    // Two slow samples are not yet evidence.
    for _ in 0..2 {
        cheap
            .latency
            .record_at(Series::Complete, Duration::from_millis(900), ctx.now);
    }
    assert_eq!(plan(&e, ask("auto", "hi"), &c, &ctx).pick, "cheap");
    cheap
        .latency
        .record_at(Series::Complete, Duration::from_millis(900), ctx.now);
    let p = plan(&e, ask("auto", "hi"), &c, &ctx);
    assert_eq!(names(&p), ["mid", "dear"]);
    let x = excluded(&p, "cheap");
    assert_eq!(x.code, "too_slow");
    assert!(
        x.reason
            .contains("p95 answer 900 ms over 3 samples > budget 500 ms"),
        "{}",
        x.reason
    );
    // A streamed request waits for the first token, which was never measured: no evidence.
    let mut body = ask("auto", "hi");
    body["stream"] = json!(true);
    assert_eq!(plan(&e, body, &c, &ctx).pick, "cheap");
    // Five minutes later the samples have decayed out of the window.
    let later = RouteCtx {
        now: ctx.now + crate::latency::WINDOW,
        ..ctx
    };
    assert_eq!(plan(&e, ask("auto", "hi"), &c, &later).pick, "cheap");
}

#[test]
fn latency_strategy_ranks_by_p95_and_gives_unmeasured_models_a_neutral_prior() {
    let e = engine();
    let ctx = ctx_at(3);
    let rec = |name: &str, ms: u64| {
        for _ in 0..5 {
            e.models[e.model_index[name]].latency.record_at(
                Series::FirstToken,
                Duration::from_millis(ms),
                ctx.now,
            );
        }
    };
    // Nothing measured: configured order.
    assert_eq!(
        names(&plan(&e, ask("fast", "hi"), &task("chat"), &ctx)),
        ["cheap", "mid", "dear"]
    );
    rec("cheap", 300);
    rec("dear", 80);
    // mid is unmeasured: ranked at the median of the measured (300 -> ties cheap, wins the tie
    // on fewer samples, so it gets measured).
    let p = plan(&e, ask("fast", "hi"), &task("chat"), &ctx);
    assert_eq!(names(&p), ["dear", "mid", "cheap"]);
    assert_eq!(
        p.ranked[0].latency_p95_ms, None,
        "a JSON request shows the complete series"
    );
    rec("mid", 40);
    assert_eq!(
        names(&plan(&e, ask("fast", "hi"), &task("chat"), &ctx)),
        ["mid", "dear", "cheap"]
    );
    // OpenRouter `provider.sort: latency` applies the same order to a cheapest route.
    let mut c = task("chat");
    c.sort = Some("latency".into());
    let p = plan(&e, ask("auto", "hi"), &c, &ctx);
    assert_eq!(names(&p), ["mid", "dear", "cheap"]);
    assert!(p.reason.contains("sort=latency"), "{}", p.reason);
}

#[test]
fn weighted_draws_follow_the_weights_and_a_seed_repeats() {
    let e = engine();
    let c = task("chat");
    let first = |seed: u64| {
        let ctx = RouteCtx {
            seed: Some(seed),
            ..ctx_at(3)
        };
        plan(&e, ask("spread", "hi"), &c, &ctx)
    };
    assert_eq!(names(&first(42)), names(&first(42)));
    let mut cheap = 0;
    for seed in 0..2000 {
        let p = first(seed);
        // Weight 0 always goes last.
        assert_eq!(p.candidate_names[2], "dear");
        if p.pick == "cheap" {
            cheap += 1;
        }
    }
    // Weights 3:1 -> 75% first picks on cheap; 2000 draws keep it within a few points.
    assert!((1400..1600).contains(&cheap), "{cheap}");
}

#[test]
fn openrouter_models_order_fallbacks_and_max_price() {
    let e = engine();
    let ctx = ctx_at(3);
    // `models`: fallbacks after the primary, deduplicated.
    let mut body = ask("dear", "hi");
    body["models"] = json!(["mid", "dear", "auto"]);
    assert_eq!(
        names(&plan(&e, body, &task_none(), &ctx)),
        ["dear", "mid", "cheap"]
    );
    // provider.order puts p2's models first.
    let mut c = task("chat");
    c.provider_order = vec!["p2".into()];
    assert_eq!(
        names(&plan(&e, ask("auto", "hi"), &c, &ctx)),
        ["mid", "cheap", "dear"]
    );
    // allow_fallbacks false keeps the first only and says why the rest left.
    c.allow_fallbacks = false;
    let p = plan(&e, ask("auto", "hi"), &c, &ctx);
    assert_eq!(names(&p), ["mid"]);
    assert_eq!(excluded(&p, "cheap").code, "fallbacks_disallowed");
    // max_price (USD per 1M tokens): completion at most $3 leaves out dear ($30).
    let mut c = task("chat");
    c.max_price_completion = Some("3".parse().unwrap());
    let p = plan(&e, ask("auto", "hi"), &c, &ctx);
    assert_eq!(names(&p), ["cheap"]);
    assert_eq!(excluded(&p, "dear").code, "over_max_price");
    assert!(
        excluded(&p, "mid")
            .reason
            .contains("completion $4 per 1M tokens > $3")
    );
    // sort=price turns an ordered route cheapest-first.
    let mut c = task("chat");
    c.sort = Some("price".into());
    let mut body = ask("dear", "hi");
    body["models"] = json!(["mid", "cheap"]);
    // Fallbacks stay after the primary even when sorted.
    assert_eq!(names(&plan(&e, body, &c, &ctx)), ["dear", "cheap", "mid"]);
}

#[test]
fn cascade_routes_run_as_ordered_tiers_until_the_cascade_takes_them() {
    let e = engine();
    let p = plan(&e, ask("ladder", "hi"), &task("chat"), &ctx_at(15));
    assert!(p.is_cascade());
    assert_eq!(names(&p), ["cheap", "dear"]);
}

#[test]
fn the_plan_serialises_every_part_of_the_decision() {
    let e = engine();
    let mut c = task("code");
    c.min_quality = Some(0.75);
    let p = plan(&e, ask("auto", "x"), &c, &ctx_at(3));
    let v = serde_json::to_value(&p).unwrap();
    assert_eq!(v["route"], "auto");
    assert_eq!(v["strategy"], "cheapest");
    assert_eq!(v["pick"], "mid");
    assert_eq!(v["task"], json!({"task": "code", "source": "request"}));
    assert_eq!(v["candidates"][0]["model"], "mid");
    assert_eq!(v["candidates"][0]["estimated_cost"], "0.000410");
    assert_eq!(v["excluded"][0]["code"], "quality_below_minimum");
    assert_eq!(v["excluded"][0]["estimated_cost"], "0.000205");
    assert_eq!(v["baseline_model"], "dear");
    assert_eq!(v["limits"]["min_quality"], 0.75);
    assert_eq!(v["prompt_tokens"], 5);
    assert_eq!(v["output_tokens_assumed"], false);
}

#[test]
fn unknown_names_are_404_and_embedding_models_are_not_chat() {
    let e = engine();
    let err = e
        .plan_with(&req(ask("nope", "hi")), &task_none(), &ctx_at(3))
        .unwrap_err();
    assert_eq!(err.status, 404);
    let mut body = ask("cheap", "hi");
    body["models"] = json!(["nope"]);
    let err = e
        .plan_with(&req(body), &task_none(), &ctx_at(3))
        .unwrap_err();
    assert_eq!(err.param.as_deref(), Some("models"));
}

/// `[pricing] token_count = "exact"`: an OpenAI model's prompt is counted in its own
/// encoding; other families keep the estimate. Dense text (here CJK) runs far above chars/4,
/// so the same 100-token window excludes the exactly counted model and not the estimated one.
#[test]
fn exact_token_counts_apply_to_their_family_only() {
    let cfg = crate::config::load_str(
        r#"
[providers.p]
kind = "openai-compatible"
base_url = "http://127.0.0.1:9/v1"
keys = ["plain:k"]

[models.gpt]
provider = "p"
upstream = "gpt-4o-mini"
price_id = "t/a"

[models.other]
provider = "p"
upstream = "some-llama"
price_id = "t/b"

[routes.r]
strategy = "cheapest"
candidates = ["gpt", "other"]

[pricing]
token_count = "exact"

[pricing.overrides."t/a"]
input = "1"
output = "1"
context_window = 100

[pricing.overrides."t/b"]
input = "2"
output = "2"
context_window = 100
"#,
    )
    .unwrap();
    let e = Engine::build(cfg, Shared::new(), Arc::new(NullSink)).unwrap();
    let bpe = crate::tokens::Encoding::O200kBase.load().unwrap();
    let text = "今天天气很好，我们一起去公园散步吧。".repeat(8);
    let body =
        json!({"model": "r", "max_tokens": 10, "messages": [{"role": "user", "content": text}]});
    let exact = crate::tokens::count_chat(bpe, &req(body.clone()));
    let p = plan(&e, body, &task("chat"), &ctx_at(3));
    assert_eq!(p.prompt_tokens_exact.get("o200k_base"), Some(&exact));
    assert!(
        exact + 10 > 100 && p.prompt_tokens + 10 <= 100,
        "{exact} vs {}",
        p.prompt_tokens
    );
    assert_eq!(names(&p), ["other"]);
    let x = excluded(&p, "gpt");
    assert_eq!(x.code, "context_too_small");
    assert!(
        x.reason.contains(&format!("needs ~{}", exact + 10)),
        "{}",
        x.reason
    );
    // The default counts every family with the estimate: both fit.
    assert!(engine().models.iter().all(|m| m.encoding.is_none()));
}

/// Every request's future is copied whole into the handler's box (a memcpy per request that
/// callgrind showed as 13% of a cache hit when this was 20 KB): paths only some requests take
/// (the uncached pipeline for cache hits, cascades, Redis) are boxed where they start, and this
/// keeps them so. Sizes are of the test (debug) build: 4.2 KB and 11.3 KB when written.
#[test]
fn request_futures_stay_small() {
    let e = Arc::new(engine());
    let r = req(json!({"model": "t/cheap", "messages": [{"role": "user", "content": "hi"}]}));
    let rctx = crate::pipeline::RequestCtx {
        request_id: "x".into(),
        tenant: "t".into(),
        started: Instant::now(),
        ts_ms: 0,
        controls: Controls::default(),
    };
    let cached = std::mem::size_of_val(&e.chat(r.clone(), rctx.clone()));
    let uncached = std::mem::size_of_val(&e.chat_uncached(r, rctx, "x"));
    assert!(
        cached <= 6 * 1024,
        "the cached path's future is {cached} bytes"
    );
    assert!(
        uncached <= 16 * 1024,
        "the uncached pipeline's future is {uncached} bytes"
    );
}
