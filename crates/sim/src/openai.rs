//! The OpenAI wire (and OpenAI-compatible flavors): chat completions in JSON and SSE,
//! embeddings, model list.

use bytes::{BufMut, Bytes, BytesMut};
use http::request::Parts;
use http::{HeaderValue, StatusCode};
use serde_json::{Value, json};
use switchyard_core::sse::{DONE_FRAME, data_frame};

use crate::config::{Flavor, ModelConfig, Wire};
use crate::content::{
    Finish, ToolOut, answer_tokens, embedding, fragments, limit, logprob, make_id, tool_call,
    top_alternatives,
};
use crate::http::{
    HandlerResult, Pacing, Piece, Resp, StreamPlan, json_response, openai_error, status_label,
    stream_response,
};
use crate::openai_req::{ChatReq, bad, embed_input_tokens, parse_chat};
use crate::server::{App, Mode, ModelEntry};

pub enum Out {
    Text {
        tokens: Vec<String>,
        finish: Finish,
        /// One OpenAI logprob entry per token, when requested.
        logprobs: Option<Vec<Value>>,
    },
    Tool {
        id: String,
        call: ToolOut,
    },
}

/// Everything needed to render one chat completion, JSON or streamed.
pub struct Answer {
    pub id: String,
    pub model: String,
    pub created: u64,
    pub choices: Vec<Out>,
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
    pub cached_tokens: u32,
    pub flavor: Option<Flavor>,
    pub pacing: Pacing,
}

pub fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

pub fn model_not_found(model: &str) -> Resp {
    openai_error(
        404,
        "invalid_request_error",
        &format!("The model `{model}` does not exist or you do not have access to it."),
        None,
        Some("model_not_found"),
    )
}

/// The bearer token of an OpenAI-style request, if any.
pub fn bearer(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
}

pub fn check_bearer(parts: &Parts, cfg: Option<&ModelConfig>) -> Result<(), Resp> {
    let key = bearer(parts).unwrap_or("");
    if key.is_empty() {
        return Err(openai_error(
            401,
            "invalid_request_error",
            "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            None,
            None,
        ));
    }
    if let Some(keys) = cfg.and_then(|c| c.keys.as_ref())
        && !keys.iter().any(|k| k == key)
    {
        return Err(openai_error(
            401,
            "invalid_request_error",
            "Incorrect API key provided. You can find your API key in your provider's dashboard.",
            None,
            Some("invalid_api_key"),
        ));
    }
    Ok(())
}

pub fn lp_entry(token: &str, lp: f64, top: u32) -> Value {
    let tops: Vec<Value> = top_alternatives(token, lp, top)
        .into_iter()
        .map(|(t, l)| json!({"token": t, "logprob": l, "bytes": t.as_bytes()}))
        .collect();
    json!({"token": token, "logprob": lp, "bytes": token.as_bytes(), "top_logprobs": tops})
}

pub async fn chat(app: &App, parts: &Parts, body: &[u8]) -> HandlerResult {
    let req: Value = match serde_json::from_slice(body) {
        Ok(v @ Value::Object(_)) => v,
        _ => {
            return Ok(bad(
                "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly.)",
                None,
            ));
        }
    };
    let Some(model) = req.get("model").and_then(Value::as_str).map(str::to_owned) else {
        return Ok(bad("you must provide a model parameter", Some("model")));
    };
    let stream = req.get("stream").and_then(Value::as_bool).unwrap_or(false);
    if let Some(replay) = &app.replay
        && !app.models.contains_key(&model)
        && replay.has_model(&model)
    {
        return crate::replay::chat(app, replay, parts, &req, &model, stream).await;
    }
    let Some(entry) = app.model(&model, Wire::Openai) else {
        app.stats.record(&model, stream, "404");
        return Ok(model_not_found(&model));
    };
    if let Err(r) = check_bearer(parts, Some(&entry.cfg)) {
        app.stats.record(&model, stream, "401");
        return Ok(r);
    }
    let id = app.next_id("chatcmpl-sim");
    let mode = match app
        .fault(Wire::Openai, &model, bearer(parts), stream, &id)
        .await
    {
        Ok(m) => m,
        Err(r) => return r,
    };
    let cr = match parse_chat(&req, &entry.cfg) {
        Ok(c) => c,
        Err(r) => {
            app.stats.record(&model, stream, status_label(r.status()));
            return Ok(r);
        }
    };
    let answer = build_answer(&entry, &cr, id, mode);
    app.stats.record(&model, stream, mode.label());
    Ok(respond(answer, cr.stream, cr.include_usage, mode).await)
}

fn build_answer(entry: &ModelEntry, cr: &ChatReq, id: String, mode: Mode) -> Answer {
    let cfg = &entry.cfg;
    let mut choices = Vec::with_capacity(cr.n as usize);
    let mut completion = 0;
    for i in 0..cr.n {
        let out = if let Some((name, schema)) = &cr.tool {
            let seed = cr.prompt.hash ^ u64::from(i);
            let id = if cfg.flavor == Some(Flavor::Mistral) {
                make_id("", seed, 9)
            } else {
                make_id("call_", seed, 24)
            };
            let call = tool_call(name, schema);
            completion += call.tokens;
            Out::Tool { id, call }
        } else {
            let t = limit(
                answer_tokens(cfg, &cr.prompt, i, &cr.shape),
                &cr.stop,
                cr.max_tokens,
            );
            completion += t.count();
            let logprobs = cr.logprobs.map(|k| {
                t.tokens
                    .iter()
                    .map(|tok| lp_entry(tok, logprob(entry.hash, tok), k))
                    .collect()
            });
            Out::Text {
                tokens: t.tokens,
                finish: t.finish,
                logprobs,
            }
        };
        choices.push(out);
    }
    let pacing = Pacing::new(cfg.ttft_ms, cfg.tokens_per_s);
    Answer {
        id,
        model: cfg.name.clone(),
        created: now_unix(),
        choices,
        prompt_tokens: cr.prompt.tokens,
        completion_tokens: completion,
        cached_tokens: cfg.cached_prompt_tokens.min(cr.prompt.tokens),
        flavor: cfg.flavor,
        pacing: if mode == Mode::Drip {
            pacing.drip()
        } else {
            pacing
        },
    }
}

pub async fn respond(a: Answer, stream: bool, include_usage: bool, mode: Mode) -> Resp {
    let mut r = if stream {
        let cut_after = match mode {
            Mode::Cut(n) => Some(n),
            _ => None,
        };
        stream_response(stream_plan(&a, include_usage, cut_after))
    } else {
        let longest = a.choices.iter().map(out_tokens).max().unwrap_or(0);
        a.pacing.wait_total(longest).await;
        json_response(StatusCode::OK, &json_body(&a))
    };
    if let Ok(v) = HeaderValue::from_str(&a.id) {
        r.headers_mut().insert("x-request-id", v);
    }
    r
}

fn out_tokens(o: &Out) -> u32 {
    match o {
        Out::Text { tokens, .. } => u32::try_from(tokens.len()).unwrap_or(u32::MAX),
        Out::Tool { call, .. } => call.tokens,
    }
}

fn finish_str(o: &Out) -> &'static str {
    match o {
        Out::Text {
            finish: Finish::Length,
            ..
        } => "length",
        Out::Text { .. } => "stop",
        Out::Tool { .. } => "tool_calls",
    }
}

pub fn usage_json(a: &Answer) -> Value {
    let (p, c) = (a.prompt_tokens, a.completion_tokens);
    let mut u = json!({
        "prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c,
        "prompt_tokens_details": {"cached_tokens": a.cached_tokens, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
            "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0},
    });
    if a.flavor == Some(Flavor::Deepseek) {
        u["prompt_cache_hit_tokens"] = json!(a.cached_tokens);
        u["prompt_cache_miss_tokens"] = json!(p - a.cached_tokens);
    }
    u
}

fn json_body(a: &Answer) -> Value {
    let choices: Vec<Value> = a
        .choices
        .iter()
        .enumerate()
        .map(|(i, o)| {
            let (message, logprobs) = match o {
                Out::Text {
                    tokens, logprobs, ..
                } => (
                    json!({"role": "assistant", "content": tokens.concat(), "refusal": null}),
                    logprobs
                        .as_ref()
                        .map(|l| json!({"content": l, "refusal": null}))
                        .unwrap_or(Value::Null),
                ),
                Out::Tool { id, call } => (
                    json!({"role": "assistant", "content": null, "refusal": null, "tool_calls": [
                        {"id": id, "type": "function", "function": {"name": call.name, "arguments": call.args}}]}),
                    Value::Null,
                ),
            };
            json!({"index": i, "message": message, "logprobs": logprobs, "finish_reason": finish_str(o)})
        })
        .collect();
    json!({
        "id": a.id, "object": "chat.completion", "created": a.created, "model": a.model,
        "system_fingerprint": "fp_sim", "service_tier": "default",
        "choices": choices, "usage": usage_json(a),
    })
}

/// Chunks share a pre-serialised prefix; only the choices and the tail vary.
struct ChunkWriter {
    prefix: Vec<u8>,
    usage_null: bool,
}

impl ChunkWriter {
    fn frame(&self, choices: &Value, tail: Option<(&str, &Value)>) -> Bytes {
        let mut b = BytesMut::with_capacity(self.prefix.len() + 160);
        b.put_slice(&self.prefix);
        let mut w = b.writer();
        let _ = serde_json::to_writer(&mut w, choices);
        let mut b = w.into_inner();
        match tail {
            Some((key, v)) => {
                b.put_slice(b",\"");
                b.put_slice(key.as_bytes());
                b.put_slice(b"\":");
                let mut w = b.writer();
                let _ = serde_json::to_writer(&mut w, v);
                b = w.into_inner();
            }
            None if self.usage_null => b.put_slice(b",\"usage\":null"),
            None => {}
        }
        b.put_u8(b'}');
        data_frame(&b)
    }
}

fn stream_plan(a: &Answer, include_usage: bool, cut_after: Option<u32>) -> StreamPlan {
    let head = json!({"id": a.id, "object": "chat.completion.chunk", "created": a.created,
                      "model": a.model, "system_fingerprint": "fp_sim"})
    .to_string();
    // `{...,"system_fingerprint":"fp_sim"` + `,"choices":`
    let mut prefix = head.into_bytes();
    prefix.pop();
    prefix.extend_from_slice(b",\"choices\":");
    let w = ChunkWriter {
        prefix,
        usage_null: include_usage,
    };
    let mut pieces = Vec::new();
    let choice = |i: usize, delta: Value, logprobs: Value, finish: Value| json!([{"index": i, "delta": delta, "logprobs": logprobs, "finish_reason": finish}]);
    let frags: Vec<Vec<&str>> = a
        .choices
        .iter()
        .map(|o| match o {
            Out::Tool { call, .. } => fragments(&call.args, 3),
            Out::Text { .. } => Vec::new(),
        })
        .collect();
    for (i, o) in a.choices.iter().enumerate() {
        let delta = match o {
            Out::Text { .. } => json!({"role": "assistant", "content": ""}),
            Out::Tool { id, call } => json!({"role": "assistant", "content": null, "tool_calls": [
                {"index": 0, "id": id, "type": "function", "function": {"name": call.name, "arguments": ""}}]}),
        };
        pieces.push(Piece::new(
            w.frame(&choice(i, delta, Value::Null, Value::Null), None),
            0,
        ));
    }
    let longest = a
        .choices
        .iter()
        .zip(&frags)
        .map(|(o, f)| match o {
            Out::Text { tokens, .. } => tokens.len(),
            Out::Tool { .. } => f.len(),
        })
        .max()
        .unwrap_or(0);
    for pos in 0..longest {
        for (i, o) in a.choices.iter().enumerate() {
            let c = match o {
                Out::Text {
                    tokens, logprobs, ..
                } => {
                    let Some(tok) = tokens.get(pos) else { continue };
                    let lp = logprobs
                        .as_ref()
                        .and_then(|l| l.get(pos))
                        .map(|e| json!({"content": [e], "refusal": null}))
                        .unwrap_or(Value::Null);
                    choice(i, json!({"content": tok}), lp, Value::Null)
                }
                Out::Tool { .. } => {
                    let Some(f) = frags[i].get(pos) else { continue };
                    let delta = json!({"tool_calls": [{"index": 0, "function": {"arguments": f}}]});
                    choice(i, delta, Value::Null, Value::Null)
                }
            };
            pieces.push(Piece::new(w.frame(&c, None), 1));
        }
    }
    let usage = usage_json(a);
    let last = a.choices.len().saturating_sub(1);
    for (i, o) in a.choices.iter().enumerate() {
        let c = choice(i, json!({}), Value::Null, json!(finish_str(o)));
        let groq;
        let tail = match a.flavor {
            // Mistral sends usage on the last chunk unasked; Groq inside `x_groq`.
            Some(Flavor::Mistral) if i == last => Some(("usage", &usage)),
            Some(Flavor::Groq) if i == last => {
                groq = json!({"id": format!("req_{}", a.id), "usage": usage});
                Some(("x_groq", &groq))
            }
            _ => None,
        };
        pieces.push(Piece::new(w.frame(&c, tail), 0));
    }
    if include_usage && a.flavor != Some(Flavor::Groq) {
        pieces.push(Piece::new(w.frame(&json!([]), Some(("usage", &usage))), 0));
    }
    pieces.push(Piece::new(Bytes::from_static(DONE_FRAME), 0));
    StreamPlan {
        pieces,
        pacing: a.pacing,
        keepalive: a.flavor == Some(Flavor::Deepseek),
        cut_after,
        content_type: "text/event-stream",
    }
}

pub async fn embeddings(app: &App, parts: &Parts, body: &[u8]) -> HandlerResult {
    let req: Value = match serde_json::from_slice(body) {
        Ok(v @ Value::Object(_)) => v,
        _ => {
            return Ok(bad(
                "We could not parse the JSON body of your request.",
                None,
            ));
        }
    };
    let model = req
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let Some(entry) = app.model(&model, Wire::Openai) else {
        app.stats.record(&model, false, "404");
        return Ok(model_not_found(&model));
    };
    if let Err(r) = check_bearer(parts, Some(&entry.cfg)) {
        app.stats.record(&model, false, "401");
        return Ok(r);
    }
    let id = app.next_id("req_");
    if let Err(r) = app
        .fault(Wire::Openai, &model, bearer(parts), false, &id)
        .await
    {
        return r;
    }
    let r = embed_answer(&req, &entry.cfg);
    app.stats.record(&model, false, status_label(r.status()));
    Ok(r)
}

fn embed_answer(req: &Value, cfg: &ModelConfig) -> Resp {
    let Some(dims) = cfg.embedding_dims else {
        return bad(
            &format!("The model `{}` does not support embeddings.", cfg.name),
            Some("model"),
        );
    };
    let obj = req
        .as_object()
        .map(|o| o.keys().cloned().collect::<Vec<_>>());
    for k in obj.unwrap_or_default() {
        if !["model", "input", "encoding_format", "dimensions", "user"].contains(&k.as_str()) {
            return bad(
                &format!("Unrecognized request argument supplied: {k}"),
                None,
            );
        }
    }
    let inputs: Vec<Value> = match req.get("input") {
        Some(Value::String(s)) => vec![Value::String(s.clone())],
        Some(Value::Array(a)) if !a.is_empty() && a.iter().all(Value::is_number) => {
            vec![Value::Array(a.clone())]
        }
        Some(Value::Array(a)) if !a.is_empty() => a.clone(),
        _ => {
            return bad(
                "'$.input' is invalid. Please check the API reference.",
                Some("input"),
            );
        }
    };
    if inputs.iter().any(|v| v.as_str() == Some("")) {
        return bad(
            "'$.input' is invalid. Please check the API reference.",
            Some("input"),
        );
    }
    let dims = match req.get("dimensions").and_then(Value::as_u64) {
        Some(d) if d >= 1 && d <= u64::from(dims) => d as usize,
        Some(_) => return bad("Invalid value for 'dimensions'.", Some("dimensions")),
        None => dims as usize,
    };
    let b64 = req.get("encoding_format").and_then(Value::as_str) == Some("base64");
    let mut tokens = 0;
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(i, v)| {
            tokens += embed_input_tokens(v);
            let text = v
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| v.to_string());
            let vec = embedding(&text, dims);
            let emb = if b64 {
                json!(switchyard_core::f32_base64(vec.iter().copied()))
            } else {
                json!(vec)
            };
            json!({"object": "embedding", "index": i, "embedding": emb})
        })
        .collect();
    json_response(
        StatusCode::OK,
        &json!({"object": "list", "data": data, "model": cfg.name,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}),
    )
}

pub fn models(app: &App) -> Resp {
    let mut data: Vec<Value> = app
        .config
        .models
        .iter()
        .filter(|m| m.wire == Wire::Openai)
        .map(|m| json!({"id": m.name, "object": "model", "created": 1_700_000_000, "owned_by": "switchyard-sim"}))
        .collect();
    if let Some(r) = &app.replay {
        data.extend(r.model_names().map(
            |m| json!({"id": m, "object": "model", "created": 1_700_000_000, "owned_by": "switchyard-sim-replay"}),
        ));
    }
    json_response(StatusCode::OK, &json!({"object": "list", "data": data}))
}
