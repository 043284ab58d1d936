//! The application as a library: [`App::build`] opens the store, compiles the config and binds
//! the listener; [`App::run`] serves until the shutdown future the caller passes resolves.
//! Tests build it on port 0 with a temporary SQLite file and drive it over real HTTP.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use arc_swap::ArcSwap;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tower::ServiceExt;

use crate::clock::now_ms;
use crate::config::{Config, Storage, StoreUrl};
use crate::delivery::control::Control;
use crate::delivery::handoff::{Handoff, Inbox};
use crate::delivery::worker::Worker;
use crate::live::{Compiled, Live};
use crate::pipeline::{framing, stack};
use crate::store::{PostgresStore, SqliteStore, Store};

/// How long a client may take to send its request line and headers. Not a config key: no
/// provider needs more, and a slowloris client gets less.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// hyper's limit on header count; beyond it the request gets 431.
const MAX_HEADERS: usize = 100;
/// The largest request head (request line and headers) hyper accepts; beyond it the request gets
/// 431. Set as hyper's `max_header_size`, which checks the parsed head: the read buffer limit
/// alone is checked only while the head is incomplete, and one read can take the buffer past it.
const MAX_HEAD_BYTES: usize = 64 * 1024;
/// How often idle rate-limit buckets are forgotten.
const PRUNE_EVERY: Duration = Duration::from_secs(60);
/// How often delivered bodies past `retention`, and dedup keys past `dedup_window`, are purged.
const PURGE_EVERY: Duration = Duration::from_secs(300);

pub struct App {
    public: TcpListener,
    public_addr: SocketAddr,
    admin: TcpListener,
    admin_addr: SocketAddr,
    router: stack::PublicService,
    live: Arc<Live>,
    retention: Duration,
    dedup_window: Duration,
    lease: Duration,
    shutdown_timeout: Duration,
    /// The delivery worker's identity on its claims.
    owner: String,
    /// What the accept path hands the worker (SQLite only).
    inbox: Option<Inbox>,
    /// The refusals the pipeline captured, for the quarantine writer.
    refusals: tokio::sync::mpsc::Receiver<crate::store::NewRefusal>,
}

impl App {
    pub async fn build(config: Config) -> anyhow::Result<App> {
        let compiled =
            Compiled::new(config).map_err(|errors| anyhow::anyhow!(errors.join("\n")))?;
        let server = compiled.config.server.clone();
        let storage = compiled.config.storage.clone();
        let store = open_store(&storage).await?;
        let (public, public_addr) = bind("server.listen", &server.listen).await?;
        let (admin, admin_addr) = bind("server.admin_listen", &server.admin_listen).await?;
        // The process id makes a lease's owner findable from the database (which instance holds
        // these claims?); the UUID keeps owners unique across hosts and restarts.
        let owner = format!("{}-{}", std::process::id(), uuid::Uuid::now_v7());
        let control = Arc::new(Control::new(store.clone()));
        // The hand-off only where one process uses the store (SQLite): there a pause is made
        // through this instance's own view, which every handed-over delivery is checked
        // against after its commit. With PostgreSQL another instance's pause reaches this view
        // only at its next refresh, and the store's claim must stay the one that holds it.
        let (handoff, inbox) = match storage.url {
            StoreUrl::Sqlite(_) => {
                let (handoff, inbox) = Handoff::new(owner.clone(), storage.lease, control.clone());
                (Some(handoff), Some(inbox))
            }
            StoreUrl::Postgres(_) => (None, None),
        };
        // The quarantine's channel: its taps (one per config generation) send, the writer drains.
        let (refusals, refusals_writer) =
            crate::quarantine::channel(compiled.config.quarantine.sample_bytes);
        let live = Arc::new(Live::new(
            compiled,
            store.clone(),
            control,
            handoff,
            refusals,
        ));
        let router = stack::public_router(stack::Public {
            routes: live.routes.clone(),
            store,
            trusted_proxies: server.trusted_proxies.clone().into(),
            max_in_flight: server.max_in_flight,
            max_in_flight_per_client: server.max_in_flight_per_client.unwrap_or_else(|| {
                crate::config::frontdoor::default_per_client(server.max_in_flight)
            }),
            client_prefix: server.client_prefix,
            request_timeout: server.request_timeout,
        });
        Ok(App {
            public,
            public_addr,
            admin,
            admin_addr,
            router,
            live,
            retention: storage.retention,
            dedup_window: storage.dedup_window,
            lease: storage.lease,
            shutdown_timeout: server.shutdown_timeout,
            owner,
            inbox,
            refusals: refusals_writer,
        })
    }

    /// The address the public listener is bound to (the real port when the config said 0).
    pub fn public_addr(&self) -> SocketAddr {
        self.public_addr
    }

    /// The address of the admin listener.
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_addr
    }

    /// The running configuration, for reloads from outside (tests, signals).
    pub fn live(&self) -> Arc<Live> {
        self.live.clone()
    }

    /// Serves until `shutdown` resolves, then stops accepting, lets in-flight requests finish
    /// (at most `server.shutdown_timeout`), lets deliveries finish or releases their claims, and
    /// closes the store after its last commit.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        tracing::info!(public_addr = %self.public_addr, admin_addr = %self.admin_addr, "hookwall listening");
        let store = self.live.store().clone();
        let background = [
            tokio::spawn(prune_limiters(self.live.routes.clone())),
            tokio::spawn(purge(store.clone(), self.retention, self.dedup_window)),
            tokio::spawn(crate::live::reload_on_sighup(self.live.clone())),
        ];
        // The refusal quarantine's writer (batches, the per-source bound, retention): stopped,
        // not aborted, so the records it has queued are written.
        let (stop_quarantine, quarantine_stop) = tokio::sync::watch::channel(false);
        let quarantine = tokio::spawn(crate::quarantine::run(
            self.live.clone(),
            self.refusals,
            quarantine_stop,
        ));
        let (stop_worker, worker_stop) = tokio::sync::watch::channel(false);
        let worker = tokio::spawn(
            Worker {
                store: store.clone(),
                registry: self.live.registry.clone(),
                control: self.live.control.clone(),
                owner: self.owner,
                lease: self.lease,
                shutdown_timeout: self.shutdown_timeout,
                inbox: self.inbox,
            }
            .run(worker_stop),
        );
        let (stop_listeners, listeners_stop) = tokio::sync::watch::channel(false);
        let admin_server = tokio::spawn(serve(
            self.admin,
            // The operator console (SPEC section 11) beside the admin API on its listener: its
            // own sessions, not the bearer token, and nothing of it on the public listener.
            crate::admin::router(self.live.clone())
                .merge(crate::console::router(self.live.clone())),
            listeners_stop.clone(),
            self.shutdown_timeout,
        ));
        let public_server = tokio::spawn(serve(
            self.public,
            self.router,
            listeners_stop,
            self.shutdown_timeout,
        ));
        shutdown.await;
        tracing::info!("shutting down: finishing in-flight requests");
        let _ = stop_listeners.send(true);
        for server in [public_server, admin_server] {
            if let Err(err) = server.await {
                tracing::error!(error = %err, "listener task failed");
            }
        }
        for task in background {
            task.abort();
        }
        // After the listeners: no request is being refused any more, so what is queued is all.
        // The writer bounds its own drain (`quarantine::DRAIN_WITHIN`).
        let _ = stop_quarantine.send(true);
        if let Err(err) = quarantine.await {
            tracing::error!(error = %err, "quarantine writer failed");
        }
        // Deliveries after requests: the last accepted events are stored before the worker stops.
        let _ = stop_worker.send(true);
        if let Err(err) = worker.await {
            tracing::error!(error = %err, "delivery worker failed");
        }
        store.close().await;
        tracing::info!("stopped");
        Ok(())
    }
}

async fn bind(key: &str, address: &str) -> anyhow::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind(address)
        .await
        .with_context(|| format!("{key}: cannot bind {address}"))?;
    let addr = listener
        .local_addr()
        .with_context(|| format!("{key}: no local address"))?;
    Ok((listener, addr))
}

/// Accepts connections until `stop` turns true, then lets open connections finish their
/// request (at most `drain`).
async fn serve<S>(
    listener: TcpListener,
    router: S,
    mut stop: tokio::sync::watch::Receiver<bool>,
    drain: Duration,
) where
    S: tower::Service<
            axum::extract::Request,
            Response = axum::response::Response,
            Error = Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_headers(MAX_HEADERS)
        .max_header_size(MAX_HEAD_BYTES)
        .max_buf_size(MAX_HEAD_BYTES);
    loop {
        if *stop.borrow() {
            break;
        }
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(err) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(error = %err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            changed = stop.changed() => match changed {
                Ok(()) => continue,
                // The sender is gone: nobody can stop us more clearly than that.
                Err(_) => break,
            },
        };
        let router = router.clone();
        // What hyper drops from a head (Content-Length beside Transfer-Encoding) is read off the
        // wire as it passes; each request takes its head's verdict, in order.
        let verdicts = framing::Verdicts::default();
        let stream = framing::Watched::new(stream, verdicts.clone());
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            request.extensions_mut().insert(verdicts.next());
            router.clone().oneshot(request.map(axum::body::Body::new))
        });
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(error = %err, %peer, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(drain, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            ?drain,
            "in-flight requests still running at shutdown_timeout; closing"
        );
    }
}

async fn open_store(storage: &Storage) -> anyhow::Result<Arc<dyn Store>> {
    match &storage.url {
        StoreUrl::Sqlite(path) => {
            let store = SqliteStore::open(path).await.with_context(|| {
                format!(
                    "storage.url: cannot open SQLite database {}",
                    path.display()
                )
            })?;
            Ok(Arc::new(store))
        }
        StoreUrl::Postgres(url) => {
            // The URL may hold a password: the message names the key, never the value.
            let store = PostgresStore::open(url, storage.max_connections)
                .await
                .context("storage.url: cannot open the PostgreSQL database")?;
            Ok(Arc::new(store))
        }
    }
}

async fn prune_limiters(routes: Arc<ArcSwap<stack::Routes>>) {
    let mut tick = tokio::time::interval(PRUNE_EVERY);
    loop {
        tick.tick().await;
        for limiter in routes.load().limiters() {
            limiter.prune();
        }
    }
}

async fn purge(store: Arc<dyn Store>, retention: Duration, dedup_window: Duration) {
    let mut tick = tokio::time::interval(PURGE_EVERY);
    loop {
        tick.tick().await;
        let ago =
            |d: Duration| now_ms().saturating_sub(i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        // Dedup keys outlive bodies: a key is forgotten only once both windows have passed.
        match store
            .purge(ago(retention), ago(retention.max(dedup_window)))
            .await
        {
            Ok(purged) if purged.bodies + purged.events > 0 => {
                tracing::info!(
                    bodies = purged.bodies,
                    events = purged.events,
                    "purged delivered events"
                );
            }
            Ok(_) => {}
            Err(err) => tracing::warn!(error = %err, "purge failed; will try again"),
        }
    }
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %err, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
