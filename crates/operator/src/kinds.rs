//! The managed kinds at run time: for every per-owner kind of the registry, a store of its
//! objects, the watch that keeps the store current, whether the cluster serves the kind, and the
//! reconcile triggers its events send.
//!
//! Every kind is watched the same way, as untyped objects filtered by the operator's label, so a
//! kind from another project's CRD (prometheus-operator's PrometheusRule) is cached and
//! drift-watched like a built-in one. Such a kind is watched only while its CRD is installed: one
//! metadata-only watch of CustomResourceDefinitions tells when it appears or goes, the kind's
//! watch is started or stopped then, and every owner is reconciled again. Between those events
//! nothing is looked up: a reconcile reads the kind's state, never the API server.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, ApiResource, DynamicObject, ListParams, PartialObjectMeta};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource};
use tenant_api::{Tenant, labels};
use tenant_core::registry::{self, ManagedKind, Role, Source};
use tenant_core::{Owner, OwnerKind};
use tokio::sync::watch;
use tokio::task::{AbortHandle, JoinSet};
use tracing::{debug, info, warn};

use crate::cache::{CachedRef, KindCache, managed_selector};
use crate::error::api_code;
use crate::io;

/// Whether the cluster serves a kind, as far as the operator knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Served {
    /// Not known yet (start-up): reconciles wait.
    Unknown,
    /// Not served (its CRD is not installed): its objects are skipped and reported.
    No,
    /// Served, and its store holds the complete list.
    Yes,
}

/// One per-owner kind.
pub struct Kind {
    pub row: &'static ManagedKind,
    pub resource: ApiResource,
    pub cache: KindCache,
    served: watch::Sender<Served>,
}

impl Kind {
    fn new(row: &'static ManagedKind) -> Kind {
        Kind {
            row,
            resource: io::resource(row),
            cache: KindCache::new(&row.api_version(), row.kind),
            served: watch::channel(Served::Unknown).0,
        }
    }

    pub fn served(&self) -> Served {
        *self.served.borrow()
    }

    /// Sets the state; true when it changed.
    fn set_served(&self, s: Served) -> bool {
        self.served.send_if_modified(|cur| {
            let changed = *cur != s;
            *cur = s;
            changed
        })
    }
}

#[cfg(test)]
impl Kind {
    /// For tests without an API server: the kind served with `objects` in its store, or not
    /// served.
    pub(crate) fn fake(&self, served: bool, objects: Vec<DynamicObject>) {
        if served {
            self.cache.apply(&watcher::Event::<DynamicObject>::Init);
            for o in objects {
                self.cache.apply(&watcher::Event::InitApply(o));
            }
            self.cache.apply(&watcher::Event::<DynamicObject>::InitDone);
            self.set_served(Served::Yes);
        } else {
            self.set_served(Served::No);
        }
    }
}

/// Where the events of managed objects send their owners.
#[derive(Clone)]
pub struct Triggers {
    pub tenants: futures::channel::mpsc::UnboundedSender<ObjectRef<Tenant>>,
    /// Reconcile every owner (a kind became served or stopped being served).
    pub all: futures::channel::mpsc::UnboundedSender<()>,
    /// Only owners in this namespace (`--watch-namespace`).
    pub scope: Option<String>,
    /// The Tenants, to find the one whose status recorded a namespace (its owner annotation
    /// may have been changed by someone else).
    pub store: Store<Tenant>,
    /// Ends the watches' retry pauses when an outage of the API server ends.
    pub(crate) resumed: crate::outage::Resumed,
}

impl Triggers {
    /// Triggers the owner named by `meta`'s owner annotation; for a namespace, also the Tenant
    /// whose status recorded it.
    pub(crate) fn owner_of(&self, kind: &str, meta: &ObjectMeta) {
        let named = meta
            .annotations
            .as_ref()
            .and_then(|a| a.get(labels::OWNER))
            .and_then(|v| Owner::parse(v));
        if let Some(owner) = named {
            self.trigger(&owner);
        }
        if kind == "Namespace"
            && let Some(name) = meta.name.as_deref()
        {
            for t in self.store.state() {
                if t.status.as_ref().and_then(|s| s.namespace.as_deref()) == Some(name) {
                    self.trigger(&Owner::of_tenant(&t));
                }
            }
        }
    }

    fn trigger(&self, owner: &Owner) {
        if self.scope.as_ref().is_some_and(|s| *s != owner.namespace) {
            return;
        }
        match owner.kind {
            OwnerKind::Tenant => {
                let _ = self
                    .tenants
                    .unbounded_send(ObjectRef::new(&owner.name).within(&owner.namespace));
            }
            // The PRStack controller runs each preview through a Tenant, which owns the
            // objects: nothing carries a PRStack as its owner.
            OwnerKind::PRStack => {}
        }
    }

    pub(crate) fn all(&self) {
        let _ = self.all.unbounded_send(());
    }
}

/// Every per-owner kind of the registry.
pub struct Kinds {
    kinds: Vec<Kind>,
}

impl Default for Kinds {
    fn default() -> Self {
        Kinds::new()
    }
}

impl Kinds {
    pub fn new() -> Kinds {
        Kinds {
            kinds: registry::with_role(Role::PerOwner).map(Kind::new).collect(),
        }
    }

    pub fn find(&self, api_version: &str, kind: &str) -> Option<&Kind> {
        self.kinds.iter().find(|k| k.row.is(api_version, kind))
    }

    /// Whether the cached tenant namespace `ns` carries the budget freeze label the cost
    /// accounting puts on it; `None` when the namespace is not in the store.
    pub fn budget_frozen(&self, ns: &str) -> Option<bool> {
        let live = self.find("v1", "Namespace")?.cache.get(None, ns)?;
        Some(live["metadata"]["labels"][tenant_api::labels::BUDGET_FROZEN].as_str() == Some("true"))
    }

    pub fn all(&self) -> &[Kind] {
        &self.kinds
    }

    /// Every cached object whose owner annotation names `owner`, of every served kind.
    pub fn owned_by(&self, owner: &Owner) -> Vec<CachedRef> {
        self.kinds
            .iter()
            .filter(|k| k.served() == Served::Yes)
            .flat_map(|k| k.cache.owned_by(owner))
            .collect()
    }

    /// Resolves once every kind's state is known (a served kind's store is complete). False if
    /// the operator is shutting down.
    pub fn wait_ready(self: &Arc<Self>) -> BoxFuture<'static, bool> {
        // The common case, every reconcile after start-up: nothing to wait for.
        if self.kinds.iter().all(|k| k.served() != Served::Unknown) {
            return futures::future::ready(true).boxed();
        }
        let waits: Vec<_> = self
            .kinds
            .iter()
            .map(|k| {
                let mut rx = k.served.subscribe();
                let kind = k.row.kind;
                async move {
                    let ok = rx.wait_for(|s| *s != Served::Unknown).await.is_ok();
                    debug!(kind, ok, "kind resolved");
                    ok
                }
            })
            .collect();
        async move {
            futures::future::join_all(waits)
                .await
                .into_iter()
                .all(|ok| ok)
        }
        .boxed()
    }

    /// Starts the watches: built-in kinds at once, CRD kinds while their CRD is installed. The
    /// returned set owns the tasks: dropping it stops them.
    pub fn start(self: &Arc<Self>, client: &Client, triggers: &Triggers) -> JoinSet<()> {
        let mut tasks = JoinSet::new();
        let mut crd_kinds = Vec::new();
        for (i, k) in self.kinds.iter().enumerate() {
            match k.row.source {
                Source::BuiltIn | Source::Ours => {
                    tasks.spawn(watch_kind(
                        self.clone(),
                        i,
                        client.clone(),
                        triggers.clone(),
                    ));
                }
                Source::Crd | Source::Newer => crd_kinds.push(i),
            }
        }
        if !crd_kinds.is_empty() {
            tasks.spawn(follow_crds(
                self.clone(),
                crd_kinds,
                client.clone(),
                triggers.clone(),
            ));
        }
        tasks
    }
}

/// How every watch lists and watches: in small pages, so a relist never holds more than a page
/// of decoded objects per kind; and for [`WATCH_TIMEOUT_SECS`] at a time.
pub(crate) fn watch_config() -> watcher::Config {
    watcher::Config::default()
        .page_size(LIST_PAGE_SIZE)
        .timeout(WATCH_TIMEOUT_SECS)
}

/// How long the API server keeps one watch request open before it ends it and the watch
/// resumes (from its last resourceVersion, so without a relist) on a new request. A watch that
/// brings nothing for this long plus 5 s is taken for a connection that died silently (a node
/// or load balancer gone without a reset) and started again; kube's default, 290 s, would leave
/// the operator blind for five minutes. The cost is one request per watch per minute.
pub const WATCH_TIMEOUT_SECS: u32 = 60;

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

/// Keeps kind `i`'s store current and triggers the owners of changed objects, until the task is
/// aborted (the kind is no longer served, or the operator stops).
async fn watch_kind(kinds: Arc<Kinds>, i: usize, client: Client, triggers: Triggers) {
    let Some(kind) = kinds.kinds.get(i) else {
        return;
    };
    let api: Api<DynamicObject> = Api::all_with(client, &kind.resource);
    // The items of a list carry no apiVersion and kind; the stored objects are compared with
    // whole desired manifests, so they get them back.
    let types = kube::core::TypeMeta {
        api_version: kind.resource.api_version.clone(),
        kind: kind.resource.kind.clone(),
    };
    let watch = watcher(api, watch_config().labels(&managed_selector()));
    let mut events = crate::outage::backoff(watch, &triggers.resumed)
        .modify(move |o: &mut DynamicObject| {
            strip_unread_metadata(o);
            o.types = Some(types.clone());
        })
        .boxed();
    // During a list: who to trigger once it is complete. An owner reconciled in the middle of
    // one would read a store that still holds what was deleted while the watch was down (the
    // store drops it only at the list's end), find nothing to repair, and not be told again.
    // One entry per owner (a tenant has a few dozen objects), and the gone objects at the end.
    let mut listing: Vec<ObjectMeta> = Vec::new();
    let mut listed_owners: HashSet<(Option<String>, Option<String>)> = HashSet::new();
    while let Some(event) = events.next().await {
        let event = match event {
            Ok(e) => e,
            Err(e) => {
                debug!(kind = kind.row.kind, error = %e, "watch error (retrying)");
                continue;
            }
        };
        let listed = kind.cache.apply_listing(&event, &mut listing);
        if listed && kind.set_served(Served::Yes) {
            info!(kind = kind.row.kind, "watching");
            if kind.row.optional() {
                // A kind that just became served: every owner may now have objects of it.
                triggers.all();
            }
        }
        match &event {
            watcher::Event::Apply(o) | watcher::Event::Delete(o) => {
                triggers.owner_of(kind.row.kind, o.meta());
            }
            watcher::Event::Init => {
                listing.clear();
                listed_owners.clear();
            }
            watcher::Event::InitApply(o) => {
                let meta = trigger_meta(kind.row.kind, o.meta());
                let owner = meta
                    .annotations
                    .as_ref()
                    .and_then(|a| a.get(labels::OWNER).cloned());
                if listed_owners.insert((owner, meta.name.clone())) {
                    listing.push(meta);
                }
            }
            watcher::Event::InitDone => {
                for meta in listing.drain(..) {
                    triggers.owner_of(kind.row.kind, &meta);
                }
                listing.shrink_to_fit();
                listed_owners = HashSet::new();
            }
        }
    }
}

/// What [`Triggers::owner_of`] reads of an object of `kind`: its owner annotation, and a
/// namespace's name.
fn trigger_meta(kind: &str, meta: &ObjectMeta) -> ObjectMeta {
    ObjectMeta {
        name: meta.name.clone().filter(|_| kind == "Namespace"),
        annotations: meta.annotations.as_ref().map(|a| {
            a.iter()
                .filter(|(k, _)| *k == labels::OWNER)
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        }),
        ..Default::default()
    }
}

/// Follows the CustomResourceDefinitions of the optional kinds: one metadata-only watch of every
/// CRD (a CRD's schema can be large, and only its name matters here), filtered by name.
async fn follow_crds(kinds: Arc<Kinds>, indices: Vec<usize>, client: Client, triggers: Triggers) {
    let crd_names: Vec<(usize, String)> = indices
        .iter()
        .filter_map(|&i| Some((i, kinds.kinds.get(i)?.row.crd_name()?)))
        .collect();
    let mut f = Follower {
        running: vec![None; kinds.kinds.len()],
        watches: JoinSet::new(),
        kinds,
        client,
        triggers,
    };
    // Kinds of a newer Kubernetes API (no CRD) are asked once.
    for &i in &indices {
        if !crd_names.iter().any(|(j, _)| *j == i) {
            f.refresh(i, 1).await;
        }
    }
    if crd_names.is_empty() {
        return std::future::pending().await;
    }
    // Metadata only: a CRD's schema can be large, and only its name matters here.
    let api: Api<PartialObjectMeta<CustomResourceDefinition>> = Api::all(f.client.clone());
    let resumed = f.triggers.resumed.clone();
    let mut events = crate::outage::backoff(watcher(api, watch_config()), &resumed).boxed();
    let mut seen: Vec<usize> = Vec::new();
    while let Some(event) = events.next().await {
        let named = |m: &ObjectMeta| -> Vec<usize> {
            let name = m.name.as_deref().unwrap_or_default();
            crd_names
                .iter()
                .filter(|(_, n)| n == name)
                .map(|(i, _)| *i)
                .collect()
        };
        // A CRD being deleted counts as gone at once: the API server refuses new objects of
        // its kind from then on ("create not allowed while custom resource definition is
        // terminating") and deletes the existing ones, and an owner reconciled meanwhile would
        // try to re-create them and fail.
        let live = |m: &ObjectMeta| m.deletion_timestamp.is_none();
        // (kind, whether its CRD exists)
        let changed: Vec<(usize, bool)> = match &event {
            Ok(watcher::Event::InitApply(m)) => {
                let hit = named(&m.metadata);
                if live(&m.metadata) {
                    seen.extend(&hit);
                }
                hit.into_iter().map(|i| (i, live(&m.metadata))).collect()
            }
            Ok(watcher::Event::Apply(m)) => named(&m.metadata)
                .into_iter()
                .map(|i| (i, live(&m.metadata)))
                .collect(),
            Ok(watcher::Event::Delete(m)) => {
                named(&m.metadata).into_iter().map(|i| (i, false)).collect()
            }
            // A (re)list is complete: the kinds whose CRD it did not list are not served.
            Ok(watcher::Event::InitDone) => {
                let unseen = crd_names
                    .iter()
                    .map(|(i, _)| (*i, false))
                    .filter(|(i, _)| !seen.contains(i))
                    .collect();
                seen.clear();
                unseen
            }
            Ok(watcher::Event::Init) => Vec::new(),
            Err(e) => {
                // Without the CRD watch (RBAC without it), an optional kind counts as not
                // served rather than holding every reconcile back.
                warn!(error = %e, "watching CustomResourceDefinitions failed; retrying");
                for (i, _) in &crd_names {
                    if let Some(k) = f.kinds.kinds.get(*i)
                        && k.served() == Served::Unknown
                    {
                        k.set_served(Served::No);
                    }
                }
                Vec::new()
            }
        };
        for (i, exists) in changed {
            // A CRD just created is served a moment later (once Established): ask a few times.
            f.refresh(i, if exists { 10 } else { 0 }).await;
        }
        // Reap the watches that were stopped.
        while f.watches.try_join_next().is_some() {}
    }
}

/// The state of [`follow_crds`].
struct Follower {
    kinds: Arc<Kinds>,
    client: Client,
    triggers: Triggers,
    /// The watch of each kind while it runs.
    running: Vec<Option<AbortHandle>>,
    /// Owns the watch tasks: dropping it stops them.
    watches: JoinSet<()>,
}

impl Follower {
    /// Asks whether kind `i` is served (up to `attempts` times, a second apart, while it is
    /// not; 0 when it is known not to be), and starts or stops its watch accordingly.
    async fn refresh(&mut self, i: usize, attempts: u32) {
        let Some(kind) = self.kinds.kinds.get(i) else {
            return;
        };
        let mut served = false;
        for attempt in 0..attempts {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            served = is_served(&self.client, &kind.resource).await;
            if served {
                break;
            }
        }
        match (served, self.running.get_mut(i)) {
            (true, Some(slot)) if slot.is_none() => {
                // The kind counts as served once its first list is complete (see watch_kind).
                *slot = Some(self.watches.spawn(watch_kind(
                    self.kinds.clone(),
                    i,
                    self.client.clone(),
                    self.triggers.clone(),
                )));
            }
            (false, Some(slot)) => {
                if let Some(h) = slot.take() {
                    h.abort();
                }
                kind.cache.clear();
                if kind.set_served(Served::No) {
                    info!(kind = kind.row.kind, "not served (CRD not installed)");
                    self.triggers.all();
                }
            }
            _ => {}
        }
    }
}

/// Whether the API server serves `ar` (a list of at most one object answers; 404 means no).
pub(crate) async fn is_served(client: &Client, ar: &ApiResource) -> bool {
    let api: Api<DynamicObject> = Api::all_with(client.clone(), ar);
    match api
        .list_metadata(&ListParams::default().limit(1).labels(&managed_selector()))
        .await
    {
        Ok(_) => true,
        Err(e) if api_code(&e) == Some(404) => false,
        Err(e) => {
            // A 403 (the operator's RBAC lacks the kind) or an unreachable server: the kind
            // cannot be managed now. Reported as not served; the next CRD event asks again.
            warn!(kind = %ar.kind, error = %e, "cannot list the kind; treating it as not served");
            false
        }
    }
}
