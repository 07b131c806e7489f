//! End to end, against the real `zhiyun serve` on SQLite and on PostgreSQL:
//! submit → review (trial run visible) → approve → launch → a second
//! version → suspend → launch refused → rollback → launch, plus metrics and
//! a graceful shutdown.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::json;

async fn lifecycle(server: &Server) {
    let api = Api::new(&server.base);
    let secadmin = api.login("secadmin").await;
    let reviewer = api.login("reviewer").await;
    let sysadmin = api.login("sysadmin").await;
    let auditor = api.login("auditadmin").await;
    let developer = api.login("dev.cw").await;
    let user = api.login("user.3301").await;
    let (key, public) = department_key("caiwu-e2e");
    api.register_key(&secadmin, &key, public).await;

    // Submit: the host verifies, inspects and trial-runs the package.
    let v1 = fund_position_package("0.1.0", &key);
    let a = api
        .post_raw(
            &developer,
            "/api/v1/packages",
            "application/octet-stream",
            v1.clone(),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    assert_eq!(a.body["state"], "submitted");

    // Not live yet.
    let a = api
        .post(&user, "/api/v1/apps/fund-position/launch", json!({}))
        .await;
    assert_eq!(a.status, StatusCode::CONFLICT, "{}", a.body);

    // The review shows the trial run, the real imports and the manifest.
    let review = api
        .get(
            &reviewer,
            "/api/v1/apps/fund-position/versions/0.1.0/review",
        )
        .await;
    assert_eq!(review.status, StatusCode::OK, "{}", review.body);
    let trial = &review.body["version"]["trial"];
    assert_eq!(trial["ok"], true, "{trial}");
    assert!(trial["duration_ms"].as_f64().unwrap() > 0.0);
    assert!(trial["peak_memory_bytes"].as_u64().unwrap() > 0);
    let imports = review.body["version"]["component_info"]["imports"].to_string();
    assert!(imports.contains("zhiyun:app/data@0.1.0"), "{imports}");
    assert_eq!(review.body["version"]["manifest"]["id"], "fund-position");
    let queue = api.get(&reviewer, "/api/v1/reviews").await;
    assert_eq!(queue.body.as_array().unwrap().len(), 1);

    // The developer cannot approve; the reviewer can.
    let a = api
        .post(
            &developer,
            "/api/v1/apps/fund-position/versions/0.1.0/approve",
            json!({}),
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    let a = api
        .post(
            &reviewer,
            "/api/v1/apps/fund-position/versions/0.1.0/approve",
            json!({"reason": "ok"}),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["state"], "published");

    // Launch as a business user: a typed view.
    let a = api
        .post(
            &user,
            "/api/v1/apps/fund-position/launch",
            json!({"params": {"date": "2026-11-30"}}),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["version"], "0.1.0");
    assert_eq!(a.body["output"]["kind"], "view");
    assert!(
        a.body["output"]["output"]["blocks"]
            .as_array()
            .unwrap()
            .len()
            > 2
    );

    // A second version supersedes the first.
    let v2 = fund_position_package("0.2.0", &key);
    let a = api
        .post_raw(
            &developer,
            "/api/v1/packages",
            "application/octet-stream",
            v2,
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    let review = api
        .get(
            &reviewer,
            "/api/v1/apps/fund-position/versions/0.2.0/review",
        )
        .await;
    let diff = review.body["diff"].to_string();
    assert!(
        diff.contains("version"),
        "the review diffs against the live version: {diff}"
    );
    let a = api
        .post(
            &reviewer,
            "/api/v1/apps/fund-position/versions/0.2.0/approve",
            json!({}),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let a = api
        .post(&user, "/api/v1/apps/fund-position/launch", json!({}))
        .await;
    assert_eq!(a.body["version"], "0.2.0");

    // Kill switch: the next launch is refused with the current state.
    let a = api
        .post(
            &sysadmin,
            "/api/v1/apps/fund-position/suspend",
            json!({"reason": "数据口径待确认"}),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let a = api
        .post(&user, "/api/v1/apps/fund-position/launch", json!({}))
        .await;
    assert_eq!(a.status, StatusCode::CONFLICT, "{}", a.body);
    assert_eq!(a.body["error"]["current_state"], "suspended");
    // An illegal transition answers 409 with the current state.
    let a = api
        .post(
            &sysadmin,
            "/api/v1/apps/fund-position/suspend",
            json!({"reason": "again"}),
        )
        .await;
    assert_eq!(a.status, StatusCode::CONFLICT);
    assert_eq!(a.body["error"]["current_state"], "suspended");

    // Rollback republishes 0.1.0.
    let a = api
        .post(
            &sysadmin,
            "/api/v1/apps/fund-position/rollback",
            json!({"version": "0.1.0", "reason": "回退"}),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let a = api
        .post(&user, "/api/v1/apps/fund-position/launch", json!({}))
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["version"], "0.1.0");

    // Every launch is in the audit log (written in the background, so wait
    // for it): three that ran, two refused.
    let mut launches = serde_json::Value::Null;
    for _ in 0..50 {
        launches = api
            .get(&auditor, "/api/v1/audit?action=app.launch")
            .await
            .body;
        if launches.as_array().is_some_and(|a| a.len() >= 5) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let outcomes: Vec<&str> = launches
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(
        outcomes,
        ["ok", "denied", "ok", "ok", "denied"],
        "newest first: {launches}"
    );
    assert_eq!(launches[0]["actor"], "user.3301");
    assert_eq!(launches[0]["detail"]["version"], "0.1.0");

    let history = api
        .get(&sysadmin, "/api/v1/apps/fund-position/history")
        .await;
    assert!(
        history.body.as_array().unwrap().len() >= 6,
        "{}",
        history.body
    );

    // Metrics count the launches per app.
    let metrics = reqwest::get(format!("{}/metrics", server.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("zhiyun_app_invocations_total{app=\"fund-position\",kind=\"scenario\"}"),
        "{metrics}"
    );
    assert!(metrics.contains("zhiyun_app_duration_seconds_bucket"));

    for path in ["/healthz", "/readyz", "/api/openapi.json"] {
        let r = reqwest::get(format!("{}{path}", server.base))
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
    }
}

#[tokio::test]
async fn lifecycle_on_sqlite() {
    let server = Server::start(None);
    lifecycle(&server).await;
    assert!(server.terminate().success(), "graceful shutdown exits 0");
}

/// SIGTERM while a launch is running: the server stops accepting, lets the
/// launch finish (here: the app hits its 1 s deadline and the caller gets
/// the typed timeout, not a reset connection), then exits 0.
#[tokio::test]
async fn graceful_shutdown_finishes_in_flight_launches() {
    let server = Server::start(None);
    let api = Api::new(&server.base);
    let secadmin = api.login("secadmin").await;
    let reviewer = api.login("reviewer").await;
    let developer = api.login("dev.cw").await;
    let user = api.login("user.3301").await;
    let (key, public) = department_key("caiwu-shutdown");
    api.register_key(&secadmin, &key, public).await;
    api.place_on_menu("hostile").await;
    let pkg = package("tests/apps/hostile", "hostile", None, &key);
    let a = api
        .post_raw(
            &developer,
            "/api/v1/packages",
            "application/octet-stream",
            pkg,
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    let a = api
        .post(
            &reviewer,
            "/api/v1/apps/hostile/versions/0.1.0/approve",
            json!({}),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);

    let in_flight = tokio::spawn(async move {
        Api::new(&api.base)
            .post(
                &user,
                "/api/v1/apps/hostile/launch",
                json!({"params": {"attack": "loop"}}),
            )
            .await
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let exit = tokio::task::spawn_blocking(move || server.terminate_keeping_data());
    let answer = in_flight.await.unwrap();
    assert_eq!(
        answer.status,
        StatusCode::GATEWAY_TIMEOUT,
        "{}",
        answer.body
    );
    assert_eq!(answer.code(), "app-timeout");
    let (status, data) = exit.await.unwrap();
    assert!(status.success(), "graceful shutdown exits 0");

    // The in-flight launch was audited before the process ended.
    use sqlx::{Connection, SqliteConnection};
    let url = format!("sqlite://{}", data.path().join("platform.db").display());
    let mut db = SqliteConnection::connect(&url).await.unwrap();
    let (n,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM audit_log WHERE action = 'app.launch' AND outcome = 'error'",
    )
    .fetch_one(&mut db)
    .await
    .unwrap();
    assert_eq!(n, 1, "the timed-out launch is in the audit log");
}

#[tokio::test]
async fn lifecycle_on_postgres() {
    let (url, name) = fresh_postgres_database().await;
    let server = Server::start(Some(&url));
    lifecycle(&server).await;
    assert!(server.terminate().success(), "graceful shutdown exits 0");
    drop_database(&name).await;
}
