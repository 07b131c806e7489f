//! Authentication as a user meets it, on SQLite and PostgreSQL: logins and
//! lockout, cookie sessions and CSRF, logout, personal API tokens and their
//! scopes, disabled accounts — every refusal a clear 4xx.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::json;

async fn authentication(server: &Server) {
    let api = Api::new(&server.base);

    // Bad login input.
    for (body, why) in [
        (json!({"username": "", "password": "x"}), "empty username"),
        (
            json!({"username": "a".repeat(129), "password": "x"}),
            "long username",
        ),
        (
            json!({"username": "user.3301", "password": ""}),
            "empty password",
        ),
        (json!({"username": "user.3301"}), "no password"),
    ] {
        let a = api.post("", "/api/v1/login", body).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{why}: {}", a.body);
    }
    let a = api.login_with("nobody", "Whatever#2026").await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert_eq!(a.code(), "wrong-credentials");
    assert!(a.set_cookie.is_none());

    // Lockout: the fifth wrong password locks the account; the right one
    // is then refused too, with the time it opens again.
    for _ in 0..4 {
        let a = api.login_with("user.330101", "Wrong#Pass2026").await;
        assert_eq!(a.code(), "wrong-credentials", "{}", a.body);
    }
    let a = api.login_with("user.330101", "Wrong#Pass2026").await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.body);
    assert_eq!(a.code(), "locked");
    assert!(a.body["error"]["detail"]["locked_until"].as_i64().unwrap() > 0);
    assert!(a.body["error"]["message"].as_str().unwrap().contains("UTC"));
    let a = api
        .login_with("user.330101", demo_password("user.330101"))
        .await;
    assert_eq!(a.code(), "locked", "{}", a.body);
    // The system admin unlocks it (re-activating the account).
    let sysadmin = api.login("sysadmin").await;
    let a = api
        .post(
            &sysadmin,
            "/api/v1/users/user.330101/status",
            json!({"status": "active"}),
        )
        .await;
    assert_eq!(a.status, StatusCode::NO_CONTENT, "{}", a.body);
    let a = api
        .login_with("user.330101", demo_password("user.330101"))
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);

    // The session cookie.
    let a = api
        .login_with("user.3301", demo_password("user.3301"))
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let r = api
        .http
        .post(format!("{}/api/v1/login", api.base))
        .json(&json!({"username": "user.3301", "password": demo_password("user.3301")}))
        .send()
        .await
        .unwrap();
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age="] {
        assert!(cookie.contains(attribute), "{attribute} missing: {cookie}");
    }
    let user = api.login("user.3301").await;
    let (session, csrf) = user.split_once(' ').unwrap();
    let cookie_only =
        |b: reqwest::RequestBuilder| b.header("cookie", format!("zhiyun_session={session}"));

    // Reads need no CSRF token; writes do, and the right one.
    let r = cookie_only(api.http.get(format!("{}/api/v1/me", api.base)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    for token in [None, Some("wrong"), Some("")] {
        let mut b = cookie_only(
            api.http
                .post(format!("{}/api/v1/apps/fund-position/launch", api.base)),
        )
        .json(&json!({}));
        if let Some(t) = token {
            b = b.header("x-csrf-token", t);
        }
        let r = b.send().await.unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "csrf {token:?}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "csrf");
    }
    assert!(!csrf.is_empty());

    // Unknown and malformed sessions.
    for bad in ["0".repeat(64), "garbage".into(), "".into()] {
        let r = api
            .http
            .get(format!("{}/api/v1/me", api.base))
            .header("cookie", format!("zhiyun_session={bad}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{bad}");
    }
    let a = api.get("", "/api/v1/me").await;
    assert_eq!(a.code(), "not-logged-in");
    let a = api.get("zyt_bogus", "/api/v1/me").await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert_eq!(a.code(), "invalid-token");

    // Logout ends the session (everywhere: it is in the store) and clears
    // the cookie.
    let other = api.login("user.3301").await;
    let r = api
        .authed(api.http.post(format!("{}/api/v1/logout", api.base)), &other)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert!(
        r.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    let a = api.get(&other, "/api/v1/me").await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert_eq!(a.code(), "session-revoked");
    let a = api.get(&user, "/api/v1/me").await;
    assert_eq!(a.status, StatusCode::OK, "another session is unaffected");

    // Personal API tokens: shown once, scoped, revocable.
    for (body, why) in [
        (json!({"name": "", "scopes": ["read"]}), "empty name"),
        (json!({"name": "x", "scopes": []}), "no scope"),
        (json!({"name": "x", "scopes": ["root"]}), "unknown scope"),
        (
            json!({"name": "x", "scopes": ["read"], "expires_in_days": 0}),
            "zero days",
        ),
        (
            json!({"name": "x", "scopes": ["read"], "expires_in_days": 400}),
            "too long",
        ),
    ] {
        let a = api.post(&user, "/api/v1/tokens", body).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{why}: {}", a.body);
    }
    let a = api
        .post(
            &user,
            "/api/v1/tokens",
            json!({"name": "报表脚本", "scopes": ["read"], "expires_in_days": 30}),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    let token = a.body["token"].as_str().unwrap().to_string();
    let token_id = a.body["info"]["token_id"].as_str().unwrap().to_string();
    let listed = api.get(&user, "/api/v1/tokens").await;
    assert!(
        !listed.body.to_string().contains(&token),
        "the secret is never listed"
    );
    let a = api.get(&token, "/api/v1/me").await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["username"], "user.3301");
    // A read token cannot launch, and no token manages tokens.
    let a = api
        .post(&token, "/api/v1/apps/fund-position/launch", json!({}))
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.body);
    assert!(
        a.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("launch")
    );
    let a = api.get(&token, "/api/v1/tokens").await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.body);
    // Someone else's token id is not found, one's own is revoked.
    let leader = api.login("leader.3301").await;
    let a = api
        .post(
            &leader,
            &format!("/api/v1/tokens/{token_id}/revoke"),
            json!({}),
        )
        .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    let a = api
        .post(
            &user,
            &format!("/api/v1/tokens/{token_id}/revoke"),
            json!({}),
        )
        .await;
    assert_eq!(a.status, StatusCode::NO_CONTENT, "{}", a.body);
    let a = api.get(&token, "/api/v1/me").await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert_eq!(a.code(), "token-revoked");

    // Disabling an account ends its sessions and stops its tokens.
    let victim = api.login("user.3302").await;
    let a = api
        .post(
            &victim,
            "/api/v1/tokens",
            json!({"name": "t", "scopes": ["read"]}),
        )
        .await;
    let victim_token = a.body["token"].as_str().unwrap().to_string();
    let a = api
        .post(
            &sysadmin,
            "/api/v1/users/user.3302/status",
            json!({"status": "disabled"}),
        )
        .await;
    assert_eq!(a.status, StatusCode::NO_CONTENT, "{}", a.body);
    assert_eq!(
        api.get(&victim, "/api/v1/me").await.status,
        StatusCode::UNAUTHORIZED
    );
    let a = api.get(&victim_token, "/api/v1/me").await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert_eq!(a.code(), "disabled");
    let a = api
        .login_with("user.3302", demo_password("user.3302"))
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert_eq!(a.code(), "disabled");
    let a = api
        .post(
            &sysadmin,
            "/api/v1/users/sysadmin/status",
            json!({"status": "disabled"}),
        )
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "no locking oneself out");

    // Every login, failed or not, is in the audit log.
    let auditor = api.login("auditadmin").await;
    let failures = api
        .get(&auditor, "/api/v1/audit?action=login.failure&limit=100")
        .await;
    let n = failures.body.as_array().unwrap().len();
    assert!(n >= 8, "{}", failures.body);
}

#[tokio::test]
async fn authentication_on_sqlite() {
    let server = Server::start(None);
    authentication(&server).await;
}

#[tokio::test]
async fn authentication_on_postgres() {
    let (url, name) = fresh_postgres_database().await;
    let server = Server::start(Some(&url));
    authentication(&server).await;
    drop(server);
    drop_database(&name).await;
}
