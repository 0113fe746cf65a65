//! The Batch API's objects, field for field as OpenAI returns them (the official SDKs parse
//! them into their `FileObject` and `Batch` models), plus what only the gateway keeps: the
//! owning tenant, never sent back.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use switchyard_core::Usd;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FileObject {
    pub id: String,
    pub object: String,
    pub bytes: u64,
    pub created_at: i64,
    pub filename: String,
    /// `batch` for uploads, `batch_output` for what a batch wrote.
    pub purpose: String,
    pub status: String,
}

/// A file as persisted: the object plus its owner.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredFile {
    pub tenant: String,
    pub file: FileObject,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Validating,
    Failed,
    InProgress,
    Finalizing,
    Completed,
    Expired,
    Cancelling,
    Cancelled,
}

impl Status {
    /// Nothing more will happen to a batch in one of these states.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Status::Failed | Status::Completed | Status::Expired | Status::Cancelled
        )
    }
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Counts {
    pub total: u64,
    pub completed: u64,
    pub failed: u64,
}

/// One reason a batch's input was rejected (`errors.data[]`); `line` is 1-based.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LineError {
    pub code: String,
    pub message: String,
    pub param: Option<String>,
    pub line: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BatchErrors {
    pub object: String,
    pub data: Vec<LineError>,
}

/// Switchyard's addition to the batch object: what its requests cost upstream so far, every
/// attempt included, summed exactly (each line's own `usage.cost` says the same per request).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct BatchCost {
    pub cost: Usd,
}

/// Token totals over the batch's answered lines, in the shape of OpenAI's `Batch.usage`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchUsage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub total_tokens: u64,
    pub input_tokens_details: CachedTokens,
    pub output_tokens_details: ReasoningTokens,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedTokens {
    pub cached_tokens: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReasoningTokens {
    pub reasoning_tokens: u64,
}

impl BatchUsage {
    /// Adds one answered line, from the `usage` of its body (chat or embeddings dialect).
    pub fn add_answer(&mut self, body: &Value) {
        let u = &body["usage"];
        let n = |v: &Value| v.as_u64().unwrap_or(0);
        let (input, output) = (n(&u["prompt_tokens"]), n(&u["completion_tokens"]));
        self.input_tokens += input;
        self.output_tokens += output;
        self.total_tokens += input + output;
        self.input_tokens_details.cached_tokens += n(&u["prompt_tokens_details"]["cached_tokens"]);
        self.output_tokens_details.reasoning_tokens +=
            n(&u["completion_tokens_details"]["reasoning_tokens"]);
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BatchObject {
    pub id: String,
    pub object: String,
    pub endpoint: String,
    pub errors: Option<BatchErrors>,
    pub input_file_id: String,
    pub completion_window: String,
    pub status: Status,
    pub output_file_id: Option<String>,
    pub error_file_id: Option<String>,
    pub created_at: i64,
    pub in_progress_at: Option<i64>,
    pub expires_at: Option<i64>,
    pub finalizing_at: Option<i64>,
    pub completed_at: Option<i64>,
    pub failed_at: Option<i64>,
    pub expired_at: Option<i64>,
    pub cancelling_at: Option<i64>,
    pub cancelled_at: Option<i64>,
    pub request_counts: Counts,
    pub metadata: Option<Value>,
    /// Batches stored before this field existed read as zero usage.
    #[serde(default)]
    pub usage: BatchUsage,
    pub switchyard: BatchCost,
}

/// A batch as persisted: the object, its owner, and the ids its output and error files get
/// (chosen at creation so that a restarted gateway appends to the same files).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredBatch {
    pub tenant: String,
    pub output_id: String,
    pub error_id: String,
    pub batch: BatchObject,
}

/// One line of a batch input file.
#[derive(Debug, Clone, Deserialize)]
pub struct InputLine {
    pub custom_id: String,
    pub method: String,
    pub url: String,
    pub body: Value,
}

/// One line of a batch output or error file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OutputLine {
    pub id: String,
    pub custom_id: String,
    pub response: Option<LineResponse>,
    pub error: Option<LineFailure>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LineResponse {
    pub status_code: u16,
    pub request_id: String,
    pub body: Value,
}

/// A line that never got an HTTP answer (expired, cancelled before it ran).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LineFailure {
    pub code: String,
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn usage_sums_chat_and_embedding_answers() {
        let mut u = BatchUsage::default();
        u.add_answer(&json!({"usage": {
            "prompt_tokens": 10, "completion_tokens": 4, "total_tokens": 14,
            "prompt_tokens_details": {"cached_tokens": 3},
            "completion_tokens_details": {"reasoning_tokens": 2},
        }}));
        u.add_answer(&json!({"usage": {"prompt_tokens": 5, "total_tokens": 5}}));
        u.add_answer(&json!({"error": {"message": "no usage"}}));
        assert_eq!(
            serde_json::to_value(u).unwrap(),
            json!({
                "input_tokens": 15, "output_tokens": 4, "total_tokens": 19,
                "input_tokens_details": {"cached_tokens": 3},
                "output_tokens_details": {"reasoning_tokens": 2},
            })
        );
    }
}
