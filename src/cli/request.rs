//! `countersign request …` and `countersign whoami`: the requester's and reviewer's CLI.

use std::process::ExitCode;

use clap::Args;

use super::ClientArgs;

#[derive(Debug, Args)]
pub struct RequestArgs {
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Args)]
pub struct WhoamiArgs {
    #[command(flatten)]
    pub client: ClientArgs,
}

pub async fn run(args: RequestArgs) -> anyhow::Result<ExitCode> {
    let _ = args;
    anyhow::bail!("request: not built yet")
}

pub async fn whoami(args: WhoamiArgs) -> anyhow::Result<ExitCode> {
    let _ = args;
    anyhow::bail!("whoami: not built yet")
}
