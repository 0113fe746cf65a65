//! SSE events of an OpenAI-dialect stream -> canonical chunks. A pure state machine, so whole
//! transcripts can be tested without a socket; `mod.rs` drives it from the HTTP body.
//!
//! Guarantees to the engine: usage, wherever the upstream put it (the final `choices: []`
//! chunk, a chunk that also has choices, every chunk as with vLLM's continuous stats, Groq's
//! `x_groq.usage`), arrives once, on a final chunk with empty `choices`; a body that ends before
//! every choice finished (and without `[DONE]`) ends with `Err(StreamInterrupted)`.

use switchyard_core::sse::SseEvent;
use switchyard_core::{
    ChatChunk, ChatResponse, ChunkChoice, Delta, ErrorKind, ProviderError, ToolCallDelta, Usage,
    stream::FunctionCallDelta,
};

use super::convert::{
    arguments_string, content_from_wire, decode_error, finish_from_wire, logprobs_from_wire,
    usage_from_wire,
};
use super::error::error_from_event;
use super::wire::{WireChunk, WireChunkChoice, WireToolCallDelta};

type Item = Result<ChatChunk, ProviderError>;

#[derive(Debug, Default)]
struct ChoiceState {
    has_output: bool,
    finished: bool,
    /// Tool-call ids in slot order, for servers that omit `index`.
    tool_ids: Vec<String>,
}

#[derive(Debug)]
pub struct StreamDecoder {
    fallback_model: String,
    key: Option<String>,
    id: Option<String>,
    created: i64,
    model: Option<String>,
    usage: Option<Usage>,
    choices: Vec<ChoiceState>,
    done: bool,
}

impl StreamDecoder {
    /// `key` is only used to scrub it from error messages the upstream might echo.
    pub fn new(fallback_model: &str, key: Option<&str>) -> Self {
        StreamDecoder {
            fallback_model: fallback_model.to_owned(),
            key: key.map(str::to_owned),
            id: None,
            created: 0,
            model: None,
            usage: None,
            choices: Vec::new(),
            done: false,
        }
    }

    /// True once the stream is over (normally or with an error): stop reading.
    pub fn is_done(&self) -> bool {
        self.done
    }

    pub fn on_event(&mut self, ev: &SseEvent, out: &mut Vec<Item>) {
        if self.done {
            return;
        }
        let data = ev.data.trim();
        if data.is_empty() {
            return;
        }
        if data == "[DONE]" {
            self.finish(out);
            return;
        }
        // Straight into the typed chunk, once per event: a `Value` tree first doubled the
        // parsing work on every streamed token. Anything that does not fit the chunk shape
        // takes the general path below, which decides between error event and bad chunk.
        let chunk: WireChunk = match serde_json::from_str(data) {
            Ok(c) => c,
            Err(_) => return self.on_odd_event(ev, data, out),
        };
        if let Some(err) = chunk.error.as_ref().filter(|e| !e.is_null()) {
            let e = error_from_event(err, self.key.as_deref());
            return self.fail(e, out);
        }
        if ev.event.as_deref() == Some("raw") {
            return self.fail(non_stream_body(), out);
        }
        self.on_chunk(chunk, out);
    }

    /// An event that is not a chunk: an error object, a non-stream body, or garbage.
    fn on_odd_event(&mut self, ev: &SseEvent, data: &str, out: &mut Vec<Item>) {
        let v: serde_json::Value = match serde_json::from_str(data) {
            Ok(v) => v,
            Err(e) => return self.fail(decode_error("stream chunk", &e, data.as_bytes()), out),
        };
        if let Some(err) = v.get("error").filter(|e| !e.is_null()) {
            let e = error_from_event(err, self.key.as_deref());
            return self.fail(e, out);
        }
        if ev.event.as_deref() == Some("raw") {
            return self.fail(non_stream_body(), out);
        }
        match serde_json::from_value::<WireChunk>(v) {
            Ok(chunk) => self.on_chunk(chunk, out),
            Err(e) => self.fail(decode_error("stream chunk", &e, data.as_bytes()), out),
        }
    }

    /// The body ended. Clean if `[DONE]` came or every choice finished; otherwise the stream
    /// was cut and the caller must not mistake what it got for a whole answer.
    pub fn on_end(&mut self, out: &mut Vec<Item>) {
        if self.done {
            return;
        }
        if !self.choices.is_empty() && self.choices.iter().all(|c| c.finished) {
            self.finish(out);
        } else {
            self.fail(
                ProviderError::new(
                    ErrorKind::StreamInterrupted,
                    "upstream stream ended before a finish_reason",
                ),
                out,
            );
        }
    }

    fn fail(&mut self, e: ProviderError, out: &mut Vec<Item>) {
        self.done = true;
        out.push(Err(super::error::scrub(e, self.key.as_deref())));
    }

    fn finish(&mut self, out: &mut Vec<Item>) {
        self.done = true;
        if let Some(u) = self.usage.take() {
            let mut c = self.blank_chunk();
            c.usage = Some(u);
            out.push(Ok(c));
        }
    }

    fn blank_chunk(&self) -> ChatChunk {
        ChatChunk::new(
            self.id.as_deref().unwrap_or("chatcmpl-stream"),
            self.created,
            self.model.as_deref().unwrap_or(&self.fallback_model),
        )
    }

    fn on_chunk(&mut self, w: WireChunk, out: &mut Vec<Item>) {
        // Azure opens with an empty-id, empty-model chunk (prompt filter results): skip those.
        if self.id.is_none() {
            if let Some(id) = w.id.as_ref().filter(|s| !s.is_empty()) {
                self.id = Some(id.clone());
                self.created = w.created.unwrap_or_else(crate::http::now_unix);
            }
        }
        if self.model.is_none() {
            self.model = w.model.clone().filter(|s| !s.is_empty());
        }
        if let Some(u) = w
            .usage
            .as_ref()
            .or(w.x_groq.as_ref().and_then(|x| x.usage.as_ref()))
        {
            self.usage = Some(usage_from_wire(u));
        }
        if w.choices.is_empty() {
            return; // usage-only (held for the end) or an empty keep-alive-like chunk
        }
        if self.id.is_none() {
            // Every chunk of one stream must share an id, so mint it once.
            self.id = Some(format!("chatcmpl-{}", crate::http::random_id(24)));
            self.created = w.created.unwrap_or_else(crate::http::now_unix);
        }
        let mut chunk = self.blank_chunk();
        chunk.system_fingerprint = w.system_fingerprint;
        for c in w.choices {
            match self.choice(c) {
                Ok(c) => chunk.choices.push(c),
                Err(e) => return self.fail(e, out),
            }
        }
        out.push(Ok(chunk));
    }

    fn choice(&mut self, c: WireChunkChoice) -> Result<ChunkChoice, ProviderError> {
        let i = c.index as usize;
        if self.choices.len() <= i {
            self.choices.resize_with(i + 1, ChoiceState::default);
        }
        let st = &mut self.choices[i];
        let (content, reasoning_in_content) = content_from_wire(c.delta.content);
        let tool_calls = c.delta.tool_calls.map(|calls| {
            calls
                .into_iter()
                .map(|t| tool_delta(st, t))
                .collect::<Vec<_>>()
        });
        let delta = Delta {
            role: c.delta.role,
            reasoning_content: c
                .delta
                .reasoning_content
                .or(c.delta.reasoning)
                .or(reasoning_in_content),
            tool_calls,
            refusal: c.delta.refusal,
            content,
        };
        st.has_output |= delta.content.as_deref().is_some_and(|s| !s.is_empty())
            || delta.tool_calls.as_ref().is_some_and(|t| !t.is_empty());
        let finish_reason = finish_from_wire(c.finish_reason, st.has_output)?;
        st.finished |= finish_reason.is_some();
        let logprobs = logprobs_from_wire(c.logprobs, delta.content.as_deref());
        Ok(ChunkChoice {
            index: c.index,
            delta,
            finish_reason,
            logprobs,
            stop_sequence: None,
        })
    }
}

/// Key a tool-call fragment by its index; servers that omit the index send whole calls, so a
/// new id opens a new slot and a fragment without id continues the last one.
fn tool_delta(st: &mut ChoiceState, t: WireToolCallDelta) -> ToolCallDelta {
    let index = match (t.index, &t.id) {
        (Some(i), _) => i,
        (None, Some(id)) => match st.tool_ids.iter().position(|x| x == id) {
            Some(p) => u32::try_from(p).unwrap_or(u32::MAX),
            None => {
                st.tool_ids.push(id.clone());
                u32::try_from(st.tool_ids.len() - 1).unwrap_or(u32::MAX)
            }
        },
        (None, None) => u32::try_from(st.tool_ids.len().saturating_sub(1)).unwrap_or(0),
    };
    ToolCallDelta {
        index,
        id: t.id,
        kind: t.kind,
        function: t.function.map(|f| FunctionCallDelta {
            name: f.name,
            arguments: f.arguments.map(|a| arguments_string(Some(a))),
        }),
    }
}

/// A whole response as the chunk sequence a stream would have carried: for servers that answer
/// a stream request with a plain JSON body (they ignored `stream: true`).
pub fn response_to_chunks(r: ChatResponse) -> Vec<ChatChunk> {
    let mut out = Vec::with_capacity(r.choices.len() + 1);
    for c in r.choices {
        let m = c.message;
        let tool_calls = m.tool_calls.map(|calls| {
            calls
                .into_iter()
                .enumerate()
                .map(|(i, t)| ToolCallDelta {
                    index: u32::try_from(i).unwrap_or(u32::MAX),
                    id: Some(t.id),
                    kind: Some(t.kind),
                    function: Some(FunctionCallDelta {
                        name: Some(t.function.name),
                        arguments: Some(t.function.arguments),
                    }),
                })
                .collect()
        });
        let mut chunk = ChatChunk::new(&r.id, r.created, &r.model);
        chunk.system_fingerprint.clone_from(&r.system_fingerprint);
        chunk.choices.push(ChunkChoice {
            index: c.index,
            delta: Delta {
                role: Some(m.role),
                content: m.content,
                reasoning_content: m.reasoning_content,
                tool_calls,
                refusal: m.refusal,
            },
            finish_reason: c.finish_reason,
            logprobs: c.logprobs,
            stop_sequence: None,
        });
        out.push(chunk);
    }
    if let Some(u) = r.usage {
        let mut chunk = ChatChunk::new(&r.id, r.created, &r.model);
        chunk.usage = Some(u);
        out.push(chunk);
    }
    out
}

/// The whole body was one JSON document, not SSE: the upstream ignored `stream`.
fn non_stream_body() -> ProviderError {
    ProviderError::new(
        ErrorKind::Decode,
        "upstream answered a stream request with a non-stream body",
    )
}
