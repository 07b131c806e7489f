//! Typed data access: the semantic [`Query`] builder, guarded [`sql`], and
//! [`Rows`] with typed getters by column name.
//!
//! Every call goes to the host's `data` import, which checks it against the
//! datasets the app declared and was granted and the rows the user may see.

use crate::bindings::scenario::zhiyun::app::data as wit_data;
use crate::value::kind_name;
use crate::{
    AppError, ColumnMeta, DataTable, Date, Filter, FilterOp, OrderBy, SemanticQuery, Value,
    ValueKind,
};

/// A semantic query over a dataset (宽表), built step by step and sent with
/// [`Query::run`].
///
/// With measures, the host groups by the dimensions and aggregates the
/// measures as the dataset defines them (sum, count, …). With no measures it
/// returns the dimension columns as plain rows. Filters are combined with AND.
///
/// ```no_run
/// # use zhiyun_sdk::*;
/// # fn f() -> Result<(), AppError> {
/// let rows = Query::dataset("fund_daily")
///     .dimensions(["org_id", "org_name"])
///     .measures(["closing"])
///     .filter_eq("balance_date", Date::new(2026, 11, 30))
///     .order_desc("closing")
///     .limit(10)
///     .run()?;
/// for row in rows.iter() {
///     let name = row.text("org_name")?;
///     let closing = row.money("closing")?;
/// #   let _ = (name, closing);
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq)]
#[must_use = "a query does nothing until `.run()`"]
pub struct Query {
    query: SemanticQuery,
}

impl Query {
    pub fn dataset(name: impl Into<String>) -> Self {
        Query {
            query: SemanticQuery {
                dataset: name.into(),
                dimensions: Vec::new(),
                measures: Vec::new(),
                filters: Vec::new(),
                order: Vec::new(),
                limit: None,
            },
        }
    }

    /// Adds dimension columns (group-by keys, or the plain columns when there
    /// are no measures).
    pub fn dimensions<I, S>(mut self, dimensions: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.query
            .dimensions
            .extend(dimensions.into_iter().map(Into::into));
        self
    }

    /// Adds measures, aggregated per group.
    pub fn measures<I, S>(mut self, measures: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.query
            .measures
            .extend(measures.into_iter().map(Into::into));
        self
    }

    /// Adds a filter with any operator.
    pub fn filter(mut self, field: impl Into<String>, op: FilterOp, values: Vec<Value>) -> Self {
        self.query.filters.push(Filter {
            field: field.into(),
            op,
            values,
        });
        self
    }

    pub fn filter_eq(self, field: impl Into<String>, value: impl Into<Value>) -> Self {
        self.filter(field, FilterOp::Eq, vec![value.into()])
    }
    pub fn filter_ne(self, field: impl Into<String>, value: impl Into<Value>) -> Self {
        self.filter(field, FilterOp::Ne, vec![value.into()])
    }
    pub fn filter_lt(self, field: impl Into<String>, value: impl Into<Value>) -> Self {
        self.filter(field, FilterOp::Lt, vec![value.into()])
    }
    pub fn filter_le(self, field: impl Into<String>, value: impl Into<Value>) -> Self {
        self.filter(field, FilterOp::Le, vec![value.into()])
    }
    pub fn filter_gt(self, field: impl Into<String>, value: impl Into<Value>) -> Self {
        self.filter(field, FilterOp::Gt, vec![value.into()])
    }
    pub fn filter_ge(self, field: impl Into<String>, value: impl Into<Value>) -> Self {
        self.filter(field, FilterOp::Ge, vec![value.into()])
    }
    /// `field IN (values…)`.
    pub fn filter_in<I, V>(self, field: impl Into<String>, values: I) -> Self
    where
        I: IntoIterator<Item = V>,
        V: Into<Value>,
    {
        let values = values.into_iter().map(Into::into).collect();
        self.filter(field, FilterOp::InList, values)
    }
    /// `field BETWEEN low AND high` (both ends included).
    pub fn filter_between(
        self,
        field: impl Into<String>,
        low: impl Into<Value>,
        high: impl Into<Value>,
    ) -> Self {
        self.filter(field, FilterOp::Between, vec![low.into(), high.into()])
    }
    /// SQL `LIKE` with `%` and `_`.
    pub fn filter_like(self, field: impl Into<String>, pattern: impl Into<String>) -> Self {
        self.filter(field, FilterOp::Like, vec![Value::Text(pattern.into())])
    }

    pub fn order_asc(mut self, field: impl Into<String>) -> Self {
        self.query.order.push(OrderBy {
            field: field.into(),
            descending: false,
        });
        self
    }
    pub fn order_desc(mut self, field: impl Into<String>) -> Self {
        self.query.order.push(OrderBy {
            field: field.into(),
            descending: true,
        });
        self
    }

    /// At most this many rows (the host also caps it at the app's row limit).
    pub fn limit(mut self, limit: u32) -> Self {
        self.query.limit = Some(limit);
        self
    }

    /// The query as it will be sent.
    pub fn as_semantic_query(&self) -> &SemanticQuery {
        &self.query
    }

    /// Runs the query on the host. Errors keep the host's kind and say which
    /// dataset they came from.
    pub fn run(self) -> Result<Rows, AppError> {
        wit_data::query(&self.query)
            .map(Rows::new)
            .map_err(|e| e.context(format_args!("query on `{}`", self.query.dataset)))
    }
}

/// Runs guarded read-only SQL (one SELECT over granted datasets); `params`
/// bind to `?1`, `?2`, ….
pub fn sql<I>(statement: &str, params: I) -> Result<Rows, AppError>
where
    I: IntoIterator<Item = Value>,
{
    let params: Vec<Value> = params.into_iter().collect();
    wit_data::sql(statement, &params)
        .map(Rows::new)
        .map_err(|e| e.context("sql"))
}

/// A query result: a [`DataTable`] with typed access by column name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rows {
    table: DataTable,
}

impl Rows {
    pub fn new(table: DataTable) -> Self {
        Rows { table }
    }

    pub fn columns(&self) -> &[ColumnMeta] {
        &self.table.columns
    }

    pub fn len(&self) -> usize {
        self.table.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.table.rows.is_empty()
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = Row<'_>> + '_ {
        self.table.rows.iter().map(move |values| Row {
            columns: &self.table.columns,
            values,
        })
    }

    pub fn get(&self, index: usize) -> Option<Row<'_>> {
        self.table.rows.get(index).map(|values| Row {
            columns: &self.table.columns,
            values,
        })
    }

    /// The position of a column, or a not-found error listing the columns
    /// there are. Resolve it once outside a hot loop and pass the index to
    /// the getters.
    pub fn column(&self, name: &str) -> Result<usize, AppError> {
        column_index(&self.table.columns, name)
    }

    /// A new table with the same columns and the rows `keep` selects (e.g.
    /// the evidence of a finding).
    pub fn subset(&self, mut keep: impl FnMut(&Row<'_>) -> bool) -> DataTable {
        DataTable {
            columns: self.table.columns.clone(),
            rows: self
                .iter()
                .filter(|row| keep(row))
                .map(|row| row.values.to_vec())
                .collect(),
        }
    }

    pub fn data_table(&self) -> &DataTable {
        &self.table
    }

    pub fn into_data_table(self) -> DataTable {
        self.table
    }
}

fn column_index(columns: &[ColumnMeta], name: &str) -> Result<usize, AppError> {
    columns.iter().position(|c| c.name == name).ok_or_else(|| {
        let names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
        AppError::not_found(format!(
            "column `{name}` is not in the result (columns: {})",
            names.join(", ")
        ))
    })
}

/// How a getter names a column: by name (`"balance"`) or by position (from
/// [`Rows::column`]).
pub trait ColumnKey {
    fn resolve(&self, columns: &[ColumnMeta]) -> Result<usize, AppError>;
}

impl ColumnKey for &str {
    fn resolve(&self, columns: &[ColumnMeta]) -> Result<usize, AppError> {
        column_index(columns, self)
    }
}

impl ColumnKey for usize {
    fn resolve(&self, columns: &[ColumnMeta]) -> Result<usize, AppError> {
        if *self < columns.len() {
            Ok(*self)
        } else {
            Err(AppError::not_found(format!(
                "column #{self} is out of range ({} columns)",
                columns.len()
            )))
        }
    }
}

/// One row of [`Rows`]. The getters check the value's kind and say which
/// column was wrong; a null is an error for the plain getters and `None` for
/// the `opt_` ones.
#[derive(Debug, Clone, Copy)]
pub struct Row<'a> {
    columns: &'a [ColumnMeta],
    values: &'a [Value],
}

impl<'a> Row<'a> {
    /// The values in column order.
    pub fn values(&self) -> &'a [Value] {
        self.values
    }

    pub fn value(&self, column: impl ColumnKey) -> Result<&'a Value, AppError> {
        let index = column.resolve(self.columns)?;
        self.values.get(index).ok_or_else(|| {
            AppError::internal(format!(
                "column `{}` is missing in a short row",
                self.columns[index].name
            ))
        })
    }

    fn typed<T>(
        &self,
        column: impl ColumnKey,
        expected: ValueKind,
        convert: impl FnOnce(&'a Value) -> Option<T>,
    ) -> Result<Option<T>, AppError> {
        let index = column.resolve(self.columns)?;
        let value = self.value(index)?;
        if value.is_null() {
            return Ok(None);
        }
        convert(value).map(Some).ok_or_else(|| {
            AppError::internal(format!(
                "column `{}`: expected {}, got {}",
                self.columns[index].name,
                kind_name(expected),
                value.describe()
            ))
        })
    }

    fn required<T>(&self, column: impl ColumnKey, value: Option<T>) -> Result<T, AppError> {
        value.ok_or_else(|| match column.resolve(self.columns) {
            Ok(i) => AppError::internal(format!("column `{}` is null", self.columns[i].name)),
            Err(e) => e,
        })
    }

    /// Money in fen.
    pub fn money(&self, column: impl ColumnKey + Copy) -> Result<i64, AppError> {
        let v = self.opt_money(column)?;
        self.required(column, v)
    }
    pub fn opt_money(&self, column: impl ColumnKey) -> Result<Option<i64>, AppError> {
        self.typed(column, ValueKind::Money, Value::as_money)
    }

    pub fn text(&self, column: impl ColumnKey + Copy) -> Result<&'a str, AppError> {
        let v = self.opt_text(column)?;
        self.required(column, v)
    }
    pub fn opt_text(&self, column: impl ColumnKey) -> Result<Option<&'a str>, AppError> {
        self.typed(column, ValueKind::Text, Value::as_text)
    }

    pub fn int(&self, column: impl ColumnKey + Copy) -> Result<i64, AppError> {
        let v = self.opt_int(column)?;
        self.required(column, v)
    }
    pub fn opt_int(&self, column: impl ColumnKey) -> Result<Option<i64>, AppError> {
        self.typed(column, ValueKind::Int, Value::as_int)
    }

    /// A float; an int is widened (a count used as a quantity).
    pub fn float(&self, column: impl ColumnKey + Copy) -> Result<f64, AppError> {
        let v = self.typed(column, ValueKind::Float, |v| match v {
            Value::Float(x) => Some(*x),
            Value::Int(n) => Some(*n as f64),
            _ => None,
        })?;
        self.required(column, v)
    }

    pub fn bool(&self, column: impl ColumnKey + Copy) -> Result<bool, AppError> {
        let v = self.typed(column, ValueKind::Boolean, Value::as_bool)?;
        self.required(column, v)
    }

    pub fn date(&self, column: impl ColumnKey + Copy) -> Result<Date, AppError> {
        let v = self.typed(column, ValueKind::Date, Value::as_date)?;
        self.required(column, v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Rows {
        let col = |name: &str, kind| ColumnMeta {
            name: name.into(),
            kind,
        };
        Rows::new(DataTable {
            columns: vec![
                col("org_name", ValueKind::Text),
                col("closing", ValueKind::Money),
                col("in_pool", ValueKind::Boolean),
            ],
            rows: vec![
                vec![
                    Value::text("城区供电所"),
                    Value::money(12_345),
                    Value::bool(true),
                ],
                vec![Value::text("县公司"), Value::Null, Value::bool(false)],
            ],
        })
    }

    #[test]
    fn getters_by_name_and_index() {
        let rows = sample();
        let first = rows.get(0).unwrap();
        assert_eq!(first.text("org_name").unwrap(), "城区供电所");
        assert_eq!(first.money("closing").unwrap(), 12_345);
        assert!(first.bool("in_pool").unwrap());
        let closing = rows.column("closing").unwrap();
        assert_eq!(first.money(closing).unwrap(), 12_345);
        assert_eq!(rows.get(1).unwrap().opt_money("closing").unwrap(), None);
    }

    #[test]
    fn errors_name_the_column() {
        let rows = sample();
        let row = rows.get(0).unwrap();
        assert_eq!(
            row.money("balance").unwrap_err(),
            AppError::not_found(
                "column `balance` is not in the result (columns: org_name, closing, in_pool)"
            )
        );
        assert_eq!(
            row.money("org_name").unwrap_err(),
            AppError::internal("column `org_name`: expected money, got text \"城区供电所\"")
        );
        assert_eq!(
            rows.get(1).unwrap().money("closing").unwrap_err(),
            AppError::internal("column `closing` is null")
        );
    }

    #[test]
    fn subset_keeps_columns() {
        let rows = sample();
        let t = rows.subset(|r| r.bool("in_pool").unwrap_or(false));
        assert_eq!(t.columns.len(), 3);
        assert_eq!(t.rows.len(), 1);
    }

    #[test]
    fn builder_collects_everything() {
        let q = Query::dataset("fund_daily")
            .dimensions(["org_id"])
            .measures(["closing"])
            .filter_eq("balance_date", Date::new(2026, 11, 30))
            .filter_in("org_id", ["3301", "330101"])
            .order_desc("closing")
            .limit(5);
        let sq = q.as_semantic_query();
        assert_eq!(sq.dimensions, ["org_id"]);
        assert_eq!(sq.filters.len(), 2);
        assert_eq!(sq.filters[1].op, FilterOp::InList);
        assert_eq!(sq.filters[1].values.len(), 2);
        assert!(sq.order[0].descending);
        assert_eq!(sq.limit, Some(5));
    }
}
