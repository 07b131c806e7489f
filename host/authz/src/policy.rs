//! The policy: who may use which menu entries and apps, read which datasets
//! and do which admin actions — stored in the platform store, evaluated by
//! casbin, kept in step across hosts.
//!
//! **Owns:** the tables of migration 4 (`host/store/migrations/*/0004_policy.sql`):
//! `policy_version`, `role_actions`, `menus`, `menu_roles`,
//! `dataset_policies`, `dataset_columns` and `dataset_grants`; the appliers
//! of the menu, role-grant, role-revoke, data-scope and dataset-access
//! change requests ([`appliers`]); the demo menus and dataset policy
//! ([`seed_demo`]). **Must not know:** HTTP, or how a dataset is stored.
//!
//! # The store is the truth, casbin the evaluator
//!
//! [`Policy::load`] reads every table in one read transaction (on
//! PostgreSQL `REPEATABLE READ`, so it is one snapshot), builds a fresh
//! [`casbin::Enforcer`] from [`MODEL`] and an empty `MemoryAdapter`, adds
//! the rules programmatically, and swaps the whole snapshot (enforcer,
//! menu tree, org tree, dataset policies, app grants) in behind an
//! `RwLock<Arc<…>>` (readers clone the `Arc` and evaluate without holding
//! the lock). The org tree is read with [`org::load`], outside that
//! transaction. Casbin never writes anything: auto-save is off and its
//! save/management API is not used to change the policy — changes go
//! through the store (the change-request appliers), then every host reloads.
//!
//! # Keeping hosts in step
//!
//! Every write that changes a decision — posts, users' status, roles' default
//! scopes, menus and their roles, role actions, dataset grants and column
//! policies — bumps `policy_version` **in the same transaction**
//! ([`bump_version`]). [`Policy::refresh`] reads the version (one indexed
//! row) and reloads everything if it moved; [`Policy::spawn_sync`] polls it.
//! A host therefore sees another host's change within one poll interval,
//! and its own at once if it calls `refresh` after an approval. The version
//! is read first, in the same snapshot as the tables, so a snapshot is never
//! older than the version it records (at worst a later poll reloads once
//! more). Tables without a writer here (`role_actions`, and
//! `dataset_policies`/`dataset_columns` beyond [`seed_demo`]) must be
//! written together with [`bump_version`] too. `org::insert` does not bump
//! it yet: a new org reaches [`Policy::org_tree`] at the next reload.
//!
//! # The model
//!
//! ```text
//! [request_definition]  r = sub, obj, act
//! [policy_definition]   p = sub, obj, act, exp
//! [role_definition]     g = _, _      user:<name> → role:<id>     (posts)
//!                       g2 = _, _     menu:<child> → menu:<parent>,
//!                                     app:<id> → menu:<id>        (placement)
//! [policy_effect]       e = some(where (p.eft == allow))
//! [matchers]            m = r.act == p.act
//!                           && (r.obj == p.obj || (p.act == "use" && g2(r.obj, p.obj)))
//!                           && g(r.sub, p.sub) && live(p.exp)
//! ```
//!
//! This is `g(r.sub, p.sub) && (r.obj == p.obj || g2(r.obj, p.obj)) &&
//! r.act == p.act`, reordered so the cheap string comparisons run first and
//! the graph lookups only where they can matter (only `use` objects —
//! menus and apps — have `g2` links).
//!
//! - **Subjects are prefixed**: `user:<username>` and `role:<role_id>`. A user
//!   holds `role:R` when they hold any post of R (only active users). A
//!   personal grant is `p, user:<name>, …`; it matches because casbin's
//!   `g(a, b)` is true when `a == b` (`DefaultRoleManager::has_link`). The
//!   prefixes keep a user named like a role (a user `system-admin`) from
//!   matching that role's rules.
//! - **Objects and actions**: `action:<name>` / `do` for admin actions
//!   ([`ACTIONS`], from `role_actions`); `menu:<id>` and `app:<id>` / `use`;
//!   `dataset:<name>` / `read`. A grant on a menu entry covers its subtree
//!   and the apps placed in it through `g2`.
//! - casbin-rs 2.20 gives `g` and `g2` **one shared role manager**: the two
//!   graphs are kept apart only by their name prefixes (`user:`/`role:`
//!   versus `menu:`/`app:`), which never link to each other.
//! - `live(p.exp)` is a function registered on the enforcer: `exp` is empty
//!   (no expiry) or µs since the epoch, compared with the clock **at enforce
//!   time**, so an expiring dataset grant stops working on time without a
//!   reload. Rules already expired at load are not added at all. (App
//!   grants are not casbin rules: [`Policy::app_grant`] filters them by the
//!   clock when called.)
//! - The role manager follows at most 10 links, so menus are at most
//!   [`MAX_MENU_DEPTH`] deep (the menu applier refuses deeper ones).
//! - Casbin evaluates the matcher (a rhai expression) for every `p` rule —
//!   there is no index — at about 1.5 µs a rule: with the demo's 47 rules a
//!   denied action took ~75 µs, an allowed app ~16 µs (release build).
//!   Each snapshot therefore **remembers its decisions** (it is immutable,
//!   so they stay right), and a repeated decision costs well under a
//!   microsecond. While a rule with an expiry is loaded, decisions are
//!   cached only until the earliest expiry; after it they are evaluated
//!   each time until [`Policy::refresh`] reloads (which it does once an
//!   expiry has passed, even if the version did not move).
//! - **Fail closed**: an enforce error denies (and is logged, and not
//!   remembered).

use crate::access::{AppGrant, ColumnPolicy, DatasetGrant, DatasetPolicy, UserCtx};
use crate::change::{
    Applicant, ApplierSet, BoxFuture, ChangeApplier, ChangeError, ChangeKind, ChangeKindName,
    ChangeRequest, DataScopeChange, DatasetAccess, MenuChange, MenuOp, RoleGrant, RoleRevoke,
};
use crate::identity::{self, Identity, IdentityError, Role};
use crate::org::{self, OrgError, OrgTree};
use crate::scope::{DataScope, MaskKind, Sensitivity};
use casbin::function_map::OperatorFunction;
use casbin::rhai::Dynamic;
use casbin::{CoreApi, DefaultModel, Enforcer, MemoryAdapter};
use serde::{Deserialize, Serialize};
use sqlx::{AnyConnection, Row};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;
use zhiyun_store::{Backend, Store, StoreError, now_micros};

/// The admin actions (`action:<name>`, act `do`), with their zh-CN
/// descriptions. Who holds them is the table `role_actions`, seeded by
/// migration 4 for the built-in roles.
pub const ACTIONS: &[(&str, &str)] = &[
    ("app.submit", "提交应用上架申请"),
    ("app.review", "审核应用上架：查看待审队列，通过或驳回"),
    ("app.operate", "应用运维：暂停、恢复、下架、回滚"),
    ("key.register", "登记部门签名公钥"),
    ("audit.read", "查阅审计日志"),
    ("org.manage", "管理组织机构"),
    ("org.read", "查看组织机构"),
    ("user.manage", "管理用户账号"),
    ("user.read", "查看用户账号"),
    ("menu.manage", "发起菜单变更申请"),
    ("policy.read", "查看角色、授权、菜单树和数据集策略"),
    ("change.create.role", "发起角色授予、撤销和数据范围变更申请"),
    ("change.review.role", "审批角色授予、撤销和数据范围变更"),
    ("change.review.menu", "审批菜单变更"),
    ("change.review.dataset", "审批数据申请"),
    ("change.review.app", "审批应用上架与版本升级"),
    ("data.export", "导出数据"),
    ("dataset.apply", "提交数据申请"),
    ("warehouse.load", "数据回流：加载批次、回流验证"),
    ("catalog.read", "查看数据目录"),
    ("catalog.classify", "确认字段敏感级别"),
    ("service.propose", "提交数据服务发布申请"),
    ("change.review.service", "审批数据服务发布"),
    ("service.retire", "停用数据服务"),
];

/// The deepest a menu entry may sit (a top-level entry is at depth 1): the
/// casbin role manager follows at most 10 links (app → entry → … → top).
pub const MAX_MENU_DEPTH: usize = 8;

/// The casbin model (see the module docs).
pub const MODEL: &str = r#"
[request_definition]
r = sub, obj, act

[policy_definition]
p = sub, obj, act, exp

[role_definition]
g = _, _
g2 = _, _

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = r.act == p.act && (r.obj == p.obj || (p.act == "use" && g2(r.obj, p.obj))) && g(r.sub, p.sub) && live(p.exp)
"#;

/// How many users' [`UserCtx`] one snapshot keeps (the cache is cleared
/// when full; it is dropped with the snapshot at every reload anyway).
const USER_CTX_CACHE: usize = 4096;

/// How many decisions one snapshot remembers (cleared when full).
const DECISION_CACHE: usize = 100_000;

/// The shortest poll interval [`Policy::spawn_sync`] accepts.
const MIN_SYNC_INTERVAL: Duration = Duration::from_millis(50);

fn user_subject(username: &str) -> String {
    format!("user:{username}")
}
fn role_subject(role_id: &str) -> String {
    format!("role:{role_id}")
}
fn menu_object(menu_id: &str) -> String {
    format!("menu:{menu_id}")
}
fn app_object(app_id: &str) -> String {
    format!("app:{app_id}")
}
fn dataset_object(dataset: &str) -> String {
    format!("dataset:{dataset}")
}
fn action_object(action: &str) -> String {
    format!("action:{action}")
}

/// `live(exp)`: true for an empty `exp` (no expiry) or one in the future.
fn live(exp: Dynamic) -> Dynamic {
    let ok = match exp.into_immutable_string() {
        Ok(s) if s.is_empty() => true,
        Ok(s) => s.parse::<i64>().is_ok_and(|t| t > now_micros()),
        Err(_) => false,
    };
    Dynamic::from_bool(ok)
}

/// Why the policy could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("the casbin policy could not be built: {0}")]
    Casbin(String),
    #[error("stored policy data is damaged: {0}")]
    Corrupt(String),
    #[error("cannot load the org tree for the policy: {0}")]
    Org(#[from] OrgError),
    #[error(transparent)]
    Identity(#[from] IdentityError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for PolicyError {
    fn from(e: sqlx::Error) -> Self {
        PolicyError::Store(StoreError::Database(e))
    }
}

impl From<casbin::Error> for PolicyError {
    fn from(e: casbin::Error) -> Self {
        PolicyError::Casbin(e.to_string())
    }
}

/// One menu entry and its children (sorted by `sort_order`, then id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MenuNode {
    pub menu_id: String,
    pub parent_id: Option<String>,
    pub title: String,
    pub title_en: Option<String>,
    /// The app the entry opens, if any.
    pub app_id: Option<String>,
    pub sort_order: i64,
    /// The roles granted this entry (and so its subtree), sorted.
    pub roles: Vec<String>,
    pub children: Vec<MenuNode>,
}

impl MenuNode {
    /// The node without its children.
    fn shallow(&self) -> MenuNode {
        MenuNode {
            menu_id: self.menu_id.clone(),
            parent_id: self.parent_id.clone(),
            title: self.title.clone(),
            title_en: self.title_en.clone(),
            app_id: self.app_id.clone(),
            sort_order: self.sort_order,
            roles: self.roles.clone(),
            children: Vec::new(),
        }
    }
}

/// Bumps `policy_version` inside the caller's write transaction and returns
/// the new version. Every write that changes a decision calls it — **first**,
/// before its other writes: on PostgreSQL the version row's lock then
/// serialises policy writes in one order (no deadlock between, say, a role
/// grant and disabling the same user), and validations made after it see
/// no concurrent policy change.
pub async fn bump_version(tx: &mut AnyConnection) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE policy_version SET version = version + 1 WHERE id = 1 RETURNING version",
    )
    .fetch_one(&mut *tx)
    .await
}

async fn read_version(conn: &mut AnyConnection) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT version FROM policy_version WHERE id = 1")
        .fetch_one(&mut *conn)
        .await
}

/// The union of an app's grants on one dataset as one [`DatasetGrant`]:
/// the orgs of all of them, at the **highest level granted over that whole
/// range**. A grant at a higher level on fewer orgs (a 数据申请 at 敏感 for
/// one county, beside the listing's 内部 for every org) does not raise the
/// level outside its orgs — one level for the whole range cannot say
/// "敏感 here, 内部 there", so it errs on the side of masking. (Per-org
/// levels for apps are a follow-up: `effective_access` already handles
/// them for users' posts.)
fn merge_grants(rows: &[&AppGrantRow]) -> DatasetGrant {
    fn orgs_of<'r>(rows: impl Iterator<Item = &'r &'r AppGrantRow>) -> Option<BTreeSet<String>> {
        let mut all = BTreeSet::new();
        for row in rows {
            all.extend(row.orgs.as_ref()?.iter().cloned());
        }
        Some(all)
    }
    let range = orgs_of(rows.iter());
    let mut levels: Vec<Sensitivity> = rows.iter().map(|r| r.max_sensitivity).collect();
    levels.sort_unstable_by(|a, b| b.cmp(a));
    let max_sensitivity = levels
        .into_iter()
        .find(|level| orgs_of(rows.iter().filter(|r| r.max_sensitivity >= *level)) == range)
        .unwrap_or(Sensitivity::Public);
    DatasetGrant {
        orgs: range.map(|set| set.into_iter().collect()),
        max_sensitivity,
    }
}

/// A dataset grant to an app, as stored (merged by [`Policy::app_grant`]).
#[derive(Debug, Clone)]
struct AppGrantRow {
    dataset: String,
    orgs: Option<Vec<String>>,
    max_sensitivity: Sensitivity,
    expires_at: Option<i64>,
}

/// Everything one version of the policy decides with. Immutable; replaced
/// whole at every reload.
struct Snapshot {
    version: i64,
    enforcer: Enforcer,
    menus: Vec<MenuNode>,
    roles_by_user: HashMap<String, Vec<String>>,
    /// Users with grants of their own (`p, user:<name>, …`): only their
    /// decisions are evaluated per user; everyone else's are their roles'.
    personal: HashSet<String>,
    org_tree: Arc<OrgTree>,
    app_grants: HashMap<String, Vec<AppGrantRow>>,
    datasets: HashMap<String, DatasetPolicy>,
    user_ctx: Mutex<HashMap<String, Arc<UserCtx>>>,
    /// Decisions made so far, by [`decision_key`]. The snapshot is
    /// immutable, so a decision stays right until `cache_until`.
    decisions: RwLock<HashMap<String, bool>>,
    /// The earliest expiry among the rules: from then on decisions are not
    /// cached, and [`Policy::refresh`] reloads (dropping the expired rule).
    cache_until: Option<i64>,
}

/// An unambiguous key for a decision (the lengths prefix the parts).
fn decision_key(subject: &str, object: &str, action: &str) -> String {
    format!(
        "{}.{}.{subject}{object}{action}",
        subject.len(),
        object.len()
    )
}

impl Snapshot {
    /// A user's decision: allowed if one of their roles is, or a grant of
    /// their own. Decided and remembered **per role** — casbin evaluates
    /// every `p` rule on each call (≈ 0.5 ms with a few hundred rules), so
    /// after a policy change the misses are bounded by roles × objects, not
    /// users × objects — and per user only for users with grants of their
    /// own. The same answer as asking casbin about `user:<name>` (whose `g`
    /// links are exactly their roles), checked by a test.
    fn enforce(&self, username: &str, object: &str, action: &str) -> bool {
        let by_role = self
            .roles_by_user
            .get(username)
            .into_iter()
            .flatten()
            .any(|role| self.decide(&role_subject(role), object, action));
        by_role
            || (self.personal.contains(username)
                && self.decide(&user_subject(username), object, action))
    }

    /// A subject's decision: from the cache, or casbin's (then remembered).
    /// Errors deny and are not remembered.
    fn decide(&self, subject: &str, object: &str, action: &str) -> bool {
        let cacheable = self.cache_until.is_none_or(|t| now_micros() < t);
        let key = cacheable.then(|| decision_key(subject, object, action));
        if let Some(key) = &key
            && let Some(decision) = self
                .decisions
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .get(key)
        {
            return *decision;
        }
        let decision = self.evaluate(subject, object, action);
        if let (Some(key), Some(decision)) = (key, decision) {
            let mut cache = self.decisions.write().unwrap_or_else(|e| e.into_inner());
            if cache.len() >= DECISION_CACHE {
                cache.clear();
            }
            cache.insert(key, decision);
        }
        decision.unwrap_or(false)
    }

    /// casbin's decision for a subject (`user:…` or `role:…`); `None` if
    /// it failed (logged).
    fn evaluate(&self, subject: &str, object: &str, action: &str) -> Option<bool> {
        match self.enforcer.enforce((subject, object, action)) {
            Ok(allowed) => Some(allowed),
            Err(e) => {
                tracing::error!(
                    subject,
                    object,
                    action,
                    version = self.version,
                    error = %e,
                    "casbin enforce failed; denying"
                );
                None
            }
        }
    }

    /// The granted nodes with their subtrees, and the ancestors of granted
    /// nodes (with only the children that lead to a grant).
    fn visible(&self, username: &str, nodes: &[MenuNode]) -> Vec<MenuNode> {
        let mut out = Vec::new();
        for node in nodes {
            if self.enforce(username, &menu_object(&node.menu_id), "use") {
                // g2 links every descendant to this entry: the subtree is
                // granted.
                out.push(node.clone());
            } else {
                let children = self.visible(username, &node.children);
                if !children.is_empty() {
                    out.push(MenuNode {
                        children,
                        ..node.shallow()
                    });
                }
            }
        }
        out
    }
}

struct Inner {
    store: Store,
    identity: Identity,
    current: RwLock<Arc<Snapshot>>,
    /// Serialises reloads (one at a time; the others find the version
    /// current).
    reload: tokio::sync::Mutex<()>,
}

/// The live policy. Cheap to clone (shared); `Send + Sync`.
#[derive(Clone)]
pub struct Policy {
    inner: Arc<Inner>,
}

impl fmt::Debug for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Policy")
            .field("version", &self.version())
            .finish_non_exhaustive()
    }
}

impl Policy {
    /// Loads the policy from the store. The org tree must not be empty
    /// (seed or import the orgs first).
    pub async fn load(store: Store) -> Result<Policy, PolicyError> {
        let snapshot = load_snapshot(&store).await?;
        tracing::info!(version = snapshot.version, "policy loaded");
        Ok(Policy {
            inner: Arc::new(Inner {
                identity: Identity::new(store.clone()),
                store,
                current: RwLock::new(Arc::new(snapshot)),
                reload: tokio::sync::Mutex::new(()),
            }),
        })
    }

    fn snapshot(&self) -> Arc<Snapshot> {
        // A poisoned lock still holds a whole snapshot (it is only ever
        // replaced by one assignment).
        self.inner
            .current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Reads `policy_version`; if it differs from the loaded one (or a
    /// loaded grant has expired since), reloads everything and swaps it in.
    /// True if it reloaded.
    pub async fn refresh(&self) -> Result<bool, PolicyError> {
        let _one = self.inner.reload.lock().await;
        let mut conn = self.inner.store.pool().acquire().await?;
        let stored = read_version(&mut conn).await?;
        drop(conn);
        let current = self.snapshot();
        let loaded = current.version;
        let expired = current.cache_until.is_some_and(|t| now_micros() >= t);
        if stored == loaded && !expired {
            return Ok(false);
        }
        let snapshot = load_snapshot(&self.inner.store).await?;
        tracing::info!(from = loaded, to = snapshot.version, "policy reloaded");
        *self
            .inner
            .current
            .write()
            .unwrap_or_else(|e| e.into_inner()) = Arc::new(snapshot);
        Ok(true)
    }

    /// The loaded version.
    pub fn version(&self) -> i64 {
        self.snapshot().version
    }

    /// Polls [`Policy::refresh`] every `every` (at least 50 ms) in a task.
    /// Errors are logged and the loaded policy kept; the task never panics
    /// and ends once every clone of this `Policy` is dropped (or when the
    /// handle is aborted).
    pub fn spawn_sync(&self, every: Duration) -> tokio::task::JoinHandle<()> {
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        let every = every.max(MIN_SYNC_INTERVAL);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            // The first tick is immediate; the policy was just loaded.
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(inner) = weak.upgrade() else {
                    return;
                };
                let policy = Policy { inner };
                if let Err(e) = policy.refresh().await {
                    tracing::warn!(
                        version = policy.version(),
                        error = %e,
                        "policy refresh failed; keeping the loaded version"
                    );
                }
            }
        })
    }

    /// Whether `username` may do `action` on `object` (see the module docs
    /// for the object and action names). Errors deny.
    pub fn allows(&self, username: &str, object: &str, action: &str) -> bool {
        self.snapshot().enforce(username, object, action)
    }

    /// Whether `username` may do the admin action `action` (one of
    /// [`ACTIONS`]).
    pub fn allows_action(&self, username: &str, action: &str) -> bool {
        self.allows(username, &action_object(action), "do")
    }

    /// Whether the app is placed on a menu entry (or in the subtree of one)
    /// that one of the user's roles is granted.
    pub fn can_use_app(&self, username: &str, app_id: &str) -> bool {
        self.allows(username, &app_object(app_id), "use")
    }

    /// Whether the user may read the dataset: a grant to one of their roles
    /// or to them personally, not expired.
    pub fn can_read_dataset(&self, username: &str, dataset: &str) -> bool {
        self.allows(username, &dataset_object(dataset), "read")
    }

    /// The whole menu tree.
    pub fn menus(&self) -> Vec<MenuNode> {
        self.snapshot().menus.clone()
    }

    /// The entries the user is granted, with their subtrees, and the
    /// ancestors of granted entries (so the tree can be navigated).
    pub fn menus_for(&self, username: &str) -> Vec<MenuNode> {
        let snapshot = self.snapshot();
        snapshot.visible(username, &snapshot.menus)
    }

    /// The org tree as of the loaded version.
    pub fn org_tree(&self) -> Arc<OrgTree> {
        self.snapshot().org_tree.clone()
    }

    /// What [`crate::access::effective_access`] needs about the user
    /// ([`Identity::user_ctx`]), cached until the next reload.
    pub async fn user_ctx(&self, username: &str) -> Result<Arc<UserCtx>, PolicyError> {
        let snapshot = self.snapshot();
        if let Some(ctx) = snapshot
            .user_ctx
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(username)
        {
            return Ok(ctx.clone());
        }
        let ctx = Arc::new(self.inner.identity.user_ctx(username).await?);
        let mut cache = snapshot.user_ctx.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= USER_CTX_CACHE {
            cache.clear();
        }
        cache.insert(username.to_string(), ctx.clone());
        Ok(ctx)
    }

    /// What the app was granted, unexpired: its listing grants and its
    /// approved 数据申请, merged per dataset (the wider level; every org if
    /// either grant is unrestricted, otherwise the union of the orgs).
    pub fn app_grant(&self, app_id: &str) -> AppGrant {
        let snapshot = self.snapshot();
        let now = now_micros();
        let mut parts: BTreeMap<&str, Vec<&AppGrantRow>> = BTreeMap::new();
        for row in snapshot.app_grants.get(app_id).into_iter().flatten() {
            if row.expires_at.is_none_or(|t| t > now) {
                parts.entry(row.dataset.as_str()).or_default().push(row);
            }
        }
        let datasets = parts
            .into_iter()
            .map(|(dataset, rows)| (dataset.to_string(), merge_grants(&rows)))
            .collect();
        AppGrant {
            app_id: app_id.to_string(),
            datasets,
        }
    }

    /// The dataset's registered column policy.
    pub fn dataset_policy(&self, dataset: &str) -> Option<DatasetPolicy> {
        self.snapshot().datasets.get(dataset).cloned()
    }

    /// The ids of the roles the user holds (any post; active users only),
    /// sorted.
    pub fn roles_of(&self, username: &str) -> Vec<String> {
        self.snapshot()
            .roles_by_user
            .get(username)
            .cloned()
            .unwrap_or_default()
    }
}

// ---- loading -----------------------------------------------------------------

struct MenuRow {
    menu_id: String,
    parent_id: Option<String>,
    title: String,
    title_en: Option<String>,
    app_id: Option<String>,
    sort_order: i64,
}

fn parse_level(s: &str, what: &str) -> Result<Sensitivity, PolicyError> {
    Sensitivity::parse(s).ok_or_else(|| PolicyError::Corrupt(format!("{what}: sensitivity `{s}`")))
}

fn parse_mask(s: &str, what: &str) -> Result<MaskKind, PolicyError> {
    serde_json::from_value(serde_json::Value::String(s.to_string()))
        .map_err(|_| PolicyError::Corrupt(format!("{what}: mask `{s}`")))
}

fn mask_str(mask: MaskKind) -> String {
    match serde_json::to_value(mask) {
        Ok(serde_json::Value::String(s)) => s,
        _ => unreachable!("a MaskKind serialises as a string"),
    }
}

fn parse_orgs(json: Option<String>, what: &str) -> Result<Option<Vec<String>>, PolicyError> {
    json.map(|j| {
        serde_json::from_str::<Vec<String>>(&j)
            .map_err(|e| PolicyError::Corrupt(format!("{what}: orgs `{j}`: {e}")))
    })
    .transpose()
}

/// Builds the tree from the rows: children sorted by (sort_order, id);
/// entries unreachable from a top-level entry (a cycle written past the
/// applier) or deeper than [`MAX_MENU_DEPTH`] are left out, with a warning.
/// Returns the tree and the ids placed in it.
fn build_tree(
    rows: &[MenuRow],
    roles: &HashMap<String, Vec<String>>,
) -> (Vec<MenuNode>, BTreeSet<String>) {
    let mut children: HashMap<Option<&str>, Vec<&MenuRow>> = HashMap::new();
    for row in rows {
        children
            .entry(row.parent_id.as_deref())
            .or_default()
            .push(row);
    }
    for list in children.values_mut() {
        list.sort_by(|a, b| (a.sort_order, &a.menu_id).cmp(&(b.sort_order, &b.menu_id)));
    }
    fn build(
        parent: Option<&str>,
        depth: usize,
        children: &HashMap<Option<&str>, Vec<&MenuRow>>,
        roles: &HashMap<String, Vec<String>>,
        placed: &mut BTreeSet<String>,
    ) -> Vec<MenuNode> {
        let Some(list) = children.get(&parent) else {
            return Vec::new();
        };
        let mut out = Vec::with_capacity(list.len());
        for row in list {
            if depth > MAX_MENU_DEPTH {
                tracing::warn!(
                    menu = row.menu_id,
                    "menu entry deeper than {MAX_MENU_DEPTH} levels; left out of the policy"
                );
                continue;
            }
            if !placed.insert(row.menu_id.clone()) {
                continue;
            }
            out.push(MenuNode {
                menu_id: row.menu_id.clone(),
                parent_id: row.parent_id.clone(),
                title: row.title.clone(),
                title_en: row.title_en.clone(),
                app_id: row.app_id.clone(),
                sort_order: row.sort_order,
                roles: roles.get(&row.menu_id).cloned().unwrap_or_default(),
                children: build(Some(&row.menu_id), depth + 1, children, roles, placed),
            });
        }
        out
    }
    let mut placed = BTreeSet::new();
    let tree = build(None, 1, &children, roles, &mut placed);
    for row in rows {
        if !placed.contains(&row.menu_id) && row.parent_id.is_some() {
            tracing::warn!(
                menu = row.menu_id,
                "menu entry not reachable from a top-level entry; left out of the policy"
            );
        }
    }
    (tree, placed)
}

async fn load_snapshot(store: &Store) -> Result<Snapshot, PolicyError> {
    let now = now_micros();
    let mut tx = store.pool().begin().await?;
    if store.backend() == Backend::Postgres {
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await?;
    }
    // The version first: the tables read after it are at least as new.
    let version = read_version(&mut tx).await?;

    let mut roles_by_user: HashMap<String, Vec<String>> = HashMap::new();
    for row in sqlx::query(
        "SELECT DISTINCT p.username, p.role_id FROM posts p JOIN users u ON u.username = p.username \
         WHERE u.status = 'active' ORDER BY p.username, p.role_id",
    )
    .fetch_all(&mut *tx)
    .await?
    {
        roles_by_user
            .entry(row.try_get("username")?)
            .or_default()
            .push(row.try_get("role_id")?);
    }

    let mut p_rules: BTreeSet<Vec<String>> = BTreeSet::new();
    let rule = |sub: String, obj: String, act: &str, exp: Option<i64>| {
        vec![
            sub,
            obj,
            act.to_string(),
            exp.map(|t| t.to_string()).unwrap_or_default(),
        ]
    };
    for row in sqlx::query("SELECT role_id, action FROM role_actions")
        .fetch_all(&mut *tx)
        .await?
    {
        let (role, action): (String, String) = (row.try_get("role_id")?, row.try_get("action")?);
        p_rules.insert(rule(
            role_subject(&role),
            action_object(&action),
            "do",
            None,
        ));
    }

    let mut menu_roles: HashMap<String, Vec<String>> = HashMap::new();
    for row in sqlx::query("SELECT menu_id, role_id FROM menu_roles ORDER BY menu_id, role_id")
        .fetch_all(&mut *tx)
        .await?
    {
        menu_roles
            .entry(row.try_get("menu_id")?)
            .or_default()
            .push(row.try_get("role_id")?);
    }
    let menu_rows =
        sqlx::query("SELECT menu_id, parent_id, title, title_en, app_id, sort_order FROM menus")
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|row| {
                Ok(MenuRow {
                    menu_id: row.try_get("menu_id")?,
                    parent_id: row.try_get("parent_id")?,
                    title: row.try_get("title")?,
                    title_en: row.try_get("title_en")?,
                    app_id: row.try_get("app_id")?,
                    sort_order: row.try_get("sort_order")?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?;

    let mut datasets: HashMap<String, DatasetPolicy> = HashMap::new();
    for row in sqlx::query("SELECT dataset, org_column, owner_column FROM dataset_policies")
        .fetch_all(&mut *tx)
        .await?
    {
        let name: String = row.try_get("dataset")?;
        datasets.insert(
            name.clone(),
            DatasetPolicy {
                name,
                org_column: row.try_get("org_column")?,
                owner_column: row.try_get("owner_column")?,
                columns: Vec::new(),
            },
        );
    }
    for row in sqlx::query(
        "SELECT dataset, column_name, sensitivity, mask FROM dataset_columns \
         ORDER BY dataset, column_name",
    )
    .fetch_all(&mut *tx)
    .await?
    {
        let dataset: String = row.try_get("dataset")?;
        let name: String = row.try_get("column_name")?;
        let what = format!("column `{dataset}.{name}`");
        let column = ColumnPolicy {
            sensitivity: parse_level(&row.try_get::<String, _>("sensitivity")?, &what)?,
            mask: parse_mask(&row.try_get::<String, _>("mask")?, &what)?,
            name,
        };
        if let Some(policy) = datasets.get_mut(&dataset) {
            policy.columns.push(column);
        }
    }

    // Unexpired grants; a disabled user's personal grants do not count.
    let mut app_grants: HashMap<String, Vec<AppGrantRow>> = HashMap::new();
    let mut personal: HashSet<String> = HashSet::new();
    for row in sqlx::query(
        "SELECT g.dataset, g.applicant_type, g.applicant, g.orgs, g.max_sensitivity, g.expires_at \
         FROM dataset_grants g LEFT JOIN users u \
           ON g.applicant_type = 'user' AND u.username = g.applicant \
         WHERE (g.applicant_type <> 'user' OR u.status = 'active') \
           AND (g.expires_at IS NULL OR g.expires_at > $1) \
         ORDER BY g.grant_id",
    )
    .bind(now)
    .fetch_all(&mut *tx)
    .await?
    {
        let dataset: String = row.try_get("dataset")?;
        let kind: String = row.try_get("applicant_type")?;
        let applicant: String = row.try_get("applicant")?;
        let expires_at: Option<i64> = row.try_get("expires_at")?;
        match kind.as_str() {
            "user" => {
                personal.insert(applicant.clone());
                p_rules.insert(rule(
                    user_subject(&applicant),
                    dataset_object(&dataset),
                    "read",
                    expires_at,
                ));
            }
            "role" => {
                p_rules.insert(rule(
                    role_subject(&applicant),
                    dataset_object(&dataset),
                    "read",
                    expires_at,
                ));
            }
            "app" => {
                let what = format!("the grant of `{dataset}` to app `{applicant}`");
                app_grants.entry(applicant).or_default().push(AppGrantRow {
                    orgs: parse_orgs(row.try_get("orgs")?, &what)?,
                    max_sensitivity: parse_level(
                        &row.try_get::<String, _>("max_sensitivity")?,
                        &what,
                    )?,
                    dataset,
                    expires_at,
                });
            }
            other => {
                return Err(PolicyError::Corrupt(format!(
                    "a dataset grant to a `{other}`"
                )));
            }
        }
    }
    tx.commit().await?;

    let (menus, placed) = build_tree(&menu_rows, &menu_roles);
    let mut g_rules: BTreeSet<Vec<String>> = BTreeSet::new();
    for (user, roles) in &roles_by_user {
        for role in roles {
            g_rules.insert(vec![user_subject(user), role_subject(role)]);
        }
    }
    let mut g2_rules: BTreeSet<Vec<String>> = BTreeSet::new();
    for row in menu_rows.iter().filter(|r| placed.contains(&r.menu_id)) {
        if let Some(parent) = &row.parent_id {
            g2_rules.insert(vec![menu_object(&row.menu_id), menu_object(parent)]);
        }
        if let Some(app) = &row.app_id {
            g2_rules.insert(vec![app_object(app), menu_object(&row.menu_id)]);
        }
        for role in menu_roles.get(&row.menu_id).into_iter().flatten() {
            p_rules.insert(rule(
                role_subject(role),
                menu_object(&row.menu_id),
                "use",
                None,
            ));
        }
    }

    let cache_until = p_rules
        .iter()
        .filter_map(|rule| rule[3].parse::<i64>().ok())
        .min();
    let enforcer = build_enforcer(p_rules, g_rules, g2_rules).await?;
    let org_tree = Arc::new(org::load(store).await?);
    Ok(Snapshot {
        version,
        enforcer,
        menus,
        roles_by_user,
        personal,
        org_tree,
        app_grants,
        datasets,
        user_ctx: Mutex::new(HashMap::new()),
        decisions: RwLock::new(HashMap::new()),
        cache_until,
    })
}

/// A fresh enforcer with exactly these rules (deduplicated: casbin's
/// `add_policies` adds nothing if one rule is present already).
async fn build_enforcer(
    p: BTreeSet<Vec<String>>,
    g: BTreeSet<Vec<String>>,
    g2: BTreeSet<Vec<String>>,
) -> Result<Enforcer, PolicyError> {
    let model = DefaultModel::from_str(MODEL).await?;
    let mut enforcer = Enforcer::new(model, MemoryAdapter::default()).await?;
    enforcer.enable_auto_save(false);
    enforcer.add_function("live", OperatorFunction::Arg1(live));
    let model = enforcer.get_mut_model();
    for (sec, ptype, rules) in [("p", "p", p), ("g", "g", g), ("g", "g2", g2)] {
        let n = rules.len();
        if n > 0 && !model.add_policies(sec, ptype, rules.into_iter().collect()) {
            return Err(PolicyError::Casbin(format!(
                "casbin refused the {n} `{ptype}` rules"
            )));
        }
    }
    enforcer.build_role_links()?;
    Ok(enforcer)
}

// ---- writes: listings, appliers, demo ----------------------------------------

/// Replaces the app's listing grants (`source = 'listing'`) with `datasets`
/// — the datasets the listed version declares — at level 内部 (internal),
/// every org, and bumps the policy version. The app-listing applier calls
/// it inside the approval's transaction. A dataset need not have a column
/// policy yet (without one it cannot be read).
pub async fn grant_listing_datasets(
    tx: &mut AnyConnection,
    app_id: &str,
    datasets: &[String],
    change_id: Option<i64>,
    now: i64,
) -> Result<(), ChangeError> {
    if app_id.trim().is_empty() {
        return Err(ChangeError::Invalid("the app id is empty".into()));
    }
    let datasets: BTreeSet<&str> = datasets.iter().map(String::as_str).collect();
    if let Some(bad) = datasets
        .iter()
        .find(|d| d.trim().is_empty() || d.trim() != **d)
    {
        return Err(ChangeError::Invalid(format!(
            "dataset name `{bad}` must be non-empty, without leading or trailing spaces"
        )));
    }
    bump_version(tx).await?;
    sqlx::query(
        "DELETE FROM dataset_grants WHERE applicant_type = 'app' AND applicant = $1 \
         AND source = 'listing'",
    )
    .bind(app_id)
    .execute(&mut *tx)
    .await?;
    for dataset in datasets {
        sqlx::query(
            "INSERT INTO dataset_grants (dataset, applicant_type, applicant, columns, orgs, \
             max_sensitivity, source, change_id, expires_at, granted_at) \
             VALUES ($1, 'app', $2, '[]', NULL, $3, 'listing', $4, NULL, $5)",
        )
        .bind(dataset)
        .bind(app_id)
        .bind(Sensitivity::Internal.as_str())
        .bind(change_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

/// The appliers of the policy's change kinds: menu changes, role grants and
/// revocations, data-scope changes and dataset access (数据申请). App
/// listings and data services (数据服务发布) are the server's (it adds those
/// appliers).
pub fn appliers() -> ApplierSet {
    let applier: Arc<dyn ChangeApplier> = Arc::new(PolicyApplier);
    [
        ChangeKindName::MenuChange,
        ChangeKindName::RoleGrant,
        ChangeKindName::RoleRevoke,
        ChangeKindName::DataScopeChange,
        ChangeKindName::DatasetAccess,
    ]
    .into_iter()
    .fold(ApplierSet::new(), |set, kind| {
        set.with(kind, applier.clone())
    })
}

/// Applies the policy's change kinds through the approval's transaction;
/// every applied change bumps the policy version.
struct PolicyApplier;

impl ChangeApplier for PolicyApplier {
    fn apply<'a>(
        &'a self,
        tx: &'a mut AnyConnection,
        request: &'a ChangeRequest,
    ) -> BoxFuture<'a, Result<(), ChangeError>> {
        Box::pin(async move {
            let now = request.applied_at.unwrap_or_else(now_micros);
            let actor = request.reviewer.as_deref().unwrap_or(&request.author);
            match &request.change {
                // These bump the version themselves (identity's functions).
                ChangeKind::RoleGrant(c) => apply_role_grant(tx, c, actor, now).await,
                ChangeKind::RoleRevoke(c) => apply_role_revoke(tx, c).await,
                ChangeKind::MenuChange(c) => {
                    bump_version(tx).await?;
                    apply_menu(tx, c, now).await
                }
                ChangeKind::DataScopeChange(c) => {
                    bump_version(tx).await?;
                    apply_data_scope(tx, c).await
                }
                ChangeKind::DatasetAccess(c) => {
                    bump_version(tx).await?;
                    apply_dataset_access(tx, c, request.id, now).await
                }
                // The server's: they change state outside the policy tables.
                ChangeKind::AppListing(_) => {
                    Err(ChangeError::NoApplier(ChangeKindName::AppListing))
                }
                ChangeKind::DataService(_) => {
                    Err(ChangeError::NoApplier(ChangeKindName::DataService))
                }
            }
        })
    }
}

/// An applier's refusal: the approval rolls back, the request stays
/// pending.
fn refuse(message: impl Into<String>) -> ChangeError {
    ChangeError::Apply(message.into())
}

fn identity_refusal(e: IdentityError) -> ChangeError {
    match e {
        IdentityError::Store(e) | IdentityError::Org(OrgError::Store(e)) => ChangeError::Store(e),
        other => refuse(other.to_string()),
    }
}

async fn exists(tx: &mut AnyConnection, sql: &'static str, key: &str) -> Result<bool, ChangeError> {
    let found: Option<String> = sqlx::query_scalar(sql)
        .bind(key)
        .fetch_optional(&mut *tx)
        .await?;
    Ok(found.is_some())
}

async fn require_role(tx: &mut AnyConnection, role_id: &str) -> Result<(), ChangeError> {
    if exists(tx, "SELECT role_id FROM roles WHERE role_id = $1", role_id).await? {
        Ok(())
    } else {
        Err(refuse(format!("role `{role_id}` not found")))
    }
}

async fn require_org(tx: &mut AnyConnection, org_id: &str) -> Result<(), ChangeError> {
    if exists(tx, "SELECT org_id FROM orgs WHERE org_id = $1", org_id).await? {
        Ok(())
    } else {
        Err(refuse(format!("org `{org_id}` not found")))
    }
}

async fn require_scope_orgs(tx: &mut AnyConnection, scope: &DataScope) -> Result<(), ChangeError> {
    if let DataScope::Custom(orgs) = scope {
        for org in orgs {
            require_org(tx, org).await?;
        }
    }
    Ok(())
}

/// The menu entries' parent links, read inside the transaction.
struct MenuLinks(HashMap<String, Option<String>>);

impl MenuLinks {
    async fn load(tx: &mut AnyConnection) -> Result<MenuLinks, ChangeError> {
        let rows = sqlx::query("SELECT menu_id, parent_id FROM menus")
            .fetch_all(&mut *tx)
            .await?;
        let mut links = HashMap::with_capacity(rows.len());
        for row in rows {
            links.insert(row.try_get("menu_id")?, row.try_get("parent_id")?);
        }
        Ok(MenuLinks(links))
    }

    fn contains(&self, id: &str) -> bool {
        self.0.contains_key(id)
    }

    /// The entry's ancestors, nearest first (stops at a cycle).
    fn ancestors(&self, id: &str) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        let mut at = self.0.get(id).and_then(|p| p.as_deref());
        while let Some(parent) = at {
            if out.contains(&parent) || parent == id {
                break;
            }
            out.push(parent);
            at = self.0.get(parent).and_then(|p| p.as_deref());
        }
        out
    }

    /// 1 for a top-level entry.
    fn depth(&self, id: &str) -> usize {
        self.ancestors(id).len() + 1
    }

    /// Levels in the entry's subtree, itself included (1 for a leaf).
    fn height(&self, id: &str) -> usize {
        self.0
            .keys()
            .filter_map(|other| {
                let up = self.ancestors(other);
                up.iter().position(|a| *a == id).map(|i| i + 2)
            })
            .max()
            .unwrap_or(1)
    }
}

async fn set_menu_roles(
    tx: &mut AnyConnection,
    menu_id: &str,
    roles: &[String],
) -> Result<(), ChangeError> {
    let roles: BTreeSet<&str> = roles.iter().map(String::as_str).collect();
    for role in &roles {
        require_role(tx, role).await?;
    }
    sqlx::query("DELETE FROM menu_roles WHERE menu_id = $1")
        .bind(menu_id)
        .execute(&mut *tx)
        .await?;
    for role in roles {
        sqlx::query("INSERT INTO menu_roles (menu_id, role_id) VALUES ($1, $2)")
            .bind(menu_id)
            .bind(role)
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

async fn apply_menu(tx: &mut AnyConnection, c: &MenuChange, now: i64) -> Result<(), ChangeError> {
    let id = c.menu_id.as_str();
    // The version row is locked (bumped first): the links read here stay
    // current until commit.
    let links = MenuLinks::load(tx).await?;
    match c.op {
        MenuOp::Add => {
            if links.contains(id) {
                return Err(refuse(format!("menu entry `{id}` exists already")));
            }
            let depth = match &c.parent_id {
                Some(parent) if !links.contains(parent) => {
                    return Err(refuse(format!("parent menu entry `{parent}` not found")));
                }
                Some(parent) => links.depth(parent) + 1,
                None => 1,
            };
            if depth > MAX_MENU_DEPTH {
                return Err(refuse(format!(
                    "menu entry `{id}` would be {depth} levels deep; at most {MAX_MENU_DEPTH}"
                )));
            }
            let title = c.title.as_deref().unwrap_or_default();
            if title.trim().is_empty() {
                return Err(refuse("adding a menu entry needs a title"));
            }
            sqlx::query(
                "INSERT INTO menus (menu_id, parent_id, title, title_en, app_id, sort_order, \
                 created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
            )
            .bind(id)
            .bind(c.parent_id.as_deref())
            .bind(title)
            .bind(c.title_en.as_deref())
            .bind(c.app_id.as_deref())
            .bind(c.sort_order.unwrap_or(0))
            .bind(now)
            .execute(&mut *tx)
            .await?;
            set_menu_roles(tx, id, c.roles.as_deref().unwrap_or_default()).await?;
        }
        MenuOp::Update => {
            if !links.contains(id) {
                return Err(refuse(format!("menu entry `{id}` not found")));
            }
            if let Some(parent) = &c.parent_id {
                if !links.contains(parent) {
                    return Err(refuse(format!("parent menu entry `{parent}` not found")));
                }
                if parent == id || links.ancestors(parent).contains(&id) {
                    return Err(refuse(format!(
                        "menu entry `{id}` cannot move under `{parent}`, which is in its own subtree"
                    )));
                }
                let deepest = links.depth(parent) + links.height(id);
                if deepest > MAX_MENU_DEPTH {
                    return Err(refuse(format!(
                        "moving `{id}` under `{parent}` makes the menu {deepest} levels deep; at most {MAX_MENU_DEPTH}"
                    )));
                }
            }
            if c.title.as_deref().is_some_and(|t| t.trim().is_empty()) {
                return Err(refuse("a menu entry's title cannot be empty"));
            }
            sqlx::query(
                "UPDATE menus SET parent_id = COALESCE($2, parent_id), title = COALESCE($3, title), \
                 title_en = COALESCE($4, title_en), app_id = COALESCE($5, app_id), \
                 sort_order = COALESCE($6, sort_order), updated_at = $7 WHERE menu_id = $1",
            )
            .bind(id)
            .bind(c.parent_id.as_deref())
            .bind(c.title.as_deref())
            .bind(c.title_en.as_deref())
            .bind(c.app_id.as_deref())
            .bind(c.sort_order)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            if let Some(roles) = &c.roles {
                set_menu_roles(tx, id, roles).await?;
            }
        }
        MenuOp::Remove => {
            if !links.contains(id) {
                return Err(refuse(format!("menu entry `{id}` not found")));
            }
            let mut children: Vec<&str> = links
                .0
                .iter()
                .filter(|(_, p)| p.as_deref() == Some(id))
                .map(|(c, _)| c.as_str())
                .collect();
            if !children.is_empty() {
                children.sort_unstable();
                return Err(refuse(format!(
                    "menu entry `{id}` has children ({}); move or remove them first",
                    children.join(", ")
                )));
            }
            sqlx::query("DELETE FROM menu_roles WHERE menu_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM menus WHERE menu_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
    }
    Ok(())
}

async fn apply_role_grant(
    tx: &mut AnyConnection,
    c: &RoleGrant,
    actor: &str,
    now: i64,
) -> Result<(), ChangeError> {
    if let Some(scope) = &c.data_scope {
        require_scope_orgs(tx, scope).await?;
    }
    identity::grant_role_in(
        tx,
        &c.username,
        &Role::from_id(&c.role_id),
        &c.org_id,
        c.data_scope.as_ref(),
        actor,
        now,
    )
    .await
    .map_err(identity_refusal)
}

async fn apply_role_revoke(tx: &mut AnyConnection, c: &RoleRevoke) -> Result<(), ChangeError> {
    let revoked = identity::revoke_role_in(tx, &c.username, &Role::from_id(&c.role_id), &c.org_id)
        .await
        .map_err(identity_refusal)?;
    if !revoked {
        return Err(refuse(format!(
            "user `{}` holds no post `{}` in org `{}`",
            c.username, c.role_id, c.org_id
        )));
    }
    Ok(())
}

async fn apply_data_scope(tx: &mut AnyConnection, c: &DataScopeChange) -> Result<(), ChangeError> {
    match c {
        DataScopeChange::RoleDefault { role_id, scope } => {
            require_scope_orgs(tx, scope).await?;
            let done = sqlx::query("UPDATE roles SET data_scope = $2 WHERE role_id = $1")
                .bind(role_id)
                .bind(scope.to_json())
                .execute(&mut *tx)
                .await?;
            if done.rows_affected() == 0 {
                return Err(refuse(format!("role `{role_id}` not found")));
            }
        }
        DataScopeChange::Post {
            username,
            role_id,
            org_id,
            scope,
        } => {
            if let Some(scope) = scope {
                require_scope_orgs(tx, scope).await?;
            }
            let done = sqlx::query(
                "UPDATE posts SET data_scope = $4 WHERE username = $1 AND role_id = $2 \
                 AND org_id = $3",
            )
            .bind(username)
            .bind(role_id)
            .bind(org_id)
            .bind(scope.as_ref().map(DataScope::to_json))
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 0 {
                return Err(refuse(format!(
                    "user `{username}` holds no post `{role_id}` in org `{org_id}`"
                )));
            }
        }
    }
    Ok(())
}

async fn apply_dataset_access(
    tx: &mut AnyConnection,
    c: &DatasetAccess,
    change_id: i64,
    now: i64,
) -> Result<(), ChangeError> {
    if !exists(
        tx,
        "SELECT dataset FROM dataset_policies WHERE dataset = $1",
        &c.dataset,
    )
    .await?
    {
        return Err(refuse(format!(
            "dataset `{}` has no registered column policy; register it before granting access",
            c.dataset
        )));
    }
    let (kind, applicant) = match &c.applicant {
        Applicant::User { username } => {
            if !exists(
                tx,
                "SELECT username FROM users WHERE username = $1",
                username,
            )
            .await?
            {
                return Err(refuse(format!("user `{username}` not found")));
            }
            ("user", username)
        }
        Applicant::Role { role_id } => {
            require_role(tx, role_id).await?;
            ("role", role_id)
        }
        Applicant::App { app_id } => {
            if !exists(tx, "SELECT app_id FROM apps WHERE app_id = $1", app_id).await? {
                return Err(refuse(format!("app `{app_id}` is not registered")));
            }
            ("app", app_id)
        }
    };
    for org in c.orgs.iter().flatten() {
        require_org(tx, org).await?;
    }
    if c.expires_at.is_some_and(|t| t <= now) {
        return Err(refuse("the requested access would already have expired"));
    }
    let columns = serde_json::to_string(&c.columns).expect("a list of strings serialises");
    let orgs = c.orgs.as_ref().map(|o| {
        let set: BTreeSet<&String> = o.iter().collect();
        serde_json::to_string(&set).expect("a list of strings serialises")
    });
    let level = c.max_sensitivity.unwrap_or(Sensitivity::Internal);
    sqlx::query(
        "INSERT INTO dataset_grants (dataset, applicant_type, applicant, columns, orgs, \
         max_sensitivity, source, change_id, expires_at, granted_at) \
         VALUES ($1, $2, $3, $4, $5, $6, 'request', $7, $8, $9) \
         ON CONFLICT (dataset, applicant_type, applicant, source) DO UPDATE SET \
         columns = $4, orgs = $5, max_sensitivity = $6, change_id = $7, expires_at = $8, \
         granted_at = $9",
    )
    .bind(&c.dataset)
    .bind(kind)
    .bind(applicant)
    .bind(columns)
    .bind(orgs)
    .bind(level.as_str())
    .bind(change_id)
    .bind(c.expires_at)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// The demo menu entries: (id, parent, title, title_en, app, sort order,
/// roles).
type DemoMenu = (
    &'static str,
    Option<&'static str>,
    &'static str,
    &'static str,
    Option<&'static str>,
    i64,
    &'static [&'static str],
);

const FUND_ROLES: &[&str] = &["business-user", "unit-leader", "reviewer"];

const DEMO_MENUS: &[DemoMenu] = &[
    ("finance", None, "资金管理", "Funds", None, 10, FUND_ROLES),
    (
        "finance.fund-position",
        Some("finance"),
        "资金全景监控",
        "Fund position",
        Some("fund-position"),
        10,
        &[],
    ),
    ("reports", None, "报表中心", "Reports", None, 20, FUND_ROLES),
    (
        "reports.fund-daily",
        Some("reports"),
        "资金日报",
        "Daily fund report",
        Some("fund-daily-report"),
        10,
        &[],
    ),
    ("alerts", None, "智能预警", "Alerts", None, 30, FUND_ROLES),
    (
        "alerts.low-balance",
        Some("alerts"),
        "低余额预警",
        "Low balance",
        Some("low-balance-alert"),
        10,
        &[],
    ),
    (
        "admin",
        None,
        "系统管理",
        "Administration",
        None,
        90,
        &["system-admin", "security-admin"],
    ),
    ("audit", None, "审计", "Audit", None, 100, &["audit-admin"]),
];

/// The demo dataset's columns: every column of `zhiyun_data::demo::fund_daily`.
const FUND_DAILY_COLUMNS: &[(&str, Sensitivity, MaskKind)] = &[
    ("org_id", Sensitivity::Public, MaskKind::Full),
    ("org_name", Sensitivity::Public, MaskKind::Full),
    ("parent_id", Sensitivity::Public, MaskKind::Full),
    ("acct_no", Sensitivity::Sensitive, MaskKind::BankAccount),
    ("bank", Sensitivity::Public, MaskKind::Full),
    ("acct_type", Sensitivity::Public, MaskKind::Full),
    ("in_pool", Sensitivity::Public, MaskKind::Full),
    ("balance_date", Sensitivity::Public, MaskKind::Full),
    ("opening", Sensitivity::Internal, MaskKind::Full),
    ("inflow", Sensitivity::Internal, MaskKind::Full),
    ("outflow", Sensitivity::Internal, MaskKind::Full),
    ("closing", Sensitivity::Internal, MaskKind::Full),
    ("available", Sensitivity::Internal, MaskKind::Full),
    ("safety_reserve", Sensitivity::Internal, MaskKind::Full),
    ("bank_bal", Sensitivity::Internal, MaskKind::Full),
    ("unreconciled", Sensitivity::Internal, MaskKind::Full),
    ("frozen", Sensitivity::Internal, MaskKind::Full),
    ("pooled_closing", Sensitivity::Internal, MaskKind::Full),
    ("below_reserve", Sensitivity::Public, MaskKind::Full),
    ("last_txn_date", Sensitivity::Public, MaskKind::Full),
    ("idle", Sensitivity::Public, MaskKind::Full),
];

/// The roles granted to read `fund_daily` in the demo.
const FUND_DAILY_READERS: &[&str] = &["business-user", "unit-leader", "reviewer", "developer"];

/// Seeds the demo policy: the column policy of `fund_daily` (org column
/// `org_id`; `acct_no` 敏感 masked as a bank account, the amounts 内部, the
/// rest 公开), read grants on it to 业务用户, 单位领导, 审核员 and 部门开发者, and
/// the menu tree (资金管理, 报表中心, 智能预警 with the three demo apps; 系统管理
/// for the system and security administrators; 审计 for the audit
/// administrator). Idempotent — existing rows are left as they are, and
/// two hosts may run it at once — and bumps the version only if it added
/// something. Assumes the demo orgs and roles exist
/// ([`Identity::seed_demo`] first).
pub async fn seed_demo(store: &Store) -> Result<(), PolicyError> {
    let now = now_micros();
    let mut tx = store.begin_write().await?;
    // Take the policy lock first (see `bump_version`), without bumping.
    sqlx::query("UPDATE policy_version SET version = version WHERE id = 1")
        .execute(&mut *tx)
        .await?;
    let mut added = 0u64;
    added += sqlx::query(
        "INSERT INTO dataset_policies (dataset, org_column, owner_column, description) \
         VALUES ('fund_daily', 'org_id', NULL, $1) ON CONFLICT (dataset) DO NOTHING",
    )
    .bind("资金日报：每个银行账户每日的期初、收支、期末、可用余额与安全备付金")
    .execute(&mut *tx)
    .await?
    .rows_affected();
    for (column, level, mask) in FUND_DAILY_COLUMNS {
        added += sqlx::query(
            "INSERT INTO dataset_columns (dataset, column_name, sensitivity, mask) \
             VALUES ('fund_daily', $1, $2, $3) ON CONFLICT (dataset, column_name) DO NOTHING",
        )
        .bind(*column)
        .bind(level.as_str())
        .bind(mask_str(*mask))
        .execute(&mut *tx)
        .await?
        .rows_affected();
    }
    for role in FUND_DAILY_READERS {
        added += sqlx::query(
            "INSERT INTO dataset_grants (dataset, applicant_type, applicant, columns, orgs, \
             max_sensitivity, source, change_id, expires_at, granted_at) \
             VALUES ('fund_daily', 'role', $1, '[]', NULL, 'internal', 'request', NULL, NULL, $2) \
             ON CONFLICT (dataset, applicant_type, applicant, source) DO NOTHING",
        )
        .bind(*role)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    }
    for (id, parent, title, title_en, app, sort_order, roles) in DEMO_MENUS {
        added += sqlx::query(
            "INSERT INTO menus (menu_id, parent_id, title, title_en, app_id, sort_order, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7) \
             ON CONFLICT (menu_id) DO NOTHING",
        )
        .bind(*id)
        .bind(*parent)
        .bind(*title)
        .bind(*title_en)
        .bind(*app)
        .bind(*sort_order)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        for role in *roles {
            added += sqlx::query(
                "INSERT INTO menu_roles (menu_id, role_id) VALUES ($1, $2) \
                 ON CONFLICT (menu_id, role_id) DO NOTHING",
            )
            .bind(*id)
            .bind(*role)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
    }
    if added > 0 {
        bump_version(&mut tx).await?;
    }
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::AuditLog;
    use crate::change::{ChangeRequests, ChangeState};
    use crate::identity::{DEMO_USERS, UserStatus};
    use zhiyun_store::store_test;

    fn assert_shared<T: Send + Sync + Clone + 'static>() {}

    #[test]
    fn policy_is_shared_and_live_reads_the_clock() {
        assert_shared::<Policy>();
        let s = |v: String| Dynamic::from(v);
        assert!(live(s(String::new())).as_bool().unwrap());
        assert!(!live(s((now_micros() - 1).to_string())).as_bool().unwrap());
        assert!(
            live(s((now_micros() + 3_600_000_000).to_string()))
                .as_bool()
                .unwrap()
        );
        assert!(!live(s("soon".into())).as_bool().unwrap());
        assert!(!live(Dynamic::from_bool(true)).as_bool().unwrap());
    }

    #[test]
    fn actions_are_unique_and_masks_round_trip() {
        let names: BTreeSet<&str> = ACTIONS.iter().map(|(n, _)| *n).collect();
        assert_eq!(names.len(), ACTIONS.len());
        for mask in [
            MaskKind::BankAccount,
            MaskKind::IdNumber,
            MaskKind::Phone,
            MaskKind::Name,
            MaskKind::Full,
        ] {
            assert_eq!(parse_mask(&mask_str(mask), "t").unwrap(), mask);
        }
        assert_eq!(mask_str(MaskKind::BankAccount), "bank-account");
    }

    async fn seeded(store: &Store) -> Policy {
        Identity::new(store.clone())
            .seed_demo(now_micros())
            .await
            .unwrap();
        seed_demo(store).await.unwrap();
        Policy::load(store.clone()).await.unwrap()
    }

    fn engine(store: &Store) -> ChangeRequests {
        ChangeRequests::new(
            store.clone(),
            AuditLog::new(store.clone()),
            Arc::new(appliers()),
        )
    }

    /// Files `change` as secadmin and approves it as reviewer.
    async fn approve(
        engine: &ChangeRequests,
        change: ChangeKind,
    ) -> Result<ChangeRequest, ChangeError> {
        let request = engine.create("secadmin", change).await.unwrap();
        engine.approve(request.id, "reviewer", None).await
    }

    async fn stored_version(store: &Store) -> i64 {
        sqlx::query_scalar("SELECT version FROM policy_version WHERE id = 1")
            .fetch_one(store.pool())
            .await
            .unwrap()
    }

    fn ids(nodes: &[MenuNode]) -> Vec<&str> {
        nodes.iter().map(|n| n.menu_id.as_str()).collect()
    }

    fn role_grant(username: &str, role_id: &str, org_id: &str) -> ChangeKind {
        ChangeKind::RoleGrant(RoleGrant {
            username: username.into(),
            role_id: role_id.into(),
            org_id: org_id.into(),
            data_scope: None,
        })
    }

    fn menu(op: MenuOp, id: &str) -> MenuChange {
        MenuChange {
            op,
            menu_id: id.into(),
            parent_id: None,
            title: None,
            title_en: None,
            app_id: None,
            sort_order: None,
            roles: None,
        }
    }

    fn access(dataset: &str, applicant: Applicant) -> DatasetAccess {
        DatasetAccess {
            dataset: dataset.into(),
            applicant,
            columns: vec![],
            purpose: "测试".into(),
            expires_at: None,
            max_sensitivity: None,
            orgs: None,
        }
    }

    /// (user, object, action, allowed) over the demo users and policy.
    const DECISIONS: &[(&str, &str, &str, bool)] = &[
        ("sysadmin", "action:app.operate", "do", true),
        ("sysadmin", "action:app.review", "do", true),
        ("sysadmin", "action:change.review.app", "do", true),
        ("sysadmin", "action:user.manage", "do", true),
        ("sysadmin", "action:org.manage", "do", true),
        ("sysadmin", "action:change.create.role", "do", true),
        ("sysadmin", "action:audit.read", "do", false),
        ("sysadmin", "action:change.review.role", "do", false),
        ("sysadmin", "action:key.register", "do", false),
        ("sysadmin", "action:data.export", "do", false),
        ("sysadmin", "menu:admin", "use", true),
        ("sysadmin", "menu:audit", "use", false),
        ("sysadmin", "menu:finance", "use", false),
        ("sysadmin", "dataset:fund_daily", "read", false),
        ("secadmin", "action:key.register", "do", true),
        ("secadmin", "action:change.review.role", "do", true),
        ("secadmin", "action:change.review.menu", "do", true),
        ("secadmin", "action:change.review.dataset", "do", true),
        ("secadmin", "action:user.read", "do", true),
        ("secadmin", "action:menu.manage", "do", true),
        ("secadmin", "action:user.manage", "do", false),
        ("secadmin", "action:app.review", "do", false),
        ("secadmin", "action:audit.read", "do", false),
        ("secadmin", "menu:admin", "use", true),
        ("auditadmin", "action:audit.read", "do", true),
        ("auditadmin", "action:policy.read", "do", false),
        ("auditadmin", "action:user.read", "do", false),
        ("auditadmin", "action:dataset.apply", "do", false),
        ("auditadmin", "menu:audit", "use", true),
        ("auditadmin", "menu:admin", "use", false),
        ("auditadmin", "dataset:fund_daily", "read", false),
        ("dev.cw", "action:app.submit", "do", true),
        ("dev.cw", "action:dataset.apply", "do", true),
        ("dev.cw", "action:app.review", "do", false),
        ("dev.cw", "dataset:fund_daily", "read", true),
        ("dev.cw", "menu:finance", "use", false),
        ("dev.cw", "app:fund-position", "use", false),
        ("reviewer", "action:app.review", "do", true),
        ("reviewer", "action:change.review.app", "do", true),
        ("reviewer", "action:change.review.menu", "do", true),
        ("reviewer", "action:policy.read", "do", true),
        ("reviewer", "action:change.review.role", "do", false),
        ("reviewer", "action:app.submit", "do", false),
        ("reviewer", "menu:reports.fund-daily", "use", true),
        ("reviewer", "app:fund-daily-report", "use", true),
        ("leader.3300", "action:data.export", "do", true),
        ("leader.3300", "action:dataset.apply", "do", true),
        ("leader.3300", "action:app.review", "do", false),
        ("leader.3300", "app:low-balance-alert", "use", true),
        ("leader.3301", "dataset:fund_daily", "read", true),
        ("leader.3301", "menu:alerts.low-balance", "use", true),
        ("user.3301", "menu:finance", "use", true),
        ("user.3301", "menu:finance.fund-position", "use", true),
        ("user.3301", "app:fund-position", "use", true),
        ("user.3301", "app:fund-daily-report", "use", true),
        ("user.3301", "app:low-balance-alert", "use", true),
        ("user.3301", "dataset:fund_daily", "read", true),
        ("user.3301", "action:data.export", "do", true),
        ("user.3301", "menu:admin", "use", false),
        ("user.3301", "menu:audit", "use", false),
        ("user.3301", "action:app.review", "do", false),
        ("user.3301", "action:policy.read", "do", false),
        ("user.3301", "dataset:journal", "read", false),
        ("user.3301", "app:unknown", "use", false),
        // The right object with the wrong act.
        ("user.3301", "app:fund-position", "do", false),
        ("user.3301", "dataset:fund_daily", "use", false),
        // user.3302 is also a 审核员.
        ("user.3302", "action:app.review", "do", true),
        ("user.3302", "action:data.export", "do", true),
        ("user.330101", "app:low-balance-alert", "use", true),
        ("user.330101", "action:key.register", "do", false),
        ("ghost", "menu:finance", "use", false),
        ("ghost", "action:audit.read", "do", false),
        // A subject is always a user: a role id passed as a name is nobody.
        ("role:business-user", "menu:finance", "use", false),
        ("business-user", "menu:finance", "use", false),
    ];

    #[test]
    fn merged_app_grants_never_raise_a_level_beyond_its_orgs() {
        let row = |orgs: Option<&[&str]>, level| AppGrantRow {
            dataset: "d".into(),
            orgs: orgs.map(|o| o.iter().map(|s| s.to_string()).collect()),
            max_sensitivity: level,
            expires_at: None,
        };
        use Sensitivity::*;
        let listing = row(None, Internal);
        let county = row(Some(&["3301"]), Sensitive);
        let other = row(Some(&["3302"]), Core);
        // Everything at 内部, not 敏感 everywhere.
        let g = merge_grants(&[&listing, &county]);
        assert_eq!((g.orgs, g.max_sensitivity), (None, Internal));
        // Two counties: the level both are granted at.
        let g = merge_grants(&[&county, &other]);
        assert_eq!(g.orgs, Some(vec!["3301".into(), "3302".into()]));
        assert_eq!(g.max_sensitivity, Sensitive);
        // A wider grant at a higher level covers the narrower one.
        let wide = row(None, Core);
        let g = merge_grants(&[&county, &wide]);
        assert_eq!((g.orgs, g.max_sensitivity), (None, Core));
        let g = merge_grants(&[&county]);
        assert_eq!(g.max_sensitivity, Sensitive);
    }

    store_test!(
        per_role_decisions_equal_casbins_per_user,
        |store| async move {
            let policy = seeded(&store).await;
            // A personal grant too, so both halves of `enforce` are exercised.
            let engine = engine(&store);
            approve(
                &engine,
                ChangeKind::DatasetAccess(access(
                    "fund_daily",
                    Applicant::User {
                        username: "auditadmin".into(),
                    },
                )),
            )
            .await
            .unwrap();
            assert!(policy.refresh().await.unwrap());
            let snapshot = policy.snapshot();
            let mut objects: Vec<(String, &str)> = ACTIONS
                .iter()
                .map(|(a, _)| (format!("action:{a}"), "do"))
                .collect();
            for app in [
                "fund-position",
                "fund-daily-report",
                "low-balance-alert",
                "none",
            ] {
                objects.push((app_object(app), "use"));
            }
            for menu in ["finance", "reports.fund-daily", "admin", "audit"] {
                objects.push((menu_object(menu), "use"));
            }
            objects.push((dataset_object("fund_daily"), "read"));
            let mut checked = 0;
            for user in crate::identity::DEMO_USERS
                .iter()
                .map(|u| u.username)
                .chain(["ghost"])
            {
                for (object, action) in &objects {
                    let per_user = snapshot
                        .evaluate(&user_subject(user), object, action)
                        .unwrap();
                    assert_eq!(
                        snapshot.enforce(user, object, action),
                        per_user,
                        "{user} {object} {action}"
                    );
                    checked += usize::from(per_user);
                }
            }
            assert!(checked > 20, "some decisions allow: {checked}");
            assert!(policy.can_read_dataset("auditadmin", "fund_daily"));
        }
    );

    store_test!(demo_decisions, |store| async move {
        let policy = seeded(&store).await;
        let mut wrong = Vec::new();
        for (user, object, action, expected) in DECISIONS {
            if policy.allows(user, object, action) != *expected {
                wrong.push(format!("{user} {object} {action}: expected {expected}"));
            }
        }
        assert!(wrong.is_empty(), "{wrong:#?}");
        // The helpers are the same decisions.
        assert!(policy.allows_action("auditadmin", "audit.read"));
        assert!(!policy.allows_action("sysadmin", "audit.read"));
        assert!(policy.can_use_app("user.3301", "fund-position"));
        assert!(!policy.can_use_app("dev.cw", "fund-position"));
        assert!(policy.can_read_dataset("dev.cw", "fund_daily"));
        assert!(!policy.can_read_dataset("sysadmin", "fund_daily"));
        assert_eq!(policy.roles_of("user.3302"), ["business-user", "reviewer"]);
        assert!(policy.roles_of("ghost").is_empty());
        // A user named like a role does not hold it.
        Identity::new(store.clone())
            .create_user("system-admin", "冒名", "3301", "Correct-Horse-9", 0)
            .await
            .unwrap();
        assert!(policy.refresh().await.is_ok());
        assert!(!policy.allows_action("system-admin", "app.operate"));
        // A disabled user holds no role.
        Identity::new(store.clone())
            .set_status("user.3301", UserStatus::Disabled, 0)
            .await
            .unwrap();
        assert!(policy.refresh().await.unwrap());
        assert!(!policy.can_use_app("user.3301", "fund-position"));
        assert!(policy.roles_of("user.3301").is_empty());
        assert!(policy.user_ctx("user.3301").await.unwrap().posts.is_empty());
    });

    store_test!(
        actions_seed_keeps_the_three_roles_apart,
        |store| async move {
            let rows: Vec<(String, String)> =
                sqlx::query("SELECT role_id, action FROM role_actions ORDER BY action, role_id")
                    .fetch_all(store.pool())
                    .await
                    .unwrap()
                    .iter()
                    .map(|r| (r.get(0), r.get(1)))
                    .collect();
            let known: BTreeSet<&str> = ACTIONS.iter().map(|(n, _)| *n).collect();
            for (role, action) in &rows {
                assert!(
                    known.contains(action.as_str()),
                    "{role}: unknown action {action}"
                );
                assert!(
                    Role::BUILTIN.iter().any(|r| r.id() == role),
                    "{role} is not built in"
                );
            }
            for action in &known {
                assert!(
                    rows.iter().any(|(_, a)| a == action),
                    "nobody holds {action}"
                );
            }
            let holders = |action: &str| -> Vec<&str> {
                rows.iter()
                    .filter(|(_, a)| a == action)
                    .map(|(r, _)| r.as_str())
                    .collect()
            };
            // 三员分立: only the audit administrator reads the audit log, and
            // the audit administrator does nothing else.
            assert_eq!(holders("audit.read"), ["audit-admin"]);
            let audit_admin: Vec<&str> = rows
                .iter()
                .filter(|(r, _)| r == "audit-admin")
                .map(|(_, a)| a.as_str())
                .collect();
            assert_eq!(audit_admin, ["audit.read"]);
            // Requests about roles are made by one administrator and reviewed
            // by another.
            assert_eq!(holders("change.review.role"), ["security-admin"]);
            assert_eq!(
                holders("dataset.apply"),
                ["business-user", "developer", "reviewer", "unit-leader"]
            );
            assert_eq!(holders("app.review"), ["reviewer", "system-admin"]);
            // A data service is proposed by a developer or the data
            // platform's administrator and reviewed by someone else's role.
            assert_eq!(holders("service.propose"), ["developer", "system-admin"]);
            assert_eq!(
                holders("change.review.service"),
                ["reviewer", "security-admin"]
            );
        }
    );

    store_test!(menu_tree_and_visibility, |store| async move {
        let policy = seeded(&store).await;
        let tree = policy.menus();
        assert_eq!(
            ids(&tree),
            ["finance", "reports", "alerts", "admin", "audit"]
        );
        assert_eq!(ids(&tree[0].children), ["finance.fund-position"]);
        let position = &tree[0].children[0];
        assert_eq!(position.app_id.as_deref(), Some("fund-position"));
        assert_eq!(position.parent_id.as_deref(), Some("finance"));
        assert_eq!(position.title, "资金全景监控");
        assert!(position.roles.is_empty());
        assert_eq!(tree[0].title_en.as_deref(), Some("Funds"));
        assert_eq!(tree[0].roles, ["business-user", "reviewer", "unit-leader"]);
        assert_eq!(tree[3].roles, ["security-admin", "system-admin"]);
        let json = serde_json::to_string(&tree).unwrap();
        assert_eq!(serde_json::from_str::<Vec<MenuNode>>(&json).unwrap(), tree);

        let mine = policy.menus_for("user.3301");
        assert_eq!(ids(&mine), ["finance", "reports", "alerts"]);
        assert_eq!(
            mine[..],
            tree[..3],
            "granted entries come with their subtrees"
        );
        assert_eq!(ids(&policy.menus_for("auditadmin")), ["audit"]);
        assert_eq!(ids(&policy.menus_for("sysadmin")), ["admin"]);
        assert!(policy.menus_for("dev.cw").is_empty());
        assert!(policy.menus_for("ghost").is_empty());

        // A grant below the top: its ancestors appear, with only the way
        // to it.
        let engine = engine(&store);
        let mut sub = menu(MenuOp::Add, "reports.dev");
        sub.parent_id = Some("reports".into());
        sub.title = Some("开发报表".into());
        sub.app_id = Some("dev-report".into());
        sub.sort_order = Some(5);
        sub.roles = Some(vec!["developer".into()]);
        approve(&engine, ChangeKind::MenuChange(sub)).await.unwrap();
        assert!(policy.refresh().await.unwrap());
        let dev = policy.menus_for("dev.cw");
        assert_eq!(ids(&dev), ["reports"]);
        assert_eq!(ids(&dev[0].children), ["reports.dev"]);
        assert!(policy.can_use_app("dev.cw", "dev-report"));
        assert!(!policy.allows("dev.cw", "menu:reports", "use"));
        assert!(!policy.can_use_app("dev.cw", "fund-daily-report"));
        // Sorted by sort_order, then id.
        let reports = &policy.menus()[1];
        assert_eq!(
            ids(&reports.children),
            ["reports.dev", "reports.fund-daily"]
        );
    });

    store_test!(appliers_change_decisions, |store| async move {
        let policy = seeded(&store).await;
        let engine = engine(&store);
        let v0 = policy.version();
        assert_eq!(v0, stored_version(&store).await);

        // RoleGrant, then RoleRevoke.
        assert!(!policy.allows_action("user.3301", "app.review"));
        approve(&engine, role_grant("user.3301", "reviewer", "3301"))
            .await
            .unwrap();
        assert!(
            !policy.allows_action("user.3301", "app.review"),
            "not before a refresh"
        );
        assert!(policy.refresh().await.unwrap());
        assert!(policy.version() > v0);
        assert!(policy.allows_action("user.3301", "app.review"));
        assert_eq!(policy.roles_of("user.3301"), ["business-user", "reviewer"]);
        let posts = Identity::new(store.clone())
            .posts("user.3301")
            .await
            .unwrap();
        let post = posts.iter().find(|p| p.role == Role::Reviewer).unwrap();
        assert_eq!(post.granted_by, "reviewer", "the approver grants");
        approve(
            &engine,
            ChangeKind::RoleRevoke(RoleRevoke {
                username: "user.3301".into(),
                role_id: "reviewer".into(),
                org_id: "3301".into(),
            }),
        )
        .await
        .unwrap();
        assert!(policy.refresh().await.unwrap());
        assert!(!policy.allows_action("user.3301", "app.review"));

        // DataScopeChange: the cached user context follows the version.
        let before = policy.user_ctx("user.3301").await.unwrap();
        assert_eq!(before.posts[0].scope, DataScope::OrgAndBelow);
        assert!(Arc::ptr_eq(
            &before,
            &policy.user_ctx("user.3301").await.unwrap()
        ));
        approve(
            &engine,
            ChangeKind::DataScopeChange(DataScopeChange::RoleDefault {
                role_id: "business-user".into(),
                scope: DataScope::OrgOnly,
            }),
        )
        .await
        .unwrap();
        assert!(policy.refresh().await.unwrap());
        assert_eq!(
            policy.user_ctx("user.3301").await.unwrap().posts[0].scope,
            DataScope::OrgOnly
        );
        approve(
            &engine,
            ChangeKind::DataScopeChange(DataScopeChange::Post {
                username: "user.3301".into(),
                role_id: "business-user".into(),
                org_id: "3301".into(),
                scope: Some(DataScope::Custom(vec!["330101".into()])),
            }),
        )
        .await
        .unwrap();
        assert!(policy.refresh().await.unwrap());
        assert_eq!(
            policy.user_ctx("user.3301").await.unwrap().posts[0].scope,
            DataScope::Custom(vec!["330101".into()])
        );

        // DatasetAccess for an app: its grant, merged with its listing.
        sqlx::query(
            "INSERT INTO apps (app_id, kind, created_at, updated_at) VALUES ('fund-daily', 'report', 0, 0)",
        )
        .execute(store.pool())
        .await
        .unwrap();
        assert!(policy.app_grant("fund-daily").datasets.is_empty());
        let mut app = access(
            "fund_daily",
            Applicant::App {
                app_id: "fund-daily".into(),
            },
        );
        app.max_sensitivity = Some(Sensitivity::Sensitive);
        app.orgs = Some(vec!["3302".into(), "3301".into()]);
        let request = approve(&engine, ChangeKind::DatasetAccess(app))
            .await
            .unwrap();
        assert!(policy.refresh().await.unwrap());
        let grant = &policy.app_grant("fund-daily").datasets["fund_daily"];
        assert_eq!(grant.max_sensitivity, Sensitivity::Sensitive);
        assert_eq!(grant.orgs, Some(vec!["3301".into(), "3302".into()]));
        let change_id: Option<i64> = sqlx::query_scalar(
            "SELECT change_id FROM dataset_grants WHERE applicant = 'fund-daily'",
        )
        .fetch_one(store.pool())
        .await
        .unwrap();
        assert_eq!(change_id, Some(request.id));
        let mut tx = store.begin_write().await.unwrap();
        grant_listing_datasets(
            &mut tx,
            "fund-daily",
            &["fund_daily".into(), "journal".into(), "fund_daily".into()],
            None,
            now_micros(),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        assert!(policy.refresh().await.unwrap());
        let grant = policy.app_grant("fund-daily");
        assert_eq!(grant.app_id, "fund-daily");
        assert_eq!(
            grant.datasets.keys().collect::<Vec<_>>(),
            ["fund_daily", "journal"]
        );
        // The listing covers every org at 内部; the request's 敏感 for two
        // counties does not spread to the others (see `merge_grants`).
        assert_eq!(
            grant.datasets["fund_daily"].max_sensitivity,
            Sensitivity::Internal
        );
        assert_eq!(grant.datasets["fund_daily"].orgs, None);
        assert_eq!(
            grant.datasets["journal"].max_sensitivity,
            Sensitivity::Internal
        );
        // A new listing replaces the old one's datasets.
        let mut tx = store.begin_write().await.unwrap();
        grant_listing_datasets(&mut tx, "fund-daily", &[], None, now_micros())
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert!(policy.refresh().await.unwrap());
        let grant = policy.app_grant("fund-daily");
        assert_eq!(grant.datasets.keys().collect::<Vec<_>>(), ["fund_daily"]);
        assert_eq!(
            grant.datasets["fund_daily"].orgs,
            Some(vec!["3301".into(), "3302".into()])
        );

        // DatasetAccess for a user and for a role.
        sqlx::query(
            "INSERT INTO dataset_policies (dataset, org_column) VALUES ('journal', 'org_id')",
        )
        .execute(store.pool())
        .await
        .unwrap();
        approve(
            &engine,
            ChangeKind::DatasetAccess(access(
                "journal",
                Applicant::User {
                    username: "user.3301".into(),
                },
            )),
        )
        .await
        .unwrap();
        approve(
            &engine,
            ChangeKind::DatasetAccess(access(
                "journal",
                Applicant::Role {
                    role_id: "unit-leader".into(),
                },
            )),
        )
        .await
        .unwrap();
        assert!(policy.refresh().await.unwrap());
        assert!(policy.can_read_dataset("user.3301", "journal"));
        assert!(!policy.can_read_dataset("user.3302", "journal"));
        assert!(policy.can_read_dataset("leader.3300", "journal"));
        let journal = policy.dataset_policy("journal").unwrap();
        assert_eq!(journal.org_column.as_deref(), Some("org_id"));
        assert!(journal.columns.is_empty());
        // Expired grants do not count (written past the applier, which
        // refuses a past expiry).
        sqlx::query(
            "INSERT INTO dataset_grants (dataset, applicant_type, applicant, max_sensitivity, \
             source, expires_at, granted_at) VALUES ('journal', 'user', 'user.3302', 'internal', \
             'request', 1, 0), ('journal', 'app', 'fund-daily', 'core', 'request', 1, 0)",
        )
        .execute(store.pool())
        .await
        .unwrap();
        let mut tx = store.begin_write().await.unwrap();
        bump_version(&mut tx).await.unwrap();
        tx.commit().await.unwrap();
        assert!(policy.refresh().await.unwrap());
        assert!(!policy.can_read_dataset("user.3302", "journal"));
        assert!(
            !policy
                .app_grant("fund-daily")
                .datasets
                .contains_key("journal")
        );

        // MenuChange: a grant on a parent covers a child added later.
        let mut cash = menu(MenuOp::Add, "finance.cash");
        cash.parent_id = Some("finance".into());
        cash.title = Some("现金管理".into());
        cash.app_id = Some("cash".into());
        approve(&engine, ChangeKind::MenuChange(cash))
            .await
            .unwrap();
        assert!(policy.refresh().await.unwrap());
        assert!(policy.can_use_app("user.3301", "cash"));
        assert!(policy.can_use_app("leader.3300", "cash"));
        assert!(!policy.can_use_app("sysadmin", "cash"));
        // Moved under 系统管理: it follows its new parent's grants.
        let mut moved = menu(MenuOp::Update, "finance.cash");
        moved.parent_id = Some("admin".into());
        moved.title_en = Some("Cash".into());
        approve(&engine, ChangeKind::MenuChange(moved))
            .await
            .unwrap();
        assert!(policy.refresh().await.unwrap());
        assert!(!policy.can_use_app("user.3301", "cash"));
        assert!(policy.can_use_app("sysadmin", "cash"));
        let admin = policy
            .menus()
            .into_iter()
            .find(|m| m.menu_id == "admin")
            .unwrap();
        assert_eq!(admin.children[0].title, "现金管理", "unchanged fields stay");
        assert_eq!(admin.children[0].title_en.as_deref(), Some("Cash"));
        // Roles replaced: 智能预警 for 单位领导 only.
        let mut alerts = menu(MenuOp::Update, "alerts");
        alerts.roles = Some(vec!["unit-leader".into()]);
        approve(&engine, ChangeKind::MenuChange(alerts))
            .await
            .unwrap();
        assert!(policy.refresh().await.unwrap());
        assert_eq!(ids(&policy.menus_for("user.3301")), ["finance", "reports"]);
        assert!(!policy.can_use_app("user.3301", "low-balance-alert"));
        assert!(policy.can_use_app("leader.3301", "low-balance-alert"));
        // Removed.
        approve(
            &engine,
            ChangeKind::MenuChange(menu(MenuOp::Remove, "finance.cash")),
        )
        .await
        .unwrap();
        assert!(policy.refresh().await.unwrap());
        assert!(!policy.can_use_app("sysadmin", "cash"));
        assert!(
            policy
                .menus()
                .iter()
                .all(|m| m.children.iter().all(|c| c.menu_id != "finance.cash"))
        );
    });

    store_test!(failing_appliers_change_nothing, |store| async move {
        let policy = seeded(&store).await;
        let engine = engine(&store);
        let v0 = stored_version(&store).await;
        let posts_before = Identity::new(store.clone())
            .posts("user.3301")
            .await
            .unwrap();

        let mut missing_parent = menu(MenuOp::Add, "x");
        missing_parent.parent_id = Some("nowhere".into());
        missing_parent.title = Some("某".into());
        let mut unknown_role = menu(MenuOp::Add, "y");
        unknown_role.title = Some("某".into());
        unknown_role.roles = Some(vec!["business-user".into(), "nobody".into()]);
        let mut cycle = menu(MenuOp::Update, "finance");
        cycle.parent_id = Some("finance.fund-position".into());
        let mut user_access = access(
            "journal",
            Applicant::User {
                username: "user.3301".into(),
            },
        );
        let unregistered_app = access(
            "fund_daily",
            Applicant::App {
                app_id: "not-submitted".into(),
            },
        );
        let mut bad_org = access(
            "fund_daily",
            Applicant::Role {
                role_id: "reviewer".into(),
            },
        );
        bad_org.orgs = Some(vec!["9999".into()]);
        let cases: Vec<(ChangeKind, &str)> = vec![
            (role_grant("user.3301", "reviewer", "9999"), "9999"),
            (role_grant("user.3301", "nobody", "3301"), "nobody"),
            (role_grant("ghost", "reviewer", "3301"), "ghost"),
            (
                ChangeKind::RoleGrant(RoleGrant {
                    data_scope: Some(DataScope::Custom(vec!["3301".into(), "8888".into()])),
                    ..match role_grant("user.3301", "reviewer", "3301") {
                        ChangeKind::RoleGrant(g) => g,
                        _ => unreachable!(),
                    }
                }),
                "8888",
            ),
            (
                ChangeKind::RoleRevoke(RoleRevoke {
                    username: "user.3301".into(),
                    role_id: "reviewer".into(),
                    org_id: "3301".into(),
                }),
                "holds no post",
            ),
            (
                ChangeKind::DataScopeChange(DataScopeChange::RoleDefault {
                    role_id: "nobody".into(),
                    scope: DataScope::All,
                }),
                "nobody",
            ),
            (
                ChangeKind::DataScopeChange(DataScopeChange::Post {
                    username: "user.3301".into(),
                    role_id: "business-user".into(),
                    org_id: "3301".into(),
                    scope: Some(DataScope::Custom(vec!["7777".into()])),
                }),
                "7777",
            ),
            (ChangeKind::MenuChange(missing_parent), "nowhere"),
            (ChangeKind::MenuChange(unknown_role), "nobody"),
            (ChangeKind::MenuChange(cycle), "own subtree"),
            (
                ChangeKind::MenuChange(menu(MenuOp::Remove, "finance")),
                "has children",
            ),
            (
                ChangeKind::MenuChange(menu(MenuOp::Remove, "nowhere")),
                "not found",
            ),
            (
                ChangeKind::DatasetAccess(user_access.clone()),
                "no registered column policy",
            ),
            (
                ChangeKind::DatasetAccess(unregistered_app),
                "not registered",
            ),
            (ChangeKind::DatasetAccess(bad_org), "9999"),
        ];
        user_access.dataset = "fund_daily".into();
        user_access.applicant = Applicant::User {
            username: "ghost".into(),
        };
        let cases = cases
            .into_iter()
            .chain([(ChangeKind::DatasetAccess(user_access), "ghost")]);
        for (change, needle) in cases {
            let what = format!("{change:?}");
            let request = engine.create("secadmin", change).await.unwrap();
            let e = engine
                .approve(request.id, "reviewer", None)
                .await
                .unwrap_err();
            assert!(matches!(e, ChangeError::Apply(_)), "{what}: {e}");
            assert!(e.to_string().contains(needle), "{what}: {e}");
            assert_eq!(
                engine.get(request.id).await.unwrap().state,
                ChangeState::Pending
            );
            assert_eq!(stored_version(&store).await, v0, "{what}");
        }
        assert!(!policy.refresh().await.unwrap());
        assert_eq!(
            Identity::new(store.clone())
                .posts("user.3301")
                .await
                .unwrap(),
            posts_before
        );
        let menus: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM menus")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(menus, DEMO_MENUS.len() as i64);
        let menu_roles: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM menu_roles WHERE menu_id = 'y'")
                .fetch_one(store.pool())
                .await
                .unwrap();
        assert_eq!(menu_roles, 0);
    });

    store_test!(
        three_role_separation_through_role_grant,
        |store| async move {
            let policy = seeded(&store).await;
            let engine = engine(&store);
            let v0 = stored_version(&store).await;
            for (user, role) in [
                ("sysadmin", "security-admin"),
                ("sysadmin", "audit-admin"),
                ("auditadmin", "system-admin"),
                ("secadmin", "audit-admin"),
            ] {
                let e = approve(&engine, role_grant(user, role, "3300"))
                    .await
                    .unwrap_err();
                assert!(matches!(e, ChangeError::Apply(_)), "{e}");
                assert!(e.to_string().contains("三员分立"), "{e}");
            }
            assert_eq!(stored_version(&store).await, v0);
            assert!(!policy.refresh().await.unwrap());
            assert!(!policy.allows_action("sysadmin", "audit.read"));
            // A non-admin role is fine for an administrator.
            approve(&engine, role_grant("auditadmin", "business-user", "3301"))
                .await
                .unwrap();
            assert!(policy.refresh().await.unwrap());
            assert!(policy.can_use_app("auditadmin", "fund-position"));
        }
    );

    store_test!(two_hosts_stay_in_step, |store| async move {
        let one = seeded(&store).await;
        let two = Policy::load(store.clone()).await.unwrap();
        assert_eq!(one.version(), two.version());
        assert!(!one.refresh().await.unwrap());
        assert!(!two.refresh().await.unwrap());
        // A change approved through host one's engine…
        approve(
            &engine(&store),
            role_grant("user.3302", "developer", "3302-cw"),
        )
        .await
        .unwrap();
        assert!(!two.allows_action("user.3302", "app.submit"));
        // …reaches host two at its next refresh.
        assert!(two.refresh().await.unwrap());
        assert!(two.allows_action("user.3302", "app.submit"));
        assert!(!two.refresh().await.unwrap());
        assert!(one.refresh().await.unwrap());
        assert_eq!(one.version(), two.version());
        assert_eq!(one.roles_of("user.3302"), two.roles_of("user.3302"));

        // The background poller picks changes up by itself, and ends when
        // the policy is dropped.
        let sync = two.spawn_sync(Duration::from_millis(50));
        let before = two.version();
        approve(
            &engine(&store),
            ChangeKind::RoleRevoke(RoleRevoke {
                username: "user.3302".into(),
                role_id: "developer".into(),
                org_id: "3302-cw".into(),
            }),
        )
        .await
        .unwrap();
        let mut waited = 0;
        while two.version() == before {
            assert!(waited < 200, "the poller never refreshed");
            tokio::time::sleep(Duration::from_millis(50)).await;
            waited += 1;
        }
        assert!(!two.allows_action("user.3302", "app.submit"));
        drop(two);
        tokio::time::timeout(Duration::from_secs(10), sync)
            .await
            .expect("the poller ends once the policy is dropped")
            .unwrap();
    });

    store_test!(deep_menus_reach_their_apps, |store| async move {
        let policy = seeded(&store).await;
        let engine = engine(&store);
        for depth in 1..=MAX_MENU_DEPTH {
            let mut m = menu(MenuOp::Add, &format!("d{depth}"));
            m.parent_id = (depth > 1).then(|| format!("d{}", depth - 1));
            m.title = Some(format!("第{depth}层"));
            if depth == 1 {
                m.roles = Some(vec!["business-user".into()]);
            }
            if depth == MAX_MENU_DEPTH {
                m.app_id = Some("deep-app".into());
            }
            approve(&engine, ChangeKind::MenuChange(m)).await.unwrap();
        }
        assert!(policy.refresh().await.unwrap());
        assert!(policy.can_use_app("user.3301", "deep-app"));
        assert!(!policy.can_use_app("leader.3301", "deep-app"));
        let mut too_deep = menu(MenuOp::Add, "d9");
        too_deep.parent_id = Some(format!("d{MAX_MENU_DEPTH}"));
        too_deep.title = Some("太深".into());
        let e = approve(&engine, ChangeKind::MenuChange(too_deep))
            .await
            .unwrap_err();
        assert!(e.to_string().contains("levels deep"), "{e}");
        // Moving a subtree under another may not make it too deep either.
        let mut deeper = menu(MenuOp::Update, "d1");
        deeper.parent_id = Some("finance".into());
        let e = approve(&engine, ChangeKind::MenuChange(deeper))
            .await
            .unwrap_err();
        assert!(e.to_string().contains("levels deep"), "{e}");
    });

    store_test!(demo_seed_is_idempotent_and_complete, |store| async move {
        Identity::new(store.clone())
            .seed_demo(now_micros())
            .await
            .unwrap();
        // Two hosts seeding at once.
        let (a, b) = tokio::join!(seed_demo(&store), seed_demo(&store));
        a.unwrap();
        b.unwrap();
        let v = stored_version(&store).await;
        seed_demo(&store).await.unwrap();
        assert_eq!(stored_version(&store).await, v, "nothing added, no bump");
        let policy = Policy::load(store.clone()).await.unwrap();
        assert_eq!(policy.version(), v);
        let fund = policy.dataset_policy("fund_daily").unwrap();
        assert_eq!(fund.org_column.as_deref(), Some("org_id"));
        assert_eq!(fund.owner_column, None);
        // Every column of the demo dataset, and nothing else.
        let demo = zhiyun_data::fund_daily();
        let mut expected: Vec<&str> = demo.columns().iter().map(|c| c.name.as_str()).collect();
        expected.sort_unstable();
        let listed: Vec<&str> = fund.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(listed, expected);
        let level = |name: &str| {
            let c = fund.columns.iter().find(|c| c.name == name).unwrap();
            (c.sensitivity, c.mask)
        };
        assert_eq!(
            level("acct_no"),
            (Sensitivity::Sensitive, MaskKind::BankAccount)
        );
        assert_eq!(level("safety_reserve").0, Sensitivity::Internal);
        assert_eq!(level("org_name").0, Sensitivity::Public);
        assert_eq!(level("bank").0, Sensitivity::Public);
        assert_eq!(level("acct_type").0, Sensitivity::Public);
        assert!(policy.dataset_policy("nope").is_none());
        for u in DEMO_USERS {
            let expected = u
                .posts
                .iter()
                .any(|(r, _)| FUND_DAILY_READERS.contains(&r.id()));
            assert_eq!(
                policy.can_read_dataset(u.username, "fund_daily"),
                expected,
                "{}",
                u.username
            );
        }
        assert_eq!(
            policy.org_tree().len(),
            org::load(&store).await.unwrap().len()
        );
    });

    store_test!(
        decisions_are_cached_until_a_grant_expires,
        |store| async move {
            let policy = seeded(&store).await;
            assert_eq!(policy.snapshot().cache_until, None);
            assert!(policy.can_use_app("user.3301", "fund-position"));
            assert!(!policy.allows_action("user.3301", "app.review"));
            assert_eq!(policy.snapshot().decisions.read().unwrap().len(), 2);
            assert!(policy.can_use_app("user.3301", "fund-position"), "cached");
            // A grant that expires: decisions are cached until it does.
            sqlx::query("INSERT INTO dataset_policies (dataset) VALUES ('journal')")
                .execute(store.pool())
                .await
                .unwrap();
            let until = now_micros() + 3_600_000_000;
            let mut personal = access(
                "journal",
                Applicant::User {
                    username: "user.3302".into(),
                },
            );
            personal.expires_at = Some(until);
            approve(&engine(&store), ChangeKind::DatasetAccess(personal))
                .await
                .unwrap();
            assert!(policy.refresh().await.unwrap());
            assert_eq!(policy.snapshot().cache_until, Some(until));
            assert!(policy.can_read_dataset("user.3302", "journal"));
            assert!(!policy.refresh().await.unwrap());
            // Once a rule's expiry has passed, nothing is cached and the next
            // refresh reloads even though the version did not move.
            let mut stale = load_snapshot(&store).await.unwrap();
            stale.cache_until = Some(now_micros() - 1);
            *policy.inner.current.write().unwrap() = Arc::new(stale);
            assert!(policy.can_read_dataset("user.3302", "journal"));
            assert!(policy.snapshot().decisions.read().unwrap().is_empty());
            assert!(policy.refresh().await.unwrap());
            assert_eq!(policy.snapshot().cache_until, Some(until));
            // Keys cannot collide.
            assert_ne!(decision_key("a", "bc", "d"), decision_key("ab", "c", "d"));
            assert_ne!(decision_key("a", "b", "cd"), decision_key("a", "bc", "d"));
        }
    );
}
