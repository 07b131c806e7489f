//! Loading batches into ODS: formats, idempotence, bad input, drift.

mod common;

use common::*;
use std::sync::Arc;
use zhiyun_batch::{ColumnType, FileFormat};
use zhiyun_warehouse::ods::{LoadOptions, TableStatus, load_batch};
use zhiyun_warehouse::{Db, on_db};

fn options() -> LoadOptions {
    LoadOptions {
        chunk_rows: 700,
        ..LoadOptions::default()
    }
}

fn quiet() -> zhiyun_warehouse::ods::Watcher {
    Arc::new(|_| {})
}

async fn count(db: &Db, sql: &str) -> i64 {
    on_db!(db, |pool| sqlx::query_scalar::<_, i64>(
        sqlx::AssertSqlSafe(sql.to_owned())
    )
    .fetch_one(pool)
    .await
    .unwrap())
}

fn renamed(name: &str) -> zhiyun_batch::TableSpec {
    let mut spec = payment_spec();
    spec.name = name.into();
    spec
}

both_backends!(every_format_loads_once, |t| {
    let dir = tempfile::tempdir().unwrap();
    let tables = vec![
        write_payments(
            dir.path(),
            renamed("pay_csv"),
            FileFormat::Csv,
            2500,
            |_| {},
        ),
        write_payments(
            dir.path(),
            renamed("pay_gz"),
            FileFormat::CsvGz,
            1800,
            |_| {},
        ),
        write_payments(
            dir.path(),
            renamed("pay_jsonl"),
            FileFormat::Jsonl,
            900,
            |_| {},
        ),
    ];
    save(dir.path(), &manifest("B1", tables));

    let report = load_batch(&t.db, dir.path(), &options(), quiet())
        .await
        .unwrap();
    assert!(report.is_clean(), "{report:#?}");
    assert_eq!(report.count(TableStatus::Loaded), 3);
    assert_eq!(report.rows_loaded(), 5200);
    assert_eq!(count(&t.db, "SELECT count(*) FROM ods_pay_csv").await, 2500);
    assert_eq!(count(&t.db, "SELECT count(*) FROM ods_pay_gz").await, 1800);
    assert_eq!(
        count(&t.db, "SELECT count(*) FROM ods_pay_jsonl").await,
        900
    );
    // Values arrive exactly as sent, with the file line.
    let (line, amount): (i64, String) = on_db!(&t.db, |pool| sqlx::query_as(
        "SELECT _line, amount FROM ods_pay_jsonl WHERE pay_id = 'P0000007'"
    )
    .fetch_one(pool)
    .await
    .unwrap());
    assert_eq!((line, amount.as_str()), (8, payment_row(7)[3].as_str()));

    // Loading the same batch again changes nothing.
    let again = load_batch(&t.db, dir.path(), &options(), quiet())
        .await
        .unwrap();
    assert_eq!(again.count(TableStatus::AlreadyLoaded), 3, "{again:#?}");
    assert_eq!(count(&t.db, "SELECT count(*) FROM ods_pay_csv").await, 2500);
    assert_eq!(count(&t.db, "SELECT count(*) FROM zw_quarantine").await, 0);
});

both_backends!(bad_input_is_reported_and_the_good_tables_load, |t| {
    let dir = tempfile::tempdir().unwrap();
    let good = write_payments(dir.path(), renamed("good"), FileFormat::Csv, 1000, |_| {});
    let missing = write_payments(dir.path(), renamed("missing"), FileFormat::Csv, 10, |_| {});
    std::fs::remove_file(dir.path().join(&missing.file)).unwrap();
    let truncated = write_payments(
        dir.path(),
        renamed("truncated"),
        FileFormat::CsvGz,
        30_000,
        |_| {},
    );
    let path = dir.path().join(&truncated.file);
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() * 2 / 3]).unwrap();
    // A file the source wrote in GBK instead of UTF-8.
    let gbk = write_payments(dir.path(), renamed("gbk"), FileFormat::Csv, 300, |_| {});
    let text = std::fs::read_to_string(dir.path().join(&gbk.file)).unwrap();
    std::fs::write(dir.path().join(&gbk.file), encoding_rs::GBK.encode(&text).0).unwrap();
    // A few damaged lines among good ones: quarantined, the rest loads.
    let damaged = write_payments(dir.path(), renamed("damaged"), FileFormat::Csv, 2000, |w| {
        w.write_damaged(&payment_row(5000), b"P5000,3301\n")
            .unwrap();
        w.write_damaged(
            &payment_row(5001),
            b"P5001,3301,2026-01-01,1.00,\xff\xfe\x00garbage\n",
        )
        .unwrap();
    });
    save(
        dir.path(),
        &manifest("B1", vec![good, missing, truncated, gbk, damaged]),
    );

    let report = load_batch(&t.db, dir.path(), &options(), quiet())
        .await
        .unwrap();
    let by = |name: &str| {
        report
            .tables
            .iter()
            .find(|o| o.table == name)
            .unwrap()
            .clone()
    };
    assert_eq!(by("good").status, TableStatus::Loaded, "{:?}", by("good"));
    assert_eq!(by("good").rows_loaded, 1000);

    let m = by("missing");
    assert_eq!(m.status, TableStatus::Failed);
    assert!(
        m.error
            .as_deref()
            .unwrap()
            .contains("tables/missing.csv: cannot open"),
        "{m:?}"
    );

    let tr = by("truncated");
    assert_eq!(tr.status, TableStatus::Failed);
    assert!(tr.error.as_deref().unwrap().contains("truncated"), "{tr:?}");
    assert!(
        tr.error
            .as_deref()
            .unwrap()
            .contains("tables/truncated.csv.gz, after line"),
        "{tr:?}"
    );
    assert!(tr.rows_loaded > 0 && tr.rows_loaded < 30_000, "{tr:?}");

    let g = by("gbk");
    assert_eq!(g.status, TableStatus::Rejected);
    assert!(g.error.as_deref().unwrap().contains("GBK"), "{g:?}");
    assert_eq!(count(&t.db, "SELECT count(*) FROM ods_gbk").await, 0);

    let d = by("damaged");
    assert_eq!(d.status, TableStatus::Loaded, "{d:?}");
    assert_eq!(
        (d.rows_received, d.rows_loaded, d.rows_quarantined),
        (2002, 2000, 2)
    );
    assert_eq!(d.problems.len(), 2);
    assert!(
        d.problems[0].starts_with("tables/damaged.csv line 2002: 2 fields, the header has 5"),
        "{:?}",
        d.problems
    );
    assert!(
        d.problems[1]
            .starts_with("tables/damaged.csv line 2003: column 5 (payee) is not valid UTF-8"),
        "{:?}",
        d.problems
    );
    assert_eq!(
        count(
            &t.db,
            "SELECT count(*) FROM zw_quarantine WHERE table_name = 'damaged' AND layer = 'ods'"
        )
        .await,
        2
    );

    // Running again: the loaded tables are not touched, the broken ones are
    // retried and fail the same way, nothing is duplicated.
    let truncated_rows = count(&t.db, "SELECT count(*) FROM ods_truncated").await;
    let again = load_batch(&t.db, dir.path(), &options(), quiet())
        .await
        .unwrap();
    assert_eq!(again.count(TableStatus::AlreadyLoaded), 2);
    assert_eq!(count(&t.db, "SELECT count(*) FROM ods_good").await, 1000);
    assert_eq!(
        count(&t.db, "SELECT count(*) FROM ods_truncated").await,
        truncated_rows
    );
    assert_eq!(count(&t.db, "SELECT count(*) FROM ods_damaged").await, 2000);
    assert_eq!(count(&t.db, "SELECT count(*) FROM zw_quarantine").await, 2);
});

both_backends!(drift_is_recorded_and_no_column_is_dropped, |t| {
    let one = tempfile::tempdir().unwrap();
    let first = write_payments(one.path(), payment_spec(), FileFormat::Csv, 100, |_| {});
    save(one.path(), &manifest("B1", vec![first]));
    assert!(
        load_batch(&t.db, one.path(), &options(), quiet())
            .await
            .unwrap()
            .is_clean()
    );

    // Batch 2: `payee` is gone, `remark` is new, `amount` is declared a string.
    let two = tempfile::tempdir().unwrap();
    let mut spec = payment_spec();
    spec.columns.retain(|c| c.name != "payee");
    spec.columns.push(col("remark", ColumnType::String));
    spec.columns[3].ty = ColumnType::String;
    let mut w = zhiyun_batch::TableWriter::create(two.path(), spec, FileFormat::Csv).unwrap();
    for i in 0..50u64 {
        let mut row = payment_row(1000 + i);
        row.pop();
        row.push(format!("备注{i}"));
        w.write_row(&row).unwrap();
    }
    let second = w.finish().unwrap();
    save(two.path(), &manifest("B2", vec![second]));
    let report = load_batch(&t.db, two.path(), &options(), quiet())
        .await
        .unwrap();
    assert!(report.is_clean(), "{report:#?}");
    let mut kinds: Vec<(String, String)> = report.tables[0]
        .drift
        .iter()
        .map(|d| (d.column.clone(), d.kind.clone()))
        .collect();
    kinds.sort();
    assert_eq!(
        kinds,
        [
            ("amount", "retyped"),
            ("payee", "missing"),
            ("remark", "added")
        ]
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
    );
    assert_eq!(
        count(&t.db, "SELECT count(*) FROM zw_drift WHERE batch_id = 'B2'").await,
        3
    );
    // Both batches' rows are there, each with the columns it had.
    assert_eq!(
        count(
            &t.db,
            "SELECT count(*) FROM ods_payment WHERE payee IS NOT NULL"
        )
        .await,
        100
    );
    assert_eq!(
        count(
            &t.db,
            "SELECT count(*) FROM ods_payment WHERE remark IS NOT NULL"
        )
        .await,
        50
    );
});

both_backends!(a_changed_manifest_under_a_known_batch_id_is_refused, |t| {
    let dir = tempfile::tempdir().unwrap();
    let table = write_payments(dir.path(), payment_spec(), FileFormat::Csv, 10, |_| {});
    save(dir.path(), &manifest("B1", vec![table.clone()]));
    load_batch(&t.db, dir.path(), &options(), quiet())
        .await
        .unwrap();
    let mut changed = table;
    changed.rows += 1;
    save(dir.path(), &manifest("B1", vec![changed]));
    let err = load_batch(&t.db, dir.path(), &options(), quiet())
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("batch B1 was loaded before from a different manifest"),
        "{err}"
    );
    assert_eq!(count(&t.db, "SELECT count(*) FROM ods_payment").await, 10);
});
