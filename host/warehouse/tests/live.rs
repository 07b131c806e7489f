//! The live source: incremental pulls from PostgreSQL and MariaDB into ODS,
//! with the warehouse on SQLite and on PostgreSQL.
//!
//! Needs PostgreSQL at 127.0.0.1:5432 (user postgres, database `test`) and
//! MariaDB/MySQL at 127.0.0.1:3306 (root, empty password, database `test`);
//! override with ZHIYUN_TEST_PG_URL / ZHIYUN_TEST_MYSQL_URL. Each test makes
//! its own source schema (PostgreSQL) or database (MariaDB) and drops it.

mod common;

use common::*;
use std::collections::BTreeMap;
use std::sync::Arc;
use zhiyun_batch::{Checksum, row_hash};
use zhiyun_warehouse::live::{
    LiveError, LiveSource, LiveTable, PullOptions, PullStatus, pull, watermark,
};
use zhiyun_warehouse::{Db, on_db};

const MYSQL_URL: &str = "mysql://root@127.0.0.1:3306/test";

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Pg,
    My,
}

const KINDS: [Kind; 2] = [Kind::Pg, Kind::My];

/// A source database of one test: a PostgreSQL schema or a MariaDB database.
struct Source {
    kind: Kind,
    name: String,
    url: String,
    pg: Option<sqlx::PgPool>,
    my: Option<sqlx::MySqlPool>,
}

fn base_url(kind: Kind) -> String {
    match kind {
        Kind::Pg => std::env::var("ZHIYUN_TEST_PG_URL").unwrap_or_else(|_| PG_URL.into()),
        Kind::My => std::env::var("ZHIYUN_TEST_MYSQL_URL").unwrap_or_else(|_| MYSQL_URL.into()),
    }
}

fn random_name() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos(),
    );
    format!("src_{:016x}", h.finish())
}

impl Source {
    async fn new(kind: Kind) -> Source {
        let name = random_name();
        let base = base_url(kind);
        match kind {
            Kind::Pg => {
                let admin = sqlx::PgPool::connect(&base)
                    .await
                    .unwrap_or_else(|e| panic!("PostgreSQL at {base} is needed: {e}"));
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {name}")))
                    .execute(&admin)
                    .await
                    .unwrap();
                admin.close().await;
                let sep = if base.contains('?') { '&' } else { '?' };
                let url = format!("{base}{sep}options=-c%20search_path%3D{name}");
                let pool = sqlx::postgres::PgPoolOptions::new()
                    .max_connections(2)
                    .connect(&url)
                    .await
                    .unwrap();
                Source {
                    kind,
                    name,
                    url,
                    pg: Some(pool),
                    my: None,
                }
            }
            Kind::My => {
                let admin = sqlx::MySqlPool::connect(&base)
                    .await
                    .unwrap_or_else(|e| panic!("MariaDB/MySQL at {base} is needed: {e}"));
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                    "CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
                )))
                .execute(&admin)
                .await
                .unwrap();
                admin.close().await;
                let (prefix, _) = base.rsplit_once('/').unwrap();
                let url = format!("{prefix}/{name}");
                let pool = sqlx::mysql::MySqlPoolOptions::new()
                    .max_connections(2)
                    .connect(&url)
                    .await
                    .unwrap();
                Source {
                    kind,
                    name,
                    url,
                    pg: None,
                    my: Some(pool),
                }
            }
        }
    }

    async fn exec(&self, sql: &str) {
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        match self.kind {
            Kind::Pg => sqlx::raw_sql(sql)
                .execute(self.pg.as_ref().unwrap())
                .await
                .map(|_| ()),
            Kind::My => sqlx::raw_sql(sql)
                .execute(self.my.as_ref().unwrap())
                .await
                .map(|_| ()),
        }
        .unwrap_or_else(|e| panic!("{e}"));
    }

    async fn close(self) {
        if let Some(p) = self.pg {
            p.close().await;
        }
        if let Some(p) = self.my {
            p.close().await;
        }
        let base = base_url(self.kind);
        match self.kind {
            Kind::Pg => {
                let admin = sqlx::PgPool::connect(&base).await.unwrap();
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                    "DROP SCHEMA {} CASCADE",
                    self.name
                )))
                .execute(&admin)
                .await
                .unwrap();
                admin.close().await;
            }
            Kind::My => {
                let admin = sqlx::MySqlPool::connect(&base).await.unwrap();
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP DATABASE {}", self.name)))
                    .execute(&admin)
                    .await
                    .unwrap();
                admin.close().await;
            }
        }
    }

    /// The payment table: a big decimal, a date, a timestamp watermark, text, a float.
    async fn create_payment(&self) {
        let ddl = match self.kind {
            Kind::Pg => {
                "CREATE TABLE payment (pay_id BIGINT PRIMARY KEY, org_id VARCHAR(10) NOT NULL, \
                 amount NUMERIC(18,2), pay_date DATE, updated_at TIMESTAMP NOT NULL, payee TEXT, \
                 rate DOUBLE PRECISION)"
            }
            Kind::My => {
                "CREATE TABLE payment (pay_id BIGINT PRIMARY KEY, org_id VARCHAR(10) NOT NULL, \
                 amount DECIMAL(18,2), pay_date DATE, updated_at DATETIME NOT NULL, payee VARCHAR(100), \
                 rate DOUBLE)"
            }
        };
        self.exec(ddl).await;
    }

    /// Inserts (or, with `upsert`, replaces) rows given as text values; `None` is NULL.
    async fn put(&self, table: &str, columns: &[&str], rows: &[Vec<Option<String>>]) {
        for group in rows.chunks(500) {
            let values: Vec<String> = group
                .iter()
                .map(|r| {
                    let vals: Vec<String> = r
                        .iter()
                        .map(|v| match v {
                            None => "NULL".to_owned(),
                            Some(s) => format!("'{}'", s.replace('\'', "''")),
                        })
                        .collect();
                    format!("({})", vals.join(", "))
                })
                .collect();
            self.exec(&format!(
                "INSERT INTO {table} ({}) VALUES {}",
                columns.join(", "),
                values.join(", ")
            ))
            .await;
        }
    }

    fn live(&self, tables: Vec<LiveTable>) -> LiveSource {
        LiveSource {
            name: "erp".into(),
            url: self.url.clone(),
            tables,
        }
    }
}

const PAYMENT_COLUMNS: [&str; 7] = [
    "pay_id",
    "org_id",
    "amount",
    "pay_date",
    "updated_at",
    "payee",
    "rate",
];

fn payment_table() -> LiveTable {
    LiveTable {
        name: "payment".into(),
        target: None,
        watermark: "updated_at".into(),
        key: vec!["pay_id".into()],
        columns: None,
    }
}

/// Row `i` at version `v` (an update bumps `v`: a new amount and timestamp).
fn payment(i: u64, v: u64) -> Vec<Option<String>> {
    let amount = match i {
        7 => "12345678901.23".to_owned(),
        8 => "-0.01".to_owned(),
        _ => format!("{}.{:02}", i * 7919 % 1_000_000 + v, i % 100),
    };
    vec![
        Some(i.to_string()),
        Some(["3301", "3302", "3303"][(i % 3) as usize].to_owned()),
        Some(amount),
        (i % 10 != 3).then(|| format!("2026-{:02}-{:02}", i % 12 + 1, i % 28 + 1)),
        // Many rows share a timestamp: ties on the watermark are the norm.
        Some(format!(
            "2026-0{}-01 {:02}:{:02}:00",
            v + 1,
            (i / 60) % 24,
            (i / 7) % 60
        )),
        (i % 10 != 4).then(|| format!("供应商{} O'Brien", i % 97)),
        Some(format!("{}", i as f64 / 4.0)),
    ]
}

/// What ODS must hold for a source row: NULL becomes the empty string.
fn as_ods(row: &[Option<String>]) -> Vec<String> {
    row.iter().map(|v| v.clone().unwrap_or_default()).collect()
}

async fn count(db: &Db, sql: &str) -> i64 {
    on_db!(db, |pool| sqlx::query_scalar::<_, i64>(
        sqlx::AssertSqlSafe(sql.to_owned())
    )
    .fetch_one(pool)
    .await
    .unwrap_or_else(|e| panic!("{sql}: {e}")))
}

/// The ODS rows (the given columns), optionally of one pull only, sorted.
async fn ods_rows(db: &Db, table: &str, columns: &[&str], pull: Option<&str>) -> Vec<Vec<String>> {
    let list = columns
        .iter()
        .map(|c| format!("COALESCE({c}, '')"))
        .collect::<Vec<_>>()
        .join(" || '\x1f' || ");
    let mut sql = format!("SELECT {list} FROM ods_{table}");
    if let Some(p) = pull {
        sql.push_str(&format!(" WHERE _batch_id = '{p}'"));
    }
    let rows: Vec<String> = on_db!(db, |pool| sqlx::query_scalar(sqlx::AssertSqlSafe(
        sql.clone()
    ))
    .fetch_all(pool)
    .await
    .unwrap());
    let mut rows: Vec<Vec<String>> = rows
        .into_iter()
        .map(|r| r.split('\x1f').map(str::to_owned).collect())
        .collect();
    rows.sort();
    rows
}

/// Compares row sets, showing the first difference rather than thousands of rows.
#[track_caller]
fn assert_same_rows(got: &[Vec<String>], expected: &[Vec<String>], what: &str) {
    if got != expected {
        let missing = expected.iter().find(|r| !got.contains(r));
        let extra = got.iter().find(|r| !expected.contains(r));
        panic!(
            "{what}: {} rows, expected {}; first missing {missing:?}, first unexpected {extra:?}",
            got.len(),
            expected.len()
        );
    }
}

fn checksum(rows: &[Vec<String>]) -> Checksum {
    let mut c = Checksum::default();
    for r in rows {
        c.add(row_hash(r));
    }
    c
}

fn sorted(mut rows: Vec<Vec<String>>) -> Vec<Vec<String>> {
    rows.sort();
    rows
}

fn quiet() -> zhiyun_warehouse::live::LiveWatcher {
    Arc::new(|_| {})
}

fn options(chunk_rows: usize) -> PullOptions {
    PullOptions {
        chunk_rows,
        ..PullOptions::default()
    }
}

/// received = loaded + quarantined for every pull, and the tables agree.
async fn assert_invariant(db: &Db, target: &str) {
    let bad = count(
        db,
        &format!(
            "SELECT count(*) FROM zw_live_pull p WHERE target = '{target}' AND (\
             rows_received <> rows_loaded + rows_quarantined \
             OR rows_loaded <> (SELECT count(*) FROM ods_{target} o WHERE o._batch_id = p.pull_id) \
             OR rows_quarantined <> (SELECT count(*) FROM zw_quarantine q WHERE q.batch_id = p.pull_id))"
        ),
    )
    .await;
    assert_eq!(
        bad, 0,
        "a pull of {target} breaks received = loaded + quarantined"
    );
}

both_backends!(initial_then_incremental_pulls_are_exact, |t| {
    for kind in KINDS {
        let src = Source::new(kind).await;
        src.create_payment().await;
        let mut current: BTreeMap<u64, Vec<Option<String>>> =
            (0..2500).map(|i| (i, payment(i, 0))).collect();
        src.put(
            "payment",
            &PAYMENT_COLUMNS,
            &current.values().cloned().collect::<Vec<_>>(),
        )
        .await;
        let live = src.live(vec![payment_table()]);

        // The first pull brings the table exactly.
        let report = pull(&t.db, &live, &options(400), quiet()).await.unwrap();
        assert!(report.is_ok(), "{kind:?}: {report:#?}");
        let first = report.table("payment").unwrap();
        assert_eq!(first.status, PullStatus::Pulled);
        assert_eq!(first.pull_id.as_deref(), Some("live-erp-payment-1"));
        assert_eq!(
            (
                first.rows_received,
                first.rows_loaded,
                first.rows_quarantined
            ),
            (2500, 2500, 0)
        );
        assert_eq!(first.chunks, 7);
        let expected = sorted(current.values().map(|r| as_ods(r)).collect());
        let got = ods_rows(&t.db, "payment", &PAYMENT_COLUMNS, None).await;
        assert_eq!(got.len(), 2500, "{kind:?}");
        assert_eq!(checksum(&got), checksum(&expected), "{kind:?}");
        assert_same_rows(&got, &expected, &format!("{kind:?}: ODS vs source"));
        // Money arrives exactly, as the source's decimal text.
        let big = ods_rows(&t.db, "payment", &["amount"], None).await;
        assert!(big.contains(&vec!["12345678901.23".to_owned()]), "{kind:?}");
        assert!(big.contains(&vec!["-0.01".to_owned()]), "{kind:?}");
        // _line numbers the rows of the pull.
        assert_eq!(
            count(
                &t.db,
                "SELECT count(DISTINCT _line) FROM ods_payment WHERE _line BETWEEN 1 AND 2500"
            )
            .await,
            2500
        );

        // Nothing new: nothing loaded, no pull recorded.
        let again = pull(&t.db, &live, &options(400), quiet()).await.unwrap();
        let t2 = again.table("payment").unwrap();
        assert_eq!(t2.status, PullStatus::UpToDate, "{kind:?}");
        assert_eq!((t2.rows_received, t2.pull_id.clone()), (0, None));
        assert_eq!(count(&t.db, "SELECT count(*) FROM ods_payment").await, 2500);

        // 30 new rows and 20 updated ones arrive, and only they.
        let new: Vec<u64> = (2500..2530).collect();
        let updated: Vec<u64> = (0..20).map(|i| i * 97 + 5).collect();
        for &i in &new {
            current.insert(i, payment(i, 1));
        }
        src.put(
            "payment",
            &PAYMENT_COLUMNS,
            &new.iter().map(|i| current[i].clone()).collect::<Vec<_>>(),
        )
        .await;
        for &i in &updated {
            let row = payment(i, 1);
            src.exec(&format!(
                "UPDATE payment SET amount = {}, updated_at = '{}' WHERE pay_id = {i}",
                row[2].clone().unwrap(),
                row[4].clone().unwrap()
            ))
            .await;
            let mut merged = current[&i].clone();
            merged[2] = row[2].clone();
            merged[4] = row[4].clone();
            current.insert(i, merged);
        }
        let report = pull(&t.db, &live, &options(400), quiet()).await.unwrap();
        let second = report.table("payment").unwrap();
        assert_eq!(second.pull_id.as_deref(), Some("live-erp-payment-2"));
        assert_eq!(second.rows_loaded, 50, "{kind:?}: {second:#?}");
        let expected: Vec<Vec<String>> = sorted(
            new.iter()
                .chain(&updated)
                .map(|i| as_ods(&current[i]))
                .collect(),
        );
        let got = ods_rows(
            &t.db,
            "payment",
            &PAYMENT_COLUMNS,
            Some("live-erp-payment-2"),
        )
        .await;
        assert_same_rows(&got, &expected, &format!("{kind:?}: second pull"));
        assert_eq!(count(&t.db, "SELECT count(*) FROM ods_payment").await, 2550);
        // The latest version per key equals the source now.
        let stored = watermark(&t.db, "erp", "payment").await.unwrap().unwrap();
        let last = new
            .iter()
            .chain(&updated)
            .map(|&i| (current[&i][4].clone().unwrap(), i))
            .max()
            .unwrap();
        assert_eq!(
            (stored.watermark, stored.key),
            (last.0, vec![last.1.to_string()]),
            "{kind:?}"
        );
        assert_invariant(&t.db, "payment").await;

        // The schema is recorded with types taken from the source.
        let money: String = on_db!(&t.db, |pool| {
            sqlx::query_scalar(
            "SELECT declared_type FROM zw_table_schema WHERE table_name = 'payment' AND column_name = 'amount'"
        )
        .fetch_one(pool)
        .await
        .unwrap()
        });
        assert_eq!(money, "money");

        src.close().await;
        // The next source kind starts from an empty warehouse table.
        reset(&t.db).await;
    }
});

/// Empties the live bookkeeping and the ODS table between source kinds.
async fn reset(db: &Db) {
    for sql in [
        "DROP TABLE IF EXISTS ods_payment",
        "DROP TABLE IF EXISTS ods_ledger",
        "DELETE FROM zw_watermark",
        "DELETE FROM zw_live_pull",
        "DELETE FROM zw_quarantine",
        "DELETE FROM zw_table_schema",
        "DELETE FROM zw_drift",
    ] {
        on_db!(db, |pool| {
            sqlx::raw_sql(sql).execute(pool).await.unwrap();
        });
    }
}

both_backends!(ties_on_the_watermark_across_chunks, |t| {
    for kind in KINDS {
        let src = Source::new(kind).await;
        let ts = match kind {
            Kind::Pg => "TIMESTAMP",
            Kind::My => "DATETIME(6)",
        };
        // A composite key, and most rows with one and the same timestamp.
        src.exec(&format!(
            "CREATE TABLE ledger (org_id VARCHAR(10) NOT NULL, seq INTEGER NOT NULL, \
             amount DECIMAL(20,2) NOT NULL, changed_at {ts} NOT NULL, PRIMARY KEY (org_id, seq))"
        ))
        .await;
        let mut rows = Vec::new();
        for i in 0..1000u64 {
            rows.push(vec![
                Some(format!("O{}", i % 4)),
                Some((i / 4).to_string()),
                Some(format!("{i}.50")),
                Some("2026-05-05 10:00:00".to_owned()),
            ]);
        }
        for i in 0..20u64 {
            rows.push(vec![
                Some("O9".to_owned()),
                Some(i.to_string()),
                Some("1.00".to_owned()),
                Some(format!("2026-05-0{} 09:00:00", 1 + i % 4)),
            ]);
        }
        let columns = ["org_id", "seq", "amount", "changed_at"];
        src.put("ledger", &columns, &rows).await;
        let live = src.live(vec![LiveTable {
            name: "ledger".into(),
            target: None,
            watermark: "changed_at".into(),
            key: vec!["org_id".into(), "seq".into()],
            columns: None,
        }]);
        // 7 does not divide the 1000 tied rows: every chunk boundary falls inside the tie.
        let report = pull(&t.db, &live, &options(7), quiet()).await.unwrap();
        assert!(report.is_ok(), "{report:#?}");
        assert_eq!(report.rows_loaded(), 1020, "{kind:?}");
        let got = ods_rows(&t.db, "ledger", &["org_id", "seq", "amount"], None).await;
        let expected = sorted(rows.iter().map(|r| as_ods(&r[..3])).collect::<Vec<_>>());
        assert_same_rows(&got, &expected, &format!("{kind:?}: ties"));
        assert_eq!(
            count(
                &t.db,
                "SELECT count(*) FROM (SELECT org_id, seq FROM ods_ledger GROUP BY org_id, seq) k"
            )
            .await,
            1020
        );
        // More rows at the very same timestamp, after the last key, are found next time.
        src.put(
            "ledger",
            &columns,
            &[vec![
                Some("O9".into()),
                Some("100".into()),
                Some("2.00".into()),
                Some("2026-05-05 10:00:00".into()),
            ]],
        )
        .await;
        let report = pull(&t.db, &live, &options(7), quiet()).await.unwrap();
        assert_eq!(report.rows_loaded(), 1, "{kind:?}");
        assert_invariant(&t.db, "ledger").await;
        src.close().await;
        reset(&t.db).await;
    }
});

both_backends!(an_interrupted_pull_resumes_exactly, |t| {
    for kind in KINDS {
        let src = Source::new(kind).await;
        src.create_payment().await;
        let rows: Vec<_> = (0..1000).map(|i| payment(i, 0)).collect();
        src.put("payment", &PAYMENT_COLUMNS, &rows).await;
        let live = src.live(vec![payment_table()]);

        // Stopped after 3 chunks of 90, as if killed there.
        let stopped = pull(
            &t.db,
            &live,
            &PullOptions {
                chunk_rows: 90,
                stop_after_chunks: Some(3),
                ..PullOptions::default()
            },
            quiet(),
        )
        .await
        .unwrap();
        let s = stopped.table("payment").unwrap();
        assert_eq!(s.status, PullStatus::Interrupted, "{kind:?}");
        assert_eq!(s.rows_loaded, 270);
        assert_eq!(count(&t.db, "SELECT count(*) FROM ods_payment").await, 270);

        // Killed for real: the task is dropped mid-pull, at whatever await it is in.
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let watch: zhiyun_warehouse::live::LiveWatcher = Arc::new(move |e| {
            // Slow enough that the abort lands mid-pull.
            std::thread::sleep(std::time::Duration::from_millis(30));
            let _ = tx.send(e);
        });
        let (db, live2) = (t.db.clone(), live.clone());
        let task = tokio::spawn(async move { pull(&db, &live2, &options(90), watch).await });
        while let Some(e) = rx.recv().await {
            if matches!(e, zhiyun_warehouse::live::LiveEvent::Rows { .. }) {
                break;
            }
        }
        task.abort();
        let _ = task.await;
        // A COMMIT the aborted task had sent may still be in flight on its
        // connection (as with a killed process): let the server settle it
        // before taking the snapshot the resumed pull is compared with.
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let mid = count(&t.db, "SELECT count(*) FROM ods_payment").await;
        assert!((360..1000).contains(&mid), "{kind:?}: {mid}");

        // Resumed: the same pull continues, and ends with every row once.
        let resumed = pull(&t.db, &live, &options(90), quiet()).await.unwrap();
        let r = resumed.table("payment").unwrap();
        assert_eq!(r.status, PullStatus::Pulled, "{kind:?}: {r:#?}");
        assert!(r.resumed);
        assert_eq!(r.pull_id.as_deref(), Some("live-erp-payment-1"));
        assert_eq!(r.rows_loaded as i64, 1000 - mid);
        let got = ods_rows(&t.db, "payment", &PAYMENT_COLUMNS, None).await;
        let expected = sorted(rows.iter().map(|r| as_ods(r)).collect());
        assert_same_rows(&got, &expected, &format!("{kind:?}: after resuming"));
        // The lines of the one pull run 1..=1000 without a gap.
        assert_eq!(
            count(
                &t.db,
                "SELECT count(DISTINCT _line) FROM ods_payment WHERE _line BETWEEN 1 AND 1000"
            )
            .await,
            1000
        );
        let (status, received): (String, i64) = on_db!(&t.db, |pool| {
            sqlx::query_as(
            "SELECT status, rows_received FROM zw_live_pull WHERE pull_id = 'live-erp-payment-1'"
        )
        .fetch_one(pool)
        .await
        .unwrap()
        });
        assert_eq!((status.as_str(), received), ("done", 1000));
        assert_invariant(&t.db, "payment").await;
        src.close().await;
        reset(&t.db).await;
    }
});

fn expect_config_error(
    result: Result<zhiyun_warehouse::live::PullReport, LiveError>,
    needle: &str,
) {
    match result {
        Err(e) => assert!(
            e.to_string().contains(needle),
            "the error should name {needle:?}: {e}"
        ),
        Ok(report) => panic!("expected an error naming {needle:?}, got {report:#?}"),
    }
}

both_backends!(a_bad_config_is_refused_and_loads_nothing, |t| {
    for kind in KINDS {
        let src = Source::new(kind).await;
        src.create_payment().await;
        src.put(
            "payment",
            &PAYMENT_COLUMNS,
            &(0..10).map(|i| payment(i, 0)).collect::<Vec<_>>(),
        )
        .await;
        let opts = options(100);
        let with = |f: &dyn Fn(&mut LiveTable)| {
            let mut table = payment_table();
            f(&mut table);
            // A good table first: it must not load either.
            let mut good = payment_table();
            good.target = Some("payment_ok".into());
            src.live(vec![good, table])
        };

        let r = pull(
            &t.db,
            &with(&|t| t.name = "no_such_table".into()),
            &opts,
            quiet(),
        )
        .await;
        expect_config_error(r, "no_such_table");
        let r = pull(
            &t.db,
            &with(&|t| t.watermark = "changed_on".into()),
            &opts,
            quiet(),
        )
        .await;
        expect_config_error(r, "watermark column \"changed_on\" does not exist");
        let r = pull(
            &t.db,
            &with(&|t| t.key = vec!["pay_no".into()]),
            &opts,
            quiet(),
        )
        .await;
        expect_config_error(r, "key column \"pay_no\"");
        let r = pull(
            &t.db,
            &with(&|t| t.columns = Some(vec!["pay_id".into(), "memo".into()])),
            &opts,
            quiet(),
        )
        .await;
        expect_config_error(r, "\"memo\"");
        let r = pull(
            &t.db,
            &with(&|t| t.watermark = "updated_at; DELETE FROM payment".into()),
            &opts,
            quiet(),
        )
        .await;
        expect_config_error(r, "not a plain identifier");
        let r = pull(
            &t.db,
            &with(&|t| t.name = "payment\"--".into()),
            &opts,
            quiet(),
        )
        .await;
        expect_config_error(r, "payment\\\"--");
        let r = pull(
            &t.db,
            &with(&|t| t.target = Some("Pay-Ment".into())),
            &opts,
            quiet(),
        )
        .await;
        expect_config_error(r, "Pay-Ment");
        let mut unreachable = src.live(vec![payment_table()]);
        unreachable.url = match kind {
            Kind::Pg => "postgres://postgres:secret@127.0.0.1:1/test".into(),
            Kind::My => "mysql://root:secret@127.0.0.1:1/test".into(),
        };
        let r = pull(&t.db, &unreachable, &opts, quiet()).await;
        expect_config_error(r, "cannot connect to");
        let e = pull(&t.db, &unreachable, &opts, quiet()).await.unwrap_err();
        assert!(
            !e.to_string().contains("secret"),
            "the password leaked: {e}"
        );

        // Nothing was loaded or recorded by any of them.
        assert!(!t.db.table_exists("ods_payment").await.unwrap());
        assert!(!t.db.table_exists("ods_payment_ok").await.unwrap());
        assert_eq!(count(&t.db, "SELECT count(*) FROM zw_live_pull").await, 0);
        assert_eq!(count(&t.db, "SELECT count(*) FROM zw_watermark").await, 0);

        // The source was only read: its rows are as they were.
        let good = pull(&t.db, &src.live(vec![payment_table()]), &opts, quiet())
            .await
            .unwrap();
        assert_eq!(good.rows_loaded(), 10);
        // Changing the watermark column of a table already pulled is refused.
        let mut changed = payment_table();
        changed.watermark = "pay_id".into();
        let r = pull(&t.db, &src.live(vec![changed]), &opts, quiet()).await;
        expect_config_error(r, "Reset the watermark");
        src.close().await;
        reset(&t.db).await;
    }
});

both_backends!(new_columns_are_drift_and_bad_text_is_quarantined, |t| {
    let src = Source::new(Kind::My).await;
    src.create_payment().await;
    src.put(
        "payment",
        &PAYMENT_COLUMNS,
        &(0..50).map(|i| payment(i, 0)).collect::<Vec<_>>(),
    )
    .await;
    let live = src.live(vec![payment_table()]);
    pull(&t.db, &live, &options(20), quiet()).await.unwrap();

    // The source gains a column; one new row holds a NUL byte MySQL allows.
    src.exec("ALTER TABLE payment ADD COLUMN memo VARCHAR(40)")
        .await;
    src.put(
        "payment",
        &PAYMENT_COLUMNS,
        &(50..60).map(|i| payment(i, 1)).collect::<Vec<_>>(),
    )
    .await;
    src.exec("UPDATE payment SET memo = CONCAT('a', CHAR(0), 'b') WHERE pay_id = 55")
        .await;
    src.exec("UPDATE payment SET memo = '备注' WHERE pay_id = 56")
        .await;
    let report = pull(&t.db, &live, &options(20), quiet()).await.unwrap();
    let p = report.table("payment").unwrap();
    assert_eq!(
        (p.rows_received, p.rows_loaded, p.rows_quarantined),
        (10, 9, 1),
        "{p:#?}"
    );
    assert!(
        p.drift
            .iter()
            .any(|d| d.column == "memo" && d.kind == "added"),
        "{:?}",
        p.drift
    );
    assert!(
        p.problems[0].contains("column memo holds a NUL byte"),
        "{:?}",
        p.problems
    );
    let memo: String = on_db!(&t.db, |pool| sqlx::query_scalar(
        "SELECT memo FROM ods_payment WHERE pay_id = '56'"
    )
    .fetch_one(pool)
    .await
    .unwrap());
    assert_eq!(memo, "备注");
    let (rule, reason): (String, String) = on_db!(&t.db, |pool| sqlx::query_as(
        "SELECT rule, reason FROM zw_quarantine WHERE layer = 'ods' AND table_name = 'payment'"
    )
    .fetch_one(pool)
    .await
    .unwrap());
    assert_eq!(rule, "convertible");
    assert!(reason.contains("memo"));
    assert_invariant(&t.db, "payment").await;
    src.close().await;
});

/// Throughput: `cargo test -p zhiyun-warehouse --test live --release -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn throughput() {
    let rows: u64 = std::env::var("ZHIYUN_LIVE_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    for kind in KINDS {
        for backend in [
            zhiyun_store::Backend::Sqlite,
            zhiyun_store::Backend::Postgres,
        ] {
            let t = TestDb::new(backend).await;
            let src = Source::new(kind).await;
            src.create_payment().await;
            let batch: Vec<_> = (0..rows).map(|i| payment(i, 0)).collect();
            src.put("payment", &PAYMENT_COLUMNS, &batch).await;
            let live = src.live(vec![payment_table()]);
            let started = std::time::Instant::now();
            let report = pull(&t.db, &live, &PullOptions::default(), quiet())
                .await
                .unwrap();
            let secs = started.elapsed().as_secs_f64();
            assert_eq!(report.rows_loaded(), rows);
            eprintln!(
                "source {kind:?} → warehouse {backend}: {rows} rows in {secs:.2} s = {:.0} rows/s",
                rows as f64 / secs
            );
            src.close().await;
            t.close().await;
        }
    }
}
