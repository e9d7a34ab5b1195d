//! `countersign audit …`: verify the chain, list events, the weekly findings.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use crate::broker::store::{SqliteStore, Store};

#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub command: AuditCommand,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Recompute the hash chain and name the first broken link.
    Verify {
        /// Verify the database in this directory directly (works with the broker
        /// down); without it, ask the broker.
        #[arg(long, env = "COUNTERSIGN_DATA_DIR")]
        data_dir: Option<PathBuf>,
        #[command(flatten)]
        client: super::ClientArgs,
    },
}

pub async fn run(args: AuditArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        AuditCommand::Verify { data_dir, client } => verify(data_dir, client).await,
    }
}

async fn verify(data_dir: Option<PathBuf>, client: super::ClientArgs) -> anyhow::Result<ExitCode> {
    let report = match data_dir {
        Some(dir) => {
            tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
                let store = SqliteStore::open(&dir)?;
                Ok(store.verify_chain()?)
            })
            .await??
        }
        None => client.connect()?.audit_verify().await?,
    };
    if report.ok {
        println!(
            "audit log intact: {} events, head {}",
            report.events, report.head
        );
        Ok(ExitCode::SUCCESS)
    } else {
        println!(
            "audit log BROKEN at event {}: {}",
            report.broken_at.unwrap_or(0),
            report.problem.as_deref().unwrap_or("unknown")
        );
        Ok(ExitCode::FAILURE)
    }
}
