//! Token counting without generating (`POST /v1/messages/count_tokens`): how many prompt
//! tokens a request would be billed by the model it would be routed to. Clients that manage a
//! context window call it often (Claude Code on start and before compacting), and trust the
//! number: a gateway that answers 0 when it cannot count stops their compaction for good, so
//! this never answers a made-up figure. The count comes from the upstream's own counting
//! endpoint where its API has one (free at Anthropic), else from the local tokenizer (exact
//! for OpenAI families with `[pricing] token_count = "exact"`), else from the estimate routing
//! uses; `method` says which. A failed upstream count falls back to the local one and never
//! touches health: the counting endpoint's outages are not the model's.

use std::sync::Arc;
use std::time::{Duration, Instant};

use switchyard_core::{CallCtx, ChatRequest, Usd};

use crate::error::GatewayError;
use crate::pipeline::{RequestCtx, ms};
use crate::route::RouteCtx;
use crate::runtime::Engine;

/// The longest an upstream count may take before the local count answers instead.
const UPSTREAM_COUNT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct TokenCount {
    pub input_tokens: u64,
    /// The model the request would be routed to, whose tokenizer counted.
    pub model: String,
    pub provider: String,
    /// `upstream` (the provider's counting endpoint), `exact` (the model family's tokenizer)
    /// or `estimate` (characters / 4, as routing estimates).
    pub method: &'static str,
    pub route: String,
}

impl Engine {
    pub async fn count_tokens(
        self: &Arc<Self>,
        req: ChatRequest,
        rctx: RequestCtx,
    ) -> Result<TokenCount, GatewayError> {
        let d = self
            .decide_with(&req, &rctx.controls, &RouteCtx::for_request(&req))
            .and_then(|d| match d.ranked.first() {
                Some(s) => Ok((s.idx, d)),
                None => Err(self.no_candidate_error(&req.model, &d)),
            });
        let (idx, d) = match d {
            Ok(x) => x,
            Err(e) => {
                self.record_rejected(&rctx, "count_tokens", &req.model, &e);
                return Err(e);
            }
        };
        let m = &self.models[idx];
        let mut upstream_time = Duration::ZERO;
        let upstream = match m.keys.pick(&m.upstream) {
            Ok(key) => {
                let budget = rctx
                    .controls
                    .latency_budget
                    .unwrap_or(UPSTREAM_COUNT_TIMEOUT)
                    .min(UPSTREAM_COUNT_TIMEOUT);
                let mut ctx = CallCtx::new(m.upstream.clone());
                ctx.api_key = key.map(|(_, k)| k);
                ctx.deadline = Some(Instant::now() + budget);
                ctx.request_id.clone_from(&rctx.request_id);
                let t0 = Instant::now();
                let r = m.provider.count_tokens(&req, &ctx).await;
                upstream_time = t0.elapsed();
                match r {
                    Ok(n) => n,
                    Err(e) => {
                        tracing::warn!(
                            model = %m.name,
                            error = %e,
                            "upstream token count failed; counting locally"
                        );
                        None
                    }
                }
            }
            Err(_) => None,
        };
        let (input_tokens, method) = match upstream {
            Some(n) => (n, "upstream"),
            None => {
                let exact = m.encoding.and_then(|e| d.exact_tokens[e.index()]);
                match exact {
                    Some(n) => (n, "exact"),
                    None => (d.prompt_tokens, "estimate"),
                }
            }
        };
        let mut rec = self.base_record(&rctx, "count_tokens", &req.model, &d.route, false);
        rec.served_model = Some(m.name.clone());
        rec.provider = Some(m.provider_name.clone());
        rec.cache = "bypass".to_owned();
        rec.cost = Some(Usd::ZERO);
        rec.status = 200;
        rec.total_ms = ms(rctx.started.elapsed());
        rec.overhead_ms = rec.total_ms - ms(upstream_time);
        self.sink.record(rec);
        Ok(TokenCount {
            input_tokens,
            model: m.name.clone(),
            provider: m.provider_name.clone(),
            method,
            route: d.route,
        })
    }
}
