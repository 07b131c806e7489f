//! The `data`, `log` and `context` imports, and the trait the host serves
//! `data` through.

use crate::{AppError, Value, ValueKind};
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::pin::Pin;

/// A column of a [`DataTable`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ColumnMeta {
    pub name: String,
    pub kind: ValueKind,
}

/// A table of typed values, row-major.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DataTable {
    pub columns: Vec<ColumnMeta>,
    pub rows: Vec<Vec<Value>>,
}

impl DataTable {
    /// A rough size in bytes, used for output-size accounting.
    pub fn approx_size(&self) -> usize {
        self.columns
            .iter()
            .map(|c| 16 + c.name.len())
            .sum::<usize>()
            + self
                .rows
                .iter()
                .map(|r| r.iter().map(Value::approx_size).sum::<usize>())
                .sum::<usize>()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum FilterOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    InList,
    Between,
    Like,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Filter {
    pub field: String,
    pub op: FilterOp,
    pub values: Vec<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OrderBy {
    pub field: String,
    pub descending: bool,
}

/// A semantic query over a dataset (宽表).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SemanticQuery {
    pub dataset: String,
    pub dimensions: Vec<String>,
    pub measures: Vec<String>,
    pub filters: Vec<Filter>,
    pub order: Vec<OrderBy>,
    pub limit: Option<u32>,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

/// Who runs an app, where and when (`context.invocation`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Invocation {
    pub user_id: String,
    pub user_name: String,
    pub org_id: String,
    pub org_name: String,
    pub locale: String,
    /// Microseconds since the Unix epoch, UTC.
    pub now: i64,
    pub app_id: String,
    pub app_version: String,
    pub request_id: String,
}

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Serves the `data` import. The runtime calls it for every `data.query` and
/// `data.sql` an app makes; the implementation enforces what the caller may
/// see (datasets granted, rows in scope, columns masked) and the row cap.
///
/// The fixture provider in `zhiyun-data` implements it over in-memory tables;
/// the warehouse-backed query engine implements it for production.
pub trait DataProvider: Send + Sync + 'static {
    fn query<'a>(
        &'a self,
        caller: &'a Invocation,
        query: SemanticQuery,
    ) -> BoxFuture<'a, Result<DataTable, AppError>>;

    fn sql<'a>(
        &'a self,
        caller: &'a Invocation,
        statement: String,
        params: Vec<Value>,
    ) -> BoxFuture<'a, Result<DataTable, AppError>>;
}
