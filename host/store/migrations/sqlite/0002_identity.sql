-- Organisations, users, roles, posts and API tokens (SQLite). Keep in step
-- with ../postgres/0002_identity.sql. Owned by zhiyun-authz (org, identity).
-- Times are BIGINT microseconds since the Unix epoch (UTC); JSON is TEXT.

-- The org tree: 二级单位 → 县公司 → 供电所/部门, any depth. Exactly one root
-- (parent_id NULL); a parent must exist before its children, so no cycles.
CREATE TABLE orgs (
    org_id     TEXT PRIMARY KEY,
    code       TEXT NOT NULL UNIQUE,
    name       TEXT NOT NULL,
    parent_id  TEXT REFERENCES orgs (org_id),
    kind       TEXT NOT NULL CHECK (kind IN
                   ('secondary-unit', 'county-company', 'supply-station', 'department')),
    created_at BIGINT NOT NULL,
    CHECK (parent_id IS NULL OR parent_id <> org_id)
);
CREATE UNIQUE INDEX orgs_one_root ON orgs ((parent_id IS NULL)) WHERE parent_id IS NULL;
CREATE INDEX orgs_parent ON orgs (parent_id);

-- Roles: the seven built-in ones (below) and custom ones. `data_scope` is
-- the default scope of a post of this role (JSON, see scope::DataScope);
-- `max_sensitivity` the highest column level it reads unmasked.
CREATE TABLE roles (
    role_id         TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    builtin         BIGINT NOT NULL DEFAULT 0 CHECK (builtin IN (0, 1)),
    data_scope      TEXT NOT NULL,
    max_sensitivity TEXT NOT NULL CHECK (max_sensitivity IN ('public', 'internal', 'sensitive', 'core')),
    created_at      BIGINT NOT NULL
);
INSERT INTO roles (role_id, name, builtin, data_scope, max_sensitivity, created_at) VALUES
    ('system-admin',   '系统管理员', 1, '{"kind":"self-only"}',     'public',    0),
    ('security-admin', '安全管理员', 1, '{"kind":"self-only"}',     'public',    0),
    ('audit-admin',    '审计管理员', 1, '{"kind":"self-only"}',     'public',    0),
    ('developer',      '部门开发者', 1, '{"kind":"org-only"}',      'internal',  0),
    ('reviewer',       '审核员',     1, '{"kind":"org-and-below"}', 'internal',  0),
    ('unit-leader',    '单位领导',   1, '{"kind":"org-and-below"}', 'sensitive', 0),
    ('business-user',  '业务用户',   1, '{"kind":"org-and-below"}', 'internal',  0);

CREATE TABLE users (
    username        TEXT PRIMARY KEY,
    display_name    TEXT NOT NULL,
    org_id          TEXT NOT NULL REFERENCES orgs (org_id),
    status          TEXT NOT NULL CHECK (status IN ('active', 'disabled')),
    -- argon2id PHC string.
    password_hash   TEXT NOT NULL,
    failed_attempts BIGINT NOT NULL DEFAULT 0,
    locked_until    BIGINT,
    last_login_at   BIGINT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX users_org ON users (org_id);

-- A post: a user holds a role in an org (the user's own or another).
-- `data_scope` overrides the role's default (JSON), NULL = the role's.
CREATE TABLE posts (
    username   TEXT NOT NULL REFERENCES users (username),
    role_id    TEXT NOT NULL REFERENCES roles (role_id),
    org_id     TEXT NOT NULL REFERENCES orgs (org_id),
    data_scope TEXT,
    granted_by TEXT NOT NULL,
    granted_at BIGINT NOT NULL,
    PRIMARY KEY (username, role_id, org_id)
);
CREATE INDEX posts_org ON posts (org_id);
-- 三员分立: at most one post of the three admin roles per account.
CREATE UNIQUE INDEX posts_one_admin_role ON posts (username)
    WHERE role_id IN ('system-admin', 'security-admin', 'audit-admin');

-- Personal API tokens: only the sha256 of the token is kept.
CREATE TABLE api_tokens (
    token_id     TEXT PRIMARY KEY,
    username     TEXT NOT NULL REFERENCES users (username),
    name         TEXT NOT NULL,
    token_sha256 TEXT NOT NULL UNIQUE,
    scopes       TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at   BIGINT,
    revoked_by   TEXT
);
CREATE INDEX api_tokens_user ON api_tokens (username);
