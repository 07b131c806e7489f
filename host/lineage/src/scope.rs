//! Name resolution: the `FROM` items a `SELECT` can see, and the rules that turn a written
//! column reference into one of their columns.

use sqlparser::ast::Ident;

use crate::LineageError;
use crate::deps::Deps;

/// A written identifier, normalised the SQL way: unquoted identifiers fold to lower case
/// and match case-insensitively; quoted identifiers keep their case and match exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Name {
    pub value: String,
    pub quoted: bool,
}

impl Name {
    pub fn new(ident: &Ident) -> Self {
        match ident.quote_style {
            Some(_) => Name {
                value: ident.value.clone(),
                quoted: true,
            },
            None => Name {
                value: ident.value.to_lowercase(),
                quoted: false,
            },
        }
    }

    /// Whether this reference names `candidate` (a column or table name as defined).
    pub fn matches(&self, candidate: &str) -> bool {
        if self.quoted {
            self.value == candidate
        } else {
            self.value == candidate.to_lowercase()
        }
    }
}

/// The normalised text of an identifier (see [`Name`]).
pub(crate) fn normalize(ident: &Ident) -> String {
    Name::new(ident).value
}

/// A column of a `FROM` item: its name and what it is made of.
#[derive(Debug, Clone)]
pub(crate) struct ItemColumn {
    pub name: String,
    pub deps: Deps,
}

/// One table, CTE reference or derived table in `FROM`.
#[derive(Debug, Clone)]
pub(crate) struct FromItem {
    /// The name that qualifies its columns: the alias, else the table's last name part.
    /// A derived table without alias has none.
    pub qualifier: Option<String>,
    /// The full dotted name (`public.dwd_x`) when the item is not aliased, so that
    /// `public.dwd_x.col` resolves too.
    pub full_name: Option<String>,
    /// How messages name the item, e.g. `dwd_bank_account AS a`.
    pub label: String,
    pub columns: Vec<ItemColumn>,
}

/// A column merged by `JOIN … USING (k)` or `NATURAL JOIN`: the single `k` that an
/// unqualified reference (and `*`) sees.
#[derive(Debug, Clone)]
pub(crate) struct MergedColumn {
    pub name: String,
    pub deps: Deps,
}

/// A column visible without qualifier, in `SELECT *` order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Visible {
    Column { item: usize, column: usize },
    Merged(usize),
}

/// The `FROM` items of one `SELECT`, with the enclosing query's scope as parent so that
/// correlated subqueries reach outer columns.
#[derive(Debug)]
pub(crate) struct Scope<'p> {
    pub items: Vec<FromItem>,
    pub merged: Vec<MergedColumn>,
    /// The columns an unqualified name (and `*`) can see, in `*` order. `USING` joins
    /// replace the pair of joined columns by one merged column here.
    pub visible: Vec<Visible>,
    pub parent: Option<&'p Scope<'p>>,
}

/// What a column reference resolved to.
pub(crate) struct Resolved<'s> {
    pub name: &'s str,
    pub deps: &'s Deps,
}

impl<'p> Scope<'p> {
    pub fn new(parent: Option<&'p Scope<'p>>) -> Self {
        Scope {
            items: Vec::new(),
            merged: Vec::new(),
            visible: Vec::new(),
            parent,
        }
    }

    pub fn push_item(&mut self, item: FromItem) {
        let index = self.items.len();
        self.visible
            .extend((0..item.columns.len()).map(|column| Visible::Column {
                item: index,
                column,
            }));
        self.items.push(item);
    }

    pub fn visible_column(&self, visible: Visible) -> Option<Resolved<'_>> {
        match visible {
            Visible::Column { item, column } => self
                .items
                .get(item)
                .and_then(|item| item.columns.get(column))
                .map(|column| Resolved {
                    name: &column.name,
                    deps: &column.deps,
                }),
            Visible::Merged(index) => self.merged.get(index).map(|merged| Resolved {
                name: &merged.name,
                deps: &merged.deps,
            }),
        }
    }

    fn visible_label(&self, visible: Visible) -> String {
        match visible {
            Visible::Column { item, .. } => self
                .items
                .get(item)
                .map(|item| item.label.clone())
                .unwrap_or_default(),
            Visible::Merged(index) => self
                .merged
                .get(index)
                .map(|merged| format!("USING ({})", merged.name))
                .unwrap_or_default(),
        }
    }

    /// The one visible column among `candidates` that `name` matches, `None` when none
    /// does, `Ambiguous` when several do.
    pub fn find_visible(
        &self,
        candidates: &[Visible],
        name: &Name,
    ) -> Result<Option<Visible>, LineageError> {
        let found: Vec<Visible> = candidates
            .iter()
            .copied()
            .filter(|visible| {
                self.visible_column(*visible)
                    .is_some_and(|column| name.matches(column.name))
            })
            .collect();
        match found.as_slice() {
            [] => Ok(None),
            [one] => Ok(Some(*one)),
            many => Err(LineageError::Ambiguous {
                column: name.value.clone(),
                candidates: many.iter().map(|v| self.visible_label(*v)).collect(),
            }),
        }
    }

    /// Resolves an unqualified column in this scope only (not its parents).
    pub fn find_unqualified(&self, name: &Name) -> Result<Option<Resolved<'_>>, LineageError> {
        Ok(self
            .find_visible(&self.visible, name)?
            .and_then(|visible| self.visible_column(visible)))
    }

    /// The items of this scope (not its parents) that `qualifier` names: one part is
    /// matched against the alias or table name, several against the full dotted name.
    pub fn find_items(&self, qualifier: &[Name]) -> Vec<usize> {
        self.items
            .iter()
            .enumerate()
            .filter(|(_, item)| match qualifier {
                [single] => item
                    .qualifier
                    .as_deref()
                    .is_some_and(|own| single.matches(own)),
                parts => item.full_name.as_deref().is_some_and(|full| {
                    let written: Vec<&str> = parts.iter().map(|p| p.value.as_str()).collect();
                    written.join(".").to_lowercase() == full.to_lowercase()
                }),
            })
            .map(|(index, _)| index)
            .collect()
    }

    /// The labels of the items behind `visible`, each once, in order.
    pub fn item_labels(&self, visible: &[Visible]) -> Vec<String> {
        let mut labels: Vec<String> = Vec::new();
        for entry in visible {
            let label = self.visible_label(*entry);
            if !labels.contains(&label) {
                labels.push(label);
            }
        }
        labels
    }

    /// The labels of every item in this scope and its parents, innermost first, for
    /// "searched" lists in error messages.
    pub fn labels(&self) -> Vec<String> {
        let mut labels = Vec::new();
        let mut scope = Some(self);
        while let Some(current) = scope {
            labels.extend(current.items.iter().map(|item| item.label.clone()));
            scope = current.parent;
        }
        labels
    }
}
