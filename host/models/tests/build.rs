//! Model builds on both backends, over a small hand-made DWD layer (not the
//! generator): a first build is full; a second with nothing changed touches
//! nothing; a change in one month of one input rebuilds exactly that month
//! incrementally, and the result equals a full rebuild; a failing model
//! keeps its previous data and marks everything downstream stale.

use std::path::{Path, PathBuf};
use zhiyun_models::build::{BuildOptions, model_state};
use zhiyun_models::{Mode, Project, RunStatus, build};
use zhiyun_store::Backend;
use zhiyun_warehouse::{Db, on_db};

const PG_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

struct TestDb {
    db: Db,
    schema: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

async fn test_db(backend: Backend) -> TestDb {
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().unwrap();
            let db = Db::open(&format!(
                "sqlite://{}",
                dir.path().join("warehouse.db").display()
            ))
            .await
            .unwrap();
            TestDb {
                db,
                schema: None,
                _dir: Some(dir),
            }
        }
        Backend::Postgres => {
            let base = std::env::var("ZHIYUN_TEST_PG_URL").unwrap_or_else(|_| PG_URL.into());
            let schema = format!(
                "m_{}",
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
            admin.close().await;
            let sep = if base.contains('?') { '&' } else { '?' };
            let db = Db::open(&format!("{base}{sep}options=-c%20search_path%3D{schema}"))
                .await
                .unwrap();
            TestDb {
                db,
                schema: Some(schema),
                _dir: None,
            }
        }
    }
}

impl TestDb {
    async fn close(self) {
        self.db.close().await;
        if let Some(schema) = self.schema {
            let base = std::env::var("ZHIYUN_TEST_PG_URL").unwrap_or_else(|_| PG_URL.into());
            let admin = sqlx::PgPool::connect(&base).await.unwrap();
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
                .execute(&admin)
                .await
                .unwrap();
            admin.close().await;
        }
    }
}

async fn exec(db: &Db, sql: &str) {
    on_db!(db, |pool| sqlx::raw_sql(sqlx::AssertSqlSafe(
        sql.to_string()
    ))
    .execute(pool)
    .await
    .map(|_| ()))
    .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// Every row of `table` as text, sorted (to compare two builds).
async fn snapshot(db: &Db, table: &str, columns: &[&str]) -> Vec<String> {
    let cols: Vec<String> = columns
        .iter()
        .map(|c| format!("COALESCE(CAST(\"{c}\" AS TEXT), '∅')"))
        .collect();
    let sql = format!(
        "SELECT {} FROM \"{table}\" ORDER BY 1",
        cols.join(" || '|' || ")
    );
    let mut rows: Vec<String> = on_db!(db, |pool| sqlx::query_scalar(sqlx::AssertSqlSafe(
        sql.as_str()
    ))
    .fetch_all(pool)
    .await)
    .unwrap();
    rows.sort();
    rows
}

async fn count(db: &Db, table: &str) -> i64 {
    let sql = format!("SELECT count(*) FROM \"{table}\"");
    on_db!(db, |pool| sqlx::query_scalar(sqlx::AssertSqlSafe(
        sql.as_str()
    ))
    .fetch_one(pool)
    .await)
    .unwrap()
}

/// Two accounts (3301 in the pool, 3302 not), 90 days of balances from
/// 2025-01-01, a transaction every third day; cleaned by batch B1.
async fn seed(db: &Db) {
    zhiyun_warehouse::clean::ensure_tables(db).await.unwrap();
    exec(db, "CREATE TABLE dwd_dim_org (_batch_id TEXT NOT NULL, _line BIGINT NOT NULL, org_id TEXT PRIMARY KEY, org_code TEXT, name TEXT, parent_id TEXT, level BIGINT, org_type TEXT, is_acct_entity BIGINT, cost_center TEXT, profit_center TEXT)").await;
    exec(db, "INSERT INTO dwd_dim_org VALUES ('B1', 1, '3301', 'C1', '东城县', '3300', 3, '县公司', 1, NULL, NULL), ('B1', 2, '3302', 'C2', '西山县', '3300', 3, '县公司', 1, NULL, NULL)").await;
    exec(db, "CREATE TABLE dwd_bank_account (_batch_id TEXT NOT NULL, _line BIGINT NOT NULL, acct_no TEXT PRIMARY KEY, bank TEXT, bank_code TEXT, org_id TEXT, type TEXT, in_pool BIGINT, safety_reserve BIGINT, status TEXT, open_date TEXT)").await;
    exec(db, "INSERT INTO dwd_bank_account VALUES ('B1', 1, 'A1', '工行', '102', '3301', '基本户', 1, 100000, '正常', '2010-01-01'), ('B1', 2, 'A2', '农行', '103', '3302', '农网专户', 0, 50000, '正常', '2010-01-01')").await;
    exec(db, "CREATE TABLE dwd_bank_balance_daily (_batch_id TEXT NOT NULL, _line BIGINT NOT NULL, acct_no TEXT NOT NULL, date TEXT NOT NULL, org_id TEXT, book_bal BIGINT, bank_bal BIGINT, available BIGINT, unreconciled BIGINT, frozen BIGINT, PRIMARY KEY (acct_no, date))").await;
    exec(db, "CREATE TABLE dwd_bank_txn (_batch_id TEXT NOT NULL, _line BIGINT NOT NULL, txn_id TEXT PRIMARY KEY, acct_no TEXT, org_id TEXT, txn_time TEXT, dir TEXT, amount BIGINT, counterparty TEXT, purpose TEXT, balance_after BIGINT, voucher_id TEXT)").await;
    let mut balances = Vec::new();
    let mut txns = Vec::new();
    let mut line = 0;
    for (acct, org) in [("A1", "3301"), ("A2", "3302")] {
        for day in 0..90 {
            let (m, d) = match day {
                0..=30 => (1, day + 1),
                31..=58 => (2, day - 30),
                _ => (3, day - 58),
            };
            line += 1;
            let book = 200_000 + day * 1_000;
            balances.push(format!(
                "('B1', {line}, '{acct}', '2025-{m:02}-{d:02}', '{org}', {book}, {}, {}, 0, 0)",
                book + 5,
                book - 10
            ));
            if day % 3 == 0 {
                txns.push(format!(
                    "('B1', {line}, 'T{acct}{day}', '{acct}', '{org}', '2025-{m:02}-{d:02} 10:00:00', '收', 1000, 'x', 'y', {book}, NULL)"
                ));
            }
        }
    }
    exec(
        db,
        &format!(
            "INSERT INTO dwd_bank_balance_daily VALUES {}",
            balances.join(", ")
        ),
    )
    .await;
    exec(
        db,
        &format!("INSERT INTO dwd_bank_txn VALUES {}", txns.join(", ")),
    )
    .await;
    for table in ["dim_org", "bank_account", "bank_balance_daily", "bank_txn"] {
        clean_run(db, "B1", table).await;
    }
}

async fn clean_run(db: &Db, batch: &str, table: &str) {
    exec(
        db,
        &format!(
            "INSERT INTO zw_clean_run (batch_id, table_name, status, rules_source, rules_hash, started_at, finished_at) \
             VALUES ('{batch}', '{table}', 'done', 'test', 'r1', 1, 2)"
        ),
    )
    .await;
}

fn models_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../plugins/models")
}

const ADS_COLUMNS: &[&str] = &[
    "acct_no",
    "balance_date",
    "org_id",
    "closing",
    "inflow",
    "unreconciled",
    "pooled_closing",
    "last_txn_date",
    "idle",
];

async fn incremental_equals_full(backend: Backend) {
    let t = test_db(backend).await;
    seed(&t.db).await;
    let project = Project::load(&models_dir()).unwrap();
    let all = BuildOptions::default();

    let first = build(&t.db, &project, &all, |_| {}).await.unwrap();
    assert!(first.ok(), "{first:?}");
    assert!(
        first
            .runs
            .iter()
            .all(|r| r.status == RunStatus::Built && r.mode == Mode::Full)
    );
    assert_eq!(count(&t.db, "ads_fund_daily").await, 180);

    let again = build(&t.db, &project, &all, |_| {}).await.unwrap();
    assert!(
        again.runs.iter().all(|r| r.status == RunStatus::Unchanged),
        "nothing changed: {again:?}"
    );

    // Batch B2 corrects one February transaction.
    exec(
        &t.db,
        "UPDATE dwd_bank_txn SET amount = 7777, _batch_id = 'B2', _line = 1 WHERE txn_id = 'TA133'",
    )
    .await;
    clean_run(&t.db, "B2", "bank_txn").await;
    let inc = build(&t.db, &project, &all, |_| {}).await.unwrap();
    let by = |m: &str| inc.runs.iter().find(|r| r.model == m).unwrap().clone();
    assert_eq!(by("dws_bank_txn_daily").mode, Mode::Incremental);
    assert_eq!(by("dws_bank_txn_daily").partitions, ["2025-02"]);
    assert_eq!(by("dws_fund_account_daily").mode, Mode::Incremental);
    assert_eq!(by("dws_fund_account_daily").partitions, ["2025-02"]);
    assert_eq!(by("dws_fund_account_daily").rows_written, 56);
    // The dataset looks back over earlier months (last transaction, idle):
    // it rebuilds the changed month and every later one.
    assert_eq!(by("ads_fund_daily").mode, Mode::Incremental);
    assert_eq!(by("ads_fund_daily").partitions, ["2025-02", "2025-03"]);
    assert_eq!(by("ads_fund_daily").rows_written, 56 + 62);
    let incremental = snapshot(&t.db, "ads_fund_daily", ADS_COLUMNS).await;
    assert!(
        incremental.iter().any(|r| r.contains("|7777|")),
        "the correction is in"
    );

    let full = build(
        &t.db,
        &project,
        &BuildOptions {
            full_refresh: true,
            ..BuildOptions::default()
        },
        |_| {},
    )
    .await
    .unwrap();
    assert!(full.runs.iter().all(|r| r.mode == Mode::Full));
    assert_eq!(
        snapshot(&t.db, "ads_fund_daily", ADS_COLUMNS).await,
        incremental,
        "an incremental build equals a full one"
    );
    t.close().await;
}

/// A copy of the models with `dws_bank_txn_daily` broken.
fn broken_models() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in walk(&models_dir()) {
        let name = entry.file_name().unwrap();
        std::fs::copy(&entry, dir.path().join(name)).unwrap();
    }
    let sql = dir.path().join("dws_bank_txn_daily.sql");
    let text = std::fs::read_to_string(&sql).unwrap();
    std::fs::write(
        &sql,
        text.replace("SUM(CASE WHEN dir", "SUM(CASE WHEN no_such_column"),
    )
    .unwrap();
    dir
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else if p.extension().is_some_and(|x| x == "sql" || x == "toml") {
            out.push(p);
        }
    }
    out
}

async fn failure_marks_descendants_stale(backend: Backend) {
    let t = test_db(backend).await;
    seed(&t.db).await;
    let good = Project::load(&models_dir()).unwrap();
    let all = BuildOptions::default();
    assert!(build(&t.db, &good, &all, |_| {}).await.unwrap().ok());
    let before = snapshot(&t.db, "ads_fund_daily", ADS_COLUMNS).await;

    let dir = broken_models();
    let broken = Project::load(dir.path()).unwrap();
    let report = build(&t.db, &broken, &all, |_| {}).await.unwrap();
    let by = |m: &str| report.runs.iter().find(|r| r.model == m).unwrap().clone();
    assert_eq!(by("dws_bank_txn_daily").status, RunStatus::Failed);
    assert!(
        by("dws_bank_txn_daily")
            .detail
            .unwrap()
            .contains("no_such_column")
    );
    assert_eq!(by("dws_fund_account_daily").status, RunStatus::Stale);
    assert_eq!(by("ads_fund_daily").status, RunStatus::Stale);
    assert!(!report.ok());
    // Nothing half-built: the previous data is all there.
    assert_eq!(snapshot(&t.db, "ads_fund_daily", ADS_COLUMNS).await, before);
    assert_eq!(count(&t.db, "dws_bank_txn_daily").await, 60);
    let state = model_state(&t.db, "ads_fund_daily").await.unwrap().unwrap();
    assert_eq!(state.status, "stale");
    assert!(state.reason.unwrap().contains("dws_bank_txn_daily"));

    // Fixed again: everything is ok and catches up.
    let fixed = build(&t.db, &good, &all, |_| {}).await.unwrap();
    assert!(fixed.ok(), "{fixed:?}");
    assert_eq!(
        model_state(&t.db, "ads_fund_daily")
            .await
            .unwrap()
            .unwrap()
            .status,
        "ok"
    );
    t.close().await;
}

#[tokio::test]
async fn incremental_equals_full_on_sqlite() {
    incremental_equals_full(Backend::Sqlite).await;
}

#[tokio::test]
async fn incremental_equals_full_on_postgres() {
    incremental_equals_full(Backend::Postgres).await;
}

#[tokio::test]
async fn failure_marks_descendants_stale_on_sqlite() {
    failure_marks_descendants_stale(Backend::Sqlite).await;
}

#[tokio::test]
async fn failure_marks_descendants_stale_on_postgres() {
    failure_marks_descendants_stale(Backend::Postgres).await;
}
