//! The source side of a live pull: connecting to PostgreSQL or MySQL/MariaDB,
//! reading a table's columns from `information_schema`, and reading rows as
//! text in keyset order inside one read-only snapshot.
//!
//! Everything here only reads. Every identifier spliced into SQL has passed
//! [`is_source_ident`]; every value (cursor, schema and table names in
//! `information_schema` lookups) is a bound parameter.

use super::{Cursor, LiveError, LiveTable};
use sqlx::mysql::{MySqlConnectOptions, MySqlConnection};
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, Row};
use std::str::FromStr;
use std::time::Duration;
use zhiyun_batch::ColumnType;

/// A name we are willing to quote and splice into source SQL: ASCII letters,
/// digits and `_`, starting with a letter or `_`, at most 63 bytes. No quote
/// character can appear, so quoting cannot be escaped.
pub fn is_source_ident(s: &str) -> bool {
    let mut bytes = s.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z' | b'A'..=b'Z' | b'_'))
        && s.len() <= 63
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Postgres,
    MySql,
}

impl Kind {
    pub fn of_url(url: &str) -> Option<Kind> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Kind::Postgres)
        } else if url.starts_with("mysql://") || url.starts_with("mariadb://") {
            Some(Kind::MySql)
        } else {
            None
        }
    }

    fn quote(self, name: &str) -> String {
        debug_assert!(is_source_ident(name));
        match self {
            Kind::Postgres => format!("\"{name}\""),
            Kind::MySql => format!("`{name}`"),
        }
    }
}

/// One connection to the source.
pub enum Conn {
    Pg(PgConnection),
    My(MySqlConnection),
}

/// Runs the same code on either connection.
macro_rules! on_conn {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            Conn::Pg($c) => $body,
            Conn::My($c) => $body,
        }
    };
}

pub async fn connect(url: &str, timeout: Duration) -> Result<Conn, String> {
    let shown = zhiyun_store::redact(url);
    let kind = Kind::of_url(url).ok_or_else(|| {
        format!("`{shown}` is not a live source URL; use postgres://… or mysql://…")
    })?;
    let connecting = async {
        match kind {
            Kind::Postgres => {
                let options = PgConnectOptions::from_str(url).map_err(|e| e.to_string())?;
                options
                    .connect()
                    .await
                    .map(Conn::Pg)
                    .map_err(|e| e.to_string())
            }
            Kind::MySql => {
                let url = url.replacen("mariadb://", "mysql://", 1);
                let options = MySqlConnectOptions::from_str(&url)
                    .map_err(|e| e.to_string())?
                    .timezone(Some("+00:00".to_owned()));
                options
                    .connect()
                    .await
                    .map(Conn::My)
                    .map_err(|e| e.to_string())
            }
        }
    };
    match tokio::time::timeout(timeout, connecting).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err(format!("cannot connect to {shown}: {e}")),
        Err(_) => Err(format!(
            "cannot connect to {shown}: no answer within {} s",
            timeout.as_secs()
        )),
    }
}

impl Conn {
    pub fn kind(&self) -> Kind {
        match self {
            Conn::Pg(_) => Kind::Postgres,
            Conn::My(_) => Kind::MySql,
        }
    }

    pub async fn close(self) {
        let _ = on_conn!(self, |c| c.close().await);
    }

    /// Opens a read-only snapshot: every chunk of a table is read from the
    /// same consistent state of the source, and nothing can be written.
    pub async fn begin_snapshot(&mut self) -> Result<(), sqlx::Error> {
        match self {
            Conn::Pg(c) => {
                sqlx::raw_sql(
                    "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; \
                     SET LOCAL TimeZone = 'UTC'; SET LOCAL DateStyle = 'ISO, YMD'; \
                     SET LOCAL IntervalStyle = 'postgres'; SET LOCAL bytea_output = 'hex'; \
                     SET LOCAL extra_float_digits = 1",
                )
                .execute(&mut *c)
                .await?;
            }
            Conn::My(c) => {
                for statement in [
                    "SET SESSION time_zone = '+00:00'",
                    "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ",
                    "START TRANSACTION READ ONLY, WITH CONSISTENT SNAPSHOT",
                ] {
                    sqlx::raw_sql(statement).execute(&mut *c).await?;
                }
            }
        }
        Ok(())
    }

    pub async fn end_snapshot(&mut self) -> Result<(), sqlx::Error> {
        on_conn!(self, |c| sqlx::raw_sql("ROLLBACK")
            .execute(&mut *c)
            .await
            .map(|_| ()))
    }

    /// The columns of `schema.table` (the connection's current schema or
    /// database when `schema` is `None`), in order; empty if there is no
    /// such table or view.
    pub async fn columns(
        &mut self,
        schema: Option<&str>,
        table: &str,
    ) -> Result<Vec<RawColumn>, sqlx::Error> {
        match self {
            Conn::Pg(c) => {
                let rows = sqlx::query(
                    "SELECT column_name::text, data_type::text, udt_name::text, is_nullable = 'YES', \
                     numeric_precision::int4, numeric_scale::int4 \
                     FROM information_schema.columns \
                     WHERE table_schema::text = COALESCE($1::text, current_schema()::text) \
                     AND table_name::text = $2 ORDER BY ordinal_position",
                )
                .bind(schema)
                .bind(table)
                .fetch_all(&mut *c)
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok(RawColumn {
                            name: r.try_get(0)?,
                            data_type: r.try_get::<String, _>(1)?.to_lowercase(),
                            detail: r.try_get::<String, _>(2)?.to_lowercase(),
                            nullable: r.try_get(3)?,
                            precision: r.try_get::<Option<i32>, _>(4)?.map(i64::from),
                            scale: r.try_get::<Option<i32>, _>(5)?.map(i64::from),
                        })
                    })
                    .collect()
            }
            Conn::My(c) => {
                let rows = sqlx::query(
                    "SELECT CAST(column_name AS CHAR), CAST(data_type AS CHAR), CAST(column_type AS CHAR), \
                     CAST(is_nullable = 'YES' AS SIGNED), CAST(numeric_precision AS SIGNED), \
                     CAST(numeric_scale AS SIGNED) \
                     FROM information_schema.columns \
                     WHERE table_schema = COALESCE(?, DATABASE()) AND table_name = ? \
                     ORDER BY ordinal_position",
                )
                .bind(schema)
                .bind(table)
                .fetch_all(&mut *c)
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok(RawColumn {
                            name: r.try_get_unchecked(0)?,
                            data_type: r.try_get_unchecked::<String, _>(1)?.to_lowercase(),
                            detail: r.try_get_unchecked::<String, _>(2)?.to_lowercase(),
                            nullable: r.try_get_unchecked::<i64, _>(3)? != 0,
                            precision: r.try_get_unchecked(4)?,
                            scale: r.try_get_unchecked(5)?,
                        })
                    })
                    .collect()
            }
        }
    }

    /// The schema (PostgreSQL) or database (MySQL) unqualified names resolve in.
    pub async fn current_schema(&mut self) -> Result<Option<String>, sqlx::Error> {
        match self {
            Conn::Pg(c) => {
                sqlx::query_scalar("SELECT current_schema()::text")
                    .fetch_one(&mut *c)
                    .await
            }
            Conn::My(c) => {
                let row = sqlx::query("SELECT CAST(DATABASE() AS CHAR)")
                    .fetch_one(&mut *c)
                    .await?;
                row.try_get_unchecked(0)
            }
        }
    }

    /// Rows with (watermark, key) NULL: invisible to a keyset read.
    pub async fn count(&mut self, sql: &str) -> Result<u64, sqlx::Error> {
        let n: i64 = on_conn!(self, |c| sqlx::query_scalar(AssertSqlSafe(sql.to_owned()))
            .fetch_one(&mut *c)
            .await)?;
        Ok(n.max(0) as u64)
    }

    /// Reads the next chunk after `after` (from the start when `None`).
    pub async fn fetch(
        &mut self,
        plan: &Plan,
        after: Option<&Cursor>,
    ) -> Result<Vec<Vec<Option<Vec<u8>>>>, sqlx::Error> {
        let width = plan.columns.len();
        let (sql, values): (&str, Vec<&str>) = match after {
            None => (&plan.first_sql, Vec::new()),
            Some(cursor) => {
                let all: Vec<&str> = std::iter::once(cursor.watermark.as_str())
                    .chain(cursor.key.iter().map(String::as_str))
                    .collect();
                (
                    &plan.next_sql,
                    plan.next_binds.iter().map(|&i| all[i]).collect(),
                )
            }
        };
        on_conn!(self, |c| {
            let mut query = sqlx::query(AssertSqlSafe(sql.to_owned()));
            for v in values {
                query = query.bind(v.to_owned());
            }
            let rows = query.fetch_all(&mut *c).await?;
            rows.iter()
                .map(|r| {
                    (0..width)
                        .map(|i| r.try_get_unchecked::<Option<Vec<u8>>, _>(i))
                        .collect::<Result<Vec<_>, _>>()
                })
                .collect()
        })
    }
}

/// A column as `information_schema` describes it.
#[derive(Debug, Clone)]
pub struct RawColumn {
    pub name: String,
    /// `data_type`, lowercase (`numeric`, `timestamp without time zone`, `decimal`, `datetime`).
    pub data_type: String,
    /// PostgreSQL `udt_name` (`int8`, `timestamptz`); MySQL `column_type` (`bigint(20) unsigned`).
    pub detail: String,
    pub nullable: bool,
    pub precision: Option<i64>,
    pub scale: Option<i64>,
}

impl RawColumn {
    /// The type the ODS schema records for the column (what DWD will read it as).
    pub fn column_type(&self, kind: Kind) -> ColumnType {
        let t = self.data_type.as_str();
        match kind {
            Kind::Postgres => match self.detail.as_str() {
                "int2" | "int4" | "int8" => ColumnType::Int,
                "money" => ColumnType::Money,
                "numeric" if self.scale == Some(2) => ColumnType::Money,
                "numeric" | "float4" | "float8" => ColumnType::Decimal,
                "date" => ColumnType::Date,
                "timestamp" | "timestamptz" => ColumnType::Timestamp,
                "bool" => ColumnType::Bool,
                _ => ColumnType::String,
            },
            Kind::MySql => match t {
                "tinyint" if self.detail.starts_with("tinyint(1)") => ColumnType::Bool,
                "tinyint" | "smallint" | "mediumint" | "int" | "integer" | "bigint" | "year" => {
                    ColumnType::Int
                }
                "decimal" | "numeric" if self.scale == Some(2) => ColumnType::Money,
                "decimal" | "numeric" | "float" | "double" | "real" => ColumnType::Decimal,
                "date" => ColumnType::Date,
                "datetime" | "timestamp" => ColumnType::Timestamp,
                _ => ColumnType::String,
            },
        }
    }

    /// The SQL that reads the column as text. Decimals are cast in SQL, so
    /// their digits are the source's exactly (never through a float).
    fn select_expr(&self, kind: Kind) -> String {
        let c = format!("_src.{}", kind.quote(&self.name));
        match kind {
            Kind::Postgres => match self.detail.as_str() {
                "money" => format!("CAST(CAST({c} AS numeric) AS text)"),
                _ => format!("CAST({c} AS text)"),
            },
            Kind::MySql => match self.data_type.as_str() {
                "binary" | "varbinary" | "tinyblob" | "blob" | "mediumblob" | "longblob" => {
                    format!("CONCAT(CHAR(92 USING utf8mb4), 'x', LOWER(HEX({c})))")
                }
                "bit" => format!("CAST({c} + 0 AS CHAR)"),
                "geometry" | "point" | "linestring" | "polygon" | "multipoint"
                | "multilinestring" | "multipolygon" | "geometrycollection" => {
                    format!("ST_AsText({c})")
                }
                _ => format!("CAST({c} AS CHAR)"),
            },
        }
    }

    /// `placeholder` read back as this column's type, for comparing a
    /// stored cursor value with the column; `None` if the column's type
    /// cannot order a keyset read (JSON, blobs, enums, geometry, …).
    fn cast_param(&self, kind: Kind, placeholder: &str) -> Option<String> {
        match kind {
            Kind::Postgres => {
                let t = self.detail.as_str();
                matches!(
                    t,
                    "int2"
                        | "int4"
                        | "int8"
                        | "numeric"
                        | "float4"
                        | "float8"
                        | "date"
                        | "timestamp"
                        | "timestamptz"
                        | "time"
                        | "text"
                        | "varchar"
                        | "bpchar"
                        | "uuid"
                        | "bool"
                )
                .then(|| format!("CAST({placeholder} AS {t})"))
            }
            Kind::MySql => {
                let unsigned = self.detail.contains("unsigned");
                match self.data_type.as_str() {
                    "tinyint" | "smallint" | "mediumint" | "int" | "integer" | "bigint"
                    | "year" => Some(format!(
                        "CAST({placeholder} AS {})",
                        if unsigned { "UNSIGNED" } else { "SIGNED" }
                    )),
                    "decimal" | "numeric" => {
                        let p = self.precision.unwrap_or(65).clamp(1, 65);
                        let s = self.scale.unwrap_or(0).clamp(0, 38);
                        Some(format!("CAST({placeholder} AS DECIMAL({p},{s}))"))
                    }
                    "float" | "double" | "real" => Some(format!("CAST({placeholder} AS DOUBLE)")),
                    "date" => Some(format!("CAST({placeholder} AS DATE)")),
                    "datetime" | "timestamp" => Some(format!("CAST({placeholder} AS DATETIME(6))")),
                    "time" => Some(format!("CAST({placeholder} AS TIME(6))")),
                    "char" | "varchar" | "tinytext" | "text" | "mediumtext" | "longtext" => {
                        Some(placeholder.to_owned())
                    }
                    _ => None,
                }
            }
        }
    }
}

/// How one table is read: the columns, the cursor columns among them, and
/// the keyset SQL.
#[derive(Debug, Clone)]
pub struct Plan {
    pub columns: Vec<RawColumn>,
    /// Indexes into `columns`: the watermark, then the key columns.
    pub cursor: Vec<usize>,
    pub first_sql: String,
    pub next_sql: String,
    /// For each placeholder of `next_sql`, the cursor value it takes
    /// (0 = watermark, 1.. = key columns).
    pub next_binds: Vec<usize>,
    /// Counts rows whose watermark or key is NULL (only when one may be).
    pub null_count_sql: Option<String>,
}

/// Checks a table's config against the source's columns and builds its plan.
pub fn plan(
    kind: Kind,
    source: &str,
    table: &LiveTable,
    schema: Option<&str>,
    bare: &str,
    found: Vec<RawColumn>,
    chunk_rows: usize,
) -> Result<Plan, LiveError> {
    let bad =
        |what: String| LiveError::Config(format!("source {source}, table {}: {what}", table.name));
    let find = |name: &str, role: &str| {
        found.iter().position(|c| c.name == name).ok_or_else(|| {
            bad(format!(
                "{role} column {name:?} does not exist (the table has {})",
                found
                    .iter()
                    .map(|c| c.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })
    };
    // The watermark and key columns are always read, after the listed ones.
    let mut wanted: Vec<usize> = match &table.columns {
        Some(list) => list
            .iter()
            .map(|c| find(c, "listed"))
            .collect::<Result<_, _>>()?,
        None => (0..found.len()).collect(),
    };
    let mut cursor_found = vec![find(&table.watermark, "watermark")?];
    for k in &table.key {
        cursor_found.push(find(k, "key")?);
    }
    for &i in &cursor_found {
        if !wanted.contains(&i) {
            wanted.push(i);
        }
    }
    let columns: Vec<RawColumn> = wanted.iter().map(|&i| found[i].clone()).collect();
    if let Some(c) = columns
        .iter()
        .find(|c| !zhiyun_batch::manifest::is_snake_name(&c.name))
    {
        return Err(bad(format!(
            "column {:?} is not a lowercase snake-case name, which the warehouse needs; \
             leave it out with `columns = [...]`",
            c.name
        )));
    }
    let cursor: Vec<usize> = cursor_found
        .iter()
        .map(|i| wanted.iter().position(|w| w == i).unwrap_or_default())
        .collect();

    // Columns are qualified and the outputs renamed: in PostgreSQL
    // `ORDER BY seq` would otherwise sort by the output `CAST(seq AS text)`,
    // which is also named `seq`: text order, not the column's.
    let q = |name: &str| format!("_src.{}", kind.quote(name));
    let from = match schema {
        Some(s) => format!("{}.{} AS _src", kind.quote(s), kind.quote(bare)),
        None => format!("{} AS _src", kind.quote(bare)),
    };
    let select = columns
        .iter()
        .enumerate()
        .map(|(i, c)| format!("{} AS _c{i}", c.select_expr(kind)))
        .collect::<Vec<_>>()
        .join(", ");
    let cursor_cols: Vec<&RawColumn> = cursor.iter().map(|&i| &columns[i]).collect();
    let placeholder = |n: usize| match kind {
        Kind::Postgres => format!("${n}"),
        Kind::MySql => "?".to_owned(),
    };
    for (i, c) in cursor_cols.iter().enumerate() {
        if c.cast_param(kind, "?").is_none() {
            let role = if i == 0 { "watermark" } else { "key" };
            return Err(bad(format!(
                "{role} column {:?} has type {}, which cannot order an incremental read; \
                 use a number, date, timestamp or text column",
                c.name, c.detail
            )));
        }
    }
    let casts = &cursor_cols;
    let not_null: Vec<String> = cursor_cols
        .iter()
        .filter(|c| c.nullable)
        .map(|c| format!("{} IS NOT NULL", q(&c.name)))
        .collect();
    let order = cursor_cols
        .iter()
        .map(|c| q(&c.name))
        .collect::<Vec<_>>()
        .join(", ");
    let (after, next_binds) = match kind {
        // A row comparison, which PostgreSQL answers from an index on (watermark, key).
        Kind::Postgres => {
            let params = casts
                .iter()
                .enumerate()
                .map(|(i, c)| c.cast_param(kind, &placeholder(i + 1)).unwrap_or_default())
                .collect::<Vec<_>>()
                .join(", ");
            (
                format!("({order}) > ({params})"),
                (0..casts.len()).collect::<Vec<_>>(),
            )
        }
        // Spelled out: w > ? OR (w = ? AND k1 > ?) OR (w = ? AND k1 = ? AND k2 > ?) …
        Kind::MySql => {
            let mut binds = Vec::new();
            let mut alternatives = Vec::new();
            for j in 0..casts.len() {
                let mut terms = Vec::new();
                for (i, c) in casts.iter().enumerate().take(j + 1) {
                    let op = if i == j { ">" } else { "=" };
                    terms.push(format!(
                        "{} {op} {}",
                        q(&c.name),
                        c.cast_param(kind, "?").unwrap_or_default()
                    ));
                    binds.push(i);
                }
                alternatives.push(format!("({})", terms.join(" AND ")));
            }
            (format!("({})", alternatives.join(" OR ")), binds)
        }
    };
    let where_first = if not_null.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", not_null.join(" AND "))
    };
    let mut next_terms = not_null.clone();
    next_terms.push(after);
    let first_sql =
        format!("SELECT {select} FROM {from}{where_first} ORDER BY {order} LIMIT {chunk_rows}");
    let next_sql = format!(
        "SELECT {select} FROM {from} WHERE {} ORDER BY {order} LIMIT {chunk_rows}",
        next_terms.join(" AND ")
    );
    let null_count_sql = (!not_null.is_empty()).then(|| {
        let any_null = cursor_cols
            .iter()
            .filter(|c| c.nullable)
            .map(|c| format!("{} IS NULL", q(&c.name)))
            .collect::<Vec<_>>()
            .join(" OR ");
        let count = match kind {
            Kind::Postgres => "count(*)::int8",
            Kind::MySql => "CAST(count(*) AS SIGNED)",
        };
        format!("SELECT {count} FROM {from} WHERE {any_null}")
    });
    Ok(Plan {
        columns,
        cursor,
        first_sql,
        next_sql,
        next_binds,
        null_count_sql,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_identifiers() {
        assert!(is_source_ident("payment"));
        assert!(is_source_ident("PayLine_2"));
        assert!(!is_source_ident("pay;drop"));
        assert!(!is_source_ident("a\"b"));
        assert!(!is_source_ident("a`b"));
        assert!(!is_source_ident("1abc"));
        assert!(!is_source_ident(""));
    }
}
