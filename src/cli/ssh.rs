//! `countersign ssh …`: what an SSH host needs from the broker, no token required:
//! the user CA to trust and the KRL of revoked certificates, kept current.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration as StdDuration;

use anyhow::Context;
use clap::{Args, Subcommand};

use crate::broker::ssh::krl::looks_like_krl;
use crate::client::{Client, Connection};
use crate::model::Duration;

#[derive(Debug, Args)]
pub struct SshArgs {
    /// Broker URL, e.g. https://broker.example:7800.
    #[arg(long, env = "COUNTERSIGN_BROKER", global = true)]
    pub broker: Option<String>,
    /// A PEM file of certificates to trust for the broker's TLS, beside the system's.
    #[arg(long, global = true)]
    pub tls_ca: Option<PathBuf>,
    #[command(subcommand)]
    pub command: SshCommand,
}

#[derive(Debug, Subcommand)]
pub enum SshCommand {
    /// Print the user CA's public key, for sshd's TrustedUserCAKeys.
    Ca,
    /// Write the broker's KRL to a file for sshd's RevokedKeys (atomic replace).
    Krl {
        /// The file sshd reads (RevokedKeys).
        #[arg(long)]
        out: PathBuf,
        /// Keep the file current: fetch again every --interval until stopped.
        #[arg(long)]
        watch: bool,
        /// How often --watch fetches.
        #[arg(long, default_value = "10s")]
        interval: Duration,
    },
}

pub async fn run(args: SshArgs) -> anyhow::Result<ExitCode> {
    let broker = args
        .broker
        .as_deref()
        .map(str::trim)
        .filter(|b| !b.is_empty())
        .context("no broker: give --broker URL or set COUNTERSIGN_BROKER")?;
    let ca_pem = match &args.tls_ca {
        Some(path) => {
            Some(std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?)
        }
        None => None,
    };
    // These routes need no token.
    let client = Client::new(&Connection {
        broker: broker.trim_end_matches('/').to_string(),
        token: String::new(),
        ca_pem,
    })?;
    match args.command {
        SshCommand::Ca => {
            print!("{}", client.ssh_ca().await?);
            Ok(ExitCode::SUCCESS)
        }
        SshCommand::Krl {
            out,
            watch,
            interval,
        } => {
            if !watch {
                refresh(&client, &out).await?;
                return Ok(ExitCode::SUCCESS);
            }
            if interval.is_zero() {
                anyhow::bail!("--interval must be longer than 0s");
            }
            watch_krl(
                &client,
                &out,
                StdDuration::from_millis(interval.as_millis()),
            )
            .await
        }
    }
}

/// Fetches the KRL and replaces `out` when it differs; true when it was replaced.
async fn refresh(client: &Client, out: &std::path::Path) -> anyhow::Result<bool> {
    let krl = client.ssh_krl().await?;
    if !looks_like_krl(&krl) {
        anyhow::bail!(
            "the broker's answer is not a KRL; {} left as it was",
            out.display()
        );
    }
    // The version and date change on every fetch; compare what follows them.
    let unchanged = std::fs::read(out).is_ok_and(|old| same_revocations(&old, &krl));
    if unchanged {
        return Ok(false);
    }
    super::login::write_atomically(out, &krl, 0o644)?;
    Ok(true)
}

/// KRL header: magic 8, format 4, krl_version 8, generated_date 8.
const STAMPS: std::ops::Range<usize> = 12..28;

fn same_revocations(old: &[u8], new: &[u8]) -> bool {
    old.len() == new.len()
        && old.len() > STAMPS.end
        && old[..STAMPS.start] == new[..STAMPS.start]
        && old[STAMPS.end..] == new[STAMPS.end..]
}

async fn watch_krl(
    client: &Client,
    out: &std::path::Path,
    every: StdDuration,
) -> anyhow::Result<ExitCode> {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let mut failing = false;
    loop {
        tokio::select! {
            _ = &mut ctrl_c => return Ok(ExitCode::SUCCESS),
            _ = tick.tick() => {}
        }
        match refresh(client, out).await {
            Ok(replaced) => {
                if replaced {
                    eprintln!("updated {}", out.display());
                }
                failing = false;
            }
            // Keep the last good file: sshd goes on refusing what it listed.
            Err(err) if !failing => {
                eprintln!(
                    "countersign: {err:#}; keeping {} and retrying",
                    out.display()
                );
                failing = true;
            }
            Err(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::ssh::krl::encode;

    #[test]
    fn only_the_stamps_may_differ() {
        let a = encode(b"CA", &[1, 2, 3], 10, 10);
        let b = encode(b"CA", &[1, 2, 3], 11, 11);
        let c = encode(b"CA", &[1, 2, 4], 11, 11);
        assert!(same_revocations(&a, &b));
        assert!(!same_revocations(&a, &c));
        assert!(!same_revocations(&a, &a[..20]));
    }
}
