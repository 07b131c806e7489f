//! An in-memory dataset: typed columns, declared dimensions and measures, and
//! rows stored compactly (row-major cells; text shares one allocation per
//! distinct value).

use crate::FixtureError;
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::collections::HashSet;
use std::sync::Arc;
use zhiyun_contract::{ColumnMeta, Date, Value, ValueKind};

/// How a measure aggregates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Aggregation {
    /// Sum of an int, money or float column (nulls skipped; null if all are).
    /// The sum of a boolean column (a flag) is the number of `true` rows, an
    /// int — as SQL sums a 0/1 flag.
    Sum,
    /// Number of rows; with a column, number of its non-null values.
    Count,
    /// Smallest non-null value.
    Min,
    /// Largest non-null value.
    Max,
}

impl Aggregation {
    pub fn as_str(self) -> &'static str {
        match self {
            Aggregation::Sum => "sum",
            Aggregation::Count => "count",
            Aggregation::Min => "min",
            Aggregation::Max => "max",
        }
    }
}

/// A measure: an aggregation over a column (`count` may have none).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Measure {
    pub agg: Aggregation,
    pub column: Option<String>,
}

impl Measure {
    pub fn sum(column: &str) -> Self {
        Self {
            agg: Aggregation::Sum,
            column: Some(column.to_string()),
        }
    }
    pub fn count() -> Self {
        Self {
            agg: Aggregation::Count,
            column: None,
        }
    }
    pub fn min(column: &str) -> Self {
        Self {
            agg: Aggregation::Min,
            column: Some(column.to_string()),
        }
    }
    pub fn max(column: &str) -> Self {
        Self {
            agg: Aggregation::Max,
            column: Some(column.to_string()),
        }
    }
}

/// One stored value. Like [`Value`], but text is shared (`Arc<str>`) and the
/// order is total, so cells can key a group-by.
#[derive(Debug, Clone)]
pub(crate) enum Cell {
    Null,
    Boolean(bool),
    Int(i64),
    Float(f64),
    Money(i64),
    Decimal(Arc<str>),
    Text(Arc<str>),
    Date(Date),
    Timestamp(i64),
}

impl Cell {
    pub(crate) fn is_null(&self) -> bool {
        matches!(self, Cell::Null)
    }

    pub(crate) fn kind(&self) -> ValueKind {
        match self {
            Cell::Null => ValueKind::Null,
            Cell::Boolean(_) => ValueKind::Boolean,
            Cell::Int(_) => ValueKind::Int,
            Cell::Float(_) => ValueKind::Float,
            Cell::Money(_) => ValueKind::Money,
            Cell::Decimal(_) => ValueKind::Decimal,
            Cell::Text(_) => ValueKind::Text,
            Cell::Date(_) => ValueKind::Date,
            Cell::Timestamp(_) => ValueKind::Timestamp,
        }
    }

    pub(crate) fn from_value(v: &Value) -> Cell {
        match v {
            Value::Null => Cell::Null,
            Value::Boolean(b) => Cell::Boolean(*b),
            Value::Int(i) => Cell::Int(*i),
            Value::Float(f) => Cell::Float(*f),
            Value::Money(m) => Cell::Money(*m),
            Value::Decimal(s) => Cell::Decimal(s.as_str().into()),
            Value::Text(s) => Cell::Text(s.as_str().into()),
            Value::Date(d) => Cell::Date(*d),
            Value::Timestamp(t) => Cell::Timestamp(*t),
        }
    }

    pub(crate) fn to_value(&self) -> Value {
        match self {
            Cell::Null => Value::Null,
            Cell::Boolean(b) => Value::Boolean(*b),
            Cell::Int(i) => Value::Int(*i),
            Cell::Float(f) => Value::Float(*f),
            Cell::Money(m) => Value::Money(*m),
            Cell::Decimal(s) => Value::Decimal(s.to_string()),
            Cell::Text(s) => Value::Text(s.to_string()),
            Cell::Date(d) => Value::Date(*d),
            Cell::Timestamp(t) => Value::Timestamp(*t),
        }
    }

    fn rank(&self) -> u8 {
        match self {
            Cell::Null => 0,
            Cell::Boolean(_) => 1,
            Cell::Int(_) => 2,
            Cell::Float(_) => 3,
            Cell::Money(_) => 4,
            Cell::Decimal(_) => 5,
            Cell::Text(_) => 6,
            Cell::Date(_) => 7,
            Cell::Timestamp(_) => 8,
        }
    }
}

/// Compares two decimal strings numerically (`-?digits(.digits)?`).
fn cmp_decimal(a: &str, b: &str) -> Ordering {
    let neg_a = a.starts_with('-');
    let neg_b = b.starts_with('-');
    let (a, b) = (
        a.trim_start_matches(['-', '+']),
        b.trim_start_matches(['-', '+']),
    );
    let magnitude = || {
        let (ai, af) = a.split_once('.').unwrap_or((a, ""));
        let (bi, bf) = b.split_once('.').unwrap_or((b, ""));
        let (ai, bi) = (ai.trim_start_matches('0'), bi.trim_start_matches('0'));
        ai.len()
            .cmp(&bi.len())
            .then_with(|| ai.cmp(bi))
            .then_with(|| {
                let (af, bf) = (af.trim_end_matches('0'), bf.trim_end_matches('0'));
                let n = af.len().max(bf.len());
                let pad = |s: &str| format!("{s:0<n$}");
                pad(af).cmp(&pad(bf))
            })
    };
    let zero = |s: &str| s.chars().all(|c| c == '0' || c == '.');
    match (neg_a && !zero(a), neg_b && !zero(b)) {
        (false, false) => magnitude(),
        (true, true) => magnitude().reverse(),
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
    }
}

impl Ord for Cell {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Cell::Null, Cell::Null) => Ordering::Equal,
            (Cell::Boolean(a), Cell::Boolean(b)) => a.cmp(b),
            (Cell::Int(a), Cell::Int(b))
            | (Cell::Money(a), Cell::Money(b))
            | (Cell::Timestamp(a), Cell::Timestamp(b)) => a.cmp(b),
            (Cell::Float(a), Cell::Float(b)) => a.total_cmp(b),
            (Cell::Decimal(a), Cell::Decimal(b)) => cmp_decimal(a, b),
            (Cell::Text(a), Cell::Text(b)) => a.cmp(b),
            (Cell::Date(a), Cell::Date(b)) => a.cmp(b),
            _ => self.rank().cmp(&other.rank()),
        }
    }
}

impl PartialOrd for Cell {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Cell {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Cell {}

/// A dataset (宽表) held in memory.
#[derive(Debug, Clone)]
pub struct Dataset {
    name: String,
    columns: Vec<ColumnMeta>,
    dimensions: Vec<String>,
    measures: Vec<(String, Measure)>,
    /// Row-major, `columns.len()` cells per row.
    cells: Vec<Cell>,
}

fn invalid(dataset: &str, message: String) -> FixtureError {
    FixtureError::Invalid {
        file: None,
        dataset: Some(dataset.to_string()),
        row: None,
        column: None,
        message,
    }
}

pub(crate) fn is_identifier(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl Dataset {
    /// Defines an empty dataset, checking the definition: identifier names,
    /// unique columns, dimensions and measure columns that exist, `sum` only
    /// over int, money, float or boolean, measure names distinct from
    /// dimensions.
    pub fn new(
        name: &str,
        columns: Vec<ColumnMeta>,
        dimensions: Vec<String>,
        measures: Vec<(String, Measure)>,
    ) -> Result<Dataset, FixtureError> {
        if !is_identifier(name) {
            return Err(invalid(
                name,
                format!("`{name}` is not a dataset name (letters, digits and `_`)"),
            ));
        }
        if columns.is_empty() {
            return Err(invalid(name, "a dataset needs at least one column".into()));
        }
        let mut seen = HashSet::new();
        for c in &columns {
            if !is_identifier(&c.name) {
                return Err(invalid(
                    name,
                    format!(
                        "`{}` is not a column name (letters, digits and `_`)",
                        c.name
                    ),
                ));
            }
            if !seen.insert(c.name.as_str()) {
                return Err(invalid(
                    name,
                    format!("column `{}` is defined twice", c.name),
                ));
            }
        }
        let column_names = || {
            columns
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut dims = HashSet::new();
        for d in &dimensions {
            if !seen.contains(d.as_str()) {
                return Err(invalid(
                    name,
                    format!(
                        "dimension `{d}` is not a column; columns: {}",
                        column_names()
                    ),
                ));
            }
            if !dims.insert(d.as_str()) {
                return Err(invalid(name, format!("dimension `{d}` is listed twice")));
            }
        }
        let mut measure_names = HashSet::new();
        for (m, measure) in &measures {
            if !is_identifier(m) {
                return Err(invalid(
                    name,
                    format!("`{m}` is not a measure name (letters, digits and `_`)"),
                ));
            }
            if !measure_names.insert(m.as_str()) {
                return Err(invalid(name, format!("measure `{m}` is defined twice")));
            }
            if dims.contains(m.as_str()) {
                return Err(invalid(
                    name,
                    format!("measure `{m}` has the name of a dimension"),
                ));
            }
            let kind = match &measure.column {
                None if measure.agg == Aggregation::Count => continue,
                None => {
                    return Err(invalid(
                        name,
                        format!("measure `{m}` ({}) needs a column", measure.agg.as_str()),
                    ));
                }
                Some(c) => match columns.iter().find(|col| &col.name == c) {
                    Some(col) => col.kind,
                    None => {
                        return Err(invalid(
                            name,
                            format!(
                                "measure `{m}` aggregates `{c}`, which is not a column; columns: {}",
                                column_names()
                            ),
                        ));
                    }
                },
            };
            if measure.agg == Aggregation::Sum
                && !matches!(
                    kind,
                    ValueKind::Int | ValueKind::Money | ValueKind::Float | ValueKind::Boolean
                )
            {
                return Err(invalid(
                    name,
                    format!(
                        "measure `{m}` sums a {} column; sum works on int, money, float and boolean columns",
                        kind_name(kind)
                    ),
                ));
            }
        }
        Ok(Dataset {
            name: name.to_string(),
            columns,
            dimensions,
            measures,
            cells: Vec::new(),
        })
    }

    /// Defines a dataset and adds rows (each checked like [`Dataset::push_row`]).
    pub fn with_rows(mut self, rows: Vec<Vec<Value>>) -> Result<Dataset, FixtureError> {
        self.cells.reserve(rows.len() * self.columns.len());
        for row in rows {
            self.push_row(&row)?;
        }
        Ok(self)
    }

    /// Adds a row: one value per column, each null or of the column's kind.
    pub fn push_row(&mut self, row: &[Value]) -> Result<(), FixtureError> {
        let row_no = self.row_count() + 1;
        if row.len() != self.columns.len() {
            return Err(FixtureError::Invalid {
                file: None,
                dataset: Some(self.name.clone()),
                row: Some(row_no),
                column: None,
                message: format!(
                    "has {} values; the dataset has {} columns",
                    row.len(),
                    self.columns.len()
                ),
            });
        }
        for (v, c) in row.iter().zip(&self.columns) {
            if !matches!(v, Value::Null) && v.kind() != c.kind {
                return Err(FixtureError::Invalid {
                    file: None,
                    dataset: Some(self.name.clone()),
                    row: Some(row_no),
                    column: Some(c.name.clone()),
                    message: format!(
                        "is {}; the column holds {} values",
                        kind_name(v.kind()),
                        kind_name(c.kind)
                    ),
                });
            }
        }
        self.cells.extend(row.iter().map(Cell::from_value));
        Ok(())
    }

    /// Adds a row of cells already known to fit (generators).
    pub(crate) fn push_cells(&mut self, row: impl IntoIterator<Item = Cell>) {
        let before = self.cells.len();
        self.cells.extend(row);
        debug_assert_eq!(self.cells.len() - before, self.columns.len());
        debug_assert!(
            self.cells[before..]
                .iter()
                .zip(&self.columns)
                .all(|(cell, col)| cell.is_null() || cell.kind() == col.kind)
        );
    }

    pub(crate) fn reserve_rows(&mut self, rows: usize) {
        self.cells.reserve(rows * self.columns.len());
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn columns(&self) -> &[ColumnMeta] {
        &self.columns
    }

    pub fn dimensions(&self) -> &[String] {
        &self.dimensions
    }

    pub fn measures(&self) -> &[(String, Measure)] {
        &self.measures
    }

    pub fn row_count(&self) -> usize {
        self.cells.len() / self.columns.len()
    }

    pub(crate) fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    pub(crate) fn measure(&self, name: &str) -> Option<&Measure> {
        self.measures
            .iter()
            .find(|(m, _)| m == name)
            .map(|(_, m)| m)
    }

    pub(crate) fn row_cells(&self, i: usize) -> &[Cell] {
        let w = self.columns.len();
        &self.cells[i * w..(i + 1) * w]
    }

    /// Row `i` as values.
    pub fn row(&self, i: usize) -> Option<Vec<Value>> {
        (i < self.row_count()).then(|| self.row_cells(i).iter().map(Cell::to_value).collect())
    }

    /// The values of one column, in row order.
    pub fn column_values(&self, column: &str) -> Option<Vec<Value>> {
        let c = self.column_index(column)?;
        Some(
            (0..self.row_count())
                .map(|i| self.row_cells(i)[c].to_value())
                .collect(),
        )
    }
}

pub(crate) fn kind_name(kind: ValueKind) -> &'static str {
    match kind {
        ValueKind::Null => "null",
        ValueKind::Boolean => "boolean",
        ValueKind::Int => "int",
        ValueKind::Float => "float",
        ValueKind::Money => "money",
        ValueKind::Decimal => "decimal",
        ValueKind::Text => "text",
        ValueKind::Date => "date",
        ValueKind::Timestamp => "timestamp",
    }
}

// ---- governed views ------------------------------------------------------------

/// What one caller may see of a dataset: which rows, and which cells masked.
///
/// This crate does not decide access; the host builds a guard from
/// `zhiyun_authz::EffectiveAccess` (the one permission function) and the
/// provider answers the query over [`Dataset::view`], the dataset as the
/// guard lets the caller see it — rows outside the scope are not there,
/// masked cells hold their masked form — so no query shape (projection,
/// filter, group-by, order) can reach what the guard withheld.
pub trait ViewGuard: Send + Sync {
    /// The column holding a row's org id, if the dataset has one.
    fn org_column(&self) -> Option<&str>;
    /// The column holding a row's owning user, if any.
    fn owner_column(&self) -> Option<&str>;
    /// Every row passes (no row filter to evaluate).
    fn keeps_every_row(&self) -> bool;
    fn keep_row(&self, org: Option<&str>, owner: Option<&str>) -> bool;
    /// The column may be masked in some row (a cheap pre-check, so clear
    /// columns are copied without a call per cell).
    fn may_mask(&self, column: &str) -> bool;
    /// The column's cell is masked in the row of `org` / `owner`.
    fn masks_cell(&self, column: &str, org: Option<&str>, owner: Option<&str>) -> bool;
    /// The masked form of a text cell of `column`.
    fn mask_text(&self, column: &str, value: &str) -> String;
}

impl Dataset {
    /// The dataset as `guard` lets a caller see it: only the rows it keeps;
    /// masked text cells replaced by their masked form; masked cells of
    /// other kinds (money, dates …) null, since a masked number has no
    /// honest value of its kind. Definitions (columns, dimensions,
    /// measures) are unchanged.
    pub fn view(&self, guard: &dyn ViewGuard) -> Dataset {
        let text_at = |row: &[Cell], col: Option<usize>| -> Option<Arc<str>> {
            match col.map(|c| &row[c]) {
                Some(Cell::Text(s)) => Some(s.clone()),
                _ => None,
            }
        };
        let org_col = guard.org_column().and_then(|c| self.column_index(c));
        let owner_col = guard.owner_column().and_then(|c| self.column_index(c));
        let masked: Vec<bool> = self
            .columns
            .iter()
            .map(|c| guard.may_mask(&c.name))
            .collect();
        let mut out = Dataset {
            name: self.name.clone(),
            columns: self.columns.clone(),
            dimensions: self.dimensions.clone(),
            measures: self.measures.clone(),
            cells: Vec::new(),
        };
        for i in 0..self.row_count() {
            let row = self.row_cells(i);
            let org = text_at(row, org_col);
            let owner = text_at(row, owner_col);
            let (org, owner) = (org.as_deref(), owner.as_deref());
            if !guard.keeps_every_row() && !guard.keep_row(org, owner) {
                continue;
            }
            for (c, cell) in row.iter().enumerate() {
                if !masked[c] || cell.is_null() {
                    out.cells.push(cell.clone());
                    continue;
                }
                let name = &self.columns[c].name;
                let shown = if !guard.masks_cell(name, org, owner) {
                    cell.clone()
                } else if let Cell::Text(s) = cell {
                    Cell::Text(guard.mask_text(name, s).into())
                } else {
                    Cell::Null
                };
                out.cells.push(shown);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(name: &str, kind: ValueKind) -> ColumnMeta {
        ColumnMeta {
            name: name.into(),
            kind,
        }
    }

    #[test]
    fn definitions_are_checked() {
        let cols = || vec![col("org", ValueKind::Text), col("amt", ValueKind::Money)];
        Dataset::new(
            "t",
            cols(),
            vec!["org".into()],
            vec![("amt".into(), Measure::sum("amt"))],
        )
        .unwrap();
        for (dims, measures, want) in [
            (vec!["nope"], vec![], "dimension `nope` is not a column"),
            (vec!["org", "org"], vec![], "listed twice"),
            (
                vec![],
                vec![("s", Measure::sum("org"))],
                "sums a text column",
            ),
            (vec![], vec![("s", Measure::sum("zz"))], "not a column"),
            (
                vec![],
                vec![(
                    "s",
                    Measure {
                        agg: Aggregation::Max,
                        column: None,
                    },
                )],
                "needs a column",
            ),
            (
                vec!["org"],
                vec![("org", Measure::count())],
                "name of a dimension",
            ),
        ] {
            let e = Dataset::new(
                "t",
                cols(),
                dims.into_iter().map(String::from).collect(),
                measures
                    .into_iter()
                    .map(|(n, m)| (n.to_string(), m))
                    .collect(),
            )
            .unwrap_err();
            assert!(e.to_string().contains(want), "{e}");
        }
        let e = Dataset::new(
            "t",
            vec![col("a", ValueKind::Int), col("a", ValueKind::Int)],
            vec![],
            vec![],
        )
        .unwrap_err();
        assert!(e.to_string().contains("defined twice"), "{e}");
    }

    #[test]
    fn rows_are_type_checked() {
        let ds = Dataset::new(
            "t",
            vec![col("org", ValueKind::Text), col("amt", ValueKind::Money)],
            vec![],
            vec![],
        )
        .unwrap();
        let e = ds
            .clone()
            .with_rows(vec![
                vec![Value::Text("a".into()), Value::Money(1)],
                vec![Value::Text("b".into()), Value::Int(1)],
            ])
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "dataset `t`, row 2, column `amt`: is int; the column holds money values"
        );
        let e = ds.clone().with_rows(vec![vec![Value::Null]]).unwrap_err();
        assert!(e.to_string().contains("has 1 values"), "{e}");
        let ds = ds
            .with_rows(vec![vec![Value::Null, Value::Money(5)]])
            .unwrap();
        assert_eq!(ds.row(0), Some(vec![Value::Null, Value::Money(5)]));
        assert_eq!(ds.row(1), None);
    }

    #[test]
    fn cells_order_totally() {
        assert!(Cell::Null < Cell::Int(-5));
        assert!(Cell::Float(f64::NAN) == Cell::Float(f64::NAN));
        assert!(Cell::Text("a".into()) < Cell::Text("b".into()));
        let d = |s: &str| Cell::Decimal(s.into());
        assert!(d("0.13") < d("0.2"));
        assert!(d("10") > d("9.99"));
        assert!(d("-1.5") < d("-1.4"));
        assert!(d("-0.1") < d("0"));
        assert_eq!(cmp_decimal("1.50", "1.5"), Ordering::Equal);
    }
}
