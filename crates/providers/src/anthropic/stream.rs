//! Anthropic SSE events -> OpenAI `chat.completion.chunk`s. Pure state machine: the provider
//! feeds it decoded SSE events and forwards what comes out.

use std::collections::HashMap;

use switchyard_core::sse::SseEvent;
use switchyard_core::stream::FunctionCallDelta;
use switchyard_core::{ChatChunk, Delta, ErrorKind, ProviderError, ToolCallDelta};

use super::convert::{finish_reason, usage};
use super::error::from_stream_event;
use super::wire;

#[derive(Debug)]
pub struct StreamState {
    id: String,
    model: String,
    created: i64,
    usage: wire::WireUsage,
    /// Anthropic block index -> OpenAI tool-call index. OpenAI clients expect tool indexes
    /// 0, 1, 2... counting tool calls only, while Anthropic counts text and thinking blocks too.
    tools: HashMap<u32, u32>,
    next_tool: u32,
    started: bool,
    stopped: bool,
}

impl StreamState {
    /// `model` is the fallback until `message_start` names the upstream's model.
    pub fn new(model: &str, created: i64) -> Self {
        StreamState {
            id: String::new(),
            model: model.to_owned(),
            created,
            usage: wire::WireUsage::default(),
            tools: HashMap::new(),
            next_tool: 0,
            started: false,
            stopped: false,
        }
    }

    fn chunk(&self) -> ChatChunk {
        ChatChunk::new(&self.id, self.created, &self.model)
    }

    fn delta(&self, delta: Delta) -> Vec<ChatChunk> {
        vec![self.chunk().with_delta(0, delta, None)]
    }

    /// One SSE event in, zero or more chunks out. `Err` ends the stream.
    pub fn on_event(&mut self, ev: &SseEvent) -> Result<Vec<ChatChunk>, ProviderError> {
        if self.stopped {
            return Ok(Vec::new());
        }
        let parsed: wire::StreamEvent = match serde_json::from_str(&ev.data) {
            Ok(p) => p,
            Err(e) => {
                // A JSON error body instead of SSE (http.rs hands it over as a "raw" event).
                if let Ok(env) = serde_json::from_str::<wire::ErrorEnvelope>(&ev.data) {
                    return Err(from_stream_event(&env.error));
                }
                return Err(ProviderError::new(
                    ErrorKind::Decode,
                    format!("Anthropic sent an unreadable stream event: {e}"),
                ));
            }
        };
        Ok(match parsed {
            wire::StreamEvent::MessageStart { message } => {
                if !message.id.is_empty() {
                    self.id = message.id;
                }
                if !message.model.is_empty() {
                    self.model = message.model;
                }
                self.usage.merge(&message.usage);
                self.started = true;
                self.delta(Delta::role())
            }
            wire::StreamEvent::ContentBlockStart {
                index,
                content_block,
            } => match content_block {
                wire::ResponseBlock::ToolUse { id, name, .. } => {
                    let k = self.next_tool;
                    self.next_tool += 1;
                    self.tools.insert(index, k);
                    self.delta(Delta {
                        tool_calls: Some(vec![ToolCallDelta {
                            index: k,
                            id: Some(id),
                            kind: Some("function".to_owned()),
                            function: Some(FunctionCallDelta {
                                name: Some(name),
                                arguments: Some(String::new()),
                            }),
                        }]),
                        ..Delta::default()
                    })
                }
                // Text arrives through deltas; a start block's text is always empty.
                _ => Vec::new(),
            },
            wire::StreamEvent::ContentBlockDelta { index, delta } => match delta {
                wire::BlockDelta::TextDelta { text } if !text.is_empty() => {
                    self.delta(Delta::text(text))
                }
                wire::BlockDelta::ThinkingDelta { thinking } if !thinking.is_empty() => {
                    self.delta(Delta {
                        reasoning_content: Some(thinking),
                        ..Delta::default()
                    })
                }
                wire::BlockDelta::InputJsonDelta { partial_json } if !partial_json.is_empty() => {
                    let k = self.tools.get(&index).copied().ok_or_else(|| {
                        ProviderError::new(
                            ErrorKind::Decode,
                            format!(
                                "Anthropic sent tool input for block {index}, which is not a tool_use block"
                            ),
                        )
                    })?;
                    self.delta(Delta {
                        tool_calls: Some(vec![ToolCallDelta {
                            index: k,
                            id: None,
                            kind: None,
                            function: Some(FunctionCallDelta {
                                name: None,
                                arguments: Some(partial_json),
                            }),
                        }]),
                        ..Delta::default()
                    })
                }
                _ => Vec::new(),
            },
            wire::StreamEvent::MessageDelta { delta, usage } => {
                self.usage.merge(&usage);
                match delta.stop_reason.as_deref() {
                    Some(r) => {
                        let mut c =
                            self.chunk()
                                .with_delta(0, Delta::default(), Some(finish_reason(r)));
                        c.choices[0].stop_sequence = delta.stop_sequence;
                        vec![c]
                    }
                    None => Vec::new(),
                }
            }
            wire::StreamEvent::MessageStop => {
                self.stopped = true;
                let mut c = self.chunk();
                c.usage = Some(usage(&self.usage));
                vec![c]
            }
            wire::StreamEvent::Error { error } => return Err(from_stream_event(&error)),
            wire::StreamEvent::ContentBlockStop { .. }
            | wire::StreamEvent::Ping
            | wire::StreamEvent::Other => Vec::new(),
        })
    }

    /// The body ended. Anthropic always closes a complete answer with `message_stop`; anything
    /// else means the connection was cut.
    pub fn on_end(&self) -> Result<(), ProviderError> {
        if self.stopped {
            return Ok(());
        }
        let what = if self.started {
            "Anthropic stream ended before message_stop"
        } else {
            "Anthropic stream ended before message_start"
        };
        Err(ProviderError::new(ErrorKind::StreamInterrupted, what))
    }
}
