//! The columnar [`DataTable`]: reading one cell, and building a table row by
//! row (the evidence of a finding) or as a subset of another.
//!
//! A table is column-major (see `wit/types.wit`): each [`Column`] holds one
//! list of values of its kind, text dictionary-encoded ([`TextColumn`]), and
//! the ascending indices of its null rows.

use crate::value::kind_name;
use crate::{AppError, Column, ColumnValues, DataTable, Date, TextColumn, Value, ValueKind};
use std::collections::HashMap;

/// One cell, borrowed from a table: text is a `&str` into the dictionary.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Cell<'a> {
    Null,
    Boolean(bool),
    Int(i64),
    Float(f64),
    Money(i64),
    Decimal(&'a str),
    Text(&'a str),
    Date(Date),
    Timestamp(i64),
}

impl<'a> Cell<'a> {
    pub(crate) fn of(value: &'a Value) -> Self {
        match value {
            Value::Null => Cell::Null,
            Value::Boolean(b) => Cell::Boolean(*b),
            Value::Int(n) => Cell::Int(*n),
            Value::Float(x) => Cell::Float(*x),
            Value::Money(fen) => Cell::Money(*fen),
            Value::Decimal(s) => Cell::Decimal(s),
            Value::Text(s) => Cell::Text(s),
            Value::Date(d) => Cell::Date(*d),
            Value::Timestamp(t) => Cell::Timestamp(*t),
        }
    }

    pub(crate) fn to_value(self) -> Value {
        match self {
            Cell::Null => Value::Null,
            Cell::Boolean(b) => Value::Boolean(b),
            Cell::Int(n) => Value::Int(n),
            Cell::Float(x) => Value::Float(x),
            Cell::Money(fen) => Value::Money(fen),
            Cell::Decimal(s) => Value::Decimal(s.to_string()),
            Cell::Text(s) => Value::Text(s.to_string()),
            Cell::Date(d) => Value::Date(d),
            Cell::Timestamp(t) => Value::Timestamp(t),
        }
    }

    pub(crate) fn is_null(self) -> bool {
        matches!(self, Cell::Null)
    }
}

/// The cell of `column` at `row`, or `None` if the column is too short or a
/// text code is outside its dictionary (a malformed table; the host never
/// sends one).
pub(crate) fn cell_at(column: &Column, row: usize) -> Option<Cell<'_>> {
    if let ColumnValues::AllNull = column.values {
        return Some(Cell::Null);
    }
    if !column.nulls.is_empty()
        && u32::try_from(row).is_ok_and(|r| column.nulls.binary_search(&r).is_ok())
    {
        return Some(Cell::Null);
    }
    Some(match &column.values {
        ColumnValues::AllNull => Cell::Null,
        ColumnValues::Booleans(v) => Cell::Boolean(*v.get(row)?),
        ColumnValues::Ints(v) => Cell::Int(*v.get(row)?),
        ColumnValues::Floats(v) => Cell::Float(*v.get(row)?),
        ColumnValues::Money(v) => Cell::Money(*v.get(row)?),
        ColumnValues::Decimals(t) => Cell::Decimal(text_at(t, row)?),
        ColumnValues::Texts(t) => Cell::Text(text_at(t, row)?),
        ColumnValues::Dates(v) => Cell::Date(*v.get(row)?),
        ColumnValues::Timestamps(v) => Cell::Timestamp(*v.get(row)?),
    })
}

fn text_at(t: &TextColumn, row: usize) -> Option<&str> {
    let code = *t.codes.get(row)?;
    t.dictionary.get(code as usize).map(String::as_str)
}

/// An empty list of values for a column of `kind`.
fn empty_values(kind: ValueKind) -> ColumnValues {
    let text = || TextColumn {
        dictionary: Vec::new(),
        codes: Vec::new(),
    };
    match kind {
        ValueKind::Null => ColumnValues::AllNull,
        ValueKind::Boolean => ColumnValues::Booleans(Vec::new()),
        ValueKind::Int => ColumnValues::Ints(Vec::new()),
        ValueKind::Float => ColumnValues::Floats(Vec::new()),
        ValueKind::Money => ColumnValues::Money(Vec::new()),
        ValueKind::Decimal => ColumnValues::Decimals(text()),
        ValueKind::Text => ColumnValues::Texts(text()),
        ValueKind::Date => ColumnValues::Dates(Vec::new()),
        ValueKind::Timestamp => ColumnValues::Timestamps(Vec::new()),
    }
}

/// Whether `cell` can be stored in a column of `kind` (null always can; an
/// int widens into a float column).
fn fits(kind: ValueKind, cell: Cell<'_>) -> bool {
    matches!(
        (kind, cell),
        (_, Cell::Null)
            | (ValueKind::Boolean, Cell::Boolean(_))
            | (ValueKind::Int, Cell::Int(_))
            | (ValueKind::Float, Cell::Float(_) | Cell::Int(_))
            | (ValueKind::Money, Cell::Money(_))
            | (ValueKind::Decimal, Cell::Decimal(_))
            | (ValueKind::Text, Cell::Text(_))
            | (ValueKind::Date, Cell::Date(_))
            | (ValueKind::Timestamp, Cell::Timestamp(_))
    )
}

/// Appends the cell of row `row` (the column's current length) to `column`.
/// The caller has checked [`fits`]. `intern` returns the code of a string
/// in a text column's dictionary, adding it if needed.
fn push_cell(
    column: &mut Column,
    row: u32,
    cell: Cell<'_>,
    intern: &mut dyn FnMut(&mut TextColumn, &str) -> u32,
) {
    if let ColumnValues::AllNull = column.values {
        if cell.is_null() || column.kind == ValueKind::Null {
            return;
        }
        // The first value of a column that was all null so far: store the
        // earlier rows as null placeholders.
        column.values = empty_values(column.kind);
        column.nulls = (0..row).collect();
        for _ in 0..row {
            push_placeholder(&mut column.values);
        }
    }
    match (&mut column.values, cell) {
        (values, Cell::Null) => {
            column.nulls.push(row);
            push_placeholder(values);
        }
        (ColumnValues::Booleans(v), Cell::Boolean(b)) => v.push(b),
        (ColumnValues::Ints(v), Cell::Int(n)) => v.push(n),
        (ColumnValues::Floats(v), Cell::Float(x)) => v.push(x),
        (ColumnValues::Floats(v), Cell::Int(n)) => v.push(n as f64),
        (ColumnValues::Money(v), Cell::Money(fen)) => v.push(fen),
        (ColumnValues::Decimals(t), Cell::Decimal(s)) | (ColumnValues::Texts(t), Cell::Text(s)) => {
            let code = intern(t, s);
            t.codes.push(code);
        }
        (ColumnValues::Dates(v), Cell::Date(d)) => v.push(d),
        (ColumnValues::Timestamps(v), Cell::Timestamp(t)) => v.push(t),
        (_, cell) => unreachable!("checked by `fits`: {cell:?} in a {:?} column", column.kind),
    }
}

/// The placeholder of a null row. A text placeholder is code 0, so an empty
/// dictionary gets an entry (every code must index the dictionary).
fn push_placeholder(values: &mut ColumnValues) {
    match values {
        ColumnValues::AllNull => {}
        ColumnValues::Booleans(v) => v.push(false),
        ColumnValues::Ints(v) | ColumnValues::Money(v) | ColumnValues::Timestamps(v) => v.push(0),
        ColumnValues::Floats(v) => v.push(0.0),
        ColumnValues::Decimals(t) | ColumnValues::Texts(t) => {
            if t.dictionary.is_empty() {
                t.dictionary.push(String::new());
            }
            t.codes.push(0);
        }
        ColumnValues::Dates(v) => v.push(Date::new(0, 0, 0)),
    }
}

/// How many dictionary entries [`DataTable::push_row`] searches for a
/// repeated string before it just appends (dictionaries need not be
/// distinct; this keeps building a large table linear).
const SCAN_LIMIT: usize = 256;

fn intern_by_scan(t: &mut TextColumn, s: &str) -> u32 {
    if let Some(code) = t.dictionary.iter().take(SCAN_LIMIT).position(|d| d == s) {
        return code as u32;
    }
    t.dictionary.push(s.to_string());
    (t.dictionary.len() - 1) as u32
}

impl DataTable {
    /// An empty table with `(name, kind)` columns; add rows with
    /// [`DataTable::row`] / [`DataTable::push_row`].
    ///
    /// ```
    /// # use zhiyun_sdk::*;
    /// let evidence = DataTable::new([("acct_no", ValueKind::Text), ("closing", ValueKind::Money)])
    ///     .row(vec![Value::text("6222"), Value::money(12_345)])
    ///     .row(vec![Value::text("6223"), Value::Null]);
    /// assert_eq!(evidence.row_count, 2);
    /// ```
    pub fn new<I, S>(columns: I) -> Self
    where
        I: IntoIterator<Item = (S, ValueKind)>,
        S: Into<String>,
    {
        DataTable {
            row_count: 0,
            columns: columns
                .into_iter()
                .map(|(name, kind)| Column {
                    name: name.into(),
                    kind,
                    values: empty_values(kind),
                    nulls: Vec::new(),
                })
                .collect(),
        }
    }

    /// Adds a row (one value per column, each of its column's kind or null).
    ///
    /// # Panics
    ///
    /// If the row does not fit (see [`DataTable::try_push_row`]): a bug in
    /// the app, reported by the host as a crash with this message.
    pub fn row(mut self, values: Vec<Value>) -> Self {
        self.push_row(values);
        self
    }

    /// Like [`DataTable::row`].
    pub fn push_row(&mut self, values: Vec<Value>) {
        if let Err(e) = self.try_push_row(&values) {
            panic!("{}", e.message());
        }
    }

    /// Adds a row, or says why it does not fit and leaves the table as it
    /// was: the number of values must be the number of columns, and each
    /// value must be null or of its column's kind (an int is widened into a
    /// float column).
    pub fn try_push_row(&mut self, values: &[Value]) -> Result<(), AppError> {
        if values.len() != self.columns.len() {
            return Err(AppError::invalid_input(format!(
                "a row of {} values for a table of {} columns",
                values.len(),
                self.columns.len()
            )));
        }
        let row = self.row_count;
        if row == u32::MAX {
            return Err(AppError::quota_exceeded(
                "a table holds at most 2^32 - 1 rows",
            ));
        }
        for (column, value) in self.columns.iter().zip(values) {
            if !fits(column.kind, Cell::of(value)) {
                return Err(AppError::invalid_input(format!(
                    "column `{}` is {}; it cannot hold {}",
                    column.name,
                    kind_name(column.kind),
                    value.describe()
                )));
            }
        }
        for (column, value) in self.columns.iter_mut().zip(values) {
            push_cell(column, row, Cell::of(value), &mut intern_by_scan);
        }
        self.row_count += 1;
        Ok(())
    }

    /// A table with the same columns and the given rows of this one, in that
    /// order. Each text column gets a dictionary of the strings it still
    /// uses. Indices past the end are skipped.
    pub fn select_rows(&self, rows: &[usize]) -> DataTable {
        let rows: Vec<usize> = rows
            .iter()
            .copied()
            .filter(|&r| r < self.row_count as usize)
            .collect();
        let columns = self
            .columns
            .iter()
            .map(|source| {
                let mut column = Column {
                    name: source.name.clone(),
                    kind: source.kind,
                    values: empty_values(source.kind),
                    nulls: Vec::new(),
                };
                let mut index: HashMap<String, u32> = HashMap::new();
                let mut intern = |t: &mut TextColumn, s: &str| -> u32 {
                    if let Some(&code) = index.get(s) {
                        return code;
                    }
                    t.dictionary.push(s.to_string());
                    let code = (t.dictionary.len() - 1) as u32;
                    index.insert(s.to_string(), code);
                    code
                };
                for (k, &r) in rows.iter().enumerate() {
                    let cell = match cell_at(source, r) {
                        Some(cell) if fits(column.kind, cell) => cell,
                        _ => Cell::Null,
                    };
                    push_cell(&mut column, k as u32, cell, &mut intern);
                }
                column
            })
            .collect();
        DataTable {
            row_count: rows.len() as u32,
            columns,
        }
    }
}
