//! `switchyard eval` end to end against the demo gateway and its simulator: every output is
//! written, in the form its reader expects.

use std::io::Write as _;

use switchyard_eval::{EvalArgs, run_eval};
use switchyard_testkit::TestEnv;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eval_writes_quality_table_index_and_gates() {
    let env = TestEnv::demo().await;
    let dir = tempfile::tempdir().unwrap();
    let suite = dir.path().join("suite.jsonl");
    let mut f = std::fs::File::create(&suite).unwrap();
    // The simulator answers `[model] words...`, so `contains` on the model tag scores 1 for
    // that model only: a known quality table.
    for (i, task) in ["code", "reasoning", "code", "chat"].iter().enumerate() {
        writeln!(f, r#"{{"id": "p{i}", "prompt": "Question number {i} about tracks", "task": "{task}", "reference": "[gpt-4o]", "scorer": "contains"}}"#).unwrap();
    }
    writeln!(
        f,
        r#"{{"prompt": "Give eight", "task": "reasoning", "reference": 8, "scorer": "numeric"}}"#
    )
    .unwrap();
    drop(f);
    let out = dir.path().join("out");
    let args = EvalArgs {
        suite,
        models: vec!["openai/gpt-4o-mini".into(), "openai/gpt-4o".into()],
        gateway: Some(env.base.clone()),
        config: None,
        api_key: None,
        out: out.clone(),
        concurrency: 4,
        target: 0.95,
        judge: None,
        every: None,
        progress: false,
    };
    run_eval(&args).await.unwrap();
    let q: toml::Value =
        toml::from_str(&std::fs::read_to_string(out.join("quality.toml")).unwrap()).unwrap();
    let strong = &q["models"]["openai/gpt-4o"]["quality"];
    let cheap = &q["models"]["openai/gpt-4o-mini"]["quality"];
    assert_eq!(strong["code"].as_float(), Some(1.0));
    assert_eq!(cheap["code"].as_float(), Some(0.0));
    assert_eq!(
        strong["reasoning"].as_float(),
        Some(0.5),
        "one contains hit, one numeric miss"
    );
    let idx = switchyard_engine::prompt_router::PromptIndex::read(&out.join("index.bin")).unwrap();
    assert_eq!(idx.header.n, 5);
    assert_eq!(idx.header.models, args.models);
    assert!(idx.header.model_cost["openai/gpt-4o"] > idx.header.model_cost["openai/gpt-4o-mini"]);
    let figs: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("models.json")).unwrap()).unwrap();
    assert_eq!(figs["openai/gpt-4o"]["n"], 5);
    let gates = std::fs::read_to_string(out.join("gates.toml")).unwrap();
    assert!(gates.contains("[gates.min_confidence_by_tier]"), "{gates}");
    assert!(gates.contains("openai/gpt-4o-mini"), "{gates}");
}
