//! Prompt tokens before dispatch, for the estimate, the ceiling, context-window fit and
//! context-length tiers. The bill never uses these: it prices the provider's reported usage.
//!
//! Two methods, chosen by `[pricing] token_count`:
//! - `estimate` (default): ceil(chars/4) + 4 per message ([`crate::route::estimate_prompt_tokens`]),
//!   OpenAI's documented rule of thumb for English; code and non-Latin text run denser.
//! - `exact`: OpenAI's own BPE (tiktoken's `o200k_base` for gpt-4o/4.1/5 and the o-series,
//!   `cl100k_base` for gpt-4/3.5, by the upstream model name) for models of those families,
//!   with OpenAI's chat framing (3 tokens per message, 3 to prime the reply); the estimate for
//!   every other family, whose tokenizers are not published in a form we can run offline.
//!
//! Why `exact` is not the default (measured on this machine, `tiktoken-rs` 0.12): loading
//! `o200k_base` takes ~210 ms and ~50 MB of resident memory (twice the gateway's whole
//! footprint), and counting costs ~9 us for a 120-character prompt and ~180 us for a
//! 1,000-token one, on every routed request. The estimate decides the same model unless a
//! price tier, window or ceiling sits within its error of the prompt. The encodings load on a
//! background thread at start; until one is loaded, requests use the estimate rather than wait.

use std::sync::OnceLock;

use serde::Serialize;
use switchyard_core::{ChatRequest, Content, ContentPart};
pub use switchyard_pricing::TokenCount;
use tiktoken_rs::CoreBPE;

/// An OpenAI encoding routing can count with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    O200kBase,
    Cl100kBase,
}

impl Encoding {
    pub const ALL: [Encoding; 2] = [Encoding::O200kBase, Encoding::Cl100kBase];

    /// The encoding of an OpenAI model, by its upstream name (`gpt-4o-mini`,
    /// `gpt-4-0613`, ...); `None` for other families.
    pub fn of_model(upstream: &str) -> Option<Encoding> {
        use tiktoken_rs::tokenizer::{Tokenizer, get_tokenizer};
        match get_tokenizer(upstream)? {
            Tokenizer::O200kBase => Some(Encoding::O200kBase),
            Tokenizer::Cl100kBase => Some(Encoding::Cl100kBase),
            _ => None,
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }

    pub fn name(self) -> &'static str {
        match self {
            Encoding::O200kBase => "o200k_base",
            Encoding::Cl100kBase => "cl100k_base",
        }
    }

    fn cell(self) -> &'static OnceLock<Option<CoreBPE>> {
        static O200K: OnceLock<Option<CoreBPE>> = OnceLock::new();
        static CL100K: OnceLock<Option<CoreBPE>> = OnceLock::new();
        match self {
            Encoding::O200kBase => &O200K,
            Encoding::Cl100kBase => &CL100K,
        }
    }

    /// The loaded encoding, or `None` while it is still loading (never blocks).
    pub fn get(self) -> Option<&'static CoreBPE> {
        self.cell().get()?.as_ref()
    }

    /// Load now, on this thread (tests, and the background warm-up).
    pub fn load(self) -> Option<&'static CoreBPE> {
        self.cell()
            .get_or_init(|| {
                let r = match self {
                    Encoding::O200kBase => tiktoken_rs::o200k_base(),
                    Encoding::Cl100kBase => tiktoken_rs::cl100k_base(),
                };
                r.map_err(|e| tracing::warn!(encoding = self.name(), error = %e, "tokenizer not loaded; the estimate is used"))
                    .ok()
            })
            .as_ref()
    }

    /// Load on a background thread, once; requests use the estimate until it is ready.
    pub fn warm(self) {
        if self.cell().get().is_none() {
            let _ = std::thread::Builder::new()
                .name(format!("tokenizer-{}", self.name()))
                .spawn(move || {
                    self.load();
                });
        }
    }
}

/// Prompt tokens of a chat request in `bpe`, with OpenAI's chat framing: 3 tokens per
/// message (role and separators), 3 priming the reply. Tool definitions and images keep the
/// estimate's allowances (their serialisation inside the prompt is not published).
pub fn count_chat(bpe: &CoreBPE, req: &ChatRequest) -> u64 {
    let n = |s: &str| bpe.encode_ordinary(s).len() as u64;
    let mut tokens = 3u64;
    for m in &req.messages {
        tokens += 3;
        match &m.content {
            Some(Content::Text(s)) => tokens += n(s),
            Some(Content::Parts(parts)) => {
                for p in parts {
                    tokens += match p {
                        ContentPart::Text { text } => n(text),
                        ContentPart::ImageUrl { .. } => 85,
                        ContentPart::Other(_) => 0,
                    };
                }
            }
            None => {}
        }
        if let Some(calls) = &m.tool_calls {
            for c in calls {
                tokens += n(&c.function.name) + n(&c.function.arguments);
            }
        }
    }
    tokens + crate::route::request::tool_definition_tokens(req)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(text: &str) -> ChatRequest {
        serde_json::from_value(serde_json::json!({
            "model": "m", "messages": [{"role": "user", "content": text}]
        }))
        .expect("request")
    }

    #[test]
    fn families_by_upstream_name() {
        assert_eq!(Encoding::of_model("gpt-4o-mini"), Some(Encoding::O200kBase));
        assert_eq!(Encoding::of_model("gpt-4.1"), Some(Encoding::O200kBase));
        assert_eq!(Encoding::of_model("o3-mini"), Some(Encoding::O200kBase));
        assert_eq!(Encoding::of_model("gpt-4-0613"), Some(Encoding::Cl100kBase));
        assert_eq!(Encoding::of_model("claude-sonnet-4-5"), None);
        assert_eq!(Encoding::of_model("gemini-2.5-flash"), None);
    }

    /// Pinned against OpenAI's tokenizer: "hello world" is 2 tokens in both encodings, and
    /// a one-message chat adds 3 + 3 framing tokens.
    #[test]
    fn counts_with_chat_framing() {
        for e in Encoding::ALL {
            let bpe = e.load().expect("bundled encoding loads");
            assert_eq!(bpe.encode_ordinary("hello world").len(), 2);
            assert_eq!(count_chat(bpe, &req("hello world")), 8);
        }
        // Code runs denser than chars/4: the exact count differs from the estimate.
        let code = "fn main() { let v: Vec<u8> = (0..=255).collect(); println!(\"{v:?}\"); }";
        let bpe = Encoding::O200kBase.load().expect("loads");
        let exact = count_chat(bpe, &req(code));
        let estimate = crate::route::estimate_prompt_tokens(&req(code));
        assert_ne!(exact, estimate);
    }
}
