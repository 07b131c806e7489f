//! Helpers on the contract's scalar types: [`Value`], [`Date`], [`AppError`].

use crate::{AppError, Date, Value, ValueKind};
use std::fmt;

impl Value {
    /// A text value.
    pub fn text(text: impl Into<String>) -> Self {
        Value::Text(text.into())
    }
    /// A money value in fen.
    pub fn money(fen: i64) -> Self {
        Value::Money(fen)
    }
    /// An integer (a count, a quantity; never money).
    pub fn int(n: i64) -> Self {
        Value::Int(n)
    }
    /// A ratio or physical quantity (never money).
    pub fn float(x: f64) -> Self {
        Value::Float(x)
    }
    pub fn bool(b: bool) -> Self {
        Value::Boolean(b)
    }
    pub fn date(date: Date) -> Self {
        Value::Date(date)
    }
    /// A float ratio, or null when there is none (e.g. a zero denominator).
    pub fn opt_float(x: Option<f64>) -> Self {
        x.map_or(Value::Null, Value::Float)
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_money(&self) -> Option<i64> {
        match self {
            Value::Money(fen) => Some(*fen),
            _ => None,
        }
    }
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(n) => Some(*n),
            _ => None,
        }
    }
    pub fn as_float(&self) -> Option<f64> {
        match self {
            Value::Float(x) => Some(*x),
            _ => None,
        }
    }
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Boolean(b) => Some(*b),
            _ => None,
        }
    }
    pub fn as_date(&self) -> Option<Date> {
        match self {
            Value::Date(d) => Some(*d),
            _ => None,
        }
    }

    /// The kind of this value (for column metadata).
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

    /// A short description for error messages: `text "abc"`, `money 12.34 元`.
    pub fn describe(&self) -> String {
        match self {
            Value::Null => "null".to_string(),
            Value::Text(s) | Value::Decimal(s) => {
                let kind = if matches!(self, Value::Text(_)) {
                    "text"
                } else {
                    "decimal"
                };
                let mut shown: String = s.chars().take(40).collect();
                if shown.len() < s.len() {
                    shown.push('…');
                }
                format!("{kind} {shown:?}")
            }
            other => format!("{} {other}", kind_name(other.kind())),
        }
    }
}

/// The WIT name of a value kind, for messages.
pub fn kind_name(kind: ValueKind) -> &'static str {
    match kind {
        ValueKind::Null => "null",
        ValueKind::Boolean => "boolean",
        ValueKind::Int => "int",
        ValueKind::Float => "float",
        ValueKind::Money => "money",
        ValueKind::Decimal => "decimal",
        ValueKind::Text => "text",
        ValueKind::Date => "date",
        ValueKind::Timestamp => "timestamp",
    }
}

/// Displays a value as a person would read it: money in 元 (`1,234.56`), dates
/// as `2026-11-30`, null as the empty string.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => Ok(()),
            Value::Boolean(b) => write!(f, "{b}"),
            Value::Int(n) => write!(f, "{n}"),
            Value::Float(x) => write!(f, "{x}"),
            Value::Money(fen) => f.write_str(&crate::format_yuan(*fen)),
            Value::Decimal(s) | Value::Text(s) => f.write_str(s),
            Value::Date(d) => write!(f, "{d}"),
            Value::Timestamp(us) => write!(f, "{us}µs"),
        }
    }
}

// Conversions for the obvious cases only. There is deliberately no
// `From<i64>`: an integer could be fen or a count, and guessing wrong would
// silently turn money into an int. Write `Value::money(fen)` or `Value::int(n)`.
impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Text(s.to_string())
    }
}
impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Text(s)
    }
}
impl From<&String> for Value {
    fn from(s: &String) -> Self {
        Value::Text(s.clone())
    }
}
impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Boolean(b)
    }
}
impl From<Date> for Value {
    fn from(d: Date) -> Self {
        Value::Date(d)
    }
}

impl Date {
    /// A date; call [`Date::is_valid`] if the parts come from outside.
    pub const fn new(year: i32, month: u8, day: u8) -> Self {
        Date { year, month, day }
    }

    /// Parses `YYYY-MM-DD` or `YYYYMMDD`. `None` for anything else,
    /// including impossible dates such as `2026-02-30`.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        let (y, m, d) = if text.len() == 8 && text.bytes().all(|b| b.is_ascii_digit()) {
            (&text[0..4], &text[4..6], &text[6..8])
        } else {
            let mut parts = text.split('-');
            let parts = (parts.next()?, parts.next()?, parts.next()?, parts.next());
            if parts.3.is_some() || parts.0.len() != 4 || parts.1.len() != 2 || parts.2.len() != 2 {
                return None;
            }
            (parts.0, parts.1, parts.2)
        };
        let date = Date::new(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?);
        date.is_valid().then_some(date)
    }

    /// Whether month and day exist in the calendar.
    pub fn is_valid(&self) -> bool {
        (1..=12).contains(&self.month)
            && self.day >= 1
            && self.day <= days_in_month(self.year, self.month)
    }

    /// Days since 1970-01-01 (negative before). Howard Hinnant's
    /// `days_from_civil`, exact for the proleptic Gregorian calendar.
    pub fn to_days(&self) -> i64 {
        let m = i64::from(self.month);
        let d = i64::from(self.day);
        let y = i64::from(self.year) - i64::from(m <= 2);
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let mp = (m + 9) % 12;
        let doy = (153 * mp + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    /// The inverse of [`Date::to_days`].
    pub fn from_days(days: i64) -> Self {
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
        let year = yoe + era * 400 + i64::from(month <= 2);
        Date::new(year as i32, month, day)
    }

    /// This date moved by `days` (negative for earlier).
    pub fn add_days(&self, days: i64) -> Self {
        Date::from_days(self.to_days() + days)
    }

    /// The first day of this date's month.
    pub fn first_of_month(&self) -> Self {
        Date::new(self.year, self.month, 1)
    }

    /// The last day of this date's month.
    pub fn last_of_month(&self) -> Self {
        Date::new(self.year, self.month, days_in_month(self.year, self.month))
    }
}

fn days_in_month(year: i32, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 0,
    }
}

/// `2026-11-30`.
impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl AppError {
    pub fn access_denied(message: impl Into<String>) -> Self {
        AppError::AccessDenied(message.into())
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        AppError::NotFound(message.into())
    }
    pub fn invalid_input(message: impl Into<String>) -> Self {
        AppError::InvalidInput(message.into())
    }
    pub fn quota_exceeded(message: impl Into<String>) -> Self {
        AppError::QuotaExceeded(message.into())
    }
    pub fn timeout(message: impl Into<String>) -> Self {
        AppError::Timeout(message.into())
    }
    pub fn internal(message: impl Into<String>) -> Self {
        AppError::Internal(message.into())
    }

    /// The message, whatever the kind.
    pub fn message(&self) -> &str {
        match self {
            AppError::AccessDenied(m)
            | AppError::NotFound(m)
            | AppError::InvalidInput(m)
            | AppError::QuotaExceeded(m)
            | AppError::Timeout(m)
            | AppError::Internal(m) => m,
        }
    }

    /// The same error with `context: ` put in front of its message, e.g. the
    /// dataset a failed query ran on. The kind is kept, so the host still
    /// sees a quota error as a quota error.
    pub fn context(self, context: impl fmt::Display) -> Self {
        let prefix = |m: String| format!("{context}: {m}");
        match self {
            AppError::AccessDenied(m) => AppError::AccessDenied(prefix(m)),
            AppError::NotFound(m) => AppError::NotFound(prefix(m)),
            AppError::InvalidInput(m) => AppError::InvalidInput(prefix(m)),
            AppError::QuotaExceeded(m) => AppError::QuotaExceeded(prefix(m)),
            AppError::Timeout(m) => AppError::Timeout(prefix(m)),
            AppError::Internal(m) => AppError::Internal(prefix(m)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_iso_and_compact_dates() {
        assert_eq!(Date::parse("2026-11-30"), Some(Date::new(2026, 11, 30)));
        assert_eq!(Date::parse("20261130"), Some(Date::new(2026, 11, 30)));
        assert_eq!(Date::parse("2024-02-29"), Some(Date::new(2024, 2, 29)));
        for bad in [
            "2026-02-29",
            "2026-13-01",
            "2026-11-31",
            "2026-1-1",
            "202611",
            "x",
            "",
        ] {
            assert_eq!(Date::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn day_arithmetic_round_trips() {
        let d = Date::new(2026, 11, 1);
        assert_eq!(d.add_days(-1), Date::new(2026, 10, 31));
        assert_eq!(Date::new(2024, 2, 28).add_days(1), Date::new(2024, 2, 29));
        assert_eq!(Date::new(2026, 12, 31).add_days(1), Date::new(2027, 1, 1));
        assert_eq!(Date::new(1970, 1, 1).to_days(), 0);
        for days in [-800_000, -1, 0, 1, 20_000, 800_000] {
            assert_eq!(Date::from_days(days).to_days(), days);
        }
        assert_eq!(Date::new(2026, 11, 30).to_string(), "2026-11-30");
        assert_eq!(
            Date::new(2024, 2, 10).last_of_month(),
            Date::new(2024, 2, 29)
        );
        assert!(Date::new(2026, 11, 30) > Date::new(2026, 11, 29));
    }

    #[test]
    fn values_describe_themselves() {
        assert_eq!(Value::money(123_456).describe(), "money 1,234.56");
        assert_eq!(Value::text("abc").describe(), "text \"abc\"");
        assert_eq!(Value::Null.to_string(), "");
        assert_eq!(Value::from("x"), Value::Text("x".into()));
    }

    #[test]
    fn context_keeps_the_kind() {
        let e = AppError::quota_exceeded("too many rows").context("fund_daily");
        assert_eq!(
            e,
            AppError::QuotaExceeded("fund_daily: too many rows".into())
        );
        assert_eq!(e.message(), "fund_daily: too many rows");
    }
}
