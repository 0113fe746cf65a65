//! What routing reads from the request before looking at any model: the capabilities it
//! needs, its prompt size, the output it may produce, and the clock and price context.

use std::time::Instant;

use serde::Serialize;
use switchyard_core::{ChatRequest, Content, ContentPart, ResponseFormat};
use switchyard_pricing::PricingCtx;

/// What the request needs from a model.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Needs {
    pub tools: bool,
    pub json_schema: bool,
    pub vision: bool,
    pub logprobs: bool,
    /// `n > 1`: several choices in one answer.
    pub multiple_choices: bool,
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
            multiple_choices: req.n.is_some_and(|n| n > 1),
        }
    }
}

/// The clock, price context and randomness a decision uses. `RouteCtx::for_request` is the
/// live one; tests build their own to pin a time of day or a weighted draw.
#[derive(Debug, Clone, Copy)]
pub struct RouteCtx {
    /// Latency windows are read at this instant.
    pub now: Instant,
    /// Time of day (peak windows), batch and flex, for every price the decision compares.
    pub pricing: PricingCtx,
    /// Seed of the `weighted` draw; `None` = a fresh random draw per request.
    pub seed: Option<u64>,
}

impl RouteCtx {
    pub fn for_request(req: &ChatRequest) -> RouteCtx {
        let mut pricing = PricingCtx::now();
        // `service_tier: flex` is passed through to the provider, so it is priced as flex.
        pricing.flex = req
            .extra
            .get("service_tier")
            .and_then(|v| v.as_str())
            .is_some_and(|s| s == "flex");
        RouteCtx {
            now: Instant::now(),
            pricing,
            seed: None,
        }
    }
}

/// Output tokens assumed for ranking and the ceiling when the request sets no `max_tokens`:
/// a typical chat answer. The plan says when it was assumed; set `max_tokens` for a hard bound.
pub const ASSUMED_OUTPUT_TOKENS: u64 = 256;

/// How prompt tokens were counted before dispatch (shown in the explanation).
pub const TOKEN_COUNT_METHOD: &str = "chars/4 + 4 per message";

/// Prompt tokens before dispatch: per message ceil(chars/4) plus 4 tokens of framing, the
/// rule of thumb OpenAI documents for English text (about 4 characters per token) and the
/// simulator's own count. It is an estimate: real tokenizers differ by family (code and
/// non-Latin text run denser), so the bill always uses the provider's reported usage.
pub fn estimate_prompt_tokens(req: &ChatRequest) -> u64 {
    let mut tokens = 0u64;
    for m in &req.messages {
        let mut chars = match &m.content {
            Some(Content::Text(s)) => s.chars().count(),
            Some(Content::Parts(parts)) => parts
                .iter()
                .map(|p| match p {
                    ContentPart::Text { text } => text.chars().count(),
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
        tokens += (chars as u64).div_ceil(4) + 4;
    }
    tokens + tool_definition_tokens(req)
}

/// The tool definitions' share of the prompt: ceil(chars/4) of each name and parameter
/// schema (how providers serialise them into the prompt is not published, so every count
/// uses this allowance).
pub fn tool_definition_tokens(req: &ChatRequest) -> u64 {
    let Some(tools) = &req.tools else { return 0 };
    let chars: usize = tools
        .iter()
        .map(|t| {
            t.function.name.len()
                + t.function
                    .parameters
                    .as_ref()
                    .map_or(0, |p| p.to_string().len())
        })
        .sum();
    (chars as u64).div_ceil(4)
}
