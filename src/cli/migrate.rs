//! `countersign admin migrate --data-dir DIR --to postgres://…`: an SQLite
//! broker's whole history into an empty PostgreSQL database, verified there.

use std::path::Path;
use std::process::ExitCode;

use clap::Args;

use crate::broker::store::{self, Location};

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The empty PostgreSQL database to copy into, postgres://…
    #[arg(long, value_name = "URL")]
    pub to: String,
}

pub fn run(data_dir: Option<&Path>, args: MigrateArgs) -> anyhow::Result<ExitCode> {
    let Some(dir) = data_dir else {
        anyhow::bail!("migrate copies an SQLite data directory: give --data-dir DIR");
    };
    let destination = Location::parse(&args.to);
    let Location::Postgres(url) = &destination else {
        anyhow::bail!(
            "--to {:?} is not a PostgreSQL URL (postgres://user@host/database)",
            args.to
        );
    };
    let copied = store::migrate::copy(dir, url)?;
    println!(
        "copied {} users, {} role versions, {} requests, {} events, {} certificates, {} notifications from {} to {}",
        copied.users,
        copied.role_versions,
        copied.requests,
        copied.events,
        copied.certificates,
        copied.notifications,
        dir.display(),
        destination.describe()
    );
    let report = std::thread::scope(|scope| {
        scope
            .spawn(|| store::verify(&destination, None))
            .join()
            .map_err(|_| anyhow::anyhow!("verification panicked"))
    })??;
    if !report.ok() {
        println!(
            "the copy does NOT verify: {}",
            report.problems.first().map(String::as_str).unwrap_or("?")
        );
        return Ok(ExitCode::FAILURE);
    }
    println!(
        "the copy verifies: {} events, head {}:{}; {} requests agree with the log",
        report.events, report.head_seq, report.head_hash, report.requests
    );
    Ok(ExitCode::SUCCESS)
}
