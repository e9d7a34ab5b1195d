//! `countersign broker`: run the HTTP service until SIGINT or SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::broker::BrokerConfig;
use crate::broker::config::TlsConfig;

#[derive(Debug, Args)]
pub struct BrokerArgs {
    /// Where the database lives (created if missing).
    #[arg(long, env = "COUNTERSIGN_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// The store as a URL: postgres://… for several brokers on one database, or
    /// sqlite:DIR (overrides [store] url; with PostgreSQL, --data-dir only keeps
    /// the SSH CA key).
    #[arg(long, env = "COUNTERSIGN_DATABASE")]
    pub database: Option<String>,
    /// Address to listen on, e.g. 127.0.0.1:7800.
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// A role file to apply at start and again whenever it changes.
    #[arg(long)]
    pub roles: Option<PathBuf>,
    /// broker.toml with the settings these flags override.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// PEM certificate chain for TLS.
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for TLS.
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Serve plain HTTP on a non-loopback address (only behind a TLS-terminating proxy).
    #[arg(long)]
    pub insecure_http: bool,
    /// The SSH user CA's private key (default: ssh_user_ca in the data directory).
    #[arg(long)]
    pub ssh_ca_key: Option<PathBuf>,
}

impl BrokerArgs {
    pub fn config(&self) -> anyhow::Result<BrokerConfig> {
        let mut config = match &self.config {
            Some(path) => BrokerConfig::load(path)?,
            None => BrokerConfig::default(),
        };
        if let Some(dir) = &self.data_dir {
            config.data_dir = Some(dir.clone());
        }
        if let Some(url) = &self.database {
            config.store.url = Some(url.clone());
        }
        if let Some(listen) = self.listen {
            config.listen = listen;
        }
        if let Some(roles) = &self.roles {
            config.roles = Some(roles.clone());
        }
        if let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) {
            config.tls = Some(TlsConfig {
                cert: cert.clone(),
                key: key.clone(),
            });
        }
        config.insecure_http |= self.insecure_http;
        if let Some(key) = &self.ssh_ca_key {
            config.ssh.ca_key = Some(key.clone());
        }
        Ok(config)
    }
}

/// Logs to stderr. A log line that cannot be written (a full disk, a closed pipe)
/// is lost, never a panic: by default the subscriber would report its own failure
/// with `eprintln!`, which panics on that same broken stderr, in whichever thread
/// logged — the store's writer included.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("COUNTERSIGN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .log_internal_errors(false)
        .try_init();
}

pub async fn run(args: BrokerArgs) -> anyhow::Result<ExitCode> {
    init_logging();
    let config = args.config()?;
    let mut running = crate::broker::start(config).await?;
    {
        // Whoever started us may have closed stdout: that is no reason to stop.
        use std::io::Write;
        let mut out = std::io::stdout();
        let _ = writeln!(
            out,
            "countersign broker listening on {} (data in {})",
            running.url, running.database
        );
        let _ = out.flush();
    }
    tokio::select! {
        // The server stops by itself only when the store can no longer write:
        // exit non-zero so a supervisor restarts the broker.
        result = running.wait() => {
            if let Err(err) = result {
                tracing::error!("{err:#}");
                return Err(err);
            }
            return Ok(ExitCode::FAILURE);
        }
        _ = shutdown_signal() => {}
    }
    tracing::info!("shutting down");
    running.stop().await?;
    Ok(ExitCode::SUCCESS)
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
