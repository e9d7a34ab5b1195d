//! The `countersign` binary: one clap entry point whose subcommands are the broker,
//! the console, the demo and the non-TUI CLI (DESIGN §1).

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use countersign::cli;

#[derive(Debug, Parser)]
#[command(
    name = "countersign",
    version,
    about = "Just-in-time access for infrastructure: request, countersign, return.",
    long_about = None
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Open the live approval console (the default when no subcommand is given).
    Console(countersign::console::ConsoleArgs),
    /// Start an embedded broker with demo data and open the console: no setup needed.
    Demo(countersign::console::DemoArgs),
    /// Run the broker: the HTTP API, the audit log and the expiry sweeper.
    Broker(cli::broker_cmd::BrokerArgs),
    /// Administer roles, users and tokens on the broker host (works while it runs).
    Admin(cli::admin::AdminArgs),
    /// Create, list, show, review, withdraw and return access requests.
    Request(cli::request::RequestArgs),
    /// Show who the broker thinks you are and what you may request and review.
    Whoami(cli::request::WhoamiArgs),
    /// Verify the audit log, list audit events and the weekly review's findings.
    Audit(cli::audit::AuditArgs),
    /// Get an SSH certificate for an approved request, beside your key.
    Login(cli::login::LoginArgs),
    /// For SSH hosts: the user CA to trust and the KRL of revoked certificates.
    Ssh(cli::ssh::SshArgs),
}

fn main() -> ExitCode {
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
            Command::Console(args) => countersign::console::run(args).await,
            Command::Demo(args) => countersign::console::run_demo(args).await,
            Command::Broker(args) => cli::broker_cmd::run(args).await,
            Command::Admin(args) => cli::admin::run(args),
            Command::Request(args) => cli::request::run(args).await,
            Command::Whoami(args) => cli::request::whoami(args).await,
            Command::Audit(args) => cli::audit::run(args).await,
            Command::Login(args) => cli::login::run(args).await,
            Command::Ssh(args) => cli::ssh::run(args).await,
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
