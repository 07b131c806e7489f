//! Two `zhiyun serve` hosts sharing one PostgreSQL: sessions, policy
//! changes and app states made on one host hold on the other (the policy
//! within the sync interval — 100 ms in the tests).

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::json;
use std::time::{Duration, Instant};

/// Polls `check` until it holds or 10 s pass; how long it took.
async fn eventually<F, Fut>(what: &str, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        if check().await {
            return start.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{what}: not seen on the other host within 10 s");
}

#[tokio::test]
async fn two_hosts_share_sessions_policy_and_app_state() {
    let (url, name) = fresh_postgres_database().await;
    let a_host = Server::start(Some(&url));
    let b_host = Server::start(Some(&url));
    let a = Api::new(&a_host.base);
    let b = Api::new(&b_host.base);

    // A session made on A works on B; a logout on A ends it on B.
    let user = a.login("user.3302").await;
    assert_eq!(b.get(&user, "/api/v1/me").await.status, StatusCode::OK);
    let short = a.login("user.3302").await;
    let r = a.post(&short, "/api/v1/logout", json!({})).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(
        b.get(&short, "/api/v1/me").await.status,
        StatusCode::UNAUTHORIZED
    );

    // A role granted through a change approved on A is enforced on B.
    let sysadmin = a.login("sysadmin").await;
    let secadmin = a.login("secadmin").await;
    assert_eq!(
        b.get(&user, "/api/v1/users").await.status,
        StatusCode::FORBIDDEN
    );
    // 单位领导 of 3302: reads the 敏感 columns a business user sees masked.
    let before = b
        .get(&user, "/api/v1/datasets/fund_daily/rows?limit=1")
        .await;
    assert_eq!(before.status, StatusCode::OK, "{}", before.body);
    let masked = before.body.to_string();
    assert!(masked.contains('*'), "{masked}");
    let me = b.get(&user, "/api/v1/me").await;
    assert!(!me.body["roles"].to_string().contains("unit-leader"));
    a.change(
        &sysadmin,
        &secadmin,
        json!({"kind": "role-grant", "payload":
            {"username": "user.3302", "role_id": "unit-leader", "org_id": "3302"}}),
    )
    .await;
    let lag = eventually("the role grant", || async {
        let me = b.get(&user, "/api/v1/me").await;
        me.body["roles"]
            .as_array()
            .is_some_and(|r| r.iter().any(|r| r == "unit-leader"))
    })
    .await;
    eprintln!("policy change visible on the other host after {lag:?}");
    eventually("the wider column access", || async {
        let rows = b
            .get(&user, "/api/v1/datasets/fund_daily/rows?limit=1")
            .await;
        !rows.body.to_string().contains('*')
    })
    .await;

    // An app published through A launches on B; suspended on A, it is
    // refused on B at the next launch.
    a.publish_fund_position("caiwu-multihost").await;
    eventually("the published app and its grant", || async {
        b.post(&user, "/api/v1/apps/fund-position/launch", json!({}))
            .await
            .status
            == StatusCode::OK
    })
    .await;
    let r = a
        .post(
            &sysadmin,
            "/api/v1/apps/fund-position/suspend",
            json!({"reason": "口径核对"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = b
        .post(&user, "/api/v1/apps/fund-position/launch", json!({}))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert_eq!(r.body["error"]["current_state"], "suspended");

    drop(a_host);
    drop(b_host);
    drop_database(&name).await;
}
