//! Queries, `SELECT`s and their `FROM` clauses: builds scopes, analyses the select list and
//! the row-deciding clauses, composes CTEs and derived tables, and assembles the result.

use std::collections::BTreeSet;
use std::rc::Rc;

use sqlparser::ast::{
    Distinct, Expr, GroupByExpr, Ident, Join, JoinConstraint, JoinOperator, NamedWindowDefinition,
    ObjectName, ObjectNamePart, OrderBy, OrderByKind, Query, Select, SelectItem,
    SelectItemQualifiedWildcardKind, SetExpr, SetQuantifier, Statement, TableAlias,
    TableAliasColumnDef, TableFactor, TableWithJoins, Value, WildcardAdditionalOptions,
};
use sqlparser::dialect::{PostgreSqlDialect, SQLiteDialect};
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Token, Tokenizer};

use crate::deps::{Deps, IndirectSet, indirect_edges};
use crate::guard;
use crate::scope::{FromItem, ItemColumn, MergedColumn, Name, Scope, Visible, normalize};
use crate::{
    ColumnRef, Dialect, EdgeKind, IndirectKind, LineageError, OutputColumn, QueryLineage, Schema,
};

pub(crate) type Result<T> = std::result::Result<T, LineageError>;

/// An output column of a query before naming is enforced: subqueries in expressions need
/// no names, and a CTE's column list can name what its query left unnamed.
#[derive(Debug, Clone)]
pub(crate) struct RelColumn {
    pub name: Option<String>,
    /// 1-based position of the select item that produced it, for `Unnamed` errors.
    pub position: usize,
    /// The SQL of an unnamed select item (shortened), for `Unnamed` errors; empty otherwise.
    pub expr_text: String,
    pub deps: Deps,
}

/// The analysis of one query: its columns and everything that decides its rows.
#[derive(Debug, Clone, Default)]
pub(crate) struct Relation {
    pub columns: Vec<RelColumn>,
    pub indirect: IndirectSet,
    pub tables: BTreeSet<String>,
}

/// A query whose every output column has a name: what a CTE or derived table offers to
/// the query that reads it.
#[derive(Debug, Clone)]
pub(crate) struct NamedRelation {
    pub columns: Vec<ItemColumn>,
    pub indirect: IndirectSet,
    pub tables: BTreeSet<String>,
}

/// What one `SELECT` collects besides its columns: query-level indirect edges and the
/// physical tables read (by its `FROM`, its CTE references and its subqueries).
#[derive(Debug, Default)]
pub(crate) struct Acc {
    pub indirect: IndirectSet,
    pub tables: BTreeSet<String>,
}

impl Acc {
    /// Takes over what a CTE, derived table or subquery read and filtered on.
    fn take_relation(&mut self, indirect: &IndirectSet, tables: &BTreeSet<String>) {
        self.indirect.extend(indirect.iter().cloned());
        self.tables.extend(tables.iter().cloned());
    }
}

/// A CTE in scope. `relation` is `None` while a `WITH RECURSIVE` CTE is being analysed, so
/// that a reference to itself is reported rather than mistaken for a table.
struct CteBinding {
    name: String,
    relation: Option<Rc<NamedRelation>>,
}

/// The context an expression is analysed in.
pub(crate) struct ExprCtx<'c> {
    pub scope: &'c Scope<'c>,
    /// The `WINDOW w AS (…)` definitions of the enclosing `SELECT`.
    pub windows: &'c [NamedWindowDefinition],
    /// Output columns that an unqualified name may fall back to when no `FROM` column has
    /// it (`GROUP BY`/`ORDER BY` everywhere, `WHERE`/`HAVING` on SQLite).
    pub outputs: Option<&'c [RelColumn]>,
}

/// The join type, as far as it decides whose value the merged `USING` column carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JoinSide {
    Inner,
    Left,
    Right,
    Full,
}

pub(crate) struct Analyzer<'a> {
    schema: &'a dyn Schema,
    pub(crate) dialect: Dialect,
    ctes: Vec<CteBinding>,
    /// Current expression nesting, bounded so that a pathological input is an error rather
    /// than a stack overflow.
    pub(crate) depth: usize,
}

pub(crate) fn lineage(sql: &str, dialect: Dialect, schema: &dyn Schema) -> Result<QueryLineage> {
    let parser_dialect: &dyn sqlparser::dialect::Dialect = match dialect {
        Dialect::Sqlite => &SQLiteDialect {},
        Dialect::Postgres => &PostgreSqlDialect {},
    };
    let tokens = Tokenizer::new(parser_dialect, sql)
        .tokenize()
        .map_err(|error| LineageError::Parse(error.to_string()))?;
    guard::check(&tokens)?;
    let statements = Parser::parse_sql(parser_dialect, sql)
        .map_err(|error| LineageError::Parse(error.to_string()))?;
    let query = match statements.as_slice() {
        [Statement::Query(query)] => query,
        [] => {
            return Err(LineageError::NotASelect(
                "the text holds no statement".to_string(),
            ));
        }
        [_] => {
            return Err(LineageError::NotASelect(format!(
                "`{} …` is not a query",
                leading_keyword(&tokens)
            )));
        }
        many => {
            return Err(LineageError::NotASelect(format!(
                "{} statements; expected exactly one SELECT",
                many.len()
            )));
        }
    };
    let mut analyzer = Analyzer {
        schema,
        dialect,
        ctes: Vec::new(),
        depth: 0,
    };
    let relation = analyzer.analyze_query(query, None)?;
    // PostgreSQL accepts `SELECT FROM t`; a model that outputs nothing has no lineage.
    if relation.columns.is_empty() {
        return Err(LineageError::Invalid(
            "the query outputs no columns".to_string(),
        ));
    }
    let named = name_columns(relation, &[], "the query")?;
    Ok(QueryLineage {
        columns: named
            .columns
            .iter()
            .map(|column| OutputColumn {
                name: column.name.clone(),
                direct: column.deps.edges(),
                indirect: indirect_edges(&column.deps.indirect),
            })
            .collect(),
        indirect: indirect_edges(&named.indirect),
        tables: named.tables.into_iter().collect(),
    })
}

/// The first word of the text (`INSERT`, `UPDATE`…) for messages. Taken from the tokens
/// rather than by printing the statement, which may be arbitrarily large.
fn leading_keyword(tokens: &[Token]) -> String {
    tokens
        .iter()
        .find_map(|token| match token {
            Token::Word(word) => Some(word.value.to_uppercase()),
            _ => None,
        })
        .unwrap_or_else(|| "non-SELECT".to_string())
}

/// Names every column of `relation`: from `aliases` (a CTE or derived table column list)
/// first, else from the query; an unnamed column is an `Unnamed` error naming `scope`.
fn name_columns(
    relation: Relation,
    aliases: &[TableAliasColumnDef],
    scope: &str,
) -> Result<NamedRelation> {
    if aliases.len() > relation.columns.len() {
        return Err(LineageError::Invalid(format!(
            "{scope} has {} columns but its column list names {}",
            relation.columns.len(),
            aliases.len()
        )));
    }
    let mut columns = Vec::with_capacity(relation.columns.len());
    for (index, column) in relation.columns.into_iter().enumerate() {
        let name = match (aliases.get(index), column.name) {
            (Some(alias), _) => normalize(&alias.name),
            (None, Some(name)) => name,
            (None, None) => {
                return Err(LineageError::Unnamed {
                    position: column.position,
                    expr: column.expr_text,
                    scope: scope.to_string(),
                });
            }
        };
        columns.push(ItemColumn {
            name,
            deps: column.deps,
        });
    }
    Ok(NamedRelation {
        columns,
        indirect: relation.indirect,
        tables: relation.tables,
    })
}

/// The identifiers of a table name; function-style name parts are not table names.
fn name_parts(name: &ObjectName) -> Result<Vec<&Ident>> {
    name.0
        .iter()
        .map(|part| match part {
            ObjectNamePart::Identifier(ident) => Ok(ident),
            ObjectNamePart::Function(function) => Err(LineageError::Unsupported(format!(
                "a name with a function part `{}(…)`",
                function.name
            ))),
        })
        .collect()
}

/// `n` when `expr` is the integer literal `n` (a `GROUP BY 1` / `ORDER BY 1` position).
fn position_literal(expr: &Expr) -> Option<Result<usize>> {
    match expr {
        Expr::Value(value) => match &value.value {
            Value::Number(text, _) => Some(text.parse::<usize>().map_err(|_| {
                LineageError::Invalid(format!("`{text}` is not a select-list position"))
            })),
            _ => None,
        },
        _ => None,
    }
}

/// `text` cut to a length that reads well in an error message.
fn shortened(text: &str) -> String {
    const MAX_CHARS: usize = 120;
    if text.chars().count() <= MAX_CHARS {
        return text.to_string();
    }
    let mut short: String = text.chars().take(MAX_CHARS).collect();
    short.push('…');
    short
}

fn check_wildcard_options(options: &WildcardAdditionalOptions) -> Result<()> {
    if options.opt_ilike.is_some()
        || options.opt_exclude.is_some()
        || options.opt_except.is_some()
        || options.opt_replace.is_some()
        || options.opt_rename.is_some()
        || options.opt_alias.is_some()
    {
        return Err(LineageError::Unsupported(
            "`*` with ILIKE/EXCLUDE/EXCEPT/REPLACE/RENAME/AS options".to_string(),
        ));
    }
    Ok(())
}

impl<'a> Analyzer<'a> {
    /// Analyses a query (its `WITH`, body and `ORDER BY`) in the scope of `parent`, the
    /// enclosing query when this one is a subquery.
    pub(crate) fn analyze_query(
        &mut self,
        query: &Query,
        parent: Option<&Scope<'_>>,
    ) -> Result<Relation> {
        // CTEs are visible only inside the query that defines them.
        let saved = self.ctes.len();
        let result = self.analyze_query_in_place(query, parent);
        self.ctes.truncate(saved);
        result
    }

    fn analyze_query_in_place(
        &mut self,
        query: &Query,
        parent: Option<&Scope<'_>>,
    ) -> Result<Relation> {
        if query.for_clause.is_some()
            || query.settings.is_some()
            || query.format_clause.is_some()
            || !query.pipe_operators.is_empty()
        {
            return Err(LineageError::Unsupported(
                "FOR XML/JSON, SETTINGS, FORMAT and pipe operators".to_string(),
            ));
        }
        if let Some(sqlparser::ast::LimitClause::LimitOffset { limit_by, .. }) = &query.limit_clause
            && !limit_by.is_empty()
        {
            return Err(LineageError::Unsupported("LIMIT … BY".to_string()));
        }
        if let Some(with) = &query.with {
            for cte in &with.cte_tables {
                self.define_cte(cte, with.recursive, parent)?;
            }
        }
        match query.body.as_ref() {
            SetExpr::Select(select) => self.analyze_select(select, query.order_by.as_ref(), parent),
            body => {
                let mut relation = self.analyze_set_expr(body, parent)?;
                if let Some(order_by) = &query.order_by {
                    self.order_by_outputs(order_by, &mut relation, parent)?;
                }
                Ok(relation)
            }
        }
    }

    fn define_cte(
        &mut self,
        cte: &sqlparser::ast::Cte,
        recursive: bool,
        parent: Option<&Scope<'_>>,
    ) -> Result<()> {
        let name = normalize(&cte.alias.name);
        let slot = self.ctes.len();
        if recursive {
            self.ctes.push(CteBinding {
                name: name.clone(),
                relation: None,
            });
        }
        let relation = self.analyze_query(&cte.query, parent)?;
        let named = name_columns(relation, &cte.alias.columns, &format!("CTE `{name}`"))?;
        self.ctes.truncate(slot);
        self.ctes.push(CteBinding {
            name,
            relation: Some(Rc::new(named)),
        });
        Ok(())
    }

    fn find_cte(&self, name: &Ident) -> Option<&CteBinding> {
        let wanted = Name::new(name);
        self.ctes
            .iter()
            .rev()
            .find(|binding| wanted.matches(&binding.name))
    }

    fn analyze_set_expr(&mut self, body: &SetExpr, parent: Option<&Scope<'_>>) -> Result<Relation> {
        match body {
            SetExpr::Select(select) => self.analyze_select(select, None, parent),
            SetExpr::Query(query) => self.analyze_query(query, parent),
            SetExpr::SetOperation {
                left,
                op,
                set_quantifier,
                right,
            } => {
                if matches!(
                    set_quantifier,
                    SetQuantifier::ByName
                        | SetQuantifier::AllByName
                        | SetQuantifier::DistinctByName
                ) {
                    return Err(LineageError::Unsupported(format!("{op} BY NAME")));
                }
                let mut left = self.analyze_set_expr(left, parent)?;
                let right = self.analyze_set_expr(right, parent)?;
                if left.columns.len() != right.columns.len() {
                    return Err(LineageError::Invalid(format!(
                        "the branches of {op} have {} and {} columns",
                        left.columns.len(),
                        right.columns.len()
                    )));
                }
                // Column i draws from column i of every branch; names come from the left.
                for (into, from) in left.columns.iter_mut().zip(&right.columns) {
                    into.deps.absorb(&from.deps, EdgeKind::Identity);
                }
                left.indirect.extend(right.indirect);
                left.tables.extend(right.tables);
                Ok(left)
            }
            SetExpr::Values(_) => Err(LineageError::Unsupported(
                "VALUES lists (the lineage needs SELECTs over tables)".to_string(),
            )),
            SetExpr::Table(_) => Err(LineageError::Unsupported(
                "`TABLE name`; write SELECT * FROM name instead".to_string(),
            )),
            SetExpr::Insert(_) | SetExpr::Update(_) | SetExpr::Delete(_) | SetExpr::Merge(_) => {
                Err(LineageError::NotASelect(
                    "INSERT/UPDATE/DELETE/MERGE inside a query".to_string(),
                ))
            }
        }
    }

    /// `ORDER BY` of a set operation or parenthesised query: it can only name output
    /// columns (by name, position or an expression over them).
    fn order_by_outputs(
        &mut self,
        order_by: &OrderBy,
        relation: &mut Relation,
        parent: Option<&Scope<'_>>,
    ) -> Result<()> {
        let scope = Scope::new(parent);
        let mut acc = Acc::default();
        let cx = ExprCtx {
            scope: &scope,
            windows: &[],
            outputs: Some(&relation.columns),
        };
        self.order_by(order_by, &cx, &mut acc)?;
        relation.indirect.extend(acc.indirect);
        relation.tables.extend(acc.tables);
        Ok(())
    }

    fn order_by(&mut self, order_by: &OrderBy, cx: &ExprCtx<'_>, acc: &mut Acc) -> Result<()> {
        match &order_by.kind {
            OrderByKind::All(_) => Err(LineageError::Unsupported("ORDER BY ALL".to_string())),
            OrderByKind::Expressions(exprs) => {
                for order in exprs {
                    let deps = self.output_or_expr(&order.expr, true, cx, acc)?;
                    deps.add_sources_as(&mut acc.indirect, IndirectKind::Sort);
                }
                Ok(())
            }
        }
    }

    /// The dependencies of a `GROUP BY`/`ORDER BY` item: a select-list position, an output
    /// name (preferred over input columns for a bare `ORDER BY` name, as SQL says), or an
    /// expression over the input columns falling back to output names.
    fn output_or_expr(
        &mut self,
        expr: &Expr,
        prefer_output: bool,
        cx: &ExprCtx<'_>,
        acc: &mut Acc,
    ) -> Result<Deps> {
        let outputs = cx.outputs.unwrap_or(&[]);
        if let Some(position) = position_literal(expr) {
            let position = position?;
            return position
                .checked_sub(1)
                .and_then(|index| outputs.get(index))
                .map(|column| column.deps.clone())
                .ok_or_else(|| {
                    LineageError::Invalid(format!(
                        "position {position} is not in the select list ({} columns)",
                        outputs.len()
                    ))
                });
        }
        if prefer_output && let Expr::Identifier(ident) = expr {
            let name = Name::new(ident);
            let found: Vec<&RelColumn> = outputs
                .iter()
                .filter(|column| column.name.as_deref().is_some_and(|n| name.matches(n)))
                .collect();
            match found.as_slice() {
                [] => {}
                [one] => return Ok(one.deps.clone()),
                many => {
                    return Err(LineageError::Ambiguous {
                        column: name.value,
                        candidates: many
                            .iter()
                            .map(|column| format!("output column {}", column.position))
                            .collect(),
                    });
                }
            }
        }
        let mut deps = Deps::default();
        self.walk(expr, EdgeKind::Identity, cx, acc, &mut deps)?;
        Ok(deps)
    }

    fn analyze_select(
        &mut self,
        select: &Select,
        order_by: Option<&OrderBy>,
        parent: Option<&Scope<'_>>,
    ) -> Result<Relation> {
        if select.into.is_some() {
            return Err(LineageError::NotASelect(
                "SELECT … INTO writes a table".to_string(),
            ));
        }
        if !select.lateral_views.is_empty()
            || select.prewhere.is_some()
            || !select.connect_by.is_empty()
            || !select.cluster_by.is_empty()
            || !select.distribute_by.is_empty()
            || !select.sort_by.is_empty()
            || select.exclude.is_some()
            || select.value_table_mode.is_some()
        {
            return Err(LineageError::Unsupported(
                "LATERAL VIEW, PREWHERE, CONNECT BY, CLUSTER/DISTRIBUTE/SORT BY, EXCLUDE \
                 and SELECT AS VALUE/STRUCT"
                    .to_string(),
            ));
        }

        let mut scope = Scope::new(parent);
        let mut acc = Acc::default();
        for from in &select.from {
            self.add_table_with_joins(from, &mut scope, &mut acc)?;
        }

        let columns = self.projection(select, &scope, &mut acc)?;

        // Clauses that decide rows. SQLite lets WHERE/HAVING name output aliases; both
        // databases let GROUP BY and ORDER BY.
        let alias_outputs = match self.dialect {
            Dialect::Sqlite => Some(columns.as_slice()),
            Dialect::Postgres => None,
        };
        let row_cx = ExprCtx {
            scope: &scope,
            windows: &select.named_window,
            outputs: alias_outputs,
        };
        let key_cx = ExprCtx {
            scope: &scope,
            windows: &select.named_window,
            outputs: Some(&columns),
        };
        if let Some(selection) = &select.selection {
            self.clause(selection, IndirectKind::Filter, &row_cx, &mut acc)?;
        }
        match &select.group_by {
            GroupByExpr::All(_) => {
                return Err(LineageError::Unsupported("GROUP BY ALL".to_string()));
            }
            GroupByExpr::Expressions(exprs, _modifiers) => {
                for expr in exprs {
                    let deps = self.output_or_expr(expr, false, &key_cx, &mut acc)?;
                    deps.add_sources_as(&mut acc.indirect, IndirectKind::GroupBy);
                }
            }
        }
        if let Some(having) = &select.having {
            self.clause(having, IndirectKind::Filter, &row_cx, &mut acc)?;
        }
        if let Some(qualify) = &select.qualify {
            self.clause(qualify, IndirectKind::Filter, &row_cx, &mut acc)?;
        }
        if let Some(Distinct::On(exprs)) = &select.distinct {
            for expr in exprs {
                let deps = self.output_or_expr(expr, false, &key_cx, &mut acc)?;
                deps.add_sources_as(&mut acc.indirect, IndirectKind::GroupBy);
            }
        }
        if let Some(order_by) = order_by {
            self.order_by(order_by, &key_cx, &mut acc)?;
        }
        Ok(Relation {
            columns,
            indirect: acc.indirect,
            tables: acc.tables,
        })
    }

    /// Records every column of `expr` as a query-level indirect edge of `kind`.
    fn clause(
        &mut self,
        expr: &Expr,
        kind: IndirectKind,
        cx: &ExprCtx<'_>,
        acc: &mut Acc,
    ) -> Result<()> {
        let mut deps = Deps::default();
        self.walk(expr, EdgeKind::Identity, cx, acc, &mut deps)?;
        deps.add_sources_as(&mut acc.indirect, kind);
        Ok(())
    }

    fn projection(
        &mut self,
        select: &Select,
        scope: &Scope<'_>,
        acc: &mut Acc,
    ) -> Result<Vec<RelColumn>> {
        let cx = ExprCtx {
            scope,
            windows: &select.named_window,
            outputs: None,
        };
        let mut columns = Vec::new();
        for (index, item) in select.projection.iter().enumerate() {
            let position = index + 1;
            match item {
                SelectItem::UnnamedExpr(expr) => {
                    let mut deps = Deps::default();
                    self.walk(expr, EdgeKind::Identity, &cx, acc, &mut deps)?;
                    let name = self.bare_column_name(expr, &cx)?;
                    // The text is only for the error an unnamed column may cause.
                    let expr_text = match name {
                        Some(_) => String::new(),
                        None => shortened(&expr.to_string()),
                    };
                    columns.push(RelColumn {
                        name,
                        position,
                        expr_text,
                        deps,
                    });
                }
                SelectItem::ExprWithAlias { expr, alias } => {
                    let mut deps = Deps::default();
                    self.walk(expr, EdgeKind::Identity, &cx, acc, &mut deps)?;
                    columns.push(RelColumn {
                        name: Some(normalize(alias)),
                        position,
                        expr_text: String::new(),
                        deps,
                    });
                }
                SelectItem::ExprWithAliases { .. } => {
                    return Err(LineageError::Unsupported(format!(
                        "several aliases for select item {position}"
                    )));
                }
                SelectItem::Wildcard(options) => {
                    check_wildcard_options(options)?;
                    if scope.items.is_empty() {
                        return Err(LineageError::Invalid(
                            "SELECT * without a FROM clause".to_string(),
                        ));
                    }
                    for visible in &scope.visible {
                        if let Some(column) = scope.visible_column(*visible) {
                            columns.push(RelColumn {
                                name: Some(column.name.to_string()),
                                position,
                                expr_text: "*".to_string(),
                                deps: column.deps.clone(),
                            });
                        }
                    }
                }
                SelectItem::QualifiedWildcard(kind, options) => {
                    check_wildcard_options(options)?;
                    let SelectItemQualifiedWildcardKind::ObjectName(name) = kind else {
                        return Err(LineageError::Unsupported(format!(
                            "`expr.*` over an expression (select item {position})"
                        )));
                    };
                    let item_index = single_item(scope, name)?;
                    if let Some(from_item) = scope.items.get(item_index) {
                        for column in &from_item.columns {
                            columns.push(RelColumn {
                                name: Some(column.name.clone()),
                                position,
                                expr_text: format!("{name}.*"),
                                deps: column.deps.clone(),
                            });
                        }
                    }
                }
            }
        }
        Ok(columns)
    }

    /// The output name of an unaliased select item: the column's own name when the item is
    /// a bare column reference (parentheses allowed), else none.
    fn bare_column_name(&mut self, expr: &Expr, cx: &ExprCtx<'_>) -> Result<Option<String>> {
        let mut expr = expr;
        while let Expr::Nested(inner) = expr {
            expr = inner;
        }
        let parts = match expr {
            Expr::Identifier(ident) => std::slice::from_ref(ident),
            Expr::CompoundIdentifier(parts) => parts.as_slice(),
            _ => return Ok(None),
        };
        let resolved = self.resolve_column(parts, cx)?;
        Ok(Some(resolved.name.to_string()))
    }

    fn add_table_with_joins(
        &mut self,
        from: &TableWithJoins,
        scope: &mut Scope<'_>,
        acc: &mut Acc,
    ) -> Result<()> {
        // Columns before `start` belong to earlier comma-separated FROM entries, which a
        // USING/NATURAL join of this entry does not see.
        let start = scope.visible.len();
        self.add_factor(&from.relation, scope, acc)?;
        for join in &from.joins {
            self.add_join(join, start, scope, acc)?;
        }
        Ok(())
    }

    fn add_join(
        &mut self,
        join: &Join,
        start: usize,
        scope: &mut Scope<'_>,
        acc: &mut Acc,
    ) -> Result<()> {
        let (constraint, side) = match &join.join_operator {
            JoinOperator::Join(c) | JoinOperator::Inner(c) => (c, JoinSide::Inner),
            JoinOperator::Left(c) | JoinOperator::LeftOuter(c) => (c, JoinSide::Left),
            JoinOperator::Right(c) | JoinOperator::RightOuter(c) => (c, JoinSide::Right),
            JoinOperator::FullOuter(c) => (c, JoinSide::Full),
            JoinOperator::CrossJoin(c) => (c, JoinSide::Inner),
            other => {
                return Err(LineageError::Unsupported(format!(
                    "{} joins",
                    join_kind(other)
                )));
            }
        };
        let right_start = scope.visible.len();
        self.add_factor(&join.relation, scope, acc)?;
        match constraint {
            JoinConstraint::On(expr) => {
                let cx = ExprCtx {
                    scope,
                    windows: &[],
                    outputs: None,
                };
                self.clause(expr, IndirectKind::Join, &cx, acc)?;
            }
            JoinConstraint::Using(names) => {
                let mut columns = Vec::with_capacity(names.len());
                for name in names {
                    match name_parts(name)?.as_slice() {
                        [ident] => columns.push(Name::new(ident)),
                        _ => {
                            return Err(LineageError::Unsupported(format!(
                                "qualified USING column `{name}`"
                            )));
                        }
                    }
                }
                self.join_using(&columns, start, right_start, side, scope, acc)?;
            }
            JoinConstraint::Natural => {
                let columns = natural_columns(scope, start, right_start);
                self.join_using(&columns, start, right_start, side, scope, acc)?;
            }
            JoinConstraint::None => {}
            JoinConstraint::UsingAlias(..) => {
                return Err(LineageError::Unsupported("USING (…) AS alias".to_string()));
            }
        }
        Ok(())
    }

    /// Merges each `USING` column of the left side (visible columns `start..right_start`)
    /// with the right side's (`right_start..`): both become Join edges, and unqualified
    /// references and `*` see one merged column from then on.
    fn join_using(
        &mut self,
        columns: &[Name],
        start: usize,
        right_start: usize,
        side: JoinSide,
        scope: &mut Scope<'_>,
        acc: &mut Acc,
    ) -> Result<()> {
        let left_side: Vec<Visible> = visible_range(scope, start, right_start);
        let right_side: Vec<Visible> = visible_range(scope, right_start, usize::MAX);
        // (left column, right column, merged index) for each USING column.
        let mut replaced: Vec<(Visible, Visible, usize)> = Vec::new();
        for name in columns {
            let not_found = |side: &[Visible]| LineageError::UnknownColumn {
                column: name.value.clone(),
                searched: scope.item_labels(side),
            };
            let left = scope
                .find_visible(&left_side, name)?
                .ok_or_else(|| not_found(&left_side))?;
            let right = scope
                .find_visible(&right_side, name)?
                .ok_or_else(|| not_found(&right_side))?;
            let (Some(left_column), Some(right_column)) =
                (scope.visible_column(left), scope.visible_column(right))
            else {
                return Err(not_found(&right_side));
            };
            left_column
                .deps
                .add_sources_as(&mut acc.indirect, IndirectKind::Join);
            right_column
                .deps
                .add_sources_as(&mut acc.indirect, IndirectKind::Join);
            let deps = match side {
                JoinSide::Inner | JoinSide::Left => left_column.deps.clone(),
                JoinSide::Right => right_column.deps.clone(),
                // FULL JOIN USING yields COALESCE(left.k, right.k).
                JoinSide::Full => {
                    let mut deps = Deps::default();
                    deps.absorb(left_column.deps, EdgeKind::Transformation);
                    deps.absorb(right_column.deps, EdgeKind::Transformation);
                    deps
                }
            };
            let merged = MergedColumn {
                name: left_column.name.to_string(),
                deps,
            };
            replaced.push((left, right, scope.merged.len()));
            scope.merged.push(merged);
        }

        let head = visible_range(scope, 0, start);
        let is_replaced = |visible: &Visible| {
            replaced
                .iter()
                .any(|(l, r, _)| l == visible || r == visible)
        };
        let mut visible = head;
        match self.dialect {
            // PostgreSQL: the USING columns first, then the rest of left, then of right.
            Dialect::Postgres => {
                visible.extend(replaced.iter().map(|(_, _, m)| Visible::Merged(*m)));
                visible.extend(left_side.iter().filter(|v| !is_replaced(v)));
            }
            // SQLite: the left columns keep their places; the right duplicates go.
            Dialect::Sqlite => {
                visible.extend(left_side.iter().map(|v| {
                    replaced
                        .iter()
                        .find(|(l, _, _)| l == v)
                        .map_or(*v, |(_, _, m)| Visible::Merged(*m))
                }));
            }
        }
        visible.extend(right_side.iter().filter(|v| !is_replaced(v)));
        scope.visible = visible;
        Ok(())
    }

    fn add_factor(
        &mut self,
        factor: &TableFactor,
        scope: &mut Scope<'_>,
        acc: &mut Acc,
    ) -> Result<()> {
        match factor {
            TableFactor::Table {
                name, alias, args, ..
            } => {
                if args.is_some() {
                    return Err(LineageError::Unsupported(format!(
                        "table function `{name}(…)` in FROM"
                    )));
                }
                let item = self.table_item(name, alias.as_ref(), acc)?;
                scope.push_item(item);
                Ok(())
            }
            TableFactor::Derived {
                lateral,
                subquery,
                alias,
                ..
            } => {
                // A derived table sees the enclosing query's scope, not its FROM
                // siblings — unless it is LATERAL, which sees the items to its left.
                let relation = if *lateral {
                    self.analyze_query(subquery, Some(&*scope))?
                } else {
                    self.analyze_query(subquery, scope.parent)?
                };
                let alias_name = alias.as_ref().map(|a| normalize(&a.name));
                let described = match &alias_name {
                    Some(name) => format!("subquery `{name}`"),
                    None => "a subquery in FROM".to_string(),
                };
                let aliases = alias.as_ref().map_or(&[][..], |a| a.columns.as_slice());
                let named = name_columns(relation, aliases, &described)?;
                acc.take_relation(&named.indirect, &named.tables);
                scope.push_item(FromItem {
                    qualifier: alias_name.clone(),
                    full_name: None,
                    label: alias_name.unwrap_or_else(|| "(subquery)".to_string()),
                    columns: named.columns,
                });
                Ok(())
            }
            TableFactor::NestedJoin {
                table_with_joins,
                alias,
            } => {
                if alias.is_some() {
                    return Err(LineageError::Unsupported(
                        "an alias on a parenthesised join".to_string(),
                    ));
                }
                self.add_table_with_joins(table_with_joins, scope, acc)
            }
            other => Err(LineageError::Unsupported(format!(
                "{} in FROM",
                factor_kind(other)
            ))),
        }
    }

    /// A `FROM` table: a CTE in scope when the name is one, else a physical table that the
    /// schema must know.
    fn table_item(
        &mut self,
        name: &ObjectName,
        alias: Option<&TableAlias>,
        acc: &mut Acc,
    ) -> Result<FromItem> {
        let parts = name_parts(name)?;
        let alias_name = alias.map(|a| normalize(&a.name));
        let last = parts
            .last()
            .map(|ident| normalize(ident))
            .ok_or_else(|| LineageError::Invalid("empty table name".to_string()))?;

        let cte = match parts.as_slice() {
            [single] => self.find_cte(single),
            _ => None,
        };
        let (full_name, mut columns) = if let Some(binding) = cte {
            let Some(relation) = binding.relation.clone() else {
                return Err(LineageError::Unsupported(format!(
                    "recursive CTE `{}` (it references itself)",
                    binding.name
                )));
            };
            acc.take_relation(&relation.indirect, &relation.tables);
            (binding.name.clone(), relation.columns.clone())
        } else {
            let full: Vec<String> = parts.iter().map(|ident| normalize(ident)).collect();
            let full = full.join(".");
            let Some(table_columns) = self.schema.columns(&full) else {
                return Err(LineageError::UnknownTable(full));
            };
            acc.tables.insert(full.clone());
            let columns = table_columns
                .into_iter()
                .map(|column| ItemColumn {
                    deps: Deps::identity(ColumnRef::new(full.clone(), column.clone())),
                    name: column,
                })
                .collect();
            (full, columns)
        };

        if let Some(alias) = alias {
            if alias.columns.len() > columns.len() {
                return Err(LineageError::Invalid(format!(
                    "table `{full_name}` has {} columns but alias `{}` names {}",
                    columns.len(),
                    alias.name,
                    alias.columns.len()
                )));
            }
            for (column, rename) in columns.iter_mut().zip(&alias.columns) {
                column.name = normalize(&rename.name);
            }
        }
        let label = match &alias_name {
            Some(alias) if *alias != full_name => format!("{full_name} AS {alias}"),
            _ => full_name.clone(),
        };
        Ok(FromItem {
            qualifier: Some(alias_name.clone().unwrap_or(last)),
            full_name: alias_name.is_none().then_some(full_name),
            label,
            columns,
        })
    }
}

/// The FROM item of this scope (not its parents) that `t` in `t.*` names.
pub(crate) fn single_item(scope: &Scope<'_>, name: &ObjectName) -> Result<usize> {
    let qualifier: Vec<Name> = name_parts(name)?.into_iter().map(Name::new).collect();
    match scope.find_items(&qualifier).as_slice() {
        [] => Err(LineageError::UnknownTable(name.to_string())),
        [one] => Ok(*one),
        many => Err(LineageError::Ambiguous {
            column: format!("{name}.*"),
            candidates: many
                .iter()
                .filter_map(|index| scope.items.get(*index))
                .map(|item| item.label.clone())
                .collect(),
        }),
    }
}

/// The visible columns at positions `from..to` (clamped).
fn visible_range(scope: &Scope<'_>, from: usize, to: usize) -> Vec<Visible> {
    scope
        .visible
        .iter()
        .enumerate()
        .filter(|(index, _)| *index >= from && *index < to)
        .map(|(_, visible)| *visible)
        .collect()
}

/// The names that both sides of a NATURAL join see.
fn natural_columns(scope: &Scope<'_>, start: usize, right_start: usize) -> Vec<Name> {
    let names = |from, to| -> Vec<String> {
        visible_range(scope, from, to)
            .into_iter()
            .filter_map(|visible| scope.visible_column(visible))
            .map(|column| column.name.to_string())
            .collect()
    };
    let right = names(right_start, usize::MAX);
    names(start, right_start)
        .into_iter()
        .filter(|name| right.contains(name))
        .map(|value| Name {
            value,
            quoted: true,
        })
        .collect()
}

fn join_kind(operator: &JoinOperator) -> &'static str {
    match operator {
        JoinOperator::Semi(_) | JoinOperator::LeftSemi(_) | JoinOperator::RightSemi(_) => "SEMI",
        JoinOperator::Anti(_) | JoinOperator::LeftAnti(_) | JoinOperator::RightAnti(_) => "ANTI",
        JoinOperator::CrossApply | JoinOperator::OuterApply => "APPLY",
        JoinOperator::AsOf { .. } => "ASOF",
        JoinOperator::StraightJoin(_) => "STRAIGHT_JOIN",
        _ => "ARRAY",
    }
}

/// Names a kind of FROM item the analysis does not model, without printing it.
fn factor_kind(factor: &TableFactor) -> &'static str {
    match factor {
        TableFactor::TableFunction { .. } | TableFactor::Function { .. } => "table functions",
        TableFactor::UNNEST { .. } => "UNNEST",
        TableFactor::JsonTable { .. } | TableFactor::OpenJsonTable { .. } => "JSON tables",
        TableFactor::XmlTable { .. } => "XML tables",
        TableFactor::Pivot { .. } | TableFactor::Unpivot { .. } => "PIVOT/UNPIVOT",
        TableFactor::MatchRecognize { .. } => "MATCH_RECOGNIZE",
        _ => "this kind of FROM item",
    }
}
