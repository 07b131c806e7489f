//! The data commands: `zhiyun gen` (a generated backflow batch), `zhiyun
//! ingest` (load, reconcile and clean a batch), `zhiyun reconcile` (回流验证
//! on demand). They work on the warehouse database directly, like `serve`
//! does, so they need no running server.

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;
use zhiyun_warehouse::Db;
use zhiyun_warehouse::ods::{LoadEvent, LoadOptions, LoadReport, TableStatus};
use zhiyun_warehouse::reconcile::{ReconcileOptions, ReconcileStatus, TableReconciliation};

/// Where the warehouse is.
#[derive(Args, Debug, Clone)]
pub struct WarehouseArgs {
    /// The warehouse database: sqlite:<path> or postgres://user@host:port/db.
    /// Default: <data-dir>/warehouse.db.
    #[arg(long, env = "ZHIYUN_WAREHOUSE_URL")]
    pub warehouse: Option<String>,
    /// The data directory (the same as `serve`'s).
    #[arg(long, env = "ZHIYUN_DATA_DIR", default_value = ".zhiyun/data")]
    pub data_dir: PathBuf,
}

impl WarehouseArgs {
    pub async fn open(&self) -> anyhow::Result<Db> {
        Ok(match &self.warehouse {
            Some(url) => Db::open(url).await?,
            None => Db::open_in(&self.data_dir).await?,
        })
    }
}

#[derive(Args, Debug)]
pub struct IngestArgs {
    /// The batch directory (with manifest.json).
    pub batch: PathBuf,
    #[command(flatten)]
    pub warehouse: WarehouseArgs,
    /// Tables loaded at once.
    #[arg(long, default_value_t = LoadOptions::default().parallel)]
    pub parallel: usize,
    /// Rows per committed chunk (the most a crash can undo).
    #[arg(long, default_value_t = LoadOptions::default().chunk_rows)]
    pub chunk_rows: usize,
    /// Load only this table (repeatable).
    #[arg(long = "table")]
    pub tables: Vec<String>,
    /// Skip the reconciliation after loading.
    #[arg(long)]
    pub no_reconcile: bool,
    /// The cleaning rules (one <table>.toml per source table; tables without
    /// a file get default rules from their declared types).
    #[arg(long, default_value = DEFAULT_RULES_DIR)]
    pub rules: PathBuf,
    /// Load into ODS only; do not clean into DWD.
    #[arg(long)]
    pub no_clean: bool,
    /// Print the full report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct ReconcileArgs {
    /// The batch id (as in its manifest).
    pub batch_id: String,
    #[command(flatten)]
    pub warehouse: WarehouseArgs,
    /// Only this table (repeatable).
    #[arg(long = "table")]
    pub tables: Vec<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct GenArgs {
    /// The batch directory to write (created; must be empty or a previous batch).
    #[arg(long)]
    pub out: PathBuf,
    /// tiny (≈3,000 journal lines, seconds), demo (300,000), or a number of
    /// journal lines: 10m, 300k, 2000000.
    #[arg(long, default_value = "demo")]
    pub scale: zhiyun_gen::Scale,
    /// The same seed and options give byte-identical files.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// File format of the large tables: csv, csv.gz or jsonl.
    #[arg(long, default_value = "csv.gz", value_parser = parse_format)]
    pub format: zhiyun_batch::FileFormat,
    /// 1: the first batch (725 tables); 2: the second (780 tables, three drifted).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=2))]
    pub batch: u8,
    /// Share of opportunities where an alert-rule anomaly is injected.
    #[arg(long, default_value_t = 0.01)]
    pub anomaly_rate: f64,
    /// Share of rows made dirty (padding, full-width, date formats, old codes, duplicates).
    #[arg(long, default_value_t = 0.005)]
    pub dirty_rate: f64,
}

fn parse_format(s: &str) -> Result<zhiyun_batch::FileFormat, String> {
    zhiyun_batch::FileFormat::parse(s).ok_or_else(|| format!("{s:?}: use csv, csv.gz or jsonl"))
}

pub fn generate(args: GenArgs) -> anyhow::Result<()> {
    let options = zhiyun_gen::GenOptions {
        out: args.out.clone(),
        scale: args.scale,
        seed: args.seed,
        format: args.format,
        batch: if args.batch == 2 {
            zhiyun_gen::BatchKind::Second
        } else {
            zhiyun_gen::BatchKind::First
        },
        anomaly_rate: args.anomaly_rate,
        dirty_rate: args.dirty_rate,
    };
    let tables = ProgressBar::new(0);
    tables.set_style(
        ProgressStyle::with_template("{spinner} generating [{bar:30}] {pos}/{len} tables · {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let mut rows_total = 0u64;
    let summary = zhiyun_gen::generate(&options, &mut |p| match p {
        zhiyun_gen::Progress::TableStarted { name, total, .. } => {
            tables.set_length(total as u64);
            tables.set_message(format!("{name} · {rows_total} rows"));
        }
        zhiyun_gen::Progress::Rows { name, rows } => {
            tables.set_message(format!("{name} · {} rows", rows_total + rows));
        }
        zhiyun_gen::Progress::TableDone { rows, .. } => {
            rows_total += rows;
            tables.inc(1);
        }
    })
    .with_context(|| format!("generating a batch into {}", args.out.display()))?;
    tables.finish_and_clear();
    let seconds = summary.elapsed.as_secs_f64();
    println!(
        "batch {} written to {}: {} tables, {} rows, {} anomalies in ground_truth.jsonl; {:.1} s ({:.0} rows/s)",
        summary.manifest.batch_id,
        args.out.display(),
        summary.tables,
        summary.rows,
        summary.anomalies,
        seconds,
        summary.rows as f64 / seconds.max(0.001)
    );
    Ok(())
}

#[derive(Args, Debug)]
pub struct PullArgs {
    /// The live source's description (TOML: name, url, [[tables]] with
    /// name, watermark, key; see docs/data.md).
    pub source: PathBuf,
    #[command(flatten)]
    pub warehouse: WarehouseArgs,
    /// Rows per read and per committed chunk.
    #[arg(long, default_value_t = 10_000)]
    pub chunk_rows: usize,
    #[arg(long)]
    pub json: bool,
}

/// Pulls what is new in a live source database since the last pull.
pub async fn pull(args: PullArgs) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(&args.source)
        .with_context(|| format!("cannot read {}", args.source.display()))?;
    let source = zhiyun_warehouse::live::LiveSource::from_toml(&text)
        .with_context(|| format!("{}", args.source.display()))?;
    let db = args.warehouse.open().await?;
    let bar = spinner(format!("pulling from {}", source.name));
    let rows = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let (watch_bar, watch_rows) = (bar.clone(), rows.clone());
    let options = zhiyun_warehouse::live::PullOptions {
        chunk_rows: args.chunk_rows.max(1),
        ..Default::default()
    };
    let report = zhiyun_warehouse::live::pull(
        &db,
        &source,
        &options,
        Arc::new(move |event| {
            if let zhiyun_warehouse::live::LiveEvent::Rows { target, rows } = event {
                let total = watch_rows.fetch_add(rows, Ordering::Relaxed) + rows;
                watch_bar.set_message(format!("pulling {target}: {total} rows"));
            }
        }),
    )
    .await;
    bar.finish_and_clear();
    let report = report?;
    if report.rows_loaded() > 0 {
        zhiyun_warehouse::catalog::refresh(&db)
            .await
            .context("refreshing the catalog after the pull")?;
    }
    db.close().await;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        for t in &report.tables {
            println!(
                "{} → ods_{}: {:?}, {} rows received, {} loaded, {} quarantined{}",
                t.source_table,
                t.target,
                t.status,
                t.rows_received,
                t.rows_loaded,
                t.rows_quarantined,
                t.error
                    .as_deref()
                    .map(|e| format!(" — {e}"))
                    .unwrap_or_default()
            );
            for p in &t.problems {
                println!("  {p}");
            }
        }
    }
    Ok(if report.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_PARTIAL)
    })
}

/// Exit codes of `ingest`: 0 all tables loaded (and cleaned); 2 some tables
/// failed or were rejected, in the load or the clean (the others are done;
/// the report says which and why).
pub const EXIT_PARTIAL: u8 = 2;

pub async fn ingest(args: IngestArgs) -> anyhow::Result<ExitCode> {
    let db = args.warehouse.open().await?;
    let options = LoadOptions {
        parallel: args.parallel.max(1),
        chunk_rows: args.chunk_rows.max(1),
        only: (!args.tables.is_empty()).then(|| args.tables.clone()),
        ..LoadOptions::default()
    };
    let steps = Steps {
        reconcile: !args.no_reconcile,
        clean: (!args.no_clean)
            .then(|| rules_dir(&args.rules))
            .transpose()?,
        json: args.json,
    };
    let result = load_reconcile_catalog_with(&db, &args.batch, &options, steps).await;
    db.close().await;
    let (report, cleaned_ok) = result?;
    Ok(if report.is_clean() && cleaned_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_PARTIAL)
    })
}

/// Where the cleaning rules are unless `--rules` says otherwise: the
/// checkout's rule files (the demo and the README run from the repo root).
pub const DEFAULT_RULES_DIR: &str = "plugins/cleaning";

/// The rules directory to clean with: `Some(dir)` if it exists; `None`
/// (default rules for every table) if the default is missing; an error if a
/// directory the user named is missing.
pub fn rules_dir(dir: &std::path::Path) -> anyhow::Result<Option<PathBuf>> {
    if dir.is_dir() {
        Ok(Some(dir.to_owned()))
    } else if dir == std::path::Path::new(DEFAULT_RULES_DIR) {
        eprintln!(
            "note: no {DEFAULT_RULES_DIR} here; every table is cleaned with the default rules of its declared types"
        );
        Ok(None)
    } else {
        anyhow::bail!(
            "the cleaning rules directory {} does not exist",
            dir.display()
        )
    }
}

/// What `ingest` does after loading.
#[derive(Clone)]
struct Steps {
    reconcile: bool,
    /// Clean into DWD with these rules (`Some(None)`: default rules).
    clean: Option<Option<PathBuf>>,
    /// Print the report as JSON instead of text.
    json: bool,
}

/// Loads a batch, cleans it with `rules` (default rules when `None`),
/// reconciles what loaded, refreshes the catalog, prints the report (as
/// text, or JSON with `json`).
pub async fn load_reconcile_catalog(
    db: &Db,
    batch: &std::path::Path,
    options: &LoadOptions,
    rules: Option<PathBuf>,
    json: bool,
) -> anyhow::Result<LoadReport> {
    let steps = Steps {
        reconcile: true,
        clean: Some(rules),
        json,
    };
    Ok(load_reconcile_catalog_with(db, batch, options, steps)
        .await?
        .0)
}

/// The load report, and whether cleaning (if it ran) failed no table.
async fn load_reconcile_catalog_with(
    db: &Db,
    batch: &std::path::Path,
    options: &LoadOptions,
    steps: Steps,
) -> anyhow::Result<(LoadReport, bool)> {
    let progress = Arc::new(LoadBar {
        bar: load_progress(),
        tables: AtomicUsize::new(0),
        done: AtomicUsize::new(0),
    });
    let bar = progress.bar.clone();
    let started = Instant::now();
    let report = zhiyun_warehouse::load_batch(
        db,
        batch,
        options,
        Arc::new(move |event| progress.watch(event)),
    )
    .await
    .with_context(|| format!("cannot load the batch in {}", batch.display()))?;
    bar.finish_and_clear();
    let load_seconds = started.elapsed().as_secs_f64();

    let cleaned = match &steps.clean {
        Some(rules) => {
            Some(clean_with_progress(db, &report.batch_id, rules.as_deref(), false).await?)
        }
        None => None,
    };

    let reconciliations = if steps.reconcile {
        let only: Vec<String> = report
            .tables
            .iter()
            .filter(|t| matches!(t.status, TableStatus::Loaded | TableStatus::AlreadyLoaded))
            .map(|t| t.table.clone())
            .collect();
        let bar = spinner(format!("reconciling {} tables", only.len()));
        let r = zhiyun_warehouse::reconcile::reconcile_batch(
            db,
            &report.batch_id,
            Some(&only),
            &ReconcileOptions::default(),
        )
        .await?;
        bar.finish_and_clear();
        r
    } else {
        Vec::new()
    };
    let bar = spinner("refreshing the data catalog".into());
    let catalog = zhiyun_warehouse::catalog::refresh(db).await;
    bar.finish_and_clear();
    let catalog = catalog.context("refreshing the catalog after the load")?;

    if steps.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "catalog": catalog,
                "load": report,
                "clean": cleaned,
                "reconciliation": reconciliations,
            }))?
        );
    } else {
        print_load(&report, load_seconds);
        if let Some(c) = &cleaned {
            print_clean(c);
        }
        print_reconciliation(&reconciliations);
        println!(
            "catalog (数据目录): {} tables, {} columns suggested sensitive, {} names breaking the naming rules; {:.1} s in all",
            catalog.tables,
            catalog.sensitive_columns,
            catalog.naming_violations,
            started.elapsed().as_secs_f64()
        );
    }
    let cleaned_ok = cleaned.as_ref().is_none_or(|c| c.is_clean());
    Ok((report, cleaned_ok))
}

pub async fn reconcile(args: ReconcileArgs) -> anyhow::Result<ExitCode> {
    let db = args.warehouse.open().await?;
    let only = (!args.tables.is_empty()).then_some(args.tables.as_slice());
    let bar = spinner(format!("reconciling batch {}", args.batch_id));
    let results = zhiyun_warehouse::reconcile::reconcile_batch(
        &db,
        &args.batch_id,
        only,
        &ReconcileOptions::default(),
    )
    .await;
    bar.finish_and_clear();
    db.close().await;
    let results = results?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&results)?);
    } else {
        print_reconciliation(&results);
        for r in results
            .iter()
            .filter(|r| r.status != ReconcileStatus::Match)
        {
            print_table_reconciliation(r);
        }
    }
    let all_match = results.iter().all(|r| r.status == ReconcileStatus::Match);
    Ok(if all_match {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_PARTIAL)
    })
}

#[derive(Args, Debug)]
pub struct CleanArgs {
    /// The batch id (as in its manifest); it must be loaded.
    pub batch_id: String,
    #[command(flatten)]
    pub warehouse: WarehouseArgs,
    #[arg(long, default_value = DEFAULT_RULES_DIR)]
    pub rules: PathBuf,
    /// Clean again even the tables cleaned before under the same rules.
    #[arg(long)]
    pub force: bool,
    #[arg(long)]
    pub json: bool,
}

/// Cleans a loaded batch into DWD (again).
pub async fn clean(args: CleanArgs) -> anyhow::Result<ExitCode> {
    let rules = rules_dir(&args.rules)?;
    let db = args.warehouse.open().await?;
    let result = clean_with_progress(&db, &args.batch_id, rules.as_deref(), args.force).await;
    if result.is_ok() {
        zhiyun_warehouse::catalog::refresh(&db)
            .await
            .context("refreshing the catalog after cleaning")?;
    }
    db.close().await;
    let report = result?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_clean(&report);
    }
    Ok(if report.is_clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_PARTIAL)
    })
}

async fn clean_with_progress(
    db: &Db,
    batch_id: &str,
    rules: Option<&std::path::Path>,
    force: bool,
) -> anyhow::Result<zhiyun_warehouse::clean::CleanReport> {
    use zhiyun_warehouse::clean::{CleanEvent, CleanOptions};
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{spinner} cleaning [{bar:30}] {pos}/{len} tables · {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let watch_bar = bar.clone();
    let options = CleanOptions {
        rules_dir: rules.map(std::path::Path::to_owned),
        force,
        ..CleanOptions::default()
    };
    let report = zhiyun_warehouse::clean::clean_batch_with(
        db,
        batch_id,
        &options,
        Arc::new(move |event| match event {
            CleanEvent::Started { tables, .. } => watch_bar.set_length(tables as u64),
            CleanEvent::TableStarted { table, .. } => watch_bar.set_message(table),
            CleanEvent::TableDone(_) => watch_bar.inc(1),
        }),
    )
    .await;
    bar.finish_and_clear();
    Ok(report?)
}

fn print_clean(report: &zhiyun_warehouse::clean::CleanReport) {
    use zhiyun_warehouse::clean::CleanStatus;
    let mut by_rule: std::collections::BTreeMap<&str, u64> = std::collections::BTreeMap::new();
    for t in &report.tables {
        for (rule, n) in &t.by_rule {
            *by_rule.entry(rule).or_default() += n;
        }
    }
    println!(
        "cleaning (ODS → DWD): {} rows in, {} out, {} quarantined ({}); {} tables cleaned, {} already clean, {} failed",
        report.rows_in(),
        report.rows_out(),
        report.rows_quarantined(),
        by_rule
            .iter()
            .map(|(r, n)| format!("{r} {n}"))
            .collect::<Vec<_>>()
            .join(", "),
        report.count(CleanStatus::Cleaned),
        report.count(CleanStatus::AlreadyClean),
        report.count(CleanStatus::Failed)
    );
    for t in report
        .tables
        .iter()
        .filter(|t| t.status == CleanStatus::Failed)
    {
        println!("  FAILED {}: {}", t.table, t.error.as_deref().unwrap_or(""));
    }
}

fn load_progress() -> ProgressBar {
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} loading [{bar:30}] {human_pos}/{human_len} rows · {per_sec} · {msg} · eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar
}

fn spinner(message: String) -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    bar.set_message(message);
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}

/// The progress bar of a load and the table count it shows.
struct LoadBar {
    bar: ProgressBar,
    tables: AtomicUsize,
    done: AtomicUsize,
}

impl LoadBar {
    fn watch(&self, event: LoadEvent) {
        match event {
            LoadEvent::Started { tables, rows } => {
                self.bar.set_length(rows);
                self.tables.store(tables, Ordering::Relaxed);
                self.bar.set_message(format!("0/{tables} tables"));
            }
            LoadEvent::TableStarted { .. } => {}
            LoadEvent::Rows { rows, .. } => self.bar.inc(rows),
            LoadEvent::TableDone(outcome) => {
                let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
                let tables = self.tables.load(Ordering::Relaxed);
                self.bar.set_message(format!("{done}/{tables} tables"));
                if !matches!(
                    outcome.status,
                    TableStatus::Loaded | TableStatus::AlreadyLoaded
                ) {
                    self.bar.println(format!(
                        "  {} {}: {}",
                        status_word(outcome.status),
                        outcome.table,
                        outcome.error.as_deref().unwrap_or("")
                    ));
                }
            }
        }
    }
}

fn status_word(s: TableStatus) -> &'static str {
    match s {
        TableStatus::Loaded => "loaded",
        TableStatus::AlreadyLoaded => "already loaded",
        TableStatus::Failed => "FAILED",
        TableStatus::Rejected => "REJECTED",
    }
}

fn print_load(report: &LoadReport, seconds: f64) {
    let received: u64 = report.tables.iter().map(|t| t.rows_received).sum();
    println!(
        "batch {}: {} tables, {} rows received in {:.1} s ({:.0} rows/s)",
        report.batch_id,
        report.tables.len(),
        received,
        seconds,
        received as f64 / seconds.max(0.001)
    );
    println!(
        "  loaded {} · already loaded {} · failed {} · rejected {}",
        report.count(TableStatus::Loaded),
        report.count(TableStatus::AlreadyLoaded),
        report.count(TableStatus::Failed),
        report.count(TableStatus::Rejected)
    );
    println!(
        "  rows loaded {} · quarantined {} (unreadable lines; see zw_quarantine)",
        report.rows_loaded(),
        report.rows_quarantined()
    );
    let drift: Vec<String> = report
        .tables
        .iter()
        .flat_map(|t| {
            t.drift
                .iter()
                .map(move |d| format!("{}.{}: {} ({})", t.table, d.column, d.kind, d.detail))
        })
        .collect();
    if !drift.is_empty() {
        println!("schema drift ({}):", drift.len());
        for d in drift.iter().take(20) {
            println!("  {d}");
        }
        if drift.len() > 20 {
            println!("  … and {} more (--json lists all)", drift.len() - 20);
        }
    }
    let problems: Vec<String> = report
        .tables
        .iter()
        .flat_map(|t| {
            t.error
                .iter()
                .map(move |e| format!("{} {}: {e}", status_word(t.status), t.table))
                .chain(t.problems.iter().cloned())
        })
        .collect();
    if !problems.is_empty() {
        println!("problems ({}):", problems.len());
        for p in problems.iter().take(30) {
            println!("  {p}");
        }
        if problems.len() > 30 {
            println!("  … and {} more (--json lists all)", problems.len() - 30);
        }
    }
}

fn print_reconciliation(results: &[TableReconciliation]) {
    if results.is_empty() {
        return;
    }
    let matched = results
        .iter()
        .filter(|r| r.status == ReconcileStatus::Match)
        .count();
    println!(
        "reconciliation (回流验证): {matched} of {} tables match their manifest",
        results.len()
    );
    for r in results
        .iter()
        .filter(|r| r.status != ReconcileStatus::Match)
        .take(20)
    {
        println!(
            "  {}: {} — {}",
            r.table,
            r.status.as_str(),
            r.findings.join("; ")
        );
    }
}

fn print_table_reconciliation(r: &TableReconciliation) {
    for (what, rows) in [
        ("missing", &r.missing),
        ("extra", &r.extra),
        ("changed", &r.changed),
    ] {
        for d in rows.iter().take(10) {
            let which = if d.key.is_empty() {
                format!("line {} (unreadable, so no key)", d.line)
            } else {
                format!("key {:?} (line {})", d.key, d.line)
            };
            let note = d
                .note
                .as_deref()
                .map(|n| format!(": {n}"))
                .unwrap_or_default();
            println!("    {what} {which}{note}");
        }
    }
}
