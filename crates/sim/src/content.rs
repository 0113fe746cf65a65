//! Deterministic content: prompt token counts, answers, tool arguments, JSON answers, logprobs
//! and embeddings. Everything here is a pure function of its inputs.

use serde_json::{Map, Value, json};

use crate::config::ModelConfig;
use crate::state::{fnv, fnv_extend, mix};

/// Words used when the prompt has none, and as top-logprob alternatives.
const VOCAB: &[&str] = &[
    "switch", "yard", "signal", "track", "route", "model", "token", "answer", "cheap", "fast",
    "good", "enough", "cache", "budget", "latency", "quality",
];

/// `ceil(chars / 4)`: the documented token estimate used for every count in the simulator.
pub fn est_tokens(s: &str) -> u32 {
    let chars = s.chars().count();
    u32::try_from(chars.div_ceil(4)).unwrap_or(u32::MAX)
}

/// What the simulator retains of a request's input.
#[derive(Debug, Clone, Default)]
pub struct PromptInfo {
    pub tokens: u32,
    pub hash: u64,
    pub user_texts: Vec<String>,
    /// Set when the last message is a tool result: its text.
    pub tool_result: Option<String>,
}

impl PromptInfo {
    pub fn last_user(&self) -> &str {
        self.user_texts.last().map(String::as_str).unwrap_or("")
    }
}

pub struct PromptBuilder {
    info: PromptInfo,
}

impl PromptBuilder {
    /// The hash covers the model and the request seed, so two models (or two seeds) answer the
    /// same prompt differently while one model always answers it the same way.
    pub fn new(model: &str, seed: Option<i64>) -> Self {
        let mut h = fnv(model.as_bytes());
        if let Some(s) = seed {
            h = fnv_extend(h, &s.to_le_bytes());
        }
        PromptBuilder {
            info: PromptInfo {
                hash: h,
                ..PromptInfo::default()
            },
        }
    }

    /// One message (system prompts count as one): `ceil(chars/4) + 4` tokens.
    pub fn message(&mut self, is_user: bool, text: &str) {
        self.info.tokens = self.info.tokens.saturating_add(est_tokens(text) + 4);
        self.info.hash = fnv_extend(self.info.hash, text.as_bytes());
        self.info.hash = fnv_extend(self.info.hash, &[0xff]);
        if is_user {
            self.info.user_texts.push(text.to_owned());
        }
    }

    /// Tool definitions, schemas: `ceil(chars/4)`, no per-message overhead.
    pub fn extra(&mut self, text: &str) {
        self.info.tokens = self.info.tokens.saturating_add(est_tokens(text));
        self.info.hash = fnv_extend(self.info.hash, text.as_bytes());
    }

    pub fn finish(mut self, tool_result: Option<String>) -> PromptInfo {
        self.info.tool_result = tool_result;
        self.info
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    Text,
    JsonObject,
    JsonSchema(Value),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finish {
    Stop,
    Length,
    StopSequence(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct TextOut {
    pub tokens: Vec<String>,
    pub finish: Finish,
}

impl TextOut {
    pub fn text(&self) -> String {
        self.tokens.concat()
    }
    pub fn count(&self) -> u32 {
        u32::try_from(self.tokens.len()).unwrap_or(u32::MAX)
    }
}

fn clean_words(text: &str) -> Vec<&str> {
    text.split_whitespace()
        .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric()))
        .filter(|w| !w.is_empty())
        .take(64)
        .collect()
}

/// The full answer before stop sequences and max_tokens apply.
pub fn answer_tokens(
    model: &ModelConfig,
    prompt: &PromptInfo,
    choice: u32,
    shape: &Shape,
) -> Vec<String> {
    let head = format!("[{}]", model.name);
    if let Some(result) = &prompt.tool_result {
        let mut out = vec![head, " tool".into(), " result:".into()];
        out.extend(clean_words(result).iter().map(|w| format!(" {w}")));
        return out;
    }
    match shape {
        Shape::JsonObject => {
            let words = generated_words(model, prompt, choice);
            json_tokens(&json!({ "answer": format!("{head}{}", words.concat()) }))
        }
        Shape::JsonSchema(schema) => json_tokens(&synth(schema, true, 0)),
        Shape::Text => {
            if let Some(fixed) = &model.answer {
                return split_keep_space(fixed);
            }
            let mut out = Vec::with_capacity(model.output_tokens as usize);
            out.push(head);
            out.extend(generated_words(model, prompt, choice));
            out
        }
    }
}

fn generated_words(model: &ModelConfig, prompt: &PromptInfo, choice: u32) -> Vec<String> {
    let words = clean_words(prompt.last_user());
    let pool: &[&str] = if words.is_empty() { VOCAB } else { &words };
    let base = prompt.hash ^ u64::from(choice).wrapping_mul(0x9e37_79b9);
    (1..model.output_tokens.max(1))
        .map(|i| {
            let idx = (mix(base ^ u64::from(i)) % pool.len() as u64) as usize;
            format!(" {}", pool[idx])
        })
        .collect()
}

/// Each word keeps its leading whitespace, so concatenating the tokens gives the text back.
pub fn split_keep_space(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut in_word = false;
    for (i, c) in text.char_indices() {
        if c.is_whitespace() && in_word {
            out.push(text[start..i].to_owned());
            start = i;
            in_word = false;
        } else if !c.is_whitespace() {
            in_word = true;
        }
    }
    if start < text.len() {
        out.push(text[start..].to_owned());
    }
    out
}

/// JSON text in 4-character tokens.
fn json_tokens(v: &Value) -> Vec<String> {
    let s = v.to_string();
    let chars: Vec<char> = s.chars().collect();
    chars.chunks(4).map(|c| c.iter().collect()).collect()
}

/// Applies stop sequences (earliest match wins; a token straddling it is cut) and then max_tokens.
pub fn limit(mut tokens: Vec<String>, stop: &[String], max_tokens: Option<u32>) -> TextOut {
    let mut finish = Finish::Stop;
    let full: String = tokens.concat();
    let hit = stop
        .iter()
        .filter(|s| !s.is_empty())
        .filter_map(|s| full.find(s.as_str()).map(|i| (i, s)))
        .min_by_key(|(i, _)| *i);
    if let Some((at, seq)) = hit {
        let mut kept = Vec::new();
        let mut pos = 0;
        for t in tokens.drain(..) {
            if pos + t.len() <= at {
                pos += t.len();
                kept.push(t);
            } else {
                if at > pos {
                    kept.push(t[..at - pos].to_owned());
                }
                break;
            }
        }
        tokens = kept;
        finish = Finish::StopSequence(seq.clone());
    }
    if let Some(max) = max_tokens
        && tokens.len() > max as usize
    {
        tokens.truncate(max as usize);
        finish = Finish::Length;
    }
    TextOut { tokens, finish }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ToolOut {
    pub name: String,
    /// Arguments as compact JSON text.
    pub args: String,
    /// Completion tokens charged for the call: `ceil((chars(name) + chars(args)) / 4)`, at least 1.
    pub tokens: u32,
}

pub fn tool_call(name: &str, schema: &Value) -> ToolOut {
    let args = synth(schema, false, 0).to_string();
    let tokens = (est_tokens(name) + est_tokens(&args)).max(1);
    ToolOut {
        name: name.to_owned(),
        args,
        tokens,
    }
}

/// Splits `s` into `parts` pieces at char boundaries (fewer when `s` is short).
pub fn fragments(s: &str, parts: usize) -> Vec<&str> {
    let size = s.len().div_ceil(parts.max(1)).max(1);
    let mut out = Vec::with_capacity(parts);
    let mut start = 0;
    while start < s.len() {
        let mut end = (start + size).min(s.len());
        while !s.is_char_boundary(end) {
            end += 1;
        }
        out.push(&s[start..end]);
        start = end;
    }
    out
}

/// `prefix` + `len` alphanumerics derived from `seed`.
pub fn make_id(prefix: &str, seed: u64, len: usize) -> String {
    const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut s = String::with_capacity(prefix.len() + len);
    s.push_str(prefix);
    for i in 0..len {
        let x = mix(seed ^ (i as u64).wrapping_mul(0x1000_0000_01b3));
        s.push(ALNUM[(x % ALNUM.len() as u64) as usize] as char);
    }
    s
}

/// A value that conforms to a JSON schema (also Google's upper-case OpenAPI subset). Objects
/// get their required properties, or every property when `all_if_none_required` and none are.
pub fn synth(schema: &Value, all_if_none_required: bool, depth: u32) -> Value {
    if depth > 8 {
        return Value::Null;
    }
    if let Some(v) = schema.get("const") {
        return v.clone();
    }
    if let Some(first) = schema
        .get("enum")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
    {
        return first.clone();
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        if let Some(first) = schema
            .get(key)
            .and_then(Value::as_array)
            .and_then(|a| a.first())
        {
            return synth(first, all_if_none_required, depth + 1);
        }
    }
    let ty = match schema.get("type") {
        Some(Value::String(s)) => s.to_ascii_lowercase(),
        // ["string", "null"]: the first non-null type
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or("null")
            .to_ascii_lowercase(),
        _ if schema.get("properties").is_some() => "object".into(),
        _ if schema.get("items").is_some() => "array".into(),
        _ => "object".into(),
    };
    match ty.as_str() {
        "string" => json!("example"),
        "number" | "integer" => json!(1),
        "boolean" => json!(true),
        "null" => Value::Null,
        "array" => {
            let item = schema
                .get("items")
                .cloned()
                .unwrap_or(json!({"type": "string"}));
            json!([synth(&item, all_if_none_required, depth + 1)])
        }
        _ => {
            let mut out = Map::new();
            let props = schema.get("properties").and_then(Value::as_object);
            let required: Vec<&str> = schema
                .get("required")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if let Some(props) = props {
                let all = required.is_empty() && all_if_none_required;
                for (k, sub) in props {
                    if all || required.contains(&k.as_str()) {
                        out.insert(k.clone(), synth(sub, all_if_none_required, depth + 1));
                    }
                }
            }
            for r in required {
                if !out.contains_key(r) {
                    out.insert(r.to_owned(), json!("example"));
                }
            }
            Value::Object(out)
        }
    }
}

/// Per-token logprob in [-2.0, -0.001], a function of model and token only.
pub fn logprob(model_hash: u64, token: &str) -> f64 {
    let x = mix(model_hash ^ fnv(token.as_bytes())) % 2000;
    -((x as f64 + 1.0) / 1000.0)
}

/// `k` top alternatives: the chosen token first, then vocabulary words with lower logprobs.
pub fn top_alternatives(token: &str, lp: f64, k: u32) -> Vec<(String, f64)> {
    let mut out = Vec::with_capacity(k as usize);
    if k == 0 {
        return out;
    }
    out.push((token.to_owned(), lp));
    let h = fnv(token.as_bytes());
    for i in 1..k {
        let w = VOCAB[((h as usize) + i as usize) % VOCAB.len()];
        out.push((format!(" {w}"), lp - 0.25 - 0.5 * f64::from(i)));
    }
    out
}

/// Bag-of-words feature hashing, L2-normalised: texts sharing words get high cosine similarity,
/// which semantic-cache tests rely on.
pub fn embedding(text: &str, dims: usize) -> Vec<f32> {
    let dims = dims.max(1);
    let mut v = vec![0f32; dims];
    for w in clean_words(text) {
        let h = fnv(w.to_lowercase().as_bytes());
        for salt in [h, mix(h)] {
            let sign = if salt >> 63 == 0 { 1.0 } else { -1.0 };
            v[(salt % dims as u64) as usize] += sign;
        }
    }
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    } else {
        v[0] = 1.0;
    }
    v
}

#[cfg(test)]
#[path = "content_tests.rs"]
mod tests;
