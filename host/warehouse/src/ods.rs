//! Loading a batch into the ODS layer (贴源层): every table's rows as the
//! source sent them, as text, tagged with the batch and the file line.
//!
//! # Guarantees
//!
//! - **Idempotent.** A table of a batch that has loaded is skipped when the
//!   batch is loaded again; a batch id seen before with a different manifest
//!   is refused.
//! - **Resumable.** Rows are committed in chunks; each chunk's transaction
//!   also moves the table's resume point (`zw_table_load.last_line`) and its
//!   counters. A load killed at any moment leaves a consistent prefix, and
//!   the next run continues after it: no row lost, none twice. Two loaders on
//!   the same table cannot both commit the same chunk (the resume point is
//!   compared-and-set).
//! - **received = loaded + quarantined**, per table, checked against the
//!   database after every load. A line that cannot be read (wrong number of
//!   fields, not UTF-8, a NUL byte) goes to `zw_quarantine` with the reason.
//! - **A bad table does not stop the batch.** A missing or truncated file
//!   fails that table (what was read before the damage stays, and a re-run
//!   after the file is fixed resumes); a file where more than
//!   [`LoadOptions::max_bad_ratio`] of the lines are unreadable (a GBK file,
//!   binary garbage) is rejected and its rows removed; the other tables load.
//! - **Schema drift** is recorded in `zw_drift` and reported; no column is
//!   dropped: new columns are added to the ODS table, columns that stop
//!   coming stay (NULL for the new batch).

use crate::bulk;
use crate::db::{Db, PgWriter, ident};
use crate::drift::{self, Drift};
use crate::on_db;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::mpsc;
use zhiyun_batch::{BadLine, Manifest, ReadError, RowReader, Step, TableManifest};
use zhiyun_store::now_micros;

/// The ODS table that holds a source table.
pub fn ods_table(source_table: &str) -> String {
    format!("ods_{source_table}")
}

/// The bookkeeping columns every ODS table starts with.
pub const BATCH_COLUMN: &str = "_batch_id";
pub const LINE_COLUMN: &str = "_line";

#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Tables loaded at once.
    pub parallel: usize,
    /// Rows per committed chunk (the most a kill can undo).
    pub chunk_rows: usize,
    /// Above this share of unreadable lines (and more than
    /// [`LoadOptions::min_bad_lines_to_reject`]) a table is rejected whole.
    pub max_bad_ratio: f64,
    pub min_bad_lines_to_reject: u64,
    /// Load only these tables of the batch (all when `None`).
    pub only: Option<Vec<String>>,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            parallel: std::thread::available_parallelism()
                .map_or(2, |n| n.get())
                .clamp(1, 4),
            chunk_rows: 20_000,
            max_bad_ratio: 0.01,
            min_bad_lines_to_reject: 10,
            only: None,
        }
    }
}

/// Where a table's load ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TableStatus {
    /// Loaded now (fully, or the rest of an interrupted load).
    Loaded,
    /// Loaded by an earlier run; nothing done.
    AlreadyLoaded,
    /// The file is missing, truncated or unreadable; rows read before the
    /// damage are kept and a re-run resumes after them.
    Failed,
    /// Too many unreadable lines: nothing of the table is kept for this batch.
    Rejected,
}

impl TableStatus {
    fn as_db(self) -> &'static str {
        match self {
            TableStatus::Loaded | TableStatus::AlreadyLoaded => "loaded",
            TableStatus::Failed => "failed",
            TableStatus::Rejected => "rejected",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct TableOutcome {
    pub table: String,
    pub file: String,
    pub status: TableStatus,
    pub rows_received: u64,
    pub rows_loaded: u64,
    pub rows_quarantined: u64,
    /// The line a resumed load continued after (0 for a fresh load).
    pub resumed_after_line: u64,
    pub drift: Vec<Drift>,
    /// The first unreadable lines: "tables/x.csv line 17: 3 fields, the header has 5".
    pub problems: Vec<String>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LoadReport {
    pub batch_id: String,
    pub tables: Vec<TableOutcome>,
    pub elapsed_ms: u64,
}

impl LoadReport {
    pub fn rows_loaded(&self) -> u64 {
        self.tables.iter().map(|t| t.rows_loaded).sum()
    }
    pub fn rows_quarantined(&self) -> u64 {
        self.tables.iter().map(|t| t.rows_quarantined).sum()
    }
    pub fn count(&self, status: TableStatus) -> usize {
        self.tables.iter().filter(|t| t.status == status).count()
    }
    pub fn is_clean(&self) -> bool {
        self.tables
            .iter()
            .all(|t| matches!(t.status, TableStatus::Loaded | TableStatus::AlreadyLoaded))
    }
}

/// What a load tells its watcher (for progress bars).
#[derive(Debug, Clone)]
pub enum LoadEvent {
    Started {
        tables: usize,
        rows: u64,
    },
    TableStarted {
        table: String,
        rows: u64,
    },
    /// Rows (loaded or quarantined) committed since the last event.
    Rows {
        table: String,
        rows: u64,
    },
    TableDone(TableOutcome),
}

pub type Watcher = Arc<dyn Fn(LoadEvent) + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{0}")]
    Manifest(String),
    #[error(
        "batch {batch_id} was loaded before from a different manifest (at {dir}); a changed delivery needs a new batch id"
    )]
    ManifestChanged { batch_id: String, dir: String },
    #[error("{0}")]
    Db(#[from] sqlx::Error),
}

/// Loads the batch in `dir` into the ODS layer.
pub async fn load_batch(
    db: &Db,
    dir: &Path,
    options: &LoadOptions,
    watch: Watcher,
) -> Result<LoadReport, LoadError> {
    let started = Instant::now();
    let manifest = Manifest::load(dir).map_err(LoadError::Manifest)?;
    if let Some(only) = &options.only
        && let Some(unknown) = only.iter().find(|t| manifest.table(t).is_none())
    {
        return Err(LoadError::Manifest(format!(
            "table {unknown:?} is not in batch {}",
            manifest.batch_id
        )));
    }
    register_batch(db, dir, &manifest).await?;

    let mut tables: Vec<TableManifest> = manifest
        .tables
        .iter()
        .filter(|t| {
            options
                .only
                .as_ref()
                .is_none_or(|only| only.contains(&t.name))
        })
        .cloned()
        .collect();
    // Biggest first, so the parallel loads finish together.
    tables.sort_by(|a, b| b.rows.cmp(&a.rows).then(a.name.cmp(&b.name)));
    watch(LoadEvent::Started {
        tables: tables.len(),
        rows: tables.iter().map(|t| t.rows).sum(),
    });

    let batch = Arc::new(BatchRef {
        id: manifest.batch_id.clone(),
        dir: dir.to_owned(),
    });
    let permits = Arc::new(tokio::sync::Semaphore::new(options.parallel.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    for table in tables {
        let (db, batch, options, watch, permits) = (
            db.clone(),
            batch.clone(),
            options.clone(),
            watch.clone(),
            permits.clone(),
        );
        tasks.spawn(async move {
            // The semaphore is never closed, so acquiring cannot fail.
            let _permit = permits.acquire_owned().await;
            let outcome = load_table(&db, &batch, &table, &options, &watch).await;
            watch(LoadEvent::TableDone(outcome.clone()));
            outcome
        });
    }
    let mut outcomes = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(outcome) => outcomes.push(outcome),
            Err(e) => {
                return Err(LoadError::Manifest(format!(
                    "a table load task failed: {e}"
                )));
            }
        }
    }
    outcomes.sort_by(|a, b| a.table.cmp(&b.table));
    if outcomes
        .iter()
        .all(|o| o.status != TableStatus::Failed && o.status != TableStatus::Rejected)
    {
        let finished = now_micros();
        on_db!(db, |pool| sqlx::query(
            "UPDATE zw_batch SET finished_at = $1 WHERE batch_id = $2 AND finished_at IS NULL"
        )
        .bind(finished)
        .bind(&manifest.batch_id)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
    }
    Ok(LoadReport {
        batch_id: manifest.batch_id,
        tables: outcomes,
        elapsed_ms: started.elapsed().as_millis() as u64,
    })
}

struct BatchRef {
    id: String,
    dir: PathBuf,
}

/// Records the batch, or checks it is the same delivery as before.
async fn register_batch(db: &Db, dir: &Path, manifest: &Manifest) -> Result<(), LoadError> {
    let text = serde_json::to_string(manifest).map_err(|e| LoadError::Manifest(e.to_string()))?;
    let existing: Option<(String, String)> = on_db!(db, |pool| sqlx::query_as(
        "SELECT manifest, dir FROM zw_batch WHERE batch_id = $1"
    )
    .bind(&manifest.batch_id)
    .fetch_optional(pool)
    .await)?;
    match existing {
        Some((previous, _)) if previous == text => Ok(()),
        Some((_, dir)) => Err(LoadError::ManifestChanged {
            batch_id: manifest.batch_id.clone(),
            dir,
        }),
        None => {
            on_db!(db, |pool| {
                sqlx::query(
                "INSERT INTO zw_batch (batch_id, source, as_of, dir, manifest, tables, first_seen_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (batch_id) DO NOTHING"
            )
            .bind(&manifest.batch_id)
            .bind(&manifest.source)
            .bind(&manifest.as_of)
            .bind(dir.display().to_string())
            .bind(&text)
            .bind(manifest.tables.len() as i64)
            .bind(now_micros())
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
            })?;
            Ok(())
        }
    }
}

/// How many unreadable lines a report lists per table.
const PROBLEMS_SHOWN: usize = 5;

async fn load_table(
    db: &Db,
    batch: &BatchRef,
    table: &TableManifest,
    options: &LoadOptions,
    watch: &Watcher,
) -> TableOutcome {
    let mut outcome = TableOutcome {
        table: table.name.clone(),
        file: table.file.clone(),
        status: TableStatus::Failed,
        rows_received: 0,
        rows_loaded: 0,
        rows_quarantined: 0,
        resumed_after_line: 0,
        drift: Vec::new(),
        problems: Vec::new(),
        error: None,
    };
    if let Err(e) = load_table_inner(db, batch, table, options, watch, &mut outcome).await {
        outcome.status = TableStatus::Failed;
        outcome.error = Some(e.clone());
        let _ = set_status(db, &batch.id, &table.name, TableStatus::Failed, Some(&e)).await;
    }
    outcome
}

async fn load_table_inner(
    db: &Db,
    batch: &BatchRef,
    table: &TableManifest,
    options: &LoadOptions,
    watch: &Watcher,
    outcome: &mut TableOutcome,
) -> Result<(), String> {
    let state = claim(db, &batch.id, &table.name)
        .await
        .map_err(|e| e.to_string())?;
    if state.status == "loaded" {
        outcome.status = TableStatus::AlreadyLoaded;
        outcome.rows_received = state.rows_received;
        outcome.rows_loaded = state.rows_loaded;
        outcome.rows_quarantined = state.rows_quarantined;
        return Ok(());
    }
    outcome.resumed_after_line = state.last_line;
    watch(LoadEvent::TableStarted {
        table: table.name.clone(),
        rows: table.rows.saturating_sub(state.rows_received),
    });

    let path = batch.dir.join(&table.file);
    let format = table.format;
    let reader = tokio::task::spawn_blocking(move || RowReader::open(&path, format))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| describe_read_error(&batch.dir, &e))?;
    let header = reader.header().to_vec();
    if let Some(bad) = header
        .iter()
        .find(|h| !zhiyun_batch::manifest::is_snake_name(h))
    {
        return Err(format!(
            "{}: header column {bad:?} is not a lowercase snake-case name",
            table.file
        ));
    }
    let mut seen = std::collections::HashSet::new();
    if let Some(dup) = header.iter().find(|h| !seen.insert(h.as_str())) {
        return Err(format!("{}: header names column {dup:?} twice", table.file));
    }
    outcome.drift = drift::prepare_ods_table(db, &batch.id, table, &header)
        .await
        .map_err(|e| e.to_string())?;

    // Reading and parsing run on a blocking thread, a chunk ahead of the writer.
    let (tx, mut rx) = mpsc::channel::<Result<Chunk, String>>(2);
    let chunk_rows = options.chunk_rows.max(1);
    let resume_after = state.last_line;
    let batch_dir = batch.dir.clone();
    let reading = tokio::task::spawn_blocking(move || {
        read_chunks(reader, resume_after, chunk_rows, &tx, &batch_dir)
    });

    let ods = ods_table(&table.name);
    let mut last_line = state.last_line;
    let mut totals = (
        state.rows_received,
        state.rows_loaded,
        state.rows_quarantined,
    );
    let mut read_failure = None;
    while let Some(message) = rx.recv().await {
        let chunk = match message {
            Ok(chunk) => chunk,
            Err(e) => {
                read_failure = Some(e);
                break;
            }
        };
        for bad in chunk
            .bad
            .iter()
            .take(PROBLEMS_SHOWN.saturating_sub(outcome.problems.len()))
        {
            outcome
                .problems
                .push(format!("{} line {}: {}", table.file, bad.line, bad.reason));
        }
        let counts = (
            chunk.received(),
            chunk.rows.len() as u64,
            chunk.bad.len() as u64,
        );
        let chunk_end = chunk.last_line;
        commit_chunk(db, &batch.id, &table.name, &ods, &header, last_line, chunk)
            .await
            .map_err(|e| format!("{}: {e}", table.file))?;
        last_line = chunk_end;
        watch(LoadEvent::Rows {
            table: table.name.clone(),
            rows: counts.0,
        });
        totals = (
            totals.0 + counts.0,
            totals.1 + counts.1,
            totals.2 + counts.2,
        );
    }
    let _ = reading.await;
    outcome.rows_received = totals.0;
    outcome.rows_loaded = totals.1;
    outcome.rows_quarantined = totals.2;

    if let Some(e) = read_failure {
        return Err(e);
    }
    if totals.2 > options.min_bad_lines_to_reject
        && totals.2 as f64 > options.max_bad_ratio * totals.0 as f64
    {
        let reason = format!(
            "{} of {} lines ({:.1} %) are unreadable, more than the {:.1} % allowed; the table is \
             not loaded from this file (first: {})",
            totals.2,
            totals.0,
            100.0 * totals.2 as f64 / totals.0.max(1) as f64,
            100.0 * options.max_bad_ratio,
            outcome.problems.first().map_or("", String::as_str)
        );
        reject(db, &batch.id, &table.name, &ods, &reason)
            .await
            .map_err(|e| e.to_string())?;
        outcome.status = TableStatus::Rejected;
        outcome.error = Some(reason);
        outcome.rows_loaded = 0;
        outcome.rows_quarantined = 0;
        outcome.rows_received = 0;
        return Ok(());
    }
    check_invariant(db, &batch.id, &table.name, &ods).await?;
    set_status(db, &batch.id, &table.name, TableStatus::Loaded, None)
        .await
        .map_err(|e| e.to_string())?;
    outcome.status = TableStatus::Loaded;
    Ok(())
}

/// Rows read from a file, ready to commit.
struct Chunk {
    rows: Vec<(u64, Vec<String>)>,
    bad: Vec<BadLine>,
    /// The last line this chunk covers: the resume point once committed.
    last_line: u64,
}

impl Chunk {
    fn received(&self) -> u64 {
        (self.rows.len() + self.bad.len()) as u64
    }
}

fn read_chunks(
    mut reader: RowReader,
    resume_after: u64,
    chunk_rows: usize,
    tx: &mpsc::Sender<Result<Chunk, String>>,
    batch_dir: &Path,
) {
    let mut chunk = Chunk {
        rows: Vec::with_capacity(chunk_rows),
        bad: Vec::new(),
        last_line: resume_after,
    };
    let mut values = Vec::new();
    loop {
        let step = match reader.next_into(&mut values) {
            Ok(step) => step,
            Err(e) => {
                // Commit what was read before the damage, then report it.
                if chunk.received() > 0 {
                    let full = std::mem::replace(
                        &mut chunk,
                        Chunk {
                            rows: Vec::new(),
                            bad: Vec::new(),
                            last_line: 0,
                        },
                    );
                    if tx.blocking_send(Ok(full)).is_err() {
                        return;
                    }
                }
                let _ = tx.blocking_send(Err(describe_read_error(batch_dir, &e)));
                return;
            }
        };
        match step {
            Step::End => break,
            Step::Record { line } if line <= resume_after => {}
            Step::Bad(bad) if bad.line <= resume_after => {}
            Step::Record { line } => {
                if let Some(column) = values.iter().position(|v| v.contains('\0')) {
                    chunk.bad.push(BadLine {
                        line,
                        reason: format!(
                            "column {} ({}) holds a NUL byte",
                            column + 1,
                            reader.header()[column]
                        ),
                        raw: values.join(",").replace('\0', "\\0"),
                    });
                } else {
                    chunk.rows.push((line, std::mem::take(&mut values)));
                }
                chunk.last_line = line;
            }
            Step::Bad(bad) => {
                chunk.last_line = bad.line;
                chunk.bad.push(bad);
            }
        }
        if chunk.received() as usize >= chunk_rows {
            let last = chunk.last_line;
            let full = std::mem::replace(
                &mut chunk,
                Chunk {
                    rows: Vec::with_capacity(chunk_rows),
                    bad: Vec::new(),
                    last_line: last,
                },
            );
            if tx.blocking_send(Ok(full)).is_err() {
                return;
            }
        }
    }
    if chunk.received() > 0 {
        let _ = tx.blocking_send(Ok(chunk));
    }
}

fn describe_read_error(batch_dir: &Path, e: &ReadError) -> String {
    let text = e.to_string();
    let prefix = format!("{}/", batch_dir.display());
    text.replace(&prefix, "")
}

/// The load state of one table of one batch.
struct LoadState {
    status: String,
    last_line: u64,
    rows_received: u64,
    rows_loaded: u64,
    rows_quarantined: u64,
}

/// Creates the table's load record if it has none, and reads it.
async fn claim(db: &Db, batch_id: &str, table: &str) -> Result<LoadState, sqlx::Error> {
    let now = now_micros();
    let row: (String, i64, i64, i64, i64) = on_db!(db, |pool| {
        sqlx::query(
            "INSERT INTO zw_table_load (batch_id, table_name, status, started_at) \
             VALUES ($1, $2, 'loading', $3) ON CONFLICT (batch_id, table_name) DO NOTHING",
        )
        .bind(batch_id)
        .bind(table)
        .bind(now)
        .execute(pool)
        .await?;
        sqlx::query_as(
            "SELECT status, last_line, rows_received, rows_loaded, rows_quarantined \
             FROM zw_table_load WHERE batch_id = $1 AND table_name = $2",
        )
        .bind(batch_id)
        .bind(table)
        .fetch_one(pool)
        .await?
    });
    Ok(LoadState {
        status: row.0,
        last_line: row.1 as u64,
        rows_received: row.2 as u64,
        rows_loaded: row.3 as u64,
        rows_quarantined: row.4 as u64,
    })
}

async fn set_status(
    db: &Db,
    batch_id: &str,
    table: &str,
    status: TableStatus,
    error: Option<&str>,
) -> Result<(), sqlx::Error> {
    on_db!(db, |pool| sqlx::query(
        "UPDATE zw_table_load SET status = $1, error = $2, finished_at = $3 \
         WHERE batch_id = $4 AND table_name = $5"
    )
    .bind(status.as_db())
    .bind(error)
    .bind(now_micros())
    .bind(batch_id)
    .bind(table)
    .execute(pool)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Commits one chunk: the resume point moves in the same transaction as the
/// rows, and only from where this loader found it.
async fn commit_chunk(
    db: &Db,
    batch_id: &str,
    table: &str,
    ods: &str,
    header: &[String],
    resume_from: u64,
    chunk: Chunk,
) -> Result<(), String> {
    let now = now_micros();
    let received = chunk.received() as i64;
    let Chunk {
        rows,
        bad,
        last_line,
    } = chunk;
    let loaded = rows.len() as i64;
    // The bookkeeping is the same SQL on both backends; the rows go by the
    // backend's bulk path.
    macro_rules! bookkeeping {
        ($tx:expr) => {{
            let moved = sqlx::query(
                "UPDATE zw_table_load SET last_line = $1, rows_received = rows_received + $2, \
                 rows_loaded = rows_loaded + $3, rows_quarantined = rows_quarantined + $4, status = 'loading' \
                 WHERE batch_id = $5 AND table_name = $6 AND last_line = $7",
            )
            .bind(last_line as i64)
            .bind(received)
            .bind(loaded)
            .bind(bad.len() as i64)
            .bind(batch_id)
            .bind(table)
            .bind(resume_from as i64)
            .execute(&mut *$tx)
            .await
            .map_err(|e| e.to_string())?;
            if moved.rows_affected() != 1 {
                return Err(format!(
                    "another loader moved table {table} of batch {batch_id} past line {resume_from}; this load stops"
                ));
            }
            for line in &bad {
                sqlx::query(
                    "INSERT INTO zw_quarantine (layer, batch_id, table_name, line, rule, reason, raw, quarantined_at) \
                     VALUES ('ods', $1, $2, $3, 'readable', $4, $5, $6)",
                )
                .bind(batch_id)
                .bind(table)
                .bind(line.line as i64)
                .bind(&line.reason)
                .bind(&line.raw)
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
            bulk::insert_sqlite(&mut tx, ods, header, batch_id, rows)
                .await
                .map_err(|e| e.to_string())?;
            tx.commit().await.map_err(|e| e.to_string())
        }
        Db::Postgres(pool) => {
            let mut writer = PgWriter::acquire(pool).await.map_err(|e| e.to_string())?;
            let mut tx = writer.begin().await.map_err(|e| e.to_string())?;
            bookkeeping!(tx);
            bulk::copy_postgres(&mut tx, ods, header, batch_id, rows)
                .await
                .map_err(|e| e.to_string())?;
            tx.commit().await.map_err(|e| e.to_string())?;
            writer.done();
            Ok(())
        }
    }
}

async fn reject(
    db: &Db,
    batch_id: &str,
    table: &str,
    ods: &str,
    reason: &str,
) -> Result<(), sqlx::Error> {
    let delete_rows = format!(
        "DELETE FROM {} WHERE {} = $1",
        ident(ods),
        ident(BATCH_COLUMN)
    );
    on_db!(db, |pool| {
        let mut tx = pool.begin().await?;
        sqlx::query(sqlx::AssertSqlSafe(delete_rows.clone()))
            .bind(batch_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "DELETE FROM zw_quarantine WHERE layer = 'ods' AND batch_id = $1 AND table_name = $2",
        )
        .bind(batch_id)
        .bind(table)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE zw_table_load SET status = 'rejected', error = $1, last_line = 0, rows_received = 0, \
             rows_loaded = 0, rows_quarantined = 0, finished_at = $2 WHERE batch_id = $3 AND table_name = $4",
        )
        .bind(reason)
        .bind(now_micros())
        .bind(batch_id)
        .bind(table)
        .execute(&mut *tx)
        .await?;
        tx.commit().await
    })
}

/// received = loaded + quarantined, and both match what is in the database.
async fn check_invariant(db: &Db, batch_id: &str, table: &str, ods: &str) -> Result<(), String> {
    let count_rows = format!(
        "SELECT count(*) FROM {} WHERE {} = $1",
        ident(ods),
        ident(BATCH_COLUMN)
    );
    let result: Result<(i64, i64, i64, i64, i64), sqlx::Error> = on_db!(db, |pool| {
        async {
        let in_ods: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(count_rows.clone()))
            .bind(batch_id)
            .fetch_one(pool)
            .await?;
        let in_quarantine: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM zw_quarantine WHERE layer = 'ods' AND batch_id = $1 AND table_name = $2",
        )
        .bind(batch_id)
        .bind(table)
        .fetch_one(pool)
        .await?;
        let (received, loaded, quarantined): (i64, i64, i64) = sqlx::query_as(
            "SELECT rows_received, rows_loaded, rows_quarantined FROM zw_table_load \
             WHERE batch_id = $1 AND table_name = $2",
        )
        .bind(batch_id)
        .bind(table)
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
            "invariant broken for {table}: received {received} ≠ loaded {loaded} + quarantined {quarantined}, \
             or the tables hold {in_ods} rows and {in_quarantine} quarantined"
        ));
    }
    Ok(())
}
