//! Test helpers: a small warehouse on either backend with a granted table,
//! a table that is not granted, and something outside the warehouse (the
//! platform file on SQLite, another schema on PostgreSQL); the view of a
//! user of org 3301; and guarded runs.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;
use zhiyun_authz::scope::MaskKind;
use zhiyun_contract::{DataTable, Value, ValueKind};
use zhiyun_query::exec::{ExecError, Limits, ReadOnlyWarehouse, ensure_reader_role};
use zhiyun_query::guard::{DatasetView, Dialect, GuardError, GuardedSql, ViewColumn, guard};
use zhiyun_query::mask::mask_sql;
use zhiyun_store::Backend;
use zhiyun_warehouse::Db;

pub const PG_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
/// The reader role of the tests (shared by every test: roles are global
/// to the cluster; each test grants it its own schema).
pub const READER_ROLE: &str = "zhiyun_test_reader";
/// The login of the read-only pool: no privileges of its own (`NOINHERIT`),
/// a member of the reader role so that it may `SET ROLE` to it. Switching
/// back (`RESET ROLE`, `set_config('role', …)`) gains nothing, and it cannot
/// `SET ROLE` to anyone else. (With trust authentication, as in CI.)
pub const LOGIN_ROLE: &str = "zhiyun_test_query_login";

pub fn pg_base() -> String {
    std::env::var("ZHIYUN_TEST_PG_URL").unwrap_or_else(|_| PG_URL.into())
}

/// A row of `ads_fund_daily`: org, account, id number, holder, closing
/// (fen), date (and an internal note no view shows, the same in every row).
pub type FundRow = (
    &'static str,
    &'static str,
    Option<&'static str>,
    &'static str,
    i64,
    &'static str,
);

pub const ROWS: &[FundRow] = &[
    (
        "3301",
        "6222021234567890123",
        Some("11010519491231002X"),
        "张三",
        100_000,
        "2026-11-30",
    ),
    (
        "3301",
        "6222020000000004567",
        Some("440524188001010014"),
        "欧阳娜娜",
        250_050,
        "2026-11-30",
    ),
    (
        "3301",
        "6222029999999990001",
        None,
        "李",
        70_000,
        "2026-11-29",
    ),
    (
        "3302",
        "6222025555555550002",
        Some("330102199001011234"),
        "王五",
        999_999,
        "2026-11-30",
    ),
    (
        "3302",
        "6222026666666660003",
        Some("330102199202021111"),
        "赵六",
        123_456,
        "2026-11-29",
    ),
];

pub const SECRET: &str = "TOP-SECRET-42";
pub const PLATFORM_SECRET: &str = "argon2id$platform-password-hash";

/// A warehouse for one test.
pub struct Fixture {
    pub backend: Backend,
    pub dialect: Dialect,
    /// The warehouse URL.
    pub url: String,
    /// A normal (writable) pool on the warehouse, to set up and re-read.
    pub db: Db,
    /// The read-only connection under test.
    pub ro: ReadOnlyWarehouse,
    /// SQLite: the platform file standing next to the warehouse.
    pub platform_file: Option<PathBuf>,
    /// PostgreSQL: the warehouse schema and the schema standing for the
    /// platform.
    pub schema: Option<String>,
    pub platform_schema: Option<String>,
    pub dir: Option<tempfile::TempDir>,
}

const SETUP: &[&str] = &[
    "CREATE TABLE ads_fund_daily (org_id TEXT NOT NULL, acct_no TEXT, id_no TEXT, \
     holder_name TEXT, closing BIGINT NOT NULL, balance_date TEXT NOT NULL, internal_note TEXT)",
    "CREATE INDEX ads_fund_daily_closing ON ads_fund_daily (closing)",
    "CREATE TABLE dwd_secret (secret TEXT NOT NULL)",
];

impl Fixture {
    pub async fn new(backend: Backend) -> Fixture {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let url = format!("sqlite://{}", dir.path().join("warehouse.db").display());
                let db = Db::open(&url).await.unwrap();
                populate(&db).await;
                // The platform file: another database with users in it.
                let platform = dir.path().join("platform.db");
                let purl = format!("sqlite://{}?mode=rwc", platform.display());
                let ppool = sqlx::SqlitePool::connect(&purl).await.unwrap();
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                    "CREATE TABLE users (username TEXT, password_hash TEXT); \
                     INSERT INTO users VALUES ('admin', '{PLATFORM_SECRET}')"
                )))
                .execute(&ppool)
                .await
                .unwrap();
                ppool.close().await;
                let ro = ReadOnlyWarehouse::open(&url, None).await.unwrap();
                Fixture {
                    backend,
                    dialect: Dialect::Sqlite,
                    url,
                    db,
                    ro,
                    platform_file: Some(platform),
                    schema: None,
                    platform_schema: None,
                    dir: Some(dir),
                }
            }
            Backend::Postgres => {
                let base = pg_base();
                let schema = format!("q_{:016x}", rand_u64());
                let platform_schema = format!("{schema}_platform");
                let admin = sqlx::PgPool::connect(&base).await.unwrap_or_else(|e| {
                    panic!(
                        "PostgreSQL at {base} is needed for this test (set ZHIYUN_TEST_PG_URL): {e}"
                    )
                });
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                    "CREATE SCHEMA {schema}; CREATE SCHEMA {platform_schema}; \
                     CREATE TABLE {platform_schema}.users (username TEXT, password_hash TEXT); \
                     INSERT INTO {platform_schema}.users VALUES ('admin', '{PLATFORM_SECRET}')"
                )))
                .execute(&admin)
                .await
                .unwrap();
                ensure_reader_role(&admin, &schema, READER_ROLE)
                    .await
                    .unwrap();
                // Roles are shared by concurrent tests: one at a time.
                let mut tx = admin.begin().await.unwrap();
                sqlx::query("SELECT pg_advisory_xact_lock(7342001)")
                    .execute(&mut *tx)
                    .await
                    .unwrap();
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                    "DO $$ BEGIN CREATE ROLE {LOGIN_ROLE} LOGIN NOINHERIT; \
                     EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$; \
                     GRANT {READER_ROLE} TO {LOGIN_ROLE}"
                )))
                .execute(&mut *tx)
                .await
                .unwrap();
                tx.commit().await.unwrap();
                admin.close().await;
                let sep = if base.contains('?') { '&' } else { '?' };
                let url = format!("{base}{sep}options=-c%20search_path%3D{schema}");
                let db = Db::open(&url).await.unwrap();
                populate(&db).await;
                let ro = ReadOnlyWarehouse::open(&with_user(&url, LOGIN_ROLE), Some(READER_ROLE))
                    .await
                    .unwrap();
                Fixture {
                    backend,
                    dialect: Dialect::Postgres,
                    url,
                    db,
                    ro,
                    platform_file: None,
                    schema: Some(schema),
                    platform_schema: Some(platform_schema),
                    dir: None,
                }
            }
        }
    }

    pub async fn close(self) {
        self.ro.close().await;
        self.db.close().await;
        if let (Some(schema), Some(platform)) = (self.schema, self.platform_schema) {
            let admin = sqlx::PgPool::connect(&pg_base()).await.unwrap();
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "DROP SCHEMA {schema} CASCADE; DROP SCHEMA {platform} CASCADE"
            )))
            .execute(&admin)
            .await
            .unwrap();
            admin.close().await;
        }
    }

    /// The views of a user of 3301.
    pub fn views(&self) -> BTreeMap<String, DatasetView> {
        views_3301(self.dialect)
    }

    /// Guards `sql` with the 3301 views and runs it.
    pub async fn run(&self, sql: &str, params: &[Value]) -> Result<DataTable, Failure> {
        self.run_with(sql, params, &self.views(), limits()).await
    }

    pub async fn run_with(
        &self,
        sql: &str,
        params: &[Value],
        views: &BTreeMap<String, DatasetView>,
        limits: Limits,
    ) -> Result<DataTable, Failure> {
        let guarded = guard(sql, views, self.dialect).map_err(Failure::Guard)?;
        self.ro
            .run(&guarded, params, &kinds, limits)
            .await
            .map_err(Failure::Exec)
    }

    /// Runs raw SQL on the read-only connection, bypassing the guard.
    pub async fn raw(&self, sql: &str) -> Result<DataTable, ExecError> {
        let guarded = GuardedSql {
            sql: sql.to_string(),
            params: vec![],
            datasets: vec![],
        };
        self.ro.run(&guarded, &[], &kinds, limits()).await
    }

    /// `SELECT count(*) FROM <table>` on the normal pool.
    pub async fn count(&self, table: &str) -> i64 {
        let sql = format!("SELECT count(*) FROM {table}");
        zhiyun_warehouse::on_db!(&self.db, |pool| sqlx::query_scalar::<_, i64>(
            sqlx::AssertSqlSafe(sql)
        )
        .fetch_one(pool)
        .await
        .unwrap())
    }

    /// `SELECT sum(closing) FROM ads_fund_daily` on the normal pool.
    pub async fn total_closing(&self) -> i64 {
        zhiyun_warehouse::on_db!(&self.db, |pool| sqlx::query_scalar::<_, i64>(
            "SELECT CAST(sum(closing) AS BIGINT) FROM ads_fund_daily"
        )
        .fetch_one(pool)
        .await
        .unwrap())
    }
}

async fn populate(db: &Db) {
    for sql in SETUP {
        zhiyun_warehouse::on_db!(db, |pool| {
            sqlx::raw_sql(*sql).execute(pool).await.unwrap();
        });
    }
    for (org, acct, id, holder, closing, date) in ROWS {
        zhiyun_warehouse::on_db!(db, |pool| sqlx::query(
            "INSERT INTO ads_fund_daily VALUES ($1, $2, $3, $4, $5, $6, 'hidden-note')"
        )
        .bind(*org)
        .bind(*acct)
        .bind(*id)
        .bind(*holder)
        .bind(*closing)
        .bind(*date)
        .execute(pool)
        .await
        .map(|_| ())
        .unwrap());
    }
    zhiyun_warehouse::on_db!(db, |pool| sqlx::query("INSERT INTO dwd_secret VALUES ($1)")
        .bind(SECRET)
        .execute(pool)
        .await
        .map(|_| ())
        .unwrap());
}

/// The dataset `fund_daily` as a user of 3301 sees it: rows of 3301 only,
/// account numbers, id numbers and holders masked.
pub fn views_3301(dialect: Dialect) -> BTreeMap<String, DatasetView> {
    let clear = |c: &str| ViewColumn {
        name: c.into(),
        expr: format!("\"{c}\""),
    };
    let masked = |c: &str, kind| ViewColumn {
        name: c.into(),
        expr: mask_sql(dialect, &format!("\"{c}\""), kind),
    };
    let view = DatasetView {
        name: "fund_daily".into(),
        table: "ads_fund_daily".into(),
        columns: vec![
            clear("org_id"),
            masked("acct_no", MaskKind::BankAccount),
            masked("id_no", MaskKind::IdNumber),
            masked("holder_name", MaskKind::Name),
            clear("closing"),
            clear("balance_date"),
        ],
        row_filter: ("\"org_id\" IN ($1)".into(), vec!["3301".into()]),
    };
    [("fund_daily".to_string(), view)].into()
}

/// What the kinds of the dataset's columns are, by output name.
pub fn kinds(name: &str) -> Option<ValueKind> {
    match name {
        "closing" => Some(ValueKind::Money),
        "balance_date" => Some(ValueKind::Date),
        "org_id" => Some(ValueKind::Text),
        _ => None,
    }
}

pub fn limits() -> Limits {
    Limits {
        row_cap: 1000,
        timeout: Duration::from_secs(10),
    }
}

#[derive(Debug)]
pub enum Failure {
    Guard(GuardError),
    Exec(ExecError),
}

/// The values of column `name`.
pub fn column(t: &DataTable, name: &str) -> Vec<Value> {
    let i = t
        .columns
        .iter()
        .position(|c| c.name == name)
        .unwrap_or_else(|| panic!("no column {name} in {:?}", t.columns));
    t.rows.iter().map(|r| r[i].clone()).collect()
}

pub fn text(s: &str) -> Value {
    Value::Text(s.to_string())
}

/// `url` logging in as `user` (no password).
pub fn with_user(url: &str, user: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap();
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    format!("{scheme}://{user}@{host}{path}")
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos(),
    );
    h.finish()
}

/// Runs `body` once per backend (PostgreSQL is skipped only with
/// ZHIYUN_TEST_SKIP_PG=1).
#[macro_export]
macro_rules! both_backends {
    ($name:ident, |$fx:ident| $body:expr) => {
        mod $name {
            use super::*;
            async fn run($fx: &common::Fixture) {
                $body
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let fx = common::Fixture::new(zhiyun_store::Backend::Sqlite).await;
                run(&fx).await;
                fx.close().await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if std::env::var("ZHIYUN_TEST_SKIP_PG").is_ok_and(|v| v == "1") {
                    eprintln!("skipped: ZHIYUN_TEST_SKIP_PG=1");
                    return;
                }
                let fx = common::Fixture::new(zhiyun_store::Backend::Postgres).await;
                run(&fx).await;
                fx.close().await;
            }
        }
    };
}
