//! Test helpers: a fresh warehouse on either backend, and small batches
//! written through the batch format (independently of the generator).

#![allow(dead_code)]

use std::path::Path;
use zhiyun_batch::write::write_manifest;
use zhiyun_batch::{
    ColumnSpec, ColumnType, FileFormat, Manifest, TableManifest, TableSpec, TableWriter,
};
use zhiyun_store::Backend;
use zhiyun_warehouse::Db;

pub const PG_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A warehouse for one test: a temporary SQLite file, or a PostgreSQL schema
/// of its own (dropped by [`TestDb::close`]).
pub struct TestDb {
    pub db: Db,
    pub url: String,
    schema: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    pub async fn new(backend: Backend) -> TestDb {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let url = format!("sqlite://{}", dir.path().join("warehouse.db").display());
                TestDb {
                    db: Db::open(&url).await.unwrap(),
                    url,
                    schema: None,
                    _dir: Some(dir),
                }
            }
            Backend::Postgres => {
                let base = std::env::var("ZHIYUN_TEST_PG_URL").unwrap_or_else(|_| PG_URL.into());
                let schema = format!("w_{:016x}", rand_u64());
                let admin = sqlx::PgPool::connect(&base).await.unwrap_or_else(|e| {
                    panic!(
                        "PostgreSQL at {base} is needed for this test (set ZHIYUN_TEST_PG_URL): {e}"
                    )
                });
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
                    .execute(&admin)
                    .await
                    .unwrap();
                admin.close().await;
                let sep = if base.contains('?') { '&' } else { '?' };
                let url = format!("{base}{sep}options=-c%20search_path%3D{schema}");
                TestDb {
                    db: Db::open(&url).await.unwrap(),
                    url,
                    schema: Some(schema),
                    _dir: None,
                }
            }
        }
    }

    pub async fn close(self) {
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

pub fn col(name: &str, ty: ColumnType) -> ColumnSpec {
    ColumnSpec {
        name: name.into(),
        ty,
        description: String::new(),
    }
}

/// The payments table used throughout: key pay_id, org, date, money.
pub fn payment_spec() -> TableSpec {
    TableSpec {
        name: "payment".into(),
        domain: "资金".into(),
        description: "付款单".into(),
        columns: vec![
            col("pay_id", ColumnType::String),
            col("org_id", ColumnType::String),
            col("pay_date", ColumnType::Date),
            col("amount", ColumnType::Money),
            col("payee", ColumnType::String),
        ],
        key: vec!["pay_id".into()],
        period_column: Some("pay_date".into()),
        org_column: Some("org_id".into()),
    }
}

pub fn payment_row(i: u64) -> Vec<String> {
    vec![
        format!("P{i:07}"),
        ["3301", "3302", "3303"][(i % 3) as usize].into(),
        format!("2026-{:02}-{:02}", i % 12 + 1, i % 28 + 1),
        zhiyun_batch::money::fen_to_yuan((i * 7919 % 1_000_000) as i64 + 1),
        format!("供应商{}", i % 97),
    ]
}

/// Writes a table of `rows` payments (plus whatever `extra` writes) and returns its manifest entry.
pub fn write_payments(
    dir: &Path,
    spec: TableSpec,
    format: FileFormat,
    rows: u64,
    extra: impl FnOnce(&mut TableWriter),
) -> TableManifest {
    let mut w = TableWriter::create(dir, spec, format).unwrap();
    for i in 0..rows {
        w.write_row(&payment_row(i)).unwrap();
    }
    extra(&mut w);
    w.finish().unwrap()
}

pub fn manifest(batch_id: &str, tables: Vec<TableManifest>) -> Manifest {
    Manifest {
        format_version: 1,
        batch_id: batch_id.into(),
        source: "test".into(),
        as_of: "2026-10-31".into(),
        notes: Default::default(),
        tables,
    }
}

pub fn save(dir: &Path, manifest: &Manifest) {
    write_manifest(dir, manifest).unwrap();
}

/// Runs `body` once per backend (PostgreSQL is skipped only with ZHIYUN_TEST_SKIP_PG=1).
#[macro_export]
macro_rules! both_backends {
    ($name:ident, |$db:ident| $body:expr) => {
        mod $name {
            use super::*;
            async fn run($db: &common::TestDb) {
                $body
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let db = common::TestDb::new(zhiyun_store::Backend::Sqlite).await;
                run(&db).await;
                db.close().await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if std::env::var("ZHIYUN_TEST_SKIP_PG").is_ok_and(|v| v == "1") {
                    eprintln!("skipped: ZHIYUN_TEST_SKIP_PG=1");
                    return;
                }
                let db = common::TestDb::new(zhiyun_store::Backend::Postgres).await;
                run(&db).await;
                db.close().await;
            }
        }
    };
}
