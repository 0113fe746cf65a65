//! From scored outcomes to what routing reads: the task table, per-model figures, cascade
//! thresholds for a target quality, and the per-prompt index.

use std::collections::BTreeMap;

use serde::Serialize;
use switchyard_engine::prompt_router::{IndexHeader, PromptIndex};

/// One (prompt, model) result.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub prompt: usize,
    pub model: String,
    pub score: f64,
    pub cost: Option<f64>,
    pub latency_ms: f64,
    pub confidence: Option<f64>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ModelFigures {
    pub n: usize,
    pub quality: f64,
    pub quality_by_task: BTreeMap<String, f64>,
    pub mean_cost_usd: Option<f64>,
    pub mean_latency_ms: f64,
    pub p95_latency_ms: f64,
}

fn mean(xs: impl Iterator<Item = f64>) -> Option<f64> {
    let (s, n) = xs.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    (n > 0).then(|| s / n as f64)
}

/// Per model: quality overall and per task, cost, latency (nearest-rank p95).
pub fn figures(tasks: &[String], outs: &[Outcome]) -> BTreeMap<String, ModelFigures> {
    let mut by: BTreeMap<String, Vec<&Outcome>> = BTreeMap::new();
    for o in outs {
        by.entry(o.model.clone()).or_default().push(o);
    }
    by.into_iter()
        .map(|(m, os)| {
            let mut lat: Vec<f64> = os.iter().map(|o| o.latency_ms).collect();
            lat.sort_by(f64::total_cmp);
            let p95 = lat
                .get(((lat.len() as f64 * 0.95).ceil() as usize).saturating_sub(1))
                .copied()
                .unwrap_or(0.0);
            let mut per_task: BTreeMap<String, Vec<f64>> = BTreeMap::new();
            for o in &os {
                per_task
                    .entry(tasks[o.prompt].clone())
                    .or_default()
                    .push(o.score);
            }
            let costs: Option<Vec<f64>> = os.iter().map(|o| o.cost).collect();
            let f = ModelFigures {
                n: os.len(),
                quality: mean(os.iter().map(|o| o.score)).unwrap_or(0.0),
                quality_by_task: per_task
                    .into_iter()
                    .map(|(t, v)| (t, mean(v.into_iter()).unwrap_or(0.0)))
                    .collect(),
                mean_cost_usd: costs.and_then(|c| mean(c.into_iter())),
                mean_latency_ms: mean(lat.iter().copied()).unwrap_or(0.0),
                p95_latency_ms: p95,
            };
            (m, f)
        })
        .collect()
}

/// `[models."X".quality]` tables, the form the config reads.
pub fn quality_toml(figs: &BTreeMap<String, ModelFigures>) -> String {
    let mut s = String::from("# Written by `switchyard eval`: measured quality per task (0..1).\n");
    for (m, f) in figs {
        s.push_str(&format!("\n[models.\"{m}\".quality]\n"));
        for (t, q) in &f.quality_by_task {
            s.push_str(&format!("{t} = {q:.4}\n"));
        }
    }
    s
}

/// The smallest confidence threshold whose cascade quality (accept the cheap answer when its
/// confidence >= t, else take the strong one) reaches `target`. Rows: (cheap confidence,
/// cheap score, strong score). A row without confidence is always accepted (no signal).
/// None when even escalating everything misses the target.
pub fn cascade_threshold(rows: &[(Option<f64>, f64, f64)], target: f64) -> Option<f64> {
    if rows.is_empty() {
        return None;
    }
    let mut ts: Vec<f64> = rows.iter().filter_map(|r| r.0).collect();
    ts.push(0.0);
    ts.push(1.0 + 1e-9);
    ts.sort_by(f64::total_cmp);
    ts.dedup();
    ts.into_iter().find(|&t| {
        let q = rows
            .iter()
            .map(|&(c, cheap, strong)| {
                if c.is_none_or(|c| c >= t) {
                    cheap
                } else {
                    strong
                }
            })
            .sum::<f64>()
            / rows.len() as f64;
        q >= target
    })
}

/// Build the per-prompt index from embeddings and outcomes.
pub fn build_index(
    embeddings: Vec<Vec<f32>>,
    models: &[String],
    tasks: &[String],
    outs: &[Outcome],
) -> PromptIndex {
    let figs = figures(tasks, outs);
    let mut scores = vec![vec![f32::NAN; models.len()]; embeddings.len()];
    for o in outs {
        if let Some(j) = models.iter().position(|m| *m == o.model) {
            scores[o.prompt][j] = o.score as f32;
        }
    }
    let mut task_table: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
    for (m, f) in &figs {
        for (t, q) in &f.quality_by_task {
            task_table
                .entry(t.clone())
                .or_default()
                .insert(m.clone(), *q);
        }
    }
    let header = IndexHeader {
        dim: embeddings.first().map_or(0, Vec::len),
        models: models.to_vec(),
        n: embeddings.len(),
        model_cost: figs
            .iter()
            .filter_map(|(m, f)| f.mean_cost_usd.map(|c| (m.clone(), c)))
            .collect(),
        tasks: task_table,
    };
    PromptIndex::new(header, embeddings.into_iter().zip(scores).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threshold_is_the_cheapest_meeting_the_target() {
        // Confident answers are right, unsure ones wrong; the strong model is always right.
        let rows = vec![
            (Some(0.9), 1.0, 1.0),
            (Some(0.8), 1.0, 1.0),
            (Some(0.3), 0.0, 1.0),
            (Some(0.2), 0.0, 1.0),
        ];
        assert_eq!(cascade_threshold(&rows, 1.0), Some(0.8));
        assert_eq!(cascade_threshold(&rows, 0.75), Some(0.3));
        assert_eq!(cascade_threshold(&rows, 0.5), Some(0.0));
        let hopeless = vec![(Some(0.5), 0.0, 0.0)];
        assert_eq!(cascade_threshold(&hopeless, 0.9), None);
    }
}
