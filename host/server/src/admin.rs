//! `zhiyun admin …` and `zhiyun app submit`: scripted calls to a running
//! server. Every command prints the server's JSON answer; errors print the
//! API's error code and message and exit non-zero.

use crate::client::{Client, Connection};
use base64::Engine as _;
use serde_json::{Value, json};
use std::future::Future;
use std::path::{Path, PathBuf};

#[derive(clap::Subcommand, Debug)]
pub enum AdminCommand {
    /// List apps and their live versions.
    Apps {
        #[command(flatten)]
        connection: Connection,
    },
    /// Show the review queue, or one version's review (manifest, imports,
    /// diff against the live version, trial run).
    Review {
        app: Option<String>,
        version: Option<String>,
        #[command(flatten)]
        connection: Connection,
    },
    /// Approve a submitted version (it goes live).
    Approve {
        app: String,
        version: String,
        #[arg(long)]
        reason: Option<String>,
        #[command(flatten)]
        connection: Connection,
    },
    /// Reject a submitted version.
    Reject {
        app: String,
        version: String,
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Suspend an app (kill switch; takes effect on the next launch).
    Suspend {
        app: String,
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Lift a suspension.
    Resume {
        app: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Take an app offline (下架).
    Offline {
        app: String,
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Republish an earlier approved version.
    Rollback {
        app: String,
        version: String,
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Register a department's public signing key (a .pub file from `zhiyun app keygen`).
    RegisterKey {
        public_key: PathBuf,
        #[command(flatten)]
        connection: Connection,
    },
    /// Launch an app and print its output.
    Launch {
        app: String,
        /// NAME=VALUE (repeatable).
        #[arg(short, long = "param")]
        params: Vec<String>,
        #[command(flatten)]
        connection: Connection,
    },
}

pub fn block_on<F: Future<Output = anyhow::Result<()>>>(f: F) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(f)
}

pub fn block_on_multi<T, F: Future<Output = anyhow::Result<T>>>(f: F) -> anyhow::Result<T> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(f)
}

fn print(value: &Value) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

pub async fn submit(package: &Path, connection: &Connection) -> anyhow::Result<()> {
    let client = Client::connect(connection).await?;
    let record = client.submit(package).await?;
    eprintln!(
        "submitted {} {}: {} (trial run {})",
        record["app_id"].as_str().unwrap_or("?"),
        record["version"].as_str().unwrap_or("?"),
        record["state"].as_str().unwrap_or("?"),
        if record["trial"]["ok"].as_bool() == Some(true) {
            "ok"
        } else {
            "failed"
        }
    );
    print(&record)
}

/// What a command asks of the server.
enum Call {
    Get(String),
    Post(String, Value),
}

pub async fn run(cmd: AdminCommand) -> anyhow::Result<()> {
    use AdminCommand::*;
    let (connection, call) = match cmd {
        Apps { connection } => (connection, Call::Get("/api/v1/apps".into())),
        Review {
            app,
            version,
            connection,
        } => {
            let path = match (app, version) {
                (Some(app), Some(version)) => {
                    format!("/api/v1/apps/{app}/versions/{version}/review")
                }
                (None, None) => "/api/v1/reviews".into(),
                _ => anyhow::bail!("give both APP and VERSION, or neither for the queue"),
            };
            (connection, Call::Get(path))
        }
        Approve {
            app,
            version,
            reason,
            connection,
        } => (
            connection,
            Call::Post(
                format!("/api/v1/apps/{app}/versions/{version}/approve"),
                json!({ "reason": reason }),
            ),
        ),
        Reject {
            app,
            version,
            reason,
            connection,
        } => (
            connection,
            Call::Post(
                format!("/api/v1/apps/{app}/versions/{version}/reject"),
                json!({ "reason": reason }),
            ),
        ),
        Suspend {
            app,
            reason,
            connection,
        } => (
            connection,
            Call::Post(
                format!("/api/v1/apps/{app}/suspend"),
                json!({ "reason": reason }),
            ),
        ),
        Resume { app, connection } => (
            connection,
            Call::Post(format!("/api/v1/apps/{app}/resume"), json!({})),
        ),
        Offline {
            app,
            reason,
            connection,
        } => (
            connection,
            Call::Post(
                format!("/api/v1/apps/{app}/offline"),
                json!({ "reason": reason }),
            ),
        ),
        Rollback {
            app,
            version,
            reason,
            connection,
        } => (
            connection,
            Call::Post(
                format!("/api/v1/apps/{app}/rollback"),
                json!({ "version": version, "reason": reason }),
            ),
        ),
        RegisterKey {
            public_key,
            connection,
        } => {
            let key = zhiyun_apps::signing::read_public_key(&public_key)?;
            let body = json!({
                "key_id": key.key_id,
                "department": key.department,
                "public_key": base64::engine::general_purpose::STANDARD.encode(key.to_bytes()),
            });
            (connection, Call::Post("/api/v1/keys".into(), body))
        }
        Launch {
            app,
            params,
            connection,
        } => {
            let mut map = serde_json::Map::new();
            for p in params {
                let (k, v) = p
                    .split_once('=')
                    .ok_or_else(|| anyhow::anyhow!("parameter `{p}` must be NAME=VALUE"))?;
                map.insert(k.to_string(), Value::String(v.to_string()));
            }
            (
                connection,
                Call::Post(
                    format!("/api/v1/apps/{app}/launch"),
                    json!({ "params": map }),
                ),
            )
        }
    };
    let client = Client::connect(&connection).await?;
    let answer = match call {
        Call::Get(path) => client.get(&path).await?,
        Call::Post(path, body) => client.post(&path, body).await?,
    };
    if !answer.is_null() {
        print(&answer)?;
    }
    Ok(())
}
