//! The backflow benchmark (issue 5), every figure in one run on one machine:
//!
//! ```sh
//! cargo run --release -p zhiyun-warehouse --example backflow_bench -- \
//!     [--scale demo] [--big-rows 10000000] [--pg postgres://postgres@127.0.0.1:5432/test] [--only gen,batch,journal,big]
//! ```
//!
//! 1. `gen`: `zhiyun gen` at the given scale (csv.gz): rows/s.
//! 2. `batch`: the whole generated batch (725 tables) end to end into a fresh
//!    warehouse on SQLite and on PostgreSQL: load, clean, reconcile, catalog.
//! 3. `journal`: the journal-line table (gl_voucher_line) alone: load rows/s
//!    on each backend.
//! 4. `big`: a journal-line-shaped table of `--big-rows` rows loaded on each
//!    backend, one row changed in the warehouse, then reconciled: the time to
//!    find it, and that it is the right key.
//!
//! PostgreSQL runs get a fresh database each (created and dropped here).

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;
use zhiyun_batch::{ColumnSpec, ColumnType, FileFormat, TableSpec, TableWriter};
use zhiyun_warehouse::reconcile::{ReconcileOptions, reconcile_batch};
use zhiyun_warehouse::{Db, LoadOptions, load_batch, on_db};

struct Args {
    scale: String,
    big_rows: u64,
    pg: String,
    only: Vec<String>,
}

fn args() -> Args {
    let mut a = Args {
        scale: "demo".into(),
        big_rows: 10_000_000,
        pg: "postgres://postgres@127.0.0.1:5432/test".into(),
        only: vec!["gen".into(), "batch".into(), "journal".into(), "big".into()],
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_default();
        match flag.as_str() {
            "--scale" => a.scale = value,
            "--big-rows" => a.big_rows = value.replace('_', "").parse().expect("--big-rows N"),
            "--pg" => a.pg = value,
            "--only" => a.only = value.split(',').map(str::to_owned).collect(),
            other => panic!("unknown flag {other}"),
        }
    }
    a
}

/// A fresh warehouse: a new SQLite file, or a new PostgreSQL database.
async fn fresh(backend: &str, dir: &Path, pg: &str, tag: &str) -> (Db, Option<String>) {
    if backend == "sqlite" {
        let url = format!("sqlite://{}", dir.join(format!("{tag}.db")).display());
        return (Db::open(&url).await.unwrap(), None);
    }
    let name = format!("zhiyun_bench_{tag}_{}", std::process::id());
    let admin = sqlx::PgPool::connect(pg).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;
    let base = pg.rsplit_once('/').unwrap().0;
    (
        Db::open(&format!("{base}/{name}")).await.unwrap(),
        Some(name),
    )
}

async fn drop_pg(pg: &str, name: Option<String>) {
    if let Some(name) = name {
        let admin = sqlx::PgPool::connect(pg).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE {name} WITH (FORCE)"
        )))
        .execute(&admin)
        .await
        .unwrap();
        admin.close().await;
    }
}

fn quiet() -> zhiyun_warehouse::ods::Watcher {
    Arc::new(|_| {})
}

#[tokio::main]
async fn main() {
    let a = args();
    let tmp =
        tempfile::tempdir_in(std::env::var("BENCH_DIR").unwrap_or_else(|_| "/tmp".into())).unwrap();
    let batch = tmp.path().join("batch");
    let wants = |s: &str| a.only.iter().any(|o| o == s);
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../plugins/cleaning");

    if wants("gen") || wants("batch") || wants("journal") {
        let mut options = zhiyun_gen::GenOptions::new(&batch);
        options.scale = a.scale.parse().unwrap();
        options.format = FileFormat::CsvGz;
        let s = zhiyun_gen::generate(&options, &mut |_| {}).unwrap();
        let lines = s.manifest.table("gl_voucher_line").map_or(0, |t| t.rows);
        println!(
            "gen: scale {} → {} tables, {} rows ({} journal lines) in {:.2} s = {:.0} rows/s",
            a.scale,
            s.tables,
            s.rows,
            lines,
            s.elapsed.as_secs_f64(),
            s.rows as f64 / s.elapsed.as_secs_f64()
        );
    }

    if wants("batch") {
        for backend in ["sqlite", "postgres"] {
            let (db, name) = fresh(backend, tmp.path(), &a.pg, "batch").await;
            let t0 = Instant::now();
            let load = load_batch(&db, &batch, &LoadOptions::default(), quiet())
                .await
                .unwrap();
            let t_load = t0.elapsed().as_secs_f64();
            let t1 = Instant::now();
            let clean =
                zhiyun_warehouse::clean::clean_batch(&db, Some(&rules), &load.batch_id, None)
                    .await
                    .unwrap();
            let t_clean = t1.elapsed().as_secs_f64();
            let t2 = Instant::now();
            let rec = reconcile_batch(&db, &load.batch_id, None, &ReconcileOptions::default())
                .await
                .unwrap();
            let t_rec = t2.elapsed().as_secs_f64();
            let t3 = Instant::now();
            let cat = zhiyun_warehouse::catalog::refresh(&db).await.unwrap();
            let t_cat = t3.elapsed().as_secs_f64();
            let matching = rec
                .iter()
                .filter(|r| r.status == zhiyun_warehouse::reconcile::ReconcileStatus::Match)
                .count();
            println!(
                "batch/{backend}: {} tables, {} rows: load {t_load:.1} s ({:.0} rows/s), clean {t_clean:.1} s \
                 ({} rows out, {} quarantined, {} tables failed), reconcile {t_rec:.1} s ({matching} match), \
                 catalog {t_cat:.1} s ({} tables) — total {:.1} s",
                load.tables.len(),
                load.rows_loaded(),
                load.rows_loaded() as f64 / t_load,
                clean.rows_out(),
                clean.rows_quarantined(),
                clean.count(zhiyun_warehouse::clean::CleanStatus::Failed),
                cat.tables,
                t0.elapsed().as_secs_f64()
            );
            db.close().await;
            drop_pg(&a.pg, name).await;
        }
    }

    if wants("journal") {
        for backend in ["sqlite", "postgres"] {
            let (db, name) = fresh(backend, tmp.path(), &a.pg, "journal").await;
            let options = LoadOptions {
                only: Some(vec!["gl_voucher_line".into()]),
                ..LoadOptions::default()
            };
            let t0 = Instant::now();
            let load = load_batch(&db, &batch, &options, quiet()).await.unwrap();
            let s = t0.elapsed().as_secs_f64();
            println!(
                "journal/{backend}: gl_voucher_line {} rows in {s:.2} s = {:.0} rows/s",
                load.rows_loaded(),
                load.rows_loaded() as f64 / s
            );
            db.close().await;
            drop_pg(&a.pg, name).await;
        }
    }

    if wants("big") {
        let big = tmp.path().join("big");
        let t0 = Instant::now();
        write_big(&big, a.big_rows);
        println!(
            "big: wrote {} rows in {:.1} s",
            a.big_rows,
            t0.elapsed().as_secs_f64()
        );
        for backend in ["sqlite", "postgres"] {
            let (db, name) = fresh(backend, tmp.path(), &a.pg, "big").await;
            let t0 = Instant::now();
            let load = load_batch(&db, &big, &LoadOptions::default(), quiet())
                .await
                .unwrap();
            let t_load = t0.elapsed().as_secs_f64();
            let target = format!("V{:09}", a.big_rows / 3 / 2);
            on_db!(&db, |pool| {
                sqlx::query(
                "UPDATE ods_gl_voucher_line SET summary = 'tampered' WHERE voucher_id = $1 AND line_no = '1'"
            )
            .bind(&target)
            .execute(pool)
            .await
            .map(|_| ())
            .unwrap()
            });
            let t1 = Instant::now();
            let rec = reconcile_batch(&db, "BIG", None, &ReconcileOptions::default())
                .await
                .unwrap();
            let t_rec = t1.elapsed().as_secs_f64();
            let r = &rec[0];
            let found: Vec<&str> = r.changed.iter().map(|d| d.key.as_str()).collect();
            assert_eq!(found, [format!("{target}|1")], "the changed row is located");
            println!(
                "big/{backend}: load {} rows {t_load:.1} s ({:.0} rows/s); reconcile with one changed row {t_rec:.1} s \
                 → changed key {:?}, {} segments compared",
                load.rows_loaded(),
                load.rows_loaded() as f64 / t_load,
                found,
                r.segments_compared
            );
            db.close().await;
            drop_pg(&a.pg, name).await;
        }
    }
}

fn col(name: &str, ty: ColumnType) -> ColumnSpec {
    ColumnSpec {
        name: name.into(),
        ty,
        description: String::new(),
    }
}

/// A journal-line-shaped table (14 columns) of `rows` rows, key (voucher_id, line_no).
fn write_big(dir: &Path, rows: u64) {
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
    let mut w = TableWriter::create(dir, spec, FileFormat::Csv).unwrap();
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
        batch_id: "BIG".into(),
        source: "bench".into(),
        as_of: "2026-10-31".into(),
        notes: Default::default(),
        tables: vec![table],
    };
    zhiyun_batch::write::write_manifest(dir, &manifest).unwrap();
}
