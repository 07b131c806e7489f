//! Interim authentication: three seeded users and bearer tokens.
//!
//! This module is the only place the server learns who a caller is. The
//! identity issue replaces it with the real thing (argon2id passwords,
//! sessions, API tokens, casbin); handlers only see [`Caller`] and
//! [`Role`], so they do not change when it does.

use rand::Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

/// What a caller may do. Ordered by nothing: each action names the roles it allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Reviews and approves apps, suspends and rolls back, registers department keys.
    Admin,
    /// Submits app packages for their department.
    Developer,
    /// Launches live apps.
    User,
}

/// The authenticated caller of a request.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Caller {
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub org_id: String,
    pub org_name: String,
    pub department: String,
}

struct Account {
    password_sha256: [u8; 32],
    caller: Caller,
}

struct Session {
    caller: Caller,
    expires: Instant,
}

/// How long a token lives.
const TOKEN_TTL: Duration = Duration::from_secs(12 * 3600);

pub struct Authenticator {
    accounts: HashMap<String, Account>,
    sessions: RwLock<HashMap<[u8; 32], Session>>,
}

/// A seeded demo account: username, password, display name, role, org, department.
pub struct SeedUser<'a> {
    pub username: &'a str,
    pub password: &'a str,
    pub display_name: &'a str,
    pub role: Role,
    pub org_id: &'a str,
    pub org_name: &'a str,
    pub department: &'a str,
}

/// The three demo users. Passwords are for the demo only.
pub const DEMO_USERS: [SeedUser<'static>; 3] = [
    SeedUser {
        username: "admin",
        password: "admin-zhiyun",
        display_name: "系统管理员",
        role: Role::Admin,
        org_id: "3300",
        org_name: "示范市供电公司",
        department: "科技与数据部",
    },
    SeedUser {
        username: "developer",
        password: "developer-zhiyun",
        display_name: "财务部开发者",
        role: Role::Developer,
        org_id: "3300",
        org_name: "示范市供电公司",
        department: "财务部",
    },
    SeedUser {
        username: "user",
        password: "user-zhiyun",
        display_name: "城东县业务用户",
        role: Role::User,
        org_id: "3301",
        org_name: "城东县供电公司",
        department: "财务部",
    },
];

fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

impl Authenticator {
    pub fn with_users(users: &[SeedUser<'_>]) -> Self {
        let accounts = users
            .iter()
            .map(|u| {
                (
                    u.username.to_string(),
                    Account {
                        password_sha256: sha256(u.password.as_bytes()),
                        caller: Caller {
                            username: u.username.into(),
                            display_name: u.display_name.into(),
                            role: u.role,
                            org_id: u.org_id.into(),
                            org_name: u.org_name.into(),
                            department: u.department.into(),
                        },
                    },
                )
            })
            .collect();
        Self {
            accounts,
            sessions: RwLock::new(HashMap::new()),
        }
    }

    /// Checks a password and issues a token. `None` for a wrong username or
    /// password (the caller cannot tell which).
    pub fn login(&self, username: &str, password: &str) -> Option<(String, Caller)> {
        let account = self.accounts.get(username)?;
        let given = sha256(password.as_bytes());
        // Constant-time enough for a fixed-length digest comparison.
        if given
            .iter()
            .zip(account.password_sha256.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            != 0
        {
            return None;
        }
        let token: [u8; 32] = rand::rng().random();
        let token = hex::encode(token);
        let mut sessions = self.sessions.write().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        sessions.retain(|_, s| s.expires > now);
        sessions.insert(
            sha256(token.as_bytes()),
            Session {
                caller: account.caller.clone(),
                expires: now + TOKEN_TTL,
            },
        );
        Some((token, account.caller.clone()))
    }

    /// The caller a bearer token belongs to, if it is valid and unexpired.
    pub fn authenticate(&self, token: &str) -> Option<Caller> {
        let sessions = self.sessions.read().unwrap_or_else(|p| p.into_inner());
        let session = sessions.get(&sha256(token.as_bytes()))?;
        (session.expires > Instant::now()).then(|| session.caller.clone())
    }

    /// The seeded account of a user, without logging in (for the demo
    /// set-up, which acts as the developer and the admin in-process).
    pub fn caller(&self, username: &str) -> Option<Caller> {
        self.accounts.get(username).map(|a| a.caller.clone())
    }

    pub fn logout(&self, token: &str) {
        self.sessions
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&sha256(token.as_bytes()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_issues_a_token_that_authenticates() {
        let auth = Authenticator::with_users(&DEMO_USERS);
        assert!(auth.login("admin", "wrong").is_none());
        assert!(auth.login("nobody", "admin-zhiyun").is_none());
        let (token, caller) = auth.login("admin", "admin-zhiyun").unwrap();
        assert_eq!(caller.role, Role::Admin);
        assert_eq!(auth.authenticate(&token).unwrap().username, "admin");
        assert!(auth.authenticate("not-a-token").is_none());
        auth.logout(&token);
        assert!(auth.authenticate(&token).is_none());
    }
}
