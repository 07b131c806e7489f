//! Cleaning (清洗): the ODS layer (贴源层, text as received) → the DWD layer
//! (明细层, typed, standardised, one row per business key).
//!
//! # What cleaning does
//!
//! For every table of a batch that has loaded into ODS, each of the batch's
//! rows in `ods_<table>` is run through the table's **rules** — per column a
//! list of steps: trim, full-width → half-width, date normalisation, code
//! mapping through a dictionary, type coercion (money to integer 分, exact
//! decimals, flags), range, list and pattern checks, referential checks
//! against another DWD table. A row that passes every step is upserted into
//! `dwd_<table>` by its key; a row that fails any step goes to
//! `zw_quarantine` (`layer = 'dwd'`) with the rule and a reason that names
//! the column, the value and why — for example
//! `column pay_date: "2024-13-45" is not a date (accepted: …)`. When a row
//! fails several columns, the rule is the first failure's and the reason
//! lists them all.
//!
//! Duplicates: within a batch, of the rows with the same (cleaned) key the
//! one on the highest line wins; the others are quarantined with rule
//! `dedupe`. Across batches, a later batch's row replaces the earlier one
//! (batches are ordered by when the warehouse first saw them,
//! `zw_batch.first_seen_at`); cleaning an older batch after a newer one
//! quarantines the older rows of keys the newer batch holds (`dedupe`).
//!
//! # The invariant
//!
//! For every table of every batch, checked against the database inside the
//! table's transaction, before it commits:
//!
//! > rows of the batch in `ods_<table>` = rows of the batch written to
//! > `dwd_<table>` + rows of the batch quarantined (layer `dwd`)
//!
//! A violation fails the table (status `failed`, the counts in the error,
//! nothing of the table kept) — never silently. The counts are recorded per
//! (batch, table) in `zw_clean_run`. (A later batch may afterwards replace
//! some of this batch's rows in DWD; the recorded counts are those of the run.)
//!
//! # Guarantees
//!
//! - **One transaction per table**: a killed run leaves all or nothing of a
//!   table; the next run redoes it.
//! - **Idempotent**: a table of a batch cleaned under the same rules (same
//!   fingerprint in `zw_clean_run.rules_hash`) is skipped
//!   ([`CleanStatus::AlreadyClean`]); when the rules changed, or with
//!   [`CleanOptions::force`], the batch's earlier DWD rows and quarantine
//!   entries for the table are replaced in the same transaction.
//! - **Order**: tables whose rules read other tables (`map`, `references`)
//!   are cleaned after those tables (dimensions and dictionaries first);
//!   independent tables run in parallel on PostgreSQL (SQLite has one
//!   writer anyway). A cycle is a rules error.
//! - **Schema drift**: DWD columns are added as ODS columns appear, never
//!   dropped. A column keeps the kind its DWD column was made with; rules
//!   that would change its storage (BIGINT ↔ TEXT), or change a table's
//!   key, are refused with an error.
//! - **Bad rules change nothing**: all rule files are parsed and checked
//!   against the batch's tables before anything is written; an error names
//!   the file, the line and the problem.
//!
//! # DWD tables
//!
//! `dwd_<table>` has `_batch_id TEXT`, `_line BIGINT` (the source row in
//! ODS) and one column per ODS column, typed by the column's kind (its last
//! type step):
//!
//! | kind | SQL type | value |
//! |---|---|---|
//! | `money` | BIGINT | integer 分 (`"１２３．４５"` → 12345); never a float |
//! | `int` | BIGINT | integer |
//! | `bool` | BIGINT | 1 or 0 (from Y/N, 1/0, true/false, 是/否) |
//! | `date` | TEXT | `YYYY-MM-DD` |
//! | `timestamp` | TEXT | `YYYY-MM-DD HH:MM:SS` (local, China time) |
//! | `decimal` | TEXT | exact normalised decimal (`"００１２．５００"` → `12.5`) |
//! | `string` | TEXT | as cleaned |
//!
//! The key columns form the PRIMARY KEY; there is an index on `_batch_id`.
//! An empty value is NULL in DWD (there are no empty strings), except in
//! text key columns: an empty part of a key is `''` (gl_balance's `aux_key`
//! is empty for "no auxiliary item"); a key whose parts are all empty, or a
//! NULL non-text key part, fails as `key`.
//!
//! # Rules format
//!
//! One TOML file per source table, `plugins/cleaning/<table>.toml`. A table
//! without a file is cleaned by the **default rules**, derived from the
//! manifest's declared column types: `string` → `trim`,
//! `fullwidth_to_halfwidth`; `money` → `money`; `int` → `int`; `date` →
//! `date`; `timestamp` → `timestamp`; `decimal` → `decimal`; `bool` → `bool`.
//! A file lists only the columns it treats differently; the steps listed for
//! a column replace its defaults and run in the order written.
//!
//! ```toml
//! # plugins/cleaning/elec_payment.toml
//! description = "电费实收"
//! key = ["rcpt_id"]          # optional; default: the manifest's key
//! dedupe = "latest"          # optional; the only policy: latest batch, then highest line
//!
//! [columns]
//! rcpt_id = ["trim", "fullwidth_to_halfwidth", "upper", { pattern = "[A-Z0-9-]+" }]
//! cust_no = ["trim", "not_null", { references = { table = "dim_customer", column = "cust_no" } }]
//! amount  = ["money", "not_null", { range = { min = 0 } }]      # bounds in 元
//! channel = ["trim", { one_of = ["代扣", "网上国网", "柜台", "走收", "卡表购电"] }]
//! pay_time = ["timestamp", { range = { min = "2000-01-01 00:00:00" } }]
//! elec_category_code = ["trim", { map = { table = "code_map_elec_category", from = "old_code", to = "new_code" } }]
//! ```
//!
//! Steps (a bare name, or a table with one key):
//!
//! | step | does | fails as |
//! |---|---|---|
//! | `trim` | strips surrounding whitespace incl. U+3000; empty → NULL | — |
//! | `fullwidth_to_halfwidth` | `ＡＢＣ１２３－` → `ABC123-`, U+3000 → space | — |
//! | `upper`, `lower` | case | — |
//! | `not_null` | the value must not be empty/NULL | `not_null` |
//! | `date` | any of 2024-03-05, 2024/3/5, 20240305, 2024年3月5日 → `YYYY-MM-DD` (the day must exist) | `date` |
//! | `timestamp` | date as above + `H:MM[:SS[.f]]` (optional `T`, optional `+08:00`) | `timestamp` |
//! | `money` | 元 with ≤ 2 decimals (separators, full-width digits ok) → 分 | `money` |
//! | `int` | integer (separators, `12.00` ok) | `int` |
//! | `decimal` | exact decimal, normalised text | `decimal` |
//! | `bool` | flag → 1/0 | `bool` |
//! | `map = "<dict table>"` or `map = { table, from = "old_code", to = "new_code", layer = "dwd"\|"ods", unknown = "reject"\|"keep" }` | an old code becomes the new one; a new code stays; any other value fails unless `unknown = "keep"`. The dictionary is `dwd_<table>` (default; the dictionary table is cleaned first) or `ods_<table>` (all batches, latest row per code) | `map` |
//! | `range = { min = …, max = … }` | bounds in the column's kind at that point: integers for `int`, 元 for `money`, exact for `decimal`, `"YYYY-MM-DD"` for `date`, text otherwise | `range` |
//! | `one_of = ["…", …]` | the value (as text) is one of these | `one_of` |
//! | `references = { table, column }` | the value exists in `dwd_<table>.<column>` (a table referencing itself by its single key also sees this batch's keys) | `references` |
//! | `pattern = "regex"` | the whole value matches (the pattern is anchored) | `pattern` |
//!
//! Text steps (`trim`, `fullwidth_to_halfwidth`, `upper`, `lower`, `map`)
//! must come before the column's type step, and there is at most one type
//! step. NULL passes every step except `not_null`. Key columns must not be
//! empty (rule `key`). Quarantine rules also include `dedupe` (see above).

mod rules;
pub(crate) mod sql;
mod table;
mod values;

pub use rules::{ColumnInfo, RuleSet, TableRules, default_steps};
pub use values::{
    decimal as normalize_decimal, fullwidth_to_halfwidth, timestamp as normalize_timestamp,
};

use crate::db::Db;
use crate::ods::ods_table;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;
use zhiyun_batch::{ColumnType, Manifest};
use zhiyun_store::Backend;

/// The DWD table that holds a source table.
pub fn dwd_table(source_table: &str) -> String {
    format!("dwd_{source_table}")
}

/// Cleaning's own bookkeeping, created if missing.
const TABLES: &[&str] = &[
    // One table of one batch: the latest clean run and its counts.
    "CREATE TABLE IF NOT EXISTS zw_clean_run (
        batch_id TEXT NOT NULL,
        table_name TEXT NOT NULL,
        status TEXT NOT NULL,
        rules_source TEXT NOT NULL,
        rules_hash TEXT NOT NULL,
        rows_in BIGINT NOT NULL DEFAULT 0,
        rows_out BIGINT NOT NULL DEFAULT 0,
        rows_quarantined BIGINT NOT NULL DEFAULT 0,
        by_rule TEXT NOT NULL DEFAULT '{}',
        error TEXT,
        started_at BIGINT NOT NULL,
        finished_at BIGINT,
        elapsed_ms BIGINT,
        PRIMARY KEY (batch_id, table_name)
    )",
    // The columns of each DWD table: their kind, and their place in the key.
    "CREATE TABLE IF NOT EXISTS zw_clean_column (
        table_name TEXT NOT NULL,
        column_name TEXT NOT NULL,
        kind TEXT NOT NULL,
        key_ordinal BIGINT,
        first_batch TEXT NOT NULL,
        PRIMARY KEY (table_name, column_name)
    )",
];

/// Creates cleaning's bookkeeping tables (`zw_clean_run`, `zw_clean_column`) if missing.
pub async fn ensure_tables(db: &Db) -> Result<(), sqlx::Error> {
    for statement in TABLES {
        sql::execute(db, (*statement).to_owned(), vec![]).await?;
    }
    Ok(())
}

#[derive(Debug, Clone)]
pub struct CleanOptions {
    /// The rule files (`<table>.toml`); `None`: default rules for every table.
    pub rules_dir: Option<PathBuf>,
    /// Clean only these tables of the batch (all when `None`).
    pub only: Option<Vec<String>>,
    /// Tables cleaned at once on PostgreSQL (SQLite: always one).
    pub parallel: usize,
    /// Rows read from ODS per query.
    pub chunk_rows: usize,
    /// Clean tables again even when they were cleaned under the same rules.
    pub force: bool,
}

impl Default for CleanOptions {
    fn default() -> Self {
        CleanOptions {
            rules_dir: None,
            only: None,
            parallel: std::thread::available_parallelism()
                .map_or(2, |n| n.get())
                .clamp(1, 4),
            chunk_rows: 5_000,
            force: false,
        }
    }
}

/// Where a table's clean ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CleanStatus {
    Cleaned,
    /// Cleaned by an earlier run under the same rules; nothing done.
    AlreadyClean,
    /// Not loaded into ODS (missing, failed or rejected load); nothing done.
    Skipped,
    /// An error (database, a missing dictionary, the invariant); nothing of
    /// the table kept. The error says why.
    Failed,
}

#[derive(Debug, Clone, Serialize)]
pub struct CleanOutcome {
    pub table: String,
    pub status: CleanStatus,
    /// The rule file, or `default`.
    pub rules: String,
    pub rows_in: u64,
    pub rows_out: u64,
    pub rows_quarantined: u64,
    /// Quarantined rows per rule.
    pub by_rule: BTreeMap<String, u64>,
    pub error: Option<String>,
    pub elapsed_ms: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct CleanReport {
    pub batch_id: String,
    pub tables: Vec<CleanOutcome>,
    pub elapsed_ms: u64,
}

impl CleanReport {
    pub fn rows_in(&self) -> u64 {
        self.tables.iter().map(|t| t.rows_in).sum()
    }
    pub fn rows_out(&self) -> u64 {
        self.tables.iter().map(|t| t.rows_out).sum()
    }
    pub fn rows_quarantined(&self) -> u64 {
        self.tables.iter().map(|t| t.rows_quarantined).sum()
    }
    pub fn count(&self, status: CleanStatus) -> usize {
        self.tables.iter().filter(|t| t.status == status).count()
    }
    /// No table failed.
    pub fn is_clean(&self) -> bool {
        self.tables.iter().all(|t| t.status != CleanStatus::Failed)
    }
    pub fn table(&self, name: &str) -> Option<&CleanOutcome> {
        self.tables.iter().find(|t| t.table == name)
    }
}

/// What a clean tells its watcher (for progress bars).
#[derive(Debug, Clone)]
pub enum CleanEvent {
    Started { tables: usize, rows: u64 },
    TableStarted { table: String, rows: u64 },
    TableDone(CleanOutcome),
}

pub type Watcher = Arc<dyn Fn(CleanEvent) + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum CleanError {
    #[error("batch {0} is not in the warehouse; load it first")]
    UnknownBatch(String),
    #[error("{0}")]
    Input(String),
    /// Rule files that do not parse or do not fit the tables; nothing was cleaned.
    #[error("the cleaning rules have errors; nothing was cleaned:\n{}", .0.join("\n"))]
    Rules(Vec<String>),
    #[error("{0}")]
    Db(#[from] sqlx::Error),
}

/// Cleans the batch's ODS rows into DWD with the rules of `rules_dir`
/// (default rules where a table has no file, or for all when `None`).
pub async fn clean_batch(
    db: &Db,
    rules_dir: Option<&Path>,
    batch_id: &str,
    only: Option<&[String]>,
) -> Result<CleanReport, CleanError> {
    let options = CleanOptions {
        rules_dir: rules_dir.map(Path::to_owned),
        only: only.map(<[String]>::to_vec),
        ..CleanOptions::default()
    };
    clean_batch_with(db, batch_id, &options, Arc::new(|_| {})).await
}

/// Checks rule files against a loaded batch without cleaning anything:
/// the compiled rules of every table, or the errors [`clean_batch`] would
/// refuse to start with.
pub async fn check_rules(
    db: &Db,
    rules_dir: &Path,
    batch_id: &str,
) -> Result<Vec<TableRules>, CleanError> {
    ensure_tables(db).await?;
    let (manifest, _) = batch_manifest(db, batch_id).await?;
    let set = RuleSet::load(rules_dir).map_err(CleanError::Rules)?;
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for t in &manifest.tables {
        if !db.table_exists(&ods_table(&t.name)).await? {
            continue;
        }
        match compile_table(db, &set, t).await? {
            Ok(rules) => out.push(rules),
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(CleanError::Rules(errors))
    }
}

async fn batch_manifest(db: &Db, batch_id: &str) -> Result<(Manifest, i64), CleanError> {
    let row = sql::fetch_texts(
        db,
        "SELECT manifest, CAST(first_seen_at AS TEXT) FROM zw_batch WHERE batch_id = $1".into(),
        vec![batch_id.into()],
    )
    .await?;
    let Some(row) = row.into_iter().next() else {
        return Err(CleanError::UnknownBatch(batch_id.to_owned()));
    };
    let manifest: Manifest =
        serde_json::from_str(row[0].as_deref().unwrap_or_default()).map_err(|e| {
            CleanError::Input(format!(
                "batch {batch_id}: its recorded manifest does not parse: {e}"
            ))
        })?;
    let seq = row[1].as_deref().and_then(|s| s.parse().ok()).unwrap_or(0);
    Ok((manifest, seq))
}

/// The rules of one table, checked against its ODS columns and its DWD table.
async fn compile_table(
    db: &Db,
    set: &RuleSet,
    table: &zhiyun_batch::TableManifest,
) -> Result<Result<TableRules, String>, sqlx::Error> {
    let ods_cols = db.table_columns(&ods_table(&table.name)).await?;
    let schema = sql::fetch_texts(
        db,
        "SELECT column_name, declared_type FROM zw_table_schema WHERE table_name = $1".into(),
        vec![table.name.as_str().into()],
    )
    .await?;
    let declared_before: HashMap<String, String> = schema
        .into_iter()
        .filter_map(|r| {
            let mut it = r.into_iter();
            Some((it.next()??, it.next()??))
        })
        .collect();
    let dwd_exists = db.table_exists(&dwd_table(&table.name)).await?;
    let recorded_rows = if dwd_exists {
        sql::fetch_texts(
            db,
            "SELECT column_name, kind, CAST(key_ordinal AS TEXT) FROM zw_clean_column WHERE table_name = $1".into(),
            vec![table.name.as_str().into()],
        )
        .await?
    } else {
        Vec::new()
    };
    let mut recorded: HashMap<String, ColumnType> = HashMap::new();
    let mut recorded_key: Vec<(i64, String)> = Vec::new();
    for r in recorded_rows {
        let name = r[0].clone().unwrap_or_default();
        if let Some(kind) = r[1].as_deref().and_then(parse_type) {
            recorded.insert(name.clone(), kind);
        }
        if let Some(k) = r[2].as_deref().and_then(|k| k.parse().ok()) {
            recorded_key.push((k, name));
        }
    }
    recorded_key.sort();
    let recorded_key: Vec<String> = recorded_key.into_iter().map(|(_, n)| n).collect();
    let columns: Vec<ColumnInfo> = ods_cols
        .into_iter()
        .filter(|c| c != "_batch_id" && c != "_line")
        .map(|name| {
            let declared = table
                .columns
                .iter()
                .find(|c| c.name == name)
                .map(|c| c.ty)
                .or_else(|| declared_before.get(&name).and_then(|t| parse_type(t)))
                .unwrap_or(ColumnType::String);
            ColumnInfo {
                recorded: recorded.get(&name).copied(),
                name,
                declared,
            }
        })
        .collect();
    Ok(set.compile(
        &table.name,
        &columns,
        &table.key,
        (!recorded_key.is_empty()).then_some(recorded_key.as_slice()),
    ))
}

fn parse_type(s: &str) -> Option<ColumnType> {
    serde_json::from_value(serde_json::Value::String(s.to_owned())).ok()
}

enum Plan {
    Run(Arc<TableRules>, u64),
    Skip(String, String),
}

/// [`clean_batch`] with all options and a progress watcher.
pub async fn clean_batch_with(
    db: &Db,
    batch_id: &str,
    options: &CleanOptions,
    watch: Watcher,
) -> Result<CleanReport, CleanError> {
    let started = Instant::now();
    ensure_tables(db).await?;
    let (manifest, batch_seq) = batch_manifest(db, batch_id).await?;
    if let Some(only) = &options.only
        && let Some(unknown) = only.iter().find(|t| manifest.table(t).is_none())
    {
        return Err(CleanError::Input(format!(
            "table {unknown:?} is not in batch {batch_id}"
        )));
    }
    let set = match &options.rules_dir {
        Some(dir) => RuleSet::load(dir).map_err(CleanError::Rules)?,
        None => RuleSet::default(),
    };

    // Plan every table and check every rule before writing anything.
    let mut plans: BTreeMap<String, Plan> = BTreeMap::new();
    let mut errors = Vec::new();
    for t in manifest
        .tables
        .iter()
        .filter(|t| options.only.as_ref().is_none_or(|o| o.contains(&t.name)))
    {
        let status = sql::fetch_texts(
            db,
            "SELECT status, CAST(rows_loaded AS TEXT) FROM zw_table_load WHERE batch_id = $1 AND table_name = $2".into(),
            vec![batch_id.into(), t.name.as_str().into()],
        )
        .await?;
        let source = set
            .file_of(&t.name)
            .map_or_else(|| "default".to_owned(), |p| p.display().to_string());
        let loaded = match status.first() {
            Some(r) if r[0].as_deref() == Some("loaded") => {
                r[1].as_deref().and_then(|n| n.parse().ok()).unwrap_or(0)
            }
            Some(r) => {
                let why = format!(
                    "the ODS load of {} is {}",
                    t.name,
                    r[0].as_deref().unwrap_or("unknown")
                );
                plans.insert(t.name.clone(), Plan::Skip(source, why));
                continue;
            }
            None => {
                let why = format!("{} is not loaded into ODS for this batch", t.name);
                plans.insert(t.name.clone(), Plan::Skip(source, why));
                continue;
            }
        };
        match compile_table(db, &set, t).await? {
            Ok(rules) => {
                plans.insert(t.name.clone(), Plan::Run(Arc::new(rules), loaded));
            }
            Err(e) => errors.push(e),
        }
    }
    if !errors.is_empty() {
        return Err(CleanError::Rules(errors));
    }
    let levels = order(&plans).map_err(|e| CleanError::Rules(vec![e]))?;

    watch(CleanEvent::Started {
        tables: plans.len(),
        rows: plans
            .values()
            .map(|p| match p {
                Plan::Run(_, rows) => *rows,
                Plan::Skip(..) => 0,
            })
            .sum(),
    });
    let mut outcomes = Vec::new();
    for (name, plan) in &plans {
        if let Plan::Skip(source, why) = plan {
            let outcome = CleanOutcome {
                table: name.clone(),
                status: CleanStatus::Skipped,
                rules: source.clone(),
                rows_in: 0,
                rows_out: 0,
                rows_quarantined: 0,
                by_rule: BTreeMap::new(),
                error: Some(why.clone()),
                elapsed_ms: 0,
            };
            watch(CleanEvent::TableDone(outcome.clone()));
            outcomes.push(outcome);
        }
    }
    let to_run: Vec<Arc<TableRules>> = plans
        .values()
        .filter_map(|p| match p {
            Plan::Run(rules, _) => Some(rules.clone()),
            Plan::Skip(..) => None,
        })
        .collect();
    if let Err(e) = table::prepare_all(db, &to_run, batch_id).await {
        // Each table prepares its own again, and reports what fails.
        tracing::warn!(batch = %batch_id, "preparing the DWD tables together failed: {e}");
    }
    let parallel = match db.backend() {
        Backend::Sqlite => 1,
        Backend::Postgres => options.parallel.max(1),
    };
    let permits = Arc::new(tokio::sync::Semaphore::new(parallel));
    for level in levels {
        let mut tasks = tokio::task::JoinSet::new();
        for name in level {
            let Some(Plan::Run(rules, rows)) = plans.get(&name) else {
                continue;
            };
            let job = table::TableJob {
                batch_id: batch_id.to_owned(),
                batch_seq,
                rules: rules.clone(),
                chunk_rows: options.chunk_rows,
                force: options.force,
            };
            let (db, watch, permits, rows) = (db.clone(), watch.clone(), permits.clone(), *rows);
            tasks.spawn(async move {
                // The semaphore is never closed, so acquiring cannot fail.
                let _permit = permits.acquire_owned().await;
                watch(CleanEvent::TableStarted {
                    table: job.rules.table.clone(),
                    rows,
                });
                let started = Instant::now();
                let result = table::clean_table(&db, &job).await;
                let mut outcome = CleanOutcome {
                    table: job.rules.table.clone(),
                    status: CleanStatus::Failed,
                    rules: job.rules.source.clone(),
                    rows_in: 0,
                    rows_out: 0,
                    rows_quarantined: 0,
                    by_rule: BTreeMap::new(),
                    error: None,
                    elapsed_ms: 0,
                };
                match result {
                    Ok(r) => {
                        outcome.status = r.status;
                        outcome.rows_in = r.rows_in;
                        outcome.rows_out = r.rows_out;
                        outcome.rows_quarantined = r.rows_quarantined;
                        outcome.by_rule = r.by_rule;
                    }
                    Err(e) => {
                        tracing::error!(batch = %job.batch_id, table = %job.rules.table, "cleaning failed: {e}");
                        table::record_failure(&db, &job.batch_id, &job.rules, &e, started).await;
                        outcome.error = Some(e);
                    }
                }
                outcome.elapsed_ms = started.elapsed().as_millis() as u64;
                watch(CleanEvent::TableDone(outcome.clone()));
                outcome
            });
        }
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok(outcome) => outcomes.push(outcome),
                Err(e) => {
                    return Err(CleanError::Input(format!("a table clean task failed: {e}")));
                }
            }
        }
    }
    outcomes.sort_by(|a, b| a.table.cmp(&b.table));
    Ok(CleanReport {
        batch_id: batch_id.to_owned(),
        tables: outcomes,
        elapsed_ms: started.elapsed().as_millis() as u64,
    })
}

/// Groups the tables to run into levels: a table runs after every table of
/// this run that its rules read.
fn order(plans: &BTreeMap<String, Plan>) -> Result<Vec<Vec<String>>, String> {
    let running: HashSet<&str> = plans
        .iter()
        .filter(|(_, p)| matches!(p, Plan::Run(..)))
        .map(|(n, _)| n.as_str())
        .collect();
    let mut deps: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (name, plan) in plans {
        if let Plan::Run(rules, _) = plan {
            deps.insert(
                name,
                rules
                    .depends_on()
                    .into_iter()
                    .filter(|d| running.contains(d.as_str()))
                    .collect(),
            );
        }
    }
    let mut done: HashSet<String> = HashSet::new();
    let mut levels = Vec::new();
    while done.len() < deps.len() {
        let level: Vec<String> = deps
            .iter()
            .filter(|(n, d)| !done.contains(**n) && d.iter().all(|x| done.contains(x)))
            .map(|(n, _)| (*n).to_owned())
            .collect();
        if level.is_empty() {
            let stuck: Vec<String> = deps
                .iter()
                .filter(|(n, _)| !done.contains(**n))
                .map(|(n, d)| format!("{n} needs {}", d.join(", ")))
                .collect();
            return Err(format!(
                "the rules' map/references form a cycle: {}",
                stuck.join("; ")
            ));
        }
        done.extend(level.iter().cloned());
        levels.push(level);
    }
    Ok(levels)
}
