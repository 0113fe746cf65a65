//! Price rules applied on top of list prices: time-of-day windows, context-length tiers given
//! as a multiplier, and batch / flex discounts. Rules live in the catalog (`rules`) and in the
//! config (`[[pricing.rules]]`); both use this one format.
//!
//! ```toml
//! [[pricing.rules]]
//! kind = "window"            # window | tier | batch | flex
//! name = "gpt-5-surge"
//! models = ["openai/gpt-5"]  # exact ids, "provider/*" prefixes, or "*"
//! days = ["mon", "tue", "wed", "thu", "fri"]   # UTC weekday the window starts on; empty = every day
//! start = "14:00"            # UTC, inclusive
//! end = "18:00"              # UTC, exclusive; end <= start wraps past midnight
//! multiplier = "1.5"         # every token class is multiplied
//! ```

use std::fmt;

use chrono::{DateTime, Datelike, Timelike, Utc, Weekday};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Rule {
    /// A multiplier while the UTC clock is inside a window (off-peak discount, peak surcharge).
    Window(WindowRule),
    /// Every token class times `multiplier` when the prompt exceeds `above_input_tokens`.
    Tier(TierRule),
    /// Multiplier for requests sent through the provider's batch API.
    Batch(DiscountRule),
    /// Multiplier for `service_tier: flex` requests.
    Flex(DiscountRule),
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WindowRule {
    pub name: String,
    pub models: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub days: Vec<Day>,
    pub start: ClockTime,
    pub end: ClockTime,
    pub multiplier: Decimal,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TierRule {
    pub name: String,
    pub models: Vec<String>,
    pub above_input_tokens: u64,
    pub multiplier: Decimal,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DiscountRule {
    pub name: String,
    pub models: Vec<String>,
    pub multiplier: Decimal,
}

impl Rule {
    pub fn name(&self) -> &str {
        match self {
            Rule::Window(r) => &r.name,
            Rule::Tier(r) => &r.name,
            Rule::Batch(r) | Rule::Flex(r) => &r.name,
        }
    }

    pub fn models(&self) -> &[String] {
        match self {
            Rule::Window(r) => &r.models,
            Rule::Tier(r) => &r.models,
            Rule::Batch(r) | Rule::Flex(r) => &r.models,
        }
    }

    pub fn multiplier(&self) -> Decimal {
        match self {
            Rule::Window(r) => r.multiplier,
            Rule::Tier(r) => r.multiplier,
            Rule::Batch(r) | Rule::Flex(r) => r.multiplier,
        }
    }

    /// Whether this rule's selector covers `id`.
    pub fn applies_to(&self, id: &str) -> bool {
        self.models().iter().any(|p| selector_matches(p, id))
    }

    pub(crate) fn check(&self, path: &str, errors: &mut Vec<String>) {
        if self.name().trim().is_empty() {
            errors.push(format!(
                "{path}.name: a rule needs a name (it is shown in cost explanations)"
            ));
        }
        if self.models().is_empty() {
            errors.push(format!(
                "{path}.models: empty; list ids, \"provider/*\" or \"*\""
            ));
        }
        let m = self.multiplier();
        if m.is_sign_negative() && !m.is_zero() {
            errors.push(format!("{path}.multiplier: {m} is negative"));
        }
        if let Rule::Window(w) = self
            && w.start == w.end
        {
            errors.push(format!(
                "{path}: start and end are both {}; the window would be empty",
                w.start
            ));
        }
    }
}

/// `*` matches every id; a pattern ending in `*` matches by prefix; anything else exactly.
pub fn selector_matches(pattern: &str, id: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => id.starts_with(prefix),
        None => pattern == id,
    }
}

impl WindowRule {
    /// Whether `at` falls inside the window. A window that wraps past midnight belongs to the
    /// day it starts on, so `fri 22:00-02:00` covers Saturday 01:00 and not Friday 01:00.
    pub fn contains(&self, at: DateTime<Utc>) -> bool {
        let minute = at.hour() * 60 + at.minute();
        let (start, end) = (u32::from(self.start.0), u32::from(self.end.0));
        let today = at.weekday();
        if start < end {
            self.day_ok(today) && minute >= start && minute < end
        } else {
            (minute >= start && self.day_ok(today)) || (minute < end && self.day_ok(today.pred()))
        }
    }

    fn day_ok(&self, d: Weekday) -> bool {
        self.days.is_empty() || self.days.iter().any(|x| x.0 == d)
    }
}

/// Minutes after midnight UTC, written `HH:MM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ClockTime(pub u16);

impl TryFrom<String> for ClockTime {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let bad = || format!("\"{s}\" is not a UTC time of the form HH:MM (00:00..24:00)");
        let (h, m) = s.split_once(':').ok_or_else(bad)?;
        let (h, m): (u16, u16) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
        if m >= 60 || h > 24 || (h == 24 && m != 0) {
            return Err(bad());
        }
        Ok(ClockTime(h * 60 + m))
    }
}

impl From<ClockTime> for String {
    fn from(t: ClockTime) -> String {
        t.to_string()
    }
}

impl fmt::Display for ClockTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.0 / 60, self.0 % 60)
    }
}

/// A weekday written `mon`..`sun`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Day(pub Weekday);

impl TryFrom<String> for Day {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let d = match s.to_ascii_lowercase().as_str() {
            "mon" => Weekday::Mon,
            "tue" => Weekday::Tue,
            "wed" => Weekday::Wed,
            "thu" => Weekday::Thu,
            "fri" => Weekday::Fri,
            "sat" => Weekday::Sat,
            "sun" => Weekday::Sun,
            _ => {
                return Err(format!(
                    "\"{s}\" is not a weekday (mon, tue, wed, thu, fri, sat, sun)"
                ));
            }
        };
        Ok(Day(d))
    }
}

impl From<Day> for String {
    fn from(d: Day) -> String {
        d.0.to_string().to_ascii_lowercase()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn window(days: &[&str], start: &str, end: &str) -> WindowRule {
        WindowRule {
            name: "w".into(),
            models: vec!["*".into()],
            days: days
                .iter()
                .map(|d| Day::try_from((*d).to_string()).expect("day"))
                .collect(),
            start: ClockTime::try_from(start.to_string()).expect("start"),
            end: ClockTime::try_from(end.to_string()).expect("end"),
            multiplier: Decimal::ONE,
        }
    }

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0)
            .single()
            .expect("valid time")
    }

    #[test]
    fn window_membership_table() {
        // 2025-08-01 is a Friday.
        let off_peak = window(&[], "16:30", "00:30");
        let fri_night = window(&["fri"], "22:00", "02:00");
        let weekday_peak = window(&["mon", "tue", "wed", "thu", "fri"], "14:00", "18:00");
        let cases = [
            (&off_peak, at(2025, 8, 1, 16, 29), false),
            (&off_peak, at(2025, 8, 1, 16, 30), true),
            (&off_peak, at(2025, 8, 1, 23, 59), true),
            (&off_peak, at(2025, 8, 2, 0, 29), true),
            (&off_peak, at(2025, 8, 2, 0, 30), false),
            (&fri_night, at(2025, 8, 2, 1, 0), true), // Saturday 01:00, started Friday
            (&fri_night, at(2025, 8, 1, 1, 0), false), // Friday 01:00, started Thursday
            (&fri_night, at(2025, 8, 1, 22, 0), true),
            (&weekday_peak, at(2025, 8, 1, 15, 0), true),
            (&weekday_peak, at(2025, 8, 2, 15, 0), false), // Saturday
            (&weekday_peak, at(2025, 8, 1, 18, 0), false),
        ];
        for (i, (w, t, want)) in cases.iter().enumerate() {
            assert_eq!(w.contains(*t), *want, "case {i}: {t}");
        }
    }

    #[test]
    fn selectors() {
        assert!(selector_matches("*", "openai/gpt-5"));
        assert!(selector_matches("deepseek/*", "deepseek/deepseek-chat"));
        assert!(!selector_matches("deepseek/*", "groq/deepseek-r1"));
        assert!(selector_matches("openai/gpt-5", "openai/gpt-5"));
        assert!(!selector_matches("openai/gpt-5", "openai/gpt-5-mini"));
    }

    #[test]
    fn clock_time_parsing() {
        assert_eq!(ClockTime::try_from("00:30".to_string()), Ok(ClockTime(30)));
        assert_eq!(
            ClockTime::try_from("24:00".to_string()),
            Ok(ClockTime(1440))
        );
        assert!(ClockTime::try_from("24:01".to_string()).is_err());
        assert!(ClockTime::try_from("7pm".to_string()).is_err());
        assert_eq!(ClockTime(990).to_string(), "16:30");
    }
}
