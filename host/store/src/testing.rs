//! Running a test against both backends (feature `testing`).
//!
//! ```ignore
//! use zhiyun_store::store_test;
//!
//! store_test!(keys_round_trip, |store| async move {
//!     store.ping().await.unwrap();
//! });
//! ```
//!
//! generates a module `keys_round_trip` with two tests, `sqlite` and
//! `postgres` (so `cargo test postgres` runs only the PostgreSQL variants).
//! Each gets a fresh, migrated store:
//!
//! - **SQLite:** a new temporary directory, removed afterwards.
//! - **PostgreSQL:** `postgres://postgres@127.0.0.1:5432/test`, or
//!   `ZHIYUN_TEST_PG_URL`; each test in its own schema `t_<random>` (every
//!   pooled connection sets `search_path` to it), dropped afterwards even if
//!   the test panicked (set `ZHIYUN_TEST_KEEP_SCHEMA=1` to keep it for a
//!   look). Tests therefore run in parallel.
//!
//! If PostgreSQL cannot be reached the PostgreSQL variant **fails** with a
//! message saying how to start it — it never passes silently — unless
//! `ZHIYUN_TEST_SKIP_PG=1`, which turns the PostgreSQL variants into no-ops
//! that say so on stderr.

use crate::{Backend, Store, StoreOptions};
use sqlx::{AssertSqlSafe, Connection, Executor};
use std::future::Future;

/// The PostgreSQL the tests use unless `ZHIYUN_TEST_PG_URL` says otherwise.
pub const DEFAULT_PG_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// The PostgreSQL URL the tests use.
pub fn pg_url() -> String {
    std::env::var("ZHIYUN_TEST_PG_URL").unwrap_or_else(|_| DEFAULT_PG_URL.to_string())
}

/// True if `ZHIYUN_TEST_SKIP_PG=1`.
pub fn skip_pg() -> bool {
    std::env::var("ZHIYUN_TEST_SKIP_PG").is_ok_and(|v| v == "1")
}

/// Both backends, for a test that loops over them itself.
pub const BACKENDS: [Backend; 2] = [Backend::Sqlite, Backend::Postgres];

/// A fresh store for one test. Call [`TestStore::close`] at the end to drop
/// the PostgreSQL schema (the SQLite directory goes when this is dropped).
pub struct TestStore {
    pub store: Store,
    schema: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

impl TestStore {
    /// A fresh, migrated store on `backend`. Panics with a clear message if
    /// the backend is unreachable (see the module docs). Returns `None` only
    /// for PostgreSQL when `ZHIYUN_TEST_SKIP_PG=1`.
    pub async fn new(backend: Backend) -> Option<TestStore> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("create a temporary directory");
                let store = Store::open_sqlite(dir.path())
                    .await
                    .unwrap_or_else(|e| panic!("cannot open a SQLite test store: {e}"));
                Some(TestStore {
                    store,
                    schema: None,
                    _dir: Some(dir),
                })
            }
            Backend::Postgres => {
                if skip_pg() {
                    eprintln!("ZHIYUN_TEST_SKIP_PG=1: skipping the PostgreSQL variant");
                    return None;
                }
                let url = pg_url();
                let schema = unique_schema();
                let options = StoreOptions {
                    max_connections: Some(4),
                    schema: Some(schema.clone()),
                    acquire_timeout: Some(std::time::Duration::from_secs(10)),
                };
                let store = Store::open_with(&url, &options).await.unwrap_or_else(|e| {
                    panic!(
                        "PostgreSQL test store unavailable at {}: {e}\n\
                         The PostgreSQL variants of the store tests need a server that trusts \
                         local connections. Start one (e.g. `pg_ctlcluster --skip-systemctl-redirect \
                         $(ls /etc/postgresql) main start` and `createdb -h 127.0.0.1 -U postgres test`), \
                         point ZHIYUN_TEST_PG_URL at another, or set ZHIYUN_TEST_SKIP_PG=1 to skip them.",
                        crate::redact(&url)
                    )
                });
                Some(TestStore {
                    store,
                    schema: Some(schema),
                    _dir: None,
                })
            }
        }
    }

    /// Closes the pool and drops the test's PostgreSQL schema.
    pub async fn close(self) {
        self.store.close().await;
        if let Some(schema) = &self.schema {
            if std::env::var("ZHIYUN_TEST_KEEP_SCHEMA").is_ok_and(|v| v == "1") {
                eprintln!("keeping PostgreSQL test schema {schema}");
                return;
            }
            drop_pg_schema(schema).await;
        }
    }
}

/// A fresh schema name for a PostgreSQL test, `t_<16 hex digits>`.
pub fn unique_schema() -> String {
    format!("t_{:016x}", rand::random::<u64>())
}

/// Drops a PostgreSQL test schema (and everything in it); failures are
/// reported on stderr, not raised.
pub async fn drop_pg_schema(schema: &str) {
    let drop = async {
        let mut conn = sqlx::AnyConnection::connect(&pg_url()).await?;
        conn.execute(AssertSqlSafe(format!(
            "DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"
        )))
        .await?;
        conn.close().await
    };
    if let Err(e) = drop.await {
        eprintln!("could not drop PostgreSQL test schema {schema}: {e}");
    }
}

/// Runs `test` with a fresh store on `backend`, on its own tokio runtime
/// (two worker threads, so concurrency is real), then cleans up — also
/// when the test panics, whose panic is then resumed.
pub fn run<F, Fut>(backend: Backend, test: F)
where
    F: FnOnce(Store) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("build a tokio runtime");
    rt.block_on(async move {
        let Some(ts) = TestStore::new(backend).await else {
            return;
        };
        let outcome = tokio::spawn(test(ts.store.clone())).await;
        ts.close().await;
        if let Err(e) = outcome {
            match e.try_into_panic() {
                Ok(panic) => std::panic::resume_unwind(panic),
                Err(e) => panic!("test task failed: {e}"),
            }
        }
    });
}

/// Defines a test that runs on both backends: a module `$name` with the
/// tests `sqlite` and `postgres`. The body is an expression of type
/// `impl Future<Output = ()> + Send + 'static`, usually `async move { … }`,
/// with the fresh [`Store`] bound to the given name.
#[macro_export]
macro_rules! store_test {
    ($(#[$meta:meta])* $name:ident, |$store:ident| $body:expr) => {
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[test]
            fn sqlite() {
                $crate::testing::run($crate::Backend::Sqlite, |$store: $crate::Store| $body);
            }

            #[test]
            fn postgres() {
                $crate::testing::run($crate::Backend::Postgres, |$store: $crate::Store| $body);
            }
        }
    };
}
