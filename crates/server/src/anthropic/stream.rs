//! Canonical chunks -> Anthropic stream events: `message_start`, then per block
//! `content_block_start` / `content_block_delta`* / `content_block_stop`, then `message_delta`
//! with the stop reason and usage, then `message_stop`. A failure is an `error` event.

use bytes::Bytes;
use serde_json::{Value, json};
use switchyard_core::ChatChunk;
use switchyard_core::sse::named_frame;

use super::response::{message_id, stop, usage};

#[derive(Default)]
pub struct Translator {
    started: bool,
    /// Index of the open content block, and whether it is text (else a tool call).
    open: Option<(usize, bool)>,
    next_block: usize,
    /// Canonical tool index -> the block index it opened.
    tools: Vec<(u32, usize)>,
    /// `stop_reason` and `stop_sequence` for the closing `message_delta`.
    stop: Option<(&'static str, Option<String>)>,
    finished: bool,
}

fn frame(event: &str, v: &Value) -> Bytes {
    named_frame(event, v.to_string().as_bytes())
}

impl Translator {
    pub fn new() -> Self {
        Self::default()
    }

    fn start(&mut self, c: &ChatChunk, out: &mut Vec<Bytes>) {
        if !self.started {
            self.started = true;
            out.push(frame(
                "message_start",
                &json!({"type": "message_start", "message": {
                    "id": message_id(&c.id), "type": "message", "role": "assistant", "content": [],
                    "model": c.model, "stop_reason": null, "stop_sequence": null,
                    "usage": {"input_tokens": 0, "output_tokens": 0}}}),
            ));
        }
    }

    fn close(&mut self, out: &mut Vec<Bytes>) {
        if let Some((i, _)) = self.open.take() {
            out.push(frame(
                "content_block_stop",
                &json!({"type": "content_block_stop", "index": i}),
            ));
        }
    }

    pub fn chunk(&mut self, c: &ChatChunk, out: &mut Vec<Bytes>) {
        self.start(c, out);
        if let Some(choice) = c.choices.first() {
            if let Some(t) = choice.delta.content.as_deref().filter(|t| !t.is_empty()) {
                if !matches!(self.open, Some((_, true))) {
                    self.close(out);
                    let i = self.next_block;
                    self.next_block += 1;
                    self.open = Some((i, true));
                    out.push(frame("content_block_start", &json!({"type": "content_block_start", "index": i, "content_block": {"type": "text", "text": ""}})));
                }
                let i = self.open.map_or(0, |(i, _)| i);
                out.push(frame("content_block_delta", &json!({"type": "content_block_delta", "index": i, "delta": {"type": "text_delta", "text": t}})));
            }
            for tc in choice.delta.tool_calls.iter().flatten() {
                let block = match self.tools.iter().find(|(k, _)| *k == tc.index) {
                    Some(&(_, b)) => b,
                    None => {
                        self.close(out);
                        let b = self.next_block;
                        self.next_block += 1;
                        self.tools.push((tc.index, b));
                        self.open = Some((b, false));
                        let name = tc
                            .function
                            .as_ref()
                            .and_then(|f| f.name.clone())
                            .unwrap_or_default();
                        out.push(frame(
                            "content_block_start",
                            &json!({"type": "content_block_start", "index": b, "content_block": {"type": "tool_use", "id": tc.id.clone().unwrap_or_default(), "name": name, "input": {}}}),
                        ));
                        b
                    }
                };
                if let Some(args) = tc
                    .function
                    .as_ref()
                    .and_then(|f| f.arguments.as_deref())
                    .filter(|a| !a.is_empty())
                {
                    out.push(frame("content_block_delta", &json!({"type": "content_block_delta", "index": block, "delta": {"type": "input_json_delta", "partial_json": args}})));
                }
            }
            if choice.finish_reason.is_some() {
                self.stop = Some(stop(
                    choice.finish_reason.as_ref(),
                    choice.stop_sequence.as_deref(),
                ));
            }
        }
        if let Some(u) = &c.usage {
            self.end(Some(u), out);
        }
    }

    /// Close the message; called with the usage chunk, or at the end of the stream.
    pub fn end(&mut self, u: Option<&switchyard_core::Usage>, out: &mut Vec<Bytes>) {
        if self.finished {
            return;
        }
        self.finished = true;
        self.close(out);
        let (reason, seq) = self.stop.take().unwrap_or(("end_turn", None));
        out.push(frame(
            "message_delta",
            &json!({"type": "message_delta", "delta": {"stop_reason": reason, "stop_sequence": seq}, "usage": usage(u)}),
        ));
        out.push(frame("message_stop", &json!({"type": "message_stop"})));
    }

    pub fn error(&mut self, body: &Value, out: &mut Vec<Bytes>) {
        self.finished = true;
        out.push(frame("error", body));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_core::{Delta, FinishReason, Usage};

    fn events(out: &[Bytes]) -> Vec<Value> {
        out.iter()
            .map(|b| {
                let s = std::str::from_utf8(b).unwrap();
                let data = s.lines().find_map(|l| l.strip_prefix("data: ")).unwrap();
                serde_json::from_str(data).unwrap()
            })
            .collect()
    }

    #[test]
    fn message_id_has_one_prefix_and_the_stop_sequence_is_reported() {
        for (upstream_id, want) in [("msg_sim1", "msg_sim1"), ("chatcmpl-1", "msg_chatcmpl-1")] {
            let mut tr = Translator::new();
            let mut out = Vec::new();
            let mut last = ChatChunk::new(upstream_id, 1, "m").with_delta(
                0,
                Delta::default(),
                Some(FinishReason::Stop),
            );
            last.choices[0].stop_sequence = Some("STOP".to_owned());
            tr.chunk(
                &ChatChunk::new(upstream_id, 1, "m").with_delta(0, Delta::text("hi"), None),
                &mut out,
            );
            tr.chunk(&last, &mut out);
            let mut usage = ChatChunk::new(upstream_id, 1, "m");
            usage.usage = Some(Usage::default());
            tr.chunk(&usage, &mut out);
            let ev = events(&out);
            assert_eq!(ev[0]["message"]["id"], want);
            let delta = ev.iter().find(|e| e["type"] == "message_delta").unwrap();
            assert_eq!(delta["delta"]["stop_reason"], "stop_sequence");
            assert_eq!(delta["delta"]["stop_sequence"], "STOP");
        }
    }
}
