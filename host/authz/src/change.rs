//! Change requests: one four-eyes approval engine for every change to who
//! may do what.
//!
//! **Owns:** the tables `change_requests` and `change_events` (migration 3,
//! `host/store/migrations/*/0003_audit.sql`), the kinds of change and their
//! payloads ([`ChangeKind`]), the request's life cycle and its audit
//! entries. **Must not know:** what approving a kind *does* — that is a
//! [`ChangeApplier`]'s job (the policy module for roles, menus, scopes and
//! dataset grants; the app registry for listings), called by the engine
//! inside the approval's transaction.
//!
//! # Life cycle
//!
//! ```text
//!            create              approve (reviewer ≠ author; applies the change)
//!   (none) ─────────▶ pending ──────────────▶ approved
//!                       │  │
//!                reject │  │ withdraw (author only)
//!     (reviewer ≠ author, a reason)
//!                       ▼  ▼
//!                rejected  withdrawn
//! ```
//!
//! - **Four eyes**: nobody approves or rejects a request they wrote
//!   ([`ChangeError::SelfApproval`], for every kind); the table also refuses
//!   a reviewer equal to the author (`CHECK`), as a second wall.
//! - **Only approval changes the live policy**, and atomically: the engine
//!   locks the request, checks it is pending, marks it approved, calls the
//!   [`ChangeApplier`] with the same transaction, writes the history row and
//!   the audit entries (`change.approve` and `policy.change`), then commits.
//!   If the applier fails, nothing is kept: the request stays pending, and
//!   the applier's error is returned (and audited, outcome `error`, in a
//!   transaction of its own).
//! - Any other transition is a [`ChangeError::Conflict`] naming the current
//!   state. Two reviewers approving at once: the row lock serialises them,
//!   the second gets the conflict, the change is applied once.
//! - Every create, approve, reject and withdraw appends its audit entry in
//!   the same transaction ([`AuditLog::append_in`]): there is no change
//!   without its audit entry, and no entry for a change that rolled back.
//!   Refused attempts (self-approval, withdrawing someone else's request) are
//!   audited with outcome `denied` after the refusal.

use crate::audit::{AuditAction, AuditError, AuditLog, NewEntry, Outcome};
use crate::scope::{DataScope, Sensitivity};
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AssertSqlSafe, Row};
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use zhiyun_store::{Store, StoreError, now_micros};

// ---- kinds and payloads ------------------------------------------------------

/// A change, with its typed payload. As JSON:
/// `{"kind": "role-grant", "payload": {"username": …, "role_id": …, "org_id": …}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "payload", rename_all = "kebab-case")]
pub enum ChangeKind {
    /// 上架 / 版本升级: publish a version of an app.
    AppListing(AppListing),
    /// Add, adjust or remove a menu entry.
    MenuChange(MenuChange),
    /// Give a user a post: a role in an org.
    RoleGrant(RoleGrant),
    /// Take a post away.
    RoleRevoke(RoleRevoke),
    /// Change a role's default data scope or one post's override.
    DataScopeChange(DataScopeChange),
    /// 数据申请: access to a dataset for a user, an app or a role.
    DatasetAccess(DatasetAccess),
    /// 数据服务发布: publish a dataset query as an HTTP endpoint
    /// (`GET /api/v1/services/<name>`).
    DataService(DataServicePublish),
}

/// The name of a [`ChangeKind`], without its payload (the `kind` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChangeKindName {
    AppListing,
    MenuChange,
    RoleGrant,
    RoleRevoke,
    DataScopeChange,
    DatasetAccess,
    DataService,
}

impl ChangeKindName {
    pub const ALL: [ChangeKindName; 7] = [
        ChangeKindName::AppListing,
        ChangeKindName::MenuChange,
        ChangeKindName::RoleGrant,
        ChangeKindName::RoleRevoke,
        ChangeKindName::DataScopeChange,
        ChangeKindName::DatasetAccess,
        ChangeKindName::DataService,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKindName::AppListing => "app-listing",
            ChangeKindName::MenuChange => "menu-change",
            ChangeKindName::RoleGrant => "role-grant",
            ChangeKindName::RoleRevoke => "role-revoke",
            ChangeKindName::DataScopeChange => "data-scope-change",
            ChangeKindName::DatasetAccess => "dataset-access",
            ChangeKindName::DataService => "data-service",
        }
    }

    /// The Chinese name of the kind, as reviewers read it.
    pub fn label(self) -> &'static str {
        match self {
            ChangeKindName::AppListing => "应用上架",
            ChangeKindName::MenuChange => "菜单变更",
            ChangeKindName::RoleGrant => "角色授予",
            ChangeKindName::RoleRevoke => "角色撤销",
            ChangeKindName::DataScopeChange => "数据范围变更",
            ChangeKindName::DatasetAccess => "数据申请",
            ChangeKindName::DataService => "数据服务发布",
        }
    }

    pub fn parse(s: &str) -> Option<ChangeKindName> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl fmt::Display for ChangeKindName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// 上架 (first version) or 版本升级 (a later one): make `version` of
/// `app_id` the live version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppListing {
    pub app_id: String,
    /// The semver version, as the manifest states it.
    pub version: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MenuOp {
    Add,
    Update,
    Remove,
}

/// Add, adjust or remove the menu entry `menu_id`. For `add`, `title` is
/// required; for `update`, absent fields stay as they are (an entry cannot
/// be moved back to the top level by an update); `remove` takes an entry
/// without children.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MenuChange {
    pub op: MenuOp,
    pub menu_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The English title, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title_en: Option<String>,
    /// The app the entry opens, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sort_order: Option<i64>,
    /// The roles that see the entry and its subtree (and may use the apps
    /// placed there). `add`: none unless given; `update`: replaced when
    /// given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<String>>,
}

/// Give `username` the post (`role_id` in `org_id`), optionally with its
/// own data scope (otherwise the role's default).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleGrant {
    pub username: String,
    pub role_id: String,
    pub org_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_scope: Option<DataScope>,
}

/// Take the post (`role_id` in `org_id`) from `username`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleRevoke {
    pub username: String,
    pub role_id: String,
    pub org_id: String,
}

/// A new data scope (see [`DataScope`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "target", rename_all = "kebab-case", deny_unknown_fields)]
pub enum DataScopeChange {
    /// The default scope of every post of the role.
    RoleDefault { role_id: String, scope: DataScope },
    /// One post's override; `None` returns it to the role's default.
    Post {
        username: String,
        role_id: String,
        org_id: String,
        scope: Option<DataScope>,
    },
}

/// Who applies for a dataset.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Applicant {
    User { username: String },
    App { app_id: String },
    Role { role_id: String },
}

/// 数据申请: read access to `dataset` (all its columns the applicant may
/// see, or only `columns`), for a stated purpose, possibly until a time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetAccess {
    pub dataset: String,
    pub applicant: Applicant,
    /// Empty: every column.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub columns: Vec<String>,
    pub purpose: String,
    /// µs since the epoch; `None`: until revoked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    /// The highest column level the grant reads unmasked; `None`: 内部
    /// (internal). For a user or a role the reader's own role level still
    /// applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_sensitivity: Option<Sensitivity>,
    /// Only the rows of these orgs' subtrees; `None`: every org the
    /// reader's scope reaches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub orgs: Option<Vec<String>>,
}

/// The longest data service name (it is a URL segment and part of an app
/// id in grants and audit entries).
pub const MAX_SERVICE_NAME: usize = 64;

/// 数据服务发布: make the data service `name` — a query template over
/// `dataset` with declared parameters — callable at
/// `GET /api/v1/services/<name>`. Approval activates it and grants the
/// dataset to the app id [`DataServicePublish::app_id`], so a call reads
/// the caller's scope ∩ this grant, like an app launched by that caller.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataServicePublish {
    /// A slug: lowercase letters, digits, `-` and `_`, starting with a
    /// letter, at most [`MAX_SERVICE_NAME`] bytes.
    pub name: String,
    /// The dataset the service reads.
    pub dataset: String,
    /// The highest column level the service's grant reads unmasked;
    /// `None`: 内部 (internal). The caller's own level still applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_sensitivity: Option<Sensitivity>,
    /// The definition as proposed — title, query template, parameters,
    /// page size and rate limit — so that the reviewer approves exactly
    /// what will run. Its shape is the server's (`services.rs`), which
    /// checked it against the dataset before filing the request.
    pub definition: serde_json::Value,
}

impl DataServicePublish {
    /// The app id a service's calls read data as (its grant's applicant
    /// and the `app` of its `data.access` audit entries).
    pub fn app_id(&self) -> String {
        service_app_id(&self.name)
    }
}

/// The app id of the data service `name`: `service:<name>`. The colon
/// keeps it apart from every micro-app id (which are `a-z 0-9 -`).
pub fn service_app_id(name: &str) -> String {
    format!("service:{name}")
}

/// Whether `name` is a valid data service name (see
/// [`DataServicePublish::name`]).
pub fn is_service_name(name: &str) -> bool {
    name.len() <= MAX_SERVICE_NAME
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

impl ChangeKind {
    pub fn name(&self) -> ChangeKindName {
        match self {
            ChangeKind::AppListing(_) => ChangeKindName::AppListing,
            ChangeKind::MenuChange(_) => ChangeKindName::MenuChange,
            ChangeKind::RoleGrant(_) => ChangeKindName::RoleGrant,
            ChangeKind::RoleRevoke(_) => ChangeKindName::RoleRevoke,
            ChangeKind::DataScopeChange(_) => ChangeKindName::DataScopeChange,
            ChangeKind::DatasetAccess(_) => ChangeKindName::DatasetAccess,
            ChangeKind::DataService(_) => ChangeKindName::DataService,
        }
    }

    /// What the change acts on, as an audit target (`app/<id>@<version>`,
    /// `menu/<id>`, `user/<name>/post/<role>@<org>`, `role/<id>`,
    /// `dataset/<name>`, `data-service/<name>`).
    pub fn target(&self) -> String {
        match self {
            ChangeKind::AppListing(p) => format!("app/{}@{}", p.app_id, p.version),
            ChangeKind::MenuChange(p) => format!("menu/{}", p.menu_id),
            ChangeKind::RoleGrant(RoleGrant {
                username,
                role_id,
                org_id,
                ..
            })
            | ChangeKind::RoleRevoke(RoleRevoke {
                username,
                role_id,
                org_id,
            })
            | ChangeKind::DataScopeChange(DataScopeChange::Post {
                username,
                role_id,
                org_id,
                ..
            }) => format!("user/{username}/post/{role_id}@{org_id}"),
            ChangeKind::DataScopeChange(DataScopeChange::RoleDefault { role_id, .. }) => {
                format!("role/{role_id}")
            }
            ChangeKind::DatasetAccess(p) => format!("dataset/{}", p.dataset),
            ChangeKind::DataService(p) => format!("data-service/{}", p.name),
        }
    }

    /// Checks the payload's required fields.
    pub fn validate(&self) -> Result<(), ChangeError> {
        fn need(value: &str, what: &str) -> Result<(), ChangeError> {
            if value.trim().is_empty() || value != value.trim() {
                return Err(ChangeError::Invalid(format!(
                    "{what} must be non-empty, without leading or trailing spaces"
                )));
            }
            Ok(())
        }
        fn scope(s: &DataScope) -> Result<(), ChangeError> {
            if let DataScope::Custom(orgs) = s {
                if orgs.is_empty() {
                    return Err(ChangeError::Invalid(
                        "a custom data scope must name at least one org".into(),
                    ));
                }
                for org in orgs {
                    need(org, "an org id of the custom scope")?;
                }
            }
            Ok(())
        }
        match self {
            ChangeKind::AppListing(p) => {
                need(&p.app_id, "app_id")?;
                need(&p.version, "version")?;
            }
            ChangeKind::MenuChange(p) => {
                need(&p.menu_id, "menu_id")?;
                if p.op == MenuOp::Add && p.title.as_deref().is_none_or(|t| t.trim().is_empty()) {
                    return Err(ChangeError::Invalid(
                        "adding a menu entry needs a title".into(),
                    ));
                }
                if let Some(parent) = &p.parent_id {
                    need(parent, "parent_id")?;
                    if *parent == p.menu_id {
                        return Err(ChangeError::Invalid(
                            "a menu entry cannot be its own parent".into(),
                        ));
                    }
                }
                if let Some(app) = &p.app_id {
                    need(app, "app_id")?;
                }
                for role in p.roles.iter().flatten() {
                    need(role, "a role id of the menu entry")?;
                }
                let changes = p.parent_id.is_some()
                    || p.title.is_some()
                    || p.title_en.is_some()
                    || p.app_id.is_some()
                    || p.sort_order.is_some()
                    || p.roles.is_some();
                match p.op {
                    MenuOp::Update if !changes => {
                        return Err(ChangeError::Invalid(
                            "a menu update must change at least one field".into(),
                        ));
                    }
                    MenuOp::Remove if changes => {
                        return Err(ChangeError::Invalid(
                            "removing a menu entry takes only its menu_id".into(),
                        ));
                    }
                    _ => {}
                }
            }
            ChangeKind::RoleGrant(p) => {
                need(&p.username, "username")?;
                need(&p.role_id, "role_id")?;
                need(&p.org_id, "org_id")?;
                if let Some(s) = &p.data_scope {
                    scope(s)?;
                }
            }
            ChangeKind::RoleRevoke(p) => {
                need(&p.username, "username")?;
                need(&p.role_id, "role_id")?;
                need(&p.org_id, "org_id")?;
            }
            ChangeKind::DataScopeChange(DataScopeChange::RoleDefault { role_id, scope: s }) => {
                need(role_id, "role_id")?;
                scope(s)?;
            }
            ChangeKind::DataScopeChange(DataScopeChange::Post {
                username,
                role_id,
                org_id,
                scope: s,
            }) => {
                need(username, "username")?;
                need(role_id, "role_id")?;
                need(org_id, "org_id")?;
                if let Some(s) = s {
                    scope(s)?;
                }
            }
            ChangeKind::DatasetAccess(p) => {
                need(&p.dataset, "dataset")?;
                match &p.applicant {
                    Applicant::User { username: id }
                    | Applicant::App { app_id: id }
                    | Applicant::Role { role_id: id } => need(id, "the applicant")?,
                }
                for c in &p.columns {
                    need(c, "a column name")?;
                }
                need(&p.purpose, "purpose (why the data is needed)")?;
                if let Some(orgs) = &p.orgs {
                    if orgs.is_empty() {
                        return Err(ChangeError::Invalid(
                            "orgs, when given, must name at least one org".into(),
                        ));
                    }
                    for org in orgs {
                        need(org, "an org id of the grant")?;
                    }
                }
                if p.expires_at.is_some_and(|t| t <= now_micros()) {
                    return Err(ChangeError::Invalid("expires_at is in the past".into()));
                }
            }
            ChangeKind::DataService(p) => {
                if !is_service_name(&p.name) {
                    return Err(ChangeError::Invalid(format!(
                        "data service name `{}` must be 1–{MAX_SERVICE_NAME} characters of a-z, \
                         0-9, `-` and `_`, starting with a letter",
                        p.name
                    )));
                }
                need(&p.dataset, "dataset")?;
                if !p.definition.is_object() {
                    return Err(ChangeError::Invalid(
                        "a data service's definition must be a JSON object".into(),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The payload's JSON text (the `payload` column).
    fn payload_json(&self) -> String {
        let value = serde_json::to_value(self).expect("a ChangeKind serialises");
        value["payload"].to_string()
    }

    fn from_stored(kind: &str, payload: &str) -> Result<ChangeKind, String> {
        let payload: serde_json::Value =
            serde_json::from_str(payload).map_err(|e| format!("payload is not JSON: {e}"))?;
        serde_json::from_value(serde_json::json!({ "kind": kind, "payload": payload }))
            .map_err(|e| format!("a {kind} payload that no longer reads: {e}"))
    }
}

// ---- requests --------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChangeState {
    Pending,
    Approved,
    Rejected,
    Withdrawn,
}

impl ChangeState {
    pub const ALL: [ChangeState; 4] = [
        ChangeState::Pending,
        ChangeState::Approved,
        ChangeState::Rejected,
        ChangeState::Withdrawn,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ChangeState::Pending => "pending",
            ChangeState::Approved => "approved",
            ChangeState::Rejected => "rejected",
            ChangeState::Withdrawn => "withdrawn",
        }
    }

    pub fn parse(s: &str) -> Option<ChangeState> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl fmt::Display for ChangeState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One change request. Serialised with the change flattened in:
/// `{"id": 3, "kind": "role-grant", "payload": {…}, "state": "pending", …}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChangeRequest {
    pub id: i64,
    #[serde(flatten)]
    pub change: ChangeKind,
    pub state: ChangeState,
    pub author: String,
    /// µs since the epoch, UTC (as every time here).
    pub created_at: i64,
    /// Who approved or rejected it, when and why.
    pub reviewer: Option<String>,
    pub reviewed_at: Option<i64>,
    pub reason: Option<String>,
    /// When the change reached the live policy (= `reviewed_at` of an
    /// approval; the same transaction).
    pub applied_at: Option<i64>,
}

/// One state change of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChangeEvent {
    pub request_id: i64,
    /// `None` for the creation.
    pub from_state: Option<ChangeState>,
    pub to_state: ChangeState,
    pub actor: String,
    pub reason: Option<String>,
    pub at: i64,
}

/// Which requests [`ChangeRequests::list`] returns (newest first); the
/// fields combine with AND.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ChangeFilter {
    pub state: Option<ChangeState>,
    pub kind: Option<ChangeKindName>,
    pub author: Option<String>,
    /// Requests with an id below this (the cursor: the last id of the
    /// previous page).
    pub before_id: Option<i64>,
    /// 1–1000, default 100.
    pub limit: Option<u32>,
}

/// Why a change-request operation was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    #[error("change request #{0} not found")]
    NotFound(i64),
    /// Four eyes: the reviewer wrote the request.
    #[error(
        "`{user}` wrote change request #{id} and cannot {action} it: another administrator must \
         review it"
    )]
    SelfApproval {
        id: i64,
        user: String,
        action: &'static str,
    },
    #[error("only its author `{author}` may withdraw change request #{id}, not `{user}`")]
    NotAuthor {
        id: i64,
        user: String,
        author: String,
    },
    /// The operation does not fit the request's state (HTTP 409).
    #[error("cannot {action} change request #{id}: it is already {current_state}")]
    Conflict {
        id: i64,
        action: &'static str,
        current_state: ChangeState,
    },
    #[error("{0}")]
    Invalid(String),
    #[error("no applier is configured for {0} change requests; the change cannot be approved")]
    NoApplier(ChangeKindName),
    /// An applier refused or failed; the approval was rolled back.
    #[error("the change could not be applied: {0}")]
    Apply(String),
    #[error("the change requests' stored data is damaged: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Audit(#[from] AuditError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ChangeError {
    /// The request's state, for a conflict.
    pub fn current_state(&self) -> Option<ChangeState> {
        match self {
            ChangeError::Conflict { current_state, .. } => Some(*current_state),
            _ => None,
        }
    }
}

impl From<sqlx::Error> for ChangeError {
    fn from(e: sqlx::Error) -> Self {
        ChangeError::Store(StoreError::Database(e))
    }
}

type Result<T, E = ChangeError> = std::result::Result<T, E>;

// ---- appliers --------------------------------------------------------------

/// A boxed, sendable future (what [`ChangeApplier::apply`] returns).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Makes an approved change live. Called by [`ChangeRequests::approve`]
/// inside the approval's transaction (`tx`, a write transaction on the
/// platform store) with the request already marked approved; an `Err`
/// rolls the whole approval back. Write only through `tx`.
pub trait ChangeApplier: Send + Sync {
    fn apply<'a>(
        &'a self,
        tx: &'a mut AnyConnection,
        request: &'a ChangeRequest,
    ) -> BoxFuture<'a, Result<(), ChangeError>>;

    /// Called by [`ChangeRequests::reject`] inside the rejection's
    /// transaction, the request already marked rejected: for a kind whose
    /// subject has a state of its own (an app version is `rejected` in the
    /// registry too). Most kinds change nothing.
    fn rejected<'a>(
        &'a self,
        _tx: &'a mut AnyConnection,
        _request: &'a ChangeRequest,
    ) -> BoxFuture<'a, Result<(), ChangeError>> {
        Box::pin(async { Ok(()) })
    }
}

/// One applier per kind; a kind without one cannot be approved
/// ([`ChangeError::NoApplier`]).
#[derive(Clone, Default)]
pub struct ApplierSet {
    by_kind: HashMap<ChangeKindName, Arc<dyn ChangeApplier>>,
}

impl ApplierSet {
    pub fn new() -> Self {
        Self::default()
    }

    /// Uses `applier` for `kind` (replacing any earlier one).
    pub fn with(mut self, kind: ChangeKindName, applier: Arc<dyn ChangeApplier>) -> Self {
        self.by_kind.insert(kind, applier);
        self
    }
}

impl fmt::Debug for ApplierSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut kinds: Vec<_> = self.by_kind.keys().map(|k| k.as_str()).collect();
        kinds.sort_unstable();
        f.debug_struct("ApplierSet").field("kinds", &kinds).finish()
    }
}

impl ChangeApplier for ApplierSet {
    fn apply<'a>(
        &'a self,
        tx: &'a mut AnyConnection,
        request: &'a ChangeRequest,
    ) -> BoxFuture<'a, Result<(), ChangeError>> {
        let kind = request.change.name();
        match self.by_kind.get(&kind) {
            Some(applier) => applier.apply(tx, request),
            None => Box::pin(async move { Err(ChangeError::NoApplier(kind)) }),
        }
    }

    fn rejected<'a>(
        &'a self,
        tx: &'a mut AnyConnection,
        request: &'a ChangeRequest,
    ) -> BoxFuture<'a, Result<(), ChangeError>> {
        match self.by_kind.get(&request.change.name()) {
            Some(applier) => applier.rejected(tx, request),
            None => Box::pin(async { Ok(()) }),
        }
    }
}

// ---- the engine --------------------------------------------------------------

const REQUEST_COLS: &str = "id, kind, payload, state, author, created_at, reviewer, reviewed_at, \
                            reason, applied_at";

/// The change-request engine. Cheap to clone.
#[derive(Clone)]
pub struct ChangeRequests {
    store: Store,
    audit: AuditLog,
    applier: Arc<dyn ChangeApplier>,
}

impl fmt::Debug for ChangeRequests {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChangeRequests").finish_non_exhaustive()
    }
}

impl ChangeRequests {
    /// The engine on `store`, auditing to `audit` (on the same store) and
    /// applying approved changes with `applier` (usually an [`ApplierSet`]).
    pub fn new(store: Store, audit: AuditLog, applier: Arc<dyn ChangeApplier>) -> Self {
        ChangeRequests {
            store,
            audit,
            applier,
        }
    }

    /// Files a change request (state `pending`).
    pub async fn create(&self, author: &str, change: ChangeKind) -> Result<ChangeRequest> {
        let mut tx = self.store.begin_write().await?;
        let request = self.create_in(&mut tx, author, change).await?;
        tx.commit().await?;
        Ok(request)
    }

    /// [`ChangeRequests::create`] inside the caller's write transaction (the
    /// registry files a version and its listing request in one commit).
    pub async fn create_in(
        &self,
        tx: &mut AnyConnection,
        author: &str,
        change: ChangeKind,
    ) -> Result<ChangeRequest> {
        require_actor(author)?;
        change.validate()?;
        let now = now_micros();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO change_requests (kind, payload, state, author, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $5) RETURNING id",
        )
        .bind(change.name().as_str())
        .bind(change.payload_json())
        .bind(ChangeState::Pending.as_str())
        .bind(author)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        insert_event(tx, id, None, ChangeState::Pending, author, None, now).await?;
        let request = fetch(tx, id).await?;
        self.audit
            .append_in(tx, audit_entry(&request, AuditAction::ChangeCreate, author))
            .await?;
        Ok(request)
    }

    /// Approves a pending request and applies it, in one transaction (see
    /// the module docs). The reviewer must not be the author.
    pub async fn approve(
        &self,
        id: i64,
        reviewer: &str,
        reason: Option<&str>,
    ) -> Result<ChangeRequest> {
        require_actor(reviewer)?;
        let reason = reason.map(str::trim).filter(|r| !r.is_empty());
        let outcome = self.approve_tx(id, reviewer, reason).await;
        match &outcome {
            Err(ChangeError::SelfApproval { .. }) => {
                self.audit_refusal(
                    id,
                    reviewer,
                    AuditAction::ChangeApprove,
                    Outcome::Denied,
                    &outcome,
                )
                .await;
            }
            Err(e @ (ChangeError::Apply(_) | ChangeError::NoApplier(_))) => {
                tracing::warn!(request = id, error = %e, "a change request's approval failed to apply");
                self.audit_refusal(
                    id,
                    reviewer,
                    AuditAction::ChangeApprove,
                    Outcome::Error,
                    &outcome,
                )
                .await;
            }
            _ => {}
        }
        outcome
    }

    async fn approve_tx(
        &self,
        id: i64,
        reviewer: &str,
        reason: Option<&str>,
    ) -> Result<ChangeRequest> {
        let mut tx = self.store.begin_write().await?;
        let request = lock(&mut tx, id).await?;
        expect_pending(&request, "approve")?;
        refuse_self_review(&request, reviewer, "approve")?;
        let now = now_micros();
        sqlx::query(
            "UPDATE change_requests SET state = $2, reviewer = $3, reviewed_at = $4, reason = $5, \
             applied_at = $4, updated_at = $4 WHERE id = $1",
        )
        .bind(id)
        .bind(ChangeState::Approved.as_str())
        .bind(reviewer)
        .bind(now)
        .bind(reason)
        .execute(&mut *tx)
        .await?;
        let request = fetch(&mut tx, id).await?;
        self.applier.apply(&mut tx, &request).await?;
        insert_event(
            &mut tx,
            id,
            Some(ChangeState::Pending),
            ChangeState::Approved,
            reviewer,
            reason,
            now,
        )
        .await?;
        let approve = audit_entry(&request, AuditAction::ChangeApprove, reviewer);
        let mut policy = audit_entry(&request, AuditAction::PolicyChange, reviewer);
        policy.target = request.change.target();
        self.audit
            .append_batch_in(&mut tx, vec![approve, policy])
            .await?;
        tx.commit().await?;
        Ok(request)
    }

    /// Rejects a pending request, with a reason. The reviewer must not be
    /// the author.
    pub async fn reject(&self, id: i64, reviewer: &str, reason: &str) -> Result<ChangeRequest> {
        require_actor(reviewer)?;
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(ChangeError::Invalid(
                "a rejection needs a reason (the author reads it)".into(),
            ));
        }
        let outcome = self
            .close(id, reviewer, Some(reason), ChangeState::Rejected)
            .await;
        if matches!(outcome, Err(ChangeError::SelfApproval { .. })) {
            self.audit_refusal(
                id,
                reviewer,
                AuditAction::ChangeReject,
                Outcome::Denied,
                &outcome,
            )
            .await;
        }
        outcome
    }

    /// Withdraws a pending request; only its author may.
    pub async fn withdraw(&self, id: i64, author: &str) -> Result<ChangeRequest> {
        require_actor(author)?;
        let outcome = self.close(id, author, None, ChangeState::Withdrawn).await;
        if matches!(outcome, Err(ChangeError::NotAuthor { .. })) {
            self.audit_refusal(
                id,
                author,
                AuditAction::ChangeWithdraw,
                Outcome::Denied,
                &outcome,
            )
            .await;
        }
        outcome
    }

    /// Reject or withdraw: the transitions that change nothing live.
    async fn close(
        &self,
        id: i64,
        actor: &str,
        reason: Option<&str>,
        to: ChangeState,
    ) -> Result<ChangeRequest> {
        let (verb, action) = match to {
            ChangeState::Rejected => ("reject", AuditAction::ChangeReject),
            _ => ("withdraw", AuditAction::ChangeWithdraw),
        };
        let mut tx = self.store.begin_write().await?;
        let request = lock(&mut tx, id).await?;
        if to == ChangeState::Withdrawn && request.author != actor {
            return Err(ChangeError::NotAuthor {
                id,
                user: actor.to_string(),
                author: request.author,
            });
        }
        expect_pending(&request, verb)?;
        let now = now_micros();
        if to == ChangeState::Rejected {
            refuse_self_review(&request, actor, verb)?;
            sqlx::query(
                "UPDATE change_requests SET state = $2, reviewer = $3, reviewed_at = $4, \
                 reason = $5, updated_at = $4 WHERE id = $1",
            )
            .bind(id)
            .bind(to.as_str())
            .bind(actor)
            .bind(now)
            .bind(reason)
            .execute(&mut *tx)
            .await?;
        } else {
            sqlx::query("UPDATE change_requests SET state = $2, updated_at = $3 WHERE id = $1")
                .bind(id)
                .bind(to.as_str())
                .bind(now)
                .execute(&mut *tx)
                .await?;
        }
        insert_event(
            &mut tx,
            id,
            Some(ChangeState::Pending),
            to,
            actor,
            reason,
            now,
        )
        .await?;
        let request = fetch(&mut tx, id).await?;
        if to == ChangeState::Rejected {
            self.applier.rejected(&mut tx, &request).await?;
        }
        self.audit
            .append_in(&mut tx, audit_entry(&request, action, actor))
            .await?;
        tx.commit().await?;
        Ok(request)
    }

    /// Audits a refused or failed attempt in its own transaction; a failure
    /// to do so is logged, not returned (the refusal is what the caller
    /// needs to see).
    async fn audit_refusal(
        &self,
        id: i64,
        actor: &str,
        action: AuditAction,
        outcome: Outcome,
        error: &Result<ChangeRequest>,
    ) {
        let message = match error {
            Err(e) => e.to_string(),
            Ok(_) => return,
        };
        let entry = NewEntry::new(actor, action, format!("change-request/{id}"))
            .outcome(outcome)
            .detail(serde_json::json!({ "error": message }));
        if let Err(e) = self.audit.append(entry).await {
            tracing::error!(request = id, error = %e, "could not audit a refused change-request operation");
        }
    }

    /// One request.
    pub async fn get(&self, id: i64) -> Result<ChangeRequest> {
        let mut conn = self.store.pool().acquire().await?;
        fetch(&mut conn, id).await
    }

    /// Requests matching `filter`, newest first.
    pub async fn list(&self, filter: &ChangeFilter) -> Result<Vec<ChangeRequest>> {
        let limit = filter.limit.unwrap_or(100);
        if limit == 0 || limit > 1000 {
            return Err(ChangeError::Invalid(format!(
                "limit {limit} is out of range; 1–1000"
            )));
        }
        let mut conds = Vec::new();
        let mut strings = Vec::new();
        if let Some(state) = filter.state {
            strings.push(state.as_str().to_string());
            conds.push(format!("state = ${}", strings.len()));
        }
        if let Some(kind) = filter.kind {
            strings.push(kind.as_str().to_string());
            conds.push(format!("kind = ${}", strings.len()));
        }
        if let Some(author) = &filter.author {
            strings.push(author.clone());
            conds.push(format!("author = ${}", strings.len()));
        }
        let n = strings.len();
        if filter.before_id.is_some() {
            conds.push(format!("id < ${}", n + 1));
        }
        let limit_p = n + 1 + usize::from(filter.before_id.is_some());
        let where_ = if conds.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conds.join(" AND "))
        };
        let sql = format!(
            "SELECT {REQUEST_COLS} FROM change_requests {where_} ORDER BY id DESC LIMIT ${limit_p}"
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for s in strings {
            q = q.bind(s);
        }
        if let Some(before) = filter.before_id {
            q = q.bind(before);
        }
        let rows = q
            .bind(i64::from(limit))
            .fetch_all(self.store.pool())
            .await?;
        rows.iter().map(request_from_row).collect()
    }

    /// A request's state changes, oldest first.
    pub async fn history(&self, id: i64) -> Result<Vec<ChangeEvent>> {
        let rows = sqlx::query(
            "SELECT request_id, from_state, to_state, actor, reason, at FROM change_events \
             WHERE request_id = $1 ORDER BY id",
        )
        .bind(id)
        .fetch_all(self.store.pool())
        .await?;
        rows.iter()
            .map(|row| {
                let state = |s: String| {
                    ChangeState::parse(&s)
                        .ok_or_else(|| ChangeError::Corrupt(format!("an event's state `{s}`")))
                };
                Ok(ChangeEvent {
                    request_id: row.try_get("request_id")?,
                    from_state: row
                        .try_get::<Option<String>, _>("from_state")?
                        .map(state)
                        .transpose()?,
                    to_state: state(row.try_get("to_state")?)?,
                    actor: row.try_get("actor")?,
                    reason: row.try_get("reason")?,
                    at: row.try_get("at")?,
                })
            })
            .collect()
    }
}

fn require_actor(actor: &str) -> Result<()> {
    if actor.trim().is_empty() {
        return Err(ChangeError::Invalid("the acting user must be named".into()));
    }
    Ok(())
}

fn expect_pending(request: &ChangeRequest, action: &'static str) -> Result<()> {
    if request.state == ChangeState::Pending {
        Ok(())
    } else {
        Err(ChangeError::Conflict {
            id: request.id,
            action,
            current_state: request.state,
        })
    }
}

fn refuse_self_review(request: &ChangeRequest, reviewer: &str, action: &'static str) -> Result<()> {
    if request.author.trim() == reviewer.trim() {
        return Err(ChangeError::SelfApproval {
            id: request.id,
            user: reviewer.to_string(),
            action,
        });
    }
    Ok(())
}

/// The audit entry of a transition of `request` by `actor`.
fn audit_entry(request: &ChangeRequest, action: AuditAction, actor: &str) -> NewEntry {
    let change = serde_json::to_value(&request.change).expect("a ChangeKind serialises");
    NewEntry::new(actor, action, format!("change-request/{}", request.id)).detail(
        serde_json::json!({
            "kind": change["kind"],
            "payload": change["payload"],
            "author": request.author,
            "state": request.state,
            "reason": request.reason,
        }),
    )
}

/// Locks the request's row (on PostgreSQL; SQLite's write transaction holds
/// the database) and reads it.
async fn lock(conn: &mut AnyConnection, id: i64) -> Result<ChangeRequest> {
    let done = sqlx::query("UPDATE change_requests SET updated_at = updated_at WHERE id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    if done.rows_affected() != 1 {
        return Err(ChangeError::NotFound(id));
    }
    fetch(conn, id).await
}

async fn fetch(conn: &mut AnyConnection, id: i64) -> Result<ChangeRequest> {
    let row = sqlx::query(AssertSqlSafe(format!(
        "SELECT {REQUEST_COLS} FROM change_requests WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(ChangeError::NotFound(id))?;
    request_from_row(&row)
}

async fn insert_event(
    conn: &mut AnyConnection,
    id: i64,
    from: Option<ChangeState>,
    to: ChangeState,
    actor: &str,
    reason: Option<&str>,
    at: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO change_events (request_id, from_state, to_state, actor, reason, at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id)
    .bind(from.map(ChangeState::as_str))
    .bind(to.as_str())
    .bind(actor)
    .bind(reason)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

fn request_from_row(row: &AnyRow) -> Result<ChangeRequest> {
    let id: i64 = row.try_get("id")?;
    let kind: String = row.try_get("kind")?;
    let payload: String = row.try_get("payload")?;
    let change = ChangeKind::from_stored(&kind, &payload)
        .map_err(|e| ChangeError::Corrupt(format!("request #{id}: {e}")))?;
    let state: String = row.try_get("state")?;
    let state = ChangeState::parse(&state)
        .ok_or_else(|| ChangeError::Corrupt(format!("request #{id}: state `{state}`")))?;
    Ok(ChangeRequest {
        id,
        change,
        state,
        author: row.try_get("author")?,
        created_at: row.try_get("created_at")?,
        reviewer: row.try_get("reviewer")?,
        reviewed_at: row.try_get("reviewed_at")?,
        reason: row.try_get("reason")?,
        applied_at: row.try_get("applied_at")?,
    })
}

#[cfg(test)]
mod tests;
