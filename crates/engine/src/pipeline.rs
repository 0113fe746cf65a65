//! The request path, one function per endpoint: plan -> attempts -> bill -> record.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use switchyard_core::{
    AttemptRecord, ChatRequest, ChatResponse, CostDetails, EmbedRequest, EmbedResponse,
    RequestRecord, TokenCounts, Usage, Usd,
};

use crate::attempt::AttemptSpec;
use crate::controls::Controls;
use crate::error::GatewayError;
use crate::outstream::{OutStream, StreamSetup};
use crate::route::Plan;
use crate::runtime::Engine;

/// Who is asking and when; built by the server per request.
#[derive(Debug, Clone)]
pub struct RequestCtx {
    pub request_id: String,
    pub tenant: String,
    pub started: Instant,
    /// Unix milliseconds at arrival.
    pub ts_ms: i64,
    pub controls: Controls,
}

/// What the server puts in response headers.
#[derive(Debug, Clone, Default)]
pub struct Meta {
    pub request_id: String,
    pub model: Option<String>,
    pub provider: Option<String>,
    pub attempts: Vec<AttemptRecord>,
    pub route: String,
    /// Known for JSON answers; for streams the cost arrives in the final usage chunk.
    pub cost: Option<Usd>,
    pub cache: &'static str,
    pub overhead_ms: f64,
}

impl Meta {
    /// `deepseek/deepseek-chat:429,openai/gpt-4o-mini:ok`; a cache hit made no attempt and
    /// says where the answer came from instead: `cache:hit`, `cache:semantic-hit`, or
    /// `cache:coalesced` for a request that shared another's in-flight call; never empty.
    pub fn attempts_header(&self) -> String {
        if self.attempts.is_empty() && !matches!(self.cache, "" | "miss" | "bypass") {
            return format!("cache:{}", self.cache);
        }
        attempts_header(&self.attempts)
    }
}

pub fn attempts_header(attempts: &[AttemptRecord]) -> String {
    let mut s = String::new();
    for (i, a) in attempts.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&a.model);
        s.push(':');
        s.push_str(&a.outcome);
    }
    s
}

pub enum ChatServed {
    Json(Box<ChatResponse>, Meta),
    Stream(OutStream, Meta),
}

pub struct EmbedServed {
    pub body: EmbedResponse,
    pub meta: Meta,
}

impl Engine {
    fn deadline_for(&self, plan: &Plan, controls: &Controls, started: Instant) -> Instant {
        let route_budget = self.routes.get(&plan.route).and_then(|r| r.latency_budget);
        started
            + controls
                .latency_budget
                .or(route_budget)
                .unwrap_or(self.config.server.request_timeout)
    }

    pub(crate) fn base_record(
        &self,
        rctx: &RequestCtx,
        endpoint: &str,
        requested: &str,
        route: &str,
        stream: bool,
    ) -> RequestRecord {
        RequestRecord {
            request_id: rctx.request_id.clone(),
            ts_ms: rctx.ts_ms,
            tenant: rctx.tenant.clone(),
            endpoint: endpoint.to_owned(),
            route: route.to_owned(),
            task: rctx.controls.task.clone(),
            requested_model: requested.to_owned(),
            stream,
            cache: "miss".to_owned(),
            ..RequestRecord::default()
        }
    }

    /// Log a request that failed before or during routing, so nothing goes unaccounted.
    pub fn record_rejected(
        &self,
        rctx: &RequestCtx,
        endpoint: &str,
        requested: &str,
        err: &GatewayError,
    ) {
        let mut rec = self.base_record(rctx, endpoint, requested, "", false);
        rec.attempts.clone_from(&err.attempts);
        rec.status = err.status;
        rec.error_class = Some(err.class.to_owned());
        rec.total_ms = ms(rctx.started.elapsed());
        rec.overhead_ms = rec.total_ms - rec.attempts.iter().map(|a| a.latency_ms).sum::<f64>();
        rec.cost = Some(rec.attempts.iter().filter_map(|a| a.cost).sum());
        self.sink.record(rec);
    }

    /// Chat, through the response cache and request coalescing (`crate::cache`).
    pub async fn chat(
        self: &Arc<Self>,
        req: ChatRequest,
        rctx: RequestCtx,
    ) -> Result<ChatServed, GatewayError> {
        crate::cache::chat(self, req, rctx).await
    }

    /// Chat straight to the providers; `cache_label` goes into the record (`miss`, `bypass`).
    pub(crate) async fn chat_uncached(
        self: &Arc<Self>,
        mut req: ChatRequest,
        rctx: RequestCtx,
        cache_label: &'static str,
    ) -> Result<ChatServed, GatewayError> {
        let mut plan = match self.plan_for_request(&req, &rctx.controls) {
            Ok(p) => p,
            Err(e) => {
                self.record_rejected(&rctx, "chat", &req.model, &e);
                return Err(e);
            }
        };
        self.apply_prompt_router(&req, &rctx.controls, &mut plan);
        let deadline = self.deadline_for(&plan, &rctx.controls, rctx.started);
        let mut rec = self.base_record(&rctx, "chat", &req.model, &plan.route, req.stream);
        rec.cache = cache_label.to_owned();
        let wants_usage = req.include_usage();
        req.strip_gateway_fields();
        if plan.strategy == "cascade" {
            // Boxed: the cascade runner's future is the largest here, and only cascade routes
            // should carry it (every other request paid a copy of it).
            return Box::pin(self.chat_cascade(req, rctx, plan, deadline, rec, wants_usage)).await;
        }
        // Boxed, both: a future is moved whole (every byte of its largest state) each time it is
        // created and handed up, so inlined, every request copied both runners' states into
        // this one and this one into its caller's box (about 30 KB of memcpy per request).
        if req.stream {
            Box::pin(self.chat_streamed(req, rctx, plan, deadline, rec, wants_usage)).await
        } else {
            Box::pin(self.chat_json(req, rctx, plan, deadline, rec)).await
        }
    }

    async fn chat_json(
        self: &Arc<Self>,
        req: ChatRequest,
        rctx: RequestCtx,
        plan: Plan,
        deadline: Instant,
        mut rec: RequestRecord,
    ) -> Result<ChatServed, GatewayError> {
        let req_ref = &req;
        let won = self
            .run_spec(
                &AttemptSpec::of(&plan, deadline, &rctx.request_id, false),
                |idx, ctx| {
                    let p = self.models[idx].provider.clone();
                    async move { p.chat(req_ref, &ctx).await }
                },
            )
            .await;
        let mut won = match won {
            Ok(w) => w,
            Err(e) => {
                self.finish_failed(rec, &rctx, &e);
                return Err(e);
            }
        };
        self.note_latency(won.model, &won.attempts, crate::latency::Series::Complete);
        let m = &self.models[won.model];
        let mut resp = won.value;
        let bill = self.bill(m, resp.usage.as_ref(), &mut won.attempts, plan.baseline);
        resp.model.clone_from(&m.name);
        if let Some(u) = resp.usage.as_mut() {
            attach_cost(u, &bill, &won.attempts);
        }
        let overhead = rctx.started.elapsed().saturating_sub(won.upstream_time);
        fill_success(
            &mut rec,
            m.name.clone(),
            m.provider_name.clone(),
            resp.usage.as_ref(),
            &bill,
            won.attempts.clone(),
        );
        rec.total_ms = ms(rctx.started.elapsed());
        rec.overhead_ms = ms(overhead);
        rec.status = 200;
        self.sink.record(rec);
        let meta = Meta {
            request_id: rctx.request_id,
            model: Some(m.name.clone()),
            provider: Some(m.provider_name.clone()),
            attempts: won.attempts,
            route: plan.reason,
            cost: bill.total,
            cache: "miss",
            overhead_ms: ms(overhead),
        };
        Ok(ChatServed::Json(Box::new(resp), meta))
    }

    async fn chat_streamed(
        self: &Arc<Self>,
        req: ChatRequest,
        rctx: RequestCtx,
        plan: Plan,
        deadline: Instant,
        rec: RequestRecord,
        wants_usage: bool,
    ) -> Result<ChatServed, GatewayError> {
        let req_ref = &req;
        // Failover stays invisible until the first content chunk: hold what arrives before it.
        let won = self
            .run_spec(
                &AttemptSpec::of(&plan, deadline, &rctx.request_id, true),
                |idx, ctx| {
                    let p = self.models[idx].provider.clone();
                    async move { crate::outstream::open_held(p.as_ref(), req_ref, &ctx).await }
                },
            )
            .await;
        let won = match won {
            Ok(w) => w,
            Err(e) => {
                self.finish_failed(rec, &rctx, &e);
                return Err(e);
            }
        };
        self.note_latency(won.model, &won.attempts, crate::latency::Series::FirstToken);
        let m = &self.models[won.model];
        let overhead = rctx.started.elapsed().saturating_sub(won.upstream_time);
        let (held, rest) = won.value;
        let meta = Meta {
            request_id: rctx.request_id.clone(),
            model: Some(m.name.clone()),
            provider: Some(m.provider_name.clone()),
            attempts: won.attempts.clone(),
            route: plan.reason.clone(),
            cost: None,
            cache: "miss",
            overhead_ms: ms(overhead),
        };
        let out = OutStream::serving(
            StreamSetup {
                engine: self.clone(),
                model: won.model,
                baseline: plan.baseline,
                held,
                rest,
                record: rec,
                attempts: won.attempts,
                wants_usage,
                started: rctx.started,
                upstream_time: won.upstream_time,
                prompt_tokens: plan.prompt_tokens,
            },
            Some(won.deployment),
        );
        Ok(ChatServed::Stream(out, meta))
    }

    pub(crate) fn finish_failed(
        &self,
        mut rec: RequestRecord,
        rctx: &RequestCtx,
        e: &GatewayError,
    ) {
        rec.attempts.clone_from(&e.attempts);
        rec.status = e.status;
        rec.error_class = Some(e.class.to_owned());
        rec.total_ms = ms(rctx.started.elapsed());
        rec.overhead_ms =
            (rec.total_ms - rec.attempts.iter().map(|a| a.latency_ms).sum::<f64>()).max(0.0);
        rec.cost = rec
            .attempts
            .iter()
            .try_fold(Usd::ZERO, |acc, a| Some(acc + a.cost?));
        self.sink.record(rec);
    }

    pub async fn embed(
        self: &Arc<Self>,
        req: EmbedRequest,
        rctx: RequestCtx,
    ) -> Result<EmbedServed, GatewayError> {
        let requested = req.model.clone();
        let plan = match self.plan_embeddings(&requested) {
            Ok(p) => p,
            Err(e) => {
                self.record_rejected(&rctx, "embeddings", &requested, &e);
                return Err(e);
            }
        };
        let deadline = rctx.started
            + rctx
                .controls
                .latency_budget
                .unwrap_or(self.config.server.request_timeout);
        let mut rec = self.base_record(&rctx, "embeddings", &requested, &plan.0, false);
        let req_ref = &req;
        let won = self
            .run_attempts(&plan.1, deadline, &rctx.request_id, |idx, ctx| {
                let p = self.models[idx].provider.clone();
                async move { p.embed(req_ref, &ctx).await }
            })
            .await;
        let mut won = match won {
            Ok(w) => w,
            Err(e) => {
                self.finish_failed(rec, &rctx, &e);
                return Err(e);
            }
        };
        let m = &self.models[won.model];
        let mut body = won.value;
        body.model.clone_from(&m.name);
        let usage = Usage {
            prompt_tokens: body.usage.prompt_tokens,
            total_tokens: body.usage.prompt_tokens,
            ..Usage::default()
        };
        let bill = self.bill(m, Some(&usage), &mut won.attempts, None);
        // The body carries the same cost as the header and the record (SPEC: every response).
        (body.usage.cost, body.usage.cost_details) = cost_fields(&bill, &won.attempts);
        // One place for every provider kind: upstreams without base64 answer in floats.
        body.encode_as_requested(req.encoding_format.as_deref());
        let overhead = rctx.started.elapsed().saturating_sub(won.upstream_time);
        fill_success(
            &mut rec,
            m.name.clone(),
            m.provider_name.clone(),
            Some(&usage),
            &bill,
            won.attempts.clone(),
        );
        rec.total_ms = ms(rctx.started.elapsed());
        rec.overhead_ms = ms(overhead);
        rec.status = 200;
        self.sink.record(rec);
        Ok(EmbedServed {
            body,
            meta: Meta {
                request_id: rctx.request_id,
                model: Some(m.name.clone()),
                provider: Some(m.provider_name.clone()),
                attempts: won.attempts,
                route: format!("{}: embeddings", plan.0),
                cost: bill.total,
                cache: "bypass",
                overhead_ms: ms(overhead),
            },
        })
    }

    fn plan_embeddings(&self, name: &str) -> Result<(String, Vec<usize>), GatewayError> {
        let target = self.aliases.get(name).map_or(name, String::as_str);
        let list = if let Some(r) = self.routes.get(target) {
            r.candidates.clone()
        } else if let Some(&i) = self.model_index.get(target) {
            vec![i]
        } else {
            return Err(GatewayError::unknown_model(name));
        };
        let list: Vec<usize> = list
            .into_iter()
            .filter(|&i| self.models[i].embedding)
            .collect();
        if list.is_empty() {
            return Err(GatewayError::bad_request(format!("`{name}` is not an embedding model; GET /v1/models lists the embedding models (mode \"embedding\")")).with_param("model"));
        }
        Ok((target.to_owned(), list))
    }
}

/// Put `cost` and `cost_details` into a usage object the client will see.
pub(crate) fn attach_cost(u: &mut Usage, bill: &crate::cost::Bill, attempts: &[AttemptRecord]) {
    (u.cost, u.cost_details) = cost_fields(bill, attempts);
}

/// `usage.cost` (null when a price is unknown) and `usage.cost_details`, for chat and
/// embeddings alike.
fn cost_fields(
    bill: &crate::cost::Bill,
    attempts: &[AttemptRecord],
) -> (Option<serde_json::Value>, Option<Box<CostDetails>>) {
    (
        Some(
            bill.total
                .map_or(serde_json::Value::Null, |c| json!(c.to_f64())),
        ),
        Some(Box::new(bill.details(attempts))),
    )
}

pub(crate) fn fill_success(
    rec: &mut RequestRecord,
    model: String,
    provider: String,
    usage: Option<&Usage>,
    bill: &crate::cost::Bill,
    attempts: Vec<AttemptRecord>,
) {
    rec.served_model = Some(model);
    rec.provider = Some(provider);
    if let Some(u) = usage {
        rec.tokens = TokenCounts {
            input: u.uncached_input_tokens(),
            cached_input: u.cached_tokens(),
            cache_write: u.cache_write_tokens(),
            output: u.completion_tokens,
            reasoning: u.reasoning_tokens(),
        };
    }
    rec.cost = bill.total;
    rec.baseline_cost = bill.baseline;
    rec.attempts = attempts;
}

pub(crate) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
