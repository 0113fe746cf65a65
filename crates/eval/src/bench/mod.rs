//! The routing benchmark on recorded outcomes (`../shared/routing-data`, dev split).
//!
//! For each source and each of K folds (by hash of the prompt id): the other folds are the
//! calibration part (they build the per-prompt index and task table, and set the calibrated
//! thresholds); the fold itself is the report part. Every report prompt is sent through an
//! in-process Switchyard in front of `switchyard-sim --replay`, once per policy point; the
//! harness reads `x-switchyard-model` and `usage.cost` and looks the score up in the recorded
//! outcomes (the gateway never sees scores). Cascade confidence is the simulator's synthetic,
//! seeded Beta confidence conditioned on the recorded score: numbers that depend on it say so.
//!
//! Files: `data` (loading the recorded outcomes), `fold` (one fold through the gateway),
//! `tune` (calibration-part settings of the routers).

mod data;
mod fold;
mod tune;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;
use switchyard_embed::Embedder;

use data::fnv;
pub use data::{Data, Prompt, load};
use fold::{RouteMeta, run_fold};

use crate::EvalError;

#[derive(Debug, Clone)]
pub struct BenchArgs {
    pub data: PathBuf,
    pub out: PathBuf,
    pub folds: usize,
    /// Cap on prompts per source (a deterministic sample), for quick runs.
    pub max_prompts: Option<usize>,
    pub sources: Option<Vec<String>>,
    pub concurrency: usize,
    /// Quality target as a share of the strongest single model (calibrated points).
    pub target: f64,
}

/// One cost-quality point of one policy, pooled over the report folds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Point {
    pub policy: String,
    pub setting: String,
    pub calibrated: bool,
    pub n: usize,
    pub failed: usize,
    pub quality: f64,
    /// Standard error of `quality` (sample standard deviation of the per-prompt scores over
    /// sqrt(n)): how far sampling alone may move it.
    pub se: f64,
    pub cost: f64,
    pub by_task: BTreeMap<String, (usize, f64, f64)>,
    pub share: BTreeMap<String, f64>,
    /// quality minus the zero-router line at this cost (>= 0: on or above it).
    pub above_line: f64,
}

#[derive(Default)]
struct Acc {
    n: usize,
    failed: usize,
    q: f64,
    /// Sum of squared scores, for the standard error.
    q2: f64,
    c: f64,
    by_task: BTreeMap<String, (usize, f64, f64)>,
    served: BTreeMap<String, usize>,
}

impl Acc {
    fn add(&mut self, task: &str, model: &str, q: f64, c: f64) {
        self.n += 1;
        self.q += q;
        self.q2 += q * q;
        self.c += c;
        let t = self.by_task.entry(task.to_owned()).or_default();
        t.0 += 1;
        t.1 += q;
        t.2 += c;
        *self.served.entry(model.to_owned()).or_default() += 1;
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct SourceResult {
    pub source: String,
    pub prompts: usize,
    pub strongest: String,
    pub points: Vec<Point>,
    pub cascade_tiers: Vec<String>,
    /// The per-prompt router's speed over the last fold's index (see [`Timing`]).
    pub timing: Timing,
    pub index_rows: usize,
    /// The kNN router's `k` and `prior` chosen on each fold's calibration part, by fold.
    pub knn_settings: Vec<(usize, f64)>,
}

pub async fn run(args: &BenchArgs) -> Result<Vec<SourceResult>, EvalError> {
    let data = Arc::new(load(&args.data)?);
    std::fs::create_dir_all(args.out.join("folds"))?;
    let mut sim_cfg = switchyard_sim::SimConfig {
        seed: 0,
        models: Vec::new(),
        replay: None,
    };
    sim_cfg.replay = Some(switchyard_sim::ReplayConfig {
        dir: args.data.clone(),
        ttft_ms: 0,
        tokens_per_s: 0.0,
        confidence: switchyard_sim::Confidence::default(),
    });
    let sim = switchyard_sim::spawn(sim_cfg).await?;
    let sim_url = format!("http://{}/v1", sim.addr);
    let mut sources: Vec<String> = data.prompts.iter().map(|p| p.source.clone()).collect();
    sources.sort();
    sources.dedup();
    if let Some(only) = &args.sources {
        sources.retain(|s| only.contains(s));
    }
    let emb = switchyard_embed::static_embedder();
    let mut results = Vec::new();
    for source in sources {
        let mut pidx: Vec<usize> = (0..data.prompts.len())
            .filter(|&i| data.prompts[i].source == source)
            .collect();
        if let Some(cap) = args.max_prompts {
            pidx.sort_by_key(|&i| fnv(&data.prompts[i].id));
            pidx.truncate(cap);
        }
        let mut pool: Vec<String> = data
            .outcomes
            .keys()
            .filter(|(p, _)| data.prompts[*p].source == source)
            .map(|(_, m)| m.clone())
            .collect();
        pool.sort();
        pool.dedup();
        // Only prompts every pool model answered, so single-model means compare.
        pidx.retain(|&i| {
            pool.iter()
                .all(|m| data.outcomes.contains_key(&(i, m.clone())))
        });
        eprintln!("{source}: {} prompts, {} models", pidx.len(), pool.len());
        let embs: HashMap<usize, Vec<f32>> = pidx
            .iter()
            .map(|&i| (i, emb.embed(&data.prompts[i].turns.join("\n\n"))))
            .collect();
        let mut accs: BTreeMap<String, (RouteMeta, Acc)> = BTreeMap::new();
        let mut tiers_seen = Vec::new();
        let mut knn_settings = Vec::new();
        for fold in 0..args.folds {
            let (test, calib): (Vec<usize>, Vec<usize>) = pidx
                .iter()
                .partition(|&&i| fnv(&data.prompts[i].id) % args.folds as u64 == fold as u64);
            let fold_res = run_fold(
                args, &data, &source, &pool, &calib, &test, &embs, &sim_url, fold,
            )
            .await?;
            tiers_seen = fold_res.1.tiers;
            knn_settings.push((fold_res.1.k, fold_res.1.prior));
            for (spec, acc) in fold_res.0 {
                let e = accs
                    .entry(spec.name.clone())
                    .or_insert_with(|| (spec.clone(), Acc::default()));
                // The setting text names the last fold's calibrated value.
                e.0 = spec;
                e.1.n += acc.n;
                e.1.failed += acc.failed;
                e.1.q += acc.q;
                e.1.q2 += acc.q2;
                e.1.c += acc.c;
                for (t, v) in acc.by_task {
                    let x = e.1.by_task.entry(t).or_default();
                    x.0 += v.0;
                    x.1 += v.1;
                    x.2 += v.2;
                }
                for (m, k) in acc.served {
                    *e.1.served.entry(m).or_default() += k;
                }
            }
        }
        let mut points: Vec<Point> = accs
            .into_values()
            .map(|(meta, a)| {
                let n = a.n.max(1) as f64;
                let var = (a.q2 - a.q * a.q / n) / (n - 1.0).max(1.0);
                Point {
                    policy: meta.policy.to_owned(),
                    setting: meta.setting,
                    calibrated: meta.calibrated,
                    n: a.n,
                    failed: a.failed,
                    quality: a.q / n,
                    se: (var.max(0.0) / n).sqrt(),
                    cost: a.c / n,
                    by_task: a
                        .by_task
                        .into_iter()
                        .map(|(t, (k, q, c))| (t, (k, q / k.max(1) as f64, c / k.max(1) as f64)))
                        .collect(),
                    share: a
                        .served
                        .into_iter()
                        .map(|(m, k)| (m, k as f64 / n))
                        .collect(),
                    above_line: 0.0,
                }
            })
            .collect();
        let singles: Vec<(f64, f64)> = points
            .iter()
            .filter(|p| p.policy == "single")
            .map(|p| (p.cost, p.quality))
            .collect();
        let hull = crate::plot::upper_hull(&singles);
        for p in &mut points {
            p.above_line = p.quality - crate::plot::interp(&hull, p.cost);
        }
        let strongest = points
            .iter()
            .filter(|p| p.policy == "single")
            .max_by(|a, b| a.quality.total_cmp(&b.quality))
            .map(|p| p.setting.clone())
            .unwrap_or_default();
        let (k, prior) = knn_settings.last().copied().unwrap_or((20, 0.5));
        let timing = time_router(args, &source, &data, &pidx, k, prior)?;
        results.push(SourceResult {
            source,
            prompts: pidx.len(),
            strongest,
            points,
            cascade_tiers: tiers_seen,
            timing: timing.0,
            index_rows: timing.1,
            knn_settings,
        });
    }
    Ok(results)
}

/// Time what the per-prompt router does per request (static embedding + kNN over the index),
/// and the kNN prediction alone, on this source's prompts with the last fold's index and
/// settings. Each prompt is timed in three passes: the first pass alone gives the single-run
/// figures; the fastest of the three per prompt gives figures without the scheduler's
/// preemptions (the benchmark shares two cores with other work, and a preempted run costs
/// milliseconds whatever the code does).
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Timing {
    /// (p50, p99) in µs: embedding + kNN, then kNN alone, single runs.
    pub total: (f64, f64),
    pub knn: (f64, f64),
    /// (p50, p99) in µs of kNN alone, fastest of three runs per prompt.
    pub knn_best_of_3: (f64, f64),
}

fn time_router(
    args: &BenchArgs,
    source: &str,
    data: &Data,
    pidx: &[usize],
    k: usize,
    prior: f64,
) -> Result<(Timing, usize), EvalError> {
    let safe = source.replace(|c: char| !c.is_ascii_alphanumeric(), "_");
    let path = args
        .out
        .join("folds")
        .join(format!("{safe}-f{}.bin", args.folds.saturating_sub(1)));
    let idx = switchyard_engine::prompt_router::PromptIndex::read(&path)
        .map_err(|e| EvalError::Other(e.to_string()))?;
    let emb = switchyard_embed::static_embedder();
    let us = |d: std::time::Duration| d.as_secs_f64() * 1e6;
    let texts: Vec<String> = pidx
        .iter()
        .take(500)
        .map(|&i| data.prompts[i].turns.join("\n\n"))
        .collect();
    let mut runs: Vec<Vec<(f64, f64)>> = Vec::new();
    for _ in 0..3 {
        runs.push(
            texts
                .iter()
                .map(|text| {
                    let t0 = std::time::Instant::now();
                    let e = emb.embed(text);
                    let t1 = std::time::Instant::now();
                    let p = idx.predict(&e, k, prior);
                    std::hint::black_box(p);
                    (us(t0.elapsed()), us(t1.elapsed()))
                })
                .collect(),
        );
    }
    let pct = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        let at = |q: f64| {
            v.get(((v.len() as f64 * q).ceil() as usize).saturating_sub(1))
                .copied()
                .unwrap_or(0.0)
        };
        (at(0.5), at(0.99))
    };
    let best: Vec<f64> = (0..texts.len())
        .map(|i| runs.iter().map(|r| r[i].1).fold(f64::INFINITY, f64::min))
        .collect();
    let timing = Timing {
        total: pct(runs[0].iter().map(|r| r.0).collect()),
        knn: pct(runs[0].iter().map(|r| r.1).collect()),
        knn_best_of_3: pct(best),
    };
    Ok((timing, idx.header.n))
}
