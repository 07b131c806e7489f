//! Effective access: **the one function the data layer calls** before it
//! reads a dataset for a launched app, [`effective_access`].
//!
//! Effective access = what the user may see ∩ what the app was granted:
//!
//! - **Rows.** The user side is the union, over the user's posts, of each
//!   post's [`DataScope`] resolved against the org tree for the post's org
//!   (本单位及下级 → the org's subtree, 本单位 → the org, 仅本人 → rows the user
//!   owns, 自定义 → the listed orgs, 全部 → every row). The app side is the
//!   dataset's grant: every row, or the subtrees of the orgs it was
//!   restricted to. The result is their intersection, as a [`RowFilter`].
//! - **Columns.** A column of level L is clear for a row when the app was
//!   granted level L or more **and** the row is visible through a post whose
//!   role reads level L or more; otherwise it is masked. So a user who is a
//!   单位领导 (敏感) in 3301 and a 业务用户 (内部) in 3302 sees the sensitive
//!   columns of 3301's rows clear and those of 3302's rows masked
//!   ([`ColumnAccess::ClearWhere`]) — never the wider of the two.
//!
//! [`EffectiveAccess`] cannot be built any other way (its fields are
//! private), so a data path that takes one cannot have skipped the check;
//! the data layer renders [`EffectiveAccess::predicate`] into its query (or
//! evaluates [`EffectiveAccess::allows_row`]) and masks every cell with
//! [`EffectiveAccess::cell`].

use crate::identity::Role;
use crate::org::OrgTree;
use crate::scope::{DataScope, MaskKind, OrgSet, RowFilter, Sensitivity, mask};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

/// One post of a user, with its effective scope (the post's override or
/// the role's default) and the role's level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostGrant {
    pub role: Role,
    pub org_id: String,
    pub scope: DataScope,
    pub max_sensitivity: Sensitivity,
}

/// Who is asking: from [`crate::identity::Identity::user_ctx`]. A disabled
/// user has no posts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserCtx {
    pub username: String,
    pub org_id: String,
    pub posts: Vec<PostGrant>,
}

/// What an app was granted on one dataset (by an approved 数据申请).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatasetGrant {
    /// `None`: any org. Otherwise the app sees only rows of these orgs'
    /// subtrees (an empty list: no row).
    #[serde(default)]
    pub orgs: Option<Vec<String>>,
    /// The highest column level the app reads unmasked.
    pub max_sensitivity: Sensitivity,
}

/// The approved grants of an app.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AppGrant {
    pub app_id: String,
    /// By dataset name.
    pub datasets: BTreeMap<String, DatasetGrant>,
}

/// A column's level and how it is masked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnPolicy {
    pub name: String,
    pub sensitivity: Sensitivity,
    pub mask: MaskKind,
}

/// What the access check needs to know about a dataset (from the catalog).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatasetPolicy {
    pub name: String,
    /// The column holding the row's org id; `None`: the dataset is not
    /// partitioned by org (org scopes then let every row through).
    pub org_column: Option<String>,
    /// The column holding the owning user's name; `None`: 仅本人 scopes see
    /// no row.
    pub owner_column: Option<String>,
    /// Columns not listed are 公开.
    pub columns: Vec<ColumnPolicy>,
}

/// How one column reaches the app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColumnAccess {
    /// Unmasked in every visible row.
    Clear,
    /// Masked in every row.
    Masked(MaskKind),
    /// Unmasked in the rows the filter passes, masked in the others.
    ClearWhere { filter: RowFilter, mask: MaskKind },
}

/// Why access was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    #[error("app `{app}` has not been granted the dataset `{dataset}`")]
    DatasetNotGranted { app: String, dataset: String },
    #[error("user `{user}` has no data scope that reaches the dataset `{dataset}`")]
    NoUserAccess { user: String, dataset: String },
    #[error(
        "the orgs app `{app}` was granted on `{dataset}` do not overlap the data scope of user `{user}`"
    )]
    NoOverlap {
        app: String,
        user: String,
        dataset: String,
    },
}

/// The result of [`effective_access`]: which rows, and how each column.
/// Only [`effective_access`] makes one.
#[derive(Debug, Clone)]
pub struct EffectiveAccess {
    app_id: String,
    username: String,
    dataset: String,
    org_column: Option<String>,
    owner_column: Option<String>,
    rows: RowFilter,
    columns: BTreeMap<String, ColumnAccess>,
}

impl EffectiveAccess {
    pub fn app_id(&self) -> &str {
        &self.app_id
    }
    pub fn username(&self) -> &str {
        &self.username
    }
    pub fn dataset(&self) -> &str {
        &self.dataset
    }

    /// The rows the app may read (never `Nothing`: that is [`Denied`]).
    /// The dataset's org column, if it has one (what the row filter tests).
    pub fn org_column(&self) -> Option<&str> {
        self.org_column.as_deref()
    }
    /// The dataset's owner column, if it has one (仅本人 scopes test it).
    pub fn owner_column(&self) -> Option<&str> {
        self.owner_column.as_deref()
    }
    pub fn row_filter(&self) -> &RowFilter {
        &self.rows
    }

    /// The row filter as a SQL predicate over the dataset's columns, with
    /// placeholders from `$first` on, and its parameter values.
    pub fn predicate(&self, first: usize) -> (String, Vec<String>) {
        // Without an org column the filter has no org condition left.
        let org = self.org_column.as_deref().unwrap_or("org_id");
        self.rows
            .to_sql_from(first, org, self.owner_column.as_deref())
    }

    /// Whether a row with this org and owner may be read.
    pub fn allows_row(&self, org: Option<&str>, owner: Option<&str>) -> bool {
        self.rows.matches(org, owner)
    }

    /// How a column reaches the app (columns the policy does not list are
    /// 公开, hence clear).
    pub fn column(&self, name: &str) -> &ColumnAccess {
        self.columns.get(name).unwrap_or(&ColumnAccess::Clear)
    }

    /// The columns that are not clear in every row.
    pub fn masked_columns(&self) -> impl Iterator<Item = (&str, &ColumnAccess)> {
        self.columns
            .iter()
            .filter(|(_, a)| **a != ColumnAccess::Clear)
            .map(|(n, a)| (n.as_str(), a))
    }

    /// A cell's value as the app may see it, for a row with this org and
    /// owner.
    pub fn cell<'v>(
        &self,
        column: &str,
        value: &'v str,
        org: Option<&str>,
        owner: Option<&str>,
    ) -> Cow<'v, str> {
        match self.column(column) {
            ColumnAccess::Clear => Cow::Borrowed(value),
            ColumnAccess::Masked(kind) => Cow::Owned(mask(value, *kind)),
            ColumnAccess::ClearWhere { filter, mask: kind } => {
                if filter.matches(org, owner) {
                    Cow::Borrowed(value)
                } else {
                    Cow::Owned(mask(value, *kind))
                }
            }
        }
    }
}

/// The rows one post sees, resolved against the tree. A post in an org the
/// tree does not know sees nothing (except 全部 and 仅本人, which do not
/// depend on the org).
fn post_filter(tree: &OrgTree, username: &str, post: &PostGrant) -> RowFilter {
    match &post.scope {
        DataScope::All => RowFilter::All,
        DataScope::SelfOnly => RowFilter::UserEquals(username.to_string()),
        DataScope::OrgAndBelow => tree
            .subtree(&post.org_id)
            .map_or(RowFilter::Nothing, RowFilter::org_in),
        DataScope::OrgOnly => {
            if tree.contains(&post.org_id) {
                RowFilter::OrgIn(Arc::new([post.org_id.clone()].into()))
            } else {
                RowFilter::Nothing
            }
        }
        DataScope::Custom(orgs) => RowFilter::org_in(Arc::new(
            orgs.iter().filter(|o| tree.contains(o)).cloned().collect(),
        )),
    }
}

fn grant_filter(tree: &OrgTree, grant: &DatasetGrant) -> RowFilter {
    match &grant.orgs {
        None => RowFilter::All,
        Some(orgs) => orgs
            .iter()
            .filter_map(|o| tree.subtree(o))
            .fold(RowFilter::Nothing, |acc, s: OrgSet| {
                acc.union(RowFilter::org_in(s))
            }),
    }
}

/// **The only way to decide what a launched app reads of a dataset on
/// behalf of a user.** Every data path (semantic queries, guarded SQL, the
/// fixture provider) calls it and applies the result: the row filter to the
/// query, the column decisions to every cell.
///
/// Denied if the app was not granted the dataset, if the user has no scope
/// that reaches it, or if the two do not overlap.
pub fn effective_access(
    tree: &OrgTree,
    user: &UserCtx,
    app: &AppGrant,
    dataset: &DatasetPolicy,
) -> Result<EffectiveAccess, Denied> {
    let grant = app
        .datasets
        .get(&dataset.name)
        .ok_or_else(|| Denied::DatasetNotGranted {
            app: app.app_id.clone(),
            dataset: dataset.name.clone(),
        })?;
    let (has_org, has_owner) = (dataset.org_column.is_some(), dataset.owner_column.is_some());
    let filters: Vec<(Sensitivity, RowFilter)> = user
        .posts
        .iter()
        .map(|p| {
            (
                p.max_sensitivity,
                post_filter(tree, &user.username, p).for_columns(has_org, has_owner),
            )
        })
        .collect();
    let user_rows = filters
        .iter()
        .fold(RowFilter::Nothing, |acc, (_, f)| acc.union(f.clone()));
    if user_rows == RowFilter::Nothing {
        return Err(Denied::NoUserAccess {
            user: user.username.clone(),
            dataset: dataset.name.clone(),
        });
    }
    let app_rows = grant_filter(tree, grant).for_columns(has_org, has_owner);
    let rows = user_rows.intersect(app_rows.clone());
    if rows == RowFilter::Nothing {
        return Err(Denied::NoOverlap {
            app: app.app_id.clone(),
            user: user.username.clone(),
            dataset: dataset.name.clone(),
        });
    }

    // The rows each level is clear in, computed once per level used.
    let mut clear_by_level: [Option<RowFilter>; 4] = Default::default();
    let mut columns = BTreeMap::new();
    for col in &dataset.columns {
        let level = col.sensitivity;
        let access = if level > grant.max_sensitivity {
            ColumnAccess::Masked(col.mask)
        } else if filters
            .iter()
            .all(|(l, f)| *l >= level || *f == RowFilter::Nothing)
        {
            // Every post that shows rows reads this level.
            ColumnAccess::Clear
        } else if filters.iter().all(|(l, _)| *l < level) {
            ColumnAccess::Masked(col.mask)
        } else {
            let clear = clear_by_level[level as usize].get_or_insert_with(|| {
                filters
                    .iter()
                    .filter(|(l, _)| *l >= level)
                    .fold(RowFilter::Nothing, |acc, (_, f)| acc.union(f.clone()))
                    .intersect(app_rows.clone())
            });
            if rows.is_within(clear) {
                ColumnAccess::Clear
            } else if *clear == RowFilter::Nothing {
                ColumnAccess::Masked(col.mask)
            } else {
                ColumnAccess::ClearWhere {
                    filter: clear.clone(),
                    mask: col.mask,
                }
            }
        };
        columns.insert(col.name.clone(), access);
    }
    Ok(EffectiveAccess {
        app_id: app.app_id.clone(),
        username: user.username.clone(),
        dataset: dataset.name.clone(),
        org_column: dataset.org_column.clone(),
        owner_column: dataset.owner_column.clone(),
        rows,
        columns,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::org::DEMO_ORGS;

    fn tree() -> OrgTree {
        OrgTree::build(DEMO_ORGS.iter().map(|o| o.to_org()).collect()).unwrap()
    }

    fn post(role: Role, org: &str, scope: DataScope, level: Sensitivity) -> PostGrant {
        PostGrant {
            role,
            org_id: org.into(),
            scope,
            max_sensitivity: level,
        }
    }

    fn user(name: &str, org: &str, posts: Vec<PostGrant>) -> UserCtx {
        UserCtx {
            username: name.into(),
            org_id: org.into(),
            posts,
        }
    }

    fn fund_daily() -> DatasetPolicy {
        DatasetPolicy {
            name: "fund_daily".into(),
            org_column: Some("org_id".into()),
            owner_column: Some("owner".into()),
            columns: vec![
                ColumnPolicy {
                    name: "acct_no".into(),
                    sensitivity: Sensitivity::Sensitive,
                    mask: MaskKind::BankAccount,
                },
                ColumnPolicy {
                    name: "closing".into(),
                    sensitivity: Sensitivity::Internal,
                    mask: MaskKind::Full,
                },
                ColumnPolicy {
                    name: "holder_id".into(),
                    sensitivity: Sensitivity::Core,
                    mask: MaskKind::IdNumber,
                },
            ],
        }
    }

    fn app(orgs: Option<&[&str]>, level: Sensitivity) -> AppGrant {
        AppGrant {
            app_id: "fund-position".into(),
            datasets: [(
                "fund_daily".to_string(),
                DatasetGrant {
                    orgs: orgs.map(|o| o.iter().map(|s| s.to_string()).collect()),
                    max_sensitivity: level,
                },
            )]
            .into(),
        }
    }

    fn visible(access: &EffectiveAccess, tree: &OrgTree) -> Vec<String> {
        tree.iter()
            .filter(|o| access.allows_row(Some(o.id()), Some("nobody")))
            .map(|o| o.id().to_string())
            .collect()
    }

    #[test]
    fn a_county_user_never_sees_another_county() {
        let tree = tree();
        let u = user(
            "user.3301",
            "3301",
            vec![post(
                Role::BusinessUser,
                "3301",
                DataScope::OrgAndBelow,
                Sensitivity::Internal,
            )],
        );
        let a = effective_access(&tree, &u, &app(None, Sensitivity::Core), &fund_daily()).unwrap();
        let seen = visible(&a, &tree);
        assert_eq!(seen, ["3301", "3301-cw", "330101", "330102"]);
        for o in tree.iter() {
            if tree.is_ancestor_or_self("3302", o.id()) || tree.is_ancestor_or_self("3303", o.id())
            {
                assert!(!a.allows_row(Some(o.id()), None), "{}", o.id());
            }
        }
        let (sql, params) = a.predicate(1);
        assert_eq!(sql, r#""org_id" IN ($1, $2, $3, $4)"#);
        assert_eq!(params, ["3301", "3301-cw", "330101", "330102"]);
        assert!(!params.iter().any(|p| p.starts_with("3302")));
        // An app restricted to 3302 gives this user nothing: denied.
        let e = effective_access(
            &tree,
            &u,
            &app(Some(&["3302"]), Sensitivity::Core),
            &fund_daily(),
        )
        .unwrap_err();
        assert!(matches!(e, Denied::NoOverlap { .. }), "{e}");
        // A user with a 本单位 post sees exactly that org.
        let u = user(
            "x",
            "330101",
            vec![post(
                Role::BusinessUser,
                "330101",
                DataScope::OrgOnly,
                Sensitivity::Internal,
            )],
        );
        let a = effective_access(&tree, &u, &app(None, Sensitivity::Core), &fund_daily()).unwrap();
        assert_eq!(visible(&a, &tree), ["330101"]);
    }

    #[test]
    fn denials() {
        let tree = tree();
        let u = user(
            "u",
            "3301",
            vec![post(
                Role::BusinessUser,
                "3301",
                DataScope::OrgAndBelow,
                Sensitivity::Internal,
            )],
        );
        let mut other = fund_daily();
        other.name = "payroll".into();
        let e = effective_access(&tree, &u, &app(None, Sensitivity::Core), &other).unwrap_err();
        assert_eq!(
            e,
            Denied::DatasetNotGranted {
                app: "fund-position".into(),
                dataset: "payroll".into()
            }
        );
        let nobody = user("n", "3301", vec![]);
        let e = effective_access(&tree, &nobody, &app(None, Sensitivity::Core), &fund_daily())
            .unwrap_err();
        assert!(matches!(e, Denied::NoUserAccess { .. }), "{e}");
        // A post in an org that no longer exists reaches nothing.
        let gone = user(
            "g",
            "9999",
            vec![post(
                Role::BusinessUser,
                "9999",
                DataScope::OrgAndBelow,
                Sensitivity::Core,
            )],
        );
        assert!(
            effective_access(&tree, &gone, &app(None, Sensitivity::Core), &fund_daily()).is_err()
        );
        // 仅本人 on a dataset without an owner column: nothing.
        let me = user(
            "m",
            "3301",
            vec![post(
                Role::SystemAdmin,
                "3300",
                DataScope::SelfOnly,
                Sensitivity::Public,
            )],
        );
        let mut no_owner = fund_daily();
        no_owner.owner_column = None;
        assert!(effective_access(&tree, &me, &app(None, Sensitivity::Core), &no_owner).is_err());
        let a = effective_access(&tree, &me, &app(None, Sensitivity::Core), &fund_daily()).unwrap();
        assert_eq!(
            a.predicate(3),
            (r#""owner" = $3"#.to_string(), vec!["m".to_string()])
        );
    }

    /// Every combination of scopes, post orgs, app restrictions and levels
    /// over the demo tree: a row (and a clear cell) is allowed exactly when
    /// both sides allow it — never wider than either.
    #[test]
    fn intersection_is_exactly_both_sides() {
        let tree = tree();
        let scopes = [
            DataScope::All,
            DataScope::OrgAndBelow,
            DataScope::OrgOnly,
            DataScope::SelfOnly,
            DataScope::Custom(vec!["330101".into(), "3302".into(), "nope".into()]),
        ];
        let post_orgs = ["3300", "3301", "330202"];
        let restrictions: [Option<&[&str]>; 4] =
            [None, Some(&["3301"]), Some(&["330101", "3303"]), Some(&[])];
        let owners = [Some("alice"), Some("bob"), None];
        let mut posts = Vec::new();
        for s in &scopes {
            for o in post_orgs {
                for l in [Sensitivity::Internal, Sensitivity::Sensitive] {
                    posts.push(post(Role::BusinessUser, o, s.clone(), l));
                }
            }
        }
        let mut checked = 0;
        for (i, p1) in posts.iter().enumerate() {
            for p2 in posts.iter().skip(i).step_by(7) {
                let u = user("alice", "3301", vec![p1.clone(), p2.clone()]);
                for r in restrictions {
                    for app_level in [Sensitivity::Internal, Sensitivity::Core] {
                        let grant = app(r, app_level);
                        let result = effective_access(&tree, &u, &grant, &fund_daily());
                        for org in tree.iter().map(|o| Some(o.id())).chain([None]) {
                            for owner in owners {
                                let user_side = u
                                    .posts
                                    .iter()
                                    .any(|p| post_filter(&tree, "alice", p).matches(org, owner));
                                let app_side = grant_filter(&tree, &grant.datasets["fund_daily"])
                                    .matches(org, owner);
                                let allowed =
                                    result.as_ref().is_ok_and(|a| a.allows_row(org, owner));
                                assert_eq!(
                                    allowed,
                                    user_side && app_side,
                                    "{p1:?} {p2:?} {r:?} {org:?} {owner:?}"
                                );
                                let Ok(a) = &result else { continue };
                                if !allowed {
                                    continue;
                                }
                                for col in &fund_daily().columns {
                                    let user_clear = u.posts.iter().any(|p| {
                                        p.max_sensitivity >= col.sensitivity
                                            && post_filter(&tree, "alice", p).matches(org, owner)
                                    });
                                    let clear = user_clear && app_level >= col.sensitivity;
                                    let shown = a.cell(&col.name, "6222021234567890", org, owner);
                                    assert_eq!(
                                        shown == "6222021234567890",
                                        clear,
                                        "{col:?} {p1:?} {p2:?} {org:?}"
                                    );
                                    checked += 1;
                                }
                            }
                        }
                    }
                }
            }
        }
        assert!(checked > 10_000, "{checked}");
    }

    #[test]
    fn masking_below_the_level() {
        let tree = tree();
        let grant = app(None, Sensitivity::Core);
        // A 业务用户 (内部) sees amounts but not account numbers or ids.
        let biz = user(
            "b",
            "3301",
            vec![post(
                Role::BusinessUser,
                "3301",
                DataScope::OrgAndBelow,
                Sensitivity::Internal,
            )],
        );
        let a = effective_access(&tree, &biz, &grant, &fund_daily()).unwrap();
        assert_eq!(a.column("closing"), &ColumnAccess::Clear);
        assert_eq!(
            a.column("acct_no"),
            &ColumnAccess::Masked(MaskKind::BankAccount)
        );
        assert_eq!(
            a.column("org_name"),
            &ColumnAccess::Clear,
            "unlisted → 公开"
        );
        assert_eq!(
            a.cell("acct_no", "6222021234567890123", Some("3301"), None),
            "***************0123"
        );
        assert_eq!(
            a.cell("holder_id", "11010519491231002X", Some("3301"), None),
            "110***********002X"
        );
        assert_eq!(a.masked_columns().count(), 2);
        // A 单位领导 (敏感) sees account numbers, not 核心 ids.
        let leader = user(
            "l",
            "3301",
            vec![post(
                Role::UnitLeader,
                "3301",
                DataScope::OrgAndBelow,
                Sensitivity::Sensitive,
            )],
        );
        let a = effective_access(&tree, &leader, &grant, &fund_daily()).unwrap();
        assert_eq!(a.column("acct_no"), &ColumnAccess::Clear);
        assert_eq!(
            a.column("holder_id"),
            &ColumnAccess::Masked(MaskKind::IdNumber)
        );
        // …unless the app was granted less.
        let a = effective_access(
            &tree,
            &leader,
            &app(None, Sensitivity::Internal),
            &fund_daily(),
        )
        .unwrap();
        assert_eq!(
            a.column("acct_no"),
            &ColumnAccess::Masked(MaskKind::BankAccount)
        );
        // Leader in 3301 and business user in 3302: clear only in 3301's rows.
        let both = user(
            "lb",
            "3301",
            vec![
                post(
                    Role::UnitLeader,
                    "3301",
                    DataScope::OrgAndBelow,
                    Sensitivity::Sensitive,
                ),
                post(
                    Role::BusinessUser,
                    "3302",
                    DataScope::OrgAndBelow,
                    Sensitivity::Internal,
                ),
            ],
        );
        let a = effective_access(&tree, &both, &grant, &fund_daily()).unwrap();
        assert!(matches!(
            a.column("acct_no"),
            ColumnAccess::ClearWhere { .. }
        ));
        assert_eq!(
            a.cell("acct_no", "6222021234567890123", Some("330101"), None),
            "6222021234567890123"
        );
        assert_eq!(
            a.cell("acct_no", "6222021234567890123", Some("330201"), None),
            "***************0123"
        );
        assert_eq!(visible(&a, &tree).len(), 8);
    }

    #[test]
    fn datasets_without_an_org_column() {
        let tree = tree();
        let u = user(
            "u",
            "3301",
            vec![post(
                Role::BusinessUser,
                "3301",
                DataScope::OrgAndBelow,
                Sensitivity::Internal,
            )],
        );
        let mut reference = fund_daily();
        reference.org_column = None;
        let a = effective_access(
            &tree,
            &u,
            &app(Some(&["3302"]), Sensitivity::Core),
            &reference,
        )
        .unwrap();
        assert_eq!(a.row_filter(), &RowFilter::All);
        assert_eq!(a.predicate(1).0, "1 = 1");
    }

    #[test]
    fn large_trees_share_subtrees() {
        // 2,000 orgs: 1 root, 40 县公司, 49 below each.
        let mut orgs = vec![crate::org::Org {
            id: "r".into(),
            code: "r".into(),
            name: "root".into(),
            parent_id: None,
            kind: crate::org::OrgKind::SecondaryUnit,
        }];
        for c in 0..40 {
            orgs.push(crate::org::Org {
                id: format!("c{c}"),
                code: format!("c{c}"),
                name: format!("县{c}"),
                parent_id: Some("r".into()),
                kind: crate::org::OrgKind::CountyCompany,
            });
            for s in 0..49 {
                orgs.push(crate::org::Org {
                    id: format!("c{c}s{s}"),
                    code: format!("c{c}s{s}"),
                    name: format!("所{c}-{s}"),
                    parent_id: Some(format!("c{c}")),
                    kind: crate::org::OrgKind::SupplyStation,
                });
            }
        }
        let tree = OrgTree::build(orgs).unwrap();
        assert_eq!(tree.len(), 1 + 40 + 40 * 49);
        let u = user(
            "u",
            "r",
            vec![post(
                Role::UnitLeader,
                "r",
                DataScope::OrgAndBelow,
                Sensitivity::Sensitive,
            )],
        );
        let a = effective_access(&tree, &u, &app(None, Sensitivity::Core), &fund_daily()).unwrap();
        // The user's filter is the tree's shared subtree set, not a copy.
        let RowFilter::OrgIn(set) = a.row_filter() else {
            panic!("{:?}", a.row_filter())
        };
        assert!(Arc::ptr_eq(set, &tree.subtree("r").unwrap()));
        assert_eq!(set.len(), tree.len());
    }
}
