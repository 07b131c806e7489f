//! Handlers of `/api/v1`: login, package submission, review, lifecycle,
//! launch, department keys.

use super::AppState;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{ApiJson, JsonOrDefault, RawBody};
use crate::auth::{Caller, Role};
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

fn require(caller: &Caller, roles: &[Role], action: &str) -> ApiResult<()> {
    if roles.contains(&caller.role) {
        Ok(())
    } else {
        Err(ApiError::forbidden(format!(
            "{} ({:?}) may not {action}",
            caller.username, caller.role
        )))
    }
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

#[derive(Deserialize, ToSchema)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

#[derive(Serialize, ToSchema)]
pub struct LoginResponse {
    /// Send as `Authorization: Bearer <token>`.
    pub token: String,
    pub user: Caller,
}

/// Log in with a username and password; returns a bearer token.
#[utoipa::path(post, path = "/api/v1/login", request_body = LoginRequest, security(()),
    responses((status = 200, body = LoginResponse), (status = 401, body = ErrorBody)))]
pub async fn login(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<LoginRequest>,
) -> ApiResult<Json<LoginResponse>> {
    match state.auth.login(&req.username, &req.password) {
        Some((token, user)) => {
            state
                .audit(
                    &user.username,
                    &user.org_id,
                    "login.success",
                    &user.username,
                    AuditOutcome::Ok,
                    json!({}),
                )
                .await;
            Ok(Json(LoginResponse { token, user }))
        }
        None => {
            state
                .audit(
                    &req.username,
                    "",
                    "login.failure",
                    &req.username,
                    AuditOutcome::Denied,
                    json!({}),
                )
                .await;
            Err(ApiError::unauthorized("wrong username or password"))
        }
    }
}

pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    _caller: Caller,
) -> StatusCode {
    if let Some(token) = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
    {
        state.auth.logout(token.trim());
    }
    StatusCode::NO_CONTENT
}

/// The logged-in user.
#[utoipa::path(get, path = "/api/v1/me", responses((status = 200, body = Caller), (status = 401, body = ErrorBody)))]
pub async fn me(caller: Caller) -> Json<Caller> {
    Json(caller)
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
    require(&caller, &[Role::Developer, Role::Admin], "submit packages")?;
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

/// Apps and their live versions. Business users see only live apps.
#[utoipa::path(get, path = "/api/v1/apps", responses((status = 200, body = serde_json::Value)))]
pub async fn list_apps(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<serde_json::Value>> {
    let mut apps = state.apps.registry.apps().await?;
    if caller.role == Role::User {
        apps.retain(|a| {
            a.live
                .as_ref()
                .is_some_and(|v| v.state == zhiyun_apps::registry::VersionState::Published)
        });
    }
    json(apps)
}

/// Every version of an app, newest first.
#[utoipa::path(get, path = "/api/v1/apps/{id}/versions", params(("id" = String, Path)),
    responses((status = 200, body = serde_json::Value), (status = 404, body = ErrorBody)))]
pub async fn list_versions(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    require(&caller, &[Role::Developer, Role::Admin], "list versions")?;
    json(state.apps.registry.versions(&id).await?)
}

/// What a reviewer needs: manifest, real imports/exports, requested
/// datasets and limits, the diff against the live version, the trial run.
#[utoipa::path(get, path = "/api/v1/apps/{id}/versions/{version}/review",
    params(("id" = String, Path), ("version" = String, Path)),
    responses((status = 200, body = serde_json::Value), (status = 404, body = ErrorBody)))]
pub async fn review(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, version)): Path<(String, String)>,
) -> ApiResult<Json<serde_json::Value>> {
    require(&caller, &[Role::Admin, Role::Developer], "see reviews")?;
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
pub async fn pending(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<serde_json::Value>> {
    require(&caller, &[Role::Admin], "see the review queue")?;
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
    require(&caller, &[Role::Admin], "approve apps")?;
    let version = parse_version(&version)?;
    let record = state
        .apps
        .registry
        .approve(&id, &version, &caller.username, body.reason.as_deref())
        .await?;
    let detail = json!({ "reason": body.reason });
    audit_ok(
        &state,
        &caller,
        "app.approve",
        format!("app:{id}@{version}"),
        detail,
    )
    .await;
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
    require(&caller, &[Role::Admin], "reject apps")?;
    let reason = reason_required(&body, "reject")?;
    let version = parse_version(&version)?;
    json(
        state
            .apps
            .registry
            .reject(&id, &version, &caller.username, &reason)
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
    require(&caller, &[Role::Admin], "suspend apps")?;
    let reason = reason_required(&body, "suspend")?;
    json(
        state
            .apps
            .registry
            .suspend(&id, &caller.username, &reason)
            .await?,
    )
}

/// Lift a suspension.
#[utoipa::path(post, path = "/api/v1/apps/{id}/resume", params(("id" = String, Path)),
    responses((status = 200, body = serde_json::Value), (status = 409, body = ErrorBody)))]
pub async fn resume(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    require(&caller, &[Role::Admin], "resume apps")?;
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
    require(&caller, &[Role::Admin], "take apps offline")?;
    let reason = reason_required(&body, "take an app offline")?;
    json(
        state
            .apps
            .registry
            .offline(&id, &caller.username, &reason)
            .await?,
    )
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
    require(&caller, &[Role::Admin], "roll back apps")?;
    let reason = reason_required(
        &ReasonBody {
            reason: Some(body.reason),
        },
        "roll back",
    )?;
    let version = parse_version(&body.version)?;
    json(
        state
            .apps
            .registry
            .rollback(&id, &version, &caller.username, &reason)
            .await?,
    )
}

/// Every state change of an app, oldest first.
#[utoipa::path(get, path = "/api/v1/apps/{id}/history", params(("id" = String, Path)),
    responses((status = 200, body = serde_json::Value), (status = 404, body = ErrorBody)))]
pub async fn history(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    require(&caller, &[Role::Admin, Role::Developer], "see app history")?;
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
    let locale = match body.locale.as_deref() {
        None | Some("zh-CN") => "zh-CN",
        Some("en-US") => "en-US",
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "locale must be zh-CN or en-US, got `{other}`"
            )));
        }
    };
    let request_id = headers
        .get(super::REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_string();
    let result = state
        .apps
        .launch(&id, &body.params, &caller, locale, &request_id)
        .await;
    // Every launch is audited, refused and failed ones too.
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
            .request_id(&request_id),
        )
        .await;
    let (record, output, stats) = result?;
    Ok(Json(LaunchResponse {
        app_id: record.app_id.clone(),
        version: record.version.to_string(),
        output,
        duration_ms: stats.duration.as_secs_f64() * 1e3,
        host_calls: stats.host_calls,
        request_id,
    }))
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
    require(&caller, &[Role::Admin], "register department keys")?;
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
    /// Only this action, e.g. `login.failure`, `app.approve`.
    pub action: Option<String>,
    /// Continue after this seq (the last seq of the previous page).
    pub after_seq: Option<i64>,
    /// At most this many entries (1–1000, default 100).
    pub limit: Option<u32>,
}

/// The audit log, newest first, with filters. Interim: admins read it;
/// with the identity issue only the audit admin (审计管理员) will.
#[utoipa::path(get, path = "/api/v1/audit", params(AuditQuery),
    responses((status = 200, body = serde_json::Value), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn audit_log(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<axum::extract::Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<serde_json::Value>> {
    require(&caller, &[Role::Admin], "read the audit log")?;
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
    let filter = zhiyun_authz::AuditFilter {
        actor: q.actor,
        action,
        after_seq: q.after_seq,
        limit: q.limit,
        ..Default::default()
    };
    let entries = state
        .audit
        .query(&filter)
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    json(entries)
}
