//! Column lineage (字段级血缘) across the model project, from an ADS metric
//! down to the ODS column and the batches it came from.
//!
//! Each model's SQL is parsed with `zhiyun-lineage` (sqlparser): for every
//! output column, its input columns and the edge kind (identity,
//! transformation, aggregation) and the query's indirect edges (joins,
//! filters, group-bys, windows). Nothing is hand-written: `*` is expanded
//! from the declared columns of the models it reads and from the warehouse's
//! columns of the DWD tables. A model whose SQL yields other columns than
//! it declares is an error.
//!
//! Below the models, a DWD column comes from the ODS column of the same
//! name (cleaned: a transformation), and the ODS table from the batches
//! whose rows it holds. Reconciliation results (回流验证, `zw_reconcile`) of
//! those batches propagate up: a model column fed, directly or through
//! other models, by a source table whose reconciliation did not match is
//! **flagged**, with the batch, the table and what the reconciliation found.

use crate::project::{Model, Project};
use crate::template;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use zhiyun_lineage::{ColumnRef, Dialect, EdgeKind, IndirectKind, QueryLineage};
use zhiyun_store::Backend;
use zhiyun_warehouse::{Db, on_db};

#[derive(Debug, thiserror::Error)]
pub enum LineageError {
    #[error("model `{model}`: {message}")]
    Model { model: String, message: String },
    #[error("warehouse: {0}")]
    Db(#[from] sqlx::Error),
}

/// The parsed lineage of every model, and the columns of the DWD tables
/// they read.
#[derive(Debug, Clone, Serialize)]
pub struct ProjectLineage {
    pub models: BTreeMap<String, QueryLineage>,
    /// Source (DWD) table → its columns, as the warehouse has them.
    pub sources: BTreeMap<String, Vec<String>>,
}

/// Parses every model's SQL (rendered as for `backend`) against the
/// declared columns of the models it reads and the warehouse's columns of
/// its sources, and checks each model yields exactly its declared columns.
pub async fn project_lineage(db: &Db, project: &Project) -> Result<ProjectLineage, LineageError> {
    let mut sources: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for model in project.in_order() {
        for s in &model.sources {
            if !sources.contains_key(s) {
                let mut cols = db.table_columns(s).await?;
                cols.retain(|c| !c.starts_with('_'));
                sources.insert(s.clone(), cols);
            }
        }
    }
    let models = models_lineage(project, &sources, db.backend())?;
    Ok(ProjectLineage { models, sources })
}

/// [`project_lineage`] without a database: the sources' columns given.
pub fn models_lineage(
    project: &Project,
    sources: &BTreeMap<String, Vec<String>>,
    backend: Backend,
) -> Result<BTreeMap<String, QueryLineage>, LineageError> {
    let mut schema: BTreeMap<String, Vec<String>> = sources.clone();
    for m in project.in_order() {
        schema.insert(
            m.name.clone(),
            m.columns.iter().map(|c| c.name.clone()).collect(),
        );
    }
    let dialect = match backend {
        Backend::Sqlite => Dialect::Sqlite,
        Backend::Postgres => Dialect::Postgres,
    };
    let mut out = BTreeMap::new();
    for model in project.in_order() {
        out.insert(
            model.name.clone(),
            model_lineage(model, &schema, backend, dialect)?,
        );
    }
    Ok(out)
}

fn model_lineage(
    model: &Model,
    schema: &BTreeMap<String, Vec<String>>,
    backend: Backend,
    dialect: Dialect,
) -> Result<QueryLineage, LineageError> {
    let err = |message: String| LineageError::Model {
        model: model.name.clone(),
        message,
    };
    for input in model.inputs() {
        if !schema.contains_key(input) {
            return Err(err(format!(
                "input `{input}` is not in the warehouse (has it been loaded and cleaned?)"
            )));
        }
    }
    let sql = template::render(&model.sql, backend, None).map_err(&err)?;
    let lineage = zhiyun_lineage::lineage(&sql, dialect, schema)
        .map_err(|e| err(format!("{}: {e}", model.sql_path.display())))?;
    let yielded: Vec<&str> = lineage.columns.iter().map(|c| c.name.as_str()).collect();
    let declared: Vec<&str> = model.columns.iter().map(|c| c.name.as_str()).collect();
    let missing: Vec<&str> = declared
        .iter()
        .filter(|d| !yielded.contains(d))
        .copied()
        .collect();
    let extra: Vec<&str> = yielded
        .iter()
        .filter(|y| !declared.contains(y))
        .copied()
        .collect();
    if !missing.is_empty() || !extra.is_empty() {
        return Err(err(format!(
            "the SQL yields other columns than the model declares (declared but not yielded: [{}]; yielded but not declared: [{}])",
            missing.join(", "),
            extra.join(", ")
        )));
    }
    Ok(lineage)
}

/// One source column a model column depends on, with the strongest edge
/// kind along the way and the models the path goes through.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceColumn {
    pub column: ColumnRef,
    /// `direct`: the value is computed from it (with the strongest kind on
    /// the path); otherwise it is an indirect input (a join key, a filter…).
    pub direct: Option<EdgeKind>,
    pub indirect: BTreeSet<IndirectKind>,
}

/// A model column's lineage down to the DWD and ODS columns, with the
/// batches and the reconciliation flags.
#[derive(Debug, Clone, Serialize)]
pub struct ColumnTrace {
    pub model: String,
    pub column: String,
    /// Every edge between two columns on the way, model by model (from
    /// this column down), for drawing the graph.
    pub edges: Vec<TraceEdge>,
    /// The DWD columns at the bottom of the models.
    pub sources: Vec<SourceColumn>,
    /// DWD column → ODS column (cleaning keeps the name).
    pub ods: Vec<(ColumnRef, ColumnRef)>,
    /// The batches whose rows the source tables hold, per table.
    pub batches: BTreeMap<String, Vec<String>>,
    /// Reconciliation problems of those batches and tables; empty: the
    /// column is not flagged.
    pub flags: Vec<Flag>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TraceEdge {
    pub from: ColumnRef,
    pub to: ColumnRef,
    /// `identity`, `transformation`, `aggregation`, or an indirect kind
    /// (`join`, `filter`, `group_by`, `window`, `sort`, `conditional`).
    pub kind: String,
}

/// A source table whose reconciliation did not match.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Flag {
    pub batch_id: String,
    pub table: String,
    pub status: String,
    pub summary: String,
}

fn kind_name<T: Serialize>(k: &T) -> String {
    serde_json::to_value(k)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default()
}

/// Traces `model.column` down through the models to the DWD columns, then
/// to ODS and the batches, and flags it if a source's reconciliation failed.
pub async fn trace(
    db: &Db,
    project: &Project,
    lineage: &ProjectLineage,
    model: &str,
    column: &str,
) -> Result<ColumnTrace, LineageError> {
    let Some(m) = project.model(model) else {
        return Err(LineageError::Model {
            model: model.to_string(),
            message: "no such model".into(),
        });
    };
    if m.column(column).is_none() {
        return Err(LineageError::Model {
            model: model.to_string(),
            message: format!("no column `{column}`"),
        });
    }
    let mut edges = Vec::new();
    let mut sources: BTreeMap<ColumnRef, SourceColumn> = BTreeMap::new();
    // (column, strongest direct kind so far or None if reached indirectly)
    let mut todo: Vec<(ColumnRef, Option<EdgeKind>, BTreeSet<IndirectKind>)> = vec![(
        ColumnRef::new(model, column),
        Some(EdgeKind::Identity),
        BTreeSet::new(),
    )];
    let mut seen: BTreeSet<(ColumnRef, Option<EdgeKind>)> = BTreeSet::new();
    while let Some((col, kind, via)) = todo.pop() {
        if !seen.insert((col.clone(), kind)) {
            continue;
        }
        let Some(q) = lineage.models.get(&col.table) else {
            // A source column: the bottom of the models.
            let entry = sources.entry(col.clone()).or_insert(SourceColumn {
                column: col.clone(),
                direct: None,
                indirect: BTreeSet::new(),
            });
            if let Some(k) = kind {
                entry.direct = Some(entry.direct.map_or(k, |d| d.max(k)));
            }
            entry.indirect.extend(via);
            continue;
        };
        let Some(out) = q.column(&col.column) else {
            continue;
        };
        for e in &out.direct {
            edges.push(TraceEdge {
                from: e.from.clone(),
                to: col.clone(),
                kind: kind_name(&e.kind),
            });
            todo.push((e.from.clone(), kind.map(|k| k.max(e.kind)), via.clone()));
        }
        // Indirect edges (this column's and the query's) lead to columns
        // that decide which rows or groups there are.
        for e in out.indirect.iter().chain(q.indirect.iter()) {
            edges.push(TraceEdge {
                from: e.from.clone(),
                to: col.clone(),
                kind: kind_name(&e.kind),
            });
            let mut v = via.clone();
            v.insert(e.kind);
            todo.push((e.from.clone(), None, v));
        }
    }
    edges.sort_by(|a, b| (&a.to, &a.from, &a.kind).cmp(&(&b.to, &b.from, &b.kind)));
    edges.dedup();
    let sources: Vec<SourceColumn> = sources.into_values().collect();
    let tables: BTreeSet<&str> = sources.iter().map(|s| s.column.table.as_str()).collect();
    let ods = sources
        .iter()
        .filter_map(|s| {
            s.column.table.strip_prefix("dwd_").map(|t| {
                (
                    s.column.clone(),
                    ColumnRef::new(format!("ods_{t}"), &s.column.column),
                )
            })
        })
        .collect();
    let mut batches = BTreeMap::new();
    let mut flags = Vec::new();
    for table in tables {
        let ids = batches_of(db, table).await?;
        let source_table = table.strip_prefix("dwd_").unwrap_or(table);
        for batch in &ids {
            if let Some(flag) = reconciliation_flag(db, batch, source_table).await? {
                flags.push(flag);
            }
        }
        batches.insert(table.to_string(), ids);
    }
    Ok(ColumnTrace {
        model: model.to_string(),
        column: column.to_string(),
        edges,
        sources,
        ods,
        batches,
        flags,
    })
}

/// The batches whose rows `table` holds (a DWD table records its rows'
/// batch in `_batch_id`).
async fn batches_of(db: &Db, table: &str) -> Result<Vec<String>, sqlx::Error> {
    if !db
        .table_columns(table)
        .await?
        .iter()
        .any(|c| c == "_batch_id")
    {
        return Ok(Vec::new());
    }
    let sql = format!("SELECT DISTINCT \"_batch_id\" FROM \"{table}\" ORDER BY 1");
    on_db!(db, |pool| sqlx::query_scalar::<_, String>(
        sqlx::AssertSqlSafe(sql.as_str())
    )
    .fetch_all(pool)
    .await)
}

async fn reconciliation_flag(
    db: &Db,
    batch: &str,
    table: &str,
) -> Result<Option<Flag>, sqlx::Error> {
    if !db.table_exists("zw_reconcile").await? {
        return Ok(None);
    }
    let row: Option<(String, String)> = on_db!(db, |pool| sqlx::query_as(
        "SELECT status, report FROM zw_reconcile WHERE batch_id = $1 AND table_name = $2"
    )
    .bind(batch)
    .bind(table)
    .fetch_optional(pool)
    .await)?;
    Ok(row.and_then(|(status, report)| {
        (status != "match").then(|| Flag {
            batch_id: batch.to_string(),
            table: table.to_string(),
            summary: summarize_report(&report),
            status,
        })
    }))
}

/// The findings of a stored reconciliation report (its `findings` list
/// joined), else the text cut short.
fn summarize_report(report: &str) -> String {
    serde_json::from_str::<serde_json::Value>(report)
        .ok()
        .and_then(|v| {
            v.get("findings").and_then(|f| f.as_array()).map(|items| {
                items
                    .iter()
                    .filter_map(|i| i.as_str())
                    .collect::<Vec<_>>()
                    .join("; ")
            })
        })
        .unwrap_or_else(|| report.chars().take(300).collect())
}

/// Every model column with reconciliation flags: (model, column, flags).
pub async fn flagged_columns(
    db: &Db,
    project: &Project,
    lineage: &ProjectLineage,
) -> Result<Vec<(String, String, Vec<Flag>)>, LineageError> {
    let mut out = Vec::new();
    for m in project.in_order() {
        for c in &m.columns {
            let t = trace(db, project, lineage, &m.name, &c.name).await?;
            if !t.flags.is_empty() {
                out.push((m.name.clone(), c.name.clone(), t.flags));
            }
        }
    }
    Ok(out)
}
