//! Benchmark of the S02 data path on a warehouse that holds a batch's S02
//! tables (ingested with `zhiyun ingest <batch> --table dim_org --table
//! code_map_bank --table bank_account --table bank_balance_daily --table
//! bank_txn`):
//!
//! 1. the S02 models: a full build (`--full-refresh`), then one month of
//!    `dwd_bank_txn` re-delivered by a correcting batch (its rows'
//!    `_batch_id` changes and a cleaning run is recorded, as a re-clean
//!    would) and the incremental build that follows;
//! 2. semantic-query latency (p50/p95/p99) of the queries the S02 app makes
//!    on a launch, for a 二级单位 user (本单位及下级 at 3300: every account)
//!    and a 供电所 user (330101), through the engine (guard + read-only
//!    connection);
//! 3. the guard's rewrite time for the same SQL, to compare with (2).
//!
//! ```text
//! cargo run --release -p zhiyun-query --example s02_bench -- <warehouse-url> [iterations]
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};
use zhiyun_authz::access::{
    AppGrant, DatasetGrant, DatasetPolicy, PostGrant, UserCtx, effective_access,
};
use zhiyun_authz::identity::Role;
use zhiyun_authz::org::{Org, OrgKind, OrgTree};
use zhiyun_authz::scope::{DataScope, Sensitivity};
use zhiyun_contract::{Filter, FilterOp, SemanticQuery, Value};
use zhiyun_models::build::BuildOptions;
use zhiyun_models::{Project, build};
use zhiyun_query::engine::Engine;
use zhiyun_query::exec::{Limits, ReadOnlyWarehouse};
use zhiyun_query::guard::guard;
use zhiyun_warehouse::{Db, on_db};

fn tree() -> OrgTree {
    let org = |id: &str, parent: Option<&str>, kind| Org {
        id: id.into(),
        code: id.into(),
        name: id.into(),
        parent_id: parent.map(String::from),
        kind,
    };
    let mut orgs = vec![org("3300", None, OrgKind::SecondaryUnit)];
    for c in ["3301", "3302", "3303"] {
        orgs.push(org(c, Some("3300"), OrgKind::CountyCompany));
        for s in ["01", "02"] {
            orgs.push(org(&format!("{c}{s}"), Some(c), OrgKind::SupplyStation));
        }
    }
    OrgTree::build(orgs).expect("a valid tree")
}

fn user(org: &str) -> UserCtx {
    UserCtx {
        username: format!("u{org}"),
        org_id: org.into(),
        posts: vec![PostGrant {
            role: Role::UnitLeader,
            org_id: org.into(),
            scope: DataScope::OrgAndBelow,
            max_sensitivity: Sensitivity::Sensitive,
        }],
    }
}

fn pct(mut v: Vec<Duration>, p: f64) -> f64 {
    v.sort();
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i].as_secs_f64() * 1000.0
}

/// The queries fund-position makes on a launch for `date`.
fn launch_queries(date: zhiyun_contract::Date) -> Vec<SemanticQuery> {
    let on = |d| Filter {
        field: "balance_date".into(),
        op: FilterOp::Eq,
        values: vec![Value::Date(d)],
    };
    let dims = |d: &[&str]| d.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    vec![
        SemanticQuery {
            dataset: "fund_daily".into(),
            measures: dims(&["latest_date"]),
            ..SemanticQuery::default()
        },
        SemanticQuery {
            dataset: "fund_daily".into(),
            dimensions: dims(&[
                "org_id",
                "org_name",
                "parent_id",
                "acct_no",
                "bank",
                "acct_type",
                "in_pool",
                "idle",
            ]),
            measures: dims(&[
                "closing",
                "available",
                "safety_reserve",
                "pooled_closing",
                "bank_bal",
                "unreconciled",
            ]),
            filters: vec![on(date)],
            limit: Some(10_000),
            ..SemanticQuery::default()
        },
        SemanticQuery {
            dataset: "fund_daily".into(),
            dimensions: dims(&["org_id", "acct_type", "bank"]),
            measures: dims(&["closing"]),
            filters: vec![on(zhiyun_contract::Date {
                year: date.year,
                month: date.month,
                day: date.day - 1,
            })],
            ..SemanticQuery::default()
        },
    ]
}

async fn timed_build(db: &Db, project: &Project, full: bool) -> f64 {
    let t = Instant::now();
    let report = build(
        db,
        project,
        &BuildOptions {
            full_refresh: full,
            ..BuildOptions::default()
        },
        |_| {},
    )
    .await
    .expect("build");
    assert!(report.ok(), "{report:?}");
    for r in &report.runs {
        println!(
            "    {:<24} {:?} {:?} {} partition(s) {} rows {} ms",
            r.model,
            r.status,
            r.mode,
            r.partitions.len(),
            r.rows_written,
            r.elapsed_ms
        );
    }
    t.elapsed().as_secs_f64()
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .expect("usage: s02_bench <warehouse-url> [iterations]");
    let iterations: usize = args.next().map_or(200, |n| n.parse().expect("a number"));
    let db = Db::open(&url).await.expect("open the warehouse");
    let project = Arc::new(
        Project::load(std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../plugins/models"
        )))
        .expect("models"),
    );
    let txns: i64 = on_db!(&db, |pool| sqlx::query_scalar(
        "SELECT count(*) FROM dwd_bank_txn"
    )
    .fetch_one(pool)
    .await)
    .expect("dwd_bank_txn");
    println!(
        "warehouse {} — dwd_bank_txn {txns} rows",
        zhiyun_store::redact(&url)
    );

    println!("full build (--full-refresh):");
    let full = timed_build(&db, &project, true).await;
    println!("  {full:.2} s");
    let month = "2026-09";
    let sql = format!(
        "UPDATE dwd_bank_txn SET _batch_id = 'BENCH-CORRECTION' WHERE substr(txn_time, 1, 7) = '{month}'"
    );
    on_db!(&db, |pool| sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
        .execute(pool)
        .await
        .map(|_| ()))
    .expect("correct a month");
    on_db!(&db, |pool| sqlx::query(
        "INSERT INTO zw_clean_run (batch_id, table_name, status, rules_source, rules_hash, started_at, finished_at) \
         SELECT 'BENCH-CORRECTION', table_name, 'done', rules_source, rules_hash, 1, 2 FROM zw_clean_run \
         WHERE table_name = 'bank_txn' AND status = 'done' LIMIT 1 \
         ON CONFLICT (batch_id, table_name) DO UPDATE SET finished_at = zw_clean_run.finished_at + 1"
    )
    .execute(pool)
    .await
    .map(|_| ()))
    .expect("record the correcting run");
    println!("incremental build after {month} of dwd_bank_txn was re-delivered:");
    let inc = build_after_change(&db, &project).await;
    println!(
        "  {inc:.2} s = {:.1} % of the full build",
        inc / full * 100.0
    );

    let reader = ReadOnlyWarehouse::open(&url, None).await.expect("reader");
    let engine = Engine::new(project.clone(), reader, db.clone());
    let tree = tree();
    let mut grant = AppGrant {
        app_id: "fund-position".into(),
        ..AppGrant::default()
    };
    grant.datasets.insert(
        "fund_daily".into(),
        DatasetGrant {
            orgs: None,
            max_sensitivity: Sensitivity::Sensitive,
        },
    );
    let policy = DatasetPolicy {
        name: "fund_daily".into(),
        org_column: Some("org_id".into()),
        owner_column: None,
        columns: Vec::new(),
    };
    let limits = Limits {
        row_cap: 10_000,
        timeout: Duration::from_secs(30),
    };
    let latest = engine
        .query(
            &effective_access(&tree, &user("3300"), &grant, &policy).expect("access"),
            &launch_queries(zhiyun_contract::Date {
                year: 2026,
                month: 10,
                day: 31,
            })[0],
            limits,
        )
        .await
        .expect("latest date");
    let date = match &latest.rows[0][0] {
        Value::Date(d) => *d,
        other => panic!("latest_date is {other:?}"),
    };
    println!("semantic queries of one S02 launch (3 queries) on {date:?}, {iterations} launches:");
    for org in ["3300", "330101"] {
        let access = effective_access(&tree, &user(org), &grant, &policy).expect("access");
        let queries = launch_queries(date);
        let mut launch = Vec::with_capacity(iterations);
        let mut rows = 0;
        for _ in 0..iterations {
            let t = Instant::now();
            for q in &queries {
                rows = engine
                    .query(&access, q, limits)
                    .await
                    .expect("query")
                    .rows
                    .len();
            }
            launch.push(t.elapsed());
        }
        println!(
            "  {org:<7} p50 {:.2} ms  p95 {:.2} ms  p99 {:.2} ms  (last query {rows} rows)",
            pct(launch.clone(), 0.50),
            pct(launch.clone(), 0.95),
            pct(launch, 0.99)
        );
    }
    // The guard's share: rewriting the same statements.
    let access = effective_access(&tree, &user("3300"), &grant, &policy).expect("access");
    let mut views = std::collections::BTreeMap::new();
    views.insert(
        "fund_daily".to_string(),
        engine.view("fund_daily", &access).expect("view"),
    );
    let compiled: Vec<String> = launch_queries(date)
        .iter()
        .map(|q| {
            zhiyun_query::semantic::compile(&project, q, engine.dialect(), 10_000)
                .expect("compile")
                .sql
        })
        .collect();
    let t = Instant::now();
    let n = 2_000;
    for _ in 0..n {
        for sql in &compiled {
            guard(sql, &views, engine.dialect()).expect("guard");
        }
    }
    println!(
        "guard rewrite of the 3 statements: {:.3} ms per launch",
        t.elapsed().as_secs_f64() * 1000.0 / n as f64
    );
    db.close().await;
}

async fn build_after_change(db: &Db, project: &Project) -> f64 {
    timed_build(db, project, false).await
}
