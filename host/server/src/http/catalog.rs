//! Handlers of `/api/v1/catalog`: the data catalog (数据目录) — search, a
//! table's page, the directory by business domain, refresh, and the
//! confirmation of a column's sensitivity level (安全管理员, audited).

use super::AppState;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::ApiJson;
use crate::auth::Caller;
use axum::Json;
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use zhiyun_authz::AuditOutcome;
use zhiyun_warehouse::catalog::{self, CatalogError, SearchQuery};

impl From<CatalogError> for ApiError {
    fn from(e: CatalogError) -> Self {
        let message = e.to_string();
        match e {
            CatalogError::UnknownTable(_) | CatalogError::UnknownColumn { .. } => {
                ApiError::not_found(message)
            }
            CatalogError::InvalidLevel(_) | CatalogError::Invalid(_) => {
                ApiError::bad_request(message)
            }
            CatalogError::Db(_) => ApiError::internal(message),
        }
    }
}

fn json_of<T: serde::Serialize>(value: T) -> ApiResult<Json<serde_json::Value>> {
    serde_json::to_value(value)
        .map(Json)
        .map_err(|e| ApiError::internal(e.to_string()))
}

/// Query parameters of a catalog search (all optional).
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// Substring of a table name, table description, column name or column description.
    pub q: Option<String>,
    /// ODS, DWD, DWS or ADS.
    pub layer: Option<String>,
    /// Business domain (资金, 总账, 营销电费 …).
    pub domain: Option<String>,
    /// Only tables with a column at least this sensitive (public, internal, sensitive, secret).
    pub min_sensitivity: Option<String>,
    /// 1–500 [default: 20].
    pub limit: Option<u32>,
    pub offset: Option<u32>,
}

/// Search the catalog by name, description and column.
#[utoipa::path(get, path = "/api/v1/catalog/search", params(SearchParams),
    responses((status = 200, body = Object), (status = 400, body = ErrorBody)))]
pub async fn search(
    State(state): State<AppState>,
    Query(p): Query<SearchParams>,
) -> ApiResult<Json<serde_json::Value>> {
    // The catalog's own query type checks the layer and level names.
    let query: SearchQuery = serde_json::from_value(json!({
        "q": p.q.unwrap_or_default(),
        "layer": p.layer.map(|l| l.to_ascii_uppercase()),
        "domain": p.domain,
        "min_sensitivity": p.min_sensitivity,
        "limit": p.limit,
        "offset": p.offset,
    }))
    .map_err(|e| {
        ApiError::bad_request(format!(
            "invalid search: {e} (layer is ODS, DWD, DWS or ADS; min_sensitivity is public, \
             internal, sensitive or secret)"
        ))
    })?;
    json_of(catalog::search(&state.warehouse.db, &query).await?)
}

/// A table's catalog page: columns with types, descriptions and sensitivity,
/// row count, freshness, quality, reconciliation status, drift history.
#[utoipa::path(get, path = "/api/v1/catalog/tables/{name}",
    responses((status = 200, body = Object), (status = 404, body = ErrorBody)))]
pub async fn table(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    match catalog::table_detail(&state.warehouse.db, &name).await? {
        Some(detail) => json_of(detail),
        None => Err(CatalogError::UnknownTable(name).into()),
    }
}

/// The directory: business domains with their tables per layer.
#[utoipa::path(get, path = "/api/v1/catalog/directory",
    responses((status = 200, body = Object)))]
pub async fn directory(State(state): State<AppState>) -> ApiResult<Json<serde_json::Value>> {
    json_of(catalog::directory(&state.warehouse.db).await?)
}

/// Rebuild the catalog from the warehouse (after loads and builds this runs by itself).
#[utoipa::path(post, path = "/api/v1/catalog/refresh",
    responses((status = 200, body = Object)))]
pub async fn refresh(State(state): State<AppState>) -> ApiResult<Json<serde_json::Value>> {
    json_of(catalog::refresh(&state.warehouse.db).await?)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SensitivityRequest {
    /// public, internal, sensitive or secret (公开/内部/敏感/机密).
    pub level: String,
}

/// Confirm a column's sensitivity level; it overrides the suggestion from
/// now on, across refreshes.
#[utoipa::path(post, path = "/api/v1/catalog/tables/{name}/columns/{column}/sensitivity",
    request_body = SensitivityRequest,
    responses((status = 200, body = Object), (status = 400, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub async fn confirm_sensitivity(
    State(state): State<AppState>,
    caller: Caller,
    Path((name, column)): Path<(String, String)>,
    ApiJson(request): ApiJson<SensitivityRequest>,
) -> ApiResult<Json<serde_json::Value>> {
    let confirmed = catalog::confirm_sensitivity(
        &state.warehouse.db,
        &name,
        &column,
        &request.level,
        &caller.username,
    )
    .await?;
    state
        .audit(
            &caller.username,
            &caller.org_id,
            "catalog.classify",
            &format!("column:{name}.{column}"),
            AuditOutcome::Ok,
            json!({ "level": confirmed.level }),
        )
        .await;
    json_of(confirmed)
}
