//! The README's main job, `zhiyun demo`, twice in a row on the same data
//! directory: the first run signs, submits (trial run included) and
//! approves every sample app; the second finds them in place and changes
//! nothing. Then the apps are live for a business user.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::json;
use std::process::Command;

fn demo_setup(data: &std::path::Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_zhiyun"))
        .args([
            "demo",
            "--setup-only",
            "--data-scale",
            "tiny",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(data)
        .current_dir(workspace())
        .env_remove("DATABASE_URL")
        .env("ZHIYUN_LOG", "warn")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn the_demo_sets_up_once_and_runs_again() {
    let data = tempfile::tempdir().unwrap();
    let (ok, first) = demo_setup(data.path());
    assert!(ok, "first demo run failed:\n{first}");
    for app in ["fund-position", "fund-daily-report", "low-balance-alert"] {
        assert!(
            first.contains(&format!("submitted {app} 0.1.0 (trial run: ok)")),
            "{first}"
        );
        assert!(first.contains(&format!("approved {app} 0.1.0")), "{first}");
    }
    let (ok, second) = demo_setup(data.path());
    assert!(ok, "second demo run failed:\n{second}");
    assert!(
        !second.contains("submitted"),
        "the second run must not submit again:\n{second}"
    );
    assert!(!second.contains("approved"), "{second}");
    assert!(
        second.contains("the warehouse holds batch GDP-B1-s42-tiny"),
        "the second run reuses the loaded batch:\n{second}"
    );

    let server = Server::start_in(data, None);
    let api = Api::new(&server.base);
    let user = api.login("user.3301").await;
    let apps = api.get(&user, "/api/v1/apps").await;
    assert_eq!(apps.body.as_array().unwrap().len(), 3, "{}", apps.body);
    for (app, kind) in [
        ("fund-position", "view"),
        ("fund-daily-report", "document"),
        ("low-balance-alert", "findings"),
    ] {
        let a = api
            .post(&user, &format!("/api/v1/apps/{app}/launch"), json!({}))
            .await;
        assert_eq!(a.status, StatusCode::OK, "{app}: {}", a.body);
        assert_eq!(a.body["output"]["kind"], kind);
    }

    // The generated batch is in the warehouse, cleaned and cataloged.
    let admin = api.login("sysadmin").await;
    let batches = api.get(&admin, "/api/v1/warehouse/batches").await;
    assert_eq!(
        batches.body[0]["batch_id"], "GDP-B1-s42-tiny",
        "{}",
        batches.body
    );
    assert_eq!(batches.body[0]["tables_loaded"], 725);
    let dev = api.login("dev.cw").await;
    let found = api
        .get(&dev, "/api/v1/catalog/search?q=gl_voucher_line")
        .await;
    let names: Vec<&str> = found.body["items"]
        .as_array()
        .map(|t| t.iter().filter_map(|x| x["name"].as_str()).collect())
        .unwrap_or_default();
    assert!(
        names.contains(&"ods_gl_voucher_line") && names.contains(&"dwd_gl_voucher_line"),
        "{}",
        found.body
    );
}
