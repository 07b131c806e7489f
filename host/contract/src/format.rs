//! Display formatting of values by [`NumberFormat`], for every host-side
//! renderer (terminal, CSV, HTML). Integer arithmetic for money: fen are
//! never converted to a float.

use crate::{NumberFormat, Value};

/// Formats a value for display. Money is fen; `WanYuan`/`YiYuan` divide with
/// rounding half away from zero.
pub fn format_value(value: &Value, format: NumberFormat) -> String {
    match (value, format) {
        (Value::Null, _) => "—".to_string(),
        (Value::Money(fen), NumberFormat::WanYuan(d)) => scaled(*fen as i128, 1_000_000, d),
        (Value::Money(fen), NumberFormat::YiYuan(d)) => scaled(*fen as i128, 10_000_000_000, d),
        (Value::Money(fen), _) => scaled(*fen as i128, 100, 2),
        (Value::Int(i), NumberFormat::Percent(d)) => {
            format!("{:.*}%", d as usize, *i as f64 * 100.0)
        }
        (Value::Float(f), NumberFormat::Percent(d)) => format!("{:.*}%", d as usize, f * 100.0),
        (Value::Float(f), NumberFormat::Fixed(d)) => group(&format!("{:.*}", d as usize, f)),
        (Value::Int(i), NumberFormat::Thousands | NumberFormat::Yuan) => group(&i.to_string()),
        (Value::Float(f), NumberFormat::Thousands) => group(&format!("{f:.0}")),
        (v, _) => v.to_text(),
    }
}

/// `amount / divisor` with `decimals` places, rounded half away from zero,
/// with thousands separators.
fn scaled(amount: i128, divisor: i128, decimals: u8) -> String {
    let decimals = decimals.min(8) as u32;
    let unit = 10i128.pow(decimals);
    // amount * unit / divisor, rounded half away from zero.
    let num = amount * unit;
    let q = num / divisor;
    let r = num % divisor;
    let rounded = if (r.abs() * 2) >= divisor {
        q + num.signum()
    } else {
        q
    };
    let negative = rounded < 0;
    let abs = rounded.abs();
    let int_part = abs / unit;
    let frac = abs % unit;
    let mut out = String::new();
    if negative {
        out.push('-');
    }
    out.push_str(&group(&int_part.to_string()));
    if decimals > 0 {
        out.push('.');
        out.push_str(&format!("{:0width$}", frac, width = decimals as usize));
    }
    out
}

/// Inserts thousands separators into a plain decimal number string.
fn group(s: &str) -> String {
    let (sign, rest) = match s.strip_prefix('-') {
        Some(r) => ("-", r),
        None => ("", s),
    };
    let (int, frac) = match rest.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (rest, None),
    };
    let mut grouped = String::new();
    for (i, ch) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(ch);
    }
    match frac {
        Some(f) => format!("{sign}{grouped}.{f}"),
        None => format!("{sign}{grouped}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_formats_from_fen_exactly() {
        assert_eq!(
            format_value(&Value::Money(123_456_789), NumberFormat::Yuan),
            "1,234,567.89"
        );
        assert_eq!(format_value(&Value::Money(-5), NumberFormat::Yuan), "-0.05");
        assert_eq!(
            format_value(&Value::Money(123_456_789), NumberFormat::WanYuan(2)),
            "123.46"
        );
        assert_eq!(
            format_value(&Value::Money(-123_450_000), NumberFormat::WanYuan(2)),
            "-123.45"
        );
        assert_eq!(
            format_value(&Value::Money(5_000), NumberFormat::WanYuan(2)),
            "0.01"
        );
        assert_eq!(
            format_value(&Value::Money(4_999), NumberFormat::WanYuan(2)),
            "0.00"
        );
        assert_eq!(
            format_value(&Value::Money(i64::MAX), NumberFormat::YiYuan(2)),
            "922,337,203.69"
        );
    }

    #[test]
    fn other_formats() {
        assert_eq!(
            format_value(&Value::Float(0.12345), NumberFormat::Percent(2)),
            "12.35%"
        );
        assert_eq!(
            format_value(&Value::Int(1234567), NumberFormat::Thousands),
            "1,234,567"
        );
        assert_eq!(format_value(&Value::Null, NumberFormat::Yuan), "—");
        assert_eq!(
            format_value(&Value::Text("x".into()), NumberFormat::Plain),
            "x"
        );
    }
}
