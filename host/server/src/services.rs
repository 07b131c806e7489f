//! Data services (数据服务): an approved dataset query published as an HTTP
//! endpoint, `GET /api/v1/services/<name>`, for scripts and other systems.
//!
//! This module holds what a data service is and does, apart from HTTP:
//!
//! - **The definition** ([`ServiceDefinition`]): a dataset, a semantic
//!   query template (dimensions, measures, fixed filters, order) and the
//!   **parameters** a caller may set, each typed (text, int, money, date,
//!   boolean) and bound to one dataset field with one comparison;
//!   `max_page_size` and `rate_limit_per_minute`. [`ServiceDefinition::check`]
//!   validates it against the dataset's declared shape (the models' or the
//!   built-in demo data's) and names the first field that does not fit.
//! - **Its life cycle** (table `data_services`, migration 7): proposing
//!   files a `data-service` change request and the `proposed` row in one
//!   transaction ([`DataServices::propose`]); approval by someone other
//!   than the author runs [`DataServiceApplier`] in the approval's
//!   transaction — the row becomes `active` and the dataset is granted to
//!   the app id `service:<name>`; [`DataServices::retire`] ends it and
//!   removes the grant.
//! - **A call** ([`DataServices::call`]): the caller's query parameters are
//!   type-checked against the declared ones, the query runs through the
//!   governed path as the caller with the app id `service:<name>` (so the
//!   rows are the caller's data scope ∩ the service's grant, masked as
//!   both allow, and audited as `data.access`), and the result is paged in
//!   a stable order with an opaque page token.
//! - **Rate limits** ([`RateLimiter`]): a token bucket per (API token or
//!   user, service), in this host's memory — so the limit holds per host;
//!   with N hosts behind a balancer a caller can reach N times the rate.
//!
//! Definitions are read from the store at every call, so a retirement on
//! one host stops calls on every host at once.

use crate::governed::GovernedData;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::{AnyConnection, Row};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use zhiyun_authz::change::{BoxFuture, DataServicePublish, is_service_name, service_app_id};
use zhiyun_authz::scope::Sensitivity;
use zhiyun_authz::{
    AuditAction, AuditLog, ChangeApplier, ChangeError, ChangeKind, ChangeRequest, ChangeRequests,
    NewAuditEntry, Policy,
};
use zhiyun_contract::{
    AppError, DataProvider, Date, Filter, FilterOp, Invocation, OrderBy, SemanticQuery, Value,
    ValueKind,
};
use zhiyun_data::FixtureProvider;
use zhiyun_store::{Store, StoreError, now_micros};

/// The largest page a service may declare.
pub const MAX_PAGE_SIZE: u32 = 1000;
/// A service's page size when its author does not say.
pub const DEFAULT_MAX_PAGE_SIZE: u32 = 100;
/// Calls per minute per caller when the author does not say.
pub const DEFAULT_RATE_LIMIT_PER_MINUTE: u32 = 60;
/// The highest rate a service may declare (100 a second).
pub const MAX_RATE_LIMIT_PER_MINUTE: u32 = 6000;
/// The query parameters every service takes besides its own.
pub const PAGE_SIZE: &str = "page_size";
pub const PAGE_TOKEN: &str = "page_token";
/// At most this many values in one `in-list` parameter.
const MAX_LIST_VALUES: usize = 100;
/// The longest value of one parameter, in characters.
const MAX_VALUE_CHARS: usize = 200;
const MAX_TITLE_CHARS: usize = 200;
const MAX_DESCRIPTION_CHARS: usize = 2000;
/// Rate-limit buckets kept at most; full (idle) ones are dropped first.
const MAX_BUCKETS: usize = 10_000;

// ---- errors ------------------------------------------------------------------

/// Why a data service operation was refused or failed. Every refusal
/// changes nothing.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The definition or the call's parameters do not fit (HTTP 400).
    #[error("{0}")]
    Invalid(String),
    /// No such service, or not callable (yet) (HTTP 404).
    #[error("{0}")]
    NotFound(String),
    /// The service was retired (HTTP 410).
    #[error("{0}")]
    Retired(String),
    /// The operation does not fit the service's state (HTTP 409).
    #[error("{message}")]
    Conflict {
        message: String,
        current_state: String,
    },
    /// The caller used up their calls for now (HTTP 429 with Retry-After).
    #[error(
        "rate limit of data service `{service}` reached: {per_minute} calls a minute per caller; \
         try again in {retry_after_secs} s"
    )]
    RateLimited {
        service: String,
        per_minute: u32,
        retry_after_secs: u64,
    },
    /// The governed data path refused or failed the query.
    #[error("{0}")]
    Data(AppError),
    /// The service's definition no longer fits its dataset (the models
    /// changed since it was approved): an administrator must retire it.
    #[error("{0}")]
    OutOfDate(String),
    #[error(transparent)]
    Change(#[from] ChangeError),
    #[error("the data services' stored data is damaged: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for ServiceError {
    fn from(e: sqlx::Error) -> Self {
        ServiceError::Store(StoreError::Database(e))
    }
}

impl From<zhiyun_authz::AuditError> for ServiceError {
    fn from(e: zhiyun_authz::AuditError) -> Self {
        ServiceError::Change(ChangeError::Audit(e))
    }
}

fn invalid(message: impl Into<String>) -> ServiceError {
    ServiceError::Invalid(message.into())
}

// ---- the definition ------------------------------------------------------------

/// The type of a parameter's value, and how it is written in a URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ParamKind {
    /// Any text.
    Text,
    /// A whole number, e.g. `42`.
    Int,
    /// Money in integer fen (分), e.g. `1234500` for 12 345.00 元.
    Money,
    /// `YYYY-MM-DD`.
    Date,
    /// `true` or `false`.
    Boolean,
}

impl ParamKind {
    /// The parameter kind of a column of `kind`, if parameters can be of it.
    fn of(kind: ValueKind) -> Option<ParamKind> {
        Some(match kind {
            ValueKind::Text => ParamKind::Text,
            ValueKind::Int => ParamKind::Int,
            ValueKind::Money => ParamKind::Money,
            ValueKind::Date => ParamKind::Date,
            ValueKind::Boolean => ParamKind::Boolean,
            _ => return None,
        })
    }

    fn as_str(self) -> &'static str {
        match self {
            ParamKind::Text => "text",
            ParamKind::Int => "int",
            ParamKind::Money => "money",
            ParamKind::Date => "date",
            ParamKind::Boolean => "boolean",
        }
    }

    /// What a value must look like, for error messages.
    fn form(self) -> &'static str {
        match self {
            ParamKind::Text => "text",
            ParamKind::Int => "a whole number",
            ParamKind::Money => "integer fen (分), e.g. 1234500 for 12345.00 元",
            ParamKind::Date => "a date YYYY-MM-DD",
            ParamKind::Boolean => "true or false",
        }
    }

    /// One value as written in a URL (or a definition's text form).
    fn parse(self, raw: &str) -> Result<Value, String> {
        if raw.is_empty() {
            return Err("the value is empty".into());
        }
        if raw.chars().count() > MAX_VALUE_CHARS {
            return Err(format!(
                "the value is longer than {MAX_VALUE_CHARS} characters"
            ));
        }
        let bad = || format!("`{raw}` is not {}", self.form());
        match self {
            ParamKind::Text => Ok(Value::Text(raw.to_string())),
            ParamKind::Int => raw.parse().map(Value::Int).map_err(|_| bad()),
            ParamKind::Money => raw.parse().map(Value::Money).map_err(|_| bad()),
            ParamKind::Date => Date::parse_iso(raw).map(Value::Date).ok_or_else(bad),
            ParamKind::Boolean => match raw {
                "true" => Ok(Value::Boolean(true)),
                "false" => Ok(Value::Boolean(false)),
                _ => Err(bad()),
            },
        }
    }
}

/// A comparison of a field with a value (or, for `in-list`, with values;
/// for `between`, two values, in fixed filters only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    InList,
    Between,
    /// SQL LIKE on text: `%` any run, `_` one character, `\` escapes.
    Like,
}

impl Op {
    fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "eq",
            Op::Ne => "ne",
            Op::Lt => "lt",
            Op::Le => "le",
            Op::Gt => "gt",
            Op::Ge => "ge",
            Op::InList => "in-list",
            Op::Between => "between",
            Op::Like => "like",
        }
    }

    fn filter_op(self) -> FilterOp {
        match self {
            Op::Eq => FilterOp::Eq,
            Op::Ne => FilterOp::Ne,
            Op::Lt => FilterOp::Lt,
            Op::Le => FilterOp::Le,
            Op::Gt => FilterOp::Gt,
            Op::Ge => FilterOp::Ge,
            Op::InList => FilterOp::InList,
            Op::Between => FilterOp::Between,
            Op::Like => FilterOp::Like,
        }
    }
}

fn eq() -> Op {
    Op::Eq
}

/// A filter every call applies. `values` are written as the field's kind:
/// text as strings, int and money (integer fen) as numbers, dates as
/// `"YYYY-MM-DD"`, booleans as `true`/`false`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixedFilter {
    pub field: String,
    pub op: Op,
    pub values: Vec<serde_json::Value>,
}

/// One field of the order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderField {
    /// A dimension or measure of the service.
    pub field: String,
    #[serde(default)]
    pub descending: bool,
}

/// A parameter a caller sets in the query string: `?<name>=<value>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Parameter {
    /// Lowercase letters, digits and `_`, starting with a letter.
    pub name: String,
    pub kind: ParamKind,
    /// A call without it is refused.
    #[serde(default)]
    pub required: bool,
    /// Used when the call does not give it (not with `required`). Written
    /// as in a URL (`"2026-11-30"`, `"3301,3302"` for an in-list), or as a
    /// JSON number or boolean.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<serde_json::Value>,
    /// The dataset column it filters.
    pub field: String,
    /// How it compares (`eq` unless given; not `between` — declare two
    /// parameters with `ge` and `le` instead). `in-list` takes several
    /// values, comma-separated or as repeated parameters.
    #[serde(default = "eq")]
    pub op: Op,
    #[serde(default)]
    pub description: String,
}

fn default_max_page_size() -> u32 {
    DEFAULT_MAX_PAGE_SIZE
}

fn default_rate_limit() -> u32 {
    DEFAULT_RATE_LIMIT_PER_MINUTE
}

/// What a developer proposes (`POST /api/v1/data-services`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceDefinition {
    /// The URL name: lowercase letters, digits, `-` and `_`, starting with
    /// a letter (at most 64).
    pub name: String,
    pub title: String,
    #[serde(default)]
    pub description: String,
    pub dataset: String,
    #[serde(default)]
    pub dimensions: Vec<String>,
    #[serde(default)]
    pub measures: Vec<String>,
    #[serde(default)]
    pub filters: Vec<FixedFilter>,
    /// Applied first; then every dimension not named here, ascending, so
    /// that pages are stable.
    #[serde(default)]
    pub order: Vec<OrderField>,
    #[serde(default)]
    pub parameters: Vec<Parameter>,
    /// 1–1000; also the page size of a call that does not ask for one.
    #[serde(default = "default_max_page_size")]
    pub max_page_size: u32,
    /// Calls a minute per caller (API token, or user for a session), 1–6000.
    #[serde(default = "default_rate_limit")]
    pub rate_limit_per_minute: u32,
    /// The highest column level the service's grant reads unmasked;
    /// default 内部 (internal). The caller's own level applies too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_sensitivity: Option<Sensitivity>,
}

/// A dataset as a service definition sees it: its columns with their
/// kinds, its dimensions and its measures.
#[derive(Debug, Clone)]
pub struct DatasetShape {
    pub name: String,
    pub columns: BTreeMap<String, ValueKind>,
    pub dimensions: Vec<String>,
    pub measures: Vec<String>,
}

/// Where dataset shapes come from: the datasets the models declare (what
/// a built model serves), else the built-in demo data of the same name.
pub struct Datasets<'a> {
    pub models: Option<&'a zhiyun_models::Project>,
    pub fixtures: &'a FixtureProvider,
    pub policy: &'a Policy,
}

impl Datasets<'_> {
    /// The shape of `dataset`, or why a service cannot read it.
    pub fn shape(&self, dataset: &str) -> Result<DatasetShape, ServiceError> {
        let shape = if let Some((model, def)) = self.models.and_then(|p| p.dataset(dataset)) {
            DatasetShape {
                name: dataset.to_string(),
                columns: model
                    .columns
                    .iter()
                    .map(|c| (c.name.clone(), zhiyun_query::semantic::value_kind(c.kind)))
                    .collect(),
                dimensions: def.dimensions.clone(),
                measures: def.measures.keys().cloned().collect(),
            }
        } else if let Some(ds) = self.fixtures.dataset(dataset) {
            DatasetShape {
                name: dataset.to_string(),
                columns: ds
                    .columns()
                    .iter()
                    .map(|c| (c.name.clone(), c.kind))
                    .collect(),
                dimensions: ds.dimensions().to_vec(),
                measures: ds.measures().iter().map(|(m, _)| m.clone()).collect(),
            }
        } else {
            let mut names: BTreeSet<String> =
                self.fixtures.dataset_names().map(String::from).collect();
            if let Some(project) = self.models {
                names.extend(project.datasets().map(|(_, d)| d.name.clone()));
            }
            return Err(invalid(format!(
                "dataset `{dataset}` not found; datasets: {}",
                names.into_iter().collect::<Vec<_>>().join(", ")
            )));
        };
        if self.policy.dataset_policy(dataset).is_none() {
            return Err(invalid(format!(
                "dataset `{dataset}` is not in the catalog (no column policy), so nobody may read \
                 it yet; register it before publishing a service over it"
            )));
        }
        Ok(shape)
    }
}

/// A JSON scalar of a definition (a fixed filter value, a default) as the
/// text a URL would carry.
fn json_text(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The values of one parameter occurrence: an `in-list` splits on commas.
fn split_values(op: Op, raw: &str) -> Vec<&str> {
    if op == Op::InList {
        raw.split(',').map(str::trim).collect()
    } else {
        vec![raw]
    }
}

impl ServiceDefinition {
    /// Checks the definition against its dataset; the error names the first
    /// field, parameter or value that does not fit.
    pub fn check(&self, datasets: &Datasets<'_>) -> Result<(), ServiceError> {
        if !is_service_name(&self.name) {
            return Err(invalid(format!(
                "name `{}` must be 1–64 characters of a-z, 0-9, `-` and `_`, starting with a letter",
                self.name
            )));
        }
        let title = self.title.trim();
        if title.is_empty() || title.chars().count() > MAX_TITLE_CHARS {
            return Err(invalid(format!(
                "title must be 1–{MAX_TITLE_CHARS} characters"
            )));
        }
        if self.description.chars().count() > MAX_DESCRIPTION_CHARS {
            return Err(invalid(format!(
                "description must be at most {MAX_DESCRIPTION_CHARS} characters"
            )));
        }
        if !(1..=MAX_PAGE_SIZE).contains(&self.max_page_size) {
            return Err(invalid(format!(
                "max_page_size must be 1–{MAX_PAGE_SIZE}, got {}",
                self.max_page_size
            )));
        }
        if !(1..=MAX_RATE_LIMIT_PER_MINUTE).contains(&self.rate_limit_per_minute) {
            return Err(invalid(format!(
                "rate_limit_per_minute must be 1–{MAX_RATE_LIMIT_PER_MINUTE}, got {}",
                self.rate_limit_per_minute
            )));
        }
        self.check_shape(&datasets.shape(&self.dataset)?)
    }

    /// The checks of [`ServiceDefinition::check`] that need the dataset.
    fn check_shape(&self, shape: &DatasetShape) -> Result<(), ServiceError> {
        let ds = &shape.name;
        let columns = || shape.columns.keys().cloned().collect::<Vec<_>>().join(", ");
        if self.dimensions.is_empty() && self.measures.is_empty() {
            return Err(invalid(
                "a data service needs at least one dimension or measure",
            ));
        }
        let mut outputs = BTreeSet::new();
        for d in &self.dimensions {
            if !self.measures.is_empty() && !shape.dimensions.contains(d) {
                return Err(invalid(format!(
                    "dimension `{d}` is not a dimension of dataset `{ds}`; dimensions: {}",
                    shape.dimensions.join(", ")
                )));
            }
            if !shape.columns.contains_key(d) {
                return Err(invalid(format!(
                    "dimension `{d}`: dataset `{ds}` has no such column; columns: {}",
                    columns()
                )));
            }
            if !outputs.insert(d.as_str()) {
                return Err(invalid(format!("`{d}` is named twice")));
            }
        }
        for m in &self.measures {
            if !shape.measures.contains(m) {
                return Err(invalid(format!(
                    "measure `{m}` is not a measure of dataset `{ds}`; measures: {}",
                    shape.measures.join(", ")
                )));
            }
            if !outputs.insert(m.as_str()) {
                return Err(invalid(format!("`{m}` is named twice")));
            }
        }
        for (i, f) in self.filters.iter().enumerate() {
            let at = format!("filter {} on `{}`", i + 1, f.field);
            let Some(kind) = shape.columns.get(&f.field) else {
                return Err(invalid(format!(
                    "{at}: dataset `{ds}` has no such column; columns: {}",
                    columns()
                )));
            };
            fixed_filter_values(f, *kind).map_err(|e| invalid(format!("{at}: {e}")))?;
        }
        let mut ordered = BTreeSet::new();
        for o in &self.order {
            if !outputs.contains(o.field.as_str()) {
                return Err(invalid(format!(
                    "order by `{}`: only the service's dimensions and measures can order it ({})",
                    o.field,
                    outputs.iter().copied().collect::<Vec<_>>().join(", ")
                )));
            }
            if !ordered.insert(o.field.as_str()) {
                return Err(invalid(format!("order names `{}` twice", o.field)));
            }
        }
        let mut names = BTreeSet::new();
        for p in &self.parameters {
            let at = format!("parameter `{}`", p.name);
            let name_ok = p.name.len() <= 64
                && p.name.starts_with(|c: char| c.is_ascii_lowercase())
                && p.name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            if !name_ok {
                return Err(invalid(format!(
                    "{at}: a name is 1–64 characters of a-z, 0-9 and `_`, starting with a letter"
                )));
            }
            if p.name == PAGE_SIZE || p.name == PAGE_TOKEN {
                return Err(invalid(format!(
                    "{at}: `{PAGE_SIZE}` and `{PAGE_TOKEN}` are taken by paging"
                )));
            }
            if !names.insert(p.name.as_str()) {
                return Err(invalid(format!("{at} is declared twice")));
            }
            let Some(kind) = shape.columns.get(&p.field) else {
                return Err(invalid(format!(
                    "{at} filters `{}`, which dataset `{ds}` does not have; columns: {}",
                    p.field,
                    columns()
                )));
            };
            if ParamKind::of(*kind) != Some(p.kind) {
                return Err(invalid(format!(
                    "{at} is {} but the column `{}` holds {kind:?} values",
                    p.kind.as_str(),
                    p.field
                )));
            }
            match p.op {
                Op::Between => {
                    return Err(invalid(format!(
                        "{at}: `between` takes two values; declare two parameters with `ge` and `le`"
                    )));
                }
                Op::Like if p.kind != ParamKind::Text => {
                    return Err(invalid(format!("{at}: `like` works on text only")));
                }
                _ => {}
            }
            if p.required && p.default.is_some() {
                return Err(invalid(format!(
                    "{at} is required, so it cannot have a default"
                )));
            }
            if let Some(default) = &p.default {
                let text = json_text(default).ok_or_else(|| {
                    invalid(format!(
                        "{at}: the default must be a string, a number or a boolean"
                    ))
                })?;
                parse_values(p, &[text.as_str()])
                    .map_err(|e| invalid(format!("{at}: the default: {e}")))?;
            }
        }
        Ok(())
    }

    fn publish(&self) -> Result<DataServicePublish, ServiceError> {
        Ok(DataServicePublish {
            name: self.name.clone(),
            dataset: self.dataset.clone(),
            max_sensitivity: self.max_sensitivity,
            definition: serde_json::to_value(self)
                .map_err(|e| ServiceError::Corrupt(format!("the definition: {e}")))?,
        })
    }
}

/// A fixed filter's values, typed by the column's kind.
fn fixed_filter_values(f: &FixedFilter, kind: ValueKind) -> Result<Vec<Value>, String> {
    let Some(param_kind) = ParamKind::of(kind) else {
        return Err(format!("a {kind:?} column cannot be filtered here"));
    };
    let count_ok = match f.op {
        Op::Between => f.values.len() == 2,
        Op::InList => (1..=MAX_LIST_VALUES).contains(&f.values.len()),
        _ => f.values.len() == 1,
    };
    if !count_ok {
        return Err(format!(
            "`{}` takes {}, got {}",
            f.op.as_str(),
            match f.op {
                Op::Between => "2 values".to_string(),
                Op::InList => format!("1–{MAX_LIST_VALUES} values"),
                _ => "1 value".to_string(),
            },
            f.values.len()
        ));
    }
    if f.op == Op::Like && param_kind != ParamKind::Text {
        return Err("`like` works on text only".into());
    }
    f.values
        .iter()
        .map(|v| {
            let text = json_text(v).ok_or_else(|| format!("`{v}` is not a scalar value"))?;
            param_kind.parse(&text)
        })
        .collect()
}

/// A parameter's values (one occurrence each in `raw`), typed.
fn parse_values(p: &Parameter, raw: &[&str]) -> Result<Vec<Value>, String> {
    if raw.len() > 1 && p.op != Op::InList {
        return Err(format!("given {} times; it takes one value", raw.len()));
    }
    let parts: Vec<&str> = raw.iter().flat_map(|r| split_values(p.op, r)).collect();
    if parts.len() > MAX_LIST_VALUES {
        return Err(format!(
            "at most {MAX_LIST_VALUES} values, got {}",
            parts.len()
        ));
    }
    parts.iter().map(|r| p.kind.parse(r)).collect()
}

// ---- the stored service -----------------------------------------------------------

/// Where a service is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ServiceStatus {
    /// Filed, waiting for its change request's approval.
    Proposed,
    /// Callable.
    Active,
    /// Its change request was rejected.
    Rejected,
    /// Its author withdrew the change request (stored as `proposed`).
    Withdrawn,
    /// No longer callable; the name is not reused.
    Retired,
}

impl ServiceStatus {
    fn as_str(self) -> &'static str {
        match self {
            ServiceStatus::Proposed => "proposed",
            ServiceStatus::Active => "active",
            ServiceStatus::Rejected => "rejected",
            ServiceStatus::Withdrawn => "withdrawn",
            ServiceStatus::Retired => "retired",
        }
    }
}

/// A data service as stored, with its state.
#[derive(Debug, Clone, Serialize)]
pub struct DataService {
    #[serde(flatten)]
    pub definition: ServiceDefinition,
    pub status: ServiceStatus,
    /// Where to call it.
    pub url: String,
    pub author: String,
    /// The `data-service` change request that proposed it.
    pub change_id: i64,
    pub created_at: i64,
    pub approved_by: Option<String>,
    pub approved_at: Option<i64>,
    pub retired_by: Option<String>,
    pub retired_at: Option<i64>,
    pub retire_reason: Option<String>,
}

const SERVICE_COLS: &str = "s.name, s.title, s.description, s.dataset, s.dimensions, s.measures, \
     s.filters, s.order_by, s.parameters, s.max_page_size, s.rate_limit_per_minute, \
     s.max_sensitivity, s.status, s.author, s.change_id, s.created_at, s.approved_by, \
     s.approved_at, s.retired_by, s.retired_at, s.retire_reason, c.state AS change_state";

fn service_from_row(row: &sqlx::any::AnyRow) -> Result<DataService, ServiceError> {
    let name: String = row.try_get("name")?;
    fn json<T: serde::de::DeserializeOwned>(
        row: &sqlx::any::AnyRow,
        column: &str,
        name: &str,
    ) -> Result<T, ServiceError> {
        let text: String = row.try_get(column)?;
        serde_json::from_str(&text)
            .map_err(|e| ServiceError::Corrupt(format!("service `{name}`, {column}: {e}")))
    }
    let number = |column: &str| -> Result<u32, ServiceError> {
        let n: i64 = row.try_get(column)?;
        u32::try_from(n)
            .map_err(|_| ServiceError::Corrupt(format!("service `{name}`, {column}: {n}")))
    };
    let level: String = row.try_get("max_sensitivity")?;
    let status: String = row.try_get("status")?;
    let change_state: Option<String> = row.try_get("change_state")?;
    let status = match (status.as_str(), change_state.as_deref()) {
        ("proposed", Some("withdrawn")) => ServiceStatus::Withdrawn,
        ("proposed", _) => ServiceStatus::Proposed,
        ("active", _) => ServiceStatus::Active,
        ("rejected", _) => ServiceStatus::Rejected,
        ("retired", _) => ServiceStatus::Retired,
        (other, _) => {
            return Err(ServiceError::Corrupt(format!(
                "service `{name}`: status `{other}`"
            )));
        }
    };
    Ok(DataService {
        definition: ServiceDefinition {
            title: row.try_get("title")?,
            description: row.try_get("description")?,
            dataset: row.try_get("dataset")?,
            dimensions: json(row, "dimensions", &name)?,
            measures: json(row, "measures", &name)?,
            filters: json(row, "filters", &name)?,
            order: json(row, "order_by", &name)?,
            parameters: json(row, "parameters", &name)?,
            max_page_size: number("max_page_size")?,
            rate_limit_per_minute: number("rate_limit_per_minute")?,
            max_sensitivity: Some(Sensitivity::parse(&level).ok_or_else(|| {
                ServiceError::Corrupt(format!("service `{name}`: level `{level}`"))
            })?),
            name: name.clone(),
        },
        status,
        url: format!("/api/v1/services/{name}"),
        author: row.try_get("author")?,
        change_id: row.try_get("change_id")?,
        created_at: row.try_get("created_at")?,
        approved_by: row.try_get("approved_by")?,
        approved_at: row.try_get("approved_at")?,
        retired_by: row.try_get("retired_by")?,
        retired_at: row.try_get("retired_at")?,
        retire_reason: row.try_get("retire_reason")?,
    })
}

fn to_json<T: Serialize>(value: &T) -> Result<String, ServiceError> {
    serde_json::to_string(value).map_err(|e| ServiceError::Corrupt(e.to_string()))
}

async fn fetch(conn: &mut AnyConnection, name: &str) -> Result<Option<DataService>, ServiceError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {SERVICE_COLS} FROM data_services s \
         LEFT JOIN change_requests c ON c.id = s.change_id WHERE s.name = $1"
    )))
    .bind(name)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(service_from_row).transpose()
}

// ---- pages --------------------------------------------------------------------

/// One page of a call's result.
#[derive(Debug, Clone, Serialize)]
pub struct Page {
    pub service: String,
    pub title: String,
    pub dataset: String,
    pub columns: Vec<zhiyun_contract::ColumnMeta>,
    /// Plain JSON values: money in integer fen, dates `YYYY-MM-DD`,
    /// decimals as text, timestamps in µs since the epoch.
    pub rows: Vec<Vec<serde_json::Value>>,
    pub page_size: u32,
    /// Pass it as `page_token` (with the same parameters) for the next
    /// page; `null` on the last page.
    pub next_page_token: Option<String>,
    /// How many rows the governed query read for this page (what its
    /// `data.access` entry records): the rows before it, this page, and
    /// one to tell whether there is a next page.
    #[serde(skip)]
    pub rows_read: usize,
    #[serde(skip)]
    pub offset: u64,
}

/// A value as plain JSON (see [`Page::rows`]).
fn plain(value: &Value) -> serde_json::Value {
    match value {
        Value::Null => serde_json::Value::Null,
        Value::Boolean(b) => (*b).into(),
        Value::Int(n) | Value::Money(n) | Value::Timestamp(n) => (*n).into(),
        Value::Float(f) => serde_json::Number::from_f64(*f)
            .map(serde_json::Value::Number)
            .unwrap_or(serde_json::Value::Null),
        Value::Decimal(s) | Value::Text(s) => s.clone().into(),
        Value::Date(d) => d.to_string().into(),
    }
}

const TOKEN_VERSION: u8 = 1;
const TOKEN_TAG_BYTES: usize = 12;

/// The tag that ties a page token to its query: the service (and the
/// request that approved it), the bound parameter values and the offset.
/// Any other query, or an altered offset, gives another tag.
fn token_tag(fingerprint: &[u8; 32], offset: u64) -> [u8; TOKEN_TAG_BYTES] {
    let digest = Sha256::new()
        .chain_update(b"zhiyun-page-token\0")
        .chain_update(fingerprint)
        .chain_update(offset.to_be_bytes())
        .finalize();
    let mut tag = [0u8; TOKEN_TAG_BYTES];
    tag.copy_from_slice(&digest[..TOKEN_TAG_BYTES]);
    tag
}

/// An opaque page token: base64url of (version, offset, tag).
fn page_token(fingerprint: &[u8; 32], offset: u64) -> String {
    use base64::Engine as _;
    let mut bytes = Vec::with_capacity(1 + 8 + TOKEN_TAG_BYTES);
    bytes.push(TOKEN_VERSION);
    bytes.extend_from_slice(&offset.to_be_bytes());
    bytes.extend_from_slice(&token_tag(fingerprint, offset));
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The offset a page token stands for, if it is one of this query's.
fn read_page_token(token: &str, fingerprint: &[u8; 32]) -> Result<u64, ServiceError> {
    use base64::Engine as _;
    let refused = || {
        invalid(format!(
            "{PAGE_TOKEN} is not a token of this query (altered, or from another service or other \
             parameters); start again without {PAGE_TOKEN}"
        ))
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| refused())?;
    if bytes.len() != 1 + 8 + TOKEN_TAG_BYTES || bytes[0] != TOKEN_VERSION {
        return Err(refused());
    }
    let mut offset = [0u8; 8];
    offset.copy_from_slice(&bytes[1..9]);
    let offset = u64::from_be_bytes(offset);
    if bytes[9..] != token_tag(fingerprint, offset) {
        return Err(refused());
    }
    Ok(offset)
}

/// A call's parameters, checked: the filters to add, the page.
#[derive(Debug)]
struct BoundCall {
    filters: Vec<Filter>,
    page_size: u32,
    offset: u64,
    /// What page tokens of this query are tied to.
    fingerprint: [u8; 32],
}

impl DataService {
    /// Whether the service may be called, or why not: active only.
    pub fn ensure_callable(&self) -> Result<(), ServiceError> {
        let name = &self.definition.name;
        match self.status {
            ServiceStatus::Active => Ok(()),
            ServiceStatus::Proposed => Err(ServiceError::NotFound(format!(
                "data service `{name}` is proposed and not approved yet (change request #{}); it \
                 cannot be called until another administrator approves it",
                self.change_id
            ))),
            ServiceStatus::Rejected | ServiceStatus::Withdrawn => {
                Err(ServiceError::NotFound(format!(
                    "data service `{name}` was never published: its change request #{} was {}",
                    self.change_id,
                    self.status.as_str()
                )))
            }
            ServiceStatus::Retired => Err(ServiceError::Retired(format!(
                "data service `{name}` was retired by {}{}",
                self.retired_by.as_deref().unwrap_or("an administrator"),
                self.retire_reason
                    .as_deref()
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default()
            ))),
        }
    }

    /// Checks a call's query parameters against the declared ones.
    fn bind(&self, query: &[(String, String)]) -> Result<BoundCall, ServiceError> {
        let def = &self.definition;
        let mut page_size: Option<&str> = None;
        let mut token: Option<&str> = None;
        let mut given: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (key, value) in query {
            let slot = match key.as_str() {
                PAGE_SIZE => &mut page_size,
                PAGE_TOKEN => &mut token,
                _ => {
                    if !def.parameters.iter().any(|p| p.name == *key) {
                        let mut known: Vec<&str> =
                            def.parameters.iter().map(|p| p.name.as_str()).collect();
                        known.extend([PAGE_SIZE, PAGE_TOKEN]);
                        return Err(invalid(format!(
                            "unknown parameter `{key}`; data service `{}` takes: {}",
                            def.name,
                            known.join(", ")
                        )));
                    }
                    given.entry(key).or_default().push(value);
                    continue;
                }
            };
            if slot.replace(value.as_str()).is_some() {
                return Err(invalid(format!("`{key}` is given twice")));
            }
        }
        let page_size = match page_size {
            None => def.max_page_size,
            Some(raw) => raw
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=def.max_page_size).contains(n))
                .ok_or_else(|| {
                    invalid(format!(
                        "{PAGE_SIZE} must be a whole number 1–{} (this service's largest page), got `{raw}`",
                        def.max_page_size
                    ))
                })?,
        };
        let mut filters = Vec::new();
        let mut bound: Vec<(&str, Vec<Value>)> = Vec::new();
        for p in &def.parameters {
            let default_text = p.default.as_ref().and_then(json_text);
            let raw: Vec<&str> = match (given.get(p.name.as_str()), &default_text) {
                (Some(values), _) => values.clone(),
                (None, Some(default)) => vec![default.as_str()],
                (None, None) if p.required => {
                    return Err(invalid(format!(
                        "missing required parameter `{}` ({}){}",
                        p.name,
                        p.kind.form(),
                        if p.description.is_empty() {
                            String::new()
                        } else {
                            format!(": {}", p.description)
                        }
                    )));
                }
                (None, None) => continue,
            };
            let values = parse_values(p, &raw)
                .map_err(|e| invalid(format!("parameter `{}`: {e}", p.name)))?;
            filters.push(Filter {
                field: p.field.clone(),
                op: p.op.filter_op(),
                values: values.clone(),
            });
            bound.push((p.name.as_str(), values));
        }
        let fingerprint = self.fingerprint(&bound)?;
        let offset = match token {
            Some(t) => read_page_token(t, &fingerprint)?,
            None => 0,
        };
        Ok(BoundCall {
            filters,
            page_size,
            offset,
            fingerprint,
        })
    }

    /// What identifies one query of this service: its name, the request
    /// that approved its definition, and the bound parameter values.
    fn fingerprint(&self, bound: &[(&str, Vec<Value>)]) -> Result<[u8; 32], ServiceError> {
        let canonical = serde_json::to_vec(&(&self.definition.name, self.change_id, bound))
            .map_err(|e| ServiceError::Corrupt(format!("a call's parameters: {e}")))?;
        Ok(Sha256::digest(&canonical).into())
    }

    /// The fixed filters, typed by their columns' kinds in `shape`.
    fn fixed_filters(&self, shape: &DatasetShape) -> Result<Vec<Filter>, ServiceError> {
        self.definition
            .filters
            .iter()
            .map(|f| {
                let values = shape
                    .columns
                    .get(&f.field)
                    .ok_or_else(|| {
                        format!(
                            "dataset `{}` has no column `{}` any more",
                            shape.name, f.field
                        )
                    })
                    .and_then(|kind| fixed_filter_values(f, *kind))
                    .map_err(|e| {
                        ServiceError::OutOfDate(format!(
                            "data service `{}`: its filter on `{}` no longer fits the dataset: {e}",
                            self.definition.name, f.field
                        ))
                    })?;
                Ok(Filter {
                    field: f.field.clone(),
                    op: f.op.filter_op(),
                    values,
                })
            })
            .collect()
    }

    /// The semantic query of a call: the template with its fixed filters,
    /// the parameters' filters, the service's order then every dimension
    /// not in it (a stable order), and a limit one row past the page.
    fn query(&self, fixed: Vec<Filter>, call: &BoundCall, limit: u32) -> SemanticQuery {
        let def = &self.definition;
        let mut order: Vec<OrderBy> = def
            .order
            .iter()
            .map(|o| OrderBy {
                field: o.field.clone(),
                descending: o.descending,
            })
            .collect();
        for d in &def.dimensions {
            if !order.iter().any(|o| o.field == *d) {
                order.push(OrderBy {
                    field: d.clone(),
                    descending: false,
                });
            }
        }
        SemanticQuery {
            dataset: def.dataset.clone(),
            dimensions: def.dimensions.clone(),
            measures: def.measures.clone(),
            filters: fixed
                .into_iter()
                .chain(call.filters.iter().cloned())
                .collect(),
            order,
            limit: Some(limit),
        }
    }
}

// ---- rate limits ----------------------------------------------------------------

/// One caller's bucket for one service.
#[derive(Debug, Clone)]
struct Bucket {
    tokens: f64,
    per_minute: u32,
    updated: Instant,
}

/// Token buckets per (caller, service), in this host's memory: a bucket
/// holds up to a minute's calls and refills continuously at the service's
/// rate. Per host: hosts do not share buckets (a caller spread over N hosts
/// gets up to N times the rate), which keeps a call free of store writes.
#[derive(Debug, Default)]
pub struct RateLimiter {
    buckets: Mutex<HashMap<(String, String), Bucket>>,
}

impl RateLimiter {
    /// Takes one call from `caller`'s bucket for `service`; when it is
    /// empty, how long until the next call is allowed.
    pub fn take(
        &self,
        caller: &str,
        service: &str,
        per_minute: u32,
        now: Instant,
    ) -> Result<(), Duration> {
        let per_minute = per_minute.max(1);
        let capacity = f64::from(per_minute);
        let per_second = capacity / 60.0;
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= MAX_BUCKETS {
            // Drop the buckets that have refilled: forgetting them changes
            // no caller's allowance.
            buckets.retain(|_, b| {
                b.tokens + now.saturating_duration_since(b.updated).as_secs_f64() * per_second
                    < f64::from(b.per_minute)
            });
            if buckets.len() >= MAX_BUCKETS {
                buckets.clear();
            }
        }
        let bucket = buckets
            .entry((caller.to_string(), service.to_string()))
            .or_insert(Bucket {
                tokens: capacity,
                per_minute,
                updated: now,
            });
        if bucket.per_minute != per_minute {
            bucket.per_minute = per_minute;
            bucket.tokens = bucket.tokens.min(capacity);
        }
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * per_second).min(capacity);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / per_second))
        }
    }
}

// ---- the service ------------------------------------------------------------------

/// The data services of this host: the store and the rate limiter. Shared.
pub struct DataServices {
    store: Store,
    audit: AuditLog,
    limiter: RateLimiter,
}

/// Who calls, for the rate limit: one API token, or one user's sessions.
pub enum CallerKey<'a> {
    Token(&'a str),
    User(&'a str),
}

impl CallerKey<'_> {
    fn key(&self) -> String {
        match self {
            CallerKey::Token(id) => format!("token:{id}"),
            CallerKey::User(name) => format!("user:{name}"),
        }
    }
}

impl DataServices {
    pub fn new(store: Store, audit: AuditLog) -> Self {
        DataServices {
            store,
            audit,
            limiter: RateLimiter::default(),
        }
    }

    /// Every service, by name.
    pub async fn list(&self) -> Result<Vec<DataService>, ServiceError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {SERVICE_COLS} FROM data_services s \
             LEFT JOIN change_requests c ON c.id = s.change_id ORDER BY s.name"
        )))
        .fetch_all(self.store.pool())
        .await?;
        rows.iter().map(service_from_row).collect()
    }

    /// One service.
    pub async fn get(&self, name: &str) -> Result<Option<DataService>, ServiceError> {
        let mut conn = self.store.pool().acquire().await?;
        fetch(&mut conn, name).await
    }

    /// Files the definition (already [checked](ServiceDefinition::check)):
    /// the `proposed` row and its `data-service` change request, in one
    /// transaction. A name is taken while proposed or active, and for
    /// good once retired; a rejected or withdrawn proposal gives it back.
    pub async fn propose(
        &self,
        changes: &ChangeRequests,
        author: &str,
        definition: &ServiceDefinition,
    ) -> Result<(DataService, ChangeRequest), ServiceError> {
        let publish = definition.publish()?;
        let mut tx = self.store.begin_write().await?;
        if let Some(existing) = fetch(&mut tx, &definition.name).await? {
            match existing.status {
                ServiceStatus::Rejected | ServiceStatus::Withdrawn => {
                    sqlx::query("DELETE FROM data_services WHERE name = $1")
                        .bind(&definition.name)
                        .execute(&mut *tx)
                        .await?;
                }
                status => {
                    return Err(ServiceError::Conflict {
                        message: format!(
                            "a data service named `{}` is already {} (change request #{}){}",
                            definition.name,
                            status.as_str(),
                            existing.change_id,
                            if status == ServiceStatus::Retired {
                                "; a retired name is not reused, so that its callers are never \
                                 served another query: choose another name"
                            } else {
                                ""
                            }
                        ),
                        current_state: status.as_str().to_string(),
                    });
                }
            }
        }
        let request = changes
            .create_in(&mut tx, author, ChangeKind::DataService(publish))
            .await?;
        let now = now_micros();
        let inserted = sqlx::query(
            "INSERT INTO data_services (name, title, description, dataset, dimensions, measures, \
             filters, order_by, parameters, max_page_size, rate_limit_per_minute, max_sensitivity, \
             status, author, change_id, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 'proposed', $13, $14, $15, $15)",
        )
        .bind(&definition.name)
        .bind(definition.title.trim())
        .bind(&definition.description)
        .bind(&definition.dataset)
        .bind(to_json(&definition.dimensions)?)
        .bind(to_json(&definition.measures)?)
        .bind(to_json(&definition.filters)?)
        .bind(to_json(&definition.order)?)
        .bind(to_json(&definition.parameters)?)
        .bind(i64::from(definition.max_page_size))
        .bind(i64::from(definition.rate_limit_per_minute))
        .bind(
            definition
                .max_sensitivity
                .unwrap_or(Sensitivity::Internal)
                .as_str(),
        )
        .bind(author)
        .bind(request.id)
        .bind(now)
        .execute(&mut *tx)
        .await;
        if let Err(e) = inserted {
            let e = StoreError::Database(e);
            return Err(if e.is_unique_violation() {
                ServiceError::Conflict {
                    message: format!(
                        "a data service named `{}` was proposed at the same moment",
                        definition.name
                    ),
                    current_state: ServiceStatus::Proposed.as_str().to_string(),
                }
            } else {
                e.into()
            });
        }
        let service = fetch(&mut tx, &definition.name)
            .await?
            .ok_or_else(|| ServiceError::Corrupt("the proposed service vanished".into()))?;
        tx.commit().await?;
        Ok((service, request))
    }

    /// Retires an active service: not callable from now on, on every host
    /// (calls read the row), and its grant is gone with the next policy
    /// load. Audited (`service.retire`) in the same transaction.
    pub async fn retire(
        &self,
        name: &str,
        actor: &str,
        actor_org: &str,
        reason: &str,
    ) -> Result<DataService, ServiceError> {
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(invalid("a retirement needs a reason (its callers read it)"));
        }
        let mut tx = self.store.begin_write().await?;
        // The policy lock first, as every policy write takes it.
        zhiyun_authz::policy::bump_version(&mut tx).await?;
        let now = now_micros();
        let done = sqlx::query(
            "UPDATE data_services SET status = 'retired', retired_by = $2, retired_at = $3, \
             retire_reason = $4, updated_at = $3 WHERE name = $1 AND status = 'active'",
        )
        .bind(name)
        .bind(actor)
        .bind(now)
        .bind(reason)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Err(match fetch(&mut tx, name).await? {
                None => ServiceError::NotFound(format!("no data service named `{name}`")),
                Some(s) => ServiceError::Conflict {
                    message: format!(
                        "cannot retire data service `{name}`: it is {}, not active",
                        s.status.as_str()
                    ),
                    current_state: s.status.as_str().to_string(),
                },
            });
        }
        sqlx::query("DELETE FROM dataset_grants WHERE applicant_type = 'app' AND applicant = $1")
            .bind(service_app_id(name))
            .execute(&mut *tx)
            .await?;
        let service = fetch(&mut tx, name)
            .await?
            .ok_or_else(|| ServiceError::Corrupt("the retired service vanished".into()))?;
        let action = AuditAction::parse("service.retire")?;
        self.audit
            .append_in(
                &mut tx,
                NewAuditEntry::new(actor, action, format!("data-service/{name}"))
                    .org(actor_org)
                    .detail(serde_json::json!({
                        "service": name, "dataset": service.definition.dataset,
                        "reason": reason, "change_id": service.change_id,
                    })),
            )
            .await?;
        tx.commit().await?;
        Ok(service)
    }

    /// Calls `service` (an active one: [`DataService::ensure_callable`]) for the user of
    /// `invocation`: rate limit, parameters, the governed query as
    /// `service:<name>`, one page.
    #[allow(clippy::too_many_arguments)]
    pub async fn call(
        &self,
        governed: &GovernedData,
        datasets: &Datasets<'_>,
        row_cap: usize,
        service: &DataService,
        mut invocation: Invocation,
        caller: CallerKey<'_>,
        query: &[(String, String)],
    ) -> Result<Page, ServiceError> {
        let def = &service.definition;
        if let Err(wait) = self.limiter.take(
            &caller.key(),
            &def.name,
            def.rate_limit_per_minute,
            Instant::now(),
        ) {
            return Err(ServiceError::RateLimited {
                service: def.name.clone(),
                per_minute: def.rate_limit_per_minute,
                retry_after_secs: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
            });
        }
        let call = service.bind(query)?;
        let fixed =
            service.fixed_filters(&datasets.shape(&def.dataset).map_err(|e| {
                ServiceError::OutOfDate(format!("data service `{}`: {e}", def.name))
            })?)?;
        // The result can be paged as far as the row cap: one query returns
        // at most that many rows, and a larger result is refused rather
        // than cut short.
        let cap = u64::try_from(row_cap).unwrap_or(u64::MAX);
        let page = u64::from(call.page_size);
        if call.offset >= cap {
            return Err(too_many(&def.name, row_cap));
        }
        let wanted = call.offset + page + 1;
        let limit = u32::try_from(wanted.min(cap)).unwrap_or(u32::MAX);
        invocation.app_id = service_app_id(&def.name);
        invocation.app_version = format!("change-{}", service.change_id);
        let table = governed
            .query(&invocation, service.query(fixed, &call, limit))
            .await
            .map_err(ServiceError::Data)?;
        let read = table.rows.len();
        let end = call.offset.saturating_add(page);
        let has_more = read as u64 > end;
        if !has_more && wanted > cap && read as u64 >= cap {
            // Cut at the cap: whether more rows match cannot be told.
            return Err(too_many(&def.name, row_cap));
        }
        let rows = table
            .rows
            .iter()
            .skip(usize::try_from(call.offset).unwrap_or(usize::MAX))
            .take(call.page_size as usize)
            .map(|r| r.iter().map(plain).collect())
            .collect();
        Ok(Page {
            service: def.name.clone(),
            title: def.title.clone(),
            dataset: def.dataset.clone(),
            columns: table.columns,
            rows,
            page_size: call.page_size,
            next_page_token: has_more.then(|| page_token(&call.fingerprint, end)),
            rows_read: read,
            offset: call.offset,
        })
    }
}

fn too_many(name: &str, row_cap: usize) -> ServiceError {
    ServiceError::Data(AppError::quota_exceeded(format!(
        "data service `{name}` matches more than {row_cap} rows, as far as a data service can \
         page; narrow the call with its parameters"
    )))
}

// ---- approval --------------------------------------------------------------------

/// Publishes a data service when its `data-service` change request is
/// approved, in the approval's transaction: the proposed row becomes
/// `active`, and the dataset is granted to `service:<name>` (source
/// `listing`, every org, the requested level) so that a call reads the
/// caller's scope ∩ this grant. A rejection marks the row `rejected`.
pub struct DataServiceApplier;

fn publication(request: &ChangeRequest) -> Result<&DataServicePublish, ChangeError> {
    match &request.change {
        ChangeKind::DataService(p) => Ok(p),
        _ => Err(ChangeError::Invalid(format!(
            "change request #{} is not a data service",
            request.id
        ))),
    }
}

impl ChangeApplier for DataServiceApplier {
    fn apply<'a>(
        &'a self,
        tx: &'a mut AnyConnection,
        request: &'a ChangeRequest,
    ) -> BoxFuture<'a, Result<(), ChangeError>> {
        Box::pin(async move {
            let p = publication(request)?;
            let refuse = |m: String| ChangeError::Apply(m);
            // The policy lock first (see `bump_version`).
            zhiyun_authz::policy::bump_version(tx).await?;
            let row = sqlx::query(
                "SELECT status, change_id, dataset, max_sensitivity FROM data_services \
                 WHERE name = $1",
            )
            .bind(&p.name)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(row) = row else {
                return Err(refuse(format!("data service `{}` is not on file", p.name)));
            };
            let status: String = row.try_get("status")?;
            let change_id: i64 = row.try_get("change_id")?;
            if status != "proposed" || change_id != request.id {
                return Err(refuse(format!(
                    "data service `{}` is {status} under change request #{change_id}, not the one \
                     request #{} proposed",
                    p.name, request.id
                )));
            }
            let dataset: String = row.try_get("dataset")?;
            let level: String = row.try_get("max_sensitivity")?;
            let registered: Option<String> =
                sqlx::query_scalar("SELECT dataset FROM dataset_policies WHERE dataset = $1")
                    .bind(&dataset)
                    .fetch_optional(&mut *tx)
                    .await?;
            if registered.is_none() {
                return Err(refuse(format!(
                    "dataset `{dataset}` has no registered column policy; register it before \
                     publishing a service over it"
                )));
            }
            let now = request.applied_at.unwrap_or_else(now_micros);
            let app_id = p.app_id();
            sqlx::query(
                "DELETE FROM dataset_grants WHERE applicant_type = 'app' AND applicant = $1",
            )
            .bind(&app_id)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO dataset_grants (dataset, applicant_type, applicant, columns, orgs, \
                 max_sensitivity, source, change_id, expires_at, granted_at) \
                 VALUES ($1, 'app', $2, '[]', NULL, $3, 'listing', $4, NULL, $5)",
            )
            .bind(&dataset)
            .bind(&app_id)
            .bind(&level)
            .bind(request.id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE data_services SET status = 'active', approved_by = $2, approved_at = $3, \
                 updated_at = $3 WHERE name = $1",
            )
            .bind(&p.name)
            .bind(request.reviewer.as_deref())
            .bind(now)
            .execute(&mut *tx)
            .await?;
            Ok(())
        })
    }

    fn rejected<'a>(
        &'a self,
        tx: &'a mut AnyConnection,
        request: &'a ChangeRequest,
    ) -> BoxFuture<'a, Result<(), ChangeError>> {
        Box::pin(async move {
            let p = publication(request)?;
            sqlx::query(
                "UPDATE data_services SET status = 'rejected', updated_at = $3 \
                 WHERE name = $1 AND change_id = $2 AND status = 'proposed'",
            )
            .bind(&p.name)
            .bind(request.id)
            .bind(now_micros())
            .execute(&mut *tx)
            .await?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fund_daily_shape() -> DatasetShape {
        let ds = zhiyun_data::fund_daily();
        DatasetShape {
            name: "fund_daily".into(),
            columns: ds
                .columns()
                .iter()
                .map(|c| (c.name.clone(), c.kind))
                .collect(),
            dimensions: ds.dimensions().to_vec(),
            measures: ds.measures().iter().map(|(m, _)| m.clone()).collect(),
        }
    }

    fn balances() -> ServiceDefinition {
        serde_json::from_value(serde_json::json!({
            "name": "fund-balances",
            "title": "各账户日余额",
            "dataset": "fund_daily",
            "dimensions": ["org_id", "acct_no", "balance_date"],
            "measures": ["closing", "available"],
            "filters": [{"field": "closing", "op": "ge", "values": [0]}],
            "order": [{"field": "balance_date", "descending": true}],
            "parameters": [
                {"name": "date", "kind": "date", "required": true, "field": "balance_date"},
                {"name": "orgs", "kind": "text", "field": "org_id", "op": "in-list"},
                {"name": "min_closing", "kind": "money", "field": "closing", "op": "ge",
                 "default": 0},
            ],
            "max_page_size": 5,
        }))
        .unwrap()
    }

    fn active(definition: ServiceDefinition) -> DataService {
        DataService {
            url: format!("/api/v1/services/{}", definition.name),
            definition,
            status: ServiceStatus::Active,
            author: "dev.cw".into(),
            change_id: 7,
            created_at: 0,
            approved_by: Some("reviewer".into()),
            approved_at: Some(1),
            retired_by: None,
            retired_at: None,
            retire_reason: None,
        }
    }

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn definitions_are_checked_field_by_field() {
        let shape = fund_daily_shape();
        let good = balances();
        good.check_shape(&shape).unwrap();
        assert_eq!(good.rate_limit_per_minute, DEFAULT_RATE_LIMIT_PER_MINUTE);
        let refused = |change: &dyn Fn(&mut ServiceDefinition), needle: &str| {
            let mut def = balances();
            change(&mut def);
            let e = def.check_shape(&shape).unwrap_err().to_string();
            assert!(e.contains(needle), "expected `{needle}` in: {e}");
        };
        refused(&|d| d.measures.push("profit".into()), "measure `profit`");
        refused(
            &|d| d.dimensions.push("closing".into()),
            "dimension `closing`",
        );
        refused(
            &|d| d.dimensions.push("org_id".into()),
            "`org_id` is named twice",
        );
        refused(
            &|d| d.filters[0].field = "nope".into(),
            "filter 1 on `nope`",
        );
        refused(
            &|d| d.filters[0].values = vec![serde_json::json!("2026-11-01")],
            "is not integer fen",
        );
        refused(&|d| d.order[0].field = "bank".into(), "order by `bank`");
        refused(&|d| d.parameters[0].field = "day".into(), "filters `day`");
        refused(
            &|d| d.parameters[0].kind = ParamKind::Text,
            "holds Date values",
        );
        refused(
            &|d| d.parameters[1].name = "page_size".into(),
            "taken by paging",
        );
        refused(&|d| d.parameters[1].name = "date".into(), "declared twice");
        refused(
            &|d| d.parameters[2].op = Op::Between,
            "`between` takes two values",
        );
        refused(
            &|d| d.parameters[2].op = Op::Like,
            "`like` works on text only",
        );
        refused(
            &|d| d.parameters[0].default = Some(serde_json::json!("2026-11-30")),
            "cannot have a default",
        );
        refused(
            &|d| d.parameters[2].default = Some(serde_json::json!("12.50")),
            "the default",
        );
        refused(
            &|d| {
                d.dimensions.clear();
                d.measures.clear();
                d.order.clear();
            },
            "at least one dimension or measure",
        );
    }

    #[test]
    fn calls_are_typed_and_unknown_parameters_refused() {
        let service = active(balances());
        let call = service.bind(&pairs(&[("date", "2026-11-30")])).unwrap();
        assert_eq!(call.page_size, 5);
        assert_eq!(call.offset, 0);
        assert_eq!(
            call.filters,
            vec![
                Filter {
                    field: "balance_date".into(),
                    op: FilterOp::Eq,
                    values: vec![Value::Date(Date::new(2026, 11, 30))],
                },
                Filter {
                    field: "closing".into(),
                    op: FilterOp::Ge,
                    values: vec![Value::Money(0)],
                },
            ]
        );
        let call = service
            .bind(&pairs(&[
                ("orgs", "3301,330101"),
                ("orgs", "330102"),
                ("date", "2026-11-01"),
                ("page_size", "2"),
            ]))
            .unwrap();
        assert_eq!(call.page_size, 2);
        assert_eq!(call.filters[1].values.len(), 3);

        let refused = |query: &[(&str, &str)], needle: &str| {
            let e = service.bind(&pairs(query)).unwrap_err();
            assert!(matches!(e, ServiceError::Invalid(_)), "{e}");
            assert!(
                e.to_string().contains(needle),
                "expected `{needle}` in: {e}"
            );
        };
        refused(&[], "missing required parameter `date`");
        refused(&[("date", "2026-11-31")], "parameter `date`");
        refused(&[("date", "")], "parameter `date`: the value is empty");
        refused(
            &[("date", "2026-11-30"), ("date", "2026-11-29")],
            "given 2 times",
        );
        refused(
            &[("date", "2026-11-30"), ("org", "3301")],
            "unknown parameter `org`",
        );
        refused(
            &[("date", "2026-11-30"), ("min_closing", "1.5")],
            "parameter `min_closing`",
        );
        refused(&[("date", "2026-11-30"), ("page_size", "6")], "page_size");
        refused(&[("date", "2026-11-30"), ("page_size", "0")], "page_size");
        refused(
            &[
                ("date", "2026-11-30"),
                ("page_token", "x"),
                ("page_token", "y"),
            ],
            "given twice",
        );
    }

    #[test]
    fn page_tokens_belong_to_one_query_and_offset() {
        let service = active(balances());
        let first = service.bind(&pairs(&[("date", "2026-11-30")])).unwrap();
        let token = page_token(&first.fingerprint, 5);
        let next = service
            .bind(&pairs(&[("date", "2026-11-30"), ("page_token", &token)]))
            .unwrap();
        assert_eq!(next.offset, 5);
        // Another query (other parameters) refuses it.
        let e = service
            .bind(&pairs(&[("date", "2026-11-29"), ("page_token", &token)]))
            .unwrap_err();
        assert!(e.to_string().contains("not a token of this query"), "{e}");
        // Another service, or the same name approved again, too.
        let mut other = active(balances());
        other.change_id = 8;
        assert!(
            other
                .bind(&pairs(&[("date", "2026-11-30"), ("page_token", &token)]))
                .is_err()
        );
        // Every altered character is noticed.
        for i in 0..token.len() {
            let mut bytes = token.clone().into_bytes();
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            let altered = String::from_utf8(bytes).unwrap();
            assert!(
                read_page_token(&altered, &first.fingerprint).is_err(),
                "altering character {i} went unnoticed"
            );
        }
        assert!(read_page_token("", &first.fingerprint).is_err());
        assert!(read_page_token("!!!", &first.fingerprint).is_err());
    }

    #[test]
    fn buckets_hold_a_minute_and_refill_at_the_rate() {
        let limiter = RateLimiter::default();
        let t0 = Instant::now();
        for _ in 0..3 {
            limiter.take("token:a", "svc", 3, t0).unwrap();
        }
        let wait = limiter.take("token:a", "svc", 3, t0).unwrap_err();
        // 3 a minute: one every 20 s.
        assert!(
            wait > Duration::from_secs(19) && wait <= Duration::from_millis(20_001),
            "{wait:?}"
        );
        // Other callers and other services have buckets of their own.
        limiter.take("token:b", "svc", 3, t0).unwrap();
        limiter.take("token:a", "other", 3, t0).unwrap();
        // About 20 s later, one more call.
        let later = t0 + Duration::from_secs(21);
        limiter.take("token:a", "svc", 3, later).unwrap();
        assert!(limiter.take("token:a", "svc", 3, later).is_err());
        // Never more than a minute's worth, however long the caller waited.
        let much_later = t0 + Duration::from_secs(3600);
        for _ in 0..3 {
            limiter.take("token:a", "svc", 3, much_later).unwrap();
        }
        assert!(limiter.take("token:a", "svc", 3, much_later).is_err());
    }

    #[test]
    fn values_leave_as_plain_json_with_money_in_fen() {
        assert_eq!(plain(&Value::Money(123_456)), serde_json::json!(123_456));
        assert_eq!(
            plain(&Value::Date(Date::new(2026, 11, 1))),
            serde_json::json!("2026-11-01")
        );
        assert_eq!(
            plain(&Value::Decimal("0.13".into())),
            serde_json::json!("0.13")
        );
        assert_eq!(plain(&Value::Float(f64::NAN)), serde_json::Value::Null);
        assert_eq!(plain(&Value::Boolean(true)), serde_json::json!(true));
    }

    #[test]
    fn a_stable_order_ends_with_every_dimension() {
        let service = active(balances());
        let call = service.bind(&pairs(&[("date", "2026-11-30")])).unwrap();
        let q = service.query(Vec::new(), &call, 6);
        let order: Vec<(&str, bool)> = q
            .order
            .iter()
            .map(|o| (o.field.as_str(), o.descending))
            .collect();
        assert_eq!(
            order,
            [
                ("balance_date", true),
                ("org_id", false),
                ("acct_no", false)
            ]
        );
        assert_eq!(q.limit, Some(6));
    }
}
