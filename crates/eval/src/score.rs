//! Suite items and their scorers.

use serde::Deserialize;
use serde_json::Value;

/// One line of a suite (JSONL).
#[derive(Debug, Clone, Deserialize)]
pub struct SuiteItem {
    #[serde(default)]
    pub id: Option<String>,
    pub prompt: String,
    #[serde(default = "default_task")]
    pub task: String,
    /// The expected answer (a pattern for `regex`, a number for `numeric`, a JSON value or a
    /// JSON schema for `json`, a rubric for `judge`).
    pub reference: Value,
    pub scorer: Scorer,
    /// Relative tolerance for `numeric` (default 1e-6).
    #[serde(default)]
    pub tolerance: Option<f64>,
}

fn default_task() -> String {
    "chat".to_owned()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scorer {
    /// Trimmed, case-insensitive equality.
    Exact,
    /// The reference occurs in the answer (case-insensitive).
    Contains,
    /// The reference is a regex the answer must match.
    Regex,
    /// The last number in the answer equals the reference within the tolerance.
    Numeric,
    /// The answer parses as JSON and equals the reference, or (when the reference is an object
    /// with `$schema` or `type`) conforms to it as a schema.
    Json,
    /// A judge model scores the answer 1..10 against the reference rubric (scaled to 0..1).
    Judge,
}

/// Score an answer 0..1 for every scorer except `Judge` (which needs a model call).
pub fn score_local(item: &SuiteItem, answer: &str) -> Option<f64> {
    let refs = match &item.reference {
        Value::String(s) => s.clone(),
        v => v.to_string(),
    };
    let b = |x: bool| Some(if x { 1.0 } else { 0.0 });
    match item.scorer {
        Scorer::Exact => b(answer.trim().eq_ignore_ascii_case(refs.trim())),
        Scorer::Contains => b(answer.to_lowercase().contains(&refs.to_lowercase())),
        Scorer::Regex => regex::Regex::new(&refs)
            .ok()
            .map(|r| if r.is_match(answer) { 1.0 } else { 0.0 }),
        Scorer::Numeric => {
            let want: f64 = refs.trim().parse().ok()?;
            let got = last_number(answer)?;
            let tol = item.tolerance.unwrap_or(1e-6);
            b((got - want).abs() <= tol * want.abs().max(1.0))
        }
        Scorer::Json => {
            let got: Value = match serde_json::from_str(strip_fence(answer)) {
                Ok(v) => v,
                Err(_) => return Some(0.0),
            };
            let is_schema = item
                .reference
                .as_object()
                .is_some_and(|o| o.contains_key("$schema") || o.contains_key("type"));
            if is_schema {
                b(switchyard_engine::cascade::validate_schema(&item.reference, &got).is_ok())
            } else {
                b(got == item.reference)
            }
        }
        Scorer::Judge => None,
    }
}

fn strip_fence(s: &str) -> &str {
    let t = s.trim();
    let t = t
        .strip_prefix("```json")
        .or_else(|| t.strip_prefix("```"))
        .unwrap_or(t);
    t.strip_suffix("```").unwrap_or(t).trim()
}

/// The last number in a text (`"so the answer is 1,234.5."` -> 1234.5).
pub fn last_number(s: &str) -> Option<f64> {
    let re = regex::Regex::new(r"-?\d[\d,]*(?:\.\d+)?").ok()?;
    re.find_iter(s)
        .last()
        .and_then(|m| m.as_str().replace(',', "").parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn item(scorer: Scorer, reference: Value) -> SuiteItem {
        SuiteItem {
            id: None,
            prompt: String::new(),
            task: "t".into(),
            reference,
            scorer,
            tolerance: None,
        }
    }

    #[test]
    fn scorers() {
        assert_eq!(
            score_local(&item(Scorer::Exact, json!("Paris")), " paris "),
            Some(1.0)
        );
        assert_eq!(
            score_local(&item(Scorer::Exact, json!("Paris")), "Lyon"),
            Some(0.0)
        );
        assert_eq!(
            score_local(&item(Scorer::Contains, json!("paris")), "It is Paris."),
            Some(1.0)
        );
        assert_eq!(
            score_local(&item(Scorer::Regex, json!("^B\\b")), "B is right"),
            Some(1.0)
        );
        assert_eq!(
            score_local(&item(Scorer::Numeric, json!("1234.5")), "so 1,234.5."),
            Some(1.0)
        );
        assert_eq!(
            score_local(&item(Scorer::Numeric, json!(12)), "11 or 13"),
            Some(0.0)
        );
        assert_eq!(
            score_local(
                &item(Scorer::Json, json!({"a": 1})),
                "```json\n{\"a\": 1}\n```"
            ),
            Some(1.0)
        );
        let schema = json!({"type": "object", "required": ["a"]});
        assert_eq!(
            score_local(&item(Scorer::Json, schema.clone()), "{\"a\": 2}"),
            Some(1.0)
        );
        assert_eq!(
            score_local(&item(Scorer::Json, schema), "{\"b\": 2}"),
            Some(0.0)
        );
        assert_eq!(
            score_local(&item(Scorer::Judge, json!("rubric")), "x"),
            None
        );
    }
}
