//! Gemini `GenerateContentResponse` -> canonical response. Pure functions, shared by the
//! non-streamed path and the stream state machine.
//!
//! A prompt Gemini blocks outright (`promptFeedback.blockReason`, no candidates) is returned as
//! a normal response with one choice, `finish_reason: content_filter`, no content and a
//! `refusal` naming the block reason, rather than as an error: OpenAI reports its own filtering
//! the same way, and the response still carries the usage the call was billed for.

use switchyard_core::chat::{ChoiceLogprobs, TokenLogprob, TopLogprob};
use switchyard_core::{
    ChatResponse, Choice, FinishReason, FunctionCall, ResponseMessage, Role, ToolCall, Usage,
};

use super::convert::Remembered;
use super::wire;
use crate::http::random_id;

pub fn finish_reason(reason: &str, has_tool_call: bool) -> FinishReason {
    match reason {
        // A function call ends with STOP: Gemini has no tool-call finish reason.
        "STOP" | "OTHER" | "FINISH_REASON_UNSPECIFIED" if has_tool_call => FinishReason::ToolCalls,
        "STOP" | "OTHER" | "FINISH_REASON_UNSPECIFIED" => FinishReason::Stop,
        "MAX_TOKENS" => FinishReason::Length,
        "SAFETY"
        | "RECITATION"
        | "BLOCKLIST"
        | "PROHIBITED_CONTENT"
        | "SPII"
        | "LANGUAGE"
        | "IMAGE_SAFETY"
        | "IMAGE_PROHIBITED_CONTENT"
        | "IMAGE_RECITATION"
        | "IMAGE_OTHER"
        | "NO_IMAGE" => FinishReason::ContentFilter,
        // MALFORMED_FUNCTION_CALL, UNEXPECTED_TOOL_CALL, TOO_MANY_TOOL_CALLS and newer values:
        // kept (lower-cased) so a client or cascade gate can tell it was not a clean stop.
        other => FinishReason::Other(other.to_ascii_lowercase()),
    }
}

/// `promptTokenCount` already includes cached tokens; `candidatesTokenCount` excludes thoughts.
pub fn usage(u: &wire::UsageMetadata) -> Usage {
    let prompt = u.prompt_token_count + u.tool_use_prompt_token_count;
    Usage::from_classes(
        prompt.saturating_sub(u.cached_content_token_count),
        u.cached_content_token_count,
        0,
        u.candidates_token_count + u.thoughts_token_count,
        u.thoughts_token_count,
    )
}

pub fn logprobs(r: &wire::LogprobsResult) -> ChoiceLogprobs {
    let content = r
        .chosen_candidates
        .iter()
        .enumerate()
        .map(|(i, c)| TokenLogprob {
            token: c.token.clone(),
            logprob: c.log_probability,
            bytes: Some(c.token.as_bytes().to_vec()),
            top_logprobs: r
                .top_candidates
                .get(i)
                .map(|t| {
                    t.candidates
                        .iter()
                        .map(|c| TopLogprob {
                            token: c.token.clone(),
                            logprob: c.log_probability,
                            bytes: Some(c.token.as_bytes().to_vec()),
                        })
                        .collect()
                })
                .unwrap_or_default(),
        })
        .collect();
    ChoiceLogprobs {
        content: Some(content),
        refusal: None,
    }
}

/// The parts of one candidate (or one streamed chunk of it), sorted by kind.
#[derive(Debug, Default)]
pub struct Parts {
    pub text: Option<String>,
    pub reasoning: Option<String>,
    pub calls: Vec<ToolCall>,
    /// Tool-call id -> what must be echoed to Gemini when the client sends the call back.
    pub remembered: Vec<(String, Remembered)>,
}

pub fn split_parts(content: Option<&wire::Content>) -> Parts {
    let mut out = Parts::default();
    for p in content.map(|c| c.parts.as_slice()).unwrap_or_default() {
        if let Some(fc) = &p.function_call {
            let id = fc
                .id
                .clone()
                .unwrap_or_else(|| format!("call_{}", random_id(24)));
            if fc.id.is_some() || p.thought_signature.is_some() {
                out.remembered.push((
                    id.clone(),
                    Remembered {
                        gemini_id: fc.id.clone(),
                        thought_signature: p.thought_signature.clone(),
                    },
                ));
            }
            out.calls.push(ToolCall {
                id,
                kind: "function".to_owned(),
                function: FunctionCall {
                    name: fc.name.clone(),
                    arguments: if fc.args.is_null() {
                        "{}".to_owned()
                    } else {
                        fc.args.to_string()
                    },
                },
            });
        } else if let Some(t) = &p.text {
            let dst = if p.thought == Some(true) {
                &mut out.reasoning
            } else {
                &mut out.text
            };
            dst.get_or_insert_with(String::new).push_str(t);
        }
    }
    out
}

pub fn block_message(f: &wire::PromptFeedback) -> Option<String> {
    let reason = f.block_reason.as_deref()?;
    Some(match &f.block_reason_message {
        Some(m) => format!("The prompt was blocked by Gemini ({reason}): {m}"),
        None => format!("The prompt was blocked by Gemini ({reason})"),
    })
}

/// Non-streamed response -> canonical response, plus the ids to remember for the next turn.
pub fn from_wire(
    resp: wire::GenerateContentResponse,
    model: &str,
    created: i64,
) -> (ChatResponse, Vec<(String, Remembered)>) {
    let mut remembered = Vec::new();
    let mut choices = Vec::new();
    for (pos, c) in resp.candidates.iter().enumerate() {
        let parts = split_parts(c.content.as_ref());
        remembered.extend(parts.remembered);
        let has_calls = !parts.calls.is_empty();
        choices.push(Choice {
            index: c
                .index
                .unwrap_or_else(|| u32::try_from(pos).unwrap_or(u32::MAX)),
            message: ResponseMessage {
                role: Role::Assistant,
                content: if parts.text.is_none() && !has_calls {
                    Some(String::new())
                } else {
                    parts.text
                },
                refusal: None,
                tool_calls: has_calls.then_some(parts.calls),
                reasoning_content: parts.reasoning,
            },
            finish_reason: c
                .finish_reason
                .as_deref()
                .map(|r| finish_reason(r, has_calls)),
            logprobs: c.logprobs_result.as_ref().map(logprobs),
            stop_sequence: None,
        });
    }
    if choices.is_empty() {
        if let Some(msg) = resp.prompt_feedback.as_ref().and_then(block_message) {
            choices.push(Choice {
                index: 0,
                message: ResponseMessage {
                    role: Role::Assistant,
                    content: None,
                    refusal: Some(msg),
                    tool_calls: None,
                    reasoning_content: None,
                },
                finish_reason: Some(FinishReason::ContentFilter),
                logprobs: None,
                stop_sequence: None,
            });
        }
    }
    choices.sort_by_key(|c| c.index);
    let response = ChatResponse {
        id: resp
            .response_id
            .unwrap_or_else(|| format!("chatcmpl-{}", random_id(24))),
        object: "chat.completion".to_owned(),
        created,
        model: resp.model_version.unwrap_or_else(|| model.to_owned()),
        choices,
        usage: resp.usage_metadata.as_ref().map(usage),
        system_fingerprint: None,
        service_tier: None,
    };
    (response, remembered)
}
