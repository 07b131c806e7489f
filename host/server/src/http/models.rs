//! Handlers of `/api/v1/models`: the DWS/ADS models (模型) — list them with
//! their state, build them (system administrators, audited), the build
//! history, and a model's column lineage.

use super::AppState;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::ApiJson;
use crate::auth::Caller;
use axum::Json;
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;
use utoipa::ToSchema;
use zhiyun_authz::AuditOutcome;
use zhiyun_models::Project;
use zhiyun_models::build::{self, BuildOptions};

fn project(state: &AppState) -> ApiResult<Arc<Project>> {
    state.warehouse.models.clone().ok_or_else(|| {
        ApiError::not_found(
            "this server has no model project (start it with --models <dir>, default plugins/models)",
        )
    })
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::internal(e.to_string())
}

/// Every model in build order, with its layer, inputs, columns, dataset and
/// state (ok / failed / stale, rows, last build).
#[utoipa::path(get, path = "/api/v1/models",
    responses((status = 200, body = Object), (status = 404, body = ErrorBody)))]
pub async fn list(State(state): State<AppState>) -> ApiResult<Json<serde_json::Value>> {
    let project = project(&state)?;
    let states = build::states(&state.warehouse.db).await.map_err(internal)?;
    let models: Vec<serde_json::Value> = project
        .in_order()
        .map(|m| {
            json!({
                "name": m.name,
                "layer": m.layer,
                "description": m.description,
                "owner": m.owner,
                "grain": m.grain,
                "keys": m.keys,
                "materialized": match &m.materialized {
                    zhiyun_models::Materialized::Table => "table",
                    zhiyun_models::Materialized::Incremental { .. } => "incremental",
                },
                "inputs": m.inputs().collect::<Vec<_>>(),
                "columns": m.columns,
                "dataset": m.dataset,
                "state": states.iter().find(|s| s.model == m.name),
            })
        })
        .collect();
    Ok(Json(json!({ "models": models })))
}

/// The last 20 builds, newest first, with what each model did.
#[utoipa::path(get, path = "/api/v1/models/builds",
    responses((status = 200, body = Object)))]
pub async fn history(State(state): State<AppState>) -> ApiResult<Json<serde_json::Value>> {
    let builds = build::history(&state.warehouse.db, 20)
        .await
        .map_err(internal)?;
    Ok(Json(json!({ "builds": builds })))
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct BuildRequest {
    /// Model selectors: `name`, `+name` (with its inputs), `name+` (with
    /// what reads it). Empty: every model.
    #[serde(default)]
    pub select: Vec<String>,
    /// Rebuild the selected models in full.
    #[serde(default)]
    pub full_refresh: bool,
}

/// Build the models (incremental where possible) and return the report.
/// A failed model marks its descendants stale; the report says which and
/// why.
#[utoipa::path(post, path = "/api/v1/models/builds", request_body = BuildRequest,
    responses((status = 200, body = Object), (status = 400, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub async fn start_build(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(request): ApiJson<BuildRequest>,
) -> ApiResult<Json<serde_json::Value>> {
    let project = project(&state)?;
    // A bad selector is the caller's mistake: checked before anything runs.
    project
        .select(&request.select)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let options = BuildOptions {
        select: request.select.clone(),
        full_refresh: request.full_refresh,
    };
    let report = build::build(&state.warehouse.db, &project, &options, |_| {})
        .await
        .map_err(internal)?;
    let outcome = if report.ok() {
        AuditOutcome::Ok
    } else {
        AuditOutcome::Error
    };
    state
        .audit(
            &caller.username,
            &caller.org_id,
            "models.build",
            &format!("build:{}", report.build_id),
            outcome,
            json!({
                "select": request.select,
                "full_refresh": request.full_refresh,
                "runs": report.runs.iter().map(|r| json!({
                    "model": r.model, "status": r.status, "mode": r.mode,
                    "partitions": r.partitions.len(), "rows": r.rows_written,
                })).collect::<Vec<_>>(),
            }),
        )
        .await;
    Ok(Json(serde_json::to_value(&report).map_err(internal)?))
}

/// One model: its definition and state.
#[utoipa::path(get, path = "/api/v1/models/{name}",
    responses((status = 200, body = Object), (status = 404, body = ErrorBody)))]
pub async fn model(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    let project = project(&state)?;
    let Some(m) = project.model(&name) else {
        return Err(ApiError::not_found(format!("no model `{name}`")));
    };
    let model_state = build::model_state(&state.warehouse.db, &name)
        .await
        .map_err(internal)?;
    Ok(Json(json!({
        "model": m,
        "state": model_state,
        "children": project.children(&name),
    })))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LineageParams {
    /// The model's column to trace.
    pub column: String,
}

/// A model column's lineage (血缘) down to the DWD and ODS columns and the
/// batches they came from, with reconciliation flags.
#[utoipa::path(get, path = "/api/v1/models/{name}/lineage", params(LineageParams),
    responses((status = 200, body = Object), (status = 404, body = ErrorBody)))]
pub async fn lineage(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(p): Query<LineageParams>,
) -> ApiResult<Json<serde_json::Value>> {
    let project = project(&state)?;
    let Some(model) = project.model(&name) else {
        return Err(ApiError::not_found(format!("no model `{name}`")));
    };
    if model.column(&p.column).is_none() {
        return Err(ApiError::not_found(format!(
            "model `{name}` has no column `{}`",
            p.column
        )));
    }
    let db = &state.warehouse.db;
    let lineage = zhiyun_models::lineage::project_lineage(db, &project)
        .await
        .map_err(internal)?;
    let trace = zhiyun_models::lineage::trace(db, &project, &lineage, &name, &p.column)
        .await
        .map_err(internal)?;
    Ok(Json(serde_json::to_value(&trace).map_err(internal)?))
}
