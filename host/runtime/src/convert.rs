//! Conversions between the generated wasmtime bindings and the plain types of
//! `zhiyun-contract`. Mechanical on purpose: one function per type, so a WIT
//! change that is not mirrored fails to compile here.

use crate::bindings::alert_rule::zhiyun::app::findings as wf;
use crate::bindings::imports::zhiyun::app::{context, data, log, types as wt};
use crate::bindings::report::zhiyun::app::document as wd;
use crate::bindings::scenario::zhiyun::app::view as wv;
use zhiyun_contract as c;

// ---- values, errors, tables (both directions) --------------------------

pub(crate) fn value_from_wit(v: wt::Value) -> c::Value {
    match v {
        wt::Value::Null => c::Value::Null,
        wt::Value::Boolean(b) => c::Value::Boolean(b),
        wt::Value::Int(i) => c::Value::Int(i),
        wt::Value::Float(f) => c::Value::Float(f),
        wt::Value::Money(m) => c::Value::Money(m),
        wt::Value::Decimal(s) => c::Value::Decimal(s),
        wt::Value::Text(s) => c::Value::Text(s),
        wt::Value::Date(d) => c::Value::Date(c::Date::new(d.year, d.month, d.day)),
        wt::Value::Timestamp(t) => c::Value::Timestamp(t),
    }
}

pub(crate) fn value_to_wit(v: c::Value) -> wt::Value {
    match v {
        c::Value::Null => wt::Value::Null,
        c::Value::Boolean(b) => wt::Value::Boolean(b),
        c::Value::Int(i) => wt::Value::Int(i),
        c::Value::Float(f) => wt::Value::Float(f),
        c::Value::Money(m) => wt::Value::Money(m),
        c::Value::Decimal(s) => wt::Value::Decimal(s),
        c::Value::Text(s) => wt::Value::Text(s),
        c::Value::Date(d) => wt::Value::Date(wt::Date {
            year: d.year,
            month: d.month,
            day: d.day,
        }),
        c::Value::Timestamp(t) => wt::Value::Timestamp(t),
    }
}

fn kind_from_wit(k: wt::ValueKind) -> c::ValueKind {
    match k {
        wt::ValueKind::Null => c::ValueKind::Null,
        wt::ValueKind::Boolean => c::ValueKind::Boolean,
        wt::ValueKind::Int => c::ValueKind::Int,
        wt::ValueKind::Float => c::ValueKind::Float,
        wt::ValueKind::Money => c::ValueKind::Money,
        wt::ValueKind::Decimal => c::ValueKind::Decimal,
        wt::ValueKind::Text => c::ValueKind::Text,
        wt::ValueKind::Date => c::ValueKind::Date,
        wt::ValueKind::Timestamp => c::ValueKind::Timestamp,
    }
}

fn kind_to_wit(k: c::ValueKind) -> wt::ValueKind {
    match k {
        c::ValueKind::Null => wt::ValueKind::Null,
        c::ValueKind::Boolean => wt::ValueKind::Boolean,
        c::ValueKind::Int => wt::ValueKind::Int,
        c::ValueKind::Float => wt::ValueKind::Float,
        c::ValueKind::Money => wt::ValueKind::Money,
        c::ValueKind::Decimal => wt::ValueKind::Decimal,
        c::ValueKind::Text => wt::ValueKind::Text,
        c::ValueKind::Date => wt::ValueKind::Date,
        c::ValueKind::Timestamp => wt::ValueKind::Timestamp,
    }
}

pub(crate) fn error_from_wit(e: wt::AppError) -> c::AppError {
    match e {
        wt::AppError::AccessDenied(m) => c::AppError::access_denied(m),
        wt::AppError::NotFound(m) => c::AppError::not_found(m),
        wt::AppError::InvalidInput(m) => c::AppError::invalid_input(m),
        wt::AppError::QuotaExceeded(m) => c::AppError::quota_exceeded(m),
        wt::AppError::Timeout(m) => c::AppError::timeout(m),
        wt::AppError::Internal(m) => c::AppError::internal(m),
    }
}

pub(crate) fn error_to_wit(e: c::AppError) -> wt::AppError {
    let m = e.message;
    match e.kind {
        c::ErrorKind::AccessDenied => wt::AppError::AccessDenied(m),
        c::ErrorKind::NotFound => wt::AppError::NotFound(m),
        c::ErrorKind::InvalidInput => wt::AppError::InvalidInput(m),
        c::ErrorKind::QuotaExceeded => wt::AppError::QuotaExceeded(m),
        c::ErrorKind::Timeout => wt::AppError::Timeout(m),
        c::ErrorKind::Internal => wt::AppError::Internal(m),
    }
}

// ---- tables -------------------------------------------------------------
//
// The contract crate keeps tables row-major (providers and JSON stay simple);
// the WIT `data-table` is column-major with dictionary-encoded text, so a
// query result crosses into the guest as a few flat lists.

/// The name of a kind as the WIT spells it, for messages.
fn kind_label(k: c::ValueKind) -> &'static str {
    match k {
        c::ValueKind::Null => "null",
        c::ValueKind::Boolean => "boolean",
        c::ValueKind::Int => "int",
        c::ValueKind::Float => "float",
        c::ValueKind::Money => "money",
        c::ValueKind::Decimal => "decimal",
        c::ValueKind::Text => "text",
        c::ValueKind::Date => "date",
        c::ValueKind::Timestamp => "timestamp",
    }
}

/// Converts a provider's row-major table into the WIT's columnar form, in
/// one pass over the rows (each row's values are read together).
///
/// Fails (with a message for an internal error: providers never do this) if
/// a row has the wrong number of values, a cell's kind is not its column's,
/// or the table has more rows than a `u32` counts. A column of kind `null`
/// (kind unknown) takes the kind of its first non-null value.
pub(crate) fn table_to_wit(t: c::DataTable) -> Result<wt::DataTable, String> {
    let rows = &t.rows;
    let row_count = u32::try_from(rows.len())
        .map_err(|_| format!("a table of {} rows is too large to pass", rows.len()))?;
    let width = t.columns.len();
    let kinds: Vec<c::ValueKind> = t
        .columns
        .iter()
        .enumerate()
        .map(|(j, meta)| match meta.kind {
            c::ValueKind::Null => rows
                .iter()
                .filter_map(|r| r.get(j))
                .map(c::Value::kind)
                .find(|k| *k != c::ValueKind::Null)
                .unwrap_or(c::ValueKind::Null),
            k => k,
        })
        .collect();
    let mut builders: Vec<ColumnBuilder<'_>> = kinds
        .iter()
        .map(|&k| ColumnBuilder::new(k, rows.len()))
        .collect();
    let mut nulls: Vec<Vec<u32>> = vec![Vec::new(); width];
    for (i, row) in rows.iter().enumerate() {
        if row.len() != width {
            return Err(format!(
                "row {i} has {} values for {width} columns",
                row.len()
            ));
        }
        for (j, value) in row.iter().enumerate() {
            if let c::Value::Null = value {
                nulls[j].push(i as u32);
                builders[j].push_placeholder();
            } else if !builders[j].push(value) {
                return Err(format!(
                    "column `{}` is {} but row {i} holds a {} value",
                    t.columns[j].name,
                    kind_label(kinds[j]),
                    kind_label(value.kind())
                ));
            }
        }
    }
    let columns = t
        .columns
        .iter()
        .zip(kinds)
        .zip(builders)
        .zip(nulls)
        .map(|(((meta, kind), builder), mut nulls)| {
            // A column whose rows are all null is `all-null` (a text column
            // would otherwise carry codes into an empty dictionary).
            let values = if !rows.is_empty() && nulls.len() == rows.len() {
                wt::ColumnValues::AllNull
            } else {
                builder.finish()
            };
            if let wt::ColumnValues::AllNull = values {
                nulls = Vec::new();
            }
            wt::Column {
                name: meta.name.clone(),
                kind: kind_to_wit(kind),
                values,
                nulls,
            }
        })
        .collect();
    Ok(wt::DataTable { row_count, columns })
}

/// The values of one column while [`table_to_wit`] reads the rows.
enum ColumnBuilder<'a> {
    AllNull,
    Booleans(Vec<bool>),
    Ints(Vec<i64>),
    Floats(Vec<f64>),
    Money(Vec<i64>),
    Decimals(DictionaryBuilder<'a>),
    Texts(DictionaryBuilder<'a>),
    Dates(Vec<wt::Date>),
    Timestamps(Vec<i64>),
}

/// A text column being dictionary-encoded: each distinct string is copied
/// once; the index borrows the strings from the provider's rows.
struct DictionaryBuilder<'a> {
    // foldhash: several times faster than SipHash on short strings, and
    // randomly seeded, so crafted data cannot force collisions.
    index: foldhash::HashMap<&'a str, u32>,
    dictionary: Vec<String>,
    codes: Vec<u32>,
}

impl<'a> DictionaryBuilder<'a> {
    fn new(rows: usize) -> Self {
        Self {
            index: Default::default(),
            dictionary: Vec::new(),
            codes: Vec::with_capacity(rows),
        }
    }

    fn push(&mut self, s: &'a str) {
        let dictionary = &mut self.dictionary;
        let code = *self.index.entry(s).or_insert_with(|| {
            dictionary.push(s.to_owned());
            (dictionary.len() - 1) as u32
        });
        self.codes.push(code);
    }

    fn finish(self) -> wt::TextColumn {
        wt::TextColumn {
            dictionary: self.dictionary,
            codes: self.codes,
        }
    }
}

impl<'a> ColumnBuilder<'a> {
    fn new(kind: c::ValueKind, rows: usize) -> Self {
        match kind {
            c::ValueKind::Null => Self::AllNull,
            c::ValueKind::Boolean => Self::Booleans(Vec::with_capacity(rows)),
            c::ValueKind::Int => Self::Ints(Vec::with_capacity(rows)),
            c::ValueKind::Float => Self::Floats(Vec::with_capacity(rows)),
            c::ValueKind::Money => Self::Money(Vec::with_capacity(rows)),
            c::ValueKind::Decimal => Self::Decimals(DictionaryBuilder::new(rows)),
            c::ValueKind::Text => Self::Texts(DictionaryBuilder::new(rows)),
            c::ValueKind::Date => Self::Dates(Vec::with_capacity(rows)),
            c::ValueKind::Timestamp => Self::Timestamps(Vec::with_capacity(rows)),
        }
    }

    /// Appends a non-null value; `false` if it is not of the column's kind.
    fn push(&mut self, value: &'a c::Value) -> bool {
        use c::Value as V;
        match (self, value) {
            (Self::Booleans(v), V::Boolean(b)) => v.push(*b),
            (Self::Ints(v), V::Int(n)) => v.push(*n),
            (Self::Floats(v), V::Float(x)) => v.push(*x),
            (Self::Money(v), V::Money(fen)) => v.push(*fen),
            (Self::Decimals(d), V::Decimal(s)) | (Self::Texts(d), V::Text(s)) => d.push(s),
            (Self::Dates(v), V::Date(d)) => v.push(wt::Date {
                year: d.year,
                month: d.month,
                day: d.day,
            }),
            (Self::Timestamps(v), V::Timestamp(t)) => v.push(*t),
            _ => return false,
        }
        true
    }

    /// The slot of a null row. A text placeholder is code 0, which is in
    /// range once the column has any string; a column without one is all
    /// null and becomes `all-null`.
    fn push_placeholder(&mut self) {
        match self {
            Self::AllNull => {}
            Self::Booleans(v) => v.push(false),
            Self::Ints(v) | Self::Money(v) | Self::Timestamps(v) => v.push(0),
            Self::Floats(v) => v.push(0.0),
            Self::Decimals(d) | Self::Texts(d) => d.codes.push(0),
            Self::Dates(v) => v.push(wt::Date {
                year: 0,
                month: 0,
                day: 0,
            }),
        }
    }

    fn finish(self) -> wt::ColumnValues {
        use wt::ColumnValues as W;
        match self {
            Self::AllNull => W::AllNull,
            Self::Booleans(v) => W::Booleans(v),
            Self::Ints(v) => W::Ints(v),
            Self::Floats(v) => W::Floats(v),
            Self::Money(v) => W::Money(v),
            Self::Decimals(d) => W::Decimals(d.finish()),
            Self::Texts(d) => W::Texts(d.finish()),
            Self::Dates(v) => W::Dates(v),
            Self::Timestamps(v) => W::Timestamps(v),
        }
    }
}

/// Why a table from a guest was refused.
#[derive(Debug, PartialEq)]
pub(crate) enum TableError {
    /// The table breaks a rule of the WIT `data-table`.
    Malformed(String),
    /// Its row-major form would certainly exceed the output limit.
    TooLarge,
}

/// The least number of bytes a row of `columns` values takes in the JSON
/// the output limit is measured on (`[…]`, a comma, and per cell at least
/// `{"type":"null"}` and a comma). Checked before expanding a guest's table,
/// whose columnar form can be far smaller than its rows (an `all-null`
/// column costs the guest nothing per row).
fn min_json_row_bytes(columns: usize) -> u64 {
    3 + 16 * columns as u64
}

/// Validates a guest's columnar table and expands it into rows. Never
/// panics on malformed input: every length, code and null index is checked
/// first. `budget` is what is left of the output limit for all the tables of
/// one output; the least JSON size of this one (see [`min_json_row_bytes`])
/// is taken from it, so many tables cannot add up past the limit either.
pub(crate) fn table_from_wit(
    t: wt::DataTable,
    budget: &mut u64,
) -> Result<c::DataTable, TableError> {
    let n = t.row_count as usize;
    let least = u64::from(t.row_count) * min_json_row_bytes(t.columns.len());
    if least > *budget {
        return Err(TableError::TooLarge);
    }
    *budget -= least;
    for col in &t.columns {
        validate_column(col, n)
            .map_err(|m| TableError::Malformed(format!("column `{}`: {m}", col.name)))?;
    }
    let mut rows: Vec<Vec<c::Value>> = (0..n)
        .map(|_| Vec::with_capacity(t.columns.len()))
        .collect();
    let mut columns = Vec::with_capacity(t.columns.len());
    for col in t.columns {
        columns.push(c::ColumnMeta {
            name: col.name,
            kind: kind_from_wit(col.kind),
        });
        let mut nulls = col.nulls.iter().map(|&i| i as usize).peekable();
        let mut is_null = |i: usize| {
            let hit = nulls.peek() == Some(&i);
            if hit {
                nulls.next();
            }
            hit
        };
        use c::Value as V;
        use wt::ColumnValues as W;
        let mut fill = |value: &mut dyn FnMut(usize) -> c::Value| {
            for (i, row) in rows.iter_mut().enumerate() {
                row.push(if is_null(i) { V::Null } else { value(i) });
            }
        };
        match col.values {
            W::AllNull => fill(&mut |_| V::Null),
            W::Booleans(v) => fill(&mut |i| V::Boolean(v[i])),
            W::Ints(v) => fill(&mut |i| V::Int(v[i])),
            W::Floats(v) => fill(&mut |i| V::Float(v[i])),
            W::Money(v) => fill(&mut |i| V::Money(v[i])),
            // Validated above: every code indexes its dictionary.
            W::Decimals(tc) => {
                fill(&mut |i| V::Decimal(tc.dictionary[tc.codes[i] as usize].clone()))
            }
            W::Texts(tc) => fill(&mut |i| V::Text(tc.dictionary[tc.codes[i] as usize].clone())),
            W::Dates(v) => fill(&mut |i| {
                let d = v[i];
                V::Date(c::Date::new(d.year, d.month, d.day))
            }),
            W::Timestamps(v) => fill(&mut |i| V::Timestamp(v[i])),
        }
    }
    Ok(c::DataTable { columns, rows })
}

/// Checks one column of a guest's table against the rules of the WIT
/// `data-table` (lengths, kind, codes, null indices).
fn validate_column(col: &wt::Column, n: usize) -> Result<(), String> {
    use wt::ColumnValues as W;
    let (len, case) = match &col.values {
        W::AllNull => (n, wt::ValueKind::Null),
        W::Booleans(v) => (v.len(), wt::ValueKind::Boolean),
        W::Ints(v) => (v.len(), wt::ValueKind::Int),
        W::Floats(v) => (v.len(), wt::ValueKind::Float),
        W::Money(v) => (v.len(), wt::ValueKind::Money),
        W::Decimals(t) => (t.codes.len(), wt::ValueKind::Decimal),
        W::Texts(t) => (t.codes.len(), wt::ValueKind::Text),
        W::Dates(v) => (v.len(), wt::ValueKind::Date),
        W::Timestamps(v) => (v.len(), wt::ValueKind::Timestamp),
    };
    let kind = kind_from_wit(col.kind);
    if case != wt::ValueKind::Null && kind_to_wit(kind) != case {
        return Err(format!(
            "the column is {} but holds {} values",
            kind_label(kind),
            kind_label(kind_from_wit(case))
        ));
    }
    if len != n {
        return Err(format!("{len} values for {n} rows"));
    }
    if let W::Decimals(t) | W::Texts(t) = &col.values
        && let Some((i, code)) = t
            .codes
            .iter()
            .enumerate()
            .find(|(_, c)| **c as usize >= t.dictionary.len())
    {
        return Err(format!(
            "row {i} has code {code}, outside its dictionary of {} strings",
            t.dictionary.len()
        ));
    }
    if matches!(col.values, W::AllNull) && !col.nulls.is_empty() {
        return Err("an all-null column lists null rows; `nulls` must be empty".into());
    }
    let mut previous: Option<u32> = None;
    for &i in &col.nulls {
        if i as usize >= n {
            return Err(format!("null row {i} is out of range ({n} rows)"));
        }
        if previous.is_some_and(|p| p >= i) {
            return Err(format!(
                "null rows are not strictly ascending ({} then {i})",
                previous.unwrap_or_default()
            ));
        }
        previous = Some(i);
    }
    Ok(())
}

pub(crate) fn param_to_wit(p: c::Param) -> wt::Param {
    wt::Param {
        name: p.name,
        value: value_to_wit(p.value),
    }
}

fn param_from_wit(p: wt::Param) -> c::Param {
    c::Param {
        name: p.name,
        value: value_from_wit(p.value),
    }
}

// ---- imports: app → host ------------------------------------------------

pub(crate) fn query_from_wit(q: data::SemanticQuery) -> c::SemanticQuery {
    c::SemanticQuery {
        dataset: q.dataset,
        dimensions: q.dimensions,
        measures: q.measures,
        filters: q
            .filters
            .into_iter()
            .map(|f| c::Filter {
                field: f.field,
                op: match f.op {
                    data::FilterOp::Eq => c::FilterOp::Eq,
                    data::FilterOp::Ne => c::FilterOp::Ne,
                    data::FilterOp::Lt => c::FilterOp::Lt,
                    data::FilterOp::Le => c::FilterOp::Le,
                    data::FilterOp::Gt => c::FilterOp::Gt,
                    data::FilterOp::Ge => c::FilterOp::Ge,
                    data::FilterOp::InList => c::FilterOp::InList,
                    data::FilterOp::Between => c::FilterOp::Between,
                    data::FilterOp::Like => c::FilterOp::Like,
                },
                values: f.values.into_iter().map(value_from_wit).collect(),
            })
            .collect(),
        order: q
            .order
            .into_iter()
            .map(|o| c::OrderBy {
                field: o.field,
                descending: o.descending,
            })
            .collect(),
        limit: q.limit,
    }
}

pub(crate) fn level_from_wit(l: log::Level) -> c::LogLevel {
    match l {
        log::Level::Trace => c::LogLevel::Trace,
        log::Level::Debug => c::LogLevel::Debug,
        log::Level::Info => c::LogLevel::Info,
        log::Level::Warn => c::LogLevel::Warn,
        log::Level::Error => c::LogLevel::Error,
    }
}

pub(crate) fn invocation_to_wit(i: &c::Invocation) -> context::Invocation {
    context::Invocation {
        user_id: i.user_id.clone(),
        user_name: i.user_name.clone(),
        org_id: i.org_id.clone(),
        org_name: i.org_name.clone(),
        locale: i.locale.clone(),
        now: i.now,
        app_id: i.app_id.clone(),
        app_version: i.app_version.clone(),
        request_id: i.request_id.clone(),
    }
}

// ---- exports: app → host ------------------------------------------------

fn format_from_wit(f: wt::NumberFormat) -> c::NumberFormat {
    match f {
        wt::NumberFormat::Plain => c::NumberFormat::Plain,
        wt::NumberFormat::Thousands => c::NumberFormat::Thousands,
        wt::NumberFormat::Fixed(n) => c::NumberFormat::Fixed(n),
        wt::NumberFormat::Yuan => c::NumberFormat::Yuan,
        wt::NumberFormat::WanYuan(n) => c::NumberFormat::WanYuan(n),
        wt::NumberFormat::YiYuan(n) => c::NumberFormat::YiYuan(n),
        wt::NumberFormat::Percent(n) => c::NumberFormat::Percent(n),
    }
}

fn parameter_from_wit(p: wt::ParameterSpec) -> c::ParameterSpec {
    c::ParameterSpec {
        name: p.name,
        label: p.label,
        kind: match p.kind {
            wt::ControlKind::OrgPicker => c::ControlKind::OrgPicker,
            wt::ControlKind::PeriodPicker(g) => c::ControlKind::PeriodPicker(match g {
                wt::PeriodGrain::Year => c::PeriodGrain::Year,
                wt::PeriodGrain::Quarter => c::PeriodGrain::Quarter,
                wt::PeriodGrain::Month => c::PeriodGrain::Month,
                wt::PeriodGrain::Day => c::PeriodGrain::Day,
            }),
            wt::ControlKind::Select(choices) => c::ControlKind::Select(
                choices
                    .into_iter()
                    .map(|ch| c::Choice {
                        key: ch.key,
                        label: ch.label,
                    })
                    .collect(),
            ),
            wt::ControlKind::TextInput => c::ControlKind::TextInput,
            wt::ControlKind::NumberInput => c::ControlKind::NumberInput,
            wt::ControlKind::DatePicker => c::ControlKind::DatePicker,
            wt::ControlKind::Toggle => c::ControlKind::Toggle,
        },
        default_value: value_from_wit(p.default_value),
        required: p.required,
    }
}

pub(crate) fn description_from_wit(d: wt::Description) -> c::Description {
    c::Description {
        title: d.title,
        summary: d.summary,
        parameters: d.parameters.into_iter().map(parameter_from_wit).collect(),
    }
}

fn drill_from_wit(d: Option<wv::DrillTarget>) -> Option<c::DrillTarget> {
    d.map(|d| c::DrillTarget {
        param: d.param,
        level_label: d.level_label,
    })
}

fn block_from_wit(b: wv::Block) -> c::Block {
    match b {
        wv::Block::Kpis(cards) => c::Block::Kpis(
            cards
                .into_iter()
                .map(|k| c::KpiCard {
                    id: k.id,
                    label: k.label,
                    value: value_from_wit(k.value),
                    format: format_from_wit(k.format),
                    comparison: k.comparison,
                    trend: k.trend.map(|t| match t {
                        wv::Trend::Up => c::Trend::Up,
                        wv::Trend::Down => c::Trend::Down,
                        wv::Trend::Flat => c::Trend::Flat,
                    }),
                    status: k.status.map(|s| match s {
                        wv::Status::Normal => c::Status::Normal,
                        wv::Status::Warning => c::Status::Warning,
                        wv::Status::Critical => c::Status::Critical,
                    }),
                    drill: drill_from_wit(k.drill),
                })
                .collect(),
        ),
        wv::Block::Chart(ch) => c::Block::Chart(c::Chart {
            id: ch.id,
            title: ch.title,
            kind: match ch.kind {
                wv::ChartKind::Line => c::ChartKind::Line,
                wv::ChartKind::Bar => c::ChartKind::Bar,
                wv::ChartKind::StackedBar => c::ChartKind::StackedBar,
                wv::ChartKind::HorizontalBar => c::ChartKind::HorizontalBar,
                wv::ChartKind::Area => c::ChartKind::Area,
                wv::ChartKind::Pie => c::ChartKind::Pie,
                wv::ChartKind::Scatter => c::ChartKind::Scatter,
            },
            categories: ch
                .categories
                .into_iter()
                .map(|cat| c::Category {
                    key: cat.key,
                    label: cat.label,
                })
                .collect(),
            series: ch
                .series
                .into_iter()
                .map(|s| c::Series {
                    name: s.name,
                    points: s.points.into_iter().map(value_from_wit).collect(),
                })
                .collect(),
            format: format_from_wit(ch.format),
            drill: drill_from_wit(ch.drill),
        }),
        wv::Block::Table(t) => c::Block::Table(c::Table {
            id: t.id,
            title: t.title,
            columns: t
                .columns
                .into_iter()
                .map(|col| c::TableColumn {
                    key: col.key,
                    label: col.label,
                    format: format_from_wit(col.format),
                    align: match col.align {
                        wv::Align::Left => c::Align::Left,
                        wv::Align::Center => c::Align::Center,
                        wv::Align::Right => c::Align::Right,
                    },
                    sortable: col.sortable,
                })
                .collect(),
            rows: t
                .rows
                .into_iter()
                .map(|r| c::TableRow {
                    key: r.key,
                    cells: r.cells.into_iter().map(value_from_wit).collect(),
                })
                .collect(),
            drill: drill_from_wit(t.drill),
        }),
        wv::Block::Text(t) => c::Block::Text(c::TextBlock {
            title: t.title,
            body: t.body,
            tone: match t.tone {
                wv::Tone::Neutral => c::Tone::Neutral,
                wv::Tone::Info => c::Tone::Info,
                wv::Tone::Positive => c::Tone::Positive,
                wv::Tone::Warning => c::Tone::Warning,
                wv::Tone::Negative => c::Tone::Negative,
            },
        }),
    }
}

pub(crate) fn view_from_wit(v: wv::View) -> c::View {
    c::View {
        title: v.title,
        subtitle: v.subtitle,
        filters: v.filters.into_iter().map(parameter_from_wit).collect(),
        blocks: v.blocks.into_iter().map(block_from_wit).collect(),
    }
}

pub(crate) fn document_from_wit(d: wd::Document) -> c::Document {
    c::Document {
        title: d.title,
        subtitle: d.subtitle,
        parameters: d.parameters.into_iter().map(param_from_wit).collect(),
        header: d
            .header
            .into_iter()
            .map(|row| {
                row.into_iter()
                    .map(|h| c::HeaderCell {
                        label: h.label,
                        col_span: h.col_span,
                        row_span: h.row_span,
                    })
                    .collect()
            })
            .collect(),
        columns: d
            .columns
            .into_iter()
            .map(|col| c::ReportColumn {
                key: col.key,
                format: format_from_wit(col.format),
            })
            .collect(),
        rows: d
            .rows
            .into_iter()
            .map(|r| c::ReportRow {
                cells: r.cells.into_iter().map(value_from_wit).collect(),
                level: r.level,
                style: match r.style {
                    wd::RowStyle::Normal => c::RowStyle::Normal,
                    wd::RowStyle::Subtotal => c::RowStyle::Subtotal,
                    wd::RowStyle::Total => c::RowStyle::Total,
                    wd::RowStyle::Heading => c::RowStyle::Heading,
                },
            })
            .collect(),
        footnotes: d.footnotes,
    }
}

/// The findings of an alert rule. A malformed evidence table fails the
/// whole output, naming the finding; `max_bytes` is the output limit.
pub(crate) fn findings_from_wit(
    fs: Vec<wf::Finding>,
    max_bytes: usize,
) -> Result<Vec<c::Finding>, TableError> {
    let mut budget = max_bytes as u64;
    fs.into_iter()
        .enumerate()
        .map(|(n, f)| {
            let evidence = table_from_wit(f.evidence, &mut budget).map_err(|e| match e {
                TableError::Malformed(m) => TableError::Malformed(format!(
                    "the evidence of finding #{n} (`{}`) is malformed: {m}",
                    f.fingerprint
                )),
                too_large => too_large,
            })?;
            Ok(c::Finding {
                fingerprint: f.fingerprint,
                org_id: f.org_id,
                severity: match f.severity {
                    wf::Severity::Red => c::Severity::Red,
                    wf::Severity::Orange => c::Severity::Orange,
                    wf::Severity::Yellow => c::Severity::Yellow,
                },
                message: f.message,
                observed: value_from_wit(f.observed),
                threshold: value_from_wit(f.threshold),
                evidence,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use c::{Value as V, ValueKind as K};
    use wt::ColumnValues as W;

    const BIG: usize = usize::MAX;

    fn unlimited() -> u64 {
        u64::MAX
    }

    fn table(columns: &[(&str, K)], rows: Vec<Vec<V>>) -> c::DataTable {
        c::DataTable {
            columns: columns
                .iter()
                .map(|(name, kind)| c::ColumnMeta {
                    name: name.to_string(),
                    kind: *kind,
                })
                .collect(),
            rows,
        }
    }

    fn round_trip(t: &c::DataTable) -> c::DataTable {
        let wit = table_to_wit(t.clone()).expect("converts");
        table_from_wit(wit, &mut unlimited()).expect("a table the host built is valid")
    }

    fn text(s: &str) -> V {
        V::Text(s.into())
    }

    #[test]
    fn every_kind_round_trips_with_nulls() {
        let all = [
            ("b", K::Boolean),
            ("i", K::Int),
            ("f", K::Float),
            ("m", K::Money),
            ("d", K::Decimal),
            ("t", K::Text),
            ("dt", K::Date),
            ("ts", K::Timestamp),
            ("n", K::Null),
        ];
        let full = |k: i64| {
            vec![
                V::Boolean(k % 2 == 0),
                V::Int(k),
                V::Float(k as f64 / 4.0),
                V::Money(k * 100),
                V::Decimal(format!("0.{k:04}")),
                text(&format!("t{}", k % 2)),
                V::Date(c::Date::new(2026, 11, (k + 1) as u8)),
                V::Timestamp(k * 1_000_000),
                V::Null,
            ]
        };
        let rows = vec![
            vec![V::Null; 9],
            full(1),
            full(2),
            vec![V::Null; 9],
            full(3),
        ];
        let t = table(&all, rows);
        assert_eq!(round_trip(&t), t);

        let wit = table_to_wit(t).unwrap();
        assert_eq!(wit.row_count, 5);
        for col in &wit.columns[..8] {
            assert_eq!(col.nulls, [0, 3], "{}", col.name);
        }
        assert!(matches!(wit.columns[8].values, W::AllNull));
        assert!(wit.columns[8].nulls.is_empty());
        let W::Money(money) = &wit.columns[3].values else {
            panic!("money column")
        };
        assert_eq!(money, &[0, 100, 200, 0, 300]);
    }

    #[test]
    fn text_is_dictionary_encoded() {
        let t = table(
            &[("org", K::Text), ("amount", K::Money)],
            ["3301", "3302", "3301", "3301", "3303", "3302"]
                .iter()
                .enumerate()
                .map(|(i, org)| vec![text(org), V::Money(i as i64)])
                .collect(),
        );
        let wit = table_to_wit(t.clone()).unwrap();
        let W::Texts(tc) = &wit.columns[0].values else {
            panic!("a text column")
        };
        assert_eq!(tc.dictionary, ["3301", "3302", "3303"]);
        assert_eq!(tc.codes, [0, 1, 0, 0, 2, 1]);
        assert_eq!(round_trip(&t), t);
    }

    #[test]
    fn a_guest_may_reuse_dictionary_entries() {
        // Duplicate entries and codes shared by many rows are allowed.
        let wit = wt::DataTable {
            row_count: 3,
            columns: vec![wt::Column {
                name: "org".into(),
                kind: wt::ValueKind::Text,
                values: W::Texts(wt::TextColumn {
                    dictionary: vec!["a".into(), "a".into(), "b".into()],
                    codes: vec![2, 1, 0],
                }),
                nulls: vec![],
            }],
        };
        let t = table_from_wit(wit, &mut unlimited()).unwrap();
        assert_eq!(
            t.rows,
            vec![vec![text("b")], vec![text("a")], vec![text("a")]]
        );
    }

    #[test]
    fn empty_tables_round_trip() {
        let no_rows = table(&[("org", K::Text), ("amount", K::Money)], vec![]);
        assert_eq!(round_trip(&no_rows), no_rows);
        let wit = table_to_wit(no_rows).unwrap();
        assert_eq!(wit.row_count, 0);
        assert!(matches!(&wit.columns[0].values, W::Texts(tc) if tc.dictionary.is_empty()));

        let nothing = c::DataTable::default();
        assert_eq!(round_trip(&nothing), nothing);
        // No columns, yet rows: the count survives.
        let rows_only = table(&[], vec![vec![], vec![]]);
        assert_eq!(table_to_wit(rows_only.clone()).unwrap().row_count, 2);
        assert_eq!(round_trip(&rows_only), rows_only);
    }

    #[test]
    fn a_column_of_nulls_is_all_null() {
        let t = table(&[("org", K::Text)], vec![vec![V::Null], vec![V::Null]]);
        let wit = table_to_wit(t.clone()).unwrap();
        assert!(matches!(wit.columns[0].values, W::AllNull));
        assert!(wit.columns[0].nulls.is_empty());
        assert_eq!(wit.columns[0].kind, wt::ValueKind::Text);
        assert_eq!(round_trip(&t), t);
    }

    #[test]
    fn a_column_of_unknown_kind_takes_its_values_kind() {
        let t = table(&[("x", K::Null)], vec![vec![V::Null], vec![V::Money(5)]]);
        let wit = table_to_wit(t).unwrap();
        assert_eq!(wit.columns[0].kind, wt::ValueKind::Money);
        let back = table_from_wit(wit, &mut unlimited()).unwrap();
        assert_eq!(back.columns[0].kind, K::Money);
        assert_eq!(back.rows, vec![vec![V::Null], vec![V::Money(5)]]);
    }

    #[test]
    fn a_provider_table_that_mixes_kinds_is_an_error() {
        let t = table(
            &[("amount", K::Money)],
            vec![vec![V::Money(1)], vec![V::Int(2)]],
        );
        assert_eq!(
            table_to_wit(t).unwrap_err(),
            "column `amount` is money but row 1 holds a int value"
        );
        let short = table(&[("a", K::Int), ("b", K::Int)], vec![vec![V::Int(1)]]);
        assert_eq!(
            table_to_wit(short).unwrap_err(),
            "row 0 has 1 values for 2 columns"
        );
    }

    fn guest(row_count: u32, values: W, nulls: Vec<u32>, kind: wt::ValueKind) -> wt::DataTable {
        wt::DataTable {
            row_count,
            columns: vec![wt::Column {
                name: "c".into(),
                kind,
                values,
                nulls,
            }],
        }
    }

    fn refused(t: wt::DataTable) -> String {
        match table_from_wit(t, &mut unlimited()) {
            Err(TableError::Malformed(m)) => m,
            other => panic!("expected a malformed table, got {other:?}"),
        }
    }

    #[test]
    fn malformed_guest_tables_are_refused() {
        use wt::ValueKind as WK;
        let texts = |dictionary: &[&str], codes: &[u32]| {
            W::Texts(wt::TextColumn {
                dictionary: dictionary.iter().map(|s| s.to_string()).collect(),
                codes: codes.to_vec(),
            })
        };
        // Lengths other than row-count.
        assert_eq!(
            refused(guest(3, W::Money(vec![1, 2]), vec![], WK::Money)),
            "column `c`: 2 values for 3 rows"
        );
        assert_eq!(
            refused(guest(1, texts(&["a"], &[0, 0]), vec![], WK::Text)),
            "column `c`: 2 values for 1 rows"
        );
        // A code outside the dictionary, also as a placeholder of a null row.
        assert_eq!(
            refused(guest(2, texts(&["a"], &[0, 1]), vec![], WK::Text)),
            "column `c`: row 1 has code 1, outside its dictionary of 1 strings"
        );
        assert!(
            refused(guest(1, texts(&[], &[0]), vec![0], WK::Text))
                .contains("outside its dictionary")
        );
        // Null indices out of range, repeated, descending.
        assert_eq!(
            refused(guest(2, W::Ints(vec![0, 0]), vec![2], WK::Int)),
            "column `c`: null row 2 is out of range (2 rows)"
        );
        assert!(refused(guest(3, W::Ints(vec![0; 3]), vec![1, 1], WK::Int)).contains("ascending"));
        assert!(refused(guest(3, W::Ints(vec![0; 3]), vec![2, 0], WK::Int)).contains("ascending"));
        assert!(refused(guest(3, W::AllNull, vec![0], WK::Int)).contains("`nulls` must be empty"));
        // Values of another kind than the column's.
        assert_eq!(
            refused(guest(1, W::Ints(vec![1]), vec![], WK::Money)),
            "column `c`: the column is money but holds int values"
        );
        assert!(refused(guest(1, W::Floats(vec![1.0]), vec![], WK::Null)).contains("is null"));
        // All-null fits any kind.
        let t = table_from_wit(guest(2, W::AllNull, vec![], WK::Date), &mut unlimited()).unwrap();
        assert_eq!(t.rows, vec![vec![V::Null], vec![V::Null]]);
    }

    #[test]
    fn a_table_too_large_to_output_is_refused_before_expanding() {
        // An all-null column costs the guest nothing per row.
        let t = guest(u32::MAX, W::AllNull, vec![], wt::ValueKind::Text);
        assert_eq!(table_from_wit(t, &mut (4 << 20)), Err(TableError::TooLarge));
        let t = wt::DataTable {
            row_count: u32::MAX,
            columns: vec![],
        };
        assert_eq!(table_from_wit(t, &mut (4 << 20)), Err(TableError::TooLarge));
        let ok = guest(1000, W::AllNull, vec![], wt::ValueKind::Text);
        assert!(table_from_wit(ok, &mut (4 << 20)).is_ok());
        // Many tables share one budget: each fits alone, all together do not.
        let finding = |evidence| wf::Finding {
            fingerprint: "f".into(),
            org_id: "o".into(),
            severity: wf::Severity::Yellow,
            message: "m".into(),
            observed: wt::Value::Null,
            threshold: wt::Value::Null,
            evidence,
        };
        let one = || guest(100_000, W::AllNull, vec![], wt::ValueKind::Text);
        assert!(findings_from_wit(vec![finding(one())], 4 << 20).is_ok());
        assert_eq!(
            findings_from_wit((0..10).map(|_| finding(one())).collect(), 4 << 20).unwrap_err(),
            TableError::TooLarge
        );
    }

    #[test]
    fn findings_name_the_malformed_evidence() {
        let finding = |evidence| wf::Finding {
            fingerprint: "A01:1".into(),
            org_id: "3301".into(),
            severity: wf::Severity::Red,
            message: "m".into(),
            observed: wt::Value::Null,
            threshold: wt::Value::Null,
            evidence,
        };
        let good = guest(1, W::Money(vec![5]), vec![], wt::ValueKind::Money);
        let bad = guest(2, W::Money(vec![5]), vec![], wt::ValueKind::Money);
        let out = findings_from_wit(vec![finding(good.clone())], BIG).unwrap();
        assert_eq!(out[0].evidence.rows, vec![vec![V::Money(5)]]);
        match findings_from_wit(vec![finding(good), finding(bad)], BIG) {
            Err(TableError::Malformed(m)) => assert_eq!(
                m,
                "the evidence of finding #1 (`A01:1`) is malformed: column `c`: 1 values for 2 rows"
            ),
            other => panic!("{other:?}"),
        }
    }
}
