//! Pure conversions for the OpenAI dialect: canonical request -> upstream body, upstream
//! response / chunk pieces -> canonical. Every OpenAI-compatible server goes through these; how
//! it deviates is described by a [`Quirks`] value, never by a separate code path.

use serde_json::{Map, Value};
use switchyard_core::{
    ChatRequest, ChatResponse, Choice, ChoiceLogprobs, CompletionTokensDetails, EmbedRequest,
    EmbedResponse, ErrorKind, FinishReason, FunctionCall, PromptTokensDetails, ProviderError,
    ResponseMessage, Role, ToolCall, ToolChoice, Usage,
};

use super::wire::{TogetherLogprobs, WireMessage, WireResponse, WireToolCall, WireUsage};

/// Which output-cap field the upstream understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenCapField {
    /// Send whatever the client sent (OpenAI itself, vLLM: both accepted).
    AsSent,
    /// Only `max_tokens` (Mistral 422s on `max_completion_tokens`; most compatible servers).
    MaxTokens,
    /// Only `max_completion_tokens` (Groq deprecated `max_tokens`).
    MaxCompletionTokens,
}

/// How the upstream takes the logprobs request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogprobsParam {
    /// `logprobs: bool` + `top_logprobs: k` (OpenAI).
    Bool,
    /// Together: `logprobs: k` as an integer.
    Integer,
    /// Not offered: the fields are dropped rather than failing the request.
    Unsupported,
}

/// Everything an OpenAI-dialect upstream may do differently. `Quirks::OPENAI` is the reference;
/// `openai_compat` picks one per flavor.
#[derive(Debug, Clone, Copy)]
pub struct Quirks {
    /// Flavor name for labels and error messages.
    pub name: &'static str,
    pub token_cap: TokenCapField,
    /// Send `stream_options.include_usage: true` on streams (Mistral 422s on `stream_options`).
    pub stream_usage: bool,
    /// Strict-schema upstreams: only these top-level fields are sent. `None` = everything,
    /// including the client's unknown fields.
    pub allowed_fields: Option<&'static [&'static str]>,
    /// Strict-schema upstreams: messages carry only role/content/name/tool_calls/tool_call_id.
    pub strict_messages: bool,
    /// The field name for the sampling seed (`seed`, Mistral `random_seed`).
    pub seed_field: &'static str,
    pub logprobs: LogprobsParam,
    /// Whether `tool_choice` is accepted at all (Ollama: no).
    pub tool_choice: bool,
    /// The spelling of `tool_choice: "required"` (Mistral: `any`).
    pub required_tool_choice: &'static str,
    /// Whether the `developer` role is known; otherwise it is sent as `system`.
    pub developer_role: bool,
    /// Whether `messages[].name` is accepted (Groq: no).
    pub message_name: bool,
    /// Rewrites tool-call ids in the history (Mistral wants exactly 9 alphanumerics). Must be
    /// a pure function so a call id and the tool result answering it map to the same value.
    pub tool_call_id: Option<fn(&str) -> String>,
    pub embeddings: bool,
    /// Whether `n > 1` (several choices per request) is accepted (Groq: no).
    pub multiple_choices: bool,
}

impl Quirks {
    pub const OPENAI: Quirks = Quirks {
        name: "openai",
        token_cap: TokenCapField::AsSent,
        stream_usage: true,
        allowed_fields: None,
        strict_messages: false,
        seed_field: "seed",
        logprobs: LogprobsParam::Bool,
        tool_choice: true,
        required_tool_choice: "required",
        developer_role: true,
        message_name: true,
        tool_call_id: None,
        embeddings: true,
        multiple_choices: true,
    };

    pub fn offers_logprobs(&self) -> bool {
        self.logprobs != LogprobsParam::Unsupported
    }
}

fn encode_error(e: &serde_json::Error) -> ProviderError {
    ProviderError::new(
        ErrorKind::InvalidRequest,
        format!("could not encode the upstream request: {e}"),
    )
}

/// Refuses, before any upstream call, what this flavor cannot express (a capability gap the
/// engine answers by trying another candidate, not a client error).
fn check_expressible(req: &ChatRequest, q: &Quirks) -> Result<(), ProviderError> {
    if !q.multiple_choices && req.n.is_some_and(|n| n > 1) {
        return Err(ProviderError::cannot_express(format!(
            "n>1 is not supported by {} models",
            q.name
        )));
    }
    Ok(())
}

/// The JSON body for `POST {base}/chat/completions`, as a map (what the table tests read).
pub fn chat_body(
    req: &ChatRequest,
    upstream_model: &str,
    stream: bool,
    q: &Quirks,
) -> Result<Map<String, Value>, ProviderError> {
    check_expressible(req, q)?;
    let r = chat_request(req, upstream_model, stream, q);
    let Value::Object(mut body) = serde_json::to_value(&r).map_err(|e| encode_error(&e))? else {
        return Err(ProviderError::new(
            ErrorKind::InvalidRequest,
            "chat request did not encode as a JSON object",
        ));
    };
    adjust_body(&mut body, q);
    Ok(body)
}

/// The same body as [`chat_body`], encoded. When the quirks rename or drop no top-level field
/// (OpenAI itself and most compatible servers), the request is written straight to bytes:
/// building the intermediate `Value` tree cost more than the write itself on the request path.
/// Keys then come in struct order rather than sorted; JSON objects are unordered.
pub fn chat_body_json(
    req: &ChatRequest,
    upstream_model: &str,
    stream: bool,
    q: &Quirks,
) -> Result<Vec<u8>, ProviderError> {
    if needs_map(q) {
        let body = chat_body(req, upstream_model, stream, q)?; // checks expressibility
        return serde_json::to_vec(&body).map_err(|e| encode_error(&e));
    }
    check_expressible(req, q)?;
    let r = chat_request(req, upstream_model, stream, q);
    serde_json::to_vec(&r).map_err(|e| encode_error(&e))
}

/// Whether [`adjust_body`] can change anything for these quirks.
fn needs_map(q: &Quirks) -> bool {
    q.seed_field != "seed" || q.logprobs == LogprobsParam::Integer || q.allowed_fields.is_some()
}

/// The client's request adjusted to what this upstream accepts, field by field.
fn chat_request(req: &ChatRequest, upstream_model: &str, stream: bool, q: &Quirks) -> ChatRequest {
    let mut r = req.clone();
    r.strip_gateway_fields();
    r.model = upstream_model.to_owned();
    r.stream = stream;
    if stream && q.stream_usage {
        // The gateway prices every stream, so usage is requested even if the client did not.
        r.stream_options.get_or_insert_default().include_usage = Some(true);
    } else {
        r.stream_options = None;
    }
    match q.token_cap {
        TokenCapField::AsSent => {}
        TokenCapField::MaxTokens => {
            r.max_tokens = r.max_output_tokens();
            r.max_completion_tokens = None;
        }
        TokenCapField::MaxCompletionTokens => {
            r.max_completion_tokens = r.max_output_tokens();
            r.max_tokens = None;
        }
    }
    if q.logprobs == LogprobsParam::Unsupported {
        r.logprobs = None;
        r.top_logprobs = None;
    }
    if !q.tool_choice {
        r.tool_choice = None;
    } else if let Some(ToolChoice::Mode(m)) = &mut r.tool_choice {
        if m == "required" {
            q.required_tool_choice.clone_into(m);
        }
    }
    for m in &mut r.messages {
        // Reasoning text is output only; DeepSeek 400s when it is replayed.
        m.extra.remove("reasoning_content");
        m.extra.remove("reasoning");
        if !q.developer_role && m.role == Role::Developer {
            m.role = Role::System;
        }
        if !q.message_name {
            m.name = None;
        }
        if q.strict_messages {
            m.extra.clear();
            m.refusal = None;
            if m.role != Role::Tool {
                m.name = None;
            }
        }
        if let Some(rewrite) = q.tool_call_id {
            if let Some(id) = &mut m.tool_call_id {
                *id = rewrite(id);
            }
            for call in m.tool_calls.iter_mut().flatten() {
                call.id = rewrite(&call.id);
            }
        }
    }

    r
}

/// Top-level renames and removals that only the encoded map can express.
fn adjust_body(body: &mut Map<String, Value>, q: &Quirks) {
    if q.seed_field != "seed" {
        if let Some(seed) = body.remove("seed") {
            body.insert(q.seed_field.to_owned(), seed);
        }
    }
    if q.logprobs == LogprobsParam::Integer {
        let top = body.remove("top_logprobs").and_then(|v| v.as_u64());
        if body.remove("logprobs") == Some(Value::Bool(true)) {
            body.insert("logprobs".to_owned(), Value::from(top.unwrap_or(0).max(1)));
        }
    }
    if let Some(allowed) = q.allowed_fields {
        body.retain(|k, _| allowed.contains(&k.as_str()));
    }
}

/// The JSON body for `POST {base}/embeddings`: the client's request with the model replaced.
/// Strict-schema upstreams (Mistral) get only the fields every embeddings API shares, with
/// `dimensions` under Mistral's name.
pub fn embed_body(
    req: &EmbedRequest,
    upstream_model: &str,
    q: &Quirks,
) -> Result<Map<String, Value>, ProviderError> {
    let mut r = req.clone();
    r.model = upstream_model.to_owned();
    let Value::Object(mut body) = serde_json::to_value(&r).map_err(|e| encode_error(&e))? else {
        return Err(ProviderError::new(
            ErrorKind::InvalidRequest,
            "embedding request did not encode as a JSON object",
        ));
    };
    if q.allowed_fields.is_some() {
        body.retain(|k, _| {
            matches!(
                k.as_str(),
                "model" | "input" | "encoding_format" | "dimensions"
            )
        });
        if let Some(d) = body.remove("dimensions") {
            body.insert("output_dimension".to_owned(), d);
        }
    }
    Ok(body)
}

pub fn decode_error(what: &str, e: &serde_json::Error, body: &[u8]) -> ProviderError {
    ProviderError::new(
        ErrorKind::Decode,
        format!(
            "could not parse the upstream {what}: {e} (body: {})",
            crate::http::short_body(body)
        ),
    )
}

/// A whole `chat.completion` body. `fallback_model` fills a missing `model`.
pub fn parse_chat_response(
    body: &[u8],
    fallback_model: &str,
) -> Result<ChatResponse, ProviderError> {
    // DeepSeek pads a slow non-stream answer with blank lines before the JSON.
    let body = body.trim_ascii();
    // Straight into the typed shape: going through a `serde_json::Value` first cost about a
    // tenth of the gateway's CPU per request in the benchmark profile.
    let w: WireResponse = match serde_json::from_slice(body) {
        Ok(w) => w,
        Err(e) => {
            // An error body (sent with a 200) need not fit the response shape; look for it
            // before reporting the shape mismatch.
            if let Ok(v) = serde_json::from_slice::<Value>(body)
                && let Some(err) = v.get("error").filter(|e| !e.is_null())
            {
                return Err(super::error::error_from_event(err, None));
            }
            return Err(decode_error("response", &e, body));
        }
    };
    if let Some(err) = w.error.as_ref().filter(|e| !e.is_null()) {
        return Err(super::error::error_from_event(err, None));
    }
    let mut choices = Vec::with_capacity(w.choices.len());
    for c in w.choices {
        let message = message_from_wire(c.message);
        let has_output = message.content.as_deref().is_some_and(|s| !s.is_empty())
            || message.tool_calls.as_ref().is_some_and(|t| !t.is_empty());
        let finish_reason = finish_from_wire(c.finish_reason, has_output)?;
        let logprobs = logprobs_from_wire(c.logprobs, None);
        choices.push(Choice {
            index: c.index,
            message,
            finish_reason,
            logprobs,
            stop_sequence: None,
        });
    }
    Ok(ChatResponse {
        id: w
            .id
            .unwrap_or_else(|| format!("chatcmpl-{}", crate::http::random_id(24))),
        object: "chat.completion".to_owned(),
        created: w.created.unwrap_or_else(crate::http::now_unix),
        model: w.model.unwrap_or_else(|| fallback_model.to_owned()),
        choices,
        usage: w.usage.as_ref().map(usage_from_wire),
        system_fingerprint: w.system_fingerprint,
        service_tier: w.service_tier,
    })
}

/// Map provider-specific finish reasons. `has_output` says whether the choice produced anything:
/// a resource failure with nothing produced is an upstream error worth retrying elsewhere,
/// while one after partial output must be reported as it is.
pub fn finish_from_wire(
    f: Option<FinishReason>,
    has_output: bool,
) -> Result<Option<FinishReason>, ProviderError> {
    Ok(match f {
        Some(FinishReason::Other(s)) => match s.as_str() {
            // Mistral
            "model_length" => Some(FinishReason::Length),
            "error" => {
                return Err(ProviderError::new(
                    ErrorKind::Upstream,
                    "upstream ended the generation with finish_reason \"error\"",
                ));
            }
            // DeepSeek
            "insufficient_system_resource" if !has_output => {
                return Err(ProviderError::new(
                    ErrorKind::Upstream,
                    "upstream has insufficient system resources (finish_reason insufficient_system_resource)",
                )
                .with_code("insufficient_system_resource"));
            }
            _ => Some(FinishReason::Other(s)),
        },
        other => other,
    })
}

fn message_from_wire(m: WireMessage) -> ResponseMessage {
    let (content, reasoning_in_content) = content_from_wire(m.content);
    let reasoning = m.reasoning_content.or(m.reasoning).or(reasoning_in_content);
    ResponseMessage {
        role: m.role.unwrap_or(Role::Assistant),
        content,
        refusal: m.refusal,
        tool_calls: m
            .tool_calls
            .map(|calls| calls.into_iter().map(tool_call_from_wire).collect()),
        reasoning_content: reasoning,
    }
}

/// Content is a string nearly everywhere; Mistral's reasoning models send
/// `[{"type":"thinking","thinking":[{"type":"text","text":..}]},{"type":"text","text":..}]`.
/// Returns (text, reasoning found inside the content).
pub fn content_from_wire(v: Option<Value>) -> (Option<String>, Option<String>) {
    match v {
        None | Some(Value::Null) => (None, None),
        Some(Value::String(s)) => (Some(s), None),
        Some(Value::Array(parts)) => {
            let mut text = String::new();
            let mut thinking = String::new();
            for p in &parts {
                match p.get("type").and_then(Value::as_str) {
                    Some("thinking") => collect_text(p.get("thinking"), &mut thinking),
                    _ => collect_text(Some(p), &mut text),
                }
            }
            (Some(text), (!thinking.is_empty()).then_some(thinking))
        }
        Some(other) => (Some(other.to_string()), None),
    }
}

fn collect_text(v: Option<&Value>, out: &mut String) {
    match v {
        Some(Value::String(s)) => out.push_str(s),
        Some(Value::Array(items)) => items.iter().for_each(|i| collect_text(Some(i), out)),
        Some(Value::Object(o)) => collect_text(o.get("text"), out),
        _ => {}
    }
}

fn tool_call_from_wire(c: WireToolCall) -> ToolCall {
    ToolCall {
        id: c
            .id
            .unwrap_or_else(|| format!("call_{}", crate::http::random_id(24))),
        kind: c.kind.unwrap_or_else(switchyard_core::chat::function_type),
        function: FunctionCall {
            name: c.function.name.unwrap_or_default(),
            arguments: arguments_string(c.function.arguments),
        },
    }
}

/// Arguments are a JSON string on the wire; servers that send the object get it serialised.
pub fn arguments_string(v: Option<Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s,
        Some(other) => other.to_string(),
    }
}

/// Normalise usage to OpenAI's meaning (prompt includes cached, completion includes reasoning).
pub fn usage_from_wire(w: &WireUsage) -> Usage {
    let prompt = w.prompt_tokens.unwrap_or(0);
    let completion = w.completion_tokens.unwrap_or(0);
    let details = w.prompt_tokens_details.as_ref();
    let cached = details
        .and_then(|d| d.cached_tokens)
        .or(w.prompt_cache_hit_tokens);
    let cache_write = details.and_then(|d| d.cache_write_tokens);
    let reasoning = w
        .completion_tokens_details
        .as_ref()
        .and_then(|d| d.reasoning_tokens);
    Usage {
        prompt_tokens: prompt,
        completion_tokens: completion,
        total_tokens: w.total_tokens.unwrap_or(prompt + completion),
        prompt_tokens_details: (cached.is_some() || cache_write.is_some()).then(|| {
            PromptTokensDetails {
                cached_tokens: cached.unwrap_or(0),
                cache_write_tokens: cache_write.unwrap_or(0),
            }
        }),
        completion_tokens_details: reasoning.map(|r| CompletionTokensDetails {
            reasoning_tokens: r,
        }),
        cost: None,
        cost_details: None,
    }
}

/// Logprobs in OpenAI's `{content: [...]}` shape, from OpenAI's own shape, Together's
/// `{tokens, token_logprobs, top_logprobs}` arrays, or Together's bare number per streamed
/// token (`token` is then the delta text).
pub fn logprobs_from_wire(v: Option<Value>, token: Option<&str>) -> Option<ChoiceLogprobs> {
    use switchyard_core::chat::{TokenLogprob, TopLogprob};
    match v? {
        Value::Object(o) if o.contains_key("content") || o.contains_key("refusal") => {
            serde_json::from_value(Value::Object(o)).ok()
        }
        Value::Object(o) if o.contains_key("tokens") => {
            let t: TogetherLogprobs = serde_json::from_value(Value::Object(o)).ok()?;
            let tops = t.top_logprobs.unwrap_or_default();
            let content = t
                .tokens
                .into_iter()
                .zip(t.token_logprobs)
                .enumerate()
                .map(|(i, (token, lp))| {
                    let mut top: Vec<TopLogprob> = tops
                        .get(i)
                        .and_then(Option::as_ref)
                        .map(|m| {
                            m.iter()
                                .filter_map(|(tok, lp)| {
                                    Some(TopLogprob {
                                        token: tok.clone(),
                                        logprob: lp.as_f64()?,
                                        bytes: None,
                                    })
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    top.sort_by(|a, b| b.logprob.total_cmp(&a.logprob));
                    TokenLogprob {
                        token,
                        // OpenAI's own marker for "vanishingly unlikely".
                        logprob: lp.unwrap_or(-9999.0),
                        bytes: None,
                        top_logprobs: top,
                    }
                })
                .collect();
            Some(ChoiceLogprobs {
                content: Some(content),
                refusal: None,
            })
        }
        Value::Number(n) => Some(ChoiceLogprobs {
            content: Some(vec![TokenLogprob {
                token: token.unwrap_or_default().to_owned(),
                logprob: n.as_f64()?,
                bytes: None,
                top_logprobs: Vec::new(),
            }]),
            refusal: None,
        }),
        _ => None,
    }
}

/// A whole embeddings body.
pub fn parse_embed_response(body: &[u8]) -> Result<EmbedResponse, ProviderError> {
    let body = body.trim_ascii();
    let v: Value =
        serde_json::from_slice(body).map_err(|e| decode_error("embeddings", &e, body))?;
    if let Some(err) = v.get("error").filter(|e| !e.is_null()) {
        return Err(super::error::error_from_event(err, None));
    }
    serde_json::from_value(v).map_err(|e| decode_error("embeddings", &e, body))
}
