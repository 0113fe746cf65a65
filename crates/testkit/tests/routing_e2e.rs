#![expect(clippy::unwrap_used, reason = "test helpers outside #[test] functions")]
//! Routing through the gateway and the simulator: the bill equals the price list applied to
//! the simulator's usage (computed here from the catalog's per-token rates, not by the
//! pricing code), a price rule shows in the bill, `x-switchyard-route` explains every answer,
//! `POST /v1/route/explain` returns the full decision, and a latency budget learns from live
//! samples.

use rust_decimal::Decimal;
use serde_json::{Value, json};
use switchyard_testkit::{DEMO_CONFIG, TestEnv};

/// The catalog's time windows, disabled so the list-price arithmetic below holds at any hour;
/// then two half-day windows that together double Google's prices around the clock, so a
/// rule is visible in every Google bill.
fn config() -> String {
    let catalog = switchyard_pricing::Catalog::bundled().unwrap();
    let windows: Vec<&str> = catalog
        .rules
        .iter()
        .filter(|r| matches!(r, switchyard_pricing::Rule::Window(_)))
        .map(|r| r.name())
        .collect();
    assert_eq!(
        windows,
        ["deepseek-chat-off-peak", "deepseek-reasoner-off-peak"],
        "a new catalog window: disable it here too"
    );
    format!(
        r#"{DEMO_CONFIG}
[pricing]
disable_rules = ["deepseek-chat-off-peak", "deepseek-reasoner-off-peak"]

[[pricing.rules]]
kind = "window"
name = "google-am"
models = ["google/*"]
start = "00:00"
end = "12:00"
multiplier = "2"

[[pricing.rules]]
kind = "window"
name = "google-pm"
models = ["google/*"]
start = "12:00"
end = "00:00"
multiplier = "2"
"#
    )
}

/// USD per 1M tokens as the catalog lists them, by class.
fn rate(book: &switchyard_pricing::PriceBook, id: &str, class: &str) -> Decimal {
    let p = &book.entry(id).unwrap().prices;
    let input = p.input.unwrap();
    match class {
        "input" => input,
        "cached" => p.cached_input.unwrap_or(input),
        _ => p.output.unwrap(),
    }
}

/// The bill recomputed from the response's usage and the list prices.
fn expected_cost(env: &TestEnv, model: &str, usage: &Value) -> Decimal {
    let engine = env.state.engine.load_full();
    let id = engine.model(model).unwrap().price_id.clone();
    let book = switchyard_pricing::PriceBook::bundled().unwrap();
    let n = |v: &Value| Decimal::from(v.as_u64().unwrap_or(0));
    let cached = n(&usage["prompt_tokens_details"]["cached_tokens"]);
    let prompt = n(&usage["prompt_tokens"]);
    let out = n(&usage["completion_tokens"]);
    let per_m = (prompt - cached) * rate(&book, &id, "input")
        + cached * rate(&book, &id, "cached")
        + out * rate(&book, &id, "output");
    let mult = if id.starts_with("google/") {
        Decimal::from(2)
    } else {
        Decimal::ONE
    };
    per_m * mult / Decimal::from(1_000_000)
}

async fn ask(
    env: &TestEnv,
    body: &Value,
    task: Option<&str>,
) -> (reqwest::header::HeaderMap, Value) {
    let mut r = env
        .client()
        .post(env.url("/v1/chat/completions"))
        .json(body);
    if let Some(t) = task {
        r = r.header("x-switchyard-task", t);
    }
    let r = r.send().await.unwrap();
    assert_eq!(r.status(), 200);
    let h = r.headers().clone();
    (h, r.json().await.unwrap())
}

#[tokio::test]
async fn the_bill_is_the_price_list_applied_to_the_simulators_usage() {
    let env = TestEnv::start(switchyard_sim::SimConfig::default_models(), &config()).await;
    let prompts = [
        (
            "code",
            "Write a Python function that reverses a linked list.",
        ),
        (
            "translation",
            "Translate to French: the weather is lovely today.",
        ),
        (
            "reasoning",
            "A train leaves at 3pm at 60 km/h; another at 4pm at 90 km/h. When does the second catch up?",
        ),
        ("chat", "Say hello to the new team."),
    ];
    let mut served = Vec::new();
    for (task, text) in prompts {
        let body = json!({"model": "auto", "messages": [{"role": "user", "content": text}]});
        let (h, v) = ask(&env, &body, Some(task)).await;
        let model = h["x-switchyard-model"].to_str().unwrap().to_owned();
        let cost: Decimal = h["x-switchyard-cost"].to_str().unwrap().parse().unwrap();
        let want = expected_cost(&env, &model, &v["usage"]);
        assert_eq!(cost, want, "{task} on {model}");
        // usage.cost (a JSON number) agrees to the micro-dollar.
        let json_cost = Decimal::try_from(v["usage"]["cost"].as_f64().unwrap()).unwrap();
        assert_eq!(json_cost.round_dp(6), want.round_dp(6));
        // The baseline (configured: claude-sonnet-4-5) is priced on the same tokens.
        let base = expected_cost(&env, "anthropic/claude-sonnet-4-5", &v["usage"]);
        let details = &v["usage"]["cost_details"];
        let got_base = Decimal::try_from(details["baseline"].as_f64().unwrap()).unwrap();
        assert_eq!(got_base.round_dp(6), base.round_dp(6), "{task}");
        let route = h["x-switchyard-route"].to_str().unwrap();
        assert!(route.starts_with("auto: cheapest of"), "{route}");
        assert!(
            route.contains(&format!("task {task}")) && route.ends_with(&model),
            "{route}"
        );
        served.push(model);
    }
    // A concrete model is its own baseline: nothing saved.
    let body = json!({"model": "google/gemini-2.0-flash", "messages": [{"role": "user", "content": "hi"}]});
    let (h, v) = ask(&env, &body, None).await;
    assert_eq!(h["x-switchyard-route"], "google/gemini-2.0-flash: direct");
    let cost: Decimal = h["x-switchyard-cost"].to_str().unwrap().parse().unwrap();
    assert_eq!(
        cost,
        expected_cost(&env, "google/gemini-2.0-flash", &v["usage"])
    );
    assert_eq!(v["usage"]["cost_details"]["saved"].as_f64(), Some(0.0));
    assert!(!served.is_empty());
}

#[tokio::test]
async fn explain_returns_the_full_decision_without_calling_anyone() {
    let env = TestEnv::demo().await;
    let body = json!({"model": "auto", "max_tokens": 200, "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
        "messages": [{"role": "user", "content": "Write a Python function that reverses a linked list."}]});
    let plan = env
        .explain(&body, &[("x-switchyard-max-cost", "0.001")])
        .await;
    assert_eq!(plan["route"], "auto");
    assert_eq!(plan["task"]["source"], "classifier");
    assert_eq!(plan["task"]["task"], "code");
    let codes: Vec<&str> = plan["excluded"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["code"].as_str().unwrap())
        .collect();
    assert!(codes.contains(&"quality_below_minimum"), "{plan:#}");
    assert!(codes.contains(&"over_ceiling"), "{plan:#}");
    let cands = plan["candidates"].as_array().unwrap();
    assert_eq!(plan["pick"], cands[0]["model"]);
    // Cheapest first: estimates ascend.
    let est: Vec<Decimal> = cands
        .iter()
        .map(|c| c["estimated_cost"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(est.windows(2).all(|w| w[0] <= w[1]), "{est:?}");
    assert!(
        est.iter()
            .all(|e| *e <= "0.001".parse::<Decimal>().unwrap())
    );
    // Nothing was sent upstream.
    assert_eq!(env.sim_stats().await["total"], 0);
}

#[tokio::test]
async fn a_latency_budget_learns_from_live_samples() {
    // gpt-4o-mini is made slow (300 ms to the first token); a 200 ms budget tolerates it until
    // the window holds enough samples, then excludes it.
    let mut sim = switchyard_sim::SimConfig::default_models();
    for m in &mut sim.models {
        if m.name == "gpt-4o-mini" {
            m.ttft_ms = 300;
        }
    }
    let cfg = format!(
        "{DEMO_CONFIG}\n[routes.snappy]\nstrategy = \"ordered\"\ncandidates = [\"openai/gpt-4o-mini\", \"google/gemini-2.0-flash\"]\n"
    );
    let env = TestEnv::start(sim, &cfg).await;
    let body = json!({"model": "snappy", "messages": [{"role": "user", "content": "hi"}]});
    let budget = [("x-switchyard-latency-budget-ms", "200")];
    let plan = env.explain(&body, &budget).await;
    assert_eq!(
        plan["pick"], "openai/gpt-4o-mini",
        "no samples, no evidence"
    );
    for _ in 0..3 {
        let (h, _) = ask(&env, &body, None).await;
        assert_eq!(h["x-switchyard-model"], "openai/gpt-4o-mini");
    }
    let plan = env.explain(&body, &budget).await;
    assert_eq!(plan["pick"], "google/gemini-2.0-flash", "{plan:#}");
    assert_eq!(plan["excluded"][0]["code"], "too_slow");
}

/// A route whose task-table router (written as `switchyard eval` would) knows three models on
/// `code`: haiku clears the minimum and is cheaper than gpt-4o, but is below the straight line
/// between gpt-4o-mini and gpt-4o, so it is off the frontier and gpt-4o is the pick. The
/// explanation names the pick and every prediction, and a real request goes the same way.
#[tokio::test]
async fn explain_shows_the_prompt_routers_pick() {
    use switchyard_engine::prompt_router::{IndexHeader, PromptIndex};
    let dir = std::env::temp_dir().join(format!("swy-explain-router-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("index.bin");
    let (mini, haiku, gpt4o) = (
        "openai/gpt-4o-mini",
        "anthropic/claude-3-5-haiku",
        "openai/gpt-4o",
    );
    let header = IndexHeader {
        dim: 1,
        models: vec![mini.into(), haiku.into(), gpt4o.into()],
        model_cost: [
            (mini.into(), 0.0002),
            (haiku.into(), 0.002),
            (gpt4o.into(), 0.003),
        ]
        .into(),
        tasks: [(
            "code".to_owned(),
            [
                (mini.into(), 0.70),
                (haiku.into(), 0.75),
                (gpt4o.into(), 0.92),
            ]
            .into(),
        )]
        .into(),
        ..IndexHeader::default()
    };
    PromptIndex::new(header, vec![(vec![1.0], vec![0.7, 0.75, 0.92])])
        .write(&path)
        .unwrap();
    let cfg = format!(
        "{DEMO_CONFIG}\n[routes.perprompt]\ncandidates = [\"{mini}\", \"{haiku}\", \"{gpt4o}\"]\nmin_quality = 0.74\n[routes.perprompt.router]\nindex = \"{}\"\nmode = \"task\"\n",
        path.display()
    );
    let env = TestEnv::start(switchyard_sim::SimConfig::default_models(), &cfg).await;
    let body = json!({"model": "perprompt", "max_tokens": 50,
        "messages": [{"role": "user", "content": "Write a Python function that reverses a linked list."}]});
    let plan = env.explain(&body, &[("x-switchyard-task", "code")]).await;
    let pr = &plan["prompt_router"];
    assert_eq!(pr["mode"], "task", "{plan:#}");
    assert_eq!(pr["model"], gpt4o, "{plan:#}");
    assert_eq!(pr["task"], "code");
    assert_eq!(pr["predicted_quality"], 0.92);
    assert_eq!(pr["min_quality"], 0.74);
    assert_eq!(pr["cleared"], true);
    assert_eq!(plan["pick"], gpt4o);
    assert_eq!(plan["candidates"][0]["model"], gpt4o);
    let haiku_view = pr["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["model"] == haiku)
        .unwrap();
    assert_eq!(haiku_view["frontier"], false);
    assert_eq!(haiku_view["predicted_quality"], 0.75);
    // Nothing was sent upstream; then the request itself is served by the pick.
    assert_eq!(env.sim_stats().await["total"], 0);
    let r = env
        .client()
        .post(env.url("/v1/chat/completions"))
        .header("x-switchyard-task", "code")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-switchyard-model"], gpt4o);
    let _ = std::fs::remove_dir_all(&dir);
}
