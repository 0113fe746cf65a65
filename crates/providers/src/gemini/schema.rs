//! JSON Schema -> Gemini's OpenAPI-subset `Schema` for `functionDeclarations[].parameters`.
//!
//! Gemini rejects keywords outside its subset (`$schema`, `additionalProperties`, `$ref`,
//! `oneOf`, `const`, unusual `format`s, ...) with a 400, and OpenAI clients send them all the
//! time (pydantic and zod output). Rather than fail, the schema is rewritten: local `$ref`s are
//! inlined, `["string","null"]` and `anyOf [.., {type: null}]` become `nullable`, `const` becomes
//! a one-value `enum`, types are upper-cased, and everything else Gemini does not know is dropped.
//! Dropped keywords only loosen validation; the model still sees names, types and descriptions.

use serde_json::{Map, Value, json};

/// Keywords Gemini's `Schema` accepts (besides the ones rewritten below).
const KEEP: &[&str] = &[
    "title",
    "description",
    "nullable",
    "minItems",
    "maxItems",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "pattern",
    "minProperties",
    "maxProperties",
    "propertyOrdering",
    "default",
    "example",
];

/// Recursive `$ref`s are cut at this depth (Gemini has no way to express recursion).
const MAX_REF_DEPTH: usize = 8;

/// Sanitised parameters, or `None` when the function takes no arguments (Gemini rejects an
/// OBJECT schema with empty `properties`).
pub fn sanitize(schema: &Value) -> Option<Value> {
    let empty = Map::new();
    let defs = schema
        .get("$defs")
        .or_else(|| schema.get("definitions"))
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let out = clean(schema, defs, 0);
    let no_props = out
        .get("properties")
        .and_then(Value::as_object)
        .is_none_or(Map::is_empty);
    if out.get("type").and_then(Value::as_str) == Some("OBJECT") && no_props {
        return None;
    }
    Some(out)
}

fn clean(v: &Value, defs: &Map<String, Value>, depth: usize) -> Value {
    let Some(obj) = v.as_object() else {
        // `true` / `{}` schemas: anything goes; Gemini has no "any", so leave it untyped.
        return json!({});
    };
    if let Some(target) = obj.get("$ref").and_then(Value::as_str) {
        let name = target
            .strip_prefix("#/$defs/")
            .or_else(|| target.strip_prefix("#/definitions/"));
        let resolved = match name.and_then(|n| defs.get(n)) {
            Some(def) if depth < MAX_REF_DEPTH => clean(def, defs, depth + 1),
            _ => json!({"type": "OBJECT"}),
        };
        return with_description(resolved, obj.get("description"));
    }
    for key in ["allOf", "anyOf", "oneOf"] {
        if let Some(variants) = obj.get(key).and_then(Value::as_array) {
            return combinator(key, variants, obj, defs, depth);
        }
    }

    let mut out = Map::new();
    let mut nullable = false;
    let ty = match obj.get("type") {
        Some(Value::String(t)) => Some(t.to_ascii_lowercase()),
        Some(Value::Array(ts)) => {
            nullable = ts.iter().any(|t| t == "null");
            ts.iter()
                .filter_map(Value::as_str)
                .find(|t| *t != "null")
                .map(str::to_ascii_lowercase)
        }
        _ if obj.contains_key("properties") => Some("object".to_owned()),
        _ if obj.contains_key("items") => Some("array".to_owned()),
        _ => None,
    };
    if let Some(t) = &ty {
        out.insert("type".into(), Value::String(t.to_ascii_uppercase()));
    }
    for k in KEEP {
        if let Some(x) = obj.get(*k) {
            out.insert((*k).to_owned(), x.clone());
        }
    }
    if nullable {
        out.insert("nullable".into(), Value::Bool(true));
    }
    if let Some(f) = obj.get("format").and_then(Value::as_str) {
        let ok = match ty.as_deref() {
            Some("string") => matches!(f, "enum" | "date-time"),
            Some("integer") => matches!(f, "int32" | "int64"),
            Some("number") => matches!(f, "float" | "double"),
            _ => false,
        };
        if ok {
            out.insert("format".into(), Value::String(f.to_owned()));
        }
    }
    let values = obj
        .get("enum")
        .and_then(Value::as_array)
        .cloned()
        .or_else(|| obj.get("const").map(|c| vec![c.clone()]));
    if let Some(values) = values {
        if values.iter().all(Value::is_string) {
            out.insert("enum".into(), Value::Array(values));
            out.insert("type".into(), Value::String("STRING".into()));
        } else {
            // Gemini enums are strings only; keep the constraint visible to the model.
            let listed: Vec<String> = values.iter().map(Value::to_string).collect();
            let note = format!("Allowed values: {}.", listed.join(", "));
            let desc = match out.get("description").and_then(Value::as_str) {
                Some(d) => format!("{d} {note}"),
                None => note,
            };
            out.insert("description".into(), Value::String(desc));
        }
    }
    if let Some(props) = obj.get("properties").and_then(Value::as_object) {
        let cleaned: Map<String, Value> = props
            .iter()
            .map(|(k, p)| (k.clone(), clean(p, defs, depth)))
            .collect();
        if let Some(req) = obj.get("required").and_then(Value::as_array) {
            let req: Vec<Value> = req
                .iter()
                .filter(|r| r.as_str().is_some_and(|r| cleaned.contains_key(r)))
                .cloned()
                .collect();
            if !req.is_empty() {
                out.insert("required".into(), Value::Array(req));
            }
        }
        out.insert("properties".into(), Value::Object(cleaned));
    }
    match obj.get("items") {
        Some(Value::Array(tuple)) => {
            if let Some(first) = tuple.first() {
                out.insert("items".into(), clean(first, defs, depth));
            }
        }
        Some(items) => {
            out.insert("items".into(), clean(items, defs, depth));
        }
        None => {}
    }
    Value::Object(out)
}

fn with_description(mut v: Value, desc: Option<&Value>) -> Value {
    if let (Some(d), Some(o)) = (desc, v.as_object_mut()) {
        o.insert("description".into(), d.clone());
    }
    v
}

/// `allOf` merges its members; `anyOf`/`oneOf` become `anyOf` (Gemini has no `oneOf`), with a
/// `null` member turned into `nullable` and a single remaining member inlined.
fn combinator(
    key: &str,
    variants: &[Value],
    obj: &Map<String, Value>,
    defs: &Map<String, Value>,
    depth: usize,
) -> Value {
    let desc = obj.get("description");
    if key == "allOf" {
        let mut merged = Map::new();
        for v in variants {
            if let Value::Object(o) = clean(v, defs, depth) {
                for (k, x) in o {
                    match (merged.get_mut(&k), x) {
                        (Some(Value::Object(a)), Value::Object(b)) if k == "properties" => {
                            a.extend(b)
                        }
                        (Some(Value::Array(a)), Value::Array(b)) if k == "required" => a.extend(b),
                        (_, x) => {
                            merged.insert(k, x);
                        }
                    }
                }
            }
        }
        return with_description(Value::Object(merged), desc);
    }
    let is_null = |v: &Value| v.get("type").and_then(Value::as_str) == Some("null");
    let nullable = variants.iter().any(is_null);
    let rest: Vec<Value> = variants
        .iter()
        .filter(|v| !is_null(v))
        .map(|v| clean(v, defs, depth))
        .collect();
    let mut out = match rest.as_slice() {
        [one] => one.clone(),
        _ => json!({ "anyOf": rest }),
    };
    if let Some(o) = out.as_object_mut() {
        if nullable {
            o.insert("nullable".into(), Value::Bool(true));
        }
    }
    with_description(out, desc)
}
