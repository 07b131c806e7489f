//! Guarded read-only SQL: the **first wall** between an app's `data.sql`
//! and the warehouse.
//!
//! [`guard`] takes the statement an app wrote, the datasets the caller may
//! read ([`DatasetView`]s, built from `zhiyun_authz::access` by
//! [`DatasetView::from_access`]) and the backend's [`Dialect`], and returns
//! SQL that can only see what the caller may see — or a [`GuardError`] that
//! says what was refused, where and why. It never reads data, so an error
//! never holds any.
//!
//! # What is accepted
//!
//! - **Exactly one statement, and it is a query**: `SELECT`, `WITH … SELECT`,
//!   set operations (`UNION`, `INTERSECT`, `EXCEPT`) of those, `VALUES` only
//!   inside one. Every other statement is refused — `INSERT`, `UPDATE`,
//!   `DELETE`, `REPLACE`, `MERGE`, DDL, `COPY`, `ATTACH`, `PRAGMA`, `VACUUM`,
//!   `SET`, `CALL`, `EXECUTE`, `GRANT`, `EXPLAIN`, transactions — and so are
//!   a second statement (even after a comment), `SELECT … INTO`,
//!   `FOR UPDATE` / `FOR SHARE`, a bare top-level `VALUES`, `TABLE x`, and a
//!   data-modifying statement inside a `WITH`.
//! - **Tables**: every name in `FROM` / `JOIN` must be a bare (unqualified)
//!   name that is either a `WITH` name in scope or a dataset of `views`.
//!   Unquoted names match case-insensitively, quoted ones (`"x"`, `[x]`,
//!   `` `x` ``) exactly. Schema-qualified names (`main.x`, `public.x`,
//!   `pg_catalog.pg_user`), undeclared tables (`sqlite_master`,
//!   `information_schema.tables`, the physical table itself), table
//!   functions (`generate_series(…)`, `json_each(…)`, `pragma_table_info(…)`,
//!   `LATERAL` functions), table hints and `x IN table` are refused. A `WITH`
//!   name may not reuse a dataset's or a physical table's name (it would
//!   shadow the table inside the rewritten view). `WITH` scoping is the
//!   strict one: a `WITH` name is visible in the bodies of the names after it
//!   and in the main query; in its own body and earlier ones only under
//!   `WITH RECURSIVE` (recursive queries are allowed; the timeout of
//!   [`crate::exec`] stops one that never ends).
//! - **Functions** are an allow-list ([`allowed_function`]): common
//!   aggregates, window functions and a few scalar functions per backend.
//!   Everything else is refused by name (`load_extension`, `readfile`,
//!   `pg_read_file`, `pg_sleep`, `dblink`, `set_config`, `version`, …), as
//!   are schema-qualified function names and named arguments. SQLite's
//!   `date` / `strftime` take only string literals as format and modifiers.
//! - **Types**: `CAST` and typed literals only to integer, text, real,
//!   double precision, numeric / decimal, date and boolean types (no
//!   `regclass`, `oid`, …); `COLLATE` only `binary` / `nocase` / `rtrim`
//!   (SQLite) and `"C"` / `"POSIX"` / `"default"` (PostgreSQL).
//! - **Expressions**: an allow-list of constructs (columns, literals,
//!   arithmetic and comparison operators, `CASE`, `CAST`, `IN`, `BETWEEN`,
//!   `LIKE`, `EXISTS`, subqueries, …); operators that call user-defined
//!   functions (`REGEXP`, `MATCH`, custom `OPERATOR(…)`) and dialect
//!   extensions are refused.
//! - **Placeholders**: the app writes `?1, ?2, …` or plain `?` (meaning the
//!   next one), not both; nothing else (`$1`, `:x`, `@x`) is a placeholder
//!   an app may use.
//!
//! # The rewrite
//!
//! Every reference to a dataset `d`, with or without an alias, becomes
//!
//! ```sql
//! (SELECT <expr1> AS "col1", … FROM "<physical table>" WHERE (<row filter>) [LIMIT -1] OFFSET 0) AS <alias or d>
//! ```
//!
//! so whatever aliasing, subqueries, unions or `WITH`s the query uses, it
//! only ever sees the rows the filter passes and the columns as the view
//! shows them (masked by [`crate::mask`]); a column outside the view does
//! not exist for it (the database reports "no such column"). The `OFFSET 0`
//! is an optimisation fence: neither backend merges such a subquery into
//! the outer query or pushes the outer query's conditions into it, so an
//! app's condition is never evaluated on a row the filter hides (where an
//! error — a division by zero, an overflow — would tell it something about
//! that row). The price is that the app's own conditions cannot use the
//! physical table's indexes; the row filter's can.
//!
//! Placeholders come out as `$1, $2, …`, which both backends read: first the
//! app's (in the order of their numbers; unused numbers are skipped), then
//! the row filters' values, one set per dataset reference.
//! [`GuardedSql::params`] says what binds to each.
//!
//! The guard works on the syntax tree and prints the SQL it returns from the
//! rewritten tree, so comments, odd quoting and case (`SeLeCt`,
//! `"FUND_DAILY"`, `[x]`, `/* */` inside a statement, a trailing `--`)
//! cannot change what it decided; and the printed SQL must read back as the
//! same single query, so a quoting the printer does not render faithfully
//! is refused rather than sent. NUL characters are refused. Statements over 64 KiB or 10 000 tokens
//! are refused before parsing (a deep expression could otherwise exhaust
//! the stack).

mod resolve;
mod validate;

use sqlparser::ast::{Query, SetExpr, Statement, VisitMut};
use sqlparser::dialect::{PostgreSqlDialect, SQLiteDialect};
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer};
use std::collections::BTreeMap;
use std::fmt;
use std::ops::ControlFlow;
use zhiyun_authz::access::{ColumnAccess, EffectiveAccess};
use zhiyun_contract::AppError;

pub use validate::allowed_function;

use crate::mask::{clear_where_sql, mask_sql};

/// The longest statement the guard reads, in bytes.
pub const MAX_STATEMENT_BYTES: usize = 64 * 1024;
/// The most tokens (comments and whitespace not counted) a statement may
/// have. Bounds the depth of the syntax tree, which is walked recursively.
pub const MAX_TOKENS: usize = 10_000;
/// The highest placeholder number an app may use (`?999`).
pub const MAX_PLACEHOLDER: usize = 999;
/// The most dataset references a statement may make (each becomes a copy
/// of the dataset's view, so this bounds the SQL sent).
pub const MAX_DATASET_REFERENCES: usize = 64;

/// The SQL dialect of a warehouse backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

static SQLITE: SQLiteDialect = SQLiteDialect {};
static POSTGRES: PostgreSqlDialect = PostgreSqlDialect {};

impl Dialect {
    /// The dialect of a store backend.
    pub fn of(backend: zhiyun_store::Backend) -> Dialect {
        match backend {
            zhiyun_store::Backend::Sqlite => Dialect::Sqlite,
            zhiyun_store::Backend::Postgres => Dialect::Postgres,
        }
    }

    fn parser(self) -> &'static dyn sqlparser::dialect::Dialect {
        match self {
            Dialect::Sqlite => &SQLITE,
            Dialect::Postgres => &POSTGRES,
        }
    }
}

/// How one dataset the caller may read appears to its SQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatasetView {
    /// The name apps use in SQL, e.g. `fund_daily` (lower-case snake).
    pub name: String,
    /// The physical warehouse table, e.g. `ads_fund_daily`.
    pub table: String,
    /// The columns the caller may reference, in order.
    pub columns: Vec<ViewColumn>,
    /// The row filter as a SQL predicate over the physical table's columns
    /// with placeholders `$1..$n`, and their values. Placeholders in the
    /// column expressions (a column clear in some rows only) refer to the
    /// same values.
    pub row_filter: (String, Vec<String>),
}

/// One column of a [`DatasetView`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewColumn {
    /// The name the caller sees.
    pub name: String,
    /// SQL over the physical table producing the value the caller sees: a
    /// quoted column when clear, a [`mask_sql`] / [`clear_where_sql`]
    /// expression otherwise.
    pub expr: String,
}

impl DatasetView {
    /// The view of `table` (whose `columns` the dataset exposes) that an
    /// [`EffectiveAccess`] allows: its row filter, and each column clear,
    /// masked, or clear only in the rows a filter passes.
    pub fn from_access(
        name: &str,
        table: &str,
        columns: &[String],
        access: &EffectiveAccess,
        dialect: Dialect,
    ) -> DatasetView {
        let (filter, mut values) = access.predicate(1);
        // The same column `EffectiveAccess::predicate` tests.
        let org = access.org_column().unwrap_or("org_id");
        let owner = access.owner_column();
        let columns = columns
            .iter()
            .map(|c| {
                let col = quote_ident(c);
                let expr = match access.column(c) {
                    ColumnAccess::Clear => col,
                    ColumnAccess::Masked(kind) => mask_sql(dialect, &col, *kind),
                    ColumnAccess::ClearWhere { filter, mask } => {
                        let (pred, more) = filter.to_sql_from(values.len() + 1, org, owner);
                        values.extend(more);
                        clear_where_sql(dialect, &col, *mask, &pred)
                    }
                };
                ViewColumn {
                    name: c.clone(),
                    expr,
                }
            })
            .collect();
        DatasetView {
            name: name.to_string(),
            table: table.to_string(),
            columns,
            row_filter: (filter, values),
        }
    }
}

/// A statement the guard accepted, rewritten.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuardedSql {
    /// The SQL to run, with placeholders `$1..$n`.
    pub sql: String,
    /// What binds to each `$i` (`params[i - 1]`).
    pub params: Vec<BoundParam>,
    /// The datasets the statement reads, sorted.
    pub datasets: Vec<String>,
}

/// What binds to one placeholder of a [`GuardedSql`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BoundParam {
    /// The app's parameter at this 0-based index (`?1` is 0).
    User(usize),
    /// A row filter's value.
    Filter(String),
}

/// Which rule refused a statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Refusal {
    /// It does not parse, or is too long.
    Syntax,
    /// Not exactly one statement.
    StatementCount,
    /// A statement that is not a read-only query.
    NotAQuery,
    /// A clause a read-only query over datasets has no use for (`INTO`,
    /// `FOR UPDATE`, dialect extensions).
    Clause,
    /// A table that is not a granted dataset or a `WITH` name in scope.
    Table,
    /// A function not on the allow-list.
    Function,
    /// A cast or typed literal to a type not on the allow-list.
    Type,
    /// A placeholder other than `?` / `?N`.
    Placeholder,
    /// An expression construct not on the allow-list.
    Expression,
    /// The host's own view of a dataset is broken (not the app's fault).
    View,
}

impl Refusal {
    fn label(self) -> &'static str {
        match self {
            Refusal::Syntax => "syntax error",
            Refusal::StatementCount => "not a single statement",
            Refusal::NotAQuery => "not a read-only query",
            Refusal::Clause => "clause not allowed",
            Refusal::Table => "table not readable",
            Refusal::Function => "function not allowed",
            Refusal::Type => "type not allowed",
            Refusal::Placeholder => "placeholder not allowed",
            Refusal::Expression => "construct not allowed",
            Refusal::View => "dataset view misconfigured",
        }
    }
}

/// Why the guard refused a statement: which rule, the offending name or
/// fragment of the app's own SQL, and the reason. Holds no data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuardError {
    pub kind: Refusal,
    pub fragment: String,
    pub reason: String,
}

impl GuardError {
    pub(crate) fn new(
        kind: Refusal,
        fragment: impl fmt::Display,
        reason: impl Into<String>,
    ) -> Self {
        GuardError {
            kind,
            fragment: shorten(&fragment.to_string()),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for GuardError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} at `{}`: {}",
            self.kind.label(),
            self.fragment,
            self.reason
        )
    }
}

impl std::error::Error for GuardError {}

impl From<GuardError> for AppError {
    fn from(e: GuardError) -> AppError {
        match e.kind {
            Refusal::Table => AppError::access_denied(e.to_string()),
            Refusal::View => AppError::internal(e.to_string()),
            _ => AppError::invalid_input(e.to_string()),
        }
    }
}

/// At most 80 characters of a fragment, on one line.
fn shorten(s: &str) -> String {
    let one_line: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() > 80 {
        let mut out: String = one_line.chars().take(77).collect();
        out.push('…');
        out
    } else {
        one_line
    }
}

/// `Ok` as `Continue`, `Err` as `Break`: the visitors' checks are plain
/// functions returning `Result`.
pub(crate) fn flow(r: Result<(), GuardError>) -> ControlFlow<GuardError> {
    match r {
        Ok(()) => ControlFlow::Continue(()),
        Err(e) => ControlFlow::Break(e),
    }
}

/// `name` as one quoted identifier (`"` doubled inside).
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Checks an app's statement and rewrites it to read only the caller's
/// views of the datasets in `views` (keyed by the names apps use). See the
/// module documentation for every rule.
pub fn guard(
    statement: &str,
    views: &BTreeMap<String, DatasetView>,
    dialect: Dialect,
) -> Result<GuardedSql, GuardError> {
    if statement.len() > MAX_STATEMENT_BYTES {
        return Err(GuardError::new(
            Refusal::Syntax,
            statement,
            format!("the statement is longer than {MAX_STATEMENT_BYTES} bytes"),
        ));
    }
    if statement.contains('\0') {
        // SQLite stops reading a statement at a NUL byte.
        return Err(GuardError::new(
            Refusal::Syntax,
            statement.replace('\0', "\\0"),
            "the statement contains a NUL character",
        ));
    }
    let tokens = tokenize(statement, dialect)?;
    let mut statements = Parser::new(dialect.parser())
        .with_tokens_with_locations(tokens)
        .parse_statements()
        .map_err(|e| GuardError::new(Refusal::Syntax, statement, e.to_string()))?;
    if statements.len() != 1 {
        return Err(GuardError::new(
            Refusal::StatementCount,
            statement,
            format!(
                "exactly one statement is allowed, found {}",
                statements.len()
            ),
        ));
    }
    let mut query: Box<Query> = match statements.pop() {
        Some(Statement::Query(q)) => q,
        Some(other) => {
            return Err(GuardError::new(
                Refusal::NotAQuery,
                &other,
                "only a SELECT query (optionally with WITH and UNION) may run",
            ));
        }
        None => {
            return Err(GuardError::new(
                Refusal::StatementCount,
                statement,
                "the statement is empty",
            ));
        }
    };
    if matches!(*query.body, SetExpr::Values(_)) {
        return Err(GuardError::new(
            Refusal::NotAQuery,
            &query,
            "a bare VALUES list is not a query over datasets",
        ));
    }

    // Pass 1: every construct on the allow-lists; the app's placeholders
    // numbered `$N` as written.
    let mut check = validate::Validate::new(views, dialect);
    if let ControlFlow::Break(e) = query.visit(&mut check) {
        return Err(e);
    }
    let user_numbers = check.into_placeholders();

    // Pass 2: table references resolved against WITH scopes and the
    // datasets, datasets replaced by their views, placeholders renumbered.
    let mut rewrite = resolve::Resolve::new(views, dialect, &user_numbers);
    if let ControlFlow::Break(e) = query.visit(&mut rewrite) {
        return Err(e);
    }
    let (params, datasets) = rewrite.finish();
    let sql = query.to_string();
    reads_back(&sql, dialect)
        .map_err(|reason| GuardError::new(Refusal::Syntax, statement, reason))?;
    Ok(GuardedSql {
        sql,
        params,
        datasets,
    })
}

/// The SQL sent to the database is printed from the checked tree; reading
/// it back must give one query that prints the same. A printer that failed
/// to escape something (a `]` inside a SQLite `[name]`, say, which the
/// parser reads as an escape and SQLite as the end of the name) would show
/// here, instead of the database reading a different statement.
fn reads_back(sql: &str, dialect: Dialect) -> Result<(), String> {
    let again = Parser::parse_sql(dialect.parser(), sql)
        .map_err(|e| format!("the rewritten statement does not read back: {e}"))?;
    match again.as_slice() {
        [q @ Statement::Query(_)] if q.to_string() == sql => Ok(()),
        _ => Err(
            "the rewritten statement reads back differently (unusual quoting?); \
             write names with double quotes"
                .into(),
        ),
    }
}

/// The statement's tokens, counted (the count bounds the tree's depth). On
/// PostgreSQL `?` is a jsonb operator to the tokenizer; an app's `?` and
/// `?N` are placeholders on every backend, so they become placeholder
/// tokens here (a `?` immediately followed by digits is one placeholder).
fn tokenize(sql: &str, dialect: Dialect) -> Result<Vec<TokenWithSpan>, GuardError> {
    let raw = Tokenizer::new(dialect.parser(), sql)
        .tokenize_with_location()
        .map_err(|e| GuardError::new(Refusal::Syntax, sql, e.to_string()))?;
    let mut out = Vec::with_capacity(raw.len());
    let mut counted = 0usize;
    let mut tokens = raw.into_iter().peekable();
    while let Some(mut t) = tokens.next() {
        if !matches!(t.token, Token::Whitespace(_)) {
            counted += 1;
            if counted > MAX_TOKENS {
                return Err(GuardError::new(
                    Refusal::Syntax,
                    sql,
                    format!("the statement has more than {MAX_TOKENS} tokens"),
                ));
            }
        }
        if dialect == Dialect::Postgres && t.token == Token::Question {
            let mut text = String::from("?");
            if let Some(next) = tokens.peek()
                && next.span.start == t.span.end
                && let Token::Number(digits, false) = &next.token
            {
                text.push_str(digits);
                t.span.end = next.span.end;
                tokens.next();
            }
            t.token = Token::Placeholder(text);
        }
        out.push(t);
    }
    Ok(out)
}
