-- The audit log and change requests (PostgreSQL). Keep in step with
-- ../sqlite/0003_audit.sql. Owned by zhiyun-authz (`audit`, `change`).
-- Times are BIGINT microseconds since the Unix epoch (UTC); JSON is TEXT.

-- The hash-chained, append-only audit log. `seq` runs 1, 2, 3, … with no
-- gaps; `hash` = sha256 of the entry's canonical encoding, which includes
-- `prev_hash`, the hash of entry seq - 1 (64 zeros for seq 1). See
-- host/authz/src/audit.rs for the encoding. `hash` and `prev_hash` are
-- unique: two entries can never claim the same predecessor (no fork).
CREATE TABLE audit_log (
    seq        BIGINT PRIMARY KEY CHECK (seq >= 1),
    at         BIGINT NOT NULL,
    actor      TEXT NOT NULL,
    actor_org  TEXT,
    action     TEXT NOT NULL,
    target     TEXT NOT NULL,
    outcome    TEXT NOT NULL CHECK (outcome IN ('ok', 'denied', 'error')),
    detail     TEXT NOT NULL,
    request_id TEXT,
    prev_hash  TEXT NOT NULL UNIQUE,
    hash       TEXT NOT NULL UNIQUE
);
CREATE INDEX audit_log_actor ON audit_log (actor, seq);
CREATE INDEX audit_log_action ON audit_log (action, seq);
CREATE INDEX audit_log_at ON audit_log (at);

-- The last entry (seq 0 and 64 zeros while the log is empty). Appenders lock
-- this row (SELECT … FOR UPDATE), which serialises appends from every host;
-- `verify` checks the log still reaches it (a truncation check that an
-- attacker who can also rewrite this row defeats — publish
-- `AuditLog::head()` elsewhere for a real anchor).
CREATE TABLE audit_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  BIGINT NOT NULL,
    hash TEXT NOT NULL,
    at   BIGINT NOT NULL
);
INSERT INTO audit_head (id, seq, hash, at)
    VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000', 0);

-- The database's own wall: entries are never changed or removed, the head
-- only moves forward.
CREATE FUNCTION audit_log_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP;
END;
$$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_refuse();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse();

CREATE FUNCTION audit_head_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'UPDATE' OR NEW.seq <= OLD.seq OR NEW.id <> OLD.id THEN
        RAISE EXCEPTION 'audit_head only moves forward: % refused', TG_OP;
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER audit_head_forward_only BEFORE UPDATE OR DELETE ON audit_head
    FOR EACH ROW EXECUTE FUNCTION audit_head_guard();
CREATE TRIGGER audit_head_no_truncate BEFORE TRUNCATE ON audit_head
    FOR EACH STATEMENT EXECUTE FUNCTION audit_head_guard();

-- Change requests: every change to who may do what (app listing and
-- upgrades, menus, role grants and revocations, data scopes, dataset access
-- applications). Approved or rejected by someone other than the author.
CREATE TABLE change_requests (
    id          BIGSERIAL PRIMARY KEY,
    kind        TEXT NOT NULL,
    payload     TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('pending', 'approved', 'rejected', 'withdrawn')),
    author      TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    reviewer    TEXT,
    reviewed_at BIGINT,
    reason      TEXT,
    applied_at  BIGINT,
    updated_at  BIGINT NOT NULL,
    -- Four eyes, as the database's own wall.
    CHECK (reviewer IS NULL OR reviewer <> author)
);
CREATE INDEX change_requests_state ON change_requests (state, id);
CREATE INDEX change_requests_author ON change_requests (author, id);
CREATE INDEX change_requests_kind ON change_requests (kind, id);

CREATE TABLE change_events (
    id         BIGSERIAL PRIMARY KEY,
    request_id BIGINT NOT NULL REFERENCES change_requests (id),
    from_state TEXT,
    to_state   TEXT NOT NULL,
    actor      TEXT NOT NULL,
    reason     TEXT,
    at         BIGINT NOT NULL
);
CREATE INDEX change_events_request ON change_events (request_id, id);
