//! Replay of recorded outcomes (routing-data layout): a chat request for a recorded model is
//! answered with that model's recorded response and token counts.

use std::collections::HashMap;
use std::path::Path;

use http::request::Parts;
use serde::Deserialize;
use serde_json::Value;

use crate::config::{Confidence, ReplayConfig, Wire};
use crate::content::{Finish, split_keep_space};
use crate::http::{HandlerResult, Pacing, openai_error};
use crate::openai::{Answer, Out, check_bearer, lp_entry, now_unix, respond};
use crate::server::{App, Mode};
use crate::state::{fnv, fnv_extend};

#[derive(Deserialize)]
struct PromptLine {
    prompt_id: String,
    turns: Vec<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Recorded {
    One(String),
    Turns(Vec<Option<String>>),
}

#[derive(Deserialize)]
struct OutcomeLine {
    prompt_id: String,
    model: String,
    score: Option<f64>,
    prompt_tokens: Option<u32>,
    completion_tokens: Option<u32>,
    #[serde(default)]
    prompt_tokens_est: u32,
    #[serde(default)]
    completion_tokens_est: u32,
    response: Option<Recorded>,
}

struct Outcome {
    response: Option<Recorded>,
    prompt_tokens: u32,
    completion_tokens: u32,
    score: Option<f64>,
}

pub struct Replay {
    ids: HashMap<Box<str>, u32>,
    by_text: HashMap<Box<str>, u32>,
    prompt_ids: Vec<Box<str>>,
    models: Vec<Box<str>>,
    model_idx: HashMap<Box<str>, u16>,
    outcomes: HashMap<(u32, u16), Outcome>,
    pacing: Pacing,
    conf: Confidence,
}

fn io_err(path: &Path, line: usize, e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("{}:{line}: {e}", path.display()),
    )
}

fn parse_lines<T: for<'de> Deserialize<'de>>(path: &Path) -> std::io::Result<Vec<T>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| serde_json::from_str(l).map_err(|e| io_err(path, i + 1, e)))
        .collect()
}

impl Replay {
    /// Parses both files once (in parallel); about 28 MB for the shipped dev split.
    pub fn load(cfg: &ReplayConfig) -> std::io::Result<Replay> {
        let (prompts, outcomes) = std::thread::scope(|s| {
            let p = s.spawn(|| parse_lines::<PromptLine>(&cfg.dir.join("prompts.jsonl")));
            let o = parse_lines::<OutcomeLine>(&cfg.dir.join("outcomes.jsonl"));
            let p = p
                .join()
                .unwrap_or_else(|_| Err(std::io::Error::other("prompt loader panicked")));
            (p, o)
        });
        let (prompts, outcomes) = (prompts?, outcomes?);
        let mut r = Replay {
            ids: HashMap::with_capacity(prompts.len()),
            by_text: HashMap::with_capacity(prompts.len() * 2),
            prompt_ids: Vec::with_capacity(prompts.len()),
            models: Vec::new(),
            model_idx: HashMap::new(),
            outcomes: HashMap::with_capacity(outcomes.len()),
            pacing: Pacing::new(cfg.ttft_ms, cfg.tokens_per_s),
            conf: cfg.confidence.clone(),
        };
        for (i, p) in prompts.into_iter().enumerate() {
            let idx = u32::try_from(i).map_err(|_| std::io::Error::other("too many prompts"))?;
            r.by_text.insert(p.turns.join("\n\n").into(), idx);
            // A multi-turn conversation opens with its first turn alone.
            if p.turns.len() > 1 {
                r.by_text.entry(p.turns[0].as_str().into()).or_insert(idx);
            }
            r.ids.insert(p.prompt_id.as_str().into(), idx);
            r.prompt_ids.push(p.prompt_id.into());
        }
        for o in outcomes {
            let Some(&p) = r.ids.get(o.prompt_id.as_str()) else {
                continue;
            };
            let m = match r.model_idx.get(o.model.as_str()) {
                Some(m) => *m,
                None => {
                    let m = u16::try_from(r.models.len())
                        .map_err(|_| std::io::Error::other("too many replay models"))?;
                    r.models.push(o.model.as_str().into());
                    r.model_idx.insert(o.model.into(), m);
                    m
                }
            };
            r.outcomes.insert(
                (p, m),
                Outcome {
                    response: o.response,
                    prompt_tokens: o.prompt_tokens.unwrap_or(o.prompt_tokens_est),
                    completion_tokens: o.completion_tokens.unwrap_or(o.completion_tokens_est),
                    score: o.score,
                },
            );
        }
        Ok(r)
    }

    pub fn has_model(&self, model: &str) -> bool {
        self.model_idx.contains_key(model)
    }

    pub fn model_names(&self) -> impl Iterator<Item = &str> {
        self.models.iter().map(|m| &**m)
    }

    pub fn prompt_count(&self) -> usize {
        self.prompt_ids.len()
    }

    /// The synthetic confidence of a recorded answer: a Beta draw, parameters chosen by whether
    /// the recorded score counts as correct (score >= 0.5), seeded by (seed, prompt, model).
    pub fn confidence(&self, prompt_id: &str, model: &str) -> Option<f64> {
        let p = *self.ids.get(prompt_id)?;
        let m = *self.model_idx.get(model)?;
        let o = self.outcomes.get(&(p, m))?;
        let [a, b] = if o.score.is_some_and(|s| s >= 0.5) {
            self.conf.correct
        } else {
            self.conf.wrong
        };
        let seed = fnv_extend(fnv(prompt_id.as_bytes()), model.as_bytes()) ^ self.conf.seed;
        Some(beta(&mut fastrand::Rng::with_seed(seed), a, b))
    }
}

/// Marsaglia-Tsang gamma sampler (with the a < 1 boost), normal draws by Box-Muller.
fn gamma(rng: &mut fastrand::Rng, a: f64) -> f64 {
    if a < 1.0 {
        let u = rng.f64().max(f64::MIN_POSITIVE);
        return gamma(rng, a + 1.0) * u.powf(1.0 / a);
    }
    let d = a - 1.0 / 3.0;
    let c = 1.0 / (9.0 * d).sqrt();
    loop {
        let (u1, u2) = (rng.f64().max(f64::MIN_POSITIVE), rng.f64());
        let x = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
        let v = (1.0 + c * x).powi(3);
        if v <= 0.0 {
            continue;
        }
        let u = rng.f64().max(f64::MIN_POSITIVE);
        if u.ln() < 0.5 * x * x + d - d * v + d * v.ln() {
            return d * v;
        }
    }
}

fn beta(rng: &mut fastrand::Rng, a: f64, b: f64) -> f64 {
    let x = gamma(rng, a.max(1e-3));
    let y = gamma(rng, b.max(1e-3));
    (x / (x + y)).clamp(1e-6, 1.0 - 1e-6)
}

fn not_available(msg: &str) -> crate::http::Resp {
    openai_error(
        404,
        "invalid_request_error",
        msg,
        Some("model"),
        Some("model_not_found"),
    )
}

fn user_texts(req: &Value) -> Vec<String> {
    req.get("messages")
        .and_then(Value::as_array)
        .map(|ms| {
            ms.iter()
                .filter(|m| m.get("role").and_then(Value::as_str) == Some("user"))
                .map(|m| match m.get("content") {
                    Some(Value::String(s)) => s.clone(),
                    Some(Value::Array(parts)) => parts
                        .iter()
                        .filter_map(|p| p.get("text").and_then(Value::as_str))
                        .collect(),
                    _ => String::new(),
                })
                .collect()
        })
        .unwrap_or_default()
}

pub async fn chat(
    app: &App,
    replay: &Replay,
    parts: &Parts,
    req: &Value,
    model: &str,
    stream: bool,
) -> HandlerResult {
    if let Err(r) = check_bearer(parts, None) {
        app.stats.record(model, stream, "401");
        return Ok(r);
    }
    let id = app.next_id("chatcmpl-replay");
    let mode = match app
        .fault(
            Wire::Openai,
            model,
            crate::openai::bearer(parts),
            stream,
            &id,
        )
        .await
    {
        Ok(m) => m,
        Err(r) => return r,
    };
    let users = user_texts(req);
    let header = parts
        .headers
        .get("x-heldout-prompt-id")
        .and_then(|v| v.to_str().ok());
    let prompt = match header {
        Some(h) => replay.ids.get(h).copied(),
        None => replay
            .by_text
            .get(users.join("\n\n").as_str())
            .or_else(|| users.first().and_then(|u| replay.by_text.get(u.as_str())))
            .copied(),
    };
    let Some(p) = prompt else {
        app.stats.record(model, stream, "404");
        return Ok(not_available(
            "prompt not found in replay data (send x-heldout-prompt-id or the prompt's turns joined by blank lines)",
        ));
    };
    let m = replay.model_idx.get(model).copied().unwrap_or(u16::MAX);
    let Some(o) = replay.outcomes.get(&(p, m)) else {
        app.stats.record(model, stream, "404");
        return Ok(not_available("model not available for this prompt"));
    };
    let text = match &o.response {
        None => "",
        Some(Recorded::One(s)) => s.as_str(),
        Some(Recorded::Turns(t)) => {
            let k = users.len().clamp(1, t.len().max(1)) - 1;
            t.get(k).and_then(|s| s.as_deref()).unwrap_or("")
        }
    };
    let tokens = split_keep_space(text);
    let wants_lp = req.get("logprobs").and_then(Value::as_bool) == Some(true);
    let logprobs = wants_lp.then(|| {
        let top = req
            .get("top_logprobs")
            .and_then(Value::as_u64)
            .unwrap_or(0)
            .min(20) as u32;
        let c = replay
            .confidence(&replay.prompt_ids[p as usize], model)
            .unwrap_or(0.5);
        tokens.iter().map(|t| lp_entry(t, c.ln(), top)).collect()
    });
    let include_usage = req
        .get("stream_options")
        .and_then(|s| s.get("include_usage"))
        .and_then(Value::as_bool)
        == Some(true);
    app.stats.record(model, stream, mode.label());
    let answer = Answer {
        id,
        model: model.to_owned(),
        created: now_unix(),
        choices: vec![Out::Text {
            tokens,
            finish: Finish::Stop,
            logprobs,
        }],
        prompt_tokens: o.prompt_tokens,
        completion_tokens: o.completion_tokens,
        cached_tokens: 0,
        flavor: None,
        pacing: if mode == Mode::Drip {
            replay.pacing.drip()
        } else {
            replay.pacing
        },
    };
    Ok(respond(answer, stream, include_usage, mode).await)
}
