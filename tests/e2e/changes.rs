//! Change requests through the API, every kind, on SQLite and PostgreSQL:
//! the author can never approve or reject their own request (four eyes),
//! and only the approval changes what users may do.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn file(api: &Api, author: &str, change: Value) -> i64 {
    let a = api.post(author, "/api/v1/changes", change).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    assert_eq!(a.body["state"], "pending");
    a.body["id"].as_i64().unwrap()
}

/// The author tries to approve and to reject: both refused, nothing moves.
async fn self_review_is_refused(api: &Api, author: &str, id: i64) {
    let a = api
        .post(author, &format!("/api/v1/changes/{id}/approve"), json!({}))
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.body);
    assert_eq!(a.code(), "self-approval", "{}", a.body);
    let a = api
        .post(
            author,
            &format!("/api/v1/changes/{id}/reject"),
            json!({"reason": "自己驳回"}),
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.body);
    assert_eq!(a.code(), "self-approval", "{}", a.body);
    let a = api.get(author, &format!("/api/v1/changes/{id}")).await;
    assert_eq!(a.body["request"]["state"], "pending", "{}", a.body);
}

async fn approve(api: &Api, reviewer: &str, id: i64) {
    let a = api
        .post(
            reviewer,
            &format!("/api/v1/changes/{id}/approve"),
            json!({"reason": "同意"}),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["state"], "approved");
}

async fn roles(api: &Api, user: &str) -> Vec<String> {
    let session = api.login(user).await;
    let me = api.get(&session, "/api/v1/me").await;
    serde_json::from_value(me.body["roles"].clone()).unwrap()
}

async fn four_eyes(server: &Server) {
    let api = Api::new(&server.base);
    let sysadmin = api.login("sysadmin").await;
    let secadmin = api.login("secadmin").await;

    // A second security admin, so security-admin requests can be
    // approved at all: the system admin creates the account and files the
    // grant, the security admin approves it.
    let a = api
        .post(
            &sysadmin,
            "/api/v1/users",
            json!({"username": "secadmin2", "display_name": "安全管理员二",
                   "org_id": "3300-kj", "password": "Sec2#Admin2026"}),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    let id = file(
        &api,
        &sysadmin,
        json!({"kind": "role-grant", "payload":
            {"username": "secadmin2", "role_id": "security-admin", "org_id": "3300"}}),
    )
    .await;
    // Filed but not approved: nothing yet.
    assert!(
        roles(&api, "user.3302")
            .await
            .contains(&"business-user".into())
    );
    let a = api.login_with("secadmin2", "Sec2#Admin2026").await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["user"]["roles"], json!([]));
    approve(&api, &secadmin, id).await;
    let a = api.login_with("secadmin2", "Sec2#Admin2026").await;
    let secadmin2 = format!(
        "{} {}",
        a.set_cookie.unwrap(),
        a.body["csrf_token"].as_str().unwrap()
    );
    assert_eq!(a.body["user"]["roles"], json!(["security-admin"]));
    // 三员分立: the new security admin cannot also become audit admin.
    let id = file(
        &api,
        &sysadmin,
        json!({"kind": "role-grant", "payload":
            {"username": "secadmin2", "role_id": "audit-admin", "org_id": "3300"}}),
    )
    .await;
    let a = api
        .post(
            &secadmin,
            &format!("/api/v1/changes/{id}/approve"),
            json!({}),
        )
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.body);
    assert!(a.body.to_string().contains("三员分立"), "{}", a.body);

    // app-listing: a developer who is also a reviewer still cannot approve
    // their own package.
    let id = file(
        &api,
        &sysadmin,
        json!({"kind": "role-grant", "payload":
            {"username": "dev.cw", "role_id": "reviewer", "org_id": "3300"}}),
    )
    .await;
    approve(&api, &secadmin, id).await;
    let developer = api.login("dev.cw").await;
    let (key, public) = department_key("caiwu-4eyes");
    api.register_key(&secadmin, &key, public).await;
    let a = api
        .post_raw(
            &developer,
            "/api/v1/packages",
            "application/octet-stream",
            fund_position_package("0.1.0", &key),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    let listing = api
        .get(&developer, "/api/v1/changes?kind=app-listing&state=pending")
        .await;
    let id = listing.body[0]["id"].as_i64().unwrap();
    assert_eq!(listing.body[0]["payload"]["app_id"], "fund-position");
    self_review_is_refused(&api, &developer, id).await;
    // A listing is not withdrawn (its version would wait forever).
    let a = api
        .post(
            &developer,
            &format!("/api/v1/changes/{id}/withdraw"),
            json!({}),
        )
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.body);
    let a = api
        .post(
            &developer,
            "/api/v1/apps/fund-position/versions/0.1.0/approve",
            json!({}),
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.body);
    assert_eq!(a.code(), "self-approval");
    let reviewer = api.login("reviewer").await;
    approve(&api, &reviewer, id).await;
    let a = api
        .get(&reviewer, "/api/v1/apps/fund-position/versions")
        .await;
    assert_eq!(a.body[0]["state"], "published", "{}", a.body);

    // role-grant
    let id = file(
        &api,
        &secadmin,
        json!({"kind": "role-grant", "payload":
            {"username": "user.3302", "role_id": "unit-leader", "org_id": "3302"}}),
    )
    .await;
    self_review_is_refused(&api, &secadmin, id).await;
    assert!(
        !roles(&api, "user.3302")
            .await
            .contains(&"unit-leader".into())
    );
    approve(&api, &secadmin2, id).await;
    assert!(
        roles(&api, "user.3302")
            .await
            .contains(&"unit-leader".into())
    );

    // role-revoke
    let id = file(
        &api,
        &secadmin,
        json!({"kind": "role-revoke", "payload":
            {"username": "user.3302", "role_id": "unit-leader", "org_id": "3302"}}),
    )
    .await;
    self_review_is_refused(&api, &secadmin, id).await;
    approve(&api, &secadmin2, id).await;
    assert!(
        !roles(&api, "user.3302")
            .await
            .contains(&"unit-leader".into())
    );

    // data-scope-change: 城东县's business user narrowed to 本单位 (no
    // 供电所 rows any more).
    let user = api.login("user.3301").await;
    let orgs_of = |body: &Value| -> Vec<String> {
        let i = body["columns"]
            .as_array()
            .unwrap()
            .iter()
            .position(|c| c["name"] == "org_id")
            .unwrap();
        let mut orgs: Vec<String> = body["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r[i]["value"].as_str().unwrap().to_string())
            .collect();
        orgs.sort();
        orgs.dedup();
        orgs
    };
    let before = api
        .get(&user, "/api/v1/datasets/fund_daily/rows?limit=1000")
        .await;
    assert_eq!(orgs_of(&before.body), ["3301", "330101", "330102"]);
    let id = file(
        &api,
        &secadmin,
        json!({"kind": "data-scope-change", "payload": {"target": "post",
            "username": "user.3301", "role_id": "business-user", "org_id": "3301",
            "scope": {"kind": "org-only"}}}),
    )
    .await;
    self_review_is_refused(&api, &secadmin, id).await;
    approve(&api, &secadmin2, id).await;
    let after = api
        .get(&user, "/api/v1/datasets/fund_daily/rows?limit=1000")
        .await;
    assert_eq!(orgs_of(&after.body), ["3301"]);

    // menu-change: 资金管理 for unit leaders only — the business user
    // loses the menu and with it the app.
    let launch = api
        .post(&user, "/api/v1/apps/fund-position/launch", json!({}))
        .await;
    assert_eq!(launch.status, StatusCode::OK, "{}", launch.body);
    let menus = api.get(&user, "/api/v1/me/menus").await;
    assert!(
        menus.body.to_string().contains("\"finance\""),
        "{}",
        menus.body
    );
    let id = file(
        &api,
        &secadmin,
        json!({"kind": "menu-change", "payload":
            {"op": "update", "menu_id": "finance", "roles": ["unit-leader"]}}),
    )
    .await;
    self_review_is_refused(&api, &secadmin, id).await;
    approve(&api, &secadmin2, id).await;
    let menus = api.get(&user, "/api/v1/me/menus").await;
    assert!(
        !menus.body.to_string().contains("\"finance\""),
        "{}",
        menus.body
    );
    let launch = api
        .post(&user, "/api/v1/apps/fund-position/launch", json!({}))
        .await;
    assert_eq!(launch.status, StatusCode::FORBIDDEN, "{}", launch.body);

    // dataset-access (数据申请): 城西县's business user applies for
    // themselves; the security admin files one for a role.
    let user3302 = api.login("user.3302").await;
    let id = file(
        &api,
        &user3302,
        json!({"kind": "dataset-access", "payload": {"dataset": "fund_daily",
            "applicant": {"type": "user", "username": "user.3302"}, "purpose": "月度分析"}}),
    )
    .await;
    // The applicant cannot review at all; the security admin who did not
    // write it can.
    let a = api
        .post(
            &user3302,
            &format!("/api/v1/changes/{id}/approve"),
            json!({}),
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.body);
    let id2 = file(
        &api,
        &secadmin,
        json!({"kind": "dataset-access", "payload": {"dataset": "fund_daily",
            "applicant": {"type": "role", "role_id": "audit-admin"}, "purpose": "抽查"}}),
    )
    .await;
    self_review_is_refused(&api, &secadmin, id2).await;
    approve(&api, &secadmin2, id).await;
    approve(&api, &secadmin2, id2).await;

    // A rejection needs a reason and is final.
    let id = file(
        &api,
        &sysadmin,
        json!({"kind": "role-grant", "payload":
            {"username": "user.330101", "role_id": "unit-leader", "org_id": "330101"}}),
    )
    .await;
    let a = api
        .post(
            &secadmin,
            &format!("/api/v1/changes/{id}/reject"),
            json!({}),
        )
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.body);
    let a = api
        .post(
            &secadmin,
            &format!("/api/v1/changes/{id}/reject"),
            json!({"reason": "供电所无单位领导岗位"}),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let a = api
        .post(
            &secadmin2,
            &format!("/api/v1/changes/{id}/approve"),
            json!({}),
        )
        .await;
    assert_eq!(a.status, StatusCode::CONFLICT, "{}", a.body);
    assert_eq!(a.body["error"]["current_state"], "rejected");
    assert!(
        !roles(&api, "user.330101")
            .await
            .contains(&"unit-leader".into())
    );

    // Every refused self-review is in the audit log.
    let auditor = api.login("auditadmin").await;
    let denied = api
        .get(&auditor, "/api/v1/audit?action=change.approve&limit=200")
        .await;
    let refused = denied
        .body
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["outcome"] == "denied")
        .count();
    assert!(refused >= 6, "{}", denied.body);
}

#[tokio::test]
async fn four_eyes_for_every_kind_on_sqlite() {
    let server = Server::start(None);
    four_eyes(&server).await;
}

#[tokio::test]
async fn four_eyes_for_every_kind_on_postgres() {
    let (url, name) = fresh_postgres_database().await;
    let server = Server::start(Some(&url));
    four_eyes(&server).await;
    drop(server);
    drop_database(&name).await;
}
