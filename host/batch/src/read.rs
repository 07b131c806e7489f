//! Reading a table's data file, record by record, with line numbers.
//!
//! A bad *line* (wrong number of fields, bytes that are not UTF-8, a JSON
//! line that is not an object of strings) is reported as [`Step::Bad`] and
//! reading goes on: the warehouse quarantines it. A bad *file* (cannot be
//! opened, a gzip stream cut short, an I/O error) ends reading with a
//! [`ReadError`] that names the file and the line reached.

use crate::manifest::FileFormat;
use flate2::read::MultiGzDecoder;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

/// A line that could not be read as a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLine {
    /// 1-based line number in the (decompressed) file.
    pub line: u64,
    pub reason: String,
    /// The line as far as it could be shown (lossy UTF-8, at most 500 bytes).
    pub raw: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{file}: cannot open: {source}")]
    Open {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("{file}: has no header line (empty file)")]
    NoHeader { file: PathBuf },
    #[error("{file}: the header line is not valid: {reason}")]
    BadHeader { file: PathBuf, reason: String },
    #[error("{file}, after line {line}: {reason}")]
    Broken {
        file: PathBuf,
        line: u64,
        reason: String,
    },
}

/// What one read produced.
#[derive(Debug)]
pub enum Step {
    /// A record; its values are in the caller's buffer, in header order.
    Record {
        line: u64,
    },
    Bad(BadLine),
    End,
}

enum Inner {
    Csv(csv::Reader<Box<dyn Read + Send>>, csv::ByteRecord),
    Jsonl(Box<dyn BufRead + Send>, Vec<u8>),
}

/// Reads one data file. The header (CSV) or the first object's keys (JSON
/// Lines, which must then be the same in every line) name the columns.
pub struct RowReader {
    file: PathBuf,
    inner: Inner,
    header: Vec<String>,
    line: u64,
    /// A JSON Lines file's first record, read to learn the header.
    pending: Option<Result<Vec<String>, BadLine>>,
}

const RAW_SHOWN: usize = 500;

impl RowReader {
    pub fn open(path: &Path, format: FileFormat) -> Result<RowReader, ReadError> {
        let file = File::open(path).map_err(|source| ReadError::Open {
            file: path.to_owned(),
            source,
        })?;
        let raw: Box<dyn Read + Send> = match format {
            FileFormat::CsvGz => {
                Box::new(MultiGzDecoder::new(BufReader::with_capacity(1 << 16, file)))
            }
            FileFormat::Csv | FileFormat::Jsonl => Box::new(file),
        };
        match format {
            FileFormat::Csv | FileFormat::CsvGz => Self::open_csv(path, raw),
            FileFormat::Jsonl => Self::open_jsonl(path, raw),
        }
    }

    fn open_csv(path: &Path, raw: Box<dyn Read + Send>) -> Result<RowReader, ReadError> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .buffer_capacity(1 << 16)
            .from_reader(raw);
        let mut record = csv::ByteRecord::new();
        let header = match reader.read_byte_record(&mut record) {
            Ok(true) => record
                .iter()
                .map(|f| {
                    std::str::from_utf8(f)
                        .map(|s| s.trim().trim_start_matches('\u{feff}').to_owned())
                        .map_err(|_| ReadError::BadHeader {
                            file: path.to_owned(),
                            reason: encoding_hint(f),
                        })
                })
                .collect::<Result<Vec<_>, _>>()?,
            Ok(false) => {
                return Err(ReadError::NoHeader {
                    file: path.to_owned(),
                });
            }
            Err(e) => return Err(broken(path, 0, &e)),
        };
        Ok(RowReader {
            file: path.to_owned(),
            inner: Inner::Csv(reader, record),
            header,
            line: 1,
            pending: None,
        })
    }

    fn open_jsonl(path: &Path, raw: Box<dyn Read + Send>) -> Result<RowReader, ReadError> {
        let mut input: Box<dyn BufRead + Send> = Box::new(BufReader::with_capacity(1 << 16, raw));
        let mut buf = Vec::new();
        let n = input
            .read_until(b'\n', &mut buf)
            .map_err(|e| broken(path, 0, &e))?;
        if n == 0 {
            return Err(ReadError::NoHeader {
                file: path.to_owned(),
            });
        }
        let object = parse_json_object(&buf).map_err(|reason| ReadError::BadHeader {
            file: path.to_owned(),
            reason: format!("line 1: {reason}"),
        })?;
        let header: Vec<String> = object.iter().map(|(k, _)| k.clone()).collect();
        let first = object.into_iter().map(|(_, v)| v).collect();
        Ok(RowReader {
            file: path.to_owned(),
            inner: Inner::Jsonl(input, buf),
            header,
            line: 0,
            pending: Some(Ok(first)),
        })
    }

    /// The column names, in file order.
    pub fn header(&self) -> &[String] {
        &self.header
    }

    pub fn path(&self) -> &Path {
        &self.file
    }

    /// Reads the next record into `values` (resized to the header's width,
    /// strings reused). Returns [`Step::End`] at the end of the file.
    pub fn next_into(&mut self, values: &mut Vec<String>) -> Result<Step, ReadError> {
        let width = self.header.len();
        if let Some(first) = self.pending.take() {
            self.line = 1;
            return Ok(match first {
                Ok(fields) => {
                    fill(values, fields.iter().map(String::as_str), width);
                    Step::Record { line: 1 }
                }
                Err(bad) => Step::Bad(bad),
            });
        }
        match &mut self.inner {
            Inner::Csv(reader, record) => {
                let more = reader
                    .read_byte_record(record)
                    .map_err(|e| broken(&self.file, self.line, &e))?;
                if !more {
                    return Ok(Step::End);
                }
                let line = record.position().map_or(self.line + 1, |p| p.line());
                self.line = line;
                if record.len() != width {
                    return Ok(Step::Bad(BadLine {
                        line,
                        reason: format!("{} fields, the header has {width}", record.len()),
                        raw: shown(&join_record(record)),
                    }));
                }
                for (i, field) in record.iter().enumerate() {
                    if std::str::from_utf8(field).is_err() {
                        return Ok(Step::Bad(BadLine {
                            line,
                            reason: format!(
                                "column {} ({}) is not valid UTF-8: {}",
                                i + 1,
                                self.header[i],
                                encoding_hint(field)
                            ),
                            raw: shown(&join_record(record)),
                        }));
                    }
                }
                // Checked above, so from_utf8 cannot fail here.
                fill(
                    values,
                    record.iter().map(|f| std::str::from_utf8(f).unwrap_or("")),
                    width,
                );
                Ok(Step::Record { line })
            }
            Inner::Jsonl(input, buf) => loop {
                buf.clear();
                let n = input
                    .read_until(b'\n', buf)
                    .map_err(|e| broken(&self.file, self.line, &e))?;
                if n == 0 {
                    return Ok(Step::End);
                }
                self.line += 1;
                let line = self.line;
                if buf.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                let object = match parse_json_object(buf) {
                    Ok(o) => o,
                    Err(reason) => {
                        return Ok(Step::Bad(BadLine {
                            line,
                            reason,
                            raw: shown(buf),
                        }));
                    }
                };
                let keys_match = object.len() == width
                    && object.iter().zip(&self.header).all(|((k, _), h)| k == h);
                if !keys_match {
                    let keys: Vec<&str> = object.iter().map(|(k, _)| k.as_str()).collect();
                    return Ok(Step::Bad(BadLine {
                        line,
                        reason: format!(
                            "keys {keys:?} differ from the first line's {:?}",
                            self.header
                        ),
                        raw: shown(buf),
                    }));
                }
                fill(values, object.iter().map(|(_, v)| v.as_str()), width);
                return Ok(Step::Record { line });
            },
        }
    }
}

fn fill<'a>(values: &mut Vec<String>, fields: impl Iterator<Item = &'a str>, width: usize) {
    values.resize_with(width, String::new);
    for (slot, field) in values.iter_mut().zip(fields) {
        slot.clear();
        slot.push_str(field);
    }
}

fn join_record(record: &csv::ByteRecord) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, f) in record.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(f);
    }
    out
}

fn shown(bytes: &[u8]) -> String {
    let cut = &bytes[..bytes.len().min(RAW_SHOWN)];
    // NUL cannot be stored in a PostgreSQL text column; show it escaped.
    String::from_utf8_lossy(cut).trim_end().replace('\0', "\\0")
}

/// Says what the bytes probably are when they are not UTF-8.
fn encoding_hint(bytes: &[u8]) -> String {
    let (text, had_errors) = encoding_rs::GBK.decode_without_bom_handling(bytes);
    if !had_errors && text.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)) {
        format!("the bytes read as GBK ({text:?}); the file must be UTF-8")
    } else if bytes.iter().filter(|b| **b < 0x09).count() > 0 {
        "binary bytes (control characters) in a text field".to_owned()
    } else {
        "invalid byte sequence".to_owned()
    }
}

fn broken(file: &Path, line: u64, e: &dyn std::fmt::Display) -> ReadError {
    let text = e.to_string();
    let reason = if text.contains("unexpected end of file") || text.contains("UnexpectedEof") {
        format!("the file is truncated ({text})")
    } else {
        text
    };
    ReadError::Broken {
        file: file.to_owned(),
        line,
        reason,
    }
}

/// An object whose values are strings or null (null reads as the empty
/// string), keys in file order.
fn parse_json_object(bytes: &[u8]) -> Result<Vec<(String, String)>, String> {
    let text =
        std::str::from_utf8(bytes).map_err(|_| format!("not UTF-8: {}", encoding_hint(bytes)))?;
    serde_json::from_str::<OrderedObject>(text.trim())
        .map(|o| o.0)
        .map_err(|e| format!("not a JSON object of strings: {e}"))
}

/// serde_json's own map sorts its keys; a batch file's column order is kept.
struct OrderedObject(Vec<(String, String)>);

impl<'de> serde::Deserialize<'de> for OrderedObject {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = OrderedObject;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object whose values are strings or null")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<OrderedObject, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, Option<String>>()? {
                    out.push((k, v.unwrap_or_default()));
                }
                Ok(OrderedObject(out))
            }
        }
        d.deserialize_map(Visitor)
    }
}
