//! The manifest (清单) of a batch: what the source says it sent.

use serde::{Deserialize, Serialize};
use std::path::Path;

/// The manifest's file name inside a batch directory.
pub const MANIFEST_FILE: &str = "manifest.json";
/// The generator's list of injected anomalies (one [`GroundTruth`] per line).
pub const GROUND_TRUTH_FILE: &str = "ground_truth.jsonl";
/// The manifest format this code reads and writes.
pub const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format_version: u32,
    /// Unique per delivery, e.g. `GDP-2026-B1-s42`. Loading is idempotent per batch id.
    pub batch_id: String,
    /// Who sent it, e.g. `group-data-platform` (集团数据中台).
    pub source: String,
    /// The business date the batch is as of (YYYY-MM-DD).
    pub as_of: String,
    /// Free-form facts about how the batch was made (generator seed and scale, …).
    #[serde(default)]
    pub notes: serde_json::Map<String, serde_json::Value>,
    pub tables: Vec<TableManifest>,
}

/// One table of a batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableManifest {
    /// The source table name, lowercase snake case (`gl_voucher_line`).
    pub name: String,
    /// The data file, relative to the batch directory (`tables/gl_voucher_line.csv.gz`).
    pub file: String,
    pub format: FileFormat,
    /// Business domain (业务域): 资金, 总账, 预算, 营销电费, 工程, 资产, 物资, 税务, 人资, 共享运营, …
    pub domain: String,
    /// What the table holds, in Chinese as the source describes it.
    pub description: String,
    pub columns: Vec<ColumnSpec>,
    /// The business key: the columns that identify a row (unique except for duplicate deliveries).
    pub key: Vec<String>,
    /// The column whose value gives the row's period (a YYYYMM or a date), if any.
    #[serde(default)]
    pub period_column: Option<String>,
    /// The column holding the row's org (org_id), if any.
    #[serde(default)]
    pub org_column: Option<String>,
    /// Records the source sent (data lines, header excluded; duplicate deliveries counted).
    pub rows: u64,
    /// [`crate::Checksum`] of all records, as 16 hex digits.
    pub checksum: String,
    /// For every money column: the sum in 分 per (period, org). Period or org is `""`
    /// when the table has no such column.
    #[serde(default)]
    pub money_sums: Vec<MoneySum>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnSpec {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: ColumnType,
    #[serde(default)]
    pub description: String,
}

/// The type the source declares for a column. Files carry text; the type says
/// how the DWD layer reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColumnType {
    String,
    Int,
    /// Money: 元 with up to two decimals in the file; 分 (integer) once typed.
    Money,
    /// A non-money decimal (kWh, rates, quantities).
    Decimal,
    Date,
    Timestamp,
    Bool,
}

impl ColumnType {
    pub fn as_str(self) -> &'static str {
        match self {
            ColumnType::String => "string",
            ColumnType::Int => "int",
            ColumnType::Money => "money",
            ColumnType::Decimal => "decimal",
            ColumnType::Date => "date",
            ColumnType::Timestamp => "timestamp",
            ColumnType::Bool => "bool",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FileFormat {
    #[serde(rename = "csv")]
    Csv,
    #[serde(rename = "csv.gz")]
    CsvGz,
    #[serde(rename = "jsonl")]
    Jsonl,
}

impl FileFormat {
    /// The file extension, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            FileFormat::Csv => "csv",
            FileFormat::CsvGz => "csv.gz",
            FileFormat::Jsonl => "jsonl",
        }
    }

    pub fn parse(s: &str) -> Option<FileFormat> {
        match s {
            "csv" => Some(FileFormat::Csv),
            "csv.gz" | "csvgz" | "gz" => Some(FileFormat::CsvGz),
            "jsonl" | "json" => Some(FileFormat::Jsonl),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MoneySum {
    pub column: String,
    pub period: String,
    pub org: String,
    pub fen: i64,
}

/// One anomaly the generator injected on purpose, for measuring alert rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroundTruth {
    /// The alert rule that should find it (A01 …), or a data-quality kind
    /// (`dirty:*`, `malformed`, `duplicate`).
    pub rule: String,
    pub table: String,
    /// The business key of the row, key columns joined by `|`.
    pub key: String,
    #[serde(default)]
    pub detail: String,
}

impl Manifest {
    /// Reads and checks `<dir>/manifest.json`.
    pub fn load(dir: &Path) -> Result<Manifest, String> {
        let path = dir.join(MANIFEST_FILE);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("{}: cannot read the manifest: {e}", path.display()))?;
        let de = &mut serde_json::Deserializer::from_str(&text);
        let manifest: Manifest = serde_path_to_error::deserialize(de)
            .map_err(|e| format!("{}: not a valid manifest: {e}", path.display()))?;
        manifest
            .check()
            .map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(manifest)
    }

    /// Structural checks a manifest must pass before anything is loaded.
    pub fn check(&self) -> Result<(), String> {
        if self.format_version != FORMAT_VERSION {
            return Err(format!(
                "format_version {} is not supported (this build reads {FORMAT_VERSION})",
                self.format_version
            ));
        }
        if self.batch_id.is_empty()
            || !self
                .batch_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err(format!(
                "batch_id {:?} must be non-empty ASCII letters, digits, '-', '_' or '.'",
                self.batch_id
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for t in &self.tables {
            if !is_snake_name(&t.name) {
                return Err(format!(
                    "table name {:?} must be lowercase snake case (a-z, 0-9, _), starting with a letter",
                    t.name
                ));
            }
            if !seen.insert(t.name.as_str()) {
                return Err(format!("table {:?} is listed twice", t.name));
            }
            if t.file.contains("..") || t.file.starts_with('/') {
                return Err(format!(
                    "table {}: file {:?} must be a relative path inside the batch",
                    t.name, t.file
                ));
            }
            let mut cols = std::collections::HashSet::new();
            for c in &t.columns {
                if !is_snake_name(&c.name) {
                    return Err(format!(
                        "table {}: column name {:?} must be lowercase snake case",
                        t.name, c.name
                    ));
                }
                if !cols.insert(c.name.as_str()) {
                    return Err(format!(
                        "table {}: column {:?} is listed twice",
                        t.name, c.name
                    ));
                }
            }
            for k in t
                .key
                .iter()
                .chain(t.period_column.iter())
                .chain(t.org_column.iter())
            {
                if !cols.contains(k.as_str()) {
                    return Err(format!(
                        "table {}: column {k:?} (key, period or org) is not among its columns",
                        t.name
                    ));
                }
            }
            if t.key.is_empty() {
                return Err(format!("table {}: has no key columns", t.name));
            }
            if u64::from_str_radix(&t.checksum, 16).is_err() || t.checksum.len() != 16 {
                return Err(format!(
                    "table {}: checksum {:?} must be 16 hex digits",
                    t.name, t.checksum
                ));
            }
        }
        Ok(())
    }

    pub fn table(&self, name: &str) -> Option<&TableManifest> {
        self.tables.iter().find(|t| t.name == name)
    }
}

impl TableManifest {
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    /// Positions of the money columns, in column order.
    pub fn money_columns(&self) -> Vec<usize> {
        money_columns(&self.columns)
    }

    pub fn column_names(&self) -> Vec<&str> {
        self.columns.iter().map(|c| c.name.as_str()).collect()
    }
}

/// Positions of the money columns among `columns`.
pub fn money_columns(columns: &[ColumnSpec]) -> Vec<usize> {
    columns
        .iter()
        .enumerate()
        .filter(|(_, c)| c.ty == ColumnType::Money)
        .map(|(i, _)| i)
        .collect()
}

/// Lowercase ASCII snake case starting with a letter, at most 56 bytes: safe
/// as an SQL identifier, and short enough that a layer prefix (`ods_`) and a
/// suffix stay within PostgreSQL's 63-byte limit.
pub fn is_snake_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some('a'..='z'))
        && s.len() <= 56
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'))
}
