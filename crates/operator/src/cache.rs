//! Reflector stores of every managed child kind, watched cluster-wide with the managed-by label.
//!
//! One watch per kind feeds both the store (so a reconcile compares desired with live without a
//! GET) and the controller's triggers (so an edited or deleted child is restored promptly). The
//! stores keep each object as compact JSON minus `managedFields`: at 1000 tenants the typed
//! objects took most of the operator's memory.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use futures::future::BoxFuture;
use futures::{FutureExt, Stream, TryStreamExt};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, ApiResource};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tenant_api::{Tenant, labels};

/// The label selector of everything the operator manages.
pub fn managed_selector() -> String {
    format!("{}={}", labels::MANAGED_BY, labels::MANAGER)
}

/// Identity and ownership of one cached object (what pruning and cleanup need).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CachedRef {
    pub api_version: String,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
    pub uid: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub owner: Option<String>,
    pub owner_uid: Option<String>,
    pub deleting: bool,
}

impl CachedRef {
    fn from_meta(api_version: &str, kind: &str, meta: &ObjectMeta) -> CachedRef {
        let ann = |k: &str| meta.annotations.as_ref().and_then(|a| a.get(k)).cloned();
        CachedRef {
            api_version: api_version.to_string(),
            kind: kind.to_string(),
            namespace: meta.namespace.clone(),
            name: meta.name.clone().unwrap_or_default(),
            uid: meta.uid.clone(),
            labels: meta.labels.clone().unwrap_or_default(),
            owner: ann(labels::OWNER),
            owner_uid: ann(labels::OWNER_UID),
            deleting: meta.deletion_timestamp.is_some(),
        }
    }

    /// Same key format as `tenant_core::Object::key`.
    pub fn key(&self) -> String {
        object_key(
            &self.api_version,
            &self.kind,
            self.namespace.as_deref(),
            &self.name,
        )
    }
}

/// `apiVersion/kind/namespace/name`, the identity `tenant_core::Object::key` uses.
pub fn object_key(api_version: &str, kind: &str, namespace: Option<&str>, name: &str) -> String {
    format!("{api_version}/{kind}/{}/{name}", namespace.unwrap_or(""))
}

/// A read-only view of one kind's store.
pub trait LiveCache: Send + Sync {
    fn api_version(&self) -> &str;
    fn kind(&self) -> &str;
    /// The API resource (plural, scope) of the kind.
    fn api_resource(&self) -> &ApiResource;
    /// The cached object as JSON (without managedFields).
    fn get(&self, namespace: Option<&str>, name: &str) -> Option<Value>;
    /// Identity and owner of every cached object whose owner annotation is `owner`.
    fn owned_by(&self, owner: &str) -> Vec<CachedRef>;
    /// Resolves once the initial list has been stored.
    fn wait_ready(&self) -> BoxFuture<'static, bool>;
}

/// One kind's objects, each kept as compact JSON (about a fifth of the memory the typed object
/// takes) with an index by owner annotation, so a reconcile finds its objects without scanning
/// every cached object. Parsed back to JSON only for the few objects a reconcile compares.
struct CompactCache {
    api_version: String,
    kind: String,
    resource: ApiResource,
    state: std::sync::RwLock<CacheState>,
    ready: tokio::sync::watch::Sender<bool>,
}

/// (namespace, name) of a cached object.
type Key = (Option<String>, String);

#[derive(Default)]
struct CacheState {
    /// key -> (owner annotation, JSON without managedFields)
    objects: HashMap<Key, (Option<String>, Box<str>)>,
    /// owner annotation -> keys of its objects
    by_owner: HashMap<String, HashSet<Key>>,
    /// Objects of a relist in progress (`Init` .. `InitDone`).
    relist: Option<Vec<ObjectMeta>>,
}

impl CacheState {
    fn insert(&mut self, key: Key, owner: Option<String>, json: Box<str>) {
        self.remove(&key);
        if let Some(o) = &owner {
            self.by_owner
                .entry(o.clone())
                .or_default()
                .insert(key.clone());
        }
        self.objects.insert(key, (owner, json));
    }

    fn remove(&mut self, key: &Key) {
        if let Some((Some(owner), _)) = self.objects.remove(key)
            && let Some(keys) = self.by_owner.get_mut(&owner)
        {
            keys.remove(key);
            if keys.is_empty() {
                self.by_owner.remove(&owner);
            }
        }
    }
}

fn key_of(meta: &ObjectMeta) -> Key {
    (
        meta.namespace.clone(),
        meta.name.clone().unwrap_or_default(),
    )
}

fn owner_annotation(meta: &ObjectMeta) -> Option<String> {
    meta.annotations
        .as_ref()
        .and_then(|a| a.get(labels::OWNER))
        .cloned()
}

impl CompactCache {
    /// Applies one watch event to the state (the reflector's semantics: a relist replaces the
    /// whole state at `InitDone`, and readiness is the first `InitDone`).
    fn apply<K: Resource + Serialize>(&self, event: &watcher::Event<K>) {
        let Ok(mut st) = self.state.write() else {
            return;
        };
        let store = |st: &mut CacheState, obj: &K| match serde_json::to_string(obj) {
            Ok(json) => st.insert(
                key_of(obj.meta()),
                owner_annotation(obj.meta()),
                json.into_boxed_str(),
            ),
            Err(e) => tracing::warn!(kind = %self.kind, error = %e, "cannot cache object"),
        };
        match event {
            watcher::Event::Apply(obj) => store(&mut st, obj),
            watcher::Event::Delete(obj) => st.remove(&key_of(obj.meta())),
            watcher::Event::Init => st.relist = Some(Vec::new()),
            watcher::Event::InitApply(obj) => {
                store(&mut st, obj);
                if let Some(seen) = st.relist.as_mut() {
                    seen.push(ObjectMeta {
                        namespace: obj.meta().namespace.clone(),
                        name: obj.meta().name.clone(),
                        ..Default::default()
                    });
                }
            }
            watcher::Event::InitDone => {
                // Objects not seen in the relist were deleted while the watch was down.
                if let Some(seen) = st.relist.take() {
                    let seen: HashSet<_> = seen.iter().map(key_of).collect();
                    let gone: Vec<_> = st
                        .objects
                        .keys()
                        .filter(|k| !seen.contains(*k))
                        .cloned()
                        .collect();
                    for k in gone {
                        st.remove(&k);
                    }
                }
                drop(st);
                self.ready.send_replace(true);
            }
        }
    }
}

impl LiveCache for CompactCache {
    fn api_version(&self) -> &str {
        &self.api_version
    }
    fn kind(&self) -> &str {
        &self.kind
    }
    fn api_resource(&self) -> &ApiResource {
        &self.resource
    }
    fn get(&self, namespace: Option<&str>, name: &str) -> Option<Value> {
        let st = self.state.read().ok()?;
        let (_, json) = st
            .objects
            .get(&(namespace.map(str::to_string), name.to_string()))?;
        serde_json::from_str(json).ok()
    }
    fn owned_by(&self, owner: &str) -> Vec<CachedRef> {
        let Ok(st) = self.state.read() else {
            return Vec::new();
        };
        let Some(keys) = st.by_owner.get(owner) else {
            return Vec::new();
        };
        keys.iter()
            .filter_map(|k| st.objects.get(k))
            .filter_map(|(_, json)| {
                #[derive(serde::Deserialize)]
                struct Meta {
                    metadata: ObjectMeta,
                }
                let m: Meta = serde_json::from_str(json).ok()?;
                Some(CachedRef::from_meta(
                    &self.api_version,
                    &self.kind,
                    &m.metadata,
                ))
            })
            .collect()
    }
    fn wait_ready(&self) -> BoxFuture<'static, bool> {
        let mut rx = self.ready.subscribe();
        let kind = self.kind.clone();
        async move {
            let ok = rx.wait_for(|ready| *ready).await.is_ok();
            tracing::debug!(%kind, ok, "cache synced");
            ok
        }
        .boxed()
    }
}

/// The stores of every watched child kind, looked up by apiVersion and kind.
#[derive(Clone, Default)]
pub struct Caches {
    kinds: Vec<Arc<dyn LiveCache>>,
}

impl Caches {
    pub fn find(&self, api_version: &str, kind: &str) -> Option<&Arc<dyn LiveCache>> {
        self.kinds
            .iter()
            .find(|c| c.api_version() == api_version && c.kind() == kind)
    }

    pub fn all(&self) -> &[Arc<dyn LiveCache>] {
        &self.kinds
    }

    /// The cached Namespace `name` (only managed namespaces are cached).
    pub fn namespace(&self, name: &str) -> Option<Namespace> {
        self.find("v1", "Namespace")
            .and_then(|c| c.get(None, name))
            .and_then(|v| serde_json::from_value(v).ok())
    }

    /// Every cached object whose owner annotation names `owner` (`namespace/name`).
    pub fn owned_by(&self, owner: &str) -> Vec<CachedRef> {
        self.kinds.iter().flat_map(|c| c.owned_by(owner)).collect()
    }

    /// Resolves once every store has its initial list (false if a store's writer was dropped).
    pub fn wait_ready(&self) -> BoxFuture<'static, bool> {
        let waits: Vec<_> = self.kinds.iter().map(|c| c.wait_ready()).collect();
        async move {
            futures::future::join_all(waits)
                .await
                .into_iter()
                .all(|ok| ok)
        }
        .boxed()
    }

    /// Registers a store for `K` and returns the watch stream that keeps it current, which the
    /// caller must poll (the controller does, through `watches_stream`).
    pub fn watch<K>(
        &mut self,
        client: &Client,
    ) -> impl Stream<Item = Result<K, watcher::Error>> + Send + 'static
    where
        K: Resource<DynamicType = ()>
            + Clone
            + Serialize
            + DeserializeOwned
            + std::fmt::Debug
            + Send
            + Sync
            + 'static,
    {
        let api: Api<K> = Api::all(client.clone());
        let wc = watcher::Config::default().labels(&managed_selector());
        let cache = Arc::new(CompactCache {
            api_version: K::api_version(&()).into_owned(),
            kind: K::kind(&()).into_owned(),
            resource: ApiResource::erase::<K>(&()),
            state: Default::default(),
            ready: tokio::sync::watch::channel(false).0,
        });
        self.kinds.push(cache.clone());
        watcher(api, wc)
            .default_backoff()
            .modify(|obj: &mut K| obj.managed_fields_mut().clear())
            .map_ok(move |event| {
                cache.apply(&event);
                event
            })
            .touched_objects()
    }
}

/// Waits until `store` has its initial list (false if its writer was dropped).
///
/// `Store::wait_until_ready` wakes only the *last* of several concurrent waiters (its readiness
/// is a oneshot channel with one waker slot), and the controller's applier already waits on the
/// Tenant store: so re-poll on a short timer instead of relying on the wake-up.
pub async fn wait_until_ready<K>(store: &Store<K>) -> bool
where
    K: Resource + Clone + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
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

/// The Tenant a managed object belongs to, from its owner annotation (`namespace/name`).
pub fn owner_of(meta: &ObjectMeta) -> Option<ObjectRef<Tenant>> {
    let owner = meta.annotations.as_ref()?.get(labels::OWNER)?;
    let (ns, name) = owner.split_once('/')?;
    if ns.is_empty() || name.is_empty() {
        return None;
    }
    Some(ObjectRef::new(name).within(ns))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(owner: Option<&str>) -> ObjectMeta {
        ObjectMeta {
            name: Some("x".into()),
            annotations: owner
                .map(|o| BTreeMap::from([(labels::OWNER.to_string(), o.to_string())])),
            ..Default::default()
        }
    }

    #[test]
    fn owner_annotation_maps_to_the_tenant() {
        let r = owner_of(&meta(Some("default/acme")));
        assert_eq!(r.as_ref().map(|r| r.name.as_str()), Some("acme"));
        assert_eq!(r.and_then(|r| r.namespace), Some("default".to_string()));
        assert!(owner_of(&meta(Some("acme"))).is_none());
        assert!(owner_of(&meta(Some("/acme"))).is_none());
        assert!(owner_of(&meta(None)).is_none());
    }

    #[test]
    fn cached_ref_key_matches_object_key_format() {
        let m = ObjectMeta {
            name: Some("tenant-quota".into()),
            namespace: Some("tenant-a-prod".into()),
            ..Default::default()
        };
        let r = CachedRef::from_meta("v1", "ResourceQuota", &m);
        assert_eq!(r.key(), "v1/ResourceQuota/tenant-a-prod/tenant-quota");
        let o = tenant_core::Object {
            api_version: "v1".into(),
            kind: "ResourceQuota".into(),
            name: "tenant-quota".into(),
            namespace: Some("tenant-a-prod".into()),
            manifest: Value::Null,
        };
        assert_eq!(o.key(), r.key());
    }
}
