//! Handlers of `/api/v1` for apps: package submission, review, lifecycle,
//! launch, department keys; and the audit log.

use super::AppState;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{ApiJson, JsonOrDefault, RawBody};
use crate::auth::Caller;
use crate::service::Decision;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use zhiyun_authz::AuditOutcome;

/// Audits a successful lifecycle action on an app by an admin or developer.
async fn audit_ok(
    state: &AppState,
    caller: &Caller,
    action: &str,
    target: String,
    detail: serde_json::Value,
) {
    state
        .audit(
            &caller.username,
            &caller.org_id,
            action,
            &target,
            AuditOutcome::Ok,
            detail,
        )
        .await;
}

fn parse_version(v: &str) -> ApiResult<semver::Version> {
    semver::Version::parse(v)
        .map_err(|e| ApiError::bad_request(format!("`{v}` is not a semantic version: {e}")))
}

fn json<T: Serialize>(value: T) -> ApiResult<Json<serde_json::Value>> {
    serde_json::to_value(value)
        .map(Json)
        .map_err(|e| ApiError::internal(e.to_string()))
}

/// Submit a signed `.zyapp` package (the raw file as the body). The host
/// verifies the package and its signature, checks the component against
/// the contract, runs the sandbox trial run, and registers the version as
/// `submitted`.
#[utoipa::path(post, path = "/api/v1/packages",
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 201, description = "the registered version, with its trial run", body = serde_json::Value),
        (status = 409, body = ErrorBody), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn submit(
    State(state): State<AppState>,
    caller: Caller,
    RawBody(body): RawBody,
) -> ApiResult<(StatusCode, Json<serde_json::Value>)> {
    if body.is_empty() {
        return Err(ApiError::bad_request(
            "the body is empty: send the .zyapp file",
        ));
    }
    let record = state.apps.submit(&body, &caller).await?;
    let target = format!("app:{}@{}", record.app_id, record.version);
    let detail = json!({ "sha256": record.component_sha256, "trial_ok": record.trial["ok"] });
    audit_ok(&state, &caller, "app.submit", target, detail).await;
    Ok((StatusCode::CREATED, json(record)?))
}

/// Apps and their live versions. Developers, reviewers and operators see
/// every app; everyone else only the live apps on their menus.
#[utoipa::path(get, path = "/api/v1/apps", responses((status = 200, body = serde_json::Value)))]
pub async fn list_apps(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<serde_json::Value>> {
    let mut apps = state.apps.registry.apps().await?;
    let policy = &state.auth.policy;
    let sees_all = ["app.submit", "app.review", "app.operate"]
        .iter()
        .any(|a| policy.allows_action(&caller.username, a));
    if !sees_all {
        // Everyone else: the live apps they may use.
        apps.retain(|a| {
            a.live
                .as_ref()
                .is_some_and(|v| v.state == zhiyun_apps::registry::VersionState::Published)
                && policy.can_use_app(&caller.username, &a.app_id)
        });
    }
    json(apps)
}

/// Every version of an app, newest first.
#[utoipa::path(get, path = "/api/v1/apps/{id}/versions", params(("id" = String, Path)),
    responses((status = 200, body = serde_json::Value), (status = 404, body = ErrorBody)))]
pub async fn list_versions(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    json(state.apps.registry.versions(&id).await?)
}

/// What a reviewer needs: manifest, real imports/exports, requested
/// datasets and limits, the diff against the live version, the trial run.
#[utoipa::path(get, path = "/api/v1/apps/{id}/versions/{version}/review",
    params(("id" = String, Path), ("version" = String, Path)),
    responses((status = 200, body = serde_json::Value), (status = 404, body = ErrorBody)))]
pub async fn review(
    State(state): State<AppState>,
    Path((id, version)): Path<(String, String)>,
) -> ApiResult<Json<serde_json::Value>> {
    json(
        state
            .apps
            .registry
            .review(&id, &parse_version(&version)?)
            .await?,
    )
}

/// Versions waiting for review, oldest first.
#[utoipa::path(get, path = "/api/v1/reviews", responses((status = 200, body = serde_json::Value)))]
pub async fn pending(State(state): State<AppState>) -> ApiResult<Json<serde_json::Value>> {
    json(state.apps.registry.pending().await?)
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct ReasonBody {
    /// Why; required to reject, suspend, take offline or roll back.
    #[serde(default)]
    pub reason: Option<String>,
}

fn reason_required(body: &ReasonBody, action: &str) -> ApiResult<String> {
    match body.reason.as_deref().map(str::trim) {
        Some(r) if !r.is_empty() => Ok(r.to_string()),
        _ => Err(ApiError::bad_request(format!(
            "a reason is required to {action}"
        ))),
    }
}

/// Approve a submitted version: it goes live, superseding the live one.
#[utoipa::path(post, path = "/api/v1/apps/{id}/versions/{version}/approve",
    params(("id" = String, Path), ("version" = String, Path)), request_body = ReasonBody,
    responses((status = 200, body = serde_json::Value), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn approve(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, version)): Path<(String, String)>,
    JsonOrDefault(body): JsonOrDefault<ReasonBody>,
) -> ApiResult<Json<serde_json::Value>> {
    let version = parse_version(&version)?;
    // The listing's change request is approved; its applier publishes the
    // version (one transaction, audited by the engine).
    let record = state
        .apps
        .decide_listing(
            &id,
            &version,
            &caller.username,
            Decision::Approve(body.reason.as_deref()),
        )
        .await?;
    // The app's dataset grants changed with the listing.
    state.policy_changed().await;
    json(record)
}

/// Reject a submitted version, with a reason.
#[utoipa::path(post, path = "/api/v1/apps/{id}/versions/{version}/reject",
    params(("id" = String, Path), ("version" = String, Path)), request_body = ReasonBody,
    responses((status = 200, body = serde_json::Value), (status = 409, body = ErrorBody)))]
pub async fn reject(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, version)): Path<(String, String)>,
    ApiJson(body): ApiJson<ReasonBody>,
) -> ApiResult<Json<serde_json::Value>> {
    let reason = reason_required(&body, "reject")?;
    let version = parse_version(&version)?;
    json(
        state
            .apps
            .decide_listing(&id, &version, &caller.username, Decision::Reject(&reason))
            .await?,
    )
}

/// Kill switch: the live version stops launching (from the next launch).
#[utoipa::path(post, path = "/api/v1/apps/{id}/suspend", params(("id" = String, Path)), request_body = ReasonBody,
    responses((status = 200, body = serde_json::Value), (status = 409, body = ErrorBody)))]
pub async fn suspend(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ReasonBody>,
) -> ApiResult<Json<serde_json::Value>> {
    let reason = reason_required(&body, "suspend")?;
    let record = state
        .apps
        .registry
        .suspend(&id, &caller.username, &reason)
        .await?;
    audit_ok(
        &state,
        &caller,
        "app.suspend",
        format!("app:{id}"),
        json!({ "reason": reason }),
    )
    .await;
    json(record)
}

/// Lift a suspension.
#[utoipa::path(post, path = "/api/v1/apps/{id}/resume", params(("id" = String, Path)),
    responses((status = 200, body = serde_json::Value), (status = 409, body = ErrorBody)))]
pub async fn resume(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    let record = state.apps.registry.resume(&id, &caller.username).await?;
    audit_ok(
        &state,
        &caller,
        "app.resume",
        format!("app:{id}"),
        json!({}),
    )
    .await;
    json(record)
}

/// Take an app offline (下架).
#[utoipa::path(post, path = "/api/v1/apps/{id}/offline", params(("id" = String, Path)), request_body = ReasonBody,
    responses((status = 200, body = serde_json::Value), (status = 409, body = ErrorBody)))]
pub async fn offline(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ReasonBody>,
) -> ApiResult<Json<serde_json::Value>> {
    let reason = reason_required(&body, "take an app offline")?;
    let record = state
        .apps
        .registry
        .offline(&id, &caller.username, &reason)
        .await?;
    audit_ok(
        &state,
        &caller,
        "app.offline",
        format!("app:{id}"),
        json!({ "reason": reason }),
    )
    .await;
    json(record)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RollbackBody {
    /// An earlier approved version to republish.
    pub version: String,
    pub reason: String,
}

/// Republish an earlier approved version.
#[utoipa::path(post, path = "/api/v1/apps/{id}/rollback", params(("id" = String, Path)), request_body = RollbackBody,
    responses((status = 200, body = serde_json::Value), (status = 409, body = ErrorBody)))]
pub async fn rollback(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<RollbackBody>,
) -> ApiResult<Json<serde_json::Value>> {
    let reason = reason_required(
        &ReasonBody {
            reason: Some(body.reason),
        },
        "roll back",
    )?;
    let version = parse_version(&body.version)?;
    let record = state
        .apps
        .registry
        .rollback(&id, &version, &caller.username, &reason)
        .await?;
    let detail = json!({ "version": version.to_string(), "reason": reason });
    audit_ok(&state, &caller, "app.rollback", format!("app:{id}"), detail).await;
    json(record)
}

/// Every state change of an app, oldest first.
#[utoipa::path(get, path = "/api/v1/apps/{id}/history", params(("id" = String, Path)),
    responses((status = 200, body = serde_json::Value), (status = 404, body = ErrorBody)))]
pub async fn history(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    json(state.apps.registry.history(&id).await?)
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct LaunchRequest {
    /// Parameter values by name, typed by the app's manifest.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub params: serde_json::Map<String, serde_json::Value>,
    /// `zh-CN` (default) or `en-US`.
    #[serde(default)]
    pub locale: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct LaunchResponse {
    pub app_id: String,
    pub version: String,
    pub output: zhiyun_contract::AppOutput,
    pub duration_ms: f64,
    pub host_calls: u32,
    pub request_id: String,
}

/// Launch the live version of an app with parameters; returns its typed
/// view, report document or findings.
#[utoipa::path(post, path = "/api/v1/apps/{id}/launch", params(("id" = String, Path)), request_body = LaunchRequest,
    responses((status = 200, body = LaunchResponse), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 502, description = "the app failed (crash, memory limit, …)", body = ErrorBody),
        (status = 504, description = "the app timed out", body = ErrorBody)))]
pub async fn launch(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    JsonOrDefault(body): JsonOrDefault<LaunchRequest>,
) -> ApiResult<Json<LaunchResponse>> {
    let request_id = super::request_id(&headers);
    Ok(Json(
        launch_for(&state, &caller, &id, body, &request_id).await?,
    ))
}

/// Launches `id` for `caller` and audits the launch (refused and failed
/// ones too). Shared by launch and export.
pub async fn launch_for(
    state: &AppState,
    caller: &Caller,
    id: &str,
    body: LaunchRequest,
    request_id: &str,
) -> ApiResult<LaunchResponse> {
    let locale = match body.locale.as_deref() {
        None | Some("zh-CN") => "zh-CN",
        Some("en-US") => "en-US",
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "locale must be zh-CN or en-US, got `{other}`"
            )));
        }
    };
    let result = state
        .apps
        .launch(id, &body.params, caller, locale, request_id)
        .await;
    let (outcome, detail) = match &result {
        Ok((record, _, stats)) => (
            AuditOutcome::Ok,
            json!({
                "version": record.version.to_string(),
                "duration_ms": stats.duration.as_secs_f64() * 1e3,
                "host_calls": stats.host_calls,
            }),
        ),
        Err(e) => (
            if e.status.is_client_error() {
                AuditOutcome::Denied
            } else {
                AuditOutcome::Error
            },
            json!({ "code": e.code, "message": e.message }),
        ),
    };
    state
        .audit_sink
        .record(
            zhiyun_authz::NewAuditEntry::new(
                &caller.username,
                zhiyun_authz::AuditAction::AppLaunch,
                format!("app:{id}"),
            )
            .org(&caller.org_id)
            .outcome(outcome)
            .detail(detail)
            .request_id(request_id),
        )
        .await;
    let (record, output, stats) = result?;
    Ok(LaunchResponse {
        app_id: record.app_id.clone(),
        version: record.version.to_string(),
        output,
        duration_ms: stats.duration.as_secs_f64() * 1e3,
        host_calls: stats.host_calls,
        request_id: request_id.to_string(),
    })
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyRequest {
    pub key_id: String,
    pub department: String,
    /// The ed25519 public key, base64 (32 bytes).
    pub public_key: String,
}

/// Register a department's package-signing public key.
#[utoipa::path(post, path = "/api/v1/keys", request_body = KeyRequest,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn register_key(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<KeyRequest>,
) -> ApiResult<StatusCode> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(req.public_key.trim())
        .map_err(|e| ApiError::bad_request(format!("public_key is not base64: {e}")))?;
    let key: [u8; 32] = bytes.try_into().map_err(|b: Vec<u8>| {
        ApiError::bad_request(format!("public_key must be 32 bytes, got {}", b.len()))
    })?;
    state
        .apps
        .registry
        .register_key(&req.key_id, &req.department, &key, &caller.username)
        .await?;
    let detail = json!({ "department": req.department });
    audit_ok(
        &state,
        &caller,
        "key.register",
        format!("key:{}", req.key_id),
        detail,
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema, utoipa::IntoParams, Default)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Only entries by this actor.
    pub actor: Option<String>,
    /// Only this action, e.g. `login.failure`, `data.access`, `export`.
    pub action: Option<String>,
    /// Only targets starting with this, e.g. `app:fund-position`, `dataset/`.
    pub target: Option<String>,
    /// ok, denied or error.
    pub outcome: Option<String>,
    /// Entries at or after this time (µs since the epoch, UTC).
    pub from: Option<i64>,
    /// Entries before this time (µs since the epoch, UTC).
    pub to: Option<i64>,
    /// `newest` (default) or `oldest` first.
    pub order: Option<String>,
    /// Continue after this seq (the last seq of the previous page).
    pub after_seq: Option<i64>,
    /// At most this many entries (1–1000, default 100).
    pub limit: Option<u32>,
}

/// The audit log with filters — for the audit admin (审计管理员) only
/// (三员分立: the system and security admins cannot read it).
#[utoipa::path(get, path = "/api/v1/audit", params(AuditQuery),
    responses((status = 200, body = serde_json::Value), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn audit_log(
    State(state): State<AppState>,
    query: Result<axum::extract::Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<serde_json::Value>> {
    let axum::extract::Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let action = q
        .action
        .as_deref()
        .map(zhiyun_authz::AuditAction::parse)
        .transpose()
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    if q.limit.is_some_and(|l| l == 0 || l > 1000) {
        return Err(ApiError::bad_request("limit must be between 1 and 1000"));
    }
    let outcome = q
        .outcome
        .as_deref()
        .map(|o| {
            AuditOutcome::parse(o).ok_or_else(|| {
                ApiError::bad_request(format!("outcome must be ok, denied or error, got `{o}`"))
            })
        })
        .transpose()?;
    let order = match q.order.as_deref() {
        None | Some("newest") => zhiyun_authz::audit::Order::NewestFirst,
        Some("oldest") => zhiyun_authz::audit::Order::OldestFirst,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "order must be newest or oldest, got `{other}`"
            )));
        }
    };
    if let (Some(from), Some(to)) = (q.from, q.to)
        && from >= to
    {
        return Err(ApiError::bad_request("from must be before to"));
    }
    let filter = zhiyun_authz::AuditFilter {
        actor: q.actor,
        action,
        target_prefix: q.target,
        outcome,
        from: q.from,
        to: q.to,
        after_seq: q.after_seq,
        limit: q.limit,
        order,
    };
    let entries = state
        .audit
        .query(&filter)
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    json(entries)
}
