//! Public price lists into the catalog format (`switchyard prices import`).
//!
//! Prices in those files are USD per token; the catalog keeps USD per 1M tokens. Conversion
//! goes through each number's own text (`1.5e-07` -> `0.15`), never through `f64`.

mod litellm;
mod openrouter;

use std::str::FromStr;

use rust_decimal::Decimal;

pub use litellm::import_litellm;
pub use openrouter::import_openrouter;

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("not valid JSON at {path}: {message}")]
    Json { path: String, message: String },
    #[error("{0}")]
    Invalid(String),
}

/// A per-token price written as decimal text (plain or scientific), as USD per 1M tokens.
pub(crate) fn per_mtok(text: &str) -> Option<Decimal> {
    let t = text.trim().trim_matches('"');
    let d = Decimal::from_str(t)
        .or_else(|_| Decimal::from_scientific(t))
        .ok()?;
    Some((d * Decimal::from(1_000_000u32)).normalize())
}

/// Month of the import, for the catalog's `as_of`.
pub(crate) fn this_month() -> String {
    chrono::Utc::now().format("%Y-%m").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_token_text_to_per_million_exactly() {
        let cases = [
            ("1.5e-07", "0.15"),
            ("0.00000015", "0.15"),
            ("2e-06", "2"),
            ("1.5000020000000002e-05", "15.000020000000002"),
            ("\"0.000000075\"", "0.075"),
            ("0", "0"),
            ("0.0", "0"),
            ("3.75e-06", "3.75"),
        ];
        for (text, want) in cases {
            assert_eq!(
                per_mtok(text).map(|d| d.to_string()).as_deref(),
                Some(want),
                "{text}"
            );
        }
        assert_eq!(per_mtok("n/a"), None);
    }
}
