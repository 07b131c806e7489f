//! The bulk paths into an ODS table, one per backend: multi-row prepared
//! inserts on SQLite, `COPY … FROM STDIN` on PostgreSQL. Both run inside the
//! caller's transaction, so a chunk's rows commit with its resume point.

use crate::db::ident;
use crate::ods::{BATCH_COLUMN, LINE_COLUMN};
use sqlx::{AssertSqlSafe, PgConnection, SqliteConnection};

/// SQLite allows 32,766 bound values per statement; staying well under it
/// keeps statements a size SQLite prepares quickly.
const SQLITE_MAX_VALUES: usize = 30_000;
const SQLITE_MAX_ROWS: usize = 500;

fn column_list(header: &[String]) -> String {
    let mut list = format!("{}, {}", ident(BATCH_COLUMN), ident(LINE_COLUMN));
    for h in header {
        list.push_str(", ");
        list.push_str(&ident(h));
    }
    list
}

/// `INSERT INTO t (…) VALUES (?, …), (?, …) …` for `rows` rows of `width` values.
fn sqlite_insert_sql(table: &str, columns: &str, width: usize, rows: usize) -> String {
    let one = format!("({})", vec!["?"; width].join(","));
    let mut sql = format!("INSERT INTO {} ({columns}) VALUES ", ident(table));
    for i in 0..rows {
        if i > 0 {
            sql.push(',');
        }
        sql.push_str(&one);
    }
    sql
}

pub async fn insert_sqlite(
    conn: &mut SqliteConnection,
    table: &str,
    header: &[String],
    batch_id: &str,
    rows: Vec<(u64, Vec<String>)>,
) -> Result<(), sqlx::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    let width = header.len() + 2;
    let per_statement = (SQLITE_MAX_VALUES / width).clamp(1, SQLITE_MAX_ROWS);
    let columns = column_list(header);
    // The full-size statement is prepared once per connection (sqlx caches
    // prepared statements by their text); the tail gets its own.
    let full_sql = sqlite_insert_sql(table, &columns, width, per_statement);
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let group: Vec<(u64, Vec<String>)> = rows.by_ref().take(per_statement).collect();
        let sql = if group.len() == per_statement {
            full_sql.clone()
        } else {
            sqlite_insert_sql(table, &columns, width, group.len())
        };
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for (line, values) in group {
            query = query.bind(batch_id).bind(line as i64);
            for v in values {
                query = query.bind(v);
            }
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

pub async fn copy_postgres(
    conn: &mut PgConnection,
    table: &str,
    header: &[String],
    batch_id: &str,
    rows: Vec<(u64, Vec<String>)>,
) -> Result<(), sqlx::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    let statement = format!(
        "COPY {} ({}) FROM STDIN WITH (FORMAT csv)",
        ident(table),
        column_list(header)
    );
    let mut copy = conn.copy_in_raw(&statement).await?;
    // Every value is quoted, so an empty string stays an empty string (an
    // unquoted empty field would be NULL).
    let mut buf = Vec::with_capacity(1 << 20);
    for (line, values) in rows {
        push_csv_field(&mut buf, batch_id);
        buf.push(b',');
        buf.extend_from_slice(line.to_string().as_bytes());
        for v in &values {
            buf.push(b',');
            push_csv_field(&mut buf, v);
        }
        buf.push(b'\n');
        if buf.len() >= 1 << 20 {
            copy.send(std::mem::take(&mut buf)).await?;
            buf.reserve(1 << 20);
        }
    }
    if !buf.is_empty() {
        copy.send(buf).await?;
    }
    copy.finish().await?;
    Ok(())
}

fn push_csv_field(buf: &mut Vec<u8>, value: &str) {
    buf.push(b'"');
    for b in value.bytes() {
        if b == b'"' {
            buf.push(b'"');
        }
        buf.push(b);
    }
    buf.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_statement_has_one_placeholder_per_value() {
        let sql = sqlite_insert_sql("ods_t", "\"a\"", 3, 2);
        assert_eq!(sql, "INSERT INTO \"ods_t\" (\"a\") VALUES (?,?,?),(?,?,?)");
    }

    #[test]
    fn csv_fields_are_quoted_and_escaped() {
        let mut buf = Vec::new();
        push_csv_field(&mut buf, "a\"b,c");
        push_csv_field(&mut buf, "");
        assert_eq!(buf, b"\"a\"\"b,c\"\"\"");
    }
}
