//! Writing a table's data file and its manifest entry in one pass, so the
//! manifest always describes exactly what was meant to be sent.

use crate::hash::{Checksum, row_hash};
use crate::manifest::{ColumnSpec, FileFormat, MoneySum, TableManifest};
use crate::money::parse_yuan;
use crate::period::period_of;
use flate2::Compression;
use flate2::write::GzEncoder;
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

/// Everything about a table except its data.
#[derive(Debug, Clone)]
pub struct TableSpec {
    pub name: String,
    pub domain: String,
    pub description: String,
    pub columns: Vec<ColumnSpec>,
    pub key: Vec<String>,
    pub period_column: Option<String>,
    pub org_column: Option<String>,
}

enum Sink {
    Plain(BufWriter<File>),
    Gz(GzEncoder<BufWriter<File>>),
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Sink::Plain(w) => w.write(buf),
            Sink::Gz(w) => w.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Sink::Plain(w) => w.flush(),
            Sink::Gz(w) => w.flush(),
        }
    }
}

/// Writes one table: rows go to the file, and the row count, checksum and
/// money sums the manifest will carry are accumulated as they pass.
pub struct TableWriter {
    spec: TableSpec,
    format: FileFormat,
    file: String,
    sink: Sink,
    checksum: Checksum,
    money_columns: Vec<usize>,
    period_index: Option<usize>,
    org_index: Option<usize>,
    /// "period\x1forg" → 分 per money column (in `money_columns` order):
    /// one lookup per row, an allocation only for a new cell.
    sums: HashMap<String, Vec<i64>>,
    cell: String,
    line: Vec<u8>,
}

impl TableWriter {
    /// Creates `<batch_dir>/tables/<name>.<ext>` and writes the header.
    pub fn create(
        batch_dir: &Path,
        spec: TableSpec,
        format: FileFormat,
    ) -> std::io::Result<TableWriter> {
        let file = format!("tables/{}.{}", spec.name, format.extension());
        let path = batch_dir.join(&file);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let out = BufWriter::with_capacity(1 << 16, File::create(&path)?);
        let sink = match format {
            FileFormat::CsvGz => Sink::Gz(GzEncoder::new(out, Compression::fast())),
            FileFormat::Csv | FileFormat::Jsonl => Sink::Plain(out),
        };
        let index = |name: &Option<String>| {
            name.as_ref()
                .and_then(|n| spec.columns.iter().position(|c| &c.name == n))
        };
        let mut writer = TableWriter {
            money_columns: crate::manifest::money_columns(&spec.columns),
            period_index: index(&spec.period_column),
            org_index: index(&spec.org_column),
            spec,
            format,
            file,
            sink,
            checksum: Checksum::default(),
            sums: HashMap::new(),
            cell: String::new(),
            line: Vec::with_capacity(256),
        };
        if format != FileFormat::Jsonl {
            let names: Vec<String> = writer.spec.columns.iter().map(|c| c.name.clone()).collect();
            writer.encode(&names);
            writer.sink.write_all(&writer.line)?;
        }
        Ok(writer)
    }

    /// Writes a record and counts it in the manifest.
    pub fn write_row<S: AsRef<str>>(&mut self, values: &[S]) -> std::io::Result<()> {
        self.count(values);
        self.encode(values);
        self.sink.write_all(&self.line)
    }

    /// Counts a record in the manifest but writes `raw` (a damaged line, which
    /// must end with a newline) in its place: the source meant to send the
    /// record and the transfer broke it.
    pub fn write_damaged<S: AsRef<str>>(
        &mut self,
        intended: &[S],
        raw: &[u8],
    ) -> std::io::Result<()> {
        self.count(intended);
        self.sink.write_all(raw)
    }

    /// Writes a record without counting it: the file then disagrees with the
    /// manifest (for testing reconciliation).
    pub fn write_unlisted<S: AsRef<str>>(&mut self, values: &[S]) -> std::io::Result<()> {
        self.encode(values);
        self.sink.write_all(&self.line)
    }

    pub fn rows(&self) -> u64 {
        self.checksum.rows
    }

    /// Flushes the file and returns the table's manifest entry.
    pub fn finish(self) -> std::io::Result<TableManifest> {
        match self.sink {
            Sink::Plain(mut w) => w.flush()?,
            Sink::Gz(w) => w.finish()?.flush()?,
        }
        // Sorted by (column index, period, org), as the manifest lists them.
        let mut sorted: BTreeMap<(usize, &str, &str), i64> = BTreeMap::new();
        for (cell, fens) in &self.sums {
            let (period, org) = cell.split_once('\x1f').unwrap_or((cell, ""));
            for (&col, &fen) in self.money_columns.iter().zip(fens) {
                sorted.insert((col, period, org), fen);
            }
        }
        let money_sums = sorted
            .into_iter()
            .map(|((col, period, org), fen)| MoneySum {
                column: self.spec.columns[col].name.clone(),
                period: period.to_owned(),
                org: org.to_owned(),
                fen,
            })
            .collect();
        Ok(TableManifest {
            name: self.spec.name,
            file: self.file,
            format: self.format,
            domain: self.spec.domain,
            description: self.spec.description,
            columns: self.spec.columns,
            key: self.spec.key,
            period_column: self.spec.period_column,
            org_column: self.spec.org_column,
            rows: self.checksum.rows,
            checksum: self.checksum.hex(),
            money_sums,
        })
    }

    fn count<S: AsRef<str>>(&mut self, values: &[S]) {
        assert_eq!(
            values.len(),
            self.spec.columns.len(),
            "table {}: a row must have one value per column",
            self.spec.name
        );
        self.checksum.add(row_hash(values));
        if self.money_columns.is_empty() {
            return;
        }
        self.cell.clear();
        if let Some(period) = self
            .period_index
            .and_then(|i| period_of(values[i].as_ref()))
        {
            self.cell.push_str(&period);
        }
        self.cell.push('\x1f');
        if let Some(i) = self.org_index {
            self.cell.push_str(values[i].as_ref().trim());
        }
        if !self.sums.contains_key(self.cell.as_str()) {
            self.sums
                .insert(self.cell.clone(), vec![0; self.money_columns.len()]);
        }
        if let Some(fens) = self.sums.get_mut(self.cell.as_str()) {
            for (slot, &col) in fens.iter_mut().zip(&self.money_columns) {
                // A value that is not money (dirty data) is not summed; the
                // warehouse's reconciliation skips it the same way.
                *slot += parse_yuan(values[col].as_ref()).unwrap_or(0);
            }
        }
    }

    fn encode<S: AsRef<str>>(&mut self, values: &[S]) {
        self.line.clear();
        match self.format {
            FileFormat::Csv | FileFormat::CsvGz => {
                for (i, v) in values.iter().enumerate() {
                    if i > 0 {
                        self.line.push(b',');
                    }
                    let v = v.as_ref();
                    if v.contains([',', '"', '\n', '\r']) {
                        self.line.push(b'"');
                        for b in v.bytes() {
                            if b == b'"' {
                                self.line.push(b'"');
                            }
                            self.line.push(b);
                        }
                        self.line.push(b'"');
                    } else {
                        self.line.extend_from_slice(v.as_bytes());
                    }
                }
            }
            FileFormat::Jsonl => {
                // By hand, to keep the columns in manifest order (serde_json's
                // map would sort them); strings are escaped by serde_json.
                self.line.push(b'{');
                for (i, (c, v)) in self.spec.columns.iter().zip(values).enumerate() {
                    if i > 0 {
                        self.line.push(b',');
                    }
                    // Writing a string into a Vec cannot fail.
                    let _ = serde_json::to_writer(&mut self.line, &c.name);
                    self.line.push(b':');
                    let _ = serde_json::to_writer(&mut self.line, v.as_ref());
                }
                self.line.push(b'}');
            }
        }
        self.line.push(b'\n');
    }
}

/// Writes `<batch_dir>/manifest.json`.
pub fn write_manifest(batch_dir: &Path, manifest: &crate::Manifest) -> std::io::Result<()> {
    let text = serde_json::to_string_pretty(manifest).map_err(std::io::Error::other)?;
    std::fs::write(batch_dir.join(crate::MANIFEST_FILE), text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::ColumnType;
    use crate::read::{RowReader, Step};

    fn spec() -> TableSpec {
        let col = |name: &str, ty| ColumnSpec {
            name: name.to_owned(),
            ty,
            description: String::new(),
        };
        TableSpec {
            name: "payment".to_owned(),
            domain: "资金".to_owned(),
            description: "付款".to_owned(),
            columns: vec![
                col("pay_id", ColumnType::String),
                col("org_id", ColumnType::String),
                col("pay_date", ColumnType::Date),
                col("amount", ColumnType::Money),
                col("payee", ColumnType::String),
            ],
            key: vec!["pay_id".to_owned()],
            period_column: Some("pay_date".to_owned()),
            org_column: Some("org_id".to_owned()),
        }
    }

    #[test]
    fn every_format_reads_back_what_was_written() {
        let rows = [
            ["P1", "3301", "2024-03-05", "100.50", "国网,\"某\"公司"],
            ["P2", "3301", "2024/3/9", "  7", " padded "],
            ["P3", "3302", "20240401", "-0.05", ""],
        ];
        for format in [FileFormat::Csv, FileFormat::CsvGz, FileFormat::Jsonl] {
            let dir = tempfile::tempdir().unwrap();
            let mut w = TableWriter::create(dir.path(), spec(), format).unwrap();
            for r in &rows {
                w.write_row(r).unwrap();
            }
            let m = w.finish().unwrap();
            assert_eq!(m.rows, 3);
            assert_eq!(
                m.money_sums,
                vec![
                    MoneySum {
                        column: "amount".into(),
                        period: "202403".into(),
                        org: "3301".into(),
                        fen: 10750
                    },
                    MoneySum {
                        column: "amount".into(),
                        period: "202404".into(),
                        org: "3302".into(),
                        fen: -5
                    },
                ]
            );
            let mut r = RowReader::open(&dir.path().join(&m.file), format).unwrap();
            assert_eq!(
                r.header(),
                ["pay_id", "org_id", "pay_date", "amount", "payee"]
            );
            let mut values = Vec::new();
            let mut sum = Checksum::default();
            let mut read = Vec::new();
            loop {
                match r.next_into(&mut values).unwrap() {
                    Step::Record { .. } => {
                        sum.add(row_hash(&values));
                        read.push(values.clone());
                    }
                    Step::Bad(b) => panic!("{format:?}: {b:?}"),
                    Step::End => break,
                }
            }
            assert_eq!(
                read,
                rows.map(|r| r.map(str::to_owned).to_vec()).to_vec(),
                "{format:?}"
            );
            assert_eq!(sum.hex(), m.checksum);
        }
    }

    #[test]
    fn bad_lines_are_reported_and_reading_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        let mut bytes = b"a,b\n1,x\n2\n".to_vec();
        bytes.extend_from_slice(b"3,");
        bytes.extend_from_slice(&encoding_rs::GBK.encode("电费").0);
        bytes.extend_from_slice(b"\n4,\x01\x02\xff\n5,y\n");
        std::fs::write(&path, bytes).unwrap();
        let mut r = RowReader::open(&path, FileFormat::Csv).unwrap();
        let mut values = Vec::new();
        let mut seen = Vec::new();
        loop {
            match r.next_into(&mut values).unwrap() {
                Step::Record { line } => seen.push(format!("{line}:ok")),
                Step::Bad(b) => seen.push(format!("{}:{}", b.line, b.reason)),
                Step::End => break,
            }
        }
        assert_eq!(seen[0], "2:ok");
        assert_eq!(seen[1], "3:1 fields, the header has 2");
        assert!(
            seen[2].starts_with("4:column 2 (b) is not valid UTF-8: the bytes read as GBK"),
            "{}",
            seen[2]
        );
        assert!(
            seen[3].starts_with("5:column 2 (b) is not valid UTF-8"),
            "{}",
            seen[3]
        );
        assert_eq!(seen[4], "6:ok");
    }

    #[test]
    fn a_truncated_gzip_file_is_an_error_naming_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = TableWriter::create(dir.path(), spec(), FileFormat::CsvGz).unwrap();
        for i in 0..20_000 {
            w.write_row(&[
                format!("P{i}"),
                "3301".into(),
                "2024-03-05".into(),
                "1.00".into(),
                "x".repeat(i % 50),
            ])
            .unwrap();
        }
        let m = w.finish().unwrap();
        let path = dir.path().join(&m.file);
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
        let mut r = RowReader::open(&path, FileFormat::CsvGz).unwrap();
        let mut values = Vec::new();
        let err = loop {
            match r.next_into(&mut values) {
                Ok(Step::End) => panic!("a truncated file must not end cleanly"),
                Ok(_) => {}
                Err(e) => break e,
            }
        };
        let text = err.to_string();
        assert!(
            text.contains("t.csv.gz") || text.contains("payment.csv.gz"),
            "{text}"
        );
        assert!(text.contains("after line"), "{text}");
    }
}
