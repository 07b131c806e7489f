//! Building models into the warehouse: full and incremental, with history,
//! and stale descendants when a model fails.
//!
//! # What a build does
//!
//! Models run in DAG order. For each selected model:
//!
//! 1. **Decide the mode.** A model is built in **full** when its table is
//!    missing, its definition changed (SQL, columns, materialisation:
//!    [`Model::fingerprint`]), it is `materialized = "table"` and an input
//!    changed, an input that is not partitioned changed, or the build was
//!    asked to be full. An incremental model whose partitioned inputs
//!    changed rebuilds **only the changed partitions**. A model none of whose
//!    inputs changed is **unchanged** and not touched.
//! 2. **Know what changed.** Every input has a *version*: for a DWD table,
//!    its cleaning runs (`zw_clean_run`: batch, rules fingerprint, finish
//!    time); for a model, the build that last changed its data. Equal
//!    versions: nothing changed, nothing is scanned. Otherwise, for a
//!    partitioned DWD input, the changed partitions are those the new
//!    cleaning runs wrote rows into (found through the `_batch_id` index)
//!    and those rows left since the last build — a row a later batch moved
//!    to another period, or a deleted row — which triggers the build puts on
//!    the input log in `zw_partition_move` (cleaning replaces rows by key,
//!    so a move is an update that changes the row's partition). Nothing is
//!    counted or scanned; the build also indexes the partition expression,
//!    so rebuilding one partition reads only its rows. For a partitioned
//!    model input: the partitions it rebuilt since (`zw_model_partition`).
//!    A change of the cleaning rules of a DWD input, or a full build of a
//!    model input, changes every partition.
//! 3. **Write, in one transaction.** Full: the model's SQL fills a new table
//!    `<model>__build` with the declared column types, which replaces the
//!    old one; indexes and a unique index on the key (the grain: a model
//!    that yields two rows for one key fails) are created on it.
//!    Incremental: the changed partitions are deleted and re-inserted,
//!    with the model's `{{ partitions(…) }}` calls limiting what it reads.
//!    The model's state and input versions are written in the same
//!    transaction, so a killed build leaves the previous data and state, and
//!    the next build does the work again.
//! 4. **Fail safely.** A model that fails rolls back (its table keeps the
//!    previous data) and is marked `failed`; every model downstream of it is
//!    marked `stale` (not built in this run, its data kept but flagged) until
//!    a later build succeeds for it. A stale model's inputs are not marked
//!    consumed, so the next build catches up.
//!
//! History: `zw_model_build` (one row per build) and `zw_model_run` (one row
//! per model per build: mode, partitions, rows written, time, error).

use crate::project::{Materialized, Model, Project};
use crate::template;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;
use zhiyun_store::Backend;
use zhiyun_warehouse::db::{Bind, fetch_texts};
use zhiyun_warehouse::{Db, on_db};

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("{0}")]
    Project(#[from] crate::project::ProjectError),
    #[error("warehouse: {0}")]
    Db(#[from] sqlx::Error),
}

/// The bookkeeping tables of model builds.
const TABLES: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS zw_model_build (
        build_id BIGSERIAL PRIMARY KEY,
        started_at BIGINT NOT NULL,
        finished_at BIGINT,
        selection TEXT NOT NULL,
        full_refresh BIGINT NOT NULL,
        status TEXT NOT NULL,
        summary TEXT NOT NULL DEFAULT '{}'
    )",
    "CREATE TABLE IF NOT EXISTS zw_model_run (
        build_id BIGINT NOT NULL,
        model TEXT NOT NULL,
        position BIGINT NOT NULL,
        mode TEXT NOT NULL,
        status TEXT NOT NULL,
        partitions TEXT NOT NULL DEFAULT '[]',
        rows_written BIGINT NOT NULL DEFAULT 0,
        elapsed_ms BIGINT NOT NULL DEFAULT 0,
        error TEXT,
        PRIMARY KEY (build_id, model)
    )",
    // Where each model stands: its definition at the last successful build,
    // and `data_build`, the build that last changed its rows.
    "CREATE TABLE IF NOT EXISTS zw_model_state (
        model TEXT PRIMARY KEY,
        status TEXT NOT NULL,
        fingerprint TEXT NOT NULL DEFAULT '',
        last_build BIGINT NOT NULL,
        data_build BIGINT NOT NULL DEFAULT 0,
        full_build BIGINT NOT NULL DEFAULT 0,
        rows_total BIGINT NOT NULL DEFAULT 0,
        reason TEXT,
        updated_at BIGINT NOT NULL
    )",
    // The version of each input a model consumed at its last successful build.
    "CREATE TABLE IF NOT EXISTS zw_model_input (
        model TEXT NOT NULL,
        input TEXT NOT NULL,
        version TEXT NOT NULL,
        PRIMARY KEY (model, input)
    )",
    // Partitions of partitioned DWD inputs that rows left (a later batch
    // moved them to another period, or a re-clean deleted them), by the
    // batch whose cleaning did it; logged by triggers the build puts on
    // those inputs, in the cleaning's own transaction.
    "CREATE TABLE IF NOT EXISTS zw_partition_move (
        table_name TEXT NOT NULL,
        expr_hash TEXT NOT NULL,
        batch_id TEXT NOT NULL,
        part TEXT NOT NULL,
        PRIMARY KEY (table_name, expr_hash, batch_id, part)
    )",
    // The build that last wrote each partition of an incremental model.
    "CREATE TABLE IF NOT EXISTS zw_model_partition (
        model TEXT NOT NULL,
        part TEXT NOT NULL,
        build_id BIGINT NOT NULL,
        PRIMARY KEY (model, part)
    )",
];

/// Creates the bookkeeping tables if missing.
pub async fn ensure_tables(db: &Db) -> Result<(), sqlx::Error> {
    for statement in TABLES {
        let sql = match db.backend() {
            Backend::Sqlite => {
                statement.replace("BIGSERIAL PRIMARY KEY", "INTEGER PRIMARY KEY AUTOINCREMENT")
            }
            Backend::Postgres => statement.to_string(),
        };
        execute(db, &sql, &[]).await?;
    }
    Ok(())
}

#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// Model selectors (see [`Project::select`]); empty: all.
    pub select: Vec<String>,
    /// Rebuild every selected model in full.
    pub full_refresh: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Built (full or incremental).
    Built,
    /// No input changed: nothing done.
    Unchanged,
    Failed,
    /// Not built because a model upstream failed.
    Stale,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Full,
    Incremental,
    Skipped,
}

/// What happened to one model.
#[derive(Debug, Clone, Serialize)]
pub struct ModelRun {
    pub model: String,
    pub mode: Mode,
    pub status: RunStatus,
    /// The partitions rebuilt by an incremental run.
    pub partitions: Vec<String>,
    pub rows_written: u64,
    pub elapsed_ms: u64,
    /// Why it failed, or which upstream model made it stale; or why it was
    /// built in full.
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BuildReport {
    pub build_id: i64,
    pub runs: Vec<ModelRun>,
    pub elapsed_ms: u64,
}

impl BuildReport {
    pub fn failed(&self) -> impl Iterator<Item = &ModelRun> {
        self.runs
            .iter()
            .filter(|r| matches!(r.status, RunStatus::Failed | RunStatus::Stale))
    }
    pub fn ok(&self) -> bool {
        self.failed().next().is_none()
    }
}

/// Progress of a build, one event per model.
#[derive(Debug, Clone)]
pub enum BuildEvent<'a> {
    Started {
        model: &'a str,
        index: usize,
        total: usize,
    },
    Finished(&'a ModelRun),
}

/// Builds the selected models.
pub async fn build(
    db: &Db,
    project: &Project,
    options: &BuildOptions,
    mut progress: impl FnMut(BuildEvent<'_>),
) -> Result<BuildReport, BuildError> {
    ensure_tables(db).await?;
    let started = Instant::now();
    let selected = project.select(&options.select)?;
    let build_id: i64 = fetch_text(
        db,
        "INSERT INTO zw_model_build (started_at, selection, full_refresh, status) VALUES ($1, $2, $3, 'running') \
         RETURNING CAST(build_id AS TEXT)",
        &[
            int(now_micros()),
            text(options.select.join(" ")),
            int(i64::from(options.full_refresh)),
        ],
    )
    .await?
    .first()
    .and_then(|r| r[0].parse().ok())
    .ok_or_else(|| sqlx::Error::Protocol("the new build has no id".into()))?;

    let mut runs: Vec<ModelRun> = Vec::new();
    // Models that failed or went stale in this build: their descendants are stale.
    let mut broken: BTreeMap<String, String> = BTreeMap::new();
    let total = selected.len();
    for (index, name) in selected.iter().enumerate() {
        let Some(model) = project.model(name) else {
            continue;
        };
        progress(BuildEvent::Started {
            model: name,
            index,
            total,
        });
        let t0 = Instant::now();
        let upstream_broken = project
            .ancestors(name)
            .into_iter()
            .find_map(|a| broken.get(a).map(|why| (a.to_string(), why.clone())));
        let run = if let Some((upstream, _)) = upstream_broken {
            let reason = format!("upstream model `{upstream}` failed in build {build_id}");
            mark_stale(db, name, build_id, &reason).await?;
            broken.insert(name.to_string(), reason.clone());
            ModelRun {
                model: name.to_string(),
                mode: Mode::Skipped,
                status: RunStatus::Stale,
                partitions: Vec::new(),
                rows_written: 0,
                elapsed_ms: 0,
                detail: Some(reason),
            }
        } else {
            match build_one(db, project, model, build_id, options.full_refresh).await {
                Ok(mut run) => {
                    run.elapsed_ms = t0.elapsed().as_millis() as u64;
                    run
                }
                Err(e) => {
                    let message = format!("{e}");
                    mark_failed(db, name, build_id, &message).await?;
                    // Everything downstream, selected or not, is stale now.
                    for d in project.descendants(name) {
                        mark_stale(
                            db,
                            d,
                            build_id,
                            &format!("upstream model `{name}` failed in build {build_id}"),
                        )
                        .await?;
                    }
                    broken.insert(name.to_string(), message.clone());
                    ModelRun {
                        model: name.to_string(),
                        mode: Mode::Skipped,
                        status: RunStatus::Failed,
                        partitions: Vec::new(),
                        rows_written: 0,
                        elapsed_ms: t0.elapsed().as_millis() as u64,
                        detail: Some(message),
                    }
                }
            }
        };
        record_run(db, build_id, index, &run).await?;
        progress(BuildEvent::Finished(&run));
        runs.push(run);
    }
    let report = BuildReport {
        build_id,
        runs,
        elapsed_ms: started.elapsed().as_millis() as u64,
    };
    let status = if report.ok() { "ok" } else { "failed" };
    let summary = serde_json::json!({
        "built": report.runs.iter().filter(|r| r.status == RunStatus::Built).count(),
        "unchanged": report.runs.iter().filter(|r| r.status == RunStatus::Unchanged).count(),
        "failed": report.runs.iter().filter(|r| r.status == RunStatus::Failed).count(),
        "stale": report.runs.iter().filter(|r| r.status == RunStatus::Stale).count(),
    });
    execute(
        db,
        "UPDATE zw_model_build SET finished_at = $1, status = $2, summary = $3 WHERE build_id = $4",
        &[
            int(now_micros()),
            text(status.into()),
            text(summary.to_string()),
            int(build_id),
        ],
    )
    .await?;
    Ok(report)
}

/// Why a model failed: the step and the database's message.
#[derive(Debug, thiserror::Error)]
enum ModelError {
    #[error("{0}")]
    Template(String),
    #[error(
        "input `{0}` does not exist in the warehouse (has the batch been ingested and cleaned?)"
    )]
    MissingInput(String),
    #[error("{step}: {source}")]
    Sql {
        step: &'static str,
        #[source]
        source: sqlx::Error,
    },
}

fn sql_err(step: &'static str) -> impl FnOnce(sqlx::Error) -> ModelError {
    move |source| ModelError::Sql { step, source }
}

/// The state of an input now, and what the model consumed last time.
struct InputChange {
    name: String,
    version: String,
    /// `None`: not partitioned (or everything changed); `Some`: exactly these
    /// partitions changed.
    changed: Option<BTreeSet<String>>,
    unchanged: bool,
}

async fn build_one(
    db: &Db,
    project: &Project,
    model: &Model,
    build_id: i64,
    full_refresh: bool,
) -> Result<ModelRun, ModelError> {
    let backend = db.backend();
    let state = model_state(db, &model.name)
        .await
        .map_err(sql_err("reading the model's state"))?;
    let exists = db
        .table_exists(&model.name)
        .await
        .map_err(sql_err("checking the model's table"))?;
    let fingerprint = model.fingerprint();

    // What each input looks like now.
    let partition_inputs = match &model.materialized {
        Materialized::Incremental { inputs, .. } => Some(inputs),
        Materialized::Table => None,
    };
    let mut changes = Vec::new();
    for input in model.inputs() {
        if !db
            .table_exists(input)
            .await
            .map_err(sql_err("checking an input"))?
        {
            return Err(ModelError::MissingInput(input.to_string()));
        }
        let is_model = project.model(input).is_some();
        let version = input_version(db, input, is_model)
            .await
            .map_err(sql_err("reading an input's version"))?;
        let consumed = consumed_version(db, &model.name, input)
            .await
            .map_err(sql_err("reading the consumed versions"))?;
        let unchanged = consumed.as_deref() == Some(version.as_str());
        let part_expr = partition_inputs.and_then(|p| p.get(input));
        let changed = match part_expr {
            None => None,
            Some(_) if unchanged => Some(BTreeSet::new()),
            Some(_) if is_model => {
                let since = consumed_build(consumed.as_deref());
                model_partitions_since(db, input, since)
                    .await
                    .map_err(sql_err("reading an input model's partitions"))?
            }
            Some(expr) => {
                ensure_partition_index(db, input, expr)
                    .await
                    .map_err(sql_err("indexing an input's partition expression"))?;
                ensure_move_log(db, input, expr)
                    .await
                    .map_err(sql_err("logging rows that leave a partition"))?;
                // A change of cleaning rules may change values without
                // changing rows: everything is then changed.
                let rules_changed = consumed
                    .as_deref()
                    .is_none_or(|c| rules_part(c) != rules_part(&version));
                if rules_changed {
                    None
                } else {
                    // The partitions the new cleaning runs wrote rows into,
                    // and those their rows left.
                    let fresh = new_runs(consumed.as_deref(), &version);
                    let mut changed = partitions_of_batches(db, input, expr, &fresh)
                        .await
                        .map_err(sql_err("finding the partitions of new batches"))?;
                    changed.extend(
                        moves_of_batches(db, input, expr, &fresh)
                            .await
                            .map_err(sql_err("reading the partition move log"))?,
                    );
                    Some(changed)
                }
            }
        };
        changes.push(InputChange {
            name: input.to_string(),
            version,
            changed,
            unchanged,
        });
    }

    let definition_changed = state
        .as_ref()
        .is_none_or(|s| s.fingerprint != fingerprint || s.status == "failed");
    let full_reason = if full_refresh {
        Some("--full-refresh".to_string())
    } else if !exists {
        Some("the table does not exist yet".to_string())
    } else if definition_changed {
        Some("the model's definition changed since its last build".to_string())
    } else {
        changes
            .iter()
            .find(|c| !c.unchanged && c.changed.is_none())
            .map(|c| match partition_inputs {
                Some(_) => format!("input `{}` changed as a whole", c.name),
                None => format!("input `{}` changed", c.name),
            })
    };
    let stale_before = state.as_ref().is_some_and(|s| s.status == "stale");
    let parts: BTreeSet<String> = changes
        .iter()
        .filter_map(|c| c.changed.as_ref())
        .flatten()
        .cloned()
        .collect();
    if full_reason.is_none() && parts.is_empty() && !stale_before {
        return Ok(ModelRun {
            model: model.name.clone(),
            mode: Mode::Skipped,
            status: RunStatus::Unchanged,
            partitions: Vec::new(),
            rows_written: 0,
            elapsed_ms: 0,
            detail: None,
        });
    }
    // A stale model whose inputs did not change since (the upstream failure
    // kept them as they were) has nothing to catch up on but is fine again.
    let (mode, partitions) = match (&full_reason, &model.materialized) {
        (None, Materialized::Incremental { .. }) => {
            (Mode::Incremental, parts.into_iter().collect::<Vec<_>>())
        }
        _ => (Mode::Full, Vec::new()),
    };

    let from_earliest = matches!(
        &model.materialized,
        Materialized::Incremental {
            from_earliest: true,
            ..
        }
    );
    let statements = match mode {
        Mode::Full => full_statements(model, backend).map_err(ModelError::Template)?,
        _ => incremental_statements(model, backend, &partitions, from_earliest)
            .map_err(ModelError::Template)?,
    };
    let (rows_written, partitions) = on_db!(db, |pool| {
        let mut tx = pool.begin().await.map_err(sql_err("starting the build"))?;
        let mut rows = 0u64;
        let mut written: Vec<String> = partitions.clone();
        for (step, sql, counts) in &statements {
            let done = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
                .execute(&mut *tx)
                .await
                .map_err(sql_err(step))?;
            if *counts {
                rows += done.rows_affected();
            }
        }
        let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) FROM \"{}\"",
            model.name
        )))
        .fetch_one(&mut *tx)
        .await
        .map_err(sql_err("counting the model's rows"))?;
        let full_build = if mode == Mode::Full {
            build_id
        } else {
            state.as_ref().map_or(build_id, |s| s.full_build)
        };
        sqlx::query(
            "INSERT INTO zw_model_state (model, status, fingerprint, last_build, data_build, full_build, rows_total, reason, updated_at) \
             VALUES ($1, 'ok', $2, $3, $3, $4, $5, NULL, $6) \
             ON CONFLICT (model) DO UPDATE SET status = 'ok', fingerprint = $2, last_build = $3, data_build = $3, full_build = $4, rows_total = $5, reason = NULL, updated_at = $6",
        )
        .bind(&model.name)
        .bind(&fingerprint)
        .bind(build_id)
        .bind(full_build)
        .bind(total)
        .bind(now_micros())
        .execute(&mut *tx)
        .await
        .map_err(sql_err("recording the model's state"))?;
        if let Materialized::Incremental { .. } = &model.materialized {
            if mode == Mode::Full {
                sqlx::query("DELETE FROM zw_model_partition WHERE model = $1")
                    .bind(&model.name)
                    .execute(&mut *tx)
                    .await
                    .map_err(sql_err("recording partitions"))?;
            }
            let pc = partition_column(model);
            let listed = match (mode, partitions.iter().min()) {
                (Mode::Full, _) => Some(format!(
                    "SELECT DISTINCT CAST(\"{pc}\" AS TEXT) FROM \"{}\"",
                    model.name
                )),
                // Everything from the earliest changed partition on.
                (_, Some(earliest)) if from_earliest => Some(format!(
                    "SELECT DISTINCT CAST(\"{pc}\" AS TEXT) FROM \"{}\" WHERE {}",
                    model.name,
                    from_partition(&format!("\"{pc}\""), earliest)
                )),
                _ => None,
            };
            written = match listed {
                Some(sql) => {
                    let mut parts: Vec<String> =
                        sqlx::query_scalar::<_, Option<String>>(sqlx::AssertSqlSafe(sql))
                            .fetch_all(&mut *tx)
                            .await
                            .map_err(sql_err("listing the model's partitions"))?
                            .into_iter()
                            .flatten()
                            .collect();
                    parts.sort();
                    parts
                }
                None => partitions.clone(),
            };
            for part in &written {
                sqlx::query(
                    "INSERT INTO zw_model_partition (model, part, build_id) VALUES ($1, $2, $3) \
                     ON CONFLICT (model, part) DO UPDATE SET build_id = $3",
                )
                .bind(&model.name)
                .bind(part)
                .bind(build_id)
                .execute(&mut *tx)
                .await
                .map_err(sql_err("recording partitions"))?;
            }
        }
        for change in &changes {
            sqlx::query(
                "INSERT INTO zw_model_input (model, input, version) VALUES ($1, $2, $3) \
                 ON CONFLICT (model, input) DO UPDATE SET version = $3",
            )
            .bind(&model.name)
            .bind(&change.name)
            .bind(&change.version)
            .execute(&mut *tx)
            .await
            .map_err(sql_err("recording consumed input versions"))?;
        }
        tx.commit().await.map_err(sql_err("committing the build"))?;
        Ok::<(u64, Vec<String>), ModelError>((rows, written))
    })?;
    Ok(ModelRun {
        model: model.name.clone(),
        mode,
        status: RunStatus::Built,
        partitions: if mode == Mode::Full {
            Vec::new()
        } else {
            partitions
        },
        rows_written,
        elapsed_ms: 0,
        detail: full_reason.or_else(|| stale_before.then(|| "caught up after being stale".into())),
    })
}

fn partition_column(model: &Model) -> &str {
    match &model.materialized {
        Materialized::Incremental {
            partition_column, ..
        } => partition_column,
        Materialized::Table => "",
    }
}

type Statement = (&'static str, String, bool);

fn column_list(model: &Model) -> String {
    model
        .columns
        .iter()
        .map(|c| format!("\"{}\"", c.name))
        .collect::<Vec<_>>()
        .join(", ")
}

fn select_declared(model: &Model, sql: &str, filter: Option<String>) -> String {
    let cols: Vec<String> = model
        .columns
        .iter()
        .map(|c| format!("__m.\"{}\"", c.name))
        .collect();
    let mut s = format!(
        "SELECT {} FROM (\n{}\n) AS __m",
        cols.join(", "),
        sql.trim().trim_end_matches(';')
    );
    if let Some(f) = filter {
        s.push_str(" WHERE ");
        s.push_str(&f);
    }
    s
}

fn index_statements(model: &Model, table: &str) -> Vec<Statement> {
    let keys: Vec<String> = model.keys.iter().map(|k| format!("\"{k}\"")).collect();
    let mut out = vec![(
        "creating the unique index on the key (a duplicate key means the SQL does not yield one row per grain)",
        format!(
            "CREATE UNIQUE INDEX \"{}__key\" ON \"{table}\" ({})",
            model.name,
            keys.join(", ")
        ),
        false,
    )];
    for (i, index) in model.indexes.iter().enumerate() {
        let cols: Vec<String> = index.iter().map(|c| format!("\"{c}\"")).collect();
        out.push((
            "creating an index",
            format!(
                "CREATE INDEX \"{}__ix{}\" ON \"{table}\" ({})",
                model.name,
                i + 1,
                cols.join(", ")
            ),
            false,
        ));
    }
    out
}

fn full_statements(model: &Model, backend: Backend) -> Result<Vec<Statement>, String> {
    let sql = template::render(&model.sql, backend, None)?;
    let name = &model.name;
    let temp = format!("{name}__build");
    let defs: Vec<String> = model
        .columns
        .iter()
        .map(|c| format!("\"{}\" {}", c.name, c.kind.sql_type()))
        .collect();
    let mut out: Vec<Statement> = vec![
        (
            "dropping a leftover build table",
            format!("DROP TABLE IF EXISTS \"{temp}\""),
            false,
        ),
        (
            "creating the build table",
            format!("CREATE TABLE \"{temp}\" ({})", defs.join(", ")),
            false,
        ),
        (
            "running the model's SQL",
            format!(
                "INSERT INTO \"{temp}\" ({}) {}",
                column_list(model),
                select_declared(model, &sql, None)
            ),
            true,
        ),
        (
            "replacing the old table",
            format!("DROP TABLE IF EXISTS \"{name}\""),
            false,
        ),
        (
            "replacing the old table",
            format!("ALTER TABLE \"{temp}\" RENAME TO \"{name}\""),
            false,
        ),
    ];
    out.extend(index_statements(model, name));
    Ok(out)
}

/// `column >= 'value'` (the value as a SQL string literal).
fn from_partition(column: &str, earliest: &str) -> String {
    format!("{column} >= '{}'", earliest.replace('\'', "''"))
}

fn incremental_statements(
    model: &Model,
    backend: Backend,
    partitions: &[String],
    from_earliest: bool,
) -> Result<Vec<Statement>, String> {
    let pc = format!("\"{}\"", partition_column(model));
    // A model that rebuilds from the earliest change reads all history.
    let (sql, keep, keep_out) = match partitions.iter().min() {
        Some(earliest) if from_earliest => (
            template::render(&model.sql, backend, None)?,
            from_partition(&pc, earliest),
            from_partition(&format!("__m.{pc}"), earliest),
        ),
        _ => (
            template::render(&model.sql, backend, Some(partitions))?,
            template::in_list(&pc, partitions),
            template::in_list(&format!("__m.{pc}"), partitions),
        ),
    };
    Ok(vec![
        (
            "deleting the changed partitions",
            format!("DELETE FROM \"{}\" WHERE {keep}", model.name),
            false,
        ),
        (
            "running the model's SQL for the changed partitions",
            format!(
                "INSERT INTO \"{}\" ({}) {}",
                model.name,
                column_list(model),
                select_declared(model, &sql, Some(keep_out))
            ),
            true,
        ),
    ])
}

// ---- versions and changed partitions ------------------------------------------

/// An input's version: a model's data build, or a DWD table's cleaning runs
/// (`<rules>|<runs>`, rules first so a rules change is told apart).
async fn input_version(db: &Db, input: &str, is_model: bool) -> Result<String, sqlx::Error> {
    if is_model {
        let rows = fetch_text(
            db,
            "SELECT CAST(data_build AS TEXT), CAST(full_build AS TEXT) FROM zw_model_state WHERE model = $1",
            &[text(input.into())],
        )
        .await?;
        return Ok(rows
            .first()
            .map(|r| format!("model:{}:{}", r[0], r[1]))
            .unwrap_or_else(|| "model:0:0".into()));
    }
    if !db.table_exists("zw_clean_run").await? {
        return Ok("dwd:|".into());
    }
    let table = input.strip_prefix("dwd_").unwrap_or(input);
    let runs = fetch_text(
        db,
        "SELECT batch_id, rules_hash, CAST(COALESCE(finished_at, 0) AS TEXT) FROM zw_clean_run \
         WHERE table_name = $1 AND status = 'done' ORDER BY batch_id",
        &[text(table.into())],
    )
    .await?;
    let rules: BTreeSet<&str> = runs.iter().map(|r| r[1].as_str()).collect();
    let runs: Vec<String> = runs.iter().map(|r| format!("{}@{}", r[0], r[2])).collect();
    Ok(format!(
        "dwd:{}|{}",
        rules.into_iter().collect::<Vec<_>>().join(","),
        runs.join(",")
    ))
}

fn rules_part(version: &str) -> &str {
    version.split('|').next().unwrap_or(version)
}

/// The build id in a consumed model version (`model:<data>:<full>`).
fn consumed_build(consumed: Option<&str>) -> Option<(i64, i64)> {
    let mut parts = consumed?.strip_prefix("model:")?.split(':');
    let data = parts.next()?.parse().ok()?;
    let full = parts.next()?.parse().ok()?;
    Some((data, full))
}

/// The partitions of model `input` written after the consumed build, or
/// `None` (everything) if it was rebuilt in full since or never consumed.
async fn model_partitions_since(
    db: &Db,
    input: &str,
    consumed: Option<(i64, i64)>,
) -> Result<Option<BTreeSet<String>>, sqlx::Error> {
    let Some((data, full)) = consumed else {
        return Ok(None);
    };
    let now = fetch_text(
        db,
        "SELECT CAST(full_build AS TEXT) FROM zw_model_state WHERE model = $1",
        &[text(input.into())],
    )
    .await?;
    if now.first().map(|r| r[0].as_str()) != Some(full.to_string().as_str()) {
        return Ok(None);
    }
    let rows = fetch_text(
        db,
        "SELECT part FROM zw_model_partition WHERE model = $1 AND build_id > $2",
        &[text(input.into()), int(data)],
    )
    .await?;
    Ok(Some(rows.into_iter().map(|mut r| r.remove(0)).collect()))
}

fn expr_hash(expr: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in expr.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{:08x}", h as u32)
}

/// Triggers on a partitioned DWD input that log the partition a row leaves
/// (an update that changes its partition, or a delete), with the batch
/// whose cleaning did it, in `zw_partition_move`. Cleaning replaces a row
/// by key with an upsert, so a row a later batch moved to another period is
/// logged here, while the new batch's own rows tell where rows arrived. The
/// log entry commits with the cleaning (same transaction) and is read for
/// the cleaning runs a build has not consumed yet, so a build running
/// alongside a cleaning cannot miss it. At most one entry per (batch,
/// partition). Created once per (table, expression); the triggers evaluate
/// the expression over the row's columns, so any partition expression
/// works.
async fn ensure_move_log(db: &Db, table: &str, expr: &str) -> Result<(), sqlx::Error> {
    let h = expr_hash(expr);
    let name = format!("{table}__move_{h}");
    let columns = db.table_columns(table).await?;
    let row = |alias: &str| {
        columns
            .iter()
            .map(|c| format!("{alias}.\"{c}\" AS \"{c}\""))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let part_of = |alias: &str| {
        format!(
            "(SELECT CAST(COALESCE({expr}, '') AS TEXT) FROM (SELECT {}) AS r)",
            row(alias)
        )
    };
    let backend = db.backend();
    let bad = |e: String| sqlx::Error::Protocol(e);
    let (old, new) = (
        qualified(expr, "OLD", backend).map_err(bad)?,
        qualified(expr, "NEW", backend).map_err(bad)?,
    );
    let statements = match backend {
        Backend::Sqlite => vec![
            format!(
                "CREATE TRIGGER IF NOT EXISTS \"{name}_u\" AFTER UPDATE ON \"{table}\" \
                 WHEN ({old}) IS NOT ({new}) BEGIN \
                 INSERT OR IGNORE INTO zw_partition_move (table_name, expr_hash, batch_id, part) \
                 VALUES ('{table}', '{h}', new.\"_batch_id\", {o}); END",
                o = part_of("old"),
            ),
            format!(
                "CREATE TRIGGER IF NOT EXISTS \"{name}_d\" AFTER DELETE ON \"{table}\" BEGIN \
                 INSERT OR IGNORE INTO zw_partition_move (table_name, expr_hash, batch_id, part) \
                 VALUES ('{table}', '{h}', old.\"_batch_id\", {o}); END",
                o = part_of("old"),
            ),
        ],
        Backend::Postgres => vec![
            format!(
                "CREATE OR REPLACE FUNCTION \"{name}\"() RETURNS trigger LANGUAGE plpgsql AS $f$ \
                 BEGIN \
                   INSERT INTO zw_partition_move (table_name, expr_hash, batch_id, part) \
                   VALUES ('{table}', '{h}', CASE WHEN TG_OP = 'UPDATE' THEN NEW.\"_batch_id\" ELSE OLD.\"_batch_id\" END, {o}) \
                   ON CONFLICT DO NOTHING; \
                   RETURN NULL; \
                 END $f$",
                o = part_of("OLD"),
            ),
            // Only updates that change the partition call the function.
            format!(
                "CREATE OR REPLACE TRIGGER \"{name}_u\" AFTER UPDATE ON \"{table}\" FOR EACH ROW \
                 WHEN (({old}) IS DISTINCT FROM ({new})) EXECUTE FUNCTION \"{name}\"()"
            ),
            format!(
                "CREATE OR REPLACE TRIGGER \"{name}_d\" AFTER DELETE ON \"{table}\" FOR EACH ROW \
                 EXECUTE FUNCTION \"{name}\"()"
            ),
        ],
    };
    for sql in statements {
        execute(db, &sql, &[]).await?;
    }
    Ok(())
}

/// `expr` with every column reference qualified by `row` (`OLD`/`NEW`), so
/// a trigger's WHEN clause can compare a row's partition before and after
/// an update without a subquery (PostgreSQL allows none there). Parsed and
/// printed with sqlparser, never edited as text.
fn qualified(expr: &str, row: &str, backend: Backend) -> Result<String, String> {
    use sqlparser::ast::{Expr, Ident, visit_expressions_mut};
    use sqlparser::dialect::{PostgreSqlDialect, SQLiteDialect};
    use sqlparser::parser::Parser;
    use std::ops::ControlFlow;
    let parsed = match backend {
        Backend::Sqlite => Parser::new(&SQLiteDialect {}).try_with_sql(expr),
        Backend::Postgres => Parser::new(&PostgreSqlDialect {}).try_with_sql(expr),
    }
    .and_then(|mut p| p.parse_expr())
    .map_err(|e| format!("partition expression `{expr}`: {e}"))?;
    let mut e = parsed;
    let _ = visit_expressions_mut(&mut e, |node| {
        if let Expr::Identifier(id) = node {
            *node = Expr::CompoundIdentifier(vec![Ident::new(row), id.clone()]);
        }
        ControlFlow::<()>::Continue(())
    });
    Ok(e.to_string())
}

/// The partitions rows left during the cleaning of `batches`.
async fn moves_of_batches(
    db: &Db,
    table: &str,
    expr: &str,
    batches: &[String],
) -> Result<BTreeSet<String>, sqlx::Error> {
    if batches.is_empty() {
        return Ok(BTreeSet::new());
    }
    let sql = format!(
        "SELECT DISTINCT part FROM zw_partition_move WHERE table_name = $1 AND expr_hash = $2 AND {}",
        template::in_list("batch_id", batches)
    );
    Ok(
        fetch_text(db, &sql, &[text(table.into()), text(expr_hash(expr))])
            .await?
            .into_iter()
            .map(|mut r| r.remove(0))
            .collect(),
    )
}

/// An index on a partitioned input's partition expression, so that reading
/// one partition of it does not scan the table.
async fn ensure_partition_index(db: &Db, table: &str, expr: &str) -> Result<(), sqlx::Error> {
    execute(
        db,
        &format!(
            "CREATE INDEX IF NOT EXISTS \"{table}__part_{}\" ON \"{table}\" (({expr}))",
            expr_hash(expr)
        ),
        &[],
    )
    .await
}

/// The batches of cleaning runs in `version` that were not in `consumed`
/// (both `dwd:<rules>|<batch>@<finished>,…`).
fn new_runs(consumed: Option<&str>, version: &str) -> Vec<String> {
    let runs = |v: &str| -> BTreeSet<String> {
        v.split_once('|')
            .map(|(_, runs)| runs)
            .unwrap_or_default()
            .split(',')
            .filter(|r| !r.is_empty())
            .map(String::from)
            .collect()
    };
    let before = consumed.map(runs).unwrap_or_default();
    runs(version)
        .difference(&before)
        .filter_map(|r| r.rsplit_once('@').map(|(batch, _)| batch.to_string()))
        .collect()
}

/// The partitions holding rows of `batches` (through the `_batch_id` index).
async fn partitions_of_batches(
    db: &Db,
    table: &str,
    expr: &str,
    batches: &[String],
) -> Result<BTreeSet<String>, sqlx::Error> {
    if batches.is_empty() {
        return Ok(BTreeSet::new());
    }
    let sql = format!(
        "SELECT DISTINCT CAST(COALESCE({expr}, '') AS TEXT) FROM \"{table}\" WHERE {}",
        template::in_list("\"_batch_id\"", batches)
    );
    Ok(fetch_text(db, &sql, &[])
        .await?
        .into_iter()
        .map(|mut r| r.remove(0))
        .collect())
}

async fn consumed_version(
    db: &Db,
    model: &str,
    input: &str,
) -> Result<Option<String>, sqlx::Error> {
    Ok(fetch_text(
        db,
        "SELECT version FROM zw_model_input WHERE model = $1 AND input = $2",
        &[text(model.into()), text(input.into())],
    )
    .await?
    .into_iter()
    .next()
    .map(|mut r| r.remove(0)))
}

// ---- state ---------------------------------------------------------------------

/// A model's recorded state.
#[derive(Debug, Clone, Serialize)]
pub struct ModelState {
    pub model: String,
    /// `ok`, `failed` or `stale`.
    pub status: String,
    pub fingerprint: String,
    pub last_build: i64,
    pub data_build: i64,
    pub full_build: i64,
    pub rows_total: i64,
    pub reason: Option<String>,
    pub updated_at: i64,
}

pub async fn model_state(db: &Db, model: &str) -> Result<Option<ModelState>, sqlx::Error> {
    Ok(states(db).await?.into_iter().find(|s| s.model == model))
}

/// Every model's state (models never built are absent).
pub async fn states(db: &Db) -> Result<Vec<ModelState>, sqlx::Error> {
    ensure_tables(db).await?;
    let rows = fetch_text(
        db,
        "SELECT model, status, fingerprint, CAST(last_build AS TEXT), CAST(data_build AS TEXT), \
         CAST(full_build AS TEXT), CAST(rows_total AS TEXT), COALESCE(reason, ''), CAST(updated_at AS TEXT) \
         FROM zw_model_state ORDER BY model",
        &[],
    )
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| ModelState {
            model: r[0].clone(),
            status: r[1].clone(),
            fingerprint: r[2].clone(),
            last_build: r[3].parse().unwrap_or(0),
            data_build: r[4].parse().unwrap_or(0),
            full_build: r[5].parse().unwrap_or(0),
            rows_total: r[6].parse().unwrap_or(0),
            reason: (!r[7].is_empty()).then(|| r[7].clone()),
            updated_at: r[8].parse().unwrap_or(0),
        })
        .collect())
}

/// One past build with its runs.
#[derive(Debug, Clone, Serialize)]
pub struct BuildHistory {
    pub build_id: i64,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    pub selection: String,
    pub full_refresh: bool,
    pub status: String,
    pub runs: Vec<ModelRun>,
}

/// The last `limit` builds, newest first.
pub async fn history(db: &Db, limit: u32) -> Result<Vec<BuildHistory>, sqlx::Error> {
    ensure_tables(db).await?;
    let builds = fetch_text(
        db,
        "SELECT CAST(build_id AS TEXT), CAST(started_at AS TEXT), CAST(COALESCE(finished_at, 0) AS TEXT), \
         selection, CAST(full_refresh AS TEXT), status FROM zw_model_build ORDER BY build_id DESC LIMIT $1",
        &[int(i64::from(limit))],
    )
    .await?;
    let mut out = Vec::new();
    for b in builds {
        let build_id: i64 = b[0].parse().unwrap_or(0);
        let runs = fetch_text(
            db,
            "SELECT model, mode, status, partitions, CAST(rows_written AS TEXT), CAST(elapsed_ms AS TEXT), COALESCE(error, '') \
             FROM zw_model_run WHERE build_id = $1 ORDER BY position",
            &[int(build_id)],
        )
        .await;
        let runs = runs?;
        out.push(BuildHistory {
            build_id,
            started_at: b[1].parse().unwrap_or(0),
            finished_at: b[2].parse().ok().filter(|t| *t != 0),
            selection: b[3].clone(),
            full_refresh: b[4] == "1",
            status: b[5].clone(),
            runs: runs
                .into_iter()
                .map(|r| ModelRun {
                    model: r[0].clone(),
                    mode: match r[1].as_str() {
                        "full" => Mode::Full,
                        "incremental" => Mode::Incremental,
                        _ => Mode::Skipped,
                    },
                    status: match r[2].as_str() {
                        "built" => RunStatus::Built,
                        "unchanged" => RunStatus::Unchanged,
                        "failed" => RunStatus::Failed,
                        _ => RunStatus::Stale,
                    },
                    partitions: serde_json::from_str(&r[3]).unwrap_or_default(),
                    rows_written: r[4].parse().unwrap_or(0),
                    elapsed_ms: r[5].parse().unwrap_or(0),
                    detail: (!r[6].is_empty()).then(|| r[6].clone()),
                })
                .collect(),
        });
    }
    Ok(out)
}

async fn mark_failed(db: &Db, model: &str, build_id: i64, reason: &str) -> Result<(), sqlx::Error> {
    set_status(db, model, "failed", build_id, reason).await
}

async fn mark_stale(db: &Db, model: &str, build_id: i64, reason: &str) -> Result<(), sqlx::Error> {
    set_status(db, model, "stale", build_id, reason).await
}

async fn set_status(
    db: &Db,
    model: &str,
    status: &str,
    build_id: i64,
    reason: &str,
) -> Result<(), sqlx::Error> {
    execute(
        db,
        "INSERT INTO zw_model_state (model, status, last_build, reason, updated_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (model) DO UPDATE SET status = $2, last_build = $3, reason = $4, updated_at = $5",
        &[
            text(model.into()),
            text(status.into()),
            int(build_id),
            text(reason.into()),
            int(now_micros()),
        ],
    )
    .await
}

async fn record_run(
    db: &Db,
    build_id: i64,
    position: usize,
    run: &ModelRun,
) -> Result<(), sqlx::Error> {
    let mode = match run.mode {
        Mode::Full => "full",
        Mode::Incremental => "incremental",
        Mode::Skipped => "skipped",
    };
    let status = match run.status {
        RunStatus::Built => "built",
        RunStatus::Unchanged => "unchanged",
        RunStatus::Failed => "failed",
        RunStatus::Stale => "stale",
    };
    execute(
        db,
        "INSERT INTO zw_model_run (build_id, model, position, mode, status, partitions, rows_written, elapsed_ms, error) \
         VALUES ($1, $2, $9, $3, $4, $5, $6, $7, $8)",
        &[
            int(build_id),
            text(run.model.clone()),
            text(mode.into()),
            text(status.into()),
            text(serde_json::to_string(&run.partitions).unwrap_or_else(|_| "[]".into())),
            int(run.rows_written as i64),
            int(run.elapsed_ms as i64),
            Bind::Text(run.detail.clone()),
            int(position as i64),
        ],
    )
    .await
}

// ---- small SQL helpers -----------------------------------------------------------

fn int(i: i64) -> Bind {
    Bind::Int(Some(i))
}

fn text(s: String) -> Bind {
    Bind::Text(Some(s))
}

async fn execute(db: &Db, sql: &str, binds: &[Bind]) -> Result<(), sqlx::Error> {
    zhiyun_warehouse::db::execute(db, sql.to_string(), binds.to_vec())
        .await
        .map(|_| ())
}

/// Rows of text columns (every selected column must be TEXT or CAST to it);
/// NULL reads as an empty string.
async fn fetch_text(db: &Db, sql: &str, binds: &[Bind]) -> Result<Vec<Vec<String>>, sqlx::Error> {
    Ok(fetch_texts(db, sql.to_string(), binds.to_vec())
        .await?
        .into_iter()
        .map(|row| row.into_iter().map(Option::unwrap_or_default).collect())
        .collect())
}

fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}
