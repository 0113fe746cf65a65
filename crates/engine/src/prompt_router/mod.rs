//! Per-prompt quality routing: predict each candidate's quality for this prompt from its
//! nearest evaluated prompts (static embeddings, `switchyard-embed`), then put first the
//! cheapest candidate whose prediction clears the minimum quality; the rest stay as
//! fallbacks, best predicted first. `mode = "task"` uses the task table instead (per-task
//! mean score from the same file, else `[models.X] quality`).
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
use serde::Deserialize;
use switchyard_core::{ChatRequest, Role};
use switchyard_embed::Embedder;

pub use index::{IndexError, IndexHeader, PromptIndex};

use crate::config::ConfigError;
use crate::runtime::Engine;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
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

/// What the router decided, for the route header and explanations.
#[derive(Debug, Clone)]
pub struct Pick {
    pub model: usize,
    pub predicted: f64,
    pub cleared: bool,
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
    ) -> Option<Pick> {
        let idx = self.index.load_full()?;
        let pred = match self.mode {
            Mode::Knn => {
                let text = prompt_text(req);
                let e = switchyard_embed::static_embedder().embed(&text);
                idx.predict(&e, self.k, self.prior)
            }
            Mode::Task => Vec::new(),
        };
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
        let cost = |i: usize| -> f64 {
            let m = &engine.models[i];
            idx.header
                .model_cost
                .get(&m.name)
                .copied()
                .unwrap_or_else(|| {
                    engine
                        .prices
                        .estimate(&m.price_id, prompt_tokens, 256)
                        .map_or(f64::MAX, |u| u.to_f64())
                })
        };
        let scored: Vec<(usize, f64, f64)> = candidates
            .iter()
            .filter_map(|&i| quality(i).map(|q| (i, q, cost(i))))
            .collect();
        if scored.is_empty() {
            return None;
        }
        let clear = scored
            .iter()
            .filter(|s| s.1 >= min_quality)
            .min_by(|a, b| a.2.total_cmp(&b.2));
        let (chosen, q, cleared) = match clear {
            Some(s) => (s.0, s.1, true),
            None => scored
                .iter()
                .max_by(|a, b| a.1.total_cmp(&b.1))
                .map(|s| (s.0, s.1, false))?,
        };
        // Chosen first; fallbacks by predicted quality (unevaluated ones last, in order).
        let q_of = |i: usize| scored.iter().find(|s| s.0 == i).map_or(f64::MIN, |s| s.1);
        candidates.sort_by(|&a, &b| {
            (b == chosen)
                .cmp(&(a == chosen))
                .then(q_of(b).total_cmp(&q_of(a)))
        });
        Some(Pick {
            model: chosen,
            predicted: q,
            cleared,
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
        plan.candidate_names = cands.iter().map(|&i| self.models[i].name.clone()).collect();
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
            plan.route, self.models[p.model].name, p.predicted
        );
    }
}
