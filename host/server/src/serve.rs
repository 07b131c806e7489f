//! `zhiyun serve`: configuration and the server's life cycle.

use crate::auth::Auth;
use crate::governed::GovernedData;
use crate::http::{self, AppState};
use crate::listing::ListingApplier;
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
    /// Mark the session cookie `Secure` (set when users reach the server
    /// over HTTPS, e.g. behind a TLS proxy).
    #[arg(long, env = "ZHIYUN_COOKIE_SECURE")]
    pub cookie_secure: bool,
    /// A session ends after this many minutes without a request [default: 30].
    #[arg(long, env = "ZHIYUN_SESSION_IDLE_MINUTES")]
    pub session_idle_minutes: Option<u32>,
    /// A session ends this many hours after login at the latest [default: 12].
    #[arg(long, env = "ZHIYUN_SESSION_MAX_HOURS")]
    pub session_max_hours: Option<u32>,
    /// How often this host checks the shared store for policy changes made
    /// on other hosts, in milliseconds [default: 1000].
    #[arg(long, env = "ZHIYUN_POLICY_SYNC_MS")]
    pub policy_sync_ms: Option<u64>,
    /// The data warehouse: sqlite:<path> or postgres://…
    /// [default: <data-dir>/warehouse.db, a file apart from the platform's].
    #[arg(long, env = "ZHIYUN_WAREHOUSE_URL")]
    pub warehouse_url: Option<String>,
    /// The directory backflow batches are delivered to; `POST
    /// /api/v1/warehouse/batches` loads a batch from it by name
    /// [default: <data-dir>/inbox].
    #[arg(long, env = "ZHIYUN_BATCH_INBOX")]
    pub batch_inbox: Option<PathBuf>,
    /// The cleaning rules (ODS → DWD) loads through the API use
    /// [default: plugins/cleaning if it exists, else the default rules].
    #[arg(long, env = "ZHIYUN_CLEANING_RULES")]
    pub cleaning_rules: Option<PathBuf>,
    /// The model project (DWS wide tables, ADS datasets apps read)
    /// [default: plugins/models if it exists, else none].
    #[arg(long, env = "ZHIYUN_MODELS")]
    pub models: Option<PathBuf>,
    /// Create the demo org tree, accounts, menus and dataset policies if
    /// they are missing (idempotent). For demos and tests, never production.
    #[arg(long, env = "ZHIYUN_SEED_DEMO")]
    pub seed_demo: bool,
    /// A TOML file with any of: listen, data_dir, database_url, max_concurrent,
    /// cookie_secure, session_idle_minutes, session_max_hours, policy_sync_ms,
    /// warehouse_url, batch_inbox, cleaning_rules, models.
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
    cookie_secure: Option<bool>,
    session_idle_minutes: Option<u32>,
    session_max_hours: Option<u32>,
    policy_sync_ms: Option<u64>,
    warehouse_url: Option<String>,
    batch_inbox: Option<PathBuf>,
    cleaning_rules: Option<PathBuf>,
    models: Option<PathBuf>,
}

/// The effective configuration.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub database_url: Option<String>,
    pub max_concurrent: u32,
    pub cookie_secure: bool,
    pub session_idle_minutes: u32,
    pub session_max_hours: u32,
    pub policy_sync_ms: u64,
    pub seed_demo: bool,
    pub warehouse_url: Option<String>,
    pub batch_inbox: PathBuf,
    /// `None`: the default rules of each column's declared type.
    pub cleaning_rules: Option<PathBuf>,
    /// The model project directory; `None`: no models.
    pub models: Option<PathBuf>,
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
        let data_dir = self
            .data_dir
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from(".zhiyun/data"));
        Ok(ServeConfig {
            batch_inbox: self
                .batch_inbox
                .or(file.batch_inbox)
                .unwrap_or_else(|| data_dir.join("inbox")),
            warehouse_url: self.warehouse_url.or(file.warehouse_url),
            models: models_dir(self.models.or(file.models))?,
            cleaning_rules: crate::data_cmd::rules_dir(
                &self
                    .cleaning_rules
                    .or(file.cleaning_rules)
                    .unwrap_or_else(|| PathBuf::from(crate::data_cmd::DEFAULT_RULES_DIR)),
            )?,
            listen: self
                .listen
                .or(file.listen)
                .unwrap_or_else(|| "127.0.0.1:8080".parse().expect("valid address")),
            data_dir,
            database_url: self.database_url.or(file.database_url),
            max_concurrent: self.max_concurrent.or(file.max_concurrent).unwrap_or(64),
            cookie_secure: self.cookie_secure || file.cookie_secure.unwrap_or(false),
            session_idle_minutes: positive(
                "session_idle_minutes",
                self.session_idle_minutes
                    .or(file.session_idle_minutes)
                    .unwrap_or(30),
            )?,
            session_max_hours: positive(
                "session_max_hours",
                self.session_max_hours
                    .or(file.session_max_hours)
                    .unwrap_or(12),
            )?,
            policy_sync_ms: self
                .policy_sync_ms
                .or(file.policy_sync_ms)
                .unwrap_or(1000)
                .max(50),
            seed_demo: self.seed_demo,
        })
    }
}

fn positive(name: &str, v: u32) -> anyhow::Result<u32> {
    anyhow::ensure!(v > 0, "{name} must be at least 1, got {v}");
    Ok(v)
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
    if config.seed_demo {
        seed_demo(&store).await?;
    }
    let metrics = Arc::new(Metrics::new());
    let audit = zhiyun_authz::AuditLog::new(store.clone());
    let (audit_sink, writer) = crate::audit_sink::AuditSink::start(audit.clone());
    let policy = zhiyun_authz::Policy::load(store.clone())
        .await
        .context("loading the permission policy")?;
    let identity = zhiyun_authz::identity::Identity::new(store.clone());
    let sessions = zhiyun_authz::Sessions::new(
        store.clone(),
        zhiyun_authz::SessionConfig {
            idle_timeout_micros: i64::from(config.session_idle_minutes) * 60 * 1_000_000,
            absolute_timeout_micros: i64::from(config.session_max_hours) * 3600 * 1_000_000,
        },
    );
    let registry = Registry::new(store.clone());
    let appliers = zhiyun_authz::policy::appliers()
        .with(
            zhiyun_authz::ChangeKindName::AppListing,
            Arc::new(ListingApplier::new(registry.clone())),
        )
        .with(
            zhiyun_authz::ChangeKindName::DataService,
            Arc::new(crate::services::DataServiceApplier),
        );
    let changes =
        zhiyun_authz::ChangeRequests::new(store.clone(), audit.clone(), Arc::new(appliers));
    let fixtures = FixtureProvider::demo();
    let warehouse_db = match &config.warehouse_url {
        Some(url) => zhiyun_warehouse::Db::open(url).await,
        None => zhiyun_warehouse::Db::open_in(&config.data_dir).await,
    }
    .context("opening the data warehouse")?;
    let models = match &config.models {
        Some(dir) => Some(Arc::new(
            zhiyun_models::Project::load(dir)
                .with_context(|| format!("reading the models in {}", dir.display()))?,
        )),
        None => None,
    };
    let engine = match &models {
        Some(project) => Some(Arc::new(
            query_engine(config, &warehouse_db, project.clone()).await?,
        )),
        None => None,
    };
    let governed = Arc::new(
        GovernedData::new(fixtures.clone(), policy.clone(), audit_sink.clone())
            .with_engine(engine, config.seed_demo),
    );
    let apps = AppService::new(
        registry,
        Arc::new(runtime),
        governed.clone(),
        Arc::new(fixtures.clone()),
        changes.clone(),
        metrics.clone(),
    );
    let warehouse = Arc::new(
        crate::warehouse::WarehouseService::new(
            warehouse_db,
            config.batch_inbox.clone(),
            config.cleaning_rules.clone(),
        )
        .with_models(models.clone()),
    );
    let policy_sync = policy.spawn_sync(std::time::Duration::from_millis(config.policy_sync_ms));
    Ok(AppState {
        apps: Arc::new(apps),
        auth: Auth::new(identity, sessions, policy, config.cookie_secure),
        changes,
        governed,
        fixtures,
        metrics,
        services: Arc::new(crate::services::DataServices::new(
            store.clone(),
            audit.clone(),
        )),
        audit,
        audit_sink,
        audit_writer: Arc::new(std::sync::Mutex::new(Some(writer))),
        policy_sync: Arc::new(policy_sync),
        store,
        warehouse,
    })
}

/// The query engine apps read the models' datasets through, on the read-only
/// connection (the second wall): on SQLite the warehouse file opened
/// read-only; on PostgreSQL the warehouse's schema read as the role
/// `zhiyun_reader` (created if missing, with SELECT on that schema only),
/// which is refused when the schema also holds the platform's tables.
async fn query_engine(
    config: &ServeConfig,
    db: &zhiyun_warehouse::Db,
    project: Arc<zhiyun_models::Project>,
) -> anyhow::Result<zhiyun_query::engine::Engine> {
    const READER_ROLE: &str = "zhiyun_reader";
    let (url, role) = match db {
        zhiyun_warehouse::Db::Sqlite(_) => {
            let url = match &config.warehouse_url {
                Some(url) => url.clone(),
                None => format!(
                    "sqlite://{}",
                    config
                        .data_dir
                        .join(zhiyun_warehouse::db::SQLITE_FILE)
                        .display()
                ),
            };
            (url, None)
        }
        zhiyun_warehouse::Db::Postgres(pool) => {
            let url = config
                .warehouse_url
                .clone()
                .context("a PostgreSQL warehouse needs --warehouse-url")?;
            let schema: String = sqlx::query_scalar("SELECT current_schema()")
                .fetch_one(pool)
                .await
                .context("reading the warehouse schema")?;
            let shared: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() \
                 AND table_name IN ('sessions', 'users', 'department_keys')",
            )
            .fetch_one(pool)
            .await
            .context("checking the warehouse schema")?;
            if shared > 0 {
                anyhow::bail!(
                    "the warehouse schema `{schema}` also holds the platform's tables; give the warehouse a schema of its own (e.g. ?options=-c%20search_path%3Dwarehouse) so that apps' queries cannot reach the platform"
                );
            }
            zhiyun_query::exec::ensure_reader_role(pool, &schema, READER_ROLE)
                .await
                .context("setting up the warehouse reader role")?;
            (url, Some(READER_ROLE))
        }
    };
    let reader = zhiyun_query::exec::ReadOnlyWarehouse::open(&url, role)
        .await
        .context("opening the read-only warehouse connection")?;
    Ok(zhiyun_query::engine::Engine::new(
        project,
        reader,
        db.clone(),
    ))
}

/// The model project to serve: the one named (which must exist), else
/// `plugins/models` when it exists (a checkout), else none.
fn models_dir(named: Option<PathBuf>) -> anyhow::Result<Option<PathBuf>> {
    match named {
        Some(dir) if dir.is_dir() => Ok(Some(dir)),
        Some(dir) => anyhow::bail!("the models directory {} does not exist", dir.display()),
        None => {
            let default = PathBuf::from(crate::models_cmd::DEFAULT_MODELS_DIR);
            Ok(default.is_dir().then_some(default))
        }
    }
}

/// The demo org tree and accounts (zhiyun_authz::identity::DEMO_USERS),
/// then the menus and dataset policies (idempotent; safe for hosts
/// starting together).
pub async fn seed_demo(store: &Store) -> anyhow::Result<()> {
    zhiyun_authz::identity::Identity::new(store.clone())
        .seed_demo(zhiyun_store::now_micros())
        .await
        .context("seeding the demo accounts")?;
    zhiyun_authz::policy::seed_demo(store)
        .await
        .context("seeding the demo menus and dataset policies")?;
    Ok(())
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
    let policy_sync = state.policy_sync.clone();
    let purge = tokio::spawn(purge_sessions(state.auth.sessions.clone()));
    axum::serve(listener, http::router(state))
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("the server failed")?;
    policy_sync.abort();
    purge.abort();
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

/// Deletes sessions that ended more than a day ago, hourly (any host may;
/// the delete is idempotent).
async fn purge_sessions(sessions: zhiyun_authz::Sessions) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(3600));
    loop {
        tick.tick().await;
        match sessions.purge(zhiyun_store::now_micros()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(sessions = n, "purged ended sessions"),
            Err(e) => tracing::warn!(error = %e, "could not purge ended sessions"),
        }
    }
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
