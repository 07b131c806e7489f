//! Typed scalar values (`types.value` in WIT).

use serde::{Deserialize, Serialize};
use std::fmt;

/// A calendar date (no time zone).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
pub struct Date {
    pub year: i32,
    pub month: u8,
    pub day: u8,
}

impl Date {
    pub fn new(year: i32, month: u8, day: u8) -> Self {
        Self { year, month, day }
    }

    /// Parses `YYYY-MM-DD`. Returns `None` for anything else, including
    /// impossible months and days.
    pub fn parse_iso(s: &str) -> Option<Self> {
        let mut parts = s.split('-');
        let year = parts.next()?.parse().ok()?;
        let month: u8 = parts.next()?.parse().ok()?;
        let day: u8 = parts.next()?.parse().ok()?;
        if parts.next().is_some() || !(1..=12).contains(&month) {
            return None;
        }
        if day == 0 || day > days_in_month(year, month) {
            return None;
        }
        Some(Self { year, month, day })
    }
}

fn days_in_month(year: i32, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        _ => 28,
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// One typed value. Money is integer fen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", content = "value", rename_all = "kebab-case")]
pub enum Value {
    Null,
    Boolean(bool),
    Int(i64),
    /// A ratio or physical quantity; never money.
    Float(f64),
    /// Money in fen (分).
    Money(i64),
    /// An exact decimal as text, e.g. "0.1300".
    Decimal(String),
    Text(String),
    Date(Date),
    /// Microseconds since the Unix epoch, UTC.
    Timestamp(i64),
}

impl Value {
    pub fn kind(&self) -> ValueKind {
        match self {
            Value::Null => ValueKind::Null,
            Value::Boolean(_) => ValueKind::Boolean,
            Value::Int(_) => ValueKind::Int,
            Value::Float(_) => ValueKind::Float,
            Value::Money(_) => ValueKind::Money,
            Value::Decimal(_) => ValueKind::Decimal,
            Value::Text(_) => ValueKind::Text,
            Value::Date(_) => ValueKind::Date,
            Value::Timestamp(_) => ValueKind::Timestamp,
        }
    }

    /// The value as text, for keys and parameters (`Null` is empty).
    pub fn to_text(&self) -> String {
        match self {
            Value::Null => String::new(),
            Value::Boolean(b) => b.to_string(),
            Value::Int(i) | Value::Money(i) | Value::Timestamp(i) => i.to_string(),
            Value::Float(f) => f.to_string(),
            Value::Decimal(s) | Value::Text(s) => s.clone(),
            Value::Date(d) => d.to_string(),
        }
    }

    /// A rough size in bytes, used for output-size accounting.
    pub fn approx_size(&self) -> usize {
        match self {
            Value::Decimal(s) | Value::Text(s) => 16 + s.len(),
            _ => 16,
        }
    }
}

/// The kind of a value (`types.value-kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ValueKind {
    Null,
    Boolean,
    Int,
    Float,
    Money,
    Decimal,
    Text,
    Date,
    Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_serialises_as_integer_fen() {
        let json = serde_json::to_string(&Value::Money(123_456)).unwrap();
        assert_eq!(json, r#"{"type":"money","value":123456}"#);
        let back: Value = serde_json::from_str(&json).unwrap();
        assert_eq!(back, Value::Money(123_456));
    }

    #[test]
    fn date_parsing_rejects_impossible_dates() {
        assert_eq!(Date::parse_iso("2024-02-29"), Some(Date::new(2024, 2, 29)));
        assert_eq!(Date::parse_iso("2023-02-29"), None);
        assert_eq!(Date::parse_iso("2023-13-01"), None);
        assert_eq!(Date::parse_iso("2023-1-1x"), None);
        assert_eq!(Date::new(2026, 3, 7).to_string(), "2026-03-07");
    }
}
