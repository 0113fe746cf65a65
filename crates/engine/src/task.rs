//! The request's task, for per-task quality floors: named by the client (`x-switchyard-task`
//! or `switchyard.task` in the body, header first), or else classified from the prompt by
//! `switchyard-embed` (keyword rules plus a classifier over static embeddings, offline, a few
//! microseconds). The classifier call lives only here, so swapping it is a one-line change.

use serde::Serialize;
use switchyard_core::{ChatRequest, Role};

use crate::controls::Controls;

/// How the task was determined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskSource {
    /// `x-switchyard-task` header or `switchyard.task` in the body.
    Request,
    /// `switchyard_embed::classify` on the last user message.
    Classifier,
    /// No user text to classify.
    Unknown,
    /// A concrete model with no quality floor: nothing depends on the task, so the prompt
    /// is not classified.
    NotNeeded,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskPick {
    pub task: Option<String>,
    pub source: TaskSource,
    /// The classifier's probability of its answer; absent when the client named the task.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f32>,
}

/// The classifier reads at most this many bytes: the task shows in the opening of a prompt,
/// and the bound keeps the embedding step far under its 1 ms budget for long prompts.
const CLASSIFY_BYTES: usize = 2048;

/// The task the client named, without classifying.
pub fn named(controls: &Controls) -> TaskPick {
    TaskPick {
        task: controls.task.as_ref().map(|t| t.to_ascii_lowercase()),
        source: if controls.task.is_some() {
            TaskSource::Request
        } else {
            TaskSource::NotNeeded
        },
        confidence: None,
    }
}

pub fn detect(req: &ChatRequest, controls: &Controls) -> TaskPick {
    if controls.task.is_some() {
        return named(controls);
    }
    let Some(text) = req
        .messages
        .iter()
        .rev()
        .find(|m| m.role == Role::User)
        .map(|m| m.text_content())
        .filter(|t| !t.trim().is_empty())
    else {
        return TaskPick {
            task: None,
            source: TaskSource::Unknown,
            confidence: None,
        };
    };
    let (task, p) = switchyard_embed::classify(head(&text, CLASSIFY_BYTES));
    TaskPick {
        task: Some(task.as_str().to_owned()),
        source: TaskSource::Classifier,
        confidence: Some(p),
    }
}

/// The first `max` bytes of `s`, cut at a char boundary.
fn head(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn req(text: &str) -> ChatRequest {
        serde_json::from_value(json!({"model": "auto", "messages": [
            {"role": "system", "content": "You are helpful."},
            {"role": "user", "content": text}
        ]}))
        .unwrap()
    }

    #[test]
    fn the_client_names_the_task_first() {
        let c = Controls {
            task: Some("Extraction".into()),
            ..Controls::default()
        };
        let p = detect(&req("Write a Python function that sorts a list"), &c);
        assert_eq!(p.task.as_deref(), Some("extraction"));
        assert_eq!(p.source, TaskSource::Request);
    }

    #[test]
    fn otherwise_the_prompt_is_classified() {
        let p = detect(
            &req("Write a Python function that reverses a linked list."),
            &Controls::default(),
        );
        assert_eq!(p.task.as_deref(), Some("code"));
        assert_eq!(p.source, TaskSource::Classifier);
        let p = detect(
            &req("Translate into French: the weather is lovely today."),
            &Controls::default(),
        );
        assert_eq!(p.task.as_deref(), Some("translation"));
    }

    #[test]
    fn no_user_text_is_unknown_and_long_text_is_cut_safely() {
        let mut r = req("x");
        r.messages.truncate(1);
        assert_eq!(detect(&r, &Controls::default()).source, TaskSource::Unknown);
        let long = "é".repeat(5000);
        assert!(head(&long, CLASSIFY_BYTES).len() <= CLASSIFY_BYTES);
    }
}
