//! One fold of the benchmark: calibrate on the other folds (index, task table, thresholds,
//! the kNN router's settings), then send every report prompt through an in-process gateway
//! once per policy point and account what it served.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use futures::StreamExt;

use super::data::Data;
use super::tune::{Rows, calibrate_min_quality, tune_knn};
use super::{Acc, BenchArgs};
use crate::EvalError;
use crate::calibrate::{Outcome, build_index, cascade_threshold};
use crate::client::Client;

/// A route of the fold's config: name, policy, setting text, calibrated?
pub(super) struct RouteSpec {
    name: String,
    policy: &'static str,
    setting: String,
    calibrated: bool,
    toml: String,
}

fn model_block(name: &str, prices: &BTreeMap<String, (f64, f64)>) -> String {
    let (i, o) = prices.get(name).copied().unwrap_or((0.0, 0.0));
    format!(
        "[models.\"{name}\"]\nprovider = \"replay\"\nupstream = \"{name}\"\nprice_id = \"replay/{name}\"\ncapabilities = {{ tools = false, json_schema = false, vision = false, logprobs = true, embeddings = false }}\n[pricing.overrides.\"replay/{name}\"]\ninput = \"{i}\"\noutput = \"{o}\"\ncontext_window = 1000000\n\n"
    )
}

/// (route spec, prompt, the served model and `usage.cost` when the request succeeded).
type Served = (usize, usize, Option<(String, f64)>);

#[derive(Clone)]
pub(super) struct RouteMeta {
    pub name: String,
    pub policy: &'static str,
    pub setting: String,
    pub calibrated: bool,
}

/// What a fold settled on, beyond its points.
pub(super) struct FoldInfo {
    pub tiers: Vec<String>,
    /// The kNN router's settings chosen on the calibration part.
    pub k: usize,
    pub prior: f64,
}

#[expect(clippy::too_many_arguments, reason = "one fold's inputs")]
pub(super) async fn run_fold(
    args: &BenchArgs,
    data: &Arc<Data>,
    source: &str,
    pool: &[String],
    calib: &[usize],
    test: &[usize],
    embs: &HashMap<usize, Vec<f32>>,
    sim_url: &str,
    fold: usize,
) -> Result<(Vec<(RouteMeta, Acc)>, FoldInfo), EvalError> {
    // Calibration part: the index, the task table and model costs (what `switchyard eval`
    // would write from this part).
    let tasks: Vec<String> = calib
        .iter()
        .map(|&i| data.prompts[i].task.clone())
        .collect();
    let outs: Vec<Outcome> = calib
        .iter()
        .enumerate()
        .flat_map(|(k, &i)| {
            pool.iter().map(move |m| {
                let (score, cost) = data.outcomes[&(i, m.clone())];
                Outcome {
                    prompt: k,
                    model: m.clone(),
                    score,
                    cost: Some(cost),
                    latency_ms: 0.0,
                    confidence: None,
                }
            })
        })
        .collect();
    let cal_embs: Vec<Vec<f32>> = calib.iter().map(|i| embs[i].clone()).collect();
    let index = build_index(cal_embs.clone(), pool, &tasks, &outs);
    let safe = source.replace(|c: char| !c.is_ascii_alphanumeric(), "_");
    let index_path =
        std::fs::canonicalize(args.out.join("folds"))?.join(format!("{safe}-f{fold}.bin"));
    index
        .write(&index_path)
        .map_err(|e| EvalError::Other(e.to_string()))?;
    let mean = |m: &str| index.model_pos(m).map_or(0.0, |j| index.mean[j]);
    let cost_of = |m: &str| index.header.model_cost.get(m).copied().unwrap_or(f64::MAX);
    let strong = pool
        .iter()
        .max_by(|a, b| mean(a).total_cmp(&mean(b)))
        .cloned()
        .unwrap_or_default();
    // The cheap tier: the best model costing at most a fifth of the strongest; else the best
    // cheaper one; when nothing is cheaper (the strongest is also the cheapest), no cheap tier.
    let cheaper: Vec<&String> = pool
        .iter()
        .filter(|m| **m != strong && cost_of(m) < cost_of(&strong))
        .collect();
    let cheap = cheaper
        .iter()
        .filter(|m| cost_of(m) <= 0.2 * cost_of(&strong))
        .max_by(|a, b| mean(a).total_cmp(&mean(b)))
        .or_else(|| cheaper.iter().max_by(|a, b| mean(a).total_cmp(&mean(b))))
        .map(|m| (*m).clone());
    let target = args.target * mean(&strong);
    let costs: Vec<f64> = pool.iter().map(|m| cost_of(m)).collect();
    let per_model = |i: usize, f: fn(&(f64, f64)) -> f64| -> Vec<f64> {
        pool.iter()
            .map(|m| f(&data.outcomes[&(i, m.clone())]))
            .collect()
    };
    let scores: Vec<Vec<f64>> = calib.iter().map(|&i| per_model(i, |o| o.0)).collect();
    let paid: Vec<Vec<f64>> = calib.iter().map(|&i| per_model(i, |o| o.1)).collect();
    // The thresholds the report sweeps: from the weakest model's mean to past the strongest.
    let lo = pool.iter().map(|m| mean(m)).fold(f64::MAX, f64::min);
    let hi = mean(&strong);
    let mut mq_grid: Vec<f64> = (0..=8)
        .map(|i| lo + (hi - lo) * f64::from(i) / 8.0)
        .collect();
    mq_grid.push(hi + 0.05);
    // Leave-one-out on the calibration part sets k, prior and min_quality of the kNN router
    // (simulated with the router's own rule and frontier), and min_quality of the task table.
    let knn_rows = Rows {
        scores: scores.clone(),
        paid: paid.clone(),
        costs: costs.clone(),
        front: vec![index.frontier.clone(); calib.len()],
        means: index.mean.clone(),
        overall: index.frontier.clone(),
    };
    let tuned = tune_knn(&index, &cal_embs, &knn_rows, &mq_grid);
    let auto_mq = calibrate_min_quality(&knn_rows, &tuned.preds, target);
    let task_rows = Rows {
        scores,
        paid,
        costs,
        front: tasks
            .iter()
            .map(|t| index.frontier_for(Some(t)).to_vec())
            .collect(),
        means: index.mean.clone(),
        overall: index.frontier.clone(),
    };
    let task_pred: Vec<Vec<f64>> = tasks
        .iter()
        .map(|t| {
            pool.iter()
                .map(|m| {
                    index
                        .header
                        .tasks
                        .get(t)
                        .and_then(|r| r.get(m))
                        .copied()
                        .unwrap_or(0.0)
                })
                .collect()
        })
        .collect();
    let task_mq = calibrate_min_quality(&task_rows, &task_pred, target);

    let base = format!(
        "[server]\nrequest_timeout = \"60s\"\n[providers.replay]\nkind = \"openai\"\nbase_url = \"{sim_url}\"\nkeys = [\"plain:k\"]\n\n"
    );
    let mut cfg = base;
    for m in pool {
        cfg.push_str(&model_block(m, &data.prices));
    }
    let client0 = boot(&cfg).await?;
    // The cascade threshold is calibrated on the calibration part from the cheap tier's
    // (synthetic) confidences, asked through the gateway like any client would.
    let confs: Vec<Option<f64>> = futures::stream::iter(calib.iter().copied())
        .map(|i| {
            let (c, d, m) = (client0.0.clone(), data.clone(), cheap.clone());
            async move {
                let m = m?;
                ask(&c, &d, i, &m, true)
                    .await
                    .ok()
                    .and_then(|a| a.confidence)
            }
        })
        .buffered(args.concurrency)
        .collect()
        .await;
    drop(client0);
    let si = pool.iter().position(|m| *m == strong).unwrap_or(0);
    let ci = pool
        .iter()
        .position(|m| Some(m) == cheap.as_ref())
        .unwrap_or(si);
    let rows: Vec<(Option<f64>, f64, f64)> = confs
        .iter()
        .zip(&task_rows.scores)
        .map(|(c, s)| (*c, s[ci], s[si]))
        .collect();
    let casc_t = cascade_threshold(&rows, target).unwrap_or(1.0).min(1.0);

    let mut specs: Vec<RouteSpec> = Vec::new();
    let pool_list = pool
        .iter()
        .map(|m| format!("\"{m}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let knn_set = format!("k = {}\nprior = {:?}\n", tuned.k, tuned.prior);
    for (policy, mode, cal) in [("auto", "knn", auto_mq), ("task", "task", task_mq)] {
        let extra = if mode == "knn" { knn_set.as_str() } else { "" };
        for (k, (t, c)) in mq_grid
            .iter()
            .map(|&t| (t, false))
            .chain(std::iter::once((cal, true)))
            .enumerate()
        {
            let name = format!("{policy}-{k}");
            specs.push(RouteSpec {
                toml: format!("[routes.{name}]\ncandidates = [{pool_list}]\nmin_quality = {t}\n[routes.{name}.router]\nindex = \"{}\"\nmode = \"{mode}\"\nwatch = \"1h\"\n{extra}", index_path.display()),
                name,
                policy,
                setting: if c { format!("min_quality calibrated per fold (last {t:.3})") } else { format!("min_quality {t:.3}") },
                calibrated: c,
            });
        }
    }
    let tiers = cheap
        .iter()
        .chain(std::iter::once(&strong))
        .map(|m| format!("\"{m}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let c_grid = [0.0, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0];
    for (k, &(t, c)) in c_grid
        .iter()
        .map(|&t| (t, false))
        .collect::<Vec<_>>()
        .iter()
        .chain(std::iter::once(&(casc_t, true)))
        .enumerate()
    {
        let name = format!("cascade-{k}");
        specs.push(RouteSpec {
            // Only the confidence gate: replayed answers end with `stop`, and MMLU rows have no
            // text, which the refusal gate would (rightly) reject as empty.
            toml: format!("[routes.{name}]\nstrategy = \"cascade\"\ntiers = [{tiers}]\n[routes.{name}.gates]\nmin_confidence = {t}\nconfidence_quantile = 0.1\nrefusal = false\nlength = false\njson = false\n"),
            name,
            policy: "cascade",
            setting: if c { format!("min_confidence calibrated per fold (last {t:.3}; synthetic confidence)") } else { format!("min_confidence {t:.3} (synthetic confidence)") },
            calibrated: c,
        });
    }
    for m in pool {
        specs.push(RouteSpec {
            name: m.clone(),
            policy: "single",
            setting: m.clone(),
            calibrated: false,
            toml: String::new(),
        });
    }
    for s in &specs {
        cfg.push_str(&s.toml);
    }
    let client = boot(&cfg).await?;
    let jobs: Vec<(usize, usize)> = (0..specs.len())
        .flat_map(|s| test.iter().map(move |&i| (s, i)))
        .collect();
    let names: Vec<String> = specs.iter().map(|s| s.name.clone()).collect();
    let answers: Vec<Served> = futures::stream::iter(jobs)
        .map(|(s, i)| {
            let (c, d, n) = (client.0.clone(), data.clone(), names[s].clone());
            async move {
                let a = ask(&c, &d, i, &n, false)
                    .await
                    .ok()
                    .map(|a| (a.model, a.cost.unwrap_or(f64::NAN)));
                (s, i, a)
            }
        })
        .buffer_unordered(args.concurrency)
        .collect()
        .await;
    let mut accs: Vec<Acc> = specs.iter().map(|_| Acc::default()).collect();
    for (s, i, a) in answers {
        match a.and_then(|(m, c)| data.outcomes.get(&(i, m.clone())).map(|o| (m, o.0, c))) {
            Some((m, q, c)) => accs[s].add(&data.prompts[i].task, &m, q, c),
            None => accs[s].failed += 1,
        }
    }
    let metas = specs.into_iter().map(|s| RouteMeta {
        name: s.name,
        policy: s.policy,
        setting: s.setting,
        calibrated: s.calibrated,
    });
    let info = FoldInfo {
        tiers: cheap.into_iter().chain([strong]).collect(),
        k: tuned.k,
        prior: tuned.prior,
    };
    Ok((metas.zip(accs).collect(), info))
}

/// An in-process gateway on this config; dropping the sender stops it.
async fn boot(cfg: &str) -> Result<(Arc<Client>, tokio::sync::oneshot::Sender<()>), EvalError> {
    let config = switchyard_engine::config::load_str(cfg)
        .map_err(|e| EvalError::Other(format!("bench config: {e:?}")))?;
    let (base, stop) = crate::run::serve_in_process(config, None).await?;
    Ok((Arc::new(Client::new(&base, None)), stop))
}

async fn ask(
    c: &Client,
    d: &Data,
    i: usize,
    model: &str,
    logprobs: bool,
) -> Result<crate::client::Answer, EvalError> {
    let p = &d.prompts[i];
    c.ask_turns(
        model,
        &p.turns,
        logprobs,
        &[("x-switchyard-task", p.task.as_str())],
    )
    .await
}
