//! One chat request through a Switchyard gateway, reduced to what evaluation needs.

use std::time::Instant;

use serde_json::{Value, json};

use crate::EvalError;

#[derive(Debug, Clone, Default)]
pub struct Answer {
    /// `x-switchyard-model`: who actually answered.
    pub model: String,
    pub text: String,
    /// `usage.cost` (all attempts); None when the gateway reported it unknown.
    pub cost: Option<f64>,
    pub latency_ms: f64,
    /// 10th percentile of per-token probability, when logprobs were returned.
    pub confidence: Option<f64>,
    pub attempts: String,
}

pub struct Client {
    pub http: reqwest::Client,
    pub base: String,
    pub key: Option<String>,
}

impl Client {
    pub fn new(base: &str, key: Option<String>) -> Client {
        Client {
            http: reqwest::Client::new(),
            base: base.trim_end_matches('/').to_owned(),
            key,
        }
    }

    /// Ask `model` (a model or route). `headers`: extra request headers (task, prompt id).
    pub async fn ask(
        &self,
        model: &str,
        prompt: &str,
        logprobs: bool,
        headers: &[(&str, &str)],
    ) -> Result<Answer, EvalError> {
        self.ask_turns(model, &[prompt.to_owned()], logprobs, headers)
            .await
    }

    /// Each turn is one user message (a recorded multi-turn prompt is replayed as such).
    pub async fn ask_turns(
        &self,
        model: &str,
        turns: &[String],
        logprobs: bool,
        headers: &[(&str, &str)],
    ) -> Result<Answer, EvalError> {
        let msgs: Vec<Value> = turns
            .iter()
            .map(|t| json!({"role": "user", "content": t}))
            .collect();
        let mut body = json!({"model": model, "messages": msgs});
        if logprobs {
            body["logprobs"] = json!(true);
        }
        let t0 = Instant::now();
        let mut rb = self
            .http
            .post(format!("{}/v1/chat/completions", self.base))
            .json(&body);
        if let Some(k) = &self.key {
            rb = rb.bearer_auth(k);
        }
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        let r = rb
            .send()
            .await
            .map_err(|e| EvalError::Gateway(e.to_string()))?;
        let status = r.status();
        let h = r.headers().clone();
        let v: Value = r
            .json()
            .await
            .map_err(|e| EvalError::Gateway(e.to_string()))?;
        if !status.is_success() {
            return Err(EvalError::Gateway(format!(
                "{status} from {model}: {}",
                v["error"]["message"].as_str().unwrap_or("")
            )));
        }
        let hs = |k: &str| {
            h.get(k)
                .and_then(|x| x.to_str().ok())
                .unwrap_or("")
                .to_owned()
        };
        let confidence = v["choices"][0]["logprobs"]["content"]
            .as_array()
            .and_then(|toks| {
                let mut p: Vec<f64> = toks
                    .iter()
                    .filter_map(|t| t["logprob"].as_f64().map(f64::exp))
                    .collect();
                if p.is_empty() {
                    return None;
                }
                p.sort_by(f64::total_cmp);
                Some(p[((p.len() - 1) as f64 * 0.1).floor() as usize])
            });
        Ok(Answer {
            model: hs("x-switchyard-model"),
            text: v["choices"][0]["message"]["content"]
                .as_str()
                .unwrap_or("")
                .to_owned(),
            cost: v["usage"]["cost"].as_f64(),
            latency_ms: t0.elapsed().as_secs_f64() * 1000.0,
            confidence,
            attempts: hs("x-switchyard-attempts"),
        })
    }
}
