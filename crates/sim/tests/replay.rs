//! Replay mode: lookup by header and by text, MT-Bench turns, unknown pairs, synthetic logprobs.

mod common;

use std::path::PathBuf;

use common::*;
use serde_json::{Value, json};
use switchyard_sim::{Confidence, ReplayConfig, SimConfig};

fn fixture(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sim-replay-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("replay fixture");
    let prompts = [
        json!({"prompt_id": "rb0:1", "source": "routerbench_0shot", "turns": ["What is 2+2?", "Answer:"]}),
        json!({"prompt_id": "mt:81", "source": "routellm_mtbench", "turns": ["Write a poem.", "Now shorter."]}),
    ];
    let outcomes = [
        json!({"prompt_id": "rb0:1", "model": "gpt-4-1106-preview", "score": 1.0, "prompt_tokens_est": 5, "completion_tokens_est": 1, "response": "4"}),
        json!({"prompt_id": "rb0:1", "model": "mistralai/mixtral-8x7b-chat", "score": 0.0, "prompt_tokens": 9, "completion_tokens": 3, "prompt_tokens_est": 5, "completion_tokens_est": 1, "response": "five or so"}),
        json!({"prompt_id": "mt:81", "model": "gpt-4-1106-preview", "score": 0.9, "prompt_tokens_est": 4, "completion_tokens_est": 7, "response": ["Roses are red", "Red."]}),
    ];
    let lines = |v: &[Value]| v.iter().map(|x| x.to_string() + "\n").collect::<String>();
    std::fs::write(dir.join("prompts.jsonl"), lines(&prompts)).expect("replay fixture");
    std::fs::write(dir.join("outcomes.jsonl"), lines(&outcomes)).expect("replay fixture");
    dir
}

async fn replay_sim(name: &str) -> switchyard_sim::SimHandle {
    let mut cfg = SimConfig::default_models();
    cfg.replay = Some(ReplayConfig {
        dir: fixture(name),
        ttft_ms: 0,
        tokens_per_s: 0.0,
        confidence: Confidence {
            correct: [8.0, 2.0],
            wrong: [2.0, 8.0],
            seed: 3,
        },
    });
    switchyard_sim::spawn(cfg).await.expect("replay fixture")
}

#[tokio::test]
async fn answers_by_header_and_by_text_with_recorded_usage() {
    let sim = replay_sim("lookup").await;
    let r = client().post(format!("{}/v1/chat/completions", sim.url())).bearer_auth("k")
        .header("x-heldout-prompt-id", "rb0:1")
        .json(&json!({"model": "gpt-4-1106-preview", "messages": [{"role": "user", "content": "whatever"}]}))
        .send().await.unwrap();
    let j: Value = r.json().await.unwrap();
    assert_eq!(j["choices"][0]["message"]["content"], "4");
    assert_eq!(j["usage"]["prompt_tokens"], 5);
    assert_eq!(j["usage"]["completion_tokens"], 1);

    let body = json!({"model": "mistralai/mixtral-8x7b-chat",
        "messages": [{"role": "user", "content": "What is 2+2?\n\nAnswer:"}]});
    let j: Value = openai(&sim, body.clone()).await.json().await.unwrap();
    assert_eq!(j["choices"][0]["message"]["content"], "five or so");
    assert_eq!(j["usage"]["prompt_tokens"], 9, "real counts win over _est");
    assert_eq!(j["usage"]["completion_tokens"], 3);

    let mut sb = body;
    sb["stream"] = json!(true);
    sb["stream_options"] = json!({"include_usage": true});
    let (events, _) = sse(openai(&sim, sb).await).await;
    let chunks = json_events(&events);
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "five or so");
    assert_eq!(chunks.last().unwrap()["usage"], j["usage"]);
}

#[tokio::test]
async fn mt_bench_turns_and_unknown_pairs() {
    let sim = replay_sim("turns").await;
    let one = json!({"model": "gpt-4-1106-preview", "messages": [{"role": "user", "content": "Write a poem."}]});
    let j: Value = openai(&sim, one).await.json().await.unwrap();
    assert_eq!(j["choices"][0]["message"]["content"], "Roses are red");
    let two = json!({"model": "gpt-4-1106-preview", "messages": [
        {"role": "user", "content": "Write a poem."}, {"role": "assistant", "content": "Roses are red"},
        {"role": "user", "content": "Now shorter."}]});
    let j: Value = openai(&sim, two).await.json().await.unwrap();
    assert_eq!(j["choices"][0]["message"]["content"], "Red.");

    let r = openai(
        &sim,
        json!({"model": "mistralai/mixtral-8x7b-chat",
        "messages": [{"role": "user", "content": "Write a poem."}]}),
    )
    .await;
    assert_eq!(r.status(), 404);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["code"], "model_not_found");
    assert_eq!(e["error"]["message"], "model not available for this prompt");
    let r = openai(&sim, json!({"model": "gpt-4-1106-preview", "messages": [{"role": "user", "content": "unknown"}]})).await;
    assert_eq!(r.status(), 404);
    let list: Value = client()
        .get(format!("{}/v1/models", sim.url()))
        .bearer_auth("k")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        list["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["id"] == "mistralai/mixtral-8x7b-chat")
    );
}

#[tokio::test]
async fn synthetic_logprobs_follow_the_recorded_score() {
    let sim = replay_sim("logprobs").await;
    let ask = |model: &str| {
        json!({"model": model, "logprobs": true,
        "messages": [{"role": "user", "content": "What is 2+2?\n\nAnswer:"}]})
    };
    let conf = |j: &Value| {
        let lps: Vec<f64> = j["choices"][0]["logprobs"]["content"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["logprob"].as_f64().unwrap())
            .collect();
        (lps.iter().sum::<f64>() / lps.len() as f64).exp()
    };
    let right: Value = openai(&sim, ask("gpt-4-1106-preview"))
        .await
        .json()
        .await
        .unwrap();
    let wrong: Value = openai(&sim, ask("mistralai/mixtral-8x7b-chat"))
        .await
        .json()
        .await
        .unwrap();
    let again: Value = openai(&sim, ask("gpt-4-1106-preview"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(conf(&right), conf(&again));
    // Beta(8,2) vs Beta(2,8) with this seed: far apart; the distribution test is below
    assert!(
        conf(&right) > conf(&wrong),
        "{} vs {}",
        conf(&right),
        conf(&wrong)
    );
}

#[test]
fn beta_confidence_has_the_declared_means() {
    // Many prompts, one model: the mean of the draws for correct answers is a/(a+b).
    let dir = std::env::temp_dir().join(format!("sim-replay-beta-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut p = String::new();
    let mut o = String::new();
    for i in 0..2000 {
        p += &format!(
            "{}\n",
            json!({"prompt_id": format!("p{i}"), "turns": [format!("q{i}")]})
        );
        o += &format!(
            "{}\n",
            json!({"prompt_id": format!("p{i}"), "model": "m", "score": (i % 2) as f64, "response": "r"})
        );
    }
    std::fs::write(dir.join("prompts.jsonl"), p).unwrap();
    std::fs::write(dir.join("outcomes.jsonl"), o).unwrap();
    let cfg = ReplayConfig {
        dir,
        ttft_ms: 0,
        tokens_per_s: 0.0,
        confidence: Confidence::default(),
    };
    let r = switchyard_sim::replay::Replay::load(&cfg).unwrap();
    let mean = |parity: usize| {
        let v: Vec<f64> = (0..2000)
            .filter(|i| i % 2 == parity)
            .map(|i| r.confidence(&format!("p{i}"), "m").unwrap())
            .collect();
        v.iter().sum::<f64>() / v.len() as f64
    };
    // defaults: correct Beta(8,2) mean 0.8, wrong Beta(4,6) mean 0.4; std error ~0.006
    assert!((mean(1) - 0.8).abs() < 0.03, "{}", mean(1));
    assert!((mean(0) - 0.4).abs() < 0.03, "{}", mean(0));
}

/// The shared routing data, when present: loads and answers a known prompt.
#[tokio::test]
async fn loads_the_shared_routing_data_when_present() {
    let dir = PathBuf::from("/work/shared/routing-data");
    if !dir.join("outcomes.jsonl").exists() {
        eprintln!("skipped: {} not present", dir.display());
        return;
    }
    let cfg = ReplayConfig {
        dir,
        ttft_ms: 0,
        tokens_per_s: 0.0,
        confidence: Confidence::default(),
    };
    let r = switchyard_sim::replay::Replay::load(&cfg).unwrap();
    assert_eq!(r.prompt_count(), 13_642);
    assert!(r.has_model("gpt-4-1106-preview") && r.has_model("mistralai/mixtral-8x7b-chat"));
}
