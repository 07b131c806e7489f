//! `zhiyun serve`: configuration and the server's life cycle.

use crate::auth::{Authenticator, DEMO_USERS};
use crate::http::{self, AppState};
use crate::metrics::Metrics;
use crate::service::AppService;
use anyhow::Context;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use zhiyun_apps::registry::Registry;
use zhiyun_data::FixtureProvider;
use zhiyun_runtime::{Runtime, RuntimeConfig};
use zhiyun_store::Store;

#[derive(clap::Args, Debug, Default, Clone)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "ZHIYUN_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Where the embedded store (platform.db) and the compiled-artifact cache
    /// live [default: .zhiyun/data].
    #[arg(long, env = "ZHIYUN_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Use PostgreSQL instead of the embedded SQLite store, e.g.
    /// postgres://user@127.0.0.1:5432/zhiyun. Several hosts may share one.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
    /// Invocations running at once in the sandbox; more wait their turn [default: 64].
    #[arg(long, env = "ZHIYUN_MAX_CONCURRENT")]
    pub max_concurrent: Option<u32>,
    /// A TOML file with any of: listen, data_dir, database_url, max_concurrent.
    /// Flags and environment variables override it.
    #[arg(long, env = "ZHIYUN_CONFIG")]
    pub config: Option<PathBuf>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    max_concurrent: Option<u32>,
}

/// The effective configuration.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub database_url: Option<String>,
    pub max_concurrent: u32,
}

impl ServeArgs {
    pub fn resolve(self) -> anyhow::Result<ServeConfig> {
        let file = match &self.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read the config file {}", path.display()))?;
                toml::from_str::<FileConfig>(&text)
                    .with_context(|| format!("{}: invalid config", path.display()))?
            }
            None => FileConfig::default(),
        };
        Ok(ServeConfig {
            listen: self
                .listen
                .or(file.listen)
                .unwrap_or_else(|| "127.0.0.1:8080".parse().expect("valid address")),
            data_dir: self
                .data_dir
                .or(file.data_dir)
                .unwrap_or_else(|| PathBuf::from(".zhiyun/data")),
            database_url: self.database_url.or(file.database_url),
            max_concurrent: self.max_concurrent.or(file.max_concurrent).unwrap_or(64),
        })
    }
}

/// Opens the store, builds the sandbox and the services.
pub async fn build_state(config: &ServeConfig) -> anyhow::Result<AppState> {
    std::fs::create_dir_all(&config.data_dir).with_context(|| {
        format!(
            "cannot create the data directory {}",
            config.data_dir.display()
        )
    })?;
    let store = match &config.database_url {
        Some(url) => Store::open(url)
            .await
            .context("opening the PostgreSQL store")?,
        None => Store::open_sqlite(&config.data_dir)
            .await
            .context("opening the embedded SQLite store")?,
    };
    let runtime = Runtime::new(RuntimeConfig {
        cache_dir: Some(config.data_dir.join("artifacts")),
        max_concurrent: config.max_concurrent,
        ..RuntimeConfig::default()
    })
    .map_err(|e| anyhow::anyhow!("starting the sandbox: {e:#}"))?;
    let metrics = Arc::new(Metrics::new());
    let apps = AppService::new(
        Registry::new(store.clone()),
        Arc::new(runtime),
        Arc::new(FixtureProvider::demo()),
        metrics.clone(),
    );
    let audit = zhiyun_authz::AuditLog::new(store.clone());
    let (audit_sink, writer) = crate::audit_sink::AuditSink::start(audit.clone());
    Ok(AppState {
        apps: Arc::new(apps),
        auth: Arc::new(Authenticator::with_users(&DEMO_USERS)),
        metrics,
        audit,
        audit_sink,
        audit_writer: Arc::new(std::sync::Mutex::new(Some(writer))),
        store,
    })
}

/// Serves until Ctrl-C / SIGTERM, then stops accepting and lets in-flight
/// requests (launches included) finish.
pub async fn serve(
    config: ServeConfig,
    state: AppState,
    ready: Option<tokio::sync::oneshot::Sender<SocketAddr>>,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, data_dir = %config.data_dir.display(), backend = ?state.store.backend(), "zhiyun serving");
    match ready {
        Some(tx) => {
            let _ = tx.send(addr);
        }
        // The first line on stdout: scripts and tests read the address here.
        None => println!("zhiyun listening on http://{addr}"),
    }
    let audit_writer = state.audit_writer.clone();
    axum::serve(listener, http::router(state))
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("the server failed")?;
    // The router (and with it every sender of the audit sink) is gone: the
    // writer drains what is queued and ends.
    let writer = audit_writer
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take();
    if let Some(writer) = writer
        && tokio::time::timeout(std::time::Duration::from_secs(30), writer)
            .await
            .is_err()
    {
        tracing::error!("the audit writer did not finish within 30 s");
    }
    tracing::info!("zhiyun stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_and_env_override_the_file_which_overrides_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("zhiyun.toml");
        std::fs::write(&file, "listen = \"127.0.0.1:9000\"\nmax_concurrent = 8\n").unwrap();
        let config = ServeArgs {
            config: Some(file.clone()),
            max_concurrent: Some(16),
            ..ServeArgs::default()
        }
        .resolve()
        .unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:9000");
        assert_eq!(config.max_concurrent, 16);
        assert_eq!(config.data_dir, PathBuf::from(".zhiyun/data"));
        assert_eq!(config.database_url, None);
    }

    #[test]
    fn a_bad_config_file_names_the_file_and_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("zhiyun.toml");
        std::fs::write(&file, "listen = \"nowhere\"\nlisen = 1\n").unwrap();
        let err = ServeArgs {
            config: Some(file.clone()),
            ..ServeArgs::default()
        }
        .resolve()
        .unwrap_err();
        let text = format!("{err:#}");
        assert!(text.contains("zhiyun.toml"), "{text}");
    }
}
