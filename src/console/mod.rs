//! The console: a live, keyboard-first approval queue in the terminal.

use std::process::ExitCode;

use clap::Args;

#[derive(Debug, Clone, Args, Default)]
pub struct ConsoleArgs {
    #[command(flatten)]
    pub client: crate::cli::ClientArgs,
}

#[derive(Debug, Clone, Args, Default)]
pub struct DemoArgs {}

pub async fn run(args: ConsoleArgs) -> anyhow::Result<ExitCode> {
    let _ = args;
    anyhow::bail!("console: not built yet")
}

pub async fn run_demo(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let _ = args;
    anyhow::bail!("demo: not built yet")
}
