//! Cleaning ODS → DWD: every rule kind on dirty input, quarantine, the
//! invariant, idempotence, later batches, bad rule files, schema drift.

mod common;

use common::*;
use std::path::Path;
use std::sync::Arc;
use zhiyun_batch::{ColumnType, FileFormat, TableManifest, TableSpec, TableWriter};
use zhiyun_warehouse::clean::{CleanOptions, CleanStatus, clean_batch, clean_batch_with};
use zhiyun_warehouse::ods::{LoadOptions, load_batch};
use zhiyun_warehouse::{Db, on_db};

async fn count(db: &Db, sql: &str) -> i64 {
    on_db!(db, |pool| sqlx::query_scalar::<_, i64>(
        sqlx::AssertSqlSafe(sql.to_owned())
    )
    .fetch_one(pool)
    .await
    .unwrap())
}

async fn texts(db: &Db, sql: &str) -> Vec<Vec<Option<String>>> {
    use sqlx::Row;
    on_db!(db, |pool| {
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
            .fetch_all(pool)
            .await
            .unwrap();
        rows.iter()
            .map(|r| {
                (0..r.len())
                    .map(|i| r.try_get::<Option<String>, _>(i).unwrap())
                    .collect()
            })
            .collect()
    })
}

fn spec(name: &str, columns: &[(&str, ColumnType)], key: &[&str]) -> TableSpec {
    TableSpec {
        name: name.into(),
        domain: "测试".into(),
        description: String::new(),
        columns: columns.iter().map(|(n, t)| col(n, *t)).collect(),
        key: key.iter().map(|k| (*k).into()).collect(),
        period_column: None,
        org_column: None,
    }
}

fn write(dir: &Path, spec: TableSpec, rows: &[Vec<&str>]) -> TableManifest {
    let mut w = TableWriter::create(dir, spec, FileFormat::Csv).unwrap();
    for r in rows {
        w.write_row(r).unwrap();
    }
    w.finish().unwrap()
}

async fn load(db: &Db, dir: &Path) {
    let report = load_batch(db, dir, &LoadOptions::default(), Arc::new(|_| {}))
        .await
        .unwrap();
    assert!(report.is_clean(), "{report:#?}");
}

fn rules(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(format!("{name}.toml")), text).unwrap();
    }
    dir
}

const DICT: &[(&str, ColumnType)] = &[
    ("old_code", ColumnType::String),
    ("new_code", ColumnType::String),
    ("name", ColumnType::String),
];

const ORG: &[(&str, ColumnType)] = &[
    ("org_id", ColumnType::String),
    ("name", ColumnType::String),
    ("parent_id", ColumnType::String),
];

const PAY: &[(&str, ColumnType)] = &[
    ("rcpt_id", ColumnType::String),
    ("org_id", ColumnType::String),
    ("pay_date", ColumnType::Date),
    ("amount", ColumnType::Money),
    ("channel", ColumnType::String),
    ("category", ColumnType::String),
    ("kwh", ColumnType::Decimal),
    ("flag", ColumnType::Bool),
    ("code", ColumnType::String),
    ("qty", ColumnType::Int),
    ("pay_time", ColumnType::Timestamp),
];

const PAY_RULES: &str = r#"
description = "test payments"
dedupe = "latest"

[columns]
rcpt_id = ["trim", "fullwidth_to_halfwidth", "upper"]
org_id = ["trim", { references = { table = "dim_org", column = "org_id" } }]
channel = ["trim", { one_of = ["代扣", "网上国网", "柜台", "走收", "卡表购电"] }]
category = ["trim", { map = { table = "code_map_cat", from = "old_code", to = "new_code" } }]
code = ["trim", "fullwidth_to_halfwidth", { pattern = "[A-Z]{2}[0-9]{2}" }]
qty = ["int", { range = { min = 0, max = 1000 } }]
amount = ["money", "not_null", { range = { min = 0 } }]
"#;

/// Every column of dwd_pay, as text.
const ALL_PAY: &str = "SELECT _batch_id, CAST(_line AS TEXT) AS l, rcpt_id, org_id, pay_date, CAST(amount AS TEXT) AS a, \
     channel, category, kwh, CAST(flag AS TEXT) AS f, code, CAST(qty AS TEXT) AS q, pay_time FROM dwd_pay ORDER BY rcpt_id";

const ORG_RULES: &str = r#"
[columns]
parent_id = ["trim", { references = { table = "dim_org", column = "org_id" } }]
"#;

/// A batch with a dictionary, a dimension and a dirty fact table.
fn dirty_batch(dir: &Path) {
    let dict = write(
        dir,
        spec("code_map_cat", DICT, &["old_code"]),
        &[vec!["01", "100", "居民"], vec!["02", "200", "一般工商业"]],
    );
    let org = write(
        dir,
        spec("dim_org", ORG, &["org_id"]),
        &[
            vec!["O1", "总部", ""],
            vec!["O2", " 县公司 ", "O1"],
            vec!["O3", "孤儿", "OX"],
        ],
    );
    let ok = |id: &'static str| {
        vec![
            id,
            "O1",
            "2024-03-05",
            "123.45",
            "柜台",
            "100",
            "12.50",
            "Y",
            "AB12",
            "5",
            "2024-03-05 08:00:00",
        ]
    };
    let with = |id: &'static str, col: usize, v: &'static str| {
        let mut r = ok(id);
        r[col] = v;
        r
    };
    let rows = vec![
        ok("R1"), // line 2: replaced by line 12
        vec![
            "  ｒ２ ",
            "O2",
            "2024/3/5",
            "１２３．４５",
            "\u{3000}代扣 ",
            "01",
            "12.5",
            "1",
            "ＡＢ１２",
            "１,000",
            "2024/3/5 8:05",
        ],
        vec![
            "R3",
            "O1",
            "2024年3月5日",
            "7",
            "网上国网",
            "200",
            "００１２．５００",
            "否",
            "CD34",
            "0",
            "20240305",
        ],
        with("R4", 2, "2024-13-45"), // date
        with("R5", 9, "-1"),         // range
        with("R6", 1, "O9"),         // references
        with("R7", 4, "支付宝"),     // one_of
        with("R8", 5, "09"),         // map
        with("R9", 8, "ab-12"),      // pattern
        with("", 1, "O1"),           // key
        with("R11", 3, "1.234"),     // money
        with("R1", 3, "200.00"),     // line 13: the duplicate that wins
    ];
    let pay = write(dir, spec("pay", PAY, &["rcpt_id"]), &rows);
    save(dir, &manifest("B1", vec![pay, org, dict]));
}

both_backends!(every_rule_kind_cleans_or_quarantines_dirty_input, |t| {
    let batch = tempfile::tempdir().unwrap();
    dirty_batch(batch.path());
    load(&t.db, batch.path()).await;
    let rules = rules(&[("pay", PAY_RULES), ("dim_org", ORG_RULES)]);

    let report = clean_batch(&t.db, Some(rules.path()), "B1", None)
        .await
        .unwrap();
    assert!(report.is_clean(), "{report:#?}");
    assert_eq!(report.count(CleanStatus::Cleaned), 3);
    let pay = report.table("pay").unwrap();
    assert_eq!(
        (pay.rows_in, pay.rows_out, pay.rows_quarantined),
        (12, 3, 9),
        "{pay:#?}"
    );
    assert!(pay.rules.ends_with("pay.toml"));
    let org = report.table("dim_org").unwrap();
    assert_eq!(
        (org.rows_in, org.rows_out, org.rows_quarantined),
        (3, 2, 1),
        "{org:#?}"
    );
    assert_eq!(report.table("code_map_cat").unwrap().rules, "default");

    // Clean values, typed.
    let rows = texts(
        &t.db,
        "SELECT rcpt_id, org_id, pay_date, CAST(amount AS TEXT), channel, category, kwh, CAST(flag AS TEXT), \
         code, CAST(qty AS TEXT), pay_time, CAST(_line AS TEXT) FROM dwd_pay ORDER BY rcpt_id",
    )
    .await;
    let s = |v: &[&str]| v.iter().map(|x| Some((*x).to_owned())).collect::<Vec<_>>();
    assert_eq!(
        rows,
        vec![
            s(&[
                "R1",
                "O1",
                "2024-03-05",
                "20000",
                "柜台",
                "100",
                "12.5",
                "1",
                "AB12",
                "5",
                "2024-03-05 08:00:00",
                "13"
            ]),
            s(&[
                "R2",
                "O2",
                "2024-03-05",
                "12345",
                "代扣",
                "100",
                "12.5",
                "1",
                "AB12",
                "1000",
                "2024-03-05 08:05:00",
                "3"
            ]),
            s(&[
                "R3",
                "O1",
                "2024-03-05",
                "700",
                "网上国网",
                "200",
                "12.5",
                "0",
                "CD34",
                "0",
                "2024-03-05 00:00:00",
                "4"
            ]),
        ]
    );
    // Money is an exact integer in 分, not text or a float.
    let fen: i64 = on_db!(&t.db, |pool| sqlx::query_scalar(
        "SELECT amount FROM dwd_pay WHERE rcpt_id = 'R2'"
    )
    .fetch_one(pool)
    .await
    .unwrap());
    assert_eq!(fen, 12345);
    // Strings are trimmed; the dimension's self-reference sees its own batch.
    assert_eq!(
        texts(
            &t.db,
            "SELECT org_id, name FROM dwd_dim_org ORDER BY org_id"
        )
        .await,
        vec![s(&["O1", "总部"]), s(&["O2", "县公司"])]
    );

    // Every failure is quarantined with its rule and a reason naming column and value.
    let q = texts(
        &t.db,
        "SELECT CAST(line AS TEXT) AS l, rule, reason, raw FROM zw_quarantine \
         WHERE layer = 'dwd' AND table_name = 'pay' AND batch_id = 'B1' ORDER BY line",
    )
    .await;
    let got: Vec<(String, String, String)> = q
        .iter()
        .map(|r| {
            (
                r[0].clone().unwrap(),
                r[1].clone().unwrap(),
                r[2].clone().unwrap(),
            )
        })
        .collect();
    let expect = [
        ("2", "dedupe", "line 13 is kept"),
        ("5", "date", "column pay_date: \"2024-13-45\" is not a date"),
        ("6", "range", "column qty: \"-1\" is below the minimum 0"),
        (
            "7",
            "references",
            "column org_id: \"O9\" has no match in dwd_dim_org.org_id",
        ),
        (
            "8",
            "one_of",
            "column channel: \"支付宝\" is not one of 代扣, 网上国网",
        ),
        (
            "9",
            "map",
            "column category: \"09\" is neither an old nor a new code in dwd_code_map_cat",
        ),
        (
            "10",
            "pattern",
            "column code: \"ab-12\" does not match the pattern [A-Z]{2}[0-9]{2}",
        ),
        ("11", "key", "key column rcpt_id is empty"),
        ("12", "money", "column amount: \"1.234\" is not an amount"),
    ];
    assert_eq!(got.len(), expect.len(), "{got:#?}");
    for ((line, rule, reason), (el, er, ereason)) in got.iter().zip(expect) {
        assert_eq!((line.as_str(), rule.as_str()), (el, er), "{got:#?}");
        assert!(
            reason.contains(ereason),
            "{reason:?} should contain {ereason:?}"
        );
    }
    // The raw ODS row is kept, as JSON.
    assert!(
        q[1][3]
            .as_deref()
            .unwrap()
            .contains("\"pay_date\":\"2024-13-45\""),
        "{:?}",
        q[1][3]
    );
    let org_q = texts(
        &t.db,
        "SELECT rule, reason FROM zw_quarantine WHERE layer = 'dwd' AND table_name = 'dim_org'",
    )
    .await;
    assert_eq!(org_q[0][0].as_deref(), Some("references"));
    assert!(
        org_q[0][1]
            .as_deref()
            .unwrap()
            .contains("column parent_id: \"OX\"")
    );

    // The invariant, against the database.
    for table in ["pay", "dim_org", "code_map_cat"] {
        let ods = count(
            &t.db,
            &format!("SELECT count(*) FROM ods_{table} WHERE _batch_id = 'B1'"),
        )
        .await;
        let dwd = count(
            &t.db,
            &format!("SELECT count(*) FROM dwd_{table} WHERE _batch_id = 'B1'"),
        )
        .await;
        let q = count(
            &t.db,
            &format!("SELECT count(*) FROM zw_quarantine WHERE layer = 'dwd' AND batch_id = 'B1' AND table_name = '{table}'"),
        )
        .await;
        assert_eq!(ods, dwd + q, "{table}");
        let recorded = texts(
            &t.db,
            &format!(
                "SELECT status, CAST(rows_in AS TEXT), CAST(rows_out AS TEXT), CAST(rows_quarantined AS TEXT) \
                 FROM zw_clean_run WHERE batch_id = 'B1' AND table_name = '{table}'"
            ),
        )
        .await;
        assert_eq!(
            recorded[0],
            vec![
                Some("done".into()),
                Some(ods.to_string()),
                Some(dwd.to_string()),
                Some(q.to_string())
            ]
        );
    }

    // Cleaning again changes nothing.
    let before_dwd = texts(&t.db, ALL_PAY).await;
    let again = clean_batch(&t.db, Some(rules.path()), "B1", None)
        .await
        .unwrap();
    assert_eq!(again.count(CleanStatus::AlreadyClean), 3, "{again:#?}");
    assert_eq!(again.table("pay").unwrap().rows_quarantined, 9);
    assert_eq!(texts(&t.db, ALL_PAY).await, before_dwd);
    assert_eq!(
        count(
            &t.db,
            "SELECT count(*) FROM zw_quarantine WHERE layer = 'dwd'"
        )
        .await,
        10
    );
    // Forced, it is redone and still the same.
    let options = CleanOptions {
        rules_dir: Some(rules.path().to_owned()),
        force: true,
        ..CleanOptions::default()
    };
    let forced = clean_batch_with(&t.db, "B1", &options, Arc::new(|_| {}))
        .await
        .unwrap();
    assert_eq!(forced.count(CleanStatus::Cleaned), 3, "{forced:#?}");
    assert_eq!(texts(&t.db, ALL_PAY).await, before_dwd);
    assert_eq!(
        count(
            &t.db,
            "SELECT count(*) FROM zw_quarantine WHERE layer = 'dwd'"
        )
        .await,
        10
    );
});

both_backends!(default_rules_type_every_column_and_money_sums_match, |t| {
    let batch = tempfile::tempdir().unwrap();
    let table = write_payments(
        batch.path(),
        payment_spec(),
        FileFormat::CsvGz,
        3000,
        |_| {},
    );
    let manifest_fen: i64 = table.money_sums.iter().map(|m| m.fen).sum();
    save(batch.path(), &manifest("B1", vec![table]));
    load(&t.db, batch.path()).await;

    let events = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = events.clone();
    let report = clean_batch_with(
        &t.db,
        "B1",
        &CleanOptions {
            chunk_rows: 700,
            ..CleanOptions::default()
        },
        Arc::new(move |e| seen.lock().unwrap().push(format!("{e:?}"))),
    )
    .await
    .unwrap();
    let p = report.table("payment").unwrap();
    assert_eq!(
        (p.status, p.rows_in, p.rows_out, p.rows_quarantined),
        (CleanStatus::Cleaned, 3000, 3000, 0)
    );
    let dwd_fen: i64 = on_db!(&t.db, |pool| sqlx::query_scalar(
        "SELECT CAST(sum(amount) AS BIGINT) FROM dwd_payment"
    )
    .fetch_one(pool)
    .await
    .unwrap());
    assert_eq!(dwd_fen, manifest_fen);
    let events = events.lock().unwrap();
    assert!(events[0].starts_with("Started"), "{events:?}");
    assert!(
        events.iter().any(|e| e.starts_with("TableStarted")),
        "{events:?}"
    );
    assert!(
        events.last().unwrap().starts_with("TableDone"),
        "{events:?}"
    );
});

both_backends!(a_later_batch_replaces_rows_and_new_columns_appear, |t| {
    let one = tempfile::tempdir().unwrap();
    let first = write_payments(one.path(), payment_spec(), FileFormat::Csv, 100, |_| {});
    save(one.path(), &manifest("B1", vec![first]));
    load(&t.db, one.path()).await;
    assert!(
        clean_batch(&t.db, None, "B1", None)
            .await
            .unwrap()
            .is_clean()
    );

    // Batch 2 re-sends ten keys with new amounts and a new column.
    let two = tempfile::tempdir().unwrap();
    let mut spec = payment_spec();
    spec.columns.push(col("remark", ColumnType::String));
    let mut w = TableWriter::create(two.path(), spec, FileFormat::Csv).unwrap();
    for i in 0..10u64 {
        let mut row = payment_row(i);
        row[3] = "1.00".into();
        row.push(format!(" 备注{i} "));
        w.write_row(&row).unwrap();
    }
    save(two.path(), &manifest("B2", vec![w.finish().unwrap()]));
    load(&t.db, two.path()).await;
    let report = clean_batch(&t.db, None, "B2", None).await.unwrap();
    assert_eq!(report.table("payment").unwrap().rows_out, 10, "{report:#?}");

    assert_eq!(count(&t.db, "SELECT count(*) FROM dwd_payment").await, 100);
    assert_eq!(
        count(
            &t.db,
            "SELECT count(*) FROM dwd_payment WHERE _batch_id = 'B2' AND amount = 100"
        )
        .await,
        10
    );
    assert_eq!(
        texts(
            &t.db,
            "SELECT remark FROM dwd_payment WHERE pay_id = 'P0000003'"
        )
        .await,
        vec![vec![Some("备注3".to_owned())]]
    );
    assert_eq!(
        count(
            &t.db,
            "SELECT count(*) FROM dwd_payment WHERE remark IS NULL"
        )
        .await,
        90
    );

    // Re-cleaning the older batch does not bring its old rows back: they
    // are quarantined as superseded, and the invariant still holds.
    let options = CleanOptions {
        force: true,
        ..CleanOptions::default()
    };
    let again = clean_batch_with(&t.db, "B1", &options, Arc::new(|_| {}))
        .await
        .unwrap();
    let p = again.table("payment").unwrap();
    assert_eq!(
        (p.rows_in, p.rows_out, p.rows_quarantined),
        (100, 90, 10),
        "{again:#?}"
    );
    assert_eq!(p.by_rule.get("dedupe"), Some(&10));
    assert_eq!(
        count(
            &t.db,
            "SELECT count(*) FROM dwd_payment WHERE _batch_id = 'B2' AND amount = 100"
        )
        .await,
        10
    );
    let reason = texts(
        &t.db,
        "SELECT reason FROM zw_quarantine WHERE layer = 'dwd' AND batch_id = 'B1' ORDER BY line LIMIT 1",
    )
    .await;
    assert!(
        reason[0][0]
            .as_deref()
            .unwrap()
            .contains("key P0000000 already holds the row of the later batch B2"),
        "{reason:?}"
    );
});

both_backends!(
    a_bad_rule_file_is_reported_with_its_line_and_changes_nothing,
    |t| {
        let batch = tempfile::tempdir().unwrap();
        let table = write_payments(batch.path(), payment_spec(), FileFormat::Csv, 20, |_| {});
        save(batch.path(), &manifest("B1", vec![table]));
        load(&t.db, batch.path()).await;

        let cases = [
            // A step that does not exist (a parse error).
            (
                "[columns]\npay_id = [\"trim\"]\n\npayee = [\"trm\"]\n",
                "payment.toml line 4",
                "trm",
            ),
            // A column the table does not have.
            (
                "\n[columns]\n\npayer = [\"trim\"]\n",
                "payment.toml line 4",
                "\"payer\" is not a column of table payment",
            ),
            // A regex that does not compile.
            (
                "[columns]\npayee = [\"trim\",\n  { pattern = \"([A-Z\" }]\n",
                "payment.toml line 3",
                "not a valid regex",
            ),
            // A numeric range on text.
            (
                "[columns]\npayee = [{ range = { min = 0 } }]\n",
                "payment.toml line 2",
                "numeric bounds need a type step",
            ),
            // A text step after the type step.
            (
                "[columns]\namount = [\"money\", \"trim\"]\n",
                "payment.toml line 2",
                "`trim` works on text",
            ),
            // A key column that does not exist.
            (
                "key = [\"pay_no\"]\n",
                "payment.toml line 1",
                "key column \"pay_no\"",
            ),
        ];
        for (text, at, problem) in cases {
            let dir = rules(&[("payment", text)]);
            let err = clean_batch(&t.db, Some(dir.path()), "B1", None)
                .await
                .unwrap_err();
            let message = err.to_string();
            assert!(message.contains(at), "{message}");
            assert!(message.contains(problem), "{message}");
            assert!(message.contains("nothing was cleaned"), "{message}");
        }
        assert!(!t.db.table_exists("dwd_payment").await.unwrap());
        assert_eq!(count(&t.db, "SELECT count(*) FROM zw_clean_run").await, 0);
        assert_eq!(count(&t.db, "SELECT count(*) FROM zw_quarantine").await, 0);

        // The real rule files of the project parse.
        let plugins = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../plugins/cleaning");
        let set = zhiyun_warehouse::clean::RuleSet::load(&plugins).unwrap();
        assert!(set.tables().count() >= 8, "{set:?}");
    }
);

both_backends!(
    rules_that_change_a_column_type_or_the_key_are_refused,
    |t| {
        let batch = tempfile::tempdir().unwrap();
        let table = write_payments(batch.path(), payment_spec(), FileFormat::Csv, 20, |_| {});
        save(batch.path(), &manifest("B1", vec![table]));
        load(&t.db, batch.path()).await;
        clean_batch(&t.db, None, "B1", None).await.unwrap();

        let dir = rules(&[("payment", "[columns]\namount = [\"trim\"]\n")]);
        let err = clean_batch(&t.db, Some(dir.path()), "B1", None)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("payment.toml line 2") && err.contains("holds money values"),
            "{err}"
        );
        let dir = rules(&[("payment", "key = [\"pay_id\", \"org_id\"]\n")]);
        let err = clean_batch(&t.db, Some(dir.path()), "B1", None)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("keyed by (pay_id)"), "{err}");
    }
);

both_backends!(an_empty_part_of_a_text_key_is_kept_as_empty_text, |t| {
    // gl_balance's key includes aux_key, empty for "no auxiliary item".
    let batch = tempfile::tempdir().unwrap();
    let cols = [
        ("acct_code", ColumnType::String),
        ("aux_key", ColumnType::String),
        ("close_dr", ColumnType::Money),
    ];
    let table = write(
        batch.path(),
        spec("bal", &cols, &["acct_code", "aux_key"]),
        &[
            vec!["1002", "", "1.00"],
            vec!["1002", "S:001", "2.00"],
            vec!["1122", " ", "3.00"],
            vec!["", "", "4.00"],
        ],
    );
    save(batch.path(), &manifest("B1", vec![table]));
    load(&t.db, batch.path()).await;
    let report = clean_batch(&t.db, None, "B1", None).await.unwrap();
    let b = report.table("bal").unwrap();
    assert_eq!((b.rows_out, b.rows_quarantined), (3, 1), "{report:#?}");
    assert_eq!(
        count(&t.db, "SELECT count(*) FROM dwd_bal WHERE aux_key = ''").await,
        2
    );
    assert_eq!(
        texts(
            &t.db,
            "SELECT rule, reason FROM zw_quarantine WHERE layer = 'dwd'"
        )
        .await,
        vec![vec![
            Some("key".to_owned()),
            Some("key column acct_code, aux_key is empty".to_owned())
        ]]
    );
});

/// Throughput on a 15-column table. Run with
/// `cargo test --release -p zhiyun-warehouse --test clean -- --ignored --nocapture clean_speed`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn clean_speed() {
    let rows: u64 = std::env::var("CLEAN_SPEED_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let t = TestDb::new(zhiyun_store::Backend::Sqlite).await;
    let batch = tempfile::tempdir().unwrap();
    let mut columns: Vec<(&str, ColumnType)> = vec![
        ("id", ColumnType::String),
        ("org_id", ColumnType::String),
        ("date", ColumnType::Date),
        ("ts", ColumnType::Timestamp),
        ("amount", ColumnType::Money),
        ("tax", ColumnType::Money),
        ("qty", ColumnType::Int),
        ("rate", ColumnType::Decimal),
        ("flag", ColumnType::Bool),
    ];
    columns.extend([
        ("name", ColumnType::String),
        ("c1", ColumnType::String),
        ("c2", ColumnType::String),
    ]);
    columns.extend([
        ("c3", ColumnType::String),
        ("c4", ColumnType::String),
        ("c5", ColumnType::String),
    ]);
    let mut w = TableWriter::create(
        batch.path(),
        spec("wide", &columns, &["id"]),
        FileFormat::Csv,
    )
    .unwrap();
    for i in 0..rows {
        w.write_row(&[
            format!("W{i:09}"),
            format!("33{:02}", i % 40),
            format!("2025/{}/{}", i % 12 + 1, i % 28 + 1),
            format!(
                "2025-{:02}-{:02} {:02}:{:02}:00",
                i % 12 + 1,
                i % 28 + 1,
                i % 24,
                i % 60
            ),
            format!("{}.{:02}", i * 37 % 100_000, i % 100),
            format!("{}.{:02}", i % 5000, i % 100),
            format!("{}", i % 1000),
            "0.13".to_owned(),
            if i % 2 == 0 { "Y" } else { "N" }.to_owned(),
            format!(" 名称{} ", i % 977),
            format!("C{}", i % 13),
            "ＡＢＣ".to_owned(),
            "x".to_owned(),
            format!("{i}"),
            "备注".to_owned(),
        ])
        .unwrap();
    }
    save(batch.path(), &manifest("B1", vec![w.finish().unwrap()]));
    let started = std::time::Instant::now();
    load(&t.db, batch.path()).await;
    let load_secs = started.elapsed().as_secs_f64();
    let started = std::time::Instant::now();
    let report = clean_batch(&t.db, None, "B1", None).await.unwrap();
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(report.rows_out(), rows, "{report:#?}");
    println!(
        "cleaned {rows} rows × 15 columns on SQLite in {secs:.2} s: {:.0} rows/s \
         (for comparison, the ODS load of the same file: {:.0} rows/s)",
        rows as f64 / secs,
        rows as f64 / load_secs
    );
    t.close().await;
}
