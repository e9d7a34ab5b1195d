//! Wiring: the shared state, the listener (plain or TLS), graceful shutdown, and the
//! background tasks that live as long as the server.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

use super::config::BrokerConfig;
use super::error::ApiError;
use super::roles::RolesCache;
use super::store::{SqliteStore, Store};
use crate::model::api::ErrorCode;

/// Everything a handler needs.
pub struct Broker {
    pub store: Arc<dyn Store>,
    pub roles: RolesCache,
    pub bus: broadcast::Sender<Arc<super::stream::Outgoing>>,
    pub config: BrokerConfig,
    /// The weekly review's thresholds, compiled once.
    pub audit: crate::audit::CompiledConfig,
    pub shutdown: watch::Receiver<bool>,
}

impl Broker {
    /// Runs store work off the async threads.
    pub async fn blocking<T, F>(self: &Arc<Self>, work: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&Broker) -> Result<T, ApiError> + Send + 'static,
    {
        let broker = self.clone();
        tokio::task::spawn_blocking(move || work(&broker))
            .await
            .map_err(|e| ApiError::new(ErrorCode::Internal, format!("worker failed: {e}")))?
    }

    pub fn now(&self) -> crate::model::Time {
        chrono::Utc::now()
    }
}

/// A broker serving in the background, as the CLI, the demo and tests run it.
pub struct RunningBroker {
    pub addr: SocketAddr,
    pub url: String,
    pub data_dir: PathBuf,
    pub store: Arc<SqliteStore>,
    shutdown: watch::Sender<bool>,
    server: JoinHandle<anyhow::Result<()>>,
    background: Vec<JoinHandle<()>>,
}

impl RunningBroker {
    /// Stops accepting, lets in-flight requests finish, ends event streams, and
    /// flushes the store.
    pub async fn stop(self) -> anyhow::Result<()> {
        let _ = self.shutdown.send(true);
        let mut server = self.server;
        // In-flight calls get ten seconds; then the server is stopped regardless.
        let served =
            match tokio::time::timeout(std::time::Duration::from_secs(10), &mut server).await {
                Ok(result) => result,
                Err(_) => {
                    server.abort();
                    Ok(Ok(()))
                }
            };
        for task in self.background {
            task.abort();
        }
        let store = self.store.clone();
        let _ = tokio::task::spawn_blocking(move || store.close()).await;
        match served {
            Ok(result) => result,
            Err(e) => Err(anyhow::anyhow!("server task failed: {e}")),
        }
    }

    /// Resolves when the server stops by itself (it normally does not).
    pub async fn wait(&mut self) -> anyhow::Result<()> {
        match (&mut self.server).await {
            Ok(result) => result,
            Err(e) => Err(anyhow::anyhow!("server task failed: {e}")),
        }
    }
}

/// Opens the store, applies the role file if one is configured, binds, and serves.
pub async fn start(config: BrokerConfig) -> anyhow::Result<RunningBroker> {
    config.check_transport()?;
    let audit = config
        .audit
        .compile()
        .map_err(|why| anyhow::anyhow!("[audit] in the broker config: {why}"))?;
    let sinks = super::notify::Sinks::from_config(&config.notify, &|name| std::env::var(name).ok())
        .map_err(|problem| anyhow::anyhow!("[notify] in the broker config: {}", problem.message))?;
    let data_dir = config.data_dir.clone().ok_or_else(|| {
        anyhow::anyhow!("no data directory: give --data-dir or data_dir in the config")
    })?;
    let store = {
        let dir = data_dir.clone();
        tokio::task::spawn_blocking(move || SqliteStore::open(&dir)).await??
    };
    let store = Arc::new(store);
    {
        let store = store.clone();
        let names = sinks.names();
        tokio::task::spawn_blocking(move || store.set_notify_sinks(&names)).await??;
    }
    let (bus, _) = broadcast::channel::<Arc<super::stream::Outgoing>>(4096);
    {
        let bus = bus.clone();
        store.on_commit(move |published| {
            for item in published {
                // No subscribers is fine.
                let _ = bus.send(Arc::new(super::stream::Outgoing::new(item.clone())));
            }
        });
    }
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let broker = Arc::new(Broker {
        store: store.clone(),
        roles: RolesCache::default(),
        bus,
        config: config.clone(),
        audit,
        shutdown: shutdown_rx.clone(),
    });
    let mut background = Vec::new();
    if let Some(path) = config.roles.clone() {
        let first = {
            let store = store.clone();
            let path = path.clone();
            tokio::task::spawn_blocking(move || {
                super::roles::apply_file(store.as_ref(), &path, chrono::Utc::now())
            })
            .await?
        };
        if let Err(err) = first {
            let has_previous = store.roles_version().unwrap_or(0) > 0;
            if !has_previous {
                anyhow::bail!("{err}");
            }
            tracing::error!("{err}");
        }
        background.push(tokio::spawn(watch_role_file(broker.clone(), path)));
    }
    {
        let broker = broker.clone();
        tokio::task::spawn_blocking(move || broker.roles.current(broker.store.as_ref())).await??;
    }
    background.push(tokio::spawn(super::sweeper::run(broker.clone())));
    background.push(tokio::spawn(super::notify::run(broker.clone(), sinks)));

    let app = super::routes::router(broker.clone());
    let listener = std::net::TcpListener::bind(config.listen)
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let scheme = if config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let url = format!("{scheme}://{addr}");
    let shutdown = shutdown_rx;
    let server = match config.tls.clone() {
        None => {
            let listener = tokio::net::TcpListener::from_std(listener)?;
            tokio::spawn(async move {
                axum::serve(listener, app)
                    .with_graceful_shutdown(stopped(shutdown))
                    .await
                    .map_err(anyhow::Error::from)
            })
        }
        Some(tls) => {
            // One crypto provider for the whole process (ring, as reqwest uses).
            let _ = rustls::crypto::ring::default_provider().install_default();
            let rustls = axum_server::tls_rustls::RustlsConfig::from_pem_file(&tls.cert, &tls.key)
                .await
                .map_err(|e| {
                    anyhow::anyhow!(
                        "cannot load TLS certificate {} / key {}: {e}",
                        tls.cert.display(),
                        tls.key.display()
                    )
                })?;
            let handle = axum_server::Handle::new();
            let stopper = handle.clone();
            tokio::spawn(async move {
                stopped(shutdown).await;
                stopper.graceful_shutdown(Some(std::time::Duration::from_secs(10)));
            });
            tokio::spawn(async move {
                axum_server::from_tcp_rustls(listener, rustls)?
                    .handle(handle)
                    .serve(app.into_make_service())
                    .await
                    .map_err(anyhow::Error::from)
            })
        }
    };
    Ok(RunningBroker {
        addr,
        url,
        data_dir,
        store,
        shutdown: shutdown_tx,
        server,
        background,
    })
}

/// Re-applies the role file when it changes; a broken file is reported and the
/// roles in force stay as they were.
async fn watch_role_file(broker: Arc<Broker>, path: PathBuf) {
    let modified = |p: &PathBuf| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let mut last = modified(&path);
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(2));
    loop {
        tick.tick().await;
        let now = modified(&path);
        if now == last {
            continue;
        }
        last = now;
        let store = broker.store.clone();
        let file = path.clone();
        let applied = tokio::task::spawn_blocking(move || {
            super::roles::apply_file(store.as_ref(), &file, chrono::Utc::now())
        })
        .await;
        match applied {
            Ok(Ok((version, set))) => {
                tracing::info!(
                    "applied {} ({} roles, version {version})",
                    path.display(),
                    set.len()
                )
            }
            Ok(Err(err)) => tracing::error!("{err}"),
            Err(err) => tracing::error!("role reload failed: {err}"),
        }
    }
}

/// Resolves once shutdown has been asked for (or its sender is gone).
pub async fn stopped(mut shutdown: watch::Receiver<bool>) {
    loop {
        if *shutdown.borrow_and_update() {
            return;
        }
        if shutdown.changed().await.is_err() {
            return;
        }
    }
}
