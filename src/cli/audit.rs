//! `countersign audit …`: verify the chain, list events, the weekly findings.

use std::process::ExitCode;

use clap::Args;

#[derive(Debug, Args)]
pub struct AuditArgs {}

pub async fn run(args: AuditArgs) -> anyhow::Result<ExitCode> {
    let _ = args;
    anyhow::bail!("audit: not built yet")
}
