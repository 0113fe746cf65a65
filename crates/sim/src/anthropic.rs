//! The Anthropic Messages wire: validation as strict as the real API, JSON and named-event SSE.

use std::sync::Arc;

use bytes::Bytes;
use http::StatusCode;
use http::request::Parts;
use serde_json::{Value, json};
use switchyard_core::sse::named_frame;

use crate::config::{ModelConfig, Wire};
use crate::content::{
    Finish, PromptBuilder, PromptInfo, Shape, ToolOut, answer_tokens, fragments, limit, make_id,
    tool_call,
};
use crate::http::{
    HandlerResult, Pacing, Piece, Resp, StreamPlan, anthropic_error, json_response, stream_response,
};
use crate::server::{App, Mode, ModelEntry};

const FIELDS: &[&str] = &[
    "model",
    "max_tokens",
    "messages",
    "system",
    "metadata",
    "stop_sequences",
    "stream",
    "temperature",
    "top_p",
    "top_k",
    "tools",
    "tool_choice",
    "thinking",
    "service_tier",
    "output_config",
    "output_format",
    "container",
    "mcp_servers",
    "context_management",
    "inference_geo",
    "cache_control",
];

struct MsgReq {
    prompt: PromptInfo,
    max_tokens: u32,
    stop: Vec<String>,
    shape: Shape,
    tool: Option<(String, Value)>,
    stream: bool,
}

/// The request key from `x-api-key` (or a bearer token).
fn request_key(parts: &Parts) -> String {
    parts
        .headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .or_else(|| {
            parts
                .headers
                .get(http::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
        })
        .unwrap_or("")
        .trim()
        .to_owned()
}

/// What Anthropic checks before it reads the body: a key, the version header, a known model
/// and a key that model accepts. `Err` is the response to send (already counted in stats).
fn admit(
    app: &App,
    parts: &Parts,
    req: &Value,
    rid: &str,
) -> Result<(String, String, bool, Arc<ModelEntry>), Resp> {
    let key = request_key(parts);
    let model = req
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let stream = req.get("stream").and_then(Value::as_bool).unwrap_or(false);
    if key.is_empty() {
        app.stats.record(&model, stream, "401");
        let m = "x-api-key header is required";
        return Err(anthropic_error(401, "authentication_error", m, rid));
    }
    if !parts.headers.contains_key("anthropic-version") {
        app.stats.record(&model, stream, "400");
        let m = "anthropic-version: header is required";
        return Err(anthropic_error(400, "invalid_request_error", m, rid));
    }
    let Some(entry) = app.model(&model, Wire::Anthropic) else {
        app.stats.record(&model, stream, "404");
        let m = format!("model: {model}");
        return Err(anthropic_error(404, "not_found_error", &m, rid));
    };
    if entry.cfg.keys.as_ref().is_some_and(|ks| !ks.contains(&key)) {
        app.stats.record(&model, stream, "401");
        return Err(anthropic_error(
            401,
            "authentication_error",
            "invalid x-api-key",
            rid,
        ));
    }
    Ok((key, model, stream, entry))
}

/// The fields `POST /v1/messages/count_tokens` accepts; anything else is rejected like the
/// real API does (`max_tokens: Extra inputs are not permitted`). The gateway keeps its own
/// list (`server::anthropic::request`) on purpose: the simulator stands in for the real API,
/// so sharing one list would let a wrong one pass every test.
const COUNT_FIELDS: &[&str] = &[
    "model",
    "messages",
    "system",
    "tools",
    "tool_choice",
    "thinking",
];

/// `POST /v1/messages/count_tokens`: the prompt tokens the same body would be billed on
/// `/v1/messages` (the simulator's own count), as `{"input_tokens": N}`.
pub async fn count_tokens(app: &App, parts: &Parts, body: &[u8]) -> HandlerResult {
    let rid = app.next_id("req_sim");
    let invalid = |m: &str| anthropic_error(400, "invalid_request_error", m, &rid);
    let mut req: Value = match serde_json::from_slice(body) {
        Ok(v @ Value::Object(_)) => v,
        _ => return Ok(invalid("The request body is not valid JSON.")),
    };
    let (key, model, _, entry) = match admit(app, parts, &req, &rid) {
        Ok(a) => a,
        Err(r) => return Ok(r),
    };
    // The model's scripted faults (429, 500, reset, ...) hit its counting endpoint too.
    if let Err(r) = app
        .fault(Wire::Anthropic, &model, Some(&key), false, &rid)
        .await
    {
        return r;
    }
    if let Some(k) = req
        .as_object()
        .and_then(|o| o.keys().find(|k| !COUNT_FIELDS.contains(&k.as_str())))
    {
        app.stats.record(&model, false, "400");
        return Ok(invalid(&format!("{k}: Extra inputs are not permitted")));
    }
    // The Messages parser wants max_tokens; counting never generates, so any value will do.
    req["max_tokens"] = json!(1);
    let mr = match parse(&req, &entry.cfg) {
        Ok(m) => m,
        Err(msg) => {
            app.stats.record(&model, false, "400");
            return Ok(invalid(&msg));
        }
    };
    app.stats.record(&model, false, "count_tokens");
    Ok(json_response(
        StatusCode::OK,
        &json!({ "input_tokens": mr.prompt.tokens }),
    ))
}

pub async fn messages(app: &App, parts: &Parts, body: &[u8]) -> HandlerResult {
    let rid = app.next_id("req_sim");
    let invalid = |m: &str| anthropic_error(400, "invalid_request_error", m, &rid);
    let req: Value = match serde_json::from_slice(body) {
        Ok(v @ Value::Object(_)) => v,
        _ => return Ok(invalid("The request body is not valid JSON.")),
    };
    let (key, model, stream, entry) = match admit(app, parts, &req, &rid) {
        Ok(a) => a,
        Err(r) => return Ok(r),
    };
    let mode = match app
        .fault(Wire::Anthropic, &model, Some(&key), stream, &rid)
        .await
    {
        Ok(m) => m,
        Err(r) => return r,
    };
    let mr = match parse(&req, &entry.cfg) {
        Ok(m) => m,
        Err(msg) => {
            app.stats.record(&model, stream, "400");
            return Ok(invalid(&msg));
        }
    };
    let cfg = &entry.cfg;
    let out = match &mr.tool {
        Some((name, schema)) => Err((
            make_id("toolu_01", mr.prompt.hash, 22),
            tool_call(name, schema),
        )),
        None => Ok(limit(
            answer_tokens(cfg, &mr.prompt, 0, &mr.shape),
            &mr.stop,
            Some(mr.max_tokens),
        )),
    };
    let mut pacing = Pacing::new(cfg.ttft_ms, cfg.tokens_per_s);
    if mode == Mode::Drip {
        pacing = pacing.drip();
    }
    app.stats.record(&model, stream, mode.label());
    let a = Answer {
        id: app.next_id("msg_sim"),
        model,
        input: mr.prompt.tokens,
        cached: cfg.cached_prompt_tokens.min(mr.prompt.tokens),
        out,
    };
    let mut r = if mr.stream {
        let cut_after = match mode {
            Mode::Cut(n) => Some(n),
            _ => None,
        };
        stream_response(stream_plan(&a, pacing, cut_after))
    } else {
        pacing.wait_total(a.output_tokens()).await;
        json_response(StatusCode::OK, &a.json())
    };
    if let Ok(v) = http::HeaderValue::from_str(&rid) {
        r.headers_mut().insert("request-id", v);
    }
    Ok(r)
}

fn parse(req: &Value, cfg: &ModelConfig) -> Result<MsgReq, String> {
    let obj = req.as_object().ok_or("body must be an object")?;
    if let Some(k) = obj.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(format!("{k}: Extra inputs are not permitted"));
    }
    let max_tokens = match req.get("max_tokens") {
        None => return Err("max_tokens: Field required".into()),
        Some(v) => v
            .as_u64()
            .map(|m| u32::try_from(m).unwrap_or(u32::MAX))
            .ok_or("max_tokens: Input should be a valid integer")?,
    };
    if let Some(t) = req.get("temperature").and_then(Value::as_f64)
        && !(0.0..=1.0).contains(&t)
    {
        return Err("temperature: Input should be less than or equal to 1".into());
    }
    let msgs = match req.get("messages") {
        None => return Err("messages: Field required".into()),
        Some(Value::Array(a)) if a.is_empty() => {
            return Err("messages: at least one message is required".into());
        }
        Some(Value::Array(a)) => a,
        Some(_) => return Err("messages: Input should be a valid list".into()),
    };
    let mut pb = PromptBuilder::new(&cfg.name, None);
    match req.get("system") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => pb.message(false, s),
        Some(Value::Array(blocks)) => {
            let text = blocks_text(blocks, "system").map_err(|e| format!("system: {e}"))?;
            pb.message(false, &text);
        }
        Some(_) => return Err("system: Input should be a valid string".into()),
    }
    let mut prev_tool_uses: Vec<String> = Vec::new();
    let mut last_tool_result = None;
    let last = msgs.len() - 1;
    for (i, m) in msgs.iter().enumerate() {
        let role = m.get("role").and_then(Value::as_str).unwrap_or("");
        if role != "user" && role != "assistant" {
            return Err(format!(
                "messages.{i}.role: Input should be 'user' or 'assistant'"
            ));
        }
        let empty = format!(
            "messages.{i}: all messages must have non-empty content except for the optional final assistant message"
        );
        let mut text = String::new();
        let mut tool_uses = Vec::new();
        let mut results = Vec::new();
        match m.get("content") {
            Some(Value::String(s)) => {
                if s.is_empty() && !(role == "assistant" && i == last) {
                    return Err(empty);
                }
                text.push_str(s);
            }
            Some(Value::Array(blocks)) => {
                if blocks.is_empty() && !(role == "assistant" && i == last) {
                    return Err(empty);
                }
                for (j, b) in blocks.iter().enumerate() {
                    match b.get("type").and_then(Value::as_str) {
                        Some("text") => {
                            let t = b.get("text").and_then(Value::as_str).unwrap_or("");
                            if t.is_empty() {
                                return Err(
                                    "messages: text content blocks must be non-empty".into()
                                );
                            }
                            text.push_str(t);
                        }
                        Some("tool_use") if role == "assistant" => {
                            let id = b.get("id").and_then(Value::as_str).unwrap_or("");
                            if !b.get("input").is_some_and(Value::is_object) {
                                return Err(format!(
                                    "messages.{i}.content.{j}.tool_use.input: Input should be a valid dictionary"
                                ));
                            }
                            text.push_str(b.get("name").and_then(Value::as_str).unwrap_or(""));
                            text.push_str(&b["input"].to_string());
                            tool_uses.push(id.to_owned());
                        }
                        Some("tool_result") if role == "user" => {
                            let id = b.get("tool_use_id").and_then(Value::as_str).unwrap_or("");
                            if !prev_tool_uses.iter().any(|u| u == id) {
                                return Err(format!(
                                    "messages.{i}.content.{j}: unexpected `tool_use_id` found in `tool_result` blocks: {id}. Each `tool_result` block must have a corresponding `tool_use` block in the previous message."
                                ));
                            }
                            let rt = match b.get("content") {
                                None | Some(Value::Null) => String::new(),
                                Some(Value::String(s)) => s.clone(),
                                Some(Value::Array(a)) => blocks_text(a, "tool_result")
                                    .map_err(|e| format!("messages.{i}.content.{j}: {e}"))?,
                                Some(_) => {
                                    return Err(format!(
                                        "messages.{i}.content.{j}.tool_result.content: Input should be a valid list"
                                    ));
                                }
                            };
                            text.push_str(&rt);
                            results.push((id.to_owned(), rt));
                        }
                        Some(
                            "image" | "document" | "thinking" | "redacted_thinking"
                            | "search_result",
                        ) => text.push_str("[media]"),
                        other => {
                            return Err(format!(
                                "messages.{i}.content.{j}: Input tag '{}' found using 'type' does not match any of the expected tags for role {role}",
                                other.unwrap_or("")
                            ));
                        }
                    }
                }
            }
            _ => return Err(format!("messages.{i}.content: Field required")),
        }
        if !prev_tool_uses.is_empty() {
            let missing: Vec<&String> = prev_tool_uses
                .iter()
                .filter(|u| !results.iter().any(|(r, _)| r == *u))
                .collect();
            if let Some(u) = missing.first() {
                return Err(format!(
                    "messages.{}: `tool_use` ids were found without `tool_result` blocks immediately after: {u}. Each `tool_use` block must have a corresponding `tool_result` block in the next message.",
                    i - 1
                ));
            }
        }
        last_tool_result = if results.is_empty() {
            None
        } else {
            Some(
                results
                    .into_iter()
                    .map(|(_, t)| t)
                    .collect::<Vec<_>>()
                    .join("\n"),
            )
        };
        prev_tool_uses = tool_uses;
        pb.message(role == "user", &text);
    }
    let stop: Vec<String> = match req.get("stop_sequences") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) if a.iter().all(Value::is_string) => a
            .iter()
            .filter_map(|s| s.as_str().map(str::to_owned))
            .collect(),
        Some(_) => return Err("stop_sequences: Input should be a valid list".into()),
    };
    let tool = parse_tools(req, &mut pb, last_tool_result.is_some())?;
    let shape = match req
        .get("output_config")
        .and_then(|o| o.get("format"))
        .filter(|f| f.get("type").and_then(Value::as_str) == Some("json_schema"))
    {
        Some(f) => Shape::JsonSchema(
            f.get("schema")
                .cloned()
                .unwrap_or(json!({"type": "object"})),
        ),
        None => Shape::Text,
    };
    let prompt = pb.finish(last_tool_result);
    if let Some(w) = cfg.context_window
        && prompt.tokens > w
    {
        return Err(format!(
            "prompt is too long: {} tokens > {w} maximum",
            prompt.tokens
        ));
    }
    Ok(MsgReq {
        prompt,
        max_tokens,
        stop,
        shape,
        tool,
        stream: req.get("stream").and_then(Value::as_bool).unwrap_or(false),
    })
}

fn blocks_text(blocks: &[Value], what: &str) -> Result<String, String> {
    let mut out = String::new();
    for b in blocks {
        match b.get("type").and_then(Value::as_str) {
            Some("text") => {
                let t = b.get("text").and_then(Value::as_str).unwrap_or("");
                if t.is_empty() {
                    return Err(format!("{what}: text content blocks must be non-empty"));
                }
                out.push_str(t);
            }
            Some(_) => out.push_str("[media]"),
            None => return Err(format!("{what}: Input should be a valid dictionary")),
        }
    }
    Ok(out)
}

fn parse_tools(
    req: &Value,
    pb: &mut PromptBuilder,
    after_result: bool,
) -> Result<Option<(String, Value)>, String> {
    let tools = match req.get("tools") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(a)) => a,
        Some(_) => return Err("tools: Input should be a valid list".into()),
    };
    let mut defs = Vec::new();
    for (i, t) in tools.iter().enumerate() {
        let name = t.get("name").and_then(Value::as_str).unwrap_or("");
        let ok_name = (1..=128).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !ok_name {
            return Err(format!(
                "tools.{i}.custom.name: String should match pattern '^[a-zA-Z0-9_-]{{1,128}}$'"
            ));
        }
        let Some(schema) = t.get("input_schema").filter(|s| s.is_object()) else {
            return Err(format!("tools.{i}.custom.input_schema: Field required"));
        };
        defs.push((name.to_owned(), schema.clone()));
    }
    pb.extra(&Value::Array(tools.clone()).to_string());
    let choice = req.get("tool_choice").unwrap_or(&Value::Null);
    let named = match choice.get("type").and_then(Value::as_str) {
        None | Some("auto") | Some("any") => None,
        Some("none") => return Ok(None),
        Some("tool") => {
            let n = choice.get("name").and_then(Value::as_str).unwrap_or("");
            if !defs.iter().any(|(d, _)| d == n) {
                return Err(format!(
                    "tool_choice.tool.name: Tool '{n}' not found in provided tools"
                ));
            }
            Some(n.to_owned())
        }
        Some(t) => {
            return Err(format!(
                "tool_choice: Input tag '{t}' found using 'type' does not match any of the expected tags: 'auto', 'any', 'tool', 'none'"
            ));
        }
    };
    if after_result {
        return Ok(None);
    }
    Ok(match named {
        Some(n) => defs.into_iter().find(|(d, _)| *d == n),
        None => defs.into_iter().next(),
    })
}

struct Answer {
    id: String,
    model: String,
    input: u32,
    cached: u32,
    /// Text answer, or (tool_use id, call).
    out: Result<crate::content::TextOut, (String, ToolOut)>,
}

impl Answer {
    fn output_tokens(&self) -> u32 {
        match &self.out {
            Ok(t) => t.count(),
            Err((_, c)) => c.tokens,
        }
    }

    fn stop(&self) -> (&'static str, Value) {
        match &self.out {
            Ok(t) => match &t.finish {
                Finish::Stop => ("end_turn", Value::Null),
                Finish::Length => ("max_tokens", Value::Null),
                Finish::StopSequence(s) => ("stop_sequence", json!(s)),
            },
            Err(_) => ("tool_use", Value::Null),
        }
    }

    fn usage(&self, output: u32) -> Value {
        json!({"input_tokens": self.input - self.cached, "output_tokens": output,
               "cache_creation_input_tokens": 0, "cache_read_input_tokens": self.cached,
               "service_tier": "standard"})
    }

    fn json(&self) -> Value {
        let content = match &self.out {
            Ok(t) => json!([{"type": "text", "text": t.text()}]),
            Err((id, c)) => {
                let input: Value = serde_json::from_str(&c.args).unwrap_or(json!({}));
                json!([{"type": "tool_use", "id": id, "name": c.name, "input": input}])
            }
        };
        let (reason, seq) = self.stop();
        json!({"id": self.id, "type": "message", "role": "assistant", "model": self.model,
               "content": content, "stop_reason": reason, "stop_sequence": seq,
               "usage": self.usage(self.output_tokens())})
    }
}

fn frame(event: &str, v: &Value) -> Bytes {
    named_frame(event, v.to_string().as_bytes())
}

fn stream_plan(a: &Answer, pacing: Pacing, cut_after: Option<u32>) -> StreamPlan {
    let mut pieces = Vec::new();
    let start = json!({"type": "message_start", "message": {"id": a.id, "type": "message",
        "role": "assistant", "content": [], "model": a.model, "stop_reason": null,
        "stop_sequence": null, "usage": a.usage(1)}});
    pieces.push(Piece::new(frame("message_start", &start), 0));
    let block = match &a.out {
        Ok(_) => json!({"type": "text", "text": ""}),
        Err((id, c)) => json!({"type": "tool_use", "id": id, "name": c.name, "input": {}}),
    };
    let cbs = json!({"type": "content_block_start", "index": 0, "content_block": block});
    pieces.push(Piece::new(frame("content_block_start", &cbs), 0));
    pieces.push(Piece::new(frame("ping", &json!({"type": "ping"})), 0));
    let delta = |d: Value| json!({"type": "content_block_delta", "index": 0, "delta": d});
    match &a.out {
        Ok(t) => {
            for tok in &t.tokens {
                let d = delta(json!({"type": "text_delta", "text": tok}));
                pieces.push(Piece::new(frame("content_block_delta", &d), 1));
            }
        }
        Err((_, c)) => {
            for f in fragments(&c.args, 3) {
                let d = delta(json!({"type": "input_json_delta", "partial_json": f}));
                pieces.push(Piece::new(frame("content_block_delta", &d), 1));
            }
        }
    }
    let stop = json!({"type": "content_block_stop", "index": 0});
    pieces.push(Piece::new(frame("content_block_stop", &stop), 0));
    let (reason, seq) = a.stop();
    let md = json!({"type": "message_delta", "delta": {"stop_reason": reason, "stop_sequence": seq},
                    "usage": a.usage(a.output_tokens())});
    pieces.push(Piece::new(frame("message_delta", &md), 0));
    pieces.push(Piece::new(
        frame("message_stop", &json!({"type": "message_stop"})),
        0,
    ));
    StreamPlan {
        pieces,
        pacing,
        keepalive: false,
        cut_after,
        content_type: "text/event-stream",
    }
}

pub fn models(app: &App) -> Resp {
    let data: Vec<Value> = app
        .config
        .models
        .iter()
        .filter(|m| m.wire == Wire::Anthropic)
        .map(|m| json!({"type": "model", "id": m.name, "display_name": m.name, "created_at": "2025-01-01T00:00:00Z"}))
        .collect();
    let first = data.first().map(|d| d["id"].clone()).unwrap_or(Value::Null);
    let last = data.last().map(|d| d["id"].clone()).unwrap_or(Value::Null);
    json_response(
        StatusCode::OK,
        &json!({"data": data, "has_more": false, "first_id": first, "last_id": last}),
    )
}
