//! `countersign audit …`: verify the chain, list events, the weekly findings.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use crate::audit::Format;
use crate::broker::store::verify::ExpectedHead;
use crate::broker::store::{self, Location};
use crate::model::Duration;
use crate::model::api::{ListEvents, MAX_PAGE, MarkFindingReviewed};

#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub command: AuditCommand,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Recompute the hash chain and name the first broken link; with --data-dir,
    /// also check the indexed columns against each event and replay the log
    /// against the requests table.
    Verify {
        /// Verify the database in this directory directly, read-only (works with
        /// the broker down); without it, ask the broker.
        #[arg(long, env = "COUNTERSIGN_DATA_DIR")]
        data_dir: Option<PathBuf>,
        /// Verify this database directly instead (postgres://… or sqlite:DIR).
        #[arg(long, env = "COUNTERSIGN_DATABASE")]
        database: Option<String>,
        /// A head recorded earlier (`audit head`, or the broker's log), SEQ:HASH:
        /// the log must still hold that event unchanged, so a cut tail shows.
        #[arg(long, value_name = "SEQ:HASH")]
        expect_head: Option<ExpectedHead>,
        #[command(flatten)]
        client: crate::client::ClientArgs,
    },
    /// Print the audit log's head as SEQ:HASH, to keep somewhere else and give
    /// back to `audit verify --expect-head` later.
    Head {
        #[arg(
            long,
            env = "COUNTERSIGN_DATA_DIR",
            required_unless_present = "database"
        )]
        data_dir: Option<PathBuf>,
        /// The database as a URL instead (postgres://… or sqlite:DIR).
        #[arg(long, env = "COUNTERSIGN_DATABASE")]
        database: Option<String>,
    },
    /// The weekly review: what looks wrong in the window, grouped by kind, with the
    /// approver-side summary. `--format markdown` pastes into a review ticket.
    Findings {
        #[arg(long, default_value = "168h")]
        window: Duration,
        #[arg(long, default_value = "table")]
        format: Format,
        #[command(flatten)]
        client: crate::client::ClientArgs,
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
        client: crate::client::ClientArgs,
    },
    /// Mark a finding as reviewed, with a note, so next week starts where this ended.
    Mark {
        /// The finding's key (`kind:request-id:reviewer`, as every format of
        /// `audit findings` shows it); a key that names no finding is refused.
        key: String,
        #[arg(long)]
        note: String,
        #[command(flatten)]
        client: crate::client::ClientArgs,
    },
}

pub async fn run(args: AuditArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        AuditCommand::Verify {
            data_dir,
            database,
            expect_head,
            client,
        } => {
            if data_dir.is_none() && database.is_none() {
                if expect_head.is_some() {
                    anyhow::bail!(
                        "--expect-head checks the database itself: give --data-dir or --database too"
                    );
                }
                return verify_online(client).await;
            }
            let location = Location::choose(database.as_deref(), data_dir.as_deref())?;
            verify_offline(location, expect_head).await
        }
        AuditCommand::Head { data_dir, database } => {
            let location = Location::choose(database.as_deref(), data_dir.as_deref())?;
            let (seq, hash) = tokio::task::spawn_blocking(move || store::head(&location)).await??;
            println!("{seq}:{hash}");
            Ok(ExitCode::SUCCESS)
        }
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

async fn verify_offline(
    location: Location,
    expect_head: Option<ExpectedHead>,
) -> anyhow::Result<ExitCode> {
    let report =
        tokio::task::spawn_blocking(move || store::verify(&location, expect_head.as_ref()))
            .await??;
    if report.ok() {
        println!(
            "audit log intact: {} events, head {}:{}; {} requests agree with the log",
            report.events, report.head_seq, report.head_hash, report.requests
        );
        return Ok(ExitCode::SUCCESS);
    }
    let at = report
        .broken_at
        .map(|seq| format!(" at event {seq}"))
        .unwrap_or_default();
    println!(
        "audit log BROKEN{at}: {} problem(s) in {} events and {} requests",
        report.problems.len() as u64 + report.more,
        report.events,
        report.requests
    );
    for problem in &report.problems {
        println!("  {problem}");
    }
    if report.more > 0 {
        println!("  … and {} more", report.more);
    }
    Ok(ExitCode::FAILURE)
}

async fn verify_online(client: crate::client::ClientArgs) -> anyhow::Result<ExitCode> {
    let report = client.connect()?.audit_verify().await?;
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
