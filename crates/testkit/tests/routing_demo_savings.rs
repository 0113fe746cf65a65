#![expect(clippy::unwrap_used, reason = "test helpers outside #[test] functions")]
//! The demo comparison: a mixed workload through the demo config's `auto` route (cheapest
//! model whose quality for the classified task clears 0.75) against the same requests sent
//! to the most capable model of the config (anthropic/claude-sonnet-4-5, best on average in
//! the quality tables), both billed from the simulator's usage.
//!
//! `cargo nextest run -p switchyard-testkit --test routing_demo_savings --no-capture` prints
//! both totals.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde_json::{Value, json};
use switchyard_testkit::TestEnv;

const CAPABLE: &str = "anthropic/claude-sonnet-4-5";

const WORKLOAD: &[&str] = &[
    "Write a Python function that reverses a linked list.",
    "Fix the bug in this Rust code: fn add(a: i32, b: i32) -> i32 { a - b }",
    "Write a SQL query that returns the ten customers with the highest total order value.",
    "Implement binary search in TypeScript with tests.",
    "Translate to French: the weather is lovely today.",
    "Translate into German: where is the nearest train station?",
    "Translate to Spanish: our meeting moved to Thursday afternoon.",
    "A train leaves at 3pm at 60 km/h; another at 4pm at 90 km/h. When does the second catch up?",
    "If all bloops are razzies and all razzies are lazzies, are all bloops lazzies? Explain.",
    "What is 17 * 23 + 4? Show your steps.",
    "Summarize: Switchyard routes each request to the cheapest model that is good enough, fails over when a provider is down, caches repeated prompts and accounts every cent.",
    "Summarize this paragraph in one sentence: the quarterly report shows revenue up 12 percent, costs flat, and a new office opening in Lisbon next spring.",
    "Extract the date from: the invoice was paid on 3 March 2025.",
    "Extract every email address from: contact ana@example.com or ops@example.org for access.",
    "Say hello to the new team.",
    "How are you doing today?",
    "Write a short poem about the sea at night.",
];

async fn run(env: &TestEnv, model: &str, text: &str) -> (String, Decimal) {
    let body = json!({"model": model, "messages": [{"role": "user", "content": text}]});
    let r = env.chat(&body).await;
    assert_eq!(r.status(), 200, "{model}: {text}");
    let served = r.headers()["x-switchyard-model"]
        .to_str()
        .unwrap()
        .to_owned();
    let cost: Decimal = r.headers()["x-switchyard-cost"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let _: Value = r.json().await.unwrap();
    (served, cost)
}

#[tokio::test]
async fn auto_costs_less_than_the_most_capable_model_and_clears_every_floor() {
    let env = TestEnv::demo().await;
    let engine = env.state.engine.load_full();
    let (mut auto_total, mut capable_total) = (Decimal::ZERO, Decimal::ZERO);
    let mut picks: BTreeMap<String, usize> = BTreeMap::new();
    for text in WORKLOAD {
        // The decision as the gateway makes it (same classifier, same floor).
        let plan = env
            .explain(
                &json!({"model": "auto", "messages": [{"role": "user", "content": text}]}),
                &[],
            )
            .await;
        let task = plan["task"]["task"].as_str().unwrap().to_owned();
        let (served, cost) = run(&env, "auto", text).await;
        let q = engine.model(&served).unwrap().quality.get(&task).copied();
        assert!(
            q.is_some_and(|q| q >= 0.75),
            "{text:?} ({task}) went to {served} with quality {q:?}"
        );
        auto_total += cost;
        *picks.entry(format!("{task} -> {served}")).or_default() += 1;
        let (_, cost) = run(&env, CAPABLE, text).await;
        capable_total += cost;
    }
    let saved = capable_total - auto_total;
    let pct = saved * Decimal::from(100) / capable_total;
    println!("demo workload: {} requests", WORKLOAD.len());
    for (k, n) in &picks {
        println!("  {n} x {k}");
    }
    println!("  auto (cheapest, task quality >= 0.75): ${auto_total}");
    println!("  all to {CAPABLE}:       ${capable_total}");
    println!("  saved: ${saved} ({}%)", pct.round_dp(1));
    assert!(auto_total < capable_total);
}
