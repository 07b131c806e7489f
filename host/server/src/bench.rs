//! `zhiyun bench`: the sandbox benchmark. Prints, in one run, launch latency
//! of a trivial scenario, launches per second on every core, an app making
//! 10 host data calls, a compute-heavy app against the same computation in
//! native Rust, and artifact-cache load against compilation.
//!
//! Build the apps first (`./dev apps`) and run this from a release build:
//! `cargo run --release -p zhiyun-server -- bench`.
//!
//! `zhiyun bench --authz` skips the sandbox and measures the permission
//! check instead (see [`authz`]).

use anyhow::Context;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use zhiyun_contract::{AppKind, DataProvider, Invocation, SemanticQuery, Value};
use zhiyun_data::FixtureProvider;
use zhiyun_runtime::{Limits, Runtime, RuntimeConfig, Services};

mod authz;

#[derive(clap::Args)]
pub struct BenchArgs {
    /// Directory with the built test apps (trivial.wasm, host_calls.wasm, compute_heavy.wasm).
    #[arg(long, default_value = "target/wasm32-wasip2/app")]
    apps: PathBuf,
    /// Seconds per throughput measurement.
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
    /// Rows of the compute-heavy fixture.
    #[arg(long, default_value_t = 100_000)]
    rows: usize,
    /// Measure the permission check (effective access + row-filter SQL for
    /// a launch) over 10,000 users, 100 roles and 2,000 orgs in memory,
    /// instead of the sandbox. Needs no built apps.
    #[arg(long)]
    authz: bool,
    /// Timed calls per permission-check measurement (with --authz).
    #[arg(long, default_value_t = 200_000)]
    calls: usize,
}

fn app(dir: &Path, name: &str) -> anyhow::Result<Vec<u8>> {
    let path = dir.join(format!("{name}.wasm"));
    std::fs::read(&path).with_context(|| {
        format!(
            "{} is missing: build the apps first (./dev apps)",
            path.display()
        )
    })
}

fn invocation() -> Invocation {
    Invocation {
        user_id: "bench".into(),
        user_name: "bench".into(),
        org_id: "3300".into(),
        org_name: "示范市供电公司".into(),
        locale: "zh-CN".into(),
        now: 0,
        app_id: "bench".into(),
        app_version: "0.0.0".into(),
        request_id: "bench".into(),
    }
}

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    if args.authz {
        return authz::run(args.calls);
    }
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cores)
        .enable_all()
        .build()?;
    let trivial = app(&args.apps, "trivial")?;
    let host_calls = app(&args.apps, "host_calls")?;
    let compute = app(&args.apps, "compute_heavy")?;
    let cache_dir = tempfile::tempdir()?;
    let runtime = Arc::new(
        Runtime::new(RuntimeConfig {
            cache_dir: Some(cache_dir.path().to_path_buf()),
            ..RuntimeConfig::default()
        })
        .map_err(|e| anyhow::anyhow!("{e:#}"))?,
    );
    println!(
        "zhiyun bench — {cores} core(s), pooling allocator: {}",
        if runtime.pooling() {
            "on"
        } else {
            "off (on-demand)"
        }
    );

    // 1. Artifact cache: compile vs load a cached artifact, same component.
    let t = Instant::now();
    let compiled = runtime.load(AppKind::Scenario, &compute)?;
    let compile_time = t.elapsed();
    assert!(!compiled.from_cache());
    let runtime2 = Runtime::new(RuntimeConfig {
        cache_dir: Some(cache_dir.path().to_path_buf()),
        ..RuntimeConfig::default()
    })
    .map_err(|e| anyhow::anyhow!("{e:#}"))?;
    let mut cached_times = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let cached = runtime2.load(AppKind::Scenario, &compute)?;
        cached_times.push(t.elapsed());
        assert!(cached.from_cache());
    }
    cached_times.sort();
    let cached_time = cached_times[cached_times.len() / 2];
    println!(
        "artifact cache: compile {:.1} ms, load cached {:.2} ms → {:.0}× faster",
        ms(compile_time),
        ms(cached_time),
        compile_time.as_secs_f64() / cached_time.as_secs_f64()
    );

    let data: Arc<dyn DataProvider> = Arc::new(
        FixtureProvider::demo()
            .with_bench_journal(args.rows)
            .with_row_cap(args.rows.max(10_000)),
    );
    let services = Services {
        data: data.clone(),
        invocation: invocation(),
    };
    let limits = Limits {
        timeout: Duration::from_secs(30),
        memory_bytes: 256 << 20,
        output_bytes: 16 << 20,
        ..Limits::default()
    };

    // 2. Trivial launch latency, sequential.
    let trivial = runtime.load(AppKind::Scenario, &trivial)?;
    let lat = tokio.block_on(latencies(
        &runtime,
        &trivial,
        &services,
        limits,
        20_000,
        Duration::from_secs_f64(args.seconds),
    ))?;
    let trivial_p50 = pct(&lat, 50.0);
    println!(
        "trivial launch (instantiate + render), 1 task: p50 {:.1} µs, p99 {:.1} µs over {} launches",
        us(pct(&lat, 50.0)),
        us(pct(&lat, 99.0)),
        lat.len()
    );

    // 3. Throughput on every core.
    let per_sec = tokio.block_on(throughput(
        &runtime,
        &trivial,
        &services,
        limits,
        cores * 2,
        Duration::from_secs_f64(args.seconds),
    ))?;
    println!(
        "trivial launches per second, {} concurrent tasks on {cores} core(s): {per_sec:.0}/s",
        cores * 2
    );

    // 4. Ten host data calls.
    let host_calls = runtime.load(AppKind::Scenario, &host_calls)?;
    let lat = tokio.block_on(latencies(
        &runtime,
        &host_calls,
        &services,
        limits,
        5_000,
        Duration::from_secs_f64(args.seconds),
    ))?;
    println!(
        "app making 10 data.query calls: p50 {:.1} µs, p99 {:.1} µs ({:.1} µs per call above a trivial launch at p50)",
        us(pct(&lat, 50.0)),
        us(pct(&lat, 99.0)),
        0.0f64.max((us(pct(&lat, 50.0)) - us(trivial_p50)) / 10.0)
    );

    // 5. Compute-heavy: aggregate N fixture rows in Wasm vs native.
    let compute = runtime.load(AppKind::Scenario, &compute)?;
    let wasm_times = tokio.block_on(latencies(
        &runtime,
        &compute,
        &services,
        limits,
        20,
        Duration::from_secs_f64(args.seconds * 2.0),
    ))?;
    let native_times = tokio.block_on(async {
        let mut times = Vec::new();
        for _ in 0..wasm_times.len() {
            let t = Instant::now();
            let table = data
                .query(&services.invocation, raw_journal_query())
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let sums = aggregate_native(&table.rows);
            std::hint::black_box(&sums);
            // Freeing the rows is part of the work, as it is in the sandboxed
            // run (the host frees them after handing them to the app).
            drop(table);
            times.push(t.elapsed());
            assert!(!sums.is_empty(), "the native twin found no rows");
        }
        anyhow::Ok(times)
    })?;
    let (w, n) = (pct(&wasm_times, 50.0), pct(&native_times, 50.0));
    println!(
        "compute-heavy ({} rows fetched through the data import and summed by org × account): Wasm p50 {:.2} ms, native p50 {:.2} ms → ratio {:.2}",
        args.rows,
        ms(w),
        ms(n),
        w.as_secs_f64() / n.as_secs_f64()
    );
    Ok(())
}

/// The query the compute-heavy app makes: every row, no aggregation.
pub fn raw_journal_query() -> SemanticQuery {
    SemanticQuery {
        dataset: "bench_journal".into(),
        dimensions: vec!["org_id".into(), "acct_code".into(), "amount".into()],
        limit: Some(1_000_000),
        ..SemanticQuery::default()
    }
}

/// The native twin of the compute-heavy app: the same
/// [`zhiyun_sdk::bench::aggregate`] over `(org, account, amount)` tuples
/// borrowed from the provider's rows, as the app borrows them from its
/// columns.
pub fn aggregate_native(rows: &[Vec<Value>]) -> Vec<(String, String, i64)> {
    zhiyun_sdk::bench::aggregate(rows.iter().filter_map(|row| match row.as_slice() {
        [Value::Text(org), Value::Text(acct), Value::Money(amount)] => {
            Some((org.as_str(), acct.as_str(), *amount))
        }
        _ => None,
    }))
}

async fn latencies(
    runtime: &Arc<Runtime>,
    app: &zhiyun_runtime::LoadedApp,
    services: &Services,
    limits: Limits,
    max: usize,
    budget: Duration,
) -> anyhow::Result<Vec<Duration>> {
    // Warm up: the first instantiation touches fresh pool slots.
    for _ in 0..10.min(max) {
        runtime
            .run(app, vec![], limits, services.clone())
            .await
            .map_err(|(e, _)| anyhow::anyhow!("{e}"))?;
    }
    let started = Instant::now();
    let mut times = Vec::with_capacity(max);
    while times.len() < max && started.elapsed() < budget {
        let t = Instant::now();
        runtime
            .run(app, vec![], limits, services.clone())
            .await
            .map_err(|(e, _)| anyhow::anyhow!("{e}"))?;
        times.push(t.elapsed());
    }
    times.sort();
    Ok(times)
}

async fn throughput(
    runtime: &Arc<Runtime>,
    app: &zhiyun_runtime::LoadedApp,
    services: &Services,
    limits: Limits,
    tasks: usize,
    budget: Duration,
) -> anyhow::Result<f64> {
    let started = Instant::now();
    let mut handles = Vec::new();
    for _ in 0..tasks {
        let (runtime, app, services) = (runtime.clone(), app.clone(), services.clone());
        handles.push(tokio::spawn(async move {
            let mut n = 0u64;
            while started.elapsed() < budget {
                if runtime
                    .run(&app, vec![], limits, services.clone())
                    .await
                    .is_ok()
                {
                    n += 1;
                }
            }
            n
        }));
    }
    let mut total = 0;
    for h in handles {
        total += h.await?;
    }
    Ok(total as f64 / started.elapsed().as_secs_f64())
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}
