//! Who is calling: the server's side of authentication.
//!
//! Two ways in, both checked against the platform store (so every host
//! sharing one PostgreSQL agrees):
//!
//! - **Browser sessions**: `POST /api/v1/login` checks the password
//!   (argon2id, lockout — `zhiyun_authz::identity`) and sets the
//!   `zhiyun_session` cookie (HttpOnly, SameSite=Strict, Path=/; Secure
//!   when the server is configured behind TLS). The session has an idle and
//!   an absolute timeout (`zhiyun_authz::session`). A write made with the
//!   cookie must carry the session's CSRF token in `X-CSRF-Token` (the
//!   login answer hands it to the page; a cross-site form cannot read it).
//! - **Personal API tokens** (`Authorization: Bearer zyt_…`): for scripts
//!   and the CLI; scoped, expiring, revocable. No CSRF (a browser never
//!   sends them by itself).
//!
//! What the caller may then do is decided by `http::permissions` and the
//! casbin policy, never here.

use crate::http::error::ApiError;
use axum::http::{HeaderMap, Method, StatusCode, header};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use zhiyun_authz::identity::{AuthError, Identity, TokenError};
use zhiyun_authz::{Policy, SessionError, Sessions};
use zhiyun_store::now_micros;

pub const SESSION_COOKIE: &str = "zhiyun_session";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// How the caller authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// A browser session (cookie); writes need the CSRF token.
    Session { csrf_token: String },
    /// A personal API token with these scopes.
    Token {
        token_id: String,
        scopes: Vec<String>,
    },
    /// The server acting for a user in-process (`zhiyun demo` set-up).
    Internal,
}

/// The authenticated caller of a request.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Caller {
    pub username: String,
    pub display_name: String,
    pub org_id: String,
    pub org_name: String,
    /// The department a developer signs packages for: the name of the
    /// user's org (e.g. 财务部).
    pub department: String,
    /// The roles the user holds (in any org), e.g. `business-user`.
    pub roles: Vec<String>,
    #[serde(skip)]
    #[schema(ignore)]
    pub credential: Credential,
}

/// A user's profile as the server shows it, cached per policy version.
#[derive(Debug, Clone)]
struct Profile {
    display_name: String,
    org_id: String,
    org_name: String,
    roles: Vec<String>,
}

/// The authentication services of the server. Cheap to clone.
#[derive(Clone)]
pub struct Auth {
    pub identity: Identity,
    pub sessions: Sessions,
    pub policy: Policy,
    /// Mark the session cookie `Secure` (set when served over TLS).
    pub cookie_secure: bool,
    profiles: Arc<RwLock<ProfileCache>>,
    tokens: Arc<std::sync::Mutex<HashMap<[u8; 32], CachedToken>>>,
}

/// An API token this host checked recently. Scripts send the same token
/// many times a second; each check is two store reads. A cached check is
/// reused for [`TOKEN_CACHE_MICROS`] at most and only while the policy
/// version is unchanged — disabling a user or revoking a token bumps it, so
/// every host drops its cache within the policy sync interval (and the
/// revoking host at once).
#[derive(Debug, Clone)]
struct CachedToken {
    username: String,
    token_id: String,
    scopes: Vec<String>,
    expires_at: i64,
    checked_at: i64,
    policy_version: i64,
}

/// How long a token check is reused.
const TOKEN_CACHE_MICROS: i64 = 10 * 1_000_000;
/// Tokens remembered at most (the cache is cleared when full).
const TOKEN_CACHE_ENTRIES: usize = 10_000;

/// Profiles by username, valid for one policy version.
type ProfileCache = (i64, HashMap<String, Arc<Profile>>);

/// A token scope and what it lets a token do (see `http::permissions`).
pub const TOKEN_SCOPES: &[(&str, &str)] = &[
    ("read", "GET endpoints the user may read"),
    ("launch", "launch and export apps the user may use"),
    ("submit", "submit app packages and propose data services"),
    (
        "services",
        "call published data services (GET /api/v1/services/{name})",
    ),
    (
        "admin",
        "any other write the user may make (reviews, changes, keys …)",
    ),
];

impl Auth {
    pub fn new(
        identity: Identity,
        sessions: Sessions,
        policy: Policy,
        cookie_secure: bool,
    ) -> Self {
        Self {
            identity,
            sessions,
            policy,
            cookie_secure,
            profiles: Arc::new(RwLock::new((0, HashMap::new()))),
            tokens: Arc::new(std::sync::Mutex::new(HashMap::new())),
        }
    }

    /// Checks an API token, from the recent-checks cache when it may.
    async fn check_token(&self, token: &str, now: i64) -> Result<CachedToken, ApiError> {
        use sha2::{Digest, Sha256};
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let version = self.policy.version();
        let cached = self
            .tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
            .cloned();
        if let Some(c) = cached
            && c.policy_version == version
            && now - c.checked_at < TOKEN_CACHE_MICROS
            && now < c.expires_at
        {
            return Ok(c);
        }
        let (user, info) = self
            .identity
            .authenticate_token(token, now)
            .await
            .map_err(token_error)?;
        let checked = CachedToken {
            username: user.username,
            token_id: info.token_id,
            scopes: info.scopes,
            expires_at: info.expires_at,
            checked_at: now,
            policy_version: version,
        };
        let mut cache = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= TOKEN_CACHE_ENTRIES {
            cache.clear();
        }
        cache.insert(key, checked.clone());
        Ok(checked)
    }

    /// Forgets a revoked token's cached check on this host.
    pub fn forget_token(&self, token_id: &str) {
        self.tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, c| c.token_id != token_id);
    }

    /// The caller of a request: by bearer token if there is an
    /// `Authorization` header, else by session cookie. For a cookie
    /// session, a write (`method` not GET/HEAD) must carry the CSRF token.
    pub async fn authenticate(
        &self,
        headers: &HeaderMap,
        method: &Method,
    ) -> Result<Caller, ApiError> {
        let now = now_micros();
        if let Some(value) = headers.get(header::AUTHORIZATION) {
            let token = value
                .to_str()
                .ok()
                .and_then(|h| h.strip_prefix("Bearer "))
                .map(str::trim)
                .ok_or_else(|| {
                    ApiError::unauthorized("the Authorization header must be `Bearer <API token>`")
                })?;
            let checked = self.check_token(token, now).await?;
            let credential = Credential::Token {
                token_id: checked.token_id,
                scopes: checked.scopes,
            };
            return self.caller(&checked.username, credential).await;
        }
        let Some(id) = session_cookie(headers) else {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "not-logged-in",
                "log in first (POST /api/v1/login), or send an API token as Authorization: Bearer",
            ));
        };
        let session = self
            .sessions
            .validate(&id, now)
            .await
            .map_err(session_error)?;
        if !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
            && !session.csrf_matches(headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()))
        {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "csrf",
                "this write needs the session's CSRF token in the X-CSRF-Token header (from the login answer)",
            ));
        }
        self.caller(
            &session.username,
            Credential::Session {
                csrf_token: session.csrf_token,
            },
        )
        .await
    }

    /// The caller for `username` (profile cached until the policy changes).
    pub async fn caller(&self, username: &str, credential: Credential) -> Result<Caller, ApiError> {
        let version = self.policy.version();
        let cached = {
            let cache = self.profiles.read().unwrap_or_else(|p| p.into_inner());
            (cache.0 == version)
                .then(|| cache.1.get(username).cloned())
                .flatten()
        };
        let profile = match cached {
            Some(p) => p,
            None => {
                let user = self.identity.user(username).await.map_err(|e| {
                    ApiError::internal(format!("reading the account of `{username}`: {e}"))
                })?;
                let org_name = self
                    .policy
                    .org_tree()
                    .get(&user.org_id)
                    .map(|o| o.name().to_string())
                    .unwrap_or_else(|| user.org_id.clone());
                let profile = Arc::new(Profile {
                    display_name: user.display_name,
                    org_id: user.org_id,
                    org_name,
                    roles: self.policy.roles_of(username),
                });
                let mut cache = self.profiles.write().unwrap_or_else(|p| p.into_inner());
                if cache.0 != version {
                    *cache = (version, HashMap::new());
                }
                cache.1.insert(username.to_string(), profile.clone());
                profile
            }
        };
        Ok(Caller {
            username: username.to_string(),
            display_name: profile.display_name.clone(),
            org_id: profile.org_id.clone(),
            org_name: profile.org_name.clone(),
            department: profile.org_name.clone(),
            roles: profile.roles.clone(),
            credential,
        })
    }

    /// The `Set-Cookie` value of a new session.
    pub fn session_cookie(&self, id: &str) -> String {
        let max_age = self.sessions.config().absolute_timeout_micros / 1_000_000;
        format!(
            "{SESSION_COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{}",
            if self.cookie_secure { "; Secure" } else { "" }
        )
    }

    /// The `Set-Cookie` value that removes the session cookie.
    pub fn clear_cookie(&self) -> String {
        format!(
            "{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{}",
            if self.cookie_secure { "; Secure" } else { "" }
        )
    }
}

/// The session id of the `zhiyun_session` cookie, if sent.
pub fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.trim().to_string())
        .filter(|v| !v.is_empty())
}

pub fn login_error(e: AuthError) -> ApiError {
    match e {
        AuthError::WrongCredentials => {
            ApiError::new(StatusCode::UNAUTHORIZED, "wrong-credentials", "wrong username or password")
        }
        AuthError::Locked { until } => ApiError::new(
            StatusCode::FORBIDDEN,
            "locked",
            format!(
                "the account is locked after repeated failed logins until {} (UTC); try again later or ask the system admin",
                format_time(until)
            ),
        )
        .with_detail(serde_json::json!({ "locked_until": until })),
        AuthError::Disabled => ApiError::new(
            StatusCode::FORBIDDEN,
            "disabled",
            "the account is disabled; ask the system admin",
        ),
        AuthError::Store(e) => ApiError::internal(format!("checking the password: {e}")),
    }
}

fn token_error(e: TokenError) -> ApiError {
    let code = match &e {
        TokenError::Invalid => "invalid-token",
        TokenError::Expired { .. } => "token-expired",
        TokenError::Revoked { .. } => "token-revoked",
        TokenError::Disabled => "disabled",
        TokenError::Refused(_) => "invalid-token",
        TokenError::Store(_) => return ApiError::internal(format!("checking the token: {e}")),
    };
    ApiError::new(StatusCode::UNAUTHORIZED, code, e.to_string())
}

fn session_error(e: SessionError) -> ApiError {
    let (code, message) = match &e {
        SessionError::Unknown => ("not-logged-in", "the session is unknown: log in again"),
        SessionError::IdleExpired => (
            "session-idle",
            "the session ended after a period of inactivity: log in again",
        ),
        SessionError::Expired => (
            "session-expired",
            "the session reached its maximum lifetime: log in again",
        ),
        SessionError::Revoked => ("session-revoked", "the session was ended: log in again"),
        SessionError::UserInactive(_) => {
            ("disabled", "the account is disabled; ask the system admin")
        }
        _ => return ApiError::internal(format!("checking the session: {e}")),
    };
    ApiError::new(StatusCode::UNAUTHORIZED, code, message)
}

/// µs since the epoch as `YYYY-MM-DD HH:MM:SS` (UTC).
pub fn format_time(micros: i64) -> String {
    let secs = micros.div_euclid(1_000_000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            "a=1; zhiyun_session=abc ; b=2".parse().unwrap(),
        );
        assert_eq!(session_cookie(&h).as_deref(), Some("abc"));
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, "zhiyun_session=".parse().unwrap());
        assert_eq!(session_cookie(&h), None);
        assert_eq!(session_cookie(&HeaderMap::new()), None);
    }

    #[test]
    fn times_are_formatted_in_utc() {
        assert_eq!(format_time(0), "1970-01-01 00:00:00");
        assert_eq!(format_time(1_795_000_000_000_000), "2026-11-18 11:06:40");
    }
}
