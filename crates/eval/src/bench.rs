//! The routing benchmark on recorded outcomes (`../shared/routing-data`, dev split).
//!
//! For each source and each of K folds (by hash of the prompt id): the other folds are the
//! calibration part (they build the per-prompt index and task table, and set the calibrated
//! thresholds); the fold itself is the report part. Every report prompt is sent through an
//! in-process Switchyard in front of `switchyard-sim --replay`, once per policy point; the
//! harness reads `x-switchyard-model` and `usage.cost` and looks the score up in the recorded
//! outcomes (the gateway never sees scores). Cascade confidence is the simulator's synthetic,
//! seeded Beta confidence conditioned on the recorded score: numbers that depend on it say so.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::StreamExt;
use serde::Serialize;
use serde_json::Value;
use switchyard_embed::Embedder;

use crate::EvalError;
use crate::calibrate::{Outcome, build_index, cascade_threshold};
use crate::client::Client;

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

fn fnv(s: &str) -> u64 {
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

/// One cost-quality point of one policy, pooled over the report folds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Point {
    pub policy: String,
    pub setting: String,
    pub calibrated: bool,
    pub n: usize,
    pub failed: usize,
    pub quality: f64,
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
    c: f64,
    by_task: BTreeMap<String, (usize, f64, f64)>,
    served: BTreeMap<String, usize>,
}

impl Acc {
    fn add(&mut self, task: &str, model: &str, q: f64, c: f64) {
        self.n += 1;
        self.q += q;
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
    /// Embedding + kNN prediction over the last fold's index, per prompt: (p50, p99) in µs.
    pub router_us: (f64, f64),
    pub index_rows: usize,
}

/// A route of the fold's config: name, policy, setting text, calibrated?
struct RouteSpec {
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

/// Calibrated min_quality for a router on the calibration part: the lowest threshold whose
/// leave-one-out quality reaches the target.
fn calibrate_min_quality(
    preds: &[Vec<f64>],
    scores: &[Vec<f64>],
    costs: &[f64],
    target: f64,
) -> f64 {
    let grid: Vec<f64> = (0..=100).map(|i| f64::from(i) / 100.0).collect();
    for &t in &grid {
        let q: f64 = preds
            .iter()
            .zip(scores)
            .map(|(p, s)| s[choose(p, costs, t)])
            .sum::<f64>()
            / preds.len().max(1) as f64;
        if q >= target {
            return t;
        }
    }
    1.0
}

/// The router's rule: cheapest model predicted to clear `t`, else the best predicted.
fn choose(pred: &[f64], costs: &[f64], t: f64) -> usize {
    (0..pred.len())
        .filter(|&j| pred[j] >= t)
        .min_by(|&a, &b| costs[a].total_cmp(&costs[b]))
        .unwrap_or_else(|| {
            (0..pred.len())
                .max_by(|&a, &b| pred[a].total_cmp(&pred[b]))
                .unwrap_or(0)
        })
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
        for fold in 0..args.folds {
            let (test, calib): (Vec<usize>, Vec<usize>) = pidx
                .iter()
                .partition(|&&i| fnv(&data.prompts[i].id) % args.folds as u64 == fold as u64);
            let fold_res = run_fold(
                args, &data, &source, &pool, &calib, &test, &embs, &sim_url, fold,
            )
            .await?;
            tiers_seen = fold_res.1;
            for (spec, acc) in fold_res.0 {
                let e = accs
                    .entry(spec.name.clone())
                    .or_insert_with(|| (spec, Acc::default()));
                e.1.n += acc.n;
                e.1.failed += acc.failed;
                e.1.q += acc.q;
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
                Point {
                    policy: meta.policy.to_owned(),
                    setting: meta.setting,
                    calibrated: meta.calibrated,
                    n: a.n,
                    failed: a.failed,
                    quality: a.q / n,
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
        let (router_us, index_rows) = time_router(args, &source, &data, &pidx)?;
        results.push(SourceResult {
            source,
            prompts: pidx.len(),
            strongest,
            points,
            cascade_tiers: tiers_seen,
            router_us,
            index_rows,
        });
    }
    Ok(results)
}

/// (route spec, prompt, the served model and `usage.cost` when the request succeeded).
type Served = (usize, usize, Option<(String, f64)>);

struct RouteMeta {
    name: String,
    policy: &'static str,
    setting: String,
    calibrated: bool,
}

#[expect(clippy::too_many_arguments, reason = "one fold's inputs")]
async fn run_fold(
    args: &BenchArgs,
    data: &Arc<Data>,
    source: &str,
    pool: &[String],
    calib: &[usize],
    test: &[usize],
    embs: &HashMap<usize, Vec<f32>>,
    sim_url: &str,
    fold: usize,
) -> Result<(Vec<(RouteMeta, Acc)>, Vec<String>), EvalError> {
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
    // Leave-one-out predictions on the calibration part set the routers' min_quality.
    let scores: Vec<Vec<f64>> = calib
        .iter()
        .map(|&i| {
            pool.iter()
                .map(|m| data.outcomes[&(i, m.clone())].0)
                .collect()
        })
        .collect();
    let knn: Vec<Vec<f64>> = cal_embs
        .iter()
        .enumerate()
        .map(|(k, e)| index.predict_skip(e, 20, 0.5, Some(k)))
        .collect();
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
    let auto_mq = calibrate_min_quality(&knn, &scores, &costs, target);
    let task_mq = calibrate_min_quality(&task_pred, &scores, &costs, target);

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
        .zip(&scores)
        .map(|(c, s)| (*c, s[ci], s[si]))
        .collect();
    let casc_t = cascade_threshold(&rows, target).unwrap_or(1.0).min(1.0);

    let mut specs: Vec<RouteSpec> = Vec::new();
    let pool_list = pool
        .iter()
        .map(|m| format!("\"{m}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let lo = pool.iter().map(|m| mean(m)).fold(f64::MAX, f64::min);
    let hi = mean(&strong);
    let mut mq_grid: Vec<(f64, bool)> = (0..=8)
        .map(|i| (lo + (hi - lo) * f64::from(i) / 8.0, false))
        .collect();
    mq_grid.push((hi + 0.05, false));
    for (policy, mode, cal) in [("auto", "knn", auto_mq), ("task", "task", task_mq)] {
        for (k, &(t, c)) in mq_grid
            .iter()
            .chain(std::iter::once(&(cal, true)))
            .enumerate()
        {
            let name = format!("{policy}-{k}");
            specs.push(RouteSpec {
                toml: format!("[routes.{name}]\ncandidates = [{pool_list}]\nmin_quality = {t}\n[routes.{name}.router]\nindex = \"{}\"\nmode = \"{mode}\"\nwatch = \"1h\"\n", index_path.display()),
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
    Ok((
        metas.zip(accs).collect(),
        cheap.into_iter().chain([strong]).collect(),
    ))
}

/// An in-process gateway on this config; dropping the sender stops it.
async fn boot(cfg: &str) -> Result<(Arc<Client>, tokio::sync::oneshot::Sender<()>), EvalError> {
    let config = switchyard_engine::config::load_str(cfg)
        .map_err(|e| EvalError::Other(format!("bench config: {e:?}")))?;
    let gw = switchyard_server::Gateway::new(
        config,
        None,
        switchyard_server::GatewayOptions {
            sink: Arc::new(switchyard_engine::runtime::NullSink),
            metrics: None,
            extra: None,
            prepare: None,
        },
    )
    .map_err(|e| EvalError::Other(format!("bench gateway: {e:?}")))?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(gw.serve(listener, async move {
        let _ = rx.await;
    }));
    Ok((Arc::new(Client::new(&format!("http://{addr}"), None)), tx))
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

/// Time what the per-prompt router does per request (static embedding + kNN over the index)
/// on this source's prompts, with the last fold's index.
fn time_router(
    args: &BenchArgs,
    source: &str,
    data: &Data,
    pidx: &[usize],
) -> Result<((f64, f64), usize), EvalError> {
    let safe = source.replace(|c: char| !c.is_ascii_alphanumeric(), "_");
    let path = args
        .out
        .join("folds")
        .join(format!("{safe}-f{}.bin", args.folds.saturating_sub(1)));
    let idx = switchyard_engine::prompt_router::PromptIndex::read(&path)
        .map_err(|e| EvalError::Other(e.to_string()))?;
    let emb = switchyard_embed::static_embedder();
    let mut us: Vec<f64> = pidx
        .iter()
        .take(500)
        .map(|&i| {
            let text = data.prompts[i].turns.join("\n\n");
            let t0 = std::time::Instant::now();
            let p = idx.predict(&emb.embed(&text), 20, 0.5);
            std::hint::black_box(p);
            t0.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    us.sort_by(f64::total_cmp);
    let at = |q: f64| {
        us.get(((us.len() as f64 * q).ceil() as usize).saturating_sub(1))
            .copied()
            .unwrap_or(0.0)
    };
    Ok(((at(0.5), at(0.99)), idx.header.n))
}
