//! The cascade runner: tier by tier, hold the answer, gate it, accept or escalate. Every
//! attempt (rejected tiers, judge calls, the accepted tier) is billed in `usage.cost_details`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use switchyard_core::{
    AttemptRecord, ChatChunk, ChatRequest, ChatResponse, ErrorKind, Escalation, Message,
    ProviderError, RequestRecord, Role, StreamAccumulator, Usd,
};

use super::JudgeGate;
use super::gates::{Reject, parse_score};
use crate::controls::Controls;
use crate::cost::Bill;
use crate::error::GatewayError;
use crate::outstream::{OutStream, StreamSetup};
use crate::pipeline::{ChatServed, Meta, RequestCtx, attach_cost, fill_success, ms};
use crate::route::Plan;
use crate::runtime::Engine;

/// A non-last tier's answer, held in full: the response for the gates, and for streamed
/// requests the chunks to release if it is accepted.
struct Held {
    resp: ChatResponse,
    chunks: Option<Vec<ChatChunk>>,
}

/// Everything decided so far, carried from tier to tier.
struct Trail {
    attempts: Vec<AttemptRecord>,
    path: Vec<String>,
    /// Tiers not accepted so far, with the gate that turned each down.
    escalated: Vec<Escalation>,
    upstream: Duration,
}

impl Trail {
    fn escalate(&mut self, tier: &str, gate: &str) {
        self.escalated.push(Escalation {
            tier: tier.to_owned(),
            gate: gate.to_owned(),
        });
    }

    /// The record's escalation count and per-tier detail, from the same list so they agree.
    fn fill(&self, rec: &mut RequestRecord) {
        rec.escalations = u32::try_from(self.escalated.len()).unwrap_or(u32::MAX);
        rec.escalated.clone_from(&self.escalated);
    }
}

impl Engine {
    /// Serve a request on a cascade route (`plan.candidates` are the usable tiers, cheap first).
    pub async fn chat_cascade(
        self: &Arc<Self>,
        req: ChatRequest,
        rctx: RequestCtx,
        plan: Plan,
        deadline: Instant,
        mut rec: RequestRecord,
        wants_usage: bool,
    ) -> Result<ChatServed, GatewayError> {
        let gates = self
            .routes
            .get(&plan.route)
            .and_then(|r| r.cascade.clone())
            .unwrap_or_default();
        let mut trail = Trail {
            attempts: Vec::new(),
            path: Vec::new(),
            escalated: Vec::new(),
            upstream: Duration::ZERO,
        };
        let n = plan.candidates.len();
        for (pos, &idx) in plan.candidates.iter().enumerate() {
            if pos + 1 == n {
                trail.fill(&mut rec);
                return self
                    .cascade_last(req, rctx, plan, deadline, rec, wants_usage, idx, trail)
                    .await;
            }
            let m = &self.models[idx];
            let ask_lp = gates.confidence.is_some() && m.caps.logprobs;
            let mut treq = req.clone();
            if ask_lp {
                treq.logprobs = Some(true);
            }
            let held = self.hold_tier(&treq, idx, deadline, &rctx.request_id).await;
            let mut won = match held {
                Ok(w) => w,
                Err(e) => {
                    // A tier that fails outright escalates like a rejected one.
                    trail.attempts.extend(e.attempts);
                    trail.path.push(format!("{}(error)", m.name));
                    trail.escalate(&m.name, "error");
                    continue;
                }
            };
            trail.upstream += won.upstream_time;
            let cost = won.value.resp.usage.as_ref().and_then(|u| self.price(m, u));
            if let Some(last) = won.attempts.last_mut() {
                last.cost = cost;
            }
            let (conf, mut verdict) = gates.check_local(&req, &won.value.resp, &m.name, ask_lp);
            let mut judge_attempts = Vec::new();
            if verdict.is_ok() {
                if let Some(j) = &gates.judge {
                    let (atts, v) = self.judge(j, &req, &won.value.resp, deadline, &rctx).await;
                    judge_attempts = atts;
                    verdict = v;
                }
            }
            // Judge calls go before the tier's own record, so the tier's attempt stays last:
            // the bill prices the winner on the last attempt.
            let tier_att = won.attempts.pop();
            trail.attempts.extend(won.attempts);
            trail.attempts.extend(judge_attempts);
            match verdict {
                Ok(()) => {
                    trail.attempts.extend(tier_att);
                    let note = conf.map_or_else(String::new, |c| format!(" conf {c:.2}"));
                    trail.path.push(format!("{}(ok{note})", m.name));
                    trail.fill(&mut rec);
                    return Ok(self.cascade_accept(
                        &req,
                        rctx,
                        &plan,
                        rec,
                        wants_usage,
                        idx,
                        won.value,
                        trail,
                    ));
                }
                Err(Reject { gate, detail }) => {
                    if let Some(mut a) = tier_att {
                        a.outcome = format!("rejected:{gate}");
                        trail.attempts.push(a);
                    }
                    tracing::debug!(route = %plan.route, tier = %m.name, gate, %detail, "cascade escalates");
                    trail
                        .path
                        .push(format!("{}(rejected:{gate} {detail})", m.name));
                    trail.escalate(&m.name, gate);
                }
            }
        }
        // Unreachable with a non-empty plan; answered like an exhausted candidate list.
        let mut g = GatewayError::new(
            503,
            "api_error",
            "no_candidate",
            "No cascade tier could answer.",
        );
        trail.fill(&mut rec);
        g.attempts = trail.attempts;
        self.finish_failed(rec, &rctx, &g);
        Err(g)
    }

    /// Call one tier and keep the whole answer (for streams: every chunk) before deciding.
    async fn hold_tier(
        &self,
        req: &ChatRequest,
        idx: usize,
        deadline: Instant,
        request_id: &str,
    ) -> Result<crate::attempt::Won<Held>, GatewayError> {
        self.run_attempts(&[idx], deadline, request_id, |i, ctx| {
            let p = self.models[i].provider.clone();
            async move {
                if !req.stream {
                    let resp = p.chat(req, &ctx).await?;
                    return Ok(Held { resp, chunks: None });
                }
                let mut s = p.chat_stream(req, &ctx).await?;
                let mut acc = StreamAccumulator::new();
                let mut chunks = Vec::new();
                while let Some(c) = s.next().await {
                    let c = c?;
                    acc.push(&c);
                    chunks.push(c);
                }
                if !acc.is_finished() {
                    return Err(ProviderError::new(
                        ErrorKind::StreamInterrupted,
                        "upstream stream ended without a finish reason",
                    ));
                }
                Ok(Held {
                    resp: acc.finish(),
                    chunks: Some(chunks),
                })
            }
        })
        .await
    }

    /// Ask the judge model, through this engine's own routing and failover, to score the answer.
    async fn judge(
        &self,
        j: &JudgeGate,
        req: &ChatRequest,
        resp: &ChatResponse,
        deadline: Instant,
        rctx: &RequestCtx,
    ) -> (Vec<AttemptRecord>, Result<(), Reject>) {
        let question = req
            .messages
            .iter()
            .rev()
            .find(|m| m.role == Role::User)
            .map(Message::text_content)
            .unwrap_or_default();
        let answer = resp
            .choices
            .first()
            .and_then(|c| c.message.content.clone())
            .unwrap_or_default();
        let jreq = ChatRequest {
            model: j.model.clone(),
            messages: vec![
                Message::text(
                    Role::System,
                    format!(
                        "You grade answers. {} Reply with one integer from 1 (worst) to 10 (best) and nothing else.",
                        j.rubric
                    ),
                ),
                Message::text(
                    Role::User,
                    format!("Question:\n{question}\n\nAnswer:\n{answer}"),
                ),
            ],
            max_tokens: Some(8),
            temperature: Some(0.0),
            ..ChatRequest::default()
        };
        let controls = Controls {
            allow_fallbacks: true,
            ..Controls::default()
        };
        let reject = |d: String| {
            Err(Reject {
                gate: "judge",
                detail: d,
            })
        };
        let plan = match self.plan_for_request(&jreq, &controls) {
            Ok(p) => p,
            Err(e) => {
                return (
                    Vec::new(),
                    reject(format!("judge unavailable: {}", e.message)),
                );
            }
        };
        let jr = &jreq;
        let won = self
            .run_attempts(&plan.candidates, deadline, &rctx.request_id, |i, ctx| {
                let p = self.models[i].provider.clone();
                async move { p.chat(jr, &ctx).await }
            })
            .await;
        let mut won = match won {
            Ok(w) => w,
            // A judge that cannot answer cannot vouch for the answer: escalate.
            Err(e) => return (e.attempts, reject("judge call failed".to_owned())),
        };
        let jm = &self.models[won.model];
        let cost = won.value.usage.as_ref().and_then(|u| self.price(jm, u));
        let score = won
            .value
            .choices
            .first()
            .and_then(|c| c.message.content.as_deref())
            .and_then(parse_score);
        if let Some(a) = won.attempts.last_mut() {
            a.cost = cost;
            a.outcome = score.map_or_else(|| "judge:unparsed".to_owned(), |s| format!("judge:{s}"));
        }
        let verdict = match score {
            Some(s) if s >= j.min_score => Ok(()),
            Some(s) => reject(format!("{s} < {}", j.min_score)),
            None => reject("unparsed judge reply".to_owned()),
        };
        (won.attempts, verdict)
    }

    /// Release an accepted non-last tier: JSON as is, a stream from its held chunks.
    #[expect(
        clippy::too_many_arguments,
        reason = "one call site; a struct would only rename them"
    )]
    fn cascade_accept(
        self: &Arc<Self>,
        req: &ChatRequest,
        rctx: RequestCtx,
        plan: &Plan,
        mut rec: RequestRecord,
        wants_usage: bool,
        idx: usize,
        held: Held,
        mut trail: Trail,
    ) -> ChatServed {
        let m = &self.models[idx];
        let keep_lp = req.logprobs == Some(true);
        let reason = format!("{}: cascade {}", plan.route, trail.path.join(" > "));
        let overhead = rctx.started.elapsed().saturating_sub(trail.upstream);
        if let Some(mut chunks) = held.chunks {
            if !keep_lp {
                for c in &mut chunks {
                    c.choices.iter_mut().for_each(|ch| ch.logprobs = None);
                }
            }
            let meta = meta(&rctx, m, &trail.attempts, reason, None, overhead);
            let out = OutStream::new(StreamSetup {
                engine: self.clone(),
                model: idx,
                baseline: plan.baseline,
                held: chunks,
                rest: futures::stream::empty().boxed(),
                record: rec,
                attempts: trail.attempts,
                wants_usage,
                started: rctx.started,
                upstream_time: trail.upstream,
                prompt_tokens: plan.prompt_tokens,
            });
            return ChatServed::Stream(out, meta);
        }
        let mut resp = held.resp;
        if !keep_lp {
            resp.choices.iter_mut().for_each(|c| c.logprobs = None);
        }
        resp.model.clone_from(&m.name);
        let bill = self.bill(m, resp.usage.as_ref(), &mut trail.attempts, plan.baseline);
        self.finish_json(&mut resp, &mut rec, &rctx, m, &bill, &trail, overhead);
        let meta = meta(&rctx, m, &trail.attempts, reason, bill.total, overhead);
        ChatServed::Json(Box::new(resp), meta)
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "the pieces of one finished request"
    )]
    fn finish_json(
        &self,
        resp: &mut ChatResponse,
        rec: &mut RequestRecord,
        rctx: &RequestCtx,
        m: &crate::runtime::ModelRt,
        bill: &Bill,
        trail: &Trail,
        overhead: Duration,
    ) {
        if let Some(u) = resp.usage.as_mut() {
            attach_cost(u, bill, &trail.attempts);
        }
        fill_success(
            rec,
            m.name.clone(),
            m.provider_name.clone(),
            resp.usage.as_ref(),
            bill,
            trail.attempts.clone(),
        );
        rec.total_ms = ms(rctx.started.elapsed());
        rec.overhead_ms = ms(overhead);
        rec.status = 200;
        self.sink.record(rec.clone());
    }

    /// The strongest tier: accepted as is; a streamed request streams directly from it.
    #[expect(
        clippy::too_many_arguments,
        reason = "one call site; mirrors chat_json/chat_streamed"
    )]
    async fn cascade_last(
        self: &Arc<Self>,
        req: ChatRequest,
        rctx: RequestCtx,
        plan: Plan,
        deadline: Instant,
        rec: RequestRecord,
        wants_usage: bool,
        idx: usize,
        mut trail: Trail,
    ) -> Result<ChatServed, GatewayError> {
        let m = &self.models[idx];
        trail.path.push(format!("{}(final)", m.name));
        let reason = format!("{}: cascade {}", plan.route, trail.path.join(" > "));
        let req_ref = &req;
        if req.stream {
            let won = self
                .run_attempts(&[idx], deadline, &rctx.request_id, |i, ctx| {
                    let p = self.models[i].provider.clone();
                    async move { crate::outstream::open_held(p.as_ref(), req_ref, &ctx).await }
                })
                .await;
            let won = match won {
                Ok(w) => w,
                Err(mut e) => {
                    trail.attempts.append(&mut e.attempts);
                    e.attempts = trail.attempts;
                    self.finish_failed(rec, &rctx, &e);
                    return Err(e);
                }
            };
            trail.attempts.extend(won.attempts);
            trail.upstream += won.upstream_time;
            let overhead = rctx.started.elapsed().saturating_sub(trail.upstream);
            let meta = meta(&rctx, m, &trail.attempts, reason, None, overhead);
            let (held, rest) = won.value;
            let out = OutStream::new(StreamSetup {
                engine: self.clone(),
                model: idx,
                baseline: plan.baseline,
                held,
                rest,
                record: rec,
                attempts: trail.attempts,
                wants_usage,
                started: rctx.started,
                upstream_time: trail.upstream,
                prompt_tokens: plan.prompt_tokens,
            });
            return Ok(ChatServed::Stream(out, meta));
        }
        let won = self
            .run_attempts(&[idx], deadline, &rctx.request_id, |i, ctx| {
                let p = self.models[i].provider.clone();
                async move { p.chat(req_ref, &ctx).await }
            })
            .await;
        let won = match won {
            Ok(w) => w,
            Err(mut e) => {
                trail.attempts.append(&mut e.attempts);
                e.attempts = trail.attempts;
                self.finish_failed(rec, &rctx, &e);
                return Err(e);
            }
        };
        trail.attempts.extend(won.attempts);
        trail.upstream += won.upstream_time;
        let mut rec = rec;
        let mut resp = won.value;
        resp.model.clone_from(&m.name);
        let bill = self.bill(m, resp.usage.as_ref(), &mut trail.attempts, plan.baseline);
        let overhead = rctx.started.elapsed().saturating_sub(trail.upstream);
        self.finish_json(&mut resp, &mut rec, &rctx, m, &bill, &trail, overhead);
        let meta = meta(&rctx, m, &trail.attempts, reason, bill.total, overhead);
        Ok(ChatServed::Json(Box::new(resp), meta))
    }
}

fn meta(
    rctx: &RequestCtx,
    m: &crate::runtime::ModelRt,
    attempts: &[AttemptRecord],
    route: String,
    cost: Option<Usd>,
    overhead: Duration,
) -> Meta {
    Meta {
        request_id: rctx.request_id.clone(),
        model: Some(m.name.clone()),
        provider: Some(m.provider_name.clone()),
        attempts: attempts.to_vec(),
        route,
        cost,
        cache: "miss",
        overhead_ms: ms(overhead),
    }
}
