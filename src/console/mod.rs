//! The console: a live, keyboard-first approval queue in the terminal.
//!
//! One `Action` enum is the only way state changes (`update`, pure and tested);
//! `view::draw` reads the state; the runtime merges keys, ticks and broker
//! messages into actions and carries out the effects `update` returns.

pub mod action;
mod browse;
mod certs;
pub mod clipboard;
pub mod command;
mod confirm;
mod filter;
mod findings;
pub mod fixtures;
pub mod flags;
mod help;
mod incoming;
pub mod input;
mod inspect;
pub mod keymap;
pub mod link;
pub mod listing;
mod note;
pub mod notify;
pub mod older;
mod panel;
mod review;
mod revoke;
pub mod runtime;
mod search;
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
    pub client: crate::client::ClientArgs,
}

#[derive(Debug, Clone, Args, Default)]
pub struct DemoArgs {
    /// A still queue: no new requests or votes while the console is open.
    #[arg(long)]
    pub still: bool,
    /// Seed of the live queue's choices (the same seed plays the same way).
    #[arg(long, default_value_t = 47)]
    pub seed: u64,
    /// Seconds between live events, at least.
    #[arg(long, default_value_t = 4)]
    pub pace: u64,
    /// Open the console as this demo user (default: the cast's reviewer, carrot).
    #[arg(long)]
    pub user: Option<String>,
    /// Run only the broker and the living queue, for a console or CLI in another
    /// terminal: prints where the environment file is and waits for Ctrl-C.
    #[arg(long)]
    pub no_console: bool,
}

pub async fn run(args: ConsoleArgs) -> anyhow::Result<ExitCode> {
    let resolved = args.client.resolve()?;
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
    // Keys and theme from console.toml, if there is one; its broker and token are not used.
    let (config, _) = crate::client::Config::load(None)?;
    let keymap = keymap::Keymap::with_overrides(&config.key_overrides())?;
    let theme = theme::Theme::from_env(std::env::var("NO_COLOR").ok().as_deref())
        .with_overrides(&config.theme)?;
    let options = crate::demo::DemoOptions {
        live: !args.still,
        seed: args.seed,
        pace_secs: args.pace.max(1),
    };
    let demo = crate::demo::Demo::start(options).await?;
    if args.no_console {
        println!("{}", demo.banner());
        println!(
            "The environment is in {}: `source` it in another terminal. Ctrl-C stops the demo.",
            demo.env_file.display()
        );
        runtime::until_stopped().await?;
        demo.stop().await?;
        // Whoever read our output may be gone (a closed terminal): not an error.
        use std::io::Write;
        let _ = writeln!(
            std::io::stdout(),
            "countersign demo stopped; its data directory was removed."
        );
        return Ok(ExitCode::SUCCESS);
    }
    let user = args.user.unwrap_or_else(|| demo.console_user.clone());
    let Some(token) = demo.token(&user).map(str::to_string) else {
        demo.stop().await?;
        anyhow::bail!("no demo user {user:?}; the cast is in assets/demo/users.toml");
    };
    println!("{}", demo.banner());
    let connection = crate::client::Connection {
        broker: demo.url.clone(),
        token,
        ca_pem: None,
    };
    let client = crate::client::Client::new(&connection)?;
    let state = State::new(client.broker(), keymap, theme);
    let (actions, network) = tokio::sync::mpsc::unbounded_channel();
    let (effects, effect_rx) = tokio::sync::mpsc::unbounded_channel();
    let _ = actions.send(Action::DemoEnv(state::DemoEnv {
        path: demo.env_file.display().to_string(),
        text: demo.environment(),
    }));
    // The live queue moves every few seconds: only emergencies notify.
    let notify = link::NotifyPolicy {
        enabled: true,
        urgent_only: true,
    };
    link::spawn(client, actions, effect_rx, notify);
    let shown = runtime::run(state, network, effects).await;
    demo.stop().await?;
    shown?;
    println!("countersign demo stopped; its data directory was removed.");
    Ok(ExitCode::SUCCESS)
}
