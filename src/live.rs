//! The loaded configuration, swapped whole at run time by SIGHUP or `POST /admin/reload`.
//!
//! A reload reads and compiles the file completely before anything changes; an invalid file is
//! refused with every error and the running config stays. A valid one is swapped in with three
//! atomic pointer stores, destinations first, so an event accepted under the new routes always
//! finds its destination. Requests in flight keep the routes they started with.
//!
//! Sources, destinations, secrets, the admin tokens (`admin_token`, `admin_tokens`,
//! `metrics_require_token`) and `[quarantine]` reload. The listeners, `trusted_proxies`, the
//! global limits and `[storage]` are fixed for the life of the process: a change to them is
//! reported as needing a restart and otherwise ignored. Rate-limit buckets start full after a
//! reload (they belong to the compiled source).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::config::{AdminToken, Config};
use crate::delivery::Registry;
use crate::delivery::control::Control;
use crate::delivery::handoff::Handoff;
use crate::pipeline::quarantine::Tap;
use crate::pipeline::{self, CompiledSource, stack::Routes};
use crate::store::{AuditAction, NewAudit, NewRefusal, Store};

/// What a loaded config compiles to.
pub struct Compiled {
    pub config: Config,
    pub sources: Vec<Arc<CompiledSource>>,
    pub registry: Registry,
}

impl Compiled {
    /// Compiles every source and destination, collecting every error (for `hookwall check`).
    pub fn new(config: Config) -> Result<Compiled, Vec<String>> {
        let sources = pipeline::compile(&config);
        let registry = Registry::build(&config);
        match (sources, registry) {
            (Ok(sources), Ok(registry)) => Ok(Compiled {
                config,
                sources,
                registry,
            }),
            (sources, registry) => Err(sources
                .err()
                .into_iter()
                .flatten()
                .chain(registry.err().into_iter().flatten())
                .collect()),
        }
    }

    /// Loads and compiles the file at `path`.
    pub fn load(path: &Path) -> Result<Compiled, Vec<String>> {
        let config = Config::load(path)
            .map_err(|errors| errors.0.iter().map(|e| e.to_string()).collect::<Vec<_>>())?;
        Compiled::new(config)
    }
}

/// What the admin API and the pipeline see of the current config.
pub struct Snapshot {
    pub config: Config,
    pub sources: Vec<Arc<CompiledSource>>,
}

impl Snapshot {
    pub fn source(&self, name: &str) -> Option<&Arc<CompiledSource>> {
        self.sources.iter().find(|s| s.name.as_ref() == name)
    }

    /// Every admin token, `server.admin_token` (as `admin`) included.
    pub fn admin_tokens(&self) -> &[AdminToken] {
        &self.config.server.admin_tokens
    }
}

/// The outcome of a successful reload.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Reloaded {
    pub sources: usize,
    pub warnings: Vec<String>,
    /// Keys that changed but take effect only after a restart.
    pub restart_needed: Vec<&'static str>,
}

pub struct Live {
    path: PathBuf,
    store: Arc<dyn Store>,
    snapshot: ArcSwap<Snapshot>,
    pub routes: Arc<ArcSwap<Routes>>,
    pub registry: Arc<ArcSwap<Registry>>,
    /// The destinations' pause and circuit state (not reloaded: it outlives any config).
    pub control: Arc<Control>,
    /// Where the accept path hands new events to this instance's worker, if anywhere: every
    /// generation's registry carries it.
    handoff: Option<Arc<Handoff>>,
    /// Where refused requests go to the quarantine writer (every generation's tap sends there).
    refusals: tokio::sync::mpsc::Sender<NewRefusal>,
    /// One reload at a time: two racing reloads must not interleave their three stores.
    reloading: tokio::sync::Mutex<()>,
}

impl Live {
    /// The running config of `compiled`, on `store`, its events handed to the worker that
    /// `handoff` serves, under the destinations' state `control`; its refusals sent to the
    /// quarantine writer through `refusals`.
    pub fn new(
        compiled: Compiled,
        store: Arc<dyn Store>,
        control: Arc<Control>,
        handoff: Option<Arc<Handoff>>,
        refusals: tokio::sync::mpsc::Sender<NewRefusal>,
    ) -> Live {
        let Compiled {
            config,
            sources,
            registry,
        } = compiled;
        let registry = Arc::new(registry.with_handoff(handoff.clone()));
        let tap = Tap::new(
            &config.quarantine,
            refusals.clone(),
            store.fingerprint_key(),
        );
        Live {
            path: config.path.clone(),
            routes: Arc::new(ArcSwap::from_pointee(Routes::new(
                &sources, &store, &registry, tap,
            ))),
            refusals,
            registry: Arc::new(ArcSwap::new(registry)),
            control,
            handoff,
            snapshot: ArcSwap::from_pointee(Snapshot { config, sources }),
            store,
            reloading: tokio::sync::Mutex::new(()),
        }
    }

    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.load_full()
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Re-reads the config file; swaps it in when it is valid, else keeps the running one.
    pub async fn reload(&self) -> Result<Reloaded, Vec<String>> {
        let _one_at_a_time = self.reloading.lock().await;
        let path = self.path.clone();
        // Reading the file and the schemas is blocking file I/O.
        let compiled = tokio::task::spawn_blocking(move || Compiled::load(&path))
            .await
            .map_err(|err| vec![format!("reload task failed: {err}")])??;
        let restart_needed = fixed_changes(&self.snapshot.load().config, &compiled.config);
        let Compiled {
            config,
            sources,
            registry,
        } = compiled;
        let reloaded = Reloaded {
            sources: sources.len(),
            warnings: config.warnings.clone(),
            restart_needed,
        };
        let registry = Arc::new(registry.with_handoff(self.handoff.clone()));
        let tap = Tap::new(
            &config.quarantine,
            self.refusals.clone(),
            self.store.fingerprint_key(),
        );
        let routes = Routes::new(&sources, &self.store, &registry, tap);
        self.registry.store(registry);
        self.snapshot.store(Arc::new(Snapshot { config, sources }));
        self.routes.store(Arc::new(routes));
        Ok(reloaded)
    }

    /// [`Live::reload`] with its outcome logged: what SIGHUP does.
    pub async fn reload_logged(&self) -> Result<Reloaded, Vec<String>> {
        let outcome = self.reload().await;
        match &outcome {
            Ok(reloaded) => {
                for warning in &reloaded.warnings {
                    tracing::warn!("CONFIG WARNING: {warning}");
                }
                if !reloaded.restart_needed.is_empty() {
                    tracing::warn!(
                        keys = ?reloaded.restart_needed,
                        "these settings changed but take effect only after a restart"
                    );
                }
                tracing::info!(
                    sources = reloaded.sources,
                    path = %self.path.display(),
                    "configuration reloaded"
                );
            }
            Err(errors) => tracing::error!(
                path = %self.path.display(),
                errors = %errors.join("; "),
                "configuration reload refused; the running configuration stays"
            ),
        }
        outcome
    }
}

impl Live {
    /// [`Live::reload_logged`], recorded in the audit trail as `actor`'s `reload` of the config
    /// file with its outcome (`ok`, or `refused errors=N`). A reload changes nothing in the
    /// store, so the record is one of its own, written after the reload: a store that cannot
    /// take it does not undo the reload, and the log says the record is missing.
    pub async fn reload_audited(
        &self,
        actor: &str,
        client_ip: Option<std::net::IpAddr>,
    ) -> Result<Reloaded, Vec<String>> {
        let outcome = self.reload_logged().await;
        let result = match &outcome {
            Ok(_) => "ok".to_owned(),
            Err(errors) => format!("refused errors={}", errors.len()),
        };
        let target = self.path.display().to_string();
        let audit = NewAudit::new(actor, AuditAction::Reload, &target, &result, client_ip);
        if let Err(err) = self.store.append_audit(&audit).await {
            tracing::error!(error = %err, actor, outcome = %result, "the reload's audit record could not be written");
        }
        outcome
    }
}

/// The settings a reload cannot change, by key, that differ between `old` and `new`.
fn fixed_changes(old: &Config, new: &Config) -> Vec<&'static str> {
    let (a, b) = (&old.server, &new.server);
    let mut changed = Vec::new();
    let mut note = |key, differs: bool| {
        if differs {
            changed.push(key);
        }
    };
    note("server.listen", a.listen != b.listen);
    note("server.admin_listen", a.admin_listen != b.admin_listen);
    note(
        "server.trusted_proxies",
        a.trusted_proxies != b.trusted_proxies,
    );
    note("server.max_in_flight", a.max_in_flight != b.max_in_flight);
    note(
        "server.request_timeout",
        a.request_timeout != b.request_timeout,
    );
    note(
        "server.shutdown_timeout",
        a.shutdown_timeout != b.shutdown_timeout,
    );
    note("storage.url", old.storage.url != new.storage.url);
    note(
        "storage.retention",
        old.storage.retention != new.storage.retention,
    );
    note(
        "storage.dedup_window",
        old.storage.dedup_window != new.storage.dedup_window,
    );
    note("storage.lease", old.storage.lease != new.storage.lease);
    note(
        "storage.max_connections",
        old.storage.max_connections != new.storage.max_connections,
    );
    changed
}

/// Reloads on every SIGHUP until the process ends.
#[cfg(unix)]
pub async fn reload_on_sighup(live: Arc<Live>) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangups = match signal(SignalKind::hangup()) {
        Ok(signal) => signal,
        Err(err) => {
            tracing::error!(error = %err, "cannot listen for SIGHUP; reload with POST /admin/reload");
            return;
        }
    };
    while hangups.recv().await.is_some() {
        tracing::info!("SIGHUP: reloading the configuration");
        // Whoever sent the signal has no token: the trail names the signal.
        let _ = live.reload_audited("SIGHUP", None).await;
    }
}

#[cfg(not(unix))]
pub async fn reload_on_sighup(_live: Arc<Live>) {}
