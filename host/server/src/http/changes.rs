//! Handlers of `/api/v1/changes`: change requests (变更申请) of every kind
//! through the one four-eyes engine (`zhiyun_authz::change`).
//!
//! Who may file and who may review depends on the kind ([`create_action`],
//! [`review_action`]); nobody reviews their own request, whatever roles
//! they hold (the engine refuses it, `403 self-approval`). App listings are
//! filed by submitting a package (`POST /api/v1/packages`) and data services
//! by proposing them (`POST /api/v1/data-services`), not here.

use super::AppState;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{ApiJson, JsonOrDefault};
use crate::auth::Caller;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;
use zhiyun_authz::change::{Applicant, ChangeKind};
use zhiyun_authz::{ChangeError, ChangeFilter, ChangeKindName, ChangeRequest, ChangeState};

/// The action that lets a user file a request of `kind`; `None`: not filed
/// through this API.
pub fn create_action(kind: ChangeKindName) -> Option<&'static str> {
    match kind {
        ChangeKindName::AppListing | ChangeKindName::DataService => None,
        ChangeKindName::MenuChange => Some("menu.manage"),
        ChangeKindName::RoleGrant
        | ChangeKindName::RoleRevoke
        | ChangeKindName::DataScopeChange => Some("change.create.role"),
        ChangeKindName::DatasetAccess => Some("dataset.apply"),
    }
}

/// The action that lets a user approve or reject a request of `kind`.
pub fn review_action(kind: ChangeKindName) -> &'static str {
    match kind {
        ChangeKindName::AppListing => "app.review",
        ChangeKindName::MenuChange => "change.review.menu",
        ChangeKindName::RoleGrant
        | ChangeKindName::RoleRevoke
        | ChangeKindName::DataScopeChange => "change.review.role",
        ChangeKindName::DatasetAccess => "change.review.dataset",
        ChangeKindName::DataService => "change.review.service",
    }
}

pub fn change_error(e: ChangeError) -> ApiError {
    let message = e.to_string();
    match e {
        ChangeError::NotFound(_) => ApiError::not_found(message),
        ChangeError::SelfApproval { .. } => {
            ApiError::new(StatusCode::FORBIDDEN, "self-approval", message)
        }
        ChangeError::NotAuthor { .. } => ApiError::forbidden(message),
        ChangeError::Conflict { current_state, .. } => {
            let mut err = ApiError::new(StatusCode::CONFLICT, "conflict", message);
            err.current_state = Some(current_state.as_str().to_string());
            err
        }
        ChangeError::Invalid(_) => ApiError::bad_request(message),
        ChangeError::Apply(_) | ChangeError::NoApplier(_) => {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "cannot-apply", message)
        }
        _ => ApiError::internal(message),
    }
}

/// Whether `caller` may see `request`: their own, or one they may review.
fn visible(state: &AppState, caller: &Caller, request: &ChangeRequest) -> bool {
    request.author == caller.username
        || state
            .auth
            .policy
            .allows_action(&caller.username, review_action(request.change.name()))
}

#[derive(Deserialize, ToSchema, utoipa::IntoParams, Default)]
#[serde(deny_unknown_fields)]
pub struct ChangeQuery {
    /// pending, approved, rejected or withdrawn.
    pub state: Option<String>,
    /// app-listing, menu-change, role-grant, role-revoke, data-scope-change, dataset-access,
    /// data-service.
    pub kind: Option<String>,
    /// Only requests written by this user.
    pub author: Option<String>,
    /// Continue below this id (the last id of the previous page).
    pub before_id: Option<i64>,
    /// 1–1000 (default 100).
    pub limit: Option<u32>,
}

/// Change requests the caller wrote or may review, newest first.
#[utoipa::path(get, path = "/api/v1/changes", params(ChangeQuery),
    responses((status = 200, body = serde_json::Value), (status = 400, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<ChangeQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<serde_json::Value>> {
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let filter = ChangeFilter {
        state: q
            .state
            .as_deref()
            .map(|s| {
                ChangeState::parse(s).ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "state must be pending, approved, rejected or withdrawn, got `{s}`"
                    ))
                })
            })
            .transpose()?,
        kind: q.kind.as_deref().map(parse_kind).transpose()?,
        author: q.author,
        before_id: q.before_id,
        limit: q.limit,
    };
    if filter.limit.is_some_and(|l| l == 0 || l > 1000) {
        return Err(ApiError::bad_request("limit must be between 1 and 1000"));
    }
    let mut requests = state.changes.list(&filter).await.map_err(change_error)?;
    requests.retain(|r| visible(&state, &caller, r));
    Ok(Json(json!(requests)))
}

fn parse_kind(s: &str) -> ApiResult<ChangeKindName> {
    ChangeKindName::parse(s).ok_or_else(|| {
        ApiError::bad_request(format!(
            "kind must be one of app-listing, menu-change, role-grant, role-revoke, \
             data-scope-change, dataset-access, data-service; got `{s}`"
        ))
    })
}

/// File a change request: `{"kind": "role-grant", "payload": {…}}`.
/// Nothing changes until another administrator approves it.
#[utoipa::path(post, path = "/api/v1/changes", request_body = Object,
    responses((status = 201, body = serde_json::Value), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<serde_json::Value>,
) -> ApiResult<(StatusCode, Json<serde_json::Value>)> {
    let kind_name = body["kind"].as_str().unwrap_or_default().to_string();
    let kind = parse_kind(&kind_name)?;
    let change: ChangeKind = serde_json::from_value(body)
        .map_err(|e| ApiError::bad_request(format!("a {kind_name} change request: {e}")))?;
    let Some(action) = create_action(kind) else {
        return Err(ApiError::bad_request(match kind {
            ChangeKindName::DataService => {
                "a data service is proposed with POST /api/v1/data-services, which checks it \
                 against its dataset"
            }
            _ => "an app listing is filed by submitting its package (POST /api/v1/packages)",
        }));
    };
    let policy = &state.auth.policy;
    let may = |a: &str| policy.allows_action(&caller.username, a);
    let allowed = match &change {
        // 数据申请: for oneself with `dataset.apply`; for a role or another
        // user it is a permission change (`change.create.role`); for an app
        // also its developers (`app.submit`).
        ChangeKind::DatasetAccess(access) => match &access.applicant {
            Applicant::User { username } if *username == caller.username => may(action),
            Applicant::App { app_id } => {
                may("change.create.role")
                    || (may("app.submit") && own_app(&state, &caller, app_id).await?)
            }
            _ => may("change.create.role"),
        },
        _ => may(action),
    };
    if !allowed {
        return Err(ApiError::forbidden(format!(
            "{} may not file this {kind_name} change request (needs `{}`)",
            caller.username,
            match &change {
                ChangeKind::DatasetAccess(a) if !matches!(&a.applicant, Applicant::User { username } if *username == caller.username) =>
                    "change.create.role",
                _ => action,
            }
        )));
    }
    let request = state
        .changes
        .create(&caller.username, change)
        .await
        .map_err(change_error)?;
    Ok((StatusCode::CREATED, Json(json!(request))))
}

/// Whether `app_id` belongs to the caller's department (a developer
/// applies for data for their own department's apps only).
async fn own_app(state: &AppState, caller: &Caller, app_id: &str) -> ApiResult<bool> {
    Ok(state
        .apps
        .registry
        .apps()
        .await?
        .iter()
        .any(|a| a.app_id == app_id && a.department == caller.department))
}

async fn visible_request(state: &AppState, caller: &Caller, id: i64) -> ApiResult<ChangeRequest> {
    let request = state.changes.get(id).await.map_err(change_error)?;
    if !visible(state, caller, &request) {
        // Not yours and not yours to review: as if it did not exist.
        return Err(ApiError::not_found(format!(
            "change request #{id} not found"
        )));
    }
    Ok(request)
}

/// One change request with its history.
#[utoipa::path(get, path = "/api/v1/changes/{id}", params(("id" = i64, Path)),
    responses((status = 200, body = serde_json::Value), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<Json<serde_json::Value>> {
    let request = visible_request(&state, &caller, id).await?;
    let history = state.changes.history(id).await.map_err(change_error)?;
    Ok(Json(json!({ "request": request, "history": history })))
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct DecisionBody {
    /// Why; required to reject.
    #[serde(default)]
    pub reason: Option<String>,
}

async fn reviewable(state: &AppState, caller: &Caller, id: i64) -> ApiResult<ChangeRequest> {
    let request = visible_request(state, caller, id).await?;
    let action = review_action(request.change.name());
    if !state.auth.policy.allows_action(&caller.username, action) {
        return Err(ApiError::forbidden(format!(
            "{} may not review {} change requests (needs `{action}`)",
            caller.username,
            request.change.name()
        )));
    }
    Ok(request)
}

/// Approve a pending request: the change goes live in the same
/// transaction. Refused to its author (`403 self-approval`).
#[utoipa::path(post, path = "/api/v1/changes/{id}/approve", params(("id" = i64, Path)), request_body = DecisionBody,
    responses((status = 200, body = serde_json::Value), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn approve(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    JsonOrDefault(body): JsonOrDefault<DecisionBody>,
) -> ApiResult<Json<serde_json::Value>> {
    reviewable(&state, &caller, id).await?;
    let request = state
        .changes
        .approve(id, &caller.username, body.reason.as_deref())
        .await
        .map_err(change_error)?;
    state.policy_changed().await;
    Ok(Json(json!(request)))
}

/// Reject a pending request, with a reason.
#[utoipa::path(post, path = "/api/v1/changes/{id}/reject", params(("id" = i64, Path)), request_body = DecisionBody,
    responses((status = 200, body = serde_json::Value), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn reject(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    ApiJson(body): ApiJson<DecisionBody>,
) -> ApiResult<Json<serde_json::Value>> {
    reviewable(&state, &caller, id).await?;
    let reason = body.reason.as_deref().map(str::trim).unwrap_or_default();
    if reason.is_empty() {
        return Err(ApiError::bad_request("a reason is required to reject"));
    }
    let request = state
        .changes
        .reject(id, &caller.username, reason)
        .await
        .map_err(change_error)?;
    Ok(Json(json!(request)))
}

/// Withdraw one's own pending request.
#[utoipa::path(post, path = "/api/v1/changes/{id}/withdraw", params(("id" = i64, Path)),
    responses((status = 200, body = serde_json::Value), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn withdraw(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<Json<serde_json::Value>> {
    let request = visible_request(&state, &caller, id).await?;
    if request.change.name() == ChangeKindName::AppListing {
        // The version would stay `submitted` with nothing to review it.
        return Err(ApiError::bad_request(
            "a submitted app version cannot be withdrawn; ask a reviewer to reject it",
        ));
    }
    let request = state
        .changes
        .withdraw(id, &caller.username)
        .await
        .map_err(change_error)?;
    Ok(Json(json!(request)))
}
