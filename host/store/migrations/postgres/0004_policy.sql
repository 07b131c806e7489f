-- The casbin policy's tables (PostgreSQL). Keep in step with
-- ../sqlite/0004_policy.sql. Owned by zhiyun-authz (policy).
-- Times are BIGINT microseconds since the Unix epoch (UTC); JSON is TEXT.
--
-- These tables are the source of truth of the casbin policy: every host
-- builds its in-memory enforcer from them (host/authz/src/policy.rs) and
-- reloads when `policy_version` moves. Every write that changes a decision
-- (posts, menus, role actions, dataset grants and column policies, data
-- scopes) bumps the version in the same transaction.

-- One row: the policy's version, bumped by every policy-affecting write.
CREATE TABLE policy_version (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL
);
INSERT INTO policy_version (id, version) VALUES (1, 1);

-- Admin actions a role may do (casbin `p, role:<id>, action:<name>, do`).
-- The names are policy::ACTIONS. 三员分立: the system administrator does not
-- read the audit log (only 审计管理员 does), and the security administrator
-- reviews what the system administrator requests.
CREATE TABLE role_actions (
    role_id TEXT NOT NULL REFERENCES roles (role_id),
    action  TEXT NOT NULL,
    PRIMARY KEY (role_id, action)
);
INSERT INTO role_actions (role_id, action) VALUES
    ('developer',      'app.submit'),
    ('reviewer',       'app.review'),
    ('system-admin',   'app.review'),
    ('system-admin',   'app.operate'),
    ('security-admin', 'key.register'),
    ('audit-admin',    'audit.read'),
    ('system-admin',   'org.manage'),
    ('system-admin',   'user.manage'),
    ('system-admin',   'org.read'),
    ('security-admin', 'org.read'),
    ('system-admin',   'user.read'),
    ('security-admin', 'user.read'),
    ('system-admin',   'menu.manage'),
    ('security-admin', 'menu.manage'),
    ('system-admin',   'policy.read'),
    ('security-admin', 'policy.read'),
    ('reviewer',       'policy.read'),
    ('system-admin',   'change.create.role'),
    ('security-admin', 'change.create.role'),
    ('security-admin', 'change.review.role'),
    ('security-admin', 'change.review.menu'),
    ('reviewer',       'change.review.menu'),
    ('security-admin', 'change.review.dataset'),
    ('reviewer',       'change.review.app'),
    ('system-admin',   'change.review.app'),
    ('business-user',  'data.export'),
    ('unit-leader',    'data.export'),
    ('developer',      'dataset.apply'),
    ('reviewer',       'dataset.apply'),
    ('unit-leader',    'dataset.apply'),
    ('business-user',  'dataset.apply');

-- The menu tree. An entry may open an app (`app_id`); a role granted an
-- entry (menu_roles) sees it and its whole subtree, and may use the apps
-- placed there. A parent must exist before its children.
CREATE TABLE menus (
    menu_id    TEXT PRIMARY KEY,
    parent_id  TEXT REFERENCES menus (menu_id),
    title      TEXT NOT NULL,
    title_en   TEXT,
    app_id     TEXT,
    sort_order BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CHECK (parent_id IS NULL OR parent_id <> menu_id)
);
CREATE INDEX menus_parent ON menus (parent_id);
CREATE INDEX menus_app ON menus (app_id);

CREATE TABLE menu_roles (
    menu_id TEXT NOT NULL REFERENCES menus (menu_id),
    role_id TEXT NOT NULL REFERENCES roles (role_id),
    PRIMARY KEY (menu_id, role_id)
);
CREATE INDEX menu_roles_role ON menu_roles (role_id);

-- What the access check knows about a dataset (access::DatasetPolicy):
-- which column holds the row's org and which its owner, and each column's
-- level and mask (columns not listed are 公开).
CREATE TABLE dataset_policies (
    dataset      TEXT PRIMARY KEY,
    org_column   TEXT,
    owner_column TEXT,
    description  TEXT
);

CREATE TABLE dataset_columns (
    dataset     TEXT NOT NULL REFERENCES dataset_policies (dataset),
    column_name TEXT NOT NULL,
    sensitivity TEXT NOT NULL CHECK (sensitivity IN ('public', 'internal', 'sensitive', 'core')),
    mask        TEXT NOT NULL CHECK (mask IN ('bank-account', 'id-number', 'phone', 'name', 'full')),
    PRIMARY KEY (dataset, column_name)
);

-- Grants of a dataset: to a user or a role (casbin `p, user:<name>|role:<id>,
-- dataset:<name>, read`) or to an app (access::AppGrant). `source`: an app's
-- listing (the datasets its manifest declares, replaced at every listing) or
-- an approved 数据申请 (`change_id`). `columns`: JSON list, empty = every
-- column; `orgs`: JSON list of org ids whose subtrees the grant covers, NULL
-- = every org. No foreign key on `dataset`: an app may declare a dataset
-- before its column policy is registered (it is then unreadable).
CREATE TABLE dataset_grants (
    grant_id        BIGSERIAL PRIMARY KEY,
    dataset         TEXT NOT NULL,
    applicant_type  TEXT NOT NULL CHECK (applicant_type IN ('user', 'app', 'role')),
    applicant       TEXT NOT NULL,
    columns         TEXT NOT NULL DEFAULT '[]',
    orgs            TEXT,
    max_sensitivity TEXT NOT NULL CHECK (max_sensitivity IN ('public', 'internal', 'sensitive', 'core')),
    source          TEXT NOT NULL CHECK (source IN ('listing', 'request')),
    change_id       BIGINT REFERENCES change_requests (id),
    expires_at      BIGINT,
    granted_at      BIGINT NOT NULL,
    UNIQUE (dataset, applicant_type, applicant, source)
);
CREATE INDEX dataset_grants_applicant ON dataset_grants (applicant_type, applicant);
