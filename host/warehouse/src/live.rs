//! The live source (在线源): tables of a PostgreSQL or MySQL/MariaDB
//! database read incrementally by a watermark column and landed in ODS like
//! a batch, one pull at a time.
//!
//! # How the watermark works
//!
//! Each table names a **watermark** column that grows when a row is written
//! (`updated_at`, or an increasing `id`) and a **key** (the columns that
//! identify a row). The warehouse remembers, per (source, target table), the
//! `(watermark, key)` of the last row it took, in `zw_watermark`. A pull reads
//! the rows after it in `(watermark, key)` order, a chunk at a time
//! (keyset pagination):
//!
//! ```sql
//! SELECT … FROM t WHERE (updated_at, pay_id) > ($1, $2)
//! ORDER BY updated_at, pay_id LIMIT 10000
//! ```
//!
//! Comparing the whole pair, not the watermark alone, is what makes ties
//! safe: a thousand rows with the same `updated_at` split over several
//! chunks are each read exactly once. The stored values are text; the SQL
//! casts them back to the column's type before comparing (so `10` is not
//! "less" than `9`, and decimals are compared as decimals).
//!
//! # Guarantees
//!
//! - **Exactly once, even when killed.** Every chunk is committed in one
//!   warehouse transaction that inserts its rows, its quarantined rows, the
//!   pull's counters and moves the watermark to its last row. A pull killed
//!   at any moment leaves the watermark exactly at the rows that are in ODS;
//!   the next pull continues after them (and continues the same pull id).
//!   The watermark is compared-and-set (`zw_watermark.version`), so two pulls
//!   of the same table at once cannot both commit the same rows.
//! - **Consistent reads, source untouched.** A table is read inside one
//!   read-only repeatable-read transaction on the source (PostgreSQL
//!   `BEGIN … READ ONLY`, MySQL `START TRANSACTION READ ONLY, WITH
//!   CONSISTENT SNAPSHOT`) that is rolled back at the end. Nothing is written
//!   to the source.
//! - **Values as text, exact.** Every value is converted to text by the
//!   source in SQL: decimals and money by a text cast (never through a
//!   float: `12345678901.23` arrives as `12345678901.23`), dates and
//!   timestamps in ISO form (`2026-03-01`, `2026-03-01 08:30:00`; the
//!   session time zone is UTC, so `timestamptz`/`TIMESTAMP` read as UTC),
//!   binary columns as `\x` + hex, NULL as the empty string.
//! - **received = loaded + quarantined** per pull, checked against the
//!   database when a pull ends. A row that cannot be text (not UTF-8, or
//!   holding a NUL byte) goes to `zw_quarantine` (layer `ods`, rule
//!   `convertible`) with the reason; the watermark moves past it.
//! - **Schema drift** is detected like in batches: the table's columns and
//!   types from `information_schema` make a [`TableManifest`] for
//!   [`drift::prepare_ods_table`], so added, missing and retyped columns land
//!   in `zw_drift` and the ODS table widens.
//! - **Nothing loads from a bad config.** Names are checked (target names
//!   lowercase snake case, source names `[A-Za-z_][A-Za-z0-9_]*`), and every
//!   table, watermark, key and listed column is looked up on the source
//!   before the first row is read.
//!
//! An update at the source gives the row a new watermark, so it arrives
//! again as a new ODS row; DWD keeps the latest per key.
//!
//! # Limits
//!
//! - `(watermark, key)` must be unique and the watermark must only grow. A
//!   row committed at the source with a watermark *older* than rows already
//!   pulled (a long transaction that set `updated_at` at its start) is not
//!   seen; a watermark set by the database at commit, or an increasing id, is
//!   safe.
//! - Rows whose watermark or key is NULL cannot be ordered and are not read;
//!   each pull counts them in [`TablePull::skipped_null_cursor`].
//! - Deletes at the source are not seen (no tombstones).
//!
//! # Config
//!
//! ```toml
//! name = "erp"                      # lowercase snake case; names the pulls
//! url = "postgres://reader@10.0.0.5:5432/erp"   # or mysql://user:pw@host:3306/db
//!
//! [[tables]]
//! name = "payment"                  # source table (or schema.table / db.table)
//! watermark = "updated_at"
//! key = ["pay_id"]
//!
//! [[tables]]
//! name = "fin.GlVoucherLine"
//! target = "gl_voucher_line"        # the table name in the warehouse (ods_gl_voucher_line)
//! watermark = "id"
//! key = ["id"]
//! columns = ["id", "voucher_no", "org_id", "amount"]   # default: all columns
//! ```
//!
//! Each pull of a table has the id `live-<source>-<target>-<n>`: it is the
//! `_batch_id` of its rows in `ods_<target>`, whose `_line` numbers them.
//! Bookkeeping: `zw_watermark` (the resume point per table) and
//! `zw_live_pull` (one row per pull with its counters), both created by
//! [`ensure_tables`].

mod source;

use crate::bulk;
use crate::db::{Db, ident};
use crate::drift::{self, Drift};
use crate::ods::{BATCH_COLUMN, ods_table};
use crate::on_db;
use serde::{Deserialize, Serialize};
use source::{Conn, Kind, Plan};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use zhiyun_batch::{ColumnSpec, FileFormat, TableManifest};
use zhiyun_store::now_micros;

pub use source::is_source_ident;

/// A live source: a database and the tables to pull from it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LiveSource {
    /// Lowercase snake case; part of every pull id.
    pub name: String,
    /// `postgres://…` or `mysql://…` (`mariadb://…` also accepted).
    pub url: String,
    pub tables: Vec<LiveTable>,
}

/// One table of a live source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LiveTable {
    /// The source table: `table`, or `schema.table` (PostgreSQL) / `db.table` (MySQL).
    pub name: String,
    /// The table's name in the warehouse, snake case (rows land in `ods_<target>`);
    /// default: `name` without its schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// The column that grows when a row is written (`updated_at`, an increasing id).
    pub watermark: String,
    /// The columns identifying a row; with the watermark, they order the read.
    pub key: Vec<String>,
    /// The columns to pull (the watermark and key are always pulled); default all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub columns: Option<Vec<String>>,
}

impl LiveTable {
    /// `(schema, table)` of the source name.
    fn source_parts(&self) -> (Option<&str>, &str) {
        match self.name.split_once('.') {
            Some((schema, table)) => (Some(schema), table),
            None => (None, self.name.as_str()),
        }
    }

    /// The warehouse name: `target`, or the source table's name.
    pub fn target(&self) -> &str {
        self.target.as_deref().unwrap_or(self.source_parts().1)
    }
}

impl LiveSource {
    /// Reads a source from TOML (see the module docs for the format).
    pub fn from_toml(text: &str) -> Result<LiveSource, LiveError> {
        let source: LiveSource =
            toml::from_str(text).map_err(|e| LiveError::Config(format!("live source: {e}")))?;
        source.check()?;
        Ok(source)
    }

    /// Checks every name before any of them goes near SQL.
    pub fn check(&self) -> Result<(), LiveError> {
        let bad = |what: String| Err(LiveError::Config(what));
        if !zhiyun_batch::manifest::is_snake_name(&self.name) || self.name.len() > 40 {
            return bad(format!(
                "live source name {:?} must be lowercase snake case (a-z, 0-9, _), at most 40 bytes",
                self.name
            ));
        }
        if Kind::of_url(&self.url).is_none() {
            return bad(format!(
                "source {}: url `{}` is not a live source URL; use postgres://… or mysql://…",
                self.name,
                zhiyun_store::redact(&self.url)
            ));
        }
        if self.tables.is_empty() {
            return bad(format!("source {}: no tables listed", self.name));
        }
        let mut targets = std::collections::HashSet::new();
        for t in &self.tables {
            let at = |what: String| {
                Err(LiveError::Config(format!(
                    "source {}, table {:?}: {what}",
                    self.name, t.name
                )))
            };
            let (schema, table) = t.source_parts();
            if schema.is_some_and(|s| !is_source_ident(s)) || !is_source_ident(table) {
                return at(
                    "the table name must be `table` or `schema.table`, each of ASCII letters, \
                     digits and _ (starting with a letter or _)"
                        .into(),
                );
            }
            if !zhiyun_batch::manifest::is_snake_name(t.target()) {
                return at(format!(
                    "target {:?} is not a lowercase snake-case name; set `target`",
                    t.target()
                ));
            }
            if !targets.insert(t.target()) {
                return at(format!("target {:?} is listed twice", t.target()));
            }
            if t.key.is_empty() {
                return at("`key` is empty; name the columns that identify a row".into());
            }
            let listed = std::iter::once(&t.watermark)
                .chain(&t.key)
                .chain(t.columns.iter().flatten());
            for c in listed {
                if !is_source_ident(c) {
                    return at(format!("column {c:?} is not a plain identifier"));
                }
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone)]
pub struct PullOptions {
    /// Rows per source read and per committed chunk (the most a kill can undo).
    pub chunk_rows: usize,
    /// For tests: stop each table after committing this many chunks, as if
    /// the process had been killed there (the pull stays open and the next
    /// pull resumes it).
    pub stop_after_chunks: Option<usize>,
    pub connect_timeout: Duration,
}

impl Default for PullOptions {
    fn default() -> Self {
        PullOptions {
            chunk_rows: 10_000,
            stop_after_chunks: None,
            connect_timeout: Duration::from_secs(15),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    /// The config names something unsafe or something the source lacks.
    #[error("{0}")]
    Config(String),
    /// The source could not be reached or read.
    #[error("{0}")]
    Source(String),
    #[error("warehouse: {0}")]
    Warehouse(#[from] sqlx::Error),
}

/// A position in a table's (watermark, key) order, as text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    pub watermark: String,
    pub key: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PullStatus {
    /// New rows pulled (or the rest of an interrupted pull).
    Pulled,
    /// Nothing new at the source.
    UpToDate,
    /// Stopped by [`PullOptions::stop_after_chunks`]; the next pull resumes.
    Interrupted,
    /// Reading or loading failed; what was committed stays and the next pull resumes.
    Failed,
}

/// What a pull did to one table. Counts are for this run.
#[derive(Debug, Clone, Serialize)]
pub struct TablePull {
    pub source_table: String,
    pub target: String,
    /// `live-<source>-<target>-<n>`; `None` when nothing was pulled.
    pub pull_id: Option<String>,
    /// This run continued a pull an earlier run left unfinished.
    pub resumed: bool,
    pub status: PullStatus,
    pub rows_received: u64,
    pub rows_loaded: u64,
    pub rows_quarantined: u64,
    pub chunks: u64,
    pub watermark_before: Option<Cursor>,
    pub watermark_after: Option<Cursor>,
    /// Rows whose watermark or key is NULL, which an incremental read cannot see.
    pub skipped_null_cursor: u64,
    pub drift: Vec<Drift>,
    /// The first quarantined rows: "line 17: column note holds a NUL byte".
    pub problems: Vec<String>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PullReport {
    pub source: String,
    pub tables: Vec<TablePull>,
    pub elapsed_ms: u64,
}

impl PullReport {
    pub fn rows_loaded(&self) -> u64 {
        self.tables.iter().map(|t| t.rows_loaded).sum()
    }
    pub fn rows_quarantined(&self) -> u64 {
        self.tables.iter().map(|t| t.rows_quarantined).sum()
    }
    pub fn table(&self, target: &str) -> Option<&TablePull> {
        self.tables.iter().find(|t| t.target == target)
    }
    /// No table failed.
    pub fn is_ok(&self) -> bool {
        self.tables.iter().all(|t| t.status != PullStatus::Failed)
    }
}

/// What a pull tells its watcher (for progress display).
#[derive(Debug, Clone)]
pub enum LiveEvent {
    TableStarted {
        target: String,
    },
    /// Rows (loaded or quarantined) committed since the last event.
    Rows {
        target: String,
        rows: u64,
    },
    TableDone(Box<TablePull>),
}

pub type LiveWatcher = Arc<dyn Fn(LiveEvent) + Send + Sync>;

/// The live bookkeeping tables (`CREATE … IF NOT EXISTS`).
const LIVE_TABLES: &[&str] = &[
    // Per (source, target): the last (watermark, key) in ODS. Moved in the
    // same transaction as the rows; `version` makes the move a compare-and-set.
    "CREATE TABLE IF NOT EXISTS zw_watermark (
        source TEXT NOT NULL,
        target TEXT NOT NULL,
        source_table TEXT NOT NULL,
        watermark_column TEXT NOT NULL,
        key_columns TEXT NOT NULL,
        watermark TEXT,
        key_values TEXT,
        version BIGINT NOT NULL DEFAULT 0,
        rows_received BIGINT NOT NULL DEFAULT 0,
        pull_id TEXT,
        updated_at BIGINT NOT NULL,
        PRIMARY KEY (source, target)
    )",
    // One pull of one table: status pulling | done | failed, and its counters.
    "CREATE TABLE IF NOT EXISTS zw_live_pull (
        pull_id TEXT PRIMARY KEY,
        source TEXT NOT NULL,
        target TEXT NOT NULL,
        source_table TEXT NOT NULL,
        seq BIGINT NOT NULL,
        status TEXT NOT NULL,
        last_line BIGINT NOT NULL DEFAULT 0,
        rows_received BIGINT NOT NULL DEFAULT 0,
        rows_loaded BIGINT NOT NULL DEFAULT 0,
        rows_quarantined BIGINT NOT NULL DEFAULT 0,
        from_watermark TEXT,
        from_key TEXT,
        to_watermark TEXT,
        to_key TEXT,
        error TEXT,
        started_at BIGINT NOT NULL,
        finished_at BIGINT
    )",
    "CREATE INDEX IF NOT EXISTS zw_live_pull_table ON zw_live_pull (source, target, seq)",
];

/// Creates `zw_watermark` and `zw_live_pull` if missing.
pub async fn ensure_tables(db: &Db) -> Result<(), sqlx::Error> {
    for statement in LIVE_TABLES {
        on_db!(db, |pool| sqlx::raw_sql(*statement)
            .execute(pool)
            .await
            .map(|_| ()))?;
    }
    Ok(())
}

/// The stored watermark of a table, if any row has been pulled.
pub async fn watermark(db: &Db, source: &str, target: &str) -> Result<Option<Cursor>, sqlx::Error> {
    ensure_tables(db).await?;
    let row: Option<(Option<String>, Option<String>)> = on_db!(db, |pool| sqlx::query_as(
        "SELECT watermark, key_values FROM zw_watermark WHERE source = $1 AND target = $2"
    )
    .bind(source)
    .bind(target)
    .fetch_optional(pool)
    .await)?;
    Ok(row.and_then(|(w, k)| cursor_from_db(w, k)))
}

/// Forgets a table's watermark, so the next pull reads the table from the
/// start (e.g. after the watermark or key column changed). Rows already in
/// ODS stay.
pub async fn reset_watermark(db: &Db, source: &str, target: &str) -> Result<bool, sqlx::Error> {
    ensure_tables(db).await?;
    let deleted = on_db!(db, |pool| {
        let mut tx = pool.begin().await?;
        sqlx::query(
            "UPDATE zw_live_pull SET status = 'done', finished_at = $1 \
             WHERE source = $2 AND target = $3 AND status <> 'done'",
        )
        .bind(now_micros())
        .bind(source)
        .bind(target)
        .execute(&mut *tx)
        .await?;
        let n = sqlx::query("DELETE FROM zw_watermark WHERE source = $1 AND target = $2")
            .bind(source)
            .bind(target)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok::<_, sqlx::Error>(n)
    })?;
    Ok(deleted > 0)
}

fn cursor_from_db(watermark: Option<String>, key: Option<String>) -> Option<Cursor> {
    let watermark = watermark?;
    let key: Vec<String> = serde_json::from_str(key.as_deref()?).ok()?;
    Some(Cursor { watermark, key })
}

fn key_to_db(key: &[String]) -> String {
    serde_json::to_string(key).unwrap_or_default()
}

/// One table, checked against the source and ready to read.
struct Prepared {
    table: LiveTable,
    target: String,
    plan: Plan,
    manifest: TableManifest,
    header: Vec<String>,
}

/// Pulls every table of `source` that has new rows into ODS.
///
/// Config problems (an unsafe name, an unreachable source, a table or column
/// the source lacks, a watermark column changed since the last pull) are an
/// `Err` before anything is loaded. A table that fails while reading or
/// loading is reported as [`PullStatus::Failed`] and the others still pull.
pub async fn pull(
    db: &Db,
    source: &LiveSource,
    options: &PullOptions,
    watch: LiveWatcher,
) -> Result<PullReport, LiveError> {
    let started = Instant::now();
    source.check()?;
    let chunk_rows = options.chunk_rows.max(1);
    ensure_tables(db).await?;
    let mut conn = source::connect(&source.url, options.connect_timeout)
        .await
        .map_err(|e| LiveError::Source(format!("source {}: {e}", source.name)))?;
    let prepared = prepare_all(db, &mut conn, source, chunk_rows).await;
    let prepared = match prepared {
        Ok(p) => p,
        Err(e) => {
            conn.close().await;
            return Err(e);
        }
    };

    let mut tables = Vec::new();
    for p in &prepared {
        watch(LiveEvent::TableStarted {
            target: p.target.clone(),
        });
        let mut outcome = TablePull {
            source_table: p.table.name.clone(),
            target: p.target.clone(),
            pull_id: None,
            resumed: false,
            status: PullStatus::Failed,
            rows_received: 0,
            rows_loaded: 0,
            rows_quarantined: 0,
            chunks: 0,
            watermark_before: None,
            watermark_after: None,
            skipped_null_cursor: 0,
            drift: Vec::new(),
            problems: Vec::new(),
            error: None,
        };
        let result = pull_table(
            db,
            &mut conn,
            &source.name,
            p,
            options,
            &watch,
            &mut outcome,
        )
        .await;
        if let Err(e) = result {
            outcome.status = PullStatus::Failed;
            if let Some(id) = &outcome.pull_id {
                let _ = set_pull_status(db, id, "failed", Some(&e)).await;
            }
            outcome.error = Some(e);
            // A failed read may have left the source transaction open.
            let _ = conn.end_snapshot().await;
        }
        watch(LiveEvent::TableDone(Box::new(outcome.clone())));
        tables.push(outcome);
    }
    conn.close().await;
    Ok(PullReport {
        source: source.name.clone(),
        tables,
        elapsed_ms: started.elapsed().as_millis() as u64,
    })
}

/// Looks every table up on the source and checks it against the stored
/// watermark, before anything is read.
async fn prepare_all(
    db: &Db,
    conn: &mut Conn,
    source: &LiveSource,
    chunk_rows: usize,
) -> Result<Vec<Prepared>, LiveError> {
    let kind = conn.kind();
    let read_error = |e: sqlx::Error| LiveError::Source(format!("source {}: {e}", source.name));
    let current = conn.current_schema().await.map_err(read_error)?;
    let mut prepared = Vec::new();
    for table in &source.tables {
        let (schema, bare) = table.source_parts();
        if schema.is_none() && current.is_none() {
            return Err(LiveError::Config(format!(
                "source {}: table {:?} has no schema and the URL names no database; \
                 write it as db.table or add the database to the URL",
                source.name, table.name
            )));
        }
        let found = conn.columns(schema, bare).await.map_err(read_error)?;
        if found.is_empty() {
            return Err(LiveError::Config(format!(
                "source {}: table {:?} not found (looked in {} {:?})",
                source.name,
                table.name,
                if kind == Kind::Postgres {
                    "schema"
                } else {
                    "database"
                },
                schema
                    .map(str::to_owned)
                    .or(current.clone())
                    .unwrap_or_default()
            )));
        }
        let plan = source::plan(kind, &source.name, table, schema, bare, found, chunk_rows)?;
        let target = table.target().to_owned();
        check_watermark_config(db, &source.name, &target, table).await?;
        let header: Vec<String> = plan.columns.iter().map(|c| c.name.clone()).collect();
        let manifest = TableManifest {
            name: target.clone(),
            file: format!("live:{}/{}", source.name, table.name),
            format: FileFormat::Csv,
            domain: String::new(),
            description: format!("live source {} table {}", source.name, table.name),
            columns: plan
                .columns
                .iter()
                .map(|c| ColumnSpec {
                    name: c.name.clone(),
                    ty: c.column_type(kind),
                    description: String::new(),
                })
                .collect(),
            key: table.key.clone(),
            period_column: None,
            org_column: None,
            rows: 0,
            checksum: String::new(),
            money_sums: Vec::new(),
        };
        prepared.push(Prepared {
            table: table.clone(),
            target,
            plan,
            manifest,
            header,
        });
    }
    Ok(prepared)
}

/// Creates the table's watermark record, or checks it was made with the
/// same watermark and key columns (a stored cursor means nothing for others).
async fn check_watermark_config(
    db: &Db,
    source: &str,
    target: &str,
    table: &LiveTable,
) -> Result<(), LiveError> {
    let keys = key_to_db(&table.key);
    let row: Option<(String, String, String)> = on_db!(db, |pool| sqlx::query_as(
        "SELECT source_table, watermark_column, key_columns FROM zw_watermark \
         WHERE source = $1 AND target = $2"
    )
    .bind(source)
    .bind(target)
    .fetch_optional(pool)
    .await)?;
    match row {
        None => Ok(()),
        Some((t, w, k)) if t == table.name && w == table.watermark && k == keys => Ok(()),
        Some((t, w, k)) => Err(LiveError::Config(format!(
            "source {source}, target {target}: earlier pulls read table {t:?} by watermark {w:?} \
             and key {k}; the config now says table {:?}, watermark {:?}, key {keys}. Reset the \
             watermark (live::reset_watermark) to read the table again from the start",
            table.name, table.watermark
        ))),
    }
}

/// Rows read from the source, converted, ready to commit.
struct Chunk {
    /// Per row: its values, or why it cannot be text (reason, raw).
    rows: Vec<Result<Vec<String>, (String, String)>>,
    /// The last row's (watermark, key): the resume point once committed.
    cursor: Cursor,
}

/// Where a pull stands: an unfinished pull this run continues, or a new one.
struct PullState {
    pull_id: String,
    seq: i64,
    exists: bool,
    last_line: u64,
    version: i64,
    cursor: Option<Cursor>,
}

async fn pull_table(
    db: &Db,
    conn: &mut Conn,
    source_name: &str,
    p: &Prepared,
    options: &PullOptions,
    watch: &LiveWatcher,
    outcome: &mut TablePull,
) -> Result<(), String> {
    let mut state = pull_state(db, source_name, &p.target, &p.table)
        .await
        .map_err(|e| e.to_string())?;
    outcome.watermark_before = state.cursor.clone();
    outcome.watermark_after = state.cursor.clone();
    if state.exists {
        outcome.pull_id = Some(state.pull_id.clone());
        outcome.resumed = true;
    }

    conn.begin_snapshot()
        .await
        .map_err(|e| format!("source: {e}"))?;
    if let Some(sql) = &p.plan.null_count_sql {
        outcome.skipped_null_cursor = conn.count(sql).await.map_err(|e| format!("source: {e}"))?;
    }

    // The source is read a chunk ahead of the warehouse writes.
    let (tx, rx) = mpsc::channel(1);
    let reading = read_chunks(
        conn,
        &p.plan,
        state.cursor.clone(),
        options.chunk_rows.max(1),
        tx,
    );
    let writing = write_chunks(db, source_name, p, options, watch, &mut state, outcome, rx);
    let ((), written) = tokio::join!(reading, writing);
    let stopped = written?;
    let ods = ods_table(&p.target);
    conn.end_snapshot()
        .await
        .map_err(|e| format!("source: {e}"))?;

    if stopped {
        outcome.status = PullStatus::Interrupted;
        return Ok(());
    }
    if !state.exists {
        outcome.status = PullStatus::UpToDate;
        return Ok(());
    }
    check_invariant(db, &state.pull_id, &ods).await?;
    set_pull_status(db, &state.pull_id, "done", None)
        .await
        .map_err(|e| e.to_string())?;
    outcome.status = PullStatus::Pulled;
    Ok(())
}

/// Reads chunks after `after` until the table ends or the writer stops
/// listening; a read error is passed on as the last message.
async fn read_chunks(
    conn: &mut Conn,
    plan: &Plan,
    mut after: Option<Cursor>,
    chunk_rows: usize,
    tx: mpsc::Sender<Result<Chunk, String>>,
) {
    loop {
        let fetched = match conn.fetch(plan, after.as_ref()).await {
            Ok(fetched) => fetched,
            Err(e) => {
                let _ = tx.send(Err(format!("source: {e}"))).await;
                return;
            }
        };
        if fetched.is_empty() {
            return;
        }
        let complete = fetched.len() < chunk_rows;
        let chunk = match convert(plan, fetched) {
            Ok(chunk) => chunk,
            Err(e) => {
                let _ = tx.send(Err(e)).await;
                return;
            }
        };
        after = Some(chunk.cursor.clone());
        if tx.send(Ok(chunk)).await.is_err() || complete {
            return;
        }
    }
}

/// Commits the chunks as they come. Returns whether it stopped early
/// ([`PullOptions::stop_after_chunks`]).
#[allow(clippy::too_many_arguments)]
async fn write_chunks(
    db: &Db,
    source_name: &str,
    p: &Prepared,
    options: &PullOptions,
    watch: &LiveWatcher,
    state: &mut PullState,
    outcome: &mut TablePull,
    mut rx: mpsc::Receiver<Result<Chunk, String>>,
) -> Result<bool, String> {
    let ods = ods_table(&p.target);
    let mut prepared_ods = false;
    loop {
        if options
            .stop_after_chunks
            .is_some_and(|n| outcome.chunks as usize >= n)
        {
            return Ok(true);
        }
        let Some(message) = rx.recv().await else {
            return Ok(false);
        };
        let chunk = message?;
        if !prepared_ods {
            outcome.pull_id = Some(state.pull_id.clone());
            outcome.drift = drift::prepare_ods_table(db, &state.pull_id, &p.manifest, &p.header)
                .await
                .map_err(|e| e.to_string())?;
            prepared_ods = true;
        }
        let counts = commit_chunk(db, source_name, p, &ods, state, &chunk, outcome).await?;
        state.exists = true;
        state.version += 1;
        state.last_line += counts.0;
        state.cursor = Some(chunk.cursor);
        outcome.watermark_after = state.cursor.clone();
        outcome.chunks += 1;
        outcome.rows_received += counts.0;
        outcome.rows_loaded += counts.1;
        outcome.rows_quarantined += counts.2;
        watch(LiveEvent::Rows {
            target: p.target.clone(),
            rows: counts.0,
        });
    }
}

/// The values of a chunk as text; a value that cannot be text makes its row
/// bad, unless it is part of the cursor (then the pull cannot move past it).
fn convert(plan: &Plan, fetched: Vec<Vec<Option<Vec<u8>>>>) -> Result<Chunk, String> {
    let mut rows = Vec::with_capacity(fetched.len());
    let mut last: Option<Vec<String>> = None;
    for raw in fetched {
        let mut values = Vec::with_capacity(raw.len());
        // The first column that cannot be text, and why.
        let mut problem: Option<(usize, &str)> = None;
        for (i, v) in raw.into_iter().enumerate() {
            let text = match v {
                None => String::new(),
                Some(bytes) => match String::from_utf8(bytes) {
                    Ok(s) if s.contains('\0') => {
                        problem.get_or_insert((i, "holds a NUL byte"));
                        s.replace('\0', "\\0")
                    }
                    Ok(s) => s,
                    Err(e) => {
                        problem.get_or_insert((i, "is not UTF-8 text"));
                        String::from_utf8_lossy(e.as_bytes()).into_owned()
                    }
                },
            };
            values.push(text);
        }
        if let Some((i, why)) = problem
            && plan.cursor.contains(&i)
        {
            return Err(format!(
                "a row's watermark or key column {} {why} ({:?}); the pull cannot move past it",
                plan.columns[i].name, values[i]
            ));
        }
        last = Some(plan.cursor.iter().map(|&i| values[i].clone()).collect());
        rows.push(match problem {
            None => Ok(values),
            Some((i, why)) => Err((
                format!("column {} {why}", plan.columns[i].name),
                values.join(","),
            )),
        });
    }
    let last = last.unwrap_or_default();
    Ok(Chunk {
        rows,
        cursor: Cursor {
            watermark: last.first().cloned().unwrap_or_default(),
            key: last.into_iter().skip(1).collect(),
        },
    })
}

/// The unfinished pull of a table (an earlier run was killed or failed), or
/// the next pull's id; and the stored watermark.
async fn pull_state(
    db: &Db,
    source: &str,
    target: &str,
    table: &LiveTable,
) -> Result<PullState, sqlx::Error> {
    on_db!(db, |pool| {
        sqlx::query(
            "INSERT INTO zw_watermark (source, target, source_table, watermark_column, key_columns, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (source, target) DO NOTHING",
        )
        .bind(source)
        .bind(target)
        .bind(&table.name)
        .bind(&table.watermark)
        .bind(key_to_db(&table.key))
        .bind(now_micros())
        .execute(pool)
        .await?;
        Ok::<(), sqlx::Error>(())
    })?;
    let (w, k, version): (Option<String>, Option<String>, i64) = on_db!(db, |pool| {
        sqlx::query_as(
            "SELECT watermark, key_values, version FROM zw_watermark WHERE source = $1 AND target = $2",
        )
        .bind(source)
        .bind(target)
        .fetch_one(pool)
        .await
    })?;
    let open: Option<(String, i64, i64)> = on_db!(db, |pool| {
        sqlx::query_as(
            "SELECT pull_id, seq, last_line FROM zw_live_pull \
             WHERE source = $1 AND target = $2 AND status <> 'done' ORDER BY seq DESC LIMIT 1",
        )
        .bind(source)
        .bind(target)
        .fetch_optional(pool)
        .await
    })?;
    let cursor = cursor_from_db(w, k);
    if let Some((pull_id, seq, last_line)) = open {
        return Ok(PullState {
            pull_id,
            seq,
            exists: true,
            last_line: last_line as u64,
            version,
            cursor,
        });
    }
    let seq: i64 = on_db!(db, |pool| {
        sqlx::query_scalar(
            "SELECT COALESCE(MAX(seq), 0) + 1 FROM zw_live_pull WHERE source = $1 AND target = $2",
        )
        .bind(source)
        .bind(target)
        .fetch_one(pool)
        .await
    })?;
    Ok(PullState {
        pull_id: format!("live-{source}-{target}-{seq}"),
        seq,
        exists: false,
        last_line: 0,
        version,
        cursor,
    })
}

/// How many quarantined rows a report lists per table.
const PROBLEMS_SHOWN: usize = 5;

/// Commits one chunk: its rows, its quarantined rows, the pull's counters
/// and the watermark, in one transaction. Returns (received, loaded, quarantined).
async fn commit_chunk(
    db: &Db,
    source: &str,
    p: &Prepared,
    ods: &str,
    state: &PullState,
    chunk: &Chunk,
    outcome: &mut TablePull,
) -> Result<(u64, u64, u64), String> {
    let now = now_micros();
    let mut good = Vec::with_capacity(chunk.rows.len());
    let mut bad = Vec::new();
    for (i, row) in chunk.rows.iter().enumerate() {
        let line = state.last_line + 1 + i as u64;
        match row {
            Ok(values) => good.push((line, values.clone())),
            Err((reason, raw)) => {
                if outcome.problems.len() < PROBLEMS_SHOWN {
                    outcome.problems.push(format!("line {line}: {reason}"));
                }
                bad.push((line, reason.as_str(), raw.as_str()));
            }
        }
    }
    let received = chunk.rows.len() as i64;
    let loaded = good.len() as i64;
    let quarantined = bad.len() as i64;
    let last_line = state.last_line as i64 + received;
    let key = key_to_db(&chunk.cursor.key);
    let from_key = state.cursor.as_ref().map(|c| key_to_db(&c.key));
    let from_watermark = state.cursor.as_ref().map(|c| c.watermark.as_str());
    let pull_id = state.pull_id.as_str();
    let target = p.target.as_str();

    macro_rules! bookkeeping {
        ($tx:expr) => {{
            let moved = sqlx::query(
                "UPDATE zw_watermark SET watermark = $1, key_values = $2, version = version + 1, \
                 rows_received = rows_received + $3, pull_id = $4, updated_at = $5 \
                 WHERE source = $6 AND target = $7 AND version = $8",
            )
            .bind(&chunk.cursor.watermark)
            .bind(&key)
            .bind(received)
            .bind(pull_id)
            .bind(now)
            .bind(source)
            .bind(target)
            .bind(state.version)
            .execute(&mut *$tx)
            .await
            .map_err(|e| e.to_string())?;
            if moved.rows_affected() != 1 {
                return Err(format!(
                    "another pull moved the watermark of {source}/{target} meanwhile; this pull stops"
                ));
            }
            if state.exists {
                sqlx::query(
                    "UPDATE zw_live_pull SET last_line = $1, rows_received = rows_received + $2, \
                     rows_loaded = rows_loaded + $3, rows_quarantined = rows_quarantined + $4, \
                     to_watermark = $5, to_key = $6, status = 'pulling', error = NULL WHERE pull_id = $7",
                )
                .bind(last_line)
                .bind(received)
                .bind(loaded)
                .bind(quarantined)
                .bind(&chunk.cursor.watermark)
                .bind(&key)
                .bind(pull_id)
                .execute(&mut *$tx)
                .await
                .map_err(|e| e.to_string())?;
            } else {
                sqlx::query(
                    "INSERT INTO zw_live_pull (pull_id, source, target, source_table, seq, status, \
                     last_line, rows_received, rows_loaded, rows_quarantined, from_watermark, from_key, \
                     to_watermark, to_key, started_at) \
                     VALUES ($1, $2, $3, $4, $5, 'pulling', $6, $7, $8, $9, $10, $11, $12, $13, $14)",
                )
                .bind(pull_id)
                .bind(source)
                .bind(target)
                .bind(&p.table.name)
                .bind(state.seq)
                .bind(last_line)
                .bind(received)
                .bind(loaded)
                .bind(quarantined)
                .bind(from_watermark)
                .bind(from_key.as_deref())
                .bind(&chunk.cursor.watermark)
                .bind(&key)
                .bind(now)
                .execute(&mut *$tx)
                .await
                .map_err(|e| e.to_string())?;
            }
            for (line, reason, raw) in &bad {
                sqlx::query(
                    "INSERT INTO zw_quarantine (layer, batch_id, table_name, line, rule, reason, raw, quarantined_at) \
                     VALUES ('ods', $1, $2, $3, 'convertible', $4, $5, $6)",
                )
                .bind(pull_id)
                .bind(target)
                .bind(*line as i64)
                .bind(*reason)
                .bind(*raw)
                .bind(now)
                .execute(&mut *$tx)
                .await
                .map_err(|e| e.to_string())?;
            }
        }};
    }
    match db {
        Db::Sqlite(pool) => {
            let mut tx = pool.begin().await.map_err(|e| e.to_string())?;
            bookkeeping!(tx);
            bulk::insert_sqlite(&mut tx, ods, &p.header, pull_id, good)
                .await
                .map_err(|e| e.to_string())?;
            tx.commit().await.map_err(|e| e.to_string())?;
        }
        Db::Postgres(pool) => {
            // Closed, not pooled, if this pull is abandoned mid-COPY.
            let mut writer = crate::db::PgWriter::acquire(pool)
                .await
                .map_err(|e| e.to_string())?;
            let mut tx = writer.begin().await.map_err(|e| e.to_string())?;
            bookkeeping!(tx);
            bulk::copy_postgres(&mut tx, ods, &p.header, pull_id, good)
                .await
                .map_err(|e| e.to_string())?;
            tx.commit().await.map_err(|e| e.to_string())?;
            writer.done();
        }
    }
    Ok((received as u64, loaded as u64, quarantined as u64))
}

async fn set_pull_status(
    db: &Db,
    pull_id: &str,
    status: &str,
    error: Option<&str>,
) -> Result<(), sqlx::Error> {
    on_db!(db, |pool| sqlx::query(
        "UPDATE zw_live_pull SET status = $1, error = $2, finished_at = $3 WHERE pull_id = $4"
    )
    .bind(status)
    .bind(error)
    .bind(now_micros())
    .bind(pull_id)
    .execute(pool)
    .await
    .map(|_| ()))
}

/// received = loaded + quarantined for a pull, and both match the tables.
async fn check_invariant(db: &Db, pull_id: &str, ods: &str) -> Result<(), String> {
    let count_rows = format!(
        "SELECT count(*) FROM {} WHERE {} = $1",
        ident(ods),
        ident(BATCH_COLUMN)
    );
    let result: Result<(i64, i64, i64, i64, i64), sqlx::Error> = on_db!(db, |pool| {
        async {
            let in_ods: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(count_rows.clone()))
                .bind(pull_id)
                .fetch_one(pool)
                .await?;
            let in_quarantine: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM zw_quarantine WHERE layer = 'ods' AND batch_id = $1",
            )
            .bind(pull_id)
            .fetch_one(pool)
            .await?;
            let (received, loaded, quarantined): (i64, i64, i64) = sqlx::query_as(
                "SELECT rows_received, rows_loaded, rows_quarantined FROM zw_live_pull WHERE pull_id = $1",
            )
            .bind(pull_id)
            .fetch_one(pool)
            .await?;
            Ok((in_ods, in_quarantine, received, loaded, quarantined))
        }
        .await
    });
    let (in_ods, in_quarantine, received, loaded, quarantined) =
        result.map_err(|e| e.to_string())?;
    if received != loaded + quarantined || in_ods != loaded || in_quarantine != quarantined {
        return Err(format!(
            "invariant broken for pull {pull_id}: received {received} ≠ loaded {loaded} + \
             quarantined {quarantined}, or the tables hold {in_ods} rows and {in_quarantine} quarantined"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(text: &str) -> Result<LiveSource, LiveError> {
        LiveSource::from_toml(text)
    }

    #[test]
    fn config_reads_and_defaults_target() {
        let s = source(
            r#"
            name = "erp"
            url = "postgres://reader@db:5432/erp"
            [[tables]]
            name = "fin.payment"
            watermark = "updated_at"
            key = ["pay_id"]
            "#,
        )
        .unwrap();
        assert_eq!(s.tables[0].target(), "payment");
        assert_eq!(s.tables[0].source_parts(), (Some("fin"), "payment"));
    }

    #[test]
    fn unsafe_names_are_refused() {
        let base = |table: &str, watermark: &str| {
            format!(
                "name = \"erp\"\nurl = \"mysql://r@h/db\"\n[[tables]]\nname = \"{table}\"\n\
                 watermark = \"{watermark}\"\nkey = [\"id\"]\n"
            )
        };
        let e = source(&base("pay;drop table x", "id")).unwrap_err();
        assert!(e.to_string().contains("pay;drop"), "{e}");
        let e = source(&base("payment", "id) OR 1=1 --")).unwrap_err();
        assert!(e.to_string().contains("not a plain identifier"), "{e}");
        let e = source(&base("PayMent", "id")).unwrap_err();
        assert!(e.to_string().contains("set `target`"), "{e}");
        let e = source("name = \"Erp\"\nurl = \"mysql://h/db\"\ntables = []").unwrap_err();
        assert!(e.to_string().contains("snake case"), "{e}");
        let e = source("name = \"erp\"\nurl = \"sqlite:x.db\"\ntables = []").unwrap_err();
        assert!(e.to_string().contains("not a live source URL"), "{e}");
    }
}
