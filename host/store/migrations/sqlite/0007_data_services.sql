-- Data services (数据服务, issue 6) (SQLite). Keep in step with
-- ../postgres/0007_data_services.sql. Owned by zhiyun-server (services.rs);
-- the actions' descriptions are in zhiyun_authz::policy::ACTIONS.
-- Times are BIGINT microseconds since the Unix epoch (UTC); JSON is TEXT.
--
-- A data service is an approved dataset query published as an HTTP
-- endpoint, GET /api/v1/services/<name>. Proposing one files a
-- `data-service` change request (change_id); its approval, by someone
-- other than the author, makes it active and grants its dataset to the app
-- id `service:<name>` (dataset_grants, applicant_type 'app', source
-- 'listing'), so every call reads the caller's scope ∩ that grant.
-- Retiring it removes the grant. A name is never reused once a service
-- was active: a caller of the old one must not silently get another.
--
--   status: proposed → active → retired; proposed → rejected (the request
--   was rejected; a withdrawn request leaves the row proposed, shown as
--   withdrawn, and a new proposal of the name replaces it).
CREATE TABLE data_services (
    name                  TEXT PRIMARY KEY,
    title                 TEXT NOT NULL,
    description           TEXT NOT NULL,
    dataset               TEXT NOT NULL,
    -- The query template (JSON arrays): dimension names, measure names,
    -- fixed filters [{field, op, values}], order [{field, descending}],
    -- and the declared parameters [{name, kind, required, default, field,
    -- op, description}].
    dimensions            TEXT NOT NULL,
    measures              TEXT NOT NULL,
    filters               TEXT NOT NULL,
    order_by              TEXT NOT NULL,
    parameters            TEXT NOT NULL,
    max_page_size         BIGINT NOT NULL CHECK (max_page_size BETWEEN 1 AND 1000),
    rate_limit_per_minute BIGINT NOT NULL CHECK (rate_limit_per_minute BETWEEN 1 AND 6000),
    max_sensitivity       TEXT NOT NULL CHECK (max_sensitivity IN ('public', 'internal', 'sensitive', 'core')),
    status                TEXT NOT NULL CHECK (status IN ('proposed', 'active', 'rejected', 'retired')),
    author                TEXT NOT NULL,
    change_id             BIGINT NOT NULL REFERENCES change_requests (id),
    created_at            BIGINT NOT NULL,
    approved_by           TEXT,
    approved_at           BIGINT,
    retired_by            TEXT,
    retired_at            BIGINT,
    retire_reason         TEXT,
    updated_at            BIGINT NOT NULL,
    -- Four eyes here too: the approver is never the author.
    CHECK (approved_by IS NULL OR approved_by <> author)
);
CREATE INDEX data_services_status ON data_services (status, name);

--   service.propose        propose a data service (developers, the system admin)
--   change.review.service  approve or reject one (reviewers, the security admin)
--   service.retire         retire an active one (the system admin)
INSERT INTO role_actions (role_id, action) VALUES
    ('developer',      'service.propose'),
    ('system-admin',   'service.propose'),
    ('reviewer',       'change.review.service'),
    ('security-admin', 'change.review.service'),
    ('system-admin',   'service.retire');
