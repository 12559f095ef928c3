//! The cluster-wide objects every tenant relies on (the admission policies, the tenant
//! ClusterRoles, the finalizer policy): applied before the controller starts, watched, and
//! restored when someone deletes or edits one.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::StreamExt;
use kube::Client;
use kube::api::{Api, DynamicObject};
use kube::runtime::watcher;
use serde_json::Value;
use tenant_api::labels;
use tenant_core::build::{self, BuildContext};
use tenant_core::diff::is_subset;
use tenant_core::registry::{self, ManagedKind, Role, Source};
use tracing::{debug, info, warn};

use crate::cache::managed_selector;
use crate::error::{Error, Result};
use crate::kinds::{is_served, watch_config};
use crate::{Metrics, io};

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

/// The shared kinds this cluster serves (those of a newer Kubernetes API are asked once).
pub async fn served_kinds(client: &Client) -> Vec<&'static ManagedKind> {
    let mut out = Vec::new();
    for k in registry::with_role(Role::Shared) {
        if k.source == Source::Newer && !is_served(client, &io::resource(k)).await {
            // Kubernetes before 1.36 has no MutatingAdmissionPolicy: the operator then adds
            // the Tenant finalizer itself, on the first reconcile.
            debug!(kind = k.kind, "not served; skipped");
            continue;
        }
        out.push(k);
    }
    out
}

/// What applying and keeping the shared objects needs.
#[derive(Clone)]
pub struct Keeper {
    pub client: Client,
    pub metrics: Arc<Metrics>,
    pub operator_user: String,
    /// Where the domain map lives (the ingress-hosts policy's binding names it).
    pub operator_namespace: String,
    pub kinds: Vec<&'static ManagedKind>,
    pub gate: FinalizerPolicyGate,
    pub state: SharedPolicies,
    /// Ends the watches' retry pauses when an outage of the API server ends.
    pub(crate) resumed: crate::outage::Resumed,
}

impl Keeper {
    /// Keeps the shared objects in place: retries until they are applied (then tells the
    /// controller through `done`), and re-applies them whenever one of them changes or
    /// disappears.
    pub async fn keep(self, done: futures::channel::mpsc::UnboundedSender<()>) {
        if !self.state.ok() {
            tokio::time::sleep(SHARED_RETRY).await;
            self.apply_until_done().await;
            self.state.set_ok(true);
            let _ = done.unbounded_send(());
        }
        // The gate opening is one more reason to apply (that is when the finalizer policy goes in).
        let opened =
            futures::stream::once(self.gate.clone().open_when_safe(self.client.clone())).boxed();
        let mut changes = futures::stream::select(self.changes(), opened);
        while changes.next().await.is_some() {
            // A burst of changes (a kubectl delete of several) is one re-apply.
            while let Ok(Some(_)) =
                tokio::time::timeout(Duration::from_millis(200), changes.next()).await
            {}
            self.apply_until_done().await;
        }
    }

    /// Applies the shared objects, retrying with backoff until it succeeds.
    async fn apply_until_done(&self) {
        let mut delay = SHARED_RETRY;
        while let Err(e) = self.apply().await {
            let e = Error::SharedPolicies(Box::new(e));
            warn!(error = %e, retry_in = ?delay, "shared objects not applied; retrying");
            self.metrics.error(e.category());
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(300));
        }
    }

    /// One item per change to a shared object (the operator's label selects them): an edit, a
    /// deletion, or a (re)list, whose end also counts, since the objects may have changed while
    /// the watch was not running.
    fn changes(&self) -> futures::stream::BoxStream<'static, ()> {
        let streams = self.kinds.iter().map(|k| {
            let cfg = watch_config().labels(&managed_selector());
            crate::outage::backoff(
                watcher(
                    Api::<DynamicObject>::all_with(self.client.clone(), &io::resource(k)),
                    cfg,
                ),
                &self.resumed,
            )
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
        });
        futures::stream::select_all(streams).boxed()
    }

    /// Applies the shared objects, skipping those already in place (and those of kinds the
    /// cluster does not serve, or whose time has not come: see [`FinalizerPolicyGate`]).
    pub async fn apply(&self) -> Result<usize> {
        // The shared objects depend on nothing but the operator's identity.
        let bctx = BuildContext {
            operator_user: &self.operator_user,
            operator_namespace: &self.operator_namespace,
            ..BuildContext::default()
        };
        let objects = build::shared_objects(&bctx).map_err(Error::Build)?;
        let mut applied = 0;
        for obj in &objects {
            if build::finalizer::is_policy_object(obj) && !self.gate.is_open() {
                continue;
            }
            let Some(kind) = self
                .kinds
                .iter()
                .find(|k| k.is(&obj.api_version, &obj.kind))
            else {
                continue;
            };
            let ar = io::resource(kind);
            let read = |source| Error::Shared {
                kind: obj.kind.clone(),
                name: obj.name.clone(),
                source,
            };
            let live = io::get(&self.client, &ar, None, &obj.name)
                .await
                .map_err(read)?
                .map(io::to_value);
            if live.as_ref().is_some_and(|l| is_subset(&obj.manifest, l)) {
                continue;
            }
            // The names are plain (`tenant-admin`, `tenant-workloads`): one that exists without
            // the operator's label belongs to someone else, and is not taken over.
            if let Some(l) = &live
                && l.pointer(MANAGED_BY_POINTER).and_then(Value::as_str) != Some(labels::MANAGER)
            {
                return Err(Error::NotOurs {
                    kind: obj.kind.clone(),
                    name: obj.name.clone(),
                });
            }
            self.metrics.write(&obj.kind, "apply");
            io::apply(&self.client, &ar, obj, &obj.manifest)
                .await
                .map_err(read)?;
            applied += 1;
            info!(kind = %obj.kind, name = %obj.name, "applied shared object");
        }
        info!(
            total = objects.len(),
            applied, "shared admission policies in place"
        );
        Ok(applied)
    }
}

/// The first wait before applying the shared objects again after a failure; it doubles up to
/// five minutes.
const SHARED_RETRY: Duration = Duration::from_secs(5);

/// `metadata.labels["app.kubernetes.io/managed-by"]` as a JSON pointer.
const MANAGED_BY_POINTER: &str = "/metadata/labels/app.kubernetes.io~1managed-by";

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
