//! Data access for micro-apps — for now, the **fixture provider**.
//!
//! [`FixtureProvider`] implements [`zhiyun_contract::DataProvider`] over
//! in-memory datasets. It serves the `data` import wherever the warehouse is
//! not (yet) behind it: unit and integration tests, `zhiyun app test` (with a
//! developer's `fixtures/*.json` overriding the demo data) and the registry's
//! trial run of a submitted app. The built-in demo data is deterministic
//! (`fund_daily`, and `bench_journal` on request), so tests can assert exact
//! numbers; [`FUND_DAILY_RESERVE_DIPS`] lists the account-days an alert rule
//! should find, [`FUND_DAILY_UNRECONCILED`] the ones with a 未达账.
//!
//! What it is **not**: the production query engine. It decides no access
//! itself: as a [`DataProvider`] it ignores the `caller` (that is the
//! trial-run and `zhiyun app test` path, over synthetic data only), and the
//! host's governed path calls [`FixtureProvider::run_guarded`] with a
//! [`ViewGuard`] built from `zhiyun_authz::access::effective_access`, so
//! the query runs over the rows and masked cells that caller may see. It
//! runs no SQL ([`DataProvider::sql`] answers `invalid-input`) and keeps
//! everything in memory. The warehouse-backed engine replaces it behind the
//! same trait.
//!
//! # Semantic query semantics
//!
//! - An unknown dataset is `not-found`, naming it and the datasets there are.
//! - **With measures**: rows are filtered, grouped by the dimensions (which
//!   must be declared dimensions of the dataset) and aggregated; the output
//!   columns are the dimensions then the measures, one row per group, in
//!   ascending dimension order unless ordered otherwise. With measures and no
//!   dimensions there is exactly one row, even when nothing matched (sums are
//!   then null, counts 0). `sum` keeps the column's kind — money stays
//!   integer fen — except that the sum of a boolean flag is the number of
//!   rows where it is true (an int), and an `i64` overflow is
//!   `quota-exceeded`. `count` counts
//!   rows (or, with a column, its non-null values); `min`/`max` skip nulls.
//! - **Without measures**: the filtered rows, projected onto the requested
//!   columns (any column, not just declared dimensions), duplicates kept.
//! - Unknown dimensions, measures, filter fields and order fields are
//!   `not-found`, naming the field and listing the available ones.
//! - Filters apply to any column, before grouping. Values must have the
//!   column's kind (a money column takes `money` values, a date column
//!   `date` values …) and the right count — `between` 2 (inclusive),
//!   `in-list` at least 1, the others exactly 1 — else `invalid-input`.
//!   `like` works on text: `%` any run, `_` one character, `\` escapes. A
//!   null cell matches no filter.
//! - `order` takes output columns, ascending or descending, stable, nulls
//!   first in both directions.
//! - Row cap: the provider's cap (default 10 000, see
//!   [`FixtureProvider::with_row_cap`] and [`FixtureProvider::run_capped`]).
//!   A `limit` at or below the cap truncates; without one (or with a larger
//!   one) a result over the cap is `quota-exceeded`, saying how many rows
//!   matched and what the cap is — never a silent truncation.

mod dataset;
mod demo;
mod json;
mod query;

pub use dataset::{Aggregation, Dataset, Measure, ViewGuard};
pub use demo::{
    BENCH_ACCT_CODES, DEMO_ORGS, DemoOrg, FUND_DAILY_FIRST_DAY, FUND_DAILY_LAST_DAY,
    FUND_DAILY_RESERVE_DIPS, FUND_DAILY_UNRECONCILED, ReserveDip, SplitMix64, Unreconciled,
    bench_journal, fund_daily,
};
pub use json::{MAX_FIXTURE_FILE_BYTES, dataset_from_json, datasets_from_dir};

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use zhiyun_contract::{AppError, DataProvider, DataTable, Invocation, SemanticQuery, Value};

/// The future type of [`DataProvider`] (the contract crate does not export
/// its alias).
type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// Why fixture data could not be loaded or defined.
#[derive(Debug, thiserror::Error)]
pub enum FixtureError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}:{line}:{column}: invalid fixture JSON: {message}")]
    Json {
        file: String,
        line: usize,
        column: usize,
        message: String,
    },
    /// A definition or row that does not fit. `row` is 1-based (the first
    /// element of `rows` is row 1).
    #[error("{}", Located { file, dataset, row, column, message })]
    Invalid {
        file: Option<String>,
        dataset: Option<String>,
        row: Option<usize>,
        column: Option<String>,
        message: String,
    },
}

struct Located<'a> {
    file: &'a Option<String>,
    dataset: &'a Option<String>,
    row: &'a Option<usize>,
    column: &'a Option<String>,
    message: &'a String,
}

impl fmt::Display for Located<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if let Some(d) = self.dataset {
            parts.push(format!("dataset `{d}`"));
        }
        if let Some(r) = self.row {
            parts.push(format!("row {r}"));
        }
        if let Some(c) = self.column {
            parts.push(format!("column `{c}`"));
        }
        match (self.file, parts.is_empty()) {
            (Some(file), true) => write!(f, "{file}: ")?,
            (Some(file), false) => write!(f, "{file}: {}: ", parts.join(", "))?,
            (None, false) => write!(f, "{}: ", parts.join(", "))?,
            (None, true) => {}
        }
        f.write_str(self.message)
    }
}

/// Serves semantic queries over in-memory datasets. Cheap to clone (the
/// datasets are shared).
#[derive(Debug, Clone)]
pub struct FixtureProvider {
    datasets: BTreeMap<String, Arc<Dataset>>,
    row_cap: usize,
}

impl FixtureProvider {
    /// The row cap when none is set.
    pub const DEFAULT_ROW_CAP: usize = 10_000;

    /// No datasets.
    pub fn empty() -> Self {
        Self {
            datasets: BTreeMap::new(),
            row_cap: Self::DEFAULT_ROW_CAP,
        }
    }

    /// The demo datasets: `fund_daily`.
    pub fn demo() -> Self {
        Self::empty().with_dataset(fund_daily())
    }

    /// The demo datasets overlaid with the `*.json` datasets of `dir` (a
    /// file's dataset replaces a demo dataset of the same name). The format
    /// is described in the `json` module docs and in the app template's
    /// `fixtures/README.md`.
    pub fn from_json_dir(dir: &Path) -> Result<Self, FixtureError> {
        Self::demo().with_json_dir(dir)
    }

    /// Adds (or replaces) the `*.json` datasets of `dir`.
    pub fn with_json_dir(mut self, dir: &Path) -> Result<Self, FixtureError> {
        for ds in datasets_from_dir(dir)? {
            self.insert(ds);
        }
        Ok(self)
    }

    /// Adds `bench_journal` with `rows` rows (replacing any).
    pub fn with_bench_journal(self, rows: usize) -> Self {
        self.with_dataset(bench_journal(rows))
    }

    /// Adds a dataset, replacing one of the same name.
    pub fn with_dataset(mut self, dataset: Dataset) -> Self {
        self.insert(dataset);
        self
    }

    /// Adds a dataset, replacing one of the same name.
    pub fn insert(&mut self, dataset: Dataset) {
        self.datasets
            .insert(dataset.name().to_string(), Arc::new(dataset));
    }

    /// Sets the row cap (at least 1).
    pub fn with_row_cap(mut self, cap: usize) -> Self {
        self.row_cap = cap.max(1);
        self
    }

    pub fn row_cap(&self) -> usize {
        self.row_cap
    }

    pub fn dataset(&self, name: &str) -> Option<&Dataset> {
        self.datasets.get(name).map(|d| d.as_ref())
    }

    pub fn dataset_names(&self) -> impl Iterator<Item = &str> {
        self.datasets.keys().map(String::as_str)
    }

    /// Runs a semantic query with the provider's row cap.
    pub fn run(&self, query: &SemanticQuery) -> Result<DataTable, AppError> {
        self.run_capped(query, self.row_cap)
    }

    /// Runs a semantic query with the smaller of `cap` and the provider's
    /// row cap (e.g. the app's `max-rows`).
    pub fn run_capped(&self, query: &SemanticQuery, cap: usize) -> Result<DataTable, AppError> {
        let Some(ds) = self.datasets.get(&query.dataset) else {
            let names: Vec<&str> = self.dataset_names().collect();
            return Err(AppError::not_found(format!(
                "dataset `{}` not found; available datasets: {}",
                query.dataset,
                if names.is_empty() {
                    "(none)".to_string()
                } else {
                    names.join(", ")
                }
            )));
        };
        query::execute(ds, query, cap.min(self.row_cap))
    }

    /// Runs a semantic query over the dataset as `guard` lets the caller
    /// see it ([`Dataset::view`]): the governed path the host serves apps
    /// through. Errors as [`FixtureProvider::run_capped`].
    pub fn run_guarded(
        &self,
        query: &SemanticQuery,
        cap: usize,
        guard: &dyn ViewGuard,
    ) -> Result<DataTable, AppError> {
        match self.datasets.get(&query.dataset) {
            Some(ds) => query::execute(&ds.view(guard), query, cap.min(self.row_cap)),
            // The same not-found answer as the unguarded path.
            None => self.run_capped(query, cap),
        }
    }
}

/// The message `sql` answers with.
pub const SQL_UNAVAILABLE: &str =
    "guarded SQL is not available in fixture mode; use a semantic query";

impl DataProvider for FixtureProvider {
    fn query<'a>(
        &'a self,
        _caller: &'a Invocation,
        query: SemanticQuery,
    ) -> BoxFuture<'a, Result<DataTable, AppError>> {
        Box::pin(async move { self.run(&query) })
    }

    fn sql<'a>(
        &'a self,
        _caller: &'a Invocation,
        _statement: String,
        _params: Vec<Value>,
    ) -> BoxFuture<'a, Result<DataTable, AppError>> {
        Box::pin(async move { Err(AppError::invalid_input(SQL_UNAVAILABLE)) })
    }
}

/// The org ids of `org_id`'s subtree (itself first, then its descendants,
/// depth first, children in id order), from the `org_id` / `parent_id`
/// columns of the provider's `fund_daily`. Empty if the org does not appear
/// there (or `fund_daily` has no such columns).
pub fn org_subtree(provider: &FixtureProvider, org_id: &str) -> Vec<String> {
    let Some(ds) = provider.dataset("fund_daily") else {
        return Vec::new();
    };
    let (Some(ids), Some(parents)) = (ds.column_values("org_id"), ds.column_values("parent_id"))
    else {
        return Vec::new();
    };
    let mut children: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut known = std::collections::BTreeSet::new();
    for (id, parent) in ids.iter().zip(&parents) {
        let (Value::Text(id), parent) = (id, parent) else {
            continue;
        };
        if known.insert(id.clone()) {
            children
                .entry(parent.to_text())
                .or_default()
                .push(id.clone());
        }
    }
    if !known.contains(org_id) {
        return Vec::new();
    }
    for list in children.values_mut() {
        list.sort();
    }
    let mut out = Vec::new();
    let mut stack = vec![org_id.to_string()];
    while let Some(id) = stack.pop() {
        if out.contains(&id) {
            continue; // a cycle in hand-written fixtures
        }
        if let Some(kids) = children.get(&id) {
            stack.extend(kids.iter().rev().cloned());
        }
        out.push(id);
    }
    out
}

#[cfg(test)]
mod tests;
