//! Reconciliation (回流验证): manifest vs loaded, then bisection to the rows.

mod common;

use common::*;
use std::sync::Arc;
use zhiyun_batch::FileFormat;
use zhiyun_warehouse::ods::{LoadOptions, load_batch};
use zhiyun_warehouse::on_db;
use zhiyun_warehouse::reconcile::{ReconcileOptions, ReconcileStatus, reconcile_batch};

async fn exec(db: &zhiyun_warehouse::Db, sql: &str) {
    on_db!(db, |pool| sqlx::raw_sql(sqlx::AssertSqlSafe(
        sql.to_owned()
    ))
    .execute(pool)
    .await
    .map(|_| ())
    .unwrap());
}

both_backends!(a_faithful_load_matches_and_damage_is_located, |t| {
    let dir = tempfile::tempdir().unwrap();
    let mut damaged_spec = payment_spec();
    damaged_spec.name = "damaged".into();
    let mut lying_spec = payment_spec();
    lying_spec.name = "lying".into();
    let tables = vec![
        write_payments(
            dir.path(),
            payment_spec(),
            FileFormat::CsvGz,
            20_000,
            |_| {},
        ),
        write_payments(dir.path(), damaged_spec, FileFormat::Csv, 3000, |w| {
            w.write_damaged(&payment_row(9001), b"P0009001,broken\n")
                .unwrap();
        }),
        // The file holds one row more than the manifest says.
        write_payments(dir.path(), lying_spec, FileFormat::Jsonl, 500, |w| {
            w.write_unlisted(&payment_row(777_777)).unwrap();
        }),
    ];
    save(dir.path(), &manifest("B1", tables));
    let options = LoadOptions {
        chunk_rows: 4000,
        ..LoadOptions::default()
    };
    load_batch(&t.db, dir.path(), &options, Arc::new(|_| {}))
        .await
        .unwrap();

    let results = reconcile_batch(&t.db, "B1", None, &ReconcileOptions::default())
        .await
        .unwrap();
    let by = |name: &str| results.iter().find(|r| r.table == name).unwrap().clone();
    let payment = by("payment");
    assert_eq!(payment.status, ReconcileStatus::Match, "{payment:#?}");
    assert_eq!(payment.loaded.rows, 20_000);

    let damaged = by("damaged");
    assert_eq!(damaged.status, ReconcileStatus::Mismatch);
    assert_eq!(damaged.missing_count, 1, "{damaged:#?}");
    // An unreadable line has no key: it is named by its line.
    assert_eq!(
        (damaged.missing[0].key.as_str(), damaged.missing[0].line),
        ("", 3002)
    );
    assert!(
        damaged.missing[0]
            .note
            .as_deref()
            .unwrap()
            .starts_with("quarantined: 2 fields"),
        "{damaged:#?}"
    );
    assert_eq!((damaged.extra_count, damaged.changed_count), (0, 0));
    assert!(
        !damaged.sum_diffs.is_empty(),
        "the missing row's amount is missing from the sums"
    );

    let lying = by("lying");
    assert_eq!(lying.status, ReconcileStatus::Mismatch);
    assert!(
        lying
            .findings
            .iter()
            .any(|f| f.starts_with("the manifest disagrees with its own file")),
        "{lying:#?}"
    );
    assert!(
        lying
            .findings
            .iter()
            .any(|f| f == "the warehouse holds exactly the rows of the file")
    );

    // Damage inside the warehouse: one row changed, one deleted.
    exec(
        &t.db,
        "UPDATE ods_payment SET amount = '1.00' WHERE pay_id = 'P0012345'",
    )
    .await;
    exec(&t.db, "DELETE FROM ods_payment WHERE pay_id = 'P0000042'").await;
    let again = reconcile_batch(
        &t.db,
        "B1",
        Some(&["payment".to_owned()]),
        &ReconcileOptions::default(),
    )
    .await
    .unwrap();
    let payment = &again[0];
    assert_eq!(payment.status, ReconcileStatus::Mismatch);
    assert_eq!(
        payment
            .changed
            .iter()
            .map(|d| d.key.as_str())
            .collect::<Vec<_>>(),
        ["P0012345"]
    );
    assert_eq!(
        payment
            .missing
            .iter()
            .map(|d| d.key.as_str())
            .collect::<Vec<_>>(),
        ["P0000042"]
    );
    assert!(payment.missing[0].note.is_none());
    assert!(
        payment.segments_compared < 500,
        "{}",
        payment.segments_compared
    );
    // The result is stored for the catalog.
    let stored = zhiyun_warehouse::reconcile::stored(&t.db, "B1", "payment")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored["status"], "mismatch");
    assert_eq!(stored["changed"][0]["key"], "P0012345");
});

both_backends!(unknown_batches_and_tables_are_clear_errors, |t| {
    let err = reconcile_batch(&t.db, "nope", None, &ReconcileOptions::default())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "batch nope is not known to the warehouse (load it first)"
    );
    let dir = tempfile::tempdir().unwrap();
    let table = write_payments(dir.path(), payment_spec(), FileFormat::Csv, 5, |_| {});
    save(dir.path(), &manifest("B1", vec![table]));
    load_batch(&t.db, dir.path(), &LoadOptions::default(), Arc::new(|_| {}))
        .await
        .unwrap();
    let err = reconcile_batch(
        &t.db,
        "B1",
        Some(&["ghost".to_owned()]),
        &ReconcileOptions::default(),
    )
    .await
    .unwrap_err();
    assert_eq!(err.to_string(), "table ghost is not in batch B1");
});
