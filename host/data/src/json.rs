//! Datasets from JSON files (a developer's `fixtures/` directory).
//!
//! ```json
//! {
//!   "name": "fund_daily",
//!   "columns": [{ "name": "org_id", "kind": "text" }, { "name": "closing", "kind": "money" }],
//!   "dimensions": ["org_id"],
//!   "measures": { "closing": { "agg": "sum", "column": "closing" }, "rows": { "agg": "count" } },
//!   "rows": [["3301", 1234567890], ["3302", null]]
//! }
//! ```
//!
//! Column kinds: `boolean`, `int`, `float`, `money`, `decimal`, `text`,
//! `date`, `timestamp` (and `null`). Values are plain JSON: integers for
//! `int`, `money` (fen) and `timestamp` (µs since the epoch), any number for
//! `float`, strings for `text`, `decimal` (`"0.1300"`) and `date`
//! (`"YYYY-MM-DD"`), booleans for `boolean`; `null` anywhere. `dimensions`
//! is required; `measures` and `rows` may be left out. Measures come out in
//! name order.

use crate::FixtureError;
use crate::dataset::{Dataset, Measure, kind_name};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;
use zhiyun_contract::{ColumnMeta, Date, Value, ValueKind};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonDataset {
    name: String,
    columns: Vec<ColumnMeta>,
    dimensions: Vec<String>,
    #[serde(default)]
    measures: BTreeMap<String, Measure>,
    #[serde(default)]
    rows: Vec<Vec<serde_json::Value>>,
}

/// The largest fixture file read, in bytes.
pub const MAX_FIXTURE_FILE_BYTES: u64 = 256 * 1024 * 1024;

/// Parses one dataset from JSON text; `file` names it in errors.
pub fn dataset_from_json(text: &str, file: &str) -> Result<Dataset, FixtureError> {
    let raw: JsonDataset = serde_json::from_str(text).map_err(|e| FixtureError::Json {
        file: file.to_string(),
        line: e.line(),
        column: e.column(),
        // serde_json appends " at line L column C"; the location is ours.
        message: {
            let m = e.to_string();
            m.rsplit_once(" at line ")
                .map_or(m.clone(), |(m, _)| m.to_string())
        },
    })?;
    let with_file = |e: FixtureError| match e {
        FixtureError::Invalid {
            dataset,
            row,
            column,
            message,
            ..
        } => FixtureError::Invalid {
            file: Some(file.to_string()),
            dataset,
            row,
            column,
            message,
        },
        other => other,
    };
    let mut ds = Dataset::new(
        &raw.name,
        raw.columns.clone(),
        raw.dimensions,
        raw.measures.into_iter().collect(),
    )
    .map_err(with_file)?;
    ds.reserve_rows(raw.rows.len());
    let mut values = Vec::with_capacity(raw.columns.len());
    for (r, row) in raw.rows.iter().enumerate() {
        let err = |column: Option<&str>, message: String| FixtureError::Invalid {
            file: Some(file.to_string()),
            dataset: Some(raw.name.clone()),
            row: Some(r + 1),
            column: column.map(String::from),
            message,
        };
        if row.len() != raw.columns.len() {
            return Err(err(
                None,
                format!(
                    "has {} values; the dataset has {} columns",
                    row.len(),
                    raw.columns.len()
                ),
            ));
        }
        values.clear();
        for (v, c) in row.iter().zip(&raw.columns) {
            values.push(convert(v, c.kind).map_err(|m| err(Some(&c.name), m))?);
        }
        ds.push_row(&values).map_err(with_file)?;
    }
    Ok(ds)
}

fn convert(v: &serde_json::Value, kind: ValueKind) -> Result<Value, String> {
    use serde_json::Value as J;
    if v.is_null() {
        return Ok(Value::Null);
    }
    let wrong = |want: &str| {
        format!(
            "expected {want} for a {} column, found {v}",
            kind_name(kind)
        )
    };
    Ok(match (kind, v) {
        (ValueKind::Boolean, J::Bool(b)) => Value::Boolean(*b),
        (ValueKind::Int, J::Number(n)) => {
            Value::Int(n.as_i64().ok_or_else(|| wrong("an integer"))?)
        }
        (ValueKind::Timestamp, J::Number(n)) => Value::Timestamp(
            n.as_i64()
                .ok_or_else(|| wrong("an integer (microseconds since the Unix epoch)"))?,
        ),
        (ValueKind::Money, J::Number(n)) => match n.as_i64() {
            Some(fen) => Value::Money(fen),
            None => {
                return Err(format!(
                    "money is an integer number of fen, found {n} (write 1250 for 12.50 元)"
                ));
            }
        },
        (ValueKind::Float, J::Number(n)) => {
            Value::Float(n.as_f64().ok_or_else(|| wrong("a number"))?)
        }
        (ValueKind::Text, J::String(s)) => Value::Text(s.clone()),
        (ValueKind::Decimal, J::String(s)) => {
            if !is_decimal(s) {
                return Err(format!(
                    "\"{s}\" is not a decimal; write it like \"0.1300\" or \"-12.5\""
                ));
            }
            Value::Decimal(s.clone())
        }
        (ValueKind::Date, J::String(s)) => match Date::parse_iso(s) {
            Some(d) => Value::Date(d),
            None => return Err(format!("\"{s}\" is not a date; write it as \"YYYY-MM-DD\"")),
        },
        (ValueKind::Boolean, _) => return Err(wrong("true or false")),
        (ValueKind::Int | ValueKind::Money | ValueKind::Timestamp, _) => {
            return Err(wrong("an integer"));
        }
        (ValueKind::Float, _) => return Err(wrong("a number")),
        (ValueKind::Decimal, _) => return Err(wrong("a string such as \"0.1300\"")),
        (ValueKind::Date, _) => return Err(wrong("a string \"YYYY-MM-DD\"")),
        (ValueKind::Text, _) => return Err(wrong("a string")),
        (ValueKind::Null, _) => return Err(wrong("null")),
    })
}

fn is_decimal(s: &str) -> bool {
    let s = s.strip_prefix('-').unwrap_or(s);
    let (int, frac) = s.split_once('.').unwrap_or((s, "0"));
    !int.is_empty()
        && !frac.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit())
}

/// Reads every `*.json` file of `dir` (in name order) as a dataset. Two
/// files defining the same dataset are an error.
pub fn datasets_from_dir(dir: &Path) -> Result<Vec<Dataset>, FixtureError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| FixtureError::Io { path, source }
    };
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map_err(io(dir))?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(io(dir))?;
    files.retain(|p| p.extension().is_some_and(|e| e == "json") && p.is_file());
    files.sort();
    let mut out: Vec<(Dataset, String)> = Vec::with_capacity(files.len());
    for path in files {
        let file = path.display().to_string();
        let size = std::fs::metadata(&path).map_err(io(&path))?.len();
        if size > MAX_FIXTURE_FILE_BYTES {
            return Err(FixtureError::Invalid {
                file: Some(file),
                dataset: None,
                row: None,
                column: None,
                message: format!(
                    "is {size} bytes; a fixture file may be at most {MAX_FIXTURE_FILE_BYTES} bytes"
                ),
            });
        }
        let text = std::fs::read_to_string(&path).map_err(io(&path))?;
        let ds = dataset_from_json(&text, &file)?;
        if let Some((_, other)) = out.iter().find(|(d, _)| d.name() == ds.name()) {
            return Err(FixtureError::Invalid {
                file: Some(file.clone()),
                dataset: Some(ds.name().to_string()),
                row: None,
                column: None,
                message: format!("is also defined in {other}"),
            });
        }
        out.push((ds, file));
    }
    Ok(out.into_iter().map(|(d, _)| d).collect())
}
