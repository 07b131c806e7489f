//! The warehouse behind the API: batch loads run as background jobs with
//! progress, batches and their tables as the warehouse records them,
//! reconciliation on demand, the quarantine.
//!
//! Loads read only from the batch inbox (`serve --batch-inbox`): the API
//! names a batch directory inside it, never a path, so a caller cannot make
//! the server read arbitrary files. Job progress lives in memory on the host
//! that runs the job; what was loaded is in the warehouse (`zw_table_load`),
//! so after a restart a batch shows as partly loaded and loading it again
//! resumes it.

use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use utoipa::ToSchema;
use zhiyun_warehouse::ods::{LoadEvent, LoadOptions, TableStatus};
use zhiyun_warehouse::reconcile::{ReconcileOptions, TableReconciliation};
use zhiyun_warehouse::{Db, on_db};

pub struct WarehouseService {
    pub db: Db,
    inbox: PathBuf,
    /// Cleaning rules for loads (`None`: default rules).
    rules: Option<PathBuf>,
    jobs: Mutex<BTreeMap<u64, Arc<Mutex<LoadJob>>>>,
    next_job: AtomicU64,
    /// The model project (DWS/ADS), if the server has one.
    pub models: Option<Arc<zhiyun_models::Project>>,
}

/// A batch load started through the API.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LoadJob {
    pub id: u64,
    /// The batch directory's name in the inbox.
    pub batch: String,
    pub batch_id: Option<String>,
    /// running, done (every table loaded), partial (some failed or were
    /// rejected; the report says why), failed (the batch could not be read).
    pub state: String,
    pub started_by: String,
    pub tables_total: u64,
    pub tables_done: u64,
    pub rows_total: u64,
    pub rows_done: u64,
    pub error: Option<String>,
    /// The load and reconciliation reports, when finished.
    #[schema(value_type = Object)]
    pub report: Option<serde_json::Value>,
}

#[derive(Debug, thiserror::Error)]
pub enum WarehouseError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Internal(String),
}

impl From<sqlx::Error> for WarehouseError {
    fn from(e: sqlx::Error) -> Self {
        WarehouseError::Internal(e.to_string())
    }
}

impl From<zhiyun_warehouse::reconcile::ReconcileError> for WarehouseError {
    fn from(e: zhiyun_warehouse::reconcile::ReconcileError) -> Self {
        use zhiyun_warehouse::reconcile::ReconcileError as E;
        match e {
            E::UnknownBatch(_) | E::UnknownTable { .. } => WarehouseError::NotFound(e.to_string()),
            E::Manifest { .. } | E::Db(_) => WarehouseError::Internal(e.to_string()),
        }
    }
}

/// A batch as the warehouse knows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchSummary {
    pub batch_id: String,
    pub source: String,
    pub as_of: String,
    pub tables: i64,
    pub tables_loaded: i64,
    pub tables_failed: i64,
    pub tables_rejected: i64,
    pub rows_loaded: i64,
    pub rows_quarantined: i64,
    pub tables_reconciled: i64,
    pub tables_matching: i64,
    /// Microseconds since the epoch.
    pub first_seen_at: i64,
    pub finished_at: Option<i64>,
}

/// One table of a batch.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchTable {
    pub table: String,
    pub status: String,
    pub rows_received: i64,
    pub rows_loaded: i64,
    pub rows_quarantined: i64,
    pub error: Option<String>,
    /// match, mismatch, not_loaded; absent before the first reconciliation.
    pub reconciliation: Option<String>,
    /// Drift recorded for this table in this batch: `column: kind (detail)`.
    pub drift: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct QuarantinedRow {
    pub layer: String,
    pub table: String,
    pub line: i64,
    pub rule: String,
    pub reason: String,
    pub raw: String,
}

impl WarehouseService {
    pub fn new(db: Db, inbox: PathBuf, rules: Option<PathBuf>) -> WarehouseService {
        WarehouseService {
            db,
            inbox,
            rules,
            jobs: Mutex::new(BTreeMap::new()),
            next_job: AtomicU64::new(1),
            models: None,
        }
    }

    /// With the model project the API builds and lists.
    pub fn with_models(mut self, project: Option<Arc<zhiyun_models::Project>>) -> Self {
        self.models = project;
        self
    }

    /// Starts loading `<inbox>/<batch>` in the background: ODS load,
    /// cleaning into DWD, reconciliation of the loaded tables, catalog.
    pub fn start_load(&self, batch: &str, actor: &str) -> Result<LoadJob, WarehouseError> {
        let valid = !batch.is_empty()
            && batch.len() <= 128
            && batch
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            && !batch.starts_with('.');
        if !valid {
            return Err(WarehouseError::BadRequest(format!(
                "batch {batch:?} must be the name of a directory in the batch inbox \
                 (letters, digits, '-', '_', '.'; not a path)"
            )));
        }
        let dir = self.inbox.join(batch);
        let manifest = zhiyun_batch::Manifest::load(&dir).map_err(|e| {
            if dir.is_dir() {
                WarehouseError::BadRequest(e.replace(&format!("{}/", self.inbox.display()), ""))
            } else {
                WarehouseError::NotFound(format!("there is no batch {batch:?} in the batch inbox"))
            }
        })?;
        let mut jobs = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
        let running = jobs.values().any(|j| {
            let j = j.lock().unwrap_or_else(|p| p.into_inner());
            j.state == "running" && j.batch_id.as_deref() == Some(&manifest.batch_id)
        });
        if running {
            return Err(WarehouseError::Conflict(format!(
                "batch {} is being loaded already",
                manifest.batch_id
            )));
        }
        let id = self.next_job.fetch_add(1, Ordering::Relaxed);
        let job = LoadJob {
            id,
            batch: batch.to_owned(),
            batch_id: Some(manifest.batch_id.clone()),
            state: "running".into(),
            started_by: actor.to_owned(),
            tables_total: manifest.tables.len() as u64,
            tables_done: 0,
            rows_total: manifest.tables.iter().map(|t| t.rows).sum(),
            rows_done: 0,
            error: None,
            report: None,
        };
        let shared = Arc::new(Mutex::new(job.clone()));
        jobs.insert(id, shared.clone());
        drop(jobs);

        let db = self.db.clone();
        let rules = self.rules.clone();
        tokio::spawn(async move {
            let progress = shared.clone();
            let watch: zhiyun_warehouse::ods::Watcher = Arc::new(move |event| {
                let mut j = progress.lock().unwrap_or_else(|p| p.into_inner());
                match event {
                    LoadEvent::Rows { rows, .. } => j.rows_done += rows,
                    LoadEvent::TableDone(_) => j.tables_done += 1,
                    LoadEvent::Started { .. } | LoadEvent::TableStarted { .. } => {}
                }
            });
            let result =
                zhiyun_warehouse::load_batch(&db, &dir, &LoadOptions::default(), watch).await;
            let outcome = match result {
                Ok(report) => {
                    let cleaned = zhiyun_warehouse::clean::clean_batch(
                        &db,
                        rules.as_deref(),
                        &report.batch_id,
                        None,
                    )
                    .await;
                    let loaded: Vec<String> = report
                        .tables
                        .iter()
                        .filter(|t| {
                            matches!(t.status, TableStatus::Loaded | TableStatus::AlreadyLoaded)
                        })
                        .map(|t| t.table.clone())
                        .collect();
                    let reconciled = zhiyun_warehouse::reconcile::reconcile_batch(
                        &db,
                        &report.batch_id,
                        Some(&loaded),
                        &ReconcileOptions::default(),
                    )
                    .await;
                    // The catalog shows the new tables, counts and statuses.
                    if let Err(e) = zhiyun_warehouse::catalog::refresh(&db).await {
                        tracing::error!(error = %e, "catalog refresh after a load failed");
                    }
                    Ok((report, cleaned, reconciled))
                }
                Err(e) => Err(e.to_string()),
            };
            let mut j = shared.lock().unwrap_or_else(|p| p.into_inner());
            match outcome {
                Ok((report, cleaned, reconciled)) => {
                    let cleaned_ok = cleaned.as_ref().is_ok_and(|c| c.is_clean());
                    j.state = if report.is_clean() && cleaned_ok {
                        "done"
                    } else {
                        "partial"
                    }
                    .into();
                    let clean = match cleaned {
                        Ok(c) => serde_json::json!({
                            "rows_in": c.rows_in(),
                            "rows_out": c.rows_out(),
                            "rows_quarantined": c.rows_quarantined(),
                            "failed": c.tables.iter()
                                .filter(|t| t.status == zhiyun_warehouse::clean::CleanStatus::Failed)
                                .map(|t| serde_json::json!({ "table": t.table, "error": t.error }))
                                .collect::<Vec<_>>(),
                        }),
                        Err(e) => serde_json::json!({ "error": e.to_string() }),
                    };
                    let reconciliation = match reconciled {
                        Ok(r) => serde_json::to_value(summarise(&r)).unwrap_or_default(),
                        Err(e) => serde_json::json!({ "error": e.to_string() }),
                    };
                    j.report = Some(serde_json::json!({
                        "load": report,
                        "clean": clean,
                        "reconciliation": reconciliation,
                    }));
                }
                Err(e) => {
                    j.state = "failed".into();
                    j.error = Some(e);
                }
            }
        });
        Ok(job)
    }

    pub fn job(&self, id: u64) -> Option<LoadJob> {
        let jobs = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
        jobs.get(&id)
            .map(|j| j.lock().unwrap_or_else(|p| p.into_inner()).clone())
    }

    pub async fn batches(&self) -> Result<Vec<BatchSummary>, WarehouseError> {
        type Row = (String, String, String, i64, i64, Option<i64>);
        let rows: Vec<Row> = on_db!(&self.db, |pool| sqlx::query_as(
            "SELECT batch_id, source, as_of, tables, first_seen_at, finished_at FROM zw_batch \
             ORDER BY first_seen_at DESC"
        )
        .fetch_all(pool)
        .await)?;
        let mut out = Vec::new();
        for (batch_id, source, as_of, tables, first_seen_at, finished_at) in rows {
            type Counts = (i64, i64, i64, i64, i64);
            let (loaded, failed, rejected, rows_loaded, rows_quarantined): Counts =
                on_db!(&self.db, |pool| sqlx::query_as(
                    "SELECT \
                       COALESCE(SUM(CASE WHEN status = 'loaded' THEN 1 ELSE 0 END), 0), \
                       COALESCE(SUM(CASE WHEN status = 'failed' THEN 1 ELSE 0 END), 0), \
                       COALESCE(SUM(CASE WHEN status = 'rejected' THEN 1 ELSE 0 END), 0), \
                       COALESCE(SUM(rows_loaded), 0), COALESCE(SUM(rows_quarantined), 0) \
                     FROM zw_table_load WHERE batch_id = $1"
                )
                .bind(&batch_id)
                .fetch_one(pool)
                .await)?;
            let (reconciled, matching): (i64, i64) = on_db!(&self.db, |pool| {
                sqlx::query_as(
                "SELECT count(*), COALESCE(SUM(CASE WHEN status = 'match' THEN 1 ELSE 0 END), 0) \
                 FROM zw_reconcile WHERE batch_id = $1"
            )
            .bind(&batch_id)
            .fetch_one(pool)
            .await
            })?;
            out.push(BatchSummary {
                batch_id,
                source,
                as_of,
                tables,
                tables_loaded: loaded,
                tables_failed: failed,
                tables_rejected: rejected,
                rows_loaded,
                rows_quarantined,
                tables_reconciled: reconciled,
                tables_matching: matching,
                first_seen_at,
                finished_at,
            });
        }
        Ok(out)
    }

    pub async fn batch_tables(&self, batch_id: &str) -> Result<Vec<BatchTable>, WarehouseError> {
        let known: i64 = on_db!(&self.db, |pool| sqlx::query_scalar(
            "SELECT count(*) FROM zw_batch WHERE batch_id = $1"
        )
        .bind(batch_id)
        .fetch_one(pool)
        .await)?;
        if known == 0 {
            return Err(WarehouseError::NotFound(format!(
                "batch {batch_id} is not known to the warehouse"
            )));
        }
        type Row = (
            String,
            String,
            i64,
            i64,
            i64,
            Option<String>,
            Option<String>,
        );
        let rows: Vec<Row> = on_db!(&self.db, |pool| {
            sqlx::query_as(
            "SELECT l.table_name, l.status, l.rows_received, l.rows_loaded, l.rows_quarantined, l.error, r.status \
             FROM zw_table_load l LEFT JOIN zw_reconcile r \
               ON r.batch_id = l.batch_id AND r.table_name = l.table_name \
             WHERE l.batch_id = $1 ORDER BY l.table_name"
        )
        .bind(batch_id)
        .fetch_all(pool)
        .await
        })?;
        let drift: Vec<(String, String, String, String)> =
            on_db!(&self.db, |pool| sqlx::query_as(
                "SELECT table_name, column_name, kind, detail FROM zw_drift WHERE batch_id = $1 \
             ORDER BY table_name, kind, column_name"
            )
            .bind(batch_id)
            .fetch_all(pool)
            .await)?;
        Ok(rows
            .into_iter()
            .map(
                |(table, status, received, loaded, quarantined, error, reconciliation)| {
                    let drift = drift
                        .iter()
                        .filter(|d| d.0 == table)
                        .map(|d| format!("{}: {} ({})", d.1, d.2, d.3))
                        .collect();
                    BatchTable {
                        table,
                        status,
                        rows_received: received,
                        rows_loaded: loaded,
                        rows_quarantined: quarantined,
                        error,
                        reconciliation,
                        drift,
                    }
                },
            )
            .collect())
    }

    pub async fn reconcile(
        &self,
        batch_id: &str,
        tables: Option<&[String]>,
    ) -> Result<Vec<TableReconciliation>, WarehouseError> {
        Ok(zhiyun_warehouse::reconcile::reconcile_batch(
            &self.db,
            batch_id,
            tables,
            &ReconcileOptions::default(),
        )
        .await?)
    }

    pub async fn reconciliation(
        &self,
        batch_id: &str,
        table: &str,
    ) -> Result<serde_json::Value, WarehouseError> {
        zhiyun_warehouse::reconcile::stored(&self.db, batch_id, table)
            .await?
            .ok_or_else(|| {
                WarehouseError::NotFound(format!(
                    "table {table} of batch {batch_id} has not been reconciled"
                ))
            })
    }

    pub async fn quarantine(
        &self,
        batch_id: &str,
        table: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<QuarantinedRow>, WarehouseError> {
        type Row = (String, String, i64, String, String, String);
        let rows: Vec<Row> = on_db!(&self.db, |pool| sqlx::query_as(
            "SELECT layer, table_name, line, rule, reason, raw FROM zw_quarantine \
             WHERE batch_id = $1 AND ($2 = '' OR table_name = $2) \
             ORDER BY table_name, layer, line LIMIT $3 OFFSET $4"
        )
        .bind(batch_id)
        .bind(table.unwrap_or(""))
        .bind(limit.clamp(1, 1000))
        .bind(offset.max(0))
        .fetch_all(pool)
        .await)?;
        Ok(rows
            .into_iter()
            .map(|(layer, table, line, rule, reason, raw)| QuarantinedRow {
                layer,
                table,
                line,
                rule,
                reason,
                raw,
            })
            .collect())
    }
}

/// A reconciliation run, short: per status the tables, and the mismatches
/// with their findings.
fn summarise(results: &[TableReconciliation]) -> serde_json::Value {
    let matching = results
        .iter()
        .filter(|r| r.status == zhiyun_warehouse::reconcile::ReconcileStatus::Match)
        .count();
    let mismatches: Vec<serde_json::Value> = results
        .iter()
        .filter(|r| r.status != zhiyun_warehouse::reconcile::ReconcileStatus::Match)
        .map(|r| {
            serde_json::json!({
                "table": r.table,
                "status": r.status,
                "findings": r.findings,
                "missing_count": r.missing_count,
                "extra_count": r.extra_count,
                "changed_count": r.changed_count,
            })
        })
        .collect();
    serde_json::json!({ "tables": results.len(), "matching": matching, "mismatches": mismatches })
}
