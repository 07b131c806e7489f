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

pub(crate) fn table_to_wit(t: c::DataTable) -> wt::DataTable {
    wt::DataTable {
        columns: t
            .columns
            .into_iter()
            .map(|col| wt::ColumnMeta {
                name: col.name,
                kind: kind_to_wit(col.kind),
            })
            .collect(),
        rows: t
            .rows
            .into_iter()
            .map(|r| r.into_iter().map(value_to_wit).collect())
            .collect(),
    }
}

fn table_from_wit(t: wt::DataTable) -> c::DataTable {
    c::DataTable {
        columns: t
            .columns
            .into_iter()
            .map(|col| c::ColumnMeta {
                name: col.name,
                kind: kind_from_wit(col.kind),
            })
            .collect(),
        rows: t
            .rows
            .into_iter()
            .map(|r| r.into_iter().map(value_from_wit).collect())
            .collect(),
    }
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

pub(crate) fn findings_from_wit(fs: Vec<wf::Finding>) -> Vec<c::Finding> {
    fs.into_iter()
        .map(|f| c::Finding {
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
            evidence: table_from_wit(f.evidence),
        })
        .collect()
}
