//! The organisation tree (二级单位 → 县公司 → 供电所/部门), rebuilt from the
//! `org_id` / `parent_id` / name columns of a query result, for the standard
//! drill-down by 单位 that every scenario offers.

use crate::{AppError, Rows};
use std::collections::BTreeMap;

/// How deep a parent chain is followed before it is taken for a cycle.
const MAX_DEPTH: usize = 64;

#[derive(Debug, Clone, PartialEq)]
struct OrgNode {
    name: String,
    /// "" for a root.
    parent: String,
}

/// Organisations with their names and parents.
///
/// Only orgs that appear in the data are known. A chain through an org that
/// does not appear (a 县公司 with no rows of its own) stops there, except
/// that a known org's parent id is still compared: a 供电所 whose parent is
/// the selected 县公司 is within it even if that 县公司 has no rows itself.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OrgTree {
    orgs: BTreeMap<String, OrgNode>,
}

impl OrgTree {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or renames) an org. `parent` is "" for a root.
    pub fn insert(&mut self, id: &str, name: &str, parent: &str) {
        self.orgs.insert(
            id.to_string(),
            OrgNode {
                name: name.to_string(),
                parent: parent.to_string(),
            },
        );
    }

    /// Builds the tree from three text columns of a query result.
    pub fn from_rows(
        rows: &Rows,
        id_column: &str,
        name_column: &str,
        parent_column: &str,
    ) -> Result<Self, AppError> {
        let (id, name, parent) = (
            rows.column(id_column)?,
            rows.column(name_column)?,
            rows.column(parent_column)?,
        );
        let mut tree = OrgTree::new();
        for row in rows.iter() {
            let parent = row.opt_text(parent)?.unwrap_or("");
            tree.insert(row.text(id)?, row.text(name)?, parent);
        }
        Ok(tree)
    }

    pub fn contains(&self, id: &str) -> bool {
        self.orgs.contains_key(id)
    }

    pub fn is_empty(&self) -> bool {
        self.orgs.is_empty()
    }

    pub fn name(&self, id: &str) -> Option<&str> {
        self.orgs.get(id).map(|o| o.name.as_str())
    }

    /// The name, or the id itself for an org not in the data.
    pub fn label<'a>(&'a self, id: &'a str) -> &'a str {
        self.name(id).unwrap_or(id)
    }

    /// The parent id, `None` for a root or an unknown org.
    pub fn parent(&self, id: &str) -> Option<&str> {
        self.orgs
            .get(id)
            .map(|o| o.parent.as_str())
            .filter(|p| !p.is_empty())
    }

    /// Orgs whose parent is empty or not in the data, by id.
    pub fn roots(&self) -> Vec<&str> {
        self.orgs
            .iter()
            .filter(|(_, o)| o.parent.is_empty() || !self.orgs.contains_key(&o.parent))
            .map(|(id, _)| id.as_str())
            .collect()
    }

    /// Direct children, by id.
    pub fn children(&self, id: &str) -> Vec<&str> {
        self.orgs
            .iter()
            .filter(|(_, o)| o.parent == id)
            .map(|(child, _)| child.as_str())
            .collect()
    }

    /// Whether `id` is `ancestor` or below it.
    pub fn is_within(&self, id: &str, ancestor: &str) -> bool {
        id == ancestor || self.branch_of(id, ancestor).is_some()
    }

    /// For an org below `ancestor`, the child of `ancestor` it sits under
    /// (itself if it is a direct child): the bar it adds to in a chart "by
    /// unit" one level below `ancestor`. `None` if `id` is `ancestor` itself
    /// or not below it.
    pub fn branch_of<'a>(&'a self, id: &'a str, ancestor: &str) -> Option<&'a str> {
        let mut current = id;
        for _ in 0..MAX_DEPTH {
            let parent = self.parent(current)?;
            if parent == ancestor {
                return Some(current);
            }
            current = parent;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> OrgTree {
        let mut t = OrgTree::new();
        t.insert("3300", "示范市供电公司", "");
        t.insert("3301", "一县公司", "3300");
        t.insert("330101", "一县城关供电所", "3301");
        t.insert("330102", "一县东区供电所", "3301");
        t.insert("3302", "二县公司", "3300");
        // 3303 has no rows of its own; its 供电所 does.
        t.insert("330301", "三县城关供电所", "3303");
        t
    }

    #[test]
    fn finds_subtrees_and_branches() {
        let t = tree();
        assert_eq!(t.roots(), ["3300", "330301"]);
        assert_eq!(t.children("3301"), ["330101", "330102"]);
        assert!(t.is_within("330101", "3300"));
        assert!(t.is_within("3301", "3301"));
        assert!(!t.is_within("3302", "3301"));
        assert_eq!(t.branch_of("330102", "3300"), Some("3301"));
        assert_eq!(t.branch_of("3301", "3300"), Some("3301"));
        assert_eq!(t.branch_of("3300", "3300"), None);
        // A missing intermediate org: still within its direct parent.
        assert!(t.is_within("330301", "3303"));
        assert!(!t.is_within("330301", "3300"));
        assert_eq!(t.label("3303"), "3303");
    }

    #[test]
    fn cycles_terminate() {
        let mut t = OrgTree::new();
        t.insert("a", "A", "b");
        t.insert("b", "B", "a");
        assert!(!t.is_within("a", "x"));
    }
}
