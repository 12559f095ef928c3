//! The PRStack controller (opt-in, `--prstacks`): each PRStack's preview runs through a Tenant
//! the controller makes for it, so a preview gets everything a Tenant gets from the one
//! pipeline (namespace, guardrails, dedicated data stores, services, host and TLS, backups,
//! cleanup) and nothing is built twice.
//!
//! The preview Tenant (`tenant_core::migrate::preview_tenant`) has the PRStack's name and
//! namespace, the PRStack as its controller ownerReference, and asks to adopt its namespace
//! (`pr-<n>-shop-pilab-hu`), so a preview an earlier operator made is taken over as it is. The
//! PRStack's status mirrors the Tenant's phase, namespace and conditions. Deleting the PRStack
//! deletes the Tenant (garbage collection), whose cleanup removes only what the operator
//! created. A PRStack handed over to a Tenant (`kubectl tenant migrate --apply`, annotation
//! `shop.pilab.hu/handed-over-to`) is no longer touched.
//!
//! Writes: the Tenant only when the hash of what it should say differs from the live one's (or
//! someone changed it), the status only when it differs: an unchanged PRStack writes nothing.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::reflector::{ObjectRef, Store};
use serde_json::{Value, json};
use tenant_api::{PRStack, PRStackStatus, Phase, Tenant, labels};
use tenant_core::diff::is_subset;
use tenant_core::migrate::{self, PRSTACK_FIELD_MANAGER};
use tracing::{debug, info, warn};

use crate::context::Config;
use crate::metrics::Metrics;

/// A PRStack whose preview Tenant is someone else's looks again this often.
const CONFLICT_RECHECK: Duration = Duration::from_secs(60);

/// What every PRStack reconcile needs.
pub struct Context {
    pub client: Client,
    pub config: Config,
    /// The Tenant controller's store (the preview Tenants are among them).
    pub tenants: Store<Tenant>,
    pub metrics: Arc<Metrics>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("applying the preview Tenant {0}: {1}")]
    Tenant(String, #[source] kube::Error),
    #[error("writing the status of PRStack {0}: {1}")]
    Status(String, #[source] kube::Error),
}

/// The PRStack to reconcile when a Tenant changes: the one named by its controller
/// ownerReference.
pub fn owner_of(t: &Tenant) -> Option<ObjectRef<PRStack>> {
    let r = t
        .metadata
        .owner_references
        .iter()
        .flatten()
        .find(|r| r.kind == "PRStack" && r.controller == Some(true))?;
    Some(ObjectRef::new(&r.name).within(t.metadata.namespace.as_deref()?))
}

pub async fn reconcile(stack: Arc<PRStack>, ctx: Arc<Context>) -> Result<Action, Error> {
    let name = stack.metadata.name.clone().unwrap_or_default();
    let ns = stack.metadata.namespace.clone().unwrap_or_default();
    let key = format!("{ns}/{name}");
    if stack.metadata.deletion_timestamp.is_some() {
        // Garbage collection deletes the preview Tenant; its cleanup does the rest.
        return Ok(Action::await_change());
    }
    let handed_over = stack
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(labels::HANDED_OVER_TO));
    if let Some(to) = handed_over {
        debug!(prstack = %key, to = %to, "handed over to a Tenant; left alone");
        return Ok(Action::await_change());
    }
    let uid = stack.metadata.uid.clone().unwrap_or_default();
    let live = ctx.tenants.get(&ObjectRef::new(&name).within(&ns));
    if let Some(t) = &live
        && !migrate::previews(t, &uid)
    {
        let message = format!(
            "Tenant {key} exists and is not this PRStack's preview; nothing was applied (rename the PRStack or the Tenant)"
        );
        write_status(
            &stack,
            &ctx,
            Phase::Failed,
            None,
            vec![ready(false, "TenantConflict", &message)],
        )
        .await?;
        return Ok(Action::requeue(CONFLICT_RECHECK));
    }
    let desired = match migrate::preview_tenant(&stack, &ctx.config.prstack_host_pattern) {
        Ok(d) => d,
        Err(e) => {
            let message = format!("no preview can be made of it: {e}");
            write_status(
                &stack,
                &ctx,
                Phase::Failed,
                None,
                vec![ready(false, "Invalid", &message)],
            )
            .await?;
            return Ok(Action::await_change());
        }
    };
    let deleting = live
        .as_ref()
        .is_some_and(|t| t.metadata.deletion_timestamp.is_some());
    if !deleting && needs_apply(&desired, live.as_deref()) {
        let api: Api<Tenant> = Api::namespaced(ctx.client.clone(), &ns);
        ctx.metrics.write("Tenant", "apply");
        let out = api
            .patch(
                &name,
                &PatchParams::apply(PRSTACK_FIELD_MANAGER).force(),
                &Patch::Apply(&desired),
            )
            .await
            .map_err(|e| Error::Tenant(key.clone(), e))?;
        if live.is_none() {
            // Found absent: if someone else created a Tenant of that name meanwhile, this
            // apply merged into theirs. Withdraw and report the conflict.
            let others = crate::io::other_managers(&out.metadata, &[PRSTACK_FIELD_MANAGER]);
            if !others.is_empty() {
                let bare = json!({"apiVersion": "shop.pilab.hu/v1alpha1", "kind": "Tenant",
                    "metadata": {"name": name, "namespace": ns}});
                ctx.metrics.write("Tenant", "apply");
                api.patch(
                    &name,
                    &PatchParams::apply(PRSTACK_FIELD_MANAGER).force(),
                    &Patch::Apply(&bare),
                )
                .await
                .map_err(|e| Error::Tenant(key.clone(), e))?;
                warn!(prstack = %key, managers = ?others, "a Tenant of the preview's name was created by someone else meanwhile; withdrawn");
                return Ok(Action::requeue(Duration::from_secs(1)));
            }
            info!(prstack = %key, "preview Tenant created");
        }
    }
    // The status follows the Tenant's.
    let Some(t) = live else {
        write_status(
            &stack,
            &ctx,
            Phase::Initialization,
            None,
            vec![ready(
                false,
                "TenantCreated",
                "the preview Tenant was created; waiting for it to be reconciled",
            )],
        )
        .await?;
        return Ok(Action::requeue(ctx.config.resync));
    };
    let ts = t.status.clone().unwrap_or_default();
    let phase = ts.phase.unwrap_or(Phase::Initialization);
    let conditions = ts.conditions.unwrap_or_default();
    write_status(&stack, &ctx, phase, ts.namespace, conditions).await?;
    Ok(Action::requeue(ctx.config.resync))
}

/// Whether the preview Tenant must be applied: absent, made from another PRStack spec (the
/// hash), or changed by someone since (not containing what the controller wants).
fn needs_apply(desired: &Value, live: Option<&Tenant>) -> bool {
    let Some(live) = live else { return true };
    let have = live
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(migrate::PREVIEW_HASH));
    // The hash catches a field the PRStack no longer sets (a subset check cannot).
    if desired["metadata"]["annotations"][migrate::PREVIEW_HASH].as_str()
        != have.map(String::as_str)
    {
        return true;
    }
    let Ok(live) = serde_json::to_value(live) else {
        return true;
    };
    !is_subset(&desired["spec"], &live["spec"])
        || !is_subset(&desired["metadata"], &live["metadata"])
}

fn ready(ok: bool, reason: &str, message: &str) -> Condition {
    Condition {
        type_: "Ready".into(),
        status: if ok { "True" } else { "False" }.into(),
        reason: reason.into(),
        message: message.into(),
        last_transition_time: k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            jiff::Timestamp::now(),
        ),
        observed_generation: None,
    }
}

/// Writes the PRStack's status when it differs from the stored one (condition times of an
/// unchanged condition are kept).
async fn write_status(
    stack: &PRStack,
    ctx: &Context,
    phase: Phase,
    namespace: Option<String>,
    mut conditions: Vec<Condition>,
) -> Result<(), Error> {
    let generation = stack.metadata.generation;
    let old = stack.status.clone().unwrap_or_default();
    for c in &mut conditions {
        c.observed_generation = generation;
        if let Some(prev) = old.conditions.iter().flatten().find(|p| p.type_ == c.type_)
            && prev.status == c.status
        {
            c.last_transition_time = prev.last_transition_time.clone();
        }
    }
    let new = PRStackStatus {
        phase: Some(phase),
        observed_generation: generation,
        namespace,
        conditions: Some(conditions),
    };
    if new == old {
        return Ok(());
    }
    let name = stack.metadata.name.clone().unwrap_or_default();
    let ns = stack.metadata.namespace.clone().unwrap_or_default();
    let api: Api<PRStack> = Api::namespaced(ctx.client.clone(), &ns);
    let patch = json!({
        "apiVersion": "shop.pilab.hu/v1alpha1",
        "kind": "PRStack",
        "status": new,
    });
    ctx.metrics.write("PRStack", "status");
    api.patch_status(
        &name,
        &PatchParams::apply(PRSTACK_FIELD_MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await
    .map_err(|e| Error::Status(format!("{ns}/{name}"), e))?;
    Ok(())
}

/// Requeue with a fixed backoff: the preview Tenant's own reconcile carries the real work.
pub fn error_policy(stack: Arc<PRStack>, err: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics.error("prstack");
    warn!(prstack = %stack.metadata.name.as_deref().unwrap_or(""), error = %err, "PRStack reconcile failed");
    Action::requeue(Duration::from_secs(10))
}
