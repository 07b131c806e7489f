-- The app registry (SQLite). Keep in step with ../postgres/0001_registry.sql.
-- Times are BIGINT microseconds since the Unix epoch (UTC); JSON is TEXT.

-- Department signing keys (ed25519). A package is accepted only if signed by
-- a registered, unrevoked key of the department its manifest names.
CREATE TABLE department_keys (
    key_id        TEXT PRIMARY KEY,
    department    TEXT NOT NULL,
    public_key    BLOB NOT NULL CHECK (length(public_key) = 32),
    registered_by TEXT NOT NULL,
    registered_at BIGINT NOT NULL,
    revoked_at    BIGINT
);

-- One row per app id: its kind (fixed by the first version) and the row that
-- state changes lock, so that changes to one app are serialised.
CREATE TABLE apps (
    app_id     TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE app_versions (
    app_id              TEXT NOT NULL REFERENCES apps (app_id),
    version             TEXT NOT NULL,
    v_major             BIGINT NOT NULL,
    v_minor             BIGINT NOT NULL,
    v_patch             BIGINT NOT NULL,
    v_pre               TEXT NOT NULL DEFAULT '',
    kind                TEXT NOT NULL,
    state               TEXT NOT NULL CHECK (state IN
                            ('submitted', 'rejected', 'published', 'suspended', 'superseded', 'offline')),
    component_sha256    TEXT NOT NULL,
    manifest_text       TEXT NOT NULL,
    manifest_json       TEXT NOT NULL,
    package             BLOB NOT NULL,
    size                BIGINT NOT NULL,
    signer_key_id       TEXT NOT NULL REFERENCES department_keys (key_id),
    submitted_by        TEXT NOT NULL,
    submitted_at        BIGINT NOT NULL,
    reviewed_by         TEXT,
    reviewed_at         BIGINT,
    reason              TEXT,
    changed_by          TEXT NOT NULL,
    changed_at          BIGINT NOT NULL,
    change_reason       TEXT,
    component_info_json TEXT NOT NULL,
    trial_json          TEXT NOT NULL,
    PRIMARY KEY (app_id, version)
);

-- At most one live (published or suspended) version per app.
CREATE UNIQUE INDEX app_versions_one_live ON app_versions (app_id)
    WHERE state IN ('published', 'suspended');
CREATE INDEX app_versions_component ON app_versions (component_sha256);
CREATE INDEX app_versions_state ON app_versions (state, submitted_at);

CREATE TABLE app_events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    app_id     TEXT NOT NULL,
    version    TEXT NOT NULL,
    from_state TEXT,
    to_state   TEXT NOT NULL,
    actor      TEXT NOT NULL,
    reason     TEXT,
    at         BIGINT NOT NULL,
    FOREIGN KEY (app_id, version) REFERENCES app_versions (app_id, version)
);
CREATE INDEX app_events_app ON app_events (app_id, id);
