//! Task classification for routing: precise keyword rules first, then a
//! softmax regression over static embeddings trained offline on labelled
//! prompts (`examples/task_classifier.rs`; only the weights ship).

use std::sync::OnceLock;

use crate::static_model::static_embedder;
use crate::{EmbedError, Embedder};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Task {
    Code,
    Translation,
    /// Math, logic, multiple choice, knowledge questions.
    Reasoning,
    Summarization,
    Extraction,
    Creative,
    Chat,
}

impl Task {
    pub const ALL: [Task; 7] = [
        Task::Code,
        Task::Translation,
        Task::Reasoning,
        Task::Summarization,
        Task::Extraction,
        Task::Creative,
        Task::Chat,
    ];

    /// The name used by `x-switchyard-task` and the routing data's `task_type`.
    pub fn as_str(self) -> &'static str {
        match self {
            Task::Code => "code",
            Task::Translation => "translation",
            Task::Reasoning => "reasoning",
            Task::Summarization => "summarization",
            Task::Extraction => "extraction",
            Task::Creative => "creative",
            Task::Chat => "chat",
        }
    }

    fn index(self) -> u8 {
        self as u8
    }
}

impl std::fmt::Display for Task {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Task {
    type Err = EmbedError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Task::ALL
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| EmbedError::Format(format!("unknown task {s:?}")))
    }
}

/// Only prompt heads are inspected: the instruction is nearly always up front,
/// and scanning a 100 kB document would cost more than the routing is worth.
const RULE_SCAN_CHARS: usize = 600;

const LANGUAGES: &[&str] = &[
    "english",
    "french",
    "german",
    "spanish",
    "italian",
    "portuguese",
    "dutch",
    "russian",
    "chinese",
    "mandarin",
    "japanese",
    "korean",
    "arabic",
    "hindi",
    "turkish",
    "polish",
    "swedish",
    "czech",
    "finnish",
    "greek",
    "hebrew",
    "vietnamese",
    "thai",
    "indonesian",
    "ukrainian",
    "gujarati",
    "kazakh",
    "lithuanian",
];

fn head(prompt: &str) -> String {
    let end = prompt
        .char_indices()
        .nth(RULE_SCAN_CHARS)
        .map_or(prompt.len(), |(i, _)| i);
    prompt[..end].to_lowercase()
}

fn has_any(text: &str, needles: &[&str]) -> bool {
    needles.iter().any(|n| text.contains(n))
}

/// Multiple-choice layout: options "A) .. B) .." / "(A) .. (B)" / "A. .. B." on their own lines.
fn looks_multiple_choice(prompt: &str) -> bool {
    let mut seen = 0u8;
    for line in prompt.lines() {
        let l = line.trim_start();
        for (i, letter) in ['A', 'B', 'C', 'D'].into_iter().enumerate() {
            let forms = [
                format!("{letter})"),
                format!("({letter})"),
                format!("{letter}."),
            ];
            if forms.iter().any(|f| l.starts_with(f.as_str())) {
                seen |= 1 << i;
            }
        }
    }
    seen.count_ones() >= 3
}

/// High-precision keyword rules; `None` when no rule is confident.
pub fn classify_rules(prompt: &str) -> Option<Task> {
    let h = head(prompt);
    let translate_verb = has_any(
        &h,
        &[
            "translate",
            "translation",
            "übersetze",
            "traduis",
            "traduce",
            "traduz",
        ],
    );
    if translate_verb && (LANGUAGES.iter().any(|l| h.contains(l)) || h.contains("language")) {
        return Some(Task::Translation);
    }
    if has_any(
        &h,
        &[
            "summarize",
            "summarise",
            "summary",
            "tl;dr",
            "tldr",
            "condense",
            "key takeaways",
        ],
    ) {
        return Some(Task::Summarization);
    }
    if has_any(
        &h,
        &[
            "extract ",
            "extract:",
            "pull out all",
            "list all the names",
            "named entities",
        ],
    ) || (h.contains("json") && has_any(&h, &["fields", "schema", "keys"]))
    {
        return Some(Task::Extraction);
    }
    if prompt.contains("```")
        || has_any(
            &h,
            &[
                "python",
                "javascript",
                "typescript",
                "rust ",
                "golang",
                "java ",
                "c++",
                "sql",
                "regex",
                "function",
                "def ",
                "class ",
                "compile",
                "stack trace",
                "traceback",
                "refactor",
                "unit test",
                "algorithm",
                "implement",
            ],
        )
    {
        return Some(Task::Code);
    }
    if has_any(
        &h,
        &[
            "write a poem",
            "haiku",
            "limerick",
            "short story",
            "lyrics",
            "sonnet",
            "write a story",
        ],
    ) {
        return Some(Task::Creative);
    }
    if looks_multiple_choice(prompt)
        || has_any(
            &h,
            &[
                "solve",
                "calculate",
                "prove that",
                "how many",
                "what is the probability",
                "compute",
            ],
        )
    {
        return Some(Task::Reasoning);
    }
    None
}

/// Softmax regression over embeddings: `scores = W e + b`.
#[derive(Debug, Clone)]
pub struct TaskClassifier {
    tasks: Vec<Task>,
    dim: usize,
    /// Per task: `dim` weights then the bias.
    weights: Vec<f32>,
}

const CLASSIFIER_MAGIC: &[u8; 8] = b"SYTASK01";
static BUILTIN_CLASSIFIER: &[u8] = include_bytes!("../data/task_classifier.bin");

/// The built-in classifier, parsed once.
pub fn task_classifier() -> &'static TaskClassifier {
    static MODEL: OnceLock<TaskClassifier> = OnceLock::new();
    MODEL.get_or_init(|| {
        #[expect(
            clippy::expect_used,
            reason = "the built-in weights are compiled in and checked by tests; a bad file is a build defect"
        )]
        TaskClassifier::from_bytes(BUILTIN_CLASSIFIER).expect("built-in task classifier is valid")
    })
}

impl TaskClassifier {
    /// Trains by full-batch gradient descent on class-balanced cross-entropy
    /// with L2 penalty `l2`. Balanced because the labelled data is mostly
    /// reasoning and a plain fit would almost never say anything else.
    pub fn train(
        examples: &[(Vec<f32>, Task)],
        epochs: usize,
        lr: f32,
        l2: f32,
    ) -> Result<Self, EmbedError> {
        let dim = examples
            .first()
            .map(|(e, _)| e.len())
            .ok_or_else(|| EmbedError::Format("no examples".into()))?;
        let mut tasks: Vec<Task> = examples.iter().map(|(_, t)| *t).collect();
        tasks.sort_unstable();
        tasks.dedup();
        let k = tasks.len();
        let counts: Vec<usize> = tasks
            .iter()
            .map(|t| examples.iter().filter(|(_, x)| x == t).count())
            .collect();
        let class_weight: Vec<f32> = counts
            .iter()
            .map(|&c| examples.len() as f32 / (k * c) as f32)
            .collect();
        let mut model = Self {
            tasks,
            dim,
            weights: vec![0.0; k * (dim + 1)],
        };
        let mut grad = vec![0.0f32; model.weights.len()];
        for _ in 0..epochs {
            grad.fill(0.0);
            for (e, t) in examples {
                let y = model.tasks.iter().position(|x| x == t).unwrap_or(0);
                let p = model.probabilities(e);
                let w = class_weight[y];
                for (c, pc) in p.iter().enumerate() {
                    let g = w * (pc - if c == y { 1.0 } else { 0.0 });
                    let row = &mut grad[c * (dim + 1)..(c + 1) * (dim + 1)];
                    for (gi, &x) in row.iter_mut().zip(e) {
                        *gi += g * x;
                    }
                    row[dim] += g;
                }
            }
            let n = examples.len() as f32;
            for (wi, gi) in model.weights.iter_mut().zip(&grad) {
                *wi -= lr * (gi / n + l2 * *wi);
            }
        }
        Ok(model)
    }

    pub fn probabilities(&self, embedding: &[f32]) -> Vec<f32> {
        let mut s: Vec<f32> = self
            .weights
            .chunks_exact(self.dim + 1)
            .map(|w| {
                w[..self.dim]
                    .iter()
                    .zip(embedding)
                    .map(|(a, b)| a * b)
                    .sum::<f32>()
                    + w[self.dim]
            })
            .collect();
        let max = s.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        s.iter_mut().for_each(|x| *x = (*x - max).exp());
        let z: f32 = s.iter().sum();
        s.iter_mut().for_each(|x| *x /= z);
        s
    }

    pub fn tasks(&self) -> &[Task] {
        &self.tasks
    }

    /// Most probable task and its probability.
    pub fn predict(&self, embedding: &[f32]) -> (Task, f32) {
        let p = self.probabilities(embedding);
        let (i, &best) = p
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .unwrap_or((0, &0.0));
        (self.tasks.get(i).copied().unwrap_or(Task::Chat), best)
    }

    /// `SYTASK01`, `k: u32`, `dim: u32`, `k` task indices (u8), `k * (dim + 1)` f32.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = CLASSIFIER_MAGIC.to_vec();
        out.extend((self.tasks.len() as u32).to_le_bytes());
        out.extend((self.dim as u32).to_le_bytes());
        out.extend(self.tasks.iter().map(|t| t.index()));
        for w in &self.weights {
            out.extend(w.to_le_bytes());
        }
        out
    }

    pub fn from_bytes(b: &[u8]) -> Result<Self, EmbedError> {
        let bad = |m: &str| EmbedError::Format(format!("task classifier: {m}"));
        if b.len() < 16 || &b[..8] != CLASSIFIER_MAGIC {
            return Err(bad("bad magic"));
        }
        let k = u32::from_le_bytes([b[8], b[9], b[10], b[11]]) as usize;
        let dim = u32::from_le_bytes([b[12], b[13], b[14], b[15]]) as usize;
        if k == 0 || b.len() != 16 + k + 4 * k * (dim + 1) {
            return Err(bad("size does not match header"));
        }
        let tasks = b[16..16 + k]
            .iter()
            .map(|&i| {
                Task::ALL
                    .get(usize::from(i))
                    .copied()
                    .ok_or_else(|| bad("unknown task index"))
            })
            .collect::<Result<_, _>>()?;
        let weights = b[16 + k..]
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        Ok(Self {
            tasks,
            dim,
            weights,
        })
    }
}

/// Below this probability the embedding classifier defers to a firing rule.
/// Chosen on the training part by macro accuracy (`examples/task_classifier.rs`).
pub const RULES_OVERRIDE_BELOW: f32 = 0.6;

impl TaskClassifier {
    /// Combines the classifier with [`classify_rules`]: the classifier decides
    /// when it is at least [`RULES_OVERRIDE_BELOW`] sure; otherwise a firing
    /// rule decides. Rules for tasks the classifier was never trained on
    /// (extraction, creative) always decide, since nothing else can name them.
    /// The confidence is the classifier's probability of the returned task.
    pub fn classify_embedded(&self, prompt: &str, embedding: &[f32]) -> (Task, f32) {
        let p = self.probabilities(embedding);
        let prob = |t: Task| {
            self.tasks
                .iter()
                .position(|&x| x == t)
                .map_or(0.0, |i| p[i])
        };
        let (best, best_p) = self.predict(embedding);
        match classify_rules(prompt) {
            Some(rule) if !self.tasks.contains(&rule) || best_p < RULES_OVERRIDE_BELOW => {
                (rule, prob(rule))
            }
            _ => (best, best_p),
        }
    }
}

/// Task of a prompt and the classifier's probability for it; about as fast as
/// one static embedding (see `benches/embed.rs`).
pub fn classify(prompt: &str) -> (Task, f32) {
    task_classifier().classify_embedded(prompt, &static_embedder().embed(prompt))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_catch_clear_cases_and_abstain_otherwise() {
        assert_eq!(
            classify_rules("Translate into French: good morning"),
            Some(Task::Translation)
        );
        assert_eq!(
            classify_rules("Please summarize the following article"),
            Some(Task::Summarization)
        );
        assert_eq!(
            classify_rules("Write a Python function that reverses a list"),
            Some(Task::Code)
        );
        assert_eq!(
            classify_rules("Q?\nA) x\nB) y\nC) z\nD) w"),
            Some(Task::Reasoning)
        );
        assert_eq!(
            classify_rules("Write a haiku about autumn"),
            Some(Task::Creative)
        );
        assert_eq!(
            classify_rules("Extract the dates from this email"),
            Some(Task::Extraction)
        );
        assert_eq!(classify_rules("hi, how are you today?"), None);
        assert_eq!("Code".parse::<Task>().ok(), Some(Task::Code));
    }

    #[test]
    fn training_separates_toy_classes_and_round_trips() {
        let ex = vec![
            (vec![1.0, 0.0], Task::Code),
            (vec![0.9, 0.1], Task::Code),
            (vec![0.0, 1.0], Task::Chat),
            (vec![0.1, 0.9], Task::Chat),
            (vec![0.2, 0.8], Task::Chat),
        ];
        let m = TaskClassifier::train(&ex, 300, 1.0, 0.0).unwrap();
        assert_eq!(m.predict(&[0.95, 0.05]).0, Task::Code);
        assert_eq!(m.predict(&[0.05, 0.95]).0, Task::Chat);
        let back = TaskClassifier::from_bytes(&m.to_bytes()).unwrap();
        assert_eq!(back.predict(&[0.95, 0.05]), m.predict(&[0.95, 0.05]));
        assert!(TaskClassifier::from_bytes(&m.to_bytes()[..20]).is_err());
    }

    #[test]
    fn builtin_classifier_labels_obvious_prompts() {
        assert_eq!(
            classify("Write a Python function to merge two sorted lists").0,
            Task::Code
        );
        let (t, c) = classify(
            "Natalia sold clips to 48 of her friends in April, and then half as many in May. How many clips did she sell altogether?",
        );
        assert_eq!(t, Task::Reasoning);
        assert!((0.0..=1.0).contains(&c));
    }
}
