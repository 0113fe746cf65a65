//! The cached request path: bypass, lookup (exact, then near-duplicate), coalesce, compute
//! once in a task of its own, store, and serve every client; plus the zero-cost accounting of
//! answers nobody paid for this time (`usage.cost = 0`, `cost_details.saved` = what the
//! original answer cost, which is also the record's `baseline_cost`).

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use serde_json::json;
use switchyard_core::{
    ChatChunk, ChatRequest, CostDetails, EmbeddingCost, StreamOptions, Usage, Usd,
};

use super::CacheCounters as C;
use super::flight::{End, Flight, FlightGuard, Head, Join};
use super::key::{self, KeyHash};
use super::reader::ReaderCtx;
use super::redis::{LEASE, Lease, Outcome, RedisState};
use super::semantic::{self, EMBED_MODEL, Probe};
use super::store::{Body, Entry, Store};
use crate::controls::CacheControl;
use crate::error::GatewayError;
use crate::outstream::OutItem;
use crate::pipeline::{ChatServed, Meta, RequestCtx};
use crate::runtime::Engine;

/// How often a waiter on another replica's flight looks for its outcome.
const REMOTE_POLL: Duration = Duration::from_millis(15);

pub(crate) async fn chat(
    engine: &Arc<Engine>,
    mut req: ChatRequest,
    rctx: RequestCtx,
) -> Result<ChatServed, GatewayError> {
    let cache = &engine.cache;
    let counters = &cache.hub.counters;
    let resolved = engine
        .aliases
        .get(&req.model)
        .cloned()
        .unwrap_or_else(|| req.model.clone());
    let policy = cache.config.policy(&resolved);
    let cacheable = key::deterministic(&req) || policy.nondeterministic;
    let cc = rctx.controls.cache;
    if !(policy.enabled || policy.coalesce) || !cacheable || cc == CacheControl::Bypass {
        C::inc(&counters.bypass);
        // Not boxed: the uncached pipeline boxes its runners, so its own future is small.
        return match engine.chat_uncached(req, rctx, "bypass").await? {
            ChatServed::Json(r, mut m) => {
                m.cache = "bypass";
                Ok(ChatServed::Json(r, m))
            }
            ChatServed::Stream(s, mut m) => {
                m.cache = "bypass";
                Ok(ChatServed::Stream(s, m))
            }
        };
    }
    let ns = key::namespace(&rctx.tenant, &rctx.controls);
    let refresh = cc == CacheControl::Refresh;
    let semantic_on = policy.enabled && policy.semantic && !refresh;
    let norm = key::normalize(&mut req, &resolved, ns, &rctx.controls, semantic_on);
    let max_age = match cc {
        CacheControl::MaxAge(n) => Some(n),
        _ => None,
    };
    let ctx = ReaderCtx {
        engine: engine.clone(),
        requested: req.model.clone(),
        resolved,
        stream: req.stream,
        wants_usage: req.include_usage(),
        rctx: rctx.clone(),
    };
    let mut probe = None;
    if policy.enabled && !refresh {
        let now = now_ms();
        if let Some(e) = cache.store.get(&norm.exact).await {
            if fresh(&e, max_age, now) && e.is_stream() == req.stream {
                C::inc(&counters.hits);
                return Ok(ctx.serve_entry(&e, "hit"));
            }
        }
        if let Some((partition, q)) = &norm.semantic {
            let p = Arc::new(Probe::new(q));
            C::inc(&counters.embeddings);
            let found = cache.hub.semantic.lookup(
                partition,
                &p,
                &semantic::matcher(policy.semantic_threshold),
            );
            if let Some(s) = found.best_similarity {
                cache.hub.observe_similarity(s);
            }
            if let Some(exact) = found.hit {
                match cache.store.get(&exact).await {
                    Some(e) if fresh(&e, max_age, now) && e.is_stream() == req.stream => {
                        C::inc(&counters.semantic_hits);
                        return Ok(ctx.serve_entry(&e, "semantic-hit"));
                    }
                    _ => cache.hub.semantic.forget(partition, &exact),
                }
            }
            probe = Some((*partition, p));
        }
    }
    let job = Job {
        engine: engine.clone(),
        exact: norm.exact,
        probe,
        ttl: max_age.map_or(policy.ttl, Duration::from_secs),
        store_it: policy.enabled,
    };
    // `no-cache` asks for a fresh answer: it neither reads the cache nor joins a flight.
    let (flight, guard) = if policy.coalesce && !refresh {
        match cache.hub.flights.join(norm.exact) {
            Join::Waiter(f) => {
                C::inc(&counters.coalesced);
                return ctx.read_flight(f, false).await;
            }
            Join::Leader(f, g) => (f, Some(g)),
        }
    } else {
        (Flight::new(), None)
    };
    C::inc(&counters.misses);
    let cross_replica = guard.is_some();
    tokio::spawn(lead(job, flight.clone(), guard, req, rctx, cross_replica));
    ctx.read_flight(flight, true).await
}

struct Job {
    engine: Arc<Engine>,
    exact: KeyHash,
    /// The semantic partition and the question, when this answer goes into that index too.
    probe: Option<(KeyHash, Arc<Probe>)>,
    ttl: Duration,
    store_it: bool,
}

/// The leader's task: take the cross-replica lease (or wait for its holder), compute, store,
/// publish. Runs to the end even when every client has gone, so the answer is not wasted.
async fn lead(
    job: Job,
    flight: Arc<Flight>,
    guard: Option<FlightGuard>,
    req: ChatRequest,
    rctx: RequestCtx,
    cross_replica: bool,
) {
    let redis = match (&*job.engine.cache.store, cross_replica) {
        (Store::Redis(r), true) => Some(r.clone()),
        _ => None,
    };
    if let Some(r) = redis {
        let hash = key::hex(&job.exact);
        loop {
            match r.lease(&hash).await {
                None => break,
                Some(Lease::Acquired(fid)) => {
                    let renew = tokio::spawn(renew_lease(r.clone(), hash.clone()));
                    let res = compute(&job, &flight, req, rctx).await;
                    renew.abort();
                    let outcome = match res {
                        Ok(entry) => Outcome::Ok {
                            flight: fid,
                            entry: Box::new(entry),
                        },
                        Err(e) => Outcome::Error {
                            flight: fid,
                            status: e.status,
                            message: e.message,
                            code: e.code,
                        },
                    };
                    r.finish(&hash, &outcome).await;
                    drop(guard);
                    return;
                }
                Some(Lease::Held(fid)) => {
                    C::inc(&job.engine.cache.hub.counters.remote_waits);
                    if let Some(o) = wait_remote(&r, &hash, &fid).await {
                        publish_outcome(&flight, o);
                        drop(guard);
                        return;
                    }
                    // The holder died without an outcome: try to take the lease over.
                }
            }
        }
    }
    let _ = compute(&job, &flight, req, rctx).await;
    drop(guard);
}

async fn renew_lease(r: Arc<RedisState>, hash: String) {
    loop {
        tokio::time::sleep(LEASE / 3).await;
        r.renew(&hash).await;
    }
}

/// Wait for the flight `fid`'s outcome; None when its lease went away without one.
async fn wait_remote(r: &RedisState, hash: &str, fid: &str) -> Option<Outcome> {
    loop {
        tokio::time::sleep(REMOTE_POLL).await;
        if let Some(o) = r.outcome(hash).await.filter(|o| o.flight() == fid) {
            return Some(o);
        }
        if r.holder(hash).await.as_deref() != Some(fid) {
            // The owner writes the outcome before dropping the lease: look once more.
            return r.outcome(hash).await.filter(|o| o.flight() == fid);
        }
    }
}

fn publish_outcome(flight: &Flight, o: Outcome) {
    match o {
        Outcome::Ok { entry, .. } => publish_entry(flight, &entry),
        Outcome::Error {
            status,
            message,
            code,
            ..
        } => {
            let (kind, class) = match status {
                429 => ("rate_limit_error", "rate_limited"),
                408 | 504 => ("timeout_error", "timeout"),
                400..=499 => ("invalid_request_error", "invalid_request"),
                _ => ("api_error", "upstream_error"),
            };
            let mut g = GatewayError::new(status, kind, class, message);
            g.code = code;
            flight.set_head(Head::Failed {
                err: g,
                remote: true,
            });
        }
    }
}

/// Replay an answer computed elsewhere into a local flight.
fn publish_entry(flight: &Flight, e: &Entry) {
    let meta = entry_meta(e);
    match &e.body {
        Body::Json { response } => flight.set_head(Head::Json {
            resp: Arc::new(response.clone()),
            meta,
            remote: true,
            cost: e.cost,
        }),
        Body::Stream { chunks, usage } => {
            flight.set_head(Head::Stream { meta, remote: true });
            for c in chunks {
                flight.push(c.clone());
            }
            flight.end(End::Ok {
                usage_chunk: usage_chunk(chunks, &e.model, usage.clone()),
                cost: e.cost,
            });
        }
    }
}

/// Run the request upstream once, feeding the flight as it goes; store the answer on success.
async fn compute(
    job: &Job,
    flight: &Flight,
    mut req: ChatRequest,
    rctx: RequestCtx,
) -> Result<Entry, GatewayError> {
    let engine = &job.engine;
    if req.stream {
        // The flight keeps the usage for the waiters whatever this client asked for.
        let opts = req
            .stream_options
            .get_or_insert_with(StreamOptions::default);
        opts.include_usage = Some(true);
    }
    let served = match engine.chat_uncached(req, rctx, "miss").await {
        Ok(s) => s,
        Err(e) => {
            flight.set_head(Head::Failed {
                err: e.clone(),
                remote: false,
            });
            return Err(e);
        }
    };
    match served {
        ChatServed::Json(resp, meta) => {
            let cost = original_cost(engine, &meta, resp.usage.as_ref());
            let entry = new_entry(
                job,
                &meta,
                cost,
                Body::Json {
                    response: (*resp).clone(),
                },
            );
            store(job, &entry).await;
            flight.set_head(Head::Json {
                resp: Arc::from(resp),
                meta,
                remote: false,
                cost,
            });
            Ok(entry)
        }
        ChatServed::Stream(mut out, meta) => {
            flight.set_head(Head::Stream {
                meta: meta.clone(),
                remote: false,
            });
            let mut chunks = Vec::new();
            let mut usage_chunk = None;
            while let Some(item) = out.next().await {
                match item {
                    OutItem::Chunk(c) if c.choices.is_empty() && c.usage.is_some() => {
                        usage_chunk = Some(c);
                    }
                    OutItem::Chunk(c) => {
                        chunks.push(c.clone());
                        flight.push(c);
                    }
                    OutItem::Error(g) => {
                        flight.end(End::Err(g.clone()));
                        return Err(g);
                    }
                }
            }
            let usage = usage_chunk
                .as_ref()
                .and_then(|c| c.usage.clone())
                .map(|mut u| {
                    u.cost = None;
                    u.cost_details = None;
                    u
                });
            let cost = original_cost(engine, &meta, usage.as_ref());
            let entry = new_entry(job, &meta, cost, Body::Stream { chunks, usage });
            store(job, &entry).await;
            flight.end(End::Ok { usage_chunk, cost });
            Ok(entry)
        }
    }
}

fn new_entry(job: &Job, meta: &Meta, cost: Option<Usd>, body: Body) -> Entry {
    Entry {
        stored_ms: now_ms(),
        ttl_ms: u64::try_from(job.ttl.as_millis()).unwrap_or(u64::MAX),
        model: meta.model.clone().unwrap_or_default(),
        provider: meta.provider.clone().unwrap_or_default(),
        cost,
        body,
    }
}

async fn store(job: &Job, entry: &Entry) {
    if !job.store_it {
        return;
    }
    job.engine
        .cache
        .store
        .put(job.exact, Arc::new(entry.clone()))
        .await;
    if let Some((partition, p)) = &job.probe {
        job.engine
            .cache
            .hub
            .semantic
            .insert(*partition, p.clone(), job.exact);
    }
}

/// What producing this answer costs: the winning model's price on its usage.
fn original_cost(engine: &Engine, meta: &Meta, usage: Option<&Usage>) -> Option<Usd> {
    let m = engine.model(meta.model.as_deref()?)?;
    engine.price(m, usage?)
}

fn fresh(e: &Entry, max_age: Option<u64>, now: i64) -> bool {
    max_age
        .is_none_or(|a| e.age_ms(now) <= i64::try_from(a.saturating_mul(1000)).unwrap_or(i64::MAX))
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(0))
}

pub(super) fn entry_meta(e: &Entry) -> Meta {
    Meta {
        model: Some(e.model.clone()),
        provider: Some(e.provider.clone()),
        ..Meta::default()
    }
}

pub(super) fn usage_chunk(
    chunks: &[ChatChunk],
    model: &str,
    usage: Option<Usage>,
) -> Option<ChatChunk> {
    let first = chunks.first()?;
    let mut c = ChatChunk::new(&first.id, first.created, model);
    c.usage = Some(usage?);
    Some(c)
}

/// Usage the client sees on an answer nobody paid for this time.
pub(super) fn free_usage(mut u: Usage, saved: Option<Usd>, label: &'static str) -> Usage {
    u.cost = Some(json!(0.0));
    let saved = saved.map(Usd::to_f64);
    u.cost_details = Some(Box::new(CostDetails {
        attempts: Vec::new(),
        baseline: saved,
        cache: Some(label.to_owned()),
        // The local embedding model has no price; the call is recorded all the same.
        embedding: (label == "semantic-hit").then(|| EmbeddingCost {
            cost: 0.0,
            model: EMBED_MODEL.to_owned(),
        }),
        saved,
    }));
    u
}

impl Entry {
    pub(super) fn is_stream(&self) -> bool {
        matches!(self.body, Body::Stream { .. })
    }
}
