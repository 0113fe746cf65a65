//! `switchyard eval --every` output reaches a running gateway without a restart: the config
//! includes eval's `quality.toml` and `gates.toml`; rewriting them (atomically, as eval does)
//! changes the routing decision and the cascade threshold; a broken file keeps the running
//! config.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a failed unwrap is a failed test"
)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use switchyard_sim::SimConfig;
use switchyard_testkit::{StartOptions, TestEnv};

const CONFIG: &str = r#"
include = [
  "eval-out/quality.toml",
  { file = "eval-out/gates.toml", at = "routes.smart" },
]

[server]
watch_includes = "100ms"

[providers.openai]
kind = "openai"
base_url = "http://127.0.0.1:4001/v1"
keys = ["plain:k"]

[models."openai/gpt-4o-mini"]
provider = "openai"
[models."openai/gpt-4o"]
provider = "openai"

[routes.auto]
strategy = "cheapest"
candidates = ["openai/gpt-4o-mini", "openai/gpt-4o"]
min_quality = 0.8

[routes.smart]
strategy = "cascade"
tiers = ["openai/gpt-4o-mini", "openai/gpt-4o"]
[routes.smart.gates]
min_confidence = 0.99
confidence_quantile = 0.0
"#;

/// What `switchyard eval` writes (`calibrate::quality_toml`), for two figures.
fn quality(mini: f64, big: f64) -> String {
    format!(
        "# Written by `switchyard eval`\n\n[models.\"openai/gpt-4o-mini\".quality]\ncode = {mini}\n\n[models.\"openai/gpt-4o\".quality]\ncode = {big}\n"
    )
}

/// Eval's own way: a temporary file renamed over the old one.
fn write_atomic(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn temp_dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("sy-eval-reload-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(d.join("eval-out")).unwrap();
    d
}

async fn pick(env: &TestEnv) -> Value {
    let body = json!({"model": "auto", "messages": [{"role": "user", "content": "Reverse a linked list"}]});
    let plan = env.explain(&body, &[("x-switchyard-task", "code")]).await;
    plan["pick"].clone()
}

/// Poll the explain endpoint until it picks `want` (the watcher checks every 100 ms).
async fn wait_for_pick(env: &TestEnv, want: &str) {
    let start = Instant::now();
    loop {
        let p = pick(env).await;
        if p == want {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "still picks {p} after 5 s, want {want}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The model that served the cascade route `smart`, and the attempts header.
async fn smart(env: &TestEnv) -> (String, String) {
    let r = env
        .chat(&json!({"model": "smart", "messages": [{"role": "user", "content": "Name the signal colours used on railway tracks"}]}))
        .await;
    assert_eq!(r.status(), 200);
    let h = |k: &str| r.headers()[k].to_str().unwrap().to_owned();
    (h("x-switchyard-model"), h("x-switchyard-attempts"))
}

#[tokio::test]
async fn eval_output_swaps_in_without_a_restart() {
    let dir = temp_dir();
    let out = dir.join("eval-out");
    write_atomic(&out.join("quality.toml"), &quality(0.9, 0.95));
    // gates.toml does not exist yet: the config loads without it.
    let opts = StartOptions {
        config_dir: Some(dir.clone()),
        ..StartOptions::default()
    };
    let env = TestEnv::start_with(SimConfig::default_models(), CONFIG, opts).await;
    assert_eq!(pick(&env).await, "openai/gpt-4o-mini");
    let (m, a) = smart(&env).await;
    assert_eq!(
        m, "openai/gpt-4o",
        "the inline threshold 0.99 escalates: {a}"
    );
    assert!(
        a.starts_with("openai/gpt-4o-mini:rejected:confidence"),
        "{a}"
    );

    // A new evaluation: the cheap model misses the minimum on code, and the calibrated
    // threshold for it is low enough to accept its answers.
    write_atomic(&out.join("quality.toml"), &quality(0.5, 0.95));
    write_atomic(
        &out.join("gates.toml"),
        "[gates.min_confidence_by_tier]\n\"openai/gpt-4o-mini\" = 0.0000\n",
    );
    wait_for_pick(&env, "openai/gpt-4o").await;
    let start = Instant::now();
    loop {
        let (m, a) = smart(&env).await;
        if m == "openai/gpt-4o-mini" {
            assert_eq!(a, "openai/gpt-4o-mini:ok");
            break;
        }
        // The two files may land in two reloads; the second follows within one period.
        assert!(start.elapsed() < Duration::from_secs(5), "{m}: {a}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A broken file is rejected: the running engine stays, several watch periods later.
    let before = env.state.engine.load_full();
    write_atomic(
        &out.join("quality.toml"),
        "[models.\"openai/gpt-4o-mini\"\n",
    );
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(Arc::ptr_eq(&before, &env.state.engine.load_full()));
    assert_eq!(pick(&env).await, "openai/gpt-4o");

    // Fixed again: picked up like any other change.
    write_atomic(&out.join("quality.toml"), &quality(0.85, 0.95));
    wait_for_pick(&env, "openai/gpt-4o-mini").await;
    let _ = std::fs::remove_dir_all(&dir);
}
