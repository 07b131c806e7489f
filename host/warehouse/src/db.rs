//! The warehouse database: a SQLite file (the embedded default) or a
//! PostgreSQL database, and the warehouse's own bookkeeping tables.
//!
//! The warehouse is a different database from the platform store
//! (`zhiyun-store`): on SQLite a separate file, so that a connection that can
//! read the warehouse can never see users, sessions or keys (the "second
//! wall" of the architecture). Unlike the platform store it holds a pool of
//! the concrete backend rather than `AnyPool`, because its bulk paths are
//! backend-specific (multi-row inserts on SQLite, `COPY` on PostgreSQL);
//! queries that are the same on both are written once and run through
//! [`on_db!`](crate::on_db).

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;
use zhiyun_store::Backend;

/// The small dynamic-SQL layer (binds decided at run time, rows read as
/// text) that cleaning, models and other warehouse users share.
pub use crate::clean::sql::{Bind, TextRows, execute, fetch_texts};

/// The warehouse file's name inside a data directory.
pub const SQLITE_FILE: &str = "warehouse.db";

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("warehouse database: {0}")]
    Config(String),
    #[error("warehouse database: {0}")]
    Sqlx(#[from] sqlx::Error),
}

/// A pool on one of the two backends.
#[derive(Clone, Debug)]
pub enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs the same sqlx code on whichever pool a [`Db`] holds: `$pool` is bound
/// to the concrete pool in each arm, so the body is compiled once per
/// backend. Queries use `$1, $2, …`, which both backends accept.
#[macro_export]
macro_rules! on_db {
    ($db:expr, |$pool:ident| $body:expr) => {
        match $db {
            $crate::db::Db::Sqlite($pool) => $body,
            $crate::db::Db::Postgres($pool) => $body,
        }
    };
}

impl Db {
    /// Opens `sqlite:<path>` (created if missing) or `postgres://…`.
    pub async fn open(url: &str) -> Result<Db, DbError> {
        match Backend::from_url(url) {
            Some(Backend::Sqlite) => {
                let options = SqliteConnectOptions::from_str(url)
                    .map_err(|e| DbError::Config(format!("{}: {e}", zhiyun_store::redact(url))))?;
                Self::open_sqlite(options).await
            }
            Some(Backend::Postgres) => {
                let options = PgConnectOptions::from_str(url)
                    .map_err(|e| DbError::Config(format!("{}: {e}", zhiyun_store::redact(url))))?;
                let pool = PgPoolOptions::new()
                    .max_connections(8)
                    .acquire_timeout(Duration::from_secs(30))
                    .connect_with(options)
                    .await?;
                let db = Db::Postgres(pool);
                db.migrate().await?;
                Ok(db)
            }
            None => Err(DbError::Config(format!(
                "`{}` is not a warehouse URL; use sqlite:<path> or postgres://user@host:port/database",
                zhiyun_store::redact(url)
            ))),
        }
    }

    /// Opens (creating) `<data_dir>/warehouse.db`.
    pub async fn open_in(data_dir: &Path) -> Result<Db, DbError> {
        std::fs::create_dir_all(data_dir)
            .map_err(|e| DbError::Config(format!("{}: {e}", data_dir.display())))?;
        Self::open_sqlite(SqliteConnectOptions::new().filename(data_dir.join(SQLITE_FILE))).await
    }

    async fn open_sqlite(options: SqliteConnectOptions) -> Result<Db, DbError> {
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // NORMAL in WAL mode loses nothing when the process is killed;
            // only a power cut can drop the last transactions, and a re-run
            // of the load resumes from what was committed.
            .synchronous(SqliteSynchronous::Normal)
            // Loads commit in chunks; a reader or a second loader waits its turn.
            .busy_timeout(Duration::from_secs(60))
            // Rows stream from the SQLite worker thread through a channel;
            // a deep buffer keeps reconciliation scans from stalling on it.
            .row_buffer_size(4096)
            .pragma("cache_size", "-65536")
            .pragma("temp_store", "memory");
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(60))
            .connect_with(options)
            .await?;
        let db = Db::Sqlite(pool);
        db.migrate().await?;
        Ok(db)
    }

    pub fn backend(&self) -> Backend {
        match self {
            Db::Sqlite(_) => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    pub async fn close(&self) {
        on_db!(self, |pool| pool.close().await)
    }

    /// Creates the bookkeeping tables if they are missing. Each statement is
    /// idempotent, so hosts and loaders starting together are harmless.
    async fn migrate(&self) -> Result<(), DbError> {
        for statement in BOOKKEEPING {
            let sql = match self.backend() {
                Backend::Sqlite => {
                    statement.replace("BIGSERIAL PRIMARY KEY", "INTEGER PRIMARY KEY AUTOINCREMENT")
                }
                Backend::Postgres => statement.to_string(),
            };
            on_db!(self, |pool| sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(pool)
                .await
                .map(|_| ()))?;
        }
        Ok(())
    }

    /// Does a table exist?
    pub async fn table_exists(&self, name: &str) -> Result<bool, sqlx::Error> {
        let count: i64 = match self {
            Db::Sqlite(pool) => {
                sqlx::query_scalar(
                    "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = $1",
                )
                .bind(name)
                .fetch_one(pool)
                .await?
            }
            Db::Postgres(pool) => {
                sqlx::query_scalar(
                    "SELECT count(*) FROM information_schema.tables \
                     WHERE table_schema = current_schema() AND table_name = $1",
                )
                .bind(name)
                .fetch_one(pool)
                .await?
            }
        };
        Ok(count > 0)
    }

    /// The columns of a table, in order.
    pub async fn table_columns(&self, name: &str) -> Result<Vec<String>, sqlx::Error> {
        match self {
            Db::Sqlite(pool) => {
                sqlx::query_scalar("SELECT name FROM pragma_table_info($1) ORDER BY cid")
                    .bind(name)
                    .fetch_all(pool)
                    .await
            }
            Db::Postgres(pool) => {
                sqlx::query_scalar(
                    "SELECT column_name::text FROM information_schema.columns \
                     WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
                )
                .bind(name)
                .fetch_all(pool)
                .await
            }
        }
    }
}

/// A PostgreSQL connection for one bulk write, closed rather than returned
/// to the pool if the write is abandoned half-way.
///
/// A future dropped in the middle of a `COPY` (a cancelled task, a caller
/// that gave up) leaves its connection mid-protocol; returned to the pool,
/// the next query on it fails ("expected ParseComplete, got
/// ReadyForQuery"). [`PgWriter::done`] gives the connection back; dropping
/// the writer without it closes the connection instead.
pub struct PgWriter {
    conn: Option<sqlx::pool::PoolConnection<sqlx::Postgres>>,
}

impl PgWriter {
    pub async fn acquire(pool: &PgPool) -> Result<PgWriter, sqlx::Error> {
        Ok(PgWriter {
            conn: Some(pool.acquire().await?),
        })
    }

    /// Begins the write's transaction.
    pub async fn begin(&mut self) -> Result<sqlx::Transaction<'_, sqlx::Postgres>, sqlx::Error> {
        use sqlx::Connection;
        match self.conn.as_mut() {
            Some(conn) => conn.begin().await,
            None => Err(sqlx::Error::PoolClosed),
        }
    }

    /// The write finished (committed or rolled back): the connection is
    /// fit to go back to the pool.
    pub fn done(mut self) {
        drop(self.conn.take());
    }
}

impl Drop for PgWriter {
    fn drop(&mut self) {
        if let Some(mut conn) = self.conn.take() {
            conn.close_on_drop();
        }
    }
}

/// Quotes an identifier the caller has already checked is snake case
/// (`zhiyun_batch::manifest::is_snake_name`) or one of ours (`_batch_id`).
pub fn ident(name: &str) -> String {
    debug_assert!(
        name.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    );
    format!("\"{name}\"")
}

/// The warehouse's bookkeeping (`zw_` = zhiyun warehouse). Time is BIGINT
/// microseconds since the epoch, as in the platform store.
const BOOKKEEPING: &[&str] = &[
    // A batch seen by the loader: its manifest as received.
    "CREATE TABLE IF NOT EXISTS zw_batch (
        batch_id TEXT PRIMARY KEY,
        source TEXT NOT NULL,
        as_of TEXT NOT NULL,
        dir TEXT NOT NULL,
        manifest TEXT NOT NULL,
        tables BIGINT NOT NULL,
        first_seen_at BIGINT NOT NULL,
        finished_at BIGINT
    )",
    // One table of one batch: where its load stands. `last_line` is the
    // resume point, written in the same transaction as the rows it covers.
    "CREATE TABLE IF NOT EXISTS zw_table_load (
        batch_id TEXT NOT NULL,
        table_name TEXT NOT NULL,
        status TEXT NOT NULL,
        last_line BIGINT NOT NULL DEFAULT 0,
        rows_received BIGINT NOT NULL DEFAULT 0,
        rows_loaded BIGINT NOT NULL DEFAULT 0,
        rows_quarantined BIGINT NOT NULL DEFAULT 0,
        error TEXT,
        started_at BIGINT NOT NULL,
        finished_at BIGINT,
        PRIMARY KEY (batch_id, table_name)
    )",
    // Rows that did not make it into a layer, with the rule and the reason.
    "CREATE TABLE IF NOT EXISTS zw_quarantine (
        id BIGSERIAL PRIMARY KEY,
        layer TEXT NOT NULL,
        batch_id TEXT NOT NULL,
        table_name TEXT NOT NULL,
        line BIGINT NOT NULL,
        rule TEXT NOT NULL,
        reason TEXT NOT NULL,
        raw TEXT NOT NULL,
        quarantined_at BIGINT NOT NULL
    )",
    "CREATE INDEX IF NOT EXISTS zw_quarantine_table ON zw_quarantine (layer, table_name, batch_id)",
    // The columns each ODS table has had, with the type last declared.
    "CREATE TABLE IF NOT EXISTS zw_table_schema (
        table_name TEXT NOT NULL,
        column_name TEXT NOT NULL,
        ordinal BIGINT NOT NULL,
        declared_type TEXT NOT NULL,
        first_batch TEXT NOT NULL,
        last_batch TEXT NOT NULL,
        PRIMARY KEY (table_name, column_name)
    )",
    // Schema drift found while loading: a column added, missing or retyped.
    "CREATE TABLE IF NOT EXISTS zw_drift (
        batch_id TEXT NOT NULL,
        table_name TEXT NOT NULL,
        column_name TEXT NOT NULL,
        kind TEXT NOT NULL,
        detail TEXT NOT NULL,
        detected_at BIGINT NOT NULL,
        PRIMARY KEY (batch_id, table_name, column_name, kind)
    )",
    // Reconciliation (回流验证) of one table of one batch, latest run.
    "CREATE TABLE IF NOT EXISTS zw_reconcile (
        batch_id TEXT NOT NULL,
        table_name TEXT NOT NULL,
        status TEXT NOT NULL,
        manifest_rows BIGINT NOT NULL,
        loaded_rows BIGINT NOT NULL,
        quarantined_rows BIGINT NOT NULL,
        manifest_checksum TEXT NOT NULL,
        loaded_checksum TEXT NOT NULL,
        report TEXT NOT NULL,
        checked_at BIGINT NOT NULL,
        PRIMARY KEY (batch_id, table_name)
    )",
];
