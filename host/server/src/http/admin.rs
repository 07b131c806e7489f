//! Handlers of `/api/v1` for administration: users (系统管理员), roles and
//! the menu tree (read; changes to them are change requests), the audit
//! log's verification (审计管理员).

use super::AppState;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::ApiJson;
use crate::auth::Caller;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use zhiyun_authz::AuditOutcome;
use zhiyun_authz::identity::{IdentityError, UserStatus};
use zhiyun_store::now_micros;

fn identity_error(e: IdentityError) -> ApiError {
    let message = e.to_string();
    match e {
        IdentityError::NotFound(_) => ApiError::not_found(message),
        IdentityError::UserExists(_) => ApiError::new(StatusCode::CONFLICT, "conflict", message),
        IdentityError::Store(_) | IdentityError::Corrupt(_) => ApiError::internal(message),
        _ => ApiError::bad_request(message),
    }
}

#[derive(Serialize, ToSchema)]
pub struct UserEntry {
    pub username: String,
    pub display_name: String,
    pub org_id: String,
    /// active or disabled.
    pub status: String,
    pub locked_until: Option<i64>,
    pub last_login_at: Option<i64>,
    /// `role@org` of each post.
    pub posts: Vec<String>,
}

/// Every user with their posts.
#[utoipa::path(get, path = "/api/v1/users", responses((status = 200, body = Vec<UserEntry>)))]
pub async fn users(State(state): State<AppState>) -> ApiResult<Json<Vec<UserEntry>>> {
    let identity = &state.auth.identity;
    let mut out = Vec::new();
    for u in identity.users().await.map_err(identity_error)? {
        let posts = identity
            .posts(&u.username)
            .await
            .map_err(identity_error)?
            .into_iter()
            .map(|p| format!("{}@{}", p.role.id(), p.org_id))
            .collect();
        out.push(UserEntry {
            username: u.username,
            display_name: u.display_name,
            org_id: u.org_id,
            status: u.status.as_str().to_string(),
            locked_until: u.locked_until,
            last_login_at: u.last_login_at,
            posts,
        });
    }
    Ok(Json(out))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    pub username: String,
    pub display_name: String,
    pub org_id: String,
    /// An initial password meeting the policy (10+ characters, three of
    /// lowercase/uppercase/digit/symbol, not containing the username).
    pub password: String,
}

/// Create a user (no posts: roles are granted by change requests).
#[utoipa::path(post, path = "/api/v1/users", request_body = NewUser,
    responses((status = 201, body = serde_json::Value), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create_user(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<NewUser>,
) -> ApiResult<(StatusCode, Json<serde_json::Value>)> {
    let user = state
        .auth
        .identity
        .create_user(
            req.username.trim(),
            req.display_name.trim(),
            req.org_id.trim(),
            &req.password,
            now_micros(),
        )
        .await
        .map_err(identity_error)?;
    state
        .audit(
            &caller.username,
            &caller.org_id,
            "user.create",
            &format!("user/{}", user.username),
            AuditOutcome::Ok,
            json!({ "org_id": user.org_id }),
        )
        .await;
    Ok((StatusCode::CREATED, Json(json!(user))))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusBody {
    /// active or disabled.
    pub status: String,
}

/// Enable or disable a user. Disabling ends their sessions at once; their
/// API tokens stop working too.
#[utoipa::path(post, path = "/api/v1/users/{username}/status", params(("username" = String, Path)),
    request_body = StatusBody,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn set_status(
    State(state): State<AppState>,
    caller: Caller,
    Path(username): Path<String>,
    ApiJson(req): ApiJson<StatusBody>,
) -> ApiResult<StatusCode> {
    let status = match req.status.as_str() {
        "active" => UserStatus::Active,
        "disabled" => UserStatus::Disabled,
        other => {
            return Err(ApiError::bad_request(format!(
                "status must be active or disabled, got `{other}`"
            )));
        }
    };
    if username == caller.username && status == UserStatus::Disabled {
        return Err(ApiError::bad_request("you cannot disable your own account"));
    }
    let now = now_micros();
    state
        .auth
        .identity
        .set_status(&username, status, now)
        .await
        .map_err(identity_error)?;
    if status == UserStatus::Disabled {
        state
            .auth
            .sessions
            .revoke_user(&username, now)
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?;
    }
    state
        .audit(
            &caller.username,
            &caller.org_id,
            "user.status",
            &format!("user/{username}"),
            AuditOutcome::Ok,
            json!({ "status": status.as_str() }),
        )
        .await;
    Ok(StatusCode::NO_CONTENT)
}

/// The roles, with their default data scope, highest unmasked sensitivity
/// level and the actions they hold.
#[utoipa::path(get, path = "/api/v1/roles", responses((status = 200, body = serde_json::Value)))]
pub async fn roles(State(state): State<AppState>) -> ApiResult<Json<serde_json::Value>> {
    let roles = state.auth.identity.roles().await.map_err(identity_error)?;
    let held: Vec<(String, String)> =
        sqlx::query_as("SELECT role_id, action FROM role_actions ORDER BY role_id, action")
            .fetch_all(state.store.pool())
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(Json(json!(
        roles
            .into_iter()
            .map(|r| {
                let actions: Vec<&str> = held
                    .iter()
                    .filter(|(role, _)| role == r.role.id())
                    .map(|(_, action)| action.as_str())
                    .collect();
                json!({
                    "role_id": r.role.id(),
                    "name": r.name,
                    "data_scope": r.data_scope,
                    "max_sensitivity": r.max_sensitivity,
                    "actions": actions,
                })
            })
            .collect::<Vec<_>>()
    )))
}

/// The whole menu tree with the roles that see each entry.
#[utoipa::path(get, path = "/api/v1/menus", responses((status = 200, body = serde_json::Value)))]
pub async fn menus(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(json!(state.auth.policy.menus()))
}

/// Verify the audit log's hash chain; names the first broken link.
#[utoipa::path(get, path = "/api/v1/audit/verify", responses((status = 200, body = serde_json::Value)))]
pub async fn verify_audit(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<serde_json::Value>> {
    let report = state
        .audit
        .verify()
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let head = state
        .audit
        .head()
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    state
        .audit(
            &caller.username,
            &caller.org_id,
            "audit.verify",
            "audit",
            AuditOutcome::Ok,
            json!({ "ok": report.is_ok() }),
        )
        .await;
    Ok(Json(json!({
        "ok": report.is_ok(),
        "report": report.to_string(),
        "head": head.to_string(),
    })))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOrg {
    pub org_id: String,
    /// The org's code in the group's code set (defaults to the id).
    #[serde(default)]
    pub code: Option<String>,
    pub name: String,
    pub parent_id: String,
    /// secondary-unit, county-company, supply-station or department.
    pub kind: String,
}

/// Add an org under an existing one. Every host reloads the tree (data
/// scopes resolve against it).
#[utoipa::path(post, path = "/api/v1/orgs", request_body = NewOrg,
    responses((status = 201, body = serde_json::Value), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create_org(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<NewOrg>,
) -> ApiResult<(StatusCode, Json<serde_json::Value>)> {
    use zhiyun_authz::org::{Org, OrgError, OrgKind};
    let kind = OrgKind::parse(&req.kind).ok_or_else(|| {
        ApiError::bad_request(format!(
            "kind must be secondary-unit, county-company, supply-station or department, got `{}`",
            req.kind
        ))
    })?;
    let org = Org {
        id: req.org_id.trim().to_string(),
        code: req
            .code
            .as_deref()
            .unwrap_or(&req.org_id)
            .trim()
            .to_string(),
        name: req.name.trim().to_string(),
        parent_id: Some(req.parent_id.trim().to_string()),
        kind,
    };
    zhiyun_authz::org::insert(&state.store, &org)
        .await
        .map_err(|e| match e {
            OrgError::Store(_) => ApiError::internal(e.to_string()),
            OrgError::DuplicateId(_) | OrgError::DuplicateCode(_) => {
                ApiError::new(StatusCode::CONFLICT, "conflict", e.to_string())
            }
            _ => ApiError::bad_request(e.to_string()),
        })?;
    state.policy_changed().await;
    state
        .audit(
            &caller.username,
            &caller.org_id,
            "org.create",
            &format!("org/{}", org.id),
            AuditOutcome::Ok,
            json!({ "parent_id": org.parent_id, "name": org.name, "kind": req.kind }),
        )
        .await;
    Ok((
        StatusCode::CREATED,
        Json(
            json!({ "org_id": org.id, "code": org.code, "name": org.name,
                     "parent_id": org.parent_id, "kind": req.kind }),
        ),
    ))
}
