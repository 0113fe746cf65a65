//! Canonical (OpenAI-shaped) request -> Gemini `generateContent` body. Pure functions.
//!
//! Choices worth knowing:
//! - Tool schemas go in `parameters`, sanitised to Gemini's OpenAPI subset (see [`super::schema`]),
//!   rather than `parametersJsonSchema`, because `parameters` is accepted by every Gemini model
//!   while the JSON-Schema field is newer. `response_format: json_schema` uses
//!   `responseJsonSchema` (plain JSON Schema) with `responseMimeType: application/json`;
//!   `json_object` sets only the MIME type.
//! - Tool-call ids: Gemini usually sends no id, so responses carry a synthesised `call_<random>`
//!   id (or Gemini's own id when it sent one). On the way back a `tool` message's function name
//!   is looked up from the earlier assistant `tool_calls` entry with the same id, because
//!   `functionResponse` is matched by name. Ids are echoed to Gemini only when Gemini minted
//!   them (`gemini_id` lookup), never our synthetic ones.
//! - `functionResponse.response` must be an object: the tool output is wrapped as
//!   `{"output": <parsed JSON, or the string when it is not JSON>}`.

use std::collections::HashMap;

use serde_json::{Value, json};
use switchyard_core::chat::{ContentPart, ResponseFormat, Role, ToolChoice};
use switchyard_core::{ChatRequest, Content as CanonContent, ErrorKind, ProviderError};

use super::schema::sanitize;
use super::wire;
use crate::anthropic::convert::parse_data_url;

fn invalid(msg: impl Into<String>) -> ProviderError {
    ProviderError::new(ErrorKind::InvalidRequest, msg)
}

/// What the converter needs to know about ids minted in earlier responses of this process:
/// Gemini's own call id and the `thoughtSignature` to echo for a tool-call id we handed out.
pub trait IdMemory {
    fn recall(&self, tool_call_id: &str) -> Option<Remembered>;
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Remembered {
    pub gemini_id: Option<String>,
    pub thought_signature: Option<String>,
}

impl IdMemory for HashMap<String, Remembered> {
    fn recall(&self, id: &str) -> Option<Remembered> {
        self.get(id).cloned()
    }
}

/// Canonical request -> `generateContent` body (the model goes in the URL, not the body).
pub fn to_wire(
    req: &ChatRequest,
    ids: &dyn IdMemory,
) -> Result<wire::GenerateContentRequest, ProviderError> {
    let mut system: Vec<wire::Part> = Vec::new();
    let mut contents: Vec<wire::Content> = Vec::new();
    // tool_call_id -> function name, from the assistant turns seen so far.
    let mut names: HashMap<&str, &str> = HashMap::new();
    for (i, m) in req.messages.iter().enumerate() {
        match m.role {
            Role::System | Role::Developer => {
                let t = m.text_content();
                if !t.is_empty() {
                    system.push(text_part(t));
                }
            }
            Role::User => push(&mut contents, "user", parts(m.content.as_ref(), i)?),
            Role::Assistant => {
                let mut ps = parts(m.content.as_ref(), i)?;
                for call in m.tool_calls.iter().flatten() {
                    names.insert(&call.id, &call.function.name);
                    let mem = ids.recall(&call.id).unwrap_or_default();
                    ps.push(wire::Part {
                        function_call: Some(wire::FunctionCall {
                            id: mem.gemini_id,
                            name: call.function.name.clone(),
                            args: parse_arguments(&call.function.arguments, i)?,
                        }),
                        thought_signature: mem.thought_signature,
                        ..wire::Part::default()
                    });
                }
                push(&mut contents, "model", ps);
            }
            Role::Tool => {
                let id = m.tool_call_id.as_deref().ok_or_else(|| {
                    invalid(format!("messages[{i}]: a tool message needs tool_call_id"))
                })?;
                let name = names
                    .get(id)
                    .map(|n| (*n).to_owned())
                    .or_else(|| m.name.clone())
                    .ok_or_else(|| {
                        invalid(format!(
                            "messages[{i}]: tool_call_id \"{id}\" matches no earlier assistant tool call"
                        ))
                    })?;
                let text = m.text_content();
                let output = serde_json::from_str::<Value>(&text).unwrap_or(Value::String(text));
                push_function_response(
                    &mut contents,
                    wire::Part {
                        function_response: Some(wire::FunctionResponse {
                            id: ids.recall(id).and_then(|r| r.gemini_id),
                            name,
                            response: json!({ "output": output }),
                        }),
                        ..wire::Part::default()
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
    if contents.is_empty() {
        // A system-only conversation is valid OpenAI; this API cannot carry it.
        return Err(ProviderError::cannot_express(
            "Gemini needs at least one user or assistant message with content",
        ));
    }

    let tools = tools(req)?;
    let tool_config = if tools.is_empty() {
        None
    } else {
        tool_config(req)?
    };
    let generation_config = generation_config(req)?;
    Ok(wire::GenerateContentRequest {
        contents,
        system_instruction: (!system.is_empty()).then_some(wire::Content {
            role: None,
            parts: system,
        }),
        tools: if tools.is_empty() {
            Vec::new()
        } else {
            vec![wire::Tool {
                function_declarations: tools,
            }]
        },
        tool_config,
        generation_config: (!generation_config.is_empty()).then_some(generation_config),
    })
}

fn text_part(text: String) -> wire::Part {
    wire::Part {
        text: Some(text),
        ..wire::Part::default()
    }
}

fn parts(content: Option<&CanonContent>, i: usize) -> Result<Vec<wire::Part>, ProviderError> {
    let mut out = Vec::new();
    match content {
        Some(CanonContent::Text(t)) if !t.is_empty() => out.push(text_part(t.clone())),
        Some(CanonContent::Parts(ps)) => {
            for p in ps {
                match p {
                    ContentPart::Text { text } if !text.is_empty() => {
                        out.push(text_part(text.clone()))
                    }
                    ContentPart::Text { .. } => {}
                    ContentPart::ImageUrl { image_url } => out.push(image_part(&image_url.url, i)?),
                    ContentPart::Other(v) => {
                        let kind = v.get("type").and_then(Value::as_str).unwrap_or("unknown");
                        return Err(ProviderError::cannot_express(format!(
                            "messages[{i}]: content part type \"{kind}\" is not supported by Gemini models"
                        )));
                    }
                }
            }
        }
        _ => {}
    }
    Ok(out)
}

/// Data URLs are inlined. Other URLs become `fileData` references: Gemini fetches only URIs it
/// supports (Files API, Cloud Storage, some public URLs), so an arbitrary image URL may be
/// refused upstream with a 400 rather than silently dropped here.
fn image_part(url: &str, i: usize) -> Result<wire::Part, ProviderError> {
    if let Some((mime, data)) = parse_data_url(url) {
        return Ok(wire::Part {
            inline_data: Some(wire::Blob {
                mime_type: mime.to_owned(),
                data: data.to_owned(),
            }),
            ..wire::Part::default()
        });
    }
    if url.starts_with("https://") || url.starts_with("http://") || url.starts_with("gs://") {
        return Ok(wire::Part {
            file_data: Some(wire::FileData {
                mime_type: guess_image_mime(url).map(str::to_owned),
                file_uri: url.to_owned(),
            }),
            ..wire::Part::default()
        });
    }
    Err(invalid(format!(
        "messages[{i}]: image_url must be an http(s) URL or a base64 data: URL"
    )))
}

fn guess_image_mime(url: &str) -> Option<&'static str> {
    let path = url
        .split(['?', '#'])
        .next()
        .unwrap_or(url)
        .to_ascii_lowercase();
    let ext = path.rsplit_once('.').map(|(_, e)| e)?;
    Some(match ext {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        "gif" => "image/gif",
        "heic" => "image/heic",
        "heif" => "image/heif",
        _ => return None,
    })
}

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

/// Merge into the previous turn when the role repeats; drop turns with no parts.
fn push(contents: &mut Vec<wire::Content>, role: &str, parts: Vec<wire::Part>) {
    if parts.is_empty() {
        return;
    }
    match contents.last_mut() {
        Some(last) if last.role.as_deref() == Some(role) => last.parts.extend(parts),
        _ => contents.push(wire::Content {
            role: Some(role.to_owned()),
            parts,
        }),
    }
}

/// Function responses open the user turn that follows the model's calls, ahead of any text.
fn push_function_response(contents: &mut Vec<wire::Content>, part: wire::Part) {
    match contents.last_mut() {
        Some(last) if last.role.as_deref() == Some("user") => {
            let at = last
                .parts
                .iter()
                .take_while(|p| p.function_response.is_some())
                .count();
            last.parts.insert(at, part);
        }
        _ => contents.push(wire::Content {
            role: Some("user".to_owned()),
            parts: vec![part],
        }),
    }
}

fn tools(req: &ChatRequest) -> Result<Vec<wire::FunctionDeclaration>, ProviderError> {
    let mut out = Vec::new();
    for (i, t) in req.tools.iter().flatten().enumerate() {
        if t.kind != "function" {
            return Err(ProviderError::cannot_express(format!(
                "tools[{i}]: tool type \"{}\" is not supported by Gemini models",
                t.kind
            )));
        }
        out.push(wire::FunctionDeclaration {
            name: t.function.name.clone(),
            description: t.function.description.clone(),
            parameters: t.function.parameters.as_ref().and_then(sanitize),
        });
    }
    Ok(out)
}

fn tool_config(req: &ChatRequest) -> Result<Option<wire::ToolConfig>, ProviderError> {
    let (mode, allowed) = match &req.tool_choice {
        None => return Ok(None),
        Some(ToolChoice::Mode(m)) => match m.as_str() {
            "auto" => ("AUTO", Vec::new()),
            "none" => ("NONE", Vec::new()),
            "required" => ("ANY", Vec::new()),
            other => {
                return Err(invalid(format!(
                    "tool_choice \"{other}\" is not one of none, auto, required"
                )));
            }
        },
        Some(ToolChoice::Named(n)) => ("ANY", vec![n.function.name.clone()]),
    };
    Ok(Some(wire::ToolConfig {
        function_calling_config: wire::FunctionCallingConfig {
            mode,
            allowed_function_names: allowed,
        },
    }))
}

fn generation_config(req: &ChatRequest) -> Result<wire::GenerationConfig, ProviderError> {
    let seed = req
        .seed
        .map(|s| {
            i32::try_from(s).map_err(|_| {
                invalid(format!(
                    "seed {s} is out of range for Gemini (32-bit integer)"
                ))
            })
        })
        .transpose()?;
    let logprobs = req.logprobs == Some(true);
    let (mime, schema) = match &req.response_format {
        None | Some(ResponseFormat::Text) => (None, None),
        Some(ResponseFormat::JsonObject) => (Some("application/json".to_owned()), None),
        Some(ResponseFormat::JsonSchema { json_schema }) => (
            Some("application/json".to_owned()),
            json_schema.schema.clone(),
        ),
    };
    Ok(wire::GenerationConfig {
        temperature: req.temperature,
        top_p: req.top_p,
        top_k: req.extra.get("top_k").and_then(Value::as_u64),
        max_output_tokens: req.max_output_tokens(),
        stop_sequences: req.stop_list(),
        candidate_count: req.n,
        seed,
        presence_penalty: req.presence_penalty,
        frequency_penalty: req.frequency_penalty,
        response_logprobs: logprobs.then_some(true),
        logprobs: if logprobs { req.top_logprobs } else { None },
        response_mime_type: mime,
        response_json_schema: schema,
    })
}
