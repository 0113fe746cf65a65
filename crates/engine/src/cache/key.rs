//! The normalised request: what must be equal for two requests to share an answer.
//!
//! The request as the upstream would see it (messages, tools, `tool_choice`,
//! `response_format`, every sampling parameter and pass-through field, and whether it
//! streams, since a stream is replayed chunk by chunk), with `model` replaced by the resolved
//! route or model, plus the tenant (cache namespace or API-key tenant) and the routing
//! controls that change which model answers. `stream_options` and `user` do not change the
//! answer and are left out. serde_json objects are sorted maps, so field order in the client's
//! JSON does not matter.

use serde_json::json;
use sha2::{Digest, Sha256};
use switchyard_core::{ChatRequest, Role};

use crate::controls::Controls;

/// A 256-bit digest: collisions across tenants are not a practical concern.
pub type KeyHash = [u8; 32];

pub struct Normalized {
    /// The exact-cache key.
    pub exact: KeyHash,
    /// Only when asked for and the conversation ends with a user message: the semantic
    /// cache's partition (everything but the last user message: tenant, route, system prompt,
    /// earlier turns, tools, parameters) and that message's text for the near-duplicate
    /// matcher.
    pub semantic: Option<(KeyHash, String)>,
}

/// The tenant whose answers these are: an explicit cache namespace wins over the API key's.
pub fn namespace<'a>(tenant: &'a str, controls: &'a Controls) -> &'a str {
    controls.cache_namespace.as_deref().unwrap_or(tenant)
}

/// Only deterministic requests are cached unless the route opts in.
pub fn deterministic(req: &ChatRequest) -> bool {
    req.temperature == Some(0.0)
}

/// Bumped whenever what goes into a key changes, so replicas of different versions sharing a
/// Redis never read each other's entries under a key that now means something else.
const KEY_VERSION: &[u8] = b"switchyard-cache-key-v2";

/// The keys of `req`, streamed straight into the hash: the request is serialized once, field by
/// field, with no intermediate `serde_json::Value` (which cost a clone of the whole request and
/// two renderings of it, a third of a cache hit's instructions). `req` is borrowed mutably only
/// to set aside, for the length of the call, the fields a key leaves out; it is returned as it
/// came. Struct fields serialize in declaration order and JSON objects inside (tool schemas,
/// `response_format`, pass-through extras) are sorted maps, so the client's field order never
/// matters.
pub fn normalize(
    req: &mut ChatRequest,
    resolved: &str,
    ns: &str,
    controls: &Controls,
    semantic: bool,
) -> Normalized {
    let ctl = json!({
        "ns": ns,
        "task": controls.task,
        "min_quality": controls.min_quality,
        "order": controls.provider_order,
        "fallbacks": controls.allow_fallbacks,
        "sort": controls.sort,
        "max_price": [controls.max_price_prompt.map(|d| d.to_string()), controls.max_price_completion.map(|d| d.to_string())],
    });
    let mut h = Framed::new();
    h.part(KEY_VERSION);
    h.json(&ctl);
    // Set aside what does not change the answer (`stream_options`, `user`) or is already in
    // the controls above (the gateway extras), and the messages, which are framed one by one
    // below so that the partition is a prefix of the same hash.
    let model = std::mem::replace(&mut req.model, resolved.to_owned());
    let stream_options = req.stream_options.take();
    let user = req.user.take();
    let switchyard = req.switchyard.take();
    let provider = req.provider.take();
    let messages = std::mem::take(&mut req.messages);
    h.json(&*req);
    req.model = model;
    req.stream_options = stream_options;
    req.user = user;
    req.switchyard = switchyard;
    req.provider = provider;
    let (last, earlier) = match messages.split_last() {
        Some((last, earlier)) => (Some(last), earlier),
        None => (None, &messages[..]),
    };
    for m in earlier {
        h.json(m);
    }
    // The partition is everything before the last user message: the hash so far, forked.
    let semantic = last
        .filter(|m| semantic && m.role == Role::User)
        .map(|m| (h.fork().finish(b"semantic"), m.text_content()));
    if let Some(m) = last {
        h.json(m);
    }
    let exact = h.finish(b"exact");
    req.messages = messages;
    Normalized { exact, semantic }
}

/// SHA-256 over a sequence of parts, each followed by its length: decodable from the end, so
/// no two sequences of parts hash the same bytes. JSON parts are rendered into one reused
/// buffer and hashed in one call (serde_json writes many tiny fragments).
struct Framed {
    h: Sha256,
    buf: Vec<u8>,
}

impl Framed {
    fn new() -> Self {
        Framed {
            h: Sha256::new(),
            buf: Vec::with_capacity(1024),
        }
    }

    /// The hash so far, to finish separately (the scratch buffer is not carried over).
    fn fork(&self) -> Framed {
        Framed {
            h: self.h.clone(),
            buf: Vec::new(),
        }
    }

    fn part(&mut self, bytes: &[u8]) {
        frame(&mut self.h, bytes);
    }

    fn json<T: serde::Serialize + ?Sized>(&mut self, v: &T) {
        self.buf.clear();
        // Writing into a Vec cannot fail, and these types always serialize.
        let _ = serde_json::to_writer(&mut self.buf, v);
        frame(&mut self.h, &self.buf);
    }

    fn finish(mut self, tag: &[u8]) -> KeyHash {
        self.part(tag);
        self.h.finalize().into()
    }
}

fn frame(h: &mut Sha256, bytes: &[u8]) {
    h.update(bytes);
    h.update((bytes.len() as u64).to_le_bytes());
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
    use serde_json::Value;

    fn req(v: Value) -> ChatRequest {
        serde_json::from_value(v).unwrap()
    }

    /// The keys of a copy, with the semantic part asked for.
    fn normalize(r: &ChatRequest, resolved: &str, ns: &str, c: &Controls) -> Normalized {
        super::normalize(&mut r.clone(), resolved, ns, c, true)
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
        let part = |n: &Normalized| n.semantic.as_ref().map(|s| s.0);
        assert_eq!(part(&na), part(&nb));
        assert_ne!(na.exact, nb.exact);
        assert_ne!(part(&na), part(&ne));
        assert_eq!(
            na.semantic.as_ref().map(|s| s.1.as_str()),
            Some("What is 1+1?")
        );
        assert_ne!(part(&na), Some(na.exact));
    }

    #[test]
    fn keys_leave_the_request_as_it_came_and_ignore_field_order_inside_schemas() {
        let c = Controls::default();
        let original = req(
            json!({"model": "auto", "temperature": 0, "user": "u", "stream": true,
            "stream_options": {"include_usage": true}, "switchyard": {"task": "code"},
            "provider": {"sort": "price"}, "custom": 1,
            "messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "q"}],
            "tools": [{"type": "function", "function": {"name": "f", "parameters": {"a": 1, "b": 2}}}]}),
        );
        let mut r = original.clone();
        let n = super::normalize(&mut r, "resolved", "t", &c, true);
        assert_eq!(
            serde_json::to_value(&r).unwrap(),
            serde_json::to_value(&original).unwrap()
        );
        let swapped = req(
            json!({"custom": 1, "tools": [{"type": "function", "function": {"name": "f", "parameters": {"b": 2, "a": 1}}}],
            "messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "q"}],
            "model": "auto", "stream": true, "temperature": 0, "user": "other"}),
        );
        assert_eq!(normalize(&swapped, "resolved", "t", &c).exact, n.exact);
        // Without the semantic part asked for, or with a conversation not ending on a user
        // message, there is none; the exact key is the same either way.
        let plain = super::normalize(&mut r.clone(), "resolved", "t", &c, false);
        assert!(plain.semantic.is_none());
        assert_eq!(plain.exact, n.exact);
        let tool_turn = req(
            json!({"model": "m", "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}),
        );
        assert!(normalize(&tool_turn, "m", "t", &c).semantic.is_none());
    }
}
