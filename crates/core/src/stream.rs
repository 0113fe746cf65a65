//! Streamed chat chunks (`chat.completion.chunk`), the stream type every provider returns, and
//! the accumulator that folds chunks back into a whole response (for the cache, the request log
//! and cascade gates).

use std::pin::Pin;

use futures::Stream;
use serde::{Deserialize, Serialize};

use crate::chat::{
    ChatResponse, Choice, ChoiceLogprobs, FunctionCall, ResponseMessage, Role, ToolCall,
};
use crate::error::ProviderError;
use crate::usage::{FinishReason, Usage};

pub type ChunkStream = Pin<Box<dyn Stream<Item = Result<ChatChunk, ProviderError>> + Send>>;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ChatChunk {
    pub id: String,
    #[serde(default = "chunk_object")]
    pub object: String,
    pub created: i64,
    pub model: String,
    #[serde(default)]
    pub choices: Vec<ChunkChoice>,
    /// Present (possibly `null`) on every chunk when usage was requested; the usage itself comes
    /// on the final chunk whose `choices` is empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_fingerprint: Option<String>,
}

fn chunk_object() -> String {
    "chat.completion.chunk".to_owned()
}

impl ChatChunk {
    pub fn new(id: &str, created: i64, model: &str) -> Self {
        ChatChunk {
            id: id.to_owned(),
            object: chunk_object(),
            created,
            model: model.to_owned(),
            choices: Vec::new(),
            usage: None,
            system_fingerprint: None,
        }
    }

    /// A chunk carrying one delta for choice `index`.
    pub fn with_delta(
        mut self,
        index: u32,
        delta: Delta,
        finish_reason: Option<FinishReason>,
    ) -> Self {
        self.choices.push(ChunkChoice {
            index,
            delta,
            finish_reason,
            logprobs: None,
            stop_sequence: None,
        });
        self
    }

    /// True when the chunk carries visible output (text, tool call or refusal), i.e. the first
    /// byte the client would notice. Failover is still possible before such a chunk.
    pub fn has_content(&self) -> bool {
        self.choices.iter().any(|c| {
            c.delta.content.as_deref().is_some_and(|s| !s.is_empty())
                || c.delta.tool_calls.as_ref().is_some_and(|t| !t.is_empty())
                || c.delta.refusal.as_deref().is_some_and(|s| !s.is_empty())
                || c.delta
                    .reasoning_content
                    .as_deref()
                    .is_some_and(|s| !s.is_empty())
                || c.finish_reason.is_some()
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ChunkChoice {
    pub index: u32,
    #[serde(default)]
    pub delta: Delta,
    #[serde(default)]
    pub finish_reason: Option<FinishReason>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<ChoiceLogprobs>,
    /// As `Choice::stop_sequence`: set on the chunk with the finish reason when the upstream
    /// names the sequence; never serialised.
    #[serde(skip)]
    pub stop_sequence: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Delta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCallDelta>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refusal: Option<String>,
}

impl Delta {
    pub fn text(s: impl Into<String>) -> Self {
        Delta {
            content: Some(s.into()),
            ..Delta::default()
        }
    }

    pub fn role() -> Self {
        Delta {
            role: Some(Role::Assistant),
            content: Some(String::new()),
            ..Delta::default()
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ToolCallDelta {
    pub index: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<FunctionCallDelta>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct FunctionCallDelta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments: Option<String>,
}

/// Folds a chunk sequence into the equivalent non-streamed response. Tool-call fragments are
/// keyed by `(choice, tool index)`, never by arrival order, because not every server sends
/// parallel calls one after another.
#[derive(Debug, Default)]
pub struct StreamAccumulator {
    id: String,
    created: i64,
    model: String,
    system_fingerprint: Option<String>,
    choices: Vec<AccChoice>,
    usage: Option<Usage>,
    chunks: usize,
}

#[derive(Debug, Default)]
struct AccChoice {
    content: String,
    has_content: bool,
    reasoning: String,
    refusal: Option<String>,
    tools: Vec<ToolCall>,
    finish_reason: Option<FinishReason>,
    logprobs: Option<ChoiceLogprobs>,
    stop_sequence: Option<String>,
}

impl StreamAccumulator {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn chunks_seen(&self) -> usize {
        self.chunks
    }

    pub fn usage(&self) -> Option<&Usage> {
        self.usage.as_ref()
    }

    pub fn push(&mut self, chunk: &ChatChunk) {
        self.chunks += 1;
        if self.id.is_empty() {
            self.id.clone_from(&chunk.id);
            self.created = chunk.created;
            self.model.clone_from(&chunk.model);
        }
        if chunk.system_fingerprint.is_some() {
            self.system_fingerprint
                .clone_from(&chunk.system_fingerprint);
        }
        if let Some(u) = &chunk.usage {
            self.usage = Some(u.clone());
        }
        for c in &chunk.choices {
            let i = c.index as usize;
            if self.choices.len() <= i {
                self.choices.resize_with(i + 1, AccChoice::default);
            }
            let acc = &mut self.choices[i];
            if let Some(t) = &c.delta.content {
                acc.content.push_str(t);
                acc.has_content = true;
            }
            if let Some(t) = &c.delta.reasoning_content {
                acc.reasoning.push_str(t);
            }
            if let Some(r) = &c.delta.refusal {
                acc.refusal.get_or_insert_with(String::new).push_str(r);
            }
            if let Some(calls) = &c.delta.tool_calls {
                for d in calls {
                    let k = d.index as usize;
                    if acc.tools.len() <= k {
                        acc.tools.resize_with(k + 1, || ToolCall {
                            id: String::new(),
                            kind: "function".to_owned(),
                            function: FunctionCall {
                                name: String::new(),
                                arguments: String::new(),
                            },
                        });
                    }
                    let call = &mut acc.tools[k];
                    if let Some(id) = &d.id {
                        call.id.clone_from(id);
                    }
                    if let Some(f) = &d.function {
                        if let Some(n) = &f.name {
                            call.function.name.push_str(n);
                        }
                        if let Some(a) = &f.arguments {
                            call.function.arguments.push_str(a);
                        }
                    }
                }
            }
            if let Some(lp) = &c.logprobs {
                let dst = acc.logprobs.get_or_insert_with(ChoiceLogprobs::default);
                if let Some(content) = &lp.content {
                    dst.content
                        .get_or_insert_with(Vec::new)
                        .extend(content.iter().cloned());
                }
            }
            if c.finish_reason.is_some() {
                acc.finish_reason.clone_from(&c.finish_reason);
            }
            if c.stop_sequence.is_some() {
                acc.stop_sequence.clone_from(&c.stop_sequence);
            }
        }
    }

    /// Characters of output received so far (text, reasoning, refusals, tool names and
    /// arguments, every choice): what a cut stream's output tokens are estimated from.
    pub fn output_chars(&self) -> usize {
        self.choices
            .iter()
            .map(|c| {
                let tools: usize = c
                    .tools
                    .iter()
                    .map(|t| t.function.name.chars().count() + t.function.arguments.chars().count())
                    .sum();
                c.content.chars().count()
                    + c.reasoning.chars().count()
                    + c.refusal.as_deref().map_or(0, |r| r.chars().count())
                    + tools
            })
            .sum()
    }

    /// True once every choice seen has a finish reason: the stream ended properly.
    pub fn is_finished(&self) -> bool {
        !self.choices.is_empty() && self.choices.iter().all(|c| c.finish_reason.is_some())
    }

    pub fn finish(self) -> ChatResponse {
        let choices = self
            .choices
            .into_iter()
            .enumerate()
            .map(|(i, c)| Choice {
                index: u32::try_from(i).unwrap_or(u32::MAX),
                message: ResponseMessage {
                    role: Role::Assistant,
                    content: (c.has_content || c.tools.is_empty()).then_some(c.content),
                    refusal: c.refusal,
                    tool_calls: (!c.tools.is_empty()).then_some(c.tools),
                    reasoning_content: (!c.reasoning.is_empty()).then_some(c.reasoning),
                },
                finish_reason: c.finish_reason,
                logprobs: c.logprobs,
                stop_sequence: c.stop_sequence,
            })
            .collect();
        ChatResponse {
            id: self.id,
            object: "chat.completion".to_owned(),
            created: self.created,
            model: self.model,
            choices,
            usage: self.usage,
            system_fingerprint: self.system_fingerprint,
            service_tier: None,
        }
    }
}
