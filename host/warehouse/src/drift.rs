//! Schema drift (模式漂移): a table's columns compared with what earlier
//! batches sent, and with what its own file holds.
//!
//! Nothing is dropped. A column the ODS table lacks is added (as text, like
//! every ODS column); a column that stops coming stays, NULL for the rows of
//! the batches without it. Every difference is recorded in `zw_drift` and
//! returned in the load report:
//!
//! | kind | meaning |
//! |---|---|
//! | `added` | the manifest lists a column earlier batches did not have |
//! | `missing` | an earlier batch had the column; this manifest does not |
//! | `retyped` | the declared type changed (e.g. `int` → `string`) |
//! | `undeclared` | the file has a column its manifest does not list (loaded anyway) |
//! | `absent_in_file` | the manifest lists a column the file lacks (NULL) |

use crate::db::{Db, ident};
use crate::ods::{BATCH_COLUMN, LINE_COLUMN, ods_table};
use crate::on_db;
use serde::Serialize;
use zhiyun_batch::TableManifest;
use zhiyun_store::now_micros;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Drift {
    pub column: String,
    pub kind: String,
    pub detail: String,
}

/// Creates or widens the ODS table for `table` so it can take `header`'s
/// columns, records the drift of this batch, and returns it.
pub async fn prepare_ods_table(
    db: &Db,
    batch_id: &str,
    table: &TableManifest,
    header: &[String],
) -> Result<Vec<Drift>, sqlx::Error> {
    let ods = ods_table(&table.name);
    let known: Vec<(String, String)> = on_db!(db, |pool| {
        sqlx::query_as(
        "SELECT column_name, declared_type FROM zw_table_schema WHERE table_name = $1 ORDER BY ordinal"
    )
    .bind(&table.name)
    .fetch_all(pool)
    .await
    })?;

    let mut found = Vec::new();
    let mut note = |column: &str, kind: &str, detail: String| {
        found.push(Drift {
            column: column.to_owned(),
            kind: kind.to_owned(),
            detail,
        })
    };
    if !known.is_empty() {
        for c in &table.columns {
            match known.iter().find(|(name, _)| *name == c.name) {
                None => note(&c.name, "added", format!("new column ({})", c.ty.as_str())),
                Some((_, old)) if old != c.ty.as_str() => note(
                    &c.name,
                    "retyped",
                    format!("declared {old} before, {} now", c.ty.as_str()),
                ),
                Some(_) => {}
            }
        }
        for (name, old) in &known {
            if table.column_index(name).is_none() && !header.contains(name) {
                note(
                    name,
                    "missing",
                    format!("sent before ({old}), not in this batch; kept, NULL for its rows"),
                );
            }
        }
    }
    for h in header {
        if table.column_index(h).is_none() {
            note(
                h,
                "undeclared",
                "in the file but not in the manifest; loaded".to_owned(),
            );
        }
    }
    for c in &table.columns {
        if !header.contains(&c.name) {
            note(
                &c.name,
                "absent_in_file",
                "in the manifest but not in the file; NULL".to_owned(),
            );
        }
    }

    // The ODS table takes the union of the manifest's and the file's columns.
    let mut wanted: Vec<&str> = table.columns.iter().map(|c| c.name.as_str()).collect();
    for h in header {
        if !wanted.contains(&h.as_str()) {
            wanted.push(h);
        }
    }
    if !db.table_exists(&ods).await? {
        let mut ddl = format!(
            "CREATE TABLE IF NOT EXISTS {} ({} TEXT NOT NULL, {} BIGINT NOT NULL",
            ident(&ods),
            ident(BATCH_COLUMN),
            ident(LINE_COLUMN)
        );
        for w in &wanted {
            ddl.push_str(&format!(", {} TEXT", ident(w)));
        }
        ddl.push(')');
        let index = format!(
            "CREATE INDEX IF NOT EXISTS {} ON {} ({}, {})",
            ident(&format!("{ods}__batch")),
            ident(&ods),
            ident(BATCH_COLUMN),
            ident(LINE_COLUMN)
        );
        on_db!(db, |pool| {
            sqlx::raw_sql(sqlx::AssertSqlSafe(ddl.clone()))
                .execute(pool)
                .await?;
            sqlx::raw_sql(sqlx::AssertSqlSafe(index.clone()))
                .execute(pool)
                .await
                .map(|_| ())
        })?;
    }
    let existing = db.table_columns(&ods).await?;
    for w in &wanted {
        if !existing.iter().any(|e| e == w) {
            let ddl = format!("ALTER TABLE {} ADD COLUMN {} TEXT", ident(&ods), ident(w));
            let added = on_db!(db, |pool| sqlx::raw_sql(sqlx::AssertSqlSafe(ddl.clone()))
                .execute(pool)
                .await
                .map(|_| ()));
            // Another load of the same table may have added it meanwhile.
            if let Err(e) = added
                && !db.table_columns(&ods).await?.iter().any(|c| c == w)
            {
                return Err(e);
            }
        }
    }

    let now = now_micros();
    let next_ordinal = known.len() as i64;
    on_db!(db, |pool| {
        let mut tx = pool.begin().await?;
        for (i, c) in table.columns.iter().enumerate() {
            sqlx::query(
                "INSERT INTO zw_table_schema (table_name, column_name, ordinal, declared_type, first_batch, last_batch) \
                 VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (table_name, column_name) \
                 DO UPDATE SET declared_type = excluded.declared_type, last_batch = excluded.last_batch",
            )
            .bind(&table.name)
            .bind(&c.name)
            .bind(next_ordinal + i as i64)
            .bind(c.ty.as_str())
            .bind(batch_id)
            .execute(&mut *tx)
            .await?;
        }
        for d in &found {
            sqlx::query(
                "INSERT INTO zw_drift (batch_id, table_name, column_name, kind, detail, detected_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
            )
            .bind(batch_id)
            .bind(&table.name)
            .bind(&d.column)
            .bind(&d.kind)
            .bind(&d.detail)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await
    })?;
    recorded(db, batch_id, &table.name).await
}

/// The drift recorded for one table of one batch (also by an earlier,
/// interrupted run of the same load).
pub async fn recorded(db: &Db, batch_id: &str, table: &str) -> Result<Vec<Drift>, sqlx::Error> {
    let rows: Vec<(String, String, String)> = on_db!(db, |pool| {
        sqlx::query_as(
        "SELECT column_name, kind, detail FROM zw_drift WHERE batch_id = $1 AND table_name = $2 \
         ORDER BY kind, column_name"
    )
    .bind(batch_id)
    .bind(table)
    .fetch_all(pool)
    .await
    })?;
    Ok(rows
        .into_iter()
        .map(|(column, kind, detail)| Drift {
            column,
            kind,
            detail,
        })
        .collect())
}
