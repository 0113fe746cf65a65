//! The stream the client reads. It starts with the chunks held while the engine waited for
//! the first content (so failover stayed invisible), forwards the rest chunk by chunk, and at
//! the end bills the real usage and, if the client asked, sends one usage chunk with empty
//! `choices`. A failure after the first byte becomes an error event, never a clean end. If the
//! client goes away, the record is still written (status 499).

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use switchyard_core::{
    AttemptRecord, ChatChunk, ChunkStream, ErrorKind, ProviderError, RequestRecord,
    StreamAccumulator,
};

use crate::error::GatewayError;
use crate::pipeline::{attach_cost, fill_success, ms};
use crate::runtime::Engine;

/// Open a stream on `provider` and hold its chunks until the first one with content: a
/// failure before that is still a failover the client never sees. Returns the held chunks
/// and the rest of the stream.
pub(crate) async fn open_held(
    provider: &dyn switchyard_core::Provider,
    req: &switchyard_core::ChatRequest,
    ctx: &switchyard_core::CallCtx,
) -> Result<(Vec<ChatChunk>, ChunkStream), ProviderError> {
    let mut s = provider.chat_stream(req, ctx).await?;
    let mut held: Vec<ChatChunk> = Vec::new();
    loop {
        match s.next().await {
            Some(Ok(c)) => {
                let content = c.has_content();
                held.push(c);
                if content {
                    return Ok((held, s));
                }
            }
            Some(Err(e)) => return Err(e),
            None => {
                return Err(ProviderError::new(
                    ErrorKind::StreamInterrupted,
                    "upstream stream ended before any content",
                ));
            }
        }
    }
}

pub enum OutItem {
    Chunk(ChatChunk),
    /// Terminal: the stream ends after it.
    Error(GatewayError),
}

pub struct OutStream {
    inner: BoxStream<'static, OutItem>,
}

impl Stream for OutStream {
    type Item = OutItem;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<OutItem>> {
        self.inner.poll_next_unpin(cx)
    }

    /// Exact for a replayed answer (every item ready), `(0, None)` for a live one: the SSE
    /// writer batches only what is known to be ready, and never polls a live stream twice.
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

pub struct StreamSetup {
    pub engine: Arc<Engine>,
    pub model: usize,
    pub baseline: Option<usize>,
    pub held: Vec<ChatChunk>,
    pub rest: ChunkStream,
    pub record: RequestRecord,
    pub attempts: Vec<AttemptRecord>,
    pub wants_usage: bool,
    pub started: Instant,
    pub upstream_time: Duration,
    /// The plan's prompt estimate ([`crate::route::estimate_prompt_tokens`]): what
    /// a stream cut before the upstream reported usage is billed for on the input side.
    pub prompt_tokens: u64,
}

/// Writes the record exactly once: on success, on failure, or (from `Drop`) when the client
/// disconnected before the end. It owns what the stream has seen so far, so that a stream cut
/// either way is still billed: the upstream charges for the prompt and every token it sent.
struct Finalizer {
    engine: Arc<Engine>,
    rec: Option<RequestRecord>,
    started: Instant,
    overhead_ms: f64,
    model: usize,
    baseline: Option<usize>,
    acc: StreamAccumulator,
    attempts: Vec<AttemptRecord>,
    prompt_tokens: u64,
}

impl Finalizer {
    fn done(&mut self, status: u16, error_class: Option<&str>) {
        if let Some(mut rec) = self.rec.take() {
            rec.status = status;
            rec.error_class = error_class.map(str::to_owned);
            rec.total_ms = ms(self.started.elapsed());
            rec.overhead_ms = self.overhead_ms;
            self.engine.sink.record(rec);
        }
    }

    /// A stream that ended early: price the usage the upstream reported, or else an estimate
    /// (the prompt estimate, and ceil(chars / 4) of the output received), and mark it estimated.
    fn cut(&mut self, status: u16, error_class: &str) {
        let Some(rec) = self.rec.as_mut() else {
            return;
        };
        let m = &self.engine.models[self.model];
        let (usage, estimated) = match self.acc.usage() {
            Some(u) => (u.clone(), false),
            None => {
                let output = (self.acc.output_chars() as u64).div_ceil(4);
                let usage = switchyard_core::Usage {
                    prompt_tokens: self.prompt_tokens,
                    completion_tokens: output,
                    total_tokens: self.prompt_tokens + output,
                    ..Default::default()
                };
                (usage, true)
            }
        };
        let bill = self
            .engine
            .bill(m, Some(&usage), &mut self.attempts, self.baseline);
        if let Some(last) = self.attempts.last_mut() {
            last.cost_estimated = estimated;
        }
        fill_success(
            rec,
            m.name.clone(),
            m.provider_name.clone(),
            Some(&usage),
            &bill,
            std::mem::take(&mut self.attempts),
        );
        self.done(status, Some(error_class));
    }
}

impl Drop for Finalizer {
    fn drop(&mut self) {
        if self.rec.is_none() {
            return;
        }
        if let Some(last) = self.attempts.last_mut()
            && last.outcome == "ok"
        {
            last.outcome = "client_closed-after-first-byte".to_owned();
        }
        self.cut(499, "client_closed");
    }
}

impl OutStream {
    /// A stream made elsewhere (a cached answer replayed, a coalesced flight's chunks).
    pub fn from_items(s: impl Stream<Item = OutItem> + Send + 'static) -> OutStream {
        OutStream { inner: s.boxed() }
    }

    pub fn new(s: StreamSetup) -> OutStream {
        OutStream::serving(s, None)
    }

    /// As `new`, naming the deployment (`provider:model:keyN`) that served the stream, so a
    /// failure after the first byte counts against its circuit breaker.
    pub fn serving(s: StreamSetup, deployment: Option<String>) -> OutStream {
        let StreamSetup {
            engine,
            model,
            baseline,
            held,
            mut rest,
            mut record,
            attempts,
            wants_usage,
            started,
            upstream_time,
            prompt_tokens,
        } = s;
        record.ttft_ms = Some(ms(started.elapsed()));
        let overhead_ms = ms(started.elapsed().saturating_sub(upstream_time));
        let inner = async_stream::stream! {
            let mut fin = Finalizer {
                engine: engine.clone(),
                rec: Some(record),
                started,
                overhead_ms,
                model,
                baseline,
                acc: StreamAccumulator::new(),
                attempts,
                prompt_tokens,
            };
            let m = &engine.models[model];
            let mut last_id = String::new();
            let mut created = 0;
            for c in held {
                if let Some(c) = prepare(c, &mut fin.acc, &m.name, &mut last_id, &mut created) {
                    yield OutItem::Chunk(c);
                }
            }
            loop {
                match rest.next().await {
                    Some(Ok(c)) => {
                        if let Some(c) = prepare(c, &mut fin.acc, &m.name, &mut last_id, &mut created) {
                            yield OutItem::Chunk(c);
                        }
                    }
                    Some(Err(e)) => {
                        if let (Some(d), Some(false)) = (&deployment, crate::health::health_outcome(e.kind)) {
                            engine.shared.health.report_late_failure(d);
                        }
                        let g = mid_stream_error(&e, &m.name);
                        attempts_fail(&mut fin.attempts, &e);
                        fin.cut(g.status, g.class);
                        yield OutItem::Error(g);
                        return;
                    }
                    None => break,
                }
            }
            if !fin.acc.is_finished() {
                if let Some(d) = &deployment {
                    engine.shared.health.report_late_failure(d);
                }
                let e = ProviderError::new(ErrorKind::StreamInterrupted, "upstream stream ended without a finish reason");
                let g = mid_stream_error(&e, &m.name);
                attempts_fail(&mut fin.attempts, &e);
                fin.cut(g.status, g.class);
                yield OutItem::Error(g);
                return;
            }
            let usage = fin.acc.usage().cloned();
            let bill = engine.bill(m, usage.as_ref(), &mut fin.attempts, baseline);
            if let Some(rec) = fin.rec.as_mut() {
                fill_success(rec, m.name.clone(), m.provider_name.clone(), usage.as_ref(), &bill, fin.attempts.clone());
            }
            if wants_usage {
                if let Some(mut u) = usage {
                    attach_cost(&mut u, &bill, &fin.attempts);
                    let mut c = ChatChunk::new(&last_id, created, &m.name);
                    c.usage = Some(u);
                    yield OutItem::Chunk(c);
                }
            }
            fin.done(200, None);
        };
        OutStream {
            inner: inner.boxed(),
        }
    }
}

/// Rename the model, feed the accumulator, and decide what the client sees: usage travels
/// only in our own final chunk (with the cost added), never on a chunk that has choices.
fn prepare(
    mut c: ChatChunk,
    acc: &mut StreamAccumulator,
    model: &str,
    last_id: &mut String,
    created: &mut i64,
) -> Option<ChatChunk> {
    acc.push(&c);
    if last_id.is_empty() {
        last_id.clone_from(&c.id);
        *created = c.created;
    }
    c.usage = None;
    if c.choices.is_empty() {
        return None;
    }
    if c.model != model {
        c.model = model.to_owned();
    }
    Some(c)
}

fn attempts_fail(attempts: &mut [AttemptRecord], e: &ProviderError) {
    if let Some(last) = attempts.last_mut() {
        last.outcome = format!("{}-after-first-byte", e.kind.as_str());
    }
}

fn mid_stream_error(e: &ProviderError, model: &str) -> GatewayError {
    let mut g = GatewayError::from_provider(e, model);
    g.message = format!(
        "The stream from {model} failed after it started, so it could not be retried transparently: {}",
        e.message
    );
    g
}
