//! A batch's input file, checked as OpenAI checks it before running anything: every line a
//! request object for the batch's endpoint with a unique `custom_id`.

use std::collections::HashSet;

use super::types::{InputLine, LineError};

pub(crate) fn line_error(code: &str, message: String, line: Option<u64>) -> LineError {
    LineError {
        code: code.into(),
        message,
        param: None,
        line,
    }
}

/// Every line must be a request object for the batch's endpoint with a unique `custom_id`,
/// as OpenAI checks before running anything; the first 100 problems are reported.
pub(crate) fn parse_input(
    input: &[u8],
    endpoint: &str,
    max_lines: usize,
) -> Result<Vec<InputLine>, Vec<LineError>> {
    let mut lines = Vec::new();
    let mut errors = Vec::new();
    let mut seen = HashSet::new();
    for (i, raw) in input.split(|&b| b == b'\n').enumerate() {
        let n = Some(i as u64 + 1);
        if raw.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<InputLine>(raw) {
            Err(e) => errors.push(line_error(
                "invalid_json_line",
                format!("This line is not a batch request object: {e}"),
                n,
            )),
            Ok(l) if l.method != "POST" => errors.push(line_error(
                "invalid_method",
                format!("`method` must be POST, got '{}'.", l.method),
                n,
            )),
            Ok(l) if l.url != endpoint => errors.push(line_error(
                "mismatched_url",
                format!(
                    "`url` is '{}', but the batch's endpoint is '{endpoint}'.",
                    l.url
                ),
                n,
            )),
            Ok(l) if !l.body.is_object() => errors.push(line_error(
                "invalid_body",
                "`body` must be a JSON object.".into(),
                n,
            )),
            Ok(l) if !seen.insert(l.custom_id.clone()) => errors.push(line_error(
                "duplicate_custom_id",
                format!("`custom_id` '{}' appears more than once.", l.custom_id),
                n,
            )),
            Ok(l) => lines.push(l),
        }
    }
    if lines.is_empty() && errors.is_empty() {
        errors.push(line_error(
            "empty_file",
            "The input file holds no requests.".into(),
            None,
        ));
    }
    if lines.len() > max_lines {
        errors.push(line_error(
            "too_many_requests",
            format!(
                "The input file holds {} requests; the limit is {max_lines} ([batches] max_lines).",
                lines.len()
            ),
            None,
        ));
    }
    errors.truncate(100);
    if errors.is_empty() {
        Ok(lines)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::parse_input;

    fn codes(input: &str) -> Vec<(String, Option<u64>)> {
        match parse_input(input.as_bytes(), "/v1/chat/completions", 3) {
            Ok(lines) => lines.into_iter().map(|l| (l.custom_id, None)).collect(),
            Err(errors) => errors.into_iter().map(|e| (e.code, e.line)).collect(),
        }
    }

    fn line(id: &str, method: &str, url: &str, body: &str) -> String {
        format!(r#"{{"custom_id":"{id}","method":"{method}","url":"{url}","body":{body}}}"#)
    }

    #[test]
    fn input_lines_are_checked_like_openai_checks_them() {
        let ok = |id: &str| line(id, "POST", "/v1/chat/completions", "{}");
        let s = |v: &[(&str, Option<u64>)]| -> Vec<(String, Option<u64>)> {
            v.iter().map(|(c, l)| ((*c).to_owned(), *l)).collect()
        };
        // Blank lines (a trailing newline, CRLF files' empty tails) are not requests.
        assert_eq!(
            codes(&format!("{}\n\n{}\n", ok("a"), ok("b"))),
            s(&[("a", None), ("b", None)])
        );
        let table = [
            (
                format!("{}\nnot json\n", ok("a")),
                s(&[("invalid_json_line", Some(2))]),
            ),
            (
                line("a", "GET", "/v1/chat/completions", "{}"),
                s(&[("invalid_method", Some(1))]),
            ),
            (
                line("a", "POST", "/v1/embeddings", "{}"),
                s(&[("mismatched_url", Some(1))]),
            ),
            (
                line("a", "POST", "/v1/chat/completions", "[]"),
                s(&[("invalid_body", Some(1))]),
            ),
            (
                format!("{}\n{}", ok("a"), ok("a")),
                s(&[("duplicate_custom_id", Some(2))]),
            ),
            ("\n \n".to_owned(), s(&[("empty_file", None)])),
            (
                (0..4).map(|i| ok(&i.to_string()) + "\n").collect(),
                s(&[("too_many_requests", None)]),
            ),
        ];
        for (input, want) in table {
            assert_eq!(codes(&input), want, "{input}");
        }
    }
}
