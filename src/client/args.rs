//! The connection flags every front end shares (`--broker`, `--token`, `--config`),
//! so the CLI and the console take them from here rather than from each other.

use std::path::PathBuf;

use clap::Args;

use super::config::{Config, ConfigError, Resolved};
use super::error::ClientError;
use super::http::Client;

/// How a client command reaches the broker.
#[derive(Debug, Clone, Args, Default)]
pub struct ClientArgs {
    /// Broker URL, or several separated by commas to fail over between them, e.g.
    /// http://10.0.0.1:7800,http://10.0.0.2:7800.
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
    /// These flags (or the environment) combined with the config file.
    pub fn resolve(&self) -> Result<Resolved, ConfigError> {
        Config::resolve(
            self.broker.as_deref(),
            self.token.as_deref(),
            self.config.as_deref(),
        )
    }

    /// The API client these flags, the environment and the config file point at.
    pub fn connect(&self) -> anyhow::Result<Client> {
        let resolved = self.resolve()?;
        Client::new(&resolved.connection).map_err(|err: ClientError| err.into())
    }

    /// Each value given here, else the one in `outer` (a subcommand's flags over
    /// its parent's).
    pub fn or(&self, outer: &ClientArgs) -> ClientArgs {
        ClientArgs {
            broker: self.broker.clone().or_else(|| outer.broker.clone()),
            token: self.token.clone().or_else(|| outer.token.clone()),
            config: self.config.clone().or_else(|| outer.config.clone()),
        }
    }
}
