//! Status: the reconcile's part of the Tenant status, computed by `tenant_core::status` and
//! written (server-side apply, the reconcile's own field manager) only when a field it owns
//! changed. Refusals and failures are recorded here too, with a Warning Event.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::Resource;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use serde_json::{Value, json};
use tenant_api::{Tenant, TenantStatus, labels};
use tenant_core::status::{self, Outcome, Progress, ServiceState, StoreState};
use tracing::info;

use super::apply::Applied;
use super::build::Desired;
use super::events;
use super::provision::Provisioned;
use super::{Pass, Refusal};
use crate::cache::object_key;
use crate::error::{Error, Result};

/// Writes the status `outcome` implies, if a field the reconcile owns differs from the stored
/// status; returns whether it wrote.
pub async fn write(pass: &mut Pass<'_>, outcome: &Outcome) -> Result<bool> {
    let new = desired_status(pass, outcome);
    put(pass, new).await
}

/// The status `outcome` implies.
fn desired_status(pass: &Pass<'_>, outcome: &Outcome) -> TenantStatus {
    let now = Time(k8s_openapi::jiff::Timestamp::now());
    let new = status::desired_status(pass.tenant, pass.status.as_ref(), outcome, &now);
    pass.ctx.metrics.set_phase(&pass.owner.key(), new.phase);
    new
}

/// Writes `new` if a field the reconcile owns differs from the stored status.
async fn put(pass: &mut Pass<'_>, new: TenantStatus) -> Result<bool> {
    if !status::needs_write(pass.status.as_ref(), &new) {
        return Ok(false);
    }
    let patch = json!({
        "apiVersion": Tenant::api_version(&()),
        "kind": Tenant::kind(&()),
        "status": new,
    });
    pass.ctx.metrics.write("Tenant/status", "apply");
    let stored = pass
        .api
        .patch_status(
            &pass.owner.name,
            &PatchParams::apply(labels::FIELD_MANAGER).force(),
            &Patch::Apply(&patch),
        )
        .await
        .map_err(Error::Status)?;
    pass.ctx.wrote_status(pass.tenant);
    pass.ctx.progress.wrote(pass.uid);
    let old_phase = pass.status.as_ref().and_then(|s| s.phase);
    pass.status = stored.status.or(Some(new));
    let phase = pass.status.as_ref().and_then(|s| s.phase);
    if phase != old_phase
        && let Some(p) = phase
    {
        info!(phase = p.as_str(), "phase changed");
    }
    Ok(true)
}

/// The spec cannot be acted on (invalid, unbuildable, a namespace someone else holds): record
/// the outcome, and publish a Warning Event only when the status changed, so a Tenant that stays
/// refused does not add an Event on every reconcile.
pub async fn refuse(pass: &mut Pass<'_>, r: Refusal) -> Result<Action> {
    if write(pass, &r.outcome).await? {
        events::publish(pass, EventType::Warning, r.reason, r.action, r.message).await;
    }
    Ok(r.then)
}

/// `spec.placement` names other regions or clusters: the status says so (one Normal Event when
/// it changes), and the Tenant is looked at again only when it changes.
pub async fn not_placed(pass: &mut Pass<'_>, why: String) -> Result<Action> {
    let outcome = Outcome::NotPlaced { why: why.clone() };
    if write(pass, &outcome).await? {
        events::publish(pass, EventType::Normal, "NotPlaced", "Place", why).await;
    }
    Ok(Action::await_change())
}

/// An apply or prune failed: record it in the status (ApplyFailed) and as a Warning Event, and
/// hand the error back for the controller's backoff. A failure to write the status wins.
pub async fn failed(
    pass: &mut Pass<'_>,
    desired: &Desired,
    action: &'static str,
    e: Error,
) -> Error {
    let message = e.to_string();
    let outcome = Outcome::ApplyFailed {
        namespace: desired.namespace.clone(),
        message: message.clone(),
    };
    if let Err(status_err) = write(pass, &outcome).await {
        return status_err;
    }
    events::publish(pass, EventType::Warning, e.event_reason(), action, message).await;
    e
}

/// A Tenant without a phase (a CRD from before the status default) gets `Initialization` first.
pub async fn initialize(pass: &mut Pass<'_>, desired: &Desired) -> Result<()> {
    if pass.status.as_ref().and_then(|s| s.phase).is_none() {
        let outcome = Outcome::Initializing {
            namespace: desired.namespace.clone(),
        };
        write(pass, &outcome).await?;
    }
    Ok(())
}

/// Every desired object is applied: the status says how far the tenant is, and the Tenant is
/// looked at again after the resync period.
pub async fn applied(
    pass: &mut Pass<'_>,
    desired: &Desired,
    applied: &Applied,
    provisioned: &Provisioned,
    scheduled: super::backup::Scheduled,
) -> Result<Action> {
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    for o in &desired.objects {
        if !applied.skipped.contains_key(&o.kind) {
            *kinds.entry(o.kind.clone()).or_default() += 1;
        }
    }
    let ns_key = object_key("v1", "Namespace", None, &desired.namespace);
    let quota = desired
        .objects
        .iter()
        .find(|o| o.kind == "ResourceQuota")
        .and_then(|o| applied.live.get(&o.key()).cloned());
    let live_ns = applied.live.get(&ns_key);
    let text = |p: &str| {
        live_ns
            .and_then(|v| v.pointer(p))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let progress = Progress {
        namespace: desired.namespace.clone(),
        namespace_phase: text("/status/phase"),
        namespace_uid: text("/metadata/uid"),
        kinds,
        skipped: applied.skipped.clone(),
        denied: applied.denied.clone(),
        quota,
        active: pass.tenant.spec.active
            && desired.asleep_until.is_none()
            && !desired.budget_hibernated,
        budget_hibernated: desired.budget_hibernated,
        shared_policies: pass.ctx.shared.ok(),
        services: desired
            .objects
            .iter()
            .filter(|o| o.kind == "Deployment")
            .map(|o| ServiceState::of(&o.name, applied.live.get(&o.key())))
            .collect(),
        deployed_at: pass.tenant.spec.deployed_at.clone(),
        pending_rollout: desired.pending.clone(),
        asleep_until: desired.asleep_until.map(Time),
        data: provisioned
            .data
            .iter()
            .cloned()
            .chain(
                desired
                    .objects
                    .iter()
                    .filter(|o| o.kind == "StatefulSet")
                    .map(|o| {
                        let store = o.name.trim_start_matches("data-");
                        StoreState::of_stateful_set(
                            &format!("dedicated {store}"),
                            &o.name,
                            applied.live.get(&o.key()),
                        )
                    }),
            )
            .collect(),
        backup: super::backup::state(pass, desired, applied),
        scheduled_restore: scheduled.record,
    };
    // Look again after the resync period, or when time alone changes what is desired (a sleep
    // or wake time, a maintenance window opening), or when a held-back progress write is due,
    // whichever comes first.
    let mut after = pass.ctx.config.resync;
    if let Some(retry) = provisioned.retry {
        after = after.min(retry);
    }
    let new = desired_status(pass, &Outcome::Applied(Box::new(progress)));
    match pass.ctx.progress.wait(pass.uid, pass.status.as_ref(), &new) {
        Some(wait) => after = after.min(wait),
        None => {
            put(pass, new).await?;
        }
    }
    for at in [desired.next_change, scheduled.next].into_iter().flatten() {
        let now = pass.ctx.config.clock.now();
        let wait = at.duration_since(now).unsigned_abs();
        // a second late, so the change has come when the reconcile looks
        after = after.min(wait + std::time::Duration::from_secs(1));
    }
    Ok(Action::requeue(after))
}
