//! Business days and periods: a day is a count of days since 1970-01-01, so
//! date arithmetic is integer arithmetic and no clock is ever consulted.

use std::fmt::Write as _;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Day(pub i32);

impl Day {
    pub fn ymd(y: i32, m: u32, d: u32) -> Day {
        // Howard Hinnant's days_from_civil.
        let y = if m <= 2 { y - 1 } else { y };
        let era = if y >= 0 { y } else { y - 399 } / 400;
        let yoe = (y - era * 400) as u32;
        let mp = (m + 9) % 12;
        let doy = (153 * mp + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        Day(era * 146_097 + doe as i32 - 719_468)
    }

    pub fn parts(self) -> (i32, u32, u32) {
        let z = self.0 + 719_468;
        let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
        let doe = (z - era * 146_097) as u32;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let y = yoe as i32 + era * 400;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = doy - (153 * mp + 2) / 5 + 1;
        let m = if mp < 10 { mp + 3 } else { mp - 9 };
        (if m <= 2 { y + 1 } else { y }, m, d)
    }

    pub fn year(self) -> i32 {
        self.parts().0
    }

    pub fn day_of_month(self) -> u32 {
        self.parts().2
    }

    /// YYYYMM.
    pub fn period(self) -> u32 {
        let (y, m, _) = self.parts();
        y as u32 * 100 + m
    }

    /// 0 = Monday … 6 = Sunday.
    pub fn weekday(self) -> u32 {
        (self.0 + 3).rem_euclid(7) as u32
    }

    pub fn is_weekend(self) -> bool {
        self.weekday() >= 5
    }

    pub fn plus(self, days: i32) -> Day {
        Day(self.0 + days)
    }

    pub fn month_end(self) -> Day {
        let (y, m, _) = self.parts();
        let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
        Day::ymd(ny, nm, 1).plus(-1)
    }

    pub fn is_month_end(self) -> bool {
        self.plus(1).day_of_month() == 1
    }

    /// The next working day (Monday–Friday) on or after this one.
    pub fn workday_on_or_after(self) -> Day {
        let mut d = self;
        while d.is_weekend() {
            d = d.plus(1);
        }
        d
    }

    /// Appends `YYYY-MM-DD`.
    pub fn write(self, out: &mut String) {
        let (y, m, d) = self.parts();
        let _ = write!(out, "{y:04}-{m:02}-{d:02}");
    }

    pub fn iso(self) -> String {
        let mut s = String::with_capacity(10);
        self.write(&mut s);
        s
    }

    /// Appends `YYYY-MM-DD HH:MM:SS` for a time of day in seconds.
    pub fn write_ts(self, secs: u32, out: &mut String) {
        self.write(out);
        let secs = secs.min(86_399);
        let _ = write!(
            out,
            " {:02}:{:02}:{:02}",
            secs / 3600,
            secs / 60 % 60,
            secs % 60
        );
    }
}

/// The first and last day of a period (YYYYMM).
pub fn period_bounds(period: u32) -> (Day, Day) {
    let first = Day::ymd((period / 100) as i32, period % 100, 1);
    (first, first.month_end())
}

pub fn next_period(period: u32) -> u32 {
    if period % 100 == 12 {
        (period / 100 + 1) * 100 + 1
    } else {
        period + 1
    }
}

pub fn prev_period(period: u32) -> u32 {
    if period % 100 == 1 {
        (period / 100 - 1) * 100 + 12
    } else {
        period - 1
    }
}

/// The data's first business day and the batch's as-of date (fiscal years
/// 2025 and 2026, up to the end of October 2026).
pub fn start() -> Day {
    Day::ymd(2025, 1, 1)
}

pub fn as_of() -> Day {
    Day::ymd(2026, 10, 31)
}

/// All periods of the data, in order: 202501 … 202610.
pub fn periods() -> Vec<u32> {
    let mut out = Vec::new();
    let mut p = start().period();
    while p <= as_of().period() {
        out.push(p);
        p = next_period(p);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip_and_weekday() {
        let d = Day::ymd(2025, 1, 1);
        assert_eq!(d.parts(), (2025, 1, 1));
        assert_eq!(d.weekday(), 2, "2025-01-01 was a Wednesday");
        assert_eq!(Day::ymd(2024, 2, 28).plus(1).parts(), (2024, 2, 29));
        assert_eq!(Day::ymd(2026, 2, 3).month_end().iso(), "2026-02-28");
        assert_eq!(periods().len(), 22);
        assert_eq!(next_period(202512), 202601);
        assert_eq!(prev_period(202601), 202512);
    }
}
