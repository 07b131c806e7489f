//! Running guarded SQL: the **second wall**, and the row cap and timeout.
//!
//! The guard ([`crate::guard`]) is the first wall: it decides in the host
//! what a statement may read. This module makes the database itself refuse
//! anything else, so a bug in the guard (or a caller that skipped it) still
//! cannot write, nor read outside the warehouse:
//!
//! - **SQLite.** [`ReadOnlyWarehouse`] opens its own pool on the warehouse
//!   file — never the platform file, which holds users, sessions and keys;
//!   [`ReadOnlyWarehouse::open`] refuses a file that has the platform's
//!   tables. Connections are opened read-only (`SQLITE_OPEN_READONLY`) with
//!   `PRAGMA query_only = ON`, and each gets an authorizer that allows only
//!   reading (`SELECT`, reads of `WITH` tables and of the main database's
//!   tables other than `sqlite_*` / `pragma_*`, functions other than
//!   extension and file ones) and refuses every write, `PRAGMA` and `ATTACH`; the number of attachable
//!   databases is also limited to zero. Read-only and `query_only` alone do
//!   not stop `ATTACH 'platform.db'` from *reading* another file — the
//!   authorizer and the limit do. `VACUUM INTO` (which attaches a new file)
//!   is stopped by the same limit, and the connection runs in SQLite's
//!   defensive mode with untrusted schema.
//! - **PostgreSQL.** Every query runs in `BEGIN READ ONLY`, after
//!   `SET LOCAL ROLE <reader>` and `SET LOCAL statement_timeout`, and is
//!   rolled back. The reader role ([`ensure_reader_role`]) is `NOLOGIN`, has
//!   `USAGE` on the warehouse schema and `SELECT` on its tables (present and
//!   future) and nothing else, so other schemas are "permission denied" and
//!   writes are refused twice. Switching roles with `SET LOCAL ROLE` needs a
//!   login that is a member of the reader role; such a login can also switch
//!   back (`set_config('role', 'none', …)`, which the guard refuses), so in
//!   production the pool may instead log in *as* the reader role (give it
//!   `LOGIN` and pass no role to [`ReadOnlyWarehouse::open`]): then there is
//!   nothing to switch back to.
//!
//! [`ReadOnlyWarehouse::run`] binds the parameters, fetches at most
//! `row_cap + 1` rows and refuses a result over the cap
//! ([`ExecError::RowCap`]: never a silent truncation), and stops the query
//! at the timeout ([`ExecError::Timeout`]): on SQLite a progress handler
//! (called every few thousand virtual-machine steps) interrupts the
//! statement once the deadline has passed; on PostgreSQL the server's
//! `statement_timeout` cancels it. A client-side deadline slightly later
//! backs both up (the connection is then discarded). Database errors become
//! [`ExecError::Invalid`] (a mistake in the query) or [`ExecError::Refused`]
//! (the second wall said no), with messages that name columns and tables
//! but never carry a value: PostgreSQL data errors (`invalid input syntax
//! for type bigint: "…"`) are reduced to their kind.
//!
//! Result values take their kind from the database (integer → Int, real →
//! Float, text → Text, PostgreSQL numeric → Decimal, date, timestamp,
//! boolean), except where the caller's `kinds` names the column's kind: a
//! column the caller knows is Money, Date, Boolean, Decimal, … is converted
//! to it when every value converts (`SUM(closing) AS closing` is Money).

use crate::guard::{BoundParam, Dialect, GuardedSql};
use futures_util::TryStreamExt;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow, PgTypeInfo, PgValueFormat};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions, SqliteRow};
use sqlx::{
    AssertSqlSafe, Column, Connection, Database, Decode, Encode, Executor, PgPool, Postgres, Row,
    SqlSafeStr, Sqlite, SqlitePool, Statement, Type, TypeInfo, ValueRef,
};
use std::str::FromStr;
use std::time::{Duration, Instant};
use zhiyun_contract::{AppError, ColumnMeta, DataTable, Date, Value, ValueKind};
use zhiyun_store::Backend;

/// How long after the timeout the client gives up on a query the database
/// did not stop itself.
const BACKSTOP: Duration = Duration::from_secs(2);

/// SQLite virtual-machine steps between two checks of the deadline.
const PROGRESS_STEPS: i32 = 4_000;

/// Tables only the platform store has: a SQLite file holding them is the
/// platform file, not a warehouse.
const PLATFORM_TABLES: &[&str] = &["sessions", "api_tokens", "department_keys"];

/// The limits of one query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The most rows a result may have; a larger one is refused.
    pub row_cap: u32,
    /// The longest a query may run.
    pub timeout: Duration,
}

/// Why a query did not return a table.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExecError {
    /// The result has more than `cap` rows.
    #[error("the result has more than {cap} rows; aggregate or filter the query")]
    RowCap { cap: u32 },
    /// The query ran longer than `after` and was stopped.
    #[error("the query ran longer than {} ms and was stopped", after.as_millis())]
    Timeout { after: Duration },
    /// The read-only connection refused the statement (a write, another
    /// schema, `ATTACH`, …).
    #[error("refused by the read-only connection: {0}")]
    Refused(String),
    /// The query is wrong (no such column, wrong parameter, a value that
    /// does not convert).
    #[error("invalid query: {0}")]
    Invalid(String),
    /// The warehouse could not be reached or set up.
    #[error("warehouse unavailable: {0}")]
    Unavailable(String),
}

impl From<ExecError> for AppError {
    fn from(e: ExecError) -> AppError {
        let message = e.to_string();
        match e {
            ExecError::RowCap { .. } => AppError::quota_exceeded(message),
            ExecError::Timeout { .. } => AppError::timeout(message),
            ExecError::Refused(_) => AppError::access_denied(message),
            ExecError::Invalid(_) => AppError::invalid_input(message),
            ExecError::Unavailable(_) => AppError::internal(message),
        }
    }
}

/// A connection to the warehouse that can only read it. See the module
/// documentation.
#[derive(Debug, Clone)]
pub struct ReadOnlyWarehouse {
    inner: Inner,
}

#[derive(Debug, Clone)]
enum Inner {
    Sqlite(SqlitePool),
    Postgres {
        pool: PgPool,
        /// `SET LOCAL ROLE` to this in every transaction; `None`: the login
        /// is the reader.
        role: Option<String>,
    },
}

/// One value bound to a placeholder.
#[derive(Debug, Clone, PartialEq)]
enum Bind {
    Null,
    Int(i64),
    Float(f64),
    Text(String),
}

/// What a fetch produced before the result was assembled.
struct Fetched {
    names: Vec<String>,
    /// The kind the database declares for each column (used when no row
    /// has a value to tell).
    declared: Vec<Option<ValueKind>>,
    rows: Vec<Vec<Value>>,
}

/// A fetch either completes or stops at the cap.
enum Outcome {
    Done(Result<Fetched, ExecError>),
    OverCap,
}

impl ReadOnlyWarehouse {
    /// Opens the warehouse at `url` (`sqlite:<path>` of an existing file, or
    /// `postgres://…`, e.g. with `options=-c search_path=<schema>`) for
    /// reading. On PostgreSQL, `reader_role` is the role every query
    /// switches to ([`ensure_reader_role`] creates it); `None` means the
    /// login already is that role. Ignored on SQLite.
    pub async fn open(url: &str, reader_role: Option<&str>) -> Result<Self, ExecError> {
        let shown = zhiyun_store::redact(url);
        match Backend::from_url(url) {
            Some(Backend::Sqlite) => {
                let options = SqliteConnectOptions::from_str(url)
                    .map_err(|e| ExecError::Unavailable(format!("{shown}: {e}")))?
                    .read_only(true)
                    .create_if_missing(false)
                    .pragma("query_only", "ON")
                    .busy_timeout(Duration::from_secs(5));
                refuse_platform_file(&options, &shown).await?;
                let pool = SqlitePoolOptions::new()
                    .max_connections(4)
                    .acquire_timeout(Duration::from_secs(30))
                    .after_connect(|conn, _meta| {
                        Box::pin(async move {
                            let mut handle = conn.lock_handle().await?;
                            sqlite_wall::harden(&mut handle)
                        })
                    })
                    .connect_with(options)
                    .await
                    .map_err(|e| ExecError::Unavailable(format!("{shown}: {e}")))?;
                Ok(ReadOnlyWarehouse {
                    inner: Inner::Sqlite(pool),
                })
            }
            Some(Backend::Postgres) => {
                let role = match reader_role {
                    Some(r) if plain_ident(r) => Some(r.to_string()),
                    Some(r) => {
                        return Err(ExecError::Unavailable(format!(
                            "`{r}` is not a plain role name (lower-case letters, digits, _)"
                        )));
                    }
                    None => None,
                };
                let options = PgConnectOptions::from_str(url)
                    .map_err(|e| ExecError::Unavailable(format!("{shown}: {e}")))?
                    // A small cache for the statements that describe empty
                    // results; queries themselves are not cached (see `run_pg`).
                    .statement_cache_capacity(64)
                    .application_name("zhiyun-query-reader");
                let pool = PgPoolOptions::new()
                    .max_connections(8)
                    .acquire_timeout(Duration::from_secs(30))
                    .connect_with(options)
                    .await
                    .map_err(|e| ExecError::Unavailable(format!("{shown}: {e}")))?;
                Ok(ReadOnlyWarehouse {
                    inner: Inner::Postgres { pool, role },
                })
            }
            None => Err(ExecError::Unavailable(format!(
                "`{shown}` is not a warehouse URL; use sqlite:<path> or postgres://…"
            ))),
        }
    }

    /// The SQL dialect of the backend (what [`crate::guard::guard`] needs).
    pub fn dialect(&self) -> Dialect {
        match self.inner {
            Inner::Sqlite(_) => Dialect::Sqlite,
            Inner::Postgres { .. } => Dialect::Postgres,
        }
    }

    pub async fn close(&self) {
        match &self.inner {
            Inner::Sqlite(pool) => pool.close().await,
            Inner::Postgres { pool, .. } => pool.close().await,
        }
    }

    /// Runs `guarded` with the app's parameters, within `limits`. `kinds`
    /// names the kind of a result column by its output name where the
    /// caller knows it (a dataset column's kind), `None` elsewhere.
    pub async fn run(
        &self,
        guarded: &GuardedSql,
        app_params: &[Value],
        kinds: &(dyn Fn(&str) -> Option<ValueKind> + Sync),
        limits: Limits,
    ) -> Result<DataTable, ExecError> {
        let binds = guarded
            .params
            .iter()
            .map(|p| match p {
                BoundParam::User(i) => app_params.get(*i).map(bind_value).ok_or_else(|| {
                    ExecError::Invalid(format!(
                        "the statement uses ?{} but {} parameter(s) were given",
                        i + 1,
                        app_params.len()
                    ))
                }),
                BoundParam::Filter(v) => Ok(Bind::Text(v.clone())),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let fetched = match &self.inner {
            Inner::Sqlite(pool) => run_sqlite(pool, &guarded.sql, &binds, limits).await?,
            Inner::Postgres { pool, role } => {
                run_pg(pool, role.as_deref(), &guarded.sql, &binds, limits).await?
            }
        };
        Ok(assemble(fetched, kinds))
    }
}

/// Refuses to open the platform store's file as a warehouse.
async fn refuse_platform_file(
    options: &SqliteConnectOptions,
    shown: &str,
) -> Result<(), ExecError> {
    let mut conn = sqlx::SqliteConnection::connect_with(options)
        .await
        .map_err(|e| ExecError::Unavailable(format!("{shown}: {e}")))?;
    let mut found = 0i64;
    for table in PLATFORM_TABLES {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = $1",
        )
        .bind(*table)
        .fetch_one(&mut conn)
        .await
        .map_err(|e| ExecError::Unavailable(format!("{shown}: {e}")))?;
        found += n;
    }
    let _ = conn.close().await;
    if found > 0 {
        return Err(ExecError::Unavailable(format!(
            "{shown} holds the platform's tables; the warehouse must be a separate file"
        )));
    }
    Ok(())
}

fn bind_value(v: &Value) -> Bind {
    match v {
        Value::Null => Bind::Null,
        // Booleans are 0/1 integers in the warehouse.
        Value::Boolean(b) => Bind::Int(i64::from(*b)),
        Value::Int(i) | Value::Money(i) | Value::Timestamp(i) => Bind::Int(*i),
        Value::Float(f) => Bind::Float(*f),
        Value::Decimal(s) | Value::Text(s) => Bind::Text(s.clone()),
        // Dates are 'YYYY-MM-DD' text in the warehouse.
        Value::Date(d) => Bind::Text(d.to_string()),
    }
}

/// A query with its parameters bound, not cached as a prepared statement
/// (apps' statements are many and varied).
fn bound<DB>(sql: &str, binds: &[Bind]) -> sqlx::query::Query<'static, DB, DB::Arguments>
where
    DB: Database + sqlx::database::HasStatementCache,
    for<'t> i64: Encode<'t, DB> + Type<DB>,
    for<'t> f64: Encode<'t, DB> + Type<DB>,
    for<'t> String: Encode<'t, DB> + Type<DB>,
    for<'t> Option<String>: Encode<'t, DB> + Type<DB>,
{
    let mut q = sqlx::query::<DB>(AssertSqlSafe(sql.to_string())).persistent(false);
    for b in binds {
        q = match b {
            Bind::Null => q.bind(None::<String>),
            Bind::Int(i) => q.bind(*i),
            Bind::Float(f) => q.bind(*f),
            Bind::Text(s) => q.bind(s.clone()),
        };
    }
    q
}

async fn run_sqlite(
    pool: &SqlitePool,
    sql: &str,
    binds: &[Bind],
    limits: Limits,
) -> Result<Fetched, ExecError> {
    let mut conn = pool.acquire().await.map_err(unavailable)?;
    let deadline = Instant::now() + limits.timeout;
    // Interrupts the statement (SQLITE_INTERRUPT) once the deadline passed.
    conn.lock_handle()
        .await
        .map_err(unavailable)?
        .set_progress_handler(PROGRESS_STEPS, move || Instant::now() < deadline);
    let outcome = tokio::time::timeout(
        limits.timeout + BACKSTOP,
        fetch_sqlite(&mut conn, sql, binds, limits),
    )
    .await;
    match outcome {
        Ok(Outcome::Done(result)) => {
            if let Ok(mut handle) = conn.lock_handle().await {
                handle.remove_progress_handler();
            }
            result
        }
        Ok(Outcome::OverCap) => {
            // The statement may still be stepping in the worker: discard
            // the connection rather than wait for it.
            conn.close_on_drop();
            Err(ExecError::RowCap {
                cap: limits.row_cap,
            })
        }
        Err(_) => {
            conn.close_on_drop();
            Err(ExecError::Timeout {
                after: limits.timeout,
            })
        }
    }
}

async fn fetch_sqlite(
    conn: &mut PoolConnection<Sqlite>,
    sql: &str,
    binds: &[Bind],
    limits: Limits,
) -> Outcome {
    let timeout = limits.timeout;
    let mut rows = Vec::new();
    let mut columns: Option<(Vec<String>, Vec<Option<ValueKind>>)> = None;
    {
        let mut stream = bound::<Sqlite>(sql, binds).fetch(&mut **conn);
        loop {
            let row = match stream.try_next().await {
                Ok(Some(row)) => row,
                Ok(None) => break,
                Err(e) => return Outcome::Done(Err(sqlite_error(e, timeout))),
            };
            if rows.len() >= limits.row_cap as usize {
                return Outcome::OverCap;
            }
            if columns.is_none() {
                columns = Some(sqlite_columns(&row));
            }
            match sqlite_row(&row) {
                Ok(values) => rows.push(values),
                Err(e) => return Outcome::Done(Err(e)),
            }
        }
    }
    let (names, declared) = match columns {
        Some(c) => c,
        // No row to read the columns from: prepare the statement for them.
        None => match (&mut **conn)
            .prepare(AssertSqlSafe(sql.to_string()).into_sql_str())
            .await
        {
            Ok(stmt) => (
                stmt.columns()
                    .iter()
                    .map(|c| c.name().to_string())
                    .collect(),
                stmt.columns()
                    .iter()
                    .map(|c| sqlite_kind(c.type_info().name()))
                    .collect(),
            ),
            Err(e) => return Outcome::Done(Err(sqlite_error(e, timeout))),
        },
    };
    Outcome::Done(Ok(Fetched {
        names,
        declared,
        rows,
    }))
}

fn sqlite_columns(row: &SqliteRow) -> (Vec<String>, Vec<Option<ValueKind>>) {
    row.columns()
        .iter()
        .map(|c| (c.name().to_string(), sqlite_kind(c.type_info().name())))
        .unzip()
}

fn sqlite_kind(type_name: &str) -> Option<ValueKind> {
    match type_name {
        "INTEGER" => Some(ValueKind::Int),
        "REAL" => Some(ValueKind::Float),
        "TEXT" => Some(ValueKind::Text),
        _ => None,
    }
}

fn sqlite_row(row: &SqliteRow) -> Result<Vec<Value>, ExecError> {
    let mut out = Vec::with_capacity(row.len());
    for i in 0..row.len() {
        let raw = row.try_get_raw(i).map_err(decode_error)?;
        if raw.is_null() {
            out.push(Value::Null);
            continue;
        }
        // A non-NULL value's type is its storage class.
        let kind = raw.type_info().name().to_string();
        let value = match kind.as_str() {
            "INTEGER" => Value::Int(<i64 as Decode<Sqlite>>::decode(raw).map_err(decode_error)?),
            "REAL" => Value::Float(<f64 as Decode<Sqlite>>::decode(raw).map_err(decode_error)?),
            "BLOB" => {
                let bytes = <Vec<u8> as Decode<Sqlite>>::decode(raw).map_err(decode_error)?;
                Value::Text(bytes.iter().map(|b| format!("{b:02x}")).collect())
            }
            _ => Value::Text(<String as Decode<Sqlite>>::decode(raw).map_err(decode_error)?),
        };
        out.push(value);
    }
    Ok(out)
}

fn sqlite_error(e: sqlx::Error, timeout: Duration) -> ExecError {
    let sqlx::Error::Database(db) = &e else {
        return other_error(e);
    };
    let code = db.code().and_then(|c| c.parse::<i32>().ok()).unwrap_or(0);
    let message = shorten(db.message());
    match code & 0xff {
        // SQLITE_INTERRUPT: the progress handler stopped it.
        9 => ExecError::Timeout { after: timeout },
        // SQLITE_READONLY, SQLITE_AUTH.
        8 | 23 => ExecError::Refused(message),
        // SQLITE_BUSY, SQLITE_LOCKED, SQLITE_NOMEM, SQLITE_IOERR,
        // SQLITE_CORRUPT, SQLITE_FULL, SQLITE_CANTOPEN.
        5 | 6 | 7 | 10 | 11 | 13 | 14 => ExecError::Unavailable(message),
        _ if message.contains("not authorized") => ExecError::Refused(message),
        _ => ExecError::Invalid(message),
    }
}

async fn run_pg(
    pool: &PgPool,
    role: Option<&str>,
    sql: &str,
    binds: &[Bind],
    limits: Limits,
) -> Result<Fetched, ExecError> {
    let mut conn = pool.acquire().await.map_err(unavailable)?;
    let outcome = tokio::time::timeout(
        limits.timeout + BACKSTOP,
        fetch_pg(&mut conn, role, sql, binds, limits),
    )
    .await;
    match outcome {
        Ok(Outcome::Done(result)) => result,
        Ok(Outcome::OverCap) => {
            // Rather than drain the rest of the result: closing the
            // connection ends the statement on the server.
            conn.close_on_drop();
            Err(ExecError::RowCap {
                cap: limits.row_cap,
            })
        }
        Err(_) => {
            conn.close_on_drop();
            Err(ExecError::Timeout {
                after: limits.timeout,
            })
        }
    }
}

async fn fetch_pg(
    conn: &mut PoolConnection<Postgres>,
    role: Option<&str>,
    sql: &str,
    binds: &[Bind],
    limits: Limits,
) -> Outcome {
    let timeout = limits.timeout;
    let mut tx = match conn.begin_with("BEGIN READ ONLY").await {
        Ok(tx) => tx,
        Err(e) => return Outcome::Done(Err(unavailable(e))),
    };
    let mut setup = String::new();
    if let Some(role) = role {
        setup.push_str(&format!("SET LOCAL ROLE \"{role}\"; "));
    }
    let ms = timeout.as_millis().clamp(1, i32::MAX as u128);
    setup.push_str(&format!("SET LOCAL statement_timeout = {ms}"));
    if let Err(e) = sqlx::raw_sql(AssertSqlSafe(setup)).execute(&mut *tx).await {
        let _ = tx.rollback().await;
        return Outcome::Done(Err(ExecError::Unavailable(format!(
            "the read-only transaction could not be set up: {}",
            shorten(&e.to_string())
        ))));
    }
    let mut rows = Vec::new();
    let mut columns: Option<(Vec<String>, Vec<Option<ValueKind>>)> = None;
    let mut failed = None;
    {
        let mut stream = bound::<Postgres>(sql, binds).fetch(&mut *tx);
        loop {
            let row = match stream.try_next().await {
                Ok(Some(row)) => row,
                Ok(None) => break,
                Err(e) => {
                    failed = Some(pg_error(e, timeout));
                    break;
                }
            };
            if rows.len() >= limits.row_cap as usize {
                return Outcome::OverCap;
            }
            if columns.is_none() {
                columns = Some(pg_columns(&row));
            }
            match pg_row(&row) {
                Ok(values) => rows.push(values),
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
    }
    if failed.is_none() && columns.is_none() {
        // No row to read the columns from: describe the statement. It is
        // prepared under a key that carries the parameter types, so a
        // cached description always matches the types bound now.
        let types: Vec<PgTypeInfo> = binds.iter().map(pg_type).collect();
        let signature: Vec<&str> = types.iter().map(|t| t.name()).collect();
        let key = format!("{sql} /* zhiyun-describe {} */", signature.join(","));
        match (&mut *tx)
            .prepare_with(AssertSqlSafe(key).into_sql_str(), &types)
            .await
        {
            Ok(stmt) => {
                columns = Some(
                    stmt.columns()
                        .iter()
                        .map(|c| (c.name().to_string(), pg_kind(c.type_info().name())))
                        .unzip(),
                );
            }
            Err(e) => failed = Some(pg_error(e, timeout)),
        }
    }
    let rolled_back = tx.rollback().await;
    if let Some(e) = failed {
        return Outcome::Done(Err(e));
    }
    if let Err(e) = rolled_back {
        return Outcome::Done(Err(unavailable(e)));
    }
    let (names, declared) = columns.unwrap_or_default();
    Outcome::Done(Ok(Fetched {
        names,
        declared,
        rows,
    }))
}

fn pg_type(b: &Bind) -> PgTypeInfo {
    match b {
        Bind::Int(_) => <i64 as Type<Postgres>>::type_info(),
        Bind::Float(_) => <f64 as Type<Postgres>>::type_info(),
        Bind::Null | Bind::Text(_) => <String as Type<Postgres>>::type_info(),
    }
}

fn pg_columns(row: &PgRow) -> (Vec<String>, Vec<Option<ValueKind>>) {
    row.columns()
        .iter()
        .map(|c| (c.name().to_string(), pg_kind(c.type_info().name())))
        .unzip()
}

fn pg_kind(type_name: &str) -> Option<ValueKind> {
    Some(match type_name {
        "BOOL" => ValueKind::Boolean,
        "INT2" | "INT4" | "INT8" => ValueKind::Int,
        "FLOAT4" | "FLOAT8" => ValueKind::Float,
        "NUMERIC" => ValueKind::Decimal,
        "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" | "UNKNOWN" => ValueKind::Text,
        "DATE" => ValueKind::Date,
        "TIMESTAMP" | "TIMESTAMPTZ" => ValueKind::Timestamp,
        _ => return None,
    })
}

/// Microseconds from the Unix epoch to PostgreSQL's (2000-01-01).
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;
/// Days from the Unix epoch to PostgreSQL's.
const PG_EPOCH_DAYS: i64 = 10_957;

fn pg_row(row: &PgRow) -> Result<Vec<Value>, ExecError> {
    let mut out = Vec::with_capacity(row.len());
    for (i, column) in row.columns().iter().enumerate() {
        let raw = row.try_get_raw(i).map_err(decode_error)?;
        if raw.is_null() {
            out.push(Value::Null);
            continue;
        }
        let type_name = column.type_info().name().to_string();
        let value = match type_name.as_str() {
            "BOOL" => {
                Value::Boolean(<bool as Decode<Postgres>>::decode(raw).map_err(decode_error)?)
            }
            "INT2" => Value::Int(i64::from(
                <i16 as Decode<Postgres>>::decode(raw).map_err(decode_error)?,
            )),
            "INT4" => Value::Int(i64::from(
                <i32 as Decode<Postgres>>::decode(raw).map_err(decode_error)?,
            )),
            "INT8" => Value::Int(<i64 as Decode<Postgres>>::decode(raw).map_err(decode_error)?),
            "FLOAT4" => Value::Float(f64::from(
                <f32 as Decode<Postgres>>::decode(raw).map_err(decode_error)?,
            )),
            "FLOAT8" => Value::Float(<f64 as Decode<Postgres>>::decode(raw).map_err(decode_error)?),
            "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" | "UNKNOWN" => {
                Value::Text(<String as Decode<Postgres>>::decode(raw).map_err(decode_error)?)
            }
            "NUMERIC" => {
                let bytes = raw.as_bytes().map_err(decode_error)?;
                match raw.format() {
                    PgValueFormat::Binary => Value::Decimal(
                        pg_numeric(bytes)
                            .ok_or_else(|| ExecError::Invalid("unreadable numeric value".into()))?,
                    ),
                    PgValueFormat::Text => {
                        Value::Decimal(String::from_utf8_lossy(bytes).into_owned())
                    }
                }
            }
            "DATE" => {
                let days = binary_i32(raw.as_bytes().map_err(decode_error)?)
                    .ok_or_else(|| ExecError::Invalid("unreadable date value".into()))?;
                match days {
                    i32::MAX => Value::Text("infinity".into()),
                    i32::MIN => Value::Text("-infinity".into()),
                    d => Value::Date(civil_date(i64::from(d) + PG_EPOCH_DAYS)),
                }
            }
            "TIMESTAMP" | "TIMESTAMPTZ" => {
                let micros = binary_i64(raw.as_bytes().map_err(decode_error)?)
                    .ok_or_else(|| ExecError::Invalid("unreadable timestamp value".into()))?;
                match micros {
                    i64::MAX => Value::Text("infinity".into()),
                    i64::MIN => Value::Text("-infinity".into()),
                    m => Value::Timestamp(m.saturating_add(PG_EPOCH_MICROS)),
                }
            }
            other => {
                return Err(ExecError::Invalid(format!(
                    "column `{}` has the PostgreSQL type {other}, which apps cannot receive; \
                     CAST it to TEXT, BIGINT or NUMERIC",
                    column.name()
                )));
            }
        };
        out.push(value);
    }
    Ok(out)
}

fn binary_i32(b: &[u8]) -> Option<i32> {
    Some(i32::from_be_bytes(b.try_into().ok()?))
}

fn binary_i64(b: &[u8]) -> Option<i64> {
    Some(i64::from_be_bytes(b.try_into().ok()?))
}

/// PostgreSQL's binary `numeric` as decimal text: a header (number of
/// base-10 000 digits, weight of the first, sign, display scale) and the
/// digits, big-endian.
fn pg_numeric(b: &[u8]) -> Option<String> {
    let word = |i: usize| -> Option<u16> { Some(u16::from_be_bytes([*b.get(i)?, *b.get(i + 1)?])) };
    let ndigits = usize::from(word(0)?);
    let weight = i64::from(word(2)? as i16);
    let sign = word(4)?;
    let dscale = usize::from(word(6)?);
    match sign {
        0xC000 => return Some("NaN".into()),
        0xD000 => return Some("Infinity".into()),
        0xF000 => return Some("-Infinity".into()),
        0x0000 | 0x4000 => {}
        _ => return None,
    }
    let digits: Vec<u16> = (0..ndigits)
        .map(|i| word(8 + 2 * i))
        .collect::<Option<_>>()?;
    if digits.iter().any(|&d| d > 9999) {
        return None;
    }
    // The digit at index i is worth 10000^(weight - i).
    let digit = |i: i64| -> u16 {
        usize::try_from(i)
            .ok()
            .and_then(|i| digits.get(i).copied())
            .unwrap_or(0)
    };
    let mut out = String::new();
    if weight < 0 {
        out.push('0');
    } else {
        for i in 0..=weight {
            if i == 0 {
                out.push_str(&digit(i).to_string());
            } else {
                out.push_str(&format!("{:04}", digit(i)));
            }
        }
    }
    if dscale > 0 {
        let mut frac = String::new();
        let groups = dscale.div_ceil(4) as i64;
        for k in 0..groups {
            frac.push_str(&format!("{:04}", digit(weight + 1 + k)));
        }
        frac.truncate(dscale);
        out.push('.');
        out.push_str(&frac);
    }
    let zero = out.bytes().all(|c| c == b'0' || c == b'.');
    if sign == 0x4000 && !zero {
        out.insert(0, '-');
    }
    Some(out)
}

/// The calendar date `days` after 1970-01-01 (proleptic Gregorian).
fn civil_date(days: i64) -> Date {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    Date::new(
        i32::try_from(year).unwrap_or(i32::MAX),
        month as u8,
        day as u8,
    )
}

fn pg_error(e: sqlx::Error, timeout: Duration) -> ExecError {
    let sqlx::Error::Database(db) = &e else {
        return other_error(e);
    };
    let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
    let message = shorten(db.message());
    match code.as_str() {
        // query_canceled: statement_timeout.
        "57014" => ExecError::Timeout { after: timeout },
        // read_only_sql_transaction, insufficient_privilege.
        "25006" | "42501" => ExecError::Refused(message),
        // Data exceptions quote the offending value: say only what kind.
        "22012" => ExecError::Invalid("division by zero".into()),
        "22003" => ExecError::Invalid("a numeric value is out of range".into()),
        c if c.starts_with("22") => ExecError::Invalid(format!(
            "a value could not be converted or processed (SQLSTATE {c})"
        )),
        // Syntax and resolution errors name identifiers and types only.
        c if c.starts_with("42") || c.starts_with("54") => ExecError::Invalid(message),
        c if c.starts_with("08") || c.starts_with("53") || c.starts_with("57") => {
            ExecError::Unavailable(format!("SQLSTATE {c}"))
        }
        c => ExecError::Invalid(format!("the database refused the query (SQLSTATE {c})")),
    }
}

fn other_error(e: sqlx::Error) -> ExecError {
    match e {
        sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => decode_error(e),
        sqlx::Error::Encode(_) => ExecError::Invalid("a parameter could not be encoded".into()),
        e => unavailable(e),
    }
}

fn unavailable(e: sqlx::Error) -> ExecError {
    ExecError::Unavailable(shorten(&e.to_string()))
}

/// A value that would not decode: the error text of a decoder may quote
/// the value, so it is not passed on.
fn decode_error<E>(_: E) -> ExecError {
    ExecError::Invalid("a result value could not be read".into())
}

fn shorten(s: &str) -> String {
    if s.chars().count() > 300 {
        let mut out: String = s.chars().take(297).collect();
        out.push('…');
        out
    } else {
        s.to_string()
    }
}

/// A plain lower-case identifier, safe to quote into SQL.
fn plain_ident(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b == b'_')
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// The result table: columns named as the query named them, each of the
/// kind `kinds` says where every value converts to it, of the database's
/// kind otherwise.
fn assemble(fetched: Fetched, kinds: &(dyn Fn(&str) -> Option<ValueKind> + Sync)) -> DataTable {
    let Fetched {
        names,
        declared,
        mut rows,
    } = fetched;
    let mut columns = Vec::with_capacity(names.len());
    for (c, name) in names.into_iter().enumerate() {
        let natural = rows
            .iter()
            .filter_map(|r| r.get(c))
            .find(|v| **v != Value::Null)
            .map(Value::kind)
            .or_else(|| declared.get(c).copied().flatten())
            .unwrap_or(ValueKind::Null);
        let mut kind = natural;
        if let Some(wanted) = kinds(&name).filter(|k| *k != natural) {
            let converted: Option<Vec<Value>> = rows
                .iter()
                .map(|r| r.get(c).and_then(|v| convert(v, wanted)))
                .collect();
            if let Some(values) = converted {
                for (row, v) in rows.iter_mut().zip(values) {
                    if let Some(slot) = row.get_mut(c) {
                        *slot = v;
                    }
                }
                kind = wanted;
            }
        }
        columns.push(ColumnMeta { name, kind });
    }
    DataTable { columns, rows }
}

/// `v` as a value of kind `to`, if it is one without loss.
fn convert(v: &Value, to: ValueKind) -> Option<Value> {
    if *v == Value::Null || v.kind() == to {
        return Some(v.clone());
    }
    let integer = || -> Option<i64> {
        match v {
            Value::Int(i) | Value::Money(i) => Some(*i),
            Value::Decimal(s) | Value::Text(s) => integral(s),
            Value::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Some(*f as i64),
            _ => None,
        }
    };
    match to {
        ValueKind::Money => integer().map(Value::Money),
        ValueKind::Int => integer().map(Value::Int),
        ValueKind::Timestamp => integer().map(Value::Timestamp),
        ValueKind::Boolean => match integer()? {
            0 => Some(Value::Boolean(false)),
            1 => Some(Value::Boolean(true)),
            _ => None,
        },
        ValueKind::Date => match v {
            Value::Text(s) => Date::parse_iso(s).map(Value::Date),
            _ => None,
        },
        ValueKind::Decimal => match v {
            Value::Int(i) | Value::Money(i) => Some(Value::Decimal(i.to_string())),
            Value::Float(f) if f.is_finite() => Some(Value::Decimal(f.to_string())),
            Value::Text(s) if is_decimal(s) => Some(Value::Decimal(s.clone())),
            _ => None,
        },
        ValueKind::Float => match v {
            Value::Int(i) => Some(Value::Float(*i as f64)),
            Value::Decimal(s) => s.parse().ok().map(Value::Float),
            _ => None,
        },
        ValueKind::Text => Some(Value::Text(v.to_text())),
        ValueKind::Null => None,
    }
}

/// Decimal text (`-12`, `3.50`).
fn is_decimal(s: &str) -> bool {
    let digits = s.strip_prefix('-').unwrap_or(s);
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    !int.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit())
}

/// The integer a decimal text is, if its fraction is zero.
fn integral(s: &str) -> Option<i64> {
    if !is_decimal(s) {
        return None;
    }
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if !frac.bytes().all(|b| b == b'0') {
        return None;
    }
    int.parse().ok()
}

/// Creates (if missing) the `NOLOGIN` role the PostgreSQL read-only
/// connection switches to, and grants it `USAGE` on `schema` and `SELECT`
/// on its tables, present and future (`ALTER DEFAULT PRIVILEGES` for tables
/// the connected admin creates later). Idempotent, and safe when several
/// hosts run it at once. Refuses a role that already exists with more
/// power than reading (superuser, `CREATEROLE`, `CREATEDB`, `BYPASSRLS`,
/// replication, membership in other roles). A login that switches to the
/// role (`SET LOCAL ROLE`) must be a member of it: `GRANT <role> TO
/// <login>` (superusers need not).
pub async fn ensure_reader_role(admin: &PgPool, schema: &str, role: &str) -> Result<(), ExecError> {
    for name in [schema, role] {
        if !plain_ident(name) {
            return Err(ExecError::Unavailable(format!(
                "`{name}` is not a plain identifier (lower-case letters, digits, _)"
            )));
        }
    }
    let statements = [
        format!(
            "DO $$ BEGIN CREATE ROLE \"{role}\" NOLOGIN; \
             EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
        ),
        format!("GRANT USAGE ON SCHEMA \"{schema}\" TO \"{role}\""),
        format!("GRANT SELECT ON ALL TABLES IN SCHEMA \"{schema}\" TO \"{role}\""),
        format!(
            "ALTER DEFAULT PRIVILEGES IN SCHEMA \"{schema}\" GRANT SELECT ON TABLES TO \"{role}\""
        ),
    ];
    for sql in statements {
        sqlx::raw_sql(AssertSqlSafe(sql))
            .execute(admin)
            .await
            .map_err(|e| ExecError::Unavailable(shorten(&e.to_string())))?;
    }
    let (powerful, member): (bool, bool) = sqlx::query_as(
        "SELECT r.rolsuper OR r.rolcreaterole OR r.rolcreatedb OR r.rolbypassrls OR r.rolreplication, \
                EXISTS (SELECT 1 FROM pg_auth_members m WHERE m.member = r.oid) \
         FROM pg_roles r WHERE r.rolname = $1",
    )
    .bind(role)
    .fetch_one(admin)
    .await
    .map_err(|e| ExecError::Unavailable(shorten(&e.to_string())))?;
    if powerful || member {
        return Err(ExecError::Unavailable(format!(
            "role `{role}` can do more than read (an attribute or a membership); \
             use a role made for reading only"
        )));
    }
    Ok(())
}

/// The SQLite authorizer and limits of the read-only connection.
mod sqlite_wall {
    use libsqlite3_sys as ffi;
    use sqlx::sqlite::LockedSqliteHandle;
    use std::ffi::{CStr, c_char, c_int, c_void};

    /// Functions refused even if a query reaches the database without the
    /// guard: extension loading and the file functions of SQLite's shell.
    const DENIED_FUNCTIONS: &[&[u8]] = &[
        b"load_extension",
        b"fts3_tokenizer",
        b"readfile",
        b"writefile",
        b"edit",
        b"zipfile",
        b"sqlar_compress",
        b"sqlar_uncompress",
    ];

    pub(super) fn harden(handle: &mut LockedSqliteHandle<'_>) -> Result<(), sqlx::Error> {
        let db = handle.as_raw_handle().as_ptr();
        // SAFETY: `db` is this connection's open handle, locked out of the
        // worker thread for the duration of these calls; they only change
        // the connection's configuration. The authorizer is a plain
        // function with no user data (null pointer), so nothing it refers
        // to can dangle.
        let rc = unsafe {
            ffi::sqlite3_limit(db, ffi::SQLITE_LIMIT_ATTACHED, 0);
            let mut ignored: c_int = 0;
            for (op, on) in [
                (ffi::SQLITE_DBCONFIG_DEFENSIVE, 1),
                (ffi::SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0),
                (ffi::SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0),
            ] {
                ffi::sqlite3_db_config(db, op, on as c_int, &mut ignored as *mut c_int);
            }
            ffi::sqlite3_set_authorizer(db, Some(authorize), std::ptr::null_mut())
        };
        if rc == ffi::SQLITE_OK {
            Ok(())
        } else {
            Err(sqlx::Error::Protocol(format!(
                "could not install the read-only authorizer (SQLite code {rc})"
            )))
        }
    }

    /// The bytes of a string SQLite passed the authorizer (empty for null).
    ///
    /// # Safety
    /// `p` is null or a NUL-terminated string valid for `'a`.
    unsafe fn text<'a>(p: *const c_char) -> &'a [u8] {
        if p.is_null() {
            b""
        } else {
            // SAFETY: per the function's contract.
            unsafe { CStr::from_ptr(p) }.to_bytes()
        }
    }

    fn starts_with_ignore_case(s: &[u8], prefix: &[u8]) -> bool {
        s.len() >= prefix.len() && s[..prefix.len()].eq_ignore_ascii_case(prefix)
    }

    /// Allows reading and nothing else.
    unsafe extern "C" fn authorize(
        _user: *mut c_void,
        action: c_int,
        arg1: *const c_char,
        arg2: *const c_char,
        database: *const c_char,
        _trigger: *const c_char,
    ) -> c_int {
        match action {
            ffi::SQLITE_SELECT
            | ffi::SQLITE_RECURSIVE
            | ffi::SQLITE_TRANSACTION
            | ffi::SQLITE_SAVEPOINT => ffi::SQLITE_OK,
            ffi::SQLITE_READ => {
                // SAFETY: SQLite passes the table and database names as
                // NUL-terminated strings valid for this call.
                let (table, database) = unsafe { (text(arg1), text(database)) };
                // No database: a WITH table or a subquery, not a table.
                if (database == b"main" || database.is_empty())
                    && !starts_with_ignore_case(table, b"sqlite_")
                    && !starts_with_ignore_case(table, b"pragma_")
                {
                    ffi::SQLITE_OK
                } else {
                    ffi::SQLITE_DENY
                }
            }
            ffi::SQLITE_FUNCTION => {
                // SAFETY: as above; the function name is the second string.
                let name = unsafe { text(arg2) };
                if DENIED_FUNCTIONS
                    .iter()
                    .any(|d| d.eq_ignore_ascii_case(name))
                {
                    ffi::SQLITE_DENY
                } else {
                    ffi::SQLITE_OK
                }
            }
            // Writes of every kind, DDL, PRAGMA, ATTACH / DETACH, ANALYZE,
            // REINDEX, virtual tables.
            _ => ffi::SQLITE_DENY,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_binary_to_text() {
        // 350050: one digit group 35, one 0050 → weight 1, digits [35, 50].
        let enc = |ndigits: u16, weight: i16, sign: u16, dscale: u16, digits: &[u16]| {
            let mut b = Vec::new();
            for w in [ndigits, weight as u16, sign, dscale] {
                b.extend_from_slice(&w.to_be_bytes());
            }
            for d in digits {
                b.extend_from_slice(&d.to_be_bytes());
            }
            b
        };
        assert_eq!(
            pg_numeric(&enc(2, 1, 0, 0, &[35, 50])).as_deref(),
            Some("350050")
        );
        assert_eq!(
            pg_numeric(&enc(2, 0, 0x4000, 2, &[12, 5000])).as_deref(),
            Some("-12.50")
        );
        assert_eq!(
            pg_numeric(&enc(1, -2, 0, 6, &[1200])).as_deref(),
            Some("0.000012")
        );
        assert_eq!(pg_numeric(&enc(0, 0, 0, 0, &[])).as_deref(), Some("0"));
        assert_eq!(pg_numeric(&enc(0, 0, 0, 2, &[])).as_deref(), Some("0.00"));
        assert_eq!(
            pg_numeric(&enc(0, 0, 0xC000, 0, &[])).as_deref(),
            Some("NaN")
        );
        assert_eq!(pg_numeric(&[0, 1]), None);
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_date(0), Date::new(1970, 1, 1));
        assert_eq!(civil_date(PG_EPOCH_DAYS), Date::new(2000, 1, 1));
        assert_eq!(civil_date(PG_EPOCH_DAYS + 59), Date::new(2000, 2, 29));
        assert_eq!(civil_date(-1), Date::new(1969, 12, 31));
    }

    #[test]
    fn conversions_never_lose_a_value() {
        assert_eq!(
            convert(&Value::Decimal("350050".into()), ValueKind::Money),
            Some(Value::Money(350050))
        );
        assert_eq!(
            convert(&Value::Decimal("1.00".into()), ValueKind::Int),
            Some(Value::Int(1))
        );
        assert_eq!(
            convert(&Value::Decimal("1.5".into()), ValueKind::Money),
            None
        );
        assert_eq!(
            convert(&Value::Text("******".into()), ValueKind::Money),
            None
        );
        assert_eq!(
            convert(&Value::Text("2026-11-30".into()), ValueKind::Date),
            Some(Value::Date(Date::new(2026, 11, 30)))
        );
        assert_eq!(convert(&Value::Int(2), ValueKind::Boolean), None);
        assert_eq!(convert(&Value::Null, ValueKind::Money), Some(Value::Null));
    }
}
