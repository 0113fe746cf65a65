//! Per-prompt quality routing: predict each candidate's quality for this prompt from its
//! nearest evaluated prompts (static embeddings, `switchyard-embed`), then put first the
//! cheapest candidate whose prediction clears the minimum quality; the rest stay as
//! fallbacks, best predicted first. `mode = "task"` uses the task table instead (per-task
//! mean score from the same file, else `[models.X] quality`).
//!
//! Only candidates on the cost-quality frontier of the index (the upper convex hull of each
//! model's mean cost and mean quality, per task in `task` mode; [`index::frontier`]) can be
//! the pick: with many models, noisy per-prompt predictions otherwise let a model that is
//! costlier *and* worse on average (or worse than a mix of two others) win prompts, which
//! puts the route's cost-quality point below the straight line between single models. And no
//! prompt pays more than the cheapest frontier model that clears the minimum on average (see
//! [`choose`] for why). The others stay as ordered fallbacks. When no frontier candidate is
//! available (excluded by the request, or not in the index), every scored candidate is
//! eligible.
//!
//! `POST /v1/route/explain` shows the decision in `prompt_router` ([`RouterPick`]).
//!
//! ```toml
//! [routes.auto]
//! candidates = ["mixtral", "gpt-4"]
//! min_quality = 0.8
//! [routes.auto.router]
//! index = "eval-out/index.bin"   # written by `switchyard eval`; relative to the config
//! mode = "knn"                   # or "task"
//! k = 20
//! watch = "10s"                  # how often the file is checked for a new version
//! ```
//!
//! The index is loaded when the engine is built and swapped in whenever the file changes
//! (`switchyard eval --every 24h` rewrites it atomically), with no restart or reload.

mod index;

use std::path::PathBuf;
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwapOption;
use serde::{Deserialize, Serialize};
use switchyard_core::{ChatRequest, Role};
use switchyard_embed::Embedder;

pub use index::{IndexError, IndexHeader, PromptIndex, dot, frontier};

use crate::config::ConfigError;
use crate::runtime::Engine;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Knn,
    Task,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RouterToml {
    index: PathBuf,
    #[serde(default)]
    mode: Option<Mode>,
    #[serde(default)]
    k: Option<usize>,
    #[serde(default)]
    prior: Option<f64>,
    #[serde(default)]
    watch: Option<String>,
}

pub struct PromptRouterRt {
    pub path: PathBuf,
    pub mode: Mode,
    pub k: usize,
    pub prior: f64,
    pub index: ArcSwapOption<PromptIndex>,
    loaded_mtime: parking_lot::Mutex<Option<SystemTime>>,
}

/// What the router decided: `prompt_router` in `POST /v1/route/explain` (field names are a
/// contract: add, never rename).
#[derive(Debug, Clone, Serialize)]
pub struct RouterPick {
    /// `knn` (per-prompt) or `task` (task table).
    pub mode: Mode,
    /// The model put first.
    pub model: String,
    /// Its predicted quality (0..1) for this prompt (`knn`) or task (`task`).
    pub predicted_quality: f64,
    /// The minimum applied: the request's, else the route's, else 0.
    pub min_quality: f64,
    /// Whether the pick's prediction clears the minimum; false = no eligible candidate was
    /// predicted to, and the best predicted one under the cap was picked (see [`choose`]).
    pub cleared: bool,
    /// The task whose table and frontier were used (`task` mode), or the request's task.
    pub task: Option<String>,
    /// Neighbours and shrinkage weight of the prediction (`knn` mode).
    pub k: Option<usize>,
    pub prior: Option<f64>,
    /// Evaluated prompts in the loaded index.
    pub index_rows: usize,
    /// Every candidate as the router saw it, in the order they will be tried.
    pub candidates: Vec<RouterCandidate>,
    #[serde(skip)]
    pub idx: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct RouterCandidate {
    pub model: String,
    /// null = not in the index (and no task figure): tried after the evaluated ones.
    pub predicted_quality: Option<f64>,
    /// Mean quality over all the evaluated prompts (sets the cap, see [`choose`]).
    pub mean_quality: Option<f64>,
    /// Mean USD per prompt the rule compared: measured by the evaluation, else estimated from
    /// the price list; null = unknown.
    pub cost_usd: Option<f64>,
    /// On the cost-quality frontier: only these can be picked while one is available.
    pub frontier: bool,
}

/// One candidate as the rule sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cand {
    /// Predicted quality for this prompt (`knn`) or its task (`task`).
    pub predicted: f64,
    /// Mean cost per prompt.
    pub cost: f64,
    /// On the frontier in effect (the task's in `task` mode).
    pub frontier: bool,
    /// Mean quality over all the evaluated prompts, and on the frontier of those means: these
    /// set the anchor.
    pub mean: f64,
    pub overall: bool,
}

/// The rule: the cheapest eligible candidate whose predicted quality clears `min`, else the
/// best predicted eligible one. Eligible: on the frontier (all candidates when none is), and
/// no costlier than the *anchor*, the cheapest model on the frontier of overall means whose
/// mean clears `min` (else the best on average). Returns (position, cleared).
///
/// Why the cap: with many models the frontier is concave (cheap models gain a lot per dollar,
/// the strongest little), so a route that sends most prompts to the cheapest model and the
/// few predicted hard ones (or a hard task) to the strongest mixes the ends of the frontier
/// and lands below the straight line between them unless the predictions are far better
/// than kNN on static embeddings (RouterBench rows: 0.10 below the line at min_quality
/// 0.665). Capped, no prompt pays more than meeting the minimum costs on average; the
/// prediction moves a prompt to a cheaper model predicted to clear it, never to a dearer one.
/// The benchmark calibrates with this same function.
pub fn choose(c: &[Cand], min: f64) -> Option<(usize, bool)> {
    let any = |f: fn(&Cand) -> bool| c.iter().any(f);
    let (any_front, any_overall) = (any(|x| x.frontier), any(|x| x.overall));
    let cheapest = |a: &usize, b: &usize| c[*a].cost.total_cmp(&c[*b].cost);
    let anchor_set = || (0..c.len()).filter(move |&i| c[i].overall || !any_overall);
    let anchor = anchor_set()
        .filter(|&i| c[i].mean >= min)
        .min_by(cheapest)
        .or_else(|| anchor_set().max_by(|&a, &b| c[a].mean.total_cmp(&c[b].mean)))?;
    let eligible: Vec<usize> = (0..c.len())
        .filter(|&i| (c[i].frontier || !any_front) && c[i].cost <= c[anchor].cost)
        .collect();
    let clear = eligible
        .iter()
        .copied()
        .filter(|&i| c[i].predicted >= min)
        .min_by(cheapest);
    Some(match clear {
        Some(i) => (i, true),
        None => eligible
            .iter()
            .copied()
            .max_by(|&a, &b| c[a].predicted.total_cmp(&c[b].predicted))
            .map_or((anchor, c[anchor].predicted >= min), |i| (i, false)),
    })
}

impl PromptRouterRt {
    /// Parse `[routes.NAME.router]`, load the index if it exists, and (inside a Tokio
    /// runtime) start watching the file. A missing file is a warning, not an error: the
    /// first evaluation may not have run yet; the route then keeps its configured order.
    pub fn build(
        route: &str,
        v: &toml::Value,
        base_dir: &std::path::Path,
    ) -> Result<Arc<PromptRouterRt>, ConfigError> {
        let path = format!("routes.{route}.router");
        let t: RouterToml = serde_path_to_error::deserialize(v.clone()).map_err(|e| {
            let p = e.path().to_string();
            ConfigError::new(format!("{path}.{p}"), e.into_inner().to_string())
        })?;
        let watch = t
            .watch
            .as_deref()
            .map(humantime::parse_duration)
            .transpose()
            .map_err(|e| ConfigError::new(format!("{path}.watch"), e.to_string()))?
            .unwrap_or(Duration::from_secs(10));
        let file = if t.index.is_relative() {
            base_dir.join(&t.index)
        } else {
            t.index
        };
        let rt = Arc::new(PromptRouterRt {
            path: file,
            mode: t.mode.unwrap_or(Mode::Knn),
            k: t.k.unwrap_or(20).max(1),
            prior: t.prior.unwrap_or(0.5),
            index: ArcSwapOption::empty(),
            loaded_mtime: parking_lot::Mutex::new(None),
        });
        if let Err(e) = rt.reload_if_changed() {
            tracing::warn!(route, path = %rt.path.display(), error = %e, "prompt index not loaded; the route keeps its configured order until it appears");
        }
        if let Ok(h) = tokio::runtime::Handle::try_current() {
            let weak = Arc::downgrade(&rt);
            h.spawn(watch_loop(weak, watch));
        }
        Ok(rt)
    }

    /// Load the file when its modification time differs from the loaded one. Returns whether
    /// a new index was swapped in.
    pub fn reload_if_changed(&self) -> Result<bool, IndexError> {
        let mtime = std::fs::metadata(&self.path)?.modified()?;
        if *self.loaded_mtime.lock() == Some(mtime) {
            return Ok(false);
        }
        let idx = PromptIndex::read(&self.path)?;
        self.index.store(Some(Arc::new(idx)));
        *self.loaded_mtime.lock() = Some(mtime);
        tracing::info!(path = %self.path.display(), "prompt index loaded");
        Ok(true)
    }

    /// Reorder `candidates` (indexes into `engine.models`) for this request. None when no
    /// index is loaded or none of the candidates was evaluated.
    pub fn pick(
        &self,
        engine: &Engine,
        req: &ChatRequest,
        task: Option<&str>,
        min_quality: f64,
        prompt_tokens: u64,
        candidates: &mut [usize],
    ) -> Option<RouterPick> {
        let idx = self.index.load_full()?;
        let pred = match self.mode {
            Mode::Knn => {
                let text = prompt_text(req);
                let e = switchyard_embed::static_embedder().embed(&text);
                idx.predict(&e, self.k, self.prior)
            }
            Mode::Task => Vec::new(),
        };
        let front = idx.frontier_for(task.filter(|_| self.mode == Mode::Task));
        let quality = |i: usize| -> Option<f64> {
            let name = &engine.models[i].name;
            match self.mode {
                Mode::Knn => idx.model_pos(name).map(|j| pred[j]),
                Mode::Task => {
                    let t = task?;
                    idx.header
                        .tasks
                        .get(t)
                        .and_then(|row| row.get(name).copied())
                        .or_else(|| engine.models[i].quality.get(t).copied())
                        .or_else(|| idx.model_pos(name).map(|j| idx.mean[j]))
                }
            }
        };
        let cost = |i: usize| -> Option<f64> {
            let m = &engine.models[i];
            idx.header.model_cost.get(&m.name).copied().or_else(|| {
                engine
                    .prices
                    .estimate(&m.price_id, prompt_tokens, 256)
                    .map(|u| u.to_f64())
            })
        };
        let pos = |i: usize| idx.model_pos(&engine.models[i].name);
        // (model, what the rule sees) of the evaluated candidates; a model outside the index
        // (a task figure from the config) is its own mean and off the frontier.
        let scored: Vec<(usize, Cand)> = candidates
            .iter()
            .filter_map(|&i| {
                let predicted = quality(i)?;
                let j = pos(i);
                Some((
                    i,
                    Cand {
                        predicted,
                        cost: cost(i).unwrap_or(f64::MAX),
                        frontier: j.is_some_and(|j| front.get(j).copied().unwrap_or(false)),
                        mean: j.map_or(predicted, |j| idx.mean[j]),
                        overall: j.is_some_and(|j| idx.frontier.get(j).copied().unwrap_or(false)),
                    },
                ))
            })
            .collect();
        let rule: Vec<Cand> = scored.iter().map(|s| s.1).collect();
        let (at, cleared) = choose(&rule, min_quality)?;
        let (chosen, q) = (scored[at].0, scored[at].1.predicted);
        // Chosen first; fallbacks by predicted quality (unevaluated ones last, in order).
        let q_of = |i: usize| {
            scored
                .iter()
                .find(|s| s.0 == i)
                .map_or(f64::MIN, |s| s.1.predicted)
        };
        candidates.sort_by(|&a, &b| {
            (b == chosen)
                .cmp(&(a == chosen))
                .then(q_of(b).total_cmp(&q_of(a)))
        });
        let view = candidates
            .iter()
            .map(|&i| {
                let s = scored.iter().find(|s| s.0 == i);
                RouterCandidate {
                    model: engine.models[i].name.clone(),
                    predicted_quality: s.map(|s| s.1.predicted),
                    mean_quality: s.map(|s| s.1.mean),
                    cost_usd: cost(i),
                    frontier: s.is_some_and(|s| s.1.frontier),
                }
            })
            .collect();
        let knn = self.mode == Mode::Knn;
        Some(RouterPick {
            mode: self.mode,
            model: engine.models[chosen].name.clone(),
            predicted_quality: q,
            min_quality,
            cleared,
            task: task.map(str::to_owned),
            k: knn.then_some(self.k),
            prior: knn.then_some(self.prior),
            index_rows: idx.header.n,
            candidates: view,
            idx: chosen,
        })
    }
}

/// The prompt as the evaluation embedded it: user turns joined by a blank line.
pub fn prompt_text(req: &ChatRequest) -> String {
    req.messages
        .iter()
        .filter(|m| m.role == Role::User)
        .map(switchyard_core::Message::text_content)
        .collect::<Vec<_>>()
        .join("\n\n")
}

async fn watch_loop(weak: Weak<PromptRouterRt>, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        // The engine generation that owned this router is gone: stop.
        let Some(rt) = weak.upgrade() else { return };
        let r = tokio::task::spawn_blocking(move || rt.reload_if_changed()).await;
        if let Ok(Err(e)) = r {
            tracing::debug!(error = %e, "prompt index not reloaded");
        }
    }
}

impl Engine {
    /// If the plan's route has a per-prompt router with an index loaded, put its pick first
    /// and say so in the route reason. The minimum is the request's, else the route's, else 0.
    pub fn apply_prompt_router(
        &self,
        req: &ChatRequest,
        controls: &crate::controls::Controls,
        plan: &mut crate::route::Plan,
    ) {
        let Some(route) = self.routes.get(&plan.route) else {
            return;
        };
        let Some(pr) = &route.prompt_router else {
            return;
        };
        let min_q = controls.min_quality.or(route.min_quality).unwrap_or(0.0);
        let task = controls.task.clone().or_else(|| {
            (pr.mode == Mode::Task).then(|| {
                switchyard_embed::classify(&prompt_text(req))
                    .0
                    .as_str()
                    .to_owned()
            })
        });
        let mut cands = plan.candidates.clone();
        let Some(p) = pr.pick(
            self,
            req,
            task.as_deref(),
            min_q,
            plan.prompt_tokens,
            &mut cands,
        ) else {
            return;
        };
        // The explanation's views follow the new order (they were built in the old one).
        let mut views: std::collections::HashMap<usize, crate::route::CandidateView> = plan
            .candidates
            .iter()
            .copied()
            .zip(std::mem::take(&mut plan.ranked))
            .collect();
        plan.ranked = cands.iter().filter_map(|i| views.remove(i)).collect();
        plan.candidate_names = cands.iter().map(|&i| self.models[i].name.clone()).collect();
        plan.pick = plan.candidate_names.first().cloned().unwrap_or_default();
        if plan.ranked.len() < cands.len() {
            // A request-path plan (`Detail::Request`) names only the pick.
            plan.ranked.retain(|v| v.model == plan.pick);
        }
        plan.candidates = cands;
        let how = if p.cleared {
            ">="
        } else {
            "< (best available)"
        };
        let mode = match pr.mode {
            Mode::Knn => "per-prompt",
            Mode::Task => "task table",
        };
        plan.reason = format!(
            "{}: {mode} router picked {} (predicted {:.3} {how} {min_q:.2})",
            plan.route, self.models[p.idx].name, p.predicted_quality
        );
        plan.prompt_router = Some(p);
    }
}

#[cfg(test)]
mod tests;
