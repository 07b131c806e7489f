//! The permission matrix: every role × every endpoint (and the actions an
//! endpoint's body selects), against the real server on SQLite and on
//! PostgreSQL, from **one table** ([`MATRIX`]) written from the product's
//! rules — not from the server's own permission table.
//!
//! A row names the roles that may do it; every other role must get
//! `403 access-denied`, and an allowed role anything but 401/403 (a 400 or
//! 404 means the permission check passed and the handler looked at the
//! request). The test also reads the OpenAPI document and fails if an
//! endpoint has no row: a new endpoint cannot ship without someone deciding
//! who may call it.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::BTreeSet;

const SYS: &str = "system-admin";
const SEC: &str = "security-admin";
const AUD: &str = "audit-admin";
const DEV: &str = "developer";
const REV: &str = "reviewer";
const LEAD: &str = "unit-leader";
const BIZ: &str = "business-user";
const ALL: &[&str] = &[SYS, SEC, AUD, DEV, REV, LEAD, BIZ];

/// One demo account per role (each holds exactly that role).
const USERS: &[(&str, &str)] = &[
    (SYS, "sysadmin"),
    (SEC, "secadmin"),
    (AUD, "auditadmin"),
    (DEV, "dev.cw"),
    (REV, "reviewer"),
    (LEAD, "leader.3300"),
    (BIZ, "user.3301"),
];

struct Row {
    method: &'static str,
    /// The route pattern as documented.
    pattern: &'static str,
    /// The concrete path to call.
    path: &'static str,
    /// `None`: no body.
    body: Option<fn() -> Value>,
    allowed: &'static [&'static str],
}

const fn row(
    method: &'static str,
    pattern: &'static str,
    path: &'static str,
    body: Option<fn() -> Value>,
    allowed: &'static [&'static str],
) -> Row {
    Row {
        method,
        pattern,
        path,
        body,
        allowed,
    }
}

fn empty() -> Value {
    json!({})
}

fn no_such_batch() -> Value {
    json!({ "batch": "no-such-batch" })
}

fn secret_level() -> Value {
    json!({ "level": "secret" })
}

fn unknown_model() -> Value {
    json!({ "select": ["ads_none"] })
}

const CATALOG_READERS: &[&str] = &[SYS, SEC, DEV, REV, LEAD];

/// The product's rules. Bodies are chosen so an allowed call has no lasting
/// effect on the next row (invalid on purpose, or about something absent).
const MATRIX: &[Row] = &[
    // Every logged-in user: their own account, menus, tokens, orgs.
    row("POST", "/api/v1/logout", "/api/v1/logout", None, ALL),
    row("GET", "/api/v1/me", "/api/v1/me", None, ALL),
    row("GET", "/api/v1/me/menus", "/api/v1/me/menus", None, ALL),
    row("GET", "/api/v1/tokens", "/api/v1/tokens", None, ALL),
    row("POST", "/api/v1/tokens", "/api/v1/tokens", Some(empty), ALL),
    row(
        "POST",
        "/api/v1/tokens/{id}/revoke",
        "/api/v1/tokens/none/revoke",
        None,
        ALL,
    ),
    row("GET", "/api/v1/orgs", "/api/v1/orgs", None, ALL),
    row("GET", "/api/v1/apps", "/api/v1/apps", None, ALL),
    row("GET", "/api/v1/changes", "/api/v1/changes", None, ALL),
    row(
        "GET",
        "/api/v1/changes/{id}",
        "/api/v1/changes/999999",
        None,
        ALL,
    ),
    row(
        "POST",
        "/api/v1/changes/{id}/approve",
        "/api/v1/changes/999999/approve",
        None,
        ALL,
    ),
    row(
        "POST",
        "/api/v1/changes/{id}/reject",
        "/api/v1/changes/999999/reject",
        Some(|| json!({"reason": "x"})),
        ALL,
    ),
    row(
        "POST",
        "/api/v1/changes/{id}/withdraw",
        "/api/v1/changes/999999/withdraw",
        None,
        ALL,
    ),
    row("GET", "/api/v1/datasets", "/api/v1/datasets", None, ALL),
    // Filing change requests: the kind decides.
    row(
        "POST",
        "/api/v1/changes",
        "/api/v1/changes",
        Some(|| {
            json!({"kind": "role-grant", "payload":
                {"username": "user.3302", "role_id": "unit-leader", "org_id": "3302"}})
        }),
        &[SYS, SEC],
    ),
    row(
        "POST",
        "/api/v1/changes",
        "/api/v1/changes",
        Some(|| {
            json!({"kind": "menu-change", "payload":
                {"op": "add", "menu_id": "matrix", "title": "矩阵"}})
        }),
        &[SYS, SEC],
    ),
    // 数据申请 for oneself: every non-admin role.
    row(
        "POST",
        "/api/v1/changes",
        "/api/v1/changes",
        Some(|| {
            json!({"kind": "dataset-access", "payload": {"dataset": "fund_daily",
            "applicant": {"type": "user", "username": "__self__"}, "purpose": "矩阵"}})
        }),
        &[DEV, REV, LEAD, BIZ],
    ),
    // Apps.
    row(
        "POST",
        "/api/v1/packages",
        "/api/v1/packages",
        Some(empty),
        &[DEV],
    ),
    row("POST", "/api/v1/keys", "/api/v1/keys", Some(empty), &[SEC]),
    row(
        "GET",
        "/api/v1/reviews",
        "/api/v1/reviews",
        None,
        &[SYS, REV],
    ),
    row(
        "GET",
        "/api/v1/apps/{id}/versions",
        "/api/v1/apps/fund-position/versions",
        None,
        &[SYS, DEV, REV],
    ),
    row(
        "GET",
        "/api/v1/apps/{id}/versions/{version}/review",
        "/api/v1/apps/fund-position/versions/9.9.9/review",
        None,
        &[SYS, DEV, REV],
    ),
    row(
        "POST",
        "/api/v1/apps/{id}/versions/{version}/approve",
        "/api/v1/apps/fund-position/versions/9.9.9/approve",
        None,
        &[SYS, REV],
    ),
    row(
        "POST",
        "/api/v1/apps/{id}/versions/{version}/reject",
        "/api/v1/apps/fund-position/versions/9.9.9/reject",
        Some(|| json!({"reason": "x"})),
        &[SYS, REV],
    ),
    row(
        "POST",
        "/api/v1/apps/{id}/suspend",
        "/api/v1/apps/fund-position/suspend",
        Some(empty),
        &[SYS],
    ),
    row(
        "POST",
        "/api/v1/apps/{id}/resume",
        "/api/v1/apps/no-such-app/resume",
        None,
        &[SYS],
    ),
    row(
        "POST",
        "/api/v1/apps/{id}/offline",
        "/api/v1/apps/fund-position/offline",
        Some(empty),
        &[SYS],
    ),
    row(
        "POST",
        "/api/v1/apps/{id}/rollback",
        "/api/v1/apps/fund-position/rollback",
        Some(empty),
        &[SYS],
    ),
    row(
        "GET",
        "/api/v1/apps/{id}/history",
        "/api/v1/apps/fund-position/history",
        None,
        &[SYS, DEV, REV],
    ),
    // Launching: the app is on the 资金管理 menu (reviewers, leaders,
    // business users); exporting also needs data.export.
    row(
        "POST",
        "/api/v1/apps/{id}/launch",
        "/api/v1/apps/fund-position/launch",
        Some(|| json!({"locale": "xx"})),
        &[REV, LEAD, BIZ],
    ),
    row(
        "POST",
        "/api/v1/apps/{id}/export",
        "/api/v1/apps/fund-position/export",
        Some(|| json!({"locale": "xx"})),
        &[LEAD, BIZ],
    ),
    // Data: roles granted fund_daily.
    row(
        "GET",
        "/api/v1/datasets/{name}/rows",
        "/api/v1/datasets/fund_daily/rows?limit=1",
        None,
        &[DEV, REV, LEAD, BIZ],
    ),
    // Data services (数据服务): everyone may list them and try a call (the
    // governed path decides the rows); developers and the system admin
    // propose; the system admin retires.
    row(
        "GET",
        "/api/v1/data-services",
        "/api/v1/data-services",
        None,
        ALL,
    ),
    row(
        "POST",
        "/api/v1/data-services",
        "/api/v1/data-services",
        Some(empty),
        &[SYS, DEV],
    ),
    row(
        "GET",
        "/api/v1/data-services/{name}",
        "/api/v1/data-services/no-such-service",
        None,
        ALL,
    ),
    row(
        "POST",
        "/api/v1/data-services/{name}/retire",
        "/api/v1/data-services/no-such-service/retire",
        Some(|| json!({"reason": "矩阵"})),
        &[SYS],
    ),
    row(
        "GET",
        "/api/v1/services/{name}",
        "/api/v1/services/no-such-service",
        None,
        ALL,
    ),
    // Administration.
    row("POST", "/api/v1/orgs", "/api/v1/orgs", Some(empty), &[SYS]),
    row("GET", "/api/v1/users", "/api/v1/users", None, &[SYS, SEC]),
    row(
        "POST",
        "/api/v1/users",
        "/api/v1/users",
        Some(empty),
        &[SYS],
    ),
    row(
        "POST",
        "/api/v1/users/{username}/status",
        "/api/v1/users/user.3302/status",
        Some(|| json!({"status": "bogus"})),
        &[SYS],
    ),
    row(
        "GET",
        "/api/v1/roles",
        "/api/v1/roles",
        None,
        &[SYS, SEC, REV],
    ),
    row(
        "GET",
        "/api/v1/menus",
        "/api/v1/menus",
        None,
        &[SYS, SEC, REV],
    ),
    // Audit: the audit admin only (三员分立).
    // The data warehouse (系统管理员) and the catalog (browse: developers,
    // reviewers, leaders and the admins; classify: the security admin).
    row(
        "GET",
        "/api/v1/warehouse/batches",
        "/api/v1/warehouse/batches",
        None,
        &[SYS],
    ),
    row(
        "POST",
        "/api/v1/warehouse/batches",
        "/api/v1/warehouse/batches",
        Some(no_such_batch),
        &[SYS],
    ),
    row(
        "GET",
        "/api/v1/warehouse/jobs/{id}",
        "/api/v1/warehouse/jobs/999",
        None,
        &[SYS],
    ),
    row(
        "GET",
        "/api/v1/warehouse/batches/{batch_id}/tables",
        "/api/v1/warehouse/batches/none/tables",
        None,
        &[SYS],
    ),
    row(
        "POST",
        "/api/v1/warehouse/batches/{batch_id}/reconcile",
        "/api/v1/warehouse/batches/none/reconcile",
        Some(empty),
        &[SYS],
    ),
    row(
        "GET",
        "/api/v1/warehouse/batches/{batch_id}/tables/{table}/reconciliation",
        "/api/v1/warehouse/batches/none/tables/none/reconciliation",
        None,
        &[SYS],
    ),
    row(
        "GET",
        "/api/v1/warehouse/batches/{batch_id}/quarantine",
        "/api/v1/warehouse/batches/none/quarantine",
        None,
        &[SYS],
    ),
    row(
        "GET",
        "/api/v1/catalog/search",
        "/api/v1/catalog/search",
        None,
        CATALOG_READERS,
    ),
    row(
        "GET",
        "/api/v1/catalog/tables/{name}",
        "/api/v1/catalog/tables/ods_none",
        None,
        CATALOG_READERS,
    ),
    row(
        "GET",
        "/api/v1/catalog/directory",
        "/api/v1/catalog/directory",
        None,
        CATALOG_READERS,
    ),
    row(
        "POST",
        "/api/v1/catalog/refresh",
        "/api/v1/catalog/refresh",
        None,
        &[SYS],
    ),
    row(
        "POST",
        "/api/v1/catalog/tables/{name}/columns/{column}/sensitivity",
        "/api/v1/catalog/tables/ods_none/columns/none/sensitivity",
        Some(secret_level),
        &[SEC],
    ),
    row(
        "GET",
        "/api/v1/models",
        "/api/v1/models",
        None,
        CATALOG_READERS,
    ),
    row(
        "GET",
        "/api/v1/models/builds",
        "/api/v1/models/builds",
        None,
        CATALOG_READERS,
    ),
    row(
        "POST",
        "/api/v1/models/builds",
        "/api/v1/models/builds",
        Some(unknown_model),
        &[SYS],
    ),
    row(
        "GET",
        "/api/v1/models/{name}",
        "/api/v1/models/ads_none",
        None,
        CATALOG_READERS,
    ),
    row(
        "GET",
        "/api/v1/models/{name}/lineage",
        "/api/v1/models/ads_none/lineage?column=x",
        None,
        CATALOG_READERS,
    ),
    row("GET", "/api/v1/audit", "/api/v1/audit", None, &[AUD]),
    row(
        "GET",
        "/api/v1/audit/verify",
        "/api/v1/audit/verify",
        None,
        &[AUD],
    ),
];

/// Endpoints every caller may use without logging in.
const PUBLIC: &[(&str, &str)] = &[("POST", "/api/v1/login")];

async fn matrix(server: &Server) {
    let api = Api::new(&server.base);

    // Every documented endpoint has a row (or is public), and every row's
    // endpoint is documented.
    let doc: Value = reqwest::get(format!("{}/api/openapi.json", server.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.insert((method.to_uppercase(), path.clone()));
        }
    }
    let covered: BTreeSet<(String, String)> = MATRIX
        .iter()
        .map(|r| (r.method.to_string(), r.pattern.to_string()))
        .chain(PUBLIC.iter().map(|(m, p)| (m.to_string(), p.to_string())))
        .collect();
    let missing: Vec<_> = documented
        .iter()
        .filter(|e| e.1.starts_with("/api/v1/") && !covered.contains(*e))
        .collect();
    assert!(
        missing.is_empty(),
        "endpoints without a row in the permission matrix: {missing:?}"
    );
    let stale: Vec<_> = covered.difference(&documented).collect();
    assert!(
        stale.is_empty(),
        "rows for undocumented endpoints: {stale:?}"
    );

    // Every role × every row.
    let mut failures = Vec::new();
    for (role, user) in USERS {
        let session = api.login(user).await;
        for r in MATRIX {
            // Logging out ends the session: a fresh one for that row.
            let credential = if r.path == "/api/v1/logout" {
                api.login(user).await
            } else {
                session.clone()
            };
            let url = format!("{}{}", api.base, r.path);
            let builder = match r.method {
                "GET" => api.http.get(&url),
                _ => api.http.post(&url),
            };
            let builder = api.authed(builder, &credential);
            let builder = match r.body {
                Some(body) => {
                    let text = body().to_string().replace("__self__", user);
                    builder
                        .header("content-type", "application/json")
                        .body(text)
                }
                None => builder,
            };
            let response = builder.send().await.unwrap();
            let status = response.status();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            let allowed = r.allowed.contains(role);
            let ok = if allowed {
                status != StatusCode::FORBIDDEN && status != StatusCode::UNAUTHORIZED
            } else {
                status == StatusCode::FORBIDDEN && body["error"]["code"] == "access-denied"
            };
            if !ok {
                failures.push(format!(
                    "{role} ({user}) {} {}: expected {}, got {status} {body}",
                    r.method,
                    r.path,
                    if allowed {
                        "allowed"
                    } else {
                        "403 access-denied"
                    }
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // Without credentials every row is 401.
    for r in MATRIX {
        let url = format!("{}{}", api.base, r.path);
        let builder = match r.method {
            "GET" => api.http.get(&url),
            _ => api.http.post(&url).json(&json!({})),
        };
        let status = builder.send().await.unwrap().status();
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{} {}", r.method, r.path);
    }
}

#[tokio::test]
async fn the_permission_matrix_holds_on_sqlite() {
    let server = Server::start(None);
    matrix(&server).await;
}

#[tokio::test]
async fn the_permission_matrix_holds_on_postgres() {
    let (url, name) = fresh_postgres_database().await;
    let server = Server::start(Some(&url));
    matrix(&server).await;
    drop(server);
    drop_database(&name).await;
}
