-- The data platform's admin actions (issue 5: backflow ingestion and the
-- catalog). Owned by zhiyun-authz (policy); the descriptions are in
-- policy::ACTIONS. Same on both backends.
--   warehouse.load    load and reconcile backflow batches (系统管理员)
--   catalog.read      browse the data catalog (developers, reviewers, admins, leaders)
--   catalog.classify  confirm columns' sensitivity levels (安全管理员)
INSERT INTO role_actions (role_id, action) VALUES
    ('system-admin',   'warehouse.load'),
    ('system-admin',   'catalog.read'),
    ('security-admin', 'catalog.read'),
    ('developer',      'catalog.read'),
    ('reviewer',       'catalog.read'),
    ('unit-leader',    'catalog.read'),
    ('security-admin', 'catalog.classify');
