//! S02 资金全景监控 end to end, on SQLite and on PostgreSQL: a generated
//! batch is ingested, cleaned and modelled, the fund-position app is
//! launched as users of different orgs, and its KPIs must equal — to the fen
//! — a computation made straight from the batch's files, without the
//! warehouse or the models (own parsing of the files, later deliveries
//! replacing earlier ones, unreadable lines skipped as the loader skips
//! them). A 县公司 user must never see another 县公司.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::json;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

fn zhiyun(args: &[&str], envs: &[(&str, &str)]) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_zhiyun"));
    cmd.args(args)
        .current_dir(workspace())
        .env_remove("DATABASE_URL")
        .env_remove("ZHIYUN_WAREHOUSE_URL")
        .env("ZHIYUN_LOG", "warn");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "zhiyun {args:?} failed:\n{text}");
    text
}

/// A running `zhiyun serve` (killed on drop).
struct Serve {
    child: std::process::Child,
    base: String,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(data: &Path, warehouse: Option<&str>) -> Serve {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_zhiyun"));
    cmd.args([
        "serve",
        "--seed-demo",
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
    ])
    .arg(data)
    .arg("--models")
    .arg(workspace().join("plugins/models"))
    .env_remove("DATABASE_URL")
    .env_remove("ZHIYUN_WAREHOUSE_URL")
    .env("ZHIYUN_LOG", "warn")
    .stdout(Stdio::piped())
    .stderr(Stdio::inherit());
    if let Some(url) = warehouse {
        cmd.arg("--warehouse-url").arg(url);
    }
    let mut child = cmd.spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line
        .trim()
        .strip_prefix("zhiyun listening on ")
        .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
        .to_string();
    Serve { child, base }
}

/// The apps signed, submitted and approved (no data: the warehouse is set
/// up by the test).
fn demo_apps(data: &Path) {
    let log = zhiyun(
        &[
            "demo",
            "--setup-only",
            "--no-data",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            data.to_str().unwrap(),
        ],
        &[],
    );
    assert!(log.contains("approved fund-position"), "{log}");
}

/// Launches fund-position as each user on each date and compares.
async fn check_against_files(base: &str, batch: &Path) {
    let api = Api::new(base);
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
            let want = s02_from_files(batch, date, orgs);
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
            if user == "user.3301" {
                let text = view.to_string();
                for other in ["西山县", "南湖县"] {
                    assert!(!text.contains(other), "{user} sees {other}: {text}");
                }
            }
        }
    }
}

/// Publishes the `sql-probe` test app (its manifest declares `fund_daily`)
/// and puts it on the 资金管理 menu.
async fn publish_sql_probe(api: &Api) {
    let secadmin = api.login("secadmin").await;
    let developer = api.login("dev.cw").await;
    let reviewer = api.login("reviewer").await;
    let (key, public) = department_key("caiwu-probe");
    api.register_key(&secadmin, &key, public).await;
    let a = api
        .post_raw(
            &developer,
            "/api/v1/packages",
            "application/octet-stream",
            package("tests/apps/sql-probe", "sql_probe", None, &key),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    let a = api
        .post(
            &reviewer,
            "/api/v1/apps/sql-probe/versions/0.1.0/approve",
            json!({}),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    api.place_on_menu("sql-probe").await;
}

/// Runs `sql` through the app's `data.sql` import as `token`'s user.
async fn probe(api: &Api, token: &str, sql: &str, p1: Option<&str>) -> Answer {
    let mut params = json!({ "sql": sql });
    if let Some(p) = p1 {
        params["p1"] = json!(p);
    }
    api.post(
        token,
        "/api/v1/apps/sql-probe/launch",
        json!({ "params": params }),
    )
    .await
}

/// The rows of the probe's result table.
fn probe_rows(a: &Answer) -> Vec<serde_json::Value> {
    let blocks = a.body["output"]["output"]["blocks"].as_array().unwrap();
    let table = blocks.iter().find(|b| b["type"] == "table").unwrap();
    table["value"]["rows"].as_array().unwrap().clone()
}

/// An app's own SQL over the warehouse, as a 县公司 user: the sums are the
/// files', no other org's row comes back however the statement is written,
/// nothing but the granted dataset can be named, nothing can be written,
/// and every access is audited with its row count.
async fn guarded_sql_through_an_app(base: &str, batch: &Path) {
    let api = Api::new(base);
    publish_sql_probe(&api).await;
    let user = api.login("user.3301").await;
    let by_org = "SELECT org_id, SUM(closing) AS closing, COUNT(*) AS n FROM fund_daily \
                  WHERE balance_date = ?1 GROUP BY org_id ORDER BY org_id";
    let a = probe(&api, &user, by_org, Some("2026-10-31")).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let rows = probe_rows(&a);
    assert_eq!(rows.len(), 1, "only 3301: {rows:?}");
    let cells = rows[0]["cells"].as_array().unwrap();
    assert_eq!(cells[0]["value"], "3301");
    assert_eq!(cells[1]["type"], "money", "a sum of money stays money");
    let want = s02_from_files(batch, "2026-10-31", &["3301"]);
    assert_eq!(cells[1]["value"].as_i64().unwrap(), want.balance);
    assert_eq!(cells[2]["value"].as_i64().unwrap(), want.accounts);

    // Escapes that return rows must return only the user's own.
    for escape in [
        "SELECT x.org_id FROM fund_daily AS x WHERE x.org_id <> '3301'",
        "SELECT org_id FROM fund_daily WHERE org_id = '3302' UNION ALL SELECT org_id FROM fund_daily WHERE org_id = '3303'",
        "WITH all_rows AS (SELECT * FROM FuNd_DaIlY) SELECT org_id FROM all_rows WHERE org_id IN ('3300', '3302')",
        "SELECT org_id FROM fund_daily /* WHERE 1=1 */ WHERE org_id = '3302' -- OR 1=1",
    ] {
        let a = probe(&api, &user, escape, None).await;
        assert_eq!(a.status, StatusCode::OK, "{escape}: {}", a.body);
        assert!(probe_rows(&a).is_empty(), "{escape}: {}", a.body);
    }
    // Anything but the granted dataset is not there for the app.
    for ungranted in [
        "SELECT org_id FROM fund_daily UNION SELECT org_id FROM ads_fund_daily",
        "WITH t AS (SELECT * FROM dwd_bank_account) SELECT * FROM t",
        "SELECT * FROM fund_daily WHERE acct_no IN (SELECT acct_no FROM dwd_bank_account)",
        "SELECT * FROM zw_model_state",
        // A quoted name is taken exactly: "FUND_DAILY" is not fund_daily.
        "SELECT org_id FROM \"FUND_DAILY\"",
    ] {
        let a = probe(&api, &user, ungranted, None).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{ungranted}: {}", a.body);
    }
    // No writes, no second statement, no file or system functions.
    for bad in [
        "DELETE FROM fund_daily",
        "UPDATE fund_daily SET closing = 0",
        "DROP TABLE fund_daily",
        "SELECT 1; DROP TABLE ads_fund_daily",
        "SELECT pg_read_file('/etc/passwd')",
        "SELECT load_extension('/tmp/x')",
        "SELECT readfile('/etc/passwd')",
    ] {
        let a = probe(&api, &user, bad, None).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{bad}: {}", a.body);
    }
    // Nothing was written: the HQ leader still sees every org.
    let leader = api.login("leader.3300").await;
    let a = probe(&api, &leader, by_org, Some("2026-10-31")).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(probe_rows(&a).len(), 4, "{}", a.body);

    // Every statement's access is audited, with the app and the row count.
    let auditor = api.login("auditadmin").await;
    let mut found = None;
    for _ in 0..50 {
        let entries = api
            .get(&auditor, "/api/v1/audit?action=data.access&actor=user.3301")
            .await
            .body;
        found = entries.as_array().and_then(|e| {
            e.iter()
                .find(|e| e["detail"]["app"] == "sql-probe" && e["detail"]["row_count"] == 1)
                .cloned()
        });
        if found.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let entry = found.expect("the probe's read is audited");
    assert_eq!(entry["detail"]["dataset"], "fund_daily");
    assert!(
        entry["detail"]["sql"]
            .as_str()
            .unwrap()
            .contains("GROUP BY org_id")
    );
}

/// The S02 source tables (and the dictionary the account rules map through).
const S02_TABLES: &[&str] = &[
    "dim_org",
    "code_map_bank",
    "bank_account",
    "bank_balance_daily",
    "bank_txn",
];

fn ingest_and_build(batch: &Path, warehouse_args: &[&str]) -> String {
    let mut ingest = vec!["ingest", batch.to_str().unwrap()];
    ingest.extend_from_slice(warehouse_args);
    for t in S02_TABLES {
        ingest.extend_from_slice(&["--table", t]);
    }
    zhiyun(&ingest, &[]);
    let mut build = vec!["models", "build"];
    build.extend_from_slice(warehouse_args);
    let log = zhiyun(&build, &[]);
    assert!(log.contains("3 built"), "{log}");
    log
}

#[tokio::test]
async fn s02_kpis_equal_the_files_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let batch = dir.path().join("batch");
    let data = dir.path().join("data");
    zhiyun(
        &["gen", "--scale", "tiny", "--out", batch.to_str().unwrap()],
        &[],
    );
    demo_apps(&data);
    ingest_and_build(&batch, &["--data-dir", data.to_str().unwrap()]);
    let server = serve(&data, None);
    check_against_files(&server.base, &batch).await;
    guarded_sql_through_an_app(&server.base, &batch).await;
    // The second batch re-delivers every row (its cleaning replaces them,
    // firing the models' move-log triggers); the incremental build that
    // follows must give the second batch's numbers.
    let batch2 = dir.path().join("batch2");
    zhiyun(
        &[
            "gen",
            "--scale",
            "tiny",
            "--batch",
            "2",
            "--out",
            batch2.to_str().unwrap(),
        ],
        &[],
    );
    let log = ingest_and_build(&batch2, &["--data-dir", data.to_str().unwrap()]);
    assert!(
        log.contains("dws_bank_txn_daily: built incrementally"),
        "{log}"
    );
    check_against_files(&server.base, &batch2).await;
}

#[tokio::test]
async fn s02_kpis_equal_the_files_on_postgres() {
    let dir = tempfile::tempdir().unwrap();
    let batch = dir.path().join("batch");
    let data = dir.path().join("data");
    let base = std::env::var("ZHIYUN_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let schema = format!(
        "s02_{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let admin = sqlx::PgPool::connect(&base).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&admin)
        .await
        .unwrap();
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}options=-c%20search_path%3D{schema}");
    zhiyun(
        &["gen", "--scale", "tiny", "--out", batch.to_str().unwrap()],
        &[],
    );
    demo_apps(&data);
    ingest_and_build(&batch, &["--warehouse", &url]);
    {
        let server = serve(&data, Some(&url));
        check_against_files(&server.base, &batch).await;
        guarded_sql_through_an_app(&server.base, &batch).await;
        let batch2 = dir.path().join("batch2");
        zhiyun(
            &[
                "gen",
                "--scale",
                "tiny",
                "--batch",
                "2",
                "--out",
                batch2.to_str().unwrap(),
            ],
            &[],
        );
        let log = ingest_and_build(&batch2, &["--warehouse", &url]);
        assert!(
            log.contains("dws_bank_txn_daily: built incrementally"),
            "{log}"
        );
        check_against_files(&server.base, &batch2).await;
    }
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;
}

// ---- the independent computation from the files ----------------------------------

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
