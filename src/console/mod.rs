//! The console: a live, keyboard-first approval queue in the terminal.
//!
//! One `Action` enum is the only way state changes (`update`, pure and tested);
//! `view::draw` reads the state; the runtime merges keys, ticks and broker
//! messages into actions and carries out the effects `update` returns.

pub mod action;
pub mod fixtures;
pub mod keymap;
pub mod listing;
pub mod state;
pub mod text;
pub mod theme;
pub mod update;
pub mod view;

use std::process::ExitCode;

use clap::Args;

pub use action::{Action, Effect};
pub use state::State;
pub use update::update;

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
