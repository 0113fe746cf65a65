//! Serving one client from a stored answer or from a flight: the leader's own client gets
//! its answer as computed (a miss, billed); everyone else gets the same answer at zero cost,
//! with the saving recorded, and a record of their own.

use std::sync::Arc;

use switchyard_core::{ChatChunk, ChatResponse, Usd};

use super::flight::{End, Flight, Head};
use super::serve::{entry_meta, free_usage, usage_chunk};
use super::store::{Body, Entry};
use crate::error::GatewayError;
use crate::outstream::{OutItem, OutStream};
use crate::pipeline::{ChatServed, Meta, RequestCtx, ms};
use crate::runtime::Engine;

/// One client's view of an answer: who asked, and how it wants it.
pub(crate) struct ReaderCtx {
    pub engine: Arc<Engine>,
    pub requested: String,
    pub resolved: String,
    pub stream: bool,
    pub wants_usage: bool,
    pub rctx: RequestCtx,
}

impl ReaderCtx {
    fn meta(&self, model: Option<String>, provider: Option<String>, label: &'static str) -> Meta {
        Meta {
            request_id: self.rctx.request_id.clone(),
            model,
            provider,
            attempts: Vec::new(),
            route: format!("{}: cache {label}", self.resolved),
            cost: Some(Usd::ZERO),
            cache: label,
            overhead_ms: ms(self.rctx.started.elapsed()),
        }
    }

    /// Write the record of a client served without paying.
    fn record(&self, meta: &Meta, saved: Option<Usd>, failed: Option<&GatewayError>) {
        let e = &self.engine;
        let mut rec = e.base_record(
            &self.rctx,
            "chat",
            &self.requested,
            &self.resolved,
            self.stream,
        );
        rec.cache = meta.cache.to_owned();
        rec.total_ms = ms(self.rctx.started.elapsed());
        // A coalesced client spent its time waiting on the shared upstream call.
        rec.overhead_ms = if meta.cache == "coalesced" {
            0.0
        } else {
            rec.total_ms
        };
        match failed {
            Some(g) => {
                rec.status = g.status;
                rec.error_class = Some(g.class.to_owned());
            }
            None => {
                rec.status = 200;
                rec.served_model.clone_from(&meta.model);
                rec.provider.clone_from(&meta.provider);
                rec.cost = Some(Usd::ZERO);
                rec.baseline_cost = saved;
            }
        }
        e.sink.record(rec);
    }

    fn free_json(&self, resp: &ChatResponse, meta: Meta, saved: Option<Usd>) -> ChatServed {
        let mut r = resp.clone();
        if let Some(u) = r.usage.take() {
            r.usage = Some(free_usage(u, saved, meta.cache));
        }
        self.record(&meta, saved, None);
        ChatServed::Json(Box::new(r), meta)
    }

    /// An answer from the store: JSON as stored, streams chunk by chunk as first sent.
    pub fn serve_entry(&self, e: &Entry, label: &'static str) -> ChatServed {
        let src = entry_meta(e);
        let meta = self.meta(src.model, src.provider, label);
        match &e.body {
            Body::Json { response } => self.free_json(response, meta, e.cost),
            Body::Stream { chunks, usage } => {
                self.record(&meta, e.cost, None);
                let mut items: Vec<OutItem> = chunks.iter().cloned().map(OutItem::Chunk).collect();
                if self.wants_usage {
                    if let Some(mut c) = usage_chunk(chunks, &e.model, usage.clone()) {
                        c.usage = c.usage.map(|u| free_usage(u, e.cost, label));
                        items.push(OutItem::Chunk(c));
                    }
                }
                ChatServed::Stream(OutStream::from_items(futures::stream::iter(items)), meta)
            }
        }
    }

    /// Serve from a flight. `leader`: this client's request is the one computing.
    pub async fn read_flight(
        self,
        f: Arc<Flight>,
        leader: bool,
    ) -> Result<ChatServed, GatewayError> {
        match f.head().await {
            Head::Failed { err, remote } => {
                if !leader || remote {
                    let meta = self.meta(None, None, "coalesced");
                    self.record(&meta, None, Some(&err));
                }
                Err(err)
            }
            Head::Json {
                resp,
                meta,
                remote,
                cost,
            } => {
                if leader && !remote {
                    return Ok(ChatServed::Json(Box::new((*resp).clone()), meta));
                }
                let m = self.meta(meta.model, meta.provider, "coalesced");
                Ok(self.free_json(&resp, m, cost))
            }
            Head::Stream { meta, remote } => {
                let own = leader && !remote;
                let out_meta = if own {
                    meta
                } else {
                    self.meta(meta.model, meta.provider, "coalesced")
                };
                let m2 = out_meta.clone();
                let s = async_stream::stream! {
                    let mut guard = RecordGuard { reader: Some((self, m2)), own };
                    let mut next = 0;
                    loop {
                        let (chunks, end) = f.next(next).await;
                        next += chunks.len();
                        for c in chunks {
                            yield OutItem::Chunk(c);
                        }
                        match end {
                            None => continue,
                            Some(End::Ok { usage_chunk, cost }) => {
                                if let Some((r, m)) = guard.reader.as_ref() {
                                    if r.wants_usage {
                                        if let Some(c) = usage_chunk.map(|c| free_chunk(c, own, cost, m.cache)) {
                                            yield OutItem::Chunk(c);
                                        }
                                    }
                                }
                                guard.finish(cost, None);
                                return;
                            }
                            Some(End::Err(g)) => {
                                guard.finish(None, Some(&g));
                                yield OutItem::Error(g);
                                return;
                            }
                        }
                    }
                };
                Ok(ChatServed::Stream(OutStream::from_items(s), out_meta))
            }
        }
    }
}

/// The leader's own usage chunk carries its real cost; anyone else's is free.
fn free_chunk(mut c: ChatChunk, own: bool, cost: Option<Usd>, label: &'static str) -> ChatChunk {
    if !own {
        c.usage = c.usage.map(|mut u| {
            u.cost = None;
            u.cost_details = None;
            free_usage(u, cost, label)
        });
    }
    c
}

/// A non-leader stream client's record, written at its end or, if it goes away first, with
/// status 499 (the shared upstream call goes on for the others).
struct RecordGuard {
    reader: Option<(ReaderCtx, Meta)>,
    own: bool,
}

impl RecordGuard {
    fn finish(&mut self, saved: Option<Usd>, err: Option<&GatewayError>) {
        if let Some((r, m)) = self.reader.take() {
            if !self.own {
                r.record(&m, saved, err);
            }
        }
    }
}

impl Drop for RecordGuard {
    fn drop(&mut self) {
        if let Some((r, m)) = self.reader.take() {
            if !self.own {
                let g = GatewayError::new(
                    499,
                    "api_error",
                    "client_closed",
                    "client closed the stream",
                );
                r.record(&m, None, Some(&g));
            }
        }
    }
}
