//! The Gemini (Generative Language API v1beta) wire: generateContent, streamGenerateContent
//! (SSE with `alt=sse`, a progressive JSON array without), embedContent, batchEmbedContents,
//! countTokens, model list.

use bytes::Bytes;
use http::StatusCode;
use http::request::Parts;
use serde_json::{Map, Value, json};
use switchyard_core::sse::data_frame;

use crate::config::{ModelConfig, Wire};
use crate::content::{
    Finish, PromptBuilder, PromptInfo, Shape, TextOut, ToolOut, answer_tokens, limit, logprob,
    tool_call, top_alternatives,
};
use crate::http::{
    HandlerResult, Pacing, Piece, Resp, StreamPlan, gemini_bad_key, gemini_error, gemini_invalid,
    json_response, status_label, stream_response,
};
use crate::server::{App, Mode, ModelEntry};

const FIELDS: &[&str] = &[
    "contents",
    "systemInstruction",
    "system_instruction",
    "tools",
    "toolConfig",
    "tool_config",
    "safetySettings",
    "safety_settings",
    "generationConfig",
    "generation_config",
    "cachedContent",
    "cached_content",
    "labels",
    "model",
];

/// Proto-JSON accepts both the camelCase and the snake_case name of a field.
pub(crate) fn field<'a>(v: &'a Value, camel: &str, snake: &str) -> Option<&'a Value> {
    v.get(camel)
        .or_else(|| v.get(snake))
        .filter(|x| !x.is_null())
}

fn query_param<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts.uri.query()?.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (k == name).then_some(v)
    })
}

fn api_key(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get("x-goog-api-key")
        .and_then(|v| v.to_str().ok())
        .or_else(|| query_param(parts, "key"))
        .map(str::trim)
        .filter(|k| !k.is_empty())
}

fn unregistered() -> Resp {
    gemini_error(
        403,
        "PERMISSION_DENIED",
        "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.",
        Value::Null,
    )
}

pub async fn dispatch(app: &App, parts: &Parts, body: &[u8]) -> HandlerResult {
    let rest = &parts.uri.path()["/v1beta/models/".len()..];
    let Some((model, method)) = rest.rsplit_once(':') else {
        return Ok(gemini_error(
            404,
            "NOT_FOUND",
            "Requested entity was not found.",
            Value::Null,
        ));
    };
    let stream = method == "streamGenerateContent";
    let Some(key) = api_key(parts) else {
        app.stats.record(model, stream, "403");
        return Ok(unregistered());
    };
    let Some(entry) = app.model(model, Wire::Gemini) else {
        app.stats.record(model, stream, "404");
        return Ok(gemini_error(
            404,
            "NOT_FOUND",
            &format!(
                "models/{model} is not found for API version v1beta, or is not supported for {method}. Call ListModels to see the list of available models and their supported methods."
            ),
            Value::Null,
        ));
    };
    if entry
        .cfg
        .keys
        .as_ref()
        .is_some_and(|ks| !ks.iter().any(|k| k == key))
    {
        app.stats.record(model, stream, "400");
        return Ok(gemini_bad_key());
    }
    let rid = app.next_id("");
    let mode = match app
        .fault(Wire::Gemini, model, Some(key), stream, &rid)
        .await
    {
        Ok(m) => m,
        Err(r) => return r,
    };
    let req: Value = match serde_json::from_slice(body) {
        Ok(v @ Value::Object(_)) => v,
        _ => {
            app.stats.record(model, stream, "400");
            return Ok(gemini_invalid("Invalid JSON payload received."));
        }
    };
    let r = match method {
        "generateContent" | "streamGenerateContent" => {
            let sse = query_param(parts, "alt") == Some("sse");
            generate(&entry, &req, stream, sse, mode, rid).await
        }
        "countTokens" => parse(&req, &entry.cfg)
            .map(|g| json_response(StatusCode::OK, &json!({"totalTokens": g.prompt.tokens}))),
        "embedContent" => crate::gemini_embed::embed_one(&req, &entry.cfg)
            .map(|v| json_response(StatusCode::OK, &json!({"embedding": v}))),
        "batchEmbedContents" => crate::gemini_embed::embed_batch(&req, &entry.cfg, model),
        _ => Err(gemini_error(
            404,
            "NOT_FOUND",
            &format!("Method {method} not found."),
            Value::Null,
        )),
    };
    let r = r.unwrap_or_else(|e| e);
    let label = if r.status() == StatusCode::OK {
        mode.label()
    } else {
        status_label(r.status())
    };
    app.stats.record(model, stream, label);
    Ok(r)
}

struct GenReq {
    prompt: PromptInfo,
    n: u32,
    max_tokens: Option<u32>,
    stop: Vec<String>,
    shape: Shape,
    tool: Option<(String, Value)>,
    logprobs: Option<u32>,
}

fn parse(req: &Value, cfg: &ModelConfig) -> Result<GenReq, Resp> {
    if let Some(k) = req
        .as_object()
        .and_then(|o| o.keys().find(|k| !FIELDS.contains(&k.as_str())))
    {
        return Err(gemini_invalid(&format!(
            "Invalid JSON payload received. Unknown name \"{k}\": Cannot find field."
        )));
    }
    let gc = field(req, "generationConfig", "generation_config")
        .cloned()
        .unwrap_or(json!({}));
    let seed = field(&gc, "seed", "seed").and_then(Value::as_i64);
    let mut pb = PromptBuilder::new(&cfg.name, seed);
    if let Some(si) = field(req, "systemInstruction", "system_instruction") {
        let text: String = si
            .get("parts")
            .and_then(Value::as_array)
            .map(|ps| {
                ps.iter()
                    .filter_map(|p| p.get("text").and_then(Value::as_str))
                    .collect()
            })
            .unwrap_or_default();
        pb.message(false, &text);
    }
    let contents = match req.get("contents") {
        Some(Value::Array(a)) if !a.is_empty() => a,
        _ => {
            return Err(gemini_invalid(
                "* GenerateContentRequest.contents: contents is not specified\n",
            ));
        }
    };
    let mut last_result = None;
    for (i, c) in contents.iter().enumerate() {
        let role = c.get("role").and_then(Value::as_str).unwrap_or("user");
        if role != "user" && role != "model" {
            return Err(gemini_invalid("Please use a valid role: user, model."));
        }
        let parts = match c.get("parts") {
            Some(Value::Array(p)) if !p.is_empty() => p,
            _ => {
                return Err(gemini_invalid(&format!(
                    "* GenerateContentRequest.contents[{i}].parts: contents.parts must not be empty.\n"
                )));
            }
        };
        let mut text = String::new();
        let mut results = Vec::new();
        for (j, p) in parts.iter().enumerate() {
            if let Some(t) = p.get("text").and_then(Value::as_str) {
                text.push_str(t);
            } else if let Some(fc) = field(p, "functionCall", "function_call") {
                text.push_str(fc.get("name").and_then(Value::as_str).unwrap_or(""));
                text.push_str(&fc.get("args").map(Value::to_string).unwrap_or_default());
            } else if let Some(fr) = field(p, "functionResponse", "function_response") {
                let resp = fr.get("response").unwrap_or(&Value::Null);
                if !resp.is_object() {
                    return Err(gemini_invalid(&format!(
                        "Invalid value at 'contents[{i}].parts[{j}].function_response.response' (type.googleapis.com/google.protobuf.Struct), {resp}"
                    )));
                }
                let s = resp.to_string();
                text.push_str(&s);
                results.push(s);
            } else {
                text.push_str("[media]");
            }
        }
        last_result = if results.is_empty() {
            None
        } else {
            Some(results.join("\n"))
        };
        pb.message(role == "user", &text);
    }
    let n = match field(&gc, "candidateCount", "candidate_count") {
        None => 1,
        Some(v) => match v.as_u64() {
            Some(n @ 1..=8) => n as u32,
            _ => {
                return Err(gemini_invalid(
                    "* GenerateContentRequest.generation_config.candidate_count: must be between 1 and 8\n",
                ));
            }
        },
    };
    let max_tokens = field(&gc, "maxOutputTokens", "max_output_tokens")
        .and_then(Value::as_u64)
        .map(|m| u32::try_from(m).unwrap_or(u32::MAX));
    let stop: Vec<String> = field(&gc, "stopSequences", "stop_sequences")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    if stop.len() > 5 {
        return Err(gemini_invalid(
            "* GenerateContentRequest.generation_config.stop_sequences: at most 5 stop sequences are allowed\n",
        ));
    }
    let json_mime = field(&gc, "responseMimeType", "response_mime_type").and_then(Value::as_str)
        == Some("application/json");
    let schema = field(&gc, "responseJsonSchema", "response_json_schema")
        .or_else(|| field(&gc, "responseSchema", "response_schema"));
    let shape = match (json_mime, schema) {
        (true, Some(s)) => Shape::JsonSchema(s.clone()),
        (true, None) => Shape::JsonObject,
        (false, _) => Shape::Text,
    };
    let wants_lp =
        field(&gc, "responseLogprobs", "response_logprobs").and_then(Value::as_bool) == Some(true);
    if wants_lp && !cfg.logprobs {
        return Err(gemini_invalid(
            "Logprobs is not supported for the current model.",
        ));
    }
    let top = field(&gc, "logprobs", "logprobs")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    if top > 20 {
        return Err(gemini_invalid("logprobs must be between 0 and 20"));
    }
    let logprobs = wants_lp.then_some(top as u32);
    let tool = parse_tools(req, &mut pb, last_result.is_some())?;
    let prompt = pb.finish(last_result);
    if let Some(w) = cfg.context_window
        && prompt.tokens > w
    {
        return Err(gemini_invalid(&format!(
            "The input token count ({}) exceeds the maximum number of tokens allowed ({w}).",
            prompt.tokens
        )));
    }
    Ok(GenReq {
        prompt,
        n,
        max_tokens,
        stop,
        shape,
        tool,
        logprobs,
    })
}

fn parse_tools(
    req: &Value,
    pb: &mut PromptBuilder,
    after_result: bool,
) -> Result<Option<(String, Value)>, Resp> {
    let Some(tools) = req.get("tools").and_then(Value::as_array) else {
        return Ok(None);
    };
    pb.extra(&Value::Array(tools.clone()).to_string());
    let mut defs = Vec::new();
    for t in tools {
        for d in field(t, "functionDeclarations", "function_declarations")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(name) = d
                .get("name")
                .and_then(Value::as_str)
                .filter(|n| !n.is_empty())
            else {
                return Err(gemini_invalid(
                    "* GenerateContentRequest.tools[0].function_declarations[0].name: Invalid function name.\n",
                ));
            };
            let schema = field(d, "parametersJsonSchema", "parameters_json_schema")
                .or_else(|| d.get("parameters"))
                .cloned()
                .unwrap_or(json!({"type": "OBJECT"}));
            defs.push((name.to_owned(), schema));
        }
    }
    let fcc = field(req, "toolConfig", "tool_config")
        .and_then(|t| field(t, "functionCallingConfig", "function_calling_config"));
    let mode = fcc
        .and_then(|f| f.get("mode"))
        .and_then(Value::as_str)
        .unwrap_or("AUTO");
    if mode == "NONE" || after_result {
        return Ok(None);
    }
    let allowed: Vec<&str> = fcc
        .and_then(|f| field(f, "allowedFunctionNames", "allowed_function_names"))
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    Ok(defs
        .into_iter()
        .find(|(n, _)| allowed.is_empty() || allowed.contains(&n.as_str())))
}

enum Cand {
    Text(TextOut, Option<Vec<(String, f64)>>),
    Tool(ToolOut),
}

async fn generate(
    entry: &ModelEntry,
    req: &Value,
    stream: bool,
    sse: bool,
    mode: Mode,
    rid: String,
) -> Result<Resp, Resp> {
    let cfg = &entry.cfg;
    let g = parse(req, cfg)?;
    let cands: Vec<Cand> = (0..g.n)
        .map(|i| match &g.tool {
            Some((name, schema)) => Cand::Tool(tool_call(name, schema)),
            None => {
                let t = limit(
                    answer_tokens(cfg, &g.prompt, i, &g.shape),
                    &g.stop,
                    g.max_tokens,
                );
                let lps = g.logprobs.map(|_| {
                    t.tokens
                        .iter()
                        .map(|tok| (tok.clone(), logprob(entry.hash, tok)))
                        .collect()
                });
                Cand::Text(t, lps)
            }
        })
        .collect();
    let completion: u32 = cands.iter().map(cand_tokens).sum();
    let cached = cfg.cached_prompt_tokens.min(g.prompt.tokens);
    let usage = |cand: u32| {
        let mut u = json!({"promptTokenCount": g.prompt.tokens, "candidatesTokenCount": cand,
            "totalTokenCount": g.prompt.tokens + cand,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": g.prompt.tokens}]});
        if cached > 0 {
            u["cachedContentTokenCount"] = json!(cached);
        }
        u
    };
    let mut pacing = Pacing::new(cfg.ttft_ms, cfg.tokens_per_s);
    if mode == Mode::Drip {
        pacing = pacing.drip();
    }
    let top = g.logprobs.unwrap_or(0);
    let wrap = |candidates: Vec<Value>, u: Value| json!({"candidates": candidates, "usageMetadata": u, "modelVersion": cfg.name, "responseId": rid});
    if !stream {
        pacing
            .wait_total(cands.iter().map(cand_tokens).max().unwrap_or(0))
            .await;
        let candidates = cands
            .iter()
            .enumerate()
            .map(|(i, c)| match c {
                Cand::Text(t, lps) => {
                    let mut v = candidate(i, json!([{"text": t.text()}]), Some(finish(&t.finish)));
                    if let Some(l) = lps {
                        add_logprobs(&mut v, l, top);
                    }
                    v
                }
                Cand::Tool(call) => candidate(i, json!([function_call(call)]), Some("STOP")),
            })
            .collect();
        return Ok(json_response(
            StatusCode::OK,
            &wrap(candidates, usage(completion)),
        ));
    }
    let mut chunks: Vec<(Value, u32)> = Vec::new();
    let longest = cands
        .iter()
        .map(|c| match c {
            Cand::Text(t, _) => t.tokens.len().max(1),
            Cand::Tool(_) => 1,
        })
        .max()
        .unwrap_or(1);
    let mut so_far = 0;
    for pos in 0..longest {
        for (i, c) in cands.iter().enumerate() {
            let (cand, toks) = match c {
                Cand::Text(t, lps) => {
                    let last = pos + 1 >= t.tokens.len();
                    if pos > 0 && pos >= t.tokens.len() {
                        continue;
                    }
                    let tok = t.tokens.get(pos).map(String::as_str).unwrap_or("");
                    let mut v =
                        candidate(i, json!([{"text": tok}]), last.then(|| finish(&t.finish)));
                    if let Some(l) = lps {
                        add_logprobs(&mut v, &l[pos.min(l.len())..(pos + 1).min(l.len())], top);
                    }
                    (v, u32::from(!tok.is_empty()))
                }
                Cand::Tool(call) if pos == 0 => (
                    candidate(i, json!([function_call(call)]), Some("STOP")),
                    call.tokens,
                ),
                Cand::Tool(_) => continue,
            };
            so_far += toks;
            chunks.push((wrap(vec![cand], usage(so_far)), toks));
        }
    }
    let n = chunks.len();
    let pieces = chunks
        .into_iter()
        .enumerate()
        .map(|(k, (v, toks))| {
            let body = v.to_string();
            let bytes = if sse {
                data_frame(body.as_bytes())
            } else {
                let lead = if k == 0 { "[" } else { ",\r\n" };
                let tail = if k + 1 == n { "]" } else { "" };
                Bytes::from(format!("{lead}{body}{tail}"))
            };
            Piece::new(bytes, toks)
        })
        .collect();
    let cut_after = match mode {
        Mode::Cut(k) => Some(k),
        _ => None,
    };
    let content_type = if sse {
        "text/event-stream"
    } else {
        "application/json"
    };
    Ok(stream_response(StreamPlan {
        pieces,
        pacing,
        keepalive: false,
        cut_after,
        content_type,
    }))
}

fn cand_tokens(c: &Cand) -> u32 {
    match c {
        Cand::Text(t, _) => t.count(),
        Cand::Tool(call) => call.tokens,
    }
}

fn finish(f: &Finish) -> &'static str {
    match f {
        Finish::Length => "MAX_TOKENS",
        _ => "STOP",
    }
}

fn function_call(call: &ToolOut) -> Value {
    let args: Value = serde_json::from_str(&call.args).unwrap_or(json!({}));
    json!({"functionCall": {"name": call.name, "args": args}})
}

fn candidate(i: usize, parts: Value, finish: Option<&str>) -> Value {
    let mut c = Map::new();
    c.insert("content".into(), json!({"role": "model", "parts": parts}));
    if let Some(f) = finish {
        c.insert("finishReason".into(), json!(f));
    }
    c.insert("index".into(), json!(i));
    Value::Object(c)
}

fn add_logprobs(v: &mut Value, lps: &[(String, f64)], top: u32) {
    let chosen: Vec<Value> = lps
        .iter()
        .map(|(t, l)| json!({"token": t, "logProbability": l}))
        .collect();
    let tops: Vec<Value> = lps
        .iter()
        .map(|(t, l)| {
            let c: Vec<Value> = top_alternatives(t, *l, top)
                .into_iter()
                .map(|(t, l)| json!({"token": t, "logProbability": l}))
                .collect();
            json!({"candidates": c})
        })
        .collect();
    if !lps.is_empty() {
        v["avgLogprobs"] = json!(lps.iter().map(|(_, l)| l).sum::<f64>() / lps.len() as f64);
    }
    v["logprobsResult"] = json!({"topCandidates": tops, "chosenCandidates": chosen});
}

pub fn models(app: &App, parts: &Parts) -> Resp {
    if api_key(parts).is_none() {
        return unregistered();
    }
    let models: Vec<Value> = app
        .config
        .models
        .iter()
        .filter(|m| m.wire == Wire::Gemini)
        .map(|m| {
            let methods = if m.embedding_dims.is_some() {
                json!(["embedContent", "batchEmbedContents"])
            } else {
                json!(["generateContent", "streamGenerateContent", "countTokens"])
            };
            json!({"name": format!("models/{}", m.name), "version": "001", "displayName": m.name,
                   "description": "switchyard-sim simulated model",
                   "inputTokenLimit": m.context_window.unwrap_or(1_048_576), "outputTokenLimit": 8192,
                   "supportedGenerationMethods": methods})
        })
        .collect();
    json_response(StatusCode::OK, &json!({"models": models}))
}
