//! A batch outlives its gateway: a gateway stopped mid-batch leaves the batch's state and the
//! answers written so far on disk, and the next gateway on the same `[batches] dir` runs only
//! the lines not yet answered (counted by the simulator), then finishes the batch. A batch
//! created outside `[batches] window` waits without calling anyone.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a failed unwrap is a failed test"
)]

use std::time::{Duration, Instant};

use chrono::{Timelike, Utc};
use serde_json::{Value, json};
use switchyard_sim::SimConfig;
use switchyard_testkit::{DEMO_CONFIG, StartOptions, TestEnv, chat_batch_lines};

async fn start(dir: &std::path::Path, batches: &str) -> TestEnv {
    let config = format!("{DEMO_CONFIG}\n[batches]\n{batches}\n");
    let opts = StartOptions {
        config_dir: Some(dir.to_path_buf()),
        ..StartOptions::default()
    };
    TestEnv::start_with(SimConfig::default_models(), &config, opts).await
}

async fn get(env: &TestEnv, path: &str) -> Value {
    env.client()
        .get(env.url(path))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Polls the batch until it reaches `status`; fails the test after `secs`.
async fn wait_for(env: &TestEnv, id: &str, status: &str, secs: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let b = get(env, &format!("/v1/batches/{id}")).await;
        if b["status"] == status {
            return b;
        }
        assert!(
            Instant::now() < deadline,
            "batch never became {status}: {b}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_restarted_gateway_runs_only_the_unanswered_lines() {
    let dir = tempfile::tempdir().unwrap();
    // A window that opens in two hours: the first gateway accepts the batch but runs nothing.
    let now = Utc::now();
    let (h, m) = ((now.hour() + 2) % 24, now.minute());
    let closed = format!("window = \"{h:02}:{m:02}-{:02}:{m:02}\"", (h + 1) % 24);
    let env = start(dir.path(), &closed).await;
    let (file, batch) = env
        .submit_batch(&chat_batch_lines(10, "resume question"))
        .await;
    assert_eq!(file["purpose"], "batch", "{file}");
    let id = batch["id"].as_str().unwrap().to_owned();
    let b = wait_for(&env, &id, "in_progress", 10).await;
    assert_eq!(b["request_counts"]["total"], 10);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        env.sim_stats().await["total"],
        0,
        "outside the window nothing runs"
    );
    drop(env);

    // What a gateway stopped after three answers leaves behind: those lines in the output file.
    let state: Value = serde_json::from_slice(
        &std::fs::read(
            dir.path()
                .join(format!("switchyard-batches/batches/{id}.json")),
        )
        .unwrap(),
    )
    .unwrap();
    let out_id = state["output_id"].as_str().unwrap();
    let out_path = dir
        .path()
        .join(format!("switchyard-batches/files/{out_id}.jsonl"));
    let earlier: String = (0..3)
        .map(|i| {
            json!({"id": format!("batch_req_earlier{i}"), "custom_id": format!("q{i}"),
                "response": {"status_code": 200, "request_id": format!("req_earlier{i}"),
                    "body": {"earlier": true}}, "error": null})
            .to_string()
                + "\n"
        })
        .collect();
    std::fs::write(&out_path, earlier).unwrap();

    let env = start(dir.path(), "concurrency = 2").await;
    let b = wait_for(&env, &id, "completed", 30).await;
    assert_eq!(
        b["request_counts"],
        json!({"total": 10, "completed": 10, "failed": 0})
    );
    assert_eq!(
        env.sim_stats().await["total"],
        7,
        "only the unanswered lines ran"
    );
    let text = env
        .client()
        .get(env.url(&format!(
            "/v1/files/{}/content",
            b["output_file_id"].as_str().unwrap()
        )))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 10);
    let mut ids: Vec<&str> = lines
        .iter()
        .map(|l| l["custom_id"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    assert_eq!(
        ids,
        ["q0", "q1", "q2", "q3", "q4", "q5", "q6", "q7", "q8", "q9"]
    );
    assert!(
        lines[..3]
            .iter()
            .all(|l| l["response"]["body"]["earlier"] == true)
    );
    assert!(
        lines[3..]
            .iter()
            .all(|l| l["response"]["body"]["choices"].is_array())
    );
    // Every line that ran was logged like any request.
    assert_eq!(env.records.all().len(), 7);
}
