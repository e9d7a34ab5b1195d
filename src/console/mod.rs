//! The console: a live, keyboard-first approval queue in the terminal.
//!
//! One `Action` enum is the only way state changes (`update`, pure and tested);
//! `view::draw` reads the state; the runtime merges keys, ticks and broker
//! messages into actions and carries out the effects `update` returns.

pub mod action;
pub mod fixtures;
pub mod keymap;
pub mod link;
pub mod listing;
pub mod notify;
pub mod runtime;
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
    let resolved = crate::client::Config::resolve(
        args.client.broker.as_deref(),
        args.client.token.as_deref(),
        args.client.config.as_deref(),
    )?;
    let config = &resolved.config;
    let keymap = keymap::Keymap::with_overrides(&config.key_overrides())?;
    let theme = theme::Theme::from_env(std::env::var("NO_COLOR").ok().as_deref())
        .with_overrides(&config.theme)?;
    let client = crate::client::Client::new(&resolved.connection)?;
    let notify = link::NotifyPolicy {
        enabled: config.notifications.enabled,
        urgent_only: config.notifications.urgent_only,
    };
    let state = State::new(client.broker(), keymap, theme);
    let (actions, network) = tokio::sync::mpsc::unbounded_channel();
    let (effects, effect_rx) = tokio::sync::mpsc::unbounded_channel();
    link::spawn(client, actions, effect_rx, notify);
    runtime::run(state, network, effects).await?;
    Ok(ExitCode::SUCCESS)
}

pub async fn run_demo(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let _ = args;
    // Until the embedded broker lands: the fixture queue, offline, reviews refused.
    let theme = theme::Theme::from_env(std::env::var("NO_COLOR").ok().as_deref());
    let state = State::new("demo (no broker)", keymap::Keymap::default(), theme);
    let (actions, network) = tokio::sync::mpsc::unbounded_channel();
    let (effects, mut effect_rx) = tokio::sync::mpsc::unbounded_channel();
    let _ = actions.send(Action::WhoAmI(crate::model::api::WhoAmI {
        user: "carrot".into(),
        reviewable_roles: vec![
            "production-access".into(),
            "production-db-access".into(),
            "developer-db".into(),
        ],
        ..Default::default()
    }));
    let _ = actions.send(Action::Loaded(fixtures::queue()));
    let _ = actions.send(Action::Connection(state::Connection::Offline));
    let notifier = notify::Notifier::new(true);
    tokio::spawn(async move {
        while let Some(effect) = effect_rx.recv().await {
            match effect {
                Effect::SubmitReview { id, .. } => {
                    let error = action::ReviewError {
                        code: None,
                        message: "no broker in this build".into(),
                    };
                    let _ = actions.send(Action::Reviewed {
                        id,
                        result: Err(error),
                    });
                }
                Effect::Notify {
                    title,
                    body,
                    urgent,
                } => notifier.notify(title, body, urgent),
                Effect::Refresh | Effect::Quit => {}
            }
        }
    });
    runtime::run(state, network, effects).await?;
    Ok(ExitCode::SUCCESS)
}
