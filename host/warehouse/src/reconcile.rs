//! Reconciliation (回流验证): does the warehouse hold exactly what the source
//! says it sent?
//!
//! For one table of one batch, three parties are compared:
//!
//! 1. **The manifest** — the source's own account: row count, checksum
//!    ([`zhiyun_batch::Checksum`]) and money sums by period and org.
//! 2. **The ODS rows** of the batch, read back from the warehouse and hashed
//!    the same way (values in manifest column order).
//! 3. **The file**, read again when 1 and 2 disagree, to tell a manifest that
//!    disagrees with its own data from rows lost or changed on the way in.
//!
//! When the file and the ODS rows differ, **segment checksums bisect** the
//! key space down to the exact rows: both sides are indexed by the hash of
//! the row's key (sorted, with prefix sums, so the checksum of any key range
//! costs two binary searches); a range whose checksums agree is done, one
//! that differs is split into [`ReconcileOptions::fanout`] sub-ranges, until
//! a range holds few enough rows to compare one by one. The rows that differ
//! are reported as **missing** (sent, not loaded — with the quarantine
//! reason when the line is there), **extra** (loaded, not sent) and
//! **changed** (same key, different values). This is the algorithm of
//! data-diff; here both sides are local (the file, and the warehouse read
//! once), so the segments are computed in memory rather than by SQL.
//!
//! Results are stored per (batch, table) in `zw_reconcile` (the latest run)
//! with the full report as JSON, which the catalog shows.

use crate::db::{Db, ident};
use crate::ods::{BATCH_COLUMN, LINE_COLUMN, ods_table};
use crate::on_db;
use futures_util::TryStreamExt;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;
use zhiyun_batch::hash::hash_encoded;
use zhiyun_batch::money::parse_yuan;
use zhiyun_batch::period::period_of;
use zhiyun_batch::{Checksum, Manifest, RowReader, Step, TableManifest, row_hash};
use zhiyun_store::now_micros;

#[derive(Debug, Clone)]
pub struct ReconcileOptions {
    /// Sub-ranges a differing range is split into.
    pub fanout: u64,
    /// A range with at most this many rows on each side is compared row by row.
    pub leaf_rows: usize,
    /// At most this many keys are listed per kind of difference.
    pub max_listed: usize,
}

impl Default for ReconcileOptions {
    fn default() -> Self {
        ReconcileOptions {
            fanout: 16,
            leaf_rows: 32,
            max_listed: 200,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReconcileStatus {
    /// Rows, checksum and money sums all agree with the manifest.
    Match,
    Mismatch,
    /// The table has not been loaded for this batch (or was rejected).
    NotLoaded,
}

impl ReconcileStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ReconcileStatus::Match => "match",
            ReconcileStatus::Mismatch => "mismatch",
            ReconcileStatus::NotLoaded => "not_loaded",
        }
    }
}

/// A count and checksum as one party sees them.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Tally {
    pub rows: u64,
    pub checksum: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SumDiff {
    pub column: String,
    pub period: String,
    pub org: String,
    pub manifest_fen: i64,
    pub loaded_fen: i64,
}

/// One row that differs.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RowDiff {
    /// The key columns' values joined by `|`.
    pub key: String,
    /// Line in the file (missing, changed) or of the loaded row (extra).
    pub line: u64,
    /// For a missing row: why it is not in ODS, when the quarantine knows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TableReconciliation {
    pub batch_id: String,
    pub table: String,
    pub status: ReconcileStatus,
    pub manifest: Tally,
    pub loaded: Tally,
    /// The file as read again (only when manifest and ODS disagree).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<Tally>,
    pub quarantined: u64,
    pub sum_diffs: Vec<SumDiff>,
    pub missing: Vec<RowDiff>,
    pub extra: Vec<RowDiff>,
    pub changed: Vec<RowDiff>,
    /// Totals, also when the lists above are cut at `max_listed`.
    pub missing_count: u64,
    pub extra_count: u64,
    pub changed_count: u64,
    /// Key-range checksums compared by the bisection.
    pub segments_compared: u64,
    /// What a person should know, in sentences.
    pub findings: Vec<String>,
    pub elapsed_ms: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("batch {0} is not known to the warehouse (load it first)")]
    UnknownBatch(String),
    #[error("table {table} is not in batch {batch}")]
    UnknownTable { batch: String, table: String },
    #[error("the stored manifest of batch {batch} cannot be read: {reason}")]
    Manifest { batch: String, reason: String },
    #[error("{0}")]
    Db(#[from] sqlx::Error),
}

/// Reconciles every table of a batch (or `only` these) and stores the results.
pub async fn reconcile_batch(
    db: &Db,
    batch_id: &str,
    only: Option<&[String]>,
    options: &ReconcileOptions,
) -> Result<Vec<TableReconciliation>, ReconcileError> {
    let (manifest, dir) = stored_manifest(db, batch_id).await?;
    if let Some(only) = only
        && let Some(unknown) = only.iter().find(|t| manifest.table(t).is_none())
    {
        return Err(ReconcileError::UnknownTable {
            batch: batch_id.to_owned(),
            table: unknown.clone(),
        });
    }
    let mut out = Vec::new();
    for table in &manifest.tables {
        if only.is_some_and(|o| !o.contains(&table.name)) {
            continue;
        }
        out.push(reconcile_table(db, &manifest, &dir, table, options).await?);
    }
    Ok(out)
}

/// The manifest a batch was loaded with, and its directory.
pub async fn stored_manifest(
    db: &Db,
    batch_id: &str,
) -> Result<(Manifest, PathBuf), ReconcileError> {
    let row: Option<(String, String)> = on_db!(db, |pool| sqlx::query_as(
        "SELECT manifest, dir FROM zw_batch WHERE batch_id = $1"
    )
    .bind(batch_id)
    .fetch_optional(pool)
    .await)?;
    let (text, dir) = row.ok_or_else(|| ReconcileError::UnknownBatch(batch_id.to_owned()))?;
    let manifest = serde_json::from_str(&text).map_err(|e| ReconcileError::Manifest {
        batch: batch_id.to_owned(),
        reason: e.to_string(),
    })?;
    Ok((manifest, PathBuf::from(dir)))
}

pub async fn reconcile_table(
    db: &Db,
    manifest: &Manifest,
    dir: &Path,
    table: &TableManifest,
    options: &ReconcileOptions,
) -> Result<TableReconciliation, ReconcileError> {
    let started = Instant::now();
    let batch_id = &manifest.batch_id;
    let mut result = TableReconciliation {
        batch_id: batch_id.clone(),
        table: table.name.clone(),
        status: ReconcileStatus::NotLoaded,
        manifest: Tally {
            rows: table.rows,
            checksum: table.checksum.clone(),
        },
        loaded: Tally {
            rows: 0,
            checksum: Checksum::default().hex(),
        },
        file: None,
        quarantined: 0,
        sum_diffs: Vec::new(),
        missing: Vec::new(),
        extra: Vec::new(),
        changed: Vec::new(),
        missing_count: 0,
        extra_count: 0,
        changed_count: 0,
        segments_compared: 0,
        findings: Vec::new(),
        elapsed_ms: 0,
    };
    let load: Option<(String, i64)> = on_db!(db, |pool| {
        sqlx::query_as(
        "SELECT status, rows_quarantined FROM zw_table_load WHERE batch_id = $1 AND table_name = $2"
    )
    .bind(batch_id)
    .bind(&table.name)
    .fetch_optional(pool)
    .await
    })?;
    match &load {
        Some((status, quarantined)) if status != "rejected" => {
            result.quarantined = *quarantined as u64;
            if status != "loaded" {
                result
                    .findings
                    .push(format!("the load of this table is {status}, not finished"));
            }
        }
        Some((status, _)) => {
            result
                .findings
                .push(format!("the load of this table was {status}"));
            store(db, &result).await?;
            return Ok(result);
        }
        None => {
            result
                .findings
                .push("the table has not been loaded for this batch".into());
            store(db, &result).await?;
            return Ok(result);
        }
    }

    let loaded = read_loaded(db, batch_id, table).await?;
    result.loaded = Tally {
        rows: loaded.side.checksum.rows,
        checksum: loaded.side.checksum.hex(),
    };
    result.sum_diffs = compare_sums(table, &loaded.sums.by_cell(table, &Layout::of(table)));
    let agrees = result.loaded == result.manifest && result.sum_diffs.is_empty();
    if agrees {
        result.status = ReconcileStatus::Match;
    } else {
        result.status = ReconcileStatus::Mismatch;
        if result.loaded.rows != result.manifest.rows {
            result.findings.push(format!(
                "the manifest lists {} rows, the warehouse holds {} ({} quarantined)",
                result.manifest.rows, result.loaded.rows, result.quarantined
            ));
        } else if result.loaded.checksum != result.manifest.checksum {
            result
                .findings
                .push("row counts agree but the checksums differ: some rows' values differ".into());
        }
        if !result.sum_diffs.is_empty() {
            result.findings.push(format!(
                "money sums differ in {} (column, period, org) cells",
                result.sum_diffs.len()
            ));
        }
        locate(db, dir, table, batch_id, loaded.side, options, &mut result).await?;
    }
    result.elapsed_ms = started.elapsed().as_millis() as u64;
    store(db, &result).await?;
    Ok(result)
}

/// Reads the file again and bisects it against the loaded rows.
async fn locate(
    db: &Db,
    dir: &Path,
    table: &TableManifest,
    batch_id: &str,
    loaded: Side,
    options: &ReconcileOptions,
    result: &mut TableReconciliation,
) -> Result<(), ReconcileError> {
    let path = dir.join(&table.file);
    let spec = table.clone();
    let file = tokio::task::spawn_blocking(move || read_file(&path, &spec))
        .await
        .map_err(|e| ReconcileError::Manifest {
            batch: batch_id.to_owned(),
            reason: e.to_string(),
        })?;
    let (file, file_problem) = file;
    if let Some(problem) = &file_problem {
        result
            .findings
            .push(format!("the file cannot be read to the end: {problem}"));
    }
    let file_tally = Tally {
        rows: file.checksum.rows,
        checksum: file.checksum.hex(),
    };
    // With unreadable lines the file's checksum cannot be compared (those
    // rows cannot be hashed); its line count still can.
    let file_lines = file_tally.rows + file.unreadable.len() as u64;
    let disagrees = if file.unreadable.is_empty() {
        file_tally != result.manifest
    } else {
        file_lines != result.manifest.rows
    };
    if file_problem.is_none() && disagrees {
        result.findings.push(format!(
            "the manifest disagrees with its own file: the manifest says {} rows (checksum {}), \
             the file holds {} records ({} unreadable; checksum of the readable ones {})",
            result.manifest.rows,
            result.manifest.checksum,
            file_lines,
            file.unreadable.len(),
            file_tally.checksum
        ));
    }
    result.file = Some(file_tally);

    let (diffs, segments) = compare_sides(&file, &loaded, options);
    result.segments_compared = segments;
    if diffs.missing.is_empty()
        && diffs.extra.is_empty()
        && diffs.changed.is_empty()
        && file.unreadable.is_empty()
    {
        result
            .findings
            .push("the warehouse holds exactly the rows of the file".into());
    }

    // Why missing rows are missing: the quarantine knows their lines.
    let quarantine: Vec<(i64, String)> = on_db!(db, |pool| {
        sqlx::query_as(
        "SELECT line, reason FROM zw_quarantine WHERE layer = 'ods' AND batch_id = $1 AND table_name = $2"
    )
    .bind(batch_id)
    .bind(&table.name)
    .fetch_all(pool)
    .await
    })?;
    let quarantine: BTreeMap<u64, String> = quarantine
        .into_iter()
        .map(|(line, reason)| (line as u64, reason))
        .collect();
    let mut in_quarantine = 0;
    for &i in &diffs.missing {
        if quarantine.contains_key(&file.entries[i].line) {
            in_quarantine += 1;
        }
    }
    for &line in &file.unreadable {
        if quarantine.contains_key(&line) {
            in_quarantine += 1;
        }
    }
    result.missing_count = (diffs.missing.len() + file.unreadable.len()) as u64;
    result.extra_count = diffs.extra.len() as u64;
    result.changed_count = diffs.changed.len() as u64;
    if result.missing_count > 0 {
        result.findings.push(format!(
            "{} rows of the file are not in the warehouse ({in_quarantine} of them in quarantine)",
            result.missing_count
        ));
    }
    if result.extra_count > 0 {
        result.findings.push(format!(
            "{} rows in the warehouse are not in the file",
            result.extra_count
        ));
    }
    if result.changed_count > 0 {
        result.findings.push(format!(
            "{} rows have the same key but different values",
            result.changed_count
        ));
    }
    let listed = |side: &Side, indexes: &[usize]| -> Vec<RowDiff> {
        let mut rows: Vec<RowDiff> = indexes
            .iter()
            .take(options.max_listed)
            .map(|&i| RowDiff {
                key: side.key(i).to_owned(),
                line: side.entries[i].line,
                note: quarantine
                    .get(&side.entries[i].line)
                    .map(|r| format!("quarantined: {r}")),
            })
            .collect();
        rows.sort_by(|a, b| a.key.cmp(&b.key).then(a.line.cmp(&b.line)));
        rows
    };
    result.missing = listed(&file, &diffs.missing);
    // Unreadable lines have no key; they are listed by line.
    result.missing.extend(
        file.unreadable
            .iter()
            .take(options.max_listed)
            .map(|&line| RowDiff {
                key: String::new(),
                line,
                note: Some(quarantine.get(&line).map_or_else(
                    || "unreadable line".to_owned(),
                    |r| format!("quarantined: {r}"),
                )),
            }),
    );
    result.changed = listed(&file, &diffs.changed);
    result.extra = listed(&loaded, &diffs.extra)
        .into_iter()
        .map(|mut d| {
            d.note = None;
            d
        })
        .collect();
    Ok(())
}

/// One row as the reconciliation sees it.
#[derive(Debug, Clone, Copy)]
struct Entry {
    key_hash: u64,
    row_hash: u64,
    line: u64,
    key_start: u64,
    key_len: u32,
}

/// One party's rows, sorted by (key hash, row hash), with prefix sums of the
/// row hashes so any key range's checksum is two binary searches away. Keys
/// live in one arena: 10 million rows cost about 40 bytes each.
#[derive(Default)]
struct Side {
    entries: Vec<Entry>,
    keys: String,
    prefix: Vec<u64>,
    checksum: Checksum,
    /// Lines of the file that could not be read as records (file side only).
    unreadable: Vec<u64>,
}

impl Side {
    fn push(&mut self, key: &str, row_hash: u64, line: u64) {
        self.checksum.add(row_hash);
        let key_start = self.keys.len() as u64;
        self.keys.push_str(key);
        self.entries.push(Entry {
            key_hash: key_hash(key),
            row_hash,
            line,
            key_start,
            key_len: key.len() as u32,
        });
    }

    fn seal(&mut self) {
        self.entries
            .sort_unstable_by_key(|e| (e.key_hash, e.row_hash, e.line));
        self.prefix = Vec::with_capacity(self.entries.len() + 1);
        let mut sum = 0u64;
        self.prefix.push(0);
        for e in &self.entries {
            sum = sum.wrapping_add(e.row_hash);
            self.prefix.push(sum);
        }
    }

    fn key(&self, i: usize) -> &str {
        let e = &self.entries[i];
        &self.keys[e.key_start as usize..e.key_start as usize + e.key_len as usize]
    }

    /// Indexes of the rows whose key hash is in `lo..=hi`.
    fn range(&self, lo: u64, hi: u64) -> std::ops::Range<usize> {
        let start = self.entries.partition_point(|e| e.key_hash < lo);
        let end = self.entries.partition_point(|e| e.key_hash <= hi);
        start..end
    }

    /// (rows, checksum) of a range.
    fn segment(&self, r: &std::ops::Range<usize>) -> (usize, u64) {
        (
            r.len(),
            self.prefix[r.end].wrapping_sub(self.prefix[r.start]),
        )
    }
}

fn key_hash(key: &str) -> u64 {
    row_hash(&[key])
}

#[derive(Default)]
struct Diffs {
    /// Indexes into the file side.
    missing: Vec<usize>,
    changed: Vec<usize>,
    /// Indexes into the loaded side.
    extra: Vec<usize>,
}

/// The rows that differ between the two sides, and how many segments the
/// bisection compared to find them.
fn compare_sides(file: &Side, loaded: &Side, options: &ReconcileOptions) -> (Diffs, u64) {
    let mut diffs = Diffs::default();
    let mut segments = 0;
    bisect(
        file,
        loaded,
        0,
        u64::MAX,
        options,
        &mut segments,
        &mut diffs,
    );
    (diffs, segments)
}

/// Compares the key-hash range `lo..=hi` of both sides, splitting it while
/// the checksums differ and the range is large.
fn bisect(
    file: &Side,
    loaded: &Side,
    lo: u64,
    hi: u64,
    options: &ReconcileOptions,
    segments: &mut u64,
    diffs: &mut Diffs,
) {
    let (fr, lr) = (file.range(lo, hi), loaded.range(lo, hi));
    *segments += 1;
    if file.segment(&fr) == loaded.segment(&lr) {
        return;
    }
    let small = fr.len() <= options.leaf_rows && lr.len() <= options.leaf_rows;
    if small || lo == hi {
        compare_rows(file, fr, loaded, lr, diffs);
        return;
    }
    let width = (hi - lo) / options.fanout.max(2);
    let mut start = lo;
    for part in 0..options.fanout.max(2) {
        let end = if part == options.fanout.max(2) - 1 {
            hi
        } else {
            start + width
        };
        bisect(file, loaded, start, end, options, segments, diffs);
        if end == hi {
            break;
        }
        start = end + 1;
    }
}

/// Row-by-row comparison of a small range: rows are matched by key, then by
/// value; what is left over on one side is missing, extra or changed.
fn compare_rows(
    file: &Side,
    fr: std::ops::Range<usize>,
    loaded: &Side,
    lr: std::ops::Range<usize>,
    diffs: &mut Diffs,
) {
    let mut unmatched_loaded: Vec<usize> = lr.collect();
    let mut unmatched_file = Vec::new();
    for f in fr {
        let fe = &file.entries[f];
        let same = unmatched_loaded.iter().position(|&l| {
            let le = &loaded.entries[l];
            le.key_hash == fe.key_hash && le.row_hash == fe.row_hash
        });
        match same {
            Some(pos) => {
                unmatched_loaded.swap_remove(pos);
            }
            None => unmatched_file.push(f),
        }
    }
    for f in unmatched_file {
        let kh = file.entries[f].key_hash;
        match unmatched_loaded
            .iter()
            .position(|&l| loaded.entries[l].key_hash == kh)
        {
            Some(pos) => {
                unmatched_loaded.swap_remove(pos);
                diffs.changed.push(f);
            }
            None => diffs.missing.push(f),
        }
    }
    diffs.extra.extend(unmatched_loaded);
}

/// The loaded side, and the money sums of the loaded rows.
struct Loaded {
    side: Side,
    sums: MoneySums,
}

/// Money sums per (period, org) cell, one slot per money column. Keyed by
/// "period\x1forg" so that a row costs one lookup and no allocation unless
/// it opens a new cell (this runs for every row of tables of 10 million).
#[derive(Default)]
struct MoneySums {
    cells: std::collections::HashMap<String, Vec<i64>>,
    buf: String,
}

impl MoneySums {
    /// Adds one row's money values (a value that is not money counts 0, as
    /// in the manifest's sums).
    fn add(&mut self, period: &str, org: &str, money: impl ExactSizeIterator<Item = Option<i64>>) {
        self.buf.clear();
        self.buf.push_str(period);
        self.buf.push('\x1f');
        self.buf.push_str(org);
        if !self.cells.contains_key(self.buf.as_str()) {
            self.cells.insert(self.buf.clone(), vec![0; money.len()]);
        }
        if let Some(slots) = self.cells.get_mut(self.buf.as_str()) {
            for (slot, fen) in slots.iter_mut().zip(money) {
                *slot += fen.unwrap_or(0);
            }
        }
    }

    /// (column, period, org) → 分, for the money columns in `layout` order.
    fn by_cell(
        &self,
        table: &TableManifest,
        layout: &Layout,
    ) -> BTreeMap<(String, String, String), i64> {
        let mut out = BTreeMap::new();
        for (cell, slots) in &self.cells {
            let (period, org) = cell.split_once('\x1f').unwrap_or((cell, ""));
            for (&m, &fen) in layout.money.iter().zip(slots) {
                *out.entry((
                    table.columns[m].name.clone(),
                    period.to_owned(),
                    org.to_owned(),
                ))
                .or_default() += fen;
            }
        }
        out
    }
}

/// Positions of what a row needs, in manifest column order.
struct Layout {
    key: Vec<usize>,
    money: Vec<usize>,
    period: Option<usize>,
    org: Option<usize>,
}

impl Layout {
    fn of(table: &TableManifest) -> Layout {
        Layout {
            key: table
                .key
                .iter()
                .filter_map(|k| table.column_index(k))
                .collect(),
            money: table.money_columns(),
            period: table
                .period_column
                .as_deref()
                .and_then(|c| table.column_index(c)),
            org: table
                .org_column
                .as_deref()
                .and_then(|c| table.column_index(c)),
        }
    }

    fn key_of(&self, values: &[&str], buf: &mut String) {
        buf.clear();
        for (n, &i) in self.key.iter().enumerate() {
            if n > 0 {
                buf.push('|');
            }
            buf.push_str(values[i]);
        }
    }
}

/// Reads the batch's ODS rows. The database concatenates each row in the
/// checksum's encoding (every value followed by 0x1F), so a row crosses the
/// driver as one string plus only the columns the key and the money sums
/// need; with SQLite, whose driver copies every value of every row through a
/// channel, that is most of the cost of reading 10 million rows.
async fn read_loaded(
    db: &Db,
    batch_id: &str,
    table: &TableManifest,
) -> Result<Loaded, sqlx::Error> {
    let ods = ods_table(&table.name);
    let present = db.table_columns(&ods).await?;
    // A manifest column the file lacked is NULL in ODS; it hashes as "".
    let value = |i: usize| {
        let name = &table.columns[i].name;
        if present.contains(name) {
            format!("COALESCE({}, '')", ident(name))
        } else {
            "''".to_owned()
        }
    };
    let separator = match db {
        Db::Sqlite(_) => "char(31)",
        Db::Postgres(_) => "chr(31)",
    };
    let encoded: Vec<String> = (0..table.columns.len())
        .map(|i| format!("{} || {separator}", value(i)))
        .collect();
    let layout = Layout::of(table);
    let mut needed: Vec<usize> = layout
        .key
        .iter()
        .chain(&layout.money)
        .chain(layout.period.iter())
        .chain(layout.org.iter())
        .copied()
        .collect();
    needed.sort_unstable();
    needed.dedup();
    let mut sql = format!(
        "SELECT {}, {}",
        ident(LINE_COLUMN),
        if encoded.is_empty() {
            "''".to_owned()
        } else {
            encoded.join(" || ")
        }
    );
    for &i in &needed {
        sql.push_str(", ");
        sql.push_str(&value(i));
    }
    sql.push_str(&format!(
        " FROM {} WHERE {} = $1",
        ident(&ods),
        ident(BATCH_COLUMN)
    ));
    let mut loaded = Loaded {
        side: Side::default(),
        sums: MoneySums::default(),
    };
    let width = table.columns.len();
    let mut key = String::new();
    macro_rules! consume {
        ($rows:expr) => {{
            let mut rows = $rows;
            while let Some(row) = rows.try_next().await? {
                use sqlx::Row;
                let line: i64 = row.try_get(0)?;
                let encoded: &str = row.try_get(1)?;
                // Only the columns the key and the sums need are filled in.
                let mut values: Vec<&str> = vec![""; width];
                for (n, &i) in needed.iter().enumerate() {
                    values[i] = row.try_get::<&str, _>(n + 2)?;
                }
                layout.key_of(&values, &mut key);
                loaded
                    .side
                    .push(&key, hash_encoded(encoded.as_bytes()), line as u64);
                add_sums(&layout, &values, &mut loaded.sums);
            }
        }};
    }
    match db {
        Db::Sqlite(pool) => consume!(
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(batch_id)
                .fetch(pool)
        ),
        Db::Postgres(pool) => consume!(
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(batch_id)
                .fetch(pool)
        ),
    }
    loaded.side.seal();
    Ok(loaded)
}

fn add_sums(layout: &Layout, values: &[&str], sums: &mut MoneySums) {
    if layout.money.is_empty() {
        return;
    }
    let period = layout
        .period
        .and_then(|i| period_of(values[i]))
        .unwrap_or_default();
    let org = layout.org.map_or("", |i| values[i].trim());
    sums.add(
        &period,
        org,
        layout.money.iter().map(|&m| parse_yuan(values[m])),
    );
}

fn compare_sums(
    table: &TableManifest,
    loaded: &BTreeMap<(String, String, String), i64>,
) -> Vec<SumDiff> {
    let mut expected: BTreeMap<(String, String, String), i64> = BTreeMap::new();
    for s in &table.money_sums {
        *expected
            .entry((s.column.clone(), s.period.clone(), s.org.clone()))
            .or_default() += s.fen;
    }
    let mut cells: Vec<&(String, String, String)> = expected.keys().chain(loaded.keys()).collect();
    cells.sort();
    cells.dedup();
    cells
        .into_iter()
        .filter_map(|cell| {
            let (m, l) = (
                expected.get(cell).copied().unwrap_or(0),
                loaded.get(cell).copied().unwrap_or(0),
            );
            (m != l).then(|| SumDiff {
                column: cell.0.clone(),
                period: cell.1.clone(),
                org: cell.2.clone(),
                manifest_fen: m,
                loaded_fen: l,
            })
        })
        .collect()
}

/// Reads the file side: what could be read, and the problem that stopped
/// reading early, if one did.
fn read_file(path: &Path, table: &TableManifest) -> (Side, Option<String>) {
    let mut side = Side::default();
    let mut reader = match RowReader::open(path, table.format) {
        Ok(r) => r,
        Err(e) => {
            side.seal();
            return (side, Some(e.to_string()));
        }
    };
    // Header position of each manifest column (None: the file lacks it).
    let positions: Vec<Option<usize>> = table
        .columns
        .iter()
        .map(|c| reader.header().iter().position(|h| *h == c.name))
        .collect();
    let layout = Layout::of(table);
    let mut values = Vec::new();
    let mut key = String::new();
    let problem = loop {
        match reader.next_into(&mut values) {
            Ok(Step::Record { line }) => {
                let ordered: Vec<&str> = positions
                    .iter()
                    .map(|p| p.map_or("", |i| values[i].as_str()))
                    .collect();
                layout.key_of(&ordered, &mut key);
                side.push(&key, row_hash(&ordered), line);
            }
            // An unreadable line cannot be hashed or keyed; it is reported
            // as a missing row by its line.
            Ok(Step::Bad(bad)) => side.unreadable.push(bad.line),
            Ok(Step::End) => break None,
            Err(e) => break Some(e.to_string()),
        }
    };
    side.seal();
    (side, problem)
}

async fn store(db: &Db, r: &TableReconciliation) -> Result<(), sqlx::Error> {
    let report = serde_json::to_string(r).unwrap_or_else(|_| "{}".into());
    on_db!(db, |pool| {
        sqlx::query(
        "INSERT INTO zw_reconcile (batch_id, table_name, status, manifest_rows, loaded_rows, quarantined_rows, \
         manifest_checksum, loaded_checksum, report, checked_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
         ON CONFLICT (batch_id, table_name) DO UPDATE SET status = excluded.status, \
         manifest_rows = excluded.manifest_rows, loaded_rows = excluded.loaded_rows, \
         quarantined_rows = excluded.quarantined_rows, manifest_checksum = excluded.manifest_checksum, \
         loaded_checksum = excluded.loaded_checksum, report = excluded.report, checked_at = excluded.checked_at"
    )
    .bind(&r.batch_id)
    .bind(&r.table)
    .bind(r.status.as_str())
    .bind(r.manifest.rows as i64)
    .bind(r.loaded.rows as i64)
    .bind(r.quarantined as i64)
    .bind(&r.manifest.checksum)
    .bind(&r.loaded.checksum)
    .bind(report)
    .bind(now_micros())
    .execute(pool)
    .await
    .map(|_| ())
    })
}

/// The latest stored reconciliation of a table of a batch.
pub async fn stored(
    db: &Db,
    batch_id: &str,
    table: &str,
) -> Result<Option<serde_json::Value>, sqlx::Error> {
    let report: Option<String> = on_db!(db, |pool| sqlx::query_scalar(
        "SELECT report FROM zw_reconcile WHERE batch_id = $1 AND table_name = $2"
    )
    .bind(batch_id)
    .bind(table)
    .fetch_optional(pool)
    .await)?;
    Ok(report.and_then(|r| serde_json::from_str(&r).ok()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn side<K: AsRef<str>, V: AsRef<str>>(rows: &[(K, V)]) -> Side {
        let mut s = Side::default();
        for (i, (k, v)) in rows.iter().enumerate() {
            s.push(
                k.as_ref(),
                row_hash(&[k.as_ref(), v.as_ref()]),
                i as u64 + 2,
            );
        }
        s.seal();
        s
    }

    #[test]
    fn bisection_finds_exactly_the_rows_that_differ() {
        let mut rows: Vec<(String, String)> = (0..50_000)
            .map(|i| (format!("K{i}"), format!("v{i}")))
            .collect();
        let file = side(&rows);
        rows[123].1 = "changed".into();
        rows.remove(40_000);
        rows.push(("K-extra".into(), "x".into()));
        let loaded = side(&rows);
        let (diffs, segments) = compare_sides(&file, &loaded, &ReconcileOptions::default());
        let keys =
            |s: &Side, ix: &[usize]| ix.iter().map(|&i| s.key(i).to_owned()).collect::<Vec<_>>();
        assert_eq!(keys(&file, &diffs.changed), ["K123"]);
        assert_eq!(keys(&file, &diffs.missing), ["K40000"]);
        assert_eq!(keys(&loaded, &diffs.extra), ["K-extra"]);
        // Three differences in 50,000 rows: a few segments per level, not a scan.
        assert!(segments < 200, "{segments} segments compared");
    }

    #[test]
    fn a_duplicate_delivery_loaded_once_is_one_missing_row() {
        let file = side(&[("A", "1"), ("A", "1"), ("B", "2")]);
        let loaded = side(&[("A", "1"), ("B", "2")]);
        let (diffs, _segments) = compare_sides(&file, &loaded, &ReconcileOptions::default());
        assert_eq!(diffs.missing.len(), 1);
        assert!(diffs.changed.is_empty() && diffs.extra.is_empty());
    }
}
