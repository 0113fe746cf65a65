//! The normalised request: what must be equal for two requests to share an answer.
//!
//! The request as the upstream would see it (messages, tools, `tool_choice`,
//! `response_format`, every sampling parameter and pass-through field, and whether it
//! streams, since a stream is replayed chunk by chunk), with `model` replaced by the resolved
//! route or model, plus the tenant (cache namespace or API-key tenant) and the routing
//! controls that change which model answers. `stream_options` and `user` do not change the
//! answer and are left out. serde_json objects are sorted maps, so field order in the client's
//! JSON does not matter.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use switchyard_core::{ChatRequest, Role};

use crate::controls::Controls;

/// A 256-bit digest: collisions across tenants are not a practical concern.
pub type KeyHash = [u8; 32];

pub struct Normalized {
    /// The exact-cache key.
    pub exact: KeyHash,
    /// Everything but the last user message: the semantic cache's partition (tenant, route,
    /// system prompt, earlier turns, tools, parameters).
    pub partition: KeyHash,
    /// The last user message's text, for the near-duplicate matcher (None when the
    /// conversation does not end with a user message).
    pub query: Option<String>,
}

/// The tenant whose answers these are: an explicit cache namespace wins over the API key's.
pub fn namespace<'a>(tenant: &'a str, controls: &'a Controls) -> &'a str {
    controls.cache_namespace.as_deref().unwrap_or(tenant)
}

/// Only deterministic requests are cached unless the route opts in.
pub fn deterministic(req: &ChatRequest) -> bool {
    req.temperature == Some(0.0)
}

pub fn normalize(req: &ChatRequest, resolved: &str, ns: &str, controls: &Controls) -> Normalized {
    let mut v = serde_json::to_value(req).unwrap_or(Value::Null);
    if let Some(o) = v.as_object_mut() {
        o.insert("model".into(), Value::String(resolved.to_owned()));
        o.remove("stream_options");
        o.remove("user");
        // Gateway extras: what they change is in the parsed controls below.
        o.remove("switchyard");
        o.remove("provider");
        o.insert("stream".into(), Value::Bool(req.stream));
    }
    let ctl = json!({
        "ns": ns,
        "task": controls.task,
        "min_quality": controls.min_quality,
        "order": controls.provider_order,
        "fallbacks": controls.allow_fallbacks,
        "sort": controls.sort,
        "max_price": [controls.max_price_prompt.map(|d| d.to_string()), controls.max_price_completion.map(|d| d.to_string())],
    });
    let exact = digest(&[
        b"exact",
        ctl.to_string().as_bytes(),
        v.to_string().as_bytes(),
    ]);
    let query = match req.messages.last() {
        Some(m) if m.role == Role::User => Some(m.text_content()),
        _ => None,
    };
    if query.is_some() {
        if let Some(msgs) = v.get_mut("messages").and_then(Value::as_array_mut) {
            msgs.pop();
        }
    }
    let partition = digest(&[
        b"semantic",
        ctl.to_string().as_bytes(),
        v.to_string().as_bytes(),
    ]);
    Normalized {
        exact,
        partition,
        query,
    }
}

fn digest(parts: &[&[u8]]) -> KeyHash {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p);
    }
    h.finalize().into()
}

pub fn hex(k: &KeyHash) -> String {
    use std::fmt::Write;
    k.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(v: Value) -> ChatRequest {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn equal_requests_share_a_key_and_differences_split_it() {
        let c = Controls::default();
        let a = req(
            json!({"model": "auto", "temperature": 0, "messages": [{"role": "user", "content": "hi"}], "user": "u1"}),
        );
        let b = req(
            json!({"messages": [{"role": "user", "content": "hi"}], "user": "u2", "temperature": 0.0, "model": "auto"}),
        );
        assert_eq!(
            normalize(&a, "auto", "t", &c).exact,
            normalize(&b, "auto", "t", &c).exact
        );
        // Tenant, route, parameters, tools and stream mode each split the key.
        let base = normalize(&a, "auto", "t", &c).exact;
        assert_ne!(base, normalize(&a, "auto", "t2", &c).exact);
        assert_ne!(base, normalize(&a, "fast", "t", &c).exact);
        let mut d = a.clone();
        d.max_tokens = Some(5);
        assert_ne!(base, normalize(&d, "auto", "t", &c).exact);
        let mut s = a.clone();
        s.stream = true;
        assert_ne!(base, normalize(&s, "auto", "t", &c).exact);
        let t = req(
            json!({"model": "auto", "temperature": 0, "messages": [{"role": "user", "content": "hi"}],
            "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}]}),
        );
        assert_ne!(base, normalize(&t, "auto", "t", &c).exact);
    }

    #[test]
    fn partition_ignores_only_the_last_user_message() {
        let c = Controls::default();
        let a = req(
            json!({"model": "m", "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "What is 1+1?"}]}),
        );
        let b = req(
            json!({"model": "m", "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "What's 1+1?"}]}),
        );
        let e = req(
            json!({"model": "m", "messages": [{"role": "system", "content": "be long"}, {"role": "user", "content": "What is 1+1?"}]}),
        );
        let (na, nb, ne) = (
            normalize(&a, "m", "t", &c),
            normalize(&b, "m", "t", &c),
            normalize(&e, "m", "t", &c),
        );
        assert_eq!(na.partition, nb.partition);
        assert_ne!(na.exact, nb.exact);
        assert_ne!(na.partition, ne.partition);
        assert_eq!(na.query.as_deref(), Some("What is 1+1?"));
    }
}
