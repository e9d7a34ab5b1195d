//! `broker.toml`: what the broker listens on, where it keeps data, its deadlines,
//! and the thresholds of the weekly review.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::model::Duration;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BrokerConfig {
    pub listen: SocketAddr,
    pub data_dir: Option<PathBuf>,
    /// A role file applied at start and re-applied when it changes on disk.
    pub roles: Option<PathBuf>,
    pub pending_ttl: Duration,
    pub max_pending_ttl: Duration,
    /// How often an idle event stream gets a keep-alive comment.
    pub keep_alive: Duration,
    /// How often the sweeper looks for due requests.
    pub sweep_interval: Duration,
    pub tls: Option<TlsConfig>,
    pub insecure_http: bool,
    /// The weekly review's thresholds (`[audit]`).
    pub audit: crate::audit::AuditConfig,
    /// Mail, Slack and webhook sinks (`[notify]`).
    pub notify: super::notify::NotifyConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        BrokerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 7800)),
            data_dir: None,
            roles: None,
            pending_ttl: Duration::from_hours(24),
            max_pending_ttl: Duration::from_hours(24 * 7),
            keep_alive: Duration::from_secs(15),
            sweep_interval: Duration::from_secs(1),
            tls: None,
            insecure_http: false,
            audit: crate::audit::AuditConfig::default(),
            notify: super::notify::NotifyConfig::default(),
        }
    }
}

impl BrokerConfig {
    pub fn load(path: &Path) -> anyhow::Result<BrokerConfig> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
        let config: BrokerConfig =
            toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        // Checked here too, where the text is at hand to name the line.
        config
            .notify
            .check(&|name| std::env::var(name).ok())
            .map_err(|problem| {
                anyhow::anyhow!(problem.render(&path.display().to_string(), &text))
            })?;
        Ok(config)
    }

    /// Refuses plain HTTP beyond loopback unless explicitly allowed.
    pub fn check_transport(&self) -> anyhow::Result<()> {
        if self.listen.ip().is_loopback() || self.tls.is_some() || self.insecure_http {
            return Ok(());
        }
        anyhow::bail!(
            "{} is not a loopback address: give --tls-cert and --tls-key, or --insecure-http if something in front of the broker terminates TLS",
            self.listen
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_example_and_checks_transport() {
        let config: BrokerConfig = toml::from_str(
            "listen = \"0.0.0.0:7800\"\npending_ttl = \"8h\"\n[audit]\nfast_approval = \"2m\"\n",
        )
        .unwrap();
        assert_eq!(config.pending_ttl, Duration::from_hours(8));
        assert_eq!(config.audit.fast_approval, Duration::from_mins(2));
        assert!(config.check_transport().is_err());
        let loopback = BrokerConfig::default();
        assert!(loopback.check_transport().is_ok());
        assert!(toml::from_str::<BrokerConfig>("lisen = \"x\"").is_err());
    }
}
