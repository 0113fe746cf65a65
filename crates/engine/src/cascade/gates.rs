//! The accept gates that need no network: confidence, JSON, length, refusal, regex.

use switchyard_core::{ChatRequest, ChatResponse, FinishReason, ResponseFormat};

use super::CascadeRt;

/// Why a tier's answer was not accepted: the gate (`confidence`, `json`, `length`, `refusal`,
/// `regex`, `judge`, `error`) and a short human detail.
#[derive(Debug, Clone, PartialEq)]
pub struct Reject {
    pub gate: &'static str,
    pub detail: String,
}

impl Reject {
    fn new(gate: &'static str, detail: impl Into<String>) -> Reject {
        Reject {
            gate,
            detail: detail.into(),
        }
    }
}

/// The `q`-quantile (nearest rank, 0 = minimum) of the per-token probabilities `exp(logprob)`
/// of the first choice; None when the answer carries no token logprobs.
pub fn quantile_confidence(resp: &ChatResponse, q: f64) -> Option<f64> {
    let toks = resp.choices.first()?.logprobs.as_ref()?.content.as_ref()?;
    if toks.is_empty() {
        return None;
    }
    let mut p: Vec<f64> = toks.iter().map(|t| t.logprob.exp()).collect();
    p.sort_by(f64::total_cmp);
    let rank = (q.clamp(0.0, 1.0) * (p.len() - 1) as f64).floor() as usize;
    Some(p[rank])
}

/// Openings that mark a refusal rather than an answer (checked case-insensitively at the start).
const REFUSALS: &[&str] = &[
    "i'm sorry, but i can",
    "i am sorry, but i can",
    "sorry, i can't",
    "sorry, i cannot",
    "i can't help with",
    "i cannot help with",
    "i can't assist",
    "i cannot assist",
    "i'm unable to",
    "i am unable to",
    "i won't be able to",
    "as an ai language model, i cannot",
];

impl CascadeRt {
    /// Run the local gates on a tier's answer. `logprobs_asked` says whether this tier was
    /// asked for logprobs (false for a tier whose provider has none: the gate is skipped).
    /// Returns the confidence seen (if any) and the first rejection.
    pub fn check_local(
        &self,
        req: &ChatRequest,
        resp: &ChatResponse,
        model: &str,
        logprobs_asked: bool,
    ) -> (Option<f64>, Result<(), Reject>) {
        let Some(choice) = resp.choices.first() else {
            return (None, Err(Reject::new("refusal", "no choices")));
        };
        let text = choice.message.content.as_deref().unwrap_or("");
        let has_tools = choice
            .message
            .tool_calls
            .as_ref()
            .is_some_and(|t| !t.is_empty());
        if self.length && choice.finish_reason == Some(FinishReason::Length) {
            return (None, Err(Reject::new("length", "finish_reason=length")));
        }
        if self.refusal {
            if choice
                .message
                .refusal
                .as_ref()
                .is_some_and(|r| !r.is_empty())
            {
                return (None, Err(Reject::new("refusal", "refusal field set")));
            }
            if text.trim().is_empty() && !has_tools {
                return (None, Err(Reject::new("refusal", "empty answer")));
            }
            let head: String = text.trim_start().chars().take(60).collect::<String>();
            let head = head.to_lowercase().replace('’', "'");
            if REFUSALS.iter().any(|r| head.starts_with(r)) {
                return (None, Err(Reject::new("refusal", "refusal answer")));
            }
        }
        if self.json && !has_tools {
            match &req.response_format {
                Some(ResponseFormat::JsonObject) => {
                    match serde_json::from_str::<serde_json::Value>(text) {
                        Ok(v) if v.is_object() => {}
                        Ok(_) => return (None, Err(Reject::new("json", "not a JSON object"))),
                        Err(e) => {
                            return (None, Err(Reject::new("json", format!("invalid JSON: {e}"))));
                        }
                    }
                }
                Some(ResponseFormat::JsonSchema { json_schema }) => {
                    let v = match serde_json::from_str::<serde_json::Value>(text) {
                        Ok(v) => v,
                        Err(e) => {
                            return (None, Err(Reject::new("json", format!("invalid JSON: {e}"))));
                        }
                    };
                    if let Some(schema) = &json_schema.schema {
                        if let Err(e) = super::schema::validate(schema, &v) {
                            return (None, Err(Reject::new("json", format!("schema: {e}"))));
                        }
                    }
                }
                _ => {}
            }
        }
        if let Some(re) = &self.regex {
            if !re.is_match(text) {
                return (None, Err(Reject::new("regex", "answer does not match")));
            }
        }
        let mut seen = None;
        if let (Some(g), true) = (&self.confidence, logprobs_asked) {
            // No token logprobs in an answer we asked them for (e.g. a pure tool call): no
            // signal, so the other gates decide, as for a tier without logprobs.
            if let Some(c) = quantile_confidence(resp, g.quantile) {
                seen = Some(c);
                let min = g.threshold(model);
                if c < min {
                    return (
                        seen,
                        Err(Reject::new("confidence", format!("{c:.3} < {min:.3}"))),
                    );
                }
            }
        }
        (seen, Ok(()))
    }
}

/// First number in a judge's reply (`"8"`, `"Score: 7/10"`), clamped to 0..10.
pub fn parse_score(s: &str) -> Option<f64> {
    let start = s.find(|c: char| c.is_ascii_digit())?;
    let rest = &s[start..];
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    rest[..end]
        .trim_end_matches('.')
        .parse::<f64>()
        .ok()
        .map(|x| x.clamp(0.0, 10.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn judge_scores_parse() {
        assert_eq!(parse_score("8"), Some(8.0));
        assert_eq!(parse_score("Score: 7/10"), Some(7.0));
        assert_eq!(parse_score("6.5."), Some(6.5));
        assert_eq!(parse_score("none"), None);
    }
}
