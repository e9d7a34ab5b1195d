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
    /// Where the store lives, when not SQLite in `data_dir` (`[store]`).
    pub store: StoreConfig,
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
    /// The SSH user CA (`[ssh]`).
    pub ssh: SshConfig,
    /// Limits that keep the broker standing under hostile clients (`[limits]`).
    pub limits: Limits,
    /// Who may read `GET /metrics` (`[metrics]`).
    pub metrics: super::metrics::MetricsConfig,
}

/// `[store] url = "postgres://…"`: several brokers on one PostgreSQL database
/// (DESIGN §11); `sqlite:DIR` or no url for the embedded default.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    pub url: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SshConfig {
    /// The CA's private key file (OpenSSH format, Ed25519, mode 0600); default:
    /// `ssh_user_ca` in the data directory, created at first start.
    pub ca_key: Option<PathBuf>,
}

/// DESIGN §12: every number here bounds what one client can hold or cost.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// A connection that has not sent a whole request head within this is closed;
    /// it is also how long an idle keep-alive connection stays open.
    pub header_read_timeout: Duration,
    /// A request body that stops arriving for this long is abandoned.
    pub body_read_timeout: Duration,
    /// Connections open at once; more are closed as they arrive.
    pub max_connections: usize,
    /// Event streams one user may hold open at once.
    pub streams_per_user: usize,
    /// Bytes of events queued for one subscriber before it is disconnected (it
    /// resumes with its last id).
    pub stream_buffer_bytes: usize,
    /// Refused attempts (reviews, overrides) one user may make in a burst before
    /// further ones are answered 429 and no longer recorded one by one…
    pub refused_burst: u32,
    /// …and how many a minute it regains.
    pub refused_per_minute: u32,
    /// How often the audit head is written to the log, for an external copy.
    pub head_log_interval: Duration,
    /// Longest URI accepted (414 beyond).
    pub max_uri_bytes: usize,
    /// Largest request head accepted, all header names and values (431 beyond).
    pub max_header_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(10),
            max_connections: 4096,
            streams_per_user: 8,
            stream_buffer_bytes: 256 * 1024,
            refused_burst: 20,
            refused_per_minute: 30,
            head_log_interval: Duration::from_mins(10),
            max_uri_bytes: 8 * 1024,
            max_header_bytes: 32 * 1024,
        }
    }
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
            store: StoreConfig::default(),
            roles: None,
            pending_ttl: Duration::from_hours(24),
            max_pending_ttl: Duration::from_hours(24 * 7),
            keep_alive: Duration::from_secs(15),
            sweep_interval: Duration::from_secs(1),
            tls: None,
            insecure_http: false,
            audit: crate::audit::AuditConfig::default(),
            ssh: SshConfig::default(),
            limits: Limits::default(),
            notify: super::notify::NotifyConfig::default(),
            metrics: super::metrics::MetricsConfig::default(),
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
        let limited: BrokerConfig =
            toml::from_str("[limits]\nheader_read_timeout = \"2s\"\nstreams_per_user = 3\n")
                .unwrap();
        assert_eq!(limited.limits.header_read_timeout, Duration::from_secs(2));
        assert_eq!(limited.limits.streams_per_user, 3);
        assert_eq!(limited.limits.max_connections, 4096);
    }

    #[test]
    fn the_example_config_parses_and_shows_the_default_limits() {
        let example: BrokerConfig =
            toml::from_str(include_str!("../../config/broker.toml")).unwrap();
        let defaults = Limits::default();
        assert_eq!(
            example.limits.header_read_timeout,
            defaults.header_read_timeout
        );
        assert_eq!(
            example.limits.stream_buffer_bytes,
            defaults.stream_buffer_bytes
        );
        assert_eq!(example.limits.streams_per_user, defaults.streams_per_user);
        assert_eq!(example.limits.head_log_interval, defaults.head_log_interval);
    }

    #[test]
    fn the_example_file_parses() {
        // Parsed only: its [notify] sinks name secrets this test's environment lacks
        // (notify::config checks those with them set).
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/broker.toml");
        let text = std::fs::read_to_string(path).unwrap();
        let config: BrokerConfig = toml::from_str(&text).unwrap();
        assert_eq!(config.ssh.ca_key, None);
        let named: BrokerConfig = toml::from_str("[ssh]\nca_key = \"/etc/ca\"\n").unwrap();
        assert_eq!(named.ssh.ca_key, Some(PathBuf::from("/etc/ca")));
        assert!(toml::from_str::<BrokerConfig>("[ssh]\ncakey = \"x\"\n").is_err());
    }
}
