//! The Tenant operator: reconciles `Tenant`s into isolated, guarded namespaces.
//!
//! [`Operator::bind`] + [`Operator::run`] is the whole program; `main` only parses flags, sets up
//! logging and waits for a signal. Tests run it in-process the same way.

pub mod backup;
pub mod cache;
pub mod context;
pub mod cost;
pub mod data;
pub mod domains;
pub mod error;
mod gate;
pub mod health;
pub mod io;
pub mod kinds;
pub mod leader;
pub mod metrics;
mod outage;
pub mod prstack;
pub mod pull_secrets;
pub mod reconcile;
pub mod releases;
pub mod restore;
pub mod shared;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};
use kube::Client;
use kube::api::{Api, ListParams};
use kube::runtime::controller::Config as ControllerConfig;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{Controller, WatchStreamExt, predicates, watcher};
use tenant_api::Tenant;
use tokio::sync::watch;
use tracing::{debug, error, info, warn};

pub use context::{Clock, Config};
pub use error::{Error, Result};
pub use health::Health;
pub use metrics::Metrics;

use crate::kinds::{Kinds, Triggers, strip_unread_metadata, watch_config};
use crate::reconcile::{Context, Watched};
use crate::shared::{FinalizerPolicyGate, Keeper, SharedPolicies};

/// A bound (not yet running) operator.
pub struct Operator {
    config: Config,
    client: Client,
    metrics: Arc<Metrics>,
    health: Health,
    server: health::Server,
}

impl Operator {
    /// Binds the metrics/health address; nothing talks to the cluster yet.
    pub async fn bind(config: Config, client: Client) -> Result<Operator> {
        let server = health::Server::bind(config.metrics_addr).await?;
        Ok(Operator {
            config,
            client,
            metrics: Arc::new(Metrics::new()),
            health: Health::default(),
            server,
        })
    }

    pub fn metrics(&self) -> Arc<Metrics> {
        self.metrics.clone()
    }

    pub fn health(&self) -> Health {
        self.health.clone()
    }

    /// The address `/metrics`, `/livez` and `/readyz` are served on.
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// Runs until `shutdown` resolves (graceful: in-flight reconciles finish) or the leader lease
    /// is lost (an error: the process should exit non-zero and be restarted).
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<()> {
        let Operator {
            config,
            client,
            metrics,
            health,
            server,
        } = self;
        let (stop_tx, stop_rx) = watch::channel(false);
        let stopped = move || {
            let mut rx = stop_rx.clone();
            async move {
                let _ = rx.wait_for(|s| *s).await;
            }
        };
        let stop_tx = Arc::new(stop_tx);
        let signal_tx = stop_tx.clone();
        let signal = tokio::spawn(async move {
            shutdown.await;
            let _ = signal_tx.send(true);
        });
        let server = tokio::spawn(server.serve(metrics.clone(), health.clone(), stopped()));

        let shell = Shell {
            config,
            client,
            metrics: metrics.clone(),
            health: health.clone(),
        };
        let result = shell.run_leading(stopped).await;

        let _ = stop_tx.send(true);
        signal.abort();
        health.set_ready(false);
        match server.await {
            Ok(Err(e)) => warn!(error = %e, "metrics server failed"),
            Err(e) => warn!(error = %e, "metrics server task failed"),
            Ok(Ok(())) => {}
        }
        result
    }
}

/// How long an API request may wait for its answer (its status line and headers; a watch's
/// come at once). The API server itself ends a request after 60 s; this catches a connection
/// that died silently, whose request would otherwise wait forever, in a reconcile that then
/// never ends. A request that times out fails like one refused, and is retried.
pub const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// How long a connection may bring nothing while the operator waits to read from it (an answer's
/// body, a watch's next event): longer than a watch lasts ([`kinds::WATCH_TIMEOUT_SECS`]), so
/// only a dead connection reaches it.
pub const READ_TIMEOUT: std::time::Duration =
    std::time::Duration::from_secs(kinds::WATCH_TIMEOUT_SECS as u64 + 15);

/// The operator's API client for `config`: every request answered within [`REQUEST_TIMEOUT`],
/// every read from a connection within [`READ_TIMEOUT`] of the last write or byte.
pub fn client(mut config: kube::Config) -> kube::Result<Client> {
    config.read_timeout = Some(READ_TIMEOUT);
    // Counted from the request, not from when its pooled connection last carried anything.
    config.reset_reader_on_write = true;
    let builder = kube::client::ClientBuilder::try_from(config)?;
    Ok(builder
        .with_layer(&tower::timeout::TimeoutLayer::new(REQUEST_TIMEOUT))
        .build())
}

/// What the running operator is made of, besides its HTTP server.
struct Shell {
    config: Config,
    client: Client,
    metrics: Arc<Metrics>,
    health: Health,
}

impl Shell {
    /// Waits for the leader lease (if elected), applies the shared objects, then runs the
    /// controller until `stopped` or until the lease is lost.
    async fn run_leading<S, F>(&self, stopped: S) -> Result<()>
    where
        S: Fn() -> F,
        F: Future<Output = ()> + Send + Sync + 'static,
    {
        let Shell {
            config,
            client,
            metrics,
            health,
        } = self;
        let elector = config
            .leader_elect
            .then(|| leader::LeaderElector::new(client.clone(), config, metrics.clone()));
        if let Some(le) = &elector {
            info!(lease = %config.lease_name, identity = %config.identity, "waiting for the leader lease");
            health.set_standby(true);
            tokio::select! {
                () = le.acquire() => {}
                () = stopped() => return Ok(()),
            }
            health.set_standby(false);
        }

        // The shared objects (admission policies, tenant ClusterRoles) go in before the
        // controller starts. If that fails (an API server without ValidatingAdmissionPolicy, a
        // policy it rejects), the tenants' own guardrails are still worth applying: keep retrying
        // in the background, hold every Tenant's PolicyReady (and so Ready) at False meanwhile,
        // and re-check all Tenants once they are in. Afterwards they are watched, and restored
        // when someone deletes or edits one.
        // After an outage of the API server, every Tenant is re-checked once it answers again,
        // and every watch retries at once (see outage.rs); the Tenant watch tells when one starts.
        let outage = outage::Outage::default();
        let keeper = Keeper {
            client: client.clone(),
            metrics: metrics.clone(),
            operator_user: config.operator_user.clone(),
            operator_namespace: config.operator_namespace.clone(),
            kinds: shared::served_kinds(client).await,
            gate: FinalizerPolicyGate::default(),
            state: SharedPolicies::default(),
            resumed: outage.resumed(),
        };
        let (all_tx, all_rx) = futures::channel::mpsc::unbounded::<()>();
        match keeper.apply().await {
            Ok(_) => keeper.state.set_ok(true),
            Err(e) => {
                let e = Error::SharedPolicies(Box::new(e));
                error!(error = %e, "shared admission policies not applied; retrying in the background");
                metrics.error(e.category());
            }
        }
        let shared = keeper.state.clone();
        let keeping = tokio::spawn(keeper.keep(all_tx.clone()));

        let controller_done = self.run_controller(shared, outage, (all_tx, all_rx), stopped());
        let lease_lost = async {
            match &elector {
                Some(le) => le.hold().await,
                None => std::future::pending().await,
            }
        };
        let result = tokio::select! {
            () = controller_done => {
                if let Some(le) = &elector {
                    le.release().await;
                }
                info!("controller stopped");
                Ok(())
            }
            // Dropping the controller future cancels in-flight reconciles: a replica that lost
            // the lease must stop writing at once.
            lost = lease_lost => Err(lost),
        };
        keeping.abort();
        result
    }

    /// The Tenant controller: one watch of Tenants, one watch per managed kind feeding its store
    /// and the triggers, and the reconcile.
    async fn run_controller<F>(
        &self,
        shared: SharedPolicies,
        outage: outage::Outage,
        (all_tx, all_rx): ReconcileAll,
        stopped: F,
    ) where
        F: Future<Output = ()> + Send + Sync + 'static,
    {
        let Shell {
            config,
            client,
            metrics,
            health,
        } = self;
        let tenants: Api<Tenant> = match &config.watch_namespace {
            Some(ns) => Api::namespaced(client.clone(), ns),
            None => Api::all(client.clone()),
        };
        // One watch of Tenants feeds the controller's store, its triggers, and the re-render of
        // the Tenants that grant a changed Tenant cross-tenant access (a second watch would hold
        // its own list pages). The store keeps Tenants without what the operator never reads
        // (managedFields, kubectl's last-applied copy of the spec).
        let (store, writer) = reflector::store::<Tenant>();
        let (grants_tx, grants_rx) = futures::channel::mpsc::unbounded::<ObjectRef<Tenant>>();
        let grants_store = store.clone();
        // Any Tenant change may change which tenant holds which domain.
        let (domains_tx, domains_rx) = watch::channel(());
        // A preview Tenant's every change (its status too) reconciles its PRStack.
        let (prstacks_tx, prstacks_rx) =
            futures::channel::mpsc::unbounded::<ObjectRef<tenant_api::PRStack>>();
        let follow_previews = config.prstacks;
        let resumed = outage.resumed();
        let noted = outage.clone();
        let probe_api = tenants.clone();
        let recovery = tokio::spawn(outage.recover(
            move || {
                let api = probe_api.clone();
                async move {
                    api.list_metadata(&ListParams::default().limit(1))
                        .await
                        .is_ok()
                }
            },
            all_tx.clone(),
        ));
        let tenant_stream =
            outage::backoff(watcher(tenants, watch_config().any_semantic()), &resumed)
                .modify(strip_unread_metadata)
                .reflect(writer)
                .touched_objects()
                .inspect_ok(move |_| domains_tx.send_replace(()))
                .inspect_ok(move |t: &Tenant| {
                    if follow_previews && let Some(r) = prstack::owner_of(t) {
                        let _ = prstacks_tx.unbounded_send(r);
                    }
                })
                // Only a new generation (a spec change, or the deletion mark) triggers: the
                // operator's own status writes and finalizer patch would otherwise each cause a
                // reconcile that has nothing to do. A restart still reconciles everything (the
                // filter starts empty), and the periodic resync covers what this skips.
                .predicate_filter(predicates::generation, Default::default())
                .inspect_ok(move |t: &Tenant| {
                    for r in granting_tenants(&grants_store, t) {
                        let _ = grants_tx.unbounded_send(r);
                    }
                })
                // The watch's errors end here: it retries with its own backoff (above), while the
                // controller would pause all its triggers on each one, with a backoff of its own
                // that grows to 30 s and more during an outage, holding back the re-check after it
                // and every owner trigger of the managed kinds' watches.
                .filter_map(move |event| {
                    futures::future::ready(match event {
                        Ok(t) => Some(Ok(t)),
                        Err(e) => {
                            noted.note(&e);
                            debug!(error = %e, "Tenant watch error (retrying)");
                            None
                        }
                    })
                });

        // The managed kinds: their events trigger their owners; a kind that becomes served (a
        // CRD installed later) or stops being served reconciles every Tenant, as does the
        // shared policies going in after a failed start.
        let kinds = Arc::new(Kinds::new());
        let (owners_tx, owners_rx) = futures::channel::mpsc::unbounded::<ObjectRef<Tenant>>();
        // The platform's registry credentials: a change reconciles every Tenant.
        let pull_secrets = pull_secrets::PullSecrets::new(config.pull_secrets.clone());
        let pull_all = all_tx.clone();
        let pull_task = tokio::spawn(pull_secrets.clone().follow(
            client.clone(),
            config.operator_namespace.clone(),
            resumed.clone(),
            move || {
                let _ = pull_all.unbounded_send(());
            },
        ));
        // The platform's release channels: a change reconciles every Tenant.
        let releases = releases::Releases::default();
        let releases_all = all_tx.clone();
        let releases_task = tokio::spawn(releases.clone().follow(
            client.clone(),
            config.operator_namespace.clone(),
            resumed.clone(),
            move || {
                let _ = releases_all.unbounded_send(());
            },
        ));
        // The platform's shared data servers: one going down or coming back reconciles every
        // Tenant (DataReady follows; a server that lost its users gets them back).
        let data = Arc::new(data::DataServers::new(
            client.clone(),
            config.operator_namespace.clone(),
            data::Registrations {
                redis: Some(config.redis_server.clone()).filter(|s| !s.is_empty()),
                nats: Some(config.nats_server.clone()).filter(|s| !s.is_empty()),
                mongo: Some(config.mongodb_server.clone()).filter(|s| !s.is_empty()),
            },
        ));
        let data_all = all_tx.clone();
        let data_task = tokio::spawn(data.clone().watch(move || {
            let _ = data_all.unbounded_send(());
        }));
        let triggers = Triggers {
            tenants: owners_tx,
            all: all_tx,
            scope: config.watch_namespace.clone(),
            store: store.clone(),
            resumed: resumed.clone(),
        };
        let watches = kinds.start(client, &triggers);
        // The tenants' Velero Backups, for BackupReady.
        let backups = Arc::new(backup::Backups::default());
        let backups_task = tokio::spawn(backups.clone().follow(
            client.clone(),
            config.backup.velero_namespace.clone(),
            triggers.clone(),
            metrics.clone(),
        ));
        let ctl = Controller::for_stream(tenant_stream, store.clone())
            .reconcile_on(grants_rx)
            .reconcile_on(owners_rx)
            .reconcile_all_on(all_rx);

        // The domain map: only an operator that sees every namespace's Tenants can write it.
        let domain_map = config.watch_namespace.is_none().then(|| {
            let keeper = domains::Keeper {
                client: client.clone(),
                config: config.clone(),
                store: store.clone(),
                metrics: metrics.clone(),
            };
            let store = store.clone();
            tokio::spawn(keeper.keep(async move { wait_until_ready(&store).await }, domains_rx))
        });
        let ready_kinds = kinds.wait_ready();
        let ready_store = store.clone();
        let ready_health = health.clone();
        let readiness = tokio::spawn(async move {
            debug!("waiting for the Tenant cache");
            let tenants_ok = wait_until_ready(&ready_store).await;
            debug!(tenants_ok, "Tenant cache synced");
            if ready_kinds.await && tenants_ok {
                ready_health.set_ready(true);
                info!("caches synced; ready");
            }
        });

        // Self-service restores, once the Tenants are known (a request is judged by the Tenant
        // whose namespace it is in).
        let restores = Arc::new(restore::RestoreContext {
            client: client.clone(),
            config: config.clone(),
            tenants: store.clone(),
            backups: backups.clone(),
            kinds: kinds.clone(),
            metrics: metrics.clone(),
            resumed: resumed.clone(),
        });
        let restore_store = store.clone();
        let restore_task = tokio::spawn(async move {
            if wait_until_ready(&restore_store).await {
                restore::run(restores, std::future::pending()).await;
            }
        });
        // Cost accounting, once the Tenants are known and the pods and claims are metered.
        let meter = Arc::new(cost::Meter::default());
        let meter_tasks = meter.start(client, &resumed);
        let accounting = Arc::new(cost::Accounting::new(
            client.clone(),
            config.clone(),
            store.clone(),
            meter,
            metrics.clone(),
            kinds.clone(),
        ));
        let cost_store = store.clone();
        let cost_task = tokio::spawn(async move {
            if wait_until_ready(&cost_store).await {
                accounting.run().await;
            }
        });
        let ctx = Arc::new(Context::new(
            client.clone(),
            config.clone(),
            metrics.clone(),
            Watched {
                kinds,
                tenants: store,
                shared,
                pull_secrets,
                releases,
                data,
                backups,
            },
        ));
        // The PRStack controller (opt-in), once the Tenants are known: a Tenant of a preview's
        // name not yet in the cache must not read as absent.
        let previews = config.prstacks.then(|| {
            let api: Api<tenant_api::PRStack> = match &config.watch_namespace {
                Some(ns) => Api::namespaced(client.clone(), ns),
                None => Api::all(client.clone()),
            };
            let pctx = Arc::new(prstack::Context {
                client: client.clone(),
                config: config.clone(),
                tenants: ctx.tenants.clone(),
                metrics: metrics.clone(),
            });
            let store = ctx.tenants.clone();
            let concurrency = config.concurrency;
            let pr_resumed = resumed.clone();
            async move {
                if !wait_until_ready(&store).await {
                    return;
                }
                info!("starting the PRStack controller");
                let cfg = watch_config().any_semantic();
                let (stacks, watch) = outage::controller_watch(api, cfg, &pr_resumed, "PRStack");
                Controller::for_stream(watch, stacks)
                    .reconcile_on(prstacks_rx)
                    .with_config(ControllerConfig::default().concurrency(concurrency))
                    .run(prstack::reconcile, prstack::error_policy, pctx)
                    .for_each(|res| async move {
                        if let Err(e) = res {
                            debug!(error = %e, "PRStack controller event");
                        }
                    })
                    .await;
            }
        });
        let previews = async move {
            if let Some(p) = previews {
                p.await;
            }
            std::future::pending::<()>().await;
        };
        info!(
            scope = config
                .watch_namespace
                .as_deref()
                .unwrap_or("all namespaces"),
            concurrency = config.concurrency,
            "starting the Tenant controller"
        );
        let tenants_done = ctl.with_config(ControllerConfig::default().concurrency(config.concurrency))
            .graceful_shutdown_on(stopped)
            .run(reconcile::reconcile, reconcile::error_policy, ctx)
            .for_each(|res| async move {
                match res {
                    Ok((obj, _)) => debug!(tenant = %obj, "reconciled"),
                    Err(kube::runtime::controller::Error::ObjectNotFound(obj)) => {
                        debug!(tenant = %obj, "trigger for a Tenant not in the cache (deleted or out of scope)")
                    }
                    Err(e) => debug!(error = %e, "controller event"),
                }
            });
        // The PRStack controller stops with the Tenant controller.
        tokio::select! {
            () = tenants_done => {}
            () = previews => {}
        }
        readiness.abort();
        recovery.abort();
        pull_task.abort();
        releases_task.abort();
        data_task.abort();
        backups_task.abort();
        restore_task.abort();
        cost_task.abort();
        for task in meter_tasks {
            task.abort();
        }
        if let Some(task) = domain_map {
            task.abort();
        }
        drop(watches);
    }
}

/// The channel that makes the controller reconcile every Tenant.
type ReconcileAll = (
    futures::channel::mpsc::UnboundedSender<()>,
    futures::channel::mpsc::UnboundedReceiver<()>,
);

/// Tenants that grant cross-tenant access to `changed`'s tenantId (their RoleBindings name its users).
fn granting_tenants(store: &Store<Tenant>, changed: &Tenant) -> Vec<ObjectRef<Tenant>> {
    store
        .state()
        .iter()
        .filter(|t| t.metadata.uid != changed.metadata.uid)
        .filter(|t| {
            t.spec.rbac.as_ref().is_some_and(|r| {
                r.allow_cross_tenant_access == Some(true)
                    && r.allowed_tenants
                        .iter()
                        .flatten()
                        .any(|id| *id == changed.spec.tenant_id)
            })
        })
        .map(|t| ObjectRef::from_obj(&**t))
        .collect()
}

/// Waits until `store` has its initial list (false if its writer was dropped).
///
/// `Store::wait_until_ready` wakes only the *last* of several concurrent waiters (its readiness
/// is a oneshot channel with one waker slot), and the controller's applier already waits on the
/// Tenant store: so re-poll on a short timer instead of relying on the wake-up.
async fn wait_until_ready(store: &Store<Tenant>) -> bool {
    loop {
        match tokio::time::timeout(
            std::time::Duration::from_millis(200),
            store.wait_until_ready(),
        )
        .await
        {
            Ok(result) => return result.is_ok(),
            Err(_elapsed) => continue,
        }
    }
}
