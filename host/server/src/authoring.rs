//! `zhiyun app new|build|test|pack|inspect`: what a department developer
//! uses to write, try and package a micro-app.

use anyhow::{Context, bail};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use zhiyun_apps::{MANIFEST_FILE, Manifest, Package};
use zhiyun_contract::{AppKind, Invocation};
use zhiyun_data::FixtureProvider;
use zhiyun_runtime::{Runtime, RuntimeConfig, Services};

/// The cargo profile micro-apps are built with (optimised, LTO, stripped).
pub const APP_PROFILE: &str = "app";
pub const APP_TARGET: &str = "wasm32-wasip2";

pub fn new(name: &str, kind: &str, parent: &Path, sdk_path: Option<&Path>) -> anyhow::Result<()> {
    let kind = AppKind::parse(kind).context("unknown kind")?;
    zhiyun_apps::manifest::check_app_id(name)
        .map_err(|why| anyhow::anyhow!("`{name}` cannot be an app id: {why}"))?;
    let sdk = match sdk_path {
        Some(p) => p.to_path_buf(),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sdk"),
    };
    let sdk = sdk.canonicalize().with_context(|| {
        format!(
            "the SDK is not at {}; pass --sdk-path <zhiyun checkout>/sdk",
            sdk.display()
        )
    })?;
    let dependency = format!("zhiyun-sdk = {{ path = {:?} }}", sdk.display().to_string());
    let dir = parent.join(name);
    let files = zhiyun_apps::new_project(&dir, name, kind, &dependency)?;
    println!(
        "Created {} app `{name}` in {}:",
        kind.as_str(),
        dir.display()
    );
    for f in files {
        println!("  {}", f.display());
    }
    println!(
        "\nNext:\n  cd {}\n  zhiyun app build\n  zhiyun app test\n  zhiyun app pack",
        dir.display()
    );
    Ok(())
}

/// Builds the app in `dir` and returns the path of its component.
pub fn build(dir: &Path) -> anyhow::Result<PathBuf> {
    let manifest = read_manifest(dir)?;
    let cargo_toml = dir.join("Cargo.toml");
    if !cargo_toml.is_file() {
        bail!("{} has no Cargo.toml: is it an app project?", dir.display());
    }
    eprintln!(
        "Building {} {} ({}) for {APP_TARGET} …",
        manifest.id,
        manifest.version,
        manifest.kind.as_str()
    );
    let status = Command::new(cargo())
        .args([
            "build",
            "--profile",
            APP_PROFILE,
            "--target",
            APP_TARGET,
            "--manifest-path",
        ])
        .arg(&cargo_toml)
        .status()
        .context("could not run cargo")?;
    if !status.success() {
        bail!(
            "cargo build failed (see above). If it says the target is missing, run `rustup target add {APP_TARGET}`"
        );
    }
    let wasm = component_path(dir)?;
    if !wasm.is_file() {
        bail!("cargo finished but {} is missing", wasm.display());
    }
    eprintln!("Built {}", wasm.display());
    Ok(wasm)
}

/// Where `cargo build --profile app --target wasm32-wasip2` puts the
/// component of the package in `dir`.
pub fn component_path(dir: &Path) -> anyhow::Result<PathBuf> {
    let out = Command::new(cargo())
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--manifest-path",
        ])
        .arg(dir.join("Cargo.toml"))
        .output()
        .context("could not run cargo metadata")?;
    if !out.status.success() {
        bail!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let target_dir = meta["target_directory"]
        .as_str()
        .context("cargo metadata has no target_directory")?;
    let wanted = dir.join("Cargo.toml").canonicalize()?;
    let package = meta["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| {
            p["manifest_path"]
                .as_str()
                .and_then(|m| Path::new(m).canonicalize().ok())
                .is_some_and(|m| m == wanted)
        })
        .context("cargo metadata does not list the package in this directory")?;
    let name = package["name"]
        .as_str()
        .unwrap_or_default()
        .replace('-', "_");
    Ok(Path::new(target_dir)
        .join(APP_TARGET)
        .join(APP_PROFILE)
        .join(format!("{name}.wasm")))
}

pub fn test(
    dir: &Path,
    raw_params: &[String],
    json: bool,
    build_first: bool,
) -> anyhow::Result<()> {
    let manifest = read_manifest(dir)?;
    let wasm_path = if build_first {
        build(dir)?
    } else {
        component_path(dir)?
    };
    let wasm = std::fs::read(&wasm_path).with_context(|| {
        format!(
            "no built component at {}; run `zhiyun app build` first (or pass --build)",
            wasm_path.display()
        )
    })?;
    let params = crate::params::from_pairs(&manifest, raw_params).map_err(anyhow::Error::msg)?;
    let mut data = FixtureProvider::demo();
    let fixtures = dir.join("fixtures");
    if fixtures.is_dir() {
        data = data.with_json_dir(&fixtures)?;
    }
    let runtime = Runtime::new(RuntimeConfig {
        cache_dir: Some(dir.join("target").join("zhiyun-cache")),
        ..RuntimeConfig::default()
    })
    .map_err(|e| anyhow::anyhow!("{e:#}"))?;
    let app = runtime.load(manifest.kind, &wasm)?;
    let limits = crate::service::limits_of(&manifest);
    let services = Services {
        data: Arc::new(data),
        invocation: developer_invocation(&manifest),
    };
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    tokio.block_on(async {
        let described = runtime
            .describe(&app, limits, services.clone())
            .await
            .map_err(|(e, _)| anyhow::anyhow!("describe failed: {e}"))?;
        let result = runtime.run(&app, params, limits, services).await;
        match result {
            Ok(outcome) => {
                if json {
                    println!("{}", serde_json::to_string_pretty(&outcome.output)?);
                } else {
                    println!(
                        "{} — {}\n",
                        described.output.title, described.output.summary
                    );
                    print!("{}", crate::text_view::render(&outcome.output));
                }
                eprintln!("{}", crate::text_view::stats_line(&outcome.stats));
                crate::text_view::print_log(&outcome.stats);
                Ok(())
            }
            Err((e, stats)) => {
                crate::text_view::print_log(&stats);
                eprintln!("{}", crate::text_view::stats_line(&stats));
                bail!("{} [{}]", e, e.kind().as_str())
            }
        }
    })
}

pub fn pack(dir: &Path, out: Option<&Path>, key: Option<&Path>) -> anyhow::Result<()> {
    let manifest = read_manifest(dir)?;
    let wasm_path = component_path(dir)?;
    let wasm = std::fs::read(&wasm_path).with_context(|| {
        format!(
            "no built component at {}; run `zhiyun app build` first",
            wasm_path.display()
        )
    })?;
    // Refuse to package what the host would refuse to load.
    let runtime = Runtime::new(RuntimeConfig::default()).map_err(|e| anyhow::anyhow!("{e:#}"))?;
    runtime.load(manifest.kind, &wasm)?;
    let out_dir = out
        .map(Path::to_path_buf)
        .unwrap_or_else(|| dir.join("target").join("zhiyun"));
    let packed = match key {
        Some(key) => {
            let key = zhiyun_apps::signing::read_secret_key(key)?;
            zhiyun_apps::pack_signed(&dir.join(MANIFEST_FILE), &wasm_path, &out_dir, &key)?
        }
        None => {
            eprintln!(
                "note: unsigned package (pass --key to sign it); a server accepts only signed packages"
            );
            zhiyun_apps::pack(&dir.join(MANIFEST_FILE), &wasm_path, &out_dir)?
        }
    };
    println!("{}", packed.path.display());
    eprintln!(
        "Packed {} {}: {} bytes, component sha256 {}",
        manifest.id, manifest.version, packed.size, packed.component_sha256
    );
    Ok(())
}

pub fn inspect(file: &Path) -> anyhow::Result<()> {
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let component = if file
        .extension()
        .is_some_and(|e| e == zhiyun_apps::PACKAGE_EXTENSION)
    {
        let package = Package::from_bytes(&bytes)?;
        println!(
            "package {} {} ({}), component sha256 {}",
            package.manifest().id,
            package.manifest().version,
            package.manifest().kind.as_str(),
            package.component_sha256()
        );
        package.into_component()
    } else {
        bytes
    };
    let runtime = Runtime::new(RuntimeConfig::default()).map_err(|e| anyhow::anyhow!("{e:#}"))?;
    let info = runtime.inspect(&component)?;
    println!("imports:");
    for i in &info.imports {
        println!("  {} ({}) {}", i.name, i.kind, i.functions.join(", "));
    }
    println!("exports:");
    for e in &info.exports {
        println!("  {} ({}) {}", e.name, e.kind, e.functions.join(", "));
    }
    match info.forbidden_import() {
        None => println!("contract: ok, every import is allowed"),
        Some((import, reason)) => bail!("contract: {import} is not allowed: {reason}"),
    }
    Ok(())
}

fn read_manifest(dir: &Path) -> anyhow::Result<Manifest> {
    let path = dir.join(MANIFEST_FILE);
    if !path.is_file() {
        bail!(
            "{} not found: run this in an app project (or pass its directory)",
            path.display()
        );
    }
    Ok(Manifest::read(&path)?)
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

/// Who `app test` runs as: a developer in the root org of the demo tree.
fn developer_invocation(manifest: &Manifest) -> Invocation {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or_default();
    Invocation {
        user_id: "developer".into(),
        user_name: "开发者".into(),
        org_id: "3300".into(),
        org_name: "示范市供电公司".into(),
        locale: std::env::var("ZHIYUN_LOCALE").unwrap_or_else(|_| "zh-CN".into()),
        now,
        app_id: manifest.id.clone(),
        app_version: manifest.version.to_string(),
        request_id: "app-test".into(),
    }
}

pub fn keygen(key_id: &str, department: &str, out: &Path) -> anyhow::Result<()> {
    let (secret, public) = zhiyun_apps::signing::generate_key(key_id, department)?;
    std::fs::create_dir_all(out)?;
    let secret_path = out.join(format!("{key_id}.key"));
    let public_path = out.join(format!("{key_id}.pub"));
    crate::demo::write_secret(&secret_path, &secret)?;
    std::fs::write(&public_path, public)?;
    println!("{}", secret_path.display());
    println!("{}", public_path.display());
    eprintln!(
        "Keep {} secret. Give {} to an administrator to register (zhiyun admin register-key).",
        secret_path.display(),
        public_path.display()
    );
    Ok(())
}
