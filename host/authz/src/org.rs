//! The organisation tree: 二级单位 → 县公司 → 供电所/部门, any depth.
//!
//! [`OrgTree`] is the in-memory, validated tree (one root, every parent
//! known, no cycles) with O(1) ancestor/descendant checks (Euler-tour
//! intervals) and shared, lazily computed subtree sets (what a
//! 本单位及下级 scope resolves to, handed out without copying). It is
//! loaded from the table `orgs` ([`load`]); [`insert`] adds an org under an
//! existing parent (so the stored tree cannot get a cycle);
//! [`seed_demo`] inserts the demo tree, idempotently.

use crate::scope::OrgSet;
use serde::{Deserialize, Serialize};
use sqlx::Row;
use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::{Arc, OnceLock};
use zhiyun_store::{Store, StoreError, now_micros};

/// What an org is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OrgKind {
    /// 二级单位
    SecondaryUnit,
    /// 县公司
    CountyCompany,
    /// 供电所
    SupplyStation,
    /// 部门
    Department,
}

impl OrgKind {
    pub const ALL: [OrgKind; 4] = [
        OrgKind::SecondaryUnit,
        OrgKind::CountyCompany,
        OrgKind::SupplyStation,
        OrgKind::Department,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OrgKind::SecondaryUnit => "secondary-unit",
            OrgKind::CountyCompany => "county-company",
            OrgKind::SupplyStation => "supply-station",
            OrgKind::Department => "department",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            OrgKind::SecondaryUnit => "二级单位",
            OrgKind::CountyCompany => "县公司",
            OrgKind::SupplyStation => "供电所",
            OrgKind::Department => "部门",
        }
    }

    /// From `as_str` or the Chinese label.
    pub fn parse(s: &str) -> Option<OrgKind> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s || k.label() == s)
    }
}

impl fmt::Display for OrgKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// One organisation, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Org {
    pub id: String,
    pub code: String,
    pub name: String,
    /// `None` for the root.
    pub parent_id: Option<String>,
    pub kind: OrgKind,
}

/// Why a tree or an org was refused.
#[derive(Debug, thiserror::Error)]
pub enum OrgError {
    #[error("the org tree is empty")]
    Empty,
    #[error("the org tree has no root (an org without a parent)")]
    NoRoot,
    #[error("the org tree has several roots: {}; exactly one org may have no parent", .0.join(", "))]
    SeveralRoots(Vec<String>),
    #[error("org `{org}` names the parent `{parent}`, which does not exist")]
    UnknownParent { org: String, parent: String },
    #[error("org id `{0}` appears twice")]
    DuplicateId(String),
    #[error("org code `{0}` appears twice")]
    DuplicateCode(String),
    #[error("the orgs {} form a cycle (or hang below one)", .0.join(", "))]
    Cycle(Vec<String>),
    #[error("org `{0}` not found")]
    NotFound(String),
    #[error("invalid org: {0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for OrgError {
    fn from(e: sqlx::Error) -> Self {
        OrgError::Store(StoreError::Database(e))
    }
}

#[derive(Debug)]
struct Node {
    org: Org,
    parent: Option<usize>,
    children: Vec<usize>,
    level: u32,
    /// Euler-tour entry index and one past the last descendant's.
    enter: u32,
    exit: u32,
    subtree: OnceLock<OrgSet>,
}

/// The validated org tree. Cheap lookups by id; immutable (reload after a
/// change).
#[derive(Debug)]
pub struct OrgTree {
    nodes: Vec<Node>,
    index: HashMap<String, usize>,
    root: usize,
    /// Node indices in Euler-tour (depth-first, children by id) order.
    order: Vec<usize>,
}

/// One org of a tree with its place in it.
#[derive(Debug, Clone, Copy)]
pub struct OrgRef<'a> {
    tree: &'a OrgTree,
    idx: usize,
}

impl<'a> OrgRef<'a> {
    pub fn org(&self) -> &'a Org {
        &self.tree.nodes[self.idx].org
    }
    pub fn id(&self) -> &'a str {
        &self.org().id
    }
    pub fn name(&self) -> &'a str {
        &self.org().name
    }
    pub fn kind(&self) -> OrgKind {
        self.org().kind
    }
    /// The root is level 1, its children level 2, …
    pub fn level(&self) -> u32 {
        self.tree.nodes[self.idx].level
    }
    pub fn parent(&self) -> Option<OrgRef<'a>> {
        self.tree.nodes[self.idx].parent.map(|idx| OrgRef {
            tree: self.tree,
            idx,
        })
    }
    pub fn children(&self) -> impl Iterator<Item = OrgRef<'a>> + 'a {
        let tree = self.tree;
        tree.nodes[self.idx]
            .children
            .iter()
            .map(move |&idx| OrgRef { tree, idx })
    }
}

impl OrgTree {
    /// Validates and indexes a list of orgs (in any order): ids and codes
    /// unique, exactly one root, every parent known, no cycles.
    pub fn build(orgs: Vec<Org>) -> Result<OrgTree, OrgError> {
        if orgs.is_empty() {
            return Err(OrgError::Empty);
        }
        let mut index = HashMap::with_capacity(orgs.len());
        let mut codes = BTreeSet::new();
        for (i, o) in orgs.iter().enumerate() {
            if index.insert(o.id.clone(), i).is_some() {
                return Err(OrgError::DuplicateId(o.id.clone()));
            }
            if !codes.insert(o.code.as_str()) {
                return Err(OrgError::DuplicateCode(o.code.clone()));
            }
        }
        let mut roots = Vec::new();
        let mut parents = Vec::with_capacity(orgs.len());
        for (i, o) in orgs.iter().enumerate() {
            match &o.parent_id {
                None => {
                    roots.push(i);
                    parents.push(None);
                }
                Some(p) => match index.get(p) {
                    Some(&pi) => parents.push(Some(pi)),
                    None => {
                        return Err(OrgError::UnknownParent {
                            org: o.id.clone(),
                            parent: p.clone(),
                        });
                    }
                },
            }
        }
        let root = match roots.as_slice() {
            [] => {
                // Every org has a parent: they all sit on cycles or below one.
                let mut ids: Vec<String> = orgs.iter().map(|o| o.id.clone()).collect();
                ids.sort();
                return Err(if orgs.len() == 1 {
                    OrgError::Cycle(ids)
                } else {
                    OrgError::NoRoot
                });
            }
            [r] => *r,
            _ => {
                let mut ids: Vec<String> = roots.iter().map(|&i| orgs[i].id.clone()).collect();
                ids.sort();
                return Err(OrgError::SeveralRoots(ids));
            }
        };
        let mut nodes: Vec<Node> = orgs
            .into_iter()
            .zip(&parents)
            .map(|(org, &parent)| Node {
                org,
                parent,
                children: Vec::new(),
                level: 0,
                enter: 0,
                exit: 0,
                subtree: OnceLock::new(),
            })
            .collect();
        for (i, p) in parents.iter().enumerate() {
            if let Some(p) = p {
                nodes[*p].children.push(i);
            }
        }
        for i in 0..nodes.len() {
            let mut children = std::mem::take(&mut nodes[i].children);
            children.sort_by(|&a, &b| nodes[a].org.id.cmp(&nodes[b].org.id));
            nodes[i].children = children;
        }
        // Iterative depth-first walk from the root: entry/exit indices.
        let mut order = Vec::with_capacity(nodes.len());
        let mut stack: Vec<(usize, usize)> = vec![(root, 0)];
        nodes[root].level = 1;
        nodes[root].enter = 0;
        order.push(root);
        while let Some((n, next_child)) = stack.pop() {
            if let Some(&c) = nodes[n].children.get(next_child) {
                stack.push((n, next_child + 1));
                nodes[c].level = nodes[n].level + 1;
                nodes[c].enter = order.len() as u32;
                order.push(c);
                stack.push((c, 0));
            } else {
                nodes[n].exit = order.len() as u32;
            }
        }
        if order.len() != nodes.len() {
            let reached: BTreeSet<usize> = order.iter().copied().collect();
            let mut ids: Vec<String> = (0..nodes.len())
                .filter(|i| !reached.contains(i))
                .map(|i| nodes[i].org.id.clone())
                .collect();
            ids.sort();
            return Err(OrgError::Cycle(ids));
        }
        Ok(OrgTree {
            nodes,
            index,
            root,
            order,
        })
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    pub fn root(&self) -> OrgRef<'_> {
        OrgRef {
            tree: self,
            idx: self.root,
        }
    }

    pub fn get(&self, id: &str) -> Option<OrgRef<'_>> {
        self.index.get(id).map(|&idx| OrgRef { tree: self, idx })
    }

    pub fn contains(&self, id: &str) -> bool {
        self.index.contains_key(id)
    }

    /// Every org, depth first from the root (children in id order).
    pub fn iter(&self) -> impl Iterator<Item = OrgRef<'_>> {
        self.order
            .iter()
            .map(move |&idx| OrgRef { tree: self, idx })
    }

    /// Whether `ancestor` is `descendant` or one of its ancestors. O(1);
    /// false if either is unknown.
    pub fn is_ancestor_or_self(&self, ancestor: &str, descendant: &str) -> bool {
        match (self.index.get(ancestor), self.index.get(descendant)) {
            (Some(&a), Some(&d)) => {
                let (a, d) = (&self.nodes[a], &self.nodes[d]);
                a.enter <= d.enter && d.exit <= a.exit
            }
            _ => false,
        }
    }

    /// `id` and all its descendants, shared (computed once per org). `None`
    /// if the org is unknown.
    pub fn subtree(&self, id: &str) -> Option<OrgSet> {
        let &idx = self.index.get(id)?;
        Some(self.subtree_of(idx))
    }

    fn subtree_of(&self, idx: usize) -> OrgSet {
        self.nodes[idx]
            .subtree
            .get_or_init(|| {
                let n = &self.nodes[idx];
                Arc::new(
                    self.order[n.enter as usize..n.exit as usize]
                        .iter()
                        .map(|&i| self.nodes[i].org.id.clone())
                        .collect(),
                )
            })
            .clone()
    }

    /// The path from the root down to `id` (both included).
    pub fn path(&self, id: &str) -> Option<Vec<OrgRef<'_>>> {
        let mut org = self.get(id)?;
        let mut path = vec![org];
        while let Some(p) = org.parent() {
            path.push(p);
            org = p;
        }
        path.reverse();
        Some(path)
    }
}

/// Loads and validates the stored tree.
pub async fn load(store: &Store) -> Result<OrgTree, OrgError> {
    let rows = sqlx::query("SELECT org_id, code, name, parent_id, kind FROM orgs")
        .fetch_all(store.pool())
        .await?;
    let mut orgs = Vec::with_capacity(rows.len());
    for row in rows {
        let kind: String = row.try_get("kind")?;
        orgs.push(Org {
            id: row.try_get("org_id")?,
            code: row.try_get("code")?,
            name: row.try_get("name")?,
            parent_id: row.try_get("parent_id")?,
            kind: OrgKind::parse(&kind)
                .ok_or_else(|| OrgError::Invalid(format!("unknown org kind `{kind}`")))?,
        });
    }
    OrgTree::build(orgs)
}

fn check_org(org: &Org) -> Result<(), OrgError> {
    let field_ok = |s: &str| !s.trim().is_empty() && s.chars().count() <= 100;
    if !field_ok(&org.id) || !field_ok(&org.code) || !field_ok(&org.name) {
        return Err(OrgError::Invalid(format!(
            "org `{}`: id, code and name must be non-empty and at most 100 characters",
            org.id
        )));
    }
    if org.parent_id.as_deref() == Some(org.id.as_str()) {
        return Err(OrgError::Cycle(vec![org.id.clone()]));
    }
    Ok(())
}

/// Adds an org. Its parent must already exist (so no cycle can be made);
/// only the first org may be a root.
pub async fn insert(store: &Store, org: &Org) -> Result<(), OrgError> {
    check_org(org)?;
    let mut tx = store.begin_write().await?;
    match &org.parent_id {
        Some(parent) => {
            let found: Option<String> =
                sqlx::query_scalar("SELECT org_id FROM orgs WHERE org_id = $1")
                    .bind(parent)
                    .fetch_optional(&mut *tx)
                    .await?;
            if found.is_none() {
                return Err(OrgError::UnknownParent {
                    org: org.id.clone(),
                    parent: parent.clone(),
                });
            }
        }
        None => {
            let root: Option<String> =
                sqlx::query_scalar("SELECT org_id FROM orgs WHERE parent_id IS NULL")
                    .fetch_optional(&mut *tx)
                    .await?;
            if let Some(root) = root {
                return Err(OrgError::SeveralRoots(vec![root, org.id.clone()]));
            }
        }
    }
    let inserted = sqlx::query(
        "INSERT INTO orgs (org_id, code, name, parent_id, kind, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&org.id)
    .bind(&org.code)
    .bind(&org.name)
    .bind(&org.parent_id)
    .bind(org.kind.as_str())
    .bind(now_micros())
    .execute(&mut *tx)
    .await;
    if let Err(e) = inserted {
        let e = StoreError::Database(e);
        if e.is_unique_violation() {
            let taken: Option<String> =
                sqlx::query_scalar("SELECT org_id FROM orgs WHERE org_id = $1")
                    .bind(&org.id)
                    .fetch_optional(store.pool())
                    .await
                    .ok()
                    .flatten();
            return Err(match (taken, &org.parent_id) {
                (Some(_), _) => OrgError::DuplicateId(org.id.clone()),
                (None, None) => OrgError::SeveralRoots(vec![org.id.clone()]),
                (None, Some(_)) => OrgError::DuplicateCode(org.code.clone()),
            });
        }
        return Err(e.into());
    }
    // Data scopes resolve against the tree: every host reloads it.
    crate::policy::bump_version(&mut tx).await?;
    tx.commit().await?;
    Ok(())
}

/// One org of the demo tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DemoOrg {
    pub id: &'static str,
    pub name: &'static str,
    /// `""` for the root.
    pub parent_id: &'static str,
    pub kind: OrgKind,
}

const fn demo(
    id: &'static str,
    name: &'static str,
    parent_id: &'static str,
    kind: OrgKind,
) -> DemoOrg {
    DemoOrg {
        id,
        name,
        parent_id,
        kind,
    }
}

/// The demo tree: the 二级单位 `3300` with its departments, three 县公司
/// each with a 财务部 and two 供电所. Ids, names and parents of the units
/// are those of the fixture data (`zhiyun_data::DEMO_ORGS`, checked by
/// a test); the code of each org is its id.
pub const DEMO_ORGS: &[DemoOrg] = &[
    demo("3300", "示范市供电公司", "", OrgKind::SecondaryUnit),
    demo("3300-cw", "财务部", "3300", OrgKind::Department),
    demo("3300-kj", "科技与数据部", "3300", OrgKind::Department),
    demo("3300-yy", "业务运营部", "3300", OrgKind::Department),
    demo("3301", "城东县供电公司", "3300", OrgKind::CountyCompany),
    demo(
        "3301-cw",
        "城东县供电公司财务部",
        "3301",
        OrgKind::Department,
    ),
    demo("330101", "城东县城关供电所", "3301", OrgKind::SupplyStation),
    demo("330102", "城东县东湖供电所", "3301", OrgKind::SupplyStation),
    demo("3302", "城西县供电公司", "3300", OrgKind::CountyCompany),
    demo(
        "3302-cw",
        "城西县供电公司财务部",
        "3302",
        OrgKind::Department,
    ),
    demo("330201", "城西县城关供电所", "3302", OrgKind::SupplyStation),
    demo("330202", "城西县西山供电所", "3302", OrgKind::SupplyStation),
    demo("3303", "南山县供电公司", "3300", OrgKind::CountyCompany),
    demo(
        "3303-cw",
        "南山县供电公司财务部",
        "3303",
        OrgKind::Department,
    ),
    demo("330301", "南山县城关供电所", "3303", OrgKind::SupplyStation),
    demo("330302", "南山县南岭供电所", "3303", OrgKind::SupplyStation),
];

impl DemoOrg {
    pub fn to_org(self) -> Org {
        Org {
            id: self.id.into(),
            code: self.id.into(),
            name: self.name.into(),
            parent_id: (!self.parent_id.is_empty()).then(|| self.parent_id.into()),
            kind: self.kind,
        }
    }
}

/// Inserts the demo tree; orgs that exist already are left as they are
/// (idempotent, and safe for hosts starting together).
pub async fn seed_demo(store: &Store) -> Result<(), OrgError> {
    let now = now_micros();
    // Parents come before children in DEMO_ORGS.
    for o in DEMO_ORGS {
        let org = o.to_org();
        sqlx::query(
            "INSERT INTO orgs (org_id, code, name, parent_id, kind, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (org_id) DO NOTHING",
        )
        .bind(&org.id)
        .bind(&org.code)
        .bind(&org.name)
        .bind(&org.parent_id)
        .bind(org.kind.as_str())
        .bind(now)
        .execute(store.pool())
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn org(id: &str, parent: Option<&str>) -> Org {
        Org {
            id: id.into(),
            code: id.into(),
            name: format!("org {id}"),
            parent_id: parent.map(Into::into),
            kind: OrgKind::Department,
        }
    }

    fn demo_tree() -> OrgTree {
        OrgTree::build(DEMO_ORGS.iter().map(|o| o.to_org()).collect()).unwrap()
    }

    #[test]
    fn demo_tree_matches_the_fixture_data() {
        let tree = demo_tree();
        for d in zhiyun_data::DEMO_ORGS {
            let o = tree.get(d.id).unwrap_or_else(|| panic!("{} missing", d.id));
            assert_eq!(o.name(), d.name);
            assert_eq!(o.parent().map(|p| p.id()).unwrap_or(""), d.parent_id);
        }
        assert_eq!(tree.root().id(), "3300");
        assert_eq!(tree.root().kind(), OrgKind::SecondaryUnit);
        assert_eq!(tree.get("330101").unwrap().level(), 3);
        assert_eq!(tree.len(), DEMO_ORGS.len());
    }

    #[test]
    fn ancestors_and_subtrees() {
        let tree = demo_tree();
        assert!(tree.is_ancestor_or_self("3300", "330302"));
        assert!(tree.is_ancestor_or_self("3301", "330101"));
        assert!(tree.is_ancestor_or_self("3301", "3301"));
        assert!(!tree.is_ancestor_or_self("3301", "330201"));
        assert!(!tree.is_ancestor_or_self("330101", "3301"));
        assert!(!tree.is_ancestor_or_self("9999", "3301"));
        let sub = tree.subtree("3301").unwrap();
        assert_eq!(
            sub.iter().map(String::as_str).collect::<Vec<_>>(),
            ["3301", "3301-cw", "330101", "330102"]
        );
        // Shared, not recomputed.
        assert!(Arc::ptr_eq(&sub, &tree.subtree("3301").unwrap()));
        assert_eq!(tree.subtree("3300").unwrap().len(), DEMO_ORGS.len());
        assert_eq!(tree.subtree("330202").unwrap().len(), 1);
        assert!(tree.subtree("nope").is_none());
        let path: Vec<&str> = tree
            .path("330202")
            .unwrap()
            .iter()
            .map(|o| o.id())
            .collect();
        assert_eq!(path, ["3300", "3302", "330202"]);
        assert_eq!(tree.root().children().count(), 6);
        // Every pair agrees with a walk up the parents.
        for a in tree.iter() {
            for d in tree.iter() {
                let walked = tree.path(d.id()).unwrap().iter().any(|p| p.id() == a.id());
                assert_eq!(tree.is_ancestor_or_self(a.id(), d.id()), walked);
                assert_eq!(tree.subtree(a.id()).unwrap().contains(d.id()), walked);
            }
        }
    }

    #[test]
    fn invalid_trees_are_refused_with_reasons() {
        let e = OrgTree::build(vec![org("a", None), org("b", Some("x"))]).unwrap_err();
        assert!(
            matches!(&e, OrgError::UnknownParent { org, parent } if org == "b" && parent == "x")
        );
        assert!(e.to_string().contains("`x`"), "{e}");
        let e = OrgTree::build(vec![org("a", None), org("b", None)]).unwrap_err();
        assert!(matches!(e, OrgError::SeveralRoots(ids) if ids == ["a", "b"]));
        let e = OrgTree::build(vec![
            org("r", None),
            org("a", Some("b")),
            org("b", Some("a")),
            org("c", Some("a")),
        ])
        .unwrap_err();
        assert!(
            matches!(&e, OrgError::Cycle(ids) if ids == &["a", "b", "c"]),
            "{e}"
        );
        let e = OrgTree::build(vec![org("a", Some("b")), org("b", Some("a"))]).unwrap_err();
        assert!(matches!(e, OrgError::NoRoot));
        let e = OrgTree::build(vec![org("a", Some("a"))]).unwrap_err();
        assert!(matches!(e, OrgError::Cycle(_)));
        let e = OrgTree::build(vec![org("a", None), org("a", Some("a"))]).unwrap_err();
        assert!(matches!(e, OrgError::DuplicateId(_)));
        assert!(matches!(OrgTree::build(vec![]), Err(OrgError::Empty)));
    }

    #[test]
    fn deep_and_wide_trees() {
        // A chain 5,000 deep (no recursion) and 2,000 siblings.
        let mut orgs = vec![org("0", None)];
        for i in 1..5000 {
            orgs.push(org(&i.to_string(), Some(&(i - 1).to_string())));
        }
        for i in 0..2000 {
            orgs.push(org(&format!("w{i}"), Some("0")));
        }
        let tree = OrgTree::build(orgs).unwrap();
        assert!(tree.is_ancestor_or_self("0", "4999"));
        assert!(!tree.is_ancestor_or_self("4999", "0"));
        assert_eq!(tree.get("4999").unwrap().level(), 5000);
        assert_eq!(tree.subtree("4990").unwrap().len(), 10);
        assert!(!tree.is_ancestor_or_self("1", "w5"));
    }
}

#[cfg(test)]
mod store_tests {
    use super::*;
    use zhiyun_store::store_test;

    store_test!(demo_tree_seeds_idempotently, |store| async move {
        seed_demo(&store).await.unwrap();
        seed_demo(&store).await.unwrap();
        let tree = load(&store).await.unwrap();
        assert_eq!(tree.len(), DEMO_ORGS.len());
        assert!(tree.is_ancestor_or_self("3302", "330202"));
        assert_eq!(tree.get("3300-cw").unwrap().name(), "财务部");
        assert_eq!(tree.get("330101").unwrap().kind(), OrgKind::SupplyStation);
    });

    store_test!(inserts_are_checked, |store| async move {
        let org = |id: &str, parent: Option<&str>| Org {
            id: id.into(),
            code: format!("c-{id}"),
            name: format!("机构{id}"),
            parent_id: parent.map(Into::into),
            kind: OrgKind::CountyCompany,
        };
        insert(&store, &org("r", None)).await.unwrap();
        let e = insert(&store, &org("r2", None)).await.unwrap_err();
        assert!(matches!(e, OrgError::SeveralRoots(_)), "{e}");
        let e = insert(&store, &org("a", Some("nope"))).await.unwrap_err();
        assert!(e.to_string().contains("`nope`"), "{e}");
        insert(&store, &org("a", Some("r"))).await.unwrap();
        let e = insert(&store, &org("a", Some("r"))).await.unwrap_err();
        assert!(matches!(e, OrgError::DuplicateId(_)), "{e}");
        let mut dup_code = org("b", Some("a"));
        dup_code.code = "c-a".into();
        let e = insert(&store, &dup_code).await.unwrap_err();
        assert!(matches!(e, OrgError::DuplicateCode(_)), "{e}");
        let e = insert(&store, &org("s", Some("s"))).await.unwrap_err();
        assert!(matches!(e, OrgError::Cycle(_)), "{e}");
        // The database refuses a second root even past the check.
        let e = sqlx::query(
            "INSERT INTO orgs (org_id, code, name, parent_id, kind, created_at) \
             VALUES ('r3', 'r3', 'x', NULL, 'department', 0)",
        )
        .execute(store.pool())
        .await
        .unwrap_err();
        assert!(StoreError::Database(e).is_unique_violation());
        let tree = load(&store).await.unwrap();
        assert_eq!(tree.len(), 2);
        assert_eq!(tree.get("a").unwrap().level(), 2);
    });
}
