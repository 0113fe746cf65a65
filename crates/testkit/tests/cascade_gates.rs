//! Cascade routes end to end (client -> gateway -> simulator): acceptance, escalation on each
//! gate, streaming hold-and-release, billing of every attempt, a tier without logprobs.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a failed unwrap is a failed test"
)]

use std::sync::Arc;

use serde_json::{Value, json};
use switchyard_core::{Escalation, RequestRecord};
use switchyard_engine::RecordSink;
use switchyard_observe::Metrics;
use switchyard_sim::{ModelConfig, SimConfig, Wire};
use switchyard_testkit::{StartOptions, TestEnv, sse_data};

fn model(name: &str, wire: Wire, answer: Option<&str>) -> ModelConfig {
    ModelConfig {
        name: name.to_owned(),
        wire,
        flavor: None,
        ttft_ms: 0,
        tokens_per_s: 0.0,
        logprobs: wire != Wire::Anthropic,
        output_tokens: 16,
        answer: answer.map(str::to_owned),
        quality: 0.5,
        embedding_dims: None,
        context_window: Some(128_000),
        cached_prompt_tokens: 0,
        keys: None,
        faults: Vec::new(),
    }
}

fn sim() -> SimConfig {
    SimConfig {
        seed: 0,
        models: vec![
            model("gpt-4o-mini", Wire::Openai, None),
            model("gpt-4o", Wire::Openai, None),
            model(
                "refuser",
                Wire::Openai,
                Some("I'm sorry, but I can't help with that."),
            ),
            model("judge-low", Wire::Openai, Some("3")),
            model("judge-high", Wire::Openai, Some("9")),
            model("claude-3-5-haiku", Wire::Anthropic, None),
        ],
        replay: None,
    }
}

const CONFIG: &str = r#"
[providers.openai]
kind = "openai"
base_url = "http://127.0.0.1:4001/v1"
keys = ["plain:k"]

[providers.anthropic]
kind = "anthropic"
base_url = "http://127.0.0.1:4001"
keys = ["plain:k"]

[models."openai/gpt-4o-mini"]
provider = "openai"
[models."openai/gpt-4o"]
provider = "openai"
[models."openai/refuser"]
provider = "openai"
price_id = "openai/gpt-4o-mini"
[models."openai/judge-low"]
provider = "openai"
price_id = "openai/gpt-4o-mini"
[models."openai/judge-high"]
provider = "openai"
price_id = "openai/gpt-4o-mini"
[models."anthropic/claude-3-5-haiku"]
provider = "anthropic"

[routes.lenient]
strategy = "cascade"
tiers = ["openai/gpt-4o-mini", "openai/gpt-4o"]
[routes.lenient.gates]
min_confidence = 0.0

[routes.unsure]
strategy = "cascade"
tiers = ["openai/gpt-4o-mini", "openai/gpt-4o"]
[routes.unsure.gates]
min_confidence = 0.99
confidence_quantile = 0.0

[routes.refusal]
strategy = "cascade"
tiers = ["openai/refuser", "openai/gpt-4o"]

[routes.length]
strategy = "cascade"
tiers = ["openai/gpt-4o-mini", "openai/gpt-4o"]

[routes.json]
strategy = "cascade"
tiers = ["openai/gpt-4o-mini", "openai/gpt-4o"]
[routes.json.gates]
length = false

[routes.regex]
strategy = "cascade"
tiers = ["openai/gpt-4o-mini", "openai/gpt-4o"]
[routes.regex.gates]
regex = "^FINAL:"

[routes.judged]
strategy = "cascade"
tiers = ["openai/gpt-4o-mini", "openai/gpt-4o"]
[routes.judged.gates.judge]
model = "openai/judge-low"
min_score = 7

[routes.judged-ok]
strategy = "cascade"
tiers = ["openai/gpt-4o-mini", "openai/gpt-4o"]
[routes.judged-ok.gates.judge]
model = "openai/judge-high"

[routes.nolp]
strategy = "cascade"
tiers = ["anthropic/claude-3-5-haiku", "openai/gpt-4o"]
[routes.nolp.gates]
min_confidence = 0.99
confidence_quantile = 0.0

[routes.three]
strategy = "cascade"
tiers = ["openai/refuser", "openai/gpt-4o-mini", "openai/gpt-4o"]
[routes.three.gates]
min_confidence = 0.99
"#;

fn ask(route: &str) -> Value {
    json!({"model": route, "messages": [{"role": "user", "content": "Name the signal colours used on railway tracks"}]})
}

async fn env() -> TestEnv {
    TestEnv::start(sim(), CONFIG).await
}

/// The served model, the attempts header and the JSON body of one request.
async fn call(env: &TestEnv, body: &Value) -> (String, String, String, Value) {
    let r = env.chat(body).await;
    if r.status() != 200 {
        panic!("{}: {}", r.status(), r.text().await.unwrap());
    }
    let h = r.headers().clone();
    let s = |k: &str| {
        h.get(k)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    let (m, a, route) = (
        s("x-switchyard-model"),
        s("x-switchyard-attempts"),
        s("x-switchyard-route"),
    );
    (m, a, route, r.json().await.unwrap())
}

fn attempt_costs(body: &Value) -> Vec<f64> {
    body["usage"]["cost_details"]["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["cost"].as_f64().unwrap())
        .collect()
}

#[tokio::test]
async fn cheap_tier_is_accepted_when_every_gate_passes() {
    let env = env().await;
    let (m, attempts, route, body) = call(&env, &ask("lenient")).await;
    assert_eq!(m, "openai/gpt-4o-mini");
    assert_eq!(attempts, "openai/gpt-4o-mini:ok");
    assert!(route.contains("cascade openai/gpt-4o-mini(ok"), "{route}");
    assert!(
        body["choices"][0]["logprobs"].is_null(),
        "logprobs the gateway asked for stay internal"
    );
    let rec = env.records.all().pop().unwrap();
    assert_eq!(rec.escalations, 0);
}

#[tokio::test]
async fn low_confidence_escalates_and_every_attempt_is_billed() {
    let env = env().await;
    let (m, attempts, route, body) = call(&env, &ask("unsure")).await;
    assert_eq!(m, "openai/gpt-4o");
    assert_eq!(
        attempts,
        "openai/gpt-4o-mini:rejected:confidence,openai/gpt-4o:ok"
    );
    assert!(route.contains("rejected:confidence"), "{route}");
    let costs = attempt_costs(&body);
    assert_eq!(costs.len(), 2);
    assert!(
        costs.iter().all(|c| *c > 0.0),
        "both tiers cost money: {costs:?}"
    );
    let total = body["usage"]["cost"].as_f64().unwrap();
    assert!(
        (total - costs.iter().sum::<f64>()).abs() < 1e-12,
        "{total} vs {costs:?}"
    );
    let rec = env.records.all().pop().unwrap();
    assert_eq!(rec.escalations, 1);
    assert_eq!(rec.attempts.len(), 2);
    assert!((rec.cost.unwrap().to_f64() - total).abs() < 1e-12);
}

#[tokio::test]
async fn each_local_gate_escalates() {
    let env = env().await;
    let (m, a, _, _) = call(&env, &ask("refusal")).await;
    assert_eq!(
        (m.as_str(), a.as_str()),
        (
            "openai/gpt-4o",
            "openai/refuser:rejected:refusal,openai/gpt-4o:ok"
        )
    );

    let mut short = ask("length");
    short["max_tokens"] = json!(3);
    let (m, a, _, body) = call(&env, &short).await;
    assert_eq!(m, "openai/gpt-4o", "{a}");
    assert!(a.starts_with("openai/gpt-4o-mini:rejected:length"), "{a}");
    assert_eq!(
        body["choices"][0]["finish_reason"], "length",
        "the last tier is accepted as is"
    );

    // A truncated JSON answer: invalid JSON (the length gate is off on this route).
    let mut js = ask("json");
    js["messages"][0]["content"] = json!("Answer in json: name the signal colours");
    js["response_format"] = json!({"type": "json_object"});
    js["max_tokens"] = json!(4);
    let (m, a, _, _) = call(&env, &js).await;
    assert_eq!(m, "openai/gpt-4o");
    assert!(a.starts_with("openai/gpt-4o-mini:rejected:json"), "{a}");
    // Complete JSON passes.
    js["max_tokens"] = json!(200);
    let (m, _, _, _) = call(&env, &js).await;
    assert_eq!(m, "openai/gpt-4o-mini");
    // A schema answer that is cut short does not conform.
    let mut sc = ask("json");
    sc["messages"][0]["content"] = json!("Answer in json: name the signal colours");
    sc["response_format"] = json!({"type": "json_schema", "json_schema": {"name": "c", "schema": {"type": "object", "required": ["colour"], "properties": {"colour": {"type": "string"}}}}});
    let (m, _, _, body) = call(&env, &sc).await;
    assert_eq!(m, "openai/gpt-4o-mini", "{body}");
    sc["max_tokens"] = json!(2);
    let (m, a, _, _) = call(&env, &sc).await;
    assert_eq!(m, "openai/gpt-4o");
    assert!(a.starts_with("openai/gpt-4o-mini:rejected:json"), "{a}");

    let (m, a, _, _) = call(&env, &ask("regex")).await;
    assert_eq!(m, "openai/gpt-4o");
    assert!(a.starts_with("openai/gpt-4o-mini:rejected:regex"), "{a}");
}

#[tokio::test]
async fn judge_called_through_switchyard_decides_and_is_billed() {
    let env = env().await;
    let (m, a, route, body) = call(&env, &ask("judged")).await;
    assert_eq!(m, "openai/gpt-4o");
    assert_eq!(
        a,
        "openai/judge-low:judge:3,openai/gpt-4o-mini:rejected:judge,openai/gpt-4o:ok"
    );
    assert!(route.contains("rejected:judge 3 < 7"), "{route}");
    assert_eq!(attempt_costs(&body).len(), 3);
    assert!(attempt_costs(&body).iter().all(|c| *c > 0.0));

    let (m, a, _, _) = call(&env, &ask("judged-ok")).await;
    assert_eq!(m, "openai/gpt-4o-mini");
    assert_eq!(a, "openai/judge-high:judge:9,openai/gpt-4o-mini:ok");
    let stats = env.sim_stats().await;
    assert_eq!(stats["models"]["judge-low"]["requests"], 1);
    assert_eq!(stats["models"]["judge-high"]["requests"], 1);
}

#[tokio::test]
async fn tier_without_logprobs_falls_back_to_other_gates_and_says_so_at_load() {
    let env = env().await;
    let engine = env.state.engine.load();
    let w = &engine.routes["nolp"].cascade.as_ref().unwrap().warnings;
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].contains("anthropic/claude-3-5-haiku") && w[0].contains("no logprobs"),
        "{w:?}"
    );
    assert!(
        engine.routes["unsure"]
            .cascade
            .as_ref()
            .unwrap()
            .warnings
            .is_empty()
    );
    // The impossible confidence threshold cannot apply: the other gates pass, so it is accepted.
    let (m, a, _, _) = call(&env, &ask("nolp")).await;
    assert_eq!(m, "anthropic/claude-3-5-haiku");
    assert_eq!(a, "anthropic/claude-3-5-haiku:ok");
}

#[tokio::test]
async fn streaming_holds_rejected_tiers_and_releases_the_accepted_one() {
    let env = env().await;
    for (route, served, escalations) in [
        ("lenient", "openai/gpt-4o-mini", 0),
        ("unsure", "openai/gpt-4o", 1),
        ("three", "openai/gpt-4o", 2),
    ] {
        let mut body = ask(route);
        body["stream"] = json!(true);
        body["stream_options"] = json!({"include_usage": true});
        let r = env.chat(&body).await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["x-switchyard-model"], served);
        let text = r.text().await.unwrap();
        let events = sse_data(&text);
        // Only the accepted tier's chunks reach the client.
        for e in &events {
            if let Some(m) = e["model"].as_str() {
                assert_eq!(m, served, "{route}: a held tier leaked: {e}");
            }
            if let Some(ch) = e["choices"].as_array() {
                assert!(ch.iter().all(|c| c["logprobs"].is_null()), "{route}");
            }
        }
        let content: String = events
            .iter()
            .filter_map(|e| e["choices"][0]["delta"]["content"].as_str())
            .collect();
        assert!(
            content.starts_with(&format!("[{}]", served.trim_start_matches("openai/"))),
            "{route}: {content}"
        );
        let usage = events
            .iter()
            .rev()
            .find(|e| e["usage"].is_object())
            .unwrap();
        let costs = attempt_costs(usage);
        assert_eq!(costs.len(), escalations + 1, "{route}");
        assert!(costs.iter().all(|c| *c > 0.0), "{route}: {costs:?}");
        let total = usage["usage"]["cost"].as_f64().unwrap();
        assert!((total - costs.iter().sum::<f64>()).abs() < 1e-12);
        let rid = events[0]["id"].as_str().map(str::to_owned);
        let _ = rid;
        let rec = env.records.all().pop().unwrap();
        assert_eq!(rec.escalations as usize, escalations, "{route}");
        assert_eq!(rec.status, 200);
    }
}

/// Feeds every record to the gateway's metrics, as the binary's wiring does.
struct MetricsSink(Arc<Metrics>);

impl RecordSink for MetricsSink {
    fn record(&self, rec: RequestRecord) {
        self.0.observe(&rec);
    }
}

/// The value of `switchyard_escalations_total` for these labels, None when the series is absent.
fn escalations(text: &str, route: &str, tier: &str, gate: &str) -> Option<u64> {
    let want = [
        format!("route=\"{route}\""),
        format!("tier=\"{tier}\""),
        format!("gate=\"{gate}\""),
    ];
    text.lines()
        .filter(|l| l.starts_with("switchyard_escalations_total{"))
        .find(|l| want.iter().all(|w| l.contains(w.as_str())))
        .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
}

#[tokio::test]
async fn metrics_count_escalations_per_route_tier_and_gate() {
    let metrics = Arc::new(Metrics::new());
    let render = metrics.clone();
    let opts = StartOptions {
        extra: Some(Arc::new(MetricsSink(metrics.clone()))),
        metrics: Some(Arc::new(move || render.render())),
        ..StartOptions::default()
    };
    let env = TestEnv::start_with(sim(), CONFIG, opts).await;
    for route in ["three", "three", "unsure", "lenient"] {
        call(&env, &ask(route)).await;
    }
    let recs = env.records.all();
    let esc = |tier: &str, gate: &str| Escalation {
        tier: tier.into(),
        gate: gate.into(),
    };
    assert_eq!(
        recs[0].escalated,
        [
            esc("openai/refuser", "refusal"),
            esc("openai/gpt-4o-mini", "confidence")
        ]
    );
    assert_eq!(recs[0].escalations, 2);

    let r = env.client().get(env.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    let count = |route, tier, gate| escalations(&text, route, tier, gate);
    assert_eq!(
        count("three", "openai/refuser", "refusal"),
        Some(2),
        "{text}"
    );
    assert_eq!(count("three", "openai/gpt-4o-mini", "confidence"), Some(2));
    assert_eq!(count("unsure", "openai/gpt-4o-mini", "confidence"), Some(1));
    // The strongest tier is never escalated from, and an accepted route adds nothing.
    assert_eq!(count("three", "openai/gpt-4o", "confidence"), None);
    assert!(!text.contains("switchyard_escalations_total{route=\"lenient\""));
}
