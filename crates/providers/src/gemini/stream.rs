//! Gemini `streamGenerateContent?alt=sse` frames -> OpenAI `chat.completion.chunk`s.
//! Each frame is a whole `GenerateContentResponse` holding only the new parts; there is no
//! `[DONE]`, so a finished stream is recognised by every candidate having a `finishReason`.

use switchyard_core::sse::SseEvent;
use switchyard_core::stream::FunctionCallDelta;
use switchyard_core::{
    ChatChunk, ChunkChoice, Delta, ErrorKind, FinishReason, ProviderError, ToolCallDelta,
};

use super::convert::Remembered;
use super::error::from_stream_body;
use super::response::{block_message, finish_reason, logprobs, split_parts, usage};
use super::wire;

#[derive(Debug, Default, Clone)]
struct Cand {
    role_sent: bool,
    next_tool: u32,
    saw_call: bool,
    finished: bool,
}

#[derive(Debug)]
pub struct StreamState {
    id: String,
    id_from_upstream: bool,
    model: String,
    created: i64,
    cands: Vec<Cand>,
    usage: Option<wire::UsageMetadata>,
    remembered: Vec<(String, Remembered)>,
}

impl StreamState {
    /// `id` is used until a frame carries `responseId`; `model` until one carries `modelVersion`.
    pub fn new(id: String, model: &str, created: i64) -> Self {
        StreamState {
            id,
            id_from_upstream: false,
            model: model.to_owned(),
            created,
            cands: Vec::new(),
            usage: None,
            remembered: Vec::new(),
        }
    }

    /// Tool-call ids minted so far that need Gemini's own id or a thought signature echoed.
    pub fn take_remembered(&mut self) -> Vec<(String, Remembered)> {
        std::mem::take(&mut self.remembered)
    }

    fn cand(&mut self, i: u32) -> &mut Cand {
        let i = i as usize;
        if self.cands.len() <= i {
            self.cands.resize_with(i + 1, Cand::default);
        }
        &mut self.cands[i]
    }

    pub fn on_event(&mut self, ev: &SseEvent) -> Result<Vec<ChatChunk>, ProviderError> {
        // Only frames that can be an error are parsed as one (a key can only appear unescaped).
        if ev.event.as_deref() == Some("raw") || ev.data.contains("\"error\"") {
            if let Some(e) = from_stream_body(ev.data.as_bytes()) {
                return Err(e);
            }
        }
        let frame: wire::GenerateContentResponse = serde_json::from_str(&ev.data).map_err(|e| {
            ProviderError::new(
                ErrorKind::Decode,
                format!("Gemini sent an unreadable stream frame: {e}"),
            )
        })?;
        if let Some(id) = frame.response_id.clone() {
            if !self.id_from_upstream {
                self.id = id;
                self.id_from_upstream = true;
            }
        }
        if let Some(m) = &frame.model_version {
            self.model.clone_from(m);
        }
        if frame.usage_metadata.is_some() {
            self.usage = frame.usage_metadata;
        }

        let mut choices = Vec::new();
        if frame.candidates.is_empty() {
            if let Some(msg) = frame.prompt_feedback.as_ref().and_then(block_message) {
                let c = self.cand(0);
                c.finished = true;
                let role_sent = std::mem::replace(&mut c.role_sent, true);
                choices.push(ChunkChoice {
                    index: 0,
                    delta: Delta {
                        role: (!role_sent).then_some(switchyard_core::Role::Assistant),
                        refusal: Some(msg),
                        ..Delta::default()
                    },
                    finish_reason: Some(FinishReason::ContentFilter),
                    logprobs: None,
                    stop_sequence: None,
                });
            }
        }
        for (pos, c) in frame.candidates.iter().enumerate() {
            let index = c
                .index
                .unwrap_or_else(|| u32::try_from(pos).unwrap_or(u32::MAX));
            let parts = split_parts(c.content.as_ref());
            self.remembered.extend(parts.remembered);
            let st = self.cand(index);
            let mut delta = if st.role_sent {
                Delta::default()
            } else {
                st.role_sent = true;
                Delta::role()
            };
            if let Some(t) = parts.text {
                delta.content = Some(t);
            }
            delta.reasoning_content = parts.reasoning;
            if !parts.calls.is_empty() {
                st.saw_call = true;
                // Gemini sends each call whole, so each is one complete delta with a fresh index.
                let calls = parts
                    .calls
                    .into_iter()
                    .map(|call| {
                        let k = st.next_tool;
                        st.next_tool += 1;
                        ToolCallDelta {
                            index: k,
                            id: Some(call.id),
                            kind: Some(call.kind),
                            function: Some(FunctionCallDelta {
                                name: Some(call.function.name),
                                arguments: Some(call.function.arguments),
                            }),
                        }
                    })
                    .collect();
                delta.tool_calls = Some(calls);
            }
            let finish = c
                .finish_reason
                .as_deref()
                .map(|r| finish_reason(r, st.saw_call));
            st.finished |= finish.is_some();
            let lp = c.logprobs_result.as_ref().map(logprobs);
            if delta != Delta::default() || finish.is_some() || lp.is_some() {
                choices.push(ChunkChoice {
                    index,
                    delta,
                    finish_reason: finish,
                    logprobs: lp,
                    stop_sequence: None,
                });
            }
        }
        if choices.is_empty() {
            return Ok(Vec::new());
        }
        let mut chunk = ChatChunk::new(&self.id, self.created, &self.model);
        chunk.choices = choices;
        Ok(vec![chunk])
    }

    /// The body ended: the final usage chunk, or `StreamInterrupted` when some candidate never
    /// got a finish reason (the connection was cut).
    pub fn on_end(&self) -> Result<Option<ChatChunk>, ProviderError> {
        if self.cands.is_empty() || !self.cands.iter().all(|c| c.finished) {
            return Err(ProviderError::new(
                ErrorKind::StreamInterrupted,
                "Gemini stream ended before a finishReason",
            ));
        }
        Ok(self.usage.as_ref().map(|u| {
            let mut c = ChatChunk::new(&self.id, self.created, &self.model);
            c.usage = Some(usage(u));
            c
        }))
    }
}
