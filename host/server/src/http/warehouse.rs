//! Handlers of `/api/v1/warehouse`: backflow batches (回流批次) — load one
//! from the inbox, follow the job, list batches and their tables,
//! reconcile (回流验证), read the quarantine. System administrators
//! (`warehouse.load`); every load and reconciliation is audited.

use super::AppState;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::ApiJson;
use crate::auth::Caller;
use crate::warehouse::{BatchSummary, BatchTable, LoadJob, QuarantinedRow, WarehouseError};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use zhiyun_authz::AuditOutcome;

impl From<WarehouseError> for ApiError {
    fn from(e: WarehouseError) -> Self {
        let message = e.to_string();
        match e {
            WarehouseError::BadRequest(_) => ApiError::bad_request(message),
            WarehouseError::NotFound(_) => ApiError::not_found(message),
            WarehouseError::Conflict(_) => ApiError::new(StatusCode::CONFLICT, "conflict", message),
            WarehouseError::Internal(_) => ApiError::internal(message),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoadRequest {
    /// The batch directory's name in the server's batch inbox.
    pub batch: String,
}

/// Start loading a batch from the inbox (ODS load, then reconciliation).
/// Returns the job at once; follow it with `GET /api/v1/warehouse/jobs/{id}`.
/// Loading a batch again is a no-op for the tables already loaded and
/// resumes the others.
#[utoipa::path(post, path = "/api/v1/warehouse/batches", request_body = LoadRequest,
    responses((status = 202, body = LoadJob), (status = 400, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn start_load(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(request): ApiJson<LoadRequest>,
) -> ApiResult<(StatusCode, Json<LoadJob>)> {
    let job = state
        .warehouse
        .start_load(&request.batch, &caller.username)?;
    state
        .audit(
            &caller.username,
            &caller.org_id,
            "warehouse.load",
            &format!("batch:{}", job.batch_id.as_deref().unwrap_or(&request.batch)),
            AuditOutcome::Ok,
            json!({ "job": job.id, "dir": request.batch, "tables": job.tables_total, "rows": job.rows_total }),
        )
        .await;
    Ok((StatusCode::ACCEPTED, Json(job)))
}

/// A load job: progress while it runs, the report when it is done.
#[utoipa::path(get, path = "/api/v1/warehouse/jobs/{id}",
    responses((status = 200, body = LoadJob), (status = 404, body = ErrorBody)))]
pub async fn job(State(state): State<AppState>, Path(id): Path<u64>) -> ApiResult<Json<LoadJob>> {
    state
        .warehouse
        .job(id)
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("there is no load job {id} on this host")))
}

/// Every batch the warehouse has seen, newest first, with load and
/// reconciliation counts.
#[utoipa::path(get, path = "/api/v1/warehouse/batches",
    responses((status = 200, body = Vec<BatchSummary>)))]
pub async fn batches(State(state): State<AppState>) -> ApiResult<Json<Vec<BatchSummary>>> {
    Ok(Json(state.warehouse.batches().await?))
}

/// The tables of a batch: load status, counts, drift, reconciliation status.
#[utoipa::path(get, path = "/api/v1/warehouse/batches/{batch_id}/tables",
    responses((status = 200, body = Vec<BatchTable>), (status = 404, body = ErrorBody)))]
pub async fn batch_tables(
    State(state): State<AppState>,
    Path(batch_id): Path<String>,
) -> ApiResult<Json<Vec<BatchTable>>> {
    Ok(Json(state.warehouse.batch_tables(&batch_id).await?))
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct ReconcileRequest {
    /// Only these tables (all of the batch when absent).
    #[serde(default)]
    pub tables: Option<Vec<String>>,
}

/// Reconcile a batch (or some of its tables) against its manifest now.
#[utoipa::path(post, path = "/api/v1/warehouse/batches/{batch_id}/reconcile",
    request_body = ReconcileRequest,
    responses((status = 200, description = "one reconciliation per table", body = Object),
              (status = 404, body = ErrorBody)))]
pub async fn reconcile(
    State(state): State<AppState>,
    caller: Caller,
    Path(batch_id): Path<String>,
    ApiJson(request): ApiJson<ReconcileRequest>,
) -> ApiResult<Json<serde_json::Value>> {
    let results = state
        .warehouse
        .reconcile(&batch_id, request.tables.as_deref())
        .await?;
    let matching = results
        .iter()
        .filter(|r| r.status == zhiyun_warehouse::reconcile::ReconcileStatus::Match)
        .count();
    state
        .audit(
            &caller.username,
            &caller.org_id,
            "warehouse.reconcile",
            &format!("batch:{batch_id}"),
            AuditOutcome::Ok,
            json!({ "tables": results.len(), "matching": matching }),
        )
        .await;
    Ok(Json(
        serde_json::to_value(results).map_err(|e| ApiError::internal(e.to_string()))?,
    ))
}

/// The latest reconciliation of one table of a batch, with the differing keys.
#[utoipa::path(get, path = "/api/v1/warehouse/batches/{batch_id}/tables/{table}/reconciliation",
    responses((status = 200, body = Object), (status = 404, body = ErrorBody)))]
pub async fn reconciliation(
    State(state): State<AppState>,
    Path((batch_id, table)): Path<(String, String)>,
) -> ApiResult<Json<serde_json::Value>> {
    Ok(Json(
        state.warehouse.reconciliation(&batch_id, &table).await?,
    ))
}

#[derive(Deserialize, IntoParams)]
pub struct QuarantineQuery {
    /// Only this table.
    pub table: Option<String>,
    /// At most this many rows (1–1000) [default: 100].
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// Rows of a batch that did not make it into a layer, with rule and reason.
/// The raw lines are source data: reading them is audited.
#[utoipa::path(get, path = "/api/v1/warehouse/batches/{batch_id}/quarantine",
    params(QuarantineQuery),
    responses((status = 200, body = Vec<QuarantinedRow>)))]
pub async fn quarantine(
    State(state): State<AppState>,
    caller: Caller,
    Path(batch_id): Path<String>,
    Query(q): Query<QuarantineQuery>,
) -> ApiResult<Json<Vec<QuarantinedRow>>> {
    let rows = state
        .warehouse
        .quarantine(
            &batch_id,
            q.table.as_deref(),
            q.limit.unwrap_or(100),
            q.offset.unwrap_or(0),
        )
        .await?;
    state
        .audit(
            &caller.username,
            &caller.org_id,
            "warehouse.quarantine.read",
            &format!("batch:{batch_id}"),
            AuditOutcome::Ok,
            json!({ "table": q.table, "rows": rows.len() }),
        )
        .await;
    Ok(Json(rows))
}
