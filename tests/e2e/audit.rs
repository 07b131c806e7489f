//! The audit log as the server writes it: logins (failed ones too) and
//! every lifecycle action land in the hash chain; the audit API filters it;
//! `zhiyun audit verify` passes on the untouched store and names the entry
//! someone edited behind the database's back.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::json;
use std::process::Command;

fn zhiyun_audit(args: &[&str], data_dir: &std::path::Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_zhiyun"))
        .arg("audit")
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env_remove("DATABASE_URL")
        .env("ZHIYUN_LOG", "warn")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test]
async fn actions_are_audited_and_tampering_is_detected() {
    let server = Server::start(None);
    let api = Api::new(&server.base);
    let a = api
        .post(
            "",
            "/api/v1/login",
            json!({"username": "sysadmin", "password": "guess"}),
        )
        .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    let auditor = api.login("auditadmin").await;
    let sysadmin = api.login("sysadmin").await;
    let secadmin = api.login("secadmin").await;
    let user = api.login("user.3301").await;
    let (key, public) = department_key("caiwu-audit");
    api.register_key(&secadmin, &key, public).await;

    let log = api.get(&auditor, "/api/v1/audit?limit=50").await;
    assert_eq!(log.status, StatusCode::OK, "{}", log.body);
    let actions: Vec<&str> = log
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "key.register",
            "login.success",
            "login.success",
            "login.success",
            "login.success",
            "login.failure"
        ],
        "newest first"
    );
    let failures = api
        .get(&auditor, "/api/v1/audit?action=login.failure")
        .await;
    assert_eq!(failures.body.as_array().unwrap().len(), 1);
    assert_eq!(failures.body[0]["outcome"], "denied");
    // 三员分立: only the audit admin reads the log — not the system admin,
    // not the security admin, not a business user.
    for who in [&sysadmin, &secadmin, &user] {
        let denied = api.get(who, "/api/v1/audit").await;
        assert_eq!(denied.status, StatusCode::FORBIDDEN, "{}", denied.body);
        let denied = api.get(who, "/api/v1/audit/verify").await;
        assert_eq!(denied.status, StatusCode::FORBIDDEN, "{}", denied.body);
    }
    // Filters: outcome, target prefix, time window, order.
    let denied = api.get(&auditor, "/api/v1/audit?outcome=denied").await;
    assert_eq!(denied.body.as_array().unwrap().len(), 1, "{}", denied.body);
    let keys = api.get(&auditor, "/api/v1/audit?target=key:").await;
    assert_eq!(keys.body.as_array().unwrap().len(), 1, "{}", keys.body);
    let oldest = api
        .get(&auditor, "/api/v1/audit?order=oldest&limit=1")
        .await;
    assert_eq!(oldest.body[0]["action"], "login.failure", "{}", oldest.body);
    let none = api.get(&auditor, "/api/v1/audit?to=1").await;
    assert_eq!(none.body, json!([]));
    for bad in ["outcome=maybe", "order=sideways", "from=5&to=5"] {
        let a = api.get(&auditor, &format!("/api/v1/audit?{bad}")).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{bad}: {}", a.body);
    }
    let bad = api.get(&auditor, "/api/v1/audit?limit=0").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let bad = api.get(&auditor, "/api/v1/audit?colour=red").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);

    let (ok, text) = zhiyun_audit(&["verify"], server.data_dir());
    assert!(ok, "{text}");
    assert!(text.contains("intact: 6 entries"), "{text}");
    let (ok, head) = zhiyun_audit(&["head"], server.data_dir());
    assert!(ok && head.starts_with("6:"), "{head}");
    // The API's verification agrees (and is itself audited).
    let verified = api.get(&auditor, "/api/v1/audit/verify").await;
    assert_eq!(verified.status, StatusCode::OK, "{}", verified.body);
    assert_eq!(verified.body["ok"], true, "{}", verified.body);

    // An attacker with write access to the database file: drop the
    // append-only trigger, rewrite who logged in.
    let data = server.data_dir().to_path_buf();
    {
        use sqlx::{Connection, SqliteConnection};
        let url = format!("sqlite://{}", data.join("platform.db").display());
        let mut db = SqliteConnection::connect(&url).await.unwrap();
        sqlx::query("DROP TRIGGER audit_log_no_update")
            .execute(&mut db)
            .await
            .unwrap();
        sqlx::query("UPDATE audit_log SET actor = 'mallory' WHERE seq = 2")
            .execute(&mut db)
            .await
            .unwrap();
    }
    let (ok, text) = zhiyun_audit(&["verify"], &data);
    assert!(!ok, "verification must fail: {text}");
    assert!(text.contains("broken at seq 2"), "{text}");
}
