//! Handlers of `/api/v1` that hand out data: the dataset list and preview
//! (the portal's data API) and the export of an app's output. Every one
//! goes through the governed path (`crate::governed`): the caller's scope,
//! masking, and an audit entry with the row count.

use super::AppState;
use super::apps::{LaunchRequest, launch_for};
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::JsonOrDefault;
use crate::auth::Caller;
use crate::governed::PORTAL;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use zhiyun_authz::{AuditAction, AuditOutcome, NewAuditEntry};
use zhiyun_contract::{AppOutput, Block, Invocation, Value};

#[derive(Serialize, ToSchema)]
pub struct DatasetEntry {
    pub name: String,
    /// The column that carries the row's org (what data scopes filter on).
    pub org_column: Option<String>,
    /// Columns above 公开 with their level (internal, sensitive, core).
    #[schema(value_type = Object)]
    pub sensitive_columns: serde_json::Value,
}

/// The datasets the caller may read, with their column sensitivity.
#[utoipa::path(get, path = "/api/v1/datasets", responses((status = 200, body = Vec<DatasetEntry>)))]
pub async fn datasets(State(state): State<AppState>, caller: Caller) -> Json<Vec<DatasetEntry>> {
    let policy = &state.auth.policy;
    Json(
        state
            .fixtures
            .dataset_names()
            .filter(|name| policy.can_read_dataset(&caller.username, name))
            .filter_map(|name| policy.dataset_policy(name))
            .map(|p| DatasetEntry {
                name: p.name.clone(),
                org_column: p.org_column.clone(),
                sensitive_columns: json!(
                    p.columns
                        .iter()
                        .filter(|c| c.sensitivity > zhiyun_authz::scope::Sensitivity::Public)
                        .map(|c| (c.name.clone(), json!(c.sensitivity)))
                        .collect::<serde_json::Map<_, _>>()
                ),
            })
            .collect(),
    )
}

#[derive(Deserialize, ToSchema, utoipa::IntoParams, Default)]
#[serde(deny_unknown_fields)]
pub struct RowsQuery {
    /// 1–1000 (default 100).
    pub limit: Option<u32>,
}

/// The first rows of a dataset as the caller may see them: rows outside
/// their data scope are not there, columns above their level are masked.
#[utoipa::path(get, path = "/api/v1/datasets/{name}/rows", params(("name" = String, Path), RowsQuery),
    responses((status = 200, body = serde_json::Value), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn rows(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(name): Path<String>,
    query: Result<Query<RowsQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<serde_json::Value>> {
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request("limit must be between 1 and 1000"));
    }
    let invocation = Invocation {
        user_id: caller.username.clone(),
        user_name: caller.display_name.clone(),
        org_id: caller.org_id.clone(),
        org_name: caller.org_name.clone(),
        locale: "zh-CN".into(),
        now: zhiyun_store::now_micros(),
        app_id: PORTAL.into(),
        app_version: String::new(),
        request_id: super::request_id(&headers),
    };
    let table = state
        .governed
        .preview(&invocation, &name, limit)
        .await
        .map_err(ApiError::from)?;
    Ok(Json(json!(table)))
}

#[derive(Deserialize, ToSchema, utoipa::IntoParams, Default)]
#[serde(deny_unknown_fields)]
pub struct ExportQuery {
    /// `csv` (the default and, for now, the only format).
    pub format: Option<String>,
}

/// Run an app and download its tables (a view's tables, a report's rows,
/// an alert's findings) as CSV (UTF-8 with BOM, for Excel). Audited as an
/// export with the row count.
#[utoipa::path(post, path = "/api/v1/apps/{id}/export", params(("id" = String, Path), ExportQuery),
    request_body = LaunchRequest,
    responses((status = 200, content_type = "text/csv"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn export(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    query: Result<Query<ExportQuery>, axum::extract::rejection::QueryRejection>,
    JsonOrDefault(body): JsonOrDefault<LaunchRequest>,
) -> ApiResult<Response> {
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    if let Some(f) = q.format.as_deref().filter(|f| *f != "csv") {
        return Err(ApiError::bad_request(format!(
            "format must be csv, got `{f}`"
        )));
    }
    let request_id = super::request_id(&headers);
    let launched = launch_for(&state, &caller, &id, body, &request_id).await?;
    let (csv, rows) = to_csv(&launched.output);
    state
        .audit_sink
        .record(
            NewAuditEntry::new(&caller.username, AuditAction::Export, format!("app:{id}"))
                .org(&caller.org_id)
                .outcome(AuditOutcome::Ok)
                .detail(json!({ "format": "csv", "row_count": rows, "version": launched.version }))
                .request_id(&request_id),
        )
        .await;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{id}.csv\""),
            ),
        ],
        csv,
    )
        .into_response())
}

/// The output's tabular content as CSV and its number of data rows.
fn to_csv(output: &AppOutput) -> (String, u64) {
    let mut out = String::from("\u{feff}");
    let mut rows = 0u64;
    let section = |out: &mut String, title: &str| {
        if !out.ends_with('\u{feff}') {
            out.push_str("\r\n");
        }
        out.push_str(&csv_line([title.to_string()]));
    };
    match output {
        AppOutput::View(view) => {
            for block in &view.blocks {
                if let Block::Table(t) = block {
                    section(&mut out, &t.title);
                    out.push_str(&csv_line(t.columns.iter().map(|c| c.label.clone())));
                    for r in &t.rows {
                        out.push_str(&csv_line(r.cells.iter().map(cell_text)));
                        rows += 1;
                    }
                }
            }
        }
        AppOutput::Document(doc) => {
            section(&mut out, &doc.title);
            out.push_str(&csv_line(doc.columns.iter().map(|c| c.key.clone())));
            for r in &doc.rows {
                out.push_str(&csv_line(r.cells.iter().map(cell_text)));
                rows += 1;
            }
        }
        AppOutput::Findings(findings) => {
            out.push_str(&csv_line(
                [
                    "fingerprint",
                    "org_id",
                    "severity",
                    "message",
                    "observed",
                    "threshold",
                ]
                .map(String::from),
            ));
            for f in findings {
                out.push_str(&csv_line([
                    f.fingerprint.clone(),
                    f.org_id.clone(),
                    json!(f.severity).as_str().unwrap_or_default().to_string(),
                    f.message.clone(),
                    cell_text(&f.observed),
                    cell_text(&f.threshold),
                ]));
                rows += 1;
            }
        }
    }
    (out, rows)
}

/// A cell as exact text: money in 元 with two decimals (from integer fen).
fn cell_text(v: &Value) -> String {
    match v {
        Value::Money(fen) => {
            let sign = if *fen < 0 { "-" } else { "" };
            let abs = fen.unsigned_abs();
            format!("{sign}{}.{:02}", abs / 100, abs % 100)
        }
        other => other.to_text(),
    }
}

fn csv_line(fields: impl IntoIterator<Item = String>) -> String {
    let mut line = fields
        .into_iter()
        .map(|f| {
            // Quote what needs it; neutralise spreadsheet formulas.
            let f = if f.starts_with(['=', '+', '-', '@']) && f.parse::<f64>().is_err() {
                format!("'{f}")
            } else {
                f
            };
            if f.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", f.replace('"', "\"\""))
            } else {
                f
            }
        })
        .collect::<Vec<_>>()
        .join(",");
    line.push_str("\r\n");
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_is_exact_yuan_and_fields_are_quoted() {
        assert_eq!(cell_text(&Value::Money(-12_345)), "-123.45");
        assert_eq!(cell_text(&Value::Money(5)), "0.05");
        assert_eq!(
            csv_line([
                "a,b".into(),
                "say \"hi\"".into(),
                "=SUM(A1)".into(),
                "-3".into()
            ]),
            "\"a,b\",\"say \"\"hi\"\"\",'=SUM(A1),-3\r\n"
        );
    }
}
