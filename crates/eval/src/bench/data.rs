//! The recorded outcomes the benchmark replays: prompts, (prompt, model) scores and costs,
//! and list prices, from `../shared/routing-data`.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde_json::Value;

use crate::EvalError;

pub struct Prompt {
    pub id: String,
    pub source: String,
    pub task: String,
    pub turns: Vec<String>,
}

pub struct Data {
    pub prompts: Vec<Prompt>,
    /// (prompt index, model) -> (score, recorded cost).
    pub outcomes: HashMap<(usize, String), (f64, f64)>,
    pub prices: BTreeMap<String, (f64, f64)>,
}

pub fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

pub fn load(dir: &Path) -> Result<Data, EvalError> {
    let mut prompts = Vec::new();
    let mut ids = HashMap::new();
    for line in std::fs::read_to_string(dir.join("prompts.jsonl"))?.lines() {
        let v: Value = serde_json::from_str(line).map_err(|e| EvalError::Other(e.to_string()))?;
        let flags = v["flags"].as_array().cloned().unwrap_or_default();
        if flags.iter().any(|f| f == "incomplete_scores_in_source") {
            continue;
        }
        let id = v["prompt_id"].as_str().unwrap_or("").to_owned();
        ids.insert(id.clone(), prompts.len());
        prompts.push(Prompt {
            id,
            source: v["source"].as_str().unwrap_or("").to_owned(),
            task: v["task_type"].as_str().unwrap_or("").to_owned(),
            turns: v["turns"]
                .as_array()
                .map(|t| {
                    t.iter()
                        .filter_map(|x| x.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
        });
    }
    let mut outcomes = HashMap::new();
    for line in std::fs::read_to_string(dir.join("outcomes.jsonl"))?.lines() {
        let v: Value = serde_json::from_str(line).map_err(|e| EvalError::Other(e.to_string()))?;
        let Some(&p) = v["prompt_id"].as_str().and_then(|i| ids.get(i)) else {
            continue;
        };
        let (Some(score), Some(cost)) = (v["score"].as_f64(), v["cost_usd"].as_f64()) else {
            continue;
        };
        outcomes.insert(
            (p, v["model"].as_str().unwrap_or("").to_owned()),
            (score, cost),
        );
    }
    let pv: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("prices.json"))?)
        .map_err(|e| EvalError::Other(e.to_string()))?;
    let prices = pv
        .as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| {
                    let f = |n: &str| v[n].as_f64().unwrap_or(0.0);
                    (
                        k.clone(),
                        (f("input_usd_per_mtok"), f("output_usd_per_mtok")),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(Data {
        prompts,
        outcomes,
        prices,
    })
}
