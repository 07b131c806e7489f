//! Ingestion speed of one wide table, on SQLite and PostgreSQL, in one run:
//! `cargo run --release -p zhiyun-warehouse --example ingest_speed -- [rows] [postgres-url]`.
//! Writes a CSV of journal-line-shaped rows (14 columns), loads it into a
//! fresh warehouse on each backend, prints rows/s.

use std::sync::Arc;
use std::time::Instant;
use zhiyun_batch::{ColumnSpec, ColumnType, FileFormat, TableSpec, TableWriter};

fn col(name: &str, ty: ColumnType) -> ColumnSpec {
    ColumnSpec {
        name: name.into(),
        ty,
        description: String::new(),
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rows: u64 = args
        .get(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let pg = args
        .get(2)
        .cloned()
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/test".into());
    let dir = tempfile::tempdir().unwrap();
    let batch = dir.path().join("batch");
    let spec = TableSpec {
        name: "gl_voucher_line".into(),
        domain: "总账".into(),
        description: "凭证分录".into(),
        columns: vec![
            col("voucher_id", ColumnType::String),
            col("line_no", ColumnType::Int),
            col("org_id", ColumnType::String),
            col("period", ColumnType::String),
            col("acct_code", ColumnType::String),
            col("dr", ColumnType::Money),
            col("cr", ColumnType::Money),
            col("summary", ColumnType::String),
            col("cost_center", ColumnType::String),
            col("proj_id", ColumnType::String),
            col("cust_no", ColumnType::String),
            col("supp_id", ColumnType::String),
            col("cashflow_item", ColumnType::String),
            col("biz_activity", ColumnType::String),
        ],
        key: vec!["voucher_id".into(), "line_no".into()],
        period_column: Some("period".into()),
        org_column: Some("org_id".into()),
    };
    let started = Instant::now();
    let mut w = TableWriter::create(&batch, spec, FileFormat::Csv).unwrap();
    for i in 0..rows {
        let amount = zhiyun_batch::money::fen_to_yuan((i * 7919 % 10_000_000) as i64);
        let (dr, cr) = if i % 2 == 0 {
            (amount, "0.00".into())
        } else {
            ("0.00".into(), amount)
        };
        w.write_row(&[
            format!("V{:09}", i / 2),
            (i % 2 + 1).to_string(),
            ["3300", "3301", "3302", "3303"][(i % 4) as usize].into(),
            format!("2026{:02}", i % 10 + 1),
            ["1002", "112201", "6001", "2241", "6602"][(i % 5) as usize].into(),
            dr,
            cr,
            "收到电费".into(),
            format!("CC{:04}", i % 300),
            format!("PJ{:05}", i % 800),
            format!("C{:08}", i % 50_000),
            String::new(),
            "CF01".into(),
            "经营".into(),
        ])
        .unwrap();
    }
    let table = w.finish().unwrap();
    let manifest = zhiyun_batch::Manifest {
        format_version: 1,
        batch_id: "SPEED".into(),
        source: "bench".into(),
        as_of: "2026-10-31".into(),
        notes: Default::default(),
        tables: vec![table],
    };
    zhiyun_batch::write::write_manifest(&batch, &manifest).unwrap();
    println!(
        "wrote {rows} rows in {:.2} s",
        started.elapsed().as_secs_f64()
    );

    for (name, url) in [
        (
            "sqlite",
            format!("sqlite://{}", dir.path().join("w.db").display()),
        ),
        ("postgres", pg.clone()),
    ] {
        let db = zhiyun_warehouse::Db::open(&url).await.unwrap();
        if name == "postgres" {
            zhiyun_warehouse::on_db!(&db, |pool| {
                sqlx::raw_sql(
                "DROP TABLE IF EXISTS ods_gl_voucher_line; DELETE FROM zw_table_load WHERE batch_id = 'SPEED'; \
                 DELETE FROM zw_batch WHERE batch_id = 'SPEED'; DELETE FROM zw_table_schema WHERE table_name = 'gl_voucher_line'"
            )
            .execute(pool)
            .await
            .map(|_| ())
            .unwrap()
            });
        }
        let started = Instant::now();
        let report = zhiyun_warehouse::load_batch(
            &db,
            &batch,
            &zhiyun_warehouse::LoadOptions::default(),
            Arc::new(|_| {}),
        )
        .await
        .unwrap();
        let s = started.elapsed().as_secs_f64();
        assert!(report.is_clean());
        println!(
            "{name}: loaded {} rows in {s:.2} s = {:.0} rows/s",
            report.rows_loaded(),
            report.rows_loaded() as f64 / s
        );
        let started = Instant::now();
        let r = zhiyun_warehouse::reconcile::reconcile_batch(
            &db,
            "SPEED",
            None,
            &zhiyun_warehouse::reconcile::ReconcileOptions::default(),
        )
        .await
        .unwrap();
        println!(
            "{name}: reconciled ({}) in {:.2} s",
            r[0].status.as_str(),
            started.elapsed().as_secs_f64()
        );
        db.close().await;
    }
}
