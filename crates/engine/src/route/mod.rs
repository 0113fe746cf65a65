//! Resolve the request's `model` to a plan: the ordered candidates to try, and every model
//! left out with the reason. Pure and synchronous: no I/O, so it is cheap to run per request
//! and easy to explain (`POST /v1/route/explain`).

use serde::Serialize;
use switchyard_core::{ChatRequest, Content, ContentPart, ResponseFormat};

use crate::controls::Controls;
use crate::error::GatewayError;
use crate::runtime::{Engine, Strategy};

#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// The route, alias or model name the request resolved through.
    pub route: String,
    pub strategy: &'static str,
    /// Indexes into `Engine::models`, in the order they will be tried.
    #[serde(skip)]
    pub candidates: Vec<usize>,
    /// Names of the candidates, same order (for explanations).
    pub candidate_names: Vec<String>,
    pub excluded: Vec<Exclusion>,
    #[serde(skip)]
    pub baseline: Option<usize>,
    /// A short reason, for the `x-switchyard-route` header.
    pub reason: String,
    /// Prompt tokens as estimated before dispatch.
    pub prompt_tokens: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Exclusion {
    pub model: String,
    pub reason: String,
}

/// What the request needs from a model.
#[derive(Debug, Clone, Copy, Default)]
pub struct Needs {
    pub tools: bool,
    pub json_schema: bool,
    pub vision: bool,
    pub logprobs: bool,
}

impl Needs {
    pub fn of(req: &ChatRequest) -> Needs {
        let tools = req.tools.as_ref().is_some_and(|t| !t.is_empty());
        let json_schema = matches!(req.response_format, Some(ResponseFormat::JsonSchema { .. }));
        let vision = req.messages.iter().any(|m| {
            matches!(&m.content, Some(Content::Parts(parts)) if parts.iter().any(|p| matches!(p, ContentPart::ImageUrl { .. })))
        });
        Needs {
            tools,
            json_schema,
            vision,
            logprobs: req.logprobs == Some(true),
        }
    }
}

/// Prompt tokens before dispatch: ceil(chars/4) plus a few tokens of framing per message,
/// the rule the simulator and OpenAI's own guidance use for English text.
pub fn estimate_prompt_tokens(req: &ChatRequest) -> u64 {
    let mut chars = 0usize;
    for m in &req.messages {
        chars += match &m.content {
            Some(Content::Text(s)) => s.len(),
            Some(Content::Parts(parts)) => parts
                .iter()
                .map(|p| match p {
                    ContentPart::Text { text } => text.len(),
                    // Images are billed by tiles; 85 tokens is the low-detail floor.
                    ContentPart::ImageUrl { .. } => 340,
                    ContentPart::Other(_) => 0,
                })
                .sum(),
            None => 0,
        };
        if let Some(calls) = &m.tool_calls {
            chars += calls
                .iter()
                .map(|c| c.function.name.len() + c.function.arguments.len())
                .sum::<usize>();
        }
    }
    if let Some(tools) = &req.tools {
        chars += tools
            .iter()
            .map(|t| {
                t.function.name.len()
                    + t.function
                        .parameters
                        .as_ref()
                        .map_or(0, |p| p.to_string().len())
            })
            .sum::<usize>();
    }
    (chars as u64).div_ceil(4) + 4 * req.messages.len() as u64
}

impl Engine {
    /// Names in `model` (or in OpenRouter's `models` list) that resolve to concrete models.
    fn resolve_names(&self, name: &str) -> Option<(String, Strategy, Vec<usize>, Option<usize>)> {
        let target = self.aliases.get(name).map_or(name, String::as_str);
        if let Some(r) = self.routes.get(target) {
            return Some((r.name.clone(), r.strategy, r.candidates.clone(), r.baseline));
        }
        self.model_index
            .get(target)
            .map(|&i| (target.to_owned(), Strategy::Ordered, vec![i], Some(i)))
    }

    pub fn plan(&self, req: &ChatRequest, controls: &Controls) -> Result<Plan, GatewayError> {
        let (route, strategy, mut list, baseline) = self
            .resolve_names(&req.model)
            .ok_or_else(|| GatewayError::unknown_model(&req.model))?;
        // OpenRouter-style ordered fallbacks after the primary.
        if let Some(extra) = &req.models {
            for name in extra {
                let (_, _, more, _) = self
                    .resolve_names(name)
                    .ok_or_else(|| GatewayError::unknown_model(name).with_param("models"))?;
                for m in more {
                    if !list.contains(&m) {
                        list.push(m);
                    }
                }
            }
        }
        if !controls.allow_fallbacks {
            list.truncate(1);
        }
        if !controls.provider_order.is_empty() {
            // Stable sort: preferred providers first in the given order, the rest after.
            let rank = |i: &usize| {
                controls
                    .provider_order
                    .iter()
                    .position(|p| *p == self.models[*i].provider_name)
                    .unwrap_or(usize::MAX)
            };
            list.sort_by_key(rank);
        }
        let needs = Needs::of(req);
        let prompt_tokens = estimate_prompt_tokens(req);
        let max_out = u64::from(req.max_output_tokens().unwrap_or(0));
        let mut candidates = Vec::with_capacity(list.len());
        let mut excluded = Vec::new();
        for i in list {
            let m = &self.models[i];
            let missing = if m.embedding {
                Some("chat (this is an embedding model)")
            } else if needs.tools && !m.caps.tools {
                Some("tools")
            } else if needs.json_schema && !m.caps.json_schema {
                Some("json_schema")
            } else if needs.vision && !m.caps.vision {
                Some("vision")
            } else if needs.logprobs && !m.caps.logprobs {
                Some("logprobs")
            } else {
                None
            };
            if let Some(cap) = missing {
                excluded.push(Exclusion {
                    model: m.name.clone(),
                    reason: format!("missing capability: {cap}"),
                });
                continue;
            }
            if let Some(cw) = m.context_window {
                if prompt_tokens + max_out > u64::from(cw) {
                    excluded.push(Exclusion {
                        model: m.name.clone(),
                        reason: format!(
                            "context too small: needs ~{} tokens, has {cw}",
                            prompt_tokens + max_out
                        ),
                    });
                    continue;
                }
            }
            candidates.push(i);
        }
        if candidates.is_empty() {
            let why: Vec<String> = excluded
                .iter()
                .map(|e| format!("{} ({})", e.model, e.reason))
                .collect();
            return Err(GatewayError::bad_request(format!(
                "No model behind `{}` can serve this request: {}",
                req.model,
                why.join("; ")
            ))
            .with_code("no_candidate")
            .with_param("model"));
        }
        let reason = match strategy {
            Strategy::Ordered if candidates.len() == 1 => format!("{route}: direct"),
            s => format!("{route}: {} of {} candidates", s.as_str(), candidates.len()),
        };
        Ok(Plan {
            route,
            strategy: strategy.as_str(),
            candidate_names: candidates
                .iter()
                .map(|&i| self.models[i].name.clone())
                .collect(),
            candidates,
            excluded,
            baseline,
            reason,
            prompt_tokens,
        })
    }
}
