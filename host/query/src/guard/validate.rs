//! Pass 1 of the guard: every construct of the app's query checked against
//! the allow-lists, and the app's placeholders numbered.
//!
//! The visitor sees every node of the tree, subqueries included, so a rule
//! here holds everywhere in the statement. Table names are resolved in pass
//! 2 (which needs `WITH` scopes); this pass only refuses the shapes of
//! `FROM` items that are never a plain table (table functions, hints).

use super::{DatasetView, Dialect, GuardError, MAX_PLACEHOLDER, Refusal, flow};
use sqlparser::ast::{
    BinaryOperator, DataType, Expr, Function, FunctionArg, FunctionArgExpr, FunctionArgumentClause,
    FunctionArguments, GroupByExpr, InTarget, LimitClause, ObjectName, ObjectNamePart, Query,
    Select, SelectFlavor, SelectItem, SetExpr, Statement, TableFactor, Value, ValueWithSpan,
    VisitorMut, WildcardAdditionalOptions,
};
use std::collections::{BTreeMap, BTreeSet};
use std::ops::ControlFlow;

/// Functions every backend may call.
const COMMON_FUNCTIONS: &[&str] = &[
    // Aggregates.
    "count",
    "sum",
    "min",
    "max",
    "avg",
    // Window functions.
    "row_number",
    "rank",
    "dense_rank",
    "lag",
    "lead",
    "first_value",
    "last_value",
    "ntile",
    // Scalar functions.
    "abs",
    "round",
    "coalesce",
    "nullif",
    "length",
    "lower",
    "upper",
    "trim",
    "ltrim",
    "rtrim",
    "substr",
    "substring",
    "replace",
    "concat",
];

/// SQLite only (`max` / `min` with several arguments are SQLite's scalar
/// forms of the aggregates above).
const SQLITE_FUNCTIONS: &[&str] = &[
    "total",
    "group_concat",
    "ifnull",
    "instr",
    "date",
    "strftime",
];

/// PostgreSQL only (`extract` is syntax, checked as such).
const POSTGRES_FUNCTIONS: &[&str] = &[
    "string_agg",
    "strpos",
    "greatest",
    "least",
    "to_char",
    "date_trunc",
];

/// Whether an app may call the function `name` (case-insensitive) on
/// `dialect`. Anything not listed — file, extension, network, session,
/// sleep, version and random functions among them — is refused.
pub fn allowed_function(dialect: Dialect, name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    let extra = match dialect {
        Dialect::Sqlite => SQLITE_FUNCTIONS,
        Dialect::Postgres => POSTGRES_FUNCTIONS,
    };
    COMMON_FUNCTIONS.contains(&name.as_str()) || extra.contains(&name.as_str())
}

/// Collations a query may name (lower-cased).
fn allowed_collation(dialect: Dialect, name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    match dialect {
        Dialect::Sqlite => ["binary", "nocase", "rtrim"].contains(&name.as_str()),
        Dialect::Postgres => ["c", "posix", "default"].contains(&name.as_str()),
    }
}

/// The types a value may be cast to.
fn allowed_type(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Integer(_)
            | DataType::Int(_)
            | DataType::BigInt(_)
            | DataType::Int4(_)
            | DataType::Int8(_)
            | DataType::Text
            | DataType::Varchar(_)
            | DataType::CharacterVarying(_)
            | DataType::Real
            | DataType::DoublePrecision
            | DataType::Double(_)
            | DataType::Numeric(_)
            | DataType::Decimal(_)
            | DataType::Date
            | DataType::Boolean
            | DataType::Bool
    )
}

/// Binary operators: arithmetic, comparison, logic, string concatenation
/// and pattern matching built into the backend. Not `REGEXP` / `MATCH`
/// (SQLite calls user functions for them), JSON operators, custom
/// `OPERATOR(…)`s or assignments.
fn allowed_operator(op: &BinaryOperator) -> bool {
    use BinaryOperator::*;
    matches!(
        op,
        Plus | Minus
            | Multiply
            | Divide
            | Modulo
            | StringConcat
            | Gt
            | Lt
            | GtEq
            | LtEq
            | Eq
            | NotEq
            | And
            | Or
            | BitwiseOr
            | BitwiseAnd
            | Glob
            | PGRegexMatch
            | PGRegexIMatch
            | PGRegexNotMatch
            | PGRegexNotIMatch
            | PGLikeMatch
            | PGILikeMatch
            | PGNotLikeMatch
            | PGNotILikeMatch
            | PGStartsWith
            | Is
            | IsNot
    )
}

pub(super) struct Validate {
    dialect: Dialect,
    /// Lower-cased dataset and physical table names: a `WITH` may not take
    /// them.
    reserved: BTreeSet<String>,
    /// How many plain `?` so far.
    sequential: usize,
    /// Whether a `?N` was seen.
    numbered: bool,
    /// The placeholder numbers used.
    used: BTreeSet<usize>,
}

impl Validate {
    pub(super) fn new(views: &BTreeMap<String, DatasetView>, dialect: Dialect) -> Validate {
        let reserved = views
            .iter()
            .flat_map(|(k, v)| [k.to_ascii_lowercase(), v.table.to_ascii_lowercase()])
            .collect();
        Validate {
            dialect,
            reserved,
            sequential: 0,
            numbered: false,
            used: BTreeSet::new(),
        }
    }

    /// The placeholder numbers the statement uses, ascending.
    pub(super) fn into_placeholders(self) -> Vec<usize> {
        self.used.into_iter().collect()
    }

    fn query(&self, q: &Query) -> Result<(), GuardError> {
        if let Some(lock) = q.locks.first() {
            return Err(GuardError::new(
                Refusal::Clause,
                lock,
                "a read-only query takes no row locks",
            ));
        }
        if let Some(c) = &q.for_clause {
            return Err(GuardError::new(Refusal::Clause, c, "not supported"));
        }
        if q.settings.is_some() || q.format_clause.is_some() || !q.pipe_operators.is_empty() {
            return Err(GuardError::new(
                Refusal::Clause,
                q,
                "SETTINGS, FORMAT and pipe operators are not supported",
            ));
        }
        if let Some(LimitClause::LimitOffset { limit_by, .. }) = &q.limit_clause
            && let Some(e) = limit_by.first()
        {
            return Err(GuardError::new(
                Refusal::Clause,
                e,
                "LIMIT BY is not supported",
            ));
        }
        if let Some(with) = &q.with {
            for cte in &with.cte_tables {
                let name = &cte.alias.name;
                if self.reserved.contains(&name.value.to_ascii_lowercase()) {
                    return Err(GuardError::new(
                        Refusal::Table,
                        name,
                        "a WITH name may not reuse the name of a dataset or of a warehouse table",
                    ));
                }
                if let Some(from) = &cte.from {
                    return Err(GuardError::new(
                        Refusal::Clause,
                        from,
                        "WITH … FROM is not supported",
                    ));
                }
            }
        }
        // The body and every set operation under it (iteratively: a long
        // chain of UNIONs is a deep tree).
        let mut bodies: Vec<&SetExpr> = vec![&q.body];
        while let Some(body) = bodies.pop() {
            match body {
                SetExpr::Select(_) | SetExpr::Query(_) | SetExpr::Values(_) => {}
                SetExpr::SetOperation { left, right, .. } => {
                    bodies.push(left);
                    bodies.push(right);
                }
                SetExpr::Insert(s)
                | SetExpr::Update(s)
                | SetExpr::Delete(s)
                | SetExpr::Merge(s) => {
                    return Err(GuardError::new(
                        Refusal::NotAQuery,
                        s,
                        "a query may not modify data, not even inside WITH",
                    ));
                }
                SetExpr::Table(t) => {
                    return Err(GuardError::new(
                        Refusal::Clause,
                        t,
                        "write SELECT … FROM instead of TABLE",
                    ));
                }
                #[allow(unreachable_patterns)]
                other => {
                    return Err(GuardError::new(
                        Refusal::Clause,
                        other,
                        "not a SELECT, VALUES or set operation",
                    ));
                }
            }
        }
        Ok(())
    }

    fn select(&self, s: &Select) -> Result<(), GuardError> {
        let refuse = |what: &str| {
            Err(GuardError::new(
                Refusal::Clause,
                what,
                "not allowed in a read-only query over datasets",
            ))
        };
        if let Some(into) = &s.into {
            return Err(GuardError::new(
                Refusal::Clause,
                into,
                "SELECT … INTO creates a table; a query may only read",
            ));
        }
        if s.top.is_some() {
            return refuse("TOP");
        }
        if !s.optimizer_hints.is_empty() {
            return refuse("optimizer hints");
        }
        if s.select_modifiers.is_some() {
            return refuse("SELECT modifiers");
        }
        if s.exclude.is_some() {
            return refuse("EXCLUDE");
        }
        if !s.lateral_views.is_empty() {
            return refuse("LATERAL VIEW");
        }
        if s.prewhere.is_some() {
            return refuse("PREWHERE");
        }
        if !s.connect_by.is_empty() {
            return refuse("CONNECT BY");
        }
        if !s.cluster_by.is_empty() || !s.distribute_by.is_empty() || !s.sort_by.is_empty() {
            return refuse("CLUSTER / DISTRIBUTE / SORT BY");
        }
        if s.qualify.is_some() {
            return refuse("QUALIFY");
        }
        if s.value_table_mode.is_some() {
            return refuse("SELECT AS VALUE / STRUCT");
        }
        if !matches!(s.flavor, SelectFlavor::Standard) {
            return refuse("FROM before SELECT");
        }
        match &s.group_by {
            GroupByExpr::All(_) => return refuse("GROUP BY ALL"),
            GroupByExpr::Expressions(_, modifiers) if !modifiers.is_empty() => {
                return refuse("GROUP BY … WITH modifiers");
            }
            _ => {}
        }
        for item in &s.projection {
            let options = match item {
                SelectItem::Wildcard(o) | SelectItem::QualifiedWildcard(_, o) => o,
                _ => continue,
            };
            if !plain_wildcard(options) {
                return Err(GuardError::new(
                    Refusal::Clause,
                    item,
                    "a wildcard takes no options",
                ));
            }
        }
        Ok(())
    }

    fn table_factor(&self, t: &TableFactor) -> Result<(), GuardError> {
        match t {
            TableFactor::Table {
                name,
                args,
                with_hints,
                version,
                with_ordinality,
                partitions,
                json_path,
                sample,
                index_directives,
                inheritance,
                ..
            } => {
                if args.is_some() {
                    return Err(GuardError::new(
                        Refusal::Table,
                        t,
                        "table-valued functions are not readable; only granted datasets are",
                    ));
                }
                if name.0.len() != 1 {
                    return Err(GuardError::new(
                        Refusal::Table,
                        name,
                        "write the dataset name alone; schema-qualified names are not readable",
                    ));
                }
                if !with_hints.is_empty()
                    || version.is_some()
                    || *with_ordinality
                    || !partitions.is_empty()
                    || json_path.is_some()
                    || sample.is_some()
                    || !index_directives.is_empty()
                    || inheritance.is_some()
                {
                    return Err(GuardError::new(
                        Refusal::Clause,
                        t,
                        "table hints and options are not supported",
                    ));
                }
                Ok(())
            }
            TableFactor::Derived { sample: None, .. } | TableFactor::NestedJoin { .. } => Ok(()),
            TableFactor::Derived { .. } => Err(GuardError::new(
                Refusal::Clause,
                t,
                "TABLESAMPLE is not supported",
            )),
            _ => Err(GuardError::new(
                Refusal::Table,
                t,
                "only granted datasets, WITH names and subqueries may appear in FROM",
            )),
        }
    }

    fn expr(&self, e: &Expr) -> Result<(), GuardError> {
        let postgres = self.dialect == Dialect::Postgres;
        match e {
            Expr::Function(f) => self.function(f),
            Expr::Cast {
                data_type, format, ..
            } => {
                if format.is_some() {
                    return Err(GuardError::new(
                        Refusal::Expression,
                        e,
                        "CAST … FORMAT is not supported",
                    ));
                }
                check_type(data_type)
            }
            Expr::TypedString(t) => check_type(&t.data_type),
            Expr::Collate { collation, .. } => match single_name(collation) {
                Some(name) if allowed_collation(self.dialect, &name) => Ok(()),
                _ => Err(GuardError::new(
                    Refusal::Expression,
                    collation,
                    "this collation is not available to apps",
                )),
            },
            Expr::In { target, global, .. } => match target {
                _ if *global => Err(GuardError::new(
                    Refusal::Expression,
                    e,
                    "GLOBAL IN is not supported",
                )),
                InTarget::List(_) | InTarget::Subquery(_) => Ok(()),
                _ => Err(GuardError::new(
                    Refusal::Table,
                    e,
                    "write IN (SELECT … FROM dataset) or IN (values)",
                )),
            },
            Expr::BinaryOp { op, .. }
            | Expr::AnyOp { compare_op: op, .. }
            | Expr::AllOp { compare_op: op, .. } => {
                if allowed_operator(op) {
                    Ok(())
                } else {
                    Err(GuardError::new(
                        Refusal::Expression,
                        op,
                        "this operator is not available to apps",
                    ))
                }
            }
            Expr::Like { any, .. } | Expr::ILike { any, .. } => {
                if *any {
                    Err(GuardError::new(
                        Refusal::Expression,
                        e,
                        "LIKE ANY is not supported",
                    ))
                } else {
                    Ok(())
                }
            }
            Expr::Extract { .. } | Expr::AtTimeZone { .. } | Expr::Interval(_) if postgres => {
                Ok(())
            }
            Expr::Identifier(_)
            | Expr::CompoundIdentifier(_)
            | Expr::IsFalse(_)
            | Expr::IsNotFalse(_)
            | Expr::IsTrue(_)
            | Expr::IsNotTrue(_)
            | Expr::IsNull(_)
            | Expr::IsNotNull(_)
            | Expr::IsUnknown(_)
            | Expr::IsNotUnknown(_)
            | Expr::IsDistinctFrom(..)
            | Expr::IsNotDistinctFrom(..)
            | Expr::Between { .. }
            | Expr::SimilarTo { .. }
            | Expr::UnaryOp { .. }
            | Expr::Position { .. }
            | Expr::Substring { .. }
            | Expr::Trim { .. }
            | Expr::Nested(_)
            | Expr::Value(_)
            | Expr::Case { .. }
            | Expr::Exists { .. }
            | Expr::Subquery(_)
            | Expr::GroupingSets(_)
            | Expr::Cube(_)
            | Expr::Rollup(_)
            | Expr::Tuple(_)
            | Expr::Wildcard(_)
            | Expr::QualifiedWildcard(..) => Ok(()),
            _ => Err(GuardError::new(
                Refusal::Expression,
                e,
                "this kind of expression is not available to apps",
            )),
        }
    }

    fn function(&self, f: &Function) -> Result<(), GuardError> {
        let Some(name) = single_name(&f.name) else {
            return Err(GuardError::new(
                Refusal::Function,
                &f.name,
                "write the function name alone; schema-qualified functions are not allowed",
            ));
        };
        if !allowed_function(self.dialect, &name) {
            return Err(GuardError::new(
                Refusal::Function,
                &f.name,
                "not on the list of functions apps may call",
            ));
        }
        if f.uses_odbc_syntax
            || !matches!(f.parameters, FunctionArguments::None)
            || !f.within_group.is_empty()
        {
            return Err(GuardError::new(
                Refusal::Function,
                f,
                "this form of function call is not supported",
            ));
        }
        let args: &[FunctionArg] = match &f.args {
            FunctionArguments::None => &[],
            FunctionArguments::Subquery(_) => {
                return Err(GuardError::new(
                    Refusal::Function,
                    f,
                    "pass a subquery in parentheses as an argument",
                ));
            }
            FunctionArguments::List(list) => {
                for clause in &list.clauses {
                    if !matches!(
                        clause,
                        FunctionArgumentClause::OrderBy(_)
                            | FunctionArgumentClause::IgnoreOrRespectNulls(_)
                    ) {
                        return Err(GuardError::new(
                            Refusal::Function,
                            clause,
                            "only ORDER BY may follow the arguments",
                        ));
                    }
                }
                &list.args
            }
        };
        let mut exprs = Vec::with_capacity(args.len());
        for arg in args {
            match arg {
                FunctionArg::Unnamed(a) => exprs.push(a),
                _ => {
                    return Err(GuardError::new(
                        Refusal::Function,
                        arg,
                        "named arguments are not supported",
                    ));
                }
            }
        }
        // SQLite's date functions read their format and modifiers as
        // strings; only literals are accepted there, so a modifier is
        // never computed from data.
        let literal_only: Vec<usize> = match (self.dialect, name.as_str()) {
            (Dialect::Sqlite, "date") => (1..exprs.len()).collect(),
            (Dialect::Sqlite, "strftime") => (0..exprs.len()).filter(|&i| i != 1).collect(),
            _ => Vec::new(),
        };
        for i in literal_only {
            let literal = matches!(
                exprs.get(i),
                Some(FunctionArgExpr::Expr(Expr::Value(ValueWithSpan {
                    value: Value::SingleQuotedString(_),
                    ..
                })))
            );
            if !literal {
                return Err(GuardError::new(
                    Refusal::Function,
                    f,
                    format!("the format and modifiers of {name}() must be string literals"),
                ));
            }
        }
        Ok(())
    }

    fn placeholder(&mut self, v: &mut ValueWithSpan) -> Result<(), GuardError> {
        let Value::Placeholder(p) = &v.value else {
            return Ok(());
        };
        let n = if p == "?" {
            if self.numbered {
                return Err(GuardError::new(
                    Refusal::Placeholder,
                    p,
                    "use either ?1, ?2, … or plain ?, not both",
                ));
            }
            self.sequential += 1;
            self.sequential
        } else if let Some(digits) = p.strip_prefix('?')
            && !digits.is_empty()
            && digits.bytes().all(|b| b.is_ascii_digit())
        {
            if self.sequential > 0 {
                return Err(GuardError::new(
                    Refusal::Placeholder,
                    p,
                    "use either ?1, ?2, … or plain ?, not both",
                ));
            }
            self.numbered = true;
            match digits.parse::<usize>() {
                Ok(n) if (1..=MAX_PLACEHOLDER).contains(&n) => n,
                _ => {
                    return Err(GuardError::new(
                        Refusal::Placeholder,
                        p,
                        format!("placeholders are numbered from ?1 to ?{MAX_PLACEHOLDER}"),
                    ));
                }
            }
        } else {
            return Err(GuardError::new(
                Refusal::Placeholder,
                p,
                "parameters are written ?1, ?2, … (or ?)",
            ));
        };
        if n > MAX_PLACEHOLDER {
            return Err(GuardError::new(
                Refusal::Placeholder,
                p,
                format!("at most {MAX_PLACEHOLDER} placeholders"),
            ));
        }
        self.used.insert(n);
        // Numbered as written for now; pass 2 closes the gaps.
        v.value = Value::Placeholder(format!("${n}"));
        Ok(())
    }
}

fn check_type(t: &DataType) -> Result<(), GuardError> {
    if allowed_type(t) {
        Ok(())
    } else {
        Err(GuardError::new(
            Refusal::Type,
            t,
            "cast only to INTEGER, BIGINT, TEXT, VARCHAR, REAL, DOUBLE PRECISION, NUMERIC, DECIMAL, DATE or BOOLEAN",
        ))
    }
}

/// The lower-cased name if `name` has exactly one plain part.
fn single_name(name: &ObjectName) -> Option<String> {
    match name.0.as_slice() {
        [ObjectNamePart::Identifier(id)] => Some(id.value.to_ascii_lowercase()),
        _ => None,
    }
}

fn plain_wildcard(o: &WildcardAdditionalOptions) -> bool {
    o.opt_ilike.is_none()
        && o.opt_exclude.is_none()
        && o.opt_except.is_none()
        && o.opt_replace.is_none()
        && o.opt_rename.is_none()
        && o.opt_alias.is_none()
}

impl VisitorMut for Validate {
    type Break = GuardError;

    fn pre_visit_query(&mut self, q: &mut Query) -> ControlFlow<GuardError> {
        flow(self.query(q))
    }

    fn pre_visit_select(&mut self, s: &mut Select) -> ControlFlow<GuardError> {
        flow(self.select(s))
    }

    fn pre_visit_table_factor(&mut self, t: &mut TableFactor) -> ControlFlow<GuardError> {
        flow(self.table_factor(t))
    }

    fn pre_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<GuardError> {
        flow(self.expr(e))
    }

    fn pre_visit_value(&mut self, v: &mut ValueWithSpan) -> ControlFlow<GuardError> {
        flow(self.placeholder(v))
    }

    /// The query being visited is the statement itself; any statement met
    /// inside it is a nested write (`INSERT` in a set operation, …).
    fn pre_visit_statement(&mut self, s: &mut Statement) -> ControlFlow<GuardError> {
        ControlFlow::Break(GuardError::new(
            Refusal::NotAQuery,
            &*s,
            "a query may not contain another statement",
        ))
    }
}
