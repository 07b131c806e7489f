//! `zhiyun demo`: the one-command demo. Opens (or creates) an embedded
//! SQLite store under `.zhiyun/demo`, registers the demo department's
//! signing key, packs, signs, submits (as the developer, trial run included)
//! and approves (as the admin) every sample app under `plugins/`, then
//! serves and prints the URL and the demo logins. Running it again finds
//! everything in place and just serves.

use crate::auth::Credential;
use crate::serve::{ServeArgs, build_state, serve};
use crate::service::Decision;
use anyhow::{Context, bail};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use zhiyun_apps::registry::{RegistryError, VersionState};
use zhiyun_apps::signing::{SecretKey, generate_key, parse_secret_key};
use zhiyun_apps::{MANIFEST_FILE, Package, pack_bytes_signed};
use zhiyun_authz::identity::DEMO_USERS;

#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Address to listen on.
    #[arg(long, env = "ZHIYUN_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// The demo's data directory (store, keys, compiled artifacts).
    #[arg(long, default_value = ".zhiyun/demo")]
    data_dir: PathBuf,
    /// Where the sample apps' sources (app.toml) are.
    #[arg(long, default_value = "plugins")]
    plugins: PathBuf,
    /// Where the built components are (`./dev apps` puts them there).
    #[arg(long, default_value = "target/wasm32-wasip2/app")]
    apps: PathBuf,
    /// Set everything up, then exit instead of serving.
    #[arg(long)]
    setup_only: bool,
    /// Size of the generated backflow batch loaded into the warehouse on the
    /// first run: tiny, demo (≈300,000 journal lines, about 4 million rows in
    /// 725 tables) or a number of journal lines.
    #[arg(long, default_value = "demo")]
    data_scale: zhiyun_gen::Scale,
    /// Do not generate and load a batch (the warehouse stays as it is).
    #[arg(long)]
    no_data: bool,
}

/// Who the set-up acts as: the 财务部 developer submits, the reviewer
/// approves, the security admin registers the department key.
const DEMO_DEVELOPER: &str = "dev.cw";
const DEMO_REVIEWER: &str = "reviewer";
const DEMO_SECURITY_ADMIN: &str = "secadmin";

/// The demo department that signs the sample apps.
const DEMO_KEY_ID: &str = "caiwu-2026";
const DEMO_DEPARTMENT: &str = "财务部";

pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    let config = ServeArgs {
        listen: Some(args.listen),
        data_dir: Some(args.data_dir.clone()),
        seed_demo: true,
        ..ServeArgs::default()
    }
    .resolve()?;
    let state = build_state(&config).await?;
    let key = demo_key(&args.data_dir)?;
    let registry = &state.apps.registry;
    registry
        .register_key(
            &key.key_id,
            &key.department,
            &key.public_key().to_bytes(),
            DEMO_SECURITY_ADMIN,
        )
        .await?;
    let developer = state
        .auth
        .caller(DEMO_DEVELOPER, Credential::Internal)
        .await
        .map_err(|e| anyhow::anyhow!("the demo developer: {}", e.message))?;
    for app_dir in sample_apps(&args.plugins)? {
        let manifest_text = std::fs::read_to_string(app_dir.join(MANIFEST_FILE))?;
        let wasm_path = args
            .apps
            .join(format!("{}.wasm", crate_name(&app_dir)?.replace('-', "_")));
        let component = std::fs::read(&wasm_path).with_context(|| {
            format!(
                "{} is missing: build the apps first (./dev apps)",
                wasm_path.display()
            )
        })?;
        let file = app_dir.join(MANIFEST_FILE).display().to_string();
        let bytes = pack_bytes_signed(&manifest_text, &file, &component, &key)?;
        let package = Package::from_bytes(&bytes)?;
        let id = package.manifest().id.clone();
        let version = package.manifest().version.clone();
        let existing = match registry.version(&id, &version).await {
            Ok(record) => Some(record),
            Err(RegistryError::NotFound(_)) => None,
            Err(e) => return Err(e.into()),
        };
        let record = match existing {
            Some(record) => {
                if record.component_sha256 != package.component_sha256() {
                    eprintln!(
                        "note: {id} {version} is registered with another build; bump the version in {file} to submit the new one"
                    );
                }
                record
            }
            None => {
                let record = state
                    .apps
                    .submit(&bytes, &developer)
                    .await
                    .map_err(|e| anyhow::anyhow!("submitting {id} {version}: {}", e.message))?;
                let ok = record.trial["ok"].as_bool().unwrap_or(false);
                eprintln!(
                    "submitted {id} {version} (trial run: {})",
                    if ok { "ok" } else { "FAILED" }
                );
                record
            }
        };
        if record.state == VersionState::Submitted {
            state
                .apps
                .decide_listing(
                    &id,
                    &version,
                    DEMO_REVIEWER,
                    Decision::Approve(Some("演示环境：自动审核通过")),
                )
                .await
                .map_err(|e| anyhow::anyhow!("approving {id} {version}: {}", e.message))?;
            eprintln!("approved {id} {version}");
        }
    }
    if !args.no_data {
        demo_data(&state, &args).await?;
    }
    if args.setup_only {
        return Ok(());
    }
    let (tx, rx) = tokio::sync::oneshot::channel();
    let server = tokio::spawn(serve(config, state, Some(tx)));
    if let Ok(addr) = rx.await {
        println!("\nzhiyun demo is running at http://{addr}");
        println!("  API: http://{addr}/api/v1   OpenAPI: http://{addr}/api/openapi.json");
        println!("  Demo logins (POST /api/v1/login):");
        for u in DEMO_USERS {
            let roles: Vec<String> = u
                .posts
                .iter()
                .map(|(role, org)| format!("{}@{org}", role.id()))
                .collect();
            println!(
                "    {:<12} {:<16} {} ({})",
                u.username,
                u.password,
                u.display_name,
                roles.join(", ")
            );
        }
        println!("  Try: curl -s http://{addr}/healthz");
        println!("Press Ctrl-C to stop.");
    }
    server.await.context("server task")?
}

/// On the first run: generates a backflow batch into the inbox and loads
/// it (load, reconciliation, catalog), as `zhiyun gen` and `zhiyun ingest`
/// would. Later runs find the batch in the warehouse and skip this.
async fn demo_data(state: &crate::http::AppState, args: &DemoArgs) -> anyhow::Result<()> {
    let batches = state
        .warehouse
        .batches()
        .await
        .map_err(|e| anyhow::anyhow!("reading the warehouse: {e}"))?;
    if let Some(b) = batches.first() {
        eprintln!(
            "the warehouse holds batch {} ({} rows); not generating another",
            b.batch_id, b.rows_loaded
        );
        return demo_models(state).await;
    }
    let dir = args.data_dir.join("inbox").join("demo-batch-1");
    if dir.exists() && !dir.join(zhiyun_batch::MANIFEST_FILE).exists() {
        // A generation interrupted before its manifest: start it over.
        std::fs::remove_dir_all(&dir)?;
    }
    if !dir.join(zhiyun_batch::MANIFEST_FILE).exists() {
        eprintln!(
            "generating the demo backflow batch ({:?}) into {}",
            args.data_scale,
            dir.display()
        );
        let gen_args = crate::data_cmd::GenArgs {
            out: dir.clone(),
            scale: args.data_scale,
            seed: 42,
            format: zhiyun_batch::FileFormat::CsvGz,
            batch: 1,
            anomaly_rate: 0.01,
            dirty_rate: 0.005,
        };
        tokio::task::spawn_blocking(move || crate::data_cmd::generate(gen_args)).await??;
    }
    eprintln!("loading it into the warehouse");
    let rules =
        crate::data_cmd::rules_dir(std::path::Path::new(crate::data_cmd::DEFAULT_RULES_DIR))?;
    crate::data_cmd::load_reconcile_catalog(
        &state.warehouse.db,
        &dir,
        &Default::default(),
        rules,
        false,
    )
    .await?;
    demo_models(state).await
}

/// Builds the models (the S02 wide tables and datasets) on the demo data:
/// in full the first time, then only what changed (usually nothing).
async fn demo_models(state: &crate::http::AppState) -> anyhow::Result<()> {
    let Some(project) = state.warehouse.models.clone() else {
        return Ok(());
    };
    let report = zhiyun_models::build(&state.warehouse.db, &project, &Default::default(), |_| {})
        .await
        .context("building the models")?;
    for run in &report.runs {
        eprintln!("  model {}", crate::models_cmd::describe_run(run));
    }
    if !report.ok() {
        anyhow::bail!("some models failed to build; see above");
    }
    Ok(())
}

/// The demo department's key, created once under the data directory.
fn demo_key(data_dir: &Path) -> anyhow::Result<SecretKey> {
    let dir = data_dir.join("keys");
    let path = dir.join(format!("{DEMO_KEY_ID}.key"));
    if !path.exists() {
        std::fs::create_dir_all(&dir)?;
        let (secret, public) = generate_key(DEMO_KEY_ID, DEMO_DEPARTMENT)?;
        write_secret(&path, &secret)?;
        std::fs::write(dir.join(format!("{DEMO_KEY_ID}.pub")), public)?;
    }
    let text = std::fs::read_to_string(&path)?;
    Ok(parse_secret_key(&text, &path.display().to_string())?)
}

/// Writes a secret key file readable by its owner only.
pub fn write_secret(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(text.as_bytes())?;
    Ok(())
}

/// Every directory under `plugins/` with an app.toml, in a stable order.
fn sample_apps(plugins: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for group in ["scenarios", "reports", "alerts"] {
        let dir = plugins.join(group);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry?.path();
            if path.join(MANIFEST_FILE).is_file() {
                found.push(path);
            }
        }
    }
    found.sort();
    if found.is_empty() {
        bail!(
            "no sample apps under {}: run this from the repository root",
            plugins.display()
        );
    }
    Ok(found)
}

fn crate_name(app_dir: &Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(app_dir.join("Cargo.toml"))?;
    let value: toml::Value = toml::from_str(&text)?;
    value["package"]["name"]
        .as_str()
        .map(str::to_string)
        .context("Cargo.toml has no package name")
}
