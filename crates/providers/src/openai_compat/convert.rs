//! Flavor -> quirks and default base URL, plus the one flavor-specific transformation that is
//! not a field rename: Mistral's tool-call id format. Everything else reuses `openai::convert`.

use crate::openai::{LogprobsParam, Quirks, TokenCapField};

/// Every flavor `openai-compatible` accepts, for config validation and error messages.
pub const FLAVORS: &[&str] = &[
    "generic",
    "deepseek",
    "mistral",
    "groq",
    "together",
    "dashscope",
    "vllm",
    "ollama",
];

/// Top-level fields Mistral's chat schema accepts; anything else is a 422 `extra_forbidden`.
pub const MISTRAL_FIELDS: &[&str] = &[
    "model",
    "messages",
    "temperature",
    "top_p",
    "max_tokens",
    "stream",
    "stop",
    "random_seed",
    "response_format",
    "tools",
    "tool_choice",
    "presence_penalty",
    "frequency_penalty",
    "n",
    "parallel_tool_calls",
    "prediction",
    "safe_prompt",
    "prompt_mode",
];

/// Most compatible servers know `max_tokens` only, not `developer`, and ignore unknown fields.
const COMPAT: Quirks = Quirks {
    name: "generic",
    token_cap: TokenCapField::MaxTokens,
    developer_role: false,
    ..Quirks::OPENAI
};

/// The quirks of a flavor and its public base URL (`None`: the user must configure one).
pub fn flavor(name: &str) -> Result<(Quirks, Option<&'static str>), String> {
    Ok(match name {
        "generic" => (COMPAT, None),
        "deepseek" => (
            Quirks {
                name: "deepseek",
                ..COMPAT
            },
            Some("https://api.deepseek.com"),
        ),
        "mistral" => (
            Quirks {
                name: "mistral",
                stream_usage: false,
                allowed_fields: Some(MISTRAL_FIELDS),
                strict_messages: true,
                seed_field: "random_seed",
                logprobs: LogprobsParam::Unsupported,
                required_tool_choice: "any",
                tool_call_id: Some(mistral_tool_id),
                ..COMPAT
            },
            Some("https://api.mistral.ai/v1"),
        ),
        "groq" => (
            Quirks {
                name: "groq",
                token_cap: TokenCapField::MaxCompletionTokens,
                logprobs: LogprobsParam::Unsupported,
                message_name: false,
                embeddings: false,
                multiple_choices: false,
                ..COMPAT
            },
            Some("https://api.groq.com/openai/v1"),
        ),
        "together" => (
            Quirks {
                name: "together",
                logprobs: LogprobsParam::Integer,
                ..COMPAT
            },
            Some("https://api.together.xyz/v1"),
        ),
        "dashscope" => (
            Quirks {
                name: "dashscope",
                ..COMPAT
            },
            Some("https://dashscope-intl.aliyuncs.com/compatible-mode/v1"),
        ),
        "vllm" => (
            Quirks {
                name: "vllm",
                // vLLM accepts both cap fields; keep what the client chose.
                token_cap: TokenCapField::AsSent,
                ..COMPAT
            },
            Some("http://127.0.0.1:8000/v1"),
        ),
        "ollama" => (
            Quirks {
                name: "ollama",
                logprobs: LogprobsParam::Unsupported,
                tool_choice: false,
                ..COMPAT
            },
            Some("http://127.0.0.1:11434/v1"),
        ),
        other => {
            return Err(format!(
                "unknown openai-compatible flavor \"{other}\" (expected one of: {})",
                FLAVORS.join(", ")
            ));
        }
    })
}

/// Mistral accepts only `[a-zA-Z0-9]{9}` tool-call ids, so ids minted elsewhere (`call_...`,
/// `toolu_...`) are hashed into that alphabet. A pure function of the id: the assistant's call
/// and the tool result that answers it map to the same value with no state to carry. Ids
/// already in Mistral's format (from Mistral itself) pass unchanged. Two distinct ids collide
/// with odds of about 1 in 10^16 per pair.
pub fn mistral_tool_id(id: &str) -> String {
    const ALPHA: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    if id.len() == 9 && id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return id.to_owned();
    }
    // FNV-1a 64: stable across runs and platforms, unlike std's RandomState hashers.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in id.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    let mut out = String::with_capacity(9);
    for _ in 0..9 {
        out.push(char::from(ALPHA[(h % 62) as usize]));
        h /= 62;
    }
    out
}
