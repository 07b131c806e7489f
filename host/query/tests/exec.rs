//! Guarded SQL executed on both backends: what an app gets back is only
//! 3301's rows with masked columns, whatever it writes; the read-only
//! connection refuses what the guard would have refused; the timeout and
//! the row cap hold.

mod common;

use common::{Failure, ROWS, column, text};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use zhiyun_authz::scope::{MaskKind, mask};
use zhiyun_contract::{Date, ErrorKind, Value, ValueKind};
use zhiyun_query::exec::{ExecError, Limits};
use zhiyun_query::guard::{DatasetView, Dialect, ViewColumn, guard};
use zhiyun_query::mask::{clear_where_sql, mask_sql};

fn orgs(t: &zhiyun_contract::DataTable) -> Vec<Value> {
    column(t, "org_id")
}

fn only_3301(t: &zhiyun_contract::DataTable) {
    for org in orgs(t) {
        assert_eq!(org, text("3301"), "{t:?}");
    }
}

both_backends!(a_legitimate_query_returns_exact_money, |fx| {
    let t = fx
        .run(
            "SELECT org_id, SUM(closing) AS closing FROM fund_daily \
             WHERE balance_date = ?1 GROUP BY org_id",
            &[Value::Date(Date::new(2026, 11, 30))],
        )
        .await
        .unwrap();
    assert_eq!(
        t.columns
            .iter()
            .map(|c| (c.name.as_str(), c.kind))
            .collect::<Vec<_>>(),
        [("org_id", ValueKind::Text), ("closing", ValueKind::Money)]
    );
    assert_eq!(t.rows, vec![vec![text("3301"), Value::Money(350_050)]]);
    // The same with the date as text, and a money parameter.
    let t = fx
        .run(
            "SELECT count(*) AS n FROM fund_daily WHERE closing > ?1 AND balance_date = ?2",
            &[Value::Money(90_000), text("2026-11-30")],
        )
        .await
        .unwrap();
    assert_eq!(t.rows, vec![vec![Value::Int(2)]]);
    // Dates come back as dates where the caller says the column is one.
    let t = fx
        .run(
            "SELECT balance_date, closing FROM fund_daily ORDER BY closing DESC LIMIT 1",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        t.rows,
        vec![vec![
            Value::Date(Date::new(2026, 11, 30)),
            Value::Money(250_050)
        ]]
    );
});

both_backends!(every_row_is_in_scope_and_masked, |fx| {
    let t = fx
        .run("SELECT * FROM fund_daily ORDER BY closing", &[])
        .await
        .unwrap();
    let names: Vec<&str> = t.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "org_id",
            "acct_no",
            "id_no",
            "holder_name",
            "closing",
            "balance_date"
        ],
        "the internal note is not part of the view"
    );
    assert_eq!(t.rows.len(), 3);
    only_3301(&t);
    // Ordered by closing: 70 000, 100 000, 250 050.
    let by_closing = |i: usize| ROWS[[2, 0, 1][i]];
    for (i, row) in t.rows.iter().enumerate() {
        let r = by_closing(i);
        assert_eq!(row[1], text(&mask(r.1, MaskKind::BankAccount)));
        assert_eq!(
            row[2],
            r.2.map_or(Value::Null, |v| text(&mask(v, MaskKind::IdNumber)))
        );
        assert_eq!(row[3], text(&mask(r.3, MaskKind::Name)));
        assert_eq!(row[4], Value::Money(r.4));
    }
    assert_eq!(
        column(&t, "id_no"),
        vec![
            Value::Null,
            text("110***********002X"),
            text("440***********0014")
        ]
    );
});

both_backends!(an_alias_does_not_escape_the_filter, |fx| {
    for sql in [
        "SELECT f.org_id FROM fund_daily AS f WHERE f.org_id = '3302'",
        "SELECT org_id FROM fund_daily ads_fund_daily WHERE ads_fund_daily.org_id <> '3301'",
        "SELECT x.org_id FROM (SELECT * FROM fund_daily) AS x WHERE x.org_id = '3302'",
    ] {
        let t = fx.run(sql, &[]).await.unwrap();
        assert!(t.rows.is_empty(), "{sql}: {t:?}");
        assert_eq!(t.columns.len(), 1, "{sql}: columns of an empty result");
        assert_eq!(t.columns[0].name, "org_id");
    }
    let t = fx
        .run("SELECT * FROM fund_daily AS ads_fund_daily", &[])
        .await
        .unwrap();
    assert_eq!(t.rows.len(), 3);
    only_3301(&t);
});

both_backends!(unions_stay_in_scope, |fx| {
    let t = fx
        .run(
            "SELECT org_id, id_no FROM fund_daily UNION ALL \
             SELECT org_id, id_no FROM fund_daily WHERE org_id = '3302'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(t.rows.len(), 3);
    only_3301(&t);
    let t = fx
        .run(
            "SELECT org_id FROM fund_daily WHERE org_id = '3302' UNION SELECT org_id FROM fund_daily",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(t.rows, vec![vec![text("3301")]]);
    // Another table is refused before anything runs.
    let e = fx
        .run(
            "SELECT org_id FROM fund_daily UNION SELECT secret FROM dwd_secret",
            &[],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(e, Failure::Guard(ref g) if g.fragment == "dwd_secret"),
        "{e:?}"
    );
});

both_backends!(subqueries_ctes_and_joins_see_the_view, |fx| {
    let count = |t: zhiyun_contract::DataTable| t.rows[0][0].clone();
    for (sql, n) in [
        (
            "WITH t AS (SELECT * FROM fund_daily) SELECT count(*) AS n FROM t",
            3,
        ),
        (
            "SELECT count(*) AS n FROM (SELECT * FROM fund_daily WHERE org_id = '3302') x",
            0,
        ),
        (
            "SELECT count(*) AS n FROM fund_daily WHERE EXISTS \
             (SELECT 1 FROM fund_daily g WHERE g.org_id = '3302')",
            0,
        ),
        (
            "SELECT count(*) AS n FROM fund_daily a JOIN fund_daily b ON a.acct_no = b.acct_no",
            3,
        ),
        (
            "SELECT count(*) AS n FROM fund_daily WHERE org_id IN \
             (SELECT org_id FROM fund_daily WHERE closing > 500000)",
            0,
        ),
        (
            "WITH a AS (SELECT org_id FROM fund_daily), b AS (SELECT * FROM a) \
             SELECT count(*) AS n FROM b WHERE org_id = '3302'",
            0,
        ),
    ] {
        let t = fx.run(sql, &[]).await.unwrap();
        assert_eq!(count(t), Value::Int(n), "{sql}");
    }
    let t = fx
        .run("SELECT (SELECT max(closing) FROM fund_daily) AS top", &[])
        .await
        .unwrap();
    assert_eq!(t.rows, vec![vec![Value::Int(250_050)]]);
});

both_backends!(comments_case_and_quoting_change_nothing, |fx| {
    let t = fx
        .run(
            "SeLeCt /* fund_daily */ \"org_id\", Closing FROM \"fund_daily\" -- ; DROP TABLE x",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(t.rows.len(), 3);
    only_3301(&t);
    let t = fx
        .run(
            "select org_id from FUND_DAILY where org_id = '3302' -- or 1=1",
            &[],
        )
        .await
        .unwrap();
    assert!(t.rows.is_empty());
    if fx.dialect == Dialect::Sqlite {
        for sql in [
            "SELECT org_id FROM [fund_daily]",
            "SELECT org_id FROM `fund_daily`",
        ] {
            let t = fx.run(sql, &[]).await.unwrap();
            assert_eq!(t.rows.len(), 3, "{sql}");
            only_3301(&t);
        }
    }
});

both_backends!(columns_outside_the_view_do_not_exist, |fx| {
    for sql in [
        "SELECT internal_note FROM fund_daily",
        "SELECT secret FROM fund_daily",
        "SELECT f.internal_note FROM fund_daily f",
    ] {
        let e = fx.run(sql, &[]).await.unwrap_err();
        match e {
            Failure::Exec(ExecError::Invalid(m)) => {
                assert!(m.contains("internal_note") || m.contains("secret"), "{m}");
                assert!(!m.contains("hidden-note"), "{m}");
            }
            e => panic!("{sql}: {e:?}"),
        }
    }
});

both_backends!(the_filter_runs_before_the_apps_conditions, |fx| {
    // Were the app's condition evaluated on a row of 3302 (closing 999 999),
    // it would raise an error: an oracle on rows it cannot see. The view is
    // a fence, so it never is.
    let oracle = "closing > 500000 AND \
                  abs(CASE WHEN closing > 500000 THEN -9223372036854775807 - 1 ELSE 1 END) = 1";
    let t = fx
        .run(
            &format!("SELECT count(*) AS n FROM fund_daily WHERE {oracle}"),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(t.rows, vec![vec![Value::Int(0)]]);
    if fx.dialect == Dialect::Sqlite {
        // The same filter without the fence: SQLite merges the subquery
        // and scans the closing index first, so the oracle answers.
        let e = fx
            .raw(&format!(
                "SELECT count(*) FROM (SELECT org_id, closing FROM ads_fund_daily \
                 WHERE org_id IN ('3301')) f WHERE {oracle}"
            ))
            .await
            .unwrap_err();
        assert!(
            matches!(e, ExecError::Invalid(ref m) if m.contains("overflow")),
            "{e:?}"
        );
    }
    let t = fx
        .run(
            "SELECT count(*) AS n FROM fund_daily WHERE \
             1 / (CASE WHEN org_id = '3302' THEN 0 ELSE 1 END) = 1",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(t.rows, vec![vec![Value::Int(3)]]);
});

both_backends!(a_recursive_query_that_never_ends_times_out, |fx| {
    let limits = Limits {
        row_cap: 10,
        timeout: Duration::from_millis(300),
    };
    let started = Instant::now();
    let e = fx
        .run_with(
            "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r",
            &[],
            &fx.views(),
            limits,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(e, Failure::Exec(ExecError::Timeout { .. })),
        "{e:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(60));
    let Failure::Exec(e) = e else { unreachable!() };
    assert_eq!(zhiyun_contract::AppError::from(e).kind, ErrorKind::Timeout);
    // The connection is fine afterwards.
    let t = fx
        .run("SELECT count(*) AS n FROM fund_daily", &[])
        .await
        .unwrap();
    assert_eq!(t.rows, vec![vec![Value::Int(3)]]);
});

both_backends!(the_row_cap_refuses_rather_than_truncates, |fx| {
    let capped = |row_cap| Limits {
        row_cap,
        timeout: Duration::from_secs(10),
    };
    let e = fx
        .run_with("SELECT * FROM fund_daily", &[], &fx.views(), capped(2))
        .await
        .unwrap_err();
    assert!(
        matches!(e, Failure::Exec(ExecError::RowCap { cap: 2 })),
        "{e:?}"
    );
    let Failure::Exec(e) = e else { unreachable!() };
    assert_eq!(
        zhiyun_contract::AppError::from(e).kind,
        ErrorKind::QuotaExceeded
    );
    let t = fx
        .run_with("SELECT * FROM fund_daily", &[], &fx.views(), capped(3))
        .await
        .unwrap();
    assert_eq!(t.rows.len(), 3);
    // A big result stops at the cap too.
    let e = fx
        .run_with(
            "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 100000) \
             SELECT n FROM r",
            &[],
            &fx.views(),
            capped(100),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(e, Failure::Exec(ExecError::RowCap { cap: 100 })),
        "{e:?}"
    );
    let t = fx
        .run("SELECT count(*) AS n FROM fund_daily", &[])
        .await
        .unwrap();
    assert_eq!(t.rows, vec![vec![Value::Int(3)]]);
});

both_backends!(parameters_are_checked, |fx| {
    let e = fx
        .run(
            "SELECT org_id FROM fund_daily WHERE closing > ?2",
            &[Value::Int(1)],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(e, Failure::Exec(ExecError::Invalid(ref m)) if m.contains("?2")),
        "{e:?}"
    );
    // ?2 alone is the second parameter.
    let t = fx
        .run(
            "SELECT count(*) AS n FROM fund_daily WHERE closing > ?2",
            &[text("unused"), Value::Int(90_000)],
        )
        .await
        .unwrap();
    assert_eq!(t.rows, vec![vec![Value::Int(2)]]);
    // A value that tries to be SQL is a value.
    let t = fx
        .run(
            "SELECT count(*) AS n FROM fund_daily WHERE org_id = ?",
            &[text("3301' OR '1'='1")],
        )
        .await
        .unwrap();
    assert_eq!(t.rows, vec![vec![Value::Int(0)]]);
});

both_backends!(clear_where_shows_clear_only_in_its_rows, |fx| {
    let d = fx.dialect;
    let view = DatasetView {
        name: "fund_daily".into(),
        table: "ads_fund_daily".into(),
        columns: vec![
            ViewColumn {
                name: "org_id".into(),
                expr: "\"org_id\"".into(),
            },
            ViewColumn {
                name: "closing".into(),
                expr: "\"closing\"".into(),
            },
            ViewColumn {
                name: "acct_no".into(),
                expr: clear_where_sql(
                    d,
                    "\"acct_no\"",
                    MaskKind::BankAccount,
                    "\"org_id\" IN ($3)",
                ),
            },
        ],
        row_filter: (
            "\"org_id\" IN ($1, $2)".into(),
            vec!["3301".into(), "3302".into(), "3301".into()],
        ),
    };
    let views: BTreeMap<String, DatasetView> = [("fund_daily".to_string(), view)].into();
    let t = fx
        .run_with(
            "SELECT org_id, acct_no FROM fund_daily WHERE closing > ?1 ORDER BY closing",
            &[Value::Int(0)],
            &views,
            common::limits(),
        )
        .await
        .unwrap();
    assert_eq!(t.rows.len(), 5);
    for row in &t.rows {
        let original = ROWS
            .iter()
            .find(|r| text(&mask(r.1, MaskKind::BankAccount)) == row[1] || text(r.1) == row[1])
            .unwrap();
        if row[0] == text("3301") {
            assert_eq!(row[1], text(original.1), "clear in 3301");
        } else {
            assert_eq!(row[1], text(&mask(original.1, MaskKind::BankAccount)));
        }
    }
});

both_backends!(views_from_effective_access, |fx| {
    use zhiyun_authz::access::{
        AppGrant, ColumnPolicy, DatasetGrant, DatasetPolicy, PostGrant, UserCtx, effective_access,
    };
    use zhiyun_authz::identity::Role;
    use zhiyun_authz::org::{DEMO_ORGS, OrgTree};
    use zhiyun_authz::scope::{DataScope, Sensitivity};
    let tree = OrgTree::build(DEMO_ORGS.iter().map(|o| o.to_org()).collect()).unwrap();
    let user = UserCtx {
        username: "user.3301".into(),
        org_id: "3301".into(),
        posts: vec![PostGrant {
            role: Role::BusinessUser,
            org_id: "3301".into(),
            scope: DataScope::OrgAndBelow,
            max_sensitivity: Sensitivity::Internal,
        }],
    };
    let app = AppGrant {
        app_id: "fund-position".into(),
        datasets: [(
            "fund_daily".to_string(),
            DatasetGrant {
                orgs: None,
                max_sensitivity: Sensitivity::Core,
            },
        )]
        .into(),
    };
    let policy = DatasetPolicy {
        name: "fund_daily".into(),
        org_column: Some("org_id".into()),
        owner_column: None,
        columns: vec![
            ColumnPolicy {
                name: "acct_no".into(),
                sensitivity: Sensitivity::Sensitive,
                mask: MaskKind::BankAccount,
            },
            ColumnPolicy {
                name: "id_no".into(),
                sensitivity: Sensitivity::Core,
                mask: MaskKind::IdNumber,
            },
        ],
    };
    let access = effective_access(&tree, &user, &app, &policy).unwrap();
    let columns: Vec<String> = ["org_id", "acct_no", "id_no", "closing"]
        .map(String::from)
        .to_vec();
    let view = DatasetView::from_access(
        "fund_daily",
        "ads_fund_daily",
        &columns,
        &access,
        fx.dialect,
    );
    let views: BTreeMap<String, DatasetView> = [("fund_daily".to_string(), view)].into();
    let t = fx
        .run_with(
            "SELECT org_id, acct_no, id_no, closing FROM fund_daily ORDER BY closing",
            &[],
            &views,
            common::limits(),
        )
        .await
        .unwrap();
    assert_eq!(t.rows.len(), 3);
    only_3301(&t);
    assert_eq!(
        column(&t, "acct_no"),
        [2, 0, 1]
            .map(|i| text(&mask(ROWS[i].1, MaskKind::BankAccount)))
            .to_vec()
    );
    assert_eq!(
        column(&t, "closing"),
        vec![
            Value::Money(70_000),
            Value::Money(100_000),
            Value::Money(250_050)
        ]
    );
});

both_backends!(the_second_wall_refuses_writes_without_the_guard, |fx| {
    let before = (fx.count("ads_fund_daily").await, fx.total_closing().await);
    let mut writes = vec![
        "INSERT INTO ads_fund_daily (org_id, closing, balance_date) VALUES ('3301', 1, '2026-01-01')",
        "UPDATE ads_fund_daily SET closing = 0",
        "DELETE FROM ads_fund_daily",
        "DROP TABLE dwd_secret",
        "CREATE TABLE planted (a INTEGER)",
        "ALTER TABLE ads_fund_daily ADD COLUMN planted TEXT",
        "CREATE TEMP TABLE planted AS SELECT * FROM ads_fund_daily",
    ];
    match fx.dialect {
        Dialect::Sqlite => writes.extend([
            "REPLACE INTO dwd_secret VALUES ('x')",
            "INSERT INTO dwd_secret VALUES ('x') ON CONFLICT DO NOTHING",
            "PRAGMA query_only = OFF",
            "SELECT 1; DELETE FROM ads_fund_daily",
        ]),
        Dialect::Postgres => writes.extend([
            "WITH d AS (DELETE FROM ads_fund_daily RETURNING *) SELECT count(*) FROM d",
            "INSERT INTO dwd_secret VALUES ('x') ON CONFLICT DO NOTHING",
            "TRUNCATE ads_fund_daily",
            "SELECT 1; DELETE FROM ads_fund_daily",
        ]),
    }
    for sql in writes {
        let e = fx.raw(sql).await.unwrap_err();
        eprintln!("{sql}: {e:?}");
        assert!(
            matches!(e, ExecError::Refused(_) | ExecError::Invalid(_)),
            "{sql}: {e:?}"
        );
        if !sql.starts_with("SELECT 1;") {
            assert!(matches!(e, ExecError::Refused(_)), "{sql}: {e:?}");
        }
    }
    assert_eq!(
        (fx.count("ads_fund_daily").await, fx.total_closing().await),
        before
    );
    assert_eq!(fx.count("dwd_secret").await, 1);
});

both_backends!(the_second_wall_keeps_to_the_warehouse, |fx| {
    match fx.dialect {
        Dialect::Sqlite => {
            let platform = fx.platform_file.as_ref().unwrap().display().to_string();
            let e = fx
                .raw(&format!("ATTACH DATABASE '{platform}' AS p"))
                .await
                .unwrap_err();
            eprintln!("ATTACH: {e:?}");
            assert!(
                matches!(e, ExecError::Refused(_) | ExecError::Invalid(_)),
                "{e:?}"
            );
            let e = fx.raw("SELECT * FROM p.users").await.unwrap_err();
            assert!(matches!(e, ExecError::Invalid(_)), "{e:?}");
            // VACUUM INTO would write a copy of the warehouse elsewhere.
            let copy = fx.dir.as_ref().unwrap().path().join("copy.db");
            let e = fx
                .raw(&format!("VACUUM INTO '{}'", copy.display()))
                .await
                .unwrap_err();
            eprintln!("VACUUM INTO: {e:?}");
            assert!(
                matches!(e, ExecError::Refused(_) | ExecError::Invalid(_)),
                "{e:?}"
            );
            assert!(!copy.exists());
            for sql in [
                "SELECT * FROM sqlite_master",
                "SELECT * FROM pragma_table_info('ads_fund_daily')",
                "SELECT load_extension('/tmp/x')",
            ] {
                let e = fx.raw(sql).await.unwrap_err();
                eprintln!("{sql}: {e:?}");
                assert!(
                    matches!(e, ExecError::Refused(_) | ExecError::Invalid(_)),
                    "{sql}: {e:?}"
                );
            }
        }
        Dialect::Postgres => {
            let platform = fx.platform_schema.as_ref().unwrap();
            for sql in [
                format!("SELECT * FROM {platform}.users"),
                "SELECT * FROM pg_shadow".to_string(),
                "SELECT pg_read_file('/etc/passwd')".to_string(),
                "SET ROLE postgres".to_string(),
            ] {
                let e = fx.raw(&sql).await.unwrap_err();
                eprintln!("{sql}: {e:?}");
                match &e {
                    ExecError::Refused(m) => assert!(!m.contains("argon2id"), "{m}"),
                    e => panic!("{sql}: {e:?}"),
                }
            }
        }
    }
    // What the warehouse holds is readable (the second wall is about
    // writing and leaving the warehouse; the guard decides which tables).
    let t = fx.raw("SELECT secret FROM dwd_secret").await.unwrap();
    assert_eq!(t.rows, vec![vec![text(common::SECRET)]]);
});

/// SQLite's platform store is never opened as a warehouse.
#[tokio::test]
async fn the_platform_file_is_refused_as_a_warehouse() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("platform.db");
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    sqlx::raw_sql("CREATE TABLE users (x TEXT); CREATE TABLE sessions (x TEXT)")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let e =
        zhiyun_query::exec::ReadOnlyWarehouse::open(&format!("sqlite://{}", path.display()), None)
            .await
            .unwrap_err();
    assert!(
        matches!(e, ExecError::Unavailable(ref m) if m.contains("platform")),
        "{e:?}"
    );
    // A missing file is not created.
    let missing = dir.path().join("missing.db");
    assert!(
        zhiyun_query::exec::ReadOnlyWarehouse::open(
            &format!("sqlite://{}", missing.display()),
            None
        )
        .await
        .is_err()
    );
    assert!(!missing.exists());
}

/// The SQL masks equal the Rust `mask()` on both backends.
mod masks {
    use super::*;

    const VALUES: &[&str] = &[
        "",
        "a",
        "ab",
        "abc",
        "abcd",
        "abcde",
        "abcdefg",
        "abcdefgh",
        "张",
        "张三",
        "欧阳娜娜",
        "司马相如先生",
        "11010519491231002X",
        "440524188001010014",
        "110105194912310",
        "13812345678",
        "1381234",
        "１３８１２３４５６７８",
        "6222021234567890123",
        "6222 0212 3456 7890",
        "1234",
        "12345",
        "账户一二三四五六",
        "示范市供电公司",
        "x'); DROP TABLE t; --",
        "%_*",
        "Ab Cd",
        "éèêë",
        "🙂🙂🙂🙂🙂🙂",
        "a very long value that is longer than sixty-four characters, to be sure it is masked right",
    ];
    const KINDS: &[MaskKind] = &[
        MaskKind::BankAccount,
        MaskKind::IdNumber,
        MaskKind::Phone,
        MaskKind::Name,
        MaskKind::Full,
    ];

    both_backends!(sql_masks_equal_the_rust_mask, |fx| {
        let mut checked = 0;
        for kind in KINDS {
            let sql = format!("SELECT {}", mask_sql(fx.dialect, "$1", *kind));
            for v in VALUES {
                let got: Option<String> = zhiyun_warehouse::on_db!(&fx.db, |pool| {
                    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.clone()))
                        .bind(*v)
                        .fetch_one(pool)
                        .await
                        .unwrap()
                });
                assert_eq!(
                    got.as_deref(),
                    Some(mask(v, *kind).as_str()),
                    "{kind:?} {v:?}"
                );
                checked += 1;
            }
            let null: Option<String> = zhiyun_warehouse::on_db!(&fx.db, |pool| {
                sqlx::query_scalar(sqlx::AssertSqlSafe(sql.clone()))
                    .bind(None::<String>)
                    .fetch_one(pool)
                    .await
                    .unwrap()
            });
            assert_eq!(null, None, "{kind:?}: NULL stays NULL");
        }
        assert_eq!(checked, VALUES.len() * KINDS.len());
        // A number column is masked through its text.
        let sql = format!(
            "SELECT {}",
            mask_sql(fx.dialect, "CAST($1 AS BIGINT)", MaskKind::BankAccount)
        );
        let got: String = zhiyun_warehouse::on_db!(&fx.db, |pool| {
            sqlx::query_scalar(sqlx::AssertSqlSafe(sql.clone()))
                .bind("622202123456")
                .fetch_one(pool)
                .await
                .unwrap()
        });
        assert_eq!(got, mask("622202123456", MaskKind::BankAccount));
    });
}

#[test]
fn the_guard_output_is_what_runs() {
    // A sanity check of the rewrite's shape, independent of a database.
    let views = common::views_3301(Dialect::Postgres);
    let g = guard(
        "SELECT org_id FROM fund_daily WHERE closing > ?1",
        &views,
        Dialect::Postgres,
    )
    .unwrap();
    assert!(
        g.sql
            .contains("FROM \"ads_fund_daily\" WHERE (\"org_id\" IN ($2)) OFFSET 0"),
        "{}",
        g.sql
    );
    assert!(g.sql.contains("closing > $1"), "{}", g.sql);
}
