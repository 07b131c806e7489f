//! The value transforms of the cleaning steps: pure functions on text, no
//! database. Every parser accepts what backflow files really hold
//! (surrounding half- and full-width spaces, full-width digits) and rejects
//! anything it would have to guess at; none of them goes through a float.

use std::borrow::Cow;
use zhiyun_batch::money::parse_yuan;
use zhiyun_batch::period::normalize_date;

/// A value on its way through a column's steps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Val {
    Null,
    Text(String),
    Int(i64),
}

impl Val {
    /// The canonical text of a value: what `one_of`, `pattern`, `references`
    /// and keys compare (an integer in decimal, without separators).
    pub fn text(&self) -> Option<Cow<'_, str>> {
        match self {
            Val::Null => None,
            Val::Text(s) => Some(Cow::Borrowed(s)),
            Val::Int(i) => Some(Cow::Owned(i.to_string())),
        }
    }
}

fn is_space(c: char) -> bool {
    c.is_whitespace() || c == '\u{3000}' || c == '\u{feff}' || c == '\u{200b}'
}

/// Removes surrounding whitespace, including the ideographic space (U+3000),
/// a byte-order mark and zero-width spaces.
pub fn trim(s: String) -> String {
    let t = s.trim_matches(is_space);
    if t.len() == s.len() { s } else { t.to_owned() }
}

/// Full-width ASCII forms (Ａ, １, －, ．, U+FF01–U+FF5E) to their ASCII
/// counterparts and the ideographic space to a space. Other characters
/// (Chinese text, full-width punctuation outside that block) are kept.
pub fn fullwidth_to_halfwidth(s: String) -> String {
    if s.is_ascii()
        || !s
            .chars()
            .any(|c| ('\u{ff01}'..='\u{ff5e}').contains(&c) || c == '\u{3000}')
    {
        return s;
    }
    s.chars()
        .map(|c| match c {
            '\u{ff01}'..='\u{ff5e}' => char::from_u32(c as u32 - 0xfee0).unwrap_or(c),
            '\u{3000}' => ' ',
            c => c,
        })
        .collect()
}

/// Trimmed and half-width: what every typed parser starts from.
fn plain(s: &str) -> Cow<'_, str> {
    let t = s.trim_matches(is_space);
    if t.is_ascii() {
        Cow::Borrowed(t)
    } else {
        Cow::Owned(
            fullwidth_to_halfwidth(t.to_owned())
                .trim_matches(is_space)
                .to_owned(),
        )
    }
}

/// Money in 元 (up to two decimals) to 分.
pub fn money(s: &str) -> Result<i64, String> {
    parse_yuan(s)
        .ok_or_else(|| "is not an amount in 元 with at most two decimals (e.g. 1234.56)".to_owned())
}

/// An integer; thousands separators and a zero fraction (`12.00`) allowed.
pub fn int(s: &str) -> Result<i64, String> {
    let p = plain(s);
    let cleaned: String = p.chars().filter(|c| !matches!(c, ',' | '，')).collect();
    let whole = match cleaned.split_once('.') {
        Some((w, f)) if !w.is_empty() && !f.is_empty() && f.bytes().all(|b| b == b'0') => w,
        Some(_) => return Err("is not an integer".to_owned()),
        None => cleaned.as_str(),
    };
    let digits = whole.strip_prefix(['-', '+']).unwrap_or(whole);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err("is not an integer".to_owned());
    }
    whole
        .parse::<i64>()
        .map_err(|_| "is out of the 64-bit integer range".to_owned())
}

/// An exact decimal, normalised: no `+`, no leading zeros, no trailing zeros
/// after the point, no point without a fraction, `-0` is `0`:
/// `" ００１２．５００ "` → `"12.5"`, `"-.50"` → `"-0.5"`, `"1,000"` → `"1000"`.
pub fn decimal(s: &str) -> Result<String, String> {
    let p = plain(s);
    let cleaned: String = p.chars().filter(|c| !matches!(c, ',' | '，')).collect();
    let (negative, rest) = match cleaned.as_bytes().first() {
        Some(b'-') => (true, &cleaned[1..]),
        Some(b'+') => (false, &cleaned[1..]),
        _ => (false, cleaned.as_str()),
    };
    let (whole, frac) = rest.split_once('.').unwrap_or((rest, ""));
    let digits = |x: &str| x.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && frac.is_empty()) || !digits(whole) || !digits(frac) {
        return Err("is not a decimal number (e.g. 1234.5678)".to_owned());
    }
    let whole = whole.trim_start_matches('0');
    let frac = frac.trim_end_matches('0');
    let mut out = String::with_capacity(whole.len() + frac.len() + 3);
    if negative && !(whole.is_empty() && frac.is_empty()) {
        out.push('-');
    }
    out.push_str(if whole.is_empty() { "0" } else { whole });
    if !frac.is_empty() {
        out.push('.');
        out.push_str(frac);
    }
    Ok(out)
}

/// A date in any of the formats the sources mix, as `YYYY-MM-DD`.
pub fn date(s: &str) -> Result<String, String> {
    normalize_date(&plain(s)).ok_or_else(|| {
        "is not a date (accepted: 2024-03-05, 2024/3/5, 20240305, 2024年3月5日)".to_owned()
    })
}

/// A timestamp as `YYYY-MM-DD HH:MM:SS` (with `.ffffff` when the source has
/// fractions of a second). The date part may be in any accepted date
/// format; the time part is `H:MM[:SS[.f]]`; a date alone is midnight. The
/// only time zone accepted is China time (`+08:00`, `+0800`), which is
/// dropped: all timestamps are local.
pub fn timestamp(s: &str) -> Result<String, String> {
    const WHY: &str = "is not a timestamp (e.g. 2024-03-05 13:45:00)";
    let p = plain(s);
    let p = p.as_ref();
    let split = p.find([' ', 'T']);
    let (day, time) = match split {
        Some(i) => (&p[..i], p[i + 1..].trim()),
        None => (p, ""),
    };
    let day = normalize_date(day).ok_or(WHY)?;
    if time.is_empty() {
        return Ok(format!("{day} 00:00:00"));
    }
    let time = time
        .strip_suffix("+08:00")
        .or_else(|| time.strip_suffix("+0800"))
        .unwrap_or(time);
    if time.contains(['+', 'Z', 'z']) || time.chars().skip(1).any(|c| c == '-') {
        return Err("has a time zone other than China time (+08:00)".to_owned());
    }
    let (hms, fraction) = time.split_once('.').unwrap_or((time, ""));
    let parts: Vec<&str> = hms.split(':').collect();
    let field = |p: &str, max: u32| -> Option<u32> {
        (!p.is_empty() && p.len() <= 2 && p.bytes().all(|b| b.is_ascii_digit()))
            .then(|| p.parse().ok())
            .flatten()
            .filter(|v| *v <= max)
    };
    let (h, m, sec) = match parts.as_slice() {
        [h, m] => (field(h, 23), field(m, 59), Some(0)),
        [h, m, s] => (field(h, 23), field(m, 59), field(s, 59)),
        _ => (None, None, None),
    };
    let (Some(h), Some(m), Some(sec)) = (h, m, sec) else {
        return Err(WHY.to_owned());
    };
    if !fraction.bytes().all(|b| b.is_ascii_digit()) || fraction.len() > 9 {
        return Err(WHY.to_owned());
    }
    let fraction = fraction.trim_end_matches('0');
    if fraction.is_empty() {
        Ok(format!("{day} {h:02}:{m:02}:{sec:02}"))
    } else {
        Ok(format!("{day} {h:02}:{m:02}:{sec:02}.{fraction}"))
    }
}

/// A flag as 1 or 0: Y/N, 1/0, true/false, T/F, yes/no, 是/否 (any case).
pub fn bool(s: &str) -> Result<i64, String> {
    let p = plain(s);
    match p.to_ascii_lowercase().as_str() {
        "y" | "1" | "true" | "t" | "yes" | "是" => Ok(1),
        "n" | "0" | "false" | "f" | "no" | "否" => Ok(0),
        _ => Err("is not a flag (Y/N, 1/0, true/false, 是/否)".to_owned()),
    }
}

/// A decimal as (mantissa, scale), for exact comparisons in `range`.
pub fn decimal_parts(normalised: &str) -> Option<(i128, u32)> {
    let (whole, frac) = normalised.split_once('.').unwrap_or((normalised, ""));
    let digits = format!("{whole}{frac}");
    if frac.len() > 30 {
        return None;
    }
    Some((digits.parse().ok()?, frac.len() as u32))
}

/// Compares two decimals given as (mantissa, scale).
pub fn cmp_decimal(a: (i128, u32), b: (i128, u32)) -> Option<std::cmp::Ordering> {
    let scale = a.1.max(b.1);
    let up = |(m, s): (i128, u32)| m.checked_mul(10i128.checked_pow(scale - s)?);
    Some(up(a)?.cmp(&up(b)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings() {
        assert_eq!(trim("\u{3000} ab c \t".into()), "ab c");
        assert_eq!(
            fullwidth_to_halfwidth("ＡＢＣ１２３－国网".into()),
            "ABC123-国网"
        );
        assert_eq!(fullwidth_to_halfwidth("a\u{3000}b".into()), "a b");
    }

    #[test]
    fn numbers() {
        assert_eq!(money("１２３．４５"), Ok(12345));
        assert!(money("1.234").is_err());
        assert_eq!(int(" １,２34 "), Ok(1234));
        assert_eq!(int("-7.00"), Ok(-7));
        assert!(int("7.5").is_err());
        assert!(int("").is_err());
        assert_eq!(decimal(" ００１２．５００ ").as_deref(), Ok("12.5"));
        assert_eq!(decimal("-.50").as_deref(), Ok("-0.5"));
        assert_eq!(decimal("-0.000").as_deref(), Ok("0"));
        assert_eq!(decimal("1,000").as_deref(), Ok("1000"));
        assert_eq!(decimal("0.13").as_deref(), Ok("0.13"));
        assert!(decimal("1e3").is_err());
        assert!(decimal(".").is_err());
        let p = |s: &str| decimal_parts(&decimal(s).unwrap()).unwrap();
        assert_eq!(
            cmp_decimal(p("0.13"), p("0.2")),
            Some(std::cmp::Ordering::Less)
        );
        assert_eq!(
            cmp_decimal(p("-1"), p("-1.0")),
            Some(std::cmp::Ordering::Equal)
        );
    }

    #[test]
    fn dates_and_times() {
        for v in [
            "2024/3/5",
            "20240305",
            "2024年3月5日",
            "２０２４－０３－０５",
            " 2024-03-05 ",
        ] {
            assert_eq!(date(v).as_deref(), Ok("2024-03-05"), "{v}");
        }
        assert!(date("2024-02-30").is_err());
        assert_eq!(
            timestamp("2024/3/5 8:05").as_deref(),
            Ok("2024-03-05 08:05:00")
        );
        assert_eq!(
            timestamp("2024-03-05T13:45:00.500+08:00").as_deref(),
            Ok("2024-03-05 13:45:00.5")
        );
        assert_eq!(timestamp("20240305").as_deref(), Ok("2024-03-05 00:00:00"));
        assert!(timestamp("2024-03-05 25:00:00").is_err());
        assert!(timestamp("2024-03-05T13:45:00Z").is_err());
        assert_eq!(bool(" Y "), Ok(1));
        assert_eq!(bool("否"), Ok(0));
        assert!(bool("maybe").is_err());
    }
}
