//! Engine stream -> `text/event-stream`. Each chunk is written as soon as it arrives (no
//! buffering); the stream ends with `data: [DONE]`, or with an error event and no `[DONE]`
//! when it failed after the first byte, which the OpenAI SDK raises as an `APIError`.

use std::convert::Infallible;

use axum::body::Body;
use axum::response::Response;
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use switchyard_core::chunk_frame::ChunkFramer;
use switchyard_core::sse::{DONE_FRAME, json_data_frame};
use switchyard_engine::outstream::{OutItem, OutStream};

use crate::envelope::error_body;

pub fn sse_response(stream: OutStream, mut headers: HeaderMap) -> Response {
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    let body = frames(stream).map(Ok::<_, Infallible>);
    let mut resp = Response::new(Body::from_stream(body));
    *resp.status_mut() = StatusCode::OK;
    *resp.headers_mut() = headers;
    resp
}

fn frames(stream: OutStream) -> impl futures::Stream<Item = Bytes> {
    let mut failed = false;
    let mut framer = ChunkFramer::default();
    ready_frames(stream, move |item, out| match item {
        Some(OutItem::Chunk(c)) => out.push(framer.frame(&c)),
        Some(OutItem::Error(e)) => {
            failed = true;
            out.push(json_data_frame(&error_body(&e)));
        }
        None if !failed => out.push(Bytes::from_static(DONE_FRAME)),
        None => {}
    })
}

/// One body frame per wake-up, holding what `render` made of every item known to be ready
/// (the stream's size hint; `render` gets `None` once, at the end): a cached answer (all of it
/// ready at once) leaves in one write instead of hyper flushing its 16-buffer queue part way,
/// which made the client wake twice; a live stream sends each chunk the moment it arrives,
/// polled once per chunk as before. Used by both dialects' SSE writers.
pub fn ready_frames(
    stream: OutStream,
    mut render: impl FnMut(Option<OutItem>, &mut Vec<Bytes>) + Send + 'static,
) -> impl futures::Stream<Item = Bytes> + Send + 'static {
    use std::task::Poll;
    let mut ended = false;
    let mut stream = Box::pin(stream);
    let mut parts: Vec<Bytes> = Vec::new();
    futures::stream::poll_fn(move |cx| {
        if ended {
            return Poll::Ready(None);
        }
        loop {
            match stream.poll_next_unpin(cx) {
                Poll::Ready(Some(item)) => {
                    render(Some(item), &mut parts);
                    // Go on only while more is known to be ready (a replayed answer, whose
                    // end is known too), or while nothing was made yet: returning Pending
                    // after a Ready would leave no waker registered.
                    let (ready, most) = futures::Stream::size_hint(&stream);
                    if !parts.is_empty() && ready == 0 && most != Some(0) {
                        break;
                    }
                }
                Poll::Ready(None) => {
                    ended = true;
                    render(None, &mut parts);
                    break;
                }
                Poll::Pending => break,
            }
        }
        match parts.len() {
            0 if ended => Poll::Ready(None),
            0 => Poll::Pending,
            1 => Poll::Ready(parts.pop()),
            _ => {
                let mut buf = BytesMut::with_capacity(parts.iter().map(Bytes::len).sum());
                for p in parts.drain(..) {
                    buf.extend_from_slice(&p);
                }
                Poll::Ready(Some(buf.freeze()))
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_core::ChatChunk;

    fn chunk(text: &str) -> OutItem {
        let c: ChatChunk = serde_json::from_value(serde_json::json!({
            "id": "c1", "created": 1, "model": "m",
            "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": null}]
        }))
        .expect("chunk");
        OutItem::Chunk(c)
    }

    fn data_lines(frames: &[Bytes]) -> usize {
        frames
            .iter()
            .map(|f| f.windows(6).filter(|w| w == b"data: ").count())
            .sum()
    }

    #[tokio::test]
    async fn a_stream_that_is_all_ready_leaves_in_one_frame() {
        let items = vec![chunk("a"), chunk("b"), chunk("c")];
        let out = OutStream::from_items(futures::stream::iter(items));
        let got: Vec<Bytes> = frames(out).collect().await;
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(data_lines(&got), 4, "three chunks and [DONE]");
        assert!(got[0].ends_with(DONE_FRAME));
    }

    #[tokio::test]
    async fn a_live_stream_still_sends_each_chunk_as_it_arrives() {
        let live = async_stream::stream! {
            for t in ["a", "b", "c"] {
                tokio::task::yield_now().await;
                yield chunk(t);
            }
        };
        let got: Vec<Bytes> = frames(OutStream::from_items(live)).collect().await;
        // One frame per chunk (none waits for the next), [DONE] with the last or after it.
        assert!(got.len() >= 3, "{got:?}");
        assert_eq!(data_lines(&got[..1]), 1);
        assert_eq!(data_lines(&got), 4);
    }

    /// An item that renders to nothing must not end the poll with Pending and no waker.
    #[tokio::test]
    async fn items_that_render_to_nothing_do_not_stall_the_stream() {
        let live = async_stream::stream! {
            for t in ["skip", "a", "skip", "b"] {
                tokio::task::yield_now().await;
                yield chunk(t);
            }
        };
        let render = |item: Option<OutItem>, out: &mut Vec<Bytes>| {
            if let Some(OutItem::Chunk(c)) = item
                && c.choices[0].delta.content.as_deref() != Some("skip")
            {
                out.push(Bytes::from_static(b"data: x\n\n"));
            }
        };
        let got = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            ready_frames(OutStream::from_items(live), render).collect::<Vec<Bytes>>(),
        )
        .await
        .expect("the stream ends");
        assert_eq!(data_lines(&got), 2);
    }

    #[tokio::test]
    async fn an_error_ends_the_frames_without_done() {
        let items = vec![
            chunk("a"),
            OutItem::Error(switchyard_engine::GatewayError::bad_request("cut")),
        ];
        let got: Vec<Bytes> = frames(OutStream::from_items(futures::stream::iter(items)))
            .collect()
            .await;
        let all: Vec<u8> = got.concat();
        assert!(!all.ends_with(DONE_FRAME));
        assert_eq!(data_lines(&got), 2, "the chunk and the error event");
    }
}
