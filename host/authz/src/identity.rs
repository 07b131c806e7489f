//! Users, roles, posts, passwords and personal API tokens (tables `users`,
//! `roles`, `posts`, `api_tokens`).
//!
//! - A **user** belongs to one org and holds **posts**: a role in an org
//!   (its own or another). A post's data scope is its role's default unless
//!   the post overrides it.
//! - **Roles**: the seven built-in ones ([`Role`]) and custom ones
//!   ([`Identity::define_role`]). 三员分立: no account holds two of
//!   系统管理员 / 安全管理员 / 审计管理员 ([`Identity::grant_role`] refuses, and a
//!   unique index backs it against races).
//! - **Passwords** are hashed with argon2id (default parameters, PHC string
//!   stored) and must pass [`check_password_policy`]. [`Identity::authenticate`]
//!   answers the same [`AuthError::WrongCredentials`] for an unknown user and
//!   a wrong password (hashing a dummy password for unknown users so the
//!   time taken is similar), and locks the account for
//!   [`LOCKOUT_DURATION_MICROS`] after [`MAX_FAILED_ATTEMPTS`] consecutive
//!   failures; a success resets the count.
//! - **API tokens** are shown once (`zyt_<id>_<secret>`), stored as their
//!   sha256, scoped, expiring and revocable.
//!
//! Times are microseconds since the Unix epoch (the store's representation),
//! passed in as `now` so tests control the clock.

use crate::access::{PostGrant, UserCtx};
use crate::org::{self, OrgError};
use crate::policy;
use crate::scope::{DataScope, Sensitivity};
use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use std::fmt;
use std::sync::OnceLock;
use zhiyun_store::{Store, StoreError};

/// Consecutive failed logins that lock an account.
pub const MAX_FAILED_ATTEMPTS: i64 = 5;
/// How long a locked account stays locked: 15 minutes.
pub const LOCKOUT_DURATION_MICROS: i64 = 15 * 60 * 1_000_000;
/// The longest an API token may live: 366 days.
pub const MAX_TOKEN_LIFETIME_MICROS: i64 = 366 * 24 * 3600 * 1_000_000;
/// Minimum password length, in characters.
pub const MIN_PASSWORD_CHARS: usize = 10;
/// A token's `last_used_at` is rewritten when it is at least this old.
pub const TOKEN_TOUCH_INTERVAL_MICROS: i64 = 60 * 1_000_000;

/// A role. The seven built-in ones have fixed ids; a custom role is named by
/// its id (defined with [`Identity::define_role`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// 系统管理员
    SystemAdmin,
    /// 安全管理员
    SecurityAdmin,
    /// 审计管理员
    AuditAdmin,
    /// 部门开发者
    DepartmentDeveloper,
    /// 审核员
    Reviewer,
    /// 单位领导
    UnitLeader,
    /// 业务用户
    BusinessUser,
    Custom(String),
}

impl Role {
    pub const BUILTIN: [Role; 7] = [
        Role::SystemAdmin,
        Role::SecurityAdmin,
        Role::AuditAdmin,
        Role::DepartmentDeveloper,
        Role::Reviewer,
        Role::UnitLeader,
        Role::BusinessUser,
    ];

    /// The three roles of 三员分立.
    pub const ADMIN_TRIAD: [Role; 3] = [Role::SystemAdmin, Role::SecurityAdmin, Role::AuditAdmin];

    pub fn id(&self) -> &str {
        match self {
            Role::SystemAdmin => "system-admin",
            Role::SecurityAdmin => "security-admin",
            Role::AuditAdmin => "audit-admin",
            Role::DepartmentDeveloper => "developer",
            Role::Reviewer => "reviewer",
            Role::UnitLeader => "unit-leader",
            Role::BusinessUser => "business-user",
            Role::Custom(id) => id,
        }
    }

    /// The built-in role with this id, or a custom one.
    pub fn from_id(id: &str) -> Role {
        Self::BUILTIN
            .into_iter()
            .find(|r| r.id() == id)
            .unwrap_or_else(|| Role::Custom(id.to_string()))
    }

    /// The Chinese name of a built-in role (custom roles' names are stored).
    pub fn builtin_name(&self) -> Option<&'static str> {
        Some(match self {
            Role::SystemAdmin => "系统管理员",
            Role::SecurityAdmin => "安全管理员",
            Role::AuditAdmin => "审计管理员",
            Role::DepartmentDeveloper => "部门开发者",
            Role::Reviewer => "审核员",
            Role::UnitLeader => "单位领导",
            Role::BusinessUser => "业务用户",
            Role::Custom(_) => return None,
        })
    }

    pub fn is_admin_triad(&self) -> bool {
        matches!(
            self,
            Role::SystemAdmin | Role::SecurityAdmin | Role::AuditAdmin
        )
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.builtin_name() {
            Some(name) => write!(f, "{name} ({})", self.id()),
            None => f.write_str(self.id()),
        }
    }
}

/// A role's definition (a row of `roles`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleDef {
    pub role: Role,
    pub name: String,
    /// The scope of a post of this role unless the post overrides it.
    pub data_scope: DataScope,
    /// The highest column level a holder reads unmasked.
    pub max_sensitivity: Sensitivity,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UserStatus {
    Active,
    Disabled,
}

impl UserStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            UserStatus::Active => "active",
            UserStatus::Disabled => "disabled",
        }
    }
}

/// A user, without the password hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    pub username: String,
    pub display_name: String,
    pub org_id: String,
    pub status: UserStatus,
    pub failed_attempts: i64,
    pub locked_until: Option<i64>,
    pub last_login_at: Option<i64>,
    pub created_at: i64,
}

/// A post: `username` holds `role` in `org_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Post {
    pub username: String,
    pub role: Role,
    pub org_id: String,
    /// `None`: the role's default scope.
    pub data_scope: Option<DataScope>,
    pub granted_by: String,
    pub granted_at: i64,
}

/// What [`check_password_policy`] found missing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the password does not meet the policy: {}", .missing.join("; "))]
pub struct PasswordPolicyError {
    /// One human-readable item per unmet rule.
    pub missing: Vec<String>,
}

/// Why an identity operation was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("{0} not found")]
    NotFound(String),
    #[error("user `{0}` exists already")]
    UserExists(String),
    #[error(transparent)]
    PasswordPolicy(#[from] PasswordPolicyError),
    #[error(
        "三员分立: user `{username}` already holds {held}; an account may hold only one of 系统管理员, 安全管理员 and 审计管理员, so {requested} cannot be granted"
    )]
    ThreeRoleSeparation {
        username: String,
        held: Role,
        requested: Role,
    },
    #[error("{0}")]
    Invalid(String),
    #[error("stored identity data is damaged: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Org(#[from] OrgError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for IdentityError {
    fn from(e: sqlx::Error) -> Self {
        IdentityError::Store(StoreError::Database(e))
    }
}

/// Why a login failed.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Unknown user or wrong password: the caller cannot tell which.
    #[error("wrong username or password")]
    WrongCredentials,
    #[error(
        "the account is locked after repeated failed logins until {until} (µs since the epoch)"
    )]
    Locked { until: i64 },
    #[error("the account is disabled")]
    Disabled,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for AuthError {
    fn from(e: sqlx::Error) -> Self {
        AuthError::Store(StoreError::Database(e))
    }
}

/// Why an API token was refused.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Malformed or unknown.
    #[error("invalid API token")]
    Invalid,
    #[error("the API token expired at {at} (µs since the epoch)")]
    Expired { at: i64 },
    #[error("the API token was revoked at {at} (µs since the epoch)")]
    Revoked { at: i64 },
    #[error("the account that owns the token is disabled")]
    Disabled,
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for TokenError {
    fn from(e: sqlx::Error) -> Self {
        TokenError::Store(StoreError::Database(e))
    }
}

/// A token as listed (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenInfo {
    pub token_id: String,
    pub username: String,
    pub name: String,
    pub scopes: Vec<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub revoked_by: Option<String>,
}

/// Checks a password against the policy: at least [`MIN_PASSWORD_CHARS`]
/// characters, at least three of the four classes (lowercase, uppercase,
/// digit, symbol — any other character), and not containing the username
/// (case-insensitively). The error lists every unmet rule.
pub fn check_password_policy(username: &str, password: &str) -> Result<(), PasswordPolicyError> {
    let mut missing = Vec::new();
    let n = password.chars().count();
    if n < MIN_PASSWORD_CHARS {
        missing.push(format!(
            "at least {MIN_PASSWORD_CHARS} characters (has {n})"
        ));
    }
    let classes = [
        (
            "a lowercase letter",
            password.chars().any(|c| c.is_ascii_lowercase()),
        ),
        (
            "an uppercase letter",
            password.chars().any(|c| c.is_ascii_uppercase()),
        ),
        ("a digit", password.chars().any(|c| c.is_ascii_digit())),
        (
            "a symbol",
            password.chars().any(|c| !c.is_ascii_alphanumeric()),
        ),
    ];
    let have = classes.iter().filter(|(_, ok)| *ok).count();
    if have < 3 {
        let absent: Vec<&str> = classes
            .iter()
            .filter(|(_, ok)| !ok)
            .map(|(what, _)| *what)
            .collect();
        missing.push(format!(
            "at least 3 of 4 character classes (has {have}; add {})",
            absent.join(" or ")
        ));
    }
    let user = username.trim().to_lowercase();
    if !user.is_empty() && password.to_lowercase().contains(&user) {
        missing.push("must not contain the username".into());
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(PasswordPolicyError { missing })
    }
}

/// The argon2id PHC string of a password (random salt, default parameters).
pub fn hash_password(password: &str) -> String {
    Argon2::default()
        .hash_password(password.as_bytes())
        .expect("argon2 with default parameters hashes any password")
        .to_string()
}

/// Whether `password` matches a PHC string (false for a malformed one).
pub fn verify_password(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(hash) => Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok(),
        Err(_) => false,
    }
}

/// A hash to verify against when the user does not exist, so that an
/// unknown user costs the same time as a wrong password.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_password("zhiyun-dummy-password-0"))
}

/// Runs argon2 off the async workers.
async fn verify_blocking(password: &str, phc: &str) -> bool {
    let (password, phc) = (password.to_string(), phc.to_string());
    tokio::task::spawn_blocking(move || verify_password(&password, &phc))
        .await
        .unwrap_or(false)
}

async fn hash_blocking(password: &str) -> String {
    let password = password.to_string();
    tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .expect("hashing does not panic")
}

fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// A user name: 2–64 characters of ASCII letters, digits, `.`, `_`, `-`.
fn check_username(username: &str) -> Result<(), IdentityError> {
    let ok = (2..=64).contains(&username.len())
        && username
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(IdentityError::Invalid(format!(
            "user name `{username}` must be 2 to 64 ASCII letters, digits, `.`, `_` or `-`"
        )))
    }
}

/// The columns [`user_from_row`] reads.
macro_rules! user_cols {
    () => {
        "username, display_name, org_id, status, failed_attempts, locked_until, last_login_at, \
         created_at"
    };
}

fn user_from_row(row: &AnyRow) -> Result<User, sqlx::Error> {
    let status: String = row.try_get("status")?;
    Ok(User {
        username: row.try_get("username")?,
        display_name: row.try_get("display_name")?,
        org_id: row.try_get("org_id")?,
        status: if status == "active" {
            UserStatus::Active
        } else {
            UserStatus::Disabled
        },
        failed_attempts: row.try_get("failed_attempts")?,
        locked_until: row.try_get("locked_until")?,
        last_login_at: row.try_get("last_login_at")?,
        created_at: row.try_get("created_at")?,
    })
}

/// The columns [`token_from_row`] reads.
macro_rules! token_cols {
    () => {
        "token_id, username, name, scopes, created_at, expires_at, last_used_at, revoked_at, \
         revoked_by"
    };
}

fn token_from_row(row: &AnyRow) -> Result<TokenInfo, TokenError> {
    let scopes: String = row.try_get("scopes")?;
    Ok(TokenInfo {
        token_id: row.try_get("token_id")?,
        username: row.try_get("username")?,
        name: row.try_get("name")?,
        scopes: serde_json::from_str(&scopes)
            .map_err(|e| TokenError::Refused(format!("stored token scopes: {e}")))?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        last_used_at: row.try_get("last_used_at")?,
        revoked_at: row.try_get("revoked_at")?,
        revoked_by: row.try_get("revoked_by")?,
    })
}

/// The identity directory over the platform store. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Identity {
    store: Store,
}

type Result<T, E = IdentityError> = std::result::Result<T, E>;

impl Identity {
    pub fn new(store: Store) -> Self {
        Identity { store }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Creates an active user in an existing org, after checking the
    /// password policy.
    pub async fn create_user(
        &self,
        username: &str,
        display_name: &str,
        org_id: &str,
        password: &str,
        now: i64,
    ) -> Result<User> {
        check_username(username)?;
        if display_name.trim().is_empty() {
            return Err(IdentityError::Invalid("the display name is empty".into()));
        }
        check_password_policy(username, password)?;
        self.require_org(org_id).await?;
        let hash = hash_blocking(password).await;
        let inserted = sqlx::query(
            "INSERT INTO users (username, display_name, org_id, status, password_hash, \
             failed_attempts, created_at, updated_at) VALUES ($1, $2, $3, 'active', $4, 0, $5, $5)",
        )
        .bind(username)
        .bind(display_name)
        .bind(org_id)
        .bind(&hash)
        .bind(now)
        .execute(self.store.pool())
        .await;
        if let Err(e) = inserted {
            let e = StoreError::Database(e);
            return Err(if e.is_unique_violation() {
                IdentityError::UserExists(username.into())
            } else {
                e.into()
            });
        }
        self.user(username).await
    }

    async fn require_org(&self, org_id: &str) -> Result<()> {
        let found: Option<String> = sqlx::query_scalar("SELECT org_id FROM orgs WHERE org_id = $1")
            .bind(org_id)
            .fetch_optional(self.store.pool())
            .await?;
        match found {
            Some(_) => Ok(()),
            None => Err(OrgError::NotFound(org_id.into()).into()),
        }
    }

    pub async fn user(&self, username: &str) -> Result<User> {
        let row = sqlx::query(concat!(
            "SELECT ",
            user_cols!(),
            " FROM users WHERE username = $1"
        ))
        .bind(username)
        .fetch_optional(self.store.pool())
        .await?
        .ok_or_else(|| IdentityError::NotFound(format!("user `{username}`")))?;
        Ok(user_from_row(&row)?)
    }

    pub async fn users(&self) -> Result<Vec<User>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            user_cols!(),
            " FROM users ORDER BY username"
        ))
        .fetch_all(self.store.pool())
        .await?;
        Ok(rows.iter().map(user_from_row).collect::<Result<_, _>>()?)
    }

    /// Sets a new password (policy checked) and clears any lockout.
    pub async fn set_password(&self, username: &str, password: &str, now: i64) -> Result<()> {
        check_password_policy(username, password)?;
        let hash = hash_blocking(password).await;
        let done = sqlx::query(
            "UPDATE users SET password_hash = $2, failed_attempts = 0, locked_until = NULL, \
             updated_at = $3 WHERE username = $1",
        )
        .bind(username)
        .bind(&hash)
        .bind(now)
        .execute(self.store.pool())
        .await?;
        if done.rows_affected() == 0 {
            return Err(IdentityError::NotFound(format!("user `{username}`")));
        }
        Ok(())
    }

    /// Enables or disables an account. A disabled user holds no role in
    /// the policy, so this bumps the policy version.
    pub async fn set_status(&self, username: &str, status: UserStatus, now: i64) -> Result<()> {
        let mut tx = self.store.begin_write().await?;
        policy::bump_version(&mut tx).await?;
        // (Re-)activating also lifts a lockout: it is how an administrator
        // unlocks an account before the lockout runs out.
        let done = sqlx::query(
            "UPDATE users SET status = $2, updated_at = $3, \
               failed_attempts = CASE WHEN $2 = 'active' THEN 0 ELSE failed_attempts END, \
               locked_until = CASE WHEN $2 = 'active' THEN NULL ELSE locked_until END \
             WHERE username = $1",
        )
        .bind(username)
        .bind(status.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(IdentityError::NotFound(format!("user `{username}`")));
        }
        tx.commit().await?;
        Ok(())
    }

    /// Checks a username and password. See the module docs for the
    /// lockout rules. A locked account is refused without checking the
    /// password (and without counting the attempt).
    pub async fn authenticate(
        &self,
        username: &str,
        password: &str,
        now: i64,
    ) -> Result<User, AuthError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            user_cols!(),
            ", password_hash FROM users WHERE username = $1"
        ))
        .bind(username)
        .fetch_optional(self.store.pool())
        .await?;
        let Some(row) = row else {
            verify_blocking(password, dummy_hash()).await;
            return Err(AuthError::WrongCredentials);
        };
        let user = user_from_row(&row)?;
        let phc: String = row.try_get("password_hash")?;
        if let Some(until) = user.locked_until
            && until > now
        {
            return Err(AuthError::Locked { until });
        }
        if !verify_blocking(password, &phc).await {
            // One statement: concurrent failures each count.
            let lock_until = now + LOCKOUT_DURATION_MICROS;
            let locked: Option<i64> = sqlx::query_scalar(
                "UPDATE users SET \
                   failed_attempts = CASE WHEN failed_attempts + 1 >= $2 THEN 0 ELSE failed_attempts + 1 END, \
                   locked_until = CASE WHEN failed_attempts + 1 >= $2 THEN $3 ELSE locked_until END \
                 WHERE username = $1 RETURNING locked_until",
            )
            .bind(username)
            .bind(MAX_FAILED_ATTEMPTS)
            .bind(lock_until)
            .fetch_optional(self.store.pool())
            .await?
            .flatten();
            return Err(match locked {
                Some(until) if until > now => AuthError::Locked { until },
                _ => AuthError::WrongCredentials,
            });
        }
        if user.status == UserStatus::Disabled {
            return Err(AuthError::Disabled);
        }
        sqlx::query(
            "UPDATE users SET failed_attempts = 0, locked_until = NULL, last_login_at = $2 \
             WHERE username = $1",
        )
        .bind(username)
        .bind(now)
        .execute(self.store.pool())
        .await?;
        Ok(User {
            failed_attempts: 0,
            locked_until: None,
            last_login_at: Some(now),
            ..user
        })
    }

    /// Defines (or redefines) a custom role.
    pub async fn define_role(&self, def: &RoleDef, now: i64) -> Result<()> {
        let Role::Custom(id) = &def.role else {
            return Err(IdentityError::Invalid(format!(
                "{} is built in; only custom roles are defined",
                def.role
            )));
        };
        if Role::from_id(id) != def.role {
            return Err(IdentityError::Invalid(format!(
                "`{id}` is the id of a built-in role"
            )));
        }
        check_username(id).map_err(|_| {
            IdentityError::Invalid(format!(
                "role id `{id}` must be 2 to 64 ASCII letters, digits, `.`, `_` or `-`"
            ))
        })?;
        if def.name.trim().is_empty() {
            return Err(IdentityError::Invalid("the role name is empty".into()));
        }
        let mut tx = self.store.begin_write().await?;
        // A redefined role's scope and level change what its holders read.
        policy::bump_version(&mut tx).await?;
        sqlx::query(
            "INSERT INTO roles (role_id, name, builtin, data_scope, max_sensitivity, created_at) \
             VALUES ($1, $2, 0, $3, $4, $5) ON CONFLICT (role_id) DO UPDATE SET name = $2, \
             data_scope = $3, max_sensitivity = $4",
        )
        .bind(id)
        .bind(&def.name)
        .bind(def.data_scope.to_json())
        .bind(def.max_sensitivity.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Every role, built-in ones first.
    pub async fn roles(&self) -> Result<Vec<RoleDef>> {
        let rows = sqlx::query(
            "SELECT role_id, name, data_scope, max_sensitivity FROM roles \
             ORDER BY builtin DESC, role_id",
        )
        .fetch_all(self.store.pool())
        .await?;
        rows.iter().map(role_from_row).collect()
    }

    pub async fn role(&self, role: &Role) -> Result<RoleDef> {
        let row = sqlx::query(
            "SELECT role_id, name, data_scope, max_sensitivity FROM roles WHERE role_id = $1",
        )
        .bind(role.id())
        .fetch_optional(self.store.pool())
        .await?
        .ok_or_else(|| IdentityError::NotFound(format!("role `{}`", role.id())))?;
        role_from_row(&row)
    }

    /// Grants `role` in `org_id` to a user (idempotent for the same post,
    /// which keeps its scope unless a new one is given). Refuses a second
    /// role of the 三员分立 triad. See [`grant_role_in`].
    pub async fn grant_role(
        &self,
        username: &str,
        role: &Role,
        org_id: &str,
        data_scope: Option<&DataScope>,
        actor: &str,
        now: i64,
    ) -> Result<()> {
        let mut tx = self.store.begin_write().await?;
        grant_role_in(&mut tx, username, role, org_id, data_scope, actor, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Removes a post; true if there was one.
    pub async fn revoke_role(&self, username: &str, role: &Role, org_id: &str) -> Result<bool> {
        let mut tx = self.store.begin_write().await?;
        let revoked = revoke_role_in(&mut tx, username, role, org_id).await?;
        if revoked {
            tx.commit().await?;
        } else {
            tx.rollback().await?;
        }
        Ok(revoked)
    }

    pub async fn posts(&self, username: &str) -> Result<Vec<Post>> {
        let rows = sqlx::query(
            "SELECT username, role_id, org_id, data_scope, granted_by, granted_at FROM posts \
             WHERE username = $1 ORDER BY role_id, org_id",
        )
        .bind(username)
        .fetch_all(self.store.pool())
        .await?;
        rows.iter()
            .map(|row| {
                let scope: Option<String> = row.try_get("data_scope")?;
                Ok(Post {
                    username: row.try_get("username")?,
                    role: Role::from_id(&row.try_get::<String, _>("role_id")?),
                    org_id: row.try_get("org_id")?,
                    data_scope: scope.as_deref().map(parse_scope).transpose()?,
                    granted_by: row.try_get("granted_by")?,
                    granted_at: row.try_get("granted_at")?,
                })
            })
            .collect()
    }

    /// What [`crate::access::effective_access`] needs about a user: the
    /// user's posts with their effective scope (the post's or the role's)
    /// and the role's level. A disabled user gets no posts.
    pub async fn user_ctx(&self, username: &str) -> Result<UserCtx> {
        let user = self.user(username).await?;
        let rows = sqlx::query(
            "SELECT p.role_id, p.org_id, p.data_scope AS post_scope, r.data_scope AS role_scope, \
             r.max_sensitivity FROM posts p JOIN roles r ON r.role_id = p.role_id \
             WHERE p.username = $1 ORDER BY p.role_id, p.org_id",
        )
        .bind(username)
        .fetch_all(self.store.pool())
        .await?;
        let mut posts = Vec::with_capacity(rows.len());
        if user.status == UserStatus::Active {
            for row in &rows {
                let post_scope: Option<String> = row.try_get("post_scope")?;
                let role_scope: String = row.try_get("role_scope")?;
                let level: String = row.try_get("max_sensitivity")?;
                posts.push(PostGrant {
                    role: Role::from_id(&row.try_get::<String, _>("role_id")?),
                    org_id: row.try_get("org_id")?,
                    scope: parse_scope(post_scope.as_deref().unwrap_or(&role_scope))?,
                    max_sensitivity: parse_level(&level)?,
                });
            }
        }
        Ok(UserCtx {
            username: user.username,
            org_id: user.org_id,
            posts,
        })
    }

    /// Creates a personal API token. Returns the plaintext — shown once,
    /// never stored — and its listing. `scopes` are non-empty names such as
    /// `apps:launch` (`[a-z0-9:._-]`).
    pub async fn create_token(
        &self,
        username: &str,
        name: &str,
        scopes: &[&str],
        expires_at: i64,
        now: i64,
    ) -> Result<(String, TokenInfo), TokenError> {
        if name.trim().is_empty() || name.chars().count() > 100 {
            return Err(TokenError::Refused(
                "a token needs a name of 1 to 100 characters".into(),
            ));
        }
        if scopes.is_empty()
            || !scopes.iter().all(|s| {
                !s.is_empty()
                    && s.bytes().all(|b| {
                        b.is_ascii_lowercase() || b.is_ascii_digit() || b":._-".contains(&b)
                    })
            })
        {
            return Err(TokenError::Refused(
                "a token needs at least one scope, each of a-z 0-9 : . _ -".into(),
            ));
        }
        if expires_at <= now || expires_at - now > MAX_TOKEN_LIFETIME_MICROS {
            return Err(TokenError::Refused(
                "a token must expire in the future and within 366 days".into(),
            ));
        }
        let token_id = hex::encode(rand::random::<[u8; 6]>());
        let plaintext = format!("zyt_{token_id}_{}", hex::encode(rand::random::<[u8; 32]>()));
        let scopes_json = serde_json::to_string(scopes).expect("a list of strings serialises");
        let inserted = sqlx::query(
            "INSERT INTO api_tokens (token_id, username, name, token_sha256, scopes, created_at, \
             expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&token_id)
        .bind(username)
        .bind(name)
        .bind(sha256_hex(&plaintext))
        .bind(&scopes_json)
        .bind(now)
        .bind(expires_at)
        .execute(self.store.pool())
        .await;
        if let Err(e) = inserted {
            if let sqlx::Error::Database(db) = &e
                && db.is_foreign_key_violation()
            {
                return Err(TokenError::Refused(format!("user `{username}` not found")));
            }
            return Err(e.into());
        }
        let info = self.token(&token_id).await?;
        Ok((plaintext, info))
    }

    async fn token(&self, token_id: &str) -> Result<TokenInfo, TokenError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            token_cols!(),
            " FROM api_tokens WHERE token_id = $1"
        ))
        .bind(token_id)
        .fetch_optional(self.store.pool())
        .await?
        .ok_or(TokenError::Invalid)?;
        token_from_row(&row)
    }

    /// The tokens of a user, newest first.
    pub async fn tokens(&self, username: &str) -> Result<Vec<TokenInfo>, TokenError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            token_cols!(),
            " FROM api_tokens WHERE username = $1 ORDER BY created_at DESC, token_id"
        ))
        .bind(username)
        .fetch_all(self.store.pool())
        .await?;
        rows.iter().map(token_from_row).collect()
    }

    /// The user and token a presented plaintext token stands for; records
    /// its use.
    pub async fn authenticate_token(
        &self,
        plaintext: &str,
        now: i64,
    ) -> Result<(User, TokenInfo), TokenError> {
        if !plaintext.starts_with("zyt_") || plaintext.len() > 200 {
            return Err(TokenError::Invalid);
        }
        let row = sqlx::query(concat!(
            "SELECT ",
            token_cols!(),
            " FROM api_tokens WHERE token_sha256 = $1"
        ))
        .bind(sha256_hex(plaintext))
        .fetch_optional(self.store.pool())
        .await?
        .ok_or(TokenError::Invalid)?;
        let info = token_from_row(&row)?;
        if let Some(at) = info.revoked_at {
            return Err(TokenError::Revoked { at });
        }
        if info.expires_at <= now {
            return Err(TokenError::Expired {
                at: info.expires_at,
            });
        }
        let user = self.user(&info.username).await.map_err(|e| match e {
            IdentityError::Store(e) => TokenError::Store(e),
            _ => TokenError::Invalid,
        })?;
        if user.status == UserStatus::Disabled {
            return Err(TokenError::Disabled);
        }
        // Recorded at most once a minute: a script's burst of requests
        // costs one write, not one each (a write serialises on SQLite).
        if info
            .last_used_at
            .is_none_or(|t| now - t >= TOKEN_TOUCH_INTERVAL_MICROS)
        {
            sqlx::query("UPDATE api_tokens SET last_used_at = $2 WHERE token_id = $1")
                .bind(&info.token_id)
                .bind(now)
                .execute(self.store.pool())
                .await?;
        }
        Ok((
            user,
            TokenInfo {
                last_used_at: Some(now),
                ..info
            },
        ))
    }

    /// Revokes a token; false if it was revoked already. Unknown →
    /// [`TokenError::Invalid`].
    pub async fn revoke_token(
        &self,
        token_id: &str,
        actor: &str,
        now: i64,
    ) -> Result<bool, TokenError> {
        // The version moves too: hosts that cache token checks drop them.
        let mut tx = self.store.begin_write().await?;
        policy::bump_version(&mut tx).await?;
        let done = sqlx::query(
            "UPDATE api_tokens SET revoked_at = $2, revoked_by = $3 \
             WHERE token_id = $1 AND revoked_at IS NULL",
        )
        .bind(token_id)
        .bind(now)
        .bind(actor)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 1 {
            tx.commit().await?;
            return Ok(true);
        }
        drop(tx);
        self.token(token_id).await.map(|_| false)
    }

    /// Seeds the demo org tree and [`DEMO_USERS`] with their posts; users
    /// that exist already are left as they are (idempotent).
    pub async fn seed_demo(&self, now: i64) -> Result<()> {
        org::seed_demo(&self.store).await?;
        for u in DEMO_USERS {
            let exists: Option<String> =
                sqlx::query_scalar("SELECT username FROM users WHERE username = $1")
                    .bind(u.username)
                    .fetch_optional(self.store.pool())
                    .await?;
            if exists.is_none() {
                match self
                    .create_user(u.username, u.display_name, u.org_id, u.password, now)
                    .await
                {
                    Ok(_) | Err(IdentityError::UserExists(_)) => {}
                    Err(e) => return Err(e),
                }
            }
            for (role, org_id) in u.posts {
                let has: Option<String> = sqlx::query_scalar(
                    "SELECT username FROM posts WHERE username = $1 AND role_id = $2 AND org_id = $3",
                )
                .bind(u.username)
                .bind(role.id())
                .bind(*org_id)
                .fetch_optional(self.store.pool())
                .await?;
                if has.is_none() {
                    self.grant_role(u.username, role, org_id, None, "seed", now)
                        .await?;
                }
            }
        }
        Ok(())
    }
}

/// [`Identity::grant_role`] inside the caller's write transaction (the
/// role-grant change applier's, or `grant_role`'s own): checks that the
/// role, the org and the user exist (locking the user's row on
/// PostgreSQL), refuses a second role of the 三员分立 triad, upserts the post
/// and bumps the policy version. The partial unique index
/// `posts_one_admin_role` is the second wall against two concurrent grants.
pub async fn grant_role_in(
    conn: &mut AnyConnection,
    username: &str,
    role: &Role,
    org_id: &str,
    data_scope: Option<&DataScope>,
    actor: &str,
    now: i64,
) -> Result<()> {
    let role_found: Option<String> =
        sqlx::query_scalar("SELECT role_id FROM roles WHERE role_id = $1")
            .bind(role.id())
            .fetch_optional(&mut *conn)
            .await?;
    if role_found.is_none() {
        return Err(IdentityError::NotFound(format!("role `{}`", role.id())));
    }
    let org_found: Option<String> = sqlx::query_scalar("SELECT org_id FROM orgs WHERE org_id = $1")
        .bind(org_id)
        .fetch_optional(&mut *conn)
        .await?;
    if org_found.is_none() {
        return Err(OrgError::NotFound(org_id.into()).into());
    }
    // The policy lock first (see `policy::bump_version`), then the user's
    // row (PostgreSQL; SQLite's write lock is held).
    policy::bump_version(conn).await?;
    let lock = if conn.backend_name() == "PostgreSQL" {
        "SELECT username FROM users WHERE username = $1 FOR UPDATE"
    } else {
        "SELECT username FROM users WHERE username = $1"
    };
    let found: Option<String> = sqlx::query_scalar(lock)
        .bind(username)
        .fetch_optional(&mut *conn)
        .await?;
    if found.is_none() {
        return Err(IdentityError::NotFound(format!("user `{username}`")));
    }
    if role.is_admin_triad() {
        let held: Vec<String> = sqlx::query_scalar(
            "SELECT role_id FROM posts WHERE username = $1 AND role_id IN \
             ('system-admin', 'security-admin', 'audit-admin') AND NOT (role_id = $2 AND org_id = $3)",
        )
        .bind(username)
        .bind(role.id())
        .bind(org_id)
        .fetch_all(&mut *conn)
        .await?;
        if let Some(held) = held.first() {
            let held = Role::from_id(held);
            return Err(if &held == role {
                IdentityError::Invalid(format!(
                    "user `{username}` already holds {role} in another org; an admin role is held once"
                ))
            } else {
                IdentityError::ThreeRoleSeparation {
                    username: username.into(),
                    held,
                    requested: role.clone(),
                }
            });
        }
    }
    let scope_json = data_scope.map(DataScope::to_json);
    let done = sqlx::query(
        "INSERT INTO posts (username, role_id, org_id, data_scope, granted_by, granted_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (username, role_id, org_id) DO UPDATE \
         SET data_scope = COALESCE($4, posts.data_scope)",
    )
    .bind(username)
    .bind(role.id())
    .bind(org_id)
    .bind(scope_json)
    .bind(actor)
    .bind(now)
    .execute(&mut *conn)
    .await;
    if let Err(e) = done {
        let e = StoreError::Database(e);
        if e.is_unique_violation() && role.is_admin_triad() {
            return Err(IdentityError::Invalid(format!(
                "三员分立: user `{username}` was granted another admin role concurrently"
            )));
        }
        return Err(e.into());
    }
    Ok(())
}

/// Removes a post inside the caller's write transaction and bumps the
/// policy version; true if there was one (roll back otherwise, to keep the
/// version).
pub async fn revoke_role_in(
    conn: &mut AnyConnection,
    username: &str,
    role: &Role,
    org_id: &str,
) -> Result<bool> {
    policy::bump_version(conn).await?;
    let done =
        sqlx::query("DELETE FROM posts WHERE username = $1 AND role_id = $2 AND org_id = $3")
            .bind(username)
            .bind(role.id())
            .bind(org_id)
            .execute(&mut *conn)
            .await?;
    Ok(done.rows_affected() > 0)
}

fn parse_scope(json: &str) -> Result<DataScope> {
    DataScope::from_json(json)
        .map_err(|e| IdentityError::Corrupt(format!("data scope `{json}`: {e}")))
}

fn parse_level(s: &str) -> Result<Sensitivity> {
    Sensitivity::parse(s).ok_or_else(|| IdentityError::Corrupt(format!("sensitivity `{s}`")))
}

fn role_from_row(row: &AnyRow) -> Result<RoleDef> {
    let id: String = row.try_get("role_id")?;
    Ok(RoleDef {
        role: Role::from_id(&id),
        name: row.try_get("name")?,
        data_scope: parse_scope(&row.try_get::<String, _>("data_scope")?)?,
        max_sensitivity: parse_level(&row.try_get::<String, _>("max_sensitivity")?)?,
    })
}

/// A demo account.
#[derive(Debug, Clone, Copy)]
pub struct DemoUser {
    pub username: &'static str,
    pub display_name: &'static str,
    pub org_id: &'static str,
    /// Demo only: documented so people can log in to the demo.
    pub password: &'static str,
    /// (role, org) of each post.
    pub posts: &'static [(Role, &'static str)],
}

/// The demo accounts: one or more for every built-in role. The passwords
/// satisfy the policy (a test checks) and are for the demo only.
///
/// | user | name | org | role(s) | password |
/// |---|---|---|---|---|
/// | `sysadmin` | 系统管理员 | 3300-kj | 系统管理员 | `Sys#Admin2026` |
/// | `secadmin` | 安全管理员 | 3300-kj | 安全管理员 | `Sec#Admin2026` |
/// | `auditadmin` | 审计管理员 | 3300-kj | 审计管理员 | `Aud#Admin2026` |
/// | `dev.cw` | 李开发 | 3300-cw | 部门开发者 @3300-cw | `Dev#Finance2026` |
/// | `reviewer` | 王审核 | 3300-yy | 审核员 @3300 | `Rev#Check2026` |
/// | `leader.3300` | 赵领导 | 3300 | 单位领导 @3300 | `Lead#City2026` |
/// | `leader.3301` | 钱领导 | 3301 | 单位领导 @3301 | `Lead#East2026` |
/// | `user.3301` | 孙业务 | 3301-cw | 业务用户 @3301 | `Biz#East2026` |
/// | `user.3302` | 周业务 | 3302-cw | 业务用户 @3302, 审核员 @3300-yy | `Biz#West2026` |
/// | `user.330101` | 吴业务 | 330101 | 业务用户 @330101 | `Biz#Station2026` |
pub const DEMO_USERS: &[DemoUser] = &[
    DemoUser {
        username: "sysadmin",
        display_name: "系统管理员",
        org_id: "3300-kj",
        password: "Sys#Admin2026",
        posts: &[(Role::SystemAdmin, "3300")],
    },
    DemoUser {
        username: "secadmin",
        display_name: "安全管理员",
        org_id: "3300-kj",
        password: "Sec#Admin2026",
        posts: &[(Role::SecurityAdmin, "3300")],
    },
    DemoUser {
        username: "auditadmin",
        display_name: "审计管理员",
        org_id: "3300-kj",
        password: "Aud#Admin2026",
        posts: &[(Role::AuditAdmin, "3300")],
    },
    DemoUser {
        username: "dev.cw",
        display_name: "李开发",
        org_id: "3300-cw",
        password: "Dev#Finance2026",
        posts: &[(Role::DepartmentDeveloper, "3300-cw")],
    },
    DemoUser {
        username: "reviewer",
        display_name: "王审核",
        org_id: "3300-yy",
        password: "Rev#Check2026",
        posts: &[(Role::Reviewer, "3300")],
    },
    DemoUser {
        username: "leader.3300",
        display_name: "赵领导",
        org_id: "3300",
        password: "Lead#City2026",
        posts: &[(Role::UnitLeader, "3300")],
    },
    DemoUser {
        username: "leader.3301",
        display_name: "钱领导",
        org_id: "3301",
        password: "Lead#East2026",
        posts: &[(Role::UnitLeader, "3301")],
    },
    DemoUser {
        username: "user.3301",
        display_name: "孙业务",
        org_id: "3301-cw",
        password: "Biz#East2026",
        posts: &[(Role::BusinessUser, "3301")],
    },
    DemoUser {
        username: "user.3302",
        display_name: "周业务",
        org_id: "3302-cw",
        password: "Biz#West2026",
        posts: &[(Role::BusinessUser, "3302"), (Role::Reviewer, "3300-yy")],
    },
    DemoUser {
        username: "user.330101",
        display_name: "吴业务",
        org_id: "330101",
        password: "Biz#Station2026",
        posts: &[(Role::BusinessUser, "330101")],
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_policy_lists_what_is_missing() {
        check_password_policy("alice", "Correct-Horse-9").unwrap();
        check_password_policy("alice", "correcthorse9!").unwrap();
        let e = check_password_policy("alice", "short").unwrap_err();
        assert_eq!(e.missing.len(), 2, "{e}");
        assert!(
            e.to_string().contains("at least 10 characters (has 5)"),
            "{e}"
        );
        assert!(
            e.to_string()
                .contains("has 1; add an uppercase letter or a digit or a symbol"),
            "{e}"
        );
        let e = check_password_policy("alice", "xxALICExx-2026").unwrap_err();
        assert_eq!(e.missing, ["must not contain the username"]);
        let e = check_password_policy("bob", "abcdefghijk1").unwrap_err();
        assert!(e.to_string().contains("has 2"), "{e}");
        // Non-ASCII characters count as symbols, lengths are in characters.
        check_password_policy("bob", "密码password12").unwrap();
        assert!(check_password_policy("bob", "密码密码密码Ab1").is_err());
    }

    #[test]
    fn demo_passwords_satisfy_the_policy_and_roles_are_covered() {
        for u in DEMO_USERS {
            check_password_policy(u.username, u.password)
                .unwrap_or_else(|e| panic!("{}: {e}", u.username));
        }
        for role in Role::BUILTIN {
            assert!(
                DEMO_USERS
                    .iter()
                    .any(|u| u.posts.iter().any(|(r, _)| *r == role)),
                "no demo user for {role}"
            );
        }
        for u in DEMO_USERS {
            let admin = u.posts.iter().filter(|(r, _)| r.is_admin_triad()).count();
            assert!(admin <= 1, "{}", u.username);
        }
    }

    #[test]
    fn hashes_are_argon2id_phc_strings() {
        let h = hash_password("Correct-Horse-9");
        assert!(h.starts_with("$argon2id$v=19$"), "{h}");
        assert!(verify_password("Correct-Horse-9", &h));
        assert!(!verify_password("Correct-Horse-8", &h));
        assert!(!verify_password("x", "not a hash"));
        assert_ne!(h, hash_password("Correct-Horse-9"), "salted");
    }

    #[test]
    fn role_ids_round_trip() {
        for r in Role::BUILTIN {
            assert_eq!(Role::from_id(r.id()), r);
        }
        assert_eq!(Role::from_id("出纳"), Role::Custom("出纳".into()));
        assert_eq!(
            Role::ADMIN_TRIAD
                .iter()
                .filter(|r| r.is_admin_triad())
                .count(),
            3
        );
    }
}

#[cfg(test)]
mod store_tests {
    use super::*;
    use zhiyun_store::store_test;

    const T0: i64 = 1_800_000_000_000_000;

    async fn seeded(store: &Store) -> Identity {
        let id = Identity::new(store.clone());
        org::seed_demo(store).await.unwrap();
        id.create_user("alice", "爱丽丝", "3301", "Correct-Horse-9", T0)
            .await
            .unwrap();
        id
    }

    store_test!(login_lockout_and_reset, |store| async move {
        let id = seeded(&store).await;
        let u = id
            .authenticate("alice", "Correct-Horse-9", T0)
            .await
            .unwrap();
        assert_eq!(u.org_id, "3301");
        assert_eq!(u.last_login_at, Some(T0));
        // Unknown user and wrong password: the same error.
        assert!(matches!(
            id.authenticate("nobody", "Correct-Horse-9", T0).await,
            Err(AuthError::WrongCredentials)
        ));
        for _ in 0..4 {
            assert!(matches!(
                id.authenticate("alice", "wrong", T0).await,
                Err(AuthError::WrongCredentials)
            ));
        }
        // A success resets the count…
        id.authenticate("alice", "Correct-Horse-9", T0)
            .await
            .unwrap();
        assert_eq!(id.user("alice").await.unwrap().failed_attempts, 0);
        for _ in 0..4 {
            id.authenticate("alice", "wrong", T0 + 1).await.unwrap_err();
        }
        // …the fifth consecutive failure locks for 15 minutes.
        let until = T0 + 1 + LOCKOUT_DURATION_MICROS;
        assert!(matches!(
            id.authenticate("alice", "wrong", T0 + 1).await,
            Err(AuthError::Locked { until: u }) if u == until
        ));
        // Even the right password is refused while locked.
        assert!(matches!(
            id.authenticate("alice", "Correct-Horse-9", until - 1).await,
            Err(AuthError::Locked { .. })
        ));
        let u = id
            .authenticate("alice", "Correct-Horse-9", until)
            .await
            .unwrap();
        assert_eq!(u.locked_until, None);
        assert_eq!(id.user("alice").await.unwrap().locked_until, None);
        // Disabled: refused once the password is right.
        id.set_status("alice", UserStatus::Disabled, T0)
            .await
            .unwrap();
        assert!(matches!(
            id.authenticate("alice", "Correct-Horse-9", until).await,
            Err(AuthError::Disabled)
        ));
        assert!(matches!(
            id.authenticate("alice", "nope", until).await,
            Err(AuthError::WrongCredentials)
        ));
    });

    store_test!(users_are_validated, |store| async move {
        let id = seeded(&store).await;
        let e = id
            .create_user("bob", "鲍勃", "3301", "weak", T0)
            .await
            .unwrap_err();
        assert!(matches!(e, IdentityError::PasswordPolicy(_)), "{e}");
        let e = id
            .create_user("alice", "又一个", "3301", "Correct-Horse-9", T0)
            .await
            .unwrap_err();
        assert!(matches!(e, IdentityError::UserExists(_)), "{e}");
        let e = id
            .create_user("bob", "鲍勃", "9999", "Correct-Horse-9", T0)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("9999"), "{e}");
        let e = id
            .create_user("b ob", "鲍勃", "3301", "Correct-Horse-9", T0)
            .await
            .unwrap_err();
        assert!(matches!(e, IdentityError::Invalid(_)), "{e}");
        id.set_password("alice", "Another-Horse-10", T0)
            .await
            .unwrap();
        id.authenticate("alice", "Another-Horse-10", T0)
            .await
            .unwrap();
        let e = id
            .set_password("alice", "alice-Horse-10", T0)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("username"), "{e}");
    });

    store_test!(three_role_separation, |store| async move {
        let id = seeded(&store).await;
        id.grant_role("alice", &Role::SystemAdmin, "3300", None, "root", T0)
            .await
            .unwrap();
        // Idempotent.
        id.grant_role("alice", &Role::SystemAdmin, "3300", None, "root", T0)
            .await
            .unwrap();
        let e = id
            .grant_role("alice", &Role::AuditAdmin, "3300", None, "root", T0)
            .await
            .unwrap_err();
        assert!(
            matches!(e, IdentityError::ThreeRoleSeparation { .. }),
            "{e}"
        );
        assert!(e.to_string().contains("三员分立"), "{e}");
        assert!(e.to_string().contains("系统管理员"), "{e}");
        let e = id
            .grant_role("alice", &Role::SystemAdmin, "3301", None, "root", T0)
            .await
            .unwrap_err();
        assert!(matches!(e, IdentityError::Invalid(_)), "{e}");
        // Other roles are fine.
        id.grant_role("alice", &Role::BusinessUser, "3301", None, "root", T0)
            .await
            .unwrap();
        // The database refuses a second admin role even past the check.
        let e = sqlx::query(
            "INSERT INTO posts (username, role_id, org_id, granted_by, granted_at) \
             VALUES ('alice', 'security-admin', '3300', 'x', 0)",
        )
        .execute(store.pool())
        .await
        .unwrap_err();
        assert!(StoreError::Database(e).is_unique_violation());
        // After revoking, another admin role may be granted.
        assert!(
            id.revoke_role("alice", &Role::SystemAdmin, "3300")
                .await
                .unwrap()
        );
        id.grant_role("alice", &Role::AuditAdmin, "3300", None, "root", T0)
            .await
            .unwrap();
        let roles: Vec<Role> = id
            .posts("alice")
            .await
            .unwrap()
            .into_iter()
            .map(|p| p.role)
            .collect();
        assert_eq!(roles, [Role::AuditAdmin, Role::BusinessUser]);
        // Unknown role, org, user.
        assert!(
            id.grant_role(
                "alice",
                &Role::Custom("nope".into()),
                "3300",
                None,
                "root",
                T0
            )
            .await
            .is_err()
        );
        assert!(
            id.grant_role("alice", &Role::Reviewer, "9999", None, "root", T0)
                .await
                .is_err()
        );
        assert!(matches!(
            id.grant_role("ghost", &Role::Reviewer, "3300", None, "root", T0)
                .await,
            Err(IdentityError::NotFound(_))
        ));
    });

    store_test!(custom_roles_and_user_ctx, |store| async move {
        let id = seeded(&store).await;
        let cashier = Role::Custom("cashier".into());
        id.define_role(
            &RoleDef {
                role: cashier.clone(),
                name: "出纳".into(),
                data_scope: DataScope::Custom(vec!["330101".into(), "330201".into()]),
                max_sensitivity: Sensitivity::Sensitive,
            },
            T0,
        )
        .await
        .unwrap();
        assert!(
            id.define_role(
                &RoleDef {
                    role: Role::Custom("reviewer".into()),
                    name: "x".into(),
                    data_scope: DataScope::All,
                    max_sensitivity: Sensitivity::Core,
                },
                T0
            )
            .await
            .is_err()
        );
        id.grant_role("alice", &cashier, "3301", None, "root", T0)
            .await
            .unwrap();
        id.grant_role(
            "alice",
            &Role::BusinessUser,
            "3302",
            Some(&DataScope::OrgOnly),
            "root",
            T0,
        )
        .await
        .unwrap();
        let ctx = id.user_ctx("alice").await.unwrap();
        assert_eq!(ctx.org_id, "3301");
        assert_eq!(ctx.posts.len(), 2);
        let biz = ctx
            .posts
            .iter()
            .find(|p| p.role == Role::BusinessUser)
            .unwrap();
        assert_eq!(biz.scope, DataScope::OrgOnly);
        assert_eq!(biz.max_sensitivity, Sensitivity::Internal);
        let c = ctx.posts.iter().find(|p| p.role == cashier).unwrap();
        assert_eq!(
            c.scope,
            DataScope::Custom(vec!["330101".into(), "330201".into()])
        );
        assert_eq!(c.max_sensitivity, Sensitivity::Sensitive);
        assert_eq!(id.roles().await.unwrap().len(), 8);
        // A disabled user has no posts in effect.
        id.set_status("alice", UserStatus::Disabled, T0)
            .await
            .unwrap();
        assert!(id.user_ctx("alice").await.unwrap().posts.is_empty());
    });

    store_test!(api_tokens, |store| async move {
        let id = seeded(&store).await;
        let day = 24 * 3600 * 1_000_000i64;
        let (plain, info) = id
            .create_token("alice", "报表脚本", &["apps:launch"], T0 + day, T0)
            .await
            .unwrap();
        assert!(
            plain.starts_with(&format!("zyt_{}_", info.token_id)),
            "{plain}"
        );
        assert_eq!(info.scopes, ["apps:launch"]);
        // Only the hash is stored.
        let stored: String = sqlx::query_scalar("SELECT token_sha256 FROM api_tokens")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(stored, sha256_hex(&plain));
        assert!(!stored.contains(&plain[20..]));
        let (u, t) = id.authenticate_token(&plain, T0 + 1).await.unwrap();
        assert_eq!(u.username, "alice");
        assert_eq!(t.last_used_at, Some(T0 + 1));
        // Use is recorded at most once a minute.
        let stored = || async {
            sqlx::query_scalar::<_, Option<i64>>("SELECT last_used_at FROM api_tokens")
                .fetch_one(store.pool())
                .await
                .unwrap()
        };
        id.authenticate_token(&plain, T0 + 2).await.unwrap();
        assert_eq!(stored().await, Some(T0 + 1));
        let later = T0 + 1 + TOKEN_TOUCH_INTERVAL_MICROS;
        id.authenticate_token(&plain, later).await.unwrap();
        assert_eq!(stored().await, Some(later));
        assert!(matches!(
            id.authenticate_token(&format!("{plain}0"), T0).await,
            Err(TokenError::Invalid)
        ));
        assert!(matches!(
            id.authenticate_token("nope", T0).await,
            Err(TokenError::Invalid)
        ));
        assert!(matches!(
            id.authenticate_token(&plain, T0 + day).await,
            Err(TokenError::Expired { at }) if at == T0 + day
        ));
        assert!(
            id.revoke_token(&info.token_id, "alice", T0 + 2)
                .await
                .unwrap()
        );
        assert!(
            !id.revoke_token(&info.token_id, "alice", T0 + 3)
                .await
                .unwrap()
        );
        assert!(matches!(
            id.authenticate_token(&plain, T0 + 4).await,
            Err(TokenError::Revoked { at }) if at == T0 + 2
        ));
        assert!(matches!(
            id.revoke_token("ffffffffffff", "alice", T0).await,
            Err(TokenError::Invalid)
        ));
        // Validation.
        for (name, scopes, exp) in [
            ("", &["a"][..], T0 + day),
            ("n", &[][..], T0 + day),
            ("n", &["Bad Scope"][..], T0 + day),
            ("n", &["a"][..], T0),
            ("n", &["a"][..], T0 + 400 * day),
        ] {
            assert!(matches!(
                id.create_token("alice", name, scopes, exp, T0).await,
                Err(TokenError::Refused(_))
            ));
        }
        assert!(
            id.create_token("ghost", "n", &["a"], T0 + day, T0)
                .await
                .is_err()
        );
        // A disabled owner's token stops working.
        let (plain2, _) = id
            .create_token("alice", "二号", &["data:read"], T0 + day, T0)
            .await
            .unwrap();
        id.set_status("alice", UserStatus::Disabled, T0)
            .await
            .unwrap();
        assert!(matches!(
            id.authenticate_token(&plain2, T0 + 1).await,
            Err(TokenError::Disabled)
        ));
        assert_eq!(id.tokens("alice").await.unwrap().len(), 2);
    });

    store_test!(demo_seed_is_idempotent, |store| async move {
        let id = Identity::new(store.clone());
        id.seed_demo(T0).await.unwrap();
        id.seed_demo(T0).await.unwrap();
        assert_eq!(id.users().await.unwrap().len(), DEMO_USERS.len());
        for u in DEMO_USERS {
            let posts = id.posts(u.username).await.unwrap();
            assert_eq!(posts.len(), u.posts.len(), "{}", u.username);
        }
        let u = id
            .authenticate("user.3302", "Biz#West2026", T0)
            .await
            .unwrap();
        assert_eq!(u.display_name, "周业务");
        assert!(org::load(&store).await.unwrap().contains("3303-cw"));
    });
}
