//! Dirty data (脏数据) as real backflow files carry it, always in non-key,
//! non-money columns: padded strings, full-width characters, mixed date
//! formats, codes from an old code set, duplicate deliveries and damaged
//! lines. Every dirty row is reported in the ground truth by the caller.

use crate::values::R;
use rand::Rng;
use zhiyun_batch::FileFormat;

/// Old → new code maps, also written to the batch as dictionary tables.
/// 用电类别: the old 2-digit codes of the pre-营销2.0 system.
pub const ELEC_CATEGORY_CODES: &[(&str, &str)] =
    &[("01", "100"), ("02", "200"), ("03", "300"), ("04", "400")];
/// Banks: old letter codes → CNAPS 行别代码.
pub const BANK_CODES: &[(&str, &str)] = &[
    ("ICBC", "102"),
    ("ABC", "103"),
    ("BOC", "104"),
    ("CCB", "105"),
    ("BCM", "301"),
];

/// Which columns of a table may carry which dirt.
#[derive(Default, Clone)]
pub struct DirtPlan {
    pub padded: Vec<usize>,
    pub fullwidth: Vec<usize>,
    pub dates: Vec<usize>,
    /// (column, old → new map)
    pub old_code: Vec<(usize, &'static [(&'static str, &'static str)])>,
}

/// Makes one value of the row dirty. Returns the ground-truth rule and the
/// column, or `None` when the row should instead be delivered twice
/// (either because that was drawn or no value of this row can be dirtied).
pub fn apply(plan: &DirtPlan, rng: &mut R, vals: &mut [String]) -> Option<(&'static str, usize)> {
    // Candidates that apply to this row's actual values.
    let mut cands: Vec<(&'static str, usize)> = Vec::with_capacity(8);
    for &i in &plan.padded {
        if !vals[i].is_empty() {
            cands.push(("dirty:padded", i));
        }
    }
    for &i in &plan.fullwidth {
        if vals[i].bytes().any(|b| b.is_ascii_alphanumeric()) {
            cands.push(("dirty:fullwidth", i));
        }
    }
    for &i in &plan.dates {
        if iso_date(&vals[i]).is_some() {
            cands.push(("dirty:date_format", i));
        }
    }
    for &(i, map) in &plan.old_code {
        if map.iter().any(|(_, new)| *new == vals[i]) {
            cands.push(("dirty:old_code", i));
        }
    }
    // One draw in five (or always, when nothing else applies) is a duplicate.
    if cands.is_empty() || rng.random_range(0..5) == 0 {
        return None;
    }
    let (kind, i) = cands[rng.random_range(0..cands.len())];
    let v = std::mem::take(&mut vals[i]);
    vals[i] = match kind {
        "dirty:padded" => match rng.random_range(0..3) {
            0 => format!("  {v}"),
            1 => format!("{v}   "),
            _ => format!("\u{3000}{v}\u{3000}"),
        },
        "dirty:fullwidth" => to_fullwidth(&v),
        "dirty:date_format" => {
            let (y, m, d) = iso_date(&v).unwrap_or((2025, 1, 1));
            match rng.random_range(0..3) {
                0 => format!("{y}/{m}/{d}"),
                1 => format!("{y:04}{m:02}{d:02}"),
                _ => format!("{y}年{m}月{d}日"),
            }
        }
        _ => plan
            .old_code
            .iter()
            .find(|(c, _)| *c == i)
            .and_then(|(_, map)| map.iter().find(|(_, new)| *new == v))
            .map_or(v.clone(), |(old, _)| (*old).to_owned()),
    };
    Some((kind, i))
}

/// ASCII letters and digits → their full-width forms (Ａ, １ …).
pub fn to_fullwidth(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                char::from_u32(c as u32 + 0xFEE0).unwrap_or(c)
            } else {
                c
            }
        })
        .collect()
}

fn iso_date(s: &str) -> Option<(u32, u32, u32)> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    Some((
        s[..4].parse().ok()?,
        s[5..7].parse().ok()?,
        s[8..].parse().ok()?,
    ))
}

/// How a line is damaged in transfer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Damage {
    /// One field too many.
    FieldCount,
    /// The line breaks off in the middle of a field.
    Cut,
    /// Binary bytes in a text field.
    Binary,
}

impl Damage {
    pub fn describe(self) -> &'static str {
        match self {
            Damage::FieldCount => "wrong number of fields",
            Damage::Cut => "line cut off in the middle of a field",
            Damage::Binary => "binary garbage bytes in a text field",
        }
    }
}

/// The damaged bytes written in place of a record (ending with a newline).
/// Quotes and separators are removed from the values first so the damage
/// stays on this one line and a reader can skip it.
pub fn damaged_line(
    damage: Damage,
    format: FileFormat,
    columns: &[String],
    vals: &[String],
    text_col: usize,
) -> Vec<u8> {
    let clean: Vec<String> = vals
        .iter()
        .map(|v| v.replace([',', '"', '\n', '\r', '\\'], " "))
        .collect();
    let mut out = Vec::new();
    match format {
        FileFormat::Csv | FileFormat::CsvGz => match damage {
            Damage::FieldCount => {
                out.extend_from_slice(clean.join(",").as_bytes());
                out.extend_from_slice(b",EXTRA");
            }
            Damage::Cut => {
                let half = clean.len().div_ceil(2).max(1);
                let keep = (half - 1).min(clean.len() - 1);
                let mut fields: Vec<String> = clean[..keep].to_vec();
                let last = &clean[keep];
                let cut: String = last.chars().take(last.chars().count() / 2).collect();
                fields.push(cut);
                // With one column the cut would still be one field: add the
                // separator so the field count is wrong.
                let mut line = fields.join(",");
                if clean.len() == 1 {
                    line.push(',');
                }
                out.extend_from_slice(line.as_bytes());
            }
            Damage::Binary => {
                for (i, v) in clean.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    if i == text_col {
                        out.extend_from_slice(b"\x01\x02\xff\xfe\x00");
                        out.extend_from_slice(v.as_bytes());
                    } else {
                        out.extend_from_slice(v.as_bytes());
                    }
                }
            }
        },
        FileFormat::Jsonl => {
            let mut obj = Vec::new();
            obj.push(b'{');
            let keep = if damage == Damage::FieldCount {
                clean.len() - 1
            } else {
                clean.len()
            };
            for i in 0..keep {
                if i > 0 {
                    obj.push(b',');
                }
                obj.push(b'"');
                obj.extend_from_slice(columns[i].as_bytes());
                obj.extend_from_slice(b"\":\"");
                if damage == Damage::Binary && i == text_col {
                    obj.extend_from_slice(b"\x01\xff\xfe");
                }
                obj.extend_from_slice(clean[i].as_bytes());
                obj.push(b'"');
            }
            obj.push(b'}');
            if damage == Damage::FieldCount && keep == 0 {
                obj = b"{\"x\":\"1\"}".to_vec();
            }
            if damage == Damage::Cut {
                obj.truncate(obj.len() / 2);
            }
            out = obj;
        }
    }
    out.push(b'\n');
    out
}
