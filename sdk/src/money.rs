//! Money helpers. Money is an `i64` number of fen (分) everywhere; these
//! functions format and parse it with integer arithmetic only, so no amount is
//! ever rounded through a float.
//!
//! Rounding is half away from zero (四舍五入 as accountants do it, also for
//! negative amounts): `format_wan_yuan(-1_234_550_000, 2)` is `"-1,234.55"`,
//! `format_wan_yuan(-5_000, 2)` is `"-0.01"`.

/// Fen per yuan.
pub const FEN_PER_YUAN: i64 = 100;
/// Fen per 万元 (10,000 yuan).
pub const FEN_PER_WAN_YUAN: i64 = 1_000_000;
/// Fen per 亿元 (100,000,000 yuan).
pub const FEN_PER_YI_YUAN: i64 = 10_000_000_000;

/// Whole yuan to fen, e.g. a threshold written in the code: `yuan(50_000)`.
pub const fn yuan(yuan: i64) -> i64 {
    yuan * FEN_PER_YUAN
}

/// Whole 万元 to fen.
pub const fn wan_yuan(wan: i64) -> i64 {
    wan * FEN_PER_WAN_YUAN
}

/// Fen as 元 with two decimals and thousands separators: `123456` → `"1,234.56"`.
pub fn format_yuan(fen: i64) -> String {
    format_scaled(fen, 2, 2)
}

/// Fen as 万元 with `decimals` decimals and thousands separators, rounded half
/// away from zero: `1_234_567_890` → `"1,234.57"` with 2 decimals.
pub fn format_wan_yuan(fen: i64, decimals: u8) -> String {
    format_scaled(fen, 6, decimals)
}

/// Fen as 亿元 with `decimals` decimals, rounded half away from zero.
pub fn format_yi_yuan(fen: i64, decimals: u8) -> String {
    format_scaled(fen, 10, decimals)
}

/// Formats `fen / 10^scale` with `decimals` decimals: the shared core of the
/// formatters. Works on the magnitude as `u128`, so `i64::MIN` and any number
/// of decimals are fine.
fn format_scaled(fen: i64, scale: u32, decimals: u8) -> String {
    let negative = fen < 0;
    let magnitude = u128::from(fen.unsigned_abs());
    let decimals = u32::from(decimals);
    let (int_part, mut frac) = if decimals >= scale {
        // Exact: no rounding, the extra decimals are zeros.
        let unit = 10u128.pow(scale);
        let frac = if scale == 0 {
            String::new()
        } else {
            format!("{:0width$}", magnitude % unit, width = scale as usize)
        };
        (magnitude / unit, frac)
    } else {
        // Keep `decimals` digits: divide by 10^(scale - decimals), rounding half up
        // on the magnitude (= half away from zero on the signed amount).
        let divisor = 10u128.pow(scale - decimals);
        let rounded = (magnitude + divisor / 2) / divisor;
        let unit = 10u128.pow(decimals);
        let frac = if decimals == 0 {
            String::new()
        } else {
            format!("{:0width$}", rounded % unit, width = decimals as usize)
        };
        (rounded / unit, frac)
    };
    while frac.len() < decimals as usize {
        frac.push('0');
    }
    let mut out = String::new();
    // "-0.00" would be odd: only show the sign when something non-zero is shown.
    if negative && (int_part != 0 || frac.bytes().any(|b| b != b'0')) {
        out.push('-');
    }
    out.push_str(&group_thousands(int_part));
    if !frac.is_empty() {
        out.push('.');
        out.push_str(&frac);
    }
    out
}

/// `1234567` → `"1,234,567"`.
fn group_thousands(n: u128) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Parses an amount in 元 (`"1234.56"`, `"1,234.5"`, `"-12"`, `"+3.10"`) into
/// fen. At most two decimals; `None` for anything else or on overflow.
pub fn parse_yuan(text: &str) -> Option<i64> {
    let text = text.trim();
    let (negative, rest) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let rest: String = rest.chars().filter(|&c| c != ',').collect();
    let (int_text, frac_text) = match rest.split_once('.') {
        Some((i, f)) => (i, f),
        None => (rest.as_str(), ""),
    };
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if int_text.is_empty() && frac_text.is_empty()
        || frac_text.len() > 2
        || !all_digits(int_text)
        || !all_digits(frac_text)
    {
        return None;
    }
    let whole: i64 = if int_text.is_empty() {
        0
    } else {
        int_text.parse().ok()?
    };
    let mut cents: i64 = if frac_text.is_empty() {
        0
    } else {
        frac_text.parse().ok()?
    };
    if frac_text.len() == 1 {
        cents *= 10;
    }
    let fen = whole.checked_mul(FEN_PER_YUAN)?.checked_add(cents)?;
    Some(if negative { -fen } else { fen })
}

/// `numerator / denominator` as a float ratio for display (a KPI with a
/// percent format), or `None` when the denominator is zero. Both sides are
/// integers (fen or counts), so the only rounding is the final division.
pub fn ratio(numerator: i64, denominator: i64) -> Option<f64> {
    if denominator == 0 {
        None
    } else {
        Some(numerator as f64 / denominator as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yuan_has_two_decimals_and_separators() {
        assert_eq!(format_yuan(0), "0.00");
        assert_eq!(format_yuan(1), "0.01");
        assert_eq!(format_yuan(10), "0.10");
        assert_eq!(format_yuan(123_456), "1,234.56");
        assert_eq!(format_yuan(100_000_000), "1,000,000.00");
        assert_eq!(format_yuan(99_999), "999.99");
        assert_eq!(format_yuan(-123_456), "-1,234.56");
        assert_eq!(format_yuan(-5), "-0.05");
    }

    #[test]
    fn yuan_handles_extremes() {
        assert_eq!(format_yuan(i64::MAX), "92,233,720,368,547,758.07");
        assert_eq!(format_yuan(i64::MIN), "-92,233,720,368,547,758.08");
    }

    #[test]
    fn wan_yuan_rounds_half_away_from_zero() {
        // 1,234,567,890 fen = 12,345,678.90 元 = 1,234.567890 万元
        assert_eq!(format_wan_yuan(1_234_567_890, 2), "1,234.57");
        assert_eq!(format_wan_yuan(123_456_789, 2), "123.46");
        // exactly half: 0.005 万元 = 50 元 = 5,000 fen
        assert_eq!(format_wan_yuan(5_000, 2), "0.01");
        assert_eq!(format_wan_yuan(-5_000, 2), "-0.01");
        assert_eq!(format_wan_yuan(4_999, 2), "0.00");
        assert_eq!(format_wan_yuan(-4_999, 2), "0.00");
        assert_eq!(format_wan_yuan(-1_234_550_000, 2), "-1,234.55");
        assert_eq!(format_wan_yuan(-1_234_555_000, 2), "-1,234.56");
        assert_eq!(format_wan_yuan(1_500_000, 0), "2");
        assert_eq!(format_wan_yuan(-1_500_000, 0), "-2");
        assert_eq!(format_wan_yuan(2_499_999, 0), "2");
    }

    #[test]
    fn wan_yuan_with_more_decimals_than_fen_is_exact() {
        assert_eq!(format_wan_yuan(1, 6), "0.000001");
        assert_eq!(format_wan_yuan(1, 8), "0.00000100");
        assert_eq!(format_wan_yuan(-1_000_000, 6), "-1.000000");
        assert_eq!(format_wan_yuan(i64::MIN, 2), "-9,223,372,036,854.78");
    }

    #[test]
    fn yi_yuan() {
        assert_eq!(format_yi_yuan(97_200_000_000, 2), "9.72");
        assert_eq!(format_yi_yuan(-15_000_000, 2), "0.00");
        assert_eq!(format_yi_yuan(50_000_000, 2), "0.01");
    }

    #[test]
    fn parse_yuan_accepts_plain_amounts() {
        assert_eq!(parse_yuan("1234.56"), Some(123_456));
        assert_eq!(parse_yuan("1,234.5"), Some(123_450));
        assert_eq!(parse_yuan(" -12 "), Some(-1_200));
        assert_eq!(parse_yuan("+3.10"), Some(310));
        assert_eq!(parse_yuan(".5"), Some(50));
        assert_eq!(parse_yuan("0"), Some(0));
    }

    #[test]
    fn parse_yuan_rejects_garbage() {
        for bad in [
            "",
            "-",
            ".",
            "1.234",
            "abc",
            "1e5",
            "12.3.4",
            "--1",
            "99999999999999999999",
        ] {
            assert_eq!(parse_yuan(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn ratio_is_none_for_zero_denominator() {
        assert_eq!(ratio(1, 0), None);
        assert_eq!(ratio(50, 200), Some(0.25));
    }

    #[test]
    fn unit_constructors() {
        assert_eq!(yuan(50_000), 5_000_000);
        assert_eq!(wan_yuan(5), 5_000_000);
    }
}
