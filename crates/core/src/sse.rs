//! Server-sent events: the one decoder of the workspace, incremental over arbitrary byte
//! splits. Handles `event:` lines (Anthropic), `data:`-only frames (OpenAI, Gemini), `:` comment
//! keep-alives (DeepSeek), CRLF, and multi-line `data:` fields.

use bytes::{Bytes, BytesMut};

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SseEvent {
    pub event: Option<String>,
    pub data: String,
}

#[derive(Debug, Default)]
pub struct SseDecoder {
    buf: BytesMut,
    event: Option<String>,
    data: String,
    has_data: bool,
}

impl SseDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feed bytes; complete events are appended to `out`.
    pub fn push(&mut self, bytes: &[u8], out: &mut Vec<SseEvent>) {
        self.buf.extend_from_slice(bytes);
        while let Some(pos) = memchr::memchr(b'\n', &self.buf) {
            let line = self.buf.split_to(pos + 1);
            let mut line = &line[..pos];
            if line.last() == Some(&b'\r') {
                line = &line[..line.len() - 1];
            }
            self.line(line, out);
        }
    }

    /// The body ended: flush an event that was not followed by a blank line.
    pub fn finish(&mut self, out: &mut Vec<SseEvent>) {
        if !self.buf.is_empty() {
            let rest = self.buf.split();
            let mut line = &rest[..];
            if line.last() == Some(&b'\r') {
                line = &line[..line.len() - 1];
            }
            self.line(line, out);
        }
        self.dispatch(out);
    }

    /// Bytes received that did not form a complete line yet (used to spot a non-SSE error body).
    pub fn pending(&self) -> &[u8] {
        &self.buf
    }

    fn line(&mut self, line: &[u8], out: &mut Vec<SseEvent>) {
        if line.is_empty() {
            self.dispatch(out);
            return;
        }
        if line[0] == b':' {
            return; // comment / keep-alive
        }
        let (field, value) = match memchr::memchr(b':', line) {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &b""[..]),
        };
        // Strict UTF-8 first: its ASCII fast path checks a word at a time, where the lossy
        // decoder walks byte by byte (5 % of a streamed request's instructions). Invalid bytes,
        // which no provider should send, still become U+FFFD.
        let value = match std::str::from_utf8(value) {
            Ok(s) => std::borrow::Cow::Borrowed(s),
            Err(_) => String::from_utf8_lossy(value),
        };
        match field {
            b"data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(&value);
                self.has_data = true;
            }
            b"event" => self.event = Some(value.into_owned()),
            _ => {} // id, retry: not used by any provider we speak
        }
    }

    fn dispatch(&mut self, out: &mut Vec<SseEvent>) {
        if self.has_data {
            out.push(SseEvent {
                event: self.event.take(),
                data: std::mem::take(&mut self.data),
            });
        }
        self.event = None;
        self.has_data = false;
    }
}

/// `data: <json>\n\n`
pub fn data_frame(json: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(json.len() + 8);
    b.extend_from_slice(b"data: ");
    b.extend_from_slice(json);
    b.extend_from_slice(b"\n\n");
    b.freeze()
}

/// `data: <value as JSON>\n\n`, serialized straight into the frame: one buffer per event
/// instead of a JSON buffer plus a copy into the frame. A value that does not serialize (a
/// map with non-string keys; none of ours) gives `data: \n\n`, which clients skip.
pub fn json_data_frame<T: serde::Serialize>(v: &T) -> Bytes {
    // Most OpenAI chunks fit (one delta of a few tokens plus id, model and timestamps).
    let mut b = Vec::with_capacity(384);
    b.extend_from_slice(b"data: ");
    if serde_json::to_writer(&mut b, v).is_err() {
        b.truncate(6);
    }
    b.extend_from_slice(b"\n\n");
    Bytes::from(b)
}

/// `event: <name>\ndata: <json>\n\n` (Anthropic framing)
pub fn named_frame(event: &str, json: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(json.len() + event.len() + 16);
    b.extend_from_slice(b"event: ");
    b.extend_from_slice(event.as_bytes());
    b.extend_from_slice(b"\ndata: ");
    b.extend_from_slice(json);
    b.extend_from_slice(b"\n\n");
    b.freeze()
}

pub const DONE_FRAME: &[u8] = b"data: [DONE]\n\n";

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(input: &[u8], split: usize) -> Vec<SseEvent> {
        let mut d = SseDecoder::new();
        let mut out = Vec::new();
        for part in input.chunks(split.max(1)) {
            d.push(part, &mut out);
        }
        d.finish(&mut out);
        out
    }

    #[test]
    fn every_split_gives_the_same_events() {
        let input = b": keep-alive\r\n\r\nevent: message_start\r\ndata: {\"a\":1}\r\n\r\ndata: x\ndata: y\n\ndata: [DONE]";
        let want = vec![
            SseEvent {
                event: Some("message_start".into()),
                data: "{\"a\":1}".into(),
            },
            SseEvent {
                event: None,
                data: "x\ny".into(),
            },
            SseEvent {
                event: None,
                data: "[DONE]".into(),
            },
        ];
        for split in 1..input.len() {
            assert_eq!(decode_all(input, split), want, "split {split}");
        }
    }

    #[test]
    fn invalid_utf8_becomes_replacement_characters_and_frames_are_exact() {
        let events = decode_all(b"data: caf\xc3\xa9 \xff!\n\n", 4);
        assert_eq!(events[0].data, "caf\u{e9} \u{fffd}!");
        let frame = json_data_frame(&serde_json::json!({"a": "x\ny"}));
        assert_eq!(&frame[..], b"data: {\"a\":\"x\\ny\"}\n\n");
        assert_eq!(&frame[..], &data_frame(br#"{"a":"x\ny"}"#)[..]);
    }

    #[test]
    fn comments_only_give_nothing() {
        assert!(decode_all(b": ping\n\n: ping\n\n", 3).is_empty());
    }
}
