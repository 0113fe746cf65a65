//! Engine stream -> `text/event-stream`. Each chunk is written as soon as it arrives (no
//! buffering); the stream ends with `data: [DONE]`, or with an error event and no `[DONE]`
//! when it failed after the first byte, which the OpenAI SDK raises as an `APIError`.

use std::convert::Infallible;

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
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
    let mut ended = false;
    let mut failed = false;
    let mut stream = Box::pin(stream);
    let mut framer = ChunkFramer::default();
    futures::stream::poll_fn(move |cx| {
        if ended {
            return std::task::Poll::Ready(None);
        }
        match stream.poll_next_unpin(cx) {
            std::task::Poll::Ready(Some(OutItem::Chunk(c))) => {
                std::task::Poll::Ready(Some(framer.frame(&c)))
            }
            std::task::Poll::Ready(Some(OutItem::Error(e))) => {
                failed = true;
                std::task::Poll::Ready(Some(json_data_frame(&error_body(&e))))
            }
            std::task::Poll::Ready(None) => {
                ended = true;
                if failed {
                    std::task::Poll::Ready(None)
                } else {
                    std::task::Poll::Ready(Some(Bytes::from_static(DONE_FRAME)))
                }
            }
            std::task::Poll::Pending => std::task::Poll::Pending,
        }
    })
}
