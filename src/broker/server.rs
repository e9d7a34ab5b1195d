//! Wiring: the shared state, the listener (plain or TLS), graceful shutdown, and the
//! background tasks that live as long as the server.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

use super::config::BrokerConfig;
use super::error::ApiError;
use super::gate::{RefusalLimiter, StreamSlots};
use super::roles::RolesCache;
use super::store::{EventDraft, Location, Served, Store};
use crate::model::api::ErrorCode;

/// Everything a handler needs.
pub struct Broker {
    pub store: Arc<dyn Store>,
    pub roles: RolesCache,
    pub bus: broadcast::Sender<Arc<super::stream::Outgoing>>,
    /// Refused attempts per user (DESIGN §12).
    pub refusals: RefusalLimiter,
    /// Open event streams per user.
    pub streams: StreamSlots,
    /// Bumped whenever users, tokens or roles change: open streams re-check then.
    pub authority: watch::Receiver<u64>,
    pub config: BrokerConfig,
    /// The weekly review's thresholds, compiled once.
    pub audit: crate::audit::CompiledConfig,
    pub shutdown: watch::Receiver<bool>,
    /// The SSH user CA that signs certificates for approved requests.
    pub ssh_ca: Arc<super::ssh::UserCa>,
    /// What `GET /metrics` serves.
    pub metrics: Arc<super::metrics::Metrics>,
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
    /// The SQLite data directory, or for PostgreSQL the one given for the SSH CA.
    pub data_dir: Option<PathBuf>,
    /// Where the store lives, for banners (no password).
    pub database: String,
    pub store: Arc<dyn Store>,
    /// Held for as long as this broker serves the store (an SQLite data
    /// directory's lock).
    _served: Served,
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
    let metrics = super::metrics::Metrics::new(&config.metrics, &|name| std::env::var(name).ok())?;
    let sinks = super::notify::Sinks::from_config(&config.notify, &|name| std::env::var(name).ok())
        .map_err(|problem| anyhow::anyhow!("[notify] in the broker config: {}", problem.message))?;
    let location = Location::choose(config.store.url.as_deref(), config.data_dir.as_deref())
        .map_err(|_| {
            anyhow::anyhow!(
                "no database: give --data-dir DIR (SQLite), --database URL, or data_dir / [store] url in the config"
            )
        })?;
    let data_dir = location
        .data_dir()
        .map(PathBuf::from)
        .or_else(|| config.data_dir.clone());
    if data_dir.is_none() && config.ssh.ca_key.is_none() {
        anyhow::bail!(
            "with {} the SSH user CA needs a home: give --ssh-ca-key (every broker on one database must sign with the same key) or --data-dir",
            location.describe()
        );
    }
    let database = location.describe();
    let served = {
        let location = location.clone();
        tokio::task::spawn_blocking(move || {
            super::store::serve(&location).map_err(|e| {
                anyhow::anyhow!("cannot open the database in {}: {e}", location.describe())
            })
        })
        .await??
    };
    let store = served.store.clone();
    let ssh_ca = {
        let (dir, configured) = (
            data_dir.clone().unwrap_or_default(),
            config.ssh.ca_key.clone(),
        );
        tokio::task::spawn_blocking(move || super::ssh::UserCa::open(&dir, configured.as_deref()))
            .await??
    };
    {
        let store = store.clone();
        let names = sinks.names();
        tokio::task::spawn_blocking(move || store.set_notify_sinks(&names)).await??;
    }
    let (bus, _) = broadcast::channel::<Arc<super::stream::Outgoing>>(4096);
    {
        let bus = bus.clone();
        store.on_commit(Box::new(move |published| {
            for item in published {
                // No subscribers is fine.
                let _ = bus.send(Arc::new(super::stream::Outgoing::new(item.clone())));
            }
        }));
    }
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let (authority_tx, authority_rx) = watch::channel(0u64);
    let broker = Arc::new(Broker {
        store: store.clone(),
        roles: RolesCache::default(),
        bus,
        refusals: RefusalLimiter::new(&config.limits),
        streams: StreamSlots::default(),
        authority: authority_rx,
        config: config.clone(),
        audit,
        shutdown: shutdown_rx.clone(),
        ssh_ca: Arc::new(ssh_ca),
        metrics: Arc::new(metrics),
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
    background.push(tokio::spawn(watch_authority(broker.clone(), authority_tx)));
    background.push(tokio::spawn(log_head(broker.clone())));
    background.push(tokio::spawn(record_dropped_refusals(broker.clone())));
    background.push(tokio::spawn(super::notify::run(broker.clone(), sinks)));
    background.push(tokio::spawn(super::metrics::count_events(broker.clone())));

    let app = super::routes::router(broker.clone())
        .layer(axum::middleware::from_fn_with_state(
            broker.clone(),
            super::heads::bounded,
        ))
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
            std_duration(config.limits.body_read_timeout),
        ));
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
    let handle = axum_server::Handle::new();
    {
        let stopper = handle.clone();
        let shutdown = shutdown_rx;
        tokio::spawn(async move {
            stopped(shutdown).await;
            stopper.graceful_shutdown(Some(std::time::Duration::from_secs(10)));
        });
    }
    background.push(tokio::spawn(stop_on_store_failure(
        store.clone(),
        handle.clone(),
    )));
    let permits = Arc::new(tokio::sync::Semaphore::new(
        config.limits.max_connections.max(1),
    ));
    let limits = config.limits.clone();
    let failed = store.clone();
    // The peer address, for `[metrics] access = "loopback"`.
    let app = app.into_make_service_with_connect_info::<SocketAddr>();
    let server = match config.tls.clone() {
        None => {
            // http1_only after the acceptor: setting an acceptor forgets it.
            let mut server = axum_server::from_tcp(listener)?
                .acceptor(Capped::new(SendBuffer, permits))
                .http1_only();
            configure(server.http_builder(), &limits);
            tokio::spawn(async move {
                let served = server.handle(handle).serve(app).await;
                finish(served, failed.as_ref())
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
            // HTTP/1.1 only, so every connection is under the header-read timeout
            // (hyper-util's HTTP/2 preface detection has none: a connection that
            // sends nothing would wait in it for ever).
            let mut only_h1 = (*rustls.get_inner()).clone();
            only_h1.alpn_protocols = vec![b"http/1.1".to_vec()];
            let rustls = axum_server::tls_rustls::RustlsConfig::from_config(Arc::new(only_h1));
            let mut server = axum_server::from_tcp_rustls(listener, rustls)?
                .map(|tls| {
                    // The handshake is the first thing a TLS client sends: it gets
                    // the same time as a request head.
                    let tls = tls
                        .handshake_timeout(std_duration(limits.header_read_timeout))
                        .acceptor(SendBuffer);
                    Capped::new(tls, permits)
                })
                .http1_only();
            configure(server.http_builder(), &limits);
            tokio::spawn(async move {
                let served = server.handle(handle).serve(app).await;
                finish(served, failed.as_ref())
            })
        }
    };
    Ok(RunningBroker {
        addr,
        url,
        data_dir,
        database,
        store,
        _served: served,
        shutdown: shutdown_tx,
        server,
        background,
    })
}

pub fn std_duration(d: crate::model::Duration) -> std::time::Duration {
    std::time::Duration::from_millis(d.as_millis())
}

/// hyper's own limits: a timer so the header-read timeout (which also closes idle
/// keep-alive connections) applies, and a read buffer just above the head limit
/// the middleware answers in JSON.
fn configure(
    builder: &mut hyper_util::server::conn::auto::Builder<hyper_util::rt::TokioExecutor>,
    limits: &super::config::Limits,
) {
    builder
        .http1()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(std_duration(limits.header_read_timeout))
        .max_headers(super::heads::MAX_HEADERS * 2)
        .max_buf_size((limits.max_header_bytes + limits.max_uri_bytes).max(16 * 1024) * 2);
}

fn finish(served: std::io::Result<()>, store: &dyn Store) -> anyhow::Result<()> {
    if let Some(why) = store.failure() {
        anyhow::bail!("the store can no longer write: {why}");
    }
    served.map_err(anyhow::Error::from)
}

/// Once the writer has failed, `/healthz` says so for a moment (for whoever is
/// watching), then the server stops and the process exits non-zero.
async fn stop_on_store_failure(store: Arc<dyn Store>, handle: axum_server::Handle<SocketAddr>) {
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(250));
    loop {
        tick.tick().await;
        if let Some(why) = store.failure() {
            tracing::error!("the store can no longer write ({why}); stopping");
            tokio::time::sleep(std::time::Duration::from_secs(2)).await;
            handle.graceful_shutdown(Some(std::time::Duration::from_secs(1)));
            return;
        }
    }
}

/// Tells open streams at once when users, tokens or roles changed, whoever changed
/// them (the admin CLI writes from another process): one cheap read for all
/// streams, instead of each stream asking the store every few seconds.
async fn watch_authority(broker: Arc<Broker>, changed: watch::Sender<u64>) {
    let mut tick = tokio::time::interval(AUTHORITY_CHECK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last = None;
    loop {
        tick.tick().await;
        let stamp = broker
            .blocking(|b| {
                let stamp = b.store.authority_stamp()?;
                Ok(stamp)
            })
            .await;
        let Ok(stamp) = stamp else { continue };
        if last.is_some_and(|l| l == stamp) {
            continue;
        }
        let first = last.is_none();
        last = Some(stamp);
        if first {
            continue;
        }
        let refreshed = broker
            .blocking(|b| Ok(b.roles.current(b.store.as_ref())?))
            .await;
        if let Err(err) = refreshed {
            tracing::warn!("reloading roles: {}", err.message);
        }
        changed.send_modify(|generation| *generation += 1);
    }
}

/// How often the watcher above looks.
const AUTHORITY_CHECK: std::time::Duration = std::time::Duration::from_millis(200);

/// Writes the audit head to the log now and then, so a copy lives outside the
/// database (`audit verify --expect-head` checks against it).
async fn log_head(broker: Arc<Broker>) {
    let mut tick = tokio::time::interval(
        std_duration(broker.config.limits.head_log_interval).max(std::time::Duration::from_secs(1)),
    );
    loop {
        tick.tick().await;
        match broker.blocking(|b| Ok(b.store.head()?)).await {
            Ok((seq, hash)) => tracing::info!("audit head {seq}:{hash}"),
            Err(err) => tracing::warn!("reading the audit head: {}", err.message),
        }
    }
}

/// Leaves one event per user and period saying how many refused attempts the rate
/// limit kept out of the log.
async fn record_dropped_refusals(broker: Arc<Broker>) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(5));
    loop {
        tick.tick().await;
        let dropped = broker.refusals.take_dropped(std::time::Instant::now());
        for (user, count) in dropped {
            let now = broker.now();
            let draft = EventDraft::new(crate::model::EventType::ReviewRefused, &user, now)
                .reason(format!(
                    "{count} more refused attempts were answered 429 and not recorded one by one"
                ))
                .field("error", ErrorCode::RateLimited.as_str())
                .field("dropped", count);
            if let Err(err) = broker
                .blocking(move |b| Ok(b.store.append_event(draft)?))
                .await
            {
                tracing::warn!("recording dropped refusals: {}", err.message);
            }
        }
    }
}

/// A connection cap at accept: past `permits`, a new connection is closed at once.
#[derive(Clone)]
struct Capped<A> {
    inner: A,
    permits: Arc<tokio::sync::Semaphore>,
}

impl<A> Capped<A> {
    fn new(inner: A, permits: Arc<tokio::sync::Semaphore>) -> Self {
        Capped { inner, permits }
    }
}

type Accepting<S, Svc> = std::pin::Pin<
    Box<dyn std::future::Future<Output = std::io::Result<(Held<S>, Svc)>> + Send + 'static>,
>;

impl<I, S, A> axum_server::accept::Accept<I, S> for Capped<A>
where
    A: axum_server::accept::Accept<I, S>,
    A::Future: Send + 'static,
    A::Stream: Send + 'static,
    A::Service: Send + 'static,
{
    type Stream = Held<A::Stream>;
    type Service = A::Service;
    type Future = Accepting<A::Stream, A::Service>;

    fn accept(&self, stream: I, service: S) -> Self::Future {
        let Ok(permit) = self.permits.clone().try_acquire_owned() else {
            drop(stream);
            return Box::pin(std::future::ready(Err(std::io::Error::other(
                "connection cap reached",
            ))));
        };
        let accepting = self.inner.accept(stream, service);
        Box::pin(async move {
            let (stream, service) = accepting.await?;
            Ok((
                Held {
                    stream,
                    _permit: permit,
                    unsent: None,
                },
                service,
            ))
        })
    }
}

/// Bytes the kernel may hold for one connection's unsent output. Without a bound
/// the kernel grows it to megabytes for a reader that has stopped, and the broker
/// goes on writing events to a subscriber that will never read them; bounded, the
/// subscriber's own budget runs out after a few hundred kilobytes and it is let go.
const SEND_BUFFER_BYTES: usize = 64 * 1024;

/// Sets the send buffer of each accepted connection.
#[derive(Clone, Copy)]
struct SendBuffer;

impl<S> axum_server::accept::Accept<tokio::net::TcpStream, S> for SendBuffer {
    type Stream = tokio::net::TcpStream;
    type Service = S;
    type Future = std::future::Ready<std::io::Result<(tokio::net::TcpStream, S)>>;

    fn accept(&self, stream: tokio::net::TcpStream, service: S) -> Self::Future {
        // Best effort: a socket that refuses keeps the kernel's default.
        let _ = socket2::SockRef::from(&stream).set_send_buffer_size(SEND_BUFFER_BYTES);
        std::future::ready(Ok((stream, service)))
    }
}

/// A connection holding its place under the cap until it closes. On its way out,
/// hyper's bare answer to a head it could not take is given the JSON error shape
/// (`heads::shaped_parse_error`); `unsent` holds that answer until it is written.
struct Held<S> {
    stream: S,
    _permit: tokio::sync::OwnedSemaphorePermit,
    unsent: Option<(Vec<u8>, usize)>,
}

impl<S: tokio::io::AsyncWrite + Unpin> Held<S> {
    /// Writes out what `unsent` holds, if anything.
    fn poll_unsent(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        while let Some((bytes, sent)) = &mut self.unsent {
            if *sent >= bytes.len() {
                self.unsent = None;
                break;
            }
            let n = std::task::ready!(
                std::pin::Pin::new(&mut self.stream).poll_write(cx, &bytes[*sent..])
            )?;
            if n == 0 {
                return std::task::Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
            }
            *sent += n;
        }
        std::task::Poll::Ready(Ok(()))
    }

    /// Takes `buf` as written if it is hyper's bare error answer, sending the shaped
    /// one in its place.
    fn poll_shaped(
        &mut self,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> Option<std::task::Poll<std::io::Result<usize>>> {
        let shaped = super::heads::shaped_parse_error(buf)?;
        self.unsent = Some((shaped, 0));
        Some(match self.poll_unsent(cx) {
            std::task::Poll::Ready(Err(e)) => std::task::Poll::Ready(Err(e)),
            // Taken: the rest goes out with the next write, flush or shutdown.
            _ => std::task::Poll::Ready(Ok(buf.len())),
        })
    }
}

impl<S: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for Held<S> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl<S: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for Held<S> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::task::ready!(self.poll_unsent(cx))?;
        if let Some(taken) = self.poll_shaped(cx, buf) {
            return taken;
        }
        std::pin::Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::ready!(self.poll_unsent(cx))?;
        std::pin::Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::ready!(self.poll_unsent(cx))?;
        std::pin::Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::task::ready!(self.poll_unsent(cx))?;
        if let Some(first) = bufs.iter().find(|b| !b.is_empty())
            && let Some(taken) = self.poll_shaped(cx, first)
        {
            return taken;
        }
        std::pin::Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
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
