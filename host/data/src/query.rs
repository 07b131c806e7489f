//! Semantic-query execution over a [`Dataset`].

use crate::dataset::{Aggregation, Cell, Dataset, kind_name};
use std::cmp::Ordering;
use std::collections::{BTreeMap, HashSet};
use zhiyun_contract::{
    AppError, ColumnMeta, DataTable, Filter, FilterOp, SemanticQuery, ValueKind,
};

fn list<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    let v: Vec<&str> = names.into_iter().collect();
    if v.is_empty() {
        "(none)".into()
    } else {
        v.join(", ")
    }
}

fn op_name(op: FilterOp) -> &'static str {
    match op {
        FilterOp::Eq => "eq",
        FilterOp::Ne => "ne",
        FilterOp::Lt => "lt",
        FilterOp::Le => "le",
        FilterOp::Gt => "gt",
        FilterOp::Ge => "ge",
        FilterOp::InList => "in-list",
        FilterOp::Between => "between",
        FilterOp::Like => "like",
    }
}

/// A filter resolved against the dataset.
struct Compiled {
    column: usize,
    op: FilterOp,
    values: Vec<Cell>,
    like: Option<Vec<LikeToken>>,
}

impl Compiled {
    fn matches(&self, row: &[Cell]) -> bool {
        let cell = &row[self.column];
        if cell.is_null() {
            // SQL semantics: a comparison with NULL is never true.
            return false;
        }
        let v = &self.values;
        match self.op {
            FilterOp::Eq => cell == &v[0],
            FilterOp::Ne => cell != &v[0],
            FilterOp::Lt => cell < &v[0],
            FilterOp::Le => cell <= &v[0],
            FilterOp::Gt => cell > &v[0],
            FilterOp::Ge => cell >= &v[0],
            FilterOp::InList => v.contains(cell),
            FilterOp::Between => cell >= &v[0] && cell <= &v[1],
            FilterOp::Like => match (cell, &self.like) {
                (Cell::Text(s), Some(p)) => like_match(p, s),
                _ => false,
            },
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum LikeToken {
    Char(char),
    /// `_`
    One,
    /// `%`
    Any,
}

/// `%` any run, `_` one character, `\` escapes the next character.
fn compile_like(pattern: &str) -> Vec<LikeToken> {
    let mut out = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        out.push(match c {
            '%' => {
                if out.last() == Some(&LikeToken::Any) {
                    continue;
                }
                LikeToken::Any
            }
            '_' => LikeToken::One,
            '\\' => LikeToken::Char(chars.next().unwrap_or('\\')),
            c => LikeToken::Char(c),
        });
    }
    out
}

/// Iterative wildcard match with single backtracking point (linear-ish, no
/// exponential blow-up).
fn like_match(pattern: &[LikeToken], text: &str) -> bool {
    let text: Vec<char> = text.chars().collect();
    let (mut p, mut t) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(LikeToken::Any) => {
                star = Some((p, t));
                p += 1;
            }
            Some(LikeToken::One) => {
                p += 1;
                t += 1;
            }
            Some(LikeToken::Char(c)) if *c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|x| *x == LikeToken::Any)
}

fn compile_filter(ds: &Dataset, f: &Filter) -> Result<Compiled, AppError> {
    let Some(column) = ds.column_index(&f.field) else {
        return Err(AppError::not_found(format!(
            "dataset `{}` has no column `{}` to filter on; available columns: {}",
            ds.name(),
            f.field,
            list(ds.columns().iter().map(|c| c.name.as_str()))
        )));
    };
    let kind = ds.columns()[column].kind;
    let op = op_name(f.op);
    let n = f.values.len();
    let count_ok = match f.op {
        FilterOp::Between => n == 2,
        FilterOp::InList => n >= 1,
        _ => n == 1,
    };
    if !count_ok {
        let want = match f.op {
            FilterOp::Between => "exactly 2 values (low and high)",
            FilterOp::InList => "at least 1 value",
            _ => "exactly 1 value",
        };
        return Err(AppError::invalid_input(format!(
            "filter `{} {op}` needs {want}, got {n}",
            f.field
        )));
    }
    if f.op == FilterOp::Like && kind != ValueKind::Text {
        return Err(AppError::invalid_input(format!(
            "filter `{} like` works on text columns; `{}` is {}",
            f.field,
            f.field,
            kind_name(kind)
        )));
    }
    for (i, v) in f.values.iter().enumerate() {
        if v.kind() != kind {
            let what = if v.kind() == ValueKind::Null {
                "null, which a filter cannot compare with".to_string()
            } else {
                format!("{} {:?}", kind_name(v.kind()), v.to_text())
            };
            return Err(AppError::invalid_input(format!(
                "filter `{} {op}`: value {} is {what}; column `{}` holds {} values",
                f.field,
                i + 1,
                f.field,
                kind_name(kind)
            )));
        }
    }
    let values: Vec<Cell> = f.values.iter().map(Cell::from_value).collect();
    let like = match (&f.op, &values[..]) {
        (FilterOp::Like, [Cell::Text(p)]) => Some(compile_like(p)),
        _ => None,
    };
    Ok(Compiled {
        column,
        op: f.op,
        values,
        like,
    })
}

/// An aggregate being accumulated.
#[derive(Clone)]
enum Acc {
    SumInt(Option<i64>),
    SumMoney(Option<i64>),
    SumFloat(Option<f64>),
    Count(i64),
    Min(Option<Cell>),
    Max(Option<Cell>),
}

struct MeasurePlan<'a> {
    name: &'a str,
    agg: Aggregation,
    column: Option<usize>,
    kind: ValueKind,
}

impl MeasurePlan<'_> {
    fn start(&self) -> Acc {
        match (self.agg, self.kind) {
            (Aggregation::Sum, ValueKind::Money) => Acc::SumMoney(None),
            (Aggregation::Sum, ValueKind::Float) => Acc::SumFloat(None),
            (Aggregation::Sum, _) => Acc::SumInt(None),
            (Aggregation::Count, _) => Acc::Count(0),
            (Aggregation::Min, _) => Acc::Min(None),
            (Aggregation::Max, _) => Acc::Max(None),
        }
    }

    fn add(&self, acc: &mut Acc, row: &[Cell], dataset: &str) -> Result<(), AppError> {
        let cell = self.column.map(|c| &row[c]);
        let overflow = || {
            AppError::quota_exceeded(format!(
                "the sum of measure `{}` in dataset `{dataset}` overflows a 64-bit integer; filter or group the query more finely",
                self.name
            ))
        };
        match (acc, cell) {
            (Acc::Count(n), None) => *n += 1,
            (Acc::Count(n), Some(c)) if !c.is_null() => *n += 1,
            (Acc::SumInt(s), Some(Cell::Int(v))) | (Acc::SumMoney(s), Some(Cell::Money(v))) => {
                *s = Some(s.unwrap_or(0).checked_add(*v).ok_or_else(overflow)?);
            }
            // A flag sums as a count of the rows where it is set.
            (Acc::SumInt(s), Some(Cell::Boolean(b))) => {
                *s = Some(
                    s.unwrap_or(0)
                        .checked_add(i64::from(*b))
                        .ok_or_else(overflow)?,
                );
            }
            (Acc::SumFloat(s), Some(Cell::Float(v))) => *s = Some(s.unwrap_or(0.0) + v),
            (Acc::Min(m), Some(c)) if !c.is_null() && m.as_ref().is_none_or(|cur| c < cur) => {
                *m = Some(c.clone());
            }
            (Acc::Max(m), Some(c)) if !c.is_null() && m.as_ref().is_none_or(|cur| c > cur) => {
                *m = Some(c.clone());
            }
            _ => {} // nulls
        }
        Ok(())
    }

    fn output_kind(&self) -> ValueKind {
        match (self.agg, self.kind) {
            (Aggregation::Count, _) | (Aggregation::Sum, ValueKind::Boolean) => ValueKind::Int,
            _ => self.kind,
        }
    }
}

fn finish(acc: &Acc) -> Cell {
    match acc {
        Acc::SumInt(s) => s.map_or(Cell::Null, Cell::Int),
        Acc::SumMoney(s) => s.map_or(Cell::Null, Cell::Money),
        Acc::SumFloat(s) => s.map_or(Cell::Null, Cell::Float),
        Acc::Count(n) => Cell::Int(*n),
        Acc::Min(c) | Acc::Max(c) => c.clone().unwrap_or(Cell::Null),
    }
}

/// Compares with nulls first in either direction.
fn cmp_nulls_first(a: &Cell, b: &Cell, descending: bool) -> Ordering {
    match (a.is_null(), b.is_null()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        _ if descending => b.cmp(a),
        _ => a.cmp(b),
    }
}

/// Runs `q` over `ds`, returning at most `cap` rows (see the crate docs for
/// the semantics).
pub(crate) fn execute(ds: &Dataset, q: &SemanticQuery, cap: usize) -> Result<DataTable, AppError> {
    if q.dimensions.is_empty() && q.measures.is_empty() {
        return Err(AppError::invalid_input(format!(
            "a query on `{}` needs at least one dimension or measure",
            ds.name()
        )));
    }
    let aggregate = !q.measures.is_empty();

    let mut seen = HashSet::new();
    for f in q.dimensions.iter().chain(&q.measures) {
        if !seen.insert(f.as_str()) {
            return Err(AppError::invalid_input(format!(
                "`{f}` appears twice in the query's dimensions and measures"
            )));
        }
    }

    // Dimensions: declared dimensions when aggregating; any column for raw reads.
    let mut dims = Vec::with_capacity(q.dimensions.len());
    for d in &q.dimensions {
        let idx = ds.column_index(d);
        match idx {
            Some(i) if !aggregate || ds.dimensions().iter().any(|x| x == d) => dims.push(i),
            _ if aggregate => {
                return Err(AppError::not_found(format!(
                    "dataset `{}` has no dimension `{d}`; available dimensions: {}",
                    ds.name(),
                    list(ds.dimensions().iter().map(String::as_str))
                )));
            }
            _ => {
                return Err(AppError::not_found(format!(
                    "dataset `{}` has no column `{d}`; available columns: {}",
                    ds.name(),
                    list(ds.columns().iter().map(|c| c.name.as_str()))
                )));
            }
        }
    }

    let mut plans = Vec::with_capacity(q.measures.len());
    for m in &q.measures {
        let Some(measure) = ds.measure(m) else {
            return Err(AppError::not_found(format!(
                "dataset `{}` has no measure `{m}`; available measures: {}",
                ds.name(),
                list(ds.measures().iter().map(|(n, _)| n.as_str()))
            )));
        };
        let column = measure.column.as_deref().map(|c| {
            ds.column_index(c)
                .expect("measure columns are checked when the dataset is defined")
        });
        plans.push(MeasurePlan {
            name: m,
            agg: measure.agg,
            column,
            kind: column.map_or(ValueKind::Int, |c| ds.columns()[c].kind),
        });
    }

    let filters = q
        .filters
        .iter()
        .map(|f| compile_filter(ds, f))
        .collect::<Result<Vec<_>, _>>()?;

    let mut columns: Vec<ColumnMeta> = dims.iter().map(|&i| ds.columns()[i].clone()).collect();
    columns.extend(plans.iter().map(|p| ColumnMeta {
        name: p.name.to_string(),
        kind: p.output_kind(),
    }));

    let mut order = Vec::with_capacity(q.order.len());
    for o in &q.order {
        let Some(i) = columns.iter().position(|c| c.name == o.field) else {
            return Err(AppError::not_found(format!(
                "cannot order by `{}`: it is not an output column of this query; output columns: {}",
                o.field,
                list(columns.iter().map(|c| c.name.as_str()))
            )));
        };
        order.push((i, o.descending));
    }

    let matching = (0..ds.row_count()).filter(|&i| {
        let row = ds.row_cells(i);
        filters.iter().all(|f| f.matches(row))
    });

    let mut rows: Vec<Vec<Cell>> = if aggregate {
        let mut groups: BTreeMap<Vec<Cell>, Vec<Acc>> = BTreeMap::new();
        let start: Vec<Acc> = plans.iter().map(MeasurePlan::start).collect();
        if dims.is_empty() {
            // One row even when nothing matches, as SQL does.
            groups.insert(Vec::new(), start.clone());
        }
        let mut key: Vec<Cell> = Vec::with_capacity(dims.len());
        for i in matching {
            let row = ds.row_cells(i);
            key.clear();
            key.extend(dims.iter().map(|&d| row[d].clone()));
            if !groups.contains_key(&key[..]) {
                groups.insert(key.clone(), start.clone());
            }
            let accs = groups.get_mut(&key[..]).expect("inserted above");
            for (plan, acc) in plans.iter().zip(accs.iter_mut()) {
                plan.add(acc, row, ds.name())?;
            }
        }
        groups
            .into_iter()
            .map(|(mut key, accs)| {
                key.extend(accs.iter().map(finish));
                key
            })
            .collect()
    } else {
        matching
            .map(|i| {
                let row = ds.row_cells(i);
                dims.iter().map(|&d| row[d].clone()).collect()
            })
            .collect()
    };

    if !order.is_empty() {
        rows.sort_by(|a, b| {
            order
                .iter()
                .map(|&(i, desc)| cmp_nulls_first(&a[i], &b[i], desc))
                .find(|o| o.is_ne())
                .unwrap_or(Ordering::Equal)
        });
    }

    match q.limit.map(|l| l as usize) {
        Some(limit) if limit <= cap => rows.truncate(limit),
        _ if rows.len() > cap => {
            return Err(AppError::quota_exceeded(format!(
                "the query on `{}` matched {} rows, more than the row cap of {cap}; add filters, aggregate with measures, or set a limit of at most {cap}",
                ds.name(),
                rows.len()
            )));
        }
        _ => {}
    }

    Ok(DataTable {
        columns,
        rows: rows
            .iter()
            .map(|r| r.iter().map(Cell::to_value).collect())
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_matches_sql_wildcards() {
        let m = |p: &str, t: &str| like_match(&compile_like(p), t);
        assert!(m("%", ""));
        assert!(m("城东%", "城东县供电公司"));
        assert!(!m("城东%", "城西县供电公司"));
        assert!(m("%供电所", "城东县城关供电所"));
        assert!(m("%城关%", "城东县城关供电所"));
        assert!(m("33_1", "3301"));
        assert!(!m("33_1", "33011"));
        assert!(m("3301__", "330101"));
        assert!(m("a%b%c", "aXXbYYc"));
        assert!(!m("a%b%c", "aXXbYY"));
        assert!(m("100\\%", "100%"));
        assert!(!m("100\\%", "1000"));
        assert!(m("a\\_b", "a_b"));
        assert!(!m("a\\_b", "axb"));
        assert!(m("%%%a", "bbba"));
        // No exponential blow-up.
        let long = "a".repeat(5000);
        assert!(!m("%a%a%a%a%a%a%b", &long));
    }
}
