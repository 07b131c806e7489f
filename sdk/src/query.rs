//! Typed data access: the semantic [`Query`] builder, guarded [`sql`], and
//! [`Rows`] with typed getters by column name.
//!
//! Every call goes to the host's `data` import, which checks it against the
//! datasets the app declared and was granted and the rows the user may see.

use crate::bindings::scenario::zhiyun::app::data as wit_data;
use crate::table::{Cell, cell_at};
use crate::value::kind_name;
use crate::{
    AppError, Column, ColumnValues, DataTable, Date, Filter, FilterOp, OrderBy, SemanticQuery,
    Value, ValueKind,
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

/// A query result: a columnar [`DataTable`] with typed access by row and by
/// column.
///
/// Row by row, the getters of [`Row`] read one cell without allocating (text
/// is borrowed from the column's dictionary). Column by column,
/// [`Rows::money_column`], [`Rows::text_codes`] and their siblings hand out
/// the whole column as a slice, the fastest way through a large result.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rows {
    table: DataTable,
}

impl Rows {
    pub fn new(table: DataTable) -> Self {
        Rows { table }
    }

    /// The columns, with their names, kinds and values.
    pub fn columns(&self) -> &[Column] {
        &self.table.columns
    }

    pub fn len(&self) -> usize {
        self.table.row_count as usize
    }

    pub fn is_empty(&self) -> bool {
        self.table.row_count == 0
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = Row<'_>> + '_ {
        (0..self.len()).map(move |index| Row {
            table: &self.table,
            index,
        })
    }

    pub fn get(&self, index: usize) -> Option<Row<'_>> {
        (index < self.len()).then_some(Row {
            table: &self.table,
            index,
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
        let selected: Vec<usize> = self
            .iter()
            .filter(|row| keep(row))
            .map(|row| row.index)
            .collect();
        self.table.select_rows(&selected)
    }

    pub fn data_table(&self) -> &DataTable {
        &self.table
    }

    pub fn into_data_table(self) -> DataTable {
        self.table
    }

    /// The rows where `column` is null, ascending.
    pub fn null_rows(&self, column: impl ColumnKey) -> Result<&[u32], AppError> {
        let col = &self.table.columns[column.resolve(&self.table.columns)?];
        match col.values {
            // An all-null column lists no rows; it has no values at all.
            ColumnValues::AllNull if self.table.row_count > 0 => Err(AppError::internal(format!(
                "column `{}` is null in every row",
                col.name
            ))),
            _ => Ok(&col.nulls),
        }
    }

    /// A whole column of `kind` as a slice, one element per row. Fails if
    /// the column is of another kind or has a null (use the row getters, or
    /// [`Rows::null_rows`] and [`Rows::data_table`], for those).
    fn column_slice<'a, T>(
        &'a self,
        column: impl ColumnKey,
        expected: ValueKind,
        slice: impl FnOnce(&'a ColumnValues) -> Option<&'a [T]>,
    ) -> Result<&'a [T], AppError> {
        let col = &self.table.columns[column.resolve(&self.table.columns)?];
        let n = self.len();
        if let ColumnValues::AllNull = col.values
            && n == 0
            && (col.kind == expected || col.kind == ValueKind::Null)
        {
            return Ok(&[]);
        }
        let Some(values) = slice(&col.values) else {
            return Err(AppError::internal(format!(
                "column `{}`: expected {}, got a {} column",
                col.name,
                kind_name(expected),
                kind_name(col.kind)
            )));
        };
        if !col.nulls.is_empty() || matches!(col.values, ColumnValues::AllNull) {
            return Err(AppError::internal(format!(
                "column `{}` has null values; read it row by row with the `opt_` getters",
                col.name
            )));
        }
        if values.len() != n {
            return Err(malformed(col, n));
        }
        Ok(values)
    }

    /// A money column in fen, one element per row. Fails if the column is of
    /// another kind or has a null (read such a column row by row with the
    /// `opt_` getters).
    pub fn money_column(&self, column: impl ColumnKey) -> Result<&[i64], AppError> {
        self.column_slice(column, ValueKind::Money, |v| match v {
            ColumnValues::Money(v) => Some(v),
            _ => None,
        })
    }

    /// An int column, one element per row; fails on nulls.
    pub fn int_column(&self, column: impl ColumnKey) -> Result<&[i64], AppError> {
        self.column_slice(column, ValueKind::Int, |v| match v {
            ColumnValues::Ints(v) => Some(v),
            _ => None,
        })
    }

    /// A float column, one element per row; fails on nulls.
    pub fn float_column(&self, column: impl ColumnKey) -> Result<&[f64], AppError> {
        self.column_slice(column, ValueKind::Float, |v| match v {
            ColumnValues::Floats(v) => Some(v),
            _ => None,
        })
    }

    /// A boolean column, one element per row; fails on nulls.
    pub fn bool_column(&self, column: impl ColumnKey) -> Result<&[bool], AppError> {
        self.column_slice(column, ValueKind::Boolean, |v| match v {
            ColumnValues::Booleans(v) => Some(v),
            _ => None,
        })
    }

    /// A date column, one element per row; fails on nulls.
    pub fn date_column(&self, column: impl ColumnKey) -> Result<&[Date], AppError> {
        self.column_slice(column, ValueKind::Date, |v| match v {
            ColumnValues::Dates(v) => Some(v),
            _ => None,
        })
    }

    /// A timestamp column (µs since the epoch), one element per row; fails
    /// on nulls.
    pub fn timestamp_column(&self, column: impl ColumnKey) -> Result<&[i64], AppError> {
        self.column_slice(column, ValueKind::Timestamp, |v| match v {
            ColumnValues::Timestamps(v) => Some(v),
            _ => None,
        })
    }

    /// A text column as its dictionary and one code per row: row `i` holds
    /// `dictionary[codes[i]]`. Group or count by code instead of by string
    /// when you can: the codes are small integers. Fails on nulls. A string
    /// usually has one code, but need not (see `text-column` in the WIT).
    ///
    /// ```no_run
    /// # use zhiyun_sdk::*;
    /// # fn f(rows: Rows) -> Result<(), AppError> {
    /// let (orgs, codes) = rows.text_codes("org_id")?;
    /// let amounts = rows.money_column("amount")?;
    /// let mut by_org = vec![0i64; orgs.len()];
    /// for (code, amount) in codes.iter().zip(amounts) {
    ///     by_org[*code as usize] += amount;
    /// }
    /// # Ok(()) }
    /// ```
    pub fn text_codes(&self, column: impl ColumnKey) -> Result<(&[String], &[u32]), AppError> {
        let mut dictionary: &[String] = &[];
        let codes = self.column_slice(column, ValueKind::Text, |v| match v {
            ColumnValues::Texts(t) => {
                dictionary = &t.dictionary;
                Some(&t.codes)
            }
            _ => None,
        })?;
        if codes.iter().any(|&c| c as usize >= dictionary.len()) {
            return Err(AppError::internal(
                "a text column has a code outside its dictionary (malformed table)",
            ));
        }
        Ok((dictionary, codes))
    }
}

fn malformed(col: &Column, rows: usize) -> AppError {
    AppError::internal(format!(
        "column `{}` does not have a valid value for each of the {rows} rows (malformed table)",
        col.name
    ))
}

fn column_index(columns: &[Column], name: &str) -> Result<usize, AppError> {
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
    fn resolve(&self, columns: &[Column]) -> Result<usize, AppError>;
}

impl ColumnKey for &str {
    fn resolve(&self, columns: &[Column]) -> Result<usize, AppError> {
        column_index(columns, self)
    }
}

impl ColumnKey for usize {
    fn resolve(&self, columns: &[Column]) -> Result<usize, AppError> {
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

/// One row of [`Rows`]. The getters check the column's kind and say which
/// column was wrong; a null is an error for the plain getters and `None` for
/// the `opt_` ones. Text getters borrow from the table and never allocate.
#[derive(Debug, Clone, Copy)]
pub struct Row<'a> {
    table: &'a DataTable,
    index: usize,
}

impl<'a> Row<'a> {
    /// The position of this row in its table.
    pub fn index(&self) -> usize {
        self.index
    }

    /// The values in column order (copied out of the columns).
    pub fn values(&self) -> Vec<Value> {
        self.table
            .columns
            .iter()
            .map(|col| cell_at(col, self.index).map_or(Value::Null, Cell::to_value))
            .collect()
    }

    /// The value of a column (copied out; prefer the typed getters).
    pub fn value(&self, column: impl ColumnKey) -> Result<Value, AppError> {
        let (_, cell) = self.cell(column)?;
        Ok(cell.to_value())
    }

    fn cell(&self, column: impl ColumnKey) -> Result<(&'a Column, Cell<'a>), AppError> {
        let col = &self.table.columns[column.resolve(&self.table.columns)?];
        let cell = cell_at(col, self.index)
            .ok_or_else(|| malformed(col, self.table.row_count as usize))?;
        Ok((col, cell))
    }

    /// The cell converted by `convert`; `None` for null; an error naming the
    /// column for a value of another kind.
    fn typed<T>(
        &self,
        column: impl ColumnKey,
        expected: ValueKind,
        convert: impl FnOnce(Cell<'a>) -> Option<T>,
    ) -> Result<(&'a Column, Option<T>), AppError> {
        let (col, cell) = self.cell(column)?;
        if cell.is_null() {
            return Ok((col, None));
        }
        match convert(cell) {
            Some(v) => Ok((col, Some(v))),
            None => Err(AppError::internal(format!(
                "column `{}`: expected {}, got {}",
                col.name,
                kind_name(expected),
                cell.to_value().describe()
            ))),
        }
    }

    fn required<T>(
        &self,
        column: impl ColumnKey,
        expected: ValueKind,
        convert: impl FnOnce(Cell<'a>) -> Option<T>,
    ) -> Result<T, AppError> {
        match self.typed(column, expected, convert)? {
            (_, Some(v)) => Ok(v),
            (col, None) => Err(AppError::internal(format!("column `{}` is null", col.name))),
        }
    }

    fn optional<T>(
        &self,
        column: impl ColumnKey,
        expected: ValueKind,
        convert: impl FnOnce(Cell<'a>) -> Option<T>,
    ) -> Result<Option<T>, AppError> {
        Ok(self.typed(column, expected, convert)?.1)
    }

    /// Money in fen.
    pub fn money(&self, column: impl ColumnKey) -> Result<i64, AppError> {
        self.required(column, ValueKind::Money, as_money)
    }
    pub fn opt_money(&self, column: impl ColumnKey) -> Result<Option<i64>, AppError> {
        self.optional(column, ValueKind::Money, as_money)
    }

    /// Text, borrowed from the table.
    pub fn text(&self, column: impl ColumnKey) -> Result<&'a str, AppError> {
        self.required(column, ValueKind::Text, as_text)
    }
    pub fn opt_text(&self, column: impl ColumnKey) -> Result<Option<&'a str>, AppError> {
        self.optional(column, ValueKind::Text, as_text)
    }

    pub fn int(&self, column: impl ColumnKey) -> Result<i64, AppError> {
        self.required(column, ValueKind::Int, as_int)
    }
    pub fn opt_int(&self, column: impl ColumnKey) -> Result<Option<i64>, AppError> {
        self.optional(column, ValueKind::Int, as_int)
    }

    /// A float; an int is widened (a count used as a quantity).
    pub fn float(&self, column: impl ColumnKey) -> Result<f64, AppError> {
        self.required(column, ValueKind::Float, as_float)
    }
    pub fn opt_float(&self, column: impl ColumnKey) -> Result<Option<f64>, AppError> {
        self.optional(column, ValueKind::Float, as_float)
    }

    pub fn bool(&self, column: impl ColumnKey) -> Result<bool, AppError> {
        self.required(column, ValueKind::Boolean, as_bool)
    }
    pub fn opt_bool(&self, column: impl ColumnKey) -> Result<Option<bool>, AppError> {
        self.optional(column, ValueKind::Boolean, as_bool)
    }

    pub fn date(&self, column: impl ColumnKey) -> Result<Date, AppError> {
        self.required(column, ValueKind::Date, as_date)
    }
    pub fn opt_date(&self, column: impl ColumnKey) -> Result<Option<Date>, AppError> {
        self.optional(column, ValueKind::Date, as_date)
    }

    /// An exact decimal as its text ("0.1300"), borrowed from the table.
    pub fn decimal(&self, column: impl ColumnKey) -> Result<&'a str, AppError> {
        self.required(column, ValueKind::Decimal, as_decimal)
    }
    pub fn opt_decimal(&self, column: impl ColumnKey) -> Result<Option<&'a str>, AppError> {
        self.optional(column, ValueKind::Decimal, as_decimal)
    }

    /// Microseconds since 1970-01-01T00:00:00Z.
    pub fn timestamp(&self, column: impl ColumnKey) -> Result<i64, AppError> {
        self.required(column, ValueKind::Timestamp, as_timestamp)
    }
    pub fn opt_timestamp(&self, column: impl ColumnKey) -> Result<Option<i64>, AppError> {
        self.optional(column, ValueKind::Timestamp, as_timestamp)
    }
}

fn as_money(c: Cell<'_>) -> Option<i64> {
    match c {
        Cell::Money(fen) => Some(fen),
        _ => None,
    }
}
fn as_text(c: Cell<'_>) -> Option<&str> {
    match c {
        Cell::Text(s) => Some(s),
        _ => None,
    }
}
fn as_decimal(c: Cell<'_>) -> Option<&str> {
    match c {
        Cell::Decimal(s) => Some(s),
        _ => None,
    }
}
fn as_int(c: Cell<'_>) -> Option<i64> {
    match c {
        Cell::Int(n) => Some(n),
        _ => None,
    }
}
fn as_float(c: Cell<'_>) -> Option<f64> {
    match c {
        Cell::Float(x) => Some(x),
        Cell::Int(n) => Some(n as f64),
        _ => None,
    }
}
fn as_bool(c: Cell<'_>) -> Option<bool> {
    match c {
        Cell::Boolean(b) => Some(b),
        _ => None,
    }
}
fn as_date(c: Cell<'_>) -> Option<Date> {
    match c {
        Cell::Date(d) => Some(d),
        _ => None,
    }
}
fn as_timestamp(c: Cell<'_>) -> Option<i64> {
    match c {
        Cell::Timestamp(t) => Some(t),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Rows {
        Rows::new(
            DataTable::new([
                ("org_name", ValueKind::Text),
                ("closing", ValueKind::Money),
                ("in_pool", ValueKind::Boolean),
            ])
            .row(vec![
                Value::text("城区供电所"),
                Value::money(12_345),
                Value::bool(true),
            ])
            .row(vec![Value::text("县公司"), Value::Null, Value::bool(false)]),
        )
    }

    #[test]
    fn getters_by_name_and_index() {
        let rows = sample();
        assert_eq!(rows.len(), 2);
        let first = rows.get(0).unwrap();
        assert_eq!(first.text("org_name").unwrap(), "城区供电所");
        assert_eq!(first.money("closing").unwrap(), 12_345);
        assert!(first.bool("in_pool").unwrap());
        let closing = rows.column("closing").unwrap();
        assert_eq!(first.money(closing).unwrap(), 12_345);
        assert_eq!(rows.get(1).unwrap().opt_money("closing").unwrap(), None);
        assert_eq!(
            rows.get(1).unwrap().opt_text("org_name").unwrap(),
            Some("县公司")
        );
        assert!(rows.get(2).is_none());
        assert_eq!(
            rows.get(1).unwrap().values(),
            vec![Value::text("县公司"), Value::Null, Value::bool(false)]
        );
        assert_eq!(first.value("closing").unwrap(), Value::money(12_345));
        let names: Vec<&str> = rows.iter().map(|r| r.text("org_name").unwrap()).collect();
        assert_eq!(names, ["城区供电所", "县公司"]);
    }

    #[test]
    fn text_is_borrowed_from_the_dictionary() {
        let t = DataTable::new([("org", ValueKind::Text)])
            .row(vec![Value::text("a")])
            .row(vec![Value::text("b")])
            .row(vec![Value::text("a")]);
        let ColumnValues::Texts(text) = &t.columns[0].values else {
            panic!("a text column")
        };
        assert_eq!(text.dictionary, ["a", "b"]);
        assert_eq!(text.codes, [0, 1, 0]);
        let rows = Rows::new(t);
        let (dictionary, codes) = rows.text_codes("org").unwrap();
        let first = rows.get(0).unwrap().text("org").unwrap();
        let third = rows.get(2).unwrap().text("org").unwrap();
        // Both point into the one dictionary entry: no copy was made.
        assert!(std::ptr::eq(first, third));
        assert!(std::ptr::eq(first, dictionary[codes[2] as usize].as_str()));
    }

    #[test]
    fn every_kind_and_null_reads_back() {
        let kinds = [
            ("b", ValueKind::Boolean),
            ("i", ValueKind::Int),
            ("f", ValueKind::Float),
            ("m", ValueKind::Money),
            ("d", ValueKind::Decimal),
            ("t", ValueKind::Text),
            ("dt", ValueKind::Date),
            ("ts", ValueKind::Timestamp),
            ("n", ValueKind::Null),
        ];
        let day = Date::new(2026, 11, 30);
        let full = vec![
            Value::bool(true),
            Value::int(-7),
            Value::float(0.25),
            Value::money(100),
            Value::Decimal("0.1300".into()),
            Value::text("x"),
            Value::date(day),
            Value::Timestamp(1_700_000_000_000_000),
            Value::Null,
        ];
        let nulls = vec![Value::Null; kinds.len()];
        let rows = Rows::new(
            DataTable::new(kinds)
                .row(nulls.clone())
                .row(full.clone())
                .row(nulls.clone()),
        );
        assert_eq!(rows.get(0).unwrap().values(), nulls);
        assert_eq!(rows.get(1).unwrap().values(), full);
        assert_eq!(rows.get(2).unwrap().values(), nulls);
        let r = rows.get(1).unwrap();
        assert!(r.bool("b").unwrap());
        assert_eq!(r.int("i").unwrap(), -7);
        assert_eq!(r.float("f").unwrap(), 0.25);
        assert_eq!(r.float("i").unwrap(), -7.0, "an int widens to a float");
        assert_eq!(r.money("m").unwrap(), 100);
        assert_eq!(r.decimal("d").unwrap(), "0.1300");
        assert_eq!(r.text("t").unwrap(), "x");
        assert_eq!(r.date("dt").unwrap(), day);
        assert_eq!(r.timestamp("ts").unwrap(), 1_700_000_000_000_000);
        assert_eq!(r.opt_int("n").unwrap(), None);
        let r = rows.get(0).unwrap();
        assert_eq!(r.opt_bool("b").unwrap(), None);
        assert_eq!(r.opt_float("f").unwrap(), None);
        assert_eq!(r.opt_date("dt").unwrap(), None);
        assert_eq!(r.opt_decimal("d").unwrap(), None);
        assert_eq!(r.opt_timestamp("ts").unwrap(), None);
        assert_eq!(
            r.text("t").unwrap_err(),
            AppError::internal("column `t` is null")
        );
        // Every null row is listed, ascending; the kind-null column lists none.
        let t = rows.data_table();
        for col in &t.columns[..8] {
            assert_eq!(col.nulls, [0, 2], "{}", col.name);
        }
        assert_eq!(t.columns[8].values, ColumnValues::AllNull);
        assert!(t.columns[8].nulls.is_empty());
    }

    #[test]
    fn column_slices() {
        let rows = Rows::new(
            DataTable::new([
                ("org", ValueKind::Text),
                ("amount", ValueKind::Money),
                ("n", ValueKind::Int),
                ("ok", ValueKind::Boolean),
            ])
            .row(vec![
                Value::text("a"),
                Value::money(1),
                Value::int(1),
                Value::bool(true),
            ])
            .row(vec![
                Value::text("b"),
                Value::money(2),
                Value::Null,
                Value::bool(false),
            ]),
        );
        assert_eq!(rows.money_column("amount").unwrap(), [1, 2]);
        assert_eq!(rows.bool_column("ok").unwrap(), [true, false]);
        let (dictionary, codes) = rows.text_codes("org").unwrap();
        assert_eq!((dictionary.len(), codes), (2, &[0, 1][..]));
        assert_eq!(
            rows.money_column("org").unwrap_err(),
            AppError::internal("column `org`: expected money, got a text column")
        );
        assert!(rows.int_column("n").unwrap_err().message().contains("null"));
        assert_eq!(rows.null_rows("n").unwrap(), [1]);
        assert!(rows.float_column("nope").is_err());
        // An empty result has empty columns.
        let empty = Rows::new(DataTable::new([("amount", ValueKind::Money)]));
        assert!(empty.is_empty());
        assert_eq!(empty.money_column("amount").unwrap(), [0i64; 0]);
        assert_eq!(empty.iter().count(), 0);
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
        assert!(row.money(7usize).is_err());
    }

    #[test]
    fn malformed_tables_give_errors_not_panics() {
        let mut t = DataTable::new([("org", ValueKind::Text), ("amount", ValueKind::Money)])
            .row(vec![Value::text("a"), Value::money(1)]);
        t.row_count = 3;
        if let ColumnValues::Texts(text) = &mut t.columns[0].values {
            text.codes.push(9);
        }
        let rows = Rows::new(t);
        assert!(rows.get(1).unwrap().text("org").is_err());
        assert!(rows.get(2).unwrap().money("amount").is_err());
        assert!(rows.money_column("amount").is_err());
        assert!(rows.text_codes("org").is_err());
        assert_eq!(
            rows.get(2).unwrap().values(),
            vec![Value::Null, Value::Null]
        );
    }

    #[test]
    fn subset_keeps_columns_and_shrinks_dictionaries() {
        let rows = sample();
        let t = rows.subset(|r| r.bool("in_pool").unwrap_or(false));
        assert_eq!(t.columns.len(), 3);
        assert_eq!(t.row_count, 1);
        let ColumnValues::Texts(text) = &t.columns[0].values else {
            panic!("a text column")
        };
        assert_eq!(text.dictionary, ["城区供电所"]);
        let t = rows.subset(|r| r.index() == 1);
        let sub = Rows::new(t);
        assert_eq!(
            sub.get(0).unwrap().values(),
            vec![Value::text("县公司"), Value::Null, Value::bool(false)]
        );
        assert_eq!(sub.data_table().columns[1].nulls, [0]);
        assert_eq!(rows.subset(|_| false).row_count, 0);
    }

    #[test]
    fn builder_checks_rows() {
        let mut t = DataTable::new([("org", ValueKind::Text), ("x", ValueKind::Float)]);
        assert_eq!(
            t.try_push_row(&[Value::money(1), Value::float(1.0)]),
            Err(AppError::invalid_input(
                "column `org` is text; it cannot hold money 0.01"
            ))
        );
        assert!(t.try_push_row(&[Value::text("a")]).is_err());
        assert_eq!(t.row_count, 0, "a refused row leaves the table as it was");
        t.try_push_row(&[Value::text("a"), Value::int(2)]).unwrap();
        assert_eq!(t.columns[1].values, ColumnValues::Floats(vec![2.0]));
        // A null first: the placeholder code needs a dictionary entry.
        let t = DataTable::new([("org", ValueKind::Text)])
            .row(vec![Value::Null])
            .row(vec![Value::text("a")]);
        let rows = Rows::new(t);
        assert_eq!(rows.get(0).unwrap().opt_text("org").unwrap(), None);
        assert_eq!(rows.get(1).unwrap().text("org").unwrap(), "a");
    }

    #[test]
    #[should_panic(expected = "column `n` is int; it cannot hold text")]
    fn row_panics_on_a_wrong_kind() {
        let _ = DataTable::new([("n", ValueKind::Int)]).row(vec![Value::text("x")]);
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
