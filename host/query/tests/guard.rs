//! The first wall on its own: every statement here is decided by the guard
//! alone, on both dialects (no database needed). Refusals are asserted by
//! rule and by the fragment they name; acceptances by the rewritten SQL.

mod common;

use common::views_3301;
use zhiyun_contract::{AppError, ErrorKind};
use zhiyun_query::guard::{BoundParam, Dialect, GuardError, GuardedSql, Refusal, guard};

const BOTH: [Dialect; 2] = [Dialect::Sqlite, Dialect::Postgres];

fn accept(sql: &str, d: Dialect) -> GuardedSql {
    guard(sql, &views_3301(d), d).unwrap_or_else(|e| panic!("{d:?} refused {sql:?}: {e}"))
}

fn refuse(sql: &str, d: Dialect) -> GuardError {
    match guard(sql, &views_3301(d), d) {
        Ok(g) => panic!("{d:?} accepted {sql:?} as {}", g.sql),
        Err(e) => {
            // Display says what, where and why.
            let shown = e.to_string();
            assert!(shown.contains(&e.fragment), "{shown}");
            assert!(shown.contains(&e.reason), "{shown}");
            e
        }
    }
}

/// Refused on both dialects, by `kind`, naming something that contains
/// `fragment` (case-insensitively).
fn refused_as(sql: &str, kind: Refusal, fragment: &str) {
    for d in BOTH {
        let e = refuse(sql, d);
        assert_eq!(e.kind, kind, "{d:?} {sql}: {e}");
        assert!(
            e.fragment.to_lowercase().contains(&fragment.to_lowercase()),
            "{d:?} {sql}: fragment {:?} lacks {fragment:?}",
            e.fragment
        );
    }
}

/// Refused on both dialects, for whatever reason (some statements do not
/// even parse in one dialect).
fn refused(sql: &str) {
    for d in BOTH {
        refuse(sql, d);
    }
}

#[test]
fn a_table_not_granted_is_refused() {
    refused_as("SELECT * FROM dwd_secret", Refusal::Table, "dwd_secret");
    refused_as(
        "SELECT org_id FROM fund_daily UNION SELECT secret FROM dwd_secret",
        Refusal::Table,
        "dwd_secret",
    );
    refused_as(
        "SELECT org_id FROM fund_daily UNION ALL SELECT secret FROM dwd_secret",
        Refusal::Table,
        "dwd_secret",
    );
    // The physical table behind the dataset is not readable by its name.
    refused_as(
        "SELECT * FROM ads_fund_daily",
        Refusal::Table,
        "ads_fund_daily",
    );
    let e = refuse("SELECT * FROM dwd_secret", Dialect::Sqlite);
    assert!(
        e.reason.contains("fund_daily"),
        "names what is readable: {e}"
    );
    assert_eq!(AppError::from(e).kind, ErrorKind::AccessDenied);
}

#[test]
fn subqueries_and_ctes_cannot_reach_other_tables() {
    for sql in [
        "SELECT * FROM fund_daily WHERE org_id IN (SELECT secret FROM dwd_secret)",
        "SELECT * FROM fund_daily WHERE EXISTS (SELECT 1 FROM dwd_secret)",
        "SELECT (SELECT secret FROM dwd_secret) AS s FROM fund_daily",
        "SELECT * FROM (SELECT * FROM dwd_secret) AS x",
        "SELECT * FROM fund_daily f JOIN dwd_secret s ON 1 = 1",
        "SELECT * FROM fund_daily f, dwd_secret s",
        "WITH t AS (SELECT * FROM dwd_secret) SELECT * FROM t",
        "WITH t AS (SELECT * FROM fund_daily) SELECT * FROM t, dwd_secret",
        "WITH a AS (SELECT 1 AS x), b AS (SELECT * FROM dwd_secret) SELECT * FROM a, b",
        "SELECT * FROM fund_daily WHERE org_id IN (WITH t AS (SELECT secret FROM dwd_secret) SELECT * FROM t)",
        "SELECT * FROM (fund_daily f JOIN (dwd_secret s JOIN fund_daily g ON 1 = 1) ON 1 = 1)",
    ] {
        refused_as(sql, Refusal::Table, "dwd_secret");
    }
}

#[test]
fn a_with_name_is_scoped_strictly() {
    // Not visible in its own body without RECURSIVE: in PostgreSQL the name
    // would mean the real table there.
    refused_as(
        "WITH dwd_secret AS (SELECT * FROM dwd_secret) SELECT * FROM dwd_secret",
        Refusal::Table,
        "dwd_secret",
    );
    // Not visible in an earlier body.
    let e = refuse(
        "WITH a AS (SELECT * FROM b), b AS (SELECT org_id FROM fund_daily) SELECT * FROM a",
        Dialect::Postgres,
    );
    assert_eq!(e.kind, Refusal::Table);
    assert!(e.reason.contains("RECURSIVE"), "{e}");
    // Not visible outside the subquery that defines it.
    refused_as(
        "SELECT * FROM (WITH t AS (SELECT org_id FROM fund_daily) SELECT * FROM t) x, t",
        Refusal::Table,
        "t",
    );
    // In scope: later bodies, the main query, nested subqueries, and every
    // body under RECURSIVE.
    for d in BOTH {
        accept(
            "WITH a AS (SELECT org_id FROM fund_daily), b AS (SELECT * FROM a) \
             SELECT * FROM b WHERE org_id IN (SELECT org_id FROM a)",
            d,
        );
        accept(
            "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 10) \
             SELECT count(*) FROM r",
            d,
        );
    }
}

#[test]
fn a_with_name_may_not_shadow_a_dataset_or_a_table() {
    refused_as(
        "WITH fund_daily AS (SELECT 1 AS org_id) SELECT * FROM fund_daily",
        Refusal::Table,
        "fund_daily",
    );
    // It would replace the physical table inside the rewritten view.
    refused_as(
        "WITH ads_fund_daily AS (SELECT '3302' AS org_id) SELECT * FROM fund_daily",
        Refusal::Table,
        "ads_fund_daily",
    );
    refused_as(
        "WITH \"ADS_FUND_DAILY\" AS (SELECT 1) SELECT * FROM fund_daily",
        Refusal::Table,
        "ADS_FUND_DAILY",
    );
    refused_as(
        "SELECT * FROM (WITH Ads_Fund_Daily AS (SELECT 1) SELECT * FROM fund_daily) x",
        Refusal::Table,
        "Ads_Fund_Daily",
    );
}

#[test]
fn qualified_names_and_catalogs_are_refused() {
    for (sql, name) in [
        ("SELECT * FROM main.ads_fund_daily", "main.ads_fund_daily"),
        ("SELECT * FROM main.fund_daily", "main.fund_daily"),
        ("SELECT * FROM public.ads_fund_daily", "public"),
        ("SELECT * FROM temp.x", "temp.x"),
        ("SELECT * FROM pg_catalog.pg_user", "pg_catalog"),
        (
            "SELECT * FROM information_schema.tables",
            "information_schema",
        ),
        ("SELECT * FROM sqlite_master", "sqlite_master"),
        ("SELECT * FROM sqlite_schema", "sqlite_schema"),
        ("SELECT * FROM pg_shadow", "pg_shadow"),
        ("SELECT * FROM pg_authid", "pg_authid"),
        ("SELECT * FROM pragma_database_list", "pragma_database_list"),
        ("SELECT usename FROM pg_user", "pg_user"),
    ] {
        refused_as(sql, Refusal::Table, name);
    }
}

#[test]
fn table_functions_are_refused() {
    for (sql, name) in [
        ("SELECT * FROM generate_series(1, 10)", "generate_series"),
        ("SELECT * FROM json_each('[1, 2]')", "json_each"),
        (
            "SELECT * FROM pragma_table_info('users')",
            "pragma_table_info",
        ),
        (
            "SELECT * FROM fund_daily f, generate_series(1, 3) g",
            "generate_series",
        ),
    ] {
        refused_as(sql, Refusal::Table, name);
    }
    let e = refuse(
        "SELECT * FROM fund_daily f CROSS JOIN LATERAL generate_series(1, 3) AS g",
        Dialect::Postgres,
    );
    assert_eq!(e.kind, Refusal::Table, "{e}");
    let e = refuse(
        "SELECT * FROM fund_daily WHERE '3302' IN dwd_secret",
        Dialect::Sqlite,
    );
    assert_eq!(e.kind, Refusal::Table, "{e}");
    let e = refuse(
        "SELECT * FROM fund_daily WHERE org_id IN fund_daily",
        Dialect::Sqlite,
    );
    assert_eq!(e.kind, Refusal::Table, "{e}");
}

#[test]
fn quoting_case_and_comments_do_not_change_the_outcome() {
    for d in BOTH {
        for sql in [
            "SeLeCt * FrOm FUND_DAILY",
            "select * from \"fund_daily\"",
            "SELECT * FROM fund_daily -- trailing comment",
            "SELECT * FROM /* dwd_secret */ fund_daily /* ; DROP TABLE x */",
            "SELECT * FROM fund_daily;",
            "SELECT * FROM fund_daily; -- DROP TABLE ads_fund_daily",
            "SELECT * FROM fund_daily /* ; */ ;",
            "\n\tSELECT\n*\nFROM\nfund_daily\n",
        ] {
            let g = accept(sql, d);
            assert!(g.sql.contains("\"ads_fund_daily\""), "{sql}: {}", g.sql);
            assert!(!g.sql.contains("--") && !g.sql.contains("/*"), "{}", g.sql);
            assert_eq!(g.datasets, ["fund_daily"]);
        }
        // A quoted name matches exactly.
        let e = refuse("SELECT * FROM \"FUND_DAILY\"", d);
        assert_eq!(e.kind, Refusal::Table);
        assert_eq!(e.fragment, "\"FUND_DAILY\"");
        for sql in [
            "SELECT * FROM \"dwd_secret\"",
            "SELECT * FROM DWD_SECRET",
            "SELECT * FROM fund_daily, /* comment */ dwd_secret",
            "SELECT * FROM \"fund_daily\"\"\"",
        ] {
            assert_eq!(refuse(sql, d).kind, Refusal::Table, "{d:?} {sql}");
        }
        // Comments cannot hide a second statement.
        for sql in [
            "SELECT 1; DROP TABLE ads_fund_daily",
            "SELECT * FROM fund_daily; /* */ DELETE FROM ads_fund_daily",
            "SELECT * FROM fund_daily -- \n; DROP TABLE x",
            "SELECT 1; SELECT 2",
        ] {
            assert_eq!(refuse(sql, d).kind, Refusal::StatementCount, "{d:?} {sql}");
        }
    }
    for sql in [
        "SELECT * FROM [fund_daily]",
        "SELECT * FROM `fund_daily`",
        "SELECT [org_id] FROM fund_daily",
    ] {
        accept(sql, Dialect::Sqlite);
    }
    for sql in [
        "SELECT * FROM [dwd_secret]",
        "SELECT * FROM `dwd_secret`",
        "SELECT * FROM [FUND_DAILY]",
    ] {
        assert_eq!(refuse(sql, Dialect::Sqlite).kind, Refusal::Table, "{sql}");
    }
    // A name the printer would not render faithfully (`]` is not escaped
    // inside brackets in SQLite) is refused, not sent as two statements.
    let e = refuse(
        "SELECT org_id AS [a]]; SELECT secret FROM dwd_secret; --] FROM fund_daily",
        Dialect::Sqlite,
    );
    assert_eq!(e.kind, Refusal::Syntax, "{e}");
    for d in BOTH {
        let e = refuse("SELECT org_id FROM fund_daily WHERE org_id = 'a\0b'", d);
        assert_eq!(e.kind, Refusal::Syntax, "{e}");
        // Quotes inside names and strings are escaped in the output.
        let g = accept(
            "SELECT org_id AS \"x\"\"; SELECT secret FROM dwd_secret; --\", 'it''s' AS y FROM fund_daily",
            d,
        );
        assert!(
            g.sql
                .contains("AS \"x\"\"; SELECT secret FROM dwd_secret; --\""),
            "{}",
            g.sql
        );
        assert!(g.sql.contains("'it''s'"), "{}", g.sql);
    }
    // Unicode escapes are not a way to spell a granted name.
    refuse("SELECT * FROM U&\"fund\\005fdaily\"", Dialect::Postgres);
    refuse("SELECT * FROM U&\"dwd\\005fsecret\"", Dialect::Postgres);
}

#[test]
fn functions_are_an_allow_list() {
    for (sql, name) in [
        ("SELECT load_extension('/tmp/evil.so')", "load_extension"),
        ("SELECT readfile('/etc/passwd')", "readfile"),
        ("SELECT writefile('/tmp/x', 'y')", "writefile"),
        ("SELECT edit('x')", "edit"),
        ("SELECT fts3_tokenizer('simple')", "fts3_tokenizer"),
        ("SELECT pg_read_file('/etc/passwd')", "pg_read_file"),
        (
            "SELECT pg_read_binary_file('/etc/passwd')",
            "pg_read_binary_file",
        ),
        (
            "SELECT * FROM fund_daily WHERE pg_ls_dir('.') IS NULL",
            "pg_ls_dir",
        ),
        ("SELECT pg_sleep(10)", "pg_sleep"),
        ("SELECT dblink('host=evil', 'SELECT 1')", "dblink"),
        ("SELECT lo_import('/etc/passwd')", "lo_import"),
        ("SELECT lo_export(1, '/tmp/x')", "lo_export"),
        (
            "SELECT current_setting('data_directory')",
            "current_setting",
        ),
        ("SELECT set_config('role', 'none', true)", "set_config"),
        ("SELECT pg_terminate_backend(1)", "pg_terminate_backend"),
        ("SELECT version()", "version"),
        ("SELECT sqlite_version()", "sqlite_version"),
        ("SELECT randomblob(16)", "randomblob"),
        ("SELECT random()", "random"),
        ("SELECT org_id FROM fund_daily ORDER BY random()", "random"),
        (
            "SELECT count(*) FILTER (WHERE pg_sleep(1) IS NULL) FROM fund_daily",
            "pg_sleep",
        ),
        (
            "SELECT sum(closing) OVER (PARTITION BY hex(org_id)) FROM fund_daily",
            "hex",
        ),
        (
            "SELECT pg_catalog.upper(org_id) FROM fund_daily",
            "pg_catalog.upper",
        ),
        ("SELECT \"pg_sleep\"(1)", "pg_sleep"),
        ("SELECT PG_SLEEP(1)", "pg_sleep"),
        ("SELECT txid_current()", "txid_current"),
        (
            "SELECT query_to_xml('select * from dwd_secret', true, true, '')",
            "query_to_xml",
        ),
    ] {
        refused_as(sql, Refusal::Function, name);
    }
    // Functions that exist on one backend only.
    assert_eq!(
        refuse(
            "SELECT strpos(org_id, '3') FROM fund_daily",
            Dialect::Sqlite
        )
        .kind,
        Refusal::Function
    );
    assert_eq!(
        refuse(
            "SELECT ifnull(org_id, '') FROM fund_daily",
            Dialect::Postgres
        )
        .kind,
        Refusal::Function
    );
    // Allowed ones, with the clauses they take.
    for d in BOTH {
        for sql in [
            "SELECT org_id, count(*), sum(closing), min(closing), max(closing), avg(closing) \
             FROM fund_daily GROUP BY org_id HAVING count(DISTINCT acct_no) > 0",
            "SELECT org_id, row_number() OVER (PARTITION BY org_id ORDER BY closing DESC) AS rn, \
             rank() OVER w, dense_rank() OVER w, ntile(2) OVER w, \
             lag(closing) OVER w, lead(closing, 1) OVER w, first_value(closing) OVER w, \
             last_value(closing) OVER w \
             FROM fund_daily WINDOW w AS (ORDER BY closing)",
            "SELECT abs(closing), round(closing / 100.0, 2), coalesce(id_no, ''), nullif(org_id, ''), \
             length(holder_name), lower(org_id), upper(org_id), trim(org_id), ltrim(org_id), \
             rtrim(org_id), substr(acct_no, 1, 3), replace(org_id, '33', 'x'), concat(org_id, '-') \
             FROM fund_daily",
            "SELECT CASE WHEN closing > 100 THEN 'big' ELSE 'small' END, CAST(closing AS TEXT), \
             CAST(org_id AS INTEGER), CAST(closing AS NUMERIC(18, 2)), CAST(closing AS REAL) FROM fund_daily",
            "SELECT org_id FROM fund_daily WHERE closing BETWEEN ?1 AND ?2 AND org_id LIKE '33%' \
             AND id_no IS NOT NULL AND org_id IN ('3301', '3302') ORDER BY org_id COLLATE \"C\"",
        ] {
            let sql = if d == Dialect::Sqlite {
                sql.replace("COLLATE \"C\"", "COLLATE NOCASE")
            } else {
                sql.to_string()
            };
            accept(&sql, d);
        }
    }
    accept(
        "SELECT total(closing), group_concat(org_id), ifnull(id_no, '-'), instr(acct_no, '0'), \
         max(closing, 1), min(closing, 2), date(balance_date, '+1 day'), \
         strftime('%Y-%m', balance_date) FROM fund_daily GROUP BY org_id",
        Dialect::Sqlite,
    );
    accept(
        "SELECT string_agg(org_id, ',' ORDER BY org_id), strpos(acct_no, '0'), greatest(closing, 1), \
         least(closing, 2), to_char(closing, '999'), date_trunc('month', CAST(balance_date AS DATE)), \
         EXTRACT(YEAR FROM CAST(balance_date AS DATE)), substring(acct_no FROM 1 FOR 3) \
         FROM fund_daily GROUP BY org_id, acct_no, closing, balance_date",
        Dialect::Postgres,
    );
    // SQLite's date modifiers must be literals.
    let e = refuse(
        "SELECT date(balance_date, org_id) FROM fund_daily",
        Dialect::Sqlite,
    );
    assert_eq!(e.kind, Refusal::Function);
}

#[test]
fn casts_only_to_plain_types() {
    for (sql, ty) in [
        ("SELECT CAST('pg_shadow' AS regclass)", "regclass"),
        ("SELECT 'pg_shadow'::regclass", "regclass"),
        ("SELECT CAST(1 AS oid)", "oid"),
        ("SELECT CAST(org_id AS BLOB) FROM fund_daily", "blob"),
        ("SELECT CAST(org_id AS JSON) FROM fund_daily", "json"),
        ("SELECT CAST('now' AS TIMESTAMP)", "timestamp"),
    ] {
        for d in BOTH {
            let e = refuse(sql, d);
            if e.kind == Refusal::Syntax {
                continue;
            }
            assert_eq!(e.kind, Refusal::Type, "{d:?} {sql}: {e}");
            assert!(e.fragment.to_lowercase().contains(ty), "{e}");
        }
    }
    refused_as(
        "SELECT org_id FROM fund_daily ORDER BY org_id COLLATE \"de-x-icu\"",
        Refusal::Expression,
        "de-x-icu",
    );
}

#[test]
fn writes_of_every_kind_are_refused() {
    for sql in [
        "INSERT INTO fund_daily VALUES ('3301')",
        "INSERT INTO ads_fund_daily SELECT * FROM fund_daily",
        "UPDATE fund_daily SET closing = 0",
        "DELETE FROM fund_daily",
        "CREATE TABLE x (a INTEGER)",
        "CREATE TEMP TABLE x AS SELECT * FROM fund_daily",
        "CREATE VIEW v AS SELECT * FROM dwd_secret",
        "CREATE INDEX i ON ads_fund_daily (org_id)",
        "DROP TABLE ads_fund_daily",
        "ALTER TABLE ads_fund_daily ADD COLUMN x TEXT",
        "WITH t AS (SELECT 1) INSERT INTO ads_fund_daily SELECT * FROM t",
        "INSERT INTO ads_fund_daily (org_id) VALUES ('1') ON CONFLICT DO NOTHING",
        "INSERT INTO ads_fund_daily (org_id) VALUES ('1') ON CONFLICT (org_id) DO UPDATE SET org_id = 'x'",
        "EXPLAIN SELECT * FROM fund_daily",
        "BEGIN",
        "COMMIT",
        "ANALYZE",
    ] {
        for d in BOTH {
            let e = refuse(sql, d);
            assert!(
                matches!(e.kind, Refusal::NotAQuery | Refusal::Syntax),
                "{d:?} {sql}: {e}"
            );
        }
    }
    for sql in [
        "REPLACE INTO ads_fund_daily VALUES ('3301')",
        "ATTACH DATABASE '/work/platform.db' AS p",
        "ATTACH '/work/platform.db' AS p",
        "DETACH DATABASE p",
        "PRAGMA query_only = OFF",
        "PRAGMA table_info(ads_fund_daily)",
        "VACUUM",
        "VACUUM INTO '/tmp/copy.db'",
    ] {
        let e = refuse(sql, Dialect::Sqlite);
        assert!(
            matches!(e.kind, Refusal::NotAQuery | Refusal::Syntax),
            "{sql}: {e}"
        );
    }
    for sql in [
        "COPY ads_fund_daily TO '/tmp/out.csv'",
        "COPY ads_fund_daily FROM PROGRAM 'id'",
        "COPY (SELECT * FROM fund_daily) TO STDOUT",
        "SET ROLE postgres",
        "SET search_path = public",
        "RESET ROLE",
        "CALL p()",
        "EXECUTE p",
        "PREPARE p AS SELECT 1",
        "GRANT SELECT ON ads_fund_daily TO PUBLIC",
        "REVOKE SELECT ON ads_fund_daily FROM PUBLIC",
        "TRUNCATE ads_fund_daily",
        "MERGE INTO ads_fund_daily t USING dwd_secret s ON true WHEN MATCHED THEN DELETE",
        "DO $$ BEGIN PERFORM 1; END $$",
        "LISTEN x",
        "LOCK TABLE ads_fund_daily",
        "CREATE EXTENSION dblink",
    ] {
        let e = refuse(sql, Dialect::Postgres);
        assert!(
            matches!(e.kind, Refusal::NotAQuery | Refusal::Syntax),
            "{sql}: {e}"
        );
    }
    // Data-modifying WITH (PostgreSQL).
    let e = refuse(
        "WITH d AS (DELETE FROM ads_fund_daily RETURNING *) SELECT * FROM d",
        Dialect::Postgres,
    );
    assert!(
        matches!(e.kind, Refusal::NotAQuery | Refusal::Syntax),
        "{e}"
    );
    let e = refuse(
        "WITH d AS (UPDATE fund_daily SET closing = 0 RETURNING *) SELECT * FROM fund_daily",
        Dialect::Postgres,
    );
    assert!(
        matches!(e.kind, Refusal::NotAQuery | Refusal::Syntax),
        "{e}"
    );
}

#[test]
fn query_clauses_that_write_or_lock_are_refused() {
    refused_as(
        "SELECT * INTO stolen FROM fund_daily",
        Refusal::Clause,
        "stolen",
    );
    for sql in [
        "SELECT * FROM fund_daily FOR UPDATE",
        "SELECT * FROM fund_daily FOR SHARE",
        "SELECT * FROM fund_daily FOR UPDATE SKIP LOCKED",
    ] {
        let e = refuse(sql, Dialect::Postgres);
        assert_eq!(e.kind, Refusal::Clause, "{sql}: {e}");
    }
    for sql in [
        "SELECT * FROM fund_daily FOR NO KEY UPDATE",
        "SELECT * FROM fund_daily FOR KEY SHARE",
    ] {
        let e = refuse(sql, Dialect::Postgres);
        assert!(
            matches!(e.kind, Refusal::Clause | Refusal::Syntax),
            "{sql}: {e}"
        );
    }
    refused("VALUES (1), (2)");
    refused("TABLE fund_daily");
    // VALUES inside a query is fine.
    for d in BOTH {
        accept(
            "SELECT org_id FROM fund_daily WHERE org_id IN (SELECT column1 FROM (VALUES ('3301')) v)",
            d,
        );
    }
}

#[test]
fn placeholders_are_question_marks() {
    for d in BOTH {
        let g = accept(
            "SELECT org_id FROM fund_daily WHERE closing > ?1 AND balance_date = ?2 AND closing < ?1",
            d,
        );
        assert!(g.sql.contains("closing > $1"), "{}", g.sql);
        assert!(g.sql.contains("balance_date = $2"), "{}", g.sql);
        assert!(g.sql.contains("closing < $1"), "{}", g.sql);
        assert!(g.sql.contains("IN ($3)"), "{}", g.sql);
        assert_eq!(
            g.params,
            [
                BoundParam::User(0),
                BoundParam::User(1),
                BoundParam::Filter("3301".into())
            ]
        );
        // Plain ? are sequential.
        let g = accept(
            "SELECT org_id FROM fund_daily WHERE closing > ? AND closing < ?",
            d,
        );
        assert_eq!(g.params[..2], [BoundParam::User(0), BoundParam::User(1)]);
        // Gaps are closed: ?3 alone is $1, bound to the third parameter.
        let g = accept("SELECT org_id FROM fund_daily WHERE closing > ?3", d);
        assert!(g.sql.contains("closing > $1"), "{}", g.sql);
        assert_eq!(
            g.params,
            [BoundParam::User(2), BoundParam::Filter("3301".into())]
        );
        // Each dataset reference binds its own filter values.
        let g = accept(
            "SELECT a.org_id FROM fund_daily a JOIN fund_daily b ON a.acct_no = b.acct_no WHERE a.closing > ?1",
            d,
        );
        assert_eq!(
            g.params,
            [
                BoundParam::User(0),
                BoundParam::Filter("3301".into()),
                BoundParam::Filter("3301".into())
            ]
        );
        assert!(
            g.sql.contains("IN ($2)") && g.sql.contains("IN ($3)"),
            "{}",
            g.sql
        );
        for sql in [
            "SELECT org_id FROM fund_daily WHERE closing > ? AND closing < ?2",
            "SELECT org_id FROM fund_daily WHERE closing > ?1000",
            "SELECT org_id FROM fund_daily WHERE closing > ?0",
        ] {
            assert_eq!(refuse(sql, d).kind, Refusal::Placeholder, "{d:?} {sql}");
        }
    }
    for sql in [
        "SELECT org_id FROM fund_daily WHERE closing > $1",
        "SELECT org_id FROM fund_daily WHERE closing > :x",
        "SELECT org_id FROM fund_daily WHERE closing > @x",
        "SELECT org_id FROM fund_daily WHERE closing > $x",
    ] {
        assert_eq!(
            refuse(sql, Dialect::Sqlite).kind,
            Refusal::Placeholder,
            "{sql}"
        );
    }
    assert_eq!(
        refuse(
            "SELECT org_id FROM fund_daily WHERE closing > $1",
            Dialect::Postgres
        )
        .kind,
        Refusal::Placeholder
    );
}

#[test]
fn the_rewrite_wraps_every_reference() {
    for d in BOTH {
        let g = accept(
            "SELECT f.org_id, x.n FROM fund_daily f \
             JOIN (SELECT org_id, count(*) AS n FROM fund_daily GROUP BY org_id) x ON x.org_id = f.org_id \
             UNION ALL SELECT org_id, 0 FROM Fund_Daily",
            d,
        );
        assert_eq!(
            g.sql.matches("FROM \"ads_fund_daily\"").count(),
            3,
            "{}",
            g.sql
        );
        assert_eq!(g.sql.matches("\"org_id\" IN (").count(), 3, "{}", g.sql);
        assert!(g.sql.contains(") AS f"), "{}", g.sql);
        assert!(g.sql.contains(") AS Fund_Daily"), "{}", g.sql);
        assert_eq!(g.datasets, ["fund_daily"]);
        assert_eq!(g.params.len(), 3);
        // Masked columns are masked inside the view.
        assert!(g.sql.contains("AS \"id_no\""), "{}", g.sql);
        assert!(!g.sql.contains("internal_note"), "{}", g.sql);
        // The fence.
        let fence = if d == Dialect::Sqlite {
            "LIMIT -1 OFFSET 0)"
        } else {
            "OFFSET 0)"
        };
        assert_eq!(g.sql.matches(fence).count(), 3, "{}", g.sql);
    }
}

#[test]
fn expressions_outside_the_allow_list_are_refused() {
    for sql in [
        "SELECT org_id FROM fund_daily WHERE org_id REGEXP '3.*'",
        "SELECT org_id FROM fund_daily WHERE org_id MATCH 'x'",
    ] {
        let e = refuse(sql, Dialect::Sqlite);
        assert!(
            matches!(e.kind, Refusal::Expression | Refusal::Syntax),
            "{sql}: {e}"
        );
    }
    for sql in [
        "SELECT org_id FROM fund_daily WHERE org_id OPERATOR(pg_catalog.=) '3301'",
        "SELECT ARRAY[1, 2]",
        "SELECT '{}'::jsonb ? 'a'",
    ] {
        let e = refuse(sql, Dialect::Postgres);
        assert!(
            matches!(
                e.kind,
                Refusal::Expression | Refusal::Syntax | Refusal::Type | Refusal::Placeholder
            ),
            "{sql}: {e}"
        );
    }
}

#[test]
fn huge_or_deep_statements_are_refused_without_crashing() {
    for d in BOTH {
        let deep = format!("SELECT 1{}", " + 1".repeat(20_000));
        assert_eq!(refuse(&deep, d).kind, Refusal::Syntax);
        let long = format!("SELECT '{}'", "x".repeat(70_000));
        assert_eq!(refuse(&long, d).kind, Refusal::Syntax);
        let nested = format!("SELECT {}1{}", "(".repeat(500), ")".repeat(500));
        assert_eq!(refuse(&nested, d).kind, Refusal::Syntax);
        let many = vec!["SELECT org_id FROM fund_daily"; 65].join(" UNION ALL ");
        assert_eq!(refuse(&many, d).kind, Refusal::Table);
        accept(
            &vec!["SELECT org_id FROM fund_daily"; 64].join(" UNION ALL "),
            d,
        );
        // Within the limits, a long chain is fine.
        accept(&format!("SELECT 1{}", " + 1".repeat(3_000)), d);
        assert_eq!(refuse("", d).kind, Refusal::StatementCount);
        assert!(matches!(
            refuse(";", d).kind,
            Refusal::Syntax | Refusal::StatementCount
        ));
        assert_eq!(refuse("-- nothing", d).kind, Refusal::StatementCount);
        assert_eq!(refuse("SELEC 1", d).kind, Refusal::Syntax);
    }
}

#[test]
fn errors_say_what_where_and_why() {
    let e = refuse(
        "SELECT * FROM fund_daily f JOIN dwd_secret s ON true",
        Dialect::Postgres,
    );
    assert_eq!(
        e.to_string(),
        "table not readable at `dwd_secret`: not a dataset this app may read here (readable: fund_daily)"
    );
    let e = refuse("SELECT pg_sleep(5)", Dialect::Postgres);
    assert_eq!(
        e.to_string(),
        "function not allowed at `pg_sleep`: not on the list of functions apps may call"
    );
    assert_eq!(AppError::from(e).kind, ErrorKind::InvalidInput);
}

#[test]
fn broken_views_fail_closed() {
    let mut views = views_3301(Dialect::Sqlite);
    if let Some(v) = views.get_mut("fund_daily") {
        v.row_filter = ("\"org_id\" IN ($1, $2)".into(), vec!["3301".into()]);
    }
    let e = guard("SELECT * FROM fund_daily", &views, Dialect::Sqlite).unwrap_err();
    assert_eq!(e.kind, Refusal::View, "{e}");
    if let Some(v) = views.get_mut("fund_daily") {
        v.row_filter = (String::new(), vec![]);
    }
    let e = guard("SELECT * FROM fund_daily", &views, Dialect::Sqlite).unwrap_err();
    assert_eq!(e.kind, Refusal::View, "{e}");
    assert_eq!(AppError::from(e).kind, ErrorKind::Internal);
    // A statement that reads no dataset needs no view.
    let g = guard("SELECT 1 + 1", &views, Dialect::Sqlite).unwrap();
    assert!(g.datasets.is_empty() && g.params.is_empty());
}
