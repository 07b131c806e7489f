//! Pass 2 of the guard: every table reference resolved, datasets replaced
//! by their views, placeholders renumbered.
//!
//! The visitor keeps a stack of frames, one per query (a statement, a `WITH`
//! body, a subquery). A frame knows the `WITH` names visible in it, and, for
//! the `WITH` bodies it defines, which of its names each may see: the names
//! before it, or all of them under `WITH RECURSIVE`. This is never wider than
//! what either database resolves (PostgreSQL's rule; SQLite's is wider), so
//! a name the guard takes for a `WITH` name is one for the database too — a
//! name the guard does not resolve is a dataset or is refused.
//!
//! A dataset reference becomes a subquery built from the host's own
//! [`DatasetView`]: that subquery is trusted (its physical table and
//! expressions are not the app's) and recognised by its address while the
//! visitor walks through it.

use super::{
    BoundParam, DatasetView, Dialect, GuardError, MAX_DATASET_REFERENCES, Refusal, flow,
    quote_ident,
};
use sqlparser::ast::{
    Ident, ObjectName, ObjectNamePart, Query, Statement, TableAlias, TableFactor, Value,
    ValueWithSpan, VisitMut, VisitorMut,
};
use sqlparser::parser::Parser;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::ControlFlow;

/// A `WITH` name as the database compares it: unquoted names fold to lower
/// case, quoted ones are exact.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Name(String);

impl Name {
    fn of(id: &Ident) -> Name {
        match id.quote_style {
            None => Name(id.value.to_ascii_lowercase()),
            Some(_) => Name(id.value.clone()),
        }
    }
}

#[derive(Default)]
struct Frame {
    /// Inside a dataset's view: nothing to check.
    trusted: bool,
    /// `WITH` names visible in this query.
    visible: Vec<Name>,
    /// `WITH` names visible around this query (what its `WITH` bodies start
    /// from).
    outer: Vec<Name>,
    /// The `WITH` bodies of this query, by address, and the names of this
    /// query's `WITH` each may see.
    bodies: Vec<(*const Query, Vec<Name>)>,
    /// Every name this query's `WITH` defines (for error messages).
    defined: Vec<Name>,
}

pub(super) struct Resolve<'a> {
    views: &'a BTreeMap<String, DatasetView>,
    dialect: Dialect,
    frames: Vec<Frame>,
    /// The view subqueries inserted so far, by address.
    trusted: Vec<*const Query>,
    /// The next relation name visited belongs to a `WITH` reference just
    /// resolved.
    relation_ok: bool,
    /// The app's placeholder number → its `$i` in the output.
    user: BTreeMap<usize, usize>,
    params: Vec<BoundParam>,
    datasets: BTreeSet<String>,
    /// Parsed views, by dataset name (placeholders still `$1..$n`).
    parsed: HashMap<String, Query>,
}

impl<'a> Resolve<'a> {
    pub(super) fn new(
        views: &'a BTreeMap<String, DatasetView>,
        dialect: Dialect,
        user_numbers: &[usize],
    ) -> Resolve<'a> {
        Resolve {
            views,
            dialect,
            frames: Vec::new(),
            trusted: Vec::new(),
            relation_ok: false,
            user: user_numbers
                .iter()
                .enumerate()
                .map(|(i, &n)| (n, i + 1))
                .collect(),
            params: user_numbers
                .iter()
                .map(|&n| BoundParam::User(n - 1))
                .collect(),
            datasets: BTreeSet::new(),
            parsed: HashMap::new(),
        }
    }

    pub(super) fn finish(self) -> (Vec<BoundParam>, Vec<String>) {
        (self.params, self.datasets.into_iter().collect())
    }

    fn in_trusted(&self) -> bool {
        self.frames.last().is_some_and(|f| f.trusted)
    }

    fn enter(&mut self, q: &Query) {
        let ptr: *const Query = q;
        if self.in_trusted() || self.trusted.contains(&ptr) {
            self.frames.push(Frame {
                trusted: true,
                ..Frame::default()
            });
            return;
        }
        let outer = match self.frames.last() {
            None => Vec::new(),
            Some(parent) => match parent.bodies.iter().find(|(p, _)| *p == ptr) {
                // A WITH body of the parent: the parent's surroundings and
                // the parent's WITH names this body may see.
                Some((_, names)) => {
                    let mut v = parent.outer.clone();
                    v.extend(names.iter().cloned());
                    v
                }
                None => parent.visible.clone(),
            },
        };
        let (recursive, ctes) = match &q.with {
            Some(w) => (w.recursive, w.cte_tables.as_slice()),
            None => (false, &[][..]),
        };
        let defined: Vec<Name> = ctes.iter().map(|c| Name::of(&c.alias.name)).collect();
        let bodies = ctes
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let body: *const Query = &*c.query;
                let sees = if recursive {
                    defined.clone()
                } else {
                    defined[..i].to_vec()
                };
                (body, sees)
            })
            .collect();
        let mut visible = outer.clone();
        visible.extend(defined.iter().cloned());
        self.frames.push(Frame {
            trusted: false,
            visible,
            outer,
            bodies,
            defined,
        });
    }

    fn find_view(&self, id: &Ident) -> Option<(&'a String, &'a DatasetView)> {
        match id.quote_style {
            None => self
                .views
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(&id.value)),
            Some(_) => self.views.get_key_value(&id.value),
        }
    }

    fn table(&mut self, t: &mut TableFactor) -> Result<(), GuardError> {
        let TableFactor::Table { name, alias, .. } = t else {
            return match t {
                TableFactor::Derived { .. } | TableFactor::NestedJoin { .. } => Ok(()),
                _ => Err(GuardError::new(
                    Refusal::Table,
                    &*t,
                    "only granted datasets, WITH names and subqueries may appear in FROM",
                )),
            };
        };
        let id = match name.0.as_slice() {
            [ObjectNamePart::Identifier(id)] => id.clone(),
            _ => {
                return Err(GuardError::new(
                    Refusal::Table,
                    &*name,
                    "write the dataset name alone; schema-qualified names are not readable",
                ));
            }
        };
        let n = Name::of(&id);
        if self.frames.last().is_some_and(|f| f.visible.contains(&n)) {
            self.relation_ok = true;
            return Ok(());
        }
        let Some((key, view)) = self.find_view(&id) else {
            let reason = if self.frames.iter().any(|f| f.defined.contains(&n)) {
                "a WITH name is visible only after its definition, and in its own body only \
                 under WITH RECURSIVE"
                    .to_string()
            } else {
                let granted: Vec<&str> = self.views.keys().map(String::as_str).collect();
                format!(
                    "not a dataset this app may read here (readable: {})",
                    if granted.is_empty() {
                        "none".to_string()
                    } else {
                        granted.join(", ")
                    }
                )
            };
            return Err(GuardError::new(Refusal::Table, &id, reason));
        };
        if self.trusted.len() >= MAX_DATASET_REFERENCES {
            return Err(GuardError::new(
                Refusal::Table,
                &id,
                format!("a statement may refer to datasets at most {MAX_DATASET_REFERENCES} times"),
            ));
        }
        let alias = alias.take().unwrap_or_else(|| TableAlias {
            explicit: true,
            name: id.clone(),
            columns: Vec::new(),
            at: None,
        });
        let subquery = Box::new(self.instantiate(key, view)?);
        self.trusted.push(&*subquery as *const Query);
        *t = TableFactor::Derived {
            lateral: false,
            subquery,
            alias: Some(alias),
            sample: None,
        };
        Ok(())
    }

    /// A copy of the dataset's view, its placeholders moved after the ones
    /// bound so far, and their values bound.
    fn instantiate(&mut self, key: &str, view: &DatasetView) -> Result<Query, GuardError> {
        if !self.parsed.contains_key(key) {
            let q = parse_view(key, view, self.dialect)?;
            self.parsed.insert(key.to_string(), q);
        }
        let Some(template) = self.parsed.get(key) else {
            return Err(GuardError::new(Refusal::View, key, "the view was not kept"));
        };
        let mut q = template.clone();
        let mut shift = Shift {
            base: self.params.len(),
            count: view.row_filter.1.len(),
        };
        if let ControlFlow::Break(reason) = q.visit(&mut shift) {
            return Err(GuardError::new(Refusal::View, key, reason));
        }
        self.params.extend(
            view.row_filter
                .1
                .iter()
                .map(|v| BoundParam::Filter(v.clone())),
        );
        self.datasets.insert(key.to_string());
        Ok(q)
    }
}

/// The view's subquery, parsed from the host's own SQL. See the module
/// documentation of [`super`] for the `OFFSET 0` fence.
fn parse_view(key: &str, view: &DatasetView, dialect: Dialect) -> Result<Query, GuardError> {
    if view.columns.is_empty() {
        return Err(GuardError::new(
            Refusal::View,
            key,
            "the view has no columns",
        ));
    }
    if view.row_filter.0.trim().is_empty() {
        return Err(GuardError::new(
            Refusal::View,
            key,
            "the view has no row filter (every row is `1 = 1`, not nothing)",
        ));
    }
    let columns: Vec<String> = view
        .columns
        .iter()
        .map(|c| format!("{} AS {}", c.expr, quote_ident(&c.name)))
        .collect();
    let table = view
        .table
        .split('.')
        .map(quote_ident)
        .collect::<Vec<_>>()
        .join(".");
    let fence = match dialect {
        // SQLite needs a LIMIT before an OFFSET; -1 is none.
        Dialect::Sqlite => "LIMIT -1 OFFSET 0",
        Dialect::Postgres => "OFFSET 0",
    };
    let sql = format!(
        "SELECT {} FROM {table} WHERE ({}) {fence}",
        columns.join(", "),
        view.row_filter.0
    );
    let mut statements = Parser::parse_sql(dialect.parser(), &sql)
        .map_err(|e| GuardError::new(Refusal::View, key, e.to_string()))?;
    match (statements.pop(), statements.is_empty()) {
        (Some(Statement::Query(q)), true) => Ok(*q),
        _ => Err(GuardError::new(
            Refusal::View,
            key,
            "the view is not a single query",
        )),
    }
}

/// Moves a view's placeholders `$1..$count` to `$(base + 1)..`.
struct Shift {
    base: usize,
    count: usize,
}

impl VisitorMut for Shift {
    type Break = String;

    fn pre_visit_value(&mut self, v: &mut ValueWithSpan) -> ControlFlow<String> {
        if let Value::Placeholder(p) = &v.value {
            match p.strip_prefix('$').and_then(|d| d.parse::<usize>().ok()) {
                Some(i) if (1..=self.count).contains(&i) => {
                    v.value = Value::Placeholder(format!("${}", self.base + i));
                }
                _ => {
                    return ControlFlow::Break(format!(
                        "placeholder {p} has no value (the filter has {})",
                        self.count
                    ));
                }
            }
        }
        ControlFlow::Continue(())
    }
}

impl VisitorMut for Resolve<'_> {
    type Break = GuardError;

    fn pre_visit_query(&mut self, q: &mut Query) -> ControlFlow<GuardError> {
        self.enter(q);
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, _q: &mut Query) -> ControlFlow<GuardError> {
        self.frames.pop();
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, t: &mut TableFactor) -> ControlFlow<GuardError> {
        if self.in_trusted() {
            return ControlFlow::Continue(());
        }
        flow(self.table(t))
    }

    /// Every table name the app wrote must have been resolved as a `FROM`
    /// item just before; one met anywhere else (SQLite's `x IN table`) is
    /// refused.
    fn pre_visit_relation(&mut self, name: &mut ObjectName) -> ControlFlow<GuardError> {
        if self.in_trusted() || std::mem::take(&mut self.relation_ok) {
            return ControlFlow::Continue(());
        }
        ControlFlow::Break(GuardError::new(
            Refusal::Table,
            &*name,
            "a table may only be read in FROM",
        ))
    }

    fn pre_visit_value(&mut self, v: &mut ValueWithSpan) -> ControlFlow<GuardError> {
        if self.in_trusted() {
            return ControlFlow::Continue(());
        }
        if let Value::Placeholder(p) = &v.value {
            // Pass 1 left only the app's placeholders, as `$N`.
            let slot = p
                .strip_prefix('$')
                .and_then(|d| d.parse::<usize>().ok())
                .and_then(|n| self.user.get(&n));
            match slot {
                Some(i) => v.value = Value::Placeholder(format!("${i}")),
                None => {
                    return ControlFlow::Break(GuardError::new(
                        Refusal::Placeholder,
                        p,
                        "not an app placeholder",
                    ));
                }
            }
        }
        ControlFlow::Continue(())
    }
}
