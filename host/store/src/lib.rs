//! The platform store: where the host keeps its own state (the app registry,
//! and later users, grants, jobs and the audit chain).
//!
//! **Owns:** the sqlx connection pool, the schema migrations of both
//! backends, the differences between the backends (dialect, connection
//! settings), and the representation of time and money in the database.
//! **Must not know:** wasmtime, HTTP, or what any row means — the crates that
//! own a table's meaning (the registry in `zhiyun-apps`, …) write their own
//! queries against [`Store::pool`] or [`Store::begin_write`].
//!
//! # Backends
//!
//! - **SQLite** is the embedded default: one file `<data_dir>/platform.db`
//!   ([`Store::open_sqlite`]), in WAL mode, foreign keys on, a 5 s busy
//!   timeout, `synchronous = NORMAL`.
//! - **PostgreSQL** when given a `postgres://` URL ([`Store::open`]); several
//!   hosts may share one database.
//!
//! Both are reached through one [`sqlx::AnyPool`], so a query is written once.
//! Queries use `$1, $2, …` placeholders, which both drivers accept (SQLite
//! reads `$N` as the N-th argument). The few type differences (`BYTEA` vs
//! `BLOB`, `BIGSERIAL` vs `INTEGER PRIMARY KEY AUTOINCREMENT`) live in the
//! per-backend migration files, `migrations/sqlite/` and
//! `migrations/postgres/`, which are embedded in the binary and applied at
//! every start (idempotently: sqlx's migration table records what ran, and
//! on PostgreSQL an advisory lock keeps two hosts starting together from
//! racing).
//!
//! # Representations
//!
//! - **Time** is `BIGINT` microseconds since the Unix epoch, UTC
//!   ([`now_micros`]). One integer reads and sorts the same on both backends
//!   and through `AnyPool`, which has no portable timestamp type; SQLite has
//!   no timestamp type at all, and a `TIMESTAMPTZ` on one side and text on the
//!   other would make every query backend-specific.
//! - **Money** is `BIGINT` fen (分), never a float — as in the app contract.
//! - **JSON** is `TEXT` (serialised by the caller): `AnyPool` has no JSON
//!   type, and the platform never queries inside it.
//!
//! # Writes
//!
//! [`Store::begin_write`] starts a transaction meant to write: on SQLite it is
//! `BEGIN IMMEDIATE`, so two writers queue on the busy timeout instead of one
//! of them failing with "database is locked" when it upgrades a read
//! transaction; on PostgreSQL it is a plain `BEGIN` (READ COMMITTED), and
//! callers that read-then-write lock the rows they depend on first.

#[cfg(any(test, feature = "testing"))]
pub mod testing;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};
use sqlx::{AnyPool, AssertSqlSafe, ConnectOptions, Connection, Executor, SqlSafeStr};
use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The platform database's file name inside the data directory.
pub const SQLITE_FILE: &str = "platform.db";

const DEFAULT_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a connection waits for another writer on SQLite.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Which database a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }

    /// The backend a connection URL names, if it is one this store speaks.
    pub fn from_url(url: &str) -> Option<Backend> {
        if url.starts_with("sqlite:") {
            Some(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Backend::Postgres)
        } else {
            None
        }
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why the store could not be opened or a statement failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("invalid database configuration: {0}")]
    Config(String),
    #[error("{path}: cannot create the data directory: {source}")]
    DataDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot connect to the {backend} database at {url}: {source}")]
    Connect {
        backend: Backend,
        /// The URL with any password replaced by `***`.
        url: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("cannot migrate the {backend} database: {source}")]
    Migrate {
        backend: Backend,
        #[source]
        source: sqlx::migrate::MigrateError,
    },
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

impl StoreError {
    /// True for a unique or primary-key violation (on either backend).
    pub fn is_unique_violation(&self) -> bool {
        match self {
            StoreError::Database(sqlx::Error::Database(e)) => e.is_unique_violation(),
            _ => false,
        }
    }
}

/// How to open a [`Store`].
#[derive(Debug, Clone, Default)]
pub struct StoreOptions {
    /// Pool size. Defaults: 8 on SQLite (one writer at a time anyway), 16 on
    /// PostgreSQL.
    pub max_connections: Option<u32>,
    /// PostgreSQL only: the schema every connection uses (`SET search_path`),
    /// created if missing. `None` keeps the server's default (`public`).
    pub schema: Option<String>,
    /// How long opening (and later, taking a connection from the pool) may
    /// wait, retrying, for the database. Default 30 s.
    pub acquire_timeout: Option<Duration>,
}

/// The platform database. Cheap to clone (the pool is shared).
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

impl Store {
    /// Opens (creating if needed) `<data_dir>/platform.db` and migrates it.
    /// `data_dir` is created if missing.
    pub async fn open_sqlite(data_dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::DataDir {
            path: data_dir.to_path_buf(),
            source,
        })?;
        let options = SqliteConnectOptions::new()
            .filename(data_dir.join(SQLITE_FILE))
            .create_if_missing(true);
        Self::open_sqlite_options(options, &StoreOptions::default()).await
    }

    /// Opens the database a URL names and migrates it: `sqlite:<path>` (e.g.
    /// `sqlite:///var/lib/zhiyun/platform.db`; the file is created if
    /// missing) or `postgres://user:password@host:port/database`.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        Self::open_with(url, &StoreOptions::default()).await
    }

    /// [`Store::open`] with options.
    pub async fn open_with(url: &str, options: &StoreOptions) -> Result<Store, StoreError> {
        match Backend::from_url(url) {
            Some(Backend::Sqlite) => {
                let sqlite = SqliteConnectOptions::from_str(url)
                    .map_err(|e| StoreError::Config(format!("{}: {e}", redact(url))))?;
                if sqlite.get_filename() == Path::new(":memory:")
                    || sqlite
                        .get_filename()
                        .to_string_lossy()
                        .contains("sqlx-in-memory")
                {
                    return Err(StoreError::Config(
                        "an in-memory SQLite database cannot back a connection pool (each \
                         connection would see its own database); give a file path"
                            .into(),
                    ));
                }
                Self::open_sqlite_options(sqlite.create_if_missing(true), options).await
            }
            Some(Backend::Postgres) => Self::open_postgres(url, options).await,
            None => Err(StoreError::Config(format!(
                "`{}` is not a database URL this host speaks; use sqlite:<path> or \
                 postgres://user@host:port/database",
                redact(url)
            ))),
        }
    }

    async fn open_sqlite_options(
        sqlite: SqliteConnectOptions,
        options: &StoreOptions,
    ) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let url = sqlite.to_url_lossy().to_string();
        let connect_err = |source| StoreError::Connect {
            backend: Backend::Sqlite,
            url: redact(&url),
            source,
        };
        // WAL is a property of the file: set it once, on one connection,
        // before the pool opens several.
        let conn = sqlite
            .clone()
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(SQLITE_BUSY_TIMEOUT)
            .connect()
            .await
            .map_err(connect_err)?;
        conn.close().await.map_err(connect_err)?;

        let any = AnyConnectOptions::from_str(&url).map_err(connect_err)?;
        let pool = AnyPoolOptions::new()
            .max_connections(options.max_connections.unwrap_or(8))
            .acquire_timeout(options.acquire_timeout.unwrap_or(DEFAULT_ACQUIRE_TIMEOUT))
            .after_connect(|conn, _meta| {
                Box::pin(async move {
                    // Per-connection settings (sqlx sets foreign_keys and a
                    // busy timeout by default too; stated here so they do not
                    // depend on a driver default).
                    conn.execute(
                        "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000; \
                         PRAGMA synchronous = NORMAL;",
                    )
                    .await?;
                    Ok(())
                })
            })
            .connect_with(any)
            .await
            .map_err(connect_err)?;
        let store = Store {
            pool,
            backend: Backend::Sqlite,
        };
        store.migrate().await?;
        Ok(store)
    }

    async fn open_postgres(url: &str, options: &StoreOptions) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let connect_err = |source| StoreError::Connect {
            backend: Backend::Postgres,
            url: redact(url),
            source,
        };
        let any = AnyConnectOptions::from_str(url).map_err(connect_err)?;
        let mut pool_options = AnyPoolOptions::new()
            .max_connections(options.max_connections.unwrap_or(16))
            .acquire_timeout(options.acquire_timeout.unwrap_or(DEFAULT_ACQUIRE_TIMEOUT));
        if let Some(schema) = &options.schema {
            check_identifier(schema)?;
            // Create the schema once, before any pooled connection uses it.
            let mut conn = sqlx::AnyConnection::connect_with(&any)
                .await
                .map_err(connect_err)?;
            let created = conn
                .execute(AssertSqlSafe(format!(
                    "CREATE SCHEMA IF NOT EXISTS \"{schema}\""
                )))
                .await;
            match created {
                Ok(_) => {}
                // `IF NOT EXISTS` is not atomic: a host starting at the same
                // moment may have created it between the check and the insert.
                Err(sqlx::Error::Database(e))
                    if e.is_unique_violation() || e.code().as_deref() == Some("42P06") => {}
                Err(e) => return Err(e.into()),
            }
            conn.close().await?;
            let set = format!("SET search_path TO \"{schema}\"");
            pool_options = pool_options.after_connect(move |conn, _meta| {
                let set = set.clone();
                Box::pin(async move {
                    conn.execute(AssertSqlSafe(set)).await?;
                    Ok(())
                })
            });
        }
        let pool = pool_options.connect_with(any).await.map_err(connect_err)?;
        let store = Store {
            pool,
            backend: Backend::Postgres,
        };
        store.migrate().await?;
        Ok(store)
    }

    /// Applies the migrations this build knows and the database has not run.
    async fn migrate(&self) -> Result<(), StoreError> {
        let migrator = migrator(self.backend);
        migrator
            .run(&self.pool)
            .await
            .map_err(|source| StoreError::Migrate {
                backend: self.backend,
                source,
            })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Starts a transaction that will write (see the crate docs: `BEGIN
    /// IMMEDIATE` on SQLite).
    pub async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, StoreError> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }

    /// Checks that the database answers (for `/readyz`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Closes the pool, waiting for connections to be returned.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// One migration, the same version and description on both backends.
struct MigrationFile {
    version: i64,
    description: &'static str,
    sqlite: &'static str,
    postgres: &'static str,
}

/// The schema, in order. A new migration gets the next version and a file in
/// both directories; an applied migration is never edited (its checksum is
/// recorded and checked at start).
const MIGRATIONS: &[MigrationFile] = &[
    MigrationFile {
        version: 1,
        description: "registry",
        sqlite: include_str!("../migrations/sqlite/0001_registry.sql"),
        postgres: include_str!("../migrations/postgres/0001_registry.sql"),
    },
    MigrationFile {
        version: 2,
        description: "identity",
        sqlite: include_str!("../migrations/sqlite/0002_identity.sql"),
        postgres: include_str!("../migrations/postgres/0002_identity.sql"),
    },
    MigrationFile {
        version: 3,
        description: "audit",
        sqlite: include_str!("../migrations/sqlite/0003_audit.sql"),
        postgres: include_str!("../migrations/postgres/0003_audit.sql"),
    },
    MigrationFile {
        version: 4,
        description: "policy",
        sqlite: include_str!("../migrations/sqlite/0004_policy.sql"),
        postgres: include_str!("../migrations/postgres/0004_policy.sql"),
    },
    MigrationFile {
        version: 5,
        description: "sessions",
        sqlite: include_str!("../migrations/sqlite/0005_sessions.sql"),
        postgres: include_str!("../migrations/postgres/0005_sessions.sql"),
    },
    MigrationFile {
        version: 6,
        description: "warehouse actions",
        sqlite: include_str!("../migrations/sqlite/0006_warehouse_actions.sql"),
        postgres: include_str!("../migrations/postgres/0006_warehouse_actions.sql"),
    },
    MigrationFile {
        version: 7,
        description: "data services",
        sqlite: include_str!("../migrations/sqlite/0007_data_services.sql"),
        postgres: include_str!("../migrations/postgres/0007_data_services.sql"),
    },
];

fn migrator(backend: Backend) -> Migrator {
    Migrator::with_migrations(
        MIGRATIONS
            .iter()
            .map(|m| {
                let sql = match backend {
                    Backend::Sqlite => m.sqlite,
                    Backend::Postgres => m.postgres,
                };
                Migration::new(
                    m.version,
                    Cow::Borrowed(m.description),
                    MigrationType::Simple,
                    sql.into_sql_str(),
                    false,
                )
            })
            .collect(),
    )
}

/// The current time in microseconds since the Unix epoch, UTC (the
/// store's time representation).
pub fn now_micros() -> i64 {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

/// A schema name we are willing to splice into SQL: `[a-z_][a-z0-9_]*`, at
/// most 63 bytes.
fn check_identifier(name: &str) -> Result<(), StoreError> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b == b'_')
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(StoreError::Config(format!(
            "schema name `{name}` must be lowercase letters, digits and `_`, starting with a letter or `_`, at most 63 bytes"
        )))
    }
}

/// The URL with its password (if any) replaced by `***`, for messages.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_from_url() {
        assert_eq!(Backend::from_url("sqlite:x.db"), Some(Backend::Sqlite));
        assert_eq!(
            Backend::from_url("postgres://u@h/db"),
            Some(Backend::Postgres)
        );
        assert_eq!(
            Backend::from_url("postgresql://u@h/db"),
            Some(Backend::Postgres)
        );
        assert_eq!(Backend::from_url("mysql://u@h/db"), None);
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
    }

    #[test]
    fn identifiers_are_checked() {
        check_identifier("t_0af3").unwrap();
        check_identifier("zhiyun").unwrap();
        for bad in ["", "T", "1a", "a-b", "a\"b", &"a".repeat(64)] {
            check_identifier(bad).unwrap_err();
        }
    }

    #[test]
    fn now_is_after_2025() {
        assert!(now_micros() > 1_735_689_600_000_000);
    }

    #[test]
    fn both_backends_have_every_migration_sql() {
        for m in MIGRATIONS {
            assert!(!m.sqlite.trim().is_empty() && !m.postgres.trim().is_empty());
        }
        let versions: Vec<i64> = MIGRATIONS.iter().map(|m| m.version).collect();
        assert!(versions.windows(2).all(|w| w[0] < w[1]));
    }
}

/// Tests that run on both backends.
#[cfg(test)]
mod backend_tests {
    use super::*;
    use crate::store_test;
    use sqlx::Row;

    store_test!(ping_and_migrations_are_idempotent, |store| async move {
        store.ping().await.unwrap();
        // Migrating again is a no-op.
        store.migrate().await.unwrap();
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(n, MIGRATIONS.len() as i64);
    });

    store_test!(dollar_placeholders_blobs_and_bigints, |store| async move {
        let key = [7u8; 32];
        let big = i64::MAX - 1;
        sqlx::query(
            "INSERT INTO department_keys (key_id, department, public_key, registered_by, registered_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind("k1")
        .bind("财务部")
        .bind(&key[..])
        .bind("admin")
        .bind(big)
        .execute(store.pool())
        .await
        .unwrap();
        // `$2` before `$1`, and `$1` twice: both are by number on both backends.
        let row = sqlx::query(
            "SELECT key_id, department, public_key, registered_at, revoked_at FROM department_keys \
             WHERE registered_at = $2 AND key_id = $1 AND key_id = $1",
        )
        .bind("k1")
        .bind(big)
        .fetch_one(store.pool())
        .await
        .unwrap();
        assert_eq!(row.get::<String, _>("department"), "财务部");
        assert_eq!(row.get::<Vec<u8>, _>("public_key"), key.to_vec());
        assert_eq!(row.get::<i64, _>("registered_at"), big);
        assert_eq!(row.get::<Option<i64>, _>("revoked_at"), None);
    });

    store_test!(unique_and_foreign_keys_are_enforced, |store| async move {
        let insert = |id: &'static str| {
            sqlx::query(
                "INSERT INTO department_keys (key_id, department, public_key, registered_by, registered_at) \
                 VALUES ($1, 'd', $2, 'a', 0)",
            )
            .bind(id)
            .bind(vec![0u8; 32])
        };
        insert("k").execute(store.pool()).await.unwrap();
        let e = StoreError::from(insert("k").execute(store.pool()).await.unwrap_err());
        assert!(e.is_unique_violation(), "{e}");
        // A CHECK constraint: a public key is 32 bytes.
        sqlx::query(
            "INSERT INTO department_keys (key_id, department, public_key, registered_by, registered_at) \
             VALUES ('short', 'd', $1, 'a', 0)",
        )
        .bind(vec![0u8; 3])
        .execute(store.pool())
        .await
        .unwrap_err();
        // A foreign key: no version of an app that does not exist.
        let e = sqlx::query(
            "INSERT INTO app_events (app_id, version, to_state, actor, at) VALUES ('x', '1.0.0', 'submitted', 'a', 0)",
        )
        .execute(store.pool())
        .await
        .unwrap_err();
        let sqlx::Error::Database(db) = &e else {
            panic!("{e}")
        };
        assert!(db.is_foreign_key_violation(), "{e}");
    });

    store_test!(write_transactions_roll_back, |store| async move {
        let mut tx = store.begin_write().await.unwrap();
        sqlx::query(
            "INSERT INTO apps (app_id, kind, created_at, updated_at) VALUES ('a1', 'report', 0, 0)",
        )
        .execute(&mut *tx)
        .await
        .unwrap();
        tx.rollback().await.unwrap();
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM apps")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(n, 0);
    });

    store_test!(concurrent_writers_queue, |store| async move {
        // Each task reads, then writes, in a write transaction: on SQLite
        // `BEGIN IMMEDIATE` queues them instead of failing one with
        // "database is locked".
        let mut tasks = Vec::new();
        for i in 0..8 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let mut tx = store.begin_write().await.unwrap();
                let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM apps")
                    .fetch_one(&mut *tx)
                    .await
                    .unwrap();
                tokio::time::sleep(Duration::from_millis(5)).await;
                sqlx::query("INSERT INTO apps (app_id, kind, created_at, updated_at) VALUES ($1, 'report', $2, 0)")
                    .bind(format!("app{i}"))
                    .bind(n)
                    .execute(&mut *tx)
                    .await
                    .unwrap();
                tx.commit().await.unwrap();
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM apps")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(n, 8);
    });

    #[tokio::test]
    async fn sqlite_file_is_wal_with_foreign_keys() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("nested").join("data");
        let store = Store::open_sqlite(&data).await.unwrap();
        assert_eq!(store.backend(), Backend::Sqlite);
        assert!(data.join(SQLITE_FILE).is_file());
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(mode.to_lowercase(), "wal");
        let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(fk, 1);
        let busy: i64 = sqlx::query_scalar("PRAGMA busy_timeout")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(busy, 5000);
        store.close().await;

        // Reopening (as a URL this time) finds the same database, migrated.
        let url = format!("sqlite://{}", data.join(SQLITE_FILE).display());
        let again = Store::open(&url).await.unwrap();
        again.ping().await.unwrap();
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
            .fetch_one(again.pool())
            .await
            .unwrap();
        assert_eq!(n, MIGRATIONS.len() as i64);
    }

    #[tokio::test]
    async fn bad_urls_are_refused_with_reasons() {
        let e = Store::open("mysql://u@h/db").await.unwrap_err();
        assert!(
            e.to_string().contains("sqlite:<path> or postgres://"),
            "{e}"
        );
        let e = Store::open("sqlite::memory:").await.unwrap_err();
        assert!(e.to_string().contains("in-memory"), "{e}");
        // Nothing listens on port 1: a connect error naming the redacted URL.
        let e = Store::open_with(
            "postgres://u:pw@127.0.0.1:1/db",
            &StoreOptions {
                acquire_timeout: Some(Duration::from_secs(1)),
                ..StoreOptions::default()
            },
        )
        .await
        .unwrap_err();
        assert!(matches!(e, StoreError::Connect { .. }), "{e}");
        assert!(e.to_string().contains("u:***@127.0.0.1:1"), "{e}");
        assert!(!e.to_string().contains("pw"), "{e}");
    }

    #[tokio::test]
    async fn sqlite_paths_with_spaces_and_chinese() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("平台 数据");
        let store = Store::open_sqlite(&data).await.unwrap();
        store.ping().await.unwrap();
        store.close().await;
        assert!(data.join(SQLITE_FILE).is_file());
        // Nothing was created under a mangled name.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        let again = Store::open_sqlite(&data).await.unwrap();
        again.ping().await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn hosts_starting_together_migrate_once() {
        if testing::skip_pg() {
            return;
        }
        // Several hosts open the same fresh PostgreSQL schema at once: the
        // migration lock lets one migrate, the others find it done.
        sqlx::any::install_default_drivers();
        let schema = testing::unique_schema();
        let options = StoreOptions {
            max_connections: Some(2),
            schema: Some(schema.clone()),
            acquire_timeout: Some(Duration::from_secs(10)),
        };
        let url = testing::pg_url();
        let handles: Vec<_> = (0..3)
            .map(|_| {
                let (url, options) = (url.clone(), options.clone());
                tokio::spawn(async move { Store::open_with(&url, &options).await })
            })
            .collect();
        let mut stores = Vec::new();
        for handle in handles {
            stores.push(handle.await.unwrap());
        }
        let mut counts = Vec::new();
        for store in stores.iter().flatten() {
            counts.push(
                sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM _sqlx_migrations")
                    .fetch_one(store.pool())
                    .await
                    .ok(),
            );
            store.close().await;
        }
        // Clean up before asserting.
        testing::drop_pg_schema(&schema).await;
        for store in &stores {
            assert!(store.is_ok(), "every host opens the store: {store:?}");
        }
        assert_eq!(counts, vec![Some(MIGRATIONS.len() as i64); 3]);
    }

    #[test]
    fn postgres_schemas_isolate_tests() {
        if testing::skip_pg() {
            return;
        }
        testing::run(Backend::Postgres, |store| async move {
            let search_path: String = sqlx::query_scalar("SELECT current_setting('search_path')")
                .fetch_one(store.pool())
                .await
                .unwrap();
            assert!(search_path.contains("t_"), "{search_path}");
            // The tables live in the test's schema, not in public.
            let schema: String = sqlx::query_scalar(
                "SELECT table_schema::text FROM information_schema.tables WHERE table_name = 'app_versions' \
                 AND table_schema = current_schema()",
            )
            .fetch_one(store.pool())
            .await
            .unwrap();
            assert!(schema.starts_with("t_"), "{schema}");
        });
    }
}
