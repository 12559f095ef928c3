//! The Tenant operator: reconciles `Tenant`s into isolated, guarded namespaces.
//!
//! [`Operator::bind`] + [`Operator::run`] is the whole program; `main` only parses flags, sets up
//! logging and waits for a signal. Tests run it in-process the same way.

pub mod apply;
pub mod cache;
pub mod conflict;
pub mod context;
pub mod controller;
pub mod error;
pub mod health;
pub mod leader;
pub mod metrics;
pub mod status;
pub mod validation;

use std::fmt::Debug;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{LimitRange, Namespace, ResourceQuota, ServiceAccount};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::Api;
use kube::runtime::controller::Config as ControllerConfig;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{Controller, WatchStreamExt, predicates, watcher};
use kube::{Client, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tenant_api::{Tenant, TenantPolicy, labels};
use tenant_core::build::{self, BuildContext};
use tokio::sync::watch;
use tracing::{debug, error, info, warn};

pub use context::Config;
pub use error::{Error, Result};
pub use health::Health;
pub use metrics::Metrics;

use crate::apply::{Resolver, is_subset};
use crate::cache::Caches;
use crate::controller::Context;

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

        let result = run_leading(&config, &client, &metrics, &health, stopped).await;

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

async fn run_leading<S, F>(
    config: &Config,
    client: &Client,
    metrics: &Arc<Metrics>,
    health: &Health,
    stopped: S,
) -> Result<()>
where
    S: Fn() -> F,
    F: Future<Output = ()> + Send + Sync + 'static,
{
    let elector = config.leader_elect.then(|| {
        leader::LeaderElector::new(
            client.clone(),
            &config.lease_namespace,
            &config.lease_name,
            &config.identity,
            config.lease_duration,
            config.lease_renew,
            metrics.clone(),
        )
    });
    if let Some(le) = &elector {
        info!(lease = %config.lease_name, identity = %config.identity, "waiting for the leader lease");
        health.set_standby(true);
        tokio::select! {
            () = le.acquire() => {}
            () = stopped() => return Ok(()),
        }
        health.set_standby(false);
    }

    let resolver = Arc::new(Resolver::default());
    // The shared objects (admission policies, tenant ClusterRoles) go in before the controller
    // starts. If that fails (an API server without ValidatingAdmissionPolicy, a policy it
    // rejects), the tenants' own guardrails are still worth applying: keep retrying in the
    // background, hold every Tenant's PolicyReady (and so Ready) at False meanwhile, and
    // re-check all Tenants once they are in. Afterwards they are watched, and restored when
    // someone deletes or edits one.
    let shared = SharedPolicies::default();
    let gate = FinalizerPolicyGate::default();
    let (shared_done_tx, shared_done_rx) = futures::channel::mpsc::unbounded::<()>();
    match apply_shared_objects(client, &resolver, metrics, &config.operator_user, &gate).await {
        Ok(_) => shared.set_ok(true),
        Err(e) => {
            let e = Error::SharedPolicies(Box::new(e));
            error!(error = %e, "shared admission policies not applied; retrying in the background");
            metrics.error(e.category());
        }
    }
    let keeper = tokio::spawn(keep_shared_objects(
        client.clone(),
        resolver.clone(),
        metrics.clone(),
        shared.clone(),
        config.operator_user.clone(),
        gate,
        shared_done_tx,
    ));

    let deps = ControllerDeps {
        resolver,
        shared,
        shared_done: shared_done_rx,
    };
    let controller_done = run_controller(config, client, metrics, health, deps, stopped());
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
        // Dropping the controller future cancels in-flight reconciles: a replica that lost the
        // lease must stop writing at once.
        lost = lease_lost => Err(lost),
    };
    keeper.abort();
    result
}

/// Keeps the shared objects in place: retries until they are applied (then tells the
/// controller through `done`), and re-applies them whenever one of them changes or disappears.
async fn keep_shared_objects(
    client: Client,
    resolver: Arc<Resolver>,
    metrics: Arc<Metrics>,
    shared: SharedPolicies,
    operator_user: String,
    gate: FinalizerPolicyGate,
    done: futures::channel::mpsc::UnboundedSender<()>,
) {
    let apply = || apply_shared_until_done(&client, &resolver, &metrics, &operator_user, &gate);
    if !shared.ok() {
        tokio::time::sleep(SHARED_RETRY).await;
        apply().await;
        shared.set_ok(true);
        let _ = done.unbounded_send(());
    }
    // The gate opening is one more reason to apply (that is when the finalizer policy goes in).
    let opened = futures::stream::once(gate.clone().open_when_safe(client.clone())).boxed();
    let mut changes =
        futures::stream::select(shared_object_changes(&client, &resolver).await, opened);
    while changes.next().await.is_some() {
        // A burst of changes (a kubectl delete of several) is one re-apply.
        while let Ok(Some(_)) =
            tokio::time::timeout(Duration::from_millis(200), changes.next()).await
        {}
        apply().await;
    }
}

/// The first wait before applying the shared objects again after a failure; it doubles up to
/// five minutes.
const SHARED_RETRY: Duration = Duration::from_secs(5);

/// Applies the shared objects, retrying with backoff until it succeeds.
async fn apply_shared_until_done(
    client: &Client,
    resolver: &Resolver,
    metrics: &Metrics,
    operator_user: &str,
    gate: &FinalizerPolicyGate,
) {
    let mut delay = SHARED_RETRY;
    while let Err(e) = apply_shared_objects(client, resolver, metrics, operator_user, gate).await {
        let e = Error::SharedPolicies(Box::new(e));
        warn!(error = %e, retry_in = ?delay, "shared objects not applied; retrying");
        metrics.error(e.category());
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(300));
    }
}

/// One item per change to a shared object (the operator's label selects them): an edit, a
/// deletion, or a (re)list, whose end also counts, since the objects may have changed while the
/// watch was not running. Optional kinds the cluster does not serve are not watched.
async fn shared_object_changes(
    client: &Client,
    resolver: &Resolver,
) -> futures::stream::BoxStream<'static, ()> {
    use k8s_openapi::api::admissionregistration::v1::{
        ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding,
    };
    use k8s_openapi::api::rbac::v1::ClusterRole;
    use kube::api::{ApiResource, DynamicObject};
    fn changes(client: &Client, ar: &ApiResource) -> futures::stream::BoxStream<'static, ()> {
        let cfg = watch_config().labels(&cache::managed_selector());
        watcher(Api::<DynamicObject>::all_with(client.clone(), ar), cfg)
            .default_backoff()
            .filter_map(|event| {
                let changed = matches!(
                    event,
                    Ok(watcher::Event::Apply(_)
                        | watcher::Event::Delete(_)
                        | watcher::Event::InitDone)
                );
                futures::future::ready(changed.then_some(()))
            })
            .boxed()
    }
    let mut kinds = vec![
        ApiResource::erase::<ValidatingAdmissionPolicy>(&()),
        ApiResource::erase::<ValidatingAdmissionPolicyBinding>(&()),
        ApiResource::erase::<ClusterRole>(&()),
    ];
    for kind in build::finalizer::KINDS {
        match resolver
            .resolve(
                client,
                &Caches::default(),
                build::finalizer::API_VERSION,
                kind,
            )
            .await
        {
            Ok(ar) => kinds.push(ar),
            Err(e) => debug!(kind, error = %e, "optional shared kind not watched"),
        }
    }
    futures::stream::select_all(kinds.iter().map(|ar| changes(client, ar))).boxed()
}

/// Whether the shared admission policies are in place (PolicyReady depends on it).
#[derive(Clone, Default)]
pub struct SharedPolicies(Arc<AtomicBool>);

impl SharedPolicies {
    pub fn set_ok(&self, ok: bool) {
        self.0.store(ok, Ordering::SeqCst);
    }
    pub fn ok(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// When the finalizer's MutatingAdmissionPolicy may go in.
///
/// The API server's mutating-policy plugin needs the schema of the kind it mutates, which it
/// reads from its own `/openapi/v3`, polled every 5 seconds. Until it has the Tenant schema, a
/// matching policy makes every Tenant create fail with 503 ("Resource kind ... not found"),
/// whatever its `failurePolicy`: right after the CRDs are installed, `kubectl apply` of a Tenant
/// would fail. So the policy is applied only once `/openapi/v3` has published the Tenant group
/// version and one more poll period has passed. Until then the operator adds finalizers itself.
#[derive(Clone, Default)]
pub struct FinalizerPolicyGate(Arc<AtomicBool>);

/// The plugin's poll period (5 s) and a margin.
const OPENAPI_SETTLE: Duration = Duration::from_secs(7);

impl FinalizerPolicyGate {
    pub fn is_open(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    /// Waits until the Tenant schema has been in `/openapi/v3` for a poll period, then opens.
    pub async fn open_when_safe(self, client: Client) {
        let path = format!("apis/{}/{}", tenant_api::GROUP, tenant_api::VERSION);
        loop {
            match openapi_paths(&client).await {
                Ok(paths) if paths.iter().any(|p| p == &path) => break,
                Ok(_) => debug!(%path, "not yet in /openapi/v3"),
                Err(e) => debug!(error = %e, "reading /openapi/v3"),
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        tokio::time::sleep(OPENAPI_SETTLE).await;
        self.0.store(true, Ordering::SeqCst);
        info!("Tenant schema published; the finalizer policy may be applied");
    }
}

/// The group-version paths `/openapi/v3` lists.
async fn openapi_paths(client: &Client) -> std::result::Result<Vec<String>, kube::Error> {
    let req = axum::http::Request::get("/openapi/v3")
        .body(Vec::new())
        .map_err(kube::Error::HttpError)?;
    let v: Value = client.request(req).await?;
    Ok(v.get("paths")
        .and_then(Value::as_object)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default())
}

/// Applies the cluster-wide shared objects, skipping those already in place (and the optional
/// ones the cluster does not serve, or whose time has not come: see [`FinalizerPolicyGate`]).
pub async fn apply_shared_objects(
    client: &Client,
    resolver: &Resolver,
    metrics: &Metrics,
    operator_user: &str,
    gate: &FinalizerPolicyGate,
) -> Result<usize> {
    let bctx = BuildContext {
        other_tenants: &[],
        operator_user,
    };
    let objects = build::shared_objects(&bctx).map_err(Error::Build)?;
    let caches = Caches::default();
    let mut applied = 0;
    for obj in &objects {
        if build::finalizer::is_policy_object(obj) && !gate.is_open() {
            continue;
        }
        let ar = match resolver
            .resolve(client, &caches, &obj.api_version, &obj.kind)
            .await
        {
            Ok(ar) => ar,
            // Kubernetes before 1.36 has no MutatingAdmissionPolicy: the operator then adds the
            // Tenant finalizer itself, on the first reconcile.
            Err(Error::Discovery { source, .. })
                if build::finalizer::is_policy_object(obj) && controller::not_served(&source) =>
            {
                debug!(kind = %obj.kind, "not served; the operator adds finalizers itself");
                continue;
            }
            Err(e) => return Err(e),
        };
        let live = apply::get_live(client, &ar, obj.namespace.as_deref(), &obj.name).await?;
        if live.as_ref().is_some_and(|l| is_subset(&obj.manifest, l)) {
            continue;
        }
        // The names are plain (`tenant-admin`, `tenant-workloads`): one that exists without the
        // operator's label belongs to someone else, and is not taken over.
        if let Some(l) = &live
            && l.pointer(MANAGED_BY_POINTER).and_then(Value::as_str) != Some(labels::MANAGER)
        {
            return Err(Error::NotOurs {
                kind: obj.kind.clone(),
                name: obj.name.clone(),
            });
        }
        metrics.write(&obj.kind, "apply");
        apply::server_side_apply(client, &ar, obj).await?;
        applied += 1;
        info!(kind = %obj.kind, name = %obj.name, "applied shared object");
    }
    info!(
        total = objects.len(),
        applied, "shared admission policies in place"
    );
    Ok(applied)
}

/// `metadata.labels["app.kubernetes.io/managed-by"]` as a JSON pointer.
const MANAGED_BY_POINTER: &str = "/metadata/labels/app.kubernetes.io~1managed-by";

/// Maps a managed child to its Tenant through the owner annotation (only Tenants in scope).
fn owner_mapper<K: Resource>(
    scope: Option<String>,
) -> impl Fn(K) -> Option<ObjectRef<Tenant>> + Send + Sync + Clone + 'static {
    move |obj: K| {
        let r = cache::owner_of(obj.meta())?;
        match &scope {
            Some(ns) if r.namespace.as_deref() != Some(ns.as_str()) => None,
            _ => Some(r),
        }
    }
}

fn watch_child<K>(
    ctl: Controller<Tenant>,
    caches: &mut Caches,
    client: &Client,
    scope: &Option<String>,
) -> Controller<Tenant>
where
    K: Resource<DynamicType = ()>
        + Clone
        + Serialize
        + DeserializeOwned
        + Debug
        + Send
        + Sync
        + 'static,
{
    let stream = caches.watch::<K>(client);
    ctl.watches_stream(stream, owner_mapper::<K>(scope.clone()))
}

/// How every watch lists: in small pages, so a relist never holds more than a page of decoded
/// objects per kind.
pub(crate) fn watch_config() -> watcher::Config {
    watcher::Config::default().page_size(LIST_PAGE_SIZE)
}

/// Objects per list page. Smaller pages mean more requests on a relist (3000 Roles: 30 pages of
/// 100 instead of 6 of 500) but a lower memory peak when every watch relists at once.
pub const LIST_PAGE_SIZE: u32 = 100;

/// Drops what the operator never reads from a watched object before it is stored: managedFields
/// and the client-side-apply copy of the whole object.
pub(crate) fn strip_unread_metadata<K: Resource>(obj: &mut K) {
    let meta = obj.meta_mut();
    meta.managed_fields = None;
    if let Some(a) = meta.annotations.as_mut() {
        a.remove(LAST_APPLIED);
        if a.is_empty() {
            meta.annotations = None;
        }
    }
}

const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

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

/// What the controller shares with the start-up code.
struct ControllerDeps<S> {
    resolver: Arc<Resolver>,
    shared: SharedPolicies,
    /// Emits once when the shared policies got applied after a failed start.
    shared_done: S,
}

async fn run_controller<F, S>(
    config: &Config,
    client: &Client,
    metrics: &Arc<Metrics>,
    health: &Health,
    deps: ControllerDeps<S>,
    stopped: F,
) where
    F: Future<Output = ()> + Send + Sync + 'static,
    S: futures::Stream<Item = ()> + Send + 'static,
{
    let ControllerDeps {
        resolver,
        shared,
        shared_done,
    } = deps;
    let tenants: Api<Tenant> = match &config.watch_namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    // One watch of Tenants feeds the controller's store, its triggers, and the re-render of the
    // Tenants that grant a changed Tenant cross-tenant access (a second watch would hold its own
    // list pages). The store keeps Tenants without what the operator never reads (managedFields,
    // kubectl's last-applied copy of the spec).
    let (store, writer) = reflector::store::<Tenant>();
    let (grants_tx, grants_rx) = futures::channel::mpsc::unbounded::<ObjectRef<Tenant>>();
    let grants_store = store.clone();
    let tenant_stream = watcher(tenants, watch_config().any_semantic())
        .default_backoff()
        .modify(strip_unread_metadata)
        .reflect(writer)
        .touched_objects()
        // Only a new generation (a spec change, or the deletion mark) triggers: the operator's
        // own status writes and finalizer patch would otherwise each cause a reconcile that has
        // nothing to do. A restart still reconciles everything (the filter starts empty), and
        // the periodic resync covers what this skips.
        .predicate_filter(predicates::generation, Default::default())
        .inspect_ok(move |t: &Tenant| {
            for r in granting_tenants(&grants_store, t) {
                let _ = grants_tx.unbounded_send(r);
            }
        });
    let mut ctl = Controller::for_stream(tenant_stream, store.clone()).reconcile_on(grants_rx);
    let scope = config.watch_namespace.clone();
    let mut caches = Caches::default();
    ctl = watch_child::<Namespace>(ctl, &mut caches, client, &scope);
    ctl = watch_child::<ResourceQuota>(ctl, &mut caches, client, &scope);
    ctl = watch_child::<LimitRange>(ctl, &mut caches, client, &scope);
    ctl = watch_child::<NetworkPolicy>(ctl, &mut caches, client, &scope);
    ctl = watch_child::<Role>(ctl, &mut caches, client, &scope);
    ctl = watch_child::<RoleBinding>(ctl, &mut caches, client, &scope);
    ctl = watch_child::<ServiceAccount>(ctl, &mut caches, client, &scope);
    ctl = watch_child::<TenantPolicy>(ctl, &mut caches, client, &scope);

    // Once the shared policies are in (after a failed start), every Tenant's PolicyReady changes.
    ctl = ctl.reconcile_all_on(shared_done);

    let ready_wait = caches.wait_ready();
    let ready_store = store.clone();
    let ready_health = health.clone();
    let readiness = tokio::spawn(async move {
        debug!("waiting for the Tenant cache");
        let tenants_ok = cache::wait_until_ready(&ready_store).await;
        debug!(tenants_ok, "Tenant cache synced");
        if ready_wait.await && tenants_ok {
            ready_health.set_ready(true);
            info!("caches synced; ready");
        }
    });

    let ctx = Arc::new(Context::new(
        client.clone(),
        config.clone(),
        caches,
        store,
        metrics.clone(),
        resolver,
        shared,
    ));
    info!(
        scope = config
            .watch_namespace
            .as_deref()
            .unwrap_or("all namespaces"),
        concurrency = config.concurrency,
        "starting the Tenant controller"
    );
    ctl.with_config(ControllerConfig::default().concurrency(config.concurrency))
        .graceful_shutdown_on(stopped)
        .run(crate::controller::reconcile, crate::controller::error_policy, ctx)
        .for_each(|res| async move {
            match res {
                Ok((obj, _)) => debug!(tenant = %obj, "reconciled"),
                Err(kube::runtime::controller::Error::ObjectNotFound(obj)) => {
                    debug!(tenant = %obj, "trigger for a Tenant not in the cache (deleted or out of scope)")
                }
                Err(e) => debug!(error = %e, "controller event"),
            }
        })
        .await;
    readiness.abort();
}
