//! The reconcile of one Tenant:
//!
//! ```text
//! fetch (reflector caches) -> validate (core) -> build (core) -> claim the namespace
//!   -> apply what differs (SSA) -> prune what is no longer wanted -> status (if changed)
//! ```
//!
//! and, on deletion, cleanup behind the finalizer.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType, Recorder};
use kube::runtime::reflector::Store;
use kube::{Client, Resource, ResourceExt};
use serde_json::{Value, json};
use tenant_api::{Tenant, TenantStatus, labels};
use tenant_core::Object;
use tenant_core::build::{self, BuildContext};
use tenant_core::naming;
use tracing::{debug, info, instrument, warn};

use crate::apply::{self, Resolver, is_subset, prune_candidates, stamp_owner_uid};
use crate::cache::{CachedRef, Caches};
use crate::conflict::{self, Claim, NamespaceLocks};
use crate::context::Config;
use crate::error::{Error, Result, api_code};
use crate::metrics::Metrics;
use crate::status::{self, Outcome, Progress};
use crate::validation;

/// How long a conflicting Tenant waits before looking again (the namespace it wants belongs to
/// someone else, whose changes do not trigger this Tenant).
const CONFLICT_RECHECK: Duration = Duration::from_secs(60);

/// Shared state of every reconcile.
pub struct Context {
    pub client: Client,
    pub config: Config,
    pub caches: Caches,
    pub tenants: Store<Tenant>,
    pub metrics: Arc<Metrics>,
    pub recorder: Recorder,
    pub locks: NamespaceLocks,
    pub resolver: Arc<Resolver>,
    /// Whether the shared admission policies are in place.
    pub shared: crate::SharedPolicies,
    /// Consecutive failures per Tenant, for the error backoff.
    failures: Mutex<HashMap<String, u32>>,
    /// The validation result per Tenant uid, for the generation it was computed for: the spec
    /// cannot change without a new generation, and most reconciles (child events, resyncs) see
    /// a generation already validated.
    validated: Mutex<HashMap<String, (i64, Validated)>>,
}

type Validated = std::result::Result<(), Vec<String>>;

impl Context {
    pub fn new(
        client: Client,
        config: Config,
        caches: Caches,
        tenants: Store<Tenant>,
        metrics: Arc<Metrics>,
        resolver: Arc<Resolver>,
        shared: crate::SharedPolicies,
    ) -> Context {
        let recorder = Recorder::new(
            client.clone(),
            kube::runtime::events::Reporter {
                controller: labels::MANAGER.to_string(),
                instance: Some(config.identity.clone()),
            },
        );
        Context {
            client,
            config,
            caches,
            tenants,
            metrics,
            recorder,
            locks: NamespaceLocks::default(),
            resolver,
            shared,
            failures: Mutex::new(HashMap::new()),
            validated: Mutex::new(HashMap::new()),
        }
    }

    /// `validation::validate`, once per Tenant generation.
    fn validate(&self, tenant: &Tenant, uid: &str) -> Validated {
        let generation = tenant.metadata.generation.unwrap_or(0);
        let memo = || {
            self.validated
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        };
        if let Some((g, result)) = memo().get(uid)
            && *g == generation
        {
            return result.clone();
        }
        let result = validation::validate(tenant);
        memo().insert(uid.to_string(), (generation, result.clone()));
        result
    }

    /// Forgets what is kept per Tenant once it is gone.
    fn forget(&self, key: &str, uid: &str) {
        self.metrics.set_phase(key, None);
        self.validated
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(uid);
    }

    fn failures(&self) -> std::sync::MutexGuard<'_, HashMap<String, u32>> {
        self.failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// `namespace/name` of a Tenant (the owner annotation's value).
fn tenant_key(t: &Tenant) -> String {
    naming::owner_ref_string(t)
}

#[instrument(skip_all, fields(tenant = %tenant_key(&tenant)))]
pub async fn reconcile(tenant: Arc<Tenant>, ctx: Arc<Context>) -> Result<Action> {
    let start = Instant::now();
    let result = reconcile_tenant(&tenant, &ctx).await;
    let label = if result.is_ok() { "success" } else { "error" };
    ctx.metrics.reconciled(label, start.elapsed());
    if result.is_ok() {
        ctx.failures().remove(&tenant_key(&tenant));
    }
    result
}

/// Requeue with exponential backoff per Tenant (1 s doubling to 5 min).
pub fn error_policy(tenant: Arc<Tenant>, err: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics.error(err.category());
    let key = tenant_key(&tenant);
    let n = {
        let mut f = ctx.failures();
        let n = f.entry(key.clone()).or_insert(0);
        *n = n.saturating_add(1);
        *n
    };
    let delay =
        Duration::from_secs(1u64 << n.min(9).saturating_sub(1)).min(Duration::from_secs(300));
    warn!(tenant = %key, category = err.category(), error = %err, retry_in = ?delay, "reconcile failed");
    Action::requeue(delay)
}

struct Ids<'a> {
    name: &'a str,
    key: String,
    uid: &'a str,
}

fn ids(t: &Tenant) -> Result<Ids<'_>> {
    let name = t
        .metadata
        .name
        .as_deref()
        .ok_or(Error::MissingField("metadata.name"))?;
    if t.metadata.namespace.is_none() {
        return Err(Error::MissingField("metadata.namespace"));
    }
    let uid = t
        .metadata
        .uid
        .as_deref()
        .ok_or(Error::MissingField("metadata.uid"))?;
    Ok(Ids {
        name,
        key: tenant_key(t),
        uid,
    })
}

fn tenant_api(ctx: &Context, t: &Tenant) -> Api<Tenant> {
    Api::namespaced(
        ctx.client.clone(),
        t.metadata.namespace.as_deref().unwrap_or("default"),
    )
}

async fn reconcile_tenant(tenant: &Arc<Tenant>, ctx: &Context) -> Result<Action> {
    let id = ids(tenant)?;
    // The controller starts reconciling once the Tenant cache is synced; the child caches may
    // still be listing, and "not cached yet" must not read as "missing" (a needless re-apply, or
    // a prune/cleanup that misses objects).
    ctx.caches.wait_ready().await;
    let api = tenant_api(ctx, tenant);
    let has_finalizer = tenant.finalizers().iter().any(|f| f == labels::FINALIZER);
    if tenant.metadata.deletion_timestamp.is_some() {
        if !has_finalizer {
            ctx.forget(&id.key, id.uid);
            return Ok(Action::await_change());
        }
        return cleanup(tenant, &api, ctx).await;
    }
    let tenant = if has_finalizer {
        tenant.clone()
    } else {
        Arc::new(set_finalizer(&api, tenant, ctx, true).await?)
    };
    ensure(&tenant, &api, ctx).await
}

/// Adds or removes our finalizer with a merge patch guarded by resourceVersion (a concurrent
/// change to the list makes it fail with 409 and the reconcile retries).
async fn set_finalizer(
    api: &Api<Tenant>,
    t: &Tenant,
    ctx: &Context,
    present: bool,
) -> Result<Tenant> {
    let mut finalizers: Vec<String> = t
        .finalizers()
        .iter()
        .filter(|f| *f != labels::FINALIZER)
        .cloned()
        .collect();
    if present {
        finalizers.push(labels::FINALIZER.to_string());
    }
    let patch = json!({
        "metadata": { "finalizers": finalizers, "resourceVersion": t.metadata.resource_version }
    });
    ctx.metrics.write("Tenant", "patch");
    api.patch(
        &t.name_any(),
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await
    .map_err(Error::Finalizer)
}

/// Writes the status `outcome` implies, if it differs from `current`; returns the status now
/// stored and whether it was written.
async fn write_status(
    api: &Api<Tenant>,
    tenant: &Tenant,
    current: Option<&TenantStatus>,
    outcome: &Outcome,
    ctx: &Context,
) -> Result<(TenantStatus, bool)> {
    let now = Time(jiff::Timestamp::now());
    let new = status::desired_status(tenant, current, outcome, &now);
    ctx.metrics.set_phase(&tenant_key(tenant), new.phase);
    if !status::needs_write(current, &new) {
        return Ok((new, false));
    }
    let patch = json!({
        "apiVersion": Tenant::api_version(&()),
        "kind": Tenant::kind(&()),
        "status": new,
    });
    ctx.metrics.write("Tenant/status", "apply");
    api.patch_status(
        &tenant.name_any(),
        &PatchParams::apply(labels::FIELD_MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await
    .map_err(Error::Status)?;
    Ok((new, true))
}

async fn publish(
    ctx: &Context,
    tenant: &Tenant,
    type_: EventType,
    reason: &str,
    action: &str,
    note: String,
) {
    let event = Event {
        type_,
        reason: reason.to_string(),
        note: Some(crate::status::truncate(&note, 1000)),
        action: action.to_string(),
        secondary: None,
    };
    ctx.metrics.write("Event", "create");
    if let Err(e) = ctx.recorder.publish(&event, &tenant.object_ref(&())).await {
        warn!(error = %e, reason, "publishing an event failed");
    }
}

/// Other Tenants the builders need: those this Tenant grants cross-tenant access to, and the
/// other environments of the same tenantId. Passing only these (not the whole cache) keeps a
/// reconcile O(1) in the number of Tenants.
fn related_tenants(ctx: &Context, tenant: &Tenant) -> Vec<Tenant> {
    let rbac = tenant.spec.rbac.as_ref();
    let allowed: HashSet<&str> = match rbac {
        Some(r) if r.allow_cross_tenant_access == Some(true) => r
            .allowed_tenants
            .iter()
            .flatten()
            .map(String::as_str)
            .collect(),
        _ => HashSet::new(),
    };
    ctx.tenants
        .state()
        .iter()
        .filter(|t| t.metadata.uid != tenant.metadata.uid)
        .filter(|t| {
            t.spec.tenant_id == tenant.spec.tenant_id || allowed.contains(t.spec.tenant_id.as_str())
        })
        .map(|t| (**t).clone())
        .collect()
}

/// What applying one object did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Change {
    Unchanged,
    Created,
    Updated,
    /// The cluster does not serve the kind (its CRD is not installed): skipped.
    NotServed,
}

/// Applies `obj` unless the live object (from the cache, else `prefetched`, else a GET for kinds
/// without a cache) already contains it.
async fn ensure_object(
    ctx: &Context,
    obj: &Object,
    prefetched: Option<Value>,
) -> Result<(Change, Option<Value>)> {
    let ar = match ctx
        .resolver
        .resolve(&ctx.client, &ctx.caches, &obj.api_version, &obj.kind)
        .await
    {
        Ok(ar) => ar,
        Err(Error::Discovery { source, .. }) if not_served(&source) => {
            return Ok((Change::NotServed, None));
        }
        Err(e) => return Err(e),
    };
    let live = match (prefetched, ctx.caches.find(&obj.api_version, &obj.kind)) {
        (Some(v), _) => Some(v),
        (None, Some(cache)) => cache.get(obj.namespace.as_deref(), &obj.name),
        (None, None) => {
            apply::get_live(&ctx.client, &ar, obj.namespace.as_deref(), &obj.name).await?
        }
    };
    if let Some(l) = &live
        && is_subset(&obj.manifest, l)
    {
        return Ok((Change::Unchanged, live));
    }
    if let Some(l) = &live {
        debug!(kind = %obj.kind, name = %obj.name, difference = ?apply::first_difference(&obj.manifest, l), "live object differs");
        if apply::needs_replace(obj, l)
            && let Some(r) = live_ref(obj, l)
        {
            info!(kind = %obj.kind, name = %obj.name, "an immutable field changed: deleting to create it anew");
            ctx.metrics.write(&obj.kind, "delete");
            apply::delete(&ctx.client, &ar, &r).await?;
        }
    }
    ctx.metrics.write(&obj.kind, "apply");
    let out = apply::server_side_apply(&ctx.client, &ar, obj).await?;
    let change = if live.is_some() {
        Change::Updated
    } else {
        Change::Created
    };
    debug!(kind = %obj.kind, name = %obj.name, ?change, "applied");
    Ok((change, Some(out)))
}

/// Creates the namespace the claim check found absent; `Foreign` if someone else created it in
/// the meantime (the operator's fields were withdrawn again).
async fn claim_namespace(ctx: &Context, obj: &Object) -> Result<apply::Created> {
    let ar = ctx
        .resolver
        .resolve(&ctx.client, &ctx.caches, &obj.api_version, &obj.kind)
        .await?;
    ctx.metrics.write(&obj.kind, "apply");
    let created = apply::apply_absent(&ctx.client, &ar, obj).await?;
    if let apply::Created::Foreign { managers } = &created {
        ctx.metrics.write(&obj.kind, "apply");
        warn!(namespace = %obj.name, ?managers, "someone else created the namespace during the claim; the operator's fields were withdrawn");
    }
    Ok(created)
}

/// The namespace belongs to someone else: `Ready=False, NamespaceConflict`, nothing taken over,
/// and a look again later (the holder's changes do not trigger this Tenant).
async fn conflict(
    api: &Api<Tenant>,
    tenant: &Tenant,
    current: Option<&TenantStatus>,
    namespace: String,
    holder: String,
    ctx: &Context,
) -> Result<Action> {
    let message = format!("namespace {namespace} belongs to {holder}; nothing was taken over");
    let outcome = Outcome::Conflict { namespace, holder };
    refuse(
        api,
        tenant,
        current,
        &outcome,
        "NamespaceConflict",
        "Claim",
        message,
        ctx,
    )
    .await?;
    Ok(Action::requeue(CONFLICT_RECHECK))
}

/// The identity of a live object (for a uid-guarded delete).
fn live_ref(obj: &Object, live: &Value) -> Option<CachedRef> {
    let meta = serde_json::from_value(live.get("metadata")?.clone()).ok()?;
    Some(CachedRef::from_meta(&obj.api_version, &obj.kind, &meta))
}

pub(crate) fn not_served(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Discovery(_)) || api_code(e) == Some(404)
}

fn describe(objs: &[&Object]) -> String {
    objs.iter()
        .map(|o| format!("{} {}", o.kind, o.name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The spec cannot be acted on (invalid, unbuildable, a namespace conflict): record the outcome
/// in the status, and publish a Warning Event only when the status changed, so a Tenant that
/// stays refused does not add an Event on every reconcile.
#[allow(clippy::too_many_arguments)]
async fn refuse(
    api: &Api<Tenant>,
    tenant: &Tenant,
    current: Option<&TenantStatus>,
    outcome: &Outcome,
    reason: &str,
    action: &str,
    message: String,
    ctx: &Context,
) -> Result<()> {
    let (_, written) = write_status(api, tenant, current, outcome, ctx).await?;
    if written {
        publish(ctx, tenant, EventType::Warning, reason, action, message).await;
    }
    Ok(())
}

/// An apply or prune failed: record it in the status (ApplyFailed) and as a Warning Event, and
/// hand the error back for the controller's backoff. A failure to write the status wins.
async fn report_failure(
    api: &Api<Tenant>,
    tenant: &Tenant,
    current: Option<&TenantStatus>,
    namespace: &str,
    action: &str,
    e: Error,
    ctx: &Context,
) -> Error {
    let message = format!("{e}");
    let outcome = Outcome::ApplyFailed {
        namespace: namespace.to_string(),
        message: message.clone(),
    };
    if let Err(status_err) = write_status(api, tenant, current, &outcome, ctx).await {
        return status_err;
    }
    publish(
        ctx,
        tenant,
        EventType::Warning,
        e.event_reason(),
        action,
        message,
    )
    .await;
    e
}

/// The Apply branch: validate, build, claim, apply, prune, status.
async fn ensure(tenant: &Tenant, api: &Api<Tenant>, ctx: &Context) -> Result<Action> {
    let id = ids(tenant)?;
    let mut current = tenant.status.clone();

    // validate
    if let Err(errors) = ctx.validate(tenant, id.uid) {
        let outcome = Outcome::InvalidSpec {
            errors: errors.clone(),
        };
        refuse(
            api,
            tenant,
            current.as_ref(),
            &outcome,
            "InvalidSpec",
            "Validate",
            errors.join("; "),
            ctx,
        )
        .await?;
        // Nothing applied, nothing deleted; only a spec change can help.
        return Ok(Action::await_change());
    }

    // build
    let others = related_tenants(ctx, tenant);
    let bctx = BuildContext {
        other_tenants: &others,
        operator_user: &ctx.config.operator_user,
    };
    let mut objects = match build::tenant_objects(tenant, &bctx) {
        Ok(o) => o,
        Err(e) => {
            let err = Error::Build(e);
            ctx.metrics.error(err.category());
            let message = err.to_string();
            let outcome = Outcome::BuildFailed {
                message: message.clone(),
            };
            refuse(
                api,
                tenant,
                current.as_ref(),
                &outcome,
                "BuildFailed",
                "Build",
                message,
                ctx,
            )
            .await?;
            return Ok(Action::await_change());
        }
    };
    for o in &mut objects {
        stamp_owner_uid(o, id.uid);
    }
    let namespace = objects
        .iter()
        .find(|o| o.kind == "Namespace" && o.api_version == "v1")
        .map(|o| o.name.clone())
        .unwrap_or_else(|| naming::namespace_name(&tenant.spec));

    if current.as_ref().and_then(|s| s.phase).is_none() {
        let outcome = Outcome::Initializing {
            namespace: namespace.clone(),
        };
        current = Some(
            write_status(api, tenant, current.as_ref(), &outcome, ctx)
                .await?
                .0,
        );
    }

    // claim the namespace: check and create under one lock, so two Tenants wanting the same
    // namespace cannot both see it free.
    let guard = ctx.locks.lock(&namespace).await;
    let live_ns: Option<Value> = match ctx
        .caches
        .find("v1", "Namespace")
        .and_then(|c| c.get(None, &namespace))
    {
        Some(v) => Some(v),
        // Not cached: not labelled as ours (or just created). Unlabelled namespaces are not
        // watched, so ask the API server.
        None => {
            let ns_api: Api<Namespace> = Api::all(ctx.client.clone());
            match ns_api.get_opt(&namespace).await {
                Ok(ns) => ns
                    .map(|n| {
                        serde_json::to_value(n).map_err(|source| Error::Serialize {
                            what: "namespace",
                            source,
                        })
                    })
                    .transpose()?,
                Err(source) => {
                    return Err(Error::Read {
                        kind: "Namespace".into(),
                        name: namespace.clone(),
                        source,
                    });
                }
            }
        }
    };
    let ns_meta = live_ns
        .as_ref()
        .and_then(|v| v.get("metadata"))
        .and_then(|m| serde_json::from_value(m.clone()).ok());
    let claim = conflict::decide(ns_meta.as_ref(), &id.key, id.uid);
    match claim {
        Claim::Conflict { holder } => {
            drop(guard);
            return conflict(api, tenant, current.as_ref(), namespace, holder, ctx).await;
        }
        Claim::OursTerminating => {
            drop(guard);
            let outcome = Outcome::NamespaceTerminating { namespace };
            write_status(api, tenant, current.as_ref(), &outcome, ctx).await?;
            return Ok(Action::requeue(ctx.config.wait_requeue));
        }
        Claim::Free | Claim::Ours => {}
    }

    // apply: the namespace first (still under the lock), then everything in it, in builder order.
    let mut created: Vec<&Object> = Vec::new();
    let mut updated: Vec<&Object> = Vec::new();
    let mut skipped: BTreeMap<String, usize> = BTreeMap::new();
    let mut live: HashMap<String, Value> = HashMap::new();
    let mut guard = Some(guard);
    let ordered = objects
        .iter()
        .filter(|o| o.kind == "Namespace" && o.name == namespace)
        .chain(
            objects
                .iter()
                .filter(|o| !(o.kind == "Namespace" && o.name == namespace)),
        );
    for obj in ordered {
        let is_namespace = obj.kind == "Namespace" && obj.name == namespace;
        let result = if is_namespace && claim == Claim::Free {
            match claim_namespace(ctx, obj).await {
                Ok(apply::Created::Ours(live)) => Ok((Change::Created, Some(live))),
                Ok(apply::Created::Foreign { managers }) => {
                    drop(guard.take());
                    let holder = format!(
                        "whoever created it while this Tenant was claiming it (field managers: {})",
                        managers.join(", ")
                    );
                    return conflict(api, tenant, current.as_ref(), namespace, holder, ctx).await;
                }
                Err(e) => Err(e),
            }
        } else {
            let prefetched = if is_namespace { live_ns.clone() } else { None };
            ensure_object(ctx, obj, prefetched).await
        };
        match result {
            Ok((change, value)) => {
                match change {
                    Change::Created => created.push(obj),
                    Change::Updated => updated.push(obj),
                    Change::NotServed => *skipped.entry(obj.kind.clone()).or_default() += 1,
                    Change::Unchanged => {}
                }
                if let Some(v) = value {
                    live.insert(obj.key(), v);
                }
            }
            Err(e) => {
                drop(guard.take());
                return Err(report_failure(
                    api,
                    tenant,
                    current.as_ref(),
                    &namespace,
                    "Apply",
                    e,
                    ctx,
                )
                .await);
            }
        }
        if obj.kind == "Namespace" {
            drop(guard.take());
        }
    }
    drop(guard);

    // prune: this Tenant's labelled objects the desired set no longer has (never the namespace:
    // that is only deleted with the Tenant).
    let desired_keys: HashSet<String> = objects.iter().map(Object::key).collect();
    let owned = ctx.caches.owned_by(&id.key);
    let selector = naming::selector_labels(&tenant.spec);
    let mut pruned: Vec<&CachedRef> = Vec::new();
    for r in prune_candidates(&owned, &desired_keys, id.uid, &selector) {
        if r.kind == "Namespace" {
            continue;
        }
        let ar = ctx
            .resolver
            .resolve(&ctx.client, &ctx.caches, &r.api_version, &r.kind)
            .await?;
        ctx.metrics.write(&r.kind, "delete");
        if let Err(e) = apply::delete(&ctx.client, &ar, r).await {
            return Err(
                report_failure(api, tenant, current.as_ref(), &namespace, "Prune", e, ctx).await,
            );
        }
        pruned.push(r);
    }

    let pruned_names = pruned
        .iter()
        .map(|r| format!("{} {}", r.kind, r.name))
        .collect::<Vec<_>>()
        .join(", ");
    for (reason, action, verb, what) in [
        ("Created", "Apply", "created", describe(&created)),
        ("Updated", "Apply", "updated", describe(&updated)),
        ("Deleted", "Prune", "deleted", pruned_names),
    ] {
        if what.is_empty() {
            continue;
        }
        info!(objects = %what, "{verb}");
        publish(
            ctx,
            tenant,
            EventType::Normal,
            reason,
            action,
            format!("{verb} {what}"),
        )
        .await;
    }

    // status
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    for o in &objects {
        if !skipped.contains_key(&o.kind) {
            *kinds.entry(o.kind.clone()).or_default() += 1;
        }
    }
    let ns_key = crate::cache::object_key("v1", "Namespace", None, &namespace);
    let quota = objects
        .iter()
        .find(|o| o.kind == "ResourceQuota")
        .and_then(|o| live.get(&o.key()).cloned());
    let progress = Progress {
        namespace: namespace.clone(),
        namespace_phase: live
            .get(&ns_key)
            .and_then(|v| v.pointer("/status/phase"))
            .and_then(Value::as_str)
            .map(str::to_string),
        kinds,
        skipped,
        quota,
        active: tenant.spec.active,
        shared_policies: ctx.shared.ok(),
    };
    let (new, _) = write_status(
        api,
        tenant,
        current.as_ref(),
        &Outcome::Applied(progress),
        ctx,
    )
    .await?;
    if new.phase != current.as_ref().and_then(|s| s.phase)
        && let Some(phase) = new.phase
    {
        info!(phase = phase.as_str(), "phase changed");
    }
    Ok(Action::requeue(ctx.config.resync))
}

/// The Cleanup branch: delete what this Tenant created (only objects with the managed-by label
/// and this Tenant's owner annotation and uid), wait until it is gone, then release the finalizer.
async fn cleanup(tenant: &Arc<Tenant>, api: &Api<Tenant>, ctx: &Context) -> Result<Action> {
    let id = ids(tenant)?;
    let status_ns = tenant.status.as_ref().and_then(|s| s.namespace.clone());
    let outcome = Outcome::Cleaning {
        namespace: status_ns,
    };
    // The status write may fail with 404/409 while the object is going away: not worth an error.
    if let Err(e) = write_status(api, tenant, tenant.status.as_ref(), &outcome, ctx).await {
        debug!(error = %e, "could not record the Cleaning phase");
    }

    let owned: Vec<CachedRef> = ctx
        .caches
        .owned_by(&id.key)
        .into_iter()
        .filter(|r| r.owner_uid.as_deref() == Some(id.uid))
        .filter(|r| r.labels.get(labels::MANAGED_BY).map(String::as_str) == Some(labels::MANAGER))
        .collect();
    let namespaces: HashSet<&str> = owned
        .iter()
        .filter(|r| r.kind == "Namespace")
        .map(|r| r.name.as_str())
        .collect();
    // Objects inside our namespaces go with them; everything else is deleted one by one.
    let mut deleted = Vec::new();
    for r in owned.iter().filter(|r| !r.deleting) {
        let inside = r
            .namespace
            .as_deref()
            .is_some_and(|ns| namespaces.contains(ns));
        if inside {
            continue;
        }
        let ar = ctx
            .resolver
            .resolve(&ctx.client, &ctx.caches, &r.api_version, &r.kind)
            .await?;
        ctx.metrics.write(&r.kind, "delete");
        if apply::delete(&ctx.client, &ar, r).await? {
            deleted.push(format!("{} {}", r.kind, r.name));
        }
    }
    if !deleted.is_empty() {
        let names = deleted.join(", ");
        info!(objects = %names, "deleting the tenant's objects");
        publish(
            ctx,
            tenant,
            EventType::Normal,
            "Deleting",
            "Cleanup",
            format!("deleting {names}"),
        )
        .await;
    }
    if !owned.is_empty() {
        debug!(
            remaining = owned.len(),
            "waiting for the tenant's objects to disappear"
        );
        return Ok(Action::requeue(ctx.config.wait_requeue));
    }
    match set_finalizer(api, tenant, ctx, false).await {
        Ok(_) => {}
        // Already gone (someone removed the finalizer by hand): nothing left to release.
        Err(Error::Finalizer(e)) if api_code(&e) == Some(404) => {}
        Err(e) => return Err(e),
    }
    ctx.forget(&id.key, id.uid);
    info!(tenant = %id.name, "cleanup finished; finalizer released");
    Ok(Action::await_change())
}
