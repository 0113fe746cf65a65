//! Anthropic Messages request -> canonical chat request.

use serde_json::{Map, Value, json};
use switchyard_core::{
    ChatRequest, Content, ContentPart, FunctionCall, FunctionDef, ImageUrl, Message, NamedFunction,
    NamedToolChoice, Role, Stop, StreamOptions, Tool, ToolCall, ToolChoice,
};
use switchyard_engine::GatewayError;

fn bad(msg: impl Into<String>) -> GatewayError {
    GatewayError::bad_request(msg)
}

fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(blocks) => blocks
            .iter()
            .filter_map(|b| b.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(""),
        _ => String::new(),
    }
}

/// Fields `POST /v1/messages/count_tokens` accepts (Anthropic rejects the rest).
const COUNT_FIELDS: &[&str] = &[
    "model",
    "messages",
    "system",
    "tools",
    "tool_choice",
    "thinking",
];

/// A count-tokens body made ready for [`to_canonical`]: fields Anthropic would reject are
/// rejected with its message, and `max_tokens` (which the conversion requires and counting
/// never uses) is filled in.
pub fn count_body(raw: &mut Value) -> Result<(), GatewayError> {
    if let Some(obj) = raw.as_object_mut() {
        if let Some(k) = obj.keys().find(|k| !COUNT_FIELDS.contains(&k.as_str())) {
            return Err(bad(format!("{k}: Extra inputs are not permitted")));
        }
        obj.insert("max_tokens".into(), Value::from(1));
    }
    Ok(())
}

pub fn to_canonical(body: &Value) -> Result<ChatRequest, GatewayError> {
    let obj = body
        .as_object()
        .ok_or_else(|| bad("The request body must be a JSON object."))?;
    let model = obj
        .get("model")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("model: Field required"))?;
    let max_tokens = obj
        .get("max_tokens")
        .ok_or_else(|| bad("max_tokens: Field required"))?;
    let max_tokens = max_tokens
        .as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| bad("max_tokens: Input should be a valid integer"))?;
    // Anthropic's own bounds, in its words: a request it would reject never reaches a provider
    // (which would answer 400 after the route was spent, or, on an OpenAI upstream that takes
    // temperature up to 2, answer 200 to a body Anthropic SDK users expect to fail).
    if max_tokens == 0 {
        return Err(bad(
            "max_tokens: Input should be greater than or equal to 1",
        ));
    }
    let temperature = unit_interval(obj, "temperature")?;
    let top_p = unit_interval(obj, "top_p")?;
    let raw_messages = obj
        .get("messages")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("messages: Field required"))?;
    if raw_messages.is_empty() {
        return Err(bad("messages: at least one message is required"));
    }
    let mut messages = Vec::new();
    if let Some(system) = obj.get("system") {
        let s = text_of(system);
        if !s.is_empty() {
            messages.push(Message::text(Role::System, s));
        }
    }
    for (i, m) in raw_messages.iter().enumerate() {
        let role = m.get("role").and_then(Value::as_str).unwrap_or_default();
        let content = m
            .get("content")
            .ok_or_else(|| bad(format!("messages.{i}.content: Field required")))?;
        match role {
            "user" => user_turn(content, &mut messages, i)?,
            "assistant" => messages.push(assistant_turn(content)),
            other => {
                return Err(bad(format!(
                    "messages.{i}.role: Input should be 'user' or 'assistant', got {other:?}"
                )));
            }
        }
    }
    let tools = obj.get("tools").and_then(Value::as_array).map(|ts| {
        ts.iter()
            .filter_map(|t| {
                Some(Tool {
                    kind: "function".to_owned(),
                    function: FunctionDef {
                        name: t.get("name")?.as_str()?.to_owned(),
                        description: t
                            .get("description")
                            .and_then(Value::as_str)
                            .map(str::to_owned),
                        parameters: t.get("input_schema").cloned(),
                        strict: None,
                    },
                })
            })
            .collect::<Vec<_>>()
    });
    let mut parallel = None;
    let tool_choice = obj.get("tool_choice").map(|tc| {
        if tc.get("disable_parallel_tool_use").and_then(Value::as_bool) == Some(true) {
            parallel = Some(false);
        }
        match tc.get("type").and_then(Value::as_str) {
            Some("any") => ToolChoice::Mode("required".to_owned()),
            Some("none") => ToolChoice::Mode("none".to_owned()),
            Some("tool") => ToolChoice::Named(NamedToolChoice {
                kind: "function".to_owned(),
                function: NamedFunction {
                    name: tc
                        .get("name")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                },
            }),
            _ => ToolChoice::Mode("auto".to_owned()),
        }
    });
    let stream = obj.get("stream").and_then(Value::as_bool).unwrap_or(false);
    let mut extra = Map::new();
    if let Some(k) = obj.get("top_k") {
        extra.insert("top_k".to_owned(), k.clone());
    }
    Ok(ChatRequest {
        model: model.to_owned(),
        messages,
        stream,
        // The Anthropic dialect always reports usage at the end of a stream.
        stream_options: stream.then(|| StreamOptions {
            include_usage: Some(true),
            extra: Map::new(),
        }),
        temperature,
        top_p,
        max_tokens: Some(max_tokens),
        stop: obj
            .get("stop_sequences")
            .and_then(Value::as_array)
            .map(|v| {
                Stop::Many(
                    v.iter()
                        .filter_map(|s| s.as_str().map(str::to_owned))
                        .collect(),
                )
            }),
        tools,
        tool_choice,
        parallel_tool_calls: parallel,
        user: obj
            .get("metadata")
            .and_then(|m| m.get("user_id"))
            .and_then(Value::as_str)
            .map(str::to_owned),
        switchyard: obj.get("switchyard").cloned(),
        extra,
        ..ChatRequest::default()
    })
}

/// An optional number in 0..=1 (Anthropic's range for `temperature` and `top_p`).
fn unit_interval(obj: &Map<String, Value>, field: &str) -> Result<Option<f64>, GatewayError> {
    let Some(v) = obj.get(field).filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let x = v
        .as_f64()
        .ok_or_else(|| bad(format!("{field}: Input should be a valid number")))?;
    if !(0.0..=1.0).contains(&x) {
        return Err(bad(format!(
            "{field}: Input should be between 0 and 1 (Anthropic's range), got {x}"
        )));
    }
    Ok(Some(x))
}

/// A user turn: tool results become `tool` messages (in order, before the rest of the turn).
fn user_turn(content: &Value, out: &mut Vec<Message>, i: usize) -> Result<(), GatewayError> {
    let blocks = match content {
        Value::String(s) => {
            out.push(Message::text(Role::User, s.clone()));
            return Ok(());
        }
        Value::Array(b) => b,
        _ => {
            return Err(bad(format!(
                "messages.{i}.content: Input should be a string or a list of blocks"
            )));
        }
    };
    let mut parts = Vec::new();
    for b in blocks {
        match b.get("type").and_then(Value::as_str) {
            Some("tool_result") => {
                let mut m = Message::text(
                    Role::Tool,
                    text_of(b.get("content").unwrap_or(&Value::Null)),
                );
                m.tool_call_id = b
                    .get("tool_use_id")
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                out.push(m);
            }
            Some("text") => parts.push(ContentPart::Text {
                text: b
                    .get("text")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
            }),
            Some("image") => {
                let src = &b["source"];
                let url = match src.get("type").and_then(Value::as_str) {
                    Some("base64") => format!(
                        "data:{};base64,{}",
                        src.get("media_type")
                            .and_then(Value::as_str)
                            .unwrap_or("image/png"),
                        src.get("data").and_then(Value::as_str).unwrap_or_default()
                    ),
                    _ => src
                        .get("url")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                };
                parts.push(ContentPart::ImageUrl {
                    image_url: ImageUrl { url, detail: None },
                });
            }
            _ => {}
        }
    }
    if !parts.is_empty() {
        let content = match parts.as_slice() {
            [ContentPart::Text { text }] => Content::Text(text.clone()),
            _ => Content::Parts(parts),
        };
        out.push(Message {
            content: Some(content),
            ..Message::text(Role::User, "")
        });
    }
    Ok(())
}

fn assistant_turn(content: &Value) -> Message {
    let mut text = String::new();
    let mut calls = Vec::new();
    match content {
        Value::String(s) => text.push_str(s),
        Value::Array(blocks) => {
            for b in blocks {
                match b.get("type").and_then(Value::as_str) {
                    Some("text") => {
                        text.push_str(b.get("text").and_then(Value::as_str).unwrap_or_default())
                    }
                    Some("tool_use") => calls.push(ToolCall {
                        id: b
                            .get("id")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_owned(),
                        kind: "function".to_owned(),
                        function: FunctionCall {
                            name: b
                                .get("name")
                                .and_then(Value::as_str)
                                .unwrap_or_default()
                                .to_owned(),
                            arguments: b.get("input").unwrap_or(&json!({})).to_string(),
                        },
                    }),
                    _ => {}
                }
            }
        }
        _ => {}
    }
    Message {
        content: (!text.is_empty()).then_some(Content::Text(text)),
        tool_calls: (!calls.is_empty()).then_some(calls),
        ..Message::text(Role::Assistant, "")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_tools_and_tool_results_translate() {
        let req = to_canonical(&json!({
            "model": "auto", "max_tokens": 100, "system": [{"type": "text", "text": "Be brief."}],
            "tools": [{"name": "get_weather", "input_schema": {"type": "object"}}],
            "tool_choice": {"type": "any", "disable_parallel_tool_use": true},
            "stop_sequences": ["END"],
            "messages": [
                {"role": "user", "content": "Weather?"},
                {"role": "assistant", "content": [{"type": "text", "text": "Checking."}, {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C"}, {"type": "text", "text": "Thanks"}]}
            ]
        }))
        .unwrap();
        let roles: Vec<Role> = req.messages.iter().map(|m| m.role).collect();
        assert_eq!(
            roles,
            vec![
                Role::System,
                Role::User,
                Role::Assistant,
                Role::Tool,
                Role::User
            ]
        );
        assert_eq!(
            req.messages[2].tool_calls.as_ref().unwrap()[0]
                .function
                .arguments,
            r#"{"city":"Paris"}"#
        );
        assert_eq!(req.messages[3].tool_call_id.as_deref(), Some("toolu_1"));
        assert_eq!(req.tool_choice, Some(ToolChoice::Mode("required".into())));
        assert_eq!(req.parallel_tool_calls, Some(false));
        assert_eq!(req.stop_list(), vec!["END"]);
        assert_eq!(req.max_tokens, Some(100));
    }

    #[test]
    fn out_of_range_sampling_and_max_tokens_are_rejected() {
        let base = json!({"model": "auto", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]});
        let cases = [
            ("max_tokens", json!(0), "greater than or equal to 1"),
            ("temperature", json!(3), "between 0 and 1"),
            ("temperature", json!(-0.1), "between 0 and 1"),
            ("temperature", json!("hot"), "valid number"),
            ("top_p", json!(1.5), "between 0 and 1"),
        ];
        for (field, value, words) in cases {
            let mut body = base.clone();
            body[field] = value.clone();
            let e = to_canonical(&body).expect_err(field);
            assert_eq!(e.status, 400, "{field}={value}");
            assert!(e.message.starts_with(field), "{}", e.message);
            assert!(e.message.contains(words), "{}", e.message);
        }
        let mut ok = base.clone();
        ok["temperature"] = json!(1);
        ok["top_p"] = json!(0);
        ok["max_tokens"] = json!(1);
        let req = to_canonical(&ok).expect("in range");
        assert_eq!((req.temperature, req.top_p), (Some(1.0), Some(0.0)));
    }

    #[test]
    fn max_tokens_is_required_as_anthropic_requires() {
        let e = to_canonical(
            &json!({"model": "auto", "messages": [{"role": "user", "content": "hi"}]}),
        )
        .unwrap_err();
        assert_eq!(e.status, 400);
        assert!(e.message.contains("max_tokens"));
    }
}
