//! Cross-organisation isolation and masking, through every path data leaves
//! by — a launched app's view, its CSV export, the dataset API — on SQLite
//! and on PostgreSQL.
//!
//! The demo tree: 3300 (二级单位) → 3301 城东县 / 3302 城西县 / 3303 南山县,
//! each with 供电所. `user.3301` is a 业务用户 (内部) of 城东县; `leader.3301`
//! its 单位领导 (敏感); `fund_daily.acct_no` (bank account) is 敏感.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Orgs outside 城东县's subtree, by id and name.
const OTHER_ORGS: &[&str] = &[
    "3302",
    "330201",
    "330202",
    "3303",
    "330301",
    "330302",
    "城西县",
    "南山县",
];
const OWN_ORGS: &[&str] = &["3301", "330101", "330102"];

fn mentions_other_org(text: &str) -> Option<&'static str> {
    OTHER_ORGS.iter().copied().find(|o| text.contains(o))
}

/// Every acct_no cell in a dataset answer.
fn accounts(table: &Value) -> Vec<String> {
    let columns = table["columns"].as_array().unwrap();
    let i = columns.iter().position(|c| c["name"] == "acct_no").unwrap();
    table["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[i]["value"].as_str().unwrap_or_default().to_string())
        .collect()
}

async fn isolation(server: &Server) {
    let api = Api::new(&server.base);
    api.publish_fund_position("caiwu-isolation").await;

    let user = api.login("user.3301").await;
    let leader = api.login("leader.3301").await;
    let city_leader = api.login("leader.3300").await;

    // 1. Launch: the view of a 城东县 user never shows another 县公司 —
    // not even when the user asks for it through the org filter.
    for params in [json!({}), json!({"org": "3302"}), json!({"org": "3300"})] {
        let a = api
            .post(
                &user,
                "/api/v1/apps/fund-position/launch",
                json!({ "params": params }),
            )
            .await;
        // The requested org id is echoed back in the filter; its data
        // (names, stations, numbers) must not be.
        let text = a.body.to_string();
        if a.status == StatusCode::OK {
            let leaked = OTHER_ORGS
                .iter()
                .filter(|o| **o != "3302")
                .find(|o| text.contains(*o));
            assert_eq!(leaked, None, "{params}: {text}");
        } else {
            assert!(a.status.is_client_error(), "{params}: {}", a.body);
        }
    }
    let a = api
        .post(&user, "/api/v1/apps/fund-position/launch", json!({}))
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let view = a.body.to_string();
    assert!(
        view.contains("城东县"),
        "the user's own org is there: {view}"
    );
    // The same app for the 二级单位's leader shows all three 县公司.
    let a = api
        .post(&city_leader, "/api/v1/apps/fund-position/launch", json!({}))
        .await;
    let text = a.body.to_string();
    for name in ["城东县", "城西县", "南山县"] {
        assert!(text.contains(name), "{name} missing for leader.3300");
    }

    // 2. The dataset API: rows of the user's subtree only; bank accounts
    // masked for the 业务用户, clear for the 单位领导 (敏感).
    let a = api
        .get(&user, "/api/v1/datasets/fund_daily/rows?limit=1000")
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let rows = a.body["rows"].as_array().unwrap();
    assert!(!rows.is_empty());
    let org_i = a.body["columns"]
        .as_array()
        .unwrap()
        .iter()
        .position(|c| c["name"] == "org_id")
        .unwrap();
    for r in rows {
        let org = r[org_i]["value"].as_str().unwrap();
        assert!(OWN_ORGS.contains(&org), "row of {org} leaked: {r}");
    }
    let masked = accounts(&a.body);
    assert!(
        masked.iter().all(|n| n.contains('*')),
        "every account number masked for a 业务用户: {masked:?}"
    );
    let a = api
        .get(&leader, "/api/v1/datasets/fund_daily/rows?limit=1000")
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let clear = accounts(&a.body);
    assert_eq!(clear.len(), masked.len(), "same rows for the same unit");
    assert!(
        clear.iter().all(|n| !n.contains('*') && n.len() >= 12),
        "{clear:?}"
    );
    // No masked value reveals its clear form, and the masked view keeps
    // only a recognisable tail.
    for (m, c) in masked.iter().zip(&clear) {
        assert_ne!(m, c);
        assert!(c.ends_with(m.trim_start_matches('*')) || m.len() == c.len());
    }

    // 3. The launch output carries the masked numbers too (the app reads
    // through the same governed path), never a clear one.
    for c in &clear {
        assert!(!view.contains(c.as_str()), "clear account {c} in the view");
    }

    // 4. Export: the CSV of the user's launch holds no other org and no
    // clear account number.
    let r = api
        .authed(
            api.http
                .post(format!("{}/api/v1/apps/fund-position/export", api.base)),
            &user,
        )
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let csv = r.text().await.unwrap();
    assert!(csv.contains("城东县"), "{csv}");
    assert_eq!(mentions_other_org(&csv), None, "{csv}");
    for c in &clear {
        assert!(!csv.contains(c.as_str()), "clear account {c} in the export");
    }

    // 5. Every access is in the audit log with its row count; exports too.
    let auditor = api.login("auditadmin").await;
    let mut entries = Value::Null;
    for _ in 0..50 {
        entries = api
            .get(&auditor, "/api/v1/audit?action=data.access&actor=user.3301")
            .await
            .body;
        if entries.as_array().is_some_and(|e| e.len() >= 5) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let entries = entries.as_array().unwrap();
    assert!(entries.len() >= 5, "{entries:?}");
    let preview = entries
        .iter()
        .find(|e| e["detail"]["app"] == "portal")
        .expect("the dataset API read is audited");
    assert_eq!(
        preview["detail"]["row_count"].as_u64().unwrap(),
        rows.len() as u64
    );
    assert!(
        entries.iter().any(
            |e| e["detail"]["app"] == "fund-position" && e["detail"]["dataset"] == "fund_daily"
        )
    );
    let exports = api
        .get(&auditor, "/api/v1/audit?action=export&actor=user.3301")
        .await;
    assert_eq!(
        exports.body.as_array().unwrap().len(),
        1,
        "{}",
        exports.body
    );

    // 6. The orgs a user may pick are their scope's; a new 供电所 added by
    // the system admin joins 城东县's subtree at once.
    let org_ids = |body: &Value| -> Vec<String> {
        body.as_array()
            .unwrap()
            .iter()
            .map(|o| o["org_id"].as_str().unwrap().to_string())
            .collect()
    };
    let mine = api.get(&user, "/api/v1/orgs").await;
    assert_eq!(org_ids(&mine.body), ["3301", "3301-cw", "330101", "330102"]);
    let sysadmin = api.login("sysadmin").await;
    let new_station = json!({"org_id": "330103", "name": "城东县新区供电所",
                             "parent_id": "3301", "kind": "supply-station"});
    let a = api
        .post(&sysadmin, "/api/v1/orgs", new_station.clone())
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    let a = api.post(&sysadmin, "/api/v1/orgs", new_station).await;
    assert_eq!(a.status, StatusCode::CONFLICT, "{}", a.body);
    for bad in [
        json!({"org_id": "x1", "name": "x", "parent_id": "9999", "kind": "department"}),
        json!({"org_id": "x2", "name": "x", "parent_id": "3301", "kind": "planet"}),
        json!({"org_id": "", "name": "x", "parent_id": "3301", "kind": "department"}),
    ] {
        let a = api.post(&sysadmin, "/api/v1/orgs", bad.clone()).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{bad}: {}", a.body);
    }
    let mine = api.get(&user, "/api/v1/orgs").await;
    assert!(org_ids(&mine.body).contains(&"330103".to_string()));

    // 7. A role without a grant on the dataset is refused, and audited.
    let a = api.get(&sysadmin, "/api/v1/datasets/fund_daily/rows").await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.body);
}

#[tokio::test]
async fn no_row_of_another_org_and_no_masked_column_leaks_on_sqlite() {
    let server = Server::start(None);
    isolation(&server).await;
}

#[tokio::test]
async fn no_row_of_another_org_and_no_masked_column_leaks_on_postgres() {
    let (url, name) = fresh_postgres_database().await;
    let server = Server::start(Some(&url));
    isolation(&server).await;
    drop(server);
    drop_database(&name).await;
}
