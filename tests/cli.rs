//! The `switchyard` binary as a user runs it: `check`, `route`, `serve` with SIGHUP reload,
//! and `prices import`.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a failed unwrap is a failed test"
)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_switchyard");

fn write(dir: &std::path::Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn scratch(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("switchyard-cli-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn check_lists_every_error_with_its_path_and_exits_1() {
    let dir = scratch("check");
    let cfg = write(
        &dir,
        "bad.toml",
        r#"
[providers.oa]
kind = "openai"
keys = ["env:SWITCHYARD_CLI_TEST_UNSET"]
[models."openai/gpt-4o"]
provider = "oa"
colour = "blue"
[models.m2]
provider = "nope"
[routes.auto]
strategy = "cheapest"
candidates = ["openai/gpt-4o", "gtp-4o"]
"#,
    );
    let out = Command::new(BIN)
        .args(["check", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    for want in [
        "providers.oa.keys[0]: environment variable SWITCHYARD_CLI_TEST_UNSET is not set",
        "models.\"openai/gpt-4o\".colour: unknown field `colour`",
        "models.m2.provider: unknown provider \"nope\"",
        "routes.auto.candidates[1]: unknown model \"gtp-4o\"",
    ] {
        assert!(err.contains(want), "missing {want:?} in:\n{err}");
    }
    let demo = Command::new(BIN)
        .args(["check", "--config", "config/demo.toml"])
        .output()
        .unwrap();
    assert!(
        demo.status.success(),
        "{}",
        String::from_utf8_lossy(&demo.stderr)
    );
}

#[test]
fn route_prints_the_decision_without_calling_anyone() {
    let dir = scratch("route");
    let req = write(
        &dir,
        "req.json",
        r#"{"model": "fast", "messages": [{"role": "user", "content": "hi"}], "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]}"#,
    );
    let out = Command::new(BIN)
        .args(["route", "--config", "config/demo.toml"])
        .arg(&req)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["route"], "fast");
    assert!(
        plan["candidate_names"]
            .as_array()
            .is_some_and(|c| !c.is_empty()),
        "{plan}"
    );
}

struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(cfg: &std::path::Path) -> (Serve, String) {
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(cfg)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("switchyard listening on ")
        .unwrap_or_else(|| panic!("unexpected: {line}"))
        .to_owned();
    (Serve(child), url)
}

async fn model_ids(url: &str) -> Vec<String> {
    let v: serde_json::Value = reqwest::get(format!("{url}/v1/models"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn sighup_reloads_and_a_bad_reload_keeps_the_running_config() {
    let dir = scratch("reload");
    let base = std::fs::read_to_string("config/demo.toml").unwrap();
    let cfg = write(&dir, "switchyard.toml", &base);
    let (child, url) = serve(&cfg);
    let pid = child.0.id().to_string();
    assert!(!model_ids(&url).await.contains(&"newalias".to_owned()));

    // A broken file: the gateway keeps serving the old config.
    std::fs::write(
        &cfg,
        format!("{base}\n[aliases]\nbroken = \"no-such-model\"\n"),
    )
    .unwrap();
    assert!(
        Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap()
            .success()
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let ids = model_ids(&url).await;
    assert!(ids.contains(&"openai/gpt-4o".to_owned()) && !ids.contains(&"broken".to_owned()));

    // A good change takes effect without a restart.
    std::fs::write(
        &cfg,
        base.replace("[aliases]\n", "[aliases]\nnewalias = \"openai/gpt-4o\"\n"),
    )
    .unwrap();
    assert!(
        Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap()
            .success()
    );
    let mut found = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if model_ids(&url).await.contains(&"newalias".to_owned()) {
            found = true;
            break;
        }
    }
    assert!(found, "reload did not take effect");
}

#[test]
fn prices_import_litellm_fixture() {
    let fixture = std::fs::read_dir("crates/pricing/tests/fixtures")
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().contains("litellm"))
        .expect("a LiteLLM fixture");
    let out = Command::new(BIN)
        .args(["prices", "import", "--from", "litellm"])
        .arg(&fixture)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cat: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(!cat["models"].as_array().unwrap().is_empty());
}
