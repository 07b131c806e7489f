//! The little SQL layer cleaning needs on both backends: a transaction with
//! dynamically typed binds, chunked reads of text rows, and the bulk
//! statements (multi-row upserts into DWD, multi-row quarantine inserts).

use crate::db::{Db, ident};
use crate::on_db;
use sqlx::{AssertSqlSafe, Row};
use zhiyun_store::Backend;

/// A value bound to a statement.
#[derive(Debug, Clone)]
pub enum Bind {
    Int(Option<i64>),
    Text(Option<String>),
}

impl From<&str> for Bind {
    fn from(s: &str) -> Bind {
        Bind::Text(Some(s.to_owned()))
    }
}

impl From<i64> for Bind {
    fn from(i: i64) -> Bind {
        Bind::Int(Some(i))
    }
}

macro_rules! bind_all {
    ($query:expr, $binds:expr) => {{
        let mut q = $query;
        for b in $binds {
            q = match b {
                Bind::Int(v) => q.bind(v),
                Bind::Text(v) => q.bind(v),
            };
        }
        q
    }};
}

/// Rows of text columns (`CAST(… AS TEXT)` in the query where needed).
pub type TextRows = Vec<Vec<Option<String>>>;

fn decode_texts<R: Row>(rows: Vec<R>) -> Result<TextRows, sqlx::Error>
where
    usize: sqlx::ColumnIndex<R>,
    for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    rows.into_iter()
        .map(|r| {
            (0..r.len())
                .map(|i| r.try_get::<Option<String>, _>(i))
                .collect()
        })
        .collect()
}

/// Rows of a query starting with `_line`: (line, the other columns as text).
pub type LineRows = Vec<(i64, Vec<Option<String>>)>;

fn decode_lines<R: Row>(rows: Vec<R>) -> Result<LineRows, sqlx::Error>
where
    usize: sqlx::ColumnIndex<R>,
    for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    rows.into_iter()
        .map(|r| {
            let line: i64 = r.try_get(0)?;
            let values = (1..r.len())
                .map(|i| r.try_get::<Option<String>, _>(i))
                .collect::<Result<_, _>>()?;
            Ok((line, values))
        })
        .collect()
}

/// Runs a query on the pool and returns its rows as text.
pub async fn fetch_texts(db: &Db, sql: String, binds: Vec<Bind>) -> Result<TextRows, sqlx::Error> {
    on_db!(db, |pool| {
        let rows = bind_all!(sqlx::query(AssertSqlSafe(sql)), binds)
            .fetch_all(pool)
            .await?;
        decode_texts(rows)
    })
}

/// Runs a query whose first column is `_line` and the rest text.
pub async fn fetch_lines(db: &Db, sql: String, binds: Vec<Bind>) -> Result<LineRows, sqlx::Error> {
    on_db!(db, |pool| {
        let rows = bind_all!(sqlx::query(AssertSqlSafe(sql)), binds)
            .fetch_all(pool)
            .await?;
        decode_lines(rows)
    })
}

/// Like [`fetch_lines`], for a query whose second column is a JSON array
/// of the row's text values (`json_array(…)` on SQLite): one value to
/// decode per row instead of one per column, which is most of the cost of
/// reading wide tables through sqlx.
pub async fn fetch_lines_json(
    db: &Db,
    sql: String,
    binds: Vec<Bind>,
) -> Result<LineRows, sqlx::Error> {
    let rows: Vec<(i64, String)> = on_db!(db, |pool| {
        bind_all!(sqlx::query_as(AssertSqlSafe(sql)), binds)
            .fetch_all(pool)
            .await
    })?;
    rows.into_iter()
        .map(|(line, json)| {
            serde_json::from_str(&json)
                .map(|values| (line, values))
                .map_err(|e| sqlx::Error::Decode(Box::new(e)))
        })
        .collect()
}

/// Runs a statement on the pool.
pub async fn execute(db: &Db, sql: String, binds: Vec<Bind>) -> Result<u64, sqlx::Error> {
    on_db!(db, |pool| bind_all!(sqlx::query(AssertSqlSafe(sql)), binds)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))
}

/// A transaction on either backend.
pub enum Tx {
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>),
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
}

impl Tx {
    pub async fn begin(db: &Db) -> Result<Tx, sqlx::Error> {
        Ok(match db {
            Db::Sqlite(pool) => Tx::Sqlite(pool.begin().await?),
            Db::Postgres(pool) => Tx::Postgres(pool.begin().await?),
        })
    }

    pub fn backend(&self) -> Backend {
        match self {
            Tx::Sqlite(_) => Backend::Sqlite,
            Tx::Postgres(_) => Backend::Postgres,
        }
    }

    pub async fn execute(&mut self, sql: String, binds: Vec<Bind>) -> Result<u64, sqlx::Error> {
        match self {
            Tx::Sqlite(tx) => bind_all!(sqlx::query(AssertSqlSafe(sql)), binds)
                .execute(&mut **tx)
                .await
                .map(|r| r.rows_affected()),
            Tx::Postgres(tx) => bind_all!(sqlx::query(AssertSqlSafe(sql)), binds)
                .execute(&mut **tx)
                .await
                .map(|r| r.rows_affected()),
        }
    }

    pub async fn count(&mut self, sql: String, binds: Vec<Bind>) -> Result<i64, sqlx::Error> {
        match self {
            Tx::Sqlite(tx) => {
                bind_all!(sqlx::query_scalar::<_, i64>(AssertSqlSafe(sql)), binds)
                    .fetch_one(&mut **tx)
                    .await
            }
            Tx::Postgres(tx) => {
                bind_all!(sqlx::query_scalar::<_, i64>(AssertSqlSafe(sql)), binds)
                    .fetch_one(&mut **tx)
                    .await
            }
        }
    }

    pub async fn fetch_texts(
        &mut self,
        sql: String,
        binds: Vec<Bind>,
    ) -> Result<TextRows, sqlx::Error> {
        match self {
            Tx::Sqlite(tx) => {
                let rows = bind_all!(sqlx::query(AssertSqlSafe(sql)), binds)
                    .fetch_all(&mut **tx)
                    .await?;
                decode_texts(rows)
            }
            Tx::Postgres(tx) => {
                let rows = bind_all!(sqlx::query(AssertSqlSafe(sql)), binds)
                    .fetch_all(&mut **tx)
                    .await?;
                decode_texts(rows)
            }
        }
    }

    pub async fn commit(self) -> Result<(), sqlx::Error> {
        match self {
            Tx::Sqlite(tx) => tx.commit().await,
            Tx::Postgres(tx) => tx.commit().await,
        }
    }
}

/// Placeholders for one multi-row statement: `?` on SQLite, `$n` on PostgreSQL.
pub fn values_list(backend: Backend, width: usize, rows: usize, prefix: &str) -> String {
    let mut sql = String::with_capacity(rows * (width * 4 + 4));
    let mut n = 0;
    for r in 0..rows {
        if r > 0 {
            sql.push(',');
        }
        sql.push('(');
        sql.push_str(prefix);
        for c in 0..width {
            if c > 0 {
                sql.push(',');
            }
            n += 1;
            match backend {
                Backend::Sqlite => sql.push('?'),
                Backend::Postgres => {
                    sql.push('$');
                    sql.push_str(&n.to_string());
                }
            }
        }
        sql.push(')');
    }
    sql
}

/// Rows per multi-row statement, under each backend's bound-value limit.
pub fn rows_per_statement(backend: Backend, width: usize) -> usize {
    match backend {
        Backend::Sqlite => (30_000 / width.max(1)).clamp(1, 500),
        Backend::Postgres => (60_000 / width.max(1)).clamp(1, 1000),
    }
}

/// The multi-row upsert into a DWD table: a row replaces the one with the
/// same key unless that one comes from a batch first seen later.
pub struct Upsert {
    pub backend: Backend,
    pub width: usize,
    head: String,
    tail: String,
}

impl Upsert {
    pub fn new(
        backend: Backend,
        dwd: &str,
        columns: &[String],
        key: &[String],
        batch_seq: i64,
    ) -> Upsert {
        let t = ident(dwd);
        let all: Vec<String> = ["_batch_id", "_line"]
            .iter()
            .map(|c| ident(c))
            .chain(columns.iter().map(|c| ident(c)))
            .collect();
        let head = format!("INSERT INTO {t} ({}) VALUES ", all.join(", "));
        let set: Vec<String> = all
            .iter()
            .filter(|c| !key.iter().any(|k| ident(k) == **c))
            .map(|c| format!("{c} = excluded.{c}"))
            .collect();
        let keys: Vec<String> = key.iter().map(|k| ident(k)).collect();
        let tail = format!(
            " ON CONFLICT ({}) DO UPDATE SET {} WHERE {t}.\"_batch_id\" = excluded.\"_batch_id\" \
             OR COALESCE((SELECT first_seen_at FROM zw_batch WHERE batch_id = {t}.\"_batch_id\"), 0) <= {batch_seq}",
            keys.join(", "),
            set.join(", ")
        );
        Upsert {
            backend,
            width: all.len(),
            head,
            tail,
        }
    }

    pub fn sql(&self, rows: usize) -> String {
        format!(
            "{}{}{}",
            self.head,
            values_list(self.backend, self.width, rows, ""),
            self.tail
        )
    }
}

/// `INSERT INTO zw_quarantine …` for `rows` rows of 7 binds (layer is 'dwd').
pub fn quarantine_sql(backend: Backend, rows: usize) -> String {
    format!(
        "INSERT INTO zw_quarantine (layer, batch_id, table_name, line, rule, reason, raw, quarantined_at) VALUES {}",
        values_list(backend, 7, rows, "'dwd',")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders() {
        assert_eq!(values_list(Backend::Sqlite, 2, 2, ""), "(?,?),(?,?)");
        assert_eq!(
            values_list(Backend::Postgres, 2, 2, "'dwd',"),
            "('dwd',$1,$2),('dwd',$3,$4)"
        );
        let u = Upsert::new(
            Backend::Sqlite,
            "dwd_t",
            &["k".into(), "v".into()],
            &["k".into()],
            7,
        );
        assert_eq!(
            u.sql(1),
            "INSERT INTO \"dwd_t\" (\"_batch_id\", \"_line\", \"k\", \"v\") VALUES (?,?,?,?) ON CONFLICT (\"k\") \
             DO UPDATE SET \"_batch_id\" = excluded.\"_batch_id\", \"_line\" = excluded.\"_line\", \"v\" = excluded.\"v\" \
             WHERE \"dwd_t\".\"_batch_id\" = excluded.\"_batch_id\" OR COALESCE((SELECT first_seen_at FROM zw_batch \
             WHERE batch_id = \"dwd_t\".\"_batch_id\"), 0) <= 7"
        );
    }
}
