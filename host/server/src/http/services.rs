//! Handlers of data services (数据服务): proposing, reading and retiring
//! them (`/api/v1/data-services`) and calling one
//! (`GET /api/v1/services/{name}`). What a service is, how a call is
//! checked, paged and rate-limited, is `crate::services`; approval goes
//! through the change-request API like every other kind
//! (`POST /api/v1/changes/{id}/approve`).

use super::AppState;
use super::changes::change_error;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{ApiJson, JsonOrDefault};
use crate::auth::{Caller, Credential};
use crate::services::{
    CallerKey, DataService, Datasets, PAGE_TOKEN, ServiceDefinition, ServiceError, ServiceStatus,
};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;
use zhiyun_authz::change::service_app_id;
use zhiyun_authz::{AuditAction, AuditOutcome, NewAuditEntry};
use zhiyun_contract::Invocation;

/// Actions that let a user see services that are not (or no longer)
/// callable, i.e. every status.
const STEWARD_ACTIONS: [&str; 3] = ["service.propose", "change.review.service", "service.retire"];

fn service_error(e: ServiceError) -> ApiError {
    let message = e.to_string();
    match e {
        ServiceError::Invalid(_) => ApiError::bad_request(message),
        ServiceError::NotFound(_) => ApiError::not_found(message),
        ServiceError::Retired(_) => ApiError::new(StatusCode::GONE, "retired", message),
        ServiceError::Conflict { current_state, .. } => {
            let mut err = ApiError::new(StatusCode::CONFLICT, "conflict", message);
            err.current_state = Some(current_state);
            err
        }
        ServiceError::RateLimited {
            retry_after_secs, ..
        } => ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate-limited", message)
            .with_detail(json!({ "retry_after_seconds": retry_after_secs })),
        ServiceError::Data(app) => ApiError::from(app),
        ServiceError::OutOfDate(_) => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "service-out-of-date",
            message,
        ),
        ServiceError::Change(c) => change_error(c),
        ServiceError::Corrupt(_) | ServiceError::Store(_) => ApiError::internal(message),
    }
}

fn datasets(state: &AppState) -> Datasets<'_> {
    Datasets {
        models: state.warehouse.models.as_deref(),
        fixtures: &state.fixtures,
        policy: &state.auth.policy,
    }
}

/// Whether `caller` sees services in every status (those who propose,
/// review or retire them); everyone else sees the active and retired ones.
fn sees_all(state: &AppState, caller: &Caller) -> bool {
    STEWARD_ACTIONS
        .iter()
        .any(|a| state.auth.policy.allows_action(&caller.username, a))
}

fn visible(state: &AppState, caller: &Caller, service: &DataService) -> bool {
    matches!(
        service.status,
        ServiceStatus::Active | ServiceStatus::Retired
    ) || service.author == caller.username
        || sees_all(state, caller)
}

/// The data services the caller may see (callable ones for everybody;
/// every status for those who propose, review or retire them), by name.
#[utoipa::path(get, path = "/api/v1/data-services",
    responses((status = 200, body = serde_json::Value)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<serde_json::Value>> {
    let mut services = state.services.list().await.map_err(service_error)?;
    services.retain(|s| visible(&state, &caller, s));
    Ok(Json(json!(services)))
}

/// One data service: its definition, status and URL.
#[utoipa::path(get, path = "/api/v1/data-services/{name}", params(("name" = String, Path)),
    responses((status = 200, body = serde_json::Value), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    match state.services.get(&name).await.map_err(service_error)? {
        Some(service) if visible(&state, &caller, &service) => Ok(Json(json!(service))),
        _ => Err(ApiError::not_found(format!(
            "no data service named `{name}`"
        ))),
    }
}

/// Propose a data service (数据服务发布): the definition is checked
/// against its dataset (every dimension, measure, filter, order field and
/// parameter must fit; the error names the first that does not) and filed
/// as a `data-service` change request. Nothing is callable until another
/// administrator approves the request.
///
/// Body: `{"name", "title", "description", "dataset", "dimensions": […],
/// "measures": […], "filters": [{"field", "op", "values": […]}],
/// "order": [{"field", "descending"}], "parameters": [{"name", "kind":
/// text|int|money|date|boolean, "required", "default", "field", "op":
/// eq|ne|lt|le|gt|ge|in-list|like, "description"}], "max_page_size"
/// (≤ 1000, default 100), "rate_limit_per_minute" (default 60),
/// "max_sensitivity" (default internal)}`.
#[utoipa::path(post, path = "/api/v1/data-services", request_body = Object,
    responses((status = 201, body = serde_json::Value), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn propose(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<serde_json::Value>,
) -> ApiResult<(StatusCode, Json<serde_json::Value>)> {
    let definition: ServiceDefinition = serde_json::from_value(body)
        .map_err(|e| ApiError::bad_request(format!("a data service definition: {e}")))?;
    definition.check(&datasets(&state)).map_err(service_error)?;
    let (service, request) = state
        .services
        .propose(&state.changes, &caller.username, &definition)
        .await
        .map_err(service_error)?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "service": service, "change_request": request })),
    ))
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct RetireBody {
    /// Why; required (callers of the retired service read it).
    #[serde(default)]
    pub reason: Option<String>,
}

/// Retire an active data service: calls answer 410 from now on, its grant
/// is removed, and the name is not reused. Audited (`service.retire`).
#[utoipa::path(post, path = "/api/v1/data-services/{name}/retire", params(("name" = String, Path)),
    request_body = RetireBody,
    responses((status = 200, body = serde_json::Value), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn retire(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    JsonOrDefault(body): JsonOrDefault<RetireBody>,
) -> ApiResult<Json<serde_json::Value>> {
    if state
        .services
        .get(&name)
        .await
        .map_err(service_error)?
        .is_none()
    {
        return Err(ApiError::not_found(format!(
            "no data service named `{name}`"
        )));
    }
    let service = state
        .services
        .retire(
            &name,
            &caller.username,
            &caller.org_id,
            body.reason.as_deref().unwrap_or_default(),
        )
        .await
        .map_err(service_error)?;
    state.policy_changed().await;
    Ok(Json(json!(service)))
}

/// Call a data service as the authenticated user (an API token with the
/// `services` scope, or a session). Query parameters: the service's own
/// (see its definition; typed, unknown ones refused), `page_size` (1 to the
/// service's `max_page_size`, default that) and `page_token` (from the
/// previous page's `next_page_token`). The rows are the caller's data
/// scope ∩ the service's grant, in a stable order; money is integer fen.
/// Answers 429 with `Retry-After` past the service's rate limit, 410 once
/// the service is retired.
#[utoipa::path(get, path = "/api/v1/services/{name}",
    params(("name" = String, Path),
        ("page_size" = Option<u32>, Query, description = "1 to the service's max_page_size"),
        ("page_token" = Option<String>, Query, description = "the previous page's next_page_token")),
    responses((status = 200, body = serde_json::Value), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 410, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn call(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(name): Path<String>,
    query: Result<Query<Vec<(String, String)>>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let request_id = super::request_id(&headers);
    let Some(service) = state.services.get(&name).await.map_err(service_error)? else {
        return Err(ApiError::not_found(format!(
            "no data service named `{name}`"
        )));
    };
    let result = match service.ensure_callable() {
        Ok(()) => {
            let invocation = Invocation {
                user_id: caller.username.clone(),
                user_name: caller.display_name.clone(),
                org_id: caller.org_id.clone(),
                org_name: caller.org_name.clone(),
                locale: "zh-CN".into(),
                now: zhiyun_store::now_micros(),
                app_id: service_app_id(&name),
                app_version: String::new(),
                request_id: request_id.clone(),
            };
            let key = match &caller.credential {
                Credential::Token { token_id, .. } => CallerKey::Token(token_id),
                Credential::Session { .. } | Credential::Internal => {
                    CallerKey::User(&caller.username)
                }
            };
            state
                .services
                .call(
                    &state.governed,
                    &datasets(&state),
                    state.fixtures.row_cap(),
                    &service,
                    invocation,
                    key,
                    &query,
                )
                .await
        }
        Err(e) => Err(e),
    };
    audit_call(&state, &caller, &service, &query, &request_id, &result).await;
    match result {
        Ok(page) => Ok(Json(json!(page)).into_response()),
        Err(e) => {
            let retry_after = match &e {
                ServiceError::RateLimited {
                    retry_after_secs, ..
                } => Some(*retry_after_secs),
                _ => None,
            };
            let mut response = service_error(e).into_response();
            if let Some(secs) = retry_after {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
            }
            Ok(response)
        }
    }
}

/// One `service.call` entry per call of a service on file: the page it
/// returned (the governed path writes `data.access` with the rows it read),
/// or why it was refused — rate limits included.
async fn audit_call(
    state: &AppState,
    caller: &Caller,
    service: &DataService,
    query: &[(String, String)],
    request_id: &str,
    result: &Result<crate::services::Page, ServiceError>,
) {
    let Ok(action) = AuditAction::parse("service.call") else {
        return;
    };
    let name = &service.definition.name;
    let parameters: serde_json::Map<String, serde_json::Value> = query
        .iter()
        .filter(|(k, _)| k != PAGE_TOKEN)
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    let mut detail = json!({
        "service": name,
        "app": service_app_id(name),
        "dataset": service.definition.dataset,
        "parameters": parameters,
    });
    let outcome = match result {
        Ok(page) => {
            detail["row_count"] = json!(page.rows.len());
            detail["rows_read"] = json!(page.rows_read);
            detail["offset"] = json!(page.offset);
            detail["page_size"] = json!(page.page_size);
            detail["more"] = json!(page.next_page_token.is_some());
            AuditOutcome::Ok
        }
        Err(e) => {
            detail["row_count"] = json!(0);
            detail["error"] = json!(e.to_string());
            match e {
                ServiceError::Corrupt(_) | ServiceError::Store(_) | ServiceError::OutOfDate(_) => {
                    AuditOutcome::Error
                }
                ServiceError::Data(app)
                    if app.kind == zhiyun_contract::ErrorKind::Internal
                        || app.kind == zhiyun_contract::ErrorKind::Timeout =>
                {
                    AuditOutcome::Error
                }
                _ => AuditOutcome::Denied,
            }
        }
    };
    state
        .audit_sink
        .record(
            NewAuditEntry::new(&caller.username, action, format!("data-service/{name}"))
                .org(&caller.org_id)
                .outcome(outcome)
                .request_id(request_id)
                .detail(detail),
        )
        .await;
}
