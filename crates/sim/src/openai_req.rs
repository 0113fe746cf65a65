//! OpenAI Chat Completions request validation, with the flavors' stricter rules. Rejections use
//! the bodies the real APIs send.

use std::collections::HashSet;

use serde_json::{Value, json};

use crate::config::{Flavor, ModelConfig};
use crate::content::{PromptBuilder, PromptInfo, Shape, est_tokens};
use crate::http::{Resp, json_response, openai_error, status};

pub struct ChatReq {
    pub prompt: PromptInfo,
    pub n: u32,
    pub stop: Vec<String>,
    pub max_tokens: Option<u32>,
    pub shape: Shape,
    /// The tool to call (name, parameters schema), when the model should call one.
    pub tool: Option<(String, Value)>,
    /// `Some(top_k)` when logprobs were requested.
    pub logprobs: Option<u32>,
    pub stream: bool,
    pub include_usage: bool,
}

pub fn bad(message: &str, param: Option<&str>) -> Resp {
    openai_error(400, "invalid_request_error", message, param, None)
}

fn bad_code(message: &str, param: Option<&str>, code: &str) -> Resp {
    openai_error(400, "invalid_request_error", message, param, Some(code))
}

/// Mistral's request schema: anything else is a 422 `extra_forbidden`.
const MISTRAL_FIELDS: &[&str] = &[
    "model",
    "messages",
    "temperature",
    "top_p",
    "max_tokens",
    "stream",
    "stop",
    "random_seed",
    "response_format",
    "tools",
    "tool_choice",
    "presence_penalty",
    "frequency_penalty",
    "n",
    "prediction",
    "parallel_tool_calls",
    "safe_prompt",
    "prompt_mode",
];

fn mistral_extra(req: &serde_json::Map<String, Value>) -> Option<Resp> {
    let detail: Vec<Value> = req
        .iter()
        .filter(|(k, _)| !MISTRAL_FIELDS.contains(&k.as_str()))
        .map(|(k, v)| {
            json!({"type": "extra_forbidden", "loc": ["body", k], "msg": "Extra inputs are not permitted", "input": v})
        })
        .collect();
    if detail.is_empty() {
        return None;
    }
    Some(json_response(
        status(422),
        &json!({"object": "error", "message": {"detail": detail}, "type": "invalid_request_error", "param": null, "code": null}),
    ))
}

fn is_mistral_id(id: &str) -> bool {
    id.len() == 9 && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Text of an OpenAI `content` (string or parts); `None` when it is not a string/array/null.
fn content_text(v: &Value) -> Option<String> {
    match v {
        Value::Null => Some(String::new()),
        Value::String(s) => Some(s.clone()),
        Value::Array(parts) => {
            let mut out = String::new();
            for p in parts {
                match p.get("type").and_then(Value::as_str) {
                    Some("text") => out.push_str(p.get("text").and_then(Value::as_str)?),
                    Some(_) => out.push_str("[media]"),
                    None => return None,
                }
            }
            Some(out)
        }
        _ => None,
    }
}

fn valid_tool_name(n: &str) -> bool {
    (1..=64).contains(&n.len())
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

pub fn parse_chat(req: &Value, cfg: &ModelConfig) -> Result<ChatReq, Resp> {
    let obj = req
        .as_object()
        .ok_or_else(|| bad("The request body must be a JSON object.", None))?;
    let flavor = cfg.flavor;
    if flavor == Some(Flavor::Mistral)
        && let Some(r) = mistral_extra(obj)
    {
        return Err(r);
    }
    let seed = req
        .get("seed")
        .or_else(|| req.get("random_seed"))
        .and_then(Value::as_i64);
    let mut pb = PromptBuilder::new(&cfg.name, seed);
    let (tool_result, saw_json) = messages(req, cfg, &mut pb)?;

    let stream = req.get("stream").and_then(Value::as_bool).unwrap_or(false);
    let include_usage = match req.get("stream_options") {
        None | Some(Value::Null) => false,
        Some(o) => {
            if !stream {
                return Err(bad(
                    "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
                    Some("stream_options"),
                ));
            }
            o.get("include_usage")
                .and_then(Value::as_bool)
                .unwrap_or(false)
        }
    };
    let n = match req.get("n") {
        None | Some(Value::Null) => 1,
        Some(v) => match v.as_u64() {
            Some(n @ 1..=128) => n as u32,
            _ => {
                return Err(bad(
                    "Invalid 'n': integer below minimum value. Expected a value >= 1 and <= 128.",
                    Some("n"),
                ));
            }
        },
    };
    if n > 1 && flavor == Some(Flavor::Groq) {
        return Err(bad("'n' : number must be at most 1", Some("n")));
    }
    let mut max_tokens = None;
    for key in ["max_completion_tokens", "max_tokens"] {
        match req.get(key) {
            None | Some(Value::Null) => {}
            Some(v) => match v.as_u64() {
                Some(m @ 1..) => max_tokens = Some(u32::try_from(m).unwrap_or(u32::MAX)),
                _ => {
                    return Err(bad(
                        &format!(
                            "Invalid '{key}': integer below minimum value. Expected a value >= 1."
                        ),
                        Some(key),
                    ));
                }
            },
        }
    }
    let stop = match req.get("stop") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) if a.len() <= 4 && a.iter().all(Value::is_string) => a
            .iter()
            .filter_map(|s| s.as_str().map(str::to_owned))
            .collect(),
        Some(_) => {
            return Err(bad(
                "Invalid 'stop': expected a string or an array of at most 4 strings.",
                Some("stop"),
            ));
        }
    };
    let logprobs = parse_logprobs(req, cfg)?;
    let shape = parse_format(req, saw_json)?;
    let tool = parse_tools(req, &mut pb, tool_result.is_some())?;
    let prompt = pb.finish(tool_result);
    if let Some(window) = cfg.context_window
        && prompt.tokens > window
    {
        return Err(bad_code(
            &format!(
                "This model's maximum context length is {window} tokens. However, your messages resulted in {} tokens. Please reduce the length of the messages.",
                prompt.tokens
            ),
            Some("messages"),
            "context_length_exceeded",
        ));
    }
    Ok(ChatReq {
        prompt,
        n,
        stop,
        max_tokens,
        shape,
        tool,
        logprobs,
        stream,
        include_usage,
    })
}

/// Walks the history: token counts, tool-call pairing, Mistral id rules. Returns the trailing
/// tool result (if the last message is one) and whether any message mentions "json".
fn messages(
    req: &Value,
    cfg: &ModelConfig,
    pb: &mut PromptBuilder,
) -> Result<(Option<String>, bool), Resp> {
    let msgs = match req.get("messages") {
        Some(Value::Array(a)) if !a.is_empty() => a,
        Some(Value::Array(_)) => {
            return Err(bad("[] is too short - 'messages'", Some("messages")));
        }
        _ => {
            return Err(bad(
                "Missing required parameter: 'messages'.",
                Some("messages"),
            ));
        }
    };
    let mistral = cfg.flavor == Some(Flavor::Mistral);
    let mut open_calls: Vec<String> = Vec::new();
    let mut answered: HashSet<String> = HashSet::new();
    let mut last_tool: Option<String> = None;
    let mut saw_json = false;
    for (i, m) in msgs.iter().enumerate() {
        let role = m.get("role").and_then(Value::as_str).unwrap_or("");
        let param = format!("messages.[{i}].role");
        if !matches!(
            role,
            "system" | "developer" | "user" | "assistant" | "tool" | "function"
        ) {
            return Err(bad(
                &format!(
                    "Invalid value: '{role}'. Supported values are: 'system', 'assistant', 'user', 'function', 'tool', and 'developer'."
                ),
                Some(&param),
            ));
        }
        let content = m.get("content").unwrap_or(&Value::Null);
        let Some(mut text) = content_text(content) else {
            return Err(bad(
                &format!(
                    "Invalid type for 'messages[{i}].content': expected a string or an array of content parts."
                ),
                Some(&format!("messages.[{i}].content")),
            ));
        };
        if role != "tool" && !open_calls.is_empty() {
            let missing: Vec<&str> = open_calls
                .iter()
                .filter(|id| !answered.contains(*id))
                .map(String::as_str)
                .collect();
            if !missing.is_empty() {
                return Err(bad(
                    &format!(
                        "An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. The following tool_call_ids did not have response messages: {}",
                        missing.join(", ")
                    ),
                    Some("messages"),
                ));
            }
            open_calls.clear();
            answered.clear();
        }
        match role {
            "assistant" => {
                if let Some(calls) = m.get("tool_calls").and_then(Value::as_array) {
                    for c in calls {
                        let id = c.get("id").and_then(Value::as_str).unwrap_or("");
                        if mistral && !is_mistral_id(id) {
                            return Err(bad(
                                &format!(
                                    "Tool call id was {id} but must be a-z, A-Z, 0-9, with a length of 9."
                                ),
                                None,
                            ));
                        }
                        let f = c.get("function").unwrap_or(&Value::Null);
                        text.push_str(f.get("name").and_then(Value::as_str).unwrap_or(""));
                        text.push_str(f.get("arguments").and_then(Value::as_str).unwrap_or(""));
                        open_calls.push(id.to_owned());
                    }
                } else if content.is_null() {
                    return Err(bad(
                        "Invalid value for 'content': expected a string, got null.",
                        Some(&format!("messages.[{i}].content")),
                    ));
                }
                last_tool = None;
            }
            "tool" => {
                let id = m.get("tool_call_id").and_then(Value::as_str);
                let Some(id) = id else {
                    return Err(bad(
                        "Missing parameter 'tool_call_id': messages with role 'tool' must have a 'tool_call_id'.",
                        Some(&format!("messages.[{i}].tool_call_id")),
                    ));
                };
                if mistral && !is_mistral_id(id) {
                    return Err(bad(
                        &format!(
                            "Tool call id was {id} but must be a-z, A-Z, 0-9, with a length of 9."
                        ),
                        None,
                    ));
                }
                if !open_calls.iter().any(|c| c == id) {
                    return Err(bad(
                        "Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'.",
                        Some(&format!("messages.[{i}].role")),
                    ));
                }
                answered.insert(id.to_owned());
                last_tool = Some(text.clone());
            }
            _ => {
                if content.is_null() {
                    return Err(bad(
                        "Invalid value for 'content': expected a string, got null.",
                        Some(&format!("messages.[{i}].content")),
                    ));
                }
                last_tool = None;
            }
        }
        saw_json |= text.to_ascii_lowercase().contains("json");
        pb.message(role == "user", &text);
    }
    if let Some(id) = open_calls.iter().find(|id| !answered.contains(*id)) {
        return Err(bad(
            &format!(
                "An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. The following tool_call_ids did not have response messages: {id}"
            ),
            Some("messages"),
        ));
    }
    Ok((last_tool, saw_json))
}

fn parse_logprobs(req: &Value, cfg: &ModelConfig) -> Result<Option<u32>, Resp> {
    let together = cfg.flavor == Some(Flavor::Together);
    let wanted = match req.get("logprobs") {
        None | Some(Value::Null) | Some(Value::Bool(false)) => None,
        Some(Value::Bool(true)) if together => {
            return Err(bad(
                "logprobs must be an integer between 0 and 20",
                Some("logprobs"),
            ));
        }
        Some(Value::Bool(true)) => Some(0),
        Some(Value::Number(k)) if together => match k.as_u64() {
            Some(0) => None,
            Some(k @ 1..=20) => Some(k as u32),
            _ => {
                return Err(bad(
                    "logprobs must be an integer between 0 and 20",
                    Some("logprobs"),
                ));
            }
        },
        Some(_) => {
            return Err(bad(
                "Invalid type for 'logprobs': expected a boolean.",
                Some("logprobs"),
            ));
        }
    };
    let top = match req.get("top_logprobs") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_u64() {
            Some(k @ 0..=20) => Some(k as u32),
            _ => {
                return Err(bad(
                    "Invalid 'top_logprobs': expected an integer between 0 and 20.",
                    Some("top_logprobs"),
                ));
            }
        },
    };
    if top.is_some_and(|k| k > 0) && wanted.is_none() {
        return Err(bad(
            "Invalid value for 'top_logprobs': 'logprobs' must be set to true when 'top_logprobs' is specified.",
            Some("top_logprobs"),
        ));
    }
    if wanted.is_some() && !cfg.logprobs {
        return Err(bad(
            "logprobs is not supported with this model",
            Some("logprobs"),
        ));
    }
    Ok(wanted.map(|k| top.unwrap_or(k)))
}

fn parse_format(req: &Value, saw_json: bool) -> Result<Shape, Resp> {
    let Some(rf) = req.get("response_format").filter(|v| !v.is_null()) else {
        return Ok(Shape::Text);
    };
    match rf.get("type").and_then(Value::as_str) {
        Some("text") => Ok(Shape::Text),
        Some("json_object") => {
            if !saw_json {
                return Err(bad(
                    "'messages' must contain the word 'json' in some form, to use 'response_format' of type 'json_object'.",
                    Some("messages"),
                ));
            }
            Ok(Shape::JsonObject)
        }
        Some("json_schema") => {
            let js = rf.get("json_schema").unwrap_or(&Value::Null);
            let name = js.get("name").and_then(Value::as_str);
            if !name.is_some_and(valid_tool_name) {
                return Err(bad(
                    "Missing required parameter: 'response_format.json_schema.name'.",
                    Some("response_format.json_schema.name"),
                ));
            }
            Ok(Shape::JsonSchema(
                js.get("schema")
                    .cloned()
                    .unwrap_or(json!({"type": "object"})),
            ))
        }
        _ => Err(bad(
            "Invalid value for 'response_format.type': expected one of 'text', 'json_object', 'json_schema'.",
            Some("response_format.type"),
        )),
    }
}

fn parse_tools(
    req: &Value,
    pb: &mut PromptBuilder,
    after_tool_result: bool,
) -> Result<Option<(String, Value)>, Resp> {
    let tools = match req.get("tools") {
        None | Some(Value::Null) => &[][..],
        Some(Value::Array(a)) => &a[..],
        Some(_) => {
            return Err(bad(
                "Invalid type for 'tools': expected an array.",
                Some("tools"),
            ));
        }
    };
    let mut defs = Vec::with_capacity(tools.len());
    for (i, t) in tools.iter().enumerate() {
        let f = t.get("function").unwrap_or(&Value::Null);
        let name = f.get("name").and_then(Value::as_str).unwrap_or("");
        if t.get("type").and_then(Value::as_str) != Some("function") || !valid_tool_name(name) {
            return Err(bad(
                &format!(
                    "Invalid 'tools[{i}].function.name': string does not match pattern. Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$'."
                ),
                Some(&format!("tools[{i}].function.name")),
            ));
        }
        let schema = f
            .get("parameters")
            .cloned()
            .unwrap_or(json!({"type": "object"}));
        defs.push((name.to_owned(), schema));
    }
    if !tools.is_empty() {
        pb.extra(&Value::Array(tools.to_vec()).to_string());
    }
    let choice = req.get("tool_choice").filter(|v| !v.is_null());
    if choice.is_some() && defs.is_empty() {
        return Err(bad(
            "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.",
            Some("tool_choice"),
        ));
    }
    let named = match choice {
        None => None,
        Some(Value::String(s)) if s == "none" => return Ok(None),
        Some(Value::String(s)) if s == "auto" || s == "required" || s == "any" => None,
        Some(Value::Object(o)) => {
            let name = o
                .get("function")
                .and_then(|f| f.get("name"))
                .and_then(Value::as_str)
                .unwrap_or("");
            if !defs.iter().any(|(n, _)| n == name) {
                return Err(bad(
                    &format!(
                        "Invalid value for 'tool_choice': function '{name}' is not among the provided tools."
                    ),
                    Some("tool_choice"),
                ));
            }
            Some(name.to_owned())
        }
        Some(_) => {
            return Err(bad(
                "Invalid value for 'tool_choice': expected 'none', 'auto', 'required' or a named function.",
                Some("tool_choice"),
            ));
        }
    };
    if after_tool_result || defs.is_empty() {
        return Ok(None);
    }
    let pick = match named {
        Some(n) => defs.into_iter().find(|(d, _)| *d == n),
        None => defs.into_iter().next(),
    };
    Ok(pick)
}

/// Token estimate for one embeddings input item.
pub fn embed_input_tokens(v: &Value) -> u32 {
    match v {
        Value::String(s) => est_tokens(s),
        Value::Array(a) => u32::try_from(a.len()).unwrap_or(u32::MAX),
        _ => 0,
    }
}
