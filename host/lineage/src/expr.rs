//! Expressions: which columns an expression reads and with which edge kind, including
//! functions, aggregates, windows, `CASE` and subqueries.

use sqlparser::ast::{
    AccessExpr, Expr, Function, FunctionArg, FunctionArgExpr, FunctionArgumentClause,
    FunctionArguments, Ident, InTarget, NamedWindowExpr, ObjectNamePart, Query, Subscript,
    WindowFrameBound, WindowSpec, WindowType,
};

use crate::analyze::{Acc, Analyzer, ExprCtx, Result, single_item};
use crate::deps::Deps;
use crate::scope::{Name, Resolved};
use crate::{EdgeKind, IndirectKind, LineageError};

/// Deepest expression nesting analysed. Parenthesised nesting is already bounded by the
/// parser; this bounds long operator chains (`a + b + c + …`), which the parser builds
/// without recursing, so that they fail cleanly instead of exhausting the stack.
const MAX_EXPR_DEPTH: usize = 500;

/// Functions that collapse rows. `min`/`max` with two or more arguments are SQLite's
/// scalar forms and are handled separately.
const AGGREGATES: &[&str] = &[
    "any_value",
    "array_agg",
    "avg",
    "bit_and",
    "bit_or",
    "bit_xor",
    "bool_and",
    "bool_or",
    "corr",
    "count",
    "count_if",
    "covar_pop",
    "covar_samp",
    "every",
    "group_concat",
    "json_agg",
    "json_group_array",
    "json_group_object",
    "json_object_agg",
    "jsonb_agg",
    "jsonb_object_agg",
    "listagg",
    "max",
    "median",
    "min",
    "mode",
    "percentile_cont",
    "percentile_disc",
    "range_agg",
    "range_intersect_agg",
    "regr_avgx",
    "regr_avgy",
    "regr_count",
    "regr_intercept",
    "regr_r2",
    "regr_slope",
    "regr_sxx",
    "regr_sxy",
    "regr_syy",
    "stddev",
    "stddev_pop",
    "stddev_samp",
    "string_agg",
    "sum",
    "total",
    "var_pop",
    "var_samp",
    "variance",
    "xmlagg",
];

fn is_aggregate(name: &str, argument_count: usize) -> bool {
    if matches!(name, "min" | "max") && argument_count > 1 {
        return false;
    }
    AGGREGATES.contains(&name)
}

fn function_name(function: &Function) -> String {
    match function.name.0.last() {
        Some(ObjectNamePart::Identifier(ident)) => ident.value.to_lowercase(),
        _ => String::new(),
    }
}

/// The argument expressions of a function call, whatever their form.
fn argument_exprs(list: &[FunctionArg]) -> impl Iterator<Item = &FunctionArgExpr> {
    list.iter().map(|arg| match arg {
        FunctionArg::Named { arg, .. }
        | FunctionArg::ExprNamed { arg, .. }
        | FunctionArg::Unnamed(arg) => arg,
    })
}

/// The operand expressions of an expression whose value is computed from its operands
/// (operators, casts, tests, string and date syntax), or `None` for any other kind.
/// Literals have no operands. Kept out of the recursive walk so that its large `match`
/// does not sit on the stack once per nesting level.
fn operands(expr: &Expr) -> Option<Vec<&Expr>> {
    let children: Vec<&Expr> = match expr {
        Expr::Value(_) | Expr::TypedString(_) => Vec::new(),
        Expr::Cast { expr, .. }
        | Expr::IsFalse(expr)
        | Expr::IsNotFalse(expr)
        | Expr::IsTrue(expr)
        | Expr::IsNotTrue(expr)
        | Expr::IsNull(expr)
        | Expr::IsNotNull(expr)
        | Expr::IsUnknown(expr)
        | Expr::IsNotUnknown(expr)
        | Expr::IsJson { expr, .. }
        | Expr::IsNormalized { expr, .. }
        | Expr::UnaryOp { expr, .. }
        | Expr::Extract { expr, .. }
        | Expr::Ceil { expr, .. }
        | Expr::Floor { expr, .. }
        | Expr::Collate { expr, .. }
        | Expr::Named { expr, .. }
        | Expr::Prefixed { value: expr, .. }
        | Expr::JsonAccess { value: expr, .. } => vec![expr],
        Expr::Interval(interval) => vec![&interval.value],
        Expr::Convert { expr, styles, .. } => std::iter::once(&**expr).chain(styles).collect(),
        Expr::IsDistinctFrom(left, right)
        | Expr::IsNotDistinctFrom(left, right)
        | Expr::BinaryOp { left, right, .. }
        | Expr::AnyOp { left, right, .. }
        | Expr::AllOp { left, right, .. }
        | Expr::AtTimeZone {
            timestamp: left,
            time_zone: right,
        }
        | Expr::Position {
            expr: left,
            r#in: right,
        }
        | Expr::RLike {
            expr: left,
            pattern: right,
            ..
        } => vec![left, right],
        Expr::Like {
            expr,
            pattern,
            escape_char,
            ..
        }
        | Expr::ILike {
            expr,
            pattern,
            escape_char,
            ..
        }
        | Expr::SimilarTo {
            expr,
            pattern,
            escape_char,
            ..
        } => [Some(&**expr), Some(&**pattern), escape_char.as_deref()]
            .into_iter()
            .flatten()
            .collect(),
        Expr::Between {
            expr, low, high, ..
        } => vec![expr, low, high],
        Expr::Substring {
            expr,
            substring_from,
            substring_for,
            ..
        } => [
            Some(&**expr),
            substring_from.as_deref(),
            substring_for.as_deref(),
        ]
        .into_iter()
        .flatten()
        .collect(),
        Expr::Trim {
            expr,
            trim_what,
            trim_characters,
            ..
        } => [Some(&**expr), trim_what.as_deref()]
            .into_iter()
            .flatten()
            .chain(trim_characters.iter().flatten())
            .collect(),
        Expr::Overlay {
            expr,
            overlay_what,
            overlay_from,
            overlay_for,
        } => [
            Some(&**expr),
            Some(&**overlay_what),
            Some(&**overlay_from),
            overlay_for.as_deref(),
        ]
        .into_iter()
        .flatten()
        .collect(),
        Expr::In { expr, target, .. } => match target {
            InTarget::List(list) => std::iter::once(&**expr).chain(list).collect(),
            InTarget::Unnest(array) => vec![expr, array],
            InTarget::Subquery(_) | InTarget::Table { .. } => return None,
        },
        Expr::Tuple(items) => items.iter().collect(),
        Expr::Array(array) => array.elem.iter().collect(),
        Expr::CompoundFieldAccess { root, access_chain } => {
            let mut children = vec![&**root];
            for access in access_chain {
                // `.field` names a field of the value, not a column; subscripts are values.
                match access {
                    AccessExpr::Dot(_) => {}
                    AccessExpr::Subscript(Subscript::Index { index }) => children.push(index),
                    AccessExpr::Subscript(Subscript::Slice {
                        lower_bound,
                        upper_bound,
                        stride,
                    }) => children.extend(lower_bound.iter().chain(upper_bound).chain(stride)),
                }
            }
            children
        }
        _ => return None,
    };
    Some(children)
}

#[cold]
fn too_deep() -> LineageError {
    LineageError::Unsupported(format!(
        "expressions nested more than {MAX_EXPR_DEPTH} levels deep"
    ))
}

/// Names an expression the analysis does not model, without printing it: printing
/// recurses through the whole sub-tree, which may be arbitrarily deep.
fn unsupported_expr(expr: &Expr) -> String {
    let what = match expr {
        Expr::In { .. } => "IN with a table target",
        Expr::Struct { .. } => "STRUCT literals",
        Expr::Dictionary(_) => "dictionary literals",
        Expr::Map(_) => "MAP literals",
        Expr::MatchAgainst { .. } => "MATCH … AGAINST",
        Expr::Wildcard(_) | Expr::QualifiedWildcard(..) => "`*` inside an expression",
        Expr::OuterJoin(_) => "the (+) outer-join marker",
        Expr::Prior(_) => "PRIOR (CONNECT BY)",
        Expr::Lambda(_) => "lambda functions",
        Expr::MemberOf(_) => "MEMBER OF",
        _ => "this kind of expression",
    };
    format!("{what} in an expression")
}

impl Analyzer<'_> {
    /// Adds the columns `expr` reads to `out`. `kind` is the kind a bare column reached at
    /// this point gets: `Identity` at the top of a select item, stronger under functions
    /// and aggregates. Window edges and the tables of subqueries go to `acc`.
    pub(crate) fn walk(
        &mut self,
        expr: &Expr,
        kind: EdgeKind,
        cx: &ExprCtx<'_>,
        acc: &mut Acc,
        out: &mut Deps,
    ) -> Result<()> {
        if self.depth >= MAX_EXPR_DEPTH {
            return Err(too_deep());
        }
        self.depth += 1;
        let result = self.walk_nested(expr, kind, cx, acc, out);
        self.depth -= 1;
        result
    }

    fn walk_all<'e>(
        &mut self,
        exprs: impl IntoIterator<Item = &'e Expr>,
        kind: EdgeKind,
        cx: &ExprCtx<'_>,
        acc: &mut Acc,
        out: &mut Deps,
    ) -> Result<()> {
        for expr in exprs {
            self.walk(expr, kind, cx, acc, out)?;
        }
        Ok(())
    }

    fn walk_nested(
        &mut self,
        expr: &Expr,
        kind: EdgeKind,
        cx: &ExprCtx<'_>,
        acc: &mut Acc,
        out: &mut Deps,
    ) -> Result<()> {
        // This function is on the recursion path of every nested expression, so its arms
        // stay small: a debug build reserves stack for every arm's temporaries.
        match expr {
            Expr::Identifier(ident) => self.column(std::slice::from_ref(ident), kind, cx, out),
            Expr::CompoundIdentifier(parts) => self.column(parts, kind, cx, out),
            Expr::Nested(inner) => self.walk(inner, kind, cx, acc, out),
            Expr::Function(function) => self.function(function, kind, cx, acc, out),
            Expr::Case { .. } => self.case(expr, kind, cx, acc, out),
            Expr::Exists { subquery, .. } => self.subquery_exists(subquery, cx, acc, out),
            Expr::Subquery(query) => self.subquery_scalar(query, kind, cx, acc, out),
            Expr::In {
                expr: probe,
                target: InTarget::Subquery(query),
                ..
            } => {
                let computed = kind.max(EdgeKind::Transformation);
                self.walk(probe, computed, cx, acc, out)?;
                self.subquery_values(query, computed, cx, acc, out)
            }
            // Grouping sets only appear in GROUP BY, where every column is a key.
            Expr::GroupingSets(sets) | Expr::Cube(sets) | Expr::Rollup(sets) => {
                self.walk_all(sets.iter().flatten(), kind, cx, acc, out)
            }
            _ => match operands(expr) {
                // Anything computed from a column is at least a transformation of it.
                Some(children) => {
                    self.walk_all(children, kind.max(EdgeKind::Transformation), cx, acc, out)
                }
                None => Err(LineageError::Unsupported(unsupported_expr(expr))),
            },
        }
    }

    /// A column reference: its dependencies, seen through an expression of `kind`.
    fn column(
        &mut self,
        parts: &[Ident],
        kind: EdgeKind,
        cx: &ExprCtx<'_>,
        out: &mut Deps,
    ) -> Result<()> {
        let resolved = self.resolve_column(parts, cx)?;
        out.absorb(resolved.deps, kind);
        Ok(())
    }

    /// Finds the column `parts` (`col`, `t.col`, `schema.t.col`) names: in this query's
    /// `FROM`, then (unqualified only) among the output aliases the clause may use, then in
    /// the enclosing queries for a correlated reference.
    pub(crate) fn resolve_column<'c>(
        &self,
        parts: &[Ident],
        cx: &ExprCtx<'c>,
    ) -> Result<Resolved<'c>> {
        let Some((column, qualifier)) = parts.split_last() else {
            return Err(LineageError::Invalid("empty column reference".to_string()));
        };
        let column = Name::new(column);
        let written = parts
            .iter()
            .map(|ident| ident.value.as_str())
            .collect::<Vec<_>>()
            .join(".");

        if qualifier.is_empty() {
            if let Some(found) = cx.scope.find_unqualified(&column)? {
                return Ok(found);
            }
            if let Some(outputs) = cx.outputs {
                let found: Vec<_> = outputs
                    .iter()
                    .filter(|output| {
                        output
                            .name
                            .as_deref()
                            .is_some_and(|name| column.matches(name))
                    })
                    .collect();
                match found.as_slice() {
                    [] => {}
                    [one] => {
                        return Ok(Resolved {
                            name: one.name.as_deref().unwrap_or_default(),
                            deps: &one.deps,
                        });
                    }
                    many => {
                        return Err(LineageError::Ambiguous {
                            column: written,
                            candidates: many
                                .iter()
                                .map(|output| format!("output column {}", output.position))
                                .collect(),
                        });
                    }
                }
            }
            let mut outer = cx.scope.parent;
            while let Some(scope) = outer {
                if let Some(found) = scope.find_unqualified(&column)? {
                    return Ok(found);
                }
                outer = scope.parent;
            }
            return Err(LineageError::UnknownColumn {
                column: written,
                searched: cx.scope.labels(),
            });
        }

        let qualifier: Vec<Name> = qualifier.iter().map(Name::new).collect();
        let mut current = Some(cx.scope);
        while let Some(scope) = current {
            match scope.find_items(&qualifier).as_slice() {
                [] => current = scope.parent,
                [index] => {
                    let Some(item) = scope.items.get(*index) else {
                        break;
                    };
                    let found: Vec<_> = item
                        .columns
                        .iter()
                        .filter(|candidate| column.matches(&candidate.name))
                        .collect();
                    return match found.as_slice() {
                        [one] => Ok(Resolved {
                            name: &one.name,
                            deps: &one.deps,
                        }),
                        [] => Err(LineageError::UnknownColumn {
                            column: written,
                            searched: vec![item.label.clone()],
                        }),
                        _ => Err(LineageError::Ambiguous {
                            column: written,
                            candidates: vec![item.label.clone()],
                        }),
                    };
                }
                many => {
                    return Err(LineageError::Ambiguous {
                        column: written,
                        candidates: many
                            .iter()
                            .filter_map(|index| scope.items.get(*index))
                            .map(|item| item.label.clone())
                            .collect(),
                    });
                }
            }
        }
        let table: Vec<&str> = qualifier.iter().map(|name| name.value.as_str()).collect();
        Err(LineageError::UnknownTable(table.join(".")))
    }

    fn case(
        &mut self,
        expr: &Expr,
        kind: EdgeKind,
        cx: &ExprCtx<'_>,
        acc: &mut Acc,
        out: &mut Deps,
    ) -> Result<()> {
        let Expr::Case {
            operand,
            conditions,
            else_result,
            ..
        } = expr
        else {
            return Ok(());
        };
        let computed = kind.max(EdgeKind::Transformation);
        // The conditions pick the branch; the results are the value.
        let mut decides = Deps::default();
        self.walk_all(
            operand.as_deref(),
            EdgeKind::Identity,
            cx,
            acc,
            &mut decides,
        )?;
        for when in conditions {
            self.walk(&when.condition, EdgeKind::Identity, cx, acc, &mut decides)?;
            self.walk(&when.result, computed, cx, acc, out)?;
        }
        self.walk_all(else_result.as_deref(), computed, cx, acc, out)?;
        decides.add_sources_as(&mut out.indirect, IndirectKind::Conditional);
        Ok(())
    }

    fn function(
        &mut self,
        function: &Function,
        kind: EdgeKind,
        cx: &ExprCtx<'_>,
        acc: &mut Acc,
        out: &mut Deps,
    ) -> Result<()> {
        let name = function_name(function);
        let argument_count = match &function.args {
            FunctionArguments::List(list) => list.args.len(),
            _ => 0,
        };
        let computed = kind.max(EdgeKind::Transformation);
        if let Some(window) = &function.over {
            // A window function keeps one value per row: its arguments are transformed,
            // not aggregated; the window's partition and order decide which rows it sees.
            self.function_arguments(function, computed, cx, acc, out)?;
            return self.window(window, cx, acc, 0);
        }
        let aggregate = is_aggregate(&name, argument_count)
            || !function.within_group.is_empty()
            || function.filter.is_some();
        if aggregate {
            return self.function_arguments(function, EdgeKind::Aggregation, cx, acc, out);
        }
        if matches!(name.as_str(), "iif" | "if")
            && let FunctionArguments::List(list) = &function.args
            && let [
                FunctionArg::Unnamed(FunctionArgExpr::Expr(condition)),
                rest @ ..,
            ] = list.args.as_slice()
            && !rest.is_empty()
        {
            // iif(condition, then, else) is a CASE in function form.
            let mut decides = Deps::default();
            self.walk(condition, EdgeKind::Identity, cx, acc, &mut decides)?;
            decides.add_sources_as(&mut out.indirect, IndirectKind::Conditional);
            for arg in argument_exprs(rest) {
                self.function_argument(arg, computed, cx, acc, out)?;
            }
            return Ok(());
        }
        self.function_arguments(function, computed, cx, acc, out)
    }

    /// The arguments, `WITHIN GROUP` and `FILTER` of a call, arguments with `kind`.
    fn function_arguments(
        &mut self,
        function: &Function,
        kind: EdgeKind,
        cx: &ExprCtx<'_>,
        acc: &mut Acc,
        out: &mut Deps,
    ) -> Result<()> {
        for arguments in [&function.parameters, &function.args] {
            match arguments {
                FunctionArguments::None => {}
                FunctionArguments::Subquery(query) => {
                    self.subquery_values(query, kind, cx, acc, out)?;
                }
                FunctionArguments::List(list) => {
                    for arg in argument_exprs(&list.args) {
                        self.function_argument(arg, kind, cx, acc, out)?;
                    }
                    for clause in &list.clauses {
                        match clause {
                            // string_agg(x, ',' ORDER BY y): y orders this value only.
                            FunctionArgumentClause::OrderBy(order) => {
                                let mut decides = Deps::default();
                                for item in order {
                                    self.walk(&item.expr, kind, cx, acc, &mut decides)?;
                                }
                                decides.add_sources_as(&mut out.indirect, IndirectKind::Sort);
                            }
                            FunctionArgumentClause::Where(condition) => {
                                let mut decides = Deps::default();
                                self.walk(condition, kind, cx, acc, &mut decides)?;
                                decides
                                    .add_sources_as(&mut out.indirect, IndirectKind::Conditional);
                            }
                            _ => {}
                        }
                    }
                }
            }
        }
        // percentile_cont(0.5) WITHIN GROUP (ORDER BY x): x is what is aggregated.
        for item in &function.within_group {
            self.walk(&item.expr, EdgeKind::Aggregation, cx, acc, out)?;
        }
        if let Some(filter) = &function.filter {
            let mut decides = Deps::default();
            self.walk(filter, EdgeKind::Identity, cx, acc, &mut decides)?;
            decides.add_sources_as(&mut out.indirect, IndirectKind::Conditional);
        }
        Ok(())
    }

    fn function_argument(
        &mut self,
        arg: &FunctionArgExpr,
        kind: EdgeKind,
        cx: &ExprCtx<'_>,
        acc: &mut Acc,
        out: &mut Deps,
    ) -> Result<()> {
        match arg {
            FunctionArgExpr::Expr(expr) => self.walk(expr, kind, cx, acc, out),
            // COUNT(*) counts rows and reads no column.
            FunctionArgExpr::Wildcard | FunctionArgExpr::WildcardWithOptions(_) => Ok(()),
            // f(t.*) reads the whole row of t.
            FunctionArgExpr::QualifiedWildcard(name) => {
                let index = single_item(cx.scope, name)?;
                if let Some(item) = cx.scope.items.get(index) {
                    for column in &item.columns {
                        out.absorb(&column.deps, kind);
                    }
                }
                Ok(())
            }
        }
    }

    /// Records the partition and order columns of a window as query-level Window edges.
    fn window(
        &mut self,
        window: &WindowType,
        cx: &ExprCtx<'_>,
        acc: &mut Acc,
        hops: usize,
    ) -> Result<()> {
        match window {
            WindowType::WindowSpec(spec) => self.window_spec(spec, cx, acc, hops),
            WindowType::NamedWindow(name) => self.named_window(name, cx, acc, hops),
        }
    }

    fn named_window(
        &mut self,
        name: &Ident,
        cx: &ExprCtx<'_>,
        acc: &mut Acc,
        hops: usize,
    ) -> Result<()> {
        // A chain of window definitions longer than the list of them must loop.
        if hops > cx.windows.len() {
            return Err(LineageError::Invalid(format!(
                "window `{name}` is defined in terms of itself"
            )));
        }
        let wanted = Name::new(name);
        let Some(definition) = cx
            .windows
            .iter()
            .find(|definition| wanted.matches(&Name::new(&definition.0).value))
        else {
            return Err(LineageError::Invalid(format!("unknown window `{name}`")));
        };
        match &definition.1 {
            NamedWindowExpr::WindowSpec(spec) => self.window_spec(spec, cx, acc, hops + 1),
            NamedWindowExpr::NamedWindow(other) => self.named_window(other, cx, acc, hops + 1),
        }
    }

    fn window_spec(
        &mut self,
        spec: &WindowSpec,
        cx: &ExprCtx<'_>,
        acc: &mut Acc,
        hops: usize,
    ) -> Result<()> {
        if let Some(base) = &spec.window_name {
            self.named_window(base, cx, acc, hops)?;
        }
        let mut decides = Deps::default();
        self.walk_all(
            &spec.partition_by,
            EdgeKind::Identity,
            cx,
            acc,
            &mut decides,
        )?;
        for order in &spec.order_by {
            self.walk(&order.expr, EdgeKind::Identity, cx, acc, &mut decides)?;
        }
        if let Some(frame) = &spec.window_frame {
            for bound in std::iter::once(&frame.start_bound).chain(&frame.end_bound) {
                if let WindowFrameBound::Preceding(Some(offset))
                | WindowFrameBound::Following(Some(offset)) = bound
                {
                    self.walk(offset, EdgeKind::Identity, cx, acc, &mut decides)?;
                }
            }
        }
        decides.add_sources_as(&mut acc.indirect, IndirectKind::Window);
        Ok(())
    }

    /// `(SELECT …)` as a value: its one column is the value; its own joins and filters
    /// decide this value only, so they become column-specific indirect edges.
    fn subquery_scalar(
        &mut self,
        query: &Query,
        kind: EdgeKind,
        cx: &ExprCtx<'_>,
        acc: &mut Acc,
        out: &mut Deps,
    ) -> Result<()> {
        let relation = self.analyze_query(query, Some(cx.scope))?;
        let [column] = relation.columns.as_slice() else {
            return Err(LineageError::Invalid(format!(
                "a scalar subquery must return one column, not {}",
                relation.columns.len()
            )));
        };
        out.absorb(&column.deps, kind);
        out.indirect.extend(relation.indirect.iter().cloned());
        acc.tables.extend(relation.tables.iter().cloned());
        Ok(())
    }

    /// `x IN (SELECT …)`, `ARRAY(SELECT …)`: every output column of the subquery feeds
    /// the value.
    fn subquery_values(
        &mut self,
        query: &Query,
        kind: EdgeKind,
        cx: &ExprCtx<'_>,
        acc: &mut Acc,
        out: &mut Deps,
    ) -> Result<()> {
        let relation = self.analyze_query(query, Some(cx.scope))?;
        for column in &relation.columns {
            out.absorb(&column.deps, kind);
        }
        out.indirect.extend(relation.indirect.iter().cloned());
        acc.tables.extend(relation.tables.iter().cloned());
        Ok(())
    }

    /// `EXISTS (SELECT …)` reads only which rows the subquery has, never its select list.
    fn subquery_exists(
        &mut self,
        query: &Query,
        cx: &ExprCtx<'_>,
        acc: &mut Acc,
        out: &mut Deps,
    ) -> Result<()> {
        let relation = self.analyze_query(query, Some(cx.scope))?;
        out.indirect.extend(relation.indirect.iter().cloned());
        acc.tables.extend(relation.tables.iter().cloned());
        Ok(())
    }
}
