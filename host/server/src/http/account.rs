//! Handlers of `/api/v1` for the caller's own account: login and logout
//! (cookie sessions), who am I, my menus, my API tokens, the orgs I may
//! pick.

use super::AppState;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::ApiJson;
use crate::auth::{Caller, Credential, TOKEN_SCOPES, login_error, session_cookie};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use zhiyun_authz::AuditOutcome;
use zhiyun_authz::scope::DataScope;
use zhiyun_store::now_micros;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

#[derive(Serialize, ToSchema)]
pub struct LoginResponse {
    pub user: Caller,
    /// Send as `X-CSRF-Token` with every write made with the session cookie.
    pub csrf_token: String,
    /// When the session ends at the latest (µs since the epoch, UTC).
    pub expires_at: i64,
    /// The session ends after this many seconds without a request.
    pub idle_timeout_seconds: i64,
}

/// Log in with a username and password. Sets the `zhiyun_session` cookie
/// (HttpOnly, SameSite=Strict) and returns the CSRF token for writes.
/// After 5 wrong passwords in a row the account is locked for 15 minutes
/// (`403 locked`, with `detail.locked_until`).
#[utoipa::path(post, path = "/api/v1/login", request_body = LoginRequest, security(()),
    responses((status = 200, body = LoginResponse), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<LoginRequest>,
) -> ApiResult<Response> {
    let username = req.username.trim();
    if username.is_empty() || username.len() > 128 {
        return Err(ApiError::bad_request(
            "username must be 1 to 128 characters",
        ));
    }
    if req.password.is_empty() || req.password.len() > 1024 {
        return Err(ApiError::bad_request("password must be 1 to 1024 bytes"));
    }
    let now = now_micros();
    let user = match state
        .auth
        .identity
        .authenticate(username, &req.password, now)
        .await
    {
        Ok(user) => user,
        Err(e) => {
            let err = login_error(e);
            if err.status != StatusCode::INTERNAL_SERVER_ERROR {
                state
                    .audit(
                        username,
                        "",
                        "login.failure",
                        &format!("user/{username}"),
                        AuditOutcome::Denied,
                        json!({ "code": err.code }),
                    )
                    .await;
            }
            return Err(err);
        }
    };
    let agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.chars().take(200).collect::<String>());
    let session = state
        .auth
        .sessions
        .create(&user.username, now, agent.as_deref())
        .await
        .map_err(|e| ApiError::internal(format!("creating the session: {e}")))?;
    let caller = state
        .auth
        .caller(
            &user.username,
            Credential::Session {
                csrf_token: session.csrf_token.clone(),
            },
        )
        .await?;
    state
        .audit(
            &caller.username,
            &caller.org_id,
            "login.success",
            &format!("user/{}", caller.username),
            AuditOutcome::Ok,
            json!({}),
        )
        .await;
    let body = LoginResponse {
        user: caller,
        csrf_token: session.csrf_token,
        expires_at: session.session.expires_at,
        idle_timeout_seconds: state.auth.sessions.config().idle_timeout_micros / 1_000_000,
    };
    Ok((
        [(header::SET_COOKIE, state.auth.session_cookie(&session.id))],
        Json(body),
    )
        .into_response())
}

/// End the session and remove its cookie.
#[utoipa::path(post, path = "/api/v1/logout", responses((status = 204)))]
pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    caller: Caller,
) -> ApiResult<Response> {
    if let Some(id) = session_cookie(&headers) {
        state
            .auth
            .sessions
            .revoke(&id, now_micros())
            .await
            .map_err(|e| ApiError::internal(format!("ending the session: {e}")))?;
    }
    state
        .audit(
            &caller.username,
            &caller.org_id,
            "logout",
            &format!("user/{}", caller.username),
            AuditOutcome::Ok,
            json!({}),
        )
        .await;
    Ok((
        StatusCode::NO_CONTENT,
        [(header::SET_COOKIE, state.auth.clear_cookie())],
    )
        .into_response())
}

/// The logged-in user.
#[utoipa::path(get, path = "/api/v1/me", responses((status = 200, body = Caller), (status = 401, body = ErrorBody)))]
pub async fn me(caller: Caller) -> Json<Caller> {
    Json(caller)
}

/// The caller's menu tree: the entries their roles are granted (with their
/// ancestors, for navigation); app entries only for apps that are live.
#[utoipa::path(get, path = "/api/v1/me/menus", responses((status = 200, body = serde_json::Value)))]
pub async fn my_menus(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<serde_json::Value>> {
    let live: std::collections::HashSet<String> = state
        .apps
        .registry
        .apps()
        .await?
        .into_iter()
        .filter(|a| {
            a.live
                .as_ref()
                .is_some_and(|v| v.state == zhiyun_apps::registry::VersionState::Published)
        })
        .map(|a| a.app_id)
        .collect();
    let mut menus = state.auth.policy.menus_for(&caller.username);
    prune_menus(&mut menus, &|app| live.contains(app));
    Ok(Json(json!(menus)))
}

/// Drops app entries whose app is not live. Directories stay, empty ones
/// too (the portal's own pages — 系统管理, 审计 — hang there).
fn prune_menus(nodes: &mut Vec<zhiyun_authz::MenuNode>, live: &dyn Fn(&str) -> bool) {
    for n in nodes.iter_mut() {
        prune_menus(&mut n.children, live);
    }
    nodes.retain(|n| n.app_id.as_deref().is_none_or(live));
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    /// What the token is for, e.g. "nightly export script".
    pub name: String,
    /// Any of `read`, `launch`, `submit`, `admin`.
    pub scopes: Vec<String>,
    /// Lifetime in days, 1–366 (default 90).
    #[serde(default)]
    pub expires_in_days: Option<i64>,
}

/// Create a personal API token. The token is in this answer only; the
/// server keeps its hash.
#[utoipa::path(post, path = "/api/v1/tokens", request_body = TokenRequest,
    responses((status = 201, body = serde_json::Value), (status = 400, body = ErrorBody)))]
pub async fn create_token(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<TokenRequest>,
) -> ApiResult<(StatusCode, Json<serde_json::Value>)> {
    let name = req.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::bad_request("name must be 1 to 100 characters"));
    }
    if req.scopes.is_empty() {
        return Err(ApiError::bad_request(format!(
            "scopes must list at least one of: {}",
            scope_names()
        )));
    }
    if let Some(bad) = req
        .scopes
        .iter()
        .find(|s| !TOKEN_SCOPES.iter().any(|(n, _)| n == s))
    {
        return Err(ApiError::bad_request(format!(
            "unknown scope `{bad}`; scopes are: {}",
            scope_names()
        )));
    }
    let days = req.expires_in_days.unwrap_or(90);
    if !(1..=366).contains(&days) {
        return Err(ApiError::bad_request(format!(
            "expires_in_days must be 1 to 366, got {days}"
        )));
    }
    let now = now_micros();
    let scopes: Vec<&str> = req.scopes.iter().map(String::as_str).collect();
    let (token, info) = state
        .auth
        .identity
        .create_token(
            &caller.username,
            name,
            &scopes,
            now + days * 86_400 * 1_000_000,
            now,
        )
        .await
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    state
        .audit(
            &caller.username,
            &caller.org_id,
            "token.create",
            &format!("token/{}", info.token_id),
            AuditOutcome::Ok,
            json!({ "name": info.name, "scopes": info.scopes, "expires_at": info.expires_at }),
        )
        .await;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "token": token, "info": info })),
    ))
}

fn scope_names() -> String {
    TOKEN_SCOPES
        .iter()
        .map(|(n, _)| *n)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The caller's API tokens (never their secrets).
#[utoipa::path(get, path = "/api/v1/tokens", responses((status = 200, body = serde_json::Value)))]
pub async fn list_tokens(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<serde_json::Value>> {
    let tokens = state
        .auth
        .identity
        .tokens(&caller.username)
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(Json(json!(tokens)))
}

/// Revoke one of the caller's API tokens.
#[utoipa::path(post, path = "/api/v1/tokens/{id}/revoke", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn revoke_token(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let mine = state
        .auth
        .identity
        .tokens(&caller.username)
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .into_iter()
        .any(|t| t.token_id == id);
    if !mine {
        return Err(ApiError::not_found(format!(
            "{} has no API token `{id}`",
            caller.username
        )));
    }
    state
        .auth
        .identity
        .revoke_token(&id, &caller.username, now_micros())
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    state.auth.forget_token(&id);
    // Other hosts drop their cached checks when the version moves.
    state.policy_changed().await;
    state
        .audit(
            &caller.username,
            &caller.org_id,
            "token.revoke",
            &format!("token/{id}"),
            AuditOutcome::Ok,
            json!({}),
        )
        .await;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct OrgEntry {
    pub org_id: String,
    pub name: String,
    pub parent_id: Option<String>,
    /// secondary-unit, county-company, supply-station or department.
    pub kind: String,
    /// 0 for the root.
    pub level: u32,
}

/// The orgs the caller may pick (for filters): the whole tree for holders
/// of `org.read`, otherwise the orgs their data scopes reach.
#[utoipa::path(get, path = "/api/v1/orgs", responses((status = 200, body = Vec<OrgEntry>)))]
pub async fn orgs(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Vec<OrgEntry>>> {
    let policy = &state.auth.policy;
    let tree = policy.org_tree();
    let all = policy.allows_action(&caller.username, "org.read");
    let mut reach = std::collections::BTreeSet::new();
    if !all {
        let ctx = policy
            .user_ctx(&caller.username)
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?;
        for post in &ctx.posts {
            match &post.scope {
                DataScope::All => {
                    reach.extend(tree.iter().map(|o| o.id().to_string()));
                }
                DataScope::OrgAndBelow => {
                    if let Some(sub) = tree.subtree(&post.org_id) {
                        reach.extend(sub.iter().cloned());
                    }
                }
                DataScope::OrgOnly => {
                    reach.insert(post.org_id.clone());
                }
                DataScope::Custom(orgs) => reach.extend(orgs.iter().cloned()),
                DataScope::SelfOnly => {
                    reach.insert(caller.org_id.clone());
                }
            }
        }
    }
    Ok(Json(
        tree.iter()
            .filter(|o| all || reach.contains(o.id()))
            .map(|o| OrgEntry {
                org_id: o.id().to_string(),
                name: o.name().to_string(),
                parent_id: o.parent().map(|p| p.id().to_string()),
                kind: o.kind().as_str().to_string(),
                level: o.level(),
            })
            .collect(),
    ))
}
