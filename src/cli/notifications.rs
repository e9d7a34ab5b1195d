//! `countersign admin notifications …`: what the outbox owes, and a second chance
//! for what it gave up on.

use clap::Subcommand;

use crate::broker::store::{NotificationState, Store};
use crate::client::sanitize;

#[derive(Debug, Subcommand)]
pub enum NotificationsCommand {
    /// List notifications, newest first.
    Ls {
        /// Only those in this state.
        #[arg(long, value_parser = ["pending", "sent", "failed"])]
        state: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Send a failed (or pending) notification again, now.
    Retry { id: u64 },
}

pub fn run(store: &dyn Store, command: NotificationsCommand) -> anyhow::Result<()> {
    match command {
        NotificationsCommand::Ls { state, limit } => {
            let state = state.as_deref().and_then(NotificationState::parse);
            let counts = store.notification_counts()?;
            let summary: Vec<String> = counts
                .iter()
                .map(|(state, n)| format!("{n} {}", state.as_str()))
                .collect();
            println!("# {}", summary.join(", "));
            println!(
                "{:<6} {:<8} {:<11} {:<14} {:<36} {:>3} {:<17} NOTE",
                "ID", "STATE", "TOPIC", "SINK", "REQUEST", "TRY", "LAST"
            );
            for n in store.notifications(state, limit)? {
                let when = n.done_at.unwrap_or(n.next_at);
                println!(
                    "{:<6} {:<8} {:<11} {:<14} {:<36} {:>3} {:<17} {}",
                    n.id,
                    n.state.as_str(),
                    n.topic.as_str(),
                    sanitize::sanitize_inline(&n.sink),
                    n.request_id,
                    n.attempts,
                    when.format("%Y-%m-%d %H:%M"),
                    sanitize::sanitize_inline(n.last_error.as_deref().unwrap_or(""))
                );
            }
        }
        NotificationsCommand::Retry { id } => {
            if !store.retry_notification(id, chrono::Utc::now())? {
                anyhow::bail!("no failed or pending notification {id}");
            }
            println!("notification {id} will be sent again by the running broker");
        }
    }
    Ok(())
}
