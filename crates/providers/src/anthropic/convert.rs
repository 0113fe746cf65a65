//! Pure conversions between the canonical (OpenAI-shaped) types and the Anthropic Messages API.
//!
//! Choices worth knowing:
//! - `response_format: json_schema` becomes `output_config.format = {type: "json_schema", schema}`
//!   (Anthropic structured outputs); `json_object` has no switch upstream, so it becomes an extra
//!   system instruction asking for a single JSON object. A `json_schema` without a schema is
//!   treated like `json_object`.
//! - Tool-call ids pass through unchanged both ways: Anthropic's `toolu_...` ids become OpenAI
//!   `tool_calls[].id`, and whatever id a client echoes in a `tool` message becomes `tool_use_id`.
//! - `top_p` is dropped when `temperature` is also set (newer models refuse both at once).
//! - Parameters Anthropic lacks (`seed`, penalties, `logit_bias`, `logprobs`) are dropped;
//!   `n > 1` is refused because silently answering once would break the client's indexing.

use serde_json::Value;
use switchyard_core::chat::{ContentPart, ResponseFormat, Role, ToolChoice as CanonToolChoice};
use switchyard_core::{
    ChatRequest, ChatResponse, Choice, Content, ErrorKind, FinishReason, FunctionCall,
    ProviderError, ResponseMessage, ToolCall, Usage,
};

use super::wire;

/// What Anthropic requires and OpenAI clients often omit; used when neither the request nor the
/// provider config names an output cap.
pub const FALLBACK_MAX_TOKENS: u32 = 4096;

const JSON_OBJECT_INSTRUCTION: &str = "Respond with a single valid JSON object and nothing else: no prose before or after it, no code fences.";

fn invalid(msg: impl Into<String>) -> ProviderError {
    ProviderError::new(ErrorKind::InvalidRequest, msg)
}

/// Canonical request -> Messages API body.
pub fn to_wire(
    req: &ChatRequest,
    model: &str,
    default_max_tokens: Option<u32>,
    stream: bool,
) -> Result<wire::MessagesRequest, ProviderError> {
    if req.n.is_some_and(|n| n > 1) {
        return Err(ProviderError::cannot_express(
            "n>1 is not supported by Anthropic models",
        ));
    }
    let mut system: Vec<String> = Vec::new();
    let mut turns: Vec<wire::Message> = Vec::new();
    for (i, m) in req.messages.iter().enumerate() {
        match m.role {
            Role::System | Role::Developer => {
                let t = m.text_content();
                if !t.is_empty() {
                    system.push(t);
                }
            }
            Role::User => {
                let blocks = user_blocks(m.content.as_ref(), i)?;
                push_blocks(&mut turns, wire::Role::User, blocks);
            }
            Role::Assistant => {
                let mut blocks = user_blocks(m.content.as_ref(), i)?;
                for call in m.tool_calls.iter().flatten() {
                    blocks.push(wire::Block::ToolUse {
                        id: call.id.clone(),
                        name: call.function.name.clone(),
                        input: parse_arguments(&call.function.arguments, i)?,
                    });
                }
                push_blocks(&mut turns, wire::Role::Assistant, blocks);
            }
            Role::Tool => {
                let id = m.tool_call_id.clone().ok_or_else(|| {
                    invalid(format!("messages[{i}]: a tool message needs tool_call_id"))
                })?;
                let text = m.text_content();
                push_tool_result(
                    &mut turns,
                    wire::Block::ToolResult {
                        tool_use_id: id,
                        content: (!text.is_empty()).then_some(text),
                    },
                );
            }
            Role::Function => {
                return Err(invalid(format!(
                    "messages[{i}]: the deprecated \"function\" role is not supported; use tool messages"
                )));
            }
        }
    }
    if turns.is_empty() {
        // A system-only conversation is valid OpenAI; this API cannot carry it.
        return Err(ProviderError::cannot_express(
            "Anthropic needs at least one user or assistant message with content",
        ));
    }

    let mut output_config = None;
    match &req.response_format {
        None | Some(ResponseFormat::Text) => {}
        Some(ResponseFormat::JsonObject) => system.push(JSON_OBJECT_INSTRUCTION.to_owned()),
        Some(ResponseFormat::JsonSchema { json_schema }) => match &json_schema.schema {
            Some(schema) => {
                output_config = Some(wire::OutputConfig {
                    format: wire::OutputFormat {
                        kind: "json_schema",
                        schema: schema.clone(),
                    },
                });
            }
            None => system.push(JSON_OBJECT_INSTRUCTION.to_owned()),
        },
    }

    let tools = tools(req)?;
    let tool_choice = if tools.is_empty() {
        None
    } else {
        tool_choice(req)?
    };

    Ok(wire::MessagesRequest {
        model: model.to_owned(),
        max_tokens: req
            .max_output_tokens()
            .or(default_max_tokens)
            .unwrap_or(FALLBACK_MAX_TOKENS),
        messages: turns,
        system: (!system.is_empty()).then(|| system.join("\n\n")),
        stop_sequences: req.stop_list(),
        temperature: req.temperature.map(|t| t.clamp(0.0, 1.0)),
        // Newer Claude models reject temperature and top_p together; temperature is the one
        // clients usually mean, so top_p is sent only on its own.
        top_p: req.top_p.filter(|_| req.temperature.is_none()),
        top_k: req.extra.get("top_k").and_then(Value::as_u64),
        tools,
        tool_choice,
        metadata: req
            .user
            .as_ref()
            .map(|u| wire::Metadata { user_id: u.clone() }),
        output_config,
        stream,
    })
}

/// Text and image parts as blocks; empty text is dropped (Anthropic rejects empty text blocks).
fn user_blocks(content: Option<&Content>, i: usize) -> Result<Vec<wire::Block>, ProviderError> {
    let mut out = Vec::new();
    match content {
        Some(Content::Text(t)) if !t.is_empty() => out.push(wire::Block::Text { text: t.clone() }),
        Some(Content::Parts(parts)) => {
            for p in parts {
                match p {
                    ContentPart::Text { text } if !text.is_empty() => {
                        out.push(wire::Block::Text { text: text.clone() })
                    }
                    ContentPart::Text { .. } => {}
                    ContentPart::ImageUrl { image_url } => out.push(wire::Block::Image {
                        source: image_source(&image_url.url, i)?,
                    }),
                    ContentPart::Other(v) => {
                        let kind = v.get("type").and_then(Value::as_str).unwrap_or("unknown");
                        return Err(ProviderError::cannot_express(format!(
                            "messages[{i}]: content part type \"{kind}\" is not supported by Anthropic models"
                        )));
                    }
                }
            }
        }
        _ => {}
    }
    Ok(out)
}

fn image_source(url: &str, i: usize) -> Result<wire::ImageSource, ProviderError> {
    if let Some((media_type, data)) = parse_data_url(url) {
        return Ok(wire::ImageSource::Base64 {
            media_type: media_type.to_owned(),
            data: data.to_owned(),
        });
    }
    if url.starts_with("https://") || url.starts_with("http://") {
        return Ok(wire::ImageSource::Url {
            url: url.to_owned(),
        });
    }
    Err(invalid(format!(
        "messages[{i}]: image_url must be an http(s) URL or a base64 data: URL"
    )))
}

/// `data:<media type>;base64,<data>` -> (media type, data). Other data URLs are not images we
/// can forward.
pub fn parse_data_url(url: &str) -> Option<(&str, &str)> {
    let rest = url.strip_prefix("data:")?;
    let (meta, data) = rest.split_once(',')?;
    let media_type = meta.strip_suffix(";base64")?;
    (!media_type.is_empty()).then_some((media_type, data))
}

/// OpenAI sends arguments as a JSON string; Anthropic wants the object. An empty string (a call
/// without arguments) is an empty object.
fn parse_arguments(args: &str, i: usize) -> Result<Value, ProviderError> {
    if args.trim().is_empty() {
        return Ok(Value::Object(serde_json::Map::new()));
    }
    serde_json::from_str(args).map_err(|e| {
        invalid(format!(
            "messages[{i}]: tool call arguments are not valid JSON ({e})"
        ))
    })
}

/// Append to the last turn if it has the same role (Anthropic wants alternation), else open a
/// new turn. Messages that end up with no blocks are skipped.
fn push_blocks(turns: &mut Vec<wire::Message>, role: wire::Role, blocks: Vec<wire::Block>) {
    if blocks.is_empty() {
        return;
    }
    match turns.last_mut() {
        Some(last) if last.role == role => last.content.extend(blocks),
        _ => turns.push(wire::Message {
            role,
            content: blocks,
        }),
    }
}

/// Tool results go into a user turn, ahead of any text in it, because Anthropic requires the
/// `tool_result` blocks to come first in the message right after the `tool_use`.
fn push_tool_result(turns: &mut Vec<wire::Message>, block: wire::Block) {
    match turns.last_mut() {
        Some(last) if last.role == wire::Role::User => {
            let at = last
                .content
                .iter()
                .take_while(|b| matches!(b, wire::Block::ToolResult { .. }))
                .count();
            last.content.insert(at, block);
        }
        _ => turns.push(wire::Message {
            role: wire::Role::User,
            content: vec![block],
        }),
    }
}

fn tools(req: &ChatRequest) -> Result<Vec<wire::Tool>, ProviderError> {
    let mut out = Vec::new();
    for (i, t) in req.tools.iter().flatten().enumerate() {
        if t.kind != "function" {
            return Err(ProviderError::cannot_express(format!(
                "tools[{i}]: tool type \"{}\" is not supported by Anthropic models",
                t.kind
            )));
        }
        out.push(wire::Tool {
            name: t.function.name.clone(),
            description: t.function.description.clone(),
            // input_schema is required upstream; a tool without parameters takes none.
            input_schema: t
                .function
                .parameters
                .clone()
                .unwrap_or_else(|| serde_json::json!({"type": "object", "properties": {}})),
        });
    }
    Ok(out)
}

fn tool_choice(req: &ChatRequest) -> Result<Option<wire::ToolChoice>, ProviderError> {
    let no_parallel = (req.parallel_tool_calls == Some(false)).then_some(true);
    let (kind, name) = match &req.tool_choice {
        None => ("auto", None),
        Some(CanonToolChoice::Mode(m)) => match m.as_str() {
            "auto" => ("auto", None),
            "none" => ("none", None),
            "required" => ("any", None),
            other => {
                return Err(invalid(format!(
                    "tool_choice \"{other}\" is not one of none, auto, required"
                )));
            }
        },
        Some(CanonToolChoice::Named(n)) => ("tool", Some(n.function.name.clone())),
    };
    if req.tool_choice.is_none() && no_parallel.is_none() {
        return Ok(None);
    }
    Ok(Some(wire::ToolChoice {
        kind,
        name,
        // `none` does not accept the flag.
        disable_parallel_tool_use: if kind == "none" { None } else { no_parallel },
    }))
}

pub fn finish_reason(stop_reason: &str) -> FinishReason {
    match stop_reason {
        "end_turn" | "stop_sequence" | "pause_turn" => FinishReason::Stop,
        "max_tokens" | "model_context_window_exceeded" => FinishReason::Length,
        "tool_use" => FinishReason::ToolCalls,
        "refusal" => FinishReason::ContentFilter,
        other => FinishReason::Other(other.to_owned()),
    }
}

/// Anthropic's `input_tokens` excludes cache reads and writes; OpenAI's `prompt_tokens`
/// includes them, so the classes are added back together.
pub fn usage(u: &wire::WireUsage) -> Usage {
    Usage::from_classes(
        u.input_tokens.unwrap_or(0),
        u.cache_read_input_tokens.unwrap_or(0),
        u.cache_creation_input_tokens.unwrap_or(0),
        u.output_tokens.unwrap_or(0),
        0,
    )
}

/// Messages API response -> canonical response.
pub fn from_wire(resp: wire::MessagesResponse, created: i64) -> ChatResponse {
    let mut text = String::new();
    let mut has_text = false;
    let mut reasoning = String::new();
    let mut calls = Vec::new();
    for block in resp.content {
        match block {
            wire::ResponseBlock::Text { text: t } => {
                text.push_str(&t);
                has_text = true;
            }
            wire::ResponseBlock::ToolUse { id, name, input } => calls.push(ToolCall {
                id,
                kind: "function".to_owned(),
                function: FunctionCall {
                    name,
                    arguments: serialize_input(&input),
                },
            }),
            wire::ResponseBlock::Thinking { thinking } => reasoning.push_str(&thinking),
            wire::ResponseBlock::Other => {}
        }
    }
    ChatResponse {
        id: resp.id,
        object: "chat.completion".to_owned(),
        created,
        model: resp.model,
        choices: vec![Choice {
            index: 0,
            message: ResponseMessage {
                role: Role::Assistant,
                content: (has_text || calls.is_empty()).then_some(text),
                refusal: None,
                tool_calls: (!calls.is_empty()).then_some(calls),
                reasoning_content: (!reasoning.is_empty()).then_some(reasoning),
            },
            finish_reason: resp.stop_reason.as_deref().map(finish_reason),
            logprobs: None,
            stop_sequence: resp.stop_sequence,
        }],
        usage: Some(usage(&resp.usage)),
        system_fingerprint: None,
        service_tier: None,
    }
}

/// `input` as an OpenAI arguments string; `null` (no input) reads as `{}`.
fn serialize_input(input: &Value) -> String {
    if input.is_null() {
        return "{}".to_owned();
    }
    serde_json::to_string(input).unwrap_or_else(|_| "{}".to_owned())
}
