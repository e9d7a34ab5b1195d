//! The command line: one binary, `countersign`, whose subcommands are the broker,
//! the console, the demo and the non-TUI CLI for requesters, reviewers and admins.

pub mod admin;
pub mod audit;
pub mod broker_cmd;
pub mod login;
pub mod migrate;
pub mod notifications;
pub mod request;
pub mod ssh;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "countersign",
    version,
    about = "Just-in-time access for infrastructure: request, countersign, return.",
    long_about = None
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Open the live approval console (the default when no subcommand is given).
    Console(crate::console::ConsoleArgs),
    /// Start an embedded broker with demo data and open the console: no setup needed.
    Demo(crate::console::DemoArgs),
    /// Run the broker: the HTTP API, the audit log and the expiry sweeper.
    Broker(broker_cmd::BrokerArgs),
    /// Administer roles, users and tokens on the broker host (works while it runs).
    Admin(admin::AdminArgs),
    /// Create, list, show, review, withdraw and return access requests.
    Request(request::RequestArgs),
    /// Show who the broker thinks you are and what you may request and review.
    Whoami(request::WhoamiArgs),
    /// Verify the audit log, list audit events and the weekly review's findings.
    Audit(audit::AuditArgs),
    /// Get an SSH certificate for an approved request, beside your key.
    Login(login::LoginArgs),
    /// For SSH hosts: the user CA to trust and the KRL of revoked certificates.
    Ssh(ssh::SshArgs),
}

/// How a client command reaches the broker.
#[derive(Debug, Clone, Args, Default)]
pub struct ClientArgs {
    /// Broker URL, e.g. http://127.0.0.1:7800.
    #[arg(long, env = "COUNTERSIGN_BROKER")]
    pub broker: Option<String>,
    /// Bearer token (prefer the environment or the config file over the command line).
    #[arg(long, env = "COUNTERSIGN_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// The client config file (default: console.toml in the user's config directory).
    #[arg(long, env = "COUNTERSIGN_CONFIG")]
    pub config: Option<PathBuf>,
}

impl ClientArgs {
    /// The API client these flags, the environment and the config file point at.
    pub fn connect(&self) -> anyhow::Result<crate::client::Client> {
        let resolved = crate::client::Config::resolve(
            self.broker.as_deref(),
            self.token.as_deref(),
            self.config.as_deref(),
        )?;
        Ok(crate::client::Client::new(&resolved.connection)?)
    }
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("countersign: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let command = cli
        .command
        .unwrap_or_else(|| Command::Console(Default::default()));
    let result = runtime.block_on(async move {
        match command {
            Command::Console(args) => crate::console::run(args).await,
            Command::Demo(args) => crate::console::run_demo(args).await,
            Command::Broker(args) => broker_cmd::run(args).await,
            Command::Admin(args) => admin::run(args),
            Command::Request(args) => request::run(args).await,
            Command::Whoami(args) => request::whoami(args).await,
            Command::Audit(args) => audit::run(args).await,
            Command::Login(args) => login::run(args).await,
            Command::Ssh(args) => ssh::run(args).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("countersign: {err:#}");
            ExitCode::FAILURE
        }
    }
}
