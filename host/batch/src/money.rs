//! Money as the files carry it (元, up to two decimals) and as everything
//! else keeps it (分, an integer). Never a float.

/// Formats 分 as 元 with exactly two decimals: `123456` → `"1234.56"`, `-5` → `"-0.05"`.
pub fn fen_to_yuan(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    let abs = fen.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

/// Parses a money value in 元 into 分. Accepts what backflow files really
/// hold: surrounding spaces (half- and full-width), thousands separators,
/// full-width digits, a leading `+`/`-`, and zero to two decimals. Anything
/// else — a third decimal, letters, an empty string — is `None`, never rounded.
pub fn parse_yuan(text: &str) -> Option<i64> {
    let normalized: String = text
        .chars()
        .filter_map(|c| match c {
            '０'..='９' => char::from_u32(c as u32 - '０' as u32 + '0' as u32),
            '．' => Some('.'),
            '－' => Some('-'),
            ',' | '，' => None,
            c => Some(c),
        })
        .collect();
    let s = normalized.trim_matches(|c: char| c.is_whitespace() || c == '\u{3000}');
    let (negative, s) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let (whole, frac) = match s.split_once('.') {
        Some((w, f)) => (w, f),
        None => (s, ""),
    };
    if whole.is_empty() || frac.len() > 2 {
        return None;
    }
    if !whole.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let whole: i64 = whole.parse().ok()?;
    let frac: i64 = match frac.len() {
        0 => 0,
        1 => frac.parse::<i64>().ok()? * 10,
        _ => frac.parse().ok()?,
    };
    let fen = whole.checked_mul(100)?.checked_add(frac)?;
    Some(if negative { -fen } else { fen })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for fen in [0, 1, 5, 99, 100, 123456, -5, -123456, i64::MAX / 1000] {
            assert_eq!(parse_yuan(&fen_to_yuan(fen)), Some(fen), "{fen}");
        }
        assert_eq!(fen_to_yuan(-5), "-0.05");
    }

    #[test]
    fn reads_dirty_values_exactly() {
        assert_eq!(parse_yuan("  1,234.5 "), Some(123450));
        assert_eq!(parse_yuan("１２３．４５"), Some(12345));
        assert_eq!(parse_yuan("\u{3000}7\u{3000}"), Some(700));
        assert_eq!(parse_yuan("+3"), Some(300));
        for bad in ["", "-", "1.234", "1e3", "abc", "1.2.3", ".5"] {
            assert_eq!(parse_yuan(bad), None, "{bad:?}");
        }
    }
}
