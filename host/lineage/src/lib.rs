//! Column-level lineage (字段级血缘) of one SQL `SELECT` query.
//!
//! The models of the warehouse (数仓模型) are SQL queries over physical tables. This crate
//! parses one such query with [`sqlparser`] and answers, for every output column, which
//! physical columns it is computed from and how — the input to the lineage graph (血缘图),
//! impact analysis (影响分析) and the data catalog (数据目录).
//!
//! # What it returns
//!
//! [`lineage`] returns a [`QueryLineage`]:
//!
//! * one [`OutputColumn`] per output column, in output order, with its **direct** inputs
//!   ([`Edge`]: a physical column and an [`EdgeKind`]) and its **column-specific indirect**
//!   inputs ([`IndirectEdge`], e.g. the condition of a `CASE WHEN`);
//! * the **query-level indirect** inputs: columns that decide which rows come out or how
//!   they are grouped (joins, filters, group-bys, windows, sorts). They affect every
//!   output column, so they are listed once for the query;
//! * every physical table the query reads.
//!
//! Every column reference is resolved down to **physical tables** — those the caller's
//! [`Schema`] knows — never to a CTE name or a subquery alias. Lineage composes through
//! CTEs and derived tables (subqueries in `FROM`): the strongest [`EdgeKind`] along the
//! path wins (`Aggregation > Transformation > Identity`), so an identity of an aggregate is
//! an aggregation and a transformation of an identity is a transformation. The joins,
//! filters, group-bys, windows and sorts inside a CTE or derived table become query-level
//! indirect edges of the outer query; the column-specific indirect edges of a CTE column
//! (its `CASE` conditions) follow that column into the outer output columns that use it.
//!
//! # Rules
//!
//! * **Direct edge kinds.** A bare column (possibly renamed, possibly in parentheses) is
//!   [`EdgeKind::Identity`]. Any non-aggregate computation — arithmetic, `||`, `CASE`,
//!   `CAST` and `::`, `COALESCE`, `NULLIF`, string and date functions — is
//!   [`EdgeKind::Transformation`]. A column under an aggregate (`SUM`, `COUNT`, `MIN`,
//!   `MAX`, `AVG`, `GROUP_CONCAT`, `STRING_AGG`, …, or any function with `FILTER (WHERE …)`
//!   or `WITHIN GROUP (ORDER BY …)`) is [`EdgeKind::Aggregation`]; nested aggregates such as
//!   `SUM(a) / NULLIF(SUM(b), 0)` make both `a` and `b` aggregations. Each source column
//!   appears once per output column, with the strongest kind it reaches.
//! * **`CASE`.** The `THEN`/`ELSE` results are direct inputs (transformation); the
//!   columns in the `WHEN` conditions (and the operand of a simple `CASE x WHEN …`) are
//!   column-specific [`IndirectKind::Conditional`] edges. The same holds for the condition
//!   of SQLite's `iif(cond, a, b)` and for an aggregate's `FILTER (WHERE …)`.
//! * **Window functions (开窗函数).** `SUM(x) OVER (PARTITION BY p ORDER BY d)`,
//!   `LAG(x) OVER (…)`, `ROW_NUMBER() OVER (…)`: the function's arguments are
//!   *transformations*, not aggregations — a window function keeps one value per input row
//!   rather than collapsing rows, so it behaves like a computation over the row and its
//!   neighbours. An aggregate nested inside (`SUM(SUM(x)) OVER (…)`) is still an
//!   aggregation. The `PARTITION BY` and `ORDER BY` columns of the window (named windows
//!   from `WINDOW w AS (…)` included) are query-level [`IndirectKind::Window`] edges.
//! * **Joins, filters, group-bys, sorts.** Columns in `ON`/`USING` (and the common columns
//!   of a `NATURAL` join) are [`IndirectKind::Join`]; `WHERE`, `HAVING` and `QUALIFY` are
//!   [`IndirectKind::Filter`]; `GROUP BY` and `DISTINCT ON` are [`IndirectKind::GroupBy`];
//!   every `ORDER BY` of a query (also inside CTEs and subqueries) is recorded as
//!   [`IndirectKind::Sort`], whether or not a `LIMIT` follows. `GROUP BY`/`ORDER BY` may
//!   name an output column by alias or by position (`GROUP BY 1`); on SQLite, which allows
//!   it, so may `WHERE`/`HAVING`. When a column used in one of these places is itself
//!   derived (a CTE column), every physical column behind it — direct and column-specific
//!   indirect — gets the indirect kind.
//! * **Subqueries in expressions.** A scalar subquery in the select list contributes its
//!   single output column as a direct input (so `(SELECT o.name FROM org o WHERE …)` is an
//!   identity), and its own joins/filters become column-specific indirect edges of that
//!   output column, because they affect that column only. Subqueries in `WHERE`/`HAVING`
//!   (`x IN (SELECT …)`, `EXISTS (…)`, `x > (SELECT …)`) contribute all their columns as
//!   query-level [`IndirectKind::Filter`] edges; `EXISTS` ignores the subquery's select
//!   list, which it never reads. Correlated subqueries resolve outer references to the
//!   outer query's tables.
//! * **Set operations.** For `UNION [ALL]`, `INTERSECT` and `EXCEPT`, output column *i*
//!   draws from column *i* of every branch; the names come from the first branch.
//! * **`*` and `t.*`** expand from the [`Schema`] (physical tables) or from the output
//!   columns of a CTE or derived table. After `JOIN … USING (k)` an unqualified `k` (and
//!   `*`) names the merged column once: on SQLite `*` keeps the left table's column order
//!   and drops the right-hand `k`, on PostgreSQL the `USING` columns come first — as the
//!   two databases do. The merged `k` is the left input for inner/left joins, the right
//!   input for right joins and a transformation of both for full joins.
//! * **Names.** Unquoted identifiers fold to lower case and match case-insensitively;
//!   quoted identifiers keep their case. Output column names are the alias, or the column
//!   name for a bare column (as the [`Schema`] or the CTE spells it). An output expression
//!   that is not a bare column and has no alias is an error ([`LineageError::Unnamed`]) in
//!   the top-level query, a CTE or a derived table — the models must name every output
//!   column — unless a column list (`WITH c(a, b) AS …`, `AS s(a, b)`) names it.
//!   Subqueries in expressions need no names. Physical table names are reported as
//!   written (schema-qualified names joined with `.`), folded to lower case when unquoted.
//! * **Tables.** [`QueryLineage::tables`] lists the physical tables the query reads,
//!   including those read by subqueries and by the CTEs the query uses; a CTE that nothing
//!   references is checked but not counted as read (the databases never run it).
//! * **Errors.** A table that is neither in the [`Schema`] nor a CTE is
//!   [`LineageError::UnknownTable`]; an unqualified column found in two `FROM` items is
//!   [`LineageError::Ambiguous`]; a column found nowhere is
//!   [`LineageError::UnknownColumn`]; anything that is not one `SELECT` query (`INSERT`,
//!   `UPDATE`, several statements) is [`LineageError::NotASelect`]. Syntax the analysis
//!   does not model (recursive CTEs, `VALUES`, table functions, `LATERAL VIEW`, …) is
//!   [`LineageError::Unsupported`] rather than a guess. SQL that parses but could not run
//!   — set-operation branches of different widths, a scalar subquery with several
//!   columns, `ORDER BY 9` past the select list, a query with no output columns — is
//!   [`LineageError::Invalid`]. The analysis never panics.
//! * **Limits.** Operator chains deeper than 500 levels, and text in which more than
//!   10 000 tokens chain without a comma, are [`LineageError::Unsupported`]: the parser
//!   builds such chains without bound, and printing or dropping the resulting tree would
//!   exhaust the stack of a 2 MiB thread. Real models stay far below both.
//!
//! # Example
//!
//! ```
//! use std::collections::BTreeMap;
//! use zhiyun_lineage::{lineage, ColumnRef, Dialect, EdgeKind};
//!
//! let mut schema = BTreeMap::new();
//! schema.insert("dwd_bank_txn".to_string(), vec!["acct_no".to_string(), "amount".to_string()]);
//! let result = lineage(
//!     "SELECT acct_no, SUM(amount) AS total FROM dwd_bank_txn GROUP BY acct_no",
//!     Dialect::Sqlite,
//!     &schema,
//! )
//! .expect("lineage");
//! let total = result.column("total").expect("total");
//! assert_eq!(total.direct[0].from, ColumnRef::new("dwd_bank_txn", "amount"));
//! assert_eq!(total.direct[0].kind, EdgeKind::Aggregation);
//! ```

mod analyze;
mod deps;
mod expr;
mod guard;
mod scope;

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use serde::{Deserialize, Serialize};

/// Which SQL dialect the text is in (parsing differs slightly, e.g. `::` casts are
/// PostgreSQL-only, and `SELECT *` after `JOIN … USING` orders columns differently).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite, the embedded store.
    Sqlite,
    /// PostgreSQL, the server store.
    Postgres,
}

/// What the lineage needs to know about the tables a query reads: their columns, in order
/// (used to expand `*` / `t.*` and to resolve unqualified column names to their table).
///
/// `table` is the name as written in the query: folded to lower case when unquoted,
/// schema-qualified names joined with `.` (`public.dwd_x`). Return `None` for a table
/// that does not exist; the query is then rejected with [`LineageError::UnknownTable`].
pub trait Schema {
    /// The columns of `table`, in table order, or `None` when there is no such table.
    fn columns(&self, table: &str) -> Option<Vec<String>>;
}

/// Looks the table up by exact name first, then case-insensitively, so a map keyed by
/// `DWD_X` still answers a query that writes `dwd_x`.
impl Schema for BTreeMap<String, Vec<String>> {
    fn columns(&self, table: &str) -> Option<Vec<String>> {
        if let Some(columns) = self.get(table) {
            return Some(columns.clone());
        }
        let wanted = table.to_lowercase();
        self.iter()
            .find(|(name, _)| name.to_lowercase() == wanted)
            .map(|(_, columns)| columns.clone())
    }
}

/// Same lookup rules as the `BTreeMap` implementation. When the map holds two keys that
/// differ only in case and neither matches exactly, which one answers is unspecified.
impl<S: std::hash::BuildHasher> Schema for HashMap<String, Vec<String>, S> {
    fn columns(&self, table: &str) -> Option<Vec<String>> {
        if let Some(columns) = self.get(table) {
            return Some(columns.clone());
        }
        let wanted = table.to_lowercase();
        self.iter()
            .find(|(name, _)| name.to_lowercase() == wanted)
            .map(|(_, columns)| columns.clone())
    }
}

impl<T: Schema + ?Sized> Schema for &T {
    fn columns(&self, table: &str) -> Option<Vec<String>> {
        (**self).columns(table)
    }
}

/// A physical column: the table name as written in the query (unquoted names folded to
/// lower case) and the column name as the [`Schema`] spells it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ColumnRef {
    /// Physical table, e.g. `dwd_bank_txn` or `public.dwd_bank_txn`.
    pub table: String,
    /// Column of that table.
    pub column: String,
}

impl ColumnRef {
    /// A column reference from its table and column names (taken as they are).
    pub fn new(table: impl Into<String>, column: impl Into<String>) -> Self {
        ColumnRef {
            table: table.into(),
            column: column.into(),
        }
    }
}

impl fmt::Display for ColumnRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.table, self.column)
    }
}

/// How an output column's value is derived from a direct input column. The order of the
/// variants is their strength: when a column reaches an output along several paths, or
/// through a CTE, the strongest kind wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EdgeKind {
    /// The value passes through unchanged, possibly renamed (`CAST` counts as a
    /// transformation, not as identity).
    Identity,
    /// Computed from the input by a non-aggregate expression (arithmetic, `CASE`, function,
    /// `CAST`, `COALESCE`, a window function…).
    Transformation,
    /// The input is under an aggregate function (`SUM`, `COUNT`, `MIN`, `MAX`, `AVG`, …).
    Aggregation,
}

/// Why a column influences output without being part of an output value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IndirectKind {
    /// A column in a join's `ON` / `USING` (or the common columns of a `NATURAL` join).
    Join,
    /// A column in `WHERE`, `HAVING` or `QUALIFY`, or anywhere in a subquery used there.
    Filter,
    /// A column in `GROUP BY` or `DISTINCT ON`.
    GroupBy,
    /// A column in the `PARTITION BY` / `ORDER BY` of a window (`OVER (…)`).
    Window,
    /// A column in an `ORDER BY` of a query, or in the `ORDER BY` inside an aggregate's
    /// arguments (`string_agg(x, ',' ORDER BY y)`, column-specific).
    Sort,
    /// A column in a `CASE WHEN` condition (or `FILTER (WHERE …)`, `iif` condition):
    /// recorded on the output column whose value it selects.
    Conditional,
}

/// A direct input of an output column.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Edge {
    /// The physical input column.
    pub from: ColumnRef,
    /// How the output is derived from it.
    pub kind: EdgeKind,
}

/// An indirect input: a column that decides which rows or which branch, not the value.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct IndirectEdge {
    /// The physical input column.
    pub from: ColumnRef,
    /// Where it is used.
    pub kind: IndirectKind,
}

/// The lineage of one output column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputColumn {
    /// Output column name: the alias, or the column name for a bare column.
    pub name: String,
    /// Direct inputs, sorted, one edge per source column with the strongest kind.
    pub direct: Vec<Edge>,
    /// Column-specific indirect inputs (e.g. `CASE` conditions), sorted, deduplicated.
    pub indirect: Vec<IndirectEdge>,
}

/// The column-level lineage of one query.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryLineage {
    /// One entry per output column, in output order.
    pub columns: Vec<OutputColumn>,
    /// Query-level indirect inputs — joins, filters, group-bys, windows, sorts, also those
    /// inside the CTEs and subqueries used — which affect every output column. Sorted,
    /// deduplicated.
    pub indirect: Vec<IndirectEdge>,
    /// Every physical table read, sorted, deduplicated.
    pub tables: Vec<String>,
}

impl QueryLineage {
    /// The first output column called `name` (exact match).
    pub fn column(&self, name: &str) -> Option<&OutputColumn> {
        self.columns.iter().find(|column| column.name == name)
    }
}

/// Why a query's lineage could not be computed. Each message says what and where.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LineageError {
    /// The text is not valid SQL in the chosen dialect.
    #[error("SQL parse error: {0}")]
    Parse(String),
    /// The text is valid SQL but not exactly one `SELECT` query.
    #[error("not a single SELECT query: {0}")]
    NotASelect(String),
    /// A table (or a qualifier such as `x` in `x.col`) that is neither in the schema nor
    /// a CTE or alias in scope.
    #[error("unknown table `{0}`: not in the schema and not a CTE or alias in scope")]
    UnknownTable(String),
    /// A column found in none of the tables in scope.
    #[error("unknown column `{column}` (searched: {})", .searched.join(", "))]
    UnknownColumn {
        /// The column as written (`col` or `t.col`).
        column: String,
        /// The `FROM` items searched, innermost query first.
        searched: Vec<String>,
    },
    /// An unqualified column found in more than one `FROM` item (or a name given to more
    /// than one output column, or a qualifier bound twice).
    #[error("ambiguous column `{column}`: found in {}", .candidates.join(", "))]
    Ambiguous {
        /// The column as written.
        column: String,
        /// Where it was found.
        candidates: Vec<String>,
    },
    /// An output expression that is not a bare column and has no alias.
    #[error("output column {position} (`{expr}`) of {scope} has no name: give it an alias with AS")]
    Unnamed {
        /// 1-based position in the select list.
        position: usize,
        /// The expression, as SQL.
        expr: String,
        /// Which query: `the query`, `CTE `x``, `subquery `s``.
        scope: String,
    },
    /// Valid SQL that the lineage analysis does not model.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// SQL that parses but cannot run: a set operation whose branches differ in column
    /// count, a scalar subquery with several columns, `ORDER BY 9` past the select list…
    #[error("invalid query: {0}")]
    Invalid(String),
}

/// The column-level lineage of `sql`, one `SELECT` query in `dialect`, over the tables
/// `schema` describes. See the crate docs for the rules.
pub fn lineage(
    sql: &str,
    dialect: Dialect,
    schema: &dyn Schema,
) -> Result<QueryLineage, LineageError> {
    analyze::lineage(sql, dialect, schema)
}
