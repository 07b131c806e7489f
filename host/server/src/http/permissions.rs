//! Who may call which endpoint: **one table** ([`ENDPOINTS`]) and the
//! middleware that enforces it ([`authorize`]) in front of every `/api/v1`
//! route.
//!
//! The middleware looks up the matched route (method + path pattern). A
//! route without an entry is refused (fail closed) and logged as a bug, so
//! a new endpoint cannot be reachable before someone decided who may call
//! it; the permission-matrix test (`tests/e2e/permissions.rs`) walks the
//! same table against every demo role, and fails on an endpoint it has no
//! expectation for.
//!
//! Decisions come from the casbin policy (`zhiyun_authz::Policy`): an
//! [`Access::Action`] is `action:<name>` / `do`; [`Access::UseApp`] is
//! `app:<id>` / `use` (the app is placed on a menu the user's roles see).
//! Object-level checks that depend on the request body (which kind of
//! change request, whose token) are the handler's, on top of this.

use super::AppState;
use super::error::ApiError;
use crate::auth::{Caller, Credential};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// What an endpoint requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone (the login).
    Public,
    /// Any logged-in user; the handler limits what they see or do.
    LoggedIn,
    /// Holders of this action.
    Action(&'static str),
    /// Holders of any of these actions.
    AnyAction(&'static [&'static str]),
    /// Users who may use the app named by the path's `{id}`.
    UseApp,
    /// Users who may use the app and hold the action (export).
    UseAppAnd(&'static str),
}

/// Which API-token scope an endpoint needs (see `auth::TOKEN_SCOPES`);
/// `None`: not with a token at all (sessions and tokens are managed in a
/// browser session only, so a leaked token cannot mint another).
pub type TokenScope = Option<&'static str>;

#[derive(Debug, Clone, Copy)]
pub struct Endpoint {
    pub method: &'static str,
    /// The route as registered, under `/api/v1`.
    pub path: &'static str,
    pub access: Access,
    pub token_scope: TokenScope,
}

const fn ep(
    method: &'static str,
    path: &'static str,
    access: Access,
    token_scope: TokenScope,
) -> Endpoint {
    Endpoint {
        method,
        path,
        access,
        token_scope,
    }
}

use Access::*;

const READ: TokenScope = Some("read");
const LAUNCH: TokenScope = Some("launch");
const SUBMIT: TokenScope = Some("submit");
const ADMIN: TokenScope = Some("admin");
const SERVICES: TokenScope = Some("services");
const SESSION_ONLY: TokenScope = None;

const REVIEWS: &[&str] = &["app.submit", "app.review"];
const APP_HISTORY: &[&str] = &["app.submit", "app.review", "app.operate"];

/// Every `/api/v1` endpoint and who may call it.
pub const ENDPOINTS: &[Endpoint] = &[
    // Account
    ep("POST", "/api/v1/login", Public, SESSION_ONLY),
    ep("POST", "/api/v1/logout", LoggedIn, SESSION_ONLY),
    ep("GET", "/api/v1/me", LoggedIn, READ),
    ep("GET", "/api/v1/me/menus", LoggedIn, READ),
    ep("GET", "/api/v1/tokens", LoggedIn, SESSION_ONLY),
    ep("POST", "/api/v1/tokens", LoggedIn, SESSION_ONLY),
    ep("POST", "/api/v1/tokens/{id}/revoke", LoggedIn, SESSION_ONLY),
    ep("GET", "/api/v1/orgs", LoggedIn, READ),
    // Apps: submission, review, lifecycle, launch
    ep("POST", "/api/v1/packages", Action("app.submit"), SUBMIT),
    ep("POST", "/api/v1/keys", Action("key.register"), ADMIN),
    ep("GET", "/api/v1/reviews", Action("app.review"), READ),
    ep("GET", "/api/v1/apps", LoggedIn, READ),
    ep(
        "GET",
        "/api/v1/apps/{id}/versions",
        AnyAction(REVIEWS),
        READ,
    ),
    ep(
        "GET",
        "/api/v1/apps/{id}/versions/{version}/review",
        AnyAction(REVIEWS),
        READ,
    ),
    ep(
        "POST",
        "/api/v1/apps/{id}/versions/{version}/approve",
        Action("app.review"),
        ADMIN,
    ),
    ep(
        "POST",
        "/api/v1/apps/{id}/versions/{version}/reject",
        Action("app.review"),
        ADMIN,
    ),
    ep(
        "POST",
        "/api/v1/apps/{id}/suspend",
        Action("app.operate"),
        ADMIN,
    ),
    ep(
        "POST",
        "/api/v1/apps/{id}/resume",
        Action("app.operate"),
        ADMIN,
    ),
    ep(
        "POST",
        "/api/v1/apps/{id}/offline",
        Action("app.operate"),
        ADMIN,
    ),
    ep(
        "POST",
        "/api/v1/apps/{id}/rollback",
        Action("app.operate"),
        ADMIN,
    ),
    ep(
        "GET",
        "/api/v1/apps/{id}/history",
        AnyAction(APP_HISTORY),
        READ,
    ),
    ep("POST", "/api/v1/apps/{id}/launch", UseApp, LAUNCH),
    ep(
        "POST",
        "/api/v1/apps/{id}/export",
        UseAppAnd("data.export"),
        LAUNCH,
    ),
    // Change requests (the handler checks the kind's create/review action)
    ep("GET", "/api/v1/changes", LoggedIn, READ),
    ep("POST", "/api/v1/changes", LoggedIn, ADMIN),
    ep("GET", "/api/v1/changes/{id}", LoggedIn, READ),
    ep("POST", "/api/v1/changes/{id}/approve", LoggedIn, ADMIN),
    ep("POST", "/api/v1/changes/{id}/reject", LoggedIn, ADMIN),
    ep("POST", "/api/v1/changes/{id}/withdraw", LoggedIn, ADMIN),
    // Administration
    ep("POST", "/api/v1/orgs", Action("org.manage"), ADMIN),
    ep("GET", "/api/v1/users", Action("user.read"), READ),
    ep("POST", "/api/v1/users", Action("user.manage"), ADMIN),
    ep(
        "POST",
        "/api/v1/users/{username}/status",
        Action("user.manage"),
        ADMIN,
    ),
    ep("GET", "/api/v1/roles", Action("policy.read"), READ),
    ep("GET", "/api/v1/menus", Action("policy.read"), READ),
    // Data (the handler goes through the governed path: scope ∩ grant)
    ep("GET", "/api/v1/datasets", LoggedIn, READ),
    ep("GET", "/api/v1/datasets/{name}/rows", LoggedIn, READ),
    // Data services (数据服务): proposing files a change request; a call
    // reads through the governed path as the caller (scope ∩ the service's
    // grant), so any logged-in user may try.
    ep("GET", "/api/v1/data-services", LoggedIn, READ),
    ep(
        "POST",
        "/api/v1/data-services",
        Action("service.propose"),
        SUBMIT,
    ),
    ep("GET", "/api/v1/data-services/{name}", LoggedIn, READ),
    ep(
        "POST",
        "/api/v1/data-services/{name}/retire",
        Action("service.retire"),
        ADMIN,
    ),
    ep("GET", "/api/v1/services/{name}", LoggedIn, SERVICES),
    // Data warehouse: backflow batches (系统管理员)
    ep(
        "GET",
        "/api/v1/warehouse/batches",
        Action("warehouse.load"),
        READ,
    ),
    ep(
        "POST",
        "/api/v1/warehouse/batches",
        Action("warehouse.load"),
        ADMIN,
    ),
    ep(
        "GET",
        "/api/v1/warehouse/jobs/{id}",
        Action("warehouse.load"),
        READ,
    ),
    ep(
        "GET",
        "/api/v1/warehouse/batches/{batch_id}/tables",
        Action("warehouse.load"),
        READ,
    ),
    ep(
        "POST",
        "/api/v1/warehouse/batches/{batch_id}/reconcile",
        Action("warehouse.load"),
        ADMIN,
    ),
    ep(
        "GET",
        "/api/v1/warehouse/batches/{batch_id}/tables/{table}/reconciliation",
        Action("warehouse.load"),
        READ,
    ),
    ep(
        "GET",
        "/api/v1/warehouse/batches/{batch_id}/quarantine",
        Action("warehouse.load"),
        READ,
    ),
    // Data catalog (数据目录)
    ep(
        "GET",
        "/api/v1/catalog/search",
        Action("catalog.read"),
        READ,
    ),
    ep(
        "GET",
        "/api/v1/catalog/tables/{name}",
        Action("catalog.read"),
        READ,
    ),
    ep(
        "GET",
        "/api/v1/catalog/directory",
        Action("catalog.read"),
        READ,
    ),
    ep(
        "POST",
        "/api/v1/catalog/refresh",
        Action("warehouse.load"),
        ADMIN,
    ),
    ep(
        "POST",
        "/api/v1/catalog/tables/{name}/columns/{column}/sensitivity",
        Action("catalog.classify"),
        ADMIN,
    ),
    // Models (模型): browse like the catalog, build like a load
    ep("GET", "/api/v1/models", Action("catalog.read"), READ),
    ep("GET", "/api/v1/models/builds", Action("catalog.read"), READ),
    ep(
        "POST",
        "/api/v1/models/builds",
        Action("warehouse.load"),
        ADMIN,
    ),
    ep("GET", "/api/v1/models/{name}", Action("catalog.read"), READ),
    ep(
        "GET",
        "/api/v1/models/{name}/lineage",
        Action("catalog.read"),
        READ,
    ),
    // Audit (审计管理员 only)
    ep("GET", "/api/v1/audit", Action("audit.read"), READ),
    ep("GET", "/api/v1/audit/verify", Action("audit.read"), READ),
];

pub fn lookup(method: &Method, path: &str) -> Option<&'static Endpoint> {
    ENDPOINTS
        .iter()
        .find(|e| e.method == method.as_str() && e.path == path)
}

/// Whether `caller` passes `access` for a request to the app `app_id`
/// (the path's `{id}`, for the app guards).
pub fn allows(state: &AppState, caller: &Caller, access: Access, app_id: Option<&str>) -> bool {
    let policy = &state.auth.policy;
    let user = caller.username.as_str();
    match access {
        Public | LoggedIn => true,
        Action(a) => policy.allows_action(user, a),
        AnyAction(actions) => actions.iter().any(|a| policy.allows_action(user, a)),
        UseApp => app_id.is_some_and(|id| policy.can_use_app(user, id)),
        UseAppAnd(a) => {
            app_id.is_some_and(|id| policy.can_use_app(user, id)) && policy.allows_action(user, a)
        }
    }
}

/// The middleware: authenticates, checks the table, and hands the
/// [`Caller`] to the handler (as a request extension).
pub async fn authorize(
    State(state): State<AppState>,
    matched: Option<MatchedPath>,
    mut req: Request,
    next: Next,
) -> Response {
    let Some(path) = matched else {
        // No route matched: the router's fallback answers (404).
        return next.run(req).await;
    };
    let Some(endpoint) = lookup(req.method(), path.as_str()) else {
        if ENDPOINTS.iter().any(|e| e.path == path.as_str()) {
            // A known endpoint, another method: what the router would say.
            return ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "this endpoint does not accept that method",
            )
            .into_response();
        }
        tracing::error!(method = %req.method(), path = path.as_str(),
            "an endpoint without an entry in http::permissions::ENDPOINTS was refused");
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "access-denied",
            "this endpoint has no permission entry, so nobody may call it",
        )
        .into_response();
    };
    if endpoint.access == Public {
        return next.run(req).await;
    }
    let caller = match state.auth.authenticate(req.headers(), req.method()).await {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    if let Credential::Token { scopes, .. } = &caller.credential {
        let ok = match endpoint.token_scope {
            None => false,
            Some(scope) => scopes.iter().any(|s| s == scope),
        };
        if !ok {
            return ApiError::forbidden(match endpoint.token_scope {
                None => format!(
                    "{} {} is for a browser session only, not an API token",
                    endpoint.method, endpoint.path
                ),
                Some(scope) => format!(
                    "this API token lacks the `{scope}` scope that {} {} needs",
                    endpoint.method, endpoint.path
                ),
            })
            .into_response();
        }
    }
    let app_id = app_id_of(endpoint.path, req.uri().path());
    if !allows(&state, &caller, endpoint.access, app_id.as_deref()) {
        return ApiError::forbidden(denial(&caller, endpoint, app_id.as_deref())).into_response();
    }
    req.extensions_mut().insert(caller);
    next.run(req).await
}

fn denial(caller: &Caller, endpoint: &Endpoint, app_id: Option<&str>) -> String {
    let who = format!("{} ({})", caller.username, caller.roles.join(", "));
    match endpoint.access {
        Action(a) => format!("{who} may not do `{a}`"),
        AnyAction(a) => format!("{who} may not do any of `{}`", a.join("`, `")),
        UseApp => format!(
            "{who} may not use the app `{}`: it is not on any menu of their roles",
            app_id.unwrap_or("?")
        ),
        UseAppAnd(a) => format!(
            "{who} may not use the app `{}` or may not do `{a}`",
            app_id.unwrap_or("?")
        ),
        Public | LoggedIn => format!("{who} may not call this endpoint"),
    }
}

/// The `{id}` segment of `actual` for an `/apps/{id}/…` route. Counted
/// from the end: inside the nested `/api/v1` router the request's path has
/// lost its prefix, the pattern has not.
fn app_id_of(pattern: &str, actual: &str) -> Option<String> {
    if !pattern.starts_with("/api/v1/apps/{id}") {
        return None;
    }
    let from_end = pattern.split('/').rev().position(|s| s == "{id}")?;
    actual
        .split('/')
        .rev()
        .nth(from_end)
        .filter(|s| !s.is_empty())
        .map(percent_decode)
}

/// Decodes `%XX` escapes (what axum's `Path` extractor does too, so the
/// check and the handler see the same id).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(b) => {
                out.push(b);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The caller the middleware authenticated. Every handler behind
/// [`authorize`] may take it; it is never built from the request itself.
impl axum::extract::FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &AppState,
    ) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| ApiError::unauthorized("log in first"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use utoipa::OpenApi;

    #[test]
    fn every_documented_endpoint_has_exactly_one_entry_and_every_entry_is_documented() {
        let doc = super::super::ApiDoc::openapi();
        let mut documented = Vec::new();
        for (path, item) in doc.paths.paths.iter() {
            for (method, op) in [
                ("GET", &item.get),
                ("POST", &item.post),
                ("PUT", &item.put),
                ("DELETE", &item.delete),
                ("PATCH", &item.patch),
            ] {
                if op.is_some() && path.starts_with("/api/v1/") {
                    documented.push((method, path.clone()));
                }
            }
        }
        for (method, path) in &documented {
            let n = ENDPOINTS
                .iter()
                .filter(|e| e.method == *method && e.path == path)
                .count();
            assert_eq!(n, 1, "{method} {path}: {n} entries in ENDPOINTS");
        }
        for e in ENDPOINTS {
            assert!(
                documented
                    .iter()
                    .any(|(m, p)| *m == e.method && p == e.path),
                "{} {} is in ENDPOINTS but not in the OpenAPI document",
                e.method,
                e.path
            );
        }
    }

    #[test]
    fn app_ids_are_taken_from_app_routes_only() {
        assert_eq!(
            app_id_of(
                "/api/v1/apps/{id}/launch",
                "/api/v1/apps/fund-position/launch"
            )
            .as_deref(),
            Some("fund-position")
        );
        assert_eq!(
            app_id_of("/api/v1/apps/{id}/launch", "/api/v1/apps/a%2Db/launch").as_deref(),
            Some("a-b")
        );
        assert_eq!(
            app_id_of(
                "/api/v1/apps/{id}/versions/{version}/review",
                "/apps/x/versions/1.0.0/review"
            )
            .as_deref(),
            Some("x")
        );
        assert_eq!(app_id_of("/api/v1/changes/{id}", "/api/v1/changes/3"), None);
    }
}
