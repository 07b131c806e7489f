//! Typed access to the parameters passed to `render` / `evaluate`.

use crate::{AppError, Date, Param, Value, parse_yuan};

/// The parameters of one invocation, with typed getters.
///
/// A parameter that is absent, null or empty text counts as "not set": the
/// getters return `Ok(None)` (or the default of the `_or` variants). A value
/// of the wrong shape is an [`AppError::InvalidInput`] that names the
/// parameter and says what was expected, so the portal can show it as is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Params {
    items: Vec<Param>,
}

impl Params {
    pub fn new(items: Vec<Param>) -> Self {
        Params { items }
    }

    /// Builds parameters from `(name, value)` pairs (handy in tests).
    pub fn from_pairs<I, N, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (N, V)>,
        N: Into<String>,
        V: Into<Value>,
    {
        Params::new(
            pairs
                .into_iter()
                .map(|(name, value)| Param {
                    name: name.into(),
                    value: value.into(),
                })
                .collect(),
        )
    }

    /// The raw value, or `None` if the parameter is not set. If a name is
    /// passed twice, the last one wins.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.items
            .iter()
            .rev()
            .find(|p| p.name == name)
            .map(|p| &p.value)
            .filter(|v| match v {
                Value::Null => false,
                Value::Text(s) => !s.trim().is_empty(),
                _ => true,
            })
    }

    pub fn is_set(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Text (also accepts an int or a decimal, given back as written).
    pub fn text(&self, name: &str) -> Result<Option<String>, AppError> {
        self.typed(name, "text", |v| match v {
            Value::Text(s) => Some(s.trim().to_string()),
            Value::Decimal(s) => Some(s.clone()),
            Value::Int(n) => Some(n.to_string()),
            Value::Date(d) => Some(d.to_string()),
            _ => None,
        })
    }

    pub fn text_or(&self, name: &str, default: &str) -> Result<String, AppError> {
        Ok(self.text(name)?.unwrap_or_else(|| default.to_string()))
    }

    /// Text that must be set.
    pub fn required_text(&self, name: &str) -> Result<String, AppError> {
        self.text(name)?.ok_or_else(|| missing(name))
    }

    /// A whole number: an int, or text such as `"42"`.
    pub fn int(&self, name: &str) -> Result<Option<i64>, AppError> {
        self.typed(name, "a whole number", |v| match v {
            Value::Int(n) => Some(*n),
            Value::Text(s) => s.trim().parse().ok(),
            _ => None,
        })
    }

    pub fn int_or(&self, name: &str, default: i64) -> Result<i64, AppError> {
        Ok(self.int(name)?.unwrap_or(default))
    }

    /// Money in fen: a money value, or text / a decimal in 元 such as
    /// `"50000"` or `"1,234.56"`. A bare int is rejected because it is
    /// ambiguous (元 or 分?).
    pub fn money(&self, name: &str) -> Result<Option<i64>, AppError> {
        self.typed(name, "an amount in 元 such as \"50000.00\"", |v| match v {
            Value::Money(fen) => Some(*fen),
            Value::Text(s) | Value::Decimal(s) => parse_yuan(s),
            _ => None,
        })
    }

    pub fn money_or(&self, name: &str, default_fen: i64) -> Result<i64, AppError> {
        Ok(self.money(name)?.unwrap_or(default_fen))
    }

    /// A date: a date value, or text `YYYY-MM-DD` / `YYYYMMDD` (what a
    /// day-grain period picker sends).
    pub fn date(&self, name: &str) -> Result<Option<Date>, AppError> {
        self.typed(name, "a date such as 2026-11-30", |v| match v {
            Value::Date(d) => Some(*d),
            Value::Text(s) => Date::parse(s),
            _ => None,
        })
    }

    pub fn date_or(&self, name: &str, default: Date) -> Result<Date, AppError> {
        Ok(self.date(name)?.unwrap_or(default))
    }

    /// A month, as its first day: a month-grain period picker sends
    /// `YYYYMM` (also accepted: `YYYY-MM`, or a date, meaning its month).
    pub fn month(&self, name: &str) -> Result<Option<Date>, AppError> {
        self.typed(name, "a month such as 202611", |v| match v {
            Value::Date(d) => Some(d.first_of_month()),
            Value::Text(s) => parse_month(s.trim()),
            _ => None,
        })
    }

    pub fn month_or(&self, name: &str, default: Date) -> Result<Date, AppError> {
        Ok(self.month(name)?.unwrap_or(default.first_of_month()))
    }

    /// A toggle: a boolean, or text `true/false/1/0/yes/no/on/off`, or int 0/1.
    /// Not set is `false`.
    pub fn flag(&self, name: &str) -> Result<bool, AppError> {
        Ok(self
            .typed(name, "true or false", |v| match v {
                Value::Boolean(b) => Some(*b),
                Value::Int(0) => Some(false),
                Value::Int(1) => Some(true),
                Value::Text(s) => match s.trim().to_ascii_lowercase().as_str() {
                    "true" | "1" | "yes" | "on" => Some(true),
                    "false" | "0" | "no" | "off" => Some(false),
                    _ => None,
                },
                _ => None,
            })?
            .unwrap_or(false))
    }

    /// All parameters as passed (e.g. for [`crate::Document::parameters`]).
    pub fn as_slice(&self) -> &[Param] {
        &self.items
    }

    pub fn to_vec(&self) -> Vec<Param> {
        self.items.clone()
    }

    fn typed<T>(
        &self,
        name: &str,
        expected: &str,
        convert: impl FnOnce(&Value) -> Option<T>,
    ) -> Result<Option<T>, AppError> {
        match self.get(name) {
            None => Ok(None),
            Some(value) => convert(value).map(Some).ok_or_else(|| {
                AppError::invalid_input(format!(
                    "parameter `{name}`: expected {expected}, got {}",
                    value.describe()
                ))
            }),
        }
    }
}

/// `YYYYMM` or `YYYY-MM` → the first day of that month.
fn parse_month(text: &str) -> Option<Date> {
    let (year, month) = match text.len() {
        6 => (&text[..4], &text[4..]),
        7 if text.as_bytes()[4] == b'-' => (&text[..4], &text[5..]),
        _ => return None,
    };
    if !(year.bytes().chain(month.bytes())).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let date = Date::new(year.parse().ok()?, month.parse().ok()?, 1);
    date.is_valid().then_some(date)
}

fn missing(name: &str) -> AppError {
    AppError::invalid_input(format!("parameter `{name}` is required"))
}

impl From<Vec<Param>> for Params {
    fn from(items: Vec<Param>) -> Self {
        Params::new(items)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> Params {
        Params::from_pairs([
            ("org", Value::text("3301")),
            ("empty", Value::text("  ")),
            ("null", Value::Null),
            ("n", Value::text("42")),
            ("date", Value::text("2026-11-30")),
            ("bad_date", Value::text("2026-11-31")),
            ("limit", Value::text("1,234.5")),
            ("fen", Value::money(99)),
            ("count", Value::int(7)),
            ("on", Value::text("yes")),
        ])
    }

    #[test]
    fn absent_null_and_blank_are_not_set() {
        let p = params();
        assert_eq!(p.text("missing").unwrap(), None);
        assert_eq!(p.text("empty").unwrap(), None);
        assert_eq!(p.text("null").unwrap(), None);
        assert_eq!(p.text_or("empty", "x").unwrap(), "x");
        assert!(!p.is_set("null"));
    }

    #[test]
    fn typed_getters_convert() {
        let p = params();
        assert_eq!(p.text("org").unwrap().as_deref(), Some("3301"));
        assert_eq!(p.int("n").unwrap(), Some(42));
        assert_eq!(p.int("count").unwrap(), Some(7));
        assert_eq!(p.date("date").unwrap(), Some(Date::new(2026, 11, 30)));
        assert_eq!(p.money("limit").unwrap(), Some(123_450));
        assert_eq!(p.money("fen").unwrap(), Some(99));
        assert!(p.flag("on").unwrap());
        assert!(!p.flag("missing").unwrap());
        assert_eq!(p.int_or("missing", 5).unwrap(), 5);
    }

    #[test]
    fn wrong_shapes_name_the_parameter() {
        let p = params();
        let err = p.date("bad_date").unwrap_err();
        assert_eq!(
            err,
            AppError::invalid_input(
                "parameter `bad_date`: expected a date such as 2026-11-30, got text \"2026-11-31\""
            )
        );
        assert!(matches!(p.int("org"), Ok(Some(3301))));
        assert!(p.money("count").unwrap_err().message().contains("`count`"));
        assert_eq!(
            p.required_text("missing").unwrap_err(),
            AppError::invalid_input("parameter `missing` is required")
        );
    }

    #[test]
    fn months() {
        let p = Params::from_pairs([
            ("a", Value::text("202611")),
            ("b", Value::text("2026-02")),
            ("c", Value::date(Date::new(2026, 11, 30))),
            ("bad", Value::text("202613")),
        ]);
        assert_eq!(p.month("a").unwrap(), Some(Date::new(2026, 11, 1)));
        assert_eq!(p.month("b").unwrap(), Some(Date::new(2026, 2, 1)));
        assert_eq!(p.month("c").unwrap(), Some(Date::new(2026, 11, 1)));
        assert!(p.month("bad").is_err());
        assert_eq!(
            p.month_or("none", Date::new(2026, 11, 30)).unwrap(),
            Date::new(2026, 11, 1)
        );
    }

    #[test]
    fn last_value_wins() {
        let p = Params::from_pairs([("a", "1"), ("a", "2")]);
        assert_eq!(p.text("a").unwrap().as_deref(), Some("2"));
    }
}
