//! `countersign broker`: run the HTTP service.

use std::process::ExitCode;

use clap::Args;

#[derive(Debug, Args)]
pub struct BrokerArgs {}

pub async fn run(args: BrokerArgs) -> anyhow::Result<ExitCode> {
    let _ = args;
    anyhow::bail!("broker: not built yet")
}
