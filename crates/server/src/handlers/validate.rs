//! Chat request validation: what the OpenAI API itself rejects, rejected here before any
//! provider sees it. Shared by chat (JSON and streamed), batch lines and `/v1/route/explain`,
//! so a body gets the same 400 whichever endpoint it is sent to.

use switchyard_core::{ChatRequest, Role, ToolChoice};
use switchyard_engine::GatewayError;

pub(crate) fn validate(req: &ChatRequest) -> Result<(), GatewayError> {
    if req.model.trim().is_empty() {
        return Err(GatewayError::bad_request(
            "`model` is required: a model, alias or route name (GET /v1/models lists them).",
        )
        .with_param("model"));
    }
    if req.messages.is_empty() {
        return Err(
            GatewayError::bad_request("`messages` must contain at least one message.")
                .with_param("messages"),
        );
    }
    for (i, m) in req.messages.iter().enumerate() {
        if m.role == Role::Tool && m.tool_call_id.is_none() {
            return Err(GatewayError::bad_request(format!(
                "messages[{i}]: a tool message needs `tool_call_id`."
            ))
            .with_param(format!("messages[{i}].tool_call_id")));
        }
        if m.content.is_none() && m.tool_calls.is_none() && m.role != Role::Assistant {
            return Err(GatewayError::bad_request(
                format!(
                    "messages[{i}]: `content` is required for role {:?}.",
                    m.role
                )
                .to_lowercase(),
            )
            .with_param(format!("messages[{i}].content")));
        }
    }
    if let Some(n) = req.n {
        if !(1..=128).contains(&n) {
            return Err(GatewayError::bad_request("`n` must be between 1 and 128.").with_param("n"));
        }
    }
    if let Some(t) = req.temperature {
        if !(0.0..=2.0).contains(&t) {
            return Err(
                GatewayError::bad_request("`temperature` must be between 0 and 2.")
                    .with_param("temperature"),
            );
        }
    }
    if let Some(p) = req.top_p {
        if !(0.0..=1.0).contains(&p) {
            return Err(
                GatewayError::bad_request("`top_p` must be between 0 and 1.").with_param("top_p"),
            );
        }
    }
    if let Some(k) = req.top_logprobs {
        if k > 20 {
            return Err(
                GatewayError::bad_request("`top_logprobs` must be between 0 and 20.")
                    .with_param("top_logprobs"),
            );
        }
        if req.logprobs != Some(true) {
            return Err(
                GatewayError::bad_request("`top_logprobs` requires `logprobs: true`.")
                    .with_param("top_logprobs"),
            );
        }
    }
    // Zero would make the upstream answer with nothing (or reject the call after we paid a
    // round trip for it); OpenAI rejects it with this param.
    for (field, v) in [
        ("max_tokens", req.max_tokens),
        ("max_completion_tokens", req.max_completion_tokens),
    ] {
        if v == Some(0) {
            return Err(GatewayError::bad_request(format!(
                "`{field}` must be at least 1: it caps the tokens generated; omit it for no cap."
            ))
            .with_param(field));
        }
    }
    if req.stop_list().len() > 4 {
        return Err(
            GatewayError::bad_request("`stop` takes at most 4 sequences.").with_param("stop"),
        );
    }
    if req.stream_options.is_some() && !req.stream {
        return Err(GatewayError::bad_request(
            "`stream_options` is only allowed when `stream` is true.",
        )
        .with_param("stream_options"));
    }
    if let Some(tools) = &req.tools {
        for (i, t) in tools.iter().enumerate() {
            let name = &t.function.name;
            if name.is_empty()
                || name.len() > 64
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                return Err(GatewayError::bad_request(format!(
                    "tools[{i}].function.name must match ^[a-zA-Z0-9_-]{{1,64}}$."
                ))
                .with_param(format!("tools[{i}].function.name")));
            }
        }
    }
    validate_tool_choice(req)
}

/// `tool_choice` must be a known mode, and a choice that forces a call must name a tool the
/// request offers: an upstream would reject it, after the route and the key were spent.
fn validate_tool_choice(req: &ChatRequest) -> Result<(), GatewayError> {
    let Some(choice) = &req.tool_choice else {
        return Ok(());
    };
    let tools = req.tools.as_deref().unwrap_or_default();
    let bad = |msg: String| Err(GatewayError::bad_request(msg).with_param("tool_choice"));
    match choice {
        ToolChoice::Mode(m) => match m.as_str() {
            "none" | "auto" => Ok(()),
            "required" if tools.is_empty() => bad(
                "`tool_choice` \"required\" needs at least one tool in `tools`; add the tools or drop `tool_choice`."
                    .to_owned(),
            ),
            "required" => Ok(()),
            other => bad(format!(
                "`tool_choice` must be \"none\", \"auto\", \"required\" or {{\"type\": \"function\", \"function\": {{\"name\": ...}}}}, not {other:?}."
            )),
        },
        ToolChoice::Named(n) => {
            let name = &n.function.name;
            if tools.is_empty() {
                bad(format!(
                    "`tool_choice` names the function {name:?} but the request has no `tools`; add it to `tools` or drop `tool_choice`."
                ))
            } else if !tools.iter().any(|t| t.function.name == *name) {
                bad(format!(
                    "`tool_choice` names the function {name:?}, which is not in `tools`; name one of the functions in `tools`."
                ))
            } else {
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::validate;
    use serde_json::{Value, json};
    use switchyard_core::ChatRequest;

    fn req(extra: Value) -> ChatRequest {
        let mut body = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
        for (k, v) in extra.as_object().expect("an object") {
            body[k] = v.clone();
        }
        serde_json::from_value(body).expect("parses")
    }

    fn tools() -> Value {
        json!([{"type": "function", "function": {"name": "get_weather"}}])
    }

    #[test]
    fn invalid_bodies_are_rejected_with_the_param_named() {
        let named = |n: &str| json!({"type": "function", "function": {"name": n}});
        let cases = [
            ("max_tokens 0", json!({"max_tokens": 0}), "max_tokens"),
            (
                "max_completion_tokens 0",
                json!({"max_completion_tokens": 0}),
                "max_completion_tokens",
            ),
            ("empty messages", json!({"messages": []}), "messages"),
            ("temperature 5", json!({"temperature": 5}), "temperature"),
            ("top_p 2", json!({"top_p": 2}), "top_p"),
            ("n 0", json!({"n": 0}), "n"),
            (
                "unknown named tool",
                json!({"tools": tools(), "tool_choice": named("zzz")}),
                "tool_choice",
            ),
            (
                "named tool without tools",
                json!({"tool_choice": named("get_weather")}),
                "tool_choice",
            ),
            (
                "required without tools",
                json!({"tool_choice": "required"}),
                "tool_choice",
            ),
            (
                "unknown mode",
                json!({"tools": tools(), "tool_choice": "always"}),
                "tool_choice",
            ),
        ];
        for (name, extra, param) in cases {
            let e = validate(&req(extra)).expect_err(name);
            assert_eq!(e.status, 400, "{name}");
            assert_eq!(e.kind, "invalid_request_error", "{name}");
            assert_eq!(e.param.as_deref(), Some(param), "{name}: {}", e.message);
            assert!(e.message.contains(param), "{name}: {}", e.message);
        }
    }

    #[test]
    fn valid_bodies_pass() {
        let cases = [
            json!({}),
            json!({"max_tokens": 1, "max_completion_tokens": 5}),
            json!({"tools": tools(), "tool_choice": "required"}),
            json!({"tools": tools(), "tool_choice": {"type": "function", "function": {"name": "get_weather"}}}),
            json!({"tool_choice": "none"}),
            json!({"tool_choice": "auto"}),
        ];
        for extra in cases {
            let r = validate(&req(extra.clone()));
            assert!(r.is_ok(), "{extra}: {:?}", r.err().map(|e| e.message));
        }
    }
}
