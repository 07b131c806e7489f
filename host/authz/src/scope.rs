//! Data scopes, row filters, column sensitivity and masking: the pure
//! building blocks of [`crate::access::effective_access`].
//!
//! - A [`DataScope`] (全部 / 本单位及下级 / 本单位 / 仅本人 / 自定义) belongs to a
//!   role (its default) or to one post (an override). Resolved against the
//!   org tree for the post's org it becomes a [`RowFilter`].
//! - A [`RowFilter`] is a dialect-neutral predicate over a dataset's org
//!   column and owner column. [`RowFilter::to_sql`] renders it with
//!   placeholders (`$1, $2, …`, which SQLite and PostgreSQL both read) and
//!   returns the values separately: a value is never spliced into SQL.
//!   [`RowFilter::matches`] evaluates it in memory (for providers that
//!   filter rows themselves).
//! - Every column has a [`Sensitivity`] (公开 < 内部 < 敏感 < 核心); a column
//!   above what a role may read is [`mask`]ed by its [`MaskKind`].

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

/// Which rows of an org-partitioned dataset a post sees.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "orgs", rename_all = "kebab-case")]
pub enum DataScope {
    /// 全部: every row.
    All,
    /// 本单位及下级: the post's org and its descendants.
    OrgAndBelow,
    /// 本单位: the post's org only.
    OrgOnly,
    /// 仅本人: rows the user owns (the dataset's owner column).
    SelfOnly,
    /// 自定义: exactly these orgs (not their descendants).
    Custom(Vec<String>),
}

impl DataScope {
    /// The Chinese label.
    pub fn label(&self) -> &'static str {
        match self {
            DataScope::All => "全部",
            DataScope::OrgAndBelow => "本单位及下级",
            DataScope::OrgOnly => "本单位",
            DataScope::SelfOnly => "仅本人",
            DataScope::Custom(_) => "自定义",
        }
    }

    /// The JSON stored in `roles.data_scope` / `posts.data_scope`.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a DataScope serialises")
    }

    pub fn from_json(s: &str) -> Result<DataScope, serde_json::Error> {
        serde_json::from_str(s)
    }
}

/// A set of org ids, shared: the org tree hands out its precomputed subtree
/// sets without copying them.
pub type OrgSet = Arc<BTreeSet<String>>;

/// A predicate over a row's org (the dataset's org column) and owner (its
/// owner column). Built by [`RowFilter::union`] / [`RowFilter::intersect`],
/// which keep it simplified: `All` and `Nothing` are absorbed, two `OrgIn`
/// merge into one, and an `OrgIn` is never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowFilter {
    /// Every row.
    All,
    /// No row.
    Nothing,
    /// Rows whose org is in the set (never empty).
    OrgIn(OrgSet),
    /// Rows the user owns.
    UserEquals(String),
    /// Rows matching every part (at least two).
    And(Vec<RowFilter>),
    /// Rows matching any part (at least two).
    Or(Vec<RowFilter>),
}

impl RowFilter {
    /// `OrgIn`, or `Nothing` for an empty set.
    pub fn org_in(set: OrgSet) -> RowFilter {
        if set.is_empty() {
            RowFilter::Nothing
        } else {
            RowFilter::OrgIn(set)
        }
    }

    /// Rows matching `self` or `other`.
    pub fn union(self, other: RowFilter) -> RowFilter {
        use RowFilter::*;
        match (self, other) {
            (All, _) | (_, All) => All,
            (Nothing, f) | (f, Nothing) => f,
            (OrgIn(a), OrgIn(b)) => OrgIn(merge(a, b)),
            (a, b) if a == b => a,
            (Or(mut parts), f) | (f, Or(mut parts)) => {
                // Merge an OrgIn into the OrgIn already among the parts.
                if let OrgIn(b) = &f
                    && let Some(OrgIn(a)) = parts.iter_mut().find(|p| matches!(p, OrgIn(_)))
                {
                    *a = merge(a.clone(), b.clone());
                } else if let Or(more) = f {
                    for p in more {
                        parts = match Or(parts).union(p) {
                            Or(v) => v,
                            other => return other,
                        };
                    }
                } else if !parts.contains(&f) {
                    parts.push(f);
                }
                Or(parts)
            }
            (a, b) => Or(vec![a, b]),
        }
    }

    /// Rows matching both `self` and `other`.
    pub fn intersect(self, other: RowFilter) -> RowFilter {
        use RowFilter::*;
        match (self, other) {
            (Nothing, _) | (_, Nothing) => Nothing,
            (All, f) | (f, All) => f,
            (OrgIn(a), OrgIn(b)) => {
                // Subsets (the usual case: a subtree within a subtree) keep
                // the shared set instead of copying.
                if Arc::ptr_eq(&a, &b) || a.is_subset(&b) {
                    OrgIn(a)
                } else if b.is_subset(&a) {
                    OrgIn(b)
                } else {
                    RowFilter::org_in(Arc::new(a.intersection(&b).cloned().collect()))
                }
            }
            (a, b) if a == b => a,
            // Distribute an org restriction over a union, so that the
            // common case (posts' orgs ∩ an app's orgs) stays a plain set.
            (Or(parts), f @ OrgIn(_)) | (f @ OrgIn(_), Or(parts)) => parts
                .into_iter()
                .fold(Nothing, |acc, p| acc.union(p.intersect(f.clone()))),
            (And(mut parts), f) | (f, And(mut parts)) => {
                if !parts.contains(&f) {
                    parts.push(f);
                }
                And(parts)
            }
            (a, b) => And(vec![a, b]),
        }
    }

    /// Whether a row with this org and owner passes. `None` (the dataset
    /// has no such column, or the value is NULL) never matches a condition
    /// on it.
    pub fn matches(&self, org: Option<&str>, owner: Option<&str>) -> bool {
        match self {
            RowFilter::All => true,
            RowFilter::Nothing => false,
            RowFilter::OrgIn(set) => org.is_some_and(|o| set.contains(o)),
            RowFilter::UserEquals(u) => owner == Some(u.as_str()),
            RowFilter::And(parts) => parts.iter().all(|p| p.matches(org, owner)),
            RowFilter::Or(parts) => parts.iter().any(|p| p.matches(org, owner)),
        }
    }

    /// The filter for a dataset that has (or lacks) an org and an owner
    /// column: a dataset without an org column is not partitioned by org,
    /// so an org condition that lets any org through (a non-empty set)
    /// lets every row through; without an owner column, "rows the user
    /// owns" is no row.
    pub fn for_columns(self, has_org: bool, has_owner: bool) -> RowFilter {
        match self {
            RowFilter::OrgIn(_) if !has_org => RowFilter::All,
            RowFilter::UserEquals(_) if !has_owner => RowFilter::Nothing,
            RowFilter::And(parts) => parts.into_iter().fold(RowFilter::All, |acc, p| {
                acc.intersect(p.for_columns(has_org, has_owner))
            }),
            RowFilter::Or(parts) => parts.into_iter().fold(RowFilter::Nothing, |acc, p| {
                acc.union(p.for_columns(has_org, has_owner))
            }),
            f => f,
        }
    }

    /// A SQL predicate for this filter over `org_col` and `owner_col`, with
    /// placeholders `$1, $2, …` and their values (all text). Column names
    /// are quoted as identifiers (`t.org_id` → `"t"."org_id"`); values only
    /// ever travel as parameters. A condition on a missing owner column is
    /// false.
    pub fn to_sql(&self, org_col: &str, owner_col: Option<&str>) -> (String, Vec<String>) {
        self.to_sql_from(1, org_col, owner_col)
    }

    /// [`RowFilter::to_sql`] with the first placeholder `$first` (to splice
    /// the predicate into a query that has parameters of its own).
    pub fn to_sql_from(
        &self,
        first: usize,
        org_col: &str,
        owner_col: Option<&str>,
    ) -> (String, Vec<String>) {
        let mut sql = String::new();
        let mut params = Vec::new();
        let cols = (quote_ident(org_col), owner_col.map(quote_ident));
        self.render(&mut sql, &mut params, first, &cols);
        (sql, params)
    }

    fn render(
        &self,
        sql: &mut String,
        params: &mut Vec<String>,
        first: usize,
        cols: &(String, Option<String>),
    ) {
        use std::fmt::Write;
        match self {
            RowFilter::All => sql.push_str("1 = 1"),
            RowFilter::Nothing => sql.push_str("1 = 0"),
            RowFilter::OrgIn(set) => {
                sql.push_str(&cols.0);
                sql.push_str(" IN (");
                for (i, org) in set.iter().enumerate() {
                    if i > 0 {
                        sql.push_str(", ");
                    }
                    let _ = write!(sql, "${}", first + params.len());
                    params.push(org.clone());
                }
                sql.push(')');
            }
            RowFilter::UserEquals(user) => match &cols.1 {
                Some(owner) => {
                    let _ = write!(sql, "{owner} = ${}", first + params.len());
                    params.push(user.clone());
                }
                None => sql.push_str("1 = 0"),
            },
            RowFilter::And(parts) | RowFilter::Or(parts) => {
                let op = if matches!(self, RowFilter::And(_)) {
                    " AND "
                } else {
                    " OR "
                };
                sql.push('(');
                for (i, p) in parts.iter().enumerate() {
                    if i > 0 {
                        sql.push_str(op);
                    }
                    p.render(sql, params, first, cols);
                }
                sql.push(')');
            }
        }
    }

    /// Whether every row this filter passes is passed by `wider` too, as
    /// far as can be told structurally (a `false` may be a false negative,
    /// a `true` never is a false positive).
    pub fn is_within(&self, wider: &RowFilter) -> bool {
        use RowFilter::*;
        match (self, wider) {
            (Nothing, _) | (_, All) => true,
            (All, _) | (_, Nothing) => false,
            (a, b) if a == b => true,
            (OrgIn(a), OrgIn(b)) => a.is_subset(b),
            (Or(parts), w) => parts.iter().all(|p| p.is_within(w)),
            (And(parts), w) => parts.iter().any(|p| p.is_within(w)),
            (f, Or(parts)) => parts.iter().any(|p| f.is_within(p)),
            (f, And(parts)) => parts.iter().all(|p| f.is_within(p)),
            _ => false,
        }
    }
}

fn merge(a: OrgSet, b: OrgSet) -> OrgSet {
    if Arc::ptr_eq(&a, &b) || b.is_subset(&a) {
        a
    } else if a.is_subset(&b) {
        b
    } else {
        let mut set = Arc::unwrap_or_clone(a);
        set.extend(b.iter().cloned());
        Arc::new(set)
    }
}

/// `name` as a quoted SQL identifier, each dot-separated part quoted
/// (`"` doubled inside).
pub fn quote_ident(name: &str) -> String {
    name.split('.')
        .map(|part| format!("\"{}\"", part.replace('"', "\"\"")))
        .collect::<Vec<_>>()
        .join(".")
}

/// How sensitive a column is. Ordered: 公开 < 内部 < 敏感 < 核心.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Sensitivity {
    /// 公开
    Public,
    /// 内部
    Internal,
    /// 敏感
    Sensitive,
    /// 核心
    Core,
}

impl Sensitivity {
    pub const ALL: [Sensitivity; 4] = [
        Sensitivity::Public,
        Sensitivity::Internal,
        Sensitivity::Sensitive,
        Sensitivity::Core,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Sensitivity::Public => "public",
            Sensitivity::Internal => "internal",
            Sensitivity::Sensitive => "sensitive",
            Sensitivity::Core => "core",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Sensitivity::Public => "公开",
            Sensitivity::Internal => "内部",
            Sensitivity::Sensitive => "敏感",
            Sensitivity::Core => "核心",
        }
    }

    /// From `as_str` or the Chinese label.
    pub fn parse(s: &str) -> Option<Sensitivity> {
        Self::ALL
            .into_iter()
            .find(|l| l.as_str() == s || l.label() == s)
    }
}

impl fmt::Display for Sensitivity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// How a value is masked for a reader below the column's level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MaskKind {
    /// Bank account number: keep the last 4 characters.
    BankAccount,
    /// 身份证号: keep the first 3 and the last 4.
    IdNumber,
    /// Phone number: keep the first 3 and the last 4.
    Phone,
    /// A person's name: keep the first character.
    Name,
    /// Anything else: replaced entirely by a fixed `******` (the length is
    /// not revealed either).
    Full,
}

/// `value` masked as `kind` says. Works on characters, not bytes (UTF-8
/// safe); a value too short to keep anything is masked entirely (each
/// character by `*`).
pub fn mask(value: &str, kind: MaskKind) -> String {
    let chars: Vec<char> = value.chars().collect();
    let n = chars.len();
    let (head, tail) = match kind {
        MaskKind::Full => return "******".to_string(),
        MaskKind::BankAccount => (0, 4),
        MaskKind::IdNumber | MaskKind::Phone => (3, 4),
        MaskKind::Name => (1, 0),
    };
    // Keep at least one character hidden.
    if n <= head + tail {
        if kind == MaskKind::Name && n > 1 {
            return chars[..1]
                .iter()
                .chain(std::iter::repeat_n(&'*', n - 1))
                .collect();
        }
        return "*".repeat(n.max(1));
    }
    let mut out = String::with_capacity(value.len());
    out.extend(&chars[..head]);
    out.extend(std::iter::repeat_n('*', n - head - tail));
    out.extend(&chars[n - tail..]);
    out
}

/// A suggested sensitivity and mask for a column, from its name and, failing
/// that, from its values (most non-empty samples — at least 80 % — must fit
/// a pattern): 18-digit 身份证号 with a valid check digit → 核心 / id
/// number; an 11-digit mobile number `1[3-9]…` → 敏感 / phone; 12–25 digits →
/// 敏感 / bank account. Names of people (by column name only) → 内部 / name.
pub fn auto_suggest(column: &str, samples: &[&str]) -> Option<(Sensitivity, MaskKind)> {
    let name = column.to_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| name.contains(w));
    if has(&[
        "id_no",
        "idno",
        "id_card",
        "idcard",
        "id_number",
        "身份证",
        "证件号",
    ]) {
        return Some((Sensitivity::Core, MaskKind::IdNumber));
    }
    if has(&[
        "acct_no",
        "account_no",
        "acctno",
        "bank_account",
        "card_no",
        "账号",
        "卡号",
    ]) {
        return Some((Sensitivity::Sensitive, MaskKind::BankAccount));
    }
    if has(&["phone", "mobile", "tel", "手机", "电话"]) {
        return Some((Sensitivity::Sensitive, MaskKind::Phone));
    }
    if has(&[
        "person_name",
        "holder_name",
        "contact_name",
        "payee_name",
        "姓名",
        "联系人",
    ]) {
        return Some((Sensitivity::Internal, MaskKind::Name));
    }
    let values: Vec<&str> = samples
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .collect();
    if values.is_empty() {
        return None;
    }
    let most =
        |pred: fn(&str) -> bool| values.iter().filter(|v| pred(v)).count() * 5 >= values.len() * 4;
    if most(is_id_number) {
        Some((Sensitivity::Core, MaskKind::IdNumber))
    } else if most(is_mobile) {
        Some((Sensitivity::Sensitive, MaskKind::Phone))
    } else if most(is_account_number) {
        Some((Sensitivity::Sensitive, MaskKind::BankAccount))
    } else {
        None
    }
}

/// An 18-character 身份证号 (GB 11643-1999): 17 digits and a check
/// character (digit or `X`) that matches.
pub fn is_id_number(s: &str) -> bool {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    const CHECK: &[u8; 11] = b"10X98765432";
    let b = s.as_bytes();
    if b.len() != 18 || !b[..17].iter().all(u8::is_ascii_digit) {
        return false;
    }
    let sum: u32 = b[..17]
        .iter()
        .zip(WEIGHTS)
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum();
    b[17].to_ascii_uppercase() == CHECK[(sum % 11) as usize]
}

/// A mainland mobile number: 11 digits, `1[3-9]` first.
pub fn is_mobile(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 11
        && b.iter().all(u8::is_ascii_digit)
        && b[0] == b'1'
        && (b'3'..=b'9').contains(&b[1])
}

/// 12 to 25 digits.
pub fn is_account_number(s: &str) -> bool {
    (12..=25).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(ids: &[&str]) -> OrgSet {
        Arc::new(ids.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn scopes_round_trip_as_json() {
        for scope in [
            DataScope::All,
            DataScope::OrgAndBelow,
            DataScope::OrgOnly,
            DataScope::SelfOnly,
            DataScope::Custom(vec!["3301".into(), "3302".into()]),
        ] {
            let json = scope.to_json();
            assert_eq!(DataScope::from_json(&json).unwrap(), scope, "{json}");
        }
        assert_eq!(
            DataScope::OrgAndBelow.to_json(),
            r#"{"kind":"org-and-below"}"#
        );
        assert_eq!(
            DataScope::Custom(vec!["3301".into()]).to_json(),
            r#"{"kind":"custom","orgs":["3301"]}"#
        );
    }

    #[test]
    fn union_and_intersection_simplify() {
        use RowFilter::*;
        let a = OrgIn(set(&["1", "2"]));
        let b = OrgIn(set(&["2", "3"]));
        assert_eq!(a.clone().union(b.clone()), OrgIn(set(&["1", "2", "3"])));
        assert_eq!(a.clone().intersect(b.clone()), OrgIn(set(&["2"])));
        assert_eq!(OrgIn(set(&["1"])).intersect(OrgIn(set(&["2"]))), Nothing);
        assert_eq!(a.clone().union(All), All);
        assert_eq!(a.clone().intersect(All), a);
        assert_eq!(a.clone().union(Nothing), a);
        assert_eq!(a.clone().intersect(Nothing), Nothing);
        let me = UserEquals("u".into());
        let either = a.clone().union(me.clone());
        assert_eq!(either, Or(vec![a.clone(), me.clone()]));
        // Another org set merges into the union's set.
        assert_eq!(
            either.clone().union(b.clone()),
            Or(vec![OrgIn(set(&["1", "2", "3"])), me.clone()])
        );
        // An org restriction distributes over the union.
        assert_eq!(
            either.intersect(OrgIn(set(&["2", "9"]))),
            Or(vec![
                OrgIn(set(&["2"])),
                And(vec![me.clone(), OrgIn(set(&["2", "9"]))])
            ])
        );
        assert_eq!(RowFilter::org_in(set(&[])), Nothing);
    }

    #[test]
    fn sql_is_parameterised_and_identifiers_quoted() {
        let f = RowFilter::OrgIn(set(&["3301", "330101"]))
            .union(RowFilter::UserEquals("x'); DROP TABLE users; --".into()));
        let (sql, params) = f.to_sql("t.org_id", Some("owner"));
        assert_eq!(sql, r#"("t"."org_id" IN ($1, $2) OR "owner" = $3)"#);
        assert_eq!(params, ["3301", "330101", "x'); DROP TABLE users; --"]);
        let (sql, params) = f.to_sql_from(4, "org\"id", None);
        assert_eq!(sql, r#"("org""id" IN ($4, $5) OR 1 = 0)"#);
        assert_eq!(params.len(), 2);
        assert_eq!(RowFilter::All.to_sql("o", None), ("1 = 1".into(), vec![]));
        assert_eq!(
            RowFilter::Nothing.to_sql("o", None),
            ("1 = 0".into(), vec![])
        );
    }

    #[test]
    fn filters_adapt_to_the_dataset_columns() {
        let f = RowFilter::OrgIn(set(&["1"])).union(RowFilter::UserEquals("u".into()));
        assert_eq!(f.clone().for_columns(false, true), RowFilter::All);
        assert_eq!(
            f.clone().for_columns(true, false),
            RowFilter::OrgIn(set(&["1"]))
        );
        assert_eq!(
            RowFilter::UserEquals("u".into()).for_columns(false, false),
            RowFilter::Nothing
        );
    }

    #[test]
    fn matches_agrees_with_the_structure() {
        let f = RowFilter::OrgIn(set(&["1"]))
            .union(RowFilter::UserEquals("u".into()))
            .intersect(RowFilter::OrgIn(set(&["1", "2"])));
        assert!(f.matches(Some("1"), None));
        assert!(f.matches(Some("2"), Some("u")));
        assert!(!f.matches(Some("2"), Some("v")));
        assert!(!f.matches(Some("3"), Some("u")));
        assert!(!f.matches(None, Some("u")));
    }

    #[test]
    fn masking_is_character_based() {
        assert_eq!(
            mask("6222021234567890123", MaskKind::BankAccount),
            "***************0123"
        );
        assert_eq!(
            mask("11010519491231002X", MaskKind::IdNumber),
            "110***********002X"
        );
        assert_eq!(mask("13812345678", MaskKind::Phone), "138****5678");
        assert_eq!(mask("张三", MaskKind::Name), "张*");
        assert_eq!(mask("欧阳娜娜", MaskKind::Name), "欧***");
        assert_eq!(mask("张", MaskKind::Name), "*");
        assert_eq!(mask("1234", MaskKind::BankAccount), "****");
        assert_eq!(mask("", MaskKind::Phone), "*");
        assert_eq!(mask("示范市供电公司", MaskKind::Full), "******");
        // Multi-byte characters are never split.
        assert_eq!(
            mask("账户一二三四五六", MaskKind::BankAccount),
            "****三四五六"
        );
        assert_eq!(
            mask("１３８１２３４５６７８", MaskKind::Phone),
            "１３８****５６７８"
        );
    }

    #[test]
    fn suggestions_from_names_and_values() {
        assert_eq!(
            auto_suggest("acct_no", &[]),
            Some((Sensitivity::Sensitive, MaskKind::BankAccount))
        );
        assert_eq!(
            auto_suggest("身份证号码", &[]),
            Some((Sensitivity::Core, MaskKind::IdNumber))
        );
        assert_eq!(
            auto_suggest("contact_phone", &[]),
            Some((Sensitivity::Sensitive, MaskKind::Phone))
        );
        assert_eq!(
            auto_suggest("c1", &["11010519491231002X", "110105194912310029", ""]),
            None,
            "only one of two has a valid check digit"
        );
        assert_eq!(
            auto_suggest("c1", &["11010519491231002X", "440524188001010014"]),
            Some((Sensitivity::Core, MaskKind::IdNumber))
        );
        assert_eq!(
            auto_suggest("c2", &["13812345678", "19900001111", "15011112222"]),
            Some((Sensitivity::Sensitive, MaskKind::Phone))
        );
        assert_eq!(
            auto_suggest("c2", &["12812345678"]),
            None,
            "12x is not a mobile prefix"
        );
        assert_eq!(
            auto_suggest("c3", &["6222021234567890123", "330100012345"]),
            Some((Sensitivity::Sensitive, MaskKind::BankAccount))
        );
        assert_eq!(auto_suggest("amount", &["12345", "678"]), None);
        assert_eq!(auto_suggest("org_name", &["城东县供电公司"]), None);
    }

    #[test]
    fn id_number_checksum() {
        assert!(is_id_number("11010519491231002X"));
        assert!(is_id_number("11010519491231002x"));
        assert!(is_id_number("440524188001010014"));
        assert!(!is_id_number("110105194912310021"));
        assert!(!is_id_number("1101051949123100"));
    }

    #[test]
    fn sensitivity_order_and_labels() {
        assert!(Sensitivity::Public < Sensitivity::Internal);
        assert!(Sensitivity::Sensitive < Sensitivity::Core);
        for l in Sensitivity::ALL {
            assert_eq!(Sensitivity::parse(l.as_str()), Some(l));
            assert_eq!(Sensitivity::parse(l.label()), Some(l));
        }
    }
}
