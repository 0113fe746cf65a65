//! A graceful shutdown drains the batch runners: lines already sent upstream (and so billed)
//! are answered and written before the gateway exits, lines not yet started are left for the
//! next process, and the batch stays `in_progress`. Counted by the simulator: every call it
//! received has its answer in the output file, and a restarted gateway finishes the batch
//! with no line run twice. The drain is bounded by `[server] shutdown_grace`, and lines
//! waiting for `[batches] window` stop at once.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a failed unwrap is a failed test"
)]

use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{Timelike, Utc};
use serde_json::{Value, json};
use switchyard_sim::SimConfig;
use switchyard_testkit::{DEMO_CONFIG, StartOptions, TestEnv, chat_batch_lines};

/// The simulator with `gpt-4o-mini` answering after `ms` milliseconds.
fn slow_sim(ms: u64) -> SimConfig {
    let mut sim = SimConfig::default_models();
    for m in &mut sim.models {
        if m.name == "gpt-4o-mini" {
            m.ttft_ms = ms;
        }
    }
    sim
}

async fn start(dir: &Path, sim: SimConfig, grace: &str, batches: &str) -> TestEnv {
    let config = DEMO_CONFIG.replace(
        "listen = \"127.0.0.1:4000\"\n",
        &format!("listen = \"127.0.0.1:4000\"\nshutdown_grace = \"{grace}\"\n"),
    );
    assert_ne!(config, DEMO_CONFIG, "the grace was not set");
    let config = format!("{config}\n[batches]\n{batches}\n");
    let opts = StartOptions {
        config_dir: Some(dir.to_path_buf()),
        ..StartOptions::default()
    };
    TestEnv::start_with(sim, &config, opts).await
}

/// Uploads `n` chat lines (`q0`..) and creates their batch; returns its id.
async fn create_batch(env: &TestEnv, n: usize) -> String {
    let (_, batch) = env
        .submit_batch(&chat_batch_lines(n, "drain question"))
        .await;
    batch["id"].as_str().unwrap().to_owned()
}

/// The batch as persisted (the gateway may be stopped): `{tenant, output_id, error_id, batch}`.
fn stored(dir: &Path, id: &str) -> Value {
    let path = dir.join(format!("switchyard-batches/batches/{id}.json"));
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// The lines of a batch's output or error file as written so far (none if it does not exist).
fn lines(dir: &Path, file_id: &Value) -> Vec<Value> {
    let path = dir.join(format!(
        "switchyard-batches/files/{}.jsonl",
        file_id.as_str().unwrap()
    ));
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

async fn sim_calls(env: &TestEnv) -> u64 {
    env.sim_stats().await["total"].as_u64().unwrap()
}

/// Polls until `done` holds for `f`'s value; fails the test with the last value after `secs`.
async fn wait_until<T: std::fmt::Debug, F: Future<Output = T>>(
    secs: u64,
    mut f: impl FnMut() -> F,
    done: impl Fn(&T) -> bool,
) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let v = f().await;
        if done(&v) {
            return v;
        }
        assert!(Instant::now() < deadline, "gave up waiting; last: {v:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn shutdown_writes_the_lines_in_flight_and_a_restart_runs_each_line_once() {
    const N: usize = 10;
    let dir = tempfile::tempdir().unwrap();
    let mut env = start(dir.path(), slow_sim(400), "10s", "concurrency = 3").await;
    let id = create_batch(&env, N).await;
    // The first three answers are in and the next lines are on their way upstream.
    wait_until(10, || sim_calls(&env), |&n| n >= 4).await;
    let s = stored(dir.path(), &id);
    let (out_id, err_id) = (&s["output_id"], &s["error_id"]);
    let written_before = lines(dir.path(), out_id).len() as u64;
    let started = Instant::now();
    env.shutdown().await.unwrap();
    let took = started.elapsed();

    let calls = sim_calls(&env).await;
    let out = lines(dir.path(), out_id);
    assert!(
        calls > written_before,
        "no line was in flight at shutdown ({calls} calls, {written_before} written): the scenario did not happen"
    );
    assert_eq!(
        out.len() as u64,
        calls,
        "every line the simulator answered is in the output file"
    );
    assert!(out.iter().all(|l| l["response"]["status_code"] == 200));
    assert!(
        lines(dir.path(), err_id).is_empty(),
        "unstarted lines were not written as errors"
    );
    assert!(calls < N as u64, "the runner kept starting lines");
    assert!(took < Duration::from_secs(3), "the drain took {took:?}");
    let b = &stored(dir.path(), &id)["batch"];
    assert_eq!(b["status"], "in_progress", "{b}");
    assert_eq!(
        b["request_counts"],
        json!({"total": N, "completed": calls, "failed": 0})
    );
    assert_eq!(env.records.all().len() as u64, calls);
    // The runner has ended: nothing more goes upstream from the stopped gateway.
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert_eq!(
        sim_calls(&env).await,
        calls,
        "a line started after shutdown"
    );

    let env2 = start(dir.path(), slow_sim(50), "10s", "concurrency = 3").await;
    let b = wait_until(
        30,
        || async { stored(dir.path(), &id)["batch"].clone() },
        |b| b["status"] == "completed",
    )
    .await;
    assert_eq!(
        b["request_counts"],
        json!({"total": N, "completed": N, "failed": 0})
    );
    assert_eq!(
        calls + sim_calls(&env2).await,
        N as u64,
        "exactly one upstream call per line over both gateways"
    );
    let out = lines(dir.path(), &b["output_file_id"]);
    let mut ids: Vec<&str> = out
        .iter()
        .map(|l| l["custom_id"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    let want: Vec<String> = (0..N).map(|i| format!("q{i}")).collect();
    assert_eq!(ids, want, "each line answered exactly once");
    drop(env);
}

#[tokio::test]
async fn the_grace_bounds_the_batch_drain() {
    let dir = tempfile::tempdir().unwrap();
    let mut env = start(dir.path(), slow_sim(4_000), "300ms", "concurrency = 2").await;
    let id = create_batch(&env, 4).await;
    wait_until(10, || sim_calls(&env), |&n| n >= 2).await;
    let started = Instant::now();
    env.shutdown().await.unwrap();
    let took = started.elapsed();
    assert!(
        took < Duration::from_millis(1_500),
        "shutdown waited {took:?} for lines the 300ms grace had given up on"
    );
    // Abandoned, not finalized: the batch is resumed by the next process.
    let s = stored(dir.path(), &id);
    assert_eq!(s["batch"]["status"], "in_progress");
    assert!(lines(dir.path(), &s["error_id"]).is_empty());
}

#[tokio::test]
async fn lines_waiting_for_the_window_stop_at_once() {
    let dir = tempfile::tempdir().unwrap();
    // A window that opens in two hours: every line waits for it.
    let now = Utc::now();
    let (h, m) = ((now.hour() + 2) % 24, now.minute());
    let closed = format!(
        "concurrency = 2\nwindow = \"{h:02}:{m:02}-{:02}:{m:02}\"",
        (h + 1) % 24
    );
    let mut env = start(dir.path(), slow_sim(20), "10s", &closed).await;
    let id = create_batch(&env, 4).await;
    wait_until(
        10,
        || async { stored(dir.path(), &id)["batch"]["status"].clone() },
        |s| s == "in_progress",
    )
    .await;
    // Let the runner take its lines and start waiting.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    env.shutdown().await.unwrap();
    let took = started.elapsed();
    assert!(
        took < Duration::from_millis(500),
        "shutdown waited {took:?} for lines that had not started"
    );
    let s = stored(dir.path(), &id);
    assert_eq!(s["batch"]["status"], "in_progress");
    assert!(lines(dir.path(), &s["error_id"]).is_empty());
    assert!(lines(dir.path(), &s["output_id"]).is_empty());
    assert_eq!(sim_calls(&env).await, 0);
}
