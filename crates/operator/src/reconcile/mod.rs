//! The reconcile of one Tenant, as named steps with typed hand-offs:
//!
//! ```text
//! dereference -> validate -> build -> claim -> apply -> prune -> provision -> status
//! ```
//!
//! and, while the Tenant is being deleted, cleanup behind the finalizer. Each step is a module
//! of its own; [`Pass`] carries what every step of one reconcile needs. A step that cannot go on
//! hands back a [`Refusal`] (recorded in the status, no error) or an [`Error`] (recorded, then
//! retried with backoff). The decisions themselves (validation, the objects, the claim verdict,
//! the status) are pure functions in `tenant-core`; the steps here only do the I/O around them.

mod apply;
mod backup;
mod build;
mod claim;
mod cleanup;
mod dereference;
mod events;
mod finalizer;
mod provision;
mod prune;
mod status;
mod validate;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kube::Client;
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::Store;
use tenant_api::{Tenant, TenantStatus, labels};
use tenant_core::Owner;
use tenant_core::status::Outcome;
use tracing::{instrument, warn};

use crate::context::Config;
use crate::error::{Error, Result};
use crate::kinds::Kinds;
use crate::metrics::Metrics;
use crate::pull_secrets::PullSecrets;
use crate::releases::Releases;
use crate::shared::SharedPolicies;

pub use claim::NamespaceLocks;

/// What the controller watches, for the reconcile to read.
pub struct Watched {
    pub kinds: Arc<Kinds>,
    pub tenants: Store<Tenant>,
    pub shared: SharedPolicies,
    pub pull_secrets: PullSecrets,
    pub releases: Releases,
    pub data: Arc<crate::data::DataServers>,
    pub backups: Arc<crate::backup::Backups>,
}

/// Shared state of every reconcile.
pub struct Context {
    pub client: Client,
    pub config: Config,
    pub kinds: Arc<Kinds>,
    pub tenants: Store<Tenant>,
    pub metrics: Arc<Metrics>,
    /// Whether the shared admission policies are in place.
    pub shared: SharedPolicies,
    /// The platform's registry credentials.
    pub pull_secrets: PullSecrets,
    /// The platform's release channels.
    pub releases: Releases,
    recorder: Recorder,
    locks: NamespaceLocks,
    /// Consecutive failures per Tenant, for the error backoff.
    failures: Mutex<HashMap<String, u32>>,
    /// Consecutive reconciles per Tenant that met a kind the operator's RBAC denies.
    denied: Mutex<HashMap<String, u32>>,
    /// The validation result per Tenant uid, for the generation it was computed for.
    validated: validate::Memo,
    /// The tampering findings already reported, per Tenant uid.
    tampered: Reported,
    /// Per Tenant uid, the resourceVersion a status write of this operator was based on, until
    /// the Tenant cache shows a newer version (see [`Context::stale`]).
    written: Mutex<HashMap<String, String>>,
    /// When this operator last wrote each Tenant's status, to space out progress-only writes.
    pub progress: ProgressWrites,
    /// The platform's shared data servers.
    pub data: Arc<crate::data::DataServers>,
    /// The tenants' Velero Backups.
    pub backups: Arc<crate::backup::Backups>,
}

/// A rollout moves its Tenant's status at every pod (`servicesReady`, the quota's use, the
/// condition messages). Such progress-only changes are written at most once per
/// [`ProgressWrites::INTERVAL`] per Tenant; the reconcile looks again when the interval is over,
/// so the last step is written too. A change of phase, of a condition's status or reason, or of
/// anything else is written at once.
#[derive(Default)]
pub struct ProgressWrites(Mutex<HashMap<String, Instant>>);

impl ProgressWrites {
    pub const INTERVAL: Duration = Duration::from_secs(5);

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Instant>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// How long to hold back the write of `new` over `old` (`None`: write it now).
    pub fn wait(
        &self,
        uid: &str,
        old: Option<&TenantStatus>,
        new: &TenantStatus,
    ) -> Option<Duration> {
        if !tenant_core::status::progress_only(old, new) {
            return None;
        }
        let since = self.map().get(uid)?.elapsed();
        (since < Self::INTERVAL).then(|| Self::INTERVAL - since)
    }

    pub fn wrote(&self, uid: &str) {
        self.map().insert(uid.to_string(), Instant::now());
    }

    fn forget(&self, uid: &str) {
        self.map().remove(uid);
    }
}

/// Findings already reported per Tenant uid, so each is reported once.
#[derive(Default)]
struct Reported(Mutex<HashMap<String, std::collections::HashSet<String>>>);

impl Reported {
    /// True the first time `finding` is seen for `uid`.
    fn first_time(&self, uid: &str, finding: &str) -> bool {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(uid.to_string())
            .or_default()
            .insert(finding.to_string())
    }

    fn forget(&self, uid: &str) {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(uid);
    }
}

impl Context {
    pub fn new(client: Client, config: Config, metrics: Arc<Metrics>, w: Watched) -> Context {
        let recorder = Recorder::new(
            client.clone(),
            Reporter {
                controller: labels::MANAGER.to_string(),
                instance: Some(config.identity.clone()),
            },
        );
        Context {
            client,
            config,
            kinds: w.kinds,
            tenants: w.tenants,
            metrics,
            shared: w.shared,
            pull_secrets: w.pull_secrets,
            releases: w.releases,
            recorder,
            locks: NamespaceLocks::default(),
            failures: Mutex::new(HashMap::new()),
            denied: Mutex::new(HashMap::new()),
            validated: validate::Memo::default(),
            tampered: Reported::default(),
            written: Mutex::new(HashMap::new()),
            progress: ProgressWrites::default(),
            data: w.data,
            backups: w.backups,
        }
    }

    /// Whether the cached Tenant is older than this operator's last status write to it. A
    /// reconcile triggered again (by a namespace or child event) before the cache has seen that
    /// write would compare against the old status and write the same status twice; it looks again
    /// shortly instead, once the cache has caught up. (Status writes do not trigger reconciles:
    /// only a new generation does.)
    fn stale(&self, tenant: &Tenant) -> bool {
        let Some(uid) = tenant.metadata.uid.as_deref() else {
            return false;
        };
        let mut written = self
            .written
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match written.get(uid) {
            Some(rv) if tenant.metadata.resource_version.as_ref() == Some(rv) => true,
            Some(_) => {
                written.remove(uid);
                false
            }
            None => false,
        }
    }

    /// Records that a status write was based on `tenant`'s version.
    fn wrote_status(&self, tenant: &Tenant) {
        if let (Some(uid), Some(rv)) = (
            tenant.metadata.uid.as_ref(),
            tenant.metadata.resource_version.as_ref(),
        ) {
            self.written
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(uid.clone(), rv.clone());
        }
    }

    /// Forgets what is kept per Tenant once it is gone.
    fn forget(&self, owner: &Owner, uid: &str) {
        self.metrics.set_phase(&owner.key(), None);
        self.validated.forget(uid);
        self.tampered.forget(uid);
        self.progress.forget(uid);
        self.data.forget(uid);
        self.backups.forget(uid);
        self.metrics.set_backup_failing(&owner.key(), false);
        self.denied
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&owner.key());
        self.written
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(uid);
    }

    /// After a reconcile that met a kind the operator's RBAC denies (`denied`): look again in
    /// 30 s, doubling to 5 min while it lasts (no hot loop against a missing permission, and
    /// restoring the RBAC is picked up without a restart). Otherwise `then`.
    fn denied_backoff(&self, key: &str, denied: bool, then: Action) -> Action {
        let mut map = self
            .denied
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !denied {
            map.remove(key);
            return then;
        }
        let n = map.entry(key.to_string()).or_insert(0);
        let delay = DENIED_RETRY
            .saturating_mul(1u32 << (*n).min(4))
            .min(Duration::from_secs(300));
        *n = n.saturating_add(1);
        Action::requeue(delay)
    }

    fn failures(&self) -> std::sync::MutexGuard<'_, HashMap<String, u32>> {
        self.failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// One reconcile of one Tenant: what every step needs.
pub struct Pass<'a> {
    pub ctx: &'a Context,
    pub tenant: &'a Tenant,
    pub owner: Owner,
    pub uid: &'a str,
    /// The Tenant's API (namespaced), for the finalizer and status writes.
    pub api: Api<Tenant>,
    /// The status as last stored (each status write updates it).
    pub status: Option<TenantStatus>,
}

impl<'a> Pass<'a> {
    /// Dereferences the Tenant object itself: every stored object has a name, namespace and uid.
    fn new(tenant: &'a Tenant, ctx: &'a Context) -> Result<Pass<'a>> {
        if tenant.metadata.name.is_none() {
            return Err(Error::MissingField("metadata.name"));
        }
        let namespace = tenant
            .metadata
            .namespace
            .as_deref()
            .ok_or(Error::MissingField("metadata.namespace"))?;
        let uid = tenant
            .metadata
            .uid
            .as_deref()
            .ok_or(Error::MissingField("metadata.uid"))?;
        Ok(Pass {
            ctx,
            tenant,
            owner: Owner::of_tenant(tenant),
            uid,
            api: Api::namespaced(ctx.client.clone(), namespace),
            status: tenant.status.clone(),
        })
    }
}

/// Why a reconcile stops short of applying: recorded in the status, and as a Warning Event
/// when the status changed; then `then`.
pub struct Refusal {
    pub outcome: Box<Outcome>,
    /// The Event reason (bounded).
    pub reason: &'static str,
    /// The step that refused, as the Event's action.
    pub action: &'static str,
    pub message: String,
    pub then: Action,
}

#[instrument(skip_all, fields(tenant = %Owner::of_tenant(&tenant).key()))]
pub async fn reconcile(tenant: Arc<Tenant>, ctx: Arc<Context>) -> Result<Action> {
    let start = Instant::now();
    let result = run(&tenant, &ctx).await;
    let label = if result.is_ok() { "success" } else { "error" };
    ctx.metrics.reconciled(label, start.elapsed());
    if result.is_ok() {
        ctx.failures().remove(&Owner::of_tenant(&tenant).key());
    }
    result
}

/// The first retry of a Tenant one of whose kinds the operator's RBAC denies.
const DENIED_RETRY: Duration = Duration::from_secs(30);

/// How soon a reconcile that met a stale Tenant cache looks again (the cache normally has the
/// status write within milliseconds).
const STALE_RETRY: Duration = Duration::from_secs(2);

/// The driver: the steps in order; each hands the next what it found.
async fn run(tenant: &Tenant, ctx: &Context) -> Result<Action> {
    if ctx.stale(tenant) {
        // our own status write is on its way through the watch: look again once it is cached
        return Ok(Action::requeue(STALE_RETRY));
    }
    let mut pass = Pass::new(tenant, ctx)?;
    // The controller starts once the Tenant cache is synced; the kinds' stores may still be
    // listing, and "not cached yet" must not read as "missing" (a needless re-apply, or a
    // prune or cleanup that misses objects).
    ctx.kinds.wait_ready().await;
    // Likewise the registry credentials: a reconcile without them would prune their copies.
    ctx.pull_secrets.wait_ready().await;
    ctx.releases.wait_ready().await;
    if tenant.metadata.deletion_timestamp.is_some() {
        return cleanup::run(&mut pass).await;
    }
    if let Some(why) =
        tenant_core::placement::refusal(tenant.spec.placement.as_ref(), &ctx.config.site)
    {
        // Placed elsewhere: nothing is added here, not even the finalizer, and what an earlier
        // placement made here is kept (a Tenant deleted here is still cleaned up, above).
        let made_here = tenant
            .metadata
            .finalizers
            .iter()
            .flatten()
            .any(|f| f == labels::FINALIZER);
        let why = match pass.status.as_ref().and_then(|s| s.namespace.as_deref()) {
            Some(ns) if made_here => format!(
                "{why}; namespace {ns} and what the operator made for the Tenant here are kept: delete the Tenant on this cluster to remove them"
            ),
            _ => why,
        };
        return status::not_placed(&mut pass, why).await;
    }
    finalizer::ensure(&pass).await?;
    let refs = dereference::run(&pass);
    if let Err(refusal) = validate::run(&pass) {
        return status::refuse(&mut pass, refusal).await;
    }
    if let Some((domain, holder)) = refs.domain_holder.clone() {
        return status::refuse(&mut pass, claim::domain_conflict(domain, holder)).await;
    }
    let prepared = provision::prepare(&pass).await;
    let mut desired = match build::run(&pass, &refs, &prepared.wiring) {
        Ok(d) => d,
        Err(refusal) => return status::refuse(&mut pass, refusal).await,
    };
    status::initialize(&mut pass, &desired).await?;
    let claimed = match claim::run(&pass, &mut desired).await? {
        Ok(c) => c,
        Err(refusal) => return status::refuse(&mut pass, refusal).await,
    };
    let applied = match apply::run(&pass, &desired, claimed).await {
        Ok(Ok(a)) => a,
        Ok(Err(refusal)) => return status::refuse(&mut pass, refusal).await,
        Err(e) => return Err(status::failed(&mut pass, &desired, "Apply", e).await),
    };
    let pruned = match prune::run(&pass, &desired).await {
        Ok(p) => p,
        Err(e) => return Err(status::failed(&mut pass, &desired, "Prune", e).await),
    };
    let provisioned = provision::run(&pass, &prepared).await;
    events::changes(&pass, &applied, &pruned).await;
    let scheduled = backup::scheduled_restores(&pass, &desired.namespace).await;
    let then = status::applied(&mut pass, &desired, &applied, &provisioned, scheduled).await?;
    Ok(ctx.denied_backoff(&pass.owner.key(), !applied.denied.is_empty(), then))
}

/// Requeue with exponential backoff per Tenant (1 s doubling to 5 min).
pub fn error_policy(tenant: Arc<Tenant>, err: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics.error(err.category());
    let key = Owner::of_tenant(&tenant).key();
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
