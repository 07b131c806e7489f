//! Periods (会计期间, YYYYMM) and the date formats backflow files mix.

/// The period (YYYYMM) of a value that is a period or a date in any of the
/// formats the sources use: `202403`, `2024-03`, `2024-03-05`, `2024/3/5`,
/// `20240305`, `2024年3月5日`, or a timestamp starting with one of them.
/// Surrounding whitespace is ignored. `None` when it is none of these.
pub fn period_of(value: &str) -> Option<String> {
    let (y, m, _) = parse_date_parts(value)?;
    Some(format!("{y:04}{m:02}"))
}

/// Normalises a date in any accepted format to `YYYY-MM-DD`, checking that
/// the day exists. A bare period (YYYYMM) is not a date.
pub fn normalize_date(value: &str) -> Option<String> {
    let (y, m, d) = parse_date_parts(value)?;
    let d = d?;
    (d >= 1 && d <= days_in_month(y, m)).then(|| format!("{y:04}-{m:02}-{d:02}"))
}

fn days_in_month(y: u32, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400) => 29,
        _ => 28,
    }
}

/// (year, month, optional day) of a period or date value.
fn parse_date_parts(value: &str) -> Option<(u32, u32, Option<u32>)> {
    let s = value.trim_matches(|c: char| c.is_whitespace() || c == '\u{3000}');
    // The date part ends at a space or 'T' (timestamps).
    let s = s.split([' ', 'T']).next()?;
    let parts: Vec<&str> = s
        .split(['-', '/', '.', '年', '月', '日'])
        .filter(|p| !p.is_empty())
        .collect();
    let digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit()) && !p.is_empty();
    let (y, m, d) = match parts.as_slice() {
        [compact] if digits(compact) && compact.len() == 8 => (
            compact[..4].parse().ok()?,
            compact[4..6].parse().ok()?,
            Some(compact[6..].parse().ok()?),
        ),
        [compact] if digits(compact) && compact.len() == 6 => {
            (compact[..4].parse().ok()?, compact[4..].parse().ok()?, None)
        }
        [y, m] if digits(y) && digits(m) && y.len() == 4 && m.len() <= 2 => {
            (y.parse().ok()?, m.parse().ok()?, None)
        }
        [y, m, d]
            if digits(y)
                && digits(m)
                && digits(d)
                && y.len() == 4
                && m.len() <= 2
                && d.len() <= 2 =>
        {
            (y.parse().ok()?, m.parse().ok()?, Some(d.parse().ok()?))
        }
        _ => return None,
    };
    ((1900..=2999).contains(&y) && (1..=12).contains(&m)).then_some((y, m, d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_from_every_format() {
        for v in [
            "202403",
            "2024-03",
            "2024-03-05",
            "2024/3/5",
            "20240305",
            "2024年3月5日",
            " 2024-03-05 13:45:00",
            "2024-03-05T13:45:00+08:00",
        ] {
            assert_eq!(period_of(v).as_deref(), Some("202403"), "{v:?}");
        }
        for bad in ["", "2024", "2024-13-01", "24-03-05", "abc", "2024-03-05x"] {
            assert_eq!(period_of(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn dates_are_checked() {
        assert_eq!(normalize_date("2024/2/29").as_deref(), Some("2024-02-29"));
        assert_eq!(normalize_date("2023-02-29"), None);
        assert_eq!(normalize_date("202402"), None);
    }
}
