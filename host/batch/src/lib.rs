//! The backflow batch (回流批次) as the primary data platform delivers it, and
//! as `zhiyun gen` writes it.
//!
//! **Owns:** the on-disk format — a directory with [`MANIFEST_FILE`] and one
//! data file per table (CSV, gzip-compressed CSV or JSON Lines) — the
//! manifest types, the row checksum both sides of a reconciliation compute,
//! and the parsing of the two values the manifest sums by: money (元 with two
//! decimals in the files, integer 分 everywhere else) and periods (YYYYMM).
//! **Must not know:** databases, cleaning rules, or what a table means.
//!
//! # Layout of a batch directory
//!
//! ```text
//! <batch>/manifest.json          the manifest (Manifest)
//! <batch>/ground_truth.jsonl     anomalies the generator injected (generated batches only)
//! <batch>/tables/<name>.csv      one file per table; .csv.gz and .jsonl also allowed
//! ```
//!
//! # Values
//!
//! Every value in a data file is text, exactly as the source wrote it; the
//! warehouse's ODS layer keeps it that way and the DWD layer types it. CSV
//! files have a header line with the column names. In JSON Lines each line is
//! an object whose values are strings (or null, read as the empty string).

pub mod hash;
pub mod manifest;
pub mod money;
pub mod period;
pub mod read;
pub mod write;

pub use hash::{Checksum, row_hash};
pub use manifest::{
    ColumnSpec, ColumnType, FileFormat, GROUND_TRUTH_FILE, GroundTruth, MANIFEST_FILE, Manifest,
    MoneySum, TableManifest,
};
pub use read::{BadLine, ReadError, RowReader, Step};
pub use write::{TableSpec, TableWriter};
