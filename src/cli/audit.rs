//! `countersign audit …`: verify the chain, list events, the weekly findings.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use crate::audit::Format;
use crate::broker::store::{SqliteStore, Store};
use crate::model::Duration;
use crate::model::api::{ListEvents, MAX_PAGE, MarkFindingReviewed};

#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub command: AuditCommand,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Recompute the hash chain and name the first broken link.
    Verify {
        /// Verify the database in this directory directly (works with the broker
        /// down); without it, ask the broker.
        #[arg(long, env = "COUNTERSIGN_DATA_DIR")]
        data_dir: Option<PathBuf>,
        #[command(flatten)]
        client: super::ClientArgs,
    },
    /// The weekly review: what looks wrong in the window, grouped by kind, with the
    /// approver-side summary. `--format markdown` pastes into a review ticket.
    Findings {
        #[arg(long, default_value = "168h")]
        window: Duration,
        #[arg(long, default_value = "table")]
        format: Format,
        #[command(flatten)]
        client: super::ClientArgs,
    },
    /// Audit events, oldest first (like `tctl audit-query`).
    Events {
        /// e.g. access_request.create
        #[arg(long = "type")]
        kind: Option<String>,
        /// The actor.
        #[arg(long)]
        user: Option<String>,
        /// An RFC 3339 time or a duration ago.
        #[arg(long, default_value = "168h")]
        since: String,
        #[arg(long)]
        until: Option<String>,
        /// Stop after this many events.
        #[arg(long, default_value_t = 10_000)]
        limit: usize,
        #[arg(long, default_value = "table")]
        format: Format,
        #[command(flatten)]
        client: super::ClientArgs,
    },
    /// Mark a finding as reviewed, with a note, so next week starts where this ended.
    Mark {
        /// The finding's key (`kind:request-id:reviewer`, as `--format json` shows).
        key: String,
        #[arg(long)]
        note: String,
        #[command(flatten)]
        client: super::ClientArgs,
    },
}

pub async fn run(args: AuditArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        AuditCommand::Verify { data_dir, client } => verify(data_dir, client).await,
        AuditCommand::Findings {
            window,
            format,
            client,
        } => {
            let report = client.connect()?.audit_findings(Some(window)).await?;
            print!(
                "{}",
                crate::audit::render(&report, format, chrono::Utc::now())
            );
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Events {
            kind,
            user,
            since,
            until,
            limit,
            format,
            client,
        } => {
            let client = client.connect()?;
            let mut query = ListEvents {
                kind,
                user,
                since: Some(since),
                until,
                limit: Some(limit.clamp(1, MAX_PAGE)),
                ..ListEvents::default()
            };
            let mut events = Vec::new();
            loop {
                let page = client.audit_events(&query).await?;
                events.extend(page.events);
                match page.next {
                    Some(next) if events.len() < limit => query.after = Some(next),
                    _ => break,
                }
            }
            events.truncate(limit);
            print!("{}", crate::audit::render_events(&events, format));
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Mark { key, note, client } => {
            if note.trim().is_empty() {
                anyhow::bail!("--note cannot be blank: say what you found");
            }
            client
                .connect()?
                .mark_finding_reviewed(&MarkFindingReviewed {
                    key: key.clone(),
                    note,
                })
                .await?;
            println!("marked {key} as reviewed");
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn verify(data_dir: Option<PathBuf>, client: super::ClientArgs) -> anyhow::Result<ExitCode> {
    let report = match data_dir {
        Some(dir) => {
            tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
                let store = SqliteStore::open_existing(&dir)?;
                Ok(store.verify_chain()?)
            })
            .await??
        }
        None => client.connect()?.audit_verify().await?,
    };
    if report.ok {
        println!(
            "audit log intact: {} events, head {}",
            report.events, report.head
        );
        Ok(ExitCode::SUCCESS)
    } else {
        println!(
            "audit log BROKEN at event {}: {}",
            report.broken_at.unwrap_or(0),
            report.problem.as_deref().unwrap_or("unknown")
        );
        Ok(ExitCode::FAILURE)
    }
}
