//! JSON-schema conformance for the gate: the subset structured-output providers accept
//! (`type`, `properties`, `required`, `additionalProperties: false`, `items`, `enum`, `const`,
//! `anyOf`, `minItems`/`maxItems`, `minimum`/`maximum`, local `$ref` to `$defs`). Unknown
//! keywords are ignored, so a schema using more than this never rejects a valid answer.

use serde_json::Value;

/// `Ok` when `v` conforms to `schema`; otherwise the JSON path of the first violation.
pub fn validate(schema: &Value, v: &Value) -> Result<(), String> {
    check(schema, schema, v, "$")
}

fn type_ok(t: &str, v: &Value) -> bool {
    match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "number" => v.is_number(),
        "integer" => v.as_i64().is_some() || v.as_u64().is_some(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        _ => true,
    }
}

fn check(root: &Value, s: &Value, v: &Value, path: &str) -> Result<(), String> {
    let Some(s) = s.as_object() else {
        return Ok(()); // `true` / `{}`-like schemas accept anything
    };
    if let Some(r) = s.get("$ref").and_then(Value::as_str) {
        let target = r
            .strip_prefix("#/")
            .map(|p| p.split('/').try_fold(root, |node, k| node.get(k)));
        if let Some(Some(t)) = target {
            return check(root, t, v, path);
        }
        return Ok(());
    }
    match s.get("type") {
        Some(Value::String(t)) if !type_ok(t, v) => {
            return Err(format!("{path}: expected {t}"));
        }
        Some(Value::Array(ts)) if !ts.iter().filter_map(Value::as_str).any(|t| type_ok(t, v)) => {
            return Err(format!("{path}: type not allowed"));
        }
        _ => {}
    }
    if let Some(e) = s.get("enum").and_then(Value::as_array) {
        if !e.contains(v) {
            return Err(format!("{path}: not one of the enum values"));
        }
    }
    if let Some(c) = s.get("const") {
        if c != v {
            return Err(format!("{path}: not the const value"));
        }
    }
    if let Some(any) = s.get("anyOf").and_then(Value::as_array) {
        if !any.iter().any(|a| check(root, a, v, path).is_ok()) {
            return Err(format!("{path}: matches none of anyOf"));
        }
    }
    if let Some(n) = v.as_f64() {
        if s.get("minimum")
            .and_then(Value::as_f64)
            .is_some_and(|m| n < m)
        {
            return Err(format!("{path}: below minimum"));
        }
        if s.get("maximum")
            .and_then(Value::as_f64)
            .is_some_and(|m| n > m)
        {
            return Err(format!("{path}: above maximum"));
        }
    }
    if let Some(obj) = v.as_object() {
        let props = s.get("properties").and_then(Value::as_object);
        if let Some(req) = s.get("required").and_then(Value::as_array) {
            for k in req.iter().filter_map(Value::as_str) {
                if !obj.contains_key(k) {
                    return Err(format!("{path}: missing required `{k}`"));
                }
            }
        }
        for (k, x) in obj {
            match props.and_then(|p| p.get(k)) {
                Some(ps) => check(root, ps, x, &format!("{path}.{k}"))?,
                None => {
                    if s.get("additionalProperties") == Some(&Value::Bool(false)) {
                        return Err(format!("{path}: unexpected property `{k}`"));
                    }
                }
            }
        }
    }
    if let Some(arr) = v.as_array() {
        let len = arr.len() as u64;
        if s.get("minItems")
            .and_then(Value::as_u64)
            .is_some_and(|m| len < m)
        {
            return Err(format!("{path}: too few items"));
        }
        if s.get("maxItems")
            .and_then(Value::as_u64)
            .is_some_and(|m| len > m)
        {
            return Err(format!("{path}: too many items"));
        }
        if let Some(items) = s.get("items") {
            for (i, x) in arr.iter().enumerate() {
                check(root, items, x, &format!("{path}[{i}]"))?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn schema_subset() {
        let s = json!({"type": "object", "required": ["a"], "additionalProperties": false,
            "properties": {"a": {"type": "integer", "minimum": 0}, "b": {"type": "array", "items": {"enum": ["x", "y"]}}}});
        assert!(validate(&s, &json!({"a": 1, "b": ["x"]})).is_ok());
        assert!(validate(&s, &json!({"b": []})).is_err());
        assert!(validate(&s, &json!({"a": -1})).is_err());
        assert!(validate(&s, &json!({"a": 1, "c": 2})).is_err());
        assert!(validate(&s, &json!({"a": 1, "b": ["z"]})).is_err());
        assert!(validate(&s, &json!({"a": "1"})).is_err());
        let r = json!({"$defs": {"n": {"type": "number"}}, "type": "array", "items": {"$ref": "#/$defs/n"}});
        assert!(validate(&r, &json!([1, 2.5])).is_ok());
        assert!(validate(&r, &json!([1, "x"])).is_err());
    }
}
