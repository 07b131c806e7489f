//! `zhiyun audit verify|head`: check the hash chain of the audit log
//! directly in the store (no server needed), for the audit admin and for
//! scheduled integrity checks.

use anyhow::Context;
use std::path::PathBuf;
use zhiyun_authz::{Anchor, AuditLog};
use zhiyun_store::Store;

#[derive(clap::Subcommand, Debug)]
pub enum AuditCommand {
    /// Recompute every hash of the chain; name the first broken link.
    /// Exits 1 if the log was edited, entries deleted or reordered.
    Verify {
        #[command(flatten)]
        store: StoreArgs,
        /// Also check the log still reaches this earlier head (`SEQ:HASH`, from
        /// `zhiyun audit head`), which catches entries cut off the end.
        #[arg(long)]
        anchor: Option<Anchor>,
    },
    /// Print the current head (`SEQ:HASH`); keep it somewhere else to detect
    /// truncation later with `verify --anchor`.
    Head {
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(clap::Args, Debug)]
pub struct StoreArgs {
    /// The data directory of an embedded (SQLite) store.
    #[arg(long, env = "ZHIYUN_DATA_DIR", default_value = ".zhiyun/data")]
    data_dir: PathBuf,
    /// A PostgreSQL store instead.
    #[arg(long, env = "DATABASE_URL")]
    database_url: Option<String>,
}

impl StoreArgs {
    async fn open(&self) -> anyhow::Result<Store> {
        match &self.database_url {
            Some(url) => Store::open(url)
                .await
                .context("opening the PostgreSQL store"),
            None => {
                if !self.data_dir.join(zhiyun_store::SQLITE_FILE).is_file() {
                    anyhow::bail!(
                        "no store in {} (pass --data-dir or --database-url)",
                        self.data_dir.display()
                    );
                }
                Store::open_sqlite(&self.data_dir)
                    .await
                    .context("opening the embedded store")
            }
        }
    }
}

pub async fn run(cmd: AuditCommand) -> anyhow::Result<()> {
    match cmd {
        AuditCommand::Verify { store, anchor } => {
            let log = AuditLog::new(store.open().await?);
            let report = match anchor {
                Some(anchor) => log.verify_against(&anchor).await?,
                None => log.verify().await?,
            };
            println!("{report}");
            if !report.is_ok() {
                anyhow::bail!("the audit log failed verification");
            }
            Ok(())
        }
        AuditCommand::Head { store } => {
            let head = AuditLog::new(store.open().await?).head().await?;
            println!("{head}");
            Ok(())
        }
    }
}
