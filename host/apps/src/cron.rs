//! Five-field cron expressions (`minute hour day-of-month month day-of-week`).
//!
//! Supported per field: `*`, a number, a range `a-b`, a step `*/n` or `a-b/n`
//! and comma-separated lists of those. Names (`MON`, `JAN`), `?`, `L`, `W`,
//! `#` and the `@daily`-style shortcuts are not: the scheduler should not have
//! to guess what a dialect means. Day-of-week is 0–7 with both 0 and 7 Sunday.
//! As in Vixie cron, when both day-of-month and day-of-week are restricted a
//! day matches if either matches.

use serde::{Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// A parsed, validated five-field cron expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronSchedule {
    expr: String,
    minutes: u64,
    hours: u64,
    days_of_month: u64,
    months: u64,
    days_of_week: u64,
    dom_restricted: bool,
    dow_restricted: bool,
}

struct FieldSpec {
    name: &'static str,
    min: u32,
    max: u32,
}

const FIELDS: [FieldSpec; 5] = [
    FieldSpec {
        name: "minute",
        min: 0,
        max: 59,
    },
    FieldSpec {
        name: "hour",
        min: 0,
        max: 23,
    },
    FieldSpec {
        name: "day-of-month",
        min: 1,
        max: 31,
    },
    FieldSpec {
        name: "month",
        min: 1,
        max: 12,
    },
    FieldSpec {
        name: "day-of-week",
        min: 0,
        max: 7,
    },
];

impl CronSchedule {
    /// Parses and validates an expression; the error says which field is
    /// wrong and why.
    pub fn parse(expr: &str) -> Result<Self, String> {
        let fields: Vec<&str> = expr.split_whitespace().collect();
        if fields.len() != 5 {
            return Err(format!(
                "`{expr}` has {} field(s); a cron expression has 5: minute hour day-of-month month day-of-week (e.g. \"0 8 * * *\")",
                fields.len()
            ));
        }
        let mut masks = [0u64; 5];
        for (i, (text, spec)) in fields.iter().zip(FIELDS.iter()).enumerate() {
            masks[i] = parse_field(text, spec)
                .map_err(|why| format!("{} field `{text}`: {why}", spec.name))?;
        }
        // Sunday is both 0 and 7.
        let mut dow = masks[4];
        if dow & (1 << 7) != 0 {
            dow = (dow | 1) & !(1 << 7);
        }
        Ok(Self {
            expr: fields.join(" "),
            minutes: masks[0],
            hours: masks[1],
            days_of_month: masks[2],
            months: masks[3],
            days_of_week: dow,
            dom_restricted: fields[2] != "*",
            dow_restricted: fields[4] != "*",
        })
    }

    /// The expression, with whitespace normalised to single spaces.
    pub fn as_str(&self) -> &str {
        &self.expr
    }

    /// Whether the schedule fires at this minute. `weekday` is 0–6 with 0
    /// Sunday; `day` 1–31; `month` 1–12.
    pub fn matches(&self, minute: u32, hour: u32, day: u32, month: u32, weekday: u32) -> bool {
        let bit = |mask: u64, v: u32| v < 64 && mask & (1u64 << v) != 0;
        if !bit(self.minutes, minute) || !bit(self.hours, hour) || !bit(self.months, month) {
            return false;
        }
        let dom = bit(self.days_of_month, day);
        let dow = bit(self.days_of_week, weekday % 7);
        match (self.dom_restricted, self.dow_restricted) {
            (true, true) => dom || dow,
            (true, false) => dom,
            (false, true) => dow,
            (false, false) => true,
        }
    }
}

fn parse_number(text: &str, spec: &FieldSpec) -> Result<u32, String> {
    if text.is_empty() {
        return Err("empty value".into());
    }
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "`{text}` is not a number (names such as MON or JAN are not supported)"
        ));
    }
    let n: u32 = text
        .parse()
        .map_err(|_| format!("`{text}` is out of range {}-{}", spec.min, spec.max))?;
    if n < spec.min || n > spec.max {
        return Err(format!("{n} is out of range {}-{}", spec.min, spec.max));
    }
    Ok(n)
}

fn parse_field(text: &str, spec: &FieldSpec) -> Result<u64, String> {
    let mut mask = 0u64;
    for item in text.split(',') {
        if item.is_empty() {
            return Err("empty list item".into());
        }
        let (range, step) = match item.split_once('/') {
            Some((range, step)) => {
                let step: u32 = step
                    .parse()
                    .map_err(|_| format!("step `{step}` is not a number"))?;
                if step == 0 || step > spec.max {
                    return Err(format!("step {step} is out of range 1-{}", spec.max));
                }
                (range, step)
            }
            None => (item, 1),
        };
        let (lo, hi) = if range == "*" {
            (spec.min, spec.max)
        } else if let Some((a, b)) = range.split_once('-') {
            let (a, b) = (parse_number(a, spec)?, parse_number(b, spec)?);
            if a > b {
                return Err(format!("range {a}-{b} runs backwards"));
            }
            (a, b)
        } else {
            let n = parse_number(range, spec)?;
            if step != 1 {
                return Err(format!(
                    "a step needs a range: write `{n}-{}/{step}` or `*/{step}`",
                    spec.max
                ));
            }
            (n, n)
        };
        let mut v = lo;
        while v <= hi {
            mask |= 1u64 << v;
            v += step;
        }
    }
    Ok(mask)
}

impl FromStr for CronSchedule {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for CronSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.expr)
    }
}

impl Serialize for CronSchedule {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.expr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_common_expressions() {
        for ok in [
            "0 8 * * *",
            "*/15 * * * *",
            "0 0 1 * *",
            "30 7 * * 1-5",
            "0 9,12,18 * * 0,7",
            "0 0-23/2 1-31/3 */2 *",
        ] {
            CronSchedule::parse(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
    }

    #[test]
    fn rejects_bad_expressions_with_the_field_named() {
        let cases = [
            ("0 8 * *", "has 4 field(s)"),
            ("0 8 * * * *", "has 6 field(s)"),
            ("60 8 * * *", "minute field `60`: 60 is out of range 0-59"),
            ("0 24 * * *", "hour field `24`"),
            ("0 8 0 * *", "day-of-month field `0`"),
            ("0 8 * 13 *", "month field `13`"),
            ("0 8 * * 8", "day-of-week field `8`"),
            ("0 8 * * MON", "names such as MON"),
            ("0 5-3 * * *", "runs backwards"),
            ("*/0 * * * *", "step 0"),
            ("0 8 1,,2 * *", "empty list item"),
            ("5/10 * * * *", "a step needs a range"),
        ];
        for (expr, want) in cases {
            let err = CronSchedule::parse(expr).unwrap_err();
            assert!(err.contains(want), "{expr}: {err}");
        }
    }

    #[test]
    fn matches_like_cron() {
        let daily8 = CronSchedule::parse("0 8 * * *").unwrap();
        assert!(daily8.matches(0, 8, 30, 11, 1));
        assert!(!daily8.matches(1, 8, 30, 11, 1));
        let weekdays = CronSchedule::parse("30 7 * * 1-5").unwrap();
        assert!(weekdays.matches(30, 7, 2, 11, 1));
        assert!(!weekdays.matches(30, 7, 1, 11, 0));
        let sunday = CronSchedule::parse("0 0 * * 7").unwrap();
        assert!(sunday.matches(0, 0, 1, 11, 0));
        // Both day fields restricted: either matches.
        let either = CronSchedule::parse("0 0 1 * 1").unwrap();
        assert!(either.matches(0, 0, 1, 11, 0));
        assert!(either.matches(0, 0, 2, 11, 1));
        assert!(!either.matches(0, 0, 2, 11, 2));
    }
}
