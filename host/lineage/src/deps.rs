//! The dependencies of one value (an output column, a `FROM` item's column, or an
//! expression being analysed), already resolved to physical columns.

use std::collections::{BTreeMap, BTreeSet};

use crate::{ColumnRef, Edge, EdgeKind, IndirectEdge, IndirectKind};

/// Indirect edges as a sorted set; turned into `Vec<IndirectEdge>` at the end.
pub(crate) type IndirectSet = BTreeSet<(ColumnRef, IndirectKind)>;

/// Direct inputs with their strongest kind, plus column-specific indirect inputs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Deps {
    pub direct: BTreeMap<ColumnRef, EdgeKind>,
    pub indirect: IndirectSet,
}

impl Deps {
    /// A physical column read as it is.
    pub fn identity(column: ColumnRef) -> Self {
        let mut deps = Deps::default();
        deps.direct.insert(column, EdgeKind::Identity);
        deps
    }

    /// Records `column` as a direct input, keeping the stronger kind if it is already one.
    pub fn add_direct(&mut self, column: ColumnRef, kind: EdgeKind) {
        let entry = self.direct.entry(column).or_insert(kind);
        *entry = (*entry).max(kind);
    }

    /// Takes over `other` as seen through an expression of kind `at_least`: each direct
    /// input gets the stronger of its own kind and `at_least` (the strongest kind along the
    /// path wins); column-specific indirect inputs are kept as they are.
    pub fn absorb(&mut self, other: &Deps, at_least: EdgeKind) {
        for (column, kind) in &other.direct {
            self.add_direct(column.clone(), (*kind).max(at_least));
        }
        self.indirect.extend(other.indirect.iter().cloned());
    }

    /// Every physical column behind this value, direct or indirect.
    pub fn sources(&self) -> impl Iterator<Item = &ColumnRef> {
        self.direct
            .keys()
            .chain(self.indirect.iter().map(|(column, _)| column))
    }

    /// Records every column behind `self` in `set` with `kind`: used where a value decides
    /// rows rather than being output (a join condition, a filter, a group key).
    pub fn add_sources_as(&self, set: &mut IndirectSet, kind: IndirectKind) {
        for column in self.sources() {
            set.insert((column.clone(), kind));
        }
    }

    /// The direct edges, sorted by column.
    pub fn edges(&self) -> Vec<Edge> {
        self.direct
            .iter()
            .map(|(from, kind)| Edge {
                from: from.clone(),
                kind: *kind,
            })
            .collect()
    }
}

/// A sorted indirect set as the public edge list.
pub(crate) fn indirect_edges(set: &IndirectSet) -> Vec<IndirectEdge> {
    set.iter()
        .map(|(from, kind)| IndirectEdge {
            from: from.clone(),
            kind: *kind,
        })
        .collect()
}
