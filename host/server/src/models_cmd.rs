//! `zhiyun models …`: build the DWS/ADS models, list them with their state,
//! show the build history and a column's lineage.

use crate::data_cmd::WarehouseArgs;
use anyhow::Context;
use clap::{Args, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use zhiyun_models::build::{self, BuildEvent, BuildOptions, RunStatus};
use zhiyun_models::{Mode, Project};

/// Where the models live in a checkout (and in the demo).
pub const DEFAULT_MODELS_DIR: &str = "plugins/models";

#[derive(Subcommand, Debug)]
pub enum ModelsCommand {
    /// Build the models (DWS → ADS) in dependency order: incremental where
    /// only some periods changed, full where needed; a failed model marks
    /// everything downstream stale. Exit code 2 when a model failed.
    Build(BuildArgs),
    /// List the models with their layer, materialisation and state.
    List(ListArgs),
    /// The last builds, newest first, with what each model did.
    History(ListArgs),
    /// A model column's lineage (血缘): the columns it is computed from,
    /// model by model, down to the DWD and ODS columns and their batches,
    /// flagged where a source's reconciliation did not match.
    Lineage(LineageArgs),
}

#[derive(Args, Debug)]
pub struct LineageArgs {
    /// `<model>.<column>`, e.g. ads_fund_daily.closing.
    pub column: String,
    #[command(flatten)]
    pub warehouse: WarehouseArgs,
    #[arg(long, default_value = DEFAULT_MODELS_DIR)]
    pub models: PathBuf,
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct BuildArgs {
    #[command(flatten)]
    pub warehouse: WarehouseArgs,
    /// The model project directory.
    #[arg(long, default_value = DEFAULT_MODELS_DIR)]
    pub models: PathBuf,
    /// Build only these models: `name`, `+name` (with what it reads),
    /// `name+` (with what reads it). Repeatable.
    #[arg(long)]
    pub select: Vec<String>,
    /// Rebuild the selected models in full.
    #[arg(long)]
    pub full_refresh: bool,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct ListArgs {
    #[command(flatten)]
    pub warehouse: WarehouseArgs,
    #[arg(long, default_value = DEFAULT_MODELS_DIR)]
    pub models: PathBuf,
    #[arg(long)]
    pub json: bool,
}

pub fn load_project(dir: &Path) -> anyhow::Result<Project> {
    Project::load(dir).with_context(|| format!("reading the models in {}", dir.display()))
}

pub async fn run(command: ModelsCommand) -> anyhow::Result<ExitCode> {
    match command {
        ModelsCommand::Build(args) => build_cmd(args).await,
        ModelsCommand::List(args) => list_cmd(args).await,
        ModelsCommand::History(args) => history_cmd(args).await,
        ModelsCommand::Lineage(args) => lineage_cmd(args).await,
    }
}

async fn build_cmd(args: BuildArgs) -> anyhow::Result<ExitCode> {
    let project = load_project(&args.models)?;
    let db = args.warehouse.open().await?;
    let quiet = args.json;
    let options = BuildOptions {
        select: args.select.clone(),
        full_refresh: args.full_refresh,
    };
    let report = build::build(&db, &project, &options, |event| {
        if quiet {
            return;
        }
        match event {
            BuildEvent::Started {
                model,
                index,
                total,
            } => eprintln!("[{}/{total}] {model} …", index + 1),
            BuildEvent::Finished(run) => eprintln!("  {}", describe_run(run)),
        }
    })
    .await;
    db.close().await;
    let report = report?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        let failed = report.failed().count();
        println!(
            "build {}: {} models, {} built, {} unchanged, {} failed or stale; {:.1} s",
            report.build_id,
            report.runs.len(),
            report
                .runs
                .iter()
                .filter(|r| r.status == RunStatus::Built)
                .count(),
            report
                .runs
                .iter()
                .filter(|r| r.status == RunStatus::Unchanged)
                .count(),
            failed,
            report.elapsed_ms as f64 / 1000.0
        );
    }
    Ok(if report.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

/// One line per model run, for people.
pub fn describe_run(run: &zhiyun_models::ModelRun) -> String {
    let what = match (run.status, run.mode) {
        (RunStatus::Built, Mode::Full) => format!("built in full, {} rows", run.rows_written),
        (RunStatus::Built, _) => format!(
            "built incrementally: {} partition(s) {}, {} rows",
            run.partitions.len(),
            summarize(&run.partitions),
            run.rows_written
        ),
        (RunStatus::Unchanged, _) => "unchanged (no input changed)".to_string(),
        (RunStatus::Failed, _) => "FAILED".to_string(),
        (RunStatus::Stale, _) => "STALE (not built)".to_string(),
    };
    match &run.detail {
        Some(d) => format!("{}: {what} ({} ms) — {d}", run.model, run.elapsed_ms),
        None => format!("{}: {what} ({} ms)", run.model, run.elapsed_ms),
    }
}

fn summarize(parts: &[String]) -> String {
    match parts {
        [] => String::new(),
        [one] => one.clone(),
        [first, .., last] => format!("{first} … {last}"),
    }
}

async fn list_cmd(args: ListArgs) -> anyhow::Result<ExitCode> {
    let project = load_project(&args.models)?;
    let db = args.warehouse.open().await?;
    let states = build::states(&db).await;
    db.close().await;
    let states = states?;
    if args.json {
        let models: Vec<_> = project
            .in_order()
            .map(|m| {
                serde_json::json!({
                    "model": m,
                    "state": states.iter().find(|s| s.model == m.name),
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&models)?);
        return Ok(ExitCode::SUCCESS);
    }
    for m in project.in_order() {
        let state = states.iter().find(|s| s.model == m.name);
        let status = state.map_or("never built".to_string(), |s| match &s.reason {
            Some(r) => format!("{} ({r})", s.status),
            None => format!(
                "{}, {} rows, build {}",
                s.status, s.rows_total, s.last_build
            ),
        });
        let dataset = m
            .dataset
            .as_ref()
            .map(|d| format!(" → dataset {}", d.name))
            .unwrap_or_default();
        println!(
            "{:<28} {} {:<11} reads {}{dataset}\n{:<28} {status}",
            m.name,
            m.layer.as_str(),
            match m.materialized {
                zhiyun_models::Materialized::Table => "table",
                zhiyun_models::Materialized::Incremental { .. } => "incremental",
            },
            m.inputs().collect::<Vec<_>>().join(", "),
            ""
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn history_cmd(args: ListArgs) -> anyhow::Result<ExitCode> {
    let db = args.warehouse.open().await?;
    let history = build::history(&db, 20).await;
    db.close().await;
    let history = history?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&history)?);
        return Ok(ExitCode::SUCCESS);
    }
    for b in &history {
        println!(
            "build {} ({}{}): {}",
            b.build_id,
            if b.selection.is_empty() {
                "all models"
            } else {
                &b.selection
            },
            if b.full_refresh { ", full refresh" } else { "" },
            b.status
        );
        for run in &b.runs {
            println!("  {}", describe_run(run));
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn lineage_cmd(args: LineageArgs) -> anyhow::Result<ExitCode> {
    let Some((model, column)) = args.column.split_once('.') else {
        anyhow::bail!("give the column as <model>.<column>, e.g. ads_fund_daily.closing");
    };
    let project = load_project(&args.models)?;
    let db = args.warehouse.open().await?;
    let result = async {
        let lineage = zhiyun_models::lineage::project_lineage(&db, &project).await?;
        zhiyun_models::lineage::trace(&db, &project, &lineage, model, column).await
    }
    .await;
    db.close().await;
    let trace = result?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&trace)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("{model}.{column}");
    for e in &trace.edges {
        println!("  {} ← {} ({})", e.to, e.from, e.kind);
    }
    println!("sources (DWD → ODS):");
    for s in &trace.sources {
        let how = match s.direct {
            Some(k) => format!("{k:?}").to_lowercase(),
            None => "indirect".to_string(),
        };
        let ods = trace
            .ods
            .iter()
            .find(|(d, _)| *d == s.column)
            .map(|(_, o)| format!(" ← {o}"))
            .unwrap_or_default();
        println!("  {}{ods} [{how}]", s.column);
    }
    for (table, batches) in &trace.batches {
        println!("  {table}: batches {}", batches.join(", "));
    }
    if trace.flags.is_empty() {
        println!("not flagged: every source batch reconciled");
    } else {
        println!("FLAGGED — a source did not reconcile:");
        for f in &trace.flags {
            println!(
                "  {} / {}: {} — {}",
                f.batch_id, f.table, f.status, f.summary
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
