//! Browser sessions for cookie authentication (table `sessions`, migration 5,
//! `host/store/migrations/*/0005_sessions.sql`).
//!
//! - **Secret id**: [`Sessions::create`] returns 32 random bytes as 64
//!   lowercase hex digits, for the cookie. Only its sha256 is stored, so a
//!   copy of the table signs nobody in; the id is shown once, like an API
//!   token.
//! - **CSRF token**: 32 more random bytes (hex), stored as is and returned
//!   with the session so the page can send it back in `X-CSRF-Token`;
//!   [`Session::csrf_matches`] compares in constant time.
//! - **Timeouts** ([`SessionConfig`]): a session ends
//!   [`SessionConfig::idle_timeout_micros`] after it was last seen
//!   ([`SessionError::IdleExpired`]) and in any case
//!   [`SessionConfig::absolute_timeout_micros`] after it was created
//!   ([`SessionError::Expired`]); activity never extends it past the
//!   absolute expiry. Both deadlines are exclusive: at the deadline the
//!   session is over.
//! - **Last seen** is written at most once a minute
//!   ([`TOUCH_INTERVAL_MICROS`]): [`Sessions::validate`] checks the idle
//!   timeout against the *stored* `last_seen_at` and rewrites it only when it
//!   is at least a minute old, so a burst of requests costs one write a
//!   minute — and the idle window is, in effect, between the timeout less a
//!   minute and the timeout.
//! - **Revocation**: [`Sessions::revoke`] (logout), [`Sessions::revoke_user`]
//!   (on disabling a user, a password change, a lockout). A session whose
//!   user is disabled is refused as [`SessionError::Revoked`] even if nobody
//!   called `revoke_user`, and is revoked then and there, so enabling the
//!   user again does not bring it back.
//! - **Several hosts**: nothing is cached; every check reads the platform
//!   store, so hosts sharing one PostgreSQL see the same sessions and the
//!   same revocations at once. Hosts sharing a store should share one
//!   [`SessionConfig`] (the timeouts are not stored per session, except the
//!   absolute expiry fixed at creation).
//! - **Housekeeping**: [`Sessions::purge`] deletes rows that ended (expired,
//!   idle-expired or revoked) more than [`PURGE_AFTER_MICROS`] ago.
//!
//! Times are microseconds since the Unix epoch (the store's representation),
//! passed in as `now` so tests control the clock.

use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::Row;
use std::fmt;
use zhiyun_store::{Store, StoreError};

/// The default idle timeout: 30 minutes.
pub const DEFAULT_IDLE_TIMEOUT_MICROS: i64 = 30 * 60 * 1_000_000;
/// The default absolute timeout: 12 hours.
pub const DEFAULT_ABSOLUTE_TIMEOUT_MICROS: i64 = 12 * 3600 * 1_000_000;
/// `last_seen_at` is rewritten only when at least this old: 60 seconds.
pub const TOUCH_INTERVAL_MICROS: i64 = 60 * 1_000_000;
/// [`Sessions::purge`] keeps ended sessions this long: one day.
pub const PURGE_AFTER_MICROS: i64 = 24 * 3600 * 1_000_000;
/// A longer `User-Agent` is cut to this many characters before it is stored.
pub const MAX_USER_AGENT_CHARS: usize = 512;

/// How long sessions last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionConfig {
    /// A session ends this long after it was last seen.
    pub idle_timeout_micros: i64,
    /// A session ends this long after it was created, however active.
    pub absolute_timeout_micros: i64,
}

impl Default for SessionConfig {
    /// 30 minutes idle, 12 hours absolute.
    fn default() -> Self {
        SessionConfig {
            idle_timeout_micros: DEFAULT_IDLE_TIMEOUT_MICROS,
            absolute_timeout_micros: DEFAULT_ABSOLUTE_TIMEOUT_MICROS,
        }
    }
}

/// A live session (never its secret id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Session {
    pub username: String,
    /// The token the page sends back in `X-CSRF-Token`.
    pub csrf_token: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    /// The absolute expiry.
    pub expires_at: i64,
    /// The idle deadline: `last_seen_at` + the idle timeout, but never past
    /// `expires_at`.
    pub idle_expires_at: i64,
}

impl Session {
    /// Whether the `X-CSRF-Token` header matches the session's token,
    /// compared in constant time. No header or an empty one never matches.
    pub fn csrf_matches(&self, header: Option<&str>) -> bool {
        match header {
            Some(h) if !h.is_empty() && !self.csrf_token.is_empty() => {
                constant_time_eq(h.as_bytes(), self.csrf_token.as_bytes())
            }
            _ => false,
        }
    }
}

/// A session just created: its secret id (for the cookie; shown once, never
/// stored), its CSRF token, and the session.
#[derive(Clone)]
pub struct NewSession {
    pub id: String,
    pub csrf_token: String,
    pub session: Session,
}

impl fmt::Debug for NewSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewSession")
            .field("id", &"***")
            .field("csrf_token", &self.csrf_token)
            .field("session", &self.session)
            .finish()
    }
}

/// Why a session was refused or could not be created.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// No cookie, a malformed one, or a session this store never issued (or
    /// purged).
    #[error("you are not signed in (the session is unknown); sign in again")]
    Unknown,
    #[error("the session ended after a period without activity; sign in again")]
    IdleExpired,
    #[error("the session reached its maximum length; sign in again")]
    Expired,
    /// Signed out, revoked by an administrator, or the user was disabled.
    #[error(
        "the session was ended (signed out, or the account was changed or disabled); sign in again"
    )]
    Revoked,
    /// [`Sessions::create`] for a user that does not exist or is disabled.
    #[error("cannot start a session: user `{0}` does not exist or is disabled")]
    UserInactive(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for SessionError {
    fn from(e: sqlx::Error) -> Self {
        SessionError::Store(StoreError::Database(e))
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    // The length is no secret (every token has 64 characters).
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// 64 lowercase hex digits, the shape of every id [`Sessions::create`]
/// issues; anything else is unknown without asking the database.
fn well_formed(id: &str) -> bool {
    id.len() == 64 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Browser sessions over the platform store. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Sessions {
    store: Store,
    config: SessionConfig,
}

type Result<T, E = SessionError> = std::result::Result<T, E>;

impl Sessions {
    pub fn new(store: Store, config: SessionConfig) -> Self {
        Sessions { store, config }
    }

    pub fn config(&self) -> SessionConfig {
        self.config
    }

    fn idle_deadline(&self, last_seen_at: i64, expires_at: i64) -> i64 {
        last_seen_at
            .saturating_add(self.config.idle_timeout_micros)
            .min(expires_at)
    }

    /// Starts a session for an active user (the caller has authenticated
    /// them). `user_agent` is kept for the user's list of sessions, cut to
    /// [`MAX_USER_AGENT_CHARS`].
    pub async fn create(
        &self,
        username: &str,
        now: i64,
        user_agent: Option<&str>,
    ) -> Result<NewSession> {
        let id = hex::encode(rand::random::<[u8; 32]>());
        let csrf_token = hex::encode(rand::random::<[u8; 32]>());
        let expires_at = now.saturating_add(self.config.absolute_timeout_micros);
        let user_agent: Option<String> =
            user_agent.map(|ua| ua.chars().take(MAX_USER_AGENT_CHARS).collect());
        // One statement: no session for a user disabled meanwhile.
        let done = sqlx::query(
            "INSERT INTO sessions (id_sha256, username, csrf_token, created_at, last_seen_at, \
             expires_at, user_agent) SELECT $1, username, $3, $4, $4, $5, $6 FROM users \
             WHERE username = $2 AND status = 'active'",
        )
        .bind(sha256_hex(&id))
        .bind(username)
        .bind(&csrf_token)
        .bind(now)
        .bind(expires_at)
        .bind(user_agent)
        .execute(self.store.pool())
        .await?;
        if done.rows_affected() == 0 {
            return Err(SessionError::UserInactive(username.into()));
        }
        let session = Session {
            username: username.into(),
            csrf_token: csrf_token.clone(),
            created_at: now,
            last_seen_at: now,
            expires_at,
            idle_expires_at: self.idle_deadline(now, expires_at),
        };
        Ok(NewSession {
            id,
            csrf_token,
            session,
        })
    }

    /// The live session a secret id stands for. Refused, in this order:
    /// [`SessionError::Unknown`]; [`SessionError::Revoked`] (also when the
    /// user is disabled — the session is then revoked for good);
    /// [`SessionError::Expired`] at or after the absolute expiry;
    /// [`SessionError::IdleExpired`] at or after the stored `last_seen_at` +
    /// the idle timeout. A live session's `last_seen_at` is set to `now` if
    /// it was at least [`TOUCH_INTERVAL_MICROS`] old.
    pub async fn validate(&self, id: &str, now: i64) -> Result<Session> {
        if !well_formed(id) {
            return Err(SessionError::Unknown);
        }
        let id_sha256 = sha256_hex(id);
        let row = sqlx::query(
            "SELECT s.username, s.csrf_token, s.created_at, s.last_seen_at, s.expires_at, \
             s.revoked_at, u.status FROM sessions s JOIN users u ON u.username = s.username \
             WHERE s.id_sha256 = $1",
        )
        .bind(&id_sha256)
        .fetch_optional(self.store.pool())
        .await?
        .ok_or(SessionError::Unknown)?;
        let revoked_at: Option<i64> = row.try_get("revoked_at")?;
        if revoked_at.is_some() {
            return Err(SessionError::Revoked);
        }
        let status: String = row.try_get("status")?;
        if status != "active" {
            sqlx::query(
                "UPDATE sessions SET revoked_at = $2 WHERE id_sha256 = $1 AND revoked_at IS NULL",
            )
            .bind(&id_sha256)
            .bind(now)
            .execute(self.store.pool())
            .await?;
            return Err(SessionError::Revoked);
        }
        let expires_at: i64 = row.try_get("expires_at")?;
        if now >= expires_at {
            return Err(SessionError::Expired);
        }
        let mut last_seen_at: i64 = row.try_get("last_seen_at")?;
        if now >= last_seen_at.saturating_add(self.config.idle_timeout_micros) {
            return Err(SessionError::IdleExpired);
        }
        if now - last_seen_at >= TOUCH_INTERVAL_MICROS {
            // Conditional, so that of several hosts seeing the same stale
            // value only the first writes, and the value never goes back.
            sqlx::query(
                "UPDATE sessions SET last_seen_at = $2 \
                 WHERE id_sha256 = $1 AND last_seen_at <= $3 AND revoked_at IS NULL",
            )
            .bind(&id_sha256)
            .bind(now)
            .bind(now - TOUCH_INTERVAL_MICROS)
            .execute(self.store.pool())
            .await?;
            last_seen_at = now;
        }
        Ok(Session {
            username: row.try_get("username")?,
            csrf_token: row.try_get("csrf_token")?,
            created_at: row.try_get("created_at")?,
            last_seen_at,
            expires_at,
            idle_expires_at: self.idle_deadline(last_seen_at, expires_at),
        })
    }

    /// Ends a session (logout). True if it was open (not revoked already);
    /// an unknown or malformed id is false, so logging out twice is fine.
    pub async fn revoke(&self, id: &str, now: i64) -> Result<bool> {
        if !well_formed(id) {
            return Ok(false);
        }
        let done = sqlx::query(
            "UPDATE sessions SET revoked_at = $2 WHERE id_sha256 = $1 AND revoked_at IS NULL",
        )
        .bind(sha256_hex(id))
        .bind(now)
        .execute(self.store.pool())
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Ends every session of a user (on disabling them, a password change, a
    /// lockout). Returns how many were ended: those not revoked already and
    /// not past their absolute expiry.
    pub async fn revoke_user(&self, username: &str, now: i64) -> Result<u64> {
        let done = sqlx::query(
            "UPDATE sessions SET revoked_at = $2 \
             WHERE username = $1 AND revoked_at IS NULL AND expires_at > $2",
        )
        .bind(username)
        .bind(now)
        .execute(self.store.pool())
        .await?;
        Ok(done.rows_affected())
    }

    /// Deletes the sessions that ended — expired, idle-expired (by this
    /// host's idle timeout) or revoked — more than [`PURGE_AFTER_MICROS`]
    /// ago. Returns how many rows went.
    pub async fn purge(&self, now: i64) -> Result<u64> {
        let cutoff = now.saturating_sub(PURGE_AFTER_MICROS);
        let done = sqlx::query(
            "DELETE FROM sessions WHERE expires_at <= $1 OR revoked_at <= $1 OR last_seen_at <= $2",
        )
        .bind(cutoff)
        .bind(cutoff.saturating_sub(self.config.idle_timeout_micros))
        .execute(self.store.pool())
        .await?;
        Ok(done.rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(csrf: &str) -> Session {
        Session {
            username: "alice".into(),
            csrf_token: csrf.into(),
            created_at: 0,
            last_seen_at: 0,
            expires_at: 1,
            idle_expires_at: 1,
        }
    }

    #[test]
    fn csrf_matches_only_the_same_token() {
        let token = hex::encode([0xa7u8; 32]);
        let s = session(&token);
        assert!(s.csrf_matches(Some(&token)));
        assert!(!s.csrf_matches(None));
        assert!(!s.csrf_matches(Some("")));
        assert!(!s.csrf_matches(Some(&token[..63])));
        assert!(!s.csrf_matches(Some(&format!("{token}0"))));
        let mut other = token.clone().into_bytes();
        other[63] = b'8';
        assert!(!s.csrf_matches(Some(std::str::from_utf8(&other).unwrap())));
        assert!(!s.csrf_matches(Some(&token.to_uppercase())));
        assert!(!s.csrf_matches(Some(" ")));
        // A session with no token matches nothing, not even an empty header.
        let empty = session("");
        assert!(!empty.csrf_matches(Some("")));
        assert!(!empty.csrf_matches(None));
    }

    #[test]
    fn defaults_and_id_shape() {
        let c = SessionConfig::default();
        assert_eq!(c.idle_timeout_micros, 30 * 60 * 1_000_000);
        assert_eq!(c.absolute_timeout_micros, 12 * 3600 * 1_000_000);
        assert!(well_formed(&hex::encode([0xabu8; 32])));
        assert!(!well_formed(&hex::encode([0xabu8; 32]).to_uppercase()));
        assert!(!well_formed(&hex::encode([0xabu8; 31])));
        assert!(!well_formed(""));
        assert!(!well_formed(&"g".repeat(64)));
    }

    #[test]
    fn new_session_debug_hides_the_id() {
        let n = NewSession {
            id: "secret-id".into(),
            csrf_token: "t".into(),
            session: session("t"),
        };
        let shown = format!("{n:?}");
        assert!(!shown.contains("secret-id"), "{shown}");
        assert!(shown.contains("***"), "{shown}");
    }
}

#[cfg(test)]
mod store_tests {
    use super::*;
    use crate::identity::{Identity, UserStatus};
    use crate::org;
    use zhiyun_store::store_test;

    const T0: i64 = 1_800_000_000_000_000;
    const SEC: i64 = 1_000_000;
    const MIN: i64 = 60 * SEC;

    async fn seeded(store: &Store) -> Identity {
        let id = Identity::new(store.clone());
        org::seed_demo(store).await.unwrap();
        id.create_user("alice", "爱丽丝", "3301", "Correct-Horse-9", T0)
            .await
            .unwrap();
        id.create_user("bob", "鲍勃", "3302", "Correct-Horse-9", T0)
            .await
            .unwrap();
        id
    }

    fn small() -> SessionConfig {
        SessionConfig {
            idle_timeout_micros: 10 * MIN,
            absolute_timeout_micros: 25 * MIN,
        }
    }

    async fn stored_last_seen(store: &Store, id: &str) -> i64 {
        sqlx::query_scalar("SELECT last_seen_at FROM sessions WHERE id_sha256 = $1")
            .bind(sha256_hex(id))
            .fetch_one(store.pool())
            .await
            .unwrap()
    }

    async fn count(store: &Store) -> i64 {
        sqlx::query_scalar("SELECT COUNT(*) FROM sessions")
            .fetch_one(store.pool())
            .await
            .unwrap()
    }

    store_test!(create_and_validate, |store| async move {
        seeded(&store).await;
        let sessions = Sessions::new(store.clone(), SessionConfig::default());
        let new = sessions
            .create("alice", T0, Some("Mozilla/5.0 (X11; Linux x86_64)"))
            .await
            .unwrap();
        assert!(well_formed(&new.id), "{}", new.id);
        assert!(well_formed(&new.csrf_token), "{}", new.csrf_token);
        assert_ne!(new.id, new.csrf_token);
        let s = &new.session;
        assert_eq!(s.username, "alice");
        assert_eq!(s.csrf_token, new.csrf_token);
        assert_eq!((s.created_at, s.last_seen_at), (T0, T0));
        assert_eq!(s.expires_at, T0 + DEFAULT_ABSOLUTE_TIMEOUT_MICROS);
        assert_eq!(s.idle_expires_at, T0 + DEFAULT_IDLE_TIMEOUT_MICROS);
        // Only the hash of the id is stored; the CSRF token as is.
        let row = sqlx::query("SELECT id_sha256, csrf_token, user_agent FROM sessions")
            .fetch_one(store.pool())
            .await
            .unwrap();
        let stored: String = row.get("id_sha256");
        assert_eq!(stored, sha256_hex(&new.id));
        assert_ne!(stored, new.id);
        assert_eq!(row.get::<String, _>("csrf_token"), new.csrf_token);
        assert_eq!(
            row.get::<Option<String>, _>("user_agent").as_deref(),
            Some("Mozilla/5.0 (X11; Linux x86_64)")
        );
        assert_eq!(sessions.validate(&new.id, T0).await.unwrap(), new.session);
        assert_eq!(
            sessions.validate(&new.id, T0 + SEC).await.unwrap(),
            new.session
        );
        // Every session is new.
        let other = sessions.create("alice", T0, None).await.unwrap();
        assert_ne!(other.id, new.id);
        assert_ne!(other.csrf_token, new.csrf_token);
        // A long user agent is cut.
        let long = sessions
            .create("bob", T0, Some(&"浏".repeat(2000)))
            .await
            .unwrap();
        let ua: Option<String> =
            sqlx::query_scalar("SELECT user_agent FROM sessions WHERE id_sha256 = $1")
                .bind(sha256_hex(&long.id))
                .fetch_one(store.pool())
                .await
                .unwrap();
        assert_eq!(ua.unwrap().chars().count(), MAX_USER_AGENT_CHARS);
        // Wrong ids.
        let mut wrong = new.id.clone().into_bytes();
        wrong[0] = if wrong[0] == b'0' { b'1' } else { b'0' };
        let wrong = String::from_utf8(wrong).unwrap();
        for id in [
            wrong.as_str(),
            "",
            "nope",
            &new.id.to_uppercase(),
            &new.id[..63],
            &format!("{}0", new.id),
            &new.csrf_token,
            &sha256_hex(&new.id),
        ] {
            assert!(
                matches!(sessions.validate(id, T0).await, Err(SessionError::Unknown)),
                "{id}"
            );
        }
        // No session for an unknown or disabled user.
        let e = sessions.create("ghost", T0, None).await.unwrap_err();
        assert!(matches!(e, SessionError::UserInactive(_)), "{e}");
        assert!(e.to_string().contains("ghost"), "{e}");
        Identity::new(store.clone())
            .set_status("bob", UserStatus::Disabled, T0)
            .await
            .unwrap();
        assert!(matches!(
            sessions.create("bob", T0, None).await,
            Err(SessionError::UserInactive(_))
        ));
    });

    store_test!(idle_expiry_at_the_boundary, |store| async move {
        seeded(&store).await;
        let sessions = Sessions::new(store.clone(), SessionConfig::default());
        let idle = DEFAULT_IDLE_TIMEOUT_MICROS;
        let a = sessions.create("alice", T0, None).await.unwrap();
        let b = sessions.create("alice", T0, None).await.unwrap();
        let c = sessions.create("alice", T0, None).await.unwrap();
        // Just before: fine (and touched).
        let s = sessions.validate(&a.id, T0 + idle - 1).await.unwrap();
        assert_eq!(s.last_seen_at, T0 + idle - 1);
        assert_eq!(s.idle_expires_at, T0 + 2 * idle - 1);
        // At and after: over.
        assert!(matches!(
            sessions.validate(&b.id, T0 + idle).await,
            Err(SessionError::IdleExpired)
        ));
        assert!(matches!(
            sessions.validate(&c.id, T0 + idle + 1).await,
            Err(SessionError::IdleExpired)
        ));
        // Nothing was written for the refused ones.
        assert_eq!(stored_last_seen(&store, &b.id).await, T0);
        assert_eq!(stored_last_seen(&store, &c.id).await, T0);
        // The touched one counts from its new last-seen time.
        sessions.validate(&a.id, T0 + 2 * idle - 2).await.unwrap();
        let a2 = sessions.create("alice", T0, None).await.unwrap();
        sessions.validate(&a2.id, T0 + idle - 1).await.unwrap();
        assert!(matches!(
            sessions.validate(&a2.id, T0 + 2 * idle - 1).await,
            Err(SessionError::IdleExpired)
        ));
    });

    store_test!(last_seen_is_written_once_a_minute, |store| async move {
        seeded(&store).await;
        let sessions = Sessions::new(store.clone(), SessionConfig::default());
        let n = sessions.create("alice", T0, None).await.unwrap();
        // Within the minute: no write; the idle deadline stays.
        for t in [T0 + 1, T0 + 30 * SEC, T0 + MIN - 1] {
            let s = sessions.validate(&n.id, t).await.unwrap();
            assert_eq!(s.last_seen_at, T0);
            assert_eq!(s.idle_expires_at, T0 + DEFAULT_IDLE_TIMEOUT_MICROS);
            assert_eq!(stored_last_seen(&store, &n.id).await, T0);
        }
        // A minute old: written.
        let s = sessions.validate(&n.id, T0 + MIN).await.unwrap();
        assert_eq!(s.last_seen_at, T0 + MIN);
        assert_eq!(stored_last_seen(&store, &n.id).await, T0 + MIN);
        let s = sessions.validate(&n.id, T0 + 2 * MIN - 1).await.unwrap();
        assert_eq!(s.last_seen_at, T0 + MIN);
        assert_eq!(stored_last_seen(&store, &n.id).await, T0 + MIN);
        sessions.validate(&n.id, T0 + 5 * MIN).await.unwrap();
        assert_eq!(stored_last_seen(&store, &n.id).await, T0 + 5 * MIN);
        // A validate with an older clock (another host a little behind)
        // never moves it back.
        sessions.validate(&n.id, T0 + 4 * MIN).await.unwrap();
        assert_eq!(stored_last_seen(&store, &n.id).await, T0 + 5 * MIN);
    });

    store_test!(
        activity_extends_up_to_the_absolute_expiry,
        |store| async move {
            seeded(&store).await;
            let sessions = Sessions::new(store.clone(), small());
            let n = sessions.create("alice", T0, None).await.unwrap();
            assert_eq!(n.session.idle_expires_at, T0 + 10 * MIN);
            assert_eq!(n.session.expires_at, T0 + 25 * MIN);
            let s = sessions.validate(&n.id, T0 + 9 * MIN).await.unwrap();
            assert_eq!(s.idle_expires_at, T0 + 19 * MIN);
            let s = sessions.validate(&n.id, T0 + 18 * MIN).await.unwrap();
            // 28 minutes would be past the absolute expiry.
            assert_eq!(s.idle_expires_at, T0 + 25 * MIN);
            let s = sessions.validate(&n.id, T0 + 25 * MIN - 1).await.unwrap();
            assert_eq!(s.last_seen_at, T0 + 25 * MIN - 1);
            assert_eq!(s.idle_expires_at, T0 + 25 * MIN);
            assert!(matches!(
                sessions.validate(&n.id, T0 + 25 * MIN).await,
                Err(SessionError::Expired)
            ));
            assert!(matches!(
                sessions.validate(&n.id, T0 + 26 * MIN).await,
                Err(SessionError::Expired)
            ));
        }
    );

    store_test!(absolute_expiry, |store| async move {
        seeded(&store).await;
        // An idle timeout longer than the absolute one: the absolute wins.
        let sessions = Sessions::new(
            store.clone(),
            SessionConfig {
                idle_timeout_micros: 60 * MIN,
                absolute_timeout_micros: 20 * MIN,
            },
        );
        let n = sessions.create("alice", T0, None).await.unwrap();
        assert_eq!(n.session.idle_expires_at, T0 + 20 * MIN);
        sessions.validate(&n.id, T0 + 20 * MIN - 1).await.unwrap();
        assert!(matches!(
            sessions.validate(&n.id, T0 + 20 * MIN).await,
            Err(SessionError::Expired)
        ));
        // Past both deadlines: Expired, not IdleExpired.
        let sessions = Sessions::new(store.clone(), small());
        let n = sessions.create("alice", T0, None).await.unwrap();
        let e = sessions.validate(&n.id, T0 + 60 * MIN).await.unwrap_err();
        assert!(matches!(e, SessionError::Expired), "{e}");
        assert!(e.to_string().contains("sign in again"), "{e}");
    });

    store_test!(revoke_and_revoke_user, |store| async move {
        seeded(&store).await;
        let sessions = Sessions::new(store.clone(), SessionConfig::default());
        let a1 = sessions.create("alice", T0, None).await.unwrap();
        let a2 = sessions.create("alice", T0, None).await.unwrap();
        let a3 = sessions.create("alice", T0, None).await.unwrap();
        let b = sessions.create("bob", T0, None).await.unwrap();
        // Logout.
        assert!(sessions.revoke(&a1.id, T0 + 1).await.unwrap());
        assert!(!sessions.revoke(&a1.id, T0 + 2).await.unwrap());
        assert!(!sessions.revoke("nope", T0).await.unwrap());
        assert!(!sessions.revoke(&"0".repeat(64), T0).await.unwrap());
        assert!(matches!(
            sessions.validate(&a1.id, T0 + 3).await,
            Err(SessionError::Revoked)
        ));
        sessions.validate(&a2.id, T0 + 3).await.unwrap();
        // All of a user's sessions, and only that user's; already revoked
        // ones are not counted again.
        assert_eq!(sessions.revoke_user("alice", T0 + 4).await.unwrap(), 2);
        assert_eq!(sessions.revoke_user("alice", T0 + 5).await.unwrap(), 0);
        assert_eq!(sessions.revoke_user("ghost", T0 + 5).await.unwrap(), 0);
        for id in [&a1.id, &a2.id, &a3.id] {
            assert!(matches!(
                sessions.validate(id, T0 + 6).await,
                Err(SessionError::Revoked)
            ));
        }
        sessions.validate(&b.id, T0 + 6).await.unwrap();
        // A new login after the revocation works.
        let a4 = sessions.create("alice", T0 + 7, None).await.unwrap();
        sessions.validate(&a4.id, T0 + 8).await.unwrap();
        // Expired sessions are not counted.
        let late = T0 + DEFAULT_ABSOLUTE_TIMEOUT_MICROS + 1;
        assert_eq!(sessions.revoke_user("bob", late).await.unwrap(), 0);
    });

    store_test!(disabled_user_is_refused, |store| async move {
        let id = seeded(&store).await;
        let sessions = Sessions::new(store.clone(), SessionConfig::default());
        let a = sessions.create("alice", T0, None).await.unwrap();
        let b = sessions.create("bob", T0, None).await.unwrap();
        id.set_status("alice", UserStatus::Disabled, T0 + 1)
            .await
            .unwrap();
        // Refused without anybody calling revoke_user…
        assert!(matches!(
            sessions.validate(&a.id, T0 + 2).await,
            Err(SessionError::Revoked)
        ));
        sessions.validate(&b.id, T0 + 2).await.unwrap();
        // …and for good: enabling the user again does not revive it.
        id.set_status("alice", UserStatus::Active, T0 + 3)
            .await
            .unwrap();
        assert!(matches!(
            sessions.validate(&a.id, T0 + 4).await,
            Err(SessionError::Revoked)
        ));
        let revoked_at: Option<i64> =
            sqlx::query_scalar("SELECT revoked_at FROM sessions WHERE id_sha256 = $1")
                .bind(sha256_hex(&a.id))
                .fetch_one(store.pool())
                .await
                .unwrap();
        assert_eq!(revoked_at, Some(T0 + 2));
        let again = sessions.create("alice", T0 + 5, None).await.unwrap();
        sessions.validate(&again.id, T0 + 6).await.unwrap();
    });

    store_test!(second_host_sees_the_same_sessions, |store| async move {
        seeded(&store).await;
        let host1 = Sessions::new(store.clone(), SessionConfig::default());
        let host2 = Sessions::new(store.clone(), SessionConfig::default());
        let n = host1.create("alice", T0, Some("ua")).await.unwrap();
        let s = host2.validate(&n.id, T0 + 1).await.unwrap();
        assert_eq!(s, n.session);
        assert!(s.csrf_matches(Some(&n.csrf_token)));
        // A touch by one host is what the other checks against.
        host2.validate(&n.id, T0 + 20 * MIN).await.unwrap();
        let s = host1.validate(&n.id, T0 + 45 * MIN).await.unwrap();
        assert_eq!(s.last_seen_at, T0 + 45 * MIN);
        // Logout on one host ends it on the other.
        assert!(host2.revoke(&n.id, T0 + 46 * MIN).await.unwrap());
        assert!(matches!(
            host1.validate(&n.id, T0 + 46 * MIN).await,
            Err(SessionError::Revoked)
        ));
        let m = host2.create("alice", T0 + 47 * MIN, None).await.unwrap();
        host1.validate(&m.id, T0 + 47 * MIN).await.unwrap();
        assert_eq!(host1.revoke_user("alice", T0 + 48 * MIN).await.unwrap(), 1);
        assert!(matches!(
            host2.validate(&m.id, T0 + 48 * MIN).await,
            Err(SessionError::Revoked)
        ));
    });

    store_test!(purge_removes_only_old_rows, |store| async move {
        seeded(&store).await;
        let sessions = Sessions::new(store.clone(), small());
        let day = PURGE_AFTER_MICROS;
        // The purge runs at P; anything that ended before P - day goes.
        let p = T0 + 3 * day;
        // Absolute expiry more than a day before P (active until then, so
        // not idle-expired).
        let old_expired = sessions
            .create("alice", p - day - 25 * MIN - 1, None)
            .await
            .unwrap();
        for t in [9 * MIN, 18 * MIN, 25 * MIN - 1] {
            let at = p - day - 25 * MIN - 1 + t;
            sessions.validate(&old_expired.id, at).await.unwrap();
        }
        // Absolute expiry less than a day before P (active until then).
        let recent_expired = sessions
            .create("alice", p - day - 25 * MIN + MIN, None)
            .await
            .unwrap();
        for t in [9 * MIN, 18 * MIN, 24 * MIN] {
            let at = p - day - 24 * MIN + t;
            sessions.validate(&recent_expired.id, at).await.unwrap();
        }
        // Revoked more than a day before P, though not expired.
        let old_revoked = sessions.create("alice", p - day - MIN, None).await.unwrap();
        sessions.revoke(&old_revoked.id, p - day - 1).await.unwrap();
        // Revoked less than a day before P.
        let recent_revoked = sessions.create("alice", p - MIN, None).await.unwrap();
        sessions.revoke(&recent_revoked.id, p - SEC).await.unwrap();
        // Idle-expired more than a day before P (last seen day + 10 min ago).
        let old_idle = sessions
            .create("bob", p - day - 10 * MIN - 1, None)
            .await
            .unwrap();
        // Live.
        let live = sessions.create("bob", p - MIN, None).await.unwrap();
        assert_eq!(count(&store).await, 6);
        assert_eq!(sessions.purge(p).await.unwrap(), 3);
        assert_eq!(count(&store).await, 3);
        for gone in [&old_expired, &old_revoked, &old_idle] {
            assert!(matches!(
                sessions.validate(&gone.id, p).await,
                Err(SessionError::Unknown)
            ));
        }
        assert!(matches!(
            sessions.validate(&recent_expired.id, p).await,
            Err(SessionError::Expired)
        ));
        assert!(matches!(
            sessions.validate(&recent_revoked.id, p).await,
            Err(SessionError::Revoked)
        ));
        sessions.validate(&live.id, p).await.unwrap();
        // Nothing more to do.
        assert_eq!(sessions.purge(p).await.unwrap(), 0);
    });
}
