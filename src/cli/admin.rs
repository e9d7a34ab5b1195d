//! `countersign admin …`: roles, users and tokens, straight on the broker's data dir.

use std::process::ExitCode;

use clap::Args;

#[derive(Debug, Args)]
pub struct AdminArgs {}

pub fn run(args: AdminArgs) -> anyhow::Result<ExitCode> {
    let _ = args;
    anyhow::bail!("admin: not built yet")
}
