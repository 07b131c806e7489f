//! Cleaning one table of one batch: ODS rows in, DWD rows and quarantine
//! entries out, in one transaction, with the invariant checked before commit.

use super::rules::{Bound, ColumnRules, Layer, Lookup, Step, TableRules, sql_is_integer};
use super::sql::{self, Bind, Tx, Upsert};
use super::values::{self, Val, cmp_decimal, decimal_parts};
use super::{CleanStatus, dwd_table};
use crate::db::{Db, ident};
use crate::ods::ods_table;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::mpsc;
use zhiyun_batch::ColumnType;
use zhiyun_store::{Backend, now_micros};

pub(crate) struct TableJob {
    pub batch_id: String,
    /// `zw_batch.first_seen_at` of the batch: the order "later batch" means.
    pub batch_seq: i64,
    pub rules: Arc<TableRules>,
    pub chunk_rows: usize,
    pub force: bool,
}

pub(crate) struct TableResult {
    pub status: CleanStatus,
    pub rows_in: u64,
    pub rows_out: u64,
    pub rows_quarantined: u64,
    pub by_rule: BTreeMap<String, u64>,
}

/// A loaded lookup: a dictionary or a set of referenced values.
enum LookupData {
    Dict {
        map: HashMap<String, String>,
        new_codes: HashSet<String>,
        describe: String,
    },
    Set {
        values: HashSet<String>,
        describe: String,
        missing: bool,
    },
}

struct Failure {
    rule: &'static str,
    reason: String,
}

/// Runs the steps of the columns of a table.
struct Cleaner<'a> {
    rules: &'a TableRules,
    lookups: &'a [LookupData],
}

fn shown(raw: &str) -> String {
    let mut s: String = raw.chars().take(80).collect();
    if s.len() < raw.len() {
        s.push('…');
    }
    format!("{s:?}")
}

impl Cleaner<'_> {
    /// Cleans one value; `raw` is the ODS value (None when the batch lacks the column).
    fn value(&self, col: &ColumnRules, raw: Option<&str>, skip_refs: bool) -> Result<Val, Failure> {
        let mut val = match raw {
            None | Some("") => Val::Null,
            Some(s) => Val::Text(s.to_owned()),
        };
        let fail = |rule: &'static str, why: String| Failure {
            rule,
            reason: format!("column {}: {why}", col.name),
        };
        let raw_shown = || shown(raw.unwrap_or(""));
        for step in &col.steps {
            if val == Val::Null {
                if let Step::NotNull = step {
                    return Err(fail("not_null", "is empty".into()));
                }
                continue;
            }
            val = match (step, val) {
                (Step::Trim, Val::Text(s)) => {
                    let t = values::trim(s);
                    if t.is_empty() {
                        Val::Null
                    } else {
                        Val::Text(t)
                    }
                }
                (Step::Fullwidth, Val::Text(s)) => Val::Text(values::fullwidth_to_halfwidth(s)),
                (Step::Upper, Val::Text(s)) => Val::Text(s.to_uppercase()),
                (Step::Lower, Val::Text(s)) => Val::Text(s.to_lowercase()),
                (Step::Parse(ty), Val::Text(s)) => {
                    let parsed = match ty {
                        ColumnType::Money => values::money(&s).map(Val::Int),
                        ColumnType::Int => values::int(&s).map(Val::Int),
                        ColumnType::Bool => values::bool(&s).map(Val::Int),
                        ColumnType::Decimal => values::decimal(&s).map(Val::Text),
                        ColumnType::Date => values::date(&s).map(Val::Text),
                        ColumnType::Timestamp => values::timestamp(&s).map(Val::Text),
                        ColumnType::String => Ok(Val::Text(s)),
                    };
                    parsed.map_err(|why| fail(ty.as_str(), format!("{} {why}", raw_shown())))?
                }
                (
                    Step::Map {
                        lookup,
                        keep_unknown,
                    },
                    Val::Text(s),
                ) => {
                    let LookupData::Dict {
                        map,
                        new_codes,
                        describe,
                    } = &self.lookups[*lookup]
                    else {
                        unreachable!("map steps point at dictionaries")
                    };
                    match map.get(&s) {
                        Some(new) => Val::Text(new.clone()),
                        None if *keep_unknown || new_codes.contains(&s) => Val::Text(s),
                        None => {
                            return Err(fail(
                                "map",
                                format!(
                                    "{} is neither an old nor a new code in {describe}",
                                    raw_shown()
                                ),
                            ));
                        }
                    }
                }
                (Step::Range { min, max }, v) => {
                    let out_of = |b: &Bound, below: bool| -> bool {
                        let ord = match (&v, b) {
                            (Val::Int(i), Bound::Int(x, _)) => Some(i.cmp(x)),
                            (Val::Text(s), Bound::Dec(x, _)) => {
                                decimal_parts(s).and_then(|p| cmp_decimal(p, *x))
                            }
                            (Val::Text(s), Bound::Text(x)) => Some(s.as_str().cmp(x.as_str())),
                            _ => None,
                        };
                        match ord {
                            Some(o) if below => o == std::cmp::Ordering::Less,
                            Some(o) => o == std::cmp::Ordering::Greater,
                            None => true,
                        }
                    };
                    if let Some(b) = min.as_ref().filter(|b| out_of(b, true)) {
                        return Err(fail(
                            "range",
                            format!("{} is below the minimum {}", raw_shown(), b.show()),
                        ));
                    }
                    if let Some(b) = max.as_ref().filter(|b| out_of(b, false)) {
                        return Err(fail(
                            "range",
                            format!("{} is above the maximum {}", raw_shown(), b.show()),
                        ));
                    }
                    v
                }
                (Step::OneOf(list), v) => {
                    let text = v.text().unwrap_or_default();
                    if !list.iter().any(|x| *x == text) {
                        return Err(fail(
                            "one_of",
                            format!("{} is not one of {}", raw_shown(), list.join(", ")),
                        ));
                    }
                    v
                }
                (Step::References { lookup }, v) => {
                    if !skip_refs {
                        let LookupData::Set {
                            values,
                            describe,
                            missing,
                        } = &self.lookups[*lookup]
                        else {
                            unreachable!("references point at sets")
                        };
                        let text = v.text().unwrap_or_default();
                        if !values.contains(text.as_ref()) {
                            let why = if *missing {
                                format!(
                                    "{} has no match: {describe} does not exist yet",
                                    raw_shown()
                                )
                            } else {
                                format!("{} has no match in {describe}", raw_shown())
                            };
                            return Err(fail("references", why));
                        }
                    }
                    v
                }
                (Step::Pattern(re), v) => {
                    let text = v.text().unwrap_or_default();
                    if !re.is_match(&text) {
                        let p = re.as_str();
                        let p = p
                            .strip_prefix("^(?:")
                            .and_then(|p| p.strip_suffix(")$"))
                            .unwrap_or(p);
                        return Err(fail(
                            "pattern",
                            format!("{} does not match the pattern {p}", raw_shown()),
                        ));
                    }
                    v
                }
                // Text steps after a type step are refused when the rules
                // are checked; a typed value passes them unchanged.
                (_, v) => v,
            };
        }
        Ok(val)
    }

    /// Cleans the given columns of a row; all failures are collected.
    fn row(
        &self,
        raw: &[Option<String>],
        columns: &[usize],
        skip_refs: bool,
    ) -> Result<Vec<Val>, Vec<Failure>> {
        let mut out = Vec::with_capacity(columns.len());
        let mut failures = Vec::new();
        for &i in columns {
            let col = &self.rules.columns[i];
            match self.value(col, raw[i].as_deref(), skip_refs) {
                // An empty part of a text key is '' (a key column cannot be
                // NULL), e.g. gl_balance's aux_key "空为无".
                Ok(Val::Null) if !sql_is_integer(col.kind) && self.rules.key_index.contains(&i) => {
                    out.push(Val::Text(String::new()))
                }
                Ok(v) => out.push(v),
                Err(f) => failures.push(f),
            }
        }
        if failures.is_empty() {
            Ok(out)
        } else {
            Err(failures)
        }
    }
}

/// The cleaned key of a row, as text (key values joined by `|`) and as a hash.
/// `None` when a part is NULL or every part is empty.
fn key_of(vals: &[&Val]) -> Option<(String, u128)> {
    let mut text = String::new();
    let mut empty = true;
    for (i, v) in vals.iter().enumerate() {
        if i > 0 {
            text.push('|');
        }
        let part = v.text()?;
        empty &= part.is_empty();
        text.push_str(&part);
    }
    (!empty).then(|| {
        let hash = key_hash(&text);
        (text, hash)
    })
}

fn key_hash(text: &str) -> u128 {
    let mut a = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut a);
    let mut b = std::collections::hash_map::DefaultHasher::new();
    0xa5u8.hash(&mut b);
    text.hash(&mut b);
    (u128::from(a.finish()) << 64) | u128::from(b.finish())
}

/// The ODS row as a JSON object in column order (the quarantine's `raw`).
fn raw_json(columns: &[ColumnRules], raw: &[Option<String>]) -> String {
    let mut s = String::from("{");
    for (i, (c, v)) in columns.iter().zip(raw).enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&serde_json::to_string(&c.name).unwrap_or_default());
        s.push(':');
        match v {
            Some(v) => s.push_str(&serde_json::to_string(v).unwrap_or_default()),
            None => s.push_str("null"),
        }
    }
    s.push('}');
    s
}

/// The statements that create `dwd_<table>` (when `existing` is empty) or
/// add the columns it lacks.
fn dwd_ddl(backend: Backend, rules: &TableRules, existing: &[String]) -> Vec<(String, String)> {
    let dwd = dwd_table(&rules.table);
    let sql_type = |c: &ColumnRules| {
        if sql_is_integer(c.kind) {
            "BIGINT"
        } else {
            "TEXT"
        }
    };
    if existing.is_empty() {
        let mut ddl = format!(
            "CREATE TABLE IF NOT EXISTS {} (\"_batch_id\" TEXT NOT NULL, \"_line\" BIGINT NOT NULL",
            ident(&dwd)
        );
        for (i, c) in rules.columns.iter().enumerate() {
            let not_null = if rules.key_index.contains(&i) {
                " NOT NULL"
            } else {
                ""
            };
            ddl.push_str(&format!(", {} {}{not_null}", ident(&c.name), sql_type(c)));
        }
        let keys: Vec<String> = rules.key.iter().map(|k| ident(k)).collect();
        ddl.push_str(&format!(", PRIMARY KEY ({}))", keys.join(", ")));
        // The key is the table's clustered index: one B-tree less per row.
        if backend == Backend::Sqlite {
            ddl.push_str(" WITHOUT ROWID");
        }
        let index = format!(
            "CREATE INDEX IF NOT EXISTS {} ON {} (\"_batch_id\")",
            ident(&format!("{dwd}__batch")),
            ident(&dwd)
        );
        vec![(String::new(), ddl), (String::new(), index)]
    } else {
        rules
            .columns
            .iter()
            .filter(|c| !existing.contains(&c.name))
            .map(|c| {
                (
                    c.name.clone(),
                    format!(
                        "ALTER TABLE {} ADD COLUMN {} {}",
                        ident(&dwd),
                        ident(&c.name),
                        sql_type(c)
                    ),
                )
            })
            .collect()
    }
}

/// The statements recording the columns' kinds in `zw_clean_column`.
fn column_records(
    backend: Backend,
    rules: &TableRules,
    batch_id: &str,
) -> Vec<(String, Vec<Bind>)> {
    let mut binds = Vec::with_capacity(rules.columns.len() * 5);
    for c in &rules.columns {
        let key_ordinal = rules
            .key
            .iter()
            .position(|k| *k == c.name)
            .map(|p| p as i64);
        binds.extend([
            rules.table.as_str().into(),
            c.name.as_str().into(),
            c.kind.as_str().into(),
            Bind::Int(key_ordinal),
            batch_id.into(),
        ]);
    }
    binds
        .chunks(5 * sql::rows_per_statement(backend, 5))
        .map(|chunk| {
            (
                format!(
                    "INSERT INTO zw_clean_column (table_name, column_name, kind, key_ordinal, first_batch) \
                     VALUES {} ON CONFLICT (table_name, column_name) DO UPDATE SET kind = excluded.kind",
                    sql::values_list(backend, 5, chunk.len() / 5, "")
                ),
                chunk.to_vec(),
            )
        })
        .collect()
}

/// Creates or widens `dwd_<table>` and records its columns' kinds. Another
/// run adding the same column meanwhile is not an error.
pub(crate) async fn prepare_dwd(
    db: &Db,
    rules: &TableRules,
    batch_id: &str,
) -> Result<(), sqlx::Error> {
    let dwd = dwd_table(&rules.table);
    let existing = db.table_columns(&dwd).await?;
    for (column, ddl) in dwd_ddl(db.backend(), rules, &existing) {
        if let Err(e) = sql::execute(db, ddl, vec![]).await
            && (column.is_empty() || !db.table_columns(&dwd).await?.contains(&column))
        {
            return Err(e);
        }
    }
    for (statement, binds) in column_records(db.backend(), rules, batch_id) {
        sql::execute(db, statement, binds).await?;
    }
    Ok(())
}

/// Prepares the DWD tables of a whole run in one transaction. On SQLite
/// every schema change makes each pooled connection re-read the whole
/// schema (hundreds of tables), so one change instead of one per table
/// matters; [`prepare_dwd`] per table still follows, as the fallback.
pub(crate) async fn prepare_all(
    db: &Db,
    all: &[Arc<TableRules>],
    batch_id: &str,
) -> Result<(), sqlx::Error> {
    let mut statements: Vec<(String, Vec<Bind>)> = Vec::new();
    for rules in all {
        let existing = db.table_columns(&dwd_table(&rules.table)).await?;
        for (_, ddl) in dwd_ddl(db.backend(), rules, &existing) {
            statements.push((ddl, vec![]));
        }
        statements.extend(column_records(db.backend(), rules, batch_id));
    }
    let mut tx = Tx::begin(db).await?;
    for (statement, binds) in statements {
        tx.execute(statement, binds).await?;
    }
    tx.commit().await
}

async fn load_lookup(db: &Db, lookup: &Lookup) -> Result<LookupData, String> {
    match lookup {
        Lookup::Dict {
            table,
            from,
            to,
            layer,
        } => {
            let (name, sql) = match layer {
                Layer::Dwd => {
                    let name = dwd_table(table);
                    let sql = format!(
                        "SELECT CAST({f} AS TEXT), CAST({t} AS TEXT) FROM {n}",
                        f = ident(from),
                        t = ident(to),
                        n = ident(&name)
                    );
                    (name, sql)
                }
                Layer::Ods => {
                    let name = ods_table(table);
                    let sql = format!(
                        "SELECT o.{f}, o.{t} FROM {n} o ORDER BY \
                         (SELECT first_seen_at FROM zw_batch b WHERE b.batch_id = o.\"_batch_id\"), o.\"_line\"",
                        f = ident(from),
                        t = ident(to),
                        n = ident(&name)
                    );
                    (name, sql)
                }
            };
            let describe = format!("{name} ({from} → {to})");
            if !db.table_exists(&name).await.map_err(|e| e.to_string())? {
                return Err(format!(
                    "the dictionary {name} does not exist (is {table} in the batch?)"
                ));
            }
            let rows = sql::fetch_texts(db, sql, vec![])
                .await
                .map_err(|e| format!("reading the dictionary {describe}: {e}"))?;
            let mut map = HashMap::new();
            let mut new_codes = HashSet::new();
            let norm = |s: String| values::fullwidth_to_halfwidth(values::trim(s));
            for row in rows {
                let mut it = row.into_iter();
                let (Some(Some(old)), Some(Some(new))) = (it.next(), it.next()) else {
                    continue;
                };
                let (old, new) = (norm(old), norm(new));
                if old.is_empty() || new.is_empty() {
                    continue;
                }
                new_codes.insert(new.clone());
                map.insert(old, new);
            }
            Ok(LookupData::Dict {
                map,
                new_codes,
                describe,
            })
        }
        Lookup::Ref { table, column } => {
            let name = dwd_table(table);
            let describe = format!("{name}.{column}");
            if !db.table_exists(&name).await.map_err(|e| e.to_string())? {
                return Ok(LookupData::Set {
                    values: HashSet::new(),
                    describe,
                    missing: true,
                });
            }
            let sql = format!(
                "SELECT DISTINCT CAST({c} AS TEXT) FROM {n} WHERE {c} IS NOT NULL",
                c = ident(column),
                n = ident(&name)
            );
            let rows = sql::fetch_texts(db, sql, vec![])
                .await
                .map_err(|e| format!("reading the referenced column {describe}: {e}"))?;
            Ok(LookupData::Set {
                values: rows
                    .into_iter()
                    .filter_map(|r| r.into_iter().next().flatten())
                    .collect(),
                describe,
                missing: false,
            })
        }
    }
}

/// Cleans one table of one batch.
pub(crate) async fn clean_table(db: &Db, job: &TableJob) -> Result<TableResult, String> {
    let rules = &job.rules;
    let table = rules.table.as_str();
    let batch_id = job.batch_id.as_str();
    let err = |e: sqlx::Error| format!("{table}: {e}");

    // Done before under the same rules: nothing to do.
    let previous = sql::fetch_texts(
        db,
        "SELECT status, rules_hash, CAST(rows_in AS TEXT), CAST(rows_out AS TEXT), \
         CAST(rows_quarantined AS TEXT), by_rule FROM zw_clean_run WHERE batch_id = $1 AND table_name = $2"
            .into(),
        vec![batch_id.into(), table.into()],
    )
    .await
    .map_err(err)?;
    if let Some(row) = previous.first() {
        let text = |i: usize| row[i].clone().unwrap_or_default();
        if text(0) == "done" && text(1) == rules.fingerprint && !job.force {
            let n = |i: usize| text(i).parse::<u64>().unwrap_or(0);
            return Ok(TableResult {
                status: CleanStatus::AlreadyClean,
                rows_in: n(2),
                rows_out: n(3),
                rows_quarantined: n(4),
                by_rule: serde_json::from_str(&text(5)).unwrap_or_default(),
            });
        }
    }
    let started_at = now_micros();
    sql::execute(
        db,
        "INSERT INTO zw_clean_run (batch_id, table_name, status, rules_source, rules_hash, started_at) \
         VALUES ($1, $2, 'running', $3, $4, $5) ON CONFLICT (batch_id, table_name) DO UPDATE SET \
         status = 'running', rules_source = excluded.rules_source, rules_hash = excluded.rules_hash, \
         error = NULL, started_at = excluded.started_at, finished_at = NULL"
            .into(),
        vec![
            batch_id.into(),
            table.into(),
            rules.source.as_str().into(),
            rules.fingerprint.as_str().into(),
            started_at.into(),
        ],
    )
    .await
    .map_err(err)?;

    prepare_dwd(db, rules, batch_id).await.map_err(err)?;
    let mut lookups = Vec::with_capacity(rules.lookups.len());
    for l in &rules.lookups {
        lookups.push(
            load_lookup(db, l)
                .await
                .map_err(|e| format!("{table}: {e}"))?,
        );
    }

    let ods = ods_table(table);
    let chunk = job.chunk_rows.max(1);

    // Pass 1: the cleaned keys, to find duplicates within the batch (the
    // highest line of a key wins).
    let key_cols: Vec<usize> = rules.key_index.clone();
    let key_select: Vec<String> = key_cols
        .iter()
        .map(|&i| ident(&rules.columns[i].name))
        .collect();
    let self_refs: Vec<usize> = rules
        .lookups
        .iter()
        .enumerate()
        .filter(|(_, l)| {
            matches!(l, Lookup::Ref { table: t, column } if t == table && rules.key.len() == 1 && *column == rules.key[0])
        })
        .map(|(i, _)| i)
        .collect();
    let mut winners: HashMap<u128, i64> = HashMap::new();
    let mut losers: HashMap<i64, i64> = HashMap::new();
    let mut batch_keys: HashSet<String> = HashSet::new();
    {
        let cleaner = Cleaner {
            rules,
            lookups: &lookups,
        };
        let mut raw_row: Vec<Option<String>> = vec![None; rules.columns.len()];
        let mut after = 0i64;
        loop {
            let rows = sql::fetch_lines(
                db,
                format!(
                    "SELECT \"_line\", {} FROM {} WHERE \"_batch_id\" = $1 AND \"_line\" > $2 ORDER BY \"_line\" LIMIT {chunk}",
                    key_select.join(", "),
                    ident(&ods)
                ),
                vec![batch_id.into(), after.into()],
            )
            .await
            .map_err(err)?;
            let Some(last) = rows.last() else { break };
            after = last.0;
            for (line, vals) in rows {
                for (slot, v) in key_cols.iter().zip(vals) {
                    raw_row[*slot] = v;
                }
                let Ok(cleaned) = cleaner.row(&raw_row, &key_cols, true) else {
                    continue;
                };
                let refs: Vec<&Val> = cleaned.iter().collect();
                let Some((text, hash)) = key_of(&refs) else {
                    continue;
                };
                if !self_refs.is_empty() {
                    batch_keys.insert(text);
                }
                if let Some(previous) = winners.insert(hash, line) {
                    losers.insert(previous, line);
                }
            }
        }
    }
    for &i in &self_refs {
        if let LookupData::Set {
            values, missing, ..
        } = &mut lookups[i]
        {
            values.extend(batch_keys.drain());
            *missing = false;
        }
    }
    drop(winners);

    // Pass 2, in one transaction.
    let mut tx = Tx::begin(db).await.map_err(err)?;
    if tx.backend() == Backend::Postgres {
        // One clean of a DWD table at a time, across hosts.
        tx.count(
            "SELECT count(*) FROM (SELECT pg_advisory_xact_lock(hashtext($1))) l".into(),
            vec![format!("zhiyun.clean.{table}").as_str().into()],
        )
        .await
        .map_err(err)?;
    }
    let dwd = dwd_table(table);
    // A re-run (rules changed, or forced) replaces what this batch wrote.
    tx.execute(
        format!("DELETE FROM {} WHERE \"_batch_id\" = $1", ident(&dwd)),
        vec![batch_id.into()],
    )
    .await
    .map_err(err)?;
    tx.execute(
        "DELETE FROM zw_quarantine WHERE layer = 'dwd' AND batch_id = $1 AND table_name = $2"
            .into(),
        vec![batch_id.into(), table.into()],
    )
    .await
    .map_err(err)?;
    // Keys a later batch already wrote: this batch's rows for them lose.
    let mut newer: HashMap<u128, String> = HashMap::new();
    let later = tx
        .count(
            "SELECT count(*) FROM zw_batch WHERE first_seen_at > $1".into(),
            vec![job.batch_seq.into()],
        )
        .await
        .map_err(err)?;
    if later > 0 {
        let cols: Vec<String> = rules
            .key
            .iter()
            .map(|k| format!("CAST({} AS TEXT)", ident(k)))
            .collect();
        let rows = tx
            .fetch_texts(
                format!(
                    "SELECT d.\"_batch_id\", {} FROM {} d WHERE d.\"_batch_id\" IN \
                     (SELECT batch_id FROM zw_batch WHERE first_seen_at > $1)",
                    cols.join(", "),
                    ident(&dwd)
                ),
                vec![job.batch_seq.into()],
            )
            .await
            .map_err(err)?;
        for row in rows {
            let mut it = row.into_iter();
            let holder = it.next().flatten().unwrap_or_default();
            let vals: Vec<Val> = it.map(|v| v.map_or(Val::Null, Val::Text)).collect();
            let refs: Vec<&Val> = vals.iter().collect();
            if let Some((_, hash)) = key_of(&refs) {
                newer.insert(hash, holder);
            }
        }
    }

    // The reader streams the batch's ODS rows in line order, a chunk ahead.
    let all_cols: Vec<String> = rules.columns.iter().map(|c| ident(&c.name)).collect();
    // SQLite builds each row as one JSON array (within its limit on
    // function arguments); PostgreSQL decodes column by column.
    let as_json = db.backend() == Backend::Sqlite && all_cols.len() <= 100;
    let read_sql = format!(
        "SELECT \"_line\", {} FROM {} WHERE \"_batch_id\" = $1 AND \"_line\" > $2 ORDER BY \"_line\" LIMIT {chunk}",
        if as_json {
            format!("json_array({})", all_cols.join(", "))
        } else {
            all_cols.join(", ")
        },
        ident(&ods)
    );
    let (tx_rows, mut rx_rows) =
        mpsc::channel::<Result<Vec<(i64, Vec<Option<String>>)>, String>>(3);
    let reader = {
        let db = db.clone();
        let batch_id = batch_id.to_owned();
        tokio::spawn(async move {
            let mut after = 0i64;
            loop {
                let binds = vec![batch_id.as_str().into(), after.into()];
                let rows = if as_json {
                    sql::fetch_lines_json(&db, read_sql.clone(), binds).await
                } else {
                    sql::fetch_lines(&db, read_sql.clone(), binds).await
                };
                match rows {
                    Ok(rows) if rows.is_empty() => break,
                    Ok(rows) => {
                        after = rows.last().map_or(after, |r| r.0);
                        if tx_rows.send(Ok(rows)).await.is_err() {
                            break;
                        }
                    }
                    Err(e) => {
                        let _ = tx_rows.send(Err(e.to_string())).await;
                        break;
                    }
                }
            }
        })
    };

    let columns: Vec<String> = rules.columns.iter().map(|c| c.name.clone()).collect();
    let upsert = Upsert::new(tx.backend(), &dwd, &columns, &rules.key, job.batch_seq);
    let per_upsert = sql::rows_per_statement(tx.backend(), upsert.width);
    let full_upsert = upsert.sql(per_upsert);
    let per_quarantine = sql::rows_per_statement(tx.backend(), 7);
    let all_idx: Vec<usize> = (0..rules.columns.len()).collect();
    let integer: Vec<bool> = rules
        .columns
        .iter()
        .map(|c| sql_is_integer(c.kind))
        .collect();
    let cleaner = Cleaner {
        rules,
        lookups: &lookups,
    };
    let now = now_micros();
    let mut read = 0u64;
    let mut written = 0u64;
    let mut quarantined = 0u64;
    let mut by_rule: BTreeMap<String, u64> = BTreeMap::new();
    let mut out_rows = 0usize;
    let mut out_binds: Vec<Bind> = Vec::with_capacity(per_upsert * upsert.width);
    let mut q_rows = 0usize;
    let mut q_binds: Vec<Bind> = Vec::new();

    let result: Result<(), String> = async {
        while let Some(message) = rx_rows.recv().await {
            let rows = message.map_err(|e| format!("{table}: reading {ods}: {e}"))?;
            for (line, raw) in rows {
                read += 1;
                let outcome: Result<Vec<Val>, (&'static str, String)> = if let Some(winner) = losers.get(&line) {
                    Err(("dedupe", format!("duplicate of the same key in this batch; line {winner} is kept")))
                } else {
                    match cleaner.row(&raw, &all_idx, false) {
                        Err(failures) => {
                            let rule = failures[0].rule;
                            let reason: Vec<String> = failures.into_iter().map(|f| f.reason).collect();
                            Err((rule, reason.join("; ")))
                        }
                        Ok(vals) => {
                            let keys: Vec<&Val> = rules.key_index.iter().map(|&i| &vals[i]).collect();
                            match key_of(&keys) {
                                None => {
                                    let empty: Vec<&str> = rules
                                        .key_index
                                        .iter()
                                        .filter(|&&i| matches!(&vals[i], Val::Null) || vals[i] == Val::Text(String::new()))
                                        .map(|&i| rules.columns[i].name.as_str())
                                        .collect();
                                    Err(("key", format!("key column {} is empty", empty.join(", "))))
                                }
                                Some((text, hash)) => match newer.get(&hash) {
                                    Some(holder) => Err((
                                        "dedupe",
                                        format!("key {text} already holds the row of the later batch {holder}"),
                                    )),
                                    None => Ok(vals),
                                },
                            }
                        }
                    }
                };
                match outcome {
                    Ok(vals) => {
                        out_binds.push(batch_id.into());
                        out_binds.push(line.into());
                        for (v, int) in vals.into_iter().zip(&integer) {
                            out_binds.push(match (v, *int) {
                                (Val::Null, true) => Bind::Int(None),
                                (Val::Null, false) => Bind::Text(None),
                                (Val::Int(i), true) => Bind::Int(Some(i)),
                                (Val::Int(i), false) => Bind::Text(Some(i.to_string())),
                                (Val::Text(s), false) => Bind::Text(Some(s)),
                                (Val::Text(s), true) => Bind::Int(s.parse().ok()),
                            });
                        }
                        out_rows += 1;
                        if out_rows == per_upsert {
                            let n = tx
                                .execute(full_upsert.clone(), std::mem::take(&mut out_binds))
                                .await
                                .map_err(err)?;
                            check_written(table, n, out_rows)?;
                            written += n;
                            out_rows = 0;
                        }
                    }
                    Err((rule, reason)) => {
                        *by_rule.entry(rule.to_owned()).or_default() += 1;
                        q_binds.push(batch_id.into());
                        q_binds.push(table.into());
                        q_binds.push(line.into());
                        q_binds.push(rule.into());
                        q_binds.push(reason.as_str().into());
                        q_binds.push(Bind::Text(Some(raw_json(&rules.columns, &raw))));
                        q_binds.push(now.into());
                        q_rows += 1;
                        if q_rows == per_quarantine {
                            let n = tx
                                .execute(sql::quarantine_sql(tx.backend(), q_rows), std::mem::take(&mut q_binds))
                                .await
                                .map_err(err)?;
                            quarantined += n;
                            q_rows = 0;
                        }
                    }
                }
            }
        }
        if out_rows > 0 {
            let n = tx
                .execute(upsert.sql(out_rows), std::mem::take(&mut out_binds))
                .await
                .map_err(err)?;
            check_written(table, n, out_rows)?;
            written += n;
        }
        if q_rows > 0 {
            let n = tx
                .execute(sql::quarantine_sql(tx.backend(), q_rows), std::mem::take(&mut q_binds))
                .await
                .map_err(err)?;
            quarantined += n;
        }
        Ok(())
    }
    .await;
    drop(rx_rows);
    let _ = reader.await;
    result?;

    // The invariant, against the database, before anything commits.
    let in_ods = tx
        .count(
            format!(
                "SELECT count(*) FROM {} WHERE \"_batch_id\" = $1",
                ident(&ods)
            ),
            vec![batch_id.into()],
        )
        .await
        .map_err(err)? as u64;
    let in_dwd = tx
        .count(
            format!(
                "SELECT count(*) FROM {} WHERE \"_batch_id\" = $1",
                ident(&dwd)
            ),
            vec![batch_id.into()],
        )
        .await
        .map_err(err)? as u64;
    let in_quarantine = tx
        .count(
            "SELECT count(*) FROM zw_quarantine WHERE layer = 'dwd' AND batch_id = $1 AND table_name = $2".into(),
            vec![batch_id.into(), table.into()],
        )
        .await
        .map_err(err)? as u64;
    if in_ods != in_dwd + in_quarantine
        || read != in_ods
        || written != in_dwd
        || quarantined != in_quarantine
    {
        return Err(format!(
            "{table}: invariant broken, nothing of the table is kept: {in_ods} rows in {ods} for batch {batch_id} ≠ \
             {in_dwd} in {dwd} + {in_quarantine} quarantined (this run read {read}, wrote {written}, quarantined {quarantined})"
        ));
    }
    let by_rule_json = serde_json::to_string(&by_rule).unwrap_or_default();
    let finished = now_micros();
    tx.execute(
        "UPDATE zw_clean_run SET status = 'done', rows_in = $1, rows_out = $2, rows_quarantined = $3, \
         by_rule = $4, error = NULL, finished_at = $5, elapsed_ms = $6 WHERE batch_id = $7 AND table_name = $8"
            .into(),
        vec![
            (in_ods as i64).into(),
            (in_dwd as i64).into(),
            (in_quarantine as i64).into(),
            by_rule_json.as_str().into(),
            finished.into(),
            ((finished - started_at) / 1000).into(),
            batch_id.into(),
            table.into(),
        ],
    )
    .await
    .map_err(err)?;
    tx.commit().await.map_err(err)?;
    Ok(TableResult {
        status: CleanStatus::Cleaned,
        rows_in: in_ods,
        rows_out: in_dwd,
        rows_quarantined: in_quarantine,
        by_rule,
    })
}

fn check_written(table: &str, n: u64, sent: usize) -> Result<(), String> {
    if n as usize != sent {
        return Err(format!(
            "{table}: invariant broken, nothing of the table is kept: an upsert of {sent} rows wrote {n} \
             (a later batch wrote some of these keys meanwhile?)"
        ));
    }
    Ok(())
}

/// Records a failed run (after its transaction rolled back).
pub(crate) async fn record_failure(
    db: &Db,
    batch_id: &str,
    rules: &TableRules,
    error: &str,
    started: Instant,
) {
    let now = now_micros();
    let _ = sql::execute(
        db,
        "INSERT INTO zw_clean_run (batch_id, table_name, status, rules_source, rules_hash, error, started_at, finished_at, elapsed_ms) \
         VALUES ($1, $2, 'failed', $3, $4, $5, $6, $6, $7) ON CONFLICT (batch_id, table_name) DO UPDATE SET \
         status = 'failed', error = excluded.error, finished_at = excluded.finished_at, elapsed_ms = excluded.elapsed_ms"
            .into(),
        vec![
            batch_id.into(),
            rules.table.as_str().into(),
            rules.source.as_str().into(),
            rules.fingerprint.as_str().into(),
            error.into(),
            now.into(),
            (started.elapsed().as_millis() as i64).into(),
        ],
    )
    .await;
}
