//! `zhiyun`: the command line of the smart operations center (智运).
//!
//! - `serve`: the HTTP server (API, OpenAPI, health, metrics);
//! - `demo`: the one-command demo (server + sample apps approved);
//! - `app …`: what department developers use to write, test, package,
//!   sign and submit micro-apps;
//! - `admin …`: review and lifecycle commands against a running server;
//! - `bench`: the sandbox benchmark (`bench --authz`: the permission check).

mod admin;
mod audit_cmd;
mod audit_sink;
mod auth;
mod authoring;
mod bench;
mod client;
mod data_cmd;
mod demo;
mod governed;
mod http;
mod listing;
mod metrics;
mod models_cmd;
mod params;
mod serve;
mod service;
mod services;
mod text_view;
mod warehouse;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "zhiyun",
    version,
    about = "zhiyun (智运) smart operations center: micro-app host and tools"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write, build, test and package micro-apps (微应用).
    #[command(subcommand)]
    App(AppCommand),
    /// Run the server: the JSON API under /api/v1, /api/openapi.json,
    /// /healthz, /readyz, /metrics.
    Serve(serve::ServeArgs),
    /// The one-command demo: an embedded store under .zhiyun/demo, the
    /// sample apps signed, submitted, trial-run and approved, then the server.
    Demo(demo::DemoArgs),
    /// Review and manage apps on a running server (for admins and scripts).
    #[command(subcommand)]
    Admin(admin::AdminCommand),
    /// Verify the hash chain of the audit log (审计日志) in the store.
    #[command(subcommand)]
    Audit(audit_cmd::AuditCommand),
    /// Generate a backflow batch (回流批次) like the primary platform sends:
    /// the core finance tables with their consistency rules, the rest of the
    /// 725 (or 780) tables, anomalies with a ground-truth file, dirty data.
    Gen(data_cmd::GenArgs),
    /// Load a backflow batch (回流批次) into the warehouse: ODS load (idempotent,
    /// resumable), schema drift, quarantine, then reconciliation against the
    /// manifest. Exit code 2 when some tables failed (the others load).
    Ingest(data_cmd::IngestArgs),
    /// Clean a loaded batch from ODS into DWD by the rules (again).
    Clean(data_cmd::CleanArgs),
    /// Pull what is new from a live source database (PostgreSQL, MySQL/MariaDB)
    /// into the warehouse, by watermark; resumable, drift recorded.
    Pull(data_cmd::PullArgs),
    /// Reconcile (回流验证) a loaded batch against its manifest again, down to
    /// the missing, extra and changed keys.
    Reconcile(data_cmd::ReconcileArgs),
    /// The models (模型) that build the DWS wide tables and ADS datasets from
    /// DWD: build (full or incremental), list, history.
    #[command(subcommand)]
    Models(models_cmd::ModelsCommand),
    /// Measure the sandbox: launch latency, throughput, host calls, compute ratio, artifact cache
    /// (or, with --authz, the permission check).
    Bench(bench::BenchArgs),
}

#[derive(Subcommand)]
enum AppCommand {
    /// Create a new app project from a template.
    New {
        /// App id and directory name: lowercase letters, digits and '-', starting with a letter.
        name: String,
        /// What kind of app: scenario (典型场景), report (报表), alert-rule (预警规则).
        #[arg(long, default_value = "scenario", value_parser = ["scenario", "report", "alert-rule"])]
        kind: String,
        /// Parent directory to create the project in.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// How the project depends on the SDK: a path to the `sdk/` directory
        /// of a zhiyun checkout. Defaults to the checkout this binary was built from.
        #[arg(long, env = "ZHIYUN_SDK_PATH")]
        sdk_path: Option<PathBuf>,
    },
    /// Build the app in DIR to a WebAssembly component (wasm32-wasip2).
    Build {
        /// The app project (the directory with app.toml and Cargo.toml).
        #[arg(default_value = ".")]
        dir: PathBuf,
    },
    /// Run the built app in the real sandbox against fixture data with
    /// production limits, and print what it returns.
    Test {
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// A parameter, NAME=VALUE (repeatable). Values are typed by the manifest.
        #[arg(short, long = "param", value_name = "NAME=VALUE")]
        params: Vec<String>,
        /// Print the output as JSON (the shape the API returns) instead of text.
        #[arg(long)]
        json: bool,
        /// Build first.
        #[arg(long)]
        build: bool,
    },
    /// Package the built app into one .zyapp file (manifest + component + sha256).
    Pack {
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// Where to write the package (default: DIR/target/zhiyun).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Sign with this department key file (from `zhiyun app keygen`).
        /// The server accepts only signed packages.
        #[arg(long, env = "ZHIYUN_SIGNING_KEY")]
        key: Option<PathBuf>,
    },
    /// Create a department signing key pair: KEY_ID.key (secret, mode 0600)
    /// and KEY_ID.pub (for the administrator to register).
    Keygen {
        /// Key id, e.g. caiwu-2026 (letters, digits, '.', '_', '-').
        #[arg(long)]
        key_id: String,
        /// The department the key signs for (must match app.toml's department).
        #[arg(long)]
        department: String,
        /// Directory to write the two files to.
        #[arg(long, default_value = ".")]
        out: PathBuf,
    },
    /// Send a package to a server for review.
    Submit {
        /// The .zyapp file.
        package: PathBuf,
        #[command(flatten)]
        connection: client::Connection,
    },
    /// Show what a component or package imports and exports, and whether
    /// the contract allows it.
    Inspect {
        /// A .wasm component or a .zyapp package.
        file: PathBuf,
    },
}

/// For commands whose success has degrees (see `data_cmd::EXIT_PARTIAL`).
fn exit_code(result: anyhow::Result<ExitCode>) -> ExitCode {
    result.unwrap_or_else(|e| {
        eprintln!("error: {e:#}");
        ExitCode::FAILURE
    })
}

fn main() -> ExitCode {
    // Logs go to stderr; ZHIYUN_LOG sets the filter (e.g. `debug`,
    // `zhiyun=debug,sqlx=info`), ZHIYUN_LOG_FORMAT=json gives one JSON object
    // per line for log collectors.
    let cli = Cli::parse();
    // The data commands print their own report; their logs are for problems.
    let quiet = matches!(
        cli.command,
        Command::Gen(_)
            | Command::Ingest(_)
            | Command::Reconcile(_)
            | Command::Clean(_)
            | Command::Pull(_)
            | Command::Models(_)
    );
    let filter = tracing_subscriber::EnvFilter::try_from_env("ZHIYUN_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(if quiet {
            "warn"
        } else {
            "info,sqlx=warn,wasmtime=warn,cranelift=warn"
        })
    });
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if std::env::var("ZHIYUN_LOG_FORMAT").is_ok_and(|f| f == "json") {
        logs.json().init();
    } else {
        logs.init();
    }
    let result = match cli.command {
        Command::App(cmd) => match cmd {
            AppCommand::New {
                name,
                kind,
                dir,
                sdk_path,
            } => authoring::new(&name, &kind, &dir, sdk_path.as_deref()),
            AppCommand::Build { dir } => authoring::build(&dir).map(|_| ()),
            AppCommand::Test {
                dir,
                params,
                json,
                build,
            } => authoring::test(&dir, &params, json, build),
            AppCommand::Pack { dir, out, key } => {
                authoring::pack(&dir, out.as_deref(), key.as_deref())
            }
            AppCommand::Keygen {
                key_id,
                department,
                out,
            } => authoring::keygen(&key_id, &department, &out),
            AppCommand::Submit {
                package,
                connection,
            } => admin::block_on(admin::submit(&package, &connection)),
            AppCommand::Inspect { file } => authoring::inspect(&file),
        },
        Command::Serve(args) => args.resolve().and_then(|config| {
            admin::block_on_multi(async move {
                let state = serve::build_state(&config).await?;
                serve::serve(config, state, None).await
            })
        }),
        Command::Demo(args) => admin::block_on_multi(demo::run(args)),
        Command::Admin(cmd) => admin::block_on(admin::run(cmd)),
        Command::Audit(cmd) => admin::block_on(audit_cmd::run(cmd)),
        Command::Bench(args) => bench::run(args),
        Command::Gen(args) => data_cmd::generate(args),
        Command::Ingest(args) => return exit_code(admin::block_on_multi(data_cmd::ingest(args))),
        Command::Clean(args) => return exit_code(admin::block_on_multi(data_cmd::clean(args))),
        Command::Pull(args) => return exit_code(admin::block_on_multi(data_cmd::pull(args))),
        Command::Reconcile(args) => {
            return exit_code(admin::block_on_multi(data_cmd::reconcile(args)));
        }
        Command::Models(command) => {
            return exit_code(admin::block_on_multi(models_cmd::run(command)));
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
