//! The warehouse API: a system administrator loads a batch from the inbox,
//! follows the job, reads batches, tables, reconciliation and quarantine;
//! others are refused; bad names are clear errors.

mod common;

use common::{Api, Server};
use reqwest::StatusCode;
use serde_json::json;
use zhiyun_batch::{ColumnSpec, ColumnType, FileFormat, TableSpec, TableWriter};

fn col(name: &str, ty: ColumnType) -> ColumnSpec {
    ColumnSpec {
        name: name.into(),
        ty,
        description: String::new(),
    }
}

/// A two-table batch in `<inbox>/<name>`; `payment` has one damaged line.
fn write_batch(inbox: &std::path::Path, name: &str) {
    let dir = inbox.join(name);
    let spec = |table: &str| TableSpec {
        name: table.into(),
        domain: "资金".into(),
        description: "付款单".into(),
        columns: vec![
            col("pay_id", ColumnType::String),
            col("org_id", ColumnType::String),
            col("pay_date", ColumnType::Date),
            col("amount", ColumnType::Money),
        ],
        key: vec!["pay_id".into()],
        period_column: Some("pay_date".into()),
        org_column: Some("org_id".into()),
    };
    let mut tables = Vec::new();
    for (table, damaged) in [("payment", true), ("receipt", false)] {
        let mut w = TableWriter::create(&dir, spec(table), FileFormat::Csv).unwrap();
        for i in 0..500 {
            w.write_row(&[
                format!("P{i:05}"),
                "3301".into(),
                "2026-03-05".into(),
                format!("{i}.25"),
            ])
            .unwrap();
        }
        if damaged {
            w.write_damaged(&["P99999", "3301", "2026-03-05", "1.00"], b"P99999,3301\n")
                .unwrap();
        }
        tables.push(w.finish().unwrap());
    }
    let manifest = zhiyun_batch::Manifest {
        format_version: 1,
        batch_id: format!("API-{name}"),
        source: "test".into(),
        as_of: "2026-10-31".into(),
        notes: Default::default(),
        tables,
    };
    zhiyun_batch::write::write_manifest(&dir, &manifest).unwrap();
}

#[tokio::test]
async fn an_admin_loads_a_batch_from_the_inbox_and_follows_it() {
    let server = Server::start(None);
    write_batch(&server.data_dir().join("inbox"), "b1");
    let api = Api::new(&server.base);
    let admin = api.login("sysadmin").await;

    let started = api
        .post(
            &admin,
            "/api/v1/warehouse/batches",
            json!({ "batch": "b1" }),
        )
        .await;
    assert_eq!(started.status, StatusCode::ACCEPTED, "{:?}", started.body);
    let id = started.body["id"].as_u64().unwrap();
    assert_eq!(started.body["batch_id"], "API-b1");
    assert_eq!(started.body["rows_total"], 1001);

    let mut job = started.body;
    for _ in 0..100 {
        job = api
            .get(&admin, &format!("/api/v1/warehouse/jobs/{id}"))
            .await
            .body;
        if job["state"] != "running" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(job["state"], "done", "{job}");
    assert_eq!(job["tables_done"], 2);
    assert_eq!(job["rows_done"], 1001);
    assert_eq!(job["report"]["reconciliation"]["matching"], 1, "{job}");

    let batches = api.get(&admin, "/api/v1/warehouse/batches").await;
    assert_eq!(batches.status, StatusCode::OK);
    let b = &batches.body[0];
    assert_eq!(b["batch_id"], "API-b1");
    assert_eq!(
        (b["tables_loaded"].as_i64(), b["rows_loaded"].as_i64()),
        (Some(2), Some(1000))
    );
    assert_eq!(b["rows_quarantined"], 1);

    let tables = api
        .get(&admin, "/api/v1/warehouse/batches/API-b1/tables")
        .await
        .body;
    let payment = tables
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["table"] == "payment")
        .unwrap();
    assert_eq!(payment["reconciliation"], "mismatch");
    assert_eq!(payment["rows_quarantined"], 1);

    let q = api
        .get(
            &admin,
            "/api/v1/warehouse/batches/API-b1/quarantine?table=payment",
        )
        .await;
    assert_eq!(q.status, StatusCode::OK);
    assert_eq!(q.body[0]["line"], 502);
    assert_eq!(q.body[0]["reason"], "2 fields, the header has 4");

    let r = api
        .get(
            &admin,
            "/api/v1/warehouse/batches/API-b1/tables/payment/reconciliation",
        )
        .await;
    assert_eq!(r.body["missing_count"], 1, "{:?}", r.body);

    let again = api
        .post(
            &admin,
            "/api/v1/warehouse/batches/API-b1/reconcile",
            json!({ "tables": ["receipt"] }),
        )
        .await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.body[0]["status"], "match");

    // Loading it again: nothing changes.
    let second = api
        .post(
            &admin,
            "/api/v1/warehouse/batches",
            json!({ "batch": "b1" }),
        )
        .await;
    let id2 = second.body["id"].as_u64().unwrap();
    let mut job2 = second.body;
    for _ in 0..100 {
        job2 = api
            .get(&admin, &format!("/api/v1/warehouse/jobs/{id2}"))
            .await
            .body;
        if job2["state"] != "running" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    for t in job2["report"]["load"]["tables"].as_array().unwrap() {
        assert_eq!(t["status"], "already_loaded", "{job2}");
    }

    // The catalog knows the tables; a developer can search it, the security
    // admin confirms a column's sensitivity, a business user cannot look.
    let dev = api.login("dev.cw").await;
    let found = api
        .get(&dev, "/api/v1/catalog/search?q=%E4%BB%98%E6%AC%BE")
        .await; // 付款
    assert_eq!(found.status, StatusCode::OK, "{:?}", found.body);
    // ods_ and dwd_ of both tables (the load cleans into DWD).
    assert_eq!(found.body["total"], 4, "{:?}", found.body);
    let bad = api.get(&dev, "/api/v1/catalog/search?layer=XYZ").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{:?}", bad.body);
    let page = api.get(&dev, "/api/v1/catalog/tables/ods_payment").await;
    assert_eq!(page.status, StatusCode::OK, "{:?}", page.body);
    assert_eq!(page.body["domain"], "资金", "{:?}", page.body);
    let sec = api.login("secadmin").await;
    let confirmed = api
        .post(
            &sec,
            "/api/v1/catalog/tables/ods_payment/columns/amount/sensitivity",
            json!({ "level": "sensitive" }),
        )
        .await;
    assert_eq!(confirmed.status, StatusCode::OK, "{:?}", confirmed.body);
    let bad = api
        .post(
            &sec,
            "/api/v1/catalog/tables/ods_payment/columns/amount/sensitivity",
            json!({ "level": "top" }),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let by_dev = api
        .post(
            &dev,
            "/api/v1/catalog/tables/ods_payment/columns/amount/sensitivity",
            json!({ "level": "public" }),
        )
        .await;
    assert_eq!(by_dev.status, StatusCode::FORBIDDEN);
    let user = api.login("user.3301").await;
    assert_eq!(
        api.get(&user, "/api/v1/catalog/search").await.status,
        StatusCode::FORBIDDEN
    );

    // The load and the quarantine read are in the audit log.
    let auditor = api.login("auditadmin").await;
    let log = api
        .get(&auditor, "/api/v1/audit?action=warehouse.load")
        .await;
    assert!(
        log.body.to_string().contains("batch:API-b1"),
        "{:?}",
        log.body
    );
}

#[tokio::test]
async fn bad_requests_are_clear_and_others_are_refused() {
    let server = Server::start(None);
    write_batch(&server.data_dir().join("inbox"), "b1");
    let api = Api::new(&server.base);
    let admin = api.login("sysadmin").await;
    for (batch, status, text) in [
        ("../etc", StatusCode::BAD_REQUEST, "not a path"),
        (
            "nope",
            StatusCode::NOT_FOUND,
            "there is no batch \"nope\" in the batch inbox",
        ),
    ] {
        let a = api
            .post(
                &admin,
                "/api/v1/warehouse/batches",
                json!({ "batch": batch }),
            )
            .await;
        assert_eq!(a.status, status, "{batch}: {:?}", a.body);
        assert!(
            a.body["error"]["message"].as_str().unwrap().contains(text),
            "{:?}",
            a.body
        );
    }
    let unknown = api
        .get(&admin, "/api/v1/warehouse/batches/ghost/tables")
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let user = api.login("user.3301").await;
    let denied = api
        .post(&user, "/api/v1/warehouse/batches", json!({ "batch": "b1" }))
        .await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
    let denied = api.get(&user, "/api/v1/warehouse/batches").await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
}
