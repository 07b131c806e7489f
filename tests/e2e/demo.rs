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

// ---- S02: the app's KPIs equal an independent computation from the files --------

/// The rows of one generated table, read straight from the batch's file
/// (not through the warehouse): header-keyed, unreadable lines skipped.
fn read_table(
    batch: &std::path::Path,
    table: &str,
) -> Vec<std::collections::HashMap<String, String>> {
    use zhiyun_batch::FileFormat;
    use zhiyun_batch::read::{RowReader, Step};
    let dir = batch.join("tables");
    let (path, format) = [("csv", FileFormat::Csv), ("csv.gz", FileFormat::CsvGz)]
        .into_iter()
        .map(|(ext, f)| (dir.join(format!("{table}.{ext}")), f))
        .find(|(p, _)| p.exists())
        .unwrap_or_else(|| panic!("{table} is not in {}", dir.display()));
    let mut reader = RowReader::open(&path, format).unwrap();
    let header = reader.header().to_vec();
    let mut values = Vec::new();
    let mut rows = Vec::new();
    loop {
        match reader.next_into(&mut values).unwrap() {
            Step::Record { .. } => rows.push(
                header
                    .iter()
                    .cloned()
                    .zip(values.iter().map(|v| normalize(v)))
                    .collect(),
            ),
            Step::Bad(_) => continue,
            Step::End => break,
        }
    }
    rows
}

/// Undoes the generator's dirt the simple way: trims and folds full-width
/// characters to ASCII.
fn normalize(v: &str) -> String {
    v.trim()
        .chars()
        .map(|c| match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            '\u{3000}' => ' ',
            c => c,
        })
        .collect::<String>()
        .trim()
        .to_string()
}

fn fen(v: &str) -> i64 {
    zhiyun_batch::money::parse_yuan(v).unwrap_or_else(|| panic!("not money: {v:?}"))
}

fn day_number(date: &str) -> i64 {
    let d = zhiyun_batch::period::normalize_date(date).unwrap_or_else(|| panic!("{date}"));
    let (y, m, d): (i64, i64, i64) = (
        d[0..4].parse().unwrap(),
        d[5..7].parse().unwrap(),
        d[8..10].parse().unwrap(),
    );
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy
}

#[derive(Debug, Default, PartialEq)]
struct S02 {
    balance: i64,
    available: i64,
    reserve: i64,
    pooled: i64,
    unreconciled: i64,
    accounts: i64,
    below_reserve: i64,
    idle: i64,
}

/// The S02 KPIs on `date` over the accounts of `orgs`, from the files.
fn s02_from_files(batch: &std::path::Path, date: &str, orgs: &[&str]) -> S02 {
    use std::collections::{BTreeMap, HashMap};
    let flag = |v: &str| matches!(v, "Y" | "y" | "1" | "true" | "TRUE" | "是");
    let accounts: HashMap<String, (String, bool, i64)> = read_table(batch, "bank_account")
        .into_iter()
        .map(|r| {
            (
                r["acct_no"].clone(),
                (
                    r["org_id"].clone(),
                    flag(&r["in_pool"]),
                    fen(&r["safety_reserve"]),
                ),
            )
        })
        .collect();
    let target = day_number(date);
    // Later deliveries of the same (account, day) replace earlier ones.
    let mut balances: BTreeMap<(String, i64), (i64, i64, i64)> = BTreeMap::new();
    let mut first_day: HashMap<String, i64> = HashMap::new();
    for r in read_table(batch, "bank_balance_daily") {
        let day = day_number(&r["date"]);
        let first = first_day.entry(r["acct_no"].clone()).or_insert(day);
        *first = (*first).min(day);
        balances.insert(
            (r["acct_no"].clone(), day),
            (
                fen(&r["book_bal"]),
                fen(&r["bank_bal"]),
                fen(&r["available"]),
            ),
        );
    }
    let mut last_txn: HashMap<String, i64> = HashMap::new();
    for r in read_table(batch, "bank_txn") {
        let day = day_number(&r["txn_time"][..10.min(r["txn_time"].len())]);
        if day <= target {
            let last = last_txn.entry(r["acct_no"].clone()).or_insert(day);
            *last = (*last).max(day);
        }
    }
    let mut s = S02::default();
    for ((acct, day), (book, bank, available)) in &balances {
        if *day != target {
            continue;
        }
        let Some((org, in_pool, reserve)) = accounts.get(acct) else {
            continue;
        };
        if !orgs.contains(&org.as_str()) {
            continue;
        }
        s.balance += book;
        s.available += available;
        s.reserve += reserve;
        s.pooled += if *in_pool { *book } else { 0 };
        s.unreconciled += bank - book;
        s.accounts += 1;
        s.below_reserve += i64::from(available < reserve);
        let since = last_txn
            .get(acct)
            .or(first_day.get(acct))
            .copied()
            .unwrap_or(target);
        s.idle += i64::from(target - since >= 365);
    }
    s
}

/// The same KPIs as the launched app shows them.
fn s02_from_view(view: &serde_json::Value) -> (S02, f64, f64) {
    let kpis = view["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["type"] == "kpis")
        .unwrap_or_else(|| panic!("no KPI block: {view}"))["value"]
        .as_array()
        .unwrap()
        .clone();
    let v = |id: &str| -> serde_json::Value {
        kpis.iter()
            .find(|k| k["id"] == id)
            .unwrap_or_else(|| panic!("no KPI {id}: {view}"))["value"]["value"]
            .clone()
    };
    (
        S02 {
            balance: v("balance").as_i64().unwrap(),
            available: v("available").as_i64().unwrap(),
            unreconciled: v("unreconciled").as_i64().unwrap(),
            accounts: v("accounts").as_i64().unwrap(),
            below_reserve: v("below-reserve").as_i64().unwrap(),
            idle: v("idle-accounts").as_i64().unwrap(),
            ..S02::default()
        },
        v("reserve-coverage").as_f64().unwrap(),
        v("pooling-rate").as_f64().unwrap(),
    )
}

#[tokio::test]
async fn s02_kpis_equal_an_independent_computation_from_the_generated_files() {
    let data = tempfile::tempdir().unwrap();
    let (ok, log) = demo_setup(data.path());
    assert!(ok, "demo failed:\n{log}");
    assert!(log.contains("model ads_fund_daily: built in full"), "{log}");
    let batch = data.path().join("inbox/demo-batch-1");
    let server = Server::start_in(data, None);
    let api = Api::new(&server.base);
    // The last day of the generated data, a month end and an early day.
    for date in ["2026-10-31", "2026-06-30", "2025-03-15"] {
        for (user, orgs) in [
            ("leader.3300", &["3300", "3301", "3302", "3303"][..]),
            ("user.3301", &["3301"][..]),
        ] {
            let token = api.login(user).await;
            let a = api
                .post(
                    &token,
                    "/api/v1/apps/fund-position/launch",
                    json!({ "params": { "date": date } }),
                )
                .await;
            assert_eq!(a.status, StatusCode::OK, "{user} {date}: {}", a.body);
            let view = &a.body["output"]["output"];
            let want = s02_from_files(&batch, date, orgs);
            assert!(want.accounts > 0, "{date}: no accounts in the files");
            let (got, coverage, pooling) = s02_from_view(view);
            let expected = S02 {
                reserve: 0,
                pooled: 0,
                ..want
            };
            let want_coverage = want.available as f64 / want.reserve as f64;
            let want_pooling = want.pooled as f64 / want.balance as f64;
            assert_eq!(got, expected, "{user} on {date}");
            assert!((coverage - want_coverage).abs() < 1e-12, "{user} {date}");
            assert!((pooling - want_pooling).abs() < 1e-12, "{user} {date}");
            // A 县公司 user sees no row of another: every account listed is its own.
            if user == "user.3301" {
                let text = view.to_string();
                for other in ["西山县", "南湖县"] {
                    assert!(!text.contains(other), "{user} sees {other}: {text}");
                }
            }
        }
    }
}
