-- Browser sessions for cookie authentication (PostgreSQL). Keep in step with
-- ../sqlite/0005_sessions.sql. Owned by zhiyun-authz (`session`).
-- Times are BIGINT microseconds since the Unix epoch (UTC).

-- A session: only the sha256 (hex) of its secret id is kept, so a copy of
-- this table does not let anyone sign in. `csrf_token` is stored as is (the
-- browser holds it too; it only proves a request came from our pages).
-- A session is live while it is not revoked, `expires_at` (absolute) has
-- not passed, and `last_seen_at` + the idle timeout has not passed; the
-- idle timeout is configuration, not stored. `last_seen_at` is written at
-- most once a minute. Rows expired or revoked more than a day ago are purged.
-- Shared by every host on one PostgreSQL: no host caches sessions.
CREATE TABLE sessions (
    id_sha256    TEXT PRIMARY KEY,
    username     TEXT NOT NULL REFERENCES users (username),
    csrf_token   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    -- Absolute expiry: activity never extends a session past it.
    expires_at   BIGINT NOT NULL,
    revoked_at   BIGINT,
    user_agent   TEXT
);
CREATE INDEX sessions_user ON sessions (username);
