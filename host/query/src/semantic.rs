//! The semantic layer (语义层): a [`SemanticQuery`] over a dataset compiled
//! to one SQL SELECT over the dataset's name.
//!
//! The compiled SQL names the dataset, not its table: it goes through the
//! same [`crate::guard::guard`] as an app's own SQL, which replaces the name
//! with the caller's row-filtered, column-masked view. So the two ways an
//! app reads data share one enforcement path, and the semantic layer itself
//! decides no access.
//!
//! Semantics (the same as the fixture provider's, `zhiyun_data`):
//!
//! - **With measures**: filtered, grouped by the dimensions (declared
//!   dimensions of the dataset), aggregated; columns are the dimensions then
//!   the measures; ascending dimension order unless ordered otherwise. With
//!   measures and no dimensions there is exactly one row even when nothing
//!   matched (sums null, counts 0). `sum` keeps the column's kind (money
//!   stays integer 分; the sum of a flag is a count), `count` is an integer,
//!   `min`/`max` keep the kind; a formula measure `a / b` is the ratio of two
//!   aggregations, a float, null when `b` is 0.
//! - **Without measures**: the filtered rows projected onto the requested
//!   columns (any column of the dataset), duplicates kept, in the order of
//!   the requested columns.
//! - Unknown datasets, dimensions, measures, filter and order fields are
//!   `not-found`, naming the field and listing what there is. Filter values
//!   must have the column's kind and the operator's count (`between` 2,
//!   `in-list` ≥ 1, others 1), else `invalid-input`. `like` is on text, with
//!   `\` as the escape character. Order takes output columns; nulls sort
//!   first in both directions.
//! - Values travel as parameters (`?1`, `?2`, …), never spliced into SQL.

use std::collections::BTreeMap;
use zhiyun_contract::{AppError, FilterOp, SemanticQuery, Value, ValueKind};
use zhiyun_models::project::{Agg, ColumnKind, DatasetDef, MeasureDef, parse_ratio};
use zhiyun_models::{Model, Project};

use crate::guard::Dialect;

/// A semantic query as SQL over the dataset name, with its parameters and
/// the kind of each output column.
#[derive(Debug, Clone, PartialEq)]
pub struct CompiledQuery {
    pub sql: String,
    pub params: Vec<Value>,
    pub columns: Vec<(String, ValueKind)>,
}

/// The value kind a model column reaches apps as.
pub fn value_kind(kind: ColumnKind) -> ValueKind {
    match kind {
        ColumnKind::Text => ValueKind::Text,
        ColumnKind::Int => ValueKind::Int,
        ColumnKind::Money => ValueKind::Money,
        ColumnKind::Bool => ValueKind::Boolean,
        ColumnKind::Date => ValueKind::Date,
        ColumnKind::Timestamp => ValueKind::Text,
        ColumnKind::Decimal => ValueKind::Decimal,
        ColumnKind::Float => ValueKind::Float,
    }
}

fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Compiles `q` for `dialect`.
pub fn compile(
    project: &Project,
    q: &SemanticQuery,
    dialect: Dialect,
    row_cap: u32,
) -> Result<CompiledQuery, AppError> {
    let Some((model, ds)) = project.dataset(&q.dataset) else {
        let names: Vec<&str> = project.datasets().map(|(_, d)| d.name.as_str()).collect();
        return Err(AppError::not_found(format!(
            "dataset `{}` not found; available datasets: {}",
            q.dataset,
            names.join(", ")
        )));
    };
    let column_names = || {
        model
            .columns
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let column_kind = |name: &str| model.column(name).map(|c| c.kind);

    let mut select: Vec<String> = Vec::new();
    let mut columns: Vec<(String, ValueKind)> = Vec::new();
    let grouped = !q.measures.is_empty();
    for d in &q.dimensions {
        if grouped && !ds.dimensions.contains(d) {
            return Err(AppError::not_found(format!(
                "`{d}` is not a dimension of dataset `{}`; dimensions: {}",
                ds.name,
                ds.dimensions.join(", ")
            )));
        }
        let Some(kind) = column_kind(d) else {
            return Err(AppError::not_found(format!(
                "dataset `{}` has no column `{d}`; columns: {}",
                ds.name,
                column_names()
            )));
        };
        select.push(quote(d));
        columns.push((d.clone(), value_kind(kind)));
    }
    for m in &q.measures {
        let Some(def) = ds.measures.get(m) else {
            return Err(AppError::not_found(format!(
                "`{m}` is not a measure of dataset `{}`; measures: {}",
                ds.name,
                ds.measures.keys().cloned().collect::<Vec<_>>().join(", ")
            )));
        };
        let (expr, kind) = measure_sql(model, ds, def, dialect)?;
        select.push(format!("{expr} AS {}", quote(m)));
        columns.push((m.clone(), kind));
    }
    if select.is_empty() {
        return Err(AppError::invalid_input(format!(
            "a query of dataset `{}` needs at least one dimension or measure",
            ds.name
        )));
    }

    let mut params: Vec<Value> = Vec::new();
    let mut conditions: Vec<String> = Vec::new();
    for f in &q.filters {
        let Some(kind) = column_kind(&f.field) else {
            return Err(AppError::not_found(format!(
                "filter on `{}`: dataset `{}` has no such column; columns: {}",
                f.field,
                ds.name,
                column_names()
            )));
        };
        let expected = value_kind(kind);
        for v in &f.values {
            if v.kind() != expected && !matches!(v, Value::Null) {
                return Err(AppError::invalid_input(format!(
                    "filter on `{}`: the column holds {expected:?} values, got {:?}",
                    f.field,
                    v.kind()
                )));
            }
        }
        let count_ok = match f.op {
            FilterOp::Between => f.values.len() == 2,
            FilterOp::InList => !f.values.is_empty(),
            _ => f.values.len() == 1,
        };
        if !count_ok {
            return Err(AppError::invalid_input(format!(
                "filter on `{}`: {:?} takes {}, got {} value(s)",
                f.field,
                f.op,
                match f.op {
                    FilterOp::Between => "2 values",
                    FilterOp::InList => "at least 1 value",
                    _ => "1 value",
                },
                f.values.len()
            )));
        }
        if f.op == FilterOp::Like && expected != ValueKind::Text {
            return Err(AppError::invalid_input(format!(
                "filter on `{}`: like works on text columns",
                f.field
            )));
        }
        let col = quote(&f.field);
        let mut placeholder = |v: &Value| {
            params.push(v.clone());
            format!("?{}", params.len())
        };
        let condition = match f.op {
            FilterOp::Eq => format!("{col} = {}", placeholder(&f.values[0])),
            FilterOp::Ne => format!("{col} <> {}", placeholder(&f.values[0])),
            FilterOp::Lt => format!("{col} < {}", placeholder(&f.values[0])),
            FilterOp::Le => format!("{col} <= {}", placeholder(&f.values[0])),
            FilterOp::Gt => format!("{col} > {}", placeholder(&f.values[0])),
            FilterOp::Ge => format!("{col} >= {}", placeholder(&f.values[0])),
            FilterOp::Between => {
                let lo = placeholder(&f.values[0]);
                let hi = placeholder(&f.values[1]);
                format!("{col} BETWEEN {lo} AND {hi}")
            }
            FilterOp::InList => {
                let list: Vec<String> = f.values.iter().map(&mut placeholder).collect();
                format!("{col} IN ({})", list.join(", "))
            }
            FilterOp::Like => format!("{col} LIKE {} ESCAPE '\\'", placeholder(&f.values[0])),
        };
        conditions.push(condition);
    }

    let mut sql = format!("SELECT {} FROM {}", select.join(", "), quote(&ds.name));
    if !conditions.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&conditions.join(" AND "));
    }
    if grouped && !q.dimensions.is_empty() {
        let dims: Vec<String> = q.dimensions.iter().map(|d| quote(d)).collect();
        sql.push_str(" GROUP BY ");
        sql.push_str(&dims.join(", "));
    }
    let mut order: Vec<String> = Vec::new();
    for o in &q.order {
        if !columns.iter().any(|(n, _)| *n == o.field) {
            return Err(AppError::not_found(format!(
                "order by `{}`: not a column of the result; columns: {}",
                o.field,
                columns
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        order.push(format!(
            "{} {} NULLS FIRST",
            quote(&o.field),
            if o.descending { "DESC" } else { "ASC" }
        ));
    }
    // Then the dimensions, so that results are deterministic.
    for d in &q.dimensions {
        if !q.order.iter().any(|o| o.field == *d) {
            order.push(format!("{} ASC NULLS FIRST", quote(d)));
        }
    }
    if !order.is_empty() {
        sql.push_str(" ORDER BY ");
        sql.push_str(&order.join(", "));
    }
    // A limit at or below the cap truncates; above it (or none) the cap is
    // enforced by the executor, which refuses rather than truncates.
    if let Some(limit) = q.limit.filter(|l| *l <= row_cap) {
        sql.push_str(&format!(" LIMIT {limit}"));
    }
    Ok(CompiledQuery {
        sql,
        params,
        columns,
    })
}

fn measure_sql(
    model: &Model,
    ds: &DatasetDef,
    def: &MeasureDef,
    dialect: Dialect,
) -> Result<(String, ValueKind), AppError> {
    if let Some(formula) = &def.formula {
        let (a, b) = parse_ratio(formula)
            .ok_or_else(|| AppError::internal(format!("formula `{formula}` is malformed")))?;
        let part = |name: &str| {
            ds.measures
                .get(name)
                .ok_or_else(|| AppError::internal(format!("formula names unknown `{name}`")))
                .and_then(|d| measure_sql(model, ds, d, dialect))
                .map(|(sql, _)| sql)
        };
        let float = match dialect {
            Dialect::Sqlite => "REAL",
            Dialect::Postgres => "DOUBLE PRECISION",
        };
        return Ok((
            format!(
                "CAST({} AS {float}) / NULLIF(CAST({} AS {float}), 0)",
                part(a)?,
                part(b)?
            ),
            ValueKind::Float,
        ));
    }
    let agg = def
        .agg
        .ok_or_else(|| AppError::internal("a measure without agg or formula"))?;
    let column = def.column.as_deref();
    let kind = column
        .and_then(|c| model.column(c))
        .map(|c| c.kind)
        .unwrap_or(ColumnKind::Int);
    Ok(match (agg, column) {
        (Agg::Count, None) => ("COUNT(*)".to_string(), ValueKind::Int),
        (Agg::Count, Some(c)) => (format!("COUNT({})", quote(c)), ValueKind::Int),
        (Agg::Sum, Some(c)) => (
            format!("SUM({})", quote(c)),
            match kind {
                ColumnKind::Bool => ValueKind::Int,
                k => value_kind(k),
            },
        ),
        (Agg::Min, Some(c)) => (format!("MIN({})", quote(c)), value_kind(kind)),
        (Agg::Max, Some(c)) => (format!("MAX({})", quote(c)), value_kind(kind)),
        (_, None) => return Err(AppError::internal("a measure without its column")),
    })
}

/// The kind of every column of the datasets in `project`, by dataset.
pub fn dataset_kinds(project: &Project) -> BTreeMap<String, BTreeMap<String, ValueKind>> {
    project
        .datasets()
        .map(|(m, d)| {
            (
                d.name.clone(),
                m.columns
                    .iter()
                    .map(|c| (c.name.clone(), value_kind(c.kind)))
                    .collect(),
            )
        })
        .collect()
}
