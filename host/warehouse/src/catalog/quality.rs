//! The quality score (质量分) of a table (see the [module docs](super)).

use serde::{Deserialize, Serialize};

/// One part of the score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QualityPart {
    /// `validity`, `completeness`, `reconciliation` or `freshness`.
    pub name: String,
    /// 0.0 … 1.0; `None` when the part does not apply (its weight is then
    /// shared among the others).
    pub value: Option<f64>,
    /// The nominal weight (the four weights add up to 1).
    pub weight: f64,
    pub explanation: String,
}

pub const W_VALIDITY: f64 = 0.35;
pub const W_COMPLETENESS: f64 = 0.25;
pub const W_RECONCILIATION: f64 = 0.25;
pub const W_FRESHNESS: f64 = 0.15;

/// Days behind the newest batch at which freshness reaches 0.
pub const STALE_DAYS: f64 = 30.0;

pub fn part(name: &str, value: Option<f64>, weight: f64, explanation: String) -> QualityPart {
    QualityPart {
        name: name.to_owned(),
        value: value.map(|v| v.clamp(0.0, 1.0)),
        weight,
        explanation,
    }
}

/// 100 × the weighted mean of the parts that apply, rounded; `None` when none applies.
pub fn score(parts: &[QualityPart]) -> Option<i64> {
    let (sum, weights) = parts
        .iter()
        .filter_map(|p| p.value.map(|v| (v * p.weight, p.weight)))
        .fold((0.0, 0.0), |(s, w), (a, b)| (s + a, w + b));
    (weights > 0.0).then(|| (100.0 * sum / weights).round() as i64)
}

/// Days from `older` to `newer`, both `YYYY-MM-DD` (or longer, the first 10
/// characters are used); `None` when either is not a date.
pub fn days_between(older: &str, newer: &str) -> Option<i64> {
    Some(day_number(newer)? - day_number(older)?)
}

/// Days since 1970-01-01 of a proleptic Gregorian `YYYY-MM-DD`.
fn day_number(s: &str) -> Option<i64> {
    let s = s.get(..10)?;
    let mut it = s.split('-');
    let y: i64 = it.next()?.parse().ok()?;
    let m: i64 = it.next()?.parse().ok()?;
    let d: i64 = it.next()?.parse().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    // Howard Hinnant's days_from_civil.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scoring() {
        assert_eq!(days_between("2026-10-01", "2026-10-31"), Some(30));
        assert_eq!(days_between("2024-02-28", "2024-03-01"), Some(2));
        assert_eq!(days_between("x", "2024-03-01"), None);
        let parts = [
            part("validity", Some(0.5), W_VALIDITY, String::new()),
            part("reconciliation", None, W_RECONCILIATION, String::new()),
            part("completeness", Some(1.0), W_COMPLETENESS, String::new()),
        ];
        // (0.5·0.35 + 1·0.25) / 0.6 = 0.7083
        assert_eq!(score(&parts), Some(71));
        assert_eq!(score(&[]), None);
    }
}
