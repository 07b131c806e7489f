//! The app registry: which versions of which apps exist, and which one of
//! each app is live. Its state lives in the platform store
//! ([`zhiyun_store::Store`], tables `department_keys`, `apps`,
//! `app_versions`, `app_events`).
//!
//! # Version states
//!
//! ```text
//!            submit                 approve
//!   (none) ─────────▶ submitted ─────────────▶ published ◀──── resume ──── suspended
//!                         │                      │   │  └──── suspend ────────▶ │
//!                  reject │        a newer approval   │ offline                  │ offline
//!                         ▼        or a rollback ▼   ▼                          ▼
//!                     rejected              superseded   offline ◀──────────────┘
//!                                               │          │
//!                                               └─ rollback ┴──▶ published
//! ```
//!
//! - `submitted`: waiting for review. `rejected`: refused, with a reason.
//! - `published`: the live version; at most one per app (a unique index
//!   enforces it together with `suspended`).
//! - `suspended`: live, but switched off by an administrator; launching
//!   refuses it (the running instances are not touched: it takes effect on
//!   the next launch). `resume` publishes it again.
//! - `superseded`: was approved and live, then replaced by a newer approval
//!   or a rollback. `offline` (下架): withdrawn by an administrator.
//! - `rollback` publishes a `superseded` or `offline` version again; the
//!   current live version, if any, becomes `superseded`.
//!
//! A reviewer may not approve or reject their own submission, nor approve a
//! version older than the live one. Every change
//! is one transaction that also writes a row to `app_events` (the history),
//! and every change to one app takes that app's row lock first (SQLite: the
//! write lock), so concurrent changes to an app are serialised and each sees
//! the state the previous one left.
//!
//! # Versions
//!
//! A new version of an app must be strictly greater, in semver order, than
//! every version of that app the registry has ever seen, whatever its state
//! (a rejected 0.2.0 still blocks another 0.2.0: a version number names one
//! package forever). Pre-release versions are accepted and ordered as semver
//! orders them (`0.2.0-rc.1 < 0.2.0-rc.2 < 0.2.0`); the ordering is done in
//! Rust with [`semver::Version`]'s `Ord`, the `v_major/v_minor/v_patch/v_pre`
//! columns are there for people reading the tables. Build metadata is refused
//! by the manifest parser. The kind of an app is fixed by its first version.
//!
//! # Signatures
//!
//! A package is accepted only if signed (see [`crate::signing`]) by a
//! registered, unrevoked key of the department its manifest names.

use crate::manifest::{HostLimits, Manifest};
use crate::package::{Package, PackageError};
use crate::signing;
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use zhiyun_contract::AppKind;
use zhiyun_store::{Store, StoreError, now_micros};

/// The state of one version of an app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VersionState {
    Submitted,
    Rejected,
    Published,
    Suspended,
    Superseded,
    Offline,
}

impl VersionState {
    pub const ALL: [VersionState; 6] = [
        VersionState::Submitted,
        VersionState::Rejected,
        VersionState::Published,
        VersionState::Suspended,
        VersionState::Superseded,
        VersionState::Offline,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            VersionState::Submitted => "submitted",
            VersionState::Rejected => "rejected",
            VersionState::Published => "published",
            VersionState::Suspended => "suspended",
            VersionState::Superseded => "superseded",
            VersionState::Offline => "offline",
        }
    }

    pub fn parse(s: &str) -> Option<VersionState> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// Published or suspended: the app's current version.
    pub fn is_live(self) -> bool {
        matches!(self, VersionState::Published | VersionState::Suspended)
    }
}

impl fmt::Display for VersionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One version of an app, without its package bytes.
#[derive(Debug, Clone, Serialize)]
pub struct VersionRecord {
    pub app_id: String,
    pub version: semver::Version,
    pub kind: AppKind,
    pub state: VersionState,
    pub component_sha256: String,
    pub manifest: Manifest,
    pub manifest_text: String,
    /// Size of the package file in bytes.
    pub size: u64,
    pub signer_key_id: String,
    pub submitted_by: String,
    /// Microseconds since the Unix epoch, UTC (as every time here).
    pub submitted_at: i64,
    /// Who approved or rejected it, when and why.
    pub reviewed_by: Option<String>,
    pub reviewed_at: Option<i64>,
    pub reason: Option<String>,
    /// Who made the last state change (submit, review, suspend, …), when,
    /// and the reason given.
    pub state_changed_by: String,
    pub state_changed_at: i64,
    pub state_reason: Option<String>,
    /// The runtime's `ComponentInfo` (imports and exports) as JSON.
    pub component_info: serde_json::Value,
    /// The trial run made at submission, as JSON.
    pub trial: serde_json::Value,
}

/// An app and its versions at a glance.
#[derive(Debug, Clone, Serialize)]
pub struct AppSummary {
    pub app_id: String,
    pub kind: AppKind,
    /// From the live version's manifest, or the latest version's if none is
    /// live.
    pub name: crate::manifest::AppName,
    pub department: String,
    /// The published or suspended version.
    pub live: Option<VersionRecord>,
    pub latest_version: semver::Version,
    pub latest_state: VersionState,
}

/// One state change in an app's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppEvent {
    pub app_id: String,
    pub version: semver::Version,
    /// `None` for the submission.
    pub from_state: Option<VersionState>,
    pub to_state: VersionState,
    pub actor: String,
    pub reason: Option<String>,
    pub at: i64,
}

/// One manifest field that differs, as a dotted path into the manifest's
/// JSON (`limits.timeout_ms`, `parameters[1].kind.type`); `null` where the
/// field is absent on one side.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldChange {
    pub field: String,
    pub old: serde_json::Value,
    pub new: serde_json::Value,
}

/// How a version differs from the live one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ManifestDiff {
    pub fields: Vec<FieldChange>,
    /// Import names (`component_info.imports[].name`) the new version adds.
    pub imports_added: Vec<String>,
    pub imports_removed: Vec<String>,
}

/// What a reviewer looks at.
#[derive(Debug, Clone, Serialize)]
pub struct Review {
    pub version: VersionRecord,
    /// The live version, if the app has one.
    pub live: Option<VersionRecord>,
    /// The difference from the live version; `None` if there is no live
    /// version or it is the version under review.
    pub diff: Option<ManifestDiff>,
}

/// A registered department key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DepartmentKey {
    pub key_id: String,
    pub department: String,
    /// Base64 of the 32-byte ed25519 public key.
    pub public_key: String,
    pub registered_by: String,
    pub registered_at: i64,
    pub revoked_at: Option<i64>,
}

/// Why a registry operation was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// What is missing, e.g. "app `fund-position`".
    #[error("{0} not found")]
    NotFound(String),
    /// The operation does not fit the current state (HTTP 409).
    #[error("{message}")]
    Conflict {
        message: String,
        current_state: Option<VersionState>,
    },
    #[error("{0}")]
    SelfApproval(String),
    #[error(
        "the package is not signed; sign it with your department's key (zhiyun app pack --key <secret key file>)"
    )]
    Unsigned,
    /// The key id the package names.
    #[error(
        "the package is signed with the key `{0}`, which is not registered or has been revoked; an administrator must register the department's public key first"
    )]
    UnknownKey(String),
    #[error("the package's signature is not valid: {0}")]
    BadSignature(String),
    #[error("{0}")]
    Invalid(String),
    /// Stored data that no longer reads back (a damaged database or a
    /// package that no longer verifies); a server error, not the caller's.
    #[error("the registry's stored data is damaged: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for RegistryError {
    fn from(e: sqlx::Error) -> Self {
        RegistryError::Store(StoreError::Database(e))
    }
}

type Result<T, E = RegistryError> = std::result::Result<T, E>;

/// The columns of a [`VersionRecord`], in the order [`record_from_row`]
/// reads them (by name).
macro_rules! version_cols {
    () => {
        "app_id, version, kind, state, component_sha256, manifest_text, size, signer_key_id, \
         submitted_by, submitted_at, reviewed_by, reviewed_at, reason, changed_by, changed_at, \
         change_reason, component_info_json, trial_json"
    };
}

/// The registry. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Registry {
    store: Store,
}

impl Registry {
    pub fn new(store: Store) -> Self {
        Registry { store }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    // ---- keys ------------------------------------------------------------

    /// Registers a department's public key. Registering the same key again
    /// is a no-op; a key id already used for another key (or department) is
    /// a conflict, and so is re-registering a revoked key.
    pub async fn register_key(
        &self,
        key_id: &str,
        department: &str,
        public_key: &[u8; 32],
        actor: &str,
    ) -> Result<()> {
        signing::check_key_id(key_id).map_err(|m| RegistryError::Invalid(format!("key id {m}")))?;
        if department.trim().is_empty() || department != department.trim() {
            return Err(RegistryError::Invalid(format!(
                "department `{department}` must be non-empty without leading or trailing spaces"
            )));
        }
        require_actor(actor)?;
        match ed25519_dalek::VerifyingKey::from_bytes(public_key) {
            Ok(k) if !k.is_weak() => {}
            _ => {
                return Err(RegistryError::Invalid(
                    "the public key is not a valid ed25519 public key".into(),
                ));
            }
        }
        let mut tx = self.store.begin_write().await?;
        if let Some(existing) = fetch_key(&mut tx, key_id).await? {
            return same_key(&existing, department, public_key);
        }
        let inserted = sqlx::query(
            "INSERT INTO department_keys (key_id, department, public_key, registered_by, registered_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(key_id)
        .bind(department)
        .bind(&public_key[..])
        .bind(actor)
        .bind(now_micros())
        .execute(&mut *tx)
        .await;
        match inserted {
            Ok(_) => {
                tx.commit().await?;
                Ok(())
            }
            Err(e) if is_unique_violation(&e) => {
                // Registered concurrently: judge against what won.
                drop(tx);
                let mut conn = self.store.pool().acquire().await?;
                match fetch_key(&mut conn, key_id).await? {
                    Some(existing) => same_key(&existing, department, public_key),
                    None => Err(e.into()),
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Revokes a key: packages signed with it are no longer accepted
    /// (versions already submitted keep their state).
    pub async fn revoke_key(&self, key_id: &str, actor: &str) -> Result<DepartmentKey> {
        require_actor(actor)?;
        let mut tx = self.store.begin_write().await?;
        let key = fetch_key(&mut tx, key_id)
            .await?
            .ok_or_else(|| RegistryError::NotFound(format!("key `{key_id}`")))?;
        if key.revoked_at.is_none() {
            sqlx::query("UPDATE department_keys SET revoked_at = $2 WHERE key_id = $1")
                .bind(key_id)
                .bind(now_micros())
                .execute(&mut *tx)
                .await?;
        }
        let row = sqlx::query(
            "SELECT key_id, department, public_key, registered_by, registered_at, revoked_at \
             FROM department_keys WHERE key_id = $1",
        )
        .bind(key_id)
        .fetch_one(&mut *tx)
        .await?;
        let key = key_from_row(&row)?;
        tx.commit().await?;
        Ok(key)
    }

    /// All registered keys, by key id.
    pub async fn keys(&self) -> Result<Vec<DepartmentKey>> {
        let rows = sqlx::query(
            "SELECT key_id, department, public_key, registered_by, registered_at, revoked_at \
             FROM department_keys ORDER BY key_id",
        )
        .fetch_all(self.store.pool())
        .await?;
        rows.iter().map(key_from_row).collect()
    }

    /// Checks the package's signature against the registered key; returns
    /// the key's department, which must be the manifest's.
    pub async fn verify_signature(&self, package: &Package) -> Result<String> {
        let mut conn = self.store.pool().acquire().await?;
        verify_signature_in(&mut conn, package).await
    }

    // ---- submission ------------------------------------------------------

    /// Checks that the manifest's version could be submitted now: strictly
    /// greater than every version of the app, and of the app's kind.
    pub async fn check_new_version(&self, manifest: &Manifest) -> Result<()> {
        let mut conn = self.store.pool().acquire().await?;
        check_new_version_in(&mut conn, manifest).await
    }

    /// Registers a new version in state `submitted`. `package` must be
    /// `Package::from_bytes(package_bytes)`. The signature and the version
    /// are checked again inside the transaction; of two concurrent
    /// submissions of the same version exactly one succeeds, the other gets
    /// a conflict and leaves nothing behind.
    pub async fn submit(
        &self,
        package_bytes: &[u8],
        package: &Package,
        submitter: &str,
        component_info: serde_json::Value,
        trial: serde_json::Value,
    ) -> Result<VersionRecord> {
        let mut tx = self.store.begin_write().await?;
        let record = self
            .submit_in(
                &mut tx,
                package_bytes,
                package,
                submitter,
                component_info,
                trial,
            )
            .await?;
        tx.commit().await?;
        Ok(record)
    }

    /// [`Registry::submit`] inside the caller's write transaction (so the
    /// server files the version's change request in the same commit).
    pub async fn submit_in(
        &self,
        tx: &mut AnyConnection,
        package_bytes: &[u8],
        package: &Package,
        submitter: &str,
        component_info: serde_json::Value,
        trial: serde_json::Value,
    ) -> Result<VersionRecord> {
        require_actor(submitter)?;
        let manifest = package.manifest();
        let id = manifest.id.as_str();
        let version = &manifest.version;
        let manifest_json = serde_json::to_string(manifest)
            .map_err(|e| RegistryError::Invalid(format!("the manifest does not serialise: {e}")))?;
        let now = now_micros();
        let key_id = package.signature().map(|(k, _)| k.to_string());
        verify_signature_in(tx, package).await?;
        sqlx::query(
            "INSERT INTO apps (app_id, kind, created_at, updated_at) VALUES ($1, $2, $3, $3) \
             ON CONFLICT (app_id) DO NOTHING",
        )
        .bind(id)
        .bind(manifest.kind.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        lock_app(tx, id).await?;
        check_new_version_in(tx, manifest).await?;
        let inserted = sqlx::query(
            "INSERT INTO app_versions (app_id, version, v_major, v_minor, v_patch, v_pre, kind, state, \
             component_sha256, manifest_text, manifest_json, package, size, signer_key_id, submitted_by, \
             submitted_at, changed_by, changed_at, component_info_json, trial_json) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $15, $16, $17, $18)",
        )
        .bind(id)
        .bind(version.to_string())
        .bind(to_i64(version.major))
        .bind(to_i64(version.minor))
        .bind(to_i64(version.patch))
        .bind(version.pre.as_str())
        .bind(manifest.kind.as_str())
        .bind(VersionState::Submitted.as_str())
        .bind(package.component_sha256())
        .bind(package.manifest_text())
        .bind(manifest_json)
        .bind(package_bytes)
        .bind(to_i64(package_bytes.len() as u64))
        .bind(key_id.as_deref().unwrap_or_default())
        .bind(submitter)
        .bind(now)
        .bind(component_info.to_string())
        .bind(trial.to_string())
        .execute(&mut *tx)
        .await;
        match inserted {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => {
                return Err(RegistryError::Conflict {
                    message: format!(
                        "version {version} of {id} already exists (submitted concurrently)"
                    ),
                    current_state: None,
                });
            }
            Err(e) => return Err(e.into()),
        }
        insert_event(
            tx,
            id,
            version,
            None,
            VersionState::Submitted,
            submitter,
            None,
            now,
        )
        .await?;
        fetch_version(tx, id, version).await
    }

    // ---- review ----------------------------------------------------------

    /// Publishes a submitted version; the previously live version becomes
    /// `superseded`. The reviewer must not be the submitter, and the version
    /// must not be older than the live one (that would be a silent
    /// downgrade; [`Registry::rollback`] is the way back).
    pub async fn approve(
        &self,
        app_id: &str,
        version: &semver::Version,
        reviewer: &str,
        reason: Option<&str>,
    ) -> Result<VersionRecord> {
        let mut tx = self.store.begin_write().await?;
        let record = self
            .approve_in(&mut tx, app_id, version, reviewer, reason)
            .await?;
        tx.commit().await?;
        Ok(record)
    }

    /// [`Registry::approve`] inside the caller's write transaction (the
    /// change-request engine's, so that the approval of the request and the
    /// publication are one commit).
    pub async fn approve_in(
        &self,
        tx: &mut AnyConnection,
        app_id: &str,
        version: &semver::Version,
        reviewer: &str,
        reason: Option<&str>,
    ) -> Result<VersionRecord> {
        require_actor(reviewer)?;
        let reason = reason.map(str::trim).filter(|r| !r.is_empty());
        lock_existing_app(tx, app_id).await?;
        let record = fetch_version(tx, app_id, version).await?;
        expect_state(&record, &[VersionState::Submitted], "approve")?;
        refuse_self_review(&record, reviewer, "approve")?;
        let now = now_micros();
        if let Some(live) = live_version(tx, app_id).await? {
            if live.version > *version {
                return Err(RegistryError::Conflict {
                    message: format!(
                        "cannot approve version {version} of {app_id}: the live version {} is newer \
                         (reject this one; to go back to an older approved version, roll back)",
                        live.version
                    ),
                    current_state: Some(live.state),
                });
            }
            let why = format!("superseded by {version}");
            transition(
                tx,
                &live,
                VersionState::Superseded,
                reviewer,
                Some(&why),
                now,
                false,
            )
            .await?;
        }
        transition(
            tx,
            &record,
            VersionState::Published,
            reviewer,
            reason,
            now,
            true,
        )
        .await?;
        fetch_version(tx, app_id, version).await
    }

    /// Rejects a submitted version, with a reason. The reviewer must not be
    /// the submitter.
    pub async fn reject(
        &self,
        app_id: &str,
        version: &semver::Version,
        reviewer: &str,
        reason: &str,
    ) -> Result<VersionRecord> {
        let mut tx = self.store.begin_write().await?;
        let record = self
            .reject_in(&mut tx, app_id, version, reviewer, reason)
            .await?;
        tx.commit().await?;
        Ok(record)
    }

    /// [`Registry::reject`] inside the caller's write transaction.
    pub async fn reject_in(
        &self,
        tx: &mut AnyConnection,
        app_id: &str,
        version: &semver::Version,
        reviewer: &str,
        reason: &str,
    ) -> Result<VersionRecord> {
        require_actor(reviewer)?;
        let reason = require_reason(reason, "a rejection")?;
        lock_existing_app(tx, app_id).await?;
        let record = fetch_version(tx, app_id, version).await?;
        expect_state(&record, &[VersionState::Submitted], "reject")?;
        refuse_self_review(&record, reviewer, "reject")?;
        transition(
            tx,
            &record,
            VersionState::Rejected,
            reviewer,
            Some(reason),
            now_micros(),
            true,
        )
        .await?;
        fetch_version(tx, app_id, version).await
    }

    // ---- operations on the live version -----------------------------------

    /// Switches the published version off (launches are refused until
    /// [`Registry::resume`]).
    pub async fn suspend(&self, app_id: &str, actor: &str, reason: &str) -> Result<VersionRecord> {
        require_actor(actor)?;
        let reason = require_reason(reason, "a suspension")?;
        self.change_live(
            app_id,
            &[VersionState::Published],
            VersionState::Suspended,
            actor,
            Some(reason),
            "suspend",
        )
        .await
    }

    /// Publishes the suspended version again.
    pub async fn resume(&self, app_id: &str, actor: &str) -> Result<VersionRecord> {
        require_actor(actor)?;
        self.change_live(
            app_id,
            &[VersionState::Suspended],
            VersionState::Published,
            actor,
            None,
            "resume",
        )
        .await
    }

    /// Withdraws the live (published or suspended) version (下架).
    pub async fn offline(&self, app_id: &str, actor: &str, reason: &str) -> Result<VersionRecord> {
        require_actor(actor)?;
        let reason = require_reason(reason, "taking an app offline")?;
        self.change_live(
            app_id,
            &[VersionState::Published, VersionState::Suspended],
            VersionState::Offline,
            actor,
            Some(reason),
            "take offline",
        )
        .await
    }

    async fn change_live(
        &self,
        app_id: &str,
        from: &[VersionState],
        to: VersionState,
        actor: &str,
        reason: Option<&str>,
        action: &str,
    ) -> Result<VersionRecord> {
        let mut tx = self.store.begin_write().await?;
        lock_existing_app(&mut tx, app_id).await?;
        let live = live_version(&mut tx, app_id).await?;
        let record = match live {
            Some(live) if from.contains(&live.state) => live,
            Some(live) => {
                return Err(RegistryError::Conflict {
                    message: format!(
                        "cannot {action} {app_id}: its live version {} is {}",
                        live.version, live.state
                    ),
                    current_state: Some(live.state),
                });
            }
            None => {
                let latest = latest_version(&mut tx, app_id).await?;
                return Err(RegistryError::Conflict {
                    message: format!(
                        "cannot {action} {app_id}: it has no live version{}",
                        latest
                            .as_ref()
                            .map(|l| format!(" (latest: {} is {})", l.version, l.state))
                            .unwrap_or_default()
                    ),
                    current_state: latest.map(|l| l.state),
                });
            }
        };
        transition(&mut tx, &record, to, actor, reason, now_micros(), false).await?;
        let record = fetch_version(&mut tx, app_id, &record.version).await?;
        tx.commit().await?;
        Ok(record)
    }

    /// Publishes an earlier version again (one that is `superseded` or
    /// `offline`); the current live version, if any, becomes `superseded`.
    pub async fn rollback(
        &self,
        app_id: &str,
        to: &semver::Version,
        actor: &str,
        reason: &str,
    ) -> Result<VersionRecord> {
        require_actor(actor)?;
        let reason = require_reason(reason, "a rollback")?;
        let mut tx = self.store.begin_write().await?;
        lock_existing_app(&mut tx, app_id).await?;
        let target = fetch_version(&mut tx, app_id, to).await?;
        expect_state(
            &target,
            &[VersionState::Superseded, VersionState::Offline],
            "roll back to",
        )?;
        let now = now_micros();
        if let Some(live) = live_version(&mut tx, app_id).await? {
            let why = format!("rolled back to {to}: {reason}");
            transition(
                &mut tx,
                &live,
                VersionState::Superseded,
                actor,
                Some(&why),
                now,
                false,
            )
            .await?;
        }
        transition(
            &mut tx,
            &target,
            VersionState::Published,
            actor,
            Some(reason),
            now,
            false,
        )
        .await?;
        let record = fetch_version(&mut tx, app_id, to).await?;
        tx.commit().await?;
        Ok(record)
    }

    // ---- reading -----------------------------------------------------------

    /// Every app, by id.
    pub async fn apps(&self) -> Result<Vec<AppSummary>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            version_cols!(),
            " FROM app_versions ORDER BY app_id"
        ))
        .fetch_all(self.store.pool())
        .await?;
        let mut by_app: BTreeMap<String, Vec<VersionRecord>> = BTreeMap::new();
        for row in &rows {
            let r = record_from_row(row)?;
            by_app.entry(r.app_id.clone()).or_default().push(r);
        }
        Ok(by_app
            .into_iter()
            .filter_map(|(app_id, versions)| {
                let latest = versions
                    .iter()
                    .max_by(|a, b| a.version.cmp(&b.version))?
                    .clone();
                let live = versions.into_iter().find(|v| v.state.is_live());
                let source = live.as_ref().unwrap_or(&latest);
                Some(AppSummary {
                    app_id,
                    kind: latest.kind,
                    name: source.manifest.name.clone(),
                    department: source.manifest.department.clone(),
                    latest_version: latest.version.clone(),
                    latest_state: latest.state,
                    live,
                })
            })
            .collect())
    }

    /// The versions of an app, newest first.
    pub async fn versions(&self, app_id: &str) -> Result<Vec<VersionRecord>> {
        let mut conn = self.store.pool().acquire().await?;
        let versions = versions_of(&mut conn, app_id).await?;
        if versions.is_empty() {
            return Err(RegistryError::NotFound(format!("app `{app_id}`")));
        }
        Ok(versions)
    }

    pub async fn version(&self, app_id: &str, version: &semver::Version) -> Result<VersionRecord> {
        let mut conn = self.store.pool().acquire().await?;
        fetch_version(&mut conn, app_id, version).await
    }

    /// The package file of a version, as submitted.
    pub async fn package(&self, app_id: &str, version: &semver::Version) -> Result<Vec<u8>> {
        let bytes: Option<Vec<u8>> = sqlx::query_scalar(
            "SELECT package FROM app_versions WHERE app_id = $1 AND version = $2",
        )
        .bind(app_id)
        .bind(version.to_string())
        .fetch_optional(self.store.pool())
        .await?;
        bytes.ok_or_else(|| version_not_found(app_id, version))
    }

    /// A version, the live version, and how they differ.
    pub async fn review(&self, app_id: &str, version: &semver::Version) -> Result<Review> {
        let mut conn = self.store.pool().acquire().await?;
        let record = fetch_version(&mut conn, app_id, version).await?;
        let live = live_version(&mut conn, app_id).await?;
        let diff = match &live {
            Some(live) if live.version != record.version => Some(diff(live, &record)),
            _ => None,
        };
        Ok(Review {
            version: record,
            live,
            diff,
        })
    }

    /// An app's state changes, oldest first.
    pub async fn history(&self, app_id: &str) -> Result<Vec<AppEvent>> {
        let mut conn = self.store.pool().acquire().await?;
        if !app_exists(&mut conn, app_id).await? {
            return Err(RegistryError::NotFound(format!("app `{app_id}`")));
        }
        let rows = sqlx::query(
            "SELECT app_id, version, from_state, to_state, actor, reason, at FROM app_events \
             WHERE app_id = $1 ORDER BY id",
        )
        .bind(app_id)
        .fetch_all(&mut *conn)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(AppEvent {
                    app_id: row.try_get("app_id")?,
                    version: parse_version(&row.try_get::<String, _>("version")?)?,
                    from_state: row
                        .try_get::<Option<String>, _>("from_state")?
                        .map(|s| parse_state(&s))
                        .transpose()?,
                    to_state: parse_state(&row.try_get::<String, _>("to_state")?)?,
                    actor: row.try_get("actor")?,
                    reason: row.try_get("reason")?,
                    at: row.try_get("at")?,
                })
            })
            .collect()
    }

    /// Versions waiting for review, oldest submission first.
    pub async fn pending(&self) -> Result<Vec<VersionRecord>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            version_cols!(),
            " FROM app_versions WHERE state = 'submitted' ORDER BY submitted_at, app_id, version"
        ))
        .fetch_all(self.store.pool())
        .await?;
        rows.iter().map(record_from_row).collect()
    }

    /// The live version, only if it is `published`; otherwise a conflict
    /// naming the state ("fund-position is suspended").
    pub async fn live(&self, app_id: &str) -> Result<VersionRecord> {
        let mut conn = self.store.pool().acquire().await?;
        if !app_exists(&mut conn, app_id).await? {
            return Err(RegistryError::NotFound(format!("app `{app_id}`")));
        }
        match live_version(&mut conn, app_id).await? {
            Some(live) if live.state == VersionState::Published => Ok(live),
            Some(live) => Err(RegistryError::Conflict {
                message: format!("{app_id} is {} (version {})", live.state, live.version),
                current_state: Some(live.state),
            }),
            None => {
                let latest = latest_version(&mut conn, app_id).await?;
                Err(RegistryError::Conflict {
                    message: match &latest {
                        Some(l) if l.state == VersionState::Offline => {
                            format!("{app_id} is offline")
                        }
                        Some(l) => format!(
                            "{app_id} has no published version (latest: {} is {})",
                            l.version, l.state
                        ),
                        None => format!("{app_id} has no published version"),
                    },
                    current_state: latest.map(|l| l.state),
                })
            }
        }
    }

    /// The cheap launch-time check: the published version's number and
    /// component sha256, in one indexed query, or `None` if no version is
    /// published (then [`Registry::live`] says why). Lets a host reuse the
    /// record it already holds for that exact version.
    pub async fn published_marker(&self, app_id: &str) -> Result<Option<(String, String)>> {
        let row = sqlx::query(
            "SELECT version, component_sha256 FROM app_versions \
             WHERE app_id = $1 AND state = 'published'",
        )
        .bind(app_id)
        .fetch_optional(self.store.pool())
        .await?;
        row.map(|r| Ok((r.try_get("version")?, r.try_get("component_sha256")?)))
            .transpose()
    }

    /// The live version and its component bytes, only if `published`; else
    /// a conflict with the current state ("fund-position is suspended").
    pub async fn launchable(&self, app_id: &str) -> Result<(VersionRecord, Vec<u8>)> {
        let live = self.live(app_id).await?;
        let bytes = self.package(app_id, &live.version).await?;
        let package = Package::from_bytes(&bytes).map_err(|e: PackageError| {
            RegistryError::Corrupt(format!(
                "the stored package of {app_id} {} does not verify: {e}",
                live.version
            ))
        })?;
        if package.component_sha256() != live.component_sha256 {
            return Err(RegistryError::Corrupt(format!(
                "the stored package of {app_id} {} holds a component with sha256 {}, not the approved {}",
                live.version,
                package.component_sha256(),
                live.component_sha256
            )));
        }
        Ok((live, package.into_component()))
    }

    /// True only if some version with this component sha256 is published.
    pub async fn is_approved(&self, component_sha256: &str) -> Result<bool> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM app_versions WHERE component_sha256 = $1 AND state = 'published'",
        )
        .bind(component_sha256)
        .fetch_one(self.store.pool())
        .await?;
        Ok(n > 0)
    }
}

// ---- helpers (all take a connection, which may be a transaction's) -------

fn require_actor(actor: &str) -> Result<()> {
    if actor.trim().is_empty() {
        return Err(RegistryError::Invalid(
            "the acting user must be named".into(),
        ));
    }
    Ok(())
}

fn require_reason<'a>(reason: &'a str, what: &str) -> Result<&'a str> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(RegistryError::Invalid(format!("{what} needs a reason")));
    }
    Ok(reason)
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

fn version_not_found(app_id: &str, version: &semver::Version) -> RegistryError {
    RegistryError::NotFound(format!("version {version} of app `{app_id}`"))
}

fn parse_version(s: &str) -> Result<semver::Version> {
    semver::Version::parse(s)
        .map_err(|e| RegistryError::Corrupt(format!("stored version `{s}` is not semver: {e}")))
}

fn parse_state(s: &str) -> Result<VersionState> {
    VersionState::parse(s)
        .ok_or_else(|| RegistryError::Corrupt(format!("unknown stored state `{s}`")))
}

fn parse_json(s: &str, what: &str) -> Result<serde_json::Value> {
    serde_json::from_str(s)
        .map_err(|e| RegistryError::Corrupt(format!("stored {what} is not JSON: {e}")))
}

/// No limit a stored manifest could exceed: it was validated when it was
/// submitted, and the host's limits may have changed since.
const STORED_MANIFEST_LIMITS: HostLimits = HostLimits {
    timeout_ms: u64::MAX,
    memory_mb: u64::MAX,
    max_output_kb: u64::MAX,
    max_rows: u64::MAX,
};

fn record_from_row(row: &AnyRow) -> Result<VersionRecord> {
    let app_id: String = row.try_get("app_id")?;
    let manifest_text: String = row.try_get("manifest_text")?;
    let manifest = Manifest::parse_with_limits(
        &manifest_text,
        &format!("app.toml (stored, {app_id})"),
        &STORED_MANIFEST_LIMITS,
    )
    .map_err(|e| RegistryError::Corrupt(e.to_string()))?;
    let kind: String = row.try_get("kind")?;
    Ok(VersionRecord {
        version: parse_version(&row.try_get::<String, _>("version")?)?,
        kind: AppKind::parse(&kind)
            .ok_or_else(|| RegistryError::Corrupt(format!("unknown stored kind `{kind}`")))?,
        state: parse_state(&row.try_get::<String, _>("state")?)?,
        component_sha256: row.try_get("component_sha256")?,
        manifest,
        manifest_text,
        size: u64::try_from(row.try_get::<i64, _>("size")?).unwrap_or(0),
        signer_key_id: row.try_get("signer_key_id")?,
        submitted_by: row.try_get("submitted_by")?,
        submitted_at: row.try_get("submitted_at")?,
        reviewed_by: row.try_get("reviewed_by")?,
        reviewed_at: row.try_get("reviewed_at")?,
        reason: row.try_get("reason")?,
        state_changed_by: row.try_get("changed_by")?,
        state_changed_at: row.try_get("changed_at")?,
        state_reason: row.try_get("change_reason")?,
        component_info: parse_json(
            &row.try_get::<String, _>("component_info_json")?,
            "component info",
        )?,
        trial: parse_json(&row.try_get::<String, _>("trial_json")?, "trial")?,
        app_id,
    })
}

fn key_from_row(row: &AnyRow) -> Result<DepartmentKey> {
    use base64::Engine as _;
    let public: Vec<u8> = row.try_get("public_key")?;
    Ok(DepartmentKey {
        key_id: row.try_get("key_id")?,
        department: row.try_get("department")?,
        public_key: base64::engine::general_purpose::STANDARD.encode(public),
        registered_by: row.try_get("registered_by")?,
        registered_at: row.try_get("registered_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

struct StoredKey {
    department: String,
    public_key: Vec<u8>,
    revoked_at: Option<i64>,
}

async fn fetch_key(conn: &mut AnyConnection, key_id: &str) -> Result<Option<StoredKey>> {
    let row = sqlx::query(
        "SELECT department, public_key, revoked_at FROM department_keys WHERE key_id = $1",
    )
    .bind(key_id)
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|row| {
        Ok(StoredKey {
            department: row.try_get("department")?,
            public_key: row.try_get("public_key")?,
            revoked_at: row.try_get("revoked_at")?,
        })
    })
    .transpose()
}

fn same_key(existing: &StoredKey, department: &str, public_key: &[u8; 32]) -> Result<()> {
    if existing.public_key != public_key[..] || existing.department != department {
        return Err(RegistryError::Conflict {
            message: format!(
                "a different key is already registered under this key id (department {}); choose another key id",
                existing.department
            ),
            current_state: None,
        });
    }
    if existing.revoked_at.is_some() {
        return Err(RegistryError::Conflict {
            message: "this key was revoked and cannot be registered again; generate a new key"
                .into(),
            current_state: None,
        });
    }
    Ok(())
}

async fn verify_signature_in(conn: &mut AnyConnection, package: &Package) -> Result<String> {
    let (key_id, signature) = package.signature().ok_or(RegistryError::Unsigned)?;
    let key = match fetch_key(conn, key_id).await? {
        Some(k) if k.revoked_at.is_none() => k,
        _ => return Err(RegistryError::UnknownKey(key_id.to_string())),
    };
    let public: [u8; 32] = key.public_key.as_slice().try_into().map_err(|_| {
        RegistryError::Corrupt(format!("the stored public key `{key_id}` is not 32 bytes"))
    })?;
    signing::verify(&public, package.sums(), &signature).map_err(RegistryError::BadSignature)?;
    let manifest_department = &package.manifest().department;
    if &key.department != manifest_department {
        return Err(RegistryError::BadSignature(format!(
            "the key `{key_id}` belongs to {}, but the manifest names the department {manifest_department}; \
             a department signs only its own apps",
            key.department
        )));
    }
    Ok(key.department)
}

async fn app_kind(conn: &mut AnyConnection, app_id: &str) -> Result<Option<AppKind>> {
    let kind: Option<String> = sqlx::query_scalar("SELECT kind FROM apps WHERE app_id = $1")
        .bind(app_id)
        .fetch_optional(&mut *conn)
        .await?;
    kind.map(|k| {
        AppKind::parse(&k)
            .ok_or_else(|| RegistryError::Corrupt(format!("unknown stored kind `{k}`")))
    })
    .transpose()
}

async fn app_exists(conn: &mut AnyConnection, app_id: &str) -> Result<bool> {
    Ok(app_kind(conn, app_id).await?.is_some())
}

/// Takes the app's row lock (PostgreSQL; on SQLite the transaction already
/// holds the write lock). Returns false if the app does not exist.
async fn lock_app(conn: &mut AnyConnection, app_id: &str) -> Result<bool> {
    let done = sqlx::query("UPDATE apps SET updated_at = $2 WHERE app_id = $1")
        .bind(app_id)
        .bind(now_micros())
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

async fn lock_existing_app(conn: &mut AnyConnection, app_id: &str) -> Result<()> {
    if lock_app(conn, app_id).await? {
        Ok(())
    } else {
        Err(RegistryError::NotFound(format!("app `{app_id}`")))
    }
}

async fn check_new_version_in(conn: &mut AnyConnection, manifest: &Manifest) -> Result<()> {
    let id = &manifest.id;
    let version = &manifest.version;
    let versions = versions_of(conn, id).await?;
    if let Some(kind) = app_kind(conn, id).await?
        && kind != manifest.kind
    {
        return Err(RegistryError::Conflict {
            message: format!(
                "{id} is a {} app; version {version} declares the kind {} (an app's kind never changes; use a new app id)",
                kind.as_str(),
                manifest.kind.as_str()
            ),
            current_state: versions.first().map(|v| v.state),
        });
    }
    if let Some(same) = versions.iter().find(|v| &v.version == version) {
        return Err(RegistryError::Conflict {
            message: format!(
                "version {version} of {id} already exists (state {})",
                same.state
            ),
            current_state: Some(same.state),
        });
    }
    if let Some(highest) = versions.first()
        && &highest.version > version
    {
        return Err(RegistryError::Conflict {
            message: format!(
                "version {version} of {id} is lower than its highest version {} (state {}); a new version must be greater",
                highest.version, highest.state
            ),
            current_state: Some(highest.state),
        });
    }
    Ok(())
}

/// All versions of an app, newest (by semver) first.
async fn versions_of(conn: &mut AnyConnection, app_id: &str) -> Result<Vec<VersionRecord>> {
    let rows = sqlx::query(concat!(
        "SELECT ",
        version_cols!(),
        " FROM app_versions WHERE app_id = $1"
    ))
    .bind(app_id)
    .fetch_all(&mut *conn)
    .await?;
    let mut versions = rows
        .iter()
        .map(record_from_row)
        .collect::<Result<Vec<_>>>()?;
    versions.sort_by(|a, b| b.version.cmp(&a.version));
    Ok(versions)
}

async fn latest_version(conn: &mut AnyConnection, app_id: &str) -> Result<Option<VersionRecord>> {
    Ok(versions_of(conn, app_id).await?.into_iter().next())
}

async fn fetch_version(
    conn: &mut AnyConnection,
    app_id: &str,
    version: &semver::Version,
) -> Result<VersionRecord> {
    let row = sqlx::query(concat!(
        "SELECT ",
        version_cols!(),
        " FROM app_versions WHERE app_id = $1 AND version = $2"
    ))
    .bind(app_id)
    .bind(version.to_string())
    .fetch_optional(&mut *conn)
    .await?;
    match row {
        Some(row) => record_from_row(&row),
        None => Err(version_not_found(app_id, version)),
    }
}

async fn live_version(conn: &mut AnyConnection, app_id: &str) -> Result<Option<VersionRecord>> {
    let row = sqlx::query(concat!(
        "SELECT ",
        version_cols!(),
        " FROM app_versions WHERE app_id = $1 AND state IN ('published', 'suspended')"
    ))
    .bind(app_id)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(record_from_row).transpose()
}

fn expect_state(record: &VersionRecord, allowed: &[VersionState], action: &str) -> Result<()> {
    if allowed.contains(&record.state) {
        return Ok(());
    }
    let allowed = allowed
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(" or ");
    Err(RegistryError::Conflict {
        message: format!(
            "cannot {action} version {} of {}: it is {} (only a {allowed} version can be)",
            record.version, record.app_id, record.state
        ),
        current_state: Some(record.state),
    })
}

fn refuse_self_review(record: &VersionRecord, reviewer: &str, action: &str) -> Result<()> {
    if record.submitted_by == reviewer {
        return Err(RegistryError::SelfApproval(format!(
            "{reviewer} submitted version {} of {} and cannot {action} it; another administrator must review it",
            record.version, record.app_id
        )));
    }
    Ok(())
}

/// Moves a version from its current state to `to` (guarded by the state
/// read, so a lost race changes nothing) and records the event. `review`
/// also records the reviewer, time and reason as the review decision.
async fn transition(
    conn: &mut AnyConnection,
    record: &VersionRecord,
    to: VersionState,
    actor: &str,
    reason: Option<&str>,
    now: i64,
    review: bool,
) -> Result<()> {
    let sql = if review {
        "UPDATE app_versions SET state = $4, changed_by = $5, changed_at = $6, change_reason = $7, \
         reviewed_by = $5, reviewed_at = $6, reason = $7 \
         WHERE app_id = $1 AND version = $2 AND state = $3"
    } else {
        "UPDATE app_versions SET state = $4, changed_by = $5, changed_at = $6, change_reason = $7 \
         WHERE app_id = $1 AND version = $2 AND state = $3"
    };
    let done = sqlx::query(sql)
        .bind(&record.app_id)
        .bind(record.version.to_string())
        .bind(record.state.as_str())
        .bind(to.as_str())
        .bind(actor)
        .bind(now)
        .bind(reason)
        .execute(&mut *conn)
        .await;
    let done = match done {
        Ok(done) => done,
        Err(e) if is_unique_violation(&e) => {
            return Err(RegistryError::Conflict {
                message: format!(
                    "{} already has a live version (changed concurrently); reload and retry",
                    record.app_id
                ),
                current_state: None,
            });
        }
        Err(e) => return Err(e.into()),
    };
    if done.rows_affected() != 1 {
        let now_state = fetch_version(conn, &record.app_id, &record.version)
            .await
            .ok()
            .map(|r| r.state);
        return Err(RegistryError::Conflict {
            message: format!(
                "version {} of {} changed concurrently (it is now {}); reload and retry",
                record.version,
                record.app_id,
                now_state.map(|s| s.as_str()).unwrap_or("gone")
            ),
            current_state: now_state,
        });
    }
    insert_event(
        conn,
        &record.app_id,
        &record.version,
        Some(record.state),
        to,
        actor,
        reason,
        now,
    )
    .await
}

#[allow(clippy::too_many_arguments)]
async fn insert_event(
    conn: &mut AnyConnection,
    app_id: &str,
    version: &semver::Version,
    from: Option<VersionState>,
    to: VersionState,
    actor: &str,
    reason: Option<&str>,
    at: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO app_events (app_id, version, from_state, to_state, actor, reason, at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(app_id)
    .bind(version.to_string())
    .bind(from.map(|s| s.as_str()))
    .bind(to.as_str())
    .bind(actor)
    .bind(reason)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

// ---- diff ------------------------------------------------------------------

/// How `new` differs from `old`: manifest fields and import names.
pub fn diff(old: &VersionRecord, new: &VersionRecord) -> ManifestDiff {
    let flat = |m: &Manifest| {
        let mut out = BTreeMap::new();
        flatten("", &serde_json::to_value(m).unwrap_or_default(), &mut out);
        out
    };
    let (old_fields, new_fields) = (flat(&old.manifest), flat(&new.manifest));
    let keys: BTreeSet<&String> = old_fields.keys().chain(new_fields.keys()).collect();
    let fields = keys
        .into_iter()
        .filter_map(|k| {
            let o = old_fields.get(k).cloned().unwrap_or_default();
            let n = new_fields.get(k).cloned().unwrap_or_default();
            (o != n).then(|| FieldChange {
                field: k.clone(),
                old: o,
                new: n,
            })
        })
        .collect();
    let (old_imports, new_imports) = (
        import_names(&old.component_info),
        import_names(&new.component_info),
    );
    ManifestDiff {
        fields,
        imports_added: new_imports.difference(&old_imports).cloned().collect(),
        imports_removed: old_imports.difference(&new_imports).cloned().collect(),
    }
}

/// `{"a": {"b": 1}, "c": [true]}` → `a.b = 1`, `c[0] = true`. Empty objects
/// and arrays are leaves.
fn flatten(prefix: &str, value: &serde_json::Value, out: &mut BTreeMap<String, serde_json::Value>) {
    match value {
        serde_json::Value::Object(map) if !map.is_empty() => {
            for (k, v) in map {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&path, v, out);
            }
        }
        serde_json::Value::Array(items) if !items.is_empty() => {
            for (i, v) in items.iter().enumerate() {
                flatten(&format!("{prefix}[{i}]"), v, out);
            }
        }
        leaf => {
            out.insert(prefix.to_string(), leaf.clone());
        }
    }
}

fn import_names(component_info: &serde_json::Value) -> BTreeSet<String> {
    component_info
        .get("imports")
        .and_then(|i| i.as_array())
        .map(|imports| {
            imports
                .iter()
                .filter_map(|i| i.get("name").and_then(|n| n.as_str()).map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}
